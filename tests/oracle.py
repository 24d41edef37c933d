"""An independent, deliberately plain statement of the job's semantics, for tests only.

It shares no code with streamjobs: it reads lines with Python's json module, so a test
that compares the two catches a fast path that drifts from the definition.
"""

from __future__ import annotations

import json
import math


def _constant(name):
    raise ValueError(name)


def classify(raw: bytes, threshold: float):
    """("blank"|"bad"|"filtered"|"kept", parsed object with sum_val or None)."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if not raw.strip(b" \t\r"):
        return "blank", None
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_constant)
    except (ValueError, RecursionError):
        return "bad", None
    if not isinstance(obj, dict):
        return "bad", None
    for key in ("index", "total"):
        value = obj.get(key)
        if type(value) not in (int, float):
            return "bad", None
        if type(value) is float and not math.isfinite(value):
            return "bad", None
    # Integers have any size; a sum beyond a float's range counts as not finite.
    try:
        total = obj["index"] + obj["total"]
        if not math.isfinite(total):
            return "bad", None
    except OverflowError:
        return "bad", None
    if total > threshold:
        obj["sum_val"] = total
        return "kept", obj
    return "filtered", None


def lines_of(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def expected(files: list[bytes], threshold: float, max_line_bytes: int | None = None):
    """(kept objects in input order, counts by class) for the given file contents.

    With ``max_line_bytes``, a longer line (its ``\r`` included) is bad whatever it holds.
    """
    kept, counts = [], {"blank": 0, "bad": 0, "filtered": 0, "kept": 0}
    for data in files:
        for raw in lines_of(data):
            if max_line_bytes is not None and len(raw) > max_line_bytes:
                counts["bad"] += 1
                continue
            kind, obj = classify(raw, threshold)
            counts[kind] += 1
            if obj is not None:
                kept.append(obj)
    return kept, counts


def canonical(objects) -> list[str]:
    """Objects as sorted canonical strings: compare outputs as multisets of records."""
    return sorted(json.dumps(obj, sort_keys=True) for obj in objects)
