"""HTTP keep-alive clients that pipeline and do not read, and a wsd out of
descriptors.

wsd answers a connection's requests one at a time: a pipelined request
waits, unread, until the answer before it has gone.  So a client that sends
thousands of GETs and reads nothing holds one answer's memory and at most
one file open; it is answered in full, in order, once it reads; and it
cannot keep itself alive past the write timeout by sending more.  When
accept() fails for want of descriptors, wsd stops accepting for a second
instead of trying again at once, for ever; and it holds at most 1024
connections that are not upgraded (clients that connect and send nothing
would hold descriptors and memory for 10 s each): the oldest idle one makes
room for a new one.
"""
import asyncio
import json
import os
import resource
import signal
import socket
import tempfile
import threading
import time

from gpiows_test import (SANITIZERS, Client, Gpiows, Tap, open_fds, proc_status, recv_head,
                         rss_follows_live_heap)

t = Tap()
MB = 1024 * 1024
rss_follows_live_heap()


def rss_kb(pid):
    return int(proc_status(pid)["VmRSS"].split()[0])


def read_answers(s, n):
    """n pipelined answers from s: a list of (status, body)."""
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                return out
            buf += d
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for l in lines[1:]:
            k, _, v = l.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v)
        while len(buf) < length:
            d = s.recv(65536)
            if not d:
                return out
            buf += d
        out.append((int(lines[0].split()[1]), buf[:length]))
        buf = buf[length:]
    return out


def get_ok(port, path="/index.html"):
    """Whether a fresh connection gets a 200 for path within 2 s."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        ok = recv_head(s).startswith(b"HTTP/1.1 200")
        s.close()
        return ok
    except OSError:
        return False


def pipeline_unread(g, wsd, path, n, check):
    """A client pipelines n GETs of path and reads nothing for a while
    (check(fds, rss growth in kB) meanwhile), then reads: the answers."""
    req = ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode()
    fds0, rss0 = open_fds(wsd), rss_kb(wsd)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", g.port))
    sender = threading.Thread(target=s.sendall, args=(req * n,))
    sender.start()
    time.sleep(2.0)
    check(open_fds(wsd) - fds0, rss_kb(wsd) - rss0)
    got = read_answers(s, n)
    sender.join()
    s.close()
    return got


with Gpiows() as g:
    wsd = g.wait_children()["wsd"]
    app = open(os.path.join(g.www, "app.js"), "rb").read()
    n = 5000

    def files_check(dfds, drss):
        t.ok(dfds <= 3, "%d pipelined GETs of a file, unread: wsd holds %d more descriptors "
             "(the socket and at most one file), not one per answer" % (n, dfds))
        t.ok(get_ok(g.port), "another client is served meanwhile")
    got = pipeline_unread(g, wsd, "/app.js", n, files_check)
    t.eq((len(got), all(st == 200 and b == app for st, b in got)), (n, True),
         "once it reads, all %d answers arrive, each the whole file" % n)

    n2 = 20000

    def api_check(dfds, drss):
        t.ok(drss < (8192 if SANITIZERS else 4096),
             "%d pipelined GET /api/pins, unread: wsd's RSS grew %d kB "
             "(20 MB of answers if each were queued)" % (n2, drss))
    got = pipeline_unread(g, wsd, "/api/pins", n2, api_check)
    t.eq((len(got), all(st == 200 and "pins" in json.loads(b) for st, b in got)), (n2, True),
         "once it reads, all %d answers arrive, in full" % n2)

# The write timeout: a client that takes nothing of an answer for 30 s is
# dropped, whether it sends more requests meanwhile or not.
with tempfile.TemporaryDirectory(prefix="gpiows-www-") as www:
    os.chmod(www, 0o755)
    with open(os.path.join(www, "big.bin"), "wb") as f:
        f.write(os.urandom(16 * MB))
    os.chmod(os.path.join(www, "big.bin"), 0o644)
    with Gpiows(www=www) as g:
        wsd = g.wait_children()["wsd"]
        fds0 = open_fds(wsd)
        hogs = []
        for _ in range(2):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", g.port))
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            hogs.append(s)
        for _ in range(100):    # until wsd has both, each with its file
            if open_fds(wsd) >= fds0 + 4:
                break
            time.sleep(0.05)
        start = time.monotonic()
        # One stays silent; the other sends a HEAD every 3 s.
        while time.monotonic() - start < 45 and open_fds(wsd) > fds0:
            time.sleep(3)
            try:
                hogs[1].send(b"HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            except OSError:
                pass
        elapsed = time.monotonic() - start
        log = g.logtext()
        t.eq(log.count("connection timed out (answer not taken)"), 2,
             "two clients that take nothing of a 16 MB answer are dropped, the one that "
             "keeps sending requests too")
        t.ok(open_fds(wsd) <= fds0, "both in %.0f s (the write timeout is 30 s)" % elapsed)
        for s in hogs:
            s.close()


# Out of descriptors: accept() fails with EMFILE while connections wait.
class Limited(Gpiows):
    """gpiows with 128 descriptors: wsd inherits the limit."""

    def __enter__(self):
        return self.start(prefix=("prlimit", "--nofile=128:128"))


async def emfile(g, wsd):
    c0 = await Client.connect(g)
    socks = []
    try:
        for _ in range(200):
            socks.append(socket.create_connection(("127.0.0.1", g.port), timeout=1))
    except OSError:
        pass
    await asyncio.sleep(0.5)
    mark = len(g.logtext())
    await asyncio.sleep(2.5)
    lines = [l for l in g.logtext()[mark:].splitlines() if "accept" in l]
    t.ok(len(socks) > 128 - open_fds(wsd) and len(lines) <= 4,
         "with its descriptors used up by %d connections, wsd tried accept() %d times "
         "in 2.5 s (once a second), not at once again and again" % (len(socks), len(lines)),
         "\n".join(lines[:5]))
    t.ok("accept: Too many open files; not accepting for 1000 ms" in g.logtext(),
         "and says why it stops accepting, and for how long")
    r = await c0.request({"op": "get", "pin": "led"})
    t.ok(r.get("ok"), "a client connected before is served meanwhile")
    for s in socks:
        s.close()
    await asyncio.sleep(0.5)
    c = await asyncio.wait_for(Client.connect(g), 3)
    r = await c.request({"op": "get", "pin": "led"})
    t.ok(r.get("ok"), "once those connections are gone, a new client is served")
    await c.close()
    await c0.close()


with Limited() as g:
    wsd = g.wait_children()["wsd"]
    asyncio.run(emfile(g, wsd))
    t.eq(g.children().get("wsd"), wsd, "wsd kept running (same pid)")


# Connections that are never upgraded: wsd holds at most 1024 of them.
# Past that the oldest not being answered makes room; if all are being
# answered, new connections wait in the listen queue until one is done.
async def held(g, wsd):
    c0 = await Client.connect(g)
    fds0 = open_fds(wsd)
    # In bursts, within a second: the 1025th comes when none is old enough
    # to make room, and is kept until one is.
    socks = []
    for i in range(1100):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", g.port))
        socks.append(s)
        if i % 100 == 99:
            await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)
    took = open_fds(wsd) - fds0
    t.ok(took <= 1024, "1100 connections that send nothing: wsd holds %d of them "
         "(at most 1024)" % took)
    closed = 0
    for s in socks[:76]:
        s.settimeout(2)
        try:
            closed += s.recv(1) == b""
        except OSError:
            pass
    t.eq(closed, 76, "the 76 oldest were closed to make room")
    t.ok("1024 connections not upgraded: closing the oldest not being answered"
         in g.logtext(), "and wsd says so")
    c = await asyncio.wait_for(Client.connect(g), 3)
    r = await c.request({"op": "get", "pin": "led"})
    t.ok(r.get("ok"), "a new client is served at once")
    await c.close()
    r = await c0.request({"op": "get", "pin": "led"})
    t.ok(r.get("ok"), "and so is a client connected before")
    for s in socks:
        s.close()

    # 1025 PUTs waiting for a stopped helper: none can make room.
    put = (b"PUT /api/pins/led HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: 11\r\n\r\n{\"value\":1}")
    os.kill(g.proc.pid, signal.SIGSTOP)
    try:
        socks = []
        for i in range(1025):
            if i == 1024:
                # Until wsd has read each PUT, its connection is "sending its
                # request", which one past the limit may close.
                await asyncio.sleep(1.0)
            s = socket.create_connection(("127.0.0.1", g.port), timeout=2)
            s.sendall(put)
            socks.append(s)
        late = asyncio.ensure_future(asyncio.wait_for(Client.connect(g), 10))
        await asyncio.sleep(0.2)
        t.ok(not late.done(), "1025 PUTs waiting for a stopped helper: a new client waits "
             "in the listen queue (for a second at most)")
        t.ok("1024 connections not upgraded: none can make room, not accepting for now"
             in g.logtext(), "and wsd says why")
    finally:
        os.kill(g.proc.pid, signal.SIGCONT)
    answered, missed = 0, []
    for i, s in enumerate(socks):
        s.settimeout(5)
        try:
            head = recv_head(s)
        except OSError as e:
            head = repr(e).encode()
        if head.startswith(b"HTTP/1.1 200"):
            answered += 1
        else:
            missed.append((i, head[:60]))
    t.ok(answered == 1025, "once the helper goes on, every PUT is answered 200",
         "%d answered; not: %r" % (answered, missed[:10]))
    try:
        c = await late
        r = await c.request({"op": "get", "pin": "led"})
        t.ok(r.get("ok"), "and the waiting client is served")
        await c.close()
    except (asyncio.TimeoutError, OSError) as e:
        t.ok(False, "and the waiting client is served", repr(e))
    for s in socks:
        s.close()
    await c0.close()


resource.setrlimit(resource.RLIMIT_NOFILE, (4096, max(4096, resource.getrlimit(
    resource.RLIMIT_NOFILE)[1])))
with Gpiows() as g:
    asyncio.run(held(g, g.wait_children()["wsd"]))

t.done()
