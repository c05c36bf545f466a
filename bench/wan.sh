#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=../tests/lib.sh
#
# bench/wan.sh: tunneld against OpenSSH over a link with a real round trip
# (issue 14).  Everything runs in a private network namespace (unshare -n,
# lo only).  This kernel has no netem, so the SSH hop goes through
# `tdbench relay`, which holds every byte RTT/2 before passing it on, each
# way.  Only the SSH hop is delayed: the forwards' own ends are local, as
# on a hub whose nodes are 20-150 ms away.
#
# Per round trip (BENCH_RTTS, ms; default "20 50 150"), one tunneld and one
# `ssh -N -L ... -R ...` on the same sshd, through the same relay, to the
# same tdbench server; side by side (median of BENCH_RUNS):
#   - local forward: download (node -> hub, `tdbench get`) and upload
#     (hub -> node, `tdbench put`) of BENCH_BYTES (64 MiB), MB/s
#   - remote forward: node -> hub (the client on the hub downloads) and
#     hub -> node, MB/s
#   - request latency through the local forward: p50/p99 of BENCH_RR (50)
#     round trips of 64 bytes
#   - tunneld's VmHWM after the transfers
# Then partitions (BENCH_PART_RTT, 50 ms): iptables drops every segment of
# the SSH hop, both ways, for each of BENCH_BLACKOUTS ("5 30 120") seconds
# plus a random 0-999 ms; the time from the link's return until a request
# goes through tunneld's local forward, tunneld's remote forward, and
# autossh's (-M 0, ServerAliveInterval 5 x 3, DESIGN's keepalive) local and
# remote forwards.  The hub's sshd keeps the old sessions (no
# ClientAliveInterval), as a real one does: a remote forward that comes
# back did so on its own.  Fresh tunneld and autossh per partition.
#
# Usage: bench/wan.sh  (after `make`; or `make bench-wan`), as root.
# Knobs: BENCH_RTTS BENCH_BYTES BENCH_RUNS BENCH_RR BENCH_PART_RTT
#        BENCH_BLACKOUTS BENCH_PART_RUNS BENCH_RECOVERY_MAX BENCH_RESULTS
# A measurement, not a test: it fails only when something breaks.

set -o pipefail
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=tests/netns.sh
. "$top_srcdir/tests/netns.sh"
NETNS_REQUIRED=1 netns_enter "$@"
. "$top_srcdir/tests/lib.sh"
# shellcheck source=bench/lib.sh
. "$top_srcdir/bench/lib.sh"

BENCH_RTTS=${BENCH_RTTS-20 50 150}
BENCH_BYTES=${BENCH_BYTES:-67108864}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_RR=${BENCH_RR:-50}
BENCH_PART_RTT=${BENCH_PART_RTT:-50}
BENCH_BLACKOUTS=${BENCH_BLACKOUTS-5 30 120}
BENCH_PART_RUNS=${BENCH_PART_RUNS:-2}
BENCH_RECOVERY_MAX=${BENCH_RECOVERY_MAX:-90}

td_setup
bench_prepare wan
netns_iptables_ok || td_fail "iptables does not work in the namespace (apt-get install iptables)"
command -v autossh >/dev/null || echo "# autossh not installed: its partition column stays empty" >&2

# shellcheck disable=SC2119  # the one, unnamed sshd
sshd_setup
sshd_key bench
sshd_start

SRV=$(td_port) || td_fail "no port"
bench_server "127.0.0.1:$SRV"
RELAY=$(td_port) || td_fail "no port"
echo "[127.0.0.1]:$RELAY $(sed -n "s/^\[127.0.0.1\]:$SSHD_PORT //p" "$SSHD_KNOWN_HOSTS")" >>"$SSHD_KNOWN_HOSTS"
RELAY_PID=

# relay_start RTT_MS: the SSH hop, 127.0.0.1:$RELAY -> sshd, RTT_MS round trip.
relay_start() {
	relay_stop
	rm -f "$T/relay.pid"
	"$TDBENCH" relay "127.0.0.1:$RELAY" "127.0.0.1:$SSHD_PORT" $(($1 / 2)) \
	    "$T/relay.pid" </dev/null >>"$T/relay.log" 2>&1 &
	RELAY_PID=$!
	td_track "$RELAY_PID"
	td_wait 5 test -s "$T/relay.pid" || td_fail "relay did not start: $(tail -n 3 "$T/relay.log")"
}

relay_stop() {
	[ -z "$RELAY_PID" ] || td_stop "$RELAY_PID"
	RELAY_PID=
}

# td_up LOCAL_PORT REMOTE_PORT: tunneld through the relay, a local and a
# remote forward to the server.
td_up() {
	{ bench_conf_head; cat <<EOF; } >"$T/tunneld.conf"
[node bench]
ssh            = $SSHD_USER@127.0.0.1:$RELAY
identity       = $T/keys/bench
local_forward  = 127.0.0.1:$1 127.0.0.1:$SRV
remote_forward = 127.0.0.1:$2 127.0.0.1:$SRV
ollama         = none
gpu            = none
EOF
	tunneld_start "$T/tunneld.conf" ${BENCH_VERBOSE:+--verbose}
	td_wait 60 bench_ping_ok "127.0.0.1:$1" || td_fail "tunneld's local forward never carried a request"
	td_wait 60 bench_ping_ok "127.0.0.1:$2" || td_fail "tunneld's remote forward never carried a request"
}

bench_ssh_opts "$RELAY"

# ssh_up LOCAL_PORT REMOTE_PORT [autossh]: the same forwards with OpenSSH.
# Sets SSH_PID.
ssh_up() {
	local -a cmd=(ssh)
	[ "${3:-}" = autossh ] && cmd=(env AUTOSSH_GATETIME=0 autossh -M 0)
	"${cmd[@]}" "${SSH_OPTS[@]}" -N -L "127.0.0.1:$1:127.0.0.1:$SRV" \
	    -R "127.0.0.1:$2:127.0.0.1:$SRV" "$SSHD_USER@127.0.0.1" \
	    </dev/null >>"$T/ssh.log" 2>&1 &
	SSH_PID=$!
	td_track "$SSH_PID"
	td_wait 60 bench_ping_ok "127.0.0.1:$1" || td_fail "ssh -L never carried a request: $(tail -n 3 "$T/ssh.log")"
	td_wait 60 bench_ping_ok "127.0.0.1:$2" || td_fail "ssh -R never carried a request: $(tail -n 3 "$T/ssh.log")"
}

declare -A V
med() {
	# shellcheck disable=SC2086  # the samples are words
	bench_median ${V[$1]:-}
}
add() {
	V[$1]+="$2 "
}
row() {
	printf '%-34s %12s %12s %8s\n' "$1" "$2" "$3" "$(bench_ratio "$2" "$3")"
}
# spread KEY: the lowest and highest sample, "min-max".
spread() {
	# shellcheck disable=SC2086  # the samples are words
	printf '%s\n' ${V[$1]:-} | sort -n | sed -n '1h;${H;x;s/\n/-/;p}'
}

# xfer SIDE KEY DIR PORT: one transfer, its MB/s added to V[SIDE:KEY].
xfer() {
	local v
	v=$(timeout 300 "$TDBENCH" "$3" "127.0.0.1:$4" "$BENCH_BYTES") ||
		td_fail "$1 $2 failed: $v"
	echo "rtt $RTT $1 $2: MB/s s $v" >>"$RAW"
	add "$1:$2" "${v%% *}"
}

# phase RTT_MS: throughput and latency, tunneld and ssh, through the relay.
phase() {
	local rtt=$1 tl tr sl sr r side l rp v a b
	local -a order
	V=()
	RTT=$rtt
	relay_start "$rtt"
	tl=$(td_port) && tr=$(td_port) && sl=$(td_port) && sr=$(td_port) || td_fail "no port"
	td_up "$tl" "$tr"
	ssh_up "$sl" "$sr"
	for ((r = 0; r < BENCH_RUNS; r++)); do
		if ((r % 2)); then order=(ssh td); else order=(td ssh); fi
		for side in "${order[@]}"; do
			if [ "$side" = td ]; then l=$tl rp=$tr; else l=$sl rp=$sr; fi
			xfer "$side" ldown get "$l"
			xfer "$side" lup put "$l"
			xfer "$side" rn2h get "$rp"
			xfer "$side" rh2n put "$rp"
			v=$(timeout 120 "$TDBENCH" rr "127.0.0.1:$l" "$BENCH_RR" 64 one) ||
				td_fail "$side rr failed: $v"
			echo "rtt $rtt $side rr: p50 p99 max us, stalls: $v" >>"$RAW"
			read -r a b _ <<<"$v"
			add "$side:p50" "$(awk -v u="$a" 'BEGIN { printf "%.1f", u / 1000 }')"
			add "$side:p99" "$(awk -v u="$b" 'BEGIN { printf "%.1f", u / 1000 }')"
		done
	done
	{
		echo
		echo "== round trip $rtt ms on the SSH hop; $(bench_human "$BENCH_BYTES"), median of $BENCH_RUNS runs"
		printf '%-34s %12s %12s %8s\n' "" tunneld "ssh -L/-R" "td/ssh"
		row "local fwd download node->hub MB/s" "$(med td:ldown)" "$(med ssh:ldown)"
		row "local fwd upload hub->node MB/s" "$(med td:lup)" "$(med ssh:lup)"
		row "remote fwd node->hub MB/s" "$(med td:rn2h)" "$(med ssh:rn2h)"
		row "remote fwd hub->node MB/s" "$(med td:rh2n)" "$(med ssh:rh2n)"
		row "  upload, lowest-highest run" "$(spread td:lup)" "$(spread ssh:lup)"
		row "  node->hub, lowest-highest run" "$(spread td:rn2h)" "$(spread ssh:rn2h)"
		row "request p50 ms (64 B, local fwd)" "$(med td:p50)" "$(med ssh:p50)"
		row "request p99 ms" "$(med td:p99)" "$(med ssh:p99)"
		row "VmHWM after (KiB)" "$(bench_status_kb "$TUNNELD_PID" VmHWM)" "$(bench_status_kb "$SSH_PID" VmHWM)"
		# Towards sshd both clients send into sshd's own channel window,
		# which the client cannot ask to be larger (OpenSSH's
		# CHAN_TCP_WINDOW_DEFAULT, 2 MiB): at most one window per round
		# trip, whoever sends.  Downloads use the window tunneld grants.
		echo "(upload and node->hub: either client sends at most sshd's 2 MiB window per round trip, $(awk -v r="$rtt" 'BEGIN { printf "%.1f", 2097152 / (r / 1000) / 1e6 }') MB/s)"
	} | tee -a "$OUT"
	tunneld_stop || td_fail "tunneld exited $? after the $rtt ms phase"
	td_stop "$SSH_PID"
}

# ------------------------------------------------------------- partitions

# recover NAME PORT: in the background, ms until a request goes through.
recover() {
	timeout $((BENCH_RECOVERY_MAX + 10)) "$TDBENCH" ping "127.0.0.1:$2" \
	    $((BENCH_RECOVERY_MAX * 1000)) >"$T/rec-$1" 2>&1 &
	REC_PIDS+=($!)
}

rec_s() {
	local ms
	read -r ms _ <"$T/rec-$1" 2>/dev/null || ms=-
	bench_ms_to_s "$ms"
}

# partition SECONDS: fresh tunneld and autossh through the relay; cut the
# SSH hop for SECONDS plus a random fraction; time each forward's return.
partition() {
	local secs=$1 tl tr al ar extra p
	tl=$(td_port) && tr=$(td_port) && al=$(td_port) && ar=$(td_port) || td_fail "no port"
	td_up "$tl" "$tr"
	SSH_PID=
	command -v autossh >/dev/null && ssh_up "$al" "$ar" autossh
	link_cut "$RELAY" || td_fail "iptables refused the rule"
	extra=$(printf '0.%03d' $((RANDOM % 1000)))
	sleep "$secs"
	sleep "$extra"
	REC_PIDS=()
	link_restore "$RELAY" || td_fail "iptables could not remove the rule"
	recover td-l "$tl"
	recover td-r "$tr"
	if [ -n "$SSH_PID" ]; then
		recover as-l "$al"
		recover as-r "$ar"
	fi
	for p in "${REC_PIDS[@]}"; do
		wait "$p"
	done
	for p in td-l td-r as-l as-r; do
		[ -f "$T/rec-$p" ] || echo - >"$T/rec-$p"
		add "$secs:$p" "$(rec_s "$p")"
	done
	echo "partition ${secs}s+${extra}s: td local $(rec_s td-l) remote $(rec_s td-r); autossh local $(rec_s as-l) remote $(rec_s as-r) (s)" >>"$RAW"
	grep -E 'link is back|keepalive timeout|remote port' "$T/tunneld.log" | tail -n 5 >>"$RAW"
	rm -f "$T"/rec-*
	tunneld_stop || td_fail "tunneld exited $? after a partition"
	[ -z "$SSH_PID" ] || td_stop "$SSH_PID"
}

partitions() {
	local r s
	V=()
	relay_start "$BENCH_PART_RTT"
	for ((r = 0; r < BENCH_PART_RUNS; r++)); do
		for s in $BENCH_BLACKOUTS; do
			partition "$s"
		done
	done
	{
		echo
		echo "== partitions of the SSH hop (round trip $BENCH_PART_RTT ms): from the link's return until a request"
		echo "   goes through (s), median of $BENCH_PART_RUNS; blackout N s + 0-999 ms; keepalive 5 s x 3 for both;"
		echo "   the hub's sshd keeps stale sessions (no ClientAliveInterval)"
		printf '%-34s %12s %12s %12s %12s\n' "" "tunneld -L" "autossh -L" "tunneld -R" "autossh -R"
		for s in $BENCH_BLACKOUTS; do
			printf '%-34s %12s %12s %12s %12s\n' "after a $s s blackout" \
			    "$(med "$s:td-l")" "$(med "$s:as-l")" "$(med "$s:td-r")" "$(med "$s:as-r")"
		done
	} | tee -a "$OUT"
	relay_stop
}

{
	echo "# bench/wan.sh $(date '+%F %T')  $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# $("$TUNNELD" --version 2>&1 | head -n 1); $(ssh -V 2>&1); libssh $(bench_libssh_version)"
	echo "# private netns; sshd 127.0.0.1:$SSHD_PORT behind a delaying relay on 127.0.0.1:$RELAY; server 127.0.0.1:$SRV"
} | tee -a "$OUT"

for rtt in $BENCH_RTTS; do
	phase "$rtt"
done
relay_stop
[ -z "$BENCH_BLACKOUTS" ] || partitions

echo | tee -a "$OUT"
echo "# saved to $OUT (raw runs: $RAW)"
