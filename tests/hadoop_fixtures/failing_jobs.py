"""Jobs for the Hadoop engine's failure tests: one that fails on every node (it builds on
the submitting machine and raises when a map task rebuilds it), one that is slow."""

import os
import time

import streamjobs


class ExplodingJob(streamjobs.JobTask):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "mapreduce_task_id" in os.environ:  # set by Hadoop in every map task
            raise RuntimeError("the job exploded on a node")

    def mapper(self, record):
        yield record


class SlowJob(streamjobs.TextJobTask):
    """Each map task takes 30 s: a job to interrupt."""

    def mapper(self, line):
        time.sleep(30)
        yield line
