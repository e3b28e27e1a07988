"""Weather update client in Python (zguide wuclient): SUB to tcp://localhost:5556.

Subscribes to the zipcode in argv[1] (default "10001 "), averages 100 temperatures.
"""
import sys

import zmq

context = zmq.Context()
socket = context.socket(zmq.SUB)

print("Collecting updates from weather server...", flush=True)
socket.connect("tcp://localhost:5556")

zip_filter = sys.argv[1] if len(sys.argv) > 1 else "10001 "
socket.setsockopt_string(zmq.SUBSCRIBE, zip_filter)

updates = 100
total_temp = 0
for update_nbr in range(updates):
    string = socket.recv_string()
    zipcode, temperature, relhumidity = string.split()
    total_temp += int(temperature)

print(f"Average temperature for zipcode '{zip_filter}' was {int(total_temp / updates)}F", flush=True)
