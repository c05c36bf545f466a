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


[ -x "$TD_TUNNEL_HELPER" ] || td_fail "$TD_TUNNEL_HELPER is not built (make check builds it)"

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
			node_in_state "$n" up && td_fail "node $n is up: $(jget "nodes.name=$n.reason")"
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
	node_in_state "$n" backoff || td_fail "$n: state is not backoff"
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
td_wait 15 node_in_state tofu up || td_fail "accept-new: never up: $(jget nodes.name=tofu.reason)"
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

# ------------------------------------------ accept-new: how a key is recorded
# A key is trusted on first use only once it is on disk (knownhosts.h): a
# write that fails refuses the connection with the host-key-unrecorded
# alert; the file is replaced by rename, never written through a symbolic
# link, its directory never created, a last line without its newline kept.
export TUNNELD_LOG_CAPTURE=$T/capture
tofu_conf() {	# tofu_conf KNOWN_HOSTS [NODE]
	tunneld_conf_head known_hosts="$1" host_key_policy=accept-new
	conf_node "${2:-tofu}" "$SSHD_USER@127.0.0.1:$SSHD_PORT" identity="$T/keys/good"
}
# unrecorded NODE TEXT: refused, with TEXT in the reason, never up.
unrecorded() {
	td_wait 15 reason_has "$1" "host key unrecorded for node $1" ||
		td_fail "$1: reason '$(jget "nodes.name=$1.reason")' does not say unrecorded"
	reason_has "$1" "$2" || td_fail "$1: reason '$(jget "nodes.name=$1.reason")' lacks '$2'"
	reason_has "$1" "$HOST_FP" || td_fail "$1: reason lacks the key $HOST_FP"
	never_up 2 "$1"
	[ "$(jget "nodes.name=$1.ssh.connects")" = 0 ] || td_fail "$1: a session was established"
}
# alerted NODE ERRNO: a host-key-unrecorded entry with MESSAGE_ID and ERRNO.
alerted() {
	local line
	line=$(grep -a "TUNNELD_EVENT=host-key-unrecorded	" "$T/capture" | grep -a "TUNNELD_NODE=$1	" | tail -n 1)
	[ -n "$line" ] || td_fail "$1: no host-key-unrecorded alert in the capture"
	[[ $line == *MESSAGE_ID=17307a11857a47b8b8018eb4f7f3f141* && $line == *"ERRNO=$2	"* &&
	   $line == *PRIORITY=3* ]] || td_fail "$1: alert lacks MESSAGE_ID, PRIORITY or ERRNO=$2: $line"
}

# A full file system.  Before: "recorded new host key" on every start, the
# node up, known_hosts 0 bytes, so every connection trusted any key.
if [ "$(id -u)" -ne 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
	echo "note: full file system skipped: needs root and unshare -m"
else
	mkdir -p "$T/full"
	cat >"$T/fullfs.sh" <<'EOF'
#!/bin/bash
# In tunneld's private mount namespace: a 16k tmpfs over $1, filled up.
set -e
mount -t tmpfs -o size=16k,mode=0755 tunneld-test-full "$1"
dd if=/dev/zero of="$1/fill" bs=4k 2>/dev/null || :
shift
exec "$@"
EOF
	chmod +x "$T/fullfs.sh"
	tofu_conf "$T/full/known_hosts" full >"$T/full.conf"
	for run in 1 2; do
		logged=$(wc -l <"$T/tunneld.log")
		TD_TUNNELD_WRAPPER="unshare -m --propagation private $T/fullfs.sh $T/full" \
			tunneld_start "$T/full.conf"
		unrecorded full "No space left on device"
		alerted full 28
		root=/proc/$TUNNELD_PID/root$T/full
		[ -e "$root/fill" ] || td_fail "full: cannot see tunneld's tmpfs at $root"
		[ ! -s "$root/known_hosts" ] || td_fail "full: known_hosts has bytes: $(cat "$root/known_hosts")"
		[ "$(ls -A "$root")" = fill ] || td_fail "full: left behind: $(ls -A "$root")"
		tail -n "+$((logged + 1))" "$T/tunneld.log" | grep -q "recorded new host key" && td_fail "full: run $run: a key was reported recorded"
		r=$(jget nodes.name=full.reason)
		tunneld_stop || td_fail "tunneld exited $?"
	done
	td_ok "full file system: refused on both starts, alerted with ERRNO=28: $r"
fi

# The last line lacks its newline: the entry is a line of its own, is
# enforced, and the next start does not record it again.
mkdir -p "$T/nl"
printf '# by hand\n[otherhost]:22 %s' "$(cut -d' ' -f1,2 "$T/other_host.pub")" >"$T/nl/known_hosts"
tofu_conf "$T/nl/known_hosts" >"$T/nl.conf"
logged=$(wc -l <"$T/tunneld.log")
tunneld_start "$T/nl.conf"
td_wait 15 node_in_state tofu up || td_fail "no newline: never up: $(jget nodes.name=tofu.reason)"
[ "$(ssh-keygen -F "[127.0.0.1]:$SSHD_PORT" -f "$T/nl/known_hosts" | grep -vc '^#')" = 1 ] ||
	td_fail "no newline: the entry is not a line of its own: $(cat "$T/nl/known_hosts")"
[ "$(ssh-keygen -F "[otherhost]:22" -f "$T/nl/known_hosts" | grep -vc '^#')" = 1 ] ||
	td_fail "no newline: the last line was damaged: $(cat "$T/nl/known_hosts")"
tunneld_stop || td_fail "tunneld exited $?"
cp "$T/nl/known_hosts" "$T/nl.orig"
tunneld_start "$T/nl.conf"
td_wait 15 node_in_state tofu up || td_fail "no newline, again: never up: $(jget nodes.name=tofu.reason)"
[ "$(tail -n "+$((logged + 1))" "$T/tunneld.log" | grep -c "recorded new host key")" = 1 ] || td_fail "no newline: the key was recorded again"
cmp -s "$T/nl/known_hosts" "$T/nl.orig" || td_fail "no newline: the second start changed known_hosts"
tunneld_stop || td_fail "tunneld exited $?"
td_ok "known_hosts without a final newline: the entry is its own line, enforced, recorded once"

# A symbolic link, to a victim file and dangling; a missing directory.
mkdir -p "$T/link"
echo "precious" >"$T/victim"
ln -s "$T/victim" "$T/link/known_hosts"
tofu_conf "$T/link/known_hosts" >"$T/link.conf"
tunneld_start "$T/link.conf"
unrecorded tofu "is a symbolic link"
alerted tofu 40
tunneld_stop || td_fail "tunneld exited $?"
[ "$(cat "$T/victim")" = precious ] || td_fail "symlink: the victim file was written: $(cat "$T/victim")"
rm "$T/link/known_hosts"
ln -s "$T/dangling" "$T/link/known_hosts"
tunneld_start "$T/link.conf"
unrecorded tofu "is a symbolic link"
tunneld_stop || td_fail "tunneld exited $?"
[ ! -e "$T/dangling" ] || td_fail "dangling symlink: its target was created"
[ "$(ls -A "$T/link")" = known_hosts ] || td_fail "symlink: left behind: $(ls -A "$T/link")"
td_ok "symbolic links, to a file or dangling, are never written through"
tofu_conf "$T/missing/dir/known_hosts" >"$T/missing.conf"
tunneld_start "$T/missing.conf"
unrecorded tofu "cannot open directory $T/missing/dir: No such file or directory"
alerted tofu 2
tunneld_stop || td_fail "tunneld exited $?"
[ ! -e "$T/missing" ] || td_fail "missing directory: it was created"
td_ok "a missing directory is not created"
unset TUNNELD_LOG_CAPTURE

# Concurrent starts: two daemons record three hosts each in one file at
# once; every entry survives.  The sshd listens on six more ports.
sshd_stop
cports=()
for i in 1 2 3 4 5 6; do
	p=$(td_port) || td_fail "no free port"
	cports+=("$p")
	echo "Port $p" >>"$SSHD_CONFIG"
done
sshd_start
mkdir -p "$T/conc"
for d in 0 1; do
	{
		tunneld_conf_head known_hosts="$T/conc/known_hosts" host_key_policy=accept-new \
			control_socket="$T/conc$d.sock"
		for i in 0 1 2; do
			conf_node "c$d$i" "$SSHD_USER@127.0.0.1:${cports[d * 3 + i]}" identity="$T/keys/good"
		done
	} >"$T/conc$d.conf"
done
cpids=()
for d in 0 1; do
	"$TUNNELD" --config "$T/conc$d.conf" --foreground --log stderr </dev/null >>"$T/conc$d.log" 2>&1 &
	td_track $!
	cpids+=("$!")
done
all_up() {	# all_up SOCKET NODE...
	local sock=$1 n
	shift
	for n; do
		[ "$(timeout 10 "$TUNNELCTL" --socket "$sock" --json status | td_json "nodes.name=$n.state")" = up ] || return 1
	done
}
td_wait 20 all_up "$T/conc0.sock" c00 c01 c02 || td_fail "concurrent: daemon 0 not all up: $(tail -n 5 "$T/conc0.log")"
td_wait 20 all_up "$T/conc1.sock" c10 c11 c12 || td_fail "concurrent: daemon 1 not all up: $(tail -n 5 "$T/conc1.log")"
for p in "${cports[@]}"; do
	[ "$(ssh-keygen -F "[127.0.0.1]:$p" -f "$T/conc/known_hosts" | grep -vc '^#')" = 1 ] ||
		td_fail "concurrent: no single entry for [127.0.0.1]:$p in: $(cat "$T/conc/known_hosts")"
done
[ "$(wc -l <"$T/conc/known_hosts")" = 6 ] || td_fail "concurrent: $(wc -l <"$T/conc/known_hosts") lines, not 6"
[ "$(ls -A "$T/conc")" = known_hosts ] || td_fail "concurrent: left behind: $(ls -A "$T/conc")"
for pid in "${cpids[@]}"; do
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || td_fail "concurrent: daemon $pid exited $rc"
done
td_ok "two daemons starting at once record six hosts in one known_hosts; none lost"

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
td_wait 15 node_in_state viaalias up || td_fail "ssh_config alias: never up: $(jget nodes.name=viaalias.reason)"
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
td_wait 15 node_in_state viaagent up || td_fail "ssh-agent: never up: $(jget nodes.name=viaagent.reason)"
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
