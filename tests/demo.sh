#!/usr/bin/env bash
# tests/demo.sh: the README's main job.  A GPU mesh on loopback: a private
# OpenSSH sshd with throwaway keys stands for the nodes' SSH servers, an
# Ollama stand-in per node answers /api/version, /api/tags and /api/ps, and
# tunneld on the hub side owns the forwards in the shape of the real port
# map (11435 -> runpod, 11436 -> vengeance, 11434 the hub's own aurora).
# A pool gives clients one address; it keeps answering while a node's sshd
# is killed.  Then every sshd dies and comes back, and tunneld heals the mesh.
#
# Everything it starts is stopped, by PID, when it ends; nothing outside
# 127.0.0.1 is touched.  TD_KEEP=1 keeps the scratch directory.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup
command -v jq >/dev/null || td_skip "no jq (apt-get install jq; ./quickstart installs it)"
command -v curl >/dev/null || td_skip "no curl (apt-get install curl)"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The real port when it is free, another when this machine uses it.
port_or_free() {
	if [ -z "$(ss -Htan "sport = :$1" 2>/dev/null)" ] &&
	    ! grep -qx "$1" "$T/.ports"; then
		echo "$1" >>"$T/.ports"
		echo "$1"
	else
		td_port
	fi
}

# all_in N STATE: at least N nodes are in STATE, says the daemon's JSON.
all_in() {
	local n
	n=$(ctl --json status 2>/dev/null |
	    jq --arg s "$2" '[.nodes[] | select(.state == $s)] | length') || return 1
	[ "${n:-0}" -ge "$1" ]
}

say "a private sshd per GPU node, on loopback, with throwaway keys"
for n in runpod vengeance; do
	sshd_setup "$n"
	sshd_key "$n"
	sshd_start
	echo "$n: sshd pid $SSHD_PID on 127.0.0.1:$SSHD_PORT, host key pinned in $SSHD_KNOWN_HOSTS"
done

say "an Ollama stand-in per node, each telling who it is"
for n in runpod vengeance aurora; do
	mkdir -p "$T/fx-$n"
	cp "$TD_FIXTURES"/ollama-*.json "$T/fx-$n/"
	printf '{"version":"0.5.7-%s"}' "$n" >"$T/fx-$n/ollama-version.json"
done
ollama_start runpod "$T/fx-runpod";       P_RUNPOD=$OLLAMA_PORT
ollama_start vengeance "$T/fx-vengeance"; P_VENGEANCE=$OLLAMA_PORT
ollama_start aurora "$T/fx-aurora";       P_AURORA=$OLLAMA_PORT
echo "runpod :$P_RUNPOD  vengeance :$P_VENGEANCE  aurora :$P_AURORA (each as if on its node)"

H_RUNPOD=$(port_or_free 11435)
H_VENGEANCE=$(port_or_free 11436)
H_POOL=$(port_or_free 11400)

{
	tunneld_conf_head keepalive_interval=1s keepalive_count=3 \
	    probe_interval=2s probe_timeout=1s
	sshd_use runpod
	cat <<EOF
[node runpod]
ssh           = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity      = $T/keys/runpod
local_forward = 127.0.0.1:$H_RUNPOD 127.0.0.1:$P_RUNPOD
gpu           = none
priority      = 2

EOF
	sshd_use vengeance
	cat <<EOF
[node vengeance]
ssh           = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity      = $T/keys/vengeance
local_forward = 127.0.0.1:$H_VENGEANCE 127.0.0.1:$P_VENGEANCE
gpu           = none
priority      = 1

[node aurora]
ssh      = none
ollama   = http://127.0.0.1:$P_AURORA
gpu      = none
priority = 3

[pool ollama]
listen = 127.0.0.1:$H_POOL
nodes  = vengeance runpod aurora
policy = priority
EOF
} >"$T/tunneld.conf"

say "tunneld --check-config"
"$TUNNELD" --check-config --config "$T/tunneld.conf" || td_fail "config rejected"

say "tunneld starts (READY=1 once every listener is bound)"
notify_listen
tunneld_start "$T/tunneld.conf"
echo "tunneld pid $TUNNELD_PID; control socket $T/control.sock"
td_wait 20 all_in 3 up || td_fail "nodes did not come up: $(ctl status)"
sleep 1
ctl status

say "Ollama through the tunnels"
for p in "$H_RUNPOD" "$H_VENGEANCE"; do
	printf '127.0.0.1:%s/api/version -> ' "$p"
	curl -sS -m 5 "http://127.0.0.1:$p/api/version" || td_fail "no answer through :$p"
	echo
done

say "one address for clients: pool 'ollama' on 127.0.0.1:$H_POOL"
echo "tunnelctl best -> $(ctl best)"
echo "tunnelctl best ollama --model qwen2.5:7b -> $(ctl best ollama --model qwen2.5:7b)"

# Clients ask the pool continuously while vengeance's sshd is killed.
client_loop() {
	local i v
	for ((i = 0; i < 400; i++)); do
		[ -e "$T/clients.stop" ] && break
		if v=$(curl -sS -m 4 "http://127.0.0.1:$H_POOL/api/version" 2>&1); then
			v=${v#*0.5.7-}
			echo "ok ${v%%\"*}"
		else
			echo "fail"
		fi
		sleep 0.05
	done
}
client_loop >"$T/clients.log" 2>&1 &
CLIENTS=$!
td_track "$CLIENTS"
sleep 2
say "vengeance's sshd is killed while clients use the pool"
sshd_use vengeance
sshd_stop
sleep 3
touch "$T/clients.stop"
td_wait 10 td__gone "$CLIENTS" || :
wait "$CLIENTS" 2>/dev/null || :
printf 'requests through the pool: %d, ok %d, failed %d; served by:' \
    "$(wc -l <"$T/clients.log")" "$(grep -c '^ok' "$T/clients.log")" \
    "$(grep -c '^fail' "$T/clients.log")"
sort "$T/clients.log" | uniq -c | awk '$2 == "ok" { printf " %s %d", $3, $1 }'
echo
ctl status || :

say "runpod's sshd dies too: only aurora, the hub's own, is left"
sshd_use runpod
sshd_stop
td_wait 10 all_in 2 backoff || td_fail "nodes did not notice: $(ctl status)"
ctl status || :
printf 'a client of :%s (runpod) now: ' "$H_RUNPOD"
if curl -sS -m 2 "http://127.0.0.1:$H_RUNPOD/api/version" 2>&1 | head -c 120; then :; fi
echo "   (closed at once, so it can fail over)"
printf 'a client of the pool now: '
curl -sS -m 2 "http://127.0.0.1:$H_POOL/api/version" || :
echo
sleep 2

say "the sshds return; tunneld retries every retry_refused, no growing backoff"
td__now_us; before=$TD__NOW
sshd_use runpod
sshd_restart
sshd_use vengeance
sshd_restart
td_wait 20 all_in 3 up || td_fail "nodes did not come back: $(ctl status)"
td__now_us; after=$TD__NOW
ctl status
us=$((after - before))
printf 'all up %d.%02d s after the sshds were restarted (polled every 0.1 s)\n' $((us / 1000000)) $((us % 1000000 / 10000))
for p in "$H_RUNPOD" "$H_VENGEANCE" "$H_POOL"; do
	printf '127.0.0.1:%s/api/version -> ' "$p"
	curl -sS -m 5 "http://127.0.0.1:$p/api/version" || td_fail "no answer through :$p"
	echo
done

say "one node in detail: tunnelctl status runpod"
ctl status runpod

say "what the journal would have said"
grep -E 'event=(state|connected|connect-failed)' "$T/tunneld.log" | tail -n 12

say "stopping (SIGTERM: listeners closed, STOPPING=1)"
rc=0
tunneld_stop || rc=$?
grep -E 'STOPPING=1' "$T/notify.log" | tail -n 1
[ "$rc" -eq 0 ] || td_fail "tunneld exited $rc"
echo "demo done; everything it started is being stopped"
