#!/usr/bin/env python3
"""The peer of make bench-ws in Python: the counter server of the
websockets documentation (10.4, "Synchronize instances"), its action made a
toggle of one state so that the messages match gpiows's: every connect and
disconnect broadcasts {"type":"users","count":N}, every toggle broadcasts
{"type":"value","value":V} to everyone, the sender included.

	python3 counter.py PORT
"""

import asyncio
import json
import logging
import sys

import websockets

logging.basicConfig()

USERS = set()

VALUE = 0


def users_event():
    return json.dumps({"type": "users", "count": len(USERS)})


def value_event():
    return json.dumps({"type": "value", "value": VALUE})


async def counter(websocket):
    global USERS, VALUE
    try:
        # Register user
        USERS.add(websocket)
        websockets.broadcast(USERS, users_event())
        # Send current state to user
        await websocket.send(value_event())
        # Manage state changes
        async for message in websocket:
            event = json.loads(message)
            if event["action"] == "toggle":
                VALUE = 1 - VALUE
                websockets.broadcast(USERS, value_event())
            else:
                logging.error("unsupported event: %s", event)
    finally:
        # Unregister user
        USERS.remove(websocket)
        websockets.broadcast(USERS, users_event())


async def main(port):
    async with websockets.serve(counter, "127.0.0.1", port, backlog=511):
        await asyncio.Future()  # run forever


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
