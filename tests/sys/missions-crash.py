"""Missions survive crashes: wsd killed in the middle (an observer resumes
and gets every pin event once, in order), the worker killed at many points
(no step runs twice, none is lost), "resume": false, and a restart of the
whole service (running missions come back interrupted, outputs safe)."""
import asyncio
import json
import os
import random
import signal
import time

from gpiows_test import Client, Gpiows, Tap

t = Tap()


def blink(n, ms, pin="led", **opts):
    return dict({"name": "blink", "steps": [{"repeat": {"count": n, "steps": [
        {"toggle": {"pin": pin}}, {"sleep": {"ms": ms}}]}}]}, **opts)


async def start(c, mission):
    r = await c.request({"op": "mission.start", "mission": mission})
    assert r.get("ok"), r
    return r["mission"]


async def until_state(c, mid, states, timeout):
    return await c.wait_for(lambda m: m.get("type") == "mission" and
                            m["mission"]["id"] == mid and m["mission"]["state"] in states, timeout)


def journals_readable(g):
    bad = []
    for f in os.listdir(g.journal):
        if f.endswith(".json"):
            try:
                with open(os.path.join(g.journal, f)) as fh:
                    json.load(fh)
            except (ValueError, OSError) as e:
                bad.append("%s: %s" % (f, e))
    return bad


# 1. wsd killed in the middle; the observer resumes.
with Gpiows() as g:
    kids = g.wait_children()

    async def part1():
        o = await Client.connect(g)
        a = await Client.connect(g)
        # 4 s: still running once the new wsd serves, after its start's
        # 250 ms back-off and a slow (sanitizer) start.
        mid = await start(a, blink(80, 50))
        await a.close()
        seen = []
        while len(seen) < 10:
            m = await o.wait_for(lambda m: m.get("type") == "pin", 3)
            seen.append(m)
        last = seen[-1]["seq"]
        os.kill(kids["wsd"], signal.SIGKILL)
        await asyncio.sleep(0.3)       # events happen while nobody listens
        await asyncio.get_running_loop().run_in_executor(None, g.wait_serving)
        o2 = await Client.connect(g)
        running = [m for m in o2.hello["missions"] if m["id"] == mid]
        t.ok(running and running[0]["state"] == "running",
             "the new wsd knows the running mission", running)
        r = await o2.request({"op": "resume", "since": last})
        t.ok(r.get("ok") and r["replayed"] >= 1, "resume: ok, events replayed (%s)" % r.get("replayed"), r)
        await until_state(o2, mid, ("done",), 10)
        pins = seen + [m for m in o2.seen if m.get("type") == "pin"]
        seqs = [m["seq"] for m in pins]
        t.eq(len(pins), 80, "80 transitions seen across the crash")
        t.eq(seqs, list(range(seqs[0], seqs[0] + len(seqs))),
             "each exactly once and in order (consecutive seq)")
        t.eq([m["value"] for m in pins], [1, 0] * 40, "values alternate as the blink set them")
        t.eq({m["source"] for m in pins}, {"mission:%d" % mid}, "all from the mission")
        replayed = [m for m in o2.seen if m.get("replay")]
        t.ok(all(m["seq"] <= r["seq"] for m in replayed) and len(replayed) == r["replayed"],
             "replayed events are those up to the reply's seq")
        await o.close()
        await o2.close()
    asyncio.run(part1())

# 2. A resume older than the history.
with Gpiows(extra="history 16\n") as g:
    async def part2():
        a = await Client.connect(g)
        first = None
        for i in range(40):
            r = await a.request({"op": "toggle", "pin": "led"})
            first = first or r["seq"]
        b = await Client.connect(g)
        r = await b.request({"op": "resume", "since": first})
        t.eq(r["error"]["code"] if not r["ok"] else None, "history_gone",
             "resume from before the kept history: history_gone")
        e = r.get("error", {})
        t.eq((e.get("oldest"), e.get("last")),
             (b.hello["seq"] - 15, b.hello["seq"]),
             "history_gone names the oldest change kept (of 16) and the last")
        r = await b.request({"op": "resume", "since": e.get("oldest", 0) - 1})
        t.eq((r["ok"], r.get("replayed")), (True, 16),
             "a resume from just before that oldest one replays all 16")
        r = await b.request({"op": "resume", "since": b.hello["seq"] - 3})
        t.eq((r["ok"], r["replayed"]), (True, 3), "resume within the history replays what is kept")
        r = await b.request({"op": "resume", "since": b.hello["seq"] + 1000})
        t.eq(r["error"]["code"] if not r["ok"] else None, "history_gone",
             "resume from a seq not yet reached: history_gone")
        await a.close()
        await b.close()
    asyncio.run(part2())

# 3. The worker killed at many points: every toggle once, the journal whole.
with Gpiows() as g:
    async def part3():
        o = await Client.connect(g)
        mid = await start(o, blink(40, 30))
        kills, bad = 0, []
        rnd = random.Random(4)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            await asyncio.sleep(rnd.uniform(0.05, 0.3))
            kids = g.children()
            if "worker" not in kids:
                continue
            st = [m for m in o.seen if m.get("type") == "mission" and m["mission"]["id"] == mid]
            if st and st[-1]["mission"]["state"] == "done":
                break
            os.kill(kids["worker"], signal.SIGKILL)
            kills += 1
            bad += journals_readable(g)
        t.ok(kills >= 3, "the worker was killed %d times while the mission ran" % kills)
        t.eq(bad, [], "the journal was readable after every kill")
        await until_state(o, mid, ("done",), 15)
        pins = [m for m in o.seen if m.get("type") == "pin" and m["pin"] == "led"]
        t.eq(len(pins), 40, "exactly 40 toggles: none twice, none lost")
        t.eq([m["value"] for m in pins], [1, 0] * 20, "each toggle changed the pin once")
        await o.close()
    asyncio.run(part3())

# 4. "resume": false: interrupted by a worker restart, outputs safe.
with Gpiows() as g:
    async def part4():
        o = await Client.connect(g)
        mid = await start(o, dict(blink(1000, 20), resume=False))
        await o.wait_for(lambda m: m.get("type") == "pin" and m["value"] == 1, 3)
        os.kill(g.children()["worker"], signal.SIGKILL)
        m = await until_state(o, mid, ("interrupted",), 5)
        t.ok("resume" in m["mission"].get("error", ""), "interrupted, saying why", m)
        r = await o.request({"op": "get", "pin": "led"})
        t.eq(r["value"], 0, "its output went to the safe value")
        r = await o.request({"op": "set", "pin": "led", "value": 1})
        t.ok(r["ok"], "and is no longer held", r)
        await o.close()
    asyncio.run(part4())

# 6. Cancelled, then the worker killed at once: it stays cancelled.
with Gpiows() as g:
    async def part6():
        o = await Client.connect(g)
        ends = []
        for i in range(5):
            mid = await start(o, blink(1000, 20))
            await o.wait_for(lambda m: m.get("type") == "pin" and m["source"] == "mission:%d" % mid, 3)
            # Once the cancel is answered ok, a worker death must not undo it.
            r = await o.request({"op": "mission.cancel", "mission": mid})
            assert r["ok"], r
            os.kill(g.children()["worker"], signal.SIGKILL)
            m = await until_state(o, mid, ("cancelled", "running", "interrupted", "done"), 5)
            if m["mission"]["state"] != "cancelled":
                m = await until_state(o, mid, ("cancelled", "interrupted", "done"), 5)
            ends.append(m["mission"]["state"])
            await asyncio.get_running_loop().run_in_executor(None, g.wait_children)
        t.eq(ends, ["cancelled"] * 5, "a cancel answered ok survives the worker's death at once")
        await o.close()
    asyncio.run(part6())

# 5. The whole service crashes and restarts: interrupted, outputs safe.
g = Gpiows()
with g:
    async def part5a():
        o = await Client.connect(g)
        mid = await start(o, blink(1000, 20, pin="relay"))
        await o.wait_for(lambda m: m.get("type") == "pin" and m["pin"] == "relay", 3)
        await o.close()
        return mid
    mid = asyncio.run(part5a())
    kids = g.children()
    g.proc.kill()
    g.proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(os.path.exists("/proc/%d" % p) for p in kids.values()):
        time.sleep(0.05)
    t.ok(not any(os.path.exists("/proc/%d" % p) for p in kids.values()),
         "the children die with the helper")
    g.logf.close()
    g.start()

    async def part5b():
        o = await Client.connect(g)
        m = [x for x in o.hello["missions"] if x["id"] == mid]
        if not m or m[0]["state"] != "interrupted":
            m = [(await until_state(o, mid, ("interrupted",), 5))["mission"]]
        t.eq(m[0]["state"], "interrupted", "after the restart the mission is interrupted")
        r = await o.request({"op": "get", "pin": "relay"})
        t.eq(r["value"], 0, "its output is at its safe value")
        r = await o.request({"op": "mission.list"})
        t.ok(any(x["id"] == mid for x in r["missions"]), "the mission is still listed")
        await o.close()
    asyncio.run(part5b())
t.done()
