"""The post's other shape: one Luigi task per input file, run side by side by ``--workers``.

    luigi --module luigi_multiprocess LotsOTasks --workers 2 --local-scheduler \
        [--input-path data] [--output-path out_data2] [--threshold 1.99]

Each input file ``data/NAME`` becomes ``out_data2/NAME`` (without a ``.gz``/``.bz2``
suffix), published atomically; counters and quarantined lines go to ``_counters/`` and
``_quarantine/`` beside it.
"""

import luigi

from streamjobs.records import DEFAULT_THRESHOLD, ThresholdFilter
from streamjobs.tasks import EachFileTask, StreamingFileTask


class SumThresholdFile(StreamingFileTask):
    """The post's job on one file: keep records whose ``index + total`` > ``threshold``."""

    threshold = luigi.FloatParameter(default=DEFAULT_THRESHOLD)

    def line_mapper(self):
        return ThresholdFilter(self.threshold)


class SumThresholdEachFile(EachFileTask):
    """SumThresholdFile for every input file."""

    output_path = luigi.Parameter(default="out_data2", description="Output directory.")
    threshold = luigi.FloatParameter(default=DEFAULT_THRESHOLD)
    file_task = SumThresholdFile


class TestTask(SumThresholdFile):
    """The post's name for SumThresholdFile."""


class LotsOTasks(SumThresholdEachFile):
    """The post's name for SumThresholdEachFile (its per-file tasks are TestTasks)."""

    file_task = TestTask
