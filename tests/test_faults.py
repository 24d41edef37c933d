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

import pytest

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


def _as_from_a_terminal():
    # A shell starts background jobs with SIGINT ignored, and children inherit that: were
    # pytest started so, a SIGINT sent here would do nothing. A terminal's job has it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_luigi(cwd, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "luigi", *args, "--local-scheduler"],
        cwd=cwd,
        env=luigi_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a shell job would be
        preexec_fn=_as_from_a_terminal,
    )


def start_job(cwd, output: str, *extra: str) -> subprocess.Popen:
    # --streaming-split-mb 1: many splits, so the run is mid-way for most of its time.
    return start_luigi(
        cwd,
        *["--module", "luigi_hadoop", "TestTaskMR", "--input-path", "in"],
        *["--output-path", output, "--streaming-split-mb", "1", *extra],
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


def descendants(pid: int) -> list[int]:
    found = children(pid)
    return found + [grandchild for child in found for grandchild in descendants(child)]


def wait_until_mid_run(process: subprocess.Popen, cwd, output: str) -> list[int]:
    """Wait for the worker pool and a first part file in staging; the worker PIDs."""
    deadline = time.monotonic() + 60
    staging = os.path.join(cwd, f".{os.path.basename(output)}.tmp-*", "part-*")
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        workers = descendants(process.pid)
        if len(workers) >= 2 and glob.glob(staging):
            return workers
        time.sleep(0.02)
    raise AssertionError("the run never got going")


def finish(process: subprocess.Popen, timeout: float = 60) -> tuple[int, str]:
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def error_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("ERROR")]


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


def _interrupt(tmp_path, send, *extra: str) -> tuple[int, str, float]:
    make_input(tmp_path / "in")
    process = start_job(tmp_path, "out", "--processes", "2", *extra)
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
    assert error_lines(out) == [
        "ERROR: interrupted by Ctrl-C (SIGINT): the running tasks were stopped, nothing of "
        "theirs published"
    ], out
    assert "Traceback" not in out and "InvalidStateError" not in out, out


def test_sigterm_stops_promptly_and_cleans_up(tmp_path):
    code, out, elapsed = _interrupt(tmp_path, lambda p: p.send_signal(signal.SIGTERM))
    assert code == 2, out
    assert elapsed < 10, out
    (line,) = error_lines(out)
    assert line.endswith("Interrupted: interrupted by SIGTERM; nothing was published"), out
    assert "Traceback" not in out and "InvalidStateError" not in out, out


def test_sigterm_with_the_job_in_a_task_process_of_workers_2(tmp_path):
    """--workers 2 runs the job in a Luigi task process with its own worker processes."""
    code, out, elapsed = _interrupt(
        tmp_path, lambda p: p.send_signal(signal.SIGTERM), "--workers", "2"
    )
    assert code == 2, out
    assert elapsed < 10, out
    assert "Traceback" not in out and "InvalidStateError" not in out, out
    assert any(
        line.endswith("Interrupted: interrupted by SIGTERM; nothing was published")
        for line in error_lines(out)
    ), out


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


def test_kill_9_of_luigi_leaves_no_worker_and_a_rerun_cleans_up(tmp_path):
    make_input(tmp_path / "in")
    process = start_job(tmp_path, "out", "--processes", "2")
    workers = wait_until_mid_run(process, tmp_path, "out")
    process.kill()
    finish(process)
    assert_gone(workers)  # each worker asked Linux to kill it with its parent
    assert glob.glob(os.path.join(tmp_path, ".out.tmp-*"))  # the one thing kill -9 leaves

    code, out = finish(start_job(tmp_path, "out", "--processes", "2"))
    assert code == 0, out
    assert_exact_output(tmp_path, "out")
    assert not glob.glob(os.path.join(tmp_path, ".out.tmp-*"))


# ---- per-file runs: one Luigi task per input file, side by side ------------------------

PER_FILE_NAMES = ["a.json", "b.json", "c.json", "d.json"]


def make_per_file_input(directory, repeats: int = 100) -> None:
    os.makedirs(directory)
    for name in PER_FILE_NAMES:
        with open(os.path.join(directory, name), "wb") as stream:
            stream.write(BLOCK * repeats)


def start_per_file(cwd, output: str, *extra: str) -> subprocess.Popen:
    return start_luigi(
        cwd,
        *["--module", "luigi_multiprocess", "LotsOTasks", "--input-path", "in"],
        *["--output-path", output, "--workers", "2", *extra],
    )


def staged_files(output_dir) -> list[str]:
    return glob.glob(os.path.join(output_dir, ".*.tmp-*"))


def wait_for_staging(process: subprocess.Popen, output_dir) -> list[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        staged = staged_files(output_dir)
        if staged:
            return staged
        time.sleep(0.02)
    raise AssertionError("no per-file task got going")


def assert_whole_per_file_outputs(output_dir, threshold: float = 1.99) -> list[str]:
    """Every published file holds exactly its input's records; the names published."""
    kept, _ = expected([BLOCK], threshold)
    published = sorted(n for n in PER_FILE_NAMES if os.path.exists(os.path.join(output_dir, n)))
    for name in published:
        with open(os.path.join(output_dir, name), "rb") as stream:
            records = [json.loads(line) for line in stream]
        repeats = os.path.getsize(os.path.join(output_dir, "..", "in", name)) // len(BLOCK)
        assert canonical(records) == canonical(kept * repeats), name
        assert os.path.exists(os.path.join(output_dir, "_counters", name))
    return published


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_stops_every_per_file_task_and_nothing_appears_after(tmp_path, workers):
    make_per_file_input(tmp_path / "in")
    process = start_per_file(tmp_path, "out", "--workers", workers)
    wait_for_staging(process, tmp_path / "out")
    tasks = children(process.pid)
    process.send_signal(signal.SIGTERM)
    code, out = finish(process, timeout=30)
    assert code == 2, out
    assert "Traceback" not in out, out
    assert any("interrupted by SIGTERM" in line for line in error_lines(out)), out
    assert_gone(tasks)
    listing = sorted(os.listdir(tmp_path / "out"))
    time.sleep(1.5)  # nothing runs on after the command returned
    assert sorted(os.listdir(tmp_path / "out")) == listing
    assert not staged_files(tmp_path / "out")
    assert len(assert_whole_per_file_outputs(tmp_path / "out")) < len(PER_FILE_NAMES)


def test_ctrl_c_stops_every_per_file_task_in_one_line(tmp_path):
    make_per_file_input(tmp_path / "in")
    process = start_per_file(tmp_path, "out")
    wait_for_staging(process, tmp_path / "out")
    tasks = children(process.pid)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal sends it: the whole group
    code, out = finish(process, timeout=30)
    assert code == -signal.SIGINT, out
    assert "Traceback" not in out, out
    assert error_lines(out)[-1].startswith("ERROR: interrupted by Ctrl-C (SIGINT)"), out
    assert_gone(tasks)
    assert not staged_files(tmp_path / "out")
    assert len(assert_whole_per_file_outputs(tmp_path / "out")) < len(PER_FILE_NAMES)


def test_a_per_file_task_killed_leaves_staging_that_a_rerun_cleans(tmp_path):
    make_per_file_input(tmp_path / "in")
    process = start_per_file(tmp_path, "out")
    staged = wait_for_staging(process, tmp_path / "out")
    pid = int(os.path.basename(staged[0]).split(".tmp-")[1].split("-")[0])
    assert pid != process.pid  # a task process of --workers 2
    os.kill(pid, signal.SIGKILL)
    code, out = finish(process, timeout=120)
    assert code == 2, out
    assert os.path.exists(staged[0])  # what the killed task was writing

    code, out = finish(start_per_file(tmp_path, "out"), timeout=120)
    assert code == 0, out
    assert assert_whole_per_file_outputs(tmp_path / "out") == PER_FILE_NAMES
    assert not staged_files(tmp_path / "out")


def test_kill_9_of_luigi_leaves_no_per_file_task_running(tmp_path):
    make_per_file_input(tmp_path / "in")
    process = start_per_file(tmp_path, "out")
    wait_for_staging(process, tmp_path / "out")
    tasks = children(process.pid)
    assert tasks
    process.kill()
    finish(process)
    assert_gone(tasks)  # each stopped (cleanly: SIGTERM) when the command died
    assert_whole_per_file_outputs(tmp_path / "out")


def test_two_different_per_file_runs_at_once_never_mix(tmp_path):
    """The first to claim the directory writes it; the other is refused (exit 2)."""
    make_per_file_input(tmp_path / "in", repeats=20)
    runs = [start_per_file(tmp_path, "out", "--threshold", t) for t in ("1.99", "0.5")]
    results = [finish(run, timeout=120) for run in runs]
    codes = [code for code, _ in results]
    assert sorted(codes) == [0, 2], results
    winner = ("1.99", "0.5")[codes.index(0)]
    (_, loser_out) = results[codes.index(2)]
    assert "holds the output of another run" in loser_out, loser_out
    assert assert_whole_per_file_outputs(tmp_path / "out", float(winner)) == PER_FILE_NAMES
    assert not staged_files(tmp_path / "out")
