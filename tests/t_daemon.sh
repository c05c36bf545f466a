#!/bin/bash
#
# t_daemon.sh: the daemon's skeleton end to end (issue 2), against the real
# tunneld and tunnelctl binaries.
#
#   1. command line: --help, --version, bad options, --check-config on the
#      shipped example (0) and on a file with one error of every kind (78,
#      every error printed with file:line);
#   2. systemd protocol through notify-listen: READY=1 only once the control
#      socket and every local forward's listener are bound (a busy port: no
#      READY, exit 1), STATUS= lines, WATCHDOG=1 about every half of
#      WATCHDOG_USEC, none while the daemon is frozen (SIGSTOP) and again
#      after SIGCONT, STOPPING=1 and exit 0 on SIGTERM and on SIGINT,
#      listeners and the socket gone afterwards;
#   3. tunnelctl against it: the status table, --json (the daemon's line
#      unchanged, "protocol":1), version, watch, stop/start, and a daemon
#      that is not running (one line naming the socket and errno, exit 3);
#   4. the control socket's mode, and a second tunneld on the same socket
#      (refused; the first keeps its socket).
#
# No sshd is needed: `far` points at a closed loopback port (it stays in
# backoff but its local listener is bound), `hub` is ssh = none.
# Reload, permissions and abusive clients: t_reload.sh, t_control_abuse.sh.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup


# Every tunneld this test starts runs under TD_TUNNELD_WRAPPER when set
# (make valgrind), like those of tunneld_start.
read -r -a wrap <<<"${TD_TUNNELD_WRAPPER:-}"

# strerror() texts and the table's arrows.
for l in C.UTF-8 C.utf8 en_US.UTF-8; do
	if LC_ALL=$l bash -c '[ ${#1} -eq 1 ]' _ "→" 2>/dev/null; then
		export LC_ALL=$l
		break
	fi
done

# ------------------------------------------------------------ command line

out=$("$TUNNELD" --help) || td_fail "--help exited $?"
grep -q -- '--check-config' <<<"$out" || td_fail "--help does not list --check-config: $out"
grep -q '^usage: tunneld' <<<"$out" || td_fail "--help has no usage line: $out"
out=$("$TUNNELD" --version) || td_fail "--version exited $?"
[[ $out =~ ^tunneld\ [0-9]+\.[0-9]+\.[0-9]+ ]] || td_fail "--version printed '$out'"
version=${out#tunneld }
rc=0
"$TUNNELD" --no-such-option >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || td_fail "an unknown option exited $rc, not 2"
td_ok "--help, --version ($version), bad option (2)"

# The shipped example as the package installs it: a valid file, but on
# this machine its key, its known_hosts and its group do not exist, and
# each would fail at once: reported with its line, exit 78.
sed -e "s|^control_socket .*|control_socket = $T/example.sock|" \
    "$top_srcdir/etc/tunneld.conf" >"$T/example.conf"
ex=$T/example.conf
rc=0
out=$("${wrap[@]}" "$TUNNELD" --check-config --config "$ex" 2>&1) || rc=$?
[ "$rc" = 78 ] || td_fail "--check-config on the untouched example exited $rc, not 78: $out"
kl=$(grep -n '^known_hosts ' "$ex" | cut -d: -f1)
gl=$(grep -n '^admin_group ' "$ex" | cut -d: -f1)
il=$(grep -n '^identity ' "$ex" | head -n 1 | cut -d: -f1)
grep -qF "$ex:$kl: known_hosts /etc/tunneld/known_hosts cannot be read (No such file or directory)" <<<"$out" ||
	td_fail "a missing known_hosts is not reported at line $kl: $out"
if ! getent group tunneld >/dev/null; then
	grep -qF "$ex:$gl: admin_group 'tunneld' does not exist" <<<"$out" ||
		td_fail "an unknown admin_group is not reported at line $gl: $out"
fi
# A systemd credential exists only while the service runs: a warning.
grep -qF "warning: $ex:$il: node 'runpod': identity /run/credentials/tunneld.service/mesh_ed25519 cannot be read" <<<"$out" ||
	td_fail "a missing credential is not warned about at line $il: $out"
! grep -q 'configuration OK' <<<"$out" || td_fail "--check-config said OK to what fails: $out"
[ ! -e "$T/example.sock" ] || td_fail "--check-config created the control socket"
td_ok "--check-config: the untouched example's missing known_hosts and group, with their lines (78)"

# Any other key file that cannot be read is an error.
sed -e "s|^identity .*|identity = $T/no-such-key|" "$ex" >"$T/nokey.conf"
rc=0
out=$("${wrap[@]}" "$TUNNELD" --check-config --config "$T/nokey.conf" 2>&1) || rc=$?
[ "$rc" = 78 ] && grep -qxF "$T/nokey.conf:$il: node 'runpod': identity $T/no-such-key cannot be read: No such file or directory" <<<"$out" ||
	td_fail "a missing identity file: rc $rc: $out"
td_ok "--check-config: an identity file that cannot be read, at its line (78)"

# Pointed at files that exist and a group that does: valid.
: >"$T/known_hosts"
: >"$T/mesh_key"
sed -i -e "s|^known_hosts .*|known_hosts = $T/known_hosts|" \
    -e "s|^admin_group .*|admin_group = $(id -gn)|" \
    -e "s|^identity .*|identity = $T/mesh_key|" "$ex"
out=$("${wrap[@]}" "$TUNNELD" --check-config --config "$ex" 2>&1) ||
	td_fail "--check-config on etc/tunneld.conf exited $?: $out"
grep -q 'configuration OK (3 nodes, 0 pools)' <<<"$out" || td_fail "--check-config said: $out"
td_ok "--check-config: etc/tunneld.conf is valid once its files exist"

# A listen address another program holds now: a warning, with its line.
socat TCP-LISTEN:0,bind=127.0.0.1,reuseaddr /dev/null </dev/null >/dev/null 2>&1 &
squat_pid=$!
td_track "$squat_pid"
td_wait 5 eval '[ -n "$(ss -Htlnp | grep "pid=$squat_pid,")" ]' || td_fail "socat did not listen"
p_squat=$(ss -Htlnp | grep "pid=$squat_pid," | awk '{print $4}' | sed 's/.*://')
{ tunneld_conf_head; printf '[node hub]\nssh = none\ngpu = none\n\n[node n]\nssh = root@127.0.0.1:1\nlocal_forward = 127.0.0.1:%s 127.0.0.1:9\n' "$p_squat"; } >"$T/squat.conf"
fl=$(grep -n '^local_forward' "$T/squat.conf" | cut -d: -f1)
out=$("${wrap[@]}" "$TUNNELD" --check-config --config "$T/squat.conf" 2>&1) ||
	td_fail "--check-config with a port in use exited $?: $out"
grep -qF "warning: $T/squat.conf:$fl: node 'n': local_forward: 127.0.0.1:$p_squat is in use on this machine now" <<<"$out" ||
	td_fail "a listen address in use is not warned about: $out"
grep -q 'configuration OK (2 nodes, 0 pools)' <<<"$out" || td_fail "--check-config said: $out"
td_stop "$squat_pid"
td_ok "--check-config: a listen address in use on this machine is a warning at its line"

rc=0
out=$("${wrap[@]}" "$TUNNELD" --check-config --config "$T/missing.conf" 2>&1) || rc=$?
[ "$rc" = 78 ] || td_fail "--check-config on a missing file exited $rc, not 78"
grep -q "$T/missing.conf: No such file or directory" <<<"$out" ||
	td_fail "a missing file is not explained: $out"

# One error of each kind; every one must be reported, with its line.
cat >"$T/bad.conf" <<EOF
[tunneld]
control_socket = $T/bad.sock
keepalive_intervl = 5s
connect_timeout = 10 parsecs
keepalive_count = three

[node a]
ssh = none
[node a]
ssh = none

[node b]
ssh = root@127.0.0.1:2222
local_forward = 127.0.0.1:11435
local_forward = 127.0.0.1:70000 127.0.0.1:11434
local_forward = 127.0.0.1:21000 127.0.0.1:1
local_forward = 127.0.0.1:21000 127.0.0.1:2
local_forward = :21001 127.0.0.1:2
prioriti = 2

[node c]
gpu = none
[alerts]
gpu_mem_pct = 120
[bogus]
EOF
rc=0
"${wrap[@]}" "$TUNNELD" --check-config --config "$T/bad.conf" >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" = 78 ] || td_fail "--check-config on a bad file exited $rc, not 78: $(cat "$T/bad.out")"
while IFS= read -r want; do
	grep -qxF -- "$T/bad.conf:$want" "$T/bad.out" ||
		td_fail "--check-config did not report '$want'; it printed:
$(cat "$T/bad.out")"
done <<'EOF'
3: unknown key 'keepalive_intervl' in [tunneld]; did you mean 'keepalive_interval'?
4: connect_timeout: invalid duration '10 parsecs'
5: keepalive_count: invalid number 'three'
9: duplicate node 'a' (first defined at line 7)
14: local_forward: malformed forward '127.0.0.1:11435': expected 'LISTEN TARGET', e.g. '127.0.0.1:11435 127.0.0.1:11434'
15: local_forward: port 70000 out of range
17: listen address 127.0.0.1:21000 already used at line 16
18: local_forward: listen address ':21001' is not loopback; write 0.0.0.0 or :: explicitly to listen on every interface
19: unknown key 'prioriti' in [node b]; did you mean 'priority'?
21: node 'c': missing required key 'ssh'
24: gpu_mem_pct: 120 out of range (1 to 100)
25: unknown section [bogus]
EOF
[ ! -e "$T/bad.sock" ] || td_fail "--check-config on a bad file created the socket"
# The daemon itself refuses it the same way, before touching anything.
rc=0
timeout 60 "${wrap[@]}" "$TUNNELD" --config "$T/bad.conf" --foreground --log stderr \
    >"$T/bad-run.out" 2>&1 </dev/null || rc=$?
[ "$rc" = 78 ] || td_fail "tunneld on a bad file exited $rc, not 78"
grep -qF "$T/bad.conf:3: unknown key" "$T/bad-run.out" || td_fail "tunneld on a bad file: $(cat "$T/bad-run.out")"
td_ok "--check-config: 12 errors of 12 kinds reported with file:line, exit 78"

# ------------------------------------------------------- start: READY=1

notify_listen
p_far=$(td_port)
p_off=$(td_port)
p_busy=$(td_port)
closed=$(td_port)	# nothing listens there: `far` stays in backoff
write_conf() {
	{ tunneld_conf_head; cat <<EOF; } >"$T/tunneld.conf"
[node hub]
ssh = none
gpu = none
priority = 3

[node far]
ssh = root@127.0.0.1:$closed
local_forward = 127.0.0.1:$p_far 127.0.0.1:9
ollama = none
priority = 1

$*

[node off]
ssh = root@127.0.0.1:$closed
local_forward = 127.0.0.1:$p_off 127.0.0.1:9
ollama = none
enabled = no
EOF
}

# A listener that cannot be bound: READY=1 would be a lie, so no READY and
# a failed start (systemd's Restart= tries again).
socat TCP-LISTEN:"$p_busy",bind=127.0.0.1,reuseaddr,fork /dev/null </dev/null >/dev/null 2>&1 &
busy_pid=$!
td_track "$busy_pid"
td_wait 5 eval '[ -n "$(ss -Htln "sport = :$p_busy")" ]' || td_fail "socat did not listen on $p_busy"
write_conf "local_forward = 127.0.0.1:$p_busy 127.0.0.1:9"
n0=$(notify_lines)
rc=0
timeout 60 "${wrap[@]}" "$TUNNELD" --config "$T/tunneld.conf" --foreground --log stderr \
    >"$T/busy.out" 2>&1 </dev/null || rc=$?
[ "$rc" = 1 ] || td_fail "tunneld with port $p_busy taken exited $rc, not 1: $(cat "$T/busy.out")"
grep -q "127.0.0.1:$p_busy" "$T/busy.out" || td_fail "the busy port is not named: $(cat "$T/busy.out")"
! td__notify_match ' READY=1$' "$n0" || td_fail "READY=1 although 127.0.0.1:$p_busy was not bound"
[ ! -e "$T/control.sock" ] || td_fail "a failed start left $T/control.sock behind"
# Started by hand (detaching, the default), the same: the reason on the
# caller's stderr, exit 1, no daemon left behind.
rc=0
timeout 60 env -u NOTIFY_SOCKET "$TUNNELD" --config "$T/tunneld.conf" >"$T/detach.out" 2>"$T/detach.err" </dev/null || rc=$?
[ "$rc" = 1 ] || td_fail "detaching tunneld with port $p_busy taken exited $rc, not 1: $(cat "$T/detach.err")"
grep -q "127.0.0.1:$p_busy" "$T/detach.err" || td_fail "detaching tunneld did not say why: $(cat "$T/detach.err")"
[ ! -e "$T/control.sock" ] || td_fail "a failed detached start left a daemon or its socket"
[ -z "$(ss -Htln "sport = :$p_far")" ] || td_fail "a failed detached start left a listener on $p_far"
td_stop "$busy_pid"
td_ok "a local forward that cannot be bound: no READY=1, exit 1, port named (also detached: $(head -n 1 "$T/detach.err" | cut -c1-90))"

# Detached and well: the command returns once the daemon is ready, so the
# control socket answers at once.
write_conf
rc=0
timeout 60 env -u NOTIFY_SOCKET "$TUNNELD" --config "$T/tunneld.conf" >"$T/detach.out" 2>"$T/detach.err" </dev/null || rc=$?
[ "$rc" = 0 ] || td_fail "detaching tunneld exited $rc: $(cat "$T/detach.err")"
dpid=$(ctl --json status | sed -n 's/.*"pid":\([0-9]*\),.*/\1/p') || :
[ -n "$dpid" ] || td_fail "a detached tunneld that said it was ready does not answer"
td_track "$dpid"
[ "$(ps -o ppid= -p "$dpid" | tr -d ' ')" != "$$" ] || td_fail "tunneld did not detach"
kill -TERM "$dpid"
td_wait 10 td__gone "$dpid" || td_fail "detached tunneld $dpid ignores SIGTERM"
td_ok "detached: exit 0 only once ready (pid $dpid answered at once), SIGTERM stops it"

write_conf
n0=$(notify_lines)
# The config may come from a descriptor the daemon inherits (-c /dev/fd/N),
# kept for a reload; any other left open by whoever starts it is closed.
exec {conf_fd}<"$T/tunneld.conf" {leak}>"$T/leaked"
# TUNNELD_LOG_CAPTURE: each log entry's journal fields, one line each.
WATCHDOG_USEC=2000000 TUNNELD_LOG_CAPTURE=$T/capture tunneld_start "/dev/fd/$conf_fd"
exec {conf_fd}<&- {leak}>&-
! find "/proc/$TUNNELD_PID/fd" -mindepth 1 -lname "$T/leaked" | grep -q . ||
	td_fail "tunneld keeps a descriptor it inherited: $(ls -l "/proc/$TUNNELD_PID/fd")"
[ "$(readlink "/proc/$TUNNELD_PID/fd/$conf_fd")" = "$T/tunneld.conf" ] ||
	td_fail "tunneld closed the descriptor its config came from: $(ls -l "/proc/$TUNNELD_PID/fd")"
# READY=1 has been received: the control socket and the listener must
# already accept (the kernel completes the handshake on a bound listener).
exec 3<>"/dev/tcp/127.0.0.1/$p_far" || td_fail "READY=1 but 127.0.0.1:$p_far refuses"
exec 3>&-
# A node disabled in the config holds no port.
[ -z "$(ss -Htln "sport = :$p_off")" ] || td_fail "disabled node 'off' listens on $p_off"
[ -S "$T/control.sock" ] || td_fail "READY=1 but no control socket"
[ "$(grep -c ' READY=1$' "$T/notify.log")" = 1 ] || td_fail "READY=1 sent more than once"
# Nothing but STATUS= before READY=1 (no WATCHDOG before it, no STOPPING).
sed -n "$((n0 + 1)),\$p" "$T/notify.log" | sed '/ READY=1$/q' | grep -v ' READY=1$' |
	grep -v ' STATUS=' && td_fail "unexpected notifications before READY=1"
td_ok "READY=1 after the control socket and every local listener are bound"

# STATUS= says how many nodes are up and what is wrong with the first one
# that is not ('off' is disabled: 'far', which is failing, is worse).
notify_wait 10 ' STATUS=1/3 nodes up; far backoff( [0-9]+s)?: connection refused$' ||
	td_fail "no STATUS= line naming far's failure"
td_ok "STATUS=$(grep ' STATUS=' "$T/notify.log" | tail -n 1 | cut -d= -f2-)"

# The entries systemd's journal gets: PRIORITY, TUNNELD_NODE,
# TUNNELD_EVENT and TUNNELD_REASON on a node's transition.
td_wait 10 grep -qP '^PRIORITY=4\tTUNNELD_NODE=far\tTUNNELD_EVENT=state\tTUNNELD_REASON=connection refused\tMESSAGE=far: [a-z]+ -> backoff: connection refused$' "$T/capture" ||
	td_fail "no journal entry for far's backoff: $(cat "$T/capture")"
grep -qP '^PRIORITY=5\tTUNNELD_NODE=hub\tTUNNELD_EVENT=state\tMESSAGE=hub: stopped -> up$' "$T/capture" ||
	td_fail "no journal entry for hub going up: $(cat "$T/capture")"
td_ok "journal fields: PRIORITY, TUNNELD_NODE, TUNNELD_EVENT, TUNNELD_REASON"

# ------------------------------------------------------------- WATCHDOG=1

# wd_gaps FROM_LINE: the spacing (ms) of consecutive WATCHDOG=1 after FROM_LINE.
wd_gaps() {
	tail -n "+$(($1 + 1))" "$T/notify.log" | awk '/ WATCHDOG=1$/ {
		if (prev != "") print $1 - prev; prev = $1 }'
}
n1=$(notify_lines)
td_wait 20 eval '[ "$(wd_gaps "$n1" | wc -l)" -ge 5 ]' || td_fail "fewer than 6 WATCHDOG=1 in 20 s"
gaps=$(wd_gaps "$n1" | head -n 5 | tr '\n' ' ')
for g in $gaps; do
	# Half of WATCHDOG_USEC is 1000 ms; systemd kills at 2000 ms.
	[ "$g" -ge 500 ] && [ "$g" -lt 1800 ] ||
		td_fail "WATCHDOG=1 spacing ${g} ms (want about 1000, always < 2000): $gaps"
done
td_ok "WATCHDOG=1 every ~1 s with WATCHDOG_USEC=2000000 (gaps ms: $gaps)"

# Frozen, the loop does not turn: no pings.  Thawed, they resume.
kill -STOP "$TUNNELD_PID"
td_wait 5 eval '[ "$(td_state "$TUNNELD_PID")" = T ]' || td_fail "tunneld did not stop on SIGSTOP"
sleep 0.5	# a datagram sent just before the stop may still be in flight
n2=$(notify_lines)
sleep 3
n3=$(notify_lines)
[ "$n3" = "$n2" ] || td_fail "notifications while frozen: $(tail -n "+$((n2 + 1))" "$T/notify.log")"
kill -CONT "$TUNNELD_PID"
notify_wait 5 ' WATCHDOG=1$' "$n3" || td_fail "no WATCHDOG=1 within 5 s of SIGCONT"
td_wait 20 eval '[ "$(wd_gaps "$n3" | wc -l)" -ge 3 ]' || td_fail "WATCHDOG=1 did not resume its pace"
gaps=$(wd_gaps "$n3" | head -n 3 | tr '\n' ' ')
for g in $gaps; do
	[ "$g" -ge 500 ] && [ "$g" -lt 1800 ] || td_fail "WATCHDOG=1 spacing after SIGCONT: $gaps"
done
td_ok "no WATCHDOG=1 for 3 s while frozen (SIGSTOP); resumed after SIGCONT (gaps ms: $gaps)"

# --------------------------------------------------------------- tunnelctl

# status: a table; exit 1 because not every node is up.
rc=0
ctl status >"$T/table" 2>&1 || rc=$?
[ "$rc" = 1 ] || td_fail "tunnelctl status exited $rc, not 1 (a node is down): $(cat "$T/table")"
head -n 1 "$T/table" | grep -Eq '^NODE +STATE +FOR +NEXT +SESSION +PORTS ' || td_fail "no table header: $(cat "$T/table")"
d='[0-9]+[smhd]([0-9]+[smh])?'
grep -Eq "^hub +up +$d " "$T/table" || td_fail "hub not 'up AGE': $(cat "$T/table")"
# The countdown (NEXT) is '-' while an attempt is in flight (seen under
# valgrind, where the 0.2 s retries overlap the query).
grep -Eq "^far +backoff +$d +($d|-) +- +127\.0\.0\.1:$p_far->9 .*connection refused\$" "$T/table" ||
	td_fail "far's row lacks state, time, next attempt, port map or reason: $(cat "$T/table")"
grep -Eq "^off +stopped +$d +- +- +127\.0\.0\.1:$p_off->9 .*disabled in config\$" "$T/table" ||
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
grep -Eq "^  ssh +root@127\.0\.0\.1:$closed, last rtt -\$" "$T/detail" || td_fail "detail lacks ssh: $(cat "$T/detail")"
grep -Eq "^  session +none; 0 connects, 0 reconnects\$" "$T/detail" || td_fail "detail lacks the session: $(cat "$T/detail")"
grep -Eq "^  last error +connection refused\$" "$T/detail" || td_fail "detail lacks last error: $(cat "$T/detail")"
grep -Eq "^  local +127\.0\.0\.1:$p_far -> 127\.0\.0\.1:9  down, 0 active, 0 total, in 0B, out 0B\$" "$T/detail" ||
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
    '"listen":"127.0.0.1:'"$p_far"'"' '"name":"off","state":"stopped"'; do
	grep -qF "$k" "$T/json" || td_fail "--json status lacks $k"
done
td_ok "tunnelctl --json status: the daemon's line unchanged, protocol 1"

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

# The config came from an inherited descriptor: a reload reads it again.
out=$(ctl reload 2>&1) || td_fail "reload of the config on /dev/fd/$conf_fd exited $?: $out"
td_ok "a config read from /dev/fd/$conf_fd, a descriptor tunneld inherited, reloads: $out"

# ------------------------------------------------ socket: mode, ownership

# Anyone may connect (reads are open, changes are checked with SO_PEERCRED);
# nobody but the owner may replace or remove it.
mode=$(stat -c '%A %U' "$T/control.sock")
[ "$mode" = "srw-rw-rw- $(id -un)" ] || td_fail "control socket is '$mode'"
td_ok "control socket: $mode"

# A second daemon on the same socket must not steal it from the first.
p_two=$(td_port)
sed -e "s|^local_forward = 127.0.0.1:$p_far |local_forward = 127.0.0.1:$p_two |" \
    -e "s|^local_forward = 127.0.0.1:$p_off |local_forward = 127.0.0.1:$(td_port) |" \
    "$T/tunneld.conf" >"$T/second.conf"
rc=0
timeout 60 "${wrap[@]}" "$TUNNELD" --config "$T/second.conf" --foreground --log stderr \
    >"$T/second.out" 2>&1 </dev/null || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || td_fail "a second tunneld on the same socket exited $rc"
grep -q "$T/control.sock" "$T/second.out" || td_fail "second tunneld: $(cat "$T/second.out")"
[ -S "$T/control.sock" ] || td_fail "the second tunneld removed the first one's socket"
out=$(ctl --json status) || :
grep -q "\"pid\":$TUNNELD_PID," <<<"$out" || td_fail "the first tunneld no longer answers: $out"
td_ok "a second tunneld refuses a live control socket ($(head -n 1 "$T/second.out" | cut -c1-100))"

# ---------------------------------------------------------------- stopping

n4=$(notify_lines)
rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "SIGTERM: tunneld exited $rc, not 0"
notify_wait 2 ' STOPPING=1$' "$n4" || td_fail "SIGTERM: no STOPPING=1"
[ ! -e "$T/control.sock" ] || td_fail "SIGTERM: the control socket was left behind"
[ -z "$(ss -Htln "( sport = :$p_far or sport = :$p_off )")" ] || td_fail "listeners remain after stop"
td_ok "SIGTERM: STOPPING=1, exit 0, socket removed, listeners closed"

# Not running: one line, the socket and errno, exit 3.
rc=0
out=$(ctl status 2>&1) || rc=$?
[ "$rc" = 3 ] || td_fail "tunnelctl without a daemon exited $rc, not 3"
[ "$(wc -l <<<"$out")" = 1 ] || td_fail "tunnelctl without a daemon printed more than one line: $out"
grep -qF "$T/control.sock: No such file or directory" <<<"$out" || td_fail "tunnelctl without a daemon: $out"
# A socket file nobody listens on: what a daemon killed with SIGKILL leaves.
socat -u "UNIX-LISTEN:$T/control.sock" /dev/null </dev/null >/dev/null 2>&1 &
stale_pid=$!
td_track "$stale_pid"
td_wait 5 test -S "$T/control.sock" || td_fail "socat made no socket"
kill -KILL "$stale_pid"
wait "$stale_pid" 2>/dev/null
[ -S "$T/control.sock" ] || td_fail "socat removed its socket on SIGKILL"
rc=0
out2=$(ctl status 2>&1) || rc=$?
[ "$rc" = 3 ] && [ "$(wc -l <<<"$out2")" = 1 ] &&
	grep -qF "$T/control.sock: Connection refused" <<<"$out2" ||
	td_fail "tunnelctl on a stale socket: rc $rc: $out2"
td_ok "tunnelctl without a daemon: exit 3, one line: $out / $out2"

# A stale socket is replaced; SIGINT is the same orderly stop as SIGTERM.
write_conf
n5=$(notify_lines)
tunneld_start "$T/tunneld.conf"
ctl status >/dev/null 2>&1 || [ $? = 1 ] || td_fail "the daemon did not take over a stale socket"
kill -INT "$TUNNELD_PID"
td_wait 10 td__gone "$TUNNELD_PID" || td_fail "SIGINT: tunneld still running after 10 s"
rc=0
wait "$TUNNELD_PID" || rc=$?
TUNNELD_PID=
[ "$rc" = 0 ] || td_fail "SIGINT: tunneld exited $rc, not 0"
notify_wait 2 ' STOPPING=1$' "$n5" || td_fail "SIGINT: no STOPPING=1"
[ ! -e "$T/control.sock" ] || td_fail "SIGINT: the control socket was left behind"
td_ok "SIGINT: STOPPING=1, exit 0, socket removed"

# watch across a restart of the daemon: it says so, connects again, and
# shows where every node stands again.
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

# ------------------------------------------------------ socket directory

# sock_conf PATH: a one-node config whose control socket is PATH.
sock_conf() {
	{ tunneld_conf_head control_socket="$1"; printf '[node hub]\nssh = none\ngpu = none\n'; } >"$T/sock.conf"
}
# sock_run [UMASK]: tunneld on $T/sock.conf in the background (SOCK_PID),
# waiting (15 s) for READY=1 or its exit.
sock_run() {
	local n
	n=$(notify_lines)
	bash -c 'umask "$1"; shift; exec "$@"' _ "${1:-022}" \
	    "${wrap[@]}" "$TUNNELD" --config "$T/sock.conf" --foreground --log stderr \
	    </dev/null >"$T/sock.out" 2>&1 &
	SOCK_PID=$!
	td_track "$SOCK_PID"
	td_wait 15 eval '! td_alive "$SOCK_PID" || td__notify_match " READY=1$" '"$n" || :
}
# sock_stop: SIGTERM; returns its exit status.
sock_stop() {
	local rc=0
	kill -TERM "$SOCK_PID" 2>/dev/null
	td_wait 10 td__gone "$SOCK_PID" || td_fail "tunneld $SOCK_PID ignores SIGTERM"
	wait "$SOCK_PID" || rc=$?
	return "$rc"
}
# sock_refused WHY: tunneld ended with status 1, saying WHY (a regex).
sock_refused() {
	local rc=0
	td_wait 15 td__gone "$SOCK_PID" || td_fail "tunneld started although $1"
	wait "$SOCK_PID" || rc=$?
	[ "$rc" = 1 ] || td_fail "tunneld exited $rc, not 1, although $1"
	grep -Eq "$1" "$T/sock.out" || td_fail "tunneld did not say '$1': $(cat "$T/sock.out")"
}

# A missing directory (no RuntimeDirectory=, started by hand) is made 0755
# whatever the umask, so that readers reach the 0666 socket.
sock_conf "$T/run/control.sock"
sock_run 077
[ -S "$T/run/control.sock" ] || td_fail "no socket in a missing directory: $(cat "$T/sock.out")"
[ "$(stat -c %a "$T/run")" = 755 ] || td_fail "made $T/run with mode $(stat -c %a "$T/run")"
[ "$(stat -c %a "$T/run/control.sock")" = 666 ] || td_fail "socket mode $(stat -c %a "$T/run/control.sock")"
sock_stop || td_fail "tunneld on $T/run exited $?"
[ ! -e "$T/run/control.sock" ] || td_fail "socket left in $T/run"
td_ok "a missing socket directory is made 0755 (even with umask 077), the socket 0666"

# A directory anyone may write to (no sticky bit): refused.
mkdir -m 0777 "$T/open"
chmod 0777 "$T/open"
sock_conf "$T/open/control.sock"
sock_run
sock_refused "$T/open is writable by anyone"
[ ! -e "$T/open/control.sock" ] || td_fail "a socket was made in a world-writable directory"
# With the sticky bit (like /tmp), others cannot replace our socket: fine.
chmod 1777 "$T/open"
sock_run
[ -S "$T/open/control.sock" ] || td_fail "no socket in a sticky directory: $(cat "$T/sock.out")"
sock_stop || td_fail "tunneld in a sticky directory exited $?"
td_ok "a world-writable socket directory is refused, unless sticky"

# A file where the socket should be is not ours to delete.
echo precious >"$T/run/control.sock"
sock_conf "$T/run/control.sock"
sock_run
sock_refused "$T/run/control.sock exists and is not a socket"
[ "$(cat "$T/run/control.sock")" = precious ] || td_fail "tunneld replaced a regular file"
td_ok "a regular file in the socket's place is left alone (exit 1)"
