/*
 * fuzz_http: the http pool's parser paths on arbitrary bytes.
 *
 * Byte 0: bit 0 picks the request (0) or answer (1) parser, bit 1 says the
 * answers are to HEAD requests, the rest a step of 1 to 64 bytes; the other
 * bytes are a connection's stream.  pool_http_replay() runs Node's
 * http_parser with the pool's own callbacks (URL and header buffers,
 * pauses at each head and message end, the body scanned for its model)
 * once over the whole stream and once fed STEP bytes at a time, as reads
 * from a socket would cut it: both must see the same (abort otherwise).
 * Then the same bytes as a JSON body: pool_http_body_model() on the whole,
 * and on prefixes growing by STEP with the resume offset, must agree.
 */
#include <stdlib.h>
#include <string.h>

#include "pool_http.h"
#include "fuzz.h"

static void
same_seen(const struct pool_http_seen *a, const struct pool_http_seen *b)
{
	if (a->heads != b->heads || a->messages != b->messages ||
	    a->interim != b->interim || a->with_model != b->with_model ||
	    a->error != b->error || a->hash != b->hash)
		abort();
	if (a->messages > a->heads + a->interim + 1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pool_http_seen	 whole, split;
	char			 m1[POOL_HTTP_MODEL_MAX], m2[POOL_HTTP_MODEL_MAX];
	char			*buf;
	size_t			 step, r1 = 0, r2 = 0, i;
	int			 response, head, rc1, rc2 = 0;

	if (size < 1)
		return 0;
	response = data[0] & 1;
	head = (data[0] >> 1) & 1;
	step = 1 + (data[0] >> 2);
	data++;
	size--;
	if ((buf = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);

	pool_http_replay(response, head, buf, size, size ? size : 1, &whole);
	pool_http_replay(response, head, buf, size, step, &split);
	same_seen(&whole, &split);

	memset(m1, 'x', sizeof(m1));
	memset(m2, 'y', sizeof(m2));
	rc1 = pool_http_body_model(buf, size, 1, &r1, m1, sizeof(m1));
	for (i = step; ; i += step) {
		if (i >= size) {
			rc2 = pool_http_body_model(buf, size, 1, &r2, m2,
			    sizeof(m2));
			break;
		}
		if ((rc2 = pool_http_body_model(buf, i, 0, &r2, m2,
		    sizeof(m2))) != 0)
			break;
	}
	if (rc1 < -1 || rc1 > 1 || rc1 == 0 || rc1 != rc2)
		abort();
	if (rc1 == 1) {
		fuzz_check_text("model", m1, sizeof(m1));
		if (strcmp(m1, m2) != 0)
			abort();
	}
	free(buf);
	return 0;
}
