"""Paths on a cluster's file systems as Luigi targets, for the Hadoop engine.

A bare path is on the cluster's default file system (``fs.defaultFS``, usually HDFS) and
``hdfs://`` names it explicitly: both are HdfsTargets, reached through Luigi's ``[hdfs]
client`` (``hadoopcli`` by default, ``webhdfs`` configurable). ``s3://`` (``s3a://``,
``s3n://``) is S3, which EMR's Hadoop reads and writes itself: Luigi's S3 targets. Any
other scheme (``file://`` above all: every node's own disk) is refused, so that a cluster
job never silently reads or writes the submitting machine's files.

Imported only by the Hadoop engine's code paths: it loads ``luigi.contrib.hdfs`` and
``luigi.contrib.s3`` (boto3), which the local engine must not pay for.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid

import luigi.contrib.hdfs
import luigi.contrib.s3
from luigi.contrib.hdfs import config as hdfs_config
from luigi.contrib.hdfs import hadoopcli_clients

from streamjobs.counters import COUNTERS_FILE
from streamjobs.counters import write_file as write_counters
from streamjobs.errors import ToolMissing, quote_path
from streamjobs.paths import SUCCESS_FILE, OutputError, scheme

logger = logging.getLogger("luigi-interface")

S3_SCHEMES = ("s3", "s3a", "s3n")
HDFS_SCHEMES = ("", "hdfs")
LUIGI_HADOOP_VERSIONS = ("cdh4", "cdh3", "apache1")


def hadoop_command() -> list[str]:
    """Luigi's ``[hadoopcli] command`` as argv, checked to exist: one clear line if not."""
    command = hdfs_config.load_hadoop_cmd()
    if not shutil.which(command[0]):
        raise ToolMissing(
            f"the hadoop engine needs the Hadoop client: no {quote_path(command[0])} command "
            "found; install one, or set [hadoopcli] command in luigi.cfg to its path"
        )
    return command


def hdfs_client():
    """The HDFS client ``[hdfs] client`` names, tolerant of any ``[hadoop] version``; with
    ``hadoopcli``, the ``hadoop`` command is checked first (one clear line if missing).

    Luigi's hadoopcli client factory raises ValueError for any ``[hadoop] version`` but
    cdh4, cdh3 and apache1, so a config saying ``hadoop3`` (or ``3.3.6``) breaks every
    HdfsTarget. Hadoop 2 and 3 share cdh4's ``hadoop fs`` syntax: use it for other values.
    """
    if hdfs_config.get_configured_hdfs_client() == "hadoopcli":
        hadoop_command()
        if hdfs_config.get_configured_hadoop_version() not in LUIGI_HADOOP_VERSIONS:
            return hadoopcli_clients.HdfsClient()
    return luigi.contrib.hdfs.get_autoconfig_client()


class HdfsOutputDirectory(luigi.contrib.hdfs.HdfsTarget):
    """An output directory on HDFS, complete when its ``_SUCCESS`` marker exists.

    (Luigi's HdfsFlagTarget passes its client where HdfsTarget expects ``is_tmp``, so the
    configured client is lost; this class passes it by name.)
    """

    is_tmp = False  # read by HdfsTarget.__del__, even when __init__ raised

    def __init__(self, path: str):
        super().__init__(path.rstrip("/"), fs=hdfs_client())

    def exists(self) -> bool:
        return self.fs.exists(f"{self.path}/{SUCCESS_FILE}")


def is_s3(path: str) -> bool:
    return scheme(path) in S3_SCHEMES


def check_cluster_path(path: str, role: str) -> None:
    """Refuse a path a cluster job cannot use (``file://`` above all), naming it."""
    if scheme(path) not in HDFS_SCHEMES + S3_SCHEMES:
        raise OutputError(
            f"the hadoop engine reads and writes paths on the cluster: a bare path (the "
            f"cluster's default file system), hdfs:// or s3://; the {role} {path} is not one"
            + (" (file:// names each node's own disk)" if scheme(path) == "file" else "")
        )


def cluster_input(path: str) -> luigi.Target:
    """The target for an input path on the cluster (a file, a directory or a glob)."""
    check_cluster_path(path, "input")
    if is_s3(path):
        return luigi.contrib.s3.S3Target(path)
    return luigi.contrib.hdfs.HdfsTarget(path, fs=hdfs_client())


def cluster_output(path: str) -> luigi.Target:
    """The target for an output directory on the cluster, complete once ``_SUCCESS`` exists."""
    check_cluster_path(path, "output")
    if is_s3(path):
        return luigi.contrib.s3.S3FlagTarget(path.rstrip("/") + "/", flag=SUCCESS_FILE)
    return HdfsOutputDirectory(path)


class HdfsPublisher:
    """Hadoop writes a hidden temporary directory beside the output; it is renamed into
    place with ``_COUNTERS.json`` (Hadoop's own ``_SUCCESS`` is already inside)."""

    def __init__(self, output_path: str):
        self.final = output_path.rstrip("/")
        parent, _, name = self.final.rpartition("/")
        stamp = uuid.uuid4().hex[:12]
        self.staging = f"{parent}/.{name}.tmp-{stamp}" if parent else f".{name}.tmp-{stamp}"
        self.client = hdfs_client()

    def begin(self) -> str:
        if self.client.exists(self.final):
            raise OutputError(
                f"output exists: {quote_path(self.final)} (complete outputs are skipped; "
                "this one has no _SUCCESS: remove it first)"
            )
        return self.staging

    def publish(self, counters: dict) -> None:
        with tempfile.TemporaryDirectory(prefix="streamjobs-counters-") as directory:
            path = write_counters(directory, counters)
            self.client.put(path, f"{self.staging}/{COUNTERS_FILE}")
        # `hadoop fs -mv` into an existing directory would move into it: refuse instead.
        # (Another run can still slip in between the check and the move; HDFS offers no
        # rename-if-absent through the command line.)
        if self.client.exists(self.final):
            raise OutputError(f"cannot publish {quote_path(self.final)}: it exists now")
        self.client.rename(self.staging, self.final)

    def abort(self) -> None:
        try:
            if self.client.exists(self.staging):
                self.client.remove(self.staging, recursive=True, skip_trash=True)
        except Exception as exc:  # the original failure matters more; say what is left
            logger.error("streamjobs: could not remove %s: %s", quote_path(self.staging), exc)


def cluster_publisher(output_path: str):
    """The publisher of a Hadoop job's output: HDFS (rename) or S3 (copy, _SUCCESS last)."""
    check_cluster_path(output_path, "output")
    if is_s3(output_path):
        from streamjobs.s3 import S3Publisher

        return S3Publisher("s3://" + output_path.partition("://")[2], remote=True)
    return HdfsPublisher(output_path)
