#!/usr/bin/env bats
# Typing indicators (PROTOCOL.md 4 Messaging, /tmp/issue3-spec.md):
# message:typing pushes {room, user, typing} to the room's other
# connections, once per change of state; typing:true expires after
# typing_timeout with a server-sent typing:false; closing the typing
# connection ends it; message:typing-users lists who types.
#
# Absence of a push is checked with a fence: a later push that the same
# connection must get after it (pushes to one connection keep their order).

load helpers

setup() {
    # Each test starts its own server (some with --typing-timeout); the
    # secret is chosen first so the tokens can be made here.
    srv_init
    TA=$(token alice --name Alice)
    TB=$(token bob)
    TC=$(token carol)
    OUT=$BATS_TEST_TMPDIR
}

TYPING_ON='raw message:typing {"room":"r","typing":true}'
TYPING_OFF='raw message:typing {"room":"r","typing":false}'

@test "typing:true reaches the other member's connection, not the sender's; the ack is {}" {
    start_server
    run pcli --token "$TA" -c 'join r'
    assert_status 0
    bg_pcli "$OUT/b" --token "$TB" -c 'join r' -c 'wait message:typing 10000'
    local b=$BG_PID
    wait_joined "$OUT/b" r "$b"
    # Alice types, then waits for a message:new from bob: the fence. Her
    # own typing push, if wrongly sent to her, would come before it.
    bg_pcli "$OUT/a" --token "$TA" -c 'join r' -c "$TYPING_ON" -c 'wait message:new 10000'
    local a=$BG_PID
    wait_for_json "$OUT/a" '.ok == true and .data == {}' 10 "$a"
    bg_ok "$b" "$OUT/b"
    expect_json '.event == "message:typing" and .data == {"room":"r","user":"alice","typing":true}' "$(cat "$OUT/b")"
    run pcli --token "$TB" -c 'send r fence'
    assert_status 0
    bg_ok "$a" "$OUT/a"
    expect_no_json '.event == "message:typing"' "$(cat "$OUT/a")"
}

@test "the typist's other connection gets the push; a connection not subscribed to the room does not" {
    start_server
    run pcli --token "$TA" -c 'join r' -c 'join s'
    assert_status 0
    # a2: alice's second device, in r. b: bob, member of r but this
    # connection subscribed only to s.
    bg_pcli "$OUT/a2" --token "$TA" -c 'join r' -c 'wait message:typing 10000'
    local a2=$BG_PID
    wait_joined "$OUT/a2" r "$a2"
    run pcli --token "$TB" -c 'join r' -c 'join s'
    assert_status 0
    bg_pcli "$OUT/b" --token "$TB" -c 'join s' -c 'wait message:new 10000'
    local b=$BG_PID
    wait_joined "$OUT/b" s "$b"
    run pcli --token "$TA" -c "$TYPING_ON" -c 'send s fence'
    assert_status 0
    bg_ok "$a2" "$OUT/a2"
    expect_json '.event == "message:typing" and .data == {"room":"r","user":"alice","typing":true}' "$(cat "$OUT/a2")"
    bg_ok "$b" "$OUT/b"
    expect_no_json '.event == "message:typing"' "$(cat "$OUT/b")"
}

@test "repeated typing:true produces one push; typing:false one more; a repeated false none" {
    start_server
    run pcli --token "$TA" -c 'join r'
    assert_status 0
    bg_pcli "$OUT/b" --token "$TB" -c 'join r' -c 'wait message:new 10000'
    local b=$BG_PID
    wait_joined "$OUT/b" r "$b"
    run pcli --token "$TA" -c "$TYPING_ON" -c "$TYPING_ON" -c "$TYPING_ON" \
        -c "$TYPING_OFF" -c "$TYPING_OFF" -c 'send r fence'
    assert_status 0
    [ "$(jcount '.ok == true and .data == {}')" -eq 5 ] || fail "want five {} acks: $output"
    bg_ok "$b" "$OUT/b"
    local pushes
    pushes=$(jsel '.event == "message:typing"' "$(cat "$OUT/b")" | jq -s -c 'map(.data.typing)')
    [ "$pushes" = '[true,false]' ] || fail "typing pushes $pushes, want [true,false]: $(cat "$OUT/b")"
}

@test "typing:false without typing first pushes nothing" {
    start_server
    run pcli --token "$TA" -c 'join r'
    assert_status 0
    bg_pcli "$OUT/b" --token "$TB" -c 'join r' -c 'wait message:new 10000'
    local b=$BG_PID
    wait_joined "$OUT/b" r "$b"
    run pcli --token "$TA" -c "$TYPING_OFF" -c 'send r fence'
    assert_status 0
    bg_ok "$b" "$OUT/b"
    expect_no_json '.event == "message:typing"' "$(cat "$OUT/b")"
}

@test "typing:true not refreshed expires: the server pushes typing:false (--typing-timeout 1)" {
    start_server --typing-timeout 1
    run pcli --token "$TA" -c 'join r'
    assert_status 0
    bg_pcli "$OUT/b" --token "$TB" -c 'join r' -c 'wait message:typing 10000' -c 'wait message:typing 5000' \
        -c 'raw message:typing-users {"room":"r"}'
    local b=$BG_PID
    wait_joined "$OUT/b" r "$b"
    # Alice stays connected (waiting for nothing) so that only the expiry
    # can end her typing.
    bg_pcli "$OUT/a" --token "$TA" -c 'join r' -c "$TYPING_ON" -c 'raw message:typing-users {"room":"r"}' \
        -c 'wait never-pushed 15000'
    local a=$BG_PID
    wait_for_json "$OUT/a" '.ok == true and .data == {"room":"r","users":["alice"]}' 10 "$a"
    bg_ok "$b" "$OUT/b"
    [ "$(jsel '.event == "message:typing"' "$(cat "$OUT/b")" | jq -s -c 'map(.data)')" = \
        '[{"room":"r","user":"alice","typing":true},{"room":"r","user":"alice","typing":false}]' ] ||
        fail "want typing true then false: $(cat "$OUT/b")"
    expect_json '.ok == true and .data == {"room":"r","users":[]}' "$(cat "$OUT/b")"
    pid_alive "$a" || fail "alice's connection ended before the expiry; the test proves nothing: $(cat "$OUT/a")"
}

@test "refreshing typing:true within the timeout keeps it alive, silently" {
    start_server --typing-timeout 2
    run pcli --token "$TA" -c 'join r'
    assert_status 0
    bg_pcli "$OUT/b" --token "$TB" -c 'join r' -c 'wait message:typing 10000' -c 'wait message:typing 10000'
    local b=$BG_PID
    wait_joined "$OUT/b" r "$b"
    # Refresh every ~0.7 s for ~2.8 s (longer than the timeout), then stay.
    local t0
    t0=$(date +%s%3N)
    bg_pcli "$OUT/a" --token "$TA" -c 'join r' -c "$TYPING_ON" \
        -c 'wait never-pushed 700' -c "$TYPING_ON" -c 'wait never-pushed 700' -c "$TYPING_ON" \
        -c 'wait never-pushed 700' -c "$TYPING_ON" -c 'wait never-pushed 700' -c "$TYPING_ON" \
        -c 'wait never-pushed 15000'
    local a=$BG_PID
    bg_ok "$b" "$OUT/b" 20
    local t1
    t1=$(date +%s%3N)
    [ "$(jsel '.event == "message:typing"' "$(cat "$OUT/b")" | jq -s -c 'map(.data.typing)')" = '[true,false]' ] ||
        fail "want exactly true then false: $(cat "$OUT/b")"
    # The false came after the last refresh (~2.8 s) plus the timeout, not
    # 2 s after the first typing:true.
    [ $((t1 - t0)) -ge 3500 ] || fail "typing:false after $((t1 - t0)) ms: the refreshes did not extend the expiry"
    pid_alive "$a" || fail "alice's connection ended early: $(cat "$OUT/a")"
}

@test "closing the typing connection ends typing: typing:false is pushed at once" {
    start_server
    run pcli --token "$TA" -c 'join r'
    assert_status 0
    bg_pcli "$OUT/b" --token "$TB" -c 'join r' -c 'wait message:typing 10000' -c 'wait message:typing 3000' \
        -c 'raw message:typing-users {"room":"r"}'
    local b=$BG_PID
    wait_joined "$OUT/b" r "$b"
    # Alice types and her CLI ends, closing the connection. The default
    # expiry is 5 s; the false must come well before (the wait gives 3 s).
    run pcli --token "$TA" -c 'join r' -c "$TYPING_ON"
    assert_status 0
    bg_ok "$b" "$OUT/b"
    [ "$(jsel '.event == "message:typing"' "$(cat "$OUT/b")" | jq -s -c 'map(.data)')" = \
        '[{"room":"r","user":"alice","typing":true},{"room":"r","user":"alice","typing":false}]' ] ||
        fail "want typing true then false: $(cat "$OUT/b")"
    expect_json '.ok == true and .data == {"room":"r","users":[]}' "$(cat "$OUT/b")"
}

@test "a dropped (killed) typing connection ends typing too" {
    start_server
    run pcli --token "$TA" -c 'join r'
    assert_status 0
    bg_pcli "$OUT/b" --token "$TB" -c 'join r' -c 'wait message:typing 10000' -c 'wait message:typing 3000'
    local b=$BG_PID
    wait_joined "$OUT/b" r "$b"
    bg_pcli "$OUT/a" --token "$TA" -c 'join r' -c "$TYPING_ON" -c 'wait never-pushed 20000'
    local a=$BG_PID
    wait_for_json "$OUT/a" '.ok == true and .data == {}' 10 "$a"
    wait_for_json "$OUT/b" '.event == "message:typing" and .data.typing == true' 10 "$b"
    kill -9 "$a"
    bg_ok "$b" "$OUT/b"
    expect_json '.event == "message:typing" and .data == {"room":"r","user":"alice","typing":false}' "$(cat "$OUT/b")"
}

@test "message:typing-users lists the users typing in the room" {
    start_server
    run pcli --token "$TC" -c 'join r'
    assert_status 0
    bg_pcli "$OUT/a" --token "$TA" -c 'join r' -c "$TYPING_ON" -c 'wait never-pushed 20000'
    wait_for_json "$OUT/a" '.ok == true and .data == {}' 10 "$BG_PID"
    bg_pcli "$OUT/b" --token "$TB" -c 'join r' -c "$TYPING_ON" -c 'wait never-pushed 20000'
    wait_for_json "$OUT/b" '.ok == true and .data == {}' 10 "$BG_PID"
    run pcli --token "$TC" -c 'raw message:typing-users {"room":"r"}'
    assert_status 0
    expect_json '.ok == true and .data.room == "r" and (.data.users | sort == ["alice","bob"])'
    run pcli --token "$TC" -c 'join r' -c 'raw message:typing-users {"room":"r"}' -c "$TYPING_ON" \
        -c 'raw message:typing-users {"room":"r"}' -c "$TYPING_OFF" -c 'raw message:typing-users {"room":"r"}'
    assert_status 0
    [ "$(jsel '.ok == true and .data.users != null' | jq -s -c 'map(.data.users | sort)')" = \
        '[["alice","bob"],["alice","bob","carol"],["alice","bob"]]' ] || fail "typing-users: $output"
}

@test "typing refusals: non-member and unknown room forbidden; bad or missing fields bad_request" {
    start_server
    run pcli --token "$TA" -c 'join r'
    assert_status 0
    run pcli --token "$TC" -c "$TYPING_ON" -c 'raw message:typing {"room":"ghost","typing":true}' \
        -c 'raw message:typing-users {"room":"r"}' -c 'raw message:typing-users {"room":"ghost"}'
    assert_status 1
    expect_codes forbidden 4
    run pcli --token "$TA" \
        -c 'raw message:typing {"room":"r"}' \
        -c 'raw message:typing {"room":"r","typing":"yes"}' \
        -c 'raw message:typing {"room":"r","typing":1}' \
        -c 'raw message:typing {"room":"r","typing":null}' \
        -c 'raw message:typing {"typing":true}' \
        -c 'raw message:typing {"room":3,"typing":true}' \
        -c 'raw message:typing {"room":"b c","typing":true}' \
        -c 'raw message:typing-users {}' \
        -c 'raw message:typing-users {"room":false}'
    assert_status 1
    expect_codes bad_request 9
    # None of the refused requests left alice typing.
    run pcli --token "$TA" -c 'raw message:typing-users {"room":"r"}'
    expect_json '.ok == true and .data.users == []'
}

@test "CLI: typing ROOM on|off and typers ROOM; bad arguments are usage errors" {
    start_server
    run pcli --token "$TB" -c 'join r'
    assert_status 0
    bg_pcli "$OUT/b" --token "$TB" -c 'join r' -c 'wait message:typing 10000' -c 'wait message:typing 10000'
    local b=$BG_PID
    wait_joined "$OUT/b" r "$b"
    run pcli --token "$TA" -c 'join r' -c 'typing r on' -c 'typers r' -c 'typing r off' -c 'typers r'
    assert_status 0
    [ "$(jsel '.ok == true and .data.users != null' | jq -s -c 'map(.data.users)')" = '[["alice"],[]]' ] ||
        fail "typers: $output"
    [ "$(jcount '.ok == true and .data == {}')" -eq 2 ] || fail "want two {} acks: $output"
    bg_ok "$b" "$OUT/b"
    [ "$(jsel '.event == "message:typing"' "$(cat "$OUT/b")" | jq -s -c 'map(.data.typing)')" = '[true,false]' ] ||
        fail "pushes: $(cat "$OUT/b")"
    local cmd
    for cmd in 'typing' 'typing r' 'typing r maybe' 'typing r on off' 'typers' 'typers r s'; do
        run pcli --token "$TA" -c "$cmd"
        expect_usage || fail "command: $cmd"
    done
}
