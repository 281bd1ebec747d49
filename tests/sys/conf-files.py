"""The configuration as a file, and the SIGHUP that reads it again:
a FIFO in its place is refused at once, by gpiod-helper -n and at a
reload, without stopping the helper's loop; a symbolic link switched to
another file is followed at the next SIGHUP, and relative paths in the file
still mean what they meant at start; a SIGHUP while the helper starts is a
reload, not its end."""
import asyncio
import os
import signal
import subprocess
import time

from gpiows_test import HELPER, REPORTS, Client, Gpiows, Tap, alive, free_port

t = Tap()

# ------------------------------------------------- -n on a FIFO, a device
tmp = Gpiows()
fifo = os.path.join(tmp.dir, "fifo.conf")
os.mkfifo(fifo)
for path in (fifo, "/dev/zero"):
    try:
        r = subprocess.run([HELPER, "-n", "-f", path], capture_output=True, text=True,
                           timeout=10)
        t.eq((r.returncode, r.stderr.strip()), (1, "%s: not a regular file" % path),
             "-n -f %s: refused at once, as not a regular file" % path)
    except subprocess.TimeoutExpired:
        t.ok(False, "-n -f %s: refused at once, as not a regular file" % path,
             "still waiting after 10 s")


async def toggle_reply(g, within=3.0):
    """The answer to a toggle, or "no answer": the helper's loop runs when
    it is ok.  One refused as "reloaded" (it raced a reload: the pin table
    wsd sent it with was replaced on the way) is asked again."""
    c = await Client.connect(g)
    try:
        for _ in range(3):
            r = await c.request({"op": "toggle", "pin": "led"}, timeout=within)
            if r.get("error", {}).get("code") != "reloaded":
                break
        return r
    except asyncio.TimeoutError:
        return "no answer within %g s" % within
    finally:
        await c.close()


async def toggled(g, within=3.0):
    r = await toggle_reply(g, within)
    return isinstance(r, dict) and r.get("ok") is True


# ------------------------------------------------------- SIGHUP on a FIFO
with Gpiows() as g:
    aside = g.conf + ".good"
    os.rename(g.conf, aside)
    os.mkfifo(g.conf)
    g.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    t.ok(asyncio.run(toggled(g)), "a SIGHUP with a FIFO for the file: the helper goes on serving")
    log = g.logtext()
    t.ok("gpiows.conf: not a regular file" in log and "not reloaded" in log,
         "and logs that the file is not a regular file and is not reloaded")
    os.unlink(g.conf)
    os.rename(aside, g.conf)

# ---------------------------------- a symbolic link, switched; relative paths
# The link is in the directory the helper starts with; the files it points
# to are in versions/, without the certificate, which is beside the link.
g = Gpiows()
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                os.path.join(g.dir, "key.pem"), "-out", os.path.join(g.dir, "cert.pem"),
                "-days", "30", "-subj", "/CN=gpiows test"],
               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
versions = os.path.join(g.dir, "versions")
os.mkdir(versions)
base = open(g.conf).read() + \
    "listen on 127.0.0.1 port %d tls\ntls certificate cert.pem key key.pem\n" % free_port()
with open(os.path.join(versions, "v1.conf"), "w") as f:
    f.write(base)
with open(os.path.join(versions, "v2.conf"), "w") as f:
    f.write(base + "pin fan chip sim line 5 output\n")
os.unlink(g.conf)
os.symlink("versions/v1.conf", g.conf)
r = subprocess.run([HELPER, "-n", "-f", g.conf], capture_output=True, text=True)
t.eq((r.returncode, r.stderr.strip()), (0, "configuration OK"),
     "-n: the link's file is good, its certificate found beside the link")
g.start()


async def reload():
    c = await Client.connect(g)
    mark = len(g.logtext())
    g.proc.send_signal(signal.SIGHUP)
    try:
        h = await c.wait_for(lambda m: m.get("type") == "hello", 3)
        names = [p["name"] for p in h["pins"]]
    except asyncio.TimeoutError:
        names = None
    await c.close()
    return names, g.logtext()[mark:]


names, log = asyncio.run(reload())
want = ["led", "relay", "button", "quiet"]
t.ok(names == want,
     "SIGHUP, the file unchanged: reloaded, relative paths from the link's directory",
     "got %r, want %r\n%s" % (names, want, log.strip()[-300:]))
os.unlink(g.conf)
os.symlink("versions/v2.conf", g.conf)
names, log = asyncio.run(reload())
want.append("fan")
t.ok(names == want, "SIGHUP after the link is switched: the new file's pins",
     "got %r, want %r\n%s" % (names, want, log.strip()[-300:]))
bad = [l for l in g.close().splitlines() if any(r in l for r in REPORTS)]
t.eq(bad, [], "no sanitizer or sandbox reports in the logs")

# ----------------------------------------------- SIGHUP while starting
# systemctl reload just after start: strace holds the helper in its bind,
# before its loop runs, for half a second, and the SIGHUP comes then.
# (LeakSanitizer cannot work in a traced process: off for this run.)
g = Gpiows()
trace = os.path.join(g.dir, "bind.trace")
asan = os.environ.get("ASAN_OPTIONS")
os.environ["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "detect_leaks=0"
g.start(wait=False, prefix=["strace", "-qq", "-o", trace, "-e", "trace=bind",
                            "-e", "inject=bind:delay_enter=500000"])
if asan is None:
    del os.environ["ASAN_OPTIONS"]
else:
    os.environ["ASAN_OPTIONS"] = asan
deadline = time.monotonic() + 10
while "bind(" not in (open(trace).read() if os.path.exists(trace) else "") and \
        time.monotonic() < deadline:
    time.sleep(0.005)
helper = int(open("/proc/%d/task/%d/children" % (g.proc.pid, g.proc.pid)).read().split()[0])
os.kill(helper, signal.SIGHUP)
try:
    g.wait_serving(10)
    r = asyncio.run(toggle_reply(g))
    why = "" if isinstance(r, dict) and r.get("ok") is True else "toggle: %s" % (r,)
except RuntimeError:
    why = "helper exit status %s" % g.proc.returncode
t.ok(not why and alive(helper), "a SIGHUP while the helper starts: it starts and serves",
     why or "the helper is gone")
t.ok("configuration reloaded" in g.logtext(), "and reloads its configuration once started")
os.kill(helper, signal.SIGTERM)
bad = [l for l in g.close().splitlines() if any(r in l for r in REPORTS)]
t.eq(bad, [], "no sanitizer or sandbox reports in the logs")

t.done()
