#!/bin/bash
# t_replay: every fuzz target once over its corpus (tests/fuzz/corpus/T/:
# the seeds and every input a fuzzer crashed on, kept as regress-*), built
# by `make check` with the ordinary compiler as tests/fuzz/replay_T.  A
# parser that crashes, reads out of bounds (under --enable-sanitizers) or
# breaks a target's own invariant (abort) on a known input fails here.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
fail=0
n=0
for t in config nvidia_smi tegrastats ollama control http jv; do
	bin=$top_builddir/tests/fuzz/replay_$t
	dir=$top_srcdir/tests/fuzz/corpus/$t
	[ -x "$bin" ] || { echo "FAIL: $bin is not built"; fail=1; continue; }
	[ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] ||
		{ echo "FAIL: no corpus in $dir"; fail=1; continue; }
	# bounded: the corpus is small; a hang is a failure too
	if out=$(timeout 300 "$bin" "$dir" 2>&1); then
		echo "ok: $t: $out"
		n=$((n + 1))
	else
		echo "FAIL: $t (exit $?):"
		printf '%s\n' "$out" | tail -n 40
		fail=1
	fi
done
echo "$n of 7 targets replayed cleanly"
exit $fail
