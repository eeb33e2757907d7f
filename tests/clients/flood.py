#!/usr/bin/python3
"""flood.py: one sender (Python websockets) that pipelines message:send.

Usage: flood.py URL TOKEN ROOM COUNT SIZE

Joins ROOM and sends COUNT messages of SIZE characters, keeping up to 8
unacknowledged at a time (a window, so its own acks never pile up on the
server beyond 8 messages), and prints {"acked": N, "failed": M}.
Exit 0 when every message was acknowledged.
"""
import asyncio
import json
import sys

import websockets


async def main(url, token, room, count, size):
    ws_url = url.replace("http", "ws", 1) + "/ws"
    async with websockets.connect(ws_url, extra_headers={"Authorization": "Bearer " + token},
                                  max_size=None) as ws:
        await ws.send(json.dumps({"id": 1, "event": "join:chat", "data": {"room": room}}))
        while json.loads(await ws.recv()).get("id") != 1:
            pass
        text = "x" * size
        sent = acked = failed = 0
        while acked + failed < count:
            while sent < count and sent - acked - failed < 8:
                await ws.send(json.dumps({"id": 2 + sent, "event": "message:send",
                                          "data": {"room": room, "text": text}}))
                sent += 1
            m = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if "id" in m:
                if m["ok"]:
                    acked += 1
                else:
                    failed += 1
        print(json.dumps({"acked": acked, "failed": failed}))
        return 0 if failed == 0 else 1


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(asyncio.run(main(a[0], a[1], a[2], int(a[3]), int(a[4]))))
