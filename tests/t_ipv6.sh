#!/bin/bash
# t_ipv6: IPv6 end to end, in a private network namespace whose only
# addresses are 127.0.0.1 and ::1 (where EVUTIL_AI_ADDRCONFIG, which counts
# no loopback address, made `ssh = root@[::1]:PORT` fail with "cannot
# resolve ::1").
#
# - an sshd that listens on ::1 only; `ssh = USER@[::1]:PORT`: the node is
#   up, and the same through a name that has only an AAAA record (a private
#   /etc/hosts in the test's own mount namespace);
# - a local forward listening on [::1] to a target [::1], a remote forward
#   listening on the hub's [::1] back to a target [::1]: bytes go through;
# - the Ollama probe, over http://[::1]:PORT through the local forward, is ok.
# shellcheck source-path=SCRIPTDIR source=lib.sh
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=tests/netns.sh
. "$top_srcdir/tests/netns.sh"
netns_enter "$@"
. "$top_srcdir/tests/lib.sh"
td_setup

command -v socat >/dev/null || td_skip "socat is not installed (apt-get install socat)"
[ -x "$TD_TUNNEL_HELPER" ] || td_fail "$TD_TUNNEL_HELPER is not built (make check builds it)"
ip -6 addr show dev lo 2>/dev/null | grep -q '::1/128' || td_skip "no ::1 in the namespace (IPv6 disabled?)"

# v6_echo PORT: an echo server on [::1]:PORT only.
v6_echo() {
	socat -t 30 TCP6-LISTEN:"$1",bind='[::1]',reuseaddr,fork EXEC:cat \
	    </dev/null >>"$T/socat-echo6-$1.log" 2>&1 &
	td_track $!
	td_wait 10 eval "[ -n \"\$(ss -Htln 'sport = :$1')\" ]" ||
		td_fail "echo server on [::1]:$1 did not listen"
}

# through6 PORT: a line round trip through [::1]:PORT.
through6() {
	[ "$(printf 'six\n' | timeout 20 socat -t 10 - TCP6:'[::1]':"$1")" = six ]
}

sshd_setup
sed -i 's/^ListenAddress .*/ListenAddress ::1/' "$SSHD_CONFIG"
hostkey=$(sed -n "s/^\[127.0.0.1\]:$SSHD_PORT //p" "$SSHD_KNOWN_HOSTS")
{
	echo "[::1]:$SSHD_PORT $hostkey"
	echo "[six.tunneld.test]:$SSHD_PORT $hostkey"
} >>"$SSHD_KNOWN_HOSTS"
sshd_key six
sshd_start
ss -Htln "sport = :$SSHD_PORT" | grep -q '\[::1\]' || td_fail "sshd does not listen on [::1]:$SSHD_PORT"
if ss -Htln "sport = :$SSHD_PORT" | grep -q '127.0.0.1'; then
	td_fail "sshd listens on 127.0.0.1 too: the test would not prove IPv6"
fi

ECHO=$(td_port)
L_ECHO=$(td_port)
R_ECHO=$(td_port)
L_OLLAMA=$(td_port)
v6_echo "$ECHO"
ollama_start six

{ tunneld_conf_head; cat <<EOF; } >"$T/tunneld.conf"
[node six]
ssh            = $SSHD_USER@[::1]:$SSHD_PORT
identity       = $T/keys/six
local_forward  = [::1]:$L_ECHO [::1]:$ECHO
remote_forward = [::1]:$R_ECHO [::1]:$ECHO
local_forward  = [::1]:$L_OLLAMA 127.0.0.1:$OLLAMA_PORT
ollama         = http://[::1]:$L_OLLAMA
gpu            = none
EOF
"$TUNNELD" --check-config --config "$T/tunneld.conf" >/dev/null ||
	td_fail "--check-config rejects IPv6 literals: $("$TUNNELD" --check-config --config "$T/tunneld.conf" 2>&1)"
tunneld_start "$T/tunneld.conf"
td_wait 20 node_in_state six up ||
	td_fail "node over [::1] not up: $(jget nodes.name=six.state): $(jget nodes.name=six.reason)"
td_ok "ssh = $SSHD_USER@[::1]:$SSHD_PORT: node up"
td_wait 10 through6 "$L_ECHO" || td_fail "no bytes through the local forward [::1]:$L_ECHO -> [::1]:$ECHO"
td_ok "local forward [::1] -> [::1] carries bytes"
td_wait 10 through6 "$R_ECHO" || td_fail "no bytes through the remote forward [::1]:$R_ECHO -> [::1]:$ECHO"
td_ok "remote forward on the hub's [::1] -> [::1] carries bytes"
td_wait 15 eval '[ "$(jget nodes.name=six.ollama.state)" = ok ]' ||
	td_fail "ollama probe over http://[::1]:$L_OLLAMA: $(jget nodes.name=six.ollama.state) $(jget nodes.name=six.reason)"
td_ok "ollama probe over http://[::1]:$L_OLLAMA is ok"
rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"

# ---- a name with only an AAAA record: a private /etc/hosts.
if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
	td_ok "SKIPPED the AAAA-only name: needs root and a mount namespace"
	exit 0
fi
echo "::1 six.tunneld.test" >"$T/hosts"
sed -i "s/^ssh .*/ssh            = $SSHD_USER@six.tunneld.test:$SSHD_PORT/" "$T/tunneld.conf"
# The daemon runs in a mount namespace of its own, where /etc/hosts is
# ours (evdns reads it); nothing outside the test sees it.
cat >"$T/with-hosts" <<'EOF'
#!/bin/sh
mount --bind "$TD_HOSTS" /etc/hosts || exit 1
exec "$@"
EOF
chmod +x "$T/with-hosts"
export TD_HOSTS=$T/hosts
getent ahostsv4 six.tunneld.test >/dev/null 2>&1 && td_fail "six.tunneld.test has an A record here"
TD_TUNNELD_WRAPPER="unshare -m --propagation private $T/with-hosts" tunneld_start "$T/tunneld.conf"
td_wait 20 node_in_state six up ||
	td_fail "node over six.tunneld.test (AAAA only) not up: $(jget nodes.name=six.state): $(jget nodes.name=six.reason)"
td_wait 10 through6 "$L_ECHO" || td_fail "no bytes through the local forward with the AAAA-only name"
td_ok "ssh = $SSHD_USER@six.tunneld.test:$SSHD_PORT (AAAA only): node up, bytes through"
rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"
