/*
 * probe_gpu: the GPU runner of probe.c: nvidia-smi or tegrastats, over the
 * node's SSH session or spawned here, until a result is handed to probe.c.
 *
 * GPU tool.  Over SSH the tool runs in an exec channel of the node's
 * session; the command line is a constant (no byte of it comes from
 * config or from the network), so no shell quoting question arises even
 * though sshd hands it to the account's shell.  Channel data reaches us
 * through libssh channel callbacks while session.c polls the session; the
 * open and exec requests, which need a few round trips, are driven by a
 * short timer (libssh 0.10 has no callback for their answers), and every
 * channel call is non-blocking.  For `ssh = none` nodes the tool is spawned
 * here with posix_spawnp (no shell), in its own process group, stdout and
 * stderr on non-blocking pipes; it is always reaped (a reaper timer takes
 * over children that must be stopped: timeout, tegrastats after its first
 * line, node stopped), and the whole group is killed so that a helper the
 * tool forked cannot keep the pipes open.
 *
 * Channel lifetime.  session.c frees the ssh_session, and with it every
 * channel, when the session fails; node.c tells us afterwards
 * (probe_session_down).  A run therefore touches its channel only while the
 * node's session is the very one it was opened on: up, and with the same
 * connection count (node_session_up bumps it for every new session).
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include "log.h"
#include "probe.h"
#include "probe_int.h"
#include "session.h"
#include "text.h"
#include "tunneld.h"

extern char	**environ;

#define PROBE_OUT_MAX		(64 * 1024)	/* per stream, GPU tool output */
#define PROBE_POLL_MS		20	/* channel open/exec, child exit */
#define REAP_POLL_MS		50
#define REAP_KILL_AFTER_MS	1000	/* TERM first (tegrastats), then KILL */
#define REAP_GIVE_UP_MS		(10 * 60 * 1000)

/* Fixed commands: nothing in them comes from config or the network. */
#define TEGRASTATS_INTERVAL	"500"
static const char *const nvidia_smi_argv[] = {
	"nvidia-smi", GPU_NVIDIA_SMI_QUERY, GPU_NVIDIA_SMI_FORMAT, NULL
};
static const char *const tegrastats_argv[] = {
	"tegrastats", "--interval", TEGRASTATS_INTERVAL, NULL
};
#define NVIDIA_SMI_CMD \
	"nvidia-smi " GPU_NVIDIA_SMI_QUERY " " GPU_NVIDIA_SMI_FORMAT
#define TEGRASTATS_CMD	"tegrastats --interval " TEGRASTATS_INTERVAL

/* Children that must still be stopped and reaped. */
struct reap {
	LIST_ENTRY(reap)	 entry;
	struct probe_node	*owner;		/* NULL once the node is gone */
	pid_t			 pid;
	uint64_t		 added;
	int			 killed;
};
static LIST_HEAD(, reap) reaps = LIST_HEAD_INITIALIZER(reaps);
static struct event	*ev_reap;

/* ---------------------------------------------------------------- reaper */

static void
reap_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct reap	*rp, *next;
	struct timeval	 tv = { 0, REAP_POLL_MS * 1000 };
	uint64_t	 now = now_ms();
	int		 status;
	pid_t		 w;

	for (rp = LIST_FIRST(&reaps); rp != NULL; rp = next) {
		next = LIST_NEXT(rp, entry);
		w = waitpid(rp->pid, &status, WNOHANG);
		if (w == rp->pid || (w == -1 && errno == ECHILD)) {
			if (rp->owner != NULL && rp->owner->busy_pid == rp->pid)
				rp->owner->busy_pid = 0;
			LIST_REMOVE(rp, entry);
			free(rp);
			continue;
		}
		if (!rp->killed && now - rp->added >= REAP_KILL_AFTER_MS) {
			/* Not reaped, so the group id is still ours to signal. */
			(void)kill(-rp->pid, SIGKILL);
			rp->killed = 1;
		} else if (now - rp->added >= REAP_GIVE_UP_MS) {
			log_warnx("probe process %ld survives SIGKILL; giving "
			    "up on it", (long)rp->pid);
			if (rp->owner != NULL && rp->owner->busy_pid == rp->pid)
				rp->owner->busy_pid = 0;
			LIST_REMOVE(rp, entry);
			free(rp);
		}
	}
	if (!LIST_EMPTY(&reaps))
		evtimer_add(ev_reap, &tv);
}

/*
 * Signal PID's process group with SIG, and reap it in the background;
 * OWNER's next GPU probe waits until then.
 */
static void
reap_add(struct probe_node *owner, pid_t pid, int sig)
{
	struct reap	*rp;
	struct timeval	 tv = { 0, REAP_POLL_MS * 1000 };

	(void)kill(-pid, sig);
	if ((rp = calloc(1, sizeof(*rp))) == NULL) {
		/* Without memory, wait for it here: it was sent a signal. */
		(void)kill(-pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		return;
	}
	rp->owner = owner;
	owner->busy_pid = pid;
	owner->busy_since = owner->gpu.started;
	rp->pid = pid;
	rp->added = now_ms();
	rp->killed = sig == SIGKILL;
	LIST_INSERT_HEAD(&reaps, rp, entry);
	if (ev_reap == NULL &&
	    (ev_reap = evtimer_new(td->base, reap_cb, NULL)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	if (!evtimer_pending(ev_reap, NULL))
		evtimer_add(ev_reap, &tv);
}

/* -------------------------------------------------------------- GPU runs */

static const char *
gpu_tool(enum gpu_kind k)
{
	return k == GPU_TEGRASTATS ? "tegrastats" : "nvidia-smi";
}

static int
gpu_chan_valid(const struct gpu_run *g)
{
	const struct node	*n = g->pn->node;

	return g->chan != NULL && n->sess != NULL && n->sess == g->sess &&
	    session_is_up(n->sess) && n->connects == g->connects;
}

static int
linger_valid(const struct gpu_linger *l, const struct node *n)
{
	return l->chan != NULL && n->sess != NULL && n->sess == l->sess &&
	    session_is_up(n->sess) && n->connects == l->connects;
}

/* Let go of the lingering channel (freed with its session if that went). */
void
probe_gpu_linger_drop(struct probe_node *pn)
{
	struct gpu_linger	*l = &pn->linger;

	if (l->chan != NULL && linger_valid(l, pn->node)) {
		ssh_remove_channel_callbacks(l->chan, &l->cb);
		ssh_channel_free(l->chan);
		session_flush(l->sess);
	}
	l->chan = NULL;
	l->sess = NULL;
	l->closed = l->opening = 0;
	if (l->ev != NULL)
		event_del(l->ev);
}

/*
 * A channel whose open timed out is answered some day: granted, it would
 * hold one of the server's MaxSessions (10 by default) until the session
 * ends, since libssh drops an unanswered channel on free and ignores its
 * late confirmation.  So it lingers until the answer, then is closed.
 */
static void
linger_settle_open(struct probe_node *pn)
{
	struct gpu_linger	*l = &pn->linger;
	int			 rc;

	if (l->chan == NULL || !l->opening)
		return;
	if (!linger_valid(l, pn->node)) {
		probe_gpu_linger_drop(pn);
		return;
	}
	if ((rc = ssh_channel_open_session(l->chan)) == SSH_AGAIN)
		return;
	if (rc == SSH_OK)
		(void)ssh_channel_close(l->chan);
	probe_gpu_linger_drop(pn);
}

static void
linger_ev_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct probe_node	*pn = arg;

	if (pn->linger.closed || !linger_valid(&pn->linger, pn->node))
		probe_gpu_linger_drop(pn);
}

static int
linger_data(ssh_session ss, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *arg)
{
	return (int)len;	/* too late: dropped */
}

static void
linger_close(ssh_session ss, ssh_channel ch, void *arg)
{
	struct probe_node	*pn = arg;

	pn->linger.closed = 1;
	event_active(pn->linger.ev, EV_TIMEOUT, 0);
}

/* Hand the run's channel, signalled and closed by us, to the linger slot. */
static void
linger_take(struct gpu_run *g)
{
	struct gpu_linger	*l = &g->pn->linger;

	ssh_remove_channel_callbacks(g->chan, &g->cb);
	l->chan = g->chan;
	l->sess = g->sess;
	l->connects = g->connects;
	l->started = g->started;
	l->closed = 0;
	memset(&l->cb, 0, sizeof(l->cb));
	l->cb.userdata = g->pn;
	l->cb.channel_data_function = linger_data;
	l->cb.channel_close_function = linger_close;
	ssh_callbacks_init(&l->cb);
	if (ssh_set_channel_callbacks(l->chan, &l->cb) != SSH_OK) {
		l->chan = NULL;
		ssh_channel_free(g->chan);
	}
	g->chan = NULL;
}

/* Release what the run holds; CHAN only if its session is still alive. */
static void
gpu_release(struct gpu_run *g, int stop_sig)
{
	if (g->chan != NULL) {
		if (gpu_chan_valid(g)) {
			int hung = stop_sig == SIGKILL && g->phase == GP_RUN &&
			    !g->chan_closed && ssh_channel_is_open(g->chan);
			int opening = g->phase == GP_OPEN;
			struct session *sess = g->sess;

			if (ssh_channel_is_open(g->chan)) {
				if (stop_sig && !g->chan_closed)
					(void)ssh_channel_request_send_signal(
					    g->chan, stop_sig == SIGKILL ?
					    "KILL" : "TERM");
				(void)ssh_channel_close(g->chan);
			}
			if ((hung || opening) && g->pn->linger.chan == NULL) {
				linger_take(g);
				g->pn->linger.opening = opening;
			} else {
				ssh_remove_channel_callbacks(g->chan, &g->cb);
				ssh_channel_free(g->chan);
			}
			session_flush(sess);
		}
		/* else: freed with its session already */
		g->chan = NULL;
		g->sess = NULL;
	}
	/*
	 * The tool was reaped but its pipes are still open: a helper it
	 * forked holds them.  While one lives the group id cannot be reused,
	 * so the group is still ours to kill.
	 */
	if (g->pid > 0 && g->reaped && (g->ev_out != NULL || g->ev_err != NULL))
		(void)kill(-g->pid, SIGKILL);
	if (g->ev_out) {
		event_free(g->ev_out);
		g->ev_out = NULL;
	}
	if (g->ev_err) {
		event_free(g->ev_err);
		g->ev_err = NULL;
	}
	if (g->fd_out != -1) {
		close(g->fd_out);
		g->fd_out = -1;
	}
	if (g->fd_err != -1) {
		close(g->fd_err);
		g->fd_err = -1;
	}
	if (g->pid > 0 && !g->reaped)
		reap_add(g->pn, g->pid, stop_sig ? stop_sig : SIGKILL);
	g->pid = -1;
	if (g->ev_poll)
		event_del(g->ev_poll);
	if (g->ev_deadline)
		event_del(g->ev_deadline);
	evbuffer_drain(g->out, evbuffer_get_length(g->out));
	evbuffer_drain(g->err, evbuffer_get_length(g->err));
	g->phase = GP_IDLE;
}

static void
gpu_finish(struct gpu_run *g, const char *fail, int stop_sig)
{
	struct probe_node	*pn = g->pn;
	struct probe_gpu_result	*res = &pn->r.gpu;
	struct gpu_sample	*s;
	char			 reason[REASON_MAX];
	size_t			 olen, elen;
	char			*buf;
	uint64_t		 now = now_ms();
	int			 rc;

	if (fail != NULL) {
		gpu_release(g, stop_sig ? stop_sig : SIGKILL);
		snprintf(reason, sizeof(reason), "gpu: %s", fail);
		probe_common_fail(pn, &res->c, now, reason);
		probe_changed(pn);
		return;
	}
	if ((s = malloc(sizeof(*s))) == NULL) {
		gpu_release(g, SIGKILL);
		probe_common_fail(pn, &res->c, now, "gpu: out of memory");
		probe_changed(pn);
		return;
	}
	/* stdout, then stderr, as the parser expects. */
	olen = evbuffer_get_length(g->out);
	elen = evbuffer_get_length(g->err);
	evbuffer_add_buffer(g->out, g->err);
	buf = (char *)evbuffer_pullup(g->out, -1);
	if (res->kind == GPU_TEGRASTATS)
		rc = gpu_parse_tegrastats(buf ? buf : "", olen, s);
	else
		rc = gpu_parse_nvidia_smi(buf ? buf : "", olen + elen,
		    g->has_exit ? g->exit_status : -1, s);
	if (rc == 0 && res->kind == GPU_TEGRASTATS && olen == 0)
		rc = -1;
	if (rc == -1 && res->kind == GPU_TEGRASTATS && elen > 0) {
		/* tegrastats said why on stderr: its first line. */
		const char *e = buf + olen, *nl = memchr(e, '\n', elen);

		/* Sanitised like every other reason: it reaches JSON. */
		text_copy(s->reason, sizeof(s->reason), e,
		    nl ? (size_t)(nl - e) : elen);
	}
	gpu_release(g, stop_sig);
	if (rc == 0) {
		res->sample = *s;
		res->has_sample = 1;
		probe_common_ok(pn, &res->c, now,
		    probe_gpu_threshold(&res->sample,
		    td->conf->alert_gpu_temp_c, td->conf->alert_gpu_mem_pct,
		    reason, sizeof(reason)) ? reason : NULL);
	} else {
		snprintf(reason, sizeof(reason), "gpu: %.240s", s->reason[0] ?
		    s->reason : "no output");
		probe_common_fail(pn, &res->c, now, reason);
	}
	free(s);
	probe_changed(pn);
}

static void
gpu_deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	gpu_finish(arg, "timeout", SIGKILL);
}

/* Whether the run has what it came for. */
static int
gpu_have_first_line(struct gpu_run *g)
{
	return g->pn->r.gpu.kind == GPU_TEGRASTATS &&
	    evbuffer_search_eol(g->out, NULL, NULL, EVBUFFER_EOL_LF).pos != -1;
}

static void
gpu_ssh_step(struct gpu_run *g)
{
	const char	*cmd;
	int		 rc;

	if (!gpu_chan_valid(g)) {
		/*
		 * The session went (probe_session_down normally cancels the
		 * run first): nothing to report, the node is down anyway.
		 */
		gpu_release(g, 0);
		return;
	}
	switch (g->phase) {
	case GP_OPEN:
		rc = ssh_channel_open_session(g->chan);
		if (rc == SSH_AGAIN)
			break;
		if (rc != SSH_OK) {
			char why[REASON_MAX];

			snprintf(why, sizeof(why), "cannot open a channel: %s",
			    ssh_get_error(session_ssh(g->sess)));
			gpu_finish(g, why, 0);
			return;
		}
		g->phase = GP_EXEC;
		/* FALLTHROUGH */
	case GP_EXEC:
		cmd = g->pn->r.gpu.kind == GPU_TEGRASTATS ? TEGRASTATS_CMD :
		    NVIDIA_SMI_CMD;
		rc = ssh_channel_request_exec(g->chan, cmd);
		if (rc == SSH_AGAIN)
			break;
		if (rc != SSH_OK) {
			char why[REASON_MAX];

			snprintf(why, sizeof(why), "exec refused: %s",
			    ssh_get_error(session_ssh(g->sess)));
			gpu_finish(g, why, 0);
			return;
		}
		g->phase = GP_RUN;
		/* FALLTHROUGH */
	case GP_RUN:
		if (g->overflow) {
			gpu_finish(g, "output too large", SIGKILL);
			return;
		}
		if (gpu_have_first_line(g)) {
			gpu_finish(g, NULL, SIGTERM);
			return;
		}
		/*
		 * OpenSSH sends exit-status before close; data all came
		 * before EOF.  Either close, or EOF plus the status, ends it.
		 */
		if (g->chan_closed || (g->chan_eof && g->has_exit)) {
			gpu_finish(g, NULL, 0);
			return;
		}
		break;
	default:
		return;
	}
	session_flush(g->sess);
}

static int
gpu_chan_data(ssh_session ss, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *arg)
{
	struct gpu_run	*g = arg;
	struct evbuffer	*b = is_stderr ? g->err : g->out;

	if (evbuffer_get_length(b) + len > PROBE_OUT_MAX)
		g->overflow = 1;
	else
		evbuffer_add(b, data, len);
	if (g->overflow || (!is_stderr && g->pn->r.gpu.kind == GPU_TEGRASTATS))
		event_active(g->ev_poll, EV_TIMEOUT, 0);
	return (int)len;	/* consumed (or dropped: over the cap) */
}

static void
gpu_chan_eof(ssh_session ss, ssh_channel ch, void *arg)
{
	struct gpu_run	*g = arg;

	g->chan_eof = 1;
	event_active(g->ev_poll, EV_TIMEOUT, 0);
}

static void
gpu_chan_close(ssh_session ss, ssh_channel ch, void *arg)
{
	struct gpu_run	*g = arg;

	g->chan_closed = g->chan_eof = 1;
	event_active(g->ev_poll, EV_TIMEOUT, 0);
}

static void
gpu_chan_exit(ssh_session ss, ssh_channel ch, int status, void *arg)
{
	struct gpu_run	*g = arg;

	g->has_exit = 1;
	g->exit_status = status;
	event_active(g->ev_poll, EV_TIMEOUT, 0);
}

static int
gpu_ssh_start(struct gpu_run *g)
{
	struct node	*n = g->pn->node;

	if ((g->chan = ssh_channel_new(session_ssh(n->sess))) == NULL)
		return -1;
	g->sess = n->sess;
	g->connects = n->connects;
	memset(&g->cb, 0, sizeof(g->cb));
	g->cb.userdata = g;
	g->cb.channel_data_function = gpu_chan_data;
	g->cb.channel_eof_function = gpu_chan_eof;
	g->cb.channel_close_function = gpu_chan_close;
	g->cb.channel_exit_status_function = gpu_chan_exit;
	ssh_callbacks_init(&g->cb);
	if (ssh_set_channel_callbacks(g->chan, &g->cb) != SSH_OK) {
		ssh_channel_free(g->chan);
		g->chan = NULL;
		g->sess = NULL;
		return -1;
	}
	g->phase = GP_OPEN;
	return 0;
}

/* Drain a pipe into B; 1 at EOF (or error), 0 while open. */
static int
gpu_pipe_read(struct gpu_run *g, int fd, struct evbuffer *b)
{
	char	buf[4096];
	ssize_t	r;
	int	i;

	for (i = 0; i < 16; i++) {
		r = read(fd, buf, sizeof(buf));
		if (r > 0) {
			if (evbuffer_get_length(b) + (size_t)r > PROBE_OUT_MAX)
				g->overflow = 1;
			else
				evbuffer_add(b, buf, (size_t)r);
			continue;
		}
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			return 0;
		return 1;
	}
	return 0;
}

static void
gpu_local_check(struct gpu_run *g)
{
	int	status;
	pid_t	w;

	if (g->overflow) {
		gpu_finish(g, "output too large", SIGKILL);
		return;
	}
	if (gpu_have_first_line(g)) {
		gpu_finish(g, NULL, SIGTERM);
		return;
	}
	if (!g->reaped) {
		w = waitpid(g->pid, &status, WNOHANG);
		if (w == g->pid) {
			g->reaped = 1;
			g->exited_at = now_ms();
			g->has_exit = 1;
			g->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
		} else if (w == -1 && errno == ECHILD) {
			g->reaped = 1;
			g->exited_at = now_ms();
		}
	}
	/*
	 * Done when it exited and both pipes reached EOF, or shortly after
	 * it exited when a helper it left behind holds a pipe open.
	 */
	if (g->reaped && ((g->ev_out == NULL && g->ev_err == NULL) ||
	    now_ms() - g->exited_at >= 200))
		gpu_finish(g, NULL, 0);
}

static void
gpu_pipe_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct gpu_run	*g = arg;

	if (fd == g->fd_out && gpu_pipe_read(g, fd, g->out)) {
		event_free(g->ev_out);
		g->ev_out = NULL;
		close(g->fd_out);
		g->fd_out = -1;
	} else if (fd == g->fd_err && gpu_pipe_read(g, fd, g->err)) {
		event_free(g->ev_err);
		g->ev_err = NULL;
		close(g->fd_err);
		g->fd_err = -1;
	}
	gpu_local_check(g);
}

static int
gpu_local_start(struct gpu_run *g, char *why, size_t whysz)
{
	const char *const	*argv = g->pn->r.gpu.kind == GPU_TEGRASTATS ?
				    tegrastats_argv : nvidia_smi_argv;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t	 at;
	sigset_t		 def, none;
	int			 po[2] = { -1, -1 }, pe[2] = { -1, -1 }, rc;

	if (pipe2(po, O_CLOEXEC) == -1 || pipe2(pe, O_CLOEXEC) == -1) {
		snprintf(why, whysz, "pipe: %s", strerror(errno));
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	posix_spawnattr_init(&at);
	/* Its own group: a timeout kills whatever it started too. */
	posix_spawnattr_setpgroup(&at, 0);
	/* We ignore SIGPIPE; tegrastats must die of it when we stop reading. */
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGCHLD);
	posix_spawnattr_setsigdefault(&at, &def);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	rc = posix_spawnp(&g->pid, argv[0], &fa, &at, (char *const *)argv,
	    environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	if (rc != 0) {
		g->pid = -1;
		snprintf(why, whysz, "%s: %s", argv[0], rc == ENOENT ?
		    "command not found" : strerror(rc));
		goto fail;
	}
	g->fd_out = po[0];
	g->fd_err = pe[0];
	g->reaped = 0;
	if (fcntl(g->fd_out, F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(g->fd_err, F_SETFL, O_NONBLOCK) == -1 ||
	    (g->ev_out = event_new(td->base, g->fd_out, EV_READ | EV_PERSIST,
	    gpu_pipe_cb, g)) == NULL ||
	    (g->ev_err = event_new(td->base, g->fd_err, EV_READ | EV_PERSIST,
	    gpu_pipe_cb, g)) == NULL) {
		snprintf(why, whysz, "cannot watch %s", argv[0]);
		g->phase = GP_LOCAL;
		gpu_release(g, SIGKILL);
		return -1;
	}
	event_add(g->ev_out, NULL);
	event_add(g->ev_err, NULL);
	g->phase = GP_LOCAL;
	return 0;
fail:
	if (po[0] != -1)
		close(po[0]);
	if (po[1] != -1)
		close(po[1]);
	if (pe[0] != -1)
		close(pe[0]);
	if (pe[1] != -1)
		close(pe[1]);
	return -1;
}

static void
gpu_poll_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct gpu_run	*g = arg;

	switch (g->phase) {
	case GP_OPEN:
	case GP_EXEC:
	case GP_RUN:
		gpu_ssh_step(g);
		break;
	case GP_LOCAL:
		gpu_local_check(g);
		break;
	default:
		break;
	}
}

void
probe_gpu_start(struct probe_node *pn)
{
	struct gpu_run	*g = &pn->gpu;
	struct node	*n = pn->node;
	struct timeval	 tv;
	uint64_t	 tmo = n->conf->probe_timeout;
	char		 why[REASON_MAX];

	if (pn->r.gpu.kind == GPU_NONE || g->phase != GP_IDLE)
		return;
	if (pn->linger.chan != NULL && !linger_valid(&pn->linger, n))
		probe_gpu_linger_drop(pn);
	linger_settle_open(pn);
	if (!n->conf->local && pn->linger.opening) {
		gpu_finish(g, "timeout (the server has not answered an earlier "
		    "probe's channel open)", 0);
		return;
	}
	if ((!n->conf->local && pn->linger.chan != NULL) ||
	    (n->conf->local && pn->busy_pid != 0)) {
		snprintf(why, sizeof(why), "timeout (%s from an earlier probe "
		    "still running)", gpu_tool(pn->r.gpu.kind));
		gpu_finish(g, why, 0);
		return;
	}
	g->started = now_ms();
	g->overflow = g->chan_eof = g->chan_closed = g->has_exit = 0;
	g->exit_status = -1;
	if (n->conf->local) {
		if (gpu_local_start(g, why, sizeof(why)) == -1) {
			g->phase = GP_IDLE;
			gpu_finish(g, why, 0);
			return;
		}
	} else if (gpu_ssh_start(g) == -1) {
		gpu_finish(g, "cannot create a channel", 0);
		return;
	}
	tv.tv_sec = tmo / 1000;
	tv.tv_usec = (tmo % 1000) * 1000;
	evtimer_add(g->ev_deadline, &tv);
	tv.tv_sec = 0;
	tv.tv_usec = PROBE_POLL_MS * 1000;
	event_add(g->ev_poll, &tv);
	if (g->phase != GP_LOCAL)
		gpu_ssh_step(g);
}

void
probe_gpu_cancel(struct gpu_run *g)
{
	if (g->phase != GP_IDLE)
		gpu_release(g, SIGKILL);
}

/* ------------------------------------------------------------- lifecycle */

/* The GPU runner's part of a new node's probe state; -1: out of memory. */
int
probe_gpu_init(struct probe_node *pn)
{
	pn->gpu.pn = pn;
	pn->gpu.pid = -1;
	pn->gpu.fd_out = pn->gpu.fd_err = -1;
	pn->gpu.out = evbuffer_new();
	pn->gpu.err = evbuffer_new();
	pn->gpu.ev_poll = event_new(td->base, -1, EV_PERSIST, gpu_poll_cb,
	    &pn->gpu);
	pn->gpu.ev_deadline = evtimer_new(td->base, gpu_deadline_cb, &pn->gpu);
	pn->linger.ev = event_new(td->base, -1, 0, linger_ev_cb, pn);
	if (pn->linger.ev == NULL || pn->gpu.out == NULL || pn->gpu.err == NULL ||
	    pn->gpu.ev_poll == NULL || pn->gpu.ev_deadline == NULL)
		return -1;
	return 0;
}

/* Also after a failed probe_gpu_init(); children go on being reaped. */
void
probe_gpu_free(struct probe_node *pn)
{
	struct reap	*rp;

	if (pn->gpu.out != NULL && pn->gpu.err != NULL)
		probe_gpu_cancel(&pn->gpu);
	probe_gpu_linger_drop(pn);
	if (pn->linger.ev)
		event_free(pn->linger.ev);
	LIST_FOREACH(rp, &reaps, entry)
		if (rp->owner == pn)
			rp->owner = NULL;
	if (pn->gpu.out)
		evbuffer_free(pn->gpu.out);
	if (pn->gpu.err)
		evbuffer_free(pn->gpu.err);
	if (pn->gpu.ev_poll)
		event_free(pn->gpu.ev_poll);
	if (pn->gpu.ev_deadline)
		event_free(pn->gpu.ev_deadline);
}

int
probe_gpu_outstanding(const struct node *n, uint64_t *since)
{
	const struct probe_node	*pn = n->probe;
	uint64_t		 t = 0;

	if (pn == NULL || pn->r.gpu.kind == GPU_NONE)
		return 0;
	if (pn->gpu.phase != GP_IDLE)
		t = pn->gpu.started;
	if (pn->linger.chan != NULL && linger_valid(&pn->linger, n) &&
	    (t == 0 || pn->linger.started < t))
		t = pn->linger.started;
	if (n->conf->local && pn->busy_pid != 0 &&
	    (t == 0 || pn->busy_since < t))
		t = pn->busy_since;
	if (t == 0)
		return 0;
	*since = t;
	return 1;
}
