"""Hello World client in Python (zguide hwclient): REQ to tcp://localhost:5555, 10 requests."""
import zmq

context = zmq.Context()

print("Connecting to hello world server...", flush=True)
socket = context.socket(zmq.REQ)
socket.connect("tcp://localhost:5555")

for request in range(10):
    print(f"Sending request {request} ...", flush=True)
    socket.send(b"Hello")
    message = socket.recv()
    print(f"Received reply {request} [ {message} ]", flush=True)
