/*
 * ctl-abuse: many hostile clients of tunneld's control socket at once, for
 * tests/t_control_abuse.sh.
 *
 *	ctl-abuse SOCKET CLIENTS SECONDS [KIND]
 *
 * Keeps CLIENTS connections open for SECONDS, each slot playing one kind of
 * bad client (slot number modulo the number of kinds, or KIND for all) and
 * reconnecting 250 ms after the daemon closes it:
 *
 *	garbage   a line that is no command
 *	binary    bytes with NUL and other control characters, then a newline
 *	overlong  4096 bytes and a newline, more than the 1024-byte limit
 *	idle      connects and sends nothing
 *	half      half a request ("stat") and nothing more
 *	trickle   a valid request, one byte a second, never finished in time
 *	noread    "status\n", then never reads the answer
 *	watchmute "watch\n", then never reads the events
 *
 * Everything is non-blocking in one poll() loop, bounded by SECONDS, or
 * ended sooner by SIGUSR1 (a test that needs the flood for as long as its
 * own checks take, however slow the machine).  At the end it closes every
 * connection and prints one line per kind:
 *
 *	KIND conns=N replies=N closed=N max_open_ms=N first_reply=TEXT
 *
 * conns: connections made; replies: connections that got a reply line;
 * closed: connections the daemon closed (EOF or reset) before the end;
 * max_open_ms: the longest time from connect to that close; first_reply:
 * the first reply line received (up to 200 bytes).  Exit 0, or 1 when it
 * could not run at all (bad arguments, no socket).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum kind { GARBAGE, BINARY, OVERLONG, IDLE, HALF, TRICKLE, NOREAD, WATCHMUTE,
	NKINDS };
static const char *kind_names[NKINDS] = { "garbage", "binary", "overlong",
	"idle", "half", "trickle", "noread", "watchmute" };

#define MAX_CLIENTS	1000
#define OUT_MAX		4200
#define RECONNECT_MS	250	/* a flood, but one a shared CI box survives */

struct client {
	int		 fd;
	enum kind	 kind;
	long long	 opened;	/* ms */
	long long	 next_send;	/* trickle: ms of the next byte */
	long long	 next_open;	/* ms: reconnect no sooner */
	char		 out[OUT_MAX];
	size_t		 outlen, outoff;
	int		 replied;
	char		 line[256];
	size_t		 linelen;
};

struct stats {
	long	 conns, replies, closed, max_open_ms;
	char	 first_reply[256];
};

static struct stats	 st[NKINDS];
static const char	*sockpath;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
client_open(struct client *c)
{
	struct sockaddr_un	 sun;
	size_t			 i;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sockpath);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		return -1;
	/* A Unix connect completes at once or fails (EAGAIN: backlog full). */
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->opened = now_ms();
	c->next_send = c->opened;
	c->outoff = 0;
	c->replied = 0;
	c->linelen = 0;
	st[c->kind].conns++;
	switch (c->kind) {
	case GARBAGE:
		c->outlen = (size_t)snprintf(c->out, sizeof(c->out),
		    "xyzzy plugh %d\n", rand());
		break;
	case BINARY:
		/* NUL and friends, but no newline before the last byte. */
		for (i = 0; i < 64; i++)
			if ((c->out[i] = (char)(rand() % 32)) == '\n')
				c->out[i] = '\0';
		c->out[10] = '\0';
		c->out[63] = '\n';
		c->outlen = 64;
		break;
	case OVERLONG:
		memset(c->out, 'a', 4096);
		c->out[4096] = '\n';
		c->outlen = 4097;
		break;
	case IDLE:
		c->outlen = 0;
		break;
	case HALF:
		c->outlen = (size_t)snprintf(c->out, sizeof(c->out), "stat");
		break;
	case TRICKLE:
		c->outlen = (size_t)snprintf(c->out, sizeof(c->out),
		    "status                                        \n");
		break;
	case NOREAD:
		c->outlen = (size_t)snprintf(c->out, sizeof(c->out), "status\n");
		break;
	case WATCHMUTE:
		c->outlen = (size_t)snprintf(c->out, sizeof(c->out), "watch\n");
		break;
	case NKINDS:
		break;
	}
	return 0;
}

static void
client_closed(struct client *c, long long now)
{
	struct stats	*s = &st[c->kind];

	s->closed++;
	if (now - c->opened > s->max_open_ms)
		s->max_open_ms = now - c->opened;
	close(c->fd);
	c->fd = -1;
	c->next_open = now + RECONNECT_MS;
}

static void
client_write(struct client *c, long long now)
{
	size_t	 n = c->outlen - c->outoff;
	ssize_t	 w;

	if (n == 0)
		return;
	if (c->kind == TRICKLE) {
		if (now < c->next_send)
			return;
		n = 1;
		c->next_send = now + 1000;
	}
	w = send(c->fd, c->out + c->outoff, n, MSG_NOSIGNAL);
	if (w > 0)
		c->outoff += (size_t)w;
	else if (w == -1 && errno != EAGAIN && errno != EINTR)
		client_closed(c, now);
}

/* 0: still open; -1: the daemon closed it. */
static int
client_read(struct client *c, long long now)
{
	char	 buf[4096];
	ssize_t	 r;
	ssize_t	 i;

	r = recv(c->fd, buf, sizeof(buf), 0);
	if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR)) {
		client_closed(c, now);
		return -1;
	}
	for (i = 0; i < r && !c->replied; i++) {
		if (buf[i] == '\n') {
			c->line[c->linelen] = '\0';
			c->replied = 1;
			st[c->kind].replies++;
			if (st[c->kind].first_reply[0] == '\0')
				snprintf(st[c->kind].first_reply,
				    sizeof(st[c->kind].first_reply), "%.200s",
				    c->line);
		} else if (c->linelen < sizeof(c->line) - 1)
			c->line[c->linelen++] = buf[i];
	}
	return 0;
}

static volatile sig_atomic_t	stop;

static void
on_usr1(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char *argv[])
{
	struct sigaction	 sa;
	static struct client	 cl[MAX_CLIENTS];
	static struct pollfd	 pfd[MAX_CLIENTS];
	long long		 start, end, now;
	int			 nclients, seconds, i, k, only = -1;

	if (argc == 5)
		for (k = 0; k < NKINDS; k++)
			if (strcmp(argv[4], kind_names[k]) == 0)
				only = k;
	if ((argc != 4 && (argc != 5 || only == -1)) ||
	    (nclients = atoi(argv[2])) <= 0 ||
	    nclients > MAX_CLIENTS || (seconds = atoi(argv[3])) <= 0 ||
	    seconds > 600) {
		fprintf(stderr, "usage: ctl-abuse SOCKET CLIENTS(1-%d) "
		    "SECONDS(1-600) [KIND]\n", MAX_CLIENTS);
		return 1;
	}
	sockpath = argv[1];
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;	/* no SA_RESTART: poll() returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	srand((unsigned)getpid());
	for (i = 0; i < nclients; i++) {
		cl[i].fd = -1;
		cl[i].kind = (enum kind)(only != -1 ? only : i % NKINDS);
	}
	start = now_ms();
	end = start + (long long)seconds * 1000;
	for (now = start; now < end && !stop; now = now_ms()) {
		for (i = 0; i < nclients; i++) {
			if (cl[i].fd == -1 && now >= cl[i].next_open &&
			    client_open(&cl[i]) == -1)
				cl[i].next_open = now + RECONNECT_MS;
			pfd[i].fd = cl[i].fd;
			pfd[i].events = 0;
			if (cl[i].fd == -1)
				continue;
			/* noread and watchmute never read, on purpose. */
			if (cl[i].kind != NOREAD && cl[i].kind != WATCHMUTE)
				pfd[i].events |= POLLIN;
			if (cl[i].outoff < cl[i].outlen)
				pfd[i].events |= POLLOUT;
		}
		/* 100 ms: trickle's pace, and the reconnect of refused slots. */
		if (poll(pfd, (nfds_t)nclients, 100) == -1 && errno != EINTR) {
			perror("poll");
			return 1;
		}
		now = now_ms();
		for (i = 0; i < nclients; i++) {
			if (cl[i].fd == -1 || pfd[i].fd == -1)
				continue;
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				if (cl[i].kind == NOREAD ||
				    cl[i].kind == WATCHMUTE) {
					/* Only a hang-up counts: nothing is read. */
					if (pfd[i].revents & (POLLHUP | POLLERR))
						client_closed(&cl[i], now);
					continue;
				}
				if (client_read(&cl[i], now) == -1)
					continue;
			}
			if (cl[i].fd != -1)
				client_write(&cl[i], now);
		}
	}
	for (i = 0; i < nclients; i++)
		if (cl[i].fd != -1)
			close(cl[i].fd);
	for (k = 0; k < NKINDS; k++)
		printf("%s conns=%ld replies=%ld closed=%ld max_open_ms=%ld "
		    "first_reply=%s\n", kind_names[k], st[k].conns,
		    st[k].replies, st[k].closed, st[k].max_open_ms,
		    st[k].first_reply);
	return 0;
}
