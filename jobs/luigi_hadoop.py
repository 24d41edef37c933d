"""The post's job as one Luigi task over a whole directory, on any engine.

    luigi --module luigi_hadoop TestTaskMR --local-scheduler \
        [--input-path data] [--output-path out_data6] [--threshold 1.99] [--engine local]

Keeps the JSON lines whose ``index + total`` exceeds the threshold, adding ``sum_val``.
The engine comes from ``[streaming] engine`` in client.cfg (default: local, every core of
this machine) unless ``--engine`` names another.
"""

import luigi

from streamjobs.records import DEFAULT_THRESHOLD, ThresholdFilter
from streamjobs.tasks import InputData, StreamingJobTask


class SumThresholdJob(StreamingJobTask):
    """Keep records whose ``index + total`` exceeds ``threshold``; add ``sum_val``."""

    output_path = luigi.Parameter(default="out_data6", description="Output directory.")
    threshold = luigi.FloatParameter(
        default=DEFAULT_THRESHOLD, description="Keep records with index + total above this."
    )

    def line_mapper(self):
        return ThresholdFilter(self.threshold)


class TestTaskMR(SumThresholdJob):
    """The post's name for SumThresholdJob."""


class InData(InputData):
    """The post's name for InputData."""
