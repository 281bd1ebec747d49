/*
 * The mission worker: runs missions apart from wsd so that they outlive
 * clients and wsd crashes.  For now it keeps an empty mission list and
 * answers mission.list; the missions themselves are their own issue.
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
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "ipc.h"
#include "log.h"
#include "sandbox.h"

struct worker_env {
	struct event_base	*k_base;
	struct ipc_chan		*k_helper;
	struct ipc_chan		*k_wsd;
	json_t			*k_missions;
};

static struct worker_env	*kenv;

static void
worker_send_missions(uint32_t id)
{
	char	*s;

	if (kenv->k_wsd == NULL)
		return;
	if ((s = json_dumps(kenv->k_missions, JSON_COMPACT)) == NULL)
		fatalx("json_dumps");
	if (ipc_chan_send(kenv->k_wsd, IPC_MISSIONS, id, s, strlen(s), -1) == -1)
		log_warn("sending missions to wsd");
	free(s);
}

static int
worker_wsd_dispatch(struct ipc_chan *chan, const struct ipc_msg *msg, void *arg)
{
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
		if (!ipc_check_size(msg, 0)) {
			log_warnx("wsd sent a bad mission.list");
			break;
		}
		worker_send_missions(msg->hdr.id);
		break;
	default:
		log_warnx("wsd sent unexpected message %u", msg->hdr.type);
		break;
	}
	return 0;
}

static int
worker_helper_dispatch(struct ipc_chan *chan, const struct ipc_msg *msg,
    void *arg)
{
	struct ipc_peer	 peer;

	if (msg == NULL)
		fatalx("helper channel closed: exiting");
	switch (msg->hdr.type) {
	case IPC_PIN_INFO:
	case IPC_STATE_END:
	case IPC_PIN_EVENT:
	case IPC_REPLY:
		/* Missions will use these; nothing runs yet. */
		break;
	case IPC_PEER:
		if (msg->fd == -1 || !ipc_check_size(msg, sizeof(peer)))
			fatalx("helper sent a bad peer channel");
		memcpy(&peer, msg->data, sizeof(peer));
		if (kenv->k_wsd != NULL)
			ipc_chan_free(kenv->k_wsd);
		if ((kenv->k_wsd = ipc_chan_new(kenv->k_base, msg->fd,
		    4 * 1024 * 1024, worker_wsd_dispatch, NULL)) == NULL)
			fatal("wsd channel");
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
	pid_t			 ppid = getppid();

	memset(&k, 0, sizeof(k));
	kenv = &k;
	log_procname("worker");
	log_init(1, 0);
	sandbox_child_opts(argc, argv, "gpiows-worker", &o);
	log_init(o.co_foreground, o.co_verbose);

	json_object_seed(0);
	if ((k.k_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (o.co_drop)
		sandbox_drop(o.co_root, o.co_uid, o.co_gid);
	sandbox_parent_death(ppid);
	sandbox_apply(SANDBOX_WORKER);

	signal(SIGPIPE, SIG_IGN);
	if ((k.k_missions = json_array()) == NULL)
		fatalx("json_array");
	ev_term = evsignal_new(k.k_base, SIGTERM, worker_sigterm, NULL);
	evsignal_add(ev_term, NULL);
	if ((k.k_helper = ipc_chan_new(k.k_base, IPC_CHILD_FD,
	    16 * 1024 * 1024, worker_helper_dispatch, NULL)) == NULL)
		fatal("helper channel");

	event_base_dispatch(k.k_base);

	log_debug("exiting");
	ipc_chan_free(k.k_helper);
	ipc_chan_free(k.k_wsd);
	event_free(ev_term);
	json_decref(k.k_missions);
	event_base_free(k.k_base);
	return 0;
}
