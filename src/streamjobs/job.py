"""What a job does to its input, defined once: read a line, validate, map, serialise.

A job is any object with a ``mapper`` method, a ``fields`` dict and an ``input_format``
(``"json"`` or ``"text"``); the Luigi classes users subclass (``streamjobs.JobTask``,
``streamjobs.TextJobTask``) are such objects. ``ChunkMapper(job).map_chunk(...)`` runs the
job on a chunk of whole lines and returns what to write, what to count and what to
quarantine. Every engine (local processes, Hadoop map tasks, Spark tasks, mrjob tasks) feeds
chunks to this one function, so every engine gives the same records. Pure: no files, no
Luigi; it runs on cluster nodes with msgspec and the standard library. The README's
"Semantics" section states the rules in full (the order of the checks among them).

JSON jobs
---------
A line (without its ``\\n``, and the ``\\r`` of a CRLF) of only white space is *blank*
and skipped. Any other line must be one JSON object, read as Python's ``json`` reads it:
the last of duplicate keys wins, integers are exact at any size, numbers beyond a double's
range read as infinity; ``NaN`` and ``Infinity`` are not JSON. Values may nest at most
``MAX_DEPTH`` levels (the object itself is level 1). The declared ``fields`` are then
checked; the mapper is called with the dict and yields zero or more dicts, each written as
one compact JSON line (a chunk's records in one batch, after its mapper calls: a mapper
must not change a record it has yielded). Output is strict JSON: a yielded record holding
a non-finite float (an input ``1e400`` passed through, an overflowing sum) makes its input
line bad. A line's outputs are written all or none: when one fails, the line is bad and
none is written.

Text jobs
---------
The mapper gets each line as ``str`` (UTF-8, without its line end) and yields ``str``
lines or tuples (joined by tabs, Luigi's ``JobTask`` convention), none holding a line break.

Bad lines
---------
Every other line is a *bad record*, counted by reason (``REASONS``) and quarantined with its
file, byte offset, line number when known, and text; never fatal. An exception raised by
the mapper on one line makes that line bad (``mapper_error``).
"""

from __future__ import annotations

import decimal
import gc
import json
import keyword
import math
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import compress, groupby
from operator import itemgetter

import msgspec

from streamjobs.inputs import has_long_line

# Values nested deeper than this make a line bad (``too_deep``): a fixed rule, so that
# whether a record is good never depends on a parser's recursion limit or the stack depth.
MAX_DEPTH = 512

# Bad-record reasons, in the order they are checked.
LINE_TOO_LONG = "line_too_long"
INVALID_UTF8 = "invalid_utf8"
TOO_DEEP = "too_deep"
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
NOT_A_NUMBER = "not_a_number"
NOT_FINITE = "not_finite"
WRONG_TYPE = "wrong_type"
MAPPER_ERROR = "mapper_error"
REASONS = (
    LINE_TOO_LONG,
    INVALID_UTF8,
    TOO_DEEP,
    INVALID_JSON,
    NOT_AN_OBJECT,
    MISSING_FIELD,
    NOT_A_NUMBER,
    NOT_FINITE,
    WRONG_TYPE,
    MAPPER_ERROR,
)

# The types a job may declare in ``fields``, and what each accepts (a JSON value as
# Python's json reads it). float: any finite number but a bool; an int stays an int.
FIELD_TYPES = (float, int, str, bool, list, dict)
_FAST_FIELD_TYPES = {float: int | float, int: int, str: str, bool: bool, list: list, dict: dict}

JSON_WHITESPACE = b" \t\r"

# How much of a bad line the quarantine keeps: enough to see what went wrong.
QUARANTINE_TEXT_BYTES = 4096


class BadRecord(ValueError):
    """A line that is not a good record; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class JobDefinitionError(TypeError):
    """A job class declares something streamjobs cannot run (a field of an unknown type)."""


def check_field_declarations(fields: dict, where: str) -> None:
    """Refuse ``fields`` that are not ``{name: one of FIELD_TYPES}``, naming the job."""
    if not isinstance(fields, dict):
        raise JobDefinitionError(f"{where}.fields must be a dict of name: type")
    for name, kind in fields.items():
        if not isinstance(name, str) or kind not in FIELD_TYPES:
            allowed = ", ".join(t.__name__ for t in FIELD_TYPES)
            raise JobDefinitionError(
                f"{where}.fields[{name!r}] = {kind!r}: a field's type is one of {allowed}"
            )


# ---- reading a line ---------------------------------------------------------------------

_decode_any = msgspec.json.Decoder()
_decode_objects = msgspec.json.Decoder(dict)  # a value that is not an object is refused
_encoder = msgspec.json.Encoder()
# Two objects with no line break between them (see JsonChunkMapper.map_fast).
_ADJACENT_OBJECTS = re.compile(rb"\}[ \t\r]*\{")
# A string runs to its closing quote, or to the end of the line when it has none (the line
# is then invalid JSON, but its depth is still defined).
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.S)
_BRACKET = re.compile(rb"[\[\]{}]")


def _reject_constant(name: str):
    raise BadRecord(INVALID_JSON, f"{name} is not JSON")


def _exact_int(text: str) -> int:
    # int() refuses more than 4,300 digits (a guard on str->int conversion, not a JSON
    # rule); Decimal has no such limit and converts exactly.
    try:
        return int(text)
    except ValueError:
        return int(decimal.Decimal(text))


def nesting_depth(raw: bytes) -> int:
    """How deep the brackets of a JSON text nest, strings not counted (0 for a scalar)."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", raw)):
        if bracket in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_object(raw: bytes) -> dict:
    """Parse one line (without its line end) into a dict, or raise BadRecord."""
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and nesting_depth(raw) > MAX_DEPTH:
        if not raw.isascii():
            _decode_utf8(raw)  # reasons are checked in order: the UTF-8 first
        raise BadRecord(TOO_DEEP, f"values nest more than {MAX_DEPTH} levels deep")
    try:
        obj = _decode_any.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        # msgspec refuses what json reads differently (lone surrogates, numbers beyond a
        # double or int64's range) and what is not JSON: json decides, and says why.
        obj = _parse_with_json(raw)
    else:
        if not raw.isascii():
            # msgspec does not check the UTF-8 of strings; the reference parser does.
            _decode_utf8(raw)
    if type(obj) is not dict:
        raise BadRecord(NOT_AN_OBJECT, f"a JSON {type(obj).__name__}, not an object")
    return obj


def _decode_utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRecord(INVALID_UTF8, str(exc)) from None


def _parse_with_json(raw: bytes):
    text = _decode_utf8(raw)
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=_exact_int)
    except BadRecord:
        raise
    except ValueError as exc:
        raise BadRecord(INVALID_JSON, str(exc)) from None


def check_fields(obj: dict, fields: dict) -> None:
    """Raise BadRecord unless ``obj`` holds every declared field with its declared type."""
    for name, kind in fields.items():
        if name not in obj:
            raise BadRecord(MISSING_FIELD, f"no {name!r}")
        value = obj[name]
        if kind is float:
            if type(value) is float:
                if not math.isfinite(value):
                    raise BadRecord(NOT_FINITE, f"{name!r} is {value}")
            elif type(value) is not int:
                raise BadRecord(NOT_A_NUMBER, f"{name!r} is {_json_type(value)}")
        elif type(value) is not kind:
            reason = NOT_A_NUMBER if kind is int else WRONG_TYPE
            raise BadRecord(reason, f"{name!r} is {_json_type(value)}, not {kind.__name__}")


def _json_type(value) -> str:
    names = {type(None): "null", bool: "a bool", str: "a string", list: "an array"}
    names.update({dict: "an object", int: "an integer", float: "a float"})
    return names.get(type(value), type(value).__name__)


# ---- writing a record -------------------------------------------------------------------


def encode_record(obj) -> bytes:
    """One yielded record as a compact JSON line (no newline), or BadRecord.

    Strict JSON only: msgspec writes a non-finite float as ``null``, so a ``null`` in the
    output is checked against the record (rare, and cheap next to the encoding).
    """
    if not isinstance(obj, dict):  # a dict subclass (OrderedDict, defaultdict) is a dict
        raise BadRecord(MAPPER_ERROR, f"mapper yielded {_json_type(obj)}, not a dict")
    try:
        try:
            line = _encoder.encode(obj)
        except (msgspec.EncodeError, UnicodeEncodeError, OverflowError, TypeError, ValueError):
            line = _encode_slowly(obj)
    except RecursionError:  # far deeper than any input (see map_chunk's stack headroom)
        raise BadRecord(MAPPER_ERROR, "a yielded record nests too deep to write") from None
    if b"null" in line and _has_non_finite(obj):
        raise BadRecord(NOT_FINITE, "a yielded value is not a finite number")
    return line


def _has_non_finite(value) -> bool:
    # A loop, not recursion: a record may nest MAX_DEPTH levels deep.
    pending = [value]
    while pending:
        value = pending.pop()
        if type(value) is float:
            if not math.isfinite(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list | tuple):
            pending.extend(value)
    return False


def _encode_slowly(obj) -> bytes:
    """What msgspec refuses: lone surrogates (escaped as json does) and integers beyond
    its range (written in full; ``str(int)`` also refuses more than 4,300 digits). A
    non-finite float makes the record bad, as on the fast path, once the rest is known to
    be JSON (a value that is not JSON is the mapper's error first)."""
    parts: list[str] = []
    non_finite = False

    def write(value):
        nonlocal non_finite
        if isinstance(value, dict):
            parts.append("{")
            for i, (key, item) in enumerate(value.items()):
                parts.append("," if i else "")
                parts.append(json.dumps(key) if isinstance(key, str) else _other_key(key))
                parts.append(":")
                write(item)
            parts.append("}")
        elif isinstance(value, list | tuple):
            parts.append("[")
            for i, item in enumerate(value):
                parts.append("," if i else "")
                write(item)
            parts.append("]")
        elif type(value) is int:
            parts.append(format(decimal.Decimal(value), "f"))
        elif isinstance(value, float) and not math.isfinite(value):
            non_finite = True
        elif value is None or isinstance(value, str | bool | float):
            parts.append(json.dumps(value))
        else:  # another type msgspec writes (a set, bytes, a date...), as it writes it
            try:
                parts.append(_encoder.encode(value).decode("utf-8"))
            except (msgspec.EncodeError, UnicodeEncodeError, OverflowError, TypeError, ValueError):
                raise BadRecord(
                    MAPPER_ERROR, f"{type(value).__name__} is not a JSON value"
                ) from None

    write(obj)
    if non_finite:
        raise BadRecord(NOT_FINITE, "a yielded value is not a finite number")
    return "".join(parts).encode("utf-8")


def _other_key(key) -> str:
    """A key that is not a str, as msgspec writes it (a number as its text), so that a
    record is written alike whichever way it is encoded; else the mapper's error."""
    try:
        return _encoder.encode({key: None})[1:-6].decode("utf-8")  # {KEY:null}
    except (msgspec.EncodeError, TypeError, ValueError):
        raise BadRecord(MAPPER_ERROR, f"a key is {_json_type(key)}, not a string") from None


def encode_text(item) -> bytes:
    """One yielded text line (a str, or a tuple joined by tabs) as UTF-8, or BadRecord."""
    if isinstance(item, tuple):
        item = "\t".join(map(str, item))
    elif not isinstance(item, str):
        raise BadRecord(MAPPER_ERROR, f"mapper yielded {type(item).__name__}, not str or tuple")
    if "\n" in item or "\r" in item:
        raise BadRecord(MAPPER_ERROR, "a yielded line holds a line break")
    try:
        return item.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadRecord(MAPPER_ERROR, str(exc)) from None


# ---- results ----------------------------------------------------------------------------


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
    """What a chunk of lines yields: output, counts, bad lines.

    ``output`` holds the output as pieces of whole, newline-terminated lines (a piece may
    hold many: records are written in batches); ``written`` is the number of lines.
    """

    output: list[bytes] = field(default_factory=list)
    written: int = 0
    read: int = 0
    blank: int = 0
    bad: list[BadLine] = field(default_factory=list)

    def lines(self) -> list[bytes]:
        """The output lines one by one, each with its newline (no line holds another)."""
        return [line + b"\n" for line in b"".join(self.output).split(b"\n")[:-1]]


def too_long(source: str, offset: int, line: int | None, prefix: bytes, length: int, limit: int):
    """The bad record of a line the reader cut off at the line-length limit."""
    detail = f"{length} bytes, over the {limit}-byte limit"
    return BadLine(source, offset, line, LINE_TOO_LONG, detail, prefix, length)


# ---- mapping chunks ---------------------------------------------------------------------


@contextmanager
def stack_headroom():
    """Room for 4 * MAX_DEPTH more stack frames than are in use, for the time of a chunk.

    Parsers and encoders recurse once or twice a level, and on Python < 3.12 they share
    the interpreter's recursion limit with the frames already in use (an engine's, a
    scheduler's). Without this, whether a record MAX_DEPTH levels deep is good would depend
    on who calls. The limit is only ever raised, and restored unless changed meanwhile.
    """
    frame, depth = sys._getframe(), 0
    while frame is not None:
        depth += 1
        frame = frame.f_back
    limit = sys.getrecursionlimit()
    needed = depth + 4 * MAX_DEPTH
    if limit >= needed:
        yield
        return
    sys.setrecursionlimit(needed)
    try:
        yield
    finally:
        if sys.getrecursionlimit() == needed:
            sys.setrecursionlimit(limit)


def mapper_for(job) -> ChunkMapper:
    """The chunk mapper of a job object (see the module docstring)."""
    kind = getattr(job, "input_format", "json")
    if kind == "json":
        return JsonChunkMapper(job)
    if kind == "text":
        return TextChunkMapper(job)
    raise JobDefinitionError(f"{type(job).__name__}.input_format is {kind!r}: json or text")


class ChunkMapper:
    """Runs one job over chunks of whole lines (each ends in ``\\n`` but perhaps the last)."""

    def __init__(self, job):
        self.job = job
        self.mapper = job.mapper

    def map_chunk(
        self, chunk: bytes, source: str = "", offset: int = 0, first_line: int | None = None
    ) -> ChunkResult:
        """``offset`` is the chunk's byte offset in ``source`` and ``first_line`` the
        number of its first line when known; both only label quarantined lines."""
        if not chunk:
            return ChunkResult()
        # A chunk's records all live until it ends: the cyclic garbage collector would
        # scan (and promote) tens of thousands of them several times a chunk for nothing.
        # Paused per chunk, it still collects any cycles a mapper makes, after each chunk.
        collecting = gc.isenabled()
        gc.disable()
        try:
            with stack_headroom():
                result = self.map_fast(chunk)
                if result is None:
                    result = self.map_by_line(chunk)
        finally:
            if collecting:
                gc.enable()
        for bad in result.bad:  # positions were relative to the chunk
            if first_line is not None:
                bad.line = first_line + bad.line
            else:
                bad.line = None
            bad.offset += offset
            bad.source = source
        return result

    def map_fast(self, chunk: bytes) -> ChunkResult | None:
        """The same result at C speed where that is provably exact, else None."""
        return None

    def map_by_line(self, chunk: bytes) -> ChunkResult:
        """The plain statement: each line on its own. Bad lines carry chunk-relative
        offsets and 0-based line numbers; ``map_chunk`` makes them absolute."""
        result = ChunkResult()
        position = 0
        lines = chunk.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        for number, raw in enumerate(lines):
            start = position
            position += len(raw) + 1
            result.read += 1
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            try:
                outputs = self.map_line(raw)
            except BadRecord as bad:
                result.bad.append(BadLine("", start, number, bad.reason, bad.detail, raw))
                continue
            if outputs is None:
                result.blank += 1
            else:
                result.output.extend(outputs)
                result.written += len(outputs)
        return result

    def map_line(self, raw: bytes) -> list[bytes] | None:
        """A line's output lines (newline-terminated), None for a blank line, or BadRecord."""
        raise NotImplementedError

    def _outputs(self, arg, encode) -> list[bytes]:
        """Call the mapper; its outputs encoded, or BadRecord (all or none)."""
        try:
            produced = self.mapper(arg)
            items = [] if produced is None else list(produced)
        except Exception as exc:  # the user's code: one bad line, never a failed run
            raise _mapper_error(exc) from None
        return [encode(item) + b"\n" for item in items]

    def _map_items(self, chunk: bytes, lines: int, numbers, args, encode) -> ChunkResult:
        """Map ``args`` (the records or lines numbered ``numbers`` of ``chunk``, which
        holds ``lines`` lines); a line whose mapping fails is placed in the chunk.

        The mapper runs for every line first; then what it yielded is written in one
        batch when ``encode`` has a batch form (``_BATCH_ENCODERS``) and the batch holds
        nothing it refuses, else line by line, all or none per line. ``_outputs`` inlined:
        this loop runs once per record.
        """
        result = ChunkResult(read=lines)
        mapper = self.mapper
        failed = []  # (line number, BadRecord), in line order
        yielded = []  # every item the mapper yielded, in order
        owners = []  # the line number of each
        for number, arg in zip(numbers, args, strict=True):
            try:
                produced = mapper(arg)
                items = [] if produced is None else list(produced)
            except Exception as exc:  # the user's code: one bad line, never a failed run
                failed.append((number, _mapper_error(exc)))
                continue
            if len(items) == 1:
                yielded.append(items[0])
                owners.append(number)
            elif items:
                yielded += items
                owners += [number] * len(items)
        batch = _BATCH_ENCODERS.get(encode)
        written = batch(yielded) if batch is not None and yielded else None
        if written is not None:
            result.output.append(written)
            result.written = len(yielded)
        else:
            encode_failed = _encode_by_line(result, yielded, owners, encode)
            if encode_failed:
                failed = sorted(failed + encode_failed, key=lambda entry: entry[0])
        if failed:
            starts = _line_starts(chunk, [number for number, _ in failed])
            for number, bad in failed:
                raw = _line_at(chunk, starts[number])
                line = BadLine("", starts[number], number, bad.reason, bad.detail, raw)
                result.bad.append(line)
        return result


def _encode_by_line(result: ChunkResult, yielded: list, owners: list[int], encode) -> list:
    """Write each line's items with ``encode``, all or none per line, into ``result``;
    the lines that failed, as (line number, BadRecord)."""
    failed = []
    for number, pairs in groupby(zip(owners, yielded, strict=True), key=itemgetter(0)):
        try:
            lines = [encode(item) + b"\n" for _, item in pairs]
        except BadRecord as bad:
            failed.append((number, bad))
        else:
            result.output.extend(lines)
            result.written += len(lines)
    return failed


def encode_records(records: list) -> bytes | None:
    """Records as JSON lines in one msgspec call, exactly as ``encode_record`` writes each;
    None when one of them needs ``encode_record`` itself (not a dict, a value msgspec
    refuses, a non-finite float, which msgspec writes as ``null``)."""
    if set(map(type, records)) != {dict}:
        return None
    try:
        written = _encoder.encode_lines(records)
    except (
        msgspec.EncodeError,
        UnicodeEncodeError,
        OverflowError,
        TypeError,
        ValueError,
        RecursionError,
    ):
        return None  # encode_record says which record, and how to write it (or why not)
    if b"null" in written:
        lines = written.split(b"\n")
        if any(_has_non_finite(records[i]) for i, line in enumerate(lines) if b"null" in line):
            return None
    return written


# The encoders that can write a whole batch at once (see ChunkMapper._map_items).
_BATCH_ENCODERS = {encode_record: encode_records}


def _mapper_error(exc: Exception) -> BadRecord:
    return BadRecord(MAPPER_ERROR, f"{type(exc).__name__}: {exc}")


def _line_starts(chunk: bytes, numbers) -> dict[int, int]:
    """Byte offsets in ``chunk`` of its lines ``numbers`` (0-based)."""
    starts, start, line = {}, 0, 0
    for number in sorted(set(numbers)):
        while line < number:
            start = chunk.index(b"\n", start) + 1
            line += 1
        starts[number] = start
    return starts


def _line_at(chunk: bytes, start: int) -> bytes:
    end = chunk.find(b"\n", start)
    line = chunk[start:] if end == -1 else chunk[start:end]
    return line[:-1] if line.endswith(b"\r") else line


class JsonChunkMapper(ChunkMapper):
    """A JSON job: records are dicts; ``fields`` are checked before the mapper sees one."""

    def __init__(self, job):
        super().__init__(job)
        self.fields = dict(getattr(job, "fields", None) or {})
        check_field_declarations(self.fields, type(job).__name__)
        self.prefilter = getattr(job, "prefilter", None)
        row = _row_type(self.fields)
        self._decode_rows = msgspec.json.Decoder(row).decode_lines
        self._rows_type = list[row]

    def map_line(self, raw: bytes) -> list[bytes] | None:
        if not raw.strip(JSON_WHITESPACE):
            return None
        obj = parse_object(raw)
        check_fields(obj, self.fields)
        return self._outputs(obj, encode_record)

    def map_fast(self, chunk: bytes) -> ChunkResult | None:
        """Every line one JSON object, all good: decode the chunk in one msgspec call.

        Exact only under these checks. The chunk is valid UTF-8 (checked here: msgspec
        does not check strings it skips; ASCII, a fast test, needs no more). It starts with
        ``{`` and ends with ``}`` (and a line end), no ``}`` is followed by ``{`` with only
        spaces, tabs or CRs between, and msgspec reads it as exactly as many objects as it
        has lines (it refuses a value that is not an object). msgspec reads objects
        separated by any white space; the second check puts a newline between every two
        (inside an object, ``}`` is never followed by ``{``), so equal counts leave no line
        break for a blank line or inside an object: each line is one object, perhaps with
        blanks around it (a CRLF's CR). No line can nest deeper than MAX_DEPTH: a line
        that deep holds more than MAX_DEPTH opening brackets and as many closing ones.
        Anything else, and any value msgspec reads differently from json (it refuses
        them), goes line by line.
        """
        if not chunk.isascii():
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                return None
        newlines = chunk.count(b"\n")
        if chunk[-1:] == b"\n":
            lines, last = newlines, chunk[-3:-1].rstrip(b"\r")[-1:]
        else:
            lines, last = newlines + 1, chunk[-1:]
        if chunk[:1] != b"{" or last != b"}" or _ADJACENT_OBJECTS.search(chunk):
            return None
        # Only a line longer than 2 * MAX_DEPTH bytes can nest that deep, and a few rfind
        # calls rule that out for a whole chunk: the brackets are counted only then. Each
        # line holds one "{" of its own; "[" is often absent (a memchr-fast test).
        if has_long_line(chunk, 2 * MAX_DEPTH):
            nested = chunk.count(b"{") - lines + (chunk.count(b"[") if b"[" in chunk else 0)
            if nested >= MAX_DEPTH:
                return None
        if self.prefilter is None:
            # Every record goes to the mapper: decode them all, then check their declared
            # fields at C speed (msgspec decodes no infinity, so "finite" holds). Any
            # record that fails sends the chunk line by line.
            try:
                records = _decode_objects.decode_lines(chunk)
                if self.fields:
                    msgspec.convert(records, self._rows_type)
            except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
                return None
            if len(records) != lines:  # a line holding two objects
                return None
            return self._map_items(chunk, lines, range(lines), records, encode_record)
        # The prefilter's rows: the declared fields only, checked as they are decoded.
        try:
            rows = self._decode_rows(chunk)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return None
        if len(rows) != lines:
            return None
        try:
            selected = _marked_true(self.prefilter(rows), lines)
        except Exception:
            selected = None
        if selected is None:
            selected = range(lines)  # the mapper decides, and reports errors per line
        if not selected:
            return ChunkResult(read=lines)
        records = []
        for raw in _lines_at(chunk, selected, lines):
            try:
                records.append(_decode_any.decode(raw))
            except (msgspec.DecodeError, msgspec.ValidationError):
                records.append(_parse_with_json(raw))  # a value beyond msgspec's range
        return self._map_items(chunk, lines, selected, records, encode_record)


def _row_type(fields: dict) -> type:
    """A msgspec Struct of the declared fields, for a prefilter's rows: an attribute per
    field, named as the field (``field_N`` when the name is not a Python identifier)."""
    specs, rename = [], {}
    for i, (name, kind) in enumerate(fields.items()):
        attribute = name if name.isidentifier() and not keyword.iskeyword(name) else f"field_{i}"
        specs.append((attribute, _FAST_FIELD_TYPES[kind]))
        rename[attribute] = name
    return msgspec.defstruct("Row", specs, rename=rename, gc=False)


# Byte 0 stays 0 and any other becomes 1: the prefilter's truth values as 0/1 flags.
_TRUTH = bytes([0] + [1] * 255)


def _marked_true(marks, lines: int) -> list[int] | None:
    """The numbers of the rows a prefilter marked true, or None when ``marks`` is not one
    truth value a row (then every row goes to the mapper).

    A prefilter usually keeps few rows: as bytes, its bools are found at memchr speed,
    rather than testing each one in Python (or ``compress``, which makes an int a row).
    """
    try:
        flags = bytes(marks).translate(_TRUTH)
    except (TypeError, ValueError):  # not ints 0..255 (floats, objects): test each one
        flags = bytes(map(bool, marks))
    if len(flags) != lines:
        return None
    kept = flags.count(1)
    if kept * 8 > lines:
        return list(compress(range(lines), flags))
    selected, at = [], flags.find(1)
    while at != -1:
        selected.append(at)
        at = flags.find(1, at + 1)
    return selected


def _lines_at(chunk: bytes, numbers, lines: int):
    """Yield lines ``numbers`` (0-based, ascending) of ``chunk``, without their newline.

    Jumps ahead by the mean line length and corrects with C-speed newline counts, so a few
    lines out of many cost about one pass over the chunk rather than a list of every line.
    """
    if len(numbers) * 16 > lines:  # many: splitting the whole chunk is cheaper
        every_line = chunk.split(b"\n")
        yield from (every_line[i] for i in numbers)
        return
    mean_length = len(chunk) / lines
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


class TextChunkMapper(ChunkMapper):
    """A text job: the mapper sees each line as str, blank lines included."""

    def map_line(self, raw: bytes) -> list[bytes]:
        return self._outputs(_decode_utf8(raw), encode_text)

    def map_fast(self, chunk: bytes) -> ChunkResult | None:
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            return None
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        return self._map_items(chunk, len(lines), range(len(lines)), lines, encode_text)
