"""LotsOTasks under Luigi's central scheduler: a real luigid on 127.0.0.1, checked through
its HTTP API, and its web page rendered by headless Chromium."""

from __future__ import annotations

import json
import os
import struct

import pytest

from streamjobs.generate import write_file
from streamjobs.tools.local_luigid import LocalLuigid
from streamjobs.tools.screenshot_luigid import VISUALISER, take_screenshot
from tests.conftest import run_luigi
from tests.oracle import expected

BAD_AND_CRLF = (
    b'{"index": 1.5, "total": 1}\r\n'
    b"{broken\r\n"
    b"\r\n"
    b'{"index": 2, "total": "2"}\n'
    b'{"index": 3, "total": 3}'  # no final newline
)


@pytest.fixture(scope="module")
def luigid(tmp_path_factory):
    with LocalLuigid(str(tmp_path_factory.mktemp("luigid"))) as server:
        yield server


@pytest.fixture(scope="module")
def lots_o_tasks_run(luigid, tmp_path_factory):
    """``LotsOTasks --workers 2`` against the luigid, on three sample files and a bad one."""
    root = tmp_path_factory.mktemp("lots")
    data = root / "data"
    data.mkdir()
    for number in range(3):
        write_file(str(data / f"dat_{number}.json"), 5_000, seed=number)
    (data / "mixed.json").write_bytes(BAD_AND_CRLF)
    result = run_luigi(
        ["--module", "luigi_multiprocess", "LotsOTasks", "--workers", "2"]
        + ["--scheduler-host", "127.0.0.1", "--scheduler-port", str(luigid.port)],
        cwd=root,
    )
    assert result.returncode == 0, result.stdout
    return root, sorted(path.name for path in data.iterdir())


def test_every_task_is_done_in_luigid(luigid, lots_o_tasks_run):
    _, names = lots_o_tasks_run
    done = luigid.task_list("DONE")
    families = sorted(task["name"] for task in done.values())
    assert families == ["InputData"] * 4 + ["LotsOTasks"] + ["TestTask"] * 4
    inputs = sorted(
        task["params"]["input_path"] for task in done.values() if task["name"] == "TestTask"
    )
    assert inputs == [f"data/{name}" for name in names]
    # The workers ran them, reporting to this luigid: the worker was started with 2 processes.
    for task in done.values():
        if task["name"] != "InputData":
            assert "workers=2" in task["worker_running"]
    for status in ("PENDING", "RUNNING", "FAILED", "DISABLED"):
        assert luigid.task_list(status) == {}, status


def test_outputs_under_luigid_match_the_oracle(lots_o_tasks_run):
    root, names = lots_o_tasks_run
    bad = {}
    for name in names:
        kept, counts = expected([(root / "data" / name).read_bytes()], 1.99)
        with open(root / "out_data2" / name, "rb") as output:
            assert [json.loads(line) for line in output] == kept, name
        counters = json.loads((root / "out_data2" / "_counters" / name).read_text())
        assert counters["records"]["bad"] == counts["bad"]
        assert counters["records"]["written"] == counts["kept"]
        bad[name] = counts["bad"]
    assert bad["mixed.json"] == 2
    assert sorted(os.listdir(root / "out_data2" / "_quarantine")) == ["mixed.json"]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])  # IHDR width and height


def test_screenshot_of_luigid_web_page(luigid, lots_o_tasks_run, tmp_path):
    picture = tmp_path / "luigid.png"
    take_screenshot(luigid.url(VISUALISER), str(picture))
    data = picture.read_bytes()
    assert png_size(data) == (1280, 800)
    # A blank 1280x800 page compresses to a few KB; the rendered task list to ~90 KB.
    assert len(data) > 30_000
