/*
 * replay: a main() for the fuzz targets without libFuzzer.
 *
 *	replay_config FILE|DIR...
 *
 * Runs LLVMFuzzerTestOneInput() once on each FILE and on each regular file
 * in each DIR (not recursive), in name order, and prints how many ran.  A
 * crash is the test's failure: built with --enable-sanitizers it is a
 * sanitizer report, without them an abort() of a target's own check or a
 * plain SIGSEGV.  `make check` runs it over tests/fuzz/corpus/<target> (the
 * seeds and every input a fuzzer once crashed on).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define REPLAY_FILE_MAX	(4 * 1024 * 1024)

static int
replay_file(const char *path)
{
	FILE		*fp;
	uint8_t		*buf;
	size_t		 len = 0, r;

	if ((fp = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if ((buf = malloc(REPLAY_FILE_MAX)) == NULL) {
		fclose(fp);
		return -1;
	}
	while (len < REPLAY_FILE_MAX &&
	    (r = fread(buf + len, 1, REPLAY_FILE_MAX - len, fp)) > 0)
		len += r;
	if (ferror(fp) || !feof(fp)) {
		fprintf(stderr, "replay: %s: read error or larger than %d "
		    "bytes\n", path, REPLAY_FILE_MAX);
		fclose(fp);
		free(buf);
		return -1;
	}
	fclose(fp);
	/* an exact-size copy: a read past the end shows under ASan */
	{
		uint8_t	*exact = malloc(len ? len : 1);

		if (exact == NULL) {
			free(buf);
			return -1;
		}
		memcpy(exact, buf, len);
		free(buf);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	return 0;
}

static int
name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int
main(int argc, char *argv[])
{
	struct dirent	**ents;
	struct stat	 st;
	char		 path[4096];
	int		 i, j, n, ran = 0, bad = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			bad++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i]) == 0)
				ran++;
			else
				bad++;
			continue;
		}
		if ((n = scandir(argv[i], &ents, NULL, name_cmp)) == -1) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			bad++;
			continue;
		}
		for (j = 0; j < n; j++) {
			snprintf(path, sizeof(path), "%s/%s", argv[i],
			    ents[j]->d_name);
			if (ents[j]->d_name[0] != '.' &&
			    stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (replay_file(path) == 0)
					ran++;
				else
					bad++;
			}
			free(ents[j]);
		}
		free(ents);
	}
	printf("%s: %d inputs replayed, %d unreadable\n", argv[0], ran, bad);
	return bad ? 1 : 0;
}
