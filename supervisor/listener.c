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

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
