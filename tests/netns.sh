# shellcheck shell=bash
#
# tests/netns.sh: a private network namespace for scenarios and benchmarks
# that cut links (iptables) or need an address family of their own (::1).
# Sourced by tests/t_partition.sh, tests/t_ipv6.sh, bench/wan.sh, before
# tests/lib.sh's td_setup:
#
#	. "$top_srcdir/tests/netns.sh"
#	netns_enter "$@"	# re-executes the script in a new namespace
#	. "$top_srcdir/tests/lib.sh"
#	td_setup
#
# Inside, only lo exists (brought up here), so every address is loopback
# and every rule dies with the namespace: nothing outside is touched.

# netns_enter ARGS...: unless already inside, re-execute "$0" ARGS under
# `unshare -n`.  Where the kernel or the sandbox refuses namespaces, a test
# is skipped (exit 77, with the reason) and a benchmark (NETNS_REQUIRED=1)
# fails.
netns_enter() {
	local why
	if [ "${TD_NETNS_INSIDE:-}" != 1 ]; then
		if ! why=$(unshare -n true 2>&1); then
			netns__refuse "cannot create a network namespace (unshare -n: ${why:-refused})"
		fi
		TD_NETNS_INSIDE=1 exec unshare -n -- bash "$0" "$@"
	fi
	why=$(ip link set lo up 2>&1) ||
		netns__refuse "cannot bring lo up in the namespace: $why"
}

netns__refuse() {
	if [ "${NETNS_REQUIRED:-0}" = 1 ]; then
		echo "FAIL: $*" >&2
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}

# netns_iptables_ok: iptables works in this namespace.
netns_iptables_ok() {
	command -v iptables >/dev/null && iptables -S INPUT >/dev/null 2>&1
}

# link_cut PORT: every TCP segment to or from 127.0.0.1:PORT is dropped on
# arrival, both ways: a black hole, as a partition looks to both ends
# (their sends succeed; nothing arrives, no error comes back).
link_cut() {
	iptables -I INPUT -p tcp --dport "$1" -j DROP &&
		iptables -I INPUT -p tcp --sport "$1" -j DROP
}

# link_restore PORT: undo link_cut PORT.
link_restore() {
	iptables -D INPUT -p tcp --dport "$1" -j DROP &&
		iptables -D INPUT -p tcp --sport "$1" -j DROP
}
