"""Waits and edge watches: the helper sends the mission worker the changes
of the pins a mission waits on, not every change (each would wake it), and
no edge after the start of a wait is lost on the way: one the helper
records between the start of the wait and the watch reaching it is sent
when the watch arrives; one recorded before the wait began is not, nor
does one that the watch of an earlier wait brings end a later one."""
import asyncio
import json
import os
import signal
import time
from gpiows_test import MISSION_ENDED as ENDED, Client, Gpiows, Tap, mission_ev, proc_status

t = Tap()

EV = 10.0
TOGGLES = 300


async def until_end(c, mid, timeout=EV):
    while True:
        m = await c.wait_for(mission_ev(mid), timeout)
        if m["mission"]["state"] in ENDED:
            return m["mission"]


def switches(pid):
    st = proc_status(pid)
    return int(st["voluntary_ctxt_switches"]) + int(st["nonvoluntary_ctxt_switches"])


async def toggles_wake(g, c, n=TOGGLES, pin="led"):
    """How often the worker ran while c changed pin n times: toggled the
    output led, or pulled the input button up and down."""
    worker = g.children()["worker"]
    before = switches(worker)
    for i in range(n):
        if pin == "button":
            r = await c.request({"op": "sim.pull", "pin": pin, "value": (i + 1) % 2})
        else:
            r = await c.request({"op": "toggle", "pin": pin})
        assert r["ok"], r
    return switches(worker) - before


def waits(pin, edge, ms, then=None):
    steps = [{"wait": {"pin": pin, "edge": edge, "timeout_ms": ms}}]
    return {"name": "wait-%s-%s" % (pin, edge), "steps": steps + (then or [])}


async def start(c, mission):
    r = await c.request({"op": "mission.start", "mission": mission}, timeout=EV)
    assert r.get("ok"), r
    await c.wait_for(mission_ev(r["mission"], "running"), EV)
    return r["mission"]


async def pull(c, value):
    r = await c.request({"op": "sim.pull", "pin": "button", "value": value})
    assert r["ok"], r


async def test_not_woken(g, a):
    n = await toggles_wake(g, a)
    t.ok(n < TOGGLES // 10, "%d toggles with no mission: the worker ran %d times (< %d)" %
         (TOGGLES, n, TOGGLES // 10), n)
    mid = await start(a, waits("button", "rising", 60000))
    n = await toggles_wake(g, a)
    t.ok(n < TOGGLES // 10, "a mission waits on button: %d toggles of led woke the worker "
         "%d times (< %d)" % (TOGGLES, n, TOGGLES // 10), n)
    await pull(a, 1)
    m = await until_end(a, mid)
    t.eq(m["state"], "done", "the edge on the watched pin still ends the wait")
    await pull(a, 0)
    n = await toggles_wake(g, a, pin="button")
    t.ok(n < TOGGLES // 10, "once it ended, button's changes are no longer sent either: "
         "%d runs" % n, n)
    log = g.logtext()
    t.ok("pin button: watched by the worker" in log and
         "pin button: no longer watched by the worker" in log,
         "the helper logs the watch and its end")


async def test_same_pin(g, a):
    """Two waits on one pin: the watch stays while either waits."""
    up = await start(a, waits("button", "rising", 60000))
    down = await start(a, waits("button", "falling", 60000))
    await pull(a, 1)
    m = await until_end(a, up)
    t.eq(m["state"], "done", "rising wait ends on the rising edge")
    rest = [x for x in await a.quiet(0.3) if mission_ev(down)(x) and
            x["mission"]["state"] in ENDED]
    t.eq(rest, [], "the falling wait on the same pin goes on")
    await pull(a, 0)
    m = await until_end(a, down)
    t.eq(m["state"], "done", "and ends on the falling edge: its watch stayed")

    # A mission that waits twice in a row on one pin sees two edges, not one
    # edge twice.
    two = await start(a, {"name": "two-presses", "steps": [
        {"wait": {"pin": "button", "edge": "rising", "timeout_ms": 60000}},
        {"wait": {"pin": "button", "edge": "rising", "timeout_ms": 400}}]})
    await pull(a, 1)
    m = await until_end(a, two)
    t.eq((m["state"], m["done"]), ("failed", 1),
         "two waits for rising, one press: the first ends, the second times out")
    await pull(a, 0)


async def test_before_wait(g, a):
    """An edge the helper recorded before the wait began does not end it."""
    await pull(a, 1)
    await pull(a, 0)
    mid = await start(a, waits("button", "rising", 300))
    m = await until_end(a, mid)
    t.eq((m["state"], m.get("error")), ("failed", 'no rising edge on "button" within 300 ms'),
         "a press before the wait began does not end it")


async def test_in_flight(g, a, b):
    """The helper records a press after the wait began but before the watch
    reaches it: the watch brings it along."""
    # The last mission's watch has ended in the helper: a stop still on
    # its way would be read, with the new watch, before the pull.
    deadline = time.monotonic() + EV
    while (g.logtext().count("pin button: watched by the worker,") !=
           g.logtext().count("pin button: no longer watched by the worker") and
           time.monotonic() < deadline):
        await asyncio.sleep(0.02)
    os.kill(g.proc.pid, signal.SIGSTOP)
    try:
        # wsd passes the pull on to the stopped helper: it waits in wsd's
        # socket to the helper, before the wait begins and its watch is
        # sent on the worker's.  wsd's became readable first, and epoll
        # reports ready sockets in that order: the helper takes the pull
        # (recording the press) before the watch.
        b.next_id += 1
        pid_ = b.next_id
        await b.ws.send('{"op":"sim.pull","pin":"button","value":1,"id":%d}' % pid_)
        await asyncio.sleep(0.3)
        # A mission with no output needs nothing from the helper to run.
        mid = await start(a, waits("button", "rising", 60000))
        await asyncio.sleep(0.2)
    finally:
        os.kill(g.proc.pid, signal.SIGCONT)
    r = await b.wait_for(lambda m: m.get("type") == "reply" and m.get("id") == pid_, EV)
    t.ok(r.get("ok"), "the pull is applied once the helper goes on", r)
    m = await until_end(a, mid)
    t.eq(m["state"], "done", "the press the helper recorded after the wait began ends it")
    log = g.logtext()
    t.ok("pin button: watched by the worker, 1 change since its wait began" in log,
         "it came with the watch, not as a live event")
    await pull(a, 0)


async def test_replay_not_before(g, a, b):
    """A watch replays the pin's changes from its earliest wait on: a wait
    that began after one of them is not ended by it."""
    key = "pin button: watched by the worker,"
    watches = g.logtext().count(key)
    replays = g.logtext().count(key + " 1 change since its wait began")
    first = await start(a, waits("button", "rising", 60000))
    deadline = time.monotonic() + EV
    while g.logtext().count(key) == watches and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    worker = g.children()["worker"]
    os.kill(worker, signal.SIGSTOP)
    try:
        # A reload drops the worker's watches (pins go by index); the
        # stopped worker watches again only once it goes on, so the press
        # is recorded unwatched, and comes with that watch.
        g.proc.send_signal(signal.SIGHUP)
        await b.wait_for(lambda m: m.get("type") == "hello", EV)
        await pull(b, 1)
        # The second wait begins after the press: its start waits in the
        # stopped worker's socket, read before the watch goes out.
        a.next_id += 1
        sid = a.next_id
        await a.ws.send(json.dumps({"op": "mission.start", "id": sid,
                                    "mission": waits("button", "rising", 60000)}))
        # Time for wsd to pass it on (a start that came after the watch
        # would make this test pass without testing anything).
        await asyncio.sleep(0.5)
    finally:
        os.kill(worker, signal.SIGCONT)
    r = await a.wait_for(lambda m: m.get("type") == "reply" and m.get("id") == sid, EV)
    t.ok(r.get("ok"), "the second wait starts once the worker goes on", r)
    second = r["mission"]
    m = await until_end(a, first)
    t.eq(m["state"], "done", "the press after the first wait began ends it (replayed)")
    t.eq(g.logtext().count(key + " 1 change since its wait began"), replays + 1,
         "the press came with the watch, not as a live event")
    ended = [x for x in await a.quiet(0.3) if mission_ev(second)(x) and
             x["mission"]["state"] in ENDED]
    t.eq(ended, [], "the press before the second wait began does not end it")
    await pull(a, 0)
    await pull(a, 1)
    m = await until_end(a, second)
    t.eq(m["state"], "done", "the next press does")
    await pull(a, 0)


async def test_worker_restart(g, a):
    mid = await start(a, waits("button", "rising", 60000))
    key = "pin button: watched by the worker,"
    watches = g.logtext().count(key)
    old = g.children()
    os.kill(old["worker"], signal.SIGKILL)
    g.wait_children({"worker": old["worker"]})
    # The new worker resumes the mission from its journal and watches anew.
    deadline = time.monotonic() + EV
    while g.logtext().count(key) == watches and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    t.ok(g.logtext().count(key) > watches, "a restarted worker watches the pin again")
    await pull(a, 1)
    m = await until_end(a, mid)
    t.eq(m["state"], "done", "and its resumed wait sees the edge")
    await pull(a, 0)


async def main(g):
    a = await Client.connect(g)
    b = await Client.connect(g)
    await test_not_woken(g, a)
    await test_same_pin(g, a)
    await test_before_wait(g, a)
    await test_in_flight(g, a, b)
    await test_replay_not_before(g, a, b)
    await test_worker_restart(g, a)
    await a.close()
    await b.close()


with Gpiows() as g:
    asyncio.run(main(g))
t.done()
