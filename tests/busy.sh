#!/bin/bash
# busy.sh: the whole suite on a machine whose CPUs are saturated, run after
# run: `make check-busy`.
#
#	tests/busy.sh [--runs N] [--cpu N]
#
# Starts stress-ng (--cpu N workers, default 2, matrixprod: steady, cache-
# heavy load), then N times (default 3) runs `make check` in the build tree
# and the ASan+UBSan `make check` (./quickstart asan: build-asan/, built
# when needed), and prints each run's counts and, last, the totals as
# "N passed, N failed".  stress-ng is stopped, by its PID, when this ends,
# however it ends (its own --timeout is a second guard).  The test-suite.log
# of every run that failed is kept in tests/busy/.
#
# Tests must hold at load 10 and more (tests/README.md): every wait on a
# condition with a generous cap, no time bounds.  This is where that is
# shown.  Exit 0 when every run passed; 77 when stress-ng is missing.
set -u

usage() {
	echo "usage: $0 [--runs N] [--cpu N]" >&2
	exit 2
}

RUNS=3
CPU=2
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case $1 in
	--runs) RUNS=$2 ;;
	--cpu) CPU=$2 ;;
	*) usage ;;
	esac
	shift 2
done
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || usage
[[ $CPU =~ ^[1-9][0-9]?$ ]] || usage

if [ -z "${top_srcdir:-}" ]; then
	top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
fi
: "${top_builddir:=$top_srcdir}"

command -v stress-ng >/dev/null || {
	echo "busy: stress-ng is not installed (apt-get install stress-ng)" >&2
	exit 77
}
jobs=$(nproc)

STRESS_PID=
stop_stress() {
	local i
	[ -n "$STRESS_PID" ] || return 0
	# stress-ng stops its workers on SIGTERM and then exits.
	kill -TERM "$STRESS_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$STRESS_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$STRESS_PID" 2>/dev/null && kill -KILL "$STRESS_PID" 2>/dev/null
	wait "$STRESS_PID" 2>/dev/null
	STRESS_PID=
}
trap stop_stress EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Counts of an automake test-suite.log: "PASS FAIL SKIP" (FAIL includes
# ERROR and XPASS).
counts() {
	local k n pass=0 fail=0 skip=0
	for k in PASS FAIL ERROR XPASS SKIP; do
		n=$(sed -n "s/^# $k: *//p" "$1" | tail -n 1)
		n=${n:-0}
		case $k in
		PASS) pass=$n ;;
		SKIP) skip=$n ;;
		*) fail=$((fail + n)) ;;
		esac
	done
	echo "$pass $fail $skip"
}

mkdir -p "$top_builddir/tests/busy"
# 4 h: the longest a run of this could sensibly last.
stress-ng --cpu "$CPU" --cpu-method matrixprod --timeout 14400 \
    >"$top_builddir/tests/busy/stress-ng.log" 2>&1 </dev/null &
STRESS_PID=$!
sleep 1
kill -0 "$STRESS_PID" 2>/dev/null || {
	echo "busy: stress-ng did not start: $(cat "$top_builddir/tests/busy/stress-ng.log")" >&2
	exit 1
}
echo "busy: stress-ng --cpu $CPU --cpu-method matrixprod (pid $STRESS_PID); $RUNS runs of make check and the ASan+UBSan make check"

PASS=0 FAIL=0 SKIP=0 BAD_RUNS=0
# suite RUN NAME LOG RC: one line for a finished suite, added to the totals.
suite() {
	local c
	if [ -f "$3" ]; then
		read -r -a c < <(counts "$3")
		[ "$4" = 0 ] || [ "${c[1]}" -gt 0 ] || c[1]=1	# failed besides the tests
	else
		c=(0 1 0)
	fi
	PASS=$((PASS + c[0]))
	FAIL=$((FAIL + c[1]))
	SKIP=$((SKIP + c[2]))
	echo "busy: run $1: $2: ${c[0]} passed, ${c[1]} failed, ${c[2]} skipped (load $(cut -d' ' -f1-3 /proc/loadavg))"
	if [ "${c[1]}" -gt 0 ] || [ "$4" != 0 ]; then
		RUN_BAD=1
		if [ -f "$3" ]; then
			grep -E '^(FAIL|ERROR|XPASS): ' "$3" | sed "s/^/busy: run $1: $2:   /"
			cp "$3" "$top_builddir/tests/busy/run-$1-$2.log"
		fi
	fi
}

for ((run = 1; run <= RUNS; run++)); do
	RUN_BAD=0
	log=$top_builddir/test-suite.log
	rm -f "$log"
	rc=0
	make -C "$top_builddir" -j"$jobs" check >"$top_builddir/tests/busy/make-check.out" 2>&1 || rc=$?
	suite "$run" plain "$log" "$rc"

	log=$top_srcdir/build-asan/build/test-suite.log
	rm -f "$log"
	rc=0
	"$top_srcdir/quickstart" asan >"$top_builddir/tests/busy/asan.out" 2>&1 || rc=$?
	suite "$run" asan "$log" "$rc"
	[ "$RUN_BAD" = 0 ] || BAD_RUNS=$((BAD_RUNS + 1))
done

stop_stress
echo "busy: $((RUNS - BAD_RUNS)) of $RUNS runs clean; $SKIP skipped"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
