#!/usr/bin/env bats
# The SDK as an application uses it: build/tests/sdk/sdk_chat (written with
# only parley.h) chats through a real parleyd.

load helpers

@test "sdk_chat exchanges messages through parleyd and exits 0" {
    local bin=$PARLEY_BUILD/tests/sdk/sdk_chat
    [ -x "$bin" ] || skip "no $bin (tests/sdk/sdk_chat.c not built)"
    start_server
    run timeout 60 "$bin" "$PARLEY_URL" "$(token alice --name Alice)" "$(token bob --name Bob)"
    [ "$status" -eq 0 ] || fail "sdk_chat exited with status $status:" "$output"
}
