"""Hadoop-style counters: groups of named integers, saved as ``_COUNTERS.json``.

Every engine reports the same schema, so runs can be compared across engines::

    {"records": {"read": N, "written": N, "bad": N, "blank": N},
     "bad_records": {"invalid_json": N, ...}}

``records.read`` counts every line read (blank and bad ones included).
"""

from __future__ import annotations

import json
import os

from streamjobs.errors import TooManyBadRecords

COUNTERS_FILE = "_COUNTERS.json"
RECORDS = "records"
BAD_RECORDS = "bad_records"


def new_counters() -> dict[str, dict[str, int]]:
    return {RECORDS: {"read": 0, "written": 0, "bad": 0, "blank": 0}, BAD_RECORDS: {}}


def add_counters(total: dict, other: dict) -> dict:
    """Add ``other`` into ``total`` group by group (in place) and return ``total``."""
    for group, names in other.items():
        into = total.setdefault(group, {})
        for name, value in names.items():
            into[name] = into.get(name, 0) + value
    return total


def chunk_counters(result) -> dict:
    """The counters of one ``records.ChunkResult``."""
    counters = new_counters()
    records = counters[RECORDS]
    records["read"] = result.read
    records["written"] = result.written
    records["blank"] = result.blank
    records["bad"] = len(result.bad)
    for bad in result.bad:
        counters[BAD_RECORDS][bad.reason] = counters[BAD_RECORDS].get(bad.reason, 0) + 1
    return counters


def dumps(counters: dict) -> str:
    return json.dumps(counters, indent=2, sort_keys=True) + "\n"


def write_file(directory: str, counters: dict, name: str = COUNTERS_FILE) -> str:
    """Write ``counters`` as ``directory/name`` (``_COUNTERS.json`` by default); its path."""
    path = os.path.join(directory, name)
    with open(path, "w") as out:
        out.write(dumps(counters))
    return path


def summary(counters: dict, output: str) -> str:
    """One log line: what a run read and wrote, and where."""
    records = counters[RECORDS]
    return (
        f"streamjobs: {records['read']} lines read, {records['written']} written, "
        f"{records['bad']} bad, {records['blank']} blank -> {output}"
    )


def check_bad_record_limit(counters: dict, limit: int | None, examples: list[str]) -> None:
    """Raise TooManyBadRecords when more than ``limit`` lines were bad (None: no limit)."""
    bad = counters[RECORDS]["bad"]
    if limit is not None and bad > limit:
        raise TooManyBadRecords(
            f"more than --max-bad-records {limit}: {bad} bad records in the input read so "
            f"far; nothing was published. First of them: {'; '.join(examples)}"
        )
