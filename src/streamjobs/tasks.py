"""The Luigi task classes a job subclasses: ``streamjobs.JobTask`` and ``TextJobTask``.

A job is one class: parameters, a ``mapper``, optionally ``fields``, ``prefilter``,
``requires()`` and ``output()``. ``run()`` describes the run once as a ``JobSpec`` and
hands it to the engine; the engine maps, the run template (``streamjobs.run``) counts,
quarantines and publishes.
"""

from __future__ import annotations

import os

import luigi
from luigi.parameter import ParameterVisibility
from luigi.task import flatten

from streamjobs import interrupts
from streamjobs.config import SettingsError, apply_luigi_defaults, streaming, streaming_settings
from streamjobs.engines import get_engine
from streamjobs.errors import JobError, ToolMissing, quote_path
from streamjobs.inputs import (
    InputError,
    input_exists,
    is_compressed,
    list_input_files,
)
from streamjobs.job import JobDefinitionError, check_field_declarations
from streamjobs.paths import input_target, local_path, output_problem, output_target, scheme
from streamjobs.run import Interrupted
from streamjobs.spec import JobSpec


class InputData(luigi.ExternalTask):
    """Input that exists before the job runs (the post's ``InData``): a directory, a file
    or a glob; with ``literal``, exactly one file whose name is not a pattern."""

    path = luigi.Parameter(description="A directory, file or glob.")
    engine = luigi.Parameter(
        default="local", description="The engine that reads it (hadoop: the cluster's paths)."
    )
    literal = luigi.BoolParameter(default=False, description="The path names one file as is.")

    def output(self):
        return input_target(self.path, self.engine, literal=self.literal)

    def complete(self) -> bool:
        # A missing tool (the hadoop command) is the job's failure to report, in one line,
        # when it runs; Luigi would print a traceback from here.
        return _unless_tool_missing(super().complete, True)


class _ExplainsJobErrors:
    """The explanation sent to the scheduler (its UI, its e-mails): a JobError's message
    rather than a traceback. A task interrupted by SIGTERM in the command's own process
    stops the command (exit 2) rather than letting Luigi start the next task."""

    def on_failure(self, exception):
        if isinstance(exception, Interrupted | interrupts.Stopped):
            if interrupts.in_command_process():
                raise interrupts.Stopped()
        if isinstance(exception, JobError):
            return f"{type(exception).__name__}: {exception}"
        return super().on_failure(exception)


def _show_defaults_in_help(cls) -> None:
    """``--help`` lists each parameter a class declares with its default (Luigi shows only
    the description)."""
    for value in vars(cls).values():
        if isinstance(value, luigi.Parameter) and "default" not in (value.description or ""):
            default = value._default
            if default is luigi.parameter._no_value:
                continue
            shown = value.serialize(default) if default is not None else "none"
            text = (value.description or "").rstrip()
            value.description = f"{text} (default: {shown})".lstrip()


def _unless_tool_missing(complete, answer: bool) -> bool:
    """``complete()``, or ``answer`` when an engine's tool is missing (run() says so)."""
    try:
        return complete()
    except ToolMissing:
        return answer


class JobTask(_ExplainsJobErrors, luigi.Task):
    """A line-oriented job over JSON lines: subclass it and define ``mapper``.

    ``mapper(self, record)`` gets each input line's JSON object as a dict (as Python's
    ``json`` reads it) and yields zero or more dicts, each written as one JSON line. They
    are written in batches: do not change a record once it is yielded.

    ``fields = {"price": float, "qty": int}`` declares what the mapper relies on; a record
    without them, or with a value of another type, is a bad record before the mapper sees
    it. Types: ``float`` (any finite number but a bool; an integer stays an integer),
    ``int``, ``str``, ``bool``, ``list``, ``dict``.

    Optional, for speed: ``prefilter(self, rows)`` gets a batch of records as rows with
    the declared fields as attributes (``row.price``) and returns one truth value per row;
    the mapper is then called only for rows marked true. It must mark false only records
    for which the mapper yields nothing (streamjobs may also call the mapper without it).

    Input and output: ``--input-path`` and ``--output-path``, or override ``requires()``
    (tasks whose outputs are ``LocalTarget``, ``HdfsTarget`` or ``S3Target``) and
    ``output()``. ``--per-file`` runs one Luigi task per input file instead.
    """

    input_format = "json"
    fields: dict = {}
    prefilter = None

    input_path = luigi.Parameter(
        default="data",
        description="Input: a directory, a file or a glob (quote a glob: 'data/*.json'; "
        "default: data).",
    )
    output_path = luigi.Parameter(
        default="out",
        description="Output directory: part-NNNNN, _COUNTERS.json, _quarantine/, _SUCCESS "
        "(default: out).",
    )
    max_bad_records = luigi.OptionalIntParameter(
        default=None,
        significant=False,
        description="Fail, publishing nothing, when more lines than this are bad (default: "
        "no limit).",
    )
    engine = luigi.OptionalParameter(
        default=None,
        significant=False,
        description="local, hadoop or spark (default: [streaming] engine, else local).",
    )
    processes = luigi.IntParameter(
        default=0,
        significant=False,
        description="Local engine worker processes (default: [streaming] processes; 0: one "
        "per core).",
    )
    per_file = luigi.BoolParameter(
        default=False,
        description="One Luigi task per input file (run side by side with --workers N), "
        "each writing OUTPUT_PATH/NAME (default: off).",
    )
    # Set on the tasks of a per-file run: input_path is then one file, output_path a file.
    one_file = luigi.BoolParameter(
        default=False,
        visibility=ParameterVisibility.PRIVATE,
        description="Internal: set on the tasks of a per-file run.",
    )
    # The per-file run a file's task belongs to: its output directory and its task id.
    run_output = luigi.Parameter(
        default="",
        significant=False,
        visibility=ParameterVisibility.PRIVATE,
        description="Internal: the output directory of the per-file run.",
    )
    run_id = luigi.Parameter(
        default="",
        significant=False,
        visibility=ParameterVisibility.PRIVATE,
        description="Internal: the task id of the per-file run.",
    )

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        check_field_declarations(cls.fields, cls.__name__)
        apply_luigi_defaults()
        _show_defaults_in_help(cls)

    def mapper(self, record):
        raise NotImplementedError

    def file_task_class(self) -> type[JobTask]:
        """The class of a per-file run's tasks (this job's own class by default)."""
        return type(self)

    @property
    def engine_name(self) -> str:
        # Only the engine here (complete() asks for it): run() checks every setting, so
        # that an invalid one fails the task with its one-line message.
        return self.engine or streaming().engine

    # ---- Luigi's interface --------------------------------------------------------------

    def requires(self):
        if self.per_file and not self.one_file:
            # Listed once: Luigi asks again for its summary, by when another run may have
            # claimed the output (which would hide this run's failed tasks).
            if "_file_task_list" not in self.__dict__:
                self._file_task_list = list(self._file_tasks())
            return self._file_task_list
        engine = "local" if self.one_file else self.engine_name
        return InputData(path=self.input_path, engine=engine, literal=self.one_file)

    def output(self):
        if self.one_file:
            if scheme(self.output_path) == "s3":
                from luigi.contrib.s3 import S3Target

                return S3Target(self.output_path)
            return luigi.LocalTarget(local_path(self.output_path))
        if self.per_file:
            return []
        return output_target(self.output_path, self.engine_name)

    def complete(self) -> bool:
        # Called first in the luigi command's own process, as Luigi schedules the job.
        interrupts.install()
        if self.per_file and not self.one_file:
            # Complete when every file's task is; an input with no files never is.
            tasks = flatten(self.requires())
            return bool(tasks) and not self._run_problem() and all(t.complete() for t in tasks)
        return _unless_tool_missing(super().complete, False)

    def run(self):
        interrupts.follow_parent()
        if type(self).mapper is JobTask.mapper or type(self).mapper is TextJobTask.mapper:
            raise JobDefinitionError(f"{type(self).__name__} must define mapper()")
        settings = streaming_settings()
        if self.processes < 0:
            raise SettingsError(f"--processes must be >= 0, not {self.processes}")
        if self.per_file and not self.one_file:
            problem = self._run_problem()
            if problem:
                raise problem
            return
        from streamjobs.engines.local import LocalEngine

        if self.one_file:
            spec = self._spec([self.input_path], self.output_path, settings)
            LocalEngine(spec, processes=1).run_file()
            return
        output = self.output()
        if isinstance(output, list | tuple | dict):
            raise JobDefinitionError(f"{type(self).__name__}.output() must be one target")
        inputs = [target.path for target in flatten(self.input())]
        spec = self._spec(inputs, output.path, settings)
        engine = get_engine(self.engine_name)(spec)
        if hasattr(engine, "set_tracking_url"):
            # An engine with a web UI (Spark) reports its address to Luigi's scheduler.
            engine.set_tracking_url = self.set_tracking_url
        engine.run()

    # ---- helpers ------------------------------------------------------------------------

    def _spec(self, inputs: list[str], output: str, settings) -> JobSpec:
        options = {"processes": self.processes or settings.processes}
        if self.one_file and self.run_id:
            options["owner"] = [self.run_output, self.run_id]
        return JobSpec.of_task(
            self, inputs, output, split_bytes=settings.split_mb << 20, options=options
        )

    def _input_location(self) -> str:
        path = self.input_path
        return path if scheme(path) == "s3" else local_path(path)

    def _file_names(self) -> dict[str, str]:
        """Each input file's output name (``output_names``), listed once: Luigi asks for
        requires() and complete() several times, and a listing may be an S3 request."""
        if "_names" not in self.__dict__:
            self._names = output_names(self.input_path, list_input_files(self._input_location()))
        return self._names

    def _run_problem(self) -> Exception | None:
        """Why this per-file run cannot start: two inputs for one output name, or an output
        directory holding something else than this run's files (another run's), or an
        engine asked for that does not run file tasks."""
        if self.engine not in (None, "local"):
            # The file tasks are Luigi tasks of this machine; a cluster runs the whole input.
            return SettingsError(
                f"--per-file runs one task per input file on this machine; --engine "
                f"{self.engine} runs the whole input: leave out one of the two"
            )
        try:
            self._file_names()
        except InputError as problem:
            return problem
        if scheme(self.output_path) == "s3":
            from streamjobs import s3

            return s3.output_problem(self.output_path, self.task_id)
        return output_problem(self.output_path, self.task_id)

    def _file_tasks(self):
        if not input_exists(self._input_location()):
            # Missing input: Luigi reports a missing external dependency, as for a job.
            yield InputData(path=self.input_path)
            return
        try:
            names = self._file_names()
        except InputError:
            return  # run() raises it as this task's failure
        if self._run_problem():
            return  # the same
        task_class = self.file_task_class()
        for path, name in names.items():
            yield self.clone(
                task_class,
                input_path=path,
                output_path=_join(self.output_path, name),
                per_file=False,
                one_file=True,
                run_output=self.output_path,
                run_id=self.task_id,
            )


class TextJobTask(JobTask):
    """A job over text lines (logs, CSV...): ``mapper(self, line)`` gets each line as
    ``str`` (UTF-8, without its line end) and yields ``str`` lines or tuples (joined by
    tabs, as Luigi's ``JobTask`` does)."""

    input_format = "text"

    def mapper(self, line):
        raise NotImplementedError


def output_names(input_path: str, files: list[str]) -> dict[str, str]:
    """The output file name of each input file of a per-file run: its path below the input
    path's fixed part (the directory, or a glob's directories before any pattern), without
    a ``.gz``/``.bz2`` suffix. Two inputs that would write one name are an InputError."""
    root = _fixed_root(input_path, files)
    names: dict[str, str] = {}
    taken: dict[str, str] = {}
    for path in files:
        name = path[len(root) :].lstrip("/") if root else path
        if is_compressed(name):
            name = os.path.splitext(name)[0]
        if name in taken:
            raise InputError(
                f"inputs {quote_path(taken[name])} and {quote_path(path)} would both write "
                f"{quote_path(name)} in a per-file run; rename one or run them separately"
            )
        taken[name] = path
        names[path] = name
    return names


def _fixed_root(input_path: str, files: list[str]) -> str:
    """The directory every input file lies below, as the input path names it."""
    if len(files) == 1 and files[0] == input_path:
        return os.path.dirname(input_path)
    parts = input_path.rstrip("/").split("/")
    fixed = []
    for part in parts:
        if any(char in part for char in "*?["):
            break
        fixed.append(part)
    if len(fixed) == len(parts):
        return input_path.rstrip("/")  # a directory
    return "/".join(fixed)


def _join(directory: str, name: str) -> str:
    if scheme(directory) == "s3":
        return directory.rstrip("/") + "/" + name
    return os.path.join(directory, name)
