#!/bin/bash
#
# t_metrics.sh: the Prometheus exposition (issue 5), scraped over HTTP from
# metrics_listen and through `tunnelctl metrics`, with nodes up, degraded
# and down for real:
#
#   good   sshd on loopback, nvidia-smi stand-in (2x RTX 4090), Ollama
#          stand-in through a local forward, its required model present: up
#   sick   same sshd, an A100 that reports no power draw, its Ollama failing
#          (HTTP 500): degraded
#   never  a closed port: backoff from the start, no session ever
#
# Asserted: HELP and TYPE for every family, values equal to the fixtures
# (temperatures, memory in bytes, model counts), absent readings absent
# (never's RTT, sick's power and Ollama latency), forward counters moving
# with traffic, `promtool check metrics` clean; then sshd stopped (good
# goes to backoff and its probe figures leave the exposition, ollama_up 0),
# restarted (reconnects_total counts it), and a reload that moves
# metrics_listen.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

command -v curl >/dev/null || td_skip "curl is not installed (apt-get install curl)"
command -v promtool >/dev/null || td_skip "promtool is not installed (apt-get install prometheus)"

sshd_setup
td_node good nvidia-smi
sshd_key good "PATH=$TD_NODE_PATH" "TD_GPU_FIXTURE=$TD_FIXTURES/nvidia-smi-2x4090.txt"
td_node sick nvidia-smi
sshd_key sick "PATH=$TD_NODE_PATH" "TD_GPU_FIXTURE=$TD_FIXTURES/nvidia-smi-a100-nosupport.txt"
sshd_start
ollama_start good
ollama_good=$OLLAMA_PORT
ollama_start sick
ollama_sick=$OLLAMA_PORT
ollama_mode sick fail
notify_listen

fwd_good=$(td_port)
fwd_sick=$(td_port)
closed=$(td_port)
fwd_never=$(td_port)
mport=$(td_port)
mport2=$(td_port)

write_conf() {
	{ tunneld_conf_head "metrics_listen=127.0.0.1:$1"; cat <<EOF; } >"$T/tunneld.conf"
[node good]
ssh            = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity       = $T/keys/good
local_forward  = 127.0.0.1:$fwd_good 127.0.0.1:$ollama_good
gpu            = nvidia-smi
require_models = qwen2.5:7b

[node sick]
ssh            = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity       = $T/keys/sick
local_forward  = 127.0.0.1:$fwd_sick 127.0.0.1:$ollama_sick
gpu            = nvidia-smi

[node never]
ssh            = $SSHD_USER@127.0.0.1:$closed
identity       = $T/keys/good
local_forward  = 127.0.0.1:$fwd_never 127.0.0.1:9
gpu            = none
EOF
}
write_conf "$mport"
tunneld_start "$T/tunneld.conf"

# scrape [PORT]: GET /metrics into $T/m.txt (headers in $T/m.hdr).
scrape() {
	curl -sS -m 10 -D "$T/m.hdr" -o "$T/m.txt" "http://127.0.0.1:${1:-$mport}/metrics"
}
# has LINE: the exposition has this exact sample line.
has() {
	grep -qxF -- "$1" "$T/m.txt"
}
# value SERIES: the value of the sample NAME{LABELS} (exact match), or fail.
value() {
	local v
	v=$(awk -v s="$1" 'index($0, s " ") == 1 { print $2 }' "$T/m.txt")
	[ -n "$v" ] || td_fail "no series $1 in the exposition: $(cat "$T/m.txt")"
	echo "$v"
}
absent() {
	! grep -qF -- "$1 " "$T/m.txt" || td_fail "series $1 should be absent: $(grep -F -- "$1" "$T/m.txt")"
}
scraped_has() {
	scrape "${2:-$mport}" >/dev/null 2>&1 && has "$1"
}
wait_series() {
	td_wait "$1" scraped_has "$2" "${3:-$mport}" ||
		td_fail "not seen within $1 s: $2; last scrape: $(cat "$T/m.txt" 2>/dev/null)"
}

# metrics_listen is served from the first tick after start.
wait_series 15 'tunneld_up 1'
wait_series 30 'tunneld_node_state{node="good",state="up"} 1'
wait_series 30 'tunneld_node_state{node="sick",state="degraded"} 1'
wait_series 30 'tunneld_node_state{node="never",state="backoff"} 1'
# Figures of the first good probe rounds, and a keepalive answered.
wait_series 30 'tunneld_gpu_temperature_celsius{node="good",gpu="1"} 31'
wait_series 30 'tunneld_ollama_up{node="good"} 1'
wait_series 30 'tunneld_ollama_up{node="sick"} 0'
td_ok "good up, sick degraded, never in backoff, as the exposition says"

grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/m.hdr" ||
	td_fail "Content-Type: $(cat "$T/m.hdr")"

# HELP and TYPE for every family, once, TYPE matching the name's suffix.
for fam in tunneld_node_up tunneld_node_state tunneld_ssh_connects_total \
    tunneld_ssh_reconnects_total tunneld_ssh_keepalive_rtt_seconds \
    tunneld_forward_up tunneld_forward_active_connections \
    tunneld_forward_connections_total tunneld_forward_bytes_total \
    tunneld_ollama_up tunneld_ollama_latency_seconds tunneld_ollama_models \
    tunneld_ollama_loaded_models tunneld_ollama_missing_models \
    tunneld_gpu_probe_up tunneld_gpu_temperature_celsius \
    tunneld_gpu_utilization_ratio tunneld_gpu_memory_used_bytes \
    tunneld_gpu_memory_total_bytes tunneld_gpu_power_watts; do
	[ "$(grep -c "^# HELP $fam " "$T/m.txt")" = 1 ] || td_fail "no single HELP for $fam"
	[ "$(grep -c "^# TYPE $fam " "$T/m.txt")" = 1 ] || td_fail "no single TYPE for $fam"
	case $fam in
	*_total) grep -qx "# TYPE $fam counter" "$T/m.txt" || td_fail "$fam is not a counter" ;;
	*) grep -qx "# TYPE $fam gauge" "$T/m.txt" || td_fail "$fam is not a gauge" ;;
	esac
done
# Every sample belongs to a family announced before it.
awk '/^# TYPE /{ t[$3] = 1; next } /^#/{ next }
     { n = $1; sub(/\{.*/, "", n); if (!(n in t)) { print "undeclared: " $0; bad = 1 } }
     END { exit bad }' "$T/m.txt" || td_fail "samples without TYPE"
td_ok "HELP and TYPE for every family"

promtool check metrics <"$T/m.txt" >"$T/promtool.out" 2>&1 ||
	td_fail "promtool check metrics: $(cat "$T/promtool.out")"
td_ok "promtool check metrics passes (up, degraded, down)"

# The values, against the fixtures.
has 'tunneld_node_up{node="good"} 1' || td_fail "good not up"
has 'tunneld_node_up{node="sick"} 0' || td_fail "sick counted up"
has 'tunneld_node_up{node="never"} 0' || td_fail "never counted up"
for s in stopped connecting up backoff; do
	has "tunneld_node_state{node=\"sick\",state=\"$s\"} 0" || td_fail "sick state $s not 0"
done
[ "$(value 'tunneld_ssh_connects_total{node="good"}')" -ge 1 ] || td_fail "good connects_total < 1"
has 'tunneld_ssh_connects_total{node="never"} 0' || td_fail "never connects_total not 0"
absent 'tunneld_ssh_keepalive_rtt_seconds{node="never"}'
# The RTT is a reading only once session.c has sampled one (the status
# JSON's rtt_ms): then it must be the same figure, in seconds.
if grep -q '^tunneld_ssh_keepalive_rtt_seconds{node="good"} ' "$T/m.txt"; then
	rtt=$(value 'tunneld_ssh_keepalive_rtt_seconds{node="good"}')
	awk -v r="$rtt" 'BEGIN { exit !(r > 0 && r < 5) }' || td_fail "good RTT $rtt s"
elif ctl --json status good | grep -q '"rtt_ms":null'; then
	echo "note: no keepalive RTT sampled yet (status rtt_ms is null too)"
else
	# A keepalive was answered between the scrape and the status: a scrape
	# taken after the status must have it.
	scrape
	grep -q '^tunneld_ssh_keepalive_rtt_seconds{node="good"} ' "$T/m.txt" ||
		td_fail "status has an RTT for good, a later scrape none"
fi
has 'tunneld_gpu_temperature_celsius{node="good",gpu="0"} 29' || td_fail "gpu0 temp"
has 'tunneld_gpu_utilization_ratio{node="good",gpu="1"} 0.87' || td_fail "gpu1 util"
has "tunneld_gpu_memory_used_bytes{node=\"good\",gpu=\"1\"} $((21311 * 1048576))" || td_fail "gpu1 mem used"
has "tunneld_gpu_memory_total_bytes{node=\"good\",gpu=\"1\"} $((24564 * 1048576))" || td_fail "gpu1 mem total"
has 'tunneld_gpu_power_watts{node="good",gpu="1"} 398.41' || td_fail "gpu1 power"
has 'tunneld_gpu_temperature_celsius{node="sick",gpu="0"} 35' || td_fail "sick gpu temp"
absent 'tunneld_gpu_power_watts{node="sick",gpu="0"}'	# [Not Supported]
absent 'tunneld_gpu_temperature_celsius{node="never"'
has 'tunneld_ollama_models{node="good"} 6' || td_fail "good model count"
has 'tunneld_ollama_loaded_models{node="good"} 2' || td_fail "good loaded count"
has 'tunneld_ollama_missing_models{node="good"} 0' || td_fail "good missing count"
lat=$(value 'tunneld_ollama_latency_seconds{node="good"}')
awk -v r="$lat" 'BEGIN { exit !(r > 0 && r < 5) }' || td_fail "good Ollama latency $lat s"
absent 'tunneld_ollama_latency_seconds{node="sick"}'
absent 'tunneld_ollama_models{node="sick"}'
absent 'tunneld_ollama_up{node="never"}'
has "tunneld_forward_up{node=\"good\",kind=\"local\",listen=\"127.0.0.1:$fwd_good\"} 1" || td_fail "good forward not up"
has "tunneld_forward_up{node=\"never\",kind=\"local\",listen=\"127.0.0.1:$fwd_never\"} 0" ||
	td_fail "never's forward: $(grep never "$T/m.txt")"
td_ok "values equal the fixtures; absent readings are absent series"

# Traffic through good's forward moves its counters.
lbl="node=\"good\",kind=\"local\",listen=\"127.0.0.1:$fwd_good\""
c0=$(value "tunneld_forward_connections_total{$lbl}")
for i in 1 2 3; do
	curl -sS -m 10 -o /dev/null "http://127.0.0.1:$fwd_good/api/version" ||
		td_fail "request $i through good's forward failed"
done
td_wait 10 eval 'scrape && [ "$(value "tunneld_forward_connections_total{$lbl}")" -ge $((c0 + 3)) ] &&
    has "tunneld_forward_active_connections{$lbl} 0"' ||
	td_fail "forward counters did not move: $(grep "$fwd_good" "$T/m.txt")"
[ "$(value "tunneld_forward_bytes_total{$lbl,direction=\"in\"}")" -gt 0 ] || td_fail "no bytes in"
[ "$(value "tunneld_forward_bytes_total{$lbl,direction=\"out\"}")" -gt 0 ] || td_fail "no bytes out"
td_ok "forward connections and bytes count traffic"

# The same text through the control socket, raw.
ctl metrics >"$T/ctl.txt" || td_fail "tunnelctl metrics exited $?"
promtool check metrics <"$T/ctl.txt" >"$T/promtool.out" 2>&1 ||
	td_fail "promtool on tunnelctl metrics: $(cat "$T/promtool.out")"
grep -qx 'tunneld_node_up{node="good"} 1' "$T/ctl.txt" || td_fail "tunnelctl metrics: $(head "$T/ctl.txt")"
ctl --json metrics | grep -q '"text":"# HELP ' || td_fail "tunnelctl --json metrics has no text field"
td_ok "tunnelctl metrics prints the exposition"

# Only GET/HEAD /metrics.
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/")
[ "$code" = 404 ] || td_fail "GET / answered $code"
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$mport/metrics")
# libevent's evhttp answers a method it was told not to allow with 501.
[ "$code" = 405 ] || [ "$code" = 501 ] || td_fail "POST /metrics answered $code"
td_ok "other paths 404, other methods refused ($code)"

# Down for real: every session drops, probe figures leave the exposition.
sshd_stop
wait_series 30 'tunneld_node_state{node="good",state="backoff"} 1'
has 'tunneld_node_up{node="good"} 0' || td_fail "good still up"
absent 'tunneld_ssh_keepalive_rtt_seconds{node="good"}'
absent 'tunneld_gpu_temperature_celsius{node="good"'
absent 'tunneld_ollama_latency_seconds{node="good"}'
has 'tunneld_ollama_up{node="good"} 0' || td_fail "good's Ollama counted up while the node is down"
promtool check metrics <"$T/m.txt" >"$T/promtool.out" 2>&1 ||
	td_fail "promtool (down): $(cat "$T/promtool.out")"
td_ok "sshd stopped: good in backoff, its stale readings absent"

sshd_start
wait_series 30 'tunneld_node_state{node="good",state="up"} 1'
[ "$(value 'tunneld_ssh_reconnects_total{node="good"}')" -ge 1 ] || td_fail "no reconnect counted"
wait_series 30 'tunneld_gpu_temperature_celsius{node="good",gpu="1"} 31'
td_ok "sshd back: good up again, reconnects_total counts it"

# A reload moves metrics_listen.
write_conf "$mport2"
ctl reload >/dev/null || td_fail "reload failed"
wait_series 15 'tunneld_up 1' "$mport2"
td_wait 10 eval '! curl -s -m 2 -o /dev/null "http://127.0.0.1:$mport/metrics"' ||
	td_fail "the old metrics_listen still answers"
td_ok "reload: metrics moved to port $mport2"

rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"
