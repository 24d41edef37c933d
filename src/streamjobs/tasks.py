"""The Luigi tasks a job subclasses: a job names its line mapper, an engine runs it.

A job is a ``StreamingJobTask`` (the whole input into one output directory, on any
engine) or a ``StreamingFileTask`` (one file into one file, in the task's own process,
for Luigi's ``--workers`` to run side by side). Either way the job defines only
``line_mapper()``; everything else (inputs, splits, engines, publishing) lives here and
in the engines.
"""

from __future__ import annotations

import logging
import os

import luigi

from streamjobs.config import apply_retcode_defaults, streaming
from streamjobs.engines import get_engine
from streamjobs.errors import JobError
from streamjobs.inputs import InputError, input_exists, is_compressed, list_input_files
from streamjobs.paths import input_target, local_path, output_target, s3_target, scheme

apply_retcode_defaults()


class _JobErrorsOnOneLine(logging.Filter):
    """Luigi logs a failed task with its traceback. A JobError's message says all a user
    needs (what, where, how many), so show it on the failure line instead of engine
    internals; any other exception keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, JobError) and isinstance(record.args, tuple):
            record.msg = f"{record.msg}: %s"
            record.args = (*record.args, f"{type(error).__name__}: {error}")
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("luigi-interface").addFilter(_JobErrorsOnOneLine())


class _ExplainsJobErrors:
    """The explanation sent to the scheduler (its UI, its e-mails): a JobError's message
    rather than a traceback."""

    def on_failure(self, exception):
        if isinstance(exception, JobError):
            return f"{type(exception).__name__}: {exception}"
        return super().on_failure(exception)


class InputData(luigi.ExternalTask):
    """Input that exists before the job runs (the post's ``InData``)."""

    path = luigi.Parameter()
    engine = luigi.Parameter(
        default="local", description="The engine that reads it (hadoop: the cluster's paths)."
    )

    def output(self):
        return input_target(self.path, self.engine)


class JobParameters:
    """The parameters every whole-input job takes, whichever Luigi task class runs it."""

    input_path = luigi.Parameter(
        default="data", description="A directory, file or glob of input lines."
    )
    output_path = luigi.Parameter(
        default="out", description="Output directory: part-NNNNN files and _SUCCESS."
    )
    max_bad_records = luigi.OptionalIntParameter(
        default=None,
        significant=False,
        description="Fail, publishing nothing, when more lines than this are bad.",
    )

    def line_mapper(self):
        raise NotImplementedError(f"{type(self).__name__} must define line_mapper()")


class StreamingJobTask(JobParameters, _ExplainsJobErrors, luigi.Task):
    """A map-only job over every line of ``input_path``, written to ``output_path``.

    Subclasses define ``line_mapper()``, returning a picklable object with
    ``map_chunk(chunk, source, offset, first_line) -> records.ChunkResult``.
    """

    engine = luigi.OptionalParameter(
        default=None,
        significant=False,
        description="Engine to run on (default: [streaming] engine in client.cfg, or local).",
    )
    processes = luigi.IntParameter(
        default=0,
        significant=False,
        description="Local engine worker processes (default: [streaming] processes, or cores).",
    )

    @property
    def engine_name(self) -> str:
        return self.engine or streaming().engine

    @property
    def split_mb(self) -> int:
        return streaming().split_mb

    def requires(self):
        return InputData(path=self.input_path, engine=self.engine_name)

    def output(self):
        return output_target(self.output_path, self.engine_name)

    def run(self):
        engine = get_engine(self.engine_name)
        engine.from_job(self).run(self)


class StreamingFileTask(_ExplainsJobErrors, luigi.Task):
    """A job over one input file into one output file, run inside the task's process."""

    input_file = luigi.Parameter(description="The input file.")
    output_file = luigi.Parameter(description="The output file, published atomically.")
    max_bad_records = luigi.OptionalIntParameter(default=None, significant=False)

    def line_mapper(self):
        raise NotImplementedError(f"{type(self).__name__} must define line_mapper()")

    def requires(self):
        return InputData(path=self.input_file)

    def output(self):
        if scheme(self.output_file) == "s3":
            return s3_target(self.output_file, "file")
        return luigi.LocalTarget(self.output_file)

    def run(self):
        from streamjobs.engines.local import LocalEngine

        LocalEngine(processes=1).run_file(
            self.line_mapper(), self.input_file, self.output_file, self.max_bad_records
        )


def output_name(input_file: str) -> str:
    """The output file name for an input file: its name without a compression suffix."""
    name = os.path.basename(input_file)
    return os.path.splitext(name)[0] if is_compressed(name) else name


def _input_location(path: str) -> str:
    """An ``s3://`` URL as given; a bare or ``file://`` path as a local path."""
    return path if scheme(path) == "s3" else local_path(path)


def _join(directory: str, name: str) -> str:
    if scheme(directory) == "s3":
        return directory.rstrip("/") + "/" + name
    return os.path.join(directory, name)


class EachFileTask(_ExplainsJobErrors, luigi.WrapperTask):
    """One ``file_task`` per input file, each writing one file into ``output_path``.

    Extra parameters of ``file_task`` (a threshold, say) are passed on by name.
    """

    input_path = luigi.Parameter(default="data", description="A directory, file or glob.")
    output_path = luigi.Parameter(default="out", description="Directory for output files.")

    file_task: type[StreamingFileTask] = StreamingFileTask

    def complete(self) -> bool:
        # An unusable input (an empty directory, say) leaves no file tasks; with none,
        # a WrapperTask would count as complete and the run would "succeed".
        try:
            list_input_files(_input_location(self.input_path))
        except InputError:
            return False
        return super().complete()

    def run(self):
        # Reached with no file tasks only when the input is unusable: fail, naming it.
        list_input_files(_input_location(self.input_path))

    def requires(self):
        if not input_exists(_input_location(self.input_path)):
            # Missing input: Luigi reports a missing external dependency, as for a job.
            yield InputData(path=self.input_path)
            return
        try:
            files = list_input_files(_input_location(self.input_path))
        except InputError:
            return  # run() raises it as this task's failure
        shared = {
            name: getattr(self, name)
            for name, _ in self.get_params()
            if name not in ("input_path", "output_path")
            and name in dict(self.file_task.get_params())
        }
        for path in files:
            yield self.file_task(
                input_file=path,
                output_file=_join(self.output_path, output_name(path)),
                **shared,
            )
