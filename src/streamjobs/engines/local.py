"""The embedded default engine: every core of this machine, no cluster.

Input splits (byte ranges of large files, whole compressed files) go to worker processes;
each writes ``part-NNNNN`` for its split, and its bad lines under ``_quarantine/``, into
the run's staging directory. The run template (``streamjobs.run``) does the rest. Inputs
and outputs may be local paths or ``s3://`` URLs (see ``streamjobs.s3``).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import zlib
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from streamjobs import counters as counters_mod
from streamjobs import run as run_mod
from streamjobs.errors import JobError, quote_path
from streamjobs.inputs import InputError, Split, file_size, list_input_files, read_split
from streamjobs.inputs import plan_splits as plan_file_splits
from streamjobs.interrupts import die_with_parent
from streamjobs.job import mapper_for
from streamjobs.paths import FilePublisher, LocalPublisher, OutputError, local_path, scheme
from streamjobs.run import EXAMPLES_KEPT, SplitReport, describe_bad_line, part_name
from streamjobs.stream import map_items


class WorkerDied(JobError):
    """A worker process ended abruptly (killed by a signal, or out of memory)."""


def input_files(inputs: list[str]) -> list[str]:
    """Every input file the job's input paths name, in order."""
    files: list[str] = []
    for path in inputs:
        files.extend(list_input_files(path if scheme(path) == "s3" else local_path(path)))
    return files


def plan_splits(spec) -> list[Split]:
    return plan_file_splits(input_files(spec.inputs), spec.split_bytes)


def map_split(mapper, split: Split, directory: str, index: int, max_line_bytes: int, on_chunk):
    """Run ``mapper`` over one split into ``directory/part-NNNNN``; a SplitReport.

    Bad lines go to ``directory/_quarantine/part-NNNNN.jsonl`` (created only when there
    are some). ``on_chunk(n)``, when given, is called with the input bytes of each chunk.
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
                        os.makedirs(os.path.join(directory, run_mod.QUARANTINE_DIR), exist_ok=True)
                        quarantine = open(
                            os.path.join(directory, run_mod.quarantine_name(index)), "wb"
                        )
                    for bad in result.bad:
                        quarantine.write(bad.to_json() + b"\n")
                        if len(examples) < EXAMPLES_KEPT:
                            examples.append(describe_bad_line(bad))
                counters_mod.add_counters(totals, counters_mod.chunk_counters(result))
    finally:
        if quarantine is not None:
            quarantine.close()
    return SplitReport(totals, examples, split.size)


def _read_input(split: Split, max_line_bytes: int):
    """``read_split``, with a failed read (I/O error, corrupt compressed data) as an
    InputError naming the file; write errors, raised outside this generator, stay OSErrors."""
    try:
        yield from read_split(split, max_line_bytes=max_line_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"cannot read input file {quote_path(split.path)}: {exc}") from None


@contextmanager
def output_errors(final: str):
    """Report an OSError while writing (disk full, read-only, ...) as an OutputError, and a
    worker that died as WorkerDied. Input errors are InputErrors by then (``_read_input``)."""
    try:
        yield
    except OSError as exc:
        where = f" ({quote_path(exc.filename)})" if isinstance(exc.filename, str) else ""
        reason = exc.strerror or str(exc)
        raise OutputError(
            f"cannot write output {quote_path(final)}: {reason}{where}; nothing was published"
        ) from None
    except BrokenProcessPool:
        raise WorkerDied(
            f"a worker process died (killed, or out of memory) while writing "
            f"{quote_path(final)}; nothing was published"
        ) from None


class LocalEngine:
    """Runs a job (a ``JobSpec``) in worker processes on this machine."""

    def __init__(self, spec, processes: int | None = None, progress: bool | None = None):
        self.spec = spec
        if processes is None:
            processes = spec.options.get("processes", 0)
        self.processes = processes or os.cpu_count() or 1
        self.progress = sys.stderr.isatty() if progress is None else progress

    def run(self) -> dict:
        """Map the whole input into the output directory ``spec.output``; the counters."""
        spec = self.spec
        splits = plan_splits(spec)
        if scheme(spec.output) == "s3":
            from streamjobs.s3 import S3Publisher

            publisher = S3Publisher(spec.output)
        else:
            publisher = LocalPublisher(spec.output)
        return self._execute(splits, publisher)

    def run_file(self) -> dict:
        """One input file (named literally) into the output file ``spec.output``; its
        counters and bad lines go to ``_counters/NAME`` and ``_quarantine/NAME`` beside it."""
        spec = self.spec
        (path,) = spec.inputs
        location = path if scheme(path) == "s3" else local_path(path)
        splits = plan_file_splits([location], file_size(location) + 1)  # one split
        # The per-file run's output directory and name: the directory is claimed for it.
        owner = spec.options.get("owner")
        owner = tuple(owner) if owner else None
        if scheme(spec.output) == "s3":
            from streamjobs.s3 import S3FilePublisher

            publisher = S3FilePublisher(spec.output, owner)
        else:
            publisher = FilePublisher(spec.output, owner)
        return self._execute(splits, publisher)

    def _execute(self, splits, publisher) -> dict:
        mapper = mapper_for(self.spec.load_job())
        max_line_bytes = self.spec.max_line_bytes

        def map_splits(staging):
            yield from self.map_splits(mapper, splits, staging, max_line_bytes)

        with output_errors(publisher.final):
            return run_mod.execute(publisher, map_splits, self.spec.max_bad_records)

    def map_splits(self, mapper, splits, staging, max_line_bytes):
        """Map ``splits`` into ``staging``; a SplitReport as each split ends."""
        progress = _progress_bar(sum(split.size for split in splits), self.progress)
        try:
            if self.processes == 1 or len(splits) == 1:
                on_chunk = progress.update if self.progress else None
                for index, split in enumerate(splits):
                    yield map_split(mapper, split, staging, index, max_line_bytes, on_chunk)
            else:
                tasks = [(split, staging, i, max_line_bytes) for i, split in enumerate(splits)]
                yield from self._map_in_pool(mapper, tasks, progress if self.progress else None)
        finally:
            progress.close()

    def _map_in_pool(self, mapper, tasks, progress):
        # fork: workers start in milliseconds and inherit the job (the initializer's
        # arguments are inherited, not pickled), so any job class works, even a script's.
        context = multiprocessing.get_context("fork")
        workers = min(self.processes, len(tasks))
        # With a progress bar, workers add each chunk's bytes to a shared counter that
        # this process polls; without one, nothing is shared and nothing polls.
        mapped = context.Value("q", 0) if progress is not None else None
        poll = 0.2 if progress is not None else None
        shown = 0
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(mapper, mapped)
        ) as pool:
            pending = {pool.submit(_map_split_in_worker, *task) for task in tasks}
            try:
                while pending:
                    done, pending = wait(pending, timeout=poll, return_when=FIRST_COMPLETED)
                    if progress is not None:
                        progress.update(mapped.value - shown)
                        shown = mapped.value
                    for future in done:
                        # A worker killed by a signal surfaces here as BrokenProcessPool.
                        yield future.result()
            except BaseException:
                # Stop running splits now. The futures are not cancelled: the broken pool
                # fails them itself, and failing a cancelled one raises InvalidStateError
                # in the pool's thread (CPython 3.11).
                for process in list(pool._processes.values()):
                    process.terminate()
                raise


# In a worker process: the job's chunk mapper, and the counter of input bytes mapped
# shared with the parent's progress bar (None without one).
_worker_mapper = None
_mapped = None


def _init_worker(mapper, mapped):
    # The parent owns interruption: it terminates workers on Ctrl-C or SIGTERM and cleans up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # No worker outlives the run as an orphan, even when its parent is killed with SIGKILL.
    die_with_parent(signal.SIGKILL)
    global _worker_mapper, _mapped
    _worker_mapper, _mapped = mapper, mapped


def _map_split_in_worker(split, staging, index, max_line_bytes) -> SplitReport:
    on_chunk = _add_to_mapped if _mapped is not None else None
    return map_split(_worker_mapper, split, staging, index, max_line_bytes, on_chunk)


def _add_to_mapped(size: int) -> None:
    with _mapped.get_lock():
        _mapped.value += size


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
