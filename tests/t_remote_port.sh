#!/bin/bash
# t_remote_port: the remote port of a remote forward is held by another
# process (as the stale listener of a dead earlier session would be).
#
# - the node is `degraded` with reason `remote port N in use`, the forward
#   `refused`, while the session stays up (connects stays 1, keepalives and
#   the retried tcpip-forward requests share the one global-request slot)
#   and the node's other forward carries traffic;
# - the refusal is logged once, not once per retry;
# - once the squatter is gone the request is granted on a retry: the node
#   is `up` and connections to the remote port reach our target.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

command -v socat >/dev/null || td_skip "socat is not installed (apt-get install socat)"
HELPER=$top_builddir/tests/tunnel-helper
[ -x "$HELPER" ] || td_fail "$HELPER is not built (make check builds it)"

listening() {
	[ -n "$(ss -Htln "sport = :$1")" ]
}

# squatted PORT: a socat (the squatter, or a child it forked) listens on
# PORT.
squatted() {
	ss -Htlnp "sport = :$1" 2>/dev/null | grep -q '(("socat",'
}

sshd_setup
sshd_key rp
sshd_start

ECHO=$(td_port)
L_ECHO=$(td_port)
R_PORT=$(td_port)
echo_start "$ECHO"
# The squatter: holds the remote port and answers with its own name.
socat TCP-LISTEN:"$R_PORT",bind=127.0.0.1,fork SYSTEM:'echo squatter' \
    </dev/null >>"$T/socat-squatter.log" 2>&1 &
SQUATTER_PID=$!
td_track "$SQUATTER_PID"
td_wait 30 listening "$R_PORT" || td_fail "the squatter did not bind $R_PORT"
td_wait 30 listening "$ECHO" || td_fail "the echo target did not bind $ECHO"

{ tunneld_conf_head keepalive_interval=1s keepalive_count=3 \
    backoff_initial=300ms backoff_max=2s; cat <<EOF; } >"$T/tunneld.conf"
[node rp]
ssh            = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity       = $T/keys/rp
local_forward  = 127.0.0.1:$L_ECHO 127.0.0.1:$ECHO
remote_forward = 127.0.0.1:$R_PORT 127.0.0.1:$ECHO
gpu            = none
ollama         = none
EOF
notify_listen
tunneld_start "$T/tunneld.conf"

want="remote port $R_PORT in use"
degraded() {
	node_in_state rp degraded && [ "$(jget nodes.name=rp.reason)" = "$want" ]
}
td_wait 60 degraded || td_fail "node is $(jget nodes.name=rp.state) ($(jget nodes.name=rp.reason)), want degraded: $want"
[ "$(jget nodes.name=rp.forwards.1.state)" = refused ] || td_fail "remote forward state is $(jget nodes.name=rp.forwards.1.state)"
td_ok "squatted remote port: node degraded, reason '$want', forward refused"

# Over 6 s of retries (backoff_max 2 s) the session stays the same one
# and the local forward works.
for ((i = 0; i < 3; i++)); do
	"$HELPER" rtt "$L_ECHO" 10 10000 >/dev/null || td_fail "local forward broken while degraded"
	sleep 2
	degraded || td_fail "left degraded while the port is held: $(jget nodes.name=rp.state) $(jget nodes.name=rp.reason)"
done
c=$(jget nodes.name=rp.ssh.connects)
[ "$c" = 1 ] || td_fail "the session was re-established ($c connects) while the remote port was retried"
td_ok "degraded for 6 s: one session throughout, local forward carries traffic"
n=$(grep -c "remote port $R_PORT in use (server" "$T/tunneld.log")
[ "$n" = 1 ] || td_fail "the refusal was logged $n times, want once"
td_ok "the refusal was logged once"

td_stop "$SQUATTER_PID"
# Not "nobody listens": the daemon's next retry may already have had sshd
# take the port (backoff_max 2 s; stopping the squatter can take longer on
# a busy machine).
td_wait 30 eval "! squatted $R_PORT" || td_fail "the squatter still holds $R_PORT"
td_wait 60 node_in_state rp up || td_fail "node not up 60 s after the squatter left: $(jget nodes.name=rp.state) $(jget nodes.name=rp.reason)"
[ "$(jget nodes.name=rp.forwards.1.state)" = up ] || td_fail "remote forward state is $(jget nodes.name=rp.forwards.1.state)"
grep -q "remote port $R_PORT granted after" "$T/tunneld.log" || td_fail "the grant was not logged"
reply=$(printf 'ping\n' | timeout 20 socat -t 10 - TCP:127.0.0.1:"$R_PORT")
[ "$reply" = ping ] || td_fail "the remote port answered '$reply', not our echo target"
[ "$(jget nodes.name=rp.ssh.connects)" = 1 ] || td_fail "the session was re-established"
td_ok "squatter gone: the request was granted on a retry in the same session, node up, traffic reaches our target"

rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"
td_ok "tunneld stopped cleanly"
