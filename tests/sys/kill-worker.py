"""kill -9 of the worker: the helper starts a new one; wsd and its clients
are not disturbed, and reach the new worker."""
import asyncio
import os
import signal
import time

from gpiows_test import Client, Gpiows, Tap, backoff_ms, restarted_in

t = Tap()

with Gpiows() as g:
    kids = g.wait_children()

    async def run():
        a = await Client.connect(g)
        r = await a.request({"op": "mission.list"})
        t.ok(r["ok"] and r["missions"] == [], "mission.list answered by the worker", r)
        mark = len(g.logtext())
        os.kill(kids["worker"], signal.SIGKILL)
        t0 = time.monotonic()
        now = await asyncio.get_running_loop().run_in_executor(
            None, lambda: g.wait_children(old={"worker": kids["worker"]}))
        restarted_in(t, time.monotonic() - t0, backoff_ms(g, mark), 250, "a new worker")
        t.eq(now["wsd"], kids["wsd"], "wsd kept running")
        r = await a.request({"op": "set", "pin": "led", "value": 1})
        t.ok(r["ok"], "the client's connection survived", r)
        for _ in range(50):
            r = await a.request({"op": "mission.list"})
            if r["ok"]:
                break
            await asyncio.sleep(0.02)
        t.ok(r["ok"] and r["missions"] == [], "wsd reaches the new worker", r)
        await a.close()

    asyncio.run(run())
    t.ok("worker[%d] killed by signal 9" % kids["worker"] in g.logtext(), "the helper logged the death")
t.done()
