"""The run template: what happens around the mapping, the same on every engine.

An engine supplies only ``map_splits(staging)``: it maps the job's input and writes
``part-NNNNN`` files (and ``_quarantine/part-NNNNN.jsonl`` for bad lines) into ``staging``,
yielding one ``SplitReport`` (counters, a few example bad lines) per split as each ends.
``execute`` owns the rest: it adds up the counters, enforces ``--max-bad-records`` as
reports arrive, writes ``_COUNTERS.json``, and publishes the output atomically through a
publisher, or aborts it (nothing published) on any error or interruption.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

from streamjobs import counters as counters_mod
from streamjobs.errors import JobError, quote_path
from streamjobs.job import BadLine

logger = logging.getLogger("luigi-interface")

QUARANTINE_DIR = "_quarantine"
# How many bad lines a failure message or the end-of-run warning names.
EXAMPLES_KEPT = 5


class Interrupted(JobError):
    """SIGTERM arrived during a run."""


class _SigtermArrived(BaseException):
    """Raised by the SIGTERM handler of a run: not an Exception, so that nothing on the way
    (a job's mapper errors are bad records) can take it for an error and carry on."""


@dataclass
class SplitReport:
    """What mapping one split (or a whole job, on Hadoop) reports back."""

    counters: dict
    examples: list[str] = field(default_factory=list)
    size: int = 0


def part_name(index: int) -> str:
    return f"part-{index:05d}"


def quarantine_name(index: int) -> str:
    return f"{QUARANTINE_DIR}/{part_name(index)}.jsonl"


def describe_bad_line(bad: BadLine) -> str:
    where = f"{bad.line}" if bad.line is not None else f"@{bad.offset}"
    return f"{quote_path(bad.source)}:{where}: {bad.reason}"


class Accounting:
    """Counters added up split by split, with the bad-record limit checked as they come."""

    def __init__(self, max_bad_records: int | None):
        self.max_bad_records = max_bad_records
        self.totals = counters_mod.new_counters()
        self.examples: list[str] = []

    def add(self, report: SplitReport) -> None:
        counters_mod.add_counters(self.totals, report.counters)
        self.examples.extend(report.examples[: EXAMPLES_KEPT - len(self.examples)])
        # Checked as each split ends: on a large input the rest would only add to it.
        counters_mod.check_bad_record_limit(self.totals, self.max_bad_records, self.examples)


def execute(
    publisher,
    map_splits: Callable[[str], Iterable[SplitReport]],
    max_bad_records: int | None,
) -> dict:
    """Map into the publisher's staging area, account, publish; the run's counters.

    ``publisher`` has ``begin() -> staging location``, ``publish(counters)`` (which writes
    ``_COUNTERS.json`` with the output), ``abort()`` and ``final`` (where the output
    appears); see ``paths``, ``s3`` and ``engines.hadoop``.
    """
    accounting = Accounting(max_bad_records)
    with sigterm_raises():
        try:
            staging = publisher.begin()
        except (_SigtermArrived, KeyboardInterrupt) as interruption:
            # Interrupted half-way through creating the staging area: remove what is there.
            publisher.abort()
            if isinstance(interruption, _SigtermArrived):
                raise _interrupted() from None
            raise
        try:
            for report in map_splits(staging):
                accounting.add(report)
            publisher.publish(accounting.totals)
        except _SigtermArrived:
            publisher.abort()
            raise _interrupted() from None
        except BaseException:
            publisher.abort()
            raise
    logger.info(counters_mod.summary(accounting.totals, publisher.final))
    if accounting.examples:
        logger.warning("streamjobs: bad records, first of them: %s", "; ".join(accounting.examples))
    return accounting.totals


def _interrupted() -> Interrupted:
    return Interrupted("interrupted by SIGTERM; nothing was published")


@contextmanager
def sigterm_raises():
    """SIGTERM as an exception for the duration of a run, so that clean-up runs."""

    def interrupt(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut clean-up
        raise _SigtermArrived()

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
