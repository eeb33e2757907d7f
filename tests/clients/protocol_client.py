#!/usr/bin/python3
"""protocol_client.py: speaks the Parley protocol with the Python
`websockets` library (a WebSocket implementation nobody here wrote) and
prints TAP.

Usage: protocol_client.py URL TOKEN_A TOKEN_B [ROOM]

URL is http://HOST:PORT; TOKEN_A and TOKEN_B are JWTs of two different
users (sub "alice"-like and "bob"-like). ROOM defaults to "py-room"; it must
not exist yet. Exit status 0 when every check passes, 1 otherwise.

Run with /usr/bin/python3 (Debian's python3-websockets).
"""
import asyncio
import json
import sys

import websockets

TIMEOUT = 5.0
EXPECTED_CHECKS = 22


class Client:
    """One WebSocket: requests get their ack by id, pushes go to a queue."""

    def __init__(self, ws, label):
        self.ws = ws
        self.label = label
        self.next_id = 1
        self.waiting = {}
        self.pushes = asyncio.Queue()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if "id" in msg and "ok" in msg:
                    fut = self.waiting.pop(msg["id"], None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                    else:
                        await self.pushes.put({"event": "_unexpected_ack", "data": msg})
                else:
                    await self.pushes.put(msg)
        except websockets.ConnectionClosed:
            pass

    async def request(self, event, data=None, with_id=True):
        msg = {"event": event}
        if data is not None:
            msg["data"] = data
        if not with_id:
            await self.ws.send(json.dumps(msg))
            return None
        rid = self.next_id
        self.next_id += 1
        msg["id"] = rid
        fut = asyncio.get_running_loop().create_future()
        self.waiting[rid] = fut
        await self.ws.send(json.dumps(msg))
        return await asyncio.wait_for(fut, TIMEOUT)

    async def push(self, event):
        """The next push named event; other pushes before it are dropped
        (room:user-joined and the like) and returned in .skipped."""
        skipped = []
        while True:
            p = await asyncio.wait_for(self.pushes.get(), TIMEOUT)
            if p.get("event") == event:
                p["skipped"] = skipped
                return p
            skipped.append(p)

    async def close(self):
        await self.ws.close()
        self.reader.cancel()


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, cond, desc, detail=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, desc))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc))
            if detail is not None:
                for line in json.dumps(detail, ensure_ascii=False).splitlines():
                    print("#   " + line)
        sys.stdout.flush()
        return cond


async def scenario(url, token_a, token_b, room, tap):
    ws_url = url.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + "/ws"

    # Two ways to present the token: header (A, A2) and query (B).
    a = Client(await websockets.connect(ws_url, extra_headers={"Authorization": "Bearer " + token_a}), "A")
    a2 = Client(await websockets.connect(ws_url, extra_headers={"Authorization": "Bearer " + token_a}), "A2")
    b = Client(await websockets.connect(ws_url + "?token=" + token_b), "B")
    tap.check(True, "three connections opened (Authorization header and ?token=)")

    r = await a.request("join:chat", {"room": room})
    tap.check(r["ok"] and r["data"].get("role") == "owner" and r["data"].get("room") == room,
              "join:chat creates the room with A as owner", r)
    r = await a2.request("join:chat", {"room": room})
    tap.check(r["ok"] and r["data"].get("role") == "owner", "A's second connection joins as owner", r)
    r = await b.request("join:chat", {"room": room})
    tap.check(r["ok"] and r["data"].get("role") == "member", "B joins as member", r)

    r = await a.request("message:send", {"room": room, "text": "hello from python ✓", "client_msg_id": "py-1"})
    ok = r["ok"] and r["data"]["message"]["seq"] == 1 and r["data"]["message"]["text"] == "hello from python ✓"
    tap.check(ok, "message:send is acknowledged with the stored message, seq 1", r)
    first = r["data"]["message"] if r["ok"] else {}

    p = await b.push("message:new")
    tap.check(p["data"]["message"] == first, "B receives message:new with the same message", p)
    p = await a2.push("message:new")
    tap.check(p["data"]["message"] == first, "A's second connection receives message:new", p)

    r = await b.request("message:send", {"room": room, "text": "a reply", "reply_to": first.get("id")})
    tap.check(r["ok"] and r["data"]["message"]["reply_to"] == first.get("id") and r["data"]["message"]["seq"] == 2,
              "B replies with reply_to, seq 2", r)
    p = await a.push("message:new")
    tap.check(p["data"]["message"]["user"] != first.get("user") and p["data"]["message"]["text"] == "a reply",
              "the sending connection A did not get its own message:new; its first one is B's reply", p)

    r = await b.request("message:history", {"room": room})
    msgs = r["data"]["messages"] if r["ok"] else []
    tap.check(r["ok"] and [m["seq"] for m in msgs] == [1, 2] and r["data"]["has_more"] is False,
              "message:history returns both messages ascending, has_more false", r)

    r = await a.request("message:history", {"room": room, "before_seq": 2, "limit": 1})
    tap.check(r["ok"] and [m["seq"] for m in r["data"]["messages"]] == [1] and r["data"]["has_more"] is False,
              "message:history with before_seq and limit", r)

    r = await a.request("message:send", {"room": room, "text": "hello again", "client_msg_id": "py-1"})
    tap.check(r["ok"] and r["data"]["message"]["id"] == first.get("id") and r["data"]["message"]["seq"] == 1,
              "a retry with the same client_msg_id returns the original message", r)

    r = await a.request("message:send", {"room": room + "-elsewhere", "text": "x"})
    tap.check(not r["ok"] and r["error"]["code"] == "forbidden" and isinstance(r["error"]["message"], str),
              "message:send to a room A is not a member of: forbidden ack", r)

    r = await a.request("message:send", {"room": room, "text": ""})
    tap.check(not r["ok"] and r["error"]["code"] == "bad_request", "empty text: bad_request ack", r)

    r = await a.request("no:such-event", {})
    tap.check(not r["ok"] and r["error"]["code"] == "bad_request", "unknown event: bad_request ack", r)

    await a.request("message:send", {"room": room, "text": ""}, with_id=False)
    p = await a.push("error")
    tap.check(p["data"]["code"] == "bad_request" and p["data"].get("event") == "message:send",
              "a bad request without id gets an error push naming the event", p)

    await a.ws.send("{this is not json")
    p = await a.push("error")
    tap.check(p["data"]["code"] == "bad_request", "malformed JSON gets an error push", p)

    r = await a.request("leave:chat", {"room": room})
    tap.check(r["ok"] and r["data"].get("room") == room, "leave:chat", r)
    r = await a.request("message:send", {"room": room, "text": "after leaving"})
    tap.check(not r["ok"] and r["error"]["code"] == "forbidden", "message:send after leave:chat is forbidden", r)

    # Binary frames are refused with close 1003.
    await b.ws.send(b"\x00\x01")
    try:
        await asyncio.wait_for(b.ws.wait_closed(), TIMEOUT)
    except asyncio.TimeoutError:
        pass
    tap.check(b.ws.close_code == 1003, "a binary frame closes the connection with 1003",
              {"close_code": b.ws.close_code})

    for c in (a, a2, b):
        await c.close()

    try:
        ws = await websockets.connect(ws_url)
        await ws.close()
        tap.check(False, "an upgrade without a token is refused with 401", "connected")
    except websockets.InvalidStatusCode as e:
        tap.check(e.status_code == 401, "an upgrade without a token is refused with 401", e.status_code)

    try:
        ws = await websockets.connect(ws_url, extra_headers={"Authorization": "Bearer " + token_a},
                                      origin="http://evil.example")
        await ws.close()
        tap.check(False, "a foreign Origin is refused with 403", "connected")
    except websockets.InvalidStatusCode as e:
        tap.check(e.status_code == 403, "a foreign Origin is refused with 403", e.status_code)


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    url, token_a, token_b = argv[:3]
    room = argv[3] if len(argv) > 3 else "py-room"
    tap = Tap()
    try:
        asyncio.run(asyncio.wait_for(scenario(url, token_a, token_b, room, tap), 60))
    except Exception as e:  # a timeout or a closed connection ends the run
        tap.check(False, "scenario ran to the end", "%s: %s" % (type(e).__name__, e))
    print("1..%d" % tap.n)
    print("# %d checks, %d failed" % (tap.n, tap.failed))
    return 0 if tap.failed == 0 and tap.n == EXPECTED_CHECKS else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
