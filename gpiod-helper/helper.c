/*
 * gpiod-helper: reads gpiows.conf, opens the GPIO chips and owns every
 * line, binds the listening sockets, then starts wsd and the mission worker
 * and supervises them.  See gpiod-helper(8).
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <netdb.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "helper.h"
#include "log.h"
#include "sandbox.h"

struct helper_env	*env;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: gpiod-helper [-dnv] [-f file] [-w wsd] "
	    "[-m worker]\n");
	exit(1);
}

/*
 * SIGHUP: read the file again; with an error anywhere in it, keep running
 * as before (the errors are logged with their lines).
 */
static void
helper_reload(void)
{
	struct gpiows_conf	*conf;

	if (env->h_stopping)
		return;
	log_info("SIGHUP: reloading %s", env->h_conf_abs);
	if ((conf = conf_parse(env->h_conf_abs)) == NULL) {
		log_warnx("%s: not reloaded: the running configuration stays",
		    env->h_conf->cf_path);
		return;
	}
	pins_reload(env, conf);
	proc_send_tables();
}

static void
helper_signal(evutil_socket_t sig, short what, void *arg)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (env->h_stopping)
			return;
		log_info("signal %d: stopping", (int)sig);
		pins_safe(env);
		proc_stop_all();
		break;
	case SIGHUP:
		helper_reload();
		break;
	}
}

/* Bind every "listen on" of the configuration; wsd gets copies. */
static void
helper_listen(struct helper_env *h)
{
	struct conf_listen	*l;
	struct addrinfo		 hints, *res, *ai;
	char			 port[8], host[64];
	int			 fd, on = 1, err;
	unsigned int		 n = 0;

	TAILQ_FOREACH(l, &h->h_conf->cf_listens, l_entry)
		n += 4;		/* "localhost" and "*" may give several */
	h->h_listen_fds = calloc(n, sizeof(int));
	h->h_listen_info = calloc(n, sizeof(struct ipc_listener));
	if (h->h_listen_fds == NULL || h->h_listen_info == NULL)
		fatal("calloc");

	TAILQ_FOREACH(l, &h->h_conf->cf_listens, l_entry) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		snprintf(port, sizeof(port), "%d", l->l_port);
		if ((err = getaddrinfo(strcmp(l->l_addr, "*") == 0 ? NULL :
		    l->l_addr, port, &hints, &res)) != 0)
			fatalx("%s:%d: listen on %s: %s", h->h_conf->cf_path,
			    l->l_lineno, l->l_addr, gai_strerror(err));
		for (ai = res; ai != NULL && h->h_nlisten < n; ai = ai->ai_next) {
			if ((fd = socket(ai->ai_family, ai->ai_socktype |
			    SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
				fatal("socket");
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
			if (ai->ai_family == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
				    sizeof(on));
			getnameinfo(ai->ai_addr, ai->ai_addrlen, host,
			    sizeof(host), NULL, 0, NI_NUMERICHOST);
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
				fatal("%s:%d: listen on %s port %d",
				    h->h_conf->cf_path, l->l_lineno, host,
				    l->l_port);
			if (listen(fd, 511) == -1)
				fatal("listen");
			h->h_listen_fds[h->h_nlisten] = fd;
			h->h_listen_info[h->h_nlisten].port = l->l_port;
			h->h_listen_info[h->h_nlisten].tls = l->l_tls;
			snprintf(h->h_listen_info[h->h_nlisten].addr,
			    sizeof(h->h_listen_info[0].addr), "%s", host);
			log_info("dashboard: %s://%s%s%s:%d/",
			    l->l_tls ? "https" : "http",
			    ai->ai_family == AF_INET6 ? "[" : "", host,
			    ai->ai_family == AF_INET6 ? "]" : "", l->l_port);
			h->h_nlisten++;
		}
		freeaddrinfo(res);
	}
}

/*
 * The worker's journal directory (it is confined to it): made if missing,
 * and given to the user the worker runs as.
 */
static void
helper_journal(struct helper_env *h)
{
	struct stat	 st;
	int		 fd;

	if (mkdir(h->h_conf->cf_journal, 0750) == -1 && errno != EEXIST)
		fatal("journal %s", h->h_conf->cf_journal);
	if (stat(h->h_conf->cf_journal, &st) == -1)
		fatal("journal %s", h->h_conf->cf_journal);
	if (!S_ISDIR(st.st_mode))
		fatalx("journal %s: not a directory", h->h_conf->cf_journal);
	if (h->h_drop && (st.st_uid != h->h_uid || st.st_gid != h->h_gid) &&
	    chown(h->h_conf->cf_journal, h->h_uid, h->h_gid) == -1)
		fatal("chown journal %s", h->h_conf->cf_journal);
	/*
	 * Where the worker's running missions are, step by step: memory that
	 * outlives the worker, not the helper, so that a blink does not write
	 * to disk for as long as it runs.  Above the descriptors a child's exec
	 * sets up; its size fixed, so that the worker can map it safely.
	 */
	if ((fd = memfd_create("gpiows-places", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) == -1 ||
	    ftruncate(fd, IPC_STORE_SIZE) == -1 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_SEAL) == -1 ||
	    (h->h_store_fd = fcntl(fd, F_DUPFD_CLOEXEC, IPC_STORE_FD + 1)) == -1)
		fatal("place store for the worker");
	close(fd);
}

int
main(int argc, char *argv[])
{
	struct helper_env	 h;
	struct passwd		*pw;
	struct stat		 st;
	struct event		*ev_term, *ev_int, *ev_hup;
	sigset_t		 mask;
	const char		*conffile = GPIOWS_SYSCONFDIR "/gpiows/gpiows.conf";
	char			 err[512], *child_path[CHILD_MAX];
	char			 cwd[PATH_MAX];
	int			 ch, noaction = 0;
	unsigned int		 i;

	/*
	 * A reload asked for while starting (systemctl start, then reload)
	 * is done once the loop runs; SIGHUP's default action would end us.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	memset(&h, 0, sizeof(h));
	env = &h;
	h.h_child_path[CHILD_WSD] = GPIOWS_LIBEXECDIR "/wsd";
	h.h_child_path[CHILD_WORKER] = GPIOWS_LIBEXECDIR "/gpiows-worker";
	log_procname("helper");
	log_init(1, 0);

	while ((ch = getopt(argc, argv, "df:m:nvw:")) != -1) {
		switch (ch) {
		case 'd':
			h.h_foreground = 1;
			break;
		case 'f':
			conffile = optarg;
			break;
		case 'm':
			h.h_child_path[CHILD_WORKER] = optarg;
			break;
		case 'n':
			noaction = 1;
			break;
		case 'v':
			h.h_verbose++;
			break;
		case 'w':
			h.h_child_path[CHILD_WSD] = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	if ((h.h_conf = conf_parse(conffile)) == NULL)
		exit(1);
	/*
	 * For SIGHUP, once daemon() has changed to "/": by the same name,
	 * not resolved, so that a symbolic link switched to a new file is
	 * followed, and relative paths in the file mean what they meant.
	 */
	if (conffile[0] == '/')
		h.h_conf_abs = strdup(conffile);
	else if (getcwd(cwd, sizeof(cwd)) == NULL)
		fatal("%s: the current directory", conffile);
	else if ((h.h_conf_abs = malloc(strlen(cwd) + strlen(conffile) +
	    2)) != NULL)
		sprintf(h.h_conf_abs, "%s%s%s", cwd,
		    strcmp(cwd, "/") == 0 ? "" : "/", conffile);
	if (h.h_conf_abs == NULL)
		fatal("%s", conffile);
	if (noaction) {
		fprintf(stderr, "configuration OK\n");
		conf_free(h.h_conf);
		exit(0);
	}
	log_init(1, h.h_verbose);

	if (geteuid() == 0) {
		/* A service manager may forbid it: then all run as it set. */
		if (setpriority(PRIO_PROCESS, 0, HELPER_NICE) == -1)
			log_debug("priority not raised: %s", strerror(errno));
		if ((pw = getpwnam(h.h_conf->cf_user)) == NULL)
			fatalx("%s: user \"%s\" does not exist", conffile,
			    h.h_conf->cf_user);
		if (pw->pw_uid == 0)
			fatalx("%s: user \"%s\" is root: children must run "
			    "unprivileged", conffile, h.h_conf->cf_user);
		h.h_drop = 1;
		h.h_uid = pw->pw_uid;
		h.h_gid = pw->pw_gid;
	} else
		log_warnx("not started as root: wsd and the worker run as "
		    "uid %u without the privilege drop", (unsigned)getuid());
	/* Absolute, since daemon() changes to "/". */
	for (i = 0; i < CHILD_MAX; i++) {
		if ((child_path[i] = realpath(h.h_child_path[i], NULL)) == NULL ||
		    access(child_path[i], X_OK) == -1)
			fatal("%s", h.h_child_path[i]);
		h.h_child_path[i] = child_path[i];
	}
	if (stat(h.h_conf->cf_www, &st) == -1 || !S_ISDIR(st.st_mode))
		fatalx("%s: www %s: not a readable directory", conffile,
		    h.h_conf->cf_www);

	if ((h.h_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	/*
	 * seq starts from the clock, so that the seqs of one run of the helper
	 * are all above those of the runs before: a client resuming across a
	 * restart is told that what it missed is gone, never given wrong events.
	 */
	h.h_boot = h.h_seq = real_us();
	h.h_hist_size = h.h_conf->cf_history;
	if ((h.h_hist = calloc(h.h_hist_size, sizeof(*h.h_hist))) == NULL ||
	    (h.h_hist_at = calloc(h.h_hist_size,
	    sizeof(*h.h_hist_at))) == NULL)
		fatal("calloc");
	if (pins_setup(&h, err, sizeof(err)) == -1)
		fatalx("%s", err);
	helper_listen(&h);
	helper_journal(&h);

	if (!h.h_foreground) {
		if (daemon(0, 0) == -1)
			fatal("daemon");
		log_init(0, h.h_verbose);
	}
	signal(SIGPIPE, SIG_IGN);
	ev_term = evsignal_new(h.h_base, SIGTERM, helper_signal, NULL);
	ev_int = evsignal_new(h.h_base, SIGINT, helper_signal, NULL);
	ev_hup = evsignal_new(h.h_base, SIGHUP, helper_signal, NULL);
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	evsignal_add(ev_hup, NULL);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	proc_init();

	sandbox_apply(SANDBOX_HELPER);
	proc_start_all();
	event_base_dispatch(h.h_base);

	/*
	 * Stopped: a further SIGTERM, SIGINT or SIGHUP is to be ignored, but
	 * freeing their events puts back the default actions, and one coming
	 * then would kill us short of exit(0).  Blocked, they die with us.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	pins_release(&h);
	log_info("stopped");
	proc_cleanup();
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	for (i = 0; i < h.h_nlisten; i++)
		close(h.h_listen_fds[i]);
	free(h.h_listen_fds);
	free(h.h_listen_info);
	for (i = 0; i < CHILD_MAX; i++)
		free(child_path[i]);
	free(h.h_hist);
	free(h.h_hist_at);
	free(h.h_conf_abs);
	event_base_free(h.h_base);
	conf_free(h.h_conf);
	return 0;
}
