#!/usr/bin/python3
"""tls_client.py URL CAFILE TOKEN_A TOKEN_B ROOM

A foreign client over wss: Python websockets with an ssl context, as a
third-party application would connect to parleyd (directly or behind a
TLS-terminating proxy). URL is https://HOST:PORT; the certificate, issued
by CAFILE, names HOST. ROOM must be new. Prints TAP; exits 1 when a check
fails.

Checks: a default context (the system's CAs) refuses the server, and so
does the right CA with the wrong name; with the CA, A and B join, A sends
4000 four-byte characters and a 60 KB frame, both reach B as message:new
intact, and a history of both comes back intact.
"""
import asyncio
import json
import ssl
import sys
import time

import websockets

TIMEOUT = 60
n_test = 0
n_failed = 0


def ok(cond, what, detail=""):
    global n_test, n_failed
    n_test += 1
    print("%sok %d - %s%s" % ("" if cond else "not ", n_test, what,
                              "" if cond or not detail else " (%s)" % detail), flush=True)
    if not cond:
        n_failed += 1


async def connect(url, token, ctx, server_hostname=None):
    kw = {"ssl": ctx, "extra_headers": {"Authorization": "Bearer " + token},
          "max_size": None, "open_timeout": TIMEOUT}
    if server_hostname:
        kw["server_hostname"] = server_hostname
    return await websockets.connect(url, **kw)


async def request(ws, rid, event, data):
    """Sends a request; returns its ack, and the pushes that came before it."""
    await ws.send(json.dumps({"id": rid, "event": event, "data": data}, ensure_ascii=False))
    pushes = []
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if m.get("id") == rid:
            return m, pushes
        pushes.append(m)


async def next_push(ws, event):
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if m.get("event") == event:
            return m


async def refused(url, token, ctx, server_hostname=None):
    try:
        ws = await connect(url, token, ctx, server_hostname)
    except ssl.SSLCertVerificationError as e:
        return True, e.verify_message
    except Exception as e:  # noqa: BLE001 - report what it was
        return False, "%s: %s" % (type(e).__name__, e)
    await ws.close()
    return False, "connected"


async def main(base, cafile, tok_a, tok_b, room):
    url = "wss://" + base.split("://", 1)[1].rstrip("/") + "/ws"

    r, why = await refused(url, tok_a, ssl.create_default_context())
    ok(r, "the system's CAs do not trust the test CA: certificate verify failed", why)

    ctx = ssl.create_default_context(cafile=cafile)
    r, why = await refused(url, tok_a, ctx, server_hostname="wrong.example")
    ok(r, "the right CA but the name wrong.example: refused", why)

    a = await connect(url, tok_a, ctx)
    b = await connect(url, tok_b, ctx)
    ok(True, "A and B connect over wss with the CA")
    ack, _ = await request(a, 1, "join:chat", {"room": room})
    ok(ack.get("ok") is True, "A joins", json.dumps(ack)[:200])
    ack, _ = await request(b, 1, "join:chat", {"room": room})
    ok(ack.get("ok") is True, "B joins", json.dumps(ack)[:200])

    text = "\U0001F600" * 4000
    t0 = time.monotonic()
    ack, _ = await request(a, 2, "message:send", {"room": room, "text": text})
    got = ack.get("data", {}).get("message", {}).get("text")
    ok(ack.get("ok") is True and got == text, "A sends 4000 four-byte characters; the ack's text is intact",
       json.dumps(ack)[:200])
    push = await next_push(b, "message:new")
    ok(push["data"]["message"]["text"] == text, "B gets it as message:new, intact")
    print("# 16 KB text: %.0f ms" % ((time.monotonic() - t0) * 1000), flush=True)

    # A 60 KB frame: every character escaped, plus a field the server ignores.
    text2 = "\u00e9" + "\U0001F601" * 3999
    frame = json.dumps({"id": 3, "event": "message:send",
                        "data": {"room": room, "text": text2, "pad": "x" * 12000}},
                       ensure_ascii=True)
    t0 = time.monotonic()
    await a.send(frame)
    while True:
        ack = json.loads(await asyncio.wait_for(a.recv(), TIMEOUT))
        if ack.get("id") == 3:
            break
    ok(ack.get("ok") is True and ack["data"]["message"]["text"] == text2,
       "A sends a %d-byte frame; the ack's text is intact" % len(frame), json.dumps(ack)[:200])
    push = await next_push(b, "message:new")
    ok(push["data"]["message"]["text"] == text2, "B gets the second one intact")
    print("# %d-byte frame: %.0f ms" % (len(frame), (time.monotonic() - t0) * 1000), flush=True)

    ack, _ = await request(b, 2, "message:history", {"room": room, "limit": 100})
    texts = [m["text"] for m in ack.get("data", {}).get("messages", [])]
    ok(texts == [text, text2], "history returns both, intact", "%d messages" % len(texts))

    await a.close()
    await b.close()
    ok(a.close_code == 1000 and b.close_code == 1000, "both close with 1000",
       "%s %s" % (a.close_code, b.close_code))


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    try:
        asyncio.run(main(*sys.argv[1:]))
    except Exception as e:  # noqa: BLE001 - a crash is a failed check, with its reason
        ok(False, "no exception", "%s: %s" % (type(e).__name__, e))
    print("1..%d" % n_test)
    sys.exit(1 if n_failed else 0)
