"""Reads a ratewire ledger without ratewire and checks it against its manifests.

Usage: check_ledger.py LEDGER_DIR

The committed files are those listed by the manifests `_manifest/*.json`
(numbered from 1, no gaps). Each is read with pyarrow and, all together,
with DuckDB; row counts and the sums of the money columns must equal the
manifests' per file, and the latest manifest's `ledger_totals` per table.
Column types and the sort order within each file are checked too. Prints
a JSON summary (rows and sums per table) and exits 0, or prints what
disagrees and exits 1.
"""

import json
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TOTAL_COLUMNS = {"rated": ["gross", "net", "tax"], "draws": ["amount"], "rejects": []}
MONEY_TYPE = pa.decimal128(38, 10)
TIME_TYPE = pa.timestamp("us", tz="UTC")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def fail(message):
    print(f"check_ledger: {message}", file=sys.stderr)
    sys.exit(1)


def manifests(ledger):
    paths = sorted((ledger / "_manifest").glob("[0-9]*.json"))
    loaded = [json.loads(p.read_text()) for p in paths]
    for expected, manifest in enumerate(loaded, start=1):
        if manifest["sequence"] != expected:
            fail(f"manifest {expected} is missing (found {manifest['sequence']})")
    if not loaded:
        fail(f"{ledger}: no manifest")
    return loaded


def totals_of(table, arrow):
    sums = {c: pc.sum(arrow[c]).as_py() for c in TOTAL_COLUMNS[table]}
    return {"rows": arrow.num_rows, **{c: Decimal(0) if v is None else v for c, v in sums.items()}}


def sort_key(account, time):
    # A missing account or time (in rejects) sorts first.
    return (account is not None, account or "", time is not None, time or EPOCH)


def as_decimals(totals):
    return {k: (v if k == "rows" else Decimal(v)) for k, v in totals.items()}


def check_file(ledger, entry):
    table = entry["table"]
    arrow = pq.read_table(ledger / entry["path"])
    for column in TOTAL_COLUMNS[table] + ["event_time"]:
        if arrow.schema.field(column).type != (TIME_TYPE if column == "event_time" else MONEY_TYPE):
            fail(f"{entry['path']}: {column} is {arrow.schema.field(column).type}")
    found, listed = totals_of(table, arrow), as_decimals(entry["totals"])
    if found != listed:
        fail(f"{entry['path']}: holds {found}, its manifest says {listed}")
    keys = [sort_key(a, t) for a, t in zip(arrow["account"].to_pylist(), arrow["event_time"].to_pylist())]
    if keys != sorted(keys):
        fail(f"{entry['path']}: not sorted by account, then event time")
    return found


def main():
    if len(sys.argv) != 2:
        fail("usage: check_ledger.py LEDGER_DIR")
    ledger = Path(sys.argv[1])
    loaded = manifests(ledger)
    expected = {t: as_decimals(v) for t, v in loaded[-1]["ledger_totals"].items()}
    entries = [entry for manifest in loaded for entry in manifest["files"]]

    summary = {}
    for table, columns in TOTAL_COLUMNS.items():
        files = [e for e in entries if e["table"] == table]
        with_pyarrow = {"rows": 0, **{c: Decimal(0) for c in columns}}
        for entry in files:
            for key, value in check_file(ledger, entry).items():
                with_pyarrow[key] += value
        if with_pyarrow != expected[table]:
            fail(f"{table}: pyarrow reads {with_pyarrow}, the manifest says {expected[table]}")

        # DuckDB over the committed files, with the Hive partition columns.
        if files:
            paths = [str(ledger / e["path"]) for e in files]
            sums = "".join(f", sum({c})" for c in columns)
            row = duckdb.execute(
                f"select count(*), count(distinct period), count(distinct day){sums}"
                " from read_parquet(?, hive_partitioning = true)",
                [paths],
            ).fetchone()
            with_duckdb = {"rows": row[0], **{c: row[3 + i] for i, c in enumerate(columns)}}
            if with_duckdb != expected[table]:
                fail(f"{table}: DuckDB reads {with_duckdb}, the manifest says {expected[table]}")
            if row[1] < 1 or row[2] < 1:
                fail(f"{table}: no period or day partition column")
        summary[table] = {k: (v if k == "rows" else format(v, "f")) for k, v in with_pyarrow.items()}

    print(json.dumps({"sequence": loaded[-1]["sequence"], "files": len(entries), "tables": summary}))


if __name__ == "__main__":
    main()
