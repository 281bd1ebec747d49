"""Memory of wsd per idle WebSocket client, plain (ws://) and TLS (wss://):
wsd's resident set before and after N clients of each kind have connected,
had their hello and gone quiet.  A benchmark, not a test: it prints
figures and asserts nothing.

	python3 bench/tls-memory.py [N]   (with the GPIOWS_* variables of
	                                   make check set; make bench-tls)
"""
import asyncio
import json
import os
import resource
import ssl
import subprocess
import sys
import tempfile
import time

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "sys"))
from gpiows_test import Gpiows, free_port, proc_status  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500


def rss_kb(pid):
    return int(proc_status(pid)["VmRSS"].split()[0])


async def open_clients(url, n, ctx=None):
    """n clients that have had their hello.  Each connection sends every
    client a "users" message: max_queue=None keeps them all read, so that
    nothing waits in wsd's output buffers when it is measured."""
    out = []
    for _ in range(n):
        ws = await websockets.connect(url, ssl=ctx, open_timeout=10, ping_interval=None,
                                      compression=None, max_queue=None, close_timeout=2)
        json.loads(await asyncio.wait_for(ws.recv(), 10))
        out.append(ws)
    await asyncio.sleep(1)      # the last "users" messages read
    return out


async def measure(g, wsd, tport, ctx):
    base = rss_kb(wsd)
    plain = await open_clients(g.url, N)
    after_plain = rss_kb(wsd)
    tls = await open_clients("wss://127.0.0.1:%d/ws" % tport, N, ctx)
    after_tls = rss_kb(wsd)
    await asyncio.gather(*(ws.close() for ws in plain + tls))
    return base, after_plain, after_tls


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="gpiows-bench-") as d:
        cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=bench", "-addext",
                        "subjectAltName=IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tport = free_port()
        g = Gpiows(extra='listen on 127.0.0.1 port %d tls\ntls certificate "%s" key "%s"\n'
                   'max clients %d\n' % (tport, cert, key, 4 * N))
        with g:
            wsd = g.wait_children()["wsd"]
            ctx = ssl.create_default_context(cafile=cert)
            time.sleep(0.5)
            base, after_plain, after_tls = asyncio.run(measure(g, wsd, tport, ctx))
            per_plain = (after_plain - base) / N
            per_tls = (after_tls - after_plain) / N
            print("wsd resident set: %d KB at start" % base)
            print("%d idle ws://  clients: +%d KB, %.1f KB each" % (N, after_plain - base, per_plain))
            print("%d idle wss:// clients: +%d KB, %.1f KB each (%.1f KB more than plain)"
                  % (N, after_tls - after_plain, per_tls, per_tls - per_plain))


main()
