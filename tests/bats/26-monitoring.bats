#!/usr/bin/env bats
# PROTOCOL.md section 6 and GET /metrics, /healthz: monitoring:metrics,
# monitoring:events, monitoring:stats and monitoring:health for admins only;
# figures that follow a scripted scenario; the events of every type the
# server can be made to produce here; health checks that turn warn and fail
# when their threshold is crossed; the Prometheus text and /healthz.

load helpers

# mon EVENT [DATA]: asks monitoring:EVENT as an admin (a new connection of
# "boss"); MON is the ack's data. Fails on anything but an ok ack.
mon() {
    local out
    out=$(pcli --token "$(token boss --role admin)" -c "raw monitoring:$1 ${2:-"{}"}") ||
        { fail "monitoring:$1 failed: $out"; return 1; }
    MON=$(jq -cR 'fromjson? | objects | select(.ok == true) | .data' <<<"$out")
    [ -n "$MON" ] || fail "monitoring:$1 $2: no ok ack: $out"
}

# mon_ok JQ_FILTER: MON satisfies the filter.
mon_ok() {
    jq -e "$1" <<<"$MON" >/dev/null || fail "want $1: $MON"
}

# _mon_has EVENT DATA FILTER: one try of wait_mon.
_mon_has() {
    mon "$1" "$2" 2>/dev/null || { echo "no answer"; return 1; }
    jq -e "$3" <<<"$MON" >/dev/null || { echo "$MON"; return 1; }
}

# wait_mon EVENT DATA FILTER [TIMEOUT_S]: until monitoring:EVENT (DATA)
# satisfies the filter (bounded); for what the server records after an
# event it does not acknowledge (a socket closing). MON is the last answer.
wait_mon() {
    eventually "${4:-10}" _mon_has "$1" "$2" "$3"
    mon "$1" "$2"
}

# events_of TYPE: the events of TYPE, newest first, in MON.
events_of() {
    mon events "{\"type\":\"$1\",\"limit\":1000}"
}

# _healthz_is STATUS CODE: one try of wait_healthz.
_healthz_is() {
    http GET /healthz || return 1
    [ "$HTTP_STATUS" = "$2" ] && jq -e ".status == \"$1\"" <<<"$HTTP_BODY" >/dev/null ||
        { echo "$HTTP_STATUS $HTTP_BODY"; return 1; }
}

# wait_healthz STATUS HTTP_CODE: until /healthz (published once a second)
# answers it.
wait_healthz() {
    eventually 10 _healthz_is "$1" "$2"
}

# upgrade_bad_token [N]: N (default 1) upgrades with an invalid token.
upgrade_bad_token() {
    local i
    for ((i = 0; i < ${1:-1}; i++)); do
        curl -s -o /dev/null --max-time 5 -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
            -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
            -H 'Authorization: Bearer not.a.jwt' -H 'User-Agent: bad-client/1' "$PARLEY_URL/ws"
    done
}

@test "every monitoring event is forbidden to a user without the admin role" {
    start_server
    run pcli --token "$(token joe)" -c 'raw monitoring:metrics {}' -c 'raw monitoring:events {}' \
        -c 'raw monitoring:stats {}' -c 'raw monitoring:health {}' -c 'raw monitoring:events {"limit":5000}'
    expect_codes forbidden 5
    expect_json '.error.message | test("admin")'
    # A role other than admin is no better.
    run pcli --token "$(token joe --role moderator)" -c 'raw monitoring:health {}'
    expect_codes forbidden 1
}

@test "an admin gets the four answers with exactly the documented members" {
    start_server
    mon metrics
    mon_ok 'keys == (["bytes_in","bytes_out","connections","connections_total","messages_in","messages_out","rates","rooms","uptime_s","users_online"] | sort)
        and (.rates | keys) == ["connections_per_s","messages_in_per_s"]
        and ([.[] | numbers] | all(. >= 0)) and .connections == 1 and .users_online == 1'
    mon events
    mon_ok '(keys == ["events"]) and (.events | length >= 1)
        and (.events | all(keys == (["detail","ip","ts","type","user","user_agent"] | sort)))'
    mon stats
    mon_ok 'keys == (["auth_failures","avg_connection_s","by_ip","by_user_agent","rate_limited"] | sort)'
    mon health
    mon_ok 'keys == ["checks","recommendations","status"]'
}

@test "metrics follow a scripted scenario: 3 connections of 5 messages each, then the admin's" {
    start_server
    local i
    for i in 1 2 3; do
        { echo 'join r'; for m in 1 2 3 4 5; do echo "send r hello $i.$m"; done; } | pcli --token "$(token "u$i")" >/dev/null ||
            fail "client $i failed"
    done
    mon metrics
    # Exactly the 3 clients and this admin connection were accepted.
    mon_ok '.connections_total == 4'
    # Each client sent join + 5 sends (and maybe more of its own): 18 at least, plus this request.
    mon_ok '.messages_in >= 19 and .messages_out >= 18 and .bytes_in > 18 * 30 and .bytes_out > .bytes_in'
    mon_ok '.rooms == 1 and .users_online >= 1 and .connections >= 1 and .uptime_s >= 0'
    mon_ok '.rates.messages_in_per_s > 0 and .rates.connections_per_s > 0'
    # messages_out counts every recipient: a send to a room of two
    # subscribed connections is one ack plus one push.
    local before
    before=$(jq .messages_out <<<"$MON")
    conn_open listener "$(token u1)"
    conn_ok listener 'join r'
    run pcli --token "$(token u2)" -c 'join r' -c 'send r one more'
    assert_status 0
    wait_for_grep "$(conn_out listener)" '"text":"one more"'
    mon metrics
    jq -e --argjson b "$before" '.messages_out >= $b + 1 + 2 + 1 + 1' <<<"$MON" >/dev/null ||
        fail "messages_out did not count the join acks, the send ack and the push: before $before, now $MON"
    # /metrics shows the same counts once the next snapshot is out.
    _prom_total() {
        http GET /metrics || return 1
        grep -qx 'parley_connections_total 7' <<<"$HTTP_BODY" || { grep connections_total <<<"$HTTP_BODY"; return 1; }
    }
    eventually 5 _prom_total
}

@test "events: connect, disconnect, auth_failed, origin_rejected and protocol_error, newest first, filtered by type" {
    start_server
    run rawws "$PARLEY_URL" --token "$(token alice)" --header 'User-Agent: mon-test/1.0' 'text:{"id":1,"event":"room:list"}' recv close:1000 until-close
    assert_status 0
    wait_mon events '{"type":"disconnect"}' '.events | any(.user == "alice" and .user_agent == "mon-test/1.0")'
    mon_ok '.events | all(.type == "disconnect")'
    mon_ok '.events[] | select(.user == "alice") | .ip == "127.0.0.1" and (.detail | test("closed")) and (.ts | type == "number")'
    events_of connect
    mon_ok '.events | any(.user == "alice" and .user_agent == "mon-test/1.0" and .ip == "127.0.0.1")'

    # A bad token at the upgrade: auth_failed, no user, its User-Agent.
    upgrade_bad_token
    events_of auth_failed
    mon_ok '(.events | length) == 1 and .events[0].user == null and .events[0].ip == "127.0.0.1"
        and .events[0].user_agent == "bad-client/1" and (.events[0].detail | test("invalid token"))'
    # No token at all is an auth failure too; rawws sends no User-Agent.
    run rawws "$PARLEY_URL"
    [ "$status" -eq 3 ] || fail "want a refused upgrade: $output"
    events_of auth_failed
    mon_ok '(.events | length) == 2 and .events[0].user_agent == null and (.events[0].detail | test("token"))'

    # A foreign Origin: origin_rejected.
    run rawws "$PARLEY_URL" --token "$(token alice)" --origin http://evil.example
    [ "$status" -eq 3 ] || fail "want a refused upgrade: $output"
    events_of origin_rejected
    mon_ok '(.events | length) == 1 and (.events[0].detail | test("evil.example"))'

    # Protocol errors: a binary frame (1003), invalid UTF-8 (1007, closed by
    # the frame parser) and an envelope that is not JSON (bad_request, open).
    run rawws "$PARLEY_URL" --token "$(token bob)" binary:7b7d until-close
    expect_json '.type == "close" and .code == 1003'
    run rawws "$PARLEY_URL" --token "$(token bob)" texthex:c328 until-close
    expect_json '.type == "close" and .code == 1007'
    run rawws "$PARLEY_URL" --token "$(token bob)" 'text:not json' recv close:1000 until-close
    expect_json '.json.data.code == "bad_request"'
    wait_mon events '{"type":"protocol_error"}' '(.events | length) == 3'
    mon_ok '.events | all(.user == "bob")'
    mon_ok '[.events[].detail] | (any(test("1003")) and any(test("1007")) and any(test("malformed JSON")))'

    # Newest first, every type, limit honoured.
    mon events '{"limit":1000}'
    mon_ok '[.events[].ts] as $t | $t == ($t | sort | reverse)'
    mon_ok '[.events[].type] | unique | (. - ["connect","disconnect","auth_failed","origin_rejected","protocol_error"]) == []'
    mon events '{"limit":2}'
    mon_ok '(.events | length) == 2'
    mon events
    mon_ok '(.events | length) <= 100'
}

@test "monitoring:events refuses a limit of 0 or 1001 and an unknown type with bad_request" {
    start_server
    run pcli --token "$(token boss --role admin)" -c 'raw monitoring:events {"limit":0}' \
        -c 'raw monitoring:events {"limit":1001}' -c 'raw monitoring:events {"limit":"ten"}' \
        -c 'raw monitoring:events {"type":"nope"}' -c 'raw monitoring:events {"type":7}'
    expect_codes bad_request 5
    run pcli --token "$(token boss --role admin)" -c 'raw monitoring:events {"limit":1}' \
        -c 'raw monitoring:events {"limit":1000,"type":"connect"}'
    expect_codes bad_request 0
    expect_json '.ok == true and (.data.events | length) == 1'
}

@test "a recovery and a refused one are recorded as recovered and recover_failed" {
    start_server
    TA=$(token alice)
    session_conn a "$TA" r
    conn_kill a
    recover_on b "$SESSION"
    expect_recovered 0 '["r"]' "$SESSION"
    conn_err b "raw connection:recover $(recover_json nonsense-token)" session_expired
    events_of recovered
    mon_ok '(.events | length) == 1 and .events[0].user == "alice" and (.events[0].detail | test("replayed"))'
    events_of recover_failed
    mon_ok '(.events | length) == 1 and .events[0].user == "alice"'
}

@test "stats: connections by IP and by User-Agent, average duration, auth failures" {
    start_server
    bg_start "$BATS_TEST_TMPDIR/held" "$PY" "$CLIENTS/rawws.py" "$PARLEY_URL" --token "$(token carol)" \
        --header 'User-Agent: held-agent/2.0' 'text:{"id":1,"event":"room:list"}' recv hold:30000
    wait_for_grep "$BATS_TEST_TMPDIR/held" '"ok": true' 10 "$BG_PID"
    upgrade_bad_token 3
    mon stats
    mon_ok '.by_user_agent | any(.user_agent == "held-agent/2.0" and .connections == 1)'
    mon_ok '.by_user_agent | any(.user_agent | tostring | startswith("libparley"))'
    mon_ok '.by_ip == [{"ip":"127.0.0.1","connections":2}]' # carol's and this one
    mon_ok '.auth_failures == 3 and .rate_limited == 0'
    mon_ok '[.by_user_agent[].connections] as $c | $c == ($c | sort | reverse)'
    # Closed connections make the average: at least the admin's earlier one.
    mon stats
    mon_ok '.avg_connection_s >= 0 and (.avg_connection_s | type == "number")'
    kill "$BG_PID"
    # Only the asking connection is left (earlier ones may still be closing).
    wait_mon stats '' '(.by_user_agent | all(.user_agent != "held-agent/2.0")) and .by_ip == [{"ip":"127.0.0.1","connections":1}]'
}

@test "rate_limited upgrades are counted and recorded" {
    PARLEYD_RATE_CONNECTIONS=2/60 start_server
    local admin
    admin=$(token boss --role admin)
    conn_open adm "$admin" # the first of the two allowed upgrades
    conn_ok adm 'raw monitoring:stats {}' '.data.rate_limited == 0'
    run pcli --token "$(token x)" -c 'raw room:list {}' # the second
    assert_status 0
    run rawws "$PARLEY_URL" --token "$(token x)" # over
    [ "$status" -eq 3 ] && expect_json '.status == 429' || fail "want 429: $output"
    conn_ok adm 'raw monitoring:stats {}' '.data.rate_limited >= 1'
    conn_ok adm 'raw monitoring:events {"type":"rate_limited"}' '.data.events | length >= 1 and (.[0].ip == "127.0.0.1")'
}

@test "health is healthy with its seven checks on a quiet server, and /healthz answers 200 with them" {
    start_server
    mon health
    # On a machine busy with other work the two timing checks can warn on
    # their own (a descheduled loop, a slow fsync): then say so, not fail.
    if jq -e '.status != "healthy" and ([.checks | to_entries[] | select(.value.status != "ok") | .key] - ["loop_lag","store_latency"]) == []' <<<"$MON" >/dev/null; then
        skip "the machine is too busy for a quiet server: $MON"
    fi
    mon_ok '.status == "healthy" and .recommendations == []
        and (.checks | keys) == (["auth_failure_rate","connections","loop_lag","memory","slow_consumers","store_errors","store_latency"] | sort)
        and (.checks | to_entries | all(.value.status == "ok" and (.value.value | type == "number") and (.value.threshold | type == "number")
             and (.value | keys) == ["status","threshold","value"]))'
    mon_ok '.checks.store_latency.threshold == 500 and .checks.loop_lag.threshold == 500
        and .checks.auth_failure_rate.threshold == 30 and .checks.connections.value == 1'
    http GET /healthz
    expect_http 200 '.status == "healthy" and (.checks | length) == 7 and .recommendations == []'
    [[ "$HTTP_CTYPE" == application/json* ]] || fail "content type '$HTTP_CTYPE'"
}

@test "more than 30 auth failures in a minute degrade health, with a recommendation; /healthz answers 503" {
    start_server
    upgrade_bad_token 31
    mon health
    mon_ok '.status == "degraded" and .checks.auth_failure_rate == {"status":"warn","value":31,"threshold":30}'
    mon_ok '.recommendations | length >= 1 and any(test("31 authentication failures"))'
    wait_healthz degraded 503
    jq -e '.checks.auth_failure_rate.status == "warn" and (.recommendations | length >= 1)' <<<"$HTTP_BODY" >/dev/null ||
        fail "/healthz: $HTTP_BODY"
}

@test "a slow consumer closed with 1008 is a slow_consumer event and degrades health" {
    start_server --outbound-limit 65536
    bg_start "$BATS_TEST_TMPDIR/slow" "$PY" "$CLIENTS/slow_consumer.py" "$PARLEY_URL" "$(token slow)" r "$BATS_TEST_TMPDIR/go"
    local slow=$BG_PID
    wait_for_grep "$BATS_TEST_TMPDIR/slow" '"joined": true' 10 "$slow"
    run "$PY" "$CLIENTS/flood.py" "$PARLEY_URL" "$(token fast)" r 2000 4000
    assert_status 0
    touch "$BATS_TEST_TMPDIR/go"
    bg_wait "$slow" 30
    # 1008, or 1006 when the close grace ran out before it read again
    # (11-backpressure checks the code): here the server's record matters.
    run jq -r .close "$BATS_TEST_TMPDIR/slow"
    [[ "$(tail -n 1 <<<"$output")" =~ ^100[68]$ ]] || fail "want close 1008:" "$(cat "$BATS_TEST_TMPDIR/slow")"
    events_of slow_consumer
    mon_ok '(.events | length) == 1 and .events[0].user == "slow" and (.events[0].detail | test("outbound queue"))'
    mon health
    mon_ok '.status != "healthy" and .checks.slow_consumers.status == "warn" and .checks.slow_consumers.value == 1'
    mon_ok '.recommendations | any(test("slow consumer"))'
    _healthz_slow() {
        http GET /healthz || return 1
        [ "$HTTP_STATUS" = 503 ] && jq -e '.checks.slow_consumers.status == "warn" and .status != "healthy"' <<<"$HTTP_BODY" >/dev/null ||
            { echo "$HTTP_STATUS $HTTP_BODY"; return 1; }
    }
    eventually 10 _healthz_slow
    http GET /metrics
    grep -qx 'parley_slow_consumer_closes_total 1' <<<"$HTTP_BODY" || fail "/metrics: $(grep slow <<<"$HTTP_BODY")"
}

@test "connections at 95 % of the limit make health unhealthy" {
    # 300 descriptors: the server's connection limit is then 64, and 61
    # connections are 95 % of it: 62 held here (/healthz is judged without
    # the admin's connection), 63 with it.
    local wrap=$BATS_TEST_TMPDIR/parleyd-300
    printf '#!/bin/sh\nulimit -n 300 || exit 1\nexec %s "$@"\n' "$PARLEYD" >"$wrap"
    chmod +x "$wrap"
    PARLEYD=$wrap start_server
    cat >"$BATS_TEST_TMPDIR/many.py" <<'EOF'
import base64, os, socket, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
socks = []
for i in range(int(sys.argv[3])):
    s = socket.create_connection((u.hostname, u.port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n"
               % (u.hostname, u.port, key, sys.argv[2])).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            sys.exit("closed during the handshake")
        buf += d
    if not buf.startswith(b"HTTP/1.1 101"):
        sys.exit("refused: " + buf.decode(errors="replace"))
    socks.append(s)
print("open", len(socks), flush=True)
time.sleep(60)
EOF
    bg_start "$BATS_TEST_TMPDIR/many" "$PY" "$BATS_TEST_TMPDIR/many.py" "$PARLEY_URL" "$(token many)" 62
    wait_for_grep "$BATS_TEST_TMPDIR/many" '^open 62$' 20 "$BG_PID"
    mon health
    mon_ok '.status == "unhealthy" and .checks.connections.status == "fail" and .checks.connections.value == 63'
    mon_ok '.recommendations | any(test("connections at 9[0-9] % of the limit"))'
    wait_healthz unhealthy 503
    http GET /metrics
    grep -qx 'parley_connection_limit 64' <<<"$HTTP_BODY" || fail "/metrics: $(grep limit <<<"$HTTP_BODY")"
}

@test "GET /metrics is Prometheus text: HELP and TYPE for every family, parley_ names, counters in _total" {
    start_server
    run pcli --token "$(token alice)" -c 'join r' -c 'send r hello'
    assert_status 0
    upgrade_bad_token
    http GET /metrics
    [ "$HTTP_STATUS" = 200 ] || fail "status $HTTP_STATUS"
    [ "$HTTP_CTYPE" = 'text/plain; version=0.0.4' ] || fail "content type '$HTTP_CTYPE'"
    printf '%s\n' "$HTTP_BODY" >"$BATS_TEST_TMPDIR/metrics"
    run "$PY" - "$BATS_TEST_TMPDIR/metrics" <<'EOF'
import re, sys
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*\})? (-?[0-9.]+(e[-+]?[0-9]+)?|NaN|\+Inf|-Inf)$')
types, helps, errors, names = {}, set(), [], []
for line in open(sys.argv[1]).read().splitlines():
    if not line:
        continue
    if line.startswith("# HELP "):
        helps.add(line.split()[2])
    elif line.startswith("# TYPE "):
        _, _, name, t = line.split()
        if name in types:
            errors.append("TYPE twice: " + name)
        types[name] = t
    elif line.startswith("#"):
        errors.append("stray comment: " + line)
    else:
        m = sample.match(line)
        if not m:
            errors.append("not a sample: " + line)
            continue
        name = m.group(1)
        names.append(name)
        family = name
        if family not in types:
            family = re.sub(r'_(sum|count)$', '', name)
        if family not in types:
            errors.append("sample before its TYPE: " + line)
        elif family not in helps:
            errors.append("no HELP: " + family)
        if not name.startswith("parley_"):
            errors.append("not parley_: " + name)
for name, t in types.items():
    if t == "counter" and not name.endswith("_total"):
        errors.append("counter without _total: " + name)
    if t not in ("counter", "gauge", "summary", "histogram", "untyped"):
        errors.append("bad type: " + name)
for want in ("parley_connections", "parley_connections_total", "parley_messages_in_total",
             "parley_messages_out_total", "parley_bytes_in_total", "parley_bytes_out_total",
             "parley_rooms", "parley_users_online", "parley_uptime_seconds", "parley_sessions",
             "parley_store_commits_total", "parley_store_errors_total", "parley_auth_failures_total",
             "parley_rate_limited_total", "parley_slow_consumer_closes_total",
             "parley_messages_in_per_second", "parley_connections_per_second"):
    if want not in names:
        errors.append("missing: " + want)
print("\n".join(errors) if errors else "ok %d samples" % len(names))
sys.exit(1 if errors else 0)
EOF
    assert_status 0
    grep -qx 'parley_auth_failures_total 1' "$BATS_TEST_TMPDIR/metrics" || fail "auth failures: $(grep auth "$BATS_TEST_TMPDIR/metrics")"
    # The loop's figures appear with the next snapshot (once a second).
    _prom_msgs() {
        http GET /metrics || return 1
        grep -qE '^parley_messages_in_total [1-9]' <<<"$HTTP_BODY" && grep -qx 'parley_rooms 1' <<<"$HTTP_BODY" ||
            { grep -E 'messages_in_total|rooms' <<<"$HTTP_BODY"; return 1; }
    }
    eventually 5 _prom_msgs
    http GET /healthz
    expect_http 200 '.status == "healthy"'
}
