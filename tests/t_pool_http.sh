#!/usr/bin/env bash
# HTTP pools (issue 17): `mode = http` in front of three nodes, each behind
# its own loopback sshd, each with an Ollama stand-in listing different
# models and having different ones loaded:
#   a: phi3:mini, qwen2.5:7b             loaded: none
#   b: qwen2.5:7b, llama3.1:8b           loaded: qwen2.5:7b
#   c: llama3.1:8b, nomic-embed-text     loaded: llama3.1:8b, nomic-embed-text
#   - routing by the body's model, loaded before listed order; requests
#     without a model by the pool's order; OpenAI paths with the model last;
#   - a model no node lists: 404 JSON naming the nodes considered;
#   - keep-alive: many requests on one connection, each routed on its own;
#   - best --model agrees with where the pool sends the request;
#   - streaming: the first NDJSON line and SSE event arrive as the node
#     sends them, not at the end;
#   - a 40 MiB body streams to its node without tunneld holding it;
#   - retry before the first byte (503, reset, timeout) to the next node,
#     at most `retries` times; pass-through after it (a cut stream is cut);
#   - the figures: status JSON and metrics.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup
command -v curl >/dev/null || td_skip "no curl (apt-get install curl)"
command -v jq >/dev/null || td_skip "no jq (apt-get install jq)"

NODES=(a b c)
declare -A FWD OPORT

tags() {
	local m out= sep=
	for m; do
		out+="$sep{\"name\":\"$m\",\"model\":\"$m\",\"size\":1000}"
		sep=,
	done
	printf '{"models":[%s]}' "$out"
}
ps() {
	local m out= sep=
	for m; do
		out+="$sep{\"name\":\"$m\",\"model\":\"$m\",\"size_vram\":1000}"
		sep=,
	done
	printf '{"models":[%s]}' "$out"
}
for n in "${NODES[@]}"; do
	mkdir -p "$T/fx-$n"
	printf '{"version":"0.5.7-%s"}' "$n" >"$T/fx-$n/ollama-version.json"
done
tags phi3:mini qwen2.5:7b >"$T/fx-a/ollama-tags.json"
ps >"$T/fx-a/ollama-ps.json"
tags qwen2.5:7b llama3.1:8b >"$T/fx-b/ollama-tags.json"
ps qwen2.5:7b >"$T/fx-b/ollama-ps.json"
tags llama3.1:8b nomic-embed-text >"$T/fx-c/ollama-tags.json"
ps llama3.1:8b nomic-embed-text >"$T/fx-c/ollama-ps.json"

# A stand-in that names itself in every answer (X-Standin-Node).
standin_start() {
	local name=$1 port=$2
	rm -f "$T/ollama-$name.pid"
	"$TD_OLLAMA_STANDIN" --listen "127.0.0.1:$port" --dir "$T/fx-$name" \
	    --control "$T/ollama-$name.mode" --pidfile "$T/ollama-$name.pid" \
	    --name "$name" </dev/null >>"$T/ollama-$name.log" 2>&1 &
	td_track $!
	td_wait 10 test -s "$T/ollama-$name.pid" ||
		td_fail "stand-in $name did not start: $(tail -n 3 "$T/ollama-$name.log")"
}

for n in "${NODES[@]}"; do
	sshd_setup "$n"
	sshd_key "$n"
	sshd_start
	OPORT[$n]=$(td_port)
	standin_start "$n" "${OPORT[$n]}"
	FWD[$n]=$(td_port)
done
PH=$(td_port)
PO=$(td_port)

# Probes every 300 s: the first round runs when a session comes up; no
# later round changes what the pool knows while the test reasons about it.
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
[pool h]
listen = 127.0.0.1:$PH
nodes  = a b c
mode   = http
policy = priority
retries = 2
first_byte_timeout = 2s

[pool o]
listen = 127.0.0.1:$PO
nodes  = a b c
mode   = http
policy = least-outstanding
retries = 1
EOF
} >"$T/tunneld.conf"

"$TUNNELD" --check-config --config "$T/tunneld.conf" >"$T/check.out" 2>&1 ||
	td_fail "the http pool config is refused: $(cat "$T/check.out")"
notify_listen
tunneld_start "$T/tunneld.conf"

status_json() { ctl --json status 2>/dev/null; }
state_is() {
	[ "$(status_json | jq -r --arg n "$1" '.nodes[] | select(.name == $n) | .state')" = "$2" ]
}
has_models() {
	status_json | td_jq --arg n "$1" \
	    '.nodes[] | select(.name == $n) | (.ollama.models | length) > 0' >/dev/null
}
for n in "${NODES[@]}"; do
	td_wait 20 state_is "$n" up || td_fail "node $n not up: $(ctl status)"
	td_wait 20 has_models "$n" || td_fail "node $n: no Ollama probe result"
done
td_ok "three nodes up behind http pools h (priority) and o (least-outstanding)"

# post PORT PATH BODY: the answer's body in $T/body, its head in $T/head;
# prints the node that served it.
post() {
	rm -f "$T/head" "$T/body"
	curl -sS -m 20 -D "$T/head" -o "$T/body" -H 'Content-Type: application/json' \
	    --data-binary "$3" "http://127.0.0.1:$1$2" 2>"$T/curl.err" || return 1
	served
}
served() {
	sed -n 's/^[Xx]-[Ss]tandin-[Nn]ode: *\([a-z]*\).*/\1/p' "$T/head"
}
# code: the final answer's status (after any 1xx).
code() { awk '/^HTTP\/1\.1 [0-9]+/ { c = $2 } END { print c }' "$T/head"; }

# --- routing by model ------------------------------------------------------
check_route() {
	local path=$1 body=$2 want=$3 s
	s=$(post "$PH" "$path" "$body") || td_fail "$path $body failed: $(cat "$T/curl.err")"
	[ "$s" = "$want" ] || td_fail "$path $body went to '$s' ($(code)), want $want: $(head -c 300 "$T/body")"
	[ "$(code)" = 200 ] || td_fail "$path $body: HTTP $(code): $(head -c 300 "$T/body")"
}
check_route /api/generate '{"model":"phi3:mini","prompt":"hi","stream":false}' a
check_route /api/generate '{"model":"qwen2.5:7b","prompt":"hi","stream":false}' b
check_route /api/chat '{"model":"llama3.1:8b","messages":[{"role":"user","content":"hi"}],"stream":false}' c
check_route /api/embed '{"model":"nomic-embed-text","input":"hello"}' c
# OpenAI's clients put the model after the messages.
check_route /v1/chat/completions '{"messages":[{"role":"user","content":"a long question"}],"options":{"temperature":0.5,"stop":["x"]},"model":"phi3:mini"}' a
s=$(curl -sS -m 5 -D "$T/head" -o /dev/null "http://127.0.0.1:$PH/api/tags" && served)
[ "$s" = a ] || td_fail "GET /api/tags went to '$s', want a (no model: the pool's order)"
td_ok "by model: phi3 -> a (only a lists it), qwen2.5 -> b (loaded, a is first), llama3.1 -> c (loaded), embed -> c, model last in an OpenAI body -> a, no model -> a"

# --- best --model agrees ------------------------------------------------------
for pair in phi3:mini=a qwen2.5:7b=b llama3.1:8b=c nomic-embed-text=c; do
	m=${pair%=*} n=${pair#*=}
	out=$(ctl best h --model "$m") || td_fail "best h --model $m: exit $?"
	[ "$out" = "127.0.0.1:${FWD[$n]}" ] ||
		td_fail "best h --model $m said '$out', want $n (127.0.0.1:${FWD[$n]})"
done
ctl --json best h --model qwen2.5:7b | td_jq '.node == "b" and (.reason | test("loaded"))' >/dev/null ||
	td_fail "best's JSON for qwen2.5 does not say b, loaded: $(ctl --json best h --model qwen2.5:7b)"
td_ok "best h --model agrees with the pool for each model (qwen2.5: b, 'model loaded')"

# --- no node lists the model ------------------------------------------------
rc=0; post "$PH" /api/generate '{"model":"no-such:model","prompt":"x"}' >/dev/null || rc=$?
[ "$rc" = 0 ] || td_fail "a request for an unknown model failed at the transport: $(cat "$T/curl.err")"
[ "$(code)" = 404 ] || td_fail "unknown model: HTTP $(code), want 404"
td_jq '(.error | test("no-such:model")) and (.nodes | length == 3) and
    ([.nodes[].name] == ["a","b","c"]) and .model == "no-such:model"' "$T/body" >/dev/null ||
	td_fail "the 404 body does not name the model and the nodes: $(cat "$T/body")"
rc=0; ctl best h --model no-such:model >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || td_fail "best for a model nobody lists: exit $rc, want 1"
td_ok "unknown model: 404 $(jq -c . "$T/body" | head -c 160)..."

# --- keep-alive: one connection, each request routed on its own -----------
curl -sS -m 20 -o /dev/null -w '%{num_connects} %{http_code}\n' \
    -H 'Content-Type: application/json' \
    -D "$T/ka-heads" \
    --data-binary '{"model":"phi3:mini","prompt":"x","stream":false}' "http://127.0.0.1:$PH/api/generate" \
    --next -H 'Content-Type: application/json' -D "$T/ka-heads2" \
    --data-binary '{"model":"llama3.1:8b","prompt":"x","stream":false}' "http://127.0.0.1:$PH/api/generate" \
    --next -H 'Content-Type: application/json' -D "$T/ka-heads3" \
    --data-binary '{"model":"qwen2.5:7b","prompt":"x","stream":false}' "http://127.0.0.1:$PH/api/generate" \
    --next -D "$T/ka-heads4" "http://127.0.0.1:$PH/api/version" \
    >"$T/ka.out" 2>"$T/curl.err" || td_fail "keep-alive requests failed: $(cat "$T/curl.err")"
[ "$(awk '{ c += $1 } END { print c }' "$T/ka.out")" = 1 ] ||
	td_fail "4 requests took $(awk '{ c += $1 } END { print c }' "$T/ka.out") connections, want 1: $(cat "$T/ka.out")"
got=
for f in ka-heads ka-heads2 ka-heads3 ka-heads4; do
	got+=$(sed -n 's/^[Xx]-[Ss]tandin-[Nn]ode: *\([a-z]*\).*/\1/p' "$T/$f")
done
[ "$got" = acba ] || td_fail "keep-alive requests went to '$got', want a c b a"
td_ok "keep-alive: 4 requests on 1 connection went to a, c, b, a"

# --- streaming -----------------------------------------------------------------
# b sends one NDJSON line every 400 ms (10 lines: 3.6 s); the first must
# reach the client long before the last.
ollama_mode b stream 400
stamp_lines() {
	local t0 line
	t0=${EPOCHREALTIME/./}
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		echo "$(( (${EPOCHREALTIME/./} - t0) / 1000 )) $line"
	done
}
curl -sS -N -m 20 -H 'Content-Type: application/json' \
    --data-binary '{"model":"qwen2.5:7b","prompt":"hi"}' \
    "http://127.0.0.1:$PH/api/generate" 2>"$T/curl.err" | stamp_lines >"$T/stream.out"
n=$(wc -l <"$T/stream.out")
first=$(awk 'NR == 1 { print $1 }' "$T/stream.out")
last=$(awk 'END { print $1 }' "$T/stream.out")
[ "$n" = 10 ] || td_fail "the stream had $n lines, want 10: $(cat "$T/stream.out" "$T/curl.err")"
tail -n 1 "$T/stream.out" | grep -q '"done":true' || td_fail "the stream's last line is not done:true"
[ $((last - first)) -ge 2400 ] || td_fail "lines arrived together (first ${first} ms, last ${last} ms): buffered, not streamed"
td_ok "NDJSON stream: 10 lines, the first at ${first} ms, the last at ${last} ms"
curl -sS -N -m 20 -H 'Content-Type: application/json' \
    --data-binary '{"model":"qwen2.5:7b","messages":[],"stream":true}' \
    "http://127.0.0.1:$PH/v1/chat/completions" 2>"$T/curl.err" | stamp_lines >"$T/sse.out"
first=$(awk 'NR == 1 { print $1 }' "$T/sse.out")
last=$(awk 'END { print $1 }' "$T/sse.out")
tail -n 1 "$T/sse.out" | grep -q 'data: \[DONE\]' || td_fail "the SSE stream did not end with [DONE]: $(tail -n 2 "$T/sse.out")"
[ $((last - first)) -ge 2400 ] || td_fail "SSE events arrived together (first ${first} ms, last ${last} ms)"
td_ok "SSE stream: $(wc -l <"$T/sse.out") events, the first at ${first} ms, [DONE] at ${last} ms"
ollama_mode b ok

# --- a big body streams -----------------------------------------------------------
kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
{
	printf '{"model":"nomic-embed-text","input":"'
	head -c $((30 * 1024 * 1024)) /dev/zero | tr '\0' 'A'
	printf '"}'
} >"$T/big.json"
size=$(stat -c %s "$T/big.json")
rss0=$(kb "$TUNNELD_PID" VmRSS)
s=$(curl -sS -m 60 -D "$T/head" -o "$T/body" -H 'Content-Type: application/json' \
    --data-binary @"$T/big.json" "http://127.0.0.1:$PH/api/embed" 2>"$T/curl.err" && served) ||
	td_fail "the 30 MiB request failed: $(cat "$T/curl.err")"
hwm=$(kb "$TUNNELD_PID" VmHWM)
got=$(sed -n 's/^[Xx]-[Bb]ody-[Bb]ytes: *\([0-9]*\).*/\1/p' "$T/head")
[ "$s" = c ] || td_fail "the big embed request went to '$s', want c"
[ "$got" = "$size" ] || td_fail "c received $got bytes of $size"
# (ASan's quarantine keeps freed memory resident: the growth says nothing.)
if ldd "$TUNNELD" 2>/dev/null | grep -q libasan; then
	echo "# built with ASan: peak RSS not judged"
elif [ $((hwm - rss0)) -ge $((12 * 1024)) ]; then
	td_fail "tunneld's peak RSS grew by $(((hwm - rss0) / 1024)) MiB for a $((size >> 20)) MiB body: held, not streamed"
fi
td_ok "a $((size >> 20)) MiB body reached c whole ($got bytes); tunneld's peak RSS grew $(((hwm - rss0) / 1024)) MiB"
rm -f "$T/big.json"
# The model after 600 kB of body: still found (up to 1 MiB is scanned).
# Before, reading stopped at the 256 KiB queue bound before the scan got
# there: no answer, ever, and the connection held (reads off, no timeout).
{
	printf '{"input":"'
	head -c $((600 * 1024)) /dev/zero | tr '\0' 'A'
	printf '","model":"nomic-embed-text"}'
} >"$T/late.json"
s=$(curl -sS -m 30 -D "$T/head" -o "$T/body" -H 'Content-Type: application/json' \
    --data-binary @"$T/late.json" "http://127.0.0.1:$PH/api/embed" 2>"$T/curl.err" && served) ||
	td_fail "a request whose model comes after 600 kB of body failed: $(cat "$T/curl.err")"
[ "$s" = c ] || td_fail "a model after 600 kB of body: the request went to '$s', want c"
rm -f "$T/late.json"
td_ok "a model after 600 kB of body: found, the request went to c"

# --- upgrades and CONNECT are not carried --------------------------------------------------
# 501 from tunneld, no node asked.  Before, the pause at the end of the
# head hid the parser's upgrade flag: both went to a node, and a CONNECT
# left the pool's in_flight up for good.
rm -f "$T/head" "$T/body"
curl -sS -m 20 -D "$T/head" -o "$T/body" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    "http://127.0.0.1:$PH/api/tags" 2>"$T/curl.err" || :
[ "$(code)" = 501 ] && [ -z "$(served)" ] && grep -q 'upgrades are not carried' "$T/body" ||
	td_fail "an Upgrade request: HTTP $(code) from '$(served)': $(head -c 200 "$T/body")"
connect_line=$(timeout 20 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1 || exit 1
	printf "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n" >&3
	head -n 1 <&3' _ "$PH") || :
[[ $connect_line == "HTTP/1.1 501 "* ]] || td_fail "CONNECT through the pool: '$connect_line'"
td_ok "an Upgrade request and a CONNECT: 501 from tunneld, no node asked"

# --- pipelined requests, then the client shuts its side -----------------------------------
# Every request in line is answered, then the connection closes.  Before,
# only the first was: the shut side closed the connection after it.
printf 'GET /api/version HTTP/1.1\r\nHost: t\r\n\r\nGET /api/tags HTTP/1.1\r\nHost: t\r\n\r\nGET /api/version HTTP/1.1\r\nHost: t\r\n\r\n' |
    timeout 30 socat -t 20 - "TCP:127.0.0.1:$PH" >"$T/pipe.out" 2>"$T/pipe.err" || :
n=$(grep -ao 'HTTP/1.1 200 OK' "$T/pipe.out" | wc -l)	# bodies end without a newline
[ "$n" = 3 ] || td_fail "3 pipelined requests, then a shut side: $n answers: $(grep -ao 'HTTP/1.1 [0-9]*' "$T/pipe.out")"
td_ok "3 pipelined requests, then the client's side shut: 3 answers"

# --- retry before the first byte ------------------------------------------------------
http_field() {
	status_json | jq -r --arg p "$1" ".pools[] | select(.name == \$p) | .http$2"
}
r0=$(http_field h .retries)
ollama_mode b status 503
s=$(post "$PH" /api/generate '{"model":"qwen2.5:7b","prompt":"x","stream":false}') || td_fail "request failed while b answers 503"
[ "$s" = a ] && [ "$(code)" = 200 ] || td_fail "b answered 503: the request went to '$s' (HTTP $(code)), want a"
ollama_mode b close
s=$(post "$PH" /api/generate '{"model":"qwen2.5:7b","prompt":"x","stream":false}') || td_fail "request failed while b resets"
[ "$s" = a ] && [ "$(code)" = 200 ] || td_fail "b reset: the request went to '$s' (HTTP $(code)), want a"
ollama_mode b hang
t0=${EPOCHREALTIME/./}
s=$(post "$PH" /api/generate '{"model":"qwen2.5:7b","prompt":"x","stream":false}') || td_fail "request failed while b hangs: $(cat "$T/curl.err")"
dt=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
[ "$s" = a ] && [ "$(code)" = 200 ] || td_fail "b hung: the request went to '$s' (HTTP $(code)), want a"
[ "$dt" -ge 1900 ] || td_fail "b hung, yet a answered after $dt ms (first_byte_timeout is 2 s)"
r1=$(http_field h .retries)
[ $((r1 - r0)) -ge 3 ] || td_fail "retries counted $r0 -> $r1, want 3 more"
for k in unavailable reset timeout; do
	v=$(http_field h ".per_node.b.errors.$k")
	[ "${v:-0}" -ge 1 ] || td_fail "b's $k errors: ${v:-none}"
done
td_ok "503, reset and a hang (${dt} ms) on b: each request answered by a; retries $r0 -> $r1"
# A 100 Continue, or half a head, then silence: a node that does not
# answer either.  Before, any byte stopped first_byte_timeout, and the
# client waited for as long as the node held the connection.
for mode in interim halfhead; do
	ollama_mode b "$mode"
	t0=${EPOCHREALTIME/./}
	s=$(post "$PH" /api/generate '{"model":"qwen2.5:7b","prompt":"x","stream":false}') ||
		td_fail "request failed while b sends $mode: $(cat "$T/curl.err")"
	dt=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
	[ "$s" = a ] && [ "$(code)" = 200 ] ||
		td_fail "b sent $mode: the request went to '$s' (HTTP $(code)), want a"
	[ "$dt" -ge 1900 ] || td_fail "b sent $mode, yet a answered after $dt ms (first_byte_timeout is 2 s)"
	td_ok "b sends $mode, then nothing: a answered after first_byte_timeout (${dt} ms)"
done

# At most N: pool o has retries = 1; b and a both 503: the second 503 is
# what the client gets, and c (which lists qwen2.5 too? no) is not tried.
ollama_mode b status 503
ollama_mode a status 503
post "$PO" /api/generate '{"model":"qwen2.5:7b","prompt":"x","stream":false}' >/dev/null ||
	td_fail "pool o: request failed: $(cat "$T/curl.err")"
[ "$(code)" = 503 ] && [ "$(served)" = a ] ||
	td_fail "pool o, both nodes 503: HTTP $(code) from '$(served)', want a's 503 passed through"
ollama_mode a ok
td_ok "retries = 1: b's 503 retried once on a, whose 503 the client got"

# tunneld's own answer to a HEAD has a head only: its 504 here, when a, b
# and c all time out (pool h: first_byte_timeout 2 s).  Before, the JSON
# body followed, to be read as the next answer on a kept-alive connection.
for n in a b c; do ollama_mode "$n" hang; done
printf 'HEAD /api/tags HTTP/1.1\r\nHost: t\r\n\r\n' |
    timeout 60 socat -t 30 - "TCP:127.0.0.1:$PH" >"$T/head504" 2>/dev/null || :
for n in a b c; do ollama_mode "$n" ok; done
head -n 1 "$T/head504" | grep -q '^HTTP/1.1 504 ' ||
	td_fail "a HEAD that no node answered: $(head -n 1 "$T/head504")"
[ "$(tail -c 4 "$T/head504" | od -An -c | tr -d ' ')" = '\r\n\r\n' ] ||
	td_fail "tunneld's 504 to a HEAD carries a body: $(tail -c 80 "$T/head504")"
td_ok "tunneld's own 504 to a HEAD: the head alone"

# --- pass-through after the first byte ---------------------------------------------------
ollama_mode b cutstream
a0=$(grep -c 'POST /api/generate' "$T/ollama-a.log")
rc=0
curl -sS -N -m 20 -D "$T/head" -H 'Content-Type: application/json' \
    --data-binary '{"model":"qwen2.5:7b","prompt":"hi"}' \
    "http://127.0.0.1:$PH/api/generate" >"$T/cut.out" 2>"$T/curl.err" || rc=$?
[ "$rc" != 0 ] || td_fail "a stream cut by b looked complete to the client"
[ "$(served)" = b ] || td_fail "the cut stream came from '$(served)', want b"
[ "$(wc -l <"$T/cut.out")" = 2 ] || td_fail "the client got $(wc -l <"$T/cut.out") lines of the cut stream, want b's 2"
a1=$(grep -c 'POST /api/generate' "$T/ollama-a.log")
[ "$a0" = "$a1" ] || td_fail "a was asked after b's first byte ($a0 -> $a1)"
ollama_mode b ok
td_ok "b cut its stream after 2 lines: the client got those 2 and a closed connection (curl exit $rc); not retried"

# --- least-outstanding -------------------------------------------------------------------
# Two requests held on b (slow stream): qwen2.5 is loaded only on b, so b
# keeps getting qwen; llama3.1 (b, c) goes to c, loaded, anyway.  For
# phi3:mini only a qualifies.  With nothing loaded in the way: requests
# without a model spread: one held on a sends the next to b.
ollama_mode a stream 1500
curl -sS -N -m 20 -o /dev/null "http://127.0.0.1:$PO/api/generate" \
    -H 'Content-Type: application/json' --data-binary '{"model":"phi3:mini","prompt":"x"}' &
HOLD=$!
td_track "$HOLD"
inflight_a() { [ "$(http_field o .per_node.a.in_flight)" = 1 ]; }
td_wait 10 inflight_a || td_fail "the held request is not in flight on a: $(http_field o '')"
s=$(curl -sS -m 5 -D "$T/head" -o /dev/null "http://127.0.0.1:$PO/api/version" && served)
[ "$s" = b ] || td_fail "least-outstanding: with a request in flight on a, the next went to '$s', want b"
out=$(ctl best o) || td_fail "best o: exit $?"
[ "$out" = "127.0.0.1:${FWD[b]}" ] || td_fail "best o said '$out' with a busy, want b"
wait "$HOLD" 2>/dev/null || :
ollama_mode a ok
td_ok "least-outstanding: a request in flight on a sends the next to b; best o agrees"

# --- a client that pipelines and never reads ---------------------------------------------------
# Our own answers (here 404: a model no node lists) wait in the client's
# buffer: at most HTTP_BUF_MAX (256 KiB) of them, then its requests wait in
# the socket.  Before, each request was answered as it came: tunneld's RSS
# grew about 100 MB in 5 s, and back only when the client closed.
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$TUNNELD_PID/status"; }
rss0=$(rss)
before=$(http_field h .errors.no_model)
out=$("$top_builddir/tests/tunnel-helper" noread "$PH" 4 \
    'POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Length: 16\r\n\r\n{"model":"nope"}') ||
	td_fail "tunnel-helper noread failed: $out"
rss1=$(rss)
answered=$(($(http_field h .errors.no_model) - before))
# 256 KiB of 404s of about 450 bytes, what the kernel's socket buffers
# hold, and the requests waiting in tunneld's input: thousands, not more.
[ "$answered" -le 20000 ] ||
	td_fail "a client that never reads was answered $answered times ($out): its answers piled up"
[ $((rss1 - rss0)) -lt 32768 ] ||
	td_fail "a client that never reads grew tunneld by $((rss1 - rss0)) KiB ($answered answers)"
s=$(post "$PH" /api/generate '{"model":"qwen2.5:7b","prompt":"x"}') ||
	td_fail "a request after the non-reading client failed: $(cat "$T/curl.err")"
td_ok "a client that pipelines and never reads: $answered answers queued for it ($out), RSS +$((rss1 - rss0)) KiB"

# --- figures ---------------------------------------------------------------------------------
status_json | td_jq '.pools[] | select(.name == "h") | .mode == "http" and
    .http.requests > 10 and .http.in_flight == 0 and
    .http.first_byte.count > 0 and (.http.per_node | keys == ["a","b","c"])' >/dev/null ||
	td_fail "pool h's status lacks the http figures: $(status_json | jq -c '.pools[0]')"
ctl metrics >"$T/metrics.txt" 2>&1 || td_fail "tunnelctl metrics failed"
v=$(http_field h .retries)
grep -qx "tunneld_pool_http_retries_total{pool=\"h\"} $v" "$T/metrics.txt" ||
	td_fail "metrics lack tunneld_pool_http_retries_total{pool=\"h\"} $v: $(grep http_retries "$T/metrics.txt")"
v=$(http_field h .per_node.c.requests)
grep -qx "tunneld_pool_http_node_requests_total{pool=\"h\",node=\"c\"} $v" "$T/metrics.txt" ||
	td_fail "metrics lack c's $v requests: $(grep http_requests "$T/metrics.txt")"
grep -q "^tunneld_pool_http_first_byte_seconds_bucket{pool=\"h\",node=\"b\",le=\"+Inf\"} " "$T/metrics.txt" ||
	td_fail "metrics lack the first-byte histogram"
v=$(http_field h .per_node.b.errors.unavailable)
grep -qx "tunneld_pool_http_node_errors_total{pool=\"h\",node=\"b\",kind=\"unavailable\"} $v" "$T/metrics.txt" ||
	td_fail "metrics lack b's unavailable errors ($v)"
if command -v promtool >/dev/null; then
	promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 ||
		td_fail "promtool: $(cat "$T/promtool.out")"
fi
# The pool's own FAILOVERS and REFUSED are its retries and the requests no
# node could take (they were 0 for an http pool, whatever happened).
read -r fo rf < <(status_json | jq -r '.pools[] | select(.name == "h") |
    "\(.failovers == .http.retries and .failovers > 0) \(.refused ==
    .http.errors.no_node + .http.errors.no_model)"')
[ "$fo $rf" = "true true" ] ||
	td_fail "pool h's failovers/refused are not its retries/refusals: $(status_json | jq -c '.pools[] | select(.name == "h") | [.failovers, .refused, .http.retries, .http.errors]')"
v=$(status_json | jq -r '.pools[] | select(.name == "h") | .failovers')
grep -qx "tunneld_pool_failovers_total{pool=\"h\"} $v" "$T/metrics.txt" ||
	td_fail "metrics lack tunneld_pool_failovers_total{pool=\"h\"} $v: $(grep pool_failovers "$T/metrics.txt")"
ctl status >"$T/status.txt"
grep -q "^h  *127\.0\.0\.1:$PH  *priority  *[0-9][0-9]*  *$v " "$T/status.txt" ||
	td_fail "the table lacks pool h with $v failovers: $(cat "$T/status.txt")"
td_ok "figures: requests, in flight, retries, errors by kind, first-byte histogram in status and metrics (promtool accepts them)"

rc=0
tunneld_stop || rc=$?
[ "$rc" -eq 0 ] || td_fail "tunneld exited $rc"
