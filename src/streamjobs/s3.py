"""``s3://bucket/key`` input and output for the local engine and the per-file tasks.

Listing, sizes and ranged reads of objects (so ``inputs`` splits an object exactly as it
splits a local file), and publishing an output prefix atomically as far as S3 allows: parts
go under a hidden temporary prefix beside the output, are copied into place when all
succeeded, ``_SUCCESS`` is written last and the temporary prefix is removed.

Clients are configured as Luigi's own S3 targets are: from ``[s3]`` in luigi.cfg
(``endpoint_url``, ``aws_access_key_id``, ``aws_secret_access_key``, ``region_name``, ...)
or boto3's usual sources (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ~/.aws, ...).
Each process builds its own client: boto3 clients must not cross a fork.
"""

from __future__ import annotations

import fnmatch
import io
import os
import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor

from streamjobs.counters import COUNTERS_FILE
from streamjobs.counters import dumps as dumps_counters
from streamjobs.counters import write_file as write_counters
from streamjobs.errors import JobError, quote_path
from streamjobs.inputs import InputError, is_hidden

SCHEME = "s3://"
SUCCESS_FILE = "_SUCCESS"
_GLOB_CHARS = "*?["
_COPY_THREADS = 8
_READ_BUFFER = 1 << 20


class S3OutputError(JobError):
    """An S3 output location that cannot be written; the message names it."""


def is_s3(path: str) -> bool:
    """Whether ``path`` is an ``s3://`` URL."""
    return path[:5].lower() == SCHEME


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")``."""
    if not is_s3(url):
        raise ValueError(f"not an s3:// URL: {url}")
    bucket, _, key = url[len(SCHEME) :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url}")
    return bucket, key


def join_url(bucket: str, key: str) -> str:
    return f"{SCHEME}{bucket}/{key}"


_clients: dict[int, object] = {}


def client():
    """This process's boto3 S3 client, configured exactly as Luigi's ``S3Client``."""
    pid = os.getpid()
    if pid not in _clients:
        # Luigi's S3Client turns [s3] into boto3 options (role assumption included); using
        # it keeps one configuration for Luigi's targets and for our reads and writes.
        from luigi.contrib.s3 import S3Client

        _clients.clear()  # a client inherited through fork belongs to the parent
        _clients[pid] = S3Client().s3.meta.client
    return _clients[pid]


# ---- input ----------------------------------------------------------------------------

# Sizes seen while listing, so that planning splits needs no request per object.
_sizes: dict[str, int] = {}


def _list_objects(bucket: str, prefix: str):
    """(key, size) of every object under ``prefix`` (no delimiter: SeaweedFS and others
    keep reporting emptied "directories" as common prefixes; objects are the truth)."""
    paginator = client().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):  # zero-byte "directory" markers
                yield item["Key"], item["Size"]


def list_input_files(url: str) -> list[str]:
    """The objects an input URL names, as ``inputs.list_input_files`` does for files.

    A prefix names the visible objects directly under it (``s3://b/in`` and ``s3://b/in/``
    alike); a key names one object; a glob (``*``, ``?``, ``[...]``; none crossing ``/``)
    names the objects and "directories" it matches. Names starting with ``_`` or ``.`` are
    skipped; an object in a visible sub-"directory" is an error, as for local input.
    """
    bucket, key = split_url(url)
    found = _matches(bucket, key)
    if found is None:
        raise InputError(f"input path does not exist: {quote_path(url)}")
    if not found:
        kind = "matches no objects" if _is_glob(key) else "has no input objects"
        raise InputError(f"input path {kind}: {quote_path(url)}")
    files = []
    for object_key, size in found:
        path = join_url(bucket, object_key)
        _sizes[path] = size
        files.append(path)
    return files


def _is_glob(key: str) -> bool:
    return any(char in key for char in _GLOB_CHARS)


def _matches(bucket: str, key: str) -> list[tuple[str, int]] | None:
    """Objects named by ``key``; None when nothing at all is there."""
    if not _is_glob(key):
        directory = key.rstrip("/") + "/" if key.strip("/") else ""
        exact, below = None, []
        for object_key, size in _list_objects(bucket, key):
            if object_key == key:
                exact = (object_key, size)
            elif object_key.startswith(directory):
                below.append((object_key, size))
        if exact is not None and not key.endswith("/"):
            return [exact]
        if not below:
            return None
        return _directory_files(bucket, directory, below)
    # List from the glob's literal head, then match the pattern segment by segment.
    head = key[: min(key.find(char) for char in _GLOB_CHARS if char in key)]
    pattern = key.rstrip("/").split("/")
    files: dict[str, int] = {}
    directories: dict[str, list[tuple[str, int]]] = {}
    for object_key, size in _list_objects(bucket, head[: head.rfind("/") + 1]):
        parts = object_key.split("/")
        if len(parts) < len(pattern) or not _segments_match(parts, pattern):
            continue
        if len(parts) == len(pattern):
            files[object_key] = size
        else:
            directory = "/".join(parts[: len(pattern)]) + "/"
            directories.setdefault(directory, []).append((object_key, size))
    found = sorted(files.items())
    for directory in sorted(directories):
        found.extend(_directory_files(bucket, directory, directories[directory]))
    return sorted(found)


def _segments_match(parts: list[str], pattern: list[str]) -> bool:
    """Whether a key's first segments match the glob's, one by one (a ``*`` never crosses
    ``/``); a hidden name matches only a pattern that starts hidden too."""
    for part, pat in zip(parts, pattern, strict=False):
        if not fnmatch.fnmatchcase(part, pat) or (is_hidden(part) and not is_hidden(pat)):
            return False
    return True


def _directory_files(bucket, directory, objects):
    files = []
    for object_key, size in sorted(objects):
        relative = object_key[len(directory) :]
        if is_hidden(relative):
            continue
        if "/" in relative:
            sub = relative.split("/", 1)[0]
            if is_hidden(sub):
                continue
            raise InputError(
                "input directory holds a directory, not a file: "
                f"{quote_path(join_url(bucket, directory + sub) + '/')}"
            )
        files.append((object_key, size))
    return files


def input_exists(url: str) -> bool:
    """Whether an input URL names at least one object."""
    bucket, key = split_url(url)
    try:
        return bool(_matches(bucket, key))
    except InputError:
        return True  # it exists; reading it will raise the error


def object_size(url: str) -> int:
    """The size of one object (from the listing that found it, else a HEAD request)."""
    if url not in _sizes:
        bucket, key = split_url(url)
        _sizes[url] = client().head_object(Bucket=bucket, Key=key)["ContentLength"]
    return _sizes[url]


class ObjectReader(io.RawIOBase):
    """An object as a seekable binary stream: each seek starts a ranged GET from there.

    Reading a split seeks once and then reads forward, so a split costs one request; the
    connection is dropped when the split ends before the object does.
    """

    def __init__(self, url: str):
        self.url = url
        self.bucket, self.key = split_url(url)
        self.position = 0
        self.body = None
        self.at_end = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self.position
        elif whence == io.SEEK_END:
            offset += object_size(self.url)
        if offset != self.position:
            self._drop_body()
            self.position, self.at_end = offset, False
        return self.position

    def readinto(self, buffer) -> int:
        if self.at_end:
            return 0
        if self.body is None:
            self.body = self._get()
            if self.body is None:
                self.at_end = True
                return 0
        data = self.body.read(len(buffer))
        if not data:
            self.at_end = True
            return 0
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)

    def _get(self):
        from botocore.exceptions import ClientError

        try:
            response = client().get_object(
                Bucket=self.bucket, Key=self.key, Range=f"bytes={self.position}-"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return None  # at or past the end of the object
            raise
        return response["Body"]

    def _drop_body(self) -> None:
        if self.body is not None:
            self.body.close()
            self.body = None

    def close(self) -> None:
        self._drop_body()
        super().close()


def open_object(url: str, decompress=None):
    """A buffered, seekable binary stream over the object at ``url``; with ``decompress``
    (``gzip.open``, say), a stream of its decompressed bytes."""
    stream = io.BufferedReader(ObjectReader(url), buffer_size=_READ_BUFFER)
    if decompress is None:
        return stream
    return _Decompressed(decompress(stream, "rb"), stream)


class _Decompressed:
    """A decompressing reader that also closes the object stream it reads from (GzipFile
    and BZ2File leave a file object they were given open)."""

    def __init__(self, reader, source):
        self.reader, self.source = reader, source

    def read(self, size: int = -1) -> bytes:
        return self.reader.read(size)

    def close(self) -> None:
        self.reader.close()
        self.source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---- output ---------------------------------------------------------------------------


def _output_prefix(url: str) -> tuple[str, str]:
    bucket, key = split_url(url)
    key = key.strip("/")
    if not key:
        raise S3OutputError(f"output needs a prefix inside the bucket, not its root: {url}")
    return bucket, key + "/"


def _delete_prefix(bucket: str, prefix: str) -> None:
    keys = [key for key, _ in _list_objects(bucket, prefix)]
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        client().delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def _files_under(directory: str) -> list[str]:
    names = []
    for root, _, files in os.walk(directory):
        for name in files:
            names.append(os.path.relpath(os.path.join(root, name), directory))
    return sorted(name.replace(os.sep, "/") for name in names)


class S3Publisher:
    """Publish an output prefix: stage it, copy it into place, ``_SUCCESS`` last.

    Same interface as ``paths.LocalPublisher``: ``begin()`` gives a local directory for
    files to be written in, which ``publish()`` uploads. The temporary prefix
    ``.NAME.tmp-ID/`` sits beside the output (hidden from Hadoop and our readers, unique
    per run so concurrent runs never mix); S3 has no rename, so publishing copies each
    object into place and writes ``_SUCCESS`` last: readers that wait for ``_SUCCESS``
    (Luigi's ``S3FlagTarget``, Hadoop) see all or nothing.

    With ``remote``, the files are written to ``staging_url`` by someone else (a Hadoop
    job): ``begin()`` returns that URL and nothing is uploaded.
    """

    def __init__(self, output_path: str, remote: bool = False):
        self.remote = remote
        self.bucket, self.prefix = _output_prefix(output_path)
        self.final = join_url(self.bucket, self.prefix)
        parent, _, name = self.prefix.rstrip("/").rpartition("/")
        parent = parent + "/" if parent else ""
        self.staging_prefix = f"{parent}.{name}.tmp-{uuid.uuid4().hex[:12]}/"
        self.staging_url = join_url(self.bucket, self.staging_prefix)
        self.local_staging: str | None = None

    def begin(self) -> str:
        self._check_free()
        if self.remote:
            return self.staging_url
        self.local_staging = tempfile.mkdtemp(prefix="streamjobs-s3-")
        return self.local_staging

    def _check_free(self) -> None:
        existing = [key for key, _ in _list_objects(self.bucket, self.prefix)]
        if self.prefix + SUCCESS_FILE in existing:
            raise S3OutputError(f"output already exists: {self.final}")
        if existing:
            raise S3OutputError(
                f"output prefix is not empty but has no {SUCCESS_FILE} (an interrupted "
                f"run?): {self.final} holds {len(existing)} objects; remove them first"
            )

    def publish(self, counters: dict) -> None:
        bucket, prefix = split_url(self.staging_url)
        if self.remote:
            body = dumps_counters(counters).encode()
            client().put_object(Bucket=bucket, Key=prefix + COUNTERS_FILE, Body=body)
        else:
            write_counters(self.local_staging, counters)
            for name in _files_under(self.local_staging):
                path = os.path.join(self.local_staging, name)
                client().upload_file(path, bucket, prefix + name)
        copied: list[str] = []
        try:
            # A concurrent run that published first makes this fail rather than mix outputs.
            self._check_free()
            # A staged _SUCCESS (Hadoop writes one) would appear too early: written last.
            marker = self.staging_prefix + SUCCESS_FILE
            staged = [k for k, _ in _list_objects(self.bucket, self.staging_prefix) if k != marker]
            with ThreadPoolExecutor(_COPY_THREADS) as pool:
                for key in pool.map(self._copy_into_place, staged):
                    copied.append(key)
            client().put_object(Bucket=self.bucket, Key=self.prefix + SUCCESS_FILE, Body=b"")
        except BaseException:
            self._remove_copies(copied)
            self.abort()
            raise
        self.abort()  # publishing done: the temporary prefix goes

    def _copy_into_place(self, staged_key: str) -> str:
        final_key = self.prefix + staged_key[len(self.staging_prefix) :]
        source = {"Bucket": self.bucket, "Key": staged_key}
        client().copy(source, self.bucket, final_key)  # multipart beyond 5 GB
        return final_key

    def _remove_copies(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            client().delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def abort(self) -> None:
        if self.local_staging is not None:
            shutil.rmtree(self.local_staging, ignore_errors=True)
        _delete_prefix(self.bucket, self.staging_prefix)


def _read_object(bucket: str, key: str) -> str | None:
    from botocore.exceptions import ClientError

    try:
        return client().get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise


def output_problem(root: str, run: str) -> S3OutputError | None:
    """As ``paths.output_problem``, for an output prefix."""
    from streamjobs.paths import RUN_FILE, _foreign_output

    bucket, prefix = _output_prefix(root)
    owner = _read_object(bucket, prefix + RUN_FILE)
    if owner is None:
        names = {key[len(prefix) :].split("/")[0] for key, _ in _list_objects(bucket, prefix)}
        if not [name for name in names if not name.startswith(".") and name != RUN_FILE]:
            return None  # nothing there but staging
        owner = _read_object(bucket, prefix + RUN_FILE)  # claimed meanwhile by this run?
    problem = _foreign_output(root, owner, run)
    return S3OutputError(problem) if problem else None


def claim_output(root: str, run: str) -> None:
    """As ``paths.claim_output``, for an output prefix. S3 has no create-if-absent here:
    the owner is written when missing and read back, so of two runs that claim at the very
    same moment the later write wins and the other fails as its files begin."""
    from streamjobs.paths import RUN_FILE, _foreign_output

    bucket, prefix = _output_prefix(root)
    if _read_object(bucket, prefix + RUN_FILE) is None:
        problem = output_problem(root, run)
        if problem:
            raise problem
        client().put_object(Bucket=bucket, Key=prefix + RUN_FILE, Body=run.encode())
    problem = _foreign_output(root, _read_object(bucket, prefix + RUN_FILE), run)
    if problem:
        raise S3OutputError(problem)


class S3FilePublisher:
    """One output object of a per-file run, with its counters and bad lines beside it in
    ``_counters/NAME`` and ``_quarantine/NAME``: side objects first, the object last in one
    PUT (atomic), so its existence means the side objects are there too."""

    def __init__(self, url: str, owner: tuple[str, str] | None = None):
        self.final = url
        self.bucket, self.key = split_url(url)
        self.owner = owner
        self.local_staging: str | None = None

    def begin(self) -> str:
        if any(key == self.key for key, _ in _list_objects(self.bucket, self.key)):
            raise S3OutputError(f"output object already exists: {self.final}")
        if self.owner is not None:
            claim_output(*self.owner)
        self.local_staging = tempfile.mkdtemp(prefix="streamjobs-s3-")
        return self.local_staging

    def publish(self, counters: dict) -> None:
        from streamjobs.run import part_name, quarantine_name

        write_counters(self.local_staging, counters)
        directory, _, name = self.key.rpartition("/")
        directory = directory + "/" if directory else ""
        if self.owner is not None:  # beside the run's output prefix, as for local output
            _, directory = _output_prefix(self.owner[0])
            name = self.key[len(directory) :]
        sides = {quarantine_name(0): "_quarantine", COUNTERS_FILE: "_counters"}
        try:
            for staged, side_dir in sides.items():
                path = os.path.join(self.local_staging, staged)
                if os.path.exists(path):
                    client().upload_file(path, self.bucket, f"{directory}{side_dir}/{name}")
            part = os.path.join(self.local_staging, part_name(0))
            client().upload_file(part, self.bucket, self.key)
        finally:
            self.abort()

    def abort(self) -> None:
        if self.local_staging is not None:
            shutil.rmtree(self.local_staging, ignore_errors=True)
