#!/usr/bin/env bats
# Rooms and live messages (PROTOCOL.md 4): join:chat, leave:chat,
# message:send, message:new to the room's other connections, forbidden for
# non-members, private rooms.

load helpers

setup() {
    start_server
    TA=$(token alice --name Alice)
    TB=$(token bob)
    TC=$(token carol)
    OUT=$BATS_TEST_TMPDIR
}

# joined FILE ROOM [PID]: waits until FILE holds the ok ack of join ROOM.
joined() {
    wait_for_json "$1" ".ok == true and .data.role != null and (.data | rname) == \"$2\"" 10 "${3:-}"
}

@test "a message reaches the other member as message:new with room, user, name, text and seq" {
    bg_start "$OUT/b" pcli --token "$TB" -c 'join lobby' -c 'wait message:new 10000'
    local b=$BG_PID
    joined "$OUT/b" lobby "$b"
    run pcli --token "$TA" -c 'join lobby' -c 'send lobby hello   world'
    assert_status 0
    local ack
    ack=$(jfirst '.ok == true and .data.message != null')
    [ -n "$ack" ] || fail "no send ack: $output"
    jq -e '.data.message | .room == "lobby" and .user == "alice" and .name == "Alice" and .seq == 1
        and (.text | startswith("hello")) and (.id | type == "number") and (.ts | type == "number")
        and .client_msg_id == null and .reply_to == null and .deleted == false' <<<"$ack" >/dev/null ||
        fail "bad ack: $ack"
    bg_wait "$b"
    [ "$BG_STATUS" -eq 0 ] || fail "bob's wait failed ($BG_STATUS): $(cat "$OUT/b" "$OUT/b.err")"
    local push
    push=$(jfirst '.event == "message:new"' "$(cat "$OUT/b")")
    [ -n "$push" ] || fail "bob got no message:new: $(cat "$OUT/b")"
    # The push carries the same message as the ack.
    [ "$(jq -cS .data.message <<<"$push")" = "$(jq -cS .data.message <<<"$ack")" ] ||
        fail "push and ack differ:" "$push" "$ack"
    # ts is now, in milliseconds.
    local now
    now=$(date +%s%3N)
    jq -e --argjson now "$now" '.data.message.ts > $now - 60000 and .data.message.ts <= $now + 1000' <<<"$push" >/dev/null ||
        fail "ts is not ms since the epoch: $push (now $now)"
}

@test "without a name claim, name is the user id" {
    bg_start "$OUT/a" pcli --token "$TA" -c 'join lobby' -c 'wait message:new 10000'
    joined "$OUT/a" lobby "$BG_PID"
    run pcli --token "$TB" -c 'join lobby' -c 'send lobby hi'
    assert_status 0
    expect_json '.ok == true and .data.message.user == "bob" and .data.message.name == "bob"'
}

@test "the sending connection gets no message:new; the sender's other connection does" {
    # a2: alice's second device, subscribed to lobby.
    bg_start "$OUT/a2" pcli --token "$TA" -c 'join lobby' -c 'wait message:new 10000'
    local a2=$BG_PID
    joined "$OUT/a2" lobby "$a2"
    # a1 sends "one", then waits for a message:new: the first it gets must be
    # bob's "two", sent after a1's ack, never its own "one".
    bg_start "$OUT/a1" pcli --token "$TA" -c 'join lobby' -c 'send lobby one' -c 'wait message:new 10000'
    local a1=$BG_PID
    wait_for_json "$OUT/a1" '.ok == true and .data.message.text == "one"' 10 "$a1"
    run pcli --token "$TB" -c 'join lobby' -c 'send lobby two'
    assert_status 0
    bg_wait "$a1"
    [ "$BG_STATUS" -eq 0 ] || fail "a1 failed: $(cat "$OUT/a1" "$OUT/a1.err")"
    expect_no_json '.event == "message:new" and .data.message.text == "one"' "$(cat "$OUT/a1")"
    expect_json '.event == "message:new" and .data.message.text == "two" and .data.message.user == "bob"' "$(cat "$OUT/a1")"
    bg_wait "$a2"
    [ "$BG_STATUS" -eq 0 ] || fail "a2 failed: $(cat "$OUT/a2" "$OUT/a2.err")"
    expect_json '.event == "message:new" and .data.message.text == "one" and .data.message.user == "alice"' "$(cat "$OUT/a2")"
}

@test "seq starts at 1 and increases by exactly 1 per message, per room" {
    run pcli --token "$TA" -c 'join r1' -c 'join r2' -c 'send r1 a' -c 'send r1 b' -c 'send r2 c' -c 'send r1 d'
    assert_status 0
    [ "$(jsel '.ok == true and .data.message.room == "r1"' | jq -s -c 'map(.data.message.seq)')" = "[1,2,3]" ] ||
        fail "r1 seqs: $output"
    [ "$(jsel '.ok == true and .data.message.room == "r2"' | jq -s -c 'map(.data.message.seq)')" = "[1]" ] ||
        fail "r2 seqs: $output"
    # ids are unique server-wide
    [ "$(jsel '.ok == true and .data.message != null' | jq -s 'map(.data.message.id) | unique | length')" = 4 ] ||
        fail "ids not unique: $output"
    run pcli --token "$TB" -c 'join r1' -c 'send r1 e'
    assert_status 0
    expect_json '.ok == true and .data.message.seq == 4 and .data.message.user == "bob"'
}

@test "join:chat creates the room with the caller as owner; a later joiner is a member" {
    run pcli --token "$TA" -c 'join fresh'
    assert_status 0
    expect_json '.ok == true and .data.room == "fresh" and .data.role == "owner" and .data.private == false
        and .data.created_by == "alice" and (.data.created_at | type == "number") and .data.member_count == 1
        and .data.last_seq == 0 and (.data.members | map(.user) == ["alice"])
        and (.data.members[0].role == "owner")'
    run pcli --token "$TB" -c 'join fresh'
    assert_status 0
    expect_json '.ok == true and .data.room == "fresh" and .data.role == "member" and .data.member_count == 2
        and .data.created_by == "alice" and (.data.members | map(.user) | sort == ["alice","bob"])'
    # Joining again is harmless and keeps the role.
    run pcli --token "$TA" -c 'join fresh'
    assert_status 0
    expect_json '.ok == true and .data.role == "owner" and .data.member_count == 2'
}

@test "message:send to a room the caller is not a member of is forbidden, whether it exists or not" {
    run pcli --token "$TA" -c 'join guarded' -c 'send guarded hi'
    assert_status 0
    run pcli --token "$TC" -c 'send guarded intrusion'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden" and (.error.message | length > 0)'
    run pcli --token "$TC" -c 'send no-such-room hello'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
    run pcli --token "$TC" -c 'history guarded'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
    run pcli --token "$TC" -c 'leave guarded'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
    # The intrusion was not stored.
    run pcli --token "$TA" -c 'join guarded' -c 'history guarded'
    assert_status 0
    expect_json '.ok == true and (.data.messages | map(.text) == ["hi"])'
}

@test "after leave:chat, sending is forbidden and the connection gets no more messages" {
    run pcli --token "$TB" -c 'join r' -c 'join other' -c 'leave r' -c 'send r after-leave'
    assert_status 1
    expect_json '.ok == true and .data.room == "r" and .data.role == null'
    expect_json '.ok == false and .error.code == "forbidden"'
    # A connection that joined and left r gets nothing from r: the first
    # message:new it sees is the one from "other", sent after r's.
    bg_start "$OUT/b" pcli --token "$TB" -c 'join r' -c 'join other' -c 'leave r' -c 'wait message:new 10000'
    local b=$BG_PID
    wait_for_json "$OUT/b" '.ok == true and .data.room == "r" and .data.role == null' 10 "$b"
    run pcli --token "$TA" -c 'join r' -c 'join other' -c 'send r in-r' -c 'send other in-other'
    assert_status 0
    bg_wait "$b"
    [ "$BG_STATUS" -eq 0 ] || fail "bob failed: $(cat "$OUT/b" "$OUT/b.err")"
    expect_no_json '.event == "message:new" and .data.message.room == "r"' "$(cat "$OUT/b")"
    expect_json '.event == "message:new" and .data.message.text == "in-other"' "$(cat "$OUT/b")"
}

@test "membership is stored, subscriptions are per connection: a new connection gets nothing until it joins" {
    run pcli --token "$TB" -c 'join r' -c 'join s'
    assert_status 0
    # Bob's new connection joins only s; r's message must not reach it.
    bg_start "$OUT/b" pcli --token "$TB" -c 'join s' -c 'wait message:new 10000'
    local b=$BG_PID
    joined "$OUT/b" s "$b"
    run pcli --token "$TA" -c 'join r' -c 'join s' -c 'send r to-r' -c 'send s to-s'
    assert_status 0
    bg_wait "$b"
    [ "$BG_STATUS" -eq 0 ] || fail "bob failed: $(cat "$OUT/b" "$OUT/b.err")"
    expect_no_json '.event == "message:new" and .data.message.room == "r"' "$(cat "$OUT/b")"
    expect_json '.event == "message:new" and .data.message.text == "to-s"' "$(cat "$OUT/b")"
    # Bob is still a member of r (stored) so his history works without joining.
    run pcli --token "$TB" -c 'history r'
    assert_status 0
    expect_json '.ok == true and (.data.messages | map(.text) == ["to-r"])'
}

@test "a private room stores its flag and refuses other users with forbidden, across a restart" {
    run pcli --token "$TA" -c 'join vault private' -c 'send vault secret-text'
    assert_status 0
    expect_json '.ok == true and .data.room == "vault" and .data.private == true and .data.role == "owner"'
    run pcli --token "$TB" -c 'join vault'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
    run pcli --token "$TB" -c 'history vault'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
    stop_server
    start_server
    run pcli --token "$TA" -c 'join vault'
    assert_status 0
    expect_json '.ok == true and .data.private == true and .data.role == "owner" and .data.last_seq == 1'
    run pcli --token "$TB" -c 'join vault'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
}

@test "the private flag counts only when creating the room" {
    run pcli --token "$TA" -c 'join open'
    assert_status 0
    expect_json '.ok == true and .data.private == false'
    run pcli --token "$TB" -c 'join open private'
    assert_status 0
    expect_json '.ok == true and .data.private == false and .data.role == "member"'
    run pcli --token "$TC" -c 'join open'
    assert_status 0
}

@test "a room's messages survive a restart and seq continues" {
    run pcli --token "$TA" -c 'join keep' -c 'send keep one' -c 'send keep two'
    assert_status 0
    stop_server
    start_server
    run pcli --token "$TA" -c 'join keep' -c 'send keep three' -c 'history keep'
    assert_status 0
    expect_json '.ok == true and .data.message.seq == 3'
    expect_json '.ok == true and (.data.messages | map([.seq, .text]) == [[1,"one"],[2,"two"],[3,"three"]])'
}

@test "reply_to names a message of the same room; another room's message or an unknown id is not_found" {
    run pcli --token "$TA" -c 'join r' -c 'join s' -c 'send r first' -c 'send s elsewhere'
    assert_status 0
    local x y
    x=$(jfirst '.ok == true and .data.message.text == "first"' | jq .data.message.id)
    y=$(jfirst '.ok == true and .data.message.text == "elsewhere"' | jq .data.message.id)
    run pcli --token "$TB" -c 'join r' -c "send --reply-to $x r an answer"
    assert_status 0
    expect_json ".ok == true and .data.message.reply_to == $x and .data.message.seq == 2"
    run pcli --token "$TB" -c "send --reply-to $y r wrong room" -c "send --reply-to 999999 r no such"
    assert_status 1
    [ "$(jcount '.ok == false and .error.code == "not_found"')" -eq 2 ] || fail "want 2 not_found: $output"
    run pcli --token "$TA" -c 'history r'
    expect_json ".ok == true and (.data.messages | map([.text, .reply_to]) == [[\"first\",null],[\"an answer\",$x]])"
}

@test "joining announces room:user-joined {room, user, name} to the room, leaving room:user-left {room, user}" {
    bg_start "$OUT/a" pcli --token "$TA" -c 'join r' -c 'wait room:user-joined 10000' -c 'wait room:user-left 10000'
    local a=$BG_PID
    joined "$OUT/a" r "$a"
    run pcli --token "$(token carol --name Carol)" -c 'join r' -c 'leave r'
    assert_status 0
    bg_wait "$a"
    [ "$BG_STATUS" -eq 0 ] || fail "alice failed: $(cat "$OUT/a" "$OUT/a.err")"
    expect_json '.event == "room:user-joined" and .data == {"room":"r","user":"carol","name":"Carol"}' "$(cat "$OUT/a")"
    expect_json '.event == "room:user-left" and .data == {"room":"r","user":"carol"}' "$(cat "$OUT/a")"
}
