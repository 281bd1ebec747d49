"""The WebSocket handshake's Origin check, max clients and max message."""
import asyncio
import time

from gpiows_test import Client, Gpiows, Tap, handshake_status, raw_http

t = Tap()


def handshake(port, origin=None, host=None):
    return handshake_status(port, origin=origin, host=host)


with Gpiows() as g:
    p = g.port
    t.eq(handshake(p), 101, "no Origin (not a browser): accepted")
    t.eq(handshake(p, "http://127.0.0.1:%d" % p), 101, "the page's own origin: accepted")
    t.eq(handshake(p, "HTTP://127.0.0.1:%d" % p), 101, "origins compare case-insensitively")
    t.eq(handshake(p, "http://localhost:%d" % p, host="localhost:%d" % p), 101,
         "the host the request names, whatever it is: accepted")
    t.eq(handshake(p, "http://evil.example"), 403, "another site's page: 403")
    t.eq(handshake(p, "http://127.0.0.1:%d" % (p + 1)), 403, "same host, other port: 403")
    t.eq(handshake(p, "https://127.0.0.1:%d" % p), 101, "https page of the same host and port: accepted")
    t.eq(handshake(p, "null"), 403, "the null origin of a file page: 403 unless listed")
    t.eq(handshake(p, "http://127.0.0.1"), 403, "origin without a port (80) against Host with one: 403")
    t.eq(handshake(p, "https://gpio.example", host="gpio.example"), 101,
         "https page, Host without a port (behind a TLS proxy): accepted")
    t.eq(handshake(p, "https://gpio.example", host="gpio.example:80"), 403,
         "https page against an explicit port 80: 403")

with Gpiows(extra='origin "null"\norigin "https://Dashboard.Example:8443"\n'
            "max clients 2\nmax message 1000\n") as g:
    p = g.port
    t.eq(handshake(p, "null"), 101, "listed null origin: accepted")
    t.eq(handshake(p, "https://dashboard.example:8443"), 101, "a listed origin: accepted")
    t.eq(handshake(p, "http://127.0.0.1:%d" % p), 403,
         "with a list, the request's own host is not accepted unless listed")
    t.eq(handshake(p), 101, "no Origin: still accepted")

    async def limits():
        a = await Client.connect(g)
        b = await Client.connect(g)
        code = await asyncio.get_running_loop().run_in_executor(None, handshake, p)
        t.eq(code, 503, "a third client past max clients 2: 503")
        await b.close()
        await asyncio.sleep(0.2)
        c = await Client.connect(g)
        t.ok(c.hello["users"] == 2, "after one leaves, a new client gets in")
        r = await a.request({"op": "get", "pin": "led", "pad": "x" * 900})
        t.ok(r["ok"], "a message under max message 1000: served")
        await a.ws.send('{"op":"get","pin":"led","pad":"%s"}' % ("x" * 1000))
        try:
            await asyncio.wait_for(a.ws.wait_closed(), 3)
        except asyncio.TimeoutError:
            pass
        t.eq(a.ws.close_code, 1009, "a message over max message: closed with 1009")
        await c.close()
    asyncio.run(limits())

# Refusals are logged, but not as fast as a hostile page can make them.
with Gpiows() as g:
    p = g.port
    codes = [handshake(p, "http://evil.example") for _ in range(30)]
    put = ("PUT /api/pins/led HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n"
           "Content-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"value\":1}")
    got = raw_http(p, put * 20 + "GET /api/pins/led HTTP/1.1\r\nHost: x\r\n"
                   "Connection: close\r\n\r\n")
    t.ok(codes == [403] * 30 and got.count(b"HTTP/1.1 403 ") == 20,
         "30 WebSocket handshakes and 20 PUTs from another site: all refused",
         (codes, got[:200]))
    time.sleep(0.5)
    lines = [l for l in g.logtext().splitlines() if "from origin" in l and "refused" in l]
    t.eq(len(lines), 10, "the first 10 refusals are logged, the rest are not")
    more = "wsd: 40 more refused origins in 10 s not logged"
    end = time.monotonic() + 15
    while more not in g.logtext() and time.monotonic() < end:
        time.sleep(0.2)
    t.ok(more in g.logtext(), "when the 10 s are over, how many were left out")
    t.eq(handshake(p, "http://evil.example"), 403, "a refusal after that")
    time.sleep(0.3)
    lines = [l for l in g.logtext().splitlines() if "from origin" in l and "refused" in l]
    t.eq(len(lines), 11, "is logged again")
t.done()
