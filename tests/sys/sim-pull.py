"""sim.pull drives a simulated input; edges reach every client as events."""
import asyncio
import signal

from gpiows_test import Client, Gpiows, Tap

t = Tap()


async def main(g):
    a = await Client.connect(g)
    b = await Client.connect(g)
    button = [p for p in a.hello["pins"] if p["name"] == "button"][0]
    t.eq((button["direction"], button["edge"], button["value"]), ("input", "both", 0),
         "hello: button is an input watching both edges, at 0 (pull-down)")

    r = await a.request({"op": "sim.pull", "pin": "button", "value": 1})
    t.ok(r["ok"] and r["value"] == 1, "sim.pull button 1: ok", r)
    ea = await a.wait_for(lambda m: m.get("type") == "pin")
    eb = await b.wait_for(lambda m: m.get("type") == "pin")
    t.eq((eb["pin"], eb["value"], eb["source"]), ("button", 1, "edge"), "rising edge reaches the other client")
    t.eq(ea, eb, "both clients got the same edge event")

    await b.request({"op": "sim.pull", "pin": "button", "value": 0})
    ea = await a.wait_for(lambda m: m.get("type") == "pin")
    t.eq((ea["pin"], ea["value"], ea["source"]), ("button", 0, "edge"), "falling edge reaches the first client")

    r = await a.request({"op": "sim.pull", "pin": "button", "value": 0})
    t.ok(r["ok"], "pulling to the level it has: ok")
    r = await a.request({"op": "get", "pin": "button"})
    t.eq(r["value"], 0, "get button: 0")

    # An input without edge detection changes level but sends no event.
    await b.quiet(0.1)
    r = await a.request({"op": "sim.pull", "pin": "quiet", "value": 1})
    t.ok(r["ok"], "sim.pull on an input without edge: ok")
    quiet = await b.quiet(0.3)
    t.eq([m for m in quiet if m.get("type") == "pin"], [], "no edge event for an unwatched input")
    r = await a.request({"op": "get", "pin": "quiet"})
    t.eq(r["value"], 1, "get reads the unwatched input's new level")
    # The pins go out afresh at a reload: quiet has had no change.
    g.proc.send_signal(signal.SIGHUP)
    h = await b.wait_for(lambda m: m.get("type") == "hello", 5)
    q = [p for p in h["pins"] if p["name"] == "quiet"][0]
    t.eq((q["value"], q["seq"], q["source"]), (0, 0, "init"),
         "after a reload, hello has quiet as it was taken (0, seq 0, init), "
         "not the level no message told")

    r = await a.request({"op": "sim.pull", "pin": "led", "value": 1})
    t.eq((r["ok"], r["error"]["code"]), (False, "not_input"), "sim.pull on an output: not_input")
    r = await a.request({"op": "sim.pull", "pin": "button", "value": 3})
    t.eq(r["error"]["code"], "bad_value", "sim.pull value 3: bad_value")
    await a.close()
    await b.close()


with Gpiows() as g:
    asyncio.run(main(g))
t.done()
