/*
 * fuzz.h: what every fuzz target shares.
 *
 * Each fuzz_*.c defines LLVMFuzzerTestOneInput() and nothing else, so that
 * the same file links two ways:
 *  - with clang -fsanitize=fuzzer (libFuzzer's main): `make fuzz`;
 *  - with replay.c's main() and the ordinary compiler: the check program
 *    tests/fuzz/replay_* that `make check` runs over the seed corpus and the
 *    saved crashers, with or without --enable-sanitizers.
 */
#ifndef TUNNELD_FUZZ_H
#define TUNNELD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Touch every byte of a NUL-terminated result, so that a missing terminator
 * or an uninitialised buffer shows under ASan/valgrind even when nothing
 * else reads it, and check that the text the parser promises to be printable
 * is: a control character that reaches the journal, JSON or a terminal is a
 * bug.  Aborts (a crash libFuzzer keeps) on a violation.
 */
void	fuzz_check_text(const char *what, const char *s, size_t bufsz);

#endif
