"""Pipelining: a client that sends requests faster than it reads their
answers is served at the pace it reads, not dropped; a client pipelining
toggles as fast as it can does not make the helper take wsd for hung.
A client that stops reading is still dropped (slow-reader.py)."""
import json
import os
import threading
import time

from gpiows_test import Gpiows, Tap
from rawws import RawWs, frame

t = Tap()
# Answers of ~120 bytes: 7 MB, past what the sockets hold (the client's
# receive buffer is held to 64 KiB, wsd's send buffer grows to 4 MiB) and
# the 1 MiB output cap.
N = 60000


def bad_requests(first, n):
    """n requests answered at once, without the helper: an unknown pin."""
    return b"".join(frame(1, json.dumps({"op": "toggle", "pin": "nosuch", "id": first + i}))
                    for i in range(n))


def send_all_then_read(w, n, first=1):
    """Send n requests (from a thread: the sends may have to wait until
    wsd reads again) without reading, then read the answers: the ids, in
    order, of those that are unknown_pin errors, and what ended it."""
    data = bad_requests(first, n)
    sent = []
    th = threading.Thread(target=lambda: sent.append(w.s.sendall(data) or True), daemon=True)
    th.start()
    time.sleep(1.0)
    ids = []
    end = None
    try:
        while len(ids) < n:
            m = w.recv_json(timeout=10)
            if m.get("type") == "reply":
                if (m.get("error") or {}).get("code") != "unknown_pin":
                    end = "unexpected %r" % m
                    break
                ids.append(m.get("id"))
    except Exception as e:
        end = repr(e)
    th.join(10)
    return ids, end, bool(sent)


def count_in_child(sock, needle, want):
    """Read sock in a child process (a thread would share the interpreter
    with the sender and fall behind) until want frames with needle have
    come: returns a function that waits for the child and gives the count.
    wsd's frames are small and unmasked, so counting bytes is enough; the
    child stops wherever its last read ended, so sock is not read again."""
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rd)
        n = 0
        tail = b""
        try:
            sock.settimeout(30)
            while n < want:
                d = sock.recv(1 << 20)
                if not d:
                    break
                data = tail + d
                cut = data.rfind(b"}")
                n += data[:cut + 1].count(needle)
                tail = data[cut + 1:]
        except OSError:
            pass
        os.write(wr, b"%d" % n)
        os._exit(0)
    os.close(wr)

    def result():
        got = int(os.read(rd, 32) or b"0")
        os.close(rd)
        os.waitpid(pid, 0)
        return got
    return result


with Gpiows() as g:
    w = RawWs(g.port, rcvbuf=65536)
    ids, end, sent = send_all_then_read(w, N)
    t.ok(ids == list(range(1, N + 1)) and end is None and sent,
         "%d requests sent before any answer is read: every answer comes, in order "
         "(served at the pace the client reads, not dropped at the output cap)" % N,
         "%d answers, ended by %s, all sent: %s" % (len(ids), end, sent))
    m = w.request({"op": "get", "pin": "led"})
    t.ok(m.get("ok") is True, "the connection is still open and answers", m)
    w.close()

    # Toggles pipelined as fast as the client can send them, read by a
    # second process as they come: the helper answers faster than wsd can
    # pass its answers on, and used to take wsd for hung (its queue to wsd
    # passed 4 MiB) and restart it, dropping every client.
    w = RawWs(g.port)
    wsd = g.wait_children()["wsd"]
    total = 200000
    reader = count_in_child(w.s, b'"type":"reply","ok":true', total)
    toggles = frame(1, json.dumps({"op": "toggle", "pin": "led"})) * 20000
    try:
        for i in range(total // 20000):
            w.send(toggles)
        err = None
    except OSError as e:
        err = repr(e)
    got = reader()
    t.ok(got == total and err is None,
         "%d toggles pipelined as fast as they can be sent: every one answered ok" % total,
         "%d answered, send error %s" % (got, err))
    t.eq(g.wait_children().get("wsd"), wsd, "wsd was not restarted")
    t.ok("cannot send" not in g.logtext(), "the helper never found wsd behind")
    w.close()

    # Requests whose answers are long: a list of 64 missions is some 10 KB,
    # and 600 requests for it come in one read of 16 KiB.  With no bound on
    # the requests out, wsd passed hundreds of them to the worker at once
    # and their answers passed the output cap; the worker, behind, lost
    # answers.  Now 8 at a time go on, the rest wait in order.
    w = RawWs(g.port)
    for i in range(64):
        m = w.request({"op": "mission.start", "mission": {
            "name": "m%02d-%s" % (i, "x" * 60), "steps": [{"sleep": {"ms": 600000}}]}})
        if not m.get("ok"):
            break
    t.ok(m.get("ok"), "64 long missions started", m)
    lists = 2000
    reader = count_in_child(w.s, b'"type":"reply","ok":true,"missions":[', lists)
    w.send(frame(1, json.dumps({"op": "mission.list"})) * lists)
    got = reader()
    log = g.logtext()
    t.ok(got == lists and "not reading" not in log and "sending to wsd" not in log,
         "%d mission lists of 64 missions asked for at once: every one answered, the "
         "client not dropped, no answer lost by the worker" % lists,
         "%d answered" % got)
    w.close()

    other = RawWs(g.port)
    m = other.request({"op": "get", "pin": "led"}, timeout=10)
    t.ok(m.get("ok") is True and m.get("value") == 0,
         "a new client is served, and the even number of toggles left led at 0", m)
    other.close()

t.done()
