"""Route WebSockets (/pin/NAME/on, /off, /toggle): each message performs the
action and is answered with the pin's new state or an error; /ws clients see
the changes as pin events; any other path is refused with 404 before the
upgrade; Origin, max clients and the protocol's close codes apply; route
clients are not users and get no broadcast; one gone before its answer does
no harm; at shutdown they are closed with 1001."""
import asyncio
import base64
import json
import os
import signal
import socket
import struct

import websockets

from gpiows_test import (Client, Gpiows, Tap, fds_back_to, handshake_status as handshake,
                         open_fds, raw_http, recv_head)

t = Tap()


def frame(opcode, payload, mask=True):
    n = len(payload)
    hdr = struct.pack("!BB", 0x80 | opcode, (0x80 if mask else 0) | n) if n < 126 else \
        struct.pack("!BBH", 0x80 | opcode, (0x80 if mask else 0) | 126, n)
    if not mask:
        return hdr + payload
    k = os.urandom(4)
    return hdr + k + bytes(c ^ k[i % 4] for i, c in enumerate(payload))


def raw_close_code(port, path, data):
    """Open path by hand, send data, return the code of the close frame."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" %
               (path, base64.b64encode(os.urandom(16)).decode())).encode())
    buf = recv_head(s, 1)
    assert buf.startswith(b"HTTP/1.1 101"), buf
    s.sendall(data)
    buf = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            buf += d
            while len(buf) >= 2 and len(buf) >= 2 + (buf[1] & 0x7f):
                op, n = buf[0] & 0x0f, buf[1] & 0x7f
                payload, buf = buf[2:2 + n], buf[2 + n:]
                if op == 8:
                    s.close()
                    return struct.unpack("!H", payload[:2])[0]
    except socket.timeout:
        pass
    s.close()
    return None


def pin_ev(name, value=None):
    return lambda m: (m.get("type") == "pin" and m["pin"] == name and
                      (value is None or m["value"] == value))


async def connect_status(url):
    """101 when python3-websockets opens url, else the refusal's status."""
    try:
        await websockets.connect(url, open_timeout=5)
        return 101
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code


async def act(r, msg="go"):
    await r.send(msg)
    return json.loads(await asyncio.wait_for(r.recv(), 3))


async def main(g):
    p = g.port
    base = "ws://127.0.0.1:%d" % p
    ws = await Client.connect(g)
    wsd_pid = g.children()["wsd"]

    on = await websockets.connect(base + "/pin/led/on", open_timeout=5)
    m = await act(on)
    ev = await ws.wait_for(pin_ev("led"))
    t.eq(sorted(m), ["pin", "seq", "value"], "a message on /pin/led/on: answered with pin, value, seq")
    t.eq((m["pin"], m["value"]), ("led", 1), "/pin/led/on: led is 1")
    t.eq((ev["value"], ev["source"], ev["seq"]), (1, "client", m["seq"]),
         "a /ws client sees the change as a pin event with the same seq, source client")
    m2 = await act(on, "{}")
    t.eq((m2["value"], m2["seq"]), (1, m["seq"]), "again (any text): still 1, the same last seq")
    t.eq([x for x in await ws.quiet(0.3) if x.get("type") == "pin"], [], "no event when nothing changed")

    off = await websockets.connect(base + "/pin/led/off", open_timeout=5)
    m = await act(off, "")
    t.eq((m["pin"], m["value"]), ("led", 0), "/pin/led/off (an empty message): led is 0")
    await ws.wait_for(pin_ev("led", 0))
    tog = await websockets.connect(base + "/pin/led/toggle", open_timeout=5)
    vals = [(await act(tog))["value"] for _ in range(3)]
    t.eq(vals, [1, 0, 1], "/pin/led/toggle three times: 1, 0, 1")
    evs = [(await ws.wait_for(pin_ev("led")))["value"] for _ in range(3)]
    t.eq(evs, [1, 0, 1], "the /ws client sees the three toggles in order")

    # Many messages at once: one answer each, in order.
    for _ in range(50):
        await tog.send("t")
    vals = [json.loads(await asyncio.wait_for(tog.recv(), 3))["value"] for _ in range(50)]
    t.eq(vals, [0, 1] * 25, "50 messages sent at once: 50 answers, alternating, in order")
    for _ in range(50):
        await ws.wait_for(pin_ev("led"))

    # Route clients are not users and get no broadcast.
    b = await Client.connect(g)
    t.eq(b.hello["users"], 2, "three routes open: a new /ws client counts 2 users, not 5")
    r = await ws.request({"op": "toggle", "pin": "led"})
    try:
        extra = await asyncio.wait_for(on.recv(), 0.5)
    except asyncio.TimeoutError:
        extra = None
    t.eq(extra, None, "a route client does not receive the broadcast of a /ws toggle")
    await b.close()

    # Input pin, binary message, busy.
    btn = await websockets.connect(base + "/pin/button/on", open_timeout=5)
    m = await act(btn)
    t.ok(m.get("pin") == "button" and m["error"]["code"] == "not_output" and
         "input" in m["error"]["message"], "/pin/button/on (an input): not_output error", m)
    await btn.close()
    await on.send(b"\x01\x02")
    m = json.loads(await asyncio.wait_for(on.recv(), 3))
    t.eq(m["error"]["code"], "binary_unsupported", "a binary message: binary_unsupported error")
    m = await act(on)
    t.eq(m["value"], 1, "and the route works after it")
    r = await ws.request({"op": "mission.start", "mission": {
        "name": "hold", "steps": [{"set": {"pin": "led", "value": 0}}, {"sleep": {"ms": 60000}}]}})
    mid = r["mission"]
    await ws.wait_for(lambda x: x.get("type") == "mission" and x["mission"]["id"] == mid and
                      x["mission"]["state"] == "running", 5)
    m = await act(tog)
    t.ok("error" in m and m["error"]["code"] == "busy" and m["error"]["mission"] == mid,
         "toggle while a mission holds led: busy, with the mission", m)
    await ws.request({"op": "mission.cancel", "mission": mid})
    await ws.wait_for(lambda x: x.get("type") == "mission" and x["mission"]["id"] == mid and
                      x["mission"]["state"] == "cancelled", 5)

    # Refused before the upgrade.
    for path, want in [("/pin/nosuch/on", 404), ("/pin/led/blink", 404), ("/pin/led", 404),
                       ("/pin/led/on/x", 404), ("/pin/led/", 404), ("/pin//on", 404),
                       ("/pin/led%2Fon/on", 404), ("/pin/../ws", 404), ("/pin/" + "x" * 3000 + "/on", 404),
                       ("/pins/led/on", 404), ("/index.html", 404), ("/api/pins/led", 404),
                       ("/pin/%6ced/on", 101), ("/pin/led/toggle?x=1", 101), ("/ws", 101)]:
        st = await asyncio.get_running_loop().run_in_executor(None, handshake, p, path)
        t.eq(st, want, "handshake on %s: %d" % (path if len(path) < 40 else path[:36] + "...", want))
    st = await connect_status(base + "/pin/nosuch/toggle")
    t.eq(st, 404, "python3-websockets on an unknown pin's route: refused with 404")
    st = await asyncio.get_running_loop().run_in_executor(
        None, handshake, p, "/pin/led/on", "http://evil.example")
    t.eq(st, 403, "a route from another origin: 403")
    st = await asyncio.get_running_loop().run_in_executor(
        None, handshake, p, "/pin/led/on", "http://127.0.0.1:%d" % p)
    t.eq(st, 101, "a route from the page's own origin: 101")

    # Protocol errors: the close codes of /ws.
    t.eq(await asyncio.get_running_loop().run_in_executor(
        None, raw_close_code, p, "/pin/led/toggle", frame(1, b"\xff\xfe")), 1007,
        "invalid UTF-8 on a route: close 1007")
    t.eq(await asyncio.get_running_loop().run_in_executor(
        None, raw_close_code, p, "/pin/led/toggle", frame(1, b"x", mask=False)), 1002,
        "unmasked frame on a route: close 1002")

    # Gone before the answers: no harm.
    for _ in range(10):
        r = await websockets.connect(base + "/pin/led/toggle", open_timeout=5)
        for _ in range(5):
            await r.send("t")
        r.transport.abort()
    await asyncio.sleep(0.5)
    m = await act(tog)
    t.ok("value" in m, "routes that left before their answers: the others still served", m)
    await ws.quiet(0.3)
    # For certain: the helper stopped until the route has gone.
    gone = g.logtext().count("its client has gone")
    wsd = g.children()["wsd"]
    fds = open_fds(wsd)
    r = await websockets.connect(base + "/pin/led/toggle", open_timeout=5)
    os.kill(g.proc.pid, signal.SIGSTOP)
    try:
        for _ in range(3):
            await r.send("t")
        await asyncio.sleep(0.3)
        r.transport.abort()
        freed = await fds_back_to(wsd, fds)
    finally:
        os.kill(g.proc.pid, signal.SIGCONT)
    for _ in range(3):
        await ws.wait_for(pin_ev("led"), 3)
    await asyncio.sleep(0.2)
    t.eq((freed, g.logtext().count("its client has gone") - gone), (True, 3),
         "a route gone before the helper answered: its 3 toggles made, the answers dropped")
    for x in (on, off, tog):
        await x.close()
    r = await ws.request({"op": "get", "pin": "led"})
    t.ok(r["ok"], "the /ws client is still served", r)
    t.eq(g.children().get("wsd"), wsd_pid, "wsd was never restarted")
    await ws.close()


with Gpiows() as g:
    asyncio.run(main(g))

# A reload that removes a route's pin: its messages get unknown_pin, the
# other routes and the API follow the new table.
with Gpiows() as g:
    async def reload():
        base = "ws://127.0.0.1:%d" % g.port
        a = await Client.connect(g)
        relay = await websockets.connect(base + "/pin/relay/off", open_timeout=5)
        led = await websockets.connect(base + "/pin/led/toggle", open_timeout=5)
        t.eq((await act(relay))["value"], 0, "before the reload: /pin/relay/off works")
        with open(g.conf) as f:
            conf = f.read()
        with open(g.conf, "w") as f:
            f.write("".join(l for l in conf.splitlines(True) if not l.startswith("pin relay")))
        g.proc.send_signal(signal.SIGHUP)
        h = await a.wait_for(lambda m: m.get("type") == "hello", 5)
        t.eq([x["name"] for x in h["pins"]], ["led", "button", "quiet"], "reloaded without relay")
        m = await act(relay)
        t.ok(m.get("pin") == "relay" and m["error"]["code"] == "unknown_pin",
             "a route whose pin the reload removed: unknown_pin, connection open", m)
        m = await act(led)
        t.eq((m.get("pin"), m.get("value")), ("led", 1), "a route on a pin the reload kept still works")
        st = await asyncio.get_running_loop().run_in_executor(None, handshake, g.port, "/pin/relay/on")
        t.eq(st, 404, "a new route on the removed pin: 404")
        api = await asyncio.get_running_loop().run_in_executor(None, lambda: raw_http(
            g.port, "GET /api/pins/relay HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
        t.ok(api.startswith(b"HTTP/1.1 404") and b'"unknown_pin"' in api,
             "GET /api/pins/relay after the reload: 404 unknown_pin", api)
        await relay.close()
        await led.close()
        await a.close()
    asyncio.run(reload())

# A client that goes at once after many messages (more than its 8 in
# flight): each is carried out, after a close frame or the end of its
# stream alike, on a route and on /ws.
def sent_then_gone(port, path, msg, n, how):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" %
               (path, base64.b64encode(os.urandom(16)).decode())).encode())
    assert recv_head(s, 1).startswith(b"HTTP/1.1 101")
    data = frame(1, msg) * n
    if how == "close frame":
        data += frame(8, struct.pack("!H", 1000))
    s.sendall(data)
    if how == "end of stream":
        s.shutdown(socket.SHUT_WR)
    else:
        s.close()
    return s


with Gpiows() as g:
    async def gone():
        o = await Client.connect(g)
        for path, msg, how in (("/pin/led/toggle", b"t", "close frame"),
                               ("/pin/led/toggle", b"t", "end of stream"),
                               ("/ws", b'{"op":"toggle","pin":"led"}', "close frame"),
                               ("/ws", b'{"op":"toggle","pin":"led"}', "end of stream")):
            s = await asyncio.get_running_loop().run_in_executor(
                None, sent_then_gone, g.port, path, msg, 50, how)
            got = [m for m in await o.quiet(1.0) if m.get("type") == "pin"]
            s.close()
            t.eq(len(got), 50, "50 toggles on %s, then at once its %s: all 50 done" % (path, how))
        await o.close()
    asyncio.run(gone())

# max clients counts route clients; shutdown closes them with 1001.
with Gpiows(extra="max clients 2\n") as g:
    async def limits():
        base = "ws://127.0.0.1:%d" % g.port
        a = await Client.connect(g)
        r = await websockets.connect(base + "/pin/led/on", open_timeout=5)
        st = await connect_status(base + "/pin/led/off")
        t.eq(st, 503, "max clients 2 with a /ws client and a route: a second route gets 503")
        st = await asyncio.get_running_loop().run_in_executor(None, handshake, g.port, "/ws")
        t.eq(st, 503, "and a /ws client gets 503 too")
        await a.close()
        await asyncio.sleep(0.2)
        r2 = await websockets.connect(base + "/pin/led/off", open_timeout=5)
        t.eq((await act(r2))["value"], 0, "after the /ws client leaves, a route gets in")
        await r2.close()
        await asyncio.sleep(0.2)
        await asyncio.get_running_loop().run_in_executor(None, g.stop)
        try:
            await asyncio.wait_for(r.wait_closed(), 5)
        except asyncio.TimeoutError:
            pass
        t.eq(r.close_code, 1001, "gpiod-helper stopping: a route client is closed with 1001")
    asyncio.run(limits())
t.done()
