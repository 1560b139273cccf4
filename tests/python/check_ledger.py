"""Reads a ratewire ledger without ratewire and checks it against its manifests.

Usage: check_ledger.py LEDGER_DIR

The committed files are those listed by the manifests `_manifest/*.json`
(numbered from 1, no gaps), less those a later manifest lists as `removed`
(a compaction's inputs, moved to `_trash/`). Each is read with pyarrow and, all together,
with DuckDB; row counts and the sums of the money columns must equal the
manifests' per file, and the latest manifest's `ledger_totals` per table.
Column types and the sort order within each file are checked too, and
that the lifecycle facts agree with the rated records they come from. Prints
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

TOTAL_COLUMNS = {"rated": ["gross", "net", "tax"], "draws": ["amount"], "rejects": [], "facts": ["amount"]}
# Columns other than the totals' and event_time whose type is checked.
TYPED_COLUMNS = {"facts": {"owed": "money", "owed_due_at": "time"}}
# Record kinds of `rated` that each have one fact with source 'event'.
LIFECYCLE_KINDS = ("payment", "topup", "adjustment", "subscription", "support_contact", "block", "unblock")
MONEY_KINDS = ("payment", "topup", "adjustment")
FACT_KINDS = {"event": set(LIFECYCLE_KINDS), "rater": {"notify", "block", "unblock"}}
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
    types = {c: "money" for c in TOTAL_COLUMNS[table]} | {"event_time": "time"} | TYPED_COLUMNS.get(table, {})
    for column, kind in types.items():
        if arrow.schema.field(column).type != (TIME_TYPE if kind == "time" else MONEY_TYPE):
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
    # A ledger written before a table existed lists no totals for it.
    for table, columns in TOTAL_COLUMNS.items():
        expected.setdefault(table, {"rows": 0, **{c: Decimal(0) for c in columns}})
    removed = {path for manifest in loaded for path in manifest.get("removed", [])}
    entries = [entry for manifest in loaded for entry in manifest["files"] if entry["path"] not in removed]

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

    check_facts(ledger, entries)
    print(json.dumps({"sequence": loaded[-1]["sequence"], "files": len(entries), "tables": summary}))


def check_facts(ledger, entries):
    """Facts have kinds from their fixed sets, one event fact per lifecycle
    record, and money facts the negative of their records' gross."""
    paths = {t: [str(ledger / e["path"]) for e in entries if e["table"] == t] for t in ("rated", "facts")}
    if not paths["facts"]:
        return
    facts = duckdb.execute(
        "select source, kind, count(*) from read_parquet(?, hive_partitioning = true) group by all", [paths["facts"]]
    ).fetchall()
    for source, kind, _ in facts:
        if kind not in FACT_KINDS.get(source, set()):
            fail(f"facts: kind {kind!r} from source {source!r}")
    event_facts, fact_amount = duckdb.execute(
        "select count(*) filter (where source = 'event'), coalesce(sum(amount), 0)"
        " from read_parquet(?, hive_partitioning = true)",
        [paths["facts"]],
    ).fetchone()
    lifecycle, money = (0, Decimal(0))
    if paths["rated"]:
        lifecycle, money = duckdb.execute(
            f"select count(*) filter (where kind in {LIFECYCLE_KINDS}),"
            f" coalesce(sum(gross) filter (where kind in {MONEY_KINDS}), 0)"
            " from read_parquet(?, hive_partitioning = true)",
            [paths["rated"]],
        ).fetchone()
    if event_facts != lifecycle:
        fail(f"facts: {event_facts} from events, but {lifecycle} lifecycle records in rated")
    if fact_amount != -money:
        fail(f"facts: amounts add up to {fact_amount}, the money records' gross to {money}")


if __name__ == "__main__":
    main()
