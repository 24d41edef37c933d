"""Input files, their splits, and reading a split as chunks of whole lines.

Splits follow Hadoop's rules so every engine sees the same lines: an uncompressed file is
cut into byte ranges; a line belongs to the split in which it starts (a split skips the
partial line it begins in and reads past its end to finish its last line); a compressed
file (``.gz``, ``.bz2``) is one split, decompressed on the fly.

A path is a local path or an ``s3://`` URL (objects listed, sized and read by byte range
in ``streamjobs.s3``, imported only then); the splitting logic is the same for both.

Which files an input path names: a file named as is is read whatever its name; a
directory's files and a glob's matches skip names starting with ``_`` or ``.`` (Hadoop's
markers and temporary files: ``_SUCCESS``, ``_COUNTERS.json``, ``_quarantine/``), unless the
pattern's own component starts so. Anything that is not a regular file (or a link to one)
is an InputError naming it, before anything is opened: opening a FIFO would block for ever.
A local file that changes size or modification time between planning and the end of its
reading is an InputError too: its records would be neither the old ones nor the new ones.
"""

from __future__ import annotations

import bz2
import contextlib
import glob
import gzip
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from streamjobs.errors import JobError, quote_path

COMPRESSED_OPENERS = {".gz": gzip.open, ".bz2": bz2.open}
# Reads of 128 KiB: big enough that per-chunk work is noise, small enough that a chunk's
# records fit in memory Python's allocator already holds. From 256 KiB up, each chunk's
# objects take fresh arenas that are returned to the system afterwards, and the page
# faults cost 15% (1 MiB: 230 ns a line of the post's job against 197 ns).
CHUNK_BYTES = 128 << 10
_GLOB_CHARS = "*?["
# Lines longer than this are bad records ("line_too_long"), as Hadoop's
# mapreduce.input.linerecordreader.line.maxlength would skip them: one runaway line must
# not take a worker's memory with it.
DEFAULT_MAX_LINE_BYTES = 1 << 20


class InputError(JobError):
    """An input path that cannot be read as the job's input; the message names it."""


def is_hidden(name: str) -> bool:
    """Hadoop skips files whose names start with ``_`` or ``.`` (markers, temp files)."""
    return name.startswith(("_", "."))


def is_compressed(path: str) -> bool:
    return os.path.splitext(path)[1] in COMPRESSED_OPENERS


def _is_s3(path: str) -> bool:
    return path[:5].lower() == "s3://"


def list_input_files(path: str) -> list[str]:
    """The files an input path names: a file, a directory's visible files, or a glob's
    visible matches (see the module docstring); each checked to be a readable file."""
    if _is_s3(path):
        from streamjobs import s3

        return s3.list_input_files(path)
    if any(char in path for char in _GLOB_CHARS):
        matches = [match for match in sorted(glob.glob(path)) if not _hidden_match(path, match)]
        if not matches:
            raise InputError(f"input path matches no files: {quote_path(path)}")
        files: list[str] = []
        for match in matches:
            files.extend(_files_of(match))
    elif os.path.exists(path):
        files = _files_of(path)
    else:
        raise InputError(f"input path does not exist: {quote_path(path)}")
    if not files:
        raise InputError(f"input path has no input files: {quote_path(path)}")
    for file in files:
        check_regular_file(file)
        if not os.access(file, os.R_OK):
            raise InputError(f"input file is not readable: {quote_path(file)}")
    return files


def _hidden_match(pattern: str, match: str) -> bool:
    """Whether a glob matched a hidden name with a component that does not start hidden
    (``out/*`` never names ``out/_SUCCESS``; ``out/_quarantine/*`` names its files)."""
    for pat, part in zip(pattern.split(os.sep), match.split(os.sep), strict=False):
        if part != pat and is_hidden(part) and not is_hidden(pat):
            return True
    return False


def _files_of(path: str) -> list[str]:
    if not os.path.isdir(path):
        return [path]
    files = []
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if is_hidden(name):
            continue
        if os.path.isdir(full):
            # Hadoop refuses nested directories too; skipping them would lose their records.
            raise InputError(f"input directory holds a directory, not a file: {quote_path(full)}")
        files.append(full)
    return files


_FILE_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
}


def check_regular_file(path: str) -> os.stat_result:
    """``os.stat`` of an input file (through links), or an InputError naming it when it is
    missing or not a regular file. Never opens it: opening a FIFO blocks."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(
            f"input file does not exist (a broken link?): {quote_path(path)}"
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read input file {quote_path(path)}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = _FILE_KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise InputError(
            f"input {quote_path(path)} is {kind}, not a regular file; "
            "remove it from the input or name the files to read"
        )
    return info


def input_exists(path: str) -> bool:
    if _is_s3(path):
        from streamjobs import s3

        return s3.input_exists(path)
    if any(char in path for char in _GLOB_CHARS):
        return bool(glob.glob(path))
    return os.path.exists(path)


@dataclass(frozen=True)
class Split:
    """Lines of ``path`` that start in bytes [start, end); end None: to the end."""

    path: str
    start: int = 0
    end: int | None = None
    size: int = 0  # bytes this split covers, for progress
    # The local file's size and modification time when the run was planned: reading
    # checks them, so that a file changed during the run fails it (None: not checked).
    file_size: int | None = None
    mtime_ns: int | None = None


def file_size(path: str) -> int:
    """The size of an input file or object, in bytes."""
    if _is_s3(path):
        from streamjobs import s3

        return s3.object_size(path)
    return os.path.getsize(path)


def plan_splits(files: list[str], split_bytes: int) -> list[Split]:
    """Cut files into splits of at most ``split_bytes`` (compressed files stay whole)."""
    if split_bytes < 1:
        raise ValueError(f"split_bytes must be >= 1, not {split_bytes}")
    splits = []
    for path in files:
        if _is_s3(path):
            size, mtime_ns = file_size(path), None
        else:
            info = check_regular_file(path)
            size, mtime_ns = info.st_size, info.st_mtime_ns
        seen = {"file_size": size, "mtime_ns": mtime_ns}
        if is_compressed(path) or size <= split_bytes:
            splits.append(Split(path, 0, None, size, **seen))
            continue
        for start in range(0, size, split_bytes):
            end = min(start + split_bytes, size)
            splits.append(Split(path, start, None if end == size else end, end - start, **seen))
    return splits


@dataclass
class LongLine:
    """A line cut off at the length limit: where it started, its length, its first bytes."""

    offset: int
    line: int | None
    length: int
    prefix: bytes


@dataclass
class Chunk:
    """Whole lines (each ends in a newline but perhaps the file's last) and where from."""

    data: bytes
    offset: int
    first_line: int | None  # number of the chunk's first line, when the split starts the file
    # How many lines ``data`` holds, when the consumer already counted them (a mapper's
    # ``ChunkResult.read``): set it before asking for the next chunk to spare a recount.
    lines: int | None = None


def open_binary(path: str):
    """A binary stream of a file's lines, decompressed when the name says so."""
    decompress = COMPRESSED_OPENERS.get(os.path.splitext(path)[1])
    if _is_s3(path):
        from streamjobs import s3

        return s3.open_object(path, decompress)
    return (decompress or open)(path, "rb")


def read_split(
    split: Split,
    chunk_bytes: int = CHUNK_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    opener=open_binary,
) -> Iterator[Chunk | LongLine]:
    """Yield the split's lines as Chunks, and a LongLine for each line over the limit.

    A local file is checked to be a regular file before it is opened; one planned with its
    size and time (``plan_splits``) is checked unchanged once opened and once read.
    """
    if opener is not open_binary or _is_s3(split.path):
        with opener(split.path) as stream:
            yield from read_lines(stream, split.start, split.end, chunk_bytes, max_line_bytes)
        return
    check_regular_file(split.path)
    with open(split.path, "rb") as raw:
        _check_unchanged(split, raw)
        decompress = COMPRESSED_OPENERS.get(os.path.splitext(split.path)[1])
        # Closing a decompressor leaves ``raw`` open for the last check.
        try:
            with decompress(raw, "rb") if decompress else contextlib.nullcontext(raw) as stream:
                yield from read_lines(stream, split.start, split.end, chunk_bytes, max_line_bytes)
        except (OSError, EOFError, zlib.error):
            _check_unchanged(split, raw)  # a file cut short: say so rather than "corrupt"
            raise
        _check_unchanged(split, raw)


def _check_unchanged(split: Split, raw) -> None:
    if split.mtime_ns is None:
        return  # not planned here (a runner's own split): nothing to compare with
    info = os.fstat(raw.fileno())
    if (info.st_size, info.st_mtime_ns) != (split.file_size, split.mtime_ns):
        change = "truncated" if info.st_size < split.file_size else "changed"
        if info.st_size > split.file_size:
            change = "appended to"
        raise InputError(
            f"input file {quote_path(split.path)} was {change} during the run "
            f"({split.file_size} bytes when the run began, {info.st_size} now); "
            "nothing was published: run again once it is complete"
        )


def read_lines(
    stream,
    start: int = 0,
    end: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[Chunk | LongLine]:
    """Whole lines of ``stream`` that start in bytes [start, end), as in ``read_split``."""
    position = start  # offset of the first byte not yet yielded
    line_number = 1 if start == 0 else None
    pending = b""
    if start > 0:
        # Seek one byte early: if that byte ends a line, the split begins on a fresh line.
        stream.seek(start - 1)
        skipped, pending = _skip_line(stream, b"", chunk_bytes)
        if pending is None:
            return
        position = start - 1 + skipped + 1
    while end is None or position < end:
        block = stream.read(chunk_bytes)
        buffer = pending + block if pending else block
        if not buffer:
            return
        cut, last = -1, False
        if end is not None and position + len(buffer) >= end:
            # The line holding byte end-1 is this split's last; later ones are the next's.
            cut = buffer.find(b"\n", end - 1 - position)
            last = cut != -1
        if cut == -1:
            cut = buffer.rfind(b"\n")
        if not block and not last:
            cut, last = len(buffer) - 1, True  # end of file: the last line may lack "\n"
        if cut == -1:
            pending = buffer
            if len(pending) > max_line_bytes:
                length, rest = _skip_line(stream, pending, chunk_bytes)
                yield LongLine(position, line_number, length, pending[:4096])
                if rest is None:
                    return
                position += length + 1
                if line_number is not None:
                    line_number += 1
                pending = rest
            continue
        chunk, pending = buffer[: cut + 1], buffer[cut + 1 :]
        if has_long_line(chunk, max_line_bytes):
            yield from _split_out_long(chunk, position, line_number, max_line_bytes)
            if line_number is not None:
                line_number += chunk.count(b"\n")
        else:
            item = Chunk(chunk, position, line_number)
            yield item
            if line_number is not None:
                line_number += chunk.count(b"\n") if item.lines is None else item.lines
        position += len(chunk)
        if last:
            return


def _skip_line(stream, head: bytes, chunk_bytes: int) -> tuple[int, bytes | None]:
    """Consume a line that begins with ``head`` up to its newline.

    Returns the line's length (newline excluded) and the bytes read past the newline, or
    None for those when the file ended first. Never seeks: compressed streams cannot.
    """
    length = len(head)
    while True:
        block = stream.read(chunk_bytes)
        if not block:
            return length, None
        found = block.find(b"\n")
        if found != -1:
            return length + found, block[found + 1 :]
        length += len(block)


def has_long_line(chunk: bytes, max_line_bytes: int) -> bool:
    """Whether a line of ``chunk`` (newline excluded) is longer than ``max_line_bytes``.

    The line starting at ``start`` is short exactly when a newline lies within
    ``max_line_bytes`` of it; every line before the last such newline is shorter still, so
    each memrchr-speed ``rfind`` clears a whole window without splitting the chunk.
    """
    start, size = 0, len(chunk)
    while size - start > max_line_bytes:
        newline = chunk.rfind(b"\n", start, start + max_line_bytes + 1)
        if newline == -1:
            return True
        start = newline + 1
    return False


def _split_out_long(chunk, position, line_number, max_line_bytes):
    """Yield runs of normal lines as Chunks and each over-long line as a LongLine."""
    run_start, run_line = 0, line_number
    start = 0
    lines = chunk.split(b"\n")
    if chunk.endswith(b"\n"):
        lines.pop()
    for line in lines:
        if len(line) > max_line_bytes:
            if start > run_start:
                yield Chunk(chunk[run_start:start], position + run_start, run_line)
            yield LongLine(position + start, line_number, len(line), line[:4096])
            run_start, run_line = start + len(line) + 1, None
        start += len(line) + 1
        if line_number is not None:
            line_number += 1
        if run_line is None and line_number is not None:
            run_line = line_number
    if start > run_start:
        yield Chunk(chunk[run_start:start], position + run_start, run_line)
