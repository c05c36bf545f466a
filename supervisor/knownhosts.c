/*
 * knownhosts: see knownhosts.h for what is promised and why.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "knownhosts.h"

static int
kh_fail(char *why, size_t whysz, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* WHY = the sentence, then ": " and ERR's text; errno = ERR. */
static int
kh_fail(char *why, size_t whysz, int err, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(why, whysz, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < whysz)
		snprintf(why + n, whysz - (size_t)n, ": %s", strerror(err));
	errno = err;
	return -1;
}

/* write(2) all of BUF, retrying short writes; -1 with errno. */
static int
kh_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	w;

	while (len > 0) {
		if ((w = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Copy the open file OLD to NEW; *LAST gets its last byte ('\n' when it is
 * empty).
 */
static int
kh_copy(int old, int new, char *last)
{
	char	buf[8192];
	ssize_t	r;

	*last = '\n';
	for (;;) {
		if ((r = read(old, buf, sizeof(buf))) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			return 0;
		*last = buf[r - 1];
		if (kh_write_all(new, buf, (size_t)r) == -1)
			return -1;
	}
}

int
knownhosts_record(const char *path, const char *entry, char *why,
    size_t whysz)
{
	char		 dir[PATH_MAX], tmp[PATH_MAX], last;
	const char	*base;
	struct stat	 st;
	size_t		 elen;
	mode_t		 um;
	int		 dfd = -1, ofd = -1, tfd = -1, made = 0, err;

	elen = strcspn(entry, "\n");
	if (elen == 0 || (entry[elen] != '\0' && entry[elen + 1] != '\0'))
		return kh_fail(why, whysz, EINVAL, "host key entry is not one line");
	if ((base = strrchr(path, '/')) == NULL) {
		snprintf(dir, sizeof(dir), ".");
		base = path;
	} else if (base == path)
		snprintf(dir, sizeof(dir), "/"), base++;
	else {
		if ((size_t)(base - path) >= sizeof(dir))
			return kh_fail(why, whysz, ENAMETOOLONG, "%s", path);
		snprintf(dir, sizeof(dir), "%.*s", (int)(base - path), path);
		base++;
	}
	if (*base == '\0')
		return kh_fail(why, whysz, EISDIR, "%s", path);
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return kh_fail(why, whysz, ENAMETOOLONG, "%s", path);

	/* The directory is opened, never made: a missing one fails here. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return kh_fail(why, whysz, errno, "cannot open directory "
		    "%s", dir);
	/* One writer at a time: a rename would drop another's entry. */
	while (flock(dfd, LOCK_EX) == -1)
		if (errno != EINTR) {
			err = errno;
			close(dfd);
			return kh_fail(why, whysz, err, "cannot lock "
			    "directory %s", dir);
		}

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(st.st_mode)) {
			err = ELOOP;
			snprintf(why, whysz, "%s is a symbolic link; host keys "
			    "are recorded only in a regular file", path);
			goto fail;
		}
		if (!S_ISREG(st.st_mode)) {
			err = EINVAL;
			snprintf(why, whysz, "%s is not a regular file", path);
			goto fail;
		}
		if ((ofd = openat(dfd, base, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC)) == -1) {
			err = errno;
			kh_fail(why, whysz, err, "cannot read %s", path);
			goto fail;
		}
	} else if (errno != ENOENT) {
		err = errno;
		kh_fail(why, whysz, err, "cannot read %s", path);
		goto fail;
	}

	if ((tfd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		err = errno;
		kh_fail(why, whysz, err, "cannot create a new %s", path);
		goto fail;
	}
	made = 1;
	um = umask(0);
	umask(um);
	/* The old file's mode and owner; a new one as fopen("a") makes it. */
	if ((ofd != -1 ? fchmod(tfd, st.st_mode & 07777) :
	    fchmod(tfd, 0666 & ~um)) == -1 || (ofd != -1 && geteuid() == 0 &&
	    fchown(tfd, st.st_uid, st.st_gid) == -1)) {
		err = errno;
		kh_fail(why, whysz, err, "cannot set the mode of a new %s",
		    path);
		goto fail;
	}
	last = '\n';
	if (ofd != -1 && kh_copy(ofd, tfd, &last) == -1) {
		err = errno;
		kh_fail(why, whysz, err, "cannot copy %s", path);
		goto fail;
	}
	/* A last line without its newline keeps it: the entry is its own line. */
	if ((last != '\n' && kh_write_all(tfd, "\n", 1) == -1) ||
	    kh_write_all(tfd, entry, elen) == -1 ||
	    kh_write_all(tfd, "\n", 1) == -1 || fsync(tfd) == -1) {
		err = errno;
		kh_fail(why, whysz, err, "cannot write %s", path);
		goto fail;
	}
	if (close(tfd) == -1) {
		tfd = -1;
		err = errno;
		kh_fail(why, whysz, err, "cannot write %s", path);
		goto fail;
	}
	tfd = -1;
	if (rename(tmp, path) == -1) {
		err = errno;
		kh_fail(why, whysz, err, "cannot replace %s", path);
		goto fail;
	}
	made = 0;
	/* The rename itself must survive a crash, or the entry never was. */
	if (fsync(dfd) == -1 && errno != EINVAL) {
		err = errno;
		kh_fail(why, whysz, err, "cannot sync directory %s", dir);
		goto fail;
	}
	if (ofd != -1)
		close(ofd);
	close(dfd);		/* drops the lock */
	return 0;
fail:
	if (tfd != -1)
		close(tfd);
	if (made)
		unlink(tmp);
	if (ofd != -1)
		close(ofd);
	close(dfd);
	errno = err;
	return -1;
}
