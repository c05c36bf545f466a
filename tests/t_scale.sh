#!/bin/bash
# t_scale: work per event does not grow with the node count, and tunnelctl
# reads a status of any size.
#
# 5,000 `ssh = none` nodes (long names: the status reply is over 1 MiB)
# all change state during start-up.  Before, every transition rebuilt
# STATUS= over every node and sent it (N lines, N^2 work: 20,000 nodes kept
# a core busy for minutes), and tunnelctl refused the reply ("line longer
# than 1 MiB").  Now STATUS= is rebuilt at most every 200 ms, after a burst
# of transitions: a handful of lines in total; and `tunnelctl status` shows
# every node.  Timings are bench/scale.sh's business, not this test's.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

N=5000
HELPER=$top_builddir/tests/tunnel-helper
pad=abcdefghijklmnopqrstuvwxyz0123456789abcdefghijkl
{
	tunneld_conf_head probe_interval=300s
	for ((i = 0; i < N; i++)); do
		printf '[node %s-%d]\nssh = none\nollama = none\ngpu = none\n\n' "$pad" "$i"
	done
} >"$T/tunneld.conf"

notify_listen
TD_START_TIMEOUT=180 tunneld_start "$T/tunneld.conf"
notify_wait 120 " STATUS=$N/$N nodes up\$" || td_fail "no STATUS=$N/$N nodes up: $(grep STATUS= "$T/notify.log" | tail -n 2)"
# Over the whole start-up: its line at READY=1, and each 200 ms at most
# after that, not one per transition.  The bound is far from both.
lines=$(grep -c ' STATUS=' "$T/notify.log")
[ "$lines" -le 50 ] || td_fail "$lines STATUS= lines for $N nodes starting: one per transition"
td_ok "$N nodes up; $lines STATUS= line(s) during start-up"

TD_CTL_TIMEOUT=60 ctl --json status >"$T/status.json" 2>"$T/status.err" ||
	td_fail "tunnelctl --json status failed: $(cat "$T/status.err")"
bytes=$(wc -c <"$T/status.json")
[ "$bytes" -gt $((1024 * 1024)) ] || td_fail "the reply is only $bytes bytes: the test needs more than 1 MiB"
[ "$("$HELPER" json "nodes.$((N - 1)).name" <"$T/status.json")" = "$pad-$((N - 1))" ] ||
	td_fail "the last node is not in the reply"
TD_CTL_TIMEOUT=60 ctl status >"$T/status.txt" 2>"$T/status.err" ||
	td_fail "tunnelctl status failed: $(cat "$T/status.err")"
[ "$(grep -c "^$pad-" "$T/status.txt")" = "$N" ] || td_fail "the table lacks nodes: $(grep -c "^$pad-" "$T/status.txt")"
td_ok "tunnelctl reads a status of $bytes bytes: all $N nodes, JSON and table"

rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"
