"""The embedded default engine: every core of this machine, no cluster.

Input splits (byte ranges of large files, whole compressed files) go to worker processes;
each writes ``part-NNNNN`` for its split into a staging directory, plus quarantined lines
under ``_quarantine/``. When all succeed and the bad-record limit holds, ``_COUNTERS.json``
and ``_SUCCESS`` are written and the directory is renamed into place. On any failure or
interruption nothing is published and the staging directory is removed.

Input and output may be ``s3://`` URLs (see ``streamjobs.s3``): objects are split and read
by byte range like files; for S3 output each worker writes its part locally and sends it
to a temporary prefix, which is copied into place once every split succeeded.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import zlib
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass

from streamjobs import counters as counters_mod
from streamjobs.errors import JobError
from streamjobs.inputs import (
    InputError,
    Split,
    file_size,
    list_input_files,
    plan_splits,
    read_split,
)
from streamjobs.paths import LocalPublisher, OutputError, local_path
from streamjobs.records import (
    DEFAULT_MAX_LINE_BYTES,
    BadLine,
)
from streamjobs.stream import map_items

logger = logging.getLogger("luigi-interface")

QUARANTINE_DIR = "_quarantine"
EXAMPLES_KEPT = 5


class Interrupted(JobError):
    """SIGTERM arrived during a run."""


class WorkerDied(JobError):
    """A worker process ended abruptly (killed by a signal, or out of memory)."""


@dataclass
class SplitReport:
    """What a worker sends back for one split."""

    counters: dict
    examples: list[str]
    size: int


def part_name(index: int) -> str:
    return f"part-{index:05d}"


def map_split(
    mapper,
    split: Split,
    directory: str,
    index: int,
    max_line_bytes: int,
    upload_to=None,
    on_chunk=None,
):
    """Run ``mapper`` over one split into ``directory/part-NNNNN``; a SplitReport.

    With ``upload_to`` (an ``s3://`` staging prefix), the split's files are then uploaded
    there and removed locally. ``on_chunk(n)``, when given, is called with the input bytes
    of each chunk mapped.
    """
    totals = counters_mod.new_counters()
    examples: list[str] = []
    quarantine = None
    try:
        with open(os.path.join(directory, part_name(index)), "wb") as out:
            items = _read_input(split, max_line_bytes)
            for result, size in map_items(mapper, items, split.path, max_line_bytes):
                if on_chunk is not None:
                    on_chunk(size)
                out.writelines(result.output)
                if result.bad:
                    if quarantine is None:
                        quarantine = _open_quarantine(directory, index)
                    for bad in result.bad:
                        quarantine.write(bad.to_json() + b"\n")
                        if len(examples) < EXAMPLES_KEPT:
                            examples.append(describe_bad_line(bad))
                counters_mod.add_counters(totals, counters_mod.chunk_counters(result))
    finally:
        if quarantine is not None:
            quarantine.close()
    if upload_to is not None:
        from streamjobs import s3

        s3.upload_files(directory, _split_files(directory, index), upload_to)
    return SplitReport(totals, examples, split.size)


def _read_input(split: Split, max_line_bytes: int):
    """``read_split``, with a failed read (I/O error, corrupt compressed data) as an
    InputError naming the file; write errors, raised outside this generator, stay OSErrors."""
    try:
        yield from read_split(split, max_line_bytes=max_line_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"cannot read input file {split.path}: {exc}") from None


@contextmanager
def _output_errors(final: str):
    """Report an OSError while writing (disk full, read-only, ...) as an OutputError.

    Input errors are InputErrors by then (see ``_read_input``), so an OSError here is
    the output's.
    """
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        reason = exc.strerror or str(exc)
        raise OutputError(
            f"cannot write output {final}: {reason}{where}; nothing was published"
        ) from None
    except BrokenProcessPool:
        raise WorkerDied(
            f"a worker process died (killed, or out of memory) while writing {final}; "
            "nothing was published"
        ) from None


def _split_files(directory: str, index: int) -> list[str]:
    """The files (relative to ``directory``) that ``map_split`` wrote for split ``index``."""
    names = [part_name(index), f"{QUARANTINE_DIR}/{part_name(index)}.jsonl"]
    return [name for name in names if os.path.exists(os.path.join(directory, name))]


def _open_quarantine(directory: str, index: int):
    path = os.path.join(directory, QUARANTINE_DIR)
    os.makedirs(path, exist_ok=True)
    return open(os.path.join(path, part_name(index) + ".jsonl"), "wb")


def describe_bad_line(bad: BadLine) -> str:
    where = f"{bad.source}:{bad.line}" if bad.line is not None else f"{bad.source}@{bad.offset}"
    return f"{where}: {bad.reason}"


class LocalEngine:
    """Runs a job's mapper over its input splits in worker processes on this machine."""

    def __init__(
        self,
        processes: int = 0,
        split_bytes: int = 16 << 20,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        progress: bool | None = None,
    ):
        self.processes = processes or os.cpu_count() or 1
        self.split_bytes = split_bytes
        self.max_line_bytes = max_line_bytes
        self.progress = sys.stderr.isatty() if progress is None else progress

    @classmethod
    def from_job(cls, job) -> LocalEngine:
        from streamjobs.config import streaming

        settings = streaming()
        return cls(
            processes=job.processes or settings.processes, split_bytes=settings.split_mb << 20
        )

    def run(self, job) -> dict:
        """Run ``job`` (a StreamingJobTask) and publish its output; its counters."""
        return self.run_mapper(
            job.line_mapper(), job.input_path, job.output_path, job.max_bad_records
        )

    def run_mapper(self, mapper, input_path: str, output_path: str, max_bad_records=None):
        files = list_input_files(_input_location(input_path))
        splits = plan_splits(files, self.split_bytes)
        upload_to = None
        if _is_s3(output_path):
            from streamjobs.s3 import S3Publisher

            publisher = S3Publisher(output_path)
            upload_to = publisher.staging_url
        else:
            publisher = LocalPublisher(output_path)
        staging = publisher.begin()
        try:
            with _output_errors(publisher.final), _SigtermRaises():
                totals, examples = self._map_all(
                    mapper, splits, staging, max_bad_records, upload_to
                )
                counters_mod.write_file(staging, totals)
                publisher.publish()
        except BaseException:
            publisher.abort()
            raise
        logger.info(counters_mod.summary(totals, publisher.final))
        if examples:
            logger.warning("streamjobs: bad records, first of them: %s", "; ".join(examples))
        return totals

    def run_file(self, mapper, input_file: str, output_file: str, max_bad_records=None):
        """One file into one file, in this process; side files under ``_quarantine/`` and
        ``_counters/`` beside it. The output file is renamed into place last."""
        (path,) = list_input_files(_input_location(input_file))
        split = Split(path, 0, None, file_size(path))
        if _is_s3(output_file):
            return self._run_file_to_s3(mapper, split, output_file, max_bad_records)
        output_file = os.path.abspath(local_path(output_file))
        directory, name = os.path.split(output_file)
        publisher = LocalPublisher(output_file)
        staging = publisher.begin()
        try:
            with _output_errors(output_file), _SigtermRaises():
                totals, _ = self._map_all(mapper, [split], staging, max_bad_records)
                quarantined = os.path.join(staging, QUARANTINE_DIR, part_name(0) + ".jsonl")
                if os.path.exists(quarantined):
                    os.makedirs(os.path.join(directory, QUARANTINE_DIR), exist_ok=True)
                    os.replace(
                        quarantined, os.path.join(directory, QUARANTINE_DIR, name + ".jsonl")
                    )
                counters_dir = os.path.join(directory, "_counters")
                os.makedirs(counters_dir, exist_ok=True)
                counters_mod.write_file(counters_dir, totals, name + ".json")
                os.replace(os.path.join(staging, part_name(0)), output_file)
        finally:
            publisher.abort()
        return totals

    def _run_file_to_s3(self, mapper, split: Split, output_url: str, max_bad_records):
        """``run_file`` into an object: side files first, the object last (one atomic PUT)."""
        from streamjobs import s3

        staging = tempfile.mkdtemp(prefix="streamjobs-")
        try:
            with _SigtermRaises():
                totals, _ = self._map_all(mapper, [split], staging, max_bad_records)
            name = output_url.rpartition("/")[2]
            counters_file = counters_mod.write_file(staging, totals)
            side_files = {f"_counters/{name}.json": counters_file}
            quarantined = os.path.join(staging, QUARANTINE_DIR, part_name(0) + ".jsonl")
            if os.path.exists(quarantined):
                side_files[f"{QUARANTINE_DIR}/{name}.jsonl"] = quarantined
            s3.publish_file(os.path.join(staging, part_name(0)), side_files, output_url)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return totals

    def _map_all(self, mapper, splits, staging, max_bad_records, upload_to=None):
        totals = counters_mod.new_counters()
        examples: list[str] = []
        progress = _progress_bar(sum(split.size for split in splits), self.progress)

        def account(report: SplitReport):
            counters_mod.add_counters(totals, report.counters)
            examples.extend(report.examples[: EXAMPLES_KEPT - len(examples)])
            # Checked as each split ends: on a large input the rest would only add to it.
            counters_mod.check_bad_record_limit(totals, max_bad_records, examples)

        args = [
            (mapper, split, staging, i, self.max_line_bytes, upload_to)
            for i, split in enumerate(splits)
        ]
        try:
            if self.processes == 1 or len(splits) == 1:
                on_chunk = progress.update if self.progress else None
                for arg in args:
                    account(map_split(*arg, on_chunk=on_chunk))
            else:
                self._map_in_pool(args, account, progress if self.progress else None)
        finally:
            progress.close()
        return totals, examples

    def _map_in_pool(self, args, account, progress):
        # fork: workers start in milliseconds and inherit the imported job code.
        context = multiprocessing.get_context("fork")
        workers = min(self.processes, len(args))
        # With a progress bar, workers add each chunk's bytes to a shared counter that
        # this process polls; without one, nothing is shared and nothing polls.
        mapped = context.Value("q", 0) if progress is not None else None
        on_chunk = _add_to_mapped if progress is not None else None
        poll = 0.2 if progress is not None else None
        shown = 0
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(mapped,)
        ) as pool:
            pending = {pool.submit(map_split, *arg, on_chunk=on_chunk) for arg in args}
            try:
                while pending:
                    done, pending = wait(pending, timeout=poll, return_when=FIRST_COMPLETED)
                    if progress is not None:
                        progress.update(mapped.value - shown)
                        shown = mapped.value
                    for future in done:
                        # A worker killed by a signal surfaces here as BrokenProcessPool.
                        account(future.result())
            except BaseException:
                for future in pending:
                    future.cancel()
                for process in list(pool._processes.values()):  # stop running splits now
                    process.terminate()
                raise


def _is_s3(path: str) -> bool:
    return path[:5].lower() == "s3://"


def _input_location(path: str) -> str:
    """An ``s3://`` URL as given; a bare or ``file://`` path as a local path."""
    return path if _is_s3(path) else local_path(path)


# In a worker process: the counter of input bytes mapped, shared with the parent's
# progress bar (None without one).
_mapped = None


def _init_worker(mapped=None):
    # The parent owns interruption: it terminates workers on Ctrl-C or SIGTERM and cleans up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    global _mapped
    _mapped = mapped


def _add_to_mapped(size: int) -> None:
    with _mapped.get_lock():
        _mapped.value += size


class _SigtermRaises:
    """Turn SIGTERM into an exception for the duration of a run, so cleanup runs."""

    def __enter__(self):
        self.previous = None
        try:
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        except ValueError:  # not the main thread: leave signals alone
            pass
        return self

    @staticmethod
    def _raise(signum, frame):
        raise Interrupted("interrupted by SIGTERM; nothing was published")

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


class _NoProgress:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="streamjobs", leave=False)
