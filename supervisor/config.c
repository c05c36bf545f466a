/*
 * config: tunneld.conf, split by inih, validated here.
 *
 * Debian's libinih (r55) is built without INI_HANDLER_LINENO, reads at most
 * INI_MAX_LINE (200) bytes per line and silently splits longer ones,
 * truncates section names to 49 bytes and takes indented lines as
 * continuations of the previous value.  None of that fits "file:line:
 * message", so inih reads through our own ini_parse_stream() reader: it
 * counts physical lines, strips indentation and comments (`#` or `;` at the
 * start of a line, ` ;` inline), handles [section] headers itself (long node
 * names, key-less sections) and rejects what inih would misparse.  inih is
 * left with splitting "key = value"; it calls us back synchronously for the
 * line the reader just returned, so p->lineno is that line.
 *
 * Values:
 * - durations are DIGITS[.DIGITS]UNIT, UNIT one of ms s m h ("500ms",
 *   "1.5s"); a bare number is an error (missing unit), compound forms
 *   ("1m30s") are not accepted, the result must be a whole number of
 *   milliseconds and at most 168h.  Every duration key must be > 0:
 *   keepalives are the only way to see a hung peer, so they cannot be
 *   turned off, and a zero backoff or probe interval would spin.
 * - host:port is "host:port", "[v6]:port" or a bare port (127.0.0.1).  A
 *   listen address must be an IP literal or "localhost"; "*" and an empty
 *   host are refused, every other address is allowed since it is written.
 * - `ollama = none` turns off the Ollama probe a local forward would imply.
 * - Unwritten probe_timeout/backoff_initial are clamped to a smaller written
 *   probe_interval/backoff_max (and backoff_max raised to a larger written
 *   backoff_initial); two written values in the wrong order are an error.
 */

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"

#define CONFIG_FILE_MAX	(1024 * 1024)
#define DUR_MAX_MS	(168ULL * 3600 * 1000)
#define NAME_LEN_MAX	63
#define NAME_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
#define KEYS_MAX	32
#define WHY_MAX		512
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

enum sect_kind { SECT_TUNNELD, SECT_ALERTS, SECT_NODE, SECT_POOL };
enum key_type { K_STR, K_SOCK, K_DUR, K_INT, K_DBL, K_HOSTKEY, K_LISTEN, K_OWN };
enum { NK_SSH, NK_IDENTITY, NK_LOCAL_FORWARD, NK_REMOTE_FORWARD, NK_OLLAMA,
    NK_GPU, NK_REQUIRE_MODELS, NK_HTTP, NK_PRIORITY, NK_ENABLED,
    NK_PROBE_INTERVAL, NK_PROBE_TIMEOUT, NK_RISE, NK_FALL };
enum { PK_LISTEN, PK_NODES, PK_POLICY, PK_MODE, PK_RETRIES, PK_FIRST_BYTE_TIMEOUT };

struct keydef {
	const char	*name;
	enum key_type	 type;
	size_t		 off;		/* into struct config */
	double		 min, max;
	int		 repeat;
};

#define G(n, t, f, lo, hi)	{ n, t, offsetof(struct config, f), lo, hi, 0 }
static const struct keydef tunneld_keys[] = {
	G("control_socket",	K_SOCK,		control_socket, 0, 0),
	G("admin_group",	K_STR,		admin_group, 0, 0),
	G("known_hosts",	K_STR,		known_hosts, 0, 0),
	G("host_key_policy",	K_HOSTKEY,	host_key_policy, 0, 0),
	G("ssh_config",		K_STR,		ssh_config, 0, 0),
	G("keepalive_interval",	K_DUR,		keepalive_interval, 0, 0),
	G("keepalive_count",	K_INT,		keepalive_count, 1, 100),
	G("connect_timeout",	K_DUR,		connect_timeout, 0, 0),
	G("backoff_initial",	K_DUR,		backoff_initial, 0, 0),
	G("backoff_max",	K_DUR,		backoff_max, 0, 0),
	G("backoff_multiplier",	K_DBL,		backoff_multiplier, 1, 100),
	G("backoff_jitter",	K_DBL,		backoff_jitter, 0, 1),
	G("retry_refused",	K_DUR,		retry_refused, 0, 0),
	G("stable_after",	K_DUR,		stable_after, 0, 0),
	G("probe_interval",	K_DUR,		probe_interval, 0, 0),
	G("probe_timeout",	K_DUR,		probe_timeout, 0, 0),
	G("rise",		K_INT,		rise, 1, 100),
	G("fall",		K_INT,		fall, 1, 100),
	G("metrics_listen",	K_LISTEN,	metrics_listen, 0, 0),
	{ NULL, K_OWN, 0, 0, 0, 0 }
};
static const struct keydef alerts_keys[] = {
	G("gpu_temp_c",		K_INT,		alert_gpu_temp_c, 1, 200),
	G("gpu_mem_pct",	K_INT,		alert_gpu_mem_pct, 1, 100),
	G("ollama_latency",	K_DUR,		alert_ollama_latency, 0, 0),
	G("repeat_after",	K_DUR,		alert_repeat_after, 0, 0),
	{ NULL, K_OWN, 0, 0, 0, 0 }
};
#define O(n, r)		{ n, K_OWN, 0, 0, 0, r }
static const struct keydef node_keys[] = {
	[NK_SSH] =		O("ssh", 0),
	[NK_IDENTITY] =		O("identity", 0),
	[NK_LOCAL_FORWARD] =	O("local_forward", 1),
	[NK_REMOTE_FORWARD] =	O("remote_forward", 1),
	[NK_OLLAMA] =		O("ollama", 0),
	[NK_GPU] =		O("gpu", 0),
	[NK_REQUIRE_MODELS] =	O("require_models", 1),
	[NK_HTTP] =		O("http", 1),
	[NK_PRIORITY] =		O("priority", 0),
	[NK_ENABLED] =		O("enabled", 0),
	[NK_PROBE_INTERVAL] =	O("probe_interval", 0),
	[NK_PROBE_TIMEOUT] =	O("probe_timeout", 0),
	[NK_RISE] =		O("rise", 0),
	[NK_FALL] =		O("fall", 0),
	[NK_FALL + 1] =		O(NULL, 0)
};
static const struct keydef pool_keys[] = {
	[PK_LISTEN] =		O("listen", 0),
	[PK_NODES] =		O("nodes", 0),
	[PK_POLICY] =		O("policy", 0),
	[PK_MODE] =		O("mode", 0),
	[PK_RETRIES] =		O("retries", 0),
	[PK_FIRST_BYTE_TIMEOUT] = O("first_byte_timeout", 0),
	[PK_FIRST_BYTE_TIMEOUT + 1] = O(NULL, 0)
};
static const struct keydef *const sect_keys[] = {
	[SECT_TUNNELD] = tunneld_keys, [SECT_ALERTS] = alerts_keys,
	[SECT_NODE] = node_keys, [SECT_POOL] = pool_keys
};
static const char *const sect_names[] = { "tunneld", "alerts", "node", "pool", NULL };

/* Allowed words, in the order the error message lists them. */
struct enumval {
	const char	*name;
	int		 val;
};
static const struct enumval hostkey_names[] = {
	{ "strict", HOSTKEY_STRICT }, { "accept-new", HOSTKEY_ACCEPT_NEW },
	{ NULL, 0 }
};
static const struct enumval gpu_names[] = {
	{ "nvidia-smi", GPU_NVIDIA_SMI }, { "tegrastats", GPU_TEGRASTATS },
	{ "none", GPU_NONE }, { NULL, 0 }
};
static const struct enumval policy_names[] = {
	{ "priority", POOL_PRIORITY }, { "least-load", POOL_LEAST_LOAD },
	{ "least-outstanding", POOL_LEAST_OUTSTANDING }, { NULL, 0 }
};
static const struct enumval mode_names[] = {
	{ "tcp", POOL_MODE_TCP }, { "http", POOL_MODE_HTTP }, { NULL, 0 }
};
static const struct enumval yesno_names[] = {
	{ "yes", 1 }, { "no", 0 }, { NULL, 0 }
};

/* One [section] as written; keyline says where each key was first set. */
struct cfg_sect {
	enum sect_kind	 kind;
	int		 line;
	int		 discard;	/* duplicate or misnamed: checked, then dropped */
	struct node_conf *node;
	struct pool_conf *pool;
	int		 keyline[KEYS_MAX];
};

struct cfg_err {
	int		 line;
	size_t		 seq;
	char		*msg;
};

struct cfg_parse {
	struct config	*conf;
	const char	*name;
	const char	*buf;
	size_t		 len, off;
	int		 lineno;
	struct cfg_sect	**sects;
	size_t		 nsects, sectscap;
	struct cfg_sect	*cur;		/* NULL: no section yet, or skipping */
	int		 skipping;	/* inside an unknown or broken section */
	struct cfg_sect	*tunneld, *alerts;
	struct cfg_err	*errs;
	size_t		 nerrs;
	int		 oom;
};

static void	 conf_node_free(struct node_conf *);
static void	 conf_pool_free(struct pool_conf *);

static char * __attribute__((format(printf, 1, 0)))
vfmt(const char *fmt, va_list ap)
{
	va_list	 aq;
	char	*msg;
	int	 n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0 || (msg = malloc((size_t)n + 1)) == NULL)
		return NULL;
	vsnprintf(msg, (size_t)n + 1, fmt, ap);
	return msg;
}

/* Returns -1, so that "return cfg_err(...)" reads as a failure. */
static int __attribute__((format(printf, 3, 4)))
cfg_err(struct cfg_parse *p, int line, const char *fmt, ...)
{
	struct cfg_err	*ne;
	va_list		 ap;
	char		*msg;

	va_start(ap, fmt);
	msg = vfmt(fmt, ap);
	va_end(ap);
	if (msg == NULL ||
	    (ne = reallocarray(p->errs, p->nerrs + 1, sizeof(*ne))) == NULL) {
		free(msg);
		p->oom = 1;
		return -1;
	}
	p->errs = ne;
	ne[p->nerrs] = (struct cfg_err){ line, p->nerrs, msg };
	p->nerrs++;
	return -1;
}

static void __attribute__((format(printf, 2, 3)))
errs_add(struct config_errors *errs, const char *fmt, ...)
{
	va_list	  ap;
	char	 *msg, **nm;

	va_start(ap, fmt);
	msg = vfmt(fmt, ap);
	va_end(ap);
	if (msg == NULL ||
	    (nm = reallocarray(errs->msg, errs->n + 1, sizeof(*nm))) == NULL) {
		free(msg);		/* the caller still sees NULL */
		return;
	}
	errs->msg = nm;
	errs->msg[errs->n++] = msg;
}

static int
strset(struct cfg_parse *p, char **dst, const char *v)
{
	char	*s;

	if ((s = strdup(v)) == NULL) {
		p->oom = 1;
		return -1;
	}
	free(*dst);
	*dst = s;
	return 0;
}

static int
strv_add(struct cfg_parse *p, char ***v, size_t *n, const char *s)
{
	char	**nv, *d;

	if ((d = strdup(s)) == NULL ||
	    (nv = reallocarray(*v, *n + 1, sizeof(*nv))) == NULL) {
		free(d);
		p->oom = 1;
		return -1;
	}
	*v = nv;
	nv[(*n)++] = d;
	return 0;
}

static int
strv_has(char **v, size_t n, const char *s)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

static void
strv_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Split on blanks; the caller frees with strv_free(). */
static int
words(struct cfg_parse *p, const char *s, char ***v, size_t *n)
{
	char	 w[256];
	size_t	 l;

	*v = NULL;
	*n = 0;
	for (s += strspn(s, " \t"); *s != '\0'; s += strspn(s, " \t")) {
		l = strcspn(s, " \t");
		if (l >= sizeof(w))
			l = sizeof(w) - 1;	/* lines are shorter anyway */
		memcpy(w, s, l);
		w[l] = '\0';
		s += strcspn(s, " \t");
		if (strv_add(p, v, n, w) == -1)
			return -1;
	}
	return 0;
}

static int
name_ok(const char *s)
{
	size_t	n = strlen(s);

	return n > 0 && n <= NAME_LEN_MAX && strspn(s, NAME_CHARS) == n;
}

static int
is_ip(const char *h)
{
	unsigned char	a[16];

	return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

int
config_host_is_loopback(const char *host)
{
	struct in_addr	 a4;
	struct in6_addr	 a6;

	if (host == NULL)
		return 0;
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		    (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return 0;
}

const char *
config_fmt_hostport(char *buf, size_t bufsz, const char *host, uint16_t port)
{
	if (strchr(host, ':') != NULL)
		snprintf(buf, bufsz, "[%s]:%u", host, port);
	else
		snprintf(buf, bufsz, "%s:%u", host, port);
	return buf;
}

const char *
config_fmt_target(char *buf, size_t bufsz, const struct node_conf *nc)
{
	char	hp[CONFIG_HOST_MAX + 8];

	if (nc->port)
		config_fmt_hostport(hp, sizeof(hp), nc->host, nc->port);
	else
		snprintf(hp, sizeof(hp), "%s", nc->host);
	snprintf(buf, bufsz, "%s%s%s", nc->user ? nc->user : "",
	    nc->user ? "@" : "", hp);
	return buf;
}

/* Case-insensitive Levenshtein distance; long words never match. */
static int
lev(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b), i, j;
	int	row[65], diag, up, cost;

	if (la > 64 || lb > 64)
		return INT_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = (int)i;
		for (j = 1; j <= lb; j++) {
			up = row[j];
			cost = tolower((unsigned char)a[i - 1]) !=
			    tolower((unsigned char)b[j - 1]);
			row[j] = diag + cost;
			if (up + 1 < row[j])
				row[j] = up + 1;
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			diag = up;
		}
	}
	return row[lb];
}

/*
 * Also under half the candidate's length: "foo" is 2 edits from "pool",
 * and suggesting it would only confuse.
 */
const char *
config_suggest(const char *word, const char *const *candidates)
{
	const char	*best = NULL;
	int		 d, bestd = 3;

	if (word == NULL || candidates == NULL)
		return NULL;
	for (; *candidates != NULL; candidates++)
		if ((d = lev(word, *candidates)) < bestd &&
		    (size_t)d * 2 < strlen(*candidates)) {
			bestd = d;
			best = *candidates;
		}
	return best;
}

static const char *
key_suggest(const char *word, const struct keydef *tab)
{
	const char	*names[KEYS_MAX + 1];
	size_t		 i;

	for (i = 0; tab[i].name != NULL && i < KEYS_MAX; i++)
		names[i] = tab[i].name;
	names[i] = NULL;
	return config_suggest(word, names);
}

static int
dur_parse(const char *s, uint64_t *ms, char *why, size_t whysz)
{
	static const struct { const char *u; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }
	};
	const char	*c = s;
	uint64_t	 ip = 0, fr = 0, scale = 1, unit = 0, v;
	size_t		 i;

	if (!isdigit((unsigned char)*c))
		goto bad;
	for (; isdigit((unsigned char)*c); c++) {
		if (ip > DUR_MAX_MS)
			goto big;
		ip = ip * 10 + (uint64_t)(*c - '0');
	}
	if (*c == '.') {
		if (!isdigit((unsigned char)*++c))
			goto bad;
		for (; isdigit((unsigned char)*c); c++) {
			if (scale >= 1000000000ULL) {
				if (*c != '0')
					goto fine;
				continue;
			}
			fr = fr * 10 + (uint64_t)(*c - '0');
			scale *= 10;
		}
	}
	if (*c == '\0') {
		snprintf(why, whysz, "missing unit in '%s' (use ms, s, m or h)", s);
		return -1;
	}
	for (i = 0; i < nitems(units); i++)
		if (strcmp(c, units[i].u) == 0)
			unit = units[i].ms;
	if (unit == 0) {
		if (!isalpha((unsigned char)*c))
			goto bad;
		snprintf(why, whysz, "unknown unit '%s' in '%s' (use ms, s, m or h)",
		    c, s);
		return -1;
	}
	if (ip > DUR_MAX_MS)
		goto big;
	if (fr * unit % scale != 0)
		goto fine;
	v = ip * unit + fr * unit / scale;
	if (v > DUR_MAX_MS)
		goto big;
	*ms = v;
	return 0;
 bad:
	snprintf(why, whysz, "invalid duration '%s'", s);
	return -1;
 big:
	snprintf(why, whysz, "duration '%s' too large (at most 168h)", s);
	return -1;
 fine:
	snprintf(why, whysz, "duration '%s' is finer than a millisecond", s);
	return -1;
}

int
config_parse_duration(const char *s, uint64_t *ms)
{
	char	why[WHY_MAX];

	return s == NULL ? -1 : dur_parse(s, ms, why, sizeof(why));
}

static int
port_parse(const char *s, const char *whole, uint16_t *port, char *why,
    size_t whysz)
{
	const char	*d = s;
	unsigned long	 v = 0;

	if (*s == '\0') {
		snprintf(why, whysz, "missing port in '%s'", whole);
		return -1;
	}
	if (strspn(s, "0123456789") != strlen(s)) {
		snprintf(why, whysz, "invalid port '%s'", s);
		return -1;
	}
	while (*d == '0' && d[1] != '\0')
		d++;
	if (strlen(d) > 5 || (v = strtoul(d, NULL, 10)) == 0 || v > 65535) {
		snprintf(why, whysz, "port %s out of range", s);
		return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

/* An empty host (":80") and "*" pass here; callers decide on them. */
static int
hp_parse(const char *s, char *host, size_t hostsz, uint16_t *port, char *why,
    size_t whysz)
{
	const char	*h, *he, *ps;
	unsigned char	 a6[16];

	if (*s == '\0') {
		snprintf(why, whysz, "empty address");
		return -1;
	}
	if (strspn(s, "0123456789") == strlen(s)) {
		if (port_parse(s, s, port, why, whysz) == -1)
			return -1;
		snprintf(host, hostsz, "127.0.0.1");
		return 0;
	}
	if (*s == '[') {
		h = s + 1;
		if ((he = strchr(h, ']')) == NULL) {
			snprintf(why, whysz, "missing ']' in '%s'", s);
			return -1;
		}
		if (he[1] != ':') {
			snprintf(why, whysz, he[1] == '\0' ?
			    "missing port in '%s'" : "malformed address '%s'", s);
			return -1;
		}
		ps = he + 2;
	} else {
		if ((ps = strrchr(s, ':')) == NULL) {
			snprintf(why, whysz, "missing port in '%s'", s);
			return -1;
		}
		if (memchr(s, ':', (size_t)(ps - s)) != NULL) {
			snprintf(why, whysz, "IPv6 address in '%s' must be "
			    "bracketed, e.g. [::1]:port", s);
			return -1;
		}
		h = s;
		he = ps++;
	}
	if ((size_t)(he - h) >= hostsz) {
		snprintf(why, whysz, "host name too long in '%s'", s);
		return -1;
	}
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	if (*s == '[' ? inet_pton(AF_INET6, host, a6) != 1 :
	    strcmp(host, "*") != 0 && strspn(host, NAME_CHARS) != strlen(host)) {
		snprintf(why, whysz, "invalid host '%s' in '%s'", host, s);
		return -1;
	}
	return port_parse(ps, s, port, why, whysz);
}

int
config_parse_hostport(const char *s, char *host, size_t hostsz, uint16_t *port)
{
	char	why[WHY_MAX];

	if (s == NULL || host == NULL || hostsz == 0)
		return -1;
	return hp_parse(s, host, hostsz, port, why, sizeof(why));
}

static int
listen_parse(const char *s, char *host, uint16_t *port, char *why, size_t whysz)
{
	if (hp_parse(s, host, CONFIG_HOST_MAX, port, why, whysz) == -1)
		return -1;
	if (*host == '\0' || strcmp(host, "*") == 0) {
		snprintf(why, whysz, "listen address '%s' is not loopback; write "
		    "0.0.0.0 or :: explicitly to listen on every interface",
		    *host == '\0' ? s : host);
		return -1;
	}
	if (!is_ip(host) && strcasecmp(host, "localhost") != 0) {
		snprintf(why, whysz, "listen address '%s' must be an IP address "
		    "or localhost", host);
		return -1;
	}
	return 0;
}

static int
fwd_parse(const char *v, struct fwd_conf *f, char *why, size_t whysz)
{
	char	 lsn[CONFIG_HOST_MAX + 16], tgt[CONFIG_HOST_MAX + 16];
	size_t	 la, lb;
	const char *b;

	la = strcspn(v, " \t");
	b = v + la + strspn(v + la, " \t");
	lb = strcspn(b, " \t");
	if (la == 0 || lb == 0 || b[lb + strspn(b + lb, " \t")] != '\0' ||
	    la >= sizeof(lsn) || lb >= sizeof(tgt)) {
		snprintf(why, whysz, "malformed forward '%s': expected 'LISTEN "
		    "TARGET', e.g. '127.0.0.1:11435 127.0.0.1:11434'", v);
		return -1;
	}
	memcpy(lsn, v, la);
	lsn[la] = '\0';
	memcpy(tgt, b, lb);
	tgt[lb] = '\0';
	if (listen_parse(lsn, f->listen_host, &f->listen_port, why, whysz) == -1 ||
	    hp_parse(tgt, f->target_host, sizeof(f->target_host),
	    &f->target_port, why, whysz) == -1)
		return -1;
	if (*f->target_host == '\0' || strcmp(f->target_host, "*") == 0) {
		snprintf(why, whysz, "invalid target host in '%s'", tgt);
		return -1;
	}
	return 0;
}

/* none | [user@]host[:port] | [user@][v6]:port | [user@]v6 */
static int
ssh_parse(struct cfg_parse *p, struct node_conf *n, const char *v, char *why,
    size_t whysz)
{
	char		 host[CONFIG_HOST_MAX];
	unsigned char	 a6[16];
	const char	*at, *rest, *c, *hs, *he;
	uint16_t	 port = 0;

	if (strcmp(v, "none") == 0) {
		n->local = 1;
		return strset(p, &n->ssh, v);
	}
	rest = v;
	if ((at = strchr(v, '@')) != NULL) {
		if (at == v || strspn(v, NAME_CHARS) != (size_t)(at - v)) {
			snprintf(why, whysz, "invalid user in '%s'", v);
			return -1;
		}
		rest = at + 1;
	}
	if (*rest == '[') {
		hs = rest + 1;
		if ((he = strchr(hs, ']')) == NULL ||
		    (he[1] != '\0' && he[1] != ':')) {
			snprintf(why, whysz, "malformed ssh target '%s'", v);
			return -1;
		}
		if (he[1] == ':' && port_parse(he + 2, v, &port, why, whysz) == -1)
			return -1;
	} else if ((c = strchr(rest, ':')) != NULL && strchr(c + 1, ':') == NULL) {
		hs = rest;
		he = c;
		if (port_parse(c + 1, v, &port, why, whysz) == -1)
			return -1;
	} else {
		hs = rest;
		he = rest + strlen(rest);
	}
	if (he == hs || (size_t)(he - hs) >= sizeof(host)) {
		snprintf(why, whysz, he == hs ? "missing host in '%s'" :
		    "host name too long in '%s'", v);
		return -1;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	if (*rest == '[' || strchr(host, ':') != NULL ?
	    inet_pton(AF_INET6, host, a6) != 1 :
	    strspn(host, NAME_CHARS) != strlen(host)) {
		snprintf(why, whysz, "invalid host '%s' in '%s'", host, v);
		return -1;
	}
	n->local = 0;
	n->port = port;
	if (at != NULL && (n->user = strndup(v, (size_t)(at - v))) == NULL)
		p->oom = 1;
	strset(p, &n->host, host);
	strset(p, &n->ssh, v);
	return 0;
}

/*
 * The port of an http:// URL, judged like every other port: the probe
 * would otherwise quietly dial port 80 for ":0" and fail for ":99999".
 * No port is fine (80).
 */
static int
url_port_check(const char *v, char *why, size_t whysz)
{
	char		 port[16];
	const char	*a = v + 7, *ae, *hp, *c;
	uint16_t	 p;

	ae = a + strcspn(a, "/?#");
	hp = a;
	for (c = a; c < ae; c++)	/* userinfo@ */
		if (*c == '@')
			hp = c + 1;
	if (*hp == '[') {
		if ((c = memchr(hp, ']', (size_t)(ae - hp))) == NULL) {
			snprintf(why, whysz, "missing ']' in '%s'", v);
			return -1;
		}
		if (c + 1 == ae)
			return 0;
		if (c[1] != ':') {
			snprintf(why, whysz, "malformed address in '%s'", v);
			return -1;
		}
		c++;
	} else if ((c = memchr(hp, ':', (size_t)(ae - hp))) == NULL)
		return 0;
	if ((size_t)(ae - c - 1) >= sizeof(port)) {
		snprintf(why, whysz, "port %.*s out of range in '%s'",
		    (int)(ae - c - 1), c + 1, v);
		return -1;
	}
	memcpy(port, c + 1, (size_t)(ae - c - 1));
	port[ae - c - 1] = '\0';
	if (port_parse(port, v, &p, why, whysz) == -1) {
		/* port_parse names the port, not the URL it came from. */
		if (*port != '\0') {
			size_t l = strlen(why);

			snprintf(why + l, whysz - l, " in '%s'", v);
		}
		return -1;
	}
	return 0;
}

static int
url_check(const char *v, char *why, size_t whysz)
{
	if (strncmp(v, "http://", 7) != 0)
		snprintf(why, whysz, "'%s' is not an http:// URL", v);
	else if (v[7] == '\0' || v[7] == '/')
		snprintf(why, whysz, "missing host in '%s'", v);
	else if (strpbrk(v, " \t") != NULL)
		snprintf(why, whysz, "'%s' contains blanks", v);
	else
		return url_port_check(v, why, whysz);
	return -1;
}

static int
enum_parse(struct cfg_parse *p, const char *key, const char *v,
    const struct enumval *names, int *out)
{
	char	exp[128];
	size_t	i, o = 0;

	for (i = 0; names[i].name != NULL; i++)
		if (strcmp(v, names[i].name) == 0) {
			*out = names[i].val;
			return 0;
		}
	exp[0] = '\0';
	for (i = 0; names[i].name != NULL && o < sizeof(exp); i++)
		o += (size_t)snprintf(exp + o, sizeof(exp) - o, "%s%s",
		    i == 0 ? "" : names[i + 1].name ? ", " : " or ",
		    names[i].name);
	return cfg_err(p, p->lineno, "%s: invalid value '%s' (expected %s)",
	    key, v, exp);
}

static int
num_parse(struct cfg_parse *p, const char *key, const char *v, double min,
    double max, int integer, double *out)
{
	char	*end;
	double	 d;

	errno = 0;
	if (integer) {
		if (!isdigit((unsigned char)v[v[0] == '-']))
			goto bad;
		d = (double)strtoll(v, &end, 10);
	} else {
		if (!isdigit((unsigned char)*v) && *v != '.')
			goto bad;
		d = strtod(v, &end);
	}
	if (*end != '\0' || !isfinite(d))
		goto bad;
	if (errno == ERANGE || d < min || d > max)
		return cfg_err(p, p->lineno, "%s: %s out of range (%.15g to %.15g)",
		    key, v, min, max);
	*out = d;
	return 0;
 bad:
	return cfg_err(p, p->lineno, "%s: invalid number '%s'", key, v);
}

static void
global_set(struct cfg_parse *p, const struct keydef *k, const char *v)
{
	void		*dst = (char *)p->conf + k->off;
	char		 why[WHY_MAX], host[CONFIG_HOST_MAX], hp[CONFIG_HOST_MAX + 8];
	uint64_t	 ms;
	uint16_t	 port;
	double		 d;
	int		 e;

	switch (k->type) {
	case K_SOCK:
		if (strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			cfg_err(p, p->lineno, "%s: path too long (at most %zu "
			    "bytes)", k->name,
			    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
			break;
		}
		/* FALLTHROUGH */
	case K_STR:
		strset(p, dst, v);
		break;
	case K_DUR:
		if (dur_parse(v, &ms, why, sizeof(why)) == -1)
			cfg_err(p, p->lineno, "%s: %s", k->name, why);
		else if (ms == 0)
			cfg_err(p, p->lineno, "%s: must be greater than 0", k->name);
		else
			*(uint64_t *)dst = ms;
		break;
	case K_INT:
		if (num_parse(p, k->name, v, k->min, k->max, 1, &d) == 0)
			*(int *)dst = (int)d;
		break;
	case K_DBL:
		if (num_parse(p, k->name, v, k->min, k->max, 0, &d) == 0)
			*(double *)dst = d;
		break;
	case K_HOSTKEY:
		if (enum_parse(p, k->name, v, hostkey_names, &e) == 0)
			*(enum hostkey_policy *)dst = (enum hostkey_policy)e;
		break;
	case K_LISTEN:
		if (listen_parse(v, host, &port, why, sizeof(why)) == -1)
			cfg_err(p, p->lineno, "%s: %s", k->name, why);
		else
			strset(p, dst, config_fmt_hostport(hp, sizeof(hp), host,
			    port));
		break;
	case K_OWN:
		break;
	}
}

static void
conf_node_set(struct cfg_parse *p, int k, const char *key,
    const char *v)
{
	struct node_conf	*n = p->cur->node;
	struct fwd_conf		 f, *nf;
	char			 why[WHY_MAX], **w;
	size_t			 nw, i;
	uint64_t		 ms;
	double			 d;
	int			 e;

	switch (k) {
	case NK_SSH:
		if (ssh_parse(p, n, v, why, sizeof(why)) == -1)
			cfg_err(p, p->lineno, "%s: %s", key, why);
		break;
	case NK_IDENTITY:
		strset(p, &n->identity, v);
		break;
	case NK_LOCAL_FORWARD:
	case NK_REMOTE_FORWARD:
		memset(&f, 0, sizeof(f));
		f.kind = k == NK_LOCAL_FORWARD ? FWD_LOCAL : FWD_REMOTE;
		f.line = p->lineno;
		if (fwd_parse(v, &f, why, sizeof(why)) == -1)
			cfg_err(p, p->lineno, "%s: %s", key, why);
		else if ((nf = reallocarray(n->fwds, n->nfwds + 1,
		    sizeof(*nf))) == NULL)
			p->oom = 1;
		else {
			n->fwds = nf;
			nf[n->nfwds++] = f;
		}
		break;
	case NK_OLLAMA:
		n->ollama_explicit = 1;
		if (strcmp(v, "none") == 0) {
			free(n->ollama);
			n->ollama = NULL;
		} else if (url_check(v, why, sizeof(why)) == -1)
			cfg_err(p, p->lineno, "%s: %s", key, why);
		else
			strset(p, &n->ollama, v);
		break;
	case NK_GPU:
		if (enum_parse(p, key, v, gpu_names, &e) == 0)
			n->gpu = (enum gpu_kind)e;
		break;
	case NK_REQUIRE_MODELS:
		if (words(p, v, &w, &nw) == 0)
			for (i = 0; i < nw; i++)
				if (!strv_has(n->require_models,
				    n->nrequire_models, w[i]))
					strv_add(p, &n->require_models,
					    &n->nrequire_models, w[i]);
		strv_free(w, nw);
		break;
	case NK_HTTP:
		if (url_check(v, why, sizeof(why)) == -1)
			cfg_err(p, p->lineno, "%s: %s", key, why);
		else
			strv_add(p, &n->http, &n->nhttp, v);
		break;
	case NK_PRIORITY:
		if (num_parse(p, key, v, 0, 1000000, 1, &d) == 0)
			n->priority = (int)d;
		break;
	case NK_ENABLED:
		if (enum_parse(p, key, v, yesno_names, &e) == 0)
			n->enabled = e;
		break;
	case NK_PROBE_INTERVAL:
	case NK_PROBE_TIMEOUT:
		if (dur_parse(v, &ms, why, sizeof(why)) == -1)
			cfg_err(p, p->lineno, "%s: %s", key, why);
		else if (ms == 0)
			cfg_err(p, p->lineno, "%s: must be greater than 0", key);
		else if (k == NK_PROBE_INTERVAL)
			n->probe_interval = ms;
		else
			n->probe_timeout = ms;
		break;
	case NK_RISE:
	case NK_FALL:
		if (num_parse(p, key, v, 1, 100, 1, &d) == 0)
			*(k == NK_RISE ? &n->rise : &n->fall) = (int)d;
		break;
	}
}

static void
conf_pool_set(struct cfg_parse *p, int k, const char *key,
    const char *v)
{
	struct pool_conf	*pl = p->cur->pool;
	char			 why[WHY_MAX], **w;
	size_t			 nw, i;
	int			 e;
	double			 d;
	uint64_t		 ms;

	switch (k) {
	case PK_LISTEN:
		if (listen_parse(v, pl->listen_host, &pl->listen_port, why,
		    sizeof(why)) == -1)
			cfg_err(p, p->lineno, "%s: %s", key, why);
		break;
	case PK_NODES:
		if (words(p, v, &w, &nw) == 0)
			for (i = 0; i < nw; i++) {
				if (!name_ok(w[i]))
					cfg_err(p, p->lineno, "%s: invalid node "
					    "name '%s'", key, w[i]);
				else if (strv_has(pl->nodes, pl->nnodes, w[i]))
					cfg_err(p, p->lineno, "%s: node '%s' "
					    "listed twice", key, w[i]);
				else if (pl->nnodes == CONFIG_POOL_NODES_MAX) {
					cfg_err(p, p->lineno, "%s: %zu nodes; a "
					    "pool has at most %d", key,
					    pl->nnodes + nw - i,
					    CONFIG_POOL_NODES_MAX);
					break;
				} else
					strv_add(p, &pl->nodes, &pl->nnodes, w[i]);
			}
		strv_free(w, nw);
		break;
	case PK_POLICY:
		if (enum_parse(p, key, v, policy_names, &e) == 0)
			pl->policy = (enum pool_policy)e;
		break;
	case PK_MODE:
		if (enum_parse(p, key, v, mode_names, &e) == 0)
			pl->mode = (enum pool_mode)e;
		break;
	case PK_RETRIES:
		if (num_parse(p, key, v, 0, POOL_RETRIES_MAX, 1, &d) == 0)
			pl->retries = (int)d;
		break;
	case PK_FIRST_BYTE_TIMEOUT:
		if (dur_parse(v, &ms, why, sizeof(why)) == -1)
			cfg_err(p, p->lineno, "%s: %s", key, why);
		else if (ms == 0)
			cfg_err(p, p->lineno, "%s: must be greater than 0", key);
		else
			pl->first_byte_timeout = ms;
		break;
	}
}

static void
cfg_key(struct cfg_parse *p, const char *key, const char *v)
{
	struct cfg_sect		*s = p->cur;
	const struct keydef	*tab, *k;
	const char		*sug;
	int			 i;

	if (s == NULL) {
		if (!p->skipping)
			cfg_err(p, p->lineno, "key '%s' outside of any section",
			    key);
		return;
	}
	tab = sect_keys[s->kind];
	for (k = tab; k->name != NULL; k++)
		if (strcmp(k->name, key) == 0)
			break;
	if (k->name == NULL) {
		sug = key_suggest(key, tab);
		cfg_err(p, p->lineno, "unknown key '%s' in [%s%s%s]%s%s%s", key,
		    sect_names[s->kind], s->node || s->pool ? " " : "",
		    s->node ? s->node->name : s->pool ? s->pool->name : "",
		    sug ? "; did you mean '" : "", sug ? sug : "", sug ? "'?" : "");
		return;
	}
	i = (int)(k - tab);
	if (s->keyline[i] != 0 && !k->repeat) {
		cfg_err(p, p->lineno, "duplicate key '%s' (first set at line %d)",
		    key, s->keyline[i]);
		return;
	}
	if (s->keyline[i] == 0)
		s->keyline[i] = p->lineno;
	if (*v == '\0') {
		cfg_err(p, p->lineno, "%s: empty value", key);
		return;
	}
	if (s->kind == SECT_NODE)
		conf_node_set(p, i, key, v);
	else if (s->kind == SECT_POOL)
		conf_pool_set(p, i, key, v);
	else
		global_set(p, k, v);
}

static struct node_conf *
conf_node_new(const char *name)
{
	struct node_conf	*n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	if ((n->name = strdup(name)) == NULL) {
		free(n);
		return NULL;
	}
	n->enabled = 1;
	n->priority = 100;
	n->gpu = GPU_NONE;
	return n;
}

/* The line of the node or pool NAME defined so far, or 0. */
static int
sect_defined(struct cfg_parse *p, enum sect_kind kind, const char *name)
{
	struct node_conf	*n;
	struct pool_conf	*pl;

	if (kind == SECT_NODE)
		return (n = config_find_node(p->conf, name)) ? n->line : 0;
	return (pl = nameidx_get(&p->conf->pool_idx, name)) ? pl->line : 0;
}

static void
cfg_section(struct cfg_parse *p, const char *l, size_t n)
{
	struct cfg_sect	 *s, **ns, *first;
	const char	 *e, *t, *sug;
	size_t		  cap;
	int		  line;
	char		  in[256], *name;
	size_t		  tl;
	int		  kind;

	p->cur = NULL;
	p->skipping = 1;
	if ((e = memchr(l, ']', n)) == NULL) {
		cfg_err(p, p->lineno, "missing ']' in section header");
		return;
	}
	if (e != l + n - 1)
		cfg_err(p, p->lineno, "unexpected text after ']'");
	for (t = l + 1; t < e && isspace((unsigned char)*t); t++)
		;
	while (e > t && isspace((unsigned char)e[-1]))
		e--;
	snprintf(in, sizeof(in), "%.*s", (int)(e - t), t);
	tl = strcspn(in, " \t");
	name = in + tl + strspn(in + tl, " \t");
	in[tl] = '\0';
	for (kind = 0; sect_names[kind] != NULL; kind++)
		if (strcmp(in, sect_names[kind]) == 0)
			break;
	if (sect_names[kind] == NULL) {
		sug = config_suggest(in, sect_names);
		cfg_err(p, p->lineno, "unknown section [%.*s]%s%s%s",
		    (int)(e - t), t, sug ? "; did you mean [" : "",
		    sug ? sug : "", sug ? "]?" : "");
		return;
	}
	if (kind == SECT_TUNNELD || kind == SECT_ALERTS) {
		if (*name != '\0')
			cfg_err(p, p->lineno, "section [%s] takes no name", in);
		first = kind == SECT_TUNNELD ? p->tunneld : p->alerts;
		if (first != NULL) {
			cfg_err(p, p->lineno, "duplicate section [%s] (first at "
			    "line %d)", in, first->line);
			p->cur = first;
			p->skipping = 0;
			return;
		}
	}
	if (p->nsects == p->sectscap) {
		cap = p->sectscap ? p->sectscap * 2 : 16;
		if ((ns = reallocarray(p->sects, cap, sizeof(*ns))) == NULL) {
			p->oom = 1;
			return;
		}
		p->sects = ns;
		p->sectscap = cap;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		p->oom = 1;
		return;
	}
	p->sects[p->nsects++] = s;
	s->kind = (enum sect_kind)kind;
	s->line = p->lineno;
	if (kind == SECT_TUNNELD)
		p->tunneld = s;
	else if (kind == SECT_ALERTS)
		p->alerts = s;
	else {
		/* a bad one is still filled in, to check its keys */
		s->discard = 1;
		if (*name == '\0')
			cfg_err(p, p->lineno, "section [%s] needs a name: "
			    "[%s NAME]", in, in);
		else if (!name_ok(name))
			cfg_err(p, p->lineno, "invalid %s name '%s': use 1 to %d "
			    "characters from A-Z a-z 0-9 . _ -", in, name,
			    NAME_LEN_MAX);
		/* Names tunnelctl could not tell from its words. */
		else if (name[0] == '-')
			cfg_err(p, p->lineno, "invalid %s name '%s': it would "
			    "read as an option to tunnelctl", in, name);
		else if (kind == SECT_NODE && strcmp(name, "all") == 0)
			cfg_err(p, p->lineno, "invalid node name 'all': "
			    "'tunnelctl restart all' means every node");
		else if ((line = sect_defined(p, s->kind, name)) != 0)
			cfg_err(p, p->lineno, "duplicate %s '%s' (first defined "
			    "at line %d)", in, name, line);
		else
			s->discard = 0;
		if (kind == SECT_NODE) {
			if ((s->node = conf_node_new(name)) == NULL) {
				p->oom = 1;
				s->discard = 1;
				return;
			}
			s->node->line = p->lineno;
			if (!s->discard) {
				if (nameidx_put(&p->conf->node_idx,
				    s->node->name, s->node) == -1) {
					p->oom = 1;
					s->discard = 1;
					return;
				}
				TAILQ_INSERT_TAIL(&p->conf->nodes, s->node, entry);
				p->conf->nnodes++;
			}
		} else {
			if ((s->pool = calloc(1, sizeof(*s->pool))) == NULL ||
			    (s->pool->name = strdup(name)) == NULL) {
				p->oom = 1;
				s->discard = 1;
				return;
			}
			s->pool->line = p->lineno;
			s->pool->policy = POOL_PRIORITY;
			s->pool->retries = POOL_RETRIES_DEFAULT;
			s->pool->first_byte_timeout = POOL_FIRST_BYTE_DEFAULT;
			if (!s->discard) {
				if (nameidx_put(&p->conf->pool_idx,
				    s->pool->name, s->pool) == -1) {
					p->oom = 1;
					s->discard = 1;
					return;
				}
				TAILQ_INSERT_TAIL(&p->conf->pools, s->pool, entry);
				p->conf->npools++;
			}
		}
	}
	p->cur = s;
	p->skipping = 0;
}

/*
 * Hand inih one logical line at a time.  Comments, blank lines and section
 * headers become "\n" after we dealt with them, so inih only ever sees
 * "key=value" lines that fit its buffer.
 */
static char *
cfg_reader(char *str, int num, void *arg)
{
	struct cfg_parse	*p = arg;
	const char		*l, *e, *nl, *c, *eq, *ke;
	size_t			 n;

	if (p->off >= p->len || num < 2)
		return NULL;
	l = p->buf + p->off;
	nl = memchr(l, '\n', p->len - p->off);
	e = nl ? nl : p->buf + p->len;
	p->off = (size_t)(e - p->buf) + (nl ? 1 : 0);
	p->lineno++;
	str[0] = '\n';
	str[1] = '\0';

	if (memchr(l, '\0', (size_t)(e - l)) != NULL) {
		cfg_err(p, p->lineno, "NUL byte in line");
		return str;
	}
	if (p->lineno == 1 && e - l >= 3 && memcmp(l, "\xef\xbb\xbf", 3) == 0)
		l += 3;
	while (l < e && isspace((unsigned char)*l))
		l++;
	if (l < e && *l == '#')
		e = l;
	for (c = l; c < e; c++)
		if (*c == ';' && (c == l || isspace((unsigned char)c[-1]))) {
			e = c;
			break;
		}
	while (e > l && isspace((unsigned char)e[-1]))
		e--;
	if ((n = (size_t)(e - l)) == 0)
		return str;
	if (*l == '[') {
		cfg_section(p, l, n);
		return str;
	}
	if ((eq = memchr(l, '=', n)) == NULL) {
		cfg_err(p, p->lineno, "expected 'key = value' or '[section]'");
		return str;
	}
	for (ke = eq; ke > l && isspace((unsigned char)ke[-1]); ke--)
		;
	if (ke == l) {
		cfg_err(p, p->lineno, "missing key before '='");
		return str;
	}
	if (memchr(l, ':', (size_t)(ke - l)) != NULL) {
		cfg_err(p, p->lineno, "invalid key '%.*s'", (int)(ke - l), l);
		return str;
	}
	if (n + 2 > (size_t)num) {
		cfg_err(p, p->lineno, "line too long (at most %d characters "
		    "without indentation and comments)", num - 2);
		return str;
	}
	memcpy(str, l, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

#if INI_HANDLER_LINENO
static int
cfg_handler(void *arg, const char *section, const char *key, const char *v,
    int lineno)
{
	(void)lineno;
#else
static int
cfg_handler(void *arg, const char *section, const char *key, const char *v)
{
#endif
	(void)section;			/* ours is in p->cur; inih truncates */
	cfg_key(arg, key, v);
	return 1;
}

static int
keyline(struct cfg_sect *s, const char *key)
{
	const struct keydef	*k;

	if (s == NULL)
		return 0;
	for (k = sect_keys[s->kind]; k->name != NULL; k++)
		if (strcmp(k->name, key) == 0)
			return s->keyline[k - sect_keys[s->kind]];
	return 0;
}

/* lo must not exceed hi; an unwritten one gives way to a written one. */
static void
order_check(struct cfg_parse *p, const char *klo, uint64_t *lo,
    const char *khi, uint64_t *hi)
{
	int	llo = keyline(p->tunneld, klo), lhi = keyline(p->tunneld, khi);

	if (*lo <= *hi)
		return;
	if (llo == 0)
		*lo = *hi;
	else if (lhi == 0)
		*hi = *lo;
	else
		cfg_err(p, lhi, "%s must not be less than %s (line %d)", khi,
		    klo, llo);
}

struct lsn {
	const char	*host;
	uint16_t	 port;
	int		 line;
	const void	*scope;		/* NULL: this host; else the node's peer */
};

struct addrs {
	int		 n;
	int		 af[2];
	unsigned char	 a[2][16];
};

static void
addrs_get(const char *h, struct addrs *x)
{
	x->n = 0;
	if (strcasecmp(h, "localhost") == 0) {
		addrs_get("127.0.0.1", x);
		x->af[1] = AF_INET6;
		inet_pton(AF_INET6, "::1", x->a[1]);
		x->n = 2;
	} else if (inet_pton(AF_INET, h, x->a[0]) == 1)
		x->af[x->n++] = AF_INET;
	else if (inet_pton(AF_INET6, h, x->a[0]) == 1)
		x->af[x->n++] = AF_INET6;
}

static int
addr_any(int af, const unsigned char *a)
{
	static const unsigned char zero[16];

	return memcmp(a, zero, af == AF_INET ? 4 : 16) == 0;
}

/* Would binding both fail?  "::" takes IPv4 too (bindv6only=0). */
static int
listen_overlap(const char *h1, const char *h2)
{
	struct addrs	x, y;
	int		i, j;

	if (strcasecmp(h1, h2) == 0)
		return 1;
	addrs_get(h1, &x);
	addrs_get(h2, &y);
	for (i = 0; i < x.n; i++)
		for (j = 0; j < y.n; j++) {
			if ((x.af[i] == AF_INET6 && addr_any(AF_INET6, x.a[i])) ||
			    (y.af[j] == AF_INET6 && addr_any(AF_INET6, y.a[j])))
				return 1;
			if (x.af[i] != y.af[j])
				continue;
			if (addr_any(x.af[i], x.a[i]) ||
			    addr_any(y.af[j], y.a[j]) ||
			    memcmp(x.a[i], y.a[j], x.af[i] == AF_INET ? 4 : 16) == 0)
				return 1;
		}
	return 0;
}

/* Listeners that can clash side by side, each group in file order. */
static int
lsn_cmp(const void *a, const void *b)
{
	const struct lsn	*x = a, *y = b;

	if (x->scope != y->scope)
		return (uintptr_t)x->scope < (uintptr_t)y->scope ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->line - y->line;
}

static void
listens_check(struct cfg_parse *p)
{
	struct config		*c = p->conf;
	struct node_conf	*n;
	struct pool_conf	*pl;
	struct lsn		*v;
	char			 mhost[CONFIG_HOST_MAX], a[CONFIG_HOST_MAX + 8],
				 b[CONFIG_HOST_MAX + 8];
	uint16_t		 mport;
	size_t			 nv = 1, i, j, group = 0;

	TAILQ_FOREACH(n, &c->nodes, entry)
		nv += n->nfwds;
	nv += c->npools;
	if ((v = calloc(nv, sizeof(*v))) == NULL) {
		p->oom = 1;
		return;
	}
	nv = 0;
	if (c->metrics_listen != NULL && config_parse_hostport(c->metrics_listen,
	    mhost, sizeof(mhost), &mport) == 0)
		v[nv++] = (struct lsn){ mhost, mport,
		    keyline(p->tunneld, "metrics_listen"), NULL };
	TAILQ_FOREACH(n, &c->nodes, entry)
		for (i = 0; i < n->nfwds; i++)
			v[nv++] = (struct lsn){ n->fwds[i].listen_host,
			    n->fwds[i].listen_port, n->fwds[i].line,
			    n->fwds[i].kind == FWD_LOCAL ? NULL : n };
	for (i = 0; i < p->nsects; i++)
		if ((pl = p->sects[i]->pool) != NULL && !p->sects[i]->discard &&
		    pl->listen_port != 0)
			v[nv++] = (struct lsn){ pl->listen_host, pl->listen_port,
			    p->sects[i]->keyline[PK_LISTEN], NULL };
	if (nv > 0)
		qsort(v, nv, sizeof(*v), lsn_cmp);
	/* Each against the earlier ones of its scope and port only. */
	for (j = 1; j < nv; j++) {
		if (v[j].scope != v[group].scope || v[j].port != v[group].port)
			group = j;
		for (i = group; i < j; i++) {
			if (!listen_overlap(v[i].host, v[j].host))
				continue;
			config_fmt_hostport(a, sizeof(a), v[j].host, v[j].port);
			config_fmt_hostport(b, sizeof(b), v[i].host, v[i].port);
			if (strcmp(a, b) == 0)
				cfg_err(p, v[j].line, "listen address %s already "
				    "used at line %d", a, v[i].line);
			else
				cfg_err(p, v[j].line, "listen address %s overlaps "
				    "%s at line %d", a, b, v[i].line);
			break;
		}
	}
	free(v);
}

/*
 * A node's probe keys default to [tunneld]'s.  As there, probe_timeout
 * must not exceed probe_interval, and one the node did not write gives
 * way to one it did.
 */
static void
nodes_resolve(struct cfg_parse *p)
{
	const struct config	*c = p->conf;
	struct cfg_sect		*s;
	struct node_conf	*n;
	size_t			 i;
	int			 li, lt;

	for (i = 0; i < p->nsects; i++) {
		s = p->sects[i];
		if (s->discard || (n = s->node) == NULL)
			continue;
		li = s->keyline[NK_PROBE_INTERVAL];
		lt = s->keyline[NK_PROBE_TIMEOUT];
		if (li == 0)
			n->probe_interval = c->probe_interval;
		if (lt == 0)
			n->probe_timeout = c->probe_timeout;
		if (s->keyline[NK_RISE] == 0)
			n->rise = c->rise;
		if (s->keyline[NK_FALL] == 0)
			n->fall = c->fall;
		if (n->probe_timeout <= n->probe_interval)
			continue;
		if (lt == 0)
			n->probe_timeout = n->probe_interval;
		else if (li == 0)
			n->probe_interval = n->probe_timeout;
		else
			cfg_err(p, li, "probe_interval must not be less than "
			    "probe_timeout (line %d)", lt);
	}
}

/*
 * Every pool member needs an address the pool can hand clients to: its
 * Ollama URL or a local forward.  One with neither would be skipped for
 * ever without a word.
 */
static void
pools_check(struct cfg_parse *p)
{
	struct cfg_sect		*s;
	struct node_conf	*n;
	size_t			 i, j, k;
	int			 fwd;

	for (i = 0; i < p->nsects; i++) {
		s = p->sects[i];
		if (s->discard || s->pool == NULL)
			continue;
		for (j = 0; j < s->pool->nnodes; j++) {
			if ((n = config_find_node(p->conf,
			    s->pool->nodes[j])) == NULL || n->ollama != NULL)
				continue;
			for (k = 0, fwd = 0; k < n->nfwds; k++)
				fwd |= n->fwds[k].kind == FWD_LOCAL;
			if (fwd)
				continue;
			cfg_err(p, s->keyline[PK_NODES], "nodes: node '%s' cannot "
			    "take part in pool '%s': it has %s and ollama = none "
			    "(line %d), so the pool has no address to send "
			    "clients to", n->name, s->pool->name, n->local ?
			    "ssh = none" : "no local_forward", n->line);
		}
	}
}

static void
cfg_validate(struct cfg_parse *p)
{
	struct config		*c = p->conf;
	struct cfg_sect		*s;
	struct node_conf	*n, *fn;
	struct fwd_conf		*f;
	const char		**names, *sug, *h;
	char			 hp[CONFIG_HOST_MAX + 8], url[CONFIG_HOST_MAX + 16];
	size_t			 i, j;

	if ((names = calloc(c->nnodes + 1, sizeof(*names))) == NULL) {
		p->oom = 1;
		return;
	}
	i = 0;
	TAILQ_FOREACH(n, &c->nodes, entry)
		names[i++] = n->name;

	for (i = 0; i < p->nsects; i++) {
		s = p->sects[i];
		if (s->discard)
			continue;
		if ((n = s->node) != NULL) {
			if (s->keyline[NK_SSH] == 0)
				cfg_err(p, s->line, "node '%s': missing required "
				    "key 'ssh'", n->name);
			if (n->local) {
				for (j = 0; j < n->nfwds; j++)
					cfg_err(p, n->fwds[j].line, "%s: node '%s' "
					    "has ssh = none; forwards need an ssh "
					    "session", n->fwds[j].kind == FWD_LOCAL ?
					    "local_forward" : "remote_forward",
					    n->name);
				if (n->identity != NULL)
					cfg_err(p, s->keyline[NK_IDENTITY],
					    "identity: node '%s' has ssh = none",
					    n->name);
			}
			for (j = 0, f = NULL; j < n->nfwds && f == NULL; j++)
				if (n->fwds[j].kind == FWD_LOCAL)
					f = &n->fwds[j];
			if (!n->ollama_explicit && !n->local && f != NULL) {
				/* a wildcard listen is reached on loopback */
				h = strcmp(f->listen_host, "0.0.0.0") == 0 ?
				    "127.0.0.1" : strcmp(f->listen_host, "::") == 0 ?
				    "::1" : f->listen_host;
				snprintf(url, sizeof(url), "http://%s",
				    config_fmt_hostport(hp, sizeof(hp), h,
				    f->listen_port));
				strset(p, &n->ollama, url);
			}
		} else if (s->pool != NULL) {
			if (s->keyline[PK_LISTEN] == 0)
				cfg_err(p, s->line, "pool '%s': missing required "
				    "key 'listen'", s->pool->name);
			if (s->keyline[PK_NODES] == 0)
				cfg_err(p, s->line, "pool '%s': missing required "
				    "key 'nodes'", s->pool->name);
			for (j = 0; j < s->pool->nnodes; j++) {
				fn = config_find_node(c, s->pool->nodes[j]);
				if (fn != NULL)
					continue;
				sug = config_suggest(s->pool->nodes[j], names);
				cfg_err(p, s->keyline[PK_NODES], "nodes: unknown "
				    "node '%s'%s%s%s", s->pool->nodes[j],
				    sug ? "; did you mean '" : "", sug ? sug : "",
				    sug ? "'?" : "");
			}
			if (s->pool->policy == POOL_LEAST_OUTSTANDING &&
			    s->pool->mode != POOL_MODE_HTTP)
				cfg_err(p, s->keyline[PK_POLICY], "policy: "
				    "least-outstanding counts requests: pool '%s' "
				    "needs mode = http", s->pool->name);
			if (s->pool->mode != POOL_MODE_HTTP &&
			    (s->keyline[PK_RETRIES] != 0 ||
			    s->keyline[PK_FIRST_BYTE_TIMEOUT] != 0))
				cfg_err(p, s->keyline[PK_RETRIES] ?
				    s->keyline[PK_RETRIES] :
				    s->keyline[PK_FIRST_BYTE_TIMEOUT], "%s: only "
				    "for an http pool; pool '%s' needs mode = http",
				    s->keyline[PK_RETRIES] ? "retries" :
				    "first_byte_timeout", s->pool->name);
		}
	}
	free(names);
	listens_check(p);
	order_check(p, "backoff_initial", &c->backoff_initial, "backoff_max",
	    &c->backoff_max);
	order_check(p, "probe_timeout", &c->probe_timeout, "probe_interval",
	    &c->probe_interval);
	nodes_resolve(p);
	pools_check(p);
}

static struct config *
config_new(void)
{
	struct config	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	TAILQ_INIT(&c->nodes);
	TAILQ_INIT(&c->pools);
	c->control_socket = strdup("/run/tunneld/control.sock");
	c->admin_group = strdup("tunneld");
	c->known_hosts = strdup("/etc/tunneld/known_hosts");
	if (c->control_socket == NULL || c->admin_group == NULL ||
	    c->known_hosts == NULL) {
		config_free(c);
		return NULL;
	}
	c->host_key_policy = HOSTKEY_STRICT;
	c->keepalive_interval = 5000;
	c->keepalive_count = 3;
	c->connect_timeout = 10000;
	c->backoff_initial = 1000;
	c->backoff_max = 60000;
	c->backoff_multiplier = 2.0;
	c->backoff_jitter = 0.2;
	c->retry_refused = 1000;
	c->stable_after = 30000;
	c->probe_interval = 10000;
	c->probe_timeout = 5000;
	c->rise = 2;
	c->fall = 3;
	c->alert_gpu_temp_c = 80;
	c->alert_gpu_mem_pct = 90;
	c->alert_ollama_latency = 5000;
	c->alert_repeat_after = 600000;
	return c;
}

static int
err_cmp(const void *a, const void *b)
{
	const struct cfg_err	*x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static struct config *
cfg_parse_buf(const char *name, const char *buf, size_t len,
    struct config_errors *errs)
{
	struct cfg_parse	 p;
	struct cfg_sect		*s;
	size_t			 i;
	int			 r, bad;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.buf = buf;
	p.len = len;
	if ((p.conf = config_new()) == NULL ||
	    (p.conf->path = strdup(name)) == NULL)
		p.oom = 1;
	else {
		r = ini_parse_stream(cfg_reader, &p, cfg_handler, &p);
		if (r == -2)
			p.oom = 1;
		else if (r != 0 && p.nerrs == 0)
			cfg_err(&p, r > 0 ? r : 0, "syntax error");
		if (!p.oom)
			cfg_validate(&p);
	}

	if (p.nerrs > 0)
		qsort(p.errs, p.nerrs, sizeof(*p.errs), err_cmp);
	for (i = 0; i < p.nerrs; i++) {
		if (p.errs[i].line > 0)
			errs_add(errs, "%s:%d: %s", name, p.errs[i].line,
			    p.errs[i].msg);
		else
			errs_add(errs, "%s: %s", name, p.errs[i].msg);
		free(p.errs[i].msg);
	}
	if (p.oom)
		errs_add(errs, "%s: out of memory", name);
	bad = p.oom || p.nerrs > 0;
	free(p.errs);
	for (i = 0; i < p.nsects; i++) {
		s = p.sects[i];
		if (s->discard) {		/* never put on the config's lists */
			conf_node_free(s->node);
			conf_pool_free(s->pool);
		}
		free(s);
	}
	free(p.sects);
	if (bad) {
		config_free(p.conf);
		return NULL;
	}
	return p.conf;
}

struct config *
config_load_string(const char *name, const char *text,
    struct config_errors *errs)
{
	struct config_errors	 scratch = { NULL, 0 };
	struct config		*c;

	if (name == NULL)
		name = "(string)";
	if (errs == NULL)
		errs = &scratch;
	if (text == NULL) {
		errs_add(errs, "%s: no text", name);
		c = NULL;
	} else
		c = cfg_parse_buf(name, text, strlen(text), errs);
	config_errors_clear(&scratch);
	return c;
}

struct config *
config_load(const char *path, struct config_errors *errs)
{
	struct config_errors	 scratch = { NULL, 0 };
	struct config		*c = NULL;
	FILE			*fp;
	struct stat		 sb;
	char			*buf;
	size_t			 len = 0, r;
	int			 fd;

	if (errs == NULL)
		errs = &scratch;
	if (path == NULL)
		path = CONFIG_DEFAULT_PATH;
	if ((buf = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		errs_add(errs, "%s: out of memory", path);
		goto done;
	}
	/*
	 * A regular file only: a FIFO would block the daemon's one loop in
	 * open() or read() until someone wrote to it (a reload froze every
	 * tunnel), and a device is no config.  O_NONBLOCK keeps open()
	 * itself from waiting for a FIFO's writer.
	 */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		errs_add(errs, "%s: %s", path, strerror(errno));
		goto done;
	}
	if (fstat(fd, &sb) == -1 || (S_ISREG(sb.st_mode) &&
	    (fp = fdopen(fd, "r")) == NULL)) {
		errs_add(errs, "%s: %s", path, strerror(errno));
		close(fd);
		goto done;
	}
	if (!S_ISREG(sb.st_mode)) {
		errs_add(errs, "%s: not a regular file", path);
		close(fd);
		goto done;
	}
	/* read one byte past the limit to tell "too large" from "just fits" */
	while (len <= CONFIG_FILE_MAX &&
	    (r = fread(buf + len, 1, CONFIG_FILE_MAX + 1 - len, fp)) > 0)
		len += r;
	if (ferror(fp))
		errs_add(errs, "%s: %s", path, strerror(errno));
	else if (len > CONFIG_FILE_MAX)
		errs_add(errs, "%s: file too large (at most %d bytes)", path,
		    CONFIG_FILE_MAX);
	else
		c = cfg_parse_buf(path, buf, len, errs);
	fclose(fp);
 done:
	free(buf);
	config_errors_clear(&scratch);
	return c;
}

static void
conf_node_free(struct node_conf *n)
{
	if (n == NULL)
		return;
	free(n->name);
	free(n->ssh);
	free(n->user);
	free(n->host);
	free(n->identity);
	free(n->fwds);
	free(n->ollama);
	strv_free(n->require_models, n->nrequire_models);
	strv_free(n->http, n->nhttp);
	free(n);
}

static void
conf_pool_free(struct pool_conf *pl)
{
	if (pl == NULL)
		return;
	free(pl->name);
	strv_free(pl->nodes, pl->nnodes);
	free(pl);
}

void
config_free(struct config *c)
{
	struct node_conf	*n;
	struct pool_conf	*pl;

	if (c == NULL)
		return;
	while ((n = TAILQ_FIRST(&c->nodes)) != NULL) {
		TAILQ_REMOVE(&c->nodes, n, entry);
		conf_node_free(n);
	}
	while ((pl = TAILQ_FIRST(&c->pools)) != NULL) {
		TAILQ_REMOVE(&c->pools, pl, entry);
		conf_pool_free(pl);
	}
	free(c->path);
	free(c->control_socket);
	free(c->admin_group);
	free(c->known_hosts);
	free(c->ssh_config);
	free(c->metrics_listen);
	nameidx_free(&c->node_idx);
	nameidx_free(&c->pool_idx);
	free(c);
}

void
config_errors_clear(struct config_errors *errs)
{
	if (errs == NULL)
		return;
	strv_free(errs->msg, errs->n);
	errs->msg = NULL;
	errs->n = 0;
}

struct node_conf *
config_find_node(const struct config *c, const char *name)
{
	if (c == NULL || name == NULL)
		return NULL;
	return nameidx_get(&c->node_idx, name);
}

int
config_streq(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static int
strveq(char **a, size_t na, char **b, size_t nb)
{
	size_t	i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

int
config_fwd_equal(const struct fwd_conf *x, const struct fwd_conf *y)
{
	return x->kind == y->kind && x->listen_port == y->listen_port &&
	    x->target_port == y->target_port &&
	    strcmp(x->listen_host, y->listen_host) == 0 &&
	    strcmp(x->target_host, y->target_host) == 0;
}

/* Line numbers are left out: a comment added above a node must not restart it. */
int
node_conf_equal(const struct node_conf *a, const struct node_conf *b)
{
	size_t			 i;

	if (a == NULL || b == NULL)
		return a == b;
	if (!config_streq(a->name, b->name) || a->enabled != b->enabled ||
	    a->local != b->local || !config_streq(a->ssh, b->ssh) ||
	    !config_streq(a->user, b->user) ||
	    !config_streq(a->host, b->host) || a->port != b->port ||
	    !config_streq(a->identity, b->identity) ||
	    !config_streq(a->ollama, b->ollama) ||
	    a->ollama_explicit != b->ollama_explicit || a->gpu != b->gpu ||
	    a->priority != b->priority || a->nfwds != b->nfwds ||
	    !strveq(a->require_models, a->nrequire_models, b->require_models,
	    b->nrequire_models) || !strveq(a->http, a->nhttp, b->http, b->nhttp) ||
	    a->probe_interval != b->probe_interval ||
	    a->probe_timeout != b->probe_timeout || a->rise != b->rise ||
	    a->fall != b->fall)
		return 0;
	for (i = 0; i < a->nfwds; i++)
		if (!config_fwd_equal(&a->fwds[i], &b->fwds[i]))
			return 0;
	return 1;
}

/* The forwards of KIND, in order, are the same in A and B. */
static int
fwds_eq(const struct node_conf *a, const struct node_conf *b,
    enum fwd_kind kind)
{
	size_t	i = 0, j = 0;

	for (;;) {
		while (i < a->nfwds && a->fwds[i].kind != kind)
			i++;
		while (j < b->nfwds && b->fwds[j].kind != kind)
			j++;
		if (i == a->nfwds || j == b->nfwds)
			return i == a->nfwds && j == b->nfwds;
		if (!config_fwd_equal(&a->fwds[i++], &b->fwds[j++]))
			return 0;
	}
}

unsigned
config_node_diff(const struct node_conf *a, const struct node_conf *b)
{
	unsigned	m = 0;

	if (a == NULL || b == NULL)
		return a == b ? 0 : ~0U;
	if (a->local != b->local || !config_streq(a->ssh, b->ssh) ||
	    !config_streq(a->user, b->user) ||
	    !config_streq(a->host, b->host) || a->port != b->port)
		m |= NODE_KEY_SSH;
	if (!config_streq(a->identity, b->identity))
		m |= NODE_KEY_IDENTITY;
	if (!fwds_eq(a, b, FWD_LOCAL))
		m |= NODE_KEY_LOCAL_FORWARD;
	if (!fwds_eq(a, b, FWD_REMOTE))
		m |= NODE_KEY_REMOTE_FORWARD;
	if (!config_streq(a->ollama, b->ollama))
		m |= NODE_KEY_OLLAMA;
	if (a->gpu != b->gpu)
		m |= NODE_KEY_GPU;
	if (!strveq(a->require_models, a->nrequire_models, b->require_models,
	    b->nrequire_models))
		m |= NODE_KEY_REQUIRE_MODELS;
	if (!strveq(a->http, a->nhttp, b->http, b->nhttp))
		m |= NODE_KEY_HTTP;
	if (a->priority != b->priority)
		m |= NODE_KEY_PRIORITY;
	if (a->enabled != b->enabled)
		m |= NODE_KEY_ENABLED;
	if (a->probe_interval != b->probe_interval)
		m |= NODE_KEY_PROBE_INTERVAL;
	if (a->probe_timeout != b->probe_timeout)
		m |= NODE_KEY_PROBE_TIMEOUT;
	if (a->rise != b->rise)
		m |= NODE_KEY_RISE;
	if (a->fall != b->fall)
		m |= NODE_KEY_FALL;
	return m;
}

const char *
config_node_keys_fmt(unsigned mask, char *buf, size_t bufsz)
{
	static const struct { unsigned bit; const char *name; } keys[] = {
		{ NODE_KEY_SSH, "ssh" }, { NODE_KEY_IDENTITY, "identity" },
		{ NODE_KEY_LOCAL_FORWARD, "local_forward" },
		{ NODE_KEY_REMOTE_FORWARD, "remote_forward" },
		{ NODE_KEY_OLLAMA, "ollama" }, { NODE_KEY_GPU, "gpu" },
		{ NODE_KEY_REQUIRE_MODELS, "require_models" },
		{ NODE_KEY_HTTP, "http" }, { NODE_KEY_PRIORITY, "priority" },
		{ NODE_KEY_ENABLED, "enabled" },
		{ NODE_KEY_PROBE_INTERVAL, "probe_interval" },
		{ NODE_KEY_PROBE_TIMEOUT, "probe_timeout" },
		{ NODE_KEY_RISE, "rise" }, { NODE_KEY_FALL, "fall" },
	};
	size_t	i, off = 0;
	int	w;

	if (bufsz == 0)
		return buf;
	buf[0] = '\0';
	for (i = 0; i < nitems(keys); i++) {
		if (!(mask & keys[i].bit))
			continue;
		w = snprintf(buf + off, bufsz - off, "%s%s", off ? ", " : "",
		    keys[i].name);
		if (w < 0 || off + (size_t)w >= bufsz) {
			buf[off] = '\0';	/* whole names only */
			break;
		}
		off += (size_t)w;
	}
	return buf;
}

/*
 * What sessions and their probes use.  control_socket, admin_group,
 * metrics_listen and [alerts] are not here: they never need a reconnect.
 */
int
config_global_equal(const struct config *a, const struct config *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return config_streq(a->known_hosts, b->known_hosts) &&
	    a->host_key_policy == b->host_key_policy &&
	    config_streq(a->ssh_config, b->ssh_config) &&
	    a->keepalive_interval == b->keepalive_interval &&
	    a->keepalive_count == b->keepalive_count &&
	    a->connect_timeout == b->connect_timeout &&
	    a->backoff_initial == b->backoff_initial &&
	    a->backoff_max == b->backoff_max &&
	    a->backoff_multiplier == b->backoff_multiplier &&
	    a->backoff_jitter == b->backoff_jitter &&
	    a->retry_refused == b->retry_refused &&
	    a->stable_after == b->stable_after &&
	    a->probe_interval == b->probe_interval &&
	    a->probe_timeout == b->probe_timeout && a->rise == b->rise &&
	    a->fall == b->fall;
}
