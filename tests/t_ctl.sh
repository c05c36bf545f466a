#!/bin/bash
#
# t_ctl.sh: tunnelctl against the real daemon (issue 2): the status table
# (aligned, ASCII when piped, exit 1 while a node is down), the detail view
# of one node, --json (the daemon's line unchanged, "protocol":1), version,
# watch (json and text) while stop and start are issued, an unknown or
# misspelt node (usage error 2, "did you mean"), a daemon that is not
# running or left a stale socket (one line naming the socket and errno,
# exit 3), and watch across a restart of the daemon.
#
# No sshd is needed: `far` points at a closed loopback port (it stays in
# backoff but its local listener is bound), `hub` is ssh = none, `off` is
# disabled.  The daemon's own life: t_daemon.sh; how tunnelctl renders
# odd replies: t_tunnelctl_render.sh.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

td_utf8_locale	# strerror() texts and the table's arrows
version=$("$TUNNELD" --version) || td_fail "tunneld --version exited $?"
version=${version#tunneld }

notify_listen
tunneld_conf_offline
tunneld_start "$T/tunneld.conf"
# far tries and fails again and again; its row is checked while it waits
# between two attempts, with the reason of the last one.
td_wait 30 eval 'node_in_state far backoff && [ "$(jget nodes.name=far.reason)" = "connection refused" ]' ||
	td_fail "far never in backoff for a refused connection: $(ctl status)"

# --------------------------------------------------------------- tunnelctl

# status: a table; exit 1 because not every node is up.  The NEXT column
# is there only while some node counts down to its next attempt: far has
# no countdown at the moment its retry (every 0.2 s) is due, and on a
# loaded machine a read can land there, so the table is read again until
# one has the column; every check below is on that one read.
table_read() {
	rc=0
	ctl status >"$T/table" 2>&1 || rc=$?
	head -n 1 "$T/table" | grep -Eq '^NODE +STATE +FOR +NEXT '
}
td_wait 30 table_read || td_fail "no table with a NEXT column in 30 s: $(cat "$T/table")"
[ "$rc" = 1 ] || td_fail "tunnelctl status exited $rc, not 1 (a node is down): $(cat "$T/table")"
head -n 1 "$T/table" | grep -Eq '^NODE +STATE +FOR +NEXT +SESSION +PORTS ' || td_fail "no table header: $(cat "$T/table")"
d='[0-9]+[smhd]([0-9]+[smh])?'
grep -Eq "^hub +up +$d " "$T/table" || td_fail "hub not 'up AGE': $(cat "$T/table")"
# The countdown (NEXT) is '-' while an attempt is in flight (seen under
# valgrind, where the 0.2 s retries overlap the query).
grep -Eq "^far +backoff +$d +($d|-) +- +127\.0\.0\.1:$FAR_PORT->9 .*connection refused\$" "$T/table" ||
	td_fail "far's row lacks state, time, next attempt, port map or reason: $(cat "$T/table")"
grep -Eq "^off +stopped +$d +- +- +127\.0\.0\.1:$OFF_PORT->9 .*disabled in config\$" "$T/table" ||
	td_fail "off's row lacks state, port map or reason: $(cat "$T/table")"
# A pipe gets ASCII, whatever the locale.
! LC_ALL=C grep -q '[^ -~]' "$T/table" || td_fail "non-ASCII in a piped table: $(cat "$T/table")"
# Aligned: every column starts at the header's offset in every node row.
hdr=$(head -n 1 "$T/table")
for col in STATE FOR NEXT PORTS REASON; do
	pre=${hdr%%"$col"*}
	off=${#pre}
	while IFS= read -r row; do
		case $row in hub* | far* | off*) ;; *) continue ;; esac
		[ "${#row}" -gt "$off" ] || continue	# an empty last column
		[ "${row:off-1:1}" = " " ] && [ "${row:off:1}" != " " ] ||
			td_fail "column $col is not at offset $off in '$row'"
	done <"$T/table"
done
td_ok "tunnelctl status: aligned table, state, time in it, next attempt, port map, reasons, exit 1"

# status NODE: the detail view, with what the session has done.
rc=0
ctl status far >"$T/detail" 2>&1 || rc=$?
[ "$rc" = 1 ] || td_fail "tunnelctl status far exited $rc, not 1"
grep -Eq "^far +backoff for $d" "$T/detail" || td_fail "detail: $(cat "$T/detail")"
grep -Eq "^  ssh +root@127\.0\.0\.1:$CLOSED_PORT, last rtt -\$" "$T/detail" || td_fail "detail lacks ssh: $(cat "$T/detail")"
grep -Eq "^  session +none; 0 connects, 0 reconnects\$" "$T/detail" || td_fail "detail lacks the session: $(cat "$T/detail")"
grep -Eq "^  last error +connection refused\$" "$T/detail" || td_fail "detail lacks last error: $(cat "$T/detail")"
grep -Eq "^  local +127\.0\.0\.1:$FAR_PORT -> 127\.0\.0\.1:9  down, 0 active, 0 total, in 0B, out 0B\$" "$T/detail" ||
	td_fail "detail lacks the forward: $(cat "$T/detail")"
td_ok "tunnelctl status far: ssh target, session, last error, forward with counters"

# --json: the daemon's reply line, unchanged.
rc=0
ctl --json status >"$T/json" || rc=$?
[ "$rc" = 1 ] || td_fail "tunnelctl --json status exited $rc"
[ "$(wc -l <"$T/json")" = 1 ] || td_fail "--json printed more than one line"
grep -q '^{"ok":true,"protocol":1,"version":"'"$version"'","pid":'"$TUNNELD_PID"',' "$T/json" ||
	td_fail "--json status: $(cat "$T/json")"
socat -t 5 - "UNIX-CONNECT:$T/control.sock" <<<"status" >"$T/raw" || td_fail "socat status failed"
# The same bytes, but for the clocks that may have ticked in between.
# (A retry in flight shows next_attempt_s null: one read may catch it.)
norm() { sed -E 's/"(uptime_s|since_s|next_attempt_s|session_s|up_s_total|down_s_total|degraded_s_total|outstanding_s|age_s)":([0-9.e-]+|null)/"\1":N/g' "$1"; }
[ "$(norm "$T/json")" = "$(norm "$T/raw")" ] ||
	td_fail "--json differs from the daemon's line:
$(cat "$T/json")
$(cat "$T/raw")"
for k in '"name":"far","state":"backoff"' '"reason":"connection refused"' \
    '"listen":"127.0.0.1:'"$FAR_PORT"'"' '"name":"off","state":"stopped"'; do
	grep -qF "$k" "$T/json" || td_fail "--json status lacks $k"
done
td_ok "tunnelctl --json status: the daemon's line unchanged, protocol 1"

# summary: what the table shows, for the same nodes; every key is one of
# status's, the history and the lists are left out.
socat -t 5 - "UNIX-CONNECT:$T/control.sock" <<<"summary" >"$T/summary" || td_fail "socat summary failed"
[ "$(jq -c '[.nodes[].name]' "$T/summary")" = "$(jq -c '[.nodes[].name]' "$T/raw")" ] ||
	td_fail "summary names other nodes: $(cat "$T/summary")"
extra=$(jq -n --slurpfile s "$T/summary" --slurpfile f "$T/raw" \
    '[range($s[0].nodes | length) as $i | ($s[0].nodes[$i] | keys) - ($f[0].nodes[$i] | keys)] | add')
[ "$extra" = "[]" ] || td_fail "summary has keys status has not: $extra"
td_jq '[.nodes[] | has("history") or has("probe_settings") or has("up_s_total")] | any | not' \
    "$T/summary" >/dev/null || td_fail "summary carries the record: $(cat "$T/summary")"
td_jq '.ok == true and .protocol == 1 and (.pools | type) == "array"' "$T/summary" >/dev/null ||
	td_fail "summary head: $(cat "$T/summary")"
one=$(socat -t 5 - "UNIX-CONNECT:$T/control.sock" <<<"summary far") || td_fail "socat summary far failed"
[ "$(jq -c '[.nodes[].name]' <<<"$one")" = '["far"]' ] || td_fail "summary far: $one"
td_ok "summary: the table's fields of every node, $(wc -c <"$T/summary") bytes against status's $(wc -c <"$T/raw")"

# Bytes that are not UTF-8 get an error object too, never silence: a
# request that is not UTF-8 is refused by name, and a word echoed back cut
# short in the middle of a character shows U+FFFD there.
printf '\xff\n' | socat -t 5 - "UNIX-CONNECT:$T/control.sock" >"$T/notutf8" ||
	td_fail "socat (not UTF-8) failed"
td_jq '.ok == false and .kind == "usage" and (.error | test("not UTF-8 at byte 1"))' \
    "$T/notutf8" >/dev/null || td_fail "a request that is not UTF-8: '$(cat "$T/notutf8")'"
printf '%s\xc3\xa9\n' aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa |
    socat -t 5 - "UNIX-CONNECT:$T/control.sock" >"$T/cututf8" || td_fail "socat (cut word) failed"
td_jq '.ok == false and (.error | test("unknown command .a{31}\ufffd."))' "$T/cututf8" >/dev/null ||
	td_fail "an unknown command cut in a character: '$(cat "$T/cututf8")'"
td_ok "requests that are not UTF-8, or cut in a character: an error object each"

vout=$(ctl version) || td_fail "tunnelctl version exited $?"
[ "$vout" = "tunnelctl $version
tunneld $version (protocol 1)" ] || td_fail "tunnelctl version: '$vout'"
out=$(ctl --json version) || td_fail "tunnelctl --json version exited $?"
grep -q '"ok":true' <<<"$out" && grep -q '"version":"'"$version"'"' <<<"$out" &&
	grep -q '"protocol":1' <<<"$out" || td_fail "--json version: $out"
td_ok "tunnelctl version: $vout; --json: $out"

# watch: state events as they come, while stop and start are issued.
ctl --json watch >"$T/watch" 2>&1 &
watch_pid=$!
td_track "$watch_pid"
td_wait 30 grep -q '"event":"hello"' "$T/watch" || td_fail "watch: no hello: $(cat "$T/watch")"
out=$(ctl stop far) || td_fail "tunnelctl stop far exited $?: $out"
td_wait 30 grep -q '"event":"state","node":"far","from":"[a-z]*","to":"stopped","reason":"stopped by tunnelctl"' "$T/watch" ||
	td_fail "watch: no far -> stopped event: $(cat "$T/watch")"
ctl status far | grep -Eq '^far +stopped ' || td_fail "far not stopped after tunnelctl stop"
out=$(ctl start far) || td_fail "tunnelctl start far exited $?: $out"
td_wait 30 grep -q '"node":"far","from":"stopped","to":"\(connecting\|backoff\)"' "$T/watch" ||
	td_fail "watch: far did not leave stopped: $(cat "$T/watch")"
grep -q '"time":"[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9:]*Z"' "$T/watch" || td_fail "watch events carry no time"
td_stop "$watch_pid"
# And the human form: one line per event.
ctl watch >"$T/watch.txt" 2>&1 &
watch_pid=$!
td_track "$watch_pid"
# The text form prints nothing until an event: a stop made before the
# daemon has read the watch request (a second and more on a loaded
# machine) is not seen.  Stop, and if no line comes, start and stop again.
for ((i = 0; i < 10; i++)); do
	ctl stop far >/dev/null || td_fail "second stop failed"
	td_wait 5 grep -q 'far.*stopped.*stopped by tunnelctl' "$T/watch.txt" && break
	ctl start far >/dev/null || td_fail "start between stops failed"
done
grep -q 'far.*stopped.*stopped by tunnelctl' "$T/watch.txt" ||
	td_fail "tunnelctl watch printed: $(cat "$T/watch.txt")"
td_stop "$watch_pid"
ctl start far >/dev/null || td_fail "second start failed"
rc=0
out=$(ctl stop nosuchnode 2>&1) || rc=$?
[ "$rc" = 2 ] && [ "$out" = "tunnelctl: no such node 'nosuchnode'" ] || td_fail "stop of an unknown node: rc $rc: $out"
rc=0
out=$(ctl restart fat 2>&1) || rc=$?
[ "$rc" = 2 ] && [ "$out" = "tunnelctl: no such node 'fat'; did you mean 'far'?" ] ||
	td_fail "restart of a misspelt node: rc $rc: $out"
out=$(ctl --json status fat 2>/dev/null) || :
grep -qF '"kind":"no-such-node","name":"fat","did_you_mean":"far"' <<<"$out" || td_fail "the error has no kind: $out"
td_ok "tunnelctl watch: state events for stop/start (json and text); unknown node: usage error (2), did you mean"

# ------------------------------------------------------ no daemon running

tunneld_stop || td_fail "tunneld exited $? on SIGTERM"
# Not running: one line, the socket and errno, exit 3.
rc=0
out=$(ctl status 2>&1) || rc=$?
[ "$rc" = 3 ] || td_fail "tunnelctl without a daemon exited $rc, not 3"
[ "$(wc -l <<<"$out")" = 1 ] || td_fail "tunnelctl without a daemon printed more than one line: $out"
grep -qF "$T/control.sock: No such file or directory" <<<"$out" || td_fail "tunnelctl without a daemon: $out"
# A socket file nobody listens on: what a daemon killed with SIGKILL leaves.
td_stale_socket "$T/control.sock"
rc=0
out2=$(ctl status 2>&1) || rc=$?
[ "$rc" = 3 ] && [ "$(wc -l <<<"$out2")" = 1 ] &&
	grep -qF "$T/control.sock: Connection refused" <<<"$out2" ||
	td_fail "tunnelctl on a stale socket: rc $rc: $out2"
td_ok "tunnelctl without a daemon: exit 3, one line: $out / $out2"

# watch across a restart of the daemon: it says so, connects again, and
# shows where every node stands again.
rm -f "$T/control.sock"	# taking a stale socket over is t_daemon.sh's case
tunneld_start "$T/tunneld.conf"
TUNNELCTL_RECONNECT=60 "$TUNNELCTL" --socket "$T/control.sock" watch >"$T/rwatch" 2>&1 </dev/null &
rwatch=$!
td_track "$rwatch"
td_wait 10 grep -q ' hub is up' "$T/rwatch" || td_fail "watch did not start with the states: $(cat "$T/rwatch")"
tunneld_stop || td_fail "tunneld exited $? on SIGTERM"
td_wait 10 grep -q 'tunneld closed the watch stream; reconnecting' "$T/rwatch" ||
	td_fail "watch did not say the daemon went: $(cat "$T/rwatch")"
td_alive "$rwatch" || td_fail "watch ended when the daemon went: $(cat "$T/rwatch")"
tunneld_start "$T/tunneld.conf"
td_wait 20 eval '[ "$(grep -c " hub is up" "$T/rwatch")" -ge 2 ]' ||
	td_fail "watch did not come back with the states: $(cat "$T/rwatch")"
ctl stop far >/dev/null || td_fail "stop far failed"
td_wait 10 grep -q ' far [a-z]* -> stopped: stopped by tunnelctl' "$T/rwatch" ||
	td_fail "watch shows no events after reconnecting: $(cat "$T/rwatch")"
kill -INT "$rwatch"
td_wait 10 td__gone "$rwatch" || td_fail "watch ignores SIGINT"
rc=0
wait "$rwatch" || rc=$?
[ "$rc" = 0 ] || td_fail "watch ended with $rc on SIGINT"
tunneld_stop || td_fail "tunneld exited $?"
td_ok "watch across a daemon restart: said, reconnected, states again, events follow"
