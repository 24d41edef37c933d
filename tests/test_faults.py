"""Faults, done for real: workers killed, runs interrupted, two runs racing for one output.

Each case checks that nothing is published, no staging directory is left, and (where it
applies) that a rerun, or the run that won, gives exactly the expected records.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import luigi_env
from tests.oracle import canonical, expected

# Non-ASCII text sends every chunk down the exact line-by-line path: slow enough (a few
# seconds on two cores) that a run can be caught mid-way. A third of the records pass.
BLOCK_LINES = [
    b'{"index": %d, "total": 0.5, "name": "caf\xc3\xa9"}' % (i % 3) for i in range(997)
] + [b"not json", b"[]", b'{"index": true, "total": 1}']
BLOCK = b"\n".join(BLOCK_LINES) + b"\n"
REPEATS = 250  # per file; two files of about 10 MB each, 11 splits of 1 MiB each


def make_input(directory) -> None:
    os.makedirs(directory)
    for name in ("a", "b"):
        with open(os.path.join(directory, name), "wb") as stream:
            stream.write(BLOCK * REPEATS)


def expected_records():
    kept, counts = expected([BLOCK], 1.99)
    return canonical(kept * REPEATS * 2), {k: v * REPEATS * 2 for k, v in counts.items()}


def start_job(cwd, output: str, *extra: str) -> subprocess.Popen:
    # --streaming-split-mb 1: many splits, so the run is mid-way for most of its time.
    return subprocess.Popen(
        [sys.executable, "-m", "luigi", "--module", "luigi_hadoop", "TestTaskMR"]
        + ["--local-scheduler", "--input-path", "in", "--output-path", output]
        + ["--streaming-split-mb", "1", *extra],
        cwd=cwd,
        env=luigi_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a shell job would be
    )


def children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                stat = stream.read()
        except OSError:
            continue
        # The command name may hold spaces: fields after its closing parenthesis.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def wait_until_mid_run(process: subprocess.Popen, cwd, output: str) -> list[int]:
    """Wait for the worker pool and a first part file in staging; the worker PIDs."""
    deadline = time.monotonic() + 60
    staging = os.path.join(cwd, f".{os.path.basename(output)}.tmp-*", "part-*")
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        workers = children(process.pid)
        if len(workers) >= 2 and glob.glob(staging):
            return workers
        time.sleep(0.02)
    raise AssertionError("the run never got going")


def finish(process: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def assert_nothing_published(cwd, output: str):
    assert not os.path.exists(os.path.join(cwd, output))
    assert not glob.glob(os.path.join(cwd, ".*.tmp-*")), os.listdir(cwd)


def assert_exact_output(cwd, output: str):
    want, counts = expected_records()
    records = []
    for part in sorted(glob.glob(os.path.join(cwd, output, "part-*"))):
        with open(part, "rb") as stream:
            records += [json.loads(line) for line in stream]
    assert canonical(records) == want
    with open(os.path.join(cwd, output, "_COUNTERS.json")) as stream:
        assert json.load(stream)["records"]["bad"] == counts["bad"]
    assert os.path.exists(os.path.join(cwd, output, "_SUCCESS"))


def assert_gone(pids: list[int]):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
        # A zombie has been reaped by nobody yet but runs no more.
        alive = [pid for pid in alive if _state(pid) not in ("Z", "X", None)]
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"workers still running: {alive}")


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_worker_killed_mid_run_then_rerun(tmp_path):
    make_input(tmp_path / "in")
    process = start_job(tmp_path, "out", "--processes", "2")
    workers = wait_until_mid_run(process, tmp_path, "out")
    os.kill(workers[0], signal.SIGKILL)
    code, out = finish(process)
    assert code == 2, out
    assert "WorkerDied: a worker process died" in out
    assert_nothing_published(tmp_path, "out")
    assert_gone(workers)

    process = start_job(tmp_path, "out", "--processes", "2")
    code, out = finish(process)
    assert code == 0, out
    assert_exact_output(tmp_path, "out")


def _interrupt(tmp_path, send) -> tuple[int, str, float]:
    make_input(tmp_path / "in")
    process = start_job(tmp_path, "out", "--processes", "2")
    workers = wait_until_mid_run(process, tmp_path, "out")
    sent = time.monotonic()
    send(process)
    code, out = finish(process, timeout=30)
    elapsed = time.monotonic() - sent
    assert_nothing_published(tmp_path, "out")
    assert_gone(workers)
    return code, out, elapsed


def test_ctrl_c_stops_promptly_and_cleans_up(tmp_path):
    # Ctrl-C in a terminal sends SIGINT to the whole foreground process group.
    code, out, elapsed = _interrupt(tmp_path, lambda p: os.killpg(p.pid, signal.SIGINT))
    assert code == -signal.SIGINT, out  # Python's way out on Ctrl-C: 130 in a shell
    assert elapsed < 10, out
    assert "KeyboardInterrupt" in out


def test_sigterm_stops_promptly_and_cleans_up(tmp_path):
    code, out, elapsed = _interrupt(tmp_path, lambda p: p.send_signal(signal.SIGTERM))
    assert code == 2, out
    assert elapsed < 10, out
    assert "Interrupted: interrupted by SIGTERM; nothing was published" in out


def test_two_identical_runs_at_once(tmp_path):
    """Luigi's own lock lets one run; the other exits 'already running', finds the output
    complete, or fails to publish over it: the output is always exactly one run's."""
    make_input(tmp_path / "in")
    runs = [start_job(tmp_path, "out", "--processes", "2") for _ in range(2)]
    results = [finish(run, timeout=120) for run in runs]
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0, results
    # The lock check is not atomic: when both pass it, the later run fails cleanly when it
    # comes to publish (exit 2) because the output exists by then.
    assert codes[1] in (0, 2, 5), results
    if codes[1] == 2:
        (failed,) = [out for code, out in results if code == 2]
        assert "OutputError" in failed, failed[-2000:]
    assert_exact_output(tmp_path, "out")
    assert not glob.glob(os.path.join(tmp_path, ".*.tmp-*"))


def test_two_racing_runs_never_mix(tmp_path):
    """Without Luigi's lock both runs write; one publishes, the other fails: never a mix."""
    make_input(tmp_path / "in")
    runs = [
        start_job(tmp_path, "out", "--no-lock", "--processes", str(processes))
        for processes in (1, 2)
    ]
    results = [finish(run, timeout=120) for run in runs]
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0, results
    if codes[1] != 0:
        assert codes[1] == 2
        assert any("OutputError: cannot publish" in out for _, out in results), results
    assert_exact_output(tmp_path, "out")
    # One run's parts only: as many as that run's splits, no strays from the other.
    splits = 2 * -(-len(BLOCK) * REPEATS // (1 << 20))
    assert len(glob.glob(os.path.join(tmp_path, "out", "part-*"))) == splits
    assert not glob.glob(os.path.join(tmp_path, ".*.tmp-*"))
