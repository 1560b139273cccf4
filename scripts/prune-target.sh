#!/usr/bin/env bash
# Keeps the persistent target directory bounded. It outlives every clone and
# keeps each test binary cargo ever linked (a few hundred MB apiece) and the
# incremental caches, so on a machine that runs the suite for months it
# grows until the disk is full. Past RATEWIRE_TARGET_KEEP_GB (default 30),
# this removes the incremental caches and the test and example binaries not
# rebuilt for a day; cargo links again whatever it still needs. Compiled
# dependencies stay.
set -euo pipefail
source "$(dirname "$0")/env.sh"
keep_gb="${RATEWIRE_TARGET_KEEP_GB:-30}"
[[ -d "$CARGO_TARGET_DIR" ]] || exit 0
used_gb=$(($(du -sk "$CARGO_TARGET_DIR" | cut -f1) / 1024 / 1024))
if ((used_gb <= keep_gb)); then
  exit 0
fi
echo "prune-target: $CARGO_TARGET_DIR holds ${used_gb} GB, over ${keep_gb} GB:" \
  "removing incremental caches and binaries not rebuilt for a day"
for profile in debug release; do
  rm -rf "${CARGO_TARGET_DIR:?}/$profile/incremental"
  for dir in deps examples; do
    if [[ -d "$CARGO_TARGET_DIR/$profile/$dir" ]]; then
      find "$CARGO_TARGET_DIR/$profile/$dir" -maxdepth 1 -type f -perm -u+x \
        ! -name '*.so' ! -name '*.rlib' ! -name '*.rmeta' -mtime +0 -delete
    fi
  done
done
echo "prune-target: $(du -sh "$CARGO_TARGET_DIR" | cut -f1) left"
