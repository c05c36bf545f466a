#!/bin/bash
# debian/check-box.sh: the package in a real systemd, as an operator meets it.
#
#   SDBOX=/path/to/systemd-box.sh
#   $SDBOX session bash debian/check-box.sh ../tunneld_0.1.0_amd64.deb tests/ollama-standin
#
# (root; systemd-box.sh boots a throwaway Debian 12 container with systemd
# as PID 1 and exports SDBOX_RUN.)  In the container: `apt install ./DEB`,
# then, with the shipped example config untouched: the user exists, the unit
# is enabled and running and stays so (its nodes unreachable, no restart),
# the catalog is compiled, the man pages and the conffile are in place.
# Then the config is edited to one node on loopback (ssh = none, its Ollama
# an ollama-standin started as a transient unit): `systemctl reload` brings
# it up, `tunnelctl status` exits 0; a reinstall keeps the edited conffile;
# `apt purge` stops the service and removes the config.
set -u
deb=${1:?usage: check-box.sh DEB OLLAMA_STANDIN}
standin=${2:?usage: check-box.sh DEB OLLAMA_STANDIN}
SDBOX=${SDBOX:-/work/shared/tools/systemd-box.sh}
: "${SDBOX_RUN:?run me through: systemd-box.sh session bash $0 ...}"
root=$SDBOX_RUN/root
pass=0 fail=0

ok() { echo "ok   - $*"; pass=$((pass + 1)); }
bad() { echo "FAIL - $*"; fail=$((fail + 1)); }
box() { "$SDBOX" exec "$@"; }
# check DESCRIPTION CMD...: CMD inside the container must succeed
check() {
	local what=$1
	shift
	if box "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
show() { echo "\$ $*"; box "$@" 2>&1 | sed 's/^/  /'; }

# (not /tmp: systemd mounts a tmpfs there in the container)
mkdir -p "$root/var/cache/check-box"
cp "$deb" "$root/var/cache/check-box/" && cp "$standin" "$root/usr/local/bin/ollama-standin" ||
	{ echo "cannot copy into $root"; exit 1; }
d=/var/cache/check-box/$(basename "$deb")

echo "--- apt install $d"
box sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $d" \
    >"$SDBOX_RUN/apt.log" 2>&1 && ok "apt install ./$(basename "$deb")" ||
	{ tail -n 20 "$SDBOX_RUN/apt.log"; bad "apt install"; }
grep -E 'tunneld|Triggers|sysusers|Created symlink' "$SDBOX_RUN/apt.log" | sed 's/^/  /'

check "user tunneld exists (sysusers), home /var/lib/tunneld" \
    sh -c 'getent passwd tunneld | grep -q ":/var/lib/tunneld:"'
check "group tunneld exists" getent group tunneld
check "tunneld.service is enabled" systemctl is-enabled -q tunneld
check "tunneld.service is active" systemctl is-active -q tunneld
check "/etc/tunneld/tunneld.conf is a conffile" \
    sh -c 'dpkg-query -W -f="\${Conffiles}" tunneld | grep -q /etc/tunneld/tunneld.conf'
for m in /usr/share/man/man8/tunneld.8.gz /usr/share/man/man8/tunnelctl.8.gz \
    /usr/share/man/man5/tunneld.conf.5.gz /usr/share/doc/tunneld/doc/DESIGN.md.gz; do
	check "installed: $m" test -f "$m"
done
n=$(box journalctl --list-catalog 2>/dev/null | grep -c ' tunneld: ' || :)
[ "$n" = 18 ] && ok "catalog compiled by the trigger: $n tunneld entries" ||
	bad "catalog: $n tunneld entries in journalctl --list-catalog, not 18"

# The untouched example: unreachable nodes, never a crash loop.
sleep 12
pid0=$(box systemctl show -p MainPID --value tunneld)
nr=$(box systemctl show -p NRestarts --value tunneld)
[ "$nr" = 0 ] && box systemctl is-active -q tunneld &&
	ok "example config: running for 12 s, NRestarts=0, MainPID $pid0" ||
	bad "example config: NRestarts=$nr, $(box systemctl is-active tunneld)"
show systemctl status --no-pager tunneld
show tunnelctl status
rc=$(box sh -c 'tunnelctl status >/dev/null 2>&1; echo $?')
[ "$rc" = 1 ] && ok "tunnelctl status exits 1: nodes not up" || bad "tunnelctl status exit $rc"
show journalctl -u tunneld --no-pager -n 8 -o cat
# journalctl -x puts the catalog's text under the entry, each line after "░░"
check "journalctl -x explains an alert from the catalog" \
    sh -c 'journalctl -x -u tunneld --no-pager | grep -q "Support: man:tunneld(8)"'
show sh -c 'journalctl -x -u tunneld --no-pager | grep -m 1 -A 6 "Subject: Ollama on node"'

# One node on loopback: ssh = none and an Ollama stand-in.
port=
for _ in $(seq 50); do
	p=$((20000 + RANDOM % 20000))
	[ -z "$(ss -Htan "sport = :$p")" ] && { port=$p; break; }
done
box sh -c 'mkdir -p /usr/local/share/fx && cat >/usr/local/share/fx/ollama-version.json' \
    <<<'{"version":"0.5.7"}'
box sh -c 'cat >/usr/local/share/fx/ollama-tags.json' \
    <<<'{"models":[{"name":"qwen2.5:7b","model":"qwen2.5:7b","size":4683087332}]}'
box sh -c 'cat >/usr/local/share/fx/ollama-ps.json' <<<'{"models":[]}'
check "ollama-standin on 127.0.0.1:$port (transient unit)" systemd-run -q \
    --unit=ollama-standin /usr/local/bin/ollama-standin \
    --listen "127.0.0.1:$port" --dir /usr/local/share/fx
box sh -c "cat >/etc/tunneld/tunneld.conf" <<EOF
# edited: one node on this machine
[node local]
ssh    = none
ollama = http://127.0.0.1:$port
gpu    = none
EOF
check "tunneld --check-config of the edited file" \
    tunneld --check-config --config /etc/tunneld/tunneld.conf
check "systemctl reload tunneld" systemctl reload tunneld
for _ in $(seq 40); do
	box tunnelctl status >/dev/null 2>&1 && break
	sleep 0.5
done
show tunnelctl status
check "tunnelctl status exits 0: the node is up" tunnelctl status
[ "${pid0:-0}" != 0 ] && [ "$(box systemctl show -p MainPID --value tunneld)" = "$pid0" ] &&
	ok "reload kept MainPID $pid0" || bad "MainPID changed on reload"
show systemctl status --no-pager tunneld

box apt-get install -y -q --reinstall "$d" >>"$SDBOX_RUN/apt.log" 2>&1
check "a reinstall keeps the edited conffile" grep -q '^# edited: one node' /etc/tunneld/tunneld.conf

box sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -q tunneld' >>"$SDBOX_RUN/apt.log" 2>&1
check "apt purge: the service is gone" sh -c '! systemctl is-active -q tunneld'
check "apt purge: /etc/tunneld/tunneld.conf removed" test ! -e /etc/tunneld/tunneld.conf
box systemctl stop ollama-standin >/dev/null 2>&1
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
