"""Edge throughput on a real kernel (issue 5): how many edges of a gpio-sim
input reach a WebSocket client, how fast, and how many are lost or
coalesced on the way.

Debian's kernel boots under qemu with gpio-sim, as for the real-kernel tests:
tests/kernel/run.sh makes the initramfs and boots it, running this script
in the place of tests/kernel/kernel-test.py (through GPIOWS_KERNEL_SCRIPT
when run.sh has it, otherwise from a directory of links to tests/kernel/),
and this script uses kernel-test.py's Guest and Helper.  The real
gpiod-helper, wsd and worker run in the guest on one input, "button", with
"edge both" and no debounce; a WebSocket client on the host records every
"pin" message.  Inside the guest, bench/edge-toggle (a static C program,
sent through the control shell) writes pull-up and pull-down in turn to the
line's gpio-sim "pull" attribute, N times, as fast as it can; for
comparison, paced writes and a busybox shell loop.

For each run it prints the writes (N, edges of the line) and their rate;
the events the client received; lost = N - received; coalesced = events
whose value equals the one before (the kernel's v1 uAPI, which libgpiod 1.6
speaks, reads the line's level when it handles the interrupt, so merged
edges show as repeated values); gaps in seq (changes lost between
gpiod-helper and the client); the span from the first to the last event by
their ts (the kernel's times) and by when the client received them, with
the events per second over each; whether the last event's value is the
line's final level.  And where, in the kernel, the edges went: the line's
interrupts (/proc/interrupts) and the runs of the kernel's event thread (a
kprobe on lineevent_irq_thread); see the legend printed with the table.

A benchmark, not a test: it prints figures and asserts nothing.

	make bench-edge
	python3 bench/edge-throughput.py [-n N] [-r RUNS]
	    with GPIOWS_HELPER, GPIOWS_WSD, GPIOWS_WORKER (or top_builddir) set
	    as by make check; CC (default gcc) builds bench/edge-toggle.c with
	    -static, or GPIOWS_EDGE_TOGGLE names one already built.  The
	    variables of tests/kernel/run.sh apply (GPIOWS_KERNEL_TIMEOUT, the
	    guest's lifetime, defaults to 900 s here).  GPIOWS_EDGE_KPROBE=0
	    leaves out the kprobe that counts the kernel's event thread.
"""

import argparse
import asyncio
import base64
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.realpath(__file__))
SRCDIR = os.path.dirname(HERE)
KDIR = os.path.join(SRCDIR, "tests", "kernel")

BUTTON = 2              # gpio-sim line "BUTTON" (tests/kernel/guest-init)
QUIET_S = 2.0           # no event for this long after the writes: all in
DRAIN_MAX_S = 300.0     # at most this long for the events of one run

CONF = 'chip gs "gpiows-sim"\npin button chip gs line "BUTTON" input edge both\n'


# ----------------------------------------------------------------- on the host

def host_main():
    ap = argparse.ArgumentParser(description="Edge throughput of a gpio-sim input "
                                 "to a WebSocket client, under qemu.")
    ap.add_argument("-n", type=int, default=int(os.environ.get("GPIOWS_EDGE_N", "2000")),
                    help="writes (edges) per run, made even (default 2000)")
    ap.add_argument("-r", "--runs", type=int,
                    default=int(os.environ.get("GPIOWS_EDGE_RUNS", "3")),
                    help="runs of the C driver at full speed (default 3)")
    a = ap.parse_args()
    env = dict(os.environ)
    env["GPIOWS_EDGE_N"] = str(max(2, a.n + a.n % 2))
    env["GPIOWS_EDGE_RUNS"] = str(max(1, a.runs))
    env.setdefault("top_srcdir", SRCDIR)
    env.setdefault("GPIOWS_KERNEL_TIMEOUT", "900")
    bld = env.get("top_builddir", env["top_srcdir"])
    for var, rel in (("GPIOWS_HELPER", "gpiod-helper/gpiod-helper"),
                     ("GPIOWS_WSD", "wsd/wsd"), ("GPIOWS_WORKER", "worker/gpiows-worker")):
        env.setdefault(var, os.path.join(bld, rel))

    with tempfile.TemporaryDirectory(prefix="gpiows-edge.") as tmp:
        drv = env.get("GPIOWS_EDGE_TOGGLE")
        if not drv:
            drv = os.path.join(tmp, "edge-toggle")
            cc = env.get("CC") or "gcc"
            r = subprocess.run([*cc.split(), "-static", "-O2", "-o", drv,
                                os.path.join(HERE, "edge-toggle.c")],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print("edge-throughput: skipped: %s -static cannot build bench/edge-toggle.c "
                      "(Debian: libc6-dev):\n%s" % (cc, r.stderr.strip()))
                return 0
            subprocess.run(["strip", drv], capture_output=True)
        env["GPIOWS_EDGE_TOGGLE"] = os.path.abspath(drv)

        run_sh = os.path.join(KDIR, "run.sh")
        with open(run_sh) as f:
            hook = "GPIOWS_KERNEL_SCRIPT" in f.read()
        if hook:
            env["GPIOWS_KERNEL_SCRIPT"] = os.path.realpath(__file__)
        else:
            # run.sh runs $here/kernel-test.py: a directory of links to the
            # real scripts, with this one as kernel-test.py.
            farm = os.path.join(tmp, "kernel")
            os.mkdir(farm)
            for n in ("run.sh", "get-kernel.sh", "guest-init", "guest-ctl"):
                os.symlink(os.path.join(KDIR, n), os.path.join(farm, n))
            os.symlink(os.path.realpath(__file__), os.path.join(farm, "kernel-test.py"))
            run_sh = os.path.join(farm, "run.sh")
        p = subprocess.Popen(["bash", run_sh], env=env)
        try:
            return p.wait()
        except KeyboardInterrupt:
            p.send_signal(signal.SIGTERM)
            return p.wait()


# ---------------------------------------------------------------- in run.sh

def load_kernel_test():
    spec = importlib.util.spec_from_file_location(
        "kernel_test", os.path.join(KDIR, "kernel-test.py"))
    kt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kt)
    return kt


class Collector:
    """Every message of a client, with the host's time it arrived."""

    def __init__(self, ws):
        self.ws = ws
        self.msgs = []          # (time.monotonic(), message)
        self.mark = time.monotonic()    # quiet() counts from here at least
        self.error = None
        self.task = asyncio.create_task(self.run())

    async def run(self):
        try:
            async for raw in self.ws:
                self.msgs.append((time.monotonic(), json.loads(raw)))
        except Exception as e:  # the connection's end, reported at the end
            self.error = e

    async def quiet(self, since, quiet_s=QUIET_S, limit_s=DRAIN_MAX_S):
        """Until no message has come for quiet_s (or limit_s has passed)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline and not self.task.done():
            last = self.msgs[-1][0] if len(self.msgs) > since else 0
            if time.monotonic() - max(last, self.mark) >= quiet_s:
                return
            await asyncio.sleep(0.1)


def irq_count(out):
    """Interrupts of the line, summed over the CPUs, from /proc/interrupts."""
    total = 0
    for line in out.splitlines():
        if "gpiows" not in line or line.split()[0].startswith(PROBE):
            continue
        for f in line.split()[1:]:
            if not f.isdigit():
                break
            total += int(f)
    return total


def thread_count(out):
    """Runs of the kernel's event thread, from kprobe_profile; None without."""
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == PROBE and len(f) >= 2 and f[1].isdigit():
            return int(f[1])
    return None


# The kernel's thread for a v1 line event (drivers/gpio/gpiolib-cdev.c):
# one run per event queued, or dropped when the queue of 16 is full.
PROBE = "gpiows_edge_thread"
PROBE_SETUP = """t=/sys/kernel/tracing
[ -e $t/kprobe_events ] || mount -t tracefs nodev $t 2>/dev/null || exit 1
grep -q ' lineevent_irq_thread$' /proc/kallsyms || exit 1
echo 0 >$t/tracing_on
echo 'p:kprobes/%s lineevent_irq_thread' >>$t/kprobe_events || exit 1
echo 1 >$t/events/kprobes/%s/enable
""" % (PROBE, PROBE)
COUNTS = ("grep gpiows /proc/interrupts; "
          "cat /sys/kernel/tracing/kprobe_profile 2>/dev/null | grep %s; " % PROBE)


async def one_run(g, col, label, driver, n, before_value):
    """Drive the line n times with driver (a shell command that prints
    "writes W start_us S end_us E"); return the figures of the run."""
    since = len(col.msgs)
    col.mark = time.monotonic()
    out = await g.out(COUNTS + driver)
    w = out.split("\n")[-1].split()
    irq0, thr0 = irq_count(out), thread_count(out)
    writes, start_us, end_us = int(w[1]), int(w[3]), int(w[5])
    col.mark = time.monotonic()
    await col.quiet(since)
    after = await g.out(COUNTS + "cat $sim/sim_gpio%d/value" % BUTTON)
    irqs = irq_count(after) - irq0
    thr1 = thread_count(after)
    threads = thr1 - thr0 if thr0 is not None and thr1 is not None else None
    final = int(after.split()[-1])

    evs = [(t, m) for t, m in col.msgs[since:] if m.get("type") == "pin" and m["pin"] == "button"]
    vals = [m["value"] for _, m in evs]
    prev, coalesced = before_value, 0
    for v in vals:
        coalesced += v == prev
        prev = v
    seqs = [m["seq"] for _, m in evs]
    gaps = sum(b - a - 1 for a, b in zip(seqs, seqs[1:]))
    ts = [m["ts"] for _, m in evs]
    arr = [t for t, _ in evs]
    r = {
        "label": label, "n": n, "writes": writes,
        "write_s": (end_us - start_us) / 1e6,
        "irqs": irqs, "threads": threads, "events": len(evs), "lost": n - len(evs),
        "coalesced": coalesced,
        "gaps": gaps, "not_edge": sum(m["source"] != "edge" for _, m in evs),
        "ts_s": (ts[-1] - ts[0]) / 1e6 if len(ts) > 1 else 0.0,
        "wall_s": arr[-1] - arr[0] if len(arr) > 1 else 0.0,
        "final": final, "last": vals[-1] if vals else before_value,
    }
    return r, final


def rate(k, s):
    return "%.0f" % (k / s) if s > 0 else "-"


def print_table(rows):
    hdr = ("%-16s %6s %8s %6s %6s %6s %6s %6s %4s %8s %8s %8s %8s %5s"
           % ("driver", "N", "writes/s", "irqs", "kthr", "events", "lost", "coal", "gaps",
              "ts ms", "ev/s ts", "wall ms", "ev/s cl", "final"))
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print("%-16s %6d %8s %6d %6s %6d %6d %6d %4d %8.1f %8s %8.1f %8s %5s"
              % (r["label"], r["n"], rate(r["writes"], r["write_s"]), r["irqs"],
                 "-" if r["threads"] is None else r["threads"], r["events"],
                 r["lost"], r["coalesced"], r["gaps"], r["ts_s"] * 1e3,
                 rate(r["events"], r["ts_s"]), r["wall_s"] * 1e3,
                 rate(r["events"], r["wall_s"]),
                 "ok" if r["final"] == r["last"] else "STALE"))
    print("""
N        writes to the pull attribute, alternately pull-up and pull-down:
         edges of the line
writes/s N over the time the writes took, in the guest
irqs     interrupts the kernel took for the line (/proc/interrupts);
         N - irqs edges raised none (gpio-sim's interrupt was still
         pending)
kthr     runs of the kernel's event thread for the line (a kprobe on
         lineevent_irq_thread), each of which reads the line and queues one
         event; irqs - kthr interrupts were merged into a run that was
         already due.  kthr - events events were dropped from a full queue
         (16 events) before gpiod-helper read them
events   "pin" messages for the line that the client received
lost     N - events: edges that gave no event of their own
coal     events with the same value as the one before: each stands for
         edges merged or dropped in between (an odd number of them)
gaps     seq numbers missing between events: changes lost between
         gpiod-helper and the client
ts ms    first to last event by their ts (the kernel's time of each edge)
ev/s ts  events over that span
wall ms  first to last event by when the client received them
ev/s cl  events over that span: the rate delivered to the client
final    the last event's value is the line's level at the end (ok), or
         not (STALE)""")


async def bench(kt, g):
    n = int(os.environ["GPIOWS_EDGE_N"])
    runs = int(os.environ["GPIOWS_EDGE_RUNS"])
    with open(os.environ["GPIOWS_EDGE_TOGGLE"], "rb") as f:
        b64 = base64.encodebytes(f.read()).decode()
    await g.out("base64 -d >/tmp/edge-toggle <<'EOF'\n%sEOF\nchmod 755 /tmp/edge-toggle" % b64)
    print("# guest: %s, kernel %s, %s CPUs"
          % (g.accel_name, await g.out("uname -r"), await g.out("grep -c ^processor /proc/cpuinfo")))

    await g.pull(BUTTON, 0)
    h = kt.Helper(g, "edge", CONF)
    await h.start()
    c = await kt.connect(h)
    col = Collector(c.ws)
    col.mark = time.monotonic()
    await g.out("waitfor grep -q gpiows /proc/interrupts")
    if os.environ.get("GPIOWS_EDGE_KPROBE", "1") != "0":
        rc, out = await g.ash(PROBE_SETUP)
        print("# the kernel's event thread: %s" % (
            "runs counted (kprobe)" if rc == 0 else "runs not counted (no kprobe) %s" % out.strip()))
    # One edge each way, to see that events flow.
    for lv in (1, 0):
        await g.pull(BUTTON, lv)
    await col.quiet(0, quiet_s=0.5, limit_s=10)
    got = [m["value"] for _, m in col.msgs if m.get("type") == "pin"]
    if got[-2:] != [1, 0]:
        raise kt.GuestError("no edge events from button: %r" % got)

    pull = "$sim/sim_gpio%d/pull" % BUTTON
    plan = [("C, full speed", "/tmp/edge-toggle %s %d" % (pull, n), n)] * runs
    paced = max(2, min(n, 400))
    for gap in (1000, 200):
        plan.append(("C, every %d us" % gap, "/tmp/edge-toggle %s %d %d" % (pull, paced, gap),
                     paced))
    shn = max(2, min(n, 1000))
    plan.append(("sh loop", "s=$(now); i=0; while [ $i -lt %d ]; do echo pull-up >%s; "
                 "echo pull-down >%s; i=$((i + 2)); done; e=$(now); "
                 "echo writes $i start_us $s end_us $e" % (shn, pull, pull), shn))

    rows, value = [], 0
    for label, cmd, k in plan:
        r, value = await one_run(g, col, label, cmd, k, value)
        rows.append(r)
        print("# %s: %d writes in %.3f s, %d events, %d lost, %d coalesced"
              % (label, r["writes"], r["write_s"], r["events"], r["lost"], r["coalesced"]),
              flush=True)
        if value != 0:          # start each run from a low line
            await g.pull(BUTTON, 0)
            col.mark = time.monotonic()
            await col.quiet(len(col.msgs), quiet_s=0.5, limit_s=10)
            value = 0
    print()
    print("edge throughput: gpio-sim line toggled in the guest (%s), events to a WebSocket "
          "client on the host" % g.accel_name)
    print()
    print_table(rows)
    if g.accel_name == "tcg":
        print("\nUnder TCG every guest instruction is emulated: the rates are the "
              "emulator's, far\nbelow a real board's; what is lost where is the point.")
    if any(r["not_edge"] for r in rows):
        print("\n(some events had a source other than \"edge\")")
    await c.close()
    await h.stop()


def guest_main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    kt = load_kernel_test()
    g = kt.Guest()
    try:
        try:
            g.boot()
        except kt.GuestError as e:
            print("edge-throughput: the guest did not come up: %s" % e)
            print(g.console_text()[-4000:])
            return 1
        print("# qemu (%s) booted the guest in %.1f s" % (g.accel_name, g.boot_s), flush=True)
        try:
            asyncio.run(bench(kt, g))
        except (kt.GuestError, OSError, asyncio.TimeoutError) as e:
            print("edge-throughput: %s: %s" % (type(e).__name__, e))
            try:
                print(g.sh("tail -n 30 /tmp/*.log")[1])
            except (OSError, kt.GuestError):
                print(g.console_text()[-4000:])
            return 1
    finally:
        g.poweroff()
    return 0


if __name__ == "__main__":
    if os.environ.get("GPIOWS_KERNEL_IMAGE") and os.environ.get("GPIOWS_EDGE_TOGGLE"):
        sys.exit(guest_main())
    sys.exit(host_main())
