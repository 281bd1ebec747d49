"""A client that stops reading is closed once more than the output cap
(WSD_MAX_OUTPUT, 1 MiB) waits for it, and holds no one else up: a working
client toggling all along gets every reply and every pin event, in order,
and wsd's memory stays below its baseline + the cap + a slack.

The slack: the cap counts queued frame bytes, while libevent keeps them in
chains of 1 to 4 KiB that are partly empty, malloc keeps freed memory in
its arenas, and the frame that passes the cap is queued before the check;
1 MiB covers all that with room to spare.  (Before wsd copied small
broadcast frames, each was queued by reference in a 1 KiB chain of its
own, and a slow reader of pin events cost over 10 MiB: this test caught
it.)"""
import os
import socket
import time

from gpiows_test import SANITIZERS, Gpiows, Tap, proc_status, rss_follows_live_heap
from rawws import RawWs, toggle_batch

t = Tap()
CAP = 1024 * 1024
SLACK = CAP
rss_follows_live_heap()
if SANITIZERS:
    SLACK = 8 * CAP     # ASan's shadow and caches
BATCH = 200
MAX_TOGGLES = 60000     # failure bound: the cap must be passed long before


def kib(pid, field):
    return int(proc_status(pid)[field].split()[0]) * 1024


with Gpiows() as g:
    wsd = g.children()["wsd"]
    w = RawWs(g.port)
    led = [p for p in w.hello["pins"] if p["name"] == "led"][0]
    state = {"seq": w.hello["seq"], "value": led["value"], "events": 0,
             "users": []}
    # Warm up: allocator arenas, libevent, jansson, before the baseline.
    problem = toggle_batch(w, 1, state, BATCH)
    base = kib(wsd, "VmRSS")

    slow = RawWs(g.port, rcvbuf=4096, hello=False)
    toggles, ident, dropped_at = 0, 1 + BATCH, None
    while problem is None and toggles < MAX_TOGGLES:
        problem = toggle_batch(w, ident, state, BATCH)
        ident += BATCH
        toggles += BATCH
        # users: 2 when the slow client came, 1 when it was dropped.
        if state["users"][-2:] == [2, 1]:
            dropped_at = toggles
            break
    t.ok(problem is None, "the working client got all %d replies in order, no stall"
         % toggles, problem)
    t.eq(state["events"], toggles + BATCH,
         "and one led event per toggle, in seq order, alternating")
    t.ok(dropped_at is not None, "the slow client was dropped (users back to 1) "
         "after %s toggles" % dropped_at)
    peak = kib(wsd, "VmHWM")
    t.ok(peak <= base + CAP + SLACK, "wsd's peak RSS %d KiB <= baseline %d KiB + "
         "cap 1024 KiB + slack %d KiB" % (peak // 1024, base // 1024, SLACK // 1024))

    # What the slow client finally reads: what the kernel held, then the end.
    got, end = 0, None
    deadline = time.monotonic() + 10
    slow.s.settimeout(1)
    while end is None and time.monotonic() < deadline:
        try:
            d = slow.s.recv(65536)
            if not d:
                end = "EOF"
            got += len(d)
        except ConnectionResetError:
            end = "reset"
        except socket.timeout:
            pass
    t.ok(end is not None, "the slow client's connection is closed by wsd (%s after "
         "%d bytes it had not read)" % (end, got))
    slow.close()

    # The working client goes on; wsd is the same process.
    problem = toggle_batch(w, ident, state, BATCH)
    t.ok(problem is None and state["users"][-1] == 1,
         "the working client keeps working after the drop", problem)
    t.eq(g.children().get("wsd"), wsd, "wsd is the same process")
    w.close()
t.done()
