"""s3:// input and output, against a real S3-compatible server (SeaweedFS on 127.0.0.1)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import uuid

import boto3
import pytest

from streamjobs import s3
from streamjobs.generate import write_file
from streamjobs.inputs import Chunk, InputError, list_input_files, plan_splits, read_split
from tests.conftest import luigi_env, run_luigi
from tests.oracle import canonical, expected

BUCKET = "streamjobs-tests"
THRESHOLD = 1.99
MIB = 1 << 20


@pytest.fixture(scope="module")
def store(s3_server):
    """An independent boto3 client on the test server, with the test bucket created."""
    client = boto3.client("s3", **s3_server.boto3_options())
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    if BUCKET not in existing:
        client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def prefix(store):
    """A fresh key prefix for one test (one bucket for all: each bucket costs a volume)."""
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """This process's streamjobs.s3 client pointed at the server through AWS_* variables."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3_server.region)
    s3._clients.clear()
    yield
    s3._clients.clear()


@pytest.fixture
def luigi_config(s3_server, tmp_path):
    """A LUIGI_CONFIG_PATH file: [s3] for the test server, 1 MiB splits."""
    path = tmp_path / "client.cfg"
    path.write_text(s3_server.luigi_config() + "\n[streaming]\nsplit_mb = 1\n")
    return str(path)


def keys(store, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix``: key -> content."""
    found = {}
    for page in store.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            body = store.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            found[item["Key"]] = body
    return found


def sample_inputs(tmp_path) -> dict[str, bytes]:
    """Input objects: a large plain one (several 1 MiB splits), a .gz one, edge cases."""
    big = tmp_path / "big.json"
    write_file(str(big), 40_000, seed=7)
    small = tmp_path / "small.json"
    write_file(str(small), 3_000, seed=8)
    edge = (
        b'{"index": 1.5, "total": 0.6}\r\n'
        b"   \n"
        b"not json\n"
        b'{"index": "1", "total": 5}\n'
        b'{"index": 1, "total": 1, "name": "\xc3\xa9"}'  # no final newline
    )
    return {
        "big.json": big.read_bytes(),
        "small.json.gz": gzip.compress(small.read_bytes()),
        "edge.json": edge,
    }


def put_inputs(store, prefix: str, inputs: dict[str, bytes]) -> None:
    for name, data in inputs.items():
        store.put_object(Bucket=BUCKET, Key=f"{prefix}/{name}", Body=data)


def plain(inputs: dict[str, bytes]) -> list[bytes]:
    return [gzip.decompress(d) if n.endswith(".gz") else d for n, d in inputs.items()]


def records_of(parts: list[bytes]) -> list[dict]:
    return [json.loads(line) for data in parts for line in data.splitlines()]


def assert_output(objects: dict[str, bytes], out: str, inputs: dict[str, bytes]) -> None:
    """``objects`` (key -> bytes) hold exactly the expected output of the job on ``inputs``."""
    kept, counts = expected(plain(inputs), THRESHOLD)
    parts = [data for key, data in sorted(objects.items()) if key.startswith(f"{out}/part-")]
    assert canonical(records_of(parts)) == canonical(kept)
    assert objects[f"{out}/_SUCCESS"] == b""
    counters = json.loads(objects[f"{out}/_COUNTERS.json"])
    assert counters["records"] == {
        "read": sum(counts.values()),
        "written": counts["kept"],
        "bad": counts["bad"],
        "blank": counts["blank"],
    }
    quarantined = [
        json.loads(line)
        for key, data in objects.items()
        if key.startswith(f"{out}/_quarantine/")
        for line in data.splitlines()
    ]
    assert len(quarantined) == counts["bad"]


def no_staging_left(store, prefix: str) -> bool:
    return not [key for key in keys(store, prefix) if ".tmp-" in key]


# ---- reading -------------------------------------------------------------------------


def test_listing_follows_the_local_rules(store, prefix, s3_env):
    for key in ("in/a.json", "in/b.json.gz", "in/_SUCCESS", "in/.hidden", "in/_logs/x", "other"):
        store.put_object(Bucket=BUCKET, Key=f"{prefix}/{key}", Body=b"{}\n")
    base = f"s3://{BUCKET}/{prefix}"
    wanted = [f"{base}/in/a.json", f"{base}/in/b.json.gz"]
    assert list_input_files(f"{base}/in") == wanted
    assert list_input_files(f"{base}/in/") == wanted
    assert list_input_files(f"{base}/in/a.json") == [f"{base}/in/a.json"]
    assert list_input_files(f"{base}/in/*.gz") == [f"{base}/in/b.json.gz"]
    assert list_input_files(f"{base}/i*") == wanted
    assert list_input_files(f"{base}/in/_SUCCESS") == [f"{base}/in/_SUCCESS"]


def test_listing_errors_name_the_path(store, prefix, s3_env):
    store.put_object(Bucket=BUCKET, Key=f"{prefix}/in/sub/a.json", Body=b"{}\n")
    base = f"s3://{BUCKET}/{prefix}"
    with pytest.raises(InputError, match=f"does not exist: {base}/missing"):
        list_input_files(f"{base}/missing")
    with pytest.raises(InputError, match=f"matches no objects: {base}/in/\\*.gz"):
        list_input_files(f"{base}/in/*.gz")
    with pytest.raises(InputError, match=f"holds a directory, not a file: {base}/in/sub/"):
        list_input_files(f"{base}/in")


@pytest.mark.parametrize("split_bytes", [1000, 4096, 50_000, 10 * MIB])
def test_ranged_reads_match_local_reads(store, prefix, s3_env, tmp_path, split_bytes):
    """Each split of an object yields the very chunks the same split of a file yields."""
    local = tmp_path / "data.json"
    write_file(str(local), 3_000, seed=3)
    data = local.read_bytes() + b'{"index": 3, "total": 1}'  # a last line without "\n"
    local.write_bytes(data)
    store.put_object(Bucket=BUCKET, Key=f"{prefix}/data.json", Body=data)

    remote = list_input_files(f"s3://{BUCKET}/{prefix}/data.json")
    remote_splits = plan_splits(remote, split_bytes)
    local_splits = plan_splits([str(local)], split_bytes)
    assert [(s.start, s.end, s.size) for s in remote_splits] == [
        (s.start, s.end, s.size) for s in local_splits
    ]
    chunk_bytes = 777  # small chunks: lines straddle reads and split ends
    for remote_split, local_split in zip(remote_splits, local_splits, strict=True):
        remote_chunks = list(read_split(remote_split, chunk_bytes))
        local_chunks = list(read_split(local_split, chunk_bytes))
        assert [(c.data, c.offset, c.first_line) for c in remote_chunks] == [
            (c.data, c.offset, c.first_line) for c in local_chunks
        ]
    every_line = b"".join(
        chunk.data
        for split in remote_splits
        for chunk in read_split(split, chunk_bytes)
        if isinstance(chunk, Chunk)
    )
    assert every_line == data


def test_compressed_object_is_one_split_read_whole(store, prefix, s3_env):
    data = b"".join(b'{"index": %d, "total": 1}\n' % i for i in range(20_000))
    store.put_object(Bucket=BUCKET, Key=f"{prefix}/d.json.gz", Body=gzip.compress(data))
    files = list_input_files(f"s3://{BUCKET}/{prefix}/d.json.gz")
    (split,) = plan_splits(files, 1000)
    assert b"".join(chunk.data for chunk in read_split(split, 4096)) == data


# ---- the job, run as a user runs it ------------------------------------------------


def test_job_s3_to_s3(store, prefix, luigi_config, tmp_path):
    inputs = sample_inputs(tmp_path)
    put_inputs(store, f"{prefix}/in", inputs)
    args = [
        "--module",
        "luigi_hadoop",
        "TestTaskMR",
        "--input-path",
        f"s3://{BUCKET}/{prefix}/in/",
        "--output-path",
        f"s3://{BUCKET}/{prefix}/out",
        "--processes",
        "2",
        "--local-scheduler",
    ]
    result = run_luigi(args, cwd=tmp_path, LUIGI_CONFIG_PATH=luigi_config)
    assert result.returncode == 0, result.stdout
    objects = keys(store, f"{prefix}/out/")
    assert_output(objects, f"{prefix}/out", inputs)
    parts = [key for key in objects if key.startswith(f"{prefix}/out/part-")]
    assert len(inputs["big.json"]) > 2 * MIB
    assert len(parts) == 3 + 1 + 1  # big.json in three 1 MiB ranges, the .gz whole, edge
    assert no_staging_left(store, prefix)

    # A rerun finds _SUCCESS and does nothing.
    stamps = {key: store.head_object(Bucket=BUCKET, Key=key)["LastModified"] for key in objects}
    again = run_luigi(args, cwd=tmp_path, LUIGI_CONFIG_PATH=luigi_config)
    assert again.returncode == 0, again.stdout
    assert "1 complete ones were encountered" in again.stdout
    assert {
        key: store.head_object(Bucket=BUCKET, Key=key)["LastModified"] for key in objects
    } == stamps
    assert set(keys(store, f"{prefix}/out/")) == set(objects)


def test_failed_run_publishes_nothing(store, prefix, luigi_config, tmp_path):
    inputs = sample_inputs(tmp_path)  # edge.json holds bad lines
    put_inputs(store, f"{prefix}/in", inputs)
    result = run_luigi(
        [
            "--module",
            "luigi_hadoop",
            "TestTaskMR",
            "--input-path",
            f"s3://{BUCKET}/{prefix}/in",
            "--output-path",
            f"s3://{BUCKET}/{prefix}/out",
            "--max-bad-records",
            "0",
            "--local-scheduler",
        ],
        cwd=tmp_path,
        LUIGI_CONFIG_PATH=luigi_config,
    )
    assert result.returncode != 0, result.stdout
    assert "more than --max-bad-records 0" in result.stdout
    assert keys(store, f"{prefix}/out") == {}
    assert no_staging_left(store, prefix)


def test_local_input_to_s3_output(store, prefix, luigi_config, tmp_path):
    inputs = sample_inputs(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    for name, content in inputs.items():
        (data / name).write_bytes(content)
    result = run_luigi(
        [
            "--module",
            "luigi_hadoop",
            "TestTaskMR",
            "--input-path",
            str(data),
            "--output-path",
            f"s3://{BUCKET}/{prefix}/out/",
            "--local-scheduler",
        ],
        cwd=tmp_path,
        LUIGI_CONFIG_PATH=luigi_config,
    )
    assert result.returncode == 0, result.stdout
    assert_output(keys(store, f"{prefix}/out/"), f"{prefix}/out", inputs)
    assert no_staging_left(store, prefix)


def test_s3_input_to_local_output(store, prefix, luigi_config, tmp_path):
    inputs = sample_inputs(tmp_path)
    put_inputs(store, f"{prefix}/in", inputs)
    out = tmp_path / "out"
    result = run_luigi(
        [
            "--module",
            "luigi_hadoop",
            "TestTaskMR",
            "--input-path",
            f"s3://{BUCKET}/{prefix}/in/*.json*",
            "--output-path",
            str(out),
            "--local-scheduler",
        ],
        cwd=tmp_path,
        LUIGI_CONFIG_PATH=luigi_config,
    )
    assert result.returncode == 0, result.stdout
    files = [path for path in out.rglob("*") if path.is_file()]
    objects = {f"out/{path.relative_to(out)}": path.read_bytes() for path in files}
    assert_output(objects, "out", inputs)
    assert keys(store, f"{prefix}/in/") == {f"{prefix}/in/{n}": d for n, d in inputs.items()}


def test_missing_s3_input_fails_naming_it(store, prefix, luigi_config, tmp_path):
    result = run_luigi(
        [
            "--module",
            "luigi_hadoop",
            "TestTaskMR",
            "--input-path",
            f"s3://{BUCKET}/{prefix}/nothing/",
            "--output-path",
            f"s3://{BUCKET}/{prefix}/out",
            "--local-scheduler",
        ],
        cwd=tmp_path,
        LUIGI_CONFIG_PATH=luigi_config,
    )
    assert result.returncode == 3, result.stdout
    assert f"s3://{BUCKET}/{prefix}/nothing/" in result.stdout
    assert keys(store, f"{prefix}/") == {}


def test_unfinished_output_prefix_is_refused(store, prefix, luigi_config, tmp_path):
    """Objects without _SUCCESS (an interrupted publish) are never mixed with a new run's."""
    put_inputs(store, f"{prefix}/in", {"a.json": b'{"index": 2, "total": 1}\n'})
    store.put_object(Bucket=BUCKET, Key=f"{prefix}/out/part-00007", Body=b"stale\n")
    result = run_luigi(
        [
            "--module",
            "luigi_hadoop",
            "TestTaskMR",
            "--input-path",
            f"s3://{BUCKET}/{prefix}/in",
            "--output-path",
            f"s3://{BUCKET}/{prefix}/out",
            "--local-scheduler",
        ],
        cwd=tmp_path,
        LUIGI_CONFIG_PATH=luigi_config,
    )
    assert result.returncode == 2, result.stdout
    assert "is not empty but has no _SUCCESS" in result.stdout
    assert set(keys(store, f"{prefix}/out/")) == {f"{prefix}/out/part-00007"}
    assert no_staging_left(store, prefix)


def test_each_file_task_s3_to_s3(store, prefix, luigi_config, tmp_path):
    inputs = sample_inputs(tmp_path)
    put_inputs(store, f"{prefix}/in", inputs)
    args = [
        "--module",
        "luigi_multiprocess",
        "LotsOTasks",
        "--input-path",
        f"s3://{BUCKET}/{prefix}/in",
        "--output-path",
        f"s3://{BUCKET}/{prefix}/out",
        "--workers",
        "2",
        "--local-scheduler",
    ]
    result = run_luigi(args, cwd=tmp_path, LUIGI_CONFIG_PATH=luigi_config)
    assert result.returncode == 0, result.stdout
    objects = keys(store, f"{prefix}/out/")
    for name, data in inputs.items():
        output = name.removesuffix(".gz")
        kept, counts = expected(plain({name: data}), THRESHOLD)
        assert canonical(records_of([objects[f"{prefix}/out/{output}"]])) == canonical(kept)
        counters = json.loads(objects[f"{prefix}/out/_counters/{output}"])
        assert counters["records"]["written"] == counts["kept"]
        assert counters["records"]["bad"] == counts["bad"]
    assert f"{prefix}/out/_quarantine/edge.json" in objects
    assert objects[f"{prefix}/out/_RUN"].startswith(b"LotsOTasks_")
    assert no_staging_left(store, prefix)
    again = run_luigi(args, cwd=tmp_path, LUIGI_CONFIG_PATH=luigi_config)
    assert again.returncode == 0, again.stdout
    assert set(keys(store, f"{prefix}/out/")) == set(objects)
    # Another run (another threshold) into the same prefix is refused; nothing changes.
    other = run_luigi(args + ["--threshold", "0.5"], cwd=tmp_path, LUIGI_CONFIG_PATH=luigi_config)
    assert other.returncode == 2, other.stdout
    assert "holds the output of another run" in other.stdout
    assert keys(store, f"{prefix}/out/") == objects


def test_client_reads_the_luigi_s3_section(s3_server, tmp_path):
    """Our client takes [s3] from client.cfg, as Luigi's S3 targets do (no AWS_* set)."""
    config = tmp_path / "client.cfg"
    config.write_text(s3_server.luigi_config())
    code = (
        "from streamjobs import s3;"
        "print(s3.client().meta.endpoint_url);"
        "print(s3.client().list_buckets()['ResponseMetadata']['HTTPStatusCode'])"
    )
    env = luigi_env(LUIGI_CONFIG_PATH=str(config))
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [s3_server.endpoint_url, "200"]
