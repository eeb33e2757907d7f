#!/usr/bin/python3
"""slow_consumer.py: a member of a room that stops reading.

Usage: slow_consumer.py URL TOKEN ROOM GOFILE

Connects with a 4 KiB receive buffer (so the kernel cannot soak up what the
server sends), joins ROOM, prints {"joined": true}, then reads nothing until
GOFILE exists (at most 60 s). Then it reads everything and prints the close
frame it finally gets: {"close": CODE, "reason": "...", "frames": N}, or
{"close": 1006} when the connection ended without one, or {"close": null}
when nothing at all arrived for 3 s.
"""
import base64
import json
import os
import socket
import struct
import sys
import time
import urllib.parse


def frame(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Reader:
    def __init__(self, sock, buf):
        self.sock, self.buf = sock, buf

    def need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def next(self):
        b0, b1 = self.need(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.need(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.need(8))[0]
        return b0 & 0x0F, self.need(n)


def main(url, token, room, gofile):
    u = urllib.parse.urlparse(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect((u.hostname, u.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n"
                  % (u.hostname, u.port, key, token)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(4096)
    head, _, rest = buf.partition(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n")[0]:
        print(json.dumps({"error": head.decode("iso-8859-1")}))
        return 1
    r = Reader(sock, rest)
    sock.sendall(frame(1, json.dumps({"id": 1, "event": "join:chat", "data": {"room": room}}).encode()))
    while True:
        op, payload = r.next()
        if op == 1 and json.loads(payload).get("id") == 1:
            break
    print(json.dumps({"joined": True}), flush=True)

    deadline = time.time() + 60
    while not os.path.exists(gofile) and time.time() < deadline:
        time.sleep(0.05)

    # Everything the server sent is in the kernel by now: a quiet socket
    # means no close is coming.
    sock.settimeout(3)
    frames = 0
    try:
        while True:
            op, payload = r.next()
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                print(json.dumps({"close": code, "reason": payload[2:].decode("utf-8", "replace"),
                                  "frames": frames}))
                return 0
            frames += 1
    except (EOFError, ConnectionError):
        print(json.dumps({"close": 1006, "frames": frames}))
        return 0
    except socket.timeout:
        print(json.dumps({"close": None, "frames": frames}))
        return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
