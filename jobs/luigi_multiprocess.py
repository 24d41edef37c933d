"""The post's other shape: one Luigi task per input file, run side by side by ``--workers``.

    luigi --module luigi_multiprocess LotsOTasks --workers 2 --local-scheduler \\
        [--input-path data] [--output-path out_data2] [--threshold 1.99]

Each input file ``data/NAME`` becomes ``out_data2/NAME`` (without a ``.gz``/``.bz2``
suffix), published atomically; its counters and bad lines go to ``_counters/NAME`` and
``_quarantine/NAME``. Any job runs this way with ``--per-file``.
"""

import luigi
from luigi_hadoop import TestTaskMR


class TestTask(TestTaskMR):
    """The post's job on one file."""

    output_path = luigi.Parameter(default="out_data2", description="Output directory.")


class LotsOTasks(TestTask):
    """A TestTask for every input file."""

    per_file = luigi.BoolParameter(default=True, description="One task per input file.")

    def file_task_class(self):
        return TestTask
