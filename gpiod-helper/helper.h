/*
 * gpiod-helper: the privileged parent.  It alone reads the configuration,
 * opens the GPIO chips and owns the line requests; it starts wsd and the
 * mission worker, answers their requests (after checking each against what
 * that child may ask) and restarts them when they die.
 */
#ifndef GPIOWS_HELPER_H
#define GPIOWS_HELPER_H

#include <sys/types.h>

#include <stdint.h>

#include "chip.h"
#include "conf.h"
#include "clock.h"
#include "ipc.h"

struct event_base;

/* On which pin an event of the history was recorded. */
struct hist_at {
	uint64_t	 uid;		/* struct pin's p_uid; 0: pin removed */
};

/* A configured pin at run time. */
struct pin {
	unsigned int	 p_index;	/* position in the table sent to children */
	struct conf_pin	*p_conf;
	struct chip	*p_chip;
	unsigned int	 p_offset;	/* resolved line offset */
	int		 p_value;	/* last known logical value */
	uint64_t	 p_seq;		/* seq of the last change, 0 if none */
	uint64_t	 p_ts;		/* us since the epoch */
	uint64_t	 p_mono;	/* CLOCK_MONOTONIC us of the last change */
	uint64_t	 p_uid;		/* never reused, kept by a reload */
	uint32_t	 p_source;
	uint32_t	 p_mission;
	void		*p_line;	/* backend's handle */
	struct event	*p_ev;		/* backend's edge event, if any */
	int		 p_level;	/* sim: electrical level of an input */
	uint32_t	 p_holder;	/* mission holding it, 0 if none */
	struct event	*p_debounce;	/* debounce window, lazily made */
	int		 p_bouncing;	/* inside a debounce window */
	int		 p_watched;	/* the worker is sent its events */
	uint64_t	 p_wsent;	/* seq of the last one the worker was sent */
};

#define HELPER_NICE	(-10)	/* as root: helper and worker before wsd */

enum child_role {
	CHILD_WSD,
	CHILD_WORKER,
	CHILD_MAX
};

struct helper_env {
	struct gpiows_conf *h_conf;
	char		*h_conf_abs;	/* its file, absolute, for reloads */
	struct event_base *h_base;
	struct chip	**h_chips;
	unsigned int	 h_nchips;
	struct pin	**h_pins;	/* in the order of the file */
	unsigned int	 h_npins;
	uint32_t	 h_generation;	/* of the pin table: +1 per reload */
	uint64_t	 h_next_uid;	/* of the next pin made */
	uint64_t	 h_seq;		/* last seq assigned */
	uint64_t	 h_boot;	/* start time, us: tells children of a restart */
	int		 h_store_fd;	/* the worker's place store, kept across its deaths */
	/* The last events, for clients that resume (a ring). */
	struct ipc_pin_event *h_hist;
	struct hist_at	*h_hist_at;	/* of each: for watches */
	size_t		 h_hist_size;
	size_t		 h_hist_len;
	size_t		 h_hist_head;	/* where the next one goes */
	int		 h_foreground;
	int		 h_verbose;
	int		 h_drop;	/* started as root: children drop to h_uid */
	uid_t		 h_uid;
	gid_t		 h_gid;
	const char	*h_child_path[CHILD_MAX];
	int		*h_listen_fds;
	struct ipc_listener *h_listen_info;
	unsigned int	 h_nlisten;
	int		 h_stopping;
};

extern struct helper_env *env;

/* pins.c */
int	pins_setup(struct helper_env *, char *err, size_t errlen);
void	pins_reload(struct helper_env *, struct gpiows_conf *);
void	pins_safe(struct helper_env *);
void	pins_release(struct helper_env *);
struct pin *pins_get(unsigned int index);
/* pins_change: record a new value and tell every child. Returns its seq. */
uint64_t pins_change(struct pin *, int value, uint64_t ts_us, uint32_t source,
	    uint32_t mission);
/* pins_edge: an input changed (backend callback); ts in us since the epoch. */
void	pins_edge(struct pin *, int value, uint64_t ts_us);
/*
 * pins_replay: call cb, oldest first, for the changes of p recorded at or
 * after since (CLOCK_MONOTONIC us) that the worker has not been sent.
 */
void	pins_replay(struct pin *, uint64_t since,
	    void (*cb)(const struct ipc_pin_event *, void *), void *arg);
void	pins_fill_info(const struct pin *, struct ipc_pin_info *);
/* pins_fill_event: p's last change as an IPC_PIN_EVENT. */
void	pins_fill_event(const struct pin *, struct ipc_pin_event *);
/*
 * pins_history: call cb for the kept events with a seq above since, up to
 * max of them (0: all), but those of pins a reload removed; indexes are the
 * current table's.  *last: the seq of the last event looked at (since if
 * none); *more: 1 if max stopped it before the end.
 */
int	pins_history(uint64_t since, uint32_t max,
	    void (*cb)(const struct ipc_pin_event *, void *), void *arg,
	    uint64_t *oldest, uint64_t *last, int *more);

/* proc.c */
void	proc_init(void);
void	proc_start_all(void);
void	proc_stop_all(void);
/* proc_broadcast: send a message to every running child. */
void	proc_broadcast(uint16_t type, const void *data, size_t len);
/* proc_pin_event: a change of p, to wsd, and to the worker if it watches p. */
void	proc_pin_event(struct pin *, const struct ipc_pin_event *);
/* proc_send_tables: the (reloaded) pin table to every running child. */
void	proc_send_tables(void);
int	proc_running(void);
void	proc_cleanup(void);

#endif
