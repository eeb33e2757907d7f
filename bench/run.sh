#!/usr/bin/env bash
# bench/run.sh BUILD: parleyd against a Socket.IO 4.8 peer (bench/sio-peer),
# each workload with the same loadgen parameters against both, each on a
# freshly started server. Prints one markdown table and writes it to
# BUILD/bench/results.md (the raw loadgen JSON lines beside it, in
# BUILD/bench/raw.jsonl, and the servers' logs in BUILD/bench/logs/).
#   BENCH_QUICK=1    a few seconds per workload, small sizes (smoke check)
#   BENCH_ONLY="fanout-50k idle ..."   run only these workloads
#   BENCH_NO_CALLGRIND=1               skip the callgrind step
# Needs: BUILD/parleyd, BUILD/parley, BUILD/loadgen, node with
# bench/sio-peer/node_modules installed (npm ci), jq; valgrind for the
# instruction counts (skipped with a note when absent).
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
SECRET=bench-secret-0123456789abcdef0123456789abcdef
TCK=$(getconf CLK_TCK)

for f in "$LOADGEN" "$PARLEYD" "$PARLEY"; do
	[ -x "$f" ] || { echo "run.sh: missing $f (make BUILD=$BUILD bench builds it)" >&2; exit 1; }
done
[ -f "$PEER_DIR/server.js" ] || { echo "run.sh: missing $PEER_DIR/server.js" >&2; exit 1; }
[ -d "$PEER_DIR/node_modules" ] || { echo "run.sh: run npm ci in $PEER_DIR first" >&2; exit 1; }
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

cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "# $*" >&2; }

# --- parameters ----------------------------------------------------------
if [ "$QUICK" = 1 ]; then
	T=3
	FAN_LO="--members 50 --senders 5 --rate 100"      #  ~4.9k deliveries/s offered
	FAN_HI="--members 100 --senders 10 --rate 500"    # ~49.5k deliveries/s offered
	ROOMS="--rooms 10 --members-per-room 10 --senders-per-room 2 --rate 200"
	IDLE_N=300
	LIMIT_FD=128          # the refusal run: server fd limit (conns asked: LIMIT_FD+1)
	DURABLE="--senders 4 --window 4"
	CHURN="--rate 50"
	PROBES=5
	CG_MSGS=50
else
	T=20
	FAN_LO="--members 500 --senders 10 --rate 100"    #  ~50k deliveries/s offered
	FAN_HI="--members 500 --senders 10 --rate 1000"   # ~500k deliveries/s offered
	ROOMS="--rooms 100 --members-per-room 50 --senders-per-room 2 --rate 1000"
	IDLE_N=$(( FDMAX - 1000 < 19000 ? FDMAX - 1000 : 19000 ))
	LIMIT_FD=1024
	DURABLE="--senders 10 --window 8"
	CHURN="--rate 200"
	PROBES=20
	CG_MSGS=200
fi
HOLD=$(( T > 5 ? T : 5 ))     # idle: seconds the connections are held

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
	for i in $(seq 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
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
			--token-cmd "$PARLEY token --secret $SECRET --sub %s" "$@"
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
		LG_PRE=(--proto parley --url "http://127.0.0.1:$PORT" --token-cmd "$PARLEY token --secret $SECRET --sub %s")
	else
		LG_PRE=(--proto sio --url "http://127.0.0.1:$PORT")
	fi
	log "$WL $kind: loadgen $*"
	# The loadgen gets SIGTERM after LG_TIMEOUT s (it then prints what it
	# has), and SIGKILL 10 s later.
	timeout -s TERM -k 10 "${LG_TIMEOUT:-$(( T * 3 + 60 ))}" \
		"$LOADGEN" "${LG_PRE[@]}" "$@" >"$out" 2>"$err" &
	lpid=$!
	while kill -0 "$lpid" 2>/dev/null; do
		r=$(rss_kb "$SPID" 2>/dev/null) && [ -n "$r" ] && [ "$r" -gt "$peak" ] && peak=$r
		sleep 0.2
	done
	wait "$lpid"; rc=$?
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
both() {
	R_parley='{}'; R_sio='{}'
	run_one parley "$@"
	run_one sio "$@"
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
deliv_rows() {
	row "$WL" "offered deliveries/s" '.offered_deliveries_s | floor' -  0
	row "$WL" "deliveries/s" '.deliveries_s | floor' higher 0
	row "$WL" "delivered ratio" '.delivered_ratio' higher 3
	row "$WL" "latency p50 ms" '.p50_ms' lower 2
	row "$WL" "latency p99 ms" '.p99_ms' lower 2
	row "$WL" "latency max ms" '.max_ms' lower 1
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
	row "$WL" "fd limit / conns asked" "\"$LIMIT_FD / $(( LIMIT_FD + 1 ))\"" - 0
	row "$WL" "connections up" '.conns' - 0
	row "$WL" "refused" '.refused' - 0
	row "$WL" "refused how" '.refused_how | select(.) | tostring' - 0
	row "$WL" "neither up nor refused (no answer)" '.requested - .conns - .refused' - 0
	row "$WL" "server alive after" 'if .rss1_kb > 0 then "yes" else "no" end' - 0
fi
if want durable; then
	WL=durable
	both durable $DURABLE --seconds "$T"
	row "$WL" "messages acked/s" '.msgs_acked_s | floor' higher 0
	row "$WL" "ack p50 ms" '.ack_p50_ms' lower 2
	row "$WL" "ack p99 ms" '.ack_p99_ms' lower 2
	row "$WL" "server CPU µs per acked message" \
		'(.acked // ((.msgs_acked_s // 0) * (.seconds // (env.T|tonumber)))) as $n | if $n > 0 then .cpu_us / $n else null end' lower 1
	row "$WL" "errors" '.errors' lower 0
fi
if want churn; then
	WL=churn
	both churn $CHURN --seconds "$T"
	row "$WL" "cycles/s" '.cycles_s | floor' higher 0
	row "$WL" "connect p50 ms" '.connect_p50_ms // .p50_ms' lower 2
	row "$WL" "connect p99 ms" '.connect_p99_ms // .p99_ms' lower 2
	row "$WL" "server CPU µs per cycle" \
		'(.cycles // ((.cycles_s // 0) * (.seconds // (env.T|tonumber)))) as $n | if $n > 0 then .cpu_us / $n else null end' lower 0
	row "$WL" "server RSS after MB" '.rss1_kb / 1024' lower 1
	row "$WL" "errors" '.errors' lower 0
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

RES=$OUT/results.md
{
	echo "## parleyd vs Socket.IO $(jq -r '.dependencies["socket.io"] // "4.8"' "$PEER_DIR/package.json" 2>/dev/null) (node $(node --version 2>/dev/null))"
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
			per=—; [ "${CG[d$n]}" -gt 0 ] 2>/dev/null && per=$(( CG[ir$n] / CG[d$n] ))
			echo "| $n msgs | $n | ${CG[d$n]} | ${CG[ratio$n]} | ${CG[ir$n]} | $per (setup included) |"
		done
		dd=$(( CG[d$n2] - CG[d$n1] ))
		if [ "$dd" -gt 0 ]; then
			echo "| marginal | $n1 more | $dd more | | $(( CG[ir$n2] - CG[ir$n1] )) more | **$(( (CG[ir$n2] - CG[ir$n1]) / dd ))** |"
		fi
		echo
	fi
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
	[ -n "$CG_NOTE" ] && echo "- $CG_NOTE"
	[ "$QUICK" = 1 ] && echo "- BENCH_QUICK=1: a smoke run of every workload at small sizes; do not quote these numbers."
	echo "- raw loadgen JSON (plus the sampled server numbers) per run: $RAW; logs: $OUT/logs/"
} >"$RES"
cat "$RES"
