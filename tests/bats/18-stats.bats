#!/usr/bin/env bats
# message:stats (PROTOCOL.md 4 Messaging, /tmp/issue3-spec.md):
#   sent      = messages stored (soft-deleted ones included)
#   deleted   = messages soft-deleted
#   delivered = sum over the room's members of their delivered pointer
#   read      = sum over the room's members of their read pointer
# (seq arithmetic: sending moves the sender's own pointers to the new
# message; reading implies delivery.) Per room for a member, or over every
# room for anyone.

load helpers

setup() {
    start_server
    TA=$(token alice)
    TB=$(token bob)
    TC=$(token carol)
    OUT=$BATS_TEST_TMPDIR
}

# stats_of [ROOM] [TOKEN]: the stats ack's data, in STATS, as alice by
# default.
stats_of() {
    local data='{}'
    [ -z "${1:-}" ] || data="{\"room\":\"$1\"}"
    run pcli --token "${2:-$TA}" -c "raw message:stats $data"
    assert_status 0
    STATS=$(jfirst '.ok == true and .data.sent != null' | jq -c '.data')
    [ -n "$STATS" ] || fail "no stats ack: $output"
}

# expect_stats JSON: STATS equals JSON (keys compared sorted).
expect_stats() {
    [ "$(jq -cS . <<<"$STATS")" = "$(jq -cS . <<<"$1")" ] || fail "stats $STATS, want $1"
}

@test "a fresh server: server-wide stats are all zero; an empty room too" {
    stats_of
    expect_stats '{"sent":0,"delivered":0,"read":0,"deleted":0}'
    run pcli --token "$TA" -c 'join r'
    assert_status 0
    stats_of r
    expect_stats '{"room":"r","sent":0,"delivered":0,"read":0,"deleted":0}'
}

@test "a scripted scenario: per-room and server-wide numbers follow the definitions" {
    # r1: alice (owner), bob, carol. r2: alice alone.
    run pcli --token "$TA" -c 'join r1' -c 'join r2'
    assert_status 0
    run pcli --token "$TB" -c 'join r1'
    assert_status 0
    run pcli --token "$TC" -c 'join r1'
    assert_status 0
    # alice sends seq 1..3 in r1 (her pointers: 3), one in r2 (pointers 1).
    run pcli --token "$TA" -c 'send r1 a1' -c 'send r1 a2' -c 'send r1 a3' -c 'send r2 only'
    assert_status 0
    local a2 a3
    a2=$(msg_id a2)
    a3=$(msg_id a3)
    # bob sends seq 4 (his pointers: 4) and deletes it.
    run pcli --token "$TB" -c 'send r1 b4'
    assert_status 0
    local b4
    b4=$(msg_id b4)
    run pcli --token "$TB" -c "raw message:delete {\"message_id\":$b4}"
    assert_status 0
    # carol: delivered up to seq 2, read nothing.
    run pcli --token "$TC" -c "raw message:delivered {\"message_id\":$a2}"
    assert_status 0
    # r1: sent 4, deleted 1, delivered 3+4+2 = 9, read 3+4+0 = 7.
    stats_of r1
    expect_stats '{"room":"r1","sent":4,"delivered":9,"read":7,"deleted":1}'
    # r2: alice's one message, read by its author.
    stats_of r2
    expect_stats '{"room":"r2","sent":1,"delivered":1,"read":1,"deleted":0}'
    # Server-wide: the sums, asked by a member of only one of the rooms.
    stats_of "" "$TC"
    expect_stats '{"sent":5,"delivered":10,"read":8,"deleted":1}'
    # carol reads seq 3: delivered 3+4+3 = 10, read 3+4+3 = 10.
    run pcli --token "$TC" -c "raw message:read {\"message_id\":$a3}"
    assert_status 0
    stats_of r1 "$TB"
    expect_stats '{"room":"r1","sent":4,"delivered":10,"read":10,"deleted":1}'
    stats_of
    expect_stats '{"sent":5,"delivered":11,"read":11,"deleted":1}'
    # Deleting again changes nothing.
    run pcli --token "$TA" -c "raw message:delete {\"message_id\":$b4}"
    assert_status 0
    stats_of r1
    expect_stats '{"room":"r1","sent":4,"delivered":10,"read":10,"deleted":1}'
}

@test "stats survive a restart" {
    run pcli --token "$TA" -c 'join r'
    assert_status 0
    run pcli --token "$TB" -c 'join r'
    assert_status 0
    run pcli --token "$TA" -c 'send r x' -c 'send r y'
    assert_status 0
    local x
    x=$(msg_id x)
    run pcli --token "$TB" -c "raw message:delivered {\"message_id\":$x}" -c "raw message:delete {\"message_id\":$x}"
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
    run pcli --token "$TA" -c "raw message:delete {\"message_id\":$x}"
    assert_status 0
    stats_of r
    expect_stats '{"room":"r","sent":2,"delivered":3,"read":2,"deleted":1}'
    stop_server
    start_server
    stats_of r
    expect_stats '{"room":"r","sent":2,"delivered":3,"read":2,"deleted":1}'
    stats_of
    expect_stats '{"sent":2,"delivered":3,"read":2,"deleted":1}'
}

@test "stats refusals: a room the caller is not in (existing or not) forbidden; bad room bad_request" {
    run pcli --token "$TA" -c 'join r' -c 'send r x'
    assert_status 0
    run pcli --token "$TC" -c 'raw message:stats {"room":"r"}' -c 'raw message:stats {"room":"ghost"}'
    assert_status 1
    expect_codes forbidden 2
    run pcli --token "$TC" -c 'raw message:stats {"room":5}' -c 'raw message:stats {"room":"sp ace"}' \
        -c 'raw message:stats {"room":""}' -c 'raw message:stats {"room":["r"]}'
    assert_status 1
    expect_codes bad_request 4
    # Server-wide needs no role: a plain user in no room may ask.
    run pcli --token "$TC" -c 'raw message:stats {}' -c 'raw message:stats {"room":null}'
    assert_status 0
    [ "$(jcount '.ok == true and .data == {"sent":1,"delivered":1,"read":1,"deleted":0}')" -eq 2 ] || fail "server-wide: $output"
}

@test "CLI: stats and stats ROOM; bad arguments are usage errors" {
    run pcli --token "$TA" -c 'join r' -c 'send r x' -c 'stats' -c 'stats r'
    assert_status 0
    expect_json '.ok == true and .data == {"sent":1,"delivered":1,"read":1,"deleted":0}'
    expect_json '.ok == true and .data == {"room":"r","sent":1,"delivered":1,"read":1,"deleted":0}'
    run pcli --token "$TB" -c 'stats r'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
    run pcli --token "$TA" -c 'stats r s'
    expect_usage
}
