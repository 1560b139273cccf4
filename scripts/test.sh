#!/usr/bin/env bash
# The whole test suite: unit, golden, property, documentation and end-to-end
# tests of every crate, in the debug profile.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
bash scripts/setup.sh
cargo test --workspace --locked --no-fail-fast 2>&1
