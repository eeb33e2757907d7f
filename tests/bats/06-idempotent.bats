#!/usr/bin/env bats
# Safe retries (PROTOCOL.md 4): a repeat of the same client_msg_id by the
# same user in the same room returns the original message and stores
# nothing.

load helpers

setup() {
    start_server
    TA=$(token alice)
    TB=$(token bob)
    OUT=$BATS_TEST_TMPDIR
}

@test "the same client_msg_id twice returns the same id and seq; history holds one copy" {
    run pcli --token "$TA" -c 'join r' -c 'send --id cm-1 r first try' -c 'send --id cm-1 r second try'
    assert_status 0
    local acks
    acks=$(jsel '.ok == true and .data.message != null')
    [ "$(wc -l <<<"$acks")" -eq 2 ] || fail "want 2 acks: $output"
    [ "$(jq -s 'map(.data.message.id) | unique | length' <<<"$acks")" -eq 1 ] || fail "ids differ: $acks"
    [ "$(jq -s 'map(.data.message.seq) | unique' -c <<<"$acks")" = "[1]" ] || fail "seqs differ: $acks"
    # The original is returned: its text, not the retry's.
    [ "$(jq -s -c 'map(.data.message.text)' <<<"$acks")" = '["first try","first try"]' ] || fail "texts: $acks"
    [ "$(jq -s -c 'map(.data.message.client_msg_id)' <<<"$acks")" = '["cm-1","cm-1"]' ] || fail "client_msg_id: $acks"
    run pcli --token "$TA" -c 'history r'
    assert_status 0
    expect_json '.ok == true and (.data.messages | length == 1 and .[0].client_msg_id == "cm-1")'
    # The next message gets seq 2: the retry used no seq.
    run pcli --token "$TA" -c 'send r next'
    assert_status 0
    expect_json '.ok == true and .data.message.seq == 2'
}

@test "a retry on a new connection (and after a restart) still returns the original" {
    run pcli --token "$TA" -c 'join r' -c 'send --id retry-me r hello'
    assert_status 0
    local id
    id=$(jfirst '.ok == true and .data.message != null' | jq .data.message.id)
    run pcli --token "$TA" -c 'send --id retry-me r hello'
    assert_status 0
    expect_json ".ok == true and .data.message.id == $id and .data.message.seq == 1"
    stop_server
    start_server
    run pcli --token "$TA" -c 'send --id retry-me r hello'
    assert_status 0
    expect_json ".ok == true and .data.message.id == $id and .data.message.seq == 1"
    run pcli --token "$TA" -c 'history r'
    expect_json '.ok == true and (.data.messages | length == 1)'
}

@test "a retry is not pushed again to the room" {
    bg_start "$OUT/b" pcli --token "$TB" -c 'join r' -c 'wait message:new 10000' -c 'wait message:new 10000'
    local b=$BG_PID
    wait_for_json "$OUT/b" '.ok == true and .data.room == "r"' 10 "$b"
    run pcli --token "$TA" -c 'join r' -c 'send --id once r one' -c 'send --id once r one' -c 'send r two'
    assert_status 0
    bg_wait "$b"
    [ "$BG_STATUS" -eq 0 ] || fail "bob failed: $(cat "$OUT/b" "$OUT/b.err")"
    [ "$(jsel '.event == "message:new"' "$(cat "$OUT/b")" | jq -s -c 'map(.data.message.text)')" = '["one","two"]' ] ||
        fail "bob's pushes: $(cat "$OUT/b")"
}

@test "the same client_msg_id from another user, or in another room, is a distinct message" {
    run pcli --token "$TA" -c 'join r' -c 'join s' -c 'send --id shared r from alice' -c 'send --id shared s alice in s'
    assert_status 0
    run pcli --token "$TB" -c 'join r' -c 'send --id shared r from bob'
    assert_status 0
    expect_json '.ok == true and .data.message.seq == 2 and .data.message.user == "bob" and .data.message.text == "from bob"'
    run pcli --token "$TA" -c 'history r' -c 'history s'
    assert_status 0
    expect_json '.ok == true and (.data.messages | map([.user, .text, .client_msg_id]) == [["alice","from alice","shared"],["bob","from bob","shared"]])'
    expect_json '.ok == true and (.data.messages | map(.text) == ["alice in s"])'
}

@test "a client_msg_id of 64 characters is accepted, 65 is bad_request" {
    local id64 id65
    id64=$(printf 'k%.0s' {1..64})
    id65=$(printf 'k%.0s' {1..65})
    run pcli --token "$TA" -c 'join r' -c "send --id $id64 r sixty-four" -c "send --id $id65 r sixty-five"
    assert_status 1
    expect_json ".ok == true and .data.message.client_msg_id == \"$id64\""
    expect_json '.ok == false and .error.code == "bad_request"'
    run pcli --token "$TA" -c 'history r'
    expect_json '.ok == true and (.data.messages | map(.text) == ["sixty-four"])'
}

@test "a client_msg_id that is not a string is bad_request" {
    run pcli --token "$TA" -c 'join r' \
        -c 'raw message:send {"room":"r","text":"x","client_msg_id":5}' \
        -c 'raw message:send {"room":"r","text":"x","client_msg_id":{}}'
    assert_status 1
    [ "$(jcount '.ok == false and .error.code == "bad_request"')" -eq 2 ] || fail "$output"
}
