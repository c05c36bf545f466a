#!/bin/bash
# seed.sh: (re)build the seed corpora of the fuzz targets from the test
# fixtures and the example config.  Run from anywhere; writes only the
# seed-* files of tests/fuzz/corpus/<target>/ (inputs a fuzzer found, named
# crash-* or regress-*, are kept as they are).
#
# Input layouts (see each fuzz_*.c):
#   nvidia_smi  one byte exit status (0x00: 0, 0xff: unknown, 0x80+N-1: N), then output
#   ollama      one byte parser (0 version, 1 tags, 2 ps, 3 error), one byte
#               HTTP status (300 + b % 300), then the body
#   http        one byte: bit 0 answer (1) or request (0), bit 1 answers to
#               HEAD, the rest a step (1 + b >> 2); then a connection's bytes
#   tegrastats, control, config, jv: the bytes as they are
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
fx=$top/tests/fixtures
c=$top/tests/fuzz/corpus
mkdir -p "$c"/{config,nvidia_smi,tegrastats,ollama,control,http,jv}
rm -f "$c"/*/seed-*

# status byte for exit N (1..128): 0x80 + N - 1
st() { printf "\\$(printf '%03o' "$1")"; }
nsmi() { { st "$2"; cat "$fx/$1"; } >"$c/nvidia_smi/seed-${1%.txt}"; }
nsmi nvidia-smi-2x4090.txt 0
nsmi nvidia-smi-h100.txt 0
nsmi nvidia-smi-h100-mig.txt 0
nsmi nvidia-smi-a100-nosupport.txt 0
nsmi nvidia-smi-garbage.txt 0
nsmi nvidia-smi-driver-fail.txt $((0x80 + 9 - 1))
nsmi nvidia-smi-nvml-mismatch.txt $((0x80 + 18 - 1))
nsmi nvidia-smi-not-found.txt $((0x80 + 127 - 1))
{ st 255; cat "$fx/nvidia-smi-2x4090.txt"; } >"$c/nvidia_smi/seed-unknown-exit"

for f in "$fx"/tegrastats-*.txt; do
	cp "$f" "$c/tegrastats/seed-$(basename "$f" .txt)"
done

oll() { { st "$2"; st "$3"; cat "$fx/$1"; } >"$c/ollama/seed-$4"; }
oll ollama-version.json 0 0 version
oll ollama-tags.json 1 0 tags
oll ollama-tags-empty.json 1 0 tags-empty
oll ollama-truncated.json 1 0 tags-truncated
oll ollama-ps.json 2 0 ps
oll ollama-ps-empty.json 2 0 ps-empty
oll ollama-garbage.txt 1 202 garbage	# 502
oll ollama-error-404.json 3 104 error-404
oll ollama-garbage.txt 3 202 error-502
printf '\001\000{"models":null}' >"$c/ollama/seed-tags-null"
printf '\002\000{"models":[{"name":"a","size_vram":1}],"models":[]}' >"$c/ollama/seed-ps-dup"

# The daemon's replies as tunnelctl reads them, and the JSON corners.
for f in "$fx"/status-*.json "$fx"/summary-*.json "$fx"/ollama-*.json; do
	cp "$f" "$c/jv/seed-$(basename "$f" .json)"
done
n=0
for j in '"\ud83d\ude00 \u00e9\n\t\/\\"' '[-0,1.5e-3,1E+2,-9223372036854775808]' \
    '{"nodes":[{"a":[]},{}],"nodes":[1]}' '{"a":1,"a":{"b":null}}' \
    '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]' \
    '"\ud800"' '"\u0000"' '9223372036854775808' '1e400' ' true ' 'nul'; do
	printf '%s' "$j" >"$c/jv/seed-edge-$((n += 1))"
done
printf '"\xc3\xa9\xed\xa0\x80"' >"$c/jv/seed-edge-surrogate-utf8"

n=0
for l in 'status' 'status runpod' 'restart all' 'restart runpod' 'stop aurora' \
    'start vengeance' 'reload' 'watch' 'metrics' 'version' 'best' \
    'best llm --model qwen2.5:7b' $'status\r' $'status\trunpod' 'status a b c d e f g h i' \
    'frobnicate' ''; do
	printf '%s' "$l" >"$c/control/seed-$((n += 1))"
done

cp "$top/etc/tunneld.conf" "$c/config/seed-example"
cat >"$c/config/seed-small" <<'CONF'
[tunneld]
control_socket = /run/tunneld/control.sock
keepalive_interval = 5s
backoff_max = 2min

[node local]
ssh = none
local_forward = 127.0.0.1:11435 127.0.0.1:11434
gpu = nvidia-smi

[node b]
ssh = tunnel@[::1]:2222
remote_forward = 127.0.0.1:11436 127.0.0.1:11434
http = http://127.0.0.1:8080/health
require_models = qwen2.5:7b llama3.1:8b
CONF
printf '[tunneld]\nbackoff_initial = 1.5s\n[node x]\nssh=host\nlocal_forward=[::1]:1 localhost:65535\n[alerts]\ngpu_temp_c=85\n' \
    >"$c/config/seed-edge"
cat >"$c/config/seed-pool" <<'CONF'
[node a]
ssh = none
local_forward = 127.0.0.1:11401 127.0.0.1:11434
priority = 10
[node b]
ssh = b.example.net
local_forward = 127.0.0.1:11402 127.0.0.1:11434
enabled = no
[pool chat]
listen = 127.0.0.1:11400
nodes = a b
policy = least-load
CONF
printf '[tunnel]\nkeepalive_intreval = 5\n[node a]\n[node a]\nssh = a\nlocal_forward = 0.0.0.0:80 x\n' \
    >"$c/config/seed-errors"

# http: byte 0 = response | head << 1 | (step - 1) << 2
hx() { printf "\\$(printf '%03o' "$1")"; }
h() { { hx "$1"; printf '%b' "$2"; } >"$c/http/seed-$3"; }
h $((0 | 2 << 2)) 'GET /api/tags HTTP/1.1\r\nHost: x\r\n\r\nGET /api/ps HTTP/1.1\r\nHost: x\r\n\r\n' get-pipelined
h $((0 | 6 << 2)) 'POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 47\r\n\r\n{"model":"qwen2.5:7b","prompt":"hi","n":[1,2]}\n' post-model
h $((0 | 0 << 2)) 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n10\r\n{"messages":[],"\r\n12\r\nmodel":"llava:7b"}\r\n0\r\n\r\n' post-chunked
h $((0 | 3 << 2)) 'POST /api/embed?x=1 HTTP/1.0\r\nContent-Length: 12\r\n\r\n{"model":12}' post-bad-model
h $((0 | 1 << 2)) 'GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n' upgrade
h $((0 | 5 << 2)) 'GARBAGE\r\n\r\n' garbage
h $((1 | 3 << 2)) 'HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n12\r\n{"response":"Hi"}\n\r\n0\r\n\r\n' ndjson
h $((1 | 1 << 2)) 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\n\r\nrest until EOF' continue-503-eof
h $((1 | 2 | 0 << 2)) 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n' head
printf '{"model":"a","x":1}' >"$c/http/seed-body-json"
