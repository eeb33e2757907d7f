#!/usr/bin/env bats
# The limits of PROTOCOL.md sections 1.3, 1.4, 7 and 8 and of issue 5:
# upgrade attempts per IP (429 + Retry-After before any auth work),
# message:send per user across connections, other requests per connection
# (with their burst), rooms per user, JSON depth and array length, the
# fragmented-message timeout, the login throttles per IP and per username,
# and X-Forwarded-For from trusted proxies. Each limit is also shown off
# with 0. helpers.bash turns every rate limit off by default; each test
# here sets the ones it checks.
#
# Refills are checked through the retry_after_ms the server announces, with
# rates slow enough (one token per several seconds) that no test depends on
# how fast this machine runs.

load helpers

setup() {
    OUT=$BATS_TEST_TMPDIR
}

# reqs N EVENT [DATA]: rawws steps sending N requests with ids 1..N, all
# written before the first answer is read, then N recv steps.
reqs() {
    local n=$1 ev=$2 data=${3:-'{}'} i
    STEPS=()
    for ((i = 1; i <= n; i++)); do
        STEPS+=("text:{\"id\":$i,\"event\":\"$ev\",\"data\":$data}")
    done
    for ((i = 1; i <= n; i++)); do
        STEPS+=(recv)
    done
}

# sends ROOM FROM TO: steps sending message:send with ids FROM..TO, each
# followed by a recv of its answer.
sends() {
    local room=$1 i
    STEPS=()
    for ((i = $2; i <= $3; i++)); do
        STEPS+=("text:{\"id\":$i,\"event\":\"message:send\",\"data\":{\"room\":\"$room\",\"text\":\"m$i\"}}" recv)
    done
}

# acks FILTER: how many acks (rawws text frames with an id) in $output match.
acks() {
    jcount ".type == \"text\" and (.json.id != null) and ($1)"
}

# upgrade [RAWWS ARGS...]: one upgrade attempt as alice, no steps; sets
# $output and $status (0: 101, 3: refused).
upgrade() {
    run rawws "$PARLEY_URL" "$@"
}

join_step() {
    printf 'text:{"id":%s,"event":"join:chat","data":{"room":"%s"}}' "$1" "$2"
}

# --- upgrade attempts per IP (1.3) ---------------------------------------------

@test "rate_connections 3/60: the 4th upgrade from one IP is 429 with Retry-After and a JSON body, before origin and token checks" {
    start_server --rate-connections 3/60
    local t
    t=$(token alice)
    upgrade --token "$t"
    assert_status 0
    upgrade --token "$t"
    assert_status 0
    # A refused attempt counts too: the limit comes before the token check.
    upgrade
    assert_status 3
    expect_json '.status == 401'
    upgrade --token "$t"
    assert_status 3
    expect_json '.status == 429 and .json.error.code == "rate_limited"
        and (.json.error.message | test("too many connection attempts from 127.0.0.1"))
        and .json.error.retry_after_ms > 0 and .json.error.retry_after_ms <= 20000
        and .headers["content-type"] == "application/json"'
    # Retry-After is retry_after_ms in whole seconds, rounded up.
    local line ms secs
    line=$(jfirst '.status == 429')
    ms=$(jq -r '.json.error.retry_after_ms' <<<"$line")
    secs=$(jq -r '.headers["retry-after"]' <<<"$line")
    [ "$secs" -eq $(((ms + 999) / 1000)) ] || fail "Retry-After $secs for retry_after_ms $ms"
    # Before any auth work: a foreign origin and no token get 429, not 403/401.
    upgrade --origin http://evil.example
    assert_status 3
    expect_json '.status == 429'
    # Other routes are not limited by it.
    http GET /healthz
    [ "$HTTP_STATUS" = 200 ] || [ "$HTTP_STATUS" = 503 ] || fail "healthz: $HTTP_STATUS"
}

@test "rate_connections 0: upgrades from one IP are not limited" {
    start_server --rate-connections 0
    local t i
    t=$(token alice)
    for ((i = 0; i < 12; i++)); do
        upgrade --token "$t"
        assert_status 0
    done
}

# --- message:send per user (8) -------------------------------------------------

@test "rate_messages 5/60: the 6th message:send of a user across two connections is rate_limited; other users are not" {
    start_server --rate-messages 5/60
    local ta tb
    ta=$(token alice)
    tb=$(token bob)
    pcli --token "$ta" -c 'join r' >/dev/null
    pcli --token "$tb" -c 'join r' >/dev/null
    # Connection A: three sends, then it stays and prints what arrives.
    sends r 1 3
    bg_start "$OUT/a" rawws "$PARLEY_URL" --token "$ta" "$(join_step 100 r)" recv "${STEPS[@]}" hold:30000
    wait_for_json "$OUT/a" '.json.id == 3 and .json.ok == true' 10 "$BG_PID"
    # Connection B of the same user, while A is open: 2 more pass, then no more.
    sends r 4 7
    run rawws "$PARLEY_URL" --token "$ta" "$(join_step 100 r)" recv "${STEPS[@]}"
    assert_status 0
    [ "$(acks '.json.ok == true and .json.id < 100')" -eq 2 ] || fail "want 2 sends ok on B:" "$output"
    expect_json '.json.id == 6 and .json.ok == false and .json.error.code == "rate_limited"
        and .json.error.retry_after_ms > 0 and .json.error.retry_after_ms <= 12000
        and (.json.error.message | test("at most 5 per 60 s"))'
    expect_json '.json.id == 7 and .json.error.code == "rate_limited"'
    # Only the ack carries it; the error object has nothing else but code and message.
    expect_json '.json.id == 6 and (.json.error | keys) == ["code","message","retry_after_ms"]'
    # A got the two that passed (B was alice's other device).
    wait_for_json "$OUT/a" '.json.event == "message:new" and .json.data.message.text == "m5"' 10
    # Bob is not limited by alice's bucket.
    run pcli --token "$tb" -c 'send r from-bob-1' -c 'send r from-bob-2'
    assert_status 0
    [ "$(jcount '.ok == true and .data.message.user == "bob"')" -eq 2 ] || fail "bob:" "$output"
    # Other requests of alice are not counted against it.
    run pcli --token "$ta" -c 'history r'
    assert_status 0
    expect_json '.ok == true and (.data.messages | length) == 7'
}

@test "rate_messages: a request without an id over the limit gets an error push with event and retry_after_ms" {
    start_server --rate-messages 1/60
    local ta
    ta=$(token alice)
    run rawws "$PARLEY_URL" --token "$ta" "$(join_step 1 r)" recv \
        'text:{"id":2,"event":"message:send","data":{"room":"r","text":"one"}}' recv \
        'text:{"event":"message:send","data":{"room":"r","text":"two"}}' recv \
        'text:{"id":9,"event":"message:history","data":{"room":"r"}}' recv
    assert_status 0
    expect_json '.json.event == "error" and .json.data.code == "rate_limited"
        and .json.data.event == "message:send" and .json.data.retry_after_ms > 59000
        and .json.data.retry_after_ms <= 60000'
    expect_json '.json.id == 9 and .json.ok == true and (.json.data.messages | map(.text)) == ["one"]'
}

@test "rate_messages 0: message:send is not limited" {
    start_server --rate-messages 0 --rate-requests 0
    sends r 1 150
    run rawws "$PARLEY_URL" --token "$(token alice)" "$(join_step 1000 r)" recv "${STEPS[@]}"
    assert_status 0
    [ "$(acks '.json.ok == true and .json.data.message != null')" -eq 150 ] || fail "150 sends:" "$(acks '.json.ok != true')"
}

# --- other requests per connection (8) -------------------------------------------

@test "rate_requests 1/60 (burst 5): the 6th request on a connection is rate_limited; message:send and other connections are not" {
    start_server --rate-requests 1/60
    local ta
    ta=$(token alice)
    reqs 7 room:list
    run rawws "$PARLEY_URL" --token "$ta" "${STEPS[@]}" \
        'text:{"id":50,"event":"message:send","data":{"room":"nowhere","text":"x"}}' recv \
        'text:{"event":"room:list"}' recv
    assert_status 0
    [ "$(acks '.json.ok == true')" -eq 5 ] || fail "want the burst of 5:" "$output"
    expect_json '.json.id == 6 and .json.error.code == "rate_limited" and .json.error.retry_after_ms > 0
        and .json.error.retry_after_ms <= 60000
        and (.json.error.message | test("too many requests on this connection: at most 1 per 60 s, bursts of 5"))'
    # message:send has its own limit (off here): it reaches its handler.
    expect_json '.json.id == 50 and .json.error.code == "forbidden"'
    # Without an id: an error push naming the event.
    expect_json '.json.event == "error" and .json.data.code == "rate_limited" and .json.data.event == "room:list"'
    # Malformed requests count too, and are answered rate_limited (no id to use).
    run rawws "$PARLEY_URL" --token "$ta" "${STEPS[@]:0:5}" 'text:not json' recv recv recv recv recv recv
    assert_status 0
    expect_json '.json.event == "error" and .json.data.code == "rate_limited" and .json.data.event == null'
    # A new connection has its own bucket.
    run pcli --token "$ta" -c 'rooms'
    assert_status 0
}

@test "rate_requests 2/10: a burst of 10 (5 x COUNT), then one per 5 s" {
    start_server --rate-requests 2/10
    reqs 12 presence:stats
    run rawws "$PARLEY_URL" --token "$(token alice)" "${STEPS[@]}"
    assert_status 0
    [ "$(acks '.json.ok == true')" -eq 10 ] || fail "want 10 of 12 in the burst:" "$output"
    expect_json '.json.id == 11 and .json.error.code == "rate_limited" and .json.error.retry_after_ms > 0
        and .json.error.retry_after_ms <= 5000'
}

@test "rate_requests default 20/1: a burst of 100 requests passes, the rest of 130 at once mostly not" {
    start_server --rate-requests 20/1
    reqs 130 presence:stats
    run rawws "$PARLEY_URL" --token "$(token alice)" "${STEPS[@]}"
    assert_status 0
    local n
    n=$(acks '.json.ok == true')
    # 100 at once, plus one per 50 ms for however long the 130 took.
    [ "$n" -ge 100 ] && [ "$n" -le 115 ] || fail "$n of 130 passed"
    expect_json '.json.error.code == "rate_limited" and .json.error.retry_after_ms <= 50'
}

@test "rate_requests 0: requests are not limited" {
    start_server --rate-requests 0
    reqs 150 presence:stats
    run rawws "$PARLEY_URL" --token "$(token alice)" "${STEPS[@]}"
    assert_status 0
    [ "$(acks '.json.ok == true')" -eq 150 ] || fail "150 requests:" "$(acks '.json.ok != true')"
}

# --- rooms per user -----------------------------------------------------------------

@test "rooms_per_user 2: joining a third room is forbidden; rejoining, leaving and other users are fine" {
    start_server --rooms-per-user 2
    local ta
    ta=$(token alice)
    run pcli --token "$ta" -c 'join a' -c 'join b' -c 'join c' -c 'join a' -c 'leave b' -c 'join c'
    expect_json '.ok == true and .data.role != null and (.data | rname) == "a"'
    expect_json '.ok == false and .error.code == "forbidden" and .error.message == "member of too many rooms (limit 2)"'
    [ "$(jcount '.ok == true and .data.role != null and (.data | rname) == "c"')" -eq 1 ] ||
        fail "c joined once, after leaving b:" "$output"
    [ "$(jcount '.ok == true and .data.role != null and (.data | rname) == "a"')" -eq 2 ] ||
        fail "rejoining a member room is not a new membership:" "$output"
    run pcli --token "$(token bob)" -c 'join a' -c 'join b' -c 'rooms'
    assert_status 0
    expect_json '.ok == true and (.data.rooms | length) == 2'
    # The count comes back from the store after a restart.
    stop_server
    start_server --rooms-per-user 2
    run pcli --token "$ta" -c 'join d'
    expect_json '.ok == false and .error.code == "forbidden" and (.error.message | test("limit 2"))'
}

@test "rooms_per_user 0: no limit" {
    start_server --rooms-per-user 0
    local args=() i
    for ((i = 0; i < 12; i++)); do
        args+=(-c "join r$i")
    done
    run pcli --token "$(token alice)" "${args[@]}" -c rooms
    assert_status 0
    expect_json '.ok == true and (.data.rooms | length) == 12'
}

# --- JSON depth and arrays --------------------------------------------------------------

# nest N: a JSON value N levels deep ({"a":{"a":...1}}).
nest() {
    local n=$1 s=1 i
    for ((i = 0; i < n; i++)); do
        s="{\"a\":$s}"
    done
    printf '%s' "$s"
}

# array N: a JSON array of N numbers.
array() {
    local n=$1
    printf '['
    seq -s, 1 "$n" | tr -d '\n'
    printf ']'
}

@test "max_json_depth 4: a request nesting deeper is bad_request and the connection stays usable" {
    start_server --max-json-depth 4
    # envelope 1, data 2, then two more objects: depth 4.
    run rawws "$PARLEY_URL" --token "$(token alice)" \
        "text:{\"id\":1,\"event\":\"room:list\",\"data\":{\"x\":$(nest 2)}}" recv \
        "text:{\"id\":2,\"event\":\"room:list\",\"data\":{\"x\":$(nest 3)}}" recv \
        'text:{"id":3,"event":"room:list","data":{"x":[[[1]]]}}' recv \
        'text:{"id":4,"event":"room:list"}' recv
    assert_status 0
    expect_json '.json.id == 1 and .json.ok == true'
    expect_json '.json.id == 2 and .json.error.code == "bad_request" and .json.error.message == "the request nests deeper than 4 levels"'
    expect_json '.json.id == 3 and .json.error.code == "bad_request"'
    expect_json '.json.id == 4 and .json.ok == true'
}

@test "max_json_depth default 32; cJSON's own 1000 still ends a deeper parse as malformed JSON" {
    start_server
    run rawws "$PARLEY_URL" --token "$(token alice)" \
        "text:{\"id\":1,\"event\":\"room:list\",\"data\":$(nest 31)}" recv \
        "text:{\"id\":2,\"event\":\"room:list\",\"data\":$(nest 32)}" recv \
        "text:{\"id\":3,\"event\":\"room:list\",\"data\":$(nest 1200)}" recv \
        'text:{"id":4,"event":"room:list"}' recv
    assert_status 0
    expect_json '.json.id == 1 and .json.ok == true'
    expect_json '.json.id == 2 and .json.error.code == "bad_request" and (.json.error.message | test("deeper than 32"))'
    expect_json '.json.event == "error" and .json.data.code == "bad_request" and .json.data.message == "malformed JSON"'
    expect_json '.json.id == 4 and .json.ok == true'
}

@test "max_json_array 3: a longer array anywhere in a request is bad_request; the connection stays usable" {
    start_server --max-json-array 3
    local ta
    ta=$(token alice)
    pcli --token "$ta" -c 'join a' -c 'join b' -c 'join c' -c 'join d' >/dev/null
    run rawws "$PARLEY_URL" --token "$ta" \
        'text:{"id":1,"event":"room:subscribe-multiple","data":{"rooms":["a","b","c"]}}' recv \
        'text:{"id":2,"event":"room:subscribe-multiple","data":{"rooms":["a","b","c","d"]}}' recv \
        'text:{"id":3,"event":"room:list","data":{"ignored":{"deep":[1,2,3,4]}}}' recv \
        'text:{"id":4,"event":"room:list"}' recv
    assert_status 0
    expect_json '.json.id == 1 and .json.ok == true and (.json.data.subscribed | length) == 3'
    expect_json '.json.id == 2 and .json.error.code == "bad_request" and .json.error.message == "an array in the request holds more than 3 elements"'
    expect_json '.json.id == 3 and .json.error.code == "bad_request"'
    expect_json '.json.id == 4 and .json.ok == true'
}

@test "max_json_array default 1000; max_json_depth 0 and max_json_array 0 disable both" {
    start_server
    run rawws "$PARLEY_URL" --token "$(token alice)" \
        "text:{\"id\":1,\"event\":\"room:list\",\"data\":{\"x\":$(array 1000)}}" recv \
        "text:{\"id\":2,\"event\":\"room:list\",\"data\":{\"x\":$(array 1001)}}" recv
    expect_json '.json.id == 1 and .json.ok == true'
    expect_json '.json.id == 2 and .json.error.code == "bad_request" and (.json.error.message | test("more than 1000"))'
    stop_server
    start_server --max-json-depth 0 --max-json-array 0
    run rawws "$PARLEY_URL" --token "$(token alice)" \
        "text:{\"id\":1,\"event\":\"room:list\",\"data\":$(nest 200)}" recv \
        "text:{\"id\":2,\"event\":\"room:list\",\"data\":{\"x\":$(array 5000)}}" recv
    assert_status 0
    expect_json '.json.id == 1 and .json.ok == true'
    expect_json '.json.id == 2 and .json.ok == true'
}

# --- fragmented messages ------------------------------------------------------------------

@test "fragment_timeout 1: a fragmented message not completed in time is closed 1008" {
    start_server --fragment-timeout 1
    local t
    t=$(token alice)
    # Completed at once: fine.
    run rawws "$PARLEY_URL" --token "$t" 'fragstart:{"id":1,"event":"room:' 'fragcont:li' 'fragend:st"}' recv
    assert_status 0
    expect_json '.json.id == 1 and .json.ok == true'
    # Left open: closed within the timeout (plus the 1 s timer's step).
    local t0=$SECONDS
    run rawws "$PARLEY_URL" --token "$t" 'fragstart:{"id":1,"event":"room:' 'fragcont:li' until-close
    expect_json '.type == "close" and .code == 1008 and .reason == "fragmented message not completed in time"'
    [ $((SECONDS - t0)) -le 5 ] || fail "took $((SECONDS - t0)) s"
    # Pings in between do not complete it.
    run rawws "$PARLEY_URL" --token "$t" 'fragstart:{"id":1,' ping:x until-close
    expect_json '.type == "close" and .code == 1008'
}

@test "fragment_timeout 0: a slow fragmented message is not closed" {
    start_server --fragment-timeout 0
    run rawws "$PARLEY_URL" --token "$(token alice)" 'fragstart:{"id":1,"event":"room:' hold:2500 'fragend:list"}' recv
    assert_status 0
    expect_json '.json.id == 1 and .json.ok == true'
}

# --- login throttles ------------------------------------------------------------------------

# login USER PASSWORD [PATH [CURL ARGS...]]: POST /api/login (or PATH) as
# JSON; the response headers in $OUT/h.
login() {
    http POST "${3:-/api/login}" "{\"username\":\"$1\",\"password\":\"$2\"}" -D "$OUT/h" "${@:4}"
}

# retry_after: the Retry-After header of the last login call.
retry_after() {
    tr -d '\r' <"$OUT/h" | sed -n 's/^[Rr]etry-[Aa]fter: *//p'
}

@test "login_rate 3/60: the 4th /api/login or /api/register from one IP is 429 rate_limited" {
    start_server --login-rate 3/60 --login-user-rate 0
    login carol carol-password-1 /api/register
    expect_http 201
    login carol wrong-password
    expect_http 401
    login nobody whatever-password
    expect_http 401
    login carol carol-password-1
    expect_http 429 '.error.code == "rate_limited" and .error.retry_after_ms > 0
        and .error.retry_after_ms <= 20000 and (.error.message | test("too many login attempts from 127.0.0.1"))'
    local ms secs
    ms=$(jq -r .error.retry_after_ms <<<"$HTTP_BODY")
    secs=$(retry_after)
    [ "$secs" -eq $(((ms + 999) / 1000)) ] || fail "Retry-After '$secs' for $ms ms"
    login dave dave-password-1 /api/register
    expect_http 429 '.error.code == "rate_limited"'
    # The WebSocket upgrade has its own limit.
    run rawws "$PARLEY_URL" --token "$(token carol)"
    assert_status 0
}

@test "login_user_rate 2/60: a third attempt for one username is 429 even with the right password; other names pass" {
    start_server --login-rate 0 --login-user-rate 2/60
    login erin erin-password-1 /api/register
    expect_http 201
    login erin wrong-password
    expect_http 401
    login erin erin-password-1
    expect_http 429 '.error.code == "rate_limited" and .error.retry_after_ms > 0
        and (.error.message | test("for user .erin."))'
    [ -n "$(retry_after)" ] || fail "no Retry-After"
    login frank frank-password-1 /api/register
    expect_http 201
    login frank frank-password-1
    expect_http 200 '.token | length > 0'
    # Names that cannot exist have no bucket of their own (the IP limit
    # covers them): they are refused as before.
    login 'bad name' whatever-password
    expect_http 401
}

@test "login_rate 0 and login_user_rate 0: no login throttle" {
    start_server --login-rate 0 --login-user-rate 0
    local i
    for ((i = 0; i < 15; i++)); do
        login grace wrong-password
        expect_http 401
    done
}

# --- X-Forwarded-For from trusted proxies ----------------------------------------------------

@test "trusted_proxies 127.0.0.1: the per-IP upgrade limit applies to the forwarded client address" {
    start_server --rate-connections 2/60 --trusted-proxies 127.0.0.1
    local t
    t=$(token alice)
    upgrade --token "$t" --header 'X-Forwarded-For: 203.0.113.1'
    assert_status 0
    # A client-supplied address left of the proxy's entry is not believed.
    upgrade --token "$t" --header 'X-Forwarded-For: 6.6.6.6, 203.0.113.1'
    assert_status 0
    upgrade --token "$t" --header 'X-Forwarded-For: 203.0.113.1'
    assert_status 3
    expect_json '.status == 429 and (.json.error.message | test("from 203[.]0[.]113[.]1:"))'
    # Another forwarded client has its own bucket, and is who the server sees.
    upgrade --token "$t" --header 'X-Forwarded-For: 203.0.113.2'
    assert_status 0
    grep -q 'open: user alice from 203.0.113.2' <(server_logs) || fail "no connection from 203.0.113.2 logged:" "$(server_logs)"
    # Two header lines are one list: the last line's right-most entry counts.
    upgrade --token "$t" --header 'X-Forwarded-For: 203.0.113.9' --header 'X-Forwarded-For: 203.0.113.1'
    assert_status 3
    expect_json '.status == 429'
    # The proxy itself, with no header, is a client like any other.
    upgrade --token "$t"
    assert_status 0
    # Login throttles use the same address.
    stop_server
    start_server --login-rate 1/60 --trusted-proxies 127.0.0.0/8,::1
    login henry whatever-password /api/login -H 'X-Forwarded-For: 198.51.100.7'
    expect_http 401
    login henry whatever-password /api/login -H 'X-Forwarded-For: 198.51.100.7'
    expect_http 429 '.error.message | test("from 198[.]51[.]100[.]7:")'
    login henry whatever-password /api/login -H 'X-Forwarded-For: 198.51.100.8'
    expect_http 401
}

@test "without trusted_proxies, X-Forwarded-For is ignored" {
    start_server --rate-connections 2/60
    local t
    t=$(token alice)
    upgrade --token "$t" --header 'X-Forwarded-For: 203.0.113.1'
    assert_status 0
    upgrade --token "$t" --header 'X-Forwarded-For: 203.0.113.2'
    assert_status 0
    upgrade --token "$t" --header 'X-Forwarded-For: 203.0.113.3'
    assert_status 3
    expect_json '.status == 429 and (.json.error.message | test("from 127[.]0[.]0[.]1:"))'
    ! grep -q 'from 203.0.113' <(server_logs) || fail "a forwarded address was believed:" "$(server_logs)"
}

# --- monitoring -------------------------------------------------------------------------------

@test "every refusal is counted in monitoring and recorded as a rate_limited event" {
    start_server --rate-requests 1/60 --login-rate 1/60 --rate-connections 3/60
    local ta
    ta=$(token alice)
    reqs 6 room:list
    run rawws "$PARLEY_URL" --token "$ta" "${STEPS[@]}"
    expect_json '.json.id == 6 and .json.error.code == "rate_limited"'
    login ivan whatever-password
    expect_http 401
    login ivan whatever-password
    expect_http 429
    run rawws "$PARLEY_URL" --token "$(token root --role admin)" \
        'text:{"id":1,"event":"monitoring:stats"}' recv \
        'text:{"id":2,"event":"monitoring:events","data":{"type":"rate_limited"}}' recv
    assert_status 0
    expect_json '.json.id == 1 and .json.data.rate_limited == 2'
    expect_json '.json.id == 2 and (.json.data.events | length) == 2
        and (.json.data.events | map(.ip) | unique) == ["127.0.0.1"]
        and (.json.data.events[1].user == "alice") and (.json.data.events[0].user == null)
        and (.json.data.events[0].detail | test("login attempts"))'
    # The upgrade limit too (the two connections above took 2 of 3).
    upgrade --token "$ta"
    assert_status 0
    upgrade --token "$ta"
    assert_status 3
    # /metrics shows a snapshot taken every second.
    eventually 5 metrics_has '^parley_rate_limited_total 3$'
}

# metrics_has ERE: a line of GET /metrics matches.
metrics_has() {
    http GET /metrics && grep -Eq "$1" <<<"$HTTP_BODY"
}

# --- bad settings ----------------------------------------------------------------------------

@test "bad values of the new settings stop the server with exit 2 naming them" {
    srv_init
    local bad
    for bad in '--rooms-per-user -1' '--trusted-proxies 10.0.0.1/8' '--trusted-proxies example.com' \
        '--login-rate 5' '--login-user-rate 1/0' '--max-json-depth 1001' '--max-json-array x' \
        '--fragment-timeout 1.5'; do
        # shellcheck disable=SC2086
        run timeout 10 "$PARLEYD" --db "$SRV_DIR/p.db" --jwt-secret "$SECRET" $bad
        [ "$status" -eq 2 ] || fail "$bad: exit $status: $output"
        grep -q -- "${bad%% *}" <<<"$output" || fail "$bad: not named: $output"
    done
}
