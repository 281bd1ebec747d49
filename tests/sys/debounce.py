"""Software debounce on a simulated input: the first edge at once, its
bounces swallowed, the level the line settles at always reported (on a pin
that watches both edges; one that watches one reports each press once).

Each burst of pulls is sent whole before its replies are read, so that its
edges fall well inside the window even when the daemons run slowly (the
sanitizer build, two tests at a time)."""
import asyncio
import json
import signal
import time

from gpiows_test import Client, Gpiows, Tap

t = Tap()
PINS = """\
chip sim simulated lines 4
pin led chip sim line 0 output
pin key chip sim line 1 input edge both debounce 300ms
pin raw chip sim line 2 input edge both
pin up chip sim line 3 input edge rising debounce 300ms
"""


WINDOW = 0.3            # s, the debounce above
SETTLE = WINDOW + 0.3   # s: the window closed and its event delivered


async def pulls(a, pin, levels):
    ids = []
    for v in levels:
        a.next_id += 1
        ids.append(a.next_id)
        await a.ws.send(json.dumps({"op": "sim.pull", "pin": pin, "value": v, "id": a.next_id}))
    values = []
    for i in ids:
        r = await a.wait_for(lambda m, i=i: m.get("type") == "reply" and m.get("id") == i, 5)
        assert r["ok"], r
        values.append(r["value"])
    return values


async def arrival(c, pred):
    m = await c.wait_for(pred, 5)
    return m, time.monotonic()


def events(c, pin):
    return [m for m in c.seen if m.get("type") == "pin" and m["pin"] == pin]


with Gpiows(pins=PINS) as g:
    async def run():
        a = await Client.connect(g)
        o = await Client.connect(g)
        await o.request({"op": "get", "pin": "key"})
        # A press that bounces: 1 0 1 0 1 within a few ms, settling at 1.
        first = asyncio.create_task(arrival(
            o, lambda m: m.get("type") == "pin" and m["pin"] == "key"))
        t0 = time.monotonic()
        await pulls(a, "key", [1, 0, 1, 0, 1])
        await pulls(a, "raw", [1, 0, 1, 0, 1])
        _, at = await first
        t.ok(at - t0 < WINDOW / 2, "the first edge goes out at once (%.0f ms), not when "
             "the %.0f ms window closes" % ((at - t0) * 1000, WINDOW * 1000))
        await o.quiet(SETTLE)
        t.eq([m["value"] for m in events(o, "key")], [1],
             "a bouncing press on a debounced input: one event, value 1")
        t.eq([m["value"] for m in events(o, "raw")], [1, 0, 1, 0, 1],
             "the same bounces on an input without debounce: five events")
        # Settling at another level than the first edge said: reported late.
        await pulls(a, "key", [0, 1, 0])
        await o.quiet(SETTLE)
        ev = events(o, "key")
        t.eq([m["value"] for m in ev], [1, 0], "a release that bounces ends reported at 0")
        r = await a.request({"op": "get", "pin": "key"})
        t.eq(r["value"], 0, "and get agrees")
        # 1 then 0 within the window: the first edge, then the settled level.
        got = await pulls(a, "key", [1, 0])
        t.eq(got, [1, 0], "each pull's reply has the value after it, inside the window too")
        await o.quiet(SETTLE)
        ev = events(o, "key")
        t.eq([m["value"] for m in ev], [1, 0, 1, 0],
             "a short press inside the window: reported as pressed, then released")
        # A timer may run a little early (libevent's cached time).
        t.ok(ev[-1]["ts"] - ev[-2]["ts"] >= WINDOW * 0.9e6,
             "the settled level comes when the window closes (%d us)" % (ev[-1]["ts"] - ev[-2]["ts"]))
        # Watching rising only: a settled fall is followed, not reported.
        await pulls(a, "up", [1, 0])
        await o.quiet(SETTLE)
        t.eq([m["value"] for m in events(o, "up")], [1], "rising only: the fall is not reported")
        r = await a.request({"op": "get", "pin": "up"})
        t.eq(r["value"], 0, "but get reads the level it settled at")
        # The next press after that unseen release, bouncing: one event
        # more, none when the window closes on the level already reported.
        await pulls(a, "up", [1, 0, 1])
        await o.quiet(SETTLE)
        ev = events(o, "up")
        t.eq([m["value"] for m in ev], [1, 1],
             "rising only: a second press that bounces 1 0 1 is one event more")
        await pulls(a, "up", [0])
        await o.quiet(SETTLE)
        # The pin's value is that of its last change, whatever the line
        # did since without a message: across a reload too, which sends
        # the pins afresh.
        g.proc.send_signal(signal.SIGHUP)
        h = await o.wait_for(lambda m: m.get("type") == "hello", 5)
        up = [p for p in h["pins"] if p["name"] == "up"][0]
        t.eq((up["value"], up["seq"]), (1, ev[-1]["seq"]),
             "after an unreported fall and a reload, hello still has up at 1 with "
             "the seq of that change")
        await a.close()
        await o.close()
    asyncio.run(run())
t.done()
