"""Request-reply worker in Python (zguide rrworker): REP to the broker on tcp://localhost:5560.

ZMQ_EXAMPLES_FAST=1 shortens the one-second "work" to 10 ms, as in the Rust rrworker.
"""
import os
import time

import zmq

work = 0.01 if os.environ.get("ZMQ_EXAMPLES_FAST") == "1" else 1.0

context = zmq.Context()
socket = context.socket(zmq.REP)
socket.connect("tcp://localhost:5560")

while True:
    message = socket.recv()
    print(f"Received request: {message}", flush=True)
    time.sleep(work)
    socket.send(b"World")
