/*
 * The mission worker: runs missions apart from wsd, so that they outlive
 * clients and wsd crashes, and keeps a journal so that they outlive the
 * worker too.  See gpiows-protocol(7) for missions as clients see them.
 */
#ifndef GPIOWS_WORKER_H
#define GPIOWS_WORKER_H

#include <sys/queue.h>

#include <stdint.h>

#include <jansson.h>

#include "clock.h"
#include "ipc.h"
#include "mission.h"

enum mstate {
	M_QUEUED,
	M_RUNNING,
	M_DONE,
	M_FAILED,
	M_CANCELLED,
	M_INTERRUPTED
};

/* Where a running mission is: one frame per steps array (repeats nest). */
struct frame {
	const struct step *f_steps;
	size_t		 f_n;
	size_t		 f_i;		/* the step being run */
	uint32_t	 f_iter;	/* repeat: the iteration, from 0 */
	uint32_t	 f_count;	/* repeat: how many; 1 at the top */
};

struct mission {
	TAILQ_ENTRY(mission)	 m_entry;
	uint32_t		 m_id;
	json_t			*m_json;	/* as the client sent it */
	struct mission_spec	 m_spec;
	enum mstate		 m_state;
	char			 m_error[256];
	struct frame		 m_stack[MISSION_MAX_DEPTH + 1];
	int			 m_depth;	/* frames in use */
	uint32_t		 m_step;	/* last step number sent */
	int			 m_inflight;	/* step m_step awaits its reply */
	uint64_t		 m_done;	/* steps completed */
	uint64_t		 m_total;	/* steps in all */
	char			(*m_out)[GPIOWS_NAME_SIZE];
	size_t			 m_nout;
	int			 m_holds;	/* hold replies still to come */
	int			 m_hold_refused;	/* one of them said no */
	int			 m_holding;	/* its pins are held */
	int			 m_cancel;	/* cancel or interrupt asked */
	enum mstate		 m_cancel_to;
	int			 m_safe_left;	/* safe-value sets to come */
	struct event		*m_timer;
	int			 m_waiting;	/* for an edge */
	uint64_t		 m_wait_since;	/* CLOCK_MONOTONIC us it began */
	uint64_t		 m_sleep_until;	/* us since the epoch, or 0 */
	uint64_t		 m_created, m_started, m_ended;
	uint64_t		 m_boot;	/* helper it ran under */
	uint64_t		 m_done_sent;	/* m_done in the last event */
	enum mstate		 m_state_sent;	/* m_state in the last event */
	int			 m_event_sent;
	int			 m_dirty;	/* its journal entry is behind */
	struct event		*m_progress_timer;
	uint64_t		 m_progress_sent; /* when, us since the epoch */
};
TAILQ_HEAD(missionlist, mission);

struct worker_env {
	struct event_base	*k_base;
	struct ipc_chan		*k_helper;
	struct ipc_chan		*k_wsd;
	int			 k_dirfd;	/* the journal directory */
	/*
	 * The pin table as sent; the worker is not sent every change, so
	 * each pin's value is the one at the time of the table, not now.
	 */
	struct ipc_pin_info	*k_pins;
	unsigned int		 k_npins;
	struct ipc_pin_info	*k_stage;	/* a table being received */
	unsigned int		 k_nstage;
	uint32_t		 k_generation;
	uint64_t		 k_boot;
	int			 k_ready;
	int			 k_loaded;	/* journal read */
	struct missionlist	 k_missions;
	uint32_t		 k_next_id;
	uint32_t		 k_next_req;
};

extern struct worker_env *kenv;

/*
 * Event priorities: 0 the watches sent to the helper, 1 (libevent's
 * default) IPC and timers, 2 the journal and the pruning of ended
 * missions, last.
 */
#define WORKER_PRIOS		3
#define WORKER_PRIO_WATCH	0
#define WORKER_PRIO_JOURNAL	2

/* worker.c */
const struct ipc_pin_info *worker_pin(const char *name);
int	worker_helper_send(uint16_t type, const void *data, size_t len,
	    uint32_t *reqid);
void	worker_wsd_send(uint16_t type, uint32_t id, const char *json);

/* mission.c */
void	mission_init(void);
void	mission_shutdown(void);
void	mission_start_request(uint32_t id, const char *data, size_t len);
void	mission_cancel_request(uint32_t id, uint32_t mission);
json_t	*mission_list_json(void);
void	mission_helper_reply(uint32_t id, const struct ipc_reply *);
void	mission_pin_event(const struct ipc_pin_event *);
void	mission_pins_changed(void);
/* mission_watch_reset: a new pin table, on which nothing is watched yet. */
void	mission_watch_reset(void);
void	mission_holder(const struct ipc_pin_holder *);
/* mission_resume: the journal's missions, once the helper's table is in. */
void	mission_resume(void);

/* journal.c */
#define MISSION_MAX_ACTIVE	64	/* queued and running at once */
/* journal_store_open: the place store on fd, before the sandbox. */
void	journal_store_open(int fd);
int	journal_write(const struct mission *);
/* journal_place: where a running mission is now (in the place store). */
void	journal_place(const struct mission *);
void	journal_place_forget(const struct mission *);
json_t	*journal_place_json(uint32_t id, uint64_t created, uint64_t boot,
	    uint32_t step, uint64_t done);
void	journal_remove(uint32_t id);
/*
 * journal_load: calls cb for each journalled mission (a JSON object); then
 * forgets the places of missions that cb did not list in k_missions as
 * running.
 */
void	journal_load(void (*cb)(json_t *, void *), void *arg);

#endif
