# cluster.bash: several parleyd nodes in one test (40-cluster.bats), all on
# this test's PostgreSQL database ($PG_URL, pg.bash) and the file's Redis
# ($REDIS_URL, redis.bash), signed with the test's $SECRET.
#
#   start_node a            a node named a (--node-id a), on a free port
#   on_node a pcli ...      any command, with PARLEY_URL set to node a: so
#   on_node b conn_open ..  pcli, conn_open, conn_open_raw, http... go there
#   stop_node a             SIGTERM, exit status 0 expected
#   kill9_node a            SIGKILL, no status check
#
# Load after helpers.bash (it replaces its teardown with one that also ends
# every node). Every wait is bounded.

declare -gA NODE_URL=() NODE_PID=() NODE_OUT=() NODE_ERR=()
# NODES: the names started in this test, in order (a name once).
NODES=()

# node_connected_re NAME: the log line of NAME (re)connecting to Redis.
node_connected_re() {
    printf 'cluster: node %s connected' "$1"
}

# start_node NAME [EXTRA PARLEYD ARGS...]: starts one node as launch_server
# does (same environment: rate limits off unless passed as flags), with
# --listen 127.0.0.1:0 --db $PG_URL --jwt-secret $SECRET --cluster
# $REDIS_URL --node-id NAME; waits for its "listening on" line and then for
# "cluster: node NAME connected" on its stderr. Sets NODE_URL[NAME],
# NODE_PID[NAME], NODE_OUT[NAME], NODE_ERR[NAME]. PARLEY_URL is left as it
# was (use on_node). With NODE_NO_WAIT=1 it does not wait for the Redis
# connection (a node started while Redis is away).
start_node() {
    local name=$1 saved_url=${PARLEY_URL-} saved_port=${PARLEY_PORT-} saved_pid=${SRV_PID-}
    shift
    srv_init
    launch_server --listen 127.0.0.1:0 --db "$PG_URL" --jwt-secret "$SECRET" \
        --cluster "$REDIS_URL" --node-id "$name" "$@" || return 1
    NODE_URL[$name]=$PARLEY_URL
    NODE_PID[$name]=$SRV_PID
    NODE_OUT[$name]=$SRV_OUT
    NODE_ERR[$name]=$SRV_ERR
    [[ " ${NODES[*]} " == *" $name "* ]] || NODES+=("$name")
    # The node is this file's to stop, not helpers.bash's start_server's.
    SRV_PID=$saved_pid
    PARLEY_URL=$saved_url
    PARLEY_PORT=$saved_port
    export PARLEY_URL PARLEY_PORT
    [ -n "${NODE_NO_WAIT:-}" ] && return 0
    wait_for_grep "${NODE_ERR[$name]}" "$(node_connected_re "$name")" 10 "${NODE_PID[$name]}" ||
        fail "node $name did not connect to the cluster; its stderr:" "$(cat "${NODE_ERR[$name]}")"
}

# start_nodes NAME...: start_node NAME for each (no extra arguments).
start_nodes() {
    local n
    for n in "$@"; do
        start_node "$n" || return 1
    done
}

# wait_node_connected NAME COUNT [TIMEOUT_S]: until NAME's stderr holds at
# least COUNT "cluster: node NAME connected" lines (COUNT 2: it reconnected
# once after a start).
wait_node_connected() {
    local name=$1 want=$2 timeout=${3:-10} i n=0
    for ((i = 0; i < timeout * 20; i++)); do
        n=$(grep -cE -- "$(node_connected_re "$name")" "${NODE_ERR[$name]}" 2>/dev/null || true)
        [ "${n:-0}" -ge "$want" ] && return 0
        pid_alive "${NODE_PID[$name]}" || break
        sleep 0.05
    done
    fail "node $name: $n 'connected' lines, not $want, within ${timeout}s; its stderr:" "$(cat "${NODE_ERR[$name]}")"
}

# on_node NAME CMD...: runs CMD (a command or a shell function, in this
# shell) with PARLEY_URL and PARLEY_PORT set to node NAME.
on_node() {
    local name=$1
    shift
    [ -n "${NODE_URL[$name]:-}" ] || {
        fail "on_node: no node named $name"
        return 1
    }
    local PARLEY_URL=${NODE_URL[$name]} PARLEY_PORT
    PARLEY_PORT=${PARLEY_URL##*:}
    PARLEY_PORT=${PARLEY_PORT%%/*}
    export PARLEY_URL PARLEY_PORT
    "$@"
}

# node_alive NAME: node NAME runs (not a zombie).
node_alive() {
    [ -n "${NODE_PID[$1]:-}" ] && pid_alive "${NODE_PID[$1]}"
}

# node_logs NAME: stdout and stderr of NAME's latest start.
node_logs() {
    cat "${NODE_OUT[$1]}" "${NODE_ERR[$1]}" 2>/dev/null
}

# stop_node NAME: SIGTERM, wait (bounded) for the exit, assert status 0.
stop_node() {
    local name=$1 pid=${NODE_PID[$1]:-} rc=0
    [ -n "$pid" ] || return 0
    NODE_PID[$name]=
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for_exit "$pid" 10; then
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        fail "node $name did not exit within 10 s of SIGTERM; its stderr:" "$(tail -n 30 "${NODE_ERR[$name]}")"
        return 1
    fi
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] ||
        fail "node $name exited with status $rc after SIGTERM (want 0); its stderr:" "$(tail -n 30 "${NODE_ERR[$name]}")"
}

# kill9_node NAME: SIGKILL and reap; no status check. Sets KILL_MS (ms since
# the epoch, just after the kill).
kill9_node() {
    local pid=${NODE_PID[$1]:-}
    [ -n "$pid" ] || return 0
    NODE_PID[$1]=
    kill -9 "$pid" 2>/dev/null || true
    KILL_MS=$(now_ms)
    wait "$pid" 2>/dev/null || true
}

# cluster_teardown: ends what the test left: its clients first (helpers'
# BG_PIDS), then every node still running, with SIGTERM and status 0
# expected; a node that died on its own (not by kill9_node) fails the test.
cluster_teardown() {
    local pid name rc=0 st
    for pid in "${BG_PIDS[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    BG_PIDS=()
    for name in "${NODES[@]}"; do
        pid=${NODE_PID[$name]:-}
        [ -n "$pid" ] || continue
        if ! pid_alive "$pid"; then
            st=0
            wait "$pid" || st=$?
            NODE_PID[$name]=
            fail "node $name died during the test (status $st); its stderr:" "$(tail -n 30 "${NODE_ERR[$name]}")"
            rc=1
            continue
        fi
        stop_node "$name" || rc=1
    done
    NODES=()
    # A plain start_server of the test (helpers.bash's).
    if [ -n "${SRV_PID:-}" ]; then
        if ! server_alive; then
            st=0
            wait "$SRV_PID" || st=$?
            SRV_PID=
            fail "parleyd died during the test (status $st)" "--- stderr:" "$(tail -n 30 "$SRV_ERR")"
            rc=1
        else
            stop_server || rc=1
        fi
    fi
    return "$rc"
}

teardown() {
    cluster_teardown
}
