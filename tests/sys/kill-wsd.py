"""kill -9 of wsd: a new wsd serves clients again within a second of its
start (the helper backs off 250 ms, then 500, when a child dies young), with the
pin values unchanged; the worker is not disturbed."""
import asyncio
import os
import signal
import time

from gpiows_test import Client, Gpiows, Tap, backoff_ms, restarted_in

t = Tap()


async def setup(g):
    a = await Client.connect(g)
    await a.request({"op": "set", "pin": "led", "value": 1})
    await a.request({"op": "sim.pull", "pin": "button", "value": 1})
    r = await a.request({"op": "get", "pin": "led"})
    seq = (await a.request({"op": "toggle", "pin": "relay"})) and None
    return a


async def after(g):
    c = await Client.connect(g)
    await c.close()
    return c.hello


with Gpiows() as g:
    kids = g.wait_children()
    before = None

    async def run():
        global before
        a = await setup(g)
        await a.quiet(0.3)
        b = await Client.connect(g)
        before = b.hello
        await b.close()
        os.kill(kids["wsd"], signal.SIGKILL)
        t0 = time.monotonic()
        # The old connection is cut when wsd dies.
        try:
            await asyncio.wait_for(a.ws.wait_closed(), 2)
            closed = True
        except asyncio.TimeoutError:
            closed = False
        t.ok(closed, "the old client's connection is closed when wsd dies")
        return t0

    mark = len(g.logtext())
    t0 = asyncio.run(run())
    g.wait_serving(timeout=5)
    restarted_in(t, time.monotonic() - t0, backoff_ms(g, mark), 250, "a new wsd")
    now = g.wait_children()
    t.ok(now["wsd"] != kids["wsd"], "wsd has a new pid")
    t.eq(now["worker"], kids["worker"], "the worker kept running")
    hello = asyncio.run(after(g))
    vals = lambda h: {p["name"]: (p["value"], p["seq"]) for p in h["pins"]}
    t.eq(vals(hello), vals(before), "pin values and their seq are unchanged")
    t.eq(hello["seq"], before["seq"], "the event seq goes on where it was")
    t.ok("wsd[%d] killed by signal 9" % kids["wsd"] in g.logtext(), "the helper logged the death")

    async def mission_list():
        c = await Client.connect(g)
        r = await c.request({"op": "mission.list"})
        await c.close()
        return r
    r = asyncio.run(mission_list())
    t.ok(r["ok"] and r["missions"] == [], "the new wsd reaches the worker (mission.list)", r)

    # Again, straight away: the restart is not throttled into a stall.
    kids = g.wait_children()
    mark = len(g.logtext())
    os.kill(kids["wsd"], signal.SIGKILL)
    t0 = time.monotonic()
    g.wait_children(old={"wsd": kids["wsd"]})
    g.wait_serving(timeout=5)
    restarted_in(t, time.monotonic() - t0, backoff_ms(g, mark), 500,
                 "after a second kill -9, wsd")

# A wsd that dies 1.5 s after each start dies quickly (within 2 s), each
# time: the back-off doubles, 250, 500, 1000, 2000 ms.
with Gpiows() as g:
    kids = g.wait_children()
    time.sleep(2.5)                 # the first one ran long enough
    waits = []
    for i in range(5):
        mark = len(g.logtext())
        os.kill(kids["wsd"], signal.SIGKILL)
        kids = g.wait_children(old={"wsd": kids["wsd"]})
        if i > 0:
            waits.append(backoff_ms(g, mark))
        time.sleep(1.5)
    t.eq(waits, [250, 500, 1000, 2000],
         "wsd killed 1.5 s after each start: each death counts as quick, the back-off doubles")
t.done()
