#!/usr/bin/python3
"""rawws.py: a raw-socket WebSocket client for Parley's tests.

It does the RFC 6455 handshake by hand and then sends crafted frames, so the
tests can send what no well-behaved library would (binary frames, invalid
UTF-8, oversized or unmasked frames) and see exactly what the server answers.
Only the Python standard library is used.

Usage:
  rawws.py URL [options] [STEP...]

URL is http://HOST:PORT or ws://HOST:PORT; the path defaults to /ws.

Options:
  --token JWT          send "Authorization: Bearer JWT"
  --query-token JWT    append ?token=JWT to the path
  --origin ORIGIN      send an Origin header
  --host HOST          send this Host header instead of HOST:PORT from URL
  --header 'K: V'      any extra request header (repeatable)
  --path PATH          request path (default /ws)
  --timeout SECONDS    socket timeout for every read (default 10)
  --no-pong            do not answer the server's pings

Steps, run in order after a successful (101) handshake:
  text:STRING          one masked text frame carrying STRING (UTF-8)
  texthex:HEX          one masked text frame with these raw payload bytes
  binary:HEX           one masked binary frame
  textsize:N           one text frame of N bytes ("a" repeated)
  frag:HEX1,HEX2,...   one text message split into fragments (raw bytes)
  fragstart:STRING     the first fragment of a text message (no FIN), so
                       the message stays incomplete until fragend
  fragcont:STRING      a continuation fragment (no FIN)
  fragend:STRING       the last continuation fragment (FIN)
  unmasked:STRING      one text frame sent WITHOUT a mask (a protocol error)
  ping:STRING          one ping frame
  close:CODE           a close frame with this code
  recv                 read one data or close frame (answering pings unless
                       --no-pong, skipping pings and pongs) and print it
  recv-any             read one frame of any kind (a ping or pong too)
  recv-ping            read frames until a ping arrives; print it
  until-close          read and print frames until the server closes
  hold:MS              keep reading (answering pings unless --no-pong) for
                       MS milliseconds; fails if the server closes meanwhile

Output: one JSON object per line on stdout:
  {"status": 101, "accept_ok": true, "connection": ["Upgrade"]}
  or {"status": 401, "headers": {...}, "body": "..."}
  {"type": "text", "data": "..."}   a text frame received ("json" added
                                     when it parses)
  {"type": "binary", "hex": "..."}
  {"type": "ping", "data": "..."}   (and "pong" for an answer to our ping)
  {"type": "close", "code": 1003, "reason": "..."}   (1005 when no code,
                                     1006 when the TCP connection ended
                                     without a close frame)
  {"type": "timeout"}               no frame within --timeout
Exit status: 0 when every step ran, 1 when a step could not (the server
closed early, a timeout), 2 on a usage error, 3 when the handshake did not
return 101 (the status is still printed).
"""
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time
import urllib.parse

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Closed(Exception):
    pass


class Conn:
    def __init__(self, sock, buf, pong=True):
        self.sock = sock
        self.buf = bytearray(buf)
        self.pong = pong
        self.closed = False

    # ---- sending ------------------------------------------------------
    def send_frame(self, opcode, payload, fin=True, mask=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            hdr = struct.pack("!BB", b0, mbit | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, mbit | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, mbit | 127, n)
        if mask:
            key = os.urandom(4)
            body = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if n < 4096 else \
                _mask_fast(payload, key)
            data = hdr + key + body
        else:
            data = hdr + payload
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Closed(str(e))

    # ---- receiving ----------------------------------------------------
    def _need(self, n):
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed("eof")
            self.buf += chunk
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_frame(self):
        b0, b1 = self._need(2)
        fin = bool(b0 & 0x80)
        opcode = b0 & 0x0F
        masked = bool(b1 & 0x80)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", self._need(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._need(8))
        key = self._need(4) if masked else None
        payload = self._need(n)
        if key:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return fin, opcode, payload, masked

    def read_message(self):
        """Returns (kind, payload) of the next data or control frame the
        test cares about; answers pings itself unless told not to."""
        parts = []
        first_op = None
        while True:
            fin, opcode, payload, masked = self.read_frame()
            if opcode == 0x9:  # ping
                if self.pong:
                    self.send_frame(0xA, payload)
                return ("ping", payload)
            if opcode == 0xA:
                return ("pong", payload)
            if opcode == 0x8:
                return ("close", payload)
            if opcode in (0x1, 0x2):
                first_op = opcode
                parts = [payload]
            elif opcode == 0x0:
                parts.append(payload)
            if fin:
                return ("text" if first_op == 0x1 else "binary", b"".join(parts))

    def report(self, kind, payload):
        if kind == "text":
            s = payload.decode("utf-8", "replace")
            obj = {"type": "text", "data": s}
            try:
                obj["json"] = json.loads(s)
            except ValueError:
                pass
            out(obj)
        elif kind == "binary":
            out({"type": "binary", "hex": payload.hex()})
        elif kind in ("ping", "pong"):
            out({"type": kind, "data": payload.decode("utf-8", "replace")})
        elif kind == "close":
            if len(payload) >= 2:
                (code,) = struct.unpack("!H", payload[:2])
                reason = payload[2:].decode("utf-8", "replace")
            else:
                code, reason = 1005, ""
            out({"type": "close", "code": code, "reason": reason})
            # Echo the close as RFC 6455 asks, then stop.
            try:
                self.send_frame(0x8, payload[:2])
            except Closed:
                pass
            self.closed = True


def _mask_fast(payload, key):
    # XOR through big integers: fast enough for multi-megabyte payloads.
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def handshake(args):
    u = urllib.parse.urlparse(args["url"])
    if u.scheme not in ("http", "ws"):
        raise SystemExit("rawws.py: only http:// and ws:// URLs")
    host = u.hostname
    port = u.port or 80
    path = args["path"] or (u.path if u.path not in ("", "/") else "/ws")
    if args["query_token"] is not None:
        path += ("&" if "?" in path else "?") + "token=" + urllib.parse.quote(args["query_token"], safe="")
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET %s HTTP/1.1" % path,
        "Host: %s" % (args["host"] or "%s:%d" % (host, port)),
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: %s" % key,
        "Sec-WebSocket-Version: 13",
    ]
    if args["origin"] is not None:
        lines.append("Origin: %s" % args["origin"])
    if args["token"] is not None:
        lines.append("Authorization: Bearer %s" % args["token"])
    lines += args["headers"]
    req = ("\r\n".join(lines) + "\r\n\r\n").encode()
    sock = socket.create_connection((host, port), timeout=args["timeout"])
    sock.settimeout(args["timeout"])
    sock.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    hlines = head.decode("iso-8859-1").split("\r\n")
    try:
        status = int(hlines[0].split()[1])
    except (IndexError, ValueError):
        out({"status": 0, "error": "no HTTP response", "raw": head.decode("iso-8859-1")})
        sys.exit(3)
    headers = {}
    connection = []
    for line in hlines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
        if k.strip().lower() == "connection":
            connection.append(v.strip())
    if status != 101:
        body = rest
        clen = int(headers.get("content-length", "0") or 0)
        try:
            while len(body) < clen:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                body += chunk
        except socket.timeout:
            pass
        res = {"status": status, "headers": headers, "body": body.decode("utf-8", "replace")}
        try:
            res["json"] = json.loads(res["body"])
        except ValueError:
            pass
        out(res)
        sock.close()
        sys.exit(3)
    want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    ok = headers.get("sec-websocket-accept") == want
    # Every Connection header line, so a doubled one shows.
    out({"status": 101, "accept_ok": ok, "connection": connection})
    if not ok:
        sys.exit(3)
    return Conn(sock, rest, pong=args["pong"])


def run_steps(conn, steps, timeout):
    for step in steps:
        name, _, arg = step.partition(":")
        if name == "text":
            conn.send_frame(0x1, arg.encode("utf-8"))
        elif name == "texthex":
            conn.send_frame(0x1, bytes.fromhex(arg))
        elif name == "binary":
            conn.send_frame(0x2, bytes.fromhex(arg))
        elif name == "textsize":
            conn.send_frame(0x1, b"a" * int(arg))
        elif name == "frag":
            parts = [bytes.fromhex(p) for p in arg.split(",")]
            for i, p in enumerate(parts):
                conn.send_frame(0x1 if i == 0 else 0x0, p, fin=(i == len(parts) - 1))
        elif name == "fragstart":
            conn.send_frame(0x1, arg.encode("utf-8"), fin=False)
        elif name == "fragcont":
            conn.send_frame(0x0, arg.encode("utf-8"), fin=False)
        elif name == "fragend":
            conn.send_frame(0x0, arg.encode("utf-8"), fin=True)
        elif name == "unmasked":
            conn.send_frame(0x1, arg.encode("utf-8"), mask=False)
        elif name == "ping":
            conn.send_frame(0x9, arg.encode("utf-8"))
        elif name == "close":
            conn.send_frame(0x8, struct.pack("!H", int(arg)))
        elif name == "recv":
            kind, payload = conn.read_message()
            while kind in ("ping", "pong"):
                kind, payload = conn.read_message()
            conn.report(kind, payload)
            if kind == "close":
                return 1 if step != steps[-1] else 0
        elif name == "recv-any":
            kind, payload = conn.read_message()
            conn.report(kind, payload)
            if kind == "close":
                return 1 if step != steps[-1] else 0
        elif name == "recv-ping":
            while True:
                kind, payload = conn.read_message()
                conn.report(kind, payload)
                if kind == "ping":
                    break
                if kind == "close":
                    return 1
        elif name == "until-close":
            while not conn.closed:
                kind, payload = conn.read_message()
                conn.report(kind, payload)
        elif name == "hold":
            end = time.monotonic() + int(arg) / 1000.0
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    break
                conn.sock.settimeout(left)
                try:
                    kind, payload = conn.read_message()
                except socket.timeout:
                    break
                conn.report(kind, payload)
                if kind == "close":
                    return 1
            conn.sock.settimeout(timeout)
        else:
            sys.stderr.write("rawws.py: unknown step %r\n" % step)
            return 2
    return 0


def main(argv):
    args = {"url": None, "token": None, "query_token": None, "origin": None, "host": None,
            "headers": [], "path": None, "timeout": 10.0, "pong": True}
    steps = []
    it = iter(argv)
    for a in it:
        if a in ("--token", "--query-token", "--origin", "--host", "--path"):
            args[a[2:].replace("-", "_")] = next(it)
        elif a == "--header":
            args["headers"].append(next(it))
        elif a == "--timeout":
            args["timeout"] = float(next(it))
        elif a == "--no-pong":
            args["pong"] = False
        elif a in ("-h", "--help"):
            sys.stdout.write(__doc__)
            return 0
        elif args["url"] is None:
            args["url"] = a
        else:
            steps.append(a)
    if args["url"] is None:
        sys.stderr.write("usage: rawws.py URL [options] [STEP...]\n")
        return 2
    conn = handshake(args)
    try:
        rc = run_steps(conn, steps, args["timeout"])
    except Closed:
        out({"type": "close", "code": 1006, "reason": ""})
        rc = 1
    except socket.timeout:
        out({"type": "timeout"})
        rc = 1
    try:
        conn.sock.close()
    except OSError:
        pass
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
