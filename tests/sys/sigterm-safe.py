"""SIGTERM to the helper: outputs go to their safe values (clients are told),
clients are closed with 1001, both children stop, the helper exits 0."""
import asyncio
import os
import signal
import socket
import tempfile
import time

import websockets
from gpiows_test import Client, Gpiows, Tap, alive, recv_head

t = Tap()

www = tempfile.TemporaryDirectory(prefix="gpiows-www-")
os.chmod(www.name, 0o755)
for name, data in (("index.html", b"<p>gpiows</p>\n"), ("big.bin", os.urandom(16 << 20))):
    with open(os.path.join(www.name, name), "wb") as f:
        f.write(data)
    os.chmod(f.name, 0o644)


with Gpiows(www=www.name) as g:
    kids = g.wait_children()

    async def run():
        a = await Client.connect(g)
        await a.request({"op": "set", "pin": "led", "value": 1})
        r = await a.request({"op": "get", "pin": "relay"})
        t.eq(r["value"], 1, "relay at its initial 1, led set to 1")
        await a.quiet(0.2)
        # HTTP connections open at the stop: one sending its head, one
        # idle after an answer: wsd closes them at once, while a third,
        # taking nothing of a 16 MB answer, keeps it up to its second.  All
        # are freed (the sanitizer build reports a leak if not).
        hog = socket.socket()
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hog.connect(("127.0.0.1", g.port))
        hog.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
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
        t.eq((answered, ends, alive(kids["wsd"])), (True, [b"", b""], True),
             "HTTP connections sending a head or idle are closed at once, before wsd exits")
        hog.close()

    asyncio.run(run())
    status = g.proc.wait(10)
    t.eq(status, 0, "the helper exits 0")
    gone = [k for k, pid in kids.items() if os.path.exists("/proc/%d" % pid)]
    t.eq(gone, [], "both children have stopped")
    log = g.logtext()
    t.ok("pin led: safe value 0" in log and "pin relay: safe value 0" in log,
         "the helper logged the safe values")
    t.ok("killing it" not in log, "no child needed SIGKILL")
www.cleanup()

# Signals that keep coming while the helper stops are ignored, to the end:
# not one of them may kill it short of its exit(0).
codes = []
for rnd in range(8):
    g = Gpiows()
    g.start()
    g.proc.send_signal(signal.SIGTERM)
    while g.proc.poll() is None:
        try:
            g.proc.send_signal(signal.SIGHUP if rnd % 2 else signal.SIGTERM)
        except ProcessLookupError:
            break
        time.sleep(0.001)
    codes.append(g.proc.wait())
    g.close()
t.eq(codes, [0] * 8, "SIGTERM or SIGHUP every millisecond while the helper stops: "
     "it exits 0 each time")
t.done()
