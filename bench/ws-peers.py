"""gpiows against its peers: the same scenarios, run by bench/wsbench, in the
same run, against gpiows (wsd on the simulated chip), a Python `websockets`
counter server and a Node `ws` counter server (bench/peers/), each written
the way its library's documentation shows.  Prints one table: each figure,
its ratio to the best peer and the target of issue 3 it is held to.

A benchmark, not a test: figures, no assertions.  The load generator runs
on CPU 1 (taskset); the servers may use both CPUs, except in the round
trips, where they are held to CPU 0.  On two CPUs wsd writes a broadcast
from two threads (wsd/fanout.c), its loop on the CPU it started on and a
writer on the other; the peers each have one thread for their clients.
Server CPU time is read from /proc (all of gpiows's processes, each
server's threads), so a saturated load generator neither flatters nor
hides it.  The round trip is measured twice: with the client on the
server's CPU (the "rtt" rows), and on the other CPU ("rtt2").  On this
machine, a Firecracker guest with halt polling off, waking a process on the
other, idle CPU costs tens of microseconds (an IPI and a VM exit each way),
which swamps what any of the servers does; on one CPU the figure is the
servers' own work.  The "rtt" round trips of all the servers are taken in
turns, all of them running at once (run_rtt), so that the machine's noisy
stretches fall on each of them alike.

	make bench-ws      (or: python3 bench/ws-peers.py, with the GPIOWS_*
	                    variables of make check and GPIOWS_WSBENCH set)

Environment: BENCH_ONLY=gpiows,python,node runs only those servers;
BENCH_SCENARIOS=rtt,fanout,idle,setup only those scenarios; BENCH_NOPIN=1
runs without taskset; BENCH_TRIPS_DIR=DIR writes each server's round trips
to DIR/rtt-NAME.txt, its turns one after another, a line per trip in the
order made: when it began (CLOCK_MONOTONIC ns, the clock of
`perf record -k CLOCK_MONOTONIC`) and how long it took (ns).  Slow trips
that come in bursts at a fixed time after each turn's connect are the
server's own doing (a timer, say), and a trace of those milliseconds
says what.
"""
import asyncio
import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "sys"))
from gpiows_test import Client, Gpiows, free_port  # noqa: E402

WSBENCH = os.environ.get("GPIOWS_WSBENCH", "bench/wsbench")
PEERS = os.path.join(HERE, "peers")
PYTHON = "/usr/bin/python3"
NODE = shutil.which("node") or "/usr/bin/node"
PIN = os.environ.get("BENCH_NOPIN") is None and shutil.which("taskset") is not None
SERVER_CPU, CLIENT_CPU = "0", "1"
SERVER_CPUS = "0,1"     # but in the round trips

RTT_N = 200000
RTT_BLOCKS = 10         # turns each server takes at the round trips (run_rtt)
LISTENERS = 1000
IDLE_N = 10000
# Each connect to a peer broadcasts the users count to everyone: 10,000 of
# them take N^2/2 = 50 million sends, many minutes in Python.  The peers'
# memory per connection is measured with fewer (BENCH_PEER_IDLE to change).
IDLE_N_PEER = int(os.environ.get("BENCH_PEER_IDLE", "2000"))
SETUP_BASE, SETUP_N = 1000, 2000
# gpiows's hello lists the ended missions wsd keeps, at most 200: a board
# that has run missions for a while has that many.
SETUP_MISSIONS = 200


def pinned(cpu, cmd):
    return ["taskset", "-c", cpu] + cmd if PIN else cmd


def wait_port(port, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %d" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen on %d" % port)


def wsbench(kind, port, scenario, cpu_pids, rss_pid, args=(), cpu=CLIENT_CPU):
    cmd = pinned(cpu, [WSBENCH, "-k", kind, "-p", str(port), "-s", scenario,
                              "-P", ",".join(str(p) for p in cpu_pids),
                              "-R", str(rss_pid)] + list(args))
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=300)
    figs = {}
    for line in out.stdout.decode().splitlines():
        k, _, v = line.partition(" ")
        try:
            figs[k] = float(v)
        except ValueError:
            pass
    if out.returncode != 0 or out.stderr:
        sys.stderr.write("wsbench %s %s (exit %d): %s" % (kind, scenario, out.returncode,
                                                      out.stderr.decode()[-2000:]))
    return figs


class Server:
    """One server under test: start(), pids for CPU, pid for memory, stop()."""

    def __init__(self, cpus):
        self.cpus = cpus

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


class GpiowsServer(Server):
    name, kind = "gpiows", "gpiows"

    def start(self):
        self.g = Gpiows(extra="max clients 20000\n")
        self.g.start(prefix=pinned(self.cpus, []), verbose=False)
        kids = self.g.wait_children()
        self.port = self.g.port
        # The worker too: it is woken by changes of the pins missions wait on.
        self.cpu_pids = [self.g.proc.pid, kids["wsd"], kids["worker"]]
        self.rss_pid = kids["wsd"]

    def end_missions(self, n):
        """n missions, each run to its end."""
        async def run():
            c = await Client.connect(self.g)
            for i in range(n):
                r = await c.request({"op": "mission.start", "mission": {
                    "name": "bench %d" % i, "steps": [{"sleep": {"ms": 1}}]}})
                mid = r["mission"]
                await c.wait_for(lambda m: m.get("type") == "mission" and
                                 m["mission"]["id"] == mid and
                                 m["mission"]["state"] == "done", 5)
            await c.close()
        asyncio.run(run())

    def stop(self):
        log = self.g.close()
        if "fatal" in log or "seccomp" in log:
            sys.stderr.write("gpiows log:\n" + log[-3000:])


class ProcServer(Server):
    def start(self):
        self.port = free_port()
        # Their complaints about clients that leave without a close frame
        # are not figures.
        self.proc = subprocess.Popen(pinned(self.cpus, self.cmd + [str(self.port)]),
                                     cwd=PEERS, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)
        self.cpu_pids = [self.proc.pid]
        self.rss_pid = self.proc.pid

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class PythonServer(ProcServer):
    name, kind = "python websockets", "peer"
    cmd = [PYTHON, os.path.join(PEERS, "counter.py")]


class NodeServer(ProcServer):
    name, kind = "node ws", "peer"
    cmd = [NODE, os.path.join(PEERS, "counter.mjs")]


def pct_us(v, p):
    """As wsbench's pct_us: v sorted, in nanoseconds."""
    i = int(p / 100.0 * (len(v) - 1) + 0.5)
    return v[min(i, len(v) - 1)] / 1000.0


def move(server, cpu):
    """Every thread of every process of server onto cpu."""
    if not PIN:
        return
    for pid in server.cpu_pids:
        subprocess.run(["taskset", "-a", "-p", "-c", cpu, str(pid)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_rtt(classes):
    """The round trips of every server, taken in turns: all the servers up
    at once on CPU 0, each in turn makes RTT_N / RTT_BLOCKS toggles (after
    its own warm-up), RTT_BLOCKS times, whoever went first changing each
    time.  This machine has stretches of seconds in which a few percent of
    all round trips, anybody's, are 10 us slower; run one after the other,
    each server's p99 said mostly which stretch it ran in.  In turns, those
    stretches fall on every server alike.  While one server takes its turn
    the others wait on CPU 1, so that what they do in the background (Node's
    garbage collector after a turn, say) is not timed against it."""
    n = RTT_N // RTT_BLOCKS
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(cls(SERVER_CPU)) for cls in classes]
        trips = {s.name: [] for s in servers}
        cpu_s = {s.name: 0.0 for s in servers}
        for b in range(RTT_BLOCKS):
            k = b % len(servers)
            for s in servers[k:] + servers[:k]:
                for o in servers:
                    move(o, SERVER_CPU if o is s else CLIENT_CPU)
                with tempfile.NamedTemporaryFile("r") as tf:
                    f = wsbench(s.kind, s.port, "rtt", s.cpu_pids, s.rss_pid,
                                ["-n", str(n), "-o", tf.name], cpu=SERVER_CPU)
                    trips[s.name] += [tuple(map(int, x.split())) for x in tf]
                cpu_s[s.name] += f.get("rtt_cpu_s", 0.0)
    if os.environ.get("BENCH_TRIPS_DIR"):
        for name, v in trips.items():
            with open(os.path.join(os.environ["BENCH_TRIPS_DIR"],
                                   "rtt-%s.txt" % name.split()[0]), "w") as f:
                f.write("".join("%d %d\n" % x for x in v))
    res = {}
    for name, v in trips.items():
        v = sorted(d for _, d in v)
        if not v:
            res[name] = {}
            continue
        res[name] = {"rtt_n": len(v), "rtt_p50_us": pct_us(v, 50), "rtt_p99_us": pct_us(v, 99),
                     "rtt_p999_us": pct_us(v, 99.9),
                     "rtt_cpu_us_per_toggle": cpu_s[name] * 1e6 / len(v)}
        sys.stderr.write("  %s rtt: %s\n" % (name, " ".join(
            "%s=%g" % kv for kv in sorted(res[name].items()))))
    return res


def run_server(cls, scenarios):
    """Every scenario against a fresh server each, so none inherits
    another's connections or heap."""
    figs = {}
    for sc in scenarios:
        with cls(SERVER_CPU if sc == "rtt2" else SERVER_CPUS) as s:
            if sc == "rtt2":
                f = wsbench(s.kind, s.port, "rtt", s.cpu_pids, s.rss_pid, ["-n", str(RTT_N)])
                f = {k.replace("rtt_", "rtt2_"): v for k, v in f.items()}
            elif sc == "fanout":
                f = wsbench(s.kind, s.port, "fanout", s.cpu_pids, s.rss_pid,
                            ["-l", str(LISTENERS)])
            elif sc == "idle":
                f = wsbench(s.kind, s.port, "idle", s.cpu_pids, s.rss_pid,
                            ["-n", str(IDLE_N if s.kind == "gpiows" else IDLE_N_PEER)])
            else:
                f = wsbench(s.kind, s.port, "setup", s.cpu_pids, s.rss_pid,
                            ["-l", str(SETUP_BASE), "-n", str(SETUP_N)])
                if s.kind == "gpiows":
                    s.end_missions(SETUP_MISSIONS)
                    f2 = wsbench(s.kind, s.port, "setup", s.cpu_pids, s.rss_pid,
                                 ["-l", str(SETUP_BASE), "-n", str(SETUP_N)])
                    f["setup_missions_per_s"] = f2.get("setup_per_s")
        figs.update(f)
        sys.stderr.write("  %s %s: %s\n" % (cls.name, sc, " ".join(
            "%s=%g" % kv for kv in sorted(f.items()))))
    return figs


# figure key, label, unit, lower is better, target (value, "<=" or ">=") or
# "peer" (no worse than the best peer) or None.
ROWS = [
    ("rtt", "rtt_p50_us", "toggle round trip p50", "us", True, (20, "<=")),
    ("rtt", "rtt_p99_us", "toggle round trip p99", "us", True, "peer"),
    ("rtt", "rtt_p999_us", "toggle round trip p99.9", "us", True, None),
    ("rtt2", "rtt2_p50_us", "round trip p50, client on CPU 1", "us", True, None),
    ("rtt2", "rtt2_p99_us", "round trip p99, client on CPU 1", "us", True, None),
    ("fanout", "fanout_p50_us", "fan-out 1000: last in socket p50", "us", True, (3000, "<=")),
    ("fanout", "fanout_p99_us", "fan-out 1000: last in socket p99", "us", True, None),
    ("fanout", "fanout_read_p50_us", "fan-out 1000: last read by us p50", "us", True, None),
    ("fanout", "fanout_read_p99_us", "fan-out 1000: last read by us p99", "us", True, None),
    ("fanout", "flat_deliveries_per_s", "fan-out 1000: deliveries/s", "/s", False, None),
    ("fanout", "flat_cpu_us_per_delivery", "fan-out 1000: server CPU/delivery", "us", True,
     (1.5, "<=")),
    ("fanout", "paced_cpu_us_per_delivery", "fan-out 1000: CPU/delivery, paced", "us", True,
     None),
    ("idle", "idle_bytes_per_conn", "idle: memory/connection", "B", True, (4096, "<=")),
    ("setup", "setup_per_s", "setups/s with 1000 connected", "/s", False, (5000, ">=")),
    ("setup", "setup_missions_per_s", "the same, 200 ended missions", "/s", False, None),
]


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    only = os.environ.get("BENCH_ONLY", "gpiows,python,node").split(",")
    scenarios = os.environ.get("BENCH_SCENARIOS", "rtt,rtt2,fanout,idle,setup").split(",")
    servers = [c for c in (GpiowsServer, PythonServer, NodeServer)
               if c.name.split()[0] in only]
    if NodeServer in servers and not os.path.isdir(os.path.join(PEERS, "node_modules", "ws")):
        # The version package-lock.json pins, from the npm registry.
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEERS,
                           stdout=subprocess.DEVNULL)
        if r.returncode != 0:
            print("bench-ws: npm ci failed in %s: no node ws figures" % PEERS)
            servers.remove(NodeServer)
    with open("/proc/loadavg") as f:
        load0 = f.read().split()[:3]
    print("bench-ws: %s; load average at start %s" % (
        "load generator on CPU %s, servers on CPUs %s (round trips: CPU %s) (taskset)" %
        (CLIENT_CPU, SERVER_CPUS, SERVER_CPU) if PIN else "no CPU pinning",
        " ".join(load0)), flush=True)
    res = {cls.name: {} for cls in servers}
    if "rtt" in scenarios:
        for name, f in run_rtt(servers).items():
            res[name].update(f)
    for cls in servers:
        res[cls.name].update(run_server(cls, [sc for sc in scenarios if sc != "rtt"]))
    with open("/proc/loadavg") as f:
        load1 = f.read().split()[:3]

    names = [c.name for c in servers]
    peers = [n for n in names if n != "gpiows"]
    w = 36
    head = "%-*s" % (w, "figure") + "".join("%19s" % n for n in names) + \
        "  ratio to best peer  target"
    print(head)
    print("-" * len(head))
    for sc, key, label, unit, lower, target in ROWS:
        if sc not in scenarios:
            continue
        vals = [res[n].get(key) for n in names]
        pv = [res[p].get(key) for p in peers if res[p].get(key) is not None]
        best = (min(pv) if lower else max(pv)) if pv else None
        g = res.get("gpiows", {}).get(key)
        ratio = "-"
        if g is not None and best:
            # > 1 means gpiows is better, whichever way the figure goes.
            r = best / g if lower else g / best
            ratio = "%.1fx %s" % (r if r >= 1 else 1 / r, "better" if r >= 1 else "worse")
        t = ""
        if target == "peer":
            t = "<= best peer: %s" % ("met" if g is not None and best is not None
                                      and g <= best else "MISSED")
        elif target is not None:
            tv, op = target
            met = g is not None and (g <= tv if op == "<=" else g >= tv)
            t = "%s %s: %s" % (op, fmt(tv), "met" if met else "MISSED")
        print("%-*s" % (w, "%s (%s)" % (label, unit)) +
              "".join("%19s" % fmt(v) for v in vals) + "  %-19s %s" % (ratio, t))
    if "idle" in scenarios:
        print("idle: gpiows with %d connections, the peers with %d (each connect to a peer "
              "broadcasts to all)" % (IDLE_N, IDLE_N_PEER))
    print("load average at end %s; ratios: > 1x better means gpiows is better" %
          " ".join(load1))


main()
