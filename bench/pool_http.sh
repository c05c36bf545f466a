#!/bin/bash
# shellcheck source-path=SCRIPTDIR source=../tests/lib.sh
#
# bench/pool_http.sh: an http pool (mode = http) against a tcp pool over the
# same three nodes (issue 17).  Each node is a loopback sshd carrying a
# tunneld local_forward to its own Ollama stand-in; both pools list the
# nodes a b c, policy priority, so both send everything to a:
#   - small requests, BENCH_RR (1000) on one kept-alive connection through
#     each pool and straight through a's forward (GET /api/version, and a
#     POST /api/generate whose model the http pool reads): p50/p99 us, and
#     the http pool's added latency over the tcp pool;
#   - the first chunk of a streamed answer (a sends NDJSON lines 5 ms
#     apart): time to the first byte, BENCH_STREAM (100) requests;
#   - a BENCH_BODY_MIB (64) MiB request body (model first), MB/s, median
#     of BENCH_RUNS (3);
#   - a's sshd killed while BENCH_CLIENTS (4) clients send requests that a
#     answers after 50 ms: how many succeed, fail before any byte, or are
#     cut after one, for each pool (target for the http pool: no failure
#     before a byte).
# A measurement, not a test: it fails only when something breaks.
#
# Usage: bench/pool_http.sh   (after `make`; or `make bench-pool-http`)
# Knobs: BENCH_RR BENCH_STREAM BENCH_BODY_MIB BENCH_RUNS BENCH_CLIENTS
#        BENCH_KILL_S BENCH_RESULTS

set -o pipefail
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
. "$top_srcdir/tests/lib.sh"
# shellcheck source=bench/lib.sh
. "$top_srcdir/bench/lib.sh"

BENCH_RR=${BENCH_RR:-1000}
BENCH_STREAM=${BENCH_STREAM:-100}
BENCH_BODY_MIB=${BENCH_BODY_MIB:-64}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_CLIENTS=${BENCH_CLIENTS:-4}
BENCH_KILL_S=${BENCH_KILL_S:-3}

td_setup
bench_prepare pool_http
command -v curl >/dev/null || td_fail "no curl (apt-get install curl)"

NODES=(a b c)
declare -A FWD OPORT
for n in "${NODES[@]}"; do
	mkdir -p "$T/fx-$n"
	cp "$TD_FIXTURES"/ollama-*.json "$T/fx-$n/"
	sshd_setup "$n"
	sshd_key "$n"
	sshd_start
	OPORT[$n]=$(td_port)
	"$TD_OLLAMA_STANDIN" --listen "127.0.0.1:${OPORT[$n]}" --dir "$T/fx-$n" \
	    --control "$T/ollama-$n.mode" --pidfile "$T/ollama-$n.pid" \
	    --name "$n" </dev/null >/dev/null 2>>"$T/ollama-$n.log" &
	td_track $!
	td_wait 10 test -s "$T/ollama-$n.pid" || td_fail "stand-in $n did not start"
	FWD[$n]=$(td_port)
done
PT=$(td_port)
PH=$(td_port)
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
[pool t]
listen = 127.0.0.1:$PT
nodes  = a b c

[pool h]
listen = 127.0.0.1:$PH
nodes  = a b c
mode   = http
retries = 2
EOF
} >"$T/tunneld.conf"
tunneld_start "$T/tunneld.conf"
has_models() {
	ctl --json status 2>/dev/null | jq -e --arg n "$1" \
	    '.nodes[] | select(.name == $n) | .state == "up" and
	    (.ollama.models | length) > 0' >/dev/null
}
for n in "${NODES[@]}"; do
	td_wait 30 has_models "$n" || td_fail "node $n not up with its models"
done

row() { printf '%-44s %14s %14s %14s %12s\n' "$@" | tee -a "$OUT"; }
med() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
diff_() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "-"; else printf "%+d", a - b }'; }

{
	echo "# bench/pool_http.sh $(date -u +%FT%TZ) on $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
	echo "# nodes a b c behind loopback sshds; pools t (tcp) and h (http), policy priority: all to a"
} | tee -a "$OUT"
row "" "forward a" "tcp pool" "http pool" "http - tcp"

GEN='{"model":"qwen2.5:7b","prompt":"hi","stream":false}'
# rr NAME PATH BODY: p50/p99 through the forward, the tcp and the http pool.
rr() {
	local name=$1 path=$2 body=$3 who port out r
	declare -A P50 P99
	for who in fwd t h; do
		case $who in
		fwd) port=${FWD[a]} ;; t) port=$PT ;; h) port=$PH ;;
		esac
		out=
		for ((r = 0; r < BENCH_RUNS; r++)); do
			out+=$("$TDBENCH" http "127.0.0.1:$port" "$BENCH_RR" "$path" "$body")$'\n' ||
				td_fail "tdbench http through $who failed: $out"
		done
		echo "rr $name $who: $out" >>"$RAW"
		P50[$who]=$(awk '{ print $1 }' <<<"$out" | med)
		P99[$who]=$(awk '{ print $2 }' <<<"$out" | med)
		[ "$(awk '{ s += $6 + $7 } END { print s }' <<<"$out")" = 0 ] ||
			td_fail "requests failed through $who: $out"
	done
	row "$name p50 us" "${P50[fwd]}" "${P50[t]}" "${P50[h]}" "$(diff_ "${P50[h]}" "${P50[t]}")"
	row "$name p99 us" "${P99[fwd]}" "${P99[t]}" "${P99[h]}" "$(diff_ "${P99[h]}" "${P99[t]}")"
}
rr "GET /api/version" /api/version -
rr "POST /api/generate (small)" /api/generate "$GEN"

# --- first streamed chunk ---------------------------------------------------
ollama_mode a stream 5
declare -A F50 F99
for who in t h; do
	port=$PT
	[ "$who" = h ] && port=$PH
	out=$("$TDBENCH" http "127.0.0.1:$port" "$BENCH_STREAM" /api/generate \
	    '{"model":"qwen2.5:7b","prompt":"hi"}') || td_fail "streamed requests through $who failed: $out"
	echo "stream $who: $out" >>"$RAW"
	F50[$who]=$(awk '{ print $3 }' <<<"$out")
	F99[$who]=$(awk '{ print $4 }' <<<"$out")
done
ollama_mode a ok
row "first streamed chunk p50 us" - "${F50[t]}" "${F50[h]}" "$(diff_ "${F50[h]}" "${F50[t]}")"
row "first streamed chunk p99 us" - "${F99[t]}" "${F99[h]}" "$(diff_ "${F99[h]}" "${F99[t]}")"

# --- a big body -------------------------------------------------------------------
{
	printf '{"model":"qwen2.5:7b","input":"'
	head -c $((BENCH_BODY_MIB * 1024 * 1024 - 33)) /dev/zero | tr '\0' 'A'
	printf '"}'
} >"$T/big.json"
size=$(stat -c %s "$T/big.json")
declare -A MBS
for who in t h; do
	port=$PT
	[ "$who" = h ] && port=$PH
	out=
	for ((r = 0; r < BENCH_RUNS; r++)); do
		s=$(curl -sS -m 120 -o /dev/null -w '%{http_code} %{time_total}' \
		    -H 'Content-Type: application/json' --data-binary @"$T/big.json" \
		    "http://127.0.0.1:$port/api/embed") || td_fail "big body through $who failed"
		[ "${s%% *}" = 200 ] || td_fail "big body through $who: HTTP ${s%% *}"
		out+=" $(awk -v b="$size" -v t="${s#* }" 'BEGIN { printf "%.0f", b / t / 1e6 }')"
	done
	echo "body $who MB/s:$out" >>"$RAW"
	MBS[$who]=$(med <<<"$out")
done
rm -f "$T/big.json"
row "$((size >> 20)) MiB body, MB/s" - "${MBS[t]}" "${MBS[h]}" "$(diff_ "${MBS[h]}" "${MBS[t]}")"

# --- a node killed mid-run -----------------------------------------------------------
# kill_run PORT: BENCH_CLIENTS clients until the stop file; a's sshd is
# killed after 1 s and started again after the run.  Sets KR to "ok before
# after".  (In the main shell: sshd_stop and sshd_start keep its PIDs.)
kill_run() {
	local port=$1 i pids=()
	rm -f "$T/stop" "$T"/kill.*.out
	for ((i = 0; i < BENCH_CLIENTS; i++)); do
		"$TDBENCH" http "127.0.0.1:$port" 100000 /api/generate "$GEN" "$T/stop" \
		    >"$T/kill.$i.out" 2>&1 &
		pids+=($!)
		td_track $!
	done
	sleep 1
	sshd_use a
	sshd_stop
	sleep "$BENCH_KILL_S"
	touch "$T/stop"
	for i in "${pids[@]}"; do
		td_wait 20 td__gone "$i" || td_fail "a client did not stop"
		wait "$i" 2>/dev/null || :
	done
	cat "$T"/kill.*.out >>"$RAW"
	KR=$(awk '{ o += $5; b += $6; a += $7 } END { print o, b, a }' "$T"/kill.*.out)
	sshd_start
	td_wait 30 has_models a || td_fail "a did not come back"
}
ollama_mode a slow 50
ollama_mode b slow 50
ollama_mode c slow 50
kill_run "$PT"
kt=$KR
kill_run "$PH"
kh=$KR
share() { awk -v o="$1" -v b="$2" -v a="$3" 'BEGIN { t = o + b + a; printf "%d/%d (%.1f%%)", o, t, t ? 100 * o / t : 0 }'; }
read -r ok_t be_t af_t <<<"$kt"
read -r ok_h be_h af_h <<<"$kh"
row "a killed: requests ok" - "$(share "$ok_t" "$be_t" "$af_t")" "$(share "$ok_h" "$be_h" "$af_h")" ""
row "a killed: failed before any byte" - "$be_t" "$be_h" ""
row "a killed: cut after a byte" - "$af_t" "$af_h" ""
echo "# saved to $OUT" | tee -a "$OUT"
tunneld_stop || :
