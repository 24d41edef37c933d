"""The post's sample data: files of JSON lines with two random fields, seeded.

    python -m streamjobs.generate --files 4 --lines 1000000 --out data

writes ``data/dat_0.json`` ... ``data/dat_3.json``, each line like
``{"index": 0.8444218515250481, "total": 0.7579544029403025}``. The same seed gives the
same bytes on every machine.
"""

from __future__ import annotations

import argparse
import os
import random


def write_file(path: str, lines: int, seed: int) -> None:
    rng = random.Random(seed)
    draw = rng.random
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="ascii", buffering=1 << 20) as out:
        for start in range(0, lines, 10_000):
            batch = min(10_000, lines - start)
            # repr() of a float is its shortest round-trip form, as json.dumps writes it.
            out.write(
                "".join(f'{{"index": {draw()!r}, "total": {draw()!r}}}\n' for _ in range(batch))
            )
    os.replace(temporary, path)


def generate(out: str, files: int, lines: int, seed: int = 0) -> list[str]:
    """Write ``files`` files of ``lines`` lines into ``out``; their paths."""
    os.makedirs(out, exist_ok=True)
    paths = []
    for number in range(files):
        path = os.path.join(out, f"dat_{number}.json")
        write_file(path, lines, seed * 1_000_003 + number)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4, help="number of files (default 4)")
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines per file")
    parser.add_argument("--out", default="data", help="output directory (default data)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    for path in generate(args.out, args.files, args.lines, args.seed):
        print(path)


if __name__ == "__main__":
    main()
