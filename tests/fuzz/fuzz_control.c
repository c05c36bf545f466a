/*
 * fuzz_control: control_parse(), the first thing every control-socket
 * client reaches, on arbitrary request lines (an exact-size heap copy,
 * without a NUL, as the daemon hands it over from its evbuffer).
 */
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_request	 req;
	char			 err[256], *line;
	int			 r;

	if ((line = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	memset(err, 'x', sizeof(err));
	r = control_parse(line, size, &req, err, sizeof(err));
	free(line);
	if (r == 0) {
		fuzz_check_text("arg", req.arg, sizeof(req.arg));
		fuzz_check_text("model", req.model, sizeof(req.model));
		if (size > CTL_LINE_MAX)
			abort();	/* an overlong line is never accepted */
		(void)control_cmd_mutates(req.cmd);
	} else if (r == -1) {
		if (strnlen(err, sizeof(err)) == sizeof(err) || err[0] == '\0')
			abort();	/* the client is told something */
	} else
		abort();
	return 0;
}
