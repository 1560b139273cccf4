#!/usr/bin/env bash
# The demo of the main job, end to end on this machine: installs what it
# needs (the broker included), starts a local Kafka-compatible broker,
# generates a realistic operator and a month of events (with lifecycle,
# malformed and resent events), streams them through `ratewire run` into the
# Parquet ledger, prints the summary, trains a churn model on six months of
# history and prints the top ten of the risk list, and reads the ledger back
# with DuckDB.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
bash scripts/setup.sh

out="${1:-$ROOT/demo-output}"
events="${DEMO_EVENTS:-200000}"
accounts="${DEMO_ACCOUNTS:-10000}"
cargo build --release --locked -p ratewire
bin="$CARGO_TARGET_DIR/release"

"$bin/ratewire" demo --dir "$out" --events "$events" --accounts "$accounts" --tansu "$(bash scripts/broker.sh bin)"

ledger="$(ls -d "$out"/ledger-* | sort | tail -n 1)"
echo "== the ledger read back by DuckDB ($ledger)"
"$RATEWIRE_VENV/bin/python" - "$ledger" <<'PY'
import sys, duckdb
ledger = sys.argv[1]
con = duckdb.connect()
print(con.sql(f"""
    SELECT service, count(*) AS records, sum(gross) AS gross, any_value(currency) AS currency
    FROM read_parquet('{ledger}/table=rated/**/*.parquet', hive_partitioning = true)
    WHERE kind = 'usage' GROUP BY service ORDER BY gross DESC"""))
print(con.sql(f"""
    SELECT code, code_name, count(*) AS rejects
    FROM read_parquet('{ledger}/table=rejects/**/*.parquet', hive_partitioning = true)
    GROUP BY ALL ORDER BY rejects DESC"""))
PY
