#!/usr/bin/python3
"""rooms_client.py: every room and messaging event of the Parley protocol
(parley-protocol(7), sections Rooms and Messaging), spoken with the Python
`websockets` library, a WebSocket implementation nobody here wrote. Prints
TAP: one line per check, the plan at the end.

Usage: rooms_client.py URL TOKEN_A TOKEN_B TOKEN_C TOKEN_ADMIN [PREFIX]

URL is http://HOST:PORT. The tokens are JWTs of four different users; the
fourth must carry role "admin". The user ids are read from the tokens' sub.
Rooms are named PREFIX-pub and PREFIX-vault (default prefix "pyr"); they
must not exist yet. Exit status 0 when every check passes and all of them
ran, 1 otherwise.

Run with /usr/bin/python3 (Debian's python3-websockets).
"""
import asyncio
import base64
import json
import sys

import websockets

TIMEOUT = 5.0
EXPECTED_CHECKS = 76


def sub_of(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["sub"]


class Client:
    """One WebSocket. Acks are matched by id; pushes go to a list that
    push() scans, so a wait for one event leaves the others for later."""

    def __init__(self, ws, label):
        self.ws = ws
        self.label = label
        self.next_id = 1
        self.waiting = {}
        self.pushes = []
        self.arrived = asyncio.Event()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if "ok" in msg and "id" in msg:
                    fut = self.waiting.pop(msg["id"], None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                        continue
                    msg = {"event": "_unexpected_ack", "data": msg}
                self.pushes.append(msg)
                self.arrived.set()
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

    async def push(self, event, pred=None, timeout=TIMEOUT):
        """Removes and returns the first push named event (and satisfying
        pred) that arrived or arrives within timeout; None when none did."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, p in enumerate(self.pushes):
                if p.get("event") == event and (pred is None or pred(p["data"])):
                    return self.pushes.pop(i)
            left = deadline - loop.time()
            if left <= 0:
                return None
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except asyncio.TimeoutError:
                pass

    def seen(self, event):
        return [p for p in self.pushes if p.get("event") == event]

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
                for line in json.dumps(detail, ensure_ascii=False, default=str).splitlines():
                    print("#   " + line)
        sys.stdout.flush()
        return cond


def ok(r):
    return r is not None and r.get("ok") is True


def code(r):
    return None if r is None or r.get("ok") is not False else r["error"].get("code")


async def scenario(url, tokens, prefix, tap):
    ws_url = url.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + "/ws"
    ua, ub, uc, ud = (sub_of(t) for t in tokens)
    ta, tb, tc, td = tokens
    pub, vault = prefix + "-pub", prefix + "-vault"

    async def connect(token, label, query=False):
        if query:
            return Client(await websockets.connect(ws_url + "?token=" + token), label)
        return Client(await websockets.connect(ws_url, extra_headers={"Authorization": "Bearer " + token}), label)

    a = await connect(ta, "A")
    a2 = await connect(ta, "A2", query=True)
    b = await connect(tb, "B")
    c = await connect(tc, "C", query=True)
    d = await connect(td, "D")

    # ---- rooms -----------------------------------------------------------
    r = await a.request("join:chat", {"room": pub})
    tap.check(ok(r) and r["data"]["role"] == "owner", "A creates the public room", r)
    await a2.request("join:chat", {"room": pub})
    r = await b.request("join:chat", {"room": pub})
    tap.check(ok(r) and r["data"]["role"] == "member", "B joins it", r)
    r = await c.request("join:chat", {"room": pub})
    tap.check(ok(r) and r["data"]["member_count"] == 3, "C joins it: three members", r)

    r = await b.request("room:info", {"room": pub})
    fields = {"room", "private", "created_by", "created_at", "member_count", "online_count", "last_seq", "members"}
    tap.check(ok(r) and fields <= set(r["data"]) and r["data"]["created_by"] == ua
              and sorted(m["user"] for m in r["data"]["members"]) == sorted([ua, ub, uc])
              and all(set(m) >= {"user", "name", "role", "status"} for m in r["data"]["members"]),
              "room:info: the room object plus members", r)
    tap.check(ok(r) and r["data"]["online_count"] == 3 and all(m["status"] == "online" for m in r["data"]["members"]),
              "room:info: all three connected members are online", r)
    r = await d.request("room:info", {"room": pub})
    tap.check(code(r) == "forbidden", "room:info by a non-member: forbidden", r)
    r = await d.request("room:info", {"room": prefix + "-nowhere"})
    tap.check(code(r) == "forbidden", "room:info of an unknown room: forbidden too", r)
    r = await b.request("room:info", {"room": 12})
    tap.check(code(r) == "bad_request", "room:info with a number for room: bad_request", r)

    r = await b.request("room:online", {"room": pub})
    tap.check(ok(r) and r["data"]["room"] == pub and sorted(u["user"] for u in r["data"]["users"]) == sorted([ua, ub, uc]),
              "room:online lists the connected members", r)
    r = await d.request("room:online", {"room": pub})
    tap.check(code(r) == "forbidden", "room:online by a non-member: forbidden", r)

    r = await b.request("room:list", {})
    tap.check(ok(r) and [(x["room"], x["unread"]) for x in r["data"]["rooms"]] == [(pub, 0)],
              "room:list: B's one room, nothing unread", r)

    # ---- private rooms and invitations -------------------------------------
    r = await a.request("join:chat", {"room": vault, "private": True})
    tap.check(ok(r) and r["data"]["private"] is True, "A creates a private room", r)
    r = await b.request("join:chat", {"room": vault})
    tap.check(code(r) == "forbidden", "B may not join it uninvited", r)
    r = await c.request("room:invite", {"room": vault, "user": ub})
    tap.check(code(r) == "forbidden", "C, not a member, may not invite", r)
    r = await a.request("room:invite", {"room": vault, "user": ub})
    tap.check(ok(r) and r["data"] == {"room": vault, "user": ub}, "the owner invites B", r)
    r = await b.request("join:chat", {"room": vault})
    tap.check(ok(r) and r["data"]["role"] == "member", "the invited B joins", r)
    r = await b.request("room:invite", {"room": vault, "user": uc})
    tap.check(code(r) == "forbidden", "B, a member but not the owner, may not invite", r)
    r = await a.request("room:invite", {"room": vault, "user": "not a user id"})
    tap.check(code(r) == "bad_request", "invite with an invalid user id: bad_request", r)
    r = await a.request("room:invite", {"room": vault})
    tap.check(code(r) == "bad_request", "invite without user: bad_request", r)
    r = await c.request("join:chat", {"room": vault})
    tap.check(code(r) == "forbidden", "C still may not join", r)
    r = await d.request("join:chat", {"room": vault})
    tap.check(ok(r), "an admin may join the private room uninvited", r)
    r = await d.request("room:invite", {"room": vault, "user": uc})
    tap.check(ok(r), "and, as a member, invite", r)

    # ---- subscriptions (on B's second connection) -------------------------
    b2 = await connect(tb, "B2", query=True)
    r = await b2.request("room:subscription-status", {"room": pub})
    tap.check(ok(r) and r["data"] == {"room": pub, "member": True, "subscribed": False},
              "a new connection of a member: member, not subscribed", r)
    r = await b2.request("room:subscribe-multiple",
                         {"rooms": [pub, vault, pub, prefix + "-ghost", "bad name!"]})
    failed = sorted((f["room"], f["code"]) for f in r["data"]["failed"]) if ok(r) else None
    tap.check(ok(r) and sorted(r["data"]["subscribed"]) == sorted([pub, vault])
              and failed == sorted([(prefix + "-ghost", "forbidden"), ("bad name!", "bad_request")]),
              "subscribe-multiple: two subscribed once, unknown forbidden, bad name bad_request", r)
    r = await b2.request("room:subscription-details", {})
    subs = r["data"]["subscriptions"] if ok(r) else []
    tap.check(ok(r) and sorted(s["room"] for s in subs) == sorted([pub, vault])
              and all(isinstance(s.get(k), int) for s in subs
                      for k in ("subscribed_at", "last_seq", "last_read_seq", "unread")),
              "subscription-details lists both with subscribed_at, last_seq, last_read_seq, unread", r)
    for bad, why in (({}, "no rooms"), ({"rooms": []}, "an empty array"), ({"rooms": pub}, "a string"),
                     ({"rooms": [pub, 3]}, "a non-string element"),
                     ({"rooms": ["r%d" % i for i in range(101)]}, "101 rooms")):
        r = await b2.request("room:subscribe-multiple", bad)
        tap.check(code(r) == "bad_request", "subscribe-multiple with %s: bad_request" % why, r)
    r = await b2.request("room:unsubscribe-multiple", {"rooms": []})
    tap.check(code(r) == "bad_request", "unsubscribe-multiple with an empty array: bad_request", r)
    r = await b2.request("room:unsubscribe-multiple", {"rooms": [vault, prefix + "-ghost"]})
    tap.check(ok(r) and r["data"]["unsubscribed"] == [vault], "unsubscribe-multiple lists what it unsubscribed", r)
    r = await b2.request("room:subscription-status", {"room": vault})
    tap.check(ok(r) and r["data"]["subscribed"] is False and r["data"]["member"] is True,
              "after unsubscribing: still a member, not subscribed", r)
    r = await c.request("room:subscription-status", {"room": vault})
    tap.check(code(r) == "forbidden", "subscription-status by a non-member: forbidden", r)

    # ---- typing ----------------------------------------------------------
    r = await a.request("message:typing", {"room": pub, "typing": True})
    tap.check(ok(r) and r["data"] == {}, "message:typing is acknowledged with {}", r)
    p = await b.push("message:typing")
    tap.check(p is not None and p["data"] == {"room": pub, "user": ua, "typing": True},
              "B gets message:typing {room, user, typing: true}", p)
    p = await a2.push("message:typing")
    tap.check(p is not None and p["data"]["typing"] is True, "A's other connection gets it too", p)
    await a.request("message:typing", {"room": pub, "typing": True})
    r = await a.request("message:typing-users", {"room": pub})
    tap.check(ok(r) and r["data"] == {"room": pub, "users": [ua]}, "message:typing-users lists A", r)
    r = await a.request("message:typing", {"room": pub, "typing": False})
    p = await b.push("message:typing")
    tap.check(p is not None and p["data"]["typing"] is False,
              "after a repeated true, the next push B gets is the false", p)
    r = await a.request("message:typing", {"room": pub, "typing": "no"})
    tap.check(code(r) == "bad_request", "typing as a string: bad_request", r)
    r = await a.request("message:typing", {"room": pub})
    tap.check(code(r) == "bad_request", "typing missing: bad_request", r)
    r = await d.request("message:typing", {"room": pub, "typing": True})
    tap.check(code(r) == "forbidden", "typing in a room one is not in: forbidden", r)

    # ---- messages and receipts ----------------------------------------
    ids = []
    for i in (1, 2, 3):
        r = await a.request("message:send", {"room": pub, "text": "py message %d" % i})
        ids.append(r["data"]["message"]["id"] if ok(r) else 0)
    tap.check(all(ids), "A sends three messages", ids)
    r = await b.request("room:list", {})
    tap.check(ok(r) and [x["unread"] for x in r["data"]["rooms"] if x["room"] == pub] == [3],
              "B has three unread in the public room", r)

    r = await c.request("message:delivered", {"message_id": ids[1]})
    tap.check(ok(r) and r["data"] == {"message_id": ids[1]}, "C: message:delivered of the second", r)
    p = await a.push("message:delivered")
    tap.check(p is not None and p["data"]["message_id"] == ids[1] and p["data"]["user"] == uc
              and p["data"]["room"] == pub and isinstance(p["data"].get("ts"), int),
              "A gets message:delivered {message_id, room, user, ts}", p)
    # That push came after A's typing requests: a typing push to the typing
    # connection itself would have come before it.
    tap.check(not a.seen("message:typing"), "the typing connection got no typing push of its own",
              a.seen("message:typing"))

    r = await b.request("message:read", {"message_id": ids[2]})
    tap.check(ok(r) and r["data"] == {"message_id": ids[2], "room": pub, "last_read_seq": 3},
              "B reads the third: {message_id, room, last_read_seq: 3}", r)
    p1 = await a.push("message:read")
    p2 = await a2.push("message:read")
    tap.check(p1 is not None and p2 is not None and p1["data"]["user"] == ub and p2["data"]["user"] == ub
              and p1["data"]["message_id"] == ids[2],
              "both of A's connections get message:read", [p1, p2])
    r = await b.request("room:list", {})
    tap.check(ok(r) and [x["unread"] for x in r["data"]["rooms"] if x["room"] == pub] == [0],
              "read is cumulative: B has nothing unread", r)

    r = await a.request("message:delivery-status", {"message_id": ids[0]})
    data = r["data"] if ok(r) else {}
    tap.check(ok(r) and sorted(x["user"] for x in data["delivered_to"]) == sorted([ub, uc])
              and [x["user"] for x in data["read_by"]] == [ub] and data["pending"] == [],
              "delivery-status of the first: delivered to B and C, read by B, none pending", r)
    r = await a.request("message:delivery-status", {"message_id": ids[2]})
    data = r["data"] if ok(r) else {}
    tap.check(ok(r) and [x["user"] for x in data["read_by"]] == [ub] and data["pending"] == [uc],
              "delivery-status of the third: C pending", r)

    for bad in (0, -1, "7", 1.5, None):
        for ev in ("message:read", "message:delete"):
            r = await b.request(ev, {"message_id": bad} if bad is not None else {})
            if code(r) != "bad_request":
                break
        tap.check(code(r) == "bad_request", "message_id %s: bad_request (read, delete)" % json.dumps(bad), r)
    r = await b.request("message:delivered", {"message_id": 10 ** 12})
    tap.check(code(r) == "not_found", "an unknown message: not_found", r)

    # A message of the vault, asked by C who is not in it.
    r = await a.request("message:send", {"room": vault, "text": "vault secret words"})
    vid = r["data"]["message"]["id"] if ok(r) else 0
    for ev in ("message:read", "message:delivery-status", "message:delete"):
        r = await c.request(ev, {"message_id": vid})
        tap.check(code(r) == "not_found" and "vault secret words" not in json.dumps(r),
                  "%s of a message in a room C is not in: not_found, no content" % ev, r)

    # ---- stats -------------------------------------------------------------
    r = await c.request("message:stats", {"room": pub})
    # pub: A sent seq 1..3 (pointers 3), B read 3, C delivered 2.
    tap.check(ok(r) and r["data"] == {"room": pub, "sent": 3, "delivered": 8, "read": 6, "deleted": 0},
              "message:stats of the public room follows the definitions", r)
    r = await c.request("message:stats", {"room": vault})
    tap.check(code(r) == "forbidden", "message:stats of a room C is not in: forbidden", r)
    r = await c.request("message:stats", {})
    tap.check(ok(r) and r["data"]["sent"] == 4 and "room" not in r["data"],
              "message:stats without room: server-wide, for anyone", r)

    # ---- delete ----------------------------------------------------------
    r = await b.request("message:delete", {"message_id": ids[0]})
    tap.check(code(r) == "forbidden", "B may not delete A's message", r)
    r = await a.request("message:delete", {"message_id": ids[0]})
    tap.check(ok(r) and r["data"] == {"message_id": ids[0], "room": pub}, "A deletes her message", r)
    p = await b.push("message:deleted")
    tap.check(p is not None and p["data"] == {"message_id": ids[0], "room": pub},
              "B gets message:deleted {message_id, room}", p)
    r = await d.request("join:chat", {"room": pub})
    r = await d.request("message:delete", {"message_id": ids[1]})
    tap.check(ok(r), "an admin member deletes A's second message", r)
    r = await d.request("message:delete", {"message_id": ids[1]})
    tap.check(ok(r), "deleting it again is ok", r)
    r = await c.request("message:history", {"room": pub})
    msgs = r["data"]["messages"] if ok(r) else []
    tap.check([(m["id"], m["seq"], m["text"], m["deleted"]) for m in msgs] ==
              [(ids[0], 1, "", True), (ids[1], 2, "", True), (ids[2], 3, "py message 3", False)],
              "history: deleted messages keep id and seq, text \"\" and deleted true", r)
    r = await c.request("message:stats", {"room": pub})
    tap.check(ok(r) and r["data"]["deleted"] == 2 and r["data"]["sent"] == 3, "stats count two deleted", r)

    # ---- requests without id ---------------------------------------------
    await c.request("message:read", {"message_id": 0}, with_id=False)
    p = await c.push("error")
    tap.check(p is not None and p["data"]["code"] == "bad_request" and p["data"].get("event") == "message:read",
              "a bad message:read without id: an error push naming the event", p)
    await c.request("room:info", {"room": vault}, with_id=False)
    p = await c.push("error")
    tap.check(p is not None and p["data"]["code"] == "forbidden" and p["data"].get("event") == "room:info",
              "a forbidden room:info without id: an error push, forbidden", p)

    # ---- leaving -----------------------------------------------------------
    r = await b.request("leave:chat", {"room": vault})
    tap.check(ok(r) and r["data"] == {"room": vault}, "leave:chat answers {room}", r)
    r = await b.request("room:info", {"room": vault})
    tap.check(code(r) == "forbidden", "after leaving, room:info is forbidden", r)
    r = await b.request("message:read", {"message_id": vid})
    tap.check(code(r) == "not_found", "and the room's messages are not_found", r)

    for cl in (a, a2, b, b2, c, d):
        await cl.close()


def main(argv):
    if len(argv) < 5:
        sys.stderr.write(__doc__)
        return 2
    url = argv[0]
    tokens = argv[1:5]
    prefix = argv[5] if len(argv) > 5 else "pyr"
    tap = Tap()
    try:
        asyncio.run(asyncio.wait_for(scenario(url, tokens, prefix, tap), 90))
    except Exception as e:  # a timeout or a closed connection ends the run
        tap.check(False, "scenario ran to the end", "%s: %s" % (type(e).__name__, e))
    print("1..%d" % tap.n)
    print("# %d checks, %d failed" % (tap.n, tap.failed))
    return 0 if tap.failed == 0 and tap.n == EXPECTED_CHECKS else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
