"""Atomic publish: an output is absent or complete, never half-written."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from streamjobs.engines.local import LocalEngine
from streamjobs.inputs import InputError
from streamjobs.paths import (
    SUCCESS_FILE,
    FilePublisher,
    LocalOutputDirectory,
    LocalPublisher,
    OutputError,
)
from streamjobs.spec import JobSpec

COUNTERS = {"records": {"read": 1, "written": 1, "bad": 0, "blank": 0}, "bad_records": {}}


def test_staging_is_hidden_beside_the_output_and_renamed_into_place(tmp_path):
    publisher = LocalPublisher(str(tmp_path / "out"))
    staging = publisher.begin()
    assert os.path.dirname(staging) == str(tmp_path)
    assert os.path.basename(staging).startswith(".out.tmp-")
    (tmp_path / staging / "part-00000").write_bytes(b"x\n")
    assert not LocalOutputDirectory(str(tmp_path / "out")).exists()
    publisher.publish(COUNTERS)
    assert sorted(os.listdir(tmp_path / "out")) == ["_COUNTERS.json", SUCCESS_FILE, "part-00000"]
    assert LocalOutputDirectory(str(tmp_path / "out")).exists()
    assert os.listdir(tmp_path) == ["out"]


def test_a_non_empty_output_directory_is_refused_before_anything_is_staged(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "other").write_bytes(b"someone else's\n")
    with pytest.raises(OutputError, match="exists and is not empty"):
        LocalPublisher(str(tmp_path / "out")).begin()
    assert os.listdir(tmp_path / "out") == ["other"]
    assert os.listdir(tmp_path) == ["out"]


def test_publishing_over_a_directory_filled_meanwhile_fails_and_cleans_up(tmp_path):
    publisher = LocalPublisher(str(tmp_path / "out"))
    publisher.begin()
    (tmp_path / "out").mkdir()  # another run published first
    (tmp_path / "out" / "other").write_bytes(b"someone else's\n")
    with pytest.raises(OutputError, match="cannot publish"):
        publisher.publish(COUNTERS)
    assert os.listdir(tmp_path / "out") == ["other"]
    assert os.listdir(tmp_path) == ["out"]


def test_a_file_output_appears_last_with_its_side_files(tmp_path):
    publisher = FilePublisher(str(tmp_path / "out" / "a.json"))
    staging = publisher.begin()
    assert os.path.basename(staging).startswith(".a.json.tmp-")
    (tmp_path / staging / "part-00000").write_bytes(b"{}\n")
    assert not (tmp_path / "out" / "a.json").exists()
    publisher.publish(COUNTERS)
    assert (tmp_path / "out" / "a.json").read_bytes() == b"{}\n"
    assert json.loads((tmp_path / "out" / "_counters" / "a.json").read_text()) == COUNTERS
    assert sorted(os.listdir(tmp_path / "out")) == ["_counters", "a.json"]


def test_stale_staging_of_a_dead_process_is_removed_by_the_next_run(tmp_path):
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    stale = tmp_path / "out" / f".a.json.tmp-{dead}-0badc0de"
    stale.mkdir(parents=True)
    (stale / "part-00000").write_bytes(b"half\n")
    alive = tmp_path / "out" / f".a.json.tmp-{os.getpid()}-00000000"  # a running run's
    alive.mkdir()
    publisher = FilePublisher(str(tmp_path / "out" / "a.json"))
    publisher.begin()
    publisher.abort()
    assert sorted(os.listdir(tmp_path / "out")) == [alive.name]


@pytest.mark.parametrize("processes", [1, 2])
def test_a_run_that_fails_half_way_publishes_nothing(tmp_path, processes):
    data = tmp_path / "in"
    data.mkdir()
    (data / "a").write_bytes(b'{"index": 1, "total": 1.5}\n' * 200_000)
    whole = gzip.compress(b'{"index": 1, "total": 1.5}\n' * 200_000)
    (data / "b.gz").write_bytes(whole[: len(whole) // 2])  # cut short: fails when read
    spec = JobSpec(
        job="luigi_hadoop:TestTaskMR",
        params={},
        inputs=[str(data)],
        output=str(tmp_path / "out"),
        split_bytes=1 << 20,
    )
    with pytest.raises(InputError, match="cannot read input file .*b.gz"):
        LocalEngine(spec, processes=processes, progress=False).run()
    assert sorted(os.listdir(tmp_path)) == ["in"]
