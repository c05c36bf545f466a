#!/bin/bash
# t_metrics_cap: answers being written on metrics_listen are capped (32),
# requests that come some time after the accept included; past the cap a
# request is answered 503.  Each answer holds its own copy of the
# exposition until the kernel has taken it.  Before, the cap was checked
# only at the accept, where such a client still counted as waiting for its
# request, so readers that asked 20 ms after connecting and never read
# held a copy each: 300 of them took tunneld from 85 MB to 912 MB (4,000
# nodes).
#
# In a private network namespace whose TCP send buffers are kept small
# (net.ipv4.tcp_wmem), so that a 1,000-node exposition does not fit in
# the kernel for a reader that does not read; skipped where namespaces
# are refused.
# shellcheck source-path=SCRIPTDIR source=lib.sh
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=tests/netns.sh
. "$top_srcdir/tests/netns.sh"
netns_enter "$@"
. "$top_srcdir/tests/lib.sh"
td_setup
command -v curl >/dev/null || td_skip "no curl (apt-get install curl)"
[ -x "$TD_TUNNEL_HELPER" ] || td_fail "$TD_TUNNEL_HELPER is not built (make check builds it)"
sysctl -q -w net.ipv4.tcp_wmem="4096 16384 65536" ||
	td_skip "cannot set net.ipv4.tcp_wmem in the namespace"

METRICS=$(td_port)
{
	tunneld_conf_head probe_interval=300s metrics_listen=127.0.0.1:$METRICS
	for ((i = 0; i < 1000; i++)); do
		printf '[node m%d]\nssh = none\nollama = none\ngpu = none\n\n' "$i"
	done
} >"$T/tunneld.conf"
tunneld_start "$T/tunneld.conf"
td_wait 30 curl -sf -m 5 -o "$T/m.prom" "http://127.0.0.1:$METRICS/metrics" ||
	td_fail "no scrape: $(tail -n 3 "$T/tunneld.log")"
size=$(wc -c <"$T/m.prom")
[ "$size" -gt 262144 ] || td_fail "the exposition is only $size bytes: the check needs more"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$TUNNELD_PID/status"; }
rss0=$(rss)

# 100 readers, each asking 20 ms after its connect, reading only the
# status line of the answer and leaving the rest.
out=$("$TD_TUNNEL_HELPER" hold "$METRICS" 100 'GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n') ||
	td_fail "tunnel-helper hold failed: $out"
ok=${out%% *}; ok=${ok#200=}
busy=${out#* }; busy=${busy%% *}; busy=${busy#503=}
[ "$ok" -le 32 ] && [ "$busy" -ge 60 ] ||
	td_fail "100 readers that never read: $out; at most 32 may be answered, the rest 503"
curl -sf -m 20 -o /dev/null "http://127.0.0.1:$METRICS/metrics" ||
	td_fail "no scrape after the readers left"
td_ok "100 readers that never read a $size-byte exposition: $out; RSS $rss0 KiB before"

rc=0
tunneld_stop || rc=$?
[ "$rc" = 0 ] || td_fail "tunneld exited $rc"
