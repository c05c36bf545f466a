#!/bin/bash
#
# t_control_abuse.sh: the control socket under hostile use (issue 2).
#
#   1. who may do what: an ordinary user (nobody, through setpriv) reads
#      (status, version, watch) but is refused restart/stop/start/reload
#      with a clear permission error (tunnelctl exit 4) and changes
#      nothing; the same user in admin_group, as primary or supplementary
#      group, may;
#   2. 200 abusive clients at once for as long as the checks take
#      (tests/ctl-abuse.c: garbage, binary, overlong lines, idle, half a
#      request, a request trickled a byte a second, clients that never
#      read a reply or a watch stream), each reconnecting when dropped,
#      while `tunnelctl status` keeps answering; bad requests get an error object,
#      silent and slow clients are dropped within the request timeout;
#   3. afterwards the daemon holds as many file descriptors as before;
#   4. one user's flood cannot push out another user's request, and a
#      burst of a user's own clients cannot push out its request that is
#      about to arrive (1 s grace, newcomers turned away instead).

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup


ABUSE=${TD_CTL_ABUSE:-$top_builddir/tests/ctl-abuse}
[ -x "$ABUSE" ] || td_fail "$ABUSE is not built (make check builds it)"
# The permission checks act as nobody (setpriv) and need root for that.
perms=1
if ! command -v setpriv >/dev/null; then
	echo "# no setpriv (apt-get install util-linux): permission checks skipped"
	perms=0
elif [ "$(id -u)" != 0 ]; then
	echo "# not root: cannot act as another user, permission checks skipped"
	perms=0
fi
nobody_uid=65534
# A group to be admin_group, that nobody (65534) is not a member of.
admin_group=daemon
admin_gid=$(getent group "$admin_group" | cut -d: -f3)
if [ -z "$admin_gid" ]; then
	echo "# no group daemon to be admin_group: permission checks skipped"
	admin_group=$(id -gn)
	perms=0
fi

# Another user must reach the socket: $T is mktemp's 0700.
chmod 755 "$T"

p_far=$(td_port)
closed=$(td_port)
{ tunneld_conf_head admin_group="$admin_group"; cat <<EOF; } >"$T/tunneld.conf"
[node hub]
ssh = none
gpu = none

[node far]
ssh = root@127.0.0.1:$closed
local_forward = 127.0.0.1:$p_far 127.0.0.1:9
ollama = none
EOF
# --verbose: the clients dropped to make room are logged (debug level).
tunneld_start "$T/tunneld.conf" --verbose

# as UID GID [SUPPLEMENTARY] -- tunnelctl ARGS...
as() {
	local uid=$1 gid=$2 groups=$3
	shift 4
	if [ -n "$groups" ]; then
		timeout 30 setpriv --reuid="$uid" --regid="$gid" --groups="$groups" \
		    "$TUNNELCTL" --socket "$T/control.sock" "$@"
	else
		timeout 30 setpriv --reuid="$uid" --regid="$gid" --clear-groups \
		    "$TUNNELCTL" --socket "$T/control.sock" "$@"
	fi
}

# ---------------------------------------------------------- permissions

perm_checks() {
	rc=0
	out=$(as $nobody_uid $nobody_uid '' -- status 2>&1) || rc=$?
	[ "$rc" = 0 ] || [ "$rc" = 1 ] || td_fail "nobody: status exited $rc: $out"
	grep -Eq '^far +backoff' <<<"$out" || td_fail "nobody: status shows: $out"
	out=$(as $nobody_uid $nobody_uid '' -- version 2>&1) || td_fail "nobody: version exited $?: $out"
	as $nobody_uid $nobody_uid '' -- --json watch >"$T/watch" 2>&1 &
	watch_pid=$!
	td_track "$watch_pid"
	td_wait 10 grep -q '"event":"hello"' "$T/watch" || td_fail "nobody: watch: $(cat "$T/watch")"
	for cmd in "restart far" "restart all" "stop far" "start far" "reload"; do
		rc=0
		# shellcheck disable=SC2086  # the words of the command
		out=$(as $nobody_uid $nobody_uid '' -- $cmd 2>&1) || rc=$?
		[ "$rc" = 4 ] || td_fail "nobody: '$cmd' exited $rc, not 4: $out"
		[ "$out" = "tunnelctl: permission denied: ${cmd%% *} needs group $admin_group" ] ||
			td_fail "nobody: '$cmd' said: $out"
	done
	ctl status far | grep -Eq '^far +backoff' || td_fail "a refused stop changed far: $(ctl status far)"
	grep -q '"to":"stopped"' "$T/watch" && td_fail "a refused command stopped a node"
	td_ok "nobody: status, version, watch allowed; restart/stop/start/reload refused (exit 4, 'permission denied: ... needs group $admin_group')"

	# In admin_group, as the primary group, then as a supplementary one.
	out=$(as $nobody_uid "$admin_gid" '' -- stop far 2>&1) || td_fail "nobody with gid $admin_gid: stop exited $?: $out"
	td_wait 10 grep -q '"node":"far","from":"[a-z]*","to":"stopped"' "$T/watch" ||
		td_fail "the admin's stop did not stop far: $(cat "$T/watch")"
	out=$(as $nobody_uid $nobody_uid "$admin_gid" -- start far 2>&1) ||
		td_fail "nobody with supplementary group $admin_gid: start exited $?: $out"
	td_wait 10 grep -q '"node":"far","from":"stopped"' "$T/watch" || td_fail "the admin's start did not start far"
	out=$(as $nobody_uid $nobody_uid "$admin_gid" -- reload 2>&1) || td_fail "admin reload exited $?: $out"
	td_ok "admin_group as primary or supplementary group: stop, start, reload allowed"

	# A reload that changes admin_group applies it to the next client.
	local nogroup
	nogroup=$(getent group $nobody_uid | cut -d: -f1)
	if [ -n "$nogroup" ]; then
		sed -i "s/^admin_group = .*/admin_group = $nogroup/" "$T/tunneld.conf"
		ctl reload >/dev/null || td_fail "reload with admin_group = $nogroup failed"
		out=$(as $nobody_uid $nobody_uid '' -- restart far 2>&1) ||
			td_fail "nobody after admin_group = $nogroup: restart exited $?: $out"
		rc=0
		out=$(as $nobody_uid "$admin_gid" "$admin_gid" -- stop far 2>&1) || rc=$?
		[ "$rc" = 4 ] && [ "$out" = "tunnelctl: permission denied: stop needs group $nogroup" ] ||
			td_fail "group $admin_group still admin after the reload: rc $rc: $out"
		sed -i "s/^admin_group = .*/admin_group = $admin_group/" "$T/tunneld.conf"
		ctl reload >/dev/null || td_fail "reload back to admin_group = $admin_group failed"
		td_ok "a reload applies a new admin_group ($nogroup) at once"
	fi
	td_stop "$watch_pid"
}
if [ "$perms" = 1 ]; then
	perm_checks
fi

# ------------------------------------------------------ slow clients

# get KIND FIELD: the value of FIELD on KIND's line.
get() {
	if [ "$2" = first_reply ]; then
		grep "^$1 " "$T/abuse.out" | sed 's/.*first_reply=//'
	else
		grep "^$1 " "$T/abuse.out" | grep -o "$2=[^ ]*" | head -n 1 | cut -d= -f2-
	fi
}

# A few of each kind, below the cap on clients: nothing is evicted to make
# room, so only the request timeout (5 s to send a whole request) can drop
# the silent, half-sent and trickled ones.
"$ABUSE" "$T/control.sock" 24 16 >"$T/abuse.out" 2>"$T/abuse.err" ||
	td_fail "ctl-abuse (slow clients) failed: $(cat "$T/abuse.err")"
cat "$T/abuse.out"
for k in idle half trickle; do
	[ "$(get $k closed)" -ge 3 ] || td_fail "$k clients were not dropped within 16 s"
	[ "$(get $k replies)" = 0 ] || td_fail "$k clients got a reply"
	ms=$(get $k max_open_ms)
	[ "$ms" -ge 4000 ] && [ "$ms" -lt 12000 ] || td_fail "a $k client was dropped after $ms ms (the timeout is 5 s)"
done
td_ok "idle, half-sent and trickling clients dropped at the 5 s request timeout (longest: idle $(get idle max_open_ms) ms, half $(get half max_open_ms) ms, trickle $(get trickle max_open_ms) ms)"

fds() { td_fds "$TUNNELD_PID"; }

# ------------------------------------------------- one user's flood

# held NAME DELAY: a control client that connects and sends "status"
# DELAY seconds later, in one process whatever the load (the request is
# in the pipe by then; socat connects first, then sends what it reads),
# its answer in $T/NAME.out.  Driven step by step from this shell, the
# wait could stretch past the daemon's limits on a loaded machine (5 s to
# send a request; 1 s of grace against a newer client of the same user),
# and the daemon would rightly drop it.  answered NAME WHAT: wait (30 s)
# for the answer, which must be ok.
held() {
	{ sleep "$2"; echo status; } |
	    socat -t 10 - UNIX-CONNECT:"$T/control.sock" >"$T/$1.out" 2>&1 &
	HELD_PID=$!
	td_track "$HELD_PID"
}
# connected: the held client's socat holds an established Unix socket (or
# is done already).
connected() {
	td_alive "$HELD_PID" || return 0
	[ -n "$(ss -Hxp state established 2>/dev/null | grep "pid=$HELD_PID,")" ]
}
answered() {
	td_wait 30 td__gone "$HELD_PID" || td_fail "held client $1 got no answer ($2)"
	grep -q '"ok":true' "$T/$1.out" ||
		td_fail "held client $1: request dropped ($2): $(head -c 300 "$T/$1.out")"
}

# nobody opens 200 idle clients at once, far past the 128 the daemon
# keeps, and reconnects each one it loses; meanwhile root connects and
# waits past its 1 s of grace before sending its request.  Room is made at
# the flooder's expense: root's request, the oldest unanswered one by then,
# is still read and answered.  The flood comes first and runs until ended
# (SIGUSR1): root's request must come within 5 s of connecting, and on a
# busy machine the flood takes its time to fill the table.
flood_by_nobody() {
	local abuse_pid
	drops() { grep -c "dropping pid [0-9]* uid $nobody_uid" "$T/tunneld.log"; }
	setpriv --reuid=$nobody_uid --regid=$nobody_uid --clear-groups \
	    "$ABUSE" "$T/control.sock" 200 120 idle >"$T/abuse-nobody.out" 2>&1 &
	abuse_pid=$!
	td_track "$abuse_pid"
	# Full, and evictions under way: nobody's idle clients are dropped,
	# once past their 1 s of grace.
	td_wait 60 eval '[ "$(drops)" -ge 20 ]' ||
		td_fail "nobody's flood made no room: $(grep -c "dropping pid" "$T/tunneld.log") drops, $(fds) fds"
	held held 1.5	# past its grace, while evictions go on
	answered held "root's, during nobody's flood"
	td_alive "$abuse_pid" || td_fail "nobody's flood ended early: $(cat "$T/abuse-nobody.out")"
	kill -USR1 "$abuse_pid"
	td_wait 60 td__gone "$abuse_pid" || td_fail "ctl-abuse (as nobody) did not finish"
	wait "$abuse_pid" || td_fail "ctl-abuse (as nobody) failed: $(cat "$T/abuse-nobody.out")"
	td_ok "nobody's 200 idle clients filled the table ($(drops) of theirs dropped); root's request, sent 1.5 s after connecting, was answered"
}
if [ "$perms" = 1 ]; then
	command -v socat >/dev/null || td_fail "no socat (apt-get install socat)"
	flood_by_nobody
fi

# ------------------------------------------------ a burst from oneself

# The table is full of this user's idle clients, old enough to go; one
# more connects and sends its request 500 ms later, while 300 more of the
# same user arrive at once.  The burst may take the old clients' places,
# but not the one that is about to speak: a client has 1 s to send before
# a newer one of its own user may take its place, and newcomers beyond
# that are turned away.  (Before, a burst accepted in one go pushed out
# every older waiting client, the request about to arrive with them.)
burst_by_self() {
	local base old_pid burst_pid
	command -v socat >/dev/null || td_fail "no socat (apt-get install socat)"
	base=$(fds)
	"$ABUSE" "$T/control.sock" 127 6 idle >"$T/abuse-old.out" 2>&1 &
	old_pid=$!
	td_track "$old_pid"
	td_wait 5 eval '[ "$(fds)" -ge $((base + 120)) ]' ||
		td_fail "127 idle clients did not connect ($(fds) fds, base $base)"
	sleep 1.5	# past their grace
	# The held client is in the table before the burst starts (a newcomer
	# to a table full of its user's fresh clients is turned away), and
	# sends within its grace.  On a loaded machine seeing it connected may
	# take longer than that: then its request is answered before the
	# burst, and the check is weaker but holds.
	held burst 0.5
	td_wait 30 connected || td_fail "held client burst never connected"
	"$ABUSE" "$T/control.sock" 300 3 idle >"$T/abuse-burst.out" 2>&1 &
	burst_pid=$!
	td_track "$burst_pid"
	answered burst "sent into a burst of its own user's clients"
	td_wait 20 td__gone "$burst_pid" || td_fail "ctl-abuse (burst) did not finish"
	td_wait 20 td__gone "$old_pid" || td_fail "ctl-abuse (idle) did not finish"
	wait "$burst_pid" || td_fail "ctl-abuse (burst) failed: $(cat "$T/abuse-burst.out")"
	wait "$old_pid" || td_fail "ctl-abuse (idle) failed: $(cat "$T/abuse-old.out")"
	td_ok "a burst of 300 clients of one user: its request sent 500 ms after connecting was answered ($(grep -c "turning away uid $(id -u)\$" "$T/tunneld.log") newcomers turned away)"
}
burst_by_self

# ------------------------------------------------------------- abuse

base_fds=$(fds)
[ "$base_fds" -gt 3 ] || td_fail "cannot count tunneld's fds ($base_fds)"

# The flood lasts as long as the checks below take (SIGUSR1 ends it), at
# most 120 s: a busy machine makes them slower, not the flood shorter.
"$ABUSE" "$T/control.sock" 200 120 >"$T/abuse.out" 2>"$T/abuse.err" &
abuse_pid=$!
td_track "$abuse_pid"
sleep 3		# let the flood build up
# The flood is this user's own: when all 128 places are taken by its
# clients still in their 1 s of grace, the daemon turns a newcomer away
# (accepts and closes it: tunnelctl says the daemon is unreachable, exit 3)
# and says so in its log.  A busy machine makes that likelier (the flood's
# clients stay young while the daemon catches up).  Such a try is retried;
# any other failure is not, and each status must get through within 10
# tries.
me=$(id -u)
turned_away() {
	grep -c "turning away uid $me\$" "$T/tunneld.log"
}
peak=0
slowest=0
retried=0
for i in 1 2 3 4 5 6 7 8; do
	for ((try = 1; ; try++)); do
		before=$(turned_away)
		t0=$EPOCHREALTIME
		rc=0
		TD_CTL_TIMEOUT=20 ctl status >"$T/status.$i" 2>&1 || rc=$?
		t1=$EPOCHREALTIME
		[ "$rc" = 3 ] && [ "$(turned_away)" -gt "$before" ] && [ "$try" -lt 10 ] || break
		retried=$((retried + 1))
		sleep 0.2
	done
	ms=$(( (${t1/./} - ${t0/./}) / 1000 ))
	[ "$ms" -gt "$slowest" ] && slowest=$ms
	[ "$rc" = 1 ] || td_fail "status during the flood (try $i) exited $rc after $ms ms: $(cat "$T/status.$i")"
	grep -Eq '^far +backoff' "$T/status.$i" || td_fail "status during the flood: $(cat "$T/status.$i")"
	n=$(fds)
	[ "$n" -gt "$peak" ] && peak=$n
	sleep 1
done
td_alive "$abuse_pid" || td_fail "ctl-abuse ended early: $(cat "$T/abuse.err")"
kill -USR1 "$abuse_pid"
td_ok "8 x tunnelctl status answered during the flood (slowest $slowest ms, $retried tries turned away and retried; daemon fds peaked at $peak, base $base_fds)"

td_wait 60 td__gone "$abuse_pid" || td_fail "ctl-abuse did not finish"
wait "$abuse_pid" || td_fail "ctl-abuse failed: $(cat "$T/abuse.err")"
td_alive "$TUNNELD_PID" || td_fail "tunneld died under the flood"
cat "$T/abuse.out"

for k in garbage binary overlong idle half trickle noread watchmute; do
	[ "$(get $k conns)" -ge 1 ] || td_fail "no $k client ever connected"
done
# Bad requests: an error object each, then the close.
for k in garbage binary overlong; do
	[ "$(get $k replies)" -ge 1 ] || td_fail "$k clients got no reply"
	[ "$(get $k closed)" -ge "$(get $k replies)" ] || td_fail "$k clients were not closed after the reply"
done
grep -q '^garbage .*first_reply={"ok":false,"error":"unknown command' "$T/abuse.out" || td_fail "garbage: wrong reply"
grep -q '^binary .*first_reply={"ok":false,"error":"malformed request' "$T/abuse.out" || td_fail "binary: wrong reply"
grep -q '^overlong .*first_reply={"ok":false,"error":"request too long' "$T/abuse.out" || td_fail "overlong: wrong reply"
grep -q '"protocol":1' <<<"$(get garbage first_reply)" || td_fail "error replies lack \"protocol\":1"
# Silent, half-sent and trickled requests are dropped (evicted for newer
# clients past the cap, or at the request timeout): none is kept long.
for k in idle half trickle; do
	[ "$(get $k closed)" -ge 1 ] || td_fail "$k clients were never dropped"
	[ "$(get $k replies)" = 0 ] || td_fail "$k clients got a reply to nothing"
	[ "$(get $k max_open_ms)" -lt 12000 ] || td_fail "a $k client was kept $(get $k max_open_ms) ms"
done
[ "$(get noread closed)" -ge 1 ] || td_fail "noread clients were never closed after their reply"
td_ok "errors for garbage/binary/overlong; idle, half and trickling clients dropped ($(get idle closed)+$(get half closed)+$(get trickle closed); longest kept: idle $(get idle max_open_ms) ms, half $(get half max_open_ms) ms, trickle $(get trickle max_open_ms) ms)"

# Every connection of the flood is gone: the daemon is back to its fds.
td_wait 20 eval '[ "$(fds)" -le "$base_fds" ]' ||
	td_fail "tunneld holds $(fds) fds after the flood, $base_fds before: $(ls -l "/proc/$TUNNELD_PID/fd")"
out=$(ctl --json status) || [ $? = 1 ] || td_fail "status after the flood failed"
grep -q '"ok":true' <<<"$out" || td_fail "status after the flood: $out"
td_ok "after the flood: $(fds) fds (base $base_fds), status answers"

rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc after the flood"
