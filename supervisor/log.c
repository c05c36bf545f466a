#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

static enum log_target	 log_target = LOG_TARGET_STDERR;
static int		 log_verbose;
static FILE		*log_capture;

enum log_target
log_default_target(void)
{
	/* systemd sets one of these for every service it starts. */
	if (getenv("INVOCATION_ID") != NULL || getenv("JOURNAL_STREAM") != NULL)
		return LOG_TARGET_JOURNAL;
	return LOG_TARGET_STDERR;
}

int
log_parse_target(const char *s, enum log_target *t)
{
	if (strcmp(s, "journal") == 0)
		*t = LOG_TARGET_JOURNAL;
	else if (strcmp(s, "stderr") == 0)
		*t = LOG_TARGET_STDERR;
	else
		return -1;
	return 0;
}

void
log_init(enum log_target target, int verbose)
{
	log_target = target;
	log_verbose = verbose;
}

void
log_set_capture(const char *path)
{
	if (log_capture != NULL)
		fclose(log_capture);
	log_capture = path ? fopen(path, "ae") : NULL;
	if (log_capture != NULL)
		setvbuf(log_capture, NULL, _IOLBF, 0);
}

static void
log_emit(int prio, const char *node, const char *event, const char *reason,
    const char *const *fields, const char *msg)
{
	static const char *prionames[] = { "emerg", "alert", "crit", "err",
	    "warning", "notice", "info", "debug" };
	char		 ts[32];
	struct timespec	 now;
	struct tm	 tm;
	size_t		 i;

	if (prio == LOG_DEBUG && !log_verbose)
		return;

	if (log_capture != NULL) {
		fprintf(log_capture, "PRIORITY=%d", prio);
		if (node)
			fprintf(log_capture, "\tTUNNELD_NODE=%s", node);
		if (event)
			fprintf(log_capture, "\tTUNNELD_EVENT=%s", event);
		if (reason)
			fprintf(log_capture, "\tTUNNELD_REASON=%s", reason);
		for (i = 0; fields && fields[i]; i++)
			fprintf(log_capture, "\t%s", fields[i]);
		fprintf(log_capture, "\tMESSAGE=%s\n", msg);
	}

	if (log_target == LOG_TARGET_JOURNAL) {
		struct iovec	 iov[LOG_FIELDS_MAX + 6];
		char		*buf[LOG_FIELDS_MAX + 6];
		int		 n = 0, k;

		if (asprintf(&buf[n++], "MESSAGE=%s", msg) == -1 ||
		    asprintf(&buf[n++], "PRIORITY=%d", prio) == -1 ||
		    asprintf(&buf[n++], "SYSLOG_IDENTIFIER=tunneld") == -1)
			return;
		if (node && asprintf(&buf[n++], "TUNNELD_NODE=%s", node) == -1)
			n--;
		if (event && asprintf(&buf[n++], "TUNNELD_EVENT=%s", event) == -1)
			n--;
		if (reason && asprintf(&buf[n++], "TUNNELD_REASON=%s", reason) == -1)
			n--;
		for (i = 0; fields && fields[i] && i < LOG_FIELDS_MAX; i++)
			if ((buf[n] = strdup(fields[i])) != NULL)
				n++;
		for (k = 0; k < n; k++) {
			iov[k].iov_base = buf[k];
			iov[k].iov_len = strlen(buf[k]);
		}
		sd_journal_sendv(iov, n);
		for (k = 0; k < n; k++)
			free(buf[k]);
		return;
	}

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ tunneld[%d] %s: %s", ts, now.tv_nsec / 1000000,
	    (int)getpid(), prio >= 0 && prio < 8 ? prionames[prio] : "?", msg);
	if (event)
		fprintf(stderr, " event=%s", event);
	for (i = 0; fields && fields[i]; i++)
		fprintf(stderr, " %s", fields[i]);
	fputc('\n', stderr);
}

static void
log_vprio(int prio, const char *suffix, const char *fmt, va_list ap)
{
	char	msg[2048];
	int	n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (suffix != NULL && n >= 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, ": %s", suffix);
	log_emit(prio, NULL, NULL, NULL, NULL, msg);
}

void
log_entry(int prio, const char *node, const char *event, const char *reason,
    const char *const *fields, const char *fmt, ...)
{
	char	msg[2048];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_emit(prio, node, event, reason, fields, msg);
}

#define LOG_FN(name, prio, witherr)					\
void									\
name(const char *fmt, ...)						\
{									\
	va_list	ap;							\
	int	saved = errno;						\
									\
	va_start(ap, fmt);						\
	log_vprio(prio, witherr ? strerror(saved) : NULL, fmt, ap);	\
	va_end(ap);							\
	errno = saved;							\
}
LOG_FN(log_warn, LOG_WARNING, 1)
LOG_FN(log_warnx, LOG_WARNING, 0)
LOG_FN(log_info, LOG_INFO, 0)
LOG_FN(log_debug, LOG_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vprio(LOG_CRIT, strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vprio(LOG_CRIT, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
