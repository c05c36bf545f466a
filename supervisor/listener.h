#ifndef TUNNELD_LISTENER_H
#define TUNNELD_LISTENER_H

#include <stddef.h>
#include <stdint.h>

#include <event2/listener.h>

struct listener_rest;

int	listener_bind(const char *host, uint16_t port, evconnlistener_cb,
	    evconnlistener_errorcb, void *arg, const char *what,
	    struct evconnlistener **, struct listener_rest **, char *why,
	    size_t whysz);

struct listener_rest *listener_rest_new(struct evconnlistener *,
	    const char *what);
void	listener_rest_free(struct listener_rest *);
void	listener_rest_error(struct listener_rest *, int err);
void	listener_reserve_check(struct listener_rest *, int fd);
int	listener_reserved(int fd, unsigned *limit);

struct bufferevent;
void	listener_client_free(struct bufferevent *);

#endif
