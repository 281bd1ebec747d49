"""TLS listeners: wss:// and https:// beside a plain listener, TLS 1.2 and
1.3 only, whatever is not TLS dropped without harm to anyone else, the
head deadline held through the handshake, the Origin check's port 443, a
client pipelining faster than it reads served at its own pace, and a
certificate renewed by SIGHUP without dropping clients, and kept for
TLS listeners that outlive their statement until a restart."""
import asyncio
import base64
import json
import logging
import os
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import warnings

import websockets

from gpiows_test import SRCDIR, Client, Gpiows, Tap, free_port, handshake_status, recv_head
from rawws import RawWs, frame

t = Tap()
# TLS 1.0 and 1.1 are deprecated: that is what is tested.
warnings.filterwarnings("ignore", category=DeprecationWarning)
HEAD_DEADLINE = 10      # WSD_HEAD_TIMEOUT


def make_cert(directory, name):
    """A self-signed certificate for 127.0.0.1 and localhost: (cert, key)."""
    cert = os.path.join(directory, name + ".pem")
    key = os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", "/CN=gpiows test " + name, "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def der(cert):
    with open(cert) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def client_ctx(cafile=None, version=None):
    """A client context trusting cafile (or nothing checked), pinned to
    version if given.  Old versions need OpenSSL's security level 0 on the
    client, or the client would not even offer them."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile is not None:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if version is not None:
        if version < ssl.TLSVersion.TLSv1_2:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = version
        ctx.maximum_version = version
    return ctx


def tls_connect(port, ctx, host="127.0.0.1", ragged_eof_ok=True):
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname=host, suppress_ragged_eofs=ragged_eof_ok)


def read_all(s):
    """Everything until the server closes; ssl.SSLEOFError if it closed a
    TLS connection without a close_notify."""
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            return buf
        buf += d


def head_and_body(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return lines[0], headers, body


def ws_handshake(port, ctx, origin, host):
    """Status code of a WebSocket handshake sent by hand over TLS."""
    return handshake_status(port, host=host, origin=origin,
                            sock=tls_connect(port, ctx))


def dropped_within(sock, seconds, trickle=b""):
    """Seconds until the server closes sock, or None if it has not after
    `seconds`.  trickle: bytes sent one per second meanwhile."""
    start = time.monotonic()
    sock.settimeout(0.2)
    i = 0
    next_send = start
    while time.monotonic() - start < seconds:
        try:
            if i < len(trickle) and time.monotonic() >= next_send:
                sock.send(trickle[i:i + 1])
                i += 1
                next_send += 1.0
            d = sock.recv(4096)
            if not d:
                return time.monotonic() - start
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - start
    return None


def client_hello():
    """The bytes of a real TLS ClientHello."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def handshaken_record(port):
    """A raw socket that has done a TLS handshake through a memory BIO, and
    the encrypted record of an unfinished request head, to send by hand."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(incoming, outgoing, server_hostname="localhost")
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(outgoing.read())
            d = raw.recv(65536)
            if not d:
                raise OSError("closed during the handshake")
            incoming.write(d)
    raw.sendall(outgoing.read())
    obj.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
    return raw, outgoing.read()


class Control:
    """A TLS server of our own that accepts TLS 1.0 to 1.3: proves that the
    pinned client contexts really offer what they are pinned to."""

    def __init__(self, cert, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        self.ctx = ctx
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.ctx.wrap_socket(c, server_side=True) as s:
                    s.recv(1)
            except (OSError, ssl.SSLError):
                pass


def negotiated(port, version):
    """The version a client pinned to version gets, or the error it gets."""
    try:
        with tls_connect(port, client_ctx(version=version)) as s:
            return s.version()
    except ssl.SSLError as e:
        return "refused: " + (e.reason or str(e))
    except OSError as e:
        return "refused: " + str(e)


certdir = tempfile.TemporaryDirectory(prefix="gpiows-tls-")
cert, key = make_cert(certdir.name, "first")
cert2, key2 = make_cert(certdir.name, "second")
live_cert = os.path.join(certdir.name, "live.pem")
live_key = os.path.join(certdir.name, "live.key")
for src, dst in ((cert, live_cert), (key, live_key)):
    with open(src, "rb") as f, open(dst, "wb") as o:
        o.write(f.read())

# The dashboard, and a file large enough to outlast the head deadline when
# read slowly.
www = os.path.join(certdir.name, "www")
os.mkdir(www)
with open(os.path.join(SRCDIR, "www", "index.html"), "rb") as f:
    index = f.read()
with open(os.path.join(www, "index.html"), "wb") as f:
    f.write(index)
BIG = os.urandom(24 * 1024 * 1024)
with open(os.path.join(www, "big.bin"), "wb") as f:
    f.write(BIG)
os.chmod(certdir.name, 0o755)
os.chmod(www, 0o755)
for name in ("index.html", "big.bin"):
    os.chmod(os.path.join(www, name), 0o644)

tport = free_port()
with Gpiows(www=www, extra='listen on 127.0.0.1 port %d tls\ntls certificate "%s" key "%s"\n' %
            (tport, live_cert, live_key)) as g:
    wsd = g.wait_children()["wsd"]
    wss = "wss://127.0.0.1:%d/ws" % tport
    t.ok("dashboard: https://127.0.0.1:%d/" % tport in g.logtext(),
         "the helper logs the https URL of the TLS listener")

    async def both_kinds():
        ws = await websockets.connect(wss, ssl=client_ctx(cert), open_timeout=5)
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        t.eq(hello.get("type"), "hello", "python3-websockets over wss:// gets hello")
        a = Client(ws, hello)
        b = await Client.connect(g)
        r = await a.request({"op": "toggle", "pin": "led"})
        t.ok(r.get("ok") is True, "toggle over wss:// answered ok", r)
        ea = await a.wait_for(lambda m: m.get("type") == "pin" and m.get("pin") == "led")
        eb = await b.wait_for(lambda m: m.get("type") == "pin" and m.get("pin") == "led")
        t.eq((ea["value"], ea["seq"]), (r["value"], r["seq"]), "the wss client sees its event")
        t.eq((eb["value"], eb["seq"]), (ea["value"], ea["seq"]),
             "the plain ws client on the plain port sees the same event")
        return a, b

    loop = asyncio.new_event_loop()
    a, b = loop.run_until_complete(both_kinds())

    # https: a file, with its headers, and HEAD.
    strict = client_ctx(cert)
    # Python's default tolerates a TCP close in place of a close_notify.
    strict.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    s = tls_connect(tport, strict, ragged_eof_ok=False)
    s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    try:
        data = read_all(s)
        eof = "clean"
    except ssl.SSLError as e:
        data, eof = b"", "no close_notify: %s" % e
    s.close()
    status, headers, body = head_and_body(data)
    t.eq(status, "HTTP/1.1 200 OK", "https GET /: 200")
    t.eq((headers.get("content-type"), headers.get("content-length"),
          headers.get("x-content-type-options"), headers.get("cache-control")),
         ("text/html; charset=utf-8", str(len(index)), "nosniff", "no-cache"),
         "https GET /: content type, length, nosniff, no-cache")
    t.ok(body == index, "https GET /: the page itself")
    t.eq(eof, "clean", "the TLS connection ends with a close_notify after Connection: close")

    s = tls_connect(tport, client_ctx(cert))
    s.sendall(b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    status, headers, body = head_and_body(read_all(s))
    s.close()
    t.eq((status, headers.get("content-length"), body), ("HTTP/1.1 200 OK", str(len(index)), b""),
         "https HEAD /: the length, no body")

    # A wss client that goes at once after more messages than its 8 in
    # flight: each is carried out, whether it ends with a close frame, a
    # close_notify or a bare TCP close (what the bufferevent sees as EOF or
    # as an error).
    def wss_sent_then_gone(path, msg, how, n=50):
        s = tls_connect(tport, client_ctx(cert))
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n" %
                   (path, base64.b64encode(os.urandom(16)).decode())).encode())
        if not recv_head(s, 1).startswith(b"HTTP/1.1 101"):
            return "no 101"
        data = frame(1, msg) * n
        if how == "a close frame":
            data += frame(8, struct.pack("!H", 1000))
        s.sendall(data)
        if how == "a close_notify":
            s.setblocking(False)
            try:
                s.unwrap()      # sends it; the answer is not waited for
            except (ssl.SSLWantReadError, OSError):
                pass
            s.setblocking(True)
        if how != "a close frame":
            s.shutdown(socket.SHUT_WR)
        return s

    watcher = RawWs(g.port)
    for path, msg in (("/pin/led/toggle", b"t"), ("/ws", b'{"op":"toggle","pin":"led"}')):
        for how in ("a close frame", "a close_notify", "a TCP close"):
            s = wss_sent_then_gone(path, msg, how)
            got = 0
            try:
                while True:
                    if watcher.recv_json(1.0).get("type") == "pin":
                        got += 1
            except socket.timeout:
                pass
            if not isinstance(s, str):
                s.close()
            t.eq(got, 50, "wss: 50 toggles on %s, then at once %s: all 50 done" % (path, how))
    watcher.close()

    # Versions: 1.2 and 1.3 in, 1.0 and 1.1 out.
    control = Control(cert, key)
    for v, name in ((ssl.TLSVersion.TLSv1, "TLSv1"), (ssl.TLSVersion.TLSv1_1, "TLSv1.1")):
        t.eq(negotiated(control.port, v), name,
             "control: a client pinned to %s gets it from a server that allows it" % name)
        got = negotiated(tport, v)
        t.ok(got.startswith("refused") and "VERSION" in got.upper(),
             "a %s client is refused with a protocol version alert" % name, got)
    for v, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        t.eq(negotiated(tport, v), name, "a %s client is served" % name)

    # http:// where https:// was meant: told so in plain text, then closed.
    s = socket.create_connection(("127.0.0.1", tport), timeout=5)
    s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n")
    try:
        got = read_all(s)
    except OSError as e:
        got = repr(e).encode()
    s.close()
    status, headers, body = head_and_body(got)
    t.ok(status.startswith("HTTP/1.1 400 ") and b"https://" in body and
         headers.get("content-length") == str(len(body)),
         "plain HTTP on the TLS port: a 400 in plain text that says to use https://, "
         "then the connection closed", got[:200])
    # ... also while the request's body is still coming: the connection
    # lingers, so the close does not reset it and lose the answer.
    s = socket.create_connection(("127.0.0.1", tport), timeout=5)
    s.sendall(b"PUT /api/pins/led HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n" +
              b"x" * 20000)
    time.sleep(0.3)
    try:
        s.sendall(b"x" * 100000)
        more = "sent"
    except OSError as e:
        more = repr(e)
    try:
        got = read_all(s)
        end = "eof"
    except OSError as e:
        got, end = b"", repr(e)
    s.close()
    t.ok(got.startswith(b"HTTP/1.1 400 ") and b"https://" in got and end == "eof" and
         more == "sent",
         "plain HTTP on the TLS port with its body still coming: the 400, then an "
         "end of file", "%r ... %s, more: %s" % (got[:60], end, more))

    # Not TLS at all: dropped, nothing answered.
    for what, data in (("garbage", os.urandom(4096)),
                       ("a ClientHello cut with garbage", client_hello()[:60] + os.urandom(600))):
        s = socket.create_connection(("127.0.0.1", tport), timeout=5)
        try:
            s.sendall(data)
        except OSError:
            pass
        try:
            got = read_all(s)
        except OSError:
            got = b""
        s.close()
        t.ok(not got.startswith(b"HTTP/"), "%s on the TLS port: dropped, no HTTP answer" % what, got[:80])

    # Slowloris over TLS: the head deadline runs from the accept, handshake
    # included, however the bytes trickle in.
    hello_bytes = client_hello()
    results = {}

    def stall(name, sock, first, trickle):
        sock.sendall(first)
        results[name] = dropped_within(sock, HEAD_DEADLINE + 6, trickle)
        sock.close()

    jobs = []
    s1 = socket.create_connection(("127.0.0.1", tport), timeout=5)
    jobs.append(("half a ClientHello, then nothing", s1, hello_bytes[:len(hello_bytes) // 2], b""))
    s2 = socket.create_connection(("127.0.0.1", tport), timeout=5)
    jobs.append(("a ClientHello trickled one byte a second", s2, b"", hello_bytes))
    s3, record = handshaken_record(tport)
    jobs.append(("a request record trickled one byte a second", s3, b"", record))
    threads = [threading.Thread(target=stall, args=j) for j in jobs]

    # Meanwhile, a slow reader of a large file over TLS: no deadline runs
    # while an answer is written, and the connection serves the next request.
    slow = {}

    def slow_download():
        s = tls_connect(tport, client_ctx(cert))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.settimeout(30)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        start = time.monotonic()
        buf = b""
        try:
            chunk = 0
            while not buf.endswith(BIG[-64:]):
                d = s.recv(64 * 1024)
                if not d:
                    break
                buf += d
                chunk += len(d)
                if chunk >= 64 * 1024:
                    chunk = 0
                    # About 2.5 MB/s at most: slow enough to outlast the
                    # head deadline, fast enough to read what the kernel
                    # still holds once wsd has written the last byte well
                    # before the next request's deadline.
                    time.sleep(0.025)
            slow["took"] = time.monotonic() - start
            slow["body"] = buf.partition(b"\r\n\r\n")[2]
            s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
            slow["next"] = s.recv(64)
        except OSError as e:
            slow["error"] = str(e)
        s.close()

    threads.append(threading.Thread(target=slow_download))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t.ok(slow.get("took", 0) > HEAD_DEADLINE and slow.get("body") == BIG,
         "a large file read slowly over TLS arrives whole, past the head deadline (%.1f s)"
         % slow.get("took", 0), slow.get("error"))
    t.ok(slow.get("next", b"").startswith(b"HTTP/1.1 200"),
         "and the kept-alive TLS connection serves the next request", slow.get("next"))
    for name, *_ in jobs:
        took = results.get(name)
        t.ok(took is not None and HEAD_DEADLINE - 2 <= took <= HEAD_DEADLINE + 3,
             "%s: dropped at the head deadline (%s s)" %
             (name, "%.1f" % took if took is not None else "never"))

    # Origin on the TLS port: 443 is the default, an http page another origin.
    ctx = client_ctx(cert)
    hp = "127.0.0.1:%d" % tport
    t.eq(ws_handshake(tport, ctx, "https://" + hp, hp), 101, "TLS: the https page of the same host and port")
    t.eq(ws_handshake(tport, ctx, "http://" + hp, hp), 403, "TLS: an http page of the same host and port: 403")
    t.eq(ws_handshake(tport, ctx, "https://gpio.example", "gpio.example"), 101,
         "TLS: Host and Origin without a port: both 443")
    t.eq(ws_handshake(tport, ctx, "https://gpio.example", "gpio.example:443"), 101,
         "TLS: a Host without a port is port 443")
    t.eq(ws_handshake(tport, ctx, "http://gpio.example", "gpio.example"), 403,
         "TLS: a bare Host is not port 80: an http page without a port is refused")
    t.eq(ws_handshake(tport, ctx, "https://gpio.example:80", "gpio.example"), 403,
         "TLS: a bare Host is not port 80")

    async def still_serving(c, what):
        r = await c.request({"op": "toggle", "pin": "led"})
        e = await c.wait_for(lambda m: m.get("type") == "pin" and m.get("seq") == r.get("seq"))
        t.ok(r.get("ok") is True and e["value"] == r["value"], what, r)

    async def pipelining(n):
        """n requests sent as fast as the client may, their answers read in
        pauses, through a 64 KiB receive buffer: ids answered, in order."""
        s = socket.create_connection(("127.0.0.1", tport))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        ids = []
        async with websockets.connect(wss, sock=s, ssl=client_ctx(cert),
                                      server_hostname="127.0.0.1", max_queue=16) as ws:
            await asyncio.wait_for(ws.recv(), 5)

            async def sender():
                for i in range(n):
                    await ws.send('{"op":"toggle","pin":"nosuch","id":%d}' % (i + 1))
            st = asyncio.ensure_future(sender())
            try:
                while len(ids) < n:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if m.get("type") == "reply" and \
                            m.get("error", {}).get("code") == "unknown_pin":
                        ids.append(m["id"])
                        if len(ids) % 5000 == 0:
                            await asyncio.sleep(0.3)
            except Exception as e:
                ids.append(repr(e))
            st.cancel()
        return ids

    # A TLS bufferevent is paused and resumed its own way: 60,000 answers
    # of ~120 bytes are 7 MB, past the 1 MiB cap at which wsd dropped such
    # a client before it paused reading it.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    ids = loop.run_until_complete(pipelining(60000))
    t.ok(ids == list(range(1, 60001)),
         "wss: 60000 requests pipelined faster than their answers are read: all "
         "answered, in order", "%d answers, last %r" % (len(ids), ids[-1:]))

    loop.run_until_complete(still_serving(a, "the wss client is still served after all of that"))
    loop.run_until_complete(still_serving(b, "and so is the plain one"))

    # Renewal: SIGHUP serves the new certificate, open connections stay.
    def reloads():
        return g.logtext().count("configuration reloaded")

    def served_cert():
        with tls_connect(tport, client_ctx()) as s:
            return s.getpeercert(binary_form=True)

    def served_cert_when_up():
        """served_cert() once a new wsd listens (None after 5 s)."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                return served_cert()
            except OSError:
                time.sleep(0.05)
        return None

    t.ok(served_cert() == der(cert), "the first certificate is served")
    for src, dst in ((cert2, live_cert), (key2, live_key)):
        with open(src, "rb") as f, open(dst, "wb") as o:
            o.write(f.read())
    n = reloads()
    g.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while reloads() == n and time.monotonic() < deadline:
        time.sleep(0.05)
    t.ok(reloads() == n + 1, "SIGHUP with a renewed certificate reloads")
    # The helper logs the reload before it sends wsd the new pair.
    deadline = time.monotonic() + 5
    while served_cert() != der(cert2) and time.monotonic() < deadline:
        time.sleep(0.05)
    t.ok(served_cert() == der(cert2), "new connections get the renewed certificate")
    loop.run_until_complete(still_serving(a, "the wss client of before the renewal is still served"))

    async def new_client():
        ws = await websockets.connect(wss, ssl=client_ctx(cert2), open_timeout=5)
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        await ws.close()
        return hello.get("type")

    t.eq(loop.run_until_complete(new_client()), "hello", "a wss client trusting the new certificate connects")

    # A key that does not match: not reloaded, the renewed one stays.
    with open(key, "rb") as f, open(live_key, "wb") as o:
        o.write(f.read())
    g.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "not reloaded" not in g.logtext() and time.monotonic() < deadline:
        time.sleep(0.05)
    t.ok("does not match certificate" in g.logtext() and "not reloaded" in g.logtext(),
         "a key that does not match the certificate: the file:line error, not reloaded")
    t.ok(served_cert() == der(cert2), "and the certificate served is still the renewed one")

    loop.run_until_complete(a.close())
    loop.run_until_complete(b.close())
    loop.close()
    t.eq(g.children().get("wsd"), wsd, "wsd survived all of it (same pid)")

    # A new wsd gets the certificate the helper last checked, not what the
    # file holds now (the mismatched key).
    os.kill(wsd, signal.SIGKILL)
    g.wait_children(old={"wsd": wsd})
    got = served_cert_when_up()
    t.ok(got == der(cert2), "a wsd started again after kill -9 serves the last certificate that passed")

    # The TLS listener and its certificate both removed from the file: the
    # listener stays until a restart, and so must its certificate, also
    # for a wsd started again meanwhile.
    with open(g.conf) as f:
        lines = [l for l in f if not l.startswith("tls ") and " tls" not in l]
    with open(g.conf, "w") as f:
        f.writelines(lines)
    n = reloads()
    g.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while reloads() == n and time.monotonic() < deadline:
        time.sleep(0.05)
    t.ok(reloads() == n + 1 and "no tls certificate any more" in g.logtext(),
         "a reload without the TLS listener and certificate keeps the old certificate, with a warning")
    wsd = g.wait_children()["wsd"]
    os.kill(wsd, signal.SIGKILL)
    g.wait_children(old={"wsd": wsd})
    got = served_cert_when_up()
    t.ok(got == der(cert2), "and a wsd started again after that still serves TLS with it")
certdir.cleanup()
t.done()
