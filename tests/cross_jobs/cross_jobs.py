"""Jobs for the cross-engine test: one of each shape a user writes.

Shipped to Hadoop map tasks, Spark executors and mrjob tasks like any user's module.
"""

import luigi

import streamjobs


class Pairs(streamjobs.JobTask):
    """No prefilter; zero, one or two records per line; a mapper that sometimes raises
    and sometimes yields a float beyond range."""

    scale = luigi.FloatParameter(default=1e306)
    fields = {"index": int, "tags": list}

    def mapper(self, record):
        index = record["index"]
        if index % 7 == 3:
            raise ValueError(f"index {index} is unlucky")
        if index % 2:
            yield {"index": index, "half": index / 2, "tags": record["tags"]}
        if index % 5 == 0:
            yield {"index": index, "scaled": record.get("total", 0) * self.scale}


class Shout(streamjobs.TextJobTask):
    """Lines holding ERROR, upper-cased, with their length; BOOM lines raise."""

    def mapper(self, line):
        if "BOOM" in line:
            raise RuntimeError("boom")
        if "ERROR" in line:
            yield line.upper(), len(line)
