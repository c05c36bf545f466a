#!/bin/bash
#
# t_lib_selftest.sh: checks the test toolkit itself (tests/lib.sh, the
# notify listener, the Ollama, nvidia-smi and tegrastats stand-ins) before
# any scenario relies on it.  Needs no tunneld.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

for tool in socat curl ss ssh ssh-keygen; do
	command -v "$tool" >/dev/null || td_skip "$tool is not installed"
done

QUERY=--query-gpu=index,uuid,name,temperature.gpu,utilization.gpu,memory.used,memory.total,power.draw,power.limit
FORMAT=--format=csv,noheader,nounits
FIX=$TD_FIXTURES

# shellcheck disable=SC2317  # called through td_wait
descendants_at_least() { # PID N
	[ "$(td_descendants "$1" | wc -l)" -ge "$2" ]
}
# shellcheck disable=SC2317  # called through td_wait
lines_at_least() { # FILE N
	[ "$(wc -l <"$1")" -ge "$2" ]
}

# --------------------------------------------------------------- basics

# The stand-in must accept exactly what tunneld runs.
hdr_query=$(sed -n '/#define GPU_NVIDIA_SMI_QUERY/,/[^\\]$/p' "$top_srcdir/probes/gpu.h" |
	grep -o '"[^"]*"' | tr -d '"\n')
hdr_format=$(sed -n 's/^#define GPU_NVIDIA_SMI_FORMAT[[:space:]]*"\(.*\)"/\1/p' "$top_srcdir/probes/gpu.h")
[ "$hdr_query" = "$QUERY" ] || td_fail "probes/gpu.h query '$hdr_query' != '$QUERY'"
[ "$hdr_format" = "$FORMAT" ] || td_fail "probes/gpu.h format '$hdr_format' != '$FORMAT'"
grep -qxF "QUERY='$QUERY'" "$TD_STANDIN_BIN/nvidia-smi" || td_fail "nvidia-smi stand-in query differs from probes/gpu.h"
grep -qxF "FORMAT='$FORMAT'" "$TD_STANDIN_BIN/nvidia-smi" || td_fail "nvidia-smi stand-in format differs from probes/gpu.h"
td_ok "nvidia-smi stand-in matches probes/gpu.h"

ports=()
for _ in $(seq 20); do
	p=$(td_port) || td_fail "td_port failed"
	if [ "$p" -lt 10000 ] || [ "$p" -gt 32767 ]; then td_fail "td_port out of range: $p"; fi
	ports+=("$p")
done
[ "$(printf '%s\n' "${ports[@]}" | sort -u | wc -l)" -eq 20 ] || td_fail "td_port repeated itself"
td_ok "td_port: 20 distinct free ports"

# Reservations across tests: a port another live test holds is not taken;
# once that test is gone it is, by this one, and released at exit.  Run in
# a private directory, with a sleep standing in for the other test.
command -v flock >/dev/null || td_skip "flock is not installed (util-linux)"
(
	TD_PORT_DIR=$T/ports-selftest
	other_port=9
	sleep 60 &
	other=$!
	mkdir -p -m 0700 "$TD_PORT_DIR"
	echo "$other" >"$TD_PORT_DIR/$other_port"
	td__port_reserve "$other_port" && { kill "$other"; td_fail "a port a live test holds was reserved again"; }
	kill "$other"
	wait "$other" 2>/dev/null
	td__port_reserve "$other_port" || td_fail "a port whose test is gone was not taken over"
	[ "$(cat "$TD_PORT_DIR/$other_port")" = "$$" ] || td_fail "the taken-over port holds $(cat "$TD_PORT_DIR/$other_port"), not $$"
	td__port_release	# not in this test's .ports: kept
	[ -f "$TD_PORT_DIR/$other_port" ] || td_fail "a port not in .ports was released"
	for p in "${ports[@]}"; do
		[ -f "$TD_PORT_DIR/$p" ] && td_fail "port $p reserved in the private directory"
	done
	exit 0
) || exit 1
for p in "${ports[@]}"; do
	[ "$(cat "$TD_PORT_DIR/$p" 2>/dev/null)" = "$$" ] || td_fail "port $p is not reserved for this test"
done
td_ok "td_port reserves its ports; a live test's port is left alone, a dead one's taken over"

start=$EPOCHREALTIME
td_wait 0.5 false && td_fail "td_wait succeeded on false"
el=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
# At least the timeout; at most a few polls more on a busy machine.
if [ "$el" -lt 400 ] || [ "$el" -gt 5000 ]; then td_fail "td_wait 0.5 took $el ms"; fi
td_wait 5 true || td_fail "td_wait failed on true"
(sleep 0.3; : >"$T/flag") &
td_wait 5 test -e "$T/flag" || td_fail "td_wait missed a file"
td_ok "td_wait: bounded ($el ms for 0.5 s), sees success"

# td_json and the status predicates, on a canned reply instead of a daemon
# (ctl is replaced in a subshell: its cat stands for tunnelctl's answer).
cat >"$T/status.json" <<'EOF'
{"ok":true,"nodes":[{"name":"a","state":"up","reason":null,"forwards":[{"listen":"127.0.0.1:1","total":3}]},{"name":"b","state":"backoff","reason":"connection refused"}]}
EOF
[ "$(td_json nodes.name=b.reason <"$T/status.json")" = "connection refused" ] || td_fail "td_json: name=VALUE"
[ "$(td_json nodes.0.forwards.0.total <"$T/status.json")" = 3 ] || td_fail "td_json: indexes"
[ "$(td_json nodes.name=a.reason <"$T/status.json")" = null ] || td_fail "td_json: null"
rc=0
out=$(td_json nodes.name=c.state <"$T/status.json") || rc=$?
if [ "$rc" != 1 ] || [ -n "$out" ]; then td_fail "td_json: a missing path gave rc $rc, '$out'"; fi
# shellcheck disable=SC2317  # the stand-in for tunnelctl, called by jget
(
	ctl() { cat "$T/status.json"; }
	[ "$(node_state_of b)" = backoff ] || td_fail "node_state_of b: '$(node_state_of b)'"
	[ -z "$(node_state_of c)" ] || td_fail "node_state_of: a node that does not exist has a state"
	node_in_state a up || td_fail "node_in_state: a is up"
	! node_in_state b up || td_fail "node_in_state: b is not up"
	node_not_up b || td_fail "node_not_up: b is in backoff"
	! node_not_up a || td_fail "node_not_up: a is up"
	! node_not_up c || td_fail "node_not_up: a node that does not exist"
	ctl() { return 3; }	# no daemon: no proof of anything
	! node_in_state a up || td_fail "node_in_state without a daemon"
	! node_not_up a || td_fail "node_not_up without a daemon"
) || exit 1
td_ok "td_json, jget, node_state_of, node_in_state, node_not_up on a canned reply"

td_stale_socket "$T/stale.sock"
rc=0
out=$(socat -u /dev/null "UNIX-CONNECT:$T/stale.sock" 2>&1) || rc=$?
if [ "$rc" = 0 ] || ! grep -q 'Connection refused' <<<"$out"; then
	td_fail "td_stale_socket: connecting gave rc $rc: $out"
fi
td_ok "td_stale_socket: a socket file that refuses connections"

bash -c 'sleep 30 & bash -c "sleep 30; :" & wait' &
tree=$!
td_track "$tree"
td_wait 5 descendants_at_least "$tree" 3 ||
	td_fail "td_descendants found $(td_descendants "$tree" | wc -l) of 3"
mapfile -t kids < <(td_descendants "$tree")
td_stop "$tree"
for k in "$tree" "${kids[@]}"; do
	td_alive "$k" && td_fail "td_stop left $k alive"
done
td_ok "td_descendants and td_stop: a 3-process tree found and stopped"

# ------------------------------------------------------------- notify

notify_listen
n0=$(notify_lines)
printf 'READY=1\nSTATUS=1/3 nodes up; runpod backoff 8s: connection refused' |
	socat - "UNIX-SENDTO:$NOTIFY_SOCKET"
notify_wait 5 '^[0-9]+ STATUS=1/3 nodes up; runpod backoff 8s: connection refused$' "$n0" ||
	td_fail "notify-listen did not log STATUS: $(cat "$T/notify.log")"
notify_wait 1 '^[0-9]+ READY=1$' "$n0" || td_fail "notify-listen did not log READY=1"
td_ok "notify-listen: one timestamped line per assignment"

# tunneld_start/stop against a fake daemon that speaks sd_notify.
cat >"$T/fake-tunneld" <<'EOF'
#!/bin/bash
echo "fake tunneld $*"
trap 'printf STOPPING=1 | socat - "UNIX-SENDTO:$NOTIFY_SOCKET"; exit 3' TERM
sleep 0.3
printf 'READY=1\nSTATUS=0/0 nodes up' | socat - "UNIX-SENDTO:$NOTIFY_SOCKET"
for ((i = 0; i < 600; i++)); do sleep 0.1; done
EOF
chmod +x "$T/fake-tunneld"
: >"$T/fake.conf"
TUNNELD=$T/fake-tunneld
n0=$(notify_lines)
tunneld_start "$T/fake.conf" --extra
grep -qxF "fake tunneld --config $T/fake.conf --foreground --log stderr --extra" "$T/tunneld.log" ||
	td_fail "tunneld_start ran: $(cat "$T/tunneld.log")"
notify_wait 1 ' READY=1$' "$n0" || td_fail "tunneld_start returned before READY=1"
rc=0
tunneld_stop || rc=$?
[ "$rc" -eq 3 ] || td_fail "tunneld_stop returned $rc, not the daemon's 3"
notify_wait 5 ' STOPPING=1$' "$n0" || td_fail "no STOPPING=1"
td_ok "tunneld_start waits for READY=1; tunneld_stop returns the exit status"

# ----------------------------------------------------------------- sshd

sshd_setup
grep -Eqx "\[127\.0\.0\.1\]:$SSHD_PORT ssh-ed25519 [A-Za-z0-9+/=]+" "$SSHD_KNOWN_HOSTS" ||
	td_fail "known_hosts line: $(cat "$SSHD_KNOWN_HOSTS")"

custom=$T/custom-gpu.txt
echo "0, GPU-00000000-1111-2222-3333-444444444444, NVIDIA GeForce RTX 4090, 77, 99, 24000, 24564, 440.10, 450.00" >"$custom"
td_node gpu1 nvidia-smi tegrastats
gpu1_path=$TD_NODE_PATH
sshd_key gpu1 "PATH=$TD_NODE_PATH" "TD_GPU_FIXTURE=$custom" "TD_GPU_LOG=$T/gpu1.calls" \
	"TD_TEGRA_FIXTURE=$FIX/tegrastats-nano.txt"
td_node gpu2 nvidia-smi
sshd_key gpu2 "PATH=$TD_NODE_PATH"
td_node bare
sshd_key bare "PATH=$TD_NODE_PATH"
td_node broken nvidia-smi
sshd_key broken "PATH=$TD_NODE_PATH" "TD_GPU_FIXTURE=$FIX/nvidia-smi-driver-fail.txt" TD_GPU_EXIT=9
td_node hung nvidia-smi
sshd_key hung "PATH=$TD_NODE_PATH" TD_GPU_MODE=hang "TD_GPU_LOG=$T/hung.calls"
sshd_start
td_ok "sshd listens on 127.0.0.1:$SSHD_PORT (pid $SSHD_PID)"

out=$(sshd_ssh gpu1 "echo \$PATH; echo \$HOME; nvidia-smi $QUERY $FORMAT") ||
	td_fail "ssh gpu1 failed: $out"
mapfile -t lines <<<"$out"
[ "${lines[0]}" = "$gpu1_path" ] || td_fail "gpu1 PATH is '${lines[0]}', not '$gpu1_path'"
[ "${lines[1]}" = "$T/nodes/gpu1/home" ] || td_fail "gpu1 HOME is '${lines[1]}'"
[ "${lines[2]}" = "$(cat "$custom")" ] || td_fail "gpu1 nvidia-smi printed '${lines[2]}'"
grep -qF "nvidia-smi $QUERY $FORMAT" "$T/gpu1.calls" || td_fail "TD_GPU_LOG not written"
td_ok "per-key environment: PATH, HOME and the GPU fixture of key gpu1"

sshd_ssh gpu2 "nvidia-smi $QUERY $FORMAT" >"$T/gpu2.out" || td_fail "ssh gpu2 nvidia-smi failed"
[ "$(sha_file "$T/gpu2.out")" = "$(sha_file "$FIX/nvidia-smi-2x4090.txt")" ] ||
	td_fail "gpu2 did not get the default 2x4090 fixture: $(cat "$T/gpu2.out")"
td_ok "default nvidia-smi fixture (2x RTX 4090) through ssh"

rc=0
sshd_ssh gpu2 "nvidia-smi -L" >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || td_fail "nvidia-smi -L exited $rc, not 2"
grep -q 'Invalid combination of input arguments' "$T/bad.out" || td_fail "no usage message: $(cat "$T/bad.out")"
rc=0
out=$(sshd_ssh bare "nvidia-smi $QUERY $FORMAT" 2>&1) || rc=$?
[ "$rc" -eq 127 ] || td_fail "bare node: nvidia-smi exited $rc, not 127 ($out)"
[[ $out == *"nvidia-smi: command not found"* ]] || td_fail "bare node said: $out"
rc=0
out=$(sshd_ssh broken "nvidia-smi $QUERY $FORMAT" 2>&1) || rc=$?
[ "$rc" -eq 9 ] || td_fail "broken node: exit $rc, not 9"
[[ $out == "NVIDIA-SMI has failed because"* ]] || td_fail "broken node said: $out"
td_ok "nvidia-smi stand-in: bad args exit 2, absent exit 127, driver failure exit 9"

sshd_ssh hung "nvidia-smi $QUERY $FORMAT" >"$T/hung.out" 2>&1 &
hung_client=$!
td_track "$hung_client"
td_wait 10 test -s "$T/hung.calls" || td_fail "hung stand-in never ran"
sleep 1
td_alive "$hung_client" || td_fail "hang mode answered: $(cat "$T/hung.out")"
hung_pid=$(awk '{ print $2; exit }' "$T/hung.calls")
td_alive "$hung_pid" || td_fail "hung stand-in $hung_pid is not running"
td_stop "$hung_client"
td_wait 5 td__gone "$hung_pid" || td_fail "hung stand-in $hung_pid outlived its session"
td_ok "nvidia-smi hang mode: no answer, and it ends when its session goes"

out=$(sshd_ssh gpu1 "tegrastats --interval 100 | head -n 3") || td_fail "tegrastats over ssh failed"
mapfile -t lines <<<"$out"
mapfile -t want <"$FIX/tegrastats-nano.txt"
if [ "${#lines[@]}" -ne 3 ] || [ "${lines[0]}" != "${want[0]}" ] ||
	[ "${lines[1]}" != "${want[1]}" ] || [ "${lines[2]}" != "${want[0]}" ]; then
	td_fail "tegrastats printed: $out"
fi
td_ok "tegrastats stand-in: cycles its fixture lines, stops with its reader"

# A wrong host key must be refused: known_hosts is really what is checked.
ssh-keygen -q -t ed25519 -N '' -f "$T/otherhost" </dev/null
read -r _ other _ <"$T/otherhost.pub"
echo "[127.0.0.1]:$SSHD_PORT ssh-ed25519 $other" >"$T/wrong_known_hosts"
rc=0
out=$(sshd_ssh gpu1 -o UserKnownHostsFile="$T/wrong_known_hosts" true 2>&1) || rc=$?
[ "$rc" -eq 255 ] || td_fail "wrong host key: ssh exited $rc"
[[ $out == *"Host key verification failed"* ]] || td_fail "wrong host key said: $out"
td_ok "a wrong known_hosts key is refused"

# An established session, writing a line every 0.2 s.
live_session() {
	: >"$T/live.out"
	sshd_ssh gpu1 'while :; do echo tick; sleep 0.2; done' >"$T/live.out" 2>&1 &
	LIVE=$!
	td_track "$LIVE"
	td_wait 10 lines_at_least "$T/live.out" 3 || td_fail "live session did not start"
}
live_session

sshd_freeze
for p in "$SSHD_PID" $(td_descendants "$SSHD_PID"); do
	s=$(td_state "$p")
	[ "$s" = T ] || [ "$s" = Z ] || [ "$s" = - ] || td_fail "after sshd_freeze, $p is in state $s"
done
n1=$(wc -l <"$T/live.out")
sleep 1
n2=$(wc -l <"$T/live.out")
[ "$n2" -le $((n1 + 1)) ] || td_fail "frozen session still talks ($n1 -> $n2 lines)"
start=$EPOCHREALTIME
rc=0
out=$(sshd_ssh gpu1 -o ConnectTimeout=2 true 2>&1) || rc=$?
el=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
[ "$rc" -ne 0 ] || td_fail "ssh to a frozen sshd succeeded"
if [ "$el" -lt 1500 ] || [ "$el" -gt 8000 ]; then td_fail "ssh to a frozen sshd took $el ms ($out)"; fi
td_ok "sshd_freeze: listener and sessions stopped; new ssh fails after $el ms ($out)"

sshd_thaw
td_wait 5 lines_at_least "$T/live.out" $((n2 + 2)) || td_fail "session did not resume after thaw"
sshd_ssh gpu1 true || td_fail "ssh after thaw failed"
td_ok "sshd_thaw: the session resumes, new ssh works"

old_port=$SSHD_PORT
old_pid=$SSHD_PID
sshd_restart
if [ "$SSHD_PORT" != "$old_port" ] || [ "$SSHD_PID" = "$old_pid" ]; then td_fail "sshd_restart: port/pid"; fi
td_alive "$old_pid" && td_fail "old sshd $old_pid still alive"
td_wait 10 td__gone "$LIVE" || td_fail "the session survived sshd_restart"
wait "$LIVE" 2>/dev/null
sshd_ssh gpu1 true || td_fail "ssh after restart failed"
td_ok "sshd_restart: sessions dropped, same port and host key, ssh works"

live_session
sshd_kill_sessions
td_wait 10 td__gone "$LIVE" || td_fail "the session survived sshd_kill_sessions"
wait "$LIVE" 2>/dev/null
td_alive "$SSHD_PID" || td_fail "sshd_kill_sessions killed the listener"
sshd_ssh gpu1 true || td_fail "ssh after sshd_kill_sessions failed"
td_ok "sshd_kill_sessions: sessions dropped, listener kept"

# ------------------------------------------------------------- ollama

odir=$FIX
for f in ollama-version.json ollama-tags.json ollama-ps.json; do
	[ -f "$FIX/$f" ] || odir=$T/ofix
done
if [ "$odir" != "$FIX" ]; then
	echo "# fixtures missing in $FIX: using built-in ones"
	mkdir -p "$odir"
	echo '{"version":"0.5.7"}' >"$odir/ollama-version.json"
	echo '{"models":[{"name":"qwen2.5:7b","model":"qwen2.5:7b","size":4683087332}]}' >"$odir/ollama-tags.json"
	echo '{"models":[{"name":"qwen2.5:7b","model":"qwen2.5:7b","size_vram":6654289920}]}' >"$odir/ollama-ps.json"
fi
ollama_start node1 "$odir"
U=http://127.0.0.1:$OLLAMA_PORT

# req PATH [CURL_ARGS...]: "CODE CURL_EXIT MS", body in $T/body.
req() {
	local path=$1 code rc=0 t0
	shift
	t0=$EPOCHREALTIME
	code=$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 5 "$@" "$U$path" 2>/dev/null) || rc=$?
	echo "$code $rc $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')"
}
expect() { # WHAT GOT WANT_CODE WANT_RC
	local -a g
	read -r -a g <<<"$2"
	if [ "${g[0]}" != "$3" ] || [ "${g[1]}" != "$4" ]; then
		td_fail "$1: got HTTP ${g[0]} curl ${g[1]}, wanted $3 $4 (body: $(head -c 200 "$T/body" 2>/dev/null))"
	fi
}

expect "GET /" "$(req /)" 200 0
[ "$(cat "$T/body")" = "Ollama is running" ] || td_fail "GET / body"
expect "HEAD /" "$(req / -I)" 200 0
for f in version tags ps; do
	expect "GET /api/$f" "$(req "/api/$f")" 200 0
	cmp -s "$T/body" "$odir/ollama-$f.json" || td_fail "/api/$f differs from its fixture"
done
expect "generate" "$(req /api/generate -d '{"model":"qwen2.5:7b","prompt":"hi","stream":false}')" 200 0
for k in '"done":true' '"done_reason":"stop"' '"total_duration":' '"eval_count":' '"response":"Hello!'; do
	grep -qF "$k" "$T/body" || td_fail "generate answer lacks $k: $(cat "$T/body")"
done
expect "generate stream" "$(req /api/generate -d '{"model":"qwen2.5:7b","prompt":"hi"}')" 200 0
if [ "$(wc -l <"$T/body")" -le 2 ] || ! tail -n 1 "$T/body" | grep -qF '"done":true'; then
	td_fail "NDJSON stream: $(cat "$T/body")"
fi
expect "generate unknown model" "$(req /api/generate -d '{"model":"nope:1b","stream":false}')" 404 0
grep -qF "{\"error\":\"model 'nope:1b' not found\"}" "$T/body" || td_fail "404 body: $(cat "$T/body")"
expect "unknown path" "$(req /api/nothing)" 404 0
td_ok "ollama stand-in (ok): /, /api/version, tags, ps, generate"

ollama_mode node1 fail
expect "fail" "$(req /api/version)" 500 0
grep -q '^{"error":"' "$T/body" || td_fail "fail body: $(cat "$T/body")"
ollama_mode node1 garbage
expect "garbage" "$(req /api/tags)" 200 0
[ "$(head -c 1 "$T/body")" != "{" ] || td_fail "garbage looks like JSON"
ollama_mode node1 truncated
expect "truncated" "$(req /api/tags)" 200 0
full=$(wc -c <"$odir/ollama-tags.json")
if [ "$(wc -c <"$T/body")" -ne $((full / 2)) ] ||
	! cmp -s "$T/body" <(head -c $((full / 2)) "$odir/ollama-tags.json"); then
	td_fail "truncated: $(wc -c <"$T/body") bytes of $full"
fi
ollama_mode node1 cut
expect "cut" "$(req /api/tags)" 200 18
ollama_mode node1 nomodel
expect "nomodel" "$(req /api/tags)" 200 0
grep -qF '"qwen2.5:7b"' "$T/body" && td_fail "nomodel still lists qwen2.5:7b"
grep -qF '"models":[' "$T/body" || td_fail "nomodel body: $(cat "$T/body")"
expect "nomodel generate" "$(req /api/generate -d '{"model":"qwen2.5:7b","stream":false}')" 404 0
ollama_mode node1 close
expect "close" "$(req /api/version)" 000 52
ollama_mode node1 hang
r=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 1 "$U/api/version" 2>/dev/null)
rc=$?
if [ "$rc" -ne 28 ] || [ "$r" != 000 ]; then td_fail "hang: curl $rc HTTP $r"; fi
ollama_mode node1 bogus-mode
expect "unknown mode" "$(req /api/version)" 500 0
grep -qF "bogus-mode" "$T/body" || td_fail "unknown mode body: $(cat "$T/body")"
td_ok "ollama stand-in: fail, garbage, truncated, cut, nomodel, close, hang, unknown mode"

# slow: the answer waits, the loop does not.  3 s: a request served
# meanwhile takes well under that even on a busy machine, and would take
# the rest of it if the loop blocked.
ollama_mode node1 slow 3000
req /api/version >"$T/slow.res" &
slow_client=$!
td_wait 30 grep -q 'mode=slow 3000' "$T/ollama-node1.log" || td_fail "slow request not seen"
ollama_mode node1 ok
read -r -a g <<<"$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 "$U/api/version")"
[ "${g[0]}" = 200 ] || td_fail "request during slow: HTTP ${g[0]}"
awk -v t="${g[1]}" 'BEGIN { exit !(t < 1.5) }' || td_fail "request during slow took ${g[1]} s: the loop blocks"
wait "$slow_client"
read -r -a g <"$T/slow.res"
if [ "${g[0]}" != 200 ] || [ "${g[2]}" -lt 2900 ] || [ "${g[2]}" -gt 15000 ]; then
	td_fail "slow 3000: ${g[*]}"
fi
td_ok "ollama stand-in slow 3000: answered after ${g[2]} ms; others served meanwhile"

[ "$(grep -c 'ollama-standin: [A-Z]* /' "$T/ollama-node1.log")" -ge 15 ] || td_fail "stand-in log: one line per request"
opid=$OLLAMA_PID
kill -TERM "$opid"
td_wait 5 td__gone "$opid" || td_fail "stand-in ignored SIGTERM"
rc=0
wait "$opid" || rc=$?
[ "$rc" -eq 0 ] || td_fail "stand-in exited $rc on SIGTERM"
[ ! -e "$T/ollama-node1.pid" ] || td_fail "stand-in left its pidfile"
td_ok "ollama stand-in: clean exit on SIGTERM"

# ----------------------------------------------------- the EXIT trap itself

cat >"$T/inner.sh" <<'EOF'
. "$top_srcdir/tests/lib.sh"
td_setup
echo "$T" >"$OUTER/inner.T"
sshd_setup
sshd_key k
sshd_start
sshd_ssh k 'sleep 60' &
td_track $!
# Wait for the session's own "sleep 60" under sshd.
for _ in $(seq 100); do
	for p in $(td_descendants "$SSHD_PID"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = sleep ] && break 2
	done
	sleep 0.1
done
echo "sshd log line" >>"$SSHD_DIR/log"
sshd_freeze
{ echo "$SSHD_PID"; td_descendants "$SSHD_PID"; } >"$OUTER/inner.pids"
td_fail "deliberate failure"
EOF
rc=0
OUTER=$T TMPDIR=$T env -u TD_KEEP bash "$T/inner.sh" >"$T/inner.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || td_fail "inner test exited $rc: $(cat "$T/inner.out")"
grep -qx "FAIL: deliberate failure" "$T/inner.out" || td_fail "no FAIL line: $(cat "$T/inner.out")"
grep -q "^---- .*/sshd/log" "$T/inner.out" || td_fail "logs not printed on failure"
[ "$(wc -l <"$T/inner.pids")" -ge 3 ] || td_fail "inner test had too few processes: $(cat "$T/inner.pids")"
while read -r p; do
	td_alive "$p" && td_fail "EXIT trap left $p ($(tr '\0' ' ' <"/proc/$p/cmdline")) alive"
done <"$T/inner.pids"
[ ! -e "$(cat "$T/inner.T")" ] || td_fail "EXIT trap left $(cat "$T/inner.T")"
td_ok "EXIT trap: frozen sshd, its sessions and the client stopped; temp dir removed; logs printed"

cat >"$T/keep.sh" <<'EOF'
. "$top_srcdir/tests/lib.sh"
td_setup
echo "$T" >"$OUTER/keep.T"
td_skip "nothing"
EOF
rc=0
OUTER=$T TMPDIR=$T TD_KEEP=1 bash "$T/keep.sh" >"$T/keep.out" 2>&1 || rc=$?
[ "$rc" -eq 77 ] || td_fail "td_skip exited $rc"
[ -d "$(cat "$T/keep.T")" ] || td_fail "TD_KEEP=1 did not keep the directory"
grep -q '^----' "$T/keep.out" && td_fail "logs printed for a skip"
td_ok "td_skip exits 77; TD_KEEP=1 keeps \$T"

exit 0
