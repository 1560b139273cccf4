# Shared settings for the project's scripts; sourced, not run.
# Builds go to a persistent target directory outside the checkout so that a
# fresh clone (CI) reuses what earlier runs compiled.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ratewire/target}"
# The Python venv with the ledger's independent readers (DuckDB, pyarrow).
export RATEWIRE_VENV="${RATEWIRE_VENV:-$HOME/.cache/ratewire/venv}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
