#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=../tests/lib.sh
#
# bench/scale.sh: one tunneld with BENCH_NODES (300) nodes, each its own SSH
# session and its own local_forward, spread over BENCH_SSHDS (3) loopback
# sshds (issue 6).  Prints:
#   - the time from tunneld's start until every node is `up`, and until
#     every forward carried one request (median of BENCH_UP_RUNS (3))
#   - tunneld's VmRSS/VmHWM/Pss in total and per node (also the marginal
#     cost per node, against a one-node tunneld)
#   - idle CPU per minute over BENCH_IDLE (30) seconds, from
#     /proc/PID/task/*/schedstat (ns; /proc/PID/stat ticks are 10 ms)
#   - `tunnelctl status` latency p50/p99 over BENCH_STATUS (100) calls, the
#     text table and --json
# and the same per-pair figures for BENCH_PAIRS (20) autossh+ssh -N -L pairs
# against the same sshds, multiplied by the node count (said as such).
# Production timers (keepalive 5 s x 3) on both sides.  Medians where a
# figure is sampled; the machine is shared, so figures are noisy.  Results
# are printed and saved to bench/results/.
#
# Usage: bench/scale.sh   (after `make`; or `make bench-scale`)
# Knobs: BENCH_NODES BENCH_SSHDS BENCH_PAIRS BENCH_IDLE BENCH_STATUS
#        BENCH_UP_TIMEOUT (120) BENCH_UP_RUNS (3) BENCH_RESULTS
#        BENCH_SWEEP ("300 1000 5000": the node-count sweep first; "" skips it)
#        BENCH_SSH (1; 0: the sweep only)

set -o pipefail
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
. "$top_srcdir/tests/lib.sh"
# shellcheck source=bench/lib.sh
. "$top_srcdir/bench/lib.sh"

BENCH_NODES=${BENCH_NODES:-300}
BENCH_SSHDS=${BENCH_SSHDS:-3}
BENCH_PAIRS=${BENCH_PAIRS:-20}
BENCH_IDLE=${BENCH_IDLE:-30}
BENCH_STATUS=${BENCH_STATUS:-100}
BENCH_UP_TIMEOUT=${BENCH_UP_TIMEOUT:-120}
BENCH_UP_RUNS=${BENCH_UP_RUNS:-3}

td_setup
bench_prepare scale

# Each node holds a session socket, libssh's copy of it and a listener,
# each carried connection two more; sshd forks a process per session.
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=65536
[ "$nofile" -gt 65536 ] && nofile=65536
ulimit -n "$nofile" || :
[ "$(ulimit -n)" -ge $((BENCH_NODES * 4 + 64)) ] ||
	echo "# warning: ulimit -n $(ulimit -n) is low for $BENCH_NODES nodes" >&2

# ------------------------------------------------- node-count sweep (issue 18)
# BENCH_SWEEP (300 1000 5000) `ssh = none` nodes, each with an Ollama probe
# against one stand-in, every 10 s: no SSH, so thousands of nodes fit on
# one machine and what grows is tunneld's own work per node.  For each N:
#   - start-up: exec to READY=1, and to STATUS=N/N nodes up (the times of
#     notify-listen's CLOCK_MONOTONIC stamps), and the daemon's CPU time
#     until then (less noisy than wall time on a shared machine);
#   - VmRSS, and per node over a one-node tunneld;
#   - status latency p50/p99 over BENCH_STATUS calls, daemon side (tdbench
#     ctl: connect, "status" or "summary", read to EOF, in one process);
#   - then through a client process, BENCH_STATUS runs each, in batches of
#     20 taken in turn so that every client sees the same spells of a
#     shared machine's speed (one client after another, each sees its own):
#     /bin/true, bench/ctlcat (the least a client can do: connect, ask,
#     read to EOF, exit; linked as tunnelctl is), `tunnelctl status` (the
#     table, which asks for the summary) and `tunnelctl --json status`,
#     each started from a fresh bash as a user's shell would
#     (bench_shell_lat) and by posix_spawn() (tdbench spawn-each: no
#     shell's fork).  tunnelctl less ctlcat is tunnelctl's own parsing and
#     rendering; ctlcat less /bin/true, the daemon and the socket;
#   - probes run meanwhile: the first round of every node at start, the
#     second spread from half an interval to one and a half after it, so
#     the later columns see them (before, every second round came 9-11 s
#     in, and most columns fell in the quiet between the two bursts);
#   - `tunneld --check-config`'s CPU time, and a `tunnelctl reload` of the
#     unchanged file (the daemon's loop is busy that long).
# Linear start-up shows as a flat "CPU per node" column.
BENCH_SWEEP=${BENCH_SWEEP:-300 1000 5000}
sweep_conf() {	# sweep_conf N
	local i
	{
		tunneld_conf_head probe_interval=10s probe_timeout=5s
		for ((i = 0; i < $1; i++)); do
			printf '[node s%d]\nssh = none\nollama = http://127.0.0.1:%s\ngpu = none\n\n' \
			    "$i" "$OLLAMA_PORT"
		done
	} >"$T/sweep.conf"
}
sweep_row() {
	printf '%7s %9s %10s %10s %10s %9s %12s %12s %16s %13s %16s %8s %9s %10s\n' "$@"
}
lat_row() {
	printf '%7s  %-26s %13s %13s\n' "$@"
}
# sweep_lat N: each client below BENCH_STATUS times both ways, in turns of
# 20, one row each to $T/lat.rows (every sample to $RAW).
sweep_lat() {
	local k r name p50 p99 i
	local -a cols
	local -a cmd
	local kinds=(true ctlcat_summary table ctlcat_status json)
	rm -f "$T"/lat.shell.* "$T"/lat.spawn.*
	for ((r = 0; r < (BENCH_STATUS + 19) / 20; r++)); do
		for k in "${kinds[@]}"; do
			case $k in
			true) cmd=(/bin/true) ;;
			ctlcat_summary) cmd=("$CTLCAT" "$T/control.sock" summary) ;;
			ctlcat_status) cmd=("$CTLCAT" "$T/control.sock" status) ;;
			table) cmd=("$TUNNELCTL" --socket "$T/control.sock" status) ;;
			json) cmd=("$TUNNELCTL" --socket "$T/control.sock" --json status) ;;
			esac
			bench_shell_lat 20 "${cmd[@]}" >>"$T/lat.shell.$k"
			# spawn-each in us, bench_shell_lat in 10 us
			"$TDBENCH" spawn-each 20 "${cmd[@]}" |
			    awk '{ printf "%d\n", $1 / 10 }' >>"$T/lat.spawn.$k" ||
				td_fail "$1 nodes: ${cmd[*]} failed"
		done
	done
	for k in "${kinds[@]}"; do
		case $k in
		true) name=/bin/true ;;
		ctlcat_summary) name="ctlcat summary" ;;
		ctlcat_status) name="ctlcat status" ;;
		table) name="tunnelctl status" ;;
		json) name="tunnelctl --json status" ;;
		esac
		cols=()
		for i in shell spawn; do
			mapfile -t lat <"$T/lat.$i.$k"
			echo "lat $1 $k $i ${lat[*]}" >>"$RAW"
			p50=$(bench_median "${lat[@]}")
			p99=$(bench_percentile 99 "${lat[@]}")
			cols+=("$(awk -v a="$p50" -v b="$p99" 'BEGIN { printf "%.2f/%.2f", a / 100, b / 100 }')")
		done
		lat_row "$1" "$name" "${cols[@]}" >>"$T/lat.rows"
	done
}
mono_of() {	# mono_of REGEX AFTER_LINE: notify-listen's stamp of the first match
	tail -n "+$(($2 + 1))" "$T/notify.log" | grep -E -m 1 "$1" | cut -d' ' -f1
}
cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", ($14 + $15) * 1000 / hz }' "/proc/$1/stat"
}
if [ -n "$BENCH_SWEEP" ]; then
	ollama_start sweep
	notify_listen
	sweep_conf 1
	tunneld_start "$T/sweep.conf"
	notify_wait 30 " STATUS=1/1 nodes up\$" || td_fail "a one-node sweep tunneld never came up"
	sleep 1
	sweep_base=$(bench_status_kb "$TUNNELD_PID" VmRSS)
	tunneld_stop || td_fail "tunneld exited $?"
	: >"$T/lat.rows"
	{
		echo
		echo "== node-count sweep: ssh = none nodes, an Ollama probe each (10 s), one tunneld"
		echo "   (one-node tunneld VmRSS $sweep_base KiB; daemon-side p50/p99 over $BENCH_STATUS calls)"
		sweep_row nodes "ready_ms" "all_up_ms" "cpu_ms" "cpu_us/node" "rss_MiB" "rss_KiB/node" \
		    "bytes/status" "status_p50/p99" "bytes/summary" "summary_p50/p99" "STATUS=" \
		    "check_ms" "reload_ms"
	} | tee -a "$OUT"
	for n in $BENCH_SWEEP; do
		sweep_conf "$n"
		before=$(notify_lines)
		TD_START_TIMEOUT=$BENCH_UP_TIMEOUT tunneld_start "$T/sweep.conf"
		notify_wait "$BENCH_UP_TIMEOUT" " STATUS=$n/$n nodes up\$" "$before" ||
			echo "# $n nodes: not all up after ${BENCH_UP_TIMEOUT}s: $(grep STATUS= "$T/notify.log" | tail -n 1)" | tee -a "$OUT"
		cpu=$(cpu_ms "$TUNNELD_PID")
		t_start=$(mono_of ' READY=1$' "$before")
		t_all=$(mono_of " STATUS=$n/$n nodes up\$" "$before")
		nstatus=$(tail -n "+$((before + 1))" "$T/notify.log" | grep -c ' STATUS=' || :)
		# exec to READY: the wall clock of tunneld_start's wait is coarse;
		# the process start time in /proc is exact.
		ready_ms=$(awk -v hz="$(getconf CLK_TCK)" \
		    -v st="$(cut -d' ' -f22 "/proc/$TUNNELD_PID/stat")" -v r="$t_start" \
		    'BEGIN { printf "%d\n", r - st * 1000 / hz }')
		sleep 2
		rss=$(bench_status_kb "$TUNNELD_PID" VmRSS)
		read -r d50 d99 _ bytes < <("$TDBENCH" ctl "$T/control.sock" "$BENCH_STATUS" status)
		read -r s50 s99 _ sbytes < <("$TDBENCH" ctl "$T/control.sock" "$BENCH_STATUS" summary)
		sweep_lat "$n"
		# --check-config's own CPU (user+sys, ms); exit 78 (a default
		# admin_group missing here) still parsed and checked it all.
		check_ms=$( { TIMEFORMAT='%3U %3S'; time "$TUNNELD" --check-config \
		    --config "$T/sweep.conf" >/dev/null 2>&1; } 2>&1 |
		    awk '{ printf "%d\n", ($1 + $2) * 1000 }')
		a=${EPOCHREALTIME/./}
		"$TUNNELCTL" --socket "$T/control.sock" reload >/dev/null 2>&1 ||
			td_fail "$n nodes: tunnelctl reload failed"
		b=${EPOCHREALTIME/./}
		reload_ms=$(((10#$b - 10#$a) / 1000))
		us() { awk -v v="$1" 'BEGIN { printf "%.2f", v / 1000 }'; }
		sweep_row "$n" "$ready_ms" "$((ready_ms + t_all - t_start))" "$cpu" \
		    "$(awk -v c="$cpu" -v n="$n" 'BEGIN { printf "%.0f", c * 1000 / n }')" \
		    "$(awk -v r="$rss" 'BEGIN { printf "%.1f", r / 1024 }')" \
		    "$(awk -v r="$rss" -v b="$sweep_base" -v n="$n" 'BEGIN { printf "%.1f", (r - b) / n }')" \
		    "$bytes" "$(us "$d50")/$(us "$d99")" \
		    "$sbytes" "$(us "$s50")/$(us "$s99")" \
		    "$nstatus" "$check_ms" "$reload_ms" | tee -a "$OUT"
		tunneld_stop || td_fail "tunneld exited $? after the $n-node sweep"
	done
	echo "(ms; all_up_ms: exec to STATUS=N/N nodes up; cpu_ms: tunneld's CPU until then; STATUS=: lines sent meanwhile;" | tee -a "$OUT"
	echo " status, summary: the daemon's side, tdbench ctl;" | tee -a "$OUT"
	echo " check_ms: tunneld --check-config's CPU; reload_ms: tunnelctl reload of the unchanged file)" | tee -a "$OUT"
	{
		echo
		echo "== the same, through a client process: $BENCH_STATUS runs of each, p50/p99 ms, in turns of 20"
		lat_row nodes client "from_bash" "by_spawn"
		cat "$T/lat.rows"
		echo "(from_bash: started from a fresh bash, as a user's shell starts it; by_spawn: by posix_spawn();"
		echo " ctlcat: connect, ask, read to EOF, exit: any client's floor; tunnelctl's own work is its excess over ctlcat's)"
	} | tee -a "$OUT"
	td_stop "$OLLAMA_PID"
fi
if [ "${BENCH_SSH:-1}" = 0 ]; then
	echo "# saved to $OUT (raw: $RAW)"
	exit 0
fi

# ------------------------------------------------------------------ sshds

# shellcheck disable=SC2119  # one unnamed sshd; the others are copies
sshd_setup
sed -i -e 's/^LogLevel .*/LogLevel ERROR/' "$SSHD_CONFIG"
sshd_key bench
sshd_start
read -r hostpub <"$SSHD_DIR/host_ed25519.pub"
hostpub=${hostpub% *}
PORTS=("$SSHD_PORT")
SSHD_PIDS=("$SSHD_PID")
# More sshds: copies of the first one's config on other ports, same host
# key and authorized_keys.
for ((i = 1; i < BENCH_SSHDS; i++)); do
	p=$(td_port) || td_fail "no port"
	sed -e "s/^Port .*/Port $p/" -e "s|^PidFile .*|PidFile $SSHD_DIR/sshd-$i.pid|" \
	    "$SSHD_CONFIG" >"$SSHD_DIR/sshd_config.$i"
	env -u NOTIFY_SOCKET "$SSHD_BIN" -D -e -f "$SSHD_DIR/sshd_config.$i" \
	    </dev/null >>"$SSHD_DIR/log.$i" 2>&1 &
	pid=$!
	td_track "$pid"
	td_wait 10 eval "ss -Htln 'sport = :$p' | grep -q ." ||
		td_fail "sshd $i did not listen on $p: $(tail -n 3 "$SSHD_DIR/log.$i")"
	echo "[127.0.0.1]:$p $hostpub" >>"$SSHD_KNOWN_HOSTS"
	PORTS+=("$p")
	SSHD_PIDS+=("$pid")
done

SRV=$(td_port) || td_fail "no port"
bench_server "127.0.0.1:$SRV"

# -------------------------------------------------------------- helpers

# write_conf N: N nodes, node I on sshd I mod S, forward FWD[I] -> server.
FWD=()
write_conf() {
	local n=$1 i p
	while [ "${#FWD[@]}" -lt "$n" ]; do
		p=$(td_port) || td_fail "no port"
		FWD+=("$p")
	done
	{
		bench_conf_head
		for ((i = 0; i < n; i++)); do
			cat <<EOF
[node n$i]
ssh           = $SSHD_USER@127.0.0.1:${PORTS[i % BENCH_SSHDS]}
identity      = $T/keys/bench
local_forward = 127.0.0.1:${FWD[i]} 127.0.0.1:$SRV
ollama        = none
gpu           = none

EOF
		done
	} >"$T/tunneld.conf"
}

# nodes_up: how many nodes `tunnelctl --json status` shows up.
nodes_up() {
	{ ctl --json status 2>/dev/null || :; } |
	    jq '[.nodes[] | select(.state == "up")] | length' 2>/dev/null || echo 0
}

# all_up N: every one of N nodes is up.
all_up() {
	[ "$(nodes_up)" -ge "$1" ]
}

# pings PORT...: how many forwards carry one round trip.
pings() {
	local p ok=0
	for p; do
		"$TDBENCH" ping "127.0.0.1:$p" 0 >/dev/null 2>&1 && ok=$((ok + 1))
	done
	echo "$ok"
}

pss_kb() {
	awk '$1 == "Pss:" { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null
}

now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((10#$t / 1000))
}

# idle_cpu_per_min SECONDS PID...: the CPU time of all PIDs over SECONDS,
# as CPU seconds per minute (a process gone meanwhile counts as 0).
idle_cpu_per_min() {
	local secs=$1 p before=0 after=0
	shift
	for p; do before=$((before + $(bench_cpu_ns "$p"))); done
	sleep "$secs"
	for p; do after=$((after + $(bench_cpu_ns "$p"))); done
	awk -v t=$((after - before)) -v s="$secs" \
	    'BEGIN { printf "%.4f\n", t / 1e9 * 60 / s }'
}

row() {
	printf '%-44s %14s %14s\n' "$1" "$2" "$3"
}

{
	echo "# bench/scale.sh $(date '+%F %T')  $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), ulimit -n $(ulimit -n)"
	echo "# $("$TUNNELD" --version 2>&1 | head -n 1); $(ssh -V 2>&1); libssh $(bench_libssh_version)"
	echo "# $BENCH_NODES nodes on $BENCH_SSHDS sshds (ports ${PORTS[*]}), keepalive 5s x 3, no probes"
} | tee -a "$OUT"

# ------------------------------------------------------- one-node baseline

write_conf 1
tunneld_start "$T/tunneld.conf"
td_wait 30 all_up 1 || td_fail "a one-node tunneld never came up"
sleep 1
base_rss=$(bench_status_kb "$TUNNELD_PID" VmRSS)
base_pss=$(pss_kb "$TUNNELD_PID")
tunneld_stop || td_fail "tunneld exited $?"

# --------------------------------------------------------- N-node tunneld

write_conf "$BENCH_NODES"
# bring_up: start tunneld with every node; sets t_ready, up, t_up, fwd_ok,
# t_fwd (ms from the start).
bring_up() {
	local i t0
	t0=$(now_ms)
	tunneld_start "$T/tunneld.conf"
	t_ready=$(($(now_ms) - t0))
	up=0
	for ((i = 0; i < BENCH_UP_TIMEOUT * 5; i++)); do
		up=$(nodes_up)
		[ "$up" -ge "$BENCH_NODES" ] && break
		td_alive "$TUNNELD_PID" || td_fail "tunneld died while bringing up nodes"
		sleep 0.2
	done
	t_up=$(($(now_ms) - t0))
	if [ "$up" -lt "$BENCH_NODES" ]; then
		echo "# only $up of $BENCH_NODES nodes up after ${BENCH_UP_TIMEOUT}s; states:" | tee -a "$OUT"
		ctl --json status | jq -r '.nodes[] | select(.state != "up") | "\(.name) \(.state) \(.reason)"' |
		    sort -k2 | awk '{ c[$2 " " substr($0, index($0,$3))]++ } END { for (k in c) print "#   " c[k] "x " k }' |
		    head -n 20 | tee -a "$OUT"
		grep -iE 'error|fail|refused|too many' "$T/tunneld.log" | tail -n 5 | sed 's/^/#   log: /' | tee -a "$OUT"
	fi
	fwd_ok=$(pings "${FWD[@]:0:BENCH_NODES}")
	t_fwd=$(($(now_ms) - t0))
	echo "bring-up: ready ${t_ready} ms, up $up/$BENCH_NODES at ${t_up} ms, $fwd_ok forwards ok at ${t_fwd} ms" >>"$RAW"
}
# The bring-up is timed BENCH_UP_RUNS times (median); the last one stays
# for the rest.
ups=() fwds=() readys=()
for ((r = 0; r < BENCH_UP_RUNS; r++)); do
	bring_up
	ups+=("$t_up") fwds+=("$t_fwd") readys+=("$t_ready")
	if ((r + 1 < BENCH_UP_RUNS)); then
		tunneld_stop || td_fail "tunneld exited $? after a bring-up"
		sleep 2		# let sshd reap its 300 sessions
	fi
done
t_up=$(bench_median "${ups[@]}") t_fwd=$(bench_median "${fwds[@]}")
t_ready=$(bench_median "${readys[@]}")
sleep 2
rss=$(bench_status_kb "$TUNNELD_PID" VmRSS)
hwm=$(bench_status_kb "$TUNNELD_PID" VmHWM)
pss=$(pss_kb "$TUNNELD_PID")
fds=$(td_fds "$TUNNELD_PID")
td_cpu=$(idle_cpu_per_min "$BENCH_IDLE" "$TUNNELD_PID")
up_after_idle=$(nodes_up)

lat_text=() lat_json=()
for ((i = 0; i < BENCH_STATUS; i++)); do
	# tunnelctl itself (no timeout(1) around it): what a user waits for.
	a=${EPOCHREALTIME/./}
	"$TUNNELCTL" --socket "$T/control.sock" status >/dev/null 2>&1
	b=${EPOCHREALTIME/./}
	"$TUNNELCTL" --socket "$T/control.sock" --json status >/dev/null 2>&1
	c=${EPOCHREALTIME/./}
	lat_text+=("$(((10#$b - 10#$a) / 10))")	# 10 us units: 2 decimals of ms
	lat_json+=("$(((10#$c - 10#$b) / 10))")
done
ms() { awk -v v="$1" 'BEGIN { if (v ~ /^[0-9.]+$/) printf "%.2f\n", v / 100; else print v }'; }
json_bytes=$(ctl --json status | wc -c)
tunneld_stop || td_fail "tunneld exited $? after the scale run"
{
	echo "status text latencies (10us): ${lat_text[*]}"
	echo "status json latencies (10us): ${lat_json[*]}"
} >>"$RAW"

# ------------------------------------------------------- autossh + ssh pairs

as_up=0 as_t=- as_rss=0 as_pss=0 as_cpu=- npairs=0
if command -v autossh >/dev/null && [ "$BENCH_PAIRS" -gt 0 ]; then
	APORTS=() APIDS=()
	for ((i = 0; i < BENCH_PAIRS; i++)); do
		p=$(td_port) || td_fail "no port"
		APORTS+=("$p")
	done
	t0=$(now_ms)
	for ((i = 0; i < BENCH_PAIRS; i++)); do
		AUTOSSH_GATETIME=0 autossh -M 0 -F /dev/null -i "$T/keys/bench" \
		    -o IdentitiesOnly=yes -o UserKnownHostsFile="$SSHD_KNOWN_HOSTS" \
		    -o StrictHostKeyChecking=yes -o BatchMode=yes -o LogLevel=ERROR \
		    -o ConnectTimeout=10 -o ExitOnForwardFailure=yes \
		    -o ServerAliveInterval=5 -o ServerAliveCountMax=3 \
		    -p "${PORTS[i % BENCH_SSHDS]}" -N \
		    -L "127.0.0.1:${APORTS[i]}:127.0.0.1:$SRV" "$SSHD_USER@127.0.0.1" \
		    </dev/null >>"$T/autossh.log" 2>&1 &
		APIDS+=($!)
		td_track $!
	done
	for ((i = 0; i < BENCH_UP_TIMEOUT * 5; i++)); do
		as_up=$(pings "${APORTS[@]}")
		[ "$as_up" -ge "$BENCH_PAIRS" ] && break
		sleep 0.2
	done
	as_t=$(($(now_ms) - t0))
	sleep 2
	# Each autossh and the ssh it runs.
	PAIR_PIDS=()
	for p in "${APIDS[@]}"; do
		PAIR_PIDS+=("$p")
		mapfile -t -O "${#PAIR_PIDS[@]}" PAIR_PIDS < <(td_descendants "$p")
	done
	npairs=${#APIDS[@]}
	for p in "${PAIR_PIDS[@]}"; do
		as_rss=$((as_rss + $(bench_status_kb "$p" VmRSS || echo 0)))
		as_pss=$((as_pss + $(pss_kb "$p" || echo 0)))
	done
	as_cpu=$(idle_cpu_per_min "$BENCH_IDLE" "${PAIR_PIDS[@]}")
	echo "autossh: $as_up/$BENCH_PAIRS up at ${as_t} ms, ${#PAIR_PIDS[@]} processes, rss $as_rss pss $as_pss kB, cpu $as_cpu s/min" >>"$RAW"
	td_stop "${APIDS[@]}"
fi

# ------------------------------------------------------------------ report

per() { awk -v a="$1" -v n="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && n > 0) printf "%.1f\n", a / n; else print "-" }'; }
times() { awk -v a="$1" -v n="$2" 'BEGIN { if (a ~ /^[0-9.]+$/) printf "%.0f\n", a * n; else print "-" }'; }
timesf() { awk -v a="$1" -v n="$2" 'BEGIN { if (a ~ /^[0-9.]+$/) printf "%.3f\n", a * n; else print "-" }'; }
N=$BENCH_NODES
as_rss_pair=$(per "$as_rss" "$npairs")
as_pss_pair=$(per "$as_pss" "$npairs")
as_cpu_pair=$(awk -v a="$as_cpu" -v n="$npairs" 'BEGIN { if (a ~ /^[0-9.]+$/ && n > 0) printf "%.6f\n", a / n; else print "-" }')
{
	echo
	echo "== $N nodes, one tunneld                   vs  autossh+ssh: $npairs pairs measured, x$N computed"
	row "" "tunneld" "autossh x$N"
	row "nodes up (of $N)" "$up" "$as_up of $npairs"
	row "control socket ready (ms)" "$t_ready" "-"
	row "time until all up (s, median of $BENCH_UP_RUNS)" "$(bench_ms_to_s "$t_up")" "$(bench_ms_to_s "$as_t") ($npairs)"
	row "forwards carrying a request" "$fwd_ok, at $(bench_ms_to_s "$t_fwd") s" "$as_up"
	row "VmRSS total (MiB)" "$(per "$rss" 1024)" "$(per "$(times "$as_rss_pair" "$N")" 1024)"
	row "Pss total (MiB)" "$(per "$pss" 1024)" "$(per "$(times "$as_pss_pair" "$N")" 1024)"
	row "VmHWM (MiB)" "$(per "$hwm" 1024)" "-"
	row "VmRSS per node (KiB)" "$(per "$rss" "$N")" "$as_rss_pair"
	row "Pss per node (KiB)" "$(per "$pss" "$N")" "$as_pss_pair"
	row "VmRSS marginal per node (KiB)" "$(per "$((rss - base_rss))" "$((N - 1))")" "-"
	row "Pss marginal per node (KiB)" "$(per "$((pss - base_pss))" "$((N - 1))")" "-"
	row "one-node tunneld VmRSS / Pss (KiB)" "$base_rss / $base_pss" "-"
	row "open fds" "$fds" "-"
	row "idle CPU (CPU-s per minute, ${BENCH_IDLE}s)" "$td_cpu" "$(timesf "$as_cpu_pair" "$N")"
	row "idle CPU per node (CPU-ms per minute)" "$(awk -v c="$td_cpu" -v n="$N" 'BEGIN { printf "%.3f", c * 1000 / n }')" \
	    "$(awk -v c="$as_cpu_pair" 'BEGIN { if (c ~ /^[0-9.]+$/) printf "%.3f", c * 1000; else print "-" }')"
	row "nodes still up after the idle period" "$up_after_idle" "-"
	row "tunnelctl status p50 / p99 (ms)" "$(ms "$(bench_median "${lat_text[@]}")") / $(ms "$(bench_percentile 99 "${lat_text[@]}")")" "-"
	row "tunnelctl --json status p50 / p99 (ms)" "$(ms "$(bench_median "${lat_json[@]}")") / $(ms "$(bench_percentile 99 "${lat_json[@]}")")" "-"
	row "status JSON size (bytes)" "$json_bytes" "-"
	echo "(autossh column: per-pair figures of $npairs pairs times $N; memory and CPU of autossh and ssh together)"
} | tee -a "$OUT"
echo "# saved to $OUT (raw: $RAW)"
