#!/usr/bin/env bash
# The local Kafka-compatible broker (tansu) that the demo, the tests and the
# benchmarks use, on loopback.
#
#   broker.sh install            install tansu (cached; skipped when present)
#   broker.sh start [PORT]       start a broker with SQLite storage, wait until it answers
#   broker.sh stop [PORT]        stop it (SIGTERM, then SIGKILL after 10 s)
#   broker.sh topic NAME PARTITIONS [PORT]   create a topic (an existing one is kept)
#   broker.sh bin                print the path of the tansu binary
#
# State (the SQLite file, the log, the pid) lives in $RATEWIRE_BROKER_DIR,
# by default ~/.cache/ratewire/broker/<port>; `start` keeps what an earlier
# run stored, so a restarted broker still has its topics and messages.
# RATEWIRE_BROKER_STORAGE=memory stores in memory instead (several times
# faster, gone when the broker stops): what the benchmarks use.
set -euo pipefail
source "$(dirname "$0")/env.sh"

tansu_version=0.6.0
tansu_root="${RATEWIRE_TANSU_ROOT:-$HOME/.cache/ratewire/tansu-$tansu_version}"
tansu="$tansu_root/bin/tansu"

install() {
    if [[ -x "$tansu" ]]; then
        return
    fi
    echo "installing tansu $tansu_version into $tansu_root (takes several minutes, once)" >&2
    # Its own target directory: tansu's dependencies have nothing in common
    # with ratewire's build.
    CARGO_TARGET_DIR="$HOME/.cache/ratewire/tansu-build" \
        cargo install tansu --version "$tansu_version" --locked --features dynostore,libsql --root "$tansu_root" >&2
    rm -rf "$HOME/.cache/ratewire/tansu-build"
}

state_dir() {
    echo "${RATEWIRE_BROKER_DIR:-$HOME/.cache/ratewire/broker/$1}"
}

running() {
    local pidfile="$1/tansu.pid"
    [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# Whether something accepts connections on the port.
listening() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    local port="${1:-9092}" dir
    dir="$(state_dir "$port")"
    install
    mkdir -p "$dir"
    if running "$dir"; then
        echo "tansu already running on 127.0.0.1:$port (pid $(cat "$dir/tansu.pid"))" >&2
        return
    fi
    if listening "$port"; then
        echo "port $port is taken by another process; choose another port" >&2
        exit 1
    fi
    # tansu reads the SQLite path relative to its working directory.
    local storage="sqlite://tansu.db"
    if [[ "${RATEWIRE_BROKER_STORAGE:-sqlite}" == memory ]]; then
        storage="memory://tansu/"
    fi
    cd "$dir"
    nohup "$tansu" broker \
        --cluster-id ratewire \
        --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "$storage" \
        >>"$dir/tansu.log" 2>&1 &
    echo $! >"$dir/tansu.pid"
    for _ in $(seq 1 100); do
        if listening "$port"; then
            echo "tansu running on 127.0.0.1:$port (pid $(cat "$dir/tansu.pid"), log $dir/tansu.log)" >&2
            return
        fi
        if ! running "$dir"; then
            echo "tansu exited at start; its log:" >&2
            tail -n 20 "$dir/tansu.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "tansu did not listen on port $port within 10 s; its log: $dir/tansu.log" >&2
    exit 1
}

stop() {
    local port="${1:-9092}" dir pid
    dir="$(state_dir "$port")"
    if ! running "$dir"; then
        rm -f "$dir/tansu.pid"
        return
    fi
    pid="$(cat "$dir/tansu.pid")"
    kill -TERM "$pid"
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/tansu.pid"
}

topic() {
    local name="$1" partitions="$2" port="${3:-9092}"
    install
    if "$tansu" topic list --broker "tcp://127.0.0.1:$port" 2>/dev/null | grep -qx "$name"; then
        return
    fi
    "$tansu" topic create --broker "tcp://127.0.0.1:$port" --partitions "$partitions" "$name" >/dev/null
}

case "${1:-}" in
    install) install ;;
    start) start "${2:-9092}" ;;
    stop) stop "${2:-9092}" ;;
    topic) topic "$2" "$3" "${4:-9092}" ;;
    bin) install && echo "$tansu" ;;
    *)
        echo "usage: $0 install | start [PORT] | stop [PORT] | topic NAME PARTITIONS [PORT] | bin" >&2
        exit 2
        ;;
esac
