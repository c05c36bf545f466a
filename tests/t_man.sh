#!/bin/bash
#
# t_man.sh: the manual pages are clean mdoc and say what the code does.
#
#   - `mandoc -Tlint -Wstyle` reports nothing on any page, style included
#     (only "referenced manual not found", which depends on the pages this
#     machine has installed; references between our own pages are checked
#     here instead);
#   - tunneld.conf(5) has an entry for every key supervisor/config.c knows,
#     tunnelctl(8) for every command of tunnelctl.c, tunneld(8) for every
#     long option of main.c: a key, command or option added without its
#     documentation fails here.

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"
td_setup

command -v mandoc >/dev/null || td_skip "mandoc is not installed (apt-get install mandoc)"
M=$top_srcdir/man
pages=("$M/tunneld.8" "$M/tunnelctl.8" "$M/tunneld.conf.5")

bad=
for p in "${pages[@]}"; do
	[ -f "$p" ] || td_fail "$p is missing"
	out=$(mandoc -Tlint -Wstyle "$p" 2>&1 |
	    grep -v -e 'referenced manual not found' -e 'mandoc\.db' || :)
	[ -z "$out" ] || bad+="$out"$'\n'
	# Our own cross references must name one of our pages.
	while read -r name sec; do
		[ -f "$M/$name.$sec" ] || bad+="$p: .Xr $name $sec: no such page in man/"$'\n'
	done < <(sed -n 's/^\.Xr \(tunnel[a-z.]*\) \([0-9]\).*/\1 \2/p' "$p")
done
[ -z "$bad" ] || td_fail "mandoc -Tlint:"$'\n'"$bad"
td_ok "mandoc -Tlint -Wstyle: no message on ${#pages[@]} pages"

# documented PAGE MACRO WHAT MIN WORD...: every WORD (at least MIN of them,
# or the reading of the source went wrong) has its "MACRO WORD" in PAGE.
documented() {
	local page=$1 macro=$2 what=$3 min=$4 w missing=
	shift 4
	[ $# -ge "$min" ] || td_fail "read only $# $what from the sources"
	for w; do
		grep -q -E "^\.?$macro $w( |$)" "$M/$page" || missing+=" $w"
	done
	[ -z "$missing" ] || td_fail "$page lacks an entry '$macro ...' for:$missing"
	td_ok "$page documents all $# $what"
}

# keys of config.c's tables, G("name", ...) and O("name", ...); commands of
# tunnelctl.c's cmd_defs; long options of main.c
# shellcheck disable=SC2046
documented tunneld.conf.5 '.It Ic' keys 30 \
    $(sed -n 's/.*\b[GO]("\([a-z_]*\)".*/\1/p' "$top_srcdir/supervisor/config.c" | sort -u)
# shellcheck disable=SC2046
documented tunnelctl.8 '.It Cm' commands 9 \
    $(sed -n 's/^[[:space:]]*{ "\([a-z]*\)",[[:space:]]*CMD_.*/\1/p' "$top_srcdir/supervisor/tunnelctl.c")
# shellcheck disable=SC2046
documented tunneld.8 '.*Fl Fl' options 5 \
    $(sed -n 's/^[[:space:]]*{ "\([a-z-]*\)",[[:space:]]*[a-z_]*_argument.*/\1/p' "$top_srcdir/supervisor/main.c")
