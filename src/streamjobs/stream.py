"""The map loop every engine shares, over what ``inputs`` reads, and over a byte stream.

``map_items`` turns a reader's chunks of lines into ``ChunkResult``s; ``map_stream`` runs
a chunk mapper from a binary stream to another (what a Hadoop Streaming task runs) and
returns the counters.
"""

from __future__ import annotations

from streamjobs import counters as counters_mod
from streamjobs.inputs import CHUNK_BYTES, DEFAULT_MAX_LINE_BYTES, Chunk, read_lines
from streamjobs.job import ChunkResult, too_long


def map_items(mapper, items, source: str, max_line_bytes: int):
    """Run ``mapper`` (a ``job.ChunkMapper``) over what a reader yields.

    Yields ``(ChunkResult, input bytes consumed)`` per item; an over-long line becomes a
    ``line_too_long`` bad record.
    """
    for item in items:
        if isinstance(item, Chunk):
            result = mapper.map_chunk(item.data, source, item.offset, item.first_line)
            item.lines = result.read  # so the reader need not count the chunk's lines again
            yield result, len(item.data)
        else:
            bad = too_long(source, item.offset, item.line, item.prefix, item.length, max_line_bytes)
            yield ChunkResult(read=1, bad=[bad]), item.length + 1


def map_stream(
    mapper,
    infile,
    outfile,
    source: str = "<stdin>",
    chunk_bytes: int = CHUNK_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    quarantine=None,
    start: int = 0,
) -> dict:
    """Run ``mapper`` over the binary stream ``infile`` into ``outfile``; the counters.

    Quarantined lines are written as JSON lines to ``quarantine`` when given. ``start`` is
    where the stream begins in ``source`` (a split's start): bad lines' offsets count from
    there, and line numbers are known only when it is 0.
    """
    totals = counters_mod.new_counters()
    items = read_lines(infile, 0, None, chunk_bytes, max_line_bytes)
    for result, _ in map_items(mapper, items, source, max_line_bytes):
        outfile.writelines(result.output)
        if quarantine is not None:
            for bad in result.bad:
                if start:
                    bad.offset += start
                    bad.line = None
                quarantine.write(bad.to_json() + b"\n")
        counters_mod.add_counters(totals, counters_mod.chunk_counters(result))
    return totals
