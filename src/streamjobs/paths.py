"""Paths and URLs (bare, ``file://``, ``hdfs://``, ``s3://``) as Luigi targets; atomic publish.

An output is a directory that counts as complete once ``_SUCCESS`` is in it. Engines write
into a staging directory beside it and publish by renaming the whole directory into place,
``_SUCCESS`` already inside: readers see nothing or everything, never a half-written output.
"""

from __future__ import annotations

import os
import shutil
import uuid

import luigi

from streamjobs.errors import JobError
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


def input_target(path: str, engine: str) -> luigi.Target:
    """The Luigi target for an input path as ``engine`` reads it.

    The Hadoop engine reads the cluster's file systems (see ``cluster_paths``); every
    other engine reads this machine's.
    """
    if engine in CLUSTER_ENGINES:
        from streamjobs.cluster_paths import cluster_input

        return cluster_input(path)
    if scheme(path) == "s3":
        return s3_target(path, "input")
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


class LocalPublisher:
    """Stage an output directory beside its final place, then rename it into place.

    The staging name starts with ``.`` so that Hadoop and our own readers skip it.
    """

    def __init__(self, output_path: str):
        self.final = os.path.abspath(local_path(output_path))
        parent, name = os.path.split(self.final)
        self.staging = os.path.join(parent, f".{name}.tmp-{uuid.uuid4().hex[:12]}")

    def begin(self) -> str:
        if os.path.exists(os.path.join(self.final, SUCCESS_FILE)):
            raise OutputError(f"output already exists: {self.final}")
        try:
            os.makedirs(self.staging)
        except OSError as exc:
            raise OutputError(f"cannot create output beside {self.final}: {exc}") from exc
        return self.staging

    def publish(self) -> None:
        with open(os.path.join(self.staging, SUCCESS_FILE), "wb"):
            pass
        try:
            # rename() replaces only an empty directory: a concurrent run that published
            # first makes this fail rather than mix two outputs.
            os.rename(self.staging, self.final)
        except OSError as exc:
            self.abort()
            raise OutputError(
                f"cannot publish {self.final}: it exists and is not empty ({exc.strerror})"
            ) from exc

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


# ---- s3:// targets (luigi.contrib.s3 imported only for s3:// paths) --------------------


def s3_target(path: str, kind: str) -> luigi.Target:
    """A Luigi target for an ``s3://`` path: ``kind`` is ``input`` (a prefix, object or
    glob; exists when it names an object), ``directory`` (an output prefix, complete when
    its ``_SUCCESS`` exists) or ``file`` (one output object). Luigi's S3 client reads
    ``[s3]`` from client.cfg, as our own reads and writes do."""
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
