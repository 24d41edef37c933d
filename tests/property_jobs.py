"""Jobs for the property tests: each exercises one part of the semantics a user's job can
reach (mapper errors, several or no outputs, non-finite and huge numbers, declared types)."""

from __future__ import annotations

import os
import sys

import luigi
from luigi_hadoop import TestTaskMR

import streamjobs

# The examples are users' modules "anywhere on PYTHONPATH": put them there.
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
if EXAMPLES not in sys.path:
    sys.path.append(EXAMPLES)

from error_lines import ErrorLines  # noqa: E402
from sales_job import SalesOver  # noqa: E402

__all__ = ["ErrorLines", "SalesOver", "TestTaskMR"]


class MRWithoutPrefilter(TestTaskMR):
    """The post's job with no prefilter: the fast path checks the fields itself."""

    prefilter = None


class RaisesOnSome(streamjobs.JobTask):
    """Raises on some records, sometimes after yielding (the line's outputs all go)."""

    fields = {"k": int, "tag": str}

    def mapper(self, record):
        if record["k"] % 3 == 0:
            raise ValueError(f"k = {record['k']}")
        yield {"k": record["k"], "tag": record["tag"]}
        if record["k"] % 3 == 1 and len(record) > 2:
            raise KeyError("after a first output")


class ZeroOneTwo(streamjobs.JobTask):
    """0, 1 or 2 outputs a record: the record itself (with whatever it holds: an input
    1e400 is infinity) and a computed value that may overflow or be huge."""

    fields = {"meta": dict, "flag": bool}
    scale = luigi.FloatParameter(default=1e308)

    def mapper(self, record):
        n = len(record["meta"]) % 3
        if n >= 1:
            yield record
        if n == 2:
            values = [v for v in record["meta"].values() if type(v) in (int, float)]
            first = values[0] if values else 0
            if type(first) is int and abs(first) > 10**300:
                yield {"big": first * first, "flag": record["flag"]}
            else:
                # A lone surrogate: written the slow way, which must refuse infinity too.
                yield {"scaled": first * self.scale, "list": [first, None, "\ud800"]}


class NoFields(streamjobs.JobTask):
    """Declares no fields: any JSON object is a record."""

    def mapper(self, record):
        if len(record) % 2 == 0:
            yield record


class ListsAndText(streamjobs.JobTask):
    """Declares every other field type."""

    fields = {"items": list, "name": str}

    def mapper(self, record):
        yield {"name": record["name"], "n": len(record["items"])}


class AppendsToInput(streamjobs.JobTask):
    """Appends a line to its input file when it meets the record ``{"append": true}``: a
    file that grows while it is read."""

    fields = {"append": bool}

    def mapper(self, record):
        if record["append"]:
            with open(self.input_path, "ab") as stream:
                stream.write(b'{"append": false}\n')
        yield record
