"""The command line: any streamjobs job on mrjob's runners.

    python -m streamjobs.mrjob MODULE.CLASS [-r inline|local|hadoop|emr] [--PARAM VALUE ...]
        [--max-bad-records N] [-o OUT] INPUT...

``MODULE.CLASS`` is a ``streamjobs.JobTask`` or ``TextJobTask`` (its module importable:
on PYTHONPATH or in the current directory); its Luigi parameters are options
(``min_amount`` as ``--min-amount``). INPUT is a file or a directory (its visible files, as
on every engine); on ``-r hadoop``/``-r emr`` also an ``hdfs://`` or ``s3://`` URI.

The client builds the run's JobSpec (the job's class and parameters, JSON) and ships it to
every map task, which rebuilds the job from it (``mrtask``). On ``-r inline`` and ``-r
local`` the run goes through the run template (``streamjobs.run.execute``): ``-o OUT`` is
published atomically (part files, ``_COUNTERS.json``, ``_quarantine/``, ``_SUCCESS``) and
``--max-bad-records`` fails the run publishing nothing; without ``-o`` the records are
printed once the run succeeded. On ``-r hadoop`` and ``-r emr`` mrjob submits the job
(the nodes need this project installed; a job module that is one ``.py`` file ships with
the job) and the cluster writes ``-o``; counters are printed, bad lines logged by tasks.
"""

from __future__ import annotations

import argparse
import codecs
import importlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import luigi
from luigi.parameter import ParameterVisibility
from mrjob.inline import InlineMRJobRunner
from mrjob.step import StepFailedException

import streamjobs
from streamjobs import counters as counters_mod
from streamjobs.errors import JobError, quote_path
from streamjobs.inputs import is_hidden, list_input_files
from streamjobs.job import JobDefinitionError
from streamjobs.mrjob.mrtask import QUARANTINE_OPTION, SOURCES_OPTION, JobMRTask
from streamjobs.mrjob.runners import LocalRunner
from streamjobs.paths import LocalPublisher, local_path, scheme
from streamjobs.run import QUARANTINE_DIR, Interrupted, SplitReport, execute
from streamjobs.spec import JobSpec

PROG = "streamjobs.mrjob"
OPTIONS = "[-r inline|local|hadoop|emr] [--PARAM VALUE ...] [--max-bad-records N] [-o OUT] INPUT..."
# JobTask parameters that mrjob's command line replaces (INPUT..., -o, -r) or that belong
# to other engines.
NOT_OPTIONS = frozenset({"input_path", "output_path", "engine", "processes", "per_file"})
# The runners this project runs itself (atomic output, bad-record limit, quarantine).
LOCAL_RUNNERS = {"inline": InlineMRJobRunner, "local": LocalRunner}
# Bad lines shown per map task after an inline or local run; all are in the quarantine.
SHOWN_BAD_LINES = 20

logger = logging.getLogger("luigi-interface")


class UsageError(JobError):
    """A command line that names no job, a job that cannot be loaded, a bad value."""


class MapTaskFailed(JobError):
    """A map task failed; the message is its own reason when it gave one."""


class ClusterError(JobError):
    """mrjob could not reach or use the cluster (HDFS, S3): the message says what."""


def main(argv: list[str] | None = None, prog: str = PROG, job: str | None = None) -> None:
    """Run the command line ``argv``; ``job`` (MODULE.CLASS) when the command runs one job.

    Errors are one line; an interrupted run exits with 128 + the signal's number, as a
    shell reports it.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    usage = f"{prog} {OPTIONS}" if job else f"{prog} MODULE.CLASS {OPTIONS}"
    try:
        run(argv if job is None else [job, *argv], usage)
    except KeyboardInterrupt as interrupt:
        signum = interrupt.args[0] if interrupt.args else signal.SIGINT
        print(f"{prog}: interrupted by {signal.Signals(signum).name}", file=sys.stderr)
        sys.exit(128 + signum)
    except Interrupted as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)
    except (JobError, JobDefinitionError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except BrokenPipeError:
        # The reader of the printed records left (``| head``): no traceback, and none at
        # exit when Python flushes stdout again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


def _interrupt_on_sigterm(signum, frame):
    """SIGTERM as Ctrl-C: mrjob terminates the EMR cluster it created on KeyboardInterrupt
    only, and a killed submission would otherwise leave the cluster running (and billing).
    Later SIGTERMs are ignored so that they cannot cut that clean-up short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(signum)


def run(argv: list[str], usage: str) -> dict | None:
    """Run ``MODULE.CLASS [options] INPUT...``; the counters of an inline or local run."""
    if not argv or argv[0].startswith("-"):
        raise UsageError(f"no job named; usage: {usage}")
    job_class = load_job_class(argv[0])
    mr_class = client_class(job_class, usage)
    args = argv[1:]
    options = mr_class(args).options  # --help and mrjob's own usage errors exit here
    task = job_task(job_class, options)
    if not options.args:
        raise UsageError("no INPUT given (a file or a directory)")
    inputs = expand_inputs(options.args)
    spec = JobSpec.of_task(task, inputs, options.output_dir or "")
    runner = options.runner or "inline"
    _set_up_logging(mr_class, options, runner)
    if runner in LOCAL_RUNNERS:
        if scheme(spec.output) not in ("", "file"):
            raise UsageError(f"-r {runner} writes a local -o directory, not {spec.output}")
        sources = {os.path.abspath(path): path for path in inputs if not scheme(path)}
        spec.options = {SOURCES_OPTION: sources}
        if runner == "local":
            _export_pythonpath(job_class)
        return run_locally(mr_class, args, spec)
    if spec.max_bad_records is not None:
        # The cluster publishes its output itself: a limit could not keep it unpublished.
        raise UsageError(f"--max-bad-records applies to -r inline and -r local, not -r {runner}")
    _run_on_cluster(mr_class, args, spec, job_class)
    return None


def load_job_class(name: str) -> type:
    """The JobTask class ``MODULE.CLASS`` names."""
    module_name, _, class_name = name.rpartition(".")
    if not module_name:
        raise UsageError(f"{name!r}: name the job as MODULE.CLASS (sales_job.SalesOver)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(
            f"cannot import {module_name!r} ({exc}); is its directory on PYTHONPATH?"
        ) from None
    job_class = getattr(module, class_name, None)
    if not (isinstance(job_class, type) and issubclass(job_class, streamjobs.JobTask)):
        raise UsageError(f"{name!r} is not a streamjobs.JobTask or TextJobTask class")
    return job_class


def job_parameters(job_class: type) -> list[tuple[str, luigi.Parameter]]:
    """The job's Luigi parameters that are command-line options here."""
    return [
        (name, param)
        for name, param in job_class.get_params()
        if name not in NOT_OPTIONS and param.visibility == ParameterVisibility.PUBLIC
    ]


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _dest(name: str) -> str:
    return "job_param_" + name


def client_class(job_class: type, usage: str) -> type[JobMRTask]:
    """The MRJob the client runs: the task's, with the job's parameters as options (not
    passed to tasks: the spec carries them), this project's local runner, and a failed
    run's local scratch directory removed."""
    parameters = job_parameters(job_class)

    class JobMR(JobMRTask):
        def configure_args(self) -> None:
            super().configure_args()
            self.arg_parser.usage = usage
            for name, param in parameters:
                kwargs = {"dest": _dest(name), "default": None}
                if isinstance(param, luigi.BoolParameter):
                    kwargs.update(action="store_const", const="true")
                else:
                    kwargs.update(metavar=name.upper())
                help_text = (param.description or "").replace("%", "%%")
                try:
                    self.arg_parser.add_argument(_option(name), help=help_text, **kwargs)
                except argparse.ArgumentError as exc:  # a clash with one of mrjob's
                    raise JobDefinitionError(
                        f"{job_class.__name__}.{name}: {_option(name)} is one of mrjob's "
                        f"options ({exc}); rename the parameter"
                    ) from None

        def _usage(self) -> str:
            return usage

        def _runner_class(self):
            return LOCAL_RUNNERS.get(self.options.runner or "inline") or super()._runner_class()

        def _runner_kwargs(self) -> dict:
            kwargs = super()._runner_kwargs()
            if kwargs.get("cleanup_on_failure") is None:
                # mrjob keeps a failed or interrupted run's local scratch directory
                # (/tmp/mrtask.*) for good; the cluster's logs stay where they are.
                kwargs["cleanup_on_failure"] = ["LOCAL_TMP"]
            return kwargs

    JobMR.__name__ = JobMR.__qualname__ = f"{job_class.__name__}MR"
    return JobMR


def job_task(job_class: type, options) -> luigi.Task:
    """The job object of the command line's parameter values; a bad value is a UsageError."""
    kwargs = {}
    for name, param in job_parameters(job_class):
        value = getattr(options, _dest(name))
        if value is None:
            continue
        try:
            kwargs[name] = param.normalize(param.parse(value))
        except (ValueError, TypeError, OverflowError) as exc:
            raise UsageError(f"invalid value for {_option(name)}: {value!r} ({exc})") from None
    try:
        return job_class(**kwargs)
    except (luigi.parameter.ParameterException, ValueError) as exc:
        raise UsageError(str(exc)) from None


def expand_inputs(paths: list[str]) -> list[str]:
    """Input files: a local directory stands for its visible files (``_``/``.`` names
    skipped, as on every engine); URIs (``s3://``, ``hdfs://``) are mrjob's to list."""
    files: list[str] = []
    for path in paths:
        if scheme(path) not in ("", "file"):
            files.append(path)
        else:
            files.extend(list_input_files(local_path(path)))
    return files


def _export_pythonpath(job_class: type) -> None:
    """Make the job's module and this project importable in the local runner's task
    processes, which run in directories of their own: their roots go first on PYTHONPATH,
    every entry absolute (``PYTHONPATH=.`` would otherwise name the task's directory)."""
    roots = [_module_root(job_class.__module__), _module_root(streamjobs.__name__)]
    current = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    entries = roots + [os.path.abspath(entry) for entry in current if entry]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(entries))


def _module_root(module_name: str) -> str:
    """The sys.path directory from which ``module_name`` was imported."""
    path = os.path.abspath(sys.modules[module_name].__file__)
    if os.path.basename(path) == "__init__.py":
        path = os.path.dirname(path)
    for _ in range(module_name.count(".") + 1):
        path = os.path.dirname(path)
    return path


class _HideStagingMessage(logging.Filter):
    """mrjob's ``job output is in DIR`` names the staging directory, not the output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("job output is in ")


def _set_up_logging(mr_class, options, runner: str) -> None:
    if runner in LOCAL_RUNNERS:
        # On a cluster runner, mrjob's own run_job sets up its logging (twice would print
        # every line twice).
        stream = codecs.getwriter("utf_8")(sys.stderr.buffer)
        mr_class.set_up_logging(quiet=options.quiet, verbose=options.verbose, stream=stream)
    logging.getLogger("mrjob.runner").addFilter(_HideStagingMessage())
    if not options.quiet and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


# ---- inline and local runners: the run template ------------------------------------------


class StdoutPublisher:
    """Without ``-o``: the run is staged in a temporary directory and its records printed
    once it succeeded (part files in order); the directory is removed either way."""

    final = "standard output"

    def __init__(self):
        self.staging = ""

    def begin(self) -> str:
        self.staging = tempfile.mkdtemp(prefix="streamjobs-mrjob-")
        return self.staging

    def publish(self, counters: dict) -> None:
        try:
            out = sys.stdout.buffer
            for name in sorted(os.listdir(self.staging)):
                if not is_hidden(name):
                    with open(os.path.join(self.staging, name), "rb") as part:
                        shutil.copyfileobj(part, out)
            out.flush()
        finally:
            self.abort()

    def abort(self) -> None:
        if self.staging:
            shutil.rmtree(self.staging, ignore_errors=True)


def run_locally(mr_class, args: list[str], spec: JobSpec) -> dict:
    """An inline or local run through ``run.execute``; the counters."""
    publisher = LocalPublisher(spec.output) if spec.output else StdoutPublisher()

    def map_splits(staging):
        yield _run_mrjob(mr_class, args, spec, staging)

    return execute(publisher, map_splits, spec.max_bad_records)


def _run_mrjob(mr_class, args: list[str], spec: JobSpec, staging: str) -> SplitReport:
    """Run the job with mrjob's runner into ``staging``; what it reports."""
    spec.options[QUARANTINE_OPTION] = staging
    with tempfile.TemporaryDirectory(prefix="streamjobs-spec-") as spec_dir:
        mr_job = _job_with_spec(mr_class, args, spec, spec_dir)
        mr_job.options.output_dir = staging
        with mr_job.make_runner() as runner:
            try:
                runner.run()
            except StepFailedException as exc:
                reason = runner.task_error(exc) if isinstance(runner, LocalRunner) else None
                raise MapTaskFailed(
                    f"a map task failed: {reason or exc}; nothing was published"
                ) from None
            except Interrupted:
                raise
            except JobError as exc:  # the inline runner raises the task's own error
                raise MapTaskFailed(f"{exc}; nothing was published") from None
            step_counters = runner.counters()[0] if runner.counters() else {}
    counters = counters_mod.new_counters()
    for group in counters:
        counters_mod.add_counters(counters, {group: step_counters.get(group, {})})
    return SplitReport(counters, _show_bad_lines(staging))


def _job_with_spec(mr_class, args: list[str], spec: JobSpec, spec_dir: str):
    path = os.path.join(spec_dir, "job-spec.json")
    with open(path, "w") as stream:
        stream.write(spec.to_json())
    mr_job = mr_class([*args, "--job-spec", path])
    mr_job.options.args = list(spec.inputs)
    return mr_job


def _show_bad_lines(staging: str) -> list[str]:
    """Log each task's first bad lines (task logs are deleted with the run); examples."""
    directory = os.path.join(staging, QUARANTINE_DIR)
    names = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
    examples: list[str] = []
    for name in names:
        with open(os.path.join(directory, name), "rb") as stream:
            for number, line in enumerate(stream):
                if number == SHOWN_BAD_LINES:
                    logger.warning("streamjobs: %s: more bad lines in the quarantine", name)
                    break
                bad = json.loads(line)
                where = bad.get("line", f"@{bad['offset']}")
                text = f"{quote_path(bad['source'])}:{where}: {bad['reason']}"
                logger.warning("streamjobs: bad record: %s (%s)", text, bad["detail"])
                examples.append(text)
    return examples


# ---- hadoop and emr: mrjob submits, the cluster writes -----------------------------------


def _run_on_cluster(mr_class, args: list[str], spec: JobSpec, job_class: type) -> None:
    with tempfile.TemporaryDirectory(prefix="streamjobs-spec-") as spec_dir:
        mr_job = _job_with_spec(mr_class, args, spec, spec_dir)
        module = sys.modules[job_class.__module__]
        if "." not in job_class.__module__ and module.__file__.endswith(".py"):
            # A job module of one file travels with the job, as the task script does.
            mr_job.options.upload_files = [*(mr_job.options.upload_files or []), module.__file__]
        try:
            mr_job.run_job()
        except StepFailedException as exc:
            raise MapTaskFailed(f"the cluster's job failed: {exc}") from None
        except (OSError, subprocess.CalledProcessError) as exc:
            # mrjob's file systems (HDFS through the hadoop command, S3) raise these, naming
            # what they could not do: no hadoop command, a cluster that is down.
            raise ClusterError(f"{mr_job.options.runner} runner: {exc}") from None
