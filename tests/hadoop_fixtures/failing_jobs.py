"""A job that fails on every node (a fixture for the Hadoop engine's failure tests): it
builds on the submitting machine and raises when a map task rebuilds it."""

import os

import streamjobs


class ExplodingJob(streamjobs.JobTask):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "mapreduce_task_id" in os.environ:  # set by Hadoop in every map task
            raise RuntimeError("the job exploded on a node")

    def mapper(self, record):
        yield record
