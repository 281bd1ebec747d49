"""RFC 6455 as a real client uses it: ping answered by pong, a request sent
in fragments, the closing handshake echoed."""
import asyncio

from gpiows_test import Client, Gpiows, Tap

t = Tap()


async def main(g):
    a = await Client.connect(g)
    waiter = await a.ws.ping(b"are you there")
    try:
        await asyncio.wait_for(waiter, 2)
        ponged = True
    except asyncio.TimeoutError:
        ponged = False
    t.ok(ponged, "a ping is answered with a pong carrying its payload")

    # websockets sends an iterable as one message in several frames.
    await a.ws.send(iter(['{"op":"set",', '"pin":"led",', '"value":1,"id":"frag"}']))
    r = await a.wait_for(lambda m: m.get("type") == "reply")
    t.ok(r.get("ok") and r.get("id") == "frag", "a request in three fragments is one message", r)

    await a.ws.close(1000, "bye")
    t.eq(a.ws.close_code, 1000, "the close handshake echoes code 1000")

    b = await Client.connect(g)
    await b.ws.close(4000, "application code")
    t.eq(b.ws.close_code, 4000, "an application close code (4000) is echoed")

    c = await Client.connect(g)
    r = await c.request({"op": "get", "pin": "led"})
    t.eq(r["value"], 1, "the fragmented set took effect")
    await c.close()


with Gpiows() as g:
    asyncio.run(main(g))
t.done()
