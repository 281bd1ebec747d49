"""A raw-socket WebSocket client for the conformance tests: it crafts every
frame byte by byte (any opcode, RSV bits, length encoding, mask, split) and
reads wsd's frames back one at a time, so a test can say exactly what went
over the wire and what came back.  No library would send most of this."""

import base64
import json
import os
import socket
import struct
import time


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, lenbytes=None):
    """The bytes of one client frame.  lenbytes forces the length encoding:
    0 (7-bit), 2 (16-bit) or 8 (64-bit), minimal when None."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | rsv << 4 | opcode
    m = 0x80 if mask else 0
    n = len(payload)
    if lenbytes is None:
        lenbytes = 0 if n < 126 else 2 if n < 65536 else 8
    if lenbytes == 0:
        hdr = struct.pack("!BB", b0, m | n)
    elif lenbytes == 2:
        hdr = struct.pack("!BBH", b0, m | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return hdr + payload
    k = os.urandom(4)
    return hdr + k + masked(payload, k)


def masked(payload, key, offset=0):
    return bytes(c ^ key[(i + offset) % 4] for i, c in enumerate(payload))


def header(opcode, length, fin=True, key=b"\0\0\0\0", lenbytes=None):
    """Only the header of a masked frame announcing length bytes (a test
    then sends as much of the payload as it likes, masked with key)."""
    b0 = (0x80 if fin else 0) | opcode
    if lenbytes is None:
        lenbytes = 0 if length < 126 else 2 if length < 65536 else 8
    if lenbytes == 0:
        return struct.pack("!BB", b0, 0x80 | length) + key
    if lenbytes == 2:
        return struct.pack("!BBH", b0, 0x80 | 126, length) + key
    return struct.pack("!BBQ", b0, 0x80 | 127, length) + key


class Closed(Exception):
    """The TCP connection ended where a frame was expected."""


class RawWs:
    """One WebSocket connection opened and spoken by hand."""

    def __init__(self, port, timeout=5.0, rcvbuf=None, hello=True, early=b"",
                 path="/ws"):
        """early: bytes sent in the same write as the handshake request."""
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Before connect, so that the window is small from the start.
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(timeout)
        self.s.connect(("127.0.0.1", port))
        self.buf = b""
        self.timeout = timeout
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                        % (path, port, key)).encode() + early)
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                raise Closed("no handshake response")
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise Closed("handshake refused: %r" % head[:60])
        self.hello = None
        self.next_id = 0
        if hello:
            m = self.recv_json()
            assert m.get("type") == "hello", m
            self.hello = m

    def send(self, data):
        self.s.sendall(data)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out waiting for a frame")
            self.s.settimeout(left)
            d = self.s.recv(65536)
            if not d:
                raise Closed("EOF")
            self.buf += d

    def recv_frame(self, timeout=None):
        """(fin, rsv, opcode, payload) of wsd's next frame.  A server frame
        is never masked: one that is raises AssertionError."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self._fill(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "a server frame is masked"
        n, off = b1 & 0x7f, 2
        if n == 126:
            self._fill(4, deadline)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._fill(10, deadline)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._fill(off + n, deadline)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0f, payload

    def recv_op(self, opcodes, timeout=None):
        """The next frame with one of these opcodes; others are skipped
        (broadcasts such as users counts may come in between)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            f = self.recv_frame(max(deadline - time.monotonic(), 0.001))
            if f[2] in opcodes:
                return f

    def recv_json(self, timeout=None):
        f = self.recv_op((1,), timeout)
        return json.loads(f[3].decode())

    def recv_reply(self, rid=None, timeout=None):
        """The next reply (with id rid when given); events are skipped."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            m = self.recv_json(max(deadline - time.monotonic(), 0.001))
            if m.get("type") == "reply" and (rid is None or m.get("id") == rid):
                return m

    def request(self, msg, timeout=None):
        self.next_id += 1
        msg = dict(msg, id=self.next_id)
        self.send(frame(1, json.dumps(msg)))
        return self.recv_reply(self.next_id, timeout)

    def read_close(self, timeout=None):
        """The close frame's (code, reason); code 1005 for an empty close,
        None when the connection ended with no close frame.  The frames
        before it are kept in self.skipped."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self.skipped = []
        while True:
            try:
                f = self.recv_frame(max(deadline - time.monotonic(), 0.001))
            except Closed:
                return None, None
            if f[2] == 8:
                break
            self.skipped.append(f)
        p = f[3]
        if len(p) >= 2:
            return struct.unpack("!H", p[:2])[0], p[2:]
        return 1005, b""

    def wait_eof(self, timeout=None):
        """True when wsd closes the TCP connection within timeout (whatever
        else it sent first is dropped); False on a stall."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self.buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            if not d:
                return True

    def close(self):
        self.s.close()


def toggle_batch(w, first_id, state, count):
    """Send count toggles of led in one write; read their replies and the
    pin events up to the last reply, checking their order into state
    (seq, value, events, users: every users count seen).  Returns None or
    what is wrong."""
    w.send(b"".join(frame(1, json.dumps({"op": "toggle", "pin": "led",
                                         "id": first_id + i}))
                    for i in range(count)))
    want = first_id
    deadline = time.monotonic() + 10    # failure bound: a stall
    while want < first_id + count:
        left = deadline - time.monotonic()
        if left <= 0:
            return "stalled waiting for reply %d" % want
        try:
            m = w.recv_json(left)
        except (OSError, Closed) as e:
            return "working client: %r" % e
        typ = m.get("type")
        if typ == "reply":
            if m.get("id") != want or m.get("ok") is not True:
                return "reply %r, want id %d ok" % (m, want)
            want += 1
        elif typ == "pin" and m.get("pin") == "led":
            if m["seq"] <= state["seq"] or m["value"] == state["value"]:
                return "event out of order: %r after seq %d value %d" % (
                    m, state["seq"], state["value"])
            state["seq"], state["value"] = m["seq"], m["value"]
            state["events"] += 1
        elif typ == "users":
            state["users"].append(m["count"])
    return None
