# shellcheck shell=bash
#
# bench/lib.sh: what bench/tunnels.sh and bench/scale.sh share, on top of
# tests/lib.sh (sshd, tunneld, process tracking; see tests/README.md).

: "${TDBENCH:=$top_builddir/bench/tdbench}"
: "${CTLCAT:=$top_builddir/bench/ctlcat}"

# bench_prepare NAME: the tools are built, results go to
# $BENCH_RESULTS/NAME-DATE.txt ($OUT) and NAME-DATE.raw ($RAW).
bench_prepare() {
	local stamp
	if [ ! -x "$TUNNELD" ] || [ ! -x "$TUNNELCTL" ]; then
		td_fail "$TUNNELD or $TUNNELCTL is not built: run make first"
	fi
	if [ ! -x "$TDBENCH" ] || [ ! -x "$CTLCAT" ]; then
		make -C "$top_builddir" bench/tdbench bench/ctlcat >/dev/null ||
			td_fail "cannot build $TDBENCH or $CTLCAT (make bench/tdbench bench/ctlcat)"
	fi
	: "${BENCH_RESULTS:=$top_builddir/bench/results}"
	mkdir -p "$BENCH_RESULTS" || td_fail "cannot make $BENCH_RESULTS"
	stamp=$(date +%Y%m%d-%H%M%S)
	OUT=$BENCH_RESULTS/$1-$stamp.txt
	RAW=$BENCH_RESULTS/$1-$stamp.raw
	: >"$OUT"
	: >"$RAW"
}

# bench_shell_lat COUNT CMD...: COUNT runs of CMD (output discarded), each
# timed from a fresh `bash --norc` as a user's shell starts a command: one
# figure a line, in 10 us units; a run that exits other than 0 or 1 (a
# `tunnelctl status` with a node not up) prints 999999999, the slowest.
# Not from this script's own bash, which holds every sample and library: a
# fork of a larger process costs more (1.1 ms more at p50 in one run here,
# within 0.2 ms in four others).
bench_shell_lat() {
	local n=$1
	shift
	bash --norc --noprofile -c '
		n=$1
		shift
		for ((i = 0; i < n; i++)); do
			a=${EPOCHREALTIME/./}
			if "$@" >/dev/null 2>&1 || [ $? = 1 ]; then
				b=${EPOCHREALTIME/./}
				echo "$(((10#$b - 10#$a) / 10))"
			else
				echo 999999999
			fi
		done' bench_shell_lat "$n" "$@"
}

# bench_sshd_debug: sshd logs at DEBUG1, which names each session's cipher
# ("kex: client->server cipher: ...").  sshd keeps the first value of a
# keyword, so the LogLevel line is replaced, not appended.
bench_sshd_debug() {
	sed -i 's/^LogLevel .*/LogLevel DEBUG1/' "$SSHD_CONFIG"
}

# bench_server ADDR:PORT: a tdbench server (sink, source, echo).
bench_server() {
	rm -f "$T/tdbench-$1.pid"
	"$TDBENCH" serve "$1" "$T/tdbench-$1.pid" </dev/null >>"$T/tdbench.log" 2>&1 &
	td_track $!
	td_wait 5 test -s "$T/tdbench-$1.pid" ||
		td_fail "tdbench server on $1 did not start: $(tail -n 3 "$T/tdbench.log")"
}

# bench_ping_ok ADDR:PORT: one round trip through ADDR:PORT works.
bench_ping_ok() {
	"$TDBENCH" ping "$1" 0 >/dev/null 2>&1
}

# bench_cpu_ns PID: CPU time of all PID's threads so far, in ns, from
# /proc/PID/task/*/schedstat (clock ticks are too coarse for an idle ssh).
bench_cpu_ns() {
	local f run sum=0
	for f in /proc/"$1"/task/*/schedstat; do
		{ read -r run _ <"$f"; } 2>/dev/null || continue
		sum=$((sum + run))
	done
	echo "$sum"
}

# bench_status_kb PID FIELD: e.g. VmRSS, VmHWM in KiB from /proc/PID/status.
bench_status_kb() {
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null
}

# bench_median NUMBER...: the median ("-" for none; non-numbers skipped).
bench_median() {
	printf '%s\n' "$@" | grep -E '^[0-9]+(\.[0-9]+)?$' | sort -g |
	    awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		if (NR % 2) { print v[(NR + 1) / 2]; exit }
		m = (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf (m == int(m) ? "%d\n" : "%.2f\n"), m }'
}

# bench_percentile P NUMBER...: the nearest-rank P-th percentile.
bench_percentile() {
	local p=$1
	shift
	printf '%s\n' "$@" | grep -E '^[0-9]+(\.[0-9]+)?$' | sort -g |
	    awk -v p="$p" '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1
		print v[i] }'
}

# bench_ratio A B: A/B to two decimals, "-" when either is not a number.
bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "-"
		else printf "%.2f\n", a / b }'
}

bench_ms_to_s() {
	awk -v m="$1" 'BEGIN { if (m ~ /^[0-9.]+$/) printf "%.2f\n", m / 1000; else print "-" }'
}

bench_human() {
	awk -v b="$1" 'BEGIN {
		if (b >= 1073741824 && b % 1073741824 == 0) printf "%d GiB\n", b / 1073741824
		else if (b >= 1048576) printf "%d MiB\n", b / 1048576
		else printf "%d B\n", b }'
}

bench_libssh_version() {
	pkg-config --modversion libssh 2>/dev/null || echo '?'
}

# bench_conf_head: tunneld's [tunneld] section with the production timers
# (DESIGN.md's defaults), so that figures are what a user gets; the same
# keepalive as bench_ssh_opts gives ssh and autossh.
bench_conf_head() {
	tunneld_conf_head keepalive_interval=5s keepalive_count=3 \
	    connect_timeout=10s backoff_initial=1s backoff_max=60s \
	    backoff_multiplier=2 backoff_jitter=0.2 retry_refused=1s \
	    stable_after=30s probe_interval=10s probe_timeout=5s
}

# bench_ssh_opts PORT: SSH_OPTS, the OpenSSH client's options against the
# test sshd (key "bench") on 127.0.0.1:PORT, keepalive as above.
bench_ssh_opts() {
	SSH_OPTS=(-F /dev/null -i "$T/keys/bench" -o IdentitiesOnly=yes
		-o UserKnownHostsFile="$SSHD_KNOWN_HOSTS" -o StrictHostKeyChecking=yes
		-o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=10
		-o ExitOnForwardFailure=yes -o ServerAliveInterval=5
		-o ServerAliveCountMax=3 -p "$1")
}
