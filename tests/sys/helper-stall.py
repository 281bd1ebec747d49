"""A stalled helper: wsd queues the requests meant for it up to its 16 MiB
channel limit, then refuses more at once (code unavailable over a
WebSocket, 503 with Retry-After over the HTTP API) instead of growing
without end, and keeps serving; once the helper runs again, every request
it took is carried out and answered."""
import json
import mmap
import os
import signal
import struct
import time

from gpiows_test import Gpiows, Tap, proc_status, raw_http
from rawws import RawWs, frame

t = Tap()
BATCH = 20000
if os.environ.get("GPIOWS_SANITIZERS") == "yes":
    # As in slow-reader.py: with ASan's quarantine of freed blocks, RSS
    # would count everything ever freed, not what is live.
    os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + \
        ":quarantine_size_mb=0"


class Counter:
    """Reads a raw WebSocket to the end in a child process (a thread would
    share the interpreter with the sender and fall behind wsd's output
    cap), counting replies by kind in shared memory; wsd's frames are small
    and unmasked, so counting their bytes is enough."""

    def __init__(self, sock):
        self.mem = mmap.mmap(-1, 40)
        self.pid = os.fork()
        if self.pid == 0:
            try:
                self._run(sock)
            finally:
                os._exit(0)

    def _get(self, i):
        return struct.unpack_from("q", self.mem, 8 * i)[0]

    ok = property(lambda self: self._get(0))
    unavailable = property(lambda self: self._get(1))
    markers = property(lambda self: self._get(2))
    other_errors = property(lambda self: self._get(3))
    ended = property(lambda self: {0: None, 1: "eof", 2: "error"}[self._get(4)])

    def _run(self, sock):
        tail = b""
        ok = un = mark = other = 0
        sock.settimeout(None)
        end = 2
        try:
            while True:
                d = sock.recv(1 << 20)
                if not d:
                    end = 1
                    break
                data = tail + d
                cut = data.rfind(b"}")
                done, tail = data[:cut + 1], data[cut + 1:]
                n_un = done.count(b'"code":"unavailable"')
                n_mark = done.count(b'"code":"unknown_pin"')
                ok += done.count(b'"type":"reply","ok":true')
                un += n_un
                mark += n_mark
                other += done.count(b'"ok":false') - n_un - n_mark
                struct.pack_into("qqqq", self.mem, 0, ok, un, mark, other)
        except OSError:
            pass
        struct.pack_into("qqqqq", self.mem, 0, ok, un, mark, other, end)

    def stop(self):
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def marker(w, c):
    """Send a request answered at once (an unknown pin) and wait for its
    answer: every answer wsd gave before it has then been counted."""
    n = c.markers
    w.send(frame(1, json.dumps({"op": "toggle", "pin": "marker"})))
    deadline = time.monotonic() + 10
    while c.markers == n and time.monotonic() < deadline:
        time.sleep(0.02)
    return c.markers > n


def put(port, body):
    data = raw_http(port, "PUT /api/pins/led HTTP/1.1\r\nHost: x\r\n"
                    "Content-Type: application/json\r\nContent-Length: %d\r\n"
                    "Connection: close\r\n\r\n%s" % (len(body), body))
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


with Gpiows() as g:
    wsd = g.wait_children()["wsd"]
    w = RawWs(g.port)
    c = Counter(w.s)
    toggles = frame(1, json.dumps({"op": "toggle", "pin": "led"})) * BATCH
    os.kill(g.proc.pid, signal.SIGSTOP)
    try:
        sent = 0
        rss_full = None
        # Until wsd refuses: at 44 bytes a request, 16 MiB is some
        # 381,000 of them.
        while c.unavailable == 0 and sent < 2000000:
            w.send(toggles)
            sent += BATCH
            time.sleep(0.01)
        marker(w, c)
        t.ok(c.unavailable > 0 and c.other_errors == 0,
             "with the helper stopped, wsd refuses toggles with code unavailable once "
             "its queue is full", "sent %d, unavailable %d, other errors %d"
             % (sent, c.unavailable, c.other_errors))
        accepted = sent - c.unavailable
        t.ok(200000 < accepted < 500000,
             "it took about 16 MiB of them first (44 bytes each: some 381,000)",
             "took %d" % accepted)
        head, body = put(g.port, '{"value":1}')
        t.ok(head.startswith("HTTP/1.1 503 ") and "\r\nRetry-After: 1" in head and
             json.loads(body).get("error", {}).get("code") == "unavailable",
             "PUT /api/pins/led meanwhile: 503, Retry-After, code unavailable",
             head.split("\r\n")[0] + " " + body.decode(errors="replace")[:100])
        # More refused requests do not grow wsd any further.
        rss_full = int(proc_status(wsd)["VmRSS"].split()[0])
        before = c.unavailable
        for i in range(5):
            w.send(toggles)
        marker(w, c)
        rss_more = int(proc_status(wsd)["VmRSS"].split()[0])
        t.ok(c.unavailable == before + 5 * BATCH and rss_more < rss_full + 8192,
             "%d more toggles are refused too, and wsd does not grow (RSS %d kB, then %d kB)"
             % (5 * BATCH, rss_full, rss_more),
             "refused %d more" % (c.unavailable - before))
        sent += 5 * BATCH
    finally:
        os.kill(g.proc.pid, signal.SIGCONT)

    # Every toggle it took is carried out and answered, in order.
    deadline = time.monotonic() + 60
    while c.ok < accepted and time.monotonic() < deadline and c.ended is None:
        time.sleep(0.1)
    t.eq((c.ok, c.other_errors, c.ended), (accepted, 0, None),
         "once the helper runs again, every one of the %d toggles wsd took is answered ok"
         % accepted)
    head, body = put(g.port, '{"value":1}')
    t.ok(head.startswith("HTTP/1.1 200 "), "and the API answers 200 again", head[:40])
    c.stop()
    w.close()

t.done()
