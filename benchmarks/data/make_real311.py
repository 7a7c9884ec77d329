"""Regenerate ``benchmarks/data/real311/*.csv.gz`` from the normalised 311 extracts.

Keeps the columns an engine may read plus the two label columns, byte for byte, in file
order, and drops ``city_status`` and every ``raw_*`` column (they give the label away, and
San Francisco's may hold names). The gzip stream has no file name and mtime 0, so the
output is reproducible::

    python benchmarks/data/make_real311.py --source /work/shared/data/real311
    python benchmarks/data/make_real311.py --source /work/shared/data/real311 --check
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The columns kept: what an engine may read, then the labels.
COLUMNS = ("id", "ts", "lat", "lon", "category", "text", "is_duplicate", "parent_id")
FILES = (
    "chicago_potholes_2018-12",
    "nyc311_2018-10-21_fullday",
    "nyc311_2024-04-15_window",
    "sf311_random_sample",
)


def convert(source: Path) -> bytes:
    """The gzip-compressed CSV of ``source`` reduced to :data:`COLUMNS`."""
    with source.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise SystemExit(f"{source}: missing columns {missing}")
        text = io.StringIO(newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in reader:
            writer.writerow([row[c] for c in COLUMNS])
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(text.getvalue().encode("utf-8"))
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=HERE.parents[2] / "shared" / "data" / "real311",
        help="directory of the normalised CSVs (default: ../shared/data/real311 of the repo)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "real311")
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    differ = []
    for name in FILES:
        data = convert(args.source / f"{name}.csv")
        target = args.out / f"{name}.csv.gz"
        if args.check:
            if not target.exists() or target.read_bytes() != data:
                differ.append(target.name)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        print(f"wrote {target} ({len(data):,} bytes)")
    if differ:
        print(f"differ from the source: {differ}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
