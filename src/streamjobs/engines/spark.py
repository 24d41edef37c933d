"""The Spark engine: the same splits, the same mapper, run as Spark tasks.

A job reaches Spark the way Luigi's ``PySparkTask`` does: ``spark-submit`` (configured by
``[spark]`` in luigi.cfg: ``master``, ``deploy_mode``, ``spark_submit``, ``conf``,
``py_packages``...) runs Luigi's pyspark runner, which unpickles the task and calls its
``main(sc)``. There the driver plans the input splits exactly as the local engine does
and hands one split to each Spark task; a task reads its split with ``inputs.read_split``,
feeds whole chunks of lines to the job's ``map_chunk`` and writes ``part-NNNNN`` (and its
quarantined lines) into the staging directory; the driver adds up the tasks' counters,
writes ``_COUNTERS.json`` and publishes the directory atomically. The output is the same,
file for file, as the local engine's.

Why not ``sc.textFile``: Hadoop's line reader turns each line into a Java string, so
invalid UTF-8 arrives as U+FFFD (a bad record would become a good one), and it also breaks
lines at a lone ``\\r``. Reading the bytes in Python keeps every engine's records equal.
The price: executors open the input and write the output by path, so both must be on a
file system every node sees at the same path (always true for ``local[*]``).

pyspark is imported only inside Spark's processes; this module imports without it.
"""

from __future__ import annotations

import json
import logging
import os
import sys

import luigi
from luigi.contrib.spark import PySparkTask

from streamjobs import counters as counters_mod
from streamjobs.config import streaming
from streamjobs.engines.local import (
    EXAMPLES_KEPT,
    map_split,
)
from streamjobs.inputs import list_input_files, plan_splits
from streamjobs.paths import LocalOutputDirectory, LocalPublisher, local_path
from streamjobs.records import DEFAULT_MAX_LINE_BYTES
from streamjobs.tasks import InputData, JobParameters

logger = logging.getLogger("luigi-interface")


def run_on_spark(
    sc,
    mapper,
    input_path: str,
    output_path: str,
    max_bad_records: int | None = None,
    split_bytes: int = 64 << 20,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> dict:
    """Run ``mapper`` over ``input_path`` as Spark tasks of ``sc``; publish; the counters."""
    # Absolute paths: executors do not share the driver's working directory.
    files = [os.path.abspath(path) for path in list_input_files(local_path(input_path))]
    splits = plan_splits(files, split_bytes)
    publisher = LocalPublisher(output_path)
    staging = publisher.begin()
    try:
        tasks = [(index, split) for index, split in enumerate(splits)]

        def map_partition(items):
            for index, split in items:
                yield map_split(mapper, split, staging, index, max_line_bytes)

        # One split per partition, so Spark schedules (and retries) each split on its own.
        reports = sc.parallelize(tasks, len(tasks)).mapPartitions(map_partition).collect()
        totals = counters_mod.new_counters()
        examples: list[str] = []
        for report in reports:
            counters_mod.add_counters(totals, report.counters)
            examples.extend(report.examples[: EXAMPLES_KEPT - len(examples)])
        counters_mod.check_bad_record_limit(totals, max_bad_records, examples)
        counters_mod.write_file(staging, totals)
        publisher.publish()
    except BaseException:
        publisher.abort()
        raise
    return totals


def _is_local_master(master: str | None) -> bool:
    # spark-submit's default master is local[*].
    return master is None or master.startswith("local")


class SparkSubmission(PySparkTask):
    """A ``PySparkTask`` whose driver runs a streaming job with ``run_on_spark``.

    Subclasses say which job with ``spark_job()``: an object with ``line_mapper()``,
    ``input_path``, ``output_path`` and ``max_bad_records``.
    """

    def spark_job(self):
        raise NotImplementedError(f"{type(self).__name__} must define spark_job()")

    @property
    def spark_submit(self):
        # pip's pyspark puts spark-submit beside the interpreter, which may not be on PATH
        # (a virtualenv run without activating it).
        configured = luigi.configuration.get_config().get("spark", "spark_submit", None)
        beside = os.path.join(os.path.dirname(sys.executable), "spark-submit")
        if configured is None and os.path.exists(beside):
            return beside
        return configured or "spark-submit"

    @property
    def pyspark_python(self):
        # On local[*] the executors are this machine's: use this interpreter (it has
        # streamjobs and msgspec) rather than whatever "python3" is first on PATH.
        configured = luigi.configuration.get_config().get("spark", "pyspark_python", None)
        if configured or not _is_local_master(self.master):
            return configured
        return sys.executable

    @property
    def pyspark_driver_python(self):
        return self.pyspark_python

    def get_environment(self):
        env = super().get_environment()
        if _is_local_master(self.master):
            # Spark binds its driver to the host's address unless told; local[*] needs only
            # loopback (and machines whose host name does not resolve fail without it).
            env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        return env

    def main(self, sc, *args):
        job = self.spark_job()
        totals = run_on_spark(
            sc,
            job.line_mapper(),
            job.input_path,
            job.output_path,
            job.max_bad_records,
            split_bytes=streaming().split_mb << 20,
        )
        logger.info("streamjobs: counters %s", json.dumps(totals, sort_keys=True))


class SparkJobTask(JobParameters, SparkSubmission):
    """A job written as a Luigi ``PySparkTask`` (the post's ``TestTaskPS`` shape).

    Subclasses define ``line_mapper()``, as for ``tasks.StreamingJobTask``; the output
    layout is the same as every engine's.
    """

    def spark_job(self):
        return self

    def requires(self):
        return InputData(path=self.input_path)

    def output(self):
        return LocalOutputDirectory(local_path(self.output_path))


class _EngineSubmission(SparkSubmission):
    """The spark-submit of a ``StreamingJobTask`` run with ``--engine spark``."""

    job_id = luigi.Parameter(description="task_id of the submitted job")

    def spark_job(self):
        return self.job

    @property
    def name(self):
        return type(self.job).__name__


class SparkEngine:
    """Runs a ``StreamingJobTask`` on Spark through spark-submit (``[spark]`` settings)."""

    @classmethod
    def from_job(cls, job) -> SparkEngine:
        return cls()

    def run(self, job) -> dict:
        """Submit ``job`` to Spark and wait; its counters (read back from the output)."""
        submission = _EngineSubmission(job_id=job.task_id)
        submission.job = job
        # Spark's tracking URL (its web UI) goes to the job's own status in Luigi.
        submission.set_tracking_url = job.set_tracking_url or _ignore
        with job.no_unpicklable_properties():
            submission.run()
        output = local_path(job.output_path)
        with open(os.path.join(output, counters_mod.COUNTERS_FILE)) as counters_file:
            totals = json.load(counters_file)
        logger.info(counters_mod.summary(totals, os.path.abspath(output)) + " (spark)")
        return totals


def _ignore(*args) -> None:
    pass
