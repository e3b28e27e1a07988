#!/usr/bin/env bash
# Multicast throughput, ours vs libzmq: a PUB in one network namespace, a SUB in another,
# joined by a veth pair, over epgm with `rate` 1 Gbit/s; 64 B and 1 KiB messages; 0 % and
# 1 % of the packets dropped at random entering each namespace (nft; this kernel has no
# netem). Ours runs against ours and libzmq (4.3.x with OpenPGM, through the `zmq` crate)
# against libzmq, interleaved, ROUNDS rounds (default 3). Prints the load average before and
# after, one line per run, and a Markdown table of medians (msg/s) and messages lost.
#
#   bash scripts/pgm-bench.sh [ROUNDS]
#
# Environment: RATE (kbit/s, default 1000000), COUNT_64 (default 200000), COUNT_1K (default
# 100000), LOSSES (default "0 1"). Needs root, iproute2, nftables and libzmq
# (scripts/install-deps.sh). Builds `pgm_thr` (benches/src/bin/pgm_thr.rs) in release.
set -euo pipefail

rounds=${1:-3}
rate=${RATE:-1000000}
count_64=${COUNT_64:-200000}
count_1k=${COUNT_1K:-100000}
losses=${LOSSES:-0 1}
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "pgm-bench: needs root (network namespaces)" >&2
    exit 1
fi
cargo build --release -q -p zmq-benches --bin pgm_thr
bin=$PWD/target/release/pgm_thr

tmp=$(mktemp -d)
a=zmqb-a-$$
b=zmqb-b-$$
addr_a=10.78.0.1
addr_b=10.78.0.2
cleanup() {
    jobs -p | xargs -r kill 2>/dev/null || true
    ip netns del "$a" 2>/dev/null || true
    ip netns del "$b" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

ip netns add "$a"
ip netns add "$b"
ip -n "$a" link add va type veth peer name vb netns "$b"
for x in "$a va $addr_a" "$b vb $addr_b"; do
    set -- $x
    ip -n "$1" link set lo up
    ip -n "$1" addr add "$3/24" dev "$2"
    ip -n "$1" link set "$2" up multicast on
    ip -n "$1" route add 224.0.0.0/4 dev "$2"
done
for x in "$a va" "$b vb"; do
    set -- $x
    for _ in $(seq 200); do
        ip -n "$1" -o link show "$2" | grep -q "state UP" && break
        sleep 0.05
    done
done

set_loss() { # percent
    for ns in "$a" "$b"; do
        ip netns exec "$ns" nft delete table inet zmqb 2>/dev/null || true
        if [ "$1" != 0 ]; then
            ip netns exec "$ns" nft "add table inet zmqb; \
                add chain inet zmqb input { type filter hook input priority 0; policy accept; }; \
                add rule inet zmqb input udp dport 7700-7999 numgen random mod 100 < $1 drop"
        fi
    done
}

port=7700
run_one() { # impl size count loss -> "msg_s lost"
    local impl=$1 size=$2 count=$3 loss=$4
    port=$((port + 1))
    local ep_b="epgm://$addr_b;239.192.20.1:$port" ep_a="epgm://$addr_a;239.192.20.1:$port"
    : >"$tmp/sub.out"
    ip netns exec "$b" "$bin" sub "$impl" "$ep_b" "$size" "$count" "$rate" --mt >"$tmp/sub.out" 2>"$tmp/sub.err" &
    local sub=$!
    for _ in $(seq 400); do
        grep -q ready "$tmp/sub.out" && break
        sleep 0.05
    done
    ip netns exec "$a" "$bin" pub "$impl" "$ep_a" "$size" "$count" "$rate" --mt >"$tmp/pub.out" 2>&1 &
    local pub=$!
    wait "$sub" || true
    kill "$pub" 2>/dev/null || true
    wait "$pub" 2>/dev/null || true
    local line
    line=$(grep received "$tmp/sub.out" || echo "received 0 lost $count disordered 0 elapsed_s 0 msg_s 0 mbit_s 0")
    echo "round $round $impl ${size}B loss ${loss}%: $line $(cat "$tmp/sub.err" 2>/dev/null | tr '\n' ' ')" >&2
    echo "$line" | awk '{print $10, $4, $6}'
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); receive buffers: $(cat /proc/sys/net/core/rmem_default) B" >&2
started=$(date +%s)
declare -A results
for round in $(seq "$rounds"); do
    for loss in $losses; do
        set_loss "$loss"
        for size in 64 1024; do
            count=$count_64
            [ "$size" = 1024 ] && count=$count_1k
            for impl in ours libzmq; do
                r=$(run_one "$impl" "$size" "$count" "$loss")
                results["$impl $size $loss"]+="$r;"
            done
        done
    done
done
set_loss 0
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); $(( $(date +%s) - started )) s" >&2

median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print 0; else print a[int((NR + 1) / 2)]}'; }
echo
echo "| size | loss | ours msg/s | libzmq msg/s | ours/libzmq | ours lost | libzmq lost |"
echo "|---|---|---|---|---|---|---|"
for size in 64 1024; do
    count=$count_64
    [ "$size" = 1024 ] && count=$count_1k
    for loss in $losses; do
        o=$(echo "${results["ours $size $loss"]}" | tr ';' '\n' | awk 'NF {print $1}' | median)
        l=$(echo "${results["libzmq $size $loss"]}" | tr ';' '\n' | awk 'NF {print $1}' | median)
        ol=$(echo "${results["ours $size $loss"]}" | tr ';' '\n' | awk 'NF {printf "%s%s", s, $2; s=", "}')
        ll=$(echo "${results["libzmq $size $loss"]}" | tr ';' '\n' | awk 'NF {printf "%s%s", s, $2; s=", "}')
        ratio=$(awk -v o="$o" -v l="$l" 'BEGIN {if (l > 0) printf "%.2f", o / l; else print "-"}')
        echo "| $size B | $loss % | $o | $l | $ratio | $ol of $count | $ll of $count |"
    done
done
