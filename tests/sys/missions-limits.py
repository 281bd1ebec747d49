"""Mission limits: at most 64 queued or running at once; a mission's JSON
must fit one IPC message (64 KiB); the list always fits one message."""
import asyncio
import json
import os
import signal
import time

from gpiows_test import Client, Gpiows, Tap, mission_ev

t = Tap()
LONG = {"name": "wait", "steps": [{"sleep": {"ms": 60000}}]}



async def short_missions(a, name, n):
    """n missions of 1 ms, 8 at a time, all ended on return."""
    for k in range(n // 8):
        for j in range(8):
            a.next_id += 1
            await a.ws.send(json.dumps({"op": "mission.start", "id": a.next_id,
                                        "mission": {"name": name, "steps": [
                                            {"sleep": {"ms": 1}}]}}))
        for j in range(8):
            await a.wait_for(lambda m: m.get("type") == "reply", 5)
    for _ in range(100):    # until all have ended (64 at most at once)
        r = await a.request({"op": "mission.list"})
        if not [m for m in r["missions"] if m["name"] == name and "ended" not in m]:
            break
        await asyncio.sleep(0.1)


with Gpiows(extra="max message 200000\n") as g:
    async def run():
        a = await Client.connect(g)
        ids = []
        for i in range(64):
            r = await a.request({"op": "mission.start", "mission": dict(LONG, name="m%d" % i)})
            if r.get("ok"):
                ids.append(r["mission"])
        t.eq(len(ids), 64, "64 missions queued or running")
        r = await a.request({"op": "mission.start", "mission": LONG})
        t.eq((r["ok"], r.get("error", {}).get("code")), (False, "too_many"), "the 65th: too_many")
        r = await a.request({"op": "mission.list"})
        t.eq(len(r["missions"]), 64, "mission.list answers all of them")
        await a.request({"op": "mission.cancel", "mission": ids[0]})
        await a.wait_for(lambda m: m.get("type") == "mission" and m["mission"]["id"] == ids[0]
                         and m["mission"]["state"] == "cancelled", 3)
        r = await a.request({"op": "mission.start", "mission": LONG})
        t.ok(r["ok"], "after one ended, a new one is taken", r)
        big = {"name": "big", "steps": [{"sleep": {"ms": 1}}] * 7000}
        r = await a.request({"op": "mission.start", "mission": big}, timeout=5)
        t.ok(not r["ok"] and r["error"]["code"] == "bad_mission" and
             "bytes" in r["error"]["message"], "a mission over 64 KiB of JSON: bad_mission", r)

        # The 50 latest ended missions are kept; the rest are pruned at the
        # end of the loop's turn, here after a mission that ends inside a
        # walk of the list (an edge ends its wait).
        for i in ids[1:]:
            await a.request({"op": "mission.cancel", "mission": i})
        r = await a.request({"op": "mission.start", "mission": {
            "name": "waiter", "steps": [{"wait": {"pin": "button", "edge": "rising",
                                                  "timeout_ms": 60000}}]}})
        waiter = r["mission"]
        await a.wait_for(mission_ev(waiter, "running"), 3)
        for i in range(55):
            r = await a.request({"op": "mission.start",
                                 "mission": {"name": "s%d" % i, "steps": [{"sleep": {"ms": 1}}]}})
            assert r["ok"], r
            await a.wait_for(mission_ev(r["mission"], "done"), 3)
        await a.request({"op": "sim.pull", "pin": "button", "value": 1})
        m = await a.wait_for(mission_ev(waiter, "done"), 3)
        t.ok(m, "a wait ends on its edge with 50 ended missions kept")
        r = await a.request({"op": "mission.list"})
        ended = [x for x in r["missions"] if x["state"] in ("done", "cancelled")]
        t.eq(len(ended), 50, "then the 50 latest ended missions are kept, no more")

        # wsd's copy for the hello keeps at most 200 ended missions, those
        # that end while listed (running, then cancelled) included.
        await short_missions(a, "e", 200)
        ids = []
        for i in range(63):     # with the one still running from above, 64
            r = await a.request({"op": "mission.start", "mission": LONG})
            assert r["ok"], r
            ids.append(r["mission"])
        for i in ids:
            await a.request({"op": "mission.cancel", "mission": i})
        await a.wait_for(mission_ev(ids[-1], "cancelled"), 3)
        h = await Client.connect(g)
        kept = [m for m in h.hello["missions"] if "ended" in m]
        t.eq((len(kept), kept[-1]["id"] if kept else None), (200, ids[-1]),
             "a new client's hello lists the 200 latest ended missions, no more")
        await h.close()

        # Kept are the latest to end, not to start: a mission started
        # before 200 others and ended after them is listed.
        r = await a.request({"op": "mission.start", "mission": dict(LONG, name="first")})
        first = r["mission"]
        await short_missions(a, "later", 200)
        await a.request({"op": "mission.cancel", "mission": first})
        await a.wait_for(mission_ev(first, "cancelled"), 3)
        r = await a.request({"op": "mission.list"})
        t.ok(first in [m["id"] for m in r["missions"]],
             "mission.list keeps the mission that ended last, though it started first")
        h = await Client.connect(g)
        t.ok(first in [m["id"] for m in h.hello["missions"]],
             "and so does a new client's hello")
        await h.close()

        # A new worker's list replaces wsd's copy: its 50 ended missions,
        # not the 200 the copy had, in the hellos from then on.
        old = g.children()
        os.kill(old["worker"], signal.SIGKILL)
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: g.wait_children(old={"worker": old["worker"]}))
        deadline = time.monotonic() + 5
        while True:
            r = await a.request({"op": "mission.list"})
            if r["ok"] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        listed = [m["id"] for m in r.get("missions", [])]
        ended = [m for m in r.get("missions", []) if "ended" in m]
        h = await Client.connect(g)
        t.eq(([m["id"] for m in h.hello["missions"]], len(ended)), (listed, 50),
             "after a worker restart a new client's hello lists the worker's 50 ended")
        await h.close()
        await a.close()
    asyncio.run(run())
t.done()
