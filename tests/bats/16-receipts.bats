#!/usr/bin/env bats
# Delivery and read receipts (PROTOCOL.md 4 Messaging, /tmp/issue3-spec.md):
# message:delivered and message:read are cumulative per room, read implies
# delivered, pushes go to every connection of the author (not for the
# author's own receipts, not when nothing changed), message:delivery-status
# splits the other members into delivered_to / read_by / pending, and
# unread follows the read pointer.

load helpers

setup() {
    start_server
    TA=$(token alice)
    TB=$(token bob)
    TC=$(token carol)
    OUT=$BATS_TEST_TMPDIR
}

# scene: room r with alice, bob and carol (joined first), then alice's
# messages m1 m2 m3 (seq 1..3). Sets M1 M2 M3.
scene() {
    run pcli --token "$TB" -c 'join r'
    assert_status 0
    run pcli --token "$TC" -c 'join r'
    assert_status 0
    run pcli --token "$TA" -c 'join r' -c 'send r m1' -c 'send r m2' -c 'send r m3'
    assert_status 0
    M1=$(msg_id m1)
    M2=$(msg_id m2)
    M3=$(msg_id m3)
}

# status_of ID [TOKEN]: the delivery-status ack of message ID (as alice by
# default), in STATUS.
status_of() {
    run pcli --token "${2:-$TA}" -c "raw message:delivery-status {\"message_id\":$1}"
    assert_status 0
    STATUS=$(jfirst '.ok == true and .data.pending != null')
    [ -n "$STATUS" ] || fail "no delivery-status ack: $output"
}

# users FIELD: the sorted users of STATUS's FIELD, as compact JSON.
users() {
    jq -c ".data.$1 | map(if type == \"object\" then .user else . end) | sort" <<<"$STATUS"
}

@test "message:read is cumulative: reading m3 marks m1..m3 read and delivered; the ack has last_read_seq" {
    scene
    run pcli --token "$TB" -c "raw message:read {\"message_id\":$M3}"
    assert_status 0
    expect_json ".ok == true and .data == {\"message_id\":$M3,\"room\":\"r\",\"last_read_seq\":3}"
    local m
    for m in "$M1" "$M2" "$M3"; do
        status_of "$m"
        [ "$(users read_by)" = '["bob"]' ] || fail "read_by of $m: $STATUS"
        [ "$(users delivered_to)" = '["bob"]' ] || fail "delivered_to of $m (read implies delivered): $STATUS"
        [ "$(users pending)" = '["carol"]' ] || fail "pending of $m: $STATUS"
        jq -e '.data.message_id == '"$m"' and (.data.read_by + .data.delivered_to | all(.ts | type == "number"))' <<<"$STATUS" >/dev/null ||
            fail "bad shape: $STATUS"
    done
}

@test "message:delivered is cumulative and only delivers: m2 delivered leaves m3 pending" {
    scene
    run pcli --token "$TC" -c "raw message:delivered {\"message_id\":$M2}"
    assert_status 0
    expect_json ".ok == true and .data == {\"message_id\":$M2}"
    status_of "$M1"
    [ "$(users delivered_to)" = '["carol"]' ] && [ "$(users read_by)" = '[]' ] && [ "$(users pending)" = '["bob"]' ] ||
        fail "m1: $STATUS"
    status_of "$M2"
    [ "$(users delivered_to)" = '["carol"]' ] && [ "$(users read_by)" = '[]' ] || fail "m2: $STATUS"
    status_of "$M3"
    [ "$(users delivered_to)" = '[]' ] && [ "$(users pending)" = '["bob","carol"]' ] || fail "m3: $STATUS"
    # Any member may ask, not only the author.
    status_of "$M2" "$TB"
    [ "$(users delivered_to)" = '["carol"]' ] || fail "asked by bob: $STATUS"
}

@test "delivery-status: delivered_to includes readers, read_by only readers, pending the rest; the author is never listed" {
    scene
    run pcli --token "$TB" -c "raw message:read {\"message_id\":$M2}"
    assert_status 0
    run pcli --token "$TC" -c "raw message:delivered {\"message_id\":$M3}"
    assert_status 0
    status_of "$M2"
    [ "$(users read_by)" = '["bob"]' ] || fail "read_by: $STATUS"
    [ "$(users delivered_to)" = '["bob","carol"]' ] || fail "delivered_to: $STATUS"
    [ "$(users pending)" = '[]' ] || fail "pending: $STATUS"
    status_of "$M3"
    [ "$(users read_by)" = '[]' ] && [ "$(users delivered_to)" = '["carol"]' ] && [ "$(users pending)" = '["bob"]' ] ||
        fail "m3: $STATUS"
    # ts is when it happened, in ms.
    local now
    now=$(date +%s%3N)
    jq -e --argjson now "$now" '.data.delivered_to | all(.ts > $now - 60000 and .ts <= $now + 1000)' <<<"$STATUS" >/dev/null ||
        fail "ts not ms since the epoch: $STATUS"
}

@test "the read push reaches both connections of the author with {message_id, room, user, ts}" {
    scene
    # a1: subscribed to r; a2: alice's connection subscribed to nothing
    # (receipts go to every connection of the author).
    bg_pcli "$OUT/a1" --token "$TA" -c 'join r' -c 'wait message:read 10000'
    local a1=$BG_PID
    wait_joined "$OUT/a1" r "$a1"
    bg_pcli "$OUT/a2" --token "$TA" -c 'raw room:list {}' -c 'wait message:read 10000'
    local a2=$BG_PID
    wait_for_json "$OUT/a2" '.ok == true and .data.rooms != null' 10 "$a2"
    run pcli --token "$TB" -c "raw message:read {\"message_id\":$M3}"
    assert_status 0
    bg_ok "$a1" "$OUT/a1"
    bg_ok "$a2" "$OUT/a2"
    local f now
    now=$(date +%s%3N)
    for f in a1 a2; do
        expect_json ".event == \"message:read\" and .data.message_id == $M3 and .data.room == \"r\" and .data.user == \"bob\"
            and (.data.ts | type == \"number\") and .data.ts > $now - 60000 and (.data | keys == [\"message_id\",\"room\",\"ts\",\"user\"])" \
            "$(cat "$OUT/$f")" || fail "connection $f"
    done
}

@test "the delivered push reaches the author; no push to the reader; none when nothing changed" {
    scene
    bg_pcli "$OUT/a" --token "$TA" -c 'join r' -c 'wait message:delivered 10000' -c 'wait message:new 10000'
    local a=$BG_PID
    wait_joined "$OUT/a" r "$a"
    # Bob: delivered m2, then again m2 and m1 (nothing changes), then a
    # message as the fence. Alice must see exactly one delivered push.
    # Bob's pushes, if any, would come before the ack of his later send.
    run pcli --token "$TB" -c 'join r' -c "raw message:delivered {\"message_id\":$M2}" \
        -c "raw message:delivered {\"message_id\":$M2}" -c "raw message:delivered {\"message_id\":$M1}" \
        -c 'send r fence'
    assert_status 0
    [ "$(jsel '.ok == true and .data.message_id != null' | jq -s -c 'map(.data)')" = \
        "[{\"message_id\":$M2},{\"message_id\":$M2},{\"message_id\":$M1}]" ] || fail "bob's acks: $output"
    expect_no_json '.event == "message:delivered"'
    bg_ok "$a" "$OUT/a"
    [ "$(jsel '.event == "message:delivered"' "$(cat "$OUT/a")" | jq -s -c 'map(.data | [.message_id, .room, .user])')" = \
        "[[$M2,\"r\",\"bob\"]]" ] || fail "want one delivered push for m2: $(cat "$OUT/a")"
}

@test "a read that changes nothing and the author's own read push nothing; reading an older message does not move the pointer back" {
    scene
    bg_pcli "$OUT/a" --token "$TA" -c 'join r' -c 'wait message:read 10000' -c 'wait message:new 10000'
    local a=$BG_PID
    wait_joined "$OUT/a" r "$a"
    # Alice reads her own m3 (no push to her other connection), bob reads m2
    # (one push), then m2 and m1 again (nothing changed), then the fence.
    run pcli --token "$TA" -c "raw message:read {\"message_id\":$M3}"
    assert_status 0
    run pcli --token "$TB" -c "raw message:read {\"message_id\":$M2}" -c "raw message:read {\"message_id\":$M2}" \
        -c "raw message:read {\"message_id\":$M1}" -c 'send r fence'
    assert_status 0
    [ "$(jsel '.ok == true and .data.last_read_seq != null' | jq -s -c 'map(.data.last_read_seq)')" = '[2,2,2]' ] ||
        fail "last_read_seq should stay 2: $output"
    bg_ok "$a" "$OUT/a"
    [ "$(jsel '.event == "message:read"' "$(cat "$OUT/a")" | jq -s -c 'map(.data | [.message_id, .user])')" = \
        "[[$M2,\"bob\"]]" ] || fail "want one read push (bob, m2): $(cat "$OUT/a")"
}

@test "unread in room:list counts messages sent while the member was offline and falls as the read pointer moves" {
    scene
    run pcli --token "$TB" -c 'raw room:list {}'
    expect_json '.ok == true and .data.rooms[0].unread == 3'
    run pcli --token "$TB" -c "raw message:delivered {\"message_id\":$M3}" -c 'raw room:list {}'
    expect_json '.ok == true and .data.rooms != null and .data.rooms[0].unread == 3' || fail "delivered is not read"
    run pcli --token "$TB" -c "raw message:read {\"message_id\":$M1}" -c 'raw room:list {}' \
        -c "raw message:read {\"message_id\":$M3}" -c 'raw room:list {}'
    assert_status 0
    [ "$(jsel '.ok == true and .data.rooms != null' | jq -s -c 'map(.data.rooms[0].unread)')" = '[2,0]' ] ||
        fail "unread did not fall 2, 0: $output"
    # More messages while bob is away: counted.
    run pcli --token "$TA" -c 'send r m4' -c 'send r m5'
    assert_status 0
    run pcli --token "$TB" -c 'raw room:list {}'
    expect_json '.ok == true and .data.rooms[0].unread == 2 and .data.rooms[0].last_seq == 5'
    # Carol never read anything.
    run pcli --token "$TC" -c 'raw room:list {}'
    expect_json '.ok == true and .data.rooms[0].unread == 5'
}

@test "a member who joins later starts with nothing unread and counts as a reader of the earlier messages" {
    scene
    run pcli --token "$(token dave)" -c 'join r' -c 'raw room:list {}'
    assert_status 0
    expect_json '.ok == true and .data.rooms != null and .data.rooms[0].unread == 0 and .data.rooms[0].last_seq == 3'
    status_of "$M2"
    [ "$(users read_by)" = '["dave"]' ] && [ "$(users delivered_to)" = '["dave"]' ] &&
        [ "$(users pending)" = '["bob","carol"]' ] || fail "dave's pointers start at last_seq 3: $STATUS"
    jq -e '.data.read_by + .data.delivered_to | all(.ts | type == "number")' <<<"$STATUS" >/dev/null ||
        fail "ts missing: $STATUS"
    # A message after dave joined is pending for him.
    run pcli --token "$TA" -c 'send r m4'
    local m4
    m4=$(msg_id m4)
    status_of "$m4"
    [ "$(users pending)" = '["bob","carol","dave"]' ] || fail "m4: $STATUS"
}

@test "receipts are stored: delivery-status and unread survive a restart" {
    scene
    run pcli --token "$TB" -c "raw message:read {\"message_id\":$M2}"
    assert_status 0
    run pcli --token "$TC" -c "raw message:delivered {\"message_id\":$M1}"
    assert_status 0
    stop_server
    start_server
    status_of "$M1"
    [ "$(users read_by)" = '["bob"]' ] && [ "$(users delivered_to)" = '["bob","carol"]' ] && [ "$(users pending)" = '[]' ] ||
        fail "after restart: $STATUS"
    run pcli --token "$TB" -c 'raw room:list {}'
    expect_json '.ok == true and .data.rooms[0].unread == 1'
}

@test "receipt refusals: bad message_id is bad_request, unknown is not_found" {
    scene
    local ev bad
    for ev in message:delivered message:read message:delivery-status; do
        run pcli --token "$TB" \
            -c "raw $ev {}" \
            -c "raw $ev {\"message_id\":0}" \
            -c "raw $ev {\"message_id\":-1}" \
            -c "raw $ev {\"message_id\":\"$M1\"}" \
            -c "raw $ev {\"message_id\":1.5}" \
            -c "raw $ev {\"message_id\":true}" \
            -c "raw $ev {\"message_id\":[$M1]}" \
            -c "raw $ev {\"message_id\":null}" \
            -c "raw $ev {\"message_id\":9007199254740992}"
        assert_status 1
        expect_codes bad_request 9 || fail "event $ev"
        run pcli --token "$TB" -c "raw $ev {\"message_id\":999999}" -c "raw $ev {\"message_id\":9007199254740991}"
        assert_status 1
        expect_codes not_found 2 || fail "event $ev"
    done
    # None of the refusals moved a pointer.
    status_of "$M1"
    [ "$(users pending)" = '["bob","carol"]' ] || fail "a refused receipt counted: $STATUS"
}

@test "a message of a room the caller is not in is not_found, never its content" {
    run pcli --token "$TA" -c 'join hidden private' -c 'send hidden top-secret-words'
    assert_status 0
    local h
    h=$(msg_id top-secret-words)
    run pcli --token "$TC" -c 'join elsewhere' \
        -c "raw message:delivered {\"message_id\":$h}" \
        -c "raw message:read {\"message_id\":$h}" \
        -c "raw message:delivery-status {\"message_id\":$h}"
    assert_status 1
    expect_codes not_found 3
    ! grep -q 'top-secret-words' <<<"$output" || fail "a refusal leaked the text: $output"
    # Same answer as for an id that does not exist (apart from the number).
    local m1 m2
    m1=$(jsel '.ok == false' | sed -n 1p | jq -r '.error.message' | sed "s/$h/N/g")
    run pcli --token "$TC" -c 'raw message:delivered {"message_id":999999}'
    m2=$(jsel '.ok == false' | jq -r '.error.message' | sed 's/999999/N/g')
    [ "$m1" = "$m2" ] || fail "the message tells a hidden message from a missing one: '$m1' vs '$m2'"
    # Nor may reply_to point into it.
    run pcli --token "$TC" -c "send --reply-to $h elsewhere a reply"
    assert_status 1
    expect_codes not_found 1
    ! grep -q 'top-secret-words' <<<"$output" || fail "a refusal leaked the text: $output"
    # A former member is not in the room either.
    run pcli --token "$TB" -c 'join open' -c 'send open bobs-words' -c 'leave open'
    local o
    o=$(msg_id bobs-words)
    run pcli --token "$TB" -c "raw message:read {\"message_id\":$o}" -c "raw message:delivery-status {\"message_id\":$o}"
    assert_status 1
    expect_codes not_found 2
    ! grep -q 'bobs-words' <<<"$output" || fail "leaked: $output"
}

@test "CLI: delivered, read and status; bad arguments are usage errors" {
    scene
    bg_pcli "$OUT/a" --token "$TA" -c 'join r' -c 'wait message:delivered 10000' -c 'wait message:read 10000'
    local a=$BG_PID
    wait_joined "$OUT/a" r "$a"
    run pcli --token "$TB" -c "delivered $M1" -c "read $M2" -c "status $M3" -c "status $M2"
    assert_status 0
    expect_json ".ok == true and .data == {\"message_id\":$M1}"
    expect_json ".ok == true and .data == {\"message_id\":$M2,\"room\":\"r\",\"last_read_seq\":2}"
    expect_json ".ok == true and .data.message_id == $M3 and (.data.pending | sort == [\"bob\",\"carol\"])"
    expect_json ".ok == true and .data.message_id == $M2 and (.data.read_by | map(.user) == [\"bob\"])"
    bg_ok "$a" "$OUT/a"
    run pcli --token "$TB" -c 'read 999999'
    assert_status 1
    expect_json '.ok == false and .error.code == "not_found"'
    local cmd
    for cmd in 'delivered' 'delivered x' 'delivered 0' 'delivered -1' 'delivered 1.5' 'delivered 1 2' 'delivered 7x' \
        'read' 'read x' 'read 0' 'read 1 2' 'status' 'status abc' 'status -3' 'status 1 2'; do
        run pcli --token "$TB" -c "$cmd"
        expect_usage || fail "command: $cmd"
    done
}
