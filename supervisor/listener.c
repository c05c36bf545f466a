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
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "listener.h"
#include "log.h"
#include "tunneld.h"

#define LISTENER_REST_S	1

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
