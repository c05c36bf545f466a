#!/bin/bash
# t_unreachable: nodes that never answer do not slow anything else down.
#
# Two bad nodes next to a good one:
# - "silent": a listener that accepts the TCP connection and never says a
#   word (a wedged sshd, a middlebox eating the banner);
# - "hole": a listener whose accept queue is full, so SYNs go unanswered,
#   which is what a blackholed address looks like, on loopback.
# While they are stuck in their handshakes, `tunnelctl status` answers
# promptly and the good node's forward carries bulk data and small round
# trips without stalls.  Each bad node ends in `backoff` with a timeout
# reason after connect_timeout, and is retried.
# Figures (status latency, round-trip times) are printed; bounds are loose.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

command -v socat >/dev/null || td_skip "socat is not installed (apt-get install socat)"
HELPER=$top_builddir/tests/tunnel-helper
[ -x "$HELPER" ] || td_fail "$HELPER is not built (make check builds it)"

CONNECT_TIMEOUT=4

listening() {
	[ -n "$(ss -Htln "sport = :$1")" ]
}

sshd_setup
sshd_key good
sshd_key silent
sshd_key hole
sshd_start

ECHO=$(td_port)
L_ECHO=$(td_port)
SILENT=$(td_port)
HOLE=$(td_port)
echo_start "$ECHO"
# Reads what the client says (its SSH banner) and never answers.
socat TCP-LISTEN:"$SILENT",bind=127.0.0.1,reuseaddr,fork SYSTEM:'exec cat >/dev/null' \
    </dev/null >>"$T/socat-silent.log" 2>&1 &
td_track $!
"$HELPER" hole "$HOLE" </dev/null >"$T/hole.log" 2>&1 &
td_track $!
td_wait 10 grep -q ready "$T/hole.log" || td_fail "the hole listener did not come up: $(cat "$T/hole.log")"
td_wait 10 listening "$ECHO" || td_fail "echo target did not bind"
td_wait 10 listening "$SILENT" || td_fail "silent listener did not bind"
# The hole really drops SYNs: a plain connect does not complete.
if timeout 2 socat -u TCP:127.0.0.1:"$HOLE",connect-timeout=1 /dev/null 2>/dev/null; then
	td_fail "the hole listener accepted a connection"
fi

head -c $((16 * 1024 * 1024)) /dev/urandom >"$T/blob"

{ tunneld_conf_head connect_timeout=${CONNECT_TIMEOUT}s retry_refused=500ms \
    backoff_initial=500ms backoff_max=2s; cat <<EOF; } >"$T/tunneld.conf"
[node good]
ssh            = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity       = $T/keys/good
local_forward  = 127.0.0.1:$L_ECHO 127.0.0.1:$ECHO
gpu            = none
ollama         = none

[node silent]
ssh            = $SSHD_USER@127.0.0.1:$SILENT
identity       = $T/keys/silent
gpu            = none
ollama         = none

[node hole]
ssh            = $SSHD_USER@127.0.0.1:$HOLE
identity       = $T/keys/hole
gpu            = none
ollama         = none
EOF
notify_listen
td__now_us
t0=$TD__NOW
tunneld_start "$T/tunneld.conf"
td__now_us
td_ok "READY=1 after $(((TD__NOW - t0) / 1000)) ms with two unreachable nodes"
td_wait 15 node_in_state good up || td_fail "good node never up: $(jget nodes.name=good.reason)"

# The bad nodes are in their first handshake now, for CONNECT_TIMEOUT s
# (on a very slow machine perhaps already in backoff, soon retried).
td_ok "while measuring: silent is $(jget nodes.name=silent.state), hole is $(jget nodes.name=hole.state)"

# Bulk data through the good node meanwhile, in the background.
timeout 120 socat -b 65536 -t 60 -T 90 - TCP:127.0.0.1:"$L_ECHO" <"$T/blob" >"$T/blob.out" &
BULK=$!

# tunnelctl status, 20 times, each timed.
max_us=0
sum_us=0
for ((i = 0; i < 20; i++)); do
	td__now_us
	a=$TD__NOW
	rc=0
	ctl --json status >/dev/null || rc=$?
	[ "$rc" -le 1 ] || td_fail "tunnelctl status failed ($rc) while nodes hang"
	td__now_us
	d=$((TD__NOW - a))
	sum_us=$((sum_us + d))
	[ "$d" -gt "$max_us" ] && max_us=$d
	sleep 0.05
done
[ "$max_us" -lt 2000000 ] || td_fail "tunnelctl status took $((max_us / 1000)) ms while nodes hang"
td_ok "tunnelctl status while two nodes hang: mean $((sum_us / 20000)) ms, max $((max_us / 1000)) ms (20 calls)"

out=$("$HELPER" rtt "$L_ECHO" 200 2000) || td_fail "round trips through the good node stalled: $out"
td_ok "good node during the hangs: $out"
wait "$BULK" || td_fail "bulk transfer through the good node failed"
cmp -s "$T/blob" "$T/blob.out" || td_fail "bulk transfer through the good node corrupted"
td_ok "16 MiB echoed through the good node intact during the hangs"

# Each bad node ends in backoff with a timeout reason after connect_timeout.
timed_out() {
	node_in_state "$1" backoff && [[ $(jget "nodes.name=$1.reason") == "timeout after ${CONNECT_TIMEOUT}s during $2" ]]
}
td_wait $((CONNECT_TIMEOUT + 10)) timed_out silent "key exchange" ||
	td_fail "silent: $(jget nodes.name=silent.state): $(jget nodes.name=silent.reason)"
td_ok "silent node: backoff: $(jget nodes.name=silent.reason)"
td_wait $((CONNECT_TIMEOUT + 10)) timed_out hole "TCP connect" ||
	td_fail "hole: $(jget nodes.name=hole.state): $(jget nodes.name=hole.reason)"
td_ok "blackholed node: backoff: $(jget nodes.name=hole.reason)"

# They are retried (next_attempt_s planned or an attempt under way), and
# the second round of hangs is as harmless as the first.
for n in silent hole; do
	na=$(jget "nodes.name=$n.ssh.next_attempt_s")
	[ "$na" != null ] || node_in_state "$n" backoff || td_fail "$n: no retry planned"
done
sleep $((CONNECT_TIMEOUT / 2))
out=$("$HELPER" rtt "$L_ECHO" 200 2000) || td_fail "round trips stalled during the retries: $out"
td_ok "good node during the retries: $out"
node_in_state good up || td_fail "good node is $(jget nodes.name=good.state)"
[ "$(jget nodes.name=good.ssh.connects)" = 1 ] || td_fail "good node reconnected"
for n in silent hole; do
	[ "$(jget "nodes.name=$n.ssh.connects")" = 0 ] || td_fail "$n connected?"
done

rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"
td_ok "tunneld stopped cleanly"
