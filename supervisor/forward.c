#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include "backoff.h"
#include "forward.h"
#include "listener.h"
#include "log.h"
#include "node.h"
#include "session.h"
#include "tunneld.h"

/*
 * Per direction, at most this much waits in tunneld for a slow reader; past
 * it the other side is not read (local socket) or not acknowledged (SSH
 * window), so memory does not grow with the amount transferred.
 */
#define CONN_BUF_MAX	(256 * 1024)
#define CONN_CHUNK	(32 * 1024)
#define CONN_WRITE_MAX	(CONN_BUF_MAX)	/* per ssh_channel_write() */
/*
 * The SSH window we grant a channel, and how much of it may be used before
 * we top it up.  libssh 0.10 grants 1,280,000 bytes and tops up only under
 * half of that: about 0.6 MB in flight, 12 MB/s over a 50 ms round trip.
 * OpenSSH grants 2 MiB; twice that keeps a 150 ms link at ~28 MB/s.
 */
#define CONN_WINDOW	(4 * 1024 * 1024)
#define CONN_WINDOW_STEP (256 * 1024)
#define CONNS_MAX	1024		/* per forward */

enum conn_state {
	C_OPENING,	/* local forward: direct-tcpip open in flight */
	C_CONNECTING,	/* remote forward: TCP connect to the target */
	C_OPEN,
	C_DEAD,		/* to be freed by the next sweep */
};

struct conn {
	LIST_ENTRY(conn)	 entry;
	struct forward		*fwd;
	struct bufferevent	*bev;	/* owns the local socket; connects it */
	struct event		*ev_rd;	/* reads it: see conn_read() */
	struct event		*ev_wr;	/* added only while out holds data */
	struct evbuffer		*in;	/* read from it, not yet on the channel */
	struct evbuffer		*out;	/* from the channel, not yet written */
	ssh_channel		 chan;
	struct ssh_channel_callbacks_struct cb;
	enum conn_state		 state;
	char			 peer[64];
	uint16_t		 peer_port;
	unsigned		 chan_eof:1;	/* the channel sent EOF */
	unsigned		 chan_closed:1;	/* ... or CLOSE */
	unsigned		 eof_sent:1;	/* we sent EOF on the channel */
	unsigned		 local_eof:1;	/* the local socket reached EOF */
	unsigned		 shut_wr:1;	/* we shut the local socket's write side */
	unsigned		 out_full:1;	/* data waits in libssh for the local side */
	unsigned		 opened:1;	/* the channel was granted */
	unsigned		 rd_on:1;	/* ev_rd is added */
	unsigned		 wr_on:1;	/* ev_wr is added */
	unsigned		 win_wait:1;	/* in waits for the SSH window */
	unsigned		 flush_wait:1;	/* ... for libssh to send its output */
	uint64_t		 rx;		/* bytes the channel gave us */
	uint64_t		 rx_granted;	/* RX when we last set the window */
	int			 granted;	/* our window was granted once */
	/* forward_attach(): told once whether the channel opened. */
	void			(*handback)(evutil_socket_t, void *);
	void			*handback_arg;
};

static void	conn_step(struct conn *);
static void	conn_free(struct conn *);

/*
 * Counters are kept from the point of view of the client that connected:
 * bytes_in went to it, bytes_out came from it.  For a local forward that
 * client is on our local socket; for a remote forward it is on the far side
 * of the channel, so the channel->socket direction is "out".
 */
static void
conn_count(struct conn *c, int chan_to_sock, size_t n)
{
	struct forward	*f = c->fwd;

	if (chan_to_sock)
		c->rx += n;
	if (chan_to_sock == (f->conf->kind == FWD_LOCAL))
		f->bytes_in += n;
	else
		f->bytes_out += n;
}

static int
conn_chan_data(ssh_session ss, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *arg)
{
	struct conn	*c = arg;
	size_t		 have, n;

	if (c->state == C_DEAD || is_stderr)
		return (int)len;	/* nobody to give it to: drop */
	have = evbuffer_get_length(c->out);
	if (have >= CONN_BUF_MAX) {
		c->out_full = 1;
		return 0;
	}
	n = len < CONN_BUF_MAX - have ? len : CONN_BUF_MAX - have;
	if (evbuffer_add(c->out, data, n) == -1)
		return 0;
	/*
	 * Normally the conn_step() after the read writes it out.  Data read
	 * while another connection's step polled libssh would wait for no
	 * one: make sure a write is tried this loop turn (no syscall).
	 */
	if (have == 0 && !c->wr_on && c->ev_wr != NULL)
		event_active(c->ev_wr, EV_WRITE, 0);
	conn_count(c, 1, n);
	if (n < len)
		c->out_full = 1;
	return (int)n;
}

static void
conn_chan_eof(ssh_session ss, ssh_channel ch, void *arg)
{
	struct conn	*c = arg;

	c->chan_eof = 1;
	session_kick(c->fwd->node->sess);
}

static void
conn_chan_close(ssh_session ss, ssh_channel ch, void *arg)
{
	struct conn	*c = arg;

	c->chan_closed = 1;
	c->chan_eof = 1;
	session_kick(c->fwd->node->sess);
}

static int
conn_chan_wontblock(ssh_session ss, ssh_channel ch, uint32_t bytes, void *arg)
{
	struct conn	*c = arg;

	/*
	 * The window opened: conn_step() resumes sending.  libssh also calls
	 * this whenever the socket is writable and nothing is queued, which
	 * is after nearly every packet: only a connection that waits for
	 * the window needs another step.
	 */
	if (c->win_wait)
		session_kick(c->fwd->node->sess);
	return 0;
}

static void
conn_set_callbacks(struct conn *c)
{
	memset(&c->cb, 0, sizeof(c->cb));
	c->cb.userdata = c;
	c->cb.channel_data_function = conn_chan_data;
	c->cb.channel_eof_function = conn_chan_eof;
	c->cb.channel_close_function = conn_chan_close;
	c->cb.channel_write_wontblock_function = conn_chan_wontblock;
	ssh_callbacks_init(&c->cb);
	ssh_set_channel_callbacks(c->chan, &c->cb);
}

/* Add EV or delete it; no syscall unless that changes.  Returns ON. */
static unsigned
conn_ev_set(struct event *ev, unsigned was_on, int on)
{
	if (ev == NULL || was_on == !!on)
		return was_on;
	if (on)
		event_add(ev, NULL);
	else
		event_del(ev);
	return !!on;
}

/* Watch the local socket for reading, or stop. */
static void
conn_rd_set(struct conn *c, int on)
{
	c->rd_on = conn_ev_set(c->ev_rd, c->rd_on, on);
}

/* Watch it for room to write, or stop. */
static void
conn_wr_set(struct conn *c, int on)
{
	c->wr_on = conn_ev_set(c->ev_wr, c->wr_on, on);
}

static void	conn_read(evutil_socket_t, short, void *);
static void	conn_write(evutil_socket_t, short, void *);

/* The channel is open: the local socket's own events from now on. */
static int
conn_io_new(struct conn *c)
{
	evutil_socket_t	fd = bufferevent_getfd(c->bev);

	if (fd == -1)
		return -1;
	if (c->ev_rd == NULL && (c->ev_rd = event_new(td->base, fd,
	    EV_READ | EV_PERSIST, conn_read, c)) == NULL)
		return -1;
	if (c->ev_wr == NULL && (c->ev_wr = event_new(td->base, fd,
	    EV_WRITE | EV_PERSIST, conn_write, c)) == NULL)
		return -1;
	return 0;
}

/*
 * Write what the channel gave us to the local socket now, and wait for
 * EV_WRITE only while the kernel leaves some of it (tmux's rule).  Through
 * a bufferevent every reply cost an epoll_ctl() pair and a loop turn
 * before its writev().
 */
static int
conn_flush(struct conn *c)
{
	int	n;

	if (evbuffer_get_length(c->out) > 0) {
		n = evbuffer_write_atmost(c->out, bufferevent_getfd(c->bev),
		    -1);
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			log_debug("%s: %s: %s", __func__,
			    c->fwd->node->conf->name, strerror(errno));
			return -1;
		}
	}
	conn_wr_set(c, evbuffer_get_length(c->out) > 0);
	return 0;
}

static void
conn_write(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	/* Activated by conn_chan_data() after a step already wrote it. */
	if (!c->wr_on && evbuffer_get_length(c->out) == 0)
		return;
	conn_step(c);
}

/*
 * The local socket is readable.  Read here, not by the bufferevent:
 * libevent 2.1's evbuffer_read() takes at most 4 KiB per call, so a bulk
 * upload went out as 4 KiB SSH packets, each with its own loop turn,
 * send(), poll() and ioctl() (a third of OpenSSH's speed, measured).  One
 * readv() takes all the socket holds, up to CONN_BUF_MAX held here.
 */
static void
conn_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	struct evbuffer	*in = c->in;
	struct evbuffer_iovec v[2];
	struct iovec	 iov[2];
	size_t		 have, room, left;
	ssize_t		 r;
	int		 i, nv;

	have = evbuffer_get_length(in);
	if (have >= CONN_BUF_MAX || c->state != C_OPEN) {
		conn_rd_set(c, 0);
		return;
	}
	room = CONN_BUF_MAX - have;
	if ((nv = evbuffer_reserve_space(in, (ev_ssize_t)room, v, 2)) <= 0) {
		c->state = C_DEAD;
		conn_step(c);
		return;
	}
	for (i = 0, left = room; i < nv; i++) {
		if (v[i].iov_len > left)
			v[i].iov_len = left;
		left -= v[i].iov_len;
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	r = readv(fd, iov, nv);
	if (r > 0) {
		for (i = 0, left = (size_t)r; i < nv && left > 0; i++) {
			if (v[i].iov_len > left)
				v[i].iov_len = left;
			left -= v[i].iov_len;
		}
		if (evbuffer_commit_space(in, v, i) == -1) {
			log_warnx("a forwarded connection is closed: its buffer cannot grow");
			c->state = C_DEAD;
		}
	} else if (r == 0) {
		c->local_eof = 1;
		conn_rd_set(c, 0);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		log_debug("%s: %s: %s", __func__, c->fwd->node->conf->name,
		    strerror(errno));
		c->state = C_DEAD;
	}
	conn_step(c);
}

static void
conn_bev_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	int		 one = 1;

	if (what & BEV_EVENT_CONNECTED) {
		/* Remote forward: the local target accepted. */
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP,
		    TCP_NODELAY, &one, sizeof(one));
		c->state = C_OPEN;
		if (conn_io_new(c) == -1)
			c->state = C_DEAD;
	} else if (what & BEV_EVENT_EOF) {
		c->local_eof = 1;
	} else if (what & BEV_EVENT_ERROR) {
		if (c->state == C_CONNECTING)
			log_debug("%s: %s: connect to target %s:%u: %s", __func__,
			    c->fwd->node->conf->name, c->fwd->conf->target_host,
			    c->fwd->conf->target_port,
			    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		c->state = C_DEAD;
	}
	conn_step(c);
}

static struct conn *
conn_new(struct forward *f, evutil_socket_t fd, ssh_channel chan)
{
	struct conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fwd = f;
	c->chan = chan;
	c->bev = bufferevent_socket_new(td->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL || (c->in = evbuffer_new()) == NULL ||
	    (c->out = evbuffer_new()) == NULL) {
		if (c->bev != NULL) {
			/* The socket stays the caller's: do not close it. */
			bufferevent_setfd(c->bev, -1);
			bufferevent_free(c->bev);
		}
		if (c->in != NULL)
			evbuffer_free(c->in);
		free(c);
		return NULL;
	}
	/*
	 * The bufferevent only connects (remote forwards) and reports how
	 * that went; reading and writing are conn_read() and conn_flush().
	 */
	bufferevent_setcb(c->bev, NULL, NULL, conn_bev_event, c);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	LIST_INSERT_HEAD(&f->conns, c, entry);
	f->active++;
	f->total++;
	return c;
}

static void
conn_free(struct conn *c)
{
	void		(*handback)(evutil_socket_t, void *) = c->handback;
	void		*arg = c->handback_arg;
	evutil_socket_t	 fd = -1;

	/* Never carried a byte: the socket goes back to whoever attached it. */
	if (handback != NULL && !c->opened && c->bev != NULL) {
		fd = bufferevent_getfd(c->bev);
		bufferevent_setfd(c->bev, -1);
	}
	LIST_REMOVE(c, entry);
	c->fwd->active--;
	if (c->chan != NULL) {
		ssh_remove_channel_callbacks(c->chan, &c->cb);
		if (ssh_channel_is_open(c->chan))
			ssh_channel_close(c->chan);
		ssh_channel_free(c->chan);
	}
	if (c->ev_rd != NULL)
		event_free(c->ev_rd);
	if (c->ev_wr != NULL)
		event_free(c->ev_wr);
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c);
	if (handback != NULL && fd != -1)
		handback(fd, arg);
}

/* Local socket -> channel, as far as the SSH window and libssh allow. */
static int
conn_pump_out(struct conn *c)
{
	struct evbuffer	*in = c->in;
	ssh_session	 ss = ssh_channel_get_session(c->chan);
	size_t		 len, n;
	uint32_t	 win;
	int		 rc;

	c->win_wait = c->flush_wait = 0;
	while ((len = evbuffer_get_length(in)) > 0) {
		/*
		 * Output libssh could not send yet: let it drain first, so
		 * that libssh holds at most one write.  (Not WRITE_PENDING:
		 * libssh sets it after every send, sent out or not.)  Sends
		 * what it holds when the socket takes it; no syscall when it
		 * holds nothing.
		 */
		if ((rc = ssh_blocking_flush(ss, 0)) == SSH_ERROR)
			return -1;
		if (rc == SSH_AGAIN) {
			c->flush_wait = 1;
			return 0;
		}
		if ((win = ssh_channel_window_size(c->chan)) == 0) {
			c->win_wait = 1;
			return 0;
		}
		/*
		 * All we hold in one write: libssh cuts it into packets and
		 * sends them with one send() at the end, where a write per
		 * piece cost a send(), a poll() and a loop turn each.
		 */
		n = len;
		if (n > win)
			n = win;
		if (n > CONN_WRITE_MAX)
			n = CONN_WRITE_MAX;
		rc = ssh_channel_write(c->chan, evbuffer_pullup(in, n), n);
		if (rc == SSH_ERROR)
			return -1;
		if (rc <= 0)
			return 0;
		evbuffer_drain(in, rc);
		conn_count(c, 0, (size_t)rc);
	}
	return 0;
}

/*
 * Channel data libssh holds for us -> c->out, as room allows.  Returns 1
 * if it took some, 0 if none, -1 on error.
 */
static int
conn_pump_in(struct conn *c)
{
	struct evbuffer	*out = c->out;
	char		 buf[CONN_CHUNK];
	size_t		 want;
	int		 n, avail, took = 0;

	/*
	 * Wait until the local side took half of what we hold, then take
	 * everything libssh holds in one go.  Every ssh_channel_read() in
	 * libssh 0.10 reopens the SSH window when it is below half, without
	 * counting what libssh still buffers: reading in helpings as room
	 * appears let a fast sender fill libssh without bound (33 MB for one
	 * connection, measured).  One drain per refill bounds a connection to
	 * about CONN_BUF_MAX plus two windows.  Between drains the data
	 * callback takes nothing past CONN_BUF_MAX, so libssh stops granting
	 * window once it buffers half of one.
	 */
	if (!c->out_full || evbuffer_get_length(out) > CONN_BUF_MAX / 2)
		return 0;
	if ((avail = ssh_channel_poll(c->chan, 0)) == SSH_ERROR)
		return -1;
	while (avail > 0) {
		want = (size_t)avail < sizeof(buf) ? (size_t)avail : sizeof(buf);
		n = ssh_channel_read_nonblocking(c->chan, buf, want, 0);
		if (n == SSH_ERROR)
			return -1;
		if (n <= 0)		/* empty, or SSH_EOF */
			break;
		if (evbuffer_add(out, buf, n) == -1)
			return -1;
		conn_count(c, 1, (size_t)n);
		avail -= n;
		took = 1;
	}
	/* libssh holds nothing more: new data comes through the callback. */
	c->out_full = 0;
	return took;
}

/*
 * Grant the channel CONN_WINDOW again once a step of it was used, while the
 * local side keeps up (libssh holds nothing for us and OUT has room).  A
 * stalled reader stops the grants: at most one window more arrives, and
 * libssh's own top-up (to 1,280,000 bytes, when its window and what it
 * buffers fall under half of that) stops too once it buffers that window.
 *
 * libssh 0.10 has no call to set a channel's window.  A read of COUNT bytes
 * grows the window to COUNT when it is smaller (grow_window()); the read is
 * of the stderr stream, which our data callback always empties (a TCP
 * forward has none), so no byte is ever copied to DUMMY.  Timeout 0: it
 * polls the socket once, as a nonblocking read does.
 */
static void
conn_grow_window(struct conn *c)
{
	char	dummy[16];

	if (c->out_full || c->chan_eof || c->chan_closed ||
	    evbuffer_get_length(c->out) >= CONN_BUF_MAX / 2)
		return;
	if (c->granted && c->rx - c->rx_granted < CONN_WINDOW_STEP)
		return;
	/*
	 * Its error is not the connection's: the channel may have been
	 * closed by a packet this very call read (its data is in OUT, still
	 * to be written), and a lost session is session_io()'s to report.
	 */
	(void)ssh_channel_read_timeout(c->chan, dummy, CONN_WINDOW, 1, 0);
	c->granted = 1;
	c->rx_granted = c->rx;
}

static void
conn_step(struct conn *c)
{
	struct forward	*f = c->fwd;
	struct evbuffer	*in, *out;
	int		 rc;

	if (c->state == C_OPENING) {
		rc = ssh_channel_open_forward(c->chan, f->conf->target_host,
		    f->conf->target_port, c->peer, c->peer_port);
		if (rc == SSH_AGAIN)
			return;
		if (rc != SSH_OK) {
			log_entry(LOG_INFO, f->node->conf->name, NULL, NULL, NULL,
			    "%s: channel to %s:%u refused: %s",
			    f->node->conf->name, f->conf->target_host,
			    f->conf->target_port,
			    ssh_get_error(ssh_channel_get_session(c->chan)));
			c->state = C_DEAD;
		} else {
			c->state = C_OPEN;
			c->opened = 1;
			if (c->handback != NULL) {
				c->handback(-1, c->handback_arg);
				c->handback = NULL;
			}
			conn_set_callbacks(c);
			/*
			 * A target that speaks first (SSH, SMTP) may have
			 * sent data in the same read as the confirmation,
			 * before there was a callback to take it: libssh
			 * holds it, and only a pump_in fetches it.
			 */
			c->out_full = 1;
			if (conn_io_new(c) == -1)
				c->state = C_DEAD;
		}
	}
	if (c->state == C_OPEN) {
		in = c->in;
		out = c->out;
		/* Written first: the room it makes is what pump_in looks at. */
		if (conn_pump_out(c) == -1 || conn_flush(c) == -1 ||
		    (rc = conn_pump_in(c)) == -1 ||
		    (rc == 1 && conn_flush(c) == -1))
			c->state = C_DEAD;
		else {
			conn_grow_window(c);
			/* Read on only while the channel keeps up. */
			conn_rd_set(c, !c->local_eof &&
			    evbuffer_get_length(in) < CONN_BUF_MAX);
			if (c->local_eof && !c->eof_sent &&
			    evbuffer_get_length(in) == 0 && !c->chan_closed) {
				ssh_channel_send_eof(c->chan);
				c->eof_sent = 1;
			}
			if (c->chan_eof && !c->out_full && !c->shut_wr &&
			    evbuffer_get_length(out) == 0) {
				shutdown(bufferevent_getfd(c->bev), SHUT_WR);
				c->shut_wr = 1;
			}
			/*
			 * Finished once everything the channel sent reached
			 * the local side (shut_wr implies that) and our half
			 * is done or the peer closed the channel.
			 */
			if (c->shut_wr && (c->eof_sent || c->chan_closed))
				c->state = C_DEAD;
		}
	}
	if (c->state == C_DEAD) {
		struct node *n = f->node;

		/* Its EOF or CLOSE may wait in libssh: flush all the same. */
		conn_free(c);
		if (n->sess != NULL)
			(void)session_flush(n->sess);
	} else if (f->node->sess != NULL &&
	    session_flush(f->node->sess) == 0 && c->flush_wait)
		/*
		 * The flush sent what held this connection back, and no
		 * event will come for that: step it again next turn.
		 */
		session_kick(f->node->sess);
}

/*
 * Carry socket FD over local forward F.  With HANDBACK set, a connection
 * whose channel cannot be opened is not closed: its socket, unread, goes
 * back through HANDBACK(fd, arg) so that a pool can try another node;
 * HANDBACK(-1, arg) says the channel opened and the socket is ours.
 */
int
forward_attach(struct forward *f, evutil_socket_t fd, const struct sockaddr *sa,
    void (*handback)(evutil_socket_t, void *), void *arg)
{
	struct node	*n = f->node;
	struct conn	*c;
	ssh_channel	 chan;
	int		 one = 1;

	if (f->conf->kind != FWD_LOCAL || !session_is_up(n->sess) ||
	    f->active >= CONNS_MAX)
		return -1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((chan = ssh_channel_new(session_ssh(n->sess))) == NULL)
		return -1;
	if ((c = conn_new(f, fd, chan)) == NULL) {
		ssh_channel_free(chan);
		return -1;
	}
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		evutil_inet_ntop(AF_INET, &sin->sin_addr, c->peer,
		    sizeof(c->peer));
		c->peer_port = ntohs(sin->sin_port);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		evutil_inet_ntop(AF_INET6, &sin6->sin6_addr, c->peer,
		    sizeof(c->peer));
		c->peer_port = ntohs(sin6->sin6_port);
	} else
		snprintf(c->peer, sizeof(c->peer), "127.0.0.1");
	c->handback = handback;
	c->handback_arg = arg;
	c->state = C_OPENING;
	conn_step(c);
	return 0;
}

static void
forward_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	/*
	 * No session to carry it: close at once so the client fails over
	 * now instead of hanging.
	 */
	if (forward_attach(arg, fd, sa, NULL, NULL) == -1)
		close(fd);
}

static void
forward_accept_error(struct evconnlistener *l, void *arg)
{
	struct forward	*f = arg;

	listener_rest_error(f->rest, EVUTIL_SOCKET_ERROR());
}

static int
forward_bind(struct forward *f)
{
	char	hp[CONFIG_HOST_MAX + 8], what[512];

	config_fmt_hostport(hp, sizeof(hp), f->conf->listen_host,
	    f->conf->listen_port);
	snprintf(what, sizeof(what), "%s: %s", f->node->conf->name, hp);
	return listener_bind(f->conf->listen_host, f->conf->listen_port,
	    forward_accept, forward_accept_error, f, what, &f->listener,
	    &f->rest, f->reason, sizeof(f->reason));
}

int
forward_init(struct node *n)
{
	size_t	i;
	int	rc = 0;

	if (n->conf->nfwds == 0)
		return 0;
	if ((n->fwds = calloc(n->conf->nfwds, sizeof(*n->fwds))) == NULL)
		return -1;
	n->nfwds = n->conf->nfwds;
	for (i = 0; i < n->nfwds; i++) {
		struct forward *f = &n->fwds[i];

		f->node = n;
		f->conf = &n->conf->fwds[i];
		f->state = FWD_DOWN;
		LIST_INIT(&f->conns);
		/* A node disabled in the config holds no port. */
		if (f->conf->kind == FWD_LOCAL && n->conf->enabled &&
		    forward_bind(f) == -1) {
			log_entry(LOG_ERR, n->conf->name, "listen-failed",
			    f->reason, NULL, "%s: %s", n->conf->name, f->reason);
			rc = -1;
		}
	}
	return rc;
}

/* Returns how many listeners it bound. */
int
forward_rebind(struct node *n)
{
	size_t	i;
	int	bound = 0;

	for (i = 0; i < n->nfwds; i++) {
		struct forward *f = &n->fwds[i];

		if (f->conf->kind == FWD_LOCAL && f->listener == NULL &&
		    n->conf->enabled) {
			if (forward_bind(f) == -1)
				continue;
			log_entry(LOG_INFO, n->conf->name, NULL, NULL, NULL,
			    "%s: listening on %s:%u", n->conf->name,
			    f->conf->listen_host, f->conf->listen_port);
			/* Bound late: up now if the session already is. */
			f->state = session_is_up(n->sess) ? FWD_UP : FWD_DOWN;
			bound++;
		}
	}
	return bound;
}

static void
forward_drop_conns(struct forward *f)
{
	struct conn	*c;
	struct linger	 rst = { 1, 0 };
	evutil_socket_t	 fd;

	while ((c = LIST_FIRST(&f->conns)) != NULL) {
		/*
		 * Cut mid-stream: close with a reset, so that a client without
		 * framing cannot take the cut for the end of the data.  A
		 * socket a pool will hand to another node is left as it is.
		 */
		if ((c->opened || c->handback == NULL) && c->bev != NULL &&
		    (fd = bufferevent_getfd(c->bev)) != -1)
			(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst,
			    sizeof(rst));
		conn_free(c);
	}
}

void
forward_free(struct node *n)
{
	size_t	i;

	for (i = 0; i < n->nfwds; i++) {
		struct forward *f = &n->fwds[i];

		forward_drop_conns(f);
		listener_rest_free(f->rest);
		if (f->listener)
			evconnlistener_free(f->listener);
		if (f->ev_retry)
			event_free(f->ev_retry);
	}
	free(n->fwds);
	n->fwds = NULL;
	n->nfwds = 0;
}

void
forward_session_up(struct node *n)
{
	size_t	i;

	for (i = 0; i < n->nfwds; i++) {
		struct forward *f = &n->fwds[i];

		f->attempt = 0;
		if (f->conf->kind == FWD_LOCAL) {
			f->state = f->listener ? FWD_UP : FWD_DOWN;
		} else {
			f->state = FWD_PENDING;
			f->want_request = 1;
		}
	}
}

/* The session is gone: its channels with it. */
void
forward_session_down(struct node *n)
{
	size_t	i;

	for (i = 0; i < n->nfwds; i++) {
		struct forward *f = &n->fwds[i];

		forward_drop_conns(f);
		f->state = FWD_DOWN;
		f->want_request = 0;
		if (f->ev_retry)
			event_del(f->ev_retry);
	}
}

struct forward *
forward_next_listen(struct node *n)
{
	size_t	i;

	for (i = 0; i < n->nfwds; i++)
		if (n->fwds[i].want_request)
			return &n->fwds[i];
	return NULL;
}

static void
forward_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct forward	*f = arg;

	f->want_request = 1;
	session_want_listen(f->node->sess);
}

void
forward_listen_result(struct forward *f, int ok, const char *why)
{
	struct node		*n = f->node;
	const struct config	*c = td->conf;
	struct backoff_params	 bp = { c->backoff_initial, c->backoff_max,
				    c->backoff_multiplier, c->backoff_jitter };
	struct timeval		 tv;
	uint64_t		 delay;

	f->want_request = 0;
	if (ok) {
		/* ATTEMPT counts the refusals of this session in a row. */
		if (f->attempt > 0)
			log_entry(LOG_NOTICE, n->conf->name,
			    "remote-port-in-use-cleared", NULL, NULL,
			    "%s: remote port %u granted after %u attempts",
			    n->conf->name, f->conf->listen_port, f->attempt + 1);
		f->state = FWD_UP;
		f->attempt = 0;
		f->reason[0] = '\0';
		node_update(n);
		return;
	}
	/*
	 * OpenSSH answers a refused tcpip-forward with a bare failure, so
	 * "in use" is the likely cause: the stale listener of a dead session.
	 */
	f->attempt++;
	snprintf(f->reason, sizeof(f->reason), "remote port %u in use",
	    f->conf->listen_port);
	/* Once per series: a retry every backoff_max must not flood. */
	if (f->attempt == 1)
		log_entry(LOG_WARNING, n->conf->name, "remote-port-in-use",
		    f->reason, NULL, "%s: %s (server: %s); retrying with backoff",
		    n->conf->name, f->reason, why ? why : "refused");
	f->state = FWD_REFUSED;
	if (f->ev_retry == NULL &&
	    (f->ev_retry = evtimer_new(td->base, forward_retry_cb, f)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	delay = backoff_delay(f->attempt, &bp, (double)random() / 2147483648.0);
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(f->ev_retry, &tv);
	node_update(n);
}

/* Incoming forwarded-tcpip channels (remote forwards). */
static void
forward_accept_remote(struct node *n)
{
	ssh_session	 ss = session_ssh(n->sess);
	ssh_channel	 chan;
	struct forward	*f;
	struct conn	*c;
	char		*orig = NULL;
	int		 dport = 0, oport = 0;
	size_t		 i;

	while ((chan = ssh_channel_open_forward_port(ss, 0, &dport, &orig,
	    &oport)) != NULL) {
		ssh_string_free_char(orig);
		orig = NULL;
		f = NULL;
		for (i = 0; i < n->nfwds; i++)
			if (n->fwds[i].conf->kind == FWD_REMOTE &&
			    n->fwds[i].conf->listen_port == dport)
				f = &n->fwds[i];
		if (f == NULL || f->active >= CONNS_MAX ||
		    (c = conn_new(f, -1, chan)) == NULL) {
			ssh_channel_close(chan);
			ssh_channel_free(chan);
			continue;
		}
		conn_set_callbacks(c);
		c->state = C_CONNECTING;
		if (bufferevent_socket_connect_hostname(c->bev, td->dns,
		    AF_UNSPEC, f->conf->target_host, f->conf->target_port) == -1)
			c->state = C_DEAD;
		if (n->sess == NULL)
			return;
	}
}

/* N asked for a remote port: the server may open channels to us. */
int
forward_wants_opens(const struct node *n)
{
	size_t	i;

	for (i = 0; i < n->nfwds; i++)
		if (n->fwds[i].conf->kind == FWD_REMOTE)
			return 1;
	return 0;
}

void
forward_poll(struct node *n)
{
	struct conn	*c, *next;
	size_t		 i;

	if (!session_is_up(n->sess))
		return;
	/* Its poll() is wasted on a node that asked for no remote port. */
	if (forward_wants_opens(n))
		forward_accept_remote(n);
	for (i = 0; i < n->nfwds && n->sess != NULL; i++)
		for (c = LIST_FIRST(&n->fwds[i].conns); c != NULL; c = next) {
			next = LIST_NEXT(c, entry);
			conn_step(c);
		}
}

const char *
forward_fault(const struct node *n)
{
	size_t	i;

	for (i = 0; i < n->nfwds; i++) {
		const struct forward *f = &n->fwds[i];

		if (f->conf->kind == FWD_LOCAL && f->listener == NULL &&
		    n->conf->enabled)
			return f->reason;
		if (f->state == FWD_REFUSED)
			return f->reason;
	}
	return NULL;
}

uint64_t
forward_active(const struct node *n)
{
	uint64_t	sum = 0;
	size_t		i;

	for (i = 0; i < n->nfwds; i++)
		sum += n->fwds[i].active;
	return sum;
}

/* Close F's listener and connections (a reload dropped or changed it). */
static void
forward_close(struct forward *f)
{
	char	hp[CONFIG_HOST_MAX + 8];

	config_fmt_hostport(hp, sizeof(hp), f->conf->listen_host,
	    f->conf->listen_port);
	log_entry(LOG_INFO, f->node->conf->name, NULL, NULL, NULL,
	    "%s: local_forward %s closed (%llu connection%s cut)",
	    f->node->conf->name, hp, (unsigned long long)f->active,
	    f->active == 1 ? "" : "s");
	forward_drop_conns(f);
	listener_rest_free(f->rest);
	f->rest = NULL;
	if (f->listener)
		evconnlistener_free(f->listener);
	f->listener = NULL;
	if (f->ev_retry)
		event_free(f->ev_retry);
	f->ev_retry = NULL;
}

/* F, new or changed, takes CONF and listens. */
static void
forward_open(struct node *n, struct forward *f, const struct fwd_conf *conf)
{
	char	hp[CONFIG_HOST_MAX + 8];

	memset(f, 0, sizeof(*f));
	f->node = n;
	f->conf = conf;
	f->state = FWD_DOWN;
	LIST_INIT(&f->conns);
	if (!n->conf->enabled)
		return;
	config_fmt_hostport(hp, sizeof(hp), conf->listen_host,
	    conf->listen_port);
	if (forward_bind(f) == -1) {
		log_entry(LOG_ERR, n->conf->name, "listen-failed", f->reason,
		    NULL, "%s: %s", n->conf->name, f->reason);
		return;
	}
	log_entry(LOG_INFO, n->conf->name, NULL, NULL, NULL,
	    "%s: local_forward %s bound", n->conf->name, hp);
	if (session_is_up(n->sess))
		f->state = FWD_UP;
}

/* Move forward FROM into TO: its connections and listener follow. */
static void
forward_move(struct forward *to, struct forward *from,
    const struct fwd_conf *conf)
{
	struct conn	*c;

	*to = *from;
	to->conf = conf;
	LIST_INIT(&to->conns);
	while ((c = LIST_FIRST(&from->conns)) != NULL) {
		LIST_REMOVE(c, entry);
		LIST_INSERT_HEAD(&to->conns, c, entry);
		c->fwd = to;
	}
	if (to->listener != NULL)
		evconnlistener_set_cb(to->listener, forward_accept, to);
}

/*
 * n->conf is the new config already; the forwards still point into OLD.
 * Unchanged forwards keep their listener and connections.  Remote forwards
 * must be unchanged and in place: the server holds their listeners, and
 * session.c may hold one in its request slot.
 */
int
forward_reconf(struct node *n, const struct node_conf *old)
{
	const struct node_conf	*nc = n->conf;
	struct forward		*nf;
	unsigned char		*taken;
	size_t			 i, j;
	int			 remote = 0;

	for (i = 0; i < old->nfwds; i++)
		remote |= old->fwds[i].kind == FWD_REMOTE;
	for (i = 0; i < nc->nfwds; i++)
		remote |= nc->fwds[i].kind == FWD_REMOTE;
	if (remote) {
		/* In place, or not at all. */
		if (nc->nfwds != n->nfwds)
			return -1;
		for (i = 0; i < n->nfwds; i++)
			if (n->fwds[i].conf->kind != nc->fwds[i].kind ||
			    (nc->fwds[i].kind == FWD_REMOTE &&
			    !config_fwd_equal(n->fwds[i].conf, &nc->fwds[i])))
				return -1;
		/* Close every changed one first: a port may move between them. */
		for (i = 0; i < n->nfwds; i++)
			if (!config_fwd_equal(n->fwds[i].conf, &nc->fwds[i]))
				forward_close(&n->fwds[i]);
		for (i = 0; i < n->nfwds; i++) {
			if (config_fwd_equal(n->fwds[i].conf, &nc->fwds[i]))
				n->fwds[i].conf = &nc->fwds[i];
			else
				forward_open(n, &n->fwds[i], &nc->fwds[i]);
		}
		return 0;
	}
	nf = nc->nfwds ? calloc(nc->nfwds, sizeof(*nf)) : NULL;
	taken = n->nfwds ? calloc(n->nfwds, 1) : NULL;
	if ((nc->nfwds && nf == NULL) || (n->nfwds && taken == NULL)) {
		free(nf);
		free(taken);
		return -1;
	}
	for (i = 0; i < nc->nfwds; i++) {
		nf[i].conf = NULL;
		for (j = 0; j < n->nfwds; j++)
			if (!taken[j] && config_fwd_equal(n->fwds[j].conf,
			    &nc->fwds[i])) {
				forward_move(&nf[i], &n->fwds[j], &nc->fwds[i]);
				taken[j] = 1;
				break;
			}
	}
	for (j = 0; j < n->nfwds; j++)
		if (!taken[j])
			forward_close(&n->fwds[j]);
	for (i = 0; i < nc->nfwds; i++)
		if (nf[i].conf == NULL)
			forward_open(n, &nf[i], &nc->fwds[i]);
	free(taken);
	free(n->fwds);
	n->fwds = nf;
	n->nfwds = nc->nfwds;
	return 0;
}
