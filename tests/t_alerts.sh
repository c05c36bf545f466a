#!/bin/bash
#
# t_alerts.sh: journal alerts from faults made for real (issue 5).  Every
# entry tunneld writes also goes, with all its fields, to the capture file
# TUNNELD_LOG_CAPTURE (the same log_entry() call that feeds sd_journal_sendv);
# each fault must yield its MESSAGE_ID, PRIORITY and fields exactly once,
# and its end the "-cleared" twin (node-recovered) with TUNNELD_DURATION.
#
#   hot       nvidia-smi stand-in (2x RTX 4090: gpu1 31 °C, 87 % memory)
#             against gpu_temp_c = 30 and gpu_mem_pct = 80; its Ollama made
#             to lack the required model, fail, and answer slowly
#   rev       a remote forward whose port on the server a squatter holds
#   imposter  a second sshd whose host key is not the one known_hosts has
#   then every sshd stopped (node-down x3, all-nodes-down, crit) and the
#   first one started again (node-recovered, all-nodes-down-cleared).
#
# `tunnelctl watch` shows the alerts beside the state changes.  Last, where
# the machine allows (root, unshare, systemd-journald), the same kind of
# alert goes through a private systemd-journald into a real journal, found
# by `journalctl MESSAGE_ID=` and explained by `journalctl -x` from our
# catalog (see tests/README.md, "A real journal").

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

command -v socat >/dev/null || td_skip "socat is not installed (apt-get install socat)"

# MSGID_* of supervisor/msgid.h, by event name.
declare -A MSGID=()
while read -r _ name id; do
	ev=${name#MSGID_}
	ev=${ev,,}
	ev=${ev//_/-}
	MSGID[$ev]=${id//\"/}
done < <(grep -E '^#define MSGID_[A-Z_]+ +"[0-9a-f]{32}"' "$top_srcdir/supervisor/msgid.h")
[ "${#MSGID[@]}" = 20 ] || td_fail "read ${#MSGID[@]} MESSAGE_IDs from msgid.h, not 20"

sshd_setup
td_node hot nvidia-smi
sshd_key hot "PATH=$TD_NODE_PATH" "TD_GPU_FIXTURE=$TD_FIXTURES/nvidia-smi-2x4090.txt"
sshd_key rev
sshd_key imposter
sshd_start

# The imposter: a second sshd with a host key of its own, which known_hosts
# does not have (it lists the first sshd's key for the imposter's port).
imp_dir=$T/sshd-imposter
mkdir -p "$imp_dir"
chmod 700 "$imp_dir"
ssh-keygen -q -t ed25519 -N '' -C imposter -f "$imp_dir/host_ed25519" </dev/null
imp_port=$(td_port)
sed -e "s|^Port .*|Port $imp_port|" -e "s|^HostKey .*|HostKey $imp_dir/host_ed25519|" \
    -e "s|^PidFile .*|PidFile $imp_dir/sshd.pid|" "$SSHD_CONFIG" >"$imp_dir/sshd_config"
env -u NOTIFY_SOCKET "$SSHD_BIN" -D -e -f "$imp_dir/sshd_config" </dev/null >>"$imp_dir/log" 2>&1 &
imp_pid=$!
td_track "$imp_pid"
td_wait 10 eval '[ -n "$(ss -Htln "sport = :$imp_port")" ]' || td_fail "imposter sshd did not listen"
read -r main_key <"$SSHD_DIR/host_ed25519.pub"
echo "[127.0.0.1]:$imp_port ${main_key% *}" >>"$SSHD_KNOWN_HOSTS"
imp_fp=$(ssh-keygen -lf "$imp_dir/host_ed25519.pub" | awk '{ print $2 }')

# The squatter on rev's remote port, on the server side.
squat=$(td_port)
socat "TCP-LISTEN:$squat,bind=127.0.0.1,reuseaddr,fork" /dev/null </dev/null >/dev/null 2>&1 &
squat_pid=$!
td_track "$squat_pid"
td_wait 10 eval '[ -n "$(ss -Htln "sport = :$squat")" ]' || td_fail "squatter did not listen"

ollama_start hot
fwd=$(td_port)
notify_listen

{ tunneld_conf_head probe_interval=3s probe_timeout=3s; cat <<EOF; } >"$T/tunneld.conf"
[alerts]
gpu_temp_c     = 30
gpu_mem_pct    = 80
ollama_latency = 400ms
repeat_after   = 10m

[node hot]
ssh            = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity       = $T/keys/hot
local_forward  = 127.0.0.1:$fwd 127.0.0.1:$OLLAMA_PORT
gpu            = nvidia-smi
require_models = qwen2.5:7b

[node rev]
ssh            = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity       = $T/keys/rev
remote_forward = 127.0.0.1:$squat 127.0.0.1:9

[node imposter]
ssh            = $SSHD_USER@127.0.0.1:$imp_port
identity       = $T/keys/imposter
EOF

CAP=$T/capture
export TUNNELD_LOG_CAPTURE=$CAP
tunneld_start "$T/tunneld.conf"
unset TUNNELD_LOG_CAPTURE
TD_CTL_TIMEOUT=600 ctl --json watch >"$T/watch.json" 2>&1 &
watch_json_pid=$!
td_track "$watch_json_pid"
TD_CTL_TIMEOUT=600 ctl watch >"$T/watch.txt" 2>&1 &
watch_pid=$!
td_track "$watch_pid"

# count EVENT [KEY=VALUE...]: capture lines that are the alert EVENT (its
# MESSAGE_ID) and carry every KEY=VALUE exactly.
count() {
	local ev=$1
	shift
	[ -f "$CAP" ] || { echo 0; return; }
	awk -F '\t' -v id="MESSAGE_ID=${MSGID[$ev]}" -v ev="TUNNELD_EVENT=$ev" -v want="$*" '
	BEGIN { n = split(want, w, " ") }
	{
		delete have
		for (i = 1; i <= NF; i++) have[$i] = 1
		if (!(id in have) || !(ev in have)) next
		for (i = 1; i <= n; i++) if (!(w[i] in have)) next
		c++
	}
	END { print c + 0 }' "$CAP"
}
# Values with spaces cannot go through count's word list: field FIELD of
# the alerts EVENT of NODE ("": any node), one line each.
field() {
	awk -F '\t' -v id="MESSAGE_ID=${MSGID[$1]}" -v node="TUNNELD_NODE=$2" -v any="${2:-1}" -v k="$3=" '
	{ id_ok = node_ok = 0
	  for (i = 1; i <= NF; i++) { if ($i == id) id_ok = 1; if ($i == node) node_ok = 1 }
	  if (id_ok && (node_ok || any == 1))
		for (i = 1; i <= NF; i++) if (index($i, k) == 1) print substr($i, length(k) + 1) }' "$CAP"
}
seen() {
	[ "$(count "$@")" -ge 1 ]
}
wait_alert() {
	local t=$1
	shift
	td_wait "$t" seen "$@" || td_fail "no $* alert within $t s; capture: $(grep -a MESSAGE_ID "$CAP" 2>/dev/null)"
}
once() {
	local n
	n=$(count "$@")
	[ "$n" = 1 ] || td_fail "$n entries for $*, not 1: $(grep -a "TUNNELD_EVENT=$1" "$CAP")"
}

# --------------------------------------------------------- faults at start
wait_alert 30 gpu-hot TUNNELD_NODE=hot TUNNELD_GPU=1
wait_alert 30 gpu-memory-high TUNNELD_NODE=hot TUNNELD_GPU=1
wait_alert 30 host-key-mismatch TUNNELD_NODE=imposter
wait_alert 30 remote-port-in-use TUNNELD_NODE=rev
# The imposter is retried and the squatter refused several times meanwhile;
# the probes run every 3 s: give each fault time to repeat itself.
sleep 8
once gpu-hot PRIORITY=4 TUNNELD_NODE=hot TUNNELD_GPU=1 TUNNELD_GPU_TEMP_C=31 TUNNELD_THRESHOLD=30
[ "$(count gpu-hot TUNNELD_GPU=0)" = 0 ] || td_fail "gpu0 (29 °C) alerted as hot"
once gpu-memory-high PRIORITY=4 TUNNELD_NODE=hot TUNNELD_GPU=1 TUNNELD_GPU_MEM_PCT=87 \
    TUNNELD_GPU_MEM_USED_MIB=21311 TUNNELD_GPU_MEM_TOTAL_MIB=24564 TUNNELD_THRESHOLD=80
[ "$(count gpu-memory-high TUNNELD_GPU=0)" = 0 ] || td_fail "gpu0 (2 %) alerted for memory"
once host-key-mismatch PRIORITY=3 TUNNELD_NODE=imposter TUNNELD_SSH_HOST=127.0.0.1 \
    TUNNELD_SSH_PORT=$imp_port "TUNNELD_KNOWN_HOSTS_NAME=[127.0.0.1]:$imp_port" \
    "TUNNELD_KNOWN_HOSTS_FILE=$T/known_hosts" "TUNNELD_SSH_TARGET=$SSHD_USER@127.0.0.1:$imp_port"
[ "$(field host-key-mismatch imposter TUNNELD_HOST_KEY)" = "ssh-ed25519 $imp_fp" ] ||
	td_fail "host key field: '$(field host-key-mismatch imposter TUNNELD_HOST_KEY)', server's is $imp_fp"
once node-down PRIORITY=3 TUNNELD_NODE=imposter
once remote-port-in-use PRIORITY=4 TUNNELD_NODE=rev "TUNNELD_LISTEN=127.0.0.1:$squat" \
    TUNNELD_PORT=$squat "TUNNELD_SSH_TARGET=$SSHD_USER@127.0.0.1:$SSHD_PORT"
for ev in node-down; do
	[ "$(count "$ev" TUNNELD_NODE=hot)" = 0 ] || td_fail "hot alerted $ev"
	[ "$(count "$ev" TUNNELD_NODE=rev)" = 0 ] || td_fail "rev alerted $ev"
done
[ "$(count all-nodes-down)" = 0 ] || td_fail "all-nodes-down while hot and rev are up"
grep -q 'TUNNELD_REASON=host key mismatch' "$CAP" || td_fail "host key reason missing"
td_ok "gpu-hot, gpu-memory-high, host-key-mismatch, node-down, remote-port-in-use: once each"

# ------------------------------------------------------------- Ollama
ollama_mode hot nomodel
wait_alert 30 model-missing TUNNELD_NODE=hot
ollama_mode hot ok
wait_alert 30 model-missing-cleared TUNNELD_NODE=hot
once model-missing PRIORITY=4 TUNNELD_NODE=hot TUNNELD_MODELS=qwen2.5:7b \
    "TUNNELD_OLLAMA_URL=http://127.0.0.1:$fwd"
once model-missing-cleared PRIORITY=5 TUNNELD_NODE=hot TUNNELD_MODELS=qwen2.5:7b
[ -n "$(field model-missing-cleared hot TUNNELD_DURATION)" ] || td_fail "model-missing-cleared without duration"

ollama_mode hot fail
wait_alert 30 ollama-unreachable TUNNELD_NODE=hot
ollama_mode hot ok
wait_alert 30 ollama-unreachable-cleared TUNNELD_NODE=hot
once ollama-unreachable PRIORITY=3 TUNNELD_NODE=hot "TUNNELD_OLLAMA_URL=http://127.0.0.1:$fwd"
once ollama-unreachable-cleared PRIORITY=5 TUNNELD_NODE=hot
field ollama-unreachable hot TUNNELD_REASON | grep -q 'HTTP 500' ||
	td_fail "ollama-unreachable reason: $(field ollama-unreachable hot TUNNELD_REASON)"

ollama_mode hot slow 600
wait_alert 30 ollama-slow TUNNELD_NODE=hot
ollama_mode hot ok
wait_alert 30 ollama-slow-cleared TUNNELD_NODE=hot
once ollama-slow PRIORITY=4 TUNNELD_NODE=hot TUNNELD_THRESHOLD=400
lat=$(field ollama-slow hot TUNNELD_LATENCY_MS)
[ "$lat" -ge 600 ] || td_fail "ollama-slow latency $lat ms < the stand-in's 600"
once ollama-slow-cleared PRIORITY=5 TUNNELD_NODE=hot TUNNELD_THRESHOLD=400
td_ok "model-missing, ollama-unreachable, ollama-slow and their -cleared: once each"

# ------------------------------------------------------------- the fixes
td__stop_pids 5 "$squat_pid"
# Once the squatter is gone, rev's own retry may have sshd take the port at
# once: what must be gone is the socat, not every listener.
td_wait 30 eval '! ss -Htlnp "sport = :$squat" 2>/dev/null | grep -q "((\"socat\","' ||
	td_fail "the squatter's port is still held by socat"
if ! td_wait 20 seen remote-port-in-use-cleared TUNNELD_NODE=rev; then
	# The forward's own retry did not get the freed port (a forward.c
	# matter, tested by the tunnels scenarios); a new session asks again.
	echo "note: remote forward not granted by its retries within 20 s; tunnelctl restart rev"
	ctl restart rev >/dev/null || td_fail "restart rev failed"
fi
wait_alert 30 remote-port-in-use-cleared TUNNELD_NODE=rev
once remote-port-in-use-cleared PRIORITY=5 TUNNELD_NODE=rev "TUNNELD_LISTEN=127.0.0.1:$squat"
[ -n "$(field remote-port-in-use-cleared rev TUNNELD_DURATION)" ] || td_fail "no duration"

read -r imp_key <"$imp_dir/host_ed25519.pub"
grep -v "^\[127.0.0.1\]:$imp_port " "$SSHD_KNOWN_HOSTS" >"$T/kh.new"
echo "[127.0.0.1]:$imp_port ${imp_key% *}" >>"$T/kh.new"
mv "$T/kh.new" "$SSHD_KNOWN_HOSTS"
wait_alert 30 host-key-mismatch-cleared TUNNELD_NODE=imposter
wait_alert 30 node-recovered TUNNELD_NODE=imposter
once host-key-mismatch-cleared PRIORITY=5 TUNNELD_NODE=imposter
[ "$(field host-key-mismatch-cleared imposter TUNNELD_HOST_KEY)" = "ssh-ed25519 $imp_fp" ] ||
	td_fail "accepted key: '$(field host-key-mismatch-cleared imposter TUNNELD_HOST_KEY)'"
once node-recovered PRIORITY=5 TUNNELD_NODE=imposter
[[ $(field node-recovered imposter TUNNELD_DURATION) =~ ^[0-9]+(ms|s|m[0-9]*s?|h[0-9]*m?)$ ]] ||
	td_fail "node-recovered duration '$(field node-recovered imposter TUNNELD_DURATION)'"
td_ok "remote-port-in-use-cleared, host-key-mismatch-cleared, node-recovered: once each"

# ------------------------------------------------------ every node down
sshd_stop
# Held first: a listener still accepting while its session is stopped hands
# imposter a new session that no one stops (seen under ASan in a fresh tree).
# SIGKILL ends the held listener without letting it run again (as
# sshd_stop does): a SIGCONT before SIGTERM let it accept, from its backlog,
# a connect the kernel completed meanwhile, and imposter was up for 87 ms
# after all-nodes-down (a busy run of 42c5a2a).
kill -STOP "$imp_pid"
imp_kids=$(td_descendants "$imp_pid")
kill -KILL "$imp_pid" 2>/dev/null || :
wait "$imp_pid" 2>/dev/null || :
# shellcheck disable=SC2086
td__stop_pids 5 $imp_kids
# A guard: any sshd still holding a connection on imposter's port (a
# session child no longer among the descendants) is found by that port.
for ((i = 0; i < 20; i++)); do
	late=$(ss -Htnp state established "sport = :$imp_port" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
	[ -n "$late" ] || break
	# shellcheck disable=SC2086
	td__stop_pids 5 $late
done
[ -z "$late" ] || td_fail "imposter's sessions outlived its sshd: $late"
wait_alert 30 all-nodes-down
sleep 3
once all-nodes-down PRIORITY=2
nodes=$(field all-nodes-down "" TUNNELD_NODES)
# imposter: down at start, back, down again = 2; hot and rev: once.
[ "$(count node-down TUNNELD_NODE=imposter)" = 2 ] || td_fail "imposter node-down $(count node-down TUNNELD_NODE=imposter) times"
once node-down PRIORITY=3 TUNNELD_NODE=hot
once node-down PRIORITY=3 TUNNELD_NODE=rev
grep -a "MESSAGE_ID=${MSGID[all-nodes-down]}" "$CAP" | grep -q -P 'TUNNELD_NODES=(?=[^\t]*\bhot\b)(?=[^\t]*\brev\b)(?=[^\t]*\bimposter\b)' ||
	td_fail "TUNNELD_NODES does not list every node: $nodes"
grep -a "MESSAGE_ID=${MSGID[all-nodes-down]}" "$CAP" | grep -q 'TUNNELD_NODE=' &&
	td_fail "all-nodes-down names a single node"
# Probe alerts stay quiet while a node is down: node-down says it.  A probe
# that failed in the instant before the session loss was seen (its sshd is
# being stopped, the machine is loaded) may alert before node-down: only an
# alert after it is wrong.
after=$(awk -F '\t' -v down="MESSAGE_ID=${MSGID[node-down]}" \
    -v probe="MESSAGE_ID=${MSGID[ollama-unreachable]}" '
	{ d = p = h = 0
	  for (i = 1; i <= NF; i++) {
		if ($i == down) d = 1
		if ($i == probe) p = 1
		if ($i == "TUNNELD_NODE=hot") h = 1 } }
	h && d { seen_down = 1; n = 0; next }
	h && p && seen_down { n++ }
	END { print n + 0 }' "$CAP")
[ "$after" = 0 ] || td_fail "ollama-unreachable for a node that is down: $(grep -a "TUNNELD_EVENT=ollama-unreachable" "$CAP")"
td_ok "every sshd stopped: node-down for each, all-nodes-down (crit) once"

sshd_start
wait_alert 30 all-nodes-down-cleared
wait_alert 30 node-recovered TUNNELD_NODE=hot
wait_alert 30 node-recovered TUNNELD_NODE=rev
sleep 2
once all-nodes-down-cleared PRIORITY=5
back=$(field all-nodes-down-cleared hot TUNNELD_DURATION)$(field all-nodes-down-cleared rev TUNNELD_DURATION)
[ -n "$back" ] || td_fail "all-nodes-down-cleared names neither hot nor rev: $(grep -a "${MSGID[all-nodes-down-cleared]}" "$CAP")"
once node-recovered TUNNELD_NODE=hot
once node-recovered TUNNELD_NODE=rev
td_ok "sshd back: node-recovered each, all-nodes-down-cleared once"

# Every alert entry carries MESSAGE_ID, PRIORITY, TUNNELD_EVENT, TUNNELD_REASON.
bad=$(grep -a 'MESSAGE_ID=' "$CAP" | awk -F '\t' '
	{ e = r = p = 0
	  for (i = 1; i <= NF; i++) { if ($i ~ /^TUNNELD_EVENT=/) e = 1; if ($i ~ /^TUNNELD_REASON=./) r = 1; if ($i ~ /^PRIORITY=[0-7]$/) p = 1 }
	  if (!(e && r && p)) print }')
[ -z "$bad" ] || td_fail "alerts without EVENT/REASON/PRIORITY: $bad"

# tunnelctl watch saw them, as JSON and as lines.
# (The watchers connect after start: the first alerts may precede them.)
grep -q '"event":"alert".*"kind":"model-missing".*"fields":{[^}]*"TUNNELD_MODELS":"qwen2.5:7b"' "$T/watch.json" ||
	td_fail "watch --json: no model-missing alert with its fields: $(head "$T/watch.json")"
grep -q "\"message_id\":\"${MSGID[all-nodes-down]}\"" "$T/watch.json" || td_fail "watch --json: no all-nodes-down"
grep -q '"event":"state"' "$T/watch.json" || td_fail "watch --json: no state changes"
grep -q ' ALERT host-key-mismatch-cleared imposter: ' "$T/watch.txt" || td_fail "watch: $(cat "$T/watch.txt")"
grep -q ' ALERT node-recovered imposter' "$T/watch.txt" || td_fail "watch: no node-recovered"
td_ok "tunnelctl watch shows the alerts beside state changes"

rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"

# ------------------------------------------------------- a real journal
# A private systemd-journald in a private mount namespace (its sockets and
# files bind-mounted over /run/systemd/journal, /run/log and the catalog
# directories, so the host's journal and catalog are never touched); the
# daemon logs with --log journal, the journal is read from the directory.
journal_check() {
	local jd=$T/journal
	[ "$(id -u)" = 0 ] || { echo "note: real journal skipped: not root"; return 0; }
	command -v unshare >/dev/null && [ -x /lib/systemd/systemd-journald ] &&
		command -v journalctl >/dev/null ||
		{ echo "note: real journal skipped: no unshare/systemd-journald/journalctl"; return 0; }
	unshare -m true 2>/dev/null || { echo "note: real journal skipped: unshare -m not permitted"; return 0; }
	mkdir -p "$jd/sock" "$jd/log/journal" "$jd/catsrc" "$jd/catdb"
	cp "$top_srcdir/units/tunneld.catalog" "$jd/catsrc/"
	printf '[Journal]\nStorage=volatile\nReadKMsg=no\nForwardToSyslog=no\nForwardToWall=no\nRateLimitBurst=0\n' >"$jd/journald.conf"
	local dead jport
	dead=$(td_port)
	jport=$(td_port)
	{ tunneld_conf_head control_socket="$T/j.sock"; cat <<EOF; } >"$T/j.conf"
[node gone]
ssh           = $SSHD_USER@127.0.0.1:$dead
identity      = $T/keys/hot
local_forward = 127.0.0.1:$jport 127.0.0.1:9
EOF
	# Each wait is bounded by time, not by a count of polls: on a loaded
	# machine journald takes seconds to make its socket, and a tunneld
	# started before it exists would log into the void.  Each step says
	# how far it got, into ns.out.
	# A journald that exits at once cannot run on this machine (a chroot
	# without /sys/fs/cgroup, for one): that part is skipped, with its reason.
	local rc=0
	JD=$jd TUNNELD=$TUNNELD TUNNELCTL=$TUNNELCTL CONF=$T/j.conf SOCK=$T/j.sock \
	timeout 180 unshare -m --propagation private bash -c '
		set -e
		mkdir -p /run/systemd/journal /run/log
		mount --bind "$JD/sock" /run/systemd/journal
		mount --bind "$JD/log" /run/log
		mount --bind "$JD/journald.conf" /etc/systemd/journald.conf
		[ -d /etc/systemd/journald.conf.d ] && mount -t tmpfs tmpfs /etc/systemd/journald.conf.d
		mkdir -p /usr/lib/systemd/catalog /var/lib/systemd/catalog
		mount --bind "$JD/catsrc" /usr/lib/systemd/catalog
		mount --bind "$JD/catdb" /var/lib/systemd/catalog
		# its own messages to stderr (journald.out), not to the kernel log
		SYSTEMD_LOG_TARGET=console /lib/systemd/systemd-journald >"$JD/journald.out" 2>&1 &
		jpid=$!
		end=$((SECONDS + 30))
		until [ -S /run/systemd/journal/socket ]; do
			kill -0 $jpid 2>/dev/null || { echo "systemd-journald exited"; exit 77; }
			[ $SECONDS -lt $end ] || { echo "no journal socket after 30 s"; exit 1; }
			sleep 0.1
		done
		echo "journald up after $((SECONDS + 30 - end)) s"
		journalctl --update-catalog
		"$TUNNELD" --config "$CONF" --foreground --log journal >"$JD/tunneld.out" 2>&1 &
		tpid=$!
		ok=0
		end=$((SECONDS + 60))
		while [ $SECONDS -lt $end ]; do
			kill -0 $jpid 2>/dev/null || { echo "systemd-journald exited"; exit 77; }
			if journalctl -D /run/log/journal -q MESSAGE_ID=04d7737990064a899bb8301acb295b2d 2>/dev/null | grep -q .; then ok=1; break; fi
			sleep 0.2
		done
		[ $ok = 1 ] && echo "node-down in the journal after $((SECONDS + 60 - end)) s" ||
			echo "no node-down in the journal after 60 s"
		sleep 2
		kill -TERM $tpid; wait $tpid || :
		journalctl --sync 2>/dev/null || sleep 0.5
		journalctl -D /run/log/journal -o export >"$JD/export.txt"
		journalctl -D /run/log/journal -x -q --no-pager MESSAGE_ID=04d7737990064a899bb8301acb295b2d >"$JD/x.txt" 2>&1 || :
		kill -TERM $jpid; wait $jpid || :
		[ $ok = 1 ]
	' >"$jd/ns.out" 2>&1 || rc=$?
	if [ "$rc" = 77 ]; then
		echo "note: real journal skipped: systemd-journald exited at start: $(tail -n 1 "$jd/journald.out")"
		return 0
	fi
	[ "$rc" = 0 ] || {
		echo "---- $jd/ns.out"; cat "$jd/ns.out"
		echo "---- journald"; cat "$jd/journald.out" 2>/dev/null
		echo "---- tunneld"; cat "$jd/tunneld.out" 2>/dev/null
		echo "---- the journal"; journalctl -D "$jd/log/journal" -q --no-pager 2>&1 | tail -n 20
		td_fail "no node-down entry in the private journal"
	}
	# The export format: one field per line, entries apart by a blank line.
	awk -v RS= -v id="MESSAGE_ID=${MSGID[node-down]}" '
		index($0, "\n" id "\n") && index($0, "\nPRIORITY=3\n") && index($0, "\nTUNNELD_NODE=gone\n") &&
		index($0, "\nTUNNELD_EVENT=node-down\n") && index($0, "\nTUNNELD_REASON=connection refused\n") &&
		index($0, "\nSYSLOG_IDENTIFIER=tunneld\n") { n++ }
		END { exit n != 1 }' "$jd/export.txt" ||
		td_fail "the journal lacks one node-down entry with its fields: $(grep -a -c MESSAGE_ID "$jd/export.txt") alerts"
	awk -v RS= -v id="MESSAGE_ID=${MSGID[all-nodes-down]}" 'index($0, "\n" id "\n") && index($0, "\nPRIORITY=2\n") { n++ } END { exit n != 1 }' \
		"$jd/export.txt" || td_fail "the journal lacks one all-nodes-down (crit)"
	grep -q 'Node gone is down: connection refused' "$jd/x.txt" ||
		td_fail "journalctl -x does not explain node-down from the catalog: $(cat "$jd/x.txt")"
	td_ok "a private systemd-journald: MESSAGE_ID, PRIORITY and fields in the journal; journalctl -x shows the catalog"
}
journal_check
