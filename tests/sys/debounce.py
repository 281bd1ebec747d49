"""Software debounce on a simulated input: the first edge at once, its
bounces swallowed, the level the line settles at always reported."""
import asyncio
import time

from gpiows_test import Client, Gpiows, Tap

t = Tap()
PINS = """\
chip sim simulated lines 4
pin led chip sim line 0 output
pin key chip sim line 1 input edge both debounce 100ms
pin raw chip sim line 2 input edge both
pin up chip sim line 3 input edge rising debounce 100ms
"""


async def pulls(a, pin, levels):
    for v in levels:
        await a.request({"op": "sim.pull", "pin": pin, "value": v})


def events(c, pin):
    return [m for m in c.seen if m.get("type") == "pin" and m["pin"] == pin]


with Gpiows(pins=PINS) as g:
    async def run():
        a = await Client.connect(g)
        o = await Client.connect(g)
        await o.request({"op": "get", "pin": "key"})
        # A press that bounces: 1 0 1 0 1 within a few ms, settling at 1.
        t0 = time.monotonic()
        await pulls(a, "key", [1, 0, 1, 0, 1])
        await pulls(a, "raw", [1, 0, 1, 0, 1])
        first = await o.wait_for(lambda m: m.get("type") == "pin" and m["pin"] == "key", 2)
        t.ok(time.monotonic() - t0 < 0.1, "the first edge goes out at once")
        await o.quiet(0.4)
        t.eq([m["value"] for m in events(o, "key")], [1],
             "a bouncing press on a debounced input: one event, value 1")
        t.eq([m["value"] for m in events(o, "raw")], [1, 0, 1, 0, 1],
             "the same bounces on an input without debounce: five events")
        # Settling at another level than the first edge said: reported late.
        await pulls(a, "key", [0, 1, 0])
        await o.quiet(0.4)
        ev = events(o, "key")
        t.eq([m["value"] for m in ev], [1, 0], "a release that bounces ends reported at 0")
        r = await a.request({"op": "get", "pin": "key"})
        t.eq(r["value"], 0, "and get agrees")
        # 1 then 0 within the window: the first edge, then the settled level.
        await pulls(a, "key", [1, 0])
        await o.quiet(0.4)
        ev = events(o, "key")
        t.eq([m["value"] for m in ev], [1, 0, 1, 0],
             "a short press inside the window: reported as pressed, then released")
        t.ok(ev[-1]["ts"] - ev[-2]["ts"] >= 90000,
             "the settled level comes when the window closes (%d us)" % (ev[-1]["ts"] - ev[-2]["ts"]))
        # Watching rising only: a settled fall is followed, not reported.
        await pulls(a, "up", [1, 0])
        await o.quiet(0.4)
        t.eq([m["value"] for m in events(o, "up")], [1], "rising only: the fall is not reported")
        r = await a.request({"op": "get", "pin": "up"})
        t.eq(r["value"], 0, "but get reads the level it settled at")
        await a.close()
        await o.close()
    asyncio.run(run())
t.done()
