"""The record logic every engine shares: parse and validate a line, filter, serialise.

Pure functions on bytes: no files, no Luigi, no engine. This module is the one definition
of the job's semantics; engines only feed it chunks of whole lines and publish what it
returns. It is imported on cluster nodes too, so it depends on msgspec and nothing else.

Semantics
---------
A line is a *good record* when it is a JSON object whose ``index`` and ``total`` are
finite numbers (int or float; not bool, not a string, not NaN or Infinity). Its
``sum_val`` is ``index + total``; the record is *kept* when ``sum_val > threshold`` and
written as one JSON object per line: the input's keys in their order, with ``sum_val``
set. Lines of only white space are *blank* and ignored. Every other line is a *bad
record*, counted by reason and quarantined, never fatal. The reference parser is Python's
``json`` module (minus the NaN/Infinity extensions); msgspec is used where it provably
agrees, because it is several times faster.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import msgspec

DEFAULT_THRESHOLD = 1.99

# Lines longer than this are bad records ("line_too_long"), as Hadoop's
# mapreduce.input.linerecordreader.line.maxlength would skip them: one runaway line must
# not take a worker's memory with it.
DEFAULT_MAX_LINE_BYTES = 1 << 20

# Bad-record reasons, in the order they are checked.
LINE_TOO_LONG = "line_too_long"
INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
NOT_A_NUMBER = "not_a_number"
NOT_FINITE = "not_finite"
REASONS = (
    LINE_TOO_LONG,
    INVALID_UTF8,
    INVALID_JSON,
    NOT_AN_OBJECT,
    MISSING_FIELD,
    NOT_A_NUMBER,
    NOT_FINITE,
)

JSON_WHITESPACE = b" \t\r"

# How much of a bad line the quarantine keeps: enough to see what went wrong.
QUARANTINE_TEXT_BYTES = 4096


class BadRecord(ValueError):
    """A line that is not a good record; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class _IndexTotal(msgspec.Struct, gc=False):
    # msgspec rejects bools, strings, NaN and out-of-range numbers for these fields and
    # skips (but still syntax-checks) every other key: exactly the fast path needs.
    index: float | int
    total: float | int


_decode_index_total = msgspec.json.Decoder(_IndexTotal)
_decode_lines_index_total = _decode_index_total.decode_lines
_encoder = msgspec.json.Encoder()


def _reject_constant(name: str):
    raise BadRecord(INVALID_JSON, f"{name} is not JSON")


def _is_number(value) -> bool:
    return type(value) in (int, float)


def parse_object(raw: bytes) -> dict:
    """Parse one line (without its newline) into a dict, or raise BadRecord.

    Follows Python's json module (arbitrary-precision integers, lone surrogates, the last
    of duplicate keys wins) but refuses NaN and Infinity, which are not JSON.
    """
    try:
        obj = msgspec.json.decode(raw)
    except UnicodeDecodeError as exc:
        raise BadRecord(INVALID_UTF8, str(exc)) from None
    except (msgspec.DecodeError, RecursionError):
        # msgspec refuses a few things json accepts (lone surrogates); json decides. Both
        # raise RecursionError on deeply nested values: a bad record, never a crash.
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRecord(INVALID_UTF8, str(exc)) from None
        try:
            obj = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            if isinstance(exc, BadRecord):
                raise
            raise BadRecord(INVALID_JSON, str(exc)) from None
    else:
        if not raw.isascii():
            # msgspec does not check the UTF-8 of strings; the reference parser does.
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadRecord(INVALID_UTF8, str(exc)) from None
    if type(obj) is not dict:
        raise BadRecord(NOT_AN_OBJECT, f"a JSON {type(obj).__name__}, not an object")
    return obj


def sum_val(obj: dict) -> float | int:
    """``index + total`` of a parsed object, or BadRecord when either is unusable."""
    for key in ("index", "total"):
        if key not in obj:
            raise BadRecord(MISSING_FIELD, f"no {key!r}")
        value = obj[key]
        if not _is_number(value):
            raise BadRecord(NOT_A_NUMBER, f"{key!r} is {type(value).__name__}")
    try:
        total = obj["index"] + obj["total"]
        finite = math.isfinite(total)
    except OverflowError:  # integers beyond a float's range
        finite = False
    if not finite:
        raise BadRecord(NOT_FINITE, "index + total is not a finite number")
    return total


def encode_object(obj: dict) -> bytes:
    """Serialise a kept record as one compact JSON line (no newline)."""
    try:
        return _encoder.encode(obj)
    except (msgspec.EncodeError, UnicodeEncodeError, OverflowError):
        # Lone surrogates (accepted by the reference parser) are not UTF-8: escape them.
        return json.dumps(obj, separators=(",", ":")).encode("ascii")


def map_line(raw: bytes, threshold: float = DEFAULT_THRESHOLD) -> bytes | None:
    """The job on one line (no newline): the output line, None if filtered, or BadRecord.

    The readable statement of the semantics; ``map_chunk`` is its fast equivalent.
    """
    obj = parse_object(raw)
    value = sum_val(obj)
    if not value > threshold:
        return None
    obj["sum_val"] = value
    return encode_object(obj)


@dataclass
class BadLine:
    """A quarantined line: where it came from, why it is bad, and (a prefix of) its text."""

    source: str
    offset: int  # byte offset of the line's start in the (decompressed) source
    line: int | None  # 1-based line number, when the reader knows it
    reason: str
    detail: str
    text: bytes  # the line, or only its first bytes when it was too long to read whole
    length: int | None = None  # the line's length in bytes, when ``text`` is a prefix

    def to_json(self) -> bytes:
        entry = {"source": self.source, "offset": self.offset}
        if self.line is not None:
            entry["line"] = self.line
        entry.update(
            reason=self.reason,
            detail=self.detail,
            length=len(self.text) if self.length is None else self.length,
            text=self.text[:QUARANTINE_TEXT_BYTES].decode("utf-8", "backslashreplace"),
        )
        return json.dumps(entry, ensure_ascii=False).encode("utf-8", "backslashreplace")


@dataclass
class ChunkResult:
    """What a chunk of lines yields: output lines (newline-terminated), counts, bad lines."""

    output: list[bytes] = field(default_factory=list)
    read: int = 0
    blank: int = 0
    bad: list[BadLine] = field(default_factory=list)


def _lines_at(chunk: bytes, numbers: list[int], mean_length: float):
    """Yield lines ``numbers`` (0-based, ascending) of ``chunk``, without their newline.

    Jumps ahead by the mean line length and corrects with C-speed newline counts, so a few
    lines out of many cost about one pass over the chunk rather than a list of every line.
    """
    start, line = 0, 0  # ``start`` is where line number ``line`` begins
    for number in numbers:
        while line < number:
            step = max(int((number - line) * mean_length), 1)
            crossed = chunk.count(b"\n", start, start + step)
            if crossed == 0:
                start = chunk.index(b"\n", start) + 1
                line += 1
            elif line + crossed <= number:
                start = chunk.rindex(b"\n", start, start + step) + 1
                line += crossed
            else:
                mean_length /= 2  # overshot: take shorter jumps
        end = chunk.find(b"\n", start)
        yield chunk[start:] if end == -1 else chunk[start:end]


class ThresholdFilter:
    """The seed's job: keep records whose ``index + total`` exceeds ``threshold``.

    Picklable and free of Luigi, so the same object runs in local worker processes and on
    cluster nodes.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD):
        self.threshold = float(threshold)

    def __repr__(self) -> str:
        return f"ThresholdFilter(threshold={self.threshold!r})"

    def map_line(self, raw: bytes) -> bytes | None:
        return map_line(raw, self.threshold)

    def map_chunk(
        self, chunk: bytes, source: str = "", offset: int = 0, first_line: int | None = None
    ) -> ChunkResult:
        """Run the job on ``chunk``: whole lines, each ending in ``\\n`` but maybe the last.

        ``offset`` is the chunk's byte offset in ``source`` and ``first_line`` the number
        of its first line when known; both only label quarantined lines.
        """
        if not chunk:
            return ChunkResult()
        result = self._map_chunk_fast(chunk)
        if result is None:
            result = self._map_chunk_by_line(chunk, source, offset, first_line)
        return result

    def _map_chunk_fast(self, chunk: bytes) -> ChunkResult | None:
        """All lines good: the answer at C speed; anything unusual: None (go line by line).

        ``decode_lines`` alone would accept two objects on one line or one object over two
        lines. It is exact here because every line is first checked to start with ``{``
        and end with ``}``: a line break inside an object would then fall between ``}``
        and ``{``, which JSON never allows, so each line holds whole objects, and equal
        counts make it exactly one each. (Every newline but a final one is checked to
        sit in ``}\\n{``; ``}\\n{`` cannot overlap itself, so one count does it.)
        """
        if not chunk.isascii():  # msgspec skips UTF-8 checks of unused strings
            return None
        newlines = chunk.count(b"\n")
        if chunk[-1:] == b"\n":
            lines, last = newlines, chunk[-2:-1]
        else:
            lines, last = newlines + 1, chunk[-1:]
        if chunk[:1] != b"{" or last != b"}" or chunk.count(b"}\n{") != lines - 1:
            return None
        try:
            records = _decode_lines_index_total(chunk)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return None
        if len(records) != lines:
            return None
        try:
            # A comprehension beats map(add, map(attrgetter...)) on CPython 3.11+.
            sums = [record.index + record.total for record in records]
            # msgspec refuses non-finite literals, so a sum is infinite only by overflow
            # (never NaN) and finiteness grows with magnitude: the extremes decide for all.
            # math.isfinite() raises OverflowError for an int beyond a float's range, as
            # does adding such an int to a float.
            lowest, highest = min(sums), max(sums)
            if not (math.isfinite(lowest) and math.isfinite(highest)):
                return None
        except OverflowError:
            return None
        result = ChunkResult(read=lines)
        threshold = self.threshold
        if highest > threshold:
            kept = [i for i, value in enumerate(sums) if value > threshold]
            # Kept records are re-read whole (all keys, in order). A few are found by
            # position; splitting the whole chunk pays only when many are kept.
            if len(kept) * 16 > lines:
                every_line = chunk.split(b"\n")
                kept_lines = [every_line[i] for i in kept]
            else:
                kept_lines = _lines_at(chunk, kept, len(chunk) / lines)
            for i, raw in zip(kept, kept_lines, strict=True):
                obj = msgspec.json.decode(raw)
                obj["sum_val"] = sums[i]
                result.output.append(encode_object(obj) + b"\n")
        return result

    def _map_chunk_by_line(
        self, chunk: bytes, source: str, offset: int, first_line: int | None
    ) -> ChunkResult:
        result = ChunkResult()
        threshold = self.threshold
        position = offset
        lines = chunk.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        for number, raw in enumerate(lines):
            start = position
            position += len(raw) + 1
            result.read += 1
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if not raw.strip(JSON_WHITESPACE):
                result.blank += 1
                continue
            try:
                obj = parse_object(raw)
                value = sum_val(obj)
            except BadRecord as bad:
                line = None if first_line is None else first_line + number
                result.bad.append(BadLine(source, start, line, bad.reason, bad.detail, raw))
                continue
            if value > threshold:
                obj["sum_val"] = value
                result.output.append(encode_object(obj) + b"\n")
        return result

    def too_long(self, source: str, offset: int, line: int | None, prefix: bytes, length: int):
        """A BadLine for a line the reader cut off at the line-length limit."""
        return BadLine(
            source, offset, line, LINE_TOO_LONG, f"{length} bytes, over the limit", prefix, length
        )
