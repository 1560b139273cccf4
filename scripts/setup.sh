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

# Python tools that read the ledger independently of ratewire (the
# end-to-end tests check its files with them), pinned, in their own venv.
duckdb_version=2.0.0
pyarrow_version=26.0.1
if ! "$RATEWIRE_VENV/bin/python" -c "import sys, duckdb, pyarrow
sys.exit(duckdb.__version__ != '$duckdb_version' or pyarrow.__version__ != '$pyarrow_version')" >/dev/null 2>&1; then
    if ! command -v python3 >/dev/null 2>&1; then
        echo "python3 (with venv and pip) is required for the ledger reader tests" >&2
        exit 1
    fi
    python3 -m venv "$RATEWIRE_VENV"
    "$RATEWIRE_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "duckdb==$duckdb_version" "pyarrow==$pyarrow_version"
fi
