"""A large file to a slow reader arrives whole: the request-head deadline
does not run while a response is being written."""
import os
import socket
import tempfile
import time

from gpiows_test import Gpiows, Tap

t = Tap()
SIZE = 12 * 1024 * 1024

with tempfile.TemporaryDirectory(prefix="gpiows-www-") as www:
    os.chmod(www, 0o755)
    data = os.urandom(SIZE)
    with open(os.path.join(www, "big.bin"), "wb") as f:
        f.write(data)
    os.chmod(os.path.join(www, "big.bin"), 0o644)
    with Gpiows(www=www) as g:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.settimeout(40)
        s.connect(("127.0.0.1", g.port))
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        start = time.monotonic()
        buf = b""
        try:
            while True:
                d = s.recv(64 * 1024)
                if not d:
                    break
                buf += d
                if len(buf) > SIZE and buf.endswith(data[-64:]):
                    break
                time.sleep(0.06)     # about 1 MB/s
        except socket.timeout:
            pass
        elapsed = time.monotonic() - start
        body = buf.partition(b"\r\n\r\n")[2]
        t.ok(elapsed > 10, "the download took longer than the head deadline (%.1f s)" % elapsed)
        t.eq((len(body), body == data), (SIZE, True), "the whole file arrived intact")
        # The connection is still usable afterwards (keep-alive).
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: none\r\n\r\n")
        d = s.recv(64)
        t.ok(d.startswith(b"HTTP/1.1 200"), "and the keep-alive connection serves the next request")
        s.close()
t.done()
