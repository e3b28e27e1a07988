#!/usr/bin/env bash
# The demo: system dependencies, then the `demo` example binary (arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo run --release -p zmq-examples --bin demo -- "$@"
