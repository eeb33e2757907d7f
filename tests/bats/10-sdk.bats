#!/usr/bin/env bats
# The SDK as an application uses it: programs under tests/sdk/ written with
# only parley.h. sdk_chat chats through a real parleyd; sdk_offline checks
# the library without a server.

load helpers

# run_tap BIN ARGS...: runs a TAP-printing program (bounded) and fails
# unless it exits 0 with no failing line.
run_tap() {
    run timeout 60 "$@"
    if [ "$status" -ne 0 ] || grep -q '^not ok' <<<"$output"; then
        fail "$(basename "$1") exited with status $status:" "$output"
    fi
}

@test "sdk_chat exchanges messages through parleyd and exits 0" {
    local bin=$PARLEY_BUILD/tests/sdk/sdk_chat
    [ -x "$bin" ] || skip "no $bin (tests/sdk/sdk_chat.c not built)"
    start_server
    run_tap "$bin" "$PARLEY_URL" "$(token alice --name Alice)" "$(token bob --name Bob)"
}

@test "sdk_offline (the library with no server) exits 0" {
    local bin=$PARLEY_BUILD/tests/sdk/sdk_offline
    [ -x "$bin" ] || skip "no $bin (tests/sdk/sdk_offline.c not built)"
    run_tap "$bin"
}
