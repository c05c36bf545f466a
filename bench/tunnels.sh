#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=../tests/lib.sh
#
# bench/tunnels.sh: tunneld against OpenSSH, on this machine, in one go
# (issue 3).  A private loopback sshd (throwaway keys, high port) carries
# both a tunneld local_forward and an `ssh -N -L` to the same tdbench
# server, first with the server's Ciphers forced to one cipher (both sides
# then use it), then with each side's default.  Printed side by side, with
# the ratio tunneld/OpenSSH:
#   - throughput of a BENCH_BYTES (1 GiB) upload and download, MB/s, and
#     the CPU seconds the tunnel process spent per GiB
#   - p50/p99 of BENCH_RR (1000) request/response round trips of
#     BENCH_SIZE (64) bytes, replies written in one piece and in two back
#     to back; and of BENCH_RR_GAP (50) whose reply comes in two writes
#     BENCH_GAP_US (1000) us apart (headers, then body): the case where a
#     tunnel stalls ~40 ms on the SSH server's Nagle and the client's
#     delayed ACK; "trips >= 20 ms" counts those stalls
#   - VmRSS when idle and VmHWM after the transfers
# then the time from sshd's restart until a request through the forward
# succeeds again after sshd outages of 2, 5 and 10 s, for tunneld and for
# autossh (-M 0 with ServerAliveInterval), both with their production
# timers, each fresh for every outage (BENCH_RECOVERY_RUNS (3) rounds);
# with BENCH_REPEAT=N also N outages of BENCH_REPEAT_S (3) s in a row
# through one long-lived tunneld and autossh.
#
# Medians of BENCH_RUNS (3) runs; the machine is shared, figures are noisy.
# Results are printed and saved to bench/results/.  This is a measurement,
# not a test: it never fails on a figure, only when something breaks.
#
# Usage: bench/tunnels.sh   (after `make`; or `make bench`)
# Knobs: BENCH_BYTES BENCH_RUNS BENCH_RR BENCH_SIZE BENCH_CIPHER
#        BENCH_RR_GAP BENCH_GAP_US
#        BENCH_OUTAGES ("2 5 10") BENCH_RECOVERY_RUNS (3) BENCH_RECOVERY_MAX (60)
#        BENCH_REPEAT (0) BENCH_REPEAT_S (3) BENCH_RESULTS

set -o pipefail
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
. "$top_srcdir/tests/lib.sh"
# shellcheck source=bench/lib.sh
. "$top_srcdir/bench/lib.sh"

BENCH_BYTES=${BENCH_BYTES:-1073741824}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_RR=${BENCH_RR:-1000}
BENCH_SIZE=${BENCH_SIZE:-64}
BENCH_RR_GAP=${BENCH_RR_GAP:-50}
BENCH_GAP_US=${BENCH_GAP_US:-1000}
BENCH_CIPHER=${BENCH_CIPHER:-aes128-gcm@openssh.com}
BENCH_OUTAGES=${BENCH_OUTAGES:-2 5 10}
BENCH_RECOVERY_RUNS=${BENCH_RECOVERY_RUNS:-3}
BENCH_RECOVERY_MAX=${BENCH_RECOVERY_MAX:-60}
BENCH_REPEAT=${BENCH_REPEAT:-0}
BENCH_REPEAT_S=${BENCH_REPEAT_S:-3}

td_setup
bench_prepare tunnels
command -v autossh >/dev/null || echo "# autossh not installed (apt-get install autossh): its column stays empty" >&2

# shellcheck disable=SC2119  # the one, unnamed sshd
sshd_setup
bench_sshd_debug
cp "$SSHD_CONFIG" "$T/sshd_config.base"
sshd_key bench
sshd_start

SRV=$(td_port) || td_fail "no port"
bench_server "127.0.0.1:$SRV"

# td_up PORT: start tunneld with one local_forward PORT -> the server.
td_up() {
	{ bench_conf_head; cat <<EOF; } >"$T/tunneld.conf"
[node bench]
ssh           = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity      = $T/keys/bench
local_forward = 127.0.0.1:$1 127.0.0.1:$SRV
ollama        = none
gpu           = none
EOF
	tunneld_start "$T/tunneld.conf"
	td_wait 30 bench_ping_ok "127.0.0.1:$1" ||
		td_fail "tunneld's forward never carried a request"
}

bench_ssh_opts "$SSHD_PORT"

# ssh_up PORT: ssh -N -L PORT -> the server.  Sets SSH_PID.
ssh_up() {
	ssh "${SSH_OPTS[@]}" -N -L "127.0.0.1:$1:127.0.0.1:$SRV" \
	    "$SSHD_USER@127.0.0.1" </dev/null >>"$T/ssh.log" 2>&1 &
	SSH_PID=$!
	td_track "$SSH_PID"
	td_wait 30 bench_ping_ok "127.0.0.1:$1" ||
		td_fail "ssh -L never carried a request: $(tail -n 3 "$T/ssh.log")"
}

# The cipher of the newest session in the sshd log after line $1.
cipher_since() {
	tail -n "+$(($1 + 1))" "$SSHD_DIR/log" |
	    sed -n 's/.*kex: client->server cipher: \([^ ]*\).*/\1/p' | tail -n 1
}

# One row: NAME TD SSH (medians or single values); ratio td/ssh.
row() {
	printf '%-40s %12s %12s %8s\n' "$1" "$2" "$3" "$(bench_ratio "$2" "$3")"
}

# V[KEY] holds the space-separated samples of one figure, KEY being
# SIDE:FIGURE; med KEY is their median.
declare -A V
med() {
	# shellcheck disable=SC2086  # the samples are words
	bench_median ${V[$1]:-}
}
add() {
	V[$1]+="$2 "
}

# rr_modes: NAME COUNT ARG for tdbench rr.
rr_modes() {
	echo "one $BENCH_RR one"
	echo "split $BENCH_RR split"
	echo "gap $BENCH_RR_GAP split:$BENCH_GAP_US"
}

# phase LABEL CIPHER|default
phase() {
	local label=$1 cipher=$2 p_td p_ssh l0 td_c ssh_c r side dir v
	local c0 c1 pid port mode count arg a b st
	local -a order
	V=()

	cp "$T/sshd_config.base" "$SSHD_CONFIG"
	[ "$cipher" = default ] || echo "Ciphers $cipher" >>"$SSHD_CONFIG"
	sshd_restart
	p_td=$(td_port) || td_fail "no port"
	p_ssh=$(td_port) || td_fail "no port"
	l0=$(wc -l <"$SSHD_DIR/log")
	td_up "$p_td"
	td_c=$(cipher_since "$l0")
	l0=$(wc -l <"$SSHD_DIR/log")
	ssh_up "$p_ssh"
	ssh_c=$(cipher_since "$l0")
	sleep 1
	add td:rss "$(bench_status_kb "$TUNNELD_PID" VmRSS)"
	add ssh:rss "$(bench_status_kb "$SSH_PID" VmRSS)"

	for ((r = 0; r < BENCH_RUNS; r++)); do
		# Alternate who goes first: drift on a shared machine hits both.
		if ((r % 2)); then order=(ssh td); else order=(td ssh); fi
		for side in "${order[@]}"; do
			if [ "$side" = td ]; then pid=$TUNNELD_PID port=$p_td; else pid=$SSH_PID port=$p_ssh; fi
			for dir in put get; do
				c0=$(bench_cpu_ns "$pid")
				v=$(timeout 300 "$TDBENCH" "$dir" "127.0.0.1:$port" "$BENCH_BYTES") ||
					td_fail "$side $dir failed: $v"
				c1=$(bench_cpu_ns "$pid")
				echo "$label run $r $side $dir: MB/s s $v; cpu ns $((c1 - c0))" >>"$RAW"
				add "$side:$dir" "${v%% *}"
				add "$side:$dir-cpu" "$(awk -v t=$((c1 - c0)) -v b="$BENCH_BYTES" \
				    'BEGIN { printf "%.2f", t / 1e9 / (b / 1073741824) }')"
			done
		done
	done
	add td:hwm "$(bench_status_kb "$TUNNELD_PID" VmHWM)"
	add ssh:hwm "$(bench_status_kb "$SSH_PID" VmHWM)"

	for ((r = 0; r < BENCH_RUNS; r++)); do
		if ((r % 2)); then order=(ssh td); else order=(td ssh); fi
		for side in "${order[@]}"; do
			if [ "$side" = td ]; then port=$p_td; else port=$p_ssh; fi
			while read -r mode count arg; do
				v=$(timeout 200 "$TDBENCH" rr "127.0.0.1:$port" "$count" "$BENCH_SIZE" "$arg") ||
					td_fail "$side rr $mode failed: $v"
				echo "$label run $r $side rr-$mode x$count: p50 p99 max us, trips >= 20 ms: $v" >>"$RAW"
				read -r a b _ st <<<"$v"
				add "$side:$mode-p50" "$a"
				add "$side:$mode-p99" "$b"
				add "$side:$mode-stalls" "$st"
			done < <(rr_modes)
		done
	done

	{
		echo
		echo "== $label: cipher tunneld ${td_c:-?}, OpenSSH ${ssh_c:-?}; median of $BENCH_RUNS runs"
		printf '%-40s %12s %12s %8s\n' "" tunneld "ssh -N -L" "td/ssh"
		row "upload $(bench_human "$BENCH_BYTES") (MB/s)" "$(med td:put)" "$(med ssh:put)"
		row "download $(bench_human "$BENCH_BYTES") (MB/s)" "$(med td:get)" "$(med ssh:get)"
		row "upload CPU s/GiB (tunnel process)" "$(med td:put-cpu)" "$(med ssh:put-cpu)"
		row "download CPU s/GiB (tunnel process)" "$(med td:get-cpu)" "$(med ssh:get-cpu)"
		while read -r mode count arg; do
			case $mode in
			one) v="rr ${BENCH_SIZE} B" ;;
			split) v="rr, reply in 2 writes" ;;
			gap) v="rr, 2 writes ${BENCH_GAP_US} us apart" ;;
			esac
			row "$v p50 (us)" "$(med "td:$mode-p50")" "$(med "ssh:$mode-p50")"
			row "$v p99 (us)" "$(med "td:$mode-p99")" "$(med "ssh:$mode-p99")"
			row "$v: trips >= 20 ms (of $count)" "$(med "td:$mode-stalls")" "$(med "ssh:$mode-stalls")"
		done < <(rr_modes)
		row "VmRSS idle (KiB)" "$(med td:rss)" "$(med ssh:rss)"
		row "VmHWM after the transfers (KiB)" "$(med td:hwm)" "$(med ssh:hwm)"
	} | tee -a "$OUT"

	tunneld_stop || td_fail "tunneld exited $? after the $label phase"
	td_stop "$SSH_PID"
}

# ---------------------------------------------------------------- recovery

# as_up PORT: autossh -M 0 keeping ssh -N -L PORT -> the server.  Sets
# AUTOSSH_PID.  GATETIME=0: a first ssh that fails fast is retried, not
# fatal.
as_up() {
	AUTOSSH_GATETIME=0 autossh -M 0 "${SSH_OPTS[@]}" -N \
	    -L "127.0.0.1:$1:127.0.0.1:$SRV" "$SSHD_USER@127.0.0.1" \
	    </dev/null >>"$T/ssh.log" 2>&1 &
	AUTOSSH_PID=$!
	td_track "$AUTOSSH_PID"
	td_wait 30 bench_ping_ok "127.0.0.1:$1" ||
		td_fail "autossh's forward never carried a request"
}

# outage SECONDS PORT_TD PORT_AS: kill sshd (listener and sessions), wait
# SECONDS plus a random fraction of a second (so that the restart does not
# always fall at the same point of tunneld's 1 s retry pace, or of
# autossh's), restart it; REC_TD and REC_AS are the ms from the restart until a
# request through each forward succeeded ("timeout" after
# BENCH_RECOVERY_MAX s).  The probes start just before sshd does, so
# sshd's own start-up counts, for both.  (Run in the main shell: sshd_*
# keep their state in its variables.)
outage() {
	local secs=$1 p_td=$2 p_as=$3 pid_t pid_a
	sshd_stop
	REC_EXTRA=$(printf '0.%03d' $((RANDOM % 1000)))
	sleep "$secs"
	sleep "$REC_EXTRA"
	timeout $((BENCH_RECOVERY_MAX + 10)) "$TDBENCH" ping "127.0.0.1:$p_td" \
	    $((BENCH_RECOVERY_MAX * 1000)) >"$T/rec-td" 2>&1 &
	pid_t=$!
	if [ -n "$p_as" ]; then
		timeout $((BENCH_RECOVERY_MAX + 10)) "$TDBENCH" ping "127.0.0.1:$p_as" \
		    $((BENCH_RECOVERY_MAX * 1000)) >"$T/rec-as" 2>&1 &
		pid_a=$!
	fi
	sshd_restart
	wait "$pid_t"
	read -r REC_TD _ <"$T/rec-td"
	REC_AS=-
	if [ -n "$p_as" ]; then
		wait "$pid_a"
		read -r REC_AS _ <"$T/rec-as"
	fi
}

# recovery: per outage length and run, a fresh tunneld and a fresh autossh
# (neither carries backoff state from an earlier outage), one outage
# that both live through, timed from sshd's restart.
recovery() {
	local p_td p_as out r t a
	local -A tdr=() asr=()

	cp "$T/sshd_config.base" "$SSHD_CONFIG"
	sshd_restart
	for ((r = 0; r < BENCH_RECOVERY_RUNS; r++)); do
		for out in $BENCH_OUTAGES; do
			p_td=$(td_port) || td_fail "no port"
			p_as=''
			td_up "$p_td"
			if command -v autossh >/dev/null; then
				p_as=$(td_port) || td_fail "no port"
				as_up "$p_as"
			fi
			outage "$out" "$p_td" "$p_as"
			t=$REC_TD a=$REC_AS
			echo "recovery outage ${out}s+${REC_EXTRA}s run $r: tunneld $t ms, autossh $a ms" >>"$RAW"
			tdr[$out]+="$(bench_ms_to_s "$t") "
			asr[$out]+="$(bench_ms_to_s "$a") "
			tunneld_stop || td_fail "tunneld exited $? after an outage"
			[ -z "$p_as" ] || td_stop "$AUTOSSH_PID"
		done
	done
	{
		echo
		echo "== recovery: from sshd's restart to the first request through the forward (s), median of $BENCH_RECOVERY_RUNS;"
		echo "   outage N s plus a random 0-999 ms;"
		echo "   fresh tunneld (retry_refused=1s) and autossh -M 0 (ServerAliveInterval=5) per outage"
		printf '%-40s %12s %12s %8s\n' "" tunneld autossh "td/as"
		for out in $BENCH_OUTAGES; do
			# shellcheck disable=SC2086  # the samples are words
			row "after a ${out} s outage (s)" "$(bench_median ${tdr[$out]})" "$(bench_median ${asr[$out]})"
		done
	} | tee -a "$OUT"
}

# repeated: BENCH_REPEAT outages of BENCH_REPEAT_S seconds in a row, 1 s
# after each recovery, through one tunneld and one autossh: what state
# carried from one outage to the next (backoff) does to recovery.
repeated() {
	local p_td p_as='' k t a tl='' al=''

	p_td=$(td_port) || td_fail "no port"
	td_up "$p_td"
	if command -v autossh >/dev/null; then
		p_as=$(td_port) || td_fail "no port"
		as_up "$p_as"
	fi
	for ((k = 0; k < BENCH_REPEAT; k++)); do
		outage "$BENCH_REPEAT_S" "$p_td" "$p_as"
		t=$REC_TD a=$REC_AS
		echo "repeated outage $k of ${BENCH_REPEAT_S}s+${REC_EXTRA}s: tunneld $t ms, autossh $a ms" >>"$RAW"
		tl+="$(bench_ms_to_s "$t") "
		al+="$(bench_ms_to_s "$a") "
		sleep 1
	done
	{
		echo
		echo "== $BENCH_REPEAT outages of $BENCH_REPEAT_S s in a row, 1 s after each recovery (s; - = over ${BENCH_RECOVERY_MAX} s)"
		printf '%-10s %s\n' tunneld: "$tl" autossh: "$al"
	} | tee -a "$OUT"
	tunneld_stop || td_fail "tunneld exited $? after the repeated outages"
	[ -z "$p_as" ] || td_stop "$AUTOSSH_PID"
}

{
	echo "# bench/tunnels.sh $(date '+%F %T')  $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# $("$TUNNELD" --version 2>&1 | head -n 1); $(ssh -V 2>&1); libssh $(bench_libssh_version)"
	echo "# sshd 127.0.0.1:$SSHD_PORT, server 127.0.0.1:$SRV, $(bench_human "$BENCH_BYTES") transfers, $BENCH_RR round trips of $BENCH_SIZE B"
} | tee -a "$OUT"

phase "same cipher" "$BENCH_CIPHER"
phase "each side's default" default
recovery
[ "$BENCH_REPEAT" -gt 0 ] && repeated

echo | tee -a "$OUT"
echo "# saved to $OUT (raw runs: $RAW)"
