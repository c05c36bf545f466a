/*
 * notify: systemd's notification protocol (READY, STATUS, WATCHDOG,
 * RELOADING, STOPPING).  Every call is a no-op outside systemd.
 */
#ifndef TUNNELD_NOTIFY_H
#define TUNNELD_NOTIFY_H

#include <stdint.h>

void		notify_ready(void);
void		notify_reloading(void);
void		notify_stopping(void);
/* Sends STATUS= only when the line changed since the last one. */
void		notify_status(const char *line);
void		notify_watchdog(void);
/* WATCHDOG_USEC for this process, or 0 when no watchdog is asked for. */
uint64_t	notify_watchdog_usec(void);

#endif
