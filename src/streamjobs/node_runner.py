"""The map task a Hadoop Streaming node runs: ``python3 RUNNER map SPEC CODE``.

``streamjobs.engines.hadoop`` ships this file with two more beside it in the task's working
directory: ``CODE``, a tar of Python source (the ``streamjobs`` package and the job's own
modules), and ``SPEC``, the JobSpec as JSON (the job's class path and parameters; no
pickle). The runner extracts the code into a temporary directory (safely: regular files
and directories only, no absolute paths, no ``..``), removed when the task ends, rebuilds
the job and streams stdin to stdout through it. Bad lines go to
``_quarantine/part-NNNNN.jsonl`` in the task's output directory
(``mapreduce_task_output_dir``), which Hadoop commits with the task's part file. Counters
go to stderr as Hadoop Streaming's ``reporter:counter:GROUP,NAME,N`` lines. On failure the
real traceback goes to stderr (the task's log) and the exit status is non-zero.

It imports only the standard library until the code is on ``sys.path``; the job's module
then needs Luigi and msgspec, the node's only requirements.
"""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
import tempfile
import traceback


class CodeArchiveError(Exception):
    """The shipped code archive holds something this runner refuses to extract."""


def _safe_members(archive: tarfile.TarFile):
    for member in archive.getmembers():
        parts = member.name.replace("\\", "/").split("/")
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
            raise CodeArchiveError(f"refusing unsafe archive member {member.name!r}")
        yield member


def extract_code(archive_path: str, target: str) -> None:
    with tarfile.open(archive_path) as archive:
        members = list(_safe_members(archive))
        if hasattr(tarfile, "data_filter"):
            # The "data" filter (Python 3.12, backported to 3.10.12/3.11.4) re-checks every
            # member: no absolute paths, no escaping the target, no special files.
            archive.extractall(target, members=members, filter="data")
        else:
            archive.extractall(target, members=members)  # members already vetted above


class TaskQuarantine:
    """``_quarantine/part-NNNNN.jsonl`` in the task's output directory, opened on the
    first bad line (a task without bad lines leaves no file)."""

    def __init__(self, environ):
        self.directory = environ.get("mapreduce_task_output_dir") or environ.get(
            "mapred_work_output_dir"
        )
        self.partition = int(environ.get("mapreduce_task_partition") or 0)
        self.stream = None

    def write(self, data: bytes) -> None:
        if self.stream is None:
            if not self.directory:
                raise RuntimeError("no mapreduce_task_output_dir: bad lines cannot be kept")
            directory = os.path.join(self.directory, "_quarantine")
            os.makedirs(directory, exist_ok=True)
            path = os.path.join(directory, f"part-{self.partition:05d}.jsonl")
            self.stream = open(path, "wb")
        self.stream.write(data)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


def report_counters(counters: dict, stream) -> None:
    """Write counters as Hadoop Streaming counter lines (every records counter, zeros too,
    so the job's counter groups always hold them)."""
    for group, names in sorted(counters.items()):
        for name, value in sorted(names.items()):
            stream.write(f"reporter:counter:{group},{name},{value}\n")
    stream.flush()


def run_map(spec_path: str, code_path: str) -> None:
    target = tempfile.mkdtemp(prefix="streamjobs-code-")
    try:
        extract_code(code_path, target)
        sys.path.insert(0, target)
        from streamjobs.job import mapper_for
        from streamjobs.spec import JobSpec
        from streamjobs.stream import map_stream

        with open(spec_path, encoding="utf-8") as stream:
            spec = JobSpec.from_json(stream.read())
        mapper = mapper_for(spec.load_job())
        environ = os.environ
        source = environ.get("mapreduce_map_input_file") or environ.get("map_input_file", "")
        quarantine = TaskQuarantine(environ)
        try:
            counters = map_stream(
                mapper,
                sys.stdin.buffer,
                sys.stdout.buffer,
                source=source or "<stdin>",
                max_line_bytes=spec.max_line_bytes,
                quarantine=quarantine,
                start=int(environ.get("mapreduce_map_input_start") or 0),
            )
        finally:
            quarantine.close()
        sys.stdout.buffer.flush()
        report_counters(counters, sys.stderr)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """``RUNNER map SPEC CODE``; the exit status (1 and the traceback on stderr on failure)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] != "map":
        sys.stderr.write("usage: RUNNER map SPEC CODE  (streamjobs runs map-only jobs)\n")
        return 2
    try:
        run_map(argv[1], argv[2])
    except BaseException:
        sys.stderr.write("streamjobs: the map task failed:\n")
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
