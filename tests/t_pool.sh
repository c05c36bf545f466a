#!/usr/bin/env bash
# Pools (issue 7): one address in front of three nodes, each behind its own
# loopback sshd, each with an Ollama stand-in that says who it is.
#   - priority: every request goes to the first node that is up;
#   - best and best --model answer from live state;
#   - least-load: an open connection pushes the next client elsewhere;
#   - a node whose target refuses is skipped without the client noticing;
#   - clients run continuously while one sshd is killed and another frozen:
#     every request that starts after tunneld noticed the fault succeeds;
#   - no healthy node: the client is closed, and the refusal is counted;
#   - a pool added by a reload on a taken port is shown with its reason and
#     bound by the retry once the port is free.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup
command -v curl >/dev/null || td_skip "no curl (apt-get install curl)"

NODES=(a b c)
declare -A FWD OPORT

# A fixture directory per node: version "0.5.7-NAME"; node a lists no model.
for n in "${NODES[@]}"; do
	mkdir -p "$T/fx-$n"
	cp "$TD_FIXTURES"/ollama-*.json "$T/fx-$n/"
	printf '{"version":"0.5.7-%s"}' "$n" >"$T/fx-$n/ollama-version.json"
done
cp "$TD_FIXTURES/ollama-tags-empty.json" "$T/fx-a/ollama-tags.json"

for n in "${NODES[@]}"; do
	sshd_setup "$n"
	sshd_key "$n"
	sshd_start
	ollama_start "$n" "$T/fx-$n"
	OPORT[$n]=$OLLAMA_PORT
	FWD[$n]=$(td_port)
done
# d: the hub's own Ollama (ssh = none), which a pool reaches by relaying.
mkdir -p "$T/fx-d"
cp "$TD_FIXTURES"/ollama-*.json "$T/fx-d/"
printf '{"version":"0.5.7-d"}' >"$T/fx-d/ollama-version.json"
ollama_start d "$T/fx-d"
OPORT[d]=$OLLAMA_PORT
PP=$(td_port)
PQ=$(td_port)
PS=$(td_port)

# Probes every 300 s: the first round runs when a session comes up, and no
# later round changes a node's state while this test reasons about it.
{
	tunneld_conf_head probe_interval=300s probe_timeout=3s
	for n in "${NODES[@]}"; do
		sshd_use "$n"
		cat <<EOF
[node $n]
ssh           = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity      = $T/keys/$n
local_forward = 127.0.0.1:${FWD[$n]} 127.0.0.1:${OPORT[$n]}
gpu           = none

EOF
	done
	cat <<EOF
[node d]
ssh    = none
ollama = http://127.0.0.1:${OPORT[d]}
gpu    = none

[pool p]
listen = 127.0.0.1:$PP
nodes  = a b c
policy = priority

[pool s]
listen = 127.0.0.1:$PS
nodes  = d b
policy = least-load

[pool q]
listen = 127.0.0.1:$PQ
nodes  = a b c
policy = least-load
EOF
} >"$T/tunneld.conf"

notify_listen
tunneld_start "$T/tunneld.conf"

status_json() { ctl --json status 2>/dev/null; }
has_version() {
	status_json | td_jq --arg n "$1" \
	    '.nodes[] | select(.name == $n) | .ollama.version != null' >/dev/null
}
ask() { curl -sS -m 5 "http://127.0.0.1:$1/api/version"; }
served_by() {
	local v
	v=$(ask "$1") || return 1
	v=${v#*0.5.7-}
	echo "${v%%\"*}"
}

command -v jq >/dev/null || td_skip "no jq (apt-get install jq)"
for n in "${NODES[@]}"; do
	td_wait 20 node_in_state "$n" up || td_fail "node $n not up: $(ctl status)"
	td_wait 20 has_version "$n" || td_fail "node $n: no Ollama probe result"
done
td_ok "three nodes up behind pools p (priority) and q (least-load)"

# --- priority ------------------------------------------------------------
for i in 1 2 3 4 5 6 7 8 9 10; do
	s=$(served_by "$PP") || td_fail "request $i through pool p failed"
	[ "$s" = a ] || td_fail "priority: request $i went to '$s', not a"
done
td_ok "priority: 10 of 10 requests went to a, the first listed"

# --- best ------------------------------------------------------------------
out=$(ctl best p) || td_fail "best p: exit $?"
[ "$out" = "127.0.0.1:${FWD[a]}" ] || td_fail "best p said '$out', want a's 127.0.0.1:${FWD[a]}"
out=$(ctl best p --model qwen2.5:7b) || td_fail "best --model: exit $?"
[ "$out" = "127.0.0.1:${FWD[b]}" ] ||
	td_fail "best p --model qwen2.5:7b said '$out', want b (a lists no model)"
ctl --json best p --model qwen2.5:7b | td_jq '.node == "b" and (.reason | length > 0)' >/dev/null ||
	td_fail "best's JSON lacks node or reason: $(ctl --json best p --model qwen2.5:7b)"
rc=0; ctl best p --model no-such:model >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || td_fail "best for a model nobody has: exit $rc, want 1"
rc=0; ctl best nosuchpool >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] || td_fail "best for an unknown pool succeeded"
td_ok "best: a; with --model qwen2.5:7b: b; an absent model: exit 1"

# --- least-load --------------------------------------------------------------
# The client goes to the lowest load_score; while it stays connected
# (+100 on that node), the next client goes elsewhere.  Which node took the
# held client is read back from the counters, not predicted: a probe round
# may move the scores between the two.
exec {hold}<>"/dev/tcp/127.0.0.1/$PQ" || td_fail "cannot hold a connection to pool q"
busy_node() {
	busy=$(status_json | jq -r '[.nodes[] | select(.forwards[0].active >= 1)] |
	    .[0].name // empty')
	[ -n "$busy" ]
}
td_wait 10 busy_node || td_fail "the held connection is not counted on any node"
for i in 1 2 3; do
	s=$(served_by "$PQ") || td_fail "request through pool q failed"
	[ "$s" != "$busy" ] || td_fail "least-load: $busy took request $i while it held a client"
done
exec {hold}>&-
td_wait 10 sh -c "! $TUNNELCTL --socket $T/control.sock --json status |
    jq -e '.nodes[] | select(.forwards[0].active >= 1)' >/dev/null" ||
	td_fail "the held connection is still counted after it closed"
td_ok "least-load: with a client held on $busy, 3 of 3 requests went elsewhere ($s)"

# A local node's clients are relayed, not forwarded: they count as well.
# Pool s (d, b): a connection held on b's forward (not through the pool)
# puts b at 100+, so the pool's held client goes to d; d's load_score then
# shows it (100+), and once b's is let go the next clients go to b.
score() {
	status_json | jq -r --arg n "$1" '.nodes[] | select(.name == $n) | .load_score'
}
over100() { awk -v s="$(score "$1")" 'BEGIN { exit !(s >= 100) }'; }
td_wait 20 node_in_state d up || td_fail "local node d not up: $(ctl status)"
exec {holdb}<>"/dev/tcp/127.0.0.1/${FWD[b]}" || td_fail "cannot hold a connection to b's forward"
td_wait 10 over100 b || td_fail "b's held connection is not in its load_score ($(score b))"
exec {hold}<>"/dev/tcp/127.0.0.1/$PS" || td_fail "cannot hold a connection to pool s"
td_wait 10 over100 d || td_fail "the client relayed to d is not in its load_score (d $(score d), b $(score b))"
exec {holdb}>&-
td_wait 10 eval '! over100 b' || td_fail "b's connection still counted after it closed ($(score b))"
for i in 1 2 3; do
	s=$(served_by "$PS") || td_fail "request through pool s failed"
	[ "$s" = b ] || td_fail "least-load: request $i went to $s while d held a relayed client (d $(score d), b $(score b))"
done
exec {hold}>&-
td_wait 10 eval '! over100 d' || td_fail "the relayed client is still counted after it closed ($(score d))"
td_ok "least-load with a local node: a client relayed to d counts in its load_score like a forwarded one; 3 of 3 requests went to b meanwhile"

# --- failover on a refused target --------------------------------------------
# a's Ollama goes away while its tunnel stays up (the probe will not look
# again for minutes): the channel to it is refused, the pool moves on.
sshd_use a
td_stop "$(cat "$T/ollama-a.pid")"
for i in 1 2 3 4 5; do
	s=$(served_by "$PP") || td_fail "request $i failed while a's target refuses"
	[ "$s" = b ] || td_fail "request $i went to '$s' while a refuses, want b"
done
fo=$(status_json | jq '.pools[] | select(.name == "p") | .failovers')
[ "${fo:-0}" -ge 5 ] || td_fail "pool p counted ${fo:-none} failovers, want >= 5"
td_ok "a's target refused: 5 of 5 requests failed over to b ($fo failovers counted)"
# Bring a's Ollama back on its port.
"$TD_OLLAMA_STANDIN" --listen "127.0.0.1:${OPORT[a]}" --dir "$T/fx-a" \
    --control "$T/ollama-a.mode" --pidfile "$T/ollama-a.pid" \
    </dev/null >>"$T/ollama-a.log" 2>&1 &
td_track $!
td_wait 10 test -s "$T/ollama-a.pid" || td_fail "a's stand-in did not come back"
td_wait 10 sh -c "curl -s -m 2 http://127.0.0.1:${FWD[a]}/api/version | grep -q 0.5.7-a" ||
	td_fail "a does not answer again"

# --- continuous clients through faults ----------------------------------------
client_loop() {
	local i v t0 ok
	for ((i = 0; i < 600; i++)); do
		[ -e "$T/clients.stop" ] && break
		td__now_us
		t0=$TD__NOW
		ok=ok
		v=$(curl -sS -m 20 "http://127.0.0.1:$PP/api/version" 2>&1) || ok=fail
		td__now_us
		v=${v#*0.5.7-}
		echo "$t0 $TD__NOW $ok ${v%%\"*}"

		sleep 0.05
	done
}
client_loop >"$T/clients.log" 2>&1 &
CLIENTS=$!
td_track "$CLIENTS"
sleep 1

sshd_use a
sshd_stop
td_wait 30 node_not_up a || td_fail "a did not leave up after its sshd died"
td__now_us; NOTICE_A=$TD__NOW
# A few requests in each phase, counted (a loaded machine runs fewer in a
# given time).
ran_after() {
	[ "$(awk -v t="$1" '$1 > t' "$T/clients.log" | wc -l)" -ge "$2" ]
}
td_wait 120 ran_after "$NOTICE_A" 5 || td_fail "fewer than 5 requests ran in 120 s after a was noticed"

sshd_use b
td__now_us; FREEZE_B=$TD__NOW
sshd_freeze
td_wait 30 node_not_up b || td_fail "b did not leave up while frozen"
td__now_us; NOTICE_B=$TD__NOW
td_wait 120 ran_after "$NOTICE_B" 5 || td_fail "fewer than 5 requests ran in 120 s after b was noticed"
touch "$T/clients.stop"
td_wait 60 td__gone "$CLIENTS" || td_fail "client loop did not finish"
wait "$CLIENTS" 2>/dev/null || :
sshd_thaw

total=$(wc -l <"$T/clients.log")
# Each line: start_us end_us ok|fail who.  A request that began after a
# was noticed and ended before b froze must have been served by b; one that
# began after b was noticed, by c.  Those caught by b's freeze are b's fault.
bad=$(awk -v a="$NOTICE_A" -v f="$FREEZE_B" -v b="$NOTICE_B" '
	$1 > a && $2 < f && !($3 == "ok" && $4 == "b") { print "after a noticed: " $0 }
	$1 > b && !($3 == "ok" && $4 == "c")           { print "after b noticed: " $0 }
' "$T/clients.log")
[ -z "$bad" ] || td_fail "requests after a fault was noticed did not go to a healthy node:
$bad"
after=$(awk -v a="$NOTICE_A" '$1 > a' "$T/clients.log" | wc -l)
inwin=$(awk -v a="$NOTICE_A" -v f="$FREEZE_B" -v b="$NOTICE_B" '$1 > a && $2 >= f && $1 <= b' "$T/clients.log" | wc -l)
[ "$after" -ge 10 ] || td_fail "only $after requests ran after the faults; the test proves nothing"
td_ok "continuous clients: $total requests, all $((after - inwin)) started after a fault was noticed succeeded on the next node by priority ($inwin in b's detection window not judged)"

# --- no healthy node -----------------------------------------------------------
# (b is thawed and may be back: stop it and c by hand.)
for n in b c; do
	ctl stop "$n" >/dev/null || td_fail "stop $n refused"
	td_wait 10 node_in_state "$n" stopped || td_fail "$n not stopped"
done
before=$(status_json | jq '.pools[] | select(.name == "p") | .refused')
if ask "$PP" >/dev/null 2>&1; then
	td_fail "a request succeeded with no healthy node"
fi
after=$(status_json | jq '.pools[] | select(.name == "p") | .refused')
[ "$after" -gt "$before" ] || td_fail "refusal not counted ($before -> $after)"
td_ok "no healthy node: the client is closed at once, refused $before -> $after"

# --- metrics --------------------------------------------------------------
ctl metrics >"$T/metrics.txt" 2>&1 || td_fail "tunnelctl metrics failed: $(head -n 3 "$T/metrics.txt")"
for k in failovers refused; do
	v=$(status_json | jq '.pools[] | select(.name == "p") | .'"$k")
	grep -qx "tunneld_pool_${k}_total{pool=\"p\"} $v" "$T/metrics.txt" ||
		td_fail "metrics lack tunneld_pool_${k}_total{pool=\"p\"} $v: $(grep "pool_${k}" "$T/metrics.txt")"
done
for n in a b c; do
	v=$(status_json | jq --arg n "$n" '.pools[] | select(.name == "p") | .per_node[$n]')
	grep -qx "tunneld_pool_connections_total{pool=\"p\",node=\"$n\"} $v" "$T/metrics.txt" ||
		td_fail "metrics lack p's $v connections to $n"
done
if command -v promtool >/dev/null; then
	promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 ||
		td_fail "promtool: $(cat "$T/promtool.out")"
fi
td_ok "pool figures in the metrics equal the status's; promtool accepts them"

# --- a pool whose port is taken at reload -----------------------------------
# Kept and shown with its reason, bound by the once-a-second retry as soon
# as the port is free, as a local forward's listener is.
for n in b c; do
	ctl start "$n" >/dev/null || td_fail "start $n refused"
done
for n in b c; do
	td_wait 20 node_in_state "$n" up || td_fail "$n not up again: $(ctl status)"
done
PR=$(td_port)
socat TCP-LISTEN:"$PR",bind=127.0.0.1,fork SYSTEM:'echo squatter' \
    </dev/null >>"$T/socat-squatter.log" 2>&1 &
SQUATTER_PID=$!
td_track "$SQUATTER_PID"
listening() { [ -n "$(ss -Htln "sport = :$1")" ]; }
td_wait 10 listening "$PR" || td_fail "the squatter did not bind $PR"
printf '\n[pool r]\nlisten = 127.0.0.1:%s\nnodes  = c b\npolicy = priority\n' \
    "$PR" >>"$T/tunneld.conf"
ctl reload >"$T/reload.out" 2>&1 ||
	td_fail "reload with a taken pool port refused: $(cat "$T/reload.out")"
pool_r() {
	status_json | jq -r --arg k "$1" '.pools[] | select(.name == "r") | .[$k]'
}
[ "$(pool_r listening)" = false ] || td_fail "pool r listening: '$(pool_r listening)', want false"
want="listen 127.0.0.1:$PR: Address already in use"
[ "$(pool_r reason)" = "$want" ] || td_fail "pool r reason '$(pool_r reason)', want '$want'"
ctl status >"$T/status.txt"
grep -q "^r  *127\.0\.0\.1:$PR  *priority .*$want\$" "$T/status.txt" ||
	td_fail "tunnelctl status does not show pool r and its reason:
$(cat "$T/status.txt")"
grep -q "pool r: $want" "$T/tunneld.log" || td_fail "the failed bind was not logged"
ctl metrics >"$T/metrics.txt" 2>&1
grep -qx 'tunneld_pool_listening{pool="r"} 0' "$T/metrics.txt" ||
	td_fail "metrics: $(grep pool_listening "$T/metrics.txt")"
# (a's sshd is still down: b is p's first node up.)
[ "$(served_by "$PP")" = b ] || td_fail "pool p stopped serving after the reload"
td_ok "pool r on a taken port: kept, listening false, '$want' in status, the table, the log and the metrics; p still serves"

td_stop "$SQUATTER_PID"
pool_r_up() { [ "$(pool_r listening)" = true ]; }
td_wait 10 pool_r_up ||
	td_fail "pool r not listening 10 s after the port was freed: $(pool_r reason)"
[ "$(served_by "$PR")" = c ] || td_fail "pool r's first request did not go to c"
grep -q "pool r: listening on 127.0.0.1:$PR" "$T/tunneld.log" ||
	td_fail "the late bind was not logged"
ctl metrics >"$T/metrics.txt" 2>&1
grep -qx 'tunneld_pool_listening{pool="r"} 1' "$T/metrics.txt" ||
	td_fail "metrics after the bind: $(grep pool_listening "$T/metrics.txt")"
td_ok "port freed: pool r bound by the retry and served by c, its first node"

rc=0
tunneld_stop || rc=$?
[ "$rc" -eq 0 ] || td_fail "tunneld exited $rc"
