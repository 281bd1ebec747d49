"""The dashboard in a real browser (Debian's chromium, driven through
playwright-core by tests/browser/driver.mjs): two pages see each other's
changes within half a second, a mission outlives the page that started it,
a kill -9 of wsd shows the disconnected banner and the page's timing
diagram then has every change exactly once, error replies are shown, and
the page loads nothing from outside the board.

Screenshots, desktop (1280x800) and phone (360x740), light and dark, go to
$top_builddir/tests/browser/screenshots/.

Without node, playwright-core or chromium the test is skipped, with the
reason; with GPIOWS_BROWSER_REQUIRE=1 (tools/check) that is a failure.
"""
import asyncio
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

from gpiows_test import REPORTS, Client, Gpiows, SRCDIR, Tap

HERE = os.path.join(SRCDIR, "tests", "browser")
BUILD = os.environ.get("top_builddir", ".")
SHOTS = os.path.join(BUILD, "tests", "browser", "screenshots")


def skip_all(reason):
    if os.environ.get("GPIOWS_BROWSER_REQUIRE") == "1":
        print("Bail out! %s (GPIOWS_BROWSER_REQUIRE=1)" % reason, flush=True)
        sys.exit(1)
    print("1..0 # SKIP %s" % reason, flush=True)
    sys.exit(0)


class BrowserError(Exception):
    pass


class Browser:
    """tests/browser/driver.mjs: one command, one answer, in order."""

    def __init__(self):
        node = shutil.which("node") or shutil.which("nodejs")
        if node is None:
            skip_all("no node (apt-get install nodejs)")
        env = dict(os.environ)
        env.setdefault("GPIOWS_NODE_MODULES", os.path.join(HERE, "node_modules"))
        self.p = subprocess.Popen([node, os.path.join(HERE, "driver.mjs")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env=env, text=True)
        first = self.p.stdout.readline()
        try:
            ready = json.loads(first)
        except ValueError:
            skip_all("the browser driver did not start: %r" % first[:200])
        if not ready.get("ready"):
            self.p.wait()
            skip_all(ready.get("reason", "the browser is not usable"))
        self.version = ready.get("version")
        self.n = 0

    def call(self, cmd, **kw):
        self.n += 1
        kw.update(id=self.n, cmd=cmd)
        self.p.stdin.write(json.dumps(kw) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise BrowserError("the browser driver died")
        r = json.loads(line)
        if not r.get("ok"):
            raise BrowserError("%s: %s" % (cmd, r.get("error")))
        return r.get("value")

    def wait(self, page, expr, timeout=10000):
        """True once expr is true in page, False after timeout ms."""
        try:
            self.call("wait", page=page, expr=expr, timeout=timeout)
            return True
        except BrowserError as e:
            if "Timeout" not in str(e):
                raise
            return False

    def eval(self, page, expr):
        return self.call("eval", page=page, expr=expr)

    def quit(self):
        try:
            self.p.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.p.stdin.flush()
            self.p.wait(15)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()


t = Tap()
b = Browser()
t.diag("chromium %s" % b.version)
os.makedirs(SHOTS, exist_ok=True)

CONNECTED = 'document.body.dataset.conn === "connected" && ' \
            'document.querySelectorAll(".card").length > 0'


class BaitPage(http.server.BaseHTTPRequestHandler):
    """A page of another origin with the dashboard in a frame."""
    target = None

    def do_GET(self):
        body = ('<!doctype html><title>bait</title><button>Win</button>'
                '<iframe src="%s" width="1200" height="700"></iframe>' % self.target).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def card_value(pin, v):
    return 'document.querySelector("#pin-%s")?.dataset.value === "%d"' % (pin, v)


def shot(page, name):
    path = os.path.join(SHOTS, name + ".png")
    b.eval(page, "window.scrollTo(0, 0)")
    b.call("screenshot", page=page, path=path)
    return path


def run(coro):
    return asyncio.run(coro)


async def connect(g, tries=100):
    """A protocol client; while wsd restarts, try again."""
    for _ in range(tries):
        try:
            return await Client.connect(g)
        except (OSError, asyncio.TimeoutError, Exception):
            await asyncio.sleep(0.02)
    raise RuntimeError("cannot connect")


with Gpiows() as g:
    url = "http://127.0.0.1:%d/" % g.port
    origin = "http://127.0.0.1:%d/" % g.port

    # ------------------------------------------------------- two pages
    b.call("open", page="A", url=url)
    b.call("open", page="B", url=url)
    ok = b.wait("A", CONNECTED) and b.wait("B", CONNECTED)
    t.ok(ok, "pages A and B connect")
    names = b.eval("B", '[...document.querySelectorAll(".card h3")].map(e => e.textContent)')
    t.eq(names, ["led", "relay", "button", "quiet"], "every configured pin is a card, in order")
    t.ok(b.wait("A", '/^2 users online$/.test(document.querySelector("#users").textContent)', 3000),
         "A shows 2 users online")
    # Another site frames the dashboard under a bait (clickjacking): the
    # browser must refuse to show it, so it never connects.
    site = http.server.HTTPServer(("127.0.0.1", 0), BaitPage)
    BaitPage.target = url
    threading.Thread(target=site.serve_forever, daemon=True).start()
    b.call("open", page="F", url="http://localhost:%d/" % site.server_port)
    time.sleep(2)
    users = b.eval("B", 'document.querySelector("#users").textContent')
    t.eq(users, "2 users online",
         "a page of another site that frames the dashboard: the frame is refused, "
         "no third user")
    b.call("close", page="F")
    site.shutdown()
    site.server_close()
    t.ok(b.eval("B", '!!document.querySelector("#pin-button .press") && '
                     '!document.querySelector("#pin-led .press") && '
                     '!!document.querySelector("#pin-led button.toggle")'),
         "outputs have a switch, the simulated input a press control")

    b.call("click", page="A", selector="#pin-led button.toggle")
    t.ok(b.wait("B", card_value("led", 1), 500),
         "a click on led's switch in A shows in B within half a second")
    last = b.eval("B", 'document.querySelector("#pin-led .last").textContent')
    t.ok("by a client" in last, "B's card says when and by what led changed", last)

    # The keyboard alone: focus relay's switch, press Space.
    relay0 = int(b.eval("B", 'document.querySelector("#pin-relay").dataset.value'))
    b.call("press", page="A", selector="#pin-relay button.toggle", key=" ")
    t.ok(b.wait("B", card_value("relay", 1 - relay0), 500),
         "Space on relay's focused switch in A changes relay in B too")

    # A simulated press: one press and release is two edges.
    edges0 = int(b.eval("B", 'document.querySelector("#pin-button").dataset.edges || 0'))
    b.call("click", page="A", selector="#pin-button .press")
    t.ok(b.wait("B", 'Number(document.querySelector("#pin-button").dataset.edges || 0) >= %d'
                % (edges0 + 2), 1000),
         "pressing button in A lights B's button card on both edges")
    evs = b.eval("B", 'gpiows.events().filter(e => e.pin === "button").map(e => e.value)')
    t.eq(evs[-2:], [1, 0], "B's diagram has the press and the release of button")

    # ------------------------------------------------------ error replies
    b.eval("A", 'gpiows.send({op: "toggle", pin: "nope"}, "Toggling nope")')
    t.ok(b.wait("A", '[...document.querySelectorAll(".toast")].some(e => '
                     '/Toggling nope failed \\(unknown_pin\\)/.test(e.textContent) && '
                     '/no pin named/.test(e.textContent))', 2000),
         "an error reply is shown as a readable message (unknown_pin)")

    bad = '{\n  "name": "bad",\n  "steps": [\n    {"set": {"pin": "led", "value": 1}},\n' \
          '    {"sleep": {"ms": 0}}\n  ]\n}'
    b.call("click", page="A", selector="#tab-json")
    b.call("fill", page="A", selector="#json", value=bad)
    b.call("click", page="A", selector="#form-json button[type=submit]")
    t.ok(b.wait("A", '/^Line 5, column 22: steps\\[1\\]\\.sleep\\.ms: must be 1\\.\\.86400000/'
                     '.test(document.querySelector("#json-error").textContent)', 3000),
         "a bad_mission error is shown with its line and column",
         b.eval("A", 'document.querySelector("#json-error").textContent'))
    t.eq(b.eval("A", 'document.querySelector("#backdrop mark")?.textContent'), "0",
         "the editor marks the value at fault")
    shot("A", "editor-error-desktop-light")
    b.call("fill", page="A", selector="#json", value='{"name": "x" "steps": []}')
    b.call("click", page="A", selector="#form-json button[type=submit]")
    t.ok(b.wait("A", '/^Line 1, column 14: not valid JSON/'
                     '.test(document.querySelector("#json-error").textContent)', 2000),
         "a syntax error is shown where it is, before anything is sent",
         b.eval("A", 'document.querySelector("#json-error").textContent'))
    b.call("fill", page="A", selector="#json", value='{"name": "x", "colour": 1, "steps": []}')
    b.call("click", page="A", selector="#form-json button[type=submit]")
    b.wait("A", '/colour/.test(document.querySelector("#json-error").textContent)', 3000)
    t.eq(b.eval("A", 'document.querySelector("#backdrop mark")?.textContent'), '"colour"',
         "an unknown field is marked at its name")

    nested = '{"name": "x", "steps": [{"repeat": {"count": 2, "steps": [{"set": {"pin": "led"}}]}}]}'
    b.call("fill", page="A", selector="#json", value=nested)
    b.call("click", page="A", selector="#form-json button[type=submit]")
    col = nested.index('{"pin"') + 1
    t.ok(b.wait("A", '/^Line 1, column %d: steps\\[0\\]\\.repeat\\.steps\\[0\\]\\.set\\.value: is required/'
                     '.test(document.querySelector("#json-error").textContent)' % col, 3000),
         "a member missing deep inside repeats is shown at its object",
         b.eval("A", 'document.querySelector("#json-error").textContent'))

    # ----------------------------------- a mission outlives its page
    b.call("click", page="A", selector="#tab-blink")
    b.call("select", page="A", selector="#form-blink select[name=pin]", value="led")
    b.call("fill", page="A", selector="#form-blink input[name=count]", value="12")
    b.call("fill", page="A", selector="#form-blink input[name=period]", value="600")
    b.call("click", page="A", selector="#form-blink button[type=submit]")
    ok = b.wait("A", '!!document.querySelector(\'.mission[data-state="running"]\')', 3000)
    t.ok(ok, "A starts a blink from the template; it runs")
    mid = b.eval("A", 'Number(document.querySelector(\'.mission[data-state="running"]\')?.dataset.id)')
    t.ok(b.wait("B", 'document.querySelector("#pin-led button.toggle").disabled && '
                     '/Held by mission %d “blink led”/.test(document.querySelector("#pin-led .note").textContent)'
                % mid, 2000),
         "B shows led held by mission %s, its switch disabled" % mid)
    errs = b.call("close", page="A")
    t.eq(errs, [], "no script errors in A")
    time.sleep(0.8)
    b.call("open", page="C", url=url)
    t.ok(b.wait("C", CONNECTED), "page C, opened after A closed, connects")
    sel = '.mission[data-id="%d"]' % mid
    prog = b.eval("C", '(() => { const li = document.querySelector(\'%s\'); if (!li) return null; '
                       'const p = li.querySelector("progress"); '
                       'return [li.dataset.state, p.value, p.max]; })()' % sel)
    t.ok(prog is not None and prog[0] == "running" and 0 < prog[1] < prog[2],
         "C lists the mission as running, with its progress", prog)
    shot("C", "mission-running-desktop-light")
    t.ok(b.wait("C", '(() => { const li = document.querySelector(\'%s\'); '
                     'const p = li && li.querySelector("progress"); '
                     'return li && li.dataset.state === "done" && p.value === p.max; })()' % sel, 15000),
         "C sees it end done, its progress full")
    t.ok(b.wait("C", '/^Mission %d “blink led” done\\.$/.test(document.querySelector("#announce").textContent)'
                % mid, 2000),
         "and says so to screen readers (a change of state is announced)",
         b.eval("C", 'document.querySelector("#announce").textContent'))
    t.ok(b.wait("C", '!document.querySelector("#pin-led button.toggle").disabled', 2000),
         "led's switch is enabled again in C")
    evs = b.eval("C", 'gpiows.events().filter(e => e.source === "mission:%d")' % mid)
    # led was 1 already (the click above): the first "set 1" changes nothing.
    t.eq([e["value"] for e in evs], ([1, 0] * 12)[1:],
         "C's diagram has all 23 changes of the blink, those before it opened too")
    t.ok(any(e["replay"] for e in evs), "(those came from the server's history)")

    # A pulse from its template, cancelled from the list: led goes back to
    # its safe value 0.
    b.call("click", page="C", selector="#tab-pulse")
    b.call("fill", page="C", selector="#form-pulse input[name=ms]", value="20000")
    b.call("click", page="C", selector="#form-pulse button[type=submit]")
    ok = b.wait("C", '!!document.querySelector(\'.mission[data-state="running"]\') && '
                     + card_value("led", 1), 3000)
    t.ok(ok, "C starts a 20 s pulse from the template: led is 1")
    pid = b.eval("C", 'Number(document.querySelector(\'.mission[data-state="running"]\')?.dataset.id)')
    b.call("click", page="C", selector='.mission[data-id="%d"] .cancel' % pid)
    t.ok(b.wait("C", 'document.querySelector(\'.mission[data-id="%d"]\').dataset.state === "cancelled" && %s'
                % (pid, card_value("led", 0)), 3000),
         "Cancel ends it: cancelled, led back to its safe 0")

    # ------------------------------------------- kill -9 of wsd, resume
    B_seq0 = b.eval("B", "gpiows.state().lastSeq")
    kids = g.wait_children()
    COUNT = 400
    blink = {"name": "fast", "steps": [{"repeat": {"count": COUNT, "steps": [
        {"toggle": {"pin": "relay"}}, {"sleep": {"ms": 10}}]}}]}

    async def start_fast():
        c = await Client.connect(g)
        r = await c.request({"op": "mission.start", "mission": blink}, timeout=10)
        await c.close()
        return r
    r = run(start_fast())
    t.ok(r.get("ok"), "a mission toggles relay 400 times, every 10 ms", r)
    fast = r.get("mission")
    t.ok(b.wait("B", 'gpiows.events().filter(e => e.source === "mission:%d").length > 50' % fast, 3000),
         "B draws the fast mission's changes")
    f0 = b.eval("B", "gpiows.state().frames")
    b.eval("B", 'document.querySelector("#pin-led button.toggle").focus()')
    # The helper stopped first, no new wsd comes until it goes on: the
    # banner is not a state that may pass before it is looked for.
    os.kill(g.proc.pid, signal.SIGSTOP)
    try:
        os.kill(kids["wsd"], signal.SIGKILL)
        banner = b.wait("B", '!document.querySelector("#banner").hidden && '
                             'document.body.dataset.conn !== "connected" && '
                             'document.querySelector("#pin-led button.toggle")'
                             '.getAttribute("aria-disabled") === "true"', 5000)
        if banner:
            shot("B", "disconnected-desktop-light")
    finally:
        os.kill(g.proc.pid, signal.SIGCONT)
    t.ok(banner, "B shows the disconnected banner when wsd is killed, its switches marked inactive")

    async def pulls():
        """Edges from a client as soon as a new wsd serves: maybe before
        the page is back."""
        c = await connect(g)
        for i in range(20):
            await c.request({"op": "sim.pull", "pin": "button", "value": (i + 1) % 2})
        await c.close()
    run(pulls())
    t.ok(b.wait("B", 'document.querySelector("#banner").hidden && '
                     'document.body.dataset.conn === "connected" && !gpiows.state().resuming', 5000),
         "B reconnects by itself and the banner goes")
    t.ok(b.wait("B", '[...document.querySelectorAll(\'.mission[data-id="%d"]\')]'
                     '.some(li => li.dataset.state === "done")' % fast, 15000),
         "B sees the fast mission end")
    t.ok(b.eval("B", 'document.activeElement === document.querySelector("#pin-led button.toggle")'),
         "the keyboard focus stays on led's switch across the reconnect")
    led = b.eval("B", 'Number(document.querySelector("#pin-led").dataset.value)')
    b.call("click", page="B", selector="#pin-led button.toggle")
    t.ok(b.wait("B", card_value("led", 1 - led), 1000),
         "and the switch still switches led, to %d" % (1 - led))
    st = b.eval("B", "gpiows.state()")
    t.diag("frames drawn meanwhile: %d, longest gap between frames: %.0f ms" %
           (st["frames"] - f0, st["maxFrameGap"]))

    async def truth():
        c = await Client.connect(g)
        await c.request({"op": "get", "pin": "led"})
        rid = None
        got = []
        c.next_id += 1
        rid = c.next_id
        await c.ws.send(json.dumps({"op": "resume", "since": B_seq0, "id": rid}))
        while True:
            m = await c.recv(5)
            if m.get("type") == "pin" and m.get("replay"):
                got.append(m)
            elif m.get("type") == "reply" and m.get("id") == rid:
                break
        await c.close()
        return got, m
    server, reply = run(truth())
    t.ok(reply.get("ok"), "the server still has every change since (resume)", reply)
    page = b.eval("B", "gpiows.events().filter(e => e.seq > %d)" % B_seq0)
    seqs = [e["seq"] for e in page]
    t.eq(seqs, list(range(B_seq0 + 1, B_seq0 + 1 + len(seqs))),
         "B's diagram has contiguous seq numbers across the kill (%d changes)" % len(seqs))
    t.eq(len(set(seqs)), len(seqs), "and no change twice")
    key = lambda e: (e["seq"], e["pin"], e["value"], e["ts"])
    t.eq([key(e) for e in page], [key(e) for e in server],
         "they are exactly the changes the server made, in order")
    t.eq(len([e for e in page if e["source"] == "mission:%d" % fast]), COUNT,
         "all %d toggles of the fast mission are there" % COUNT)
    t.ok(any(e["replay"] for e in page), "some came by resume, while B was away",
         sum(1 for e in page if e["replay"]))
    st = b.eval("B", "gpiows.state()")
    t.eq((st["reconnects"], st["doubled"], st["missed"], st["gaps"]), (1, 0, 0, 0),
         "B: one reconnect, no change received twice, none missed, no hole")
    shot("B", "after-reconnect-desktop-light")

    # ------------------------------- many missions, the page stays small
    # 240 missions of 1 ms: the page keeps the 200 that ended last, as many
    # as a hello lists, and counts as a page opened now would.
    async def many_missions():
        c = await Client.connect(g)
        for k in range(30):
            for j in range(8):
                c.next_id += 1
                await c.ws.send(json.dumps({"op": "mission.start", "id": c.next_id,
                                            "mission": {"name": "short", "steps": [
                                                {"sleep": {"ms": 1}}]}}))
            for j in range(8):
                await c.wait_for(lambda m: m.get("type") == "reply", 5)
        await c.close()
    run(many_missions())
    t.ok(b.wait("B", '/^\\(0 active, 200 ended\\)$/.test(document.querySelector("#missions-count").textContent)', 5000),
         "240 more missions end: B keeps 200 ended, as a hello lists",
         b.eval("B", 'document.querySelector("#missions-count").textContent'))

    # -------------------------------- a reload, then gpiows restarted
    os.kill(g.proc.pid, signal.SIGHUP)
    t.ok(b.wait("B", '[...document.querySelectorAll(".toast")].some(e => '
                     '/Configuration reloaded/.test(e.textContent)) && '
                     'document.querySelectorAll(".card").length === 4', 3000),
         "B tells of a reload of the configuration, and keeps its cards")

    # The whole of gpiows stops and starts again: the changes made
    # meanwhile are not kept (history_gone), and B says so.
    b.call("open", page="P", url=url, width=360, height=740)
    t.ok(b.wait("P", CONNECTED), "a phone-sized page P connects")
    g.stop()
    g.logf.close()
    bad = [l for l in g.logtext().splitlines() if any(r in l for r in REPORTS)]
    t.ok(not bad, "no sanitizer or sandbox reports before the restart", "\n".join(bad[:20]))
    t.ok(b.wait("B", '!document.querySelector("#banner").hidden', 3000),
         "B shows the banner while gpiows is stopped")
    # On a phone the header and banner take a quarter of the screen: a
    # control the keyboard moves to must not stay hidden under them.
    t.ok(b.wait("P", '!document.querySelector("#banner").hidden', 3000),
         "and so does P")
    b.eval("P", '(() => { const e = document.querySelector("#pin-relay button.toggle");'
                ' window.scrollBy(0, e.getBoundingClientRect().top - '
                'document.querySelector(".sticky").getBoundingClientRect().bottom + 20);'
                ' document.querySelector("#pin-led button.toggle").focus({preventScroll: true}); })()')
    b.call("press", page="P", key="Tab")
    under = b.eval("P", '[document.activeElement.closest(".card")?.id, '
                        'document.activeElement.getBoundingClientRect().top, '
                        'document.querySelector(".sticky").getBoundingClientRect().bottom]')
    t.ok(under[0] == "pin-relay" and under[1] >= under[2],
         "P, 360 px: Tab to relay's switch, half under the banner, scrolls it "
         "out from under it (top %.0f, banner's bottom %.0f)" % tuple(under[1:]), under)
    errs = [e for e in b.call("close", page="P") if "WebSocket connection to" not in e]
    t.eq(errs, [], "no script errors in P")
    # (Playwright clicks only what is not aria-disabled: the keyboard, then.)
    b.eval("B", 'document.querySelector("#pin-led button.toggle").focus()')
    b.call("press", page="B", key="Enter")
    t.ok(b.wait("B", '[...document.querySelectorAll(".toast")].some(e => '
                     '/Setting led to \\d failed \\(offline\\): not connected/.test(e.textContent))', 2000),
         "a click while disconnected says that nothing was sent")
    g.start()
    t.ok(b.wait("B", 'document.body.dataset.conn === "connected" && !gpiows.state().resuming', 10000),
         "B reconnects to the new gpiows")
    t.ok(b.wait("B", '[...document.querySelectorAll(".toast")].some(e => '
                     '/Some changes were missed/.test(e.textContent))', 2000),
         "B says that the changes made while it was away are lost")
    st = b.eval("B", "gpiows.state()")
    t.eq((st["missed"], st["gaps"], st["doubled"]), (1, 1, 0),
         "its diagram keeps the hole (and has no change twice)")
    vals = b.eval("B", '[...document.querySelectorAll(".card")].map(c => [c.dataset.pin, Number(c.dataset.value)])')

    async def now_values():
        c = await Client.connect(g)
        await c.close()
        return [[p["name"], p["value"]] for p in c.hello["pins"]]
    t.eq(vals, run(now_values()), "B's cards show the pins as the new gpiows has them")
    shot("B", "restarted-desktop-light")

    # ----------------------------------------------- screenshots, looks
    b.call("close", page="C")
    for scheme in ("light", "dark"):
        for w, h, form in ((1280, 800, "desktop"), (360, 740, "phone")):
            name = "%s-%s" % (form, scheme)
            b.call("open", page=name, url=url, width=w, height=h, colorScheme=scheme)
            b.wait(name, CONNECTED)
            wide = b.eval(name, "document.documentElement.scrollWidth")
            t.ok(wide <= w, "%s: nothing wider than the %d px screen (%d)" % (name, w, wide))
            cut = b.eval(name, '[...document.querySelectorAll(".card, .panel, .missions, .mission, .m-head, .m-bar")]'
                               '.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className)')
            t.eq(cut, [], "%s: no card or panel cuts its content" % name)
            shot(name, name)
            # Screen readers, keyboard, contrast: axe-core's WCAG 2.1 AA rules.
            t.eq(b.call("axe", page=name), [],
                 "%s: no WCAG 2.1 A/AA violation found by axe-core" % name)
            b.call("click", page=name, selector="#tab-json")
            b.call("fill", page=name, selector="#json",
                   value='{\n  "name": "oops",\n  "steps": [\n    {"wait": {"pin": "quiet", "edge": "rising", "timeout_ms": 100}}\n  ]\n}')
            b.call("click", page=name, selector="#form-json button[type=submit]")
            b.wait(name, '/quiet/.test(document.querySelector("#json-error").textContent)', 3000)
            b.eval(name, 'document.querySelector("#missions-h").scrollIntoView()')
            b.call("screenshot", page=name, path=os.path.join(SHOTS, name + "-missions.png"),
                   fullPage=False)
            errs = b.call("close", page=name)
            t.eq(errs, [], "%s: no script errors" % name)

    # Nothing from outside the board: every request went to wsd.
    reqs = b.call("requests", page="B")
    outside = [u for u in reqs if not (u.startswith(origin) or u.startswith("data:") or
                                       u.startswith("ws://127.0.0.1:%d/" % g.port))]
    t.ok(reqs and not outside, "the page loads everything from wsd (%d requests)" % len(reqs),
         outside)
    errs = [e for e in b.call("close", page="B") if "WebSocket connection to" not in e]
    t.eq(errs, [], "no script errors in B (but the refused reconnects)")

# ------------------------------------------ a server that stops answering
# A stopped wsd (or a board cut off without a close) leaves the socket
# open and silent: only the page's own ping (op "ping") can find it.
with Gpiows(extra="ping interval 2\n") as g:
    b.call("open", page="H", url="http://127.0.0.1:%d/" % g.port)
    t.ok(b.wait("H", CONNECTED), "page H connects to a gpiows with ping interval 2")
    time.sleep(6)
    st = b.eval("H", "gpiows.state()")
    t.ok(st["conn"] == "connected" and st["reconnects"] == 0,
         "an idle page stays connected through 3 ping intervals", st)
    wsd = g.children()["wsd"]
    os.kill(wsd, signal.SIGSTOP)
    stopped = time.strftime("%H:%M:%S")
    try:
        down = b.wait("H", '!document.querySelector("#banner").hidden && '
                           'document.body.dataset.conn !== "connected"', 9000)
        text = b.eval("H", 'document.querySelector("#banner-text").textContent')
    finally:
        os.kill(wsd, signal.SIGCONT)
    t.ok(down, "wsd stopped: H shows the disconnected banner within 9 s")
    since = re.search(r"since (\d\d:\d\d:\d\d)", text)
    t.ok(since and since.group(1) <= stopped,
         "its \"since\" is when wsd was last heard, not when the page noticed "
         "(stopped at %s)" % stopped, text)
    t.ok(b.wait("H", CONNECTED + ' && document.querySelector("#banner").hidden && '
                     'gpiows.state().reconnects === 1', 15000),
         "when wsd goes on, H reconnects by itself")
    t.eq(g.children().get("wsd"), wsd, "the same wsd throughout")
    errs = [e for e in b.call("close", page="H") if "WebSocket connection to" not in e]
    t.eq(errs, [], "no script errors in H (but the refused reconnects)")
b.quit()
t.done()
