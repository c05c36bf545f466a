#!/bin/bash
# t_jump: jump hosts.  A second sshd plays the jump host in front of the
# node's sshd.
#
# - an ssh_config alias with ProxyJump, and one with ProxyCommand, are
#   refused by `tunneld --check-config` (exit 78, file:line, the node, the
#   directive and its command), at start (78) and by a reload (the running
#   config is kept): before, tunneld ignored them and connected straight
#   to HostName;
# - OpenSSH takes the same alias through the jump host (the jump sshd logs
#   the direct-tcpip to the node's sshd): the file is not wrong;
# - the supported way works end to end: the jump host is a node with a
#   local_forward to the node's SSH port, and the node's `ssh =` points at
#   that forward; traffic through the node's own forward crosses both
#   sshds (the jump sshd logs the forwarded connection).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

command -v socat >/dev/null || td_skip "socat is not installed (apt-get install socat)"
HELPER=$top_builddir/tests/tunnel-helper
[ -x "$HELPER" ] || td_fail "$HELPER is not built (make check builds it)"

sshd_setup jump
sed -i 's/^LogLevel .*/LogLevel DEBUG1/' "$SSHD_CONFIG"
JUMP_PORT=$SSHD_PORT
JUMP_DIR=$SSHD_DIR
sshd_key hop
sshd_start
sshd_setup node
NODE_PORT=$SSHD_PORT
# The same key logs in on both (one authorized_keys line each).
cat "$T/keys/hop.pub" >>"$SSHD_DIR/authorized_keys"
sshd_start

ECHO=$(td_port)
HOP=$(td_port)
L_ECHO=$(td_port)
echo_start "$ECHO"
# The node's host key, as seen through the jump host's forward.
echo "[127.0.0.1]:$HOP $(sed -n "s/^\[127.0.0.1\]:$NODE_PORT //p" "$T/known_hosts")" >>"$T/known_hosts"

cat >"$T/ssh_config" <<EOF
Host behind-jump
    HostName 127.0.0.1
    Port $NODE_PORT
    User $SSHD_USER
    IdentityFile $T/keys/hop
    ProxyJump $SSHD_USER@127.0.0.1:$JUMP_PORT
Host behind-cmd
    HostName 127.0.0.1
    Port $NODE_PORT
    ProxyCommand socat - TCP:%h:%p
Host direct
    HostName 127.0.0.1
    Port $NODE_PORT
    ProxyJump none
Host *
    IdentityFile $T/keys/hop
    IdentitiesOnly yes
    UserKnownHostsFile $T/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
EOF

# jump_logged LINE: the jump sshd opened a direct-tcpip to the node's sshd
# after line LINE of its log.
jump_logged() {
	tail -n "+$(($1 + 1))" "$JUMP_DIR/log" |
	    grep -q "server_request_direct_tcpip: .*target 127.0.0.1 port $NODE_PORT\b"
}

# ---- OpenSSH goes through the jump host with this very file.
jl=$(wc -l <"$JUMP_DIR/log")
out=$(timeout 30 ssh -F "$T/ssh_config" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o UserKnownHostsFile="$T/known_hosts" -o StrictHostKeyChecking=yes \
    -o LogLevel=ERROR behind-jump echo through 2>&1) || td_fail "ssh through the jump host failed: $out"
[ "$out" = through ] || td_fail "ssh through the jump host said '$out'"
jump_logged "$jl" ||
	td_fail "the jump sshd logged no direct-tcpip to port $NODE_PORT"
td_ok "OpenSSH reaches behind-jump through the jump sshd"

conf() {
	{ tunneld_conf_head "ssh_config=$T/ssh_config"; cat; } >"$T/tunneld.conf"
}

# ---- refused, with where and why.
conf <<EOF
[node direct]
ssh      = direct
identity = $T/keys/hop
gpu      = none
ollama   = none

[node viajump]
ssh      = behind-jump
identity = $T/keys/hop
gpu      = none
ollama   = none

[node viacmd]
ssh      = behind-cmd
identity = $T/keys/hop
gpu      = none
ollama   = none
EOF
rc=0
out=$("$TUNNELD" --check-config --config "$T/tunneld.conf" 2>&1) || rc=$?
[ "$rc" = 78 ] || td_fail "--check-config exited $rc with ProxyJump/ProxyCommand: $out"
echo "$out" | grep -Eq "tunneld.conf:[0-9]+: node viajump: .* gives host 'behind-jump' a ProxyJump \(ssh .*-W .*\), which tunneld does not support" ||
	td_fail "no clear ProxyJump error naming file:line: $out"
echo "$out" | grep -Eq "tunneld.conf:[0-9]+: node viacmd: .* gives host 'behind-cmd' a ProxyCommand \(socat - TCP:%h:%p\)" ||
	td_fail "no clear ProxyCommand error naming file:line: $out"
echo "$out" | grep -q "node direct" && td_fail "ProxyJump none was refused: $out"
td_ok "--check-config refuses ProxyJump and ProxyCommand (exit 78): $(echo "$out" | head -n 1 | cut -c1-160)..."
rc=0
"$TUNNELD" --config "$T/tunneld.conf" --foreground --log stderr >"$T/refused.log" 2>&1 || rc=$?
[ "$rc" = 78 ] || td_fail "tunneld started (exit $rc) with a ProxyJump node: $(tail -n 3 "$T/refused.log")"
td_ok "tunneld refuses to start with them (exit 78)"

# ---- the supported way: the jump host as a node, its forward as the hop.
conf <<EOF
[node jump]
ssh           = $SSHD_USER@127.0.0.1:$JUMP_PORT
identity      = $T/keys/hop
local_forward = 127.0.0.1:$HOP 127.0.0.1:$NODE_PORT
gpu           = none
ollama        = none

[node behind]
ssh           = $SSHD_USER@127.0.0.1:$HOP
identity      = $T/keys/hop
local_forward = 127.0.0.1:$L_ECHO 127.0.0.1:$ECHO
gpu           = none
ollama        = none
EOF
jl=$(wc -l <"$JUMP_DIR/log")
tunneld_start "$T/tunneld.conf"
td_wait 30 node_in_state behind up || td_fail "node behind the jump host never up: $(jget nodes.name=behind.reason)"
"$HELPER" rtt "$L_ECHO" 20 10000 >/dev/null || td_fail "no traffic through the node behind the jump host"
jump_logged "$jl" || td_fail "the node's session did not cross the jump sshd"
td_ok "the jump host as a node, the node's ssh = at its forward: up, traffic flows through both sshds"

# ---- a reload to a ProxyJump config is refused; the running one stays.
sed -i "s/^ssh           = $SSHD_USER@127.0.0.1:$HOP/ssh           = behind-jump/" "$T/tunneld.conf"
rc=0
out=$(ctl reload 2>&1) || rc=$?
[ "$rc" != 0 ] || td_fail "a reload to a ProxyJump node was accepted: $out"
echo "$out" | grep -q ProxyJump || td_fail "the refused reload does not say why: $out"
node_in_state behind up || td_fail "node behind not up after the refused reload: $(jget nodes.name=behind.state)"
"$HELPER" rtt "$L_ECHO" 5 10000 >/dev/null || td_fail "no traffic after the refused reload"
td_ok "a reload to it is refused ($(echo "$out" | head -n 1 | cut -c1-80)...); the running config is kept"
rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"
