/*
 * tunnelctl: the command-line client of tunneld's control socket.
 *
 *	tunnelctl [--socket PATH] [--json] [--help] [--version] COMMAND [ARGS]
 *
 * It sends one request line (the command words joined by single spaces,
 * ending in "\n") over the AF_UNIX stream socket and reads JSON replies, one
 * object per line.  Like relayctl and bgpctl, what the daemon said (jansson
 * objects, read through the j*() accessors) is kept apart from how it is
 * shown: the render_*() functions are pure -- a reply in, text out, no
 * clock, no socket, no global state -- so that they can be fed canned
 * replies (tests/t_tunnelctl_render.sh does).
 *
 * Socket: --socket PATH, else $TUNNELD_SOCKET, else /run/tunneld/control.sock.
 * Timeout: a daemon that does not answer within $TUNNELCTL_TIMEOUT seconds
 * (default 10) is treated as unreachable; `watch` is bounded only until its
 * first line, then follows the stream until the daemon closes it or the user
 * interrupts (SIGINT, SIGTERM).
 *
 * Exit status (also in --help):
 *	0  ok; for `status`: every node shown is up
 *	1  `status`: a node shown is not up; `best`: no node qualifies
 *	2  usage error: unknown option or command, wrong arguments, a word that
 *	   is not printable or has spaces, a request of 1024 bytes or more
 *	3  daemon unreachable or unintelligible: cannot connect, no reply in
 *	   time, connection closed without a reply (or a `watch` stream closed
 *	   by the daemon), a reply line that is not a JSON object with a boolean
 *	   "ok" or that lacks the field the command needs, a line over 4 GiB
 *	4  refused by the daemon: {"ok":false,"error":...}, the error is printed
 *	   as "tunnelctl: <error>" on standard error
 *	5  local failure: standard output cannot be written (other than a closed
 *	   pipe, which ends tunnelctl quietly with this status), out of memory
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

#include <jansson.h>

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

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		die(EXIT_LOCAL, "vsnprintf failed");
	sb_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/*
 * Append a string from the daemon, with C0 controls, DEL and C1 controls
 * (U+0080..U+009F, encoded C2 80..C2 9F) replaced by '?'.  jansson hands us
 * valid UTF-8 only, so the rest is copied as is.
 */
static void
sb_add_clean(struct sbuf *b, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			sb_add(b, "?", 1);
		else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			sb_add(b, "?", 1);
			p++;
		} else
			sb_add(b, (const char *)p, 1);
	}
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

static json_t *
jget(const json_t *o, const char *key)
{
	json_t	*v;

	if (!json_is_object(o) || (v = json_object_get(o, key)) == NULL ||
	    json_is_null(v))
		return NULL;
	return v;
}

static const char *
jstr(const json_t *o, const char *key)
{
	json_t	*v = jget(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A non-empty string, or NULL. */
static const char *
jstr_ne(const json_t *o, const char *key)
{
	const char	*s = jstr(o, key);

	return s != NULL && *s != '\0' ? s : NULL;
}

static int
jnum(const json_t *o, const char *key, double *d)
{
	json_t	*v = jget(o, key);

	if (!json_is_number(v))
		return 0;
	*d = json_number_value(v);
	return isfinite(*d);
}

static json_t *
jobj(const json_t *o, const char *key)
{
	json_t	*v = jget(o, key);

	return json_is_object(v) ? v : NULL;
}

static json_t *
jarr(const json_t *o, const char *key)
{
	json_t	*v = jget(o, key);

	return json_is_array(v) ? v : NULL;
}

/* -1: not a reply object; 0: {"ok":false}; 1: {"ok":true}. */
static int
reply_ok(const json_t *reply)
{
	json_t	*ok;

	if (!json_is_object(reply))
		return -1;
	ok = json_object_get(reply, "ok");
	if (!json_is_boolean(ok))
		return -1;
	return json_is_true(ok);
}

static int
node_is_up(const json_t *node)
{
	const char	*state = jstr(node, "state");

	return state != NULL && strcmp(state, "up") == 0;
}

/*
 * Exit status for a status reply: EXIT_OK when every node shown is up,
 * EXIT_NOTUP when one is not, EXIT_UNREACH when the reply has no node list.
 */
static int
status_exit_code(const json_t *reply)
{
	json_t	*nodes = jarr(reply, "nodes"), *n;
	size_t	 i;

	if (nodes == NULL)
		return EXIT_UNREACH;
	json_array_foreach(nodes, i, n)
		if (!node_is_up(n))
			return EXIT_NOTUP;
	return EXIT_OK;
}

/* ---------------------------------------------------------------------
 * Rendering: pure functions of a reply.
 */

/* "45s", "2m03s", "1h02m", "3d04h". */
static void
fmt_duration(struct sbuf *b, double s)
{
	long long	t;

	if (s < 0)
		s = 0;
	if (s > 1e12)
		s = 1e12;
	t = (long long)s;
	if (t < 60)
		sb_printf(b, "%llds", t);
	else if (t < 3600)
		sb_printf(b, "%lldm%02llds", t / 60, t % 60);
	else if (t < 86400)
		sb_printf(b, "%lldh%02lldm", t / 3600, t % 3600 / 60);
	else
		sb_printf(b, "%lldd%02lldh", t / 86400, t % 86400 / 3600);
}

/* Milliseconds: "0.4ms", "41ms", "1.2s"; "-" when absent or negative. */
static void
fmt_ms(struct sbuf *b, const json_t *o, const char *key)
{
	double	ms;

	if (!jnum(o, key, &ms) || ms < 0)
		sb_puts(b, "-");
	else if (ms < 9.95)
		sb_printf(b, "%.1fms", ms);
	else if (ms < 999.5)
		sb_printf(b, "%.0fms", ms);
	else
		sb_printf(b, "%.1fs", ms / 1000.0);
}

/* "up 2m03s", "backoff 8s" (time to the next attempt), "stopped". */
static void
cell_state(struct sbuf *b, const json_t *node)
{
	const char	*state = jstr_ne(node, "state");
	double		 d;

	if (state == NULL) {
		sb_puts(b, "-");
		return;
	}
	sb_add_clean(b, state);
	if (strcmp(state, "backoff") == 0) {
		if (jnum(jobj(node, "ssh"), "next_attempt_s", &d) && d >= 0) {
			sb_puts(b, " ");	/* rounded up, like STATUS= */
			fmt_duration(b, d > 1e12 ? d : (double)(long long)d +
			    (d > (double)(long long)d));
		}
	} else if (jnum(node, "since_s", &d) && d >= 0) {
		sb_puts(b, " ");
		fmt_duration(b, d);
	}
}

static int
host_is_loopback(const char *h, size_t n)
{
	return (n >= 4 && strncmp(h, "127.", 4) == 0) ||
	    (n == 9 && strncmp(h, "localhost", 9) == 0) ||
	    (n == 3 && strncmp(h, "::1", 3) == 0) ||
	    (n == 5 && strncmp(h, "[::1]", 5) == 0);
}

/* "127.0.0.1:11435" -> "11435"; other hosts stay: "0.0.0.0:11435". */
static void
fmt_endpoint(struct sbuf *b, const char *hp)
{
	const char	*colon;

	if (hp == NULL || *hp == '\0') {
		sb_puts(b, "-");
		return;
	}
	colon = strrchr(hp, ':');
	if (colon != NULL && colon[1] != '\0' &&
	    host_is_loopback(hp, (size_t)(colon - hp)))
		sb_add_clean(b, colon + 1);
	else
		sb_add_clean(b, hp);
}

/*
 * The port map: "11435→11434" for a local forward between loopback
 * addresses, "R 11436→11434" for a remote one, a non-loopback side written
 * in full, a forward that is not up followed by its state ("(refused)").
 */
static void
cell_ports(struct sbuf *b, const json_t *node)
{
	json_t		*fwds = jarr(node, "forwards"), *f;
	const char	*kind, *state, *nstate = jstr(node, "state");
	size_t		 i, shown = 0;
	int		 session_alive = nstate != NULL &&
			    (strcmp(nstate, "up") == 0 ||
			    strcmp(nstate, "degraded") == 0);

	json_array_foreach(fwds, i, f) {
		if (!json_is_object(f))
			continue;
		if (shown++ > 0)
			sb_puts(b, ", ");
		kind = jstr(f, "kind");
		if (kind != NULL && strcmp(kind, "remote") == 0)
			sb_puts(b, "R ");
		else if (kind != NULL && strcmp(kind, "local") != 0) {
			sb_add_clean(b, kind);
			sb_puts(b, " ");
		}
		fmt_endpoint(b, jstr(f, "listen"));
		sb_puts(b, "\xe2\x86\x92");	/* U+2192 RIGHTWARDS ARROW */
		fmt_endpoint(b, jstr(f, "target"));
		/* "down" says nothing new while the session is down. */
		state = jstr_ne(f, "state");
		if (state != NULL && strcmp(state, "up") != 0 &&
		    (strcmp(state, "down") != 0 || session_alive)) {
			sb_puts(b, " (");
			sb_add_clean(b, state);
			sb_puts(b, ")");
		}
	}
	if (shown == 0)
		sb_puts(b, "-");
}

static void
cell_rtt(struct sbuf *b, const json_t *node)
{
	fmt_ms(b, jobj(node, "ssh"), "rtt_ms");
}

/* "0.5.7 12ms 3 models"; a probe state other than ok is shown instead. */
static void
cell_ollama(struct sbuf *b, const json_t *node)
{
	json_t		*o = jobj(node, "ollama"), *models;
	const char	*state, *version;
	double		 ms;
	size_t		 n;

	if (o == NULL) {
		sb_puts(b, "-");
		return;
	}
	state = jstr_ne(o, "state");
	if (state != NULL && strcmp(state, "ok") != 0) {
		sb_add_clean(b, state);
		return;
	}
	version = jstr_ne(o, "version");
	if (version == NULL && !jnum(o, "latency_ms", &ms) &&
	    jarr(o, "models") == NULL) {
		sb_puts(b, "-");
		return;
	}
	if (version != NULL)
		sb_add_clean(b, version);
	else
		sb_puts(b, "-");
	sb_puts(b, " ");
	fmt_ms(b, o, "latency_ms");
	if ((models = jarr(o, "models")) != NULL) {
		n = json_array_size(models);
		sb_printf(b, " %zu model%s", n, n == 1 ? "" : "s");
	} else
		sb_puts(b, " -");
	/* Figures kept from a session that is gone (probe.c). */
	if (json_is_true(jget(o, "stale")))
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
fmt_gib(struct sbuf *b, const json_t *gpu, const char *key)
{
	double	mib;

	if (jnum(gpu, key, &mib) && mib >= 0)
		sb_printf(b, "%.1f", mib / 1024.0);
	else
		sb_puts(b, "-");
}

/*
 * "RTX 4090 41°C 23% 11.8/24.0G" per GPU, joined by " | "; the model name
 * only where it differs from the previous GPU's.
 */
static void
cell_gpus(struct sbuf *b, const json_t *node)
{
	json_t		*gpus = jarr(node, "gpus"), *g;
	double		 v, used, total;
	size_t		 i;
	const char	*name, *prev = NULL;

	if (gpus == NULL || json_array_size(gpus) == 0) {
		sb_puts(b, "-");
		return;
	}
	json_array_foreach(gpus, i, g) {
		if (i > 0)
			sb_puts(b, " | ");
		if (!json_is_object(g) || (!jnum(g, "temp_c", &v) &&
		    !jnum(g, "util_pct", &v) && !jnum(g, "mem_used_mib", &v) &&
		    !jnum(g, "mem_total_mib", &v))) {
			sb_puts(b, "-");
			continue;
		}
		if ((name = jstr_ne(g, "name")) != NULL &&
		    (prev == NULL || strcmp(name, prev) != 0)) {
			sb_add_clean(b, gpu_short_name(name));
			sb_puts(b, " ");
		}
		prev = name;
		if (jnum(g, "temp_c", &v))
			sb_printf(b, "%.0f\xc2\xb0" "C", v);	/* U+00B0 */
		else
			sb_puts(b, "-");
		if (jnum(g, "util_pct", &v))
			sb_printf(b, " %.0f%%", v);
		else
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
	}
	if (json_is_true(jget(jobj(node, "gpu_probe"), "stale")))
		sb_puts(b, " (stale)");
}

/* Why a node is not up: its reason, else the session's last error. */
static void
cell_reason(struct sbuf *b, const json_t *node)
{
	const char	*r;

	if (node_is_up(node))
		return;
	if ((r = jstr_ne(node, "reason")) == NULL)
		r = jstr_ne(jobj(node, "ssh"), "last_error");
	if (r != NULL)
		sb_add_clean(b, r);
	else
		sb_puts(b, "-");
}

enum col { COL_NODE, COL_STATE, COL_PORTS, COL_RTT, COL_OLLAMA, COL_GPUS,
	COL_REASON, NCOLS };

static const char *col_names[NCOLS] = {
	"NODE", "STATE", "PORTS", "RTT", "OLLAMA", "GPUS", "REASON"
};

/*
 * Print rows of cells as an aligned table: columns two spaces apart, widths
 * in code points, the last column unpadded, no trailing blanks.  ROWS[0] is
 * the header.  Columns with SHOW[c] == 0 are left out.
 */
static void
render_table(char *(*rows)[NCOLS], size_t nrows, const int *show, FILE *out)
{
	size_t		 width[NCOLS] = { 0 }, w, r, c, last = 0;
	struct sbuf	 line = { 0 };

	for (c = 0; c < NCOLS; c++) {
		if (!show[c])
			continue;
		last = c;
		for (r = 0; r < nrows; r++)
			if ((w = u8_width(rows[r][c])) > width[c])
				width[c] = w;
	}
	for (r = 0; r < nrows; r++) {
		line.len = 0;
		for (c = 0; c < NCOLS; c++) {
			if (!show[c])
				continue;
			sb_puts(&line, rows[r][c]);
			if (c == last)
				break;
			for (w = u8_width(rows[r][c]); w < width[c] + 2; w++)
				sb_add(&line, " ", 1);
		}
		while (line.len > 0 && line.s[line.len - 1] == ' ')
			line.len--;
		fwrite(line.s, 1, line.len, out);
		fputc('\n', out);
	}
	free(line.s);
}

/*
 * Pools under the nodes, as a table of their own (the same seven columns
 * wide); REASON only while some pool's listener is not bound.
 */
static void
render_pools(const json_t *pools, FILE *out)
{
	static const char *names[NCOLS] = {
		"POOL", "LISTEN", "POLICY", "CLIENTS", "FAILOVERS", "REFUSED",
		"REASON"
	};
	static const char *fields[NCOLS] = {
		"name", "listen", "policy", "connections", "failovers",
		"refused", "reason"
	};
	char		*(*rows)[NCOLS];
	int		  show[NCOLS];
	size_t		  npools, i, c;
	struct sbuf	  b = { 0 };
	const json_t	 *p, *v;

	if (pools == NULL || (npools = json_array_size(pools)) == 0)
		return;
	if ((rows = calloc(npools + 1, sizeof(*rows))) == NULL)
		die(EXIT_LOCAL, "out of memory");
	for (c = 0; c < NCOLS; c++) {
		sb_puts(&b, names[c]);
		rows[0][c] = sb_steal(&b);
		show[c] = c != NCOLS - 1;
	}
	json_array_foreach(pools, i, p) {
		for (c = 0; c < NCOLS; c++) {
			v = jget(p, fields[c]);
			if (json_is_string(v) && *json_string_value(v) != '\0')
				sb_add_clean(&b, json_string_value(v));
			else if (json_is_integer(v))
				sb_printf(&b, "%" JSON_INTEGER_FORMAT,
				    json_integer_value(v));
			else
				sb_puts(&b, "-");
			rows[i + 1][c] = sb_steal(&b);
		}
		if (json_is_false(jget(p, "listening")))
			show[NCOLS - 1] = 1;
	}
	fputc('\n', out);
	render_table(rows, npools + 1, show, out);
	for (i = 0; i <= npools; i++)
		for (c = 0; c < NCOLS; c++)
			free(rows[i][c]);
	free(rows);
}

/*
 * The status table and its summary line ("2/3 nodes up").  Returns the
 * exit status (status_exit_code()): the data decides, not the drawing.
 */
static int
render_status(const json_t *reply, FILE *out)
{
	json_t		 *nodes = jarr(reply, "nodes"), *n;
	char		*(*rows)[NCOLS];
	void		(*cell[NCOLS])(struct sbuf *, const json_t *) = {
		NULL, cell_state, cell_ports, cell_rtt, cell_ollama, cell_gpus,
		cell_reason
	};
	int		  show[NCOLS];
	size_t		  nnodes, i, c, up = 0;
	struct sbuf	  b = { 0 };
	const char	 *name;

	if (nodes == NULL)
		return EXIT_UNREACH;
	nnodes = json_array_size(nodes);
	if ((rows = calloc(nnodes + 1, sizeof(*rows))) == NULL)
		die(EXIT_LOCAL, "out of memory");
	for (c = 0; c < NCOLS; c++) {
		sb_puts(&b, col_names[c]);
		rows[0][c] = sb_steal(&b);
		show[c] = 1;
	}
	show[COL_REASON] = 0;
	json_array_foreach(nodes, i, n) {
		if ((name = jstr_ne(n, "name")) != NULL)
			sb_add_clean(&b, name);
		else
			sb_puts(&b, "-");
		rows[i + 1][COL_NODE] = sb_steal(&b);
		for (c = COL_NODE + 1; c < NCOLS; c++) {
			cell[c](&b, n);
			rows[i + 1][c] = sb_steal(&b);
		}
		if (node_is_up(n))
			up++;
		else
			show[COL_REASON] = 1;
	}
	render_table(rows, nnodes + 1, show, out);
	fprintf(out, "%zu/%zu nodes up\n", up, nnodes);
	for (i = 0; i <= nnodes; i++)
		for (c = 0; c < NCOLS; c++)
			free(rows[i][c]);
	free(rows);
	render_pools(jarr(reply, "pools"), out);
	return status_exit_code(reply);
}

/* The event's own time, else NOW (UTC, like the daemon writes it). */
static void
fmt_event_time(struct sbuf *b, const json_t *ev, time_t now)
{
	const char	*t = jstr_ne(ev, "time");
	struct tm	 tm;
	char		 ts[32];

	if (t != NULL) {
		sb_add_clean(b, t);
		return;
	}
	if (gmtime_r(&now, &tm) != NULL &&
	    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		sb_puts(b, ts);
	else
		sb_puts(b, "-");
}

static void
sb_add_field(struct sbuf *b, const json_t *o, const char *key)
{
	const char	*s = jstr_ne(o, key);

	sb_add_clean(b, s != NULL ? s : "-");
}

/*
 * One watch event as one line:
 *	2026-11-22T14:03:11Z runpod up -> backoff: keepalive timeout after 15s
 *	2026-11-22T14:03:11Z ALERT gpu-hot runpod: gpu0 85°C > 80°C
 * The stream's opening {"ok":true,"event":"hello"} prints nothing; any
 * other object is printed as the JSON line it came as (RAW, RAWLEN).
 */
static void
render_event(const json_t *ev, const char *raw, size_t rawlen, time_t now,
    FILE *out)
{
	const char	*event = jstr(ev, "event"), *s;
	struct sbuf	 b = { 0 };

	if (event != NULL && strcmp(event, "state") == 0) {
		fmt_event_time(&b, ev, now);
		sb_puts(&b, " ");
		sb_add_field(&b, ev, "node");
		sb_puts(&b, " ");
		sb_add_field(&b, ev, "from");
		sb_puts(&b, " -> ");
		sb_add_field(&b, ev, "to");
	} else if (event != NULL && strcmp(event, "alert") == 0) {
		fmt_event_time(&b, ev, now);
		sb_puts(&b, " ALERT ");
		sb_add_field(&b, ev, "kind");
		if ((s = jstr_ne(ev, "node")) != NULL) {
			sb_puts(&b, " ");
			sb_add_clean(&b, s);
		}
	} else if (event != NULL && strcmp(event, "hello") == 0 &&
	    json_object_get(ev, "ok") != NULL) {
		return;
	} else {
		fwrite(raw, 1, rawlen, out);
		fputc('\n', out);
		return;
	}
	if ((s = jstr_ne(ev, "reason")) != NULL) {
		sb_puts(&b, ": ");
		sb_add_clean(&b, s);
	}
	sb_puts(&b, "\n");
	fwrite(b.s, 1, b.len, out);
	free(b.s);
}

/* ---------------------------------------------------------------------
 * Command line.
 */

struct opts {
	const char	*socket;
	int		 json;
	int		 timeout_ms;
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
	    "\n"
	    "Exit status:\n"
	    "  0  ok (status: every node shown is up)\n"
	    "  1  status: a node is not up; best: no node qualifies\n"
	    "  2  usage error\n"
	    "  3  daemon unreachable: cannot connect, no reply in time, connection\n"
	    "     closed, malformed reply\n"
	    "  4  refused by the daemon (its error is printed)\n"
	    "  5  local failure (cannot write the output, out of memory)\n",
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
}

/* The request line, "\n" included; usage error when 1024 bytes or more. */
static char *
build_request(const struct opts *o, size_t *lenp)
{
	struct sbuf	b = { 0 };
	size_t		k;

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
	die(EXIT_UNREACH, "cannot connect to %s: %s%s", path, strerror(err),
	    err == ENOENT || err == ECONNREFUSED ? " (is tunneld running?)" :
	    "");
}

static int
ctl_connect(const char *path, int64_t deadline)
{
	struct sockaddr_un	sun;
	socklen_t		len;
	int			fd, err, r;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		connect_failed(path, ENAMETOOLONG);
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		die(EXIT_LOCAL, "socket: %s", strerror(errno));
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		if (errno == EISCONN)
			return fd;
		if (errno == EAGAIN) {
			/* A full listen backlog: the daemon is busy. */
			if (deadline >= 0 && now_ms() >= deadline)
				die(EXIT_UNREACH, "cannot connect to %s: "
				    "daemon not accepting connections", path);
			if (wait_fd(-1, 0, now_ms() + 20) < 0)
				exit(EXIT_UNREACH);
			continue;
		}
		if (errno != EINPROGRESS && errno != EINTR &&
		    errno != EALREADY)
			connect_failed(path, errno);
		if ((r = wait_fd(fd, POLLOUT, deadline)) == 0)
			die(EXIT_UNREACH, "cannot connect to %s: timed out",
			    path);
		if (r < 0)
			exit(EXIT_UNREACH);
		len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			connect_failed(path, errno);
		if (err != 0)
			connect_failed(path, err);
		return fd;
	}
}

static void
ctl_send(int fd, const char *path, const char *buf, size_t len,
    int64_t deadline)
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
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			die(EXIT_UNREACH, "cannot send request to %s: %s",
			    path, strerror(errno));
		if ((r = wait_fd(fd, POLLOUT, deadline)) == 0)
			die(EXIT_UNREACH, "cannot send request to %s: "
			    "timed out", path);
		if (r < 0)
			exit(EXIT_UNREACH);
	}
}

struct linebuf {
	char	*buf;
	size_t	 start, len, cap;	/* data is buf[start .. start+len) */
	size_t	 scanned;		/* of len, known to hold no newline */
	int	 eof;
};

/*
 * The next reply line into *LINE (NUL-terminated, newline stripped, valid
 * until the next call).  Returns 1 a line, 0 end of stream, -1 interrupted
 * by the user, -2 DEADLINE passed; a read error or an overlong line ends
 * tunnelctl.  A last line without its newline is still handed out: it is
 * judged as JSON.
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
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			die(EXIT_UNREACH, "cannot read reply from %s: %s",
			    path, strerror(errno));
		if ((r = wait_fd(fd, POLLIN, deadline)) < 0)
			return -1;
		if (r == 0)
			return -2;
	}
}

/* ---------------------------------------------------------------------
 * Replies.
 */

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
 * One reply line of a non-watch command.  Returns the exit status.
 */
static int
handle_reply(const struct opts *o, const char *line, size_t len)
{
	json_error_t	 jerr;
	json_t		*reply;
	const char	*s;
	json_t		*v;
	int		 ok, rc = EXIT_OK;

	reply = json_loadb(line, len, 0, &jerr);
	if (!json_is_object(reply)) {
		json_decref(reply);
		die(EXIT_UNREACH, "malformed reply from daemon");
	}
	if (o->json) {
		fwrite(line, 1, len, stdout);
		fputc('\n', stdout);
	}
	if ((ok = reply_ok(reply)) < 0) {
		json_decref(reply);
		die(EXIT_UNREACH, "malformed reply from daemon: no \"ok\"");
	}
	if (!ok) {
		out_check();
		s = jstr_ne(reply, "error");
		fprintf(stderr, "tunnelctl: %s\n", s != NULL ? s :
		    "request refused (no reason given)");
		json_decref(reply);
		return EXIT_REFUSED;
	}
	switch (o->cmd->cmd) {
	case CMD_STATUS:
		rc = o->json ? status_exit_code(reply) :
		    render_status(reply, stdout);
		if (rc == EXIT_UNREACH)
			die(EXIT_UNREACH, "malformed reply from daemon: "
			    "no node list");
		break;
	case CMD_METRICS:
		v = jget(reply, "text");
		if (!json_is_string(v))
			die(EXIT_UNREACH, "malformed reply from daemon: "
			    "no metrics text");
		if (!o->json)
			print_text(json_string_value(v),
			    json_string_length(v));
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

			sb_printf(&b, "tunnelctl %s, tunneld ", PACKAGE_VERSION);
			sb_add_field(&b, reply, "version");
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

			sb_add_field(&b, reply, "message");
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
	json_decref(reply);
	return rc;
}

/* One line of the watch stream. */
static void
handle_event(const struct opts *o, const char *line, size_t len)
{
	json_error_t	 jerr;
	json_t		*ev;
	const char	*s;

	ev = json_loadb(line, len, 0, &jerr);
	if (!json_is_object(ev)) {
		json_decref(ev);
		die(EXIT_UNREACH, "malformed reply from daemon");
	}
	if (o->json) {
		fwrite(line, 1, len, stdout);
		fputc('\n', stdout);
	} else if (reply_ok(ev) != 0)
		render_event(ev, line, len, time(NULL), stdout);
	out_check();
	if (reply_ok(ev) == 0) {
		s = jstr_ne(ev, "error");
		fprintf(stderr, "tunnelctl: %s\n", s != NULL ? s :
		    "request refused (no reason given)");
		json_decref(ev);
		exit(EXIT_REFUSED);
	}
	json_decref(ev);
}

static void	no_reply(const struct opts *) __attribute__((noreturn));

static void
no_reply(const struct opts *o)
{
	die(EXIT_UNREACH, "no reply from daemon on %s within %gs", o->socket,
	    o->timeout_ms / 1000.0);
}

int
main(int argc, char **argv)
{
	struct opts		 o;
	struct linebuf		 lb = { 0 };
	struct sigaction	 sa;
	sigset_t		 block;
	char			*req, *line;
	size_t			 reqlen, linelen;
	int64_t			 deadline;
	int			 fd, r, rc, first = 1;

	parse_args(argc, argv, &o);
	req = build_request(&o, &reqlen);

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
	}

	deadline = now_ms() + o.timeout_ms;
	fd = ctl_connect(o.socket, deadline);
	ctl_send(fd, o.socket, req, reqlen, deadline);
	free(req);

	if (o.cmd->cmd != CMD_WATCH) {
		r = read_line(fd, o.socket, &lb, deadline, &line, &linelen);
		if (r == -2)
			no_reply(&o);
		if (r == 0)
			die(EXIT_UNREACH, "daemon closed the connection "
			    "without a reply");
		rc = handle_reply(&o, line, linelen);
		out_check();
		close(fd);
		free(lb.buf);
		return rc;
	}

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		r = read_line(fd, o.socket, &lb, first ? deadline : -1, &line,
		    &linelen);
		if (r == -2)
			no_reply(&o);
		if (r < 0)		/* the user's Ctrl-C */
			break;
		if (r == 0)
			die(EXIT_UNREACH, first ? "daemon closed the connection "
			    "without a reply" : "daemon closed the watch stream");
		handle_event(&o, line, linelen);
		first = 0;
	}
	out_check();
	close(fd);
	free(lb.buf);
	return EXIT_OK;
}
