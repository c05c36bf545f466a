/*
 * tunnelctl: the command-line client of tunneld's control socket.
 *
 *	tunnelctl [--socket PATH] [--json] [--help] [--version] COMMAND [ARGS]
 *
 * It sends one request line (the command words joined by single spaces,
 * ending in "\n") over the AF_UNIX stream socket and reads JSON replies, one
 * object per line.  Like relayctl and bgpctl, what the daemon said (read by
 * jv.c into a tree of plain structs, seen through the j*() accessors) is
 * kept apart from how it is shown: the render_*() functions are pure -- a
 * reply in, text out, no clock, no socket, no global state -- so that they
 * can be fed canned replies (tests/t_tunnelctl_render.sh does).
 *
 * Socket: --socket PATH, else $TUNNELD_SOCKET, else /run/tunneld/control.sock.
 * Timeout: a daemon that does not answer within $TUNNELCTL_TIMEOUT seconds
 * (default 10) is treated as unreachable; `watch` is bounded only until its
 * first line, then follows the stream until the user interrupts (SIGINT,
 * SIGTERM).  When the daemon closes the stream (a restart), `watch` says so
 * and connects again for up to $TUNNELCTL_RECONNECT seconds (default 600).
 *
 * Drawing: a UTF-8 terminal gets arrows and degree signs; a pipe or another
 * locale gets ASCII.  The table fits $COLUMNS, else the terminal's width
 * (a pipe: no limit): the least important columns are shortened or left
 * out, the reason cut, and no row is ever wrapped.
 *
 * Exit status (also in --help):
 *	0  ok; for `status`: every node shown is up
 *	1  `status`: a node shown is not up; `best`: no node qualifies
 *	2  usage error: unknown option or command, wrong arguments, a word that
 *	   is not printable or has spaces, a request of 1024 bytes or more;
 *	   and the daemon's "usage", "no-such-node" and "no-such-pool" errors
 *	3  daemon unreachable or unintelligible: cannot connect, no reply in
 *	   time, connection closed without a reply (or a `watch` stream closed
 *	   by a daemon that did not come back), a reply line that is not a JSON
 *	   object with a boolean "ok" or that lacks the field the command needs,
 *	   a line over 4 GiB
 *	4  permission denied (the daemon's "permission" error)
 *	5  local failure: standard output cannot be written (other than a closed
 *	   pipe, which ends tunnelctl quietly with this status), out of memory
 *	6  `reload`: the file is not valid, the running config is kept
 *	   ("config")
 *	7  any other error of the daemon ("internal", or a kind not known here)
 * The daemon's error sentence is printed as "tunnelctl: <error>" on
 * standard error.  A daemon older than "kind" is judged by its sentence.
 *
 * With --json each reply line is copied to standard output byte for byte
 * (only lines that parse as JSON objects: garbage is reported, not copied)
 * and the exit status is computed exactly as without it.
 *
 * Text written to the terminal never carries the daemon's control
 * characters: strings from a reply are shown with C0/C1 controls replaced by
 * '?', so that a hostile or broken daemon cannot drive the terminal.
 */
/*
 * Autoconf's header in angle brackets, on purpose: "config.h" in quotes is
 * looked up first in this file's own directory, where supervisor/config.h
 * (the tunneld.conf model) would shadow it.  <config.h> searches only the
 * -I list, where automake's DEFAULT_INCLUDES (-I. -I$(srcdir)) come first.
 */
#ifdef HAVE_CONFIG_H
#include <config.h>
#endif

#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* ppoll() */
#endif

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <errno.h>
#include <math.h>		/* isfinite(), a macro: no -lm */
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <langinfo.h>
#include <locale.h>
#include <malloc.h>
#include <strings.h>


#include "fixed.h"
#include "jv.h"

#ifndef PACKAGE_VERSION
#error "PACKAGE_VERSION undefined: build through configure (HAVE_CONFIG_H) or pass -DPACKAGE_VERSION"
#endif

#ifndef TUNNELCTL_SOCKET
#define TUNNELCTL_SOCKET	"/run/tunneld/control.sock"
#endif

#define EXIT_OK		0
#define EXIT_NOTUP	1
#define EXIT_USAGE	2
#define EXIT_UNREACH	3
#define EXIT_REFUSED	4
#define EXIT_LOCAL	5

#define REQUEST_MAX	1024		/* a request line is shorter than this */
/*
 * Longest reply line accepted.  The daemon's status has no size limit of
 * its own (a node can list 256 models; a config may hold 20,000 nodes),
 * so the bound is a guard against a stream that never ends its line, far
 * above any real reply: a 5,000-node status is about 2 MB, 20,000 nodes
 * each at every field's limit under 2 GiB.  The reply deadline bounds the
 * time as well.
 */
#define REPLY_LINE_MAX	((size_t)4 << 30)
#define TIMEOUT_DEFAULT_MS 10000
#define MAX_WORDS	8
#define EXIT_CONFIG	6	/* reload: the file is not valid */
#define EXIT_FAILED	7	/* the daemon could not do it */

/* What a node or pool name may hold (the daemon's own rule). */
#define NAME_CHARS	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
			"0123456789-_.:"

enum cmd {
	CMD_STATUS,
	CMD_RESTART,
	CMD_STOP,
	CMD_START,
	CMD_RELOAD,
	CMD_WATCH,
	CMD_METRICS,
	CMD_VERSION,
	CMD_BEST,
	CMD_LIST,
};

static const struct cmd_def {
	const char	*name;
	enum cmd	 cmd;
	int		 minargs, maxargs;
	const char	*usage;
} cmd_defs[] = {
	{ "status",	CMD_STATUS,	0, 1, "status [NODE]" },
	{ "restart",	CMD_RESTART,	1, 1, "restart NODE|all" },
	{ "stop",	CMD_STOP,	1, 1, "stop NODE" },
	{ "start",	CMD_START,	1, 1, "start NODE" },
	{ "reload",	CMD_RELOAD,	0, 0, "reload" },
	{ "watch",	CMD_WATCH,	0, 0, "watch" },
	{ "metrics",	CMD_METRICS,	0, 0, "metrics" },
	{ "version",	CMD_VERSION,	0, 0, "version" },
	{ "best",	CMD_BEST,	0, 3, "best [POOL] [--model NAME]" },
	{ "list",	CMD_LIST,	1, 1, "list nodes|pools" },
};
#define NCMDS	(sizeof(cmd_defs) / sizeof(cmd_defs[0]))

static void	die(int, const char *, ...)
		    __attribute__((format(printf, 2, 3), noreturn));

/* ---------------------------------------------------------------------
 * Small helpers: a growing string, UTF-8 width, clean strings.
 */

struct sbuf {
	char	*s;
	size_t	 len, cap;
};

static void
die(int code, const char *fmt, ...)
{
	va_list	ap;

	fflush(stdout);
	fputs("tunnelctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static void
sb_reserve(struct sbuf *b, size_t more)
{
	size_t	 cap;
	char	*s;

	if (b->len + more + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < b->len + more + 1) {
		if (cap > SIZE_MAX / 2)
			die(EXIT_LOCAL, "out of memory");
		cap *= 2;
	}
	if ((s = realloc(b->s, cap)) == NULL)
		die(EXIT_LOCAL, "out of memory");
	b->s = s;
	b->cap = cap;
}

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	sb_reserve(b, n);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
sb_puts(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void	sb_printf(struct sbuf *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	/* Formatted once where it fits, as nearly every cell does. */
	sb_reserve(b, 63);
	va_start(ap, fmt);
	n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		die(EXIT_LOCAL, "vsnprintf failed");
	if ((size_t)n >= b->cap - b->len) {
		sb_reserve(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/*
 * Append a string from the daemon, with C0 controls, DEL and C1 controls
 * (U+0080..U+009F, encoded C2 80..C2 9F) replaced by '?'.  jv hands us
 * valid UTF-8 only, so the rest is copied as is, a run at a time.
 */
static void
sb_add_clean(struct sbuf *b, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s, *run = p;

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f ||
		    (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
			sb_add(b, (const char *)run, (size_t)(p - run));
			sb_add(b, "?", 1);
			if (*p == 0xc2)
				p++;
			run = p + 1;
		}
	}
	sb_add(b, (const char *)run, (size_t)(p - run));
}

static void
sb_clear(struct sbuf *b)
{
	b->len = 0;
	if (b->s != NULL)
		b->s[0] = '\0';
}

/* Returns the string and leaves B empty; never NULL. */
static char *
sb_steal(struct sbuf *b)
{
	char	*s;

	if (b->s == NULL) {
		sb_reserve(b, 0);
		b->s[0] = '\0';
	}
	s = b->s;
	memset(b, 0, sizeof(*b));
	return s;
}

/* Display width of a UTF-8 string: its number of code points. */
static size_t
u8_width(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* ---------------------------------------------------------------------
 * Data: read fields out of a reply, treating anything missing, null or of
 * the wrong type as absent.
 */

static const struct jv *
jget(const struct jv *o, const char *key)
{
	const struct jv	*v = jv_member(o, key);

	return v != NULL && v->type != JV_NULL ? v : NULL;
}

/* Whether V is there and of TYPE. */
static int
jis(const struct jv *v, enum jv_type type)
{
	return v != NULL && v->type == type;
}

static const char *
jstr(const struct jv *o, const char *key)
{
	const struct jv	*v = jget(o, key);

	return jis(v, JV_STRING) ? v->str : NULL;
}

/* A non-empty string, or NULL. */
static const char *
jstr_ne(const struct jv *o, const char *key)
{
	const char	*s = jstr(o, key);

	return s != NULL && *s != '\0' ? s : NULL;
}

static int
jnum(const struct jv *o, const char *key, double *d)
{
	const struct jv	*v = jget(o, key);

	if (!jis(v, JV_NUMBER))
		return 0;
	*d = v->num;
	return isfinite(*d);
}

static const struct jv *
jobj(const struct jv *o, const char *key)
{
	const struct jv	*v = jget(o, key);

	return jis(v, JV_OBJECT) ? v : NULL;
}

static const struct jv *
jarr(const struct jv *o, const char *key)
{
	const struct jv	*v = jget(o, key);

	return jis(v, JV_ARRAY) ? v : NULL;
}

/* The elements of array A (NULL: none), I counting from 0. */
#define jarr_foreach(a, i, v)						\
	for ((i) = 0, (v) = (a) != NULL ? (a)->child : NULL; (v) != NULL; \
	    (v) = (v)->next, (i)++)

static size_t
jarr_size(const struct jv *a)
{
	return a != NULL ? a->len : 0;
}

/* -1: not a reply object; 0: {"ok":false}; 1: {"ok":true}. */
static int
reply_ok(const struct jv *reply)
{
	const struct jv	*ok = jv_member(reply, "ok");

	if (!jis(reply, JV_OBJECT) || !(jis(ok, JV_TRUE) || jis(ok, JV_FALSE)))
		return -1;
	return jis(ok, JV_TRUE);
}

typedef int node_fn(const struct jv *node, void *arg);

/*
 * LINE as a reply object, its memory in DOC; NULL when it is not one.
 * With EACH, the elements of its "nodes" array are handed over one at a
 * time as they are read, and then forgotten (jv_stream): a 1,000-node
 * status is about 1 MB, and all the table keeps of a node is its row.
 */
static const struct jv *
reply_parse(struct jv_doc *doc, const char *line, size_t len, node_fn *each,
    void *arg)
{
	struct jv_stream	 st = { "nodes", each, arg };
	const struct jv		*reply;

	if (jv_parse(doc, line, len, each != NULL ? &st : NULL, &reply) == -1) {
		if (strcmp(doc->error, "out of memory") == 0)
			die(EXIT_LOCAL, "out of memory");
		return NULL;
	}
	return jis(reply, JV_OBJECT) ? reply : NULL;
}

static int
node_is_up(const struct jv *node)
{
	const char	*state = jstr(node, "state");

	return state != NULL && strcmp(state, "up") == 0;
}

/*
 * Exit status for a status reply: EXIT_OK when every node shown is up,
 * EXIT_NOTUP when one is not, EXIT_UNREACH when the reply has no node list.
 */
static int
status_exit_code(const struct jv *reply)
{
	const struct jv	*nodes = jarr(reply, "nodes"), *n;
	size_t	 i;

	if (nodes == NULL)
		return EXIT_UNREACH;
	jarr_foreach(nodes, i, n)
		if (!node_is_up(n))
			return EXIT_NOTUP;
	return EXIT_OK;
}

/* ---------------------------------------------------------------------
 * Rendering: pure functions of a reply and of how to draw (struct rctx,
 * decided once by main() from the terminal and the locale).
 */

struct rctx {
	int	ascii;		/* 7-bit text: not a UTF-8 terminal */
	size_t	cols;		/* width no line may pass; 0: none */
};

#define ARROW(rc)	((rc)->ascii ? "->" : "\xe2\x86\x92")	/* U+2192 */
#define DEGC(rc)	((rc)->ascii ? "C" : "\xc2\xb0" "C")	/* U+00B0 */
#define ELLIPSIS(rc)	((rc)->ascii ? "..." : "\xe2\x80\xa6")	/* U+2026 */

/*
 * A daemon's string as sb_add_clean() does, and in ASCII mode with every
 * other code point replaced: the arrow and the ellipsis spelled out, the
 * degree sign dropped ("85C"), anything else '?'.
 */
static void
sb_text(struct sbuf *b, const char *s, const struct rctx *rc)
{
	const unsigned char	*p = (const unsigned char *)s;

	if (!rc->ascii) {
		sb_add_clean(b, s);
		return;
	}
	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			sb_add(b, "?", 1);
		else if (*p < 0x80)
			sb_add(b, (const char *)p, 1);
		else {
			if (p[0] == 0xc2 && p[1] == 0xb0)
				;
			else if (p[0] == 0xe2 && p[1] == 0x86 && p[2] == 0x92)
				sb_puts(b, "->");
			else if (p[0] == 0xe2 && p[1] == 0x80 && p[2] == 0xa6)
				sb_puts(b, "...");
			else
				sb_add(b, "?", 1);
			while ((p[1] & 0xc0) == 0x80)
				p++;
		}
	}
}

static void
sb_add_field(struct sbuf *b, const struct jv *o, const char *key,
    const struct rctx *rc)
{
	const char	*s = jstr_ne(o, key);

	sb_text(b, s != NULL ? s : "-", rc);
}

/*
 * S cut to WIDTH code points, an ellipsis marking the cut; appended to B.
 */
static void
sb_add_fit(struct sbuf *b, const char *s, size_t width, const struct rctx *rc)
{
	size_t		 n = 0, keep, ew = rc->ascii ? 3 : 1;
	const char	*p;

	if (u8_width(s) <= width) {
		sb_puts(b, s);
		return;
	}
	keep = width > ew ? width - ew : 0;
	for (p = s; *p != '\0'; p++) {
		if (((unsigned char)*p & 0xc0) != 0x80 && n++ == keep)
			break;
	}
	sb_add(b, s, (size_t)(p - s));
	if (width >= ew)
		sb_puts(b, ELLIPSIS(rc));
}

/* One line of output, cut to the width: a row is never wrapped. */
static void
put_line(FILE *out, const char *s, const struct rctx *rc)
{
	struct sbuf	b = { 0 };

	if (rc->cols == 0 || u8_width(s) <= rc->cols) {
		fputs(s, out);
		fputc('\n', out);
		return;
	}
	sb_add_fit(&b, s, rc->cols, rc);
	fputs(b.s, out);
	fputc('\n', out);
	free(b.s);
}

/* N in decimal; at least two digits with TWO ("03"). */
static void
sb_uint(struct sbuf *b, unsigned long long n, int two)
{
	char	d[24], *p = d + sizeof(d);

	do
		*--p = '0' + n % 10;
	while ((n /= 10) > 0);
	if (two && p == d + sizeof(d) - 1)
		*--p = '0';
	sb_add(b, p, (size_t)(d + sizeof(d) - p));
}

/* V as "%.0f" (DECIMALS 0) or "%.1f" (1) would write it. */
static void
sb_fixed(struct sbuf *b, double v, int decimals)
{
	char	buf[FIXED_MAX];
	size_t	n;

	if ((n = fixed_fmt(buf, v, decimals)) == 0)
		sb_printf(b, decimals ? "%.1f" : "%.0f", v);
	else
		sb_add(b, buf, n);
}

/* "45s", "2m03s", "1h02m", "3d04h". */
static void
fmt_duration(struct sbuf *b, double s)
{
	static const struct { unsigned long long unit, sub; char u1, u2; }
	    f[] = { { 86400, 3600, 'd', 'h' }, { 3600, 60, 'h', 'm' },
	    { 60, 1, 'm', 's' } };
	unsigned long long	t;
	size_t			i;

	if (s < 0)
		s = 0;
	if (s > 1e12)
		s = 1e12;
	t = (unsigned long long)s;
	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (t >= f[i].unit) {
			sb_uint(b, t / f[i].unit, 0);
			sb_add(b, &f[i].u1, 1);
			sb_uint(b, t % f[i].unit / f[i].sub, 1);
			sb_add(b, &f[i].u2, 1);
			return;
		}
	sb_uint(b, t, 0);
	sb_add(b, "s", 1);
}

/* A countdown, rounded up (like STATUS=): 7.3 s is "8s". */
static void
fmt_countdown(struct sbuf *b, double d)
{
	fmt_duration(b, d > 1e12 ? d : (double)(long long)d +
	    (d > (double)(long long)d));
}

/* Milliseconds: "0.4ms", "41ms", "1.2s"; "-" when absent or negative. */
static void
fmt_ms(struct sbuf *b, const struct jv *o, const char *key)
{
	double	ms;

	if (!jnum(o, key, &ms) || ms < 0)
		sb_puts(b, "-");
	else if (ms < 9.95) {
		sb_fixed(b, ms, 1);
		sb_puts(b, "ms");
	} else if (ms < 999.5) {
		sb_fixed(b, ms, 0);
		sb_puts(b, "ms");
	} else {
		sb_fixed(b, ms / 1000.0, 1);
		sb_puts(b, "s");
	}
}

/* Bytes, IEC: "512B", "120.6KiB", "1.2GiB". */
static void
fmt_bytes(struct sbuf *b, double v)
{
	static const char *units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	size_t	u = 0;

	if (v < 1024) {
		sb_fixed(b, v < 0 ? 0 : v, 0);
		sb_puts(b, "B");
		return;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	sb_fixed(b, v, 1);
	sb_puts(b, units[u]);
}

/* Unix seconds as the daemon writes its times: 2026-11-22T14:03:11Z. */
static void
fmt_epoch(struct sbuf *b, double t)
{
	time_t		tt;
	struct tm	tm;
	char		ts[32];

	if (t < 0 || t > 253402300799.0) {	/* year 9999 */
		sb_puts(b, "-");
		return;
	}
	tt = (time_t)t;
	if (gmtime_r(&tt, &tm) != NULL &&
	    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		sb_puts(b, ts);
	else
		sb_puts(b, "-");
}

static int
host_is_loopback(const char *h, size_t n)
{
	return (n >= 4 && strncmp(h, "127.", 4) == 0) ||
	    (n == 9 && strncmp(h, "localhost", 9) == 0) ||
	    (n == 3 && strncmp(h, "::1", 3) == 0) ||
	    (n == 5 && strncmp(h, "[::1]", 5) == 0);
}

/*
 * "127.0.0.1:11435" -> "11435" when SHORTEN; other hosts always stay:
 * "0.0.0.0:11435".
 */
static void
fmt_endpoint(struct sbuf *b, const char *hp, int shorten,
    const struct rctx *rc)
{
	const char	*colon;

	if (hp == NULL || *hp == '\0') {
		sb_puts(b, "-");
		return;
	}
	colon = strrchr(hp, ':');
	if (shorten && colon != NULL && colon[1] != '\0' &&
	    host_is_loopback(hp, (size_t)(colon - hp)))
		sb_text(b, colon + 1, rc);
	else
		sb_text(b, hp, rc);
}

/* "http://127.0.0.1:11436/x" -> "127.0.0.1:11436". */
static void
fmt_url_hostport(struct sbuf *b, const char *url, const struct rctx *rc)
{
	const char	*p = strstr(url, "://");
	struct sbuf	 t = { 0 };

	p = p != NULL ? p + 3 : url;
	sb_add(&t, p, strcspn(p, "/?#"));
	sb_text(b, t.s != NULL && *t.s != '\0' ? t.s : url, rc);
	free(t.s);
}

/* Draw one cell; SHORT asks for the narrow form, where a cell has one. */
typedef void cell_fn(struct sbuf *, const struct jv *, const struct rctx *,
    int);

static void
cell_state(struct sbuf *b, const struct jv *node, const struct rctx *rc, int sh)
{
	(void)sh;
	sb_add_field(b, node, "state", rc);
}

/* How long the node has been in its state. */
static void
cell_for(struct sbuf *b, const struct jv *node, const struct rctx *rc, int sh)
{
	double	d;

	(void)rc, (void)sh;
	if (jstr_ne(node, "state") != NULL && jnum(node, "since_s", &d) &&
	    d >= 0)
		fmt_duration(b, d);
	else
		sb_puts(b, "-");
}

/* In backoff: the time until the next attempt. */
static void
cell_next(struct sbuf *b, const struct jv *node, const struct rctx *rc, int sh)
{
	const char	*state = jstr(node, "state");
	double		 d;

	(void)rc, (void)sh;
	if (state != NULL && strcmp(state, "backoff") == 0 &&
	    jnum(jobj(node, "ssh"), "next_attempt_s", &d) && d >= 0)
		fmt_countdown(b, d);
	else
		sb_puts(b, "-");
}

/* The SSH session's own age: a brief `degraded` does not reset it. */
static void
cell_session(struct sbuf *b, const struct jv *node, const struct rctx *rc,
    int sh)
{
	double	d;

	(void)rc, (void)sh;
	if (jnum(jobj(node, "ssh"), "session_s", &d) && d >= 0)
		fmt_duration(b, d);
	else
		sb_puts(b, "-");
}

static int
node_session_alive(const struct jv *node)
{
	const char	*s = jstr(node, "state");

	return s != NULL && (strcmp(s, "up") == 0 ||
	    strcmp(s, "degraded") == 0);
}

/*
 * The port map: "127.0.0.1:11435→11434" for a local forward (the target
 * shortened when it is loopback), "R 127.0.0.1:11436→11434" for a remote
 * one, a forward that is not up followed by its state ("(refused)").  The
 * short form leaves loopback listen hosts out too: "11435→11434".  A node
 * without a session (ssh = none) shows where its Ollama is reached:
 * "127.0.0.1:11436 (local)".
 */
static void
cell_ports(struct sbuf *b, const struct jv *node, const struct rctx *rc, int sh)
{
	const struct jv		*fwds = jarr(node, "forwards"), *f;
	const char	*kind, *state, *url;
	size_t		 i, shown = 0;
	int		 alive = node_session_alive(node);

	jarr_foreach(fwds, i, f) {
		if (!jis(f, JV_OBJECT))
			continue;
		if (shown++ > 0)
			sb_puts(b, ", ");
		kind = jstr(f, "kind");
		if (kind != NULL && strcmp(kind, "remote") == 0)
			sb_puts(b, "R ");
		else if (kind != NULL && strcmp(kind, "local") != 0) {
			sb_text(b, kind, rc);
			sb_puts(b, " ");
		}
		fmt_endpoint(b, jstr(f, "listen"), sh, rc);
		sb_puts(b, ARROW(rc));
		fmt_endpoint(b, jstr(f, "target"), 1, rc);
		/* "down" says nothing new while the session is down. */
		state = jstr_ne(f, "state");
		if (state != NULL && strcmp(state, "up") != 0 &&
		    (strcmp(state, "down") != 0 || alive)) {
			sb_puts(b, " (");
			sb_text(b, state, rc);
			sb_puts(b, ")");
		}
	}
	if (shown > 0)
		return;
	if (jis(jv_member(node, "ssh"), JV_NULL) &&
	    (url = jstr_ne(jobj(node, "ollama"), "url")) != NULL) {
		fmt_url_hostport(b, url, rc);
		sb_puts(b, " (local)");
	} else
		sb_puts(b, "-");
}

/* The last keepalive's round trip; a session that is gone has none. */
static void
cell_rtt(struct sbuf *b, const struct jv *node, const struct rctx *rc, int sh)
{
	(void)rc, (void)sh;
	if (node_session_alive(node))
		fmt_ms(b, jobj(node, "ssh"), "rtt_ms");
	else
		sb_puts(b, "-");
}

/*
 * "0.5.7 12ms 3 models" ("12ms" short); a probe state other than ok is
 * shown instead.
 */
static void
cell_ollama(struct sbuf *b, const struct jv *node, const struct rctx *rc,
    int sh)
{
	const struct jv		*o = jobj(node, "ollama"), *models;
	const char	*state, *version;
	double		 ms, total;
	size_t		 n;
	int		 has_total;

	if (o == NULL) {
		sb_puts(b, "-");
		return;
	}
	state = jstr_ne(o, "state");
	if (state != NULL && strcmp(state, "ok") != 0) {
		sb_text(b, state, rc);
		return;
	}
	version = jstr_ne(o, "version");
	has_total = jnum(o, "models_total", &total) && total >= 0;
	if (version == NULL && !jnum(o, "latency_ms", &ms) && !has_total &&
	    jarr(o, "models") == NULL) {
		sb_puts(b, "-");
		return;
	}
	if (sh) {
		fmt_ms(b, o, "latency_ms");
		return;
	}
	if (version != NULL)
		sb_text(b, version, rc);
	else
		sb_puts(b, "-");
	sb_puts(b, " ");
	fmt_ms(b, o, "latency_ms");
	/* The summary has the count only; a status the list too. */
	if (has_total || (models = jarr(o, "models")) != NULL) {
		/* A double past 2^64 has no integer type to go to. */
		if (has_total && total >= 1e18)
			sb_printf(b, " %.0f models", total);
		else {
			n = has_total ? (size_t)total : jarr_size(models);
			sb_add(b, " ", 1);
			sb_uint(b, n, 0);
			sb_puts(b, n == 1 ? " model" : " models");
		}
	} else
		sb_puts(b, " -");
	/* Figures kept from a session that is gone (probe.c). */
	if (jis(jget(o, "stale"), JV_TRUE))
		sb_puts(b, " (stale)");
}

/* "NVIDIA GeForce RTX 4090" -> "RTX 4090": the vendor says nothing. */
static const char *
gpu_short_name(const char *name)
{
	if (strncmp(name, "NVIDIA ", 7) == 0 && name[7] != '\0')
		name += 7;
	if (strncmp(name, "GeForce ", 8) == 0 && name[8] != '\0')
		name += 8;
	return name;
}

/* MiB as GiB with one decimal: 24564 -> "24.0". */
static void
fmt_gib(struct sbuf *b, const struct jv *gpu, const char *key)
{
	double	mib;

	if (jnum(gpu, key, &mib) && mib >= 0)
		sb_fixed(b, mib / 1024.0, 1);
	else
		sb_puts(b, "-");
}

/* "41°C 23% 12.1/24.0G" of one GPU; 0 when it says nothing. */
static int
fmt_gpu_figures(struct sbuf *b, const struct jv *g, const struct rctx *rc)
{
	double	v, used, total;

	if (!jis(g, JV_OBJECT) || (!jnum(g, "temp_c", &v) &&
	    !jnum(g, "util_pct", &v) && !jnum(g, "mem_used_mib", &v) &&
	    !jnum(g, "mem_total_mib", &v)))
		return 0;
	if (jnum(g, "temp_c", &v)) {
		sb_fixed(b, v, 0);
		sb_puts(b, DEGC(rc));
	} else
		sb_puts(b, "-");
	if (jnum(g, "util_pct", &v)) {
		sb_puts(b, " ");
		sb_fixed(b, v, 0);
		sb_puts(b, "%");
	} else
		sb_puts(b, " -");
	if (!jnum(g, "mem_used_mib", &used) &&
	    !jnum(g, "mem_total_mib", &total))
		sb_puts(b, " -");
	else {
		sb_puts(b, " ");
		fmt_gib(b, g, "mem_used_mib");
		sb_puts(b, "/");
		fmt_gib(b, g, "mem_total_mib");
		sb_puts(b, "G");
	}
	return 1;
}

/*
 * "RTX 4090 41°C 23% 11.8/24.0G" per GPU, joined by " | "; the model name
 * only where it differs from the previous GPU's, and not in the short form.
 */
static void
cell_gpus(struct sbuf *b, const struct jv *node, const struct rctx *rc, int sh)
{
	const struct jv		*gpus = jarr(node, "gpus"), *g;
	size_t		 i;
	const char	*name, *prev = NULL;
	struct sbuf	 t = { 0 };

	if (gpus == NULL || jarr_size(gpus) == 0) {
		sb_puts(b, "-");
		return;
	}
	jarr_foreach(gpus, i, g) {
		if (i > 0)
			sb_puts(b, " | ");
		t.len = 0;
		if (!fmt_gpu_figures(&t, g, rc)) {
			sb_puts(b, "-");
			continue;
		}
		if (!sh && (name = jstr_ne(g, "name")) != NULL &&
		    (prev == NULL || strcmp(name, prev) != 0)) {
			sb_text(b, gpu_short_name(name), rc);
			sb_puts(b, " ");
		}
		prev = jstr_ne(g, "name");
		sb_puts(b, t.s);
	}
	free(t.s);
	if (jis(jget(jobj(node, "gpu_probe"), "stale"), JV_TRUE))
		sb_puts(b, " (stale)");
}

/* Why a node is not up: its reason, else the session's last error. */
static void
cell_reason(struct sbuf *b, const struct jv *node, const struct rctx *rc,
    int sh)
{
	const char	*r;

	(void)sh;
	if (node_is_up(node))
		return;
	if ((r = jstr_ne(node, "reason")) == NULL)
		r = jstr_ne(jobj(node, "ssh"), "last_error");
	if (r != NULL)
		sb_text(b, r, rc);
	else
		sb_puts(b, "-");
}

enum col { COL_NODE, COL_STATE, COL_FOR, COL_NEXT, COL_SESSION, COL_PORTS,
	COL_RTT, COL_OLLAMA, COL_GPUS, COL_REASON, NCOLS };

static const char *col_names[NCOLS] = {
	"NODE", "STATE", "FOR", "NEXT", "SESSION", "PORTS", "RTT", "OLLAMA",
	"GPUS", "REASON"
};

/*
 * A table: NROWS rows (the header first) of NCOLS cells, each in a full
 * and a short form (the same text when there is no width to fit to).
 * V[c] picks the form, SHOW[c] whether it is drawn.
 *
 * Every cell is a NUL-terminated string in one buffer, TEXT, and the rows
 * hold offsets into it: a 1,000-node table is 20,000 cells, and a malloc
 * each spread them over 800 kB.  On a VM a first touch of a page costs
 * 10-40 us (a Firecracker guest, measured), so those pages, not the
 * instructions, were most of what `tunnelctl status` took.
 */
struct table {
	struct sbuf	  text;
	uint32_t	(*cell)[NCOLS][2];	/* offsets into text.s */
	size_t		  nrows, cap;
	size_t		  open;		/* where the cell being written starts */
	int		  show[NCOLS];
	int		  v[NCOLS];
};

#define CELL(t, r, c, form)	((t)->text.s + (t)->cell[r][c][form])

/*
 * A cell is written straight into TEXT: table_cell_begin(), then any
 * sb_*() on &t->text, then table_cell_end() to say whose it is.
 */
static void
table_cell_begin(struct table *t)
{
	t->open = t->text.len;
}

static void
table_cell_end(struct table *t, size_t r, size_t c, int form)
{
	sb_add(&t->text, "", 1);	/* the cell's NUL */
	if (t->open > UINT32_MAX)
		die(EXIT_LOCAL, "status table over 4 GiB");
	t->cell[r][c][form] = (uint32_t)t->open;
	if (form == 0)
		t->cell[r][c][1] = (uint32_t)t->open;
}

static size_t
table_colwidth(const struct table *t, size_t c)
{
	size_t	r, w, max = 0;

	for (r = 0; r < t->nrows; r++)
		if ((w = u8_width(CELL(t, r, c, t->v[c]))) > max)
			max = w;
	return max;
}

static size_t
table_width(const struct table *t)
{
	size_t	c, w = 0, n = 0;

	for (c = 0; c < NCOLS; c++)
		if (t->show[c]) {
			w += table_colwidth(t, c);
			n++;
		}
	return n > 0 ? w + 2 * (n - 1) : 0;
}

/*
 * A shortening can free more room than it needed (a short OLLAMA): a
 * column dropped before it, and now fitting again, comes back.
 */
static void
table_fit_restore(struct table *t, const struct rctx *rc)
{
	static const enum col back[] = { COL_RTT, COL_SESSION };
	size_t	i;

	for (i = 0; i < sizeof(back) / sizeof(back[0]); i++) {
		if (t->show[back[i]])
			continue;
		t->show[back[i]] = 1;
		if (table_width(t) > rc->cols)
			t->show[back[i]] = 0;
	}
}

/*
 * Make the table fit COLS: the least important columns give way first,
 * short forms before dropping, and REASON, last, is cut to what is left.
 * NODE, STATE and FOR always stay; put_line() cuts what still overflows.
 */
static void
table_fit(struct table *t, const struct rctx *rc)
{
	static const struct { enum col c; int drop; } steps[] = {
		{ COL_GPUS, 0 }, { COL_SESSION, 1 }, { COL_RTT, 1 },
		{ COL_OLLAMA, 0 }, { COL_PORTS, 0 }, { COL_GPUS, 1 },
		{ COL_OLLAMA, 1 }, { COL_PORTS, 1 },
	};
	size_t		i, r, w, rest;
	struct sbuf	b = { 0 };

	if (rc->cols == 0)
		return;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (table_width(t) <= rc->cols) {
			/* Not past a column more important than they. */
			if (i > 0 && !steps[i - 1].drop)
				table_fit_restore(t, rc);
			return;
		}
		if (!t->show[steps[i].c])
			continue;
		/* Dropping the reason's neighbours first is not worth it
		 * while cutting the reason alone would do. */
		if (t->show[COL_REASON]) {
			w = table_width(t) - table_colwidth(t, COL_REASON);
			if (w + 20 <= rc->cols)
				break;
		}
		if (steps[i].drop)
			t->show[steps[i].c] = 0;
		else
			t->v[steps[i].c] = 1;
	}
	if (!t->show[COL_REASON] || (w = table_width(t)) <= rc->cols)
		return;
	rest = table_colwidth(t, COL_REASON);
	rest = rc->cols > w - rest ? rc->cols - (w - rest) : 0;
	if (rest < 6)
		rest = 6;
	for (r = 1; r < t->nrows; r++) {
		/* Cut aside: TEXT moves as it grows. */
		sb_clear(&b);
		sb_add_fit(&b, CELL(t, r, COL_REASON, 0), rest, rc);
		table_cell_begin(t);
		sb_add(&t->text, b.s, b.len);
		table_cell_end(t, r, COL_REASON, 0);
	}
	free(b.s);
	t->v[COL_REASON] = 0;
}

/*
 * Print the table aligned: columns two spaces apart, widths in code
 * points, the last column unpadded, no trailing blanks.
 */
static void
table_print(const struct table *t, const struct rctx *rc, FILE *out)
{
	size_t		 width[NCOLS] = { 0 }, w, r, c, last = 0;
	struct sbuf	 line = { 0 };
	const char	*s;

	for (c = 0; c < NCOLS; c++)
		if (t->show[c]) {
			last = c;
			width[c] = table_colwidth(t, c);
		}
	for (r = 0; r < t->nrows; r++) {
		line.len = 0;
		sb_puts(&line, "");
		for (c = 0; c < NCOLS; c++) {
			if (!t->show[c])
				continue;
			s = CELL(t, r, c, t->v[c]);
			sb_puts(&line, s);
			if (c == last)
				break;
			w = width[c] + 2 - u8_width(s);
			sb_reserve(&line, w);
			memset(line.s + line.len, ' ', w);
			line.len += w;
			line.s[line.len] = '\0';
		}
		while (line.len > 0 && line.s[line.len - 1] == ' ')
			line.s[--line.len] = '\0';
		put_line(out, line.s, rc);
	}
	free(line.s);
}

/* NROWS empty rows, room for CAP. */
static struct table *
table_new(size_t nrows, size_t cap)
{
	struct table	*t;

	if (cap < nrows)
		cap = nrows;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->cell = reallocarray(NULL, cap, sizeof(*t->cell))) == NULL)
		die(EXIT_LOCAL, "out of memory");
	memset(t->cell, 0, nrows * sizeof(*t->cell));
	t->nrows = nrows;
	t->cap = cap;
	return t;
}

/* One more row, empty, at the end; its index. */
static size_t
table_add_row(struct table *t)
{
	void	*p;

	if (t->nrows == t->cap) {
		if ((p = reallocarray(t->cell, t->cap ? t->cap * 2 : 1,
		    sizeof(*t->cell))) == NULL)
			die(EXIT_LOCAL, "out of memory");
		t->cell = p;
		t->cap = t->cap ? t->cap * 2 : 1;
	}
	memset(t->cell[t->nrows], 0, sizeof(*t->cell));
	return t->nrows++;
}

static void
table_free(struct table *t)
{
	free(t->text.s);
	free(t->cell);
	free(t);
}

/* Set cell R,C to S, both forms alike. */
static void
table_set(struct table *t, size_t r, size_t c, const char *s)
{
	table_cell_begin(t);
	sb_puts(&t->text, s);
	table_cell_end(t, r, c, 0);
}

/*
 * Pools under the nodes, as a table of their own; REASON only while some
 * pool's listener is not bound.
 */
static void
render_pools(const struct jv *pools, const struct rctx *rc, FILE *out)
{
	static const char *names[] = {
		"POOL", "LISTEN", "POLICY", "CLIENTS", "FAILOVERS", "REFUSED",
		"REASON"
	};
	static const char *fields[] = {
		"name", "listen", "policy", "connections", "failovers",
		"refused", "reason"
	};
	const size_t	  nf = sizeof(fields) / sizeof(fields[0]);
	struct table	 *t;
	size_t		  npools, i, c;
	const struct jv	 *p, *v;

	if (pools == NULL || (npools = jarr_size(pools)) == 0)
		return;
	t = table_new(npools + 1, 0);
	for (c = 0; c < nf; c++) {
		table_set(t, 0, c, names[c]);
		t->show[c] = c != nf - 1;
	}
	for (; c < NCOLS; c++)
		for (i = 0; i <= npools; i++)
			table_set(t, i, c, "");
	jarr_foreach(pools, i, p) {
		for (c = 0; c < nf; c++) {
			v = jget(p, fields[c]);
			table_cell_begin(t);
			if (jis(v, JV_STRING) && *v->str != '\0')
				sb_text(&t->text, v->str, rc);
			else if (jis(v, JV_NUMBER) && v->integer)
				sb_printf(&t->text, "%.0f", v->num);
			else
				sb_puts(&t->text, "-");
			table_cell_end(t, i + 1, c, 0);
		}
		if (jis(jget(p, "listening"), JV_FALSE))
			t->show[nf - 1] = 1;
	}
	fputc('\n', out);
	table_print(t, rc, out);
	table_free(t);
}

/*
 * The status table, built a node at a time (reply_scan hands each node
 * over and frees it), then printed with its summary line ("2/3 nodes up")
 * and the pools.
 */
struct status_table {
	struct table		*t;
	const struct rctx	*rc;
	size_t			 nnodes, up;
};

static void
status_table_begin(struct status_table *st, const struct rctx *rc)
{
	size_t		c;

	memset(st, 0, sizeof(*st));
	st->rc = rc;
	/*
	 * Room for a large table from the start: past M_MMAP_THRESHOLD it
	 * is address space only until written, and it never grows by a copy.
	 */
	st->t = table_new(1, 1024);
	sb_reserve(&st->t->text, 64 * 1024);
	for (c = 0; c < NCOLS; c++) {
		table_set(st->t, 0, c, col_names[c]);
		st->t->show[c] = 1;
	}
	st->t->show[COL_NEXT] = st->t->show[COL_REASON] = 0;
}

static int
status_table_node(const struct jv *n, void *arg)
{
	static cell_fn *const cell[NCOLS] = {
		NULL, cell_state, cell_for, cell_next, cell_session,
		cell_ports, cell_rtt, cell_ollama, cell_gpus, cell_reason
	};
	struct status_table	*st = arg;
	struct table		*t = st->t;
	const char		*name;
	size_t			 r = table_add_row(t), c;

	table_cell_begin(t);
	if ((name = jstr_ne(n, "name")) != NULL)
		sb_text(&t->text, name, st->rc);
	else
		sb_puts(&t->text, "-");
	table_cell_end(t, r, COL_NODE, 0);
	for (c = COL_NODE + 1; c < NCOLS; c++) {
		table_cell_begin(t);
		cell[c](&t->text, n, st->rc, 0);
		table_cell_end(t, r, c, 0);
		/* Short forms serve only table_fit(): none without a width. */
		if (st->rc->cols == 0)
			continue;
		table_cell_begin(t);
		cell[c](&t->text, n, st->rc, 1);
		table_cell_end(t, r, c, 1);
	}
	if (strcmp(CELL(t, r, COL_NEXT, 0), "-") != 0)
		t->show[COL_NEXT] = 1;
	st->nnodes++;
	if (node_is_up(n))
		st->up++;
	else
		t->show[COL_REASON] = 1;
	return 0;
}

/* Prints the table; REST is the reply without its nodes.  The exit status. */
static int
status_table_end(struct status_table *st, const struct jv *rest, FILE *out)
{
	char	line[64];

	table_fit(st->t, st->rc);
	table_print(st->t, st->rc, out);
	table_free(st->t);
	snprintf(line, sizeof(line), "%zu/%zu node%s up", st->up, st->nnodes,
	    st->nnodes == 1 ? "" : "s");
	put_line(out, line, st->rc);
	render_pools(jarr(rest, "pools"), st->rc, out);
	return st->up == st->nnodes ? EXIT_OK : EXIT_NOTUP;
}

/* ---- status NODE: everything the daemon says about one node. ---- */

/* "  label        " then the value, as one line. */
static void
detail_line(FILE *out, const struct rctx *rc, int indent, const char *label,
    struct sbuf *val)
{
	struct sbuf	l = { 0 };
	size_t		w;

	sb_printf(&l, "%*s%s", indent, "", label);
	for (w = u8_width(l.s); w < 16; w++)
		sb_add(&l, " ", 1);
	sb_puts(&l, " ");
	sb_puts(&l, val->s != NULL ? val->s : "-");
	while (l.len > 0 && l.s[l.len - 1] == ' ')
		l.s[--l.len] = '\0';
	put_line(out, l.s, rc);
	free(l.s);
	sb_clear(val);
}

/* "ok, 3s ago" / "failed: HTTP 500, 3s ago (stale)" of a probe object. */
static void
fmt_probe_state(struct sbuf *b, const struct jv *p, const struct rctx *rc)
{
	const char	*r;
	double		 age;

	sb_add_field(b, p, "state", rc);
	if ((r = jstr_ne(p, "reason")) != NULL) {
		sb_puts(b, ": ");
		sb_text(b, r, rc);
	}
	if (jnum(p, "age_s", &age) && age >= 0) {
		sb_puts(b, ", ");
		fmt_duration(b, age);
		sb_puts(b, " ago");
	}
	if (jis(jget(p, "stale"), JV_TRUE))
		sb_puts(b, " (stale)");
}

static void
detail_forwards(const struct jv *node, const struct rctx *rc, FILE *out)
{
	const struct jv		*fwds = jarr(node, "forwards"), *f;
	struct sbuf	 b = { 0 }, l = { 0 };
	size_t		 i;
	double		 v;

	if (fwds == NULL || jarr_size(fwds) == 0)
		return;
	put_line(out, "forwards", rc);
	jarr_foreach(fwds, i, f) {
		if (!jis(f, JV_OBJECT))
			continue;
		sb_add_field(&l, f, "kind", rc);
		sb_puts(&b, "");
		fmt_endpoint(&b, jstr(f, "listen"), 0, rc);
		sb_printf(&b, " %s ", ARROW(rc));
		fmt_endpoint(&b, jstr(f, "target"), 0, rc);
		sb_puts(&b, "  ");
		sb_add_field(&b, f, "state", rc);
		if (jstr_ne(f, "reason") != NULL) {
			sb_puts(&b, ": ");
			sb_add_field(&b, f, "reason", rc);
		}
		if (jnum(f, "active", &v))
			sb_printf(&b, ", %.0f active", v);
		if (jnum(f, "total", &v))
			sb_printf(&b, ", %.0f total", v);
		if (jnum(f, "bytes_in", &v)) {
			sb_puts(&b, ", in ");
			fmt_bytes(&b, v);
		}
		if (jnum(f, "bytes_out", &v)) {
			sb_puts(&b, ", out ");
			fmt_bytes(&b, v);
		}
		detail_line(out, rc, 2, l.s, &b);
		sb_clear(&l);
	}
	free(b.s);
	free(l.s);
}

static void
detail_ollama(const struct jv *node, const struct rctx *rc, FILE *out)
{
	const struct jv		*o = jobj(node, "ollama"), *a, *m;
	struct sbuf	 b = { 0 };
	size_t		 i;
	double		 v;

	if (o == NULL)
		return;
	fmt_probe_state(&b, o, rc);
	detail_line(out, rc, 0, "ollama", &b);
	sb_add_field(&b, o, "url", rc);
	detail_line(out, rc, 2, "url", &b);
	sb_add_field(&b, o, "version", rc);
	sb_puts(&b, ", latency ");
	fmt_ms(&b, o, "latency_ms");
	detail_line(out, rc, 2, "version", &b);
	if ((a = jarr(o, "models")) != NULL) {
		sb_printf(&b, "%zu", jarr_size(a));
		if (jnum(o, "models_total", &v) && v > jarr_size(a))
			sb_printf(&b, " of %.0f", v);
		jarr_foreach(a, i, m)
			if (jis(m, JV_STRING)) {
				sb_puts(&b, i == 0 ? ": " : ", ");
				sb_text(&b, m->str, rc);
			}
		detail_line(out, rc, 2, "models", &b);
	}
	if ((a = jarr(o, "loaded")) != NULL) {
		jarr_foreach(a, i, m) {
			if (i > 0)
				sb_puts(&b, ", ");
			sb_add_field(&b, m, "name", rc);
			if (jnum(m, "size_vram", &v)) {
				sb_puts(&b, " (");
				fmt_bytes(&b, v);
				sb_puts(&b, " VRAM)");
			}
		}
		if (jarr_size(a) == 0)
			sb_puts(&b, "none");
		detail_line(out, rc, 2, "loaded", &b);
	}
	if ((a = jarr(o, "missing_models")) != NULL) {
		jarr_foreach(a, i, m)
			if (jis(m, JV_STRING)) {
				if (b.len > 0)
					sb_puts(&b, ", ");
				sb_text(&b, m->str, rc);
			}
		if (b.len == 0)
			sb_puts(&b, "none");
		detail_line(out, rc, 2, "missing", &b);
	}
	free(b.s);
}

static void
detail_gpus(const struct jv *node, const struct rctx *rc, FILE *out)
{
	const struct jv	*p = jobj(node, "gpu_probe");
	const struct jv	*gpus = jarr(node, "gpus"), *g;
	struct sbuf	 b = { 0 }, l = { 0 };
	size_t		 i;
	double		 v;

	if (p == NULL && (gpus == NULL || jarr_size(gpus) == 0))
		return;
	if (p != NULL) {
		sb_add_field(&b, p, "tool", rc);
		sb_puts(&b, " ");
		fmt_probe_state(&b, p, rc);
		if (jnum(p, "outstanding_s", &v) && v >= 0) {
			sb_puts(&b, "; a probe running for ");
			fmt_duration(&b, v);
		}
	}
	detail_line(out, rc, 0, "gpus", &b);
	jarr_foreach(gpus, i, g) {
		if (jnum(g, "index", &v))
			sb_printf(&l, "gpu%.0f", v);
		else
			sb_printf(&l, "gpu?");
		if (jstr_ne(g, "name") != NULL) {
			sb_text(&b, gpu_short_name(jstr_ne(g, "name")), rc);
			sb_puts(&b, " ");
		}
		if (!fmt_gpu_figures(&b, g, rc))
			sb_puts(&b, "-");
		if (jnum(g, "power_w", &v)) {
			sb_printf(&b, " %.0fW", v);
			if (jnum(g, "power_limit_w", &v))
				sb_printf(&b, "/%.0fW", v);
		}
		detail_line(out, rc, 2, l.s, &b);
		sb_clear(&l);
	}
	free(b.s);
	free(l.s);
}

static void
detail_http(const struct jv *node, const struct rctx *rc, FILE *out)
{
	const struct jv		*a = jarr(node, "http"), *h;
	struct sbuf	 b = { 0 }, l = { 0 };
	size_t		 i;
	double		 v;

	if (a == NULL || jarr_size(a) == 0)
		return;
	put_line(out, "http", rc);
	jarr_foreach(a, i, h) {
		sb_add_field(&l, h, "url", rc);
		fmt_probe_state(&b, h, rc);
		if (jnum(h, "status", &v))
			sb_printf(&b, ", HTTP %.0f", v);
		if (jnum(h, "latency_ms", &v)) {
			sb_puts(&b, ", ");
			fmt_ms(&b, h, "latency_ms");
		}
		detail_line(out, rc, 2, l.s, &b);
		sb_clear(&l);
	}
	free(b.s);
	free(l.s);
}

static void
detail_history(const struct jv *node, const struct rctx *rc, FILE *out)
{
	const struct jv		*a = jarr(node, "history"), *h;
	struct sbuf	 b = { 0 };
	size_t		 i;
	double		 t;

	if (a == NULL)
		return;
	sb_printf(&b, "history (last %zu change%s, oldest first)",
	    jarr_size(a), jarr_size(a) == 1 ? "" : "s");
	put_line(out, b.s, rc);
	jarr_foreach(a, i, h) {
		b.len = 0;
		sb_puts(&b, "  ");
		if (jnum(h, "time", &t))
			fmt_epoch(&b, t);
		else
			sb_puts(&b, "-");
		sb_puts(&b, "  ");
		sb_add_field(&b, h, "from", rc);
		sb_puts(&b, " -> ");
		sb_add_field(&b, h, "to", rc);
		if (jstr_ne(h, "reason") != NULL) {
			sb_puts(&b, ": ");
			sb_add_field(&b, h, "reason", rc);
		}
		put_line(out, b.s, rc);
	}
	free(b.s);
}

/*
 * One node, every field the reply has for it:
 *	runpod           up for 4m26s
 *	  ssh            root@...:13323, rtt 41ms
 *	...
 */
static void
render_node_detail(const struct jv *node, const struct rctx *rc, FILE *out)
{
	const struct jv		*ssh = jobj(node, "ssh");
	struct sbuf	 b = { 0 }, l = { 0 };
	double		 v, up, down;
	const char	*s;

	sb_add_field(&b, node, "state", rc);
	if (jnum(node, "since_s", &v) && v >= 0) {
		sb_puts(&b, " for ");
		fmt_duration(&b, v);
	}
	if (jnum(ssh, "next_attempt_s", &v) && v >= 0) {
		sb_puts(&b, ", next attempt in ");
		fmt_countdown(&b, v);
	}
	sb_add_field(&l, node, "name", rc);
	detail_line(out, rc, 0, l.s, &b);
	if ((s = jstr_ne(node, "reason")) != NULL) {
		sb_text(&b, s, rc);
		detail_line(out, rc, 2, "reason", &b);
	}
	if (ssh != NULL) {
		sb_add_field(&b, ssh, "target", rc);
		sb_puts(&b, node_session_alive(node) ? ", rtt " :
		    ", last rtt ");
		fmt_ms(&b, ssh, "rtt_ms");
		detail_line(out, rc, 2, "ssh", &b);
		if (jnum(ssh, "session_s", &v) && v >= 0) {
			sb_puts(&b, "up ");
			fmt_duration(&b, v);
		} else if (jis(jv_member(ssh, "session_s"), JV_NULL))
			sb_puts(&b, "none");
		else
			sb_puts(&b, "-");
		if (jnum(ssh, "connects", &v))
			sb_printf(&b, "; %.0f connect%s, %.0f reconnect%s", v,
			    v == 1 ? "" : "s", v > 0 ? v - 1 : 0,
			    v == 2 ? "" : "s");
		detail_line(out, rc, 2, "session", &b);
		if ((s = jstr_ne(ssh, "last_error")) != NULL) {
			sb_text(&b, s, rc);
			detail_line(out, rc, 2, "last error", &b);
		}
	} else if (jis(jv_member(node, "ssh"), JV_NULL)) {
		sb_puts(&b, "none (this machine)");
		detail_line(out, rc, 2, "ssh", &b);
	}
	if (jnum(node, "up_s_total", &up) && jnum(node, "down_s_total", &down)) {
		sb_puts(&b, "up ");
		fmt_duration(&b, up);
		sb_puts(&b, ", down ");
		fmt_duration(&b, down);
		if (up + down > 0)
			sb_printf(&b, " (%.1f%% up)", 100.0 * up / (up + down));
		sb_puts(&b, " since tunneld started");
		detail_line(out, rc, 2, "availability", &b);
	}
	if (jnum(node, "priority", &v))
		sb_printf(&b, "%.0f", v);
	else
		sb_puts(&b, "-");
	sb_puts(&b, ", load score ");
	if (jnum(node, "load_score", &v))
		sb_printf(&b, "%.1f", v);
	else
		sb_puts(&b, "-");
	if (jnum(node, "probe_failures_recent", &v))
		sb_printf(&b, ", %.0f recent probe failure%s", v,
		    v == 1 ? "" : "s");
	detail_line(out, rc, 2, "priority", &b);
	free(b.s);
	free(l.s);
	detail_forwards(node, rc, out);
	detail_ollama(node, rc, out);
	detail_gpus(node, rc, out);
	detail_http(node, rc, out);
	detail_history(node, rc, out);
}

/* status NODE: the detail view of each node in the reply. */
static int
render_status_detail(const struct jv *reply, const struct rctx *rc, FILE *out)
{
	const struct jv	*nodes = jarr(reply, "nodes"), *n;
	size_t	 i;

	if (nodes == NULL)
		return EXIT_UNREACH;
	jarr_foreach(nodes, i, n) {
		if (i > 0)
			fputc('\n', out);
		if (jis(n, JV_OBJECT))
			render_node_detail(n, rc, out);
	}
	return status_exit_code(reply);
}

/* The event's own time, else NOW (UTC, like the daemon writes it). */
static void
fmt_event_time(struct sbuf *b, const struct jv *ev, time_t now,
    const struct rctx *rc)
{
	const char	*t = jstr_ne(ev, "time");

	if (t != NULL)
		sb_text(b, t, rc);
	else
		fmt_epoch(b, (double)now);
}

/*
 * One watch event as one line:
 *	2026-11-22T14:03:11Z runpod up -> backoff: keepalive timeout after 15s
 *	2026-11-22T14:03:11Z ALERT gpu-hot runpod: gpu0 85°C > 80°C
 * The stream's opening {"ok":true,"event":"hello"} prints nothing; any
 * other object is printed as the JSON line it came as (RAW, RAWLEN).
 */
static void
render_event(const struct jv *ev, const char *raw, size_t rawlen, time_t now,
    const struct rctx *rc, FILE *out)
{
	const char	*event = jstr(ev, "event"), *s;
	struct sbuf	 b = { 0 };

	if (event != NULL && strcmp(event, "state") == 0) {
		fmt_event_time(&b, ev, now, rc);
		sb_puts(&b, " ");
		sb_add_field(&b, ev, "node", rc);
		sb_puts(&b, " ");
		sb_add_field(&b, ev, "from", rc);
		sb_puts(&b, " -> ");
		sb_add_field(&b, ev, "to", rc);
	} else if (event != NULL && strcmp(event, "alert") == 0) {
		fmt_event_time(&b, ev, now, rc);
		sb_puts(&b, " ALERT ");
		sb_add_field(&b, ev, "kind", rc);
		if ((s = jstr_ne(ev, "node")) != NULL) {
			sb_puts(&b, " ");
			sb_text(&b, s, rc);
		}
	} else if (event != NULL && strcmp(event, "hello") == 0 &&
	    jv_member(ev, "ok") != NULL) {
		return;
	} else {
		fwrite(raw, 1, rawlen, out);
		fputc('\n', out);
		return;
	}
	if ((s = jstr_ne(ev, "reason")) != NULL) {
		sb_puts(&b, ": ");
		sb_text(&b, s, rc);
	}
	sb_puts(&b, "\n");
	fwrite(b.s, 1, b.len, out);
	free(b.s);
}

/*
 * Where every node stands, for the top of a watch:
 *	2026-11-22T14:03:11Z runpod is up (for 4m26s)
 *	2026-11-22T14:03:11Z vengeance is backoff (for 47s, next attempt in 8s): connection refused
 */
static void
render_snapshot(const struct jv *reply, time_t now, const struct rctx *rc,
    FILE *out)
{
	const struct jv		*nodes = jarr(reply, "nodes"), *n;
	struct sbuf	 b = { 0 };
	size_t		 i;
	double		 v;
	const char	*r;

	jarr_foreach(nodes, i, n) {
		b.len = 0;
		fmt_epoch(&b, (double)now);
		sb_puts(&b, " ");
		sb_add_field(&b, n, "name", rc);
		sb_puts(&b, " is ");
		sb_add_field(&b, n, "state", rc);
		if (jnum(n, "since_s", &v) && v >= 0) {
			sb_puts(&b, " (for ");
			fmt_duration(&b, v);
			if (jnum(jobj(n, "ssh"), "next_attempt_s", &v) &&
			    v >= 0) {
				sb_puts(&b, ", next attempt in ");
				fmt_countdown(&b, v);
			}
			sb_puts(&b, ")");
		}
		if (!node_is_up(n) && (r = jstr_ne(n, "reason")) != NULL) {
			sb_puts(&b, ": ");
			sb_text(&b, r, rc);
		}
		sb_puts(&b, "\n");
		fwrite(b.s, 1, b.len, out);
	}
	free(b.s);
}

/* The names a reply lists, one a line: `tunnelctl list nodes|pools`. */
static void
render_names(const struct jv *reply, const char *what, FILE *out)
{
	const struct jv		*a = jarr(reply, what), *o;
	const char	*s;
	size_t		 i;

	jarr_foreach(a, i, o)
		if ((s = jstr_ne(o, "name")) != NULL &&
		    strspn(s, NAME_CHARS) == strlen(s))
			fprintf(out, "%s\n", s);
}

/* ---------------------------------------------------------------------
 * Command line.
 */

struct opts {
	const char	*socket;
	int		 json;
	int		 timeout_ms;
	int		 reconnect_s;	/* watch: how long to wait for a
					   daemon that went away */
	struct rctx	 rc;
	const struct cmd_def *cmd;
	const char	*words[MAX_WORDS];
	size_t		 nwords;
};

static void
usage_short(FILE *f)
{
	fputs("usage: tunnelctl [--socket PATH] [--json] [--help] [--version] "
	    "COMMAND [ARGS]\n", f);
}

static void
usage_full(void)
{
	usage_short(stdout);
	fputs(
	    "\n"
	    "Commands:\n"
	    "  status [NODE]               node table; exit 1 if a node shown is not up\n"
	    "  restart NODE|all            reconnect a node (or every node)\n"
	    "  stop NODE                   stop a node until `start`\n"
	    "  start NODE                  start a stopped node\n"
	    "  reload                      re-read the configuration\n"
	    "  watch                       follow state changes and alerts (Ctrl-C ends)\n"
	    "  metrics                     Prometheus exposition text\n"
	    "  version                     versions of tunnelctl and tunneld\n"
	    "  best [POOL] [--model NAME]  address of the best node for a request\n"
	    "  list nodes|pools            names, one a line (for completion)\n"
	    "\n"
	    "Options:\n"
	    "  -s, --socket PATH  control socket (default: $TUNNELD_SOCKET, else\n"
	    "                     " TUNNELCTL_SOCKET ")\n"
	    "  -j, --json         print the daemon's JSON reply lines unchanged\n"
	    "  -h, --help         this text\n"
	    "  -V, --version      tunnelctl's version (without asking the daemon)\n"
	    "Options may also follow the command; `--` ends them.\n"
	    "\n"
	    "Environment:\n"
	    "  TUNNELD_SOCKET     control socket, when --socket is not given\n"
	    "  TUNNELCTL_TIMEOUT  seconds to wait for the daemon's reply (default 10)\n"
	    "  TUNNELCTL_RECONNECT  seconds `watch` waits for a daemon that went\n"
	    "                     away (default 600; 0: exit at once)\n"
	    "  COLUMNS            width to fit the table to (default: the terminal's)\n"
	    "\n"
	    "Exit status:\n"
	    "  0  ok (status: every node shown is up)\n"
	    "  1  status: a node is not up; best: no node qualifies\n"
	    "  2  usage error, here or as the daemon judged it: unknown node or\n"
	    "     pool (with a suggestion), malformed request\n"
	    "  3  daemon unreachable: cannot connect, no reply in time, connection\n"
	    "     closed, malformed reply\n"
	    "  4  permission denied: the command needs root or admin_group\n"
	    "  5  local failure (cannot write the output, out of memory)\n"
	    "  6  reload: the configuration file is not valid (the running one is kept)\n"
	    "  7  the daemon could not carry the request out (its error is printed)\n",
	    stdout);
}

static void	usage_error(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));

static void
usage_error(const char *fmt, ...)
{
	va_list	ap;

	fputs("tunnelctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage_short(stderr);
	exit(EXIT_USAGE);
}

static void	usage_cmd(const struct cmd_def *) __attribute__((noreturn));

static void
usage_cmd(const struct cmd_def *c)
{
	fprintf(stderr, "usage: tunnelctl [--socket PATH] [--json] %s\n",
	    c->usage);
	exit(EXIT_USAGE);
}

static int
parse_timeout(const char *s)
{
	char	*end;
	double	 d;

	errno = 0;
	d = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(d) || d <= 0 ||
	    d > 86400)
		usage_error("TUNNELCTL_TIMEOUT: not a number of seconds in "
		    "(0, 86400]: %s", s);
	return d * 1000 < 1 ? 1 : (int)(d * 1000);
}

/* Printable, no blanks: bytes 0x21..0x7e and UTF-8 (>= 0x80). */
static int
word_valid(const char *w)
{
	const unsigned char	*p = (const unsigned char *)w;

	if (*p == '\0')
		return 0;
	for (; *p != '\0'; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	const char	*env, *a;
	int		 i, dashdash = 0;
	size_t		 k, nargs, npool, nmodel;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = TIMEOUT_DEFAULT_MS;
	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (!dashdash && a[0] == '-' && a[1] != '\0') {
			if (strcmp(a, "--") == 0) {
				dashdash = 1;
				continue;
			}
			if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0) {
				o->json = 1;
				continue;
			}
			if (strcmp(a, "--socket") == 0 || strcmp(a, "-s") == 0) {
				if (++i == argc)
					usage_error("%s needs a PATH", a);
				o->socket = argv[i];
				continue;
			}
			if (strncmp(a, "--socket=", 9) == 0) {
				o->socket = a + 9;
				continue;
			}
			if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
				usage_full();
				exit(EXIT_OK);
			}
			if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
				printf("tunnelctl %s\n", PACKAGE_VERSION);
				exit(EXIT_OK);
			}
			/* best's own option and its argument are words. */
			if (o->nwords > 0 && strcmp(o->words[0], "best") == 0 &&
			    strcmp(a, "--model") == 0) {
				if (o->nwords + 2 > MAX_WORDS)
					usage_error("too many arguments");
				o->words[o->nwords++] = a;
				if (i + 1 < argc)
					o->words[o->nwords++] = argv[++i];
				continue;
			}
			usage_error("unknown option '%s'", a);
		}
		if (o->nwords == MAX_WORDS)
			usage_error("too many arguments");
		o->words[o->nwords++] = a;
	}
	if (o->socket == NULL && (env = getenv("TUNNELD_SOCKET")) != NULL &&
	    *env != '\0')
		o->socket = env;
	if (o->socket == NULL)
		o->socket = TUNNELCTL_SOCKET;
	if (*o->socket == '\0')
		usage_error("empty socket path");
	if ((env = getenv("TUNNELCTL_TIMEOUT")) != NULL && *env != '\0')
		o->timeout_ms = parse_timeout(env);
	o->reconnect_s = 600;
	if ((env = getenv("TUNNELCTL_RECONNECT")) != NULL && *env != '\0') {
		char	*end;
		long	 v;

		errno = 0;
		v = strtol(env, &end, 10);
		if (errno != 0 || end == env || *end != '\0' || v < 0 ||
		    v > 86400 * 365)
			usage_error("TUNNELCTL_RECONNECT: not a number of "
			    "seconds: %s", env);
		o->reconnect_s = (int)v;
	}

	if (o->nwords == 0)
		usage_error("no command given; try tunnelctl --help");
	if (strcmp(o->words[0], "help") == 0) {
		usage_full();
		exit(EXIT_OK);
	}
	for (k = 0; k < NCMDS; k++)
		if (strcmp(o->words[0], cmd_defs[k].name) == 0)
			break;
	if (k == NCMDS)
		usage_error("unknown command '%s'; try tunnelctl --help",
		    o->words[0]);
	o->cmd = &cmd_defs[k];
	for (k = 1; k < o->nwords; k++)
		if (!word_valid(o->words[k]))
			usage_error("%s: argument %zu is empty or has blanks or "
			    "control characters", o->cmd->name, k);
	nargs = o->nwords - 1;
	if (o->cmd->cmd == CMD_BEST) {
		npool = nmodel = 0;
		for (k = 1; k < o->nwords; k++) {
			if (strcmp(o->words[k], "--model") == 0) {
				if (k + 1 == o->nwords ||
				    o->words[k + 1][0] == '-' || nmodel++ > 0)
					usage_cmd(o->cmd);
				k++;
			} else if (o->words[k][0] == '-' || npool++ > 0)
				usage_cmd(o->cmd);
		}
	} else if ((int)nargs < o->cmd->minargs ||
	    (int)nargs > o->cmd->maxargs)
		usage_cmd(o->cmd);
	if (o->cmd->cmd == CMD_LIST && strcmp(o->words[1], "nodes") != 0 &&
	    strcmp(o->words[1], "pools") != 0)
		usage_cmd(o->cmd);
}

/* The requests whose output the summary holds all of. */
static int
wants_summary(const struct opts *o)
{
	return o->cmd->cmd == CMD_LIST ||
	    (o->cmd->cmd == CMD_STATUS && o->nwords <= 1 && !o->json);
}

/* The request line, "\n" included; usage error when 1024 bytes or more. */
static char *
build_request(const struct opts *o, size_t *lenp)
{
	struct sbuf	b = { 0 };
	size_t		k;

	/*
	 * `list` is tunnelctl's own, and the table shows a fraction of the
	 * status: both ask for the summary (a daemon without it is asked
	 * again, see summary_unknown()).
	 */
	if (wants_summary(o)) {
		sb_puts(&b, "summary\n");
		*lenp = b.len;
		return sb_steal(&b);
	}
	for (k = 0; k < o->nwords; k++) {
		if (k > 0)
			sb_puts(&b, " ");
		sb_puts(&b, o->words[k]);
	}
	if (b.len >= REQUEST_MAX)
		usage_error("request too long (%zu bytes; must be under %d)",
		    b.len, REQUEST_MAX);
	sb_puts(&b, "\n");
	*lenp = b.len;
	return sb_steal(&b);
}

/* ---------------------------------------------------------------------
 * The socket: non-blocking, every wait through ppoll() against a deadline.
 */

static volatile sig_atomic_t	 interrupted;
static sigset_t			 waitmask;	/* mask while in ppoll() */
static const sigset_t		*waitmaskp;	/* NULL: no signal handling */

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait for EVENTS on FD until DEADLINE (ms, monotonic; -1: for ever).
 * Returns 1 ready, 0 timed out, -1 interrupted by the user (EINTR from
 * other signals is retried).
 */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd	 pfd;
	struct timespec	 ts, *tsp;
	int64_t		 left;
	int		 n;

	for (;;) {
		if (interrupted)
			return -1;
		tsp = NULL;
		if (deadline >= 0) {
			if ((left = deadline - now_ms()) <= 0)
				return 0;
			ts.tv_sec = left / 1000;
			ts.tv_nsec = (left % 1000) * 1000000;
			tsp = &ts;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = ppoll(fd >= 0 ? &pfd : NULL, fd >= 0 ? 1 : 0, tsp,
		    waitmaskp);
		if (n > 0)
			return 1;
		if (n == 0 && fd >= 0)
			return 0;
		if (n == 0)		/* a plain sleep (fd -1) is over */
			return 1;
		if (errno != EINTR && errno != EAGAIN)
			die(EXIT_LOCAL, "poll: %s", strerror(errno));
	}
}

static void	connect_failed(const char *, int) __attribute__((noreturn));

static void
connect_failed(const char *path, int err)
{
	if (err == EINTR)		/* the user's Ctrl-C */
		exit(EXIT_UNREACH);
	if (err == ETIMEDOUT)
		die(EXIT_UNREACH, "cannot connect to %s: timed out", path);
	if (err == EAGAIN)
		die(EXIT_UNREACH, "cannot connect to %s: daemon not accepting "
		    "connections", path);
	die(EXIT_UNREACH, "cannot connect to %s: %s%s", path, strerror(err),
	    err == ENOENT || err == ECONNREFUSED ? " (is tunneld running?)" :
	    "");
}

/*
 * A connected socket, or -1 with *ERRP set: ETIMEDOUT when DEADLINE
 * passed, EAGAIN for a listen backlog full until then, EINTR when the user
 * interrupted.
 */
static int
ctl_connect_try(const char *path, int64_t deadline, int *errp)
{
	struct sockaddr_un	sun;
	socklen_t		len;
	int			fd, err, r;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*errp = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		die(EXIT_LOCAL, "socket: %s", strerror(errno));
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		if (errno == EISCONN)
			return fd;
		err = errno;
		if (err == EAGAIN) {
			/* A full listen backlog: the daemon is busy. */
			if (deadline >= 0 && now_ms() >= deadline)
				goto fail;
			if (wait_fd(-1, 0, now_ms() + 20) < 0) {
				err = EINTR;
				goto fail;
			}
			continue;
		}
		if (err != EINPROGRESS && err != EINTR && err != EALREADY)
			goto fail;
		if ((r = wait_fd(fd, POLLOUT, deadline)) <= 0) {
			err = r == 0 ? ETIMEDOUT : EINTR;
			goto fail;
		}
		len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0)
			goto fail;
		return fd;
	}
fail:
	close(fd);
	*errp = err;
	return -1;
}

static int
ctl_connect(const char *path, int64_t deadline)
{
	int	fd, err;

	if ((fd = ctl_connect_try(path, deadline, &err)) == -1)
		connect_failed(path, err);
	return fd;
}

/* 0 sent; -1 with *ERRP (ETIMEDOUT, EINTR, or the send's errno). */
static int
ctl_send_try(int fd, const char *buf, size_t len, int64_t deadline, int *errp)
{
	ssize_t	n;
	int	r;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
			*errp = errno;
			return -1;
		}
		if ((r = wait_fd(fd, POLLOUT, deadline)) <= 0) {
			*errp = r == 0 ? ETIMEDOUT : EINTR;
			return -1;
		}
	}
	return 0;
}

static void
ctl_send(int fd, const char *path, const char *buf, size_t len,
    int64_t deadline)
{
	int	err;

	if (ctl_send_try(fd, buf, len, deadline, &err) == 0)
		return;
	if (err == EINTR)
		exit(EXIT_UNREACH);
	die(EXIT_UNREACH, "cannot send request to %s: %s", path,
	    err == ETIMEDOUT ? "timed out" : strerror(err));
}

struct linebuf {
	char	*buf;
	size_t	 start, len, cap;	/* data is buf[start .. start+len) */
	size_t	 scanned;		/* of len, known to hold no newline */
	int	 eof;
	int	 soft;			/* a read error is an end of stream */
};

/*
 * The next reply line into *LINE (NUL-terminated, newline stripped, valid
 * until the next call).  Returns 1 a line, 0 end of stream, -1 interrupted
 * by the user, -2 DEADLINE passed; a read error (unless LB is soft) or an
 * overlong line ends tunnelctl.  A last line without its newline is still
 * handed out: it is judged as JSON.
 */
static int
read_line(int fd, const char *path, struct linebuf *lb, int64_t deadline,
    char **line, size_t *linelen)
{
	char	*nl;
	ssize_t	 n;
	int	 r;

	for (;;) {
		/* Only new bytes are searched: a long line stays linear. */
		nl = lb->len > lb->scanned ? memchr(lb->buf + lb->start +
		    lb->scanned, '\n', lb->len - lb->scanned) : NULL;
		lb->scanned = lb->len;
		if (nl != NULL) {
			lb->scanned = 0;
			*line = lb->buf + lb->start;
			*linelen = (size_t)(nl - *line);
			*nl = '\0';
			lb->start += *linelen + 1;
			lb->len -= *linelen + 1;
			return 1;
		}
		if (lb->len > REPLY_LINE_MAX)
			die(EXIT_UNREACH, "malformed reply from daemon: line "
			    "longer than 4 GiB");
		if (lb->eof) {
			if (lb->len == 0)
				return 0;
			*line = lb->buf + lb->start;
			*linelen = lb->len;
			(*line)[lb->len] = '\0';
			lb->start += lb->len;
			lb->len = lb->scanned = 0;
			return 1;
		}
		/* Room for a read and the terminating NUL. */
		if (lb->start > 0) {
			memmove(lb->buf, lb->buf + lb->start, lb->len);
			lb->start = 0;
		}
		if (lb->cap - lb->len < 4096 + 1) {
			size_t	 cap = lb->cap ? lb->cap * 2 : 16384;
			char	*p;

			if (cap > REPLY_LINE_MAX + 65536)
				cap = REPLY_LINE_MAX + 65536;
			if ((p = realloc(lb->buf, cap)) == NULL)
				die(EXIT_LOCAL, "out of memory");
			lb->buf = p;
			lb->cap = cap;
		}
		n = read(fd, lb->buf + lb->len, lb->cap - lb->len - 1);
		if (n > 0) {
			lb->len += (size_t)n;
			continue;
		}
		if (n == 0) {
			lb->eof = 1;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			if (lb->soft) {
				lb->eof = 1;
				continue;
			}
			die(EXIT_UNREACH, "cannot read reply from %s: %s",
			    path, strerror(errno));
		}
		if ((r = wait_fd(fd, POLLIN, deadline)) < 0)
			return -1;
		if (r == 0)
			return -2;
	}
}

/* ---------------------------------------------------------------------
 * Replies.
 */

/*
 * The reply line, fed to SP as it is read, up to its newline (or the end
 * of the stream): a large reply is never held whole (jv_split).  Returns
 * 1 a reply, 0 end of stream before any byte, -1 malformed, -2 DEADLINE
 * passed.
 */
static int
read_status(int fd, const char *path, int64_t deadline, struct jv_split *sp)
{
	/*
	 * Four pages: a page's first touch costs 10-40 us on a VM, more than
	 * the dozen extra read()s of a 300 kB reply (at 1,000 nodes, 11
	 * faults and about 0.5 ms of CPU fewer than with 64 KiB, measured).
	 */
	static char	 buf[16 * 1024];
	char		*nl;
	ssize_t		 n;
	int		 got = 0, r;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			got = 1;
			nl = memchr(buf, '\n', (size_t)n);
			if (jv_split_feed(sp, buf,
			    nl != NULL ? (size_t)(nl - buf) : (size_t)n) == -1)
				return -1;
			if (nl != NULL)
				return 1;
			continue;
		}
		if (n == 0)
			return got;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			die(EXIT_UNREACH, "cannot read reply from %s: %s",
			    path, strerror(errno));
		/* Not interrupted: only a watch catches signals. */
		if ((r = wait_fd(fd, POLLIN, deadline)) <= 0)
			return -2;
	}
}


static void
out_check(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return;
	if (errno == EPIPE)
		exit(EXIT_LOCAL);
	die(EXIT_LOCAL, "cannot write standard output: %s", strerror(errno));
}

/* Print a daemon's string raw, with a final newline if it lacks one. */
static void
print_text(const char *s, size_t n)
{
	fwrite(s, 1, n, stdout);
	if (n > 0 && s[n - 1] != '\n')
		fputc('\n', stdout);
}

/*
 * The exit status for an error reply: its "kind" decides; a daemon older
 * than "kind" is judged by the opening words of its sentences.
 */
static int
error_exit_code(const struct jv *reply)
{
	static const struct { const char *word; int code; } kinds[] = {
		{ "usage", EXIT_USAGE }, { "no-such-node", EXIT_USAGE },
		{ "no-such-pool", EXIT_USAGE }, { "permission", EXIT_REFUSED },
		{ "config", EXIT_CONFIG },
	}, texts[] = {
		{ "permission denied", EXIT_REFUSED },
		{ "no such node", EXIT_USAGE }, { "no pool", EXIT_USAGE },
		{ "unknown command", EXIT_USAGE }, { "usage:", EXIT_USAGE },
		{ "malformed", EXIT_USAGE }, { "request too long", EXIT_USAGE },
		{ "too many words", EXIT_USAGE }, { "empty request", EXIT_USAGE },
		{ "reload failed", EXIT_CONFIG },
	};
	const char	*kind = jstr(reply, "kind"), *e = jstr(reply, "error");
	size_t		 i;

	if (kind != NULL) {
		for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (strcmp(kind, kinds[i].word) == 0)
				return kinds[i].code;
		return EXIT_FAILED;
	}
	for (i = 0; e != NULL && i < sizeof(texts) / sizeof(texts[0]); i++)
		if (strncmp(e, texts[i].word, strlen(texts[i].word)) == 0)
			return texts[i].code;
	return EXIT_FAILED;
}

/* An error reply: its sentence on stderr; returns the exit status. */
static int
report_error(const struct jv *reply)
{
	const char	*s;

	out_check();
	s = jstr_ne(reply, "error");
	fprintf(stderr, "tunnelctl: %s\n", s != NULL ? s :
	    "request refused (no reason given)");
	return error_exit_code(reply);
}

static int
count_up(const struct jv *node, void *arg)
{
	size_t	*notup = arg;

	if (!node_is_up(node))
		(*notup)++;
	return 0;
}

/*
 * One reply line of a non-watch command.  Returns the exit status.
 */
static int
handle_reply(const struct opts *o, const char *line, size_t len)
{
	struct jv_doc	 doc = { 0 };
	const struct jv	*reply, *v;
	const char	*s;
	int		 ok, rc = EXIT_OK;

	if ((reply = reply_parse(&doc, line, len, NULL, NULL)) == NULL)
		die(EXIT_UNREACH, "malformed reply from daemon");
	if (o->json) {
		fwrite(line, 1, len, stdout);
		fputc('\n', stdout);
	}
	if ((ok = reply_ok(reply)) < 0) {
		jv_free(&doc);
		die(EXIT_UNREACH, "malformed reply from daemon: no \"ok\"");
	}
	if (!ok) {
		rc = report_error(reply);
		jv_free(&doc);
		return rc;
	}
	switch (o->cmd->cmd) {
	case CMD_STATUS:
		if (o->json)
			rc = status_exit_code(reply);
		else
			rc = render_status_detail(reply, &o->rc, stdout);
		if (rc == EXIT_UNREACH)
			die(EXIT_UNREACH, "malformed reply from daemon: "
			    "no node list");
		break;
	case CMD_LIST:
		if (jarr(reply, "nodes") == NULL)
			die(EXIT_UNREACH, "malformed reply from daemon: "
			    "no node list");
		if (!o->json)
			render_names(reply, o->words[1], stdout);
		break;
	case CMD_METRICS:
		v = jget(reply, "text");
		if (!jis(v, JV_STRING))
			die(EXIT_UNREACH, "malformed reply from daemon: "
			    "no metrics text");
		if (!o->json)
			print_text(v->str, v->len);
		break;
	case CMD_BEST:
		if ((s = jstr_ne(reply, "address")) == NULL) {
			out_check();
			if ((s = jstr_ne(reply, "reason")) == NULL &&
			    (s = jstr_ne(reply, "message")) == NULL)
				s = "no node qualifies";
			fprintf(stderr, "tunnelctl: %s\n", s);
			rc = EXIT_NOTUP;
		} else if (!o->json)
			printf("%s\n", s);
		break;
	case CMD_VERSION:
		if (!o->json) {
			struct sbuf	b = { 0 };
			double		proto;

			sb_puts(&b, "tunneld ");
			sb_add_field(&b, reply, "version", &o->rc);
			if (jnum(reply, "protocol", &proto))
				sb_printf(&b, " (protocol %.0f)", proto);
			sb_puts(&b, "\n");
			fwrite(b.s, 1, b.len, stdout);
			free(b.s);
		}
		break;
	case CMD_RESTART:
	case CMD_STOP:
	case CMD_START:
	case CMD_RELOAD:
		if (!o->json) {
			struct sbuf	b = { 0 };

			sb_add_field(&b, reply, "message", &o->rc);
			if (strcmp(b.s, "-") == 0)
				printf("ok\n");
			else
				printf("%s\n", b.s);
			free(b.s);
		}
		break;
	case CMD_WATCH:
		break;
	}
	jv_free(&doc);
	return rc;
}

/* One line of the watch stream. */
static void
handle_event(const struct opts *o, const char *line, size_t len)
{
	struct jv_doc	 doc = { 0 };
	const struct jv	*ev;
	int		 rc;

	if ((ev = reply_parse(&doc, line, len, NULL, NULL)) == NULL)
		die(EXIT_UNREACH, "malformed reply from daemon");
	if (o->json) {
		fwrite(line, 1, len, stdout);
		fputc('\n', stdout);
	} else if (reply_ok(ev) != 0)
		render_event(ev, line, len, time(NULL), &o->rc, stdout);
	out_check();
	if (reply_ok(ev) == 0) {
		rc = report_error(ev);
		jv_free(&doc);
		exit(rc);
	}
	jv_free(&doc);
}

/*
 * Whether LINE answers `summary` as a daemon that does not know it does
 * (an error of kind usage), so that the status is asked for instead.
 */
static int
summary_unknown(const char *line, size_t len)
{
	struct jv_doc	 doc = { 0 };
	const struct jv	*reply;
	const char	*kind;
	int		 unknown;

	/* A summary, however large, is no error: only short lines are read. */
	if (len > 4096)
		return 0;
	reply = reply_parse(&doc, line, len, NULL, NULL);
	unknown = reply_ok(reply) == 0 &&
	    (kind = jstr(reply, "kind")) != NULL && strcmp(kind, "usage") == 0;
	jv_free(&doc);
	return unknown;
}

static void	no_reply(const struct opts *) __attribute__((noreturn));

static void
no_reply(const struct opts *o)
{
	die(EXIT_UNREACH, "no reply from daemon on %s within %gs", o->socket,
	    o->timeout_ms / 1000.0);
}

/* --json: the reply handed on by jv_split as it is judged. */
static int
copy_out(const char *b, size_t n, void *arg)
{
	(void)arg;
	if (fwrite(b, 1, n, stdout) != n)
		out_check();
	return 0;
}

/*
 * `tunnelctl status` of every node, read a node at a time (jv_split), never
 * held whole: the table from the summary (the full status from a daemon
 * that has none), or with --json the full status, copied to stdout as its
 * nodes are judged.  The exit status.
 */
static int
status_query(const struct opts *o, const char *req, size_t reqlen,
    int64_t deadline)
{
	struct status_table	 st;
	struct jv_stream	 stream = { "nodes", status_table_node, &st };
	struct jv_split		 sp;
	struct jv_doc		 doc = { 0 };
	const struct jv		*rest;
	size_t			 notup = 0;
	int			 fd, r, ok, rc;

	if (o->json) {
		stream.each = count_up;
		stream.arg = &notup;
	}
	for (;;) {
		if (!o->json)
			status_table_begin(&st, &o->rc);
		memset(&sp, 0, sizeof(sp));
		sp.stream = &stream;
		if (o->json)
			sp.copy = copy_out;
		fd = ctl_connect(o->socket, deadline);
		ctl_send(fd, o->socket, req, reqlen, deadline);
		r = read_status(fd, o->socket, deadline, &sp);
		close(fd);
		if (r == -2)
			no_reply(o);
		if (r == 0)
			die(EXIT_UNREACH, "daemon closed the connection "
			    "without a reply");
		if (r == -1 && strcmp(sp.error, "out of memory") == 0)
			die(EXIT_LOCAL, "out of memory");
		if (r == -1)
			die(EXIT_UNREACH, "malformed reply from daemon");
		/* --json asks for the status itself: never asked again. */
		if (sp.elements > 0 || strcmp(req, "status\n") == 0 ||
		    !summary_unknown(sp.rest != NULL ? sp.rest : "",
		    sp.rest_len))
			break;
		/* Asked again, in full, within the same deadline. */
		jv_split_free(&sp);
		table_free(st.t);
		req = "status\n";
		reqlen = strlen(req);
	}
	if (jv_split_end(&sp, &doc, &rest) == -1) {
		if (strcmp(doc.error, "out of memory") == 0)
			die(EXIT_LOCAL, "out of memory");
		die(EXIT_UNREACH, "malformed reply from daemon");
	}
	if ((ok = reply_ok(rest)) < 0)
		die(EXIT_UNREACH, "malformed reply from daemon: no \"ok\"");
	if (ok && jarr(rest, "nodes") == NULL)
		die(EXIT_UNREACH, "malformed reply from daemon: no node list");
	/* Judged whole: the rest of it follows the nodes. */
	if (o->json) {
		jv_split_flush(&sp);
		putchar('\n');
	}
	if (!ok) {
		rc = report_error(rest);
		if (!o->json)
			table_free(st.t);
	} else {
		if (o->json)
			rc = notup ? EXIT_NOTUP : EXIT_OK;
		else
			rc = status_table_end(&st, rest, stdout);
	}
	jv_free(&doc);
	jv_split_free(&sp);
	return rc;
}

/*
 * One status reply, for the top of a watch, its memory in DOC; NULL on any
 * failure (the events follow all the same).
 */
static const struct jv *
query_status_as(const struct opts *o, struct jv_doc *doc, const char *req,
    int *unknown)
{
	struct linebuf	 lb = { 0 };
	const struct jv	*reply = NULL;
	int64_t		 deadline = now_ms() + o->timeout_ms;
	char		*line;
	size_t		 len;
	int		 fd, err;

	lb.soft = 1;
	if ((fd = ctl_connect_try(o->socket, deadline, &err)) == -1)
		return NULL;
	if (ctl_send_try(fd, req, strlen(req), deadline, &err) == 0 &&
	    read_line(fd, o->socket, &lb, deadline, &line, &len) == 1) {
		*unknown = summary_unknown(line, len);
		reply = reply_parse(doc, line, len, NULL, NULL);
		if (reply_ok(reply) != 1 || jarr(reply, "nodes") == NULL) {
			jv_free(doc);
			reply = NULL;
		}
	}
	close(fd);
	free(lb.buf);
	return reply;
}

/* The summary (the status, from a daemon without it), in DOC. */
static const struct jv *
query_status(const struct opts *o, struct jv_doc *doc)
{
	const struct jv	*reply;
	int		 unknown = 0;

	/* Asked again only of a daemon without it, not after a timeout. */
	if ((reply = query_status_as(o, doc, "summary\n", &unknown)) == NULL &&
	    unknown)
		reply = query_status_as(o, doc, "status\n", &unknown);
	return reply;
}

/* A line of the watch's own narrative: stdout as text, stderr with --json. */
static void
watch_notice(const struct opts *o, const char *msg)
{
	struct sbuf	b = { 0 };

	fmt_epoch(&b, (double)time(NULL));
	if (o->json)
		fprintf(stderr, "tunnelctl: %s %s\n", b.s, msg);
	else
		printf("%s %s\n", b.s, msg);
	free(b.s);
	out_check();
}

/*
 * One watch connection: the stream's opening, where every node stands
 * (text only: --json copies the daemon's lines and nothing else), then
 * the events.  Returns 1 when the user interrupted, 0 when the daemon
 * closed the stream (it stopped or restarted); the first connection's
 * failures end tunnelctl, later ones return -1.
 */
static int
watch_once(const struct opts *o, int first)
{
	struct linebuf	 lb = { 0 };
	struct jv_doc	 doc = { 0 };
	const struct jv	*status;
	char		*line;
	size_t		 len;
	int64_t		 deadline = now_ms() + o->timeout_ms;
	int		 fd, r, err, n = 0;

	lb.soft = !first;
	if (first)
		fd = ctl_connect(o->socket, deadline);
	else if ((fd = ctl_connect_try(o->socket, deadline, &err)) == -1)
		return err == EINTR ? 1 : -1;
	if (first)
		ctl_send(fd, o->socket, "watch\n", 6, deadline);
	else if (ctl_send_try(fd, "watch\n", 6, deadline, &err) == -1) {
		close(fd);
		return err == EINTR ? 1 : -1;
	}
	for (;;) {
		r = read_line(fd, o->socket, &lb, n == 0 ? deadline : -1,
		    &line, &len);
		if (r == -2 && first)
			no_reply(o);
		if (r < 0 || (r == 0 && n == 0)) {
			close(fd);
			free(lb.buf);
			if (r == -1)
				return 1;
			if (first)
				die(EXIT_UNREACH, "daemon closed the "
				    "connection without a reply");
			return -1;
		}
		if (r == 0)
			break;
		if (n == 0 && !first)
			watch_notice(o, "reconnected to tunneld");
		handle_event(o, line, len);
		if (n++ == 0 && !o->json &&
		    (status = query_status(o, &doc)) != NULL) {
			render_snapshot(status, time(NULL), &o->rc, stdout);
			out_check();
			jv_free(&doc);
		}
	}
	close(fd);
	free(lb.buf);
	return 0;
}

/*
 * watch: follow the stream; when the daemon goes (a restart, an upgrade),
 * say so and connect again, every 0.25 s doubling to 5 s, for at most
 * TUNNELCTL_RECONNECT seconds.
 */
static int
watch(const struct opts *o)
{
	int64_t	 until, delay;
	int	 r;

	if ((r = watch_once(o, 1)) == 1)
		return EXIT_OK;
	for (;;) {
		if (o->reconnect_s == 0)
			die(EXIT_UNREACH, "daemon closed the watch stream");
		watch_notice(o, "tunneld closed the watch stream; "
		    "reconnecting");
		until = now_ms() + (int64_t)o->reconnect_s * 1000;
		delay = 250;
		for (;;) {
			if (wait_fd(-1, 0, now_ms() + delay) < 0)
				return EXIT_OK;
			if ((r = watch_once(o, 0)) >= 0)
				break;
			if (now_ms() >= until)
				die(EXIT_UNREACH, "tunneld did not come back "
				    "within %ds", o->reconnect_s);
			if ((delay *= 2) > 5000)
				delay = 5000;
		}
		if (r == 1)
			return EXIT_OK;
	}
}

/* How to draw: a UTF-8 terminal gets symbols, anything else ASCII. */
static void
setup_rctx(struct rctx *rc)
{
	struct winsize	 ws;
	const char	*cs, *env;
	char		*end;
	long		 v;
	int		 tty = isatty(STDOUT_FILENO);

	/* Not a terminal: ASCII whatever the locale, so none is loaded. */
	rc->ascii = 1;
	if (tty) {
		setlocale(LC_CTYPE, "");
		cs = nl_langinfo(CODESET);
		rc->ascii = cs == NULL || (strcasecmp(cs, "UTF-8") != 0 &&
		    strcasecmp(cs, "utf8") != 0);
	}
	rc->cols = 0;
	if ((env = getenv("COLUMNS")) != NULL && *env != '\0') {
		errno = 0;
		v = strtol(env, &end, 10);
		if (errno == 0 && *end == '\0' && v > 0 && v < 100000) {
			rc->cols = (size_t)v;
			return;
		}
	}
	if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
	    ws.ws_col > 0)
		rc->cols = ws.ws_col;
}

int
main(int argc, char **argv)
{
	struct opts		 o;
	struct linebuf		 lb = { 0 };
	struct sigaction	 sa;
	sigset_t		 block;
	char			 req[REQUEST_MAX + 1], *line, *s;
	size_t			 reqlen, linelen;
	int64_t			 deadline;
	int			 fd, r, rc;

	/*
	 * Buffers that grow past 64 KiB (a large reply, the table's text)
	 * get pages of their own and grow by mremap(), never by copying into
	 * fresh memory: a first touch is what costs on a VM (struct table).
	 */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	parse_args(argc, argv, &o);
	setup_rctx(&o.rc);
	/*
	 * On the stack: every die() on the way to the reply leaves nothing
	 * allocated behind (build_request() keeps it under REQUEST_MAX).
	 */
	s = build_request(&o, &reqlen);
	memcpy(req, s, reqlen);
	free(s);

	signal(SIGPIPE, SIG_IGN);
	if (o.cmd->cmd == CMD_WATCH) {
		/*
		 * Ctrl-C ends a watch cleanly.  The signals stay blocked but
		 * inside ppoll(), so that none falls between a check of
		 * `interrupted` and the wait.
		 */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigemptyset(&block);
		sigaddset(&block, SIGINT);
		sigaddset(&block, SIGTERM);
		sigprocmask(SIG_BLOCK, &block, &waitmask);
		sigdelset(&waitmask, SIGINT);
		sigdelset(&waitmask, SIGTERM);
		waitmaskp = &waitmask;
		setvbuf(stdout, NULL, _IOLBF, 0);
		rc = watch(&o);
		out_check();
		return rc;
	}
	/* Our own version needs no daemon: it comes first. */
	if (o.cmd->cmd == CMD_VERSION && !o.json) {
		printf("tunnelctl %s\n", PACKAGE_VERSION);
		out_check();
	}

	deadline = now_ms() + o.timeout_ms;
	if (o.cmd->cmd == CMD_STATUS && o.nwords <= 1) {
		rc = status_query(&o, req, reqlen, deadline);
		out_check();
		return rc;
	}
	for (;;) {
		fd = ctl_connect(o.socket, deadline);
		ctl_send(fd, o.socket, req, reqlen, deadline);
		r = read_line(fd, o.socket, &lb, deadline, &line, &linelen);
		if (r == -2)
			no_reply(&o);
		if (r == 0)
			die(EXIT_UNREACH, "daemon closed the connection "
			    "without a reply");
		if (!wants_summary(&o) || !summary_unknown(line, linelen))
			break;
		/* Asked again, in full, within the same deadline. */
		close(fd);
		lb.start = lb.len = lb.scanned = 0;
		lb.eof = 0;
		reqlen = strlen("status\n");
		memcpy(req, "status\n", reqlen);
	}
	rc = handle_reply(&o, line, linelen);
	out_check();
	close(fd);
	free(lb.buf);
	return rc;
}
