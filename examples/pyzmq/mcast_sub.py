"""mcast_sub in Python: `mcast_sub.py <endpoint> <count>`.

A SUB connected to the endpoint, subscribed to everything, prints each message on its own
line and exits 0 after <count> messages, or 1 after 10 s in which nothing arrived. Same
command line as the Rust `mcast_sub`.
"""
import sys

import zmq

if len(sys.argv) != 3:
    print("usage: mcast_sub.py <endpoint> <count>", file=sys.stderr)
    sys.exit(2)
endpoint, count = sys.argv[1], int(sys.argv[2])

socket = zmq.Context.instance().socket(zmq.SUB)
socket.setsockopt(zmq.SUBSCRIBE, b"")
socket.setsockopt(zmq.RCVTIMEO, 10000)
socket.connect(endpoint)
for received in range(count):
    try:
        frames = socket.recv_multipart()
    except zmq.Again:
        print(f"mcast_sub.py: nothing for 10 s; {received} of {count} received", file=sys.stderr)
        sys.exit(1)
    print(" ".join(f.decode(errors="replace") for f in frames), flush=True)
socket.close(linger=0)
