/*
 * wsd: started by gpiod-helper with its channel on fd 3.  It sheds its
 * privileges (chroot to the www directory, the configured user), loads its
 * seccomp filter and only then reads anything: first the pin table from the
 * helper, then the listening sockets it is handed.  See wsd(8).
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "sandbox.h"
#include "fanout.h"
#include "wsd.h"

struct wsd_env	*wenv;

static void	wsd_shutdown(void);

struct wsd_pin *
wsd_pin_find(const char *name)
{
	unsigned int	 i;

	for (i = 0; i < wenv->w_npins; i++)
		if (strcmp(wenv->w_pins[i].wp_info.name, name) == 0)
			return &wenv->w_pins[i];
	return NULL;
}

int
wsd_helper_request(uint16_t type, uint32_t id, unsigned int pin, int value)
{
	struct ipc_pin_req	 req;

	memset(&req, 0, sizeof(req));
	req.index = pin;
	req.value = value;
	req.source = IPC_SRC_CLIENT;
	req.generation = wenv->w_generation;
	if (ipc_chan_send(wenv->w_helper, type, id, &req, sizeof(req), -1) == -1)
		return -1;
	/*
	 * The helper runs at a higher priority: on wsd's CPU it has answered
	 * before the send returned.
	 */
	ipc_chan_read_soon(wenv->w_helper);
	return 0;
}

int
wsd_worker_request(uint16_t type, uint32_t id, const void *data, size_t len)
{
	if (wenv->w_worker == NULL) {
		errno = ENOTCONN;
		return -1;
	}
	return ipc_chan_send(wenv->w_worker, type, id, data, len, -1);
}

static int
wsd_worker_dispatch(struct ipc_chan *chan, const struct ipc_msg *msg, void *arg)
{
	if (msg == NULL) {
		log_debug("worker channel closed");
		if (wenv->w_worker == chan) {
			wenv->w_worker = NULL;
			client_worker_lost();
		}
		ipc_chan_free(chan);
		return -1;
	}
	if (msg->fd != -1)
		close(msg->fd);
	switch (msg->hdr.type) {
	case IPC_MISSIONS:
		client_worker_missions(msg->hdr.id, msg->data, msg->hdr.len);
		break;
	case IPC_MISSION_REPLY:
		client_worker_mission_reply(msg->hdr.id, msg->data,
		    msg->hdr.len);
		break;
	case IPC_MISSION_EVENT:
		client_worker_mission_event(msg->data, msg->hdr.len);
		break;
	default:
		log_warnx("worker sent unexpected message %u", msg->hdr.type);
		break;
	}
	return 0;
}

static void
wsd_pin_info(const struct ipc_msg *msg)
{
	struct ipc_pin_info	 pi;
	struct wsd_pin		*np;

	if (!ipc_check_size(msg, sizeof(pi)))
		fatalx("helper sent a bad pin table entry");
	memcpy(&pi, msg->data, sizeof(pi));
	if (pi.index != wenv->w_nstage || pi.value < 0 || pi.value > 1 ||
	    memchr(pi.name, '\0', sizeof(pi.name)) == NULL ||
	    memchr(pi.chip, '\0', sizeof(pi.chip)) == NULL)
		fatalx("helper sent a bad pin table entry");
	if ((np = reallocarray(wenv->w_stage, wenv->w_nstage + 1,
	    sizeof(*np))) == NULL)
		fatal("reallocarray");
	wenv->w_stage = np;
	wenv->w_stage[wenv->w_nstage++].wp_info = pi;
}

static void
wsd_free_origins(void)
{
	unsigned int	 i;

	for (i = 0; i < wenv->w_norigins; i++)
		free(wenv->w_origins[i]);
	free(wenv->w_origins);
	wenv->w_origins = NULL;
	wenv->w_norigins = 0;
}

static void
wsd_settings(const struct ipc_msg *msg)
{
	struct ipc_wsd_settings	 ws;

	if (!ipc_check_size(msg, sizeof(ws)))
		fatalx("helper sent bad settings");
	memcpy(&ws, msg->data, sizeof(ws));
	if (ws.max_clients == 0 || ws.max_message < WS_MAX_CONTROL ||
	    ws.norigins > 4096)
		fatalx("helper sent bad settings");
	wsd_free_origins();
	if (ws.norigins > 0 && (wenv->w_origins = calloc(ws.norigins,
	    sizeof(char *))) == NULL)
		fatal("calloc");
	wenv->w_origins_expected = ws.norigins;
	wenv->w_max_clients = ws.max_clients;
	wenv->w_max_message = ws.max_message;
	wenv->w_ping_interval = ws.ping_interval;
	http_ping_interval(ws.ping_interval);
}

static void
wsd_origin(const struct ipc_msg *msg)
{
	struct ipc_origin	 o;

	if (!ipc_check_size(msg, sizeof(o)) ||
	    wenv->w_norigins >= wenv->w_origins_expected)
		fatalx("helper sent a bad origin");
	memcpy(&o, msg->data, sizeof(o));
	if (memchr(o.origin, '\0', sizeof(o.origin)) == NULL)
		fatalx("helper sent a bad origin");
	if ((wenv->w_origins[wenv->w_norigins++] = strdup(o.origin)) == NULL)
		fatal("strdup");
}

/* A pin event from the helper: a change (id 0), or history for request id. */
static void
wsd_pin_event(uint32_t id, const struct ipc_pin_event *ev)
{
	if (!wenv->w_ready || ev->source >= IPC_SRC_MAX ||
	    (id == 0 && ev->index >= wenv->w_npins))
		fatalx("helper sent a bad pin event");
	if (id != 0)		/* history, for a resume */
		client_history_event(id, ev);
	else
		client_pin_event(ev);
}

static int
wsd_helper_dispatch(struct ipc_chan *chan, const struct ipc_msg *msg, void *arg)
{
	struct ipc_state_end	 end;
	struct ipc_pin_event	 ev;
	struct ipc_reply	 rep;
	struct ipc_peer		 peer;
	struct ipc_listener	 li;

	if (msg == NULL)
		fatalx("helper channel closed: exiting");
	switch (msg->hdr.type) {
	case IPC_PIN_INFO:
		wsd_pin_info(msg);
		break;
	case IPC_STATE_END:
		if (!ipc_check_size(msg, sizeof(end)))
			fatalx("helper sent a bad state end");
		memcpy(&end, msg->data, sizeof(end));
		if (end.npins != wenv->w_nstage)
			fatalx("helper sent %u pins of %u", wenv->w_nstage,
			    end.npins);
		/* The whole table at once: no client sees half of it. */
		free(wenv->w_pins);
		wenv->w_pins = wenv->w_stage;
		wenv->w_npins = wenv->w_nstage;
		wenv->w_stage = NULL;
		wenv->w_nstage = 0;
		wenv->w_seq = end.seq;
		wenv->w_generation = end.generation;
		log_debug("%u pins, seq %llu, generation %u", wenv->w_npins,
		    (unsigned long long)end.seq, end.generation);
		if (wenv->w_ready)
			client_table_changed();
		wenv->w_ready = 1;
		break;
	case IPC_PIN_EVENT:
		if (!ipc_check_size(msg, sizeof(ev)))
			fatalx("helper sent a bad pin event");
		memcpy(&ev, msg->data, sizeof(ev));
		wsd_pin_event(msg->hdr.id, &ev);
		break;
	case IPC_HISTORY_END:
		if (!ipc_check_size(msg, sizeof(struct ipc_history_end)))
			fatalx("helper sent a bad history end");
		{
			struct ipc_history_end he;

			memcpy(&he, msg->data, sizeof(he));
			client_history_end(msg->hdr.id, &he);
		}
		break;
	case IPC_PIN_HOLDER:
		if (!wenv->w_ready ||
		    !ipc_check_size(msg, sizeof(struct ipc_pin_holder)))
			fatalx("helper sent a bad holder");
		{
			struct ipc_pin_holder ph;

			memcpy(&ph, msg->data, sizeof(ph));
			if (ph.index >= wenv->w_npins)
				fatalx("helper sent a bad holder");
			client_holder(&ph);
		}
		break;
	case IPC_REPLY:
		/* With the change it made, if one, which comes first. */
		if (ipc_check_size(msg, sizeof(rep) + sizeof(ev))) {
			memcpy(&ev, (const char *)msg->data + sizeof(rep),
			    sizeof(ev));
			wsd_pin_event(0, &ev);
		} else if (!ipc_check_size(msg, sizeof(rep)))
			fatalx("helper sent a bad reply");
		memcpy(&rep, msg->data, sizeof(rep));
		client_helper_reply(msg->hdr.id, &rep);
		break;
	case IPC_LISTENER:
		if (!wenv->w_ready || msg->fd == -1 ||
		    !ipc_check_size(msg, sizeof(li)))
			fatalx("helper sent a bad listener");
		memcpy(&li, msg->data, sizeof(li));
		li.addr[sizeof(li.addr) - 1] = '\0';
		if (li.tls > 1 || (li.tls && !tls_ready()))
			fatalx("helper sent a bad listener");
		if (http_listen(msg->fd, li.tls) == -1)
			fatal("listener %s port %u", li.addr, li.port);
		log_debug("serving %s port %u%s", li.addr, li.port,
		    li.tls ? " (TLS)" : "");
		return 0;
	case IPC_TLS_KEYPAIR:
		if (msg->fd != -1 || tls_keypair(msg) == -1)
			fatalx("helper sent a bad TLS key pair");
		break;
	case IPC_PEER:
		if (msg->fd == -1 || !ipc_check_size(msg, sizeof(peer)))
			fatalx("helper sent a bad peer channel");
		memcpy(&peer, msg->data, sizeof(peer));
		if (wenv->w_worker != NULL) {
			/* The old worker's answers will not come. */
			ipc_chan_free(wenv->w_worker);
			wenv->w_worker = NULL;
			client_worker_lost();
		}
		if ((wenv->w_worker = ipc_chan_new(wenv->w_base, msg->fd,
		    4 * 1024 * 1024, wsd_worker_dispatch, NULL)) == NULL)
			fatal("worker channel");
		log_debug("worker channel, generation %u", peer.generation);
		return 0;
	case IPC_WSD_SETTINGS:
		wsd_settings(msg);
		break;
	case IPC_ORIGIN:
		wsd_origin(msg);
		break;
	case IPC_SHUTDOWN:
		if (!ipc_check_size(msg, 0))
			fatalx("helper sent a bad shutdown");
		wsd_shutdown();
		break;
	default:
		fatalx("helper sent unexpected message %u", msg->hdr.type);
	}
	if (msg->fd != -1)
		close(msg->fd);
	return 0;
}

/*
 * The helper is stopping: no new clients, every client closed with 1001
 * after what is already queued for it, then exit (at most 1 s later).
 */
static void
wsd_shutdown(void)
{
	struct conn	*c, *tmp;
	struct timeval	 tv = { 1, 0 };

	log_debug("shutting down");
	http_free_listeners();
	TAILQ_FOREACH_SAFE(c, &wenv->w_clients, c_entry, tmp)
		conn_close(c, WS_CLOSE_GOING_AWAY, "gpiows is stopping");
	api_route_close_all(WS_CLOSE_GOING_AWAY, "gpiows is stopping");
	http_stop_idle();
	wenv->w_stopping = 1;
	if (wenv->w_nconns == 0)
		event_base_loopbreak(wenv->w_base);
	else
		event_base_loopexit(wenv->w_base, &tv);
}

static void
wsd_sigterm(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(wenv->w_base);
}

int
main(int argc, char *argv[])
{
	struct wsd_env	 w;
	struct event	*ev_term;
	struct child_opts o;
	struct rlimit	 rl;
	pid_t		 ppid = getppid();

	memset(&w, 0, sizeof(w));
	wenv = &w;
	TAILQ_INIT(&w.w_clients);
	log_procname("wsd");
	log_init(1, 0);
	sandbox_child_opts(argc, argv, "wsd", &o);
	log_init(o.co_foreground, o.co_verbose);

	/* One descriptor per client: as many as the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("raising the open files limit");
	}
	/*
	 * A broadcast allocates an output chain per client and frees them all
	 * once written: with glibc's default 128 KiB the heap's top went back
	 * to the kernel after each one and was faulted in again for the next
	 * (40,000 page faults a second fanning out to 1,000 clients).
	 */
	mallopt(M_TRIM_THRESHOLD, 2 * 1024 * 1024);
	/*
	 * wsd's timers count 100 ms and more.  With the default 50 us of
	 * slack, every epoll_wait(2) that sleeps in the last tick before one
	 * is due makes it the CPU's next timer event and reprograms the
	 * CPU's timer, a trap under a hypervisor: bench/ws-peers.py saw every
	 * second round trip 10 us slower for the 2 ms before each.  With a
	 * tick's worth of slack the kernel runs it at a tick instead.
	 */
	if (prctl(PR_SET_TIMERSLACK, WSD_TIMER_SLACK_NS, 0, 0, 0) == -1)
		log_warn("prctl PR_SET_TIMERSLACK");

	/* Before the sandbox: what needs files or randomness. */
	if ((w.w_wwwfd = open(o.co_root, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		fatal("www %s", o.co_root);
	json_object_seed(0);
	tls_init();
	if ((w.w_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	fanout_init();
	sandbox_child_enter(&o, SANDBOX_WSD, ppid);

	signal(SIGPIPE, SIG_IGN);
	ev_term = evsignal_new(w.w_base, SIGTERM, wsd_sigterm, NULL);
	evsignal_add(ev_term, NULL);
	client_init();
	if ((w.w_helper = ipc_chan_new(w.w_base, IPC_CHILD_FD,
	    16 * 1024 * 1024, wsd_helper_dispatch, NULL)) == NULL)
		fatal("helper channel");

	event_base_dispatch(w.w_base);

	log_debug("exiting");
	http_free_conns();
	client_shutdown();
	http_shutdown();
	fanout_shutdown();
	ipc_chan_free(w.w_helper);
	ipc_chan_free(w.w_worker);
	event_free(ev_term);
	free(w.w_pins);
	free(w.w_stage);
	wsd_free_origins();
	close(w.w_wwwfd);
	tls_shutdown();
	event_base_free(w.w_base);
	return 0;
}
