"""The map task a Hadoop Streaming node runs: ``python3 mrrunner.py map``.

Luigi's HadoopJobRunner ships this file (under luigi's name for its runner, ``mrrunner.py``)
with two more files beside it in the task's working directory:

``packages.tar``
    Python code archived by Luigi: the ``streamjobs`` package, the job's module and the
    mapper's module (and Luigi itself, which this runner never extracts nor imports).
``job-instance.pickle``
    Luigi's name for the file; streamjobs writes JSON in it, never a pickle: the mapper's
    import path, its constructor arguments and the packages to extract (see ``JobSpec``).

The runner extracts only the packages the spec names, safely (no absolute paths, no
``..``, no links), builds the mapper and streams stdin to stdout through
``streamjobs.stream.map_stream``. Counters go to stderr as Hadoop Streaming's
``reporter:counter:GROUP,NAME,N`` lines. On failure the real traceback goes to stderr (the
task's log) and the exit status is non-zero, which fails the task and the job.

It imports nothing beyond the standard library until the spec's packages are on
``sys.path``: a node needs Python 3.10+ with msgspec, not Luigi and not this project.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tarfile
import traceback

PACKAGES_ARCHIVE = "packages.tar"
SPEC_FILE = "job-instance.pickle"
EXTRACT_DIR = "streamjobs-packages"
SPEC_FORMAT = 1


class SpecError(Exception):
    """The shipped job spec or archive is not what this runner can run."""


def load_spec(path: str = SPEC_FILE) -> dict:
    """The job spec: ``{"format": 1, "mapper": "module:Class", "kwargs": {...},
    "packages": [top-level names to extract]}``."""
    with open(path, "rb") as stream:
        try:
            spec = json.loads(stream.read().decode("utf-8"))
        except ValueError as exc:
            raise SpecError(f"{path} is not a streamjobs JSON job spec: {exc}") from None
    if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
        raise SpecError(f"{path}: unsupported job spec (format {SPEC_FORMAT} expected)")
    return spec


def _safe_members(archive: tarfile.TarFile, packages: set[str]):
    """Regular files and directories under the named top-level packages; anything unsafe
    under them (absolute names, ``..``, links, devices) is an error."""
    for member in archive.getmembers():
        parts = member.name.replace("\\", "/").split("/")
        top = parts[0]
        if top.endswith(".py"):
            top = top[: -len(".py")]
        if top not in packages:
            continue
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
            raise SpecError(f"{PACKAGES_ARCHIVE}: refusing unsafe member {member.name!r}")
        yield member


def extract_packages(packages: list[str], archive_path: str = PACKAGES_ARCHIVE) -> str:
    """Extract the named top-level packages/modules; the directory to put on sys.path."""
    target = os.path.abspath(EXTRACT_DIR)
    os.makedirs(target, exist_ok=True)
    with tarfile.open(archive_path) as archive:
        members = list(_safe_members(archive, set(packages)))
        if hasattr(tarfile, "data_filter"):
            # The "data" filter (Python 3.12, backported to 3.10.12/3.11.4) re-checks every
            # member: no absolute paths, no escaping the target, no special files.
            archive.extractall(target, members=members, filter="data")
        else:
            archive.extractall(target, members=members)  # members already vetted above
    return target


def build_mapper(spec: dict):
    """An instance of the spec's mapper class built with its keyword arguments."""
    module_name, _, qualname = spec["mapper"].partition(":")
    obj = importlib.import_module(module_name)
    for name in qualname.split("."):
        obj = getattr(obj, name)
    return obj(**spec.get("kwargs", {}))


def report_counters(counters: dict, stream) -> None:
    """Write counters as Hadoop Streaming counter lines (every records counter, zeros too,
    so the job's counter groups always hold them)."""
    for group, names in sorted(counters.items()):
        for name, value in sorted(names.items()):
            stream.write(f"reporter:counter:{group},{name},{value}\n")
    stream.flush()


def run_map() -> None:
    spec = load_spec()
    sys.path.insert(0, extract_packages(spec["packages"]))
    from streamjobs.stream import map_stream

    mapper = build_mapper(spec)
    source = os.environ.get("mapreduce_map_input_file") or os.environ.get(
        "map_input_file", "<stdin>"
    )
    counters = map_stream(mapper, sys.stdin.buffer, sys.stdout.buffer, source=source)
    sys.stdout.buffer.flush()
    report_counters(counters, sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """``mrrunner.py map``; the exit status (1 and the traceback on stderr on failure)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["map"]:
        sys.stderr.write("usage: mrrunner.py map  (streamjobs runs map-only jobs)\n")
        return 2
    try:
        run_map()
    except BaseException:
        # Luigi's own mrrunner hides this behind Python 2 code (tb.encode("hex")); print
        # the real traceback, which lands in the task attempt's stderr log.
        sys.stderr.write("streamjobs: the map task failed:\n")
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
