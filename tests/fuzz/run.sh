#!/bin/bash
# run.sh: run the libFuzzer targets, each for a fixed time, and say what
# they found.  `make fuzz` builds the binaries (clang) and calls this:
#
#	run.sh [-t SECONDS] [-b BINDIR] [-c CORPUS] [-w WORKDIR] [-j JOBS] [TARGET...]
#
#   -t  seconds per target (default 10: the CI run; `make fuzz` passes FUZZ_TIME)
#   -b  where fuzz_TARGET binaries are (default tests/fuzz/bin)
#   -c  the seed corpora, one directory per target (tests/fuzz/corpus)
#   -w  working directory (default tests/fuzz/work): the growing corpus
#       of each target (work/T/corpus, kept between runs so that coverage
#       accumulates) and what crashed (work/T/crash-*, leak-*, timeout-*)
#   -j  targets run at the same time (default 1)
#
# Prints one line per target, "PASS: T ..." or "FAIL: T ...", then
# "fuzz: N passed, N failed".  Exit 0 when nothing crashed.  A crashing
# input is fixed in the parser and kept as a regression test:
#	cp work/T/crash-HASH tests/fuzz/corpus/T/regress-WHAT
# which tests/fuzz/t_replay.sh (make check) replays every time.
set -u
secs=10 bin=tests/fuzz/bin work=tests/fuzz/work jobs=1
corpus=$(cd "$(dirname "$0")" && pwd)/corpus
while getopts t:b:c:w:j: o; do
	case $o in
	t) secs=$OPTARG ;;
	b) bin=$OPTARG ;;
	c) corpus=$OPTARG ;;
	w) work=$OPTARG ;;
	j) jobs=$OPTARG ;;
	*) sed -n '2,20p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- config nvidia_smi tegrastats ollama control
[[ $secs =~ ^[0-9]+$ ]] && [ "$secs" -ge 1 ] || { echo "run.sh: bad -t '$secs'" >&2; exit 2; }

one() {
	local t=$1 w=$work/$1 log rc crashes stats
	mkdir -p "$w/corpus"
	log=$w/fuzz.log
	if [ ! -x "$bin/fuzz_$t" ]; then
		echo "FAIL: $t: $bin/fuzz_$t not built (make fuzz-build)"
		return 1
	fi
	rm -f "$w"/crash-* "$w"/leak-* "$w"/timeout-* "$w"/oom-*
	# -timeout: one input that takes 10 s is a hang; -rss_limit_mb: so is
	# memory growth.  The outer timeout bounds libFuzzer itself.
	rc=0
	timeout -k 10 $((secs + 120)) "$bin/fuzz_$t" -max_total_time="$secs" \
	    -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix="$w/" "$w/corpus" "$corpus/$t" >"$log" 2>&1 || rc=$?
	crashes=$(ls "$w" | grep -cE '^(crash|leak|timeout|oom)-' || :)
	stats=$(grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" |
	    sed 's/^stat:://; s/number_of_executed_units/execs/; s/peak_rss_mb/rss_mb/' |
	    tr -d ' ' | tr '\n' ' ')
	local cov
	cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ] && [ "$crashes" -eq 0 ]; then
		echo "PASS: $t: ${secs}s, ${stats}${cov}"
		return 0
	fi
	echo "FAIL: $t: exit $rc, $crashes crashing input(s) in $w:"
	ls "$w" | grep -E '^(crash|leak|timeout|oom)-' | sed "s|^|    $w/|"
	grep -m1 -A12 -E '^==[0-9]+==ERROR|runtime error|^fuzz: |deadly signal' "$log" | sed 's/^/    /'
	return 1
}

pass=0 failn=0
if [ "$jobs" -le 1 ]; then
	for t; do
		if one "$t"; then pass=$((pass + 1)); else failn=$((failn + 1)); fi
	done
else
	# at most JOBS at once; each writes its verdict to work/T/verdict
	running=0
	for t; do
		mkdir -p "$work/$t"
		( one "$t" >"$work/$t/verdict" ) &
		running=$((running + 1))
		if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
	done
	wait
	for t; do
		cat "$work/$t/verdict"
		if grep -q '^PASS' "$work/$t/verdict"; then pass=$((pass + 1)); else failn=$((failn + 1)); fi
	done
fi
echo "fuzz: $pass passed, $failn failed"
[ "$failn" -eq 0 ]
