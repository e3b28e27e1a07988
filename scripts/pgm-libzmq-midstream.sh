#!/usr/bin/env bash
# libzmq alone over epgm: a PUB streaming 1,000 messages/s, two SUBs that join mid-stream,
# LOSS % (default 5) of the packets dropped at random into both namespaces. Each SUB checks
# 2,000 messages (numbered, bodies derived from the number) and prints `ok`, or what went
# wrong: `corrupt` (a wrong body), `jump` (messages lost), `timeout` (nothing for 10 s).
# One line per run:  scripts/pgm-libzmq-midstream.sh [runs]
# Needs root, iproute2, nftables and python3-zmq (scripts/install-deps.sh). Traffic stays in
# the two namespaces it makes (deleted on exit).
set -euo pipefail

runs=${1:-1}
loss=${LOSS:-5}
py=/usr/bin/python3
tmp=$(mktemp -d)
a=zmqx-a-$$
b=zmqx-b-$$
cleanup() {
    ip netns del "$a" 2>/dev/null || true
    ip netns del "$b" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/common.py" <<'EOF'
import sys, time, zmq

def message(i):
    m = [str(i).encode()]
    if i % 4:
        m.append(bytes([i % 251]) * (i * 37 % 3000))
    return m

def socket(kind, endpoint):
    s = zmq.Context.instance().socket(kind)
    s.setsockopt(zmq.RATE, 20000)
    s.setsockopt(zmq.LINGER, 0)
    if kind == zmq.SUB:
        s.setsockopt(zmq.RCVHWM, 0)
        s.setsockopt(zmq.RCVTIMEO, 10000)
        s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(endpoint)
    return s
EOF
cat >"$tmp/pub.py" <<'EOF'
from common import *
s = socket(zmq.PUB, sys.argv[1])
i, end = 0, time.time() + 12
while time.time() < end:
    s.send_multipart(message(i))
    i += 1
    if i % 10 == 0:
        time.sleep(0.01)
EOF
cat >"$tmp/sub.py" <<'EOF'
from common import *
s = socket(zmq.SUB, sys.argv[1])
got, prev, bad = 0, None, []
while got < 2000:
    try:
        m = s.recv_multipart()
    except zmq.Again:
        print("timeout after", got, bad[:3])
        sys.exit(1)
    i = int(m[0]) if m[0].isdigit() else None
    if i is None or m != message(i):
        bad.append(("corrupt", i))
    elif prev is not None and i != prev + 1:
        bad.append(("jump", prev, i))
    prev = i if i is not None else prev
    got += 1
print("ok" if not bad else "bad", bad[:3])
EOF

for _ in $(seq "$runs"); do
    ip netns add "$a"
    ip netns add "$b"
    ip -n "$a" link add va type veth peer name vb netns "$b"
    ip -n "$a" addr add 10.77.0.1/24 dev va
    ip -n "$b" addr add 10.77.0.2/24 dev vb
    for x in "$a va" "$b vb"; do
        set -- $x
        ip -n "$1" link set lo up
        ip -n "$1" link set "$2" up multicast on
        ip -n "$1" route add 224.0.0.0/4 dev "$2"
        ip netns exec "$1" nft "add table inet t; \
            add chain inet t input { type filter hook input priority 0; policy accept; }; \
            add rule inet t input udp dport 5555 numgen random mod 100 < $loss drop"
    done
    (cd "$tmp" && ip netns exec "$a" $py pub.py "epgm://10.77.0.1;239.192.7.9:5555") &
    pub=$!
    sleep 1 # the SUBs join a stream already flowing: the point of the experiment
    (cd "$tmp" && ip netns exec "$b" $py sub.py "epgm://10.77.0.2;239.192.7.9:5555" >"$tmp/s1" || true) &
    s1=$!
    sleep 0.3
    (cd "$tmp" && ip netns exec "$b" $py sub.py "epgm://10.77.0.2;239.192.7.9:5555" >"$tmp/s2" || true) &
    s2=$!
    wait $s1 $s2
    echo "$(cat "$tmp/s1") | $(cat "$tmp/s2")"
    kill $pub 2>/dev/null || true
    wait $pub 2>/dev/null || true
    ip netns del "$a"
    ip netns del "$b"
done
