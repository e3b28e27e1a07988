#!/usr/bin/env bash
# Checks the manifests' `rust-version` with those toolchains: in a copy of the committed
# workspace, dependencies resolved for that Rust (cargo's MSRV-aware resolver, as a user on
# that Rust gets them), then `cargo +VERSION check`:
#   1.70: zmtp-codec (its library, all features);
#   1.79: zmq-transports, zmq-async and zmtp-codec, every target of theirs (tests included),
#         and the tests, examples, benches and drafts-peer packages (benches without `peers`).
# A toolchain that cannot be installed is reported and skipped, not failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
copy="$(mktemp -d)"
trap 'rm -rf "$copy"' EXIT
git archive HEAD | tar -x -C "$copy"
# The benches' `peers` (other ZeroMQ crates) need newer Rust (see benches/Cargo.toml); they
# would hold every shared dependency at a version too new for ours, so they go.
sed -i -E '/^(zeromq|omq-tokio|rzmq) = /d; s/^peers = .*/peers = []/' "$copy/benches/Cargo.toml"

check() {
    local version="$1" members="$2"
    shift 2
    if ! rustup toolchain install "$version" --profile minimal; then
        echo "msrv: Rust $version cannot be installed here; rust-version $version not checked"
        return 0
    fi
    sed -i "s/^members = .*/members = [$members]/" "$copy/Cargo.toml"
    rm -f "$copy/Cargo.lock"
    CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback \
        cargo generate-lockfile --manifest-path "$copy/Cargo.toml"
    cargo +"$version" check --manifest-path "$copy/Cargo.toml" --target-dir "$root/target/msrv-$version" "$@"
    echo "msrv: Rust $version builds [$members] ($*)"
}

check 1.70.0 '"zmtp-codec"' --workspace --lib --all-features
check 1.79.0 '"zmtp-codec", "zmq-transports", "zmq-async", "examples", "benches", "tests", "drafts-peer"' \
    --workspace --all-targets --keep-going
