"""Hadoop Streaming through Luigi's ``luigi.contrib.hadoop``: a map-only job on a cluster.

Luigi's ``HadoopJobRunner`` builds and submits ``hadoop jar STREAMING_JAR ...`` from the
``[hadoop]`` section (``command``, ``streaming-jar``, ``python-executable``). What the
nodes run is ``streamjobs.node_runner`` (shipped as ``mrrunner.py``), which rebuilds the
job's mapper from a JSON spec: no task is pickled and nodes need no Luigi.

Around the runner, this engine makes the output atomic and complete: Hadoop writes
``OUT-temp-<time>``; ``_COUNTERS.json`` (from the counters the Hadoop client prints at job
end) is added beside ``_SUCCESS``; then the directory is renamed to ``OUT``. On any
failure the temporary directory is removed. S3 has no rename: there Hadoop's committer
writes ``OUT`` directly, ``_SUCCESS`` last, and ``_COUNTERS.json`` follows it.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import types
from contextlib import contextmanager

import luigi
import luigi.configuration
import luigi.contrib.hdfs
import luigi.contrib.s3

from streamjobs import counters as counters_mod
from streamjobs.cluster_paths import hdfs_client, is_s3
from streamjobs.paths import OutputError

logger = logging.getLogger("luigi-interface")

_NODE_RUNNER = os.path.join(os.path.dirname(os.path.dirname(__file__)), "node_runner.py")


def _register_node_runner() -> types.ModuleType:
    """Stand our node runner in for ``luigi.contrib.mrrunner`` before Luigi imports it.

    luigi 3.7 and 3.8 wheels lack ``luigi/contrib/mrrunner.py`` (an unanchored
    ``mrrunner.py`` line in upstream's .gitignore drops it from the build), so
    ``import luigi.contrib.hadoop`` fails; and its error path is Python 2 code. Luigi only
    reads the module's ``__file__``, ships that file with ``-file`` and runs it as
    ``<python-executable> mrrunner.py map``: the file must be *named* ``mrrunner.py``,
    so ``__file__`` is pointed at a copy with that name for each submission.
    """
    name = "luigi.contrib.mrrunner"
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__streamjobs__", False):
        return existing
    module = types.ModuleType(name, "streamjobs.node_runner, shipped as mrrunner.py.")
    module.__streamjobs__ = True
    module.__file__ = _NODE_RUNNER
    sys.modules[name] = module
    return module


_MRRUNNER = _register_node_runner()

import luigi.contrib.hadoop as luigi_hadoop  # noqa: E402  (needs the runner registered)

# TextOutputFormat writes key, separator, value; a streaming line without a tab is all
# key with an empty (not null) value, so the default separator leaves a trailing tab.
# An empty separator writes the line as the mapper printed it.
TEXT_OUTPUT_SEPARATOR = "mapreduce.output.textoutputformat.separator"

_COUNTERS_RE = re.compile(r"\bCounters: (\d+)\s*$")


class HadoopEngineError(Exception):
    """The job cannot be submitted or its result cannot be published; says why."""


class CountersMissing(HadoopEngineError):
    """The Hadoop client printed no job counters."""


def job_spec(mapper) -> dict:
    """The JSON spec a node rebuilds ``mapper`` from: its class's import path and its
    attributes as constructor keyword arguments. Checked here, at submission."""
    cls = type(mapper)
    module = cls.__module__
    if module == "__main__":
        # Luigi ships a __main__ module under its file's name (as luigi does for pickles).
        main_file = getattr(sys.modules["__main__"], "__file__", None)
        if not main_file:
            raise HadoopEngineError(f"{cls.__qualname__} is defined in an interactive session")
        module = os.path.splitext(os.path.basename(main_file))[0]
    kwargs = dict(vars(mapper))
    try:
        if json.loads(json.dumps(kwargs)) != kwargs:
            raise ValueError("values change through JSON")
        if vars(cls(**kwargs)) != kwargs:
            raise ValueError("its constructor does not rebuild it from its attributes")
    except (TypeError, ValueError) as exc:
        raise HadoopEngineError(
            f"cannot ship mapper {mapper!r} to Hadoop nodes: {exc}. A mapper must be "
            f"rebuilt by {cls.__qualname__}(**attributes), with JSON attribute values."
        ) from exc
    return {
        "format": 1,
        "mapper": f"{module}:{cls.__qualname__}",
        "kwargs": kwargs,
        "packages": sorted({"streamjobs", module.partition(".")[0]}),
    }


def parse_job_counters(client_output: str) -> dict[str, dict[str, int]]:
    """The counter groups of the last ``Counters: N`` block the Hadoop client printed.

    The block is a line per group name, then ``name=value`` lines (indented by Hadoop).
    """
    lines = client_output.splitlines()
    starts = [i for i, line in enumerate(lines) if _COUNTERS_RE.search(line)]
    if not starts:
        raise CountersMissing(
            "the Hadoop client printed no job counters (is its log level below INFO? "
            "HADOOP_ROOT_LOGGER must include INFO); _COUNTERS.json cannot be written"
        )
    expected = int(_COUNTERS_RE.search(lines[starts[-1]]).group(1))
    groups: dict[str, dict[str, int]] = {}
    group = None
    seen = 0
    for line in lines[starts[-1] + 1 :]:
        if seen == expected:
            break
        text = line.strip()
        name, sep, value = text.rpartition("=")
        if sep and group is not None and value.strip().lstrip("-").isdigit():
            groups[group][name] = int(value)
            seen += 1
        elif text:
            group = text
            groups.setdefault(group, {})
    return groups


def job_counters(client_output: str) -> dict:
    """Our counters (the ``_COUNTERS.json`` schema) from the client's printed counters."""
    printed = parse_job_counters(client_output)
    totals = counters_mod.new_counters()
    for group in (counters_mod.RECORDS, counters_mod.BAD_RECORDS):
        counters_mod.add_counters(totals, {group: printed.get(group, {})})
    return totals


@contextmanager
def _captured_client_output(into: list[str]):
    """Collect the Hadoop client's stdout and stderr during ``run_job``.

    ``HadoopJobRunner.run_job`` discards what ``run_and_track_hadoop_job`` returns, which
    holds the counters Hadoop prints at job end (and luigi's log of that stream misses
    the lines printed as the client exits). The function is looked up on the module at
    call time, so it is wrapped for the duration of one submission and restored after.
    """
    original = luigi_hadoop.run_and_track_hadoop_job

    def run_and_keep_output(*args, **kwargs):
        try:
            out, err = original(*args, **kwargs)
        except luigi_hadoop.HadoopJobError as exc:
            into.extend([exc.out or "", exc.err or ""])
            raise
        into.extend([out, err])
        return out, err

    luigi_hadoop.run_and_track_hadoop_job = run_and_keep_output
    try:
        yield into
    finally:
        luigi_hadoop.run_and_track_hadoop_job = original


@contextmanager
def _runner_named_mrrunner():
    """Point ``luigi.contrib.mrrunner.__file__`` at a copy of the node runner named
    ``mrrunner.py`` (the name in Luigi's ``-mapper`` command) for one submission."""
    directory = tempfile.mkdtemp(prefix="streamjobs-runner-")
    try:
        path = os.path.join(directory, "mrrunner.py")
        shutil.copyfile(_NODE_RUNNER, path)
        _MRRUNNER.__file__ = path
        yield path
    finally:
        _MRRUNNER.__file__ = _NODE_RUNNER
        shutil.rmtree(directory, ignore_errors=True)


class StreamingHadoopJob(luigi_hadoop.JobTask):
    """Luigi's Hadoop job description for one streamjobs job: map-only, our runner.

    Built and configured by ``HadoopEngine``; never scheduled on its own.
    """

    job_id = luigi.Parameter(description="task_id of the streamjobs job this submits.")

    def configure(self, job, spec: dict, output, modules: list, runner) -> None:
        self._job = job
        self._spec = spec
        self._output = output
        self._modules = modules
        self._runner = runner

    def output(self):
        return self._output

    def requires_hadoop(self):
        return self._job.requires()

    def job_runner(self):
        # JobTask.job_runner() silently falls back to LocalJobRunner (the whole dataset
        # through this machine) when an output is not an HdfsTarget; never here.
        return self._runner

    def jobconfs(self):
        confs = [f"mapred.job.name={self._job.task_id}"]
        confs += [c for c in super().jobconfs() if not c.startswith("mapred.job.name=")]
        confs.append(f"{TEXT_OUTPUT_SEPARATOR}=")
        return confs

    def extra_modules(self):
        return self._modules

    def dump(self, directory=""):
        # Luigi ships this file as job-instance.pickle; ours holds the JSON spec instead of
        # a pickled task (nodes need no Luigi, and __main__ jobs pickle badly upstream).
        with open(os.path.join(directory, "job-instance.pickle"), "w") as out:
            json.dump(self._spec, out)


def _modules_to_ship(job) -> list:
    import streamjobs

    modules = [streamjobs]
    for name in {type(job).__module__, type(job.line_mapper()).__module__}:
        module = sys.modules[name]
        if module is not streamjobs and not name.startswith("streamjobs."):
            modules.append(module)
    return modules


class HadoopEngine:
    """Submits a job to Hadoop Streaming with Luigi's HadoopJobRunner, publishes atomically."""

    def __init__(self, streaming_jar: str):
        self.streaming_jar = streaming_jar

    @classmethod
    def from_job(cls, job) -> HadoopEngine:
        jar = luigi.configuration.get_config().get("hadoop", "streaming-jar", None)
        if not jar:
            raise HadoopEngineError(
                "[hadoop] streaming-jar is not set: name the cluster's hadoop-streaming jar "
                "in client.cfg (see README, Hadoop Streaming)"
            )
        return cls(jar)

    def run(self, job) -> dict:
        """Run ``job`` (a StreamingJobTask) on the cluster and publish its output."""
        spec = job_spec(job.line_mapper())
        final = job.output().path.rstrip("/")
        if is_s3(final):
            return self._run_to_s3(job, spec, final)
        return self._run_to_hdfs(job, spec, final)

    def _submit(self, job, spec: dict, output) -> dict | None:
        runner = luigi_hadoop.HadoopJobRunner(
            streaming_jar=self.streaming_jar, end_job_with_atomic_move_dir=False
        )
        hadoop_job = StreamingHadoopJob(job_id=job.task_id)
        hadoop_job.configure(job, spec, output, _modules_to_ship(job), runner)
        captured: list[str] = []
        try:
            with _runner_named_mrrunner(), _captured_client_output(captured):
                # BaseHadoopJobTask.run() sets up serialisers, then runs job_runner().
                hadoop_job.run()
        finally:
            runner.finish()
        try:
            return job_counters("\n".join(captured))
        except CountersMissing as exc:
            # The records are complete and correct; only the log lacked the counters. A
            # missing _COUNTERS.json is honest, zeros would not be.
            logger.warning("streamjobs: %s; publishing the output without it", exc)
            return None

    def _run_to_hdfs(self, job, spec: dict, final: str) -> dict:
        client = hdfs_client()
        stamp = datetime.datetime.now().isoformat().replace(":", "-")
        temporary = f"{final}-temp-{stamp}"
        try:
            totals = self._submit(job, spec, luigi.contrib.hdfs.HdfsTarget(temporary, fs=client))
            if totals is not None:
                with _local_counters_file(totals) as path:
                    client.put(path, f"{temporary}/{counters_mod.COUNTERS_FILE}")
            # rename_dont_move refuses an existing destination instead of moving into it.
            client.rename_dont_move(temporary, final)
        except BaseException:
            _remove_quietly(client, temporary, skip_trash=True)
            raise
        return _finished(totals, final)

    def _run_to_s3(self, job, spec: dict, final: str) -> dict:
        client = luigi.contrib.s3.S3Client()
        if client.exists(final):
            raise OutputError(f"output exists but is incomplete (no _SUCCESS): {final}")
        output = luigi.contrib.s3.S3FlagTarget(final + "/")
        try:
            totals = self._submit(job, spec, output)
            if totals is not None:
                with _local_counters_file(totals) as path:
                    client.put(path, f"{final}/{counters_mod.COUNTERS_FILE}")
        except BaseException:
            # The output did not exist before (checked above): whatever is there is ours.
            _remove_quietly(client, final)
            raise
        return _finished(totals, final)


def _finished(totals: dict | None, final: str) -> dict:
    """Log the run's summary; its counters ({} when the client printed none)."""
    if totals is None:
        logger.info("streamjobs: job done, counters unknown -> %s", final)
        return {}
    logger.info(counters_mod.summary(totals, final))
    return totals


@contextmanager
def _local_counters_file(totals: dict):
    with tempfile.TemporaryDirectory(prefix="streamjobs-counters-") as directory:
        yield counters_mod.write_file(directory, totals)


def _remove_quietly(client, path: str, **options) -> None:
    try:
        if client.exists(path):
            client.remove(path, recursive=True, **options)
    except Exception as exc:  # the original failure matters more; say what is left
        logger.error("streamjobs: could not remove temporary output %s: %s", path, exc)
