#!/usr/bin/env bash
# Prints the directory of every cargo-fuzz crate in the repository (one per line, sorted):
# every `*/fuzz/Cargo.toml` with `cargo-fuzz = true` in its metadata, outside target/.
# Used by scripts/fuzz.sh (fuzzing) and scripts/test.sh (seed and regression replay).
set -euo pipefail
cd "$(dirname "$0")/.."
find . -path '*/target' -prune -o -path '*/fuzz/Cargo.toml' -print | sed 's|^\./||' | sort |
    while IFS= read -r manifest; do
        if grep -Eq '^[[:space:]]*cargo-fuzz[[:space:]]*=[[:space:]]*true' "$manifest"; then
            dirname "$manifest"
        fi
    done
