/*
 * preflight: environment checks of a parsed configuration (preflight.h).
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "preflight.h"

static void	preflight_add(struct config_errors *, const char *, int,
		    const char *, ...) __attribute__((format(printf, 4, 5)));

static void
preflight_add(struct config_errors *e, const char *file, int line,
    const char *fmt, ...)
{
	char	 msg[1024], *s, **v;
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = line > 0 ? asprintf(&s, "%s:%d: %s", file, line, msg) :
	    asprintf(&s, "%s: %s", file, msg);
	if (n == -1)
		return;
	if ((v = realloc(e->msg, (e->n + 1) * sizeof(*v))) == NULL) {
		free(s);
		return;
	}
	e->msg = v;
	e->msg[e->n++] = s;
}

/*
 * The line of KEY in the section whose header is at line SECT (0: the
 * [tunneld] section), read back from the file: the parser keeps the lines
 * of forwards and sections, not of every key.  0 when not found (a default,
 * or a file that cannot be read twice, like a pipe).
 */
static int
preflight_keyline(const char *path, int sect, const char *key)
{
	FILE	*f;
	char	 buf[4096], *p;
	int	 line = 0, in = 0, found = 0;
	size_t	 klen = strlen(key);

	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (fgets(buf, sizeof(buf), f) != NULL) {
		line++;
		for (p = buf; isspace((unsigned char)*p); p++)
			;
		if (*p == '[') {
			in = sect > 0 ? line == sect :
			    strncmp(p, "[tunneld]", 9) == 0;
			continue;
		}
		if (in && strncmp(p, key, klen) == 0) {
			for (p += klen; *p == ' ' || *p == '\t'; p++)
				;
			if (*p == '=' || *p == ':') {
				found = line;
				break;
			}
		}
	}
	fclose(f);
	return found;
}

/*
 * A key file tunneld must read: open it as the daemon will.  One under
 * /run/credentials/ exists only while the service runs (systemd's
 * LoadCredential= puts it there): missing now, it is a warning.
 */
static void
preflight_identity(const struct config *c, const struct node_conf *n,
    struct config_errors *errs, struct config_errors *warns)
{
	static const char	 creds[] = "/run/credentials/";
	int			 fd, err, cred;

	if (n->identity == NULL || !n->enabled)
		return;
	if ((fd = open(n->identity, O_RDONLY | O_CLOEXEC)) != -1) {
		close(fd);
		return;
	}
	err = errno;
	cred = err == ENOENT &&
	    strncmp(n->identity, creds, sizeof(creds) - 1) == 0;
	preflight_add(cred ? warns : errs, c->path, preflight_keyline(c->path,
	    n->line, "identity"), "node '%s': identity %s cannot be read: %s%s",
	    n->name, n->identity, strerror(err), cred ? " (a credential: it "
	    "exists only while the service runs, if LoadCredential= names it)" :
	    "");
}

/* Under strict host key checking, every session needs the file. */
static void
preflight_known_hosts(const struct config *c, struct config_errors *errs)
{
	const struct node_conf	*n;
	int			 fd, line;

	TAILQ_FOREACH(n, &c->nodes, entry)
		if (!n->local && n->enabled)
			break;
	if (n == NULL || c->known_hosts == NULL ||
	    c->host_key_policy != HOSTKEY_STRICT)
		return;
	if ((fd = open(c->known_hosts, O_RDONLY | O_CLOEXEC)) != -1) {
		close(fd);
		return;
	}
	line = preflight_keyline(c->path, 0, "known_hosts");
	preflight_add(errs, c->path, line, "known_hosts %s%s cannot be read "
	    "(%s): with host_key_policy = strict no node can connect; fill it "
	    "with ssh-keyscan, or set host_key_policy = accept-new",
	    c->known_hosts, line > 0 ? "" : " (the default)", strerror(errno));
}

static void
preflight_admin_group(const struct config *c, struct config_errors *errs)
{
	int	line;

	if (c->admin_group == NULL || getgrnam(c->admin_group) != NULL)
		return;
	line = preflight_keyline(c->path, 0, "admin_group");
	preflight_add(errs, c->path, line, "admin_group '%s'%s does not "
	    "exist: only root could restart, stop, start or reload",
	    c->admin_group, line > 0 ? "" : " (the default)");
}

static void
preflight_ssh_config(const struct config *c, struct config_errors *errs)
{
	int	fd;

	if (c->ssh_config == NULL)
		return;
	if ((fd = open(c->ssh_config, O_RDONLY | O_CLOEXEC)) != -1) {
		close(fd);
		return;
	}
	preflight_add(errs, c->path, preflight_keyline(c->path, 0,
	    "ssh_config"), "ssh_config %s cannot be read: %s", c->ssh_config,
	    strerror(errno));
}

/*
 * Is HOST:PORT held by another program now?  A trial bind, as the daemon
 * will do it (SO_REUSEADDR): only EADDRINUSE counts.
 */
static int
preflight_in_use(const char *host, uint16_t port)
{
	struct addrinfo	 hints, *res, *ai;
	char		 serv[8];
	int		 fd, one = 1, used = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(serv, sizeof(serv), "%u", port);
	if (getaddrinfo(*host ? host : NULL, serv, &hints, &res) != 0)
		return 0;
	for (ai = res; ai != NULL && !used; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    0)) == -1)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
		    errno == EADDRINUSE)
			used = 1;
		close(fd);
	}
	freeaddrinfo(res);
	return used;
}

static void
preflight_listen(const struct config *c, const char *host, uint16_t port,
    int line, const char *what, struct config_errors *warns)
{
	char	hp[CONFIG_HOST_MAX + 8];

	if (port == 0 || !preflight_in_use(host, port))
		return;
	preflight_add(warns, c->path, line, "%s: %s is in use on this machine "
	    "now; tunneld cannot listen there while it is", what,
	    config_fmt_hostport(hp, sizeof(hp), host, port));
}

static void
preflight_listens(const struct config *c, struct config_errors *warns)
{
	const struct node_conf	*n;
	const struct pool_conf	*pl;
	char			 host[CONFIG_HOST_MAX], what[128];
	uint16_t		 port;
	size_t			 i;

	TAILQ_FOREACH(n, &c->nodes, entry) {
		if (!n->enabled)
			continue;
		for (i = 0; i < n->nfwds; i++) {
			if (n->fwds[i].kind != FWD_LOCAL)
				continue;
			snprintf(what, sizeof(what), "node '%s': local_forward",
			    n->name);
			preflight_listen(c, n->fwds[i].listen_host,
			    n->fwds[i].listen_port, n->fwds[i].line, what, warns);
		}
	}
	TAILQ_FOREACH(pl, &c->pools, entry) {
		snprintf(what, sizeof(what), "pool '%s': listen", pl->name);
		preflight_listen(c, pl->listen_host, pl->listen_port,
		    preflight_keyline(c->path, pl->line, "listen"), what, warns);
	}
	if (c->metrics_listen != NULL && config_parse_hostport(c->metrics_listen,
	    host, sizeof(host), &port) == 0)
		preflight_listen(c, host, port, preflight_keyline(c->path, 0,
		    "metrics_listen"), "metrics_listen", warns);
}

size_t
preflight_check(const struct config *c, struct config_errors *errs,
    struct config_errors *warns)
{
	size_t	before = errs->n;

	preflight_admin_group(c, errs);
	(void)preflight_files(c, errs, warns);
	preflight_listens(c, warns);
	return errs->n - before;
}

size_t
preflight_files(const struct config *c, struct config_errors *errs,
    struct config_errors *warns)
{
	const struct node_conf	*n;
	size_t			 before = errs->n;

	preflight_known_hosts(c, errs);
	preflight_ssh_config(c, errs);
	TAILQ_FOREACH(n, &c->nodes, entry)
		preflight_identity(c, n, errs, warns);
	return errs->n - before;
}
