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

import luigi.contrib.hdfs
import luigi.contrib.s3
from luigi.contrib.hdfs import config as hdfs_config
from luigi.contrib.hdfs import hadoopcli_clients

from streamjobs.paths import SUCCESS_FILE, OutputError, scheme

S3_SCHEMES = ("s3", "s3a", "s3n")
HDFS_SCHEMES = ("", "hdfs")
LUIGI_HADOOP_VERSIONS = ("cdh4", "cdh3", "apache1")


def hdfs_client():
    """The HDFS client ``[hdfs] client`` names, tolerant of any ``[hadoop] version``.

    Luigi's hadoopcli client factory raises ValueError for any ``[hadoop] version`` but
    cdh4, cdh3 and apache1, so a config saying ``hadoop3`` (or ``3.3.6``) breaks every
    HdfsTarget. Hadoop 2 and 3 share cdh4's ``hadoop fs`` syntax: use it for other values.
    """
    if (
        hdfs_config.get_configured_hdfs_client() == "hadoopcli"
        and hdfs_config.get_configured_hadoop_version() not in LUIGI_HADOOP_VERSIONS
    ):
        return hadoopcli_clients.HdfsClient()
    return luigi.contrib.hdfs.get_autoconfig_client()


class HdfsOutputDirectory(luigi.contrib.hdfs.HdfsTarget):
    """An output directory on HDFS, complete when its ``_SUCCESS`` marker exists.

    (Luigi's HdfsFlagTarget passes its client where HdfsTarget expects ``is_tmp``, so the
    configured client is lost; this class passes it by name.)
    """

    def __init__(self, path: str):
        super().__init__(path.rstrip("/"), fs=hdfs_client())

    def exists(self) -> bool:
        return self.fs.exists(f"{self.path}/{SUCCESS_FILE}")


def is_s3(path: str) -> bool:
    return scheme(path) in S3_SCHEMES


def _check_cluster_path(path: str, role: str) -> None:
    if scheme(path) not in HDFS_SCHEMES + S3_SCHEMES:
        raise OutputError(
            f"the hadoop engine reads and writes paths on the cluster: a bare path (the "
            f"cluster's default file system), hdfs:// or s3://; the {role} {path} is not one"
            + (" (file:// names each node's own disk)" if scheme(path) == "file" else "")
        )


def cluster_input(path: str) -> luigi.Target:
    """The target for an input path on the cluster (a file, a directory or a glob)."""
    _check_cluster_path(path, "input")
    if is_s3(path):
        return luigi.contrib.s3.S3Target(path)
    return luigi.contrib.hdfs.HdfsTarget(path, fs=hdfs_client())


def cluster_output(path: str) -> luigi.Target:
    """The target for an output directory on the cluster, complete once ``_SUCCESS`` exists."""
    _check_cluster_path(path, "output")
    if is_s3(path):
        return luigi.contrib.s3.S3FlagTarget(path.rstrip("/") + "/", flag=SUCCESS_FILE)
    return HdfsOutputDirectory(path)
