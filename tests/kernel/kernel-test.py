"""Real-kernel tests of the gpiod backend (issue 5), run by tests/kernel/run.sh,
which makes the initramfs and passes it here with the kernel.

qemu boots Debian's kernel with gpio-sim; its chip "gpiows-sim" has 8 lines,
some named (tests/kernel/guest-init).  The real gpiod-helper, wsd and worker
run in the guest; this script is their WebSocket client through a forwarded
port, and reads and writes the gpio-sim attributes through the guest's
control shell on another.  On the gpio-sim side, for each line M:

    .../gpiochipN/sim_gpioM/value   what the line is: for an output, what
                                    its holder drives; for an input or a
                                    free line, what its pull makes it
    .../gpiochipN/sim_gpioM/pull    "pull-up" or "pull-down": the signal
                                    from outside, and what a bias sets

TAP on the standard output, through tests/sys/gpiows_test.py's Tap.
"""

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import websockets
from gpiows_test import REPORTS, Client, Tap, free_port

IMAGE = os.environ["GPIOWS_KERNEL_IMAGE"]
INITRD = os.environ["GPIOWS_KERNEL_INITRD"]
WORK = os.environ["GPIOWS_KERNEL_WORK"]
TIMEOUT = int(os.environ.get("GPIOWS_KERNEL_TIMEOUT", "240"))
HOST_HELPER = os.environ.get("GPIOWS_HELPER")

HELPER = "/usr/sbin/gpiod-helper"
CHILDREN = "-w /usr/libexec/gpiows/wsd -m /usr/libexec/gpiows/gpiows-worker"
EV = 10.0               # seconds to wait for something that must come
SLACK_US = 2000         # clock reading error allowed on timestamps

HEADER = """\
listen on * port 8080
www "/usr/share/gpiows/www"
journal "/var/lib/gpiows"
user gpiows
"""

# Lines of the simulated chip (guest-init), by offset.
LED, INV, BUTTON, DOOR, PU, BLINK, BUSY, SPARE = range(8)

t = Tap()


class GuestError(Exception):
    pass


class Guest:
    """The qemu guest: its console log, its control shell, wsd's port."""

    def __init__(self):
        self.http = free_port()
        self.ctl = free_port()
        self.url = "ws://127.0.0.1:%d/ws" % self.http
        self.console = os.path.join(WORK, "console.log")
        self.proc = None

    def accel(self):
        a = os.environ.get("GPIOWS_KERNEL_ACCEL", "auto")
        if a == "auto":
            hw = os.path.isdir("/sys/module/kvm_intel") or os.path.isdir("/sys/module/kvm_amd")
            a = "kvm" if hw and os.access("/dev/kvm", os.R_OK | os.W_OK) else "tcg"
        return a, (["-enable-kvm", "-cpu", "host"] if a == "kvm" else ["-accel", "tcg"])

    def boot(self, timeout=90.0):
        self.accel_name, opts = self.accel()
        cmd = ["timeout", "-k", "5", str(TIMEOUT), "qemu-system-x86_64", *opts,
               "-m", "512", "-smp", "2", "-nodefaults", "-no-user-config",
               "-display", "none", "-monitor", "none", "-no-reboot",
               "-serial", "file:" + self.console,
               "-kernel", IMAGE, "-initrd", INITRD,
               "-append", "console=ttyS0 quiet panic=-1",
               "-nic", "user,model=e1000,restrict=on,"
               "hostfwd=tcp:127.0.0.1:%d-:8080,hostfwd=tcp:127.0.0.1:%d-:7000"
               % (self.http, self.ctl)]
        self.qemu_log = open(os.path.join(WORK, "qemu.log"), "w")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=self.qemu_log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise GuestError("qemu exited with %d" % self.proc.returncode)
            if "GUEST-FAILED" in self.console_text():
                raise GuestError("the guest's init failed")
            try:
                rc, out = self.sh("cat /etc/gpiosim", timeout=5)
                if rc == 0:
                    self.sim = dict(l.split("=", 1) for l in out.split())
                    self.boot_s = time.monotonic() - self.t0
                    return
            except (OSError, GuestError):
                pass
            time.sleep(0.2)
        raise GuestError("no control shell within %.0f s" % timeout)

    def console_text(self):
        try:
            with open(self.console, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def sh(self, script, timeout=30.0):
        """Run script in the guest: (exit status, output)."""
        with socket.create_connection(("127.0.0.1", self.ctl), timeout=timeout) as s:
            s.sendall(script.encode() + b"\n")
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                c = s.recv(65536)
                if not c:
                    break
                data += c
        text = data.decode(errors="replace")
        m = re.search(r"@@rc=(\d+)\n?$", text)
        if m is None:
            raise GuestError("the control shell did not answer: %r" % text[-300:])
        return int(m.group(1)), text[:m.start()]

    async def ash(self, script, timeout=30.0):
        return await asyncio.to_thread(self.sh, script, timeout)

    async def out(self, script):
        """Output of script, which must succeed."""
        rc, out = await self.ash(script)
        if rc != 0:
            raise GuestError("guest: %r: exit %d: %s" % (script, rc, out))
        return out.strip()

    # gpio-sim attributes and libgpiod's view of the chip
    async def value(self, line):
        return int(await self.out("cat $sim/sim_gpio%d/value" % line))

    async def values(self, lines):
        out = await self.out(" ".join(["cat"] + ["$sim/sim_gpio%d/value" % l for l in lines]))
        return [int(v) for v in out.split()]

    async def pull(self, line, level):
        await self.out("echo %s >$sim/sim_gpio%d/pull" % ("pull-up" if level else "pull-down", line))

    async def pull_attr(self, line):
        return await self.out("cat $sim/sim_gpio%d/pull" % line)

    async def info(self):
        """gpioinfo of the chip: {offset: (name, consumer, direction, active, flags)}."""
        return self.parse_info(await self.out("gpioinfo $chip"))

    @staticmethod
    def parse_info(out):
        lines = {}
        for l in out.splitlines():
            m = re.match(r'\s*line\s+(\d+):\s+("[^"]*"|unnamed)\s+("[^"]*"|unused)\s+'
                         r'(input|output)\s+(active-\w+)\s*(?:\[([^\]]*)\])?', l)
            if m:
                lines[int(m.group(1))] = (m.group(2).strip('"'), m.group(3).strip('"'),
                                          m.group(4), m.group(5), (m.group(6) or "").split())
        return lines

    def poweroff(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.sh("poweroff -f", timeout=3)
            except (OSError, GuestError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.qemu_log.close()


class Helper:
    """One run of gpiod-helper in the guest, on a configuration of its own."""

    def __init__(self, guest, name, pins):
        self.g = guest
        self.name = name
        self.conf = "/etc/gpiows/%s.conf" % name
        self.text = HEADER + pins
        self.url = guest.url

    def lineno(self, needle):
        """The line of the configuration that holds needle."""
        for i, l in enumerate(self.text.splitlines(), 1):
            if needle in l:
                return i
        raise ValueError(needle)

    async def write(self):
        await self.g.out("cat >%s <<'EOF'\n%sEOF" % (self.conf, self.text))

    async def start(self):
        """In the background; until a WebSocket client gets its hello."""
        await self.write()
        n = self.name
        await self.g.out(
            "rm -f /tmp/%s.status; (sh -c 'echo $$ >/tmp/%s.pid; exec %s -d -v -f %s %s'; "
            "echo $? >/tmp/%s.status) >/tmp/%s.log 2>&1 </dev/null &"
            % (n, n, HELPER, self.conf, CHILDREN, n, n))
        self.pid = int(await self.g.out("waitfor test -s /tmp/%s.pid; cat /tmp/%s.pid" % (n, n)))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if await self.status() is not None:
                raise GuestError("%s: the helper exited:\n%s" % (n, await self.log()))
            try:
                c = await Client.connect(self)
                await c.close()
                return
            except (OSError, asyncio.TimeoutError, AssertionError,
                    websockets.exceptions.WebSocketException):
                await asyncio.sleep(0.1)
        raise GuestError("%s: not serving within 30 s:\n%s" % (n, await self.log()))

    async def run(self):
        """In the foreground, for a start that must fail: (status, output)."""
        await self.write()
        st, out = await self.g.ash("timeout 20 %s -d -f %s %s 2>&1" % (HELPER, self.conf, CHILDREN))
        t.diag("%s: exit %d: %s" % (self.name, st, out.strip()))
        return st, out

    async def status(self):
        out = await self.g.out("cat /tmp/%s.status 2>/dev/null || true" % self.name)
        return int(out) if out else None

    async def wait_exit(self, timeout=EV):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = await self.status()
            if st is not None:
                return st
            await asyncio.sleep(0.1)
        return None

    async def kill(self, sig):
        await self.g.out("kill -%s %d" % (sig, self.pid))

    async def stop(self):
        if await self.status() is None:
            await self.kill("TERM")
        return await self.wait_exit()

    async def log(self):
        return await self.g.out("cat /tmp/%s.log 2>/dev/null || true" % self.name)

    async def worker_pid(self):
        out = await self.g.out(
            "for k in $(cat /proc/%d/task/%d/children); do "
            "case $(cat /proc/$k/cmdline | tr '\\0' ' ') in *gpiows-worker*) echo $k;; esac; done"
            % (self.pid, self.pid))
        return int(out.split()[0])


async def connect(h):
    """A client whose pin events flow at once (wsd holds a new client's
    events until its first request, for a resume)."""
    c = await Client.connect(h)
    r = await c.request({"op": "mission.list"}, EV)
    assert r["ok"], r
    return c


def pin_ev(pin, source=None):
    return lambda m: (m.get("type") == "pin" and m["pin"] == pin and
                      (source is None or m["source"] == source))


def mission_ev(mid, states):
    return lambda m: (m.get("type") == "mission" and m["mission"]["id"] == mid and
                      m["mission"]["state"] in states)


def by_name(hello):
    return {p["name"]: p for p in hello["pins"]}


# ------------------------------------------------------------ startup errors

async def test_startup_errors(g):
    """A chip or line that is not there, and a line another program holds,
    stop the helper at start with the line of the configuration."""
    h = Helper(g, "nochip", 'chip gs "no-such-chip"\npin led chip gs line 0 output\n')
    st, out = await h.run()
    where = "%s:%d:" % (h.conf, h.lineno("chip gs"))
    t.ok(st == 1 and where in out and "no-such-chip" in out,
         "a chip that does not exist: exit 1, error at the chip's line", out)

    h = Helper(g, "noline", 'chip gs "gpiows-sim"\n'
               'pin led chip gs line "LED" output\n'
               'pin x chip gs line "NOPE" input\n')
    st, out = await h.run()
    where = "%s:%d:" % (h.conf, h.lineno('"NOPE"'))
    t.ok(st == 1 and where in out and '"NOPE"' in out,
         "a line name the chip does not have: exit 1, error at the pin's line", out)

    h = Helper(g, "nooffset", 'chip gs "gpiows-sim"\npin x chip gs line 8 input\n')
    st, out = await h.run()
    where = "%s:%d:" % (h.conf, h.lineno("line 8"))
    t.ok(st == 1 and where in out and "8" in out,
         "offset 8 of an 8-line chip: exit 1, error at the pin's line", out)

    h = Helper(g, "twice", 'chip gs "gpiows-sim"\n'
               'pin a chip gs line "DOOR" input\n'
               'pin b chip gs line 3 input\n')
    st, out = await h.run()
    where = "%s:%d:" % (h.conf, h.lineno("pin b"))
    t.ok(st == 1 and where in out,
         "two pins on one line, by name and by offset: exit 1, error at the second pin's line", out)

    # gpioset holds line BUSY until it is killed.
    await g.out("gpioset --mode=signal $chip %d=1 >/dev/null 2>&1 </dev/null & echo $! >/tmp/gpioset.pid; "
                "waitfor sh -c 'gpioinfo $chip | grep -q \"\\\"gpioset\\\"\"'" % BUSY)
    h = Helper(g, "busy", 'chip gs "gpiows-sim"\n'
               'pin led chip gs line "LED" output\n'
               'pin busy chip gs line "BUSY" output\n')
    st, out = await h.run()
    where = "%s:%d:" % (h.conf, h.lineno('"BUSY"'))
    t.ok(st == 1 and where in out and '"gpioset"' in out,
         "a line gpioset holds: exit 1, error at the pin's line naming \"gpioset\"", out)
    info = await g.info()
    t.eq((info[BUSY][1], await g.value(BUSY)), ("gpioset", 1),
         "gpioset keeps its line and its value")
    await g.out("kill $(cat /tmp/gpioset.pid); waitfor sh -c '! gpioinfo $chip | grep -q gpioset'")


# ---------------------------------------------------------------- locators

async def test_locators(g):
    """The same chip by path, by name and by number, in one configuration."""
    n = g.sim["chip"][len("gpiochip"):]
    h = Helper(g, "locators",
               'chip bypath "/dev/%s"\nchip byname "%s"\nchip bynumber "%s"\n'
               'pin p chip bypath line "LED" output initial 1 safe 0\n'
               'pin n chip byname line %d output initial 1 safe 0\n'
               'pin b chip bynumber line "BLINK" output initial 1 safe 0\n'
               % (g.sim["chip"], g.sim["chip"], n, INV))
    try:
        await h.start()
    except GuestError as e:
        t.ok(False, "chips found by path, name and number: the helper starts", e)
        return
    c = await connect(h)
    pins = by_name(c.hello)
    t.eq([pins[p]["value"] for p in "pnb"], [1, 1, 1],
         "chips found by path /dev/%s, name %s and number %s" % (g.sim["chip"], g.sim["chip"], n))
    t.eq(await g.values([LED, INV, BLINK]), [1, 1, 1],
         "each drives its line at its initial 1 (gpio-sim values)")
    await c.close()
    t.eq(await h.stop(), 0, "the helper stops with exit 0")


async def test_sigkill(g):
    """Killed, the helper sets no safe value: the kernel releases its lines
    (gpiod-helper(8)), and its children exit with it."""
    await g.pull(LED, 1)
    h = Helper(g, "sigkill", 'chip gs "gpiows-sim"\n'
               'pin led chip gs line "LED" output initial 1 safe 0\n')
    try:
        await h.start()
    except GuestError as e:
        t.ok(False, "SIGKILL: the helper starts", e)
        return
    await h.kill("KILL")
    await h.wait_exit()
    rc, out = await g.ash("waitfor sh -c '! pidof wsd gpiows-worker >/dev/null'")
    t.ok(rc == 0, "SIGKILL to the helper: wsd and the worker exit too", out)
    info = await g.info()
    t.eq((info[LED][1], await g.value(LED)), ("unused", 1),
         "and the kernel released led's line without setting its safe 0 (pull-up: 1)")
    await g.pull(LED, 0)


# ------------------------------------------------------------ the main run

MAIN = """\
chip gs "gpiows-sim"
pin led chip gs line "LED" output initial 0 safe 0
pin inv chip gs line 1 output active-low initial 0 safe 0
pin button chip gs line "BUTTON" input edge both bias pull-down
pin door chip gs line "DOOR" input edge both active-low
pin pu chip gs line 4 input bias pull-up
pin blink chip gs line "BLINK" output initial 1 safe 0
"""


async def test_start(g, h, c):
    pins = by_name(c.hello)
    got = {n: (p["direction"], p["value"], p.get("simulated"), p.get("active_low"))
           for n, p in pins.items()}
    t.eq(got, {"led": ("output", 0, False, False), "inv": ("output", 0, False, True),
               "button": ("input", 0, False, False), "door": ("input", 1, False, True),
               "pu": ("input", 1, False, False), "blink": ("output", 1, False, False)},
         "hello: the pins with their values from the kernel, none simulated")
    info = await g.info()
    t.eq([info[l][1] for l in range(6)], ["gpiows"] * 6,
         "lines 0-5 are requested with consumer \"gpiows\" (gpioinfo)")
    t.eq([info[l][1] for l in (BUSY, SPARE)], ["unused", "unused"], "lines 6-7 are not")
    t.eq([info[l][2] for l in range(6)], ["output", "output", "input", "input", "input", "output"],
         "directions reach the kernel")
    t.eq([info[l][3] for l in range(6)],
         ["active-high", "active-low", "active-high", "active-low", "active-high", "active-high"],
         "active-low reaches the kernel for inv and door only")
    t.ok("pull-down" in info[BUTTON][4] and "pull-up" in info[PU][4],
         "bias pull-down and pull-up reach the kernel (gpioinfo flags)", info)
    t.eq((await g.pull_attr(BUTTON), await g.pull_attr(PU)), ("pull-down", "pull-up"),
         "and gpio-sim: button's line was pulled up before, now down; pu's up")
    t.eq(await g.values([LED, INV, BLINK]), [0, 1, 1],
         "initial values on the lines: led 0, inv 0 (active-low: high), blink 1")


async def test_set(g, h, c):
    for v in (1, 0):
        r = await c.request({"op": "set", "pin": "led", "value": v}, EV)
        t.ok(r["ok"] and await g.value(LED) == v,
             "WebSocket set led %d: gpio-sim value of LED is %d" % (v, v), r)
    for v in (1, 0):
        r = await c.request({"op": "set", "pin": "inv", "value": v}, EV)
        g_v = await g.value(INV)
        r2 = await c.request({"op": "get", "pin": "inv"}, EV)
        t.ok(r["ok"] and g_v == 1 - v and r2["value"] == v,
             "active-low output: set inv %d drives the line %d, get says %d" % (v, 1 - v, v),
             (r, g_v, r2))


async def test_edges(g, h, c, other):
    # The edges arm when the IRQs are set up, shortly after the request.
    rc, out = await g.ash("waitfor sh -c '[ $(grep -c gpiows /proc/interrupts) -ge 2 ]'; "
                          "grep gpiows /proc/interrupts")
    t.ok(rc == 0, "both watched inputs have their interrupt (/proc/interrupts)", out)
    await c.quiet(0.1)
    for level, want, what in ((1, 1, "rising"), (0, 0, "falling")):
        before = int(await g.out("now"))
        await g.pull(BUTTON, level)
        after = int(await g.out("now"))
        try:
            e = await c.wait_for(pin_ev("button"), EV)
            e2 = await other.wait_for(pin_ev("button"), EV)
        except asyncio.TimeoutError:
            t.ok(False, "gpio-sim pull %s: a %s edge event" % (level, what))
            continue
        t.eq((e["value"], e["source"]), (want, "edge"),
             "writing %s to button's pull: edge event, value %d" % (
                 "pull-up" if level else "pull-down", want))
        t.ok(before - SLACK_US <= e["ts"] <= after + SLACK_US,
             "its ts is within the write (%d us after its start)" % (e["ts"] - before),
             (before, e["ts"], after))
        t.eq(e2, e, "the second client got the same event")
    r = await c.request({"op": "get", "pin": "button"}, EV)
    t.eq(r["value"], 0, "get button reads the line: 0")

    # Active-low input: a high line is 0, a low one 1.
    for level, want in ((1, 0), (0, 1)):
        await g.pull(DOOR, level)
        try:
            e = await c.wait_for(pin_ev("door"), EV)
            t.eq((e["value"], e["source"]), (want, "edge"),
                 "active-low input: line pulled %s, door event value %d" % (
                     "up" if level else "down", want))
        except asyncio.TimeoutError:
            t.ok(False, "active-low input: an edge event for door")
    r = await c.request({"op": "get", "pin": "door"}, EV)
    t.eq(r["value"], 1, "get door: 1 (line low)")

    # The kernel's timestamp, not the time the helper read the event: the
    # helper is stopped while the edge happens and for a second after.
    await h.kill("STOP")
    before = int(await g.out("now"))
    await g.pull(BUTTON, 1)
    after = int(await g.out("now"))
    await asyncio.sleep(1.0)
    resumed = int(await g.out("now"))
    await h.kill("CONT")
    try:
        e = await c.wait_for(pin_ev("button"), EV)
        t.ok(e["value"] == 1 and before - SLACK_US <= e["ts"] <= after + SLACK_US,
             "an edge while the helper is stopped has the time of the edge, %.2f s before "
             "the helper could read it" % ((resumed - e["ts"]) / 1e6), (before, e, after, resumed))
    except asyncio.TimeoutError:
        t.ok(False, "an edge while the helper is stopped is delivered after it resumes")
    await g.pull(BUTTON, 0)
    await c.wait_for(pin_ev("button"), EV)

    # An input without edge: read at each get.
    r1 = await c.request({"op": "get", "pin": "pu"}, EV)
    await g.pull(PU, 0)
    r2 = await c.request({"op": "get", "pin": "pu"}, EV)
    await g.pull(PU, 1)
    t.eq((r1["value"], r2["value"]), (1, 0), "get reads an input without edge from the line: 1, then 0")

    r = await c.request({"op": "sim.pull", "pin": "button", "value": 1}, EV)
    t.eq((r["ok"], r.get("error", {}).get("code")), (False, "not_simulated"),
         "sim.pull on a real chip: error not_simulated")
    t.eq(await g.pull_attr(BUTTON), "pull-down", "and the line was not touched")


async def test_blink(g, h, c):
    """A mission blinks blink; the gpio-sim side sees every value in order."""
    path = "$sim/sim_gpio%d/value" % BLINK
    # A shell loop in the guest records each change of the line's value.
    await g.out("rm -f /tmp/blink.stop; (last=x; while [ ! -e /tmp/blink.stop ]; do "
                "read v <%s; if [ \"$v\" != \"$last\" ]; then echo $v; last=$v; fi; done) "
                ">/tmp/blink.trace 2>&1 </dev/null & waitfor test -s /tmp/blink.trace" % path)
    mission = {"name": "blink", "steps": [
        {"repeat": {"count": 3, "steps": [
            {"set": {"pin": "blink", "value": 0}}, {"sleep": {"ms": 150}},
            {"set": {"pin": "blink", "value": 1}}, {"sleep": {"ms": 150}}]}},
        {"set": {"pin": "blink", "value": 0}}]}
    r = await c.request({"op": "mission.start", "mission": mission}, EV)
    t.ok(r.get("ok"), "mission.start blink", r)
    mid = r.get("mission")
    try:
        m = await c.wait_for(mission_ev(mid, ("done", "failed", "cancelled", "interrupted")), 20)
        t.eq(m["mission"]["state"], "done", "the mission is done")
    except asyncio.TimeoutError:
        t.ok(False, "the mission ends")
    trace = (await g.out("touch /tmp/blink.stop; sleep 0.2; cat /tmp/blink.trace")).split()
    t.eq(trace, ["1", "0", "1", "0", "1", "0", "1", "0"],
         "gpio-sim saw blink go 1 0 1 0 1 0 1 0")
    # The "pin" message of the last step may come after the "mission" one
    # that says done: they come from the helper and the worker.
    src = "mission:%d" % mid
    evs = lambda: [m["value"] for m in c.seen if m.get("type") == "pin" and m["source"] == src]
    try:
        while len(evs()) < 7:
            await c.wait_for(pin_ev("blink", src), 2)
    except asyncio.TimeoutError:
        pass
    t.eq(evs(), [0, 1, 0, 1, 0, 1, 0], "and the clients the same changes from %s" % src)


async def test_wait(g, h, c):
    """A mission waits for a real edge."""
    mission = {"name": "doorbell", "steps": [
        {"wait": {"pin": "button", "edge": "rising", "timeout_ms": 20000}},
        {"set": {"pin": "led", "value": 1}}]}
    r = await c.request({"op": "mission.start", "mission": mission}, EV)
    mid = r.get("mission")
    try:
        await c.wait_for(mission_ev(mid, ("running",)), EV)
    except asyncio.TimeoutError:
        t.ok(False, "a mission waiting for button runs")
        return
    await asyncio.sleep(0.3)
    t.eq(await g.value(LED), 0, "a mission waiting for a rising edge on button: led still 0")
    await g.pull(BUTTON, 1)
    try:
        m = await c.wait_for(mission_ev(mid, ("done", "failed", "cancelled", "interrupted")), EV)
        t.eq((m["mission"]["state"], await g.value(LED)), ("done", 1),
             "pulling button's line up ends the wait: the mission sets led, gpio-sim sees 1")
    except asyncio.TimeoutError:
        t.ok(False, "the edge ends the mission's wait")
    await g.pull(BUTTON, 0)


async def test_reload(g, h, c):
    """SIGHUP with the helper sandboxed: a pin goes, one comes on a chip
    opened then (the same one again, by label), the others keep their lines."""
    h.text = h.text.replace("pin pu chip gs line 4 input bias pull-up\n", "") + \
        'chip again "gpiows-sim"\npin spare chip again line 7 output initial 1 safe 0\n'
    await h.write()
    await h.kill("HUP")
    try:
        m = await c.wait_for(lambda m: m.get("type") == "hello", EV)
        t.eq([p["name"] for p in m["pins"]], ["led", "inv", "button", "door", "blink", "spare"],
             "SIGHUP: clients get a new hello without pu, with spare")
    except asyncio.TimeoutError:
        t.ok(False, "SIGHUP: clients get a new hello", await h.log())
        return
    info = await g.info()
    t.eq(([info[l][1] for l in range(8)], await g.value(SPARE)),
         (["gpiows"] * 4 + ["unused"] + ["gpiows", "unused", "gpiows"], 1),
         "the helper released pu's line 4 and requested line 7 at its initial 1")
    await g.pull(BUTTON, 1)
    try:
        e = await c.wait_for(pin_ev("button"), EV)
        t.eq((e["value"], e["source"]), (1, "edge"), "button, kept across the reload, still reports edges")
    except asyncio.TimeoutError:
        t.ok(False, "button, kept across the reload, still reports edges")
    await g.pull(BUTTON, 0)
    await c.wait_for(pin_ev("button"), EV)


async def test_safe(g, h, c):
    """At exit: outputs to their safe values, then the lines released.

    The helper releases the lines once its children have stopped; the worker
    is stopped (SIGSTOP) so that this takes the helper's 2 s grace period,
    during which the safe values can be read on the gpio-sim side."""
    await c.request({"op": "set", "pin": "led", "value": 1}, EV)
    await c.request({"op": "set", "pin": "inv", "value": 1}, EV)
    await c.request({"op": "set", "pin": "blink", "value": 1}, EV)
    await c.request({"op": "set", "pin": "spare", "value": 1}, EV)
    # LED's pull up: once released, its line goes high again.
    await g.pull(LED, 1)
    t.eq(await g.values([LED, INV, BLINK, SPARE]), [1, 0, 1, 1],
         "before the stop: led 1, inv 1 (low), blink 1, spare 1")
    await c.quiet(0.1)
    # In one go in the guest, so as to be well within the 2 s: until the
    # four lines are at their safe values, then who holds them.
    lines = (LED, INV, BLINK, SPARE)
    safe_lines = "".join(str(v) for v in (0, 1, 0, 0))
    rc, out = await g.ash(
        "kill -STOP %d; kill -TERM %d; "
        "waitfor sh -c '[ \"$(cat %s | tr -d \"\\n\")\" = %s ]' && echo SAFE; gpioinfo $chip"
        % (await h.worker_pid(), h.pid,
           " ".join("$sim/sim_gpio%d/value" % l for l in lines), safe_lines))
    info = g.parse_info(out)
    t.ok("SAFE" in out and [info[l][1] for l in lines] == ["gpiows"] * 4,
         "while the helper stops, the lines are held at their safe values: "
         "led 0, inv 0 (high), blink 0, spare 0", out)
    safe = set()
    try:
        while len(safe) < 4:
            m = await c.wait_for(lambda m: m.get("type") == "pin" and m["source"] == "safe", EV)
            safe.add((m["pin"], m["value"]))
    except asyncio.TimeoutError:
        pass
    t.eq(safe, {("led", 0), ("inv", 0), ("blink", 0), ("spare", 0)}, "clients are told the safe values")
    t.ok(await h.wait_exit() is not None, "the helper exits (killing the stopped worker after 2 s)")
    info = await g.info()
    t.eq([info[l][1] for l in range(8)], ["unused"] * 8, "after it, every line is released")
    t.eq(await g.value(LED), 1, "a released line follows its pull again (led's line: pull-up, 1)")
    await g.pull(LED, 0)


async def test_main(g):
    await g.pull(BUTTON, 1)     # bias pull-down must win over it
    h = Helper(g, "main", MAIN)
    try:
        await h.start()
    except GuestError as e:
        t.ok(False, "the helper starts on the gpio-sim chip", e)
        return None
    t.ok(True, "the helper starts on the gpio-sim chip, found by its label")
    c = await connect(h)
    other = await connect(h)
    await test_start(g, h, c)
    await test_set(g, h, c)
    await test_edges(g, h, c, other)
    await other.close()
    await test_blink(g, h, c)
    await test_wait(g, h, c)
    await test_reload(g, h, c)
    await test_safe(g, h, c)
    try:
        await c.close()
    except Exception:
        pass
    return h


# ---------------------------------------------------------------- drive

def grammar_has(option, pin="output"):
    """Whether gpiod-helper -n on the host takes a pin with option."""
    if not HOST_HELPER:
        return False
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write('chip c "x"\npin p chip c line 0 %s %s\n' % (pin, option))
        f.flush()
        r = subprocess.run([HOST_HELPER, "-n", "-f", f.name], capture_output=True)
        return r.returncode == 0


async def test_drive(g):
    names = ("open-drain", "open-source", "push-pull")
    if not grammar_has("drive open-drain"):
        for d in names:
            t.skip("drive %s reaches the kernel" % d, "gpiows.conf has no drive option yet")
        return
    h = Helper(g, "drive", 'chip gs "gpiows-sim"\n'
               'pin od chip gs line %d output drive open-drain\n'
               'pin os chip gs line %d output drive open-source\n'
               'pin pp chip gs line %d output drive push-pull\n' % (LED, INV, BLINK))
    try:
        await h.start()
    except GuestError as e:
        t.ok(False, "the helper starts with drive options", e)
        return
    info = await g.info()
    for line, d in zip((LED, INV, BLINK), names):
        flags = info[line][4]
        if d == "push-pull":
            t.ok("open-drain" not in flags and "open-source" not in flags,
                 "drive push-pull reaches the kernel", info[line])
        else:
            t.ok(d in flags, "drive %s reaches the kernel" % d, info[line])
    await h.stop()


async def test_debounce(g):
    """Software debounce (libgpiod 1.6 has no kernel debounce): a burst of
    edges shorter than the debounce time gives fewer events than edges, the
    last with the level the line settled at.  Whatever the helper's way of
    debouncing: without it, edges 20 ms apart are three events (1, 0, 1);
    closer ones the kernel may merge by itself.  The window is 1 s, so that
    a guest slowed down by a busy host (qemu without KVM) still makes its
    three edges well within it; a burst timed at over 800 ms (the timing
    includes starting the commands that read the clock) is not a
    test of it, and is made again."""
    name = "debounce: 3 edges 20 ms apart, within 1 s, give fewer events, ending at 1"
    if not grammar_has("debounce 1000ms", "input edge both"):
        t.skip(name, "gpiows.conf has no debounce option yet")
        return
    h = Helper(g, "debounce", 'chip gs "gpiows-sim"\n'
               'pin button chip gs line "BUTTON" input edge both debounce 1000ms\n')
    try:
        await h.start()
    except GuestError as e:
        t.ok(False, name, e)
        return
    c = await connect(h)
    await g.out("waitfor grep -q gpiows /proc/interrupts")
    tries = []
    for _ in range(3):
        took = int(await g.out(
            "p=$sim/sim_gpio%d/pull; a=$(now); echo pull-up >$p; usleep 20000; "
            "echo pull-down >$p; usleep 20000; echo pull-up >$p; b=$(now); "
            "echo $((b - a))" % BUTTON))
        # The window closes 1 s after the first edge: then no more events.
        await asyncio.sleep(1.2)
        evs = [m["value"] for m in await c.quiet(0.5) if m.get("type") == "pin"]
        tries.append((took, evs))
        if took < 800000:
            break
        # Back to a low line, its window closed, for the next burst.
        await g.pull(BUTTON, 0)
        await asyncio.sleep(1.2)
        await c.quiet(0.3)
    took, evs = tries[-1]
    t.ok(took < 800000 and 0 < len(evs) < 3 and evs[-1] == 1,
         name + " (burst %d ms)" % (took // 1000), tries)
    await c.close()
    await h.stop()
    await g.pull(BUTTON, 0)


# ------------------------------------------------------------------------

async def logs_clean(g):
    out = await g.out("cat /tmp/*.log 2>/dev/null || true")
    bad = [l for l in out.splitlines() if any(r in l for r in REPORTS)]
    t.ok(not bad, "no sanitizer or sandbox reports in the guest's helper logs", "\n".join(bad[:20]))
    if os.environ.get("GPIOWS_TEST_VERBOSE"):
        t.diag(out)


async def main(g):
    chip = g.sim["chip"]
    out = await g.out("gpiodetect")
    t.ok(re.search(r"^%s \[gpiows-sim\] \(8 lines\)" % chip, out, re.M),
         "gpio-sim made %s [gpiows-sim] with 8 lines" % chip, out)
    info = await g.info()
    t.eq([info[l][0] for l in range(8)],
         ["LED", "INV", "BUTTON", "DOOR", "unnamed", "BLINK", "BUSY", "unnamed"],
         "its lines are named through configfs")
    await test_startup_errors(g)
    await test_locators(g)
    await test_sigkill(g)
    h = await test_main(g)
    if h is not None and (t.failed or os.environ.get("GPIOWS_TEST_VERBOSE")):
        t.diag("main helper log:\n" + await h.log())
    await test_drive(g)
    await test_debounce(g)
    await logs_clean(g)


def run():
    # make's or timeout's SIGTERM: power the guest off all the same.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    g = Guest()
    try:
        try:
            g.boot()
        except GuestError as e:
            print("Bail out! the guest did not come up: %s" % e, flush=True)
            t.diag(g.console_text()[-4000:])
            sys.exit(1)
        t.ok(True, "qemu (%s) boots Debian's kernel with gpio-sim in %.1f s; control shell answers"
             % (g.accel_name, g.boot_s))
        t0 = time.monotonic()
        try:
            asyncio.run(main(g))
        except (GuestError, OSError, asyncio.TimeoutError) as e:
            t.ok(False, "the tests ran to the end", "%s: %s" % (type(e).__name__, e))
            try:
                t.diag(g.sh("tail -n 30 /tmp/*.log")[1])
            except (OSError, GuestError):
                t.diag(g.console_text()[-4000:])
        t.diag("guest tests %.1f s after the boot" % (time.monotonic() - t0))
    finally:
        g.poweroff()
    t.done()


if __name__ == "__main__":
    run()
