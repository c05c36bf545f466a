#!/bin/bash
#
# t_reload.sh: reload by SIGHUP and by `tunnelctl reload` (issue 2).
#
# Three nodes on a real sshd, each with a forward to an echo server: `steady` (never changes), `gone` (removed by
# the reload), `moved` (its priority changes: applied, not restarted); the
# reload adds `fresh`.  Checked:
#   - every reload is framed by RELOADING=1 (+ MONOTONIC_USEC) and READY=1;
#   - a bad file changes nothing (same nodes, same sessions) and says why
#     with file:line, in the log (SIGHUP) and in tunnelctl's reply (exit 4);
#   - a good file applies the difference: `fresh` starts and its listener
#     is bound, `gone` disappears and its listener closes, `moved` keeps
#     its session with its new priority, and `steady` is left alone: same
#     session (connects, since),
#     and a connection through its forward opened before the reload still
#     carries data after it;
#   - new probe, backoff and connect timers leave every session alone; a
#     new keepalive_interval restarts them all.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup


sshd_setup
for k in steady gone moved fresh; do
	sshd_key "$k"
done
sshd_start
notify_listen

p_steady=$(td_port)
p_gone=$(td_port)
p_moved=$(td_port)
p_fresh=$(td_port)
# Every forward leads to an echo server on loopback (not an Ollama: no
# probe).
p_echo=$(td_port)
socat TCP-LISTEN:"$p_echo",bind=127.0.0.1,reuseaddr,fork PIPE </dev/null >/dev/null 2>&1 &
td_track $!
td_wait 5 eval '[ -n "$(ss -Htln "sport = :$p_echo")" ]' || td_fail "no echo server on $p_echo"
node() {	# NAME PORT [EXTRA]
	cat <<EOF
[node $1]
ssh = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity = $T/keys/$1
local_forward = 127.0.0.1:$2 127.0.0.1:$p_echo
ollama = none
gpu = none
${3:-}

EOF
}
{ tunneld_conf_head; node steady "$p_steady"; node gone "$p_gone"
  node moved "$p_moved" "priority = 5"; } >"$T/tunneld.conf"
cp "$T/tunneld.conf" "$T/v1.conf"

tunneld_start "$T/tunneld.conf"
td_wait 30 eval 'ctl status >/dev/null 2>&1' || td_fail "not every node came up: $(ctl status 2>&1)"
td_ok "steady, gone and moved are up"

# jfield NODE FIELD: a number of NODE's status ("since_s", "connects").
jfield() {
	ctl --json status "$1" 2>/dev/null |
		grep -o "\"$2\":[0-9.]*" | head -n 1 | cut -d: -f2
}
steady_connects=$(jfield steady connects)
[ "$steady_connects" = 1 ] || td_fail "steady has connects=$steady_connects before any reload"
sleep 2		# so that a reset of steady's since_s would show

# A connection through steady's forward, opened before any reload.
exec 5<>"/dev/tcp/127.0.0.1/$p_steady" || td_fail "cannot connect to steady's forward"
echo "before any reload" >&5
IFS= read -r -t 10 line <&5 || td_fail "no echo through steady's forward"
[ "$line" = "before any reload" ] || td_fail "steady's forward carried '$line'"

# reload_framed FROM_LINE: RELOADING=1 with a current MONOTONIC_USEC, then
# READY=1, after notify.log line FROM_LINE.
reload_framed() {
	local from=$1 ms usec rl
	notify_wait 10 ' READY=1$' "$from" || td_fail "no READY=1 after the reload"
	rl=$(tail -n "+$((from + 1))" "$T/notify.log" | grep -n ' RELOADING=1$' | head -n 1 | cut -d: -f1)
	[ -n "$rl" ] || td_fail "no RELOADING=1: $(tail -n "+$((from + 1))" "$T/notify.log")"
	tail -n "+$((from + 1))" "$T/notify.log" | sed -n "$((rl + 1))p" | grep -q ' MONOTONIC_USEC=[0-9]*$' ||
		td_fail "RELOADING=1 without MONOTONIC_USEC right after it"
	ms=$(tail -n "+$((from + 1))" "$T/notify.log" | sed -n "$((rl + 1))p" | cut -d' ' -f1)
	usec=$(tail -n "+$((from + 1))" "$T/notify.log" | sed -n "$((rl + 1))p" | sed 's/.*MONOTONIC_USEC=//')
	# Both are CLOCK_MONOTONIC: the notify-listen stamp is taken on receipt.
	[ $((ms * 1000 - usec)) -ge -1000 ] && [ $((ms * 1000 - usec)) -lt 5000000 ] ||
		td_fail "MONOTONIC_USEC=$usec is not the time of sending (received at $ms ms)"
	tail -n "+$((from + 1))" "$T/notify.log" | sed -n "$((rl + 1)),\$p" | grep -q ' READY=1$' ||
		td_fail "READY=1 came before RELOADING=1"
}

# steady_untouched WHAT: steady's session and our connection survived WHAT.
steady_untouched() {
	local c s r
	c=$(jfield steady connects)
	s=$(jfield steady since_s)
	[ "$c" = "$steady_connects" ] || td_fail "$1: steady reconnected (connects $steady_connects -> $c)"
	[ "${s:-0}" -ge 2 ] || td_fail "$1: steady's since_s was reset ($s)"
	ctl status steady | grep -Eq '^steady +up ' || td_fail "$1: steady is not up: $(ctl status steady)"
	# Still open (no EOF while idle) and still carrying.
	r=0
	read -r -t 0.5 -n 1 _ <&5 || r=$?
	[ "$r" -gt 128 ] || td_fail "$1: the connection through steady's forward was closed (read $r)"
	echo "after $1" >&5 || td_fail "$1: cannot write through steady's forward"
	r=0
	IFS= read -r -t 10 line <&5 || r=$?
	[ "$r" = 0 ] && [ "$line" = "after $1" ] ||
		td_fail "$1: steady's forward no longer echoes (read $r: '$line')"
}

# -------------------------------------------------------------- bad files

before=$(ctl --json status | sed -E 's/"(uptime_s|since_s|next_attempt_s|rtt_ms|session_s|up_s_total|down_s_total|degraded_s_total)":[0-9.e-]+/"\1":N/g')
printf 'prioriti = 5\n' >>"$T/tunneld.conf"	# a typo in the last section, [node moved]
badline=$(wc -l <"$T/tunneld.conf")
n=$(notify_lines)
lines=$(wc -l <"$T/tunneld.log")
kill -HUP "$TUNNELD_PID"
reload_framed "$n"
td_wait 10 eval 'tail -n "+$((lines + 1))" "$T/tunneld.log" | grep -qF "$T/tunneld.conf:$badline: unknown key '"'"'prioriti'"'"' in [node moved]; did you mean '"'"'priority'"'"'?"' ||
	td_fail "SIGHUP with a bad file: no file:line error in the log"
tail -n "+$((lines + 1))" "$T/tunneld.log" | grep -q 'running configuration is kept' ||
	td_fail "SIGHUP with a bad file: the log does not say the configuration is kept"
after=$(ctl --json status | sed -E 's/"(uptime_s|since_s|next_attempt_s|rtt_ms|session_s|up_s_total|down_s_total|degraded_s_total)":[0-9.e-]+/"\1":N/g')
[ "$before" = "$after" ] || td_fail "a bad file changed the status:
$before
$after"
td_alive "$TUNNELD_PID" || td_fail "tunneld died on a bad reload"
steady_untouched "SIGHUP with a bad file"
td_ok "SIGHUP, bad file: RELOADING=1/MONOTONIC_USEC/READY=1, file:line in the log, nothing changed"

# The same through tunnelctl: exit 4, the first error in the reply.
printf '[node gone]\nssh = none\n' >>"$T/tunneld.conf"
before=$(ctl --json status | sed -E 's/"(uptime_s|since_s|next_attempt_s|rtt_ms|session_s|up_s_total|down_s_total|degraded_s_total)":[0-9.e-]+/"\1":N/g')
n=$(notify_lines)
rc=0
out=$(ctl reload 2>&1) || rc=$?
[ "$rc" = 6 ] || td_fail "tunnelctl reload of a bad file exited $rc, not 6: $out"
grep -qF "$T/tunneld.conf:$badline: unknown key 'prioriti'" <<<"$out" ||
	td_fail "tunnelctl reload does not say what is wrong: $out"
grep -q 'and 1 more error' <<<"$out" || td_fail "tunnelctl reload hides the second error: $out"
reload_framed "$n"
tail -n 5 "$T/tunneld.log" | grep -qF "$T/tunneld.conf:$((badline + 1)): duplicate node 'gone'" ||
	td_fail "the second error is not in the log"
after=$(ctl --json status | sed -E 's/"(uptime_s|since_s|next_attempt_s|rtt_ms|session_s|up_s_total|down_s_total|degraded_s_total)":[0-9.e-]+/"\1":N/g')
[ "$before" = "$after" ] || td_fail "tunnelctl reload of a bad file changed the status"
steady_untouched "tunnelctl reload with a bad file"
td_ok "tunnelctl reload, bad file: exit 6: $out"

# A file with bytes that are not UTF-8: the error still reaches tunnelctl
# (the reply used to be lost, and tunnelctl waited out its timeout).
cp "$T/tunneld.conf" "$T/good.conf"
printf 'keepalive_\xff = 1s\n' >"$T/tunneld.conf"
rc=0
out=$(ctl reload 2>&1) || rc=$?
[ "$rc" = 6 ] || td_fail "tunnelctl reload of a file that is not UTF-8 exited $rc, not 6: $out"
grep -qF "$T/tunneld.conf:1: key 'keepalive_"$'\xef\xbf\xbd'"'" <<<"$out" ||
	td_fail "tunnelctl reload of a file that is not UTF-8: $out"
cp "$T/good.conf" "$T/tunneld.conf"
td_alive "$TUNNELD_PID" || td_fail "tunneld died on a reload of a file that is not UTF-8"
td_ok "tunnelctl reload, a file that is not UTF-8: exit 6, the error with U+FFFD"

# -------------------------------------------------------------- good file

{ tunneld_conf_head; node steady "$p_steady"; node moved "$p_moved" "priority = 6"
  node fresh "$p_fresh"; } >"$T/tunneld.conf"
[ -z "$(ss -Htln "sport = :$p_fresh")" ] || td_fail "something listens on $p_fresh already"
[ -n "$(ss -Htln "sport = :$p_gone")" ] || td_fail "gone's listener is not there before the reload"
ctl watch >"$T/watch" 2>&1 &
watch_pid=$!
td_track "$watch_pid"
n=$(notify_lines)
out=$(ctl reload 2>&1) || td_fail "tunnelctl reload of a good file exited $?: $out"
grep -q '1 added, 1 removed, 1 changed, 1 unchanged; moved: priority (applied, session and connections kept)$' <<<"$out" ||
	td_fail "tunnelctl reload said: $out"
reload_framed "$n"
td_wait 30 eval 'ctl status >/dev/null 2>&1' || td_fail "not every node up after the reload: $(ctl status 2>&1)"
ctl status >"$T/table" || td_fail "status after the reload"
grep -q '^gone ' "$T/table" && td_fail "gone is still listed: $(cat "$T/table")"
grep -Eq '^fresh +up ' "$T/table" || td_fail "fresh is not up: $(cat "$T/table")"
[ -z "$(ss -Htln "sport = :$p_gone")" ] || td_fail "gone's listener is still open"
[ -n "$(ss -Htln "sport = :$p_fresh")" ] || td_fail "fresh's listener is not bound"
exec 6<>"/dev/tcp/127.0.0.1/$p_fresh" || td_fail "cannot connect to fresh's forward"
echo fresh >&6
IFS= read -r -t 10 line <&6 || td_fail "no echo through fresh's forward"
exec 6>&-
[ "$line" = fresh ] || td_fail "fresh's forward carried '$line'"
[ "$(jfield moved connects)" = 1 ] || td_fail "moved reconnected for a new priority"
ctl --json status moved | grep -q '"priority":6' || td_fail "moved's new priority is not applied"
grep -q 'moved: priority changed: applied, session and connections kept' "$T/tunneld.log" ||
	td_fail "the log does not say what the reload did to moved"
steady_untouched "tunnelctl reload with a good file"
td_wait 5 grep -q 'fresh' "$T/watch" || td_fail "watch saw nothing of fresh: $(cat "$T/watch")"
td_stop "$watch_pid"
td_ok "tunnelctl reload, good file: $out; steady's session and connection untouched"

# SIGHUP with the same good file: nothing to do, nothing touched.
n=$(notify_lines)
lines=$(wc -l <"$T/tunneld.log")
kill -HUP "$TUNNELD_PID"
reload_framed "$n"
td_wait 10 eval 'tail -n "+$((lines + 1))" "$T/tunneld.log" | grep -q "0 added, 0 removed, 0 changed, 3 unchanged"' ||
	td_fail "SIGHUP with an unchanged file: $(tail -n "+$((lines + 1))" "$T/tunneld.log")"
[ "$(jfield fresh connects)" = 1 ] && [ "$(jfield moved connects)" = 1 ] ||
	td_fail "an unchanged reload reconnected fresh or moved"
steady_untouched "SIGHUP with an unchanged file"
td_ok "SIGHUP, unchanged file: 3 unchanged, no session touched"

# Timers read where they are used (probes, backoff) change without
# touching a session; a keepalive change restarts every session.
sed -i -e 's/^probe_interval = .*/probe_interval = 2s/' \
    -e 's/^backoff_max = .*/backoff_max = 3s/' -e 's/^connect_timeout = .*/connect_timeout = 4s/' \
    "$T/tunneld.conf"
out=$(ctl reload 2>&1) || td_fail "reload of new timers failed: $out"
# probe_interval reaches every node that inherits it: applied to each,
# live; backoff and connect timers are read where they are used.
grep -q '0 added, 0 removed, 3 changed, 0 unchanged; steady: probe_interval (probes updated, session and connections kept); moved: probe_interval (probes updated, session and connections kept); fresh: probe_interval (probes updated, session and connections kept)$' <<<"$out" ||
	td_fail "new probe/backoff/connect timers: $out"
steady_untouched "a reload of probe_interval, backoff_max and connect_timeout"
td_ok "probe_interval/backoff_max/connect_timeout reloaded without touching a session: $out"

sed -i -e 's/^keepalive_interval = .*/keepalive_interval = 2s/' "$T/tunneld.conf"
out=$(ctl reload 2>&1) || td_fail "reload of keepalive_interval failed: $out"
grep -q '0 added, 0 removed, 3 changed, 0 unchanged' <<<"$out" ||
	td_fail "a new keepalive_interval did not restart the sessions: $out"
grep -q 'steady: session settings (session restarted)' <<<"$out" ||
	td_fail "tunnelctl reload does not say steady's session restarted: $out"
td_wait 30 eval 'ctl status >/dev/null 2>&1' || td_fail "not every node up after the keepalive reload: $(ctl status 2>&1)"
# Restarted in place: a second session, history kept.
[ "$(jfield steady connects)" = 2 ] || td_fail "steady's session was not restarted (connects $(jfield steady connects))"
# Our connection went with steady's old session; a new one works.
exec 5>&-
exec 5<>"/dev/tcp/127.0.0.1/$p_steady" || td_fail "cannot connect to steady's forward after the restart"
echo "new session" >&5
IFS= read -r -t 10 line <&5 || td_fail "no echo through steady's new session"
[ "$line" = "new session" ] || td_fail "steady's new session carried '$line'"
steady_connects=2
sleep 2
td_ok "keepalive_interval reloaded: every session restarted ($out)"

# And back to the first file: gone returns, fresh goes, moved changes again.
# (with the keepalive of now, or every session would restart again)
sed -e 's/^keepalive_interval = .*/keepalive_interval = 2s/' "$T/v1.conf" >"$T/tunneld.conf"
n=$(notify_lines)
lines=$(wc -l <"$T/tunneld.log")
kill -HUP "$TUNNELD_PID"
reload_framed "$n"
# (v1's probe_interval differs from now's: steady gets it live, too)
td_wait 10 eval 'tail -n "+$((lines + 1))" "$T/tunneld.log" | grep -q "1 added, 1 removed, 2 changed, 0 unchanged; steady: probe_interval (probes updated, session and connections kept); moved: priority, probe_interval (probes updated"' ||
	td_fail "SIGHUP back to v1: $(tail -n "+$((lines + 1))" "$T/tunneld.log")"
td_wait 30 eval 'ctl status >/dev/null 2>&1' || td_fail "not every node up after SIGHUP: $(ctl status 2>&1)"
[ -z "$(ss -Htln "sport = :$p_fresh")" ] || td_fail "fresh's listener is still open"
[ -n "$(ss -Htln "sport = :$p_gone")" ] || td_fail "gone's listener is not back"
steady_untouched "SIGHUP back to the first file"
exec 5>&-
td_ok "SIGHUP, good file: gone back, fresh removed, steady untouched"

rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"
