#!/bin/bash
# t_slowloris: the metrics endpoint cannot take the descriptors the tunnels
# need.
#
# tunneld runs under `prlimit --nofile=256`.  300 slowloris clients hold
# connections to metrics_listen, each sending one more header line a
# second and never ending its request, and come back as soon as they are
# closed.  Before, evhttp restarted its timeout on every header line: the
# 300 connections took every descriptor; `tunnelctl status` hung and a
# request through the SSH forward failed until the attacker left.  Now:
#   - a request must arrive whole within 5 s, header lines or not;
#   - at most 32 metrics clients waiting for their request, the oldest
#     dropped for a new one (after 1 s), and 32 being answered;
#   - the metrics endpoint and the control socket leave a reserve (a
#     quarter of RLIMIT_NOFILE) to forwards and sessions;
# so during the attack status answers, the forward carries requests, and
# a scrape by Prometheus still gets its answer.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup
command -v prlimit >/dev/null || td_skip "no prlimit (apt-get install util-linux)"
command -v curl >/dev/null || td_skip "no curl (apt-get install curl)"

LIMIT=256
CONNS=300
ATTACK=600	# a bound: the attacker is stopped once the rounds are done
HELPER=$top_builddir/tests/tunnel-helper

sshd_setup
sshd_key n
sshd_start
ollama_start n
FWD=$(td_port)
METRICS=$(td_port)
{
	tunneld_conf_head probe_interval=300s probe_timeout=3s \
	    metrics_listen=127.0.0.1:$METRICS
	echo "[node n]"
	echo "ssh           = $SSHD_USER@127.0.0.1:$SSHD_PORT"
	echo "identity      = $T/keys/n"
	echo "local_forward = 127.0.0.1:$FWD 127.0.0.1:$OLLAMA_PORT"
	echo "gpu           = none"
} >"$T/tunneld.conf"

notify_listen
TD_TUNNELD_WRAPPER="prlimit --nofile=$LIMIT:$LIMIT" tunneld_start "$T/tunneld.conf"
td_wait 20 node_in_state n up || td_fail "node n not up: $(ctl status)"
td_wait 10 curl -sSf -m 5 -o /dev/null "http://127.0.0.1:$METRICS/metrics" || td_fail "no metrics before the attack"
base=$(td_fds "$TUNNELD_PID")

"$HELPER" slowloris "$METRICS" "$CONNS" "$ATTACK" >"$T/slowloris.log" 2>&1 &
attacker=$!
td_track "$attacker"
td_wait 10 grep -q "max=$CONNS " "$T/slowloris.log" || td_fail "the attacker did not open $CONNS connections: $(tail -n 2 "$T/slowloris.log")"
sleep 6		# past the 5 s request deadline: every kind of client is there

# Five rounds under attack: status, the forward, a scrape; the daemon's
# descriptors stay far from the limit.
most=0 tries=()
for round in 1 2 3 4 5; do
	td_alive "$attacker" || td_fail "the attacker ended early: $(tail -n 2 "$T/slowloris.log")"
	TD_CTL_TIMEOUT=10 ctl --json status >"$T/status.$round" 2>&1 ||
		td_fail "round $round: tunnelctl status failed under attack: $(head -c 200 "$T/status.$round")"
	[ "$(td_json nodes.name=n.state <"$T/status.$round")" = up ] || td_fail "round $round: node not up: $(head -c 300 "$T/status.$round")"
	curl -sS -m 10 "http://127.0.0.1:$FWD/api/version" >"$T/fwd.$round" 2>&1 ||
		td_fail "round $round: the forward failed under attack: $(cat "$T/fwd.$round")"
	grep -q '"version"' "$T/fwd.$round" || td_fail "round $round: forward answer: $(cat "$T/fwd.$round")"
	# A scrape may be turned away while the waiting slots are full of
	# fresh attackers; Prometheus tries again at its next interval.
	for ((try = 1; try <= 20; try++)); do
		curl -sS -m 10 "http://127.0.0.1:$METRICS/metrics" >"$T/scrape.$round" 2>&1 && break
		sleep 0.2
	done
	[ "$try" -le 20 ] || td_fail "round $round: 20 scrapes failed under attack: $(tail -c 200 "$T/scrape.$round")"
	tries+=("$try")
	grep -q '^tunneld_node_up{node="n"} 1' "$T/scrape.$round" || td_fail "round $round: scrape: $(head -c 200 "$T/scrape.$round")"
	fds=$(td_fds "$TUNNELD_PID")
	[ "$fds" -gt "$most" ] && most=$fds
	sleep 1
done
[ "$most" -le $((base + 64 + 8)) ] || td_fail "tunneld held $most descriptors under attack (base $base, at most 64 metrics clients)"
td_ok "under $CONNS slowloris clients: status, the forward and a scrape answered 5 times (scrape tries: ${tries[*]}); at most $most descriptors (base $base, limit $LIMIT)"

# Stopped here, not left to run out its time: on a loaded machine the
# rounds above took longer than any fixed attack would last.
td_stop "$attacker"
last=$(grep '^slowloris ' "$T/slowloris.log" | tail -n 1)
closed=${last##*closed_by_server=}
[ "$closed" -ge "$CONNS" ] || td_fail "only $closed slowloris connections were closed by tunneld: $last"
td_ok "slowloris connections closed by tunneld: $closed ($last)"
td_wait 10 eval '[ "$(td_fds "$TUNNELD_PID")" -le $((base + 2)) ]' ||
	td_fail "descriptors not given back: $(td_fds "$TUNNELD_PID"), base $base"
rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"
