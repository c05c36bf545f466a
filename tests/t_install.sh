#!/bin/bash
#
# t_install.sh: `make install` gives an operator a working set of files, and
# `make uninstall` takes back only what it gave.
#
#   - the example configuration becomes $(sysconfdir)/tunneld/tunneld.conf
#     where there is none, and a config already there (the operator's) is
#     never overwritten; uninstall removes the config only while it is still
#     the example;
#   - every relative link of the installed README.md leads to an installed
#     file (doc/DESIGN.md, doc/PROBES.md, units/README.md, etc/tunneld.conf);
#   - the manual pages, the unit, sysusers.d entry and catalog are in place,
#     and the unit's Documentation= names installed things;
#   - the daemon's default config path is under the configured sysconfdir.
# All under a DESTDIR in $T, with prefix=/usr sysconfdir=/etc, as a package.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

D=$T/dest
# A make of its own, not a job of the make check that runs this test.
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" \
	    DESTDIR="$D" prefix=/usr sysconfdir=/etc "$@" >>"$T/make.log" 2>&1 ||
		td_fail "make $*: $(tail -n 20 "$T/make.log")"
}

mk install
conf=$D/etc/tunneld/tunneld.conf
doc=$D/usr/share/doc/tunneld
[ -f "$conf" ] || td_fail "no $conf after make install"
cmp -s "$conf" "$top_srcdir/etc/tunneld.conf" || td_fail "$conf is not the example"
for f in README.md doc/DESIGN.md doc/PROBES.md units/README.md etc/tunneld.conf \
    ../../man/man8/tunneld.8 ../../man/man8/tunnelctl.8 ../../man/man5/tunneld.conf.5; do
	[ -f "$doc/$f" ] || td_fail "not installed: ${doc#"$D"}/$f"
done
for f in /usr/lib/sysusers.d/tunneld.conf /usr/lib/systemd/catalog/tunneld.catalog \
    /usr/lib/systemd/system/tunneld.service /usr/sbin/tunneld /usr/bin/tunnelctl; do
	[ -e "$D$f" ] || td_fail "not installed: $f"
done
td_ok "make install: config from the example, docs, man pages, unit, sysusers, catalog"

# Relative links of the installed README: [text](path) and [text](path#frag).
n=0
while read -r link; do
	n=$((n + 1))
	[ -e "$doc/${link%%#*}" ] || td_fail "installed README.md links to $link, not installed"
done < <(grep -o '\](\([^)]*\))' "$doc/README.md" | sed 's/^](\(.*\))$/\1/' |
    grep -v -E '^[a-z]+:|^#')
[ "$n" -ge 4 ] || td_fail "found only $n relative links in README.md"
grep -q '^Documentation=.*man:tunneld(8)' "$D/usr/lib/systemd/system/tunneld.service" ||
	td_fail "the unit's Documentation= lacks man:tunneld(8)"
# (the unit is made at build time with the configured docdir, not this one)
grep -q "^Documentation=file:///.*/doc/tunneld/README.md$" \
    "$D/usr/lib/systemd/system/tunneld.service" || td_fail "the unit's Documentation= lacks the README"
td_ok "the installed README's $n relative links all resolve"

# The daemon's default config is where its own install puts it: the
# sysconfdir it was configured with (the unit names it too).
configured=$(sed -n 's/^sysconfdir = //p' "$top_builddir/Makefile")
configured_prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
configured=${configured//\$\{prefix\}/$configured_prefix}
"$TUNNELD" --help | grep -qF "(default $configured/tunneld/tunneld.conf)" ||
	td_fail "tunneld's default config is not under $configured: $("$TUNNELD" --help | grep -F default | head -n 1)"
grep -qF -- "--config $configured/tunneld/tunneld.conf" "$top_builddir/units/tunneld.service" ||
	td_fail "the unit's config is not under $configured"
td_ok "the default config is $configured/tunneld/tunneld.conf, as make install and the unit have it"

# The operator edits the config: a new install keeps it.
echo "# edited by the operator" >>"$conf"
cp "$conf" "$T/edited"
mk install
cmp -s "$conf" "$T/edited" || td_fail "make install overwrote an edited $conf"
grep -q 'exists: kept' "$T/make.log" || td_fail "make install did not say it kept the config"
mk uninstall
cmp -s "$conf" "$T/edited" || td_fail "make uninstall removed or changed the edited config"
left=$(cd "$D" && find . -type f ! -path ./etc/tunneld/tunneld.conf | sort)
[ -z "$left" ] || td_fail "make uninstall left: $left"
td_ok "an edited config survives install and uninstall; everything else is removed"

# The untouched example goes with uninstall.
rm -rf "$D"
mk install
mk uninstall
[ ! -e "$conf" ] || td_fail "make uninstall kept the unedited example config"
td_ok "an unedited example config is removed by uninstall"
