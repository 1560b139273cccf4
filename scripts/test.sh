#!/usr/bin/env bash
# The whole test suite: formatting and lints, then unit, golden, property,
# documentation and end-to-end tests of every crate, in the debug profile.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
bash scripts/setup.sh
bash scripts/prune-target.sh
# The container, compose, Kubernetes, Prometheus and Grafana files: quick,
# so before the Rust build.
bash deploy/check.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings 2>&1
cargo test --workspace --locked --no-fail-fast 2>&1
