#!/usr/bin/env bash
# Instructions per message (callgrind's Ir) of our perf tools, for the receiver and the sender
# over ipc and inproc, and per round trip for each end of REQ/REP over ipc: a count
# independent of the machine's load, to compare builds.
#
#   bash scripts/instructions.sh                # 8-byte messages, the tools of target/release
#   SIZE=64 bash scripts/instructions.sh
#   BIN=/tmp/old bash scripts/instructions.sh   # local_thr, remote_thr, inproc_thr built elsewhere
#
# Each case runs twice, with 20,000 and 200,000 messages, and reports the difference of the two
# totals over the 180,000 messages between: what start-up and shutdown cost cancels out. Over
# ipc, one end runs under callgrind (`local_thr` for the receiver, `remote_thr` for the
# sender) and the other natively; callgrind runs its program on one thread at a time and
# slowly, so the native end keeps up and the measured end reads or writes in its own rhythm.
# `inproc_thr` runs whole under callgrind, a total per thread (`--separate-threads`): thread 1
# receives, thread 2 sends. The round trips (local_lat/remote_lat, 64 B) run 2,000 and
# 12,000 times, each end under callgrind in turn.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${SIZE:-8}
BIN=${BIN:-}
if [ -z "$BIN" ]; then
    cargo build --release -p zmq-benches --bins >&2
    BIN="${CARGO_TARGET_DIR:-target}/release"
fi
command -v valgrind >/dev/null || { echo "valgrind is needed" >&2; exit 1; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
SMALL=20000
LARGE=200000

ir() { grep -h '^summary:' "$1" | awk '{print $2}'; }
per_msg() { echo $((($(ir "$2") - $(ir "$1")) / (LARGE - SMALL))); }

# each_end <local tool> <remote tool> <ipc endpoint> <size> <count> <local's profile>
# <remote's profile>: runs the pair twice, first the local end under callgrind, then the
# remote end (each time with the other end native, on an endpoint of its own).
each_end() {
    local local_tool=$1 remote_tool=$2 ep=$3 size=$4 n=$5 local_out=$6 remote_out=$7 other
    valgrind -q --tool=callgrind --callgrind-out-file="$local_out" \
        "$BIN/$local_tool" "$ep" "$size" "$n" >/dev/null &
    other=$!
    sleep 2 # callgrind's start-up, before the connect (which would retry anyway)
    "$BIN/$remote_tool" "$ep" "$size" "$n" >/dev/null
    wait "$other"

    "$BIN/$local_tool" "$ep-r" "$size" "$n" >/dev/null &
    other=$!
    valgrind -q --tool=callgrind --callgrind-out-file="$remote_out" \
        "$BIN/$remote_tool" "$ep-r" "$size" "$n" >/dev/null
    wait "$other"
}

for n in $SMALL $LARGE; do
    each_end local_thr remote_thr "ipc://$OUT/thr-$n" "$SIZE" "$n" "$OUT/recv-$n" "$OUT/send-$n"

    valgrind -q --tool=callgrind --separate-threads=yes --callgrind-out-file="$OUT/inproc-$n" \
        "$BIN/inproc_thr" "$SIZE" "$n" >/dev/null
done

# Round trips (REQ/REP over ipc, 64 B as in compare.sh): each end in turn under callgrind.
FEW=2000
MANY=12000
for n in $FEW $MANY; do
    each_end local_lat remote_lat "ipc://$OUT/lat-$n" 64 "$n" "$OUT/rep-$n" "$OUT/req-$n"
done
per_trip() { echo $((($(ir "$2") - $(ir "$1")) / (MANY - FEW))); }

echo "instructions per $SIZE-byte message (callgrind Ir, $LARGE - $SMALL messages):"
echo "ipc    receiver: $(per_msg "$OUT/recv-$SMALL" "$OUT/recv-$LARGE")"
echo "ipc    sender:   $(per_msg "$OUT/send-$SMALL" "$OUT/send-$LARGE")"
echo "inproc receiver: $(per_msg "$OUT/inproc-$SMALL-01" "$OUT/inproc-$LARGE-01")"
echo "inproc sender:   $(per_msg "$OUT/inproc-$SMALL-02" "$OUT/inproc-$LARGE-02")"
echo "instructions per 64-byte round trip (REQ/REP over ipc, $MANY - $FEW round trips):"
echo "ipc    REP (local_lat):  $(per_trip "$OUT/rep-$FEW" "$OUT/rep-$MANY")"
echo "ipc    REQ (remote_lat): $(per_trip "$OUT/req-$FEW" "$OUT/req-$MANY")"
