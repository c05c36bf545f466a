/*
 * tunneld: keeps SSH tunnels to GPU nodes up and says how they are.
 * This file is the command line; the daemon lives in the other modules.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <libssh/libssh.h>

#include "alert.h"
#include "control.h"
#include "forward.h"
#include "node.h"
#include "pool.h"
#include "preflight.h"
#include "log.h"
#include "notify.h"
#include "tunneld.h"

static void
usage(FILE *f)
{
	fprintf(f,
"usage: tunneld [--config PATH] [--check-config] [--foreground]\n"
"               [--log journal|stderr] [--verbose] [--version] [--help]\n"
"\n"
"  -c, --config PATH   configuration file (default %s)\n"
"  -n, --check-config  validate the configuration and what it needs on this\n"
"                      machine (key files, known_hosts, admin_group), print\n"
"                      every error, exit 0 when valid and 78 (EX_CONFIG) when\n"
"                      not\n"
"  -d, --foreground    do not detach (systemd runs it so); detached, tunneld\n"
"                      returns once it is ready, or with the reason it is not\n"
"      --log TARGET    journal or stderr (default: journal under systemd)\n"
"  -v, --verbose       debug messages\n"
"  -V, --version       print the version and exit\n",
	    CONFIG_DEFAULT_PATH);
}

/*
 * Standard descriptors that are closed are opened on /dev/null, so that
 * no socket of ours becomes fd 2 and receives the log (as sshd does).
 */
static void
main_stdfds(void)
{
	int	fd;

	for (fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++)
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF &&
		    open("/dev/null", O_RDWR) == -1)
			exit(1);
}

/*
 * What whoever started us left open (a shell's descriptors, a pipe of the
 * test harness) would count against our limit and be handed on to every
 * probe we spawn, holding its far end open: closed, as sshd does.  All
 * but the config's own when it names one (-c /dev/fd/N), which a reload
 * reads again.
 */
static void
main_close_inherited(const char *path)
{
	static const char *const prefixes[] = { "/dev/fd/", "/proc/self/fd/" };
	const char	*digits = NULL;
	char		*end;
	long		 keep = -1;
	size_t		 i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(path, prefixes[i], strlen(prefixes[i])) == 0)
			digits = path + strlen(prefixes[i]);
	if (digits != NULL && *digits != '\0') {
		errno = 0;
		keep = strtol(digits, &end, 10);
		if (*end != '\0' || errno != 0 || keep > INT_MAX)
			keep = -1;
	}
	if (keep <= STDERR_FILENO) {
		closefrom(STDERR_FILENO + 1);
		return;
	}
	if (keep > STDERR_FILENO + 1)
		(void)close_range(STDERR_FILENO + 1, (unsigned)keep - 1, 0);
	closefrom((int)keep + 1);
}

/*
 * Detaching: the parent stays until the child is ready or dead, so that
 * whoever started tunneld by hand sees every start-up error on its own
 * stderr (the child still holds it) and gets a non-zero exit, instead of
 * a 0 and a daemon that died a moment later.  The child writes one byte
 * on the pipe once READY=1 is true; a pipe closed without it means the
 * child exited, and its status is ours.  Returns in the child only.
 */
static int	main_ready_fd = -1;

static void
main_detach(void)
{
	int	 fds[2], st, fd;
	pid_t	 pid;
	char	 c;
	ssize_t	 n;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		fprintf(stderr, "tunneld: pipe: %s\n", strerror(errno));
		exit(1);
	}
	if ((pid = fork()) == -1) {
		fprintf(stderr, "tunneld: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		close(fds[1]);
		while ((n = read(fds[0], &c, 1)) == -1 && errno == EINTR)
			;
		if (n == 1)
			_exit(0);
		while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
			;
		if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
			_exit(WEXITSTATUS(st));
		if (WIFSIGNALED(st))
			fprintf(stderr, "tunneld: the daemon died of signal "
			    "%d before it was ready\n", WTERMSIG(st));
		_exit(1);
	}
	close(fds[0]);
	main_ready_fd = fds[1];
	(void)setsid();
	if (chdir("/") == -1)
		fatal("chdir /");
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		(void)dup2(fd, STDIN_FILENO);
		(void)dup2(fd, STDOUT_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

/* Ready: stderr goes quiet, the log to the journal, the parent exits 0. */
static void
main_detach_ready(int verbose)
{
	int	fd;

	if (main_ready_fd == -1)
		return;
	log_init(LOG_TARGET_JOURNAL, verbose);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		(void)dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	(void)write(main_ready_fd, "R", 1);
	close(main_ready_fd);
	main_ready_fd = -1;
}

/*
 * --check-config on a file that parsed: what would fail at once here
 * (preflight.c) is an error too, what may is a warning.
 */
static int
main_check(struct config *conf)
{
	struct config_errors	 errs = { NULL, 0 }, warns = { NULL, 0 };
	size_t			 i, nerr;

	nerr = preflight_check(conf, &errs, &warns);
	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	for (i = 0; i < warns.n; i++)
		fprintf(stderr, "warning: %s\n", warns.msg[i]);
	if (nerr > 0)
		fprintf(stderr, "tunneld: %s: the file is valid, but %zu "
		    "error%s above would fail at once on this machine\n",
		    config_path, nerr, nerr == 1 ? "" : "s");
	else
		printf("%s: configuration OK (%zu node%s, %zu pool%s)\n",
		    config_path, conf->nnodes, conf->nnodes == 1 ? "" : "s",
		    conf->npools, conf->npools == 1 ? "" : "s");
	config_errors_clear(&errs);
	config_errors_clear(&warns);
	config_free(conf);
	return nerr > 0 ? EX_CONFIG_EXIT : 0;
}

/*
 * The daemon runs with what preflight finds (the node concerned reports
 * the failure as its reason): a service started with an unfinished config
 * must not crash-loop.  It says so once, at start.
 */
static void
main_preflight_log(const struct config *conf)
{
	struct config_errors	 errs = { NULL, 0 }, warns = { NULL, 0 };
	size_t			 i;

	(void)preflight_files(conf, &errs, &warns);
	for (i = 0; i < errs.n; i++)
		log_warnx("%s", errs.msg[i]);
	config_errors_clear(&errs);
	config_errors_clear(&warns);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config",		required_argument,	NULL, 'c' },
		{ "check-config",	no_argument,		NULL, 'n' },
		{ "foreground",		no_argument,		NULL, 'd' },
		{ "log",		required_argument,	NULL, 'L' },
		{ "verbose",		no_argument,		NULL, 'v' },
		{ "version",		no_argument,		NULL, 'V' },
		{ "help",		no_argument,		NULL, 'h' },
		{ NULL,			0,			NULL, 0 }
	};
	struct event	*ev_term, *ev_int, *ev_hup;
	struct timeval	 tick = { 1, 0 };
	enum log_target	 target = log_default_target();
	struct config	*conf;
	struct node_conf *nc;
	struct node	*n;
	int		 ch, checkonly = 0, foreground = 0, verbose = 0;
	int		 bindfail = 0;
	const char	*capture;

	main_stdfds();

	while ((ch = getopt_long(argc, argv, "c:ndvVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'n':
			checkonly = 1;
			break;
		case 'd':
			foreground = 1;
			break;
		case 'L':
			if (log_parse_target(optarg, &target) == -1) {
				fprintf(stderr, "tunneld: --log takes journal or "
				    "stderr, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'v':
			verbose = 1;
			break;
		case 'V':
			printf("tunneld %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	if ((conf = tunneld_load(config_path, 1)) == NULL) {
		fprintf(stderr, "tunneld: %s: configuration not valid\n",
		    config_path);
		return EX_CONFIG_EXIT;
	}
	if (checkonly)
		return main_check(conf);

	main_close_inherited(config_path);

	/*
	 * Detached, start-up errors go to the stderr of whoever started us
	 * (main_detach()); once ready, to the journal.
	 */
	if (!foreground)
		target = LOG_TARGET_STDERR;
	log_init(target, verbose);
	if ((capture = getenv("TUNNELD_LOG_CAPTURE")) != NULL)
		log_set_capture(capture);
	main_preflight_log(conf);
	if (!foreground)
		main_detach();
	signal(SIGPIPE, SIG_IGN);
	tunneld_raise_nofile();
	srandom((unsigned)(getpid() ^ now_ms()));
	ssh_init();

	if ((td = calloc(1, sizeof(*td))) == NULL)
		fatal("out of memory");
	TAILQ_INIT(&td->nodes);
	td->conf = conf;
	td->started = now_ms();
	alert_set_sink(tunneld_alert_sink, NULL);
	if ((td->base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	/* Without resolv.conf (a sandbox), names still resolve from /etc/hosts. */
	if ((td->dns = evdns_base_new(td->base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL &&
	    (td->dns = evdns_base_new(td->base, 0)) == NULL)
		fatalx("cannot set up name resolution");
	evdns_base_load_hosts(td->dns, NULL);
	tunneld_admin_gid();

	if (control_init(conf->control_socket) == -1)
		fatalx("stopping: no control socket");
	TAILQ_FOREACH(nc, &conf->nodes, entry) {
		if ((n = node_new(nc)) == NULL)
			fatal("cannot set up node %s", nc->name);
		/* forward.c has said which listener and why. */
		if (forward_fault(n) != NULL)
			bindfail = 1;
		TAILQ_INSERT_TAIL(&td->nodes, n, entry);
	}
	if (pool_init(conf) == -1)
		bindfail = 1;
	/* READY=1 promises every local listener is bound. */
	if (bindfail) {
		control_close();
		fatalx("stopping: every local forward must listen before "
		    "tunneld is ready");
	}

	ev_term = evsignal_new(td->base, SIGTERM, tunneld_signal, NULL);
	ev_int = evsignal_new(td->base, SIGINT, tunneld_signal, NULL);
	ev_hup = evsignal_new(td->base, SIGHUP, tunneld_signal, NULL);
	td->ev_tick = event_new(td->base, -1, EV_PERSIST, tunneld_tick, NULL);
	if (!ev_term || !ev_int || !ev_hup || !td->ev_tick)
		fatalx("cannot set up signal handling");
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	evsignal_add(ev_hup, NULL);
	td->watchdog_usec = notify_watchdog_usec();
	/* A ping is due every half period: tick at least twice as often. */
	if (td->watchdog_usec && td->watchdog_usec / 4 < 1000000) {
		tick.tv_sec = 0;
		tick.tv_usec = td->watchdog_usec / 4;
	}
	event_add(td->ev_tick, &tick);

	TAILQ_FOREACH(n, &td->nodes, entry)
		node_start(n);
	log_info("tunneld %s started with %zu node%s from %s",
	    PACKAGE_VERSION, conf->nnodes, conf->nnodes == 1 ? "" : "s",
	    config_path);
	tunneld_status_flush();
	notify_ready();
	main_detach_ready(verbose);
	if (td->watchdog_usec)
		notify_watchdog();

	event_base_dispatch(td->base);

	/* Orderly stop: listeners closed, sessions disconnected. */
	control_close();
	/* Nodes first: pool clients they hand back still find their pool. */
	while ((n = TAILQ_FIRST(&td->nodes)) != NULL) {
		TAILQ_REMOVE(&td->nodes, n, entry);
		node_free(n);
	}
	pool_free_all();
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_free(td->ev_tick);
	tunneld_status_free();
	evdns_base_free(td->dns, 0);
	event_base_free(td->base);
	config_free(td->conf);
	free(td);
	ssh_finalize();
	log_info("stopped");
	return 0;
}
