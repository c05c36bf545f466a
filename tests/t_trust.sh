#!/bin/bash
# t_trust.sh: behaviour an operator can trust (issue 13), against a real sshd.
#
#   - the "alternative that also watches vengeance's GPU from the hub":
#     vengeance has an SSH session (ssh = user@127.0.0.1:PORT, as through
#     its reverse tunnel), its Ollama at a plain URL and no local_forward.
#     A pool listing it first routes to it (best, clients, per_node), and
#     the status shows each member's address or why it is skipped;
#     --check-config names the pool and node that can never take part;
#   - rise/fall: one failed Ollama probe moves neither vengeance's state,
#     nor pool traffic, nor an alert; `fall` failures in a row do all three,
#     and `rise` good ones bring them back; the history keeps the changes
#     with time and reason, and up/down totals add up;
#   - a wedged nvidia-smi: status says a GPU probe is outstanding and since
#     when (gpu_probe.outstanding_s), and no second one starts.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup
command -v curl >/dev/null || td_skip "no curl (apt-get install curl)"
command -v jq >/dev/null || td_skip "no jq (apt-get install jq)"

# ------------------------------------------------------------ --check-config
# A pool member with neither a local_forward nor an ollama URL.
cat >"$T/bad.conf" <<EOF
[tunneld]
control_socket = $T/bad.sock
[node vengeance]
ssh      = tunneld@127.0.0.1:12222
ollama   = none
[node runpod]
ssh           = root@127.0.0.1:13323
local_forward = 127.0.0.1:11435 127.0.0.1:11434
[pool chat]
listen = 127.0.0.1:11400
nodes  = vengeance runpod
EOF
rc=0
"$TUNNELD" --check-config --config "$T/bad.conf" >"$T/check.out" 2>&1 || rc=$?
[ "$rc" = 78 ] || td_fail "--check-config of an unusable pool member: exit $rc: $(cat "$T/check.out")"
want="$T/bad.conf:11: nodes: node 'vengeance' cannot take part in pool 'chat': it has no local_forward and ollama = none (line 3), so the pool has no address to send clients to"
grep -qxF "$want" "$T/check.out" || td_fail "--check-config said: $(cat "$T/check.out")"
td_ok "--check-config: exit 78, '$want'"

# ------------------------------------------------------------------ setup
# Fixture directories whose version says who answered.
for n in vengeance runpod; do
	mkdir -p "$T/fx-$n"
	cp "$TD_FIXTURES"/ollama-*.json "$T/fx-$n/"
	printf '{"version":"0.5.7-%s"}' "$n" >"$T/fx-$n/ollama-version.json"
done

sshd_setup
sshd_key vengeance
sshd_key runpod
td_node wedged nvidia-smi
sshd_key wedged "PATH=$TD_NODE_PATH" "TD_GPU_MODE=hang" "TD_GPU_LOG=$T/wedged-smi.log"
sshd_start
ollama_start vengeance "$T/fx-vengeance"
OV=$OLLAMA_PORT
ollama_start runpod "$T/fx-runpod"
OR=$OLLAMA_PORT
FR=$(td_port)
PP=$(td_port)

# fall 3, rise 2 (the defaults); vengeance probes every 3 s: a blip is
# caught between two rounds; three failures take about 9 s.
{
	tunneld_conf_head probe_interval=2s probe_timeout=1s
	cat <<EOF
[node vengeance]
ssh      = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity = $T/keys/vengeance
ollama   = http://127.0.0.1:$OV
gpu      = none
priority = 1
probe_interval = 3s	; room to catch a single failure on a loaded machine

[node runpod]
ssh           = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity      = $T/keys/runpod
local_forward = 127.0.0.1:$FR 127.0.0.1:$OR
gpu           = none
priority      = 2

[node wedged]
ssh            = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity       = $T/keys/wedged
ollama         = none
gpu            = nvidia-smi
probe_interval = 1s
probe_timeout  = 1s

[pool chat]
listen = 127.0.0.1:$PP
nodes  = vengeance runpod
EOF
} >"$T/tunneld.conf"
"$TUNNELD" --check-config --config "$T/tunneld.conf" >"$T/check.out" 2>&1 ||
	td_fail "the test's own config is refused: $(cat "$T/check.out")"

notify_listen
export TUNNELD_LOG_CAPTURE=$T/capture
tunneld_start "$T/tunneld.conf"
unset TUNNELD_LOG_CAPTURE

sj() { ctl --json status 2>/dev/null; }
nf() { sj | jq -r --arg n "$1" ".nodes[] | select(.name == \$n) | $2"; }
is() { [ "$(nf "$1" "$2")" = "$3" ]; }
served_by() {
	local v
	v=$(curl -sS -m 5 "http://127.0.0.1:$PP/api/version") || return 1
	v=${v#*0.5.7-}
	echo "${v%%\"*}"
}
# vengeance's alone: on a loaded machine runpod's probe may time out and
# raise its own.
unreachable_alerts() {
	grep -c 'TUNNELD_NODE=vengeance	TUNNELD_EVENT=ollama-unreachable	' "$T/capture" 2>/dev/null || :
}

for n in vengeance runpod; do
	td_wait 30 is "$n" .state up || td_fail "$n not up: $(ctl status)"
	td_wait 30 is "$n" .ollama.state ok || td_fail "$n: no Ollama result: $(nf "$n" .ollama)"
done

# --------------------------------------------------- the vengeance pool
out=$(ctl best chat) || td_fail "best chat: exit $?: $out"
[ "$out" = "127.0.0.1:$OV" ] || td_fail "best chat said '$out', want vengeance's 127.0.0.1:$OV"
for i in 1 2 3 4 5; do
	s=$(served_by) || td_fail "request $i through pool chat failed"
	[ "$s" = vengeance ] || td_fail "request $i went to '$s', not vengeance"
done
cnt=$(sj | jq '.pools[] | select(.name == "chat") | .per_node.vengeance')
[ "$cnt" -ge 5 ] || td_fail "pool chat counted $cnt connections to vengeance"
m=$(sj | jq -c '.pools[] | select(.name == "chat") | .members')
[ "$(jq -r '.[0].node + " " + .[0].addr + " " + (.[0].rank|tostring)' <<<"$m")" = "vengeance 127.0.0.1:$OV 1" ] ||
	td_fail "pool members: $m"
[ "$(jq -r '.[1].addr + " " + (.[1].rank|tostring)' <<<"$m")" = "127.0.0.1:$FR 2" ] ||
	td_fail "pool members: $m"
td_ok "vengeance (ssh, ollama URL, no local_forward) first in pool chat: best says 127.0.0.1:$OV, 5 of 5 clients went to it ($cnt counted); members $m"

# ------------------------------------------------------- one blip
hist0=$(nf vengeance '.history | length')
alerts0=$(unreachable_alerts)
ollama_mode vengeance fail
td_wait 10 is vengeance .ollama.consecutive_failures 1 ||
	td_fail "no failed probe of vengeance: $(nf vengeance .ollama)"
ollama_mode vengeance ok
st=$(nf vengeance .state)
judged=$(nf vengeance .ollama.judged)
[ "$st" = up ] && [ "$judged" = passing ] || td_fail "one failed probe: vengeance $st, ollama judged $judged"
for i in 1 2 3; do
	s=$(served_by) || td_fail "request $i after the blip failed"
	[ "$s" = vengeance ] || td_fail "request $i after one failed probe went to '$s'"
done
td_wait 10 is vengeance .ollama.state ok || td_fail "vengeance's Ollama not ok again"
[ "$(nf vengeance '.history | length')" = "$hist0" ] ||
	td_fail "one failed probe changed vengeance's state: $(nf vengeance .history)"
sleep 1		# an alert would be written with the result
[ "$(unreachable_alerts)" = "$alerts0" ] || td_fail "one failed probe raised an alert: $(grep ollama-unreachable "$T/capture")"
grep -q 'vengeance: probe failed: ollama: HTTP 500.*(1 in a row, fall = 3: not acted on yet)' "$T/tunneld.log" ||
	td_fail "the log does not say the failure was not acted on"
td_ok "one failed Ollama probe: vengeance stays up, 3 of 3 clients still go to it, no state change, no alert"

# -------------------------------------------------- fall failures
ollama_mode vengeance fail
td_wait 30 is vengeance .state degraded || td_fail "vengeance not degraded after failures: $(nf vengeance .ollama)"
f=$(nf vengeance .ollama.consecutive_failures)
[ "$f" -ge 3 ] || td_fail "degraded after $f failures, fall is 3"
[ "$(nf vengeance .ollama.judged)" = failing ] || td_fail "judged $(nf vengeance .ollama.judged)"
for i in 1 2 3; do
	s=$(served_by) || td_fail "request $i while vengeance fails"
	[ "$s" = runpod ] || td_fail "request $i went to '$s' while vengeance is degraded"
done
td_wait 5 eval '[ "$(unreachable_alerts)" -gt "$alerts0" ]' || td_fail "no ollama-unreachable alert after fall failures"
[ "$(unreachable_alerts)" = $((alerts0 + 1)) ] || td_fail "$(unreachable_alerts) alerts, want one more than $alerts0"
m=$(sj | jq -c '.pools[] | select(.name == "chat") | .members[0]')
td_jq '.skipped | startswith("degraded (ollama: HTTP 500")' <<<"$m" >/dev/null ||
	td_fail "the pool does not say why vengeance is skipped: $m"
td_ok "$f failed probes in a row: vengeance degraded, clients go to runpod, one alert; member shows $m"

ollama_mode vengeance ok
td_wait 30 is vengeance .state up || td_fail "vengeance not up again: $(nf vengeance .ollama)"
[ "$(nf vengeance .ollama.consecutive_successes)" -ge 2 ] ||
	td_fail "up again after $(nf vengeance .ollama.consecutive_successes) good probes, rise is 2"
s=$(served_by) || td_fail "request after recovery failed"
[ "$s" = vengeance ] || td_fail "after recovery a client went to '$s'"
h=$(nf vengeance '.history')
td_jq --argjson n "$hist0" 'length == $n + 2 and
    .[-2].from == "up" and .[-2].to == "degraded" and (.[-2].reason | startswith("ollama: HTTP 500")) and
    .[-1].from == "degraded" and .[-1].to == "up" and
    (.[-1].time | type) == "number" and .[-1].time >= .[-2].time and
    (now - .[-1].time) < 120' <<<"$h" >/dev/null || td_fail "history: $h"
up=$(nf vengeance .up_s_total)
dg=$(nf vengeance .degraded_s_total)
dn=$(nf vengeance .down_s_total)
[ "$dg" -ge 1 ] && [ "$up" -ge 1 ] && [ "$dn" -le 5 ] || td_fail "totals: up $up, degraded $dg, down $dn"
td_ok "rise: up again after 2 good probes, clients back on vengeance; history $(jq -c '.[-2:]' <<<"$h"); up ${up}s degraded ${dg}s down ${dn}s"

# A session loss is no probe: backoff at once, counted as down.
sshd_kill_sessions
td_wait 10 eval '[ "$(nf vengeance .history[-1].to)" = backoff ] || [ "$(nf vengeance .history[-2].to)" = backoff ]' ||
	td_fail "a lost session did not show as backoff: $(nf vengeance .history)"
td_wait 30 is vengeance .state up || td_fail "vengeance did not come back"
td_ok "session lost: backoff at once (no rise/fall), then up; history $(nf vengeance '[.history[-3:][] | .from + ">" + .to] | join(" ")')"

# ------------------------------------------------- a wedged nvidia-smi
# (the session loss above ended the first hung run; the new session's
# first probe hangs in turn)
td_wait 30 is wedged .state degraded || td_fail "wedged not degraded: $(nf wedged .gpu_probe)"
runs0=$(wc -l <"$T/wedged-smi.log")
o1=$(nf wedged .gpu_probe.outstanding_s)
[[ $o1 =~ ^[0-9]+$ ]] || td_fail "gpu_probe.outstanding_s is '$o1'"
sleep 3
o2=$(nf wedged .gpu_probe.outstanding_s)
[ "$o2" -ge $((o1 + 2)) ] || td_fail "outstanding_s went from $o1 to $o2 in 3 s"
runs=$(wc -l <"$T/wedged-smi.log")
[ "$runs" = "$runs0" ] || td_fail "$((runs - runs0)) more nvidia-smi runs while one still hangs"
has=$(nf wedged .reason)
[[ $has == *"nvidia-smi from an earlier probe still running"* ]] || td_fail "wedged reason: $has"
[ "$(nf vengeance .gpu_probe)" = null ] || td_fail "vengeance has a gpu_probe: $(nf vengeance .gpu_probe)"
td_ok "wedged nvidia-smi: outstanding_s $o1 -> $o2, no second run meanwhile, reason '$has'"

# ------------------------------------------- a pool's nodes reordered
# The pool keeps its listener and figures; the new order applies from the
# next client.
before=$(sj | jq '.pools[] | select(.name == "chat") | .per_node.vengeance')
sed -i 's/^nodes  = vengeance runpod$/nodes  = runpod vengeance/' "$T/tunneld.conf"
out=$(ctl reload 2>&1) || td_fail "reload of the pool's order: $out"
grep -q '0 added, 0 removed, 0 changed, 3 unchanged' <<<"$out" || td_fail "reordering a pool touched nodes: $out"
s=$(served_by) || td_fail "request after reordering the pool failed"
[ "$s" = runpod ] || td_fail "after reordering, a client went to '$s'"
after=$(sj | jq '.pools[] | select(.name == "chat") | .per_node.vengeance')
[ "$after" = "$before" ] || td_fail "vengeance's count went from $before to $after"
td_ok "pool reordered by a reload: same listener, next client to runpod, counts kept ($after for vengeance)"

rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"
