#!/usr/bin/python3
"""conformance.py: a raw-socket RFC 6455 conformance suite for parleyd, in
the spirit of Autobahn|Testsuite sections 1-7 and 9 (framing, pings and
pongs, reserved bits, opcodes, fragmentation, UTF-8, close handling,
limits), which cannot run here (it needs Python 2).

Every case opens its own connection, writes exact bytes (frames built by
hand, masked unless the case says not), and asserts the server's exact
reaction: a close frame with one of the expected codes, or that the
connection stays open and then answers a ping (same payload) and a request
(its ack). Only the Python standard library is used.

Usage:
  conformance.py URL TOKEN [--only SUBSTRING] [--pid PID] [--slowloris-only]
                 [--no-slowloris] [--http-timeout S]

  URL     http://HOST:PORT of parleyd
  TOKEN   a valid JWT for it
  --pid   parleyd's pid: the oversize cases then check that its resident
          memory did not grow by the declared length (nothing allocated)
  --churn S  instead of the suite: for S seconds, 4 threads open and drop
          connections as fast as they can; prints how many upgrades
          succeeded (connections arriving while the server shuts down)
  --http-timeout S   parleyd's HTTP-phase timeout (server/http.c
          HTTP_TIMEOUT_S, default 10): the slowloris case expects the
          server to end the connection within S + 3 seconds

Prints one table row per case and a summary; exit status 0 when every case
passed, 1 otherwise. With --json, one JSON object per case instead.
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
READ_TIMEOUT = 5.0

TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class Failed(Exception):
    pass


def frame(op, payload=b"", fin=True, rsv=0, mask=True, length=None):
    """One client frame; `length` overrides the declared payload length."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    return hdr + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Conn:
    def __init__(self, url, token):
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=READ_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "Authorization: Bearer %s\r\n\r\n" % (u.hostname, u.port or 80, key, token))
        self.sock.sendall(req.encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Failed("connection closed during the handshake")
            buf += chunk
        head, _, self.buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("iso-8859-1").split("\r\n")
        if lines[0].split()[1] != "101":
            raise Failed("handshake answered %s" % lines[0])
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        if ("sec-websocket-accept: " + want).lower() not in head.decode().lower():
            raise Failed("bad Sec-WebSocket-Accept")
        self.next_id = 1

    def send(self, data):
        self.sock.sendall(data)

    def _need(self, n):
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self, timeout=READ_TIMEOUT):
        """(fin, rsv, opcode, payload) of the next server frame; checks it
        is a well-formed server frame."""
        self.sock.settimeout(timeout)
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if b1 & 0x80:
            raise Failed("the server sent a masked frame")
        if n == 126:
            (n,) = struct.unpack("!H", self._need(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", self._need(8))
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, self._need(n)

    def expect_close(self, codes):
        """Reads until the server's close frame; its code must be in codes
        (None: any). Pushes and pongs before it are skipped. Returns the
        code (1005 for a close without one)."""
        while True:
            try:
                fin, rsv, op, payload = self.read_frame()
            except EOFError:
                raise Failed("the connection ended without a close frame")
            except socket.timeout:
                raise Failed("no close frame within %ds" % READ_TIMEOUT)
            if op == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                if codes is not None and code not in codes:
                    raise Failed("closed with %d (%r), want %s" % (
                        code, payload[2:].decode("utf-8", "replace"), "/".join(map(str, codes))))
                # Answer as RFC 6455 asks, then the server ends the TCP connection.
                try:
                    self.send(frame(CLOSE, payload[:2]))
                    self.sock.settimeout(2)
                    while self.sock.recv(4096):
                        pass
                except OSError:
                    pass
                return code
            if op == TEXT:
                obj = parse_text(payload)
                if obj.get("ok") is True:
                    raise Failed("a request was answered before the expected close: %s" % payload[:120])

    def expect_pong(self, payload):
        while True:
            try:
                fin, rsv, op, data = self.read_frame()
            except (EOFError, socket.timeout):
                raise Failed("no pong for a ping")
            if op == CLOSE:
                raise Failed("closed (%s) instead of answering a ping" % describe_close(data))
            if op == PONG:
                if data != payload:
                    raise Failed("pong payload %r, want %r" % (data[:20], payload[:20]))
                return

    def expect_ack(self, req_id, ok=True):
        while True:
            try:
                fin, rsv, op, data = self.read_frame()
            except (EOFError, socket.timeout):
                raise Failed("no ack for request %d" % req_id)
            if op == CLOSE:
                raise Failed("closed (%s) instead of answering request %d" % (describe_close(data), req_id))
            if op != TEXT:
                continue
            obj = parse_text(data)
            if obj.get("id") == req_id:
                if obj.get("ok") is not ok:
                    raise Failed("request %d answered %s" % (req_id, data[:200].decode()))
                return obj

    def probe(self):
        """The connection is open and well: a ping is answered with the same
        payload, a request with its ack; then a clean close."""
        self.send(frame(PING, b"probe"))
        self.expect_pong(b"probe")
        rid = 9000 + self.next_id
        self.next_id += 1
        self.send(frame(TEXT, json.dumps({"id": rid, "event": "room:list"})))
        self.expect_ack(rid)
        self.send(frame(CLOSE, close_payload(1000)))
        self.expect_close([1000])

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def parse_text(payload):
    """A server text frame: UTF-8 holding one JSON object."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Failed("a text frame that is not UTF-8 (%s): %r" % (e.reason, payload[:120]))
    try:
        obj = json.loads(text)
    except ValueError:
        raise Failed("a text frame that is not JSON: %r" % payload[:80])
    if not isinstance(obj, dict):
        raise Failed("a text frame that is not a JSON object: %r" % payload[:80])
    return obj


def describe_close(payload):
    if len(payload) >= 2:
        return "close %d" % struct.unpack("!H", payload[:2])[0]
    return "close without a code"


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ---- the cases ----------------------------------------------------------------
# Each case: (id, section, description, sends, expectation)
#   sends: a list of byte strings written one by one (a short pause between
#          them so they arrive as separate reads), or a callable(conn, ctx)
#   expectation: ("close", [codes]) / ("open", None) / ("open-acks", [ids])
#                / ("pongs-then-ack", (pings, id)) / ("echo-close", [codes])

def req(rid, event="room:list"):
    return json.dumps({"id": rid, "event": event}).encode()


def fragments(data, n):
    """data split into n fragments (the first TEXT, then CONT, last FIN)."""
    size = max(1, -(-len(data) // n))
    parts = [data[i:i + size] for i in range(0, len(data), size)]
    while len(parts) < n:
        parts.append(b"")
    out = []
    for i, p in enumerate(parts):
        out.append(frame(TEXT if i == 0 else CONT, p, fin=(i == len(parts) - 1)))
    return out


R1 = req(1)


def padded(total, rid=1):
    """A valid request of exactly `total` bytes."""
    base = json.dumps({"id": rid, "event": "room:list", "pad": ""}).encode()
    return base[:-2] + b"x" * (total - len(base)) + b'"}'


CASES = []


def case(cid, section, desc, sends, expect):
    CASES.append((cid, section, desc, sends, expect))


# 1 framing: text messages of every length encoding
case("1.1.1", "framing", "text, 7-bit length", [frame(TEXT, R1)], ("open-acks", [1]))
case("1.1.2", "framing", "text, 16-bit length (1000 bytes)", [frame(TEXT, padded(1000))], ("open-acks", [1]))
case("1.1.3", "framing", "text, 64-bit length (65536 bytes, the limit)", [frame(TEXT, padded(65536))], ("open-acks", [1]))
case("1.1.4", "framing", "empty text message (bad_request push, stays open)", [frame(TEXT, b"")], ("open", None))
case("1.2.1", "framing", "binary message", [frame(BINARY, b"\x00\x01")], ("close", [1003]))
# 2 pings and pongs
case("2.1", "ping", "ping, empty payload", [frame(PING, b"")], ("pongs", [b""]))
case("2.2", "ping", "ping, 125-byte payload", [frame(PING, b"p" * 125)], ("pongs", [b"p" * 125]))
case("2.3", "ping", "ping, binary payload", [frame(PING, bytes(range(0, 125)))], ("pongs", [bytes(range(0, 125))]))
case("2.4", "ping", "ping, 126-byte payload (too long for a control frame)", [frame(PING, b"p" * 126)], ("close", [1002]))
case("2.5", "ping", "unsolicited pong is ignored", [frame(PONG, b"x")], ("open", None))
case("2.6", "ping", "fragmented ping (FIN clear)", [frame(PING, b"a", fin=False)], ("close", [1002]))
case("2.7", "ping", "10 pings in a row, all answered", [frame(PING, b"%d" % i) for i in range(10)], ("pongs", [b"%d" % i for i in range(10)]))
# 3 reserved bits
for bit, rsv in ((1, 4), (2, 2), (3, 1)):
    case("3.%d" % bit, "rsv", "text with RSV%d set" % bit, [frame(TEXT, R1, rsv=rsv)], ("close", [1002]))
case("3.4", "rsv", "ping with RSV1 set", [frame(PING, b"x", rsv=4)], ("close", [1002]))
case("3.5", "rsv", "close with RSV2 set", [frame(CLOSE, close_payload(1000), rsv=2)], ("close", [1002]))
# 4 opcodes
for op in (3, 4, 5, 6, 7):
    case("4.1.%d" % op, "opcode", "reserved data opcode %d" % op, [frame(op, b"x")], ("close", [1002]))
for op in (11, 12, 13, 14, 15):
    case("4.2.%d" % op, "opcode", "reserved control opcode %d" % op, [frame(op, b"x")], ("close", [1002]))
case("4.3", "opcode", "valid request then opcode 5", [frame(TEXT, R1), frame(5, b"")], ("ack-then-close", (1, [1002])))
# 5 fragmentation
case("5.1", "fragments", "text in 2 fragments", fragments(R1, 2), ("open-acks", [1]))
case("5.2", "fragments", "text in 5 fragments, one empty",
     [frame(TEXT, R1[:3], fin=False), frame(CONT, b"", fin=False), frame(CONT, R1[3:10], fin=False),
      frame(CONT, R1[10:20], fin=False), frame(CONT, R1[20:], fin=True)], ("open-acks", [1]))
case("5.3", "fragments", "text in 1-byte fragments", fragments(R1, len(R1)), ("open-acks", [1]))
case("5.4", "fragments", "continuation without a start", [frame(CONT, R1, fin=True)], ("close", [1002]))
case("5.5", "fragments", "continuation (not final) without a start", [frame(CONT, R1, fin=False)], ("close", [1002]))
case("5.6", "fragments", "new text start inside a fragmented message",
     [frame(TEXT, R1[:5], fin=False), frame(TEXT, R1, fin=True)], ("close", [1002]))
case("5.7", "fragments", "binary start inside a fragmented text",
     [frame(TEXT, R1[:5], fin=False), frame(BINARY, b"x", fin=True)], ("close", [1002]))
case("5.8", "fragments", "pings between fragments are answered, then the message",
     [frame(TEXT, R1[:4], fin=False), frame(PING, b"p1"), frame(CONT, R1[4:9], fin=False),
      frame(PING, b"p2"), frame(CONT, R1[9:], fin=True)], ("pongs-then-ack", ([b"p1", b"p2"], 1)))
case("5.9", "fragments", "pong between fragments", [frame(TEXT, R1[:4], fin=False), frame(PONG, b"x"),
     frame(CONT, R1[4:], fin=True)], ("open-acks", [1]))
case("5.10", "fragments", "close inside a fragmented message is honoured",
     [frame(TEXT, R1[:4], fin=False), frame(CLOSE, close_payload(1000))], ("echo-close", [1000]))
case("5.11", "fragments", "fragmented binary", [frame(BINARY, b"a", fin=False), frame(CONT, b"b")], ("close", [1003]))
case("5.12", "fragments", "fragments over the size limit in total",
     [frame(TEXT, b" " * 40000, fin=False), frame(CONT, b" " * 40000, fin=True)], ("close", [1009]))
# 6 UTF-8
U8 = json.dumps({"id": 1, "event": "room:list", "t": "κόσμε €𝄞"}, ensure_ascii=False).encode()
case("6.1", "utf8", "valid multi-byte UTF-8 in one frame", [frame(TEXT, U8)], ("open-acks", [1]))
case("6.2", "utf8", "valid UTF-8 split inside a code point across fragments",
     [frame(TEXT, U8[:U8.index("𝄞".encode()) + 2], fin=False), frame(CONT, U8[U8.index("𝄞".encode()) + 2:])],
     ("open-acks", [1]))
case("6.3", "utf8", "invalid UTF-8 (0xff)", [frame(TEXT, b'{"a":"\xff"}')], ("close", [1007]))
case("6.4", "utf8", "overlong encoding of '/'", [frame(TEXT, b'"\xc0\xaf"')], ("close", [1007]))
case("6.5", "utf8", "UTF-16 surrogate (U+D800)", [frame(TEXT, b'"\xed\xa0\x80"')], ("close", [1007]))
case("6.6", "utf8", "code point above U+10FFFF", [frame(TEXT, b'"\xf4\x90\x80\x80"')], ("close", [1007]))
case("6.7", "utf8", "truncated sequence at the end of the message", [frame(TEXT, b'"ab\xe2\x82')], ("close", [1007]))
case("6.8", "utf8", "invalid UTF-8 in a later fragment", [frame(TEXT, b'{"a":"', fin=False), frame(CONT, b'\xff"}')],
     ("close", [1007]))
# 7 close handling
case("7.1.1", "close", "close 1000 is echoed", [frame(CLOSE, close_payload(1000))], ("echo-close", [1000]))
case("7.1.2", "close", "close without a code", [frame(CLOSE, b"")], ("echo-close", [1000, 1005]))
case("7.1.3", "close", "close with 1000 and a UTF-8 reason", [frame(CLOSE, close_payload(1000, "bye é".encode()))], ("echo-close", [1000]))
case("7.1.4", "close", "close with a 123-byte reason (125 payload)", [frame(CLOSE, close_payload(1000, b"r" * 123))], ("echo-close", [1000]))
case("7.1.5", "close", "close with a 124-byte reason (126 payload)", [frame(CLOSE, close_payload(1000, b"r" * 124))], ("close", [1002]))
case("7.1.6", "close", "close with a 1-byte payload", [frame(CLOSE, b"\x03")], ("close", [1002]))
case("7.1.7", "close", "data after close is ignored", [frame(CLOSE, close_payload(1000)), frame(TEXT, R1)], ("echo-close", [1000]))
case("7.1.8", "close", "fragmented close (FIN clear)", [frame(CLOSE, close_payload(1000), fin=False)], ("close", [1002]))
case("7.1.9", "close", "invalid UTF-8 in the close reason", [frame(CLOSE, close_payload(1000, b"\xff\xfe"))], ("close", [1002, 1007]))
for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999):
    case("7.2.%d" % code, "close", "close code %d is valid" % code, [frame(CLOSE, close_payload(code))],
         ("echo-close", None))
for code in (0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
    case("7.3.%d" % code, "close", "close code %d is refused" % code, [frame(CLOSE, close_payload(code))],
         ("close", [1002]))
# 9 limits and broken frames
case("9.1", "limits", "unmasked client frame", [frame(TEXT, R1, mask=False)], ("close", [1002]))
case("9.2", "limits", "unmasked ping", [frame(PING, b"x", mask=False)], ("close", [1002]))
case("9.3", "limits", "text of 65537 bytes (over the limit)", [frame(TEXT, padded(65537))], ("close", [1009]))
case("9.4", "limits", "declared 64-bit length with the MSB set",
     [b"\x81\xff" + struct.pack("!Q", (1 << 63) + 5) + b"abcd"], ("close", [1002]))
case("9.5", "limits", "declared length 2 GiB, then 16 bytes of it (nothing allocated)",
     [b"\x81\xff" + struct.pack("!Q", 1 << 31) + b"abcd" + b"x" * 16], ("close-no-alloc", [1009]))
case("9.6", "limits", "declared length 2^62, then 16 bytes of it (nothing allocated)",
     [b"\x81\xff" + struct.pack("!Q", 1 << 62) + b"abcd" + b"x" * 16], ("close-no-alloc", [1009]))
case("9.6.1", "limits", "declared length 2 GiB and no payload: the server waits (nothing allocated)",
     [b"\x81\xff" + struct.pack("!Q", 1 << 31) + b"abcd"], ("silent-open", None))
case("9.7", "limits", "16-bit length 65535 declared, then nothing", [b"\x81\xfe\xff\xff" + b"abcd" + b"x" * 10],
     ("silent-open", None))
case("9.11", "limits", "unknown event with a long multi-byte name: the error quoting it is UTF-8",
     [frame(TEXT, json.dumps({"id": 1, "event": "room:on" + "é" * 40}, ensure_ascii=False).encode())],
     ("error-ack", 1))
case("9.8", "limits", "many small messages in one write", [b"".join(frame(TEXT, req(i)) for i in range(1, 51))],
     ("open-acks", list(range(1, 51))))


# ---- running a case ------------------------------------------------------------

def run_case(url, token, c, pid):
    cid, section, desc, sends, (kind, arg) = c
    conn = Conn(url, token)
    got = ""
    try:
        before = rss_kb(pid) if pid else None
        for i, data in enumerate(sends):
            conn.send(data)
            if len(sends) > 1 and i < len(sends) - 1:
                time.sleep(0.01)  # separate reads on the server
        if kind == "close":
            got = "close %d" % conn.expect_close(arg)
        elif kind == "close-no-alloc":
            got = "close %d" % conn.expect_close(arg)
            after = rss_kb(pid) if pid else None
            if before is not None and after is not None:
                grew = after - before
                if grew > 64 * 1024:
                    raise Failed("server memory grew by %d KiB" % grew)
                got += ", RSS +%d KiB" % grew
        elif kind == "echo-close":
            got = "close %d" % conn.expect_close(arg)
        elif kind == "open":
            conn.probe()
            got = "open"
        elif kind == "open-acks":
            for rid in arg:
                conn.expect_ack(rid)
            conn.probe()
            got = "acked, open"
        elif kind == "error-ack":
            obj = conn.expect_ack(arg, ok=False)
            conn.probe()
            got = "refused (%s), UTF-8, open" % obj["error"]["code"]
        elif kind == "ack-then-close":
            rid, codes = arg
            conn.expect_ack(rid)
            got = "acked, then close %d" % conn.expect_close(codes)
        elif kind == "pongs":
            for p in arg:
                conn.expect_pong(p)
            conn.probe()
            got = "%d pong%s, open" % (len(arg), "" if len(arg) == 1 else "s")
        elif kind == "pongs-then-ack":
            pings, rid = arg
            for p in pings:
                conn.expect_pong(p)
            conn.expect_ack(rid)
            conn.probe()
            got = "pongs, then ack, open"
        elif kind == "silent-open":
            # An incomplete frame: the server waits for the rest (no reply,
            # no close) until its idle timeout; we cut the connection.
            try:
                fin, rsv, op, data = conn.read_frame(timeout=1.0)
                raise Failed("the server sent opcode %d while the frame was incomplete" % op)
            except socket.timeout:
                got = "waits for the rest"
            except EOFError:
                raise Failed("the server closed the connection on an incomplete frame")
        else:
            raise Failed("unknown expectation %s" % kind)
        return True, got
    except Failed as e:
        return False, str(e)
    except (OSError, EOFError) as e:
        return False, "socket error: %s" % e
    finally:
        conn.close()


def expect_text(kind, arg):
    if kind in ("close", "close-no-alloc"):
        return "close " + "/".join(map(str, arg))
    if kind == "echo-close":
        return "close echoed" + (" (" + "/".join(map(str, arg)) + ")" if arg else "")
    if kind == "ack-then-close":
        return "ack, close %s" % "/".join(map(str, arg[1]))
    if kind in ("pongs", "pongs-then-ack"):
        return "pong(s), open"
    if kind == "silent-open":
        return "no reply yet"
    if kind == "error-ack":
        return "error ack, open"
    return "stays open"


def truncated_cases(url, token):
    """The connection is cut in the middle of a frame: the server must
    survive, and the next connection works."""
    rows = []
    for cid, desc, data in (
        ("9.9.1", "cut after 1 header byte", b"\x81"),
        ("9.9.2", "cut inside the mask key", b"\x81\x85ab"),
        ("9.9.3", "cut inside the payload (10 of 100 bytes)", frame(TEXT, b"x" * 100)[:16]),
        ("9.9.4", "cut inside a 64-bit length", b"\x81\xff\x00\x00\x00"),
        ("9.9.5", "cut in the middle of a fragmented message", frame(TEXT, R1[:5], fin=False)),
    ):
        ok, got = True, ""
        try:
            conn = Conn(url, token)
            conn.send(data)
            conn.sock.shutdown(socket.SHUT_RDWR)
            conn.close()
            nxt = Conn(url, token)
            try:
                nxt.probe()
            finally:
                nxt.close()
            got = "next connection works"
        except (Failed, OSError, EOFError) as e:
            ok, got = False, str(e)
        rows.append((cid, "truncated", desc, "server survives", ok, got))
    return rows


def slowloris(url, http_timeout):
    """HTTP headers one byte every 200 ms: the server must end the
    connection within its HTTP-phase timeout (plus a margin)."""
    u = urllib.parse.urlparse(url)
    req = ("GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "X-Slow: %s\r\n" % (u.hostname, u.port, "a" * 4000)).encode()
    limit = http_timeout + 3
    sock = socket.create_connection((u.hostname, u.port), timeout=5)
    start = time.monotonic()
    sent = 0
    how = None
    try:
        for b in req:
            if time.monotonic() - start > limit:
                break
            try:
                sock.send(bytes([b]))
                sent += 1
            except OSError:
                how = "send failed"
                break
            # Did the server hang up (or answer)?
            sock.settimeout(0.2)
            try:
                data = sock.recv(4096)
                how = "closed" if not data else "answered: %r" % data.split(b"\r\n")[0]
                break
            except socket.timeout:
                pass
            except OSError:
                how = "reset"
                break
    finally:
        sock.close()
    took = time.monotonic() - start
    ok = how is not None and took <= limit
    got = "%s after %.1f s (%d bytes sent)" % (how or "still open", took, sent)
    return ("9.10", "slowloris", "HTTP headers one byte per 200 ms",
            "ended within %d s" % limit, ok, got)


def churn(url, token, secs):
    """Upgrades from 4 threads, closing each at once, for secs seconds."""
    import threading
    end = time.monotonic() + secs
    count = [0]
    lock = threading.Lock()

    def worker():
        while time.monotonic() < end:
            try:
                c = Conn(url, token)
                c.close()
                with lock:
                    count[0] += 1
            except (Failed, OSError, EOFError, IndexError):
                time.sleep(0.005)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count[0]


def main(argv):
    args = {"only": None, "pid": None, "json": False, "slow": "yes", "http_timeout": 10}
    pos = []
    it = iter(argv)
    for a in it:
        if a == "--only":
            args["only"] = next(it)
        elif a == "--pid":
            args["pid"] = int(next(it))
        elif a == "--json":
            args["json"] = True
        elif a == "--no-slowloris":
            args["slow"] = "no"
        elif a == "--slowloris-only":
            args["slow"] = "only"
        elif a == "--churn":
            args["churn"] = float(next(it))
        elif a == "--http-timeout":
            args["http_timeout"] = int(next(it))
        elif a in ("-h", "--help"):
            sys.stdout.write(__doc__)
            return 0
        else:
            pos.append(a)
    if len(pos) != 2:
        sys.stderr.write("usage: conformance.py URL TOKEN [options]\n")
        return 2
    url, token = pos
    if args.get("churn"):
        print(churn(url, token, args["churn"]), flush=True)
        return 0
    rows = []
    if args["slow"] != "only":
        for c in CASES:
            if args["only"] and args["only"] not in c[0] + " " + c[2]:
                continue
            ok, got = run_case(url, token, c, args["pid"])
            rows.append((c[0], c[1], c[2], expect_text(*c[4]), ok, got))
        if not args["only"] or "truncated" in args["only"] or "9.9" in args["only"]:
            rows += truncated_cases(url, token)
    if args["slow"] != "no":
        rows.append(slowloris(url, args["http_timeout"]))
    failed = 0
    if args["json"]:
        for r in rows:
            print(json.dumps(dict(zip(("case", "section", "what", "want", "pass", "got"), r))))
    else:
        print("%-8s %-10s %-58s %-22s %-4s %s" % ("case", "section", "what is sent", "expected", "", "got"))
    for r in rows:
        if not r[4]:
            failed += 1
        if not args["json"]:
            print("%-8s %-10s %-58s %-22s %-4s %s" % (r[0], r[1], r[2][:58], r[3][:22], "ok" if r[4] else "FAIL", r[5]))
    print("%d cases, %d passed, %d failed" % (len(rows), len(rows) - failed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
