#!/usr/bin/env bats
# The PostgreSQL store (issue 9): parleyd --db postgresql://... against a
# real PostgreSQL this file starts itself (pg.bash), one database per test.
# The same guarantees as SQLite (PROTOCOL.md 3-5: per-room seq, idempotent
# send, receipts, delete, accounts, recovery, durability of every ack),
# plus what a shared database adds: two parleyd on one database assign
# seqs without gaps or duplicates, and an outage of PostgreSQL is refused
# with `internal` (never acked) and healed without a restart.

load helpers
load pg

setup_file() {
    skip_without_pg
    start_pg
}

teardown_file() {
    stop_pg
}

setup() {
    skip_without_pg
    new_pg_db
    srv_init
    TA=$(token alice)
    TB=$(token bob)
    TC=$(token carol)
    OUT=$BATS_TEST_TMPDIR
}

# start_server (helpers.bash's, on this test's PostgreSQL database instead
# of a SQLite file): the suites' helpers that restart the server use it.
start_server() {
    srv_init
    launch_server --listen 127.0.0.1:0 --db "$PG_URL" --jwt-secret "$SECRET" "$@"
}

@test "postgresql: join, send, history in seq order; the schema is migrated to version 3" {
    start_server
    run pcli --token "$TA" -c 'join r' -c 'send r one' -c 'send r two' -c 'send r three'
    assert_status 0
    [ "$(jsel '.ok == true and .data.message != null' | jq -s -c 'map(.data.message.seq)')" = "[1,2,3]" ] ||
        fail "seqs: $output"
    run pcli --token "$TB" -c 'join r' -c 'history r'
    assert_status 0
    expect_json '.ok == true and (.data.messages | map([.seq, .text]) == [[1,"one"],[2,"two"],[3,"three"]])'
    [ "$(pg_sql "$PG_DB" 'SELECT version FROM parley_schema')" = 3 ] || fail "schema version"
    [ "$(pg_sql "$PG_DB" "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM messages WHERE room = 'r'")" = 1,2,3 ] ||
        fail "rows in postgresql"
    # The same database opened again: no migration runs twice.
    stop_server
    start_server
    run pcli --token "$TA" -c 'send r four'
    assert_status 0
    expect_json '.ok == true and .data.message.seq == 4'
}

@test "postgresql: the same client_msg_id twice stores one row and returns the same id" {
    start_server
    run pcli --token "$TA" -c 'join r' -c 'send --id cm-1 r first try' -c 'send --id cm-1 r second try' -c 'send r next'
    assert_status 0
    local acks
    acks=$(jsel '.ok == true and .data.message != null')
    [ "$(jq -s -c 'map([.data.message.id, .data.message.seq, .data.message.text])' <<<"$acks" | jq -c '.[0:2] | unique | length')" = 1 ] ||
        fail "the retry is not the original: $acks"
    expect_json '.ok == true and .data.message.text == "next" and .data.message.seq == 2'
    [ "$(pg_sql "$PG_DB" "SELECT count(*) FROM messages WHERE client_msg_id = 'cm-1'")" = 1 ] || fail "rows"
    # After a restart too.
    stop_server
    start_server
    run pcli --token "$TA" -c 'send --id cm-1 r third try'
    assert_status 0
    expect_json '.ok == true and .data.message.seq == 1 and .data.message.text == "first try"'
}

@test "postgresql: delivery and read receipts and delivery-status" {
    start_server
    run pcli --token "$TB" -c 'join r'
    assert_status 0
    run pcli --token "$TC" -c 'join r'
    assert_status 0
    run pcli --token "$TA" -c 'join r' -c 'send r m1' -c 'send r m2'
    assert_status 0
    local m1 m2
    m1=$(msg_id m1)
    m2=$(msg_id m2)
    run pcli --token "$TB" -c "raw message:read {\"message_id\":$m2}"
    assert_status 0
    expect_json ".ok == true and .data == {\"message_id\":$m2,\"room\":\"r\",\"last_read_seq\":2}"
    run pcli --token "$TC" -c "raw message:delivered {\"message_id\":$m1}"
    assert_status 0
    expect_json '.ok == true'
    run pcli --token "$TA" -c "raw message:delivery-status {\"message_id\":$m1}"
    assert_status 0
    local st
    st=$(jfirst '.ok == true and .data.pending != null')
    jq -e '(.data.read_by | map(.user)) == ["bob"] and (.data.delivered_to | map(.user) | sort) == ["bob","carol"]
        and .data.pending == [] and (.data.delivered_to | all(.ts | type == "number"))' <<<"$st" >/dev/null ||
        fail "delivery-status of m1: $st"
    run pcli --token "$TA" -c "raw message:delivery-status {\"message_id\":$m2}"
    st=$(jfirst '.ok == true and .data.pending != null')
    jq -e '(.data.read_by | map(.user)) == ["bob"] and (.data.pending | map(if type == "object" then .user else . end)) == ["carol"]' \
        <<<"$st" >/dev/null || fail "delivery-status of m2: $st"
    # A seq past the room's last message is refused.
    run pcli --token "$TB" -c 'raw message:read {"message_id":999999}'
    expect_json '.ok == false'
}

@test "postgresql: delete keeps id and seq, drops the text, and is idempotent" {
    start_server
    run pcli --token "$TA" -c 'join r' -c 'send r keep' -c 'send r secret'
    assert_status 0
    local id
    id=$(msg_id secret)
    run pcli --token "$TA" -c "raw message:delete {\"message_id\":$id}" -c "raw message:delete {\"message_id\":$id}" -c 'history r'
    assert_status 0
    expect_json '.ok == true and (.data.messages | map([.seq, .text, .deleted]) == [[1,"keep",false],[2,"",true]])'
    ! grep -q secret <<<"$(jsel '.data.messages != null')" || fail "deleted text served"
    [ "$(pg_sql "$PG_DB" "SELECT deleted_count FROM rooms WHERE name = 'r'")" = 1 ] || fail "deleted_count"
    run pcli --token "$TA" -c 'raw message:delete {"message_id":424242}'
    expect_json '.ok == false and .error.code == "not_found"'
}

@test "postgresql: accounts register and login; a taken name is 409" {
    start_server
    http POST /api/register '{"username":"dora","password":"dora-password-1"}'
    expect_http 201 '.user.name == "dora" and (.token | type == "string")'
    http POST /api/register '{"username":"dora","password":"other-password-2"}'
    expect_http 409 '.error.code == "conflict"'
    http POST /api/login '{"username":"dora","password":"dora-password-1"}'
    expect_http 200 '(.token | type == "string")'
    http POST /api/login '{"username":"dora","password":"wrong-password-9"}'
    [ "$HTTP_STATUS" = 401 ] || fail "wrong password: $HTTP_STATUS $HTTP_BODY"
    # Stored in postgresql: a restart still knows dora.
    stop_server
    start_server
    http POST /api/login '{"username":"dora","password":"dora-password-1"}'
    expect_http 200
}

@test "postgresql: recovery across a parleyd restart replays exactly what was missed" {
    start_server
    missed_replayed_after_restart
}

@test "postgresql: every acknowledged message survives kill -9 of parleyd" {
    start_server
    acked_survive_kill9
}

@test "postgresql: two parleyd on one database sending to one room at once: seqs 1..N, no gap, no duplicate" {
    local per=50 url1 url2 pid1
    start_server
    run pcli --token "$TA" -c 'join busy'
    assert_status 0
    url1=$PARLEY_URL
    pid1=$SRV_PID
    launch_server --listen 127.0.0.1:0 --db "$PG_URL" --jwt-secret "$SECRET"
    url2=$PARLEY_URL
    four_writers "$per" "$url1" "$url2" id
    cat "$OUT"/s1 "$OUT"/s2 "$OUT"/s3 "$OUT"/s4 >"$OUT/all"
    local total=$((4 * per)) seqs ids
    seqs=$(jsel '.ok == true and .data.message != null' "$(cat "$OUT/all")" | jq -s -c 'map(.data.message.seq) | sort')
    [ "$seqs" = "$(seq_range 1 "$total")" ] || fail "acked seqs are not 1..$total: $seqs"
    ids=$(jsel '.ok == true and .data.message != null' "$(cat "$OUT/all")" | jq -s 'map(.data.message.id) | unique | length')
    [ "$ids" -eq "$total" ] || fail "ids not unique: $ids"
    [ "$(pg_sql "$PG_DB" "SELECT count(*) = $total AND min(seq) = 1 AND max(seq) = $total AND count(DISTINCT seq) = $total FROM messages WHERE room = 'busy'")" = t ] ||
        fail "rows in postgresql: $(pg_sql "$PG_DB" "SELECT count(*), min(seq), max(seq) FROM messages")"
    # A retry on the other node returns the original, not a second row.
    local orig
    orig=$(jfirst '.ok == true and .data.message.text == "w1-1"' "$(cat "$OUT/s1")" | jq .data.message.id)
    run pcli --url "$url2" --token "$(token writer1)" -c 'join busy' -c 'send --id w1-1 busy w1-1'
    assert_status 0
    expect_json ".ok == true and .data.message.id == $orig"
    [ "$(pg_sql "$PG_DB" "SELECT count(*) FROM messages WHERE room = 'busy'")" = "$total" ] || fail "retry stored a row"
    stop_server
    SRV_PID=$pid1
    stop_server
}

@test "postgresql stopped: send answers internal and /healthz is not healthy; started again: sends work without a restart" {
    start_server
    run pcli --token "$TA" -c 'join r' -c 'send r before'
    assert_status 0
    expect_json '.ok == true and .data.message.seq == 1'
    pg_pause
    run pcli --token "$TA" -c 'send r during' -c 'history r' -c 'history r'
    expect_json '.ok == false and .error.code == "internal"'
    expect_no_json '.ok == true and .data.message != null'
    expect_no_json '.ok == true and .data.messages != null'
    _unhealthy() {
        http GET /healthz && [ "$HTTP_STATUS" = 503 ] && ! jq -e '.status == "healthy"' <<<"$HTTP_BODY" >/dev/null
    }
    eventually 5 _unhealthy
    server_logs | grep -q 'error.*store' || fail "no error logged: $(server_logs | tail -n 5)"
    pg_resume
    run pcli --token "$TA" -c 'send r after'
    assert_status 0
    expect_json '.ok == true and .data.message.text == "after" and .data.message.seq == 2'
    # Reads run on the loop thread, which waits between reconnects (at
    # most 8 s) rather than block every connection on each attempt.
    _history() {
        pcli --token "$TA" -c 'history r' |
            jq -e 'select(.data.messages != null) | .data.messages | map(.text) == ["before","after"]'
    }
    eventually 15 _history
}

@test "postgresql: two parleyd starting at once on a new database both migrate it (one at a time) and serve" {
    srv_init
    bg_start "$OUT/other" "$PARLEYD" --listen 127.0.0.1:0 --db "$PG_URL" --jwt-secret "$SECRET"
    local other=$BG_PID
    start_server
    wait_for_grep "$OUT/other" '^listening on http' 10 "$other" || fail "the other parleyd: $(cat "$OUT/other" "$OUT/other.err")"
    [ "$(pg_sql "$PG_DB" "SELECT count(*) || '/' || max(version) FROM parley_schema")" = 1/3 ] ||
        fail "schema rows: $(pg_sql "$PG_DB" 'SELECT * FROM parley_schema')"
    run pcli --token "$TA" -c 'join r' -c 'send r hello'
    assert_status 0
    expect_json '.ok == true and .data.message.seq == 1'
    kill -TERM "$other"
    bg_wait "$other" 10
    [ "$BG_STATUS" -eq 0 ] || fail "the other parleyd exited $BG_STATUS: $(cat "$OUT/other.err")"
}

@test "postgresql: a password in the db URL never reaches the log; a URL without a JWT secret is refused at start, saying why" {
    local url=${PG_URL/@/:hunter2-secret@}
    launch_server --listen 127.0.0.1:0 --db "$url" --jwt-secret "$SECRET"
    run pcli --token "$TA" -c "join lobby" -c "send lobby hi"
    assert_status 0
    server_logs | grep -q "db postgresql://$PG_ROLE:\*\*\*@127.0.0.1:$PG_PORT/$PG_DB" ||
        fail "the start line does not name the db redacted:" "$(server_logs)"
    ! server_logs | grep -q hunter2 || fail "the password is in the log:" "$(server_logs | grep hunter2)"
    stop_server

    run "$PARLEYD" --listen 127.0.0.1:0 --db "$PG_URL"
    [ "$status" -eq 2 ] || fail "exit $status, expected 2:" "$output"
    [[ "$output" == *"jwt_secret_file (or jwt_secret) must be set when db is a postgresql:// URL"* ]] ||
        fail "no reason given:" "$output"
}
