"""Hello World server in Python (zguide hwserver): REP on tcp://*:5555, "World" per request.

ZMQ_EXAMPLES_FAST=1 shortens the one-second "work" to 10 ms, as in the Rust hwserver.
"""
import os
import time

import zmq

work = 0.01 if os.environ.get("ZMQ_EXAMPLES_FAST") == "1" else 1.0

context = zmq.Context()
socket = context.socket(zmq.REP)
socket.bind("tcp://*:5555")

while True:
    #  Wait for next request from client
    message = socket.recv()
    print(f"Received request: {message}", flush=True)

    #  Do some 'work'
    time.sleep(work)

    #  Send reply back to client
    socket.send(b"World")
