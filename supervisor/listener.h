#ifndef TUNNELD_LISTENER_H
#define TUNNELD_LISTENER_H

struct evconnlistener;
struct listener_rest;

struct listener_rest *listener_rest_new(struct evconnlistener *,
	    const char *what);
void	listener_rest_free(struct listener_rest *);
void	listener_rest_error(struct listener_rest *, int err);
void	listener_reserve_check(struct listener_rest *, int fd);
int	listener_reserved(int fd, unsigned *limit);

#endif
