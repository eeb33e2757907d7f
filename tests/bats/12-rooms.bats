#!/usr/bin/env bats
# Room events (PROTOCOL.md 4 Rooms, /tmp/issue3-spec.md): room:info,
# room:list with unread, room:online, and their refusals. Requests go out
# with `raw` so the suite does not depend on the CLI's new commands, except
# the tests that exercise those commands (info, rooms, online, history).

load helpers

setup() {
    start_server
    TA=$(token alice --name Alice)
    TB=$(token bob --name Bob)
    TC=$(token carol)
    OUT=$BATS_TEST_TMPDIR
}

# The fields of the room object (PROTOCOL.md 3) with their JSON types.
ROOM_OBJECT='(.room | type == "string") and (.private | type == "boolean") and (.created_by | type == "string")
    and (.created_at | type == "number") and (.member_count | type == "number")
    and (.online_count | type == "number") and (.last_seq | type == "number")'

@test "room:info: the room object, flat, plus members with user, name, role and status" {
    run pcli --token "$TB" -c 'join hall'
    assert_status 0
    run pcli --token "$TA" -c 'join hall' -c 'send hall one' -c 'send hall two' -c 'raw room:info {"room":"hall"}'
    assert_status 0
    local ack
    ack=$(jsel '.ok == true and .data.members != null' | tail -n 1)
    [ -n "$ack" ] || fail "no room:info ack: $output"
    jq -e ".data | $ROOM_OBJECT" <<<"$ack" >/dev/null || fail "not a room object: $ack"
    jq -e '.data | .room == "hall" and .private == false and .created_by == "bob" and .member_count == 2
        and .last_seq == 2 and .online_count == 1' <<<"$ack" >/dev/null || fail "wrong room fields: $ack"
    # Members: bob the creator (owner, not connected), alice (member, online,
    # her display name from the token).
    jq -e '.data.members | length == 2
        and (map(select(.user == "bob")) | .[0] | .role == "owner" and .status == "offline" and .name == "Bob")
        and (map(select(.user == "alice")) | .[0] | .role == "member" and .status == "online" and .name == "Alice")
        and all(has("user") and has("name") and has("role") and has("status"))' <<<"$ack" >/dev/null ||
        fail "wrong members: $ack"
    # created_at is ms since the epoch, within the last minute.
    local now
    now=$(date +%s%3N)
    jq -e --argjson now "$now" '.data.created_at > $now - 60000 and .data.created_at <= $now + 1000' <<<"$ack" >/dev/null ||
        fail "created_at is not ms since the epoch: $ack (now $now)"
}

@test "room:info counts online members: another member's live connection is online, then offline when it closes" {
    run pcli --token "$TA" -c 'join hall'
    assert_status 0
    bg_pcli "$OUT/b" --token "$TB" -c 'join hall' -c 'wait never-pushed 20000'
    local b=$BG_PID
    wait_joined "$OUT/b" hall "$b"
    run pcli --token "$TA" -c 'raw room:info {"room":"hall"}'
    assert_status 0
    expect_json '.ok == true and .data.online_count == 2 and .data.member_count == 2
        and (.data.members | all(.status == "online"))'
    kill -9 "$b"
    # The server notices the closed socket on its own time: ask until it has.
    eventually 5 bash -c 'out=$("$0" --json --token "$1" -c "raw room:info {\"room\":\"hall\"}") &&
        jq -e ".data.online_count == 1 and (.data.members[] | select(.user == \"bob\") | .status == \"offline\")" <<<"$out" >/dev/null' \
        "$PARLEY" "$TA"
}

@test "room:info lists at most 100 members while member_count counts all of them" {
    run pcli --token "$TA" -c 'join crowd'
    assert_status 0
    # 100 more members, four CLIs at a time.
    seq 1 100 | xargs -P 4 -I{} sh -c '"$0" --json --token "$("$0" token --secret "$1" --sub "user{}")" -c "join crowd" >/dev/null' \
        "$PARLEY" "$SECRET" || fail "a join failed"
    run pcli --token "$TA" -c 'raw room:info {"room":"crowd"}'
    assert_status 0
    expect_json '.ok == true and .data.member_count == 101 and (.data.members | length == 100)
        and (.data.members | map(.user) | unique | length == 100)'
}

@test "room:info refusals: non-member and unknown room are forbidden alike; bad names and types are bad_request" {
    run pcli --token "$TA" -c 'join hall private' -c 'send hall the-secret-words'
    assert_status 0
    run pcli --token "$TC" -c 'raw room:info {"room":"hall"}' -c 'raw room:info {"room":"no-such-room"}'
    assert_status 1
    expect_codes forbidden 2
    ! grep -q 'the-secret-words' <<<"$output" || fail "a refusal leaked the room's content: $output"
    # Same sentence for both, apart from the room name: no probing.
    local m1 m2
    m1=$(jsel '.ok == false' | sed -n 1p | jq -r '.error.message' | sed 's/hall/ROOM/g')
    m2=$(jsel '.ok == false' | sed -n 2p | jq -r '.error.message' | sed 's/no-such-room/ROOM/g')
    [ "$m1" = "$m2" ] || fail "the messages tell an existing room from an unknown one: '$m1' vs '$m2'"
    run pcli --token "$TC" \
        -c 'raw room:info {}' \
        -c 'raw room:info {"room":5}' \
        -c 'raw room:info {"room":["hall"]}' \
        -c 'raw room:info {"room":""}' \
        -c 'raw room:info {"room":"bad name"}' \
        -c "raw room:info {\"room\":\"$(printf 'x%.0s' $(seq 65))\"}"
    assert_status 1
    expect_codes bad_request 6
}

@test "room:list: every room the caller is a member of, each a room object with unread; none of the others" {
    run pcli --token "$TB" -c 'join r1' -c 'join r2' -c 'join r3'
    assert_status 0
    run pcli --token "$TA" -c 'join r1' -c 'join r2' -c 'join elsewhere' \
        -c 'send r1 a' -c 'send r1 b' -c 'send r1 c' -c 'send r2 d'
    assert_status 0
    # Bob was offline for all of it: r1 has 3 unread, r2 1, r3 none.
    run pcli --token "$TB" -c 'raw room:list {}'
    assert_status 0
    local ack
    ack=$(jfirst '.ok == true and .data.rooms != null')
    [ -n "$ack" ] || fail "no room:list ack: $output"
    jq -e ".data.rooms | length == 3 and all($ROOM_OBJECT and (.unread | type == \"number\"))" <<<"$ack" >/dev/null ||
        fail "not three room objects with unread: $ack"
    [ "$(jq -c '.data.rooms | map([.room, .unread, .last_seq]) | sort' <<<"$ack")" = '[["r1",3,3],["r2",1,1],["r3",0,0]]' ] ||
        fail "wrong rooms or unread: $ack"
    # Sending advances the sender's own read pointer: alice has nothing unread.
    run pcli --token "$TA" -c 'raw room:list {}'
    assert_status 0
    [ "$(jfirst '.ok == true' | jq -c '.data.rooms | map([.room, .unread]) | sort')" = '[["elsewhere",0],["r1",0],["r2",0]]' ] ||
        fail "alice's list: $output"
    # After leave:chat the room is no longer listed.
    run pcli --token "$TB" -c 'leave r3' -c 'raw room:list {}'
    assert_status 0
    expect_json '.ok == true and .data.rooms != null and (.data.rooms | map(.room) | sort == ["r1","r2"])'
    # A user in no room gets an empty list.
    run pcli --token "$TC" -c 'raw room:list {}'
    assert_status 0
    expect_json '.ok == true and .data.rooms == []'
}

@test "room:list unread counts what others sent since the caller's read pointer, also after the caller sends" {
    run pcli --token "$TB" -c 'join r'
    assert_status 0
    run pcli --token "$TA" -c 'join r' -c 'send r 1' -c 'send r 2'
    assert_status 0
    run pcli --token "$TB" -c 'raw room:list {}'
    expect_json '.ok == true and .data.rooms[0].unread == 2'
    # Bob's own message moves his pointer to it: nothing unread.
    run pcli --token "$TB" -c 'send r 3' -c 'raw room:list {}'
    assert_status 0
    expect_json '.ok == true and .data.rooms != null and .data.rooms[0].unread == 0 and .data.rooms[0].last_seq == 3'
    run pcli --token "$TA" -c 'raw room:list {}'
    expect_json '.ok == true and .data.rooms[0].unread == 1'
}

@test "room:online: the members whose status is not offline, as member objects" {
    run pcli --token "$TC" -c 'join hall'
    assert_status 0
    bg_pcli "$OUT/b" --token "$TB" -c 'join hall' -c 'wait never-pushed 20000'
    wait_joined "$OUT/b" hall "$BG_PID"
    run pcli --token "$TA" -c 'join hall' -c 'raw room:online {"room":"hall"}'
    assert_status 0
    local ack
    ack=$(jfirst '.ok == true and .data.users != null')
    [ -n "$ack" ] || fail "no room:online ack: $output"
    jq -e '.data.room == "hall" and (.data.users | map(.user) | sort == ["alice","bob"])
        and (.data.users | all(.status == "online" and (.name | type == "string") and (.role | type == "string")))
        and (.data.users[] | select(.user == "bob") | .name == "Bob" and .role == "member")' <<<"$ack" >/dev/null ||
        fail "wrong online users (carol is offline, alice and bob connected): $ack"
}

@test "room:online refusals: non-member and unknown room forbidden, bad room bad_request" {
    run pcli --token "$TA" -c 'join hall'
    assert_status 0
    run pcli --token "$TC" -c 'raw room:online {"room":"hall"}' -c 'raw room:online {"room":"nowhere"}' \
        -c 'raw room:online {}' -c 'raw room:online {"room":true}' -c 'raw room:online {"room":"a b"}'
    assert_status 1
    expect_codes forbidden 2
    expect_codes bad_request 3
}

@test "room:list ignores unknown fields; a non-object data is bad_request" {
    run pcli --token "$TA" -c 'join r' -c 'raw room:list {"room":"other","x":1}' -c 'raw room:list []'
    assert_status 1
    expect_json '.ok == true and (.data.rooms | map(.room) == ["r"])'
    expect_json '.event == "error" and .data.code == "bad_request"'
}

@test "CLI: info, rooms and online print the server's acks" {
    run pcli --token "$TB" -c 'join hall'
    assert_status 0
    run pcli --token "$TA" -c 'join hall' -c 'send hall x' -c 'info hall' -c 'rooms' -c 'online hall'
    assert_status 0
    [ "$(jcount '.ok == true and .data.members != null')" -eq 2 ] || fail "want the join ack and the info ack: $output"
    jsel '.ok == true and .data.members != null' | tail -n 1 |
        jq -e '.data.room == "hall" and .data.member_count == 2 and (.data.members | length == 2)' >/dev/null ||
        fail "info ack: $output"
    expect_json '.ok == true and (.data.rooms | map([.room, .unread]) == [["hall",0]])'
    expect_json '.ok == true and .data.room == "hall" and (.data.users | map(.user) == ["alice"])'
    # A refusal is the server's ack too, and exit status 1.
    run pcli --token "$TC" -c 'info hall'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
}

@test "CLI: info, rooms, online and history with bad arguments are usage errors (exit 2), nothing sent" {
    local cmd
    # bare 'online' sets one's status (issue 4): not a usage error any more
    for cmd in 'info' 'info a b' 'rooms extra' 'online a b' 'history' 'history r --limit' \
        'history r --limit x' 'history r --before' 'history r --before 1.5' 'history r --bogus 3'; do
        run pcli --token "$TA" -c "$cmd"
        expect_usage || fail "command: $cmd"
    done
}

@test "CLI: history with --before and --limit" {
    run pcli --token "$TA" -c 'join r' -c 'send r 1' -c 'send r 2' -c 'send r 3' -c 'send r 4' \
        -c 'history r --before 4 --limit 2' -c 'history r --limit 1'
    assert_status 0
    expect_json '.ok == true and (.data.messages | map(.text) == ["2","3"]) and .data.has_more == true'
    expect_json '.ok == true and (.data.messages | map(.text) == ["4"]) and .data.has_more == true'
}
