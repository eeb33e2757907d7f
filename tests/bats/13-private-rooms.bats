#!/usr/bin/env bats
# Private rooms and room:invite (PROTOCOL.md 4 Rooms, /tmp/issue3-spec.md):
# only invited users, the owner and admins may join; only a member who is
# the owner or an admin may invite; nothing tells a private room from one
# that does not exist.

load helpers

setup() {
    start_server
    TA=$(token alice)
    TB=$(token bob)
    TC=$(token carol)
    TD=$(token dave --role admin)
    OUT=$BATS_TEST_TMPDIR
}

@test "the owner invites: the invited user may join the private room, others still may not" {
    run pcli --token "$TA" -c 'join vault private' -c 'send vault for-members-only'
    assert_status 0
    run pcli --token "$TB" -c 'join vault'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
    run pcli --token "$TA" -c 'raw room:invite {"room":"vault","user":"bob"}'
    assert_status 0
    expect_json '.ok == true and .data == {"room":"vault","user":"bob"}'
    run pcli --token "$TB" -c 'join vault' -c 'history vault'
    assert_status 0
    expect_json '.ok == true and .data.room == "vault" and .data.private == true and .data.role == "member"'
    expect_json '.ok == true and (.data.messages | map(.text) == ["for-members-only"])'
    run pcli --token "$TC" -c 'join vault'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
}

@test "the invited user's join is announced to the room" {
    run pcli --token "$TA" -c 'join vault private' -c 'raw room:invite {"room":"vault","user":"bob"}'
    assert_status 0
    bg_pcli "$OUT/a" --token "$TA" -c 'join vault' -c 'wait room:user-joined 10000'
    local a=$BG_PID
    wait_joined "$OUT/a" vault "$a"
    run pcli --token "$TB" -c 'join vault'
    assert_status 0
    bg_ok "$a" "$OUT/a"
    expect_json '.event == "room:user-joined" and .data.room == "vault" and .data.user == "bob"' "$(cat "$OUT/a")"
}

@test "a user id that never connected can be invited, and joins later" {
    run pcli --token "$TA" -c 'join vault private' -c 'raw room:invite {"room":"vault","user":"zed.new@example-1"}'
    assert_status 0
    expect_json '.ok == true and .data == {"room":"vault","user":"zed.new@example-1"}'
    run pcli --token "$(token zed.new@example-1)" -c 'join vault'
    assert_status 0
    expect_json '.ok == true and .data.role == "member"'
}

@test "an invitation survives a restart" {
    run pcli --token "$TA" -c 'join vault private' -c 'raw room:invite {"room":"vault","user":"bob"}'
    assert_status 0
    stop_server
    start_server
    run pcli --token "$TB" -c 'join vault'
    assert_status 0
    expect_json '.ok == true and .data.private == true and .data.role == "member"'
    run pcli --token "$TC" -c 'join vault'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
}

@test "a member who is not the owner may not invite (private or public room): forbidden" {
    run pcli --token "$TA" -c 'join vault private' -c 'raw room:invite {"room":"vault","user":"bob"}' -c 'join plaza'
    assert_status 0
    run pcli --token "$TB" -c 'join vault' -c 'join plaza' \
        -c 'raw room:invite {"room":"vault","user":"carol"}' \
        -c 'raw room:invite {"room":"plaza","user":"carol"}'
    assert_status 1
    expect_codes forbidden 2
    # The refused invitation let nobody in.
    run pcli --token "$TC" -c 'join vault'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
}

@test "a non-member may not invite, even into a room that does not exist: forbidden alike, no probing" {
    run pcli --token "$TA" -c 'join vault private' -c 'send vault hidden-words'
    assert_status 0
    run pcli --token "$TC" -c 'raw room:invite {"room":"vault","user":"carol"}' \
        -c 'raw room:invite {"room":"nothing-here","user":"carol"}'
    assert_status 1
    expect_codes forbidden 2
    ! grep -q 'hidden-words' <<<"$output" || fail "a refusal leaked content: $output"
    local m1 m2
    m1=$(jsel '.ok == false' | sed -n 1p | jq -r '.error.message' | sed 's/vault/ROOM/g')
    m2=$(jsel '.ok == false' | sed -n 2p | jq -r '.error.message' | sed 's/nothing-here/ROOM/g')
    [ "$m1" = "$m2" ] || fail "the messages tell a private room from an unknown one: '$m1' vs '$m2'"
    # Carol invited herself into neither.
    run pcli --token "$TC" -c 'join vault'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
}

@test "an admin who is not a member may not invite; an admin may join a private room and then invite" {
    run pcli --token "$TA" -c 'join vault private'
    assert_status 0
    run pcli --token "$TD" -c 'raw room:invite {"room":"vault","user":"carol"}'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
    run pcli --token "$TD" -c 'join vault' -c 'raw room:invite {"room":"vault","user":"carol"}'
    assert_status 0
    expect_json '.ok == true and .data.role == "member" and .data.private == true'
    expect_json '.ok == true and .data == {"room":"vault","user":"carol"}'
    run pcli --token "$TC" -c 'join vault'
    assert_status 0
    expect_json '.ok == true and .data.role == "member"'
}

@test "a private room is invisible to others: room:info, room:online, room:list, history, send" {
    run pcli --token "$TA" -c 'join vault private' -c 'send vault private-text'
    assert_status 0
    run pcli --token "$TC" -c 'raw room:info {"room":"vault"}' -c 'raw room:online {"room":"vault"}' \
        -c 'history vault' -c 'send vault intrusion' -c 'raw message:typing-users {"room":"vault"}' \
        -c 'raw room:subscription-status {"room":"vault"}' -c 'raw message:stats {"room":"vault"}'
    assert_status 1
    expect_codes forbidden 7
    ! grep -q 'private-text' <<<"$output" || fail "leaked: $output"
    run pcli --token "$TC" -c 'raw room:list {}'
    assert_status 0
    expect_json '.ok == true and .data.rooms == []'
}

@test "room:invite bad fields are bad_request" {
    run pcli --token "$TA" -c 'join vault private'
    assert_status 0
    local long
    long=$(printf 'u%.0s' $(seq 65))
    run pcli --token "$TA" \
        -c 'raw room:invite {"room":"vault"}' \
        -c 'raw room:invite {"room":"vault","user":""}' \
        -c 'raw room:invite {"room":"vault","user":"bad user"}' \
        -c 'raw room:invite {"room":"vault","user":"semi;colon"}' \
        -c "raw room:invite {\"room\":\"vault\",\"user\":\"$long\"}" \
        -c 'raw room:invite {"room":"vault","user":42}' \
        -c 'raw room:invite {"room":"vault","user":["bob"]}' \
        -c 'raw room:invite {"user":"bob"}' \
        -c 'raw room:invite {"room":"bad room","user":"bob"}' \
        -c 'raw room:invite {"room":7,"user":"bob"}'
    assert_status 1
    expect_codes bad_request 10
    # A user id of exactly 64 characters is fine.
    run pcli --token "$TA" -c "raw room:invite {\"room\":\"vault\",\"user\":\"${long:1}\"}"
    assert_status 0
    expect_json ".ok == true and .data.user == \"${long:1}\""
}

@test "CLI: invite ROOM USER; bad arguments are usage errors" {
    run pcli --token "$TA" -c 'join vault private' -c 'invite vault bob'
    assert_status 0
    expect_json '.ok == true and .data == {"room":"vault","user":"bob"}'
    run pcli --token "$TB" -c 'join vault'
    assert_status 0
    run pcli --token "$TB" -c 'invite vault carol'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
    local cmd
    for cmd in 'invite' 'invite vault' 'invite vault bob carol'; do
        run pcli --token "$TA" -c "$cmd"
        expect_usage || fail "command: $cmd"
    done
}
