"""Atomic publish: an output is absent or complete, never half-written."""

from __future__ import annotations

import os

import pytest

from streamjobs.engines.local import LocalEngine
from streamjobs.paths import SUCCESS_FILE, LocalOutputDirectory, LocalPublisher, OutputError
from streamjobs.records import ThresholdFilter


def test_staging_is_hidden_beside_the_output_and_renamed_into_place(tmp_path):
    publisher = LocalPublisher(str(tmp_path / "out"))
    staging = publisher.begin()
    assert os.path.dirname(staging) == str(tmp_path)
    assert os.path.basename(staging).startswith(".")
    (tmp_path / staging / "part-00000").write_bytes(b"x\n")
    assert not LocalOutputDirectory(str(tmp_path / "out")).exists()
    publisher.publish()
    assert sorted(os.listdir(tmp_path / "out")) == [SUCCESS_FILE, "part-00000"]
    assert LocalOutputDirectory(str(tmp_path / "out")).exists()
    assert os.listdir(tmp_path) == ["out"]


def test_publishing_over_a_non_empty_directory_fails_and_cleans_up(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "other").write_bytes(b"someone else's\n")
    publisher = LocalPublisher(str(tmp_path / "out"))
    publisher.begin()
    with pytest.raises(OutputError, match="out"):
        publisher.publish()
    assert os.listdir(tmp_path / "out") == ["other"]
    assert os.listdir(tmp_path) == ["out"]


class ExplodingFilter(ThresholdFilter):
    """Fails on the second chunk: a run that dies half-way through its input."""

    def map_chunk(self, chunk, source="", offset=0, first_line=None):
        if offset > 0:
            raise RuntimeError("mapper failed")
        return super().map_chunk(chunk, source, offset, first_line)


@pytest.mark.parametrize("processes", [1, 2])
def test_a_run_that_fails_half_way_publishes_nothing(tmp_path, processes):
    data = tmp_path / "in"
    data.mkdir()
    for name in ("a", "b"):
        (data / name).write_bytes(b'{"index": 1, "total": 1.5}\n' * 300_000)
    engine = LocalEngine(processes=processes)
    with pytest.raises(RuntimeError, match="mapper failed"):
        engine.run_mapper(ExplodingFilter(0), str(data), str(tmp_path / "out"))
    assert sorted(os.listdir(tmp_path)) == ["in"]
