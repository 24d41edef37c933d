"""streamjobs: line-oriented batch jobs written once as a Luigi task, run anywhere.

The public API is ``streamjobs.JobTask`` (JSON lines) and ``streamjobs.TextJobTask`` (text
lines); see their docstrings. They are imported on first use, so that ``import
streamjobs`` alone (on a cluster node, say) does not import Luigi.
"""

__all__ = ["JobTask", "TextJobTask"]


def __getattr__(name: str):
    if name in __all__:
        from streamjobs import tasks

        return getattr(tasks, name)
    raise AttributeError(f"module 'streamjobs' has no attribute {name!r}")
