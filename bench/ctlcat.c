/*
 * ctlcat SOCKET WORD: send WORD and a newline to tunneld's control socket
 * and read the reply to EOF, discarding it.  The least any client of the
 * control socket can do, linked like tunnelctl (libc alone) and reading
 * in the same 16 KiB pieces: started as tunnelctl is, its time is the
 * floor under tunnelctl's (process start, connect, the daemon's reply, the
 * copy through the socket), and the difference is tunnelctl's own
 * parsing and rendering.  Exit 0, or 1 with a message.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char *argv[])
{
	struct sockaddr_un	 sun;
	char			 buf[16384];
	size_t			 len, off;
	ssize_t			 n;
	int			 fd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sun.sun_path) ||
	    (len = strlen(argv[2])) == 0 || len >= sizeof(buf)) {
		fprintf(stderr, "usage: ctlcat SOCKET WORD\n");
		return 1;
	}
	memcpy(buf, argv[2], len);
	buf[len++] = '\n';
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, argv[1], strlen(argv[1]));
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		goto fail;
	for (off = 0; off < len; off += (size_t)n)
		if ((n = write(fd, buf + off, len - off)) == -1 &&
		    errno != EINTR)
			goto fail;
		else if (n == -1)
			n = 0;
	while ((n = read(fd, buf, sizeof(buf))) != 0)
		if (n == -1 && errno != EINTR)
			goto fail;
	return 0;
fail:
	fprintf(stderr, "ctlcat: %s: %s\n", argv[1], strerror(errno));
	return 1;
}
