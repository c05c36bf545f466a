/*
 * check_config: tunneld.conf parsing and validation.
 *
 * Error tests compare the complete, exact list of messages, so that a
 * missing, extra or reworded error fails.
 */
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* by path: the autoconf config.h in the build root would shadow it */
#include "../supervisor/config.h"

#define N_A	"[node a]\nssh = h\n"	/* a valid node, lines 1-2 */
/* one a pool can send clients to (its Ollama URL), lines 1-3 */
#define N_AO	"[node a]\nssh = h\nollama = http://h:1\n"

/* The mesh from DESIGN.md, inline comments included, plus the NATed side. */
static const char mesh[] =
"[tunneld]\n"
"control_socket     = /run/tunneld/control.sock\n"
"admin_group        = tunneld        ; may restart/stop/start/reload; others: read-only\n"
"known_hosts        = /etc/tunneld/known_hosts\n"
"host_key_policy    = strict         ; strict | accept-new (trust on first use, then strict)\n"
"ssh_config         = /etc/tunneld/ssh_config  ; optional, OpenSSH client syntax (Host aliases)\n"
"keepalive_interval = 5s             ; like ServerAliveInterval\n"
"keepalive_count    = 3              ; like ServerAliveCountMax: dead after 3 silent intervals\n"
"connect_timeout    = 10s\n"
"backoff_initial    = 1s\n"
"backoff_max        = 60s\n"
"backoff_multiplier = 2\n"
"backoff_jitter     = 0.2            ; +-20 %, so that nodes do not reconnect in lockstep\n"
"retry_refused      = 1s             ; TCP connect refused/unreachable: retry at this pace, no backoff\n"
"stable_after       = 30s            ; a session up this long resets the backoff\n"
"probe_interval     = 10s\n"
"probe_timeout      = 5s\n"
"metrics_listen     = 127.0.0.1:9477 ; optional: Prometheus /metrics over HTTP\n"
"\n"
"[alerts]\n"
"gpu_temp_c         = 80\n"
"gpu_mem_pct        = 90\n"
"ollama_latency     = 5s\n"
"repeat_after       = 10m            ; a condition still true is re-announced at most this often\n"
"\n"
"[node runpod]\n"
"ssh            = root@209.170.80.132:13323   ; [user@]host[:port], or a Host alias of ssh_config\n"
"identity       = /etc/tunneld/keys/mesh_ed25519\n"
"local_forward  = 127.0.0.1:11435 127.0.0.1:11434   ; listen here   -> target seen from the node\n"
"ollama         = http://127.0.0.1:11435             ; default: the first local forward\n"
"gpu            = nvidia-smi                         ; nvidia-smi | tegrastats | none\n"
"require_models = qwen2.5:7b                         ; missing ones are alerted\n"
"priority       = 2\n"
"\n"
"[node aurora]\n"
"ssh      = none                     ; the hub itself: probes run here\n"
"ollama   = http://127.0.0.1:11434\n"
"gpu      = none\n"
"priority = 3\n"
"\n"
"[node hub]\n"
"ssh            = tunnel@aurora.example.net\n"
"remote_forward = 127.0.0.1:11436 127.0.0.1:11434   ; listen on the hub -> target seen from here\n"
"ollama         = http://127.0.0.1:11434\n";

static struct config *
load(const char *text, struct config_errors *e)
{
	memset(e, 0, sizeof(*e));
	return config_load_string("t.conf", text, e);
}

static struct config *
load_ok(const char *text)
{
	struct config_errors	 e;
	struct config		*c = load(text, &e);

	ck_assert_msg(c != NULL && e.n == 0, "unexpected: %s",
	    e.n ? e.msg[0] : "NULL config without errors");
	config_errors_clear(&e);
	return c;
}

/* WANT is NULL-terminated; the lists must match exactly, in order. */
static void
expect_errors(const char *text, const char *const *want)
{
	struct config_errors	 e;
	struct config		*c = load(text, &e);
	char			 all[4096] = "";
	size_t			 i, n;

	for (n = 0; want[n] != NULL; n++)
		;
	for (i = 0; i < e.n; i++) {
		strncat(all, "\n  ", sizeof(all) - strlen(all) - 1);
		strncat(all, e.msg[i], sizeof(all) - strlen(all) - 1);
	}
	ck_assert_msg(c == NULL, "config accepted:\n%s", text);
	ck_assert_msg(e.n == n, "%zu errors, want %zu:%s", e.n, n, all);
	for (i = 0; i < n; i++)
		ck_assert_str_eq(e.msg[i], want[i]);
	config_errors_clear(&e);
}

static void
expect_error(const char *text, const char *want)
{
	const char	*w[2] = { want, NULL };

	expect_errors(text, w);
}

START_TEST(test_mesh)
{
	struct config		*c = load_ok(mesh);
	struct node_conf	*n;

	ck_assert_str_eq(c->path, "t.conf");
	ck_assert_str_eq(c->control_socket, "/run/tunneld/control.sock");
	ck_assert_str_eq(c->admin_group, "tunneld");
	ck_assert_str_eq(c->known_hosts, "/etc/tunneld/known_hosts");
	ck_assert_int_eq(c->host_key_policy, HOSTKEY_STRICT);
	ck_assert_str_eq(c->ssh_config, "/etc/tunneld/ssh_config");
	ck_assert_uint_eq(c->keepalive_interval, 5000);
	ck_assert_int_eq(c->keepalive_count, 3);
	ck_assert_uint_eq(c->connect_timeout, 10000);
	ck_assert_uint_eq(c->backoff_initial, 1000);
	ck_assert_uint_eq(c->backoff_max, 60000);
	ck_assert_double_eq(c->backoff_multiplier, 2.0);
	ck_assert_double_eq(c->backoff_jitter, 0.2);
	ck_assert_uint_eq(c->retry_refused, 1000);
	ck_assert_uint_eq(c->stable_after, 30000);
	ck_assert_uint_eq(c->probe_interval, 10000);
	ck_assert_uint_eq(c->probe_timeout, 5000);
	ck_assert_str_eq(c->metrics_listen, "127.0.0.1:9477");
	ck_assert_int_eq(c->alert_gpu_temp_c, 80);
	ck_assert_int_eq(c->alert_gpu_mem_pct, 90);
	ck_assert_uint_eq(c->alert_ollama_latency, 5000);
	ck_assert_uint_eq(c->alert_repeat_after, 600000);
	ck_assert_uint_eq(c->nnodes, 3);
	ck_assert_uint_eq(c->npools, 0);

	n = TAILQ_FIRST(&c->nodes);
	ck_assert_str_eq(n->name, "runpod");
	ck_assert_int_eq(n->line, 26);
	ck_assert_int_eq(n->enabled, 1);
	ck_assert_int_eq(n->local, 0);
	ck_assert_str_eq(n->ssh, "root@209.170.80.132:13323");
	ck_assert_str_eq(n->user, "root");
	ck_assert_str_eq(n->host, "209.170.80.132");
	ck_assert_uint_eq(n->port, 13323);
	ck_assert_str_eq(n->identity, "/etc/tunneld/keys/mesh_ed25519");
	ck_assert_uint_eq(n->nfwds, 1);
	ck_assert_int_eq(n->fwds[0].kind, FWD_LOCAL);
	ck_assert_str_eq(n->fwds[0].listen_host, "127.0.0.1");
	ck_assert_uint_eq(n->fwds[0].listen_port, 11435);
	ck_assert_str_eq(n->fwds[0].target_host, "127.0.0.1");
	ck_assert_uint_eq(n->fwds[0].target_port, 11434);
	ck_assert_int_eq(n->fwds[0].line, 29);
	ck_assert_str_eq(n->ollama, "http://127.0.0.1:11435");
	ck_assert_int_eq(n->ollama_explicit, 1);
	ck_assert_int_eq(n->gpu, GPU_NVIDIA_SMI);
	ck_assert_uint_eq(n->nrequire_models, 1);
	ck_assert_str_eq(n->require_models[0], "qwen2.5:7b");
	ck_assert_uint_eq(n->nhttp, 0);
	ck_assert_int_eq(n->priority, 2);

	n = TAILQ_NEXT(n, entry);
	ck_assert_str_eq(n->name, "aurora");
	ck_assert_int_eq(n->line, 35);
	ck_assert_int_eq(n->local, 1);
	ck_assert_str_eq(n->ssh, "none");
	ck_assert_ptr_null(n->user);
	ck_assert_ptr_null(n->host);
	ck_assert_ptr_null(n->identity);
	ck_assert_uint_eq(n->nfwds, 0);
	ck_assert_str_eq(n->ollama, "http://127.0.0.1:11434");
	ck_assert_int_eq(n->gpu, GPU_NONE);
	ck_assert_int_eq(n->priority, 3);

	n = TAILQ_NEXT(n, entry);
	ck_assert_str_eq(n->name, "hub");
	ck_assert_str_eq(n->user, "tunnel");
	ck_assert_str_eq(n->host, "aurora.example.net");
	ck_assert_uint_eq(n->port, 0);
	ck_assert_uint_eq(n->nfwds, 1);
	ck_assert_int_eq(n->fwds[0].kind, FWD_REMOTE);
	ck_assert_uint_eq(n->fwds[0].listen_port, 11436);
	ck_assert_str_eq(n->ollama, "http://127.0.0.1:11434");
	ck_assert_int_eq(n->priority, 100);
	ck_assert_ptr_null(TAILQ_NEXT(n, entry));

	ck_assert_ptr_eq(config_find_node(c, "aurora"),
	    TAILQ_NEXT(TAILQ_FIRST(&c->nodes), entry));
	ck_assert_ptr_null(config_find_node(c, "vengeance"));
	config_free(c);
}
END_TEST

START_TEST(test_defaults)
{
	struct config		*c;
	struct node_conf	*n;

	c = load_ok("");
	ck_assert_str_eq(c->control_socket, "/run/tunneld/control.sock");
	ck_assert_str_eq(c->admin_group, "tunneld");
	ck_assert_str_eq(c->known_hosts, "/etc/tunneld/known_hosts");
	ck_assert_int_eq(c->host_key_policy, HOSTKEY_STRICT);
	ck_assert_ptr_null(c->ssh_config);
	ck_assert_uint_eq(c->keepalive_interval, 5000);
	ck_assert_int_eq(c->keepalive_count, 3);
	ck_assert_uint_eq(c->connect_timeout, 10000);
	ck_assert_uint_eq(c->backoff_initial, 1000);
	ck_assert_uint_eq(c->backoff_max, 60000);
	ck_assert_double_eq(c->backoff_multiplier, 2.0);
	ck_assert_double_eq(c->backoff_jitter, 0.2);
	ck_assert_uint_eq(c->retry_refused, 1000);
	ck_assert_uint_eq(c->stable_after, 30000);
	ck_assert_uint_eq(c->probe_interval, 10000);
	ck_assert_uint_eq(c->probe_timeout, 5000);
	ck_assert_ptr_null(c->metrics_listen);
	ck_assert_int_eq(c->alert_gpu_temp_c, 80);
	ck_assert_int_eq(c->alert_gpu_mem_pct, 90);
	ck_assert_uint_eq(c->alert_ollama_latency, 5000);
	ck_assert_uint_eq(c->alert_repeat_after, 600000);
	ck_assert_uint_eq(c->nnodes, 0);
	config_free(c);

	c = load_ok("[node fwd]\nssh = h\n"
	    "remote_forward = 11500 11434\n"
	    "local_forward = [::1]:11435 11434\n"
	    "local_forward = 127.0.0.1:11437 11434\n"
	    "[node loc]\nssh = none\n"
	    "[node rem]\nssh = h\nremote_forward = 11436 11434\n"
	    "[node off]\nssh = h\nlocal_forward = 0.0.0.0:11438 x:1\n"
	    "ollama = none\nenabled = no\n"
	    "[node any]\nssh = h\nlocal_forward = 0.0.0.0:11439 x:1\n"
	    "[pool p]\nlisten = 11600\nnodes = fwd any\n");
	n = config_find_node(c, "fwd");
	ck_assert_int_eq(n->enabled, 1);
	ck_assert_int_eq(n->gpu, GPU_NONE);
	ck_assert_int_eq(n->priority, 100);
	ck_assert_ptr_null(n->identity);
	ck_assert_ptr_null(n->user);
	ck_assert_uint_eq(n->nfwds, 3);
	ck_assert_str_eq(n->fwds[0].listen_host, "127.0.0.1");
	ck_assert_str_eq(n->fwds[2].target_host, "127.0.0.1");
	/* the first local forward, not the first forward */
	ck_assert_str_eq(n->ollama, "http://[::1]:11435");
	ck_assert_int_eq(n->ollama_explicit, 0);
	n = config_find_node(c, "loc");
	ck_assert_ptr_null(n->ollama);
	n = config_find_node(c, "rem");
	ck_assert_ptr_null(n->ollama);
	n = config_find_node(c, "off");
	ck_assert_int_eq(n->enabled, 0);
	ck_assert_ptr_null(n->ollama);
	ck_assert_int_eq(n->ollama_explicit, 1);
	n = config_find_node(c, "any");
	ck_assert_str_eq(n->ollama, "http://127.0.0.1:11439");
	ck_assert_uint_eq(c->npools, 1);
	ck_assert_int_eq(TAILQ_FIRST(&c->pools)->policy, POOL_PRIORITY);
	ck_assert_str_eq(TAILQ_FIRST(&c->pools)->listen_host, "127.0.0.1");
	ck_assert_uint_eq(TAILQ_FIRST(&c->pools)->listen_port, 11600);
	ck_assert_uint_eq(TAILQ_FIRST(&c->pools)->nnodes, 2);
	ck_assert_str_eq(TAILQ_FIRST(&c->pools)->nodes[1], "any");
	ck_assert_int_eq(TAILQ_FIRST(&c->pools)->mode, POOL_MODE_TCP);
	ck_assert_int_eq(TAILQ_FIRST(&c->pools)->retries, POOL_RETRIES_DEFAULT);
	ck_assert_uint_eq(TAILQ_FIRST(&c->pools)->first_byte_timeout,
	    POOL_FIRST_BYTE_DEFAULT);
	config_free(c);
}
END_TEST

/* Lexical details: what inih alone would get wrong. */
START_TEST(test_syntax)
{
	struct config		*c;
	struct node_conf	*n;
	char			 text[512], want[256];
	const char		*name =
	    "n23456789012345678901234567890123456789012345678901234567890123";

	c = load_ok("\xef\xbb\xbf# comment\r\n; another\r\n"
	    "  [node a]   ; header comment\r\n"
	    "    ssh = h\r\n"
	    "\tidentity = /k#1;x\n"
	    "ollama = http://h:1/a;b ; trailing\n"
	    "require_models = m1 m2\n"
	    "require_models = m2   m3\n"
	    "http = http://127.0.0.1:6333/healthz\n"
	    "http = http://127.0.0.1:8000/health\n"
	    "[node b]\nssh=h\npriority=0\n");
	n = config_find_node(c, "a");
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(n->line, 3);
	ck_assert_str_eq(n->host, "h");
	ck_assert_str_eq(n->identity, "/k#1;x");
	ck_assert_str_eq(n->ollama, "http://h:1/a;b");
	ck_assert_uint_eq(n->nrequire_models, 3);
	ck_assert_str_eq(n->require_models[0], "m1");
	ck_assert_str_eq(n->require_models[1], "m2");
	ck_assert_str_eq(n->require_models[2], "m3");
	ck_assert_uint_eq(n->nhttp, 2);
	ck_assert_str_eq(n->http[1], "http://127.0.0.1:8000/health");
	ck_assert_int_eq(config_find_node(c, "b")->priority, 0);
	config_free(c);

	/* 63 characters: longer than inih's section buffer */
	ck_assert_uint_eq(strlen(name), 63);
	snprintf(text, sizeof(text), "[node %s]\nssh = h\n", name);
	c = load_ok(text);
	ck_assert_str_eq(TAILQ_FIRST(&c->nodes)->name, name);
	config_free(c);
	snprintf(text, sizeof(text), "[node %sx]\nssh = h\n", name);
	snprintf(want, sizeof(want), "t.conf:1: invalid node name '%sx': use 1 "
	    "to 63 characters from A-Z a-z 0-9 . _ -", name);
	expect_error(text, want);
}
END_TEST

START_TEST(test_pool_http)
{
	struct config		*c;
	struct pool_conf	*pc;

	c = load_ok("[node a]\nssh = none\nollama = http://127.0.0.1:1\n"
	    "[pool h]\nlisten = 11600\nnodes = a\nmode = http\n"
	    "policy = least-outstanding\nretries = 0\n"
	    "first_byte_timeout = 1500ms\n");
	pc = TAILQ_FIRST(&c->pools);
	ck_assert_int_eq(pc->mode, POOL_MODE_HTTP);
	ck_assert_int_eq(pc->policy, POOL_LEAST_OUTSTANDING);
	ck_assert_int_eq(pc->retries, 0);
	ck_assert_uint_eq(pc->first_byte_timeout, 1500);
	config_free(c);
}
END_TEST

static const struct {
	const char	*text;
	const char	*err[4];
} bad[] = {
	{ "[tunneld]\nkeepalive_intervl = 5s\n", { "t.conf:2: unknown key "
	    "'keepalive_intervl' in [tunneld]; did you mean 'keepalive_interval'?" } },
	{ "[tunneld]\nfrobnicate = 1\n",
	    { "t.conf:2: unknown key 'frobnicate' in [tunneld]" } },
	{ N_A "sshh = x\n",
	    { "t.conf:3: unknown key 'sshh' in [node a]; did you mean 'ssh'?" } },
	{ "[pool p]\nlisten = 1\nnodes = a\npolicyy = x\n" N_AO,
	    { "t.conf:4: unknown key 'policyy' in [pool p]; did you mean 'policy'?" } },
	{ "[alerts]\nGPU_temp_c = 1\n", { "t.conf:2: unknown key 'GPU_temp_c' "
	    "in [alerts]; did you mean 'gpu_temp_c'?" } },
	{ "[nodes a]\nssh = h\n",
	    { "t.conf:1: unknown section [nodes a]; did you mean [node]?" } },
	{ "[foo]\nbar = 1\n", { "t.conf:1: unknown section [foo]" } },
	{ "[]\n", { "t.conf:1: unknown section []" } },
	{ "ssh = h\n", { "t.conf:1: key 'ssh' outside of any section" } },
	{ "[node runpod]\nssh = h\n\n[node runpod]\nssh = h\n",
	    { "t.conf:4: duplicate node 'runpod' (first defined at line 1)" } },
	{ "[pool p]\nlisten = 1\nnodes = a\n[pool p]\nlisten = 2\nnodes = a\n" N_AO,
	    { "t.conf:4: duplicate pool 'p' (first defined at line 1)" } },
	{ "[tunneld]\n[alerts]\n[tunneld]\n",
	    { "t.conf:3: duplicate section [tunneld] (first at line 1)" } },
	{ "[tunneld x]\n", { "t.conf:1: section [tunneld] takes no name" } },
	{ "[node x]\nidentity = /k\n",
	    { "t.conf:1: node 'x': missing required key 'ssh'" } },
	{ "[node x]\n[node y]\nssh = h\n",
	    { "t.conf:1: node 'x': missing required key 'ssh'" } },
	{ "[pool p]\npolicy = least-load\n",
	    { "t.conf:1: pool 'p': missing required key 'listen'",
	      "t.conf:1: pool 'p': missing required key 'nodes'" } },
	{ N_A "ssh = g\n",
	    { "t.conf:3: duplicate key 'ssh' (first set at line 2)" } },
	{ "[tunneld]\nprobe_interval = 10s\nprobe_interval = 20s\n",
	    { "t.conf:3: duplicate key 'probe_interval' (first set at line 2)" } },
	{ "[node a b]\nssh = h\n", { "t.conf:1: invalid node name 'a b': use 1 "
	    "to 63 characters from A-Z a-z 0-9 . _ -" } },
	{ "[node a/b]\nssh = h\n", { "t.conf:1: invalid node name 'a/b': use 1 "
	    "to 63 characters from A-Z a-z 0-9 . _ -" } },
	{ "[node]\nssh = h\n",
	    { "t.conf:1: section [node] needs a name: [node NAME]" } },
	/* names tunnelctl's words could not reach */
	{ "[node all]\nssh = h\n", { "t.conf:1: invalid node name 'all': "
	    "'tunnelctl restart all' means every node" } },
	{ "[node -x]\nssh = h\n", { "t.conf:1: invalid node name '-x': it "
	    "would read as an option to tunnelctl" } },
	{ "[node a]\nssh = h\n[pool -p]\nlisten = 127.0.0.1:9\nnodes = a\n",
	    { "t.conf:3: invalid pool name '-p': it would read as an option "
	    "to tunnelctl" } },
	/* a discarded section still has its keys checked */
	{ "[node a]\nssh = h\n[node a]\ngpu = amd\n",
	    { "t.conf:3: duplicate node 'a' (first defined at line 1)",
	      "t.conf:4: gpu: invalid value 'amd' (expected nvidia-smi, "
	      "tegrastats or none)" } },
	{ "[tunneld]\nhost_key_policy = tofu\n", { "t.conf:2: host_key_policy: "
	    "invalid value 'tofu' (expected strict or accept-new)" } },
	{ N_A "enabled = true\n",
	    { "t.conf:3: enabled: invalid value 'true' (expected yes or no)" } },
	{ N_AO "[pool p]\nlisten = 11500\nnodes = a\npolicy = random\n",
	    { "t.conf:7: policy: invalid value 'random' (expected priority, "
	      "least-load or least-outstanding)" } },
	{ N_AO "[pool p]\nlisten = 11500\nnodes = a\nmode = h2\n",
	    { "t.conf:7: mode: invalid value 'h2' (expected tcp or http)" } },
	{ N_AO "[pool p]\nlisten = 11500\nnodes = a\npolicy = least-outstanding\n",
	    { "t.conf:7: policy: least-outstanding counts requests: pool 'p' "
	      "needs mode = http" } },
	{ N_AO "[pool p]\nlisten = 11500\nnodes = a\nretries = 2\n",
	    { "t.conf:7: retries: only for an http pool; pool 'p' needs "
	      "mode = http" } },
	{ N_AO "[pool p]\nlisten = 11500\nnodes = a\nmode = http\n"
	    "retries = 17\nfirst_byte_timeout = 0s\n",
	    { "t.conf:8: retries: 17 out of range (0 to 16)",
	      "t.conf:9: first_byte_timeout: must be greater than 0" } },
	{ "[alerts]\ngpu_mem_pct = 150\n",
	    { "t.conf:2: gpu_mem_pct: 150 out of range (1 to 100)" } },
	{ "[alerts]\ngpu_mem_pct = 0\n",
	    { "t.conf:2: gpu_mem_pct: 0 out of range (1 to 100)" } },
	{ "[alerts]\ngpu_mem_pct = 90%\n",
	    { "t.conf:2: gpu_mem_pct: invalid number '90%'" } },
	{ "[alerts]\ngpu_temp_c = 99999999999999999999\n", { "t.conf:2: "
	    "gpu_temp_c: 99999999999999999999 out of range (1 to 200)" } },
	{ "[tunneld]\nkeepalive_count = three\n",
	    { "t.conf:2: keepalive_count: invalid number 'three'" } },
	{ "[tunneld]\nbackoff_jitter = 1.5\n",
	    { "t.conf:2: backoff_jitter: 1.5 out of range (0 to 1)" } },
	{ "[tunneld]\nbackoff_jitter = nan\n",
	    { "t.conf:2: backoff_jitter: invalid number 'nan'" } },
	{ "[tunneld]\nbackoff_multiplier = 0.5\n",
	    { "t.conf:2: backoff_multiplier: 0.5 out of range (1 to 100)" } },
	{ N_A "priority = -1\n",
	    { "t.conf:3: priority: -1 out of range (0 to 1000000)" } },
	{ N_A "priority = 1.5\n", { "t.conf:3: priority: invalid number '1.5'" } },
	{ "[tunneld]\nkeepalive_interval = 0s\n",
	    { "t.conf:2: keepalive_interval: must be greater than 0" } },
	{ "[tunneld]\nkeepalive_interval = 5\n", { "t.conf:2: keepalive_interval: "
	    "missing unit in '5' (use ms, s, m or h)" } },
	{ "[alerts]\nrepeat_after = 10min\n", { "t.conf:2: repeat_after: "
	    "unknown unit 'min' in '10min' (use ms, s, m or h)" } },
	{ "[tunneld]\nbackoff_initial = 10s\nbackoff_max = 5s\n", { "t.conf:3: "
	    "backoff_max must not be less than backoff_initial (line 2)" } },
	{ "[tunneld]\nprobe_interval = 2s\nprobe_timeout = 3s\n", { "t.conf:2: "
	    "probe_interval must not be less than probe_timeout (line 3)" } },
	{ "[tunneld]\nadmin_group =\n", { "t.conf:2: admin_group: empty value" } },
	{ "[tunneld]\ncontrol_socket = /" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
	    { "t.conf:2: control_socket: path too long (at most 107 bytes)" } },
	{ "[tunneld\n", { "t.conf:1: missing ']' in section header" } },
	{ "[tunneld] x\n", { "t.conf:1: unexpected text after ']'" } },
	{ "[tunneld]\njust words\n",
	    { "t.conf:2: expected 'key = value' or '[section]'" } },
	{ "[tunneld]\nmetrics_listen: 127.0.0.1:1\n",
	    { "t.conf:2: expected 'key = value' or '[section]'" } },
	{ "[tunneld]\n= 5\n", { "t.conf:2: missing key before '='" } },
	{ "[tunneld]\na:b = c\n", { "t.conf:2: invalid key 'a:b'" } },
	{ "[tunneld]\nmetrics_listen = *:9477\n", { "t.conf:2: metrics_listen: "
	    "listen address '*' is not loopback; write 0.0.0.0 or :: explicitly "
	    "to listen on every interface" } },
	{ "[tunneld]\nmetrics_listen = 9477\n" N_A
	    "local_forward = 127.0.0.1:9477 1\n", { "t.conf:5: listen address "
	    "127.0.0.1:9477 already used at line 2" } },
	{ "[node a]\nssh = h\nlocal_forward = 11435 11434\n"
	    "[node b]\nssh = g\nlocal_forward = 127.0.0.1:11435 11434\n",
	    { "t.conf:6: listen address 127.0.0.1:11435 already used at line 3" } },
	{ "[node a]\nssh = h\nlocal_forward = 0.0.0.0:11435 11434\n"
	    "local_forward = 127.0.0.2:11435 11434\n"
	    "local_forward = localhost:11436 11434\n"
	    "local_forward = [::1]:11436 11434\n"
	    "local_forward = [::]:11437 11434\n"
	    "local_forward = 192.0.2.1:11437 11434\n", {
	    "t.conf:4: listen address 127.0.0.2:11435 overlaps 0.0.0.0:11435 at line 3",
	    "t.conf:6: listen address [::1]:11436 overlaps localhost:11436 at line 5",
	    "t.conf:8: listen address 192.0.2.1:11437 overlaps [::]:11437 at line 7" } },
	{ "[pool p]\nlisten = 11435\nnodes = a\n"
	    "[node a]\nssh = h\nlocal_forward = 11435 11434\n",
	    { "t.conf:6: listen address 127.0.0.1:11435 already used at line 2" } },
	{ N_A "remote_forward = 11436 11434\nremote_forward = 11436 11435\n",
	    { "t.conf:4: listen address 127.0.0.1:11436 already used at line 3" } },
	{ "[node a]\nssh = none\nlocal_forward = 11435 11434\nidentity = /k\n",
	    { "t.conf:3: local_forward: node 'a' has ssh = none; forwards need "
	      "an ssh session", "t.conf:4: identity: node 'a' has ssh = none" } },
	{ N_AO "[pool p]\nlisten = 11500\nnodes = a zzzz aa\n",
	    { "t.conf:6: nodes: unknown node 'zzzz'",
	      "t.conf:6: nodes: unknown node 'aa'" } },
	{ N_AO "[pool p]\nlisten = 11500\nnodes = a a b/c\n",
	    { "t.conf:6: nodes: node 'a' listed twice",
	      "t.conf:6: nodes: invalid node name 'b/c'" } },
	{ N_A "ollama = ftp://x\n",
	    { "t.conf:3: ollama: 'ftp://x' is not an http:// URL" } },
	{ N_A "http = http://\n", { "t.conf:3: http: missing host in 'http://'" } },
	{ N_A "http = http://a b\n", { "t.conf:3: http: 'http://a b' contains blanks" } },
	{ N_A "ollama = http://127.0.0.1:0\n",
	    { "t.conf:3: ollama: port 0 out of range in 'http://127.0.0.1:0'" } },
	{ N_A "http = http://127.0.0.1:99999/health\n", { "t.conf:3: http: "
	    "port 99999 out of range in 'http://127.0.0.1:99999/health'" } },
	{ N_A "http = http://[::1]:0/\nollama = http://h:x1\n",
	    { "t.conf:3: http: port 0 out of range in 'http://[::1]:0/'",
	      "t.conf:4: ollama: invalid port 'x1' in 'http://h:x1'" } },
	{ N_A "http = http://h:/\nollama = http://u@h:0000000\n",
	    { "t.conf:3: http: missing port in 'http://h:/'",
	      "t.conf:4: ollama: port 0000000 out of range in 'http://u@h:0000000'" } },
	{ N_A "http = http://[::1/\n", { "t.conf:3: http: missing ']' in 'http://[::1/'" } },
	{ N_A "identity = /" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
	    "ssh = g\n", { "t.conf:3: line too long (at most 198 characters "
	    "without indentation and comments)",
	    "t.conf:4: duplicate key 'ssh' (first set at line 2)" } },
};

START_TEST(test_bad)
{
	expect_errors(bad[_i].text, bad[_i].err);
}
END_TEST

/* Every error is reported, in line order, not just the first. */
START_TEST(test_multi)
{
	static const char *const want[] = {
		"t.conf:2: unknown key 'keepalive_intervl' in [tunneld]; did "
		    "you mean 'keepalive_interval'?",
		"t.conf:3: backoff_max: missing unit in '60' (use ms, s, m or h)",
		"t.conf:4: unknown section [alert]; did you mean [alerts]?",
		"t.conf:6: node 'runpod': missing required key 'ssh'",
		"t.conf:7: local_forward: port 70000 out of range",
		"t.conf:8: gpu: invalid value 'amd' (expected nvidia-smi, "
		    "tegrastats or none)",
		"t.conf:10: ssh: invalid user in '@h'",
		"t.conf:12: remote_forward: listen address '*' is not loopback; "
		    "write 0.0.0.0 or :: explicitly to listen on every interface",
		"t.conf:13: listen address 127.0.0.1:11434 already used at line 11",
		"t.conf:14: duplicate node 'b' (first defined at line 9)",
		"t.conf:17: nodes: unknown node 'runpd'; did you mean 'runpod'?",
		NULL
	};

	expect_errors(
	    "[tunneld]\n"				/* 1 */
	    "keepalive_intervl = 5s\n"
	    "backoff_max = 60\n"
	    "[alert]\n"
	    "gpu_temp_c = 1000\n"			/* 5: skipped section */
	    "[node runpod]\n"
	    "local_forward = 127.0.0.1:70000 127.0.0.1:11434\n"
	    "gpu = amd\n"
	    "[node b]\n"
	    "ssh = @h\n"				/* 10 */
	    "local_forward = 11434 1\n"
	    "remote_forward = *:1 1\n"
	    "local_forward = 127.0.0.1:11434 2\n"
	    "[node b]\n"
	    "[pool p]\nlisten = 1\nnodes = runpd b\n",	/* 15 */
	    want);
}
END_TEST

static const struct {
	const char	*s;
	int		 ok;
	uint64_t	 ms;
	const char	*err;		/* as reported for keepalive_interval */
} durs[] = {
	{ "500ms", 1, 500, NULL },
	{ "5s", 1, 5000, NULL },
	{ "2m", 1, 120000, NULL },
	{ "1h", 1, 3600000, NULL },
	{ "1.5s", 1, 1500, NULL },
	{ "0.25m", 1, 15000, NULL },
	{ "1.001s", 1, 1001, NULL },
	{ "1.0000000000s", 1, 1000, NULL },
	{ "007s", 1, 7000, NULL },
	{ "168h", 1, 604800000, NULL },
	{ "0s", 1, 0, "must be greater than 0" },
	{ "5", 0, 0, "missing unit in '5' (use ms, s, m or h)" },
	{ "1.5", 0, 0, "missing unit in '1.5' (use ms, s, m or h)" },
	{ "5x", 0, 0, "unknown unit 'x' in '5x' (use ms, s, m or h)" },
	{ "5S", 0, 0, "unknown unit 'S' in '5S' (use ms, s, m or h)" },
	{ "1m30s", 0, 0, "unknown unit 'm30s' in '1m30s' (use ms, s, m or h)" },
	{ "5 s", 0, 0, "invalid duration '5 s'" },
	{ "-1s", 0, 0, "invalid duration '-1s'" },
	{ "s", 0, 0, "invalid duration 's'" },
	{ "1.s", 0, 0, "invalid duration '1.s'" },
	{ ".5s", 0, 0, "invalid duration '.5s'" },
	{ "0.5ms", 0, 0, "duration '0.5ms' is finer than a millisecond" },
	{ "1.0005s", 0, 0, "duration '1.0005s' is finer than a millisecond" },
	{ "169h", 0, 0, "duration '169h' too large (at most 168h)" },
	{ "99999999999999999999999h", 0, 0,
	    "duration '99999999999999999999999h' too large (at most 168h)" },
};

START_TEST(test_duration)
{
	struct config		*c;
	uint64_t		 ms = 4242;
	char			 text[256], want[256];

	ck_assert_int_eq(config_parse_duration(durs[_i].s, &ms),
	    durs[_i].ok ? 0 : -1);
	ck_assert_uint_eq(ms, durs[_i].ok ? durs[_i].ms : 4242);

	snprintf(text, sizeof(text), "[tunneld]\nkeepalive_interval = %s\n",
	    durs[_i].s);
	if (durs[_i].err == NULL) {
		c = load_ok(text);
		ck_assert_uint_eq(c->keepalive_interval, durs[_i].ms);
		config_free(c);
	} else {
		snprintf(want, sizeof(want), "t.conf:2: keepalive_interval: %s",
		    durs[_i].err);
		expect_error(text, want);
	}
}
END_TEST

static const struct {
	const char	*s;
	const char	*host;		/* NULL: rejected */
	uint16_t	 port;
} hps[] = {
	{ "127.0.0.1:11434", "127.0.0.1", 11434 },
	{ "11435", "127.0.0.1", 11435 },
	{ "[::1]:2222", "::1", 2222 },
	{ "example.com:65535", "example.com", 65535 },
	{ "h:00080", "h", 80 },
	{ "*:80", "*", 80 },
	{ ":80", "", 80 },
	{ "h:0", NULL, 0 },
	{ "h:65536", NULL, 0 },
	{ "70000", NULL, 0 },
	{ "h:1x", NULL, 0 },
	{ "h:", NULL, 0 },
	{ "h", NULL, 0 },
	{ "::1:80", NULL, 0 },
	{ "[::1]", NULL, 0 },
	{ "[::1]x80", NULL, 0 },
	{ "[::1:80", NULL, 0 },
	{ "[host]:80", NULL, 0 },
	{ "h/x:80", NULL, 0 },
	{ "", NULL, 0 },
};

START_TEST(test_hostport)
{
	char		host[CONFIG_HOST_MAX];
	uint16_t	port = 0;

	if (hps[_i].host == NULL) {
		ck_assert_int_eq(config_parse_hostport(hps[_i].s, host,
		    sizeof(host), &port), -1);
		return;
	}
	ck_assert_int_eq(config_parse_hostport(hps[_i].s, host, sizeof(host),
	    &port), 0);
	ck_assert_str_eq(host, hps[_i].host);
	ck_assert_uint_eq(port, hps[_i].port);
}
END_TEST

#define FBAD(spec, err)	{ spec, err, NULL, NULL, 0, 0 }
static const struct {
	const char	*spec;
	const char	*err;		/* after "t.conf:3: local_forward: " */
	const char	*lhost, *thost;
	uint16_t	 lport, tport;
} fwds[] = {
	{ "127.0.0.1:11435 127.0.0.1:11434", NULL, "127.0.0.1", "127.0.0.1",
	    11435, 11434 },
	{ "11435 11434", NULL, "127.0.0.1", "127.0.0.1", 11435, 11434 },
	{ "11435\t\tgpu.lan:11434", NULL, "127.0.0.1", "gpu.lan", 11435, 11434 },
	{ "[::1]:11435 [fe80::1]:11434", NULL, "::1", "fe80::1", 11435, 11434 },
	{ "localhost:11435 localhost:11434", NULL, "localhost", "localhost",
	    11435, 11434 },
	{ "0.0.0.0:11435 10.0.0.5:11434", NULL, "0.0.0.0", "10.0.0.5",
	    11435, 11434 },
	{ "192.0.2.1:80 host.example:80", NULL, "192.0.2.1", "host.example",
	    80, 80 },
	{ "[::]:80 x:1", NULL, "::", "x", 80, 1 },
	FBAD("*:11435 127.0.0.1:11434", "listen address '*' is not loopback; "
	    "write 0.0.0.0 or :: explicitly to listen on every interface"),
	FBAD(":11435 127.0.0.1:11434", "listen address ':11435' is not "
	    "loopback; write 0.0.0.0 or :: explicitly to listen on every "
	    "interface"),
	FBAD("example.com:11435 x:1", "listen address 'example.com' must be "
	    "an IP address or localhost"),
	FBAD("127.0.0.1:70000 127.0.0.1:11434", "port 70000 out of range"),
	FBAD("127.0.0.1:11435 127.0.0.1:0", "port 0 out of range"),
	FBAD("127.0.0.1:abc x:1", "invalid port 'abc'"),
	FBAD("127.0.0.1: x:1", "missing port in '127.0.0.1:'"),
	FBAD("127.0.0.1 x:1", "missing port in '127.0.0.1'"),
	FBAD("::1:11435 x:1", "IPv6 address in '::1:11435' must be bracketed, "
	    "e.g. [::1]:port"),
	FBAD("[::1 x:1", "missing ']' in '[::1'"),
	FBAD("[::1] x:1", "missing port in '[::1]'"),
	FBAD("[zz]:1 x:1", "invalid host 'zz' in '[zz]:1'"),
	FBAD("127.0.0.1:11435 *:1", "invalid target host in '*:1'"),
	FBAD("127.0.0.1:11435 :1", "invalid target host in ':1'"),
	FBAD("127.0.0.1:11435 h!:1", "invalid host 'h!' in 'h!:1'"),
	FBAD("127.0.0.1:11435", "malformed forward '127.0.0.1:11435': "
	    "expected 'LISTEN TARGET', e.g. '127.0.0.1:11435 127.0.0.1:11434'"),
	FBAD("1 2 3", "malformed forward '1 2 3': expected 'LISTEN TARGET', "
	    "e.g. '127.0.0.1:11435 127.0.0.1:11434'"),
};

START_TEST(test_forward)
{
	struct config		*c;
	struct fwd_conf		*f;
	char			 text[512], want[512];

	snprintf(text, sizeof(text), N_A "local_forward = %s\n", fwds[_i].spec);
	if (fwds[_i].err != NULL) {
		snprintf(want, sizeof(want), "t.conf:3: local_forward: %s",
		    fwds[_i].err);
		expect_error(text, want);
		/* the same checks hold for remote forwards */
		snprintf(text, sizeof(text), N_A "remote_forward = %s\n",
		    fwds[_i].spec);
		snprintf(want, sizeof(want), "t.conf:3: remote_forward: %s",
		    fwds[_i].err);
		expect_error(text, want);
		return;
	}
	c = load_ok(text);
	ck_assert_uint_eq(TAILQ_FIRST(&c->nodes)->nfwds, 1);
	f = &TAILQ_FIRST(&c->nodes)->fwds[0];
	ck_assert_int_eq(f->kind, FWD_LOCAL);
	ck_assert_str_eq(f->listen_host, fwds[_i].lhost);
	ck_assert_uint_eq(f->listen_port, fwds[_i].lport);
	ck_assert_str_eq(f->target_host, fwds[_i].thost);
	ck_assert_uint_eq(f->target_port, fwds[_i].tport);
	ck_assert_int_eq(f->line, 3);
	config_free(c);
}
END_TEST

#define SBAD(v, err)	{ v, err, NULL, NULL, 0 }
static const struct {
	const char	*v;
	const char	*err;		/* after "t.conf:2: ssh: " */
	const char	*user, *host;
	uint16_t	 port;
} sshs[] = {
	{ "host", NULL, NULL, "host", 0 },
	{ "root@209.170.80.132:13323", NULL, "root", "209.170.80.132", 13323 },
	{ "tunnel@aurora.example.net", NULL, "tunnel", "aurora.example.net", 0 },
	{ "my_alias", NULL, NULL, "my_alias", 0 },
	{ "[::1]:2222", NULL, NULL, "::1", 2222 },
	{ "u@[::1]:2222", NULL, "u", "::1", 2222 },
	{ "[::1]", NULL, NULL, "::1", 0 },
	{ "u@fe80::1", NULL, "u", "fe80::1", 0 },
	SBAD("h:70000", "port 70000 out of range"),
	SBAD("h:", "missing port in 'h:'"),
	SBAD("@h", "invalid user in '@h'"),
	SBAD("a b@h", "invalid user in 'a b@h'"),
	SBAD("u@", "missing host in 'u@'"),
	SBAD("u@h@g", "invalid host 'h@g' in 'u@h@g'"),
	SBAD("h x", "invalid host 'h x' in 'h x'"),
	SBAD("[::1", "malformed ssh target '[::1'"),
	SBAD("[::1]x", "malformed ssh target '[::1]x'"),
	SBAD("[zz]:22", "invalid host 'zz' in '[zz]:22'"),
	SBAD("a:b:c", "invalid host 'a:b:c' in 'a:b:c'"),
};

START_TEST(test_ssh)
{
	struct config		*c;
	struct node_conf	*n;
	char			 text[256], want[256];

	snprintf(text, sizeof(text), "[node a]\nssh = %s\n", sshs[_i].v);
	if (sshs[_i].err != NULL) {
		snprintf(want, sizeof(want), "t.conf:2: ssh: %s", sshs[_i].err);
		expect_error(text, want);
		return;
	}
	c = load_ok(text);
	n = TAILQ_FIRST(&c->nodes);
	ck_assert_int_eq(n->local, 0);
	ck_assert_str_eq(n->ssh, sshs[_i].v);
	if (sshs[_i].user == NULL)
		ck_assert_ptr_null(n->user);
	else
		ck_assert_str_eq(n->user, sshs[_i].user);
	ck_assert_str_eq(n->host, sshs[_i].host);
	ck_assert_uint_eq(n->port, sshs[_i].port);
	config_free(c);
}
END_TEST

START_TEST(test_helpers)
{
	static const char *const keys[] = { "ssh", "identity", "priority", NULL };
	char	buf[CONFIG_HOST_MAX + 8];

	ck_assert_str_eq(config_suggest("sshh", keys), "ssh");
	ck_assert_str_eq(config_suggest("identiy", keys), "identity");
	ck_assert_str_eq(config_suggest("Priority", keys), "priority");
	ck_assert_str_eq(config_suggest("prioirty", keys), "priority");
	ck_assert_ptr_null(config_suggest("prio", keys));
	ck_assert_ptr_null(config_suggest("sh", (const char *const[]){ "a", NULL }));
	ck_assert_ptr_null(config_suggest("foo", (const char *const[]){ "pool",
	    NULL }));
	ck_assert_str_eq(config_suggest("nodes", (const char *const[]){ "pool",
	    "node", NULL }), "node");
	ck_assert_ptr_null(config_suggest("completely-different", keys));
	ck_assert_ptr_null(config_suggest(NULL, keys));

	ck_assert_str_eq(config_fmt_hostport(buf, sizeof(buf), "127.0.0.1",
	    11434), "127.0.0.1:11434");
	ck_assert_str_eq(config_fmt_hostport(buf, sizeof(buf), "::1", 22),
	    "[::1]:22");
	ck_assert_str_eq(config_fmt_hostport(buf, sizeof(buf), "h.example", 1),
	    "h.example:1");

	ck_assert_int_eq(config_host_is_loopback("127.0.0.1"), 1);
	ck_assert_int_eq(config_host_is_loopback("127.255.0.9"), 1);
	ck_assert_int_eq(config_host_is_loopback("::1"), 1);
	ck_assert_int_eq(config_host_is_loopback("::ffff:127.0.0.1"), 1);
	ck_assert_int_eq(config_host_is_loopback("localhost"), 1);
	ck_assert_int_eq(config_host_is_loopback("LocalHost"), 1);
	ck_assert_int_eq(config_host_is_loopback("128.0.0.1"), 0);
	ck_assert_int_eq(config_host_is_loopback("0.0.0.0"), 0);
	ck_assert_int_eq(config_host_is_loopback("::"), 0);
	ck_assert_int_eq(config_host_is_loopback("192.0.2.1"), 0);
	ck_assert_int_eq(config_host_is_loopback("localhost.example"), 0);
	ck_assert_int_eq(config_host_is_loopback(""), 0);
	ck_assert_int_eq(config_host_is_loopback(NULL), 0);
}
END_TEST

static struct node_conf *
nth(struct config *c, int i)
{
	struct node_conf	*n = TAILQ_FIRST(&c->nodes);

	while (i-- > 0)
		n = TAILQ_NEXT(n, entry);
	return n;
}

/* Replace the first FROM in the mesh by TO and load it. */
static struct config *
mesh_with(const char *from, const char *to)
{
	struct config	*c;
	const char	*at = strstr(mesh, from);
	char		*t;

	ck_assert_ptr_nonnull(at);
	ck_assert_ptr_nonnull(t = malloc(sizeof(mesh) + strlen(to)));
	snprintf(t, sizeof(mesh) + strlen(to), "%.*s%s%s", (int)(at - mesh),
	    mesh, to, at + strlen(from));
	c = load_ok(t);
	free(t);
	return c;
}

/* One edit of the mesh each; EQ: whether runpod (node 0) stays equal. */
static const struct {
	const char	*from, *to;
	int		 eq;
} node_edits[] = {
	{ "[tunneld]", "# a comment\n\n[tunneld]", 1 },	/* lines move */
	{ "[node runpod]", "[node runpod2]", 0 },
	{ "priority       = 2", "priority = 1", 0 },
	{ "priority       = 2", "priority = 2\nenabled = no", 0 },
	{ "root@209.170.80.132:13323", "admin@209.170.80.132:13323", 0 },
	{ "root@209.170.80.132:13323", "root@209.170.80.133:13323", 0 },
	{ "13323", "13324", 0 },
	{ "13323   ;", "13323 ;", 1 },
	{ "mesh_ed25519", "other_ed25519", 0 },
	{ "local_forward  = 127.0.0.1:11435", "remote_forward = 127.0.0.1:11435", 0 },
	{ "local_forward  = 127.0.0.1:11435", "local_forward = 127.0.0.2:11435", 0 },
	{ "local_forward  = 127.0.0.1:11435", "local_forward = 127.0.0.1:11445", 0 },
	{ "11435 127.0.0.1:11434", "11435 127.0.0.2:11434", 0 },
	{ "11435 127.0.0.1:11434", "11435 127.0.0.1:11433", 0 },
	{ "11435 127.0.0.1:11434", "11435 127.0.0.1:11434\n"
	    "local_forward = 11499 11434", 0 },
	{ "ollama         = http://127.0.0.1:11435", "ollama = http://h:1", 0 },
	/* same URL, but now derived from the forward */
	{ "ollama         = http://127.0.0.1:11435", "", 0 },
	{ "gpu            = nvidia-smi", "gpu = tegrastats", 0 },
	{ "require_models = qwen2.5:7b", "require_models = qwen2.5:7b x", 0 },
	{ "require_models = qwen2.5:7b", "require_models = qwen2.5:14b", 0 },
	{ "require_models = qwen2.5:7b", "require_models = qwen2.5:7b qwen2.5:7b", 1 },
	{ "priority       = 2", "priority = 2\nhttp = http://h/", 0 },
	{ "gpu_temp_c         = 80", "gpu_temp_c = 70", 1 },	/* not the node */
};

START_TEST(test_node_equal)
{
	struct config	*a = load_ok(mesh), *b;
	int		 i;

	b = mesh_with(node_edits[_i].from, node_edits[_i].to);
	ck_assert_int_eq(node_conf_equal(nth(a, 0), nth(b, 0)), node_edits[_i].eq);
	ck_assert_int_eq(node_conf_equal(nth(b, 0), nth(a, 0)), node_edits[_i].eq);
	for (i = 1; i < 3; i++)			/* the others are untouched */
		ck_assert_int_eq(node_conf_equal(nth(a, i), nth(b, i)), 1);
	ck_assert_int_eq(node_conf_equal(nth(a, 0), nth(a, 1)), 0);
	ck_assert_int_eq(node_conf_equal(NULL, NULL), 1);
	ck_assert_int_eq(node_conf_equal(nth(a, 0), NULL), 0);
	config_free(b);
	config_free(a);
}
END_TEST

/* Session settings matter; socket, group, metrics and alerts do not. */
static const struct {
	const char	*from, *to;
	int		 eq;
} global_edits[] = {
	{ "[tunneld]", "# a comment\n[tunneld]", 1 },
	{ "known_hosts        = /etc/tunneld/known_hosts", "known_hosts = /k", 0 },
	{ "host_key_policy    = strict", "host_key_policy = accept-new", 0 },
	{ "ssh_config         = /etc/tunneld/ssh_config", "", 0 },
	{ "keepalive_interval = 5s", "keepalive_interval = 6s", 0 },
	{ "keepalive_count    = 3", "keepalive_count = 4", 0 },
	{ "connect_timeout    = 10s", "connect_timeout = 11s", 0 },
	{ "backoff_initial    = 1s", "backoff_initial = 2s", 0 },
	{ "backoff_max        = 60s", "backoff_max = 61s", 0 },
	{ "backoff_multiplier = 2", "backoff_multiplier = 3", 0 },
	{ "backoff_jitter     = 0.2", "backoff_jitter = 0.3", 0 },
	{ "retry_refused      = 1s", "retry_refused = 2s", 0 },
	{ "stable_after       = 30s", "stable_after = 31s", 0 },
	{ "probe_interval     = 10s", "probe_interval = 11s", 0 },
	{ "probe_timeout      = 5s", "probe_timeout = 4s", 0 },
	{ "keepalive_interval = 5s", "keepalive_interval = 5000ms", 1 },
	{ "control_socket     = /run/tunneld/control.sock", "control_socket = /c", 1 },
	{ "admin_group        = tunneld", "admin_group = wheel", 1 },
	{ "metrics_listen     = 127.0.0.1:9477", "metrics_listen = 9478", 1 },
	{ "gpu_temp_c         = 80", "gpu_temp_c = 70", 1 },
	{ "repeat_after       = 10m", "repeat_after = 1h", 1 },
};

START_TEST(test_global_equal)
{
	struct config	*a = load_ok(mesh), *b;

	b = mesh_with(global_edits[_i].from, global_edits[_i].to);
	ck_assert_int_eq(config_global_equal(a, b), global_edits[_i].eq);
	ck_assert_int_eq(config_global_equal(b, a), global_edits[_i].eq);
	ck_assert_int_eq(config_global_equal(a, a), 1);
	ck_assert_int_eq(config_global_equal(a, NULL), 0);
	config_free(b);
	config_free(a);
}
END_TEST

/* Unwritten values give way to written ones instead of failing. */
START_TEST(test_clamp)
{
	struct config	*c;

	c = load_ok("[tunneld]\nprobe_interval = 2s\nbackoff_max = 500ms\n");
	ck_assert_uint_eq(c->probe_timeout, 2000);
	ck_assert_uint_eq(c->backoff_initial, 500);
	config_free(c);
	c = load_ok("[tunneld]\nbackoff_initial = 2m\n");
	ck_assert_uint_eq(c->backoff_max, 120000);
	config_free(c);
}
END_TEST

static char *
write_tmp(const void *data, size_t len)
{
	char	*path;
	FILE	*fp;
	int	 fd;

	ck_assert_ptr_nonnull(path = strdup("/tmp/check_config.XXXXXX"));
	ck_assert_int_ge(fd = mkstemp(path), 0);
	ck_assert_ptr_nonnull(fp = fdopen(fd, "w"));
	ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
	return path;
}

START_TEST(test_file)
{
	static const char nul[] = "[node a]\nssh = h\n# x\0y\ngpu = none\n";
	struct config_errors	 e = { NULL, 0 };
	struct config		*c;
	char			*path, want[256], *big;

	path = write_tmp(mesh, sizeof(mesh) - 1);
	ck_assert_ptr_nonnull(c = config_load(path, &e));
	ck_assert_uint_eq(e.n, 0);
	ck_assert_str_eq(c->path, path);
	ck_assert_uint_eq(c->nnodes, 3);
	config_free(c);
	unlink(path);
	free(path);

	path = write_tmp(nul, sizeof(nul) - 1);
	ck_assert_ptr_null(config_load(path, &e));
	ck_assert_uint_eq(e.n, 1);
	snprintf(want, sizeof(want), "%s:3: NUL byte in line", path);
	ck_assert_str_eq(e.msg[0], want);
	config_errors_clear(&e);
	unlink(path);
	free(path);

	ck_assert_ptr_nonnull(big = malloc(1024 * 1024 + 1));
	memset(big, '\n', 1024 * 1024 + 1);
	path = write_tmp(big, 1024 * 1024);
	ck_assert_ptr_nonnull(c = config_load(path, &e));
	config_free(c);
	unlink(path);
	free(path);
	path = write_tmp(big, 1024 * 1024 + 1);
	ck_assert_ptr_null(config_load(path, &e));
	ck_assert_uint_eq(e.n, 1);
	snprintf(want, sizeof(want), "%s: file too large (at most 1048576 "
	    "bytes)", path);
	ck_assert_str_eq(e.msg[0], want);
	config_errors_clear(&e);
	unlink(path);
	free(path);
	free(big);

	ck_assert_ptr_null(config_load("/nonexistent/tunneld.conf", &e));
	ck_assert_uint_eq(e.n, 1);
	ck_assert_str_eq(e.msg[0],
	    "/nonexistent/tunneld.conf: No such file or directory");
	ck_assert_ptr_null(config_load("/", &e));
	ck_assert_uint_eq(e.n, 2);		/* appended, not replaced */
	ck_assert_str_eq(e.msg[1], "/: not a regular file");
	config_errors_clear(&e);
	/*
	 * A FIFO nobody writes to: refused at once.  It used to block in
	 * open() (a reload froze the daemon's loop); Check's timeout ends a
	 * test that hangs.
	 */
	path = write_tmp("", 0);
	unlink(path);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_ptr_null(config_load(path, &e));
	snprintf(want, sizeof(want), "%s: not a regular file", path);
	ck_assert_str_eq(e.msg[0], want);
	config_errors_clear(&e);
	unlink(path);
	free(path);
	ck_assert_ptr_null(e.msg);
	ck_assert_uint_eq(e.n, 0);
}
END_TEST

static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Garbage and mutated configs: never crash, NULL exactly when errors. */
START_TEST(test_garbage)
{
	static const char *const frag[] = {
		"[", "]", "=", ";", " ;", "#", ":", " ", "\t", "\n", "\r\n", "@",
		"[node ", "[pool ", "[tunneld]", "[alerts]", "ssh", "none", "a",
		"local_forward", "remote_forward", " = ", "127.0.0.1", "::1",
		"[::1]", "11434", "70000", "*", "5s", "1.5", "ms", "nodes",
		"listen", "http://", "\xff", "\xef\xbb\xbf", "priority", "0",
	};
	struct config_errors	 e;
	struct config		*c;
	char			 buf[sizeof(mesh) + 1];
	uint32_t		 seed = 0x7e11e1d;
	size_t			 len, i, n, k;

	for (i = 0; i < 3000; i++) {
		len = 0;
		if (i % 3 == 0) {		/* raw bytes, no NUL */
			n = rnd(&seed) % 600;
			while (len < n)
				buf[len++] = (char)(rnd(&seed) % 255 + 1);
		} else if (i % 3 == 1) {	/* config-shaped fragments */
			n = rnd(&seed) % 120;
			for (k = 0; k < n; k++) {
				const char *f = frag[rnd(&seed) % (sizeof(frag) /
				    sizeof(frag[0]))];
				if (len + strlen(f) >= sizeof(buf) - 1)
					break;
				memcpy(buf + len, f, strlen(f));
				len += strlen(f);
			}
		} else {			/* the mesh with bytes flipped */
			len = sizeof(mesh) - 1;
			memcpy(buf, mesh, len);
			for (k = rnd(&seed) % 8 + 1; k > 0; k--)
				buf[rnd(&seed) % len] =
				    (char)(rnd(&seed) % 255 + 1);
		}
		buf[len] = '\0';
		c = load(buf, &e);
		ck_assert_msg((c == NULL) == (e.n > 0), "iteration %zu", i);
		config_free(c);
		config_errors_clear(&e);
	}
}
END_TEST


/* Issue 13: rise/fall and the probe timers, per node; pool members. */
START_TEST(test_probe_keys)
{
	struct config		*c;
	struct node_conf	*n;

	c = load_ok("[tunneld]\nprobe_interval = 8s\nprobe_timeout = 4s\n"
	    "[node a]\nssh = h\n"
	    "[node b]\nssh = h\nprobe_interval = 30s\nprobe_timeout = 20s\n"
	    "rise = 1\nfall = 5\n"
	    "[node c]\nssh = none\nprobe_interval = 2s\n"
	    "[node d]\nssh = none\nprobe_timeout = 12s\n");
	ck_assert_int_eq(c->rise, 2);
	ck_assert_int_eq(c->fall, 3);
	n = config_find_node(c, "a");		/* [tunneld]'s */
	ck_assert_uint_eq(n->probe_interval, 8000);
	ck_assert_uint_eq(n->probe_timeout, 4000);
	ck_assert_int_eq(n->rise, 2);
	ck_assert_int_eq(n->fall, 3);
	n = config_find_node(c, "b");		/* its own */
	ck_assert_uint_eq(n->probe_interval, 30000);
	ck_assert_uint_eq(n->probe_timeout, 20000);
	ck_assert_int_eq(n->rise, 1);
	ck_assert_int_eq(n->fall, 5);
	n = config_find_node(c, "c");		/* inherited timeout gives way */
	ck_assert_uint_eq(n->probe_interval, 2000);
	ck_assert_uint_eq(n->probe_timeout, 2000);
	n = config_find_node(c, "d");		/* inherited interval gives way */
	ck_assert_uint_eq(n->probe_interval, 12000);
	ck_assert_uint_eq(n->probe_timeout, 12000);
	config_free(c);

	/* [tunneld] after the nodes still gives them its values. */
	c = load_ok(N_A "[tunneld]\nrise = 4\nfall = 1\nprobe_interval = 3s\n");
	n = config_find_node(c, "a");
	ck_assert_int_eq(n->rise, 4);
	ck_assert_int_eq(n->fall, 1);
	ck_assert_uint_eq(n->probe_interval, 3000);
	ck_assert_uint_eq(n->probe_timeout, 3000);
	config_free(c);

	/* An Ollama URL is an address for any node, not only ssh = none. */
	c = load_ok("[node v]\nssh = t@127.0.0.1:12222\n"
	    "ollama = http://127.0.0.1:11436\n"
	    "[pool p]\nlisten = 11400\nnodes = v\n");
	config_free(c);
}
END_TEST

static const struct {
	const char	*text;
	const char	*want[3];
} probe_bad[] = {
	{ N_A "probe_interval = 1s\nprobe_timeout = 2s\n",
	    { "t.conf:3: probe_interval must not be less than probe_timeout "
	      "(line 4)" } },
	{ N_A "probe_intervl = 1s\n",
	    { "t.conf:3: unknown key 'probe_intervl' in [node a]; did you "
	      "mean 'probe_interval'?" } },
	{ N_A "fal = 2\n",
	    { "t.conf:3: unknown key 'fal' in [node a]; did you mean 'fall'?" } },
	{ N_A "rise = 0\nfall = 101\n",
	    { "t.conf:3: rise: 0 out of range (1 to 100)",
	      "t.conf:4: fall: 101 out of range (1 to 100)" } },
	{ N_A "rise = two\nprobe_timeout = 0s\n",
	    { "t.conf:3: rise: invalid number 'two'",
	      "t.conf:4: probe_timeout: must be greater than 0" } },
	{ N_A "probe_interval = 10\n",
	    { "t.conf:3: probe_interval: missing unit in '10' (use ms, s, m "
	      "or h)" } },
	{ N_A "fall = 2\nfall = 3\n",
	    { "t.conf:4: duplicate key 'fall' (first set at line 3)" } },
	{ "[tunneld]\nrise = 0\nfalls = 2\n",
	    { "t.conf:2: rise: 0 out of range (1 to 100)",
	      "t.conf:3: unknown key 'falls' in [tunneld]; did you mean "
	      "'fall'?" } },
	{ N_A "[node b]\nssh = none\nollama = none\n"
	    "[pool chat]\nlisten = 11400\nnodes = a b\n",
	    { "t.conf:8: nodes: node 'a' cannot take part in pool 'chat': it "
	      "has no local_forward and ollama = none (line 1), so the pool "
	      "has no address to send clients to",
	      "t.conf:8: nodes: node 'b' cannot take part in pool 'chat': it "
	      "has ssh = none and ollama = none (line 3), so the pool has no "
	      "address to send clients to" } },
};

START_TEST(test_probe_bad)
{
	expect_errors(probe_bad[_i].text, probe_bad[_i].want);
}
END_TEST

/* Which keys a reload sees changed: exactly the edited one. */
static const struct {
	const char	*edit;
	unsigned	 keys;
} diffs[] = {
	{ "", 0 },
	{ "# a comment moves nothing\n", 0 },
	{ "ssh = root@h:2222\n", NODE_KEY_SSH },
	{ "identity = /other\n", NODE_KEY_IDENTITY },
	{ "local_forward = 11437 11434\n", NODE_KEY_LOCAL_FORWARD },
	{ "remote_forward = 11440 11434\n", NODE_KEY_REMOTE_FORWARD },
	{ "ollama = http://127.0.0.1:9\n", NODE_KEY_OLLAMA },
	{ "gpu = nvidia-smi\n", NODE_KEY_GPU },
	{ "require_models = qwen2.5:7b llama3\n", NODE_KEY_REQUIRE_MODELS },
	{ "http = http://127.0.0.1:6333/healthz\n", NODE_KEY_HTTP },
	{ "priority = 7\n", NODE_KEY_PRIORITY },
	{ "enabled = no\n", NODE_KEY_ENABLED },
	{ "probe_interval = 30s\n", NODE_KEY_PROBE_INTERVAL },
	/* under the inherited timeout (5s): that one gives way too */
	{ "probe_interval = 3s\n", NODE_KEY_PROBE_INTERVAL | NODE_KEY_PROBE_TIMEOUT },
	{ "probe_timeout = 300ms\n", NODE_KEY_PROBE_TIMEOUT },
	{ "rise = 5\n", NODE_KEY_RISE },
	{ "fall = 1\n", NODE_KEY_FALL },
};

#define DIFF_BASE "[node r]\nssh = root@h\nidentity = /k\n" \
	"local_forward = 11435 11434\nremote_forward = 11436 11434\n" \
	"ollama = http://127.0.0.1:11435\nrequire_models = qwen2.5:7b\n"

START_TEST(test_node_diff)
{
	struct config	*a, *b;
	char		 text[1024], buf[256], *l;
	const char	*key = diffs[_i].edit;
	size_t		 klen = strcspn(key, " ");

	a = load_ok(DIFF_BASE "priority = 2\n");
	/* The edit replaces the base's line of the same key, or is added. */
	snprintf(text, sizeof(text), "%s", DIFF_BASE "priority = 2\n");
	for (l = text; klen > 0 && (l = strchr(l, '\n')) != NULL; ) {
		l++;
		if (strncmp(l, key, klen) == 0 && l[klen] == ' ') {
			memmove(l, strchr(l, '\n') + 1,
			    strlen(strchr(l, '\n') + 1) + 1);
			break;
		}
	}
	strncat(text, key, sizeof(text) - strlen(text) - 1);
	b = load_ok(text);
	ck_assert_uint_eq(config_node_diff(TAILQ_FIRST(&a->nodes),
	    TAILQ_FIRST(&b->nodes)), diffs[_i].keys);
	ck_assert_int_eq(node_conf_equal(TAILQ_FIRST(&a->nodes),
	    TAILQ_FIRST(&b->nodes)), diffs[_i].keys == 0);
	config_free(a);
	config_free(b);
	ck_assert_str_eq(config_node_keys_fmt(NODE_KEY_OLLAMA |
	    NODE_KEY_REQUIRE_MODELS | NODE_KEY_FALL, buf, sizeof(buf)),
	    "ollama, require_models, fall");
	ck_assert_str_eq(config_node_keys_fmt(0, buf, sizeof(buf)), "");
	ck_assert_str_eq(config_node_keys_fmt(NODE_KEY_SSH | NODE_KEY_IDENTITY,
	    buf, 9), "ssh");
}
END_TEST

/* A changed [tunneld] probe default reaches the nodes that inherit it. */
START_TEST(test_node_diff_inherited)
{
	struct config	*a = load_ok(N_A "[node b]\nssh = h\nfall = 4\n"),
			*b = load_ok("[tunneld]\nfall = 6\nprobe_interval = 20s\n"
			    N_A "[node b]\nssh = h\nfall = 4\n");

	ck_assert_uint_eq(config_node_diff(config_find_node(a, "a"),
	    config_find_node(b, "a")), NODE_KEY_FALL | NODE_KEY_PROBE_INTERVAL);
	ck_assert_uint_eq(config_node_diff(config_find_node(a, "b"),
	    config_find_node(b, "b")), NODE_KEY_PROBE_INTERVAL);
	config_free(a);
	config_free(b);
}
END_TEST

/* nameidx: what config_find_node() and the duplicate checks stand on. */
START_TEST(test_nameidx)
{
	struct nameidx	 x = { 0 };
	static char	 names[5000][16];
	int		 vals[5000], i;

	ck_assert_ptr_null(nameidx_get(&x, "a"));	/* empty, no table */
	for (i = 0; i < 5000; i++) {
		snprintf(names[i], sizeof(names[i]), "n%d", i);
		vals[i] = i;
		ck_assert_int_eq(nameidx_put(&x, names[i], &vals[i]), 0);
	}
	ck_assert_uint_eq(x.n, 5000);
	ck_assert_uint_ge(x.cap, 10000);		/* at most half full */
	for (i = 0; i < 5000; i++)
		ck_assert_ptr_eq(nameidx_get(&x, names[i]), &vals[i]);
	ck_assert_ptr_null(nameidx_get(&x, "n5000"));
	ck_assert_ptr_null(nameidx_get(&x, ""));
	/* A name again replaces its value; a name is compared, not its address. */
	ck_assert_int_eq(nameidx_put(&x, "n7", &vals[0]), 0);
	ck_assert_uint_eq(x.n, 5000);
	ck_assert_ptr_eq(nameidx_get(&x, "n7"), &vals[0]);
	nameidx_clear(&x);
	ck_assert_uint_eq(x.n, 0);
	ck_assert_ptr_null(nameidx_get(&x, "n1"));
	ck_assert_int_eq(nameidx_put(&x, "n1", &vals[1]), 0);
	ck_assert_ptr_eq(nameidx_get(&x, "n1"), &vals[1]);
	nameidx_free(&x);
	ck_assert_ptr_null(nameidx_get(&x, "n1"));
}
END_TEST

/*
 * 15,000 nodes (about what a 1 MiB file holds): every node found by
 * name, and a duplicate node, a duplicate pool and a clashing listener far
 * from the first still name its line.  The checks behind these were
 * quadratic (a second of --check-config at this size); their speed is
 * bench/scale.sh's to show, what they find is checked here.
 */
/*
 * A pool ranks at most CONFIG_POOL_NODES_MAX nodes: one more is an error
 * at its line, not a node quietly left out of the pool.
 */
START_TEST(test_pool_nodes_max)
{
	/* Names of one character or two: 65 of them fit on one line. */
	static const char	 chars[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	static const char *const want[] = {
		"t.conf:3: nodes: 65 nodes; a pool has at most 64", NULL
	};
	struct config	*c;
	char		 text[8192], name[65][3];
	size_t		 off;
	int		 i, n;

	for (i = 0; i < 65; i++)
		snprintf(name[i], sizeof(name[i]), "%c%.*s",
		    chars[i % 62], i >= 62, "x");
	for (n = 64; n <= 65; n++) {
		off = (size_t)snprintf(text, sizeof(text),
		    "[pool p]\nlisten = 127.0.0.1:20000\nnodes =");
		for (i = 0; i < n; i++)
			off += (size_t)snprintf(text + off, sizeof(text) - off,
			    " %s", name[i]);
		off += (size_t)snprintf(text + off, sizeof(text) - off, "\n");
		for (i = 0; i < n; i++)
			off += (size_t)snprintf(text + off, sizeof(text) - off,
			    "[node %s]\nssh = none\nollama = "
			    "http://127.0.0.1:1\n", name[i]);
		ck_assert_uint_lt(off, sizeof(text));
		if (n == 64) {
			ck_assert_ptr_nonnull(c = load_ok(text));
			ck_assert_uint_eq(TAILQ_FIRST(&c->pools)->nnodes, 64);
			config_free(c);
		} else
			expect_errors(text, want);
	}
}
END_TEST

START_TEST(test_many_nodes)
{
	struct config_errors	 e;
	struct config		*c;
	struct node_conf	*n;
	char			*text, want[3][128], name[16];
	size_t			 off = 0, cap = 2 * 1024 * 1024;
	int			 i, line = 1;

	ck_assert_ptr_nonnull(text = malloc(cap));
	off += (size_t)snprintf(text + off, cap - off,
	    "[pool p]\nlisten = 127.0.0.1:20000\nnodes = n0\n");
	line += 3;
	for (i = 0; i < 15000; i++) {
		off += (size_t)snprintf(text + off, cap - off,
		    "[node n%d]\nssh = none\ngpu = none\n", i);
		line += 3;
		if (i == 0) {
			off += (size_t)snprintf(text + off, cap - off,
			    "ollama = http://127.0.0.1:1\n");
			line++;
		}
	}
	ck_assert_ptr_nonnull(c = load_ok(text));
	ck_assert_uint_eq(c->nnodes, 15000);
	i = 0;
	TAILQ_FOREACH(n, &c->nodes, entry) {
		snprintf(name, sizeof(name), "n%d", i++);
		ck_assert_ptr_eq(config_find_node(c, name), n);
	}
	ck_assert_ptr_null(config_find_node(c, "n15000"));
	config_free(c);

	/* The same, and at its end the three mistakes. */
	off += (size_t)snprintf(text + off, cap - off,
	    "[node n3]\nssh = none\n[pool p]\nlisten = 127.0.0.1:20001\n"
	    "nodes = n0\n[pool q]\nlisten = 127.0.0.1:20000\nnodes = n0\n");
	snprintf(want[0], sizeof(want[0]), "t.conf:%d: duplicate node 'n3' "
	    "(first defined at line 14)", line);
	snprintf(want[1], sizeof(want[1]), "t.conf:%d: duplicate pool 'p' "
	    "(first defined at line 1)", line + 2);
	snprintf(want[2], sizeof(want[2]), "t.conf:%d: listen address "
	    "127.0.0.1:20000 already used at line 2", line + 6);
	c = load(text, &e);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(e.n, 3);
	for (i = 0; i < 3; i++)
		ck_assert_str_eq(e.msg[i], want[i]);
	config_errors_clear(&e);
	free(text);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc;

	tc = tcase_create("good");
	tcase_add_test(tc, test_mesh);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_pool_http);
	tcase_add_test(tc, test_syntax);
	tcase_add_test(tc, test_clamp);
	tcase_add_test(tc, test_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad");
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_multi);
	tcase_add_test(tc, test_garbage);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_loop_test(tc, test_duration, 0, sizeof(durs) / sizeof(durs[0]));
	tcase_add_loop_test(tc, test_hostport, 0, sizeof(hps) / sizeof(hps[0]));
	tcase_add_loop_test(tc, test_forward, 0, sizeof(fwds) / sizeof(fwds[0]));
	tcase_add_loop_test(tc, test_ssh, 0, sizeof(sshs) / sizeof(sshs[0]));
	tcase_add_test(tc, test_helpers);
	suite_add_tcase(s, tc);

	tc = tcase_create("reload");
	tcase_add_loop_test(tc, test_node_equal, 0,
	    sizeof(node_edits) / sizeof(node_edits[0]));
	tcase_add_loop_test(tc, test_global_equal, 0,
	    sizeof(global_edits) / sizeof(global_edits[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("issue13");
	tcase_add_test(tc, test_probe_keys);
	tcase_add_loop_test(tc, test_probe_bad, 0,
	    sizeof(probe_bad) / sizeof(probe_bad[0]));
	tcase_add_loop_test(tc, test_node_diff, 0,
	    sizeof(diffs) / sizeof(diffs[0]));
	tcase_add_test(tc, test_node_diff_inherited);
	suite_add_tcase(s, tc);

	tc = tcase_create("scale");
	tcase_add_test(tc, test_nameidx);
	tcase_add_test(tc, test_many_nodes);
	tcase_add_test(tc, test_pool_nodes_max);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(config_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
