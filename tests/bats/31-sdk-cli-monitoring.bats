#!/usr/bin/env bats
# Monitoring from the client side (PROTOCOL.md section 6, admin only):
# libparley's typed calls through tests/sdk/sdk_monitoring (only parley.h)
# against a real parleyd, what the shared library exports, and the CLI's
# metrics, events [--limit N] [--type TYPE], monitor-stats and health in
# human and --json modes, refused for a user, and their usage errors.

load helpers

setup() {
    srv_init
    TADM=$(token root1 --role admin)
    TUSR=$(token plain1)
}

# run_tap BIN ARGS...: runs a TAP-printing program (bounded) and fails
# unless it exits 0 with no failing line.
run_tap() {
    run timeout 90 "$@"
    if [ "$status" -ne 0 ] || grep -q '^not ok' <<<"$output"; then
        fail "$(basename "$1") exited with status $status:" "$output"
    fi
}

sdk_monitoring_bin() {
    SDK_MON=$PARLEY_BUILD/tests/sdk/sdk_monitoring
    [ -x "$SDK_MON" ] || skip "no $SDK_MON (tests/sdk/sdk_monitoring.c not built)"
}

# human ARGS...: the CLI without --json (stdout and stderr apart).
human() {
    run --separate-stderr "$PARLEY" --timeout "${CLI_TIMEOUT:-5000}" "$@"
}

# ---- the SDK ----------------------------------------------------------------------

@test "sdk_monitoring: forbidden for a user, plausible figures for an admin, exits 0" {
    sdk_monitoring_bin
    start_server
    run_tap "$SDK_MON" "$PARLEY_URL" "$TADM" "$TUSR"
    # Every part ran: the last check is the user's disconnect event.
    grep -q "the user's disconnect is an event" <<<"$output" ||
        fail "sdk_monitoring stopped early:" "$output"
}

@test "sdk_monitoring leaks nothing and makes no memory error (valgrind)" {
    sdk_monitoring_bin
    command -v valgrind >/dev/null || skip "no valgrind"
    start_server
    run_tap valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --error-exitcode=9 "$SDK_MON" "$PARLEY_URL" "$TADM" "$TUSR"
}

@test "sdk_monitoring: bad usage exits 2" {
    sdk_monitoring_bin
    run "$SDK_MON" http://127.0.0.1:1 only-one-token
    assert_status 2
}

@test "libparley.so exports the monitoring calls, their async forms, parse and free functions" {
    local so=$PARLEY_BUILD/libparley.so
    [ -e "$so" ] || skip "no $so"
    run nm -D --defined-only "$so"
    assert_status 0
    local bad f
    bad=$(awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^parley_/' <<<"$output")
    [ -z "$bad" ] || fail "symbols outside parley_*:" "$bad"
    for f in parley_monitoring_metrics parley_monitoring_metrics_async \
        parley_monitoring_events parley_monitoring_events_async parley_monitoring_stats \
        parley_monitoring_stats_async parley_monitoring_health parley_monitoring_health_async \
        parley_metrics_parse parley_events_parse parley_monitoring_stats_parse \
        parley_health_parse parley_metrics_free parley_events_free \
        parley_monitoring_stats_free parley_health_free; do
        grep -qE " T ${f}(@@PARLEY_0)?\$" <<<"$output" || fail "$f is not exported"
    done
}

# ---- the CLI: --json prints the ack as sent -----------------------------------------

@test "cli --json: metrics, events, monitor-stats and health as the server sent them" {
    start_server
    run pcli --token "$TADM" -c metrics -c 'events --limit 5' -c 'events --type connect' \
        -c monitor-stats -c health
    assert_status 0
    [ "$(jcount 'has("id") and .ok == true')" -eq 5 ] || fail "want 5 ok acks:" "$output"
    expect_json '.ok and (.data | has("connections") and has("connections_total") and
        has("messages_in") and has("messages_out") and has("bytes_in") and has("bytes_out")
        and has("rooms") and has("users_online") and has("uptime_s"))
        and (.data.rates | has("messages_in_per_s") and has("connections_per_s"))
        and .data.connections >= 1'
    expect_json '.ok and (.data.events | type == "array" and length >= 1 and length <= 5)'
    expect_json '.ok and (.data.events | length >= 1 and all(.type == "connect"))
        and (.data.events | any(.user == "root1"))'
    expect_json '.ok and (.data.by_ip | type == "array") and (.data.by_user_agent | type == "array")
        and (.data | has("avg_connection_s") and has("auth_failures") and has("rate_limited"))'
    expect_json '.ok and (.data.status | IN("healthy", "degraded", "unhealthy"))
        and (.data.checks | type == "object" and has("connections"))
        and (.data.recommendations | type == "array")'
}

@test "cli --json: events --limit 1 --type connect sends both (one connect event back)" {
    start_server
    # Two connections' worth of connect events first.
    run pcli --token "$TUSR" -c 'presence-stats'
    assert_status 0
    run pcli --token "$TADM" -c 'events --type connect --limit 1'
    assert_status 0
    expect_json '.ok and (.data.events | length == 1) and .data.events[0].type == "connect"
        and .data.events[0].user == "root1"'
}

@test "cli: a user gets forbidden from every monitoring command (exit 1)" {
    start_server
    local c
    for c in metrics events 'events --limit 3 --type connect' monitor-stats health; do
        run pcli --token "$TUSR" -c "$c"
        assert_status 1
        expect_json 'has("id") and .ok == false and .error.code == "forbidden"'
    done
    human --token "$TUSR" -c metrics
    assert_status 1
    grep -q 'forbidden' <<<"$stderr" || fail "no forbidden on stderr:" "$stderr"
    [ -z "$output" ] || fail "nothing on stdout for a refusal, got:" "$output"
}

# ---- the CLI: human renderings ----------------------------------------------------------

@test "cli: metrics for people, one row per figure" {
    start_server
    human --token "$TADM" -c metrics
    assert_status 0
    local f
    for f in connections connections_total messages_in messages_out bytes_in bytes_out rooms \
        users_online uptime_s messages_in_per_s connections_per_s; do
        grep -qE "^$f +[0-9.]+\$" <<<"$output" || fail "no row for $f:" "$output"
    done
    grep -qE '^connections +[1-9]' <<<"$output" || fail "this connection is not counted:" "$output"
}

@test "cli: events for people, one line per event: time, type, user, ip" {
    start_server
    run pcli --token "$TUSR" -c presence-stats
    assert_status 0
    human --token "$TADM" -c events -c 'events --type connect --limit 2' \
        -c 'events --type rate_limited'
    assert_status 0
    grep -qE '^[0-9: -]{8,19} connect +plain1 +[0-9a-f.:]+' <<<"$output" ||
        fail "no connect line for plain1:" "$output"
    grep -qE '^[0-9: -]{8,19} connect +root1 +[0-9a-f.:]+' <<<"$output" ||
        fail "no connect line for root1:" "$output"
    grep -qxF '(no events)' <<<"$output" || fail "no '(no events)' for rate_limited:" "$output"
}

@test "cli: monitor-stats and health for people" {
    start_server
    human --token "$TADM" -c monitor-stats -c health
    assert_status 0
    grep -qE '^average connection [0-9.]+ s; [0-9]+ auth failures?, [0-9]+ rate limited$' \
        <<<"$output" || fail "no totals line:" "$output"
    grep -qxF 'connections by ip:' <<<"$output" || fail "no ip list:" "$output"
    grep -qE '^  (127\.0\.0\.1|::1|::ffff:127\.0\.0\.1) +[1-9]' <<<"$output" ||
        fail "this connection's ip is not listed:" "$output"
    grep -qxF 'connections by user agent:' <<<"$output" || fail "no agent list:" "$output"
    grep -qE '^status: (healthy|degraded|unhealthy)$' <<<"$output" || fail "no status:" "$output"
    grep -qE '^CHECK +STATUS +VALUE +THRESHOLD$' <<<"$output" || fail "no check table:" "$output"
    grep -qE '^connections +(ok|warn|fail) ' <<<"$output" || fail "no connections row:" "$output"
}

@test "cli: help lists the monitoring commands" {
    run pcli -c help
    assert_status 0
    local c
    for c in metrics events monitor-stats health; do
        expect_json ".ok and (.data.commands | any(.name == \"$c\"))" || return 1
    done
    expect_json '.data.commands | any(.usage == "events [--limit N] [--type TYPE]")'
}

# ---- the CLI: usage errors (exit 2, nothing sent) ------------------------------------------

@test "cli: monitoring usage errors exit 2 and send nothing" {
    start_server
    local c
    for c in 'metrics now' 'monitor-stats x' 'health all' 'events --limit' 'events --limit 0' \
        'events --limit 1001' 'events --limit ten' 'events --limit -5' 'events --type' \
        'events --type bogus' 'events --type CONNECT' 'events connect' 'events --since 5' \
        'events --limit 1 --limit 2' 'events --type connect --type disconnect' \
        'events --limit 1 --type connect extra'; do
        run pcli --token "$TADM" -c "$c"
        expect_usage || fail "for: $c"
    done
    human --token "$TADM" -c 'events --limit 0'
    assert_status 2
    grep -q 'usage: events \[--limit N\] \[--type TYPE\]' <<<"$stderr" ||
        fail "no usage line on stderr:" "$stderr"
}
