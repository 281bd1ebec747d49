"""A broadcast to many clients is written from two threads where wsd may
use two CPUs (wsd/fanout.c): the loop's thread writes the first half of
the list and a writer thread the second.  Shown here: the writer exists
only then, runs under the same seccomp filter with every signal blocked,
on CPUs other than the loop's; every listener, whichever half it is in,
gets every pin event once, in seq order; and clients that stop reading in
the middle of such a write are still cut off at the output cap while the
others go on."""
import os

from gpiows_test import Gpiows, Tap, proc_status
from rawws import RawWs, toggle_batch

t = Tap()
LISTENERS = 200         # over FANOUT_MIN (64): the list is split
TOGGLES = 30
SLOW = 70
BATCH = 200
MAX_TOGGLES = 60000     # failure bound: the slow ones are cut long before


def tasks(pid):
    return sorted(int(x) for x in os.listdir("/proc/%d/task" % pid))


def cpus(s):
    out = set()
    for part in s.split(","):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def check_threads(g):
    wsd = g.children()["wsd"]
    tids = tasks(wsd)
    t.eq(len(tids), 2, "wsd has two threads: the loop and the writer")
    if len(tids) != 2:
        return
    main, writer = proc_status(wsd, wsd), proc_status(wsd, [x for x in tids if x != wsd][0])
    t.ok(main["Seccomp"] == "2" and writer["Seccomp"] == "2",
         "both run under the seccomp filter (mode 2)", (main["Seccomp"], writer["Seccomp"]))
    t.eq(main.get("Seccomp_filters"), writer.get("Seccomp_filters"),
         "the same filters: the writer got wsd's own too (TSYNC)")
    # Signals 1 to 31 but SIGKILL and SIGSTOP, which cannot be blocked.
    std = 0x7fffffff & ~(1 << (9 - 1)) & ~(1 << (19 - 1))
    t.eq(int(writer["SigBlk"], 16) & 0x7fffffff, std,
         "the writer blocks every signal (SigBlk %s)" % writer["SigBlk"])
    t.ok(main["Uid"] == writer["Uid"] and main["Gid"] == writer["Gid"] and
         main["Uid"].split()[0] != "0", "the writer dropped root with the loop",
         (main["Uid"], writer["Uid"]))
    mc, wc = cpus(main["Cpus_allowed_list"]), cpus(writer["Cpus_allowed_list"])
    t.ok(len(mc) == 1 and wc and not (mc & wc),
         "the loop on one CPU, the writer on the others", (mc, wc))


def check_one_cpu():
    """Started on one CPU, wsd keeps a single thread."""
    g = Gpiows()
    try:
        g.start(prefix=["taskset", "-c", str(min(os.sched_getaffinity(0)))])
        t.eq(len(tasks(g.children()["wsd"])), 1, "on one CPU wsd has one thread")
    finally:
        g.close()


def cpu_ns(wsd):
    """CPU time so far of wsd's loop thread and of its writer (None
    without one), in ns: /proc/PID/task/TID/schedstat."""
    def ns(tid):
        with open("/proc/%d/task/%d/schedstat" % (wsd, tid)) as f:
            return int(f.read().split()[0])
    tids = [x for x in tasks(wsd) if x != wsd]
    return ns(wsd), ns(tids[0]) if len(tids) == 1 else None


def check_listeners(g):
    w = RawWs(g.port)
    ls = [RawWs(g.port) for _ in range(LISTENERS)]
    got = [[] for _ in ls]
    wsd = g.children()["wsd"]
    before = cpu_ns(wsd)
    for i in range(TOGGLES):
        r = w.request({"op": "toggle", "pin": "led"})
        assert r["ok"], r
        for k, c in enumerate(ls):
            while True:
                m = c.recv_json()
                if m.get("type") == "pin" and m["pin"] == "led":
                    got[k].append((m["seq"], m["value"]))
                    break
    bad = [k for k, evs in enumerate(got)
           if len(evs) != TOGGLES or
           any(b[0] <= a[0] or b[1] == a[1] for a, b in zip(evs, evs[1:]))]
    t.eq(bad, [], "each of %d listeners got all %d led events once, in seq order, "
         "alternating" % (LISTENERS, TOGGLES))
    t.eq(len(set(tuple(e) for e in got)), 1, "and all of them the same ones")
    # The writer writes half of each broadcast, the loop the other half
    # and everything else: a writer that is only woken, or never, takes a
    # hundredth of the loop's time or less.
    after = cpu_ns(wsd)
    loop = after[0] - before[0]
    writer = None if None in (before[1], after[1]) else after[1] - before[1]
    t.ok(writer is not None and writer >= loop / 10,
         "the writer thread wrote its share of the %d broadcasts (CPU: writer %s ms, "
         "loop %.1f ms)" % (TOGGLES, "-" if writer is None else "%.1f" % (writer / 1e6),
                           loop / 1e6))
    for c in ls:
        c.close()
    w.close()


def check_slow(g):
    w = RawWs(g.port)
    state = {"seq": w.hello["seq"], "value": None, "events": 0, "users": []}
    led = [p for p in w.hello["pins"] if p["name"] == "led"][0]
    state["value"] = led["value"]
    slow = [RawWs(g.port, rcvbuf=4096, hello=False) for _ in range(SLOW)]
    toggles, ident, problem = 0, 1, None
    while problem is None and toggles < MAX_TOGGLES:
        problem = toggle_batch(w, ident, state, BATCH)
        ident += BATCH
        toggles += BATCH
        if state["users"][-1:] == [1]:
            break
    t.ok(problem is None, "the working client got all %d replies and events in order "
         "while %d clients stopped reading" % (toggles, SLOW), problem)
    t.eq(state["users"][-1:], [1], "every one of the %d that stopped reading was cut off "
         "(users back to 1, after %d toggles)" % (SLOW, toggles))
    for s in slow:
        s.close()
    w.close()


if len(os.sched_getaffinity(0)) < 2:
    t.skip("wsd's writer thread", "this machine gives the tests one CPU")
    check_one_cpu()
else:
    with Gpiows() as g:
        check_threads(g)
        check_listeners(g)
        check_slow(g)
    check_one_cpu()
t.done()
