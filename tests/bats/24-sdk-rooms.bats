#!/usr/bin/env bats
# libparley's room and messaging calls as an application uses them:
# tests/sdk/sdk_rooms (only parley.h) drives three users through a real
# parleyd: a private room, invitations, info/list/online, subscriptions,
# typing, receipts, delivery status, stats, delete, and every typed push
# callback. Plus what the shared library exports.

load helpers

# run_tap BIN ARGS...: runs a TAP-printing program (bounded) and fails
# unless it exits 0 with no failing line.
run_tap() {
    run timeout 90 "$@"
    if [ "$status" -ne 0 ] || grep -q '^not ok' <<<"$output"; then
        fail "$(basename "$1") exited with status $status:" "$output"
    fi
}

sdk_rooms_bin() {
    SDK_ROOMS=$PARLEY_BUILD/tests/sdk/sdk_rooms
    [ -x "$SDK_ROOMS" ] || skip "no $SDK_ROOMS (tests/sdk/sdk_rooms.c not built)"
}

@test "sdk_rooms: owner, invited member and outsider through parleyd, exits 0" {
    sdk_rooms_bin
    start_server
    run_tap "$SDK_ROOMS" "$PARLEY_URL" "$(token owner1 --name Owner)" \
        "$(token member1 --name Member)" "$(token other1 --name Other)"
    # Every part ran: the last checks are the accounts' body_json.
    grep -q 'register again: 409' <<<"$output" || fail "sdk_rooms stopped early:" "$output"
}

@test "sdk_rooms twice on one server (fresh room names per run)" {
    sdk_rooms_bin
    start_server
    run_tap "$SDK_ROOMS" "$PARLEY_URL" "$(token ann)" "$(token bob)" "$(token cat)"
    run_tap "$SDK_ROOMS" "$PARLEY_URL" "$(token ann)" "$(token bob)" "$(token cat)"
}

@test "sdk_rooms leaks nothing and makes no memory error (valgrind)" {
    sdk_rooms_bin
    command -v valgrind >/dev/null || skip "no valgrind"
    start_server
    run_tap valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --error-exitcode=9 "$SDK_ROOMS" "$PARLEY_URL" "$(token ann)" "$(token bob)" "$(token cat)"
}

@test "libparley.so exports only parley_* symbols, the room and messaging calls among them" {
    local so=$PARLEY_BUILD/libparley.so
    [ -e "$so" ] || skip "no $so"
    run nm -D --defined-only "$so"
    assert_status 0
    local bad
    bad=$(awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^parley_/' <<<"$output")
    [ -z "$bad" ] || fail "symbols outside parley_*:" "$bad"
    local f
    for f in parley_room_info parley_room_list parley_room_online parley_subscribe \
        parley_unsubscribe parley_subscription_status parley_subscription_details \
        parley_invite parley_typing parley_typing_users parley_delivered parley_read \
        parley_delivery_status parley_message_stats parley_delete parley_on_typing \
        parley_on_receipt parley_on_deleted parley_on_member parley_on_error \
        parley_on_unmatched_ack parley_request_async_id parley_reserve_id \
        parley_auth_result_clear parley_room_parse parley_delivery_status_parse; do
        grep -qE " T ${f}(@@PARLEY_0)?\$" <<<"$output" || fail "$f is not exported"
        grep -qE " T ${f}_async(@@PARLEY_0)?\$" <<<"$output" ||
            case $f in parley_on_* | *_parse | parley_request_async_id | parley_reserve_id | parley_auth_result_clear) ;;
            *) fail "${f}_async is not exported" ;; esac
    done
}
