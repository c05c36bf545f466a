#!/bin/bash
# t_partition: the SSH hop is partitioned (iptables drops every segment
# both ways, in a private network namespace) and comes back; traffic must
# follow the link's return at once, not TCP's backed-off retransmission
# timer, and a remote forward must come back on its own although the hub's
# sshd (no ClientAliveInterval, as by default) still holds the old session
# and its port.
#
# - short partition (8 s, keepalive 1 s x 30: the session outlives it): the
#   stalled session is noticed (TCP retransmitting), fresh connects check
#   the link, and once one gets through the silent session is reset and
#   replaced.  Without that, the session's next retransmission comes up to
#   6 s after the return (its RTO backed off to 3.2-6.4 s) and one for
#   data sent since later still.  Both forwards must carry traffic
#   again (printed: the time, usually well under 1 s; over 2.5 s it is
#   noted, not failed, as a loaded machine can take that long);
# - long partition (8 s, keepalive 1 s x 3: the session dies at 3 s, of
#   the keepalive count or of TCP_USER_TIMEOUT, whichever is first): the
#   reconnect's TCP connect is retried with a fresh SYN every 250 ms, the
#   dead session's socket is kept and reset once a connect gets through, so
#   the hub's sshd drops the old session and frees the remote port before
#   the new session asks for it: both forwards carry traffic again (the
#   time printed), and the node is `up`, not `degraded` by "remote port in
#   use".
# The 30 and 120 s figures, and autossh's, are bench/wan.sh's.
# shellcheck source-path=SCRIPTDIR source=lib.sh
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=tests/netns.sh
. "$top_srcdir/tests/netns.sh"
netns_enter "$@"
. "$top_srcdir/tests/lib.sh"
td_setup

command -v socat >/dev/null || td_skip "socat is not installed (apt-get install socat)"
netns_iptables_ok || td_skip "iptables does not work here (apt-get install iptables)"
HELPER=$top_builddir/tests/tunnel-helper
[ -x "$HELPER" ] || td_fail "$HELPER is not built (make check builds it)"

BLACKOUT=8	# s
BOUND_MS=2500

traffic_ok() {
	"$HELPER" rtt "$1" 1 800 >/dev/null 2>&1
}

# back_after PORT: ms from now until one round trip through PORT works
# (each try bounded by 0.8 s, all by 20 s); "timeout" if never.
back_after() {
	local t0 i
	td__now_us
	t0=$TD__NOW
	for ((i = 0; i < 400; i++)); do
		if traffic_ok "$1"; then
			td__now_us
			echo $(((TD__NOW - t0) / 1000))
			return 0
		fi
		td__now_us
		[ $((TD__NOW - t0)) -lt 20000000 ] || break
		sleep 0.05
	done
	echo timeout
	return 1
}

sshd_setup
sshd_key part
sshd_start

ECHO=$(td_port)
L_ECHO=$(td_port)
R_ECHO=$(td_port)
echo_start "$ECHO"

# run_case NAME KEEPALIVE_COUNT: a fresh tunneld, a partition, the return.
run_case() {
	local name=$1 kc=$2 l r c0 c1
	{ tunneld_conf_head keepalive_interval=1s keepalive_count="$kc" \
	    connect_timeout=3s backoff_initial=200ms retry_refused=200ms; cat <<EOF; } >"$T/tunneld.conf"
[node part]
ssh            = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity       = $T/keys/part
local_forward  = 127.0.0.1:$L_ECHO 127.0.0.1:$ECHO
remote_forward = 127.0.0.1:$R_ECHO 127.0.0.1:$ECHO
gpu            = none
ollama         = none
EOF
	tunneld_start "$T/tunneld.conf" --verbose
	td_wait 20 node_in_state part up || td_fail "$name: node never up: $(jget nodes.name=part.reason)"
	td_wait 10 traffic_ok "$L_ECHO" || td_fail "$name: no traffic through the local forward before the partition"
	td_wait 10 traffic_ok "$R_ECHO" || td_fail "$name: no traffic through the remote forward before the partition"
	c0=$(jget nodes.name=part.ssh.connects)

	link_cut "$SSHD_PORT" || td_fail "iptables refused the rule"
	sleep "$BLACKOUT"
	link_restore "$SSHD_PORT" || td_fail "iptables could not remove the rule"
	l=$(back_after "$L_ECHO") || td_fail "$name: no traffic through the local forward 20 s after the link returned"
	r=$(back_after "$R_ECHO") || td_fail "$name: the remote forward never came back: $(jget nodes.name=part.state) $(jget nodes.name=part.reason)"
	# Measured one after the other: the remote figure includes the local
	# one.  The times are figures, not assertions (bench/wan.sh holds
	# them to 1 s on a quiet machine): at load 47 the remote forward took
	# 4 s.  What makes them short is asserted by its traces below: the
	# stalled session suspected and replaced, the dead one reset.
	[ "$((l + r))" -le "$BOUND_MS" ] ||
		echo "note: $name: forwards back $l / $((l + r)) ms after the link returned, over the $BOUND_MS ms expected on a quiet machine (load: $(cut -d' ' -f1-3 /proc/loadavg))"
	td_wait 5 node_in_state part up ||
		td_fail "$name: node $(jget nodes.name=part.state) after the partition: $(jget nodes.name=part.reason)"
	c1=$(jget nodes.name=part.ssh.connects)
	td_ok "$name: ${BLACKOUT} s partition: local forward back ${l} ms, remote forward $((l + r)) ms after the link's return; sessions $c0 -> $c1"
	CASE_CONNECTS=$((c1 - c0))
	rc=0
	tunneld_stop || rc=$?
	[ "$rc" = 0 ] || td_fail "$name: tunneld exited $rc"
}

run_case "session outlives the partition (keepalive 1 s x 30)" 30
grep -q 'the link is back but the session is still silent' "$T/tunneld.log" ||
	[ "$CASE_CONNECTS" = 0 ] ||
	td_fail "a new session was made, but not because the link came back: $(grep -E 'warning|link' "$T/tunneld.log" | tail -n 5)"
grep -q 'no answer, TCP retransmitting: checking the link' "$T/tunneld.log" ||
	td_fail "the stalled session was never suspected"
: >"$T/tunneld.log"
RESETS=$(grep -c 'Connection reset by peer' "$SSHD_DIR/log")
run_case "session dies in the partition (keepalive 1 s x 3)" 3
# Dead at 3 s of silence: by the keepalive count, or by the kernel's
# TCP_USER_TIMEOUT, which tunneld sets to the same 3 s ("Connection timed
# out"); on a loaded machine either may come first (a check-fresh run saw
# the kernel's).
grep -Eq 'keepalive timeout after 3s|session lost: Socket error: Connection timed out' "$T/tunneld.log" ||
	td_fail "the session did not die of the dead link during the partition (keepalive or TCP_USER_TIMEOUT, 3 s)"
# The hub's sshd learnt of the old session's end from our reset (a FIN
# would read "Connection closed"), in time for the remote forward above.
[ "$(grep -c 'Connection reset by peer' "$SSHD_DIR/log")" -gt "$RESETS" ] ||
	td_fail "sshd never saw the old session reset: $(tail -n 5 "$SSHD_DIR/log")"
td_ok "the dead session's socket was reset once the link came back; sshd dropped the old session and its remote port"
