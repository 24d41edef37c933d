"""Jobs whose input and output are Luigi targets of their own, as Luigi users write them:
``requires()`` returns an external task (the post's ``InData``), ``output()`` a target."""

import luigi
from luigi.contrib.s3 import S3Target

import streamjobs


class InData(luigi.ExternalTask):
    """Input that exists before the job runs: a local directory or an s3:// prefix."""

    path = luigi.Parameter()

    def output(self):
        if self.path.startswith("s3://"):
            return S3Target(self.path)
        return luigi.LocalTarget(self.path)


class KeepBig(streamjobs.JobTask):
    """Records whose ``index`` exceeds ``above``; input and output named by targets."""

    source = luigi.Parameter()
    target = luigi.Parameter()
    above = luigi.IntParameter(default=5)
    fields = {"index": int}

    def requires(self):
        return InData(self.source)

    def output(self):
        if self.target.startswith("s3://"):
            return S3Target(self.target)
        return luigi.LocalTarget(self.target)

    def mapper(self, record):
        if record["index"] > self.above:
            yield record
