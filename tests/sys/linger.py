"""Lingering close: when wsd answers and closes while the client is still
sending (a 431 while the head is still coming, a close 1009 while a message
is), the client reads the answer and then an end of file, not a reset that
can throw the answer away.  A client that goes on sending is cut off all
the same, and only so many sockets linger at once."""
import socket
import time

from gpiows_test import Gpiows, Tap, open_fds
from rawws import Closed, RawWs, header

t = Tap()
LINGER_S = 2.0          # WSD_LINGER_MS
LINGER_MAX = 256        # WSD_LINGER_MAX
BIG_HEAD = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n"


def read_to_end(s, timeout=5.0):
    """Everything s receives until the end of the stream: (bytes, how it
    ended: "eof", "reset" or "timeout")."""
    data = b""
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return data, "eof"
            data += d
    except ConnectionResetError:
        return data, "reset"
    except socket.timeout:
        return data, "timeout"


def send_more(s, data):
    """Send after wsd has answered: whether the bytes could go (a reset
    refuses them)."""
    try:
        s.sendall(data)
        return True
    except OSError:
        return False


def wait_fds(pid, most, timeout):
    """Poll until pid has at most `most` descriptors: the count then."""
    deadline = time.monotonic() + timeout
    while open_fds(pid) > most and time.monotonic() < deadline:
        time.sleep(0.05)
    return open_fds(pid)


with Gpiows(extra="max message 65536\n") as g:
    wsd = g.wait_children()["wsd"]
    base = open_fds(wsd)

    # A head over the limit: wsd answers 431 and closes while 70 KB are
    # still to be read, and more comes after the answer.
    s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
    s.sendall(BIG_HEAD)
    time.sleep(0.3)
    more = send_more(s, b"b" * 1000)
    data, end = read_to_end(s)
    s.close()
    t.ok(data.startswith(b"HTTP/1.1 431 ") and end == "eof" and more,
         "a 431 while the head is still coming: the answer, then an end of file "
         "(the client's further bytes accepted, not reset)",
         "%r ... ended by %s, more sent: %s" % (data[:40], end, more))

    # A WebSocket message announced past max message: close 1009 while its
    # payload is still coming.
    ws = RawWs(g.port)
    ws.send(header(1, 1 << 20) + b"x" * 100000)
    time.sleep(0.3)
    more = send_more(ws.s, b"x" * 100000)
    try:
        f = ws.recv_op((8,))
        code = int.from_bytes(f[3][:2], "big")
    except (Closed, OSError) as e:
        code = repr(e)
    rest, end = read_to_end(ws.s)
    ws.s.close()
    t.ok(code == 1009 and end == "eof" and more,
         "close 1009 while the message is still coming: the close frame, then an end "
         "of file", "code %r, ended by %s, more sent: %s" % (code, end, more))

    t.ok(wait_fds(wsd, base, 5.0) <= base,
         "a client that closes ends the lingering at once: wsd's descriptors are back "
         "to %d" % base, open_fds(wsd))

    # A client that goes on sending after the answer is cut off after the
    # linger time, even though every gap between its bytes is short.
    s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
    s.sendall(BIG_HEAD)
    start = time.monotonic()
    got = b""
    cut = None
    s.settimeout(0.1)
    while time.monotonic() - start < 5 * LINGER_S:
        if not send_more(s, b"c" * 100):
            cut = time.monotonic() - start
            break
        try:
            d = s.recv(65536)
            got += d
        except socket.timeout:
            continue
        except ConnectionResetError:
            cut = time.monotonic() - start
            break
    s.close()
    t.ok(got.startswith(b"HTTP/1.1 431 ") and cut is not None,
         "a client that keeps sending after the answer is cut off (linger time %g s)"
         % LINGER_S, "cut after %s s, got %r" % (cut, got[:40]))

    # Clients that never close: at most LINGER_MAX of them linger, the others
    # are closed at once, and the lingering ones end after the linger time.
    t.ok(wait_fds(wsd, base, 5.0) <= base, "back to %d descriptors" % base, open_fds(wsd))
    socks = []
    for i in range(LINGER_MAX + 60):
        s = socket.create_connection(("127.0.0.1", g.port), timeout=5)
        s.sendall(BIG_HEAD)
        socks.append(s)
    answered = 0
    for s in socks:
        data, _ = read_to_end(s, timeout=5)
        answered += data.startswith(b"HTTP/1.1 431 ")
    t.eq(answered, len(socks), "every one of %d clients gets its 431" % len(socks))
    held = open_fds(wsd) - base
    t.ok(0 < held <= LINGER_MAX,
         "with %d answered clients open, wsd holds at most %d of them" % (len(socks), LINGER_MAX),
         "holds %d" % held)
    t.ok(wait_fds(wsd, base, 5 * LINGER_S) <= base,
         "and lets them go after the linger time, with the clients still open",
         open_fds(wsd))
    for s in socks:
        s.close()

    # Still serving.
    ws = RawWs(g.port)
    t.eq(ws.hello.get("type"), "hello", "wsd still serves a new client")
    ws.s.close()

t.done()
