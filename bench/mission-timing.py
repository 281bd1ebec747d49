"""How late a mission's sleep steps really fire, from the helper's
timestamps of the pin changes: a mission toggles led, sleeps S ms, toggles
again...; each interval between two toggles minus S is that sleep's
lateness (timer, worker, IPC to the helper and the pin change itself).
Measured with no load, then with 1000 WebSocket clients connected
receiving every event (bench/loadgen).  A benchmark, not a test: it prints
figures and asserts nothing.

	make bench      (or: python3 bench/mission-timing.py, with the
	                 GPIOWS_* variables of make check set)
"""
import asyncio
import os
import resource
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "sys"))
from gpiows_test import Client, Gpiows  # noqa: E402

SLEEP_MS = 10
TOGGLES = 400
LOADGEN = os.environ.get("GPIOWS_LOADGEN", "bench/loadgen")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


async def run_mission(g):
    o = await Client.connect(g)
    await o.request({"op": "get", "pin": "led"})
    r = await o.request({"op": "mission.start", "mission": {
        "name": "timing", "steps": [{"repeat": {"count": TOGGLES, "steps": [
            {"toggle": {"pin": "led"}}, {"sleep": {"ms": SLEEP_MS}}]}}]}})
    mid = r["mission"]
    ts = []
    while True:
        m = await o.recv(30)
        if m.get("type") == "pin" and m["pin"] == "led":
            ts.append(m["ts"])
        if m.get("type") == "mission" and m["mission"]["id"] == mid and \
                m["mission"]["state"] in ("done", "failed"):
            break
    await o.close()
    late = [(b - a) - SLEEP_MS * 1000 for a, b in zip(ts, ts[1:])]
    return late


def report(name, late):
    print("%-32s n=%4d  p50 %6d us  p99 %6d us  max %6d us  min %6d us" % (
        name, len(late), pct(late, 50), pct(late, 99), max(late), min(late)))


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print("sleep lateness: %d toggles, sleep %d ms between them" % (TOGGLES, SLEEP_MS))
    with Gpiows(extra="max clients 2000\n") as g:
        report("no load", asyncio.run(run_mission(g)))
        lg = subprocess.Popen([LOADGEN, "-n", "1000", "-p", str(g.port)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = lg.stdout.readline().decode().strip()
        if line != "connected 1000":
            print("loadgen did not connect its clients: %r" % line)
            lg.kill()
            sys.exit(1)
        report("1000 clients receiving all", asyncio.run(run_mission(g)))
        lg.stdin.close()
        lg.wait(10)


main()
