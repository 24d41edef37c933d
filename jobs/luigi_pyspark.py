"""The post's job as a Luigi ``PySparkTask``, run on Spark through spark-submit.

    luigi --module luigi_pyspark TestTaskPS --local-scheduler \
        [--input-path data] [--output-path out_data3] [--threshold 1.99]

The same record logic and output layout as every engine (``part-NNNNN``, ``_COUNTERS.json``,
``_quarantine/``, ``_SUCCESS``). Spark's settings come from ``[spark]`` in client.cfg
(``master``, ``deploy-mode``, ``spark-submit``, ...); unset, spark-submit runs ``local[*]``.
"""

import luigi

from streamjobs.engines.spark import SparkJobTask
from streamjobs.records import DEFAULT_THRESHOLD, ThresholdFilter


class SumThresholdSparkJob(SparkJobTask):
    """Keep records whose ``index + total`` exceeds ``threshold``; add ``sum_val``."""

    output_path = luigi.Parameter(default="out_data3", description="Output directory.")
    threshold = luigi.FloatParameter(
        default=DEFAULT_THRESHOLD, description="Keep records with index + total above this."
    )

    def line_mapper(self):
        return ThresholdFilter(self.threshold)


class TestTaskPS(SumThresholdSparkJob):
    """The post's name for SumThresholdSparkJob."""
