"""Task worker in Python (zguide taskwork): PULL from tcp://localhost:5557, PUSH to :5558."""
import sys
import time

import zmq

context = zmq.Context()

# Socket to receive messages on
receiver = context.socket(zmq.PULL)
receiver.connect("tcp://localhost:5557")

# Socket to send messages to
sender = context.socket(zmq.PUSH)
sender.connect("tcp://localhost:5558")

# Process tasks forever
while True:
    s = receiver.recv()

    # Simple progress indicator for the viewer
    sys.stdout.write(s.decode() + ".")
    sys.stdout.flush()

    # Do the work
    time.sleep(int(s) * 0.001)

    # Send results to sink
    sender.send(b"")
