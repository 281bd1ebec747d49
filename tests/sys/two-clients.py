"""Two clients: one sets, toggles and reads `led`; both see every change."""
import asyncio
import json
from gpiows_test import Client, Gpiows, Tap

t = Tap()


async def main(g):
    a = await Client.connect(g)
    b = await Client.connect(g)
    t.eq([p["name"] for p in a.hello["pins"]], ["led", "relay", "button", "quiet"],
         "hello lists the configured pins in order")
    led = [p for p in a.hello["pins"] if p["name"] == "led"][0]
    t.eq((led["direction"], led["value"], led["simulated"]), ("output", 0, True),
         "hello: led is a simulated output at its initial value 0")
    t.eq(a.hello["protocol"], 1, "hello: protocol 1")
    seq0 = b.hello["seq"]

    r = await a.request({"op": "set", "pin": "led", "value": 1})
    t.ok(r["ok"] and r["value"] == 1 and r["pin"] == "led", "set led 1: reply ok with the new value", r)
    ea = await a.wait_for(lambda m: m.get("type") == "pin")
    eb = await b.wait_for(lambda m: m.get("type") == "pin")
    t.eq((ea["pin"], ea["value"], ea["source"]), ("led", 1, "client"), "the setter sees the pin event")
    t.eq(eb, ea, "the other client sees the same event (seq, ts, source)")
    t.eq(eb["seq"], seq0 + 1, "seq increases by one per event")
    t.ok(isinstance(eb["ts"], int) and eb["ts"] > 1.6e15, "ts is microseconds since the epoch", eb)

    r = await b.request({"op": "toggle", "pin": "led"})
    t.ok(r["ok"] and r["value"] == 0, "toggle from the other client: reply ok, value 0", r)
    ea = await a.wait_for(lambda m: m.get("type") == "pin")
    t.eq((ea["pin"], ea["value"], ea["seq"]), ("led", 0, seq0 + 2), "first client sees the toggle")

    r = await a.request({"op": "get", "pin": "led"})
    t.eq((r["ok"], r["value"]), (True, 0), "get led: 0")

    # wsd prints this reply by hand: every kind of id comes back as sent.
    for text in ("-7", "0", "9223372036854775807", "-9223372036854775808", "1.5",
                 '"x\\"y"', "null", "true", '[1,{"k":"v"}]'):
        want = json.loads(text)
        await a.ws.send('{"op":"get","pin":"led","id":%s}' % text)
        r = await a.wait_for(lambda m: m.get("type") == "reply" and "id" in m and m["id"] == want)
        # type(): in Python 1 == 1.0 == True; the id must come back as sent.
        t.eq((r, type(r["id"])),
             ({"type": "reply", "ok": True, "pin": "led", "value": 0, "id": want}, type(want)),
             "get led with id %s: the reply, that id echoed" % text)
    await b.quiet(0.1)
    r = await a.request({"op": "set", "pin": "led", "value": 0})
    t.ok(r["ok"], "set to the value it already has: ok")
    extra = await b.quiet(0.3)
    t.eq([m for m in extra if m.get("type") == "pin"], [], "no event when nothing changed")

    r = await a.request({"op": "get", "pin": "relay"})
    t.eq(r["value"], 1, "active-low relay reads its logical initial value 1")

    c = await Client.connect(g)
    led = [p for p in c.hello["pins"] if p["name"] == "led"][0]
    t.eq((led["value"], led["seq"], led["source"]), (0, seq0 + 2, "client"),
         "a later client's hello has the last value, its seq and source")
    t.eq(c.hello["seq"], seq0 + 2, "hello seq is the last seq")
    for x in (a, b, c):
        await x.close()


with Gpiows() as g:
    asyncio.run(main(g))
t.done()
