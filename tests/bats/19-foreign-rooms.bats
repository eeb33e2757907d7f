#!/usr/bin/env bats
# Every room and messaging event spoken by a client nobody here wrote:
# Python `websockets` through tests/clients/rooms_client.py (TAP), then what
# it left behind read back with the real CLI.

load helpers

setup() {
    start_server
    OUT=$BATS_TEST_TMPDIR
}

ROOMS_CLIENT_CHECKS=76

# run_rooms_client PREFIX: runs the client with alice, bob, carol and the
# admin dave; fails the test unless every check passed.
run_rooms_client() {
    run --separate-stderr "$PY" "$CLIENTS/rooms_client.py" "$PARLEY_URL" \
        "$(token alice --name Alice)" "$(token bob)" "$(token carol)" "$(token dave --role admin)" "$1"
    if [ "$status" -ne 0 ] || grep -q '^not ok' <<<"$output"; then
        fail "rooms_client.py failed (status $status):" "$output" "--- stderr:" "$stderr"
    fi
    grep -qE '^1\.\.[0-9]+$' <<<"$output" || fail "no TAP plan: $output"
    [ "$(grep -c '^ok ' <<<"$output")" -eq "$ROOMS_CLIENT_CHECKS" ] ||
        fail "want $ROOMS_CLIENT_CHECKS passing checks: $output"
}

@test "Python websockets: rooms, invitations, subscriptions, typing, receipts, stats, delete and their refusals" {
    run_rooms_client pyr
}

@test "what the Python client did is what the CLI reads back" {
    run_rooms_client shared
    # Bob left the vault; carol was invited by the admin and may join.
    run pcli --token "$(token carol)" -c 'join shared-vault' -c 'raw room:list {}' -c 'history shared-pub'
    assert_status 0
    expect_json '.ok == true and .data.role == "member" and .data.private == true'
    expect_json '.ok == true and .data.rooms != null and (.data.rooms | map(.room) | sort == ["shared-pub","shared-vault"])'
    expect_json '.ok == true and (.data.messages | map([.seq, .text, .deleted]) == [[1,"",true],[2,"",true],[3,"py message 3",false]])'
    run pcli --token "$(token bob)" -c 'raw room:list {}'
    assert_status 0
    expect_json '.ok == true and (.data.rooms | map([.room, .unread]) == [["shared-pub",0]])'
}
