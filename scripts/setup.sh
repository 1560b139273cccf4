#!/usr/bin/env bash
# Installs what building and testing need, idempotently: each step is
# skipped when its tool is already present.
set -euo pipefail
source "$(dirname "$0")/env.sh"

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is required (Rust 1.87 or newer)" >&2
    exit 1
fi
mkdir -p "$CARGO_TARGET_DIR"

# Debian packages: cmake builds the bundled librdkafka (Kafka client), and
# librdkafka's build looks for libcurl's headers.
missing=()
for package in cmake libcurl4-openssl-dev; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=()
    if [[ $EUID -ne 0 ]]; then sudo=(sudo); fi
    echo "installing ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -q >/dev/null
    "${sudo[@]}" apt-get install -y -q "${missing[@]}" >/dev/null
fi

# The Kafka-compatible broker the streaming tests and the demo run.
bash "$(dirname "$0")/broker.sh" install

# Python tools that read the ledger independently of ratewire (the
# end-to-end tests check its files with them), pinned, in their own venv.
# confluent-kafka is an independent Kafka client the streaming tests
# produce with.
duckdb_version=2.0.0
pyarrow_version=26.0.1
confluent_kafka_version=2.16.1
if ! "$RATEWIRE_VENV/bin/python" -c "import sys, duckdb, pyarrow, confluent_kafka
sys.exit(duckdb.__version__ != '$duckdb_version' or pyarrow.__version__ != '$pyarrow_version'
    or confluent_kafka.__version__ != '$confluent_kafka_version')" >/dev/null 2>&1; then
    if ! command -v python3 >/dev/null 2>&1; then
        echo "python3 (with venv and pip) is required for the ledger reader tests" >&2
        exit 1
    fi
    python3 -m venv "$RATEWIRE_VENV"
    "$RATEWIRE_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "duckdb==$duckdb_version" "pyarrow==$pyarrow_version" "confluent-kafka==$confluent_kafka_version"
fi
