/*
 * fuzz_config: config_load() on arbitrary files.
 *
 * The input is written to a memfd and loaded through /proc/self/fd/N, the
 * daemon's own path from file to struct config (embedded NULs, no final
 * newline, CRs, overlong lines and all).  A config that loads is then
 * compared with itself and with a second load of the same bytes, which
 * walks every node, forward and list the parser built.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* memfd_create */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "fuzz.h"

static int	 fd = -1;
static char	 path[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors	 errs = { NULL, 0 };
	struct config		*a, *b;
	struct node_conf	*n, *m;
	size_t			 i;

	if (fd == -1) {
		log_init(LOG_TARGET_STDERR, 0);
		if ((fd = memfd_create("fuzz_config", MFD_CLOEXEC)) == -1)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) == -1 ||
	    (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();

	a = config_load(path, &errs);
	if ((a == NULL) != (errs.n > 0))
		abort();		/* a config or its errors, never both */
	for (i = 0; i < errs.n; i++)
		if (errs.msg[i] == NULL || strncmp(errs.msg[i], path,
		    strlen(path)) != 0)
			abort();	/* every message names the file */
	config_errors_clear(&errs);
	if (a == NULL)
		return 0;

	if ((b = config_load(path, &errs)) == NULL)
		abort();		/* same bytes, same verdict */
	if (!config_global_equal(a, b) || a->nnodes != b->nnodes)
		abort();
	TAILQ_FOREACH(n, &a->nodes, entry) {
		if ((m = config_find_node(b, n->name)) == NULL ||
		    !node_conf_equal(n, m))
			abort();
	}
	config_free(b);
	config_free(a);
	return 0;
}
