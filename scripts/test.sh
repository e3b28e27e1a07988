#!/usr/bin/env bash
# The test suite: system dependencies, then every test target and the doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo test --workspace --all-targets
cargo test --workspace --doc

# The fuzz crates (separate workspaces): every committed seed and regression input through
# its target, on stable, without libFuzzer (see */fuzz/README.md). Built into the main
# target directory, so dependencies the workspace build compiled the same way are reused.
while IFS= read -r fuzz_dir; do
    cargo test --manifest-path "$fuzz_dir/Cargo.toml" --target-dir target
done < <(bash scripts/fuzz-crates.sh)
