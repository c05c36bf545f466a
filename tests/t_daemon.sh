#!/bin/bash
#
# t_daemon.sh: the daemon's life, from start to stop, through the systemd
# protocol (notify-listen) (issue 2):
#
#   - READY=1 only once the control socket and every local forward's
#     listener are bound; a busy port: no READY, exit 1, the port named
#     (also detached, where the caller gets the reason); detached and well,
#     the command returns once the daemon answers;
#   - a config on an inherited descriptor (-c /dev/fd/N) is kept, and read
#     again on reload; any other inherited descriptor is closed;
#   - STATUS= lines, the journal fields of a transition;
#   - WATCHDOG=1 about every half of WATCHDOG_USEC, none while the daemon is
#     frozen (SIGSTOP) and again after SIGCONT;
#   - STOPPING=1 and exit 0 on SIGTERM and on SIGINT (taking over a stale
#     socket first), listeners and the socket gone afterwards.
#
# No sshd is needed: `far` points at a closed loopback port (it stays in
# backoff but its local listener is bound), `hub` is ssh = none.
# The command line and --check-config: t_config_check.sh; tunnelctl:
# t_ctl.sh; the control socket: t_control_socket.sh; reload, permissions
# and abusive clients: t_reload.sh, t_control_abuse.sh.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

# Every tunneld this test starts runs under TD_TUNNELD_WRAPPER when set
# (make valgrind), like those of tunneld_start.
read -r -a wrap <<<"${TD_TUNNELD_WRAPPER:-}"
td_utf8_locale	# strerror() texts

# ------------------------------------------------------- start: READY=1

notify_listen
p_busy=$(td_port)
# A listener that cannot be bound: READY=1 would be a lie, so no READY and
# a failed start (systemd's Restart= tries again).
socat TCP-LISTEN:"$p_busy",bind=127.0.0.1,reuseaddr,fork /dev/null </dev/null >/dev/null 2>&1 &
busy_pid=$!
td_track "$busy_pid"
td_wait 5 eval '[ -n "$(ss -Htln "sport = :$p_busy")" ]' || td_fail "socat did not listen on $p_busy"
tunneld_conf_offline "local_forward = 127.0.0.1:$p_busy 127.0.0.1:9"
n0=$(notify_lines)
rc=0
timeout 60 "${wrap[@]}" "$TUNNELD" --config "$T/tunneld.conf" --foreground --log stderr \
    >"$T/busy.out" 2>&1 </dev/null || rc=$?
[ "$rc" = 1 ] || td_fail "tunneld with port $p_busy taken exited $rc, not 1: $(cat "$T/busy.out")"
grep -q "127.0.0.1:$p_busy" "$T/busy.out" || td_fail "the busy port is not named: $(cat "$T/busy.out")"
! td__notify_match ' READY=1$' "$n0" || td_fail "READY=1 although 127.0.0.1:$p_busy was not bound"
[ ! -e "$T/control.sock" ] || td_fail "a failed start left $T/control.sock behind"
# Started by hand (detaching, the default), the same: the reason on the
# caller's stderr, exit 1, no daemon left behind.
rc=0
timeout 60 env -u NOTIFY_SOCKET "$TUNNELD" --config "$T/tunneld.conf" >"$T/detach.out" 2>"$T/detach.err" </dev/null || rc=$?
[ "$rc" = 1 ] || td_fail "detaching tunneld with port $p_busy taken exited $rc, not 1: $(cat "$T/detach.err")"
grep -q "127.0.0.1:$p_busy" "$T/detach.err" || td_fail "detaching tunneld did not say why: $(cat "$T/detach.err")"
[ ! -e "$T/control.sock" ] || td_fail "a failed detached start left a daemon or its socket"
[ -z "$(ss -Htln "sport = :$FAR_PORT")" ] || td_fail "a failed detached start left a listener on $FAR_PORT"
td_stop "$busy_pid"
td_ok "a local forward that cannot be bound: no READY=1, exit 1, port named (also detached: $(head -n 1 "$T/detach.err" | cut -c1-90))"

# Detached and well: the command returns once the daemon is ready, so the
# control socket answers at once.
tunneld_conf_offline
rc=0
timeout 60 env -u NOTIFY_SOCKET "$TUNNELD" --config "$T/tunneld.conf" >"$T/detach.out" 2>"$T/detach.err" </dev/null || rc=$?
[ "$rc" = 0 ] || td_fail "detaching tunneld exited $rc: $(cat "$T/detach.err")"
dpid=$(ctl --json status | sed -n 's/.*"pid":\([0-9]*\),.*/\1/p') || :
[ -n "$dpid" ] || td_fail "a detached tunneld that said it was ready does not answer"
td_track "$dpid"
[ "$(ps -o ppid= -p "$dpid" | tr -d ' ')" != "$$" ] || td_fail "tunneld did not detach"
kill -TERM "$dpid"
td_wait 10 td__gone "$dpid" || td_fail "detached tunneld $dpid ignores SIGTERM"
td_ok "detached: exit 0 only once ready (pid $dpid answered at once), SIGTERM stops it"

tunneld_conf_offline
n0=$(notify_lines)
# The config may come from a descriptor the daemon inherits (-c /dev/fd/N),
# kept for a reload; any other left open by whoever starts it is closed.
exec {conf_fd}<"$T/tunneld.conf" {leak}>"$T/leaked"
# TUNNELD_LOG_CAPTURE: each log entry's journal fields, one line each.
WATCHDOG_USEC=2000000 TUNNELD_LOG_CAPTURE=$T/capture tunneld_start "/dev/fd/$conf_fd"
exec {conf_fd}<&- {leak}>&-
! find "/proc/$TUNNELD_PID/fd" -mindepth 1 -lname "$T/leaked" | grep -q . ||
	td_fail "tunneld keeps a descriptor it inherited: $(ls -l "/proc/$TUNNELD_PID/fd")"
[ "$(readlink "/proc/$TUNNELD_PID/fd/$conf_fd")" = "$T/tunneld.conf" ] ||
	td_fail "tunneld closed the descriptor its config came from: $(ls -l "/proc/$TUNNELD_PID/fd")"
# READY=1 has been received: the control socket and the listener must
# already accept (the kernel completes the handshake on a bound listener).
exec 3<>"/dev/tcp/127.0.0.1/$FAR_PORT" || td_fail "READY=1 but 127.0.0.1:$FAR_PORT refuses"
exec 3>&-
# A node disabled in the config holds no port.
[ -z "$(ss -Htln "sport = :$OFF_PORT")" ] || td_fail "disabled node 'off' listens on $OFF_PORT"
[ -S "$T/control.sock" ] || td_fail "READY=1 but no control socket"
[ "$(grep -c ' READY=1$' "$T/notify.log")" = 1 ] || td_fail "READY=1 sent more than once"
# Nothing but STATUS= before READY=1 (no WATCHDOG before it, no STOPPING).
sed -n "$((n0 + 1)),\$p" "$T/notify.log" | sed '/ READY=1$/q' | grep -v ' READY=1$' |
	grep -v ' STATUS=' && td_fail "unexpected notifications before READY=1"
td_ok "READY=1 after the control socket and every local listener are bound"

# STATUS= says how many nodes are up and what is wrong with the first one
# that is not ('off' is disabled: 'far', which is failing, is worse).
notify_wait 10 ' STATUS=1/3 nodes up; far backoff( [0-9]+s)?: connection refused$' ||
	td_fail "no STATUS= line naming far's failure"
td_ok "STATUS=$(grep ' STATUS=' "$T/notify.log" | tail -n 1 | cut -d= -f2-)"

# The entries systemd's journal gets: PRIORITY, TUNNELD_NODE,
# TUNNELD_EVENT and TUNNELD_REASON on a node's transition.
td_wait 10 grep -qP '^PRIORITY=4\tTUNNELD_NODE=far\tTUNNELD_EVENT=state\tTUNNELD_REASON=connection refused\tMESSAGE=far: [a-z]+ -> backoff: connection refused$' "$T/capture" ||
	td_fail "no journal entry for far's backoff: $(cat "$T/capture")"
grep -qP '^PRIORITY=5\tTUNNELD_NODE=hub\tTUNNELD_EVENT=state\tMESSAGE=hub: stopped -> up$' "$T/capture" ||
	td_fail "no journal entry for hub going up: $(cat "$T/capture")"
td_ok "journal fields: PRIORITY, TUNNELD_NODE, TUNNELD_EVENT, TUNNELD_REASON"

# ------------------------------------------------------------- WATCHDOG=1

# wd_gaps FROM_LINE: the spacing (ms) of consecutive WATCHDOG=1 after FROM_LINE.
wd_gaps() {
	tail -n "+$(($1 + 1))" "$T/notify.log" | awk '/ WATCHDOG=1$/ {
		if (prev != "") print $1 - prev; prev = $1 }'
}
n1=$(notify_lines)
td_wait 20 eval '[ "$(wd_gaps "$n1" | wc -l)" -ge 5 ]' || td_fail "fewer than 6 WATCHDOG=1 in 20 s"
gaps=$(wd_gaps "$n1" | head -n 5 | tr '\n' ' ')
for g in $gaps; do
	# Half of WATCHDOG_USEC is 1000 ms; systemd kills at 2000 ms.
	[ "$g" -ge 500 ] && [ "$g" -lt 1800 ] ||
		td_fail "WATCHDOG=1 spacing ${g} ms (want about 1000, always < 2000): $gaps"
done
td_ok "WATCHDOG=1 every ~1 s with WATCHDOG_USEC=2000000 (gaps ms: $gaps)"

# Frozen, the loop does not turn: no pings.  Thawed, they resume.
kill -STOP "$TUNNELD_PID"
td_wait 5 eval '[ "$(td_state "$TUNNELD_PID")" = T ]' || td_fail "tunneld did not stop on SIGSTOP"
sleep 0.5	# a datagram sent just before the stop may still be in flight
n2=$(notify_lines)
sleep 3
n3=$(notify_lines)
[ "$n3" = "$n2" ] || td_fail "notifications while frozen: $(tail -n "+$((n2 + 1))" "$T/notify.log")"
kill -CONT "$TUNNELD_PID"
notify_wait 5 ' WATCHDOG=1$' "$n3" || td_fail "no WATCHDOG=1 within 5 s of SIGCONT"
td_wait 20 eval '[ "$(wd_gaps "$n3" | wc -l)" -ge 3 ]' || td_fail "WATCHDOG=1 did not resume its pace"
gaps=$(wd_gaps "$n3" | head -n 3 | tr '\n' ' ')
for g in $gaps; do
	[ "$g" -ge 500 ] && [ "$g" -lt 1800 ] || td_fail "WATCHDOG=1 spacing after SIGCONT: $gaps"
done
td_ok "no WATCHDOG=1 for 3 s while frozen (SIGSTOP); resumed after SIGCONT (gaps ms: $gaps)"

# The config came from an inherited descriptor: a reload reads it again.
out=$(ctl reload 2>&1) || td_fail "reload of the config on /dev/fd/$conf_fd exited $?: $out"
td_ok "a config read from /dev/fd/$conf_fd, a descriptor tunneld inherited, reloads: $out"

# ---------------------------------------------------------------- stopping

n4=$(notify_lines)
rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "SIGTERM: tunneld exited $rc, not 0"
notify_wait 2 ' STOPPING=1$' "$n4" || td_fail "SIGTERM: no STOPPING=1"
[ ! -e "$T/control.sock" ] || td_fail "SIGTERM: the control socket was left behind"
[ -z "$(ss -Htln "( sport = :$FAR_PORT or sport = :$OFF_PORT )")" ] || td_fail "listeners remain after stop"
td_ok "SIGTERM: STOPPING=1, exit 0, socket removed, listeners closed"

# A stale socket is replaced; SIGINT is the same orderly stop as SIGTERM.
td_stale_socket "$T/control.sock"
tunneld_conf_offline
n5=$(notify_lines)
tunneld_start "$T/tunneld.conf"
ctl status >/dev/null 2>&1 || [ $? = 1 ] || td_fail "the daemon did not take over a stale socket"
kill -INT "$TUNNELD_PID"
td_wait 10 td__gone "$TUNNELD_PID" || td_fail "SIGINT: tunneld still running after 10 s"
rc=0
wait "$TUNNELD_PID" || rc=$?
TUNNELD_PID=
[ "$rc" = 0 ] || td_fail "SIGINT: tunneld exited $rc, not 0"
notify_wait 2 ' STOPPING=1$' "$n5" || td_fail "SIGINT: no STOPPING=1"
[ ! -e "$T/control.sock" ] || td_fail "SIGINT: the control socket was left behind"
td_ok "SIGINT: STOPPING=1, exit 0, socket removed"
