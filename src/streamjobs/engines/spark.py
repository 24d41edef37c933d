"""Spark: a job's spec submitted with ``spark-submit``; the same splits, mapped as Spark tasks.

The submission carries the JobSpec (JSON: the job's class path and parameters, no pickle)
and the code (``--py-files``: a zip of Python source only, the ``streamjobs`` package and
the job's own modules, as the Hadoop engine ships them): no configuration file, no
credentials. The command follows Luigi's ``[spark]`` settings (``master``, ``deploy_mode``,
``spark_submit``, ``conf``, ``pyspark_python``, ...: those of
``luigi.contrib.spark.SparkSubmitTask``).

The driver (``spark_app``) plans the input splits as the local engine does, hands one split
to each Spark task, and prints each split's report (counters, example bad lines) on its
standard output; an executor rebuilds the job from the spec and maps its split with the
local engine's ``map_split`` into the run's staging directory, so records, counters and
quarantine are the local engine's. This process runs the run template: it reads the
reports, enforces ``--max-bad-records``, writes ``_COUNTERS.json`` and publishes the output
atomically, or removes it.

Why not ``sc.textFile``: Hadoop's line reader turns each line into a Java string, so
invalid UTF-8 arrives as U+FFFD (a bad record would become a good one), and it also breaks
lines at a lone ``\\r``. The price: executors open the input and write the staging output by
path, so both must be on a file system every node sees at the same path (always true for
``local[*]``).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

import luigi
import luigi.configuration
from luigi.contrib.spark import SparkSubmitTask

from streamjobs import run as run_mod
from streamjobs.engines.hadoop import code_to_ship, write_code_archive
from streamjobs.engines.local import output_errors
from streamjobs.engines.spark_app import REPORT_PREFIX
from streamjobs.errors import JobError, ToolMissing, quote_path
from streamjobs.inputs import InputError
from streamjobs.paths import LocalPublisher, OutputError, local_path, scheme

logger = logging.getLogger("luigi-interface")

# Lines of spark-submit's output kept for a failure message.
_KEPT_OUTPUT_LINES = 200
# The longest error line quoted from spark-submit's output.
_SUMMARY_CHARS = 500
# The program spark-submit runs: the driver, from the shipped code.
_APP = "import sys\nfrom streamjobs.engines.spark_app import main\nsys.exit(main(sys.argv[1:]))\n"
# Errors an executor or the driver reports by name, raised here as the same class.
_KNOWN_ERRORS = {"InputError": InputError, "OutputError": OutputError}


class SparkEngineError(JobError):
    """The Spark job cannot be submitted, or failed; the message says why."""


def spark_setting(name: str, default: str | None = None) -> str | None:
    return luigi.configuration.get_config().get("spark", name, default)


def _is_local_master(master: str | None) -> bool:
    # spark-submit's default master is local[*].
    return master is None or master.startswith("local")


class SparkSubmission(SparkSubmitTask):
    """The ``spark-submit`` command line, from Luigi's ``[spark]`` settings.

    Built only for its command (``spark_command()``, ``app_command()``) and environment;
    it is never scheduled.
    """

    workdir = luigi.Parameter(description="Directory holding the shipped files.")
    app_name = luigi.Parameter(default="streamjobs", description="The Spark application name.")

    @property
    def name(self):
        return self.app_name

    @property
    def app(self):
        return os.path.join(self.workdir, "streamjobs-spark-app.py")

    def app_options(self):
        return [os.path.join(self.workdir, "spec.json")]

    @property
    def py_files(self):
        return [*(super().py_files or []), os.path.join(self.workdir, "code.zip")]

    @property
    def spark_submit(self):
        # pip's pyspark puts spark-submit beside the interpreter, which may not be on PATH
        # (a virtualenv used without activating it).
        configured = spark_setting("spark_submit")
        if configured:
            return configured
        beside = os.path.join(os.path.dirname(sys.executable), "spark-submit")
        return beside if os.path.exists(beside) else "spark-submit"

    @property
    def pyspark_python(self):
        # On local[*] the executors are this machine's: use this interpreter (it has
        # msgspec and Luigi) rather than whatever "python3" is first on PATH. A cluster's
        # nodes have their own.
        configured = spark_setting("pyspark_python")
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

    def command(self) -> list[str]:
        return self.spark_command() + self.app_command()


def check_tools(submission: SparkSubmission) -> None:
    """ToolMissing, in one line saying what to install, unless spark-submit and Java are."""
    command = submission.spark_submit
    if shutil.which(command) is None:
        where = "set in [spark] spark_submit" if spark_setting("spark_submit") else "on PATH"
        raise ToolMissing(
            f"spark-submit not found ({quote_path(command)}, {where}): install pyspark "
            "(pip install 'streamjobs[spark]'), or set [spark] spark_submit in luigi.cfg to "
            "your Spark's spark-submit"
        )
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))):
        if shutil.which("java") is None:
            raise ToolMissing(
                "java not found: Spark needs Java 17 or later (apt-get install "
                "openjdk-17-jre-headless, or set JAVA_HOME)"
            )


class SparkEngine:
    """Runs a JobSpec as a Spark application and publishes its output atomically."""

    def __init__(self, spec, set_tracking_url=None):
        self.spec = spec
        # Luigi's callback for the Spark web UI's address (shown in Luigi's own UI).
        self.set_tracking_url = set_tracking_url

    def run(self) -> dict:
        spec = self.spec
        if spark_setting("deploy_mode") == "cluster":
            raise SparkEngineError(
                "[spark] deploy_mode = cluster is not supported: the driver reports each "
                "split on its standard output, which spark-submit relays only in client mode"
            )
        check_tools(SparkSubmission(workdir=""))
        if scheme(spec.output) == "s3":
            from streamjobs.s3 import S3Publisher

            publisher = S3Publisher(spec.output)
        else:
            publisher = LocalPublisher(spec.output)
        logger.info("streamjobs: running %s on Spark", spec.job.partition(":")[2])
        with output_errors(publisher.final):
            return run_mod.execute(publisher, self._map_splits, spec.max_bad_records)

    def _map_splits(self, staging: str):
        """Submit the job with ``staging`` as its output; a SplitReport per split."""
        workdir = tempfile.mkdtemp(prefix="streamjobs-spark-")
        try:
            self.ship(workdir, staging)
            submission = SparkSubmission(workdir=workdir, app_name=_app_name(self.spec))
            yield from self._submit(submission)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def ship(self, workdir: str, staging: str):
        """Write what spark-submit ships into ``workdir``: the driver program, the code
        (``code.zip``, Python source only) and the spec (``spec.json``); the spec."""
        try:
            spec, modules = code_to_ship(self.spec)
        except JobError as exc:  # a job class defined in an interactive session
            raise SparkEngineError(str(exc)) from None
        # Absolute paths: the driver and executors need not share this working directory.
        spec = dataclasses.replace(
            spec, inputs=[_absolute(path) for path in spec.inputs], output=_absolute(staging)
        )
        archive = os.path.join(workdir, "code.tar")
        write_code_archive(archive, modules)
        _tar_to_zip(archive, os.path.join(workdir, "code.zip"))
        os.remove(archive)
        with open(os.path.join(workdir, "streamjobs-spark-app.py"), "w") as out:
            out.write(_APP)
        with open(os.path.join(workdir, "spec.json"), "w") as out:
            out.write(spec.to_json())
        return spec

    def _submit(self, submission: SparkSubmission):
        """Run spark-submit to its end; then a SplitReport per split. Reports come only
        after the application has ended (the driver collects them all at once), so nothing
        still writes into the staging output when the run template publishes or aborts."""
        argv = submission.command()
        logger.info("streamjobs: submitting %s", shlex.join(argv))
        kept: collections.deque[str] = collections.deque(maxlen=_KEPT_OUTPUT_LINES)
        messages = []
        with subprocess.Popen(
            argv,
            env=submission.get_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as process:
            try:
                for line in process.stdout:
                    if not line.startswith(REPORT_PREFIX):
                        if " ERROR " in line:  # Spark's own errors (a task that failed)
                            logger.info("spark: %s", line.rstrip())
                        kept.append(line.rstrip("\n"))
                        continue
                    message = json.loads(line[len(REPORT_PREFIX) :])
                    if "tracking_url" in message:
                        logger.info("streamjobs: Spark UI at %s", message["tracking_url"])
                        if self.set_tracking_url is not None:
                            self.set_tracking_url(message["tracking_url"])
                    messages.append(message)
                status = process.wait()
            finally:
                # Interrupted (Ctrl-C, SIGTERM): stop the application before the staging
                # output is removed.
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        process.kill()
        for message in messages:
            if "error" in message:
                raise _error(message["error"])
        expected = [m["splits"] for m in messages if "splits" in m]
        reports = [run_mod.SplitReport(**m["report"]) for m in messages if "report" in m]
        if status != 0 or expected != [len(reports)]:
            raise SparkEngineError(
                f"the Spark job failed (spark-submit exited with {status}): "
                f"{_failure_summary(list(kept))}; nothing was published"
            )
        yield from reports


def _error(error: dict) -> JobError:
    """The error an executor or the driver reported, as the class it names when known."""
    known = _KNOWN_ERRORS.get(error["type"])
    if known is not None:
        return known(error["message"])
    if error.get("traceback"):  # not a user's error: where it happened, for a bug report
        logger.error("streamjobs: a Spark task failed:\n%s", error["traceback"].rstrip())
    return SparkEngineError(f"{error['type']}: {error['message']}; nothing was published")


def _failure_summary(lines: list[str]) -> str:
    """The driver's Python error (its traceback's last line) if it printed one, else the
    JVM's, else the last lines of spark-submit's output."""
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")]
    if starts:
        after = lines[starts[-1] + 1 :]
        for number, line in enumerate(after):
            if line.strip() and not line[0].isspace():
                if "Py4JJavaError" in line and number + 1 < len(after):
                    # The JVM's reason (a failed stage: why its task failed) follows.
                    return after[number + 1].strip(" :")[:_SUMMARY_CHARS]
                return line.strip()[:_SUMMARY_CHARS]
    java = [line for line in lines if line.startswith("Exception in thread")]
    if java:  # the JVM failed before the Python driver ran
        return java[-1].strip()[:_SUMMARY_CHARS]
    return "last output: " + " | ".join(line.strip() for line in lines[-5:] if line.strip())


def _absolute(path: str) -> str:
    if scheme(path) == "s3":
        return path
    try:
        return os.path.abspath(local_path(path))
    except ValueError:
        raise SparkEngineError(
            f"the spark engine reads and writes local paths (on a file system every node "
            f"mounts at the same path) and s3:// URLs, not {quote_path(path)}"
        ) from None


def _app_name(spec) -> str:
    return f"{spec.job.partition(':')[2]} {os.path.basename(spec.output.rstrip('/'))}"


def _tar_to_zip(tar_path: str, zip_path: str) -> None:
    """The code archive as a zip, the form ``--py-files`` puts on Python's path."""
    with tarfile.open(tar_path) as archive, zipfile.ZipFile(zip_path, "w") as out:
        for member in archive.getmembers():
            if member.isfile():
                out.writestr(member.name, archive.extractfile(member).read())
