"""The post's job on mrjob's runners: the same records as every other engine.

    python -m mr_json_filter -r inline|local|hadoop|emr [--threshold 1.99] [-o OUT] INPUT...

Keeps the JSON lines whose ``index + total`` exceeds the threshold, adding ``sum_val``,
through ``streamjobs.records`` (the one definition of the semantics). Map-only; records
are written as plain JSON lines (no key, no tab). Blank and bad lines are counted as
mrjob (Hadoop) counters named as in ``_COUNTERS.json``: group ``records`` (read, written,
bad, blank) and group ``bad_records`` (one counter per reason); the first bad lines of
each task are logged on its stderr with their file and line number.

On EMR, an interrupted submission (Ctrl-C or SIGTERM) terminates the cluster it created.
"""

from __future__ import annotations

import signal
import sys

from mrjob.job import MRJob
from mrjob.protocol import BytesValueProtocol
from streamjobs.records import DEFAULT_THRESHOLD, ChunkResult, ThresholdFilter

from streamjobs import counters as counters_mod
from streamjobs.inputs import Chunk, Split, read_split

# A task logs this many bad lines in full on its stderr; the counters count them all.
LOGGED_BAD_LINES = 20


class MRJsonFilter(MRJob):
    """Keep records whose ``index + total`` exceeds ``--threshold``; add ``sum_val``.

    A map task reads one whole input file (``mapper_raw``; mrjob downloads and
    decompresses it on a cluster) in large chunks through ``ThresholdFilter.map_chunk``:
    about twice as fast under ``-r local`` as mrjob's line-at-a-time mapper, and bad
    lines are reported with their file and line number. Parallelism is one task per
    input file.
    """

    # Records leave as the value alone, as with RawValueProtocol, but as bytes: no
    # decode and re-encode of every output line.
    OUTPUT_PROTOCOL = BytesValueProtocol

    def configure_args(self) -> None:
        super().configure_args()
        self.add_passthru_arg(
            "--threshold",
            type=float,
            default=DEFAULT_THRESHOLD,
            help="keep records whose index + total is above this (default: %(default)s)",
        )

    def run_job(self) -> None:
        """Run the job; a local ``-o`` directory is published whole or not at all.

        mrjob's inline and local runners write part files straight into ``-o``: they are
        staged beside it instead and renamed into place with ``_SUCCESS``, as every
        other engine publishes. (On Hadoop and EMR the cluster's output committer does
        this.)
        """
        output_dir = self.options.output_dir
        if self.options.runner not in ("inline", "local") or not output_dir:
            super().run_job()
            return
        # Imported here, not on cluster nodes, where each map task would pay for Luigi.
        from streamjobs.paths import LocalPublisher

        publisher = LocalPublisher(output_dir)
        self.options.output_dir = publisher.begin()
        try:
            super().run_job()
        except BaseException:
            publisher.abort()
            raise
        publisher.publish()

    def mapper_raw(self, input_path: str, input_uri: str):
        """Map the file at ``input_path`` (a local copy of ``input_uri``)."""
        mapper = ThresholdFilter(self.options.threshold)
        totals = counters_mod.new_counters()
        logged = 0
        for item in read_split(Split(input_path)):
            if isinstance(item, Chunk):
                result = mapper.map_chunk(item.data, input_uri, item.offset, item.first_line)
            else:
                bad = mapper.too_long(input_uri, item.offset, item.line, item.prefix, item.length)
                result = ChunkResult(read=1, bad=[bad])
            counters_mod.add_counters(totals, counters_mod.chunk_counters(result))
            for record in result.output:
                yield None, record[:-1]
            for bad in result.bad:
                if logged < LOGGED_BAD_LINES:
                    self.stderr.write(b"bad record: " + bad.to_json() + b"\n")
                logged += 1
        if logged > LOGGED_BAD_LINES:
            self.stderr.write(b"bad records: only the first %d logged\n" % LOGGED_BAD_LINES)
        # Every counter of the schema is reported, zeros included, so that runs compare.
        for group, names in totals.items():
            for name, value in names.items():
                self.increment_counter(group, name, value)


def _interrupt_on_sigterm(signum, frame):
    """SIGTERM as Ctrl-C: mrjob terminates the EMR cluster it created on KeyboardInterrupt
    only, and a killed submission would otherwise leave the cluster running (and billing).
    Later SIGTERMs are ignored so that they cannot cut that clean-up short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(signum)


def main(argv: list[str] | None = None) -> None:
    """The command line: mrjob's, with SIGTERM handled as Ctrl-C.

    An interrupted run exits with 128 + the signal's number, as a shell reports it.
    """
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    try:
        MRJsonFilter(sys.argv[1:] if argv is None else argv).execute()
    except KeyboardInterrupt as interrupt:
        signum = interrupt.args[0] if interrupt.args else signal.SIGINT
        print(f"mr_json_filter: interrupted by {signal.Signals(signum).name}", file=sys.stderr)
        sys.exit(128 + signum)


if __name__ == "__main__":
    main()
