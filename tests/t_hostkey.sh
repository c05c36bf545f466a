#!/bin/bash
# t_hostkey: who tunneld trusts and how it proves itself.
#
# - host_key_policy = strict: a changed host key and an unknown host key
#   never let the node up; the reason names the node and the SHA256
#   fingerprint the server sent; known_hosts is not touched;
# - accept-new: the first key is recorded in known_hosts (which need not
#   exist yet), then enforced: after the sshd's host key changes the node is
#   refused with a mismatch;
# - a private key others can read is refused with OpenSSH's message;
# - `ssh = ALIAS` resolved through ssh_config (HostName, User, Port,
#   IdentityFile);
# - ssh-agent authentication when SSH_AUTH_SOCK is set (the key exists
#   nowhere but in the agent).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup


HELPER=$top_builddir/tests/tunnel-helper
[ -x "$HELPER" ] || td_fail "$HELPER is not built (make check builds it)"

jget() {
	ctl --json status | "$HELPER" json "$1"
}

node_state() {
	[ "$(jget "nodes.name=$1.state")" = "$2" ]
}

# fp PUBFILE: the SHA256:... fingerprint of a public key file.
fp() {
	ssh-keygen -lf "$1" | awk '{ print $2 }'
}

# never_up SECONDS NODE...: none of the nodes is up at any sample.
never_up() {
	local end i n
	td__now_us
	end=$((TD__NOW + $1 * 1000000))
	shift
	for ((i = 0; i < 200; i++)); do
		for n; do
			node_state "$n" up && td_fail "node $n is up: $(jget "nodes.name=$n.reason")"
		done
		td__now_us
		[ "$TD__NOW" -lt "$end" ] || return 0
		sleep 0.2
	done
}

# reason_has NODE TEXT: the node's reason contains TEXT.
reason_has() {
	[[ $(jget "nodes.name=$1.reason") == *"$2"* ]]
}

# conf_node NAME SSH [KEY=VALUE...]
conf_node() {
	local kv
	echo "[node $1]"
	echo "ssh = $2"
	shift 2
	for kv; do
		echo "${kv%%=*} = ${kv#*=}"
	done
	echo "gpu = none"
	echo "ollama = none"
	echo
}

sshd_setup
sshd_key good
sshd_key open
sshd_key open2
sshd_key alias
sshd_key agent
sshd_start
HOST_FP=$(fp "$SSHD_DIR/host_ed25519.pub")
notify_listen

# ---------------------------------------------------- strict: changed, unknown
ssh-keygen -q -t ed25519 -N '' -f "$T/other_host" </dev/null
echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$T/other_host.pub")" >"$T/kh_wrong"
cp "$T/kh_wrong" "$T/kh_wrong.orig"
{
	tunneld_conf_head known_hosts="$T/kh_wrong" host_key_policy=strict
	conf_node changed "$SSHD_USER@127.0.0.1:$SSHD_PORT" identity="$T/keys/good"
	# localhost has no entry at all: an unknown host.
	conf_node unknown "$SSHD_USER@localhost:$SSHD_PORT" identity="$T/keys/good"
} >"$T/strict.conf"
tunneld_start "$T/strict.conf"
td_wait 15 reason_has changed "$HOST_FP" || td_fail "changed: reason '$(jget nodes.name=changed.reason)' lacks $HOST_FP"
td_wait 15 reason_has unknown "$HOST_FP" || td_fail "unknown: reason '$(jget nodes.name=unknown.reason)' lacks $HOST_FP"
never_up 4 changed unknown
for n in changed unknown; do
	r=$(jget "nodes.name=$n.reason")
	# Every log line and status object names the node already.
	[[ $r == "host key "* && $r != *"node $n"* ]] || td_fail "$n: reason '$r' is not 'host key ...' without the node's name"
	[ "$(jget "nodes.name=$n.state")" = backoff ] || td_fail "$n: state is not backoff"
	[ "$(jget "nodes.name=$n.ssh.connects")" = 0 ] || td_fail "$n: a session was established"
done
[[ $(jget nodes.name=changed.reason) == *mismatch* ]] || td_fail "changed: reason does not say mismatch"
[[ $(jget nodes.name=unknown.reason) == *unknown* ]] || td_fail "unknown: reason does not say unknown"
cmp -s "$T/kh_wrong" "$T/kh_wrong.orig" || td_fail "strict: known_hosts was modified"
td_ok "strict, changed key: never up; reason: $(jget nodes.name=changed.reason)"
td_ok "strict, unknown key: never up; reason: $(jget nodes.name=unknown.reason)"
grep -q "Accepted publickey" "$SSHD_DIR/log" && td_fail "strict: a client authenticated to an untrusted server"
td_ok "strict: known_hosts untouched, no authentication was attempted"
tunneld_stop || td_fail "tunneld exited $?"

# -------------------------------------------------- accept-new, then enforce
KH_NEW=$T/new/known_hosts	# its directory exists, the file does not
mkdir -p "$T/new"
{
	tunneld_conf_head known_hosts="$KH_NEW" host_key_policy=accept-new
	conf_node tofu "$SSHD_USER@127.0.0.1:$SSHD_PORT" identity="$T/keys/good"
} >"$T/tofu.conf"
tunneld_start "$T/tofu.conf"
td_wait 15 node_state tofu up || td_fail "accept-new: never up: $(jget nodes.name=tofu.reason)"
[ -s "$KH_NEW" ] || td_fail "accept-new: $KH_NEW was not written"
line=$(ssh-keygen -F "[127.0.0.1]:$SSHD_PORT" -f "$KH_NEW" | grep -v '^#') ||
	td_fail "accept-new: no entry for [127.0.0.1]:$SSHD_PORT in $(cat "$KH_NEW")"
[ "$(echo "$line" | awk '{ print $3 }')" = "$(awk '{ print $2 }' "$SSHD_DIR/host_ed25519.pub")" ] ||
	td_fail "accept-new: recorded key differs from the server's: $line"
grep -q "recorded new host key ssh-ed25519 $HOST_FP in " "$T/tunneld.log" || td_fail "accept-new: the recording was not logged"
td_ok "accept-new: first key recorded ($HOST_FP) and the node is up"
cp "$KH_NEW" "$T/kh_new.orig"

# The server's host key changes: accept-new is now strict.
sshd_stop
rm -f "$SSHD_DIR/host_ed25519" "$SSHD_DIR/host_ed25519.pub"
ssh-keygen -q -t ed25519 -N '' -C rotated -f "$SSHD_DIR/host_ed25519" </dev/null
NEW_FP=$(fp "$SSHD_DIR/host_ed25519.pub")
sshd_start
td_wait 20 reason_has tofu "$NEW_FP" || td_fail "accept-new: after the key change, reason '$(jget nodes.name=tofu.reason)' lacks $NEW_FP"
never_up 4 tofu
r=$(jget nodes.name=tofu.reason)
[[ $r == "host key mismatch: "* ]] || td_fail "accept-new: reason '$r' is not a host key mismatch"
cmp -s "$KH_NEW" "$T/kh_new.orig" || td_fail "accept-new: known_hosts was changed by a mismatching key"
[ "$(jget nodes.name=tofu.ssh.connects)" = 1 ] || td_fail "accept-new: connected to the changed key"
td_ok "accept-new then enforced: changed key refused; reason: $r"
tunneld_stop || td_fail "tunneld exited $?"

# Back to the first host key for the rest.
HOST_FP=$NEW_FP
read -r kt kb _ <"$SSHD_DIR/host_ed25519.pub"
echo "[127.0.0.1]:$SSHD_PORT $kt $kb" >"$SSHD_KNOWN_HOSTS"

# --------------------------------------- key permissions, ssh_config alias
chmod 0644 "$T/keys/open" "$T/keys/open2"
cat >"$T/ssh_config" <<EOF
# OpenSSH client syntax, read by tunneld only (never ~/.ssh/config)
Host meshnode
	HostName 127.0.0.1
	User $SSHD_USER
	Port $SSHD_PORT
	IdentityFile $T/keys/alias

Host openalias
	HostName 127.0.0.1
	User $SSHD_USER
	Port $SSHD_PORT
	IdentityFile $T/keys/open2

Host *
	ConnectTimeout 3
EOF
{
	tunneld_conf_head ssh_config="$T/ssh_config"
	conf_node open "$SSHD_USER@127.0.0.1:$SSHD_PORT" identity="$T/keys/open"
	conf_node viaalias meshnode
	conf_node openalias openalias
} >"$T/auth.conf"
saved_sock=${SSH_AUTH_SOCK-}
unset SSH_AUTH_SOCK
tunneld_start "$T/auth.conf"
td_wait 15 node_state viaalias up || td_fail "ssh_config alias: never up: $(jget nodes.name=viaalias.reason)"
ALIAS_FP=$(fp "$T/keys/alias.pub")
grep -q "Accepted publickey for $SSHD_USER .* $ALIAS_FP" "$SSHD_DIR/log" ||
	td_fail "ssh_config alias: sshd did not accept the IdentityFile key $ALIAS_FP"
[ "$(jget nodes.name=viaalias.ssh.target)" = meshnode ] || td_fail "alias: status target is '$(jget nodes.name=viaalias.ssh.target)'"
td_ok "ssh_config alias 'meshnode' (HostName, User, Port, IdentityFile) is up with key $ALIAS_FP"

want="Permissions 0644 for '$T/keys/open' are too open"
td_wait 10 reason_has open "$want" || td_fail "open key: reason '$(jget nodes.name=open.reason)' lacks \"$want\""
never_up 3 open
OPEN_FP=$(fp "$T/keys/open.pub")
grep -q "$OPEN_FP" "$SSHD_DIR/log" && td_fail "open key: the key was offered to the server anyway"
td_ok "a key readable by others is refused: $(jget nodes.name=open.reason)"
want="Permissions 0644 for '$T/keys/open2' are too open"
td_wait 10 reason_has openalias "$want" || td_fail "open IdentityFile: reason '$(jget nodes.name=openalias.reason)' lacks \"$want\""
never_up 2 openalias
grep -q "$(fp "$T/keys/open2.pub")" "$SSHD_DIR/log" && td_fail "open IdentityFile: the key was offered to the server anyway"
td_ok "an ssh_config IdentityFile readable by others is refused the same way"
tunneld_stop || td_fail "tunneld exited $?"
[ -n "$saved_sock" ] && export SSH_AUTH_SOCK=$saved_sock

# ------------------------------------------------------------- ssh-agent
command -v ssh-agent >/dev/null && command -v ssh-add >/dev/null ||
	td_skip "ssh-agent or ssh-add missing (apt-get install openssh-client)"
AGENT_FP=$(fp "$T/keys/agent.pub")
ssh-agent -D -a "$T/agent.sock" </dev/null >>"$T/agent.log" 2>&1 &
td_track $!
td_wait 10 test -S "$T/agent.sock" || td_fail "ssh-agent did not come up"
export SSH_AUTH_SOCK=$T/agent.sock
ssh-add -q "$T/keys/agent" </dev/null 2>>"$T/agent.log" || td_fail "ssh-add failed: $(cat "$T/agent.log")"
# From now on the key exists nowhere but in the agent.
rm -f "$T/keys/agent"
{
	tunneld_conf_head
	conf_node viaagent "$SSHD_USER@127.0.0.1:$SSHD_PORT"
} >"$T/agent.conf"
tunneld_start "$T/agent.conf"
td_wait 15 node_state viaagent up || td_fail "ssh-agent: never up: $(jget nodes.name=viaagent.reason)"
grep -q "Accepted publickey for $SSHD_USER .* $AGENT_FP" "$SSHD_DIR/log" ||
	td_fail "ssh-agent: sshd did not accept the agent's key $AGENT_FP"
td_ok "ssh-agent: SSH_AUTH_SOCK set, the node is up with the agent's key $AGENT_FP"
ctl --json status >"$T/said.status" || td_fail "status failed"
ctl metrics >"$T/said.metrics" 2>&1 || :
tunneld_stop || td_fail "tunneld exited $?"

# -------------------------------------------------------------- secrets
# No line of any private key this test used reached the log (every run
# above appended to it) or the control socket's answers.
nkeys=0
for k in "$T"/keys/*; do
	case $k in *.pub) continue ;; esac
	head -n 1 "$k" | grep -q 'PRIVATE KEY' || continue
	nkeys=$((nkeys + 1))
	while IFS= read -r line; do
		case $line in *PRIVATE\ KEY*|'') continue ;; esac
		for f in "$T/tunneld.log" "$T/said.status" "$T/said.metrics"; do
			grep -qF -- "$line" "$f" && td_fail "a line of $k is in $f"
		done
	done <"$k"
done
[ "$nkeys" -ge 3 ] || td_fail "only $nkeys private keys checked"
td_ok "no line of $nkeys private keys is in the log, status or metrics"
