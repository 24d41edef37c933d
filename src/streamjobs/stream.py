"""A mapper over a byte stream: what a Hadoop Streaming task or a shell pipe runs.

Reads whole lines from ``infile`` in large blocks, writes kept records to ``outfile``, and
returns the counters (the caller reports them: Hadoop counters on stderr, say) with the
quarantined lines.
"""

from __future__ import annotations

from streamjobs import counters as counters_mod
from streamjobs.inputs import CHUNK_BYTES, Chunk, read_lines
from streamjobs.records import DEFAULT_MAX_LINE_BYTES, LINE_TOO_LONG, BadLine, ChunkResult


def map_items(mapper, items, source: str, max_line_bytes: int):
    """Run ``mapper`` over what a reader yields (``inputs.read_lines``/``read_split``).

    Yields ``(ChunkResult, input bytes consumed)`` per item; an over-long line becomes a
    ``line_too_long`` bad record. Shared by every engine's map loop.
    """
    for item in items:
        if isinstance(item, Chunk):
            result = mapper.map_chunk(item.data, source, item.offset, item.first_line)
            item.lines = result.read  # so the reader need not count the chunk's lines again
            yield result, len(item.data)
        else:
            detail = f"{item.length} bytes, over the {max_line_bytes}-byte limit"
            bad = BadLine(
                source, item.offset, item.line, LINE_TOO_LONG, detail, item.prefix, item.length
            )
            yield ChunkResult(read=1, bad=[bad]), item.length + 1


def map_stream(
    mapper,
    infile,
    outfile,
    source: str = "<stdin>",
    chunk_bytes: int = CHUNK_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    quarantine=None,
) -> dict:
    """Run ``mapper`` over the binary stream ``infile`` into ``outfile``; the counters.

    Quarantined lines are written as JSON lines to ``quarantine`` when given.
    """
    totals = counters_mod.new_counters()
    items = read_lines(infile, 0, None, chunk_bytes, max_line_bytes)
    for result, _ in map_items(mapper, items, source, max_line_bytes):
        outfile.writelines(result.output)
        if quarantine is not None:
            for bad in result.bad:
                quarantine.write(bad.to_json() + b"\n")
        counters_mod.add_counters(totals, counters_mod.chunk_counters(result))
    return totals


def main() -> None:
    """``python -m streamjobs.stream [THRESHOLD]``: the seed's job from stdin to stdout."""
    import json
    import sys

    from streamjobs.records import DEFAULT_THRESHOLD, ThresholdFilter

    threshold = float(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_THRESHOLD
    totals = map_stream(ThresholdFilter(threshold), sys.stdin.buffer, sys.stdout.buffer)
    sys.stderr.write(json.dumps(totals, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
