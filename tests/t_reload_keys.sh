#!/bin/bash
# t_reload_keys.sh: a reload applies each changed key of a node with the
# least it needs (issue 13), against a real sshd.
#
# runpod has two local forwards: F1 to its Ollama (the hub's 11435: the
# probes and a client's keep-alive HTTP connection go through it) and F2 to
# a data source a slow reader downloads from for the whole test.  One
# reload per key: require_models, ollama, gpu, http, priority,
# probe_interval, probe_timeout, rise and fall each apply to the live node:
# same session (connects), the download never stops, the HTTP connection
# through F1 answers on the same socket after each; a new local_forward is
# bound alone; then a new identity restarts the session, which cuts both.
# The log and `tunnelctl reload` name the keys and what was done.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup
command -v jq >/dev/null || td_skip "no jq (apt-get install jq)"
command -v socat >/dev/null || td_skip "no socat (apt-get install socat)"
HELPER=$top_builddir/tests/tunnel-helper
[ -x "$HELPER" ] || td_fail "$HELPER is not built (make check builds it)"

sshd_setup
td_node runpod nvidia-smi
sshd_key runpod "PATH=$TD_NODE_PATH"
sshd_key runpod2 "PATH=$TD_NODE_PATH"
sshd_start
ollama_start runpod
OLL=$OLLAMA_PORT
DL=$(td_port)
# -t 600: the reader half-closes at once; socat's default would end the
# whole connection 0.5 s after that EOF.
socat -t 600 TCP-LISTEN:"$DL",bind=127.0.0.1,reuseaddr,fork OPEN:/dev/zero,rdonly \
    </dev/null >>"$T/socat-dl.log" 2>&1 &
td_track $!
td_wait 10 eval '[ -n "$(ss -Htln "sport = :$DL")" ]' || td_fail "no data source on $DL"
F1=$(td_port)
F2=$(td_port)
F3=$(td_port)

{
	tunneld_conf_head probe_interval=1s probe_timeout=1s
	cat <<EOF
[node runpod]
ssh            = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity       = $T/keys/runpod
local_forward  = 127.0.0.1:$F1 127.0.0.1:$OLL
local_forward  = 127.0.0.1:$F2 127.0.0.1:$DL
ollama         = http://127.0.0.1:$F1
gpu            = nvidia-smi
require_models = qwen2.5:7b
priority       = 2
EOF
} >"$T/tunneld.conf"

notify_listen
tunneld_start "$T/tunneld.conf"

nf() { ctl --json status runpod 2>/dev/null | jq -r ".nodes[0] | $1"; }
is() { [ "$(nf "$1")" = "$2" ]; }
td_wait 30 is .state up || td_fail "runpod not up: $(ctl status)"
td_wait 30 is .ollama.state ok || td_fail "no Ollama result: $(nf .ollama)"
td_wait 30 is .gpu_probe.state ok || td_fail "no GPU result: $(nf .gpu_probe)"

# The download: a slow reader through F2, for the whole test.
"$HELPER" slowread "$F2" 256 >"$T/dl.out" 2>"$T/dl.err" &
DLPID=$!
td_track "$DLPID"
dl_size() { stat -c %s "$T/dl.out"; }
td_wait 10 eval '[ "$(dl_size)" -gt 0 ]' || td_fail "the download does not start"
# dl_alive WHAT: the reader still runs and got more bytes within 5 s.
dl_alive() {
	local s0
	s0=$(dl_size)
	td_alive "$DLPID" || td_fail "$1: the download ended: $(cat "$T/dl.err")"
	td_wait 5 eval '[ "$(dl_size)" -gt "$s0" ]' || td_fail "$1: the download stalled at $s0 bytes"
}

# A client's keep-alive connection through F1, to runpod's Ollama.
exec 7<>"/dev/tcp/127.0.0.1/$F1" || td_fail "cannot connect through F1"
# ask WHAT: one more request on that same connection, answered.
ask() {
	local line len=0 body
	printf 'GET /api/version HTTP/1.1\r\nHost: runpod\r\n\r\n' >&7 ||
		td_fail "$1: cannot write on the connection through F1"
	while IFS= read -r -t 10 line <&7; do
		line=${line%$'\r'}
		[ -z "$line" ] && break
		[[ ${line,,} == content-length:* ]] && len=${line#*: }
	done
	[ "$len" -gt 0 ] || td_fail "$1: no answer on the connection through F1"
	IFS= read -r -N "$len" -t 10 body <&7 || td_fail "$1: short answer through F1"
	[[ $body == *'"version"'* ]] || td_fail "$1: F1 answered '$body'"
}
ask "before any reload"
c0=$(nf .ssh.connects)

# reload KEY_REGEX SED...: edit, reload, and check: the reply and the log
# name the key and say the session was kept; nothing was cut.
reload() {
	local key=$1 out lines
	shift
	sed -i "$@" "$T/tunneld.conf"
	lines=$(wc -l <"$T/tunneld.log")
	out=$(ctl reload 2>&1) || td_fail "reload of $key: $out"
	grep -q "1 changed, 0 unchanged; runpod: $key (.*kept)$" <<<"$out" ||
		td_fail "reload of $key said: $out"
	tail -n "+$((lines + 1))" "$T/tunneld.log" | grep -q "runpod: $key changed: .*kept" ||
		td_fail "the log does not say what the reload of $key did"
	[ "$(nf .ssh.connects)" = "$c0" ] || td_fail "$key: the session restarted"
	dl_alive "$key"
	ask "$key"
	echo "$out" >>"$T/replies"
	tail -n "+$((lines + 1))" "$T/tunneld.log" | grep "runpod: $key changed" >>"$T/loglines"
}

reload require_models -e 's/^require_models .*/require_models = qwen2.5:7b nosuch:1b/'
# Judged on the latest answer at once, without waiting for a probe.
td_wait 5 is .reason "missing model nosuch:1b" || td_fail "new require_models not applied: $(nf .reason)"
reload require_models -e 's/^require_models .*/require_models = qwen2.5:7b/'
td_wait 10 is .state up || td_fail "not up with the old require_models: $(nf .reason)"
td_ok "require_models, twice: applied to the live node (missing model at once, then up)"

reload ollama -e "s|^ollama .*|ollama = http://localhost:$F1/|"
td_wait 10 is .ollama.url "http://localhost:$F1/" || td_fail "ollama URL not applied"
td_wait 10 is .ollama.state ok || td_fail "no Ollama answer at the new URL: $(nf .ollama)"
reload gpu -e 's/^gpu .*/gpu = none/'
td_wait 5 is .gpu_probe null || td_fail "gpu = none not applied: $(nf .gpu_probe)"
reload http -e "\$a http = http://127.0.0.1:$F1/api/version"
td_wait 10 is .http[0].state ok || td_fail "http probe not started: $(nf .http)"
reload priority -e 's/^priority .*/priority = 3/'
is .priority 3 || td_fail "priority not applied"
reload probe_interval -e '$a probe_interval = 2s'
is .probe_settings.interval_s 2 || td_fail "probe_interval: $(nf .probe_settings)"
reload probe_timeout -e '$a probe_timeout = 800ms'
is .probe_settings.timeout_s 0.8 || td_fail "probe_timeout: $(nf .probe_settings)"
reload 'rise, fall' -e '$a rise = 1' -e '$a fall = 2'
[ "$(nf '.probe_settings | "\(.rise) \(.fall)"')" = "1 2" ] || td_fail "rise/fall: $(nf .probe_settings)"
td_wait 10 is .state up || td_fail "runpod not up after the probe reloads: $(nf .reason)"
td_ok "ollama, gpu, http, priority, probe_interval, probe_timeout, rise and fall: each applied live; connects $c0 throughout, download at $(dl_size) bytes, the connection through F1 answered after each"

# A new local forward: bound alone, the others and the session kept.
lines=$(wc -l <"$T/tunneld.log")
sed -i "/^local_forward  = 127.0.0.1:$F2 /a local_forward = 127.0.0.1:$F3 127.0.0.1:$OLL" "$T/tunneld.conf"
out=$(ctl reload 2>&1) || td_fail "reload of a new forward: $out"
grep -q "runpod: local_forward (changed forwards rebound, session kept)$" <<<"$out" ||
	td_fail "reload of a new forward said: $out"
echo "$out" >>"$T/replies"
tail -n "+$((lines + 1))" "$T/tunneld.log" | grep "runpod: local_forward" >>"$T/loglines"
[ "$(nf .ssh.connects)" = "$c0" ] || td_fail "a new forward restarted the session"
[ -n "$(ss -Htln "sport = :$F3")" ] || td_fail "the new forward does not listen"
curl -sS -m 5 "http://127.0.0.1:$F3/api/version" | grep -q version || td_fail "nothing answers through the new forward"
tail -n "+$((lines + 1))" "$T/tunneld.log" | grep -q "local_forward 127.0.0.1:$F1 closed" &&
	td_fail "F1 was closed for a forward added beside it"
dl_alive "a new local_forward"
ask "a new local_forward"
[ "$(nf '.forwards | length')" = 3 ] || td_fail "forwards: $(nf .forwards)"
td_ok "local_forward added: bound alone ($(nf '.forwards[2].listen')), session, download and F1's connection kept"

# F3's target changes: F3 alone is closed and bound again.
lines=$(wc -l <"$T/tunneld.log")
sed -i "s|^local_forward = 127.0.0.1:$F3 .*|local_forward = 127.0.0.1:$F3 127.0.0.1:$DL|" "$T/tunneld.conf"
out=$(ctl reload 2>&1) || td_fail "reload of F3's target: $out"
grep -q "runpod: local_forward (changed forwards rebound, session kept)$" <<<"$out" ||
	td_fail "reload of F3's target said: $out"
tail -n "+$((lines + 1))" "$T/tunneld.log" >"$T/f3.log"
grep -q "local_forward 127.0.0.1:$F3 closed" "$T/f3.log" || td_fail "F3 was not closed: $(cat "$T/f3.log")"
grep -q "local_forward 127.0.0.1:$F3 bound" "$T/f3.log" || td_fail "F3 was not bound again"
grep -Eq "local_forward 127.0.0.1:($F1|$F2) closed" "$T/f3.log" && td_fail "another forward was closed: $(cat "$T/f3.log")"
grep "runpod: local_forward" "$T/f3.log" >>"$T/loglines"
[ "$(nf .ssh.connects)" = "$c0" ] || td_fail "F3's new target restarted the session"
dl_alive "F3's new target"
ask "F3's new target"
[ "$(nf '.forwards[2].target')" = "127.0.0.1:$DL" ] || td_fail "F3: $(nf '.forwards[2]')"
td_ok "F3's target changed: F3 alone closed and bound again, F1 and F2 untouched"

# A new identity: the session restarts, and that cuts what it carried.
h0=$(nf '.history | length')
lines=$(wc -l <"$T/tunneld.log")
sed -i "s|^identity .*|identity = $T/keys/runpod2|" "$T/tunneld.conf"
out=$(ctl reload 2>&1) || td_fail "reload of identity: $out"
grep -q "1 changed, 0 unchanged; runpod: identity (session restarted)$" <<<"$out" ||
	td_fail "reload of identity said: $out"
echo "$out" >>"$T/replies"
tail -n "+$((lines + 1))" "$T/tunneld.log" | grep "runpod: identity" >>"$T/loglines"
td_wait 30 is .state up || td_fail "runpod not up with its new identity: $(nf .reason)"
[ "$(nf .ssh.connects)" = $((c0 + 1)) ] || td_fail "connects $(nf .ssh.connects) after an identity change, want $((c0 + 1))"
td_wait 10 td__gone "$DLPID" || td_fail "the download survived a session restart"
h1=$(nf '.history | length')
[ "$h1" -gt "$h0" ] || td_fail "the restart lost the history ($h0 -> $h1)"
grep -q "Accepted key ED25519 .*authorized_keys:2" "$SSHD_DIR/log" || td_fail "sshd saw no login with the new key"
td_ok "identity changed: session restarted (connects $c0 -> $(nf .ssh.connects)), the download cut, history kept ($h0 -> $h1 changes)"

echo "--- tunnelctl reload replies:"
cat "$T/replies"
echo "--- log lines:"
cat "$T/loglines"
rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"
