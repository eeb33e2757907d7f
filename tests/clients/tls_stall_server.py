#!/usr/bin/python3
"""tls_stall_server.py CERT KEY [STALL_SECONDS]

A minimal WebSocket server over TLS for client tests, one connection at a
time, on 127.0.0.1 with a free port that it prints first (one line).

Its receive buffer is tiny and, after the 101, it reads nothing for
STALL_SECONDS (default 1.5): a client sending meanwhile finds its socket
full, so its TLS writes stop part way and must be finished later. Then it
reads every frame and answers each request like parleyd would, enough for
libparley: message:send gets {"message": {...}} with the text sent, any
other request with an id gets ok and {}. A close is answered with 1000.

With a certificate for a name the client does not expect it also serves
as a server with the wrong name: the client fails at the handshake.
Errors go to stderr; it runs until killed.
"""
import base64
import hashlib
import json
import socket
import ssl
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def need(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("client closed")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError("client closed before the upgrade")
            self.buf += data
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head

    def frame(self):
        b0, b1 = self.need(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self.need(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self.need(8))
        mask = self.need(4) if b1 & 0x80 else b"\0\0\0\0"
        data = bytearray(self.need(n))
        for i in range(n):
            data[i] ^= mask[i % 4]
        return b0 & 0x0F, bytes(data)

    def send(self, opcode, payload):
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        self.sock.sendall(hdr + payload)


def serve(sock, stall):
    c = Conn(sock)
    head = c.head()
    key = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    if key is None:
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        return
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    time.sleep(stall)
    seq = 0
    frames = 0
    while True:
        opcode, data = c.frame()
        if opcode == 8:
            c.send(8, struct.pack("!H", 1000))
            print("frames %d" % frames, file=sys.stderr, flush=True)
            return
        if opcode == 9:
            c.send(10, data)
            continue
        if opcode != 1:
            continue
        frames += 1
        req = json.loads(data)
        if "id" not in req:
            continue
        body = {}
        if req.get("event") == "message:send":
            seq += 1
            d = req.get("data") or {}
            body = {"message": {
                "id": seq, "room": d.get("room", ""), "seq": seq, "user": "stall",
                "name": "stall", "text": d.get("text", ""), "ts": int(time.time() * 1000),
                "client_msg_id": d.get("client_msg_id"), "reply_to": None, "deleted": False}}
        c.send(1, json.dumps({"id": req["id"], "ok": True, "data": body},
                             ensure_ascii=False).encode())


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    stall = float(sys.argv[3]) if len(sys.argv) == 4 else 1.5
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Inherited by accepted sockets: a small window fills at once.
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    print(ls.getsockname()[1], flush=True)
    while True:
        raw, _ = ls.accept()
        try:
            with ctx.wrap_socket(raw, server_side=True) as s:
                serve(s, stall)
        except (OSError, ConnectionError, ValueError) as e:
            print("client: %s" % e, file=sys.stderr, flush=True)
        finally:
            raw.close()


if __name__ == "__main__":
    main()
