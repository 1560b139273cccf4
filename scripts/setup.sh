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
