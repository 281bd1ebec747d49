/*
 * The mission worker's process: its channels to the helper and to wsd.
 * Started by gpiod-helper with its channel on fd 3, it sheds its privileges
 * (chroot to the journal directory) before reading anything.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "log.h"
#include "sandbox.h"
#include "worker.h"

struct worker_env	*kenv;

const struct ipc_pin_info *
worker_pin(const char *name)
{
	unsigned int	 i;

	for (i = 0; i < kenv->k_npins; i++)
		if (strcmp(kenv->k_pins[i].name, name) == 0)
			return &kenv->k_pins[i];
	return NULL;
}

/* A request to the helper; *reqid gets the id its reply will carry. */
int
worker_helper_send(uint16_t type, const void *data, size_t len,
    uint32_t *reqid)
{
	if (++kenv->k_next_req == 0)
		kenv->k_next_req = 1;
	*reqid = kenv->k_next_req;
	if (ipc_chan_send(kenv->k_helper, type, *reqid, data, len, -1) == -1)
		fatal("helper channel");	/* the helper restarts us */
	return 0;
}

void
worker_wsd_send(uint16_t type, uint32_t id, const char *json)
{
	if (kenv->k_wsd == NULL)
		return;		/* a new wsd gets the whole list */
	if (ipc_chan_send(kenv->k_wsd, type, id, json, strlen(json), -1) == -1)
		log_warn("sending to wsd");
}

static void
worker_send_missions(uint32_t id)
{
	json_t	*list = mission_list_json();
	char	*s;

	if ((s = json_dumps(list, JSON_COMPACT)) == NULL)
		fatalx("json_dumps");
	worker_wsd_send(IPC_MISSIONS, id, s);
	free(s);
	json_decref(list);
}

static int
worker_wsd_dispatch(struct ipc_chan *chan, const struct ipc_msg *msg, void *arg)
{
	struct ipc_mission_end	 me;

	if (msg == NULL) {
		log_debug("wsd channel closed");
		if (kenv->k_wsd == chan)
			kenv->k_wsd = NULL;
		ipc_chan_free(chan);
		return -1;
	}
	if (msg->fd != -1)
		close(msg->fd);
	switch (msg->hdr.type) {
	case IPC_MISSION_LIST:
		if (!ipc_check_size(msg, 0))
			break;
		worker_send_missions(msg->hdr.id);
		return 0;
	case IPC_MISSION_START:
		mission_start_request(msg->hdr.id, msg->data, msg->hdr.len);
		return 0;
	case IPC_MISSION_CANCEL:
		if (!ipc_check_size(msg, sizeof(me)))
			break;
		memcpy(&me, msg->data, sizeof(me));
		mission_cancel_request(msg->hdr.id, me.mission);
		return 0;
	}
	log_warnx("wsd sent a bad message %u (%u bytes)", msg->hdr.type,
	    msg->hdr.len);
	return 0;
}

static void
worker_pin_info(const struct ipc_msg *msg)
{
	struct ipc_pin_info	 pi, *np;

	if (!ipc_check_size(msg, sizeof(pi)))
		fatalx("helper sent a bad pin table entry");
	memcpy(&pi, msg->data, sizeof(pi));
	if (pi.index != kenv->k_nstage ||
	    memchr(pi.name, '\0', sizeof(pi.name)) == NULL)
		fatalx("helper sent a bad pin table entry");
	if ((np = reallocarray(kenv->k_stage, kenv->k_nstage + 1,
	    sizeof(*np))) == NULL)
		fatal("reallocarray");
	kenv->k_stage = np;
	kenv->k_stage[kenv->k_nstage++] = pi;
}

static void
worker_state_end(const struct ipc_msg *msg)
{
	struct ipc_state_end	 end;

	if (!ipc_check_size(msg, sizeof(end)))
		fatalx("helper sent a bad state end");
	memcpy(&end, msg->data, sizeof(end));
	if (end.npins != kenv->k_nstage)
		fatalx("helper sent %u pins of %u", kenv->k_nstage, end.npins);
	free(kenv->k_pins);
	kenv->k_pins = kenv->k_stage;
	kenv->k_npins = kenv->k_nstage;
	kenv->k_stage = NULL;
	kenv->k_nstage = 0;
	kenv->k_generation = end.generation;
	kenv->k_boot = end.boot;
	mission_watch_reset();
	if (!kenv->k_ready) {
		kenv->k_ready = 1;
		mission_resume();
	} else
		mission_pins_changed();
}

static int
worker_helper_dispatch(struct ipc_chan *chan, const struct ipc_msg *msg,
    void *arg)
{
	struct ipc_peer		 peer;
	struct ipc_pin_event	 ev;
	struct ipc_reply	 rep;
	struct ipc_pin_holder	 ph;

	if (msg == NULL)
		fatalx("helper channel closed: exiting");
	switch (msg->hdr.type) {
	case IPC_PIN_INFO:
		worker_pin_info(msg);
		break;
	case IPC_STATE_END:
		worker_state_end(msg);
		break;
	case IPC_PIN_EVENT:
		if (!kenv->k_ready || !ipc_check_size(msg, sizeof(ev)))
			fatalx("helper sent a bad pin event");
		memcpy(&ev, msg->data, sizeof(ev));
		if (ev.index >= kenv->k_npins)
			fatalx("helper sent a bad pin event");
		mission_pin_event(&ev);
		break;
	case IPC_PIN_HOLDER:
		if (!kenv->k_ready || !ipc_check_size(msg, sizeof(ph)))
			fatalx("helper sent a bad holder");
		memcpy(&ph, msg->data, sizeof(ph));
		if (ph.index >= kenv->k_npins)
			fatalx("helper sent a bad holder");
		kenv->k_pins[ph.index].holder = ph.holder;
		mission_holder(&ph);
		break;
	case IPC_REPLY:
		if (!ipc_check_size(msg, sizeof(rep)))
			fatalx("helper sent a bad reply");
		memcpy(&rep, msg->data, sizeof(rep));
		mission_helper_reply(msg->hdr.id, &rep);
		break;
	case IPC_PEER:
		if (msg->fd == -1 || !ipc_check_size(msg, sizeof(peer)))
			fatalx("helper sent a bad peer channel");
		memcpy(&peer, msg->data, sizeof(peer));
		if (kenv->k_wsd != NULL)
			ipc_chan_free(kenv->k_wsd);
		if ((kenv->k_wsd = ipc_chan_new(kenv->k_base, msg->fd,
		    16 * 1024 * 1024, worker_wsd_dispatch, NULL)) == NULL)
			fatal("wsd channel");
		/* wsd's requests are read as fast as it reads the answers. */
		ipc_chan_pause_reads(kenv->k_wsd, 8 * 1024 * 1024);
		log_debug("wsd channel, generation %u", peer.generation);
		worker_send_missions(0);
		return 0;
	case IPC_SHUTDOWN:
		event_base_loopbreak(kenv->k_base);
		break;
	default:
		fatalx("helper sent unexpected message %u", msg->hdr.type);
	}
	if (msg->fd != -1)
		close(msg->fd);
	return 0;
}

static void
worker_sigterm(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(kenv->k_base);
}

int
main(int argc, char *argv[])
{
	struct worker_env	 k;
	struct event		*ev_term;
	struct child_opts	 o;
	struct event_config	*cfg;
	pid_t			 ppid = getppid();

	memset(&k, 0, sizeof(k));
	kenv = &k;
	TAILQ_INIT(&k.k_missions);
	log_procname("worker");
	log_init(1, 0);
	sandbox_child_opts(argc, argv, "gpiows-worker", &o);
	log_init(o.co_foreground, o.co_verbose);

	/*
	 * Before the sandbox: the place store (first, while fd 4 can only be
	 * the helper's), the journal, randomness.
	 */
	journal_store_open(IPC_STORE_FD);
	if ((k.k_dirfd = open(o.co_root, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		fatal("journal %s", o.co_root);
	json_object_seed(0);
	/*
	 * Sleep steps are timed to the microsecond: epoll's own timeout is in
	 * milliseconds, a timerfd is not.
	 */
	if ((cfg = event_config_new()) == NULL ||
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) == -1 ||
	    (k.k_base = event_base_new_with_config(cfg)) == NULL ||
	    event_base_priority_init(k.k_base, WORKER_PRIOS) == -1)
		fatalx("event_base_new");
	event_config_free(cfg);
	sandbox_child_enter(&o, SANDBOX_WORKER, ppid);

	signal(SIGPIPE, SIG_IGN);
	ev_term = evsignal_new(k.k_base, SIGTERM, worker_sigterm, NULL);
	evsignal_add(ev_term, NULL);
	mission_init();
	if ((k.k_helper = ipc_chan_new(k.k_base, IPC_CHILD_FD,
	    16 * 1024 * 1024, worker_helper_dispatch, NULL)) == NULL)
		fatal("helper channel");

	event_base_dispatch(k.k_base);

	log_debug("exiting");
	mission_shutdown();
	ipc_chan_free(k.k_helper);
	ipc_chan_free(k.k_wsd);
	event_free(ev_term);
	free(k.k_pins);
	free(k.k_stage);
	close(k.k_dirfd);
	event_base_free(k.k_base);
	return 0;
}
