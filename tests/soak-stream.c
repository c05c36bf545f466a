/*
 * soak-stream: the traffic, the squatter and the observer of the fault soak
 * (tests/soak.sh).  Loopback only; every loop is bounded in time.
 *
 *	soak-stream echo PORT
 *	soak-stream client --port P --node NAME --kind local|remote --id N
 *	    --seed S --until EPOCH_MS --log FILE [--min BYTES] [--max BYTES]
 *	    [--rate BYTES_PER_S] [--stall-ms MS]
 *	soak-stream squat PORT MS
 *	soak-stream monitor --socket PATH --until EPOCH_MS --log FILE
 *	    [--interval-ms MS]
 *	soak-stream status --socket PATH
 *	soak-stream sha256		< data
 *
 * echo: a TCP echo server on 127.0.0.1:PORT, one thread per connection.  It
 * keeps half-close: after the client's EOF it returns what is left, then
 * ends its own side.  Runs until killed.
 *
 * client: streams one connection after another through a forward until
 * EPOCH_MS (wall clock); the stream in flight then finishes.  Each stream
 * sends SIZE pseudo-random bytes (SIZE drawn from [min, max], the bytes a
 * function of the seed, the client and the stream number), shuts its write
 * side, and reads the echo back at the same time.  Every byte that comes
 * back is compared with what was sent at that offset, and SHA-256 is taken
 * of both.  One line per stream goes to FILE:
 *
 *	S NODE KIND ID T_START T_FIRST T_END SIZE SENT RECV OUTCOME DETAIL
 *	    SHA_SENT SHA_RECV
 *
 * (times in wall-clock ms, T_FIRST 0 when no byte came back), with OUTCOME
 *	ok	all SIZE bytes back, equal, SHA-256 equal, then a clean EOF
 *	connect	the connection could not be made (DETAIL: errno name)
 *	reset	a read or write failed: RST, EPIPE... (DETAIL: errno name)
 *	eof	a clean EOF before all SIZE bytes were back (DETAIL: "short")
 *	stall	nothing moved either way for --stall-ms (default 30000)
 *	corrupt	a byte differs from what was sent at its offset, or more bytes
 *		came back than were sent (DETAIL: the offset)
 *	abort	still running 60 s after EPOCH_MS
 * and one line each time bytes arrive again after a pause of 250 ms or more
 * within a stream (a tunnel that resumed after a freeze):
 *
 *	P NODE KIND ID T
 *
 * Whether a short clean EOF was a tunnel that went down (allowed: the
 * connection is closed) or a silent truncation is decided by soak.sh, which
 * knows when each node had a fault.
 *
 * squat: holds 127.0.0.1:PORT for MS ms (binding as soon as the port is
 * free, for at most 5 s) and resets every connection it gets; prints
 * "ready" once bound.  A remote forward's port taken by someone else.
 *
 * monitor: asks tunneld for `status` over its control socket every
 * --interval-ms (default 100) until EPOCH_MS and writes one line per node
 * whenever what it shows changed:
 *
 *	M T NODE STATE CONNECTS OLLAMA_STATE FORWARD_STATES
 *
 * ("-" for what is absent; forward states comma-separated), "M T - down
 * ERROR" while the daemon does not answer, and at the end
 *
 *	L polls=N failed=N p50_ms=.. p99_ms=.. max_ms=..
 *
 * the latency of the status requests.  SIGTERM ends it early, summary
 * included.
 *
 * status: one `status` request; prints the monitor's line for each node
 * followed by the number of connections open through its forwards; exit 3
 * when the daemon does not answer.
 *
 * sha256: SHA-256 of stdin in hex, to check this file's SHA-256 against
 * sha256sum(1).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* accept4 */
#endif
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "netutil.h"

#define CHUNK		(16 * 1024)
#define RESUME_GAP_MS	250
#define ABORT_AFTER_MS	60000

/* ---------------------------------------------------------------- SHA-256 */

/* FIPS 180-4; no crypto library is otherwise needed by the tests. */
struct sha256 {
	uint32_t	h[8];
	uint64_t	len;
	uint8_t		buf[64];
	size_t		nbuf;
};

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n)	(((x) >> (n)) | ((x) << (32 - (n))))

static void
sha256_block(struct sha256 *s, const uint8_t *p)
{
	uint32_t	w[64], a, b, c, d, e, f, g, h, t1, t2;
	int		i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^
		    (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^
		    (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
	e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) +
		    ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) +
		    ((a & b) ^ (a & c) ^ (b & c));
		h = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
	s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void
sha256_init(struct sha256 *s)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(s->h, iv, sizeof(iv));
	s->len = 0;
	s->nbuf = 0;
}

static void
sha256_update(struct sha256 *s, const void *data, size_t n)
{
	const uint8_t	*p = data;

	s->len += n;
	while (n > 0) {
		size_t take = 64 - s->nbuf < n ? 64 - s->nbuf : n;

		memcpy(s->buf + s->nbuf, p, take);
		s->nbuf += take;
		p += take;
		n -= take;
		if (s->nbuf == 64) {
			sha256_block(s, s->buf);
			s->nbuf = 0;
		}
	}
}

static void
sha256_hex(struct sha256 *s, char out[65])
{
	uint64_t	bits = s->len * 8;
	uint8_t		pad[72];
	size_t		npad;
	int		i;

	npad = (s->nbuf < 56 ? 56 : 120) - s->nbuf;
	memset(pad, 0, sizeof(pad));
	pad[0] = 0x80;
	for (i = 0; i < 8; i++)
		pad[npad + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(s, pad, npad + 8);
	for (i = 0; i < 8; i++)
		snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}

/* ----------------------------------------------------------------- common */

static int64_t
wall_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Close with RST: the peer must see an error, not an end. */
static void
close_reset(int fd)
{
	struct linger	l = { 1, 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* ------------------------------------------------------------------- echo */

static void *
echo_conn(void *arg)
{
	int	 fd = (int)(intptr_t)arg;
	char	*buf;
	ssize_t	 n, w, off;

	if ((buf = malloc(64 * 1024)) == NULL) {
		close(fd);
		return NULL;
	}
	for (;;) {
		n = read(fd, buf, 64 * 1024);
		if (n == 0) {
			shutdown(fd, SHUT_WR);
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (off = 0; off < n; off += w) {
			w = write(fd, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0)
				goto out;
		}
	}
out:
	/* Wait (bounded) for the client's close so that ours is a clean one. */
	{
		struct pollfd	pfd = { fd, POLLIN, 0 };
		int		i;

		for (i = 0; i < 600 && poll(&pfd, 1, 100) >= 0; i++) {
			if (pfd.revents == 0)
				continue;
			if (read(fd, buf, 64 * 1024) <= 0)
				break;
		}
	}
	free(buf);
	close(fd);
	return NULL;
}

static int
cmd_echo(int port)
{
	pthread_attr_t	attr;
	pthread_t	t;
	int		lfd, fd;

	if ((lfd = net_listen(port, 512)) == -1) {
		perror("soak-stream echo: listen");
		return 1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EMFILE || errno == ENFILE)
				continue;
			perror("soak-stream echo: accept");
			return 1;
		}
		if (pthread_create(&t, &attr, echo_conn, (void *)(intptr_t)fd))
			close(fd);
	}
}

/* ----------------------------------------------------------------- client */

/* splitmix64: a fast, well-mixed generator; one state per stream. */
static uint64_t
mix64(uint64_t *s)
{
	uint64_t	z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Byte block K of a stream: its content depends on (stream seed, K) only. */
static void
fill_block(uint64_t seed, uint64_t k, uint8_t *buf)
{
	uint64_t	s = seed ^ (k * 0xd1b54a32d192ed03ULL), v;
	size_t		i;

	for (i = 0; i < CHUNK; i += 8) {
		v = mix64(&s);
		memcpy(buf + i, &v, 8);
	}
}

struct client_opt {
	int		 port;
	const char	*node, *kind, *log;
	unsigned	 id;
	uint64_t	 seed;
	int64_t		 until;
	uint64_t	 min, max, rate;
	int		 stall_ms;
};

struct stream {
	int64_t		 t_start, t_first, t_end, last_in, last_move;
	uint64_t	 size, sent, recv;
	const char	*outcome;
	char		 detail[48];
	char		 sha_sent[65], sha_recv[65];
};

static const char *
errname(int e)
{
	switch (e) {
	case ECONNREFUSED:	return "ECONNREFUSED";
	case ECONNRESET:	return "ECONNRESET";
	case EPIPE:		return "EPIPE";
	case ETIMEDOUT:		return "ETIMEDOUT";
	case ECONNABORTED:	return "ECONNABORTED";
	case EHOSTUNREACH:	return "EHOSTUNREACH";
	case ENETUNREACH:	return "ENETUNREACH";
	default:		return strerror(e);
	}
}

static int
connect_port(int port, int timeout_ms, int *err)
{
	struct sockaddr_in	sin;
	struct pollfd		pfd;
	socklen_t		len = sizeof(*err);
	int			fd;

	net_loopback(&sin, port);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		*err = errno;
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		*err = errno;
		close(fd);
		return -1;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, timeout_ms) != 1) {
		*err = ETIMEDOUT;
		close(fd);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &len) == -1 || *err) {
		if (*err == 0)
			*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * One stream: send SIZE bytes while reading them back; compare as they
 * come.  Returns with st filled in.
 */
static void
client_stream(const struct client_opt *o, FILE *log, uint64_t sseed,
    uint64_t n, struct stream *st)
{
	struct sha256	 hs, hr;
	uint8_t		*sblk, *rblk, *in;
	uint64_t	 sblk_k = UINT64_MAX, rblk_k = UINT64_MAX;
	int		 fd, err = 0, shut = 0;
	int64_t		 now;

	sha256_init(&hs);
	sha256_init(&hr);
	st->outcome = NULL;
	st->detail[0] = '\0';
	st->t_first = 0;
	st->sent = st->recv = 0;
	st->t_start = wall_ms();
	sblk = malloc(CHUNK);
	rblk = malloc(CHUNK);
	in = malloc(CHUNK);
	if (sblk == NULL || rblk == NULL || in == NULL) {
		fprintf(stderr, "soak-stream: out of memory\n");
		exit(1);
	}
	if ((fd = connect_port(o->port, 5000, &err)) == -1) {
		st->outcome = "connect";
		snprintf(st->detail, sizeof(st->detail), "%s", errname(err));
		goto done;
	}
	st->last_move = st->last_in = st->t_start;
	while (st->outcome == NULL) {
		struct pollfd	pfd = { fd, POLLIN, 0 };
		int		want_out = st->sent < st->size, wait_ms = 100;

		now = wall_ms();
		/* Pace the sender: at most rate bytes/s since the start. */
		if (want_out && o->rate > 0 &&
		    st->sent > (uint64_t)(now - st->t_start) * o->rate / 1000) {
			want_out = 0;
			wait_ms = 10;
		}
		if (want_out)
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, wait_ms) == -1) {
			if (errno == EINTR)
				continue;
			st->outcome = "reset";
			snprintf(st->detail, sizeof(st->detail), "poll:%s",
			    errname(errno));
			break;
		}
		now = wall_ms();
		if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) {
			ssize_t r = read(fd, in, CHUNK);

			if (r < 0 && errno != EAGAIN && errno != EINTR) {
				st->outcome = "reset";
				snprintf(st->detail, sizeof(st->detail), "read:%s",
				    errname(errno));
				break;
			}
			if (r == 0) {
				if (st->recv == st->size) {
					st->outcome = "ok";
				} else {
					st->outcome = "eof";
					snprintf(st->detail, sizeof(st->detail),
					    "short");
				}
				break;
			}
			if (r > 0) {
				ssize_t	i = 0;

				if (st->t_first == 0)
					st->t_first = now;
				else if (now - st->last_in >= RESUME_GAP_MS)
					fprintf(log, "P %s %s %u %lld\n", o->node,
					    o->kind, o->id, (long long)now);
				st->last_in = st->last_move = now;
				if (st->recv + (uint64_t)r > st->size) {
					st->outcome = "corrupt";
					snprintf(st->detail, sizeof(st->detail),
					    "extra@%llu", (unsigned long long)
					    st->size);
					sha256_update(&hr, in, (size_t)r);
					st->recv += (uint64_t)r;
					break;
				}
				/* Compare with the sent bytes at this offset. */
				while (i < r) {
					uint64_t k = st->recv / CHUNK;
					size_t	 off = st->recv % CHUNK;
					size_t	 m = CHUNK - off;

					if (m > (size_t)(r - i))
						m = (size_t)(r - i);
					if (k != rblk_k) {
						fill_block(sseed, k, rblk);
						rblk_k = k;
					}
					if (memcmp(rblk + off, in + i, m) != 0) {
						size_t j;

						for (j = 0; j < m &&
						    rblk[off + j] == in[i + j]; j++)
							;
						st->outcome = "corrupt";
						snprintf(st->detail,
						    sizeof(st->detail), "at@%llu",
						    (unsigned long long)
						    (st->recv + j));
					}
					sha256_update(&hr, in + i, m);
					st->recv += m;
					i += (ssize_t)m;
				}
				if (st->outcome != NULL)
					break;
			}
		}
		if (want_out && (pfd.revents & POLLOUT)) {
			uint64_t k = st->sent / CHUNK;
			size_t	 off = st->sent % CHUNK, m = CHUNK - off;
			ssize_t	 w;

			if (m > st->size - st->sent)
				m = (size_t)(st->size - st->sent);
			if (k != sblk_k) {
				fill_block(sseed, k, sblk);
				sblk_k = k;
			}
			w = send(fd, sblk + off, m, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				st->outcome = "reset";
				snprintf(st->detail, sizeof(st->detail),
				    "write:%s", errname(errno));
				break;
			}
			if (w > 0) {
				sha256_update(&hs, sblk + off, (size_t)w);
				st->sent += (uint64_t)w;
				st->last_move = now;
			}
		}
		if (!shut && st->sent == st->size) {
			shutdown(fd, SHUT_WR);
			shut = 1;
		}
		if (now - st->last_move >= o->stall_ms) {
			st->outcome = "stall";
			snprintf(st->detail, sizeof(st->detail), "%dms",
			    o->stall_ms);
		} else if (now - o->until >= ABORT_AFTER_MS) {
			st->outcome = "abort";
		}
	}
	/* A stream that did not end cleanly is not ended cleanly by us either. */
	if (strcmp(st->outcome, "ok") == 0)
		close(fd);
	else
		close_reset(fd);
done:
	st->t_end = wall_ms();
	sha256_hex(&hs, st->sha_sent);
	sha256_hex(&hr, st->sha_recv);
	/* All of it back, a clean EOF: the hashes must agree too. */
	if (strcmp(st->outcome, "ok") == 0 &&
	    strcmp(st->sha_sent, st->sha_recv) != 0) {
		st->outcome = "corrupt";
		snprintf(st->detail, sizeof(st->detail), "sha256");
	}
	fprintf(log, "S %s %s %u %lld %lld %lld %llu %llu %llu %s %s %s %s\n",
	    o->node, o->kind, o->id, (long long)st->t_start,
	    (long long)st->t_first, (long long)st->t_end,
	    (unsigned long long)st->size, (unsigned long long)st->sent,
	    (unsigned long long)st->recv, st->outcome,
	    st->detail[0] ? st->detail : "-", st->sha_sent, st->sha_recv);
	fflush(log);
	(void)n;
	free(sblk);
	free(rblk);
	free(in);
}

static int
cmd_client(const struct client_opt *o)
{
	FILE		*log;
	struct stream	 st;
	uint64_t	 rng, n;

	if ((log = fopen(o->log, "a")) == NULL) {
		perror(o->log);
		return 1;
	}
	setvbuf(log, NULL, _IOLBF, 0);
	rng = o->seed * 0x9e3779b97f4a7c15ULL + o->port * 131ULL + o->id;
	for (n = 0; wall_ms() < o->until && n < 10000000; n++) {
		/* Sizes spread over orders of magnitude, min..max. */
		uint64_t r = mix64(&rng), span = o->max - o->min + 1, s;

		s = o->min + r % span;
		if ((r >> 40) % 3 == 0)		/* a third small ones */
			s = o->min + r % (span / 64 + 1);
		st.size = s;
		client_stream(o, log, mix64(&rng), n, &st);
		/* Failed: the node is probably down; do not spin. */
		if (strcmp(st.outcome, "ok") != 0)
			usleep(100000);
	}
	fclose(log);
	return 0;
}

/* ------------------------------------------------------------------ squat */

static volatile sig_atomic_t	stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int
cmd_squat(int port, int ms)
{
	struct sigaction	sa;
	int64_t			t0 = wall_ms();
	int			lfd = -1, fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stop && (lfd = net_listen(port, 64)) == -1) {
		if (errno != EADDRINUSE || wall_ms() - t0 > 5000) {
			perror("soak-stream squat: listen");
			return 1;
		}
		usleep(10000);
	}
	if (lfd == -1)
		return 1;
	printf("ready\n");
	fflush(stdout);
	t0 = wall_ms();
	while (!stop && wall_ms() - t0 < ms) {
		struct pollfd pfd = { lfd, POLLIN, 0 };

		if (poll(&pfd, 1, 50) == 1 &&
		    (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) != -1)
			close_reset(fd);
	}
	close(lfd);
	return 0;
}

/* ---------------------------------------------------------------- monitor */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* One `status` request: the reply, or NULL with *why set. */
static json_t *
status_once(const char *path, const char **why)
{
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	char			*buf = NULL;
	size_t			 len = 0, cap = 0;
	int64_t			 t0 = wall_ms();
	json_t			*j;
	ssize_t			 n;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*why = "socket-path-too-long";
		return NULL;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		*why = "socket";
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		*why = errno == ENOENT ? "no-socket" : "connect-refused";
		close(fd);
		return NULL;
	}
	if (write(fd, "status\n", 7) != 7) {
		*why = "write";
		close(fd);
		return NULL;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		int left = 5000 - (int)(wall_ms() - t0);

		if (left <= 0 || poll(&pfd, 1, left) != 1) {
			*why = "timeout";
			goto fail;
		}
		if (len + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 65536;
			if (cap > 64 * 1024 * 1024 ||
			    (nb = realloc(buf, cap)) == NULL) {
				*why = "too-big";
				goto fail;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*why = "read";
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		/* One reply line; the server closes after it anyway. */
		if (memchr(buf + len - n, '\n', (size_t)n) != NULL)
			break;
	}
	close(fd);
	if (buf == NULL) {
		*why = "empty";
		return NULL;
	}
	buf[len] = '\0';
	if ((j = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL)) == NULL)
		*why = "bad-json";
	free(buf);
	return j;
fail:
	close(fd);
	free(buf);
	return NULL;
}

/*
 * "NAME STATE CONNECTS OLLAMA_STATE FORWARD_STATES" of one node of a
 * status reply into LINE; the node's name, or NULL.  *ACTIVE (when not
 * NULL) gets the connections open through its forwards.
 */
static const char *
node_line(json_t *nd, char *line, size_t size, long long *active)
{
	const char	*name = json_string_value(json_object_get(nd, "name"));
	const char	*state = json_string_value(json_object_get(nd, "state"));
	json_t		*ssh = json_object_get(nd, "ssh");
	json_t		*ol = json_object_get(nd, "ollama");
	json_t		*fw = json_object_get(nd, "forwards"), *f;
	const char	*ost = NULL;
	char		 fws[256] = "";
	size_t		 k;
	json_int_t	 connects = -1;

	if (name == NULL)
		return NULL;
	if (json_is_object(ssh))
		connects = json_integer_value(json_object_get(ssh, "connects"));
	if (json_is_object(ol))
		ost = json_string_value(json_object_get(ol, "state"));
	if (active != NULL)
		*active = 0;
	json_array_foreach(fw, k, f) {
		const char	*fs = json_string_value(json_object_get(f,
				    "state"));
		size_t		 l = strlen(fws);

		snprintf(fws + l, sizeof(fws) - l, "%s%s", l ? "," : "",
		    fs ? fs : "?");
		if (active != NULL)
			*active += json_integer_value(json_object_get(f,
			    "active"));
	}
	snprintf(line, size, "%s %s %lld %s %s", name, state ? state : "-",
	    (long long)connects, ost ? ost : "-", fws[0] ? fws : "-");
	return name;
}

/* Once: one line per node, with the open connections appended. */
static int
cmd_status(const char *sock)
{
	const char	*why = "";
	json_t		*j, *nd;
	size_t		 i;

	if ((j = status_once(sock, &why)) == NULL) {
		fprintf(stderr, "soak-stream status: %s\n", why);
		return 3;
	}
	json_array_foreach(json_object_get(j, "nodes"), i, nd) {
		char		line[512];
		long long	active;

		if (node_line(nd, line, sizeof(line), &active) != NULL)
			printf("%s %lld\n", line, active);
	}
	json_decref(j);
	return 0;
}

static int
cmd_monitor(const char *sock, int64_t until, const char *logpath,
    int interval_ms)
{
	FILE		*log;
	json_t		*last = json_object();
	int64_t		*lat = NULL;
	size_t		 nlat = 0, caplat = 0, nfail = 0;
	int		 was_down = 0;

	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if ((log = fopen(logpath, "a")) == NULL) {
		perror(logpath);
		return 1;
	}
	setvbuf(log, NULL, _IOLBF, 0);
	while (!stop && wall_ms() < until) {
		int64_t		 t0 = wall_ms(), t1;
		const char	*why = "";
		json_t		*j = status_once(sock, &why), *nodes, *nd;
		size_t		 i;

		t1 = wall_ms();
		if (j == NULL) {
			nfail++;
			if (!was_down)
				fprintf(log, "M %lld - down %s\n", (long long)t1,
				    why);
			was_down = 1;
			json_object_clear(last);
			goto next;
		}
		was_down = 0;
		if (nlat == caplat) {
			int64_t *nl;

			caplat = caplat ? caplat * 2 : 4096;
			if ((nl = realloc(lat, caplat * sizeof(*lat))) == NULL)
				return 1;
			lat = nl;
		}
		lat[nlat++] = t1 - t0;
		nodes = json_object_get(j, "nodes");
		json_array_foreach(nodes, i, nd) {
			char		 line[512];
			const char	*name, *prev;

			if ((name = node_line(nd, line, sizeof(line), NULL)) ==
			    NULL)
				continue;
			prev = json_string_value(json_object_get(last, name));
			if (prev == NULL || strcmp(prev, line) != 0) {
				fprintf(log, "M %lld %s\n", (long long)t1, line);
				json_object_set_new(last, name,
				    json_string(line));
			}
		}
		json_decref(j);
next:
		{
			int64_t left = interval_ms - (wall_ms() - t0);

			if (left > 0 && !stop)
				usleep((useconds_t)left * 1000);
		}
	}
	if (nlat > 0) {
		qsort(lat, nlat, sizeof(*lat), cmp_i64);
		fprintf(log, "L polls=%zu failed=%zu p50_ms=%lld p99_ms=%lld "
		    "max_ms=%lld\n", nlat + nfail, nfail,
		    (long long)lat[nlat / 2], (long long)lat[(nlat * 99) / 100],
		    (long long)lat[nlat - 1]);
	} else
		fprintf(log, "L polls=%zu failed=%zu\n", nfail, nfail);
	fclose(log);
	free(lat);
	json_decref(last);
	return 0;
}

/* ------------------------------------------------------------------- main */

static int
cmd_sha256(void)
{
	struct sha256	s;
	char		buf[65536], hex[65];
	ssize_t		n;

	sha256_init(&s);
	while ((n = read(0, buf, sizeof(buf))) > 0)
		sha256_update(&s, buf, (size_t)n);
	if (n < 0)
		return 1;
	sha256_hex(&s, hex);
	printf("%s\n", hex);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: soak-stream echo PORT\n"
	    "       soak-stream client --port P --node NAME --kind KIND --id N"
	    " --seed S --until EPOCH_MS --log FILE\n"
	    "           [--min BYTES] [--max BYTES] [--rate BYTES_PER_S]"
	    " [--stall-ms MS]\n"
	    "       soak-stream squat PORT MS\n"
	    "       soak-stream monitor --socket PATH --until EPOCH_MS --log FILE"
	    " [--interval-ms MS]\n"
	    "       soak-stream status --socket PATH\n"
	    "       soak-stream sha256 < data\n");
	exit(2);
}

static long long
num(const char *s)
{
	char		*end;
	long long	 v = strtoll(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "echo") == 0)
		return cmd_echo(net_parse_port("soak-stream", argv[2]));
	if (argc == 4 && strcmp(argv[1], "squat") == 0)
		return cmd_squat(net_parse_port("soak-stream", argv[2]), (int)num(argv[3]));
	if (argc == 4 && strcmp(argv[1], "status") == 0 &&
	    strcmp(argv[2], "--socket") == 0)
		return cmd_status(argv[3]);
	if (argc == 2 && strcmp(argv[1], "sha256") == 0)
		return cmd_sha256();
	if (argc >= 2 && strcmp(argv[1], "client") == 0) {
		struct client_opt	o = { 0 };
		int			i;

		o.min = 1024;
		o.max = 1024 * 1024;
		o.stall_ms = 30000;
		o.until = -1;
		for (i = 2; i + 1 < argc; i += 2) {
			const char *k = argv[i], *v = argv[i + 1];

			if (strcmp(k, "--port") == 0)
				o.port = net_parse_port("soak-stream", v);
			else if (strcmp(k, "--node") == 0)
				o.node = v;
			else if (strcmp(k, "--kind") == 0)
				o.kind = v;
			else if (strcmp(k, "--id") == 0)
				o.id = (unsigned)num(v);
			else if (strcmp(k, "--seed") == 0)
				o.seed = (uint64_t)num(v);
			else if (strcmp(k, "--until") == 0)
				o.until = num(v);
			else if (strcmp(k, "--log") == 0)
				o.log = v;
			else if (strcmp(k, "--min") == 0)
				o.min = (uint64_t)num(v);
			else if (strcmp(k, "--max") == 0)
				o.max = (uint64_t)num(v);
			else if (strcmp(k, "--rate") == 0)
				o.rate = (uint64_t)num(v);
			else if (strcmp(k, "--stall-ms") == 0)
				o.stall_ms = (int)num(v);
			else
				usage();
		}
		if (i != argc || o.port == 0 || o.node == NULL ||
		    o.kind == NULL || o.log == NULL || o.until < 0 ||
		    o.min < 1 || o.max < o.min || o.stall_ms < 100)
			usage();
		return cmd_client(&o);
	}
	if (argc >= 2 && strcmp(argv[1], "monitor") == 0) {
		const char	*sock = NULL, *log = NULL;
		int64_t		 until = -1;
		int		 interval = 100, i;

		for (i = 2; i + 1 < argc; i += 2) {
			if (strcmp(argv[i], "--socket") == 0)
				sock = argv[i + 1];
			else if (strcmp(argv[i], "--until") == 0)
				until = num(argv[i + 1]);
			else if (strcmp(argv[i], "--log") == 0)
				log = argv[i + 1];
			else if (strcmp(argv[i], "--interval-ms") == 0)
				interval = (int)num(argv[i + 1]);
			else
				usage();
		}
		if (i != argc || sock == NULL || log == NULL || until < 0 ||
		    interval < 10)
			usage();
		return cmd_monitor(sock, until, log, interval);
	}
	usage();
	return 2;
}
