#!/bin/bash
# t_scale: work per event does not grow with the node count, tunnelctl
# reads a status of any size, and the daemon writes it as it is taken.
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

# A status is written as the client takes it.  A reader that stops after
# its first bytes holds the rest in the daemon, which answers others
# meanwhile; a reload then removes every node but the first ten (the one
# the paused reply was to go on from, and the last, among them: under ASan
# a dangling cursor would show) and adds ten.  The reply, read to its end,
# is whole: the nodes written before the reload, then the added ones, each
# once.  Before, a reply whose remaining nodes were all removed was cut
# off without its end, and added nodes never came.
mkfifo "$T/go"
socat -t 60 -T 120 - "UNIX-CONNECT:$T/control.sock" <<<"status" |
	{ head -c 4096 >"$T/paused.head"; read -r _ <"$T/go"; cat >"$T/paused.rest"; } &
reader=$!
td_track "$reader"
td_wait 30 test -s "$T/paused.head" || td_fail "the paused reader got no bytes"
TD_CTL_TIMEOUT=60 ctl --json status >/dev/null || td_fail "a status while another is paused failed"
td_ok "a status is answered while another client's reply waits for its reader"
keep() { [ "$1" -lt 10 ] || [ "$1" -ge "$N" ]; }
{
	tunneld_conf_head probe_interval=300s
	for ((i = 0; i < N + 10; i++)); do
		keep "$i" || continue
		printf '[node %s-%d]\nssh = none\nollama = none\ngpu = none\n\n' "$pad" "$i"
	done
} >"$T/tunneld.conf.new"
mv "$T/tunneld.conf.new" "$T/tunneld.conf"
TD_CTL_TIMEOUT=60 ctl reload >/dev/null || td_fail "reload to 20 nodes failed"
echo go >"$T/go"
td_wait 60 td__gone "$reader" || td_fail "the paused reader never got the end of its reply"
cat "$T/paused.head" "$T/paused.rest" >"$T/paused.json"
jq -r '.nodes[].name' "$T/paused.json" >"$T/paused.names" 2>"$T/jq.err" ||
	td_fail "the paused reply is not JSON: $(cat "$T/jq.err"); $(tail -c 300 "$T/paused.json")"
td_jq '.ok == true and (.pools | type) == "array"' "$T/paused.json" >/dev/null ||
	td_fail "the paused reply lacks its head or pools: $(tail -c 300 "$T/paused.json")"
got=$(wc -l <"$T/paused.names")
removed=0 prev=-1
while read -r name; do
	i=${name##*-}
	[ "$i" -gt "$prev" ] || td_fail "node $name out of order or twice in the paused reply"
	prev=$i
	keep "$i" || removed=$((removed + 1))
done <"$T/paused.names"
[ "$removed" -gt 0 ] && [ "$removed" -lt $((N - 10)) ] ||
	td_fail "the reply did not straddle the reload: $removed removed nodes of $got"
added=$(grep -c -- "^$pad-50[0-9][0-9]\$" "$T/paused.names")
[ "$added" = 10 ] && tail -n 1 "$T/paused.names" | grep -qx -- "$pad-$((N + 9))" ||
	td_fail "the added nodes are not all at the end: $added of 10, the last $(tail -n 1 "$T/paused.names")"
td_ok "a reply paused across a reload: $got nodes, $removed of them written before it, then the 10 added"

rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"
