#!/usr/bin/env bats
# The connection limit (issue 6): parleyd holds at most max_connections
# WebSockets (by default what its open file limit allows, at most 19000),
# and refuses one more cleanly: HTTP 503 with Retry-After, Connection:
# close and the JSON error of PROTOCOL.md 7, at once and before any auth
# work, rather than leaving it unanswered in the kernel's accept queue.
# Also the size of the request headers an upgrade may carry (MHD's
# per-connection memory), pinned at both ends.
#
# Every wait is for something the server shows (/metrics, /healthz, a log
# line, a client's output), bounded; nothing sleeps and hopes.

load helpers

setup() {
    OUT=$BATS_TEST_TMPDIR
}

join_step() {
    printf 'text:{"id":%s,"event":"join:chat","data":{"room":"%s"}}' "$1" "$2"
}

# metric NAME: the value of the /metrics line "NAME VALUE".
metric() {
    http GET /metrics || return 1
    awk -v n="$1" '$1 == n { print $2 }' <<<"$HTTP_BODY"
}

# _metric_is NAME VALUE: one try of wait_metric.
_metric_is() {
    local v
    v=$(metric "$1") || return 1
    [ "$v" = "$2" ] || { echo "$1 is '$v', want $2"; return 1; }
}

# wait_metric NAME VALUE: until /metrics says so (bounded): for what the
# server counts after an event it does not acknowledge (a socket closing).
wait_metric() {
    eventually 10 _metric_is "$1" "$2"
}

# _healthz_ok JQ_FILTER: one try of wait_healthz: /healthz answers 503
# with a body satisfying the filter.
_healthz_ok() {
    http GET /healthz || return 1
    [ "$HTTP_STATUS" = 503 ] && jq -e "$1" <<<"$HTTP_BODY" >/dev/null ||
        { echo "$HTTP_STATUS $HTTP_BODY"; return 1; }
}

# wait_healthz JQ_FILTER: /healthz is published once a second.
wait_healthz() {
    eventually 10 _healthz_ok "$1"
}

# expect_full N: the last `run rawws` was refused at a limit of N
# WebSockets: 503, Retry-After 10, Connection: close, the JSON error.
expect_full() {
    assert_status 3 || return 1
    expect_json ".status == 503 and .headers[\"retry-after\"] == \"10\"
        and .headers.connection == \"close\" and .headers[\"content-type\"] == \"application/json\"
        and .json.error.code == \"internal\" and (.json.error | keys) == [\"code\", \"message\"]
        and .json.error.message == \"the server is at its limit of $1 WebSocket connections: try again in 10 s\""
}

# bare_upgrade: one upgrade with curl, no token; prints the HTTP status.
bare_upgrade() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Connection: Upgrade' \
        -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
        -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$PARLEY_URL/ws"
}

@test "max_connections 5: the 6th upgrade is 503 with Retry-After and the JSON error before any auth work; the 5 keep working; a closed one frees its place" {
    # rate_connections 8/300: the eight upgrades that succeed use the
    # eight; the 23 refusals at the cap must not spend any (they come first).
    start_server --max-connections 5 --rate-connections 8/300
    grep -qE ' info +connection limit: 5 WebSockets \(max_connections\)' "$SRV_ERR" ||
        fail "no start-up line for the cap:" "$(cat "$SRV_ERR")"
    local i
    for i in 1 2 3 4 5; do
        conn_open "c$i" "$(token "u$i")"
        conn_ok "c$i" "join r"
    done
    wait_metric parley_connections 5

    # The 6th, with a valid token; then without one and from a foreign
    # origin: still 503, not 401 or 403 (the cap comes first).
    run rawws "$PARLEY_URL" --token "$(token alice)"
    expect_full 5
    run rawws "$PARLEY_URL"
    expect_full 5
    run rawws "$PARLEY_URL" --origin http://evil.example --token "$(token alice)"
    expect_full 5
    # A flood of refusals is counted, and logged once (at most once per 10 s).
    local codes
    codes=$(for i in $(seq 20); do bare_upgrade; echo; done | sort | uniq -c | awk '{ print $2 "x" $1 }')
    [ "$codes" = 503x20 ] || fail "20 upgrades at the cap answered: $codes"
    wait_metric parley_connections_refused_total 23
    [ "$(metric parley_auth_failures_total)" = 0 ] || fail "a refusal at the cap did auth work"
    [ "$(metric parley_origin_rejected_total)" = 0 ] || fail "a refusal at the cap checked the origin"
    [ "$(metric parley_rate_limited_total)" = 0 ] || fail "a refusal at the cap was rate limited"
    local lines
    lines=$(grep -cE ' warn +connection limit reached: 5 of 5 WebSockets open' "$SRV_ERR" || true)
    [ "$lines" -ge 1 ] && [ "$lines" -le 2 ] ||
        fail "want the refusals logged once (twice if 10 s passed), got $lines lines:" "$(cat "$SRV_ERR")"
    grep -qE ' warn +connection limit reached: .*from 127\.0\.0\.1 refused with 503 \(1 refused since the last such line' "$SRV_ERR" ||
        fail "the first refusal's line:" "$(grep 'limit reached' "$SRV_ERR")"
    [ "$(metric parley_connection_limit)" = 5 ] || fail "parley_connection_limit is not 5"
    wait_healthz '.status == "unhealthy" and .checks.connections.status == "fail" and .checks.connections.value == 5
        and (.recommendations | any(test("connections at 100 % of the limit \\(5 of 5\\), [0-9]+ upgrades refused with 503 in the last minute: raise max_connections")))'

    # The five still work: a message from c1 reaches c5.
    conn_ok c1 "send r hello-at-the-cap"
    wait_for_grep "$(conn_out c5)" '"text":"hello-at-the-cap"'

    # Two close; once the server has seen it, the refusals of the last
    # minute still make the check warn (3 of 5 is under 80 %) ...
    conn_quit c5
    conn_quit c4
    wait_metric parley_connections 3
    wait_healthz '.status == "degraded" and .checks.connections.status == "warn"
        and (.recommendations | any(test("connections at 60 % of the limit \\(3 of 5\\), 23 upgrades refused with 503")))'
    # ... and new connections are accepted again, up to the cap.
    run rawws "$PARLEY_URL" --token "$(token alice)" "$(join_step 1 r)" recv
    assert_status 0
    expect_json '.type == "text" and .json.id == 1 and .json.ok == true'
    wait_metric parley_connections 3
    conn_open c6 "$(token u6)"
    conn_ok c6 "join r"
    conn_open c7 "$(token u7)"
    conn_ok c7 "join r"
    wait_metric parley_connections 5
    run rawws "$PARLEY_URL" --token "$(token alice)"
    expect_full 5
}

@test "the open file limit sets the cap (ulimit -n 460: 76), logged at start; the 77th upgrade is answered 503 at once, not left hanging, and HTTP is still answered" {
    # 460 descriptors, less 256 kept back and 128 for HTTP: 76 WebSockets.
    # A larger max_connections is lowered to that, with a warning.
    local wrap=$BATS_TEST_TMPDIR/parleyd-460
    printf '#!/bin/sh\nulimit -n 460 || exit 1\nexec %s "$@"\n' "$PARLEYD" >"$wrap"
    chmod +x "$wrap"
    PARLEYD=$wrap start_server --max-connections 100000
    grep -qE ' info +connection limit: 76 WebSockets \(from the open file limit 460, less 256 kept back and 128 for HTTP\)' "$SRV_ERR" ||
        fail "no start-up line for the cap:" "$(cat "$SRV_ERR")"
    grep -qE ' warn +max_connections 100000 is more than this server can hold \(.*\): the cap is 76' "$SRV_ERR" ||
        fail "no warning for the lowered max_connections:" "$(cat "$SRV_ERR")"
    [ "$(metric parley_connection_limit)" = 76 ] || fail "parley_connection_limit: $(metric parley_connection_limit)"
    cat >"$BATS_TEST_TMPDIR/fill.py" <<'EOF'
# fill.py URL TOKEN N: N upgrades held open, then one more and a GET
# /healthz, each answered within 5 s or reported as a timeout; then holds
# the N until killed.
import base64, json, os, socket, sys, time, urllib.parse

u = urllib.parse.urlparse(sys.argv[1])
token, n = sys.argv[2], int(sys.argv[3])

def request(head, timeout=5):
    s = socket.create_connection((u.hostname, u.port), timeout=timeout)
    s.sendall(head.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    return s, buf

def upgrade():
    key = base64.b64encode(os.urandom(16)).decode()
    return request("GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n"
                   % (u.hostname, u.port, key, token))

def answer(what, f):
    t0 = time.monotonic()
    try:
        s, buf = f()
        try:
            while True:  # the rest, to the close (Connection: close)
                d = s.recv(4096)
                if not d:
                    break
                buf += d
        except socket.timeout:
            pass
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        out = {"what": what, "status": int(lines[0].split()[1]) if lines[0].startswith("HTTP/1.1 ") else 0,
               "headers": hdrs, "body": body.decode(errors="replace")}
    except socket.timeout:
        out = {"what": what, "status": "timeout"}
    out["ms"] = int((time.monotonic() - t0) * 1000)
    print(json.dumps(out), flush=True)

socks = []
for i in range(n):
    s, buf = upgrade()
    if not buf.startswith(b"HTTP/1.1 101"):
        print(json.dumps({"refused_at": i, "head": buf.decode(errors="replace")}), flush=True)
        sys.exit(1)
    socks.append(s)
print(json.dumps({"open": len(socks)}), flush=True)
answer("extra", upgrade)
answer("healthz", lambda: request("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
print(json.dumps({"done": True}), flush=True)
time.sleep(120)
EOF
    bg_start "$OUT/fill" "$PY" "$BATS_TEST_TMPDIR/fill.py" "$PARLEY_URL" "$(token filler)" 76
    local fill=$BG_PID
    wait_for_json "$OUT/fill" '.done == true' 30 "$fill"
    expect_json '.open == 76' "$(cat "$OUT/fill")"
    expect_json '.what == "extra" and .status == 503 and .headers["retry-after"] == "10"
        and .headers.connection == "close" and (.body | fromjson | .error.code == "internal"
        and (.error.message | test("limit of 76 WebSocket connections")))' "$(cat "$OUT/fill")"
    # Answered, not held until a timeout.
    expect_json '.what == "extra" and .ms < 4000' "$(cat "$OUT/fill")"
    expect_json '.what == "healthz" and (.status == 200 or .status == 503) and (.body | fromjson | .connections >= 0)' "$(cat "$OUT/fill")"
    wait_metric parley_connections 76
    [ "$(metric parley_connections_refused_total)" = 1 ] || fail "refusals: $(metric parley_connections_refused_total)"
    # The 76 gone, every place is free again (no reservation is kept).
    kill -9 "$fill"
    wait "$fill" 2>/dev/null || true
    wait_metric parley_connections 0
    run rawws "$PARLEY_URL" --token "$(token alice)" "$(join_step 1 r)" recv
    assert_status 0
    expect_json '.type == "text" and .json.id == 1 and .json.ok == true'
}

@test "max_connections: from the file, the environment and flags; a bad value stops the server with exit 2 naming it" {
    srv_init
    local v
    for v in abc -1 1000001 5k; do
        run timeout 10 "$PARLEYD" --listen 127.0.0.1:0 --db "$SRV_DIR/p.db" --jwt-secret "$SECRET" --max-connections "$v"
        assert_status 2
        [[ "$output" == *"--max-connections: bad value '$v'"* ]] || fail "--max-connections $v: $output"
    done
    run env PARLEYD_MAX_CONNECTIONS=x timeout 10 "$PARLEYD" --listen 127.0.0.1:0 --db "$SRV_DIR/p.db" --jwt-secret "$SECRET"
    assert_status 2
    [[ "$output" == *"PARLEYD_MAX_CONNECTIONS: bad value 'x'"* ]] || fail "env: $output"

    printf 'max_connections = 4\n' >"$BATS_TEST_TMPDIR/p.conf"
    start_server --config "$BATS_TEST_TMPDIR/p.conf"
    grep -qE 'connection limit: 4 WebSockets \(max_connections\)' "$SRV_ERR" || fail "file: $(cat "$SRV_ERR")"
    stop_server
    PARLEYD_MAX_CONNECTIONS=3 start_server --config "$BATS_TEST_TMPDIR/p.conf"
    grep -qE 'connection limit: 3 WebSockets \(max_connections\)' "$SRV_ERR" || fail "environment: $(cat "$SRV_ERR")"
    [ "$(metric parley_connection_limit)" = 3 ] || fail "parley_connection_limit: $(metric parley_connection_limit)"
    stop_server
    # 0, the default: from the open file limit.
    PARLEYD_MAX_CONNECTIONS=3 start_server --config "$BATS_TEST_TMPDIR/p.conf" --max-connections 0
    grep -qE 'connection limit: [0-9]+ WebSockets \((from the open file limit|the most parleyd holds)' "$SRV_ERR" ||
        fail "flag 0: $(cat "$SRV_ERR")"
}

@test "request headers: a 3 KB Cookie or 6 KB of other headers still upgrade with a token and work; 8 KB and 64 KB are 431 with Connection: close, not a reset or a hang" {
    start_server
    local t c
    t=$(token alice)
    c=$(head -c 3072 /dev/zero | tr '\0' c)
    run rawws "$PARLEY_URL" --token "$t" --header "Cookie: big=$c" "$(join_step 1 r)" recv
    assert_status 0
    expect_json '.status == 101'
    expect_json '.type == "text" and .json.id == 1 and .json.ok == true'
    # Browsers send a cookie as many short ones: 1 KB of them.
    c=$(for i in $(seq 30); do printf 'ck%02d=%s; ' "$i" "$(head -c 26 /dev/zero | tr '\0' v)"; done)
    run rawws "$PARLEY_URL" --query-token "$t" --header "Cookie: ${c%; }" "$(join_step 1 r)" recv
    assert_status 0
    expect_json '.type == "text" and .json.id == 1 and .json.ok == true'
    c=$(head -c 3000 /dev/zero | tr '\0' x)
    run rawws "$PARLEY_URL" --token "$t" --header "X-Pad-1: $c" --header "X-Pad-2: $c" "$(join_step 1 r)" recv
    assert_status 0
    expect_json '.type == "text" and .json.id == 1 and .json.ok == true'
    local n name
    for n in 8192 65536; do
        for name in X-Pad Cookie; do
            c=$(head -c "$n" /dev/zero | tr '\0' x)
            run rawws "$PARLEY_URL" --timeout 5 --token "$t" --header "$name: $c"
            assert_status 3
            expect_json '.status == 431 and .headers.connection == "close"' ||
                fail "$n bytes of $name"
        done
    done
    # The server is fine afterwards.
    run rawws "$PARLEY_URL" --token "$t" "$(join_step 1 r)" recv
    assert_status 0
    expect_json '.type == "text" and .json.id == 1 and .json.ok == true'
}
