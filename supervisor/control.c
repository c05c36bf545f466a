#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "control.h"
#include "listener.h"
#include "node.h"
#include "pool.h"
#include "log.h"
#include "metrics.h"
#include "status.h"
#include "tunneld.h"
#include "utf8.h"

/*
 * Past CTL_CLIENTS_MAX a client is dropped to make room, or the newcomer
 * turned away (control_victim()): a flood of idle or hostile connections
 * can never lock out another user's `tunnelctl status`, nor push out one
 * of its own user's that has just connected or just been answered.
 */
#define CTL_CLIENTS_MAX		128
#define CTL_IDLE_TIMEOUT	5	/* s to send a whole request */
#define CTL_WRITE_TIMEOUT	10	/* s for a reader to take an answer */
#define CTL_WATCH_BUF_MAX	(1024 * 1024)
/* 15 digits: 398.41 stays 398.41, not 398.41000000000003. */
#define CONTROL_JSON_FLAGS	(JSON_COMPACT | JSON_REAL_PRECISION(15))
/*
 * A status for every node is written as the client takes it: at most this
 * much waits in its buffer, whatever the node count, and the next piece is
 * made once it has drained to half.
 */
#define CTL_STATUS_CHUNK	(64 * 1024)
/*
 * The first piece is small: the client reads and parses it while the next
 * is made (a 1,000-node summary's first 64 KiB took 0.4 ms to make).
 */
#define CTL_STATUS_FIRST	(8 * 1024)
#define CTL_GRACE_MS		1000	/* after each step, before a newer
					   client of the same user may take
					   the slot */

struct ctl_client {
	TAILQ_ENTRY(ctl_client)	 entry;
	struct bufferevent	*bev;
	struct event		*ev_deadline;	/* the whole request, not each read */
	uid_t			 uid;
	pid_t			 pid;
	int			 admin;
	int			 watching;
	int			 answered;	/* reply queued: close once written */
	struct status_cursor	 st;		/* a status of every node being
						   written; done: none */
	uint64_t		 since;		/* ms of its last step: accepted,
						   answered, watching */
};
TAILQ_HEAD(ctl_clients, ctl_client);

struct control {
	struct evconnlistener	*listener;
	struct listener_rest	*rest;		/* when accept() fails */
	char			*path;
	struct ctl_clients	 clients;	/* oldest first */
	unsigned		 nclients;
};

static const struct {
	const char	*name;
	enum ctl_cmd	 cmd;
	int		 minargs, maxargs;
	int		 mutates;
} ctl_cmds[] = {
	{ "status",	CTL_STATUS,	0, 1, 0 },
	{ "summary",	CTL_SUMMARY,	0, 1, 0 },
	{ "restart",	CTL_RESTART,	1, 1, 1 },
	{ "stop",	CTL_STOP,	1, 1, 1 },
	{ "start",	CTL_START,	1, 1, 1 },
	{ "reload",	CTL_RELOAD,	0, 0, 1 },
	{ "watch",	CTL_WATCH,	0, 0, 0 },
	{ "metrics",	CTL_METRICS,	0, 0, 0 },
	{ "version",	CTL_VERSION,	0, 0, 0 },
	{ "best",	CTL_BEST,	0, 3, 0 },
};
#define NCMDS	(sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

int
control_cmd_mutates(enum ctl_cmd cmd)
{
	size_t	i;

	for (i = 0; i < NCMDS; i++)
		if (ctl_cmds[i].cmd == cmd)
			return ctl_cmds[i].mutates;
	return 1;
}

static int
control_valid_name(const char *s)
{
	const char	*p;

	if (*s == '\0')
		return 0;
	for (p = s; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && *p != '-' && *p != '_' &&
		    *p != '.' && *p != ':')
			return 0;
	return 1;
}

int
control_parse(const char *line, size_t len, struct ctl_request *req,
    char *err, size_t errsz)
{
	char		 buf[CTL_LINE_MAX + 1], *words[8], *p, *save = NULL;
	size_t		 i, n, nwords = 0, nargs;
	int		 c;

	memset(req, 0, sizeof(*req));
	if (len > CTL_LINE_MAX) {
		snprintf(err, errsz, "request too long (at most %d bytes)",
		    CTL_LINE_MAX);
		return -1;
	}
	if (len > 0 && line[len - 1] == '\r')	/* socat, telnet */
		len--;
	for (i = 0; i < len; i += n) {
		c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			snprintf(err, errsz, "malformed request: control "
			    "character 0x%02x at byte %zu", c, i + 1);
			return -1;
		}
		if ((n = utf8_len((const unsigned char *)line + i,
		    len - i)) == 0) {
			snprintf(err, errsz, "malformed request: not UTF-8 "
			    "at byte %zu", i + 1);
			return -1;
		}
	}
	memcpy(buf, line, len);
	buf[len] = '\0';
	for (p = strtok_r(buf, " \t", &save); p != NULL;
	    p = strtok_r(NULL, " \t", &save)) {
		if (nwords == sizeof(words) / sizeof(words[0])) {
			snprintf(err, errsz, "too many words in request");
			return -1;
		}
		words[nwords++] = p;
	}
	if (nwords == 0) {
		snprintf(err, errsz, "empty request");
		return -1;
	}
	for (i = 0; i < NCMDS; i++)
		if (strcmp(words[0], ctl_cmds[i].name) == 0)
			break;
	if (i == NCMDS) {
		snprintf(err, errsz, "unknown command '%.32s'; try status, "
		    "summary, restart, stop, start, reload, watch, metrics, version, best",
		    words[0]);
		return -1;
	}
	req->cmd = ctl_cmds[i].cmd;

	if (req->cmd == CTL_BEST) {
		/* best [POOL] [--model NAME] */
		size_t k;

		for (k = 1; k < nwords; k++) {
			if (strcmp(words[k], "--model") == 0 && k + 1 < nwords) {
				if (strlen(words[k + 1]) >= sizeof(req->model) ||
				    !control_valid_name(words[k + 1]))
					goto badname;
				snprintf(req->model, sizeof(req->model), "%s",
				    words[++k]);
			} else if (words[k][0] != '-' && req->arg[0] == '\0') {
				if (strlen(words[k]) >= sizeof(req->arg) ||
				    !control_valid_name(words[k]))
					goto badname;
				snprintf(req->arg, sizeof(req->arg), "%s",
				    words[k]);
			} else {
				snprintf(err, errsz, "usage: best [POOL] "
				    "[--model NAME]");
				return -1;
			}
		}
		return 0;
	}

	nargs = nwords - 1;
	if ((int)nargs < ctl_cmds[i].minargs || (int)nargs > ctl_cmds[i].maxargs) {
		snprintf(err, errsz, "usage: %s%s", ctl_cmds[i].name,
		    ctl_cmds[i].maxargs == 0 ? "" :
		    ctl_cmds[i].minargs == 0 ? " [NODE]" :
		    req->cmd == CTL_RESTART ? " NODE|all" : " NODE");
		return -1;
	}
	if (nargs == 1) {
		if (strlen(words[1]) >= sizeof(req->arg) ||
		    !control_valid_name(words[1]))
			goto badname;
		snprintf(req->arg, sizeof(req->arg), "%s", words[1]);
	}
	return 0;
badname:
	snprintf(err, errsz, "malformed name in request");
	return -1;
}

static struct control	*ctl;

static void
control_client_free(struct ctl_client *cl)
{
	TAILQ_REMOVE(&ctl->clients, cl, entry);
	ctl->nclients--;
	status_cursor_free(&cl->st);
	event_free(cl->ev_deadline);
	listener_client_free(cl->bev);
	free(cl);
}

/*
 * Queue one JSON line; the object is stolen.  NULL (json_pack() refused a
 * string that is not UTF-8, or memory ran out) is still answered: a
 * client whose reply was lost would wait for it until its deadline.
 */
static void
control_send(struct ctl_client *cl, json_t *o)
{
	static const char	 lost[] = "{\"ok\":false,\"error\":\"the reply "
				    "could not be encoded\",\"kind\":\""
				    CTL_ERR_INTERNAL "\",\"protocol\":%d}\n";
	struct evbuffer		*out = bufferevent_get_output(cl->bev);
	char			*s = NULL;

	if (o != NULL) {
		if (json_object_get(o, "protocol") == NULL)
			json_object_set_new(o, "protocol",
			    json_integer(TUNNELD_PROTOCOL));
		s = json_dumps(o, CONTROL_JSON_FLAGS);
		json_decref(o);
	}
	if (s == NULL) {
		log_warnx("%s: a reply could not be encoded", __func__);
		evbuffer_add_printf(out, lost, TUNNELD_PROTOCOL);
		return;
	}
	evbuffer_add(out, s, strlen(s));
	evbuffer_add(out, "\n", 1);
	free(s);
}

/* The reply is queued; libevent writes it on a later turn. */
static void
control_answered(struct ctl_client *cl)
{
	cl->answered = 1;
	cl->since = now_ms();
	bufferevent_disable(cl->bev, EV_READ);
}

/*
 * An error reply.  KIND says what went wrong in a word a program can act
 * on (doc/DESIGN.md, "Errors"); ERROR is the sentence for a person.
 */
static void
control_reply_fail(struct ctl_client *cl, const char *kind, const char *msg)
{
	char	buf[4096];

	control_send(cl, json_pack("{s:b,s:s,s:s}", "ok", 0, "error",
	    utf8_clean(msg, buf, sizeof(buf)), "kind", kind));
	control_answered(cl);
}

static void
control_reply_error(struct ctl_client *cl, const char *msg)
{
	control_reply_fail(cl, CTL_ERR_USAGE, msg);
}

/*
 * "no such node 'runpd'; did you mean 'runpod'?", with the name and the
 * suggestion also as fields.  WHAT is "node" or "pool"; CANDIDATES the
 * names there are (NULL-terminated).
 */
static void
control_reply_unknown(struct ctl_client *cl, const char *what,
    const char *name, const char *const *candidates)
{
	const char	*sug = config_suggest(name, candidates);
	char		 msg[256];
	json_t		*o;

	snprintf(msg, sizeof(msg), "no such %s '%s'%s%s%s", what, name,
	    sug ? "; did you mean '" : "", sug ? sug : "", sug ? "'?" : "");
	o = json_pack("{s:b,s:s,s:s,s:s,s:o}", "ok", 0, "error", msg,
	    "kind", strcmp(what, "pool") == 0 ? CTL_ERR_NO_POOL :
	    CTL_ERR_NO_NODE, "name", name, "did_you_mean",
	    sug ? json_string(sug) : json_null());
	control_send(cl, o);
	control_answered(cl);
}

/* Every node's name, and "all" when ALL; NULL-terminated, or NULL. */
static const char **
control_node_names(int all)
{
	const char	**names;
	struct node	 *n;
	size_t		  i = 0, cnt = 2;

	TAILQ_FOREACH(n, &td->nodes, entry)
		cnt++;
	if ((names = calloc(cnt, sizeof(*names))) == NULL)
		return NULL;
	TAILQ_FOREACH(n, &td->nodes, entry)
		names[i++] = n->conf->name;
	if (all)
		names[i++] = "all";
	return names;
}

static void
control_no_node(struct ctl_client *cl, const char *name, int all)
{
	const char	**names = control_node_names(all);

	control_reply_unknown(cl, "node", name, names);
	free(names);
}

static void
control_no_pool(struct ctl_client *cl, const char *name)
{
	const char	**names;
	struct pool_conf *pc;
	size_t		  i = 0;

	if ((names = calloc(td->conf->npools + 1, sizeof(*names))) != NULL)
		TAILQ_FOREACH(pc, &td->conf->pools, entry)
			names[i++] = pc->name;
	control_reply_unknown(cl, "pool", name, names);
	free(names);
}

static json_t *
control_ok(const char *msg)
{
	char	buf[4096];

	/* A reload's names the config's path, whatever its bytes. */
	return json_pack("{s:b,s:s}", "ok", 1, "message",
	    utf8_clean(msg, buf, sizeof(buf)));
}

/* best [POOL] [--model NAME]: the node a client should use now, and why. */
static void
control_best(struct ctl_client *cl, const struct ctl_request *req)
{
	struct node	*n;
	char		 addr[CONFIG_HOST_MAX + 8], why[256];
	int		 nopool;

	n = pool_best(req->arg, req->model, addr, sizeof(addr), why,
	    sizeof(why), &nopool);
	if (nopool) {
		control_no_pool(cl, req->arg);
		return;
	}
	if (n == NULL)
		control_send(cl, json_pack("{s:b,s:n,s:n,s:s}", "ok", 1,
		    "address", "node", "reason", why));
	else
		control_send(cl, json_pack("{s:b,s:s,s:s,s:s}", "ok", 1,
		    "address", addr, "node", n->conf->name, "reason", why));
}

static void
control_status_cut(struct ctl_client *cl)
{
	log_warnx("status for client %d cut off: out of memory", (int)cl->pid);
	control_client_free(cl);
}

/* Whether a status of every node is being written to CL. */
static int
control_status_open(const struct ctl_client *cl)
{
	return !status_cursor_done(&cl->st);
}

/*
 * The next piece of a status for every node, about LIMIT bytes, then its
 * end.  A reply that cannot be finished (out of memory) is cut off: the
 * client sees no line.  Returns -1 when CL was freed.
 */
static int
control_status_more(struct ctl_client *cl, size_t limit)
{
	struct evbuffer	*out = bufferevent_get_output(cl->bev);

	if (status_nodes(out, &cl->st, limit,
	    CONTROL_JSON_FLAGS) == -1 || (status_cursor_done(&cl->st) &&
	    (status_tail(out, 1, CONTROL_JSON_FLAGS) == -1 ||
	    evbuffer_add(out, "\n", 1) == -1))) {
		control_status_cut(cl);
		return -1;
	}
	if (status_cursor_done(&cl->st)) {
		status_cursor_free(&cl->st);	/* done: no status open */
		bufferevent_setwatermark(cl->bev, EV_WRITE, 0, 0);
	}
	return 0;
}

/* A status (BRIEF: summary) of every node, written as it is taken. */
static void
control_status_start(struct ctl_client *cl, int brief)
{
	struct evbuffer	*out = bufferevent_get_output(cl->bev);
	uint64_t	 now = now_ms();

	if (status_head(out, now, CONTROL_JSON_FLAGS) == -1) {
		control_reply_fail(cl, CTL_ERR_INTERNAL,
		    "cannot build the status: out of memory");
		return;
	}
	cl->st.next = TAILQ_FIRST(&td->nodes);
	cl->st.now = now;
	cl->st.brief = brief;
	cl->st.first = 1;
	control_answered(cl);
	bufferevent_setwatermark(cl->bev, EV_WRITE, CTL_STATUS_CHUNK / 2, 0);
	control_status_more(cl, CTL_STATUS_FIRST);
}

static void
control_dispatch(struct ctl_client *cl, const struct ctl_request *req)
{
	struct node	*n = NULL;
	char		 msg[2048];

	if (control_cmd_mutates(req->cmd) && !cl->admin) {
		snprintf(msg, sizeof(msg), "permission denied: %s needs group %s",
		    req->cmd == CTL_RESTART ? "restart" : req->cmd == CTL_STOP ?
		    "stop" : req->cmd == CTL_START ? "start" : "reload",
		    td->conf->admin_group);
		control_reply_fail(cl, CTL_ERR_PERMISSION, msg);
		return;
	}
	if ((req->cmd == CTL_RESTART && strcmp(req->arg, "all") != 0) ||
	    req->cmd == CTL_STOP || req->cmd == CTL_START) {
		if ((n = node_find(req->arg)) == NULL) {
			control_no_node(cl, req->arg, req->cmd == CTL_RESTART);
			return;
		}
	}

	switch (req->cmd) {
	case CTL_STATUS:
	case CTL_SUMMARY:
		if (req->arg[0] == '\0') {
			control_status_start(cl, req->cmd == CTL_SUMMARY);
			return;
		}
		switch (status_write(bufferevent_get_output(cl->bev),
		    req->arg, req->cmd == CTL_SUMMARY, CONTROL_JSON_FLAGS)) {
		case 1:
			control_no_node(cl, req->arg, 0);
			return;
		case -1:
			control_reply_fail(cl, CTL_ERR_INTERNAL,
			    "cannot build the status: out of memory");
			return;
		}
		evbuffer_add(bufferevent_get_output(cl->bev), "\n", 1);
		break;
	case CTL_RESTART:
		if (n == NULL) {
			TAILQ_FOREACH(n, &td->nodes, entry)
				if (!n->admin_stopped)
					node_restart(n);
			control_send(cl, control_ok("restarting all nodes"));
		} else {
			node_restart(n);
			snprintf(msg, sizeof(msg), "restarting %s", n->conf->name);
			control_send(cl, control_ok(msg));
		}
		break;
	case CTL_STOP:
		node_stop(n, "stopped by tunnelctl");
		snprintf(msg, sizeof(msg), "%s stopped", n->conf->name);
		control_send(cl, control_ok(msg));
		break;
	case CTL_START:
		node_start(n);
		snprintf(msg, sizeof(msg), "%s started", n->conf->name);
		control_send(cl, control_ok(msg));
		break;
	case CTL_RELOAD:
		if (tunneld_reload(msg, sizeof(msg)) == -1) {
			control_reply_fail(cl, CTL_ERR_CONFIG, msg);
			return;
		}
		control_send(cl, control_ok(msg));
		break;
	case CTL_VERSION:
		control_send(cl, json_pack("{s:b,s:s,s:i}", "ok", 1, "version",
		    PACKAGE_VERSION, "protocol", TUNNELD_PROTOCOL));
		break;
	case CTL_WATCH:
		cl->watching = 1;
		cl->since = now_ms();
		/* A watcher stays silent and may read rarely: no timeouts. */
		bufferevent_set_timeouts(cl->bev, NULL, NULL);
		control_send(cl, json_pack("{s:b,s:s}", "ok", 1, "event",
		    "hello"));
		return;
	case CTL_METRICS: {
		char	*text;
		size_t	 len;

		if ((text = metrics_render(&len)) == NULL) {
			control_reply_fail(cl, CTL_ERR_INTERNAL,
			    "metrics: out of memory");
			return;
		}
		control_send(cl, json_pack("{s:b,s:s%}", "ok", 1, "text", text,
		    len));
		free(text);
		break;
	}
	case CTL_BEST:
		control_best(cl, req);
		break;
	}
	control_answered(cl);
}

static void
control_read(struct bufferevent *bev, void *arg)
{
	struct ctl_client	*cl = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 eol;
	struct ctl_request	 req;
	char			 line[CTL_LINE_MAX + 1], err[256];
	size_t			 len;

	if (cl->answered || cl->watching) {
		/* One request per connection; watchers only listen. */
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	eol = evbuffer_search(in, "\n", 1, NULL);
	if (eol.pos == -1) {
		if (evbuffer_get_length(in) > CTL_LINE_MAX) {
			control_reply_error(cl, "request too long (at most "
			    "1024 bytes)");
			evbuffer_drain(in, evbuffer_get_length(in));
		}
		return;		/* wait for the rest, within the idle timeout */
	}
	len = (size_t)eol.pos;
	if (len > CTL_LINE_MAX) {
		control_reply_error(cl, "request too long (at most 1024 bytes)");
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	evbuffer_remove(in, line, len + 1);
	evbuffer_drain(in, evbuffer_get_length(in));
	if (control_parse(line, len, &req, err, sizeof(err)) == -1) {
		control_reply_error(cl, err);
		return;
	}
	control_dispatch(cl, &req);
}

static void
control_write(struct bufferevent *bev, void *arg)
{
	struct ctl_client	*cl = arg;

	if (control_status_open(cl) &&
	    control_status_more(cl, CTL_STATUS_CHUNK) == -1)
		return;
	if (cl->answered && evbuffer_get_length(bufferevent_get_output(bev))
	    == 0)
		control_client_free(cl);
}

static void
control_event(struct bufferevent *bev, short what, void *arg)
{
	/* EOF, error or timeout: the client is gone or too slow. */
	control_client_free(arg);
}

/*
 * CTL_IDLE_TIMEOUT after the connect, a client that has not sent a whole
 * request is dropped.  A read timeout alone would not do: it restarts with
 * every byte, so one byte every few seconds would hold a slot for ever.
 */
static void
control_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct ctl_client	*cl = arg;

	if (cl->answered || cl->watching)
		return;
	log_debug("%s: pid %d sent no request in %d s, dropped", __func__,
	    (int)cl->pid, CTL_IDLE_TIMEOUT);
	control_client_free(cl);
}

static int
control_peer_is_admin(int fd, uid_t *uidp, pid_t *pidp)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);
	gid_t		 groups[256];
	socklen_t	 glen = sizeof(groups);
	size_t		 i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return -1;
	*uidp = cred.uid;
	*pidp = cred.pid;
	if (cred.uid == 0)
		return 1;
	if (td->admin_gid < 0)
		return 0;
	if (cred.gid == (gid_t)td->admin_gid)
		return 1;
	/* The supplementary groups as they were when the peer connected. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
		for (i = 0; i < glen / sizeof(gid_t); i++)
			if (groups[i] == (gid_t)td->admin_gid)
				return 1;
	return 0;
}

/*
 * Of the user who holds the most clients, the oldest that has had its
 * grace: one still waiting for its request first, else one that is done.
 * A flood crowds out only its own user: another user's request, an
 * operator's `tunnelctl status`, is never dropped to make room for it.
 * A client in its grace (just connected, so its request may be on the
 * way; just answered, so its reply may not be written yet) is not dropped
 * for a newer client of its own user, which is turned away instead.
 * Otherwise a burst of connections, all accepted before the daemon reads
 * any, would push out a request that had already arrived.
 */
size_t
control_victim(const struct ctl_slot *slots, size_t n, unsigned uid)
{
	size_t	i, j, count, top = 0, most = 0;
	size_t	stale_done = n, fresh = n;

	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++)
			if (slots[j].uid == slots[i].uid)
				break;
		if (j < i)
			continue;	/* counted with its first client */
		for (count = 0, j = i; j < n; j++)
			count += slots[j].uid == slots[i].uid;
		if (count > most) {
			most = count;
			top = i;
		}
	}
	for (i = top; i < n; i++) {
		if (slots[i].uid != slots[top].uid)
			continue;
		if (slots[i].fresh) {
			if (fresh == n)
				fresh = i;
		} else if (!slots[i].done)
			return i;
		else if (stale_done == n)
			stale_done = i;
	}
	if (stale_done < n)
		return stale_done;
	return uid == slots[top].uid ? n : fresh;
}

/*
 * Room for a client of user UID: 0 when there is (a victim dropped if the
 * table was full), -1 when the newcomer is to be turned away.
 */
static int
control_make_room(uid_t uid)
{
	struct ctl_slot		 slots[CTL_CLIENTS_MAX];
	struct ctl_client	*cls[CTL_CLIENTS_MAX], *old;
	uint64_t		 now = now_ms();
	size_t			 n = 0, v;
	int			 pending;

	if (ctl->nclients < CTL_CLIENTS_MAX)
		return 0;
	TAILQ_FOREACH(old, &ctl->clients, entry) {
		if (n == CTL_CLIENTS_MAX)
			break;
		cls[n] = old;
		slots[n].uid = old->uid;
		slots[n].done = old->watching || old->answered;
		slots[n++].fresh = now - old->since < CTL_GRACE_MS;
	}
	if (n == 0)
		fatalx("%s: %u clients counted, none listed", __func__,
		    ctl->nclients);
	/*
	 * A waiting client whose request is already in the kernel's buffer
	 * is read on this turn: it counts as fresh, whatever its age (the
	 * loop may have been held up, by a SIGSTOP say).  Each pass marks
	 * one more, so this ends.
	 */
	for (;;) {
		if ((v = control_victim(slots, n, uid)) == n) {
			log_debug("%s: client limit reached, turning away "
			    "uid %u", __func__, (unsigned)uid);
			return -1;
		}
		old = cls[v];
		if (slots[v].done || slots[v].fresh ||
		    ioctl(bufferevent_getfd(old->bev), FIONREAD, &pending) ==
		    -1 || pending == 0)
			break;
		slots[v].fresh = 1;
	}
	log_debug("%s: client limit reached, dropping pid %d uid %u",
	    __func__, (int)old->pid, (unsigned)old->uid);
	/*
	 * An answer not yet written (the loop was held up) goes to the
	 * kernel first: a close still delivers what it holds.
	 */
	if (old->answered)
		(void)evbuffer_write(bufferevent_get_output(old->bev),
		    bufferevent_getfd(old->bev));
	control_client_free(old);
	return 0;
}

static void
control_client_new(int fd)
{
	struct ctl_client	*cl;
	struct timeval		 dtv = { CTL_IDLE_TIMEOUT, 0 };
	struct timeval		 wtv = { CTL_WRITE_TIMEOUT, 0 };
	int			 admin;

	if ((cl = calloc(1, sizeof(*cl))) == NULL) {
		close(fd);
		return;
	}
	if ((admin = control_peer_is_admin(fd, &cl->uid, &cl->pid)) == -1 ||
	    control_make_room(cl->uid) == -1) {
		close(fd);
		free(cl);
		return;
	}
	cl->admin = admin;
	cl->since = now_ms();
	cl->bev = bufferevent_socket_new(td->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (cl->bev == NULL) {
		close(fd);
		free(cl);
		return;
	}
	if ((cl->ev_deadline = evtimer_new(td->base, control_deadline,
	    cl)) == NULL) {
		listener_client_free(cl->bev);
		free(cl);
		return;
	}
	evtimer_add(cl->ev_deadline, &dtv);
	bufferevent_setcb(cl->bev, control_read, control_write, control_event,
	    cl);
	bufferevent_setwatermark(cl->bev, EV_READ, 0, CTL_LINE_MAX + 2);
	/*
	 * A piece of a status in one write: libevent's default is 16 KiB a
	 * pass of the loop, four passes a piece, each behind whatever else
	 * is ready (a 1,000-node status: 55 passes, now 14).
	 */
	bufferevent_set_max_single_write(cl->bev, CTL_STATUS_CHUNK);
	bufferevent_set_timeouts(cl->bev, NULL, &wtv);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&ctl->clients, cl, entry);
	ctl->nclients++;
}

static void
control_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	listener_reserve_check(ctl->rest, fd);
	control_client_new(fd);
}

static void
control_accept_error(struct evconnlistener *l, void *arg)
{
	listener_rest_error(ctl->rest, EVUTIL_SOCKET_ERROR());
}

/* 1 when something accepts connections on SUN (a live daemon). */
static int
control_in_use(const struct sockaddr_un *sun)
{
	int	fd, r;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	/*
	 * Blocking is fine: a Unix connect() never waits for the peer's
	 * accept(); with a full backlog it fails with EAGAIN, which still
	 * means someone listens.
	 */
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (r == -1 && errno != EAGAIN)
		r = 0;
	else
		r = 1;
	close(fd);
	return r;
}

/*
 * The socket's directory.  Under systemd, RuntimeDirectory= makes it
 * (/run/tunneld, 0755, the service's user).  Started by hand, tunneld
 * makes its last component itself, 0755, so that the default path works
 * as it does under systemd.  A directory anyone may write to without the
 * sticky bit would let anyone replace the socket with their own and
 * answer tunnelctl in tunneld's name: refused.
 */
static int
control_dir(const char *path)
{
	char		 dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char		*slash;
	struct stat	 st;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		return 0;		/* the working directory */
	if (slash == dir)
		slash[1] = '\0';	/* "/" */
	else
		*slash = '\0';
	if (stat(dir, &st) == -1) {
		/* chmod: the umask must not lock readers out. */
		if (errno != ENOENT || mkdir(dir, 0755) == -1 ||
		    chmod(dir, 0755) == -1) {
			log_warn("control socket directory %s", dir);
			return -1;
		}
		log_info("created %s for the control socket", dir);
		if (stat(dir, &st) == -1) {
			log_warn("control socket directory %s", dir);
			return -1;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("control socket directory %s is not a directory",
		    dir);
		return -1;
	}
	if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
		log_warnx("%s is writable by anyone (mode %04o, no sticky "
		    "bit): anyone could replace the control socket",
		    dir, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

int
control_init(const char *path)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	mode_t			 old;
	char			 what[sizeof(sun.sun_path) + 32];
	int			 fd;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		return -1;
	TAILQ_INIT(&ctl->clients);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("control socket path too long: %s", path);
		goto fail;
	}
	strcpy(sun.sun_path, path);
	if (control_dir(path) == -1)
		goto fail;
	/*
	 * A socket left by a crashed predecessor is replaced; one that still
	 * answers belongs to a running tunneld, whose socket must not be
	 * stolen (it would lose its clients for good).  Never unlink
	 * anything but a socket.
	 */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("%s exists and is not a socket; it is left "
			    "alone", path);
			goto fail;
		}
		if (control_in_use(&sun)) {
			log_warnx("another tunneld is listening on %s",
			    path);
			goto fail;
		}
		unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		log_warn("cannot create the control socket");
		goto fail;
	}
	/* World-connectable: reading is open, mutating is SO_PEERCRED-gated. */
	old = umask(0111);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		log_warn("cannot bind the control socket %s", path);
		close(fd);
		goto fail;
	}
	umask(old);
	if (listen(fd, 128) == -1) {
		log_warn("cannot listen on the control socket %s", path);
		unlink(path);
		close(fd);
		goto fail;
	}
	if ((ctl->listener = evconnlistener_new(td->base, control_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd)) == NULL) {
		unlink(path);
		close(fd);
		goto fail;
	}
	snprintf(what, sizeof(what), "control socket %s", path);
	if ((ctl->rest = listener_rest_new(ctl->listener, what)) == NULL) {
		unlink(path);
		evconnlistener_free(ctl->listener);
		goto fail;
	}
	evconnlistener_set_error_cb(ctl->listener, control_accept_error);
	if ((ctl->path = strdup(path)) == NULL)
		fatal("%s: strdup", __func__);
	return 0;
fail:
	free(ctl);
	ctl = NULL;
	return -1;
}

void
control_close(void)
{
	struct ctl_client	*cl;

	if (ctl == NULL)
		return;
	while ((cl = TAILQ_FIRST(&ctl->clients)) != NULL)
		control_client_free(cl);
	/*
	 * Unlinked before it is closed: once closed, a successor may find it
	 * stale and bind its own socket there, which must not be removed.
	 */
	unlink(ctl->path);
	listener_rest_free(ctl->rest);
	evconnlistener_free(ctl->listener);
	free(ctl->path);
	free(ctl);
	ctl = NULL;
}

/*
 * Each open status goes on by name (ADDED NULL), or gets ADDED's name at
 * its end; one that cannot is cut off.
 */
static void
control_status_reload(const struct node *added)
{
	struct ctl_client	*cl, *next;

	if (ctl == NULL)
		return;
	for (cl = TAILQ_FIRST(&ctl->clients); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, entry);
		if (control_status_open(cl) && (added == NULL ?
		    status_cursor_detach(&cl->st) :
		    status_cursor_add(&cl->st, added->conf->name)) == -1)
			control_status_cut(cl);
	}
}

void
control_reload_begin(void)
{
	control_status_reload(NULL);
}

void
control_node_added(struct node *n)
{
	control_status_reload(n);
}

void
control_broadcast(json_t *ev)
{
	struct ctl_client	*cl, *next;
	struct evbuffer		*out;

	if (ctl == NULL) {
		json_decref(ev);
		return;
	}
	for (cl = TAILQ_FIRST(&ctl->clients); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, entry);
		if (!cl->watching)
			continue;
		out = bufferevent_get_output(cl->bev);
		/* A watcher that stopped reading is cut off, not buffered for. */
		if (evbuffer_get_length(out) > CTL_WATCH_BUF_MAX) {
			control_client_free(cl);
			continue;
		}
		control_send(cl, json_incref(ev));
	}
	json_decref(ev);
}

void
control_event_state(struct node *n, enum node_state from, enum node_state to,
    const char *reason)
{
	char		 ts[32];
	time_t		 t = time(NULL);
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	control_broadcast(json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}",
	    "event", "state", "node", n->conf->name,
	    "from", node_state_name(from), "to", node_state_name(to),
	    "reason", reason, "time", ts));
}
