#!/usr/bin/env bats
# The cluster (issue 9): two or three parleyd nodes (--cluster redis://...,
# --node-id NAME) sharing one PostgreSQL database (pg.bash, one database
# per test) and one Redis (redis.bash, one per file, emptied before each
# test), with the users on different nodes. Everything of PROTOCOL.md
# works as on one node whatever node each client is on: chat, typing,
# receipts, delete, joins and leaves, presence (connections summed over the
# nodes), recovery on another node, idempotent send, the per-user message
# rate limit; monitoring names the node and the cluster. Failures: kill -9
# of a node loses nothing it acked and its users go offline on the others
# within 7 s (also when it is restarted at once under the same name), its
# sessions recover on a survivor; a node stopped with SIGTERM is gone at
# once; Redis restarted mid-run is seen in /healthz, sends are still
# acked, and what was sent meanwhile reaches the other node's subscribers
# exactly once when Redis is back, without restarting a node; a node
# starts without Redis. Settings a cluster refuses exit 2.
#
# Every wait is for an event and bounded (wait_for_json, wait_seq,
# within); nothing sleeps and hopes. Where a duplicate must show, the
# watching connection is the bare Python client (conn_open_raw): the CLI
# drops a message:new whose seq it has already seen.

load helpers
load pg
load redis
load cluster

setup_file() {
    skip_without_pg
    skip_without_redis
    start_pg
    start_redis
}

teardown_file() {
    stop_redis
    stop_pg
}

# The password of the test "a Redis that wants a password".
REDIS_PW=s3cret-pa:ss

setup() {
    skip_without_pg
    skip_without_redis
    new_pg_db
    srv_init
    # Redis runs (an earlier test that stopped it may have failed before
    # starting it again); no node of an earlier test is left, and what it
    # kept in Redis goes too.
    [ "$(redis_cli ping 2>/dev/null)" = PONG ] || resume_redis || fail "redis is down and does not start again"
    # Without a password, whatever a failed earlier test left set.
    redis_cli -a "$REDIS_PW" --no-auth-warning config set requirepass '' >/dev/null 2>&1 || true
    [ "$(redis_cli flushall)" = OK ] || fail "redis FLUSHALL failed"
    TA=$(token alice --name Alice)
    TB=$(token bob)
    TC=$(token carol)
    TD=$(token dave)
    TZ=$(token zed)
    TADMIN=$(token boss --role admin)
    OUT=$BATS_TEST_TMPDIR
}

# ---- helpers of this suite -----------------------------------------------------

# offline_within CONN USER SINCE_MS BOUND_MS WHAT: connection CONN gets
# presence:update USER offline at most BOUND_MS after SINCE_MS (a clock
# reading, now_ms); prints how long it took after WHAT.
offline_within() {
    local f seen=
    f=$(conn_out "$1")
    while [ "$(now_ms)" -le $(($3 + $4)) ]; do
        [ -n "$(jsel ".event == \"presence:update\" and .data.user == \"$2\" and .data.status == \"offline\"" "$(cat "$f")")" ] && {
            seen=$(now_ms)
            break
        }
        sleep 0.05
    done
    [ -n "$seen" ] || fail "$2 not pushed offline on $1 within $4 ms of $5; $1 printed:" "$(cat "$f")"
    echo "# $2 pushed offline on $1 $((seen - $3)) ms after $5 (bound $4)" >&3
}

# within SECONDS CMD...: like helpers.bash's eventually (CMD every 50 ms
# until it succeeds, failing with its last output), but bounded by the
# clock: eventually counts tries, so a CMD that takes 200 ms (a CLI
# connection) makes `eventually 5` last 25 s.
within() {
    local secs=$1 end out
    end=$(($(now_ms) + secs * 1000))
    shift
    while :; do
        out=$("$@" 2>&1) && return 0
        [ "$(now_ms)" -lt "$end" ] || break
        sleep 0.05
    done
    fail "not true within ${secs}s: $*" "$out"
}

# joined NODE TOKEN ROOM...: the user joins each ROOM, on NODE (one short
# connection).
joined() {
    local node=$1 tok=$2 room cmds=()
    shift 2
    for room in "$@"; do cmds+=(-c "join $room"); done
    run on_node "$node" pcli --token "$tok" "${cmds[@]}"
    assert_status 0
}

# settled NODE USER...: until NODE says each USER has no connection left on
# any node (the short connections of `joined` close after their last ack;
# a close noticed late would push presence to connections opened after).
# Asked by zed, in no room.
settled() {
    local node=$1 u
    shift
    _no_conn() { on_node "$1" user_status "$TZ" "$2" | jq -e '.connections == 0 and .status == "offline"'; }
    for u in "$@"; do
        within 10 _no_conn "$node" "$u" || return 1
    done
}

# status_is NODE USER JQ: presence:user-status USER, asked on NODE,
# satisfies JQ (for within).
status_is() {
    on_node "$1" user_status "$TZ" "$2" | jq -e "$3"
}

# mon NODE EVENT: monitoring:EVENT asked on NODE as an admin; MON is the
# ack's data.
mon() {
    local out
    out=$(on_node "$1" pcli --token "$TADMIN" -c "raw monitoring:$2 {}") || {
        fail "monitoring:$2 on $1 failed: $out"
        return 1
    }
    MON=$(jq -cR 'fromjson? | objects | select(.ok == true) | .data' <<<"$out")
    [ -n "$MON" ] || fail "monitoring:$2 on $1: no ok ack: $out"
}

# mon_is NODE EVENT JQ: monitoring:EVENT on NODE satisfies JQ (for within).
mon_is() {
    mon "$1" "$2" 2>/dev/null || return 1
    jq -e "$3" <<<"$MON" >/dev/null || { echo "$MON"; return 1; }
}

# healthz_is NODE JQ [HTTP_STATUS]: GET /healthz of NODE answers
# HTTP_STATUS (when given) with a body satisfying JQ (for within).
healthz_is() {
    on_node "$1" http GET /healthz || return 1
    { [ -z "${3:-}" ] || [ "$HTTP_STATUS" = "$3" ]; } && jq -e "$2" <<<"$HTTP_BODY" >/dev/null ||
        { echo "$HTTP_STATUS $HTTP_BODY"; return 1; }
}

# pushed NAME JQ: the pushes of connection NAME that satisfy JQ.
pushed() {
    jsel "$2" "$(cat "$(conn_out "$1")")"
}

# wait_push NAME JQ [TIMEOUT_S]: until connection NAME got a push matching JQ.
wait_push() {
    wait_for_json "$(conn_out "$1")" "$2" "${3:-10}" "${CONN_PID[$1]}"
}

# wait_pushes NAME JQ N [TIMEOUT_S]: until connection NAME got N pushes
# matching JQ.
wait_pushes() {
    local f i n=0 timeout=${4:-10}
    f=$(conn_out "$1")
    for ((i = 0; i < timeout * 20; i++)); do
        n=$(jcount "$2" "$(cat "$f")")
        [ "$n" -ge "$3" ] && return 0
        sleep 0.05
    done
    fail "connection $1: $n pushes matching '$2', not $3, within ${timeout}s; it printed:" "$(cat "$f")"
}

# new_text NAME TEXT: the filter of a message:new of TEXT.
new_text() {
    printf '.event == "message:new" and .data.message.text == "%s"' "$1"
}

# ---- everything of PROTOCOL.md across nodes ------------------------------------

@test "cluster: three nodes chat: each message reaches every other node's subscribers once, the sender's other device too; seqs 1..N; history equal on every node" {
    start_nodes a b c
    joined a "$TA" r
    joined b "$TB" r
    joined c "$TC" r
    on_node a conn_open a1 "$TA"
    on_node b conn_open a2 "$TA"
    on_node b conn_open b1 "$TB"
    on_node c conn_open c1 "$TC"
    local n
    for n in a1 a2 b1 c1; do conn_ok "$n" 'join r'; done
    conn_ok a1 'send r from a' '.data.message.seq == 1 and .data.message.user == "alice" and .data.message.name == "Alice"'
    conn_ok b1 'send r from b' '.data.message.seq == 2'
    conn_ok c1 'send r from c' '.data.message.seq == 3'
    wait_push b1 "$(new_text 'from a')"
    wait_push c1 "$(new_text 'from a')"
    wait_push a2 "$(new_text 'from a')"
    wait_push a1 "$(new_text 'from b')"
    wait_push a2 "$(new_text 'from b')"
    wait_push c1 "$(new_text 'from b')"
    wait_push a1 "$(new_text 'from c')"
    wait_push a2 "$(new_text 'from c')"
    wait_push b1 "$(new_text 'from c')"
    # The pushed message is the stored one, as on one node.
    expect_json '.event == "message:new" and (.data.message | .room == "r" and .seq == 1 and .user == "alice"
        and .name == "Alice" and .text == "from a" and .deleted == false and (.id | type == "number"))' "$(cat "$(conn_out c1)")"
    # Not to the sending connection; once to each other one.
    [ "$(jcount '.event == "message:new"' "$(cat "$(conn_out a1)")")" -eq 2 ] || fail "a1:" "$(cat "$(conn_out a1)")"
    [ "$(jcount '.event == "message:new"' "$(cat "$(conn_out b1)")")" -eq 2 ] || fail "b1:" "$(cat "$(conn_out b1)")"
    [ "$(jcount '.event == "message:new"' "$(cat "$(conn_out c1)")")" -eq 2 ] || fail "c1:" "$(cat "$(conn_out c1)")"
    [ "$(new_seqs "$(conn_out a2)")" = '[1,2,3]' ] || fail "alice's device on b:" "$(cat "$(conn_out a2)")"
    local h ha
    for n in a b c; do
        run on_node "$n" pcli --token "$TB" -c 'history r'
        assert_status 0
        h=$(jfirst '.ok == true and .data.messages != null' | jq -c '.data.messages')
        jq -e 'map([.seq, .text, .user]) == [[1,"from a","alice"],[2,"from b","bob"],[3,"from c","carol"]]' <<<"$h" >/dev/null ||
            fail "history on $n: $h"
        [ -z "${ha:-}" ] || [ "$h" = "$ha" ] || fail "history on $n differs: $h vs $ha"
        ha=$h
    done
}

@test "cluster: four writers on two nodes at once into one room: every subscriber on either node gets seqs 1..N once each, in seq order" {
    local per=30 total=120
    start_nodes a b
    joined a "$TB" busy
    joined b "$TC" busy
    on_node a conn_open_raw wa "$TB"
    conn_ok wa 'raw join:chat {"room":"busy"}'
    on_node b conn_open_raw wb "$TC"
    conn_ok wb 'raw join:chat {"room":"busy"}'
    four_writers "$per" "${NODE_URL[a]}" "${NODE_URL[b]}"
    wait_seq wa "$total" busy
    wait_seq wb "$total" busy
    [ "$(new_seqs "$(conn_out wa)" busy)" = "$(seq_range 1 "$total")" ] || fail "on a:" "$(new_seqs "$(conn_out wa)" busy)"
    [ "$(new_seqs "$(conn_out wb)" busy)" = "$(seq_range 1 "$total")" ] || fail "on b:" "$(new_seqs "$(conn_out wb)" busy)"
}

@test "cluster: joins and leaves on one node are announced on the other; room:info and room:online count members online on any node" {
    start_nodes a b
    joined a "$TA" r
    on_node a conn_open a1 "$TA"
    conn_ok a1 'join r'
    on_node b conn_open b1 "$TB"
    conn_ok b1 'join r' '.data.role == "member" and .data.member_count == 2'
    wait_push a1 '.event == "room:user-joined" and .data == {"room":"r","user":"bob","name":"bob"}'
    # On a, bob (connected to b only) is a member and online.
    _info_a() {
        on_node a pcli --token "$TA" -c 'raw room:info {"room":"r"}' | jq -e 'select(.ok == true) | .data
            | .member_count == 2 and .online_count == 2
              and (.members | map(select(.user == "bob"))[0] | .role == "member" and .status == "online")'
    }
    within 10 _info_a
    _online_a() {
        on_node a pcli --token "$TA" -c 'raw room:online {"room":"r"}' |
            jq -e 'select(.ok == true) | .data.users | map(.user) | index("bob") != null'
    }
    within 10 _online_a
    conn_ok b1 'leave r'
    wait_push a1 '.event == "room:user-left" and .data == {"room":"r","user":"bob"}'
    run on_node a pcli --token "$TA" -c 'raw room:info {"room":"r"}'
    assert_status 0
    expect_json '.ok == true and .data.member_count == 1 and (.data.members | map(.user)) == ["alice"]'
    # Once each.
    [ "$(jcount '.event == "room:user-joined" and .data.user == "bob"' "$(cat "$(conn_out a1)")")" -eq 1 ] || fail "a1:" "$(cat "$(conn_out a1)")"
}

@test "cluster: typing on one node reaches the other: true, false, typing-users, and a disconnect ends it" {
    start_nodes a b
    joined a "$TA" r
    joined b "$TB" r
    on_node b conn_open b1 "$TB"
    conn_ok b1 'join r'
    on_node a conn_open a1 "$TA"
    conn_ok a1 'join r'
    conn_ok a1 'raw message:typing {"room":"r","typing":true}' '.data == {}'
    wait_push b1 '.event == "message:typing" and .data == {"room":"r","user":"alice","typing":true}'
    _typers_b() {
        local out
        out=$(on_node b pcli --token "$TB" -c 'raw message:typing-users {"room":"r"}')
        jq -e 'select(.ok == true) | .data == {"room":"r","users":["alice"]}' <<<"$out" >/dev/null || { echo "$out"; return 1; }
    }
    within 5 _typers_b
    conn_ok a1 'raw message:typing {"room":"r","typing":false}'
    wait_push b1 '.event == "message:typing" and .data == {"room":"r","user":"alice","typing":false}'
    conn_ok a1 'raw message:typing {"room":"r","typing":true}'
    wait_pushes b1 '.event == "message:typing" and .data.typing == true' 2
    # Alice's connection drops: node a ends her typing, b's member hears it.
    conn_kill a1
    wait_pushes b1 '.event == "message:typing" and .data.typing == false' 2
    [ "$(pushed b1 '.event == "message:typing"' | jq -sc 'map(.data.typing)')" = '[true,false,true,false]' ] ||
        fail "typing pushes on b:" "$(cat "$(conn_out b1)")"
}

@test "cluster: delivery and read receipts made on one node reach the author's connections on every node; delivery-status agrees" {
    start_nodes a b
    joined a "$TA" r
    joined b "$TB" r
    on_node a conn_open a1 "$TA"
    conn_ok a1 'join r'
    on_node b conn_open a2 "$TA"
    conn_ok a2 'join r'
    conn_ok a1 'send r m1'
    local m1 m2
    m1=$(jq -r .data.message.id <<<"$CONN_ACK")
    conn_ok a1 'send r m2'
    m2=$(jq -r .data.message.id <<<"$CONN_ACK")
    run on_node b pcli --token "$TB" -c "raw message:delivered {\"message_id\":$m1}"
    assert_status 0
    expect_json ".ok == true and .data.message_id == $m1"
    wait_push a1 ".event == \"message:delivered\" and .data.message_id == $m1 and .data.room == \"r\" and .data.user == \"bob\""
    wait_push a2 ".event == \"message:delivered\" and .data.message_id == $m1 and .data.user == \"bob\""
    run on_node b pcli --token "$TB" -c "raw message:read {\"message_id\":$m2}"
    assert_status 0
    expect_json ".ok == true and .data == {\"message_id\":$m2,\"room\":\"r\",\"last_read_seq\":2}"
    wait_push a1 ".event == \"message:read\" and .data.message_id == $m2 and .data.room == \"r\" and .data.user == \"bob\" and (.data.ts | type == \"number\")"
    wait_push a2 ".event == \"message:read\" and .data.message_id == $m2 and .data.user == \"bob\""
    local n
    for n in a b; do
        run on_node "$n" pcli --token "$TA" -c "raw message:delivery-status {\"message_id\":$m1}"
        assert_status 0
        expect_json '.ok == true and (.data.read_by | map(.user)) == ["bob"] and (.data.delivered_to | map(.user)) == ["bob"] and .data.pending == []'
    done
}

@test "cluster: a delete on one node is pushed to the other's subscribers; history there shows it deleted" {
    start_nodes a b
    joined a "$TA" r
    joined b "$TB" r
    on_node b conn_open b1 "$TB"
    conn_ok b1 'join r'
    run on_node a pcli --token "$TA" -c 'send r keep' -c 'send r secret'
    assert_status 0
    local id
    id=$(msg_id secret)
    wait_push b1 "$(new_text secret)"
    run on_node a pcli --token "$TA" -c "raw message:delete {\"message_id\":$id}"
    assert_status 0
    expect_json ".ok == true and .data == {\"message_id\":$id,\"room\":\"r\"}"
    wait_push b1 ".event == \"message:deleted\" and .data == {\"message_id\":$id,\"room\":\"r\"}"
    run on_node b pcli --token "$TB" -c 'history r'
    assert_status 0
    expect_json '.ok == true and (.data.messages | map([.seq, .text, .deleted]) == [[1,"keep",false],[2,"",true]])'
}

@test "cluster: presence across nodes: online when connected to any node, connections summed, stats and online-users cluster-wide, offline only when the last connection on any node closes" {
    start_nodes a b
    joined a "$TC" r
    joined a "$TB" r
    settled a bob carol
    settled b bob carol
    # w: carol watches room r from node a.
    on_node a conn_open w "$TC"
    conn_ok w 'join r'
    # Bob connects to b.
    on_node b conn_open b1 "$TB"
    conn_ok b1 'raw presence:stats {}'
    wait_push w '.event == "presence:update" and .data.user == "bob" and .data.status == "online" and .data.last_seen == null'
    within 5 status_is a bob '. == {"user":"bob","status":"online","last_seen":null,"connections":1}'
    # And to a as well: two connections seen from either node.
    on_node a conn_open b2 "$TB"
    conn_ok b2 'raw presence:stats {}'
    within 5 status_is b bob '.status == "online" and .connections == 2'
    within 5 status_is a bob '.status == "online" and .connections == 2'
    # Stats are cluster-wide: carol (1) and bob (2) on two nodes.
    _stats_is() {
        on_node "$1" pcli --token "$TB" -c 'raw presence:stats {}' | jq -e "select(.ok == true) | .data == $2"
    }
    within 5 _stats_is b '{"online":2,"away":0,"busy":0,"users":2,"connections":4}'
    conn_ok b1 'raw presence:online-users {}' '(.data.users | map(.user)) == ["bob","carol"]'
    # A status set on b applies to bob's connections on every node.
    conn_ok b1 'raw presence:update-status {"status":"away"}'
    wait_push w '.event == "presence:update" and .data.user == "bob" and .data.status == "away"'
    within 5 status_is a bob '.status == "away" and .connections == 2'
    within 5 _stats_is a '{"online":1,"away":1,"busy":0,"users":2,"connections":4}'
    # Bob's connection on b closes: still there, away (the one on a).
    conn_quit b1
    within 5 status_is a bob '.status == "away" and .connections == 1'
    within 5 status_is b bob '.status == "away" and .connections == 1'
    # A fence: a message from b after it; no offline push came before it.
    run on_node b pcli --token "$TB" -c 'send r fence'
    assert_status 0
    wait_push w "$(new_text fence)"
    [ -z "$(pushed w '.event == "presence:update" and .data.user == "bob" and .data.status == "offline"')" ] ||
        fail "bob pushed offline while connected to a:" "$(cat "$(conn_out w)")"
    # The last one closes: offline with last_seen, once.
    conn_quit b2
    wait_push w '.event == "presence:update" and .data.user == "bob" and .data.status == "offline" and (.data.last_seen | type == "number")'
    within 5 status_is b bob '.status == "offline" and .connections == 0 and (.last_seen | type == "number")'
    [ "$(pushed w '.event == "presence:update" and .data.user == "bob"' | jq -sc 'map(.data.status)')" = '["online","away","offline"]' ] ||
        fail "presence pushes about bob:" "$(cat "$(conn_out w)")"
}

@test "cluster: a session created on one node is recovered on another: exactly the missed messages, once, before newer ones; the token is single use cluster-wide" {
    start_nodes a b
    on_node a members r
    on_node a session_conn a1 "$TA" r
    on_node b send_n "$TB" r m 1 2
    wait_seq a1 2
    conn_kill a1
    on_node b wait_offline alice "$TB"
    on_node b send_n "$TB" r m 3 4
    on_node b recover_on a2 "$SESSION"
    expect_recovered 2 '["r"]' "$SESSION"
    wait_seq a2 4
    replay_first "$(conn_out a2)"
    # Live again, on b, from a message sent on a.
    on_node a send_n "$TB" r m 5 5
    wait_seq a2 5
    on_node b send_n "$TB" r m 6 6
    wait_seq a2 6
    [ "$(new_seqs "$(conn_out a2)")" = "$(seq_range 3 6)" ] || fail "want 3..6 once each:" "$(cat "$(conn_out a2)")"
    # The consumed token is refused on the node that created it.
    on_node a conn_open_raw a3 "$TA"
    conn_run a3 "raw connection:recover $(recover_json "$SESSION")"
    [[ $CONN_ACK == *'"ok":false'* && $CONN_ACK == *'"code":"session_expired"'* ]] ||
        fail "a consumed token on a: $CONN_ACK"
    # Its successor works back on a once b has seen a2 drop, with last_seq.
    conn_kill a3
    conn_kill a2
    on_node a wait_offline alice "$TB"
    on_node b send_n "$TB" r m 7 7
    local second=$NEXT
    on_node a recover_on a4 "$second" r=6
    expect_recovered 1 '["r"]' "$second"
    wait_seq a4 7
    on_node b send_n "$TB" r m 8 8
    wait_seq a4 8
    [ "$(new_seqs "$(conn_out a4)")" = '[7,8]' ] || fail "want 7, 8 once each on a:" "$(cat "$(conn_out a4)")"
}

@test "cluster: the same client_msg_id sent to one node then the other is one message (same id and seq), stored and pushed once" {
    start_nodes a b
    joined a "$TA" r
    joined b "$TB" r
    on_node b conn_open_raw bw "$TB"
    conn_ok bw 'raw join:chat {"room":"r"}'
    run on_node a pcli --token "$TA" -c 'send --id cm-1 r first try'
    assert_status 0
    local orig
    orig=$(jfirst '.ok == true and .data.message != null' | jq -c '.data.message | [.id, .seq, .text]')
    [ "$(jq -c '.[1:]' <<<"$orig")" = '[1,"first try"]' ] || fail "first send: $output"
    run on_node b pcli --token "$TA" -c 'send --id cm-1 r second try'
    assert_status 0
    [ "$(jfirst '.ok == true and .data.message != null' | jq -c '.data.message | [.id, .seq, .text]')" = "$orig" ] ||
        fail "the retry on b is not the original $orig: $output"
    run on_node b pcli --token "$TA" -c 'send r fence'
    assert_status 0
    expect_json '.ok == true and .data.message.seq == 2'
    wait_seq bw 2
    [ "$(new_seqs "$(conn_out bw)")" = '[1,2]' ] || fail "pushed to bob:" "$(cat "$(conn_out bw)")"
    [ "$(pg_sql "$PG_DB" "SELECT count(*) FROM messages WHERE client_msg_id = 'cm-1'")" = 1 ] || fail "rows for cm-1"
}

@test "cluster: rate_messages counts a user's sends on every node: 5/60, 3 on a and 3 on b give one rate_limited" {
    start_node a --rate-messages 5/60
    start_node b --rate-messages 5/60
    joined a "$TA" r
    joined a "$TB" r
    run on_node a pcli --token "$TA" -c 'send r a1' -c 'send r a2' -c 'send r a3'
    assert_status 0
    [ "$(jcount '.ok == true and .data.message != null')" -eq 3 ] || fail "on a: $output"
    run on_node b pcli --token "$TA" -c 'send r b1' -c 'send r b2' -c 'send r b3'
    [ "$(jcount '.ok == true and .data.message != null')" -eq 2 ] || fail "on b, want 2 acks: $output"
    expect_codes rate_limited 1
    expect_json '.ok == false and .error.code == "rate_limited" and .error.retry_after_ms > 0'
    # Per user: bob is not limited by alice's sends.
    run on_node b pcli --token "$TB" -c 'send r from bob'
    assert_status 0
    expect_json '.ok == true and .data.message.text == "from bob"'
}

@test "cluster: monitoring names the node and the cluster's live nodes; health and /healthz have the cluster check; a stopped node leaves the count" {
    start_nodes a b
    mon a metrics
    jq -e '.node == "a" and (.cluster | {redis, nodes, node_ids}) == {"redis":"up","nodes":2,"node_ids":["a","b"]}' <<<"$MON" >/dev/null ||
        fail "metrics on a: $MON"
    mon b metrics
    jq -e '.node == "b" and (.cluster | {redis, nodes, node_ids}) == {"redis":"up","nodes":2,"node_ids":["a","b"]}' <<<"$MON" >/dev/null ||
        fail "metrics on b: $MON"
    mon a health
    jq -e '.checks.cluster.status == "ok"' <<<"$MON" >/dev/null || fail "health on a: $MON"
    # /healthz is published once a second.
    within 3 healthz_is b '.checks.cluster.status == "ok"'
    start_node c
    within 5 mon_is a metrics '.cluster.nodes == 3 and .cluster.node_ids == ["a","b","c"]'
    stop_node c
    within 8 mon_is a metrics '(.cluster | {redis, nodes, node_ids}) == {"redis":"up","nodes":2,"node_ids":["a","b"]}'
    within 8 mon_is b metrics '.cluster.node_ids == ["a","b"]'
}

@test "monitoring without a cluster: metrics has exactly the members PROTOCOL.md lists (no node, no cluster), and health no cluster check" {
    start_server
    run pcli --token "$TADMIN" -c 'raw monitoring:metrics {}' -c 'raw monitoring:health {}'
    assert_status 0
    local m h
    m=$(jfirst '.ok == true and .data.uptime_s != null' | jq -c .data)
    jq -e 'has("node") | not' <<<"$m" >/dev/null || fail "metrics of a node alone: $m"
    jq -e 'has("cluster") | not' <<<"$m" >/dev/null || fail "metrics of a node alone: $m"
    h=$(jfirst '.ok == true and .data.checks != null' | jq -c .data)
    jq -e '.checks | has("cluster") | not' <<<"$h" >/dev/null || fail "health of a node alone: $h"
    http GET /healthz
    jq -e '.checks | has("cluster") | not' <<<"$HTTP_BODY" >/dev/null || fail "/healthz: $HTTP_BODY"
}

# ---- failures --------------------------------------------------------------------

@test "cluster: kill -9 of a node: every message it acked is in the store; its users go offline on the others within 7 s; the others keep chatting" {
    start_nodes a b c
    joined b "$TC" r
    joined b "$TD" r
    joined b "$TB" r
    settled b bob carol dave
    on_node b conn_open w "$TC"
    conn_ok w 'join r'
    on_node c conn_open d "$TD"
    conn_ok d 'join r'
    # Bob is connected to a only.
    on_node a conn_open b1 "$TB"
    conn_ok b1 'join r'
    wait_push w '.event == "presence:update" and .data.user == "bob" and .data.status == "online"'
    within 5 status_is c bob '.status == "online" and .connections == 1'
    # acked_survive_kill9 (helpers.bash): 60 acked sends of alice through a,
    # kill -9 of a, then the history read, and seq 61 sent, through b.
    kill9_server() { kill9_node a; }
    start_server() {
        PARLEY_URL=${NODE_URL[b]}
        export PARLEY_URL
    }
    PARLEY_URL=${NODE_URL[a]}
    export PARLEY_URL
    acked_survive_kill9
    # Bob's only connection was on a: b pushes him offline within 7 s.
    offline_within w bob "$KILL_MS" 7000 "the kill -9 of a"
    within 3 status_is c bob '.status == "offline" and .connections == 0 and (.last_seen | type == "number")'
    within 3 mon_is b metrics '(.cluster | {redis, nodes, node_ids}) == {"redis":"up","nodes":2,"node_ids":["b","c"]}'
    # The survivors chat across b and c.
    conn_ok w 'send r after the kill from b'
    wait_push d "$(new_text 'after the kill from b')"
    conn_ok d 'send r after the kill from c'
    wait_push w "$(new_text 'after the kill from c')"
}

@test "cluster: a node killed with -9 and restarted at once under the same name: the users of the dead process still go offline on the others within 7 s" {
    start_nodes a b
    joined b "$TC" r
    joined a "$TB" r
    settled b bob carol
    on_node b conn_open w "$TC"
    conn_ok w 'join r'
    on_node a conn_open b1 "$TB"
    conn_ok b1 'join r'
    wait_push w '.event == "presence:update" and .data.user == "bob" and .data.status == "online"'
    # A supervisor restarts it before the others could miss a heartbeat.
    kill9_node a
    local killed=$KILL_MS
    start_node a
    offline_within w bob "$killed" 7000 "the kill -9 of a, restarted at once"
    within 3 status_is b bob '.status == "offline" and .connections == 0'
    within 3 status_is a bob '.status == "offline" and .connections == 0'
    within 3 mon_is b metrics '(.cluster | {nodes, node_ids}) == {"nodes":2,"node_ids":["a","b"]}'
    # The new a is a working member: bob on it chats with carol on b.
    on_node a conn_open b2 "$TB"
    conn_ok b2 'join r'
    wait_push w '.event == "presence:update" and .data.user == "bob" and .data.status == "online" and .data.last_seen == null' 5
    conn_ok b2 'send r back on a'
    wait_push w "$(new_text 'back on a')"
}

@test "cluster: a session whose node was killed with -9 is recovered on a survivor, with last_seq: exactly what was missed" {
    start_nodes a b
    on_node a members r
    on_node a session_conn a1 "$TA" r
    on_node b send_n "$TB" r m 1 2
    wait_seq a1 2
    kill9_node a
    on_node b send_n "$TB" r m 3 4
    # The client reconnects to b at once; until b has seen a die (at most
    # 7 s) it may still count the session as held by a's socket and refuse
    # it (a refusal leaves the token valid), so it retries, bounded.
    local i ok= end=$(($(now_ms) + 8000))
    for ((i = 1; ; i++)); do
        on_node b recover_on rc$i "$SESSION" r=2
        [[ $CONN_ACK == *'"ok":true'* ]] && { ok=rc$i; break; }
        conn_kill rc$i
        [ "$(now_ms)" -lt "$end" ] || break
        sleep 0.2
    done
    [ -n "$ok" ] || fail "no recovery on b within 8 s of the kill; last answer: $CONN_ACK"
    expect_recovered 2 '["r"]' "$SESSION"
    wait_seq "$ok" 4
    on_node b send_n "$TB" r m 5 5
    wait_seq "$ok" 5
    [ "$(new_seqs "$(conn_out "$ok")")" = "$(seq_range 3 5)" ] || fail "want 3..5 once each:" "$(cat "$(conn_out "$ok")")"
    replay_first "$(conn_out "$ok")"
}

@test "cluster: a node stopped with SIGTERM says bye: its users go offline on the others at once, not after the 5 s timeout" {
    start_nodes a b
    joined b "$TC" r
    joined a "$TB" r
    on_node b conn_open w "$TC"
    conn_ok w 'join r'
    on_node a conn_open b1 "$TB"
    conn_ok b1 'join r'
    wait_push w '.event == "presence:update" and .data.user == "bob" and .data.status == "online"'
    local t0=$(now_ms)
    stop_node a
    wait_push w '.event == "presence:update" and .data.user == "bob" and .data.status == "offline"'
    local dt=$(($(now_ms) - t0))
    echo "# bob pushed offline on b ${dt} ms after SIGTERM to a" >&3
    # The node timeout is 5 s: well under it, the bye (or bob's own close)
    # was heard, not the silence.
    [ "$dt" -lt 4000 ] || fail "bob went offline on b only after ${dt} ms: the stop was not announced"
    within 3 mon_is b metrics '(.cluster | {nodes, node_ids}) == {"nodes":1,"node_ids":["b"]}'
    node_logs b | grep -q 'cluster: node a is gone (it stopped)' ||
        fail "b did not log a's bye:" "$(node_logs b | grep cluster)"
}

@test "cluster: Redis restarted mid-run: /healthz degraded and sends acked meanwhile; what was sent reaches the other node's subscribers once when Redis is back; live traffic resumes without restarting a node" {
    start_nodes a b
    joined a "$TA" r q
    joined a "$TB" r q
    joined a "$TC" r
    joined a "$TD" r
    # bw: bob on b watching r; aw: alice on a watching q; cw: carol on a
    # watching r (the sending node's own subscriber). Bare clients: a
    # duplicate would show.
    on_node b conn_open_raw bw "$TB"
    conn_ok bw 'raw join:chat {"room":"r"}'
    on_node a conn_open_raw aw "$TA"
    conn_ok aw 'raw join:chat {"room":"q"}'
    on_node a conn_open_raw cw "$TC"
    conn_ok cw 'raw join:chat {"room":"r"}'
    on_node a send_n "$TA" r r 1 1
    wait_seq bw 1 r
    wait_seq cw 1 r
    on_node b send_n "$TB" q q 1 1
    wait_seq aw 1 q
    local pa=${NODE_PID[a]} pb=${NODE_PID[b]}

    pause_redis
    wait_for_grep "${NODE_ERR[a]}" 'cluster: lost redis://' 10 "$pa"
    within 10 healthz_is a '.status != "healthy" and .checks.cluster.status == "fail"' 503
    within 10 healthz_is b '.status != "healthy" and .checks.cluster.status == "fail"' 503
    within 5 mon_is a metrics '.cluster.redis == "down"'
    # Sends are stored and acked; the node's own subscribers get them live.
    on_node a send_n "$TA" r r 2 4
    [ "$(jsel '.ok == true' "$SENT" | jq -sc 'map(.data.message.seq)')" = '[2,3,4]' ] || fail "acks during the outage: $SENT"
    wait_seq cw 4 r
    on_node b send_n "$TB" q q 2 2
    # A node started now serves without Redis, and says so.
    NODE_NO_WAIT=1 start_node c
    within 10 healthz_is c '.status != "healthy" and .checks.cluster.status == "fail"' 503

    resume_redis
    wait_node_connected a 2 15
    wait_node_connected b 2 15
    wait_node_connected c 1 15
    # Caught up from the store on the other node.
    wait_seq bw 4 r
    wait_seq aw 2 q
    # Live traffic again, both ways.
    on_node a send_n "$TA" r r 5 5
    wait_seq bw 5 r
    on_node b send_n "$TB" q q 3 3
    wait_seq aw 3 q
    # Node c joined the cluster on its own when Redis came.
    on_node c conn_open_raw dw "$TD"
    conn_ok dw 'raw join:chat {"room":"r"}'
    on_node a send_n "$TA" r r 6 6
    wait_seq dw 6 r
    wait_seq bw 6 r
    [ "$(new_seqs "$(conn_out dw)" r)" = '[6]' ] || fail "dave on c, room r:" "$(cat "$(conn_out dw)")"
    # Exactly once each, in order.
    wait_seq cw 6 r
    [ "$(new_seqs "$(conn_out bw)" r)" = "$(seq_range 1 6)" ] || fail "bob on b, room r:" "$(cat "$(conn_out bw)")"
    [ "$(new_seqs "$(conn_out cw)" r)" = "$(seq_range 1 6)" ] || fail "carol on a, room r:" "$(cat "$(conn_out cw)")"
    [ "$(new_seqs "$(conn_out aw)" q)" = "$(seq_range 1 3)" ] || fail "alice on a, room q:" "$(cat "$(conn_out aw)")"
    within 10 healthz_is a '.checks.cluster.status == "ok"'
    within 10 healthz_is b '.checks.cluster.status == "ok"'
    within 5 mon_is a metrics '(.cluster | {redis, nodes, node_ids}) == {"redis":"up","nodes":3,"node_ids":["a","b","c"]}'
    # The same processes throughout.
    [ "${NODE_PID[a]}" = "$pa" ] && [ "${NODE_PID[b]}" = "$pb" ] && node_alive a && node_alive b || fail "a node restarted or died"
}

@test "cluster: both nodes send into one room while Redis is away: once it is back every subscriber on either node has every seq exactly once" {
    start_nodes a b
    joined a "$TA" r
    joined a "$TB" r
    joined a "$TC" r
    joined a "$TD" r
    on_node a conn_open_raw wa "$TB"
    conn_ok wa 'raw join:chat {"room":"r"}'
    on_node b conn_open_raw wb "$TC"
    conn_ok wb 'raw join:chat {"room":"r"}'
    on_node a send_n "$TA" r m 1 1
    wait_seq wb 1
    pause_redis
    wait_for_grep "${NODE_ERR[a]}" 'cluster: lost redis://' 10 "${NODE_PID[a]}"
    wait_for_grep "${NODE_ERR[b]}" 'cluster: lost redis://' 10 "${NODE_PID[b]}"
    on_node a send_n "$TA" r m 2 3
    on_node b send_n "$TD" r m 4 5
    on_node a send_n "$TA" r m 6 6
    # Each node's own subscriber has its node's messages live.
    wait_seq wa 6
    wait_seq wb 5
    resume_redis
    wait_node_connected a 2 15
    wait_node_connected b 2 15
    on_node b send_n "$TD" r m 7 7
    on_node a send_n "$TA" r m 8 8
    local w
    for w in wa wb; do
        wait_seq "$w" 7
        wait_seq "$w" 8
        # The outage's messages may come after later ones (each node had
        # its own live), but every seq once.
        _all_once() { jq -ce 'sort == [range(1; 9)]' <<<"$(new_seqs "$(conn_out "$1")")"; }
        within 10 _all_once "$w"
    done
    # A fence after the catch-up: nothing more came twice.
    on_node b send_n "$TD" r m 9 9
    wait_seq wa 9
    wait_seq wb 9
    [ "$(new_seqs "$(conn_out wa)" | jq -c sort)" = "$(seq_range 1 9)" ] || fail "on a:" "$(new_seqs "$(conn_out wa)")"
    [ "$(new_seqs "$(conn_out wb)" | jq -c sort)" = "$(seq_range 1 9)" ] || fail "on b:" "$(new_seqs "$(conn_out wb)")"
    echo "# arrival order on a: $(new_seqs "$(conn_out wa)"), on b: $(new_seqs "$(conn_out wb)")" >&3
}

@test "cluster: joins and leaves made while Redis was away are seen on the other node when it is back, with the pushes its subscribers missed" {
    start_nodes a b
    joined a "$TA" r
    joined a "$TB" r
    joined a "$TC" r
    on_node b conn_open_raw bw "$TB"
    conn_ok bw 'raw join:chat {"room":"r"}'
    pause_redis
    wait_for_grep "${NODE_ERR[a]}" 'cluster: lost redis://' 10 "${NODE_PID[a]}"
    wait_for_grep "${NODE_ERR[b]}" 'cluster: lost redis://' 10 "${NODE_PID[b]}"
    # On a, unheard by b: carol leaves r, dave joins r and makes room r2.
    run on_node a pcli --token "$TC" -c 'leave r'
    assert_status 0
    joined a "$TD" r r2
    resume_redis
    wait_node_connected a 2 15
    wait_node_connected b 2 15
    wait_push bw '.event == "room:user-left" and .data.room == "r" and .data.user == "carol"'
    _members_on_b() {
        on_node b pcli --token "$TB" -c 'info r' |
            jq -se 'map(select(.ok)) | .[0].data.members | map(.user) | sort == ["alice","bob","dave"]'
    }
    within 10 _members_on_b
    # b knows r2 and its member: dave may use it there.
    run on_node b pcli --token "$TD" -c 'send r2 hello from b'
    assert_status 0
    [ "$(jsel '.ok == true and .data.message.seq == 1' "$output")" != "" ] || fail "dave's send to r2 on b: $output"
    # Carol is no member on b any more.
    run on_node b pcli --token "$TC" -c 'send r still here?'
    expect_codes forbidden 1
}

@test "cluster: a node starts while Redis is unreachable: it serves (sends acked), /healthz fails its cluster check" {
    local port
    port=$(free_port)
    REDIS_URL=redis://127.0.0.1:$port/0 NODE_NO_WAIT=1 start_node lonely
    within 10 healthz_is lonely '.status != "healthy" and .checks.cluster.status == "fail"' 503
    run on_node lonely pcli --token "$TA" -c 'join r' -c 'send r alone'
    assert_status 0
    expect_json '.ok == true and .data.message.seq == 1'
    within 5 mon_is lonely metrics '.node == "lonely" and .cluster.redis == "down"'
}

@test "cluster: a Redis that wants a password: nodes given it in the URL chat; a node with a wrong one says Redis refused it and fails its cluster check" {
    [ "$(redis_cli config set requirepass "$REDIS_PW")" = OK ] || fail "cannot set requirepass"
    local url=$REDIS_URL
    REDIS_URL="redis://:$REDIS_PW@127.0.0.1:$REDIS_PORT/0"
    start_nodes a b
    joined a "$TA" r
    joined a "$TB" r
    on_node b conn_open w "$TB"
    conn_ok w 'join r'
    run on_node a pcli --token "$TA" -c 'send r over a guarded bus'
    assert_status 0
    wait_push w "$(new_text 'over a guarded bus')"
    REDIS_URL="redis://:wrong@127.0.0.1:$REDIS_PORT/0"
    NODE_NO_WAIT=1 start_node c
    wait_for_grep "${NODE_ERR[c]}" 'Redis refused the password of cluster' 10 "${NODE_PID[c]}"
    within 10 healthz_is c '.checks.cluster.status == "fail"' 503
    # Neither the password nor the wrong one is written anywhere.
    ! node_logs a | grep -q -- "$REDIS_PW" || fail "a logged the password"
    ! node_logs c | grep -q -- wrong@ || fail "c logged its URL with the password"
    REDIS_URL=$url
    redis_cli -a "$REDIS_PW" --no-auth-warning config set requirepass '' >/dev/null
}

@test "cluster configuration errors exit 2 naming the setting: a cluster without a postgresql db, a bad redis URL, a bad node_id" {
    _refused() {
        # $1: the setting the message must name; the rest: parleyd's arguments.
        local name=$1
        shift
        run timeout 10 "$PARLEYD" --listen 127.0.0.1:0 --jwt-secret "$SECRET" "$@"
        [ "$status" -eq 2 ] || { fail "exit $status, want 2, for: $*" "$output"; return 1; }
        [[ "$output" == *"$name"* ]] || fail "the message does not name $name: $output"
    }
    _refused cluster --db "$OUT/parley.db" --cluster "$REDIS_URL"
    _refused cluster --db "$PG_URL" --cluster 'redis://127.0.0.1:notaport/0'
    _refused cluster --db "$PG_URL" --cluster 'http://127.0.0.1:6379'
    _refused cluster --db "$PG_URL" --cluster "redis://127.0.0.1:$REDIS_PORT/99"
    _refused node_id --db "$PG_URL" --cluster "$REDIS_URL" --node-id 'bad id!'
    # The environment is the same setting.
    PARLEYD_CLUSTER=$REDIS_URL run timeout 10 "$PARLEYD" --listen 127.0.0.1:0 --jwt-secret "$SECRET" --db "$OUT/parley.db"
    [ "$status" -eq 2 ] && [[ "$output" == *cluster* ]] || fail "PARLEYD_CLUSTER with a SQLite db: exit $status: $output"
}
