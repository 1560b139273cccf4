#!/usr/bin/env bash
# End-to-end benchmark: Kafka (a local tansu, in memory) to committed
# Parquet, against a bare rdkafka consumer on the same broker, in one run.
#
#   bash bench/pipeline.sh [EVENTS] [PARTITIONS] [ACCOUNTS]
#
# Defaults: 10,000,000 events, 4 partitions, 100,000 accounts. Produces the
# events once, then measures (1) the bare consumer reading them all and
# (2) `ratewire run --until-caught-up` rating them into a new ledger, and
# prints both rates and their ratio, and the CPU each took per event
# (the consumer's or ratewire's, plus the broker's), which shows what a
# change costs or saves even where the rate moves less than the noise.
# Then (3) the latency: a running `ratewire run` is sent up to 1,000,000
# events at half the measured rate, each stamped with the time it is sent,
# and the p50 and p99 of ratewire_event_to_commit_seconds are read from its
# /metrics, for the whole run and for the part after the first 30% (warm).
# The figures are appended, with the command, machine and date, to
# bench/results/pipeline.md.
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
broker_pid="$(cat "$RATEWIRE_BROKER_DIR/tansu.pid")"
hz="$(getconf CLK_TCK)"
# CPU seconds so far of the broker, and of this script's finished children.
broker_cpu() { awk -v hz="$hz" '{printf "%.2f\n", ($14 + $15) / hz}' "/proc/$broker_pid/stat"; }
children_cpu() { awk -v hz="$hz" '{printf "%.2f\n", ($16 + $17) / hz}' "/proc/$$/stat"; }
bash scripts/broker.sh topic events "$partitions" "$port"
bash scripts/broker.sh topic dead-letter 1 "$port"
bash scripts/broker.sh topic actions 1 "$port"

echo "== producing $events events for $accounts accounts into $partitions partitions" >&2
"$bin/examples/kafka_load" produce "$brokers" events "$work" "$events" "$accounts" >&2

echo "== the bare consumer" >&2
bare_cpu_before="$(children_cpu) $(broker_cpu)"
bare="$("$bin/examples/kafka_load" consume "$brokers" events "$events")"
bare_cpu_after="$(children_cpu) $(broker_cpu)"
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
run_cpu_before="$(children_cpu) $(broker_cpu)"
started="$(date +%s.%N)"
summary="$(cd "$work" && RATEWIRE_LOG=warn "$bin/ratewire" run --config ratewire.toml --until-caught-up)"
ended="$(date +%s.%N)"
run_cpu_after="$(children_cpu) $(broker_cpu)"
echo "$summary" >&2

consumed="$(awk '/^events consumed/ {print $3}' <<<"$summary")"
bare_rate="$(sed -E 's/.*: ([0-9]+) messages\/s/\1/' <<<"$bare")"
report="$(python3 - "$started" "$ended" "$consumed" "$bare_rate" "$events" \
    "$bare_cpu_before" "$bare_cpu_after" "$run_cpu_before" "$run_cpu_after" <<'PY'
import sys
started, ended, consumed, bare, events = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
assert consumed == events, f"the pipeline consumed {consumed} of {events}"
seconds = ended - started
rate = consumed / seconds
def cpu(before, after):
    # (process, broker) CPU seconds spent between the two readings.
    (p0, b0), (p1, b1) = (map(float, x.split()) for x in (before, after))
    return p1 - p0, b1 - b0
def per_event(what, process, broker):
    micros = (process + broker) / events * 1e6
    return f"| CPU, {what} | {process:.2f} s + broker {broker:.2f} s | {micros:.2f} µs per event |"
print(f"| pipeline (ratewire run, start to caught up) | {seconds:.1f} s | {rate:,.0f} events/s |")
print(f"| bare rdkafka consumer | | {bare:,.0f} messages/s |")
print(f"| ratio pipeline / bare | | {rate / bare:.3f} |")
print(per_event("pipeline (ratewire)", *cpu(sys.argv[8], sys.argv[9])))
print(per_event("bare consumer (client)", *cpu(sys.argv[6], sys.argv[7])))
PY
)"

# (3) Latency under a steady load of half the measured rate. The ledger is
# new, so the first commits also book every account's period-start records
# (fees, grants) as the accounts are first seen: the quantiles are given for
# the whole run and for the events committed after the first 30% (warm).
live_events=$((events < 1000000 ? events : 1000000))
warm_events=$((live_events * 3 / 10))
pace="$(python3 -c "import sys; print(max(1, int($consumed / ($ended - $started) / 2)))")"
http_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
metrics_url="http://127.0.0.1:$http_port/metrics"
bash scripts/broker.sh topic live "$partitions" "$port"
sed -e 's/^topics = .*/topics = ["live"]/' -e 's/^dir = .*/dir = "ledger-live"/' \
    -e "s/^listen = .*/listen = \"127.0.0.1:$http_port\"/" -e 's/^group_id = .*/group_id = "ratewire-bench-live"/' \
    "$work/ratewire.toml" >"$work/live.toml"
echo "== latency: $live_events events at $pace events/s into a running ratewire run" >&2
(cd "$work" && RATEWIRE_LOG=warn exec "$bin/ratewire" run --config live.toml >"$work/live.out" 2>&1) &
run_pid=$!
# metric NAME: the sum of a metric's samples, or nothing before the first scrape.
metric() {
    curl -sf "$metrics_url" | awk -v name="$1" '$1 == name || index($1, name "{") == 1 {sum += $2; seen = 1} END {if (seen) printf "%.0f\n", sum}'
}
assigned() {
    curl -sf "$metrics_url" | grep -c '^ratewire_consumer_lag_messages{' || true
}
for _ in $(seq 600); do
    [[ "$(assigned)" -ge "$partitions" ]] && break
    kill -0 "$run_pid" 2>/dev/null || { cat "$work/live.out" >&2; exit 1; }
    sleep 0.1
done
# The histogram once the first 30% are committed, as the warm run's base.
(
    for _ in $(seq 3000); do
        committed="$(metric ratewire_event_to_commit_seconds_count)" || true
        if [[ "${committed:-0}" -ge "$warm_events" ]]; then
            curl -sf "$metrics_url" >"$work/warm.metrics"
            break
        fi
        sleep 0.05
    done
) &
warm_pid=$!
mkdir -p "$work/pace"
"$bin/examples/kafka_load" pace "$brokers" live "$work/pace" "$live_events" "$accounts" "$pace" >&2
# Everything consumed, then committed (the lag gauge, refreshed every 2 s, at 0).
for _ in $(seq 1200); do
    if [[ "$(metric ratewire_events_consumed_total)" == "$live_events" && "$(metric ratewire_consumer_lag_messages)" == 0 ]]; then
        break
    fi
    sleep 0.1
done
curl -sf "$metrics_url" >"$work/live.metrics"
wait "$warm_pid"
kill -TERM "$run_pid"
wait "$run_pid"
[[ -f "$work/warm.metrics" ]] || { echo "the live run never committed $warm_events events" >&2; exit 1; }
latency="$(python3 - "$work/live.metrics" "$work/warm.metrics" "$live_events" "$pace" <<'PY'
import re, sys
text, warm = open(sys.argv[1]).read(), open(sys.argv[2]).read()
live_events, pace = int(sys.argv[3]), int(sys.argv[4])
consumed = sum(float(v) for v in re.findall(r'^ratewire_events_consumed_total (\S+)$', text, re.M))
assert consumed == live_events, f"the live run consumed {consumed:.0f} of {live_events} before the wait ended"
def buckets(text):
    found = re.findall(r'^ratewire_event_to_commit_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M)
    return {float('inf') if le == '+Inf' else float(le): float(n) for le, n in found}
def quantile(counts, q):
    # As Prometheus' histogram_quantile: linear within the bucket.
    rank, lower, below = q * counts[-1][1], 0.0, 0.0
    for upper, count in counts:
        if count >= rank:
            if upper == float('inf'):
                return lower
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
whole, base = buckets(text), buckets(warm)
for name, counts in (("all", sorted(whole.items())),
                     ("warm", sorted((le, n - base[le]) for le, n in whole.items()))):
    p50, p99 = quantile(counts, 0.5), quantile(counts, 0.99)
    events = f"{counts[-1][1]:,.0f} events"
    print(f"| event to commit ({name}: {events} at {pace:,}/s) | p50 {p50:.2f} s | p99 {p99:.2f} s |")
PY
)"

{
    echo
    echo "## $(date -u +%Y-%m-%dT%H:%MZ): $events events, $partitions partitions, $accounts accounts"
    echo
    echo "Command: \`bash bench/pipeline.sh $events $partitions $accounts\` at commit $(git rev-parse --short HEAD)"
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
    echo
    echo "| what | time | rate |"
    echo "|---|---|---|"
    echo "$report"
    echo "$latency"
} | tee -a bench/results/pipeline.md
