"""A job that names its input and output as Luigi users do: ``requires()`` returning an
external task whose output is a ``LocalTarget`` or ``S3Target``, and ``output()`` a target
(the S3 case against the SeaweedFS test server)."""

from __future__ import annotations

import json
import os
import uuid

from tests.conftest import ROOT, run_luigi

JOBS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "job_api_jobs")


def lines(count: int) -> bytes:
    return b"".join(b'{"index":%d,"name":"n%d"}\n' % (i % 10, i) for i in range(count))


def kept(data: bytes, above: int) -> list[bytes]:
    return sorted(line for line in data.splitlines() if json.loads(line)["index"] > above)


def run_keep_big(cwd, source: str, target: str, **env):
    paths = [os.path.join(ROOT, "src"), os.path.join(ROOT, "jobs"), JOBS]
    args = ["--module", "upstream_jobs", "KeepBig", "--local-scheduler"]
    args += ["--source", source, "--target", target, "--above", "6"]
    return run_luigi(args, cwd, PYTHONPATH=os.pathsep.join(paths), **env)


def test_local_targets_from_requires_and_output(tmp_path):
    (tmp_path / "in").mkdir()
    data = lines(300)
    (tmp_path / "in" / "a.json").write_bytes(data)
    result = run_keep_big(tmp_path, "in", "result")
    assert result.returncode == 0, result.stdout
    out = tmp_path / "result"
    written = b"".join(p.read_bytes() for p in sorted(out.glob("part-*"))).splitlines()
    assert sorted(written) == kept(data, 6)
    assert (out / "_SUCCESS").exists()
    counters = json.loads((out / "_COUNTERS.json").read_text())
    assert counters["records"]["read"] == 300


def test_a_missing_required_input_is_luigis_missing_dependency(tmp_path):
    result = run_keep_big(tmp_path, "nowhere", "result")
    assert result.returncode == 3, result.stdout  # [retcode] missing_data
    assert not (tmp_path / "result").exists()


def test_s3_targets_from_requires_and_output(tmp_path, s3_server):
    import boto3

    store = boto3.client("s3", **s3_server.boto3_options())
    bucket = "api-" + uuid.uuid4().hex[:8]
    store.create_bucket(Bucket=bucket)
    data = lines(200)
    store.put_object(Bucket=bucket, Key="in/a.json", Body=data)
    config = tmp_path / "luigi-s3.cfg"
    config.write_text(s3_server.luigi_config())
    result = run_keep_big(
        tmp_path, f"s3://{bucket}/in/", f"s3://{bucket}/out", LUIGI_CONFIG_PATH=str(config)
    )
    assert result.returncode == 0, result.stdout
    keys = [o["Key"] for o in store.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"]]
    assert "out/_SUCCESS" in keys
    written = b"".join(
        store.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in sorted(keys)
        if key.startswith("out/part-")
    )
    assert sorted(written.splitlines()) == kept(data, 6)
