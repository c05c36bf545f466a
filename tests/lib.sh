# shellcheck shell=bash
#
# tests/lib.sh: the toolkit of tunneld's scenario tests (tests/t_*.sh).
#
# A scenario sources this file and calls td_setup first:
#
#	. "$top_srcdir/tests/lib.sh"
#	td_setup
#
# automake sets top_srcdir and top_builddir (absolute); run by hand, they
# default to the source tree this file lives in.  Everything a test makes
# lives in the private directory $T; everything it starts is tracked and
# stopped, by PID, when the test exits.  Only loopback is used.  See
# tests/README.md.
#
# Conventions: td_* are generic helpers; sshd_*, notify_*, ollama_* and
# tunneld_* drive one component each.  Functions that start something fail
# the test (td_fail) when it does not come up, so a scenario does not need
# to check them.  Call them from the test's main shell, not from $(...): a
# subshell's variables and td_fail do not reach the test.

if [ -z "${top_srcdir:-}" ]; then
	top_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fi
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

TD_FIXTURES=$top_srcdir/tests/fixtures
TD_STANDIN_BIN=$TD_FIXTURES/bin
: "${TUNNELD:=$top_builddir/tunneld}"
: "${TUNNELCTL:=$top_builddir/tunnelctl}"
: "${TD_NOTIFY_LISTEN:=$top_builddir/tests/notify-listen}"
: "${TD_OLLAMA_STANDIN:=$top_builddir/tests/ollama-standin}"
: "${TD_TUNNEL_HELPER:=$top_builddir/tests/tunnel-helper}"
: "${SSHD_BIN:=/usr/sbin/sshd}"	# sshd re-executes itself: absolute path

TD_PIDS=()

# --------------------------------------------------------------- basics

# td_setup: strict variables, a clean systemd environment, private temp
# dir $T, and the EXIT trap that stops everything td_track recorded.
td_setup() {
	set -u
	# Run under systemd (a CI service), the test would inherit its
	# notification socket, watchdog and journal: the daemon under test
	# must see only what the test gives it (notify_listen).
	unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID LISTEN_FDS LISTEN_PID \
	    LISTEN_FDNAMES INVOCATION_ID JOURNAL_STREAM
	TD_NAME=$(basename "$0" .sh)
	T=$(mktemp -d "${TMPDIR:-/tmp}/tunneld-$TD_NAME.XXXXXX") || {
		echo "td_setup: mktemp failed" >&2
		exit 99
	}
	export T
	# AF_UNIX paths are limited to 107 bytes.
	if [ $((${#T} + 20)) -gt 107 ]; then
		echo "td_setup: \$T=$T is too long for a Unix socket path; set TMPDIR shorter" >&2
		rm -rf "$T"
		exit 99
	fi
	: >"$T/.ports"
	TD_PIDS=()
	command -v ss >/dev/null || {
		rm -rf "$T"
		td_skip "ss is not installed (apt-get install iproute2)"
	}
	trap td__exit EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

td_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

td_ok() {
	echo "ok: $*"
}

td_skip() {
	echo "SKIP: $*"
	exit 77
}

# td_utf8_locale: LC_ALL set to the first UTF-8 locale this machine has of
# C.UTF-8, C.utf8 and en_US.UTF-8 (exported), for a test that matches
# strerror() texts (English) or tunnelctl's arrows (one character each);
# left as it was when there is none.
td_utf8_locale() {
	local l
	for l in C.UTF-8 C.utf8 en_US.UTF-8; do
		if LC_ALL=$l bash -c '[ ${#1} -eq 1 ]' _ "→" 2>/dev/null; then
			export LC_ALL=$l
			return 0
		fi
	done
}

# td_jq ARGS...: `jq -e ARGS` that must also print something.  jq 1.6's -e
# exits 0 on empty input, so a check fed by a command that printed nothing
# (a daemon that did not answer) would pass; output is discarded.
td_jq() {
	local out
	out=$(jq -e "$@") && [ -n "$out" ]
}

# td_track PID: stop PID (and whatever it spawned) when the test exits.
# The process start time is recorded too, so that a PID the kernel has
# given to someone else meanwhile is never signalled.
td_track() {
	local st
	td__stat "$1" || return 0	# already gone
	st=$TD__START
	TD_PIDS+=("$1:$st")
}

# td_stop PID...: stop processes the test started, and their descendants:
# SIGCONT, SIGTERM, wait (5 s), SIGKILL; reaps them when they are children.
td_stop() {
	local p
	local -a all=()
	for p; do
		all+=("$p")
		mapfile -t -O "${#all[@]}" all < <(td_descendants "$p")
	done
	[ ${#all[@]} -eq 0 ] || td__stop_pids 5 "${all[@]}"
	for p; do
		wait "$p" 2>/dev/null || :
	done
}

# td_wait TIMEOUT_S CMD...: run CMD every 0.1 s until it succeeds (0) or
# TIMEOUT_S (may be fractional) has passed (1).  CMD must itself be quick.
td_wait() {
	local timeout_us deadline n max
	timeout_us=$(td__sec_to_us "$1") || return 2
	shift
	td__now_us
	deadline=$((TD__NOW + timeout_us))
	max=$((timeout_us / 100000 + 2))
	for ((n = 0; n < max; n++)); do
		"$@" && return 0
		td__now_us
		[ "$TD__NOW" -lt "$deadline" ] || return 1
		sleep 0.1
	done
	return 1
}

# td_port: a TCP port on 127.0.0.1 that no socket uses and that this test
# has not handed out before, below the kernel's range for outgoing
# connections (ip_local_port_range), which could take it before a listener
# of the test binds it.
td_port() {
	local i p lo=32768 hi range
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || :
	range=$((lo > 12000 ? lo - 10000 : 2000))
	for ((i = 0; i < 200; i++)); do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % range))
		grep -qx "$p" "$T/.ports" 2>/dev/null && continue
		td__port_reserve "$p" || continue
		echo "$p" >>"$T/.ports"
		if [ -n "$(ss -Htan "sport = :$p" 2>/dev/null)" ]; then
			continue	# in use: kept reserved, released at exit
		fi
		echo "$p"
		return 0
	done
	echo "td_port: no free port found in 200 tries" >&2
	return 1
}

# Ports are reserved across the tests that run at once (make -j): two of
# them could pick the same free port, and the one that binds second fails
# ("Address already in use", seen once under `make check -j2`).  A
# reservation is a file named after the port holding the PID of the test's
# shell, written under a lock (flock), so that a reservation whose test is
# gone is taken over by one test only.  The directory is the user's own;
# where it cannot be (no flock, another owner), ports go unreserved, as
# before.  Exported: a test that runs another (t_lib_selftest) shares it.
: "${TD_PORT_DIR:=${TMPDIR:-/tmp}/tunneld-test-ports-$(id -u)}"
export TD_PORT_DIR
td__port_reserve() {
	local p=$1 owner rc=0
	command -v flock >/dev/null || return 0
	mkdir -p -m 0700 "$TD_PORT_DIR" 2>/dev/null
	[ -d "$TD_PORT_DIR" ] && [ -O "$TD_PORT_DIR" ] && [ -w "$TD_PORT_DIR" ] ||
		return 0
	{
		flock -x 9 || return 0
		owner=$(cat "$TD_PORT_DIR/$p" 2>/dev/null) || owner=
		if [ -n "$owner" ] && [ "$owner" != "$$" ] &&
		    kill -0 "$owner" 2>/dev/null; then
			rc=1
		else
			echo "$$" >"$TD_PORT_DIR/$p"
		fi
	} 9>>"$TD_PORT_DIR/.lock"
	return "$rc"
}

# The reservations this test made.
td__port_release() {
	local p
	[ -n "${T:-}" ] && [ -f "$T/.ports" ] || return 0
	while read -r p; do
		[ "$(cat "$TD_PORT_DIR/$p" 2>/dev/null)" = "$$" ] &&
			rm -f "${TD_PORT_DIR:?}/$p"
	done <"$T/.ports"
}

# td_descendants PID: the PIDs of all of PID's descendants, one per line,
# parents before children (from the parent PIDs in /proc/*/stat).
td_descendants() {
	local root=$1 f s pid ppid c i
	local -A kids=()
	local -a queue
	for f in /proc/[0-9]*/stat; do
		{ read -r s <"$f"; } 2>/dev/null || continue
		pid=${s%% (*}
		s=${s##*) }	# comm may hold spaces and parentheses
		ppid=${s#* }
		ppid=${ppid%% *}
		kids[$ppid]+=" $pid"
	done
	queue=("$root")
	for ((i = 0; i < ${#queue[@]} && i < 100000; i++)); do
		for c in ${kids[${queue[i]}]:-}; do
			echo "$c"
			queue+=("$c")
		done
	done
}

# td_sanitized: tunneld is built with AddressSanitizer.  Its allocator's
# quarantine and shadow memory then dominate RSS, so memory bounds are
# judged in the plain build only.
td_sanitized() {
	ldd "$TUNNELD" 2>/dev/null | grep -q libasan
}

# td_alive PID: PID exists and is not a zombie.
td_alive() {
	td__stat "$1" && [ "$TD__STATE" != Z ] && [ "$TD__STATE" != X ]
}

# td_fds PID: how many descriptors PID holds now.
td_fds() {
	find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

# td_fds_min PID SAMPLES SECONDS: the fewest descriptors PID held over
# SAMPLES samples SECONDS apart (a probe in flight holds a socket or two
# for a moment; a leak raises the floor).
td_fds_min() {
	local i n min=999999
	for ((i = 0; i < $2; i++)); do
		n=$(td_fds "$1")
		[ "$n" -lt "$min" ] && min=$n
		sleep "$3"
	done
	echo "$min"
}

# td_stale_socket PATH: a Unix socket file at PATH that nobody listens on,
# as a daemon killed with SIGKILL leaves it (made by socat, then killed).
td_stale_socket() {
	local pid
	socat -u "UNIX-LISTEN:$1" /dev/null </dev/null >/dev/null 2>&1 &
	pid=$!
	td_track "$pid"
	td_wait 5 test -S "$1" || td_fail "td_stale_socket: socat made no socket at $1"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	[ -S "$1" ] || td_fail "td_stale_socket: socat removed $1 on SIGKILL"
}

# td_state PID: the one-letter process state (R, S, T, Z...), or "-".
td_state() {
	if td__stat "$1"; then echo "$TD__STATE"; else echo -; fi
}

sha_file() {
	local h
	h=$(sha256sum <"$1") || return 1
	echo "${h%% *}"
}

# td_node NAME [TOOL...]: a simulated node's home and PATH.  Makes
# $T/nodes/NAME/home (empty: no shell rc files) and $T/nodes/NAME/bin with
# the named stand-ins from tests/fixtures/bin (nvidia-smi, tegrastats), and
# sets TD_NODE_HOME and TD_NODE_PATH (bin first, then the system's).
# (TD_NODE_HOME is the HOME sshd_key gives key NAME anyway.)  Typical use:
#	td_node vengeance nvidia-smi
#	sshd_key vengeance "PATH=$TD_NODE_PATH" \
#	    "TD_GPU_FIXTURE=$TD_FIXTURES/nvidia-smi-h100.txt"
td_node() {
	local name=$1 tool
	shift
	TD_NODE_HOME=$T/nodes/$name/home
	mkdir -p "$TD_NODE_HOME" "$T/nodes/$name/bin"
	for tool; do
		[ -x "$TD_STANDIN_BIN/$tool" ] || td_fail "td_node: no stand-in '$tool' in $TD_STANDIN_BIN"
		ln -sf "$TD_STANDIN_BIN/$tool" "$T/nodes/$name/bin/$tool"
	done
	# shellcheck disable=SC2034  # for the scenario
	TD_NODE_PATH=$T/nodes/$name/bin:/usr/local/bin:/usr/bin:/bin
}

# ----------------------------------------------------------------- sshd

# sshd_setup: host key, sshd_config, port and known_hosts in $T/sshd.
# Exports SSHD_PORT, SSHD_DIR, SSHD_CONFIG, SSHD_USER, SSHD_KNOWN_HOSTS.
# As root any account could log in (keys are ours alone); as another user
# sshd can only log that same user in (no privilege to switch).
sshd_setup() {
	local hostpub name=${1:-}
	[ -z "${SSHD_NAME+x}" ] || sshd__save
	[ -x "$SSHD_BIN" ] || td_skip "no $SSHD_BIN (apt-get install openssh-server)"
	command -v ssh-keygen >/dev/null || td_skip "no ssh-keygen (apt-get install openssh-client)"
	SSHD_NAME=$name
	SSHD_PID=
	SSHD_DIR=$T/sshd${name:+-$name}
	SSHD_CONFIG=$SSHD_DIR/sshd_config
	SSHD_KNOWN_HOSTS=$T/known_hosts
	SSHD_USER=$(id -un)
	mkdir -p "$SSHD_DIR" "$T/keys"
	chmod 700 "$SSHD_DIR" "$T/keys"
	if [ "$(id -u)" -eq 0 ]; then
		# The privilege-separation chroot; Debian makes it at boot only.
		[ -d /run/sshd ] || mkdir -m 0755 /run/sshd
	fi
	ssh-keygen -q -t ed25519 -N '' -C "tunneld-test-host" \
	    -f "$SSHD_DIR/host_ed25519" </dev/null || td_fail "sshd_setup: ssh-keygen failed"
	SSHD_PORT=$(td_port) || td_fail "sshd_setup: no free port"
	: >"$SSHD_DIR/authorized_keys"
	chmod 600 "$SSHD_DIR/authorized_keys"
	cat >"$SSHD_CONFIG" <<EOF
# generated by tests/lib.sh sshd_setup
ListenAddress 127.0.0.1
Port $SSHD_PORT
HostKey $SSHD_DIR/host_ed25519
PidFile $SSHD_DIR/sshd.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthenticationMethods publickey
PermitRootLogin prohibit-password
AllowTcpForwarding yes
GatewayPorts no
PermitUserEnvironment yes
X11Forwarding no
PrintMotd no
PrintLastLog no
UseDNS no
LogLevel VERBOSE
MaxStartups 1000
MaxSessions 1000
ClientAliveInterval 0
EOF
	# OpenSSH >= 9.8 throttles sources that fail auth: tests fail on purpose.
	if "$SSHD_BIN" -t -f "$SSHD_CONFIG" -o PerSourcePenalties=no >/dev/null 2>&1; then
		echo "PerSourcePenalties no" >>"$SSHD_CONFIG"
	fi
	"$SSHD_BIN" -t -f "$SSHD_CONFIG" >"$SSHD_DIR/config-test.log" 2>&1 ||
		td_fail "sshd_setup: sshd -t rejects $SSHD_CONFIG: $(cat "$SSHD_DIR/config-test.log")"
	read -r hostpub <"$SSHD_DIR/host_ed25519.pub"
	hostpub=${hostpub% *}	# drop the comment
	# Non-22 ports are written [host]:port, by OpenSSH and libssh alike.
	echo "[127.0.0.1]:$SSHD_PORT $hostpub" >>"$SSHD_KNOWN_HOSTS"
	export SSHD_PORT SSHD_DIR SSHD_CONFIG SSHD_USER SSHD_KNOWN_HOSTS
	sshd__save
}

# Several sshds in one test: `sshd_setup NAME` for each (files in
# $T/sshd-NAME, host keys all in $T/known_hosts), then `sshd_use NAME`
# before sshd_key/sshd_start/sshd_stop/sshd_freeze... to pick the one they
# act on.  Without a NAME there is one sshd in $T/sshd, as before.
declare -A TD_SSHD_STATE=()
sshd__save() {
	# The unnamed sshd is kept under "-" (bash refuses an empty key).
	TD_SSHD_STATE[${SSHD_NAME:--}]="${SSHD_PORT:-}|${SSHD_DIR:-}|${SSHD_CONFIG:-}|${SSHD_PID:-}"
}

sshd_use() {
	local st
	sshd__save
	[ -n "${TD_SSHD_STATE[${1:--}]+x}" ] || td_fail "sshd_use: no sshd '$1' (sshd_setup $1)"
	st=${TD_SSHD_STATE[${1:--}]}
	SSHD_NAME=$1
	IFS='|' read -r SSHD_PORT SSHD_DIR SSHD_CONFIG SSHD_PID <<<"$st"
	export SSHD_PORT SSHD_DIR SSHD_CONFIG
}

# sshd_key NAME [ENV=VAL...] [--opt=OPTION...]: client key $T/keys/NAME
# (ed25519, no passphrase, 0600), authorised with environment="ENV=VAL"
# for each ENV=VAL (sshd's PermitUserEnvironment is on) and each OPTION
# verbatim (e.g. --opt='permitlisten="127.0.0.1:11436"').  Every session
# of that key gets that environment: that is how each simulated node gets
# its own PATH (hence its own nvidia-smi stand-in) from one sshd.
# Unless HOME=... is given, HOME is $T/nodes/NAME/home, empty: the login
# shell then reads no ~/.bashrc of the real account (Debian's bash reads
# it for ssh commands), which could change PATH, print, or take seconds.
sshd_key() {
	local name=$1 kv opts='' pub home=1
	shift
	for kv; do
		[[ $kv == HOME=* ]] && home=0
	done
	if [ "$home" = 1 ]; then
		mkdir -p "$T/nodes/$name/home"
		set -- "HOME=$T/nodes/$name/home" "$@"
	fi
	[ -n "${SSHD_DIR:-}" ] || td_fail "sshd_key: run sshd_setup first"
	[ ! -e "$T/keys/$name" ] || td_fail "sshd_key: key '$name' exists"
	ssh-keygen -q -t ed25519 -N '' -C "tunneld-test-$name" \
	    -f "$T/keys/$name" </dev/null || td_fail "sshd_key: ssh-keygen failed"
	chmod 600 "$T/keys/$name"
	for kv; do
		case $kv in
		--opt=*)
			opts+="${opts:+,}${kv#--opt=}"
			;;
		[A-Za-z_]*=*)
			# authorized_keys quoting: only \" is an escape.
			opts+="${opts:+,}environment=\"${kv//\"/\\\"}\""
			;;
		*)
			td_fail "sshd_key: '$kv' is neither ENV=VAL nor --opt=OPTION"
			;;
		esac
	done
	read -r pub <"$T/keys/$name.pub"
	echo "${opts:+$opts }$pub" >>"$SSHD_DIR/authorized_keys"
}

# sshd_ssh NAME [SSH_ARGS...]: the OpenSSH client as key NAME against the
# test sshd, strict host key checking against $T/known_hosts, no user
# config.  Extra arguments go after the destination (commands) unless they
# start with -o (options, e.g. -o ConnectTimeout=2).
sshd_ssh() {
	local name=$1
	local -a opts=()
	shift
	while [ $# -ge 2 ] && [ "$1" = -o ]; do
		opts+=(-o "$2")
		shift 2
	done
	# ssh keeps the first value it is given: the caller's come first.
	ssh -F /dev/null "${opts[@]}" -i "$T/keys/$name" -o IdentitiesOnly=yes \
	    -o UserKnownHostsFile="$SSHD_KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
	    -o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=5 \
	    -p "$SSHD_PORT" "$SSHD_USER@127.0.0.1" "$@"
}

# sshd_start: run sshd in the foreground (-D -e) in the background, log in
# $T/sshd/log, and wait (30 s) until it listens.  Sets SSHD_PID.
sshd_start() {
	td__sshd_try_start ||
		td_fail "sshd_start: sshd did not come up on port $SSHD_PORT: $(tail -n 5 "$SSHD_DIR/log")"
}

# sshd_stop: freeze and KILL the listener, then TERM every per-connection
# child (sessions survive their listener otherwise), CONT them first in
# case they are frozen, wait (5 s), KILL what is left.
sshd_stop() {
	[ -n "${SSHD_PID:-}" ] || return 0
	local -a all
	# tunneld reconnects within milliseconds: a listener that is still
	# running while its sessions are being stopped would accept a new one
	# that nobody stops.  A frozen listener forks nothing; SIGKILL ends it
	# without letting it run again.
	kill -STOP "$SSHD_PID" 2>/dev/null || :
	mapfile -t all < <(td_descendants "$SSHD_PID")
	kill -KILL "$SSHD_PID" 2>/dev/null || :
	wait "$SSHD_PID" 2>/dev/null || :
	[ ${#all[@]} -eq 0 ] || td__stop_pids 5 "${all[@]}"
	SSHD_PID=
	return 0
}

# sshd_kill_sessions: TERM only the per-connection children (every
# established session drops at once); the listener keeps accepting.
sshd_kill_sessions() {
	[ -n "${SSHD_PID:-}" ] || return 0
	local -a all
	mapfile -t all < <(td_descendants "$SSHD_PID")
	[ ${#all[@]} -eq 0 ] || td__stop_pids 5 "${all[@]}"
}

# sshd_restart: stop, then start again on the same port with the same host
# key and authorized_keys; retries the bind a few times.
sshd_restart() {
	local i
	sshd_stop
	for ((i = 0; i < 10; i++)); do
		td__sshd_try_start && return 0
		sleep 0.5
	done
	td_fail "sshd_restart: sshd did not come back on port $SSHD_PORT: $(tail -n 5 "$SSHD_DIR/log")"
}

# sshd_freeze: SIGSTOP the listener and all its descendants (the
# per-connection sshd processes and the commands they run): a hung peer
# whose kernel still accepts connections and ACKs data.  Stopping only the
# listener would leave established sessions answering.
sshd_freeze() {
	[ -n "${SSHD_PID:-}" ] || td_fail "sshd_freeze: sshd is not running"
	local p i seen='' now
	kill -STOP "$SSHD_PID" || td_fail "sshd_freeze: cannot stop $SSHD_PID"
	# A child may fork between listing and stopping: list until stable.
	for ((i = 0; i < 10; i++)); do
		now=$(td_descendants "$SSHD_PID" | tr '\n' ' ')
		for p in $now; do
			kill -STOP "$p" 2>/dev/null || :
		done
		[ "$now" = "$seen" ] && break
		seen=$now
	done
}

# sshd_thaw: SIGCONT to the listener and all its descendants.
sshd_thaw() {
	[ -n "${SSHD_PID:-}" ] || return 0
	local p
	for p in $(td_descendants "$SSHD_PID"); do
		kill -CONT "$p" 2>/dev/null || :
	done
	kill -CONT "$SSHD_PID" 2>/dev/null || :
}

# ------------------------------------------------------ notify, ollama

# notify_listen: a stand-in for systemd's notification socket at
# $T/notify.sock; every assignment received lands in $T/notify.log as
# "MONOTONIC_MS NAME=VALUE".  Exports NOTIFY_SOCKET.
notify_listen() {
	[ -x "$TD_NOTIFY_LISTEN" ] || td_fail "notify_listen: $TD_NOTIFY_LISTEN is not built (make check builds it)"
	rm -f "$T/notify.sock"
	"$TD_NOTIFY_LISTEN" "$T/notify.sock" </dev/null >>"$T/notify.log" 2>&1 &
	NOTIFY_LISTEN_PID=$!
	td_track "$NOTIFY_LISTEN_PID"
	td_wait 30 test -S "$T/notify.sock" || td_fail "notify_listen: no socket after 30 s"
	export NOTIFY_SOCKET=$T/notify.sock
}

# notify_lines: how many lines $T/notify.log has (an offset for notify_wait).
notify_lines() {
	local n=0
	[ -f "$T/notify.log" ] && n=$(wc -l <"$T/notify.log")
	echo $((n))
}

# notify_wait TIMEOUT_S REGEX [AFTER_LINE]: wait until a notification
# after line AFTER_LINE (default 0) matches the extended REGEX, e.g.
#	n=$(notify_lines); kill -HUP "$TUNNELD_PID"
#	notify_wait 5 ' RELOADING=1$' "$n" || td_fail "no RELOADING=1"
notify_wait() {
	td_wait "$1" td__notify_match "$2" "${3:-0}"
}

# ollama_start NAME [FIXTURE_DIR]: an Ollama stand-in on a free port,
# serving FIXTURE_DIR (default tests/fixtures), switched by ollama_mode
# NAME, logging to $T/ollama-NAME.log.  Sets OLLAMA_PORT and OLLAMA_PID
# (of the last one started); the port is also in $T/ollama-NAME.port.
ollama_start() {
	local name=$1 dir=${2:-$TD_FIXTURES} port
	[ -x "$TD_OLLAMA_STANDIN" ] || td_fail "ollama_start: $TD_OLLAMA_STANDIN is not built (make check builds it)"
	port=$(td_port) || td_fail "ollama_start: no free port"
	rm -f "$T/ollama-$name.pid"
	"$TD_OLLAMA_STANDIN" --listen "127.0.0.1:$port" --dir "$dir" \
	    --control "$T/ollama-$name.mode" --pidfile "$T/ollama-$name.pid" \
	    </dev/null >>"$T/ollama-$name.log" 2>&1 &
	OLLAMA_PID=$!
	td_track "$OLLAMA_PID"
	td_wait 30 td__ready_or_dead "$OLLAMA_PID" test -s "$T/ollama-$name.pid" || :
	if ! td_alive "$OLLAMA_PID" || [ ! -s "$T/ollama-$name.pid" ]; then
		td_fail "ollama_start: stand-in '$name' did not come up: $(tail -n 3 "$T/ollama-$name.log")"
	fi
	# shellcheck disable=SC2034  # for the scenario
	OLLAMA_PORT=$port
	echo "$port" >"$T/ollama-$name.port"
}

# ollama_mode NAME MODE [ARG]: switch stand-in NAME (ok, slow MS, fail,
# garbage, truncated, cut, nomodel, hang, close; see ollama-standin.c);
# applies from the next request.
ollama_mode() {
	printf '%s\n' "${*:2}" >"$T/ollama-$1.mode.tmp" &&
		mv -f "$T/ollama-$1.mode.tmp" "$T/ollama-$1.mode"
}

# echo_start PORT: an echo server on 127.0.0.1:PORT, one process per
# client; EXEC:cat keeps half-close (EOF in, the rest out, then EOF), and
# -t 60 lets the other direction finish after one ends.  Waits (30 s) until
# it listens.
echo_start() {
	socat -t 60 TCP-LISTEN:"$1",bind=127.0.0.1,reuseaddr,fork,backlog=256 \
	    EXEC:cat </dev/null >>"$T/socat-echo-$1.log" 2>&1 &
	td_track $!
	td_wait 30 eval "[ -n \"\$(ss -Htln 'sport = :$1')\" ]" ||
		td_fail "echo server on $1 did not listen"
}

# ---------------------------------------------------------------- tunneld

# tunneld_conf_head [KEY=VALUE...]: print a [tunneld] section for tests
# (control socket and known_hosts in $T, fast timers); KEY=VALUE replaces
# a default or adds a key.  Nodes follow:
#	{ tunneld_conf_head probe_interval=500ms; cat <<EOF; } >"$T/tunneld.conf"
#	[node runpod]
#	...
#	EOF
tunneld_conf_head() {
	local -a keys=(control_socket admin_group known_hosts host_key_policy
	    keepalive_interval keepalive_count connect_timeout backoff_initial
	    backoff_max backoff_multiplier backoff_jitter retry_refused
	    stable_after probe_interval probe_timeout)
	local -A v=(
	    [control_socket]=$T/control.sock [admin_group]=$(id -gn)
	    [known_hosts]=$T/known_hosts [host_key_policy]=strict
	    [keepalive_interval]=1s [keepalive_count]=3 [connect_timeout]=3s
	    [backoff_initial]=200ms [backoff_max]=2s [backoff_multiplier]=2
	    [backoff_jitter]=0.2 [retry_refused]=200ms [stable_after]=5s
	    [probe_interval]=1s [probe_timeout]=1s)
	local kv k
	for kv; do
		k=${kv%%=*}
		[ -n "${v[$k]+x}" ] || keys+=("$k")
		v[$k]=${kv#*=}
	done
	echo "[tunneld]"
	for k in "${keys[@]}"; do
		echo "$k = ${v[$k]}"
	done
	echo
}

# tunneld_conf_offline [LINE...]: writes $T/tunneld.conf (tunneld_conf_head
# and three nodes that need no sshd): hub (ssh = none: up), far (ssh to
# 127.0.0.1:$CLOSED_PORT, where nothing listens: backoff, "connection
# refused", its local forward 127.0.0.1:$FAR_PORT bound all the same), each
# LINE, then off (enabled = no: stopped, 127.0.0.1:$OFF_PORT never bound).
# The three ports are picked on the first call and kept.  $T/known_hosts is
# made empty when missing (no sshd wrote it), so that the daemon does not
# warn about it.
tunneld_conf_offline() {
	[ -n "${FAR_PORT:-}" ] || FAR_PORT=$(td_port)
	[ -n "${OFF_PORT:-}" ] || OFF_PORT=$(td_port)
	[ -n "${CLOSED_PORT:-}" ] || CLOSED_PORT=$(td_port)
	[ -e "$T/known_hosts" ] || : >"$T/known_hosts"
	{
		tunneld_conf_head
		cat <<EOF
[node hub]
ssh = none
gpu = none
priority = 3

[node far]
ssh = root@127.0.0.1:$CLOSED_PORT
local_forward = 127.0.0.1:$FAR_PORT 127.0.0.1:9
ollama = none
priority = 1

$(printf '%s\n' "$@")

[node off]
ssh = root@127.0.0.1:$CLOSED_PORT
local_forward = 127.0.0.1:$OFF_PORT 127.0.0.1:9
ollama = none
enabled = no
EOF
	} >"$T/tunneld.conf"
}

# tunneld_start CONF [ARGS...]: run the daemon in the foreground, in the
# background, stdout+stderr appended to $T/tunneld.log; wait (up to
# TD_START_TIMEOUT seconds, default 60) for a new READY=1 when NOTIFY_SOCKET
# is set (see notify_listen), else for $T/control.sock.  Sets TUNNELD_PID.
tunneld_start() {
	local conf=$1 before rc
	shift
	[ -x "$TUNNELD" ] || td_fail "tunneld_start: $TUNNELD is not built"
	before=$(notify_lines)
	# TD_TUNNELD_WRAPPER: a command the daemon runs under, word-split
	# (make valgrind: "valgrind --leak-check=full ...").
	local -a wrap=()
	read -r -a wrap <<<"${TD_TUNNELD_WRAPPER:-}"
	"${wrap[@]}" "$TUNNELD" --config "$conf" --foreground --log stderr "$@" \
	    </dev/null >>"$T/tunneld.log" 2>&1 &
	TUNNELD_PID=$!
	td_track "$TUNNELD_PID"
	td_wait "${TD_START_TIMEOUT:-60}" td__tunneld_ready "$before" || :
	if ! td_alive "$TUNNELD_PID"; then
		rc=0
		wait "$TUNNELD_PID" || rc=$?
		TUNNELD_PID=
		td_fail "tunneld_start: tunneld exited with status $rc during start-up"
	fi
	td__tunneld_ready "$before" || td_fail "tunneld_start: not ready after ${TD_START_TIMEOUT:-60} s"
}

# tunneld_stop: SIGTERM, wait (TD_STOP_TIMEOUT seconds, default 30; then
# SIGKILL), and return the daemon's exit status (128+N for a signal N).
# With set -e, call it as: rc=0; tunneld_stop || rc=$?
tunneld_stop() {
	local pid=${TUNNELD_PID:-} rc timeout=${TD_STOP_TIMEOUT:-30}
	[ -n "$pid" ] || return 0
	kill -CONT "$pid" 2>/dev/null || :
	kill -TERM "$pid" 2>/dev/null || :
	if ! td_wait "$timeout" td__gone "$pid"; then
		echo "tunneld_stop: tunneld $pid ignored SIGTERM for $timeout s; SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || :
		td_wait 5 td__gone "$pid" || :
	fi
	rc=0
	wait "$pid" 2>/dev/null || rc=$?
	TUNNELD_PID=
	return "$rc"
}

# ctl ARGS...: tunnelctl on the test's control socket, waiting up to
# TD_CTL_TIMEOUT seconds (default 30) for a reply (exit 3 past it), and
# killed by timeout(1) 5 s later (124) should it hang itself.
ctl() {
	local t=${TD_CTL_TIMEOUT:-30}
	# tunnelctl's own wait for a reply (10 s by default) gets the same
	# bound: a 5000-node status on a loaded machine took longer.
	TUNNELCTL_TIMEOUT=${TUNNELCTL_TIMEOUT:-$t} \
		timeout "$((t + 5))" "$TUNNELCTL" --socket "$T/control.sock" "$@"
}

# td_json PATH: the value at PATH in the JSON document on stdin (a saved
# `tunnelctl --json status` reply), read by tests/tunnel-helper (make check
# builds it).  PATH is dot-separated object keys, array indexes, or
# KEY=VALUE for the array element whose member KEY is the string VALUE:
# nodes.name=runpod.forwards.0.bytes_in.  Strings are printed bare, null as
# "null"; nothing is printed, status 1, when PATH does not exist.
td_json() {
	[ -x "$TD_TUNNEL_HELPER" ] || {
		echo "td_json: $TD_TUNNEL_HELPER is not built (make check builds it)" >&2
		return 2
	}
	"$TD_TUNNEL_HELPER" json "$1"
}

# jget PATH: the value at PATH (td_json syntax) in the daemon's status now,
# one `tunnelctl --json status` read.
jget() {
	ctl --json status | td_json "$1"
}

# node_state_of NODE: NODE's state now (up, degraded, backoff, connecting,
# stopped); empty when the daemon does not answer or has no such node.
node_state_of() {
	jget "nodes.name=$1.state"
}

# node_in_state NODE STATE: whether NODE is in STATE now; for td_wait:
#	td_wait 20 node_in_state runpod up || td_fail "runpod never up"
node_in_state() {
	[ "$(node_state_of "$1")" = "$2" ]
}

# node_not_up NODE: whether the daemon answers and NODE is in a state other
# than up (a daemon that does not answer is no proof that NODE went down).
node_not_up() {
	local s
	s=$(node_state_of "$1")
	[ -n "$s" ] && [ "$s" != up ]
}

# ------------------------------------------------------------- internals

# td__stat PID: sets TD__STATE, TD__PPID, TD__START from /proc/PID/stat.
td__stat() {
	local s
	local -a f
	{ read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
	s=${s##*) }
	read -r -a f <<<"$s"
	TD__STATE=${f[0]}
	# shellcheck disable=SC2034  # for callers
	TD__PPID=${f[1]}
	TD__START=${f[19]}
}

# td__now_us: TD__NOW = wall clock in microseconds, without forking.
td__now_us() {
	local t=${EPOCHREALTIME//[!0-9]/}
	TD__NOW=$((10#$t))
}

td__sec_to_us() {
	local s=$1 int frac=''
	[[ $s =~ ^[0-9]+(\.[0-9]+)?$ ]] || {
		echo "td_wait: bad timeout '$s'" >&2
		return 1
	}
	int=${s%%.*}
	[[ $s == *.* ]] && frac=${s#*.}
	frac=${frac}000000
	echo $((10#$int * 1000000 + 10#${frac:0:6}))
}

# td__gone PID: exited (or a zombie waiting for its parent).
td__gone() {
	! td_alive "$1"
}

# td__ready_or_dead PID CMD...: for td_wait; stops waiting on PID's death.
td__ready_or_dead() {
	local pid=$1
	shift
	td_alive "$pid" || return 0
	"$@"
}

td__tunneld_ready() {
	td_alive "$TUNNELD_PID" || return 0
	if [ -n "${NOTIFY_SOCKET:-}" ]; then
		td__notify_match ' READY=1$' "$1"
	else
		[ -S "$T/control.sock" ]
	fi
}

td__notify_match() {
	[ -f "$T/notify.log" ] && tail -n "+$(($2 + 1))" "$T/notify.log" | grep -Eq -- "$1"
}

# td__sshd_listening: the port is bound by SSHD_PID itself (or sshd died).
td__sshd_listening() {
	td_alive "$SSHD_PID" || return 0
	ss -Htlnp "sport = :$SSHD_PORT" 2>/dev/null | grep -q "pid=$SSHD_PID,"
}

td__sshd_try_start() {
	[ -f "${SSHD_CONFIG:-}" ] || td_fail "sshd_start: run sshd_setup first"
	echo "=== $(date '+%F %T') sshd_start (port $SSHD_PORT)" >>"$SSHD_DIR/log"
	# Debian's sshd speaks sd_notify: keep its READY=1 out of notify.log.
	env -u NOTIFY_SOCKET "$SSHD_BIN" -D -e -f "$SSHD_CONFIG" </dev/null >>"$SSHD_DIR/log" 2>&1 &
	SSHD_PID=$!
	td_track "$SSHD_PID"
	td_wait 30 td__sshd_listening || :
	if td_alive "$SSHD_PID" && td__sshd_listening; then
		return 0
	fi
	td__stop_pids 2 "$SSHD_PID"
	wait "$SSHD_PID" 2>/dev/null || :
	SSHD_PID=
	return 1
}

# td__stop_pids TIMEOUT_S PID...: CONT, TERM, wait, KILL, wait; each PID
# only while it is still the process it was when this was called.
td__stop_pids() {
	local timeout=$1 p
	local -a live=()
	shift
	for p; do
		td__stat "$p" && live+=("$p:$TD__START")
	done
	[ ${#live[@]} -gt 0 ] || return 0
	td__signal CONT "${live[@]}"
	td__signal TERM "${live[@]}"
	if ! td_wait "$timeout" td__all_gone "${live[@]}"; then
		td__signal KILL "${live[@]}"
		td_wait 2 td__all_gone "${live[@]}" || :
	fi
}

# td__signal SIG PID:START...: signal those still alive and the same.
td__signal() {
	local sig=$1 e
	shift
	for e; do
		if td__stat "${e%%:*}" && [ "$TD__START" = "${e#*:}" ] &&
			[ "$TD__STATE" != Z ]; then
			kill -"$sig" "${e%%:*}" 2>/dev/null || :
		fi
	done
}

td__all_gone() {
	local e
	for e; do
		if td__stat "${e%%:*}" && [ "$TD__START" = "${e#*:}" ] &&
			[ "$TD__STATE" != Z ] && [ "$TD__STATE" != X ]; then
			return 1
		fi
	done
	return 0
}

td__dump_logs() {
	local f any=0
	if [ -f "$T/tunneld.log" ]; then
		echo "---- $T/tunneld.log (last 300 lines)"
		tail -n 300 "$T/tunneld.log"
		any=1
	fi
	for f in "$T/notify.log" "$T"/ollama-*.log "$T"/sshd*/log; do
		[ -f "$f" ] || continue
		echo "---- $f (last 60 lines)"
		tail -n 60 "$f"
		any=1
	done
	[ "$any" = 0 ] || echo "---- end of logs (TD_KEEP=1 keeps $T)"
}

td__exit() {
	local rc=$? e p
	local -a all=()
	set +e
	trap - EXIT
	# Everything tracked, and everything it spawned (sshd sessions, probe
	# children), as it is now: after their parent dies they are reparented
	# and could not be found any more.
	for e in "${TD_PIDS[@]}"; do
		p=${e%%:*}
		if ! td__stat "$p" || [ "$TD__START" != "${e#*:}" ]; then
			continue
		fi
		all+=("$p")
		mapfile -t -O "${#all[@]}" all < <(td_descendants "$p")
	done
	[ ${#all[@]} -eq 0 ] || td__stop_pids 5 "${all[@]}"
	for e in "${TD_PIDS[@]}"; do
		wait "${e%%:*}" 2>/dev/null
	done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "${T:-}" ] && [ -d "$T" ]; then
		td__dump_logs >&2
	fi
	td__port_release
	if [ -n "${T:-}" ] && [ -d "$T" ]; then
		if [ "${TD_KEEP:-0}" = 1 ]; then
			echo "# TD_KEEP=1: kept $T" >&2
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}
