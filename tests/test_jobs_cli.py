"""The post's commands end to end, run as a user runs them: `luigi --module ...`."""

from __future__ import annotations

import bz2
import gzip
import json
import os
import random
import time

import pytest

from streamjobs.generate import generate
from streamjobs.tools.local_luigid import free_port
from tests import oracle
from tests.conftest import ROOT, run_luigi


def unseen_lines(seed: int, count: int) -> bytes:
    """Lines unlike the generator's: ints, negatives, extra keys, varied spacing."""
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        index = rng.choice([rng.random() * 2, rng.randint(-3, 3), -rng.random()])
        total = rng.choice([rng.random() * 2, rng.randint(0, 2)])
        obj = {"id": n, "index": index, "total": total}
        if rng.random() < 0.3:
            obj = {"total": total, "tag": "é" * rng.randint(0, 3), "index": index}
        sep = rng.choice([(",", ":"), (", ", ": ")])
        lines.append(json.dumps(obj, separators=sep, ensure_ascii=rng.random() < 0.5))
    return ("\n".join(lines) + "\n").encode()


def read_output_dir(path) -> list[dict]:
    records = []
    for name in sorted(os.listdir(path)):
        if name.startswith("part-"):
            with open(os.path.join(path, name), "rb") as part:
                records.extend(json.loads(line) for line in part)
    return records


@pytest.fixture
def unseen_input(tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    contents = [unseen_lines(seed, 3000) for seed in (11, 12, 13)]
    (data / "a.json").write_bytes(contents[0])
    (data / "b.json").write_bytes(contents[1].replace(b"\n", b"\r\n").rstrip(b"\r\n"))
    (data / "c.json.gz").write_bytes(gzip.compress(contents[2]))
    (data / "_ignored.json").write_bytes(b"not input\n")
    (data / ".hidden").write_bytes(b"not input\n")
    return data, contents


@pytest.mark.parametrize("threshold", ["1.5", "0.25"])
def test_testtaskmr_writes_exactly_the_expected_records(tmp_path, unseen_input, threshold):
    data, contents = unseen_input
    out = tmp_path / "out"
    result = run_luigi(
        [
            "--module",
            "luigi_hadoop",
            "TestTaskMR",
            "--local-scheduler",
            "--input-path",
            str(data),
            "--output-path",
            str(out),
            "--threshold",
            threshold,
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout
    kept, counts = oracle.expected(contents, float(threshold))
    assert kept, "the test data must keep some records"
    assert oracle.canonical(read_output_dir(out)) == oracle.canonical(kept)

    names = sorted(os.listdir(out))
    assert names == ["_COUNTERS.json", "_SUCCESS", "part-00000", "part-00001", "part-00002"]
    counters = json.loads((out / "_COUNTERS.json").read_text())
    assert counters["records"] == {
        "read": sum(counts.values()),
        "written": len(kept),
        "bad": 0,
        "blank": 0,
    }
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []  # no staging left


def test_a_rerun_with_complete_output_does_nothing(tmp_path, unseen_input):
    data, _ = unseen_input
    args = [
        "--module",
        "luigi_hadoop",
        "TestTaskMR",
        "--local-scheduler",
        "--input-path",
        str(data),
        "--output-path",
        str(tmp_path / "out"),
    ]
    assert run_luigi(args, cwd=tmp_path).returncode == 0
    before = {p: os.stat(tmp_path / "out" / p).st_mtime_ns for p in os.listdir(tmp_path / "out")}
    again = run_luigi(args, cwd=tmp_path)
    assert again.returncode == 0
    assert "1 complete ones were encountered" in again.stdout
    after = {p: os.stat(tmp_path / "out" / p).st_mtime_ns for p in os.listdir(tmp_path / "out")}
    assert after == before


def test_defaults_follow_the_post_on_generated_data(tmp_path):
    paths = generate(str(tmp_path / "data"), files=2, lines=20_000, seed=7)
    result = run_luigi(
        ["--module", "luigi_hadoop", "TestTaskMR", "--local-scheduler"], cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout
    contents = [open(path, "rb").read() for path in paths]
    kept, _ = oracle.expected(contents, 1.99)
    assert oracle.canonical(read_output_dir(tmp_path / "out_data6")) == oracle.canonical(kept)


def test_one_large_file_is_split_across_processes(tmp_path):
    (tmp_path / "big.json").write_bytes(unseen_lines(5, 40_000))
    result = run_luigi(
        [
            "--module",
            "luigi_hadoop",
            "TestTaskMR",
            "--local-scheduler",
            "--processes",
            "2",
            "--input-path",
            str(tmp_path / "big.json"),
            "--output-path",
            str(tmp_path / "out"),
            "--threshold",
            "1",
        ],
        cwd=tmp_path,
        LUIGI_CONFIG_PATH=str(write_config(tmp_path, "[streaming]\nsplit_mb = 1\n")),
    )
    assert result.returncode == 0, result.stdout
    parts = [p for p in os.listdir(tmp_path / "out") if p.startswith("part-")]
    assert len(parts) > 1
    kept, _ = oracle.expected([(tmp_path / "big.json").read_bytes()], 1.0)
    assert oracle.canonical(read_output_dir(tmp_path / "out")) == oracle.canonical(kept)


def write_config(tmp_path, text: str):
    path = tmp_path / "test.cfg"
    path.write_text(text)
    return path


def test_input_path_takes_a_glob(tmp_path, unseen_input):
    data, contents = unseen_input
    result = run_luigi(
        [
            "--module",
            "luigi_hadoop",
            "TestTaskMR",
            "--local-scheduler",
            "--input-path",
            str(data / "*.json"),
            "--output-path",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout
    kept, _ = oracle.expected(contents[:2], 1.99)
    assert oracle.canonical(read_output_dir(tmp_path / "out")) == oracle.canonical(kept)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_lotsotasks_writes_one_output_file_per_input(tmp_path, unseen_input, workers):
    data, contents = unseen_input
    out = tmp_path / "out"
    result = run_luigi(
        [
            "--module",
            "luigi_multiprocess",
            "LotsOTasks",
            "--workers",
            workers,
            "--local-scheduler",
            "--input-path",
            str(data),
            "--output-path",
            str(out),
            "--threshold",
            "1.25",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout
    assert "3 TestTask(" in result.stdout
    for name, content in zip(["a.json", "b.json", "c.json"], contents, strict=True):
        kept, _ = oracle.expected([content], 1.25)
        with open(out / name, "rb") as output:
            got = [json.loads(line) for line in output]
        assert oracle.canonical(got) == oracle.canonical(kept)
        counters = json.loads((out / "_counters" / name).read_text())
        assert counters["records"]["written"] == len(kept)


@pytest.mark.parametrize(
    "module,task", [("luigi_hadoop", "TestTaskMR"), ("luigi_multiprocess", "LotsOTasks")]
)
def test_a_missing_input_exits_non_zero_naming_the_path(tmp_path, module, task):
    missing = str(tmp_path / "no-such-dir")
    result = run_luigi(
        [
            "--module",
            module,
            task,
            "--local-scheduler",
            "--input-path",
            missing,
            "--output-path",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "no-such-dir" in result.stdout
    assert not (tmp_path / "out").exists()


def test_a_failing_task_exits_non_zero_from_any_directory(tmp_path):
    # No client.cfg here: the [retcode] defaults must come from the code.
    (tmp_path / "in.json").write_bytes(b'{"index": 1, "total": 1}\n')
    result = run_luigi(
        [
            "--module",
            "luigi_hadoop",
            "TestTaskMR",
            "--local-scheduler",
            "--engine",
            "nope",
            "--input-path",
            str(tmp_path / "in.json"),
            "--output-path",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stdout
    assert "unknown engine 'nope'" in result.stdout


def test_the_generator_is_reproducible(tmp_path):
    first = generate(str(tmp_path / "a"), files=2, lines=1000, seed=3)
    second = generate(str(tmp_path / "b"), files=2, lines=1000, seed=3)
    for one, two in zip(first, second, strict=True):
        assert open(one, "rb").read() == open(two, "rb").read()
    line = json.loads(open(first[0]).readline())
    assert set(line) == {"index", "total"} and 0 <= line["index"] < 1


def per_file(tmp_path, input_path: str, *extra: str, out: str = "out"):
    return run_luigi(
        ["--module", "luigi_hadoop", "TestTaskMR", "--local-scheduler", "--per-file"]
        + ["--input-path", input_path, "--output-path", out, *extra],
        cwd=tmp_path,
    )


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("ERROR")]


def test_per_file_inputs_for_one_output_name_are_refused_before_anything_runs(tmp_path):
    (tmp_path / "in").mkdir()
    data = b'{"index": 1, "total": 1.5}\n'
    (tmp_path / "in" / "a.json").write_bytes(data)
    (tmp_path / "in" / "a.json.gz").write_bytes(gzip.compress(data))
    (tmp_path / "in" / "a.json.bz2").write_bytes(bz2.compress(data))
    result = per_file(tmp_path, "in")
    assert result.returncode == 2, result.stdout
    (line,) = error_lines(result.stdout)
    assert "would both write" in line and "a.json" in line
    assert "Traceback" not in result.stdout
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


@pytest.mark.parametrize("engine", ["hadoop", "spark"])
def test_per_file_with_a_cluster_engine_is_refused_in_one_line(tmp_path, engine):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_bytes(b'{"index": 1, "total": 1.5}\n')
    result = per_file(tmp_path, "in", "--engine", engine)
    assert result.returncode == 2, result.stdout
    (line,) = error_lines(result.stdout)
    assert "--per-file" in line and f"--engine {engine}" in line, line
    assert not (tmp_path / "out").exists()


def test_same_named_files_in_globbed_directories_keep_their_directories(tmp_path):
    for number in (1, 2):
        (tmp_path / "in" / f"d{number}").mkdir(parents=True)
        line = b'{"index": %d, "total": 1.5}\n' % number
        (tmp_path / "in" / f"d{number}" / "a.json").write_bytes(line)
    result = per_file(tmp_path, "in/d*/a.json")
    assert result.returncode == 0, result.stdout
    for number in (1, 2):
        got = json.loads((tmp_path / "out" / f"d{number}" / "a.json").read_bytes())
        assert got["index"] == number
        counters = json.loads(
            (tmp_path / "out" / "_counters" / f"d{number}" / "a.json").read_text()
        )
        assert counters["records"]["written"] == 1


def test_an_input_file_with_glob_characters_is_read_as_itself(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "br[1].json").write_bytes(b'{"index": 5, "total": 1}\n')
    (tmp_path / "in" / "br1.json").write_bytes(b'{"index": 7, "total": 1}\n')
    result = per_file(tmp_path, "in")
    assert result.returncode == 0, result.stdout
    assert json.loads((tmp_path / "out" / "br[1].json").read_bytes())["index"] == 5
    assert json.loads((tmp_path / "out" / "br1.json").read_bytes())["index"] == 7


def test_any_job_runs_per_file_and_a_different_run_is_refused(tmp_path, unseen_input):
    data, contents = unseen_input
    result = per_file(tmp_path, str(data), "--threshold", "1.5", "--workers", "2")
    assert result.returncode == 0, result.stdout
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    for name, content in zip(["a.json", "b.json", "c.json"], contents, strict=True):
        kept, _ = oracle.expected([content], 1.5)
        got = [json.loads(line) for line in (out / name).read_bytes().splitlines()]
        assert oracle.canonical(got) == oracle.canonical(kept)
        assert json.loads((out / "_counters" / name).read_text())["records"]["written"] == len(kept)
    # Another threshold into the same directory: refused whole, before anything runs.
    other = per_file(tmp_path, str(data), "--threshold", "0.5")
    assert other.returncode == 2, other.stdout
    (line,) = error_lines(other.stdout)
    assert "holds the output of another run" in line
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    # The same command again finds its own output complete.
    again = per_file(tmp_path, str(data), "--threshold", "1.5")
    assert again.returncode == 0 and "complete ones were encountered" in again.stdout


def test_a_non_empty_output_directory_is_refused_before_the_input_is_read(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json.gz").write_bytes(b"not gzip at all")  # fails when read
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_bytes(b"mine\n")
    for extra in ([], ["--per-file"]):
        result = run_luigi(
            ["--module", "luigi_hadoop", "TestTaskMR", "--local-scheduler", *extra]
            + ["--input-path", "in", "--output-path", "out"],
            cwd=tmp_path,
        )
        assert result.returncode == 2, result.stdout
        (line,) = error_lines(result.stdout)
        assert "exists and is not empty" in line and "a.json.gz" not in line, line
        assert os.listdir(tmp_path / "out") == ["notes.txt"]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--threshold", "abc"], "--threshold must be a number, not 'abc'"),
        (["--threshold", "nan"], "--threshold must be a finite number, not nan"),
        (["--threshold", "inf"], "--threshold must be a finite number, not inf"),
    ],
)
def test_an_invalid_parameter_is_one_line_and_exit_4(tmp_path, args, message):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_bytes(b'{"index": 1, "total": 1.5}\n')
    result = run_luigi(
        ["--module", "luigi_hadoop", "TestTaskMR", "--local-scheduler"]
        + ["--input-path", "in", "--output-path", "out", *args],
        cwd=tmp_path,
    )
    assert result.returncode == 4, result.stdout
    assert error_lines(result.stdout) == [f"ERROR: ParameterError: {message}"], result.stdout
    assert "Traceback" not in result.stdout
    assert not (tmp_path / "out").exists()


def test_help_shows_the_defaults(tmp_path):
    result = run_luigi(["--module", "luigi_hadoop", "TestTaskMR", "--help"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    text = " ".join(result.stdout.split())
    for shown in ("(default: 1.99)", "(default: out_data6)", "default: data"):
        assert shown in text, result.stdout


def test_a_forgotten_local_scheduler_is_one_line_within_seconds(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_bytes(b'{"index": 1, "total": 1.5}\n')
    port = str(free_port())
    started = time.monotonic()
    result = run_luigi(
        ["--module", "luigi_hadoop", "TestTaskMR", "--scheduler-host", "127.0.0.1"]
        + ["--scheduler-port", port, "--input-path", "in", "--output-path", "out"],
        cwd=tmp_path,
        timeout=60,
    )
    assert time.monotonic() - started < 15, result.stdout
    assert result.returncode == 4, result.stdout  # as the README says
    (line,) = error_lines(result.stdout)
    assert "no Luigi scheduler answers at" in line and f"127.0.0.1:{port}" in line, line
    assert "--local-scheduler" in line
    assert "Traceback" not in result.stdout


@pytest.mark.parametrize("shape", ["whole", "per-file"])
@pytest.mark.parametrize(
    "module,task,data",
    [
        ("sales_job", "SalesOver", b'{"price": 30, "qty": 4}\n{"price": 1, "qty": 1}\n'),
        ("error_lines", "ErrorLines", b"ERROR: disk: full\nINFO: fine\nERROR:x\n"),
    ],
)
def test_the_examples_run_from_their_directory(tmp_path, module, task, data, shape):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.log").write_bytes(data)
    extra = ["--workers", "2", "--per-file"] if shape == "per-file" else []
    result = run_luigi(
        ["--module", module, task, "--local-scheduler"]
        + ["--input-path", "in", "--output-path", "out", *extra],
        cwd=tmp_path,
        PYTHONPATH=os.path.join(ROOT, "examples"),
    )
    assert result.returncode == 0, result.stdout
    got = (tmp_path / "out" / ("a.log" if shape == "per-file" else "part-00000")).read_bytes()
    if task == "SalesOver":
        assert [json.loads(line) for line in got.splitlines()] == [
            {"price": 30, "qty": 4, "amount": 120}
        ]
    else:
        assert got == b"ERROR\tdisk: full\nERROR\tx\n"
