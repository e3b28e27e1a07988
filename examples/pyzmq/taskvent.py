"""Task ventilator in Python (zguide taskvent): PUSH on tcp://*:5557, start signal to the sink.

Waits for Enter unless --no-wait is given, sends "0" to the sink on tcp://localhost:5558,
then 100 random workloads of 1-100 ms.
"""
import random
import sys
import time

import zmq

context = zmq.Context()

# Socket to send messages on
sender = context.socket(zmq.PUSH)
sender.bind("tcp://*:5557")

# Socket with direct access to the sink: used to synchronize start of batch
sink = context.socket(zmq.PUSH)
sink.connect("tcp://localhost:5558")

if "--no-wait" not in sys.argv[1:]:
    print("Press Enter when the workers are ready: ", end="", flush=True)
    sys.stdin.readline()
print("Sending tasks to workers...", flush=True)

# The first message is "0" and signals start of batch
sink.send(b"0")

# Initialize random number generator
random.seed()

# Send 100 tasks
total_msec = 0
for task_nbr in range(100):
    # Random workload from 1 to 100 msecs
    workload = random.randint(1, 100)
    total_msec += workload
    sender.send_string(f"{workload}")

print(f"Total expected cost: {total_msec} msec", flush=True)

# Give 0MQ time to deliver
time.sleep(1)
