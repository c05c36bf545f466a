/*
 * netutil: the loopback socket chores the test and bench helpers share
 * (tests/tunnel-helper.c, tests/soak-stream.c).
 */
#ifndef TUNNELD_TESTS_NETUTIL_H
#define TUNNELD_TESTS_NETUTIL_H

#include <netinet/in.h>

/* A port number 1-65535 from S, or a message naming PROG and exit 2. */
int	net_parse_port(const char *prog, const char *s);
/* 127.0.0.1:PORT into SIN. */
void	net_loopback(struct sockaddr_in *sin, int port);
/* A blocking socket connected to 127.0.0.1:PORT, or -1 (errno set). */
int	net_connect(int port);
/* A listener on 127.0.0.1:PORT (SO_REUSEADDR, close-on-exec), or -1. */
int	net_listen(int port, int backlog);

#endif
