"""Jobs on mrjob's inline and local runners, run as a user runs them.

``python -m mr_json_filter`` (the post's TestTaskMR) and ``python -m streamjobs.mrjob
MODULE.CLASS`` (a user's job, a text job): the same records, counters and quarantine as
the local engine; atomic output; bad-record limit; parameters; interruptions.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from streamjobs.counters import BAD_RECORDS, RECORDS
from streamjobs.engines.local import LocalEngine
from streamjobs.spec import JobSpec
from tests import oracle
from tests.conftest import ROOT, luigi_env
from tests.test_jobs_cli import read_output_dir, unseen_lines

EXAMPLES = os.path.join(ROOT, "examples")
# Where mrjob's task wrapper takes its lock, whatever TMPDIR says.
SHARED_LOCKS = "/tmp/wrapper.lock.*"

# Bad lines of every reason the post's job can meet, and what each counts as.
BAD_LINES = [
    (b'{"index": 1, "total": ', "invalid_json"),
    (b'{"index": 1, "total": 2, "tag": "\xff"}', "invalid_utf8"),
    (b"[1, 2]", "not_an_object"),
    (b'{"index": 3}', "missing_field"),
    (b'{"index": "3", "total": 1}', "not_a_number"),
    (b'{"index": NaN, "total": 1}', "invalid_json"),
    (b'{"index": 1e308, "total": 1e308}', "not_finite"),
    (b'{"index": 1, "pad": "' + b"x" * (1 << 20), "line_too_long"),
]
BLANK_LINES = [b"", b"   ", b"\t"]


def with_bad_and_blank_lines(good: bytes) -> bytes:
    """``good`` with every bad and blank line spread among its lines."""
    lines = good.rstrip(b"\n").split(b"\n")
    extra = [line for line, _ in BAD_LINES] + BLANK_LINES
    step = len(lines) // (len(extra) + 1)
    for n, line in enumerate(extra):
        lines.insert((n + 1) * step + n, line)
    return b"\n".join(lines) + b"\n"


@pytest.fixture
def mixed_input(tmp_path):
    """A directory of four unseen files (LF with bad lines, CRLF without a final newline,
    gzip, a name with a space) and two that every engine skips (``_``/``.`` names); the
    files' contents."""
    data = tmp_path / "in"
    data.mkdir()
    contents = [
        with_bad_and_blank_lines(unseen_lines(21, 1500)),
        unseen_lines(22, 1500).replace(b"\n", b"\r\n").rstrip(b"\r\n"),
        unseen_lines(23, 1500),
        unseen_lines(24, 300),
    ]
    (data / "a.json").write_bytes(contents[0])
    (data / "b.json").write_bytes(contents[1])
    (data / "c.json.gz").write_bytes(gzip.compress(contents[2]))
    (data / "d e.json").write_bytes(contents[3])
    (data / "_SUCCESS").write_bytes(b"not input\n")
    (data / ".a.json.crc").write_bytes(b"not input\n")
    return data, contents


def command(module: str, args: list[str], tmp_path) -> tuple[list[str], dict]:
    """The command line and environment of a run in ``tmp_path``; its temporary files
    go to ``tmp_path/tmp`` so that a test can see that none is left."""
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    env = luigi_env(PYTHONPATH=EXAMPLES, TMPDIR=str(scratch))
    return [sys.executable, "-m", module, *args], env


def run_job(args: list[str], cwd) -> subprocess.CompletedProcess:
    """``python -m mr_json_filter ARGS`` in ``cwd``, output as bytes."""
    cmd = [sys.executable, "-m", "mr_json_filter", *args]
    return subprocess.run(cmd, cwd=cwd, env=luigi_env(), capture_output=True, timeout=120)


def run(module: str, args: list[str], tmp_path) -> subprocess.CompletedProcess:
    cmd, env = command(module, args, tmp_path)
    locks = set(glob.glob(SHARED_LOCKS))
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, timeout=120)
    assert set(glob.glob(SHARED_LOCKS)) <= locks, "a task left its lock file in /tmp"
    result.stderr = result.stderr.decode("utf-8", "replace")
    return result


def assert_no_leftovers(tmp_path, *expected: str) -> None:
    """Nothing but ``expected`` (and the inputs) in ``tmp_path``; no temporary files."""
    assert os.listdir(tmp_path / "tmp") == [], "no temporary files are left"
    names = set(os.listdir(tmp_path)) - {"in", "tmp", "__pycache__"}
    assert names == set(expected), "no staging directory is left"


def printed_counters(stderr: str) -> dict[str, dict[str, int]]:
    """The counters mrjob prints after a run (``Counters: N``, then groups and names)."""
    counters: dict[str, dict[str, int]] = {}
    lines = stderr.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("Counters: "))
    group = None
    for line in lines[start + 1 :]:
        if line.startswith("\t\t"):
            name, value = line.strip().split("=")
            counters[group][name] = int(value)
        elif line.startswith("\t"):
            group = line.strip()
            counters[group] = {}
        else:
            break
    return counters


def expected_counters(contents: list[bytes], threshold: float) -> dict[str, dict[str, int]]:
    kept, counts = oracle.expected(contents, threshold)
    reasons: dict[str, int] = {}
    for _, reason in BAD_LINES:
        reasons[reason] = reasons.get(reason, 0) + 1
    assert counts["bad"] == len(BAD_LINES)
    return {
        RECORDS: {
            "read": sum(counts.values()),
            "written": len(kept),
            "bad": counts["bad"],
            "blank": counts["blank"],
        },
        BAD_RECORDS: reasons,
    }


def read_quarantine(out) -> list[dict]:
    directory = out / "_quarantine"
    entries = []
    for name in sorted(os.listdir(directory)):
        with open(directory / name, "rb") as stream:
            entries.extend(json.loads(line) for line in stream)
    return sorted(entries, key=lambda entry: (entry["source"], entry["offset"]))


def local_engine_output(job: str, params: dict, data, out) -> None:
    """The local engine's output of the same job on the same input, for comparison."""
    spec = JobSpec(job=job, params=params, inputs=[str(data)], output=str(out))
    LocalEngine(spec, processes=1, progress=False).run()


@pytest.mark.parametrize("runner", ["inline", "local"])
def test_testtaskmr_equals_the_local_engine(tmp_path, mixed_input, runner):
    data, contents = mixed_input
    out = tmp_path / "out"
    result = run(
        "mr_json_filter", ["-r", runner, "--threshold", "1.5", "-o", "out", str(data)], tmp_path
    )
    assert result.returncode == 0, result.stderr

    kept, _ = oracle.expected(contents, 1.5)
    assert kept, "the test data must keep some records"
    assert oracle.canonical(read_output_dir(out)) == oracle.canonical(kept)
    counters = json.loads((out / "_COUNTERS.json").read_text())
    assert counters == expected_counters(contents, 1.5)
    assert printed_counters(result.stderr) == counters, "mrjob's counters are the same"
    assert (out / "_SUCCESS").exists()

    local = tmp_path / "local"
    local_engine_output("luigi_hadoop:TestTaskMR", {"threshold": "1.5"}, data, local)
    assert oracle.canonical(read_output_dir(out)) == oracle.canonical(read_output_dir(local))
    assert counters == json.loads((local / "_COUNTERS.json").read_text())
    assert read_quarantine(out) == read_quarantine(local)

    # Each bad line is shown (task logs are deleted with the run), and the last line
    # names the output, not where it was staged.
    for entry in read_quarantine(out):
        assert f"bad record: {entry['source']}:{entry['line']}: {entry['reason']}" in result.stderr
    summary = [line for line in result.stderr.splitlines() if "lines read" in line]
    assert summary and summary[-1].endswith(f"-> {out}"), result.stderr
    assert ".tmp-" not in result.stderr
    assert_no_leftovers(tmp_path, "out", "local")


def test_records_are_printed_without_output_dir(tmp_path, mixed_input):
    data, contents = mixed_input
    result = run("mr_json_filter", ["-r", "inline", str(data)], tmp_path)
    assert result.returncode == 0, result.stderr
    kept, _ = oracle.expected(contents, 1.99)  # the post's default threshold
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(b"\t" not in line for line in result.stdout.splitlines()), "plain JSON lines"
    assert oracle.canonical(printed) == oracle.canonical(kept)
    assert printed_counters(result.stderr) == expected_counters(contents, 1.99)
    assert_no_leftovers(tmp_path)


def sales_input(tmp_path) -> tuple:
    data = tmp_path / "in"
    data.mkdir()
    orders = [
        {"order": n, "price": 10 + (n * 37) % 200 / 4, "qty": 1 + n % 7, "item": "tea"}
        for n in range(300)
    ]
    lines = [json.dumps(order) for order in orders]
    lines[5] = '{"order": 5, "price": 12.5}'  # missing_field
    lines[9] = '{"order": 9, "price": 12.5, "qty": 2.5}'  # not_a_number (qty is an int)
    (data / "sales_0.json").write_text("\n".join(lines[:150]) + "\n")
    with gzip.open(data / "sales_1.json.gz", "wt") as stream:
        stream.write("\n".join(lines[150:]) + "\n")
    good = [order for n, order in enumerate(orders) if n not in (5, 9)]
    return data, good


def sales_over(orders: list[dict], min_amount: float) -> list[dict]:
    """The sales job, stated plainly."""
    kept = []
    for order in orders:
        amount = order["price"] * order["qty"]
        if amount > min_amount:
            kept.append({**order, "amount": amount})
    return kept


@pytest.mark.parametrize(
    ("runner", "min_amount"), [("inline", None), ("local", "300")], ids=["inline", "local"]
)
def test_a_users_job_with_its_parameters(tmp_path, monkeypatch, runner, min_amount):
    monkeypatch.syspath_prepend(EXAMPLES)  # for the local engine run in this process
    data, orders = sales_input(tmp_path)
    params = ["--min-amount", min_amount] if min_amount else []
    args = ["sales_job.SalesOver", "-r", runner, *params, "-o", "out", str(data)]
    result = run("streamjobs.mrjob", args, tmp_path)
    assert result.returncode == 0, result.stderr
    expected = sales_over(orders, float(min_amount or 100))  # the parameter's default: 100
    assert expected and len(expected) < len(orders)
    assert oracle.canonical(read_output_dir(tmp_path / "out")) == oracle.canonical(expected)
    counters = json.loads((tmp_path / "out" / "_COUNTERS.json").read_text())
    assert counters[BAD_RECORDS] == {"missing_field": 1, "not_a_number": 1}
    local = tmp_path / "local"
    params = {"min_amount": min_amount} if min_amount else {}
    local_engine_output("sales_job:SalesOver", params, data, local)
    assert read_quarantine(tmp_path / "out") == read_quarantine(local)
    assert counters == json.loads((local / "_COUNTERS.json").read_text())


STANDIN = os.path.join(ROOT, "tests", "hadoop_standin", "hadoop")


def test_a_users_job_on_the_hadoop_runner(tmp_path, monkeypatch):
    """``-r hadoop`` as mrjob submits it (input manifest, NLineInputFormat, its task
    wrapper), on the Hadoop Streaming stand-in in its YARN-like mode (each task in its own
    directory, a clean environment): the records and counters of the local engine. The
    nodes' Python is this one (mrjob's cluster tasks need the project installed)."""
    monkeypatch.syspath_prepend(EXAMPLES)  # for the local engine run in this process
    data, orders = sales_input(tmp_path)
    hdfs = tmp_path / "hdfs"
    hdfs.mkdir()
    jar = tmp_path / "hadoop-streaming.jar"
    jar.write_bytes(b"")
    args = ["sales_job.SalesOver", "-r", "hadoop", "--hadoop-bin", STANDIN]
    args += ["--hadoop-streaming-jar", str(jar), "--python-bin", sys.executable]
    args += ["-o", "hdfs:///sales-out", str(data)]
    cmd, env = command("streamjobs.mrjob", args, tmp_path)
    env["HADOOP_STANDIN_HDFS"] = str(hdfs)
    env["HADOOP_CONF_DIR"] = os.path.join(ROOT, "tests", "hadoop_standin", "conf")
    result = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, timeout=180)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr
    out = hdfs / "sales-out"
    assert (out / "_SUCCESS").exists()
    expected = sales_over(orders, 100.0)
    assert oracle.canonical(read_output_dir(out)) == oracle.canonical(expected)
    local = tmp_path / "local"
    local_engine_output("sales_job:SalesOver", {}, data, local)
    printed = printed_counters(stderr)
    want = json.loads((local / "_COUNTERS.json").read_text())
    assert printed[RECORDS] == want[RECORDS]
    assert printed[BAD_RECORDS] == want[BAD_RECORDS] == {"missing_field": 1, "not_a_number": 1}


def test_a_text_job(tmp_path):
    data = tmp_path / "in"
    data.mkdir()
    log = b"INFO: started\nERROR: disk full\n\xff ERROR: bad bytes\nWARN: slow\r\nERROR : twice\n"
    (data / "app.log").write_bytes(log)
    result = run("streamjobs.mrjob", ["error_lines.ErrorLines", "-r", "local", str(data)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == [b"ERROR\tdisk full", b"ERROR\ttwice"]
    counters = printed_counters(result.stderr)
    assert counters[RECORDS] == {"read": 5, "written": 2, "bad": 1, "blank": 0}
    assert counters[BAD_RECORDS] == {"invalid_utf8": 1}
    assert f"bad record: {data / 'app.log'}:3: invalid_utf8" in result.stderr


def test_bad_record_limit_publishes_nothing(tmp_path, mixed_input):
    data, _ = mixed_input
    args = ["-r", "local", "--max-bad-records", "3", "-o", "out", str(data)]
    result = run("mr_json_filter", args, tmp_path)
    assert result.returncode == 1, result.stderr
    assert "more than --max-bad-records 3: 8 bad records" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert_no_leftovers(tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "abc"], "invalid value for --threshold: 'abc'"),
        (["--max-bad-records", "x"], "invalid value for --max-bad-records: 'x'"),
        (["in/missing.json"], "input path does not exist: in/missing.json"),
        (["-o", "s3://bucket/out"], "-r local writes a local -o directory, not s3://bucket/out"),
    ],
    ids=["threshold", "max-bad-records", "missing-input", "remote-output"],
)
def test_usage_errors_are_one_line(tmp_path, mixed_input, args, message):
    inputs = [] if args[0].startswith("in/") else ["in"]
    result = run("mr_json_filter", ["-r", "local", "-o", "out", *args, *inputs], tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"mr_json_filter: error: {message}"), line
    assert_no_leftovers(tmp_path)


@pytest.mark.parametrize("hadoop_bin", ["/bin/false", "no-such-hadoop"])
def test_an_unusable_hadoop_cluster_is_one_line(tmp_path, mixed_input, hadoop_bin):
    """-r hadoop with a hadoop command that fails or is missing: mrjob's own error, on one
    line, no traceback (no cluster runs here; what a cluster does is Hadoop's)."""
    args = ["-r", "hadoop", "--hadoop-bin", hadoop_bin, "-o", "hdfs:///out", "in"]
    result = run("mr_json_filter", args, tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("mr_json_filter: error: hadoop runner: "), last


SLOW_JOB = '''
import os
import time

import streamjobs


class Slow(streamjobs.TextJobTask):
    """Sleeps on every line; notes the pid of each task process that started."""

    def mapper(self, line):
        open(os.path.join(os.environ["PIDS_DIR"], str(os.getpid())), "w").close()
        time.sleep(0.05)
        yield line
'''


def alive_after(pid: int, seconds: float) -> bool:
    """Whether ``pid`` still runs after ``seconds`` (a killed orphan takes a moment to be
    reaped by init)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return False
        except FileNotFoundError:
            return False
        time.sleep(0.1)
    return True


def _default_sigint():
    # A test started in the background (``cmd &``) has SIGINT ignored, and the child would
    # inherit that: the signal this test sends must do what it does in a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def signal_while_mapping(tmp_path, signum: int) -> tuple[int, str, list[int]]:
    """Run the slow job on two files with ``-r local``, send ``signum`` once both tasks
    are mapping; the exit status, stderr and the task processes' pids."""
    data = tmp_path / "in"
    data.mkdir()
    for n in range(2):
        (data / f"part{n}.txt").write_text("line\n" * 400)
    (tmp_path / "slow_job.py").write_text(SLOW_JOB)
    pids = tmp_path / "pids"
    pids.mkdir()
    args = ["slow_job.Slow", "-r", "local", "--num-cores", "2", "-o", "out", "in"]
    cmd, env = command("streamjobs.mrjob", args, tmp_path)
    env["PYTHONPATH"] += os.pathsep + str(tmp_path)
    env["PIDS_DIR"] = str(pids)
    job = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE, preexec_fn=_default_sigint
    )
    try:
        deadline = time.monotonic() + 60
        while len(os.listdir(pids)) < 2:  # both tasks are mapping
            assert job.poll() is None, job.stderr.read().decode()
            assert time.monotonic() < deadline, "the tasks did not start"
            time.sleep(0.1)
        job.send_signal(signum)
        returncode = job.wait(timeout=30)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    return returncode, job.stderr.read().decode(), [int(pid) for pid in os.listdir(pids)]


@pytest.mark.parametrize("interrupt", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_interrupt_stops_every_task_and_publishes_nothing(tmp_path, interrupt):
    returncode, stderr, pids = signal_while_mapping(tmp_path, interrupt)
    assert returncode == 128 + interrupt, stderr
    assert "Traceback" not in stderr
    for pid in pids:
        assert not alive_after(pid, 5), "a task process outlived the run"
    assert_no_leftovers(tmp_path, "pids", "slow_job.py")


def test_tasks_die_with_a_killed_run(tmp_path):
    returncode, _, pids = signal_while_mapping(tmp_path, signal.SIGKILL)
    assert returncode == -signal.SIGKILL
    for pid in pids:
        assert not alive_after(pid, 5), "a task process outlived the run"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("runner", ["inline", "local"])
def test_a_corrupt_input_fails_in_one_line_naming_it(tmp_path, runner):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_bytes(unseen_lines(41, 100))
    (tmp_path / "in" / "b.json.gz").write_bytes(b"not gzip data\n")
    result = run("mr_json_filter", ["-r", runner, "-o", "out", "in"], tmp_path)
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("mr_json_filter: error: "), result.stderr
    assert "cannot read input file in/b.json.gz" in last and "nothing was published" in last
    assert "Traceback" not in result.stderr
    assert_no_leftovers(tmp_path)
