/*
 * gpu: parsers for nvidia-smi CSV and tegrastats lines.
 *
 * Both parsers are pure functions of (bytes, length): they never read past
 * LEN, never need a NUL terminator, never allocate, and copy nothing into S
 * that is not valid, printable UTF-8 (reasons and names end up in JSON, in
 * the journal and on terminals).
 *
 * Decisions (see also tests/check_probes.c):
 *
 * nvidia-smi
 * - Exactly 9 fields per line (the query in gpu.h), split on ',' and trimmed
 *   of blanks; CR, blank lines, leading/trailing white space are tolerated.
 * - "[N/A]", "N/A", "[Not Supported]", "[Insufficient Permissions]" make a
 *   reading absent (has_* = 0).  Any other bracketed value ("[Unknown
 *   Error]", "[GPU requires reset]", ...) fails the probe with
 *   "gpuN: FIELD [TEXT]".  index, uuid and name must be present.
 * - Numbers are strict: integers are [-]digits (strtol, end and range
 *   checked), watts are digits[.digits] parsed by hand (locale independent).
 *   Ranges: index 0..9999 (unique), temperature -50..200, utilisation
 *   0..100, memory 0..2^40 MiB, power 0..100000 W.
 * - A "message line" is one that is not a 9-field record and does not start
 *   with a digit (records start with the GPU index): the tool's own words.
 * - A non-zero exit status always fails; the reason is the first message
 *   line (whether it went to stdout or stderr: stdout records may come
 *   first) plus " (exit N)", else the first field error ("gpu1: ...
 *   [Unknown Error] (exit N)"), else "nvidia-smi failed (exit N)".
 *   EXIT_STATUS -1 (unknown) is judged by the output alone.
 * - With exit 0/-1, a message line as the first non-empty line becomes the
 *   reason verbatim ("No devices were found"); any other bad line gives
 *   "malformed nvidia-smi line N: ..." (N counts every line, from 1).
 *   Nothing at all: "no GPU reported".
 * - More than GPU_MAX GPUs: the first GPU_MAX are kept, every line is still
 *   validated, ok = 1, and ngpus_total tells how many were reported.
 * - uuid and name longer than their buffers are truncated (at a UTF-8
 *   character boundary).
 *
 * tegrastats
 * - The first non-empty line that ends in '\n' is parsed; a trailing line
 *   without '\n' is used only when there is no complete one (tegrastats
 *   killed after its first interval may not flush the newline).
 * - Recognised tokens: "RAM U/TMB" (memory), "GR3D_FREQ N%[@...]"
 *   (utilisation), "<gpu>@T C" with the sensor name in any case
 *   (temperature, rounded to the nearest degree; -256 or out of -50..200 is
 *   absent), and GPU power rails POM_5V_GPU, VDD_GPU_SOC, VDD_SYS_GPU,
 *   VDD_GPU, GPU as "N/M" or "NmW/MmW" (current value; combined rails such as
 *   VDD_CPU_GPU_CV are not the GPU and are ignored).  Everything else
 *   (timestamp, CPU, EMC, other sensors and rails) is ignored.
 * - A line with neither RAM nor GR3D_FREQ fails with
 *   "malformed tegrastats line: <the line>"; a RAM or GR3D_FREQ token with a
 *   bad value fails with "malformed tegrastats line: GR3D_FREQ 'x'".
 * - One GPU: index 0, name "Jetson", no uuid, no power limit.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpu.h"
#include "text.h"

#define NSMI_FIELDS	9
#define NUM_MAX		24	/* longest number text accepted */

static const char *const nsmi_field[NSMI_FIELDS] = {
	"index", "uuid", "name", "temperature.gpu", "utilization.gpu",
	"memory.used", "memory.total", "power.draw", "power.limit",
};

/* ------------------------------------------------------------------ text */

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	    c == '\f';
}

static void
trim(const char **p, size_t *n)
{
	while (*n > 0 && is_blank((unsigned char)**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && is_blank((unsigned char)(*p)[*n - 1]))
		(*n)--;
}

static void __attribute__((format(printf, 3, 4)))
fmt_append(char *dst, size_t dstsz, const char *fmt, ...)
{
	size_t	o = strlen(dst);
	va_list	ap;

	if (o + 1 >= dstsz)
		return;
	va_start(ap, fmt);
	vsnprintf(dst + o, dstsz - o, fmt, ap);
	va_end(ap);
}

static int
fail(struct gpu_sample *s)
{
	s->ok = 0;
	s->ngpus = 0;
	s->ngpus_total = 0;
	memset(s->gpus, 0, sizeof(s->gpus));
	return -1;
}

/* --------------------------------------------------------------- numbers */

/* [-]digits within [MIN, MAX]. */
static int
parse_long(const char *p, size_t n, long min, long max, long *out)
{
	char	 buf[NUM_MAX + 1], *end;
	size_t	 i = 0;
	long	 v;

	if (n == 0 || n > NUM_MAX)
		return -1;
	if (p[0] == '-')
		i = 1;
	if (i == n)
		return -1;
	for (; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno != 0 || end != buf + n || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * [-]digits[.digits] without locale (strtod would read "22,00" in some
 * locales and hex or "nan" in all).  At most 12 integer and 9 fraction
 * digits.
 */
static int
parse_decimal(const char *p, size_t n, double *out)
{
	double		 ip = 0.0, fp = 0.0, scale = 1.0;
	size_t		 i = 0, nint = 0, nfrac = 0;
	int		 neg = 0;

	if (n > 0 && p[0] == '-') {
		neg = 1;
		i++;
	}
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, nint++)
		ip = ip * 10.0 + (p[i] - '0');
	if (nint == 0 || nint > 12)
		return -1;
	if (i < n && p[i] == '.') {
		for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++, nfrac++) {
			scale /= 10.0;
			fp += (p[i] - '0') * scale;
		}
		if (nfrac == 0 || nfrac > 9)
			return -1;
	}
	if (i != n)
		return -1;
	*out = neg ? -(ip + fp) : ip + fp;
	return 0;
}

static int
eq(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(p, lit, n) == 0;
}

static int
eq_nocase(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(p, lit, n) == 0;
}

/* ------------------------------------------------------------ nvidia-smi */

enum rec_err {
	REC_OK,
	REC_SHAPE,	/* not a 9-field record: some other text */
	REC_VALUE,	/* a record with a bad value: malformed */
	REC_TOOL,	/* a record where the tool reports a field error */
};

static int
nsmi_absent(const char *p, size_t n)
{
	return eq(p, n, "[N/A]") || eq(p, n, "N/A") ||
	    eq(p, n, "[Not Supported]") ||
	    eq(p, n, "[Insufficient Permissions]");
}

static void
quote_field(char *err, size_t errsz, const char *p, size_t n)
{
	char	q[40];

	text_copy(q, sizeof(q), p, n);
	fmt_append(err, errsz, "'%s'%s", q, n >= sizeof(q) ? "..." : "");
}

/*
 * One line (trimmed, non-empty) into G.  ERR gets the detail: for REC_VALUE
 * what is wrong, for REC_TOOL the complete reason.
 */
static enum rec_err
nsmi_record(const char *p, size_t n, struct gpu_info *g, char *err,
    size_t errsz)
{
	const char	*f[NSMI_FIELDS];
	size_t		 fl[NSMI_FIELDS], nf = 0, i, start = 0;
	long		 v;
	double		 d;
	int		 idx;

	err[0] = '\0';
	for (i = 0; i <= n; i++) {
		if (i < n && p[i] != ',')
			continue;
		if (nf < NSMI_FIELDS) {
			f[nf] = p + start;
			fl[nf] = i - start;
			trim(&f[nf], &fl[nf]);
		}
		nf++;
		start = i + 1;
	}
	if (nf != NSMI_FIELDS) {
		snprintf(err, errsz, "expected %d fields, got %zu",
		    NSMI_FIELDS, nf);
		return REC_SHAPE;
	}
	memset(g, 0, sizeof(*g));

	/* Which GPU, first: the other messages name it. */
	if (fl[0] == 0 || f[0][0] == '[' || nsmi_absent(f[0], fl[0]) ||
	    parse_long(f[0], fl[0], 0, 9999, &v) != 0) {
		snprintf(err, errsz, "index ");
		quote_field(err, errsz, f[0], fl[0]);
		fmt_append(err, errsz, " is not a GPU index");
		return REC_VALUE;
	}
	g->index = idx = (int)v;

	for (i = 1; i < NSMI_FIELDS; i++) {
		if (fl[i] == 0) {
			snprintf(err, errsz, "%s is empty", nsmi_field[i]);
			return REC_VALUE;
		}
		if (nsmi_absent(f[i], fl[i])) {
			if (i <= 2) {
				snprintf(err, errsz, "%s is %.*s",
				    nsmi_field[i], (int)fl[i], f[i]);
				return REC_VALUE;
			}
			continue;	/* has_* stays 0 */
		}
		if (f[i][0] == '[' && f[i][fl[i] - 1] == ']') {
			snprintf(err, errsz, "gpu%d: %s ", idx, nsmi_field[i]);
			text_append(err, errsz, f[i], fl[i]);
			return REC_TOOL;
		}
		switch (i) {
		case 1:
			text_copy(g->uuid, sizeof(g->uuid), f[i], fl[i]);
			break;
		case 2:
			text_copy(g->name, sizeof(g->name), f[i], fl[i]);
			break;
		case 3:
			if (parse_long(f[i], fl[i], -50, 200, &v) != 0)
				goto bad;
			g->has_temp = 1;
			g->temp_c = (int)v;
			break;
		case 4:
			if (parse_long(f[i], fl[i], 0, 100, &v) != 0)
				goto bad;
			g->has_util = 1;
			g->util_pct = (int)v;
			break;
		case 5:
		case 6:
			if (parse_long(f[i], fl[i], 0, 1L << 40, &v) != 0)
				goto bad;
			if (i == 5) {
				g->has_mem_used = 1;
				g->mem_used_mib = v;
			} else {
				g->has_mem_total = 1;
				g->mem_total_mib = v;
			}
			break;
		case 7:
		case 8:
			if (parse_decimal(f[i], fl[i], &d) != 0 || d < 0.0 ||
			    d > 100000.0)
				goto bad;
			if (i == 7) {
				g->has_power = 1;
				g->power_w = d;
			} else {
				g->has_power_limit = 1;
				g->power_limit_w = d;
			}
			break;
		}
	}
	return REC_OK;
bad:
	snprintf(err, errsz, "%s ", nsmi_field[i]);
	quote_field(err, errsz, f[i], fl[i]);
	fmt_append(err, errsz, " is not a valid value");
	return REC_VALUE;
}

/* Next line of [*pos, len): sets P/N (trimmed), returns 0 at the end. */
static int
next_line(const char *out, size_t len, size_t *pos, const char **p,
    size_t *n, int *complete)
{
	const char	*nl;
	size_t		 start = *pos;

	if (start >= len)
		return 0;
	nl = memchr(out + start, '\n', len - start);
	*p = out + start;
	*n = nl ? (size_t)(nl - (out + start)) : len - start;
	*pos = start + *n + (nl ? 1 : 0);
	if (complete)
		*complete = nl != NULL;
	trim(p, n);
	return 1;
}

/*
 * The tool's message for a failed run: the first non-empty line that is not
 * a record (and does not start like one), else the first field error.
 */
static void
nsmi_exit_reason(const char *out, size_t len, int status,
    struct gpu_sample *s)
{
	struct gpu_info	 g;
	const char	*p;
	size_t		 n, pos = 0;
	char		 err[GPU_REASON_MAX], suffix[24];
	enum rec_err	 r;

	snprintf(suffix, sizeof(suffix), " (exit %d)", status);
	s->reason[0] = '\0';
	while (next_line(out, len, &pos, &p, &n, NULL)) {
		if (n == 0)
			continue;
		r = nsmi_record(p, n, &g, err, sizeof(err));
		if (r == REC_SHAPE && !is_digit(p[0])) {
			text_copy(s->reason, sizeof(s->reason) - strlen(suffix),
			    p, n);
			break;
		}
		if (r == REC_TOOL && s->reason[0] == '\0')
			text_copy(s->reason, sizeof(s->reason) - strlen(suffix),
			    err, strlen(err));
	}
	if (s->reason[0] == '\0')
		snprintf(s->reason, sizeof(s->reason) - strlen(suffix),
		    "nvidia-smi failed");
	fmt_append(s->reason, sizeof(s->reason), "%s", suffix);
}

int
gpu_parse_nvidia_smi(const char *out, size_t len, int exit_status,
    struct gpu_sample *s)
{
	struct gpu_info	 g;
	const char	*p;
	size_t		 n, pos = 0;
	char		 err[GPU_REASON_MAX];
	unsigned char	 seen[10000 / 8 + 1];	/* indexes 0..9999 */
	int		 lineno = 0, nonempty = 0;
	enum rec_err	 r;

	memset(s, 0, sizeof(*s));
	memset(seen, 0, sizeof(seen));
	if (out == NULL)
		len = 0;
	if (exit_status != 0 && exit_status != -1) {
		nsmi_exit_reason(out, len, exit_status, s);
		return fail(s);
	}
	while (next_line(out, len, &pos, &p, &n, NULL)) {
		lineno++;
		if (n == 0)
			continue;
		r = nsmi_record(p, n, &g, err, sizeof(err));
		if (r == REC_SHAPE && nonempty == 0 && !is_digit(p[0])) {
			text_copy(s->reason, sizeof(s->reason), p, n);
			return fail(s);
		}
		nonempty++;
		if (r == REC_TOOL) {
			text_copy(s->reason, sizeof(s->reason), err,
			    strlen(err));
			return fail(s);
		}
		if (r == REC_OK) {
			if (seen[g.index / 8] & (1u << (g.index % 8))) {
				snprintf(err, sizeof(err),
				    "duplicate index %d", g.index);
				r = REC_VALUE;
			}
			seen[g.index / 8] |= (unsigned char)(1u << (g.index % 8));
		}
		if (r != REC_OK) {
			snprintf(s->reason, sizeof(s->reason),
			    "malformed nvidia-smi line %d: ", lineno);
			text_append(s->reason, sizeof(s->reason), err,
			    strlen(err));
			return fail(s);
		}
		if (s->ngpus < GPU_MAX)
			s->gpus[s->ngpus++] = g;
		s->ngpus_total++;
	}
	if (s->ngpus == 0) {
		snprintf(s->reason, sizeof(s->reason), "no GPU reported");
		return fail(s);
	}
	s->ok = 1;
	return 0;
}

/* ------------------------------------------------------------ tegrastats */

static const char *const tegra_gpu_rails[] = {
	"POM_5V_GPU", "VDD_GPU_SOC", "VDD_SYS_GPU", "VDD_GPU", "GPU",
};

/* "N" or "NmW" as milliwatts; END is where it stopped. */
static int
tegra_mw(const char *p, size_t n, size_t *used, long *mw)
{
	size_t	i = 0;

	while (i < n && p[i] >= '0' && p[i] <= '9')
		i++;
	if (parse_long(p, i, 0, 10000000, mw) != 0)
		return -1;
	if (n - i >= 2 && p[i] == 'm' && p[i + 1] == 'W')
		i += 2;
	*used = i;
	return 0;
}

/* "current/average" power, in either form. */
static int
tegra_power(const char *p, size_t n, double *w)
{
	size_t	a, b;
	long	cur, avg;

	if (tegra_mw(p, n, &a, &cur) != 0 || a >= n || p[a] != '/')
		return -1;
	if (tegra_mw(p + a + 1, n - a - 1, &b, &avg) != 0 || a + 1 + b != n)
		return -1;
	*w = (double)cur / 1000.0;
	return 0;
}

/* "U/TMB". */
static int
tegra_ram(const char *p, size_t n, long *used, long *total)
{
	const char	*slash;

	if (n < 5 || memcmp(p + n - 2, "MB", 2) != 0)
		return -1;
	slash = memchr(p, '/', n - 2);
	if (slash == NULL)
		return -1;
	if (parse_long(p, (size_t)(slash - p), 0, 1L << 40, used) != 0 ||
	    parse_long(slash + 1, (size_t)(p + n - 2 - slash - 1), 0, 1L << 40,
	    total) != 0)
		return -1;
	return 0;
}

/* "N%", "N%@F", "N%@[F,...]". */
static int
tegra_gr3d(const char *p, size_t n, long *pct)
{
	const char	*pc = memchr(p, '%', n);
	size_t		 k;

	if (pc == NULL || parse_long(p, (size_t)(pc - p), 0, 100, pct) != 0)
		return -1;
	k = (size_t)(pc - p) + 1;
	if (k == n)
		return 0;
	return p[k] == '@' && k + 1 < n ? 0 : -1;
}

/* "NAME@TC" where NAME is gpu in any case: 1 = GPU sensor, T set. */
static int
tegra_gpu_temp(const char *p, size_t n, int *has, int *temp)
{
	const char	*at = memchr(p, '@', n);
	double		 t;
	size_t		 vn;

	if (at == NULL || !eq_nocase(p, (size_t)(at - p), "GPU"))
		return 0;
	vn = (size_t)(p + n - at - 1);
	if (vn < 2 || (at[vn] != 'C' && at[vn] != 'c') ||
	    parse_decimal(at + 1, vn - 1, &t) != 0 || t < -50.0 || t > 200.0) {
		*has = 0;	/* -256C: sensor off; junk: unknown */
		return 1;
	}
	*has = 1;
	*temp = (int)(t < 0 ? t - 0.5 : t + 0.5);
	return 1;
}

int
gpu_parse_tegrastats(const char *out, size_t len, struct gpu_sample *s)
{
	struct gpu_info	*g = &s->gpus[0];
	const char	*line = NULL, *p, *tok, *prev = NULL;
	size_t		 n, linen = 0, pos = 0, tn = 0, prevn = 0, i, k;
	int		 complete, have_ram = 0, have_gr3d = 0, have_temp = 0;
	int		 have_power = 0, t = 0;
	long		 a, b;
	double		 w;

	memset(s, 0, sizeof(*s));
	if (out == NULL)
		len = 0;
	while (next_line(out, len, &pos, &p, &n, &complete)) {
		if (n == 0)
			continue;
		if (complete || line == NULL) {
			line = p;
			linen = n;
		}
		if (complete)
			break;
	}
	if (line == NULL) {
		snprintf(s->reason, sizeof(s->reason), "no tegrastats output");
		return fail(s);
	}

	for (i = 0; i < linen; prev = tok, prevn = tn) {
		while (i < linen && is_blank((unsigned char)line[i]))
			i++;
		tok = line + i;
		while (i < linen && !is_blank((unsigned char)line[i]))
			i++;
		tn = (size_t)(line + i - tok);
		if (tn == 0)
			break;
		if (prev != NULL && eq(prev, prevn, "RAM") && !have_ram) {
			if (tegra_ram(tok, tn, &a, &b) != 0)
				goto bad;
			have_ram = 1;
			g->has_mem_used = g->has_mem_total = 1;
			g->mem_used_mib = a;
			g->mem_total_mib = b;
			continue;
		}
		if (prev != NULL && eq(prev, prevn, "GR3D_FREQ") &&
		    !have_gr3d) {
			if (tegra_gr3d(tok, tn, &a) != 0)
				goto bad;
			have_gr3d = 1;
			g->has_util = 1;
			g->util_pct = (int)a;
			continue;
		}
		if (prev != NULL && !have_power)
			for (k = 0; k < sizeof(tegra_gpu_rails) /
			    sizeof(tegra_gpu_rails[0]); k++)
				if (eq_nocase(prev, prevn, tegra_gpu_rails[k]) &&
				    tegra_power(tok, tn, &w) == 0) {
					have_power = 1;
					g->has_power = 1;
					g->power_w = w;
					break;
				}
		if (!have_temp && tegra_gpu_temp(tok, tn, &g->has_temp, &t)) {
			have_temp = 1;
			if (g->has_temp)
				g->temp_c = t;
		}
	}
	/* A keyword as the last token has no value. */
	if (prev != NULL && ((eq(prev, prevn, "RAM") && !have_ram) ||
	    (eq(prev, prevn, "GR3D_FREQ") && !have_gr3d))) {
		tok = prev + prevn;
		tn = 0;
		goto bad;
	}
	if (!have_ram && !have_gr3d) {
		snprintf(s->reason, sizeof(s->reason),
		    "malformed tegrastats line: ");
		text_append(s->reason, sizeof(s->reason), line, linen);
		return fail(s);
	}
	g->index = 0;
	snprintf(g->name, sizeof(g->name), "Jetson");
	s->ngpus = s->ngpus_total = 1;
	s->ok = 1;
	return 0;
bad:
	snprintf(s->reason, sizeof(s->reason), "malformed tegrastats line: ");
	text_append(s->reason, sizeof(s->reason), prev, prevn);
	fmt_append(s->reason, sizeof(s->reason), " ");
	quote_field(s->reason, sizeof(s->reason), tok, tn);
	return fail(s);
}

int
gpu_temp_over(const struct gpu_info *g, int temp_c)
{
	if (!g->has_temp)
		return -1;
	return g->temp_c > temp_c;
}

int
gpu_mem_over(const struct gpu_info *g, int mem_pct)
{
	if (!g->has_mem_used || !g->has_mem_total || g->mem_total_mib <= 0)
		return -1;
	/* Exact: used/total > pct/100, no rounding at the edge. */
	return g->mem_used_mib * 100 > (long)mem_pct * g->mem_total_mib;
}

long
gpu_mem_pct(const struct gpu_info *g)
{
	if (!g->has_mem_used || !g->has_mem_total || g->mem_total_mib <= 0)
		return -1;
	return (g->mem_used_mib * 100 + g->mem_total_mib / 2) /
	    g->mem_total_mib;
}
