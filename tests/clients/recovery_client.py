#!/usr/bin/python3
"""recovery_client.py: connection recovery of the Parley protocol
(parley-protocol(7), sections Presence and Connection recovery), spoken
with the Python `websockets` library, a WebSocket implementation nobody
here wrote. Prints TAP: one line per check, the plan at the end.

Usage: recovery_client.py URL TOKEN_A TOKEN_B [PREFIX]
       recovery_client.py --pipe URL TOKEN

URL is http://HOST:PORT. TOKEN_A and TOKEN_B are JWTs of two different
users (ids read from their sub). The room PREFIX-rec (default prefix
"pyrec") must not exist yet. The server must run with the default
session_ttl and recover_max (or larger). Exit status 0 when every check
passes and all of them ran, 1 otherwise.

What it does: A takes a session and drops its socket without a close
handshake (as a dead network would); while A is away B sends; A
reconnects on a new socket and recovers, without last_seq (the session's
record) and then with last_seq; each replay must be exactly the stored
messages A missed, in seq order, right after the ack and before a message
B sends once the ack is in. Then the refusals: a consumed token, another
user's token, a bad last_seq, and recovering a token a live socket holds.

With --pipe it is a bare connection for the bats suites, one that hides
nothing (libparley, under the CLI, drops a message:new whose seq it has
seen, so a duplicate the server sent would not show): each line of stdin
"EVENT DATA" (or "raw EVENT DATA", DATA a JSON object, default {}) is sent
as {"id": N, "event": EVENT, "data": DATA} with ids 1, 2, ...; "quit" closes
the connection. Every frame received is printed as it came, one per line,
flushed; a close by the server prints {"event":"close","data":{"code",
"reason"}}. Exit status 0 after quit or end of input, 1 when the server
closed first, 3 when the connection could not be opened.

Run with /usr/bin/python3 (Debian's python3-websockets).
"""
import asyncio
import base64
import json
import sys

import websockets

TIMEOUT = 5.0
EXPECTED_CHECKS = 36


def sub_of(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["sub"]


class Client:
    """One WebSocket. Acks are matched by id; pushes go to a list that
    push() scans. Every frame is also appended to log, in arrival order,
    so a check can say what came before what."""

    def __init__(self, ws, label):
        self.ws = ws
        self.label = label
        self.next_id = 1
        self.waiting = {}
        self.pushes = []
        self.log = []
        self.arrived = asyncio.Event()
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self):
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                self.log.append(msg)
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

    async def request(self, event, data=None):
        rid = self.next_id
        self.next_id += 1
        msg = {"id": rid, "event": event}
        if data is not None:
            msg["data"] = data
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

    async def until_seq(self, room, seq, timeout=TIMEOUT):
        """Waits until a message:new of room with seq has been logged."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not any(m.get("event") == "message:new" and m["data"]["message"]["room"] == room
                      and m["data"]["message"]["seq"] == seq for m in self.log):
            left = deadline - loop.time()
            if left <= 0:
                return False
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except asyncio.TimeoutError:
                pass
        return True

    def news(self, room):
        """The message objects of the message:new pushes of room, in arrival order."""
        return [m["data"]["message"] for m in self.log
                if m.get("event") == "message:new" and m["data"]["message"]["room"] == room]

    def ack_index(self, rid):
        for i, m in enumerate(self.log):
            if m.get("id") == rid and "ok" in m:
                return i
        return None

    def drop(self):
        """Ends the socket without a close handshake, like a dead network."""
        self.ws.transport.abort()
        self.reader.cancel()

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


async def scenario(url, ta, tb, prefix, tap):
    ws_url = url.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + "/ws"
    ua, ub = sub_of(ta), sub_of(tb)
    room = prefix + "-rec"

    async def connect(token, label):
        return Client(await websockets.connect(ws_url, extra_headers={"Authorization": "Bearer " + token}), label)

    async def send(client, text):
        r = await client.request("message:send", {"room": room, "text": text})
        return r["data"]["message"] if ok(r) else None

    async def history():
        """Every stored message of the room, paging back 100 at a time."""
        out, before = [], None
        while True:
            data = {"room": room, "limit": 100}
            if before is not None:
                data["before_seq"] = before
            r = await b.request("message:history", data)
            if not ok(r):
                return out
            out = r["data"]["messages"] + out
            if not r["data"]["has_more"] or not r["data"]["messages"]:
                return out
            before = r["data"]["messages"][0]["seq"]

    async def gone(label):
        """B's connection is told A went offline (the server noticed the drop)."""
        p = await b.push("presence:update", lambda d: d["user"] == ua and d["status"] == "offline")
        tap.check(p is not None and isinstance(p["data"]["last_seen"], int),
                  "B gets presence:update offline for A after %s drops" % label, p)

    async def recover(label, token, last_seq=None):
        c = await connect(ta, label)
        data = {"session_token": token}
        if last_seq is not None:
            data["last_seq"] = last_seq
        rid = c.next_id
        r = await c.request("connection:recover", data)
        return c, r, rid

    def replay_ok(c, rid, first, last, live_seq, stored):
        """c logged exactly the stored messages first..last, after the ack
        with id rid, then the live one; nothing else."""
        got = c.news(room)
        want = [m for m in stored if first <= m["seq"] <= last] + [m for m in stored if m["seq"] == live_seq]
        ack = c.ack_index(rid)
        firsts = [i for i, m in enumerate(c.log) if m.get("event") == "message:new"]
        return got == want and ack is not None and all(i > ack for i in firsts), got

    # ---- a session ----------------------------------------------------------
    a1 = await connect(ta, "A1")
    b = await connect(tb, "B")
    await a1.request("join:chat", {"room": room})
    await b.request("join:chat", {"room": room})
    r = await a1.request("connection:session-info", {})
    tap.check(code(r) == "not_found", "session-info before create-session: not_found", r)
    r = await a1.request("connection:create-session", {})
    tap.check(ok(r) and set(r["data"]) == {"session_token", "expires_in"} and isinstance(r["data"]["session_token"], str)
              and len(r["data"]["session_token"]) >= 43 and r["data"]["expires_in"] == 120,
              "create-session: an opaque token of 43+ characters, expires_in 120", r)
    t1 = r["data"]["session_token"] if ok(r) else ""
    r = await a1.request("connection:session-info", {})
    tap.check(ok(r) and set(r["data"]) == {"session_id", "rooms", "created_at", "expires_at", "state"}
              and r["data"]["rooms"] == [room] and r["data"]["expires_at"] is None and r["data"]["state"] == "active"
              and isinstance(r["data"]["created_at"], int),
              "session-info: the room, created_at, expires_at null, state active", r)

    for i in (1, 2, 3):
        await send(b, "before %d" % i)
    tap.check(await a1.until_seq(room, 3), "A1 gets B's messages 1..3 live", a1.news(room))

    # ---- drop, B sends, recover without last_seq ----------------------------
    a1.drop()
    await gone("A1")
    for i in (4, 5, 6, 7):
        await send(b, "missed %d" % i)
    a2, r, rid = await recover("A2", t1)
    tap.check(ok(r) and set(r["data"]) == {"recovered", "session_token", "rooms", "missed"}
              and r["data"]["recovered"] is True and r["data"]["missed"] == 4 and r["data"]["rooms"] == [room]
              and isinstance(r["data"]["session_token"], str) and r["data"]["session_token"] != t1,
              "recover without last_seq: recovered, missed 4, the room, a new token", r)
    t2 = r["data"]["session_token"] if ok(r) else ""
    await a2.until_seq(room, 7)
    live = await send(b, "live 8")
    tap.check(live is not None and live["seq"] == 8, "B sends message 8 once the recover ack is in", live)
    await a2.until_seq(room, 8)
    good, got = replay_ok(a2, rid, 4, 7, 8, await history())
    tap.check(good, "A2 gets exactly the stored messages 4..7 after the ack, then the live 8", got)
    r = await a2.request("connection:session-info", {})
    tap.check(ok(r) and r["data"]["rooms"] == [room] and r["data"]["state"] == "active",
              "A2 holds the successor session", r)

    # ---- drop again, recover with last_seq below the record -----------------
    a2.drop()
    await gone("A2")
    for i in (9, 10):
        await send(b, "missed %d" % i)
    a3, r, rid = await recover("A3", t2, {room: 6})
    tap.check(ok(r) and r["data"]["recovered"] is True and r["data"]["missed"] == 4,
              "recover with last_seq 6 (the record says 8): missed 4", r)
    t3 = r["data"]["session_token"] if ok(r) else ""
    await a3.until_seq(room, 10)
    await send(b, "live 11")
    await a3.until_seq(room, 11)
    good, got = replay_ok(a3, rid, 7, 10, 11, await history())
    tap.check(good, "A3 gets exactly 7..10 (after the client's last_seq) then the live 11", got)

    # ---- a sender racing the recovery ---------------------------------------
    a3.drop()
    await gone("A3")

    async def burst(n0, n1):
        for i in range(n0, n1 + 1):
            await send(b, "race %d" % i)

    last = 211
    sender = asyncio.ensure_future(burst(12, last))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while len(await history()) < 30 and loop.time() < deadline:
        await asyncio.sleep(0.01)
    a4, r, rid = await recover("A4", t3, {room: 11})
    tap.check(ok(r) and r["data"]["recovered"] is True and 19 <= r["data"]["missed"] < last - 11,
              "recover while B keeps sending: recovered, missed counts what was stored (not all yet)", r)
    t4 = r["data"]["session_token"] if ok(r) else ""
    await asyncio.wait_for(sender, 30)
    tap.check(await a4.until_seq(room, last), "A4 gets up to the last of B's burst", [m["seq"] for m in a4.news(room)])
    tap.check([m["seq"] for m in a4.news(room)] == list(range(12, last + 1)),
              "A4 gets 12..211 exactly once each, in order: replay and live meet without gap or duplicate",
              [m["seq"] for m in a4.news(room)])
    tap.check(a4.news(room) == [m for m in await history() if m["seq"] >= 12],
              "and they are the stored messages themselves", a4.news(room))

    # ---- refusals -----------------------------------------------------------
    c = await connect(ta, "C")
    for tok, what in ((t1, "the first (consumed) token"), (t2, "the second (consumed) token"),
                      ("A" * 43, "an unknown token")):
        r = await c.request("connection:recover", {"session_token": tok})
        tap.check(code(r) == "session_expired", "recover with %s: session_expired" % what, r)
    for data, what in (({}, "no token"), ({"session_token": 7}, "a number as token"),
                       ({"session_token": t4, "last_seq": {room: -1}}, "a negative last_seq"),
                       ({"session_token": t4, "last_seq": [11]}, "last_seq an array"),
                       ({"session_token": t4, "last_seq": {room: "11"}}, "a string seq")):
        r = await c.request("connection:recover", data)
        tap.check(code(r) == "bad_request", "recover with %s: bad_request" % what, r)
    bb = await connect(tb, "B2")
    r = await bb.request("connection:recover", {"session_token": t4})
    tap.check(code(r) == "forbidden", "B recovering A's token: forbidden", r)
    r = await bb.request("connection:session-info", {})
    tap.check(code(r) == "not_found", "and B's connection holds no session", r)
    tap.check(not bb.news(room), "and got no replay", bb.news(room))

    # ---- recovering a token a live socket holds -----------------------------
    r = await c.request("connection:recover", {"session_token": t4})
    tap.check(ok(r) and r["data"]["recovered"] is True and r["data"]["missed"] == 0,
              "A recovers the token A4 still holds: recovered, nothing missed", r)
    r = await a4.request("connection:session-info", {})
    tap.check(code(r) == "not_found", "A4 lost its session", r)
    r = await a4.request("room:list", {})
    tap.check(ok(r), "and A4 is still open", r)
    r = await c.request("connection:recover", {"session_token": t4})
    tap.check(code(r) == "session_expired", "the consumed token again: session_expired", r)

    # ---- stats -------------------------------------------------------------
    r = await b.request("connection:stats", {})
    tap.check(ok(r) and set(r["data"]) == {"active_sessions", "recovered", "failed", "expired", "queued"}
              and all(isinstance(v, int) and v >= 0 for v in r["data"].values())
              and r["data"]["recovered"] >= 4 and r["data"]["failed"] >= 5,
              "connection:stats: five counts, at least these 4 recoveries and 5 refused attempts", r)

    # ---- presence seen from here ---------------------------------------------
    r = await c.request("presence:update-status", {"status": "away"})
    tap.check(ok(r) and r["data"] == {"status": "away"}, "presence:update-status away", r)
    p = await b.push("presence:update", lambda d: d["user"] == ua and d["status"] == "away")
    tap.check(p is not None and p["data"]["last_seen"] is None, "B sees A away, last_seen null", p)
    r = await b.request("presence:user-status", {"user": ua})
    tap.check(ok(r) and r["data"]["status"] == "away" and r["data"]["connections"] == 2,
              "user-status of A: away, two connections (A4 and C)", r)

    for cl in (a4, b, bb, c):
        await cl.close()


async def pipe(url, token):
    ws_url = url.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + "/ws"
    try:
        ws = await websockets.connect(ws_url, extra_headers={"Authorization": "Bearer " + token})
    except Exception as e:
        print(json.dumps({"ok": False, "error": {"code": "connect", "message": str(e)}}, separators=(",", ":")), flush=True)
        return 3
    loop = asyncio.get_running_loop()
    lines = asyncio.Queue()
    loop.add_reader(sys.stdin.fileno(), lambda: lines.put_nowait(sys.stdin.readline()))

    async def reader():
        try:
            async for raw in ws:
                sys.stdout.write(raw + "\n")
                sys.stdout.flush()
        except websockets.ConnectionClosed:
            pass
        print(json.dumps({"event": "close", "data": {"code": ws.close_code, "reason": ws.close_reason}},
                         separators=(",", ":")), flush=True)

    task = asyncio.ensure_future(reader())
    rid = 0
    while True:
        getline = asyncio.ensure_future(lines.get())
        done, _ = await asyncio.wait({getline, task}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            getline.cancel()
            return 1
        line = getline.result()
        words = line.strip()
        if words.startswith("raw "):
            words = words[4:].lstrip()
        if line == "" or words == "quit":
            await ws.close()
            await task
            return 0
        if not words:
            continue
        event, _, data = words.partition(" ")
        rid += 1
        try:
            payload = json.loads(data) if data.strip() else {}
        except ValueError as e:
            print(json.dumps({"ok": False, "error": {"code": "usage", "message": str(e)}}, separators=(",", ":")),
                  flush=True)
            continue
        await ws.send(json.dumps({"id": rid, "event": event, "data": payload}))


def main(argv):
    if argv[:1] == ["--pipe"]:
        if len(argv) != 3:
            sys.stderr.write(__doc__)
            return 2
        return asyncio.run(pipe(argv[1], argv[2]))
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    url, ta, tb = argv[0], argv[1], argv[2]
    prefix = argv[3] if len(argv) > 3 else "pyrec"
    tap = Tap()
    try:
        asyncio.run(asyncio.wait_for(scenario(url, ta, tb, prefix, tap), 90))
    except Exception as e:  # a timeout or a closed connection ends the run
        tap.check(False, "scenario ran to the end", "%s: %s" % (type(e).__name__, e))
    print("1..%d" % tap.n)
    print("# %d checks, %d failed" % (tap.n, tap.failed))
    return 0 if tap.failed == 0 and tap.n == EXPECTED_CHECKS else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
