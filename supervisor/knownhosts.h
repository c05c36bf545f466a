/*
 * knownhosts: record a host key the way OpenSSH users expect a file they
 * rely on for trust to be changed.
 *
 * accept-new trusts a key only once it is on disk: the new file is written
 * beside the old one, synced, and renamed over it, so a reader sees the old
 * file or the new one, never half a line, and a full disk or a read-only
 * directory is an error instead of a silently empty file.  The file is
 * never written through a symbolic link (the link could point anywhere the
 * daemon may write), the directory is never created (a missing one is a
 * mistake in the config, not something to guess at), and an entry is never
 * glued onto a last line that lacks its newline.  Writers that use this
 * module, in this process or another, take turns on a lock of the
 * directory, so concurrent recordings all survive.
 */
#ifndef TUNNELD_KNOWNHOSTS_H
#define TUNNELD_KNOWNHOSTS_H

#include <stddef.h>

/*
 * Add ENTRY (one known_hosts line, with or without its "\n") to the file
 * PATH.  0 once the new file is renamed into place and synced; -1 with
 * errno set and a sentence in WHY ("cannot write /x/known_hosts.tmp: No
 * space left on device"); PATH is then unchanged.
 */
int	knownhosts_record(const char *path, const char *entry, char *why,
	    size_t whysz);

#endif
