#!/bin/bash
# tests/systemd/run.sh: tunneld under a real systemd, with the shipped unit.
#
#	TD_SYSTEMD_BOX=/path/to/systemd-box.sh tests/systemd/run.sh
#
# Needs root, systemd-nspawn and the systemd-box tool (a systemd PID 1 and
# journald booted in a throwaway systemd-nspawn container; see that script's
# header, and units/README.md "Checked under systemd" for what this shows).
# Without TD_SYSTEMD_BOX, or without root or systemd-nspawn, it skips (exit
# 77): it is not part of `make check`; `make check-systemd` runs it.
#
# What happens: `make install DESTDIR=...` of this build is copied into the
# container (with the shared libraries the container lacks), systemd-sysusers
# creates the user, journalctl --update-catalog compiles the catalog, and
# tunneld.service is started unchanged but for one drop-in (WatchdogSec=4s so
# that the watchdog test takes seconds, LimitCORE=0 so that the watchdog's
# SIGABRT leaves no core file on the host).  The container shares the host's
# network namespace, so the nodes are on the host: an OpenSSH sshd and an
# Ollama stand-in on 127.0.0.1 (tests/lib.sh), the key passed as a systemd
# credential.  PID 1 runs at log level debug: its own "Got notification
# message" lines prove what tunneld sent (READY, STATUS, RELOADING,
# WATCHDOG, STOPPING).
#
# Output: "ok: ..." / "FAIL: ..." per check, then "N passed, N failed".
# Env: TD_SYSTEMD_BOX (the tool), TD_KEEP=1 (keep $T and the container's
# journal in $T/journal).

if [ "${1:-}" != --in-box ]; then
	: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
	: "${top_builddir:=$top_srcdir}"
	export top_srcdir top_builddir
	box=${TD_SYSTEMD_BOX:-}
	if [ -z "$box" ]; then
		echo "SKIP: TD_SYSTEMD_BOX is not set (path to systemd-box.sh)"
		exit 77
	fi
	[ -x "$box" ] || { echo "SKIP: $box is not executable"; exit 77; }
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (systemd-nspawn)"; exit 77; }
	command -v systemd-nspawn >/dev/null ||
		{ echo "SKIP: systemd-nspawn missing (apt-get install systemd-container)"; exit 77; }
	[ -x "$top_builddir/tunneld" ] || { echo "FAIL: $top_builddir/tunneld is not built"; exit 1; }
	# the container is stopped and removed whatever happens
	exec "$box" session bash "$0" --in-box
fi

# ---------------------------------------------------------------- in the box
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$top_srcdir/tests/lib.sh"
td_setup
BOX=$TD_SYSTEMD_BOX
ROOT=$SDBOX_RUN/root
PASS=0 FAILS=0

ok() { echo "ok: $*"; PASS=$((PASS + 1)); }
bad() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
# check DESCRIPTION CMD...: ok when CMD succeeds
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
box() { timeout 60 "$BOX" exec "$@"; }
prop() { box systemctl show -p "$1" --value tunneld.service; }
# PID 1's debug log for tunneld.service since cursor file $1
pid1_log() { box journalctl -q --no-pager -o cat _PID=1 --after-cursor="$(cat "$1")"; }
cursor() { box journalctl -q -n 1 -o cat --show-cursor | sed -n 's/^-- cursor: //p' >"$1"; }

finish() {
	if [ "${TD_KEEP:-0}" = 1 ]; then
		mkdir -p "$T/journal"
		cp -a "$ROOT/var/log/journal/." "$T/journal/" 2>/dev/null
		echo "# journal kept: journalctl -D $T/journal"
	fi
	echo "$PASS passed, $FAILS failed"
	[ "$FAILS" -eq 0 ]
	exit $?
}

# --- install ---------------------------------------------------------------
stage=$T/stage
make -s -C "$top_builddir" install DESTDIR="$stage" >"$T/install.log" 2>&1 ||
	td_fail "make install failed: $(tail -n 5 "$T/install.log")"
unit_src=$(find "$stage" -name tunneld.service -path '*systemd/system*' | head -n1)
[ -n "$unit_src" ] || td_fail "make install installed no tunneld.service"
unit=${unit_src#"$stage"}
exe=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$unit_src")
conf=$(sed -n 's/^ExecStart=.*--config \([^ ]*\).*/\1/p' "$unit_src")
ctl_bin=$(find "$stage" -type f -name tunnelctl | head -n1)
ctl_bin=${ctl_bin#"$stage"}
[ -x "$stage$exe" ] || td_fail "ExecStart $exe is not what make install installed"
cp -a "$stage/." "$ROOT/"

# Shared libraries the minimal container lacks, at the host's paths (both
# are the same Debian release): each symlink and the file it names.
copy_libs() {
	local f lib real
	for f; do
		ldd "$f" | awk '/=> \//{print $3} /^\t\//{print $1}'
	done | sort -u | while read -r lib; do
		[ -e "$ROOT$lib" ] && continue
		real=$(readlink -f "$lib")
		mkdir -p "$ROOT$(dirname "$lib")" "$ROOT$(dirname "$real")"
		cp -a "$real" "$ROOT$real"
		[ "$lib" = "$real" ] || cp -a "$lib" "$ROOT$lib"
		echo "$lib"
	done
}
copy_libs "$stage$exe" "$stage$ctl_bin" >"$T/libs.txt"
box ldconfig
box "$exe" --version >/dev/null || td_fail "tunneld does not run in the container (libs: $(tr '\n' ' ' <"$T/libs.txt"))"
ok "installed $exe, $unit and $(wc -l <"$T/libs.txt") libraries into the container"

# --- sysusers, catalog -----------------------------------------------------
box systemd-sysusers
if box getent passwd tunneld >"$T/pw" && box getent group tunneld >/dev/null; then
	ok "systemd-sysusers created $(cut -d: -f1,3,4,6,7 "$T/pw")"
else
	bad "systemd-sysusers did not create user/group tunneld"
fi
box journalctl --update-catalog
ncat=$(grep -c '^-- [0-9a-f]\{32\}' "$top_srcdir/units/tunneld.catalog")
nlisted=0
for id in $(sed -n 's/^-- \([0-9a-f]\{32\}\).*/\1/p' "$top_srcdir/units/tunneld.catalog"); do
	box journalctl --list-catalog "$id" 2>/dev/null | grep -q "^$id" && nlisted=$((nlisted + 1))
done
check "journalctl --update-catalog: $nlisted of $ncat catalog entries listed" \
	test "$nlisted" -eq "$ncat" -a "$ncat" -gt 0

# --- the nodes, on the host --------------------------------------------------
sshd_setup
sshd_key mesh
sshd_start
ollama_start local
p_remote=$(td_port)
p_new=$(td_port)
install -d -m 0700 "$ROOT/etc/credstore"
install -m 0600 "$T/keys/mesh" "$ROOT/etc/credstore/tunneld.mesh_ed25519"
mkdir -p "$ROOT/etc/tunneld" "$ROOT$(dirname "$conf")"
install -m 0644 "$SSHD_KNOWN_HOSTS" "$ROOT/etc/tunneld/known_hosts"
write_conf() {
	cat <<EOF
[tunneld]
known_hosts        = /etc/tunneld/known_hosts
keepalive_interval = 1s
keepalive_count    = 3
backoff_initial    = 200ms
backoff_max        = 2s
retry_refused      = 200ms
probe_interval     = 1s

[node local]
ssh           = none
ollama        = http://127.0.0.1:$OLLAMA_PORT

[node remote]
ssh           = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity      = /run/credentials/tunneld.service/mesh_ed25519
local_forward = 127.0.0.1:$p_remote 127.0.0.1:$OLLAMA_PORT
EOF
	[ "${1:-}" = plus ] && cat <<EOF

[node added]
ssh           = $SSHD_USER@127.0.0.1:$SSHD_PORT
identity      = /run/credentials/tunneld.service/mesh_ed25519
local_forward = 127.0.0.1:$p_new 127.0.0.1:$OLLAMA_PORT
EOF
}
write_conf >"$ROOT$conf"
box "$exe" --check-config --config "$conf" >"$T/check.out" 2>&1 ||
	td_fail "--check-config in the container: $(cat "$T/check.out")"

mkdir -p "$ROOT/etc/systemd/system/tunneld.service.d"
cat >"$ROOT/etc/systemd/system/tunneld.service.d/test.conf" <<'EOF'
# tests/systemd/run.sh: a short watchdog, and no core file from its SIGABRT.
[Service]
WatchdogSec=4s
LimitCORE=0
EOF
box systemctl daemon-reload

# --- the unit as systemd loads it ----------------------------------------------
if out=$(box systemd-analyze verify "$unit" 2>&1) && [ -z "$out" ]; then
	ok "systemd-analyze verify $unit: clean"
else
	bad "systemd-analyze verify: $out"
fi
expo=$(box systemd-analyze security tunneld.service 2>/dev/null |
	sed -n 's/.*Overall exposure level for tunneld.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security (loaded unit, with the drop-in): exposure $expo <= 2.0" \
	awk -v e="${expo:-99}" 'BEGIN { exit !(e <= 2.0) }'

# --- start: READY, STATUS, identity, sandbox ----------------------------------------
box systemd-analyze log-level debug
cursor "$T/c.start"
if box systemctl start tunneld.service; then
	ok "systemctl start returned (Type=notify: READY=1 received)"
else
	bad "systemctl start failed"
	box systemctl status --no-pager tunneld.service
	box journalctl -u tunneld --no-pager | tail -n 30
	finish
fi
check "Type=notify, NotifyAccess=main" test "$(prop Type)/$(prop NotifyAccess)" = notify/main
check "ActiveState=active SubState=running" test "$(prop ActiveState)/$(prop SubState)" = active/running
pid1_log "$T/c.start" | grep 'tunneld.service: Got notification message' >"$T/notify.start"
check "PID 1 got READY=1 from tunneld" grep -q 'READY=1' "$T/notify.start"
status_up() { [[ $(prop StatusText) == "2/2 nodes up"* ]]; }
td_wait 30 status_up || :
st=$(prop StatusText)
check "STATUS= reaches systemd: '$st'" test "$st" = "2/2 nodes up"
box systemctl status --no-pager tunneld.service >"$T/systemctl-status" 2>&1 || :
check "systemctl status shows 'Status: \"$st\"'" grep -q "Status: \"$st\"" "$T/systemctl-status"
pid=$(prop MainPID)
uid=$(box awk '/^Uid:/{print $2}' "/proc/$pid/status")
check "main process runs as tunneld (uid $uid)" test "$uid" = "$(box id -u tunneld)"
box cat "/proc/$pid/status" >"$T/proc-status"
sandboxed() {
	grep -Eq '^NoNewPrivs:\s+1$' "$T/proc-status" &&
	grep -Eq '^CapEff:\s+0+$' "$T/proc-status" &&
	grep -Eq '^CapBnd:\s+0+$' "$T/proc-status" &&
	grep -Eq '^Seccomp:\s+2$' "$T/proc-status"
}
check "NoNewPrivs 1, CapEff and CapBnd empty, Seccomp 2 (filter)" sandboxed
perm=$(box stat -c '%a %U' /run/tunneld /run/tunneld/control.sock | tr '\n' ' ')
check "/run/tunneld and control socket: $perm" test "$perm" = "755 tunneld 666 tunneld "
if box "$ctl_bin" status >"$T/ctl-status" 2>&1; then
	ok "tunnelctl status in the container: all up"
else
	bad "tunnelctl status exited $?: $(cat "$T/ctl-status")"
fi
sed 's/^/    /' "$T/ctl-status"
rc=0
box setpriv --reuid=nobody --regid=nogroup --clear-groups "$ctl_bin" restart remote >"$T/ctl-nobody" 2>&1 || rc=$?
check "tunnelctl restart as nobody refused (exit $rc, SO_PEERCRED real ids under the sandbox)" test "$rc" = 4
for p in "$p_remote"; do
	out=$(curl -sS -m 10 "http://127.0.0.1:$p/api/version" 2>&1)
	check "HTTP through forward 127.0.0.1:$p: $out" grep -q '"version"' <<<"$out"
done
n=$(box journalctl -q --no-pager -o cat -u tunneld TUNNELD_NODE=remote | wc -l)
check "journalctl -u tunneld TUNNELD_NODE=remote: $n entries" test "$n" -gt 0

# --- reload: a good file, then a bad one -------------------------------------------
cursor "$T/c.reload"
write_conf plus >"$ROOT$conf"
box systemctl reload tunneld.service || bad "systemctl reload exited $?"
has_added() { box "$ctl_bin" status added >/dev/null 2>&1; }
check "reload applied: node 'added' is up" td_wait 20 has_added
check "reload kept the same main process" test "$(prop MainPID)" = "$pid"
check "ReloadResult=success" test "$(prop ReloadResult)" = success
out=$(curl -sS -m 10 "http://127.0.0.1:$p_new/api/version" 2>&1)
check "the added node's forward carries HTTP" grep -q '"version"' <<<"$out"
td_wait 10 eval 'pid1_log "$T/c.reload" | grep -q "Got notification message.*READY=1"' || :
pid1_log "$T/c.reload" >"$T/pid1.reload"
check "PID 1 got RELOADING=1 with MONOTONIC_USEC, then READY=1" \
	grep -Eq 'Got notification message.*RELOADING=1.*MONOTONIC_USEC=' "$T/pid1.reload"
grep -q 'Got notification message.*READY=1' "$T/pid1.reload" || bad "no READY=1 after RELOADING=1"
check "PID 1 saw the reload state (running -> reload -> running)" \
	grep -q 'Changed running -> reload' "$T/pid1.reload"
n=$(box journalctl -q --no-pager -o cat -u tunneld TUNNELD_EVENT=reloaded | wc -l)
check "journal: TUNNELD_EVENT=reloaded ($n)" test "$n" -ge 1

echo '[tunneld]' >"$ROOT$conf"
echo 'no_such_key = 1' >>"$ROOT$conf"
box systemctl reload tunneld.service || :
failed_logged() { box journalctl -q --no-pager -o cat -u tunneld TUNNELD_EVENT=reload-failed | grep -q .; }
check "bad file: reload-failed logged" td_wait 10 failed_logged
check "bad file: still active, same process, nodes kept" \
	test "$(prop ActiveState)/$(prop MainPID)" = "active/$pid"
check "bad file: tunnelctl status still answers for 'added'" has_added
write_conf >"$ROOT$conf"
box systemctl reload tunneld.service || :

# --- a node goes down and comes back: alert fields, journalctl -x --------------------
cursor "$T/c.down"
sshd_stop
remote_not_up() { ! box "$ctl_bin" status remote >/dev/null 2>&1; }
check "sshd stopped: remote not up" td_wait 30 remote_not_up
st=$(prop StatusText)
check "STATUS= says so: '$st'" eval '[[ $st == [01]/2" nodes up; "* ]]'
sshd_start
check "sshd back: 2/2 nodes up again" td_wait 30 status_up
box journalctl -q --no-pager -o export -u tunneld TUNNELD_NODE=remote \
	--after-cursor="$(cat "$T/c.down")" >"$T/down.export"
ids=$(sed -n 's/^MESSAGE_ID=//p' "$T/down.export" | sort -u)
if [ -z "$ids" ]; then
	echo "SKIP: tunneld logged no MESSAGE_ID for remote's outage (no alerts in this build)"
else
	for id in $ids; do
		subj=$(sed -n "/^-- $id/,/^Subject:/s/^Subject: //p" "$top_srcdir/units/tunneld.catalog" | head -n1)
		x=$(box journalctl -x -q --no-pager -u tunneld MESSAGE_ID="$id" | grep -m1 -E '^(░░|--) Subject: ' || :)
		check "journalctl -x explains alert $id: '${x#* Subject: }'" test -n "$x" -a -n "$subj"
	done
fi
# The catalog text with its fields filled in, for an entry written here with
# the node-down MESSAGE_ID (independent of which alerts this build emits).
id=$(sed -n 's/^-- \([0-9a-f]\{32\}\)$/\1/p' "$top_srcdir/units/tunneld.catalog" | head -n1)
subj=$(sed -n "/^-- $id/,/^Subject:/s/^Subject: //p" "$top_srcdir/units/tunneld.catalog" | head -n1)
printf 'MESSAGE_ID=%s\nMESSAGE=catalog probe\nTUNNELD_NODE=probe-node\nTUNNELD_REASON=test\nPRIORITY=4\n' "$id" |
	box logger --journald
box journalctl --sync 2>/dev/null || sleep 1
want=${subj//@TUNNELD_NODE@/probe-node}
want=${want//@TUNNELD_REASON@/test}
x=$(box journalctl -x -q --no-pager MESSAGE_ID="$id" TUNNELD_NODE=probe-node | grep -m1 -E '^(░░|--) Subject: ' || :)
check "journalctl -x: '${x#* Subject: }' (catalog: $subj)" test "${x#* Subject: }" = "$want"

# --- watchdog: freeze the daemon ---------------------------------------------------
cursor "$T/c.wd"
pid=$(prop MainPID)
n0=$(prop NRestarts)
td_wait 10 eval 'pid1_log "$T/c.wd" | grep -q "Got notification message.*WATCHDOG=1"' || :
check "PID 1 receives WATCHDOG=1 while the loop turns" eval 'pid1_log "$T/c.wd" | grep -q "WATCHDOG=1"'
box kill -STOP "$pid"
restarted() { [ "$(prop NRestarts)" -gt "$n0" ] && [ "$(prop ActiveState)" = active ] && [ "$(prop MainPID)" != "$pid" ]; }
if td_wait 60 restarted; then
	ok "frozen (SIGSTOP) tunneld $pid: watchdog killed it, restarted as $(prop MainPID) (NRestarts $n0 -> $(prop NRestarts))"
else
	bad "no watchdog restart: NRestarts=$(prop NRestarts) MainPID=$(prop MainPID) state=$(prop ActiveState)"
fi
check "PID 1 logged the watchdog timeout" eval 'pid1_log "$T/c.wd" | grep -q "Watchdog timeout"'
check "after the restart: 2/2 nodes up" td_wait 30 status_up

# --- stop ----------------------------------------------------------------------------
cursor "$T/c.stop"
box systemctl stop tunneld.service
check "stopped cleanly: Result=success, ExecMainStatus=0" \
	test "$(prop Result)/$(prop ExecMainStatus)" = success/0
check "PID 1 got STOPPING=1" eval 'pid1_log "$T/c.stop" | grep -q "Got notification message.*STOPPING=1"'
check "RuntimeDirectory removed at stop" eval '! box test -e /run/tunneld'
box systemd-analyze log-level info
finish
