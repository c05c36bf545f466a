#!/bin/bash
# t_probes.sh: GPU, Ollama and HTTP probes end to end (issue 4).
#
# One real sshd plays five GPU nodes (one key each, each with its own PATH
# and nvidia-smi/tegrastats stand-in behaviour); an Ollama stand-in is
# reached through a real local_forward tunnel; three `ssh = none` nodes run
# their probes on this host (tunneld's own PATH points at the stand-ins).
# Asserted: node states and reasons, the status JSON fields (null for
# absent readings, stale marks, ages, load_score), the tunnelctl table, and
# that hung or stopped tools and timed-out probes leak neither processes
# nor file descriptors.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

HELPER=$top_builddir/tests/tunnel-helper
[ -x "$HELPER" ] || td_fail "$HELPER is not built (make check builds it)"

# ------------------------------------------------------------- helpers

# js PATH: a value from the status JSON (tunnel-helper json syntax); from
# the snapshot $T/snap instead while SNAP=1 (see snap).
SNAP=0
js() {
	if [ "$SNAP" = 1 ]; then
		"$HELPER" json "$1" <"$T/snap"
	else
		ctl --json status | "$HELPER" json "$1"
	fi
}

# snap NODE PATH VALUE: one status read where the field equals VALUE, kept
# in $T/snap (for td_wait).  Checks of several fields then read that one
# moment: on a loaded machine a probe round may fail between two reads.
snap() {
	ctl --json status >"$T/snap.tmp" || [ $? = 1 ] || return 1
	[ "$("$HELPER" json "nodes.name=$1.$2" <"$T/snap.tmp")" = "$3" ] &&
		mv -f "$T/snap.tmp" "$T/snap"
}

# nf NODE PATH: a field of node NODE.
nf() {
	js "nodes.name=$1.$2"
}

# is NODE PATH VALUE: the field equals VALUE now (for td_wait).
is() {
	[ "$(nf "$1" "$2" 2>/dev/null)" = "$3" ]
}

# has NODE PATH TEXT: the field contains TEXT now.
has() {
	local v
	v=$(nf "$1" "$2" 2>/dev/null) || return 1
	[[ $v == *"$3"* ]]
}

# want NODE PATH VALUE: assert equality now (numbers by value: jansson
# writes 398.41 as 398.41000000000003, the same double).
want() {
	local v num='^-?[0-9]+(\.[0-9]+)?$'
	v=$(nf "$1" "$2" 2>/dev/null) || v="<absent>"
	[ "$v" = "$3" ] && return 0
	if [[ $v =~ $num ]] && [[ $3 =~ $num ]] &&
		awk -v a="$v" -v b="$3" 'BEGIN { d = a - b; exit !(d < 1e-9 && d > -1e-9) }'; then
		return 0
	fi
	td_fail "$1.$2 is '$v', expected '$3'"
}

# wait_state NODE STATE [REASON_PART]: within 90 s.  A state that needs
# rise = 2 good probes takes two rounds; at load 25 (a check-busy run beside
# other work) each GPU probe of this daemon's many nodes timed out for 30 s
# and gpubox came back up 33 s after its Ollama did.
state_is() {
	is "$1" state "$2" && has "$1" reason "${3:-}"
}
wait_state() {
	if ! td_wait 90 state_is "$1" "$2" "${3:-}"; then
		td_fail "$1: state '$(nf "$1" state)' reason '$(nf "$1" reason)'; wanted $2 '${3:-}'"
	fi
}

# procs TEXT: how many live processes have TEXT in their command line.
procs() {
	local f c n=0
	for f in /proc/[0-9]*/cmdline; do
		{ c=$(tr '\0' ' ' <"$f"); } 2>/dev/null || continue
		[[ $c == *"$1"* ]] && n=$((n + 1))
	done
	echo "$n"
}

# fds: the fewest descriptors tunneld held over 5 samples 0.3 s apart.
fds() { td_fds_min "$TUNNELD_PID" 5 0.3; }

# zombies: tunneld's children that are zombies, as "PID PID ...".
zombies() {
	local f s pid ppid st out=''
	for f in /proc/[0-9]*/stat; do
		{ read -r s <"$f"; } 2>/dev/null || continue
		pid=${s%% (*}
		s=${s##*) }
		st=${s%% *}
		ppid=${s#* }
		ppid=${ppid%% *}
		[ "$ppid" = "$TUNNELD_PID" ] && [ "$st" = Z ] && out+=" $pid"
	done
	echo "$out"
}

# ---------------------------------------------------------------- setup

sshd_setup
td_node gpubox nvidia-smi
sshd_key gpubox "PATH=$TD_NODE_PATH" "TD_GPU_LOG=$T/gpubox-smi.log"
td_node migbox nvidia-smi
sshd_key migbox "PATH=$TD_NODE_PATH" \
    "TD_GPU_FIXTURE=$TD_FIXTURES/nvidia-smi-h100-mig.txt"
td_node hangbox nvidia-smi
sshd_key hangbox "PATH=$TD_NODE_PATH" "TD_GPU_MODE=hang" \
    "TD_GPU_LOG=$T/hangbox-smi.log"
td_node failbox nvidia-smi
sshd_key failbox "PATH=$TD_NODE_PATH" \
    "TD_GPU_FIXTURE=$TD_FIXTURES/nvidia-smi-driver-fail.txt" "TD_GPU_EXIT=9"
td_node nosmi
sshd_key nosmi "PATH=$TD_NODE_PATH"
td_node orin tegrastats
sshd_key orin "PATH=$TD_NODE_PATH" "TD_TEGRA_LOG=$T/orin-tegra.log"
td_node hub nvidia-smi tegrastats
HUB_PATH=$TD_NODE_PATH
sshd_start

ollama_start gpubox
OLL_GPUBOX=$OLLAMA_PORT
ollama_start aurora
OLL_AURORA=$OLLAMA_PORT
# An Ollama whose model list is over the 1 MiB cap, and one with nothing.
mkdir -p "$T/bigfix" "$T/emptyfix"
cp "$TD_FIXTURES/ollama-version.json" "$TD_FIXTURES/ollama-ps.json" "$T/bigfix/"
awk 'BEGIN { printf "{\"models\":["; for (i = 0; i < 40000; i++)
	printf "%s{\"name\":\"model-%06d:latest\",\"size\":1}", i ? "," : "", i;
	printf "]}" }' >"$T/bigfix/ollama-tags.json"
cp "$TD_FIXTURES/ollama-version.json" "$T/emptyfix/"
cp "$TD_FIXTURES/ollama-tags-empty.json" "$T/emptyfix/ollama-tags.json"
cp "$TD_FIXTURES/ollama-ps-empty.json" "$T/emptyfix/ollama-ps.json"
ollama_start big "$T/bigfix"
OLL_BIG=$OLLAMA_PORT
ollama_start empty "$T/emptyfix"
OLL_EMPTY=$OLLAMA_PORT
fwd=$(td_port)
dead=$(td_port)		# nothing listens there

# probe_interval must not be below probe_timeout; 2 s leaves room for a
# loaded machine (an nvidia-smi round trip through sshd is ~100 ms).
{ tunneld_conf_head probe_interval=2s probe_timeout=2s; cat <<EOF; } >"$T/tunneld.conf"
[node gpubox]
ssh            = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity       = $T/keys/gpubox
local_forward  = 127.0.0.1:$fwd 127.0.0.1:$OLL_GPUBOX
gpu            = nvidia-smi
require_models = qwen2.5:7b
http           = http://127.0.0.1:$fwd/

[node migbox]
ssh      = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity = $T/keys/migbox
gpu      = nvidia-smi

[node hangbox]
ssh      = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity = $T/keys/hangbox
gpu      = nvidia-smi

[node failbox]
ssh      = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity = $T/keys/failbox
gpu      = nvidia-smi

[node nosmi]
ssh      = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity = $T/keys/nosmi
gpu      = nvidia-smi

[node orin]
ssh      = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity = $T/keys/orin
gpu      = tegrastats

[node aurora]
ssh    = none
gpu    = nvidia-smi
http   = http://127.0.0.1:$OLL_AURORA/

[node jetson]
ssh    = none
gpu    = tegrastats

[node refused]
ssh    = none
ollama = http://127.0.0.1:$dead

[node bigbox]
ssh    = none
ollama = http://127.0.0.1:$OLL_BIG

[node emptybox]
ssh            = none
ollama         = http://127.0.0.1:$OLL_EMPTY
require_models = qwen2.5:7b
EOF

# The local nodes' tools are found on tunneld's own PATH.
saved_path=$PATH
PATH=$HUB_PATH:$PATH TD_GPU_FIXTURE=$TD_FIXTURES/nvidia-smi-a100-nosupport.txt \
    TD_TEGRA_LOG=$T/hub-tegra.log tunneld_start "$T/tunneld.conf"
PATH=$saved_path

# ------------------------------------------- GPU over SSH: good readings

wait_state gpubox up
td_wait 60 snap gpubox gpu_probe.state ok || td_fail "gpubox: no GPU reading"
SNAP=1
want gpubox gpus.0.name "NVIDIA GeForce RTX 4090"
want gpubox gpus.0.temp_c 29
want gpubox gpus.0.util_pct 0
want gpubox gpus.1.util_pct 87
want gpubox gpus.1.mem_used_mib 21311
want gpubox gpus.1.mem_total_mib 24564
want gpubox gpus.1.power_w 398.41
want gpubox gpus.1.uuid GPU-0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d
want gpubox gpu_probe.tool nvidia-smi
want gpubox gpu_probe.stale false
want gpubox gpu_probe.gpus_total 2
age=$(nf gpubox gpu_probe.age_s)
[[ $age =~ ^[0-9]+(\.[0-9]+)?$ ]] || td_fail "gpubox: gpu_probe.age_s is '$age'"
SNAP=0
# The argv arrived intact (the stand-in refuses any other) and no shell
# string was built: the log shows exactly the documented query.
grep -q "nvidia-smi --query-gpu=index,uuid,name,temperature.gpu,utilization.gpu,memory.used,memory.total,power.draw,power.limit --format=csv,noheader,nounits$" \
    "$T/gpubox-smi.log" || td_fail "gpubox: nvidia-smi ran with other arguments: $(tail -n 1 "$T/gpubox-smi.log")"
td_ok "nvidia-smi over SSH: 2x RTX 4090, every field, argv exact, age ${age}s"

wait_state migbox up
td_wait 25 is migbox gpu_probe.state ok || td_fail "migbox: no GPU reading"
want migbox gpus.0.util_pct null
want migbox gpus.0.temp_c 42
want migbox gpus.0.name "NVIDIA H100 80GB HBM3"
td_ok "MIG mode: utilisation null, not 0"

# Orin's RAM is 92 % used, over gpu_mem_pct = 90: a crossed threshold.
wait_state orin degraded "gpu0 memory 92% > 90%"
td_wait 25 is orin gpu_probe.state ok || td_fail "orin: no tegrastats reading"
want orin gpu_probe.tool tegrastats
want orin gpus.0.name Jetson
want orin gpus.0.util_pct 84
want orin gpus.0.mem_used_mib 6982
want orin gpus.0.mem_total_mib 7620
td_ok "tegrastats over SSH: first line parsed (GR3D 84 %, RAM 6982/7620); RAM over gpu_mem_pct -> degraded"

# ------------------------------------------------ GPU over SSH: failures

wait_state hangbox degraded "gpu: timeout"
want hangbox gpu_probe.state down
want hangbox gpus "[]"
wait_state failbox degraded "gpu: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"
has failbox reason "(exit 9)" || td_fail "failbox: reason lacks the exit code: $(nf failbox reason)"
wait_state nosmi degraded "command not found"
has nosmi reason "(exit 127)" || td_fail "nosmi: $(nf nosmi reason)"
td_ok "hung nvidia-smi -> timeout; driver failure and command not found -> the tool's own first line"

# ------------------------------------------------------ local probes

wait_state aurora up
td_wait 25 is aurora gpu_probe.state ok || td_fail "aurora: no local GPU reading"
want aurora gpus.0.name "NVIDIA A100-SXM4-80GB"
want aurora gpus.0.power_w null
want aurora gpus.0.power_limit_w 400.0
want aurora http.0.state ok
want aurora http.0.status 200
wait_state jetson degraded "gpu0 memory 92% > 90%"
td_wait 25 is jetson gpu_probe.state ok || td_fail "jetson: no local tegrastats reading"
want jetson gpus.0.util_pct 84
wait_state refused degraded "ollama: connection refused"
want refused ollama.state down
want refused ollama.version null
td_ok "ssh = none: nvidia-smi and tegrastats spawned locally, [Not Supported] power is null; refused Ollama named"

size=$(wc -c <"$T/bigfix/ollama-tags.json")
[ "$size" -gt 1048576 ] || td_fail "the big tags body is only $size bytes"
wait_state bigbox degraded "ollama: body too large"
wait_state emptybox degraded "missing model qwen2.5:7b"
want emptybox ollama.models_total 0
want emptybox ollama.models "[]"
want emptybox ollama.loaded "[]"
td_ok "Ollama: a $size-byte answer refused at the cap; an empty model list misses the required model"

# -------------------------------------------- Ollama through the tunnel

td_wait 25 is gpubox ollama.state ok || td_fail "gpubox: Ollama probe never ok: $(nf gpubox ollama)"
want gpubox ollama.url "http://127.0.0.1:$fwd"
want gpubox ollama.version 0.5.7
want gpubox ollama.models_total 6
want gpubox ollama.models.0 qwen2.5:7b
want gpubox ollama.loaded.0.name qwen2.5:7b
want gpubox ollama.loaded.0.size_vram 6654289920
want gpubox ollama.missing_models "[]"
want gpubox http.0.status 200
lat=$(nf gpubox ollama.latency_ms)
awk -v l="$lat" 'BEGIN { exit !(l + 0 > 0) }' || td_fail "gpubox: latency_ms is '$lat'"
grep -q "GET /api/ps" "$T/ollama-gpubox.log" || td_fail "the stand-in saw no /api/ps"
n=$(nf gpubox forwards.0.total)
[ "$n" -ge 1 ] || td_fail "the Ollama probe did not go through the tunnel (forward total $n)"
td_ok "Ollama through the tunnel: version, 6 models, loaded with VRAM, latency ${lat} ms"

# The table shows the figures.
out=$(ctl status) || :
line=$(grep '^gpubox ' <<<"$out") || td_fail "no gpubox row: $out"
for want_text in "0.5.7" "6 models" "RTX 4090 29C 0% 0.5/24.0G | 31C 87% 20.8/24.0G"; do
	[[ $line == *"$want_text"* ]] || td_fail "gpubox row lacks '$want_text': $line"
done
line=$(grep '^aurora ' <<<"$out") || td_fail "no aurora row: $out"
[[ $line == *"A100-SXM4-80GB 35C 12% 3.9/80.0G"* ]] || td_fail "aurora row: $line"
td_ok "tunnelctl status: Ollama version, latency, model count, GPU name/temp/util/memory"

# ------------------------------------------ Ollama faults, one at a time

fd0=$(fds)
ollama_mode gpubox fail
wait_state gpubox degraded "ollama: HTTP 500: "
want gpubox ollama.state down
want gpubox ollama.version 0.5.7	# kept, marked stale
want gpubox ollama.stale true
td_ok "Ollama HTTP 500: reason '$(nf gpubox reason)', last figures kept as stale"

ollama_mode gpubox ok
wait_state gpubox up
want gpubox ollama.stale false

ollama_mode gpubox garbage
wait_state gpubox degraded "malformed JSON"
ollama_mode gpubox truncated
wait_state gpubox degraded "ollama: /api/version: "
ollama_mode gpubox ok
wait_state gpubox up
ollama_mode gpubox cut
wait_state gpubox degraded "ollama: connection closed before the answer was complete"
ollama_mode gpubox slow 6000
wait_state gpubox degraded "ollama: timeout"
ollama_mode gpubox hang
wait_state gpubox degraded "ollama: timeout"
# A hung Ollama holds up neither this node's GPU probe nor other nodes:
# each keeps getting fresh, good readings while it hangs (waited for: on a
# loaded machine one round may time out on its own).
sleep 4
fresh_ok() {
	local a
	a=$(nf "$1" gpu_probe.age_s 2>/dev/null) || return 1
	[[ $a =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v a="$a" 'BEGIN { exit !(a <= 6) }' &&
		is "$1" gpu_probe.state ok
}
for n in gpubox aurora migbox; do
	td_wait 60 fresh_ok $n ||
		td_fail "$n: GPU reading $(nf $n gpu_probe.age_s)s old, $(nf $n gpu_probe.state), while gpubox's Ollama hangs"
done
ollama_mode gpubox nomodel
wait_state gpubox degraded "missing model qwen2.5:7b"
want gpubox reason "missing model qwen2.5:7b"
want gpubox ollama.state ok
want gpubox ollama.missing_models '["qwen2.5:7b"]'
td_ok "garbage, truncated, cut, slow, hung and nomodel each name their cause"

fails=$(nf gpubox probe_failures_recent)
[ "$fails" -ge 5 ] || td_fail "gpubox: probe_failures_recent is $fails after 6 failures"
score=$(nf gpubox load_score)
lat=$(nf gpubox ollama.latency_ms)
act=$(nf gpubox forwards.0.active)
awk -v s="$score" -v a="$act" -v l="$lat" -v f="$fails" \
    'BEGIN { e = a * 100 + l / 10 + f * 50; d = s - e; if (d < 0) d = -d;
	     exit !(d <= 51) }' ||
	td_fail "gpubox: load_score $score != $act x 100 + $lat / 10 + $fails x 50"
td_ok "load_score $score = active $act x 100 + latency $lat / 10 + recent failures $fails x 50"

ollama_mode gpubox ok
wait_state gpubox up

# HTTP probe: the health URL of a local node answers 500.
ollama_mode aurora fail
wait_state aurora degraded "http://127.0.0.1:$OLL_AURORA/: 500"
want aurora http.0.status 500
ollama_mode aurora ok
wait_state aurora up
td_ok "http probe: 2xx expected, '$OLL_AURORA/: 500' while failing, up again after"

# ---------------------------------------------------------- no leaks

sleep 5		# a few more rounds of hung and failing tools
fd1=$(fds)
[ "$fd1" -le $((fd0 + 2)) ] || td_fail "tunneld descriptors grew from $fd0 to $fd1"
# A timed-out nvidia-smi that does not end keeps its (closed) channel
# until it does, and no second one is started meanwhile: hung tools do
# not pile up on the node, whatever the number of rounds.
nh=$(procs "$T/nodes/hangbox/bin/nvidia-smi")
nc=$(wc -l <"$T/hangbox-smi.log")
[ "$nc" = 1 ] || td_fail "hangbox: $nc nvidia-smi runs while the first still hangs"
[ "$nh" -le 1 ] || td_fail "hangbox: $nh hung nvidia-smi processes alive"
has hangbox reason "gpu: timeout (nvidia-smi from an earlier probe still running)" ||
	td_fail "hangbox: reason '$(nf hangbox reason)'"
# tegrastats is stopped after its first line, over SSH and locally.
no=$(procs "$T/nodes/orin/bin/tegrastats")
ns=$(wc -l <"$T/orin-tegra.log")
[ "$ns" -ge 4 ] && [ "$no" -le 2 ] || td_fail "orin: $no tegrastats alive after $ns runs"
nl=$(procs "$HUB_PATH/tegrastats")
nls=$(wc -l <"$T/hub-tegra.log")
[ "$nls" -ge 4 ] && [ "$nl" -le 2 ] || td_fail "jetson: $nl local tegrastats alive after $nls runs"
# Children are reaped: a zombie seen twice a second apart is a leak.
z1=$(zombies)
sleep 1
z2=$(zombies)
for p in $z1; do
	[[ " $z2 " != *" $p "* ]] || td_fail "tunneld leaves zombie child $p"
done
td_ok "no leaks: fds $fd0 -> $fd1, hung nvidia-smi runs $nc ($nh alive), tegrastats $ns/$nls runs with $no/$nl alive, no zombies"

# ------------------------- a hung sshd: probes in flight when it dies
# Frozen, sshd answers nothing: channel opens and execs time out, then the
# keepalives declare the sessions dead while probe channels are in flight.
# The node may retry before a poll sees it (a connect to the frozen sshd then
# times out in key exchange, a reason of its own): the history says why the
# session went down.
keepalive_death() {
	ctl --json status 2>/dev/null | td_jq --argjson t0 "$1" '.nodes[] |
	    select(.name == "gpubox") | .history | any(.time >= $t0 and
	    .to == "backoff" and (.reason | contains("keepalive timeout")))' >/dev/null
}
frozen_at=$(date +%s)
sshd_freeze
td_wait 90 keepalive_death "$frozen_at" ||
	td_fail "gpubox: no change to backoff for 'keepalive timeout' since the freeze; state '$(nf gpubox state)' reason '$(nf gpubox reason)'"
want gpubox gpu_probe.stale true
want gpubox gpus.0.name "NVIDIA GeForce RTX 4090"
sshd_thaw
wait_state gpubox up
td_wait 25 is gpubox gpu_probe.stale false || td_fail "gpubox: GPU figures stale after thaw"
td_alive "$TUNNELD_PID" || td_fail "tunneld died"
td_ok "sshd frozen then thawed: sessions lost with probes in flight, figures kept stale, fresh again after"

# --------------------------------- session down: figures kept, stale

runs_before=$(wc -l <"$T/hangbox-smi.log")
sshd_stop
wait_state gpubox backoff
want gpubox gpu_probe.stale true
want gpubox gpus.1.util_pct 87
want gpubox ollama.stale true
want gpubox ollama.version 0.5.7
want hangbox gpu_probe.state pending	# an old session's failure is no fault
out=$(ctl status) || :
line=$(grep '^gpubox ' <<<"$out") || td_fail "no gpubox row: $out"
[[ $line == *"6 models (stale)"*"20.8/24.0G (stale)"* ]] ||
	td_fail "gpubox row does not mark stale figures: $line"
td_ok "session down: GPU and Ollama figures kept, marked stale"

sshd_start
wait_state gpubox up
td_wait 25 is gpubox gpu_probe.stale false || td_fail "gpubox: GPU figures still stale after reconnect"
td_wait 25 is gpubox ollama.stale false || td_fail "gpubox: Ollama figures still stale after reconnect"
wait_state hangbox degraded "gpu: timeout"
# The old session took the hung command with it; the new one runs one.
td_wait 25 eval '[ "$(wc -l <"$T/hangbox-smi.log")" = $((runs_before + 1)) ]' ||
	td_fail "hangbox: $(wc -l <"$T/hangbox-smi.log") nvidia-smi runs after reconnect, wanted $((runs_before + 1))"
td_ok "session back: fresh figures, hung GPU probe fails again"

# ----------------------------------------------------------- reload
# An unchanged node keeps its probes (and their URLs) across a reload
# that frees the old configuration.
cat >>"$T/tunneld.conf" <<EOF

[node extra]
ssh = none
EOF
ctl reload >/dev/null || td_fail "reload failed"
want gpubox ollama.url "http://127.0.0.1:$fwd"
want aurora http.0.url "http://127.0.0.1:$OLL_AURORA/"
ollama_mode gpubox nomodel
wait_state gpubox degraded "missing model qwen2.5:7b"
ollama_mode gpubox ok
wait_state gpubox up
td_ok "reload: unchanged nodes keep probing with their own URLs"

rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"
td_ok "tunneld stopped cleanly"
