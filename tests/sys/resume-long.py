"""Resuming a long history through a slow connection: wsd asks the helper
for it in pieces as the client's output drains, so a client that resumes
50,000 changes (5.5 MB, five times wsd's 1 MiB output cap) through a
64 KiB receive buffer, reading in pauses, gets every one of them, once
and in order, then the reply and the live changes, and is not dropped."""
import json
import os
import signal
import threading
import time

from gpiows_test import Gpiows, Tap
from rawws import RawWs, frame

t = Tap()
N = 50000


def make_changes(g, n, pin="led"):
    """n toggles of pin, pipelined by 500, each answered."""
    w = RawWs(g.port)
    made = 0
    while made < n:
        k = min(500, n - made)
        w.send(frame(1, json.dumps({"op": "toggle", "pin": pin})) * k)
        got = 0
        while got < k:
            if w.recv_json(timeout=10).get("type") == "reply":
                got += 1
        made += k
    w.close()


with Gpiows(extra="history %d\n" % (N + 100000)) as g:
    first = RawWs(g.port).hello["seq"]
    make_changes(g, N)

    # A second client keeps toggling relay while the first resumes.
    stop = threading.Event()
    live = []

    def toggler():
        # Some 5,000 changes a second: more than wsd would hold back for
        # a client (4096) during the replay, which brings them instead.
        o = RawWs(g.port)
        while not stop.is_set():
            o.send(frame(1, json.dumps({"op": "toggle", "pin": "relay"})) * 100)
            got = 0
            while got < 100:
                m = o.recv_json(timeout=10)
                if m.get("type") == "reply":
                    live.append(m.get("seq"))
                    got += 1
            time.sleep(0.01)
        o.close()

    th = threading.Thread(target=toggler, daemon=True)
    th.start()
    r = RawWs(g.port, rcvbuf=65536)
    # A get right behind the resume, in the same write.
    r.send(frame(1, json.dumps({"op": "resume", "since": first, "id": 1})) +
           frame(1, json.dumps({"op": "get", "pin": "led", "id": 2})))
    seqs, reply, after, err, order = [], None, [], None, []
    try:
        while reply is None:
            m = r.recv_json(timeout=10)
            if m.get("type") == "pin" and m.get("replay"):
                seqs.append(m["seq"])
                if len(seqs) % 5000 == 0:
                    time.sleep(0.25)    # a slow reader
            elif m.get("type") == "reply":
                order.append((m.get("id"), len(seqs)))
                if m.get("id") == 1:
                    reply = m
        while 2 not in [i for i, _ in order]:
            m = r.recv_json(timeout=10)
            if m.get("type") == "reply":
                order.append((m.get("id"), len(seqs)))
            elif m.get("type") == "pin":
                after.append(m["seq"])
    except Exception as e:
        err = repr(e)
    time.sleep(0.2)
    stop.set()
    th.join(10)
    # The live changes after the reply, until a quiet second.
    try:
        while True:
            m = r.recv_json(timeout=1.0)
            if m.get("type") == "pin":
                after.append(m["seq"])
    except Exception:
        pass
    leds = [s for s in seqs if s <= first + N]
    t.ok(err is None, "the resume went through without the client being dropped", err)
    t.ok(len(leds) == N and leds == sorted(set(leds)) and leds[0] > first,
         "all %d changes made before it are replayed, once each and in order" % N,
         "%d replayed" % len(leds))
    t.ok(reply is not None and reply.get("ok") is True and
         reply.get("replayed") == len(seqs) and seqs == sorted(set(seqs)),
         "the reply counts every replayed change (%d, with those made meanwhile)"
         % len(seqs), reply)
    t.ok(reply is not None and all(s > reply["seq"] for s in after) and
         after == sorted(set(after)) and len(after) > 0,
         "then the live changes follow, after the reply's seq, none twice",
         "%d after, reply seq %s" % (len(after), reply and reply.get("seq")))
    seen = set(seqs) | set(after)
    t.ok(all(s in seen for s in live if s is not None and s > first),
         "every toggle the other client made meanwhile reached the resumed client",
         "%d of %d" % (sum(1 for s in live if s in seen), len(live)))
    t.ok([i for i, _ in order] == [1, 2],
         "the get sent right behind the resume is answered after it, as requests "
         "are taken in order", order)
    t.ok("not reading" not in g.logtext(), "wsd never found the client behind")
    r.close()




def slow_resume(g, since, per, pause, stop_at=None):
    """Resume through a 64 KiB buffer, pausing after every `per` replayed
    events: (replayed seqs, the reply, the messages after it for 1 s)."""
    r = RawWs(g.port, rcvbuf=65536)
    r.send(frame(1, json.dumps({"op": "resume", "since": since, "id": 1})))
    seqs, reply, after = [], None, []
    try:
        while reply is None:
            m = r.recv_json(timeout=10)
            if m.get("type") == "pin" and m.get("replay"):
                seqs.append(m["seq"])
                if len(seqs) % per == 0:
                    time.sleep(pause)
            elif m.get("type") == "reply" and m.get("id") == 1:
                reply = m
        while True:
            after.append(r.recv_json(timeout=1.0))
    except Exception as e:
        if reply is None:
            reply = repr(e)
    r.close()
    return seqs, reply, after


# A slow replay of some 4 s, with pings every second that the client (raw,
# reading nothing but its replay) does not answer: it takes its replay, so
# it is there.
with Gpiows(extra="history 20000\nping interval 1\n") as g:
    first = RawWs(g.port).hello["seq"]
    make_changes(g, 5000)
    seqs, reply, after = slow_resume(g, first, 500, 0.4)
    t.ok(isinstance(reply, dict) and reply.get("replayed") == 5000 and len(seqs) == 5000,
         "a replay of 5,000 read over some 4 s, with ping interval 1: all of it and "
         "the reply, the client not closed for its unanswered pings",
         reply if not isinstance(reply, dict) else "%d replayed" % len(seqs))

def behind_stopped_helper(g, o, change, r, since, pause, quiet):
    """With the helper stopped, o asks for change and r resumes from
    since (pause s apart); then the helper goes on: what r gets, until
    quiet for quiet s."""
    os.kill(g.proc.pid, signal.SIGSTOP)
    try:
        o.send(frame(1, json.dumps(change)))
        time.sleep(pause)
        r.send(frame(1, json.dumps({"op": "resume", "since": since, "id": 1})))
        time.sleep(max(pause, 0.05))
    finally:
        os.kill(g.proc.pid, signal.SIGCONT)
    msgs = []
    try:
        while True:
            msgs.append(r.recv_json(timeout=quiet))
    except Exception:
        pass
    return msgs


# A resume that ends with history_gone: a change made while it was under
# way (queued to the stopped helper just before it) was left to a replay
# that did not come, so the current state follows the error.
with Gpiows(extra="history 16\n") as g:
    first = RawWs(g.port).hello["seq"]
    make_changes(g, 100)
    o = RawWs(g.port)
    r = RawWs(g.port)
    msgs = behind_stopped_helper(g, o, {"op": "set", "pin": "relay", "value": 0, "id": 1},
                                 r, first, 0.3, 1.5)
    replies = [m for m in msgs if m.get("type") == "reply"]
    code = replies[0].get("error", {}).get("code") if replies else None
    after = msgs[msgs.index(replies[0]) + 1:] if replies else []
    relay = [m["value"] for m in after if m.get("type") == "pin" and m.get("pin") == "relay"]
    t.ok(code == "history_gone" and relay == [0],
         "a resume answered history_gone is followed by the pins that changed while it "
         "was under way (relay, set from 1 to 0)", "%s, then %r" % (code, after[:3]))
    o.close()
    r.close()

    # The same, with a change held for the new client before its resume:
    # that change is older than the one the resume skipped, and comes
    # first, then the skipped one; in seq order, neither twice, so that a
    # client applying them in order ends with the value the pin has.
    o = RawWs(g.port)
    r = RawWs(g.port)
    o.request({"op": "toggle", "pin": "led"})      # held for r
    msgs = behind_stopped_helper(g, o, {"op": "toggle", "pin": "led", "id": 2},
                                 r, first, 0, 1.0)
    led = o.request({"op": "get", "pin": "led"})["value"]
    seqs = [m["seq"] for m in msgs if m.get("type") == "pin"]
    shown = [m["value"] for m in msgs if m.get("type") == "pin" and m["pin"] == "led"]
    t.ok(seqs == sorted(set(seqs)) and shown and shown[-1] == led,
         "after history_gone, what was held, then what the resume skipped: seqs rising, "
         "none twice, led last shown as it is (%d)" % led,
         [(m.get("type"), m.get("pin"), m.get("seq"), m.get("value")) for m in msgs])
    o.close()
    r.close()

t.done()
