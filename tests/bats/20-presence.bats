#!/usr/bin/env bats
# Presence (PROTOCOL.md 4 Presence, /tmp/issue4-spec.md): a user is online
# while any of their connections is open; the status they set applies to
# all of them, "offline" while connected is invisible; presence:update is
# pushed once to each connection subscribed to a room the user is in (the
# user's other devices included), never to the connection whose request
# caused it; user-status, online-users and stats as others see it.
#
# A push that must not arrive is checked with a fence: a later message the
# same connection must get after it (pushes to one connection keep their
# order, and a status change is pushed before its ack).

load helpers

setup() {
    srv_init
    TA=$(token alice --name Alice)
    TB=$(token bob)
    TC=$(token carol)
    TD=$(token dave)
    TE=$(token erin)
    TZ=$(token zed)
    OUT=$BATS_TEST_TMPDIR
}

# settled USER...: until the server has closed every connection of each USER
# (the short connections of `joined` close after their last ack; a close
# noticed late would push to connections opened after it). Asked by zed, in
# no room: his connections push nothing to anyone.
settled() {
    local u
    _no_conn() { user_status "$TZ" "$1" | jq -e '.connections == 0'; }
    for u in "$@"; do
        eventually 10 _no_conn "$u" || return 1
    done
}

# joined TOKEN ROOM...: the user joins each ROOM (one short connection).
joined() {
    local tok=$1 room cmds=()
    shift
    for room in "$@"; do cmds+=(-c "join $room"); done
    run pcli --token "$tok" "${cmds[@]}"
    assert_status 0
}

# fence TOKEN ROOM TEXT NAME...: TOKEN's user sends TEXT to ROOM; waits until
# each connection NAME has the message:new push of it.
fence() {
    local tok=$1 room=$2 text=$3 name
    shift 3
    run pcli --token "$tok" -c "send $room $text"
    assert_status 0
    for name in "$@"; do
        wait_for_json "$(conn_out "$name")" ".event == \"message:new\" and .data.message.text == \"$text\"" 10 "${CONN_PID[$name]}" ||
            return 1
    done
}

# updates NAME USER: the presence:update pushes about USER that connection
# NAME got, as a compact array of [status, last_seen is a number].
updates() {
    jsel ".event == \"presence:update\" and .data.user == \"$2\"" "$(cat "$(conn_out "$1")")" |
        jq -sc 'map([.data.status, (.data.last_seen | type == "number")])'
}

SET_AWAY='raw presence:update-status {"status":"away"}'
SET_BUSY='raw presence:update-status {"status":"busy"}'
SET_OFFLINE='raw presence:update-status {"status":"offline"}'
SET_ONLINE='raw presence:update-status {"status":"online"}'

@test "two devices: online at the first connect, still online when one of two closes, offline with last_seen when the last closes" {
    start_server
    joined "$TA" r
    joined "$TC" r
    settled alice carol
    # w: bob's connection subscribed to r, watching alice.
    conn_open w "$TB"
    conn_ok w 'join r'
    local s
    s=$(user_status "$TB" alice)
    jq -e '.user == "alice" and .status == "offline" and (.last_seen | type == "number") and .connections == 0' <<<"$s" >/dev/null ||
        fail "alice before connecting: $s"

    conn_open d1 "$TA"
    conn_ok d1 'raw presence:stats {}'
    wait_for_json "$(conn_out w)" '.event == "presence:update" and .data.user == "alice"' 10
    expect_json '.event == "presence:update" and .data == {"user":"alice","name":"Alice","status":"online","last_seen":null}' "$(cat "$(conn_out w)")"
    s=$(user_status "$TB" alice)
    jq -e '. == {"user":"alice","status":"online","last_seen":null,"connections":1}' <<<"$s" >/dev/null || fail "one device: $s"

    # A second device: no push, two connections.
    conn_open d2 "$TA"
    conn_ok d2 'raw presence:stats {}'
    s=$(user_status "$TB" alice)
    jq -e '.status == "online" and .connections == 2 and .last_seen == null' <<<"$s" >/dev/null || fail "two devices: $s"

    # One of two closes: still online, no push.
    conn_quit d2
    _one_conn() { user_status "$TB" alice | jq -e '.connections == 1 and .status == "online" and .last_seen == null'; }
    eventually 10 _one_conn
    fence "$TC" r fence1 w
    [ "$(updates w alice)" = '[["online",false]]' ] || fail "pushes about alice after d2 closed: $(cat "$(conn_out w)")"

    # The last one drops (killed): offline, with last_seen.
    local t0 t1
    t0=$(now_ms)
    conn_kill d1
    wait_for_json "$(conn_out w)" '.event == "presence:update" and .data.user == "alice" and .data.status == "offline"' 10
    t1=$(now_ms)
    local p
    p=$(jfirst '.event == "presence:update" and .data.status == "offline" and .data.user == "alice"' "$(cat "$(conn_out w)")")
    jq -e --argjson t0 "$t0" --argjson t1 "$t1" '.data.name == "Alice" and (.data | keys == ["last_seen","name","status","user"])
        and (.data.last_seen | type == "number") and .data.last_seen >= $t0 - 1000 and .data.last_seen <= $t1 + 1000' <<<"$p" >/dev/null ||
        fail "offline push: $p (between $t0 and $t1)"
    fence "$TC" r fence2 w
    [ "$(updates w alice)" = '[["online",false],["offline",true]]' ] || fail "pushes about alice: $(cat "$(conn_out w)")"
    s=$(user_status "$TB" alice)
    jq -e --argjson ls "$(jq .data.last_seen <<<"$p")" '. == {"user":"alice","status":"offline","last_seen":$ls,"connections":0}' <<<"$s" >/dev/null ||
        fail "after the last close: $s (push: $p)"
}

@test "away, busy, invisible, online: each pushed once to every connection sharing a room, the user's other device included, not to the causing connection" {
    start_server
    joined "$TA" r s
    joined "$TB" r s
    joined "$TC" other
    settled alice bob carol
    # a1: alice's other device (in r). a2: the device that changes the
    # status (subscribed to r and s). b: bob, subscribed to both rooms
    # alice is in: one push, not two. c: carol, in no room of alice's.
    conn_open a1 "$TA"
    conn_ok a1 'join r'
    conn_open a2 "$TA"
    conn_ok a2 'join r'
    conn_ok a2 'join s'
    conn_open b "$TB"
    conn_ok b 'join r'
    conn_ok b 'join s'
    conn_open c "$TC"
    conn_ok c 'join other'

    conn_ok a2 "$SET_AWAY" '.data == {"status":"away"}'
    conn_ok a2 "$SET_BUSY" '.data == {"status":"busy"}'
    conn_ok a2 "$SET_OFFLINE" '.data == {"status":"offline"}'
    conn_ok a2 "$SET_ONLINE" '.data == {"status":"online"}'
    # Setting the status it already has changes nothing others see.
    conn_ok a2 "$SET_ONLINE" '.data == {"status":"online"}'
    fence "$TB" r fence-r a1 a2 b
    fence "$TB" s fence-s b
    fence "$TC" other fence-other c

    local want='[["away",false],["busy",false],["offline",true],["online",false]]'
    [ "$(updates a1 alice)" = "$want" ] || fail "alice's other device: $(updates a1 alice)" "$(cat "$(conn_out a1)")"
    [ "$(updates b alice)" = "$want" ] || fail "bob: $(updates b alice)" "$(cat "$(conn_out b)")"
    [ "$(updates a2 alice)" = '[]' ] || fail "the causing connection got pushes: $(cat "$(conn_out a2)")"
    [ "$(updates c alice)" = '[]' ] || fail "carol shares no room with alice: $(cat "$(conn_out c)")"
    # The shape: {user, name, status, last_seen}.
    jsel '.event == "presence:update" and .data.user == "alice"' "$(cat "$(conn_out b)")" |
        jq -se 'all(.data | keys == ["last_seen","name","status","user"] and .name == "Alice"
            and (if .status == "offline" then .last_seen > 0 else .last_seen == null end))' >/dev/null ||
        fail "push shapes: $(cat "$(conn_out b)")"
}

@test "a status set on one device applies to all of them; room members see it in room:info and room:online" {
    start_server
    joined "$TA" r
    joined "$TB" r
    settled alice bob
    conn_open a1 "$TA"
    conn_ok a1 'join r'
    conn_open a2 "$TA"
    conn_ok a2 'raw presence:stats {}'
    conn_ok a2 "$SET_BUSY"
    local s
    s=$(user_status "$TB" alice)
    jq -e '.status == "busy" and .connections == 2 and .last_seen == null' <<<"$s" >/dev/null || fail "busy: $s"
    # A new device inherits busy, and its closing changes nothing.
    conn_open a3 "$TA"
    conn_ok a3 'raw presence:user-status {"user":"alice"}' '.data.status == "busy" and .data.connections == 3'
    conn_quit a3
    run pcli --token "$TB" -c 'raw room:info {"room":"r"}' -c 'raw room:online {"room":"r"}'
    assert_status 0
    expect_json '.ok == true and .data.members != null and (.data.members | map(select(.user == "alice"))[0].status == "busy")'
    expect_json '.ok == true and .data.users != null and (.data.users | map(select(.user == "alice")) | length == 1)
        and (.data.users | map(select(.user == "alice"))[0] | (.status // "busy") == "busy")'
    conn_ok a1 "$SET_OFFLINE"
    run pcli --token "$TB" -c 'raw room:info {"room":"r"}' -c 'raw room:online {"room":"r"}'
    assert_status 0
    expect_json '.ok == true and .data.members != null and (.data.members | map(select(.user == "alice"))[0].status == "offline")'
    expect_json '.ok == true and .data.users != null and (.data.users | map(.user) | index("alice") == null)'
}

@test "invisible: others see offline with last_seen and no connections, the user sees the truth, a new device stays invisible" {
    start_server
    joined "$TA" r
    joined "$TB" r
    settled alice bob
    conn_open b "$TB"
    conn_ok b 'join r'
    conn_open a1 "$TA"
    conn_ok a1 'join r'
    local t0 t1 s p
    t0=$(now_ms)
    conn_ok a1 "$SET_OFFLINE" '.data == {"status":"offline"}'
    t1=$(now_ms)
    wait_for_json "$(conn_out b)" '.event == "presence:update" and .data.user == "alice" and .data.status == "offline"' 10
    p=$(jfirst '.event == "presence:update" and .data.user == "alice" and .data.status == "offline"' "$(cat "$(conn_out b)")")
    jq -e --argjson t0 "$t0" --argjson t1 "$t1" '.data.last_seen >= $t0 - 1000 and .data.last_seen <= $t1 + 1000' <<<"$p" >/dev/null ||
        fail "invisible push: $p (between $t0 and $t1)"
    local ls
    ls=$(jq .data.last_seen <<<"$p")
    s=$(user_status "$TB" alice)
    jq -e --argjson ls "$ls" '. == {"user":"alice","status":"offline","last_seen":$ls,"connections":0}' <<<"$s" >/dev/null ||
        fail "as bob sees it: $s"
    # Herself (from a new connection, which inherits invisible): the truth.
    s=$(user_status "$TA" alice)
    jq -e '.user == "alice" and .status == "offline" and .connections == 2' <<<"$s" >/dev/null || fail "as alice sees herself: $s"
    run pcli --token "$TB" -c 'raw presence:online-users {}' -c 'raw presence:online-users {"room":"r"}'
    assert_status 0
    [ "$(jcount '.ok == true and .data.users == [{"user":"bob","name":"bob","status":"online"}]')" -eq 2 ] ||
        fail "online-users must not list invisible alice: $output"
    # A new device of alice stays invisible: no push, still offline to bob.
    conn_open a2 "$TA"
    conn_ok a2 'join r'
    conn_ok a2 'raw presence:user-status {"user":"alice"}' '.data.status == "offline" and .data.connections == 2'
    s=$(user_status "$TB" alice)
    jq -e --argjson ls "$ls" '. == {"user":"alice","status":"offline","last_seen":$ls,"connections":0}' <<<"$s" >/dev/null ||
        fail "bob, after alice's new device: $s"
    fence "$TB" r fence1 b a1 a2
    [ "$(updates b alice)" = '[["online",false],["offline",true]]' ] || fail "pushes to bob: $(cat "$(conn_out b)")"
    # Visible again, from the new device: bob and a1 see online with a
    # null last_seen; a2 (the cause) does not.
    conn_ok a2 "$SET_ONLINE"
    fence "$TB" r fence2 b a1 a2
    [ "$(updates b alice)" = '[["online",false],["offline",true],["online",false]]' ] || fail "pushes to bob: $(cat "$(conn_out b)")"
    [ "$(updates a1 alice)" = '[["online",false]]' ] || fail "pushes to a1: $(cat "$(conn_out a1)")"
    [ "$(updates a2 alice)" = '[]' ] || fail "pushes to a2: $(cat "$(conn_out a2)")"
    s=$(user_status "$TB" alice)
    jq -e '. == {"user":"alice","status":"online","last_seen":null,"connections":2}' <<<"$s" >/dev/null || fail "visible again: $s"
}

@test "presence:update-status accepts only online, away, busy and offline; a refusal changes nothing" {
    start_server
    run pcli --token "$TA" -c "$SET_AWAY" \
        -c 'raw presence:update-status {"status":"invisible"}' \
        -c 'raw presence:update-status {"status":"Online"}' \
        -c 'raw presence:update-status {"status":""}' \
        -c 'raw presence:update-status {"status":1}' \
        -c 'raw presence:update-status {"status":null}' \
        -c 'raw presence:update-status {"status":["busy"]}' \
        -c 'raw presence:update-status {}' \
        -c 'raw presence:user-status {"user":"alice"}'
    assert_status 1
    expect_codes bad_request 7
    expect_json '.ok == true and .data == {"status":"away"}'
    expect_json '.ok == true and .data.user == "alice" and .data.status == "away" and .data.connections == 1'
}

@test "presence:user-status: a user never seen is offline with a null last_seen; an invalid user id is bad_request" {
    start_server
    local s
    s=$(user_status "$TB" ghost)
    jq -e '. == {"user":"ghost","status":"offline","last_seen":null,"connections":0}' <<<"$s" >/dev/null || fail "ghost: $s"
    run pcli --token "$TB" -c 'raw presence:user-status {"user":"not a user"}' \
        -c 'raw presence:user-status {"user":""}' \
        -c 'raw presence:user-status {"user":7}' \
        -c 'raw presence:user-status {}' \
        -c "raw presence:user-status {\"user\":\"$(printf 'u%.0s' {1..65})\"}"
    assert_status 1
    expect_codes bad_request 5
    # A 64-character id is valid.
    run pcli --token "$TB" -c "raw presence:user-status {\"user\":\"$(printf 'u%.0s' {1..64})\"}"
    assert_status 0
    expect_json '.ok == true and .data.status == "offline" and .data.connections == 0'
}

# crowd: alice away on two devices, bob busy, carol online, dave invisible,
# all connected (a1 a2 b c d); erin, a member of r, not connected. r holds
# alice, bob, dave and erin; carol is in no room.
crowd() {
    start_server
    joined "$TE" r
    joined "$TA" r
    joined "$TB" r
    joined "$TD" r
    settled erin alice bob dave
    conn_open a1 "$TA"
    conn_ok a1 "$SET_AWAY"
    conn_open a2 "$TA"
    conn_ok a2 'raw presence:stats {}'
    conn_open b "$TB"
    conn_ok b "$SET_BUSY"
    conn_open c "$TC"
    conn_ok c 'raw presence:stats {}'
    conn_open d "$TD"
    conn_ok d "$SET_OFFLINE"
}

@test "presence:online-users lists every visible user sorted by id, or a room's members; a non-member asking about a room is forbidden" {
    crowd
    conn_ok c 'raw presence:online-users {}' \
        '.data == {"users":[{"user":"alice","name":"Alice","status":"away"},{"user":"bob","name":"bob","status":"busy"},{"user":"carol","name":"carol","status":"online"}]}'
    conn_ok b 'raw presence:online-users {"room":"r"}' \
        '.data == {"users":[{"user":"alice","name":"Alice","status":"away"},{"user":"bob","name":"bob","status":"busy"}]}'
    conn_err c 'raw presence:online-users {"room":"r"}' forbidden
    conn_err c 'raw presence:online-users {"room":"nowhere"}' forbidden
    conn_err c 'raw presence:online-users {"room":5}' bad_request
    conn_err c 'raw presence:online-users {"room":"bad room"}' bad_request
    # Dave, invisible, does not list himself either.
    conn_ok d 'raw presence:online-users {"room":"r"}' '(.data.users | map(.user)) == ["alice","bob"]'
}

@test "presence:stats counts users by visible status, users with a connection and open connections" {
    crowd
    conn_ok c 'raw presence:stats {}' '.data == {"online":1,"away":1,"busy":1,"users":4,"connections":5}'
    conn_quit a2
    _stats_is() { pcli --token "$TC" -c 'raw presence:stats {}' | jq -e "select(.ok == true) | .data == $1"; }
    # The asking connection of carol counts too.
    eventually 10 _stats_is '{"online":1,"away":1,"busy":1,"users":4,"connections":5}'
    conn_ok c 'raw presence:stats {}' '.data == {"online":1,"away":1,"busy":1,"users":4,"connections":4}'
    conn_kill a1
    conn_kill d
    eventually 10 _stats_is '{"online":1,"away":0,"busy":1,"users":2,"connections":3}'
    conn_ok b "$SET_ONLINE"
    conn_ok c 'raw presence:stats {}' '.data == {"online":2,"away":0,"busy":0,"users":2,"connections":2}'
}

@test "last_seen is stored: it survives a restart" {
    start_server
    joined "$TA" r
    local s ls
    settled alice
    s=$(user_status "$TB" alice)
    jq -e '.status == "offline" and (.last_seen | type == "number")' <<<"$s" >/dev/null || fail "alice gone: $s"
    ls=$(jq .last_seen <<<"$s")
    stop_server
    start_server
    s=$(user_status "$TB" alice)
    jq -e --argjson ls "$ls" '. == {"user":"alice","status":"offline","last_seen":$ls,"connections":0}' <<<"$s" >/dev/null ||
        fail "after the restart: $s (last_seen was $ls)"
}

@test "the CLI's presence commands: away, busy, invisible, online, status STATUS, who [ROOM], whois, presence-stats" {
    start_server
    joined "$TA" r
    joined "$TB" r
    settled alice bob
    conn_open b "$TB"
    conn_ok b 'join r'
    conn_open a "$TA"
    conn_ok a 'join r'
    conn_ok a 'away' '.data == {"status":"away"}'
    conn_ok a 'busy' '.data == {"status":"busy"}'
    conn_ok a 'invisible' '.data == {"status":"offline"}'
    conn_ok a 'online' '.data == {"status":"online"}'
    conn_ok a 'status away' '.data == {"status":"away"}'
    # Pushes to b caused by a's requests are queued before b's next ack.
    conn_ok b 'who' '.data == {"users":[{"user":"alice","name":"Alice","status":"away"},{"user":"bob","name":"bob","status":"online"}]}'
    [ "$(updates b alice)" = '[["online",false],["away",false],["busy",false],["offline",true],["online",false],["away",false]]' ] ||
        fail "pushes to bob: $(cat "$(conn_out b)")"
    [ "$(updates a alice)" = '[]' ] || fail "pushes to alice's own connection: $(cat "$(conn_out a)")"
    conn_ok b 'who r' '(.data.users | map(.user)) == ["alice","bob"]'
    conn_ok b 'whois alice' '.data == {"user":"alice","status":"away","last_seen":null,"connections":1}'
    conn_ok b 'presence-stats' '.data == {"online":1,"away":1,"busy":0,"users":2,"connections":2}'
}
