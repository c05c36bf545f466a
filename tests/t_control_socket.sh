#!/bin/bash
#
# t_control_socket.sh: the control socket's file (issue 2): its mode and
# owner; a second tunneld on the same socket is refused and the first keeps
# it; a missing directory is made 0755 whatever the umask; a directory
# anyone may write to is refused unless sticky; a regular file in the
# socket's place is left alone.  Taking a stale socket over: t_daemon.sh.
#
# No sshd is needed (see tunneld_conf_offline in lib.sh).

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

# Every tunneld this test starts runs under TD_TUNNELD_WRAPPER when set
# (make valgrind), like those of tunneld_start.
read -r -a wrap <<<"${TD_TUNNELD_WRAPPER:-}"
td_utf8_locale	# strerror() texts

notify_listen
tunneld_conf_offline
tunneld_start "$T/tunneld.conf"

# ------------------------------------------------ socket: mode, ownership

# Anyone may connect (reads are open, changes are checked with SO_PEERCRED);
# nobody but the owner may replace or remove it.
mode=$(stat -c '%A %U' "$T/control.sock")
[ "$mode" = "srw-rw-rw- $(id -un)" ] || td_fail "control socket is '$mode'"
td_ok "control socket: $mode"

# A second daemon on the same socket must not steal it from the first.
p_two=$(td_port)
sed -e "s|^local_forward = 127.0.0.1:$FAR_PORT |local_forward = 127.0.0.1:$p_two |" \
    -e "s|^local_forward = 127.0.0.1:$OFF_PORT |local_forward = 127.0.0.1:$(td_port) |" \
    "$T/tunneld.conf" >"$T/second.conf"
rc=0
timeout 60 "${wrap[@]}" "$TUNNELD" --config "$T/second.conf" --foreground --log stderr \
    >"$T/second.out" 2>&1 </dev/null || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || td_fail "a second tunneld on the same socket exited $rc"
grep -q "$T/control.sock" "$T/second.out" || td_fail "second tunneld: $(cat "$T/second.out")"
[ -S "$T/control.sock" ] || td_fail "the second tunneld removed the first one's socket"
out=$(ctl --json status) || :
grep -q "\"pid\":$TUNNELD_PID," <<<"$out" || td_fail "the first tunneld no longer answers: $out"
td_ok "a second tunneld refuses a live control socket ($(head -n 1 "$T/second.out" | cut -c1-100))"

tunneld_stop || td_fail "tunneld exited $? on SIGTERM"

# ------------------------------------------------------ socket directory

# sock_conf PATH: a one-node config whose control socket is PATH.
sock_conf() {
	{ tunneld_conf_head control_socket="$1"; printf '[node hub]\nssh = none\ngpu = none\n'; } >"$T/sock.conf"
}
# sock_run [UMASK]: tunneld on $T/sock.conf in the background (SOCK_PID),
# waiting (15 s) for READY=1 or its exit.
sock_run() {
	local n
	n=$(notify_lines)
	bash -c 'umask "$1"; shift; exec "$@"' _ "${1:-022}" \
	    "${wrap[@]}" "$TUNNELD" --config "$T/sock.conf" --foreground --log stderr \
	    </dev/null >"$T/sock.out" 2>&1 &
	SOCK_PID=$!
	td_track "$SOCK_PID"
	td_wait 15 eval '! td_alive "$SOCK_PID" || td__notify_match " READY=1$" '"$n" || :
}
# sock_stop: SIGTERM; returns its exit status.
sock_stop() {
	local rc=0
	kill -TERM "$SOCK_PID" 2>/dev/null
	td_wait 10 td__gone "$SOCK_PID" || td_fail "tunneld $SOCK_PID ignores SIGTERM"
	wait "$SOCK_PID" || rc=$?
	return "$rc"
}
# sock_refused WHY: tunneld ended with status 1, saying WHY (a regex).
sock_refused() {
	local rc=0
	td_wait 15 td__gone "$SOCK_PID" || td_fail "tunneld started although $1"
	wait "$SOCK_PID" || rc=$?
	[ "$rc" = 1 ] || td_fail "tunneld exited $rc, not 1, although $1"
	grep -Eq "$1" "$T/sock.out" || td_fail "tunneld did not say '$1': $(cat "$T/sock.out")"
}

# A missing directory (no RuntimeDirectory=, started by hand) is made 0755
# whatever the umask, so that readers reach the 0666 socket.
sock_conf "$T/run/control.sock"
sock_run 077
[ -S "$T/run/control.sock" ] || td_fail "no socket in a missing directory: $(cat "$T/sock.out")"
[ "$(stat -c %a "$T/run")" = 755 ] || td_fail "made $T/run with mode $(stat -c %a "$T/run")"
[ "$(stat -c %a "$T/run/control.sock")" = 666 ] || td_fail "socket mode $(stat -c %a "$T/run/control.sock")"
sock_stop || td_fail "tunneld on $T/run exited $?"
[ ! -e "$T/run/control.sock" ] || td_fail "socket left in $T/run"
td_ok "a missing socket directory is made 0755 (even with umask 077), the socket 0666"

# A directory anyone may write to (no sticky bit): refused.
mkdir -m 0777 "$T/open"
chmod 0777 "$T/open"
sock_conf "$T/open/control.sock"
sock_run
sock_refused "$T/open is writable by anyone"
[ ! -e "$T/open/control.sock" ] || td_fail "a socket was made in a world-writable directory"
# With the sticky bit (like /tmp), others cannot replace our socket: fine.
chmod 1777 "$T/open"
sock_run
[ -S "$T/open/control.sock" ] || td_fail "no socket in a sticky directory: $(cat "$T/sock.out")"
sock_stop || td_fail "tunneld in a sticky directory exited $?"
td_ok "a world-writable socket directory is refused, unless sticky"

# A file where the socket should be is not ours to delete.
echo precious >"$T/run/control.sock"
sock_conf "$T/run/control.sock"
sock_run
sock_refused "$T/run/control.sock exists and is not a socket"
[ "$(cat "$T/run/control.sock")" = precious ] || td_fail "tunneld replaced a regular file"
td_ok "a regular file in the socket's place is left alone (exit 1)"
