#!/usr/bin/env bats
# libparley's automatic reconnect and session recovery as an application
# uses them (tests/sdk/ programs written with only parley.h), against a real
# parleyd: sdk_churn kills the receiver's socket again and again while a
# sender sends, and every message must arrive exactly once; the same across
# a server restart (SIGTERM, and SIGKILL) on the same port and database;
# sdk_reconnect covers the token callback on a 4001 close, the offline
# policies, the presence and connection calls; sdk_offline_recovery the
# parts that need no server. Plus what the shared library exports.

load helpers

# run_tap BIN ARGS...: runs a TAP-printing program (bounded) and fails
# unless it exits 0 with no failing line.
run_tap() {
    run timeout 180 "$@"
    if [ "$status" -ne 0 ] || grep -q '^not ok' <<<"$output"; then
        fail "$(basename "$1") exited with status $status:" "$output"
    fi
}

sdk_bin() {
    SDK_BIN=$PARLEY_BUILD/tests/sdk/$1
    [ -x "$SDK_BIN" ] || skip "no $SDK_BIN (tests/sdk/$1.c not built)"
}

# churn_figure NAME [TEXT]: the value of NAME=V on the "# churn:" line.
churn_figure() {
    grep -m1 '^# churn:' <<<"${2-$output}" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# expect_churn_clean DROPS N: the churn line says DROPS drops, N messages,
# nothing lost or duplicated.
expect_churn_clean() {
    local line
    line=$(grep -m1 '^# churn:' <<<"$output") || fail "no churn line:" "$output" || return 1
    [ "$(churn_figure drops)" = "$1" ] && [ "$(churn_figure messages)" = "$2" ] &&
        [ "$(churn_figure lost)" = 0 ] && [ "$(churn_figure duplicated)" = 0 ] ||
        fail "want drops=$1 messages=$2 lost=0 duplicated=0, got: $line"
}

# restart_same_port [kill9] [PARLEYD ARGS...]: stops the server (SIGTERM, or
# SIGKILL with kill9) and starts it again on the same port and database,
# so clients reconnect to the URL they know. Binding can briefly fail
# while the old socket goes away: a few tries, bounded.
restart_same_port() {
    local port=$PARLEY_PORT how=term i
    if [ "${1:-}" = kill9 ]; then
        how=kill9
        shift
    fi
    if [ "$how" = kill9 ]; then kill9_server; else stop_server || return 1; fi
    for ((i = 0; i < 20; i++)); do
        if launch_server --listen "127.0.0.1:$port" --db "$SRV_DIR/parley.db" \
            --jwt-secret "$SECRET" "$@" 2>/dev/null; then
            [ "$PARLEY_PORT" = "$port" ] && return 0
            fail "the server came back on port $PARLEY_PORT, not $port"
            return 1
        fi
        sleep 0.1
    done
    fail "parleyd could not listen on port $port again"
}

# churn_across_restart HOW: sdk_churn in the background; once a third of
# the messages are sent the server restarts (HOW: term or kill9) on the
# same port; the run must still end clean.
churn_across_restart() {
    sdk_bin sdk_churn
    start_server
    local out=$BATS_TEST_TMPDIR/churn.out
    CHURN_PACE_MS=15 CHURN_RC_MIN_MS=50 CHURN_RC_MAX_MS=400 \
        bg_start "$out" "$SDK_BIN" "$PARLEY_URL" "$(token sender1)" "$(token receiver1)" 300 3
    local pid=$BG_PID
    wait_for_grep "$out" '^# sent 90$' 30 "$pid"
    if [ "$1" = kill9 ]; then restart_same_port kill9; else restart_same_port; fi
    bg_wait "$pid" 150
    output=$(cat "$out" "$out.err")
    [ "$BG_STATUS" -eq 0 ] && ! grep -q '^not ok' <<<"$output" ||
        fail "sdk_churn across a restart ($1) exited $BG_STATUS:" "$output"
    expect_churn_clean 3 300
    # Both clients lost their connection to the restart and came back.
    [ "$(churn_figure sender_drops)" -ge 1 ] || fail "the sender never dropped:" "$output"
}

@test "sdk_churn: 300 messages, 10 drops of the receiver, none lost or duplicated" {
    sdk_bin sdk_churn
    start_server
    run_tap "$SDK_BIN" "$PARLEY_URL" "$(token sender1)" "$(token receiver1)" 300 10
    expect_churn_clean 10 300
    [ "$(churn_figure sessions_lost)" = 0 ] || fail "a session was lost:" "$output"
}

@test "sdk_churn: 1000 messages at full speed, 40 drops" {
    sdk_bin sdk_churn
    start_server
    CHURN_PACE_MS=0 run_tap "$SDK_BIN" "$PARLEY_URL" "$(token sender1)" "$(token receiver1)" 1000 40
    expect_churn_clean 40 1000
    [ "$(churn_figure replayed)" -gt 0 ] || fail "nothing was replayed:" "$output"
}

@test "sdk_churn: with --recover-max 5 the sessions are lost and the app reloads from history" {
    sdk_bin sdk_churn
    start_server --recover-max 5
    # The first drop comes within the first 2 gaps (~400 ms) of 1.2 s of
    # sending, and the receiver stays away at least 300 ms (backoff 600 with
    # jitter down to half): ~100 messages
    # are missed, far over the 5 a recovery may replay. Not left to chance.
    CHURN_PACE_MS=3 CHURN_RC_MIN_MS=600 CHURN_RC_MAX_MS=900 CHURN_ALLOW_LOST=1 \
        run_tap "$SDK_BIN" "$PARLEY_URL" "$(token sender1)" "$(token receiver1)" 400 6
    expect_churn_clean 6 400
    [ "$(churn_figure sessions_lost)" -ge 1 ] || fail "no session was lost:" "$output"
    [ "$(churn_figure reloaded)" -ge 1 ] || fail "nothing was reloaded:" "$output"
}

@test "sdk_churn across a server restart (SIGTERM) on the same port and database" {
    churn_across_restart term
}

@test "sdk_churn across a server crash (SIGKILL) and restart on the same port and database" {
    churn_across_restart kill9
}

@test "sdk_churn twice on one server (fresh rooms per run, users reused)" {
    sdk_bin sdk_churn
    start_server
    run_tap "$SDK_BIN" "$PARLEY_URL" "$(token sender1)" "$(token receiver1)" 100 3
    expect_churn_clean 3 100
    run_tap "$SDK_BIN" "$PARLEY_URL" "$(token sender1)" "$(token receiver1)" 100 3
    expect_churn_clean 3 100
}

@test "sdk_churn leaks nothing and makes no memory error (valgrind)" {
    sdk_bin sdk_churn
    command -v valgrind >/dev/null || skip "no valgrind"
    start_server
    run_tap valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --error-exitcode=9 "$SDK_BIN" "$PARLEY_URL" "$(token sender1)" "$(token receiver1)" 150 6
    expect_churn_clean 6 150
}

@test "sdk_churn refuses bad usage with status 2" {
    sdk_bin sdk_churn
    run "$SDK_BIN" http://127.0.0.1:1 a b 0 1
    assert_status 2
    run "$SDK_BIN" http://127.0.0.1:1 a b
    assert_status 2
}

@test "sdk_reconnect: 4001 and the token callback, offline policies, presence and connection calls" {
    sdk_bin sdk_reconnect
    start_server
    # The short token is minted last, right before the run: it must still
    # be valid when the program connects, and expire soon after.
    local fresh_a tok_b short_a
    fresh_a=$(token usera --name 'User A')
    tok_b=$(token userb --name 'User B')
    short_a=$(token usera --name 'User A' --ttl 3)
    run_tap "$SDK_BIN" "$PARLEY_URL" usera "$short_a" "$fresh_a" userb "$tok_b"
    # Every part ran: the last checks are the blocking driver's.
    grep -q 'drivers: k recovered' <<<"$output" || fail "sdk_reconnect stopped early:" "$output"
}

@test "sdk_reconnect leaks nothing and makes no memory error (valgrind)" {
    sdk_bin sdk_reconnect
    command -v valgrind >/dev/null || skip "no valgrind"
    start_server
    local fresh_a tok_b short_a
    fresh_a=$(token usera)
    tok_b=$(token userb)
    short_a=$(token usera --ttl 4)
    run_tap valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --error-exitcode=9 "$SDK_BIN" "$PARLEY_URL" usera "$short_a" "$fresh_a" userb "$tok_b"
}

@test "sdk_offline_recovery (parse functions, argument checks, no server) exits 0" {
    sdk_bin sdk_offline_recovery
    run_tap "$SDK_BIN"
    command -v valgrind >/dev/null || return 0
    run_tap valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --error-exitcode=9 "$SDK_BIN"
}

@test "libparley.so exports only parley_* symbols, the presence, recovery and reconnect calls among them" {
    local so=$PARLEY_BUILD/libparley.so
    [ -e "$so" ] || skip "no $so"
    run nm -D --defined-only "$so"
    assert_status 0
    local bad
    bad=$(awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^parley_/' <<<"$output")
    [ -z "$bad" ] || fail "symbols outside parley_*:" "$bad"
    local f
    for f in parley_update_status parley_online_users parley_user_status parley_presence_stats \
        parley_create_session parley_recover parley_session_info parley_connection_stats; do
        grep -qE " T ${f}(@@PARLEY_0)?\$" <<<"$output" || fail "$f is not exported"
        grep -qE " T ${f}_async(@@PARLEY_0)?\$" <<<"$output" || fail "${f}_async is not exported"
    done
    for f in parley_on_presence parley_on_state parley_on_token parley_set_reconnect \
        parley_set_offline_policy parley_stats parley_state_name parley_user_status_parse \
        parley_presence_stats_parse parley_session_parse parley_recover_result_parse \
        parley_session_info_parse parley_connection_stats_parse parley_presence_parse \
        parley_user_status_free parley_session_free parley_recover_result_free \
        parley_session_info_free parley_presence_free; do
        grep -qE " T ${f}(@@PARLEY_0)?\$" <<<"$output" || fail "$f is not exported"
    done
}

@test "parley.h compiles as C99 and as C++" {
    local inc=$REPO_DIR/sdk/include
    command -v cc >/dev/null || skip "no cc"
    run cc -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only -I"$inc" -x c - <<<'#include "parley.h"
int main(void) { struct parley_message m; m.replayed = 0; return m.replayed; }'
    assert_status 0
    command -v c++ >/dev/null || skip "no c++"
    run c++ -std=c++11 -Wall -Wextra -Werror -fsyntax-only -I"$inc" -x c++ - <<<'#include "parley.h"
int main() { struct parley_state_event e = {PARLEY_STATE_RECOVERED, 3, 0, 0}; return (int)e.count - 3; }'
    assert_status 0
}
