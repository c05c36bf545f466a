/*
 * notify-listen: a stand-in for systemd's notification socket, for tests.
 *
 *	notify-listen PATH
 *
 * Binds an AF_UNIX SOCK_DGRAM socket at PATH (a leading '@' means the
 * abstract namespace, as in NOTIFY_SOCKET) and, for every datagram, prints
 * each of its newline-separated assignments on its own line, prefixed by a
 * CLOCK_MONOTONIC timestamp in milliseconds:
 *
 *	812345 READY=1
 *	812345 STATUS=0/3 nodes up
 *
 * stdout is flushed after every datagram, so a test can poll the file.
 * Datagrams larger than 4095 bytes are truncated (and said so on stderr).
 * SIGTERM or SIGINT: unlink PATH and exit 0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* ppoll */
#endif
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUF_MAX	4096

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
print_datagram(const char *buf, size_t len)
{
	long long ts = now_ms();
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (n > 0)
			printf("%lld %.*s\n", ts, (int)n, p);
		p += n + 1;
	}
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sun;
	struct sigaction sa;
	sigset_t block, orig;
	socklen_t alen;
	size_t plen;
	int fd, abstract;
	char buf[BUF_MAX];

	if (argc != 2) {
		fprintf(stderr, "usage: notify-listen PATH\n");
		return 2;
	}
	plen = strlen(argv[1]);
	if (plen == 0 || plen >= sizeof(sun.sun_path)) {
		fprintf(stderr, "notify-listen: path must be 1..%zu bytes\n",
		    sizeof(sun.sun_path) - 1);
		return 2;
	}
	abstract = argv[1][0] == '@';

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: ppoll returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Signals are only delivered inside ppoll(): no lost wake-up. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	sigdelset(&orig, SIGTERM);
	sigdelset(&orig, SIGINT);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("notify-listen: socket");
		return 1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, argv[1], plen);
	if (abstract)
		sun.sun_path[0] = '\0';
	else
		unlink(argv[1]);
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
	    (abstract ? 0 : 1));
	if (bind(fd, (struct sockaddr *)&sun, alen) < 0) {
		fprintf(stderr, "notify-listen: bind %s: %s\n", argv[1],
		    strerror(errno));
		return 1;
	}

	while (!stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int r = ppoll(&pfd, 1, NULL, &orig);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			perror("notify-listen: ppoll");
			break;
		}
		/* Drain everything queued before sleeping again. */
		for (;;) {
			n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT | MSG_TRUNC);
			if (n < 0) {
				if (errno != EAGAIN && errno != EWOULDBLOCK &&
				    errno != EINTR)
					perror("notify-listen: recv");
				break;
			}
			if ((size_t)n > sizeof(buf) - 1) {
				fprintf(stderr, "notify-listen: datagram of %zd "
				    "bytes truncated to %zu\n", n, sizeof(buf) - 1);
				n = (ssize_t)(sizeof(buf) - 1);
			}
			print_datagram(buf, (size_t)n);
		}
	}
	if (!abstract)
		unlink(argv[1]);
	close(fd);
	return 0;
}
