"""Property tests of splits: every line of a file is read exactly once, whatever the split
and chunk sizes, and over-long lines are reported once in place of their text."""

from __future__ import annotations

import gzip

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamjobs.inputs import Chunk, LongLine, plan_splits, read_split

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

file_lines = st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=25)


@st.composite
def file_bytes(draw) -> bytes:
    body = draw(file_lines)
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=len(body), max_size=len(body)))
    data = b"".join(line + end for line, end in zip(body, ends, strict=True))
    if data and draw(st.booleans()):
        data = data.rstrip(b"\n")  # no final newline
    if draw(st.integers(0, 5)) == 0:
        data = b"\n" * draw(st.integers(1, 3)) + data  # empty first lines
    return data


def _file_lines(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, line number, text) of each line, the last one without a newline too."""
    out, offset = [], 0
    parts = data.split(b"\n")
    if data.endswith(b"\n") or not data:
        parts.pop()
    for number, text in enumerate(parts, start=1):
        out.append((offset, number, text))
        offset += len(text) + 1
    return out


def _read_all(path, data_size, split_bytes, chunk_bytes, max_line_bytes):
    """(offset, line number or None, text or None for a long line, length) read."""
    seen = []
    splits = plan_splits([str(path)], split_bytes)
    assert sum(split.size for split in splits) == data_size
    for split in splits:
        for item in read_split(split, chunk_bytes=chunk_bytes, max_line_bytes=max_line_bytes):
            if isinstance(item, LongLine):
                seen.append((item.offset, item.line, None, item.length))
                continue
            assert isinstance(item, Chunk) and item.data
            for i, (offset, _, text) in enumerate(_file_lines(item.data)):
                line = None if item.first_line is None else item.first_line + i
                seen.append((item.offset + offset, line, text, len(text)))
    return seen


@SETTINGS
@given(
    file_bytes(),
    st.integers(1, 80),
    st.integers(1, 64),
    st.one_of(st.just(1 << 20), st.integers(0, 20)),
)
def test_every_line_read_exactly_once(tmp_path, data, split_bytes, chunk_bytes, max_line_bytes):
    path = tmp_path / "input"
    path.write_bytes(data)
    seen = _read_all(path, len(data), split_bytes, chunk_bytes, max_line_bytes)
    want = _file_lines(data)
    assert [offset for offset, *_ in seen] == [offset for offset, *_ in want]
    for (_, line, text, length), (_, number, real) in zip(seen, want, strict=True):
        assert length == len(real)
        if length > max_line_bytes:
            assert text is None  # reported as a LongLine, its text never in a chunk
        else:
            assert text == real
        # Line numbers, when known, are right (they are known in a file's first split).
        assert line in (None, number)
    if split_bytes >= len(data):
        assert all(line is not None for _, line, _, _ in seen)


@SETTINGS
@given(file_bytes(), st.integers(1, 64))
def test_compressed_file_is_one_split_read_whole(tmp_path, data, chunk_bytes):
    path = tmp_path / "input.gz"
    path.write_bytes(gzip.compress(data))
    (split,) = plan_splits([str(path)], 1)
    text = b"".join(
        item.data for item in read_split(split, chunk_bytes=chunk_bytes) if isinstance(item, Chunk)
    )
    assert text == data
