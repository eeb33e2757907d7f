#!/usr/bin/env bash
# bench/run.sh BUILD: parleyd against a Socket.IO 4.8 peer (bench/sio-peer),
# each workload with the same loadgen parameters against both, each on a
# freshly started server. Prints one markdown table and writes it to
# BUILD/bench/results.md (the raw loadgen JSON lines beside it, in
# BUILD/bench/raw.jsonl, and the servers' logs in BUILD/bench/logs/).
#   BENCH_QUICK=1    a few seconds per workload, small sizes (smoke check)
#   BENCH_SECONDS=S  seconds per workload instead of 20 (3 with BENCH_QUICK)
#   BENCH_ONLY="fanout-50k idle ..."   run only these workloads
#   BENCH_NO_CALLGRIND=1               skip the callgrind step
#   BENCH_PEER=none  parleyd alone: no node, no socket.io column or ratios
#   BENCH_CLUSTER=0  skip the cluster section (issue 9: one parleyd on
#                    PostgreSQL, then two nodes on it and a Redis; needs
#                    PostgreSQL and redis-server, skipped with a note without)
# Under the table, one "targets" line per target of issue 6, met or not
# met, computed from the figures of this run.
# Needs: BUILD/parleyd, BUILD/parley, BUILD/loadgen, node with
# bench/sio-peer/node_modules installed (npm ci; not with BENCH_PEER=none),
# jq; valgrind for the instruction counts (skipped with a note when absent).
set -u -o pipefail

BUILD=${1:-${BUILD:-build}}
BUILD=$(cd "$BUILD" && pwd) || { echo "run.sh: no build dir" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)
PEER_DIR=$HERE/sio-peer
OUT=$BUILD/bench
LOADGEN=$BUILD/loadgen
PARLEYD=$BUILD/parleyd
PARLEY=$BUILD/parley
QUICK=${BENCH_QUICK:-0}
PEER=${BENCH_PEER:-sio}
case $PEER in sio | none) ;; *) echo "run.sh: BENCH_PEER is sio (default) or none" >&2; exit 1 ;; esac
SECRET=bench-secret-0123456789abcdef0123456789abcdef
TCK=$(getconf CLK_TCK)

for f in "$LOADGEN" "$PARLEYD" "$PARLEY"; do
	[ -x "$f" ] || { echo "run.sh: missing $f (make BUILD=$BUILD bench builds it)" >&2; exit 1; }
done
if [ "$PEER" = sio ]; then
	[ -f "$PEER_DIR/server.js" ] || { echo "run.sh: missing $PEER_DIR/server.js" >&2; exit 1; }
	[ -d "$PEER_DIR/node_modules" ] || { echo "run.sh: run npm ci in $PEER_DIR first" >&2; exit 1; }
fi
command -v jq >/dev/null || { echo "run.sh: needs jq" >&2; exit 1; }

# Every process here (servers and loadgen) gets the hard fd limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDMAX=$(ulimit -n)

mkdir -p "$OUT/logs"
TMP=$(mktemp -d /tmp/parley-bench.XXXXXX)
RAW=$OUT/raw.jsonl
: >"$RAW"
ROWS=$TMP/rows.tsv
: >"$ROWS"
SPID=
LPID=

# The cluster section's processes and directories (see there).
CL_PIDS=()
CL_PG_DIR='' CL_PG_BIN='' CL_REDIS_DIR='' CL_REDIS_PID=''
cl_as_postgres() {   # cl_as_postgres CMD...: CMD as the postgres user when root
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cl_stop_nodes() {   # every parleyd node of the cluster section: TERM, then KILL
	local p i
	for p in "${CL_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${CL_PIDS[@]}"; do
		for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	CL_PIDS=()
}
cl_cleanup() {   # nodes, Redis, PostgreSQL, their directories (logs kept in OUT/logs)
	cl_stop_nodes
	if [ -n "$CL_REDIS_PID" ]; then
		kill "$CL_REDIS_PID" 2>/dev/null
		wait "$CL_REDIS_PID" 2>/dev/null
		CL_REDIS_PID=
	fi
	if [ -n "$CL_REDIS_DIR" ]; then
		cp "$CL_REDIS_DIR/redis.log" "$OUT/logs/cluster-redis.log" 2>/dev/null
		rm -rf "$CL_REDIS_DIR"
		CL_REDIS_DIR=
	fi
	if [ -n "$CL_PG_DIR" ]; then
		[ -f "$CL_PG_DIR/data/postmaster.pid" ] &&
			cl_as_postgres "$CL_PG_BIN/pg_ctl" -D "$CL_PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1
		cp "$CL_PG_DIR/server.log" "$OUT/logs/cluster-postgres.log" 2>/dev/null
		rm -rf "$CL_PG_DIR"
		CL_PG_DIR=
	fi
}

cleanup() {
	# A loadgen still running (run.sh itself got INT or TERM): it ends first.
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null && wait "$LPID" 2>/dev/null
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	cl_cleanup
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "# $(date +%T.%3N) $*" >&2; }

# --- parameters ----------------------------------------------------------
if [ "$QUICK" = 1 ]; then
	T=3
	FAN_LO="--members 50 --senders 5 --rate 100"      #  ~4.9k deliveries/s offered
	FAN_HI="--members 100 --senders 10 --rate 500"    # ~49.5k deliveries/s offered
	ROOMS="--rooms 10 --members-per-room 10 --senders-per-room 2 --rate 200"
	IDLE_N=300
	LIMIT_FD=128          # the refusal run: server fd limit (conns asked: LIMIT_FD+1)
	CHURN="--rate 50"
	CHURN_K=16            # closed-loop churn: concurrent clients
	CHURN_UP_KS="16"      # the upgrade loop: each concurrency is a row
	SCALE_ROOMS=100       # scaling: rooms and users and connections around
	SCALE_USERS=100
	SCALE_CONNS=500
	PROBES=5
	CG_MSGS=50
	CL_FAN="--members 100 --senders 5 --rate 100"     #  ~9.9k deliveries/s offered
else
	T=20
	FAN_LO="--members 500 --senders 10 --rate 100"    #  ~50k deliveries/s offered
	FAN_HI="--members 500 --senders 10 --rate 1000"   # ~500k deliveries/s offered
	ROOMS="--rooms 100 --members-per-room 50 --senders-per-room 2 --rate 1000"
	IDLE_N=$(( FDMAX - 1000 < 19000 ? FDMAX - 1000 : 19000 ))
	LIMIT_FD=1024
	CHURN="--rate 200"
	CHURN_K=64
	CHURN_UP_KS="16 64"
	SCALE_ROOMS=2000
	SCALE_USERS=1000
	SCALE_CONNS=5000
	PROBES=20
	CG_MSGS=200
	CL_FAN="--members 500 --senders 10 --rate 100"    #  ~50k deliveries/s offered
fi
# Durable sends: 10 senders, 8 then 32 requests in flight each (both modes).
DURABLE_WINDOWS="8 32"
T=${BENCH_SECONDS:-$T}
HOLD=$(( T > 5 ? T : 5 ))     # idle: seconds the connections are held
[ -n "${BENCH_SECONDS:-}" ] && HOLD=$T

# --- tokens ----------------------------------------------------------------
# The loadgen asks --token-cmd once per user (bench0, bench1, ...) at every
# start: minted once here (parley token, valid a day) and read back with cat,
# which is ten times cheaper than a parley process per user and run.
TOKDIR=$TMP/tokens
mkdir -p "$TOKDIR"
NTOK=$(( CHURN_K > 100 ? CHURN_K : 100 ))
for (( i = 0; i < NTOK; i++ )); do
	"$PARLEY" token --secret "$SECRET" --sub "bench$i" --ttl 86400 >"$TOKDIR/bench$i" ||
		{ echo "run.sh: parley token failed" >&2; exit 1; }
done
# The scaling run's other users (bg0, bg1, ...).
for (( i = 0; i < ${SCALE_USERS:-0}; i++ )); do
	"$PARLEY" token --secret "$SECRET" --sub "bg$i" --ttl 86400 >"$TOKDIR/bg$i" ||
		{ echo "run.sh: parley token failed" >&2; exit 1; }
done
TOKEN_CMD="cat $TOKDIR/%s"

# --- servers ---------------------------------------------------------------
# start_server parley|sio [FDLIMIT]: sets SPID and PORT; the server runs in
# its own subshell with the given fd limit (the current one by default).
start_server() {
	local kind=$1 lim=${2:-$FDMAX} logf=$OUT/logs/$1-$WL.log
	PORT=
	case $kind in
	parley)
		rm -rf "$TMP/db" && mkdir -p "$TMP/db"
		( ulimit -n "$lim"; exec "$PARLEYD" --listen 127.0.0.1:0 --db "$TMP/db/bench.db" \
			--jwt-secret "$SECRET" --rate-connections 0 --rate-messages 0 --rate-requests 0 \
			--login-rate 0 --login-user-rate 0 --rooms-per-user 0 --log-level warn \
			--idle-timeout 600 ) >"$logf" 2>&1 &
		;;
	sio)
		( ulimit -n "$lim"; cd "$PEER_DIR" && exec node server.js --port 0 ) >"$logf" 2>&1 &
		;;
	esac
	SPID=$!
	local i
	for i in $(seq 100); do
		PORT=$(sed -n 's/.*listening on \(http:\/\/[^ ]*:\)\{0,1\}\([0-9][0-9]*\).*/\2/p' "$logf" | head -n 1)
		[ -n "$PORT" ] && return 0
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.1
	done
	echo "run.sh: $kind did not start; its log:" >&2
	cat "$logf" >&2
	return 1
}

stop_server() {
	[ -n "$SPID" ] || return 0
	kill "$SPID" 2>/dev/null
	local i
	for i in $(seq 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.05; done
	kill -9 "$SPID" 2>/dev/null
	wait "$SPID" 2>/dev/null
	SPID=
}

# utime+stime of PID in clock ticks (fields 14 and 15; the comm field may
# hold spaces, so count from the last ')').
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

loadgen() {   # loadgen KIND WORKLOAD ARGS...: the JSON line on stdout
	local kind=$1; shift
	if [ "$kind" = parley ]; then
		"$LOADGEN" --proto parley --url "http://127.0.0.1:$PORT" \
			--token-cmd "$TOKEN_CMD" "$@"
	else
		"$LOADGEN" --proto sio --url "http://127.0.0.1:$PORT" "$@"
	fi
}

# run_one KIND WORKLOAD ARGS...: one loadgen run against a fresh server.
# Leaves in R_<kind>: the JSON line plus "cpu_us" (server CPU, µs, over the
# whole run), "rss0_kb"/"rss1_kb" (before/after), "rss_peak_kb" (the most
# seen while it ran, sampled every 0.2 s), "lg_rc".
run_one() {
	local kind=$1; shift
	local out=$TMP/$kind.$WL.json err=$OUT/logs/loadgen-$kind-$WL.log
	if ! start_server "$kind" "${SERVER_FD:-$FDMAX}"; then
		printf -v "R_$kind" '%s' '{"error":"server did not start"}'
		return 1
	fi
	sleep 0.3
	local c0 r0 c1 r1 peak rc lpid r
	c0=$(cpu_ticks "$SPID"); r0=$(rss_kb "$SPID"); peak=$r0
	if [ "$kind" = parley ]; then
		LG_PRE=(--proto parley --url "http://127.0.0.1:$PORT" --token-cmd "$TOKEN_CMD")
	else
		LG_PRE=(--proto sio --url "http://127.0.0.1:$PORT")
	fi
	log "$WL $kind: loadgen $*"
	# The loadgen gets SIGTERM after LG_TIMEOUT s (it then prints what it
	# has), and SIGKILL 10 s later.
	timeout -s TERM -k 10 "${LG_TIMEOUT:-$(( T * 3 + 60 ))}" \
		"$LOADGEN" "${LG_PRE[@]}" "$@" >"$out" 2>"$err" &
	lpid=$! LPID=$!
	while kill -0 "$lpid" 2>/dev/null; do
		r=$(rss_kb "$SPID" 2>/dev/null) && [ -n "$r" ] && [ "$r" -gt "$peak" ] && peak=$r
		sleep 0.2
	done
	wait "$lpid"; rc=$?
	LPID=
	[ "$rc" = 124 ] && log "$WL $kind: loadgen stopped after ${LG_TIMEOUT:-$(( T * 3 + 60 ))} s (timeout)"
	c1=$(cpu_ticks "$SPID" 2>/dev/null || echo "$c0"); r1=$(rss_kb "$SPID" 2>/dev/null || echo 0)
	kill -0 "$SPID" 2>/dev/null || log "$WL $kind: the server died (see $OUT/logs/$kind-$WL.log)"
	stop_server
	local line
	line=$(grep '^{' "$out" | tail -n 1)
	[ -n "$line" ] || { line='{}'; log "$WL $kind: loadgen printed no JSON (exit $rc; see $err)"; tail -n 5 "$err" >&2; }
	line=$(jq -c --argjson cpu "$(( (c1 - c0) * 1000000 / TCK ))" --argjson r0 "$r0" \
		--argjson r1 "$r1" --argjson pk "$peak" --argjson rc "$rc" --arg wl "$WL" \
		'. + {bench: $wl, cpu_us: $cpu, rss0_kb: $r0, rss1_kb: $r1, rss_peak_kb: $pk, lg_rc: $rc}' \
		<<<"$line") || line='{"error":"bad JSON from loadgen"}'
	echo "$line" >>"$RAW"
	printf -v "R_$kind" '%s' "$line"
}

# both WORKLOAD ARGS...: the same run against parleyd, then the peer.
# The results stay in RES_parley[WL] and RES_sio[WL] for the targets.
declare -A RES_parley RES_sio
both() {
	R_parley='{}'; R_sio='{}'
	run_one parley "$@"
	[ "$PEER" = none ] || run_one sio "$@"
	RES_parley[$WL]=$R_parley
	RES_sio[$WL]=$R_sio
}

# row WORKLOAD METRIC JQ-EXPR BETTER(lower|higher|-) [DECIMALS]
# JQ-EXPR is evaluated on each side's result object (null: not reported).
row() {
	local wl=$1 metric=$2 expr=$3 better=$4 dec=${5:-1} p s
	p=$(jq -r "($expr) // empty" <<<"$R_parley" 2>/dev/null)
	s=$(jq -r "($expr) // empty" <<<"$R_sio" 2>/dev/null)
	printf '%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\n' "$wl" "$metric" "$p" "$s" "$better" "$dec" >>"$ROWS"
}

want() { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]; }

# Delivery-based workloads: T seconds of sending, deliveries counted by the
# loadgen; CPU per delivery is the server's CPU over the whole run (setup
# included) divided by every delivery of the run.
DELIV='(.delivered // ((.deliveries_s // 0) * (.seconds // (env.T|tonumber))))'
# The rows every delivery workload reports first: rate, ratio, latencies.
rate_rows() {
	row "$WL" "offered deliveries/s" '.offered_deliveries_s | floor' -  0
	row "$WL" "deliveries/s" '.deliveries_s | floor' higher 0
	row "$WL" "delivered ratio" '.delivered_ratio' higher 3
	row "$WL" "latency p50 ms" '.p50_ms' lower 2
	row "$WL" "latency p99 ms" '.p99_ms' lower 2
	row "$WL" "latency max ms" '.max_ms' lower 1
}
deliv_rows() {
	rate_rows
	row "$WL" "server CPU µs per delivery" \
		"if ($DELIV) > 0 then .cpu_us / ($DELIV) else null end" lower 2
	row "$WL" "server CPU % (of one core)" ".cpu_us / 1e4 / (.seconds // (env.T|tonumber)) | round" lower 0
	row "$WL" "server RSS peak MB" '.rss_peak_kb / 1024' lower 1
	row "$WL" "errors" '.errors' lower 0
}
export T

date_start=$(date -u +%FT%TZ)
log "fd limit $FDMAX, CLK_TCK $TCK, T=$T s, quick=$QUICK"

if want fanout-50k; then
	WL=fanout-50k
	both fanout $FAN_LO --seconds "$T" --probes "$PROBES"
	deliv_rows
fi
if want fanout-500k; then
	WL=fanout-500k
	both fanout $FAN_HI --seconds "$T" --probes "$PROBES"
	deliv_rows
fi
if want rooms; then
	WL=rooms
	both rooms $ROOMS --seconds "$T"
	deliv_rows
fi
if want idle; then
	WL=idle
	LG_TIMEOUT=$(( HOLD + 300 )) both idle --conns "$IDLE_N" --seconds "$HOLD"
	row "$WL" "connections up" '.conns' higher 0
	row "$WL" "refused" '.refused' lower 0
	row "$WL" "RSS before MB" '.rss0_kb / 1024' lower 1
	row "$WL" "RSS peak MB" '.rss_peak_kb / 1024' lower 1
	row "$WL" "RSS KB per idle connection" \
		'if (.conns // 0) > 0 then (([.rss_peak_kb, .rss1_kb] | max) - .rss0_kb) / .conns else null end' lower 1
	row "$WL" "server CPU ms (connect+hold)" '.cpu_us / 1000' lower 0
fi
if want limit; then
	# One past the limit: the servers run with an fd limit of LIMIT_FD and
	# the loadgen asks for LIMIT_FD+1 connections (a few fds are the
	# server's own: listener, db, epoll, so a few more are refused).
	WL=limit
	SERVER_FD=$LIMIT_FD LG_TIMEOUT=$(( T + 20 )) both idle --conns "$(( LIMIT_FD + 1 ))" --seconds 3
	row "$WL" "fd limit / conns asked" "if .requested then \"$LIMIT_FD / \\(.requested)\" else null end" - 0
	row "$WL" "connections up" '.conns' - 0
	row "$WL" "refused" '.refused' - 0
	row "$WL" "refused how" '.refused_how | select(.) | to_entries | map("\(.key) \(.value)") | join(", ")' - 0
	row "$WL" "refusals with Retry-After" '.refused_retry_after' - 0
	row "$WL" "neither up nor refused (no answer)" '.requested - .conns - .refused' - 0
	row "$WL" "server alive after" 'if .rss1_kb == null then null elif .rss1_kb > 0 then "yes" else "no" end' - 0
fi
for W in $DURABLE_WINDOWS; do
	want durable || break
	WL=durable-w$W
	both durable --senders 10 --window "$W" --seconds "$T"
	row "$WL" "messages acked/s (10 senders, window $W)" '.msgs_acked_s | floor' higher 0
	row "$WL" "ack p50 ms" '.ack_p50_ms' lower 2
	row "$WL" "ack p99 ms" '.ack_p99_ms' lower 2
	row "$WL" "server CPU µs per acked message" \
		'(.acked // ((.msgs_acked_s // 0) * (.seconds // (env.T|tonumber)))) as $n | if $n > 0 then .cpu_us / $n else null end' lower 1
	row "$WL" "errors" '.errors' lower 0
done
if want churn; then
	# Fixed rate: the same cycles/s offered to both (for the latencies).
	WL=churn
	both churn $CHURN --seconds "$T"
	row "$WL" "cycles/s (fixed rate, ${CHURN#--rate } offered)" '.cycles_s | floor' higher 0
	row "$WL" "connect p50 ms" '.connect_p50_ms // .p50_ms' lower 2
	row "$WL" "connect p99 ms" '.connect_p99_ms // .p99_ms' lower 2
	row "$WL" "server CPU µs per cycle" \
		'(.cycles // ((.cycles_s // 0) * (.seconds // (env.T|tonumber)))) as $n | if $n > 0 then .cpu_us / $n else null end' lower 0
	row "$WL" "server RSS after MB" '.rss1_kb / 1024' lower 1
	row "$WL" "errors" '.errors' lower 0
	# Closed loop: CHURN_K clients, each connect, authenticate, join, leave,
	# close and again at once: what the server sustains, not what is offered.
	WL=churn-closed
	both churn --rate 0 --concurrency "$CHURN_K" --seconds "$T"
	row "$WL" "upgrades/s (closed loop, $CHURN_K concurrent)" '.upgrades_s | floor' higher 0
	row "$WL" "cycles/s (closed loop, $CHURN_K concurrent)" '.cycles_s | floor' higher 0
	row "$WL" "connect p50 ms" '.connect_p50_ms' lower 2
	row "$WL" "connect p99 ms" '.connect_p99_ms' lower 2
	row "$WL" "connect to joined p99 ms" '.ready_p99_ms' lower 2
	row "$WL" "server CPU µs per cycle" \
		'(.cycles // 0) as $n | if $n > 0 then .cpu_us / $n else null end' lower 0
	row "$WL" "loadgen CPU % (client side, of one core)" '.loadgen_cpu_pct | round' - 0
	row "$WL" "refused" '.refused' lower 0
	row "$WL" "errors" '.errors' lower 0
	# The upgrade alone: connect, the handshake with its auth (parley: the
	# JWT checked before the 101; sio: the Engine.IO open and the "40"
	# answering the token), close. What the upgrades target is about.
	for k in $CHURN_UP_KS; do
		WL=churn-upgrade-$k
		both churn --rate 0 --concurrency "$k" --no-join --seconds "$T"
		row "$WL" "upgrades/s (closed loop, $k concurrent, no join)" '.upgrades_s | floor' higher 0
		row "$WL" "connect p99 ms" '.connect_p99_ms' lower 2
		row "$WL" "server CPU µs per upgrade" \
			'(.upgrades // 0) as $n | if $n > 0 then .cpu_us / $n else null end' lower 0
		row "$WL" "loadgen CPU % (client side, of one core)" '.loadgen_cpu_pct | round' - 0
		row "$WL" "errors" '.errors' lower 0
	done
fi
if want scaling; then
	# parleyd alone: does a join, leave and disconnect cost more when the
	# server holds a lot besides? The same closed-loop churn (its own users
	# and rooms) twice on one server: first with nothing else, then with
	# SCALE_ROOMS more rooms (each with a stored message) and SCALE_CONNS
	# idle connections of SCALE_USERS other users online. Server CPU per
	# cycle should not change: join/leave/disconnect touch the room, the
	# connection and the user, never a list of all of them.
	WL=scaling
	SC_T=$(( T / 2 > 2 ? T / 2 : 2 ))
	sc_churn() {   # one churn run: its JSON plus cpu_us (server CPU over it)
		local c0 c1 line
		c0=$(cpu_ticks "$SPID")
		line=$(timeout -s TERM -k 10 $(( SC_T * 3 + 60 )) "$LOADGEN" --proto parley \
			--url "http://127.0.0.1:$PORT" --token-cmd "$TOKEN_CMD" \
			churn --rate 0 --concurrency "$CHURN_K" --seconds "$SC_T" \
			2>>"$OUT/logs/loadgen-parley-scaling.log" | grep '^{' | tail -n 1)
		c1=$(cpu_ticks "$SPID")
		jq -c --argjson cpu "$(( (c1 - c0) * 1000000 / TCK ))" '. + {cpu_us: $cpu}' <<<"${line:-{\}}"
	}
	log "scaling: churn alone, then beside $SCALE_ROOMS rooms and $SCALE_CONNS connections of $SCALE_USERS users"
	SC_BG=(--proto parley --url "" --token-cmd "cat $TOKDIR/%s" --user-prefix bg --users "$SCALE_USERS")
	if start_server parley; then
		sleep 0.3
		SC_A=$(sc_churn)
		SC_BG[2]=http://127.0.0.1:$PORT
		"$LOADGEN" "${SC_BG[@]}" --room-prefix scale durable --senders "$SCALE_ROOMS" --window 1 \
			--seconds 1 >/dev/null 2>>"$OUT/logs/loadgen-parley-scaling.log"
		"$LOADGEN" "${SC_BG[@]}" --room-prefix scale idle --conns "$SCALE_CONNS" \
			--seconds $(( SC_T * 3 + 60 )) >/dev/null 2>"$TMP/scale-idle.err" &
		sc_idle=$!
		for _ in $(seq 600); do
			grep -q 'all up' "$TMP/scale-idle.err" 2>/dev/null && break
			kill -0 "$sc_idle" 2>/dev/null || break
			sleep 0.1
		done
		SC_B=$(sc_churn)
		kill "$sc_idle" 2>/dev/null; wait "$sc_idle" 2>/dev/null
		stop_server
		R_parley=$(jq -c -n --argjson a "$SC_A" --argjson b "$SC_B" '{alone: $a, busy: $b}')
		RES_parley[$WL]=$R_parley
		echo "$R_parley" >>"$RAW"
		SCALE_NOTE="scaling: $CHURN_K clients in a closed churn loop on one parleyd, alone, then beside $SCALE_ROOMS other rooms (a message stored in each) and $SCALE_CONNS idle connections of $SCALE_USERS other users: server CPU µs per cycle $(jq -r '.alone.cpu_us / (.alone.cycles // 1) | floor' <<<"$R_parley") alone, $(jq -r '.busy.cpu_us / (.busy.cycles // 1) | floor' <<<"$R_parley") beside them; cycles/s $(jq -r '.alone.cycles_s | floor' <<<"$R_parley") and $(jq -r '.busy.cycles_s | floor' <<<"$R_parley")."
	fi
fi

# --- cluster (issue 9): fan-out across two parleyd nodes -----------------------
# parleyd only. A throw-away PostgreSQL (initdb into a temporary directory,
# as the postgres user when root, on 127.0.0.1 and a free port, trust auth,
# like tests/bats/pg.bash) and a redis-server (127.0.0.1, a free port,
# nothing saved to disk). The same fanout (CL_FAN) first against ONE parleyd
# on a fresh PostgreSQL database (cluster-1node: the single-node baseline on
# the same store), then against TWO nodes (--cluster redis://...
# --node-id n1 / n2) on another fresh database of the same server
# (cluster-2nodes): the loadgen gets both URLs, its senders connect to n1 and
# the receivers alternate n1, n2. Server CPU and RSS are the nodes' sum;
# PostgreSQL's and Redis's CPU (postmaster, its backends and the reaped
# ones, redis-server) are a row of their own.
CL_SECTION=
CL_NOTE=
# cl_free_port: a TCP port nothing listens on now (on 127.0.0.1).
cl_free_port() {
	if command -v python3 >/dev/null; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
		return
	fi
	local p
	while :; do
		p=$(( 20000 + RANDOM % 40000 ))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
# cl_pg_start: initdb and start PostgreSQL; sets CL_PG_DIR, CL_PG_BIN, CL_PG_PORT.
cl_pg_start() {
	CL_PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	CL_PG_DIR=$(mktemp -d /tmp/parley-bench-pg.XXXXXX) || return 1
	chmod 755 "$CL_PG_DIR"
	mkdir -p "$CL_PG_DIR/data" "$CL_PG_DIR/sock"
	[ "$(id -u)" -ne 0 ] || chown -R postgres: "$CL_PG_DIR"
	cl_as_postgres "$CL_PG_BIN/initdb" -D "$CL_PG_DIR/data" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C >"$OUT/logs/cluster-initdb.log" 2>&1 || {
		log "cluster: initdb failed (see $OUT/logs/cluster-initdb.log)"; return 1; }
	# A port free when asked may be taken before the server binds it: a few tries.
	for _ in 1 2 3 4 5; do
		CL_PG_PORT=$(cl_free_port)
		cl_as_postgres "$CL_PG_BIN/pg_ctl" -D "$CL_PG_DIR/data" -l "$CL_PG_DIR/server.log" -w -t 30 \
			-o "-c listen_addresses=127.0.0.1 -p $CL_PG_PORT -k $CL_PG_DIR/sock" \
			start >/dev/null 2>&1 && return 0
	done
	log "cluster: PostgreSQL did not start:"
	cat "$CL_PG_DIR/server.log" >&2
	return 1
}
cl_psql() {   # cl_psql SQL: as the superuser, on the database postgres
	psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$CL_PG_PORT" -U postgres -d postgres -c "$1"
}
# cl_redis_start: redis-server on a free port; sets CL_REDIS_DIR, CL_REDIS_PID, CL_REDIS_PORT.
cl_redis_start() {
	CL_REDIS_DIR=$(mktemp -d /tmp/parley-bench-redis.XXXXXX) || return 1
	local i
	for _ in 1 2 3 4 5; do
		CL_REDIS_PORT=$(cl_free_port)
		redis-server --port "$CL_REDIS_PORT" --bind 127.0.0.1 --protected-mode no --save '' \
			--appendonly no --dir "$CL_REDIS_DIR" --daemonize no --logfile '' \
			>>"$CL_REDIS_DIR/redis.log" 2>&1 </dev/null &
		CL_REDIS_PID=$!
		for i in $(seq 100); do
			kill -0 "$CL_REDIS_PID" 2>/dev/null || break
			grep -q 'Ready to accept connections' "$CL_REDIS_DIR/redis.log" && return 0
			sleep 0.05
		done
		kill -9 "$CL_REDIS_PID" 2>/dev/null; wait "$CL_REDIS_PID" 2>/dev/null
		CL_REDIS_PID=
	done
	log "cluster: redis-server did not start:"
	cat "$CL_REDIS_DIR/redis.log" >&2
	return 1
}
# cl_node NAME DBURL [ARGS...]: one parleyd (the bench's flags, on DBURL);
# its pid joins CL_PIDS, its URL CL_URLS.
cl_node() {
	local name=$1 db=$2 logf=$OUT/logs/parley-$WL-$1.log pid port i
	shift 2
	( exec "$PARLEYD" --listen 127.0.0.1:0 --db "$db" --jwt-secret "$SECRET" \
		--rate-connections 0 --rate-messages 0 --rate-requests 0 --login-rate 0 \
		--login-user-rate 0 --rooms-per-user 0 --log-level warn --idle-timeout 600 "$@" ) >"$logf" 2>&1 &
	pid=$!
	CL_PIDS+=("$pid")
	for i in $(seq 150); do
		port=$(sed -n 's/.*listening on http:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' "$logf" | head -n 1)
		[ -n "$port" ] && { CL_URLS+=("http://127.0.0.1:$port"); return 0; }
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	log "$WL: parleyd $name did not start; its log:"
	cat "$logf" >&2
	return 1
}
# cl_wait_cluster: every node's /healthz says its cluster check is ok (Redis
# connected and subscribed), at most 15 s; then one heartbeat more.
cl_wait_cluster() {
	local u i ok
	command -v curl >/dev/null || { sleep 2; return 0; }
	for i in $(seq 150); do
		ok=1
		for u in "${CL_URLS[@]}"; do
			[ "$(curl -s -m 2 "$u/healthz" | jq -r '.checks.cluster.status // empty' 2>/dev/null)" = ok ] || ok=0
		done
		[ "$ok" = 1 ] && { sleep 1.1; return 0; }
		sleep 0.1
	done
	log "$WL: the nodes' cluster check is not ok after 15 s (see $OUT/logs/parley-$WL-*.log)"
	return 1
}
# cl_ticks PID...: CPU ticks of each (utime+stime), space-separated.
cl_ticks() {
	local p out=
	for p in "$@"; do out="$out $(cpu_ticks "$p" 2>/dev/null || echo 0)"; done
	echo "${out# }"
}
# cl_store_ticks: PostgreSQL's and Redis's CPU ticks: the postmaster with its
# reaped children (cutime+cstime) plus the live backends, and redis-server.
cl_store_ticks() {
	local pm t=0 p
	pm=$(head -n 1 "$CL_PG_DIR/data/postmaster.pid" 2>/dev/null)
	if [ -n "$pm" ] && [ -r "/proc/$pm/stat" ]; then
		t=$(sed 's/.*) //' "/proc/$pm/stat" | awk '{ print $12 + $13 + $14 + $15 }')
		for p in $(pgrep -P "$pm" 2>/dev/null); do t=$(( t + $(cpu_ticks "$p" 2>/dev/null || echo 0) )); done
	fi
	[ -n "$CL_REDIS_PID" ] && t=$(( t + $(cpu_ticks "$CL_REDIS_PID" 2>/dev/null || echo 0) ))
	echo "$t"
}
cl_rss_sum() {   # the nodes' VmRSS, summed (KiB)
	local p t=0 r
	for p in "${CL_PIDS[@]}"; do r=$(rss_kb "$p" 2>/dev/null); t=$(( t + ${r:-0} )); done
	echo "$t"
}
# cl_fanout: the fanout against CL_URLS (nodes CL_PIDS); leaves its JSON line
# plus cpu_us (the nodes' sum), node_cpu_us (each), store_cpu_us,
# rss0_kb/rss1_kb/rss_peak_kb (sums), nodes, lg_rc and loadavg0 (the machine's
# 1-minute load average just before) in R_parley.
cl_fanout() {
	local out=$TMP/$WL.json err=$OUT/logs/loadgen-parley-$WL.log u c0 c1 s0 s1 r0 r1 peak r lpid rc line la
	local -a urls=()
	for u in "${CL_URLS[@]}"; do urls+=(--url "$u"); done
	sleep 0.3
	la=$(cut -d ' ' -f 1 /proc/loadavg)
	c0=$(cl_ticks "${CL_PIDS[@]}"); s0=$(cl_store_ticks); r0=$(cl_rss_sum); peak=$r0
	log "$WL: loadgen ${urls[*]} fanout $CL_FAN --seconds $T --probes $PROBES"
	timeout -s TERM -k 10 $(( T * 3 + 60 )) "$LOADGEN" --proto parley "${urls[@]}" \
		--token-cmd "$TOKEN_CMD" fanout $CL_FAN --seconds "$T" --probes "$PROBES" >"$out" 2>"$err" &
	lpid=$! LPID=$!
	while kill -0 "$lpid" 2>/dev/null; do
		r=$(cl_rss_sum); [ "$r" -gt "$peak" ] && peak=$r
		sleep 0.2
	done
	wait "$lpid"; rc=$?
	LPID=
	c1=$(cl_ticks "${CL_PIDS[@]}"); s1=$(cl_store_ticks); r1=$(cl_rss_sum)
	for u in "${CL_PIDS[@]}"; do
		kill -0 "$u" 2>/dev/null || log "$WL: a node died (see $OUT/logs/parley-$WL-*.log)"
	done
	line=$(grep '^{' "$out" | tail -n 1)
	[ -n "$line" ] || { line='{}'; log "$WL: loadgen printed no JSON (exit $rc; see $err)"; tail -n 5 "$err" >&2; }
	line=$(jq -c --arg c0 "$c0" --arg c1 "$c1" --argjson s "$(( (s1 - s0) * 1000000 / TCK ))" \
		--argjson r0 "$r0" --argjson r1 "$r1" --argjson pk "$peak" --argjson rc "$rc" \
		--arg wl "$WL" --argjson tck "$TCK" --argjson la "${la:-null}" \
		'([$c0, $c1] | map(split(" ") | map(tonumber))) as [$a, $b]
		 | [range($a | length) | ($b[.] - $a[.]) * 1000000 / $tck | floor] as $n
		 | . + {bench: $wl, nodes: ($n | length), cpu_us: ($n | add), node_cpu_us: $n, store_cpu_us: $s,
		        rss0_kb: $r0, rss1_kb: $r1, rss_peak_kb: $pk, lg_rc: $rc, loadavg0: $la}' <<<"$line") ||
		line='{"error":"bad JSON from loadgen"}'
	echo "$line" >>"$RAW"
	R_parley=$line
}
cl_rows() {
	R_sio='{}'
	row "$WL" "nodes" '.nodes' - 0
	rate_rows
	if [ "$(jq -r '.urls // 1' <<<"$R_parley" 2>/dev/null)" -gt 1 ] 2>/dev/null; then
		row "$WL" "latency p99 ms, receivers on n1 (the senders' node)" '.per_url[0].p99_ms' lower 2
		row "$WL" "latency p99 ms, receivers on n2 (the other node)" '.per_url[1].p99_ms' lower 2
	fi
	row "$WL" "server CPU % (of one core, sum of nodes)" ".cpu_us / 1e4 / (.seconds // (env.T|tonumber)) | round" lower 0
	row "$WL" "server CPU µs per delivery (sum of nodes)" \
		"if ($DELIV) > 0 then .cpu_us / ($DELIV) else null end" lower 2
	row "$WL" "PostgreSQL + Redis CPU % (of one core)" ".store_cpu_us / 1e4 / (.seconds // (env.T|tonumber)) | round" lower 0
	row "$WL" "server RSS peak MB (sum of nodes)" '.rss_peak_kb / 1024' lower 1
	row "$WL" "loadgen CPU % (client side, of one core)" '.loadgen_cpu_pct | round' - 0
	row "$WL" "machine load average (1 min) before the run" '.loadavg0' - 2
	row "$WL" "errors" '.errors' lower 0
}
declare -A RES_cluster
if want cluster && [ "${BENCH_CLUSTER:-1}" != 0 ]; then
	CL_SECTION=1
	if [ -z "$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null)" ] || ! command -v psql >/dev/null; then
		CL_NOTE="skipped: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb or no psql; apt-get install postgresql)"
	elif ! command -v redis-server >/dev/null; then
		CL_NOTE="skipped: redis-server is not installed (apt-get install redis-server)"
	elif ! cl_pg_start || ! cl_psql "CREATE ROLE parley LOGIN" >/dev/null ||
		! cl_psql "CREATE DATABASE bench_1node OWNER parley" >/dev/null ||
		! cl_psql "CREATE DATABASE bench_2nodes OWNER parley" >/dev/null; then
		CL_NOTE="skipped: the throw-away PostgreSQL did not start (see the log above and $OUT/logs/cluster-*.log)"
	else
		log "cluster: PostgreSQL on 127.0.0.1:$CL_PG_PORT ($CL_PG_BIN)"
		PGURL=postgresql://parley@127.0.0.1:$CL_PG_PORT
		# (a) one node, no cluster, on PostgreSQL
		WL=cluster-1node
		CL_URLS=()
		if cl_node n1 "$PGURL/bench_1node"; then
			cl_fanout
		else
			R_parley='{"error":"server did not start"}'
		fi
		cl_stop_nodes
		RES_cluster[1]=$R_parley
		cl_rows
		# (b) two nodes on one Redis, the same PostgreSQL server
		WL=cluster-2nodes
		CL_URLS=()
		if ! "$PARLEYD" --help 2>&1 | grep -q -- '--cluster'; then
			CL_NOTE="cluster-2nodes not run: this parleyd has no --cluster (parleyd --help does not list it)"
		elif ! cl_redis_start; then
			CL_NOTE="cluster-2nodes not run: redis-server did not start (see $OUT/logs/cluster-redis.log)"
		else
			log "cluster: Redis on 127.0.0.1:$CL_REDIS_PORT"
			if cl_node n1 "$PGURL/bench_2nodes" --cluster "redis://127.0.0.1:$CL_REDIS_PORT/0" --node-id n1 &&
				cl_node n2 "$PGURL/bench_2nodes" --cluster "redis://127.0.0.1:$CL_REDIS_PORT/0" --node-id n2; then
				cl_wait_cluster || CL_NOTE="the nodes did not report their cluster check ok within 15 s: the 2-node figures may be off"
				cl_fanout
			else
				R_parley='{"error":"server did not start"}'
				CL_NOTE="cluster-2nodes: a node did not start (see $OUT/logs/parley-cluster-2nodes-*.log)"
			fi
			cl_stop_nodes
			RES_cluster[2]=$R_parley
			cl_rows
		fi
	fi
	cl_cleanup
	[ -n "$CL_NOTE" ] && log "cluster: $CL_NOTE"
fi

# --- callgrind: instructions per delivery, parleyd only ----------------------
# Two runs of the same small fanout (50 members, 1 sender) under callgrind,
# CG_MSGS and 2*CG_MSGS messages over the same seconds: Ir(total)/deliveries
# of the first counts setup too (start, handshakes, joins); the difference
# of the two over the difference in deliveries is the cost of one more
# delivery alone.
CG_NOTE=
declare -A CG
if [ "${BENCH_NO_CALLGRIND:-0}" != 1 ] && want callgrind; then
	if ! command -v valgrind >/dev/null; then
		CG_NOTE="valgrind not installed: no instruction counts"
	else
		for n in "$CG_MSGS" "$(( CG_MSGS * 2 ))"; do
			WL=callgrind-$n
			rm -rf "$TMP/db" && mkdir -p "$TMP/db"
			cgout=$TMP/callgrind.$n.out
			( exec valgrind --tool=callgrind --callgrind-out-file="$cgout" "$PARLEYD" \
				--listen 127.0.0.1:0 --db "$TMP/db/bench.db" --jwt-secret "$SECRET" \
				--rate-connections 0 --rate-messages 0 --rate-requests 0 --log-level warn ) \
				>"$OUT/logs/parley-$WL.log" 2>&1 &
			SPID=$!
			PORT=
			for i in $(seq 300); do
				PORT=$(sed -n 's/^listening on http:\/\/[^ ]*:\([0-9][0-9]*\).*/\1/p' "$OUT/logs/parley-$WL.log" | head -n 1)
				[ -n "$PORT" ] && break; sleep 0.1
			done
			log "$WL: loadgen fanout, 50 members, 1 sender, $n messages in 5 s"
			line=$(loadgen parley fanout --members 50 --senders 1 --rate "$(( n / 5 ))" --seconds 5 \
				--probes 5 2>"$OUT/logs/loadgen-parley-$WL.log" | grep '^{' | tail -n 1)
			stop_server
			sleep 0.5
			ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$cgout" 2>/dev/null | head -n 1)
			[ -n "$ir" ] || ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$cgout" 2>/dev/null | head -n 1)
			d=$(jq -r '(.delivered // ((.deliveries_s // 0) * (.seconds // 5))) | round' <<<"${line:-{\}}" 2>/dev/null)
			CG[ir$n]=${ir:-0}; CG[d$n]=${d:-0}
			CG[ratio$n]=$(jq -r '.delivered_ratio // "?"' <<<"${line:-{\}}" 2>/dev/null)
			echo "${line:-{\}}" | jq -c --argjson ir "${ir:-0}" --arg wl "$WL" '. + {bench: $wl, ir: $ir}' >>"$RAW" 2>/dev/null
		done
	fi
fi

# --- the table -----------------------------------------------------------------
fmt() {   # fmt VALUE DECIMALS
	local v=$1 d=$2
	[ -n "$v" ] || { echo "—"; return; }
	if [[ $v =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then printf "%.${d}f" "$v"; else echo "$v"; fi
}
ratio_cells() {   # ratio_cells P S BETTER: "p/s | who is better by how much"
	awk -v p="$1" -v s="$2" -v b="$3" 'BEGIN {
		num = "^-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$";
		if (p !~ num || s !~ num || s + 0 == 0) { print "— | —"; exit }
		r = p / s; out = sprintf("%.2f", r);
		if (b == "-" ) { print out " | —"; exit }
		if (p + 0 == 0 && b == "lower") { print out " | parleyd"; exit }
		f = (b == "higher") ? r : (p + 0 == 0 ? 0 : 1 / r);
		if (f > 0.95 && f < 1.05) who = "even (±5%)";
		else if (f >= 1) who = sprintf("parleyd, %.1fx", f);
		else who = sprintf("socket.io, %.1fx", 1 / f);
		print out " | " who }'
}

# --- targets (issue 6) -------------------------------------------------------------
# One line per target: the figure, the comparison and met / not met. Ratios
# are parleyd / socket.io of this run.
TGT=$TMP/targets.txt
: >"$TGT"
# pj WL EXPR / sj WL EXPR: a jq expression over parleyd's / the peer's result
# of workload WL (empty when absent or null).
pj() { jq -r "($2) // empty" <<<"${RES_parley[$1]:-{\}}" 2>/dev/null; }
sj() { jq -r "($2) // empty" <<<"${RES_sio[$1]:-{\}}" 2>/dev/null; }
# tline LABEL VALUE OP LIMIT FMT [UNIT]: "- LABEL: VALUE OP LIMIT: met|not met"
tline() {
	local label=$1 v=$2 op=$3 lim=$4 fmt=$5 unit=${6:-}
	if [ -z "$v" ]; then
		echo "- $label: no figure: not met" >>"$TGT"
		return
	fi
	awk -v l="$label" -v v="$v" -v op="$op" -v lim="$lim" -v f="$fmt" -v u="$unit" 'BEGIN {
		ok = (op == ">=") ? (v + 0 >= lim + 0) : (v + 0 <= lim + 0);
		printf "- %s: " f "%s %s " f "%s: %s\n", l, v, u, op, lim, u, (ok ? "met" : "not met") }' >>"$TGT"
}
# ratio WL EXPR: parleyd / peer of EXPR on workload WL (empty without both).
ratio() {
	local p s
	p=$(pj "$1" "$2"); s=$(sj "$1" "$2")
	[ -n "$p" ] && [ -n "$s" ] || return 0
	awk -v p="$p" -v s="$s" 'BEGIN { if (s + 0 != 0) printf "%.4f", p / s }'
}
noline() { echo "- $1: $2" >>"$TGT"; }
offered() { pj "$1" '.offered_deliveries_s | floor'; }
peer_ratio() {   # peer_ratio LABEL WL EXPR OP LIMIT: a ratio target
	if [ "$PEER" = none ]; then noline "$1" "no peer in this run (BENCH_PEER=none)"; return; fi
	tline "$1" "$(ratio "$2" "$3")" "$4" "$5" "%.2f" x
}
if [ -n "${RES_parley[fanout-500k]:-}" ]; then
	o=$(offered fanout-500k)
	peer_ratio "fan-out at ${o:-?} deliveries/s offered: deliveries/s parleyd/socket.io" fanout-500k .deliveries_s ">=" 3
	tline "fan-out at ${o:-?} deliveries/s offered: parleyd delivered ratio" "$(pj fanout-500k .delivered_ratio)" ">=" 0.99 "%.3f"
	tline "fan-out at ${o:-?} deliveries/s offered: parleyd p99" "$(pj fanout-500k .p99_ms)" "<=" 100 "%.1f" " ms"
else
	noline "fan-out at ~500k deliveries/s offered" "not run"
fi
if [ -n "${RES_parley[fanout-50k]:-}" ]; then
	o=$(offered fanout-50k)
	peer_ratio "fan-out at ${o:-?} deliveries/s offered: server CPU per delivery parleyd/socket.io" fanout-50k \
		'if (.delivered // 0) > 0 then .cpu_us / .delivered else null end' "<=" 0.5
	tline "fan-out at ${o:-?} deliveries/s offered: parleyd p99" "$(pj fanout-50k .p99_ms)" "<=" 10 "%.2f" " ms"
else
	noline "fan-out at ~50k deliveries/s offered" "not run"
fi
if [ -n "${RES_parley[idle]:-}" ]; then
	IDLE_KB='if (.conns // 0) > 0 then (([.rss_peak_kb, .rss1_kb] | max) - .rss0_kb) / .conns else null end'
	peer_ratio "idle: RSS per connection parleyd/socket.io" idle "$IDLE_KB" "<=" 0.5
	tline "idle: parleyd RSS per connection (aim)" "$(pj idle "$IDLE_KB")" "<=" 4 "%.2f" " KiB"
	tline "idle: connections held by parleyd" "$(pj idle .conns)" ">=" 19000 "%d"
else
	noline "idle" "not run"
fi
if [ -n "${RES_parley[limit]:-}" ]; then
	# Clean: every connection past the cap got an answer (an HTTP status),
	# none left unanswered or reset, and the server lived on.
	how=$(pj limit '.refused_how | select(.) | to_entries | map("\(.key) \(.value)") | join(", ")')
	unclean=$(pj limit '[(.refused_how // {}) | to_entries[] | select(.key | startswith("http_") | not) | .value] | add // 0')
	unans=$(pj limit '.requested - .conns - .refused')
	alive=$(pj limit 'if .rss1_kb == null then null elif .rss1_kb > 0 then "yes" else "no" end')
	refd=$(pj limit .refused)
	verdict="not met"
	[ "${refd:-0}" -gt 0 ] && [ "${unclean:-1}" = 0 ] && [ "${unans:-1}" = 0 ] && [ "$alive" = yes ] && verdict=met
	noline "limit: a clean refusal past the limit (every extra connection answered with an HTTP status, the server alive)" \
		"parleyd up $(pj limit .conns), refused ${refd:-0} (${how:-none}), unanswered ${unans:-?}, alive ${alive:-?}: $verdict"
else
	noline "limit" "not run"
fi
if [ -n "${RES_parley[durable-w32]:-}${RES_parley[durable-w8]:-}" ]; then
	best=; bw=; others=
	for W in $DURABLE_WINDOWS; do
		v=$(pj "durable-w$W" '.msgs_acked_s | floor')
		[ -n "$v" ] || continue
		if [ -z "$best" ] || [ "$v" -gt "$best" ]; then
			[ -n "$best" ] && others="$others; window $bw: $best/s"
			best=$v bw=$W
		else
			others="$others; window $W: $v/s"
		fi
	done
	tline "durable sends: parleyd acked message:send/s (10 senders, window ${bw:-?}${others})" "$best" ">=" 20000 "%d"
else
	noline "durable sends" "not run"
fi
# Upgrades: each server at its best of the concurrencies tried.
bp= bs= each=
for k in $CHURN_UP_KS; do
	p=$(pj "churn-upgrade-$k" '.upgrades_s | floor'); s=$(sj "churn-upgrade-$k" '.upgrades_s | floor')
	[ -n "$p" ] || continue
	each="$each; $k concurrent: $p/${s:-?}"
	[ -z "$bp" ] || [ "$p" -gt "$bp" ] && bp=$p
	[ -n "$s" ] && { [ -z "$bs" ] || [ "$s" -gt "$bs" ]; } && bs=$s
done
if [ -z "$bp" ]; then
	noline "upgrades" "not run"
elif [ "$PEER" = none ]; then
	noline "upgrades: best upgrades/s parleyd/socket.io (closed loop, no join)" "no peer in this run (BENCH_PEER=none)"
elif [ -z "$bs" ]; then
	noline "upgrades" "no figure from the peer: not met"
else
	tline "upgrades: best upgrades/s parleyd/socket.io (closed loop, no join${each})" \
		"$(awk -v p="$bp" -v s="$bs" 'BEGIN { if (s > 0) printf "%.4f", p / s }')" ">=" 4 "%.2f" x
fi
if [ -n "${RES_parley[scaling]:-}" ]; then
	tline "join, leave and disconnect O(what they touch): server CPU per churn cycle beside $SCALE_ROOMS rooms and $SCALE_CONNS connections / alone" \
		"$(pj scaling 'if (.alone.cycles // 0) > 0 and (.busy.cycles // 0) > 0 then (.busy.cpu_us / .busy.cycles) / (.alone.cpu_us / .alone.cycles) else null end')" "<=" 1.2 "%.2f" x
else
	noline "join, leave and disconnect O(what they touch)" "not run"
fi

RES=$OUT/results.md
{
	if [ "$PEER" = none ]; then
		echo "## parleyd alone (BENCH_PEER=none: no Socket.IO peer, no ratios)"
	else
		echo "## parleyd vs Socket.IO $(jq -r '.dependencies["socket.io"] // "4.8"' "$PEER_DIR/package.json" 2>/dev/null) (node $(node --version 2>/dev/null))"
	fi
	echo
	echo "$date_start, $(nproc) cores ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), server and loadgen on the same machine;"
	echo "$( [ "$QUICK" = 1 ] && echo "**BENCH_QUICK=1 (smoke run, short and small: not a measurement)**; " )$T s per workload, each against a freshly started server, same loadgen parameters for both."
	echo
	echo "| workload | metric | parleyd | socket.io | ratio parleyd/socket.io | better |"
	echo "| --- | --- | ---: | ---: | ---: | --- |"
	while IFS=$'\x1f' read -r wl metric p s better dec; do
		better_txt=$better
		[ "$better" = lower ] && metric="$metric (lower is better)"
		[ "$better" = higher ] && metric="$metric (higher is better)"
		echo "| $wl | $metric | $(fmt "$p" "$dec") | $(fmt "$s" "$dec") | $(ratio_cells "$p" "$s" "$better_txt") |"
	done <"$ROWS"
	echo
	if [ -n "${CG[ir$CG_MSGS]:-}" ]; then
		n1=$CG_MSGS n2=$(( CG_MSGS * 2 ))
		echo "### parleyd instructions per delivery (callgrind)"
		echo
		echo "fanout, 50 members, 1 sender, 5 s; Ir = instructions executed by parleyd, whole process."
		echo
		echo "| run | messages | deliveries | delivered ratio | Ir total | Ir per delivery |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: |"
		for n in $n1 $n2; do
			per=—; [ "${CG[d$n]}" -gt 0 ] 2>/dev/null && per=$(( ${CG[ir$n]} / ${CG[d$n]} ))
			echo "| $n msgs | $n | ${CG[d$n]} | ${CG[ratio$n]} | ${CG[ir$n]} | $per (setup included) |"
		done
		dd=$(( ${CG[d$n2]} - ${CG[d$n1]} ))
		dir=$(( ${CG[ir$n2]} - ${CG[ir$n1]} ))
		if [ "$dd" -gt 0 ]; then
			echo "| marginal | $n1 more | $dd more | | $dir more | **$(( dir / dd ))** |"
		fi
		echo
	fi
	if [ -n "$CL_SECTION" ]; then
		echo "### cluster: fan-out across two nodes (issue 9)"
		echo
		[ -n "${RES_cluster[1]:-}" ] && echo "fanout $CL_FAN, $T s, parleyd on a throw-away PostgreSQL $( [ -n "$CL_PG_BIN" ] && "$CL_PG_BIN/postgres" --version 2>/dev/null | sed -n "s/^postgres (PostgreSQL) \([0-9.]*\).*/\1/p"): cluster-1node is one parleyd"
		[ -n "${RES_cluster[1]:-}" ] && echo "(no --cluster), cluster-2nodes two (--cluster on one redis-server $(redis-server --version 2>/dev/null | sed -n 's/.* v=\([^ ]*\).*/\1/p'), --node-id n1 and n2) on a fresh database of the same server;"
		[ -n "${RES_cluster[1]:-}" ] && echo "senders on n1, the receivers alternating n1 and n2. CPU and RSS are the nodes' sum." && echo
		if [ -n "${RES_cluster[1]:-}" ] && [ -n "${RES_cluster[2]:-}" ]; then
			# cj N EXPR: a jq expression over the 1-node (1) or 2-node (2) result.
			cj() { jq -r "($2) // empty" <<<"${RES_cluster[$1]}" 2>/dev/null; }
			CPD='if (.delivered // 0) > 0 then .cpu_us / .delivered else null end'
			awk -v d1="$(cj 1 .deliveries_s)" -v d2="$(cj 2 .deliveries_s)" \
				-v p1="$(cj 1 .p99_ms)" -v p2="$(cj 2 .p99_ms)" \
				-v r1="$(cj 1 .delivered_ratio)" -v r2="$(cj 2 .delivered_ratio)" \
				-v c1="$(cj 1 "$CPD")" -v c2="$(cj 2 "$CPD")" 'BEGIN {
				printf "- 2 nodes / 1 node: deliveries/s %d / %d = %s (higher is better); p99 %.2f ms / %.2f ms = %s (lower is better);",
					d2, d1, (d1 > 0 ? sprintf("%.2fx", d2 / d1) : "—"), p2, p1, (p1 > 0 ? sprintf("%.2fx", p2 / p1) : "—");
				printf " delivered ratio %.3f / %.3f; server CPU µs per delivery %.2f / %.2f = %s (lower is better)\n",
					r2, r1, c2, c1, (c1 > 0 ? sprintf("%.2fx", c2 / c1) : "—") }'
			jq -r '. as $r | "- 2 nodes, per node: " + ([.per_url // [] | to_entries[] |
				"n\(.key + 1): \(.value.conns) connections, \(.value.deliveries_s | floor) deliveries/s received, probes p50 \(.value.p50_ms) ms p99 \(.value.p99_ms) ms, server CPU \((($r.node_cpu_us // [])[.key] // 0) / 1e4 / $r.seconds | round)%"] | join("; "))' \
				<<<"${RES_cluster[2]}" 2>/dev/null
		fi
		[ -n "$CL_NOTE" ] && echo "- $CL_NOTE"
		echo
	fi
	echo "### targets (issue 6)"
	echo
	[ "$QUICK" = 1 ] && echo "BENCH_QUICK=1: smaller loads than the issue's (see the offered figures); the verdicts are for this run only." && echo
	cat "$TGT"
	echo
	echo "Notes:"
	echo
	echo "- CPU is the server process's utime+stime from /proc/PID/stat (clock ticks, CLK_TCK=$TCK) over the whole loadgen run,"
	echo "  connection setup included; per delivery = that / all deliveries of the run (drain included). RSS is VmRSS from /proc/PID/status,"
	echo "  sampled every 0.2 s while the loadgen runs; per idle connection = (peak - before) / connections up."
	echo "- ratio = parleyd / socket.io for the row's metric; \"better\" names the side that wins in the row's direction"
	echo "  (lower or higher is better, said in the metric) and by how much (x = factor); — where it does not apply."
	echo "- parleyd stores every message (SQLite, WAL) and verifies a JWT per connection; the Socket.IO peer keeps"
	echo "  nothing but a per-room seq and accepts any non-empty token as the user name, no JWT verification (see bench/sio-peer/PROTOCOL.txt)."
	echo "- node runs one thread for JS (plus libuv's pool); parleyd's threads are counted together, as the process."
	echo "- Instruction counts are for parleyd only: node under valgrind (a JIT) gives no meaningful count."
	echo "- churn-closed: $CHURN_K clients in a closed loop (connect, authenticate, join, leave, close, again at once); upgrades/s"
	echo "  counts the 101s received in the measured seconds. parleyd commits each join and leave (SQLite, fsync) before its ack,"
	echo "  the peer keeps rooms in memory. The loadgen binds its sockets to 127.0.0.1-8 (more ephemeral ports for TIME_WAIT);"
	echo "  its own CPU is in the table: near 100% would mean the client set the pace."
	echo "- churn-upgrade: the same loop without the room: connect, upgrade with auth, close. The upgrades target uses it."
	[ -n "$CG_NOTE" ] && echo "- $CG_NOTE"
	[ -n "${SCALE_NOTE:-}" ] && echo "- $SCALE_NOTE"
	[ "$QUICK" = 1 ] && echo "- BENCH_QUICK=1: a smoke run of every workload at small sizes; do not quote these numbers."
	echo "- raw loadgen JSON (plus the sampled server numbers) per run: $RAW; logs: $OUT/logs/"
} >"$RES"
cat "$RES"
