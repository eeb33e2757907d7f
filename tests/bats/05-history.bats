#!/usr/bin/env bats
# message:history (PROTOCOL.md 4): the newest `limit` (default 50, 1..100)
# messages below before_seq, ascending, with has_more.

load helpers

setup() {
    start_server
    TA=$(token alice)
    OUT=$BATS_TEST_TMPDIR
}

# history_ack ARGS...: runs `history ARGS` as alice; sets ACK to its ack.
history_ack() {
    run pcli --token "$TA" -c "history $*"
    assert_status 0
    ACK=$(jfirst '.ok == true and .data.messages != null')
    [ -n "$ACK" ] || fail "no history ack: $output"
}

# seqs: the seqs of $ACK's messages as "first..last count".
seqs() {
    jq -r '.data.messages | map(.seq) | "\(first)..\(last) \(length)"' <<<"$ACK"
}

# A room with 120 messages, sent in one CLI session through stdin.
fill_room() {
    {
        echo "join big"
        for i in $(seq 1 120); do echo "send big message number $i"; done
    } | pcli --token "$TA" >"$OUT/fill" 2>"$OUT/fill.err" || fail "fill failed: $(tail -n 5 "$OUT/fill" "$OUT/fill.err")"
    [ "$(jcount '.ok == true and .data.message != null' "$(cat "$OUT/fill")")" -eq 120 ] ||
        fail "not 120 acks: $(tail -n 5 "$OUT/fill")"
}

@test "120 messages sent through stdin in one session get seq 1..120" {
    fill_room
    [ "$(jsel '.ok == true and .data.message != null' "$(cat "$OUT/fill")" | jq -s -c 'map(.data.message.seq) == [range(1;121)]')" = true ] ||
        fail "seqs are not 1..120"
}

@test "history without options returns the newest 50, ascending, with has_more" {
    fill_room
    history_ack big
    [ "$(seqs)" = "71..120 50" ] || fail "got $(seqs): $ACK"
    jq -e '.data.has_more == true' <<<"$ACK" >/dev/null || fail "has_more: $ACK"
    jq -e '.data.messages | (map(.seq) == (map(.seq) | sort)) and
        all(.text == "message number \(.seq)" and .room == "big" and .user == "alice")' <<<"$ACK" >/dev/null ||
        fail "messages out of order or wrong: $ACK"
}

@test "paging with --before walks back to the first message, then has_more is false" {
    fill_room
    local before= pages=0 all=
    while :; do
        if [ -n "$before" ]; then history_ack big --before "$before"; else history_ack big; fi
        pages=$((pages + 1))
        all="$(jq -c '.data.messages | map(.seq)' <<<"$ACK") $all"
        before=$(jq -r '.data.messages[0].seq' <<<"$ACK")
        [ "$(jq -r .data.has_more <<<"$ACK")" = true ] || break
        [ "$pages" -lt 10 ] || fail "has_more never became false"
    done
    [ "$pages" -eq 3 ] || fail "$pages pages, want 3 (50+50+20)"
    [ "$(jq -sc 'add' <<<"$all")" = "$(jq -nc '[range(1;121)]')" ] || fail "pages do not cover 1..120: $all"
    # The last page holds 1..20.
    [ "$(seqs)" = "1..20 20" ] || fail "last page $(seqs)"
}

@test "--limit and --before select exactly the newest messages below before_seq" {
    fill_room
    history_ack big --limit 100
    [ "$(seqs)" = "21..120 100" ] || fail "limit 100: $(seqs)"
    jq -e '.data.has_more == true' <<<"$ACK" >/dev/null
    history_ack big --limit 1
    [ "$(seqs)" = "120..120 1" ] || fail "limit 1: $(seqs)"
    history_ack big --before 11 --limit 5
    [ "$(seqs)" = "6..10 5" ] || fail "before 11 limit 5: $(seqs)"
    jq -e '.data.has_more == true' <<<"$ACK" >/dev/null
    history_ack big --before 11 --limit 10
    [ "$(seqs)" = "1..10 10" ] || fail "before 11 limit 10: $(seqs)"
    jq -e '.data.has_more == false' <<<"$ACK" >/dev/null || fail "has_more should be false: $ACK"
    history_ack big --before 2
    [ "$(seqs)" = "1..1 1" ] || fail "before 2: $(seqs)"
    jq -e '.data.has_more == false' <<<"$ACK" >/dev/null
    history_ack big --before 1
    jq -e '.data.messages == [] and .data.has_more == false' <<<"$ACK" >/dev/null || fail "before 1: $ACK"
    history_ack big --before 1000
    [ "$(seqs)" = "71..120 50" ] || fail "before 1000: $(seqs)"
}

@test "history of an empty room is empty with has_more false" {
    run pcli --token "$TA" -c 'join empty' -c 'history empty'
    assert_status 0
    expect_json '.ok == true and .data.messages == [] and .data.has_more == false'
}

@test "limit 0 and 101 are bad_request; 1 and 100 are fine" {
    run pcli --token "$TA" -c 'join r' -c 'send r x' -c 'history r --limit 0' -c 'history r --limit 101' \
        -c 'history r --limit 1' -c 'history r --limit 100'
    assert_status 1
    [ "$(jcount '.ok == false and .error.code == "bad_request"')" -eq 2 ] || fail "want 2 bad_request: $output"
    [ "$(jcount '.ok == true and .data.messages != null')" -eq 2 ] || fail "want 2 good histories: $output"
}

@test "bad limit and before_seq values sent raw are bad_request" {
    run pcli --token "$TA" -c 'join r' \
        -c 'raw message:history {"room":"r","limit":-1}' \
        -c 'raw message:history {"room":"r","limit":"10"}' \
        -c 'raw message:history {"room":"r","limit":1.5}' \
        -c 'raw message:history {"room":"r","before_seq":"5"}' \
        -c 'raw message:history {"room":"r","before_seq":-3}' \
        -c 'raw message:history {"room":7}' \
        -c 'raw message:history {}'
    assert_status 1
    [ "$(jcount '.ok == false and .error.code == "bad_request"')" -eq 7 ] || fail "want 7 bad_request: $output"
}
