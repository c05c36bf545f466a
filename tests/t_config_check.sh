#!/bin/bash
#
# t_config_check.sh: tunneld's command line and its verdict on a
# configuration, before any daemon runs (issue 2): --help, --version, a bad
# option (2); --check-config on the shipped example as installed (its
# missing known_hosts, group and key each reported with file:line, 78), on
# the example once its files exist (OK), with a listen address in use (a
# warning at its line), on a missing file, and on a file with one error of
# every kind (78, every error printed with file:line); tunneld itself
# refuses that file the same way.
#
# The daemon at work: t_daemon.sh; tunnelctl: t_ctl.sh; the control
# socket: t_control_socket.sh.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

# Every tunneld this test starts runs under TD_TUNNELD_WRAPPER when set
# (make valgrind), like those of tunneld_start.
read -r -a wrap <<<"${TD_TUNNELD_WRAPPER:-}"
td_utf8_locale	# strerror() texts

# ------------------------------------------------------------ command line

out=$("$TUNNELD" --help) || td_fail "--help exited $?"
grep -q -- '--check-config' <<<"$out" || td_fail "--help does not list --check-config: $out"
grep -q '^usage: tunneld' <<<"$out" || td_fail "--help has no usage line: $out"
out=$("$TUNNELD" --version) || td_fail "--version exited $?"
[[ $out =~ ^tunneld\ [0-9]+\.[0-9]+\.[0-9]+ ]] || td_fail "--version printed '$out'"
version=${out#tunneld }
rc=0
"$TUNNELD" --no-such-option >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || td_fail "an unknown option exited $rc, not 2"
td_ok "--help, --version ($version), bad option (2)"

# The shipped example as the package installs it: a valid file, but on
# this machine its key, its known_hosts and its group do not exist, and
# each would fail at once: reported with its line, exit 78.
sed -e "s|^control_socket .*|control_socket = $T/example.sock|" \
    "$top_srcdir/etc/tunneld.conf" >"$T/example.conf"
ex=$T/example.conf
rc=0
out=$("${wrap[@]}" "$TUNNELD" --check-config --config "$ex" 2>&1) || rc=$?
[ "$rc" = 78 ] || td_fail "--check-config on the untouched example exited $rc, not 78: $out"
kl=$(grep -n '^known_hosts ' "$ex" | cut -d: -f1)
gl=$(grep -n '^admin_group ' "$ex" | cut -d: -f1)
il=$(grep -n '^identity ' "$ex" | head -n 1 | cut -d: -f1)
grep -qF "$ex:$kl: known_hosts /etc/tunneld/known_hosts cannot be read (No such file or directory)" <<<"$out" ||
	td_fail "a missing known_hosts is not reported at line $kl: $out"
if ! getent group tunneld >/dev/null; then
	grep -qF "$ex:$gl: admin_group 'tunneld' does not exist" <<<"$out" ||
		td_fail "an unknown admin_group is not reported at line $gl: $out"
fi
# A systemd credential exists only while the service runs: a warning.
grep -qF "warning: $ex:$il: node 'runpod': identity /run/credentials/tunneld.service/mesh_ed25519 cannot be read" <<<"$out" ||
	td_fail "a missing credential is not warned about at line $il: $out"
! grep -q 'configuration OK' <<<"$out" || td_fail "--check-config said OK to what fails: $out"
[ ! -e "$T/example.sock" ] || td_fail "--check-config created the control socket"
td_ok "--check-config: the untouched example's missing known_hosts and group, with their lines (78)"

# Any other key file that cannot be read is an error.
sed -e "s|^identity .*|identity = $T/no-such-key|" "$ex" >"$T/nokey.conf"
rc=0
out=$("${wrap[@]}" "$TUNNELD" --check-config --config "$T/nokey.conf" 2>&1) || rc=$?
[ "$rc" = 78 ] && grep -qxF "$T/nokey.conf:$il: node 'runpod': identity $T/no-such-key cannot be read: No such file or directory" <<<"$out" ||
	td_fail "a missing identity file: rc $rc: $out"
td_ok "--check-config: an identity file that cannot be read, at its line (78)"

# Pointed at files that exist and a group that does: valid.
: >"$T/known_hosts"
: >"$T/mesh_key"
sed -i -e "s|^known_hosts .*|known_hosts = $T/known_hosts|" \
    -e "s|^admin_group .*|admin_group = $(id -gn)|" \
    -e "s|^identity .*|identity = $T/mesh_key|" "$ex"
out=$("${wrap[@]}" "$TUNNELD" --check-config --config "$ex" 2>&1) ||
	td_fail "--check-config on etc/tunneld.conf exited $?: $out"
grep -q 'configuration OK (3 nodes, 0 pools)' <<<"$out" || td_fail "--check-config said: $out"
td_ok "--check-config: etc/tunneld.conf is valid once its files exist"

# A listen address another program holds now: a warning, with its line.
socat TCP-LISTEN:0,bind=127.0.0.1,reuseaddr /dev/null </dev/null >/dev/null 2>&1 &
squat_pid=$!
td_track "$squat_pid"
td_wait 5 eval '[ -n "$(ss -Htlnp | grep "pid=$squat_pid,")" ]' || td_fail "socat did not listen"
p_squat=$(ss -Htlnp | grep "pid=$squat_pid," | awk '{print $4}' | sed 's/.*://')
{ tunneld_conf_head; printf '[node hub]\nssh = none\ngpu = none\n\n[node n]\nssh = root@127.0.0.1:1\nlocal_forward = 127.0.0.1:%s 127.0.0.1:9\n' "$p_squat"; } >"$T/squat.conf"
fl=$(grep -n '^local_forward' "$T/squat.conf" | cut -d: -f1)
out=$("${wrap[@]}" "$TUNNELD" --check-config --config "$T/squat.conf" 2>&1) ||
	td_fail "--check-config with a port in use exited $?: $out"
grep -qF "warning: $T/squat.conf:$fl: node 'n': local_forward: 127.0.0.1:$p_squat is in use on this machine now" <<<"$out" ||
	td_fail "a listen address in use is not warned about: $out"
grep -q 'configuration OK (2 nodes, 0 pools)' <<<"$out" || td_fail "--check-config said: $out"
td_stop "$squat_pid"
td_ok "--check-config: a listen address in use on this machine is a warning at its line"

rc=0
out=$("${wrap[@]}" "$TUNNELD" --check-config --config "$T/missing.conf" 2>&1) || rc=$?
[ "$rc" = 78 ] || td_fail "--check-config on a missing file exited $rc, not 78"
grep -q "$T/missing.conf: No such file or directory" <<<"$out" ||
	td_fail "a missing file is not explained: $out"

# One error of each kind; every one must be reported, with its line.
cat >"$T/bad.conf" <<EOF
[tunneld]
control_socket = $T/bad.sock
keepalive_intervl = 5s
connect_timeout = 10 parsecs
keepalive_count = three

[node a]
ssh = none
[node a]
ssh = none

[node b]
ssh = root@127.0.0.1:2222
local_forward = 127.0.0.1:11435
local_forward = 127.0.0.1:70000 127.0.0.1:11434
local_forward = 127.0.0.1:21000 127.0.0.1:1
local_forward = 127.0.0.1:21000 127.0.0.1:2
local_forward = :21001 127.0.0.1:2
prioriti = 2

[node c]
gpu = none
[alerts]
gpu_mem_pct = 120
[bogus]
EOF
rc=0
"${wrap[@]}" "$TUNNELD" --check-config --config "$T/bad.conf" >"$T/bad.out" 2>&1 || rc=$?
[ "$rc" = 78 ] || td_fail "--check-config on a bad file exited $rc, not 78: $(cat "$T/bad.out")"
while IFS= read -r want; do
	grep -qxF -- "$T/bad.conf:$want" "$T/bad.out" ||
		td_fail "--check-config did not report '$want'; it printed:
$(cat "$T/bad.out")"
done <<'EOF'
3: unknown key 'keepalive_intervl' in [tunneld]; did you mean 'keepalive_interval'?
4: connect_timeout: invalid duration '10 parsecs'
5: keepalive_count: invalid number 'three'
9: duplicate node 'a' (first defined at line 7)
14: local_forward: malformed forward '127.0.0.1:11435': expected 'LISTEN TARGET', e.g. '127.0.0.1:11435 127.0.0.1:11434'
15: local_forward: port 70000 out of range
17: listen address 127.0.0.1:21000 already used at line 16
18: local_forward: listen address ':21001' is not loopback; write 0.0.0.0 or :: explicitly to listen on every interface
19: unknown key 'prioriti' in [node b]; did you mean 'priority'?
21: node 'c': missing required key 'ssh'
24: gpu_mem_pct: 120 out of range (1 to 100)
25: unknown section [bogus]
EOF
[ ! -e "$T/bad.sock" ] || td_fail "--check-config on a bad file created the socket"
# The daemon itself refuses it the same way, before touching anything.
rc=0
timeout 60 "${wrap[@]}" "$TUNNELD" --config "$T/bad.conf" --foreground --log stderr \
    >"$T/bad-run.out" 2>&1 </dev/null || rc=$?
[ "$rc" = 78 ] || td_fail "tunneld on a bad file exited $rc, not 78"
grep -qF "$T/bad.conf:3: unknown key" "$T/bad-run.out" || td_fail "tunneld on a bad file: $(cat "$T/bad-run.out")"
td_ok "--check-config: 12 errors of 12 kinds reported with file:line, exit 78"
