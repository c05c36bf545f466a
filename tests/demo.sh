#!/usr/bin/env bash
# tests/demo.sh: the README's main job.  A GPU mesh on loopback: a private
# OpenSSH sshd with throwaway keys stands for the nodes' SSH servers, an
# Ollama stand-in per node answers /api/version, /api/tags and /api/ps, and
# tunneld on the hub side owns the forwards in the shape of the real port
# map (11435 -> runpod, 11436 -> vengeance, 11434 the hub's own aurora).
# Then the sshd dies and comes back, and tunneld heals the mesh.
#
# Everything it starts is stopped, by PID, when it ends; nothing outside
# 127.0.0.1 is touched.  TD_KEEP=1 keeps the scratch directory.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

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

# all_up N: N nodes report `up` (or `degraded`) in the daemon's JSON.
all_in() {
	local want=$1 n
	n=$(ctl --json status 2>/dev/null | grep -o '"state":"'"$2"'"' | wc -l)
	[ "$n" -ge "$want" ]
}

say "a private sshd on loopback with throwaway keys"
sshd_setup
sshd_key runpod
sshd_key vengeance
sshd_start
echo "sshd pid $SSHD_PID on 127.0.0.1:$SSHD_PORT, host key pinned in $SSHD_KNOWN_HOSTS"

say "an Ollama stand-in per node"
ollama_start runpod;    P_RUNPOD=$OLLAMA_PORT
ollama_start vengeance; P_VENGEANCE=$OLLAMA_PORT
ollama_start aurora;    P_AURORA=$OLLAMA_PORT
echo "runpod :$P_RUNPOD  vengeance :$P_VENGEANCE  aurora :$P_AURORA (each as if on its node)"

H_RUNPOD=$(port_or_free 11435)
H_VENGEANCE=$(port_or_free 11436)

{
	tunneld_conf_head keepalive_interval=1s keepalive_count=3 \
	    probe_interval=2s probe_timeout=1s
	cat <<EOF
[node runpod]
ssh           = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity      = $T/keys/runpod
local_forward = 127.0.0.1:$H_RUNPOD 127.0.0.1:$P_RUNPOD
gpu           = none
priority      = 2

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
EOF
} >"$T/tunneld.conf"

say "tunneld --check-config"
"$TUNNELD" --check-config --config "$T/tunneld.conf" || td_fail "config rejected"

say "tunneld starts (READY=1 once every listener is bound)"
notify_listen
tunneld_start "$T/tunneld.conf"
echo "tunneld pid $TUNNELD_PID; control socket $T/control.sock"
td_wait 20 all_in 2 up || td_fail "nodes did not come up: $(ctl status)"
sleep 1
ctl status

say "Ollama through the tunnels"
for p in "$H_RUNPOD" "$H_VENGEANCE"; do
	printf '127.0.0.1:%s/api/version -> ' "$p"
	curl -sS -m 5 "http://127.0.0.1:$p/api/version" || td_fail "no answer through :$p"
	echo
done

say "the sshd dies (every node's session with it)"
sshd_stop
td_wait 10 all_in 2 backoff || td_fail "nodes did not notice: $(ctl status)"
ctl status || :
printf 'a client of :%s now: ' "$H_RUNPOD"
if curl -sS -m 2 "http://127.0.0.1:$H_RUNPOD/api/version" 2>&1 | head -c 120; then :; fi
echo "   (closed at once, so it can fail over)"
sleep 3
ctl status || :

say "the sshd returns; tunneld retries every retry_refused, no growing backoff"
td__now_us; before=$TD__NOW
sshd_restart
td_wait 20 all_in 2 up || td_fail "nodes did not come back: $(ctl status)"
td__now_us; after=$TD__NOW
ctl status
us=$((after - before))
printf 'back up %d.%02d s after sshd returned (polled every 0.1 s)\n' $((us / 1000000)) $((us % 1000000 / 10000))
for p in "$H_RUNPOD" "$H_VENGEANCE"; do
	printf '127.0.0.1:%s/api/version -> ' "$p"
	curl -sS -m 5 "http://127.0.0.1:$p/api/version" || td_fail "no answer through :$p"
	echo
done

say "what the journal would have said"
grep -E 'event=(state|connected|connect-failed)' "$T/tunneld.log" | tail -n 12

say "stopping (SIGTERM: listeners closed, STOPPING=1)"
rc=0
tunneld_stop || rc=$?
grep -E 'STOPPING=1' "$T/notify.log" | tail -n 1
[ "$rc" -eq 0 ] || td_fail "tunneld exited $rc"
echo "demo done; everything it started is being stopped"
