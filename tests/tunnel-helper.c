/*
 * tunnel-helper: small network and JSON tools for the tunnel scenarios
 * (t_forward.sh, t_reconnect.sh, t_hostkey.sh, t_unreachable.sh).
 *
 *	tunnel-helper json PATH		< reply
 *	tunnel-helper hole PORT		(a listener whose SYNs go unanswered)
 *	tunnel-helper eof PORT [MAX_MS]	(how soon a connection is closed)
 *	tunnel-helper rtt PORT COUNT [MAX_MS]
 *	tunnel-helper slowread PORT KIB_PER_S
 *	tunnel-helper splitecho PORT
 *	tunnel-helper greet PORT
 *	tunnel-helper greeted PORT COUNT [MAX_MS]
 *	tunnel-helper slowloris PORT CONNS SECONDS
 *	tunnel-helper noread PORT SECONDS REQUEST
 *	tunnel-helper hold PORT CONNS REQUEST
 *
 * json: reads one JSON document (a `tunnelctl --json status` reply) from
 * stdin and prints the value at PATH: dot-separated object keys, array
 * indexes, or `key=value` to pick the array element whose member KEY is the
 * string VALUE, e.g. `nodes.name=runpod.forwards.0.bytes_in`.  Strings are
 * printed bare, null as "null", numbers as JSON does, objects and arrays as
 * compact JSON.  Exit 1 when PATH does not exist, 2 on bad input.
 *
 * hole: listens on 127.0.0.1:PORT with a backlog of 0 and fills the accept
 * queue with its own connection, then never accepts: the kernel drops every
 * further SYN, so a client's connect() hangs as it does towards a
 * blackholed address, all on loopback.  Prints "ready" once the queue is
 * full; exits on SIGTERM or after 600 s.
 *
 * eof: connects to 127.0.0.1:PORT and waits (at most MAX_MS, default
 * 5000) for the peer to end the connection without sending anything.
 * Prints "eof MS", "reset MS", "data MS" (bytes arrived) or "timeout MS";
 * exit 0 for eof or reset, 1 otherwise.
 *
 * rtt: COUNT round trips of a 64-byte message through an echo service at
 * 127.0.0.1:PORT on one connection; prints "rtt n=COUNT p50_ms=.. max_ms=.."
 * and exits 1 if any round trip is wrong or takes longer than MAX_MS
 * (default 10000).
 *
 * slowread: connects to 127.0.0.1:PORT, shuts its write side, and copies
 * what arrives to stdout at no more than KIB_PER_S KiB/s (a slow reader:
 * the sender must be held back, not buffered for), until EOF.  Exit 0 at
 * EOF, 1 on an error.
 *
 * splitecho: an echo server on 127.0.0.1:PORT that answers each 64-byte
 * message in two writes 2 ms apart, as a server that writes headers and
 * body separately does.  A hop with Nagle's algorithm on holds the second
 * piece until the first is acknowledged: about 40 ms per round trip with a
 * delayed ACK.  One process per connection; exits on SIGTERM or after 600 s.
 *
 * greet: a server on 127.0.0.1:PORT that speaks first, as SSH, SMTP and
 * MySQL do: "hello\n" the moment it accepts, then it echoes.
 *
 * greeted: COUNT connections to 127.0.0.1:PORT, one after the other, each
 * waiting (at most MAX_MS, default 3000) for the server's "hello\n"
 * without sending anything.  Prints "greeted ok=N of COUNT max_ms=.." and
 * exits 1 unless every one was greeted.
 *
 * slowloris: keeps CONNS connections to an HTTP server at 127.0.0.1:PORT
 * for SECONDS, each sending the start of a GET and then one more header
 * line a second, never the blank line that ends the request; a connection
 * the server closes is opened again a second later.  Prints "slowloris open=N (now)
 * max=N closed_by_server=N" every second to stdout.  Exit 0.
 *
 * noread: one connection to 127.0.0.1:PORT (a 4 KiB receive buffer) that
 * sends REQUEST (with "\r\n" for CRLF written as such) over and over for
 * SECONDS, as fast as the server takes it, and never reads an answer: a
 * pipelining client that does not read.  Prints "sent N" (whole requests
 * the server took) and exits 0; 1 if the connection failed.
 *
 * hold: CONNS connections to 127.0.0.1:PORT (4 KiB receive buffers), one
 * after another, REQUEST ("\r\n" as in noread) sent on each 20 ms after
 * its connect: after the accept.  Of each answer only its status line is
 * read (at most 10 s in all), the rest left unread while the others are
 * read; prints "200=N 503=N other=N none=N" and exits 0.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "netutil.h"

static double
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ json */

static int
cmd_json(const char *path)
{
	json_error_t	 err;
	json_t		*root, *v;
	char		*copy, *tok, *save = NULL, *s;

	if ((root = json_loadf(stdin, 0, &err)) == NULL) {
		fprintf(stderr, "tunnel-helper json: %s (line %d)\n", err.text,
		    err.line);
		return 2;
	}
	if ((copy = strdup(path)) == NULL)
		return 2;
	v = root;
	for (tok = strtok_r(copy, ".", &save); tok != NULL && v != NULL;
	    tok = strtok_r(NULL, ".", &save)) {
		char	*eq = strchr(tok, '='), *end;

		if (json_is_array(v) && eq != NULL) {
			json_t	*e, *found = NULL;
			size_t	 i;

			*eq = '\0';
			json_array_foreach(v, i, e) {
				json_t *m = json_object_get(e, tok);

				if (json_is_string(m) &&
				    strcmp(json_string_value(m), eq + 1) == 0) {
					found = e;
					break;
				}
			}
			v = found;
		} else if (json_is_array(v)) {
			long i = strtol(tok, &end, 10);

			v = *end == '\0' && i >= 0 ?
			    json_array_get(v, (size_t)i) : NULL;
		} else if (json_is_object(v))
			v = json_object_get(v, tok);
		else
			v = NULL;
	}
	free(copy);
	if (v == NULL) {
		json_decref(root);
		return 1;
	}
	if (json_is_string(v))
		printf("%s\n", json_string_value(v));
	else if (json_is_null(v))
		printf("null\n");
	else {
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		printf("%s\n", s ? s : "");
		free(s);
	}
	json_decref(root);
	return 0;
}

/* ------------------------------------------------------------------ hole */

static volatile sig_atomic_t	stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int
cmd_hole(int port)
{
	struct sockaddr_in	sin;
	struct sigaction	sa;
	int			lfd, filler[4], nfill = 0, i;
	double			t0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	net_loopback(&sin, port);
	if ((lfd = net_listen(port, 0)) == -1) {
		perror("tunnel-helper hole: listen");
		return 1;
	}
	/*
	 * Linux queues backlog+1 connections; once full, new SYNs are dropped
	 * (tcp_abort_on_overflow is 0), which is what a blackhole looks like
	 * to the client.  Connect non-blocking until one stays pending.
	 */
	for (i = 0; i < 4; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

		if (fd == -1)
			break;
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
			filler[nfill++] = fd;
			continue;
		}
		if (errno == EINPROGRESS) {
			struct pollfd pfd = { fd, POLLOUT, 0 };

			if (poll(&pfd, 1, 300) == 1) {
				filler[nfill++] = fd;
				continue;
			}
			/* This SYN went unanswered: the queue is full. */
			close(fd);
			break;
		}
		close(fd);
		break;
	}
	printf("ready (%d queued)\n", nfill);
	fflush(stdout);
	t0 = now_ms();
	while (!stop && now_ms() - t0 < 600000.0)
		usleep(100000);
	for (i = 0; i < nfill; i++)
		close(filler[i]);
	close(lfd);
	return 0;
}

/* ------------------------------------------------------------------- eof */

static int
cmd_eof(int port, int max_ms)
{
	struct pollfd	pfd;
	double		t0;
	char		buf[256];
	ssize_t		n;
	int		fd, left;

	t0 = now_ms();
	if ((fd = net_connect(port)) == -1) {
		printf("refused %.0f\n", now_ms() - t0);
		return 1;
	}
	for (;;) {
		left = max_ms - (int)(now_ms() - t0);
		if (left <= 0) {
			printf("timeout %.0f\n", now_ms() - t0);
			return 1;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n == 0) {
			printf("eof %.0f\n", now_ms() - t0);
			return 0;
		}
		if (n < 0) {
			printf("reset %.0f\n", now_ms() - t0);
			return 0;
		}
		printf("data %.0f\n", now_ms() - t0);
		return 1;
	}
}

/* ------------------------------------------------------------------- rtt */

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
cmd_rtt(int port, int count, int max_ms)
{
	char	 msg[64], buf[64];
	double	*t, t0;
	int	 fd, i, one = 1, bad = 0;
	size_t	 got;
	ssize_t	 n;

	if (count < 1 || count > 100000 || (t = calloc(count, sizeof(*t))) ==
	    NULL)
		return 2;
	if ((fd = net_connect(port)) == -1) {
		perror("tunnel-helper rtt: connect");
		return 1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (i = 0; i < count && !bad; i++) {
		struct pollfd pfd = { fd, POLLIN, 0 };

		snprintf(msg, sizeof(msg), "%063d", i);
		t0 = now_ms();
		if (write(fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg)) {
			bad = 1;
			break;
		}
		for (got = 0; got < sizeof(buf);) {
			int left = max_ms - (int)(now_ms() - t0);

			if (left <= 0 || poll(&pfd, 1, left) != 1) {
				fprintf(stderr, "rtt: round trip %d timed out\n", i);
				bad = 1;
				break;
			}
			n = read(fd, buf + got, sizeof(buf) - got);
			if (n <= 0) {
				fprintf(stderr, "rtt: connection ended at %d\n", i);
				bad = 1;
				break;
			}
			got += (size_t)n;
		}
		if (!bad && memcmp(buf, msg, sizeof(msg)) != 0) {
			fprintf(stderr, "rtt: round trip %d corrupted\n", i);
			bad = 1;
		}
		t[i] = now_ms() - t0;
	}
	close(fd);
	if (bad) {
		free(t);
		return 1;
	}
	qsort(t, count, sizeof(*t), cmp_double);
	printf("rtt n=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", count,
	    t[count / 2], t[(count * 99) / 100 < count ? (count * 99) / 100 :
	    count - 1], t[count - 1]);
	free(t);
	return 0;
}

/* -------------------------------------------------------------- slowread */

static int
cmd_slowread(int port, long kib_per_s)
{
	char		 buf[16384];
	double		 t0, due, now;
	long long	 total = 0;
	ssize_t		 n, w, off;
	int		 fd;

	if (kib_per_s < 1)
		return 2;
	if ((fd = net_connect(port)) == -1) {
		perror("tunnel-helper slowread: connect");
		return 1;
	}
	shutdown(fd, SHUT_WR);
	t0 = now_ms();
	for (;;) {
		/*
		 * Pace: TOTAL bytes are due only after TOTAL / rate ms.  The
		 * clock is read once: read twice, the second reading could be
		 * past DUE, and a negative wait cast to useconds_t slept for
		 * 71 minutes (a stuck ASan run of t_forward).
		 */
		due = t0 + (double)total / (double)(kib_per_s * 1024) * 1000.0;
		if (due > (now = now_ms()))
			usleep((useconds_t)((due - now) * 1000.0));
		n = read(fd, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0) {
			perror("tunnel-helper slowread: read");
			return 1;
		}
		for (off = 0; off < n; off += w)
			if ((w = write(1, buf + off, (size_t)(n - off))) <= 0)
				return 1;
		total += n;
	}
	close(fd);
	return 0;
}

/* ------------------------------------------------------- test servers */

static int	serve(int, void (*)(int), const char *, const char *);

static void
splitecho_conn(int fd)
{
	char	buf[64];
	size_t	got;
	ssize_t	n;
	int	one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (;;) {
		for (got = 0; got < sizeof(buf); got += (size_t)n)
			if ((n = read(fd, buf + got, sizeof(buf) - got)) <= 0)
				_exit(0);
		if (write(fd, buf, 16) != 16)
			_exit(0);
		usleep(2000);
		if (write(fd, buf + 16, sizeof(buf) - 16) !=
		    (ssize_t)(sizeof(buf) - 16))
			_exit(0);
	}
}

static void
greet_conn(int fd)
{
	char	buf[4096];
	ssize_t	n;
	int	one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n)
			_exit(0);
	_exit(0);
}

/* Connect COUNT times; each must be greeted without saying a word. */
static int
cmd_greeted(int port, int count, int max_ms)
{
	struct pollfd		pfd;
	char			buf[16];
	size_t			got;
	ssize_t			n;
	double			t0, ms, worst = 0;
	int			i, fd, ok = 0;

	for (i = 0; i < count; i++) {
		if ((fd = net_connect(port)) == -1) {
			perror("tunnel-helper greeted: connect");
			return 1;
		}
		t0 = now_ms();
		for (got = 0; got < 6; got += (size_t)n) {
			ms = max_ms - (now_ms() - t0);
			pfd.fd = fd;
			pfd.events = POLLIN;
			if (ms <= 0 || poll(&pfd, 1, (int)ms) != 1 ||
			    (n = read(fd, buf + got, 6 - got)) <= 0)
				break;
		}
		ms = now_ms() - t0;
		if (ms > worst)
			worst = ms;
		if (got == 6 && memcmp(buf, "hello\n", 6) == 0)
			ok++;
		close(fd);
	}
	printf("greeted ok=%d of %d max_ms=%.1f\n", ok, count, worst);
	return ok == count ? 0 : 1;
}

static int
cmd_splitecho(int port)
{
	return serve(port, splitecho_conn, "splitecho", NULL);
}

static int
cmd_greet(int port)
{
	/* Greeted by the listener before the fork: as early as can be. */
	return serve(port, greet_conn, "greet", "hello\n");
}

/*
 * Accept on 127.0.0.1:PORT, write HELLO (if any) at once, then one child
 * per connection runs CONN.
 */
static int
serve(int port, void (*conn)(int), const char *name, const char *hello)
{
	struct sigaction	sa;
	struct pollfd		pfd;
	int			lfd, fd;
	double			t0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGCHLD, SIG_IGN);	/* children reaped by the kernel */
	if ((lfd = net_listen(port, 64)) == -1) {
		fprintf(stderr, "tunnel-helper %s: listen: %s\n", name,
		    strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	t0 = now_ms();
	while (!stop && now_ms() - t0 < 600000.0) {
		pfd.fd = lfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) != 1)
			continue;
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			continue;
		if (hello != NULL &&
		    write(fd, hello, strlen(hello)) != (ssize_t)strlen(hello)) {
			close(fd);
			continue;
		}
		switch (fork()) {
		case 0:
			close(lfd);
			alarm(600);
			conn(fd);
			_exit(0);
		default:
			close(fd);
		}
	}
	close(lfd);
	return 0;
}

static int
cmd_slowloris(int port, int conns, int secs)
{
	static const char	 start[] = "GET /metrics HTTP/1.1\r\nHost: t\r\n";
	static const char	 more[] = "X-Slow: 1\r\n";
	struct sockaddr_in	 sin;
	struct pollfd		*pfd;
	double			 end = now_ms() + secs * 1000.0, next = 0;
	char			 buf[512];
	int			 i, open_, max = 0, due;
	long			 closed = 0;
	ssize_t			 n;

	if (conns <= 0 || (pfd = calloc((size_t)conns, sizeof(*pfd))) == NULL)
		return 2;
	for (i = 0; i < conns; i++)
		pfd[i].fd = -1;
	net_loopback(&sin, port);
	while (now_ms() < end) {
		open_ = 0;
		due = now_ms() >= next;
		for (i = 0; i < conns; i++) {
			/* Closed ones come back with the next line, a second on. */
			if (pfd[i].fd == -1 && due) {
				pfd[i].fd = socket(AF_INET, SOCK_STREAM |
				    SOCK_NONBLOCK, 0);
				if (pfd[i].fd == -1)
					continue;
				if (connect(pfd[i].fd, (struct sockaddr *)&sin,
				    sizeof(sin)) == -1 && errno != EINPROGRESS) {
					close(pfd[i].fd);
					pfd[i].fd = -1;
					continue;
				}
				pfd[i].events = POLLIN;
				(void)send(pfd[i].fd, start, sizeof(start) - 1,
				    MSG_NOSIGNAL);
			}
			if (pfd[i].fd != -1)
				open_++;
		}
		if (open_ > max)
			max = open_;
		if (poll(pfd, (nfds_t)conns, 100) > 0)
			for (i = 0; i < conns; i++) {
				if (pfd[i].fd == -1 || pfd[i].revents == 0)
					continue;
				n = read(pfd[i].fd, buf, sizeof(buf));
				if (n > 0 || (n == -1 && errno == EAGAIN))
					continue;	/* an answer: ignored */
				close(pfd[i].fd);
				pfd[i].fd = -1;
				closed++;
			}
		if (due) {
			for (i = 0; i < conns; i++)
				if (pfd[i].fd != -1 && send(pfd[i].fd, more,
				    sizeof(more) - 1, MSG_NOSIGNAL) == -1 &&
				    errno != EAGAIN && errno != ENOTCONN) {
					close(pfd[i].fd);
					pfd[i].fd = -1;
					closed++;
				}
			printf("slowloris open=%d max=%d closed_by_server=%ld\n",
			    open_, max, closed);
			fflush(stdout);
			next = now_ms() + 1000.0;
		}
	}
	for (i = 0; i < conns; i++)
		if (pfd[i].fd != -1)
			close(pfd[i].fd);
	free(pfd);
	return 0;
}

/* REQ with "\\r\\n" written as such into BUF; its length, 0 if too long. */
static size_t
unescape_crlf(const char *req, char *buf, size_t size)
{
	size_t	len = 0;

	for (; *req != '\0'; req++) {
		if (len + 2 >= size)
			return 0;
		if (req[0] == '\\' && req[1] == 'r' && req[2] == '\\' &&
		    req[3] == 'n') {
			buf[len++] = '\r';
			buf[len++] = '\n';
			req += 3;
		} else
			buf[len++] = *req;
	}
	return len;
}

static int
cmd_noread(int port, int secs, const char *req)
{
	char		 buf[1024];
	size_t		 len = 0, off = 0;
	double		 end = now_ms() + secs * 1000.0;
	long		 sent = 0;
	int		 fd, rcvbuf = 4096;
	struct pollfd	 pfd;
	ssize_t		 n;

	if ((len = unescape_crlf(req, buf, sizeof(buf))) == 0 ||
	    (fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	{
		struct sockaddr_in	sin;

		net_loopback(&sin, port);
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
			perror("tunnel-helper noread: connect");
			close(fd);
			return 1;
		}
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	while (now_ms() < end) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((n = send(fd, buf + off, len - off, MSG_NOSIGNAL |
		    MSG_DONTWAIT)) == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			break;		/* closed by the server */
		}
		if ((off += (size_t)n) == len) {
			off = 0;
			sent++;
		}
	}
	printf("sent %ld\n", sent);
	close(fd);
	return 0;
}

static int
cmd_hold(int port, int conns, const char *req)
{
	struct sockaddr_in	 sin;
	struct pollfd		*pfd;
	char			 buf[1024], line[16];
	size_t			 len;
	double			 end;
	int			 i, left, rcvbuf = 4096, ok = 0, busy = 0;
	int			 other = 0, none = 0;
	ssize_t			 n;

	if (conns <= 0 || (len = unescape_crlf(req, buf, sizeof(buf))) == 0 ||
	    (pfd = calloc((size_t)conns, sizeof(*pfd))) == NULL)
		return 2;
	net_loopback(&sin, port);
	for (i = 0; i < conns; i++) {
		pfd[i].events = POLLIN;
		if ((pfd[i].fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
			continue;
		(void)setsockopt(pfd[i].fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf));
		if (connect(pfd[i].fd, (struct sockaddr *)&sin,
		    sizeof(sin)) == -1) {
			close(pfd[i].fd);
			pfd[i].fd = -1;
			continue;
		}
		usleep(20000);		/* accepted, no request yet */
		if (send(pfd[i].fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
			close(pfd[i].fd);
			pfd[i].fd = -1;
		}
	}
	end = now_ms() + 10000;
	for (left = conns; left > 0 && now_ms() < end;) {
		if (poll(pfd, (nfds_t)conns, 100) <= 0)
			continue;
		for (i = 0, left = 0; i < conns; i++) {
			if (pfd[i].fd == -1)
				continue;
			if (pfd[i].revents == 0) {
				left++;
				continue;
			}
			/* "HTTP/1.1 200": the status, then the rest unread. */
			n = recv(pfd[i].fd, line, 12, MSG_WAITALL);
			if (n == 12 && memcmp(line + 9, "200", 3) == 0)
				ok++;
			else if (n == 12 && memcmp(line + 9, "503", 3) == 0)
				busy++;
			else
				other++;
			pfd[i].fd = -pfd[i].fd - 2;	/* kept open, unread */
		}
	}
	for (i = 0; i < conns; i++) {
		if (pfd[i].fd >= 0)
			none++;
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
		else if (pfd[i].fd < -1)
			close(-pfd[i].fd - 2);
	}
	printf("200=%d 503=%d other=%d none=%d\n", ok, busy, other, none);
	free(pfd);
	return 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "json") == 0)
		return cmd_json(argv[2]);
	if (argc == 3 && strcmp(argv[1], "hole") == 0)
		return cmd_hole(net_parse_port("tunnel-helper", argv[2]));
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "eof") == 0)
		return cmd_eof(net_parse_port("tunnel-helper", argv[2]), argc == 4 ?
		    atoi(argv[3]) : 5000);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "rtt") == 0)
		return cmd_rtt(net_parse_port("tunnel-helper", argv[2]), atoi(argv[3]), argc == 5 ?
		    atoi(argv[4]) : 10000);
	if (argc == 3 && strcmp(argv[1], "splitecho") == 0)
		return cmd_splitecho(net_parse_port("tunnel-helper", argv[2]));
	if (argc == 3 && strcmp(argv[1], "greet") == 0)
		return cmd_greet(net_parse_port("tunnel-helper", argv[2]));
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "greeted") == 0)
		return cmd_greeted(net_parse_port("tunnel-helper", argv[2]), atoi(argv[3]),
		    argc == 5 ? atoi(argv[4]) : 3000);
	if (argc == 4 && strcmp(argv[1], "slowread") == 0)
		return cmd_slowread(net_parse_port("tunnel-helper", argv[2]), atol(argv[3]));
	if (argc == 5 && strcmp(argv[1], "slowloris") == 0)
		return cmd_slowloris(net_parse_port("tunnel-helper", argv[2]),
		    atoi(argv[3]), atoi(argv[4]));
	if (argc == 5 && strcmp(argv[1], "hold") == 0)
		return cmd_hold(net_parse_port("tunnel-helper", argv[2]),
		    atoi(argv[3]), argv[4]);
	if (argc == 5 && strcmp(argv[1], "noread") == 0)
		return cmd_noread(net_parse_port("tunnel-helper", argv[2]),
		    atoi(argv[3]), argv[4]);
	fprintf(stderr, "usage: tunnel-helper json PATH | hole PORT | "
	    "eof PORT [MAX_MS] | rtt PORT COUNT [MAX_MS] | "
	    "slowread PORT KIB_PER_S | splitecho PORT | greet PORT | "
	    "greeted PORT COUNT [MAX_MS] | slowloris PORT CONNS SECONDS | "
	    "noread PORT SECONDS REQUEST | hold PORT CONNS REQUEST\n");
	return 2;
}
