#!/usr/bin/env bash
# t_nofile: out of file descriptors, tunneld rests its listeners instead
# of spinning, and serves again once descriptors are free.
#
# tunneld runs under `prlimit --nofile=64:64`.  The test holds connections
# to a local forward until the daemon has no descriptor left, then queues a
# `tunnelctl status`, a request through a pool and a metrics scrape behind
# the ones waiting in the backlogs.  accept() now fails with EMFILE on
# every turn of the loop; libevent left alone would call it again at once
# for ever (a busy loop that logs each failure).  Expected:
#   - each listener (forward, pool, metrics, control socket) says about
#     once a second that it is not accepting, and no more than that;
#   - the daemon stays alive and its session up;
#   - once the held connections close, the queued status, pool request and
#     scrape are answered, and the forward carries new connections.
# The daemon's CPU time over the window is printed, not asserted.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup
command -v prlimit >/dev/null || td_skip "no prlimit (apt-get install util-linux)"
command -v curl >/dev/null || td_skip "no curl (apt-get install curl)"
command -v jq >/dev/null || td_skip "no jq (apt-get install jq)"

LIMIT=64
WINDOW=4	# seconds with every listener out of descriptors

sshd_setup
sshd_key n
sshd_start
ollama_start n
FWD=$(td_port)
POOL=$(td_port)
METRICS=$(td_port)

# Probes every 300 s: no probe needs a descriptor during the window.
{
	tunneld_conf_head probe_interval=300s probe_timeout=3s \
	    metrics_listen=127.0.0.1:$METRICS
	cat <<EOF
[node n]
ssh           = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity      = $T/keys/n
local_forward = 127.0.0.1:$FWD 127.0.0.1:$OLLAMA_PORT
gpu           = none

[pool p]
listen = 127.0.0.1:$POOL
nodes  = n
policy = priority
EOF
} >"$T/tunneld.conf"

state_is() {
	[ "$(ctl --json status 2>/dev/null | jq -r '.nodes[0].state')" = "$1" ]
}
ask() { curl -sS -m "$1" "http://127.0.0.1:$2/api/version"; }

notify_listen
TD_TUNNELD_WRAPPER="prlimit --nofile=$LIMIT:$LIMIT" tunneld_start "$T/tunneld.conf"
[ "$(awk '/^Max open files/ { print $4 }' "/proc/$TUNNELD_PID/limits")" = "$LIMIT" ] ||
	td_fail "tunneld does not run with a limit of $LIMIT descriptors"
td_wait 20 state_is up || td_fail "node n not up: $(ctl status)"
ask 5 "$POOL" >/dev/null || td_fail "pool p does not serve before the test"
td_wait 10 curl -sSf -m 5 -o /dev/null "http://127.0.0.1:$METRICS/metrics" ||
	td_fail "no metrics before the test"
td_wait 10 eval '[ "$(td_fds "$TUNNELD_PID")" -lt $((LIMIT - 8)) ]' ||
	td_fail "tunneld holds $(td_fds "$TUNNELD_PID") descriptors at rest; the test needs a few free"
base=$(td_fds "$TUNNELD_PID")

# Each accepted connection costs the daemon one descriptor; the rest wait
# in the forward's backlog.
held=()
for ((i = 0; i < LIMIT - base + 4; i++)); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$FWD" || td_fail "cannot connect to the forward ($i held)"
	held+=("$fd")
done
td_wait 10 grep -q "127.0.0.1:$FWD: accept: Too many open files; not accepting for 1 s" "$T/tunneld.log" ||
	td_fail "no word from the forward's listener out of descriptors ($(td_fds "$TUNNELD_PID") fds)"
td_ok "${#held[@]} connections held: tunneld at $(td_fds "$TUNNELD_PID") of $LIMIT descriptors (base $base)"

# unheld CMD...: CMD without the held connections, which it would
# otherwise keep open after the test closes them.
unheld() {
	local fd
	for fd in "${held[@]}"; do
		exec {fd}>&-
	done
	"$@"
}

# Queued behind the full table: answered only once descriptors free up.
# tunnelctl gives up after 10 s of its own.
unheld ctl --json status >"$T/queued-status" 2>&1 &
status_pid=$!
td_track "$status_pid"
unheld ask 30 "$POOL" >"$T/queued-pool" 2>&1 &
pool_pid=$!
td_track "$pool_pid"
unheld curl -sS -m 30 "http://127.0.0.1:$METRICS/metrics" >"$T/queued-metrics" 2>&1 &
metrics_pid=$!
td_track "$metrics_pid"

lines0=$(wc -l <"$T/tunneld.log")
cpu0=$(awk '{ print $14 + $15 }' "/proc/$TUNNELD_PID/stat")
td__now_us; t0=$TD__NOW
sleep "$WINDOW"
cpu1=$(awk '{ print $14 + $15 }' "/proc/$TUNNELD_PID/stat")
tail -n +"$((lines0 + 1))" "$T/tunneld.log" >"$T/window.log"
td__now_us
secs=$(( (TD__NOW - t0 + 999999) / 1000000 ))	# rounded up
td_alive "$TUNNELD_PID" || td_fail "tunneld died out of descriptors"
td_alive "$status_pid" || td_fail "the queued status finished while tunneld had no descriptor: $(cat "$T/queued-status")"
# One line a second from each listener, and one more for the window's
# ragged ends; libevent's own complaint, were it spinning, says "accept".
for who in "n: 127.0.0.1:$FWD" "pool p" "metrics 127.0.0.1:$METRICS" \
    "control socket $T/control.sock"; do
	n=$(grep -cF "$who: accept: Too many open files; not accepting for 1 s" "$T/window.log" || :)
	[ "$n" -ge 1 ] || td_fail "$who said nothing out of descriptors: $(tail -n 5 "$T/window.log")"
	[ "$n" -le $((secs + 1)) ] || td_fail "$who: $n lines in $secs s"
done
accepts=$(grep -ci "accept" "$T/window.log" || :)
[ "$accepts" -le $((4 * (secs + 1))) ] ||
	td_fail "$accepts lines about accept in $secs s: $(grep -i accept "$T/window.log" | sort | uniq -c | sort -rn | head -n 3)"
td_ok "out of descriptors for $secs s: $accepts lines about accept from 4 listeners, CPU $(( (cpu1 - cpu0) * 1000 / $(getconf CLK_TCK) )) ms"

for fd in "${held[@]}"; do
	exec {fd}>&-
done
td_wait 15 td__gone "$status_pid" || td_fail "the queued status got no answer after the release"
wait "$status_pid" || td_fail "the queued status failed: $(cat "$T/queued-status")"
td_jq '.nodes[0].state == "up"' "$T/queued-status" >/dev/null ||
	td_fail "queued status: $(head -c 300 "$T/queued-status")"
td_wait 30 td__gone "$pool_pid" || td_fail "the queued pool request got no answer after the release"
wait "$pool_pid" || td_fail "the queued pool request failed: $(cat "$T/queued-pool")"
grep -q '"version"' "$T/queued-pool" || td_fail "queued pool request: $(cat "$T/queued-pool")"
td_wait 30 td__gone "$metrics_pid" || td_fail "the queued scrape got no answer after the release"
wait "$metrics_pid" || td_fail "the queued scrape failed: $(cat "$T/queued-metrics")"
grep -q '^tunneld_node_up' "$T/queued-metrics" || td_fail "queued scrape: $(head -c 300 "$T/queued-metrics")"
ask 5 "$FWD" | grep -q '"version"' || td_fail "the forward does not carry a new connection after the release"
td_wait 10 eval '[ "$(td_fds "$TUNNELD_PID")" -le $((base + 2)) ]' ||
	td_fail "descriptors not given back: $(td_fds "$TUNNELD_PID"), base $base"
td_ok "after the release: the queued status, pool request and scrape answered, the forward carries again, $(td_fds "$TUNNELD_PID") descriptors"

rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc on SIGTERM"
