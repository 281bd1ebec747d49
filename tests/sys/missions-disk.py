"""A running mission does not write to disk step by step (a blink would wear
a board's SD card out over the years): its journal file stays as it was
while the steps go on.  Where it is lives in memory the helper holds, so a
killed worker still takes it up where it was, not from its start; and a
stopped gpiows writes it down, so the interrupted mission reports how far
it got."""
import asyncio
import json
import os
import re
import signal
import struct
import time

from gpiows_test import Client, Gpiows, Tap

t = Tap()


def blink(n, ms, pin):
    return {"name": "blink", "steps": [{"repeat": {"count": n, "steps": [
        {"toggle": {"pin": pin}}, {"sleep": {"ms": ms}}]}}]}


def entry(g, mid):
    path = os.path.join(g.journal, "mission-%d.json" % mid)
    st = os.stat(path)
    with open(path) as f:
        return (st.st_ino, st.st_mtime_ns), json.load(f)


def toggles(c, mid):
    return [m for m in c.seen if m.get("type") == "pin" and m["source"] == "mission:%d" % mid]


async def listen(c, secs):
    """What comes in secs, into c.seen."""
    end = time.monotonic() + secs
    try:
        while True:
            await c.wait_for(lambda m: False, max(0.0, end - time.monotonic()))
    except asyncio.TimeoutError:
        pass


async def blinking(c, pin, seen):
    """A 10 ms blink of pin, once seen toggles of it have come: its id."""
    r = await c.request({"op": "mission.start", "mission": blink(100000, 10, pin)})
    mid = r["mission"]
    await c.wait_for(lambda m: len(toggles(c, mid)) >= seen, 5)
    return mid


async def kill_worker(g):
    """SIGKILL the worker; back once the helper has started another."""
    old = g.children()
    os.kill(old["worker"], signal.SIGKILL)
    await asyncio.get_running_loop().run_in_executor(
        None, lambda: g.wait_children(old={"worker": old["worker"]}))


def latest(c, mid):
    ms = [m["mission"] for m in c.seen if m.get("type") == "mission" and m["mission"]["id"] == mid]
    return ms[-1] if ms else None


with Gpiows() as g:
    async def steps_and_kill():
        c = await Client.connect(g)
        mid = await blinking(c, "led", 10)
        (ident, j) = entry(g, mid)
        t.eq(j["state"], "running", "the journal has the mission running")
        n0 = len(toggles(c, mid))
        await listen(c, 1.0)
        n1 = len(toggles(c, mid))
        (ident2, j2) = entry(g, mid)
        t.ok(n1 - n0 >= 40, "the mission went on (%d toggles in 1 s)" % (n1 - n0))
        t.eq(ident2, ident, "its journal file was not written again in those %d steps" %
             (2 * (n1 - n0)))
        t.eq(j2["done"], j["done"], "it holds the place it had when the mission began")
        t.eq(sorted(f for f in os.listdir(g.journal) if f.endswith(".tmp")), [],
             "no half-written file either")

        # The worker dies: the next one goes on from where it was.
        done_before = latest(c, mid)["done"]
        seen = len(toggles(c, mid))
        await kill_worker(g)
        await c.wait_for(lambda m: len(toggles(c, mid)) >= seen + 5, 3)
        m = re.findall(r"mission %d \(blink\): resumed at step (\d+)" % mid, g.logtext())
        t.ok(m and int(m[-1]) >= seen - 1,
             "the new worker resumed at step %s, not before the %d toggles seen (-1: "
             "killed between a send and its note)" % (m[-1] if m else None, seen))
        after = latest(c, mid)
        t.ok(after["state"] == "running" and after["done"] >= done_before,
             "its progress did not go back (%d, then %d)" % (done_before, after["done"]))
        vals = [p["value"] for p in toggles(c, mid)]
        t.eq(vals, [1, 0] * (len(vals) // 2) + [1] * (len(vals) % 2),
             "every toggle once across the worker's death (%d)" % len(vals))
        await c.close()
        return mid

    asyncio.run(steps_and_kill())


# A damaged note (here, by hand, in the helper's memfd) is not trusted: the
# next worker goes on from the file's place, and the mission keeps running.
PLACE, SLOTS_AT = 168, 16       # worker/journal.c: struct place, the header


def store_of(helper_pid):
    for fd in os.listdir("/proc/%d/fd" % helper_pid):
        path = "/proc/%d/fd/%s" % (helper_pid, fd)
        if os.readlink(path).startswith("/memfd:gpiows-places"):
            return path
    return None


with Gpiows() as g:
    async def damaged():
        c = await Client.connect(g)
        mid = await blinking(c, "led", 20)
        w = g.children()["worker"]
        os.kill(w, signal.SIGSTOP)
        hit = 0
        with open(store_of(g.proc.pid), "r+b") as f:
            mem = bytearray(f.read())
            for k in range(128):
                off = SLOTS_AT + k * PLACE
                seq, = struct.unpack_from("<I", mem, off)
                pid_, = struct.unpack_from("<I", mem, off + 40)
                if seq and pid_ == mid:
                    struct.pack_into("<Q", mem, off + 56, 1 << 40)    # stack[0]: step 2^40
                    hit += 1
            f.seek(0)
            f.write(mem)
        t.eq(hit, 2, "both notes of the mission's slot found in the helper's store")
        seen = len(toggles(c, mid))
        os.kill(w, signal.SIGKILL)     # stopped or not, it dies
        try:
            await c.wait_for(lambda m: len(toggles(c, mid)) >= seen + 10, 5)
        except asyncio.TimeoutError:
            pass                # the checks below say what did not come
        t.ok("mission %d: its noted place is malformed" % mid in g.logtext(),
             "the new worker says the note is damaged")
        st = latest(c, mid)
        t.eq(st["state"], "running", "and the mission goes on from its file's place")
        vals = [p["value"] for p in toggles(c, mid)]
        t.eq(vals, [1, 0] * (len(vals) // 2) + [1] * (len(vals) % 2),
             "no toggle twice for going back (%d)" % len(vals))
        await c.close()

    asyncio.run(damaged())


# As many running missions as can be active (64) fill every slot of the
# store: after the worker's death each goes on from its own place.
with Gpiows() as g:
    async def all_slots():
        c = await Client.connect(g)
        ids = []
        for i in range(64):
            r = await c.request({"op": "mission.start", "mission": {
                "name": "s%d" % i, "steps": [{"repeat": {"count": 1000000, "steps": [
                    {"sleep": {"ms": 20}}]}}]}})
            ids.append(r.get("mission"))
        await listen(c, 1.5)
        before = {mid: latest(c, mid) for mid in ids}
        t.ok(all(m and m["state"] == "running" and m["done"] >= 10 for m in before.values()),
             "64 missions running, each some steps on")
        mark = len(c.seen)
        await kill_worker(g)
        await listen(c, 1.5)
        first = {}
        for m in c.seen[mark:]:
            if m.get("type") == "mission" and m["mission"]["id"] not in first:
                first[m["mission"]["id"]] = m["mission"]
        back = sorted(mid for mid in ids if mid not in first or
                      first[mid]["state"] != "running" or
                      first[mid]["done"] < before[mid]["done"])
        t.eq(back, [], "after the worker's death none of the 64 went back or stopped")
        await c.close()

    asyncio.run(all_slots())


# A stopped gpiows writes each running mission's place down.
g = Gpiows()
with g:
    async def run_then_stop():
        c = await Client.connect(g)
        mid = await blinking(c, "relay", 40)
        await c.close()
        return mid, len(toggles(c, mid))

    mid, seen = asyncio.run(run_then_stop())
    t.eq(g.stop(), 0, "gpiows stopped")
    (_, j) = entry(g, mid)
    t.ok(j["state"] == "running" and j["done"] >= 2 * seen - 2,
         "the journal has it where it stopped: %d steps done, after %d toggles seen" %
         (j["done"], seen))
    g.logf.close()
    g.start()

    async def interrupted():
        c = await Client.connect(g)
        m = [x for x in c.hello["missions"] if x["id"] == mid]
        if not m or m[0]["state"] != "interrupted":
            m = [(await c.wait_for(lambda e: e.get("type") == "mission" and
                                   e["mission"]["id"] == mid and
                                   e["mission"]["state"] == "interrupted", 5))["mission"]]
        t.eq(m[0]["state"], "interrupted", "after the restart it is interrupted")
        t.eq(m[0]["done"], j["done"], "and reports the steps it had done")
        await c.close()

    asyncio.run(interrupted())
t.done()
