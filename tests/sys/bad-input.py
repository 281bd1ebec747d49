"""Bad input gets an error reply naming the problem; the connection stays
open, the other clients are not disturbed.  Protocol violations close with
the RFC 6455 code and wsd keeps serving everybody else."""
import asyncio
import base64
import json
import os
import socket
import struct

from gpiows_test import Client, Gpiows, Tap, recv_head

t = Tap()

CASES = [
    # (request, error code, words the message must contain)
    ('{"op":"set","pin":"button","value":1}', "not_output", ["button", "input"]),
    ('{"op":"toggle","pin":"button"}', "not_output", ["button"]),
    ('{"op":"set","pin":"nosuch","value":1}', "unknown_pin", ["nosuch"]),
    ('{"op":"get","pin":"nosuch"}', "unknown_pin", ["nosuch"]),
    ('{"op":"set","pin":"led","value":2}', "bad_value", ["0 or 1"]),
    ('{"op":"get","pin":"led","id":9223372036854775808}', "bad_json", ["integer"]),
    ('{"op":"get","pin":"led","id":1e400}', "bad_json", ["overflow"]),
    ('{"op":"set","pin":"led","value":"1"}', "bad_value", ["0 or 1"]),
    ('{"op":"set","pin":"led","value":true}', "bad_value", ["0 or 1"]),
    ('{"op":"set","pin":"led","value":1.0}', "bad_value", ["0 or 1"]),
    ('{"op":"set","pin":"led"}', "bad_request", ["value"]),
    ('{"op":"set","value":1}', "bad_request", ["pin"]),
    ('{"op":"set","pin":7,"value":1}', "bad_request", ["pin"]),
    ('{"op":"frobnicate"}', "unknown_op", ["frobnicate"]),
    ('{"pin":"led"}', "bad_request", ["op"]),
    ('{"op":5}', "bad_request", ["op"]),
    ('[1,2,3]', "bad_request", ["object"]),
    ('"set"', "bad_request", ["object"]),
    ('not json at all', "bad_json", ["JSON"]),
    ('{"op":"set","pin":"led","value":1', "bad_json", ["JSON"]),
    ('{"op":"get","op":"set"}', "bad_json", ["duplicate"]),
    ('', "bad_json", ["JSON"]),
    # Each of these once stopped wsd's own reader of requests (a NULL
    # pointer): an object that is empty, unfinished, or has a key it skips.
    ('{}', "bad_request", ["op"]),
    ('{ }', "bad_request", ["op"]),
    ('{', "bad_json", ["JSON"]),
    ('{1:2}', "bad_json", ["JSON"]),
    ('{"op":"get","pin":"led",}', "bad_json", ["JSON"]),
    ('{"longerkey":1}', "bad_request", ["op"]),
]


# wsd reads the common requests (get/set/toggle/sim.pull with pin, value
# and id) without jansson.  Each of these, sent as is and again with a key
# wsd ignores appended (which only jansson reads), must get the same reply.
PARITY = [
    '{"op":"get","pin":"led","id":1}',
    '{"id":2,"pin":"led","op":"get"}',
    ' { "op" : "get" ,\n"pin"\r:\t"led" } ',
    '{"op":"set","pin":"led","value":1,"id":3}',
    '{"op":"set","pin":"led","value":2}',
    '{"op":"set","pin":"led","value":-1}',
    '{"op":"set","pin":"led","value":1.0}',
    '{"op":"set","pin":"led"}',
    '{"op":"set","value":1}',
    '{"op":"set","pin":"led","value":true}',
    '{"op":"get","pin":"nosuch"}',
    '{"op":"get","pin":""}',
    '{"op":"get","pin":"x/../y"}',
    '{"op":"toggle","pin":"button"}',
    '{"op":"toggle","pin":"led","id":4}',
    '{"op":"toggle","pin":"led","value":"x"}',
    '{"op":"sim.pull","pin":"led","value":1}',
    '{"op":"sim.pull","pin":"button","value":7}',
    '{"op":"get","pin":"led","id":-5}',
    '{"op":"get","pin":"led","id":999999999999999999}',
    '{"op":"get","pin":"led","id":-999999999999999999}',
    '{"op":"get","pin":"led","id":9999999999999999999}',
    '{"op":"get","pin":"led","id":01}',
    '{"op":"get","pin":"led","id":-0}',
    '{"op":"get","pin":"led","id":1e3}',
    '{"op":"get","pin":"le\\u0064"}',
    '{"op":"get","pin":"led","pin":"led"}',
    '{"op":"get","op":"set","pin":"led"}',
    '{"op":"get","pin":"l\u00ebd"}',
    '{"op":"getx","pin":"led"}',
    '{"op":"","pin":"led"}',
    '{"op":"get","pin":"led"}x}',
    '{"op":"get","pin":"led"} {}',
    '{"op":"get","longerkey":1,"pin":"led"}',
    '{"o\\u0070":"get","pin":"led"}',
    '{"op":"get",1:2}',
]


async def parity(a):
    r = await a.request({"op": "set", "pin": "led", "value": 1})
    for text in PARITY:
        got = []
        for msg in (text, text.rstrip()[:-1] + ',"zz":0}'):
            await a.ws.send(msg)
            r = await a.wait_for(lambda m: m.get("type") == "reply")
            if '"toggle"' in text or '"sim.pull"' in text:
                r.pop("value", None)
            r.pop("seq", None)
            got.append(r)
        name = text.encode("unicode_escape").decode()[:45]
        t.eq(got[0], got[1], "%-45s: the same reply as jansson's" % name)


async def main(g):
    a = await Client.connect(g)
    other = await Client.connect(g)
    await parity(a)
    for text, code, words in CASES:
        await a.ws.send(text)
        r = await a.wait_for(lambda m: m.get("type") == "reply")
        ok = r.get("ok") is False and r["error"]["code"] == code and \
            all(w.lower() in r["error"]["message"].lower() for w in words)
        t.ok(ok, "%-45s -> %s" % (text[:45], code), r)
    r = await a.request({"op": "frobnicate"})
    t.eq(r["id"], a.next_id, "an error reply carries the request's id")
    # An id is any JSON value, given back as the same value.
    for rid in ('{"a":[1,null,true]}', '"\\u00e9\\n"', "0.1", "null", "[]",
                "-9223372036854775808", "1E2"):
        await a.ws.send('{"op":"get","pin":"led","id":%s}' % rid)
        r = await a.wait_for(lambda m: m.get("type") == "reply")
        t.ok(r.get("ok") is True and "id" in r and r["id"] == json.loads(rid),
             "id %s comes back as the same value" % rid, r)
    await a.ws.send(b"\x00\x01binary")
    r = await a.wait_for(lambda m: m.get("type") == "reply")
    t.eq(r["error"]["code"], "binary_unsupported", "a binary frame gets an error reply")
    r = await a.request({"op": "set", "pin": "led", "value": 1})
    t.ok(r["ok"], "after all that, the same connection still works", r)
    e = await other.wait_for(lambda m: m.get("type") == "pin")
    t.eq((e["pin"], e["value"]), ("led", 1), "and the other client still gets events")
    await a.close()
    await other.close()


def raw_ws(port):
    """A WebSocket opened by hand, to send what no library would."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    head = recv_head(s, 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def frame(opcode, payload, fin=True, mask=True, rsv=0):
    b0 = (0x80 if fin else 0) | rsv << 4 | opcode
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return hdr + payload
    k = os.urandom(4)
    return hdr + k + bytes(c ^ k[i % 4] for i, c in enumerate(payload))


def read_close(s):
    """Read frames until the close frame; return its code (None on EOF)."""
    buf = b""
    while True:
        while len(buf) < 2:
            d = s.recv(4096)
            if not d:
                return None
            buf += d
        op, n = buf[0] & 0x0f, buf[1] & 0x7f
        off = 2
        if n == 126:
            n, off = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            n, off = struct.unpack("!Q", buf[2:10])[0], 10
        while len(buf) < off + n:
            d = s.recv(65536)
            if not d:
                return None
            buf += d
        payload, buf = buf[off:off + n], buf[off + n:]
        if op == 8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


VIOLATIONS = [
    ("invalid UTF-8 in a text frame", frame(1, b'{"op":"get","pin":"\xff"}'), 1007),
    ("unmasked client frame", frame(1, b'{"op":"get"}', mask=False), 1002),
    ("reserved bit set", frame(1, b"{}", rsv=4), 1002),
    ("reserved opcode 3", frame(3, b"x"), 1002),
    ("continuation with no message", frame(0, b"x"), 1002),
    ("message over the limit", frame(1, b"[" + b"0," * 40000 + b"0]"), 1009),
    ("close with code 1000", frame(8, struct.pack("!H", 1000)), 1000),
]

with Gpiows() as g:
    asyncio.run(main(g))
    for name, data, want in VIOLATIONS:
        s = raw_ws(g.port)
        s.sendall(data)
        try:
            code = read_close(s)
        except socket.timeout:
            code = "timeout"
        s.close()
        t.eq(code, want, "%s: close %s" % (name, want))

    async def still_serving():
        c = await Client.connect(g)
        r = await c.request({"op": "get", "pin": "led"})
        await c.close()
        return r["ok"]
    t.ok(asyncio.run(still_serving()), "wsd still serves new clients after the violations")
    t.eq(g.proc.poll(), None, "the helper is still running")
t.done()
