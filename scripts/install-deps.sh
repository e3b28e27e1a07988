#!/usr/bin/env bash
# Installs the Debian packages the demo and the test suite need, and nothing else:
#   libzmq3-dev  libzmq 4.3 and its headers/pkg-config file; the `zmq` crate links it
#                (interop tests run our code against real libzmq sockets)
#   python3-zmq  pyzmq, for scripted interop checks against libzmq from Python
#   pkg-config   how the `zmq` crate finds libzmq at build time
#   iproute2     `ip`: the PGM tests build network namespaces joined by veth pairs
#   nftables     `nft`: those tests drop packets at random to exercise PGM repair
#                (this kernel has no netem)
#   curl         the HTTP client the `stream_http` example is tested with
#   chromium-headless-shell
#                the headless browser that loads the `ws_browser` example's page
#                (examples/tests/browser.rs; as root it runs with --no-sandbox)
# Idempotent and quick when everything is present (checked with dpkg, no network).
# Non-interactive; needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(libzmq3-dev python3-zmq pkg-config iproute2 nftables curl chromium-headless-shell)

if ! command -v dpkg >/dev/null 2>&1; then
    # Not Debian: we cannot install, but the build only needs pkg-config to find libzmq.
    if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libzmq; then
        echo "install-deps: no dpkg; libzmq $(pkg-config --modversion libzmq) found by pkg-config"
        exit 0
    fi
    echo "install-deps: not a Debian system; install libzmq (with headers), pyzmq and pkg-config" >&2
    exit 1
fi

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed$'; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: ${packages[*]} already installed"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo -n)
    else
        echo "install-deps: missing ${missing[*]}; run as root" >&2
        exit 1
    fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
