#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "session.h"
#include "status.h"
#include "tunneld.h"

static const char *fwd_state_names[] = { "down", "pending", "up", "refused" };

static json_t *
status_forward(const struct forward *f)
{
	char	listen[CONFIG_HOST_MAX + 8], target[CONFIG_HOST_MAX + 8];
	json_t	*o;

	config_fmt_hostport(listen, sizeof(listen), f->conf->listen_host,
	    f->conf->listen_port);
	config_fmt_hostport(target, sizeof(target), f->conf->target_host,
	    f->conf->target_port);
	o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I}",
	    "kind", f->conf->kind == FWD_LOCAL ? "local" : "remote",
	    "listen", listen, "target", target,
	    "state", fwd_state_names[f->state],
	    "active", (json_int_t)f->active, "total", (json_int_t)f->total,
	    "bytes_in", (json_int_t)f->bytes_in,
	    "bytes_out", (json_int_t)f->bytes_out);
	if (o != NULL && f->reason[0])
		json_object_set_new(o, "reason", json_string(f->reason));
	return o;
}

json_t *
status_node(const struct node *n, uint64_t now)
{
	const struct node_conf	*nc = n->conf;
	json_t			*o, *fw, *ssh = json_null();
	char			 target[CONFIG_HOST_MAX * 2];
	size_t			 i;

	if (!nc->local) {
		ssh = json_pack("{s:s,s:I,s:o,s:s,s:o}",
		    "target", session_target(n, target, sizeof(target)),
		    "connects", (json_int_t)n->connects,
		    "rtt_ms", n->has_rtt ? json_real(n->rtt_ms) : json_null(),
		    "last_error", n->last_error,
		    "next_attempt_s", n->next_attempt > now ?
		    json_real((double)(n->next_attempt - now) / 1000.0) :
		    json_null());
	}
	fw = json_array();
	for (i = 0; i < n->nfwds; i++)
		json_array_append_new(fw, status_forward(&n->fwds[i]));
	o = json_pack("{s:s,s:s,s:I,s:s,s:i,s:o,s:o,s:f}",
	    "name", nc->name,
	    "state", node_state_name(n->state),
	    "since_s", (json_int_t)((now - n->since) / 1000),
	    "reason", n->reason,
	    "priority", nc->priority,
	    "ssh", ssh,
	    "forwards", fw,
	    "load_score", node_load_score(n));
	return o;
}

json_t *
status_reply(const char *name)
{
	struct node	*n;
	json_t		*nodes, *o;
	uint64_t	 now = now_ms();

	nodes = json_array();
	TAILQ_FOREACH(n, &td->nodes, entry) {
		if (name != NULL && strcmp(n->conf->name, name) != 0)
			continue;
		json_array_append_new(nodes, status_node(n, now));
	}
	if (name != NULL && json_array_size(nodes) == 0) {
		json_decref(nodes);
		return NULL;
	}
	o = json_pack("{s:b,s:i,s:s,s:i,s:I,s:o}",
	    "ok", 1, "protocol", TUNNELD_PROTOCOL, "version", PACKAGE_VERSION,
	    "pid", (int)getpid(),
	    "uptime_s", (json_int_t)((now - td->started) / 1000),
	    "nodes", nodes);
	return o;
}

int
status_all_up(void)
{
	struct node	*n;

	TAILQ_FOREACH(n, &td->nodes, entry)
		if (n->state != NODE_UP)
			return 0;
	return 1;
}

/* One line for systemd's STATUS=: the count, then the first node not up. */
void
status_line(char *buf, size_t len)
{
	struct node	*n, *worst = NULL;
	unsigned	 up = 0, total = 0;
	uint64_t	 now = now_ms();
	int		 off;

	TAILQ_FOREACH(n, &td->nodes, entry) {
		total++;
		if (n->state == NODE_UP)
			up++;
		else if (worst == NULL || (worst->state == NODE_STOPPED &&
		    n->state != NODE_STOPPED))
			worst = n;
	}
	off = snprintf(buf, len, "%u/%u nodes up", up, total);
	if (worst == NULL || off < 0 || (size_t)off >= len)
		return;
	off += snprintf(buf + off, len - off, "; %s %s", worst->conf->name,
	    node_state_name(worst->state));
	if (worst->state == NODE_BACKOFF && worst->next_attempt > now &&
	    (size_t)off < len)
		off += snprintf(buf + off, len - off, " %llus",
		    (unsigned long long)((worst->next_attempt - now + 999) / 1000));
	if (worst->reason[0] && (size_t)off < len)
		snprintf(buf + off, len - off, ": %s", worst->reason);
}
