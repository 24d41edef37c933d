"""streamjobs: line-oriented batch jobs written once as Luigi tasks, run on any engine."""
