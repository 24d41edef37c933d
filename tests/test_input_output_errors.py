"""Unusable inputs and outputs: a one-line error naming the path, a non-zero exit, nothing
published and no staging directory left behind."""

from __future__ import annotations

import gzip
import os
import resource
import shutil
import subprocess
import sys

from tests.conftest import luigi_env, run_luigi

GOOD_LINES = b'{"index": 1, "total": 2}\n' * 1000

JOB = ["--module", "luigi_hadoop", "TestTaskMR", "--local-scheduler"]


def _unprivileged() -> list[str]:
    """A command prefix under which file permissions hold even for root.

    Tests here run as root, which reads a chmod 000 file and writes into a read-only
    directory through CAP_DAC_OVERRIDE. Dropping every capability (uid unchanged, so the
    interpreter and the code stay readable) makes those cases real.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop root's capabilities"
    return [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--"]


def run_job(cwd, *args: str, prefix: list[str] | None = None, preexec_fn=None):
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "luigi", *JOB, *args],
        cwd=cwd,
        env=luigi_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        preexec_fn=preexec_fn,
    )


def assert_failed_cleanly(result, cwd, output: str, *phrases: str, code: int = 2):
    assert result.returncode == code, result.stdout
    error_lines = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    for phrase in phrases:
        # The whole story on one line: no traceback needed to understand it.
        assert any(phrase in line for line in error_lines), result.stdout
    assert "Traceback" not in result.stdout
    assert not os.path.exists(os.path.join(cwd, output, "_SUCCESS"))
    leftovers = [name for name in os.listdir(os.path.dirname(os.path.join(cwd, output)) or cwd)]
    assert not [name for name in leftovers if ".tmp-" in name], leftovers


def test_missing_input_is_a_missing_dependency(tmp_path):
    result = run_job(tmp_path, "--input-path", "nowhere", "--output-path", "out")
    assert result.returncode == 3, result.stdout
    assert "InputData(path=nowhere" in result.stdout
    assert not os.path.exists(tmp_path / "out")


def test_empty_input_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "_SUCCESS").write_bytes(b"")  # hidden: not input
    result = run_job(tmp_path, "--input-path", "empty", "--output-path", "out")
    assert_failed_cleanly(result, tmp_path, "out", "input path has no input files: empty")
    assert not os.path.exists(tmp_path / "out")


def test_empty_input_directory_per_file_tasks(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_luigi(
        ["--module", "luigi_multiprocess", "LotsOTasks", "--local-scheduler"]
        + ["--input-path", "empty"],
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stdout
    assert "InputError: input path has no input files: empty" in result.stdout
    assert not os.path.exists(tmp_path / "out_data2")


def test_broken_link_in_input_directory(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a").write_bytes(GOOD_LINES)
    os.symlink(tmp_path / "gone", tmp_path / "in" / "b")
    result = run_job(tmp_path, "--input-path", "in", "--output-path", "out")
    assert_failed_cleanly(result, tmp_path, "out", "does not exist (a broken link?): in/b")
    assert not os.path.exists(tmp_path / "out")


def test_unreadable_input_file(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a").write_bytes(GOOD_LINES)
    (tmp_path / "in" / "b").write_bytes(GOOD_LINES)
    os.chmod(tmp_path / "in" / "b", 0)
    result = run_job(tmp_path, "--input-path", "in", "--output-path", "out", prefix=_unprivileged())
    assert_failed_cleanly(result, tmp_path, "out", "input file is not readable: in/b")
    assert not os.path.exists(tmp_path / "out")


def test_corrupt_compressed_input_names_the_file(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a").write_bytes(GOOD_LINES)
    whole = gzip.compress(GOOD_LINES * 20)
    (tmp_path / "in" / "b.gz").write_bytes(whole[: len(whole) // 2])  # cut short
    result = run_job(tmp_path, "--input-path", "in", "--output-path", "out")
    assert_failed_cleanly(result, tmp_path, "out", "cannot read input file in/b.gz")
    assert not os.path.exists(tmp_path / "out")


def test_read_only_output_location(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a").write_bytes(GOOD_LINES)
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    result = run_job(
        tmp_path, "--input-path", "in", "--output-path", "ro/out", prefix=_unprivileged()
    )
    assert_failed_cleanly(result, tmp_path, "ro/out", "cannot create output beside", "ro/out")
    assert os.listdir(tmp_path / "ro") == []


def _limit_file_size():
    # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG, as on a full disk.
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_output_too_large_to_write(tmp_path):
    """A write that fails mid-run (here: past the file size limit, EFBIG)."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a").write_bytes(GOOD_LINES * 5)
    result = run_job(
        tmp_path, "--input-path", "in", "--output-path", "out", preexec_fn=_limit_file_size
    )
    assert_failed_cleanly(result, tmp_path, "out", "cannot write output", "File too large")
    assert not os.path.exists(tmp_path / "out")


def test_disk_full_on_a_small_file_system(tmp_path):
    """A real full file system: a 64 KiB tmpfs (mounting needs root; CI runs as root)."""
    mount = tmp_path / "small"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    assert mounted.returncode == 0, f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}"
    try:
        (tmp_path / "in").mkdir()
        for name in ("a", "b", "c"):  # three splits in two worker processes
            (tmp_path / "in" / name).write_bytes(GOOD_LINES * 20)
        result = run_job(
            tmp_path, "--input-path", "in", "--output-path", "small/out", "--processes", "2"
        )
        assert_failed_cleanly(result, tmp_path, "small/out", "No space left on device")
        assert "InvalidStateError" not in result.stdout
        assert os.listdir(mount) == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)
