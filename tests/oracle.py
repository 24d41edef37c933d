"""An independent, deliberately plain statement of what a job does to its input, for tests.

It shares no code with streamjobs: it follows the README's "Semantics" section line by line
(Python's json, an explicit depth count, ``bytes.split``), so a test comparing the two
catches an engine, a reader or a fast path that drifts from the definition. It needs only
an object with ``mapper``, ``fields`` and ``input_format``; any ``prefilter`` is ignored
(it may only skip records for which the mapper yields nothing).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field

MAX_DEPTH = 512
JSON_BLANK = " \t\r"


class Bad(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Expected:
    """What a run must give: outputs in input order (dicts for a JSON job, str lines for a
    text job), counts, and each bad line as (file index, line number, offset, reason)."""

    output: list = field(default_factory=list)
    read: int = 0
    blank: int = 0
    bad: list = field(default_factory=list)

    def counters(self) -> dict:
        reasons: dict[str, int] = {}
        for *_, reason in self.bad:
            reasons[reason] = reasons.get(reason, 0) + 1
        records = {
            "read": self.read,
            "written": len(self.output),
            "bad": len(self.bad),
            "blank": self.blank,
        }
        return {"records": records, "bad_records": reasons}


def lines_of(data: bytes) -> list[bytes]:
    """A file's lines: split at \\n; a last line without \\n is a line."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def run(job, files: list[bytes], max_line_bytes: int | None = None) -> Expected:
    """What ``job`` gives on files with these contents, read in this order."""
    result = Expected()
    for index, data in enumerate(files):
        offset = 0
        for number, raw in enumerate(lines_of(data), start=1):
            result.read += 1
            try:
                if max_line_bytes is not None and len(raw) > max_line_bytes:
                    raise Bad("line_too_long")
                outputs = map_line(job, raw[:-1] if raw.endswith(b"\r") else raw)
            except Bad as bad:
                result.bad.append((index, number, offset, bad.reason))
            else:
                if outputs is None:
                    result.blank += 1
                else:
                    result.output.extend(outputs)
            offset += len(raw) + 1
    return result


def map_line(job, raw: bytes):
    """One line's outputs (without its line end), None when blank; or raise Bad."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Bad("invalid_utf8") from None
    if job.input_format == "text":
        return [text_output(item) for item in call_mapper(job, text)]
    if not text.strip(JSON_BLANK):
        return None
    if depth(text) > MAX_DEPTH:
        raise Bad("too_deep")
    try:
        obj = json.loads(text, parse_constant=_no_constant, parse_int=exact_int)
    except ValueError:
        raise Bad("invalid_json") from None
    if not isinstance(obj, dict):
        raise Bad("not_an_object")
    check_fields(obj, job.fields)
    items = call_mapper(job, obj)
    for item in items:
        check_output(item)
    return items


def depth(text: str) -> int:
    """How deep brackets nest outside strings (a string runs to its closing quote or to
    the end of the line; a backslash in it escapes the next character)."""
    level = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def exact_int(digits: str) -> int:
    """A JSON integer of any length (``int()`` alone refuses more than 4,300 digits)."""
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("-")
    value = 0
    for start in range(0, len(digits), 1000):
        piece = digits[start : start + 1000]
        value = value * 10 ** len(piece) + int(piece)
    return sign * value


def check_fields(obj: dict, fields: dict) -> None:
    for name, kind in fields.items():
        if name not in obj:
            raise Bad("missing_field")
        value = obj[name]
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise Bad("not_a_number")
            if isinstance(value, float) and not math.isfinite(value):
                raise Bad("not_finite")
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise Bad("not_a_number")
        elif isinstance(value, bool) is not (kind is bool) or not isinstance(value, kind):
            raise Bad("wrong_type")


def call_mapper(job, arg) -> list:
    try:
        return list(job.mapper(arg) or [])
    except Exception:
        raise Bad("mapper_error") from None


def check_output(item) -> None:
    """A yielded record must be a dict of JSON values with finite numbers."""
    if not isinstance(item, dict):
        raise Bad("mapper_error")
    finite = [True]

    def walk(value):
        if isinstance(value, dict):
            for key, inner in value.items():
                if isinstance(key, bool) or not isinstance(key, str | int | float):
                    raise Bad("mapper_error")  # a number key is written as a string
                walk(inner)
        elif isinstance(value, list | tuple):
            for inner in value:
                walk(inner)
        elif isinstance(value, float):
            finite[0] = finite[0] and math.isfinite(value)
        elif not (value is None or isinstance(value, str | int)):
            raise Bad("mapper_error")

    walk(item)
    if not finite[0]:
        raise Bad("not_finite")


def text_output(item) -> str:
    if isinstance(item, tuple):
        item = "\t".join(map(str, item))
    if not isinstance(item, str) or "\n" in item or "\r" in item:
        raise Bad("mapper_error")
    try:
        item.encode("utf-8")
    except UnicodeEncodeError:
        raise Bad("mapper_error") from None
    return item


# ---- reading what a job wrote ---------------------------------------------------------


def read_json_line(line: bytes):
    """One output line as strict JSON (no NaN/Infinity; integers of any size)."""
    assert line.endswith(b"\n") and line.count(b"\n") == 1, line[:200]
    return json.loads(line.decode("utf-8"), parse_constant=_no_constant, parse_int=exact_int)


def typed(value) -> str:
    """A value as text that tells its types apart (1 from 1.0, -0.0 from 0.0) and keeps
    key order: compare records with it. Integers of any length are written in full."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return json.dumps(value)
    finally:
        sys.set_int_max_str_digits(limit)


# ---- the post's job (TestTaskMR), for tests of whole runs -----------------------------


class Threshold:
    """The post's job stated plainly: keep records whose index + total exceeds the
    threshold, with ``sum_val`` added."""

    input_format = "json"
    fields = {"index": float, "total": float}

    def __init__(self, threshold: float):
        self.threshold = threshold

    def mapper(self, record):
        total = record["index"] + record["total"]
        if total > self.threshold:
            record["sum_val"] = total
            yield record


def expected(files: list[bytes], threshold: float, max_line_bytes: int | None = None):
    """(kept objects in input order, counts of blank, bad, filtered and kept lines)."""
    result = run(Threshold(threshold), files, max_line_bytes)
    kept = result.output
    counts = {
        "blank": result.blank,
        "bad": len(result.bad),
        "kept": len(kept),
        "filtered": result.read - result.blank - len(result.bad) - len(kept),
    }
    return kept, counts


def canonical(objects) -> list[str]:
    """Objects as sorted canonical strings: compare outputs as multisets of records."""
    return sorted(json.dumps(obj, sort_keys=True) for obj in objects)
