# redis.bash: a throw-away Redis server for the cluster suite
# (40-cluster.bats), like pg.bash for PostgreSQL: its own redis-server on
# 127.0.0.1 and a free port, nothing saved to disk (no RDB, no AOF), its
# files in a temporary directory, so it touches nothing of the machine's
# and several suites can run at once.
#
# One server per bats file (start_redis in setup_file, stop_redis in
# teardown_file). A test may take it away and bring it back on the same
# port (pause_redis / resume_redis, or restart_redis for both) to see the
# nodes lose Redis and reconnect on their own.
#
# Exports REDIS_DIR, REDIS_PORT, REDIS_URL (redis://127.0.0.1:PORT/0).
# The server's pid is in $REDIS_DIR/redis.pid (written by this file, not
# kept in a variable: setup_file, the tests and teardown_file are separate
# processes, and a test that restarts Redis changes it).

REDIS_SERVER=/usr/bin/redis-server
REDIS_CLI=/usr/bin/redis-cli

# skip_without_redis: skips the test (or the file, from setup_file) when no
# redis-server is installed.
skip_without_redis() {
    [ -x "$REDIS_SERVER" ] && [ -x "$REDIS_CLI" ] ||
        skip "Redis is not installed (no $REDIS_SERVER or $REDIS_CLI): apt-get install redis-server"
}

# redis_cli ARGS...: redis-cli against the test server.
redis_cli() {
    "$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

# redis_pid: the pid of the running test server, or nothing.
redis_pid() {
    [ -n "${REDIS_DIR:-}" ] && [ -s "$REDIS_DIR/redis.pid" ] && cat "$REDIS_DIR/redis.pid"
}

# _redis_launch PORT: starts redis-server on PORT in the background and
# waits (bounded, 10 s) until it answers PING with PONG. Returns 1 when it
# exited or never answered (its log then goes to stderr).
_redis_launch() {
    local port=$1 pid i
    "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --protected-mode no \
        --save '' --appendonly no --dir "$REDIS_DIR" --daemonize no \
        --logfile '' --databases 16 \
        >>"$REDIS_DIR/redis.log" 2>&1 </dev/null 3>&- &
    pid=$!
    printf '%s\n' "$pid" >"$REDIS_DIR/redis.pid"
    for ((i = 0; i < 200; i++)); do
        if [ "$("$REDIS_CLI" -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null || [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ]; then
            wait "$pid" 2>/dev/null || true
            : >"$REDIS_DIR/redis.pid"
            return 1
        fi
        sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
    : >"$REDIS_DIR/redis.pid"
    echo "redis-server on port $port did not answer PING within 10 s" >&2
    return 1
}

# start_redis: a new server on a free loopback port; idempotent (a second
# call while one runs does nothing). Exports REDIS_DIR, REDIS_PORT,
# REDIS_URL.
start_redis() {
    if [ -n "$(redis_pid)" ] && kill -0 "$(redis_pid)" 2>/dev/null; then
        return 0
    fi
    REDIS_DIR=$(mktemp -d /tmp/parley-redis.XXXXXX)
    local try
    # A port free when asked may be taken before redis binds it (other
    # suites run at once): a few tries.
    for try in 1 2 3 4 5; do
        REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
        _redis_launch "$REDIS_PORT" && break
        REDIS_PORT=
    done
    [ -n "$REDIS_PORT" ] || {
        echo "start_redis: redis-server did not start:" >&2
        cat "$REDIS_DIR/redis.log" >&2
        return 1
    }
    REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
    export REDIS_DIR REDIS_PORT REDIS_URL
}

# pause_redis: stops the server (SIGTERM; SIGKILL after 10 s), keeping its
# directory and port for resume_redis. Returns once the process is gone.
pause_redis() {
    local pid i
    pid=$(redis_pid) || return 0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        # Our own child (started by this process): reap it.
        [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] && { wait "$pid" 2>/dev/null || true; break; }
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ]; then
        kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    : >"$REDIS_DIR/redis.pid"
}

# resume_redis: starts the server again on the same port (bounded: a few
# tries for 5 s while the old socket is released).
resume_redis() {
    local i
    for ((i = 0; i < 10; i++)); do
        _redis_launch "$REDIS_PORT" && return 0
        sleep 0.5
    done
    echo "resume_redis: redis-server did not start again on port $REDIS_PORT:" >&2
    tail -n 20 "$REDIS_DIR/redis.log" >&2
    return 1
}

# restart_redis: stop, then start again on the same port.
restart_redis() {
    pause_redis && resume_redis
}

# stop_redis: stops the server and removes its directory; idempotent.
stop_redis() {
    [ -n "${REDIS_DIR:-}" ] || return 0
    pause_redis
    rm -rf "$REDIS_DIR"
    REDIS_DIR=
}
