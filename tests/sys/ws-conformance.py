"""RFC 6455 conformance of wsd, in numbered groups modelled on the Autobahn
Testsuite's: 1 framing, 2 ping/pong, 3 reserved bits, 4 reserved opcodes,
5 fragmentation, 6 UTF-8, 7 close, 9 limits.  Frames are crafted byte by
byte (rawws.py); valid text messages are gpiows requests and the reply is
checked, so everything goes through the real protocol.

Every case is one TAP line.  A case that must fail the connection passes
only when all of these hold: wsd's close frame carries the RFC's code (and
a reason that is valid UTF-8), wsd then closes the TCP connection (read to
EOF, bounded: no stall), wsd is still the same process, and a fresh client
is served."""
import json
import os
import socket
import struct
import time

from gpiows_test import Gpiows, Tap
from rawws import Closed, RawWs, frame, header, masked

t = Tap()
G = None        # the running gpiows
WSD = None      # wsd's pid when the test began

GET = '{"op":"get","pin":"led","id":"%s"}'


def padded(n, cid):
    """A get request of exactly n bytes (n >= 48), with id cid."""
    base = '{"op":"get","pin":"led","id":"%s","pad":""}' % cid
    assert n >= len(base), n
    s = base[:-2] + "x" * (n - len(base)) + '"}'
    assert len(s) == n
    return s.encode()


def fragments(data, sizes):
    """data cut into pieces of the given sizes (the rest in the last)."""
    out, i = [], 0
    for n in sizes:
        out.append(data[i:i + n])
        i += n
    out.append(data[i:])
    return out


def frag_frames(opcode, pieces):
    """One message as frames: the first with opcode, then continuations."""
    return b"".join(frame(opcode if i == 0 else 0, p, fin=(i == len(pieces) - 1))
                    for i, p in enumerate(pieces))


def conn():
    return RawWs(G.port)


def wsd_alive():
    """wsd is the same process and serves a fresh client; None when so,
    else what is wrong."""
    kids = G.children()
    if kids.get("wsd") != WSD:
        return "wsd is now %r, was %d" % (kids.get("wsd"), WSD)
    try:
        c = conn()
        r = c.request({"op": "get", "pin": "led"})
        c.close()
    except (OSError, Closed, AssertionError) as e:
        return "a fresh client is not served: %r" % e
    if r.get("ok") is not True:
        return "a fresh client's get failed: %r" % r
    return None


def fail_case(num, desc, data, code):
    """Send data: bytes, or a list of bytes (one write each) and functions
    (called with the connection, returning None or what is wrong: what must
    happen between the writes).  wsd must close with code, with no pong
    before it (no ping before a violation is valid in these cases), then
    close the TCP connection, and live on."""
    problems = []
    c = conn()
    try:
        for d in data if isinstance(data, list) else [data]:
            if callable(d):
                p = d(c)
                if p:
                    problems.append(p)
            else:
                c.send(d)
    except (BrokenPipeError, ConnectionResetError):
        pass        # wsd may close before all is sent; its close is read below
    except (socket.timeout, Closed) as e:
        problems.append("%s: %r" % (type(e).__name__, e))
    try:
        got, reason = c.read_close()
    except socket.timeout:
        got, reason = "timeout", b""
    except ConnectionResetError:
        got, reason = "reset", b""
    if got != code:
        problems.append("close code %r, want %d" % (got, code))
    if any(f[2] == 10 for f in getattr(c, "skipped", [])):
        problems.append("a pong came before the close")
    try:
        reason.decode("utf-8")
    except UnicodeDecodeError:
        problems.append("close reason is not UTF-8: %r" % reason)
    if not c.wait_eof():
        problems.append("wsd did not close the TCP connection (stall)")
    c.close()
    p = wsd_alive()
    if p:
        problems.append(p)
    t.ok(not problems, "%s %s -> close %d" % (num, desc, code), "; ".join(problems))


def ok_case(num, desc, fn):
    """fn(c) returns None when the case holds, else what is wrong; the
    connection must then still serve a request."""
    c = conn()
    try:
        p = fn(c)
        if p is None:
            r = c.request({"op": "get", "pin": "led"})
            if r.get("ok") is not True:
                p = "the connection no longer serves requests: %r" % r
    except (OSError, Closed, AssertionError, ValueError) as e:
        p = "%s: %r" % (type(e).__name__, e)
    c.close()
    t.ok(p is None, "%s %s" % (num, desc), p)


def expect_reply(c, cid, ok=True, code=None, words=(), timeout=None):
    r = c.recv_reply(timeout=timeout)
    if r.get("id") != cid:
        return "reply id %r, want %r: %r" % (r.get("id"), cid, r)
    if r.get("ok") is not ok:
        return "reply ok %r, want %r: %r" % (r.get("ok"), ok, r)
    if code is not None and r["error"]["code"] != code:
        return "error %r, want %r" % (r["error"]["code"], code)
    for w in words:
        if w not in r["error"]["message"]:
            return "error message %r lacks %r" % (r["error"]["message"], w)
    return None


def expect_error(c, code):
    """An error reply with no id (the message had none to give)."""
    r = c.recv_reply()
    if r.get("ok") is not False or r["error"]["code"] != code:
        return "want error %s, got %r" % (code, r)
    return None


def expect_pong(c, payload):
    f = c.recv_op((9, 10))
    if f[2] != 10 or f[3] != payload or not f[0] or f[1]:
        return "want pong %r, got %r" % (payload[:20], f)
    return None


def nothing_back(c, wait=0.3):
    """None when nothing but broadcasts (users counts) arrives within wait."""
    deadline = time.monotonic() + wait
    while True:
        try:
            f = c.recv_frame(max(deadline - time.monotonic(), 0.001))
        except socket.timeout:
            return None
        if f[2] != 1 or json.loads(f[3]).get("type") == "reply":
            return "unexpected frame %r" % (f,)


# ---------------------------------------------------------------- 1 framing

def group1():
    lengths = [(0, None), (125, 0), (126, 2), (127, 2), (65535, 2), (65536, 8)]
    for i, (n, enc) in enumerate(lengths, 1):
        cid = "1.1.%d" % i

        def text(c, n=n, enc=enc, cid=cid):
            if n == 0:
                c.send(frame(1, b"", lenbytes=0))
                return expect_error(c, "bad_json")
            c.send(frame(1, padded(n, cid), lenbytes=enc))
            return expect_reply(c, cid)
        ok_case(cid, "text message of %d bytes (%s length) is served" %
                (n, {None: "7-bit", 0: "7-bit", 2: "16-bit", 8: "64-bit"}[enc]), text)
    for i, (n, enc) in enumerate(lengths, 1):
        def binary(c, n=n, enc=enc):
            c.send(frame(2, os.urandom(n), lenbytes=enc))
            return expect_error(c, "binary_unsupported")
        ok_case("1.2.%d" % i, "binary message of %d bytes: error reply "
                "binary_unsupported, connection stays open" % n, binary)

    # RFC 6455 5.2 asks the sender for the minimal length encoding; a
    # receiver that can read the length loses nothing by accepting more.
    for i, (n, enc) in enumerate([(48, 2), (48, 8), (200, 8), (125, 2)], 1):
        cid = "1.3.%d" % i

        def nonmin(c, n=n, enc=enc, cid=cid):
            c.send(frame(1, padded(n, cid), lenbytes=enc))
            return expect_reply(c, cid)
        ok_case(cid, "%d bytes in a non-minimal %d-bit length: accepted" %
                (n, enc * 8), nonmin)

    def trickle(c):
        for b in frame(1, padded(300, "1.4.1")):
            c.send(bytes([b]))
        return expect_reply(c, "1.4.1")
    ok_case("1.4.1", "a 300-byte frame sent one byte per write", trickle)

    def two(c):
        c.send(frame(1, GET % "a") + frame(1, GET % "b"))
        return expect_reply(c, "a") or expect_reply(c, "b")
    ok_case("1.4.2", "two frames in one write: two replies in order", two)

    # Frames may follow the handshake request before its answer is read.
    try:
        c = RawWs(G.port, early=frame(1, GET % "1.4.3") + frame(9, b"early"))
        # The pong goes out at once, the reply when the helper answers.
        p = expect_pong(c, b"early") or expect_reply(c, "1.4.3")
        c.close()
    except (OSError, Closed, AssertionError) as e:
        p = repr(e)
    t.ok(p is None, "1.4.3 a request and a ping in the handshake's own write: "
         "served", p)

    fail_case("1.5.1", "64-bit length with the top bit set",
              struct.pack("!BBQ", 0x81, 0xff, 1 << 63) + b"\0\0\0\0", 1002)


# ---------------------------------------------------------------- 2 ping/pong

def group2():
    def ping(payload):
        def fn(c):
            c.send(frame(9, payload))
            return expect_pong(c, payload)
        return fn
    ok_case("2.1", "ping with no payload: pong with no payload", ping(b""))
    ok_case("2.2", "ping with 125 bytes of text: pong with the same", ping(b"x" * 125))
    ok_case("2.3", "ping with 125 bytes 0x00..0x7c: pong with the same", ping(bytes(range(125))))
    ok_case("2.4", "ping with binary non-UTF-8 payload: pong with the same",
            ping(b"\xff\xfe\x00\xc0" * 31))
    fail_case("2.5", "ping with 126 bytes", frame(9, b"x" * 126), 1002)
    fail_case("2.6", "ping with 64-bit length of 125", frame(9, b"x" * 125, lenbytes=8), 1002)
    fail_case("2.7", "fragmented ping (FIN 0)", frame(9, b"abc", fin=False), 1002)
    fail_case("2.8", "fragmented ping: FIN-0 ping then continuation",
              frame(9, b"ab", fin=False) + frame(0, b"c"), 1002)

    def unsolicited(payload):
        def fn(c):
            c.send(frame(10, payload))
            return nothing_back(c)
        return fn
    ok_case("2.9", "unsolicited pong with payload is ignored", unsolicited(b"hello"))
    ok_case("2.10", "unsolicited empty pong is ignored", unsolicited(b""))

    def ping_after_pong(c):
        c.send(frame(10, b"unsolicited") + frame(9, b"after"))
        return expect_pong(c, b"after")
    ok_case("2.11", "unsolicited pong, then ping: answered", ping_after_pong)

    def ten(c):
        c.send(b"".join(frame(9, b"ping-%d" % i) for i in range(10)))
        for i in range(10):
            p = expect_pong(c, b"ping-%d" % i)
            if p:
                return "pong %d: %s" % (i, p)
        return None
    ok_case("2.12", "10 pings in a row: 10 pongs in order", ten)

    def trickled(c):
        for b in frame(9, b"slowly"):
            c.send(bytes([b]))
        return expect_pong(c, b"slowly")
    ok_case("2.13", "ping sent one byte per write: pong", trickled)

    def ping_then_request(c):
        c.send(frame(9, b"first") + frame(1, GET % "2.14"))
        return expect_pong(c, b"first") or expect_reply(c, "2.14")
    ok_case("2.14", "ping and request in one write: pong and reply", ping_then_request)


# ---------------------------------------------------------------- 3 reserved bits

def group3():
    names = {4: "RSV1", 2: "RSV2", 1: "RSV3", 6: "RSV1+RSV2", 5: "RSV1+RSV3",
             3: "RSV2+RSV3", 7: "RSV1+RSV2+RSV3"}
    for i, rsv in enumerate([1, 2, 3, 4, 5, 6, 7], 1):
        fail_case("3.%d" % i, "text frame with %s" % names[rsv],
                  frame(1, GET % "3", rsv=rsv), 1002)

    fail_case("3.8", "request answered, then RSV1 frame and a ping: no pong",
              [frame(1, GET % "3.8"), lambda c: expect_reply(c, "3.8"),
               frame(1, GET % "x", rsv=4) + frame(9, b"late")], 1002)
    fail_case("3.9", "binary frame with RSV3", frame(2, b"\x00\x01", rsv=1), 1002)
    fail_case("3.10", "ping with RSV2", frame(9, b"p", rsv=2), 1002)
    fail_case("3.11", "pong with RSV1", frame(10, b"p", rsv=4), 1002)
    fail_case("3.12", "close with RSV1", frame(8, struct.pack("!H", 1000), rsv=4), 1002)
    fail_case("3.13", "continuation with RSV1 in a fragmented text",
              frame(1, b'{"op":', fin=False) + frame(0, b'"get"}', rsv=4), 1002)


# ---------------------------------------------------------------- 4 reserved opcodes

def group4():
    n = 0
    for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
        n += 1
        fail_case("4.%d.1" % n, "reserved opcode %d, empty" % op, frame(op), 1002)
        fail_case("4.%d.2" % n, "reserved opcode %d with payload" % op,
                  frame(op, b"reserved"), 1002)

        cid = "4.%d.3" % n
        fail_case(cid, "request answered, reserved opcode %d and a ping: no pong" % op,
                  [frame(1, GET % cid), lambda c, cid=cid: expect_reply(c, cid),
                   frame(op, b"x") + frame(9, b"late")], 1002)


# ---------------------------------------------------------------- 5 fragmentation

def group5():
    req = (GET % "5").encode()

    for k in range(1, 9):
        size = max(1, len(req) // k)
        pieces = fragments(req, [size] * (k - 1))

        def split(c, pieces=pieces):
            c.send(frag_frames(1, pieces))
            return expect_reply(c, "5")
        ok_case("5.1.%d" % k, "a request in %d fragments" % len(pieces), split)

    def bytewise(c):
        c.send(frag_frames(1, [req[i:i + 1] for i in range(len(req))]))
        return expect_reply(c, "5")
    ok_case("5.2", "a request in %d 1-byte fragments" % len(req), bytewise)

    def pings_between(c):
        # Each pong must come before the message is finished.
        for i in range(len(req)):
            c.send(frame(1 if i == 0 else 0, req[i:i + 1], fin=i == len(req) - 1))
            if i < len(req) - 1:
                c.send(frame(9, b"%d" % i))
                p = expect_pong(c, b"%d" % i)
                if p:
                    return "after fragment %d: %s" % (i, p)
        return expect_reply(c, "5")
    ok_case("5.3", "1-byte fragments with a ping between each: each pong "
            "before the next fragment", pings_between)

    def pings_one_write(c):
        data = b""
        for i in range(len(req)):
            data += frame(1 if i == 0 else 0, req[i:i + 1], fin=i == len(req) - 1)
            if i % 5 == 0:
                data += frame(9, b"p%d" % i)
        c.send(data)
        for i in range(0, len(req), 5):
            p = expect_pong(c, b"p%d" % i)
            if p:
                return p
        return expect_reply(c, "5")
    ok_case("5.4", "fragments and pings in one write: the pongs, then the reply",
            pings_one_write)

    def pong_between(c):
        c.send(frame(1, req[:10], fin=False) + frame(10, b"unsolicited") +
               frame(0, req[10:]))
        return expect_reply(c, "5")
    ok_case("5.5", "unsolicited pong between fragments is ignored", pong_between)

    def empties(c):
        c.send(frame(1, b"", fin=False) + frame(0, req[:7], fin=False) +
               frame(0, b"", fin=False) + frame(0, req[7:], fin=False) + frame(0, b""))
        return expect_reply(c, "5")
    ok_case("5.6", "empty first, middle and last fragments", empties)

    def all_empty(c):
        c.send(frame(1, b"", fin=False) + frame(0, b"", fin=False) + frame(0, b""))
        return expect_error(c, "bad_json")
    ok_case("5.7", "a text message of three empty fragments: bad_json reply", all_empty)

    def binary_frag(c):
        c.send(frame(2, b"\x00\x01", fin=False) + frame(0, b"\x02"))
        return expect_error(c, "binary_unsupported")
    ok_case("5.8", "fragmented binary message: binary_unsupported reply", binary_frag)

    def ping_fin_mid(c):
        c.send(frame(1, req[:5], fin=False) + frame(9, b"mid") + frame(0, req[5:]))
        return expect_pong(c, b"mid") or expect_reply(c, "5")
    ok_case("5.9", "ping in the middle, the request completes", ping_fin_mid)

    fail_case("5.10", "continuation (FIN 1) with no message open", frame(0, req), 1002)
    fail_case("5.11", "continuation (FIN 0) with no message open", frame(0, req, fin=False), 1002)
    fail_case("5.12", "request answered, then a continuation",
              [frame(1, GET % "5.12"), lambda c: expect_reply(c, "5.12"),
               frame(0, b"x")], 1002)
    fail_case("5.13", "a new text frame inside a fragmented text",
              frame(1, req[:5], fin=False) + frame(1, req), 1002)
    fail_case("5.14", "a new binary frame inside a fragmented text",
              frame(1, req[:5], fin=False) + frame(2, b"x"), 1002)
    fail_case("5.15", "a new text start (FIN 0) inside a fragmented binary",
              frame(2, b"x", fin=False) + frame(1, b"y", fin=False), 1002)
    fail_case("5.16", "fragmented ping inside a fragmented text",
              frame(1, req[:5], fin=False) + frame(9, b"a", fin=False) +
              frame(0, b"b") + frame(0, req[5:]), 1002)
    fail_case("5.17", "fragmented pong inside a fragmented text",
              frame(1, req[:5], fin=False) + frame(10, b"a", fin=False), 1002)
    fail_case("5.18", "fragmented close", frame(8, struct.pack("!H", 1000), fin=False), 1002)


# ---------------------------------------------------------------- 6 UTF-8

VALID = [
    ("6.1.1", "Greek kosme", "κόσμε"),
    ("6.1.2", "U+0080 (first 2-byte)", "\u0080"),
    ("6.1.3", "U+07FF (last 2-byte)", "\u07ff"),
    ("6.1.4", "U+0800 (first 3-byte)", "\u0800"),
    ("6.1.5", "U+D7FF (below the surrogates)", "\ud7ff"),
    ("6.1.6", "U+E000 (above the surrogates)", "\ue000"),
    ("6.1.7", "U+FFFD", "\ufffd"),
    ("6.1.8", "U+FFFF (noncharacter, still valid)", "\uffff"),
    ("6.1.9", "U+10000 (first 4-byte)", "\U00010000"),
    ("6.1.10", "U+10FFFF (last code point)", "\U0010ffff"),
    ("6.1.11", "mixed 1- to 4-byte", "a€é𝄞z"),
]

# The pin name whose reply echoes it: every byte split is tried.
SPLIT_NAME = "κόσμε-€-𝄞-\U0010ffff"

INVALID = [
    ("lone continuation 0x80", b"\x80"),
    ("lone continuation 0xBF", b"\xbf"),
    ("two continuations", b"\x80\xbf"),
    ("overlong '/' in 2 bytes", b"\xc0\xaf"),
    ("overlong '/' in 3 bytes", b"\xe0\x80\xaf"),
    ("overlong '/' in 4 bytes", b"\xf0\x80\x80\xaf"),
    ("overlong '/' in 5 bytes", b"\xf8\x80\x80\x80\xaf"),
    ("overlong '/' in 6 bytes", b"\xfc\x80\x80\x80\x80\xaf"),
    ("overlong NUL in 2 bytes", b"\xc0\x80"),
    ("overlong NUL in 3 bytes", b"\xe0\x80\x80"),
    ("largest overlong 2-byte U+007F", b"\xc1\xbf"),
    ("largest overlong 3-byte U+07FF", b"\xe0\x9f\xbf"),
    ("largest overlong 4-byte U+FFFF", b"\xf0\x8f\xbf\xbf"),
    ("surrogate U+D800", b"\xed\xa0\x80"),
    ("surrogate U+DB7F", b"\xed\xad\xbf"),
    ("surrogate U+DB80", b"\xed\xae\x80"),
    ("surrogate U+DBFF", b"\xed\xaf\xbf"),
    ("surrogate U+DC00", b"\xed\xb0\x80"),
    ("surrogate U+DF80", b"\xed\xbe\x80"),
    ("surrogate U+DFFF", b"\xed\xbf\xbf"),
    ("surrogate pair U+D800 U+DC00", b"\xed\xa0\x80\xed\xb0\x80"),
    ("U+110000", b"\xf4\x90\x80\x80"),
    ("U+13FFFF via F4 BF", b"\xf4\xbf\xbf\xbf"),
    ("F5 lead byte", b"\xf5\x80\x80\x80"),
    ("F7 BF BF BF", b"\xf7\xbf\xbf\xbf"),
    ("byte 0xFE", b"\xfe"),
    ("byte 0xFF", b"\xff"),
    ("FE FE FF FF", b"\xfe\xfe\xff\xff"),
    ("2-byte lead then ASCII", b"\xc2A"),
    ("3-byte lead, 1 continuation, then ASCII", b"\xe2\x82A"),
    ("4-byte lead, 2 continuations, then ASCII", b"\xf0\x9d\x84A"),
    ("lead byte then another lead", b"\xc3\xc3\xa9"),
]

# Messages that end in the middle of a sequence.
TRUNCATED = [
    ("ends after a 2-byte lead", b"\xc2"),
    ("ends after 2 of 3 bytes", b"\xe2\x82"),
    ("ends after 3 of 4 bytes", b"\xf0\x9d\x84"),
]

# (first fragment's tail, next fragment's head): invalid across the cut.
SPANNING = [
    ("ED | A0 80 (surrogate)", b"\xed", b"\xa0\x80"),
    ("F4 | 90 80 80 (past U+10FFFF)", b"\xf4", b"\x90\x80\x80"),
    ("E0 | 80 80 (overlong)", b"\xe0", b"\x80\x80"),
    ("F0 9D | 84 41 (truncated)", b"\xf0\x9d", b"\x84A"),
    ("C2 | C2 A9 (lead after lead)", b"\xc2", b"\xc2\xa9"),
]


def get_named(name, cid):
    if isinstance(name, str):
        name = name.encode()
    return b'{"op":"get","pin":"' + name + b'","id":"' + cid.encode() + b'"}'


def utf8_reply(c):
    """The next reply, checked to be valid UTF-8 on the wire."""
    while True:
        f = c.recv_op((1,))
        try:
            m = json.loads(f[3].decode("utf-8"))
        except UnicodeDecodeError:
            raise ValueError("a text frame is not valid UTF-8: %r" % f[3])
        if m.get("type") == "reply":
            return m


def group6():
    for num, desc, name in VALID:
        def valid(c, name=name, num=num):
            c.send(frame(1, get_named(name, num)))
            return expect_reply(c, num, ok=False, code="unknown_pin", words=[name])
        ok_case(num, "valid UTF-8 %s: unknown_pin reply echoes it" % desc, valid)

    msg = get_named(SPLIT_NAME, "6.2")
    start = msg.index(SPLIT_NAME.encode())
    end = start + len(SPLIT_NAME.encode())
    for pos in range(start + 1, end):
        def split(c, pos=pos):
            c.send(frag_frames(1, [msg[:pos], msg[pos:]]))
            return expect_reply(c, "6.2", ok=False, code="unknown_pin",
                                words=[SPLIT_NAME])
        ok_case("6.2.%d" % (pos - start), "valid multi-byte name split at byte "
                "%d of it: accepted, echoed" % (pos - start), split)

    def bytewise(c):
        c.send(frag_frames(1, [msg[i:i + 1] for i in range(len(msg))]))
        return expect_reply(c, "6.2", ok=False, code="unknown_pin", words=[SPLIT_NAME])
    ok_case("6.3", "valid multi-byte name in 1-byte fragments: accepted", bytewise)

    def three_way(c):
        # Every 4-byte sequence cut into three fragments, at once.
        cuts = [msg[:end - 3], msg[end - 3:end - 1], msg[end - 1:]]
        c.send(frag_frames(1, cuts))
        return expect_reply(c, "6.2", ok=False, code="unknown_pin", words=[SPLIT_NAME])
    ok_case("6.4", "a 4-byte sequence cut across three fragments: accepted", three_way)

    for i, (desc, bad) in enumerate(INVALID, 1):
        fail_case("6.5.%d" % i, "invalid UTF-8: %s" % desc,
                  frame(1, get_named(bad, "6.5")), 1007)
    for i, (desc, bad) in enumerate(INVALID, 1):
        m = get_named(bad, "6.6")
        cut = m.index(bad) + 1
        fail_case("6.6.%d" % i, "invalid UTF-8 split after its first byte: %s" % desc,
                  frag_frames(1, [m[:cut], m[cut:]]), 1007)
    for i, (desc, bad) in enumerate(TRUNCATED, 1):
        fail_case("6.7.%d" % i, "text message %s" % desc,
                  frame(1, b'{"op":"get","pin":"x' + bad), 1007)
        fail_case("6.8.%d" % i, "fragmented text message %s" % desc,
                  frame(1, b'{"op":', fin=False) + frame(0, b'"get","x' + bad), 1007)
    for i, (desc, a, b) in enumerate(SPANNING, 1):
        fail_case("6.9.%d" % i, "invalid across fragments, message left open: %s" % desc,
                  frame(1, b'{"pin":"' + a, fin=False) + frame(0, b, fin=False), 1007)

    # Fail fast: the rest of the message is never sent.
    fail_case("6.10.1", "invalid byte in a first fragment (FIN 0), nothing after",
              frame(1, b'{"op":"get","pin":"\xff', fin=False), 1007)
    key = os.urandom(4)
    part = b'{"op":"get","pin":"\xc0\xaf'
    fail_case("6.10.2", "invalid byte 20 bytes into a 1000-byte frame, rest never sent",
              header(1, 1000, key=key) + masked(part, key), 1007)
    fail_case("6.10.3", "invalid byte in a middle fragment, message never finished",
              frame(1, b'{"op":', fin=False) + frame(0, b'"\xed\xa0\x80', fin=False), 1007)

    def binary_any(c):
        c.send(frame(2, b"\xff\xfe\xc0\xaf\xed\xa0\x80"))
        return expect_error(c, "binary_unsupported")
    ok_case("6.11", "invalid UTF-8 in a binary message is not checked: "
            "binary_unsupported reply", binary_any)

    # Error messages quote at most so many bytes of a name: the cut must
    # not split a character, or the reply would be invalid UTF-8.
    long_name = "x" + "é" * 40
    for num, req in (("6.12.1", get_named(long_name, "6.12.1")),
                     ("6.12.2", ('{"op":"%s","id":"6.12.2"}' % long_name).encode())):
        def long_quoted(c, req=req, num=num):
            c.send(frame(1, req))
            m = utf8_reply(c)
            if m.get("id") != num or m.get("ok") is not False:
                return "want an error reply with id %s: %r" % (num, m)
            return None
        ok_case(num, "a 81-byte multi-byte %s is quoted in a valid UTF-8 reply" %
                ("pin name" if num.endswith("1") else "op"), long_quoted)

    def long_bad_json(c):
        # jansson quotes the text near a syntax error, cut to a fixed size.
        c.send(frame(1, b'{"op":"get","pin":' + "é".encode() * 200 + b'}'))
        m = utf8_reply(c)
        if m.get("ok") is not False or m["error"]["code"] != "bad_json":
            return "want bad_json: %r" % m
        return None
    ok_case("6.12.3", "bad JSON near 200 multi-byte characters: a valid UTF-8 "
            "bad_json reply", long_bad_json)


# ---------------------------------------------------------------- 7 close

def close_case(num, desc, payload, want, want_payload=None):
    """The close is echoed with code want (1005: an empty close)."""
    def fn():
        c = conn()
        c.send(frame(8, payload))
        got, reason = c.read_close()
        eof = c.wait_eof()
        c.close()
        problems = []
        if got != want:
            problems.append("close %r, want %r" % (got, want))
        if not eof:
            problems.append("wsd did not close the TCP connection (stall)")
        p = wsd_alive()
        if p:
            problems.append(p)
        t.ok(not problems, "%s %s -> echoed %s" % (num, desc, want), "; ".join(problems))
    fn()


def group7():
    close_case("7.1.1", "empty close", b"", 1005)
    close_case("7.1.2", "close 1000 with reason", struct.pack("!H", 1000) + b"bye", 1000)
    valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
             3000, 3999, 4000, 4999]
    for i, code in enumerate(valid, 1):
        close_case("7.2.%d" % i, "close code %d" % code, struct.pack("!H", code), code)
    # 1004 reserved; 1005, 1006, 1015 never on the wire; 1016-2999 unassigned
    # (the IANA registry assigns 1012-1014, so those above are valid).
    invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
    for i, code in enumerate(invalid, 1):
        fail_case("7.3.%d" % i, "close code %d" % code,
                  frame(8, struct.pack("!H", code)), 1002)
    fail_case("7.4.1", "close payload of 1 byte", frame(8, b"\x03"), 1002)
    close_case("7.4.2", "reason of 123 ASCII bytes", struct.pack("!H", 1000) + b"r" * 123, 1000)
    close_case("7.4.3", "reason of 123 bytes in 41 3-byte characters",
               struct.pack("!H", 1001) + "€".encode() * 41, 1001)
    fail_case("7.4.4", "reason of 124 bytes (payload 126)",
              frame(8, struct.pack("!H", 1000) + b"r" * 124), 1002)
    fail_case("7.5.1", "reason with invalid UTF-8",
              frame(8, struct.pack("!H", 1000) + b"bad \xff"), 1007)
    fail_case("7.5.2", "reason with a surrogate",
              frame(8, struct.pack("!H", 1000) + b"\xed\xa0\x80"), 1007)
    fail_case("7.5.3", "reason ending in a truncated sequence",
              frame(8, struct.pack("!H", 1000) + b"ok \xe2\x82"), 1007)

    def after_close(num, desc, extra):
        c = conn()
        c.send(frame(8, struct.pack("!H", 1000)) + extra)
        got = []
        try:
            while True:
                got.append(c.recv_frame()[2])
        except (Closed, ConnectionResetError):
            eof = True
        except socket.timeout:
            eof = False
        c.close()
        problems = []
        # Only a users count (opcode 1 with no reply) may precede the close.
        if 8 not in got or got[-1] != 8 or 10 in got:
            problems.append("frames %r: want the close last and no pong" % got)
        if not eof:
            problems.append("wsd did not close the TCP connection (stall)")
        p = wsd_alive()
        if p:
            problems.append(p)
        t.ok(not problems, "%s %s" % (num, desc), "; ".join(problems))
    after_close("7.6.1", "a ping after the close is ignored", frame(9, b"late"))
    after_close("7.6.2", "a request after the close is ignored, nothing after the close",
                frame(1, GET % "late"))
    after_close("7.6.3", "garbage after the close is ignored", b"\xff" * 64)

    def mid_message(c):
        c.send(frame(1, b'{"op":', fin=False) + frame(8, struct.pack("!H", 1000)))
        got, _ = c.read_close()
        return None if got == 1000 else "close %r" % got
    c = conn()
    p = mid_message(c)
    eof = c.wait_eof()
    c.close()
    t.ok(p is None and eof and wsd_alive() is None,
         "7.7 close inside a fragmented message: echoed, connection closed", p)


# ---------------------------------------------------------------- 9 limits

MAX = 65536     # the default max message


def group9():
    def exact(c):
        c.send(frame(1, padded(MAX, "9.1")))
        return expect_reply(c, "9.1")
    ok_case("9.1", "a message of exactly max message (%d): served" % MAX, exact)
    fail_case("9.2", "a message of max message + 1", frame(1, padded(MAX + 1, "9.2")), 1009)

    def exact_frag(c):
        c.send(frag_frames(1, fragments(padded(MAX, "9.3"), [MAX // 16] * 15)))
        return expect_reply(c, "9.3")
    ok_case("9.3", "max message in 16 fragments: served", exact_frag)
    fail_case("9.4", "max message + 1 in 16 fragments",
              frag_frames(1, fragments(padded(MAX + 1, "9.4"), [MAX // 16] * 15)), 1009)
    fail_case("9.5", "max message + 1 announced, no payload sent: refused at the header",
              header(1, MAX + 1), 1009)
    fail_case("9.6", "2^62 bytes announced in a 64-bit length", header(1, 1 << 62), 1009)
    key = os.urandom(4)
    fail_case("9.7", "fragments past the limit: the over-limit header alone",
              frame(1, b"x" * 60000, fin=False) + header(0, 6000, key=key), 1009)

    big = padded(20000, "9.8")

    def many(c):
        c.send(frag_frames(1, [big[i:i + 1] for i in range(len(big))]))
        return expect_reply(c, "9.8", timeout=10)
    ok_case("9.8", "a 20000-byte request in 20000 1-byte fragments: served", many)

    def pings_in_big(c):
        # Control frames inside a message do not count towards its size.
        m = padded(MAX, "9.9")
        c.send(frame(1, m[:MAX // 2], fin=False) + frame(9, b"x" * 125) +
               frame(0, m[MAX // 2:]))
        return expect_pong(c, b"x" * 125) or expect_reply(c, "9.9")
    ok_case("9.9", "a 125-byte ping inside a max-size message: both served", pings_in_big)
    fail_case("9.10", "unmasked text frame", frame(1, GET % "9.10", mask=False), 1002)
    fail_case("9.11", "unmasked ping", frame(9, b"p", mask=False), 1002)
    fail_case("9.12", "unmasked continuation",
              frame(1, b'{"op":', fin=False) + frame(0, b'"get"}', mask=False), 1002)
    fail_case("9.13", "unmasked empty close", frame(8, b"", mask=False), 1002)


with Gpiows() as g:
    G = g
    WSD = g.children()["wsd"]
    for grp in (group1, group2, group3, group4, group5, group6, group7, group9):
        before = t.n
        start = time.monotonic()
        grp()
        t.diag("%s: %d cases in %.1f s" % (grp.__name__, t.n - before,
                                           time.monotonic() - start))
    t.eq(g.children().get("wsd"), WSD, "wsd is the process it was at the start")
t.done()
