"""The HTTP API: GET/HEAD /api/pins and /api/pins/NAME, PUT {"value":0|1};
status codes, headers and JSON bodies; every change reaches /ws clients as a
pin event; odd paths, bad bodies, framing, Origin, busy and input pins
refused; keep-alive; a client gone before the helper's answer."""
import asyncio
import http.client
import json
import os
import signal
import socket
import struct
import time

from gpiows_test import Client, Gpiows, Tap, fds_back_to, open_fds

t = Tap()


def request(port, method, path, body=None, headers=None, conn=None):
    """(status, headers dict (lowercase names), raw body, parsed JSON or None)."""
    h = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    hdrs = dict(headers or {})
    if body is not None and "Content-Type" not in hdrs:
        hdrs["Content-Type"] = "application/json"
    hdrs = {k: v for k, v in hdrs.items() if v is not None}
    h.request(method, path, body=body, headers=hdrs)
    r = h.getresponse()
    raw = r.read()
    hd = {k.lower(): v for k, v in r.getheaders()}
    if conn is None:
        h.close()
    try:
        js = json.loads(raw) if raw else None
    except ValueError:
        js = None
    return r.status, hd, raw, js


def json_ok(t_, hd, raw, name):
    """Content-Type is JSON and Content-Length the body's length."""
    t_.ok(hd.get("content-type") == "application/json" and
          int(hd.get("content-length", -1)) == len(raw),
          name + ": Content-Type application/json, Content-Length %d" % len(raw), hd)


def raw(port, data, timeout=5):
    """Send bytes on a fresh socket; everything until the server closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    buf = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except socket.timeout:
        buf += b"<timeout>"
    s.close()
    return buf


def framed(hd, raw):
    """A JSON answer: its Content-Type, and a Content-Length that is its length."""
    return hd.get("content-type") == "application/json" and \
        int(hd.get("content-length", -1)) == len(raw)


def raw_headers(resp):
    """(headers dict, body) of a raw answer."""
    head, _, body = resp.partition(b"\r\n\r\n")
    hd = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        k, _, v = line.partition(":")
        hd[k.strip().lower()] = v.strip()
    return hd, body.split(b"<timeout>")[0]


def status_of(resp):
    return int(resp.split()[1]) if resp.startswith(b"HTTP/1.1 ") else resp[:40]


def body_of(resp):
    return json.loads(resp.partition(b"\r\n\r\n")[2].split(b"<timeout>")[0])


def pin_ev(name, value=None):
    return lambda m: (m.get("type") == "pin" and m["pin"] == name and
                      (value is None or m["value"] == value))


async def main(g):
    p = g.port
    ws = await Client.connect(g)
    wsd_pid = g.children()["wsd"]
    run = asyncio.get_running_loop().run_in_executor

    unframed = []       # answers without the JSON Content-Type or the right length
    nreq = 0

    async def req(*a, **k):
        nonlocal nreq
        st, hd, body, js = await run(None, lambda: request(p, *a, **k))
        nreq += 1
        if not (framed(hd, body) or (a[0] == "HEAD" and body == b"" and
                                     hd.get("content-type") == "application/json")):
            unframed.append((a[:2], st, hd))
        return st, hd, body, js

    # --- reading
    st, hd, body, js = await req("GET", "/api/pins")
    t.eq(st, 200, "GET /api/pins: 200")
    json_ok(t, hd, body, "GET /api/pins")
    t.eq(hd.get("cache-control"), "no-store", "GET /api/pins: Cache-Control no-store")
    t.eq(js["pins"], ws.hello["pins"], "GET /api/pins: the pins exactly as in hello")
    t.eq(js["seq"], ws.hello["seq"], "GET /api/pins: seq as in hello")
    st, hd, body, js = await req("GET", "/api/pins/led")
    t.eq(st, 200, "GET /api/pins/led: 200")
    json_ok(t, hd, body, "GET /api/pins/led")
    t.eq(js, ws.hello["pins"][0], "GET /api/pins/led: led as in hello")
    glen = len(body)
    st, hd, body, js = await req("HEAD", "/api/pins/led")
    t.eq((st, int(hd["content-length"]), body, hd["content-type"]),
         (200, glen, b"", "application/json"), "HEAD /api/pins/led: 200, GET's length, no body")
    st, hd, body, js = await req("HEAD", "/api/pins")
    t.eq((st, body), (200, b""), "HEAD /api/pins: 200, no body")
    st, hd, body, js = await req("GET", "/api/pins/nosuch")
    t.eq(st, 404, "GET unknown pin: 404")
    json_ok(t, hd, body, "GET unknown pin")
    t.ok(js["error"]["code"] == "unknown_pin" and "nosuch" in js["error"]["message"],
         "GET unknown pin: unknown_pin naming it", js)

    # --- setting: 200 after the helper, and the /ws client sees the event
    st, hd, body, js = await req("PUT", "/api/pins/led", '{"value":1}')
    t.eq(st, 200, "PUT led 1: 200")
    json_ok(t, hd, body, "PUT led 1")
    t.eq((js["name"], js["value"], js["source"], js["direction"]), ("led", 1, "client", "output"),
         "PUT led 1: the pin's new state")
    ev = await ws.wait_for(pin_ev("led"))
    t.eq((ev["value"], ev["source"], ev["seq"]), (1, "client", js["seq"]),
         "a /ws client sees the PUT as a pin event, source client, the same seq")
    st, hd, body, js2 = await req("GET", "/api/pins/led")
    t.eq((js2["value"], js2["seq"]), (1, js["seq"]), "GET after PUT: value 1, that seq")
    st, hd, body, js = await req("PUT", "/api/pins/led", '{"value": 1}',
                                 {"Content-Type": "application/json; charset=utf-8"})
    t.eq((st, js["value"], js["seq"]), (200, 1, js2["seq"]),
         "PUT the value it has (with a charset): 200, same seq")
    t.eq([m for m in await ws.quiet(0.3) if m.get("type") == "pin"], [],
         "no pin event when nothing changed")
    st, hd, body, js = await req("PUT", "/api/pins/relay", '{"value":0}', {"Content-Type": None})
    t.eq((st, js["value"]), (200, 0), "PUT without Content-Type: accepted")
    await ws.wait_for(pin_ev("relay", 0))

    # --- bad bodies: 400 naming the field, connection kept
    for text, code, word in [
            ('{"value":2}', "bad_value", "value"),
            ('{"value":"1"}', "bad_value", "value"),
            ('{"value":true}', "bad_value", "value"),
            ('{"value":1.0}', "bad_value", "value"),
            ('{"volume":1}', "bad_request", "value"),
            ('[1]', "bad_request", "value"),
            ('{"value":1', "bad_json", "json"),
            ('{"value":0,"value":1}', "bad_json", "duplicate"),
            ('', "bad_json", "json")]:
        st, hd, body, js = await req("PUT", "/api/pins/led", text)
        t.ok(st == 400 and hd.get("connection") == "keep-alive" and framed(hd, body) and
             js["error"]["code"] == code and word in js["error"]["message"].lower(),
             "PUT %-24s -> 400 %s (names %s)" % (text, code, word), (st, hd, js))

    # --- conflicts
    st, hd, body, js = await req("PUT", "/api/pins/button", '{"value":1}')
    t.ok(st == 409 and js["error"]["code"] == "not_output" and "button" in js["error"]["message"],
         "PUT on an input: 409 not_output", (st, js))
    st, hd, body, js = await req("PUT", "/api/pins/nosuch", '{"value":1}')
    t.eq((st, js["error"]["code"]), (404, "unknown_pin"), "PUT on an unknown pin: 404 unknown_pin")
    r = await ws.request({"op": "mission.start", "mission": {
        "name": "hold", "steps": [{"set": {"pin": "led", "value": 0}}, {"sleep": {"ms": 60000}}]}})
    mid = r["mission"]
    await ws.wait_for(lambda m: m.get("type") == "mission" and m["mission"]["id"] == mid and
                      m["mission"]["state"] == "running", 5)
    await ws.wait_for(pin_ev("led", 0), 5)
    st, hd, body, js = await req("PUT", "/api/pins/led", '{"value":1}')
    t.ok(st == 409 and js["error"]["code"] == "busy" and js["error"]["mission"] == mid and
         "hold" in js["error"]["message"], "PUT during a mission's hold: 409 busy with the mission",
         (st, js))
    json_ok(t, hd, body, "409 busy")
    r = await ws.request({"op": "mission.cancel", "mission": mid})
    await ws.wait_for(lambda m: m.get("type") == "mission" and m["mission"]["id"] == mid and
                      m["mission"]["state"] == "cancelled", 5)
    st, hd, body, js = await req("PUT", "/api/pins/led", '{"value":1}')
    t.eq((st, js["value"]), (200, 1), "after the cancel, PUT is served again")
    await ws.wait_for(pin_ev("led", 1))

    # --- methods
    for m, path, allow in [("POST", "/api/pins/led", "GET, HEAD, PUT"),
                           ("DELETE", "/api/pins/led", "GET, HEAD, PUT"),
                           ("OPTIONS", "/api/pins/led", "GET, HEAD, PUT"),
                           ("PUT", "/api/pins", "GET, HEAD"),
                           ("POST", "/api/pins", "GET, HEAD")]:
        st, hd, body, js = await req(m, path, "{}" if m in ("POST", "PUT") else None)
        t.ok(st == 405 and hd.get("allow") == allow and framed(hd, body) and
             js["error"]["code"] == "method_not_allowed",
             "%s %s: 405, Allow: %s" % (m, path, allow), (st, hd, js))

    # --- Origin (cross-site): PUT refused from another origin
    st, hd, body, js = await req("PUT", "/api/pins/led", '{"value":0}',
                                 {"Origin": "http://evil.example"})
    t.eq((st, js["error"]["code"]), (403, "forbidden_origin"), "PUT from another origin: 403")
    st, hd, body, js = await req("GET", "/api/pins/led")
    t.eq(js["value"], 1, "and the pin did not change")
    st, hd, body, js = await req("PUT", "/api/pins/led", '{"value":0}',
                                 {"Origin": "http://127.0.0.1:%d" % p})
    t.eq((st, js["value"]), (200, 0), "PUT from the page's own origin: 200")
    await ws.wait_for(pin_ev("led", 0))
    st, hd, body, js = await req("PUT", "/api/pins/led", '{"value":1}', {"Content-Type": "text/plain"})
    t.ok(st == 415 and js["error"]["code"] == "unsupported_media_type" and
         "text/plain" in js["error"]["message"], "PUT with Content-Type text/plain: 415", (st, js))
    st, hd, body, js = await req("PUT", "/api/pins/led", '{"value":1}',
                                 {"Content-Type": "application/x-www-form-urlencoded"})
    t.eq(st, 415, "PUT as a form (what a cross-site form can send): 415")

    # --- odd paths
    for path, want, code in [
            ("/api/pins/", 404, "not_found"),
            ("/api/pins/../pins/led", 404, "not_found"),
            ("/api/pins/..", 404, "not_found"),
            ("/api/pins/%2e%2e", 404, "not_found"),
            ("/api/pins/led/", 404, "not_found"),
            ("/api/pins/led/x", 404, "not_found"),
            ("/api/pins/led%2Fx", 404, "unknown_pin"),
            ("/api/pins/led%00", 400, "bad_request"),
            ("/api/pins/%zz", 400, "bad_request"),
            ("/api/pins/led/a/b/c/%zz", 400, "bad_request"),
            ("/api/pins/%ff%fe", 404, "unknown_pin"),
            ("/api/pins/" + "x" * 4000, 404, "unknown_pin"),
            ("/api/pins/" + "l" * 31 + "x", 404, "unknown_pin"),
            ("/api", 404, "not_found"),
            ("/api/", 404, "not_found"),
            ("/api/other", 404, "not_found"),
            ("/api/pinsx", 404, "not_found")]:
        resp = await run(None, raw, p, ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                                        % path).encode())
        st = status_of(resp)
        try:
            js = body_of(resp)
        except ValueError:
            js = None
        t.ok(st == want and js is not None and js["error"]["code"] == code and
             framed(*raw_headers(resp)) and
             len(js["error"]["message"]) < 200,
             "GET %s: %d %s" % (path if len(path) < 40 else path[:36] + "...", want, code),
             (st, js))
    # The path is checked before the method and the Origin.
    for method, extra in [("DELETE", ""), ("PUT", "Origin: http://evil.example\r\n"
                                             "Content-Type: application/json\r\n")]:
        body = '{"value":1}' if method == "PUT" else ""
        resp = await run(None, raw, p, ("%s /api/pins/ HTTP/1.1\r\nHost: x\r\n%s"
                                        "Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                                        % (method, extra, len(body), body)).encode())
        js = body_of(resp) if status_of(resp) == 404 else None
        t.ok(js is not None and js["error"]["code"] == "not_found",
             "%s /api/pins/%s: 404 not_found, the path before the %s" %
             (method, " from a refused origin" if extra else "",
              "Origin" if extra else "method"), resp[:200])
    st, hd, body, js = await req("GET", "/api/pins/%6c%65d")
    t.eq((st, js and js["name"]), (200, "led"), "percent-encoded unreserved letters: the pin")
    st, hd, body, js = await req("GET", "/api/pins/led?x=1")
    t.eq((st, js and js["name"]), (200, "led"), "a query string is ignored")
    st, hd, body, js = await req("GET", "/api/pins/led", "xx")
    t.eq((st, js["error"]["code"]), (400, "bad_request"), "GET with a body: 400")

    # --- framing: 411, 413, 501, bad Content-Length (the connection closes)
    for name, data, want in [
            ("PUT without Content-Length", b"PUT /api/pins/led HTTP/1.1\r\nHost: x\r\n\r\n{}", 411),
            ("PUT with Transfer-Encoding: chunked",
             b"PUT /api/pins/led HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"b\r\n{\"value\":1}\r\n0\r\n\r\n", 501),
            ("PUT with a body over 1024 bytes",
             b"PUT /api/pins/led HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n" + b" " * 1025, 413),
            ("PUT with a huge Content-Length",
             b"PUT /api/pins/led HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413),
            ("PUT with Content-Length -1",
             b"PUT /api/pins/led HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
            ("PUT with two Content-Lengths",
             b"PUT /api/pins/led HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
             b"Content-Length: 12\r\n\r\n{\"value\":1}", 400)]:
        resp = await run(None, raw, p, data)
        head = resp.partition(b"\r\n\r\n")[0].lower()
        t.ok(status_of(resp) == want and b"connection: close" in head and
             framed(*raw_headers(resp)) and "error" in body_of(resp),
             "%s: %d with a JSON error, connection closed" % (name, want), resp[:300])
    st, hd, body, js = await req("GET", "/api/pins/led")
    t.eq(js["value"], 0, "none of the refused PUTs changed led")
    resp = await run(None, raw, p, b"PUT /api/pins/led HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n"
                     b"Connection: close\r\n\r\n" + b'{"value":1}'.ljust(1024))
    t.eq(status_of(resp), 200, "a body of exactly 1024 bytes: served")
    await ws.wait_for(pin_ev("led", 1))

    # --- keep-alive: two requests on one connection, and two pipelined
    h = http.client.HTTPConnection("127.0.0.1", p, timeout=5)
    a = await run(None, lambda: request(p, "PUT", "/api/pins/led", '{"value":0}', conn=h))
    sock1 = h.sock
    b = await run(None, lambda: request(p, "GET", "/api/pins/led", conn=h))
    t.ok(a[0] == 200 and b[0] == 200 and b[3]["value"] == 0 and h.sock is sock1 and
         a[1]["connection"] == "keep-alive", "keep-alive: PUT then GET on one connection", (a, b))
    c = await run(None, lambda: request(p, "GET", "/api/pins/nosuch", conn=h))
    d = await run(None, lambda: request(p, "PUT", "/api/pins/led", "{bad", conn=h))
    e = await run(None, lambda: request(p, "GET", "/", conn=h))
    t.ok(c[0] == 404 and d[0] == 400 and e[0] == 200 and h.sock is sock1,
         "404 and 400 keep the connection; a file after API requests on it", (c[0], d[0], e[0]))
    h.close()
    await ws.wait_for(pin_ev("led", 0))
    resp = await run(None, raw, p, b"PUT /api/pins/led HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
                     b"{\"value\":1}GET /api/pins/led HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /api/pins/led HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    parts = resp.split(b"HTTP/1.1 ")[1:]
    vals = [json.loads(x.partition(b"\r\n\r\n")[2])["value"] for x in parts]
    t.eq(([x[:3] for x in parts], vals), ([b"200"] * 3, [1, 1, 1]),
         "pipelined PUT, GET, GET: answered in order, the GETs after the PUT's change")
    await ws.wait_for(pin_ev("led", 1))

    # --- a body that never comes: dropped at the head deadline, no answer
    t0 = time.monotonic()
    resp = await run(None, lambda: raw(p, b"PUT /api/pins/led HTTP/1.1\r\nHost: x\r\n"
                                      b"Content-Length: 11\r\n\r\n{\"val", timeout=30))
    t.ok(resp == b"" and time.monotonic() - t0 < 29,
         "a body that never arrives: connection dropped without an answer", resp[:200])
    st, hd, body, js = await req("GET", "/api/pins/led")
    t.eq(js["value"], 1, "and the pin did not change")

    # --- clients gone before the helper's answer
    def put_and_go(v):
        s = socket.create_connection(("127.0.0.1", p), timeout=5)
        s.sendall(b"PUT /api/pins/led HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
                  b"{\"value\":%d}" % v)
        # RST, not FIN: the reply must find the connection gone.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    n = 40
    for i in range(n):
        await run(None, put_and_go, i % 2)
    evs = []
    try:
        while len(evs) < n:
            evs.append(await ws.wait_for(pin_ev("led"), 3))
    except asyncio.TimeoutError:
        pass
    t.ok(len(evs) >= 1, "PUTs from clients that left at once still reach the pin (%d events)"
         % len(evs))
    await asyncio.sleep(0.3)
    gone = g.logtext().count("its client has gone")
    t.diag("%d of %d answers found their HTTP client gone" % (gone, n))
    await ws.quiet(0.2)

    # For certain: the helper is stopped until the clients have gone, so
    # every answer comes for a connection wsd has freed.
    led = (await req("GET", "/api/pins/led"))[3]["value"]
    wsd = g.children()["wsd"]
    fds = open_fds(wsd)
    os.kill(g.proc.pid, signal.SIGSTOP)
    try:
        socks = []
        for i in range(5):
            s = socket.create_connection(("127.0.0.1", p), timeout=5)
            s.sendall(b"PUT /api/pins/led HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
                      b"{\"value\":%d}" % ((led + 1 + i) % 2))
            socks.append(s)
        await asyncio.sleep(0.3)        # wsd has read them and asked the helper
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        freed = await fds_back_to(wsd, fds)     # and has freed the connections
    finally:
        os.kill(g.proc.pid, signal.SIGCONT)
    evs = [(await ws.wait_for(pin_ev("led"), 3))["value"] for _ in range(5)]
    t.eq(evs, [(led + 1 + i) % 2 for i in range(5)],
         "5 PUTs whose clients left before the helper answered: all 5 changes made, in order")
    await asyncio.sleep(0.2)
    t.eq((freed, g.logtext().count("its client has gone") - gone), (True, 5),
         "and their 5 answers were dropped, their connections gone")

    # Pipelining behind a PUT that waits: more than 9216 bytes is dropped.
    os.kill(g.proc.pid, signal.SIGSTOP)
    try:
        s = socket.create_connection(("127.0.0.1", p), timeout=5)
        s.sendall(b"PUT /api/pins/led HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
                  b"{\"value\":%d}" % (1 - evs[-1]) +
                  b"GET /api/pins/led HTTP/1.1\r\nHost: x\r\n\r\n" * 300)
        got = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got += d
        except (socket.timeout, ConnectionResetError) as e:
            got += b"<%s>" % type(e).__name__.encode()
        s.close()
    finally:
        os.kill(g.proc.pid, signal.SIGCONT)
    t.ok(got in (b"", b"<ConnectionResetError>"),
         "12 KB pipelined behind a PUT waiting for the helper: dropped without an answer", got[:200])
    ev = await ws.wait_for(pin_ev("led"), 3)
    t.eq(ev["value"], 1 - evs[-1], "the PUT itself was carried out")

    t.ok(not unframed, "all %d answers above: Content-Type application/json, "
         "Content-Length the body's length" % nreq, unframed)

    # --- still serving, same wsd
    st, hd, body, js = await req("GET", "/api/pins")
    t.eq(st, 200, "wsd still serves the API afterwards")
    r = await ws.request({"op": "get", "pin": "led"})
    t.ok(r["ok"], "and the /ws client", r)
    t.eq(g.children().get("wsd"), wsd_pid, "wsd was never restarted")
    await ws.close()


with Gpiows() as g:
    asyncio.run(main(g))
t.done()
