"""A user's own job: sales whose price * qty exceeds min_amount, with the amount added."""

import luigi

import streamjobs


class SalesOver(streamjobs.JobTask):
    """Sales whose price * qty exceeds min_amount, with the amount added."""

    min_amount = luigi.FloatParameter(default=100.0)
    fields = {"price": float, "qty": int}

    def mapper(self, record):
        amount = record["price"] * record["qty"]
        if amount > self.min_amount:
            record["amount"] = amount
            yield record
