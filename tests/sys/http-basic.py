"""wsd's HTTP side: the dashboard files, status codes, no escape from www."""
import calendar
import json
import socket
import time

from gpiows_test import Gpiows, Tap, recv_head

t = Tap()


def http(port, raw, timeout=5):
    """Send raw bytes, return (status, headers dict, body) of the first response."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(raw)
    head, _, body = recv_head(s, 65536).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0] else None
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    if not raw.startswith(b"HEAD"):
        while len(body) < n:
            d = s.recv(65536)
            if not d:
                break
            body += d
    s.close()
    return status, hdrs, body


def get(port, path, extra=""):
    return http(port, ("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path, extra)).encode())


with Gpiows() as g:
    p = g.port
    index = open(g.www + "/index.html", "rb").read()
    st, h, body = get(p, "/")
    t.eq(st, 200, "GET / is 200")
    t.eq(body, index, "GET / serves index.html")
    t.eq(h.get("content-type"), "text/html; charset=utf-8", "Content-Type of html")
    t.eq(h.get("content-length"), str(len(index)), "Content-Length is the file's size")
    t.ok("last-modified" in h, "Last-Modified is sent")
    # No other site may frame the dashboard (a click on its bait would
    # switch pins); the page loads nothing from elsewhere.
    csp = [d.strip() for d in h.get("content-security-policy", "").split(";")]
    t.ok("frame-ancestors 'none'" in csp and "default-src 'self'" in csp,
         "Content-Security-Policy: default-src 'self', frame-ancestors 'none'", csp)
    t.eq((h.get("x-frame-options"), h.get("referrer-policy")), ("DENY", "no-referrer"),
         "X-Frame-Options: DENY, Referrer-Policy: no-referrer")
    st, h2, body = http(p, b"HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
    t.eq((st, body, h2.get("content-length")), (200, b"", str(len(index))), "HEAD: headers, no body")
    st, h304, _ = get(p, "/", "If-Modified-Since: %s\r\n" % h["last-modified"])
    t.eq(st, 304, "If-Modified-Since the same date: 304")
    t.eq((h304.get("cache-control"), h304.get("last-modified")), ("no-cache", h["last-modified"]),
         "the 304 has the Cache-Control and Last-Modified the 200 has")
    # Every answer is dated (RFC 9110 6.6.1): now, as an IMF-fixdate.
    dated = []
    for hd in (h, h304, get(p, "/nosuch.html")[1], get(p, "/api/pins")[1]):
        try:
            when = calendar.timegm(time.strptime(hd.get("date", ""), "%a, %d %b %Y %H:%M:%S GMT"))
            dated.append(abs(when - time.time()) < 5)
        except ValueError:
            dated.append(False)
    t.eq(dated, [True] * 4, "200, 304, 404 and API answers carry a Date of now")
    # If-Modified-Since: an exact IMF-fixdate of 2099, or nothing.
    future = "Thu, 01 Jan 2099 00:00:00 GMT"
    for when, want, what in [
            (future, 304, "an IMF-fixdate after the file's date"),
            ("Thu, 1 Jan 2099 00:00:00 GMT", 200, "a one-digit day"),
            ("Thu,  01 Jan 2099 00:00:00 GMT", 200, "two spaces"),
            ("Fri, 01 Jan 2099 00:00:00 GMT", 200, "the wrong day of the week"),
            ("Tue, 31 Feb 2099 00:00:00 GMT", 200, "31 February"),
            ("Thu, 01 Jan 2099 24:00:00 GMT", 200, "hour 24"),
            ("Thu, 01 Jan 2099 00:00:00 UTC", 200, "UTC for GMT"),
            ("Thursday, 01-Jan-99 00:00:00 GMT", 200, "the RFC 850 form")]:
        t.eq(get(p, "/", "If-Modified-Since: %s\r\n" % when)[0], want,
             "If-Modified-Since with %s: %d" % (what, want))
    t.eq(get(p, "/", "If-Modified-Since: %s\r\nIf-Modified-Since: %s\r\n" % (future, future))[0],
         200, "If-Modified-Since twice: ignored, 200")
    t.eq(get(p, "/", "If-None-Match: \"x\"\r\nIf-Modified-Since: %s\r\n" % future)[0], 200,
         "If-None-Match with a tag (wsd sends none) outweighs If-Modified-Since: 200")
    t.eq(get(p, "/", "If-None-Match: *\r\n")[0], 304, "If-None-Match: * of a file that exists: 304")
    t.eq(get(p, "/nosuch.html")[0], 404, "a missing file: 404")
    t.eq(get(p, "/../../../../etc/passwd")[0], 400, "../ in the path: refused")
    t.eq(get(p, "/%2e%2e/%2e%2e/etc/passwd")[0], 400, "percent-encoded ../: refused")
    t.eq(get(p, "/x%00y")[0], 400, "an encoded NUL: refused")
    st, h, _ = http(p, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    t.eq((st, h.get("allow")), (405, "GET, HEAD"), "POST: 405 with Allow")
    t.eq(http(p, b"GARBAGE\r\n\r\n")[0], 400, "a malformed request line: 400")
    t.eq(http(p, b"GET / HTTP/1.1\r\n Folded: x\r\n\r\n")[0], 400, "obsolete header folding: 400")
    st, h, _ = get(p, "/ws")
    t.eq(st, 426, "GET /ws without an upgrade: 426")
    st, h, _ = get(p, "/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n")
    t.eq((st, h.get("sec-websocket-version")), (426, "13"), "WebSocket version 8: 426 naming 13")
    st, h, _ = get(p, "/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n")
    t.eq(st, 400, "a bad Sec-WebSocket-Key: 400")
    st, h, _ = get(p, "/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
    t.eq((st, h.get("sec-websocket-accept")), (101, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
         "the upgrade: 101 with RFC 6455's accept value")
    # A body on the upgrade would be read as the first frames (a set here).
    up = ("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
    led = json.dumps({"op": "set", "pin": "led", "value": 1}).encode()
    frame = bytes([0x81, 0x80 | len(led), 0, 0, 0, 0]) + led
    st, _, _ = http(p, (up + "Content-Length: %d\r\n\r\n" % len(frame)).encode() + frame)
    t.eq(st, 400, "an upgrade with a Content-Length body: 400")
    st, _, _ = http(p, (up + "Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(frame)).encode() +
                    frame + b"\r\n0\r\n\r\n")
    t.eq(st, 400, "an upgrade with a chunked body: 400")
    st, _, body = get(p, "/api/pins/led")
    t.eq(json.loads(body).get("value"), 0, "and neither body was run as a frame: led still 0")
    st, _, _ = get(p, "/", "X-Big: %s\r\n" % ("a" * 9000))
    t.eq(st, 431, "a head over 8 KiB: 431")

    # Keep-alive: two requests on one connection.
    s = socket.create_connection(("127.0.0.1", p), timeout=5)
    s.sendall(b"GET /nosuch HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(index):
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    t.ok(data.startswith(b"HTTP/1.1 404") and b"HTTP/1.1 200" in data and data.endswith(index),
         "keep-alive: two responses on one connection")

    # A file still being sent when an upgrade follows on the same
    # connection: the file's own bytes go first, then the 101, then frames.
    with open(g.www + "/app.js", "rb") as f:
        js = f.read()
    s = socket.create_connection(("127.0.0.1", p), timeout=5)
    s.sendall(b"GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    data = b""
    # Up to the hello after the 101 (or the end: the assertion says what came).
    while b'"hello"' not in data.partition(b"HTTP/1.1 101")[2]:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    t.ok(head.startswith(b"HTTP/1.1 200") and rest[:len(js)] == js and
         rest[len(js):].startswith(b"HTTP/1.1 101") and b'"hello"' in rest[len(js):],
         "a file then an upgrade on one connection: the file's bytes exactly, then 101 "
         "and the hello", (head[:40], len(rest), rest[len(js):len(js) + 40]))

    t.eq(http(p, b"GET / HTTP/1.1\nHost: x\n\n", timeout=3)[0], 400,
         "a head whose lines end in a bare LF: 400 at once, not the deadline")

    # Slowloris: a head that never completes is dropped.
    s = socket.create_connection(("127.0.0.1", p), timeout=20)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    try:
        gone = s.recv(100) == b""
    except (socket.timeout, ConnectionResetError):
        gone = False
    s.close()
    t.ok(gone, "an unfinished request head is dropped after the timeout")

    # A head trickled in a byte a second is dropped at the same deadline:
    # the timeout does not restart with every byte.
    s = socket.create_connection(("127.0.0.1", p), timeout=5)
    start = time.monotonic()
    sent = 0
    try:
        for ch in b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 60:
            s.sendall(bytes([ch]))
            sent += 1
            time.sleep(0.5)
            if time.monotonic() - start > 25:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    elapsed = time.monotonic() - start
    s.close()
    t.ok(elapsed < 15, "a trickled head is dropped at its deadline (%.1f s, %d bytes)" % (elapsed, sent))
t.done()
