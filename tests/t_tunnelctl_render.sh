#!/bin/bash
#
# t_tunnelctl_render.sh: tunnelctl against a fake daemon.
#
# A socat listener on a Unix socket in a private temporary directory plays
# tunneld: for each connection it logs the request line and answers with a
# canned reply (tests/fixtures/status-*.json, or a few written here).  The
# test checks the rendered table, the request lines, the exit statuses
# (0 all up, 1 not all up, 2 usage and unknown names, 3 unreachable or
# malformed, 4 permission, 6 bad file on reload, 7 failed), the width
# fitting and the ASCII fallback, the detail view of one node, watch and
# its reconnecting, and
# that --json passes reply lines through byte for byte.
#
# Environment: top_srcdir (fixtures), top_builddir (the tunnelctl binary;
# TUNNELCTL overrides the path).  Exit 0 pass, 1 fail, 77 skip (no socat).

set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
fixtures=$top_srcdir/tests/fixtures
TUNNELCTL=${TUNNELCTL:-$top_builddir/tunnelctl}

if ! command -v socat >/dev/null 2>&1; then
	echo "SKIP: socat not installed (apt-get install socat)"
	exit 77
fi
if [ ! -x "$TUNNELCTL" ]; then
	echo "FAIL: $TUNNELCTL not built"
	exit 1
fi

# Character counts below (column alignment) need a UTF-8 locale; strerror()
# texts need English.
utf8=
for l in C.UTF-8 C.utf8 en_US.UTF-8; do
	if LC_ALL=$l bash -c '[ ${#1} -eq 1 ]' _ "→" 2>/dev/null; then
		utf8=$l
		break
	fi
done
export LC_ALL=${utf8:-C}

# socat takes ':' and ',' in an address as separators: keep the path plain.
tmp=${TMPDIR:-/tmp}
case $tmp in *[!A-Za-z0-9/._-]*) tmp=/tmp ;; esac
dir=$(mktemp -d "$tmp/tunnelctl.XXXXXX") || exit 1
sock=$dir/ctl.sock
socat_pid=

cleanup() {
	if [ -n "$socat_pid" ] && kill -0 "$socat_pid" 2>/dev/null; then
		kill "$socat_pid" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$socat_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$socat_pid" 2>/dev/null
		wait "$socat_pid" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# The fake daemon: one process per connection.  Modes (file $dir/mode):
#   (none)  reply with $dir/reply, then close
#   linger  reply, then keep the connection open until the client goes
#   hang    read the request, answer nothing, wait for the client to go
cat >"$dir/serve.sh" <<EOF
#!/bin/sh
IFS= read -r line
printf '%s\n' "\$line" >>"$dir/requests"
# A file named for the request (status, summary) answers it, whatever
# the mode.
case \$line in
status|summary)
	if [ -f "$dir/\$line" ]; then
		cat "$dir/\$line"
		exit 0
	fi ;;
esac
mode=\$(cat "$dir/mode" 2>/dev/null)
case \$mode in
hang)	cat >/dev/null ;;
linger)	cat "$dir/reply"; cat >/dev/null ;;
*)	cat "$dir/reply" ;;
esac
EOF
chmod +x "$dir/serve.sh"

start_socat() {
	socat "UNIX-LISTEN:$sock,fork" "EXEC:$dir/serve.sh" \
	    >"$dir/socat.log" 2>&1 </dev/null &
	socat_pid=$!
	for _ in $(seq 50); do
		[ -S "$sock" ] && break
		sleep 0.1
	done
	if [ ! -S "$sock" ]; then
		echo "FAIL: socat did not create $sock"
		cat "$dir/socat.log"
		exit 1
	fi
}
start_socat
export TUNNELD_SOCKET=$sock
# A loaded machine may take its time to fork the fake daemon.
export TUNNELCTL_TIMEOUT=60

pass=0
fail=0
ok() {
	pass=$((pass + 1))
	echo "ok - $1"
}
notok() {
	fail=$((fail + 1))
	echo "not ok - $1"
	if [ -s "$dir/out" ]; then sed 's/^/#   out: /' "$dir/out"; fi
	if [ -s "$dir/err" ]; then sed 's/^/#   err: /' "$dir/err"; fi
}

# serve FILE [MODE]: what the fake daemon answers next.
serve() {
	cp "$1" "$dir/reply"
	rm -f "$dir/mode"
	[ $# -lt 2 ] || echo "$2" >"$dir/mode"
}
# serve_text TEXT [MODE]
serve_text() {
	printf '%s\n' "$1" >"$dir/text"
	serve "$dir/text" "${2:-}"
}

# ctl ARGS...: run tunnelctl (bounded), stdout in $dir/out, stderr in
# $dir/err, exit status in $rc.
ctl() {
	timeout -k 2 90 "$TUNNELCTL" "$@" >"$dir/out" 2>"$dir/err" </dev/null
	rc=$?
}

expect_rc() {
	if [ "$rc" -eq "$1" ]; then ok "$2: exit $1"
	else notok "$2: exit $rc, expected $1"; fi
}
# expect_out STRING DESC: a line of stdout contains STRING.
expect_out() {
	if grep -qF -- "$1" "$dir/out"; then ok "$2"
	else notok "$2: no '$1' in stdout"; fi
}
expect_err() {
	if grep -qF -- "$1" "$dir/err"; then ok "$2"
	else notok "$2: no '$1' in stderr"; fi
}
# expect_line REGEX DESC: a line of stdout matches the extended REGEX.
expect_line() {
	if grep -qE -- "$1" "$dir/out"; then ok "$2"
	else notok "$2: no line matching /$1/"; fi
}
expect_no_out() {
	if grep -qF -- "$1" "$dir/out"; then notok "$2: '$1' in stdout"
	else ok "$2"; fi
}
expect_last_request() {
	local got
	got=$(tail -n 1 "$dir/requests" 2>/dev/null)
	if [ "$got" = "$1" ]; then ok "request line '$1'"
	else notok "request line '$got', expected '$1'"; fi
}
# expect_aligned HEADER_WORD ROW_START CELL_START DESC: in the row that
# begins with ROW_START, CELL_START starts at the column of HEADER_WORD.
expect_aligned() {
	local header row hpre rpre
	if [ -z "$utf8" ]; then
		ok "$4 (skipped: no UTF-8 locale)"
		return
	fi
	header=$(head -n 1 "$dir/out")
	row=$(grep -m 1 -- "^$2 " "$dir/out")
	hpre=${header%%"$1"*}
	rpre=${row%%"$3"*}
	if [ "$hpre" != "$header" ] && [ "$rpre" != "$row" ] &&
	    [ ${#hpre} -eq ${#rpre} ]; then
		ok "$4"
	else
		notok "$4: '$1' at ${#hpre}, '$3' at ${#rpre}"
	fi
}

# --- status: everything up -------------------------------------------
serve "$fixtures/status-allup.json"
ctl status
expect_rc 0 "status, all up"
# Not a terminal: ASCII only, whatever the locale; no width to fit.
expect_line '^NODE +STATE +FOR +SESSION +PORTS +RTT +OLLAMA +GPUS$' "header line, no NEXT, no REASON"
expect_line '^runpod +up +2m03s +- +127\.0\.0\.1:11435->11434 +41ms +0\.5\.7 12ms 3 models +RTX 4090 41C 23% 12\.1/24\.0G$' \
    "runpod row: listen host kept, ASCII arrow and degrees"
expect_line '^aurora +up +1h00m +- +127\.0\.0\.1:11434 \(local\) +- +0\.5\.7 3\.4ms 1 model +-$' \
    "aurora row: a local node shows where its Ollama is"
expect_line '^2/2 nodes up$' "summary line"
expect_aligned FOR aurora "1h00m" "FOR column aligned"
expect_aligned GPUS runpod "RTX 4090" "GPUS column aligned"
if LC_ALL=C grep -q '[^ -~]' "$dir/out"; then notok "non-ASCII bytes written to a pipe"
else ok "only ASCII written to a pipe"; fi
expect_last_request "summary"

ctl --json status
expect_rc 0 "--json status, all up"
expect_last_request "status"
if cmp -s "$dir/out" "$fixtures/status-allup.json"; then
	ok "--json passes the reply through unchanged"
else
	notok "--json output differs from the reply"
fi

# --- status: a node in backoff, a remote forward -----------------------
serve "$fixtures/status-backoff.json"
ctl status
expect_rc 1 "status, a node in backoff"
expect_line '^NODE +STATE +FOR +NEXT +SESSION +PORTS +RTT +OLLAMA +GPUS +REASON$' "header with NEXT and REASON"
expect_line '^vengeance +backoff +47s +8s +- +R 127\.0\.0\.1:11436->11434 +- +- +- +connection refused$' \
    "backoff row: time in state, next attempt apart, remote forward, reason"
expect_line '^runpod +up +2m03s +- +- ' "NEXT is '-' for a node not in backoff"
expect_line '^2/3 nodes up$' "summary 2/3"
expect_aligned REASON vengeance "connection refused" "REASON column aligned"
expect_aligned NEXT vengeance "8s" "NEXT column aligned"

# Narrow terminals: the least important columns go, nothing wraps.
for w in 100 80 60 40; do
	COLUMNS=$w ctl status
	long=$(awk -v w="$w" 'length($0) > w' "$dir/out")
	if [ -z "$long" ]; then ok "COLUMNS=$w: no line wider than $w"
	else notok "COLUMNS=$w: lines wider than $w: $long"; fi
	expect_line '^vengeance +backoff +47s +8s ' "COLUMNS=$w: state, time in it and next attempt kept"
done
COLUMNS=80 ctl status
expect_line '^NODE +STATE +FOR +NEXT +PORTS +REASON$' "COLUMNS=80: SESSION, RTT, OLLAMA, GPUS dropped"
expect_line '^runpod +up +2m03s +- +11435->11434$' "COLUMNS=80: the port map shortened"
COLUMNS=40 ctl status
expect_line '^vengeance +backoff +47s +8s +conn[a-z ]*\.\.\.$' "COLUMNS=40: the reason cut with an ellipsis"

# A session that is gone has no round trip, whatever the daemon kept.
serve_text '{"ok":true,"nodes":[{"name":"gone","state":"backoff","since_s":3,"ssh":{"rtt_ms":41.2,"next_attempt_s":1}}]}'
ctl status
expect_line '^gone +backoff +3s +1s +- +- +- +- +- +-$' "no RTT shown for a node in backoff"
serve "$fixtures/status-backoff.json"

ctl status vengeance
expect_rc 1 "status NODE, in backoff"
expect_last_request "status vengeance"
expect_line '^vengeance +backoff for 47s, next attempt in 8s$' "detail: state, time in it, next attempt"
expect_line '^  ssh +tunnel@vengeance\.lan, last rtt -$' "detail: ssh target, the rtt of a session that is gone"
expect_line '^  session +-; 12 connects, 11 reconnects$' "detail: connects and reconnects"
expect_line '^  remote +127\.0\.0\.1:11436 -> 127\.0\.0\.1:11434  down, 0 active, 0 total, in 0B, out 0B$' \
    "detail: forward with listen, target, state, counts, bytes"

ctl status --json
expect_rc 1 "--json after the command, node not up"
if cmp -s "$dir/out" "$fixtures/status-backoff.json"; then
	ok "--json backoff passthrough"
else
	notok "--json backoff output differs"
fi

# --- status: two GPUs, MIG, odd forwards, unknown fields ---------------
serve "$fixtures/status-2gpu.json"
ctl status
expect_rc 1 "status, degraded node"
expect_line "^h100box +degraded +2h03m " "degraded with its duration"
expect_out "29C 0% 0.5/24.0G | 85C - 20.8/79.6G" "two GPUs, absent utilisation"
expect_out "0.0.0.0:11437->11434, R 127.0.0.1:9100->10.0.0.2:9100 (refused)" \
    "non-loopback ends in full, refused forward marked"
expect_out "0.4ms" "sub-10ms RTT"
expect_out "0.6.1 1.2s 1 model" "slow Ollama in seconds"
expect_out "gpu1 85C > 80C" "reason shown, degree sign dropped in ASCII"

# A terminal (a pty through script(1)): UTF-8 symbols when the locale is
# UTF-8, ASCII under LANG=C.
if command -v script >/dev/null 2>&1 && [ -n "$utf8" ]; then
	tty_ctl() {
		env LC_ALL="$1" COLUMNS=250 TUNNELD_SOCKET="$sock" \
		    script -qec "$TUNNELCTL status" /dev/null >"$dir/out" 2>&1 </dev/null
		tr -d '\r' <"$dir/out" >"$dir/out.tty" && mv "$dir/out.tty" "$dir/out"
	}
	tty_ctl "$utf8"
	expect_out "0.0.0.0:11437→11434, R 127.0.0.1:9100→10.0.0.2:9100 (refused)" "UTF-8 terminal: arrows"
	expect_out "gpu1 85°C > 80°C" "UTF-8 terminal: degrees"
	tty_ctl C
	expect_out "gpu1 85C > 80C" "LANG=C terminal: ASCII"
	if LC_ALL=C grep -q '[^ -~]' "$dir/out"; then notok "LANG=C terminal: non-ASCII bytes"
	else ok "LANG=C terminal: only ASCII"; fi
else
	ok "terminal rendering (skipped: no script(1) or no UTF-8 locale)"
fi

# A shortened column can make room for one dropped before it.
serve "$fixtures/status-allup.json"
COLUMNS=80 ctl status
expect_line '^NODE +STATE +FOR +PORTS +RTT +OLLAMA +GPUS$' "COLUMNS=80: RTT back once OLLAMA is short"
expect_line '^runpod +up +2m03s +127\.0\.0\.1:11435->11434 +41ms +12ms +41C 23% 12\.1/24\.0G$' "COLUMNS=80: runpod row"
COLUMNS=70 ctl status
expect_line '^NODE +STATE +FOR +PORTS +OLLAMA$' "COLUMNS=70: GPUS dropped, nothing less important back"

# status NODE: every field of the node, the daemon's newer ones included.
serve "$fixtures/status-detail.json"
ctl status
expect_line '^runpod +degraded +42s +1h02m +127\.0\.0\.1:11435->11434 ' \
    "session uptime apart from the time in the state"
expect_line '^vengeance +up +10m00s +- +127\.0\.0\.1:11436 \(local\) ' "ssh = none: its local mapping"
ctl status runpod
expect_rc 1 "status NODE, degraded"
while IFS= read -r want; do
	expect_line "$want" "detail: $want"
done <<'EOF'
^runpod +degraded for 42s$
^  reason +ollama: HTTP 500$
^  session +up 1h02m; 3 connects, 2 reconnects$
^  last error +keepalive timeout after 15s$
^  availability +up 1h53m, down 5m58s \(95\.0% up\) since tunneld started$
^  priority +2, load score 62\.3, 1 recent probe failure$
^  local +127\.0\.0\.1:11435 -> 127\.0\.0\.1:11434  up, 2 active, 130 total, in 120\.6KiB, out 639\.0KiB$
^ollama +failed: HTTP 500, 3s ago$
^  version +0\.5\.7, latency 12ms$
^  models +2: qwen2\.5:7b, llama3\.1:8b$
^  loaded +qwen2\.5:7b \(4\.8GiB VRAM\)$
^  missing +mistral:7b$
^gpus +nvidia-smi ok, 2s ago; a probe running for 4s$
^  gpu0 +RTX 4090 41C 23% 12\.1/24\.0G 120W/450W$
^  http://127\.0\.0\.1:6333/healthz ok, 5s ago, HTTP 200, 3\.2ms$
^history \(last 2 changes, oldest first\)$
^  2026-11-22T14:03:11Z  connecting -> up$
^  2026-11-22T15:43:11Z  up -> degraded: ollama: HTTP 500$
EOF

# list: the names, one a line (bash completion reads them).
ctl list nodes
expect_rc 0 "list nodes"
if [ "$(cat "$dir/out")" = "$(printf 'runpod\nvengeance')" ]; then ok "list nodes: one name a line"
else notok "list nodes printed: $(cat "$dir/out")"; fi
expect_last_request "summary"
ctl list pools
expect_rc 0 "list pools (none)"
ctl list frobs
expect_rc 2 "list of something else"

# --- the summary, and a daemon that does not know it ----------------------
# The table's request is `summary`: the model lists only as a count.
serve "$fixtures/summary-allup.json"
ctl status
expect_rc 0 "status table from a summary"
expect_line '^runpod +up .* 0\.5\.7 12ms 40 models ' "the model count is models_total"
expect_line '^aurora +up .* 0\.5\.7 3\.4ms 1 model ' "one model"
# An older daemon answers `summary` as an unknown command: asked again.
: >"$dir/requests"
cp "$fixtures/status-allup.json" "$dir/status"
printf '%s\n' '{"ok":false,"error":"unknown command '"'"'summary'"'"'","kind":"usage"}' >"$dir/summary"
ctl status
expect_rc 0 "status from a daemon without summary"
expect_line '^runpod +up .* 0\.5\.7 12ms 3 models ' "the table drawn from the full status"
if [ "$(tr '\n' ' ' <"$dir/requests")" = "summary status " ]; then ok "asked for the summary, then the status"
else notok "requests: $(tr '\n' ' ' <"$dir/requests")"; fi
: >"$dir/requests"
ctl list nodes
expect_rc 0 "list nodes from a daemon without summary"
if [ "$(cat "$dir/out")" = "$(printf 'runpod\naurora')" ]; then ok "list nodes from the full status"
else notok "list nodes printed: $(cat "$dir/out")"; fi
# Other errors are not retried.
: >"$dir/requests"
rm -f "$dir/status" "$dir/summary"
serve_text '{"ok":false,"error":"permission denied","kind":"permission"}'
ctl status
expect_rc 4 "a summary refused for permission"
if [ "$(cat "$dir/requests")" = "summary" ]; then ok "not asked again"
else notok "requests: $(tr '\n' ' ' <"$dir/requests")"; fi

# --- status: missing, null and mistyped fields -------------------------
serve "$fixtures/status-sparse.json"
ctl status
expect_rc 1 "status, sparse reply"
expect_line '^bare( +-){8}$' "node with only a name"
expect_line '^stopped1 +stopped +1m05s ' "stopped node"
expect_out "stopped by tunnelctl" "stopped reason"
expect_out "host key mismatch" "last_error stands in for an absent reason"
expect_line '^ok1 +up +1d01h ' "days in durations"
expect_line '^1/5 nodes up$' "summary counts every node"
if grep -q $'\x1b' "$dir/out"; then
	notok "control characters from the daemon reach the terminal"
else
	ok "control characters from the daemon are masked"
fi

serve "$fixtures/status-empty.json"
ctl status
expect_rc 0 "status, no nodes"
expect_line '^0/0 nodes up$' "summary 0/0"

# --- refused, malformed, unreachable ----------------------------------
serve "$fixtures/status-refused.json"
ctl status runpd
expect_rc 2 "unknown node: a usage error"
expect_err "tunnelctl: no such node 'runpd'; did you mean 'runpod'?" "the daemon's error and suggestion on stderr"
if [ -s "$dir/out" ]; then notok "unknown node: stdout not empty"
else ok "unknown node: nothing on stdout"; fi
ctl --json status runpd
expect_rc 2 "--json unknown node"
if cmp -s "$dir/out" "$fixtures/status-refused.json"; then
	ok "--json passes the error object through"
else
	notok "--json error output differs"
fi

serve "$fixtures/status-garbage.json"
ctl status
expect_rc 3 "garbage reply"
expect_err "tunnelctl: malformed reply from daemon" "garbage reported"
ctl --json status
expect_rc 3 "--json garbage reply"
if [ -s "$dir/out" ]; then notok "--json copied garbage to stdout"
else ok "--json copies no garbage"; fi

serve "$fixtures/status-nonodes.json"
ctl status
expect_rc 3 "status reply without nodes"

# The node list is read a node at a time: whatever breaks the text, before,
# inside or after it, is still a malformed reply, and nothing is printed.
for bad in '{"ok":true,"nodes":[{"name":"a","state":"up"},]}' \
    '{"ok":true,"nodes":[{"name":"a","state":"up"}' \
    '{"ok":true,"nodes":[{"name":"a","state":"up"}]} x' \
    '{"ok":true "nodes":[]}' '{"ok":true,"nodes":[] ' '{"ok":true,7:[]}' \
    '{"ok":true,"nodes":[{"name":"a","state":"up"} {"name":"b"}]}' \
    '{"ok":true,"nodes":[,{"name":"a","state":"up"}]}' \
    '{"ok":true,"nodes":[{"name":"a","state":"up"},,{"name":"b"}]}' \
    '{"ok":true,"nodes":[{"name":"a","state":"up"}],}' \
    '{"ok":true,"nodes":[{"name":"a","state":"up"}]]}'; do
	serve_text "$bad"
	ctl status
	expect_rc 3 "malformed node list: $bad"
	if [ -s "$dir/out" ]; then notok "malformed node list printed: $bad"
	else ok "malformed node list: nothing on stdout"; fi
	ctl --json status
	expect_rc 3 "--json malformed node list: $bad"
done
serve_text '{"ok":true,"nodes":5}'
ctl status
expect_rc 3 "a node list that is not a list"
# --json prints only what has been judged: the text before the node list
# as the start of a reply (none starts with garbage or a broken member),
# a value that is no reply at all not before it is read whole.
for bad in '{"ok":tru,"nodes":[{"name":"a","state":"up"}]}' \
    'xyz{"ok":true,"nodes":[{"name":"a","state":"up"},{"name":"b","state":"up"}]}' \
    '{"ok":true,"pools":[1,],"nodes":[{"name":"a","state":"up"}]}' \
    '[1,2]' '"hello"' '{"ok":true,"nodes":{}}' '{"ok":1,"nodes":[]}'; do
	serve_text "$bad"
	ctl --json status
	expect_rc 3 "--json bad reply: $bad"
	if [ -s "$dir/out" ]; then notok "--json printed a bad reply: $bad: $(head -c 60 "$dir/out")"
	else ok "--json bad reply: nothing on stdout: $bad"; fi
done
serve_text '{"ok":true,"nodes":[{"name":"a","state":"up"}] x ,"nodes":[{"name":"b","state":"up"}]}'
ctl --json status
expect_rc 3 "--json garbage between two node lists"
if [ "$(cat "$dir/out")" = '{"ok":true,"nodes":[{"name":"a","state":"up"}' ]; then
	ok "--json garbage between two node lists: the first list's node, no more"
else
	notok "--json garbage between two node lists: printed '$(head -c 100 "$dir/out")'"
fi
# The table's reply is cut into nodes as it is read (jv_split): only
# the top-level "nodes" list is cut, whatever its nodes' strings hold.
for good in \
    '{"ok":true,"node\u0073":[{"name":"a","state":"up"},{"name":"b","state":"up"}]}' \
    '{"ok":true,"nodes":[{"name":"a]\",[{","state":"up"},{"name":"b","state":"up","reason":"x\\"}]}' \
    '{"ok":true,"x":"nodes","pools":[{"nodes":[1,[2]]}],"nodes":[{"name":"a","state":"up"},{"name":"b","state":"up"}]}' \
    '{ "ok" : true , "nodes" : [ { "name" : "a" , "state" : "up" } , {"name":"b","state":"up"} ] }'; do
	serve_text "$good"
	ctl status
	expect_rc 0 "node list cut as read: $good"
	expect_line '^2/2 nodes up$' "two nodes: $good"
	expect_line '^b +up ' "b's row: $good"
done
# Many reads' worth: 3,000 nodes (about 150 kB) arrive in pieces.
{
	printf '{"ok":true,"nodes":['
	for ((i = 0; i < 3000; i++)); do
		[ "$i" = 0 ] || printf ','
		printf '{"name":"n%d","state":"%s","since_s":%d,"reason":"%s"}' \
		    "$i" "$([ $((i % 7)) = 0 ] && echo backoff || echo up)" \
		    "$i" "$([ $((i % 7)) = 0 ] && echo "refused, [really]")"
	done
	printf '],"pools":[]}\n'
} >"$dir/big"
serve "$dir/big"
ctl status
expect_rc 1 "3,000 nodes: some not up"
expect_line '^2571/3000 nodes up$' "3,000 nodes: all counted"
expect_line '^n2999 +up +49m59s ' "3,000 nodes: the last row"
expect_line '^n2996 +backoff +49m56s .*refused, \[really\]$' "3,000 nodes: a reason with brackets"
if [ "$(grep -c '^n[0-9]' "$dir/out")" = 3000 ]; then ok "3,000 rows"
else notok "3,000 nodes: $(grep -c '^n[0-9]' "$dir/out") rows"; fi
# Members in any order; a list after "ok" or before it, the same rows.
serve_text '{"nodes":[{"name":"a","state":"up"},{"name":"b","state":"backoff","reason":"x"}],"ok":true,"pools":[]}'
ctl status
expect_rc 1 "nodes before ok: read, b not up"
expect_line '^1/2 nodes up$' "nodes before ok: both counted"
expect_line '^b +backoff ' "nodes before ok: b's row"
ctl --json status
expect_rc 1 "--json nodes before ok: exit from the states"
# --json copies the reply as its nodes are judged, never holding it whole:
# byte for byte when it is good, and when it breaks part way, the nodes
# before the fault and nothing after them, with exit 3.
serve "$dir/big"
ctl --json status
expect_rc 1 "--json 3,000 nodes: some not up"
if cmp -s "$dir/out" "$dir/big"; then ok "--json 3,000 nodes: the reply byte for byte"
else notok "--json 3,000 nodes: the copy differs from the reply"; fi
head -c 100000 "$dir/big" >"$dir/cut"
printf ',{"name":"bad" "state":"up"}]}\n' >>"$dir/cut"
serve "$dir/cut"
ctl --json status
expect_rc 3 "--json reply broken after many nodes"
expect_err "tunnelctl: malformed reply from daemon" "--json broken reply reported"
n=$(wc -c <"$dir/out")
if [ "$n" -gt 50000 ] && cmp -s "$dir/out" <(head -c "$n" "$dir/cut") &&
    [ "$(tail -c 1 "$dir/out")" = "}" ] && ! grep -q '"bad"' "$dir/out"; then
	ok "--json broken reply: the nodes before the fault ($n bytes), whole, and no more"
else
	notok "--json broken reply: $n bytes copied, ending '$(tail -c 20 "$dir/out")'"
fi
serve_text '{"nodes":[{"name":"a","state":"up"}],"ok":false,"error":"permission denied: status","kind":"permission"}'
ctl status
expect_rc 4 "an error reply with a node list is still an error"

: >"$dir/empty"
serve "$dir/empty"
ctl status
expect_rc 3 "connection closed without a reply"
expect_err "without a reply" "closed connection reported"

serve "$fixtures/status-allup.json" hang
TUNNELCTL_TIMEOUT=0.3 ctl status
expect_rc 3 "daemon that never answers"
expect_err "no reply from daemon" "timeout reported"

serve "$fixtures/status-allup.json" linger
ctl status
expect_rc 0 "daemon that answers but keeps the connection open"

ctl --socket "$dir/none.sock" status
expect_rc 3 "no daemon"
expect_err "tunnelctl: cannot connect to $dir/none.sock: No such file or directory (is tunneld running?)" \
    "no daemon: one clear line"

# --- other commands ----------------------------------------------------
# Error kinds decide the exit status; a daemon without "kind" is judged
# by its sentence.
serve_text '{"ok":false,"error":"no such node: nope"}'
ctl restart nope
expect_rc 2 "unknown node, daemon without error kinds"
serve_text '{"ok":false,"error":"no such pool '"'"'gpu'"'"'","kind":"no-such-pool","name":"gpu","did_you_mean":null}'
ctl best gpu
expect_rc 2 "unknown pool"
serve_text '{"ok":false,"error":"reload failed, the running configuration is kept: x.conf:3: unknown key","kind":"config"}'
ctl reload
expect_rc 6 "reload of a bad file"
expect_err "x.conf:3: unknown key" "reload: the file's error shown"
serve_text '{"ok":false,"error":"reload failed, the running configuration is kept: x.conf:3: unknown key"}'
ctl reload
expect_rc 6 "reload of a bad file, daemon without error kinds"
serve_text '{"ok":false,"error":"metrics: out of memory","kind":"internal"}'
ctl metrics
expect_rc 7 "the daemon could not do it"
serve_text '{"ok":false,"error":"permission denied: stop needs group tunneld","kind":"permission"}'
ctl stop runpod
expect_rc 4 "permission denied"

serve_text '{"ok":true,"version":"0.1.0","protocol":1}'
ctl version
expect_rc 0 "version"
expect_line '^tunnelctl [0-9][^ ]*$' "version: tunnelctl's own line"
expect_line '^tunneld 0\.1\.0 \(protocol 1\)$' "version: the daemon's line"
ctl --socket "$dir/none.sock" version
expect_rc 3 "version without a daemon"
expect_line '^tunnelctl [0-9][^ ]*$' "version without a daemon: its own version all the same"
expect_err "cannot connect" "version without a daemon: why the daemon's is missing"

serve_text '{"ok":true,"message":"restarting runpod"}'
ctl restart runpod
expect_rc 0 "restart"
expect_line '^restarting runpod$' "restart prints the message"
expect_last_request "restart runpod"

serve_text '{"ok":true}'
ctl reload
expect_rc 0 "reload without a message"
expect_line '^ok$' "plain ok"

serve_text '{"ok":false,"error":"permission denied: stop needs group tunneld"}'
ctl stop runpod
expect_rc 4 "stop refused"
expect_err "tunnelctl: permission denied: stop needs group tunneld" "permission error"

serve_text '{"ok":true,"text":"# TYPE tunneld_node_up gauge\ntunneld_node_up{node=\"runpod\"} 1\n"}'
ctl metrics
expect_rc 0 "metrics"
expect_line '^tunneld_node_up\{node="runpod"\} 1$' "metrics text raw"

serve_text '{"ok":true,"address":"127.0.0.1:11436","node":"vengeance"}'
ctl best gpu --model qwen2.5:7b
expect_rc 0 "best"
expect_line '^127\.0\.0\.1:11436$' "best prints the address"
expect_last_request "best gpu --model qwen2.5:7b"

serve_text '{"ok":true,"address":null}'
ctl best
expect_rc 1 "best, no node qualifies"

# --- watch ---------------------------------------------------------------
cat >"$dir/events" <<'EOF'
{"ok":true,"event":"hello"}
{"event":"state","node":"runpod","from":"up","to":"backoff","reason":"keepalive timeout after 15s","time":"2026-11-22T14:03:11Z"}
{"event":"alert","kind":"gpu-hot","node":"runpod","reason":"gpu0 85°C > 80°C","time":"2026-11-22T14:03:12Z"}
{"event":"future","x":1}
EOF
serve "$dir/events"
cp "$fixtures/status-backoff.json" "$dir/summary"
TUNNELCTL_RECONNECT=0 ctl watch
expect_rc 3 "watch stream closed by the daemon, no reconnecting"
expect_line '^[0-9T:-]+Z runpod is up \(for 2m03s\)$' "watch starts with where each node stands"
expect_line '^[0-9T:-]+Z vengeance is backoff \(for 47s, next attempt in 8s\): connection refused$' \
    "watch: a node in backoff, with its reason"
expect_line '^2026-11-22T14:03:11Z runpod up -> backoff: keepalive timeout after 15s$' \
    "state event line"
expect_line '^2026-11-22T14:03:12Z ALERT gpu-hot runpod: gpu0 85C > 80C$' \
    "alert event line"
expect_line '^\{"event":"future","x":1\}$' "unknown event printed as JSON"
expect_no_out "hello" "hello not shown"

# A daemon that goes away: watch says so and connects again, as long as
# TUNNELCTL_RECONNECT allows.
TUNNELCTL_RECONNECT=3 "$TUNNELCTL" watch >"$dir/out" 2>"$dir/err" </dev/null &
wpid=$!
# Each connection to the fake daemon ends the same way: twice means it
# came back once.
for _ in $(seq 300); do
	[ "$(grep -c 'reconnecting' "$dir/out")" -ge 2 ] && break
	sleep 0.1
done
expect_out "tunneld closed the watch stream; reconnecting" "watch: the daemon's going is said"
expect_out "reconnected to tunneld" "watch: its coming back is said"
# Gone for good: socat stops, the socket goes.
kill "$socat_pid"; wait "$socat_pid" 2>/dev/null; rm -f "$sock"
for _ in $(seq 600); do
	kill -0 "$wpid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$wpid" 2>/dev/null; then
	kill -KILL "$wpid"; wait "$wpid" 2>/dev/null
	notok "watch still waiting 60 s after a 3 s reconnect window"
else
	wait "$wpid"; rc=$?
	expect_rc 3 "watch: the daemon did not come back"
	expect_err "tunneld did not come back within 3s" "watch: says how long it waited"
	n=$(grep -c 'runpod is up' "$dir/out")
	if [ "$n" -ge 2 ]; then ok "watch: the states again after each reconnect ($n)"
	else notok "watch: states shown $n times"; fi
fi
start_socat

# Ctrl-C ends a watch with status 0.
serve "$dir/events" linger
"$TUNNELCTL" watch >"$dir/out" 2>"$dir/err" </dev/null &
wpid=$!
for _ in $(seq 50); do
	[ "$(wc -l <"$dir/out")" -ge 6 ] && break
	sleep 0.1
done
kill -INT "$wpid" 2>/dev/null
for _ in $(seq 50); do
	kill -0 "$wpid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$wpid" 2>/dev/null; then
	kill -KILL "$wpid" 2>/dev/null
	wait "$wpid" 2>/dev/null
	notok "watch did not end on SIGINT"
else
	wait "$wpid"
	rc=$?
	expect_rc 0 "watch ended by SIGINT"
	expect_out "ALERT gpu-hot" "events shown before SIGINT"
fi

# --- usage -----------------------------------------------------------------
ctl frobnicate
expect_rc 2 "unknown command"
ctl restart
expect_rc 2 "restart without a node"
ctl status a b
expect_rc 2 "status with two nodes"
ctl --bogus status
expect_rc 2 "unknown option"
ctl status "$(printf 'a b')"
expect_rc 2 "a word with a blank"
ctl status "$(head -c 1100 /dev/zero | tr '\0' x)"
expect_rc 2 "request of 1024 bytes or more"
ctl --help
expect_rc 0 "--help"
expect_out "Exit status" "--help documents the exit status"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
