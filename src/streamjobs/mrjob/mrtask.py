"""The MRJob every map task runs: the job rebuilt from its JobSpec, one input file a task.

mrjob runs this file as the task's script (``python mrtask.py --mapper --job-spec
SPEC INPUT_PATH INPUT_URI``); on the inline runner the client's subclass of the same class
runs in-process. A task reads its whole file (``mapper_raw``: mrjob hands it a local,
decompressed copy on a cluster) through the same map loop as the local engine
(``stream.map_items``), so records, counters and quarantine are the same. Records leave as
plain JSON (or text) lines; counters are mrjob counters named as in ``_COUNTERS.json``
(groups ``records`` and ``bad_records``). Bad lines go to the quarantine directory the spec
names (inline and local runners), and the first of them to the task's stderr.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import zlib

from mrjob.job import MRJob
from mrjob.protocol import BytesValueProtocol

from streamjobs import counters as counters_mod
from streamjobs.errors import JobError, quote_path
from streamjobs.inputs import InputError, Split, read_split
from streamjobs.job import mapper_for
from streamjobs.run import QUARANTINE_DIR, quarantine_name
from streamjobs.spec import JobSpec
from streamjobs.stream import map_items

# A task logs this many bad lines in full on its stderr; the counters count them all.
LOGGED_BAD_LINES = 20
# The spec option naming the local directory where tasks write _quarantine/ files.
QUARANTINE_OPTION = "quarantine_dir"
# How a task's stderr states the reason it failed, in one line (see main()).
TASK_ERROR_PREFIX = "streamjobs: "
# The spec option mapping an input URI (as mrjob hands it to a task) to the name the user
# gave, so that quarantined lines name files as the local engine does.
SOURCES_OPTION = "sources"


class JobMRTask(MRJob):
    """Map each input file with the job of ``--job-spec``; map-only."""

    # Records leave as the value alone, as bytes: no decode and re-encode of every line.
    OUTPUT_PROTOCOL = BytesValueProtocol

    @classmethod
    def mr_job_script(cls) -> str:
        # This module is what tasks run, whatever subclass the client uses.
        return os.path.abspath(__file__)

    def configure_args(self) -> None:
        super().configure_args()
        # The run's JobSpec (JSON), shipped to every task; set by the client, not by users.
        self.add_file_arg("--job-spec", help=argparse.SUPPRESS)

    def mapper_raw(self, input_path: str, input_uri: str):
        """Map the file at ``input_path`` (a local copy of ``input_uri``)."""
        with open(self.options.job_spec) as stream:
            spec = JobSpec.from_json(stream.read())
        mapper = mapper_for(spec.load_job())
        source = spec.options.get(SOURCES_OPTION, {}).get(input_uri, input_uri)
        quarantine = _QuarantineWriter(spec.options.get(QUARANTINE_OPTION), self.stderr)
        totals = counters_mod.new_counters()
        items = _read_file(input_path, source, spec.max_line_bytes)
        try:
            for result, _ in map_items(mapper, items, source, spec.max_line_bytes):
                for record in result.lines():
                    yield None, record[:-1]
                quarantine.write(result.bad)
                counters_mod.add_counters(totals, counters_mod.chunk_counters(result))
        finally:
            quarantine.close()
        # Every counter of the schema is reported, zeros included, so that runs compare.
        for group, names in totals.items():
            for name, value in names.items():
                self.increment_counter(group, name, value)


def _read_file(path: str, source: str, max_line_bytes: int):
    """``read_split`` of a whole file, a failed read as an InputError naming it."""
    try:
        yield from read_split(Split(path), max_line_bytes=max_line_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"cannot read input file {quote_path(source)}: {exc}") from None


class _QuarantineWriter:
    """Bad lines to ``DIR/_quarantine/part-NNNNN.jsonl`` (NNNNN: the task's number, as its
    part file), created only when there are some; the first ones to the task's stderr."""

    def __init__(self, directory: str | None, stderr):
        self.directory = directory
        self.stderr = stderr
        self.stream = None
        self.logged = 0

    def write(self, bad_lines) -> None:
        for bad in bad_lines:
            line = bad.to_json() + b"\n"
            if self.logged < LOGGED_BAD_LINES:
                self.stderr.write(b"bad record: " + line)
            self.logged += 1
            if self.directory:
                if self.stream is None:
                    self.stream = self._open()
                self.stream.write(line)

    def _open(self):
        # Hadoop (and mrjob's simulation of it) numbers a task's part file by this.
        index = int(os.environ.get("mapreduce_task_partition", "0"))
        os.makedirs(os.path.join(self.directory, QUARANTINE_DIR), exist_ok=True)
        return open(os.path.join(self.directory, quarantine_name(index)), "wb")

    def close(self) -> None:
        if self.logged > LOGGED_BAD_LINES:
            self.stderr.write(b"bad records: only the first %d logged\n" % LOGGED_BAD_LINES)
        if self.stream is not None:
            self.stream.close()


def main() -> None:
    """A map task: a JobError ends it with one ``streamjobs:`` line on its stderr."""
    # The job's module ships into the task's working directory; Python puts this script's
    # own directory on sys.path, which on Hadoop is the script's cache directory, not that.
    sys.path.insert(0, os.getcwd())
    _die_with_parent()
    try:
        JobMRTask.run()
    except JobError as exc:
        print(f"{TASK_ERROR_PREFIX}{exc}", file=sys.stderr)
        sys.exit(1)


def _die_with_parent() -> None:
    """Ask Linux to kill this task when its parent (mrjob's shell wrapper) dies, so that a
    task never outlives a run that was killed. Elsewhere, tasks end with their input."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


if __name__ == "__main__":
    main()
