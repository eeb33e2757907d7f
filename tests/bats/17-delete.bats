#!/usr/bin/env bats
# message:delete (PROTOCOL.md 4 Messaging, /tmp/issue3-spec.md): the
# author, the room's owner or an admin; a soft delete that keeps id and seq
# with text "" and deleted true; message:deleted {message_id, room} to the
# room's other subscribed connections; a repeat is ok and pushes nothing.

load helpers

setup() {
    start_server
    TA=$(token alice)
    TB=$(token bob)
    TC=$(token carol)
    TD=$(token dave --role admin)
    OUT=$BATS_TEST_TMPDIR
}

# scene: room r owned by alice; bob, carol and dave (admin) members; bob
# sends b1 b2, carol c3 (seq 1..3). Sets B1 B2 C3.
scene() {
    run pcli --token "$TA" -c 'join r'
    assert_status 0
    run pcli --token "$TD" -c 'join r'
    assert_status 0
    run pcli --token "$TC" -c 'join r'
    assert_status 0
    run pcli --token "$TB" -c 'join r' -c 'send r b1-text' -c 'send r b2-text'
    assert_status 0
    B1=$(msg_id b1-text)
    B2=$(msg_id b2-text)
    run pcli --token "$TC" -c 'send r c3-text'
    assert_status 0
    C3=$(msg_id c3-text)
}

# history_of ROOM: alice's history ack of ROOM, in HIST.
history_of() {
    run pcli --token "$TA" -c "history $1"
    assert_status 0
    HIST=$(jfirst '.ok == true and .data.messages != null')
}

@test "the author deletes: ack {message_id, room}; history keeps id and seq with text \"\" and deleted true" {
    scene
    run pcli --token "$TB" -c "raw message:delete {\"message_id\":$B1}"
    assert_status 0
    expect_json ".ok == true and .data == {\"message_id\":$B1,\"room\":\"r\"}"
    history_of r
    jq -e --argjson b1 "$B1" --argjson b2 "$B2" '.data.messages | length == 3
        and (.[0] | .id == $b1 and .seq == 1 and .text == "" and .deleted == true and .user == "bob" and .room == "r")
        and (.[1] | .id == $b2 and .seq == 2 and .text == "b2-text" and .deleted == false)
        and (.[2] | .text == "c3-text" and .deleted == false)' <<<"$HIST" >/dev/null || fail "history: $HIST"
    ! grep -q 'b1-text' <<<"$HIST" || fail "the deleted text is still served: $HIST"
}

@test "message:deleted goes to the room's other subscribed connections, not to the deleting one" {
    scene
    bg_pcli "$OUT/c" --token "$TC" -c 'join r' -c 'wait message:deleted 10000'
    local c=$BG_PID
    wait_joined "$OUT/c" r "$c"
    # Bob's other connection gets it too.
    bg_pcli "$OUT/b2" --token "$TB" -c 'join r' -c 'wait message:deleted 10000'
    local b2=$BG_PID
    wait_joined "$OUT/b2" r "$b2"
    # The deleting connection: delete, then wait for a fence message.
    bg_pcli "$OUT/b" --token "$TB" -c 'join r' -c "raw message:delete {\"message_id\":$B1}" -c 'wait message:new 10000'
    local b=$BG_PID
    wait_for_json "$OUT/b" ".ok == true and .data.message_id == $B1" 10 "$b"
    bg_ok "$c" "$OUT/c"
    bg_ok "$b2" "$OUT/b2"
    local f
    for f in c b2; do
        expect_json ".event == \"message:deleted\" and .data == {\"message_id\":$B1,\"room\":\"r\"}" "$(cat "$OUT/$f")" ||
            fail "connection $f"
    done
    run pcli --token "$TA" -c 'send r fence'
    assert_status 0
    bg_ok "$b" "$OUT/b"
    expect_no_json '.event == "message:deleted"' "$(cat "$OUT/b")"
}

@test "the owner and an admin may delete others' messages; another member gets forbidden" {
    scene
    run pcli --token "$TC" -c "raw message:delete {\"message_id\":$B2}"
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
    run pcli --token "$TB" -c "raw message:delete {\"message_id\":$C3}"
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
    history_of r
    jq -e '.data.messages | all(.deleted == false) and map(.text) == ["b1-text","b2-text","c3-text"]' <<<"$HIST" >/dev/null ||
        fail "a refused delete deleted: $HIST"
    run pcli --token "$TA" -c "raw message:delete {\"message_id\":$B2}"
    assert_status 0
    expect_json ".ok == true and .data == {\"message_id\":$B2,\"room\":\"r\"}"
    run pcli --token "$TD" -c "raw message:delete {\"message_id\":$C3}"
    assert_status 0
    expect_json ".ok == true and .data == {\"message_id\":$C3,\"room\":\"r\"}"
    history_of r
    [ "$(jq -c '.data.messages | map([.seq, .text, .deleted])' <<<"$HIST")" = \
        '[[1,"b1-text",false],[2,"",true],[3,"",true]]' ] || fail "history: $HIST"
}

@test "an admin who is not a member of the room gets not_found, like anyone outside it" {
    run pcli --token "$TA" -c 'join r' -c 'send r alices-text'
    assert_status 0
    local m
    m=$(msg_id alices-text)
    run pcli --token "$(token eve --role admin)" -c "raw message:delete {\"message_id\":$m}"
    assert_status 1
    expect_codes not_found 1
    ! grep -q 'alices-text' <<<"$output" || fail "leaked: $output"
}

@test "deleting a deleted message is ok again and pushes nothing" {
    scene
    run pcli --token "$TB" -c "raw message:delete {\"message_id\":$B1}"
    assert_status 0
    bg_pcli "$OUT/c" --token "$TC" -c 'join r' -c 'wait message:deleted 10000' -c 'wait message:new 10000'
    local c=$BG_PID
    wait_joined "$OUT/c" r "$c"
    # Repeat the delete (author, then owner), then delete b2 (one push), then a fence.
    run pcli --token "$TB" -c "raw message:delete {\"message_id\":$B1}"
    assert_status 0
    expect_json ".ok == true and .data == {\"message_id\":$B1,\"room\":\"r\"}"
    run pcli --token "$TA" -c "raw message:delete {\"message_id\":$B1}" -c "raw message:delete {\"message_id\":$B2}" -c 'send r fence'
    assert_status 0
    bg_ok "$c" "$OUT/c"
    [ "$(jsel '.event == "message:deleted"' "$(cat "$OUT/c")" | jq -s -c 'map(.data.message_id)')" = "[$B2]" ] ||
        fail "want one push, for b2: $(cat "$OUT/c")"
}

@test "a deletion is stored: after a restart the message is still deleted" {
    scene
    run pcli --token "$TB" -c "raw message:delete {\"message_id\":$B2}"
    assert_status 0
    stop_server
    start_server
    history_of r
    [ "$(jq -c '.data.messages | map([.id, .seq, .text, .deleted])' <<<"$HIST")" = \
        "[[$B1,1,\"b1-text\",false],[$B2,2,\"\",true],[$C3,3,\"c3-text\",false]]" ] || fail "history after restart: $HIST"
}

@test "delete refusals: bad message_id bad_request; unknown or outside the caller's rooms not_found, without the text" {
    scene
    run pcli --token "$TB" \
        -c 'raw message:delete {}' \
        -c 'raw message:delete {"message_id":0}' \
        -c 'raw message:delete {"message_id":-1}' \
        -c "raw message:delete {\"message_id\":\"$B1\"}" \
        -c 'raw message:delete {"message_id":1.5}' \
        -c 'raw message:delete {"message_id":false}' \
        -c 'raw message:delete {"message_id":null}'
    assert_status 1
    expect_codes bad_request 7
    run pcli --token "$TB" -c 'raw message:delete {"message_id":999999}'
    assert_status 1
    expect_codes not_found 1
    # A message of a private room, asked by someone outside it.
    run pcli --token "$TA" -c 'join hidden private' -c 'send hidden classified-words'
    local h
    h=$(msg_id classified-words)
    run pcli --token "$TB" -c "raw message:delete {\"message_id\":$h}"
    assert_status 1
    expect_codes not_found 1
    ! grep -q 'classified-words' <<<"$output" || fail "leaked: $output"
    run pcli --token "$TA" -c 'history hidden'
    expect_json '.ok == true and (.data.messages | map([.text, .deleted]) == [["classified-words", false]])'
}

@test "a deleted message stays a valid reply_to target and keeps its place in paging" {
    scene
    run pcli --token "$TB" -c "raw message:delete {\"message_id\":$B2}" -c "send --reply-to $B2 r replying"
    assert_status 0
    expect_json ".ok == true and .data.message.reply_to == $B2 and .data.message.seq == 4"
    run pcli --token "$TA" -c 'history r --before 3 --limit 1'
    expect_json ".ok == true and (.data.messages | map([.id, .text, .deleted]) == [[$B2, \"\", true]]) and .data.has_more == true"
}

@test "CLI: delete ID; bad arguments are usage errors" {
    scene
    run pcli --token "$TB" -c "delete $B1"
    assert_status 0
    expect_json ".ok == true and .data == {\"message_id\":$B1,\"room\":\"r\"}"
    run pcli --token "$TC" -c "delete $B2"
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
    local cmd
    for cmd in 'delete' 'delete x' 'delete 0' 'delete -4' "delete $B2 $C3" 'delete 2.5' 'delete 9007199254740992'; do
        run pcli --token "$TB" -c "$cmd"
        expect_usage || fail "command: $cmd"
    done
}
