/*
 * tdbench: the traffic ends of tunneld's benchmarks (bench/tunnels.sh,
 * bench/scale.sh).  One binary plays both ends so that the two sides of
 * every measurement use the same socket code whatever carries the bytes
 * (tunneld, ssh -L, or nothing):
 *
 *	tdbench serve ADDR:PORT [PIDFILE]
 *		threaded server; each connection starts with one command byte:
 *		'S' sink: read to EOF, answer the byte count (8 bytes, BE)
 *		'G' source: read an 8-byte count N, send N bytes, close
 *		'E' echo: per request of L bytes (L from a 4-byte BE header
 *		    sent once), answer L bytes in one write
 *		'T' like 'E', but the answer goes out in two writes, GAP
 *		    microseconds apart (a 4-byte BE field after the length):
 *		    an HTTP server's headers, then its body.  The shape that
 *		    stalls a tunnel on Nagle + delayed ACK (issue 3)
 *	tdbench put ADDR:PORT BYTES    upload; prints "MB/s SECONDS"
 *	tdbench get ADDR:PORT BYTES    download; prints "MB/s SECONDS"
 *	tdbench rr ADDR:PORT COUNT SIZE [split[:GAP_US]]
 *		COUNT request/response round trips (after 20 not counted);
 *		prints "p50_us p99_us max_us stalls", stalls being the
 *		round trips that took 20 ms or more
 *	tdbench http ADDR:PORT COUNT PATH BODY|- [STOPFILE]
 *		HTTP/1.1 requests on one kept-alive connection (a new one
 *		when the server closes or fails): POST BODY (a string, or
 *		@FILE sent as it is read) or GET with "-".  COUNT measured
 *		after 20 not counted; with STOPFILE, requests go on until it
 *		exists (COUNT at most), none skipped.  Answers framed by
 *		Node's http_parser.  Prints "p50_us p99_us first_p50_us
 *		first_p99_us ok fail_before fail_after": total and first-byte
 *		times of the good ones; a 2xx answer read to its end is ok, a
 *		failure before any byte of the answer (or a non-2xx answer) is
 *		fail_before, a cut answer fail_after
 *	tdbench ctl SOCKET COUNT WORD
 *		COUNT requests WORD ("status") on tunneld's control socket,
 *		each on a new connection, read to EOF: the daemon's side of a
 *		`tunnelctl WORD`, without tunnelctl's start-up, parsing and
 *		rendering; prints "p50_us p99_us max_us bytes"
 *	tdbench spawn COUNT PROGRAM [ARG...]
 *		COUNT runs of PROGRAM (posix_spawn(), stdout and stderr to
 *		/dev/null), each waited for: what the program itself takes
 *		from exec to exit, without a shell's fork; prints "p50_us
 *		p99_us max_us"; exit 1 if a run exits other than 0 or 1
 *	tdbench spawn-each COUNT PROGRAM [ARG...]
 *		the same, but every run's microseconds, a line each, in the
 *		order they ran (for batches interleaved with others)
 *	tdbench ping ADDR:PORT TIMEOUT_MS
 *		until one round trip through ADDR:PORT succeeds, try every
 *		20 ms (each try bounded by 1 s), at most TIMEOUT_MS; prints
 *		the ms it took and the number of tries; exit 1 on timeout
 *	tdbench relay LISTEN TARGET DELAY_MS [PIDFILE]
 *		a TCP relay that holds every byte DELAY_MS before passing it
 *		on, each direction: a link with a round trip of twice that
 *		(bench/wan.sh), where netem is not available.  An EOF is
 *		passed on as a shutdown, a reset or error as a reset, both
 *		after the same delay
 *
 * Every socket this tool makes has TCP_NODELAY: what is measured is the
 * carrier, not this tool's own Nagle delays.  Loopback only (the caller
 * passes 127.x addresses).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>

#define CHUNK		(256 * 1024)
#define RR_MAX		65536
#define RR_WARMUP	20
#define STALL_US	20000	/* a delayed-ACK wait is ~40 ms */
#define RELAY_QUEUE_MAX	(64 * 1024 * 1024)	/* per direction */

static uint64_t
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
parse_addr(const char *s, struct sockaddr_in *sin)
{
	char		 host[64];
	const char	*colon = strrchr(s, ':');
	size_t		 n;

	if (colon == NULL || (n = colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

static void
nodelay(int fd)
{
	int	one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int
writeall(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* 0: all read; -1: error or EOF before LEN. */
static int
readall(int fd, void *buf, size_t len)
{
	char	*p = buf;
	ssize_t	 n;

	while (len > 0) {
		if ((n = read(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static void
put64(unsigned char *b, uint64_t v)
{
	int	i;

	for (i = 7; i >= 0; i--, v >>= 8)
		b[i] = v & 0xff;
}

static uint64_t
get64(const unsigned char *b)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* ---------------------------------------------------------------- server */

static void
serve_sink(int fd)
{
	char		*buf;
	unsigned char	 b[8];
	uint64_t	 total = 0;
	ssize_t		 n;

	if ((buf = malloc(CHUNK)) == NULL)
		return;
	while ((n = read(fd, buf, CHUNK)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			free(buf);
			return;
		}
		total += n;
	}
	free(buf);
	put64(b, total);
	(void)writeall(fd, b, sizeof(b));
}

static void
serve_source(int fd)
{
	char		*buf;
	unsigned char	 b[8];
	uint64_t	 left;
	size_t		 n;

	if (readall(fd, b, sizeof(b)) == -1 || (buf = malloc(CHUNK)) == NULL)
		return;
	memset(buf, 'x', CHUNK);
	for (left = get64(b); left > 0; left -= n) {
		n = left < CHUNK ? left : CHUNK;
		if (writeall(fd, buf, n) == -1)
			break;
	}
	free(buf);
}

static void
serve_echo(int fd, int split)
{
	unsigned char	hdr[8], buf[RR_MAX];
	uint32_t	len, gap = 0;
	size_t		half;

	if (readall(fd, hdr, split ? 8 : 4) == -1)
		return;
	len = (uint32_t)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3];
	if (split)
		gap = (uint32_t)hdr[4] << 24 | hdr[5] << 16 | hdr[6] << 8 |
		    hdr[7];
	if (len == 0 || len > RR_MAX || gap > 1000000)
		return;
	half = split ? len / 2 : len;
	while (readall(fd, buf, len) == 0) {
		if (writeall(fd, buf, half) == -1)
			return;
		if (gap > 0)
			usleep(gap);
		if (half < len && writeall(fd, buf + half, len - half) == -1)
			return;
	}
}

static void *
serve_conn(void *arg)
{
	int	fd = (int)(intptr_t)arg;
	char	cmd;

	nodelay(fd);
	if (readall(fd, &cmd, 1) == 0) {
		switch (cmd) {
		case 'S':
			serve_sink(fd);
			break;
		case 'G':
			serve_source(fd);
			break;
		case 'E':
			serve_echo(fd, 0);
			break;
		case 'T':
			serve_echo(fd, 1);
			break;
		}
	}
	close(fd);
	return NULL;
}

/*
 * Listen on ADDR (the server and the relay); write our pid to PIDFILE, if
 * any, once the port listens: a readiness mark for the scripts.
 */
static int
listen_on(const char *addr, const char *pidfile)
{
	struct sockaddr_in	sin;
	int			lfd, one = 1;
	FILE			*f;

	if (parse_addr(addr, &sin) == -1) {
		fprintf(stderr, "tdbench: bad address %s\n", addr);
		return -1;
	}
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 1024) == -1) {
		fprintf(stderr, "tdbench: listen %s: %s\n", addr, strerror(errno));
		return -1;
	}
	if (pidfile != NULL) {
		if ((f = fopen(pidfile, "w")) == NULL)
			return -1;
		fprintf(f, "%ld\n", (long)getpid());
		fclose(f);
	}
	return lfd;
}

static int
cmd_serve(const char *addr, const char *pidfile)
{
	pthread_attr_t		attr;
	pthread_t		th;
	int			lfd, fd;

	if ((lfd = listen_on(addr, pidfile)) == -1)
		return 1;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EMFILE || errno == ENFILE) {
				if (errno != EINTR && errno != ECONNABORTED)
					usleep(10000);
				continue;
			}
			fprintf(stderr, "tdbench: accept: %s\n", strerror(errno));
			return 1;
		}
		if (pthread_create(&th, &attr, serve_conn,
		    (void *)(intptr_t)fd) != 0) {
			fprintf(stderr, "tdbench: pthread_create failed\n");
			close(fd);
		}
	}
}

/* ---------------------------------------------------------------- client */

static int
dial(const char *addr)
{
	struct sockaddr_in	sin;
	int			fd;

	if (parse_addr(addr, &sin) == -1) {
		fprintf(stderr, "tdbench: bad address %s\n", addr);
		return -1;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	nodelay(fd);
	return fd;
}

static int
cmd_put(const char *addr, uint64_t bytes)
{
	static char	buf[CHUNK];
	unsigned char	b[8];
	uint64_t	t0, t1, left;
	size_t		n;
	int		fd;

	memset(buf, 'y', sizeof(buf));
	t0 = now_us();
	if ((fd = dial(addr)) == -1 || writeall(fd, "S", 1) == -1) {
		fprintf(stderr, "tdbench put: %s: %s\n", addr, strerror(errno));
		return 1;
	}
	for (left = bytes; left > 0; left -= n) {
		n = left < sizeof(buf) ? left : sizeof(buf);
		if (writeall(fd, buf, n) == -1) {
			fprintf(stderr, "tdbench put: write: %s\n", strerror(errno));
			return 1;
		}
	}
	shutdown(fd, SHUT_WR);
	/* The sink's count arrives once every byte went through. */
	if (readall(fd, b, sizeof(b)) == -1 || get64(b) != bytes) {
		fprintf(stderr, "tdbench put: sink counted %llu of %llu bytes\n",
		    (unsigned long long)get64(b), (unsigned long long)bytes);
		return 1;
	}
	t1 = now_us();
	close(fd);
	printf("%.1f %.3f\n", bytes / 1e6 / ((t1 - t0) / 1e6), (t1 - t0) / 1e6);
	return 0;
}

static int
cmd_get(const char *addr, uint64_t bytes)
{
	static char	buf[CHUNK];
	unsigned char	b[9];
	uint64_t	t0, t1, total = 0;
	ssize_t		n;
	int		fd;

	t0 = now_us();
	b[0] = 'G';
	put64(b + 1, bytes);
	if ((fd = dial(addr)) == -1 || writeall(fd, b, sizeof(b)) == -1) {
		fprintf(stderr, "tdbench get: %s: %s\n", addr, strerror(errno));
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "tdbench get: read: %s\n", strerror(errno));
			return 1;
		}
		total += n;
	}
	t1 = now_us();
	close(fd);
	if (total != bytes) {
		fprintf(stderr, "tdbench get: got %llu of %llu bytes\n",
		    (unsigned long long)total, (unsigned long long)bytes);
		return 1;
	}
	printf("%.1f %.3f\n", bytes / 1e6 / ((t1 - t0) / 1e6), (t1 - t0) / 1e6);
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One round trip of LEN bytes on FD. */
static int
rr_once(int fd, unsigned char *buf, uint32_t len)
{
	return writeall(fd, buf, len) == -1 || readall(fd, buf, len) == -1 ?
	    -1 : 0;
}

static int
rr_open(const char *addr, uint32_t len, int split, uint32_t gap)
{
	unsigned char	hdr[9];
	int		fd;

	if ((fd = dial(addr)) == -1)
		return -1;
	hdr[0] = split ? 'T' : 'E';
	hdr[1] = len >> 24;
	hdr[2] = len >> 16;
	hdr[3] = len >> 8;
	hdr[4] = len;
	hdr[5] = gap >> 24;
	hdr[6] = gap >> 16;
	hdr[7] = gap >> 8;
	hdr[8] = gap;
	if (writeall(fd, hdr, split ? 9 : 5) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
cmd_rr(const char *addr, int count, uint32_t len, int split, uint32_t gap)
{
	static unsigned char	buf[RR_MAX];
	uint64_t		*lat, t0;
	int			fd, i, stalls = 0;

	if (count < 1 || len == 0 || len > RR_MAX)
		return 2;
	if ((lat = calloc(count, sizeof(*lat))) == NULL)
		return 1;
	memset(buf, 'r', len);
	if ((fd = rr_open(addr, len, split, gap)) == -1) {
		fprintf(stderr, "tdbench rr: %s: %s\n", addr, strerror(errno));
		return 1;
	}
	for (i = 0; i < RR_WARMUP + count; i++) {
		t0 = now_us();
		if (rr_once(fd, buf, len) == -1) {
			fprintf(stderr, "tdbench rr: round trip %d failed\n", i);
			return 1;
		}
		if (i >= RR_WARMUP)
			lat[i - RR_WARMUP] = now_us() - t0;
	}
	close(fd);
	for (i = 0; i < count; i++)
		if (lat[i] >= STALL_US)
			stalls++;
	qsort(lat, count, sizeof(*lat), cmp_u64);
	printf("%llu %llu %llu %d\n", (unsigned long long)lat[count / 2],
	    (unsigned long long)lat[(count * 99) / 100 - (count >= 100)],
	    (unsigned long long)lat[count - 1], stalls);
	free(lat);
	return 0;
}

/* One round trip on a fresh connection, bounded by 1 s. */
static int
ping_once(const char *addr)
{
	unsigned char	buf[16];
	struct timeval	tv = { 1, 0 };
	int		fd, rc;

	if ((fd = rr_open(addr, sizeof(buf), 0, 0)) == -1)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(buf, 'p', sizeof(buf));
	rc = rr_once(fd, buf, sizeof(buf));
	close(fd);
	return rc;
}

static int
cmd_ping(const char *addr, long timeout_ms)
{
	uint64_t	t0 = now_us(), deadline = t0 + timeout_ms * 1000ULL;
	long		tries = 0;

	while (tries < 1000000) {
		tries++;
		if (ping_once(addr) == 0) {
			printf("%.0f %ld\n", (now_us() - t0) / 1e3, tries);
			return 0;
		}
		if (now_us() >= deadline)
			break;
		usleep(20000);
	}
	printf("timeout %ld\n", tries);
	return 1;
}

/* ------------------------------------------------------------------ http */

struct hresp {
	int	done;
	int	status;
};

static int
hresp_complete(http_parser *p)
{
	struct hresp	*r = p->data;

	r->done = 1;
	r->status = p->status_code;
	http_parser_pause(p, 1);
	return 0;
}

/*
 * One request on *FD (dialled when -1); the answer read to its end.  0 ok,
 * 1 failed before a byte, 2 failed after one.  *FIRST: us to the first
 * answer byte.
 */
static int
http_once(const char *addr, int *fd, const char *req, size_t reqlen,
    const char *file, uint64_t *first)
{
	static char		 buf[CHUNK];
	static http_parser_settings set;
	http_parser		 p;
	struct hresp		 r = { 0, 0 };
	uint64_t		 t0 = now_us();
	ssize_t			 n;
	size_t			 got = 0, k;
	int			 f = -1, keep;

	set.on_message_complete = hresp_complete;
	if (*fd == -1) {
		struct timeval	tv = { 30, 0 };	/* a hung carrier is a failure */

		if ((*fd = dial(addr)) == -1)
			return 1;
		(void)setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(*fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (writeall(*fd, req, reqlen) == -1)
		goto fail;
	if (file != NULL) {
		if ((f = open(file, O_RDONLY | O_CLOEXEC)) == -1)
			goto fail;
		while ((n = read(f, buf, sizeof(buf))) > 0)
			if (writeall(*fd, buf, (size_t)n) == -1)
				goto fail;
		close(f);
		f = -1;
	}
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &r;
	while (!r.done) {
		n = read(*fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0 && got == 0)
			*first = now_us() - t0;
		if (n <= 0) {
			if (got > 0)
				(void)http_parser_execute(&p, &set, buf, 0);
			break;
		}
		got += (size_t)n;
		k = http_parser_execute(&p, &set, buf, (size_t)n);
		if (HTTP_PARSER_ERRNO(&p) != HPE_OK &&
		    HTTP_PARSER_ERRNO(&p) != HPE_PAUSED)
			break;
		if (k != (size_t)n && !r.done)
			break;
	}
	keep = r.done && http_should_keep_alive(&p);
	if (!keep) {
		close(*fd);
		*fd = -1;
	}
	if (r.done && r.status >= 200 && r.status < 300)
		return 0;
	if (r.done || got == 0)
		return 1;
	return 2;
fail:
	if (f != -1)
		close(f);
	close(*fd);
	*fd = -1;
	return 1;
}

static int
cmd_http(const char *addr, int count, const char *path, const char *body,
    const char *stop)
{
	char		*req, hp[64];
	const char	*file = NULL;
	uint64_t	*tot, *fst, t0, first = 0;
	size_t		 reqlen;
	long long	 blen = 0;
	int		 fd = -1, i, n = 0, rc, res[3] = { 0, 0, 0 };
	struct stat	 st;

	if (count < 1 || (tot = calloc(count, sizeof(*tot))) == NULL ||
	    (fst = calloc(count, sizeof(*fst))) == NULL)
		return 2;
	snprintf(hp, sizeof(hp), "%s", addr);
	if (strcmp(body, "-") == 0)
		reqlen = (size_t)asprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n"
		    "\r\n", path, hp);
	else {
		if (body[0] == '@') {
			file = body + 1;
			if (stat(file, &st) == -1) {
				perror(file);
				return 1;
			}
			blen = (long long)st.st_size;
			body = "";
		} else
			blen = (long long)strlen(body);
		reqlen = (size_t)asprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\n"
		    "Content-Type: application/json\r\nContent-Length: %lld\r\n"
		    "\r\n%s", path, hp, blen, body);
	}
	for (i = 0; i < RR_WARMUP + count; i++) {
		if (stop != NULL && access(stop, F_OK) == 0)
			break;
		t0 = now_us();
		rc = http_once(addr, &fd, req, reqlen, file, &first);
		if (i < RR_WARMUP && stop == NULL)
			continue;
		res[rc]++;
		if (rc == 0) {
			tot[n] = now_us() - t0;
			fst[n++] = first;
		}
		if (rc != 0)
			usleep(10000);
	}
	if (fd != -1)
		close(fd);
	if (n == 0) {
		printf("- - - - %d %d %d\n", res[0], res[1], res[2]);
		return 1;
	}
	qsort(tot, n, sizeof(*tot), cmp_u64);
	qsort(fst, n, sizeof(*fst), cmp_u64);
	printf("%llu %llu %llu %llu %d %d %d\n",
	    (unsigned long long)tot[n / 2],
	    (unsigned long long)tot[(n * 99) / 100 - (n >= 100)],
	    (unsigned long long)fst[n / 2],
	    (unsigned long long)fst[(n * 99) / 100 - (n >= 100)],
	    res[0], res[1], res[2]);
	free(req);
	free(tot);
	free(fst);
	return 0;
}

/* COUNT control requests WORD on the Unix socket PATH, each to EOF. */
static int
cmd_ctl(const char *path, int count, const char *word)
{
	struct sockaddr_un	 sun;
	uint64_t		*lat, t0;
	char			 req[256], buf[65536];
	size_t			 bytes = 0;
	ssize_t			 n;
	int			 i, fd;

	if (count <= 0 || strlen(path) >= sizeof(sun.sun_path) ||
	    (size_t)snprintf(req, sizeof(req), "%s\n", word) >= sizeof(req) ||
	    (lat = calloc((size_t)count, sizeof(*lat))) == NULL)
		return 2;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	for (i = 0; i < count; i++) {
		t0 = now_us();
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
		    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
		    writeall(fd, req, strlen(req)) == -1) {
			fprintf(stderr, "tdbench ctl: %s: %s\n", path,
			    strerror(errno));
			return 1;
		}
		bytes = 0;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			bytes += (size_t)n;
		close(fd);
		lat[i] = now_us() - t0;
	}
	qsort(lat, (size_t)count, sizeof(*lat), cmp_u64);
	printf("%llu %llu %llu %zu\n",
	    (unsigned long long)lat[(size_t)(count - 1) / 2],
	    (unsigned long long)lat[(size_t)((count - 1) * 99) / 100],
	    (unsigned long long)lat[count - 1], bytes);
	free(lat);
	return 0;
}

/*
 * COUNT runs of ARGV[0], each from posix_spawn() to its exit; EACH: every
 * run's time, in order, instead of the percentiles.
 */
static int
cmd_spawn(int count, char **argv, int each)
{
	posix_spawn_file_actions_t	 fa;
	uint64_t			*lat, t0;
	pid_t				 pid;
	int				 i, status, err;

	if (count <= 0 || (lat = calloc((size_t)count, sizeof(*lat))) == NULL)
		return 2;
	if (posix_spawn_file_actions_init(&fa) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY,
	    0) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, 1, 2) != 0)
		return 2;
	for (i = 0; i < count; i++) {
		t0 = now_us();
		if ((err = posix_spawn(&pid, argv[0], &fa, NULL, argv,
		    environ)) != 0) {
			fprintf(stderr, "tdbench spawn: %s: %s\n", argv[0],
			    strerror(err));
			return 1;
		}
		while (waitpid(pid, &status, 0) == -1)
			if (errno != EINTR)
				return 1;
		lat[i] = now_us() - t0;
		if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) {
			fprintf(stderr, "tdbench spawn: %s: status %d\n",
			    argv[0], status);
			return 1;
		}
	}
	posix_spawn_file_actions_destroy(&fa);
	if (each) {
		for (i = 0; i < count; i++)
			printf("%llu\n", (unsigned long long)lat[i]);
		free(lat);
		return 0;
	}
	qsort(lat, (size_t)count, sizeof(*lat), cmp_u64);
	printf("%llu %llu %llu\n",
	    (unsigned long long)lat[(size_t)(count - 1) / 2],
	    (unsigned long long)lat[(size_t)((count - 1) * 99) / 100],
	    (unsigned long long)lat[count - 1]);
	free(lat);
	return 0;
}

/* ----------------------------------------------------------------- relay */

struct relay_chunk {
	struct relay_chunk	*next;
	uint64_t		 due;	/* monotonic us */
	ssize_t			 len;	/* 0: EOF, -1: reset */
	char			 data[];
};

struct relay_dir {
	int			 from, to;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	struct relay_chunk	*head, *tail;
	size_t			 queued;
	struct relay_pair	*pair;
};

struct relay_pair {
	struct relay_dir	 dir[2];
	pthread_mutex_t		 mtx;
	int			 left;	/* threads still running */
	int			 reset;
};

static uint64_t	relay_delay_us;

static void
relay_push(struct relay_dir *d, struct relay_chunk *c)
{
	pthread_mutex_lock(&d->mtx);
	while (c->len > 0 && d->queued >= RELAY_QUEUE_MAX)
		pthread_cond_wait(&d->cond, &d->mtx);
	c->next = NULL;
	if (d->tail != NULL)
		d->tail->next = c;
	else
		d->head = c;
	d->tail = c;
	if (c->len > 0)
		d->queued += c->len;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->mtx);
}

static void
relay_done(struct relay_pair *p)
{
	struct linger	rst = { 1, 0 };
	int		last, i;

	pthread_mutex_lock(&p->mtx);
	last = --p->left == 0;
	pthread_mutex_unlock(&p->mtx);
	if (!last)
		return;
	for (i = 0; i < 2; i++) {
		if (p->reset)
			(void)setsockopt(p->dir[i].from, SOL_SOCKET, SO_LINGER,
			    &rst, sizeof(rst));
		close(p->dir[i].from);
		pthread_mutex_destroy(&p->dir[i].mtx);
		pthread_cond_destroy(&p->dir[i].cond);
	}
	pthread_mutex_destroy(&p->mtx);
	free(p);
}

static void *
relay_reader(void *arg)
{
	struct relay_dir	*d = arg;
	struct relay_chunk	*c;
	ssize_t			 n;

	for (;;) {
		if ((c = malloc(sizeof(*c) + CHUNK)) == NULL)
			n = -1;
		else
			while ((n = read(d->from, c->data, CHUNK)) == -1 &&
			    errno == EINTR)
				;
		if (c == NULL && (c = malloc(sizeof(*c))) == NULL)
			abort();
		c->len = n;
		c->due = now_us() + relay_delay_us;
		relay_push(d, c);
		if (n <= 0)
			break;
	}
	relay_done(d->pair);
	return NULL;
}

static void *
relay_writer(void *arg)
{
	struct relay_dir	*d = arg;
	struct relay_chunk	*c;
	struct timespec		 ts;
	uint64_t		 now;
	ssize_t			 len;
	int			 dead = 0;

	for (;;) {
		pthread_mutex_lock(&d->mtx);
		while (d->head == NULL)
			pthread_cond_wait(&d->cond, &d->mtx);
		c = d->head;
		if ((d->head = c->next) == NULL)
			d->tail = NULL;
		if (c->len > 0)
			d->queued -= c->len;
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->mtx);
		if ((now = now_us()) < c->due) {
			ts.tv_sec = (c->due - now) / 1000000;
			ts.tv_nsec = (c->due - now) % 1000000 * 1000;
			while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
				;
		}
		len = c->len;
		if (len > 0 && !dead && writeall(d->to, c->data, len) == -1)
			dead = 1;
		free(c);
		if (len == 0 && !dead) {
			shutdown(d->to, SHUT_WR);
		} else if (len < 0 || dead) {
			/* A reset, or a peer that stopped taking: end both. */
			d->pair->reset = 1;
			shutdown(d->to, SHUT_RDWR);
			shutdown(d->from, SHUT_RDWR);
			dead = 1;
		}
		if (len <= 0)
			break;
	}
	relay_done(d->pair);
	return NULL;
}

static int
cmd_relay(const char *listen_addr, const char *target, long delay_ms,
    const char *pidfile)
{
	struct sockaddr_in	 tin;
	struct relay_pair	*p;
	pthread_attr_t		 attr;
	pthread_t		 th;
	int			 lfd, fd, tfd, i;

	if (parse_addr(target, &tin) == -1 || delay_ms < 0) {
		fprintf(stderr, "tdbench relay: bad arguments\n");
		return 2;
	}
	relay_delay_us = (uint64_t)delay_ms * 1000;
	if ((lfd = listen_on(listen_addr, pidfile)) == -1)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno != EINTR && errno != ECONNABORTED)
				usleep(10000);
			continue;
		}
		if ((tfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
		    connect(tfd, (struct sockaddr *)&tin, sizeof(tin)) == -1 ||
		    (p = calloc(1, sizeof(*p))) == NULL) {
			if (tfd != -1)
				close(tfd);
			close(fd);
			continue;
		}
		nodelay(fd);
		nodelay(tfd);
		pthread_mutex_init(&p->mtx, NULL);
		p->left = 4;
		p->dir[0].from = fd;
		p->dir[0].to = tfd;
		p->dir[1].from = tfd;
		p->dir[1].to = fd;
		for (i = 0; i < 2; i++) {
			p->dir[i].pair = p;
			pthread_mutex_init(&p->dir[i].mtx, NULL);
			pthread_cond_init(&p->dir[i].cond, NULL);
		}
		for (i = 0; i < 4; i++)
			if (pthread_create(&th, &attr, i < 2 ? relay_reader :
			    relay_writer, &p->dir[i % 2]) != 0)
				abort();
	}
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: tdbench serve ADDR:PORT [PIDFILE]\n"
	    "       tdbench put|get ADDR:PORT BYTES\n"
	    "       tdbench rr ADDR:PORT COUNT SIZE [split[:GAP_US]]\n"
	    "       tdbench http ADDR:PORT COUNT PATH BODY|@FILE|- [STOPFILE]\n"
	    "       tdbench ctl SOCKET COUNT WORD\n"
	    "       tdbench spawn|spawn-each COUNT PROGRAM [ARG...]\n"
	    "       tdbench ping ADDR:PORT TIMEOUT_MS\n"
	    "       tdbench relay LISTEN TARGET DELAY_MS [PIDFILE]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		usage();
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argv[2], argc > 3 ? argv[3] : NULL);
	if (strcmp(argv[1], "put") == 0 && argc == 4)
		return cmd_put(argv[2], strtoull(argv[3], NULL, 10));
	if (strcmp(argv[1], "get") == 0 && argc == 4)
		return cmd_get(argv[2], strtoull(argv[3], NULL, 10));
	if (strcmp(argv[1], "rr") == 0 && (argc == 5 || argc == 6)) {
		int		split = 0;
		uint32_t	gap = 0;

		if (argc == 6 && strncmp(argv[5], "split", 5) == 0) {
			split = 1;
			if (argv[5][5] == ':')
				gap = (uint32_t)strtoul(argv[5] + 6, NULL, 10);
		} else if (argc == 6 && strcmp(argv[5], "one") != 0)
			usage();
		return cmd_rr(argv[2], atoi(argv[3]),
		    (uint32_t)strtoul(argv[4], NULL, 10), split, gap);
	}
	if (strcmp(argv[1], "spawn") == 0 && argc >= 4)
		return cmd_spawn(atoi(argv[2]), argv + 3, 0);
	if (strcmp(argv[1], "spawn-each") == 0 && argc >= 4)
		return cmd_spawn(atoi(argv[2]), argv + 3, 1);
	if (strcmp(argv[1], "ping") == 0 && argc == 4)
		return cmd_ping(argv[2], atol(argv[3]));
	if (strcmp(argv[1], "http") == 0 && (argc == 6 || argc == 7))
		return cmd_http(argv[2], atoi(argv[3]), argv[4], argv[5],
		    argc == 7 ? argv[6] : NULL);
	if (strcmp(argv[1], "ctl") == 0 && argc == 5)
		return cmd_ctl(argv[2], atoi(argv[3]), argv[4]);
	if (strcmp(argv[1], "relay") == 0 && (argc == 5 || argc == 6))
		return cmd_relay(argv[2], argv[3], atol(argv[4]),
		    argc == 6 ? argv[5] : NULL);
	usage();
	return 2;
}
