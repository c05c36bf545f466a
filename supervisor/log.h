/*
 * log: stderr or the journal, chosen once at start.
 *
 * Under systemd every entry goes through sd_journal_sendv() so that it
 * carries structured fields (TUNNELD_NODE, TUNNELD_EVENT, TUNNELD_REASON and,
 * for alerts, MESSAGE_ID and the measured values); on stderr the same
 * entry is one line with the fields appended as key=value.
 */
#ifndef TUNNELD_LOG_H
#define TUNNELD_LOG_H

#include <stdarg.h>
#include <syslog.h>

enum log_target { LOG_TARGET_STDERR, LOG_TARGET_JOURNAL };

#define LOG_FIELDS_MAX	16

void	log_init(enum log_target, int verbose);
enum log_target log_default_target(void);
int	log_parse_target(const char *, enum log_target *);

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * A structured entry.  FIELDS is a NULL-terminated list of "KEY=value"
 * strings (at most LOG_FIELDS_MAX); NODE, EVENT and REASON may be NULL.
 */
void	log_entry(int prio, const char *node, const char *event,
	    const char *reason, const char *const *fields, const char *fmt, ...)
	    __attribute__((format(printf, 6, 7)));

/* Tests: every entry is also appended, one line each, to this file. */
void	log_set_capture(const char *path);

#endif
