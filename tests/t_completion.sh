#!/bin/bash
#
# t_completion.sh: bash completion of tunnelctl (completion/tunnelctl.bash)
# against a running tunneld.  The script is sourced into this bash and its
# function called as bash would (COMP_WORDS, COMP_CWORD); COMPREPLY must
# hold the commands and options, and the node and pool names the daemon
# has.  A socket where nothing listens gives no names and prints nothing.
#
# No sshd is needed: the nodes point at a closed loopback port.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

closed=$(td_port)
{
	tunneld_conf_head
	cat <<EOF
[node hub]
ssh = none
gpu = none
ollama = http://127.0.0.1:$(td_port)

[node runpod]
ssh = root@127.0.0.1:$closed
local_forward = 127.0.0.1:$(td_port) 127.0.0.1:9
ollama = none

[node vengeance]
ssh = root@127.0.0.1:$closed
local_forward = 127.0.0.1:$(td_port) 127.0.0.1:9
ollama = none

[pool ollama]
listen = 127.0.0.1:$(td_port)
nodes = runpod vengeance hub
EOF
} >"$T/tunneld.conf"
tunneld_start "$T/tunneld.conf"

# The completion finds tunnelctl on PATH, as a shell would.
PATH=$(dirname "$TUNNELCTL"):$PATH
# shellcheck source=../completion/tunnelctl.bash
. "$top_srcdir/completion/tunnelctl.bash"
complete -p tunnelctl | grep -q -- '-F _tunnelctl' || td_fail "no 'complete -F _tunnelctl tunnelctl'"
export TUNNELD_SOCKET=$T/control.sock

# comp WORD...: complete the last WORD; prints COMPREPLY sorted, one line.
comp() {
	local COMP_WORDS=("$@") COMP_CWORD=$(($# - 1)) COMP_LINE="$*" COMP_POINT
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_tunnelctl tunnelctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>"$T/comp.err"
	[ ! -s "$T/comp.err" ] || td_fail "completion wrote to stderr: $(cat "$T/comp.err")"
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
# expect WANT WORD...
expect() {
	local want=$1 got
	shift
	got=$(comp "$@")
	[ "$got" = "$want" ] || td_fail "completing '$*': got '$got', want '$want'"
}

expect "best help list metrics reload restart start status stop version watch" tunnelctl ""
expect "start status stop" tunnelctl st
expect "--help --json --socket --version" tunnelctl --
expect "--json" tunnelctl status --j
td_ok "commands and options"

expect "hub runpod vengeance" tunnelctl status ""
expect "runpod" tunnelctl stop r
expect "all hub runpod vengeance" tunnelctl restart ""
expect "vengeance" tunnelctl --json start v
expect "" tunnelctl status runpod ""
expect "ollama" tunnelctl best ""
expect "--model" tunnelctl best ollama --m
expect "nodes pools" tunnelctl list ""
td_ok "node names for status/stop/start/restart, pool names for best, from the daemon"

# The socket on the command line wins over $TUNNELD_SOCKET.
unset TUNNELD_SOCKET
expect "hub runpod vengeance" tunnelctl --socket "$T/control.sock" status ""
expect "hub" tunnelctl --socket="$T/control.sock" restart h
expect "hub" tunnelctl -s "$T/control.sock" restart h
expect "" tunnelctl --socket "$T/none.sock" status ""
TUNNELD_SOCKET=$T/none.sock expect "all" tunnelctl restart ""
td_ok "names come from the socket named by --socket, -s, --socket= or \$TUNNELD_SOCKET; none without a daemon, silently"

# A reload that adds a node: the next completion knows it.
sed -i 's/^\[node vengeance\]/[node aurora]\nssh = none\ngpu = none\n\n&/' "$T/tunneld.conf"
ctl reload >/dev/null || td_fail "reload failed"
TUNNELD_SOCKET=$T/control.sock expect "aurora" tunnelctl status a
td_ok "a node added by a reload is completed at once"
