/*
 * fuzz_nvidia_smi: gpu_parse_nvidia_smi() on arbitrary output.
 *
 * The first byte picks the exit status (0, -1 for unknown, or 1..253), the
 * rest is the command's stdout+stderr: the parser treats a failed run
 * differently, and both paths see the same hostile bytes.  The output buffer
 * is an exact-size heap copy, so ASan sees a read one byte past LEN.
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
	size_t			 i;
	int			 status, r;

	if (size < 1)
		return 0;
	status = data[0] == 0xff ? -1 : data[0] < 0x80 ? 0 : data[0] - 0x7f;
	data++;
	size--;
	if ((out = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(out, data, size);
	r = gpu_parse_nvidia_smi(out, size, status, &s);
	free(out);

	if ((r == 0) != (s.ok == 1) || s.ngpus > GPU_MAX ||
	    s.ngpus > s.ngpus_total)
		abort();
	if (r == 0 && s.ngpus == 0)
		abort();		/* ok without a GPU: "no GPU reported" */
	if (status > 0 && r == 0)
		abort();		/* a failed run never yields a sample */
	fuzz_check_text("reason", s.reason, sizeof(s.reason));
	if (r == 0 && s.reason[0] != '\0')
		abort();
	if (r != 0 && s.reason[0] == '\0')
		abort();		/* every failure says why */
	for (i = 0; r == 0 && i < s.ngpus; i++) {
		fuzz_check_text("uuid", s.gpus[i].uuid, sizeof(s.gpus[i].uuid));
		fuzz_check_text("name", s.gpus[i].name, sizeof(s.gpus[i].name));
	}
	return 0;
}
