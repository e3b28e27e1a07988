"""Request-reply client in Python (zguide rrclient): REQ to the broker on tcp://localhost:5559."""
import zmq

context = zmq.Context()
socket = context.socket(zmq.REQ)
socket.connect("tcp://localhost:5559")

for request in range(1, 11):
    socket.send(b"Hello")
    message = socket.recv()
    print(f"Received reply {request} [{message}]", flush=True)
