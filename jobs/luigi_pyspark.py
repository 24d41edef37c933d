"""The post's job on Spark (through spark-submit, ``[spark]`` settings in luigi.cfg).

    luigi --module luigi_pyspark TestTaskPS --local-scheduler \\
        [--input-path data] [--output-path out_data3] [--threshold 1.99]

The same job as ``luigi_hadoop.TestTaskMR`` (which runs on Spark too with ``--engine
spark``), and the same output layout as every engine.
"""

import luigi
from luigi_hadoop import TestTaskMR


class TestTaskPS(TestTaskMR):
    """The post's job, on Spark by default."""

    output_path = luigi.Parameter(default="out_data3", description="Output directory.")
    engine = luigi.OptionalParameter(
        default="spark", significant=False, description="The engine (default: spark)."
    )
