"""Idle clients (ping interval of gpiows.conf(5)): a client that has sent
nothing for the interval gets an empty ping; one that then sends nothing
for another interval is closed with 1001; one that answers, or sends
anything, stays.  With ping interval 0 nobody is pinged."""
import asyncio
import os
import signal
import socket
import time

import websockets

from gpiows_test import Client, Gpiows, Tap
from rawws import Closed, RawWs, frame

t = Tap()
INTERVAL = 1.0
# Failure bounds only: a ping is due within 1.25 intervals of silence, the
# close within 1.25 more; the rest is room for a slow (sanitizer) build.
SLACK = 3.0


def next_control(c, timeout):
    """The next ping or close frame, skipping broadcasts."""
    return c.recv_op((8, 9), timeout)


async def library_client(g):
    # python3-websockets answers pings itself; its own pings are off, so
    # every byte it sends is a pong or a request.
    ws = await websockets.connect(g.url, open_timeout=5, ping_interval=None)
    c = Client(ws, None)
    await asyncio.sleep(INTERVAL * 5)
    r = await c.request({"op": "get", "pin": "led"})
    t.ok(r.get("ok") is True and ws.close_code is None,
         "a client that answers pings is still connected and served after 5 intervals",
         (r, ws.close_code))
    await c.close()


with Gpiows(extra="ping interval 1\n") as g:
    wsd = g.children()["wsd"]

    # The flow, seen by a client that never answers.
    silent = RawWs(g.port)
    start = time.monotonic()
    f = next_control(silent, INTERVAL * 2 + SLACK)
    t.ok(f[2] == 9 and f[3] == b"" and f[0] and not f[1],
         "a silent client is sent a ping with no payload", f)
    f = next_control(silent, INTERVAL * 2 + SLACK)
    code = int.from_bytes(f[3][:2], "big") if f[2] == 8 and len(f[3]) >= 2 else None
    t.ok(code == 1001 and f[3][2:] == b"ping not answered",
         "it is then closed with 1001 \"ping not answered\"", f)
    t.ok(silent.wait_eof(SLACK), "and its TCP connection is closed")
    t.ok(time.monotonic() - start < INTERVAL * 2.5 + SLACK,
         "it was dropped within 2.5 intervals (+ %.0f s bound)" % SLACK)
    silent.close()

    # A route WebSocket (/pin/NAME/ACTION) is swept the same way.
    route = RawWs(g.port, path="/pin/led/toggle", hello=False)
    f = next_control(route, INTERVAL * 2 + SLACK)
    t.ok(f[2] == 9 and f[3] == b"",
         "a silent route WebSocket is sent a ping with no payload", f)
    f = next_control(route, INTERVAL * 2 + SLACK)
    code = int.from_bytes(f[3][:2], "big") if f[2] == 8 and len(f[3]) >= 2 else None
    t.ok(code == 1001 and route.wait_eof(SLACK),
         "and is closed with 1001 when it does not answer", f)
    route.close()

    # A client that answers each ping with its pong.
    answering = RawWs(g.port)
    pings = 0
    try:
        for i in range(3):
            f = next_control(answering, INTERVAL * 2 + SLACK)
            if f[2] != 9:
                break
            pings += 1
            answering.send(frame(10, f[3]))
        r = answering.request({"op": "get", "pin": "led"})
    except (OSError, Closed) as e:
        r = {"error": repr(e)}
    t.ok(pings == 3 and r.get("ok") is True,
         "a client that answers with pongs is pinged again each idle interval "
         "and stays (%d pings)" % pings, r)
    answering.close()

    # Any frame shows the client is there, not only a pong.
    chatty = RawWs(g.port)
    f = next_control(chatty, INTERVAL * 2 + SLACK)
    chatty.send(frame(1, '{"op":"get","pin":"led","id":1}'))
    try:
        r = chatty.recv_reply(1)
        f = next_control(chatty, INTERVAL * 2 + SLACK)
        ok = f[2] == 9 and r.get("ok") is True
    except (OSError, Closed) as e:
        ok, f = False, repr(e)
    t.ok(ok, "a request instead of the pong also counts: the next thing is "
         "another ping, not a close", f)
    chatty.close()

    # Browsers cannot send a WebSocket ping: the protocol's own, and the
    # interval it should be sent after.
    pinger = RawWs(g.port)
    t.eq(pinger.hello.get("ping_interval"), 1,
         "the hello gives the ping interval of the configuration")
    pinger.send(frame(1, '{"op":"ping","id":"hb"}'))
    try:
        r = pinger.recv_reply("hb")
    except (OSError, Closed) as e:
        r = repr(e)
    t.eq(r, {"type": "reply", "id": "hb", "ok": True},
         "op ping is answered with a bare ok reply and its id")
    pinger.close()

    # A client that keeps talking is never pinged.
    busy = RawWs(g.port)
    pinged = False
    end = time.monotonic() + INTERVAL * 3
    n = 0
    while time.monotonic() < end:
        n += 1
        busy.send(frame(1, '{"op":"get","pin":"led","id":%d}' % n))
        try:
            while True:
                f = busy.recv_frame(0.2)
                if f[2] == 9:
                    pinged = True
        except socket.timeout:
            pass
    t.ok(not pinged, "a client that sends a request every 0.2 s for 3 intervals "
         "gets no ping")
    busy.close()

    # A client whose requests wait on a stopped helper waits on us: it is
    # not idle, though it sends nothing and answers no ping.
    waiting = RawWs(g.port)
    waiting.send(frame(1, '{"op":"toggle","pin":"led","id":1}') +
                 b"".join(frame(1, '{"op":"get","pin":"led","id":%d}' % i)
                          for i in range(2, 12)))
    os.kill(g.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(INTERVAL * 4)
    finally:
        os.kill(g.proc.pid, signal.SIGCONT)
    try:
        r = waiting.recv_reply(11, timeout=SLACK)
        ok = r.get("ok") is True
    except (OSError, Closed) as e:
        ok, r = False, repr(e)
    t.ok(ok, "a client with 11 requests held up for 4 intervals by a stopped helper "
         "is not dropped, and gets its answers", r)
    waiting.close()

    asyncio.run(library_client(g))
    t.eq(g.children().get("wsd"), wsd, "wsd is the same process throughout")

with Gpiows(extra="ping interval 0\n") as g:
    quiet = RawWs(g.port)
    t.eq(quiet.hello.get("ping_interval"), 0,
         "ping interval 0: the hello says 0")
    try:
        f = next_control(quiet, 3.0)
    except socket.timeout:
        f = None
    t.ok(f is None, "ping interval 0: a client silent for 3 s gets no ping and "
         "no close", f)
    r = quiet.request({"op": "get", "pin": "led"})
    t.ok(r.get("ok") is True, "and is still served")

    # A reload applies a new interval to the connections already open.
    with open(g.conf) as f:
        text = f.read()
    with open(g.conf, "w") as f:
        f.write(text.replace("ping interval 0\n", "ping interval 1\n"))
    g.proc.send_signal(signal.SIGHUP)
    try:
        f = next_control(quiet, INTERVAL * 2 + SLACK)
    except (socket.timeout, Closed) as e:
        f = repr(e)
    t.ok(isinstance(f, tuple) and f[2] == 9,
         "after a reload to ping interval 1, the open client is pinged", f)
    quiet.close()
t.done()
