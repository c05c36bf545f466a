/*
 * config: the tunneld.conf model and its parser.
 *
 * The parser collects every error (file:line: message) instead of stopping at
 * the first, so that --check-config shows everything wrong in one go.  A
 * config is either fully valid or not returned at all: a reload with a bad
 * file must never half-apply.
 */
#ifndef TUNNELD_CONFIG_H
#define TUNNELD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "nameidx.h"

/*
 * Where `make install` puts the example: $(sysconfdir)/tunneld, so that a
 * tunneld built with ./configure's defaults (/usr/local/etc) finds what its
 * own install wrote; /etc for the Debian package.
 */
#ifdef SYSCONFDIR
#define CONFIG_DEFAULT_PATH	SYSCONFDIR "/tunneld/tunneld.conf"
#else
#define CONFIG_DEFAULT_PATH	"/etc/tunneld/tunneld.conf"
#endif
#define CONFIG_HOST_MAX		256
/* A pool ranks its nodes on the stack, every connection: a bound. */
#define CONFIG_POOL_NODES_MAX	64
#define EX_CONFIG_EXIT		78	/* sysexits.h EX_CONFIG */

enum fwd_kind { FWD_LOCAL, FWD_REMOTE };
enum gpu_kind { GPU_NONE, GPU_NVIDIA_SMI, GPU_TEGRASTATS };
enum hostkey_policy { HOSTKEY_STRICT, HOSTKEY_ACCEPT_NEW };
enum pool_policy { POOL_PRIORITY, POOL_LEAST_LOAD, POOL_LEAST_OUTSTANDING };
enum pool_mode { POOL_MODE_TCP, POOL_MODE_HTTP };
#define POOL_RETRIES_DEFAULT	2
#define POOL_RETRIES_MAX	16
#define POOL_FIRST_BYTE_DEFAULT	(120 * 1000)	/* a model may take a while to load */

struct fwd_conf {
	enum fwd_kind	 kind;
	char		 listen_host[CONFIG_HOST_MAX];	/* "127.0.0.1", "::1", "localhost" */
	uint16_t	 listen_port;
	char		 target_host[CONFIG_HOST_MAX];
	uint16_t	 target_port;
	int		 line;
};

struct node_conf {
	TAILQ_ENTRY(node_conf) entry;
	char		*name;
	int		 line;			/* of the [node NAME] header */
	int		 enabled;		/* `enabled = no` -> node stays stopped */

	/* ssh = none -> local; otherwise [user@]host[:port] or an ssh_config alias */
	int		 local;
	char		*ssh;			/* the value as written, for status */
	char		*user;			/* NULL: libssh/ssh_config default */
	char		*host;
	uint16_t	 port;			/* 0: default (22 or ssh_config) */
	char		*identity;		/* NULL: agent / ssh_config IdentityFile */

	struct fwd_conf	*fwds;
	size_t		 nfwds;

	char		*ollama;		/* URL or NULL (no Ollama probe) */
	int		 ollama_explicit;	/* written out, vs defaulted from the first local forward */
	enum gpu_kind	 gpu;
	char	       **require_models;
	size_t		 nrequire_models;
	char	       **http;			/* health URLs */
	size_t		 nhttp;
	int		 priority;		/* lower number = preferred; default 100 */
	/* Probe timers and rise/fall: [tunneld]'s unless written in the node. */
	uint64_t	 probe_interval;
	uint64_t	 probe_timeout;
	int		 rise;			/* good probes in a row to pass again */
	int		 fall;			/* failed probes in a row to fail */
};
TAILQ_HEAD(node_conf_list, node_conf);

struct pool_conf {
	TAILQ_ENTRY(pool_conf) entry;
	char		*name;
	int		 line;
	char		 listen_host[CONFIG_HOST_MAX];
	uint16_t	 listen_port;
	char	       **nodes;
	size_t		 nnodes;
	enum pool_policy policy;
	enum pool_mode	 mode;			/* tcp (default) or http */
	int		 retries;		/* http: other nodes tried before the first byte */
	uint64_t	 first_byte_timeout;	/* http: ms, a node this slow is skipped */
};
TAILQ_HEAD(pool_conf_list, pool_conf);

/* Durations are kept in milliseconds throughout. */
struct config {
	char		*path;

	char		*control_socket;
	char		*admin_group;
	char		*known_hosts;
	enum hostkey_policy host_key_policy;
	char		*ssh_config;		/* NULL: none */
	uint64_t	 keepalive_interval;
	int		 keepalive_count;
	uint64_t	 connect_timeout;
	uint64_t	 backoff_initial;
	uint64_t	 backoff_max;
	double		 backoff_multiplier;
	double		 backoff_jitter;	/* 0.2 = +-20 % */
	uint64_t	 retry_refused;
	uint64_t	 stable_after;
	uint64_t	 probe_interval;
	uint64_t	 probe_timeout;
	int		 rise;
	int		 fall;
	char		*metrics_listen;	/* "host:port" or NULL */

	/* [alerts] */
	int		 alert_gpu_temp_c;
	int		 alert_gpu_mem_pct;
	uint64_t	 alert_ollama_latency;
	uint64_t	 alert_repeat_after;

	struct node_conf_list nodes;
	size_t		 nnodes;
	struct pool_conf_list pools;
	size_t		 npools;
	struct nameidx	 node_idx, pool_idx;	/* by name, for config_find_*() */
};

/* Collected "file:line: message" strings. */
struct config_errors {
	char		**msg;
	size_t		 n;
};

/*
 * Parse and validate PATH.  Returns a config, or NULL with every problem
 * appended to ERRS (which the caller frees with config_errors_clear()).
 */
struct config	*config_load(const char *path, struct config_errors *errs);
/* Same, from a string; NAME stands in for the file name in messages. */
struct config	*config_load_string(const char *name, const char *text,
		    struct config_errors *errs);
void		 config_free(struct config *);
void		 config_errors_clear(struct config_errors *);

struct node_conf *config_find_node(const struct config *, const char *name);
/* 1 when both describe the same node (a reload leaves it untouched). */
int		 node_conf_equal(const struct node_conf *, const struct node_conf *);
/*
 * The keys of a node whose values differ between A and B, as NODE_KEY_*
 * bits; 0 when a reload leaves the node untouched.  Line numbers are not
 * compared.
 */
#define NODE_KEY_SSH		0x0001
#define NODE_KEY_IDENTITY	0x0002
#define NODE_KEY_LOCAL_FORWARD	0x0004
#define NODE_KEY_REMOTE_FORWARD	0x0008
#define NODE_KEY_OLLAMA		0x0010
#define NODE_KEY_GPU		0x0020
#define NODE_KEY_REQUIRE_MODELS	0x0040
#define NODE_KEY_HTTP		0x0080
#define NODE_KEY_PRIORITY	0x0100
#define NODE_KEY_ENABLED	0x0200
#define NODE_KEY_PROBE_INTERVAL	0x0400
#define NODE_KEY_PROBE_TIMEOUT	0x0800
#define NODE_KEY_RISE		0x1000
#define NODE_KEY_FALL		0x2000
/* Same kind, listen and target. */
int		 config_fwd_equal(const struct fwd_conf *, const struct fwd_conf *);
unsigned	 config_node_diff(const struct node_conf *, const struct node_conf *);
/* "ollama, require_models": the names of the keys in MASK, in file order. */
const char	*config_node_keys_fmt(unsigned mask, char *buf, size_t bufsz);
/* 1 when the [tunneld] settings that live sessions depend on are equal. */
int		 config_global_equal(const struct config *, const struct config *);

/* Pure helpers, exposed for tests and for other modules. */
int		 config_parse_duration(const char *s, uint64_t *ms);
int		 config_parse_hostport(const char *s, char *host, size_t hostsz,
		    uint16_t *port);
int		 config_host_is_loopback(const char *host);
/* Equal strings, or both unset (NULL): how two settings compare. */
int		 config_streq(const char *, const char *);
/* "did you mean": the closest of CANDIDATES within edit distance 2 (and under
 * half the candidate's length), or NULL */
const char	*config_suggest(const char *word, const char *const *candidates);
/* "%s:%u" with IPv6 hosts bracketed; BUF of at least CONFIG_HOST_MAX + 8 */
const char	*config_fmt_hostport(char *buf, size_t bufsz, const char *host,
		    uint16_t port);
/* A node's SSH target as it connects: "user@host:port" (IPv6 bracketed) */
const char	*config_fmt_target(char *buf, size_t bufsz,
		    const struct node_conf *);

#endif
