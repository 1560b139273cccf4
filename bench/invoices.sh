#!/usr/bin/env bash
# The month-end invoice query, ratewire against DuckDB on the same files.
#
#   bench/invoices.sh [ROWS]        (default 100,000,000)
#
# Writes a synthetic ledger of ROWS rated records of October 2026 for
# 100,000 accounts (bench/examples/invoice_ledger.rs, through the ledger's
# own writer) unless it is already there, then runs the invoice query of
# every account for the month RUNS times (default 3) with `ratewire sql`
# (release build) and with DuckDB (the venv's Python), each writing its
# result as CSV, and appends the times, their ratio, the commands and the
# machine to bench/results/invoices.md.
#
# Environment: RUNS, BENCH_DATA (where the ledger goes; default
# $TMPDIR/ratewire-bench/invoices-ROWS, kept for the next run), RATEWIRE_VENV.
set -euo pipefail

ROWS="${1:-100000000}"
RUNS="${RUNS:-3}"
# shellcheck source=../scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/env.sh"
DATA="${BENCH_DATA:-${TMPDIR:-/tmp}/ratewire-bench/invoices-$ROWS}"
RESULTS="$ROOT/bench/results/invoices.md"
PYTHON="$RATEWIRE_VENV/bin/python"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

cd "$ROOT"
# Built one at a time: built together, the two resolve their dependencies'
# features differently from the builds of each alone, and rebuild them.
cargo build --release --locked -p ratewire --bin ratewire
cargo build --release --locked -p ratewire-bench --example invoice_ledger
RATEWIRE="$CARGO_TARGET_DIR/release/ratewire"
if [ ! -d "$DATA/_manifest" ]; then
    mkdir -p "$(dirname "$DATA")"
    /usr/bin/time -f "ledger written in %e s, %M KiB peak" \
        "$CARGO_TARGET_DIR/release/examples/invoice_ledger" "$DATA" "$ROWS"
fi

# The invoices view, for one period; DuckDB runs the same SQL as the views
# (analytics/src/report/invoice_lines.sql and invoices.sql) on a glob.
QUERY="select * from invoices where period = '2026-10'"
DUCKDB_QUERY="with invoice_lines as (
    select account, period, currency, kind, service, coalesce(split_part(tariff, '@', 1), '') as plan,
        count(*) as records, sum(quantity) as quantity, sum(rated_quantity) as rated_quantity,
        sum(allowance_quantity) as allowance_quantity, sum(charge) as charge, sum(discount) as discount,
        sum(net) as net, sum(tax) as tax, sum(gross) as gross,
        round(sum(net), 2) as line_net, round(sum(tax), 2) as line_tax,
        round(sum(net), 2) + round(sum(tax), 2) as line_total
    from read_parquet('$DATA/table=rated/**/*.parquet', hive_partitioning = true)
    where kind in ('usage', 'recurring', 'adjustment') and period = '2026-10'
    group by account, period, currency, kind, service, coalesce(split_part(tariff, '@', 1), ''))
select account, period, currency, count(*) as lines, sum(records) as records, sum(charge) as charge,
    sum(discount) as discount, sum(net) as net, sum(tax) as tax, sum(gross) as gross,
    sum(line_net) as total_net, sum(line_tax) as total_tax, sum(line_total) as total,
    sum(line_total) - sum(gross) as rounding
from invoice_lines group by account, period, currency"

seconds() { date +%s.%N; }

ours=()
for _ in $(seq "$RUNS"); do
    start=$(seconds)
    "$RATEWIRE" sql --ledger "$DATA" --format csv --output "$OUT/ratewire.csv" "$QUERY"
    ours+=("$(echo "$(seconds) - $start" | bc)")
done

theirs=()
for _ in $(seq "$RUNS"); do
    start=$(seconds)
    "$PYTHON" -c "import sys, duckdb; duckdb.execute(\"copy (\" + sys.argv[1] + \") to '\" + sys.argv[2] + \"' (header)\")" \
        "$DUCKDB_QUERY" "$OUT/duckdb.csv"
    theirs+=("$(echo "$(seconds) - $start" | bc)")
done

# The same invoices: rows and the sum of totals.
check() { "$PYTHON" -c "import sys, duckdb; print(duckdb.execute(\"select count(*), sum(total::decimal(38, 2)) from read_csv(?, all_varchar = true)\", [sys.argv[1]]).fetchone())" "$1"; }
ours_check=$(check "$OUT/ratewire.csv")
theirs_check=$(check "$OUT/duckdb.csv")
if [ "$ours_check" != "$theirs_check" ]; then
    echo "the results differ: ratewire $ours_check, DuckDB $theirs_check" >&2
    exit 1
fi

best() { printf '%s\n' "$@" | sort -n | head -1; }
ours_best=$(best "${ours[@]}")
theirs_best=$(best "${theirs[@]}")
ratio=$(echo "scale=2; $ours_best / $theirs_best" | bc)
duckdb_version=$("$PYTHON" -c "import duckdb; print(duckdb.__version__)")
files=$(find "$DATA/table=rated" -name '*.parquet' | wc -l)
bytes=$(du -sb "$DATA/table=rated" | cut -f1)

{
    echo
    echo "## $(date -u +%Y-%m-%dT%H:%MZ), $ROWS rows"
    echo
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB"
    echo "- ledger: $ROWS rated rows, 100,000 accounts, one month, $files files, $bytes bytes"
    echo "- result: $ours_check (rows, sum of totals), the same from both"
    echo "- ratewire: \`ratewire sql --ledger DATA --format csv --output F \"$QUERY\"\` (release)"
    echo "- DuckDB $duckdb_version: \`copy (<the views' SQL on read_parquet(glob, hive_partitioning = true)>) to F (header)\`"
    echo
    echo "| run | ratewire s | DuckDB s |"
    echo "|---|---|---|"
    for i in $(seq 0 $((RUNS - 1))); do
        echo "| $((i + 1)) | ${ours[$i]} | ${theirs[$i]} |"
    done
    echo
    echo "Best: ratewire $ours_best s, DuckDB $theirs_best s; ratio $ratio (goal: at most 1.5)."
} | tee -a "$RESULTS"
