"""SIGHUP reloads the configuration: pins added, removed or changed; pins
left as they were keep their line, value and seq; clients get a fresh
hello; a broken file changes nothing; settings that need a restart stay."""
import asyncio
import signal

from gpiows_test import DEMO_PINS, Client, Gpiows, Tap

t = Tap()


# quiet removed, relay changed (no longer active-low, initial 0), fan new
# on quiet's old line, led and button as they were.
PINS2 = """\
chip sim simulated lines 8
pin fan chip sim line 3 output initial 1
pin led chip sim line 0 output initial 0 safe 0
pin relay chip sim line 1 output initial 0 safe 0
pin button chip sim line 2 input edge both bias pull-down
"""


def rewrite(g, pins, listen_port=None):
    with open(g.conf) as f:
        lines = [l for l in f if l.startswith(("listen", "www", "journal", "user"))]
    if listen_port is not None:
        lines[0] = "listen on 127.0.0.1 port %d\n" % listen_port
    with open(g.conf, "w") as f:
        f.writelines(lines)
        f.write(pins)


def pins(hello):
    return {p["name"]: p for p in hello["pins"]}


with Gpiows(pins=DEMO_PINS) as g:
    kids = g.wait_children()

    async def run():
        a = await Client.connect(g)
        seq0 = a.hello["seq"]
        await a.request({"op": "set", "pin": "led", "value": 1})
        await a.request({"op": "sim.pull", "pin": "button", "value": 1})
        await a.request({"op": "toggle", "pin": "relay"})
        await a.quiet(0.2)
        before = pins((await Client.connect(g)).hello)
        # A mission on a pin the reload leaves alone (button: watched).
        r = await a.request({"op": "mission.start", "mission": {"name": "watch",
                             "steps": [{"wait": {"pin": "button", "edge": "falling",
                                                 "timeout_ms": 60000}}]}})
        mid = r["mission"]
        await a.wait_for(lambda m: m.get("type") == "mission" and
                         m["mission"]["state"] == "running", 3)

        rewrite(g, PINS2)
        g.proc.send_signal(signal.SIGHUP)
        h = await a.wait_for(lambda m: m.get("type") == "hello", 3)
        now = pins(h)
        ms = [m for m in h["missions"] if m["id"] == mid]
        t.ok(ms and ms[0]["state"] == "running",
             "a mission on an untouched pin goes on across the reload", ms)
        t.eq([p["name"] for p in h["pins"]], ["fan", "led", "relay", "button"],
             "the new hello lists the new table in the file's order")
        t.eq((now["led"]["value"], now["led"]["seq"]), (1, before["led"]["seq"]),
             "an unchanged output keeps its value and seq")
        t.eq((now["button"]["value"], now["button"]["seq"]), (1, before["button"]["seq"]),
             "an unchanged input keeps its value and seq")
        t.eq((now["relay"]["active_low"], now["relay"]["value"]), (False, 0),
             "a changed pin is requested anew with its new options")
        t.eq((now["fan"]["direction"], now["fan"]["value"]), ("output", 1),
             "a new pin on a freed line starts at its initial value")
        t.ok("quiet" not in now, "the removed pin is gone")
        t.eq(h["seq"], max(p["seq"] for p in before.values()), "seq goes on across the reload")

        # The history kept from before the reload names the pins as they
        # are: led and button have other places in the new table; relay,
        # requested anew with other options, is another pin than the one
        # toggled before.
        c = await Client.connect(g)
        r = await c.request({"op": "resume", "since": seq0})
        got = [(m["pin"], m["value"]) for m in c.seen if m.get("type") == "pin" and m.get("replay")]
        t.eq((r.get("ok"), got), (True, [("led", 1), ("button", 1)]),
             "resume after a reload that moved pins: their changes under their own names, "
             "none of the replaced relay's")
        await c.close()

        r = await a.request({"op": "get", "pin": "quiet"})
        t.eq(r["error"]["code"], "unknown_pin", "the removed pin answers unknown_pin")
        r = await a.request({"op": "toggle", "pin": "fan"})
        t.ok(r["ok"] and r["value"] == 0, "the new pin can be toggled", r)
        r = await a.request({"op": "sim.pull", "pin": "button", "value": 0})
        e = await a.wait_for(lambda m: m.get("type") == "pin" and m["pin"] == "button")
        t.eq((e["value"], e["source"]), (0, "edge"), "the kept input still reports edges")
        m = await a.wait_for(lambda m: m.get("type") == "mission" and
                             m["mission"]["id"] == mid and m["mission"]["state"] == "done", 3)
        t.eq(m["mission"]["state"], "done", "and the mission waiting on it sees the edge and ends")

        # A broken file: errors logged, nothing changes.
        with open(g.conf, "a") as f:
            f.write("pin broken chip nosuch line 9 output\nfrobnicate\n")
        g.proc.send_signal(signal.SIGHUP)
        extra = await a.quiet(0.5)
        t.eq([m for m in extra if m.get("type") == "hello"], [], "a broken file sends no new hello")
        r = await a.request({"op": "get", "pin": "fan"})
        t.ok(r["ok"], "and the running pins go on", r)

        # A listen change needs a restart: warned, the old port serves on.
        rewrite(g, PINS2, listen_port=g.port + 1 if g.port < 65535 else g.port - 1)
        g.proc.send_signal(signal.SIGHUP)
        await a.wait_for(lambda m: m.get("type") == "hello", 3)
        r = await a.request({"op": "get", "pin": "led"})
        t.ok(r["ok"], "after a listen change the old port still serves", r)
        await a.close()

    asyncio.run(run())
    log = g.logtext()
    t.ok("unknown keyword \"frobnicate\"" in log and "not reloaded" in log,
         "the broken file's errors are logged with the reason nothing changed")
    t.ok("take effect at the next restart" in log, "the listen change is reported as needing a restart")
    t.eq(g.children(), kids, "a reload does not restart wsd or the worker")
t.done()
