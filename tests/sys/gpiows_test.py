"""Harness for the whole-system tests: start the real gpiod-helper (which
starts the real wsd and worker) on a simulated chip, and talk to it the way
a user would, with python3-websockets as the client.

Each test is a small script (one behaviour, relayd regress style) that
prints TAP, so every check counts on its own in `make check`.
"""

import asyncio
import base64
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import websockets

HELPER = os.environ.get("GPIOWS_HELPER", "gpiod-helper")
WSD = os.environ.get("GPIOWS_WSD", "wsd")
WORKER = os.environ.get("GPIOWS_WORKER", "gpiows-worker")
SRCDIR = os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), "..", ".."))

DEMO_PINS = """\
chip sim simulated lines 8
pin led chip sim line 0 output initial 0 safe 0
pin relay chip sim line 1 output active-low initial 1 safe 0
pin button chip sim line 2 input edge both bias pull-down
pin quiet chip sim line 3 input
"""


SANITIZERS = os.environ.get("GPIOWS_SANITIZERS") == "yes"
# What the sanitizers and valgrind print when they find something.
REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
           "LeakSanitizer has encountered", "seccomp: forbidden syscall")


class Tap:
    """TAP output: ok/not ok lines, the plan at the end, exit status.
    One per test script: Tap() always gives the same one."""

    _the = None

    def __new__(cls):
        if cls._the is None:
            cls._the = super().__new__(cls)
            cls._the.n = 0
            cls._the.failed = 0
        return cls._the

    def ok(self, cond, name, detail=None):
        self.n += 1
        print(("ok" if cond else "not ok") + " %d - %s" % (self.n, name), flush=True)
        if not cond:
            self.failed += 1
            if detail is not None:
                self.diag(detail)
        return cond

    def eq(self, got, want, name):
        return self.ok(got == want, name, "got %r, want %r" % (got, want))

    def skip(self, name, reason):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, reason), flush=True)

    def diag(self, text):
        for line in str(text).splitlines():
            print("# " + line, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def nobody():
    return pwd.getpwnam("nobody")


def rss_follows_live_heap():
    """In a sanitizer build, ASan keeps freed blocks in a quarantine
    (256 MiB) to catch use after free, so a process's RSS counts everything
    it ever freed, not what is live.  Turn the quarantine off for the
    processes started from now on (they inherit the environment), for tests
    that bound a process's memory by its RSS: it then follows the live heap
    again, plus ASan's shadow (1/8) and per-size caches."""
    if SANITIZERS:
        os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + \
            ":quarantine_size_mb=0"


class Gpiows:
    """One running gpiows: helper + wsd + worker, on a config of our own."""

    def __init__(self, pins=DEMO_PINS, extra="", user="nobody", run_as=None, www=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="gpiows-test-")
        self.dir = self.tmp.name
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "gpiows.conf")
        self.journal = os.path.join(self.dir, "journal")
        self.www = www or os.path.realpath(os.path.join(SRCDIR, "www"))
        self.log = os.path.join(self.dir, "helper.log")
        with open(self.conf, "w") as f:
            f.write("listen on 127.0.0.1 port %d\n" % self.port)
            f.write('www "%s"\n' % self.www)
            f.write('journal "%s"\n' % self.journal)
            f.write("user %s\n" % user)
            f.write(pins)
            f.write(extra)
        self.run_as = run_as
        self.proc = None
        self.url = "ws://127.0.0.1:%d/ws" % self.port

    def start(self, wait=True, prefix=(), verbose=True):
        """prefix: a command that runs the helper (taskset -c N, say);
        verbose=False: no -v (a benchmark does not measure debug logging)."""
        cmd = [HELPER, "-d"] + (["-v"] if verbose else []) + \
            ["-f", self.conf, "-w", WSD, "-m", WORKER]
        if self.run_as is not None:
            pw = self.run_as
            cmd = ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
                   "--clear-groups", "--"] + cmd
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        cmd = list(prefix) + cmd
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT)
        if wait:
            self.wait_serving()
        return self

    def wait_serving(self, timeout=10.0):
        """Until a WebSocket client gets its hello."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("helper exited with %d:\n%s" % (self.proc.returncode, self.logtext()))
            try:
                asyncio.run(self._probe())
                return
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException):
                time.sleep(0.02)
        raise RuntimeError("gpiows did not serve within %.0f s:\n%s" % (timeout, self.logtext()))

    async def _probe(self):
        async with websockets.connect(self.url, open_timeout=1) as ws:
            m = json.loads(await asyncio.wait_for(ws.recv(), 1))
            assert m["type"] == "hello"

    def logtext(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def children(self):
        """{name: pid} of the helper's running children."""
        out = {}
        pid = self.proc.pid
        # setpriv execs the helper: same pid.
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            return out
        for k in kids:
            try:
                with open("/proc/%d/cmdline" % k, "rb") as f:
                    argv0 = f.read().split(b"\0")[0].decode()
            except OSError:
                continue
            name = os.path.basename(argv0)
            out["wsd" if name == "wsd" else "worker" if name == "gpiows-worker" else name] = k
        return out

    def wait_children(self, old=None, timeout=5.0):
        """Until both children run (and differ from `old` where given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kids = self.children()
            if "wsd" in kids and "worker" in kids and \
                    (old is None or all(kids.get(k) != v for k, v in old.items())):
                return kids
            time.sleep(0.01)
        raise RuntimeError("children not running: %r\n%s" % (self.children(), self.logtext()))

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def __enter__(self):
        return self.start()

    def close(self):
        """Stop it and remove its directory; returns what it logged."""
        self.stop()
        self.logf.close()
        log = self.logtext()
        self.tmp.cleanup()
        return log

    def __exit__(self, *exc):
        log = self.close()
        bad = [l for l in log.splitlines() if any(r in l for r in REPORTS)]
        Tap().ok(not bad, "no sanitizer or sandbox reports in the logs", "\n".join(bad[:20]))
        if exc[0] is not None or bad or os.environ.get("GPIOWS_TEST_VERBOSE"):
            Tap().diag("helper log:\n" + log)


class Client:
    """A protocol client: a WebSocket, its hello, and what it received."""

    def __init__(self, ws, hello):
        self.ws = ws
        self.hello = hello
        self.next_id = 1000
        self.seen = []          # every message received, in order
        self.backlog = []       # received but not yet taken by wait_for

    @classmethod
    async def connect(cls, g):
        ws = await websockets.connect(g.url, open_timeout=5)
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert hello["type"] == "hello", hello
        return cls(ws, hello)

    async def recv(self, timeout=2.0):
        """The next message: from the backlog first, then the socket."""
        if self.backlog:
            return self.backlog.pop(0)
        m = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.seen.append(m)
        return m

    async def wait_for(self, pred, timeout=2.0):
        """The first message not yet taken for which pred is true; the
        others stay in the backlog, in order."""
        for i, m in enumerate(self.backlog):
            if pred(m):
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError()
            m = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            self.seen.append(m)
            if pred(m):
                return m
            self.backlog.append(m)

    async def request(self, msg, timeout=2.0):
        """Send msg with a fresh id; return the reply with that id."""
        self.next_id += 1
        msg = dict(msg, id=self.next_id)
        await self.ws.send(json.dumps(msg))
        rid = self.next_id
        return await self.wait_for(lambda m: m.get("type") == "reply" and m.get("id") == rid, timeout)

    async def quiet(self, timeout=0.3):
        """The backlog and everything that arrives within timeout."""
        got, self.backlog = self.backlog, []
        try:
            while True:
                m = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
                self.seen.append(m)
                got.append(m)
        except asyncio.TimeoutError:
            pass
        return got

    async def close(self):
        await self.ws.close()


def raw_http(port, text):
    """One request on a fresh connection; the answer until the server closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(text.encode())
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    s.close()
    return buf


def recv_head(s, chunk=4096):
    """What s sends up to the end of an HTTP head (or up to its EOF).  In
    chunks of 1 byte, nothing after the head is taken (the first frames of
    a WebSocket, say)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(chunk)
        if not d:
            break
        buf += d
    return buf


def handshake_status(port, path="/ws", origin=None, host=None, sock=None):
    """The status code of a WebSocket handshake sent by hand on path (None
    if the connection closes first).  origin: the Origin header, if any;
    host: the Host header (127.0.0.1:port by default); sock: an open socket
    to use, such as a TLS one."""
    s = sock or socket.create_connection(("127.0.0.1", port), timeout=5)
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
           "Sec-WebSocket-Version: 13\r\n" %
           (path, host or "127.0.0.1:%d" % port,
            base64.b64encode(os.urandom(16)).decode()))
    if origin is not None:
        req += "Origin: %s\r\n" % origin
    s.sendall((req + "\r\n").encode())
    head = recv_head(s)
    s.close()
    return int(head.split()[1]) if head else None


# The states a mission ends in.
MISSION_ENDED = ("done", "failed", "cancelled", "interrupted")


def mission_ev(mid, state=None):
    """A wait_for predicate: a mission event of mission mid (in state)."""
    return lambda m: (m.get("type") == "mission" and m["mission"]["id"] == mid and
                      (state is None or m["mission"]["state"] == state))


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


async def fds_back_to(pid, n, timeout=5.0):
    """Wait until process pid has n descriptors open again (connections it
    has freed): whether it got there."""
    deadline = time.monotonic() + timeout
    while open_fds(pid) > n and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return open_fds(pid) <= n


def backoff_ms(g, mark):
    """The helper's wait before its last restart of a child, logged after
    offset mark of its log ("next start in N ms"): 0 if none."""
    found = re.findall(r"next start in (\d+) ms", g.logtext()[mark:])
    return int(found[-1]) if found else 0


def restarted_in(t, elapsed, backoff, most, what):
    """A child the helper starts again at once, or after a back-off of at
    most `most` ms, is back (serving, or running) within a second of its
    start: ok if so."""
    t.ok(backoff <= most and elapsed - backoff / 1000 < 1.0,
         "%s is back within a second of its start (%.0f ms, %d of them the helper's "
         "back-off, at most %d)" % (what, elapsed * 1000, backoff, most))


def proc_status(pid, tid=None):
    """/proc/PID/status (or a thread's, /proc/PID/task/TID/status) as a
    dict of field -> value string."""
    out = {}
    path = "/proc/%d/status" % pid if tid is None else "/proc/%d/task/%d/status" % (pid, tid)
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out
