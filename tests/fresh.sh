#!/usr/bin/env bash
# tests/fresh.sh: the README's quick start on a fresh Debian 12, for real
# (`make check-fresh`, root only).
#
# A Debian 12 tree from `debootstrap --variant=minbase` (plus git: the README
# starts from a clone) is built once and cached; every run mounts a throwaway
# copy of it (overlayfs), clones the commit HEAD of this checkout into
# /root/tunneld there (uncommitted changes are not what a user clones, so
# they are not tested), and runs, chrooted, as root, exactly
#
#   ./quickstart demo
#   ./quickstart test
#
# Each prints "fresh: PASS|FAIL ..." with its duration; the exit status is 0
# only when both pass.  Everything runs in private mount and PID namespaces:
# when the run ends, times out or is killed, every process it started dies
# with the namespace's first process and every mount it made (proc, sys, dev,
# dev/pts, run, the copy) goes with the mount namespace.
#
# The copy shares the host's network (apt needs it; the suite itself uses
# loopback and namespaces of its own).  An /usr/sbin/policy-rc.d keeps the
# packages' services (sshd on port 22, prometheus on 9090) from starting,
# which is what debootstrap trees and containers usually do.  Downloaded
# packages are kept in $FRESH_HOME/apt-archives, so a rerun does not fetch
# them again; nothing else carries over.
#
# Env: FRESH_HOME     cache and run directory (default /var/tmp/tunneld-fresh)
#      FRESH_SUITE    Debian suite (default bookworm)
#      FRESH_MIRROR   Debian mirror (default: the host's apt sources for the suite)
#      FRESH_TIMEOUT  bound on the whole run, timeout(1) syntax (default 4h)
#      FRESH_COMMANDS quickstart commands to run (default "demo test")
#      FRESH_ENV      extra VAR=value words for quickstart (e.g. FUZZ_TIME=5)
#      FRESH_KEEP=1   keep the run directory even when everything passed
set -euo pipefail

top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
FRESH_HOME=${FRESH_HOME:-/var/tmp/tunneld-fresh}
SUITE=${FRESH_SUITE:-bookworm}
TIMEOUT=${FRESH_TIMEOUT:-4h}
COMMANDS=${FRESH_COMMANDS:-demo test}
CACHE=$FRESH_HOME/rootfs-$SUITE
RUN=$FRESH_HOME/run

say() { echo "fresh: $*"; }
die() { echo "fresh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] ||
	die "must run as root (debootstrap, chroot and mounts need it): sudo make check-fresh"
for c in debootstrap unshare chroot git timeout; do
	command -v "$c" >/dev/null ||
		die "$c is missing (apt-get install debootstrap git util-linux coreutils)"
done
git -C "$top" rev-parse --verify -q HEAD >/dev/null ||
	die "$top is not a git checkout with a commit: nothing to clone"

# The Debian archives the host's apt uses for SUITE, as "URI CODENAME" lines
# (SUITE, SUITE-updates, SUITE-security), read through apt's own parser so
# that one-line and deb822 sources are both understood.
host_archives() {
	apt-get indextargets --format '$(REPO_URI) $(CODENAME) $(TARGET_OF)' 2>/dev/null |
	    awk -v s="$SUITE" '$3 == "deb" && ($2 == s || index($2, s "-") == 1) &&
		!seen[$1 " " $2]++ { print $1, $2 }'
}

prepare() {
	[ -x "$CACHE/usr/bin/apt-get" ] && [ -e "$CACHE/.fresh-ready" ] && return 0
	local mirror tmp t0 archives
	archives=$(host_archives)
	mirror=${FRESH_MIRROR:-$(awk -v s="$SUITE" '$2 == s { print $1; exit }' <<<"$archives")}
	[ -n "$mirror" ] ||
		die "no apt source for $SUITE on this host; set FRESH_MIRROR=http://deb.debian.org/debian"
	mkdir -p "$FRESH_HOME"
	rm -rf "$CACHE" "$CACHE".tmp.*
	tmp=$(mktemp -d "$CACHE.tmp.XXXXXX")
	chmod 755 "$tmp"	# the root directory: every user must get through it
	t0=$(date +%s)
	say "debootstrap --variant=minbase $SUITE from $mirror (once; cached in $CACHE)"
	if ! debootstrap --variant=minbase --include=git "$SUITE" "$tmp" "$mirror" \
	    >"$tmp.log" 2>&1; then
		tail -n 20 "$tmp.log" >&2
		rm -rf "$tmp"
		die "debootstrap failed (log: $tmp.log)"
	fi
	rm -f "$tmp.log"
	# The updates and security archives a Debian 12 installation also uses.
	if [ -z "${FRESH_MIRROR:-}" ]; then
		awk '{ print "deb", $1, $2, "main" }' <<<"$archives" >"$tmp/etc/apt/sources.list"
	fi
	printf '#!/bin/sh\n# tests/fresh.sh: no service starts in a chroot\nexit 101\n' \
	    >"$tmp/usr/sbin/policy-rc.d"
	chmod 755 "$tmp/usr/sbin/policy-rc.d"
	touch "$tmp/.fresh-ready"
	mv "$tmp" "$CACHE"
	say "tree ready in $(($(date +%s) - t0)) s"
}

# Runs as the first process of private mount and PID namespaces.
inside() {
	local root=$RUN/root c t0 rc log
	mount -t overlay overlay \
	    -o "lowerdir=$CACHE,upperdir=$RUN/upper,workdir=$RUN/work" "$root"
	mount -t proc proc "$root/proc"
	# /sys with what is mounted below it, /sys/fs/cgroup above all, as on a
	# booted machine (systemd-journald, which the suite runs, needs it)
	mount --rbind /sys "$root/sys"
	mount --bind /dev "$root/dev"
	mount --bind /dev/pts "$root/dev/pts"
	mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
	mount -t tmpfs -o mode=755 tmpfs "$root/run"
	mkdir -p -m 1777 "$root/run/lock"
	mkdir -p "$FRESH_HOME/apt-archives/partial"
	mount --bind "$FRESH_HOME/apt-archives" "$root/var/cache/apt/archives"
	cp /etc/resolv.conf "$root/etc/resolv.conf"

	git clone -q --no-checkout "$top" "$root/root/tunneld"
	git -C "$root/root/tunneld" checkout -q --detach "$HEAD_SHA"

	for c in $COMMANDS; do
		log=$RUN/quickstart-$c.log
		t0=$(date +%s)
		rc=0
		# shellcheck disable=SC2086
		chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
		    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		    ${FRESH_ENV:-} /bin/bash -c 'cd /root/tunneld && exec ./quickstart "$1"' \
		    quickstart "$c" </dev/null >"$log" 2>&1 || rc=$?
		echo "$c $rc $(($(date +%s) - t0))" >>"$RUN/results"
		[ "$rc" = 0 ] || break
	done
}

if [ "${1:-}" = --inside ]; then
	inside
	exit 0
fi

prepare
HEAD_SHA=$(git -C "$top" rev-parse HEAD)
[ -z "$(git -C "$top" status --porcelain --untracked-files=no)" ] ||
	say "note: uncommitted changes in $top are not tested (a clone has only commits)"
rm -rf "$RUN"
mkdir -p "$RUN/upper" "$RUN/work" "$RUN/root"
: >"$RUN/results"
say "clone of $(git -C "$top" log -1 --format='%h %s' HEAD)"
say "running: ${COMMANDS// / then } (bounded by $TIMEOUT; logs in $RUN)"
T0=$(date +%s)
rc=0
export top FRESH_HOME CACHE RUN COMMANDS HEAD_SHA FRESH_ENV
timeout -k 60 "$TIMEOUT" unshare -m -p -f --propagation private --kill-child \
    bash "$0" --inside || rc=$?
[ "$rc" != 124 ] || say "FAIL: timed out after $TIMEOUT"

fail=0
for c in $COMMANDS; do
	read -r _ crc secs < <(awk -v c="$c" '$1 == c' "$RUN/results") || :
	log=$RUN/quickstart-$c.log
	if [ -z "${crc:-}" ]; then
		say "FAIL ./quickstart $c: did not run (or did not finish)"
		fail=1
	elif [ "$crc" = 0 ]; then
		say "PASS ./quickstart $c ($secs s)"
	else
		say "FAIL ./quickstart $c: exit $crc after $secs s; last lines of $log:"
		tail -n 40 "$log" | sed 's/^/  | /'
		fail=1
	fi
	[ ! -f "$log" ] || grep -E '^quickstart: |^[0-9]+ passed, [0-9]+ failed$' "$log" |
	    sed 's/^/  /' || :
	crc= secs=
done
say "total $(($(date +%s) - T0)) s"
[ "$rc" = 0 ] || fail=1
if [ "$fail" = 0 ] && [ "${FRESH_KEEP:-0}" != 1 ]; then
	rm -rf "$RUN"
else
	say "the run is kept in $RUN (the clone and its logs: $RUN/upper/root/tunneld)"
fi
exit "$fail"
