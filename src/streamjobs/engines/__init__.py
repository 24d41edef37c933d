"""Engines run a job's line mapper over its input and publish its output.

An engine is a class built with a ``JobSpec`` whose ``run()`` maps the job's input,
publishes its output and returns the counters. They are imported lazily by name, so
the local engine never pays for Hadoop's, Spark's or boto3's imports.
"""

from __future__ import annotations

import importlib

ENGINES = {
    "local": "streamjobs.engines.local:LocalEngine",
    "hadoop": "streamjobs.engines.hadoop:HadoopEngine",
    "spark": "streamjobs.engines.spark:SparkEngine",
}


def get_engine(name: str):
    """The engine class registered under ``name`` (see ``ENGINES``)."""
    try:
        target = ENGINES[name]
    except KeyError:
        known = ", ".join(sorted(ENGINES))
        raise ValueError(f"unknown engine {name!r}; known engines: {known}") from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)
