# pg.bash: a throw-away PostgreSQL server for the suites that test the
# PostgreSQL store (39-postgres.bats). CI runs as root with no PostgreSQL
# service, so this starts its own: initdb into a temporary directory as the
# `postgres` user (PostgreSQL refuses to run as root), on 127.0.0.1 and a
# free port, its unix socket in that directory too, so it touches nothing
# of the machine's and several suites can run at once.
#
# One server per bats file (start_pg in setup_file, stop_pg in
# teardown_file), one database per test (new_pg_db): fresh state without
# an initdb each time. Authentication is trust, on loopback only: a test
# server, not a deployment.
#
# Sets PG_DIR, PG_PORT, PG_BIN; new_pg_db sets PG_URL.

PG_ROLE=parley

# pg_bin: the directory of initdb/pg_ctl of the newest PostgreSQL installed,
# or nothing.
pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && [ -x "$d/initdb" ] && printf '%s\n' "$d"
}

# skip_without_pg: skips the test (or the file, from setup_file) when no
# PostgreSQL server is installed.
skip_without_pg() {
    [ -n "$(pg_bin)" ] || skip "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql"
}

# free_port: a TCP port nothing listens on now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# pg_as_postgres CMD...: runs CMD as the postgres user.
pg_as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# start_pg: initdb and start a server; idempotent (a second call while one
# runs does nothing). Exports PG_DIR, PG_PORT, PG_BIN.
start_pg() {
    if [ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
        return 0
    fi
    PG_BIN=$(pg_bin) || {
        echo "start_pg: PostgreSQL is not installed" >&2
        return 1
    }
    PG_DIR=$(mktemp -d /tmp/parley-pg.XXXXXX)
    chmod 755 "$PG_DIR"
    mkdir -p "$PG_DIR/data" "$PG_DIR/sock"
    [ "$(id -u)" -ne 0 ] || chown -R postgres: "$PG_DIR"
    pg_as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 || {
        echo "initdb failed:" >&2
        cat "$PG_DIR/initdb.log" >&2
        return 1
    }
    local try
    # A port free when asked may be taken before the server binds it (other
    # suites run at once): a few tries.
    for try in 1 2 3 4 5; do
        PG_PORT=$(free_port)
        if pg_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
            -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR/sock -c fsync=on" \
            start >/dev/null 2>&1; then
            break
        fi
        PG_PORT=
    done
    [ -n "$PG_PORT" ] || {
        echo "pg_ctl start failed:" >&2
        cat "$PG_DIR/server.log" >&2
        return 1
    }
    pg_psql postgres -c "CREATE ROLE $PG_ROLE LOGIN" >/dev/null || return 1
    export PG_DIR PG_PORT PG_BIN
}

# pg_psql DB ARGS...: psql as the superuser on the test server.
pg_psql() {
    local db=$1
    shift
    psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$db" "$@"
}

# pg_sql DB SQL: one value (unaligned, no header).
pg_sql() {
    pg_psql "$1" -At -c "$2"
}

# stop_pg: stops the server and removes its directory; idempotent.
stop_pg() {
    [ -n "${PG_DIR:-}" ] || return 0
    if [ -f "$PG_DIR/data/postmaster.pid" ]; then
        pg_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_DIR"
    PG_DIR=
}

# pg_pause: stops the server, keeping its data (to test an outage).
pg_pause() {
    pg_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null
}

# pg_resume: starts it again on the same port.
pg_resume() {
    pg_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR/sock" start >/dev/null
}

# new_pg_db: a fresh database owned by the test role; sets PG_DB and
# PG_URL (the parleyd --db of it).
new_pg_db() {
    PG_DB=t_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    pg_psql postgres -c "CREATE DATABASE $PG_DB OWNER $PG_ROLE" >/dev/null || return 1
    PG_URL=postgresql://$PG_ROLE@127.0.0.1:$PG_PORT/$PG_DB
    export PG_DB PG_URL
}
