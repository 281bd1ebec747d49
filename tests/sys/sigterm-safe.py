"""SIGTERM to the helper: outputs go to their safe values (clients are told),
clients are closed with 1001, both children stop, the helper exits 0."""
import asyncio
import os
import signal
import socket

import websockets
from gpiows_test import Client, Gpiows, Tap, recv_head

t = Tap()

with Gpiows() as g:
    kids = g.wait_children()

    async def run():
        a = await Client.connect(g)
        await a.request({"op": "set", "pin": "led", "value": 1})
        r = await a.request({"op": "get", "pin": "relay"})
        t.eq(r["value"], 1, "relay at its initial 1, led set to 1")
        await a.quiet(0.2)
        # HTTP connections open at the stop: one sending its head, one
        # idle after an answer.  wsd closes them and frees them (the
        # sanitizer build reports a leak if not).
        half = socket.create_connection(("127.0.0.1", g.port), timeout=5)
        half.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        idle = socket.create_connection(("127.0.0.1", g.port), timeout=5)
        idle.sendall(b"GET /nosuch HTTP/1.1\r\nHost: x\r\n\r\n")
        answered = recv_head(idle).startswith(b"HTTP/1.1 404")
        g.proc.send_signal(signal.SIGTERM)
        events = []
        code = None
        try:
            while True:
                events.append(await a.recv(3))
        except websockets.exceptions.ConnectionClosed as e:
            code = e.code
        except asyncio.TimeoutError:
            pass
        safe = {(m["pin"], m["value"], m["source"]) for m in events if m.get("type") == "pin"}
        t.eq(safe, {("led", 0, "safe"), ("relay", 0, "safe")},
             "clients are told each output went to its safe value")
        t.eq(code, 1001, "clients are closed with 1001 (going away)")
        ends = []
        for sk in (half, idle):
            try:
                ends.append(sk.recv(100))
            except OSError as e:
                ends.append(repr(e))
            sk.close()
        t.eq((answered, ends), (True, [b"", b""]),
             "HTTP connections sending a head or idle are closed")

    asyncio.run(run())
    status = g.proc.wait(10)
    t.eq(status, 0, "the helper exits 0")
    gone = [k for k, pid in kids.items() if os.path.exists("/proc/%d" % pid)]
    t.eq(gone, [], "both children have stopped")
    log = g.logtext()
    t.ok("pin led: safe value 0" in log and "pin relay: safe value 0" in log,
         "the helper logged the safe values")
    t.ok("killing it" not in log, "no child needed SIGKILL")
t.done()
