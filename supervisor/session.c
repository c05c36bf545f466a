#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>	/* ssh_send_keepalive(), usable by clients */

#include "forward.h"
#include "knownhosts.h"
#include "log.h"
#include "node.h"
#include "session.h"
#include "tunneld.h"

enum session_phase {
	S_RESOLVE,
	S_TCP,
	S_KEX,
	S_AUTH,
	S_UP,
};

#define SESSION_READS_MAX	64	/* libssh reads per wakeup ... */
#define SESSION_READ_SIZE	4096	/* ... of at most this (MAX_BUF_SIZE) */

/*
 * A link that comes back after a partition: see session_watch().  While a
 * TCP connect (or a check of the link) goes unanswered, a fresh one is
 * started this often, at most SESSION_DIALS in flight.
 */
#define SESSION_DIAL_MS		250
#define SESSION_DIALS		4
#define SESSION_STALL_RTO	2	/* TCP retransmission timeouts in a row */

static const char *phase_names[] = {
	"name resolution", "TCP connect", "key exchange", "authentication",
	"session",
};

struct session {
	struct node		*node;
	enum session_phase	 phase;
	ssh_session		 ssh;
	ssh_event		 sshev;
	ssh_key			 key;
	int			 fd;		/* ours: the events watch it */
	int			 ssh_fd;	/* libssh's copy, -1 before the TCP connect */
	struct evutil_addrinfo	*ai, *ai_next;
	struct evdns_getaddrinfo_request *dnsreq;
	struct event		*ev_read;
	struct event		*ev_write;
	struct event		*ev_timer;	/* handshake deadline, then keepalive */
	struct event		*ev_look;	/* session_kick(): see session_flush() */
	/*
	 * libssh's counters: SOCK counts bytes on the socket only; RAW counts
	 * packets (and payload bytes) both ways.  Packet counts come from RAW.
	 */
	struct ssh_counter_struct sock, raw;
	uint64_t		 rx_seen;	/* raw.in_packets at the last tick */
	int			 missed;	/* silent keepalive intervals */
	uint64_t		 ka_sent;	/* monotonic us, 0: no RTT sample pending */
	uint64_t		 ka_rx;		/* raw.in_packets when it was sent */
	struct forward		*greq;		/* tcpip-forward in the slot */
	uint64_t		 look_rx;	/* sock.in_bytes when last looked */
	int			 ka_unreaped;	/* a keepalive was sent since the slot was last used */
	int			 greq_after_ka;	/* the slot held a keepalive when greq began */
	char			 tcp_err[128];
	int			 tcp_errno;	/* tcp_err's, 0: none */
	/* session_watch(): fresh connects to the same address. */
	struct sockaddr_storage	 peer;
	socklen_t		 peerlen;
	int			 dial_fd[SESSION_DIALS];
	struct event		*dial_ev[SESSION_DIALS];
	unsigned		 dial_next;
	struct event		*ev_watch;
	uint64_t		 watch_rx;	/* raw.in_packets when watching began */
	int			 probing;	/* the link is suspected; dialling */
	uint64_t		 probe_rx;	/* raw.in_packets when probing began */
	int			 close_rst;	/* close with a reset: the link works */
	int			 close_park;	/* keep the socket: the link is down */
};

static void	session_io(evutil_socket_t, short, void *);
static void	session_timer(evutil_socket_t, short, void *);
static void	session_fail_as(struct session *, enum session_failure,
		    const char *key, int err, const char *, ...)
		    __attribute__((format(printf, 5, 6)));
static void	session_step(struct session *);
static void	session_try_connect(struct session *);
static void	session_dials_close(struct session *);
static void	session_watch(evutil_socket_t, short, void *);
static void	session_watch_arm(struct session *);
static void	session_park(struct node *, int);
static void	session_reset_fd(int);
static void	session_tcp_done(struct session *);

int
session_is_up(const struct session *s)
{
	return s != NULL && s->phase == S_UP;
}

ssh_session
session_ssh(struct session *s)
{
	return s->ssh;
}

static int	session_flush_out(struct session *);

/*
 * Send what libssh holds; 1 while some is still waiting for the socket
 * (EV_WRITE armed), else 0.
 *
 * Every caller has just let libssh poll the socket outside session_io()
 * (a channel write, open or close, a flush).  Channel data and EOF reach
 * their connections through callbacks, but two things wait in libssh for
 * someone to ask: the answer to our global request and a forwarded-tcpip
 * channel being opened.  No read event will come for what was already
 * read, so if bytes came in since session_io() or session_look() last
 * asked, look again on the next loop turn (a timer, not an activation:
 * after other I/O, so that a stream of data cannot hold the loop here).
 */
int
session_flush(struct session *s)
{
	int	pending;

	if (s->ssh == NULL || s->fd == -1)
		return 0;
	pending = session_flush_out(s);
	if (s->phase == S_UP && s->sock.in_bytes != s->look_rx &&
	    (s->greq != NULL || forward_wants_opens(s->node)))
		session_kick(s);
	return pending;
}

/*
 * Step the node's forwards (and look at the global request) on the next
 * loop turn: a zero timer, so that it runs after other I/O and a stream of
 * kicks cannot hold the loop in place.
 */
void
session_kick(struct session *s)
{
	struct timeval	now = { 0, 0 };

	if (s != NULL && s->ev_look != NULL && !evtimer_pending(s->ev_look, NULL))
		evtimer_add(s->ev_look, &now);
}

static int
session_flush_out(struct session *s)
{
	int	rc;

	if (!(ssh_get_poll_flags(s->ssh) & SSH_WRITE_PENDING))
		return 0;
	/*
	 * libssh 0.10 sets WRITE_PENDING after every send(), whether or not
	 * anything is left: arming EV_WRITE on it alone cost a loop turn, an
	 * epoll_ctl pair and a poll() per packet, and held bulk uploads at
	 * one packet per turn.  Once up, try to send what is queued (no
	 * syscall when nothing is) and wait for the socket only when the
	 * kernel would not take it all.
	 */
	if (s->phase == S_UP) {
		rc = ssh_blocking_flush(s->ssh, 0);
		/*
		 * That poll (or one inside a channel write before it) may
		 * have found the connection gone, and libssh then closes the
		 * socket: no event would come for it.  session_io() tells.
		 */
		if (!ssh_is_connected(s->ssh)) {
			event_active(s->ev_read, EV_READ, 0);
			return 0;
		}
		if (rc != SSH_AGAIN)
			return 0;
	}
	event_add(s->ev_write, NULL);
	return 1;
}

static void	session_greq(struct session *);

/* What session_io() does after reading, for bytes read elsewhere. */
static void
session_look(evutil_socket_t fd, short ev, void *arg)
{
	struct session	*s = arg;

	/* A lost connection is session_io()'s to report. */
	if (s->phase != S_UP || !ssh_is_connected(s->ssh))
		return;
	s->look_rx = s->sock.in_bytes;
	if (s->greq != NULL)
		session_greq(s);
	if (s->node->sess != s)
		return;
	forward_poll(s->node);
	session_flush(s);
}

/*
 * A keepalive's round trip, taken when the first packet after it arrives
 * and no forwarded traffic could have sent that packet instead.
 */
static void
session_rtt_sample(struct session *s)
{
	struct node	*n = s->node;

	if (s->ka_sent == 0 || s->raw.in_packets == s->ka_rx)
		return;
	if (forward_active(n) == 0) {
		n->rtt_ms = (double)(now_us() - s->ka_sent) / 1000.0;
		n->has_rtt = 1;
	}
	s->ka_sent = 0;
}

/* Close FD with a reset (RST) rather than a FIN queued behind lost data. */
static void
session_reset_fd(int fd)
{
	struct linger	rst = { 1, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
}

/*
 * The socket of a session that died while the link was down (keepalive
 * timeout).  Closed now, its FIN (or reset) would be lost, and the
 * server's sshd would keep the session, and its remote ports, until its
 * own timers (ClientAliveInterval, or TCP's two hours) or our orphaned
 * FIN's next retransmission, backed off to tens of seconds, got through.
 * Kept instead, and reset once a TCP connect to the node succeeds again:
 * the link is back and the reset reaches the server at once, before the
 * new session asks for the same remote ports.  One per node.
 */
static void
session_park(struct node *n, int fd)
{
	session_unpark(n);
	n->stale_fd = fd;
}

void
session_unpark(struct node *n)
{
	if (n->stale_fd == -1)
		return;
	session_reset_fd(n->stale_fd);
	close(n->stale_fd);
	n->stale_fd = -1;
}

/* Tear down everything; the node is not told (callers decide). */
void
session_close(struct session *s)
{
	if (s == NULL)
		return;
	if (s->node->sess == s)
		s->node->sess = NULL;
	forward_session_down(s->node);
	if (s->dnsreq != NULL)
		evdns_getaddrinfo_cancel(s->dnsreq);
	if (s->ai != NULL)
		evutil_freeaddrinfo(s->ai);
	if (s->ev_read)
		event_free(s->ev_read);
	if (s->ev_write)
		event_free(s->ev_write);
	if (s->ev_timer)
		event_free(s->ev_timer);
	if (s->ev_look)
		event_free(s->ev_look);
	session_dials_close(s);
	if (s->ev_watch)
		event_free(s->ev_watch);
	if (s->sshev != NULL) {
		ssh_event_remove_session(s->sshev, s->ssh);
		ssh_event_free(s->sshev);
	}
	if (s->key != NULL)
		ssh_key_free(s->key);
	if (s->ssh != NULL) {
		/*
		 * libssh's copy of the socket: if it still holds it now,
		 * ssh_disconnect() or ssh_free() may close it, or may forget
		 * it unclosed (seen during key exchange and after a keepalive
		 * timeout), which would keep the server's session and its
		 * remote ports alive.  Nothing can take the number between
		 * their close and ours (one thread, no fd made in between),
		 * so a copy still open afterwards is closed here.  A copy
		 * libssh already closed (ssh_get_fd() -1) is not touched:
		 * its number may be someone else's by now.
		 */
		int lfd = ssh_get_fd(s->ssh);

		if (ssh_is_connected(s->ssh))
			ssh_disconnect(s->ssh);
		ssh_free(s->ssh);
		if (lfd != -1 && lfd == s->ssh_fd && fcntl(lfd, F_GETFD) != -1)
			close(lfd);
	}
	if (s->fd != -1 && s->close_park)
		session_park(s->node, s->fd);
	else if (s->fd != -1) {
		if (s->close_rst)
			session_reset_fd(s->fd);
		close(s->fd);
	}
	free(s);
}

/*
 * Failures that cost the server nothing (refused, unreachable, no answer to
 * the SYN) are retried at retry_refused pace, not backed off.
 */
static int
session_tcp_level(const struct session *s, enum session_failure kind)
{
	return kind == SESSION_FAIL_CONNECT ||
	    (kind == SESSION_FAIL_TIMEOUT && s->phase <= S_TCP);
}

/*
 * A failure ends the session and hands the node its reason, in words for
 * people and as KIND, the server's KEY (host key kinds, else NULL) and ERR
 * (errno, 0: none) for code that must tell failures apart.
 */
static void
session_fail_as(struct session *s, enum session_failure kind, const char *key,
    int err, const char *fmt, ...)
{
	struct node		*n = s->node;
	struct node_failure	 f;
	char			 reason[REASON_MAX];
	int			 tcp_level = session_tcp_level(s, kind);
	va_list			 ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	memset(&f, 0, sizeof(f));
	f.kind = kind;
	snprintf(f.key, sizeof(f.key), "%s", key ? key : "");
	f.err = err;
	session_close(s);
	node_session_lost(n, &f, reason, tcp_level);
}

static void
session_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct session	*s = arg;

	s->dnsreq = NULL;
	if (result == EVUTIL_EAI_CANCEL)
		return;		/* session_close() is running */
	if (result != 0) {
		session_fail_as(s, SESSION_FAIL_RESOLVE, NULL, 0,
		    "cannot resolve %s: %s", s->node->conf->host,
		    evutil_gai_strerror(result));
		return;
	}
	s->ai = s->ai_next = res;
	s->phase = S_TCP;
	session_try_connect(s);
}

static int
session_tune_socket(int fd)
{
	const struct config	*c = td->conf;
	int			 one = 1;
	unsigned		 uto;

	/* Forwarded request/response traffic must not wait for Nagle. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		return -1;
	/* A dead network is noticed by the kernel before keepalives give up. */
	uto = (unsigned)(c->keepalive_interval * (uint64_t)c->keepalive_count);
	if (uto > 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto,
		    sizeof(uto));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	return 0;
}

static void
session_try_connect(struct session *s)
{
	struct evutil_addrinfo	*ai;
	char			 addr[INET6_ADDRSTRLEN];

	while ((ai = s->ai_next) != NULL) {
		s->ai_next = ai->ai_next;
		s->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (s->fd == -1) {
			s->tcp_errno = errno;
			snprintf(s->tcp_err, sizeof(s->tcp_err), "socket: %s",
			    strerror(errno));
			continue;
		}
		if (connect(s->fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    errno == EINPROGRESS) {
			s->ev_read = event_new(td->base, s->fd, EV_READ | EV_PERSIST,
			    session_io, s);
			s->ev_write = event_new(td->base, s->fd, EV_WRITE,
			    session_io, s);
			if (s->ev_read == NULL || s->ev_write == NULL)
				fatalx("%s: event_new", __func__);
			event_add(s->ev_write, NULL);
			if (ai->ai_addrlen <= sizeof(s->peer)) {
				memcpy(&s->peer, ai->ai_addr, ai->ai_addrlen);
				s->peerlen = ai->ai_addrlen;
				session_watch_arm(s);
			}
			return;
		}
		evutil_inet_ntop(ai->ai_family, ai->ai_family == AF_INET ?
		    (void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr :
		    (void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr,
		    addr, sizeof(addr));
		s->tcp_errno = errno;
		snprintf(s->tcp_err, sizeof(s->tcp_err), "connect to %s: %s",
		    addr, strerror(errno));
		close(s->fd);
		s->fd = -1;
	}
	/* Every address failed at the TCP level. */
	session_fail_as(s, SESSION_FAIL_CONNECT, NULL, s->tcp_errno, "%s",
	    s->tcp_err[0] ? s->tcp_err : "no address to connect to");
}

/*
 * Links come back from a partition sooner than TCP notices: after a few
 * seconds without answers its retransmission timer has backed off to
 * seconds (0.2, 0.4, 0.8 ... s), so the first segment after the link's
 * return may leave seconds later, and a connect's SYN is resent after 1,
 * 3, 7 s.  So while the one TCP connect of an attempt goes unanswered, a
 * fresh one to the same address is started every SESSION_DIAL_MS (the
 * first to complete is the session's); and while an established session
 * is stalled (TCP_INFO counts SESSION_STALL_RTO retransmission timeouts in
 * a row), fresh connects check the link: when one completes and the
 * session is still silent, it is reset and a new one made at once.  A
 * connect that completes but is not used is reset: the server's sshd sees
 * a connection that ended before its banner.
 */
static void
session_dial_close(struct session *s, unsigned i)
{
	if (s->dial_fd[i] == -1)
		return;
	event_free(s->dial_ev[i]);
	s->dial_ev[i] = NULL;
	session_reset_fd(s->dial_fd[i]);
	close(s->dial_fd[i]);
	s->dial_fd[i] = -1;
}

static void
session_dials_close(struct session *s)
{
	unsigned	i;

	for (i = 0; i < SESSION_DIALS; i++)
		session_dial_close(s, i);
}

static void	session_dial_cb(evutil_socket_t, short, void *);
static void	session_link_back(struct session *);

/* One more TCP connect to the session's address, in place of the oldest. */
static void
session_dial(struct session *s)
{
	unsigned	i = s->dial_next++ % SESSION_DIALS;
	int		fd;

	session_dial_close(s, i);
	fd = socket(s->peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd == -1)
		return;
	if (connect(fd, (struct sockaddr *)&s->peer, s->peerlen) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		return;
	}
	if ((s->dial_ev[i] = event_new(td->base, fd, EV_WRITE, session_dial_cb,
	    s)) == NULL) {
		close(fd);
		return;
	}
	s->dial_fd[i] = fd;
	event_add(s->dial_ev[i], NULL);
}

static void
session_dial_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s = arg;
	socklen_t	 len = sizeof(int);
	unsigned	 i;
	int		 err = 0;

	for (i = 0; i < SESSION_DIALS && s->dial_fd[i] != fd; i++)
		;
	if (i == SESSION_DIALS)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		/* Refused or unreachable: the attempt's own connect says so. */
		session_dial_close(s, i);
		return;
	}
	if (s->phase == S_TCP) {
		/* Ours now: the attempt goes on with this socket. */
		event_free(s->dial_ev[i]);
		s->dial_ev[i] = NULL;
		s->dial_fd[i] = -1;
		event_free(s->ev_read);
		event_free(s->ev_write);
		close(s->fd);
		s->fd = fd;
		s->ev_read = event_new(td->base, s->fd, EV_READ | EV_PERSIST,
		    session_io, s);
		s->ev_write = event_new(td->base, s->fd, EV_WRITE, session_io, s);
		if (s->ev_read == NULL || s->ev_write == NULL)
			fatalx("%s: event_new", __func__);
		session_tcp_done(s);
		return;
	}
	session_dial_close(s, i);
	if (s->phase == S_UP && s->probing)
		session_link_back(s);
}

/* A connect went through while the session was stalled. */
static void
session_link_back(struct session *s)
{
	struct node	*n = s->node;

	session_dials_close(s);
	s->probing = 0;
	if (s->raw.in_packets != s->probe_rx)
		return;		/* it spoke meanwhile: TCP caught up */
	log_entry(LOG_INFO, n->conf->name, NULL, NULL, NULL,
	    "%s: the link is back but the session is still silent "
	    "(TCP retransmitting); reconnecting", n->conf->name);
	/* The server gets our reset at once, and frees the remote ports. */
	s->close_rst = 1;
	session_fail_as(s, SESSION_FAIL_LOST, NULL, 0,
	    "link lost, and back before the session noticed");
}

static int
session_stalled(struct session *s)
{
	struct tcp_info	ti;
	socklen_t	len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(s->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1)
		return 0;
	return ti.tcpi_retransmits >= SESSION_STALL_RTO;
}

static void
session_watch_arm(struct session *s)
{
	struct timeval	tv = { 0, SESSION_DIAL_MS * 1000 };

	if (s->ev_watch != NULL && !evtimer_pending(s->ev_watch, NULL))
		evtimer_add(s->ev_watch, &tv);
}

/*
 * Every SESSION_DIAL_MS while a TCP connect is unanswered, or while a
 * session's keepalive is (armed by session_timer()).
 */
static void
session_watch(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s = arg;

	if (s->phase == S_TCP) {
		session_dial(s);
		return;
	}
	if (s->phase != S_UP) {
		event_del(s->ev_watch);
		return;
	}
	if (!s->probing) {
		if (s->raw.in_packets != s->watch_rx) {
			event_del(s->ev_watch);	/* answered */
			return;
		}
		if (!session_stalled(s))
			return;
		s->probing = 1;
		s->probe_rx = s->raw.in_packets;
		log_debug("%s: %s: no answer, TCP retransmitting: checking the "
		    "link", __func__, s->node->conf->name);
	} else if (s->raw.in_packets != s->probe_rx) {
		session_dials_close(s);
		s->probing = 0;
		event_del(s->ev_watch);
		return;
	}
	session_dial(s);
}

/*
 * The key the server presented, as "TYPE SHA256:..." (the type as
 * known_hosts writes it, the fingerprint as ssh-keygen -l shows it).
 */
int
session_server_key(struct session *s, char *buf, size_t len)
{
	ssh_key		 key = NULL;
	unsigned char	*hash = NULL;
	size_t		 hlen;
	char		*fp = NULL;
	int		 rc = -1;

	if (s->ssh != NULL &&
	    ssh_get_server_publickey(s->ssh, &key) == SSH_OK &&
	    ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
	    &hlen) == 0 &&
	    (fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash,
	    hlen)) != NULL) {
		snprintf(buf, len, "%s %s",
		    ssh_key_type_to_char(ssh_key_type(key)), fp);
		rc = 0;
	}
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	return rc;
}

/* The TCP connect finished (or failed): hand the socket to libssh. */
static void
session_tcp_done(struct session *s)
{
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		s->tcp_errno = err;
		snprintf(s->tcp_err, sizeof(s->tcp_err), "%s",
		    err == ECONNREFUSED ? "connection refused" : strerror(err));
		session_dials_close(s);
		event_free(s->ev_read);
		event_free(s->ev_write);
		s->ev_read = s->ev_write = NULL;
		close(s->fd);
		s->fd = -1;
		session_try_connect(s);
		return;
	}
	session_dials_close(s);
	event_del(s->ev_watch);
	/* The link works: a session it lost may be told so now. */
	session_unpark(s->node);
	if (session_tune_socket(s->fd) == -1) {
		err = errno;
		session_fail_as(s, SESSION_FAIL_LOCAL, NULL, err,
		    "socket options: %s", strerror(err));
		return;
	}
	/*
	 * libssh gets a copy of the socket: it closes the one it holds on a
	 * write error or a DISCONNECT, from inside whatever call met it (a
	 * channel write in forward.c, a keepalive), and the number was then
	 * free for the next accept() or socket() while our events still
	 * watched it and session_close() would close it once more: another
	 * connection's socket (a pool client got an SSH banner, seen once in
	 * t_pool.sh).  Ours stays open, and ours, until session_close().
	 */
	if ((s->ssh_fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		err = errno;
		session_fail_as(s, SESSION_FAIL_LOCAL, NULL, err, "dup: %s",
		    strerror(err));
		return;
	}
	if (ssh_options_set(s->ssh, SSH_OPTIONS_FD, &s->ssh_fd) != SSH_OK) {
		close(s->ssh_fd);
		s->ssh_fd = -1;
		session_fail_as(s, SESSION_FAIL_LOCAL, NULL, 0, "libssh: %s",
		    ssh_get_error(s->ssh));
		return;
	}
	s->phase = S_KEX;
	event_add(s->ev_read, NULL);
	session_step(s);
}

/*
 * accept-new: the key is trusted only once it is on disk (knownhosts.h);
 * a failed write refuses the connection.  Fails the session; -1 then.
 */
static int
session_record_key(struct session *s, const char *key)
{
	char	*entry = NULL, why[PATH_MAX + 128];
	int	 err;

	if (ssh_session_export_known_hosts_entry(s->ssh, &entry) != SSH_OK) {
		session_fail_as(s, SESSION_FAIL_HOSTKEY_UNRECORDED, key, 0,
		    "host key unrecorded for node %s: server sent %s, "
		    "libssh: %s", s->node->conf->name, key,
		    ssh_get_error(s->ssh));
		return -1;
	}
	if (knownhosts_record(td->conf->known_hosts, entry, why,
	    sizeof(why)) == -1) {
		err = errno;
		ssh_string_free_char(entry);
		session_fail_as(s, SESSION_FAIL_HOSTKEY_UNRECORDED, key, err,
		    "host key unrecorded for node %s: server sent %s, %s "
		    "(errno %d)", s->node->conf->name, key, why, err);
		return -1;
	}
	ssh_string_free_char(entry);
	return 0;
}

static int
session_hostkey(struct session *s)
{
	struct node		*n = s->node;
	char			 key[160];
	enum ssh_known_hosts_e	 kh;
	int			 rc = -1;

	if (session_server_key(s, key, sizeof(key)) == -1)
		snprintf(key, sizeof(key), "unknown key");
	kh = ssh_session_is_known_server(s->ssh);
	switch (kh) {
	case SSH_KNOWN_HOSTS_OK:
		rc = 0;
		break;
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER:
		session_fail_as(s, SESSION_FAIL_HOSTKEY_MISMATCH, key, 0,
		    "host key mismatch: server sent %s, %s has another", key,
		    td->conf->known_hosts);
		break;
	case SSH_KNOWN_HOSTS_UNKNOWN:
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		if (td->conf->host_key_policy == HOSTKEY_ACCEPT_NEW) {
			if (session_record_key(s, key) == -1)
				break;
			log_entry(LOG_NOTICE, n->conf->name, "host-key-recorded",
			    NULL, NULL, "%s: recorded new host key %s in %s",
			    n->conf->name, key, td->conf->known_hosts);
			rc = 0;
			break;
		}
		session_fail_as(s, SESSION_FAIL_HOSTKEY_UNKNOWN, key, 0,
		    "host key unknown: server sent %s, not in %s (strict)", key,
		    td->conf->known_hosts);
		break;
	case SSH_KNOWN_HOSTS_ERROR:
	default:
		session_fail_as(s, SESSION_FAIL_HOSTKEY_CHECK, key, 0,
		    "host key check: %s", ssh_get_error(s->ssh));
		break;
	}
	return rc;
}

/*
 * Refuse a key others can read, as OpenSSH's sshkey_perm_ok() does: only a
 * key file we own is judged.  Fails the session; -1 then.
 */
static int
session_key_perm(struct session *s, const char *path, const struct stat *st)
{
	if (st->st_uid == geteuid() && (st->st_mode & 077) != 0) {
		session_fail_as(s, SESSION_FAIL_IDENTITY, NULL, 0,
		    "UNPROTECTED PRIVATE KEY FILE! Permissions "
		    "%04o for '%s' are too open. It is required that your "
		    "private key files are NOT accessible by others. This "
		    "private key will be ignored.",
		    (unsigned)(st->st_mode & 07777), path);
		return -1;
	}
	return 0;
}

/*
 * No identity in tunneld.conf: libssh offers the IdentityFile of ssh_config
 * (first in its list once the config is read) without looking at its mode.
 * An absolute path is judged like ours; defaults (%d/...) and a missing
 * file are left to libssh.
 */
static int
session_check_config_identity(struct session *s)
{
	char		*id = NULL;
	struct stat	 st;
	int		 rc = 0;

	if (ssh_options_get(s->ssh, SSH_OPTIONS_IDENTITY, &id) != SSH_OK)
		return 0;
	if (id[0] == '/' && stat(id, &st) == 0)
		rc = session_key_perm(s, id, &st);
	ssh_string_free_char(id);
	return rc;
}

static int
session_load_identity(struct session *s)
{
	const char	*path = s->node->conf->identity;
	struct stat	 st;
	int		 err;

	if (stat(path, &st) == -1) {
		err = errno;
		session_fail_as(s, SESSION_FAIL_IDENTITY, NULL, err,
		    "identity %s: %s", path, strerror(err));
		return -1;
	}
	if (session_key_perm(s, path, &st) == -1)
		return -1;
	if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &s->key) !=
	    SSH_OK) {
		session_fail_as(s, SESSION_FAIL_IDENTITY, NULL, 0,
		    "identity %s: cannot load private key (encrypted keys "
		    "need ssh-agent)", path);
		return -1;
	}
	return 0;
}

static void
session_up(struct session *s)
{
	struct node	*n = s->node;
	struct timeval	 tv;

	s->phase = S_UP;
	if ((s->sshev = ssh_event_new()) == NULL ||
	    ssh_event_add_session(s->sshev, s->ssh) != SSH_OK) {
		session_fail_as(s, SESSION_FAIL_LOCAL, NULL, 0,
		    "libssh: cannot create event");
		return;
	}
	s->rx_seen = s->raw.in_packets;
	s->missed = 0;
	event_del(s->ev_timer);
	tv.tv_sec = td->conf->keepalive_interval / 1000;
	tv.tv_usec = (td->conf->keepalive_interval % 1000) * 1000;
	if (td->conf->keepalive_interval > 0)
		event_add(s->ev_timer, &tv);
	node_session_up(n);
	forward_session_up(n);
	session_want_listen(s);
}

/* Drive the handshake as far as it goes without blocking. */
static void
session_step(struct session *s)
{
	int	rc;

	switch (s->phase) {
	case S_KEX:
		rc = ssh_connect(s->ssh);
		if (rc == SSH_AGAIN)
			break;
		if (rc != SSH_OK) {
			session_fail_as(s, SESSION_FAIL_KEX, NULL, 0,
			    "key exchange: %s", ssh_get_error(s->ssh));
			return;
		}
		if (session_hostkey(s) == -1)
			return;
		if (s->node->conf->identity != NULL ?
		    session_load_identity(s) == -1 :
		    td->conf->ssh_config != NULL &&
		    session_check_config_identity(s) == -1)
			return;
		s->phase = S_AUTH;
		/* FALLTHROUGH */
	case S_AUTH:
		if (s->key != NULL)
			rc = ssh_userauth_publickey(s->ssh, NULL, s->key);
		else
			rc = ssh_userauth_publickey_auto(s->ssh, NULL, NULL);
		if (rc == SSH_AUTH_AGAIN)
			break;
		if (rc != SSH_AUTH_SUCCESS) {
			session_fail_as(s, SESSION_FAIL_AUTH, NULL, 0,
			    "authentication failed for %s: %s",
			    s->node->conf->name, rc == SSH_AUTH_DENIED ?
			    "public key refused" : ssh_get_error(s->ssh));
			return;
		}
		session_up(s);
		return;
	default:
		break;
	}
	session_flush(s);
}

/*
 * The one global-request slot.  libssh 0.10 keeps a single reply state per
 * session and hands a pending answer to whichever global request is called
 * next, without sending that request: a tcpip-forward asked while a
 * keepalive is unanswered gets the keepalive's answer (OpenSSH refuses
 * keepalive@openssh.com, so it reads as "port in use") and is never sent.
 * Whether an answer is still outstanding cannot be told from outside: on
 * loopback it often arrives, and is consumed, within the very call that sent
 * the keepalive.  So keepalives are not sent while a forward request is in
 * flight, and a refusal of a request that followed a keepalive is not
 * believed: the request is sent once more, from a slot that is free now.
 * Asking twice is harmless (a second refusal is real).
 */
static void
session_greq(struct session *s)
{
	struct forward	*f;
	int		 bound = 0, rc, tries;

	if (s->phase != S_UP)
		return;
	if ((f = s->greq) == NULL) {
		if ((f = forward_next_listen(s->node)) == NULL)
			return;
		s->greq_after_ka = s->ka_unreaped;
		s->ka_unreaped = 0;
		s->ka_sent = 0;
		s->greq = f;
		/* A retry keeps REFUSED (and the node degraded) until answered. */
		if (f->state != FWD_REFUSED)
			f->state = FWD_PENDING;
	}
	for (tries = 0; tries < 2; tries++) {
		rc = ssh_channel_listen_forward(s->ssh, f->conf->listen_host,
		    f->conf->listen_port, &bound);
		if (rc == SSH_AGAIN) {
			session_flush(s);
			return;
		}
		if (rc == SSH_OK || !s->greq_after_ka ||
		    !ssh_is_connected(s->ssh))
			break;
		/* Perhaps the keepalive's answer: ask for real. */
		s->greq_after_ka = 0;
	}
	s->greq = NULL;
	s->greq_after_ka = 0;
	if (rc == SSH_OK)
		forward_listen_result(f, 1, NULL);
	else
		forward_listen_result(f, 0, ssh_get_error(s->ssh));
	/* The node may be gone from under us only via session_close(). */
	if (s->node->sess == s)
		session_greq(s);
}

void
session_want_listen(struct session *s)
{
	if (s != NULL && s->greq == NULL)
		session_greq(s);
}

static void
session_io(evutil_socket_t fd, short what, void *arg)
{
	struct session	*s = arg;
	struct node	*n = s->node;
	uint64_t	 rx0 = s->sock.in_bytes;
	int		 i, one = 1;

	switch (s->phase) {
	case S_TCP:
		session_tcp_done(s);
		return;
	case S_KEX:
	case S_AUTH:
		session_step(s);
		return;
	case S_UP:
		break;
	default:
		return;
	}

	/*
	 * libssh reads at most 4 KiB per poll; take helpings while the socket
	 * stays readable so that bulk transfers need fewer loop turns.  Bytes
	 * read, not packets: a 32 KiB packet takes 8 helpings, and stopping
	 * at the first that completes none cut a wakeup to one or two.  A
	 * short helping emptied the socket: another poll() would find nothing
	 * (and more arriving meanwhile wakes the loop again).
	 */
	for (i = 0; i < SESSION_READS_MAX; i++) {
		uint64_t before = s->sock.in_bytes;

		if (ssh_event_dopoll(s->sshev, 0) == SSH_ERROR ||
		    !ssh_is_connected(s->ssh)) {
			const char *msg = ssh_get_error(s->ssh);

			session_fail_as(s, SESSION_FAIL_LOST, NULL, 0,
			    "session lost: %s", msg && *msg ? msg :
			    "connection closed by server");
			return;
		}
		if (n->sess != s)
			return;
		if (s->sock.in_bytes - before < SESSION_READ_SIZE)
			break;
	}
	/*
	 * ACK what we read now.  sshd does not set TCP_NODELAY on a session
	 * without a pty, so a reply the target writes in two pieces leaves
	 * its second SSH packet waiting for our ACK of the first, which the
	 * kernel delays up to 40 ms: 44 ms per request through a local
	 * forward, measured (t_forward.sh).  Setting TCP_QUICKACK sends the
	 * pending ACK at once; the kernel drops it again, hence every time
	 * something was read (and only then: nothing waits for an ACK else).
	 */
	if (s->sock.in_bytes != rx0)
		(void)setsockopt(s->fd, IPPROTO_TCP, TCP_QUICKACK, &one,
		    sizeof(one));
	/* All read so far is looked at now (see session_flush()). */
	s->look_rx = s->sock.in_bytes;
	if (s->greq != NULL)
		session_greq(s);
	session_rtt_sample(s);
	forward_poll(n);
	if (n->sess == s)
		session_flush(s);
}

static void
session_timer(evutil_socket_t fd, short what, void *arg)
{
	struct session		*s = arg;
	const struct config	*c = td->conf;

	if (s->phase != S_UP) {
		session_fail_as(s, SESSION_FAIL_TIMEOUT, NULL, 0,
		    "timeout after %llus during %s",
		    (unsigned long long)(c->connect_timeout / 1000),
		    phase_names[s->phase]);
		return;
	}

	/* ServerAliveCountMax: nothing at all came back for N intervals. */
	if (s->raw.in_packets == s->rx_seen) {
		if (++s->missed >= c->keepalive_count) {
			/* The link is down, or sshd hung: see session_park(). */
			s->close_park = 1;
			session_fail_as(s, SESSION_FAIL_LOST, NULL, 0,
			    "keepalive timeout after %llus",
			    (unsigned long long)(c->keepalive_interval *
			    (uint64_t)c->keepalive_count / 1000));
			return;
		}
	} else
		s->missed = 0;
	s->rx_seen = s->raw.in_packets;
	/* Until something answers what this tick sends: session_watch(). */
	s->watch_rx = s->raw.in_packets;
	session_watch_arm(s);

	if (s->greq == NULL && forward_next_listen(s->node) != NULL) {
		/* The request's own answer proves liveness this interval. */
		session_greq(s);
	} else if (s->greq == NULL) {
		uint64_t sent = s->raw.out_packets, rx = s->raw.in_packets;
		uint64_t t0 = now_us();

		(void)ssh_send_keepalive(s->ssh);
		/* A second call sends when the first only reaped an old answer. */
		(void)ssh_send_keepalive(s->ssh);
		if (s->raw.out_packets != sent) {
			s->ka_unreaped = 1;
			/* Before the calls: the answer may come within them. */
			s->ka_rx = rx;
			s->ka_sent = t0;
			session_rtt_sample(s);
		}
	}
	session_flush(s);
}

/*
 * The ProxyCommand libssh read from ssh_config for node NC (ProxyJump
 * comes out as one: "ssh -W [%h]:%p JUMP"), or NULL.  tunneld makes the
 * TCP connect itself (session_try_connect()), so libssh would never run
 * it: the node would be reached straight at its HostName, silently.
 */
static char *
session_proxy_command(const struct config *c, const struct node_conf *nc)
{
	ssh_session	 ssh;
	char		*pc = NULL;
	int		 off = 0, verbosity = SSH_LOG_NOLOG;

	if (nc->local || c->ssh_config == NULL || (ssh = ssh_new()) == NULL)
		return NULL;
	ssh_options_set(ssh, SSH_OPTIONS_PROCESS_CONFIG, &off);
	ssh_options_set(ssh, SSH_OPTIONS_LOG_VERBOSITY, &verbosity);
	if (ssh_options_set(ssh, SSH_OPTIONS_HOST, nc->host) != SSH_OK ||
	    ssh_options_parse_config(ssh, c->ssh_config) != SSH_OK ||
	    ssh_options_get(ssh, SSH_OPTIONS_PROXYCOMMAND, &pc) != SSH_OK)
		pc = NULL;
	ssh_free(ssh);
	return pc;
}

static void
session_proxy_why(const struct config *c, const struct node_conf *nc,
    const char *pc, char *buf, size_t len)
{
	int	jump = strncmp(pc, "ssh ", 4) == 0 && strstr(pc, " -W ") != NULL;

	snprintf(buf, len, "node %s: %s gives host '%s' a %s (%s), which "
	    "tunneld does not support; instead make the jump host a node with "
	    "a local_forward to this node's SSH port, and point this node's "
	    "ssh = at that forward", nc->name, c->ssh_config, nc->host,
	    jump ? "ProxyJump" : "ProxyCommand", pc);
}

/*
 * Checks of a loaded config that need libssh: a node whose ssh_config entry
 * has a ProxyJump or ProxyCommand is refused, with its line, by
 * --check-config, at start and on reload.  Returns how many errors it
 * added to ERRS.
 */
int
session_check_config(const struct config *c, const char *path,
    struct config_errors *errs)
{
	const struct node_conf	*nc;
	char			*pc, why[512], *msg, **nm;
	int			 bad = 0;

	TAILQ_FOREACH(nc, &c->nodes, entry) {
		if ((pc = session_proxy_command(c, nc)) == NULL)
			continue;
		session_proxy_why(c, nc, pc, why, sizeof(why));
		ssh_string_free_char(pc);
		bad++;
		if (asprintf(&msg, "%s:%d: %s", path, nc->line, why) == -1)
			continue;
		if ((nm = reallocarray(errs->msg, errs->n + 1,
		    sizeof(*nm))) == NULL) {
			free(msg);
			continue;
		}
		errs->msg = nm;
		errs->msg[errs->n++] = msg;
	}
	return bad;
}

int
session_start(struct node *n)
{
	const struct node_conf	*nc = n->conf;
	const struct config	*c = td->conf;
	struct session		*s;
	struct evutil_addrinfo	 hints;
	struct evdns_getaddrinfo_request *req;
	struct timeval		 tv;
	char			*host = NULL, portstr[8];
	unsigned int		 port = 0;
	int			 off = 0, verbosity = SSH_LOG_NOLOG, i;
	long			 tmo;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->node = n;
	s->fd = s->ssh_fd = -1;
	for (i = 0; i < SESSION_DIALS; i++)
		s->dial_fd[i] = -1;
	n->sess = s;
	if ((s->ssh = ssh_new()) == NULL)
		goto fail;
	ssh_set_blocking(s->ssh, 0);
	ssh_set_counters(s->ssh, &s->sock, &s->raw);
	/* Only the ssh_config named in tunneld.conf, never ~/.ssh/config. */
	ssh_options_set(s->ssh, SSH_OPTIONS_PROCESS_CONFIG, &off);
	ssh_options_set(s->ssh, SSH_OPTIONS_LOG_VERBOSITY, &verbosity);
	if (ssh_options_set(s->ssh, SSH_OPTIONS_HOST, nc->host) != SSH_OK)
		goto fail;
	if (c->ssh_config != NULL &&
	    ssh_options_parse_config(s->ssh, c->ssh_config) != SSH_OK) {
		session_fail_as(s, SESSION_FAIL_LOCAL, NULL, 0,
		    "cannot read ssh_config %s", c->ssh_config);
		return 0;
	}
	if (c->ssh_config != NULL &&
	    ssh_options_get(s->ssh, SSH_OPTIONS_PROXYCOMMAND, &host) == SSH_OK) {
		char why[512];

		/* Refused when loaded: only a file changed under us gets here. */
		session_proxy_why(c, nc, host, why, sizeof(why));
		ssh_string_free_char(host);
		session_fail_as(s, SESSION_FAIL_LOCAL, NULL, 0, "%s", why);
		return 0;
	}
	/* tunneld.conf wins over ssh_config where both say something. */
	if (nc->user)
		ssh_options_set(s->ssh, SSH_OPTIONS_USER, nc->user);
	if (nc->port) {
		port = nc->port;
		ssh_options_set(s->ssh, SSH_OPTIONS_PORT, &port);
	}
	ssh_options_set(s->ssh, SSH_OPTIONS_KNOWNHOSTS, c->known_hosts);
	/* One trust store: the system-wide file must not vouch for a node. */
	ssh_options_set(s->ssh, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
	/*
	 * SSH_OPTIONS_STRICTHOSTKEYCHECK stays at libssh's default (on): with
	 * it off, libssh 0.10's ssh_session_is_known_server() answers OK for
	 * any key, changed or unknown.  session_hostkey() applies the policy.
	 */
	tmo = (long)(c->connect_timeout / 1000);
	ssh_options_set(s->ssh, SSH_OPTIONS_TIMEOUT, &tmo);

	if (ssh_options_get(s->ssh, SSH_OPTIONS_HOST, &host) != SSH_OK)
		goto fail;
	if (ssh_options_get_port(s->ssh, &port) != SSH_OK)
		port = 22;
	snprintf(portstr, sizeof(portstr), "%u", port);

	s->ev_timer = event_new(td->base, -1, EV_PERSIST, session_timer, s);
	s->ev_look = evtimer_new(td->base, session_look, s);
	s->ev_watch = event_new(td->base, -1, EV_PERSIST, session_watch, s);
	if (s->ev_timer == NULL || s->ev_look == NULL || s->ev_watch == NULL)
		fatalx("%s: event_new", __func__);
	tv.tv_sec = c->connect_timeout / 1000;
	tv.tv_usec = (c->connect_timeout % 1000) * 1000;
	event_add(s->ev_timer, &tv);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/*
	 * No EVUTIL_AI_ADDRCONFIG: it counts only non-loopback addresses, so
	 * ::1 (or a name with only AAAA records, on a host whose IPv6 is
	 * loopback or link-local) could not be resolved at all.  An address
	 * this host cannot reach fails its connect at once, and the next one
	 * is tried.
	 */
	s->phase = S_RESOLVE;
	log_debug("%s: %s: connecting to %s port %s", __func__, nc->name, host,
	    portstr);
	/*
	 * For numeric hosts the callback runs, and may free S, before this
	 * returns NULL: S is only touched when a request is still pending.
	 */
	req = evdns_getaddrinfo(td->dns, host, portstr, &hints, session_dns_cb,
	    s);
	if (req != NULL)
		s->dnsreq = req;
	ssh_string_free_char(host);
	return 0;
fail:
	ssh_string_free_char(host);
	session_fail_as(s, SESSION_FAIL_LOCAL, NULL, 0,
	    "libssh: cannot set up session");
	return 0;
}
