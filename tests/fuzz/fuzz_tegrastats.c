/*
 * fuzz_tegrastats: gpu_parse_tegrastats() on arbitrary output (an
 * exact-size heap copy, so a read past LEN shows under ASan).
 */
#include <stdlib.h>
#include <string.h>

#include "gpu.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gpu_sample	 s;
	char			*out;
	int			 r;

	if ((out = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(out, data, size);
	r = gpu_parse_tegrastats(out, size, &s);
	free(out);

	if ((r == 0) != (s.ok == 1))
		abort();
	fuzz_check_text("reason", s.reason, sizeof(s.reason));
	if (r != 0 && s.reason[0] == '\0')
		abort();
	if (r == 0) {
		/* one Jetson GPU, index 0, no uuid */
		if (s.ngpus != 1 || s.gpus[0].index != 0 ||
		    s.gpus[0].uuid[0] != '\0')
			abort();
		fuzz_check_text("name", s.gpus[0].name, sizeof(s.gpus[0].name));
		if (s.gpus[0].has_util &&
		    (s.gpus[0].util_pct < 0 || s.gpus[0].util_pct > 100))
			abort();
		if (s.gpus[0].has_temp &&
		    (s.gpus[0].temp_c < -50 || s.gpus[0].temp_c > 200))
			abort();
	}
	return 0;
}
