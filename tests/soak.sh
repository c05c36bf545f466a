#!/bin/bash
# soak.sh: tunneld under random faults, with every byte it carries checked.
#
#	tests/soak.sh [--duration 5m|30m|SECONDS] [--nodes N] [--seed S]
#	    [--clients N] [--rate BYTES_PER_S] [--partition auto|yes|no]
#	    [--first KIND]
#
# Run it after `make check` has built the test helpers (tests/soak-stream,
# tests/ollama-standin, tests/notify-listen).  Loopback only; everything it
# starts is stopped, by PID, when it ends (tests/lib.sh).  `make check` runs
# a short one (tests/t_soak.sh).
#
# The mesh: N nodes (default 4), each behind its own sshd on loopback, each
# with a local forward to an echo server, a local forward to its own Ollama
# stand-in (tunneld probes Ollama through it, end to end) and a remote
# forward back to the echo server; the GPU probe runs nvidia-smi (stand-in)
# through each session.  Clients (--clients per forward, default 2) stream
# pseudo-random data through every echo forward without pause, paced at
# --rate bytes/s each (default 1 MB/s: the soak is about faults, not speed),
# and compare every byte that comes back, with SHA-256 over each stream.
#
# Faults, one at a time, on a random node, at random intervals, from a
# seeded generator (the seed is printed; --seed replays the same schedule):
#	kill		sshd and its sessions SIGKILLed, restarted 0-3 s later
#	freeze		sshd and its sessions SIGSTOPped for 1-9 s (a hung peer
#			whose kernel still ACKs), then SIGCONT
#	squat		sshd stopped, its remote-forward port taken by another
#			process, sshd started again: the node reconnects and
#			finds its port held for 2-8 s
#	partition	the SSH hop dropped for 1-10 s: iptables DROPs every
#			packet to and from the node's sshd port (the TCP
#			connections stay open, nothing arrives: a cable pulled
#			or a NAT mapping lost), then the rule is removed
#	ollama-slow	the node's Ollama answers 3 s late (probe_timeout 2 s),
#	ollama-fail	HTTP 500, or
#	ollama-garbage	200 with a body that is not JSON, for 3-8 s
# --first KIND makes KIND the first fault (t_soak.sh: a partition).
#
# Partitions need root, unshare(1), ip(8) and iptables(8): the soak then
# runs in a network namespace of its own (`unshare -n`, `ip link set lo
# up`), so the rules it adds touch nothing else.  --partition auto (the
# default) leaves partitions out, saying why, when one of those is
# missing; yes fails instead; no leaves them out.
#
# What counts, per stream (see tests/soak-stream.c):
#	verified	all bytes back, equal, SHA-256 equal, then a clean EOF
#	failed with error  the client saw the failure: connection refused or
#			reset, a write that failed, no progress for 20 s, or a
#			clean EOF before all the bytes while that node had a
#			fault (the tunnel went down and closed the connection:
#			DESIGN.md's "arrives intact or the connection is closed")
#	corrupt		a byte that differs from what was sent at its offset,
#			more bytes than were sent, or unequal SHA-256: must be 0
#	truncated-without-error  a clean EOF before all the bytes on a node
#			that had no fault and whose session stayed up: the
#			tunnel ended a stream early as if it were complete:
#			must be 0
#
# Times, from the monitor (`status` over the control socket every 100 ms):
#	to notice a dead peer	fault start -> the node leaves `up` (kill,
#				freeze, squat, partition; a freeze or partition
#				shorter than the keepalive limit may be
#				survived, and is counted)
#	to carry traffic again	fault end (for a partition: the link's
#				return) -> bytes flow again through every echo
#				forward of the node
#	Ollama			fault start -> the probe fails; fault end ->
#				the probe passes again (a request through the
#				tunnel)
#
# Exit status: 0 when no stream was corrupt or truncated without error,
# tunneld did not die and exited 0 on SIGTERM, every fault was recovered
# from, every forward carries traffic at the end, and tunneld's open fds
# did not grow by more than FD_SLACK (2; RSS is printed, not judged; both
# as start, peak and end, sampled after each fault).
# 77: a tool is missing.  The summary is also written to $SOAK_REPORT when
# that is set.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"

usage() {
	echo "usage: $0 [--duration 5m|30m|SECONDS] [--nodes N] [--seed S] [--clients N] [--rate BYTES_PER_S] [--partition auto|yes|no] [--first KIND]" >&2
	exit 2
}

DURATION=300
NODES=4
SEED=
CLIENTS=2
RATE=1000000
PARTITION=auto
FIRST=
ARGS=("$@")
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--duration)
		case $2 in
		*[0-9]m) DURATION=$((${2%m} * 60)) ;;
		*[0-9]s) DURATION=${2%s} ;;
		*) DURATION=$2 ;;
		esac
		;;
	--nodes) NODES=$2 ;;
	--seed) SEED=$2 ;;
	--clients) CLIENTS=$2 ;;
	--rate) RATE=$2 ;;
	--partition) PARTITION=$2 ;;
	--first) FIRST=$2 ;;
	*) usage ;;
	esac
	shift 2
done
# in_range NAME VALUE MIN MAX: VALUE is a whole number in MIN..MAX.
in_range() {
	if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
		echo "$0: $1 must be a whole number in $3..$4" >&2
		usage
	fi
}
in_range --duration "$DURATION" 20 86400
in_range --nodes "$NODES" 1 16
in_range --clients "$CLIENTS" 1 8
in_range --rate "$RATE" 1000 1000000000
if [ -z "$SEED" ]; then
	SEED=$(((RANDOM << 15 | RANDOM) % 1000000))
fi
in_range --seed "$SEED" 0 999999999
case $FIRST in
'' | kill | freeze | squat | partition | ollama-slow | ollama-fail | ollama-garbage) ;;
*) echo "$0: --first: no fault kind '$FIRST'" >&2; usage ;;
esac

# Partitions: the whole soak in a network namespace of its own, where
# iptables rules touch nothing else.  This script runs again in it.
case $PARTITION in
auto | yes)
	why=
	if [ "$(id -u)" != 0 ]; then
		why="not root"
	else
		for tool in unshare ip iptables; do
			command -v "$tool" >/dev/null || why="no $tool (apt-get install util-linux iproute2 iptables)"
		done
	fi
	if [ -z "$why" ] && [ -z "${TD_SOAK_NETNS:-}" ]; then
		exec env TD_SOAK_NETNS=1 unshare -n -- bash "$0" "${ARGS[@]}" --seed "$SEED"
	fi
	if [ -z "$why" ]; then
		ip link set lo up || { echo "$0: cannot bring lo up in the namespace" >&2; exit 1; }
		iptables -w 5 -S INPUT >/dev/null || why="iptables does not work here"
	fi
	if [ -n "$why" ]; then
		[ "$PARTITION" = auto ] || { echo "$0: --partition yes: $why" >&2; exit 77; }
		echo "soak: partition faults left out: $why"
		PARTITION=no
		[ "$FIRST" != partition ] || FIRST=
	else
		PARTITION=yes
	fi
	;;
no)
	[ "$FIRST" != partition ] || { echo "$0: --first partition with --partition no" >&2; usage; }
	;;
*) usage ;;
esac

td_setup

SOAK=$top_builddir/tests/soak-stream
for b in "$SOAK" "$TD_OLLAMA_STANDIN" "$TD_NOTIFY_LISTEN"; do
	[ -x "$b" ] || td_fail "$b is not built (make check builds it)"
done

FD_SLACK=2
KA_INTERVAL_MS=1000
KA_COUNT=3
WARMUP=5		# s of traffic without faults before the baseline
STALL_MS=20000

echo "soak: seed $SEED, $DURATION s, $NODES nodes, $CLIENTS clients per forward at $RATE B/s," \
    "partitions: $PARTITION${TD_SOAK_NETNS:+ (in a network namespace of its own)}" \
    "(replay: $0 --seed $SEED --duration $DURATION --nodes $NODES --clients $CLIENTS --rate $RATE --partition $PARTITION${FIRST:+ --first $FIRST})"

now_ms() {
	td__now_us
	echo $((TD__NOW / 1000))
}

# status_lines: "NAME STATE CONNECTS OLLAMA FWDS ACTIVE" per node.
status_lines() {
	timeout 10 "$SOAK" status --socket "$T/control.sock"
}

all_up() {
	local s
	s=$(status_lines) || return 1
	[ "$(awk '$2 == "up" && $4 == "ok" && $5 !~ /refused|down|pending/' <<<"$s" | wc -l)" -eq "$NODES" ]
}

node_up() {
	status_lines | awk -v n="$1" '$1 == n && $2 == "up" { ok = 1 } END { exit !ok }'
}

quiet() {
	[ "$(status_lines | awk '{ s += $6 } END { print s + 0 }')" = 0 ]
}

# fds_min: tunneld's open fds, the least of 10 samples 100 ms apart.
fds_min() { td_fds_min "$TUNNELD_PID" 10 0.1; }

rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$TUNNELD_PID/status"
}

# peaks: RSS_PEAK and FD_PEAK, the most tunneld held at any sample (its fds
# now, streams in flight included).
RSS_PEAK=0
FD_PEAK=0
peaks() {
	local r f
	r=$(rss_kib) || return 0
	f=$(td_fds "$TUNNELD_PID")
	[ -n "$r" ] && [ "$r" -gt "$RSS_PEAK" ] && RSS_PEAK=$r
	[ "$f" -gt "$FD_PEAK" ] && FD_PEAK=$f
	return 0
}

# partition on|off PORT: drop, or stop dropping, every TCP packet to or
# from PORT (the node's sshd) in this namespace.  On loopback both
# directions pass INPUT.
partition() {
	local op=-I
	[ "$1" = on ] || op=-D
	iptables -w 5 "$op" INPUT -p tcp --dport "$2" -j DROP &&
		iptables -w 5 "$op" INPUT -p tcp --sport "$2" -j DROP
}

# sshd_kill9: SIGKILL the current sshd and all its sessions (a crash, not a
# shutdown: nothing is closed politely).  The listener is stopped first:
# tunneld reconnects within milliseconds, and a session forked after the
# list of descendants was taken would survive, holding the node up.
sshd_kill9() {
	local -a all
	[ -n "${SSHD_PID:-}" ] || return 0
	sshd_freeze
	mapfile -t all < <(td_descendants "$SSHD_PID")
	kill -KILL "$SSHD_PID" "${all[@]}" 2>/dev/null || :
	wait "$SSHD_PID" 2>/dev/null || :
	td_wait 5 td__gone "$SSHD_PID" || :
	SSHD_PID=
}


# ------------------------------------------------------------- the mesh

ECHO=$(td_port) || td_fail "no free port"
"$SOAK" echo "$ECHO" </dev/null >"$T/echo.log" 2>&1 &
td_track $!
td_wait 10 grep -q ready "$T/echo.log" || td_fail "echo server did not start: $(cat "$T/echo.log")"

declare -a L_PORT O_PORT R_PORT
for ((i = 1; i <= NODES; i++)); do
	sshd_setup "n$i"
	td_node "n$i" nvidia-smi
	sshd_key "n$i" "PATH=$TD_NODE_PATH"
	sshd_start
	ollama_start "o$i"
	O_TARGET[i]=$OLLAMA_PORT
	L_PORT[i]=$(td_port) || td_fail "no free port"
	O_PORT[i]=$(td_port) || td_fail "no free port"
	R_PORT[i]=$(td_port) || td_fail "no free port"
	S_PORT[i]=$SSHD_PORT
done

{
	tunneld_conf_head keepalive_interval=${KA_INTERVAL_MS}ms keepalive_count=$KA_COUNT \
	    connect_timeout=3s backoff_initial=200ms backoff_max=2s backoff_multiplier=2 \
	    backoff_jitter=0.2 retry_refused=200ms stable_after=5s \
	    probe_interval=2s probe_timeout=2s
	for ((i = 1; i <= NODES; i++)); do
		cat <<EOF
[node n$i]
ssh            = $SSHD_USER@127.0.0.1:${S_PORT[i]}
identity       = $T/keys/n$i
local_forward  = 127.0.0.1:${L_PORT[i]} 127.0.0.1:$ECHO
local_forward  = 127.0.0.1:${O_PORT[i]} 127.0.0.1:${O_TARGET[i]}
remote_forward = 127.0.0.1:${R_PORT[i]} 127.0.0.1:$ECHO
ollama         = http://127.0.0.1:${O_PORT[i]}
gpu            = nvidia-smi

EOF
	done
} >"$T/tunneld.conf"

notify_listen
tunneld_start "$T/tunneld.conf"
td_wait 90 all_up || td_fail "not every node up after 90 s: $(status_lines)"

SOAK_START=$(now_ms)
SOAK_END=$((SOAK_START + (WARMUP + DURATION) * 1000))
"$SOAK" monitor --socket "$T/control.sock" --until $((SOAK_END + 300000)) \
    --log "$T/monitor.log" --interval-ms 100 </dev/null >>"$T/monitor.err" 2>&1 &
MONITOR_PID=$!
td_track "$MONITOR_PID"

mkdir -p "$T/streams"
# clients UNTIL_MS TAG: one client per echo forward and --clients index.
CLIENT_PIDS=()
clients() {
	local until=$1 tag=$2 i c
	CLIENT_PIDS=()
	for ((i = 1; i <= NODES; i++)); do
		for ((c = 0; c < CLIENTS; c++)); do
			"$SOAK" client --port "${L_PORT[i]}" --node "n$i" --kind local \
			    --id "$c" --seed "$SEED" --until "$until" --rate "$RATE" \
			    --stall-ms "$STALL_MS" --log "$T/streams/$tag-n$i-local-$c.log" \
			    </dev/null >>"$T/streams/client.err" 2>&1 &
			CLIENT_PIDS+=($!)
			td_track $!
			"$SOAK" client --port "${R_PORT[i]}" --node "n$i" --kind remote \
			    --id "$c" --seed "$SEED" --until "$until" --rate "$RATE" \
			    --stall-ms "$STALL_MS" --log "$T/streams/$tag-n$i-remote-$c.log" \
			    </dev/null >>"$T/streams/client.err" 2>&1 &
			CLIENT_PIDS+=($!)
			td_track $!
		done
	done
}

# clients_wait: their deadline passed; the stream in flight is bounded by
# the stall limit (and soak-stream's own 60 s abort).
clients_wait() {
	local p
	for p in "${CLIENT_PIDS[@]}"; do
		td_wait 90 td__gone "$p" || td_stop "$p"
		wait "$p" 2>/dev/null || :
	done
}

# ------------------------------------------------------------- warm-up

clients $(($(now_ms) + WARMUP * 1000)) warm
clients_wait
td_wait 30 quiet || td_fail "connections still open after the warm-up: $(status_lines)"
td_wait 30 all_up || td_fail "not every node up after the warm-up: $(status_lines)"
RSS0=$(rss_kib)
FD0=$(fds_min)
peaks
grep -h '^S' "$T"/streams/warm-*.log | awk '$11 != "ok" { bad++ } END { exit bad > 0 }' ||
	td_fail "streams failed during the warm-up, before any fault: $(grep -h '^S' "$T"/streams/warm-*.log | awk '$11 != "ok"' | head -5)"
echo "soak: warm-up done: $(grep -hc '^S' "$T"/streams/warm-*.log | awk '{ s += $1 } END { print s }') streams verified; tunneld RSS $RSS0 KiB, $FD0 fds"

# ------------------------------------------------------------- faults

RUN_START=$(now_ms)
RUN_END=$((RUN_START + DURATION * 1000))
clients "$RUN_END" run
# The schedule depends on the seed alone: seeded only now, after every
# port was drawn.
RANDOM=$SEED
: >"$T/faults.log"
CRASH=0
KINDS=(kill freeze squat ollama-slow ollama-fail ollama-garbage)
[ "$PARTITION" = no ] || KINDS+=(partition)
FAULT_END_BY=$((RUN_END - 10000))	# leave traffic to show the last recovery
nf=0
while :; do
	if ! td_alive "$TUNNELD_PID"; then
		CRASH=1
		break
	fi
	gap=$((300 + RANDOM % 3700))
	node=$((1 + RANDOM % NODES))
	kind=${KINDS[RANDOM % ${#KINDS[@]}]}
	if [ "$nf" = 0 ] && [ -n "$FIRST" ]; then
		kind=$FIRST
	fi
	case $kind in
	kill) dur=$((RANDOM % 3000)) ;;
	freeze) dur=$((1000 + RANDOM % 8000)) ;;
	partition) dur=$((1000 + RANDOM % 9000)) ;;
	squat) dur=$((2000 + RANDOM % 6000)) ;;
	*) dur=$((3000 + RANDOM % 5000)) ;;
	esac
	[ $(($(now_ms) + gap + dur + 3000)) -lt "$FAULT_END_BY" ] || break
	sleep "$(printf '%d.%03d' $((gap / 1000)) $((gap % 1000)))"
	# A node still healing from the previous fault gets time first, so
	# that each fault's figures are its own.
	up=1
	td_wait 15 node_up "n$node" || up=0
	nf=$((nf + 1))
	aux=0
	sshd_use "n$node"
	ts=$(now_ms)
	case $kind in
	kill)
		sshd_kill9
		sleep "$(printf '%d.%03d' $((dur / 1000)) $((dur % 1000)))"
		sshd_restart
		;;
	freeze)
		sshd_freeze
		sleep "$(printf '%d.%03d' $((dur / 1000)) $((dur % 1000)))"
		sshd_thaw
		;;
	partition)
		partition on "$SSHD_PORT" || td_fail "iptables could not drop port $SSHD_PORT"
		sleep "$(printf '%d.%03d' $((dur / 1000)) $((dur % 1000)))"
		partition off "$SSHD_PORT" || td_fail "iptables could not remove the rule for port $SSHD_PORT"
		;;
	squat)
		sshd_stop
		"$SOAK" squat "${R_PORT[node]}" $((dur + 30000)) </dev/null >"$T/squat.out" 2>&1 &
		SQ=$!
		td_track "$SQ"
		if td_wait 10 grep -q ready "$T/squat.out"; then
			aux=$(now_ms)
		else
			echo "soak: squatter on ${R_PORT[node]} did not bind: $(cat "$T/squat.out")" >&2
		fi
		sshd_restart
		sleep "$(printf '%d.%03d' $((dur / 1000)) $((dur % 1000)))"
		td_stop "$SQ"
		;;
	ollama-slow) ollama_mode "o$node" slow 3000 ;;
	ollama-fail) ollama_mode "o$node" fail ;;
	ollama-garbage) ollama_mode "o$node" garbage ;;
	esac
	if [[ $kind == ollama-* ]]; then
		sleep "$(printf '%d.%03d' $((dur / 1000)) $((dur % 1000)))"
		ollama_mode "o$node" ok
	fi
	te=$(now_ms)
	echo "F $nf $kind n$node $ts $te $up $aux" >>"$T/faults.log"
	peaks
	echo "soak: $(date +%T) fault $nf: $kind on n$node for $((te - ts)) ms"
done

# ------------------------------------------------------------- the end

clients_wait
SETTLED=1
td_wait 60 all_up || SETTLED=0
td_wait 30 quiet || SETTLED=0
# Every forward carries traffic at the end: a short run of fresh streams.
clients $(($(now_ms) + 3000)) final
clients_wait
if td_alive "$TUNNELD_PID"; then
	peaks
	RSS1=$(rss_kib)
	FD1=$(fds_min)
else
	CRASH=1
	RSS1=-
	FD1=-
fi
td_stop "$MONITOR_PID"
STOP_RC=-
if [ "$CRASH" = 0 ]; then
	STOP_RC=0
	tunneld_stop || STOP_RC=$?
	[ "$STOP_RC" = 0 ] || CRASH=1
else
	wait "$TUNNELD_PID" 2>/dev/null
	STOP_RC="died during the run (status $?)"
fi

# ------------------------------------------------------------- figures

cat "$T"/streams/warm-*.log "$T"/streams/run-*.log >"$T/streams.all"
cat "$T"/streams/final-*.log >"$T/streams.final"
awk -v nodes="$NODES" -v crash="$CRASH" -v rss0="$RSS0" -v rss1="$RSS1" \
    -v rssp="$RSS_PEAK" -v fdp="$FD_PEAK" \
    -v fd0="$FD0" -v fd1="$FD1" -v slack="$FD_SLACK" -v settled="$SETTLED" \
    -v stop_rc="$STOP_RC" -v ka=$((KA_INTERVAL_MS * KA_COUNT)) '
function median(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--)
			a[j + 1] = a[j]
		a[j + 1] = t
	}
	return n == 0 ? "-" : (n % 2 ? a[(n + 1) / 2] : int((a[n / 2] + a[n / 2 + 1]) / 2))
}
function worst(a, n,   i, w) {
	w = "-"
	for (i = 1; i <= n; i++)
		if (w == "-" || a[i] > w)
			w = a[i]
	return w
}
function fig(a, n) {
	return sprintf("median %s ms, worst %s ms (n=%d)", median(a, n), worst(a, n), n)
}
# Monitor: per node, the times and states, in order.
FILENAME == ARGV[1] && $1 == "M" && $3 != "-" {
	k = ++nm[$3]
	mt[$3, k] = $2; ms[$3, k] = $4; mc[$3, k] = $5; mo[$3, k] = $6; mf[$3, k] = $7
	next
}
FILENAME == ARGV[1] && $1 == "L" { poll = $0; sub(/^L /, "", poll); next }
FILENAME == ARGV[2] && $1 == "F" {
	nf++
	fk[nf] = $3; fn[nf] = $4; fs[nf] = $5; fe[nf] = $6; fup[nf] = $7; faux[nf] = $8
	bykind[$3]++
	next
}
FILENAME == ARGV[3] && $1 == "S" { ns++; sl[ns] = $0; next }
FILENAME == ARGV[3] && $1 == "P" { np++; pn[np] = $2; pk[np] = $3; pt[np] = $5; next }
# The final streams count for carrying traffic again too: a fault that
# ends after the clients of the run (a loaded machine stretches a fault) is
# shown healed by them.
FILENAME == ARGV[4] && $1 == "S" {
	fin[$2 " " $3] += ($11 == "ok")
	finall[$2 " " $3] = 1
	if ($6 > 0 && $11 != "corrupt") {
		np++; pn[np] = $2; pk[np] = $3; pt[np] = $6
	}
	next
}
FILENAME == ARGV[4] && $1 == "P" { np++; pn[np] = $2; pk[np] = $3; pt[np] = $5; next }
END {
	sshkinds["kill"] = sshkinds["freeze"] = sshkinds["squat"] = sshkinds["partition"] = 1
	# First byte of each stream and each resumption, per node and kind.
	for (i = 1; i <= ns; i++) {
		split(sl[i], f, " ")
		if (f[6] > 0 && f[11] != "corrupt") {
			np++; pn[np] = f[2]; pk[np] = f[3]; pt[np] = f[6]
		}
	}
	for (i = 1; i <= nf; i++) {
		n = fn[i]
		next_ts = (i < nf) ? fs[i + 1] : 9e15
		# The state at the fault start, then the first change.
		noticed = ""; rec = ""
		for (k = 1; k <= nm[n]; k++) {
			t = mt[n, k]
			if (t < fs[i])
				continue
			if (fk[i] in sshkinds) {
				if (noticed == "" && ms[n, k] != "up" && t <= fe[i] + 5000 && t < next_ts)
					noticed = t
			} else if (noticed == "" && mo[n, k] != "ok" && t <= fe[i] + 5000 && t < next_ts)
				noticed = t
		}
		# Squat: no new session may show the remote forward (the
		# third) up while another process holds its port (from the
		# squatter bound, faux, to its end, 300 ms for the monitor).
		if (fk[i] == "squat" && faux[i] > 0) {
			nsq++
			lie = 0; c0 = -1
			for (k = 1; k <= nm[n]; k++) {
				t = mt[n, k]
				split(mf[n, k], fw, ",")
				if (t <= fs[i])
					c0 = mc[n, k]
				else if (t > faux[i] + 300 && t < fe[i] - 300 &&
				    fw[3] == "up" && mc[n, k] > c0)
					lie = 1	# a new session says it got the port
			}
			if (lie) {
				liars++
				liar_list = liar_list " " i ":" n
			}
		}
		# Recovered: the state as of fault end, or the first good one after.
		last = ""
		for (k = 1; k <= nm[n]; k++) {
			t = mt[n, k]
			good = (fk[i] in sshkinds) ? (ms[n, k] == "up" && mf[n, k] !~ /refused|down|pending/) : (mo[n, k] == "ok")
			if (t <= fe[i]) {
				last = good ? t : ""
				continue
			}
			if (last != "") {
				rec = fe[i]
				break
			}
			if (good) {
				rec = t
				break
			}
		}
		if (rec == "" && last != "")
			rec = fe[i]
		recat[i] = rec
		if (fk[i] in sshkinds) {
			# Traffic again: every echo forward of the node moved bytes.
			carry = ""
			for (kd = 0; kd < 2; kd++) {
				kind = kd ? "remote" : "local"
				first = ""
				for (p = 1; p <= np; p++)
					if (pn[p] == n && pk[p] == kind && pt[p] >= fe[i] && (first == "" || pt[p] < first))
						first = pt[p]
				if (first == "") { carry = "never"; break }
				if (carry == "" || first > carry) carry = first
			}
			if (fup[i] == 1 && noticed != "") {
				nn++; notice[nn] = noticed - fs[i]
				kn[fk[i]]++; knotice[fk[i], kn[fk[i]]] = noticed - fs[i]
			} else if (fup[i] == 1 && (fk[i] == "freeze" || fk[i] == "partition"))
				survived++
			else if (fup[i] == 1)
				unnoticed = unnoticed " " i ":" fk[i] ":" n
			if (carry != "never" && rec != "") {
				recovered++
				nc++; carryt[nc] = carry - fe[i]
				kc[fk[i]]++; kcarry[fk[i], kc[fk[i]]] = carry - fe[i]
			} else
				unrec = unrec " " i ":" fk[i] ":" n
		} else {
			if (fup[i] == 1 && noticed != "") { on++; onotice[on] = noticed - fs[i] }
			else if (fup[i] == 1) ounnoticed = ounnoticed " " i ":" fk[i] ":" n
			if (rec != "") { recovered++; oc++; ocarry[oc] = rec - fe[i] }
			else unrec = unrec " " i ":" fk[i] ":" n
		}
	}
	# Streams.
	for (i = 1; i <= ns; i++) {
		split(sl[i], f, " ")
		n = f[2]; out = f[11]
		started++
		if (out == "ok") { ok++; bytes += f[8]; continue }
		if (out == "corrupt") { corrupt++; corrupt_list = corrupt_list "\n    " sl[i]; continue }
		if (out != "eof") {
			err[out]++
			failed++
			continue
		}
		# A clean EOF, short: was the node down meanwhile?
		down = 0
		for (j = 1; j <= nf && !down; j++) {
			if (!(fk[j] in sshkinds) || fn[j] != n)
				continue
			wend = (recat[j] != "") ? recat[j] : fe[j] + 30000
			if (fs[j] <= f[7] + 1000 && wend >= f[5])
				down = 1
		}
		for (k = 1; k <= nm[n] && !down; k++) {
			t = mt[n, k]
			if (t >= f[5] && t <= f[7] + 2000 && ms[n, k] != "up" && ms[n, k] != "degraded")
				down = 1
			if (t >= f[5] && t <= f[7] + 2000 && k > 1 && mc[n, k] != mc[n, k - 1])
				down = 1
		}
		if (down) { err["eof-during-fault"]++; failed++ }
		else { trunc++; trunc_list = trunc_list "\n    " sl[i] }
	}
	line = ""
	for (k in bykind)
		line = line sprintf(", %s %d", k, bykind[k])
	printf "faults injected: %d%s\n", nf, nf ? " (" substr(line, 3) ")" : ""
	printf "recoveries: %d of %d faults (node up and every echo forward carrying again; Ollama probe passing again)%s\n",
	    recovered, nf, unrec != "" ? "; NOT recovered:" unrec : ""
	printf "time to notice a dead peer (fault -> node leaves up): %s\n", fig(notice, nn)
	for (k in kn) {
		delete tmp
		for (j = 1; j <= kn[k]; j++) tmp[j] = knotice[k, j]
		printf "    %-6s %s\n", k, fig(tmp, kn[k])
	}
	printf "    freezes and partitions survived (shorter than the keepalive limit of %d ms, session kept): %d\n", ka, survived
	if (unnoticed != "")
		printf "    NOT noticed:%s\n", unnoticed
	printf "time to carry traffic again (fault end -> bytes through every echo forward of the node): %s\n", fig(carryt, nc)
	for (k in kc) {
		delete tmp
		for (j = 1; j <= kc[k]; j++) tmp[j] = kcarry[k, j]
		printf "    %-6s %s\n", k, fig(tmp, kc[k])
	}
	printf "squats: the remote forward shown up while another process held its port: %d of %d%s\n", liars, nsq, liars ? " (" substr(liar_list, 2) ")" : ""
	printf "ollama faults: to notice (probe fails) %s; to pass again %s\n", fig(onotice, on), fig(ocarry, oc)
	if (ounnoticed != "")
		printf "    not noticed (fault shorter than a probe round?):%s\n", ounnoticed
	line = ""
	for (k in err)
		line = line sprintf(", %s %d", k, err[k])
	printf "streams: %d started, %d completed and verified (%.1f MiB each way), %d failed with error%s\n",
	    started, ok, bytes / 1048576, failed, failed ? " (" substr(line, 3) ")" : ""
	printf "corrupt: %d\n", corrupt
	printf "truncated-without-error: %d\n", trunc
	if (corrupt) printf "  corrupt streams:%s\n", corrupt_list
	if (trunc) printf "  truncated streams:%s\n", trunc_list
	fwd_bad = ""
	for (i = 1; i <= nodes; i++)
		for (kd = 0; kd < 2; kd++) {
			key = "n" i " " (kd ? "remote" : "local")
			if (!fin[key]) fwd_bad = fwd_bad " " key
		}
	printf "at the end: %s; every echo forward carried verified streams: %s\n",
	    settled ? "every node up, no connection left open" : "NOT settled (a node not up or connections left open after 90 s)",
	    fwd_bad == "" ? "yes" : "NO (" substr(fwd_bad, 2) ")"
	printf "control socket while under fire: status %s\n", poll
	printf "worst: to notice a dead peer %s ms, to carry traffic again %s ms\n", worst(notice, nn), worst(carryt, nc)
	printf "tunneld RSS (KiB): start %s (after warm-up), peak %s, end %s\n", rss0, rssp, rss1
	printf "tunneld open fds: start %s, peak %s (streams in flight included), end %s (start and end: the least of 10 samples)\n", fd0, fdp, fd1
	printf "crashes: %d (exit status on SIGTERM: %s)\n", crash, stop_rc
	fail = ""
	if (corrupt) fail = fail ", corrupt streams"
	if (trunc) fail = fail ", truncated streams"
	if (crash) fail = fail ", tunneld crashed"
	if (liars) fail = fail ", a held remote port shown up"
	if (fd1 == "-" || fd1 > fd0 + slack) fail = fail ", fds grew beyond " slack
	if (unrec != "") fail = fail ", faults not recovered from"
	if (!settled || fwd_bad != "") fail = fail ", not healed at the end"
	if (fail != "") { printf "result: FAIL (%s)\n", substr(fail, 3); exit 1 }
	printf "result: PASS\n"
}' "$T/monitor.log" "$T/faults.log" "$T/streams.all" "$T/streams.final" >"$T/summary" 
rc=$?
echo "==== soak summary (seed $SEED, $DURATION s, $NODES nodes)"
cat "$T/summary"
[ -z "${SOAK_REPORT:-}" ] || cp "$T/summary" "$SOAK_REPORT"
[ "$rc" = 0 ] || td_fail "soak failed (replay: $0 --seed $SEED --duration $DURATION --nodes $NODES --clients $CLIENTS --rate $RATE --partition $PARTITION${FIRST:+ --first $FIRST}; TD_KEEP=1 keeps the logs)"
td_ok "soak passed"
