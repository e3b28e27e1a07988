"""mcast_pub in Python: `mcast_pub.py <endpoint> <count> [<messages per second>]`.

A PUB connected to the endpoint (tcp endpoints are bound) publishes b"0", b"1", ...
b"<count-1>" at that rate (default 1000/s), stays up for ZMQ_RECOVERY_IVL so late repairs
can be served, and exits 0. Same command line as the Rust `mcast_pub`.
"""
import sys
import time

import zmq

if len(sys.argv) not in (3, 4):
    print("usage: mcast_pub.py <endpoint> <count> [<messages per second>]", file=sys.stderr)
    sys.exit(2)
endpoint, count = sys.argv[1], int(sys.argv[2])
rate = int(sys.argv[3]) if len(sys.argv) == 4 else 1000

socket = zmq.Context.instance().socket(zmq.PUB)
socket.setsockopt(zmq.SNDHWM, 0)
if endpoint.startswith(("epgm://", "pgm://")):
    socket.connect(endpoint)
else:
    socket.bind(endpoint)
start = time.monotonic()
for i in range(count):
    delay = start + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    socket.send(str(i).encode())
time.sleep(socket.getsockopt(zmq.RECOVERY_IVL) / 1000)
socket.close(linger=0)
