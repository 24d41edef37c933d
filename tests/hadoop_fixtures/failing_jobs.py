"""A job whose mapper fails on every node (a fixture for the Hadoop engine's tests)."""

from exploding_mapper import ExplodingFilter

from streamjobs.tasks import StreamingJobTask


class ExplodingJob(StreamingJobTask):
    def line_mapper(self):
        return ExplodingFilter("mapper exploded on purpose")
