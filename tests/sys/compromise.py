#!/usr/bin/env python3
"""A child that breaks the IPC rules is treated as compromised.

gpiod-helper runs tests/rogue/rogue-child in wsd's place (-w), next to the
real worker.  For every kind of malformed or unpermitted request the helper
must kill the rogue and start it again, say why in its log, leak nothing the
rogue sent, leave the worker alone, and keep running; then stop cleanly on
SIGTERM.  A flood of valid requests is pressure, not a compromise: every one
is answered and the rogue is not restarted.
"""

import os
import re
import signal
import subprocess
import time

from gpiows_test import HELPER, WORKER, Gpiows, Tap, alive

ROGUE = os.environ.get("GPIOWS_ROGUE")

# mode -> what the rogue does (see tests/rogue/rogue-child.c)
MALFORMED = [
    ("short", "a datagram shorter than the header"),
    ("badlen", "hdr.len that does not match the payload"),
    ("version", "the wrong protocol version"),
    ("unpermitted", "IPC_PIN_INFO, which only the helper sends"),
    ("size", "IPC_PIN_SET with a payload one byte too long"),
    ("index", "IPC_PIN_SET of pin 9999"),
    ("value", "IPC_PIN_SET to 7"),
    ("source", "IPC_PIN_SET from wsd as a mission"),
    ("mission", "IPC_PIN_SET from wsd with a mission id"),
    ("getvalue", "IPC_PIN_GET with a value"),
    ("watch", "IPC_PIN_WATCH, which only the worker sends"),
    ("future", "IPC_PIN_SET naming a pin table not sent yet"),
    ("histflags", "IPC_HISTORY with a reserved flag set"),
    ("fd", "IPC_PIN_GET carrying an fd"),
    ("twofd", "IPC_PIN_GET carrying two fds"),
    ("empty", "an empty datagram carrying an fd"),
    ("empties", "two empty datagrams, both queued before the helper reads"),
]

# Modes that send an fd: the helper must not keep it.
FD_MODES = {"fd", "twofd", "empty"}

# Modes whose datagrams must all be waiting before the helper reads the
# first: the helper is stopped (SIGSTOP) while the rogue sends them.
GATED = {"empties"}

RESTART_TIMEOUT = 5.0


class RogueGpiows(Gpiows):
    """The helper with the rogue as its wsd, and the real worker."""

    def __init__(self, mode, gated=False, **kw):
        super().__init__(**kw)
        self.mode = mode
        self.rogue_log = os.path.join(self.dir, "rogue.log")
        self.gate = os.path.join(self.dir, "gate") if gated else None

    def start(self, wait=False):
        cmd = [HELPER, "-d", "-v", "-f", self.conf, "-w", ROGUE, "-m", WORKER]
        env = dict(os.environ, GPIOWS_ROGUE_MODE=self.mode,
                   GPIOWS_ROGUE_LOG=self.rogue_log)
        env.pop("GPIOWS_ROGUE_GATE", None)
        if self.gate is not None:
            env["GPIOWS_ROGUE_GATE"] = self.gate
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=env)
        return self

    def rogue_lines(self):
        try:
            with open(self.rogue_log) as f:
                return f.read().splitlines()
        except OSError:
            return []

    def starts(self):
        return self.rogue_lines().count("rogue started %s" % self.mode)

    def sent_pipes(self):
        """Inodes of the pipes the rogue sent, in order."""
        return [m.group(1) for m in
                (re.match(r"rogue sent pipe:\[(\d+)\]$", l) for l in self.rogue_lines())
                if m]

    def helper_fds(self):
        out = []
        d = "/proc/%d/fd" % self.proc.pid
        for name in os.listdir(d):
            try:
                out.append(os.readlink(os.path.join(d, name)))
            except OSError:
                pass
        return out


def wait_until(g, pred, timeout):
    """Until pred() holds, timeout passes or the helper exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        if g.proc.poll() is not None:
            break
        time.sleep(0.02)
    return pred()


def show_logs(t, g):
    t.diag("helper log:\n" + g.logtext())
    t.diag("rogue log:\n" + "\n".join(g.rogue_lines()))


def stop_and_check(t, g, name, rogue_pid):
    rc = g.stop()
    t.eq(rc, 0, "%s: on SIGTERM the helper exits with status 0" % name)
    t.ok(rogue_pid is None or not alive(rogue_pid),
         "%s: no rogue left behind" % name,
         "rogue pid %r still there" % rogue_pid)


def case_malformed(t, mode, what):
    failed = t.failed
    with RogueGpiows(mode, gated=mode in GATED) as g:
        name = "%s (%s)" % (mode, what)
        ok = wait_until(g, lambda: "worker" in g.children() and g.starts() >= 1,
                        RESTART_TIMEOUT)
        worker = g.children().get("worker")
        t.ok(ok, "%s: helper, worker and rogue start" % name,
             "children %r, rogue started %d times" % (g.children(), g.starts()))

        if g.gate is not None:
            ready = wait_until(g, lambda: "rogue ready %s" % mode in g.rogue_lines(),
                               RESTART_TIMEOUT)
            g.proc.send_signal(signal.SIGSTOP)
            try:
                open(g.gate, "w").close()
                sent = wait_until(g, lambda: "rogue %s: sent" % mode in g.rogue_lines(),
                                  RESTART_TIMEOUT)
            finally:
                g.proc.send_signal(signal.SIGCONT)
            t.ok(ready and sent, "%s: the rogue sends while the helper is stopped" % name)

        restarted = wait_until(g, lambda: g.starts() >= 2, RESTART_TIMEOUT)
        t.ok(restarted, "%s: the rogue is killed and started again within %g s"
             % (name, RESTART_TIMEOUT), "started %d times" % g.starts())
        # The first rogue's fate: later ones may differ in timing.
        log = g.logtext()
        first = re.search(r"wsd started, pid (\d+)", log)
        pid = first.group(1) if first else "?"
        fate = [l.strip() for l in log.splitlines() if "wsd[%s]" % pid in l]
        t.ok(any("treating it as compromised" in l for l in fate),
             "%s: the helper treats it as compromised" % name,
             "what the helper says of wsd[%s]: %r" % (pid, fate))
        if fate:
            t.diag(fate[0])
        t.ok(any("killed by signal 9" in l for l in fate),
             "%s: the helper kills it (SIGKILL)" % name,
             "what the helper says of wsd[%s]: %r" % (pid, fate))
        t.ok(g.proc.poll() is None, "%s: the helper is still running" % name,
             "exited with %r" % g.proc.returncode)

        if mode in FD_MODES:
            pipes = g.sent_pipes()
            links = g.helper_fds() if g.proc.poll() is None else []
            sent = "pipe:[%s]" % pipes[0] if pipes else None
            t.ok(sent is not None and sent not in links,
                 "%s: the helper does not keep the fd the rogue sent" % name,
                 "sent %r; helper fds: %r" % (sent, sorted(links)))

        t.eq(g.children().get("worker"), worker,
             "%s: the worker keeps running (same pid)" % name)
        rogue = g.children().get("rogue-child")
        stop_and_check(t, g, name, rogue)
        if t.failed != failed:
            show_logs(t, g)


def case_flood(t):
    failed = t.failed
    with RogueGpiows("flood") as g:
        name = "flood (10000 requests, replies unread)"
        done = wait_until(g, lambda: any(l.startswith("rogue reply")
                                      for l in g.rogue_lines()), 30)
        t.ok(done, "%s: the rogue gets through" % name)
        lines = g.rogue_lines()
        t.ok("rogue flood replies 10000 inorder 10000 ok 10000" in lines,
             "%s: every request answered, in order" % name,
             "rogue log: %r" % [l for l in lines if "flood" in l])
        t.ok("rogue reply 0 1" in lines,
             "%s: a set after the flood is answered" % name)
        time.sleep(0.5)
        t.eq(g.starts(), 1, "%s: the rogue was started once only" % name)
        t.ok("compromised" not in g.logtext(),
             "%s: no compromise reported" % name)
        t.ok(g.proc.poll() is None, "%s: the helper is still running" % name)
        rogue = g.children().get("rogue-child")
        t.ok(rogue is not None, "%s: the rogue is still running" % name)
        stop_and_check(t, g, name, rogue)
        if t.failed != failed:
            show_logs(t, g)


def case_good(t):
    failed = t.failed
    with RogueGpiows("good") as g:
        name = "good (one valid set)"
        wait_until(g, lambda: any(l.startswith("rogue reply")
                               for l in g.rogue_lines()), RESTART_TIMEOUT)
        t.ok("rogue reply 0 1" in g.rogue_lines(),
             "%s: the reply says ok, value 1" % name,
             "rogue log: %r" % g.rogue_lines())
        t.ok("rogue reply event seq same value 1" in g.rogue_lines(),
             "%s: the change it made comes in the same message, with the reply's seq"
             % name, "rogue log: %r" % g.rogue_lines())
        time.sleep(0.3)
        t.eq(g.starts(), 1, "%s: the rogue was started once only" % name)
        t.ok("compromised" not in g.logtext(),
             "%s: no compromise reported" % name)
        rogue = g.children().get("rogue-child")
        stop_and_check(t, g, name, rogue)
        if t.failed != failed:
            show_logs(t, g)


def main():
    t = Tap()
    if not ROGUE or not os.access(ROGUE, os.X_OK):
        t.skip("compromise", "GPIOWS_ROGUE is not an executable (%r)" % ROGUE)
        t.done()
    case_good(t)
    for mode, what in MALFORMED:
        case_malformed(t, mode, what)
    case_flood(t)
    t.done()


if __name__ == "__main__":
    main()
