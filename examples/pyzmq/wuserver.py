"""Weather update server in Python (zguide wuserver): PUB on tcp://*:5556.

Publishes "%05d %d %d" (zipcode, temperature, relhumidity) with the C version's ranges,
so the bytes match the C and Rust servers.
"""
from random import randrange

import zmq

context = zmq.Context()
socket = context.socket(zmq.PUB)
socket.bind("tcp://*:5556")

while True:
    zipcode = randrange(0, 100000)
    temperature = randrange(-80, 135)
    relhumidity = randrange(10, 60)

    socket.send_string("%05d %d %d" % (zipcode, temperature, relhumidity))
