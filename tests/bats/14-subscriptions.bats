#!/usr/bin/env bats
# Subscriptions (PROTOCOL.md 4, /tmp/issue3-spec.md): membership is stored,
# a subscription belongs to one connection. room:subscribe-multiple,
# room:unsubscribe-multiple, room:subscription-status,
# room:subscription-details; unread keeps counting while unsubscribed.

load helpers

setup() {
    start_server
    TA=$(token alice)
    TB=$(token bob)
    TC=$(token carol)
    OUT=$BATS_TEST_TMPDIR
}

@test "subscribe-multiple: member rooms subscribe; others fail forbidden (existing or not); bad names fail bad_request; duplicates once" {
    run pcli --token "$TC" -c 'join theirs'
    assert_status 0
    run pcli --token "$TB" -c 'join a' -c 'join b'
    assert_status 0
    run pcli --token "$TB" -c 'raw room:subscribe-multiple {"rooms":["a","b","a","theirs","ghost","bad name"]}'
    assert_status 0
    local ack
    ack=$(jfirst '.ok == true and .data.subscribed != null')
    [ -n "$ack" ] || fail "no ack: $output"
    [ "$(jq -c '.data.subscribed | sort' <<<"$ack")" = '["a","b"]' ] || fail "subscribed: $ack"
    [ "$(jq -c '.data.failed | sort_by(.room)' <<<"$ack")" = \
        '[{"room":"bad name","code":"bad_request"},{"room":"ghost","code":"forbidden"},{"room":"theirs","code":"forbidden"}]' ] ||
        fail "failed: $ack"
}

@test "a new connection subscribed with subscribe-multiple gets message:new of those rooms only" {
    run pcli --token "$TB" -c 'join a' -c 'join b'
    assert_status 0
    bg_pcli "$OUT/b" --token "$TB" -c 'raw room:subscribe-multiple {"rooms":["b"]}' -c 'wait message:new 10000'
    local b=$BG_PID
    wait_for_json "$OUT/b" '.ok == true and .data.subscribed == ["b"]' 10 "$b"
    run pcli --token "$TA" -c 'join a' -c 'join b' -c 'send a to-a' -c 'send b to-b'
    assert_status 0
    bg_ok "$b" "$OUT/b"
    expect_no_json '.event == "message:new" and .data.message.room == "a"' "$(cat "$OUT/b")"
    expect_json '.event == "message:new" and .data.message.text == "to-b"' "$(cat "$OUT/b")"
}

@test "after unsubscribe a connection gets no message:new of the room, and unread keeps counting" {
    run pcli --token "$TA" -c 'join a' -c 'join b'
    assert_status 0
    bg_pcli "$OUT/b" --token "$TB" -c 'join a' -c 'join b' \
        -c 'raw room:unsubscribe-multiple {"rooms":["a"]}' -c 'raw room:subscription-status {"room":"a"}' \
        -c 'wait message:new 10000'
    local b=$BG_PID
    wait_for_json "$OUT/b" '.ok == true and .data.subscribed == false' 10 "$b"
    expect_json '.ok == true and .data.unsubscribed == ["a"]' "$(cat "$OUT/b")"
    expect_json '.ok == true and .data == {"room":"a","member":true,"subscribed":false}' "$(cat "$OUT/b")"
    # a's messages go first; the first message:new bob's connection sees
    # must be b's.
    run pcli --token "$TA" -c 'send a a1' -c 'send a a2' -c 'send b b1'
    assert_status 0
    bg_ok "$b" "$OUT/b"
    expect_no_json '.event == "message:new" and .data.message.room == "a"' "$(cat "$OUT/b")"
    expect_json '.event == "message:new" and .data.message.text == "b1"' "$(cat "$OUT/b")"
    # Bob is still a member: both rooms count unread.
    run pcli --token "$TB" -c 'raw room:list {}'
    assert_status 0
    [ "$(jfirst '.ok == true' | jq -c '.data.rooms | map([.room, .unread]) | sort')" = '[["a",2],["b",1]]' ] ||
        fail "unread: $output"
}

@test "unsubscribe-multiple lists only the rooms this connection was subscribed to" {
    run pcli --token "$TC" -c 'join theirs'
    assert_status 0
    run pcli --token "$TB" -c 'join a' -c 'join b' -c 'join c' \
        -c 'raw room:unsubscribe-multiple {"rooms":["b"]}' \
        -c 'raw room:unsubscribe-multiple {"rooms":["a","b","a","theirs","ghost"]}' \
        -c 'raw room:unsubscribe-multiple {"rooms":["a"]}' \
        -c 'raw room:subscription-status {"room":"c"}'
    assert_status 0
    local acks
    acks=$(jsel '.ok == true and .data.unsubscribed != null' | jq -s -c 'map(.data.unsubscribed)')
    [ "$acks" = '[["b"],["a"],[]]' ] || fail "unsubscribed lists: $acks (want [[\"b\"],[\"a\"],[]])"
    expect_json '.ok == true and .data == {"room":"c","member":true,"subscribed":true}'
}

@test "subscribe-multiple and unsubscribe-multiple: the whole request is bad_request for a bad rooms array" {
    run pcli --token "$TB" -c 'join a'
    assert_status 0
    local over ok100 ev
    over=$(jq -nc '{rooms: [range(101) | "r\(.)"]}')
    ok100=$(jq -nc '{rooms: [range(100) | "r\(.)"]}')
    for ev in room:subscribe-multiple room:unsubscribe-multiple; do
        run pcli --token "$TB" \
            -c "raw $ev {}" \
            -c "raw $ev {\"rooms\":\"a\"}" \
            -c "raw $ev {\"rooms\":[]}" \
            -c "raw $ev {\"rooms\":[\"a\",5]}" \
            -c "raw $ev {\"rooms\":[\"a\",null]}" \
            -c "raw $ev {\"rooms\":[[\"a\"]]}" \
            -c "raw $ev {\"rooms\":{\"a\":true}}" \
            -c "raw $ev $over"
        assert_status 1
        expect_codes bad_request 8 || fail "event $ev"
        # Nothing happened: the refused subscribe subscribed nothing.
        [ "$(jcount '.ok == true')" -eq 0 ] || fail "$ev: a refused request was acknowledged: $output"
        # Exactly 100 is fine (each of those rooms then fails or is listed).
        run pcli --token "$TB" -c "raw $ev $ok100"
        assert_status 0
        expect_json '.ok == true'
    done
    run pcli --token "$TB" -c "raw room:subscribe-multiple $ok100"
    expect_json '.ok == true and .data.subscribed == [] and (.data.failed | length == 100 and all(.code == "forbidden"))'
}

@test "subscription-status: member and subscribed per connection; non-member and unknown room forbidden" {
    run pcli --token "$TA" -c 'join a' -c 'join vault private'
    assert_status 0
    run pcli --token "$TB" -c 'join a'
    assert_status 0
    # A new connection of a member: member, not subscribed.
    run pcli --token "$TB" -c 'raw room:subscription-status {"room":"a"}' \
        -c 'raw room:subscribe-multiple {"rooms":["a"]}' -c 'raw room:subscription-status {"room":"a"}'
    assert_status 0
    [ "$(jsel '.ok == true and .data.member != null' | jq -s -c 'map(.data)')" = \
        '[{"room":"a","member":true,"subscribed":false},{"room":"a","member":true,"subscribed":true}]' ] ||
        fail "status before/after subscribing: $output"
    run pcli --token "$TC" -c 'raw room:subscription-status {"room":"a"}' \
        -c 'raw room:subscription-status {"room":"vault"}' -c 'raw room:subscription-status {"room":"ghost"}'
    assert_status 1
    expect_codes forbidden 3
    run pcli --token "$TB" -c 'raw room:subscription-status {}' -c 'raw room:subscription-status {"room":1}' \
        -c 'raw room:subscription-status {"room":"no way"}'
    assert_status 1
    expect_codes bad_request 3
    # After leave:chat bob is no member: forbidden.
    run pcli --token "$TB" -c 'leave a' -c 'raw room:subscription-status {"room":"a"}'
    assert_status 1
    expect_codes forbidden 1
}

@test "subscription-details: this connection's subscriptions with subscribed_at, last_seq, last_read_seq, unread" {
    run pcli --token "$TB" -c 'join a' -c 'join b' -c 'join c'
    assert_status 0
    run pcli --token "$TA" -c 'join a' -c 'join b' -c 'send a 1' -c 'send a 2' -c 'send a 3' -c 'send b 1'
    assert_status 0
    local before after
    before=$(date +%s%3N)
    run pcli --token "$TB" -c 'raw room:subscribe-multiple {"rooms":["a","b"]}' -c 'raw room:subscription-details {}'
    assert_status 0
    after=$(date +%s%3N)
    local ack
    ack=$(jfirst '.ok == true and .data.subscriptions != null')
    [ -n "$ack" ] || fail "no details ack: $output"
    [ "$(jq -c '.data.subscriptions | map([.room, .last_seq, .last_read_seq, .unread]) | sort' <<<"$ack")" = \
        '[["a",3,0,3],["b",1,0,1]]' ] || fail "details: $ack"
    jq -e --argjson lo "$before" --argjson hi "$after" \
        '.data.subscriptions | all(.subscribed_at >= $lo - 1000 and .subscribed_at <= $hi + 1000)' <<<"$ack" >/dev/null ||
        fail "subscribed_at is not the time of subscribing in ms ($before..$after): $ack"
    # A fresh connection has no subscriptions; c (member, never subscribed
    # here) is not listed.
    run pcli --token "$TB" -c 'raw room:subscription-details {}'
    assert_status 0
    expect_json '.ok == true and .data.subscriptions == []'
}

@test "subscription-details: unread falls as the read pointer moves" {
    run pcli --token "$TB" -c 'join a'
    assert_status 0
    run pcli --token "$TA" -c 'join a' -c 'send a m1' -c 'send a m2' -c 'send a m3' -c 'send a m4'
    assert_status 0
    local m2 m4
    m2=$(msg_id m2)
    m4=$(msg_id m4)
    run pcli --token "$TB" -c 'join a' -c 'raw room:subscription-details {}' \
        -c "raw message:read {\"message_id\":$m2}" -c 'raw room:subscription-details {}' \
        -c "raw message:read {\"message_id\":$m4}" -c 'raw room:subscription-details {}'
    assert_status 0
    [ "$(jsel '.ok == true and .data.subscriptions != null' | jq -s -c 'map(.data.subscriptions[0] | [.last_read_seq, .unread])')" = \
        '[[0,4],[2,2],[4,0]]' ] || fail "unread did not fall 4, 2, 0: $output"
}

@test "membership survives a restart; the new connection starts unsubscribed and can subscribe" {
    run pcli --token "$TB" -c 'join a' -c 'join b'
    assert_status 0
    run pcli --token "$TA" -c 'join a' -c 'send a before-restart'
    assert_status 0
    stop_server
    start_server
    run pcli --token "$TB" -c 'raw room:list {}' -c 'raw room:subscription-status {"room":"a"}' \
        -c 'raw room:subscribe-multiple {"rooms":["a","b"]}' -c 'raw room:subscription-details {}'
    assert_status 0
    expect_json '.ok == true and .data.rooms != null and (.data.rooms | map([.room, .unread]) | sort == [["a",1],["b",0]])'
    expect_json '.ok == true and .data == {"room":"a","member":true,"subscribed":false}'
    expect_json '.ok == true and (.data.subscribed | sort == ["a","b"]) and .data.failed == []'
    expect_json '.ok == true and (.data.subscriptions | map(.room) | sort == ["a","b"])'
    # And the subscription pushes again.
    bg_pcli "$OUT/b" --token "$TB" -c 'raw room:subscribe-multiple {"rooms":["a"]}' -c 'wait message:new 10000'
    local b=$BG_PID
    wait_for_json "$OUT/b" '.ok == true and .data.subscribed == ["a"]' 10 "$b"
    run pcli --token "$TA" -c 'send a after-restart'
    assert_status 0
    bg_ok "$b" "$OUT/b"
    expect_json '.event == "message:new" and .data.message.text == "after-restart" and .data.message.seq == 2' "$(cat "$OUT/b")"
}

@test "subscription-details and subscribe/unsubscribe ignore unknown fields; a non-object data is bad_request" {
    run pcli --token "$TB" -c 'join a' -c 'raw room:subscription-details {"room":"zzz"}' \
        -c 'raw room:subscribe-multiple {"rooms":["a"],"extra":[1]}' -c 'raw room:subscription-details 5'
    assert_status 1
    expect_json '.ok == true and (.data.subscriptions | map(.room) == ["a"])'
    expect_json '.ok == true and .data.subscribed == ["a"]'
    expect_json '.event == "error" and .data.code == "bad_request"'
}

@test "CLI: subscribe, unsubscribe, substatus, subs; bad arguments are usage errors" {
    run pcli --token "$TC" -c 'join theirs'
    assert_status 0
    run pcli --token "$TB" -c 'join a' -c 'join b'
    assert_status 0
    run pcli --token "$TB" -c 'subscribe a b theirs' -c 'substatus a' -c 'subs' -c 'unsubscribe a b' -c 'substatus b' -c 'subs'
    assert_status 0
    expect_json '.ok == true and (.data.subscribed | sort == ["a","b"]) and .data.failed == [{"room":"theirs","code":"forbidden"}]'
    expect_json '.ok == true and .data == {"room":"a","member":true,"subscribed":true}'
    expect_json '.ok == true and (.data.subscriptions | map(.room) | sort == ["a","b"])'
    expect_json '.ok == true and (.data.unsubscribed | sort == ["a","b"])'
    expect_json '.ok == true and .data == {"room":"b","member":true,"subscribed":false}'
    expect_json '.ok == true and .data.subscriptions == []'
    run pcli --token "$TB" -c 'substatus theirs'
    assert_status 1
    expect_json '.ok == false and .error.code == "forbidden"'
    local cmd
    for cmd in 'subscribe' 'unsubscribe' 'substatus' 'substatus a b' 'subs a'; do
        run pcli --token "$TB" -c "$cmd"
        expect_usage || fail "command: $cmd"
    done
}
