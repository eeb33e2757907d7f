#!/usr/bin/env bats
# Connection recovery (PROTOCOL.md 4 Connection recovery, /tmp/issue4-spec.md):
# a session records a connection's subscriptions and the last seq written to
# it per room; after the connection drops (its client killed), a new
# connection recovers with the token: the rooms are resubscribed, every
# missed message:new is replayed in seq order right after the ack, then live
# messages follow, with no gap and no duplicate. Tokens are single use,
# bound to their user; connection:stats counts it all.

load helpers

setup() {
    srv_init
    TA=$(token alice)
    TB=$(token bob)
    OUT=$BATS_TEST_TMPDIR
}

@test "a dropped connection recovers exactly the N messages it missed, in order, then live ones after them" {
    start_server
    members r
    session_conn a1 "$TA" r
    local t1=$SESSION
    send_n "$TB" r before 1 2
    wait_seq a1 2
    conn_kill a1
    wait_offline alice "$TB"
    send_n "$TB" r missed 3 7
    recover_on a2 "$t1"
    expect_recovered 5 '["r"]' "$t1"
    wait_seq a2 7
    # A message sent after the recover arrives after the replay.
    send_n "$TB" r live 8 8
    wait_seq a2 8
    [ "$(new_seqs "$(conn_out a2)")" = "$(seq_range 3 8)" ] || fail "want seqs 3..8 once each:" "$(cat "$(conn_out a2)")"
    replay_first "$(conn_out a2)"
    # The replay is the stored messages themselves.
    run pcli --token "$TA" -c 'history r --limit 100'
    assert_status 0
    [ "$(jfirst '.ok == true and .data.messages != null' | jq -c '.data.messages | map(select(.seq >= 3))')" = \
        "$(jsel '.event == "message:new"' "$(cat "$(conn_out a2)")" | jq -sc 'map(.data.message)')" ] ||
        fail "replayed messages differ from history:" "$output" "--- replayed:" "$(cat "$(conn_out a2)")"
    # The new connection holds the successor session, with the room.
    conn_ok a2 'raw connection:session-info {}' '.data.rooms == ["r"] and .data.state == "active" and .data.expires_at == null'
}

@test "the session's record counts the connection's own send acks: without last_seq they are not replayed" {
    start_server
    members r
    session_conn a1 "$TA" r
    local t1=$SESSION
    conn_ok a1 'send r mine 1'
    conn_ok a1 'send r mine 2'
    send_n "$TB" r theirs 3 3
    wait_seq a1 3
    conn_kill a1
    wait_offline alice "$TB"
    send_n "$TB" r missed 4 6
    recover_on a2 "$t1"
    expect_recovered 3 '["r"]' "$t1"
    wait_seq a2 6
    send_n "$TB" r live 7 7
    wait_seq a2 7
    [ "$(new_seqs "$(conn_out a2)")" = "$(seq_range 4 7)" ] || fail "want seqs 4..7:" "$(cat "$(conn_out a2)")"
}

@test "last_seq from the client overrides the session's record, below it, above it, and 0" {
    start_server
    members r
    session_conn a1 "$TA" r
    send_n "$TB" r m 1 4
    wait_seq a1 4
    conn_kill a1
    wait_offline alice "$TB"
    send_n "$TB" r m 5 6
    # The client says it got only up to 2: 3..6 come back.
    recover_on a2 "$SESSION" r=2
    expect_recovered 4 '["r"]'
    wait_seq a2 6
    local t2=$NEXT
    conn_kill a2
    wait_offline alice "$TB"
    send_n "$TB" r m 7 8
    # The client says it got 7 (the record says 6): only 8 comes back.
    recover_on a3 "$t2" r=7
    expect_recovered 1 '["r"]'
    wait_seq a3 8
    local t3=$NEXT
    conn_kill a3
    wait_offline alice "$TB"
    # From 0: everything.
    recover_on a4 "$t3" r=0
    expect_recovered 8 '["r"]'
    wait_seq a4 8
    send_n "$TB" r live 9 9
    wait_seq a4 9
    [ "$(new_seqs "$(conn_out a2)")" = "$(seq_range 3 6)" ] || fail "a2:" "$(cat "$(conn_out a2)")"
    [ "$(new_seqs "$(conn_out a3)")" = "[8]" ] || fail "a3:" "$(cat "$(conn_out a3)")"
    [ "$(new_seqs "$(conn_out a4)")" = "$(seq_range 1 9)" ] || fail "a4:" "$(cat "$(conn_out a4)")"
    replay_first "$(conn_out a4)"
}

@test "several rooms: each replayed in seq order; a room the user left meanwhile is not resubscribed" {
    start_server
    members r s t
    session_conn a1 "$TA" r s t
    conn_ok a1 'raw connection:session-info {}' '(.data.rooms | sort) == ["r","s","t"]'
    conn_kill a1
    wait_offline alice "$TB"
    send_n "$TB" r r 1 2
    send_n "$TB" s s 1 3
    send_n "$TB" t t 1 1
    run pcli --token "$TA" -c 'leave t'
    assert_status 0
    send_n "$TB" t t 2 2
    recover_on a2 "$SESSION"
    expect_recovered 5 '["r","s"]'
    wait_seq a2 2 r
    wait_seq a2 3 s
    send_n "$TB" t t 3 3
    send_n "$TB" s s 4 4
    wait_seq a2 4 s
    [ "$(new_seqs "$(conn_out a2)" r)" = "[1,2]" ] || fail "r:" "$(cat "$(conn_out a2)")"
    [ "$(new_seqs "$(conn_out a2)" s)" = "[1,2,3,4]" ] || fail "s:" "$(cat "$(conn_out a2)")"
    [ "$(new_seqs "$(conn_out a2)" t)" = "[]" ] || fail "t, left:" "$(cat "$(conn_out a2)")"
    replay_first "$(conn_out a2)"
    conn_ok a2 'raw connection:session-info {}' '(.data.rooms | sort) == ["r","s"]'
}

# sender FILE FROM TO: bob sends "race FROM".."race TO" to r in the
# background, one CLI, paced (a command every 10 ms at most) so that it is
# still sending while the test recovers; BG_PID is it.
sender() {
    bg_start "$1" bash -c 'for ((i = $2; i <= $3; i++)); do echo "send r race $i"; sleep 0.01; done |
        "$0" --json --timeout 10000 --token "$1"' "$PARLEY" "$TB" "$2" "$3"
}

@test "the replay races a sender: killed mid-stream and recovered with last_seq while messages keep coming, every seq arrives exactly once, in order" {
    start_server
    members r
    local n=120
    session_conn a1 "$TA" r
    sender "$OUT/bob" 1 "$n"
    local bob=$BG_PID
    wait_seq a1 20
    conn_kill a1
    local last
    last=$(new_seqs "$(conn_out a1)" | jq 'max')
    # Twenty more are stored; the sender is still sending when the recovery
    # happens (checked below: some arrive live).
    wait_for_json "$OUT/bob" ".ok == true and .data.message.seq >= $((last + 20))" 10 "$bob"
    recover_on a2 "$SESSION" r="$last"
    jq -e '.ok == true and .data.recovered == true and .data.rooms == ["r"]' <<<"$CONN_ACK" >/dev/null || fail "recover: $CONN_ACK"
    bg_ok "$bob" "$OUT/bob" 30
    wait_seq a2 "$n"
    local got
    got=$(jq -nc --argjson a "$(new_seqs "$(conn_out a1)")" --argjson b "$(new_seqs "$(conn_out a2)")" '$a + $b')
    [ "$got" = "$(seq_range 1 "$n")" ] ||
        fail "a1 got up to $last, then a2 must get $((last + 1))..$n once each, in order; a1 + a2: $got"
    replay_first "$(conn_out a2)"
    # missed counts the replay (what was stored when the recover ran).
    local replayed
    replayed=$(jq .data.missed <<<"$CONN_ACK")
    [ "$replayed" -ge 20 ] && [ "$replayed" -lt $((n - last)) ] ||
        fail "missed $replayed: want 20 or more, and fewer than the $((n - last)) after $last (the sender still sending): $CONN_ACK"
}

@test "the replay races a sender without last_seq: the session's record is where the replay starts, then live ones, each once" {
    start_server
    members r
    local n=120
    session_conn a1 "$TA" r
    send_n "$TB" r race 1 5
    wait_seq a1 5
    conn_kill a1
    wait_offline alice "$TB"
    sender "$OUT/bob" 6 "$n"
    local bob=$BG_PID
    wait_for_json "$OUT/bob" '.ok == true and .data.message.seq >= 40' 10 "$bob"
    recover_on a2 "$SESSION"
    # 35 or more stored since the record (5), fewer than all: the sender was
    # still sending.
    jq -e --argjson n "$n" '.ok == true and .data.recovered == true and .data.missed >= 35 and .data.missed < $n - 5' <<<"$CONN_ACK" >/dev/null ||
        fail "recover: $CONN_ACK"
    bg_ok "$bob" "$OUT/bob" 30
    wait_seq a2 "$n"
    [ "$(new_seqs "$(conn_out a2)")" = "$(seq_range 6 "$n")" ] || fail "want 6..$n once each, in order: $(new_seqs "$(conn_out a2)")"
    replay_first "$(conn_out a2)"
}

@test "another user's token is forbidden, and it still works for its owner afterwards" {
    start_server
    members r
    session_conn a1 "$TA" r
    conn_kill a1
    wait_offline alice "$TB"
    send_n "$TB" r m 1 2
    conn_open b "$TB"
    conn_err b "raw connection:recover $(recover_json "$SESSION")" forbidden
    conn_err b "raw connection:recover $(recover_json "$SESSION" r=0)" forbidden
    # Bob's connection got nothing of it.
    conn_err b 'raw connection:session-info {}' not_found
    recover_on a2 "$SESSION"
    expect_recovered 2 '["r"]'
    wait_seq a2 2
    [ "$(new_seqs "$(conn_out a2)")" = "[1,2]" ] || fail "a2:" "$(cat "$(conn_out a2)")"
    [ "$(new_seqs "$(conn_out b)")" = "[]" ] || fail "bob's connection got a replay:" "$(cat "$(conn_out b)")"
}

@test "tokens are single use: a consumed token is session_expired, its successor works once; creating a session again retires the first" {
    start_server
    members r
    session_conn a1 "$TA" r
    local t1=$SESSION
    conn_kill a1
    recover_on a2 "$t1"
    expect_recovered 0 '["r"]'
    local t2=$NEXT
    conn_kill a2
    wait_offline alice "$TB"
    send_n "$TB" r m 1 1
    conn_open a3 "$TA"
    conn_err a3 "raw connection:recover $(recover_json "$t1")" session_expired
    conn_err a3 "raw connection:recover $(recover_json "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")" session_expired
    conn_err a3 "raw connection:recover $(recover_json "x")" session_expired
    conn_ok a3 "raw connection:recover $(recover_json "$t2")" '.data.recovered == true and .data.missed == 1'
    wait_seq a3 1
    conn_err a3 "raw connection:recover $(recover_json "$t2")" session_expired

    # Creating a session again replaces the first: its token stops working.
    session_conn c1 "$TA" r
    local s1=$SESSION
    conn_ok c1 'raw connection:create-session {}' ".data.session_token != \"$s1\""
    local s2
    s2=$(jq -r .data.session_token <<<"$CONN_ACK")
    conn_kill c1
    conn_open c2 "$TA"
    conn_err c2 "raw connection:recover $(recover_json "$s1")" session_expired
    conn_ok c2 "raw connection:recover $(recover_json "$s2")" '.data.recovered == true and .data.rooms == ["r"]'
}

@test "connection:recover refusals: a missing or non-string token, a bad last_seq are bad_request and consume nothing" {
    start_server
    members r
    session_conn a1 "$TA" r
    conn_kill a1
    local t=$SESSION
    run pcli --token "$TA" -c 'raw connection:recover {}' \
        -c 'raw connection:recover {"session_token":5}' \
        -c 'raw connection:recover {"session_token":null}' \
        -c 'raw connection:recover {"session_token":["'"$t"'"]}' \
        -c 'raw connection:recover {"session_token":"'"$t"'","last_seq":[]}' \
        -c 'raw connection:recover {"session_token":"'"$t"'","last_seq":"r=1"}' \
        -c 'raw connection:recover {"session_token":"'"$t"'","last_seq":5}' \
        -c 'raw connection:recover {"session_token":"'"$t"'","last_seq":{"r":-1}}' \
        -c 'raw connection:recover {"session_token":"'"$t"'","last_seq":{"r":1.5}}' \
        -c 'raw connection:recover {"session_token":"'"$t"'","last_seq":{"r":"1"}}' \
        -c 'raw connection:recover {"session_token":"'"$t"'","last_seq":{"r":null}}'
    assert_status 1
    expect_codes bad_request 11
    recover_on a2 "$t"
    expect_recovered 0 '["r"]'
}

@test "a token still held by a live connection may be recovered: the old connection loses its session and stays open" {
    start_server
    members r
    session_conn a1 "$TA" r
    # Its own connection cannot recover it (bad_request); that consumes nothing.
    conn_err a1 "raw connection:recover $(recover_json "$SESSION")" bad_request
    recover_on a2 "$SESSION"
    expect_recovered 0 '["r"]'
    conn_err a1 'raw connection:session-info {}' not_found
    conn_ok a1 'raw room:list {}' '.data.rooms | map(.room) == ["r"]'
    conn_ok a2 'raw connection:session-info {}' '.data.rooms == ["r"] and .data.state == "active"'
    pid_alive "${CONN_PID[a1]}" || fail "a1 was closed"
    expect_no_json '.event == "close"' "$(cat "$(conn_out a1)")"
}

@test "create-session and session-info: shapes, the session follows the connection's subscriptions; no session is not_found" {
    start_server
    members r s
    conn_open a1 "$TA"
    conn_err a1 'raw connection:session-info {}' not_found
    conn_ok a1 'join r'
    local t0 t1
    t0=$(now_ms)
    conn_ok a1 'raw connection:create-session {}' '(.data | keys == ["expires_in","session_token"]) and .data.expires_in == 120
        and (.data.session_token | type == "string" and length >= 43)'
    t1=$(now_ms)
    conn_ok a1 'raw connection:session-info {}' "(.data | keys == [\"created_at\",\"expires_at\",\"rooms\",\"session_id\",\"state\"])
        and .data.rooms == [\"r\"] and .data.expires_at == null and .data.state == \"active\" and .data.session_id != null
        and .data.created_at >= $t0 - 1000 and .data.created_at <= $t1 + 1000"
    conn_ok a1 'join s'
    conn_ok a1 'raw connection:session-info {}' '(.data.rooms | sort) == ["r","s"]'
    conn_ok a1 'raw room:unsubscribe-multiple {"rooms":["r"]}'
    conn_ok a1 'raw connection:session-info {}' '.data.rooms == ["s"]'
    # The token is opaque and not the session id.
    local tok id
    tok=$(jq -r .data.session_token <<<"$(jfirst '.data.session_token != null' "$(cat "$(conn_out a1)")")")
    id=$(jq -r .data.session_id <<<"$CONN_ACK")
    [ "$tok" != "$id" ] || fail "the session id is the token"
}

@test "recover_max exceeded: recovered false, nothing replayed, rooms resubscribed, a successor given; exactly recover_max is replayed" {
    start_server --recover-max 3
    members r s
    session_conn a1 "$TA" r s
    conn_kill a1
    wait_offline alice "$TB"
    # 2 + 2 missed over two rooms: 4 > 3.
    send_n "$TB" r m 1 2
    send_n "$TB" s m 1 2
    recover_on a2 "$SESSION"
    jq -e '.ok == true and .data.recovered == false and .data.missed == 4 and (.data.rooms | sort) == ["r","s"]
        and (.data.session_token | type == "string" and length >= 43)' <<<"$CONN_ACK" >/dev/null ||
        fail "want recovered:false, missed 4: $CONN_ACK"
    # Resubscribed: live messages arrive, and they are the first ones.
    send_n "$TB" r live 3 3
    send_n "$TB" s live 3 3
    wait_seq a2 3 r
    wait_seq a2 3 s
    [ "$(new_seqs "$(conn_out a2)")" = "[3,3]" ] || fail "nothing but the live ones:" "$(cat "$(conn_out a2)")"
    # The client reloads with history.
    conn_ok a2 'raw message:history {"room":"r"}' '(.data.messages | map(.seq)) == [1,2,3]'
    local t2=$NEXT
    conn_kill a2
    wait_offline alice "$TB"
    send_n "$TB" r m 4 6
    recover_on a3 "$t2"
    expect_recovered 3 '["r","s"]'
    wait_seq a3 6
    [ "$(new_seqs "$(conn_out a3)")" = "[4,5,6]" ] || fail "exactly recover_max are replayed:" "$(cat "$(conn_out a3)")"
}

@test "connection:stats: active sessions, recoveries, refusals and the messages queued for detached sessions" {
    start_server
    members r
    wait_stats "$TB" '. == {"active_sessions":0,"recovered":0,"failed":0,"expired":0,"queued":0}' 2
    session_conn a1 "$TA" r
    wait_stats "$TB" '.active_sessions == 1 and .queued == 0'
    send_n "$TB" r m 1 1
    wait_seq a1 1
    conn_kill a1
    send_n "$TB" r m 2 4
    # Detached (once the server has noticed the drop): 3 queued for it.
    wait_stats "$TB" '. == {"active_sessions":1,"recovered":0,"failed":0,"expired":0,"queued":3}'
    conn_open b "$TB"
    conn_err b "raw connection:recover $(recover_json "$SESSION")" forbidden
    conn_err b "raw connection:recover $(recover_json nonsense)" session_expired
    wait_stats "$TB" '. == {"active_sessions":1,"recovered":0,"failed":2,"expired":0,"queued":3}' 2
    recover_on a2 "$SESSION"
    expect_recovered 3 '["r"]'
    wait_stats "$TB" '. == {"active_sessions":1,"recovered":1,"failed":2,"expired":0,"queued":0}' 2
    # A second session, held.
    session_conn a3 "$TA" r
    wait_stats "$TB" '. == {"active_sessions":2,"recovered":1,"failed":2,"expired":0,"queued":0}' 2
    conn_kill a2
    conn_kill a3
    send_n "$TB" r m 5 6
    # Two detached sessions, each missing 5 and 6 (a3 subscribed when r was
    # at 4: what came before is not missed).
    wait_stats "$TB" '. == {"active_sessions":2,"recovered":1,"failed":2,"expired":0,"queued":4}'
}

@test "Python websockets (tests/clients/recovery_client.py): drop, recover with and without last_seq, exact replays, refusals; the CLI reads back the counts" {
    start_server
    run --separate-stderr "$PY" "$CLIENTS/recovery_client.py" "$PARLEY_URL" "$TA" "$TB" pyrec
    if [ "$status" -ne 0 ] || grep -q '^not ok' <<<"$output"; then
        fail "recovery_client.py failed (status $status):" "$output" "--- stderr:" "$stderr"
    fi
    grep -qx '1\.\.36' <<<"$output" || fail "want 36 checks: $output"
    [ "$(grep -c '^ok ' <<<"$output")" -eq 36 ] || fail "want 36 passing checks: $output"
    # Four recoveries, five refused attempts (bad_request is not counted);
    # the last successor, detached when the client closed, is still kept.
    wait_stats "$TB" '. == {"active_sessions":1,"recovered":4,"failed":5,"expired":0,"queued":0}' 5
    run pcli --token "$TA" -c 'history pyrec-rec --limit 100'
    assert_status 0
    expect_json '.ok == true and (.data.messages | map(.seq)) == [range(112; 212)] and .data.has_more == true'
}

@test "the CLI's recovery commands: session, session-info, recover TOKEN ROOM=SEQ (replays marked), recovery-stats" {
    start_server
    members r
    conn_open a1 "$TA"
    conn_ok a1 'join r'
    conn_ok a1 'session' '(.data.session_token | length >= 43) and .data.expires_in == 120'
    local tok
    tok=$(jq -r .data.session_token <<<"$CONN_ACK")
    conn_ok a1 'session-info' '.data.rooms == ["r"] and .data.state == "active"'
    send_n "$TB" r m 1 2
    wait_seq a1 2
    conn_kill a1
    wait_offline alice "$TB"
    send_n "$TB" r m 3 4
    conn_open a2 "$TA"
    conn_ok a2 "recover $tok r=1" '.data.recovered == true and .data.missed == 3 and .data.rooms == ["r"]'
    wait_seq a2 4
    send_n "$TB" r live 5 5
    wait_seq a2 5
    [ "$(new_seqs "$(conn_out a2)")" = "[2,3,4,5]" ] || fail "a2:" "$(cat "$(conn_out a2)")"
    # The CLI marks the replayed ones, not the live one.
    [ "$(jq -cRn '[inputs | fromjson? | select(.event == "message:new") | [.data.message.seq, (.replayed == true)]]' "$(conn_out a2)")" = \
        '[[2,true],[3,true],[4,true],[5,false]]' ] || fail "replayed marks:" "$(cat "$(conn_out a2)")"
    conn_ok a2 'session-info' '.data.rooms == ["r"]'
    conn_ok a2 'recovery-stats' '.data == {"active_sessions":1,"recovered":1,"failed":0,"expired":0,"queued":0}'
    conn_err a2 "recover $tok" session_expired
}
