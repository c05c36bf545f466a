/*
 * check_probes: unit tests for the probe parsers (probes/gpu.c,
 * probes/ollama.c) against the fixtures in tests/fixtures/.
 *
 * Fixtures are read from $top_srcdir/tests/fixtures (top_srcdir defaults to
 * ".") into heap buffers of exactly their size, with no NUL after them, so
 * that AddressSanitizer or valgrind catch any read past LEN.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gpu.h"
#include "ollama.h"

/* ---------------------------------------------------------------- helpers */

/*
 * Assertions for the hot loops: Check records every passing ck_assert (a
 * write per call), which makes 10^6 of them take minutes.
 */
#define REQUIRE(cond, ...)						\
	do {								\
		if (!(cond))						\
			ck_abort_msg(__VA_ARGS__);			\
	} while (0)

/* A heap copy of exactly N bytes (no terminator; 1 byte when N is 0). */
static char *
exact(const char *s, size_t n)
{
	char	*b = malloc(n ? n : 1);

	REQUIRE(b != NULL, "out of memory");
	if (n)
		memcpy(b, s, n);
	return b;
}

static char *
fixture(const char *name, size_t *len)
{
	const char	*top = getenv("top_srcdir");
	char		 path[4096], chunk[4096], *buf = NULL, *nb;
	size_t		 n = 0, r;
	FILE		*f;

	if (top == NULL || *top == '\0')
		top = ".";
	snprintf(path, sizeof(path), "%s/tests/fixtures/%s", top, name);
	f = fopen(path, "rb");
	if (f == NULL)
		ck_abort_msg("cannot open fixture %s: %s", path, strerror(errno));
	while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		nb = realloc(buf, n + r);
		ck_assert_ptr_nonnull(nb);
		buf = nb;
		memcpy(buf + n, chunk, r);
		n += r;
	}
	fclose(f);
	if (buf == NULL)
		buf = malloc(1);
	*len = n;
	return buf;
}

static int
nsmi_str(const char *text, int status, struct gpu_sample *s)
{
	size_t	 n = strlen(text);
	char	*b = exact(text, n);
	int	 rc = gpu_parse_nvidia_smi(b, n, status, s);

	free(b);
	return rc;
}

static int
nsmi_fixture(const char *name, int status, struct gpu_sample *s)
{
	size_t	 n;
	char	*b = fixture(name, &n);
	int	 rc = gpu_parse_nvidia_smi(b, n, status, s);

	free(b);
	return rc;
}

static int
tegra_str(const char *text, struct gpu_sample *s)
{
	size_t	 n = strlen(text);
	char	*b = exact(text, n);
	int	 rc = gpu_parse_tegrastats(b, n, s);

	free(b);
	return rc;
}

static int
tegra_fixture(const char *name, struct gpu_sample *s)
{
	size_t	 n;
	char	*b = fixture(name, &n);
	int	 rc = gpu_parse_tegrastats(b, n, s);

	free(b);
	return rc;
}

typedef int (*ollama_fn)(const char *, size_t, struct ollama_info *, char *);

static int
ollama_str(ollama_fn fn, const char *text, struct ollama_info *info,
    char *reason)
{
	size_t	 n = strlen(text);
	char	*b = exact(text, n);
	int	 rc = fn(b, n, info, reason);

	free(b);
	return rc;
}

static int
ollama_fixture(ollama_fn fn, const char *name, struct ollama_info *info,
    char *reason)
{
	size_t	 n;
	char	*b = fixture(name, &n);
	int	 rc = fn(b, n, info, reason);

	free(b);
	return rc;
}

static struct ollama_info *
info_new(void)
{
	struct ollama_info *i = calloc(1, sizeof(*i));

	ck_assert_ptr_nonnull(i);
	return i;
}

static void
info_free(struct ollama_info *i)
{
	ollama_info_clear(i);
	free(i);
}

/* Printable, valid UTF-8, NUL-terminated within SZ: jansson accepts it. */
static void
assert_clean_text(const char *s, size_t sz)
{
	json_t	*j;
	size_t	 i, n = strnlen(s, sz);

	REQUIRE(n < sz, "text not terminated");
	for (i = 0; i < n; i++)
		REQUIRE((unsigned char)s[i] >= 0x20 && s[i] != 0x7f,
		    "control byte 0x%02x in '%s'", (unsigned char)s[i], s);
	j = json_string(s);
	REQUIRE(j != NULL, "not valid UTF-8: '%s'", s);
	json_decref(j);
}

static void
assert_gpu(const struct gpu_info *g, int index, const char *uuid,
    const char *name)
{
	ck_assert_int_eq(g->index, index);
	ck_assert_str_eq(g->uuid, uuid);
	ck_assert_str_eq(g->name, name);
}

#define TOL	1e-9

static const char *const nsmi_2x4090 =
    "0, GPU-5f0e1d2c-8a41-4b7e-9d2a-0c1b2a3d4e5f, NVIDIA GeForce RTX 4090, "
    "29, 0, 507, 24564, 22.00, 450.00\n"
    "1, GPU-0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d, NVIDIA GeForce RTX 4090, "
    "31, 87, 21311, 24564, 398.41, 450.00\n";

static void
assert_2x4090(const struct gpu_sample *s)
{
	ck_assert_int_eq(s->ok, 1);
	ck_assert_str_eq(s->reason, "");
	ck_assert_uint_eq(s->ngpus, 2);
	ck_assert_uint_eq(s->ngpus_total, 2);
	assert_gpu(&s->gpus[0], 0, "GPU-5f0e1d2c-8a41-4b7e-9d2a-0c1b2a3d4e5f",
	    "NVIDIA GeForce RTX 4090");
	ck_assert_int_eq(s->gpus[0].has_temp, 1);
	ck_assert_int_eq(s->gpus[0].temp_c, 29);
	ck_assert_int_eq(s->gpus[0].has_util, 1);
	ck_assert_int_eq(s->gpus[0].util_pct, 0);
	ck_assert_int_eq(s->gpus[0].has_mem_used, 1);
	ck_assert_int_eq(s->gpus[0].mem_used_mib, 507);
	ck_assert_int_eq(s->gpus[0].has_mem_total, 1);
	ck_assert_int_eq(s->gpus[0].mem_total_mib, 24564);
	ck_assert_int_eq(s->gpus[0].has_power, 1);
	ck_assert_double_eq_tol(s->gpus[0].power_w, 22.0, TOL);
	ck_assert_int_eq(s->gpus[0].has_power_limit, 1);
	ck_assert_double_eq_tol(s->gpus[0].power_limit_w, 450.0, TOL);
	assert_gpu(&s->gpus[1], 1, "GPU-0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d",
	    "NVIDIA GeForce RTX 4090");
	ck_assert_int_eq(s->gpus[1].has_temp, 1);
	ck_assert_int_eq(s->gpus[1].temp_c, 31);
	ck_assert_int_eq(s->gpus[1].has_util, 1);
	ck_assert_int_eq(s->gpus[1].util_pct, 87);
	ck_assert_int_eq(s->gpus[1].mem_used_mib, 21311);
	ck_assert_int_eq(s->gpus[1].mem_total_mib, 24564);
	ck_assert_double_eq_tol(s->gpus[1].power_w, 398.41, TOL);
	ck_assert_double_eq_tol(s->gpus[1].power_limit_w, 450.0, TOL);
}

/* ------------------------------------------------------ nvidia-smi: good */

START_TEST(test_nsmi_2x4090)
{
	struct gpu_sample s;

	ck_assert_int_eq(nsmi_fixture("nvidia-smi-2x4090.txt", 0, &s), 0);
	assert_2x4090(&s);
	/* Unknown exit status: judged by the output alone. */
	ck_assert_int_eq(nsmi_fixture("nvidia-smi-2x4090.txt", -1, &s), 0);
	assert_2x4090(&s);
}
END_TEST

START_TEST(test_nsmi_h100)
{
	struct gpu_sample s;
	const struct gpu_info *g = &s.gpus[0];

	ck_assert_int_eq(nsmi_fixture("nvidia-smi-h100.txt", 0, &s), 0);
	ck_assert_int_eq(s.ok, 1);
	ck_assert_uint_eq(s.ngpus, 1);
	assert_gpu(g, 0, "GPU-2b7c1e90-33a4-4f1d-a9e2-77c0d4b1e6a3",
	    "NVIDIA H100 80GB HBM3");
	ck_assert_int_eq(g->has_temp, 1);
	ck_assert_int_eq(g->temp_c, 41);
	ck_assert_int_eq(g->has_util, 1);
	ck_assert_int_eq(g->util_pct, 0);
	ck_assert_int_eq(g->has_mem_used, 1);
	ck_assert_int_eq(g->mem_used_mib, 0);
	ck_assert_int_eq(g->mem_total_mib, 81559);
	ck_assert_int_eq(g->has_power, 1);
	ck_assert_double_eq_tol(g->power_w, 69.85, TOL);
	ck_assert_double_eq_tol(g->power_limit_w, 700.0, TOL);
}
END_TEST

START_TEST(test_nsmi_h100_mig)
{
	struct gpu_sample s;
	const struct gpu_info *g = &s.gpus[0];

	ck_assert_int_eq(nsmi_fixture("nvidia-smi-h100-mig.txt", 0, &s), 0);
	ck_assert_int_eq(s.ok, 1);
	ck_assert_uint_eq(s.ngpus, 1);
	assert_gpu(g, 0, "GPU-2b7c1e90-33a4-4f1d-a9e2-77c0d4b1e6a3",
	    "NVIDIA H100 80GB HBM3");
	ck_assert_int_eq(g->has_temp, 1);
	ck_assert_int_eq(g->temp_c, 42);
	ck_assert_int_eq(g->has_util, 0);	/* [N/A]: absent, not 0 */
	ck_assert_int_eq(g->util_pct, 0);
	ck_assert_int_eq(g->has_mem_used, 1);
	ck_assert_int_eq(g->mem_used_mib, 59);
	ck_assert_int_eq(g->mem_total_mib, 81559);
	ck_assert_double_eq_tol(g->power_w, 71.15, TOL);
	ck_assert_double_eq_tol(g->power_limit_w, 700.0, TOL);
}
END_TEST

START_TEST(test_nsmi_a100_nosupport)
{
	struct gpu_sample s;
	const struct gpu_info *g = &s.gpus[0];

	ck_assert_int_eq(nsmi_fixture("nvidia-smi-a100-nosupport.txt", 0, &s),
	    0);
	ck_assert_int_eq(s.ok, 1);
	assert_gpu(g, 0, "GPU-9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
	    "NVIDIA A100-SXM4-80GB");
	ck_assert_int_eq(g->temp_c, 35);
	ck_assert_int_eq(g->util_pct, 12);
	ck_assert_int_eq(g->mem_used_mib, 4012);
	ck_assert_int_eq(g->mem_total_mib, 81920);
	ck_assert_int_eq(g->has_power, 0);	/* [Not Supported] */
	ck_assert_int_eq(g->has_power_limit, 1);
	ck_assert_double_eq_tol(g->power_limit_w, 400.0, TOL);
}
END_TEST

START_TEST(test_nsmi_absent_tokens)
{
	struct gpu_sample s;
	const struct gpu_info *g = &s.gpus[0];

	ck_assert_int_eq(nsmi_str("0, GPU-x, Tesla T4, N/A, "
	    "[Insufficient Permissions], [N/A], [Not Supported], N/A, [N/A]\n",
	    0, &s), 0);
	ck_assert_int_eq(s.ok, 1);
	assert_gpu(g, 0, "GPU-x", "Tesla T4");
	ck_assert_int_eq(g->has_temp, 0);
	ck_assert_int_eq(g->has_util, 0);
	ck_assert_int_eq(g->has_mem_used, 0);
	ck_assert_int_eq(g->has_mem_total, 0);
	ck_assert_int_eq(g->has_power, 0);
	ck_assert_int_eq(g->has_power_limit, 0);
}
END_TEST

START_TEST(test_nsmi_crlf_spaces_no_newline)
{
	struct gpu_sample s;

	/* CRLF line ends. */
	ck_assert_int_eq(nsmi_str(
	    "0, GPU-5f0e1d2c-8a41-4b7e-9d2a-0c1b2a3d4e5f, NVIDIA GeForce RTX 4090, "
	    "29, 0, 507, 24564, 22.00, 450.00\r\n"
	    "1, GPU-0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d, NVIDIA GeForce RTX 4090, "
	    "31, 87, 21311, 24564, 398.41, 450.00\r\n", 0, &s), 0);
	assert_2x4090(&s);
	/* Trailing blanks, blank lines, no final newline. */
	ck_assert_int_eq(nsmi_str(
	    "\n  0, GPU-5f0e1d2c-8a41-4b7e-9d2a-0c1b2a3d4e5f, NVIDIA GeForce RTX 4090, "
	    "29, 0, 507, 24564, 22.00, 450.00   \t\n\r\n"
	    "1, GPU-0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d, NVIDIA GeForce RTX 4090, "
	    "31,87,21311 ,24564, 398.41, 450.00 \r", 0, &s), 0);
	assert_2x4090(&s);
}
END_TEST

START_TEST(test_nsmi_not_nul_terminated)
{
	struct gpu_sample s;
	size_t	 n = strlen(nsmi_2x4090);
	char	*b = malloc(n + 8);

	/* LEN stops before bytes that would break the parse if read. */
	memcpy(b, nsmi_2x4090, n);
	memcpy(b + n, "9, junk!", 8);
	ck_assert_int_eq(gpu_parse_nvidia_smi(b, n, 0, &s), 0);
	assert_2x4090(&s);
	/* Cut in the last number: "450.0" without newline is still fine. */
	ck_assert_int_eq(gpu_parse_nvidia_smi(b, n - 2, 0, &s), 0);
	ck_assert_double_eq_tol(s.gpus[1].power_limit_w, 450.0, TOL);
	free(b);
}
END_TEST

START_TEST(test_nsmi_17_gpus)
{
	struct gpu_sample s;
	char	buf[4096];
	size_t	o = 0;
	int	i;

	for (i = 0; i < 17; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o,
		    "%d, GPU-00000000-0000-0000-0000-0000000000%02d, "
		    "NVIDIA A100-SXM4-40GB, %d, %d, 100, 40960, 60.50, 400.00\n",
		    i, i, 30 + i, i);
	ck_assert_int_eq(nsmi_str(buf, 0, &s), 0);
	ck_assert_int_eq(s.ok, 1);
	ck_assert_uint_eq(s.ngpus, GPU_MAX);
	ck_assert_uint_eq(s.ngpus_total, 17);
	for (i = 0; i < GPU_MAX; i++) {
		ck_assert_int_eq(s.gpus[i].index, i);
		ck_assert_int_eq(s.gpus[i].temp_c, 30 + i);
		ck_assert_int_eq(s.gpus[i].util_pct, i);
	}
	ck_assert_str_eq(s.gpus[15].uuid,
	    "GPU-00000000-0000-0000-0000-000000000015");
	/* Lines past GPU_MAX are still validated. */
	snprintf(buf + o, sizeof(buf) - o, "17, GPU-y, X, hot, 0, 1, 2, 3, 4\n");
	ck_assert_int_eq(nsmi_str(buf, 0, &s), -1);
	ck_assert_str_eq(s.reason, "malformed nvidia-smi line 18: "
	    "temperature.gpu 'hot' is not a valid value");
	ck_assert_uint_eq(s.ngpus, 0);
}
END_TEST

/*
 * Real captures: an NVIDIA H200 with driver 580.159.04 (tests/fixtures/
 * README.md), idle and while a CUDA program held 60 GiB and ran at 100 %.
 */
#define H200_UUID	"GPU-8dc0a74d-116a-f25d-764c-b98f64f50e7b"

START_TEST(test_nsmi_h200_idle)
{
	struct gpu_sample s;
	const struct gpu_info *g = &s.gpus[0];

	ck_assert_int_eq(nsmi_fixture("nvidia-smi-h200.txt", 0, &s), 0);
	ck_assert_int_eq(s.ok, 1);
	ck_assert_uint_eq(s.ngpus, 1);
	ck_assert_uint_eq(s.ngpus_total, 1);
	assert_gpu(g, 0, H200_UUID, "NVIDIA H200");
	ck_assert_int_eq(g->has_temp, 1);
	ck_assert_int_eq(g->temp_c, 36);
	ck_assert_int_eq(g->has_util, 1);
	ck_assert_int_eq(g->util_pct, 0);
	ck_assert_int_eq(g->has_mem_used, 1);
	ck_assert_int_eq(g->mem_used_mib, 0);
	ck_assert_int_eq(g->has_mem_total, 1);
	ck_assert_int_eq(g->mem_total_mib, 143771);
	ck_assert_int_eq(g->has_power, 1);
	ck_assert_double_eq_tol(g->power_w, 108.21, TOL);
	ck_assert_int_eq(g->has_power_limit, 1);
	ck_assert_double_eq_tol(g->power_limit_w, 700.0, TOL);
	ck_assert_int_eq(gpu_mem_pct(g), 0);
}
END_TEST

START_TEST(test_nsmi_h200_busy)
{
	struct gpu_sample s;
	const struct gpu_info *g = &s.gpus[0];

	ck_assert_int_eq(nsmi_fixture("nvidia-smi-h200-busy.txt", 0, &s), 0);
	ck_assert_int_eq(s.ok, 1);
	ck_assert_uint_eq(s.ngpus, 1);
	assert_gpu(g, 0, H200_UUID, "NVIDIA H200");
	ck_assert_int_eq(g->temp_c, 49);
	ck_assert_int_eq(g->util_pct, 100);
	ck_assert_int_eq(g->mem_used_mib, 61967);
	ck_assert_int_eq(g->mem_total_mib, 143771);
	ck_assert_double_eq_tol(g->power_w, 473.21, TOL);
	ck_assert_double_eq_tol(g->power_limit_w, 700.0, TOL);
	/* 61967 of 143771 MiB: 43 %, over a 40 % limit, under 50 %. */
	ck_assert_int_eq(gpu_mem_pct(g), 43);
	ck_assert_int_eq(gpu_mem_over(g, 40), 1);
	ck_assert_int_eq(gpu_mem_over(g, 50), 0);
	ck_assert_int_eq(gpu_temp_over(g, 45), 1);
	ck_assert_int_eq(gpu_temp_over(g, 85), 0);
}
END_TEST

/* Each of the 8 samples taken under load, parsed as one answer. */
START_TEST(test_nsmi_h200_busy_samples)
{
	static const double	 power[] = { 473.21, 430.19, 430.42, 430.13,
				    430.10, 430.21, 430.38, 430.69 };
	static const int	 temp[] = { 49, 48, 49, 49, 49, 49, 49, 49 };
	struct gpu_sample	 s;
	const struct gpu_info	*g = &s.gpus[0];
	size_t			 n, i = 0, len;
	char			*b = fixture("nvidia-smi-h200-busy-samples.txt",
				    &n), *p = b, *nl;

	while (p < b + n) {
		nl = memchr(p, '\n', (size_t)(b + n - p));
		ck_assert_ptr_nonnull(nl);
		len = (size_t)(nl - p) + 1;
		ck_assert_uint_lt(i, 8);
		ck_assert_int_eq(gpu_parse_nvidia_smi(p, len, 0, &s), 0);
		ck_assert_uint_eq(s.ngpus, 1);
		assert_gpu(g, 0, H200_UUID, "NVIDIA H200");
		ck_assert_int_eq(g->temp_c, temp[i]);
		ck_assert_int_eq(g->util_pct, 100);
		ck_assert_int_eq(g->mem_used_mib, 61967);
		ck_assert_int_eq(g->mem_total_mib, 143771);
		ck_assert_double_eq_tol(g->power_w, power[i], TOL);
		ck_assert_double_eq_tol(g->power_limit_w, 700.0, TOL);
		p = nl + 1;
		i++;
	}
	ck_assert_uint_eq(i, 8);
	free(b);
}
END_TEST

/* ------------------------------------------------------- nvidia-smi: bad */

/* Real failures of nvidia-smi 580.159.04 (H200), with their exit codes. */
START_TEST(test_nsmi_h200_failures)
{
	struct gpu_sample s;

	ck_assert_int_eq(nsmi_fixture("nvidia-smi-bad-field.txt", 2, &s), -1);
	ck_assert_int_eq(s.ok, 0);
	ck_assert_uint_eq(s.ngpus, 0);
	ck_assert_str_eq(s.reason,
	    "Field \"nosuchfield\" is not a valid field to query. (exit 2)");
	ck_assert_int_eq(nsmi_fixture("nvidia-smi-bad-format.txt", 2, &s), -1);
	ck_assert_int_eq(s.ok, 0);
	ck_assert_str_eq(s.reason, "Format modifier is not recognized. (exit 2)");
	ck_assert_int_eq(nsmi_fixture("nvidia-smi-no-devices.txt", 6, &s), -1);
	ck_assert_int_eq(s.ok, 0);
	ck_assert_uint_eq(s.ngpus, 0);
	ck_assert_str_eq(s.reason, "No devices were found (exit 6)");
	/* The text alone is enough when the exit status is unknown. */
	ck_assert_int_eq(nsmi_fixture("nvidia-smi-bad-field.txt", -1, &s), -1);
	ck_assert_str_eq(s.reason,
	    "Field \"nosuchfield\" is not a valid field to query.");
	ck_assert_int_eq(nsmi_fixture("nvidia-smi-no-devices.txt", -1, &s), -1);
	ck_assert_str_eq(s.reason, "No devices were found");
}
END_TEST


START_TEST(test_nsmi_driver_fail)
{
	struct gpu_sample s;

	ck_assert_int_eq(nsmi_fixture("nvidia-smi-driver-fail.txt", 9, &s), -1);
	ck_assert_int_eq(s.ok, 0);
	ck_assert_uint_eq(s.ngpus, 0);
	ck_assert_str_eq(s.reason, "NVIDIA-SMI has failed because it couldn't "
	    "communicate with the NVIDIA driver. Make sure that the latest "
	    "NVIDIA driver is installed and running. (exit 9)");
	/* Same text with the exit status unknown or (wrongly) 0. */
	ck_assert_int_eq(nsmi_fixture("nvidia-smi-driver-fail.txt", -1, &s), -1);
	ck_assert_str_eq(s.reason, "NVIDIA-SMI has failed because it couldn't "
	    "communicate with the NVIDIA driver. Make sure that the latest "
	    "NVIDIA driver is installed and running.");
	ck_assert_int_eq(nsmi_fixture("nvidia-smi-driver-fail.txt", 0, &s), -1);
	ck_assert_str_eq(s.reason, "NVIDIA-SMI has failed because it couldn't "
	    "communicate with the NVIDIA driver. Make sure that the latest "
	    "NVIDIA driver is installed and running.");
}
END_TEST

START_TEST(test_nsmi_nvml_mismatch)
{
	struct gpu_sample s;

	ck_assert_int_eq(nsmi_fixture("nvidia-smi-nvml-mismatch.txt", 18, &s),
	    -1);
	ck_assert_int_eq(s.ok, 0);
	ck_assert_str_eq(s.reason,
	    "Failed to initialize NVML: Driver/library version mismatch (exit 18)");
	ck_assert_int_eq(nsmi_fixture("nvidia-smi-nvml-mismatch.txt", -1, &s),
	    -1);
	ck_assert_str_eq(s.reason,
	    "Failed to initialize NVML: Driver/library version mismatch");
}
END_TEST

START_TEST(test_nsmi_not_found)
{
	struct gpu_sample s;

	ck_assert_int_eq(nsmi_fixture("nvidia-smi-not-found.txt", 127, &s), -1);
	ck_assert_int_eq(s.ok, 0);
	ck_assert_str_eq(s.reason,
	    "bash: line 1: nvidia-smi: command not found (exit 127)");
}
END_TEST

START_TEST(test_nsmi_garbage)
{
	struct gpu_sample s;

	ck_assert_int_eq(nsmi_fixture("nvidia-smi-garbage.txt", 0, &s), -1);
	ck_assert_int_eq(s.ok, 0);
	ck_assert_uint_eq(s.ngpus, 0);
	ck_assert_uint_eq(s.ngpus_total, 0);
	ck_assert_str_eq(s.reason,
	    "malformed nvidia-smi line 2: expected 9 fields, got 5");
	/* A failing exit without a message line. */
	ck_assert_int_eq(nsmi_fixture("nvidia-smi-garbage.txt", 255, &s), -1);
	ck_assert_str_eq(s.reason, "nvidia-smi failed (exit 255)");
	/* A message line after records is still malformed with exit 0. */
	ck_assert_int_eq(nsmi_str("0, GPU-a, L4, 40, 5, 2, 3, 4.00, 5.00\n"
	    "WARNING: infoROM is corrupted at gpu 0000:01:00.0\n", 0, &s), -1);
	ck_assert_str_eq(s.reason, "malformed nvidia-smi line 2: expected 9 "
	    "fields, got 1");
	ck_assert_int_eq(nsmi_str("0, GPU-a, L4, 40, 5, 2, 3, 4.00, 5.00\n"
	    "WARNING: infoROM is corrupted at gpu 0000:01:00.0\n", 14, &s), -1);
	ck_assert_str_eq(s.reason, "WARNING: infoROM is corrupted at gpu "
	    "0000:01:00.0 (exit 14)");
}
END_TEST

START_TEST(test_nsmi_empty)
{
	struct gpu_sample s;

	ck_assert_int_eq(gpu_parse_nvidia_smi(NULL, 0, 0, &s), -1);
	ck_assert_str_eq(s.reason, "no GPU reported");
	ck_assert_int_eq(nsmi_str("", 0, &s), -1);
	ck_assert_str_eq(s.reason, "no GPU reported");
	ck_assert_int_eq(nsmi_str(" \r\n\n\t\n", -1, &s), -1);
	ck_assert_str_eq(s.reason, "no GPU reported");
	ck_assert_int_eq(nsmi_str("", 9, &s), -1);
	ck_assert_str_eq(s.reason, "nvidia-smi failed (exit 9)");
	ck_assert_int_eq(nsmi_str("No devices were found\n", 6, &s), -1);
	ck_assert_str_eq(s.reason, "No devices were found (exit 6)");
	ck_assert_int_eq(nsmi_str("No devices were found\n", 0, &s), -1);
	ck_assert_str_eq(s.reason, "No devices were found");
}
END_TEST

START_TEST(test_nsmi_exit_nonzero_with_records)
{
	struct gpu_sample s;
	char	 buf[1024];

	/* stdout has GPU 0, stderr says why GPU 1 is missing. */
	snprintf(buf, sizeof(buf), "%.*s\n%s\n",
	    (int)strcspn(nsmi_2x4090, "\n"), nsmi_2x4090,
	    "Unable to determine the device handle for GPU0000:02:00.0: "
	    "Unknown Error");
	ck_assert_int_eq(nsmi_str(buf, 15, &s), -1);
	ck_assert_uint_eq(s.ngpus, 0);
	ck_assert_str_eq(s.reason, "Unable to determine the device handle for "
	    "GPU0000:02:00.0: Unknown Error (exit 15)");
	/* Valid records but a failing exit and nothing else to say. */
	ck_assert_int_eq(nsmi_str(nsmi_2x4090, 255, &s), -1);
	ck_assert_str_eq(s.reason, "nvidia-smi failed (exit 255)");
	/* A record with a field error and a failing exit. */
	ck_assert_int_eq(nsmi_str("0, GPU-x, Tesla V100, [Unknown Error], 0, "
	    "1, 2, 3.00, 4.00\n", 255, &s), -1);
	ck_assert_str_eq(s.reason,
	    "gpu0: temperature.gpu [Unknown Error] (exit 255)");
}
END_TEST

START_TEST(test_nsmi_unknown_error)
{
	struct gpu_sample s;

	ck_assert_int_eq(nsmi_str("0, GPU-a, NVIDIA L4, 40, 3, 10, 23034, "
	    "27.10, 72.00\n1, GPU-b, NVIDIA L4, [Unknown Error], 3, 10, 23034, "
	    "27.10, 72.00\n", 0, &s), -1);
	ck_assert_int_eq(s.ok, 0);
	ck_assert_uint_eq(s.ngpus, 0);
	ck_assert_str_eq(s.reason, "gpu1: temperature.gpu [Unknown Error]");
	ck_assert_int_eq(nsmi_str("0, GPU-a, NVIDIA L4, 40, 3, 10, 23034, "
	    "[GPU requires reset], 72.00\n", 0, &s), -1);
	ck_assert_str_eq(s.reason, "gpu0: power.draw [GPU requires reset]");
}
END_TEST

struct bad_case {
	const char	*line;
	const char	*reason;
};

START_TEST(test_nsmi_bad_values)
{
	static const struct bad_case c[] = {
		{ "0, GPU-a, L4, abc, 1, 2, 3, 4.00, 5.00",
		  "malformed nvidia-smi line 1: temperature.gpu 'abc' is not a valid value" },
		{ "0, GPU-a, L4, 201, 1, 2, 3, 4.00, 5.00",
		  "malformed nvidia-smi line 1: temperature.gpu '201' is not a valid value" },
		{ "0, GPU-a, L4, -51, 1, 2, 3, 4.00, 5.00",
		  "malformed nvidia-smi line 1: temperature.gpu '-51' is not a valid value" },
		{ "0, GPU-a, L4, 40C, 1, 2, 3, 4.00, 5.00",
		  "malformed nvidia-smi line 1: temperature.gpu '40C' is not a valid value" },
		{ "0, GPU-a, L4, 40, 101, 2, 3, 4.00, 5.00",
		  "malformed nvidia-smi line 1: utilization.gpu '101' is not a valid value" },
		{ "0, GPU-a, L4, 40, 50 %, 2, 3, 4.00, 5.00",
		  "malformed nvidia-smi line 1: utilization.gpu '50 %' is not a valid value" },
		{ "0, GPU-a, L4, 40, +5, 2, 3, 4.00, 5.00",
		  "malformed nvidia-smi line 1: utilization.gpu '+5' is not a valid value" },
		{ "0, GPU-a, L4, 40, 5, -2, 3, 4.00, 5.00",
		  "malformed nvidia-smi line 1: memory.used '-2' is not a valid value" },
		{ "0, GPU-a, L4, 40, 5, 2, 99999999999999999999, 4.00, 5.00",
		  "malformed nvidia-smi line 1: memory.total '99999999999999999999' is not a valid value" },
		{ "0, GPU-a, L4, 40, 5, 2, 3, nan, 5.00",
		  "malformed nvidia-smi line 1: power.draw 'nan' is not a valid value" },
		{ "0, GPU-a, L4, 40, 5, 2, 3, 0x10, 5.00",
		  "malformed nvidia-smi line 1: power.draw '0x10' is not a valid value" },
		{ "0, GPU-a, L4, 40, 5, 2, 3, 1e3, 5.00",
		  "malformed nvidia-smi line 1: power.draw '1e3' is not a valid value" },
		{ "0, GPU-a, L4, 40, 5, 2, 3, 4., 5.00",
		  "malformed nvidia-smi line 1: power.draw '4.' is not a valid value" },
		{ "0, GPU-a, L4, 40, 5, 2, 3, 4.00, -5.00",
		  "malformed nvidia-smi line 1: power.limit '-5.00' is not a valid value" },
		{ "0, GPU-a, L4, 40, 5, 2, 3, 4.00 W, 5.00",
		  "malformed nvidia-smi line 1: power.draw '4.00 W' is not a valid value" },
		{ "0, GPU-a, L4, 40, 5, 2, , 4.00, 5.00",
		  "malformed nvidia-smi line 1: memory.total is empty" },
		{ "x, GPU-a, L4, 40, 5, 2, 3, 4.00, 5.00",
		  "malformed nvidia-smi line 1: index 'x' is not a GPU index" },
		{ "0, [N/A], L4, 40, 5, 2, 3, 4.00, 5.00",
		  "malformed nvidia-smi line 1: uuid is [N/A]" },
		{ "0, GPU-a, L4, 40, 5, 2, 3, 4.00, 5.00, 6",
		  "malformed nvidia-smi line 1: expected 9 fields, got 10" },
		{ "0, GPU-a, L4, 40, 5, 2, 3, 4.00, 5.00\n"
		  "0, GPU-b, L4, 40, 5, 2, 3, 4.00, 5.00",
		  "malformed nvidia-smi line 2: duplicate index 0" },
		{ "0, GPU-a, L4, 40, 5, 2, 3, 4.00, 5.00\n\n"
		  "index, uuid, name",
		  "malformed nvidia-smi line 3: expected 9 fields, got 3" },
	};
	struct gpu_sample s;
	size_t	i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		ck_assert_int_eq(nsmi_str(c[i].line, 0, &s), -1);
		ck_assert_int_eq(s.ok, 0);
		ck_assert_uint_eq(s.ngpus, 0);
		ck_assert_str_eq(s.reason, c[i].reason);
	}
}
END_TEST

START_TEST(test_nsmi_reason_capped_and_clean)
{
	struct gpu_sample s;
	char	 line[1200];
	size_t	 n;

	memset(line, 'e', 1000);
	memcpy(line + 995, "\xe2\x82\xac", 3);	/* a euro sign near the end */
	line[1000] = '\n';
	line[1001] = '\0';
	ck_assert_int_eq(nsmi_str(line, 1, &s), -1);
	n = strlen(s.reason);
	ck_assert_uint_lt(n, GPU_REASON_MAX);
	ck_assert_uint_gt(n, GPU_REASON_MAX - 20);
	ck_assert_str_eq(s.reason + n - 9, " (exit 1)");
	assert_clean_text(s.reason, sizeof(s.reason));

	/* A euro sign cut by the cap is dropped whole, never split. */
	memset(line, 'e', 1000);
	memcpy(line + GPU_REASON_MAX - 2, "\xe2\x82\xac", 3);
	line[1000] = '\0';
	ck_assert_int_eq(nsmi_str(line, -1, &s), -1);
	ck_assert_uint_eq(strlen(s.reason), GPU_REASON_MAX - 2);
	assert_clean_text(s.reason, sizeof(s.reason));

	/* Escapes and invalid UTF-8 from the tool are neutralised. */
	ck_assert_int_eq(nsmi_str("\x1b[31mboom\xff\xc0\x80 ok\xc2\x9b\t!\n", 2,
	    &s), -1);
	ck_assert_str_eq(s.reason, "?[31mboom??? ok?? ! (exit 2)");
	ck_assert_int_eq(nsmi_str("0, GPU-\x01, NVIDIA \x1b[1m\xe2\x82\xac, 40, 5, "
	    "2, 3, 4.00, 5.00\n", 0, &s), 0);
	ck_assert_str_eq(s.gpus[0].uuid, "GPU-?");
	ck_assert_str_eq(s.gpus[0].name, "NVIDIA ?[1m\xe2\x82\xac");
}
END_TEST

START_TEST(test_nsmi_long_fields_truncated)
{
	struct gpu_sample s;
	char	 buf[1024], name[300];

	memset(name, 'N', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(buf, sizeof(buf), "3, GPU-%s, %s, 40, 5, 2, 3, 4.00, 5.00\n",
	    name, name);
	ck_assert_int_eq(nsmi_str(buf, 0, &s), 0);
	ck_assert_int_eq(s.gpus[0].index, 3);
	ck_assert_uint_eq(strlen(s.gpus[0].uuid), GPU_UUID_MAX - 1);
	ck_assert_uint_eq(strlen(s.gpus[0].name), GPU_NAME_MAX - 1);
	ck_assert_int_eq(strncmp(s.gpus[0].uuid, "GPU-NNN", 7), 0);
}
END_TEST

/* ------------------------------------------------------------ tegrastats */

static void
assert_jetson(const struct gpu_sample *s)
{
	ck_assert_int_eq(s->ok, 1);
	ck_assert_str_eq(s->reason, "");
	ck_assert_uint_eq(s->ngpus, 1);
	ck_assert_uint_eq(s->ngpus_total, 1);
	ck_assert_int_eq(s->gpus[0].index, 0);
	ck_assert_str_eq(s->gpus[0].name, "Jetson");
	ck_assert_str_eq(s->gpus[0].uuid, "");
	ck_assert_int_eq(s->gpus[0].has_power_limit, 0);
}

START_TEST(test_tegra_nano)
{
	struct gpu_sample s;
	const struct gpu_info *g = &s.gpus[0];

	ck_assert_int_eq(tegra_fixture("tegrastats-nano.txt", &s), 0);
	assert_jetson(&s);
	/* The first line (0%, 30.5C), not the second (46%, 31C). */
	ck_assert_int_eq(g->has_util, 1);
	ck_assert_int_eq(g->util_pct, 0);
	ck_assert_int_eq(g->has_temp, 1);
	ck_assert_int_eq(g->temp_c, 31);	/* 30.5 rounded */
	ck_assert_int_eq(g->has_mem_used, 1);
	ck_assert_int_eq(g->mem_used_mib, 2015);
	ck_assert_int_eq(g->has_mem_total, 1);
	ck_assert_int_eq(g->mem_total_mib, 3964);
	ck_assert_int_eq(g->has_power, 1);	/* POM_5V_GPU 122/122 */
	ck_assert_double_eq_tol(g->power_w, 0.122, TOL);
}
END_TEST

START_TEST(test_tegra_orin)
{
	struct gpu_sample s;
	const struct gpu_info *g = &s.gpus[0];

	ck_assert_int_eq(tegra_fixture("tegrastats-orin.txt", &s), 0);
	assert_jetson(&s);
	ck_assert_int_eq(g->has_util, 1);
	ck_assert_int_eq(g->util_pct, 84);	/* 84%@[713] */
	ck_assert_int_eq(g->has_temp, 1);
	ck_assert_int_eq(g->temp_c, 64);	/* gpu@63.5C */
	ck_assert_int_eq(g->mem_used_mib, 6982);
	ck_assert_int_eq(g->mem_total_mib, 7620);
	ck_assert_int_eq(g->has_power, 0);	/* only VDD_IN: not the GPU */
}
END_TEST

START_TEST(test_tegra_orin_agx)
{
	struct gpu_sample s;
	const struct gpu_info *g = &s.gpus[0];

	ck_assert_int_eq(tegra_fixture("tegrastats-orin-agx.txt", &s), 0);
	assert_jetson(&s);
	ck_assert_int_eq(g->has_util, 1);
	ck_assert_int_eq(g->util_pct, 0);	/* 0%@[0,0] */
	ck_assert_int_eq(g->has_temp, 0);	/* GPU@-256C: sensor off */
	ck_assert_int_eq(g->temp_c, 0);
	ck_assert_int_eq(g->mem_used_mib, 4321);
	ck_assert_int_eq(g->mem_total_mib, 62801);
	ck_assert_int_eq(g->has_power, 1);	/* VDD_GPU_SOC 2340mW/2340mW */
	ck_assert_double_eq_tol(g->power_w, 2.34, TOL);
}
END_TEST

START_TEST(test_tegra_gr3d_forms)
{
	struct gpu_sample s;

	ck_assert_int_eq(tegra_str("GR3D_FREQ 7%\n", &s), 0);
	ck_assert_int_eq(s.gpus[0].util_pct, 7);
	ck_assert_int_eq(s.gpus[0].has_mem_used, 0);	/* no RAM: absent */
	ck_assert_int_eq(tegra_str("GR3D_FREQ 99%@905\n", &s), 0);
	ck_assert_int_eq(s.gpus[0].util_pct, 99);
	ck_assert_int_eq(tegra_str("GR3D_FREQ 100%@[905,905]\n", &s), 0);
	ck_assert_int_eq(s.gpus[0].util_pct, 100);
	ck_assert_int_eq(tegra_str("RAM 1/2MB GR3D_FREQ abc\n", &s), -1);
	ck_assert_str_eq(s.reason, "malformed tegrastats line: GR3D_FREQ 'abc'");
	ck_assert_int_eq(tegra_str("RAM 1/2MB GR3D_FREQ 101%\n", &s), -1);
	ck_assert_str_eq(s.reason, "malformed tegrastats line: GR3D_FREQ '101%'");
	ck_assert_int_eq(tegra_str("RAM 1/2MB GR3D_FREQ 5%@\n", &s), -1);
	ck_assert_str_eq(s.reason, "malformed tegrastats line: GR3D_FREQ '5%@'");
	ck_assert_int_eq(tegra_str("RAM 1/2MB GR3D_FREQ\n", &s), -1);
	ck_assert_str_eq(s.reason, "malformed tegrastats line: GR3D_FREQ ''");
}
END_TEST

START_TEST(test_tegra_ram_and_rails)
{
	struct gpu_sample s;
	const struct gpu_info *g = &s.gpus[0];

	/* RAM alone is enough; IRAM is not RAM; combined rails are not GPU. */
	ck_assert_int_eq(tegra_str("RAM 1775/3964MB (lfb 1x2MB) IRAM 0/252kB"
	    "(lfb 252kB) VDD_CPU_GPU_CV 542mW/542mW\n", &s), 0);
	ck_assert_int_eq(g->has_util, 0);
	ck_assert_int_eq(g->mem_used_mib, 1775);
	ck_assert_int_eq(g->mem_total_mib, 3964);
	ck_assert_int_eq(g->has_power, 0);
	ck_assert_int_eq(g->has_temp, 0);
	ck_assert_int_eq(tegra_str("IRAM 0/252kB(lfb 252kB) GR3D_FREQ 5%\n",
	    &s), 0);
	ck_assert_int_eq(g->has_mem_used, 0);
	/* Xavier: bare "GPU cur/avg" rail; Tj sensor in lower case. */
	ck_assert_int_eq(tegra_str("RAM 3/4MB GR3D_FREQ 1%@1377 Gpu@41.5C "
	    "GPU 1234/1100 CPU 311/311\n", &s), 0);
	ck_assert_int_eq(g->has_power, 1);
	ck_assert_double_eq_tol(g->power_w, 1.234, TOL);
	ck_assert_int_eq(g->temp_c, 42);
	/* Bad RAM values. */
	ck_assert_int_eq(tegra_str("RAM 12/xMB GR3D_FREQ 5%\n", &s), -1);
	ck_assert_str_eq(s.reason, "malformed tegrastats line: RAM '12/xMB'");
	ck_assert_int_eq(tegra_str("GR3D_FREQ 5% RAM 12/34GB\n", &s), -1);
	ck_assert_str_eq(s.reason, "malformed tegrastats line: RAM '12/34GB'");
	ck_assert_int_eq(tegra_str("GR3D_FREQ 5% RAM\n", &s), -1);
	ck_assert_str_eq(s.reason, "malformed tegrastats line: RAM ''");
	/* A GPU rail with a malformed value is ignored, not fatal. */
	ck_assert_int_eq(tegra_str("GR3D_FREQ 5% POM_5V_GPU 12W/13W\n", &s), 0);
	ck_assert_int_eq(g->has_power, 0);
	/* Out-of-range or junk GPU temperature: absent. */
	ck_assert_int_eq(tegra_str("GR3D_FREQ 5% GPU@250C\n", &s), 0);
	ck_assert_int_eq(g->has_temp, 0);
	ck_assert_int_eq(tegra_str("GR3D_FREQ 5% GPU@warmC\n", &s), 0);
	ck_assert_int_eq(g->has_temp, 0);
	ck_assert_int_eq(tegra_str("GR3D_FREQ 5% GPU@-0.6C\n", &s), 0);
	ck_assert_int_eq(g->has_temp, 1);
	ck_assert_int_eq(g->temp_c, -1);
}
END_TEST

START_TEST(test_tegra_malformed)
{
	struct gpu_sample s;

	ck_assert_int_eq(tegra_str("bash: line 1: tegrastats: command not "
	    "found\n", &s), -1);
	ck_assert_int_eq(s.ok, 0);
	ck_assert_uint_eq(s.ngpus, 0);
	ck_assert_str_eq(s.reason, "malformed tegrastats line: bash: line 1: "
	    "tegrastats: command not found");
	ck_assert_int_eq(tegra_str("CPU [6%@102] EMC_FREQ 0% GPU@30C\n", &s), -1);
	ck_assert_str_eq(s.reason,
	    "malformed tegrastats line: CPU [6%@102] EMC_FREQ 0% GPU@30C");
	ck_assert_int_eq(gpu_parse_tegrastats(NULL, 0, &s), -1);
	ck_assert_str_eq(s.reason, "no tegrastats output");
	ck_assert_int_eq(tegra_str("", &s), -1);
	ck_assert_str_eq(s.reason, "no tegrastats output");
	ck_assert_int_eq(tegra_str("\r\n \n", &s), -1);
	ck_assert_str_eq(s.reason, "no tegrastats output");
}
END_TEST

START_TEST(test_tegra_lines)
{
	struct gpu_sample s;
	size_t	 n;
	char	*b;

	/* CRLF, leading blank line, timestamp. */
	ck_assert_int_eq(tegra_str("\r\n05-15-2025 18:30:28 RAM 6982/7620MB "
	    "GR3D_FREQ 84%@[713] gpu@63.5C\r\n", &s), 0);
	ck_assert_int_eq(s.gpus[0].util_pct, 84);
	ck_assert_int_eq(s.gpus[0].temp_c, 64);
	/* No trailing newline: the only line is used. */
	ck_assert_int_eq(tegra_str("RAM 10/20MB GR3D_FREQ 3%  ", &s), 0);
	ck_assert_int_eq(s.gpus[0].util_pct, 3);
	ck_assert_int_eq(s.gpus[0].mem_total_mib, 20);
	/* A complete line wins over a cut one after it. */
	ck_assert_int_eq(tegra_str("RAM 10/20MB GR3D_FREQ 3%\nRAM 11/20MB "
	    "GR3D_FR", &s), 0);
	ck_assert_int_eq(s.gpus[0].mem_used_mib, 10);
	/* Not NUL-terminated, with a poisoned byte just past LEN. */
	b = fixture("tegrastats-orin.txt", &n);
	ck_assert_int_eq(gpu_parse_tegrastats(b, n - 1, &s), 0); /* no '\n' */
	ck_assert_int_eq(s.gpus[0].util_pct, 84);
	free(b);
}
END_TEST

/* ---------------------------------------------------------------- ollama */

START_TEST(test_ollama_version)
{
	struct ollama_info *i = info_new();
	char	r[OLLAMA_REASON_MAX];

	ck_assert_int_eq(ollama_fixture(ollama_parse_version,
	    "ollama-version.json", i, r), 0);
	ck_assert_str_eq(i->version, "0.5.7");
	ck_assert_str_eq(r, "");
	ck_assert_int_eq(ollama_str(ollama_parse_version, "{\"Version\":\"1\"}",
	    i, r), -1);
	ck_assert_str_eq(r, "missing field 'version'");
	ck_assert_str_eq(i->version, "");
	ck_assert_int_eq(ollama_str(ollama_parse_version, "{\"version\":5}",
	    i, r), -1);
	ck_assert_str_eq(r, "field 'version' is not a string");
	ck_assert_int_eq(ollama_str(ollama_parse_version, "{\"version\":null}",
	    i, r), -1);
	ck_assert_str_eq(r, "field 'version' is not a string");
	ck_assert_int_eq(ollama_str(ollama_parse_version, "{\"version\":\"\"}",
	    i, r), -1);
	ck_assert_str_eq(r, "field 'version' is empty");
	ck_assert_int_eq(ollama_str(ollama_parse_version,
	    "{\"version\":\"0.5.7\",\"version\":\"0.6.0\"}", i, r), -1);
	ck_assert_str_eq(r, "malformed JSON at line 1 column 28: duplicate "
	    "object key near '\"version\"'");
	ck_assert_int_eq(ollama_str(ollama_parse_version,
	    "{\"version\":\"0.5.7-rc1-0-g1234567890abcdef-dirty+x\"}", i, r), 0);
	ck_assert_str_eq(i->version, "0.5.7-rc1-0-g1234567890abcdef-d");
	ck_assert_int_eq(ollama_str(ollama_parse_version, "\"0.5.7\"", i, r),
	    -1);
	ck_assert_str_eq(r, "malformed JSON at line 1 column 7: '[' or '{' "
	    "expected near '\"0.5.7\"'");
	ck_assert_int_eq(ollama_str(ollama_parse_version, "[\"0.5.7\"]", i, r),
	    -1);
	ck_assert_str_eq(r, "expected a JSON object, got array");
	/* NULL reason and NULL info are tolerated. */
	ck_assert_int_eq(ollama_str(ollama_parse_version, "{}", i, NULL), -1);
	ck_assert_int_eq(ollama_str(ollama_parse_version, "{}", NULL, r), -1);
	info_free(i);
}
END_TEST

START_TEST(test_ollama_tags)
{
	static const char *const names[] = {
		"qwen2.5:7b", "llama3.1:8b", "qwen2.5-coder:14b",
		"nomic-embed-text:latest", "mistral:latest",
		"hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M",
	};
	struct ollama_info *i = info_new();
	char	r[OLLAMA_REASON_MAX];
	size_t	k;

	ck_assert_int_eq(ollama_fixture(ollama_parse_tags, "ollama-tags.json",
	    i, r), 0);
	ck_assert_uint_eq(i->nmodels, 6);
	ck_assert_uint_eq(i->nmodels_total, 6);
	for (k = 0; k < 6; k++) {
		ck_assert_str_eq(i->models[k], names[k]);
		ck_assert_int_eq(i->model_truncated[k], 0);
	}
	ck_assert_uint_eq(i->nloaded, 0);	/* tags leave loaded alone */

	ck_assert_int_eq(ollama_has_model(i, "qwen2.5:7b"), 1);
	ck_assert_int_eq(ollama_has_model(i, "llama3.1:8b"), 1);
	ck_assert_int_eq(ollama_has_model(i, "nomic-embed-text"), 1);
	ck_assert_int_eq(ollama_has_model(i, "nomic-embed-text:latest"), 1);
	ck_assert_int_eq(ollama_has_model(i, "mistral"), 1);
	ck_assert_int_eq(ollama_has_model(i,
	    "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M"), 1);
	ck_assert_int_eq(ollama_has_model(i, "qwen2.5"), 0); /* no :latest */
	ck_assert_int_eq(ollama_has_model(i, "llama3.1"), 0);
	ck_assert_int_eq(ollama_has_model(i, "qwen2.5:7"), 0);
	ck_assert_int_eq(ollama_has_model(i, "qwen2.5:7b-instruct"), 0);
	ck_assert_int_eq(ollama_has_model(i, "QWEN2.5:7b"), 0);
	ck_assert_int_eq(ollama_has_model(i, "mistral:7b"), 0);
	ck_assert_int_eq(ollama_has_model(i, ""), 0);
	ck_assert_int_eq(ollama_has_model(i, NULL), 0);
	ck_assert_int_eq(ollama_has_model(NULL, "mistral"), 0);
	info_free(i);
}
END_TEST

START_TEST(test_ollama_has_model_latest)
{
	struct ollama_info *i = info_new();
	char	r[OLLAMA_REASON_MAX];

	ck_assert_int_eq(ollama_str(ollama_parse_tags, "{\"models\":["
	    "{\"name\":\"qwen2.5:latest\"},{\"name\":\"phi3\"},"
	    "{\"name\":\"localhost:5000/team/coder\"}]}", i, r), 0);
	ck_assert_uint_eq(i->nmodels, 3);
	ck_assert_int_eq(ollama_has_model(i, "qwen2.5"), 1);
	ck_assert_int_eq(ollama_has_model(i, "qwen2.5:latest"), 1);
	ck_assert_int_eq(ollama_has_model(i, "qwen2.5:7b"), 0);
	ck_assert_int_eq(ollama_has_model(i, "qwen2"), 0);
	ck_assert_int_eq(ollama_has_model(i, "phi3:latest"), 1);
	ck_assert_int_eq(ollama_has_model(i, "phi3"), 1);
	/* The ':' of a registry port is not a tag. */
	ck_assert_int_eq(ollama_has_model(i,
	    "localhost:5000/team/coder:latest"), 1);
	ck_assert_int_eq(ollama_has_model(i, "localhost:5000/team/coder"), 1);
	ck_assert_int_eq(ollama_has_model(i, "localhost"), 0);
	info_free(i);
}
END_TEST

START_TEST(test_ollama_tags_empty_and_null)
{
	struct ollama_info *i = info_new();
	char	r[OLLAMA_REASON_MAX];

	ck_assert_int_eq(ollama_fixture(ollama_parse_tags, "ollama-tags.json",
	    i, r), 0);
	ck_assert_int_eq(ollama_fixture(ollama_parse_tags,
	    "ollama-tags-empty.json", i, r), 0);
	ck_assert_uint_eq(i->nmodels, 0);
	ck_assert_uint_eq(i->nmodels_total, 0);
	ck_assert_ptr_null(i->models);	/* released, not just emptied */
	ck_assert_int_eq(ollama_has_model(i, "qwen2.5:7b"), 0);
	/* Ollama before 0.1.39 said null for "none". */
	ck_assert_int_eq(ollama_str(ollama_parse_tags, "{\"models\":null}",
	    i, r), 0);
	ck_assert_uint_eq(i->nmodels, 0);
	info_free(i);
}
END_TEST

START_TEST(test_ollama_ps)
{
	struct ollama_info *i = info_new();
	char	r[OLLAMA_REASON_MAX];

	ck_assert_int_eq(ollama_fixture(ollama_parse_tags, "ollama-tags.json",
	    i, r), 0);
	ck_assert_int_eq(ollama_fixture(ollama_parse_ps, "ollama-ps.json",
	    i, r), 0);
	ck_assert_uint_eq(i->nloaded, 2);
	ck_assert_uint_eq(i->nloaded_total, 2);
	ck_assert_str_eq(i->loaded[0].name, "qwen2.5:7b");
	ck_assert_int_eq(i->loaded[0].has_size_vram, 1);
	ck_assert_uint_eq(i->loaded[0].size_vram, 6654289920ULL);
	ck_assert_int_eq(i->loaded[0].truncated, 0);
	ck_assert_str_eq(i->loaded[1].name, "nomic-embed-text:latest");
	ck_assert_int_eq(i->loaded[1].has_size_vram, 1);
	ck_assert_uint_eq(i->loaded[1].size_vram, 849784832ULL);
	ck_assert_uint_eq(i->nmodels, 6);	/* ps leaves models alone */

	ck_assert_int_eq(ollama_fixture(ollama_parse_ps, "ollama-ps-empty.json",
	    i, r), 0);
	ck_assert_uint_eq(i->nloaded, 0);
	ck_assert_ptr_null(i->loaded);

	/* size_vram is optional, but typed when present. */
	ck_assert_int_eq(ollama_str(ollama_parse_ps, "{\"models\":[{\"name\":"
	    "\"a:1\"},{\"name\":\"b:2\",\"size_vram\":0}]}", i, r), 0);
	ck_assert_uint_eq(i->nloaded, 2);
	ck_assert_int_eq(i->loaded[0].has_size_vram, 0);
	ck_assert_int_eq(i->loaded[1].has_size_vram, 1);
	ck_assert_uint_eq(i->loaded[1].size_vram, 0);
	ck_assert_int_eq(ollama_str(ollama_parse_ps, "{\"models\":[{\"name\":"
	    "\"a:1\",\"size_vram\":-1}]}", i, r), -1);
	ck_assert_str_eq(r, "field 'models[0].size_vram' is not a "
	    "non-negative integer");
	ck_assert_uint_eq(i->nloaded, 0);
	ck_assert_int_eq(ollama_str(ollama_parse_ps, "{\"models\":[{\"name\":"
	    "\"a:1\",\"size_vram\":\"5GB\"}]}", i, r), -1);
	ck_assert_str_eq(r, "field 'models[0].size_vram' is not a "
	    "non-negative integer");
	ck_assert_int_eq(ollama_str(ollama_parse_ps, "{\"models\":[{\"name\":"
	    "\"a:1\",\"size_vram\":1.5e9}]}", i, r), -1);
	ck_assert_str_eq(r, "field 'models[0].size_vram' is not a "
	    "non-negative integer");
	info_free(i);
}
END_TEST

START_TEST(test_ollama_wrong_types)
{
	static const struct bad_case c[] = {
		{ "{}", "missing field 'models'" },
		{ "{\"model\":[]}", "missing field 'models'" },
		{ "{\"models\":{}}", "field 'models' is not an array" },
		{ "{\"models\":\"qwen2.5:7b\"}", "field 'models' is not an array" },
		{ "{\"models\":[1]}", "field 'models[0]' is not an object" },
		{ "{\"models\":[{\"name\":\"a\"},null]}",
		  "field 'models[1]' is not an object" },
		{ "{\"models\":[{\"model\":\"a\"}]}",
		  "missing field 'models[0].name'" },
		{ "{\"models\":[{\"name\":5}]}",
		  "field 'models[0].name' is not a string" },
		{ "{\"models\":[{\"name\":\"\"}]}",
		  "field 'models[0].name' is empty" },
		{ "{\"models\":[{\"name\":\"a\",\"name\":\"b\"}]}",
		  "malformed JSON at line 1 column 29: duplicate object key "
		  "near '\"name\"'" },
		{ "{\"models\":[{\"name\":\"a\\u0000b\"}]}",
		  "malformed JSON at line 1 column 29: \\u0000 is not allowed "
		  "without JSON_ALLOW_NUL near '\"a\\u0000b\"'" },
		{ "{\"models\":[{\"name\":\"\xff\"}]}",
		  "malformed JSON at line 1 column 20: unable to decode byte "
		  "0xff near '\"'" },
		{ "{\"models\":[]} {}",
		  "malformed JSON at line 1 column 15: end of file expected "
		  "near '{'" },
		{ "{\n  \"models\": [\n    {\"name\": \"x\",}\n  ]\n}",
		  "malformed JSON at line 3 column 18: string or '}' expected "
		  "near '}'" },
		{ "null", "malformed JSON at line 1 column 4: '[' or '{' "
		  "expected near 'null'" },
	};
	struct ollama_info *i = info_new();
	char	r[OLLAMA_REASON_MAX];
	size_t	k;

	for (k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		ck_assert_int_eq(ollama_str(ollama_parse_tags, c[k].line, i, r),
		    -1);
		ck_assert_str_eq(r, c[k].reason);
		ck_assert_uint_eq(i->nmodels, 0);
		ck_assert_int_eq(ollama_str(ollama_parse_ps, c[k].line, i, r),
		    -1);
		ck_assert_str_eq(r, c[k].reason);
		ck_assert_uint_eq(i->nloaded, 0);
	}
	/* A failure clears what an earlier success had put there. */
	ck_assert_int_eq(ollama_fixture(ollama_parse_tags, "ollama-tags.json",
	    i, r), 0);
	ck_assert_int_eq(ollama_str(ollama_parse_tags, "{\"models\":[{\"name\":"
	    "\"a\"},{}]}", i, r), -1);
	ck_assert_uint_eq(i->nmodels, 0);
	ck_assert_ptr_null(i->models);	/* released, not just emptied */
	ck_assert_int_eq(ollama_has_model(i, "qwen2.5:7b"), 0);
	info_free(i);
}
END_TEST

START_TEST(test_ollama_truncated_and_garbage)
{
	struct ollama_info *i = info_new();
	char	r[OLLAMA_REASON_MAX];

	ck_assert_int_eq(ollama_fixture(ollama_parse_tags,
	    "ollama-truncated.json", i, r), -1);
	ck_assert_str_eq(r, "malformed JSON at line 1 column 700: premature "
	    "end of input near '\"mode'");
	ck_assert_uint_eq(i->nmodels, 0);
	ck_assert_int_eq(ollama_fixture(ollama_parse_tags, "ollama-garbage.txt",
	    i, r), -1);
	ck_assert_str_eq(r, "malformed JSON at line 1 column 1: '[' or '{' "
	    "expected near '<'");
	ck_assert_int_eq(ollama_fixture(ollama_parse_version,
	    "ollama-garbage.txt", i, r), -1);
	ck_assert_str_eq(r, "malformed JSON at line 1 column 1: '[' or '{' "
	    "expected near '<'");
	ck_assert_int_eq(ollama_str(ollama_parse_tags, "", i, r), -1);
	ck_assert_str_eq(r, "empty body");
	ck_assert_int_eq(ollama_parse_ps(NULL, 0, i, r), -1);
	ck_assert_str_eq(r, "empty body");
	ck_assert_int_eq(ollama_str(ollama_parse_ps, " \r\n", i, r), -1);
	ck_assert_str_eq(r, "malformed JSON at line 2 column 0: '[' or '{' "
	    "expected near end of file");
	info_free(i);
}
END_TEST

START_TEST(test_ollama_body_too_large)
{
	struct ollama_info *i = info_new();
	char	 r[OLLAMA_REASON_MAX];
	size_t	 n = OLLAMA_BODY_MAX + 1;
	char	*b = malloc(n);

	/* Valid JSON padded with blanks: refused by size, never parsed. */
	memset(b, ' ', n);
	memcpy(b, "{\"models\":[]}", 13);
	ck_assert_int_eq(ollama_parse_tags(b, n, i, r), -1);
	ck_assert_str_eq(r, "body too large (1048577 bytes)");
	ck_assert_int_eq(ollama_parse_version(b, n, i, r), -1);
	ck_assert_str_eq(r, "body too large (1048577 bytes)");
	ck_assert_int_eq(ollama_parse_ps(b, n, i, r), -1);
	ck_assert_str_eq(r, "body too large (1048577 bytes)");
	/* Exactly the limit is still parsed. */
	ck_assert_int_eq(ollama_parse_tags(b, n - 1, i, r), 0);
	/* An error body that large is not parsed for its message. */
	memcpy(b, "{\"error\":\"x\"}", 13);
	ollama_http_error(500, b, n, r);
	ck_assert_str_eq(r, "HTTP 500");
	free(b);
	info_free(i);
}
END_TEST

START_TEST(test_ollama_many_models)
{
	struct ollama_info *i = info_new();
	char	 r[OLLAMA_REASON_MAX], *b;
	size_t	 o = 0, cap = 64 * 1024;
	int	 k;

	b = malloc(cap);
	o += (size_t)snprintf(b + o, cap - o, "{\"models\":[");
	for (k = 0; k < 300; k++)
		o += (size_t)snprintf(b + o, cap - o,
		    "%s{\"name\":\"m%d:q4\",\"size_vram\":%d}", k ? "," : "",
		    k, k);
	o += (size_t)snprintf(b + o, cap - o, "]}");
	ck_assert_int_eq(ollama_parse_tags(b, o, i, r), 0);
	ck_assert_uint_eq(i->nmodels, OLLAMA_MODELS_MAX);
	ck_assert_uint_eq(i->nmodels_total, 300);
	ck_assert_str_eq(i->models[0], "m0:q4");
	ck_assert_str_eq(i->models[255], "m255:q4");
	ck_assert_int_eq(ollama_has_model(i, "m255:q4"), 1);
	ck_assert_int_eq(ollama_has_model(i, "m256:q4"), 0);
	ck_assert_int_eq(ollama_parse_ps(b, o, i, r), 0);
	ck_assert_uint_eq(i->nloaded, OLLAMA_MODELS_MAX);
	ck_assert_uint_eq(i->nloaded_total, 300);
	ck_assert_uint_eq(i->loaded[255].size_vram, 255);
	/* Entries past the cap are still checked. */
	memcpy(b + o - 2, ",7]}", 4);
	ck_assert_int_eq(ollama_parse_tags(b, o + 2, i, r), -1);
	ck_assert_str_eq(r, "field 'models[300]' is not an object");
	free(b);
	info_free(i);
}
END_TEST

START_TEST(test_ollama_long_name)
{
	struct ollama_info *i = info_new();
	char	 r[OLLAMA_REASON_MAX], name[301], body[512];

	memset(name, 'a', 300);
	name[300] = '\0';
	memcpy(name + 120, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8); /* "éééé" */
	snprintf(body, sizeof(body), "{\"models\":[{\"name\":\"%s\"},"
	    "{\"name\":\"qwen2.5:7b\"}]}", name);
	ck_assert_int_eq(ollama_str(ollama_parse_tags, body, i, r), 0);
	ck_assert_uint_eq(i->nmodels, 2);
	ck_assert_int_eq(i->model_truncated[0], 1);
	ck_assert_int_eq(i->model_truncated[1], 0);
	/* Cut at a character boundary: 120 + 3 * 2 bytes; é would not fit. */
	ck_assert_uint_eq(strlen(i->models[0]), 126);
	assert_clean_text(i->models[0], OLLAMA_NAME_MAX);
	ck_assert_int_eq(ollama_has_model(i, name), 0);
	ck_assert_int_eq(ollama_has_model(i, i->models[0]), 0);
	ck_assert_int_eq(ollama_has_model(i, "qwen2.5:7b"), 1);
	ck_assert_int_eq(ollama_str(ollama_parse_ps, body, i, r), 0);
	ck_assert_int_eq(i->loaded[0].truncated, 1);
	ck_assert_int_eq(i->loaded[1].truncated, 0);
	info_free(i);
}
END_TEST

/*
 * The lists are sized to the answer and owned by the info: a second answer
 * releases the first (LeakSanitizer would see it), a failed one leaves the
 * list empty and released, and a move leaves the source empty.
 */
START_TEST(test_ollama_info_owns_lists)
{
	struct ollama_info	*i = info_new(), *j = info_new();
	char			 reason[OLLAMA_REASON_MAX];

	ck_assert_int_eq(ollama_str(ollama_parse_tags,
	    "{\"models\":[{\"name\":\"a:1b\"},{\"name\":\"b:2b\"}]}", i,
	    reason), 0);
	ck_assert_uint_eq(i->nmodels, 2);
	ck_assert_ptr_nonnull(i->models);
	ck_assert_int_eq(ollama_str(ollama_parse_tags,
	    "{\"models\":[{\"name\":\"c:3b\"}]}", i, reason), 0);
	ck_assert_uint_eq(i->nmodels, 1);
	ck_assert_str_eq(i->models[0], "c:3b");
	ck_assert_int_eq(ollama_str(ollama_parse_ps,
	    "{\"models\":[{\"name\":\"c:3b\",\"size_vram\":7}]}", i,
	    reason), 0);
	ck_assert_uint_eq(i->nloaded, 1);

	ollama_info_move(j, i);
	ck_assert_ptr_null(i->models);
	ck_assert_ptr_null(i->loaded);
	ck_assert_uint_eq(i->nmodels, 0);
	ck_assert_str_eq(j->models[0], "c:3b");
	ck_assert_uint_eq(j->loaded[0].size_vram, 7);
	ck_assert(ollama_has_model(j, "c:3b"));

	/* A bad answer: that list is released, the other stays. */
	ck_assert_int_eq(ollama_str(ollama_parse_tags,
	    "{\"models\":[{\"name\":\"d\"},{\"name\":1}]}", j, reason), -1);
	ck_assert_ptr_null(j->models);
	ck_assert_uint_eq(j->nmodels, 0);
	ck_assert_uint_eq(j->nloaded, 1);
	info_free(i);
	info_free(j);
}
END_TEST

START_TEST(test_ollama_http_error)
{
	char	 r[OLLAMA_REASON_MAX], big[2048];
	size_t	 n;
	char	*b = fixture("ollama-error-404.json", &n);

	ollama_http_error(404, b, n, r);
	ck_assert_str_eq(r, "HTTP 404: model 'llama3.3:70b' not found");
	free(b);
	b = fixture("ollama-garbage.txt", &n);
	ollama_http_error(502, b, n, r);
	ck_assert_str_eq(r, "HTTP 502");
	free(b);
	ollama_http_error(503, NULL, 0, r);
	ck_assert_str_eq(r, "HTTP 503");
	ollama_http_error(503, "", 0, r);
	ck_assert_str_eq(r, "HTTP 503");
	ollama_http_error(500, "{\"error\":5}", 11, r);
	ck_assert_str_eq(r, "HTTP 500");
	ollama_http_error(500, "{\"error\":\"\"}", 12, r);
	ck_assert_str_eq(r, "HTTP 500");
	ollama_http_error(500, "[\"error\"]", 9, r);
	ck_assert_str_eq(r, "HTTP 500");
	ollama_http_error(400, "{\"error\":\"bad\\nrequest\\u001b[0m\"}", 33,
	    r);
	ck_assert_str_eq(r, "HTTP 400: bad?request?[0m");
	/* Only LEN bytes are read: the rest of the literal is ignored. */
	ollama_http_error(429, "{\"error\":\"slow down\"}garbage", 21, r);
	ck_assert_str_eq(r, "HTTP 429: slow down");
	/* A long message is capped. */
	n = (size_t)snprintf(big, sizeof(big), "{\"error\":\"");
	memset(big + n, 'x', 1000);
	n += 1000;
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\"}");
	ollama_http_error(500, big, n, r);
	ck_assert_uint_eq(strlen(r), OLLAMA_REASON_MAX - 1);
	ck_assert_int_eq(strncmp(r, "HTTP 500: xxx", 13), 0);
	ollama_http_error(500, big, n, NULL);	/* no crash */
}
END_TEST

/* ------------------------------------------------------------ robustness */

static const char *const all_fixtures[] = {
	"nvidia-smi-2x4090.txt", "nvidia-smi-h100.txt",
	"nvidia-smi-h100-mig.txt", "nvidia-smi-a100-nosupport.txt",
	"nvidia-smi-driver-fail.txt", "nvidia-smi-nvml-mismatch.txt",
	"nvidia-smi-not-found.txt", "nvidia-smi-garbage.txt",
	"tegrastats-orin.txt", "tegrastats-nano.txt", "tegrastats-orin-agx.txt",
	"ollama-version.json", "ollama-tags.json", "ollama-tags-empty.json",
	"ollama-ps.json", "ollama-ps-empty.json", "ollama-error-404.json",
	"ollama-truncated.json", "ollama-garbage.txt",
};

static void
run_all_parsers(const char *b, size_t n, struct ollama_info *info)
{
	struct gpu_sample s;
	char	r[OLLAMA_REASON_MAX];
	size_t	k;
	int	rc;

	rc = gpu_parse_nvidia_smi(b, n, 0, &s);
	REQUIRE(rc == (s.ok ? 0 : -1), "nvidia-smi rc %d ok %d", rc, s.ok);
	assert_clean_text(s.reason, sizeof(s.reason));
	REQUIRE(s.ok ? s.ngpus >= 1 && s.reason[0] == '\0' :
	    s.ngpus == 0 && s.reason[0] != '\0', "nvidia-smi result");
	for (k = 0; k < s.ngpus; k++) {
		assert_clean_text(s.gpus[k].name, sizeof(s.gpus[k].name));
		assert_clean_text(s.gpus[k].uuid, sizeof(s.gpus[k].uuid));
	}
	rc = gpu_parse_nvidia_smi(b, n, 3, &s);
	REQUIRE(rc == -1 && s.ok == 0, "nvidia-smi exit 3 accepted");
	assert_clean_text(s.reason, sizeof(s.reason));
	rc = gpu_parse_tegrastats(b, n, &s);
	REQUIRE(rc == (s.ok ? 0 : -1), "tegrastats rc %d ok %d", rc, s.ok);
	REQUIRE(s.ok ? s.ngpus == 1 && s.reason[0] == '\0' :
	    s.ngpus == 0 && s.reason[0] != '\0', "tegrastats result");
	assert_clean_text(s.reason, sizeof(s.reason));
	if (ollama_parse_version(b, n, info, r) == 0)
		assert_clean_text(info->version, sizeof(info->version));
	else
		assert_clean_text(r, sizeof(r));
	if (ollama_parse_tags(b, n, info, r) == 0) {
		REQUIRE(info->nmodels <= info->nmodels_total, "nmodels");
		for (k = 0; k < info->nmodels; k++)
			assert_clean_text(info->models[k], OLLAMA_NAME_MAX);
	} else
		assert_clean_text(r, sizeof(r));
	if (ollama_parse_ps(b, n, info, r) == 0) {
		for (k = 0; k < info->nloaded; k++)
			assert_clean_text(info->loaded[k].name, OLLAMA_NAME_MAX);
	} else
		assert_clean_text(r, sizeof(r));
	ollama_http_error(500, b, n, r);
	assert_clean_text(r, sizeof(r));
}

/* Every prefix of every fixture, in an exact-size buffer. */
START_TEST(test_fixture_prefixes)
{
	struct ollama_info *info = info_new();
	size_t	 k, n, cut;
	char	*b, *p;

	for (k = 0; k < sizeof(all_fixtures) / sizeof(all_fixtures[0]); k++) {
		b = fixture(all_fixtures[k], &n);
		for (cut = 0; cut <= n; cut++) {
			p = exact(b, cut);
			run_all_parsers(p, cut, info);
			free(p);
		}
		free(b);
	}
	info_free(info);
}
END_TEST

/* Random bytes drawn mostly from the characters the formats use. */
START_TEST(test_random_bytes)
{
	static const char alpha[] = "0123456789,,, .\n\r\t[]%@/:{}\"\\-CMBmWN/A"
	    "RAMGR3D_FREQgpuGPU@version models name size_vram error";
	struct ollama_info *info = info_new();
	uint32_t x = 0x2545f491u;
	size_t	 iter, n, j;
	char	*b;

	for (iter = 0; iter < 20000; iter++) {
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		n = x % 200;
		b = malloc(n ? n : 1);
		for (j = 0; j < n; j++) {
			x ^= x << 13; x ^= x >> 17; x ^= x << 5;
			b[j] = (x & 0xf00) == 0 ? (char)(x >> 24) :
			    alpha[(x >> 16) % (sizeof(alpha) - 1)];
		}
		run_all_parsers(b, n, info);
		free(b);
	}
	info_free(info);
}
END_TEST

/* ------------------------------------------------------------------ main */

static Suite *
probes_suite(void)
{
	Suite	*s = suite_create("probes");
	TCase	*tc;

	tc = tcase_create("nvidia-smi");
	tcase_add_test(tc, test_nsmi_2x4090);
	tcase_add_test(tc, test_nsmi_h100);
	tcase_add_test(tc, test_nsmi_h100_mig);
	tcase_add_test(tc, test_nsmi_a100_nosupport);
	tcase_add_test(tc, test_nsmi_absent_tokens);
	tcase_add_test(tc, test_nsmi_crlf_spaces_no_newline);
	tcase_add_test(tc, test_nsmi_not_nul_terminated);
	tcase_add_test(tc, test_nsmi_17_gpus);
	tcase_add_test(tc, test_nsmi_driver_fail);
	tcase_add_test(tc, test_nsmi_nvml_mismatch);
	tcase_add_test(tc, test_nsmi_not_found);
	tcase_add_test(tc, test_nsmi_garbage);
	tcase_add_test(tc, test_nsmi_empty);
	tcase_add_test(tc, test_nsmi_exit_nonzero_with_records);
	tcase_add_test(tc, test_nsmi_unknown_error);
	tcase_add_test(tc, test_nsmi_bad_values);
	tcase_add_test(tc, test_nsmi_reason_capped_and_clean);
	tcase_add_test(tc, test_nsmi_long_fields_truncated);
	tcase_add_test(tc, test_nsmi_h200_idle);
	tcase_add_test(tc, test_nsmi_h200_busy);
	tcase_add_test(tc, test_nsmi_h200_busy_samples);
	tcase_add_test(tc, test_nsmi_h200_failures);
	suite_add_tcase(s, tc);

	tc = tcase_create("tegrastats");
	tcase_add_test(tc, test_tegra_nano);
	tcase_add_test(tc, test_tegra_orin);
	tcase_add_test(tc, test_tegra_orin_agx);
	tcase_add_test(tc, test_tegra_gr3d_forms);
	tcase_add_test(tc, test_tegra_ram_and_rails);
	tcase_add_test(tc, test_tegra_malformed);
	tcase_add_test(tc, test_tegra_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("ollama");
	tcase_add_test(tc, test_ollama_version);
	tcase_add_test(tc, test_ollama_tags);
	tcase_add_test(tc, test_ollama_has_model_latest);
	tcase_add_test(tc, test_ollama_tags_empty_and_null);
	tcase_add_test(tc, test_ollama_ps);
	tcase_add_test(tc, test_ollama_wrong_types);
	tcase_add_test(tc, test_ollama_truncated_and_garbage);
	tcase_add_test(tc, test_ollama_body_too_large);
	tcase_add_test(tc, test_ollama_many_models);
	tcase_add_test(tc, test_ollama_long_name);
	tcase_add_test(tc, test_ollama_info_owns_lists);
	tcase_add_test(tc, test_ollama_http_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fixture_prefixes);
	tcase_add_test(tc, test_random_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(probes_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
