/*
 * What a listener does when accept() fails.
 *
 * Out of descriptors or memory, accept() fails at once on every turn of
 * the loop, and libevent, finding the socket still readable, would call
 * it again at once: a busy loop that logs without end.  The listener
 * rests a second instead; the connections wait in the backlog.  Errors
 * that belong to one new connection are not the listener's: they are
 * passed over.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <netdb.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "listener.h"
#include "log.h"
#include "tunneld.h"

#define LISTENER_REST_S	1
/*
 * Descriptors the control socket and the metrics endpoint never take, so
 * that a flood of their clients cannot starve what the daemon is for:
 * a forward's new connection, a session's reconnect (two each), a probe.
 * A quarter of RLIMIT_NOFILE, and at least LISTENER_RESERVE_MIN.
 */
#define LISTENER_RESERVE_MIN	32

struct listener_rest {
	struct evconnlistener	*listener;
	struct event		*ev;
	char			*what;
};

/*
 * Linux hands a new connection's pending network error to accept(), to be
 * retried as EAGAIN is (accept(2)); the others need no rest either.
 */
static int
listener_transient(int err)
{
	switch (err) {
	case EAGAIN:
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
	case ENETDOWN:
	case ENOPROTOOPT:
	case EHOSTDOWN:
	case ENONET:
	case EHOSTUNREACH:
	case EOPNOTSUPP:
	case ENETUNREACH:
	case EPERM:		/* a firewall refused this one */
		return 1;
	}
	return 0;
}

static void
listener_rest_over(evutil_socket_t fd, short ev, void *arg)
{
	struct listener_rest	*r = arg;
	struct timeval		 tv = { LISTENER_REST_S, 0 };

	if (evconnlistener_enable(r->listener) == -1) {
		log_warnx("%s: cannot listen again; retrying in %d s",
		    r->what, LISTENER_REST_S);
		evtimer_add(r->ev, &tv);
	}
}

/* Made with the listener, so that its error path allocates nothing. */
struct listener_rest *
listener_rest_new(struct evconnlistener *l, const char *what)
{
	struct listener_rest	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->listener = l;
	if ((r->what = strdup(what)) == NULL ||
	    (r->ev = evtimer_new(td->base, listener_rest_over, r)) == NULL) {
		free(r->what);
		free(r);
		return NULL;
	}
	return r;
}

void
listener_rest_free(struct listener_rest *r)
{
	if (r == NULL)
		return;
	event_free(r->ev);
	free(r->what);
	free(r);
}

/* From the listener's error callback, ERR being accept()'s errno. */
void
listener_rest_error(struct listener_rest *r, int err)
{
	struct timeval	tv = { LISTENER_REST_S, 0 };

	if (listener_transient(err))
		return;
	evconnlistener_disable(r->listener);
	evtimer_add(r->ev, &tv);
	log_warnx("%s: accept: %s; not accepting for %d s", r->what,
	    strerror(err), LISTENER_REST_S);
}

/*
 * 1 when FD lies in the reserve.  Linux hands out the lowest free number,
 * so a new descriptor numbered limit - reserve or more means that many
 * below it are taken: only the reserve is left.  LIMIT gets the limit.
 */
int
listener_reserved(int fd, unsigned *limit)
{
	struct rlimit	rl;
	rlim_t		reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	if (limit != NULL)
		*limit = rl.rlim_cur > 0xffffffffU ? 0xffffffffU :
		    (unsigned)rl.rlim_cur;
	reserve = rl.rlim_cur / 4;
	if (reserve < LISTENER_RESERVE_MIN)
		reserve = LISTENER_RESERVE_MIN;
	return fd < 0 || (rlim_t)fd + reserve >= rl.rlim_cur;
}

/*
 * From an accept callback of a listener that must leave the reserve
 * alone, with the descriptor just accepted.  When FD lies in the reserve
 * the listener rests a second: the connections behind it wait in the
 * backlog, so at most one of its clients a second dips into the reserve.
 * The client FD itself is kept: it may be a request queued while the
 * daemon was out of descriptors, answered now that some are free.
 */
void
listener_reserve_check(struct listener_rest *r, int fd)
{
	struct timeval	tv = { LISTENER_REST_S, 0 };
	unsigned	limit = 0;

	if (!listener_reserved(fd, &limit))
		return;
	evconnlistener_disable(r->listener);
	evtimer_add(r->ev, &tv);
	log_warnx("%s: %d of %u descriptors in use, the rest kept for the "
	    "tunnels; not taking connections for %d s", r->what, fd + 1,
	    limit, LISTENER_REST_S);
}

/*
 * Listen on HOST:PORT (literal addresses, as the config checked them) for
 * CB, resting on accept errors as above.  0 with *LP and *RESTP set, or -1
 * with WHY ("listen 127.0.0.1:11435: Address already in use") and nothing
 * left open.  Forwards and pools bind alike, and say so alike.
 */
int
listener_bind(const char *host, uint16_t port, evconnlistener_cb cb,
    evconnlistener_errorcb errcb, void *arg, const char *what,
    struct evconnlistener **lp, struct listener_rest **restp, char *why,
    size_t whysz)
{
	struct addrinfo		 hints, *res = NULL;
	struct evconnlistener	*l;
	char			 serv[8], hp[CONFIG_HOST_MAX + 8];
	int			 rc;

	config_fmt_hostport(hp, sizeof(hp), host, port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(serv, sizeof(serv), "%u", port);
	if ((rc = getaddrinfo(host, serv, &hints, &res)) != 0) {
		snprintf(why, whysz, "listen %.200s: %s", hp, gai_strerror(rc));
		return -1;
	}
	l = evconnlistener_new_bind(td->base, cb, arg,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    128, res->ai_addr, (int)res->ai_addrlen);
	rc = errno;
	freeaddrinfo(res);
	if (l == NULL) {
		snprintf(why, whysz, "listen %.200s: %s", hp, strerror(rc));
		return -1;
	}
	if ((*restp = listener_rest_new(l, what)) == NULL) {
		evconnlistener_free(l);
		snprintf(why, whysz, "listen %.200s: %s", hp, strerror(ENOMEM));
		return -1;
	}
	evconnlistener_set_error_cb(l, errcb);
	*lp = l;
	if (whysz > 0)
		why[0] = '\0';
	return 0;
}

/*
 * A client's bufferevent freed and its socket closed now.  libevent 2.1
 * leaves a freed bufferevent's close to a finalizer on the loop's next
 * turn, and the listener accepts every connection that waits in one
 * callback: a flood turned away client by client held all of those
 * descriptors at once (t_slowloris under load: 181 of 256, where at most
 * 64 clients are kept).  The socket leaves the bufferevent first, its
 * events deleted there and then, so the number cannot come back to it.
 */
void
listener_client_free(struct bufferevent *bev)
{
	evutil_socket_t	fd = bufferevent_getfd(bev);

	bufferevent_setfd(bev, -1);
	bufferevent_free(bev);
	if (fd != -1)
		evutil_closesocket(fd);
}
