#!/usr/bin/env bats
# Expiry (PROTOCOL.md 1.4 and 4 Connection recovery, /tmp/issue4-spec.md):
# a detached session is kept session_ttl seconds and then swept (recover:
# session_expired, connection:stats counts it); a held one never expires;
# sessions attached when the server stopped get a fresh TTL from the
# restart; a connection whose JWT expires is closed with 4001 and a fresh
# token recovers its session. No fixed sleeps: the sweep is waited for by a
# bounded poll of connection:stats.

load helpers

setup() {
    srv_init
    TA=$(token alice)
    TB=$(token bob)
    OUT=$BATS_TEST_TMPDIR
}

@test "--session-ttl 1: a dropped session is swept after the TTL, counted as expired, and its token gets session_expired" {
    start_server --session-ttl 1
    members r
    conn_open a1 "$TA"
    conn_ok a1 'join r'
    conn_ok a1 'raw connection:create-session {}' '.data.expires_in == 1'
    local t1
    t1=$(jq -r .data.session_token <<<"$CONN_ACK")
    wait_stats "$TB" '.active_sessions == 1 and .expired == 0' 5
    conn_kill a1
    wait_stats "$TB" '. == {"active_sessions":0,"recovered":0,"failed":0,"expired":1,"queued":0}' 10
    conn_open a2 "$TA"
    conn_err a2 "raw connection:recover $(recover_json "$t1")" session_expired
    conn_err a2 "raw connection:recover $(recover_json "$t1" r=0)" session_expired
    wait_stats "$TB" '. == {"active_sessions":0,"recovered":0,"failed":2,"expired":1,"queued":0}' 2
    # Nothing was resubscribed, no session attached.
    conn_err a2 'raw connection:session-info {}' not_found
    conn_ok a2 'raw room:subscription-status {"room":"r"}' '.data.subscribed == false'
}

@test "--session-ttl 1: a session held by an open connection does not expire; the holder's token still recovers after others expired" {
    start_server --session-ttl 1
    members r
    session_conn a1 "$TA" r
    local held=$SESSION
    # Another session, dropped: once it is swept, more than the TTL has
    # passed since a1's session was made.
    session_conn x1 "$TA" r
    conn_kill x1
    wait_stats "$TB" '.expired == 1 and .active_sessions == 1' 10
    conn_ok a1 'raw connection:session-info {}' '.data.state == "active" and .data.expires_at == null and .data.rooms == ["r"]'
    send_n "$TB" r m 1 1
    wait_seq a1 1
    recover_on a2 "$held"
    expect_recovered 0 '["r"]' "$held"
    send_n "$TB" r m 2 2
    wait_seq a2 2
    [ "$(new_seqs "$(conn_out a2)")" = "[2]" ] || fail "a2:" "$(cat "$(conn_out a2)")"
}

@test "sessions attached when the server stopped get a fresh TTL from the restart" {
    start_server --session-ttl 2
    members r
    session_conn a1 "$TA" r
    local held=$SESSION
    session_conn x1 "$TA" r
    conn_kill x1
    # x1's session swept: a1's is older than the TTL.
    wait_stats "$TB" '.expired == 1 and .active_sessions == 1' 10
    stop_server
    start_server --session-ttl 2
    send_n "$TB" r m 1 2
    recover_on a2 "$held"
    expect_recovered 2 '["r"]' "$held"
    wait_seq a2 2
    [ "$(new_seqs "$(conn_out a2)")" = "[1,2]" ] || fail "a2:" "$(cat "$(conn_out a2)")"
}

@test "a JWT expiring mid-connection gets close 4001 'token expired'; a fresh token recovers the session and what was missed" {
    start_server
    members r
    local short
    short=$(token alice --ttl 2)
    bg_pcli "$OUT/a1" --token "$short" -c 'join r' -c 'raw connection:create-session {}' -c 'wait close 5000'
    local a1=$BG_PID
    wait_for_json "$OUT/a1" '.ok == true and (.data.session_token | type == "string")' 5 "$a1"
    local t1
    t1=$(jfirst '.ok == true and .data.session_token != null' "$(cat "$OUT/a1")" | jq -r .data.session_token)
    send_n "$TB" r m 1 1
    wait_for_json "$OUT/a1" '.event == "message:new" and .data.message.seq == 1' 5 "$a1"
    # wait close returns when the server closes (within 5 s), exit 0.
    bg_ok "$a1" "$OUT/a1" 10
    expect_json '.event == "close" and .data == {"code":4001,"reason":"token expired"}' "$(cat "$OUT/a1")"
    send_n "$TB" r m 2 3
    recover_on a2 "$t1"
    expect_recovered 2 '["r"]' "$t1"
    wait_seq a2 3
    send_n "$TB" r live 4 4
    wait_seq a2 4
    [ "$(new_seqs "$(conn_out a2)")" = "[2,3,4]" ] || fail "a2:" "$(cat "$(conn_out a2)")"
    replay_first "$(conn_out a2)"
}
