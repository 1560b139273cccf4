#!/usr/bin/env bash
# Installs what building and testing need, idempotently: each step is
# skipped when its tool is already present.
set -euo pipefail
source "$(dirname "$0")/env.sh"

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is required (Rust 1.94 or newer)" >&2
    exit 1
fi
mkdir -p "$CARGO_TARGET_DIR"

# Debian packages: cmake builds the bundled librdkafka (Kafka client),
# librdkafka's build looks for libcurl's headers, and it links Debian's
# OpenSSL (pkg-config finds it) for TLS and SASL SCRAM to brokers. psql (postgresql-client)
# is the client the `serve-sql` tests log in with; any psql will do.
# docker-compose validates deploy/compose.yaml (`docker-compose config`
# needs no Docker engine, so the engine it recommends is left out).
# chromium renders the churn report to a PNG, headless, for its screenshot
# test (tests/churn_report.rs).
missing=()
for package in cmake libcurl4-openssl-dev libssl-dev pkg-config; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if ((${#missing[@]})); then
    sudo=()
    if [[ $EUID -ne 0 ]]; then sudo=(sudo); fi
    echo "installing ${missing[*]}" >&2
    "${sudo[@]}" apt-get update -q >/dev/null
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# Prometheus and promtool (Debian's prometheus package): the operations
# tests check /metrics with promtool and scrape it with a Prometheus of
# their own on a free port. The packaged service must not be left running
# (it would hold port 9090): it is kept from starting during the install
# and disabled at boot.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    sudo=()
    if [[ $EUID -ne 0 ]]; then sudo=(sudo); fi
    echo "installing prometheus" >&2
    "${sudo[@]}" apt-get update -q >/dev/null
    policy=/usr/sbin/policy-rc.d
    made_policy=false
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        made_policy=true
    fi
    status=0
    "${sudo[@]}" apt-get install -y -q --no-install-recommends prometheus >/dev/null || status=$?
    if $made_policy; then "${sudo[@]}" rm -f "$policy"; fi
    if ((status)); then exit "$status"; fi
    if [[ -d /run/systemd/system ]]; then
        "${sudo[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
    elif command -v update-rc.d >/dev/null 2>&1; then
        "${sudo[@]}" update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
fi

# The Kafka-compatible broker the streaming tests and the demo run.
bash "$(dirname "$0")/broker.sh" install

# Python tools that read the ledger independently of ratewire (the
# end-to-end tests check its files with them), pinned, in their own venv.
# confluent-kafka is an independent Kafka client the streaming tests
# produce with. kubernetes-validate and check-jsonschema validate the
# manifests and the compose file under deploy/ (deploy/check.sh). psycopg
# is a Postgres client the `serve-sql` tests query with. scikit-learn is the
# reference the churn models are compared with (bench/churn_anchor.py).
# moto's server (moto[server], `moto_server`) is the S3-compatible server
# `ratewire ledger push` and `pull` are tested against (tests/store.rs).
duckdb_version=2.0.0
pyarrow_version=26.0.1
confluent_kafka_version=2.16.1
kubernetes_validate_version=1.37.0
check_jsonschema_version=0.39.0
psycopg_version=3.3.9
scikit_learn_version=1.9.1
moto_version=5.2.6
if ! "$RATEWIRE_VENV/bin/python" -c "import sys, duckdb, pyarrow, confluent_kafka
from importlib.metadata import version
sys.exit(duckdb.__version__ != '$duckdb_version' or pyarrow.__version__ != '$pyarrow_version'
    or confluent_kafka.__version__ != '$confluent_kafka_version'
    or version('kubernetes-validate') != '$kubernetes_validate_version'
    or version('check-jsonschema') != '$check_jsonschema_version'
    or version('psycopg') != '$psycopg_version' or version('psycopg-binary') != '$psycopg_version'
    or version('scikit-learn') != '$scikit_learn_version'
    or version('moto') != '$moto_version' or not version('flask-cors'))" >/dev/null 2>&1; then
    if ! command -v python3 >/dev/null 2>&1; then
        echo "python3 (with venv and pip) is required for the ledger reader tests" >&2
        exit 1
    fi
    python3 -m venv "$RATEWIRE_VENV"
    "$RATEWIRE_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "duckdb==$duckdb_version" "pyarrow==$pyarrow_version" "confluent-kafka==$confluent_kafka_version" \
        "kubernetes-validate==$kubernetes_validate_version" "check-jsonschema==$check_jsonschema_version" \
        "psycopg[binary]==$psycopg_version" "scikit-learn==$scikit_learn_version" \
        "moto[server]==$moto_version"
fi
