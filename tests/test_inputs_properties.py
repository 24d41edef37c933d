"""Inputs read as documented: every line of a file exactly once, whatever the split and
chunk sizes, over-long lines reported once in place of their text; hidden names skipped
however the input is named; special files refused; a file changed during a run an error."""

from __future__ import annotations

import gzip
import os
import re
import socket
import tempfile

import luigi.configuration
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamjobs.config import SettingsError, streaming_settings
from streamjobs.inputs import (
    Chunk,
    InputError,
    LongLine,
    Split,
    list_input_files,
    plan_splits,
    read_split,
)
from tests.conftest import run_luigi

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


# ---- which files an input path names ---------------------------------------------------

names = st.sampled_from(["a", "b.json", "c.gz", "_x", ".y", "_SUCCESS", "_quarantine", ".tmp"])


FIFO = "fifo"  # a tree entry that is a FIFO, not a file


@st.composite
def trees(draw) -> dict:
    """{name: None for a file, FIFO for a FIFO, or {name: None | FIFO} for a directory}."""
    entries = st.sampled_from([None, None, None, FIFO])
    tree = {}
    for name in draw(st.lists(names, max_size=6, unique=True)):
        if draw(st.booleans()):
            tree[name] = draw(entries)
        else:
            inner = draw(st.lists(names, max_size=4, unique=True))
            tree[name] = {n: draw(entries) for n in inner}
    return tree


def _visible(name: str) -> bool:
    return not name.startswith(("_", "."))


def _is_dir(entry) -> bool:
    return isinstance(entry, dict)


def expected_files(tree: dict, how: str):
    """The files (relative paths) an input path names, stated plainly from the tree; or
    "error" when the input is refused (a visible directory inside a listed directory, a
    FIFO among the files named, or nothing to read)."""
    named = []  # (relative path, entry)
    if how == "dir":
        if any(_visible(n) and _is_dir(e) for n, e in tree.items()):
            return "error"
        named = [(n, e) for n, e in tree.items() if _visible(n)]
    elif how in ("dir/*", "dir/*/*"):
        for n, e in sorted(tree.items()):
            if not _visible(n):
                continue
            if not _is_dir(e):
                if how == "dir/*":
                    named.append((n, e))
                continue
            named += [(f"{n}/{m}", f) for m, f in sorted(e.items()) if _visible(m)]
    else:  # dir/_quarantine/*: a hidden directory named literally
        sub = tree.get("_quarantine")
        if _is_dir(sub):
            named = [(f"_quarantine/{m}", f) for m, f in sorted(sub.items()) if _visible(m)]
    if not named or any(entry == FIFO for _, entry in named):
        return "error"
    return sorted(path for path, _ in named)


def _make(path: str, entry) -> None:
    if entry == FIFO:
        os.mkfifo(path)
    elif entry is None:
        open(path, "wb").close()
    else:
        os.mkdir(path)
        for name, inner in entry.items():
            _make(os.path.join(path, name), inner)


@settings(max_examples=150, deadline=None)
@given(trees(), st.sampled_from(["dir", "dir/*", "dir/*/*", "dir/_quarantine/*"]))
def test_hidden_names_are_skipped_however_the_input_is_named(tree, how):
    with tempfile.TemporaryDirectory() as top:
        root = os.path.join(top, "dir")
        _make(root, tree)
        want = expected_files(tree, how)
        try:
            got = sorted(os.path.relpath(f, root) for f in list_input_files(os.path.join(top, how)))
        except InputError:
            got = "error"  # never a hang: nothing is opened
        assert got == want
        # A file named as is is read whatever its name; a FIFO so named is refused.
        for name, entry in tree.items():
            path = os.path.join(root, name)
            if entry is None:
                assert list_input_files(path) == [path]
            elif entry == FIFO:
                with pytest.raises(InputError, match="is a FIFO"):
                    list_input_files(path)


@settings(max_examples=40, deadline=None)
@given(st.integers(-3, 3), st.integers(-3, 3))
def test_invalid_settings_are_refused(split_mb, processes):
    config = luigi.configuration.get_config()
    added = not config.has_section("streaming")
    if added:
        config.add_section("streaming")
    config.set("streaming", "split_mb", str(split_mb))
    config.set("streaming", "processes", str(processes))
    try:
        if split_mb < 1 or processes < 0:
            with pytest.raises(SettingsError):
                streaming_settings()
        else:
            settings_ = streaming_settings()
            assert (settings_.split_mb, settings_.processes) == (split_mb, processes)
    finally:
        config.remove_option("streaming", "split_mb")
        config.remove_option("streaming", "processes")
        if added:
            config.remove_section("streaming")
    if split_mb < 1:  # and the planner never silently plans nothing
        with pytest.raises(ValueError):
            plan_splits([], split_mb << 20)


def test_a_glob_over_a_previous_output_reads_only_its_records(tmp_path):
    from luigi_hadoop import TestTaskMR

    from streamjobs.engines.local import LocalEngine
    from streamjobs.spec import JobSpec

    (tmp_path / "in").mkdir()
    lines = b"".join(b'{"index": %d, "total": 1}\n' % i for i in range(50))
    (tmp_path / "in" / "a.json").write_bytes(lines + b"bad\n")

    def run(inputs, out):
        spec = JobSpec.of_task(TestTaskMR(threshold=10.0), inputs, str(out), split_bytes=256)
        return LocalEngine(spec, processes=2, progress=False).run()

    first = run([str(tmp_path / "in")], tmp_path / "out")
    assert first["records"]["bad"] == 1 and (tmp_path / "out" / "_quarantine").is_dir()
    second = run([str(tmp_path / "out" / "*")], tmp_path / "again")
    # _SUCCESS, _COUNTERS.json and _quarantine/ are not records: only part files are read.
    assert second["records"] == {"read": 40, "written": 40, "bad": 0, "blank": 0}


# ---- special files, and files that change while read ---------------------------------


def _special_files(directory: str) -> dict[str, str]:
    """A FIFO and a socket in ``directory``: {path: what the error calls it}."""
    fifo = os.path.join(directory, "fifo")
    os.mkfifo(fifo)
    sock_path = os.path.join(directory, "sock")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(sock_path)
    sock.close()
    return {fifo: "a FIFO", sock_path: "a socket", "/dev/null": "a character device"}


def test_special_files_are_refused_before_anything_is_opened():
    with tempfile.TemporaryDirectory() as top:  # short: a socket's path is limited
        for path, kind in _special_files(top).items():
            with pytest.raises(InputError, match=f"{re.escape(path)} is {kind}, not a regular"):
                list_input_files(path)
            for split in (Split(path), Split(path, 0, None, 0, 0, 0)):  # planned or not
                with pytest.raises(InputError, match=kind):
                    list(read_split(split))
        with pytest.raises(InputError, match="fifo is a FIFO"):
            list_input_files(top)  # listed in a directory
        with pytest.raises(InputError, match="fifo is a FIFO"):
            list_input_files(os.path.join(top, "f*"))


@pytest.mark.parametrize("change", ["append", "truncate", "rewrite"])
@pytest.mark.parametrize("compressed", [False, True])
def test_a_file_changed_while_read_is_an_error_naming_it(tmp_path, change, compressed):
    data = b"".join(b'{"index": %d, "total": 1}\n' % i for i in range(2000))
    path = tmp_path / ("in\nERROR: forged.gz" if compressed else "in\nERROR: forged")
    path.write_bytes(gzip.compress(data) if compressed else data)
    (split,) = plan_splits([str(path)], 1 << 30)
    items = read_split(split, chunk_bytes=1024)
    next(items)
    if change == "append":
        with open(path, "ab") as stream:
            stream.write(b'{"index": 1, "total": 1}\n')
    elif change == "truncate":
        os.truncate(path, 100)
    else:  # same size, later time
        os.utime(path, ns=(split.mtime_ns + 10**9, split.mtime_ns + 10**9))
    with pytest.raises(InputError) as caught:
        list(items)
    message = str(caught.value)
    assert repr(str(path)) in message and "\n" not in message  # named, on one line
    assert "during the run" in message


def test_an_unchanged_file_reads_whole(tmp_path):
    data = b"x\n" * 5000
    path = tmp_path / "in"
    path.write_bytes(data)
    splits = plan_splits([str(path)], 999)
    read = b"".join(item.data for split in splits for item in read_split(split, chunk_bytes=100))
    assert read == data


def test_a_run_whose_input_grows_fails_and_publishes_nothing(tmp_path):
    from streamjobs.engines.local import LocalEngine
    from streamjobs.spec import JobSpec
    from tests.property_jobs import AppendsToInput

    path = tmp_path / "in.json"
    path.write_bytes(b'{"append": false}\n' * 100 + b'{"append": true}\n' + b"{}\n" * 100)
    job = AppendsToInput(input_path=str(path))
    spec = JobSpec.of_task(job, [str(path)], str(tmp_path / "out"))
    with pytest.raises(InputError, match=f"{re.escape(str(path))} was appended to during"):
        LocalEngine(spec, processes=1, progress=False).run()
    assert not (tmp_path / "out").exists()


# ---- through the command line ----------------------------------------------------------

JOB = ["--module", "luigi_hadoop", "TestTaskMR", "--local-scheduler"]


def _one_line_failure(result, *phrases: str, code: int = 2) -> str:
    assert result.returncode == code, result.stdout
    assert "Traceback" not in result.stdout
    errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    assert errors and all(phrase in errors[-1] for phrase in phrases), result.stdout
    return errors[-1]


@pytest.mark.parametrize(
    "config, args, phrase",
    [
        ("split_mb = -5\nprocesses = 1", [], "split_mb must be"),
        ("split_mb = 0", [], "split_mb must be"),
        ("processes = -1", [], "processes must be >= 0"),
        ("", ["--processes", "-2"], "--processes must be >= 0"),
    ],
)
def test_invalid_settings_are_refused_before_reading(tmp_path, config, args, phrase):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a").write_bytes(b'{"index": 1, "total": 2}\n')
    (tmp_path / "luigi.cfg").write_text(f"[streaming]\n{config}\n")
    result = run_luigi(
        [*JOB, "--input-path", "data", "--output-path", "out", *args],
        cwd=tmp_path,
        timeout=120,
        LUIGI_CONFIG_PATH=str(tmp_path / "luigi.cfg"),
    )
    _one_line_failure(result, "SettingsError", phrase)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("per_file", [False, True])
def test_a_fifo_in_the_input_is_an_error_not_a_hang(tmp_path, per_file):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a").write_bytes(b'{"index": 1, "total": 2}\n')
    os.mkfifo(tmp_path / "data" / "b")
    args = ["--per-file"] if per_file else []
    result = run_luigi(
        [*JOB, "--input-path", "data", "--output-path", "out", *args], cwd=tmp_path, timeout=60
    )
    _one_line_failure(result, "data/b is a FIFO, not a regular file")
    assert not (tmp_path / "out").exists()


def test_a_file_name_cannot_forge_log_lines(tmp_path):
    (tmp_path / "data").mkdir()
    name = "a\nERROR: forged line\n"
    (tmp_path / "data" / name).write_bytes(b'{"index": 1, "total": 2}\nnot json\n')
    for i, limit in enumerate(([], ["--max-bad-records", "0"])):
        result = run_luigi(
            [*JOB, "--input-path", "data", "--output-path", f"out{i}", *limit],
            cwd=tmp_path,
            timeout=120,
        )
        assert not [line for line in result.stdout.splitlines() if "forged" in line[:20]]
        assert repr(f"data/{name}") in result.stdout, result.stdout
    _one_line_failure(result, "TooManyBadRecords")
