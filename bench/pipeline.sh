#!/usr/bin/env bash
# End-to-end benchmark: Kafka (a local tansu, in memory) to committed
# Parquet, against a bare rdkafka consumer on the same broker, in one run.
#
#   bash bench/pipeline.sh [EVENTS] [PARTITIONS] [ACCOUNTS]
#
# Defaults: 10,000,000 events, 4 partitions, 100,000 accounts. Produces the
# events once, then measures (1) the bare consumer reading them all and
# (2) `ratewire run --until-caught-up` rating them into a new ledger, and
# prints both rates and their ratio. The figures are appended, with the
# command, machine and date, to bench/results/pipeline.md.
set -euo pipefail
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"

events="${1:-10000000}"
partitions="${2:-4}"
accounts="${3:-100000}"
port="${RATEWIRE_BENCH_PORT:-19092}"
work="$(mktemp -d)"
trap 'RATEWIRE_BROKER_DIR="$work/broker" bash scripts/broker.sh stop "$port"; rm -rf "$work"' EXIT

# `--example` alone would build only the example: the binary is built first.
cargo build --release --locked -p ratewire --bin ratewire >&2
cargo build --release --locked -p ratewire-bench --example kafka_load >&2
bin="$CARGO_TARGET_DIR/release"

export RATEWIRE_BROKER_DIR="$work/broker" RATEWIRE_BROKER_STORAGE=memory
bash scripts/broker.sh start "$port"
brokers="127.0.0.1:$port"
bash scripts/broker.sh topic events "$partitions" "$port"
bash scripts/broker.sh topic dead-letter 1 "$port"
bash scripts/broker.sh topic actions 1 "$port"

echo "== producing $events events for $accounts accounts into $partitions partitions" >&2
"$bin/examples/kafka_load" produce "$brokers" events "$work" "$events" "$accounts" >&2

echo "== the bare consumer" >&2
bare="$("$bin/examples/kafka_load" consume "$brokers" events "$events")"
echo "$bare" >&2

cat >"$work/ratewire.toml" <<TOML
[kafka]
brokers = "$brokers"
group_id = "ratewire-bench"
topics = ["events"]
dead_letter_topic = "dead-letter"
actions_topic = "actions"

[catalog]
catalog = "catalog.toml"
accounts = "accounts.csv"
watch = false

[ledger]
dir = "ledger"

[http]
listen = "127.0.0.1:0"
TOML

echo "== ratewire run --until-caught-up" >&2
started="$(date +%s.%N)"
summary="$(cd "$work" && RATEWIRE_LOG=warn "$bin/ratewire" run --config ratewire.toml --until-caught-up)"
ended="$(date +%s.%N)"
echo "$summary" >&2

consumed="$(awk '/^events consumed/ {print $3}' <<<"$summary")"
bare_rate="$(sed -E 's/.*: ([0-9]+) messages\/s/\1/' <<<"$bare")"
report="$(python3 - "$started" "$ended" "$consumed" "$bare_rate" "$events" <<'PY'
import sys
started, ended, consumed, bare, events = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
assert consumed == events, f"the pipeline consumed {consumed} of {events}"
seconds = ended - started
rate = consumed / seconds
print(f"| pipeline (ratewire run, start to caught up) | {seconds:.1f} s | {rate:,.0f} events/s |")
print(f"| bare rdkafka consumer | | {bare:,.0f} messages/s |")
print(f"| ratio pipeline / bare | | {rate / bare:.3f} |")
PY
)"

{
    echo
    echo "## $(date -u +%Y-%m-%dT%H:%MZ): $events events, $partitions partitions, $accounts accounts"
    echo
    echo "Command: \`bash bench/pipeline.sh $events $partitions $accounts\`"
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
    echo
    echo "| what | time | rate |"
    echo "|---|---|---|"
    echo "$report"
} | tee -a bench/results/pipeline.md
