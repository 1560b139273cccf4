#!/usr/bin/env bash
# Ledger write throughput: ROWS rated records through the ledger's own
# writer and commit protocol (Parquet with ZSTD, statistics and page index,
# fsync, rename, manifest), in commits of 2^20 rows.
#
#   bash bench/ledger_write.sh [ROWS]        (default 10,000,000)
#
# Runs bench/examples/invoice_ledger.rs into a new directory, which times
# `Ledger::commit` apart from generating the records, and appends rows/s
# and MB/s of Parquet written, with the command, machine and date, to
# bench/results/ledger.md.
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"

rows="${1:-10000000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --release --locked -p ratewire-bench --example invoice_ledger >&2
out="$("$CARGO_TARGET_DIR/release/examples/invoice_ledger" "$work/ledger" "$rows" 2>/dev/null)"
echo "$out" >&2
line="$(grep '^ledger commits:' <<<"$out")"
{
    echo
    echo "## $(date -u +%Y-%m-%dT%H:%MZ): $rows rows"
    echo
    echo "Command: \`bash bench/ledger_write.sh $rows\` at commit $(git rev-parse --short HEAD)"
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
    echo
    echo "$line"
} | tee -a bench/results/ledger.md
