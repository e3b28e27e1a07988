#!/usr/bin/env bash
# Our sockets against libzmq, side by side in one run, with the perf tools of benches/src/bin
# (libzmq's perf/ programs: local_thr/remote_thr, local_lat/remote_lat, inproc_*; ours, then
# the zmq_* builds of the same on libzmq, then raw_* sockets as the ceiling, blocking and, for latency, through Tokio).
#
#   bash scripts/compare.sh                 # the default run (about 5 minutes on 2 cores)
#   ROUNDS=9 bash scripts/compare.sh        # more rounds (the table shows the best and the median)
#   OURS_FLAGS=--mt bash scripts/compare.sh # our tools on Tokio's multi-thread runtime
#   SCALE=0.2 bash scripts/compare.sh       # fewer messages per run (a quick look)
#   BASELINE_DIR=/tmp/base bash scripts/compare.sh
#       # also runs our tools as built elsewhere (local_thr, remote_thr, local_lat, remote_lat,
#       # inproc_thr, inproc_lat copied from an older build), interleaved with the others, and
#       # adds a "baseline" column: before/after figures for an engine change from one run
#
# Every case runs ours and libzmq's alternately, ROUNDS times, interleaved; the local end
# (bind) is pinned to core 0 and the remote end (connect) to core 1 (`taskset`), so the
# numbers do not swing with where the scheduler puts them. tcp uses a free port on
# 127.0.0.1 found by binding port 0; ipc a path in a fresh temporary directory. Other load
# on the machine skews everything: the load average is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
SCALE=${SCALE:-1}
OURS_FLAGS=${OURS_FLAGS:-}
BASELINE_DIR=${BASELINE_DIR:-}

bash scripts/install-deps.sh >&2
cargo build --release -p zmq-benches --bins >&2
BIN="${CARGO_TARGET_DIR:-target}/release"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Messages per throughput run, by size; round trips per latency run.
count_for() {
    local n
    case $1 in
        8 | 64) n=3000000 ;;
        1024) n=1000000 ;;
        65536) n=40000 ;;
        *) n=100000 ;;
    esac
    awk -v n="$n" -v s="$SCALE" 'BEGIN { c = int(n * s); print (c < 1000 ? 1000 : c) }'
}
LAT_COUNT=$(awk -v s="$SCALE" 'BEGIN { c = int(20000 * s); print (c < 1000 ? 1000 : c) }')

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + RANDOM % 40000))
}

endpoint() {
    case $1 in
        tcp) echo "tcp://127.0.0.1:$(free_port)" ;;
        ipc) echo "ipc://$tmp/bench-$BASHPID-$RANDOM.ipc" ;;
    esac
}

# Waits (up to 5 s) until the local end listens on `endpoint`, so the remote's first
# connect does not fail and wait out a reconnect interval inside the timed loop.
wait_listening() {
    local ep=$1 i
    for i in $(seq 1 500); do
        case $ep in
            tcp://*) ss -Hltn "sport = :${ep##*:}" 2>/dev/null | grep -q . && return 0 ;;
            ipc://*) [ -S "${ep#ipc://}" ] && return 0 ;;
        esac
        sleep 0.01
    done
    echo "compare: nothing listens on $ep" >&2
    return 1
}

# A tool by name (from this build) or by path (a baseline build).
tool() { case $1 in */*) echo "$1" ;; *) echo "$BIN/$1" ;; esac; }

# run_pair <local-tool> <remote-tool> <flags> <endpoint> <size> <count> <thr|lat>
# Prints msg/s (thr, from the local end) or one-way latency in us (lat, from the remote end).
run_pair() {
    local local_tool=$1 remote_tool=$2 flags=$3 ep=$4 size=$5 count=$6 kind=$7
    # shellcheck disable=SC2086
    taskset -c 0 timeout 120 "$(tool "$local_tool")" "$ep" "$size" "$count" $flags >"$tmp/local.out" 2>&1 &
    local lpid=$!
    wait_listening "$ep" || { kill "$lpid" 2>/dev/null; echo NaN; return; }
    if [ "$kind" = thr ] && [ "${remote_tool#*raw_}" = "$remote_tool" ]; then
        # The sender stays connected (--hold) until the receiver has counted everything:
        # libzmq 4.3's PULL over ipc can lose the tail when its peer closes at once
        # (libzmq issue 4660). The receiver's clock runs from its first message to its last.
        # shellcheck disable=SC2086
        taskset -c 1 timeout 120 "$(tool "$remote_tool")" "$ep" "$size" "$count" $flags --hold >"$tmp/remote.out" 2>&1 &
        local rpid=$!
        wait "$lpid" || true
        kill "$rpid" 2>/dev/null || true
        wait "$rpid" 2>/dev/null || true
    else
        # shellcheck disable=SC2086
        taskset -c 1 timeout 120 "$(tool "$remote_tool")" "$ep" "$size" "$count" $flags >"$tmp/remote.out" 2>&1 || true
        wait "$lpid" || true
    fi
    local value
    if [ "$kind" = thr ]; then
        value=$(awk '/mean throughput: .*\[msg\/s\]/ { print $3 }' "$tmp/local.out")
    else
        value=$(awk '/average latency:/ { print $3 }' "$tmp/remote.out")
    fi
    if [ -z "$value" ]; then
        echo "compare: $local_tool/$remote_tool $ep $size: no result" >&2
        sed 's/^/  local: /' "$tmp/local.out" >&2
        sed 's/^/  remote: /' "$tmp/remote.out" >&2
        value=NaN
    fi
    echo "$value"
}

# run_inproc <tool> <flags> <size> <count> <thr|lat>: both ends in one process, on both cores.
run_inproc() {
    local tool=$1 flags=$2 size=$3 count=$4 kind=$5 value
    # shellcheck disable=SC2086
    value=$(taskset -c 0,1 timeout 120 "$(tool "$tool")" "$size" "$count" $flags 2>&1 |
        awk -v k="$kind" 'k == "thr" && /\[msg\/s\]/ { print $3 } k == "lat" && /average latency:/ { print $3 }')
    echo "${value:-NaN}"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "NaN"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A results
add() { results[$1]="${results[$1]:-} $2"; }

echo "compare: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), rounds=$ROUNDS scale=$SCALE ours_flags='$OURS_FLAGS'" >&2
echo "compare: load before: $(uptime)" >&2
start=$(date +%s)

for round in $(seq 1 "$ROUNDS"); do
    echo "compare: round $round/$ROUNDS" >&2
    for transport in tcp ipc; do
        for size in 8 64 1024 65536; do
            n=$(count_for "$size")
            add "thr/$transport/$size/ours" "$(run_pair local_thr remote_thr "$OURS_FLAGS" "$(endpoint "$transport")" "$size" "$n" thr)"
            add "thr/$transport/$size/zmq" "$(run_pair zmq_local_thr zmq_remote_thr "" "$(endpoint "$transport")" "$size" "$n" thr)"
            [ -z "$BASELINE_DIR" ] || add "thr/$transport/$size/base" "$(run_pair "$BASELINE_DIR/local_thr" "$BASELINE_DIR/remote_thr" "$OURS_FLAGS" "$(endpoint "$transport")" "$size" "$n" thr)"
        done
        add "thr/$transport/65536/raw" "$(run_pair raw_local_thr raw_remote_thr "" "$(endpoint "$transport")" 65536 "$(count_for 65536)" thr)"
        # Ours sending one body shared by every message, as the raw sender writes one buffer:
        # what the sockets cost at 64 KiB without building (and zeroing) a body each time.
        add "thr/$transport/65536/shared" "$(run_pair local_thr remote_thr "$OURS_FLAGS --shared" "$(endpoint "$transport")" 65536 "$(count_for 65536)" thr)"
        add "lat/$transport/64/ours" "$(run_pair local_lat remote_lat "$OURS_FLAGS" "$(endpoint "$transport")" 64 "$LAT_COUNT" lat)"
        add "lat/$transport/64/zmq" "$(run_pair zmq_local_lat zmq_remote_lat "" "$(endpoint "$transport")" 64 "$LAT_COUNT" lat)"
        [ -z "$BASELINE_DIR" ] || add "lat/$transport/64/base" "$(run_pair "$BASELINE_DIR/local_lat" "$BASELINE_DIR/remote_lat" "$OURS_FLAGS" "$(endpoint "$transport")" 64 "$LAT_COUNT" lat)"
        add "lat/$transport/64/raw" "$(run_pair raw_local_lat raw_remote_lat "" "$(endpoint "$transport")" 64 "$LAT_COUNT" lat)"
        # The same ping-pong through Tokio (epoll, then non-blocking calls): the floor on Tokio.
        add "lat/$transport/64/rawtokio" "$(run_pair raw_local_lat raw_remote_lat "--tokio" "$(endpoint "$transport")" 64 "$LAT_COUNT" lat)"
    done
    for size in 8 64; do
        n=$(count_for "$size")
        add "thr/inproc/$size/ours" "$(run_inproc inproc_thr "$OURS_FLAGS" "$size" "$n" thr)"
        add "thr/inproc/$size/zmq" "$(run_inproc zmq_inproc_thr "" "$size" "$n" thr)"
        [ -z "$BASELINE_DIR" ] || add "thr/inproc/$size/base" "$(run_inproc "$BASELINE_DIR/inproc_thr" "$OURS_FLAGS" "$size" "$n" thr)"
    done
    add "lat/inproc/64/ours" "$(run_inproc inproc_lat "$OURS_FLAGS" 64 "$LAT_COUNT" lat)"
    add "lat/inproc/64/zmq" "$(run_inproc zmq_inproc_lat "" 64 "$LAT_COUNT" lat)"
    [ -z "$BASELINE_DIR" ] || add "lat/inproc/64/base" "$(run_inproc "$BASELINE_DIR/inproc_lat" "$OURS_FLAGS" 64 "$LAT_COUNT" lat)"
done

med() { echo "${results[$1]:-}" | median; }
# The best round: the highest throughput, the lowest latency.
best() {
    local order=-gr
    case $1 in lat/*) order=-g ;; esac
    echo "${results[$1]:-}" | tr ' ' '\n' | grep -v -e '^$' -e NaN | sort "$order" | head -1 | grep . || echo NaN
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "NaN" || b == "NaN" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
fmt_int() { awk -v v="$1" 'BEGIN { if (v == "NaN" || v == "") print "-"; else printf "%\047d", v }'; }
fmt_num() { case $2 in lat) echo "$1" ;; *) fmt_int "$1" ;; esac; }
# "best / median" of one side, and the two ratios of `ours` to `other` in the same form.
pair_of() { echo "$(fmt_num "$(best "$1")" "$2") / $(fmt_num "$(med "$1")" "$2")"; }
ratios() { echo "$(ratio "$(best "$1")" "$(best "$2")") / $(ratio "$(med "$1")" "$(med "$2")")"; }

echo
echo "throughput (msg/s, best / median of $ROUNDS rounds; local pinned to core 0, remote to core 1)"
printf '%-6s %-7s %27s %27s %13s %16s %29s\n' size transport "ours" "libzmq" "ours/libzmq" "ours/raw bytes" "$([ -n "$BASELINE_DIR" ] && echo "baseline, ours/base")"
for transport in tcp ipc inproc; do
    for size in 8 64 1024 65536; do
        [ -n "${results[thr/$transport/$size/ours]:-}" ] || continue
        key="thr/$transport/$size"
        raw=-
        if [ -n "${results[$key/raw]:-}" ]; then
            o=$(med "$key/ours")
            r=$(med "$key/raw")
            raw="$(awk -v a="$o" -v b="$r" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.0f%%", 100 * a / b }') of $(fmt_int "$r")"
        fi
        base=
        [ -z "${results[$key/base]:-}" ] || base="$(pair_of "$key/base" thr) ($(ratios "$key/ours" "$key/base"))"
        printf '%-6s %-7s %27s %27s %13s %16s %29s\n' "$size" "$transport" "$(pair_of "$key/ours" thr)" "$(pair_of "$key/zmq" thr)" "$(ratios "$key/ours" "$key/zmq")" "$raw" "$base"
    done
done
echo "(ours/raw bytes: medians)"
for transport in tcp ipc; do
    key="thr/$transport/65536"
    [ -n "${results[$key/shared]:-}" ] || continue
    echo "64 KiB $transport, ours with one body shared by every message (--shared): $(pair_of "$key/shared" thr), $(ratios "$key/shared" "$key/raw") of raw (best / median)"
done
echo
echo "latency (one way, us = elapsed / (2 x $LAT_COUNT round trips), 64 B, best / median of $ROUNDS rounds)"
printf '%-6s %-7s %17s %17s %13s %17s %13s %17s %13s %29s\n' size transport ours libzmq "ours/libzmq" raw "ours/raw" "raw tokio" "ours/tokio" "$([ -n "$BASELINE_DIR" ] && echo "baseline, ours/base")"
for transport in tcp ipc inproc; do
    key="lat/$transport/64"
    r=- rr=- t=- tr=-
    if [ -n "${results[$key/raw]:-}" ]; then
        r=$(pair_of "$key/raw" lat)
        rr=$(ratios "$key/ours" "$key/raw")
        t=$(pair_of "$key/rawtokio" lat)
        tr=$(ratios "$key/ours" "$key/rawtokio")
    fi
    base=
    [ -z "${results[$key/base]:-}" ] || base="$(pair_of "$key/base" lat) ($(ratios "$key/ours" "$key/base"))"
    printf '%-6s %-7s %17s %17s %13s %17s %13s %17s %13s %29s\n' 64 "$transport" "$(pair_of "$key/ours" lat)" "$(pair_of "$key/zmq" lat)" "$(ratios "$key/ours" "$key/zmq")" "$r" "$rr" "$t" "$tr" "$base"
done
echo
echo "compare: every round, in order: " >&2
for k in $(printf '%s\n' "${!results[@]}" | sort); do echo "  $k:${results[$k]}" >&2; done
echo "compare: load after: $(uptime)  ($(($(date +%s) - start)) s)" >&2
