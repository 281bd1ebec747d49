"""`users` goes 1, 2, 1 as clients come and go; bursts are gathered."""
import asyncio
import time
from gpiows_test import Client, Gpiows, Tap

t = Tap()


def users(msgs):
    return [m["count"] for m in msgs if m.get("type") == "users"]


async def main(g):
    a = await Client.connect(g)
    t.eq(a.hello["users"], 1, "first client's hello: users 1")
    await a.quiet(0.3)
    b = await Client.connect(g)
    t.eq(b.hello["users"], 2, "second client's hello: users 2")
    m = await a.wait_for(lambda m: m.get("type") == "users")
    t.eq(m["count"], 2, "first client is told: users 2")
    await b.close()
    m = await a.wait_for(lambda m: m.get("type") == "users")
    t.eq(m["count"], 1, "after the second leaves: users 1")
    t.eq(users(a.seen), [1, 2, 1], "the first client saw 1, 2, 1")

    # Many at once: each client gets its count, and the last word is right.
    many = [await Client.connect(g) for _ in range(20)]
    m = await a.wait_for(lambda m: m.get("type") == "users" and m["count"] == 21, 3)
    t.eq(m["count"], 21, "21 clients counted")
    for c in many:
        await c.close()
    m = await a.wait_for(lambda m: m.get("type") == "users" and m["count"] == 1, 3)
    t.eq(m["count"], 1, "back to 1 when they have gone")
    n = len(users(a.seen))
    t.ok(n <= 3 + 40, "no more than one users message per come or go (%d)" % n)

    # A burst: the count goes out at most once per 100 ms, and the last
    # count always goes out.
    await a.quiet(0.3)
    before = len(users(a.seen))
    t0 = time.monotonic()
    many = await asyncio.gather(*[Client.connect(g) for _ in range(60)])
    for c in many[:30]:
        await c.close()
    elapsed = time.monotonic() - t0
    m = await a.wait_for(lambda m: m.get("type") == "users" and m["count"] == 31, 3)
    t.eq(m["count"], 31, "after a burst of 60 joins and 30 leaves the last count is 31")
    n = len(users(a.seen)) - before
    # One per 100 ms of the burst, the one after it, and one more for a
    # timer run a little early or a burst that began mid-interval; one per
    # join or leave would be up to 90.
    t.ok(n <= int(elapsed / 0.1) + 3,
         "at most one users message per 100 ms: %d in %.2f s" % (n, elapsed))
    for c in many[30:]:
        await c.close()
    await a.close()


with Gpiows() as g:
    asyncio.run(main(g))
t.done()
