"""A stalled helper: a client that pipelines toggles meanwhile has 8 of
them passed on (WSD_MAX_INFLIGHT) and the rest wait in its connection,
not in wsd's memory; another client is not held behind them; once the
helper runs again, every toggle is carried out and answered, in order."""
import json
import mmap
import os
import signal
import struct
import threading
import time

from gpiows_test import Gpiows, Tap, proc_status, rss_follows_live_heap
from rawws import RawWs, frame

t = Tap()
N = 100000              # toggles of ~46 bytes: 4.6 MB
rss_follows_live_heap()


class Counter:
    """Reads a raw WebSocket to the end in a child process (a thread would
    share the interpreter with the sender), counting ok replies and
    whether they came in order, in shared memory; wsd's frames are small
    and unmasked, so counting their bytes is enough."""

    def __init__(self, sock):
        self.mem = mmap.mmap(-1, 24)
        self.pid = os.fork()
        if self.pid == 0:
            try:
                self._run(sock)
            finally:
                os._exit(0)

    def _get(self, i):
        return struct.unpack_from("q", self.mem, 8 * i)[0]

    ok = property(lambda self: self._get(0))
    other = property(lambda self: self._get(1))
    ended = property(lambda self: self._get(2))

    def _run(self, sock):
        tail = b""
        ok = other = 0
        sock.settimeout(None)
        try:
            while True:
                d = sock.recv(1 << 20)
                if not d:
                    break
                data = tail + d
                cut = data.rfind(b"}")
                done, tail = data[:cut + 1], data[cut + 1:]
                n_ok = done.count(b'"type":"reply","ok":true')
                ok += n_ok
                other += done.count(b'"type":"reply"') - n_ok
                struct.pack_into("qq", self.mem, 0, ok, other)
        except OSError:
            pass
        struct.pack_into("qqq", self.mem, 0, ok, other, 1)

    def stop(self):
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def rss_kb(pid):
    return int(proc_status(pid)["VmRSS"].split()[0])


with Gpiows() as g:
    wsd = g.wait_children()["wsd"]
    a = RawWs(g.port)
    b = RawWs(g.port)
    c = Counter(a.s)
    toggles = frame(1, json.dumps({"op": "toggle", "pin": "led"})) * N
    rss0 = rss_kb(wsd)
    os.kill(g.proc.pid, signal.SIGSTOP)
    try:
        # wsd stops reading a before all is sent: the sending waits.
        sender = threading.Thread(target=a.send, args=(toggles,), daemon=True)
        sender.start()
        time.sleep(0.5)
        b.send(frame(1, json.dumps({"op": "get", "pin": "relay", "id": 7})))
        time.sleep(1.0)
        rss1 = rss_kb(wsd)
        t.ok(rss1 < rss0 + 4096,
             "with the helper stopped, %d toggles pipelined cost wsd no memory: they "
             "wait in the client's connection (RSS %d kB, then %d kB)" % (N, rss0, rss1))
        t.eq((c.ok, c.other), (0, 0), "nothing is answered meanwhile")
    finally:
        os.kill(g.proc.pid, signal.SIGCONT)

    m = b.recv_reply(7, timeout=10)
    t.ok(m.get("ok") is True and m.get("pin") == "relay",
         "once the helper runs again, the other client's get is answered", m)
    deadline = time.monotonic() + 60
    while c.ok < N and c.ended == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    sender.join(10)
    t.eq((c.ok, c.other, c.ended, sender.is_alive()), (N, 0, 0, False),
         "and every one of the %d toggles is sent and answered ok" % N)
    # b, not reading the 100,000 pin events, has been dropped: a new client.
    b.close()
    b = RawWs(g.port)
    m = b.request({"op": "get", "pin": "led"}, timeout=10)
    t.ok(m.get("ok") is True and m.get("value") == 0,
         "led is back at 0 after an even number of toggles", m)
    t.ok("cannot send" not in g.logtext(), "the helper never took wsd for hung")
    c.stop()
    a.close()
    b.close()

t.done()
