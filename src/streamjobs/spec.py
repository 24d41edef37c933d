"""JobSpec: what one run is, as JSON. Built once by the Luigi task; engines receive it.

A spec names the job class by import path and holds its parameters as Luigi's own string
forms (``Task.to_str_params``), so any process that can import the job's module rebuilds
the same job with ``Class.from_str_params``, as Luigi's scheduler does: local worker
processes, Hadoop map tasks, Spark executors, mrjob tasks. No pickle is involved.

Standard library only: a Hadoop node reads the spec before the job's code is on its path.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass, field

SPEC_FORMAT = 2


class SpecError(Exception):
    """A spec that this version cannot run; the message says why."""


@dataclass
class JobSpec:
    """One run of a job: the job, its input and output, and the run's limits."""

    job: str  # "module:QualifiedName" of the job class
    params: dict[str, str]  # the job's parameters, as Luigi's string forms
    inputs: list[str]  # input paths: files, directories or globs
    output: str  # the output directory (or file, for one task of a per-file run)
    max_bad_records: int | None = None
    split_bytes: int = 16 << 20
    max_line_bytes: int = 1 << 20
    # Extra settings an engine needs (processes, ...): never credentials.
    options: dict = field(default_factory=dict)

    @classmethod
    def of_task(cls, task, inputs: list[str], output: str, **settings) -> JobSpec:
        """The spec of a Luigi task object (a ``streamjobs.JobTask``)."""
        return cls(
            job=job_path(type(task)),
            params=task.to_str_params(only_significant=False, only_public=False),
            inputs=list(inputs),
            output=output,
            max_bad_records=task.max_bad_records,
            **settings,
        )

    def to_json(self) -> str:
        return json.dumps({"format": SPEC_FORMAT, **asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SpecError(f"not a streamjobs job spec: {exc}") from None
        if not isinstance(data, dict) or data.pop("format", None) != SPEC_FORMAT:
            raise SpecError(f"unsupported job spec (format {SPEC_FORMAT} expected)")
        return cls(**data)

    def job_class(self) -> type:
        module_name, _, qualname = self.job.partition(":")
        obj = importlib.import_module(module_name)
        for name in qualname.split("."):
            obj = getattr(obj, name)
        return obj

    def load_job(self):
        """The job object, rebuilt from its class and parameters."""
        return self.job_class().from_str_params(self.params)


def job_path(cls: type) -> str:
    """``module:QualifiedName`` of a job class (``__main__:Name`` for a script's class:
    an engine that ships code to other machines ships the script under a module name)."""
    return f"{cls.__module__}:{cls.__qualname__}"
