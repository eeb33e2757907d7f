# helpers.bash: shared by every tests/bats/NN-*.bats suite.
#
# Starts a real parleyd on port 0 with a temporary database, drives it with
# the real parley CLI (and the Python clients in tests/clients), and cleans
# up after each test. Every wait here is for an event (a line in a file, a
# process exit) and is bounded; nothing sleeps and hopes.
#
# Binaries come from $PARLEY_BUILD (an absolute path to build/, set by
# tests/run-all.sh), else ../../build relative to this file.

bats_require_minimum_version 1.5.0

HELPERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HELPERS_DIR/../.." && pwd)
: "${PARLEY_BUILD:=$REPO_DIR/build}"
PARLEYD=$PARLEY_BUILD/parleyd
PARLEY=$PARLEY_BUILD/parley
CLIENTS=$REPO_DIR/tests/clients
PY=/usr/bin/python3
export PARLEY_BUILD

# Server state of the current test.
SRV_PID=
SRV_N=0
BG_PIDS=()

# ---- small assertions ---------------------------------------------------------

# fail MESSAGE...: print to stderr (bats shows it) and fail the test.
fail() {
    printf '%s\n' "$*" >&2
    return 1
}

# assert_status N: $status (from `run`) must be N; shows the output if not.
assert_status() {
    if [ "$status" -ne "$1" ]; then
        printf 'expected exit status %s, got %s\n--- output:\n%s\n' "$1" "$status" "$output" >&2
        [ -z "${stderr:-}" ] || printf -- '--- stderr:\n%s\n' "$stderr" >&2
        return 1
    fi
}

# jq definitions available to every filter below.
JQ_DEFS='def rname: (if type == "object" then .room else . end);'

# jsel FILTER [TEXT]: the JSON lines of TEXT (default $output) for which the
# jq FILTER is true, compact, one per line. Non-JSON lines are skipped.
jsel() {
    printf '%s\n' "${2-$output}" | jq -cR "$JQ_DEFS fromjson? | objects | select($1)"
}

# jcount FILTER [TEXT]: how many JSON lines match.
jcount() {
    jsel "$@" | grep -c . || true
}

# expect_json FILTER [TEXT]: at least one JSON line of TEXT (default
# $output) matches the jq FILTER; shows the text if none does.
expect_json() {
    local text=${2-$output}
    if [ -z "$(jsel "$1" "$text")" ]; then
        printf 'no line matches: %s\n--- output:\n%s\n' "$1" "$text" >&2
        [ -z "${stderr:-}" ] || printf -- '--- stderr:\n%s\n' "$stderr" >&2
        return 1
    fi
}

# expect_no_json FILTER [TEXT]: no JSON line matches.
expect_no_json() {
    local text=${2-$output}
    if [ -n "$(jsel "$1" "$text")" ]; then
        printf 'unexpected line matches: %s\n--- output:\n%s\n' "$1" "$text" >&2
        return 1
    fi
}

# jfirst FILTER [TEXT]: the first matching line.
jfirst() {
    jsel "$@" | head -n 1
}

# ---- waiting for events -----------------------------------------------------

# wait_for_grep FILE ERE [TIMEOUT_S] [PID]: until a line of FILE matches the
# extended regular expression. Polls every 50 ms up to TIMEOUT_S (default
# 10); with PID, gives up early when that process has exited without
# writing the line.
wait_for_grep() {
    local file=$1 re=$2 timeout=${3:-10} pid=${4:-} i
    local steps=$((timeout * 20))
    for ((i = 0; i < steps; i++)); do
        if [ -f "$file" ] && grep -qE -- "$re" "$file"; then
            return 0
        fi
        if [ -n "$pid" ] && ! pid_alive "$pid"; then
            grep -qE -- "$re" "$file" 2>/dev/null && return 0
            fail "process $pid exited before /$re/ appeared in $file; it holds:" "$(cat "$file" 2>/dev/null)" "--- stderr:" "$(cat "$file.err" 2>/dev/null)"
            return 1
        fi
        sleep 0.05
    done
    fail "timed out after ${timeout}s waiting for /$re/ in $file; it holds:" "$(cat "$file" 2>/dev/null)"
}

# wait_for_json FILE FILTER [TIMEOUT_S] [PID]: until a JSON line of FILE
# matches the jq FILTER. Same polling as wait_for_grep.
wait_for_json() {
    local file=$1 filter=$2 timeout=${3:-10} pid=${4:-} i
    local steps=$((timeout * 20))
    for ((i = 0; i < steps; i++)); do
        if [ -f "$file" ] && [ -n "$(jsel "$filter" "$(cat "$file")")" ]; then
            return 0
        fi
        if [ -n "$pid" ] && ! pid_alive "$pid"; then
            [ -n "$(jsel "$filter" "$(cat "$file" 2>/dev/null)")" ] && return 0
            fail "process $pid exited before a line matching '$filter' appeared in $file; it holds:" "$(cat "$file" 2>/dev/null)" "--- stderr:" "$(cat "$file.err" 2>/dev/null)"
            return 1
        fi
        sleep 0.05
    done
    fail "timed out after ${timeout}s waiting for '$filter' in $file; it holds:" "$(cat "$file" 2>/dev/null)"
}

# pid_alive PID: the process runs (a zombie, exited but not reaped, does not).
pid_alive() {
    kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

# wait_for_exit PID [TIMEOUT_S]: until the process has exited (bounded).
# Returns 0 when it exited, 1 on timeout. Does not reap it.
wait_for_exit() {
    local pid=$1 timeout=${2:-10} i
    local steps=$((timeout * 20))
    for ((i = 0; i < steps; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.05
    done
    return 1
}

# bg_start OUTFILE CMD...: runs CMD in the background, stdout to OUTFILE and
# stderr to OUTFILE.err; sets BG_PID. Teardown kills it if still running.
bg_start() {
    local outfile=$1
    shift
    "$@" >"$outfile" 2>"$outfile.err" </dev/null 3>&- &
    BG_PID=$!
    BG_PIDS+=("$BG_PID")
}

# bg_wait PID [TIMEOUT_S]: waits (bounded) for a background process and sets
# BG_STATUS to its exit status; fails the test on timeout.
bg_wait() {
    local pid=$1 timeout=${2:-15}
    if ! wait_for_exit "$pid" "$timeout"; then
        kill -9 "$pid" 2>/dev/null || true
        fail "background process $pid did not exit within ${timeout}s"
        return 1
    fi
    BG_STATUS=0
    wait "$pid" || BG_STATUS=$?
}

# ---- the server -------------------------------------------------------------

# random_secret: 40 random hex characters.
random_secret() {
    od -An -N20 -tx1 /dev/urandom | tr -d ' \n'
}

# start_server [EXTRA PARLEYD ARGS...]: starts parleyd on 127.0.0.1:0 with
# the database $SRV_DIR/parley.db and the HS256 secret $SECRET (both kept
# across restarts within a test), waits for its "listening on" line, and
# exports PARLEY_URL and PARLEY_PORT. With NO_SECRET=1 no --jwt-secret is
# passed.
start_server() {
    srv_init
    local args=(--listen 127.0.0.1:0 --db "$SRV_DIR/parley.db")
    [ -n "${NO_SECRET:-}" ] || args+=(--jwt-secret "$SECRET")
    launch_server "${args[@]}" "$@"
}

# srv_init: sets SRV_DIR (this test's server directory) and SECRET.
srv_init() {
    : "${SRV_DIR:=${BATS_TEST_TMPDIR:-$(mktemp -d)}/srv}"
    mkdir -p "$SRV_DIR"
    : "${SECRET:=$(random_secret)}"
}

# launch_server ARGS...: starts parleyd with exactly ARGS (no defaults but
# the rate limits, see below) and waits as start_server does. Rate limits
# are off by default through the environment (PARLEYD_RATE_*=0,
# PARLEYD_LOGIN_RATE=0, PARLEYD_LOGIN_USER_RATE=0) so that tests making
# many connections or logins from 127.0.0.1 are not refused; a test may
# pass --rate-... / --login-... flags, which win over the environment.
launch_server() {
    srv_init
    [ -x "$PARLEYD" ] || fail "no parleyd at $PARLEYD (run make build/parleyd)"
    SRV_N=$((SRV_N + 1))
    SRV_OUT=$SRV_DIR/parleyd.$SRV_N.out
    SRV_ERR=$SRV_DIR/parleyd.$SRV_N.err
    PARLEYD_RATE_CONNECTIONS=${PARLEYD_RATE_CONNECTIONS:-0} \
    PARLEYD_RATE_MESSAGES=${PARLEYD_RATE_MESSAGES:-0} \
    PARLEYD_RATE_REQUESTS=${PARLEYD_RATE_REQUESTS:-0} \
    PARLEYD_LOGIN_RATE=${PARLEYD_LOGIN_RATE:-0} \
    PARLEYD_LOGIN_USER_RATE=${PARLEYD_LOGIN_USER_RATE:-0} \
        "$PARLEYD" "$@" >"$SRV_OUT" 2>"$SRV_ERR" </dev/null 3>&- &
    SRV_PID=$!
    local i line=
    for ((i = 0; i < 200; i++)); do
        line=$(grep -m1 -E '^listening on http' "$SRV_OUT" 2>/dev/null || true)
        [ -n "$line" ] && break
        if ! pid_alive "$SRV_PID"; then
            local rc=0
            wait "$SRV_PID" || rc=$?
            SRV_PID=
            fail "parleyd exited (status $rc) before listening; args: $*" \
                "--- stdout:" "$(cat "$SRV_OUT")" "--- stderr:" "$(cat "$SRV_ERR")"
            return 1
        fi
        sleep 0.05
    done
    if [ -z "$line" ]; then
        fail "parleyd did not print 'listening on' within 10 s" \
            "--- stdout:" "$(cat "$SRV_OUT")" "--- stderr:" "$(cat "$SRV_ERR")"
        return 1
    fi
    SRV_LINE=$line
    PARLEY_URL=${line#listening on }
    PARLEY_URL=${PARLEY_URL%%[[:space:]]*}
    PARLEY_PORT=${PARLEY_URL##*:}
    PARLEY_PORT=${PARLEY_PORT%%/*}
    export PARLEY_URL PARLEY_PORT
}

# server_logs: everything the server has written to stdout and stderr in
# this test, all starts included.
server_logs() {
    cat "$SRV_DIR"/parleyd.*.out "$SRV_DIR"/parleyd.*.err 2>/dev/null
}

# stop_server: SIGTERM, wait (bounded) for the exit, assert status 0.
stop_server() {
    [ -n "$SRV_PID" ] || return 0
    local pid=$SRV_PID rc=0
    SRV_PID=
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for_exit "$pid" 10; then
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        fail "parleyd did not exit within 10 s of SIGTERM" "--- stderr:" "$(cat "$SRV_ERR")"
        return 1
    fi
    wait "$pid" || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "parleyd exited with status $rc after SIGTERM (want 0)" "--- stderr:" "$(tail -n 30 "$SRV_ERR")"
        return 1
    fi
}

# kill9_server: SIGKILL and reap; no status check.
kill9_server() {
    [ -n "$SRV_PID" ] || return 0
    kill -9 "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=
}

# server_alive: the server of this test is still running (not a zombie).
server_alive() {
    [ -n "$SRV_PID" ] && pid_alive "$SRV_PID"
}

# ---- clients ------------------------------------------------------------------

# token SUB [parley token args...]: an HS256 JWT for SUB signed with $SECRET.
token() {
    local sub=$1
    shift
    "$PARLEY" token --secret "$SECRET" --sub "$sub" "$@"
}

# pcli ARGS...: the real CLI in JSON mode against $PARLEY_URL.
pcli() {
    "$PARLEY" --json --timeout "${CLI_TIMEOUT:-5000}" "$@"
}

# rawws ARGS...: the raw-frame client (see tests/clients/rawws.py).
rawws() {
    "$PY" "$CLIENTS/rawws.py" "$@"
}

# mkjwt ARGS...: mint arbitrary JWTs (see tests/clients/mkjwt.py).
mkjwt() {
    "$PY" "$CLIENTS/mkjwt.py" "$@"
}

# http METHOD PATH [BODY [CURL ARGS...]]: one HTTP request to $PARLEY_URL
# with curl. Sets HTTP_STATUS, HTTP_CTYPE (content type) and HTTP_BODY. A
# BODY (even empty) is sent as application/json.
http() {
    local method=$1 path=$2 f meta
    shift 2
    f=$(mktemp "${BATS_TEST_TMPDIR:-/tmp}/http.XXXXXX")
    local args=(-sS -X "$method" -o "$f" -w '%{http_code} %{content_type}' --max-time 10)
    if [ $# -gt 0 ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$1")
        shift
    fi
    meta=$(curl "${args[@]}" "$@" "$PARLEY_URL$path") || {
        fail "curl $method $path failed: $meta"
        return 1
    }
    HTTP_STATUS=${meta%% *}
    HTTP_CTYPE=${meta#* }
    HTTP_BODY=$(cat "$f")
    rm -f "$f"
}

# expect_http STATUS [JQ FILTER]: the last http call answered STATUS and,
# with a filter, its body is JSON satisfying it.
expect_http() {
    if [ "$HTTP_STATUS" != "$1" ]; then
        fail "expected HTTP $1, got $HTTP_STATUS: $HTTP_BODY"
        return 1
    fi
    if [ $# -gt 1 ] && ! printf '%s' "$HTTP_BODY" | jq -e "$2" >/dev/null 2>&1; then
        fail "HTTP $1 body does not satisfy '$2': $HTTP_BODY"
        return 1
    fi
}

# jwt_payload JWT: the decoded claims of a JWT, as JSON.
jwt_payload() {
    "$PY" -c 'import base64,sys; p=sys.argv[1].split(".")[1]; sys.stdout.write(base64.urlsafe_b64decode(p+"="*(-len(p)%4)).decode())' "$1"
}

# ---- teardown -----------------------------------------------------------------

# Kills what the test left running, then checks the server is still alive
# (it must not have crashed) and stops it with SIGTERM, asserting exit 0.
teardown() {
    local pid
    for pid in "${BG_PIDS[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    BG_PIDS=()
    if [ -n "$SRV_PID" ]; then
        if ! server_alive; then
            local rc=0
            wait "$SRV_PID" || rc=$?
            SRV_PID=
            fail "parleyd died during the test (status $rc)" "--- stderr:" "$(tail -n 30 "$SRV_ERR")"
            return 1
        fi
        stop_server
    fi
}

# ---- rooms and messaging (suites 12-19) ---------------------------------------

# wait_joined FILE ROOM [PID]: until FILE holds the ok ack of join:chat ROOM.
wait_joined() {
    wait_for_json "$1" ".ok == true and .data.role != null and (.data | rname) == \"$2\"" 10 "${3:-}"
}

# bg_pcli OUTFILE ARGS...: bg_start OUTFILE pcli ARGS..., except that BG_PID
# is the CLI process itself, not a subshell running the pcli function: so
# `kill -9 $BG_PID` (and the teardown) drops its connection at once instead
# of orphaning a CLI that stays connected.
bg_pcli() {
    local outfile=$1
    shift
    bg_start "$outfile" "$PARLEY" --json --timeout "${CLI_TIMEOUT:-5000}" "$@"
}

# bg_ok PID FILE [TIMEOUT_S]: waits (bounded) for a background CLI and fails
# the test, showing FILE and FILE.err, unless it exited 0.
bg_ok() {
    bg_wait "$1" "${3:-15}" || return 1
    [ "$BG_STATUS" -eq 0 ] || fail "background client $1 exited $BG_STATUS:" "$(cat "$2" "$2.err" 2>/dev/null)"
}

# msg_id TEXT [OUTPUT]: the id of the message acknowledged with TEXT in
# OUTPUT (default $output).
msg_id() {
    local id
    id=$(jfirst ".ok == true and .data.message.text == \"$1\"" "${2-$output}" | jq -r '.data.message.id')
    [ -n "$id" ] && [ "$id" != null ] || {
        fail "no send ack for '$1' in:" "${2-$output}"
        return 1
    }
    printf '%s\n' "$id"
}

# expect_codes CODE N [OUTPUT]: exactly N refused acks with error CODE.
expect_codes() {
    local n
    n=$(jcount ".ok == false and .error.code == \"$1\"" "${3-$output}")
    [ "$n" -eq "$2" ] || fail "want $2 '$1' refusals, got $n:" "${3-$output}"
}

# expect_usage: the last `run` was a CLI usage error of a known command:
# exit 2, a usage error line and no acknowledgement (nothing reached the
# server).
expect_usage() {
    assert_status 2 || return 1
    expect_json '.ok == false and .error.code == "usage" and (.error.message | length > 0)
        and (.error.message | test("unknown command") | not)' || return 1
    expect_no_json 'has("id")'
}

# eventually TIMEOUT_S CMD...: runs CMD every 50 ms until it succeeds,
# bounded; for state the server updates after an event it does not
# acknowledge (a socket closing). Fails with CMD's last output.
eventually() {
    local timeout=$1 i steps out
    shift
    steps=$((timeout * 20))
    for ((i = 0; i < steps; i++)); do
        out=$("$@" 2>&1) && return 0
        sleep 0.05
    done
    fail "not true within ${timeout}s: $*" "$out"
}

# ---- presence and recovery (suites 20-23) -------------------------------------

# Connections driven by the test: a real CLI reading its commands from a
# FIFO, so one connection lives across the steps of a test (a second
# device, a connection to drop later). Its output goes to $OUT_DIR/NAME
# (default $BATS_TEST_TMPDIR), stderr to NAME.err.
declare -gA CONN_PID=() CONN_FD=()

# conn_dir: where connection files go.
conn_dir() {
    printf '%s\n' "${OUT:-$BATS_TEST_TMPDIR}"
}

# conn_open NAME TOKEN [CLI ARGS...]: starts the CLI for connection NAME.
# It connects at its first command (see conn_run). The CLI is the
# background process itself (CONN_PID[NAME]), so kill -9 drops the socket.
conn_open() {
    local name=$1 tok=$2
    shift 2
    conn_start "$name" "$PARLEY" --json --timeout "${CLI_TIMEOUT:-5000}" --token "$tok" "$@"
}

# conn_open_raw NAME TOKEN: like conn_open, but the connection is the bare
# Python client (recovery_client.py --pipe): it connects at once, takes
# "raw EVENT DATA" lines only, and prints every frame exactly as received.
# For what must be seen unfiltered: libparley, under the CLI, drops a
# message:new whose seq it has already seen, which would hide a duplicate.
conn_open_raw() {
    conn_start "$1" "$PY" "$CLIENTS/recovery_client.py" --pipe "$PARLEY_URL" "$2"
}

# conn_start NAME CMD...: runs CMD reading the FIFO NAME.in, writing NAME
# and NAME.err; CONN_PID[NAME] is CMD itself, CONN_FD[NAME] the FIFO.
conn_start() {
    local name=$1 f fd
    shift
    f=$(conn_dir)/$name
    rm -f "$f.in"
    mkfifo "$f.in"
    : >"$f"
    "$@" <"$f.in" >"$f" 2>"$f.err" 3>&- &
    CONN_PID[$name]=$!
    BG_PIDS+=("$!")
    exec {fd}>"$f.in"
    CONN_FD[$name]=$fd
}

# conn_run NAME COMMAND [TIMEOUT_S]: gives COMMAND to connection NAME and
# waits (bounded) for the acknowledgement (or local error) it prints: the
# first line starting with an "ok" member (pushes start with "event")
# written after the command was given. Sets CONN_ACK to that line. Fails
# only when no such line appears.
conn_run() {
    local name=$1 cmd=$2 timeout=${3:-10} f n i
    local re='^\{("id":[0-9]+,)?"ok":'
    f=$(conn_dir)/$name
    n=$(wc -l <"$f")
    printf '%s\n' "$cmd" >&"${CONN_FD[$name]}" || {
        fail "connection $name is gone; it printed:" "$(cat "$f" "$f.err")"
        return 1
    }
    for ((i = 0; i < timeout * 50; i++)); do
        CONN_ACK=$(tail -n +"$((n + 1))" "$f" | grep -m1 -E "$re") || true
        [ -n "$CONN_ACK" ] && return 0
        if ! pid_alive "${CONN_PID[$name]}"; then
            CONN_ACK=$(tail -n +"$((n + 1))" "$f" | grep -m1 -E "$re") || true
            [ -n "$CONN_ACK" ] && return 0
            fail "connection $name exited before answering '$cmd'; it printed:" "$(cat "$f" "$f.err")"
            return 1
        fi
        sleep 0.02
    done
    fail "connection $name: no answer to '$cmd' within ${timeout}s; it printed:" "$(cat "$f")"
}

# conn_ok NAME COMMAND [JQ FILTER]: conn_run, and the answer must be an ok
# ack (satisfying the filter, applied to the whole ack, when given).
conn_ok() {
    conn_run "$1" "$2" || return 1
    if [ -z "${3:-}" ]; then
        [[ $CONN_ACK == *'"ok":true'* ]] || fail "connection $1: '$2' answered $CONN_ACK"
        return
    fi
    jq -e ".ok == true and ($3)" <<<"$CONN_ACK" >/dev/null ||
        fail "connection $1: '$2' answered $CONN_ACK (want $3)"
}

# conn_err NAME COMMAND CODE: conn_run, and the answer must be a refusal
# with error CODE.
conn_err() {
    conn_run "$1" "$2" || return 1
    [[ $CONN_ACK == *'"ok":false'* && $CONN_ACK == *"\"code\":\"$3\""* ]] ||
        fail "connection $1: '$2' answered $CONN_ACK (want error $3)"
}

# four_writers PER URL1 URL2 [ID]: four users (writer1..4) each send PER
# messages to room "busy" at once, writers 1 and 3 through URL1, 2 and 4
# through URL2 (two nodes, or two servers on one database); with ID, each
# with a client_msg_id (wK-I). Their outputs are $OUT/s1..s4; fails unless
# every writer ends well and the acked seqs are exactly 1..4*PER.
four_writers() {
    local per=$1 url1=$2 url2=$3 id=${4:-} k url pids=() total=$((4 * $1))
    for k in 1 2 3 4; do
        url=$url1
        [ $((k % 2)) -eq 0 ] && url=$url2
        bg_start "$OUT/s$k" bash -c '
            parley=$0 tok=$1 url=$2 k=$3 per=$4 id=$5
            { echo "join busy"
              for i in $(seq 1 "$per"); do
                  echo "send ${id:+--id w$k-$i }busy w$k-$i"
              done; } | "$parley" --json --timeout 10000 --url "$url" --token "$tok"' \
            "$PARLEY" "$(token "writer$k")" "$url" "$k" "$per" "$id"
        pids+=("$BG_PID")
    done
    for k in 0 1 2 3; do
        bg_wait "${pids[k]}" 60
        [ "$BG_STATUS" -eq 0 ] || fail "writer $((k + 1)) failed: $(tail -n 3 "$OUT/s$((k + 1))" "$OUT/s$((k + 1)).err")"
    done
    [ "$(cat "$OUT"/s[1-4] | jq -cR 'fromjson? | select(.ok == true and .data.message != null) | .data.message.seq' | sort -n | jq -sc .)" = "$(seq_range 1 "$total")" ] ||
        fail "acked seqs are not 1..$total"
}

# conn_kill NAME: kill -9 the CLI of connection NAME (its socket drops
# without a close handshake) and reap it.
conn_kill() {
    local pid=${CONN_PID[$1]} fd=${CONN_FD[$1]}
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # Braces: a bare `exec {fd}>&- 2>/dev/null` would also keep stderr on
    # /dev/null for the rest of the test, hiding every later failure.
    { exec {fd}>&-; } 2>/dev/null || true
}

# conn_quit NAME: the CLI of connection NAME ends its session (a clean
# close) and exits; bounded.
conn_quit() {
    local pid=${CONN_PID[$1]} fd=${CONN_FD[$1]}
    printf 'quit\n' >&"$fd" 2>/dev/null || true
    { exec {fd}>&-; } 2>/dev/null || true
    bg_wait "$pid" 10
}

# conn_out NAME: the output file of connection NAME.
conn_out() {
    printf '%s/%s\n' "$(conn_dir)" "$1"
}

# now_ms: the time in ms since the epoch.
now_ms() {
    date +%s%3N
}

# new_seqs FILE [ROOM]: the seqs of the message:new pushes in FILE (of
# ROOM only, when given), in the order they arrived, as a compact array.
new_seqs() {
    jq -cRn "[inputs | fromjson? | objects | select(.event == \"message:new\" ${2:+and .data.message.room == \"$2\"}) | .data.message.seq]" "$1"
}

# seq_range A B: the compact array [A, ..., B] (empty when B < A).
seq_range() {
    jq -nc "[range($1; $2 + 1)]"
}

# send_n TOKEN ROOM PREFIX FROM TO: one CLI sends "PREFIX FROM" ..
# "PREFIX TO" to ROOM (a room the user is a member of); fails unless every
# send was acknowledged. The acks are in $SENT.
send_n() {
    local tok=$1 room=$2 prefix=$3 from=$4 to=$5 i
    SENT=$(for ((i = from; i <= to; i++)); do echo "send $room $prefix $i"; done | pcli --token "$tok") || {
        fail "sending $prefix $from..$to failed:" "$SENT"
        return 1
    }
    [ "$(grep -c '^{"id":[0-9]*,"ok":true,"data":{"message":{' <<<"$SENT")" -eq $((to - from + 1)) ] ||
        fail "not $((to - from + 1)) send acks:" "$SENT"
}

# recover_json SESSION_TOKEN [ROOM=SEQ...]: the data of connection:recover,
# with last_seq when ROOM=SEQ pairs are given.
recover_json() {
    local tok=$1 kv ls='{}'
    shift
    for kv in "$@"; do
        ls=$(jq -c --arg r "${kv%%=*}" --argjson s "${kv#*=}" '. + {($r): $s}' <<<"$ls")
    done
    if [ $# -gt 0 ]; then
        jq -nc --arg t "$tok" --argjson l "$ls" '{session_token: $t, last_seq: $l}'
    else
        jq -nc --arg t "$tok" '{session_token: $t}'
    fi
}

# session_conn NAME TOKEN ROOM...: opens connection NAME, joins each ROOM
# and creates a session; SESSION is its token.
session_conn() {
    local name=$1 tok=$2 room
    shift 2
    conn_open "$name" "$tok"
    for room in "$@"; do
        conn_ok "$name" "join $room" || return 1
    done
    conn_ok "$name" 'raw connection:create-session {}' '(.data.session_token | type == "string")' || return 1
    SESSION=$(jq -r .data.session_token <<<"$CONN_ACK")
}

# wait_offline USER TOKEN [ROOM]: until the server has noticed that USER has
# no connection left (bounded): room:online of ROOM (default r), asked with
# TOKEN (a member's), no longer lists USER. For the moments after a client
# was killed, before the server read the end of its socket.
wait_offline() {
    local user=$1 tok=$2 room=${3:-r}
    _not_online() {
        local out
        out=$(pcli --token "$2" -c "raw room:online {\"room\":\"$3\"}") || { echo "$out"; return 1; }
        jsel ".ok == true and .data.users != null and (.data.users | map(.user) | index(\"$1\") == null)" "$out" | grep -q . ||
            { echo "$out"; return 1; }
    }
    eventually 10 _not_online "$user" "$tok" "$room"
}

# conn_stats TOKEN: the data of connection:stats asked on a new connection.
conn_stats() {
    local out
    out=$(pcli --token "$1" -c 'raw connection:stats {}') || { fail "connection:stats failed: $out"; return 1; }
    jq -cR 'fromjson? | objects | select(.ok == true) | .data' <<<"$out"
}

# wait_stats TOKEN JQ_FILTER [TIMEOUT_S]: until connection:stats satisfies
# the filter (bounded poll: for the sweep of expired sessions and drops the
# server notices on its own). STATS is the last answer.
wait_stats() {
    local tok=$1 filter=$2 timeout=${3:-10} i
    for ((i = 0; i < timeout * 10; i++)); do
        STATS=$(conn_stats "$tok" 2>/dev/null) || STATS=
        [ -n "$STATS" ] && jq -e "$filter" <<<"$STATS" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "connection:stats never satisfied '$filter' within ${timeout}s; last: $STATS"
}

# user_status ASKER_TOKEN USER: the data of presence:user-status USER as
# seen by ASKER (a new connection of theirs).
user_status() {
    local out
    out=$(pcli --token "$1" -c "raw presence:user-status {\"user\":\"$2\"}") || { fail "user-status failed: $out"; return 1; }
    jq -cR 'fromjson? | objects | select(.ok == true) | .data' <<<"$out"
}

# ---- recovery scenes (suites 21-23): alice ($TA) recovers, bob ($TB) sends ----

# members ROOM...: alice ($TA) and bob ($TB) are members of each ROOM.
members() {
    local room a=() b=()
    for room in "$@"; do
        a+=(-c "join $room")
        b+=(-c "join $room")
    done
    run pcli --token "$TA" "${a[@]}"
    assert_status 0
    run pcli --token "$TB" "${b[@]}"
    assert_status 0
}

# recover_on NAME SESSION_TOKEN [ROOM=SEQ...]: opens connection NAME as alice
# (a bare one, conn_open_raw: every frame shows) and recovers the session;
# the ack is CONN_ACK, its successor token NEXT.
recover_on() {
    local name=$1 tok=$2
    shift 2
    conn_open_raw "$name" "$TA"
    conn_run "$name" "raw connection:recover $(recover_json "$tok" "$@")" || return 1
    NEXT=
    [[ $CONN_ACK =~ \"session_token\":\"([^\"]+)\" ]] && NEXT=${BASH_REMATCH[1]}
    return 0
}

# expect_recovered MISSED ROOMS_JSON [OLD_TOKEN]: CONN_ACK is a successful
# recovery of MISSED messages resubscribing ROOMS (in any order), with a
# new token (not OLD_TOKEN).
expect_recovered() {
    jq -e --argjson m "$1" --argjson rooms "$2" --arg old "${3:-}" '.ok == true
        and (.data | keys == ["missed","recovered","rooms","session_token"])
        and .data.recovered == true and .data.missed == $m and (.data.rooms | sort) == ($rooms | sort)
        and (.data.session_token | type == "string" and length >= 43) and .data.session_token != $old' <<<"$CONN_ACK" >/dev/null ||
        fail "want recovered:true, missed $1, rooms $2: $CONN_ACK"
}

# replay_first FILE: the recover ack comes before every message:new push in
# FILE (the replay follows the ack).
replay_first() {
    jq -Rsc 'split("\n") | map(fromjson? // {}) | (map(.ok == true and .data.recovered != null) | index(true)) as $a
        | $a != null and ([to_entries[] | select(.value.event == "message:new") | .key] | all(. > $a))' "$1" | grep -qx true ||
        fail "a message:new came before the recover ack:" "$(cat "$1")"
}

# wait_seq NAME SEQ [ROOM]: until connection NAME has the message:new of SEQ (in ROOM, default r).
# The server writes a message as {"id":..,"room":..,"seq":..,...}: a grep
# finds it without a jq per poll.
wait_seq() {
    local f re i
    f=$(conn_out "$1")
    re="^\\{\"event\":\"message:new\",\"data\":\\{\"message\":\\{\"id\":[0-9]+,\"room\":\"${3:-r}\",\"seq\":$2,"
    for ((i = 0; i < 500; i++)); do
        grep -qE -- "$re" "$f" && return 0
        pid_alive "${CONN_PID[$1]}" || break
        sleep 0.02
    done
    grep -qE -- "$re" "$f" && return 0
    fail "connection $1: no message:new of ${3:-r} seq $2 within 10 s; it printed:" "$(cat "$f")"
}

# acked_survive_kill9: as $TA, 60 message:send to room vault acked, then
# kill -9 of the server (start_server must be this suite's); after a
# restart the history holds exactly the acked messages (ids, seqs 1..60,
# texts) and seq goes on at 61. Writes $OUT/acks.
acked_survive_kill9() {
    local n=60
    {
        echo "join vault"
        for i in $(seq 1 "$n"); do echo "send vault durable $i"; done
    } | pcli --token "$TA" >"$OUT/acks" 2>"$OUT/acks.err" || fail "sending failed: $(tail -n 5 "$OUT/acks" "$OUT/acks.err")"
    # The CLI has exited after the last ack: kill the server at once.
    kill9_server
    [ "$(jcount '.ok == true and .data.message != null' "$(cat "$OUT/acks")")" -eq "$n" ] || fail "not $n acks"
    start_server
    run pcli --token "$TA" -c 'history vault --limit 100'
    assert_status 0
    local h
    h=$(jfirst '.ok == true and .data.messages != null')
    jq -e --argjson n "$n" '.data.messages | length == $n and (map(.seq) == [range(1; $n + 1)])
        and all(.text == "durable \(.seq)")' <<<"$h" >/dev/null || fail "history after kill -9: $h"
    # Every acked id is there.
    [ "$(jsel '.ok == true and .data.message != null' "$(cat "$OUT/acks")" | jq -s -c 'map(.data.message.id)')" = \
        "$(jq -c '.data.messages | map(.id)' <<<"$h")" ] || fail "ids differ between acks and history"
    # seq continues after the restart.
    run pcli --token "$TA" -c 'send vault after-restart'
    assert_status 0
    expect_json ".ok == true and .data.message.seq == $((n + 1))"
}

# missed_replayed_after_restart: alice's session on room r (a1) sees seqs
# 1-2 and detaches; 3-4 are sent, the server is stopped with SIGTERM and
# started again (start_server must be this suite's, as for
# acked_survive_kill9), 5-6 are sent; recovering without last_seq replays
# exactly 3..6, after the ack, and a live 7 follows. The server must be
# running when it is called.
missed_replayed_after_restart() {
    members r
    session_conn a1 "$TA" r
    send_n "$TB" r m 1 2
    wait_seq a1 2
    conn_kill a1
    wait_offline alice "$TB"
    send_n "$TB" r m 3 4
    stop_server
    start_server
    send_n "$TB" r m 5 6
    recover_on a2 "$SESSION"
    expect_recovered 4 '["r"]' "$SESSION"
    wait_seq a2 6
    send_n "$TB" r live 7 7
    wait_seq a2 7
    [ "$(new_seqs "$(conn_out a2)")" = "$(seq_range 3 7)" ] || fail "want 3..7 once each:" "$(cat "$(conn_out a2)")"
    replay_first "$(conn_out a2)"
}
