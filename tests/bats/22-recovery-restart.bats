#!/usr/bin/env bats
# Recovery across a server restart on the same database (PROTOCOL.md 4
# Connection recovery, /tmp/issue4-spec.md): sessions are stored, so a
# token taken before `kill -TERM` or `kill -9` of parleyd recovers after it;
# sessions attached when the server went away get a fresh TTL. After SIGTERM
# the session's record is exact; after kill -9 the client sends last_seq and
# nothing is duplicated or lost. Tokens consumed before a restart stay
# consumed.

load helpers

setup() {
    srv_init
    TA=$(token alice)
    TB=$(token bob)
    OUT=$BATS_TEST_TMPDIR
}

@test "kill -TERM: a detached session survives the restart; without last_seq the replay is exactly what was missed before and after it" {
    start_server
    missed_replayed_after_restart
}

@test "kill -TERM while the session's connection is attached: it gets 1001, the session is kept with a fresh TTL and its record, and recovers exactly" {
    start_server
    members r
    session_conn a1 "$TA" r
    conn_ok a1 'send r mine 1'
    send_n "$TB" r m 2 3
    wait_seq a1 3
    stop_server
    wait_for_json "$(conn_out a1)" '.event == "close" and .data.code == 1001' 10
    start_server
    wait_stats "$TB" '.active_sessions == 1 and .queued == 0' 5
    send_n "$TB" r m 4 5
    wait_stats "$TB" '.active_sessions == 1 and .queued == 2' 5
    recover_on a2 "$SESSION"
    expect_recovered 2 '["r"]' "$SESSION"
    wait_seq a2 5
    send_n "$TB" r live 6 6
    wait_seq a2 6
    [ "$(new_seqs "$(conn_out a2)")" = "[4,5,6]" ] || fail "want 4..6:" "$(cat "$(conn_out a2)")"
    replay_first "$(conn_out a2)"
}

@test "kill -9 while the session's connection is attached: the session survives; with last_seq nothing is duplicated or lost" {
    start_server
    members r s
    session_conn a1 "$TA" r s
    send_n "$TB" r m 1 5
    send_n "$TB" s m 1 2
    wait_seq a1 5
    wait_seq a1 2 s
    kill9_server
    start_server
    send_n "$TB" r m 6 8
    recover_on a2 "$SESSION" r=5 s=2
    expect_recovered 3 '["r","s"]' "$SESSION"
    wait_seq a2 8
    send_n "$TB" r live 9 9
    send_n "$TB" s live 3 3
    wait_seq a2 9
    wait_seq a2 3 s
    [ "$(new_seqs "$(conn_out a2)" r)" = "[6,7,8,9]" ] || fail "r:" "$(cat "$(conn_out a2)")"
    [ "$(new_seqs "$(conn_out a2)" s)" = "[3]" ] || fail "s:" "$(cat "$(conn_out a2)")"
    replay_first "$(conn_out a2)"
}

@test "kill -9 with the session detached: messages from before and after the crash are replayed once, after the client's last_seq" {
    start_server
    members r
    session_conn a1 "$TA" r
    send_n "$TB" r m 1 3
    wait_seq a1 3
    conn_kill a1
    wait_offline alice "$TB"
    send_n "$TB" r m 4 5
    kill9_server
    start_server
    send_n "$TB" r m 6 7
    recover_on a2 "$SESSION" r=3
    expect_recovered 4 '["r"]' "$SESSION"
    wait_seq a2 7
    send_n "$TB" r live 8 8
    wait_seq a2 8
    [ "$(new_seqs "$(conn_out a2)")" = "$(seq_range 4 8)" ] || fail "want 4..8:" "$(cat "$(conn_out a2)")"
    replay_first "$(conn_out a2)"
}

@test "a token consumed before a restart stays consumed after it, and its successor recovers (kill -TERM, then kill -9)" {
    start_server
    members r
    session_conn a1 "$TA" r
    conn_kill a1
    recover_on a2 "$SESSION"
    expect_recovered 0 '["r"]' "$SESSION"
    local t1=$SESSION t2=$NEXT
    stop_server
    start_server
    conn_open a3 "$TA"
    conn_err a3 "raw connection:recover $(recover_json "$t1")" session_expired
    conn_ok a3 "raw connection:recover $(recover_json "$t2" r=0)" '.data.recovered == true and .data.rooms == ["r"]'
    local t3
    t3=$(jq -r .data.session_token <<<"$CONN_ACK")
    # The recover was acknowledged: kill -9 right after it keeps t3 and
    # the consumption of t2.
    kill9_server
    start_server
    conn_open a4 "$TA"
    conn_err a4 "raw connection:recover $(recover_json "$t2")" session_expired
    conn_ok a4 "raw connection:recover $(recover_json "$t3" r=0)" '.data.recovered == true and .data.rooms == ["r"]'
}
