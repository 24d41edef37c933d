"""The map task a Hadoop Streaming node runs: ``python3 RUNNER map SPEC CODE``.

``streamjobs.engines.hadoop`` ships this file with two more beside it in the task's working
directory: ``CODE``, a tar of Python source (the ``streamjobs`` package and the job's own
modules), and ``SPEC``, the JobSpec as JSON (the job's class path and parameters; no
pickle). The runner extracts the code into a temporary directory (safely: regular files
and directories only, no absolute paths, no ``..``), removed when the task ends, rebuilds
the job and streams stdin (each line after its offset in the file: ``KeyedInput``) to
stdout through it. Bad lines go to ``_quarantine/part-NNNNN.jsonl`` in the task's output
directory (``mapreduce_task_output_dir``, a URI), which Hadoop commits with the task's part
file (a task side-effect file). Counters go to stderr as Hadoop Streaming's
``reporter:counter:GROUP,NAME,N`` lines. On failure a one-line summary and the real
traceback go to stderr (the task's log; the console in local mode) and the exit status is
non-zero.

It imports only the standard library until the code is on ``sys.path``; the job's module
then needs Luigi and msgspec, the node's only requirements.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import traceback

FAILURE_MARK = "streamjobs: the map task failed: "
UTF8_BOM = b"\xef\xbb\xbf"


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
    first bad line (a task without bad lines leaves no file).

    Hadoop gives that directory as a URI (``mapreduce_task_output_dir``): ``file:/...``
    in local mode and on a cluster whose default file system is local, ``hdfs://...``
    (or ``s3://...`` on EMR) otherwise. A ``file:`` directory is written directly; any
    other is written to a local file first and copied there with ``hadoop fs`` when the
    task ends.
    """

    def __init__(self, environ):
        self.environ = environ
        self.directory = environ.get("mapreduce_task_output_dir") or environ.get(
            "mapred_work_output_dir"
        )
        self.partition = int(environ.get("mapreduce_task_partition") or 0)
        self.name = f"part-{self.partition:05d}.jsonl"
        self.stream = None
        self.remote = None  # the quarantine directory's URI when it is not local

    def write(self, data: bytes) -> None:
        if self.stream is None:
            self.stream = self._open()
        self.stream.write(data)

    def _open(self):
        if not self.directory:
            raise RuntimeError("no mapreduce_task_output_dir: bad lines cannot be kept")
        local = _local_path(self.directory)
        if local is None:
            self.remote = self.directory.rstrip("/") + "/_quarantine"
            return tempfile.NamedTemporaryFile(prefix="streamjobs-quarantine-", suffix=".jsonl")
        directory = os.path.join(local, "_quarantine")
        os.makedirs(directory, exist_ok=True)
        return open(os.path.join(directory, self.name), "wb")

    def close(self) -> None:
        if self.stream is None:
            return
        try:
            if self.remote is not None:
                self.stream.flush()
                hadoop = hadoop_command(self.environ)
                for argv in (
                    [hadoop, "fs", "-mkdir", "-p", self.remote],
                    [hadoop, "fs", "-put", "-f", self.stream.name, f"{self.remote}/{self.name}"],
                ):
                    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        finally:
            self.stream.close()


def _local_path(uri: str) -> str | None:
    """The local path of a ``file:`` URI (or a bare path); None for any other scheme."""
    if uri.startswith("file:"):
        path = uri[len("file:") :]
        # file:///abs and file:/abs both name /abs
        return "/" + path.lstrip("/") if path.startswith("//") else path
    return None if "://" in uri else uri


def hadoop_command(environ) -> str:
    """The node's ``hadoop`` command: YARN gives containers HADOOP_COMMON_HOME (or
    HADOOP_HOME) even when it is not on PATH."""
    for variable in ("HADOOP_COMMON_HOME", "HADOOP_HOME"):
        home = environ.get(variable)
        if home and os.access(os.path.join(home, "bin", "hadoop"), os.X_OK):
            return os.path.join(home, "bin", "hadoop")
    found = shutil.which("hadoop", path=environ.get("PATH"))
    if not found:
        raise RuntimeError(
            "bad lines must go to a non-local task output directory and no "
            "hadoop command is found (HADOOP_COMMON_HOME, HADOOP_HOME, PATH)"
        )
    return found


class KeyedInput:
    """The map task's stdin as submitted (``stream.map.input.ignoreKey=false``): Hadoop
    writes each record as ``OFFSET<TAB>LINE\\n``, OFFSET being where the line starts in its
    (decompressed) file. ``read`` gives the lines without their offsets; ``first_offset``
    is the first line's. With ``\\n`` as the record delimiter the lines that follow are
    contiguous in the file, so a line's offset is the first one plus its position in the
    stream: a task whose split starts mid-line knows its bad lines' exact offsets.
    """

    _KEY = re.compile(rb"[0-9]+\t")
    # A key is found after each newline: much faster than matching at every line start.
    _NEXT_KEYS = re.compile(rb"\n[0-9]+\t")

    def __init__(self, raw, block_bytes: int = 1 << 20):
        self.raw = raw
        self.block_bytes = block_bytes
        self.pending = b""  # read, not yet a whole line
        self.ready = b""  # offsets removed, not yet returned
        self.at_line_start = True
        self.start: int | None = None
        self.eof = False

    def first_offset(self) -> int:
        while self.start is None and not self.eof:
            self.ready += self._next()
        return self.start or 0

    def _lost_byte_order_mark(self, data: bytes, key) -> bytes:
        """Hadoop drops a UTF-8 byte-order mark that starts a file (LineRecordReader's
        skipUtfByteOrderMark); every other engine reads it as part of the first line. It is
        put back, so that the line reads alike everywhere, when the second line's offset
        shows it was there (a one-line file or a first line longer than a read cannot)."""
        if self.start != 0:
            return b""
        end = data.find(b"\n", key.end())
        following = self._KEY.match(data, end + 1) if end != -1 else None
        if following and int(following.group()[:-1]) - (end - key.end() + 1) == len(UTF8_BOM):
            return UTF8_BOM
        return b""

    def read(self, size: int = -1) -> bytes:
        while not self.ready and not self.eof:
            self.ready += self._next()
        data, self.ready = self.ready, b""
        return data

    def _next(self) -> bytes:
        block = self.raw.read(self.block_bytes)
        if not block:
            self.eof = True
            data, self.pending = self.pending, b""
            return self._strip(data)
        data = self.pending + block
        cut = data.rfind(b"\n") + 1
        # Wait for a whole line; for the first, until the second's offset is in too.
        if self.start is None:
            waiting = data.count(b"\n", 0, cut) < 2
        else:
            waiting = cut == 0
        if waiting and len(data) < 4 * self.block_bytes:
            self.pending = data
            return b""
        if cut == 0:
            cut = len(data)  # a very long line: pass its beginning on (never hold it whole)
        self.pending = data[cut:]
        return self._strip(data[:cut])

    def _strip(self, data: bytes) -> bytes:
        head = b""
        if not self.at_line_start:  # the rest of a long line passed on before
            end = data.find(b"\n") + 1 or len(data)
            head, data = data[:end], data[end:]
        key = self._KEY.match(data)
        if key:
            if self.start is None:
                self.start = int(key.group()[:-1])
                data = data[: key.end()] + self._lost_byte_order_mark(data, key) + data[key.end() :]
            data = data[key.end() :]
        out = head + self._NEXT_KEYS.sub(b"\n", data)
        if out:
            self.at_line_start = out.endswith(b"\n")
        return out


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
        stdin = KeyedInput(sys.stdin.buffer)
        try:
            counters = map_stream(
                mapper,
                stdin,
                sys.stdout.buffer,
                source=source or "<stdin>",
                max_line_bytes=spec.max_line_bytes,
                quarantine=quarantine,
                start=stdin.first_offset(),
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
    except BaseException as exc:
        # One line the submitting side can quote (FAILURE_MARK), then the whole traceback.
        summary = traceback.format_exception_only(type(exc), exc)[-1].strip()
        sys.stderr.write(f"{FAILURE_MARK}{summary}\n")
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
