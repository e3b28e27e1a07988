#!/usr/bin/env bash
# The test suite: system dependencies, then every test target and the doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo test --workspace --all-targets
cargo test --workspace --doc
