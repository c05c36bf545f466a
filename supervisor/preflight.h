/*
 * preflight: what in a valid configuration would fail at once on this
 * machine (a key file that cannot be read, a known_hosts that does not
 * exist, an admin_group nobody has defined, a listen address another
 * program holds).  config.c judges the file alone; this looks around.
 *
 * `tunneld --check-config` prints the findings; the daemon only logs them
 * and carries on (the node concerned is reported down with the reason), so
 * that a service started with an unfinished config does not crash-loop.
 */
#ifndef TUNNELD_PREFLIGHT_H
#define TUNNELD_PREFLIGHT_H

#include "config.h"

/*
 * Append "file:line: message" to ERRS for what will fail and to WARNS for
 * what may (a listen address in use now may be free by then).  Returns the
 * number of errors.
 */
size_t	preflight_check(const struct config *, struct config_errors *errs,
	    struct config_errors *warns);
/*
 * The files alone: not admin_group, which the daemon checks (and says)
 * itself, nor the trial binds, which it is about to make for real.
 */
size_t	preflight_files(const struct config *, struct config_errors *errs,
	    struct config_errors *warns);

#endif
