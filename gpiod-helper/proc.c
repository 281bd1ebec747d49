/*
 * Children: start wsd and the worker, hand them their state and sockets,
 * answer their requests, and restart them when they die.  Unlike OpenBSD's
 * daemons, the death of one child does not stop the others: a wsd crash
 * must not stop a mission, nor a worker crash the dashboard.
 *
 * Every request is checked against req_table (what that child may ask, with
 * the payload's exact size) and every field for its range before use.  A
 * child that breaks the rules is treated as compromised: killed and started
 * again.  The helper never dies of what a child sends.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "helper.h"
#include "log.h"

#define CHILD_MAXQUEUE	(4 * 1024 * 1024)	/* a child this far behind is hung */
#define ROLE_BIT(r)	(1u << (r))

struct child {
	enum child_role	 c_role;
	const char	*c_name;
	pid_t		 c_pid;		/* 0 when not running */
	struct ipc_chan	*c_chan;
	struct event	*c_restart;
	struct timespec	 c_started;
	unsigned int	 c_fast_deaths;
	uint32_t	 c_history_id;	/* the IPC_HISTORY being answered */
	uint32_t	 c_history_count;
};

static struct child	 children[CHILD_MAX];
static struct event	*ev_kill;
static struct event	*ev_chld;
static uint32_t		 peer_generation;

/*
 * The helper's table of what each child may ask: a request of another
 * type, from another child, or of another size is that child's compromise.
 * The handler checks every field's range before it acts, and returns -1
 * when it has treated the child as compromised.
 */
struct child;
static int	req_pin(struct child *, const struct ipc_msg *);
static int	req_history(struct child *, const struct ipc_msg *);
static int	req_hold(struct child *, const struct ipc_msg *);
static int	req_mission_end(struct child *, const struct ipc_msg *);
static int	req_watch(struct child *, const struct ipc_msg *);

static const struct req_rule {
	uint16_t	 type;
	size_t		 size;
	unsigned int	 roles;
	int		(*handler)(struct child *, const struct ipc_msg *);
} req_table[] = {
	{ IPC_PIN_GET, sizeof(struct ipc_pin_req),
	    ROLE_BIT(CHILD_WSD) | ROLE_BIT(CHILD_WORKER), req_pin },
	{ IPC_PIN_SET, sizeof(struct ipc_pin_req),
	    ROLE_BIT(CHILD_WSD) | ROLE_BIT(CHILD_WORKER), req_pin },
	{ IPC_PIN_TOGGLE, sizeof(struct ipc_pin_req),
	    ROLE_BIT(CHILD_WSD) | ROLE_BIT(CHILD_WORKER), req_pin },
	{ IPC_SIM_PULL, sizeof(struct ipc_pin_req), ROLE_BIT(CHILD_WSD),
	    req_pin },
	{ IPC_HISTORY, sizeof(struct ipc_history), ROLE_BIT(CHILD_WSD),
	    req_history },
	{ IPC_PIN_HOLD, sizeof(struct ipc_hold), ROLE_BIT(CHILD_WORKER),
	    req_hold },
	{ IPC_MISSION_END, sizeof(struct ipc_mission_end),
	    ROLE_BIT(CHILD_WORKER), req_mission_end },
	{ IPC_PIN_WATCH, sizeof(struct ipc_watch), ROLE_BIT(CHILD_WORKER),
	    req_watch },
};

/*
 * The last step each running mission had applied, with its answer: a step
 * sent again (by a worker restarted with it in flight) gets the answer, not
 * a second change.
 */
struct mstep {
	uint32_t	 ms_mission;
	uint32_t	 ms_step;
	struct ipc_reply ms_reply;
};
static struct mstep	*msteps;
static size_t		 nmsteps;
#define MSTEP_MAX	256

static void	proc_spawn(struct child *);
static int	proc_dispatch(struct ipc_chan *, const struct ipc_msg *, void *);

static void
proc_compromised(struct child *c, const char *why, uint16_t type)
{
	log_warnx("%s[%d]: %s (message %u): treating it as compromised, "
	    "restarting it", c->c_name, (int)c->c_pid, why, type);
	if (c->c_pid > 0)
		kill(c->c_pid, SIGKILL);
	ipc_chan_free(c->c_chan);
	c->c_chan = NULL;
}

static void
proc_send(struct child *c, uint16_t type, uint32_t id, const void *data,
    size_t len, int fd)
{
	if (c->c_chan == NULL)
		return;
	if (ipc_chan_send(c->c_chan, type, id, data, len, fd) == -1) {
		log_warn("%s[%d]: cannot send (queue %zu bytes): restarting it",
		    c->c_name, (int)c->c_pid, ipc_chan_queued(c->c_chan));
		if (c->c_pid > 0)
			kill(c->c_pid, SIGKILL);
		ipc_chan_free(c->c_chan);
		c->c_chan = NULL;
	}
}

void
proc_broadcast(uint16_t type, const void *data, size_t len)
{
	int	 i;

	for (i = 0; i < CHILD_MAX; i++)
		proc_send(&children[i], type, 0, data, len, -1);
}

/*
 * While a request of wsd is carried out, the change it makes is kept back
 * and goes with the reply, in one message: a toggle costs both processes
 * one system call and wsd one wakeup less.  A second change before the
 * reply sends the first on its own, so the order stays that of the seqs.
 */
static struct {
	int			 a_on;		/* a request of wsd runs */
	int			 a_held;
	struct ipc_pin_event	 a_ev;
} attach;

static void
attach_flush(void)
{
	if (attach.a_held)
		proc_send(&children[CHILD_WSD], IPC_PIN_EVENT, 0, &attach.a_ev,
		    sizeof(attach.a_ev), -1);
	attach.a_held = 0;
	attach.a_on = 0;
}

void
proc_pin_event(struct pin *p, const struct ipc_pin_event *ev)
{
	if (attach.a_on && !attach.a_held) {
		attach.a_ev = *ev;
		attach.a_held = 1;
	} else {
		attach_flush();
		proc_send(&children[CHILD_WSD], IPC_PIN_EVENT, 0, ev,
		    sizeof(*ev), -1);
	}
	if (p->p_watched) {
		proc_send(&children[CHILD_WORKER], IPC_PIN_EVENT, 0, ev,
		    sizeof(*ev), -1);
		p->p_wsent = ev->seq;
	}
}

int
proc_running(void)
{
	int	 i, n = 0;

	for (i = 0; i < CHILD_MAX; i++)
		if (children[i].c_pid > 0)
			n++;
	return n;
}

/* A fresh wsd<->worker channel whenever either of them (re)starts. */
static void
proc_pair(void)
{
	struct child	*w = &children[CHILD_WSD], *k = &children[CHILD_WORKER];
	struct ipc_peer	 peer;
	int		 sv[2];

	if (w->c_chan == NULL || k->c_chan == NULL)
		return;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair for wsd and worker");
		return;
	}
	memset(&peer, 0, sizeof(peer));
	peer.generation = ++peer_generation;
	proc_send(w, IPC_PEER, 0, &peer, sizeof(peer), sv[0]);
	proc_send(k, IPC_PEER, 0, &peer, sizeof(peer), sv[1]);
	close(sv[0]);
	close(sv[1]);
}

/*
 * The certificate chain and key for wsd's TLS listeners, from the bytes
 * the helper read (and checked) with the configuration: wsd cannot open the
 * files, and a wsd restarted later gets what was checked, not what the
 * files hold by then.  The copy made here is wiped.
 */
static void
proc_send_tls(struct child *c)
{
	const struct gpiows_conf *cf = env->h_conf;
	struct ipc_tls		 t;
	unsigned char		*buf;
	size_t			 len;

	if (!conf_has_tls(cf) || cf->cf_tls_cert_pem == NULL)
		return;
	memset(&t, 0, sizeof(t));
	t.cert_len = cf->cf_tls_cert_len;
	t.key_len = cf->cf_tls_key_len;
	len = sizeof(t) + cf->cf_tls_cert_len + cf->cf_tls_key_len;
	if ((buf = malloc(len)) == NULL) {
		log_warn("%s: certificate not sent", c->c_name);
		return;
	}
	memcpy(buf, &t, sizeof(t));
	memcpy(buf + sizeof(t), cf->cf_tls_cert_pem, cf->cf_tls_cert_len);
	memcpy(buf + sizeof(t) + cf->cf_tls_cert_len, cf->cf_tls_key_pem,
	    cf->cf_tls_key_len);
	proc_send(c, IPC_TLS_KEYPAIR, 0, buf, len, -1);
	explicit_bzero(buf, len);
	free(buf);
}

static void
proc_send_wsd_settings(struct child *c)
{
	struct ipc_wsd_settings	 ws;
	struct ipc_origin	 io;
	struct conf_origin	*o;

	memset(&ws, 0, sizeof(ws));
	ws.max_clients = env->h_conf->cf_max_clients;
	ws.max_message = env->h_conf->cf_max_message;
	ws.ping_interval = env->h_conf->cf_ping_interval;
	TAILQ_FOREACH(o, &env->h_conf->cf_origins, o_entry)
		ws.norigins++;
	proc_send(c, IPC_WSD_SETTINGS, 0, &ws, sizeof(ws), -1);
	TAILQ_FOREACH(o, &env->h_conf->cf_origins, o_entry) {
		memset(&io, 0, sizeof(io));
		snprintf(io.origin, sizeof(io.origin), "%s", o->o_origin);
		proc_send(c, IPC_ORIGIN, 0, &io, sizeof(io), -1);
	}
	proc_send_tls(c);
}

static void
proc_send_table(struct child *c)
{
	struct ipc_pin_info	 pi;
	struct ipc_state_end	 end;
	unsigned int		 i;

	for (i = 0; i < env->h_npins; i++) {
		pins_fill_info(env->h_pins[i], &pi);
		proc_send(c, IPC_PIN_INFO, 0, &pi, sizeof(pi), -1);
	}
	memset(&end, 0, sizeof(end));
	end.seq = env->h_seq;
	end.npins = env->h_npins;
	end.generation = env->h_generation;
	end.boot = env->h_boot;
	if (c->c_role == CHILD_WSD)
		proc_send_wsd_settings(c);
	proc_send(c, IPC_STATE_END, 0, &end, sizeof(end), -1);
}

void
proc_send_tables(void)
{
	int	 i;

	for (i = 0; i < CHILD_MAX; i++)
		proc_send_table(&children[i]);
}

static void
proc_send_state(struct child *c)
{
	unsigned int		 i;

	proc_send_table(c);
	if (c->c_role == CHILD_WSD)
		for (i = 0; i < env->h_nlisten; i++)
			proc_send(c, IPC_LISTENER, 0, &env->h_listen_info[i],
			    sizeof(env->h_listen_info[i]), env->h_listen_fds[i]);
}

static void
proc_exec(struct child *c, int sock)
{
	const char	*argv[16];
	char		 uid[16], gid[16];
	int		 argc = 0;
	sigset_t	 set;

	/*
	 * A process group of its own: a terminal's Ctrl-C reaches only the
	 * helper, which then stops the children in order.
	 */
	if (setpgid(0, 0) == -1)
		_exit(127);
	/*
	 * Pin changes and mission timing come before the dashboard's fan-out:
	 * the worker keeps the priority the helper raised in main(), wsd
	 * goes back to the ordinary one.
	 */
	if (c->c_role == CHILD_WSD && env->h_drop)
		(void)setpriority(PRIO_PROCESS, 0, 0);
	/* dup2 onto the same number would keep FD_CLOEXEC. */
	if (sock == IPC_CHILD_FD) {
		if (fcntl(sock, F_SETFD, 0) == -1)
			_exit(127);
	} else if (dup2(sock, IPC_CHILD_FD) == -1)
		_exit(127);
	if (c->c_role == CHILD_WORKER &&
	    dup2(env->h_store_fd, IPC_STORE_FD) == -1)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);

	argv[argc++] = env->h_child_path[c->c_role];
	if (env->h_foreground)
		argv[argc++] = "-d";
	if (env->h_verbose)
		argv[argc++] = "-v";
	if (env->h_drop) {
		snprintf(uid, sizeof(uid), "%u", (unsigned)env->h_uid);
		snprintf(gid, sizeof(gid), "%u", (unsigned)env->h_gid);
		argv[argc++] = "-u";
		argv[argc++] = uid;
		argv[argc++] = "-g";
		argv[argc++] = gid;
	}
	argv[argc++] = "-r";
	argv[argc++] = c->c_role == CHILD_WSD ? env->h_conf->cf_www :
	    env->h_conf->cf_journal;
	argv[argc] = NULL;
	execv(argv[0], (char *const *)argv);
	fprintf(stderr, "helper: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void
proc_spawn(struct child *c)
{
	size_t		 maxq;
	unsigned int	 i;
	int		 sv[2];
	pid_t		 pid;

	if (env->h_stopping)
		return;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair for %s", c->c_name);
		goto retry;
	}
	switch (pid = fork()) {
	case -1:
		log_warn("fork %s", c->c_name);
		close(sv[0]);
		close(sv[1]);
		goto retry;
	case 0:
		close(sv[0]);
		proc_exec(c, sv[1]);
		/* NOTREACHED */
	}
	close(sv[1]);
	c->c_pid = pid;
	/* A new worker watches what its missions wait on anew. */
	if (c->c_role == CHILD_WORKER)
		for (i = 0; i < env->h_npins; i++)
			env->h_pins[i]->p_watched = 0;
	clock_gettime(CLOCK_MONOTONIC, &c->c_started);
	/* wsd's queue must take a whole replay of the history (resume). */
	maxq = CHILD_MAXQUEUE;
	if (c->c_role == CHILD_WSD)
		maxq += env->h_hist_size * (sizeof(struct ipc_hdr) +
		    sizeof(struct ipc_pin_event));
	if ((c->c_chan = ipc_chan_new(env->h_base, sv[0], maxq,
	    proc_dispatch, c)) == NULL) {
		log_warn("%s: channel", c->c_name);
		close(sv[0]);
		kill(pid, SIGKILL);
		return;
	}
	/*
	 * Requests are read only as fast as their answers are: a child that
	 * sends faster than it reads (a client pipelining toggles, a backlog
	 * after a stall) is slowed down, not taken for hung.  One request's
	 * answer, a whole replay included, still fits past this.
	 */
	ipc_chan_pause_reads(c->c_chan, CHILD_MAXQUEUE / 2);
	log_info("%s started, pid %d", c->c_name, (int)pid);
	proc_send_state(c);
	proc_pair();
	return;
retry:
	{
		struct timeval tv = { 1, 0 };
		evtimer_add(c->c_restart, &tv);
	}
}

static void
proc_restart_cb(evutil_socket_t fd, short what, void *arg)
{
	proc_spawn(arg);
}

/* After the first quick death, back off: 250 ms doubling up to 5 s. */
static void
proc_schedule_restart(struct child *c)
{
	struct timespec	 now;
	struct timeval	 tv = { 0, 0 };
	long		 ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	/* To the millisecond: whole seconds made it 1 to 2 s, by chance. */
	ms = (now.tv_sec - c->c_started.tv_sec) * 1000L +
	    (now.tv_nsec - c->c_started.tv_nsec) / 1000000L;
	if (ms < 2000)
		c->c_fast_deaths++;
	else
		c->c_fast_deaths = 0;
	if (c->c_fast_deaths > 0) {
		ms = 250L << (c->c_fast_deaths > 5 ? 5 : c->c_fast_deaths - 1);
		if (ms > 5000)
			ms = 5000;
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		log_warnx("%s died %u times in a row within 2 s of start: "
		    "next start in %ld ms", c->c_name, c->c_fast_deaths, ms);
	}
	evtimer_add(c->c_restart, &tv);
}

static void
proc_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct child	*c;
	pid_t		 pid;
	int		 status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		c = NULL;
		for (i = 0; i < CHILD_MAX; i++)
			if (children[i].c_pid == pid)
				c = &children[i];
		if (c == NULL)
			continue;
		if (WIFSIGNALED(status))
			log_warnx("%s[%d] killed by signal %d%s", c->c_name,
			    (int)pid, WTERMSIG(status), env->h_stopping ? "" :
			    ": restarting it");
		else if (!env->h_stopping)
			log_warnx("%s[%d] exited with status %d: restarting it",
			    c->c_name, (int)pid, WEXITSTATUS(status));
		else if (WEXITSTATUS(status) != 0)
			log_warnx("%s[%d] exited with status %d", c->c_name,
			    (int)pid, WEXITSTATUS(status));
		else
			log_debug("%s[%d] exited", c->c_name, (int)pid);
		c->c_pid = 0;
		ipc_chan_free(c->c_chan);
		c->c_chan = NULL;
		if (env->h_stopping) {
			if (proc_running() == 0)
				event_base_loopexit(env->h_base, NULL);
		} else
			proc_schedule_restart(c);
	}
}

static void
proc_reply(struct child *c, uint32_t id, int error, int value, uint64_t seq)
{
	struct ipc_reply	 r;
	unsigned char		 both[sizeof(r) + sizeof(struct ipc_pin_event)];

	memset(&r, 0, sizeof(r));
	r.error = error;
	r.value = value;
	r.seq = seq;
	if (c->c_role == CHILD_WSD && attach.a_held) {
		memcpy(both, &r, sizeof(r));
		memcpy(both + sizeof(r), &attach.a_ev, sizeof(attach.a_ev));
		attach.a_held = 0;
		proc_send(c, IPC_REPLY, id, both, sizeof(both), -1);
		return;
	}
	proc_send(c, IPC_REPLY, id, &r, sizeof(r), -1);
}

static void
proc_reply_busy(struct child *c, uint32_t id, const struct pin *p)
{
	struct ipc_reply	 r;

	memset(&r, 0, sizeof(r));
	r.error = IPC_E_BUSY;
	r.value = p->p_value;
	r.mission = p->p_holder;
	proc_send(c, IPC_REPLY, id, &r, sizeof(r), -1);
}

static struct mstep *
mstep_find(uint32_t mission, int create)
{
	struct mstep	*m;
	size_t		 i;

	for (i = 0; i < nmsteps; i++)
		if (msteps[i].ms_mission == mission)
			return &msteps[i];
	/*
	 * A worker has at most MSTEP_MAX missions at once (64 active, some
	 * ended and not yet reported): past it, the root helper does not
	 * grow for a worker that invents mission ids.
	 */
	if (!create || nmsteps >= MSTEP_MAX)
		return NULL;
	if ((m = reallocarray(msteps, nmsteps + 1, sizeof(*m))) == NULL)
		return NULL;
	msteps = m;
	m = &msteps[nmsteps++];
	memset(m, 0, sizeof(*m));
	m->ms_mission = mission;
	return m;
}

static void
holder_broadcast(const struct pin *p)
{
	struct ipc_pin_holder	 h;

	memset(&h, 0, sizeof(h));
	h.index = p->p_index;
	h.holder = p->p_holder;
	proc_broadcast(IPC_PIN_HOLDER, &h, sizeof(h));
}

/* A mission has ended: its pins are free and its step record goes. */
static void
proc_mission_end(uint32_t mission)
{
	struct mstep	*m;
	unsigned int	 i;

	for (i = 0; i < env->h_npins; i++)
		if (env->h_pins[i]->p_holder == mission) {
			env->h_pins[i]->p_holder = 0;
			holder_broadcast(env->h_pins[i]);
		}
	if ((m = mstep_find(mission, 0)) != NULL) {
		*m = msteps[--nmsteps];
		if (nmsteps == 0) {
			free(msteps);
			msteps = NULL;
		}
	}
}

static void
history_send(const struct ipc_pin_event *ev, void *arg)
{
	struct child	*c = arg;

	proc_send(c, IPC_PIN_EVENT, c->c_history_id, ev, sizeof(*ev), -1);
	c->c_history_count++;
}

static void
proc_history(struct child *c, uint32_t id, const struct ipc_history *h)
{
	struct ipc_history_end	 end;
	uint64_t		 oldest, last;
	int			 more;

	memset(&end, 0, sizeof(end));
	c->c_history_id = id;
	c->c_history_count = 0;
	end.status = pins_history(h->since, h->max, history_send, c, &oldest,
	    &last, &more);
	end.seq = env->h_seq;
	end.oldest = oldest;
	end.count = c->c_history_count;
	end.last = last;
	end.more = (uint32_t)more;
	proc_send(c, IPC_HISTORY_END, id, &end, sizeof(end), -1);
}

/* A request that passed req_table and the range checks. */
static void
proc_request(struct child *c, uint16_t type, uint32_t id,
    const struct ipc_pin_req *req)
{
	struct pin	*p = pins_get(req->index);
	struct chip	*ch = p->p_chip;
	struct mstep	*ms = NULL;
	int		 value, error, out = p->p_conf->p_dir == PIN_OUTPUT;
	uint64_t	 seq = 0;

	switch (type) {
	case IPC_PIN_GET:
		if (out)
			value = p->p_value;
		else if (ch->ch_ops->get(ch, p, &value) == -1) {
			proc_reply(c, id, IPC_E_IO, p->p_value, 0);
			return;
		}
		proc_reply(c, id, IPC_OK, value, 0);
		return;
	case IPC_PIN_SET:
	case IPC_PIN_TOGGLE:
		if (!out) {
			proc_reply(c, id, IPC_E_NOT_OUTPUT, p->p_value, 0);
			return;
		}
		/* Clients wait for the mission; missions keep to their pins. */
		if (p->p_holder != 0 && p->p_holder != req->mission) {
			proc_reply_busy(c, id, p);
			return;
		}
		if (req->step != 0) {
			if ((ms = mstep_find(req->mission, 1)) == NULL) {
				proc_reply(c, id, IPC_E_IO, p->p_value, 0);
				return;
			}
			if (req->step <= ms->ms_step) {
				/* Sent again after a worker restart: once only. */
				proc_send(c, IPC_REPLY, id, &ms->ms_reply,
				    sizeof(ms->ms_reply), -1);
				return;
			}
		}
		value = type == IPC_PIN_TOGGLE ? !p->p_value : req->value;
		error = IPC_OK;
		if (value != p->p_value) {
			if (ch->ch_ops->set(ch, p, value) == -1) {
				log_warn("pin %s: set %d", p->p_conf->p_name,
				    value);
				error = IPC_E_IO;
			} else
				seq = pins_change(p, value, real_us(),
				    req->source, req->mission);
		}
		if (req->step != 0) {
			memset(&ms->ms_reply, 0, sizeof(ms->ms_reply));
			ms->ms_step = req->step;
			ms->ms_reply.error = error;
			ms->ms_reply.value = p->p_value;
			ms->ms_reply.seq = seq;
		}
		proc_reply(c, id, error, p->p_value, seq);
		return;
	case IPC_SIM_PULL:
		if (ch->ch_ops->pull == NULL) {
			proc_reply(c, id, IPC_E_NOT_SIMULATED, p->p_value, 0);
			return;
		}
		if (out) {
			proc_reply(c, id, IPC_E_NOT_INPUT, p->p_value, 0);
			return;
		}
		/* The value after the pull is the line's, as get reads it. */
		seq = env->h_seq;
		ch->ch_ops->pull(ch, p, req->value);
		if (ch->ch_ops->get(ch, p, &value) == -1)
			value = p->p_value;
		proc_reply(c, id, IPC_OK, value,
		    env->h_seq != seq ? env->h_seq : 0);
		return;
	}
}

static int
req_history(struct child *c, const struct ipc_msg *msg)
{
	struct ipc_history	 h;

	memcpy(&h, msg->data, sizeof(h));	/* any seq is a valid question */
	if (h.flags != 0) {
		proc_compromised(c, "field out of range", msg->hdr.type);
		return -1;
	}
	if (!env->h_stopping)
		proc_history(c, msg->hdr.id, &h);
	return 0;
}

/*
 * A pin named by a child: a table not sent yet, or an index past the
 * current one.  An index into an earlier table is answered as stale.
 */
static int
pin_ref_bad(uint32_t generation, uint32_t index)
{
	return generation > env->h_generation ||
	    (generation == env->h_generation && index >= env->h_npins);
}

static int
req_hold(struct child *c, const struct ipc_msg *msg)
{
	struct ipc_hold	 hold;
	struct pin	*p;

	memcpy(&hold, msg->data, sizeof(hold));
	if (hold.mission == 0 || hold.hold > 1 ||
	    pin_ref_bad(hold.generation, hold.index)) {
		proc_compromised(c, "field out of range", msg->hdr.type);
		return -1;
	}
	if (env->h_stopping)
		return 0;
	if (hold.generation < env->h_generation) {
		proc_reply(c, msg->hdr.id, IPC_E_STALE, 0, 0);
		return 0;
	}
	p = pins_get(hold.index);
	if (p->p_conf->p_dir != PIN_OUTPUT) {
		proc_reply(c, msg->hdr.id, IPC_E_NOT_OUTPUT, p->p_value, 0);
		return 0;
	}
	if (p->p_holder != 0 && p->p_holder != hold.mission) {
		proc_reply_busy(c, msg->hdr.id, p);
		return 0;
	}
	if (hold.hold ? p->p_holder == 0 : p->p_holder != 0) {
		p->p_holder = hold.hold ? hold.mission : 0;
		holder_broadcast(p);
	}
	proc_reply(c, msg->hdr.id, IPC_OK, p->p_value, 0);
	return 0;
}

struct replay {
	struct child	*r_child;
	struct pin	*r_pin;
	unsigned int	 r_count;
};

static void
replay_send(const struct ipc_pin_event *ev, void *arg)
{
	struct replay	*r = arg;

	proc_send(r->r_child, IPC_PIN_EVENT, 0, ev, sizeof(*ev), -1);
	r->r_pin->p_wsent = ev->seq;
	r->r_count++;
}

static int
req_watch(struct child *c, const struct ipc_msg *msg)
{
	struct ipc_watch	 w;
	struct replay		 r;
	struct pin		*p;

	memcpy(&w, msg->data, sizeof(w));
	if (w.watch > 1 || w.pad != 0 || pin_ref_bad(w.generation, w.index)) {
		proc_compromised(c, "field out of range", msg->hdr.type);
		return -1;
	}
	/* Made against an older table: the worker watches again with this one. */
	if (w.generation < env->h_generation)
		return 0;
	p = pins_get(w.index);
	if (w.watch && !p->p_watched) {
		r.r_child = c;
		r.r_pin = p;
		r.r_count = 0;
		pins_replay(p, w.since, replay_send, &r);
		log_debug("pin %s: watched by the worker, %u change%s since "
		    "its wait began", p->p_conf->p_name, r.r_count,
		    r.r_count == 1 ? "" : "s");
	} else if (!w.watch && p->p_watched)
		log_debug("pin %s: no longer watched by the worker",
		    p->p_conf->p_name);
	p->p_watched = (int)w.watch;
	return 0;
}

static int
req_mission_end(struct child *c, const struct ipc_msg *msg)
{
	struct ipc_mission_end	 end;

	memcpy(&end, msg->data, sizeof(end));
	if (end.mission == 0 || end.pad != 0) {
		proc_compromised(c, "field out of range", msg->hdr.type);
		return -1;
	}
	proc_mission_end(end.mission);
	proc_reply(c, msg->hdr.id, IPC_OK, 0, 0);
	return 0;
}

/*
 * get, set, toggle, sim.pull.  Every field is checked before the
 * generation decides anything: a malformed request is a compromise even
 * when it names an older pin table.
 */
static int
req_pin(struct child *c, const struct ipc_msg *msg)
{
	struct ipc_pin_req	 req;
	uint16_t		 type = msg->hdr.type;

	memcpy(&req, msg->data, sizeof(req));
	if (req.pad != 0 || pin_ref_bad(req.generation, req.index) ||
	    (req.value != 0 && req.value != 1) ||
	    (type != IPC_PIN_SET && type != IPC_SIM_PULL && req.value != 0) ||
	    (c->c_role == CHILD_WSD && (req.source != IPC_SRC_CLIENT ||
	    req.mission != 0 || req.step != 0)) ||
	    (c->c_role == CHILD_WORKER && (req.source != IPC_SRC_MISSION ||
	    req.mission == 0))) {
		proc_compromised(c, "field out of range", type);
		return -1;
	}
	if (req.generation < env->h_generation) {
		/* Sent before the child had the reloaded table. */
		proc_reply(c, msg->hdr.id, IPC_E_STALE, 0, 0);
		return 0;
	}
	if (env->h_stopping)
		return 0;	/* outputs are at their safe values now */
	if (c->c_role == CHILD_WSD)
		attach.a_on = 1;
	proc_request(c, type, msg->hdr.id, &req);
	attach_flush();
	return 0;
}

static int
proc_dispatch(struct ipc_chan *chan, const struct ipc_msg *msg, void *arg)
{
	struct child		*c = arg;
	const struct req_rule	*rule = NULL;
	size_t			 i;

	if (msg == NULL) {
		if (errno == EBADMSG) {
			proc_compromised(c, "malformed message", 0);
			return -1;
		}
		if (!env->h_stopping) {
			log_warnx("%s[%d] closed its channel", c->c_name,
			    (int)c->c_pid);
			if (c->c_pid > 0)
				kill(c->c_pid, SIGKILL);
		}
		ipc_chan_free(c->c_chan);
		c->c_chan = NULL;
		return -1;
	}
	for (i = 0; i < sizeof(req_table) / sizeof(req_table[0]); i++)
		if (req_table[i].type == msg->hdr.type)
			rule = &req_table[i];
	if (rule == NULL || (rule->roles & ROLE_BIT(c->c_role)) == 0) {
		if (msg->fd != -1)
			close(msg->fd);
		proc_compromised(c, "request not permitted", msg->hdr.type);
		return -1;
	}
	if (msg->fd != -1) {
		close(msg->fd);
		proc_compromised(c, "unexpected file descriptor", msg->hdr.type);
		return -1;
	}
	if (!ipc_check_size(msg, rule->size)) {
		proc_compromised(c, "wrong payload size", msg->hdr.type);
		return -1;
	}
	if (rule->handler(c, msg) == -1)
		return -1;
	return c->c_chan == NULL ? -1 : 0;
}

void
proc_init(void)
{
	int	 i;

	children[CHILD_WSD].c_role = CHILD_WSD;
	children[CHILD_WSD].c_name = "wsd";
	children[CHILD_WORKER].c_role = CHILD_WORKER;
	children[CHILD_WORKER].c_name = "worker";
	for (i = 0; i < CHILD_MAX; i++)
		children[i].c_restart = evtimer_new(env->h_base,
		    proc_restart_cb, &children[i]);
	ev_chld = evsignal_new(env->h_base, SIGCHLD, proc_sigchld, NULL);
	evsignal_add(ev_chld, NULL);
}

void
proc_start_all(void)
{
	int	 i;

	for (i = 0; i < CHILD_MAX; i++)
		proc_spawn(&children[i]);
}

static void
proc_kill_cb(evutil_socket_t fd, short what, void *arg)
{
	int	 i;

	for (i = 0; i < CHILD_MAX; i++)
		if (children[i].c_pid > 0) {
			log_warnx("%s[%d] did not stop: killing it",
			    children[i].c_name, (int)children[i].c_pid);
			kill(children[i].c_pid, SIGKILL);
		}
}

/*
 * IPC_SHUTDOWN behind whatever is queued, so that the children pass on the
 * last events (the safe values) before they go; SIGKILL for any still
 * there after 2 s.
 */
void
proc_stop_all(void)
{
	struct timeval	 tv = { 2, 0 };
	int		 i;

	env->h_stopping = 1;
	for (i = 0; i < CHILD_MAX; i++) {
		evtimer_del(children[i].c_restart);
		if (children[i].c_pid > 0 && children[i].c_chan != NULL)
			proc_send(&children[i], IPC_SHUTDOWN, 0, NULL, 0, -1);
		else if (children[i].c_pid > 0)
			kill(children[i].c_pid, SIGTERM);
	}
	if (proc_running() == 0) {
		event_base_loopexit(env->h_base, NULL);
		return;
	}
	ev_kill = evtimer_new(env->h_base, proc_kill_cb, NULL);
	evtimer_add(ev_kill, &tv);
}

void
proc_cleanup(void)
{
	int	 i;

	for (i = 0; i < CHILD_MAX; i++) {
		ipc_chan_free(children[i].c_chan);
		children[i].c_chan = NULL;
		if (children[i].c_restart != NULL)
			event_free(children[i].c_restart);
	}
	if (ev_kill != NULL)
		event_free(ev_kill);
	if (ev_chld != NULL)
		event_free(ev_chld);
	free(msteps);
}
