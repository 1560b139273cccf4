#!/usr/bin/env bash
# The demo: generate a realistic sample (catalog, accounts, a month of usage
# with some malformed and duplicate events), check the catalog, rate the
# events and show the summary and a few rated records.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
bash scripts/setup.sh

out="${1:-$ROOT/demo-output}"
events="${DEMO_EVENTS:-200000}"
accounts="${DEMO_ACCOUNTS:-10000}"
cargo build --release --locked -p ratewire -p ratewire-bench --bins
bin="$CARGO_TARGET_DIR/release"
mkdir -p "$out"

echo "== generating $events events for $accounts accounts into $out"
"$bin/ratewire-gen" --out "$out" --accounts "$accounts" --events "$events" --bad-percent 1 --duplicate-percent 1
echo "== checking the catalog"
"$bin/ratewire" catalog check "$out/catalog.toml" --accounts "$out/accounts.csv"
echo "== rating"
time "$bin/ratewire" rate --catalog "$out/catalog.toml" --accounts "$out/accounts.csv" \
    --input "$out/events.jsonl" --output "$out/rated.jsonl"
echo "== first rated records"
head -n 3 "$out/rated.jsonl"
echo "== first rejects"
head -n 3 "$out/rated.rejects.jsonl"
