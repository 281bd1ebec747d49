"""Missions from start to end: events, progress, holds (busy), the queue,
missions side by side, cancel (safe and hold), wait steps, errors, list."""
import asyncio
import os
import signal
from gpiows_test import MISSION_ENDED as ENDED, Client, Gpiows, Tap, mission_ev

t = Tap()

EV = 10.0       # seconds to wait for an event that must come


async def connect(g):
    c = await Client.connect(g)
    # wsd holds a new client's pin events (for a resume) until its first
    # request or 250 ms: a first request lets them through at once, so that
    # pin and mission events reach the client in the order they happen.
    r = await c.request({"op": "get", "pin": "led"})
    assert r["ok"], r
    return c


def pin_ev(pin, source=None):
    return lambda m: (m.get("type") == "pin" and m["pin"] == pin and
                      (source is None or m["source"] == source))


async def until_end(c, mid, timeout=EV):
    """Every mission event for mid up to and including the one that ends it."""
    evs = []
    while True:
        m = await c.wait_for(mission_ev(mid), timeout)
        evs.append(m)
        if m["mission"]["state"] in ENDED:
            return evs


def pos(c, msg):
    """Where msg (an object wait_for returned) is in the order c received."""
    for i, m in enumerate(c.seen):
        if m is msg:
            return i
    raise ValueError("message not received: %r" % (msg,))


def blink(name, count, ms=50, pin="led"):
    return {"name": name, "steps": [{"repeat": {"count": count, "steps": [
        {"toggle": {"pin": pin}}, {"sleep": {"ms": ms}}]}}]}


def long_hold(name, on_cancel=None):
    m = {"name": name, "steps": [{"set": {"pin": "led", "value": 1}},
                                 {"sleep": {"ms": 60000}}]}
    if on_cancel is not None:
        m["on_cancel"] = on_cancel
    return m


async def start(c, mission):
    r = await c.request({"op": "mission.start", "mission": mission}, timeout=EV)
    t.ok(r.get("ok") is True and type(r.get("mission")) is int and r["mission"] > 0,
         "mission.start %r: ok with an integer id" % mission["name"], r)
    return r.get("mission")


async def test_blink(g, a, b, final):
    n = 4
    mid = await start(a, blink("blink", n))
    r = await a.request({"op": "mission.start", "mission": blink("x", 2)})
    t.ok(r.get("ok") and r["mission"] > mid, "ids grow from one start to the next", r)
    xid = r.get("mission")
    await until_end(a, xid)
    await until_end(b, xid)
    t.eq(sorted(r.keys()), ["id", "mission", "ok", "type"], "the reply has just ok and mission")

    ea = await until_end(a, mid)
    eb = await until_end(b, mid)
    ma = [e["mission"] for e in ea]
    mb = [e["mission"] for e in eb]
    t.eq(mb, ma, "the starter and another client receive the same mission events")
    states = [m["state"] for m in mb]
    t.ok(len(states) >= 3 and states[0] == "queued" and states[-1] == "done" and
         all(s == "running" for s in states[1:-1]),
         "states go queued -> running -> done", states)
    total = 2 * n + 1       # n times (toggle + sleep), and the repeat itself
    t.eq({m["total"] for m in mb}, {total}, "total counts every step: %d" % total)
    done = [m["done"] for m in mb]
    t.ok(all(x <= y for x, y in zip(done, done[1:])), "done never goes back", done)
    run = [m["done"] for m in mb if m["state"] == "running"]
    t.ok(len(run) >= 2 and all(x < y for x, y in zip(run, run[1:])),
         "done grows with every running event", run)
    t.eq((mb[-1]["done"], mb[-1]["total"]), (total, total), "at the end done == total")
    t.ok(all(m["pins"] == ["led"] for m in mb), "pins == [\"led\"] in every event",
         [m["pins"] for m in mb])
    t.ok(all(m["name"] == "blink" and m["on_cancel"] == "safe" for m in mb),
         "every event has the name and on_cancel \"safe\" (the default)")
    last = mb[-1]
    t.ok(last["created"] <= last["started"] <= last["ended"] and
         last["ended"] - last["started"] >= n * 50000,
         "created <= started <= ended, and it ran at least %d ms" % (n * 50), last)
    t.ok("error" not in last, "no error on a mission done", last)

    # Its pin events, on the other client, since the first request.
    await b.request({"op": "get", "pin": "led"})
    pe = [m for m in b.seen if m.get("type") == "pin" and m["source"] == "mission:%d" % mid]
    t.eq([(m["pin"], m["value"]) for m in pe], [("led", 1), ("led", 0)] * (n // 2),
         "the other client saw %d toggles of led with source mission:%d" % (n, mid))
    final[mid] = "done"
    final[xid] = "done"
    return mid


async def test_hold_and_cancel_safe(g, a, b, final):
    mid = await start(a, long_hold("long"))
    ev = await b.wait_for(mission_ev(mid, "running"), EV)
    if ev["mission"]["done"] < 1:
        ev = await b.wait_for(lambda m: mission_ev(mid, "running")(m) and
                              m["mission"]["done"] >= 1, EV)
    t.eq(ev["mission"]["done"], 1, "long mission: set done, sleeping")
    pe = await b.wait_for(pin_ev("led", "mission:%d" % mid), EV)
    t.eq(pe["value"], 1, "its set reaches the other client with source mission:%d" % mid)

    for op in ({"op": "set", "pin": "led", "value": 0}, {"op": "toggle", "pin": "led"}):
        r = await b.request(op)
        err = r.get("error", {})
        t.eq((r["ok"], err.get("code"), err.get("mission")), (False, "busy", mid),
             "%s on led while the mission holds it: busy, error.mission %d" % (op["op"], mid))
        t.ok('held by mission %d ("long")' % mid in err.get("message", ""),
             "the busy message names the mission", err)
    r = await b.request({"op": "get", "pin": "led"})
    t.eq((r["ok"], r.get("value")), (True, 1), "get on a held pin still works")
    r = await b.request({"op": "set", "pin": "relay", "value": 0})
    t.ok(r["ok"], "a pin the mission does not use is free", r)
    await b.wait_for(pin_ev("relay", "client"), EV)
    r = await b.request({"op": "set", "pin": "relay", "value": 1})
    t.ok(r["ok"], "relay back to 1", r)

    c = await connect(g)
    hm = {m["id"]: m for m in c.hello["missions"]}
    t.eq(hm.get(mid, {}).get("state"), "running", "a new client's hello lists the mission as running")
    pins = {p["name"]: p for p in c.hello["pins"]}
    t.eq(pins["led"].get("mission"), mid, "hello: led has \"mission\": %d" % mid)
    t.ok("mission" not in pins["relay"], "hello: relay has no mission holder", pins["relay"])
    t.eq((pins["led"]["value"], pins["led"]["source"]), (1, "mission:%d" % mid),
         "hello: led is 1 from mission:%d" % mid)
    await c.close()

    # A mission that needs led waits; cancelled while queued, it never runs.
    qid = await start(a, blink("queued", 2))
    ev = await a.wait_for(mission_ev(qid), EV)
    t.eq(ev["mission"]["state"], "queued", "a mission on the held led is queued")
    r = await b.request({"op": "mission.cancel", "mission": qid}, timeout=EV)
    t.eq((r["ok"], r.get("mission")), (True, qid), "cancel of the queued mission: ok")
    evs = await until_end(a, qid)
    t.eq([e["mission"]["state"] for e in evs], ["cancelled"],
         "a queued mission goes straight to cancelled")
    t.ok("started" not in evs[-1]["mission"], "it never started", evs[-1]["mission"])
    final[qid] = "cancelled"

    r = await b.request({"op": "mission.cancel", "mission": mid}, timeout=EV)
    t.ok(r.get("ok") is True, "mission.cancel from the other client: ok", r)
    t.eq(r.get("mission"), mid, "the cancel reply names the mission")
    evs = await until_end(a, mid)
    t.eq(evs[-1]["mission"]["state"], "cancelled", "the starter gets state cancelled")
    t.ok("error" not in evs[-1]["mission"], "a cancel is no error", evs[-1]["mission"])
    pe = await b.wait_for(pin_ev("led", "mission:%d" % mid), EV)
    t.eq((pe["value"], pe["source"]), (0, "mission:%d" % mid),
         "on_cancel safe: led goes to its safe value 0, source mission:%d" % mid)
    r = await b.request({"op": "set", "pin": "led", "value": 1})
    t.ok(r["ok"] and r.get("value") == 1, "after the cancel a client set on led works", r)
    r = await b.request({"op": "set", "pin": "led", "value": 0})
    t.ok(r["ok"], "and led back to 0", r)
    c = await connect(g)
    led = [p for p in c.hello["pins"] if p["name"] == "led"][0]
    t.ok("mission" not in led, "hello after the cancel: led has no holder", led)
    t.eq({m["id"]: m["state"] for m in c.hello["missions"]}.get(mid), "cancelled",
         "hello after the cancel: the mission is cancelled")
    await c.close()
    final[mid] = "cancelled"


async def test_cancel_while_holding(g, a, b, final):
    """A cancel that reaches the worker while the mission's holds are being
    taken (the helper is stopped meanwhile), before its first step: it never
    ran, so, as for a queued one, no output goes to a safe value."""
    r = await b.request({"op": "mission.list"})
    nid = max([m["id"] for m in r["missions"]] + [0]) + 1
    bad = []
    for mid in range(nid, nid + 5):
        r = await b.request({"op": "set", "pin": "led", "value": 1})
        assert r["ok"], r
        m = {"name": "never", "on_cancel": "safe", "steps": [
            {"sleep": {"ms": 5000}}, {"set": {"pin": "led", "value": 1}}]}
        # The helper stopped: the holds stay unanswered until the cancel is in.
        os.kill(g.proc.pid, signal.SIGSTOP)
        try:
            r = await b.request({"op": "mission.start", "mission": m}, timeout=EV)
            assert r.get("mission") == mid, r
            r = await b.request({"op": "mission.cancel", "mission": mid}, timeout=EV)
            assert r.get("ok"), r
        finally:
            os.kill(g.proc.pid, signal.SIGCONT)
        evs = await until_end(b, mid)
        r = await b.request({"op": "get", "pin": "led"})
        states = [e["mission"]["state"] for e in evs]
        changed = [x for x in b.seen if x.get("type") == "pin" and
                   x["source"] == "mission:%d" % mid]
        if states[-1] != "cancelled" or "running" in states or changed or \
                "started" in evs[-1]["mission"] or r.get("value") != 1:
            bad.append((mid, states, changed, r.get("value")))
        final[mid] = "cancelled"
    t.eq(bad, [], "5 missions cancelled while taking their holds: each ends cancelled, "
         "never running, and led keeps the client's 1 (no safe value)")
    r = await b.request({"op": "set", "pin": "led", "value": 0})
    t.ok(r["ok"], "and their holds are gone: a client set on led works", r)


async def test_cancel_hold(g, a, b, final):
    mid = await start(a, long_hold("keep", "hold"))
    await b.wait_for(lambda m: mission_ev(mid, "running")(m) and m["mission"]["done"] >= 1, EV)
    set1 = await b.wait_for(pin_ev("led", "mission:%d" % mid), EV)
    t.eq(set1["value"], 1, "on_cancel hold mission set led 1")
    r = await b.request({"op": "mission.cancel", "mission": mid}, timeout=EV)
    t.ok(r.get("ok") is True, "cancel of the on_cancel hold mission: ok", r)
    evs = await until_end(b, mid)
    t.eq((evs[-1]["mission"]["state"], evs[-1]["mission"]["on_cancel"]), ("cancelled", "hold"),
         "it ends cancelled, on_cancel hold")
    r = await b.request({"op": "get", "pin": "led"})
    t.eq(r.get("value"), 1, "on_cancel hold: led keeps its value 1")
    # Any safe set would come before the hold is given up, so before this.
    r = await b.request({"op": "set", "pin": "led", "value": 0})
    t.ok(r["ok"] and "seq" in r, "a client set on led works after it", r)
    ev = await b.wait_for(lambda m: pin_ev("led")(m) and m["seq"] == r.get("seq"), EV)
    t.eq((ev["value"], ev["source"]), (0, "client"), "the client's set: led 0, source client")
    t.eq(r.get("seq"), set1["seq"] + 1,
         "no pin changed between the mission's set and the client's: no safe value was set")
    final[mid] = "cancelled"


async def test_queue(g, a, b, final):
    first = await start(a, blink("first", 4))
    second = await start(a, {"name": "second", "steps": [
        {"toggle": {"pin": "led"}}, {"sleep": {"ms": 20}}, {"toggle": {"pin": "led"}}]})
    e1 = await until_end(b, first)
    e2 = await until_end(b, second)
    t.eq(e1[-1]["mission"]["state"], "done", "first ends done")
    t.eq(e2[-1]["mission"]["state"], "done", "second ends done")
    end1 = pos(b, e1[-1])
    before = [e["mission"]["state"] for e in e2 if pos(b, e) < end1]
    t.ok(before and all(s == "queued" for s in before),
         "while the first runs, the second is only queued", before)
    run2 = [e for e in e2 if e["mission"]["state"] == "running"]
    t.ok(run2 and pos(b, run2[0]) > end1, "the second runs only after the first's done event")
    t.ok(e2[-1]["mission"]["started"] >= e1[-1]["mission"]["ended"],
         "second's started >= first's ended",
         (e2[-1]["mission"]["started"], e1[-1]["mission"]["ended"]))
    t.eq(e2[-1]["mission"]["done"], 3, "second: done == total == 3")
    r = await b.request({"op": "get", "pin": "led"})
    t.eq(r.get("value"), 0, "led back at 0 after 4 + 2 toggles")
    final[first] = final[second] = "done"


async def test_disjoint(g, a, b, final):
    one = await start(a, blink("on-led", 4, 100))
    two = await start(a, {"name": "on-relay", "steps": [
        {"toggle": {"pin": "relay"}}, {"sleep": {"ms": 100}}, {"toggle": {"pin": "relay"}}]})
    e1 = await until_end(b, one)
    e2 = await until_end(b, two)
    m1, m2 = e1[-1]["mission"], e2[-1]["mission"]
    t.eq((m1["state"], m2["state"]), ("done", "done"), "missions on led and relay both done")
    t.eq((m1["pins"], m2["pins"]), (["led"], ["relay"]), "their pins are disjoint")
    t.ok(m2["started"] < m1["ended"] and m1["started"] < m2["ended"],
         "they ran at the same time (started of each before ended of the other)", (m1, m2))
    end1 = pos(b, e1[-1])
    t.ok(any(e["mission"]["state"] == "running" and pos(b, e) < end1 for e in e2),
         "the relay mission was running before the led mission's done event")
    r = await b.request({"op": "get", "pin": "relay"})
    t.eq(r.get("value"), 1, "relay back at 1 after two toggles")
    final[one] = final[two] = "done"


async def test_errors(g, a, b, ended):
    async def err(c, msg):
        r = await c.request(msg, timeout=EV)
        return (r.get("ok"), r.get("error", {}).get("code")), r

    got, r = await err(b, {"op": "mission.cancel", "mission": 999999})
    t.eq(got, (False, "unknown_mission"), "cancel of an unknown id: unknown_mission")
    got, r = await err(b, {"op": "mission.cancel", "mission": ended})
    t.eq(got, (False, "not_running"), "cancel of an ended mission: not_running")
    for bad in ("1", 1.5, None, 0, -3):
        got, r = await err(b, {"op": "mission.cancel", "mission": bad})
        t.eq(got, (False, "bad_request"), "cancel with mission %r: bad_request" % (bad,))
    got, r = await err(b, {"op": "mission.cancel"})
    t.eq(got, (False, "bad_request"), "cancel without mission: bad_request")
    got, r = await err(b, {"op": "mission.start"})
    t.eq(got, (False, "bad_request"), "mission.start without a mission: bad_request")
    got, r = await err(b, {"op": "mission.start", "mission": [1]})
    t.eq(got, (False, "bad_request"), "mission.start with an array: bad_request")
    before = (await b.request({"op": "mission.list"}, timeout=EV))["missions"]
    got, r = await err(b, {"op": "mission.start", "mission": {
        "name": "bad", "steps": [{"sleep": {"ms": 0}}]}})
    t.eq(got, (False, "bad_mission"), "sleep ms 0: bad_mission")
    t.eq(r.get("error", {}).get("message"), "steps[0].sleep.ms: must be 1..86400000",
         "bad_mission message names the path and the rule")
    got, r = await err(b, {"op": "mission.start", "mission": {
        "name": "bad", "steps": [{"toggle": {"pin": "button"}}]}})
    t.eq((got, r.get("error", {}).get("message")),
         ((False, "bad_mission"), 'steps[0].toggle.pin: "button" is an input'),
         "toggle of an input: bad_mission")
    after = (await b.request({"op": "mission.list"}, timeout=EV))["missions"]
    t.eq(after, before, "a refused mission is not listed")


async def test_wait(g, a, b, final):
    mid = await start(a, {"name": "press", "steps": [
        {"wait": {"pin": "button", "edge": "rising", "timeout_ms": 5000}},
        {"set": {"pin": "led", "value": 1}}]})
    ev = await b.wait_for(mission_ev(mid, "running"), EV)
    t.eq((ev["mission"]["done"], ev["mission"]["total"], ev["mission"]["pins"]), (0, 2, ["led"]),
         "wait mission running: 0 of 2 steps, holds led")
    r = await b.request({"op": "set", "pin": "led", "value": 1})
    t.eq(r.get("error", {}).get("code"), "busy", "led is held while the mission waits")
    rest = await a.quiet(0.5)
    t.eq([m for m in rest if mission_ev(mid)(m) and m["mission"]["state"] in ENDED], [],
         "without an edge it stays running")
    r = await b.request({"op": "get", "pin": "led"})
    t.eq(r.get("value"), 0, "led still 0 while it waits")
    r = await b.request({"op": "sim.pull", "pin": "button", "value": 1})
    t.ok(r["ok"] and "seq" in r, "another client pulls button to 1", r)
    pe = await a.wait_for(pin_ev("led", "mission:%d" % mid), EV)
    t.eq((pe["value"], pe["source"]), (1, "mission:%d" % mid),
         "then led becomes 1, source mission:%d" % mid)
    t.ok(pe["seq"] > r.get("seq", 0), "after the edge", (pe, r))
    evs = await until_end(a, mid)
    t.eq((evs[-1]["mission"]["state"], evs[-1]["mission"]["done"]), ("done", 2),
         "and the mission is done, 2 of 2")
    await b.request({"op": "sim.pull", "pin": "button", "value": 0})
    r = await b.request({"op": "set", "pin": "led", "value": 0})
    t.ok(r["ok"], "led back to 0", r)
    final[mid] = "done"

    mid = await start(a, {"name": "nobody-pushes", "steps": [
        {"wait": {"pin": "button", "edge": "rising", "timeout_ms": 200}},
        {"set": {"pin": "led", "value": 1}}]})
    evs = await until_end(a, mid)
    m = evs[-1]["mission"]
    t.eq(m["state"], "failed", "a wait with no edge within 200 ms fails")
    t.eq(m.get("error"), 'no rising edge on "button" within 200 ms', "its error names the timeout")
    t.ok(m["ended"] - m["started"] >= 200000, "it waited at least 200 ms",
         m["ended"] - m["started"])
    t.eq(m["done"], 0, "the set after it was not done")
    r = await b.request({"op": "get", "pin": "led"})
    t.eq(r.get("value"), 0, "led untouched by the failed mission")
    final[mid] = "failed"

    mid = await start(a, {"name": "either", "steps": [
        {"wait": {"pin": "button", "edge": "both", "timeout_ms": 200}}]})
    evs = await until_end(a, mid)
    m = evs[-1]["mission"]
    t.eq(m["state"], "failed", "a wait for both edges with none fails too")
    err = m.get("error", "")
    t.ok(err.startswith("no ") and err.endswith(' edge on "button" within 200 ms') and
         "  " not in err, "its error names the timeout, with no empty edge word", err)
    final[mid] = "failed"

    mid = await start(a, {"name": "go-on", "steps": [
        {"wait": {"pin": "button", "edge": "rising", "timeout_ms": 200,
                  "on_timeout": "continue"}},
        {"set": {"pin": "led", "value": 1}}]})
    pe = await a.wait_for(pin_ev("led", "mission:%d" % mid), EV)
    t.eq((pe["value"], pe["source"]), (1, "mission:%d" % mid),
         "on_timeout continue: the step after the wait runs")
    evs = await until_end(a, mid)
    m = evs[-1]["mission"]
    t.eq((m["state"], m["done"], m["total"], "error" in m), ("done", 2, 2, False),
         "on_timeout continue: the mission ends done, 2 of 2, without error")
    r = await b.request({"op": "set", "pin": "led", "value": 0})
    t.ok(r["ok"], "led back to 0", r)
    final[mid] = "done"


async def main(g):
    a = await connect(g)
    b = await connect(g)
    r = await a.request({"op": "mission.list"}, timeout=EV)
    t.eq((r["ok"], r["missions"]), (True, []), "no missions at first")
    final = {}
    ended = await test_blink(g, a, b, final)
    await test_hold_and_cancel_safe(g, a, b, final)
    await test_cancel_hold(g, a, b, final)
    await test_cancel_while_holding(g, a, b, final)
    await test_queue(g, a, b, final)
    await test_disjoint(g, a, b, final)
    await test_errors(g, a, b, ended)
    await test_wait(g, a, b, final)

    for who, c in (("the starter", a), ("the other client", b)):
        r = await c.request({"op": "mission.list"}, timeout=EV)
        got = {m["id"]: m["state"] for m in r.get("missions", [])}
        t.eq(got, final, "mission.list from %s: every mission with its state" % who)
    ids = [m["id"] for m in r["missions"]]
    t.eq(ids, sorted(ids), "mission.list is oldest first")
    c = await connect(g)
    t.eq({m["id"]: m["state"] for m in c.hello["missions"]}, final,
         "a new client's hello has the same missions and states")
    for x in (a, b, c):
        await x.close()


with Gpiows() as g:
    asyncio.run(main(g))
t.done()
