"""Sample data: files of JSON lines with random fields, seeded.

    python -m streamjobs.generate --files 4 --lines 1000000 --out data
    python -m streamjobs.generate --kind sales --files 2 --lines 100000 --out sales

The post's data (``--kind post``, the default) is ``data/dat_0.json`` ...
``data/dat_3.json``, each line like
``{"index": 0.8444218515250481, "total": 0.7579544029403025}``; sales data is
``sales/sales_0.json`` ..., each line an order like ``{"order": 1, "item": "tea", "price":
12.5, "qty": 3, "customer": {"id": 17, "country": "DE"}}``. The same seed gives the same
bytes on every machine.
"""

from __future__ import annotations

import argparse
import os
import random

ITEMS = ("tea", "coffee", "cake", "juice", "bread", "cheese", "olives", "wine")
COUNTRIES = ("DE", "FR", "NL", "US", "JP", "BR")


def post_line(rng: random.Random, number: int) -> str:
    # repr() of a float is its shortest round-trip form, as json.dumps writes it.
    return f'{{"index": {rng.random()!r}, "total": {rng.random()!r}}}\n'


def sales_line(rng: random.Random, number: int) -> str:
    price = rng.randrange(50, 5000) / 100
    return (
        f'{{"order": {number}, "item": "{rng.choice(ITEMS)}", "price": {price!r}, '
        f'"qty": {rng.randrange(1, 13)}, "customer": {{"id": {rng.randrange(1, 10_000)}, '
        f'"country": "{rng.choice(COUNTRIES)}"}}}}\n'
    )


KINDS = {"post": ("dat", post_line), "sales": ("sales", sales_line)}


def write_file(path: str, lines: int, seed: int, line=post_line) -> None:
    rng = random.Random(seed)
    temporary = f"{path}.tmp-{os.getpid()}"
    with open(temporary, "w", encoding="ascii", buffering=1 << 20) as out:
        for start in range(0, lines, 10_000):
            batch = range(start, min(start + 10_000, lines))
            out.write("".join(line(rng, number) for number in batch))
    os.replace(temporary, path)


def generate(out: str, files: int, lines: int, seed: int = 0, kind: str = "post") -> list[str]:
    """Write ``files`` files of ``lines`` lines of ``kind`` into ``out``; their paths."""
    prefix, line = KINDS[kind]
    os.makedirs(out, exist_ok=True)
    paths = []
    for number in range(files):
        path = os.path.join(out, f"{prefix}_{number}.json")
        write_file(path, lines, seed * 1_000_003 + number, line)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4, help="number of files (default 4)")
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines per file")
    parser.add_argument("--out", default="data", help="output directory (default data)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--kind", choices=sorted(KINDS), default="post", help="post (default) or sales"
    )
    args = parser.parse_args(argv)
    for path in generate(args.out, args.files, args.lines, args.seed, args.kind):
        print(path)


if __name__ == "__main__":
    main()
