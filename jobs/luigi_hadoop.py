"""The post's job, written as a user writes a job: one ``streamjobs.JobTask``.

    luigi --module luigi_hadoop TestTaskMR --local-scheduler \\
        [--input-path data] [--output-path out_data6] [--threshold 1.99] [--engine local]

Keeps the JSON lines whose ``index + total`` exceeds the threshold, adding ``sum_val``. The
engine comes from ``[streaming] engine`` in luigi.cfg (default: local, every core of this
machine) unless ``--engine`` names another.
"""

import luigi

import streamjobs


class TestTaskMR(streamjobs.JobTask):
    """Keep records whose ``index + total`` exceeds ``threshold``; add ``sum_val``."""

    output_path = luigi.Parameter(default="out_data6", description="Output directory.")
    threshold = streamjobs.FiniteFloatParameter(
        default=1.99, description="Keep records whose index + total is above this."
    )
    fields = {"index": float, "total": float}

    def mapper(self, record):
        sum_val = record["index"] + record["total"]
        if sum_val > self.threshold:
            record["sum_val"] = sum_val
            yield record

    def prefilter(self, rows):
        # Optional: the same test over a batch of rows, so that the mapper runs only for
        # the records it keeps.
        threshold = self.threshold
        return [row.index + row.total > threshold for row in rows]
