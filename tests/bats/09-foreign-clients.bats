#!/usr/bin/env bats
# The protocol spoken by clients nobody here wrote: Python `websockets`
# (Debian python3-websockets) through tests/clients/protocol_client.py, and
# the raw-frame client for the handshake details.

load helpers

setup() {
    start_server
}

@test "Python websockets: join, send, message:new on other connections, history, retry, errors" {
    run --separate-stderr "$PY" "$CLIENTS/protocol_client.py" "$PARLEY_URL" "$(token alice --name Alice)" "$(token bob)"
    if [ "$status" -ne 0 ] || grep -q '^not ok' <<<"$output"; then
        fail "protocol_client.py failed (status $status):" "$output" "--- stderr:" "$stderr"
    fi
    grep -qE '^1\.\.[0-9]+$' <<<"$output" || fail "no TAP plan: $output"
    [ "$(grep -c '^ok ' <<<"$output")" -eq 22 ] || fail "want 22 passing checks: $output"
}

@test "what the Python client stored is what the CLI reads" {
    run "$PY" "$CLIENTS/protocol_client.py" "$PARLEY_URL" "$(token alice)" "$(token bob)" shared-room
    run pcli --token "$(token bob)" -c 'history shared-room'
    assert_status 0
    expect_json '.ok == true and (.data.messages | map([.seq, .user, .text]) == [[1,"alice","hello from python ✓"],[2,"bob","a reply"]])'
}

@test "the handshake answers 101 with a correct Sec-WebSocket-Accept and one Connection header" {
    run rawws "$PARLEY_URL" --token "$(token alice)" close:1000
    assert_status 0
    expect_json '.status == 101 and .accept_ok == true and (.connection | map(ascii_downcase)) == ["upgrade"]'
}

@test "a request that is not a WebSocket upgrade on /ws is refused" {
    run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(token alice)" "$PARLEY_URL/ws"
    [ "$output" -ge 400 ] && [ "$output" -lt 500 ] || fail "plain GET /ws answered $output"
}

@test "Node's built-in WebSocket (token in the query string, as a browser sends it)" {
    command -v node >/dev/null || skip "node is not installed"
    run --separate-stderr node --no-warnings --experimental-websocket "$CLIENTS/node_client.mjs" \
        "$PARLEY_URL" "$(token alice --name Alice)" "$(token bob)"
    if [ "$status" -ne 0 ] || grep -q '^not ok' <<<"$output"; then
        fail "node_client.mjs failed (status $status):" "$output" "--- stderr:" "$stderr"
    fi
    [ "$(grep -c '^ok ' <<<"$output")" -eq 13 ] || fail "want 13 passing checks: $output"
    ! grep -q "token=" "$SRV_ERR" "$SRV_OUT" || fail "a query-string token reached the log"
}
