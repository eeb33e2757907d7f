#!/usr/bin/env bats
# PROTOCOL.md 1.4: a client that does not read is closed with 1008 once its
# outbound queue passes outbound_limit; the others are not slowed by it. A
# reader that keeps up gets replies bigger than the limit.

load helpers

@test "a member that stops reading is closed with 1008 while the sender's messages all get acked" {
    start_server --outbound-limit 65536
    bg_start "$BATS_TEST_TMPDIR/slow" "$PY" "$CLIENTS/slow_consumer.py" "$PARLEY_URL" "$(token slow)" r "$BATS_TEST_TMPDIR/go"
    local slow=$BG_PID
    wait_for_grep "$BATS_TEST_TMPDIR/slow" '"joined": true' 10 "$slow"
    # 8 MB: past what the kernel absorbs for the slow client (its send
    # buffer grows to 4 MB here), so the server's own queue for it must pass
    # the limit. The sender keeps at most 8 requests (32 KB of acks) in
    # flight, so it is never a slow reader itself.
    run "$PY" "$CLIENTS/flood.py" "$PARLEY_URL" "$(token fast)" r 2000 4000
    assert_status 0
    expect_json '.acked == 2000 and .failed == 0'
    touch "$BATS_TEST_TMPDIR/go"
    bg_wait "$slow" 30
    [ "$BG_STATUS" -eq 0 ] || fail "slow_consumer.py exited $BG_STATUS: $(cat "$BATS_TEST_TMPDIR/slow.err")"
    run jq -r .close "$BATS_TEST_TMPDIR/slow"
    [ "$(tail -n 1 <<<"$output")" = 1008 ] || fail "want close 1008:" "$(cat "$BATS_TEST_TMPDIR/slow")"
    run jq -r .frames "$BATS_TEST_TMPDIR/slow"
    [ "$(tail -n 1 <<<"$output")" -lt 2000 ] || fail "the slow reader got everything: no backpressure happened"
    grep -q "slow consumer" "$SRV_ERR" || fail "the server did not log the slow consumer"
}

@test "a history reply larger than outbound_limit reaches a reader that keeps up" {
    start_server --outbound-limit 65536
    # 20 messages of 4000 four-byte characters: a 320 KB history reply.
    local text
    text=$(printf '😀%.0s' $(seq 1 4000))
    { echo 'join big'; for _ in $(seq 1 20); do echo "send big $text"; done; echo 'history big --limit 100'; } >"$BATS_TEST_TMPDIR/cmds"
    pcli --token "$(token alice)" <"$BATS_TEST_TMPDIR/cmds" >"$BATS_TEST_TMPDIR/out" || fail "the CLI failed"
    # Only a summary: the reply itself is 1.6 MB of text.
    run jq -c 'select(.data.messages) | [.ok, (.data.messages | length), (.data.messages[19].text | length)]' "$BATS_TEST_TMPDIR/out"
    [ "$output" = '[true,20,4000]' ] || fail "history reply: $output"
    ! grep -q "slow consumer" "$SRV_ERR" || fail "a reader that keeps up was treated as a slow consumer"
}
