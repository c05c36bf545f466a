#!/bin/bash
# t_probe_open.sh: a GPU probe whose channel open times out costs the
# server no session slot (issue 4).
#
# The sshd allows one session channel per connection (MaxSessions 1) and
# is frozen for 3 s while a probe's channel open is in flight: the probe
# times out after 1 s, and once sshd runs again it grants the open.  libssh
# forgets a channel freed before its answer and ignores the late grant, so
# that channel would hold the only slot until the session ends and every
# later probe would be refused.  tunneld keeps it until the answer and then
# closes it: the probes succeed again, on the same session.
#
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

HELPER=$top_builddir/tests/tunnel-helper
[ -x "$HELPER" ] || td_fail "$HELPER is not built (make check builds it)"
nf() { ctl --json status | "$HELPER" json "nodes.name=box.$1"; }
is() { [ "$(nf "$1" 2>/dev/null)" = "$2" ]; }

sshd_setup
td_node box nvidia-smi
sshd_key box "PATH=$TD_NODE_PATH" "TD_GPU_LOG=$T/box-smi.log"
sed -i 's/^MaxSessions .*/MaxSessions 1/' "$SSHD_CONFIG"
sshd_start

# Keepalive 3 s x 3: the session outlives the 3 s freeze.
{ tunneld_conf_head probe_interval=1s probe_timeout=1s keepalive_interval=3s \
    keepalive_count=3; cat <<EOF; } >"$T/tunneld.conf"
[node box]
ssh      = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity = $T/keys/box
gpu      = nvidia-smi
ollama   = none
EOF
tunneld_start "$T/tunneld.conf"
td_wait 20 is state up || td_fail "box not up: $(nf state) $(nf reason)"
td_wait 10 is gpu_probe.state ok || td_fail "no GPU reading: $(nf gpu_probe.reason)"
connects=$(nf ssh.connects)
td_ok "box up, GPU probe ok through an sshd with MaxSessions 1"

sshd_freeze
sleep 3
sshd_thaw
grep -q "box: probe failed: gpu: timeout" "$T/tunneld.log" ||
	td_fail "no probe timed out during the freeze: $(grep 'probe' "$T/tunneld.log" | tail -n 3)"
runs=$(wc -l <"$T/box-smi.log")
# A few rounds: the late grant is closed at the next round, the round after
# opens the slot again.
td_wait 10 is gpu_probe.state ok ||
	td_fail "GPU probe not ok 10 s after the thaw: $(nf gpu_probe.reason)"
td_wait 5 eval '[ "$(wc -l <"$T/box-smi.log")" -gt "$runs" ]' ||
	td_fail "nvidia-smi did not run again after the thaw"
[ "$(nf ssh.connects)" = "$connects" ] ||
	td_fail "the session was replaced ($connects -> $(nf ssh.connects) connects): nothing proven"
td_ok "an open that timed out during the freeze was closed once granted: probes ok again on the same session"

rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"
