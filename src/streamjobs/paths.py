"""Paths and URLs (bare, ``file://``, ``hdfs://``, ``s3://``) as Luigi targets; atomic publish.

An output is a directory that counts as complete once ``_SUCCESS`` is in it. Engines write
into a staging directory beside it and publish by renaming the whole directory into place,
``_SUCCESS`` already inside: readers see nothing or everything, never a half-written output.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid

import luigi

from streamjobs.counters import COUNTERS_FILE
from streamjobs.counters import write_file as write_counters
from streamjobs.errors import JobError, quote_path
from streamjobs.inputs import input_exists

SUCCESS_FILE = "_SUCCESS"

# Engines whose paths are on a cluster's file systems rather than this machine's.
CLUSTER_ENGINES = frozenset({"hadoop"})


class OutputError(JobError):
    """An output location that cannot be written; the message names it."""


def scheme(path: str) -> str:
    """``s3``, ``hdfs``, ``file`` or ``""`` (a bare path)."""
    head, sep, _ = path.partition("://")
    return head.lower() if sep else ""


def input_target(path: str, engine: str, literal: bool = False) -> luigi.Target:
    """The Luigi target for an input path as ``engine`` reads it (``literal``: one file,
    its name not a pattern).

    The Hadoop engine reads the cluster's file systems (see ``cluster_paths``); every
    other engine reads this machine's.
    """
    if engine in CLUSTER_ENGINES:
        from streamjobs.cluster_paths import cluster_input

        return cluster_input(path)
    if scheme(path) == "s3":
        return s3_target(path, "file" if literal else "input")
    if literal:
        return luigi.LocalTarget(local_path(path))
    return LocalInput(path)


def output_target(path: str, engine: str) -> luigi.Target:
    """The Luigi target for an output directory as ``engine`` writes it."""
    if engine in CLUSTER_ENGINES:
        from streamjobs.cluster_paths import cluster_output

        return cluster_output(path)
    if scheme(path) == "s3":
        return s3_target(path, "directory")
    return LocalOutputDirectory(local_path(path))


def local_path(path: str) -> str:
    """A bare local path for a bare or ``file://`` path."""
    if scheme(path) == "file":
        return path[len("file://") :]
    if scheme(path):
        raise ValueError(f"not a local path: {path}")
    return path


class LocalInput(luigi.Target):
    """A local input: a file, a directory or a glob; exists when it names something."""

    def __init__(self, path: str):
        self.path = path

    def exists(self) -> bool:
        return input_exists(local_path(self.path))


class LocalOutputDirectory(luigi.LocalTarget):
    """A local output directory, complete when its ``_SUCCESS`` marker exists."""

    def exists(self) -> bool:
        return os.path.exists(os.path.join(self.path, SUCCESS_FILE))


def _staging_name(parent: str, name: str) -> str:
    """A hidden staging path beside ``parent/name``, unique per run. It names the creating
    process so that a later run can remove what a killed run left (see ``_remove_stale``).
    The caller records it before creating it, so that an interruption in between still
    leaves it to ``abort()``."""
    _remove_stale(parent, name)
    return os.path.join(parent, f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def _creating_beside(final: str):
    """An OSError while creating the staging area: an OutputError naming the output."""
    try:
        yield
    except OSError as exc:
        raise OutputError(
            f"cannot create output beside {quote_path(final)}: {exc.strerror}"
        ) from None


def _remove_stale(parent: str, name: str) -> None:
    """Remove staging paths of ``name`` whose process is gone (a run killed with SIGKILL)."""
    prefix = f".{name}.tmp-"
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    for entry in entries:
        pid = entry[len(prefix) :].partition("-")[0]
        if entry.startswith(prefix) and pid.isdigit() and not _alive(int(pid)):
            path = os.path.join(parent, entry)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):  # another run removed it
                    os.unlink(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalPublisher:
    """Stage an output directory beside its final place, then rename it into place.

    The staging name starts with ``.`` so that Hadoop and our own readers skip it.
    """

    def __init__(self, output_path: str):
        self.final = os.path.abspath(local_path(output_path))
        self.staging = ""

    def begin(self) -> str:
        if os.path.exists(os.path.join(self.final, SUCCESS_FILE)):
            raise OutputError(f"output already exists: {quote_path(self.final)}")
        if os.path.isdir(self.final) and os.listdir(self.final):
            raise OutputError(
                f"output directory exists and is not empty (no {SUCCESS_FILE}): "
                f"{quote_path(self.final)}; remove it or choose another --output-path"
            )
        with _creating_beside(self.final):
            self.staging = _staging_name(*os.path.split(self.final))
            os.makedirs(self.staging)
        return self.staging

    def publish(self, counters: dict) -> None:
        write_counters(self.staging, counters)
        with open(os.path.join(self.staging, SUCCESS_FILE), "wb"):
            pass
        try:
            # rename() replaces only an empty directory: a concurrent run that published
            # first makes this fail rather than mix two outputs.
            os.rename(self.staging, self.final)
        except OSError as exc:
            self.abort()
            raise OutputError(
                f"cannot publish {quote_path(self.final)}: it exists and is not empty "
                f"({exc.strerror})"
            ) from None

    def abort(self) -> None:
        if self.staging:
            shutil.rmtree(self.staging, ignore_errors=True)


# A per-file run's output directory names the run that owns it in this file, so that a
# different run (other parameters, another job) never adds its files to it.
RUN_FILE = "_RUN"


def _foreign_output(root: str, owner: str | None, run: str) -> str | None:
    """Why ``root`` (owned by ``owner``, None: nobody) is not run ``run``'s to write."""
    if owner is None:
        return (
            f"output directory exists and is not empty (no {RUN_FILE} of a per-file run): "
            f"{quote_path(root)}; remove it or choose another --output-path"
        )
    if owner != run:
        return (
            f"output directory {quote_path(root)} holds the output of another run "
            f"({owner}); remove it or choose another --output-path"
        )
    return None


def output_problem(root: str, run: str) -> OutputError | None:
    """Why per-file run ``run`` may not write into directory ``root``, or None. Checked
    before anything runs; ``claim_output`` checks again, atomically, as each file begins."""
    root = local_path(root)
    try:
        owner = _owner(root)
        if owner is None:
            try:
                names = os.listdir(root)
            except FileNotFoundError:
                return None
            if not [name for name in names if not name.startswith(".") and name != RUN_FILE]:
                return None  # nothing there but staging
            owner = _owner(root)  # claimed meanwhile by another task of this run?
    except OSError as exc:
        return OutputError(f"cannot read {quote_path(root)}: {exc.strerror}")
    problem = _foreign_output(root, owner, run)
    return OutputError(problem) if problem else None


def _owner(root: str) -> str | None:
    try:
        with open(os.path.join(root, RUN_FILE)) as stream:
            return stream.read()
    except FileNotFoundError:
        return None


def claim_output(root: str, run: str) -> None:
    """Make directory ``root`` per-file run ``run``'s (its ``_RUN`` file, created at most
    once: the first of two runs to claim it wins), or raise OutputError."""
    path = os.path.join(root, RUN_FILE)
    os.makedirs(root, exist_ok=True)
    _remove_stale(root, RUN_FILE)  # the draft of a claim killed half-way
    if not os.path.exists(path):
        problem = output_problem(root, run)
        if problem:
            raise problem
        draft = os.path.join(root, f".{RUN_FILE}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        with open(draft, "w") as stream:
            stream.write(run)
        try:
            os.link(draft, path)  # never replaces: a concurrent claim keeps its own
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    with open(path) as stream:
        problem = _foreign_output(root, stream.read(), run)
    if problem:
        raise OutputError(problem)


class FilePublisher:
    """One output file of a per-file run, with its counters and bad lines beside it in
    ``_counters/NAME`` and ``_quarantine/NAME``. The file appears last, whole: its
    existence means the side files are there too. With ``owner`` (the run's output
    directory and the run's name), the directory is claimed for the run first."""

    def __init__(self, output_file: str, owner: tuple[str, str] | None = None):
        self.final = os.path.abspath(local_path(output_file))
        self.directory, self.name = os.path.split(self.final)
        self.owner = owner
        self.staging = ""

    def begin(self) -> str:
        if os.path.exists(self.final):
            raise OutputError(f"output file already exists: {quote_path(self.final)}")
        with _creating_beside(self.final):
            if self.owner is not None:
                claim_output(local_path(self.owner[0]), self.owner[1])
            os.makedirs(self.directory, exist_ok=True)
            self.staging = _staging_name(self.directory, self.name)
            os.makedirs(self.staging)
        return self.staging

    def publish(self, counters: dict) -> None:
        from streamjobs.run import part_name, quarantine_name

        write_counters(self.staging, counters)
        sides = {quarantine_name(0): "_quarantine", COUNTERS_FILE: "_counters"}
        # Beside the run's output directory: OUT/_counters/d1/a.json for OUT/d1/a.json.
        root = os.path.abspath(local_path(self.owner[0])) if self.owner else self.directory
        relative = os.path.relpath(self.final, root)
        for staged, side_dir in sides.items():
            if os.path.exists(os.path.join(self.staging, staged)):
                side = os.path.join(root, side_dir, relative)
                os.makedirs(os.path.dirname(side), exist_ok=True)
                os.replace(os.path.join(self.staging, staged), side)
        try:
            # link() never replaces: a concurrent run that published first wins whole.
            os.link(os.path.join(self.staging, part_name(0)), self.final)
        except FileExistsError:
            raise OutputError(
                f"cannot publish {quote_path(self.final)}: another run published it first"
            ) from None
        finally:
            self.abort()

    def abort(self) -> None:
        if self.staging:
            shutil.rmtree(self.staging, ignore_errors=True)


# ---- s3:// targets (luigi.contrib.s3 imported only for s3:// paths) --------------------


def s3_target(path: str, kind: str) -> luigi.Target:
    """A Luigi target for an ``s3://`` path: ``kind`` is ``input`` (a prefix, object or
    glob; exists when it names an object), ``directory`` (an output prefix, complete when
    its ``_SUCCESS`` exists) or ``file`` (one output object). Luigi's S3 client reads
    ``[s3]`` from luigi.cfg, as our own reads and writes do."""
    from luigi.contrib.s3 import S3FlagTarget, S3Target

    if kind == "input":
        return _S3Input(path)
    if kind == "directory":
        return S3FlagTarget(path.rstrip("/") + "/", flag=SUCCESS_FILE)
    if kind == "file":
        return S3Target(path)
    raise ValueError(f"unknown target kind {kind!r}")


class _S3Input(luigi.Target):
    def __init__(self, path: str):
        self.path = path

    def exists(self) -> bool:
        return input_exists(self.path)
