/*
 * The mission engine.  A mission waits in "queued" until no other mission
 * holds an output it sets, then holds those outputs in the helper (clients
 * get "busy") and runs its steps one at a time: set and toggle go to the
 * helper and the next step waits for the answer; sleep and wait are timers
 * and pin events.  Missions on disjoint pins run side by side.
 *
 * Every set or toggle is numbered, 1, 2, ... in the order the steps run, and
 * the helper applies each number once.  The journal records where a mission
 * is once the step it waits on has started (in the place store the helper
 * holds, journal.c); a worker killed at any point comes back at that point
 * or the one before, runs the steps from there with the same numbers, and
 * the helper answers those it has applied without applying them again: no
 * pin changes twice, none is lost.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "worker.h"

#define MISSION_KEEP_ENDED	50	/* finished missions kept in the list */
#define MISSION_PROGRESS_US	100000	/* progress events: 10 a second at most */

enum wreq_kind {
	WREQ_STEP,		/* a set or toggle step */
	WREQ_HOLD,
	WREQ_SAFE,		/* a safe value on cancel or interruption */
	WREQ_END
};

/* A request to the helper awaiting its answer. */
struct wreq {
	TAILQ_ENTRY(wreq)	 r_entry;
	uint32_t		 r_id;
	uint32_t		 r_mission;
	enum wreq_kind		 r_kind;
};
static TAILQ_HEAD(, wreq) wreqs = TAILQ_HEAD_INITIALIZER(wreqs);

static const char *const state_names[] = {
	"queued", "running", "done", "failed", "cancelled", "interrupted"
};

static void	mission_run(struct mission *);
static void	mission_journal(struct mission *);

/* Written before anything else happens: a change that must not be lost. */
static void
mission_journal_now(struct mission *m)
{
	m->m_dirty = 0;
	journal_write(m);
}
static void	mission_finish(struct mission *, enum mstate, const char *);
static void	mission_schedule(void);
static void	mission_event(struct mission *);
static void	mission_watch_dirty(void);
static void	mission_unwait(struct mission *);

/* A mission's name for the log: a client chose it, so printable only. */
static const char *
lname(const struct mission *m)
{
	static char	 buf[MISSION_NAME_MAX + 1];
	const char	*s = m->m_spec.m_name ? m->m_spec.m_name : "";
	size_t		 i;

	for (i = 0; s[i] != '\0' && i < sizeof(buf) - 1; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' :
		    s[i];
	buf[i] = '\0';
	return buf;
}

static struct mission *
mission_find(uint32_t id)
{
	struct mission	*m;

	TAILQ_FOREACH(m, &kenv->k_missions, m_entry)
		if (m->m_id == id)
			return m;
	return NULL;
}

static int
pins_lookup(void *arg, const char *name, int *output, int *edge)
{
	const struct ipc_pin_info *pi = worker_pin(name);

	if (pi == NULL)
		return 0;
	*output = (pi->flags & IPC_PIN_OUTPUT) != 0;
	*edge = (int)pi->edge;
	return 1;
}

static const struct mission_pins mission_pin_table = { pins_lookup, NULL };

/* Steps in all, for progress; saturates far below where doubles lose 1s. */
static uint64_t
steps_total(const struct step *s, size_t n)
{
	uint64_t	 t = 0, sub;
	size_t		 i;

	for (i = 0; i < n; i++) {
		if (s[i].s_kind != STEP_REPEAT) {
			t++;
			continue;
		}
		/* Its steps count times, and the repeat itself once. */
		sub = steps_total(s[i].s_steps, s[i].s_nsteps);
		if (sub > (UINT64_C(1) << 52) / s[i].s_count)
			return UINT64_C(1) << 52;
		t += sub * s[i].s_count + 1;
	}
	return t < (UINT64_C(1) << 52) ? t : UINT64_C(1) << 52;
}

static json_t *
mission_json(const struct mission *m)
{
	json_t	*j, *pins, *step, *iter;
	size_t	 i;
	int	 d;

	pins = json_array();
	for (i = 0; i < m->m_nout; i++)
		json_array_append_new(pins, json_string(m->m_out[i]));
	step = json_array();
	iter = json_array();
	for (d = 0; d < m->m_depth; d++) {
		json_array_append_new(step, json_integer(
		    (json_int_t)m->m_stack[d].f_i));
		if (d > 0)
			json_array_append_new(iter, json_integer(
			    (json_int_t)m->m_stack[d].f_iter));
	}
	j = json_pack("{s:I, s:s, s:s, s:o, s:I, s:I, s:o, s:o, s:s, s:I}",
	    "id", (json_int_t)m->m_id,
	    "name", m->m_spec.m_name ? m->m_spec.m_name : "",
	    "state", state_names[m->m_state],
	    "pins", pins,
	    "done", (json_int_t)m->m_done,
	    "total", (json_int_t)m->m_total,
	    "step", step,
	    "iteration", iter,
	    "on_cancel", m->m_spec.m_on_cancel == ON_CANCEL_HOLD ? "hold" :
	    "safe",
	    "created", (json_int_t)m->m_created);
	if (j == NULL)
		return NULL;
	if (m->m_started)
		json_object_set_new(j, "started",
		    json_integer((json_int_t)m->m_started));
	if (m->m_ended)
		json_object_set_new(j, "ended",
		    json_integer((json_int_t)m->m_ended));
	if (m->m_error[0] != '\0')
		json_object_set_new(j, "error", json_string(m->m_error));
	return j;
}

/*
 * Every mission, oldest first; if they do not fit one IPC message, the
 * oldest ended ones are left out.
 */
json_t *
mission_list_json(void)
{
	struct mission	*m;
	json_t		*a = json_array(), *o;
	size_t		 i;
	char		*s;

	TAILQ_FOREACH(m, &kenv->k_missions, m_entry)
		json_array_append_new(a, mission_json(m));
	while ((s = json_dumps(a, JSON_COMPACT)) != NULL &&
	    strlen(s) >= IPC_MAX_PAYLOAD) {
		free(s);
		json_array_foreach(a, i, o)
			if (json_object_get(o, "ended") != NULL)
				break;
		if (i == json_array_size(a))
			i = 0;
		json_array_remove(a, i);
	}
	free(s);
	return a;
}

/* Every change of state and every step done, to wsd, for every client. */
static void
mission_event(struct mission *m)
{
	json_t	*j = mission_json(m);
	char	*s;

	if (j == NULL || (s = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return;
	}
	worker_wsd_send(IPC_MISSION_EVENT, 0, s);
	free(s);
	json_decref(j);
	m->m_done_sent = m->m_done;
	m->m_state_sent = m->m_state;
	m->m_event_sent = 1;
	m->m_progress_sent = real_us();
}

/*
 * Progress (steps done) goes out at most every MISSION_PROGRESS_US: a fast
 * blink must not cost every client two messages per step.  Changes of state
 * always go out at once (mission_event).
 */
static void
mission_progress(struct mission *m)
{
	uint64_t	 now = real_us(), left;
	struct timeval	 tv;

	if (m->m_state == m->m_state_sent && m->m_event_sent &&
	    m->m_done == m->m_done_sent)
		return;
	if (m->m_state == m->m_state_sent && m->m_event_sent &&
	    now - m->m_progress_sent < MISSION_PROGRESS_US) {
		/* Later, so that the last progress before a long step shows. */
		if (!evtimer_pending(m->m_progress_timer, NULL)) {
			left = MISSION_PROGRESS_US - (now - m->m_progress_sent);
			tv.tv_sec = 0;
			tv.tv_usec = (suseconds_t)left;
			evtimer_add(m->m_progress_timer, &tv);
		}
		return;
	}
	mission_event(m);
}

/*
 * A change of state that need not be on disk before anything else happens
 * is written at the next quiet moment: a low-priority event, after the
 * timers and replies of this turn of the loop.
 */
static struct event	*ev_journal;
static struct event	*ev_watch;
static struct event	*ev_prune;	/* mission_prune_cb */
static uint8_t		*watching;	/* per pin: the helper was told to */
static uint64_t		*watch_since;

static void
mission_journal(struct mission *m)
{
	m->m_dirty = 1;
	event_active(ev_journal, EV_TIMEOUT, 0);
}

static void
mission_journal_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mission	*m;

	TAILQ_FOREACH(m, &kenv->k_missions, m_entry)
		if (m->m_dirty)
			mission_journal_now(m);
}

static void
mission_progress_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mission	*m = arg;

	if (m->m_state == M_RUNNING && m->m_done != m->m_done_sent)
		mission_event(m);
}

static void
mission_free(struct mission *m)
{
	if (m->m_timer != NULL)
		event_free(m->m_timer);
	if (m->m_progress_timer != NULL)
		event_free(m->m_progress_timer);
	mission_spec_free(&m->m_spec);
	json_decref(m->m_json);
	free(m->m_out);
	free(m);
}

static void
wreq_add(uint32_t id, uint32_t mission, enum wreq_kind kind)
{
	struct wreq	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("calloc");
	r->r_id = id;
	r->r_mission = mission;
	r->r_kind = kind;
	TAILQ_INSERT_TAIL(&wreqs, r, r_entry);
}

static int
pin_req(struct mission *m, uint16_t type, const char *pin, int value,
    uint32_t step, enum wreq_kind kind)
{
	const struct ipc_pin_info *pi = worker_pin(pin);
	struct ipc_pin_req	 req;
	uint32_t		 id;

	if (pi == NULL)
		return -1;
	memset(&req, 0, sizeof(req));
	req.index = pi->index;
	req.value = value;
	req.source = IPC_SRC_MISSION;
	req.mission = m->m_id;
	req.generation = kenv->k_generation;
	req.step = step;
	worker_helper_send(type, &req, sizeof(req), &id);
	wreq_add(id, m->m_id, kind);
	return 0;
}

/*
 * Send the step the mission is at, a set or a toggle, with number m_step
 * (again, after a worker restart or a reload: the helper applies it once).
 * A pin gone from the table fails the mission.
 */
static int
step_send(struct mission *m)
{
	struct frame		*f = &m->m_stack[m->m_depth - 1];
	const struct step	*s = &f->f_steps[f->f_i];

	if (pin_req(m, s->s_kind == STEP_SET ? IPC_PIN_SET : IPC_PIN_TOGGLE,
	    s->s_pin, s->s_value, m->m_step, WREQ_STEP) == 0)
		return 0;
	m->m_inflight = 0;
	mission_finish(m, M_FAILED, "a pin it uses no longer exists");
	return -1;
}

/* Ask the helper to hold pi for m; kind says what its answer is for. */
static void
hold_send(struct mission *m, const struct ipc_pin_info *pi,
    enum wreq_kind kind)
{
	struct ipc_hold	 h;
	uint32_t	 id;

	memset(&h, 0, sizeof(h));
	h.mission = m->m_id;
	h.index = pi->index;
	h.generation = kenv->k_generation;
	h.hold = 1;
	worker_helper_send(IPC_PIN_HOLD, &h, sizeof(h), &id);
	wreq_add(id, m->m_id, kind);
}

static void
mission_end_request(struct mission *m)
{
	struct ipc_mission_end	 me;
	uint32_t		 id;

	memset(&me, 0, sizeof(me));
	me.mission = m->m_id;
	worker_helper_send(IPC_MISSION_END, &me, sizeof(me), &id);
	wreq_add(id, m->m_id, WREQ_END);
	m->m_holding = 0;
}

/*
 * Forget the oldest finished missions past MISSION_KEEP_ENDED: at the end
 * of the loop's turn (ev_prune), never inside a walk of the list.  A
 * mission finished in a walk (mission_schedule, mission_pin_event,
 * mission_resume) may be the one pruned, or the next in the walk.
 */
static void
mission_prune_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mission	*m, *oldest;
	unsigned int	 ended = 0;

	TAILQ_FOREACH(m, &kenv->k_missions, m_entry)
		if (m->m_state >= M_DONE)
			ended++;
	/* The list is in the order missions came: the oldest ended by time. */
	for (; ended > MISSION_KEEP_ENDED; ended--) {
		oldest = NULL;
		TAILQ_FOREACH(m, &kenv->k_missions, m_entry)
			if (m->m_state >= M_DONE && (oldest == NULL ||
			    m->m_ended < oldest->m_ended))
				oldest = m;
		TAILQ_REMOVE(&kenv->k_missions, oldest, m_entry);
		journal_remove(oldest->m_id);
		mission_free(oldest);
	}
}

static void
mission_finish(struct mission *m, enum mstate state, const char *error)
{
	if (m->m_timer != NULL)
		evtimer_del(m->m_timer);
	mission_unwait(m);
	m->m_sleep_until = 0;
	m->m_state = state;
	m->m_ended = real_us();
	if (error != NULL && error != m->m_error)
		snprintf(m->m_error, sizeof(m->m_error), "%s", error);
	/*
	 * On disk before the helper forgets its step numbers: a worker killed
	 * in between must not find it running and replay steps.
	 */
	mission_journal_now(m);
	journal_place_forget(m);
	if (m->m_holding || m->m_holds > 0)
		mission_end_request(m);
	log_info("mission %u (%s): %s%s%s", m->m_id, lname(m),
	    state_names[state], error ? ": " : "", error ? error : "");
	mission_event(m);
	event_active(ev_prune, EV_TIMEOUT, 0);
	mission_schedule();
}

/*
 * Cancel or interruption: what is in flight finishes first, then the held
 * outputs go to their safe values (on_cancel "safe", or always after the
 * helper restarted), then the holds go.
 */
static void
mission_wind_down(struct mission *m)
{
	const struct ipc_pin_info *pi;
	size_t		 i;
	int		 safe = m->m_spec.m_on_cancel == ON_CANCEL_SAFE ||
			    m->m_cancel_to == M_INTERRUPTED;

	if (m->m_inflight || m->m_holds > 0 || m->m_safe_left > 0)
		return;
	if (m->m_timer != NULL)
		evtimer_del(m->m_timer);
	mission_unwait(m);
	/*
	 * Cancelled while its holds were being taken, before its first step:
	 * it never ran, so, as for a queued mission, nothing goes to a safe
	 * value (m_started is set once the holds are in, or from the journal).
	 */
	if (m->m_started == 0 && m->m_cancel_to == M_CANCELLED)
		safe = 0;
	if (safe && m->m_state == M_RUNNING) {
		for (i = 0; i < m->m_nout; i++) {
			if ((pi = worker_pin(m->m_out[i])) == NULL ||
			    pi->safe < 0)
				continue;
			/*
			 * Unnumbered: a safe value is the same however often it
			 * is set, and a restarted worker's step count may be
			 * behind the helper's, which would take it for a step
			 * already done.
			 */
			if (pin_req(m, IPC_PIN_SET, m->m_out[i], pi->safe, 0,
			    WREQ_SAFE) == 0)
				m->m_safe_left++;
		}
		if (m->m_safe_left > 0) {
			m->m_state = M_RUNNING;
			return;
		}
	}
	mission_finish(m, m->m_cancel_to, m->m_cancel_to == M_CANCELLED ?
	    NULL : m->m_error[0] ? m->m_error : "interrupted");
}

static void
mission_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mission	*m = arg;
	struct frame	*f = &m->m_stack[m->m_depth - 1];
	const struct step *s = &f->f_steps[f->f_i];
	char		 err[256];

	if (m->m_state != M_RUNNING || m->m_cancel)
		return;
	if (m->m_waiting) {
		mission_unwait(m);
		if (!s->s_continue) {
			snprintf(err, sizeof(err), "no %s edge on \"%s\" within "
			    "%u ms", s->s_edge == 1 ? "rising" : s->s_edge == 2 ?
			    "falling" : "rising or falling", s->s_pin,
			    s->s_timeout_ms);
			mission_finish(m, M_FAILED, err);
			return;
		}
	}
	m->m_sleep_until = 0;
	f->f_i++;
	m->m_done++;
	mission_run(m);
}

static void
mission_arm(struct mission *m, uint64_t until_us)
{
	uint64_t	 now = real_us(), left;
	struct timeval	 tv;

	left = until_us > now ? until_us - now : 0;
	tv.tv_sec = (time_t)(left / 1000000);
	tv.tv_usec = (suseconds_t)(left % 1000000);
	evtimer_add(m->m_timer, &tv);
}

/* Run steps until one has to wait (an answer, a timer, an edge). */
static void
mission_run(struct mission *m)
{
	struct frame	*f;
	const struct step *s;

	while (m->m_state == M_RUNNING && !m->m_cancel) {
		f = &m->m_stack[m->m_depth - 1];
		if (f->f_i >= f->f_n) {
			if (m->m_depth == 1) {
				mission_finish(m, M_DONE, NULL);
				return;
			}
			if (++f->f_iter < f->f_count) {
				f->f_i = 0;
				continue;
			}
			m->m_depth--;
			m->m_stack[m->m_depth - 1].f_i++;
			m->m_done++;		/* the repeat step itself */
			continue;
		}
		s = &f->f_steps[f->f_i];
		switch (s->s_kind) {
		case STEP_REPEAT:
			if (m->m_depth > MISSION_MAX_DEPTH)
				fatalx("mission %u: repeats too deep", m->m_id);
			m->m_stack[m->m_depth].f_steps = s->s_steps;
			m->m_stack[m->m_depth].f_n = s->s_nsteps;
			m->m_stack[m->m_depth].f_i = 0;
			m->m_stack[m->m_depth].f_iter = 0;
			m->m_stack[m->m_depth].f_count = s->s_count;
			m->m_depth++;
			continue;
		case STEP_SET:
		case STEP_TOGGLE:
			m->m_step++;
			m->m_inflight = 1;
			if (step_send(m) == -1)
				return;
			break;
		case STEP_SLEEP:
			if (m->m_sleep_until == 0)
				m->m_sleep_until = real_us() +
				    (uint64_t)s->s_ms * 1000;
			mission_arm(m, m->m_sleep_until);
			break;
		case STEP_WAIT:
			if (worker_pin(s->s_pin) == NULL) {
				mission_finish(m, M_FAILED,
				    "a pin it uses no longer exists");
				return;
			}
			m->m_waiting = 1;
			m->m_wait_since = mono_us();
			mission_watch_dirty();
			mission_arm(m, real_us() +
			    (uint64_t)s->s_timeout_ms * 1000);
			break;
		}
		break;
	}
	if (m->m_state == M_RUNNING) {
		journal_place(m);
		mission_progress(m);
	}
}

/* A step is done: the next one. */
static void
mission_advance(struct mission *m)
{
	m->m_stack[m->m_depth - 1].f_i++;
	m->m_done++;
	mission_run(m);
}

static int
mission_conflicts(const struct mission *m)
{
	const struct mission	*o;
	const struct ipc_pin_info *pi;
	size_t			 i, j;

	for (i = 0; i < m->m_nout; i++) {
		/* Held in the helper by a mission of an earlier run? */
		if ((pi = worker_pin(m->m_out[i])) != NULL &&
		    pi->holder != 0 && pi->holder != m->m_id)
			return 1;
		TAILQ_FOREACH(o, &kenv->k_missions, m_entry) {
			if (o == m || o->m_state != M_RUNNING)
				continue;
			for (j = 0; j < o->m_nout; j++)
				if (strcmp(o->m_out[j], m->m_out[i]) == 0)
					return 1;
		}
	}
	return 0;
}

static void
mission_hold(struct mission *m)
{
	const struct ipc_pin_info *pi;
	size_t			 i;

	m->m_state = M_RUNNING;
	m->m_holds = 0;
	/*
	 * On disk before any step can run: a worker that dies from here on
	 * must find it running (to resume it, or interrupt it), not queued.
	 */
	mission_journal_now(m);
	for (i = 0; i < m->m_nout; i++) {
		if ((pi = worker_pin(m->m_out[i])) == NULL)
			continue;
		hold_send(m, pi, WREQ_HOLD);
		m->m_holds++;
	}
	if (m->m_holds == 0)
		goto go;
	m->m_holding = 1;
	return;
go:
	if (m->m_started == 0)
		m->m_started = real_us();
	mission_run(m);
}

/* Start what can start, oldest first. */
static void
mission_schedule(void)
{
	struct mission	*m;

	if (!kenv->k_ready)
		return;
	TAILQ_FOREACH(m, &kenv->k_missions, m_entry)
		if (m->m_state == M_QUEUED && !mission_conflicts(m)) {
			log_info("mission %u (%s): running", m->m_id,
			    lname(m));
			mission_hold(m);
		}
}

static struct mission *
mission_new(uint32_t id, json_t *spec_json, char *err, size_t errlen)
{
	struct mission	*m;
	size_t		 n;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (mission_parse(spec_json, &mission_pin_table, &m->m_spec, err,
	    errlen) == -1) {
		free(m);
		return NULL;
	}
	m->m_id = id;
	m->m_json = json_incref(spec_json);
	/* Every output of the table at most: none can be left unheld. */
	if ((m->m_out = calloc(kenv->k_npins + 1, sizeof(*m->m_out))) == NULL)
		fatal("calloc");
	n = mission_outputs(&m->m_spec, m->m_out, kenv->k_npins + 1);
	m->m_nout = n;
	m->m_total = steps_total(m->m_spec.m_steps, m->m_spec.m_nsteps);
	m->m_stack[0].f_steps = m->m_spec.m_steps;
	m->m_stack[0].f_n = m->m_spec.m_nsteps;
	m->m_stack[0].f_count = 1;
	m->m_depth = 1;
	m->m_boot = kenv->k_boot;
	if ((m->m_timer = evtimer_new(kenv->k_base, mission_timer_cb,
	    m)) == NULL || (m->m_progress_timer = evtimer_new(kenv->k_base,
	    mission_progress_cb, m)) == NULL)
		fatalx("evtimer_new");
	return m;
}

static void
mission_reply(uint32_t id, json_t *reply)
{
	char	*s;

	if (reply == NULL || (s = json_dumps(reply, JSON_COMPACT)) == NULL)
		fatalx("cannot encode a mission reply");
	worker_wsd_send(IPC_MISSION_REPLY, id, s);
	free(s);
	json_decref(reply);
}

void
mission_start_request(uint32_t id, const char *data, size_t len)
{
	struct mission	*m;
	json_error_t	 jerr;
	json_t		*j;
	char		 err[256];

	if (!kenv->k_ready) {
		mission_reply(id, json_pack("{s:b, s:{s:s, s:s}}", "ok", 0,
		    "error", "code", "unavailable", "message",
		    "the worker is starting; try again"));
		return;
	}
	{
		struct mission	*o;
		int		 active = 0;

		TAILQ_FOREACH(o, &kenv->k_missions, m_entry)
			if (o->m_state < M_DONE)
				active++;
		if (active >= MISSION_MAX_ACTIVE) {
			mission_reply(id, json_pack("{s:b, s:{s:s, s:s}}",
			    "ok", 0, "error", "code", "too_many", "message",
			    "64 missions are queued or running already"));
			return;
		}
	}
	if ((j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		mission_reply(id, json_pack("{s:b, s:{s:s, s:s}}", "ok", 0,
		    "error", "code", "bad_mission", "message", jerr.text));
		return;
	}
	if ((m = mission_new(kenv->k_next_id, j, err, sizeof(err))) == NULL) {
		json_decref(j);
		mission_reply(id, json_pack("{s:b, s:{s:s, s:s}}", "ok", 0,
		    "error", "code", "bad_mission", "message", err));
		return;
	}
	json_decref(j);
	kenv->k_next_id++;
	m->m_created = real_us();
	m->m_state = M_QUEUED;
	TAILQ_INSERT_TAIL(&kenv->k_missions, m, m_entry);
	journal_write(m);
	log_info("mission %u (%s): queued", m->m_id, lname(m));
	mission_reply(id, json_pack("{s:b, s:I}", "ok", 1, "mission",
	    (json_int_t)m->m_id));
	mission_event(m);
	mission_schedule();
}

void
mission_cancel_request(uint32_t id, uint32_t mission)
{
	struct mission	*m = mission_find(mission);

	if (m == NULL) {
		mission_reply(id, json_pack("{s:b, s:{s:s, s:s}}", "ok", 0,
		    "error", "code", "unknown_mission", "message",
		    "no such mission"));
		return;
	}
	if (m->m_state >= M_DONE) {
		mission_reply(id, json_pack("{s:b, s:{s:s, s:s}}", "ok", 0,
		    "error", "code", "not_running", "message",
		    "the mission has already ended"));
		return;
	}
	/* On disk before the client is told: a worker killed after the
	 * answer still cancels it. */
	if (m->m_state == M_QUEUED) {
		mission_finish(m, M_CANCELLED, NULL);
		mission_reply(id, json_pack("{s:b, s:I}", "ok", 1, "mission",
		    (json_int_t)mission));
		return;
	}
	if (!m->m_cancel) {
		m->m_cancel = 1;
		m->m_cancel_to = M_CANCELLED;
		mission_journal_now(m);
	}
	mission_reply(id, json_pack("{s:b, s:I}", "ok", 1, "mission",
	    (json_int_t)m->m_id));
	mission_wind_down(m);
}

void
mission_helper_reply(uint32_t id, const struct ipc_reply *rep)
{
	struct wreq	*r;
	struct mission	*m;
	char		 err[256];

	TAILQ_FOREACH(r, &wreqs, r_entry)
		if (r->r_id == id)
			break;
	if (r == NULL) {
		log_warnx("helper answered unknown request %u", id);
		return;
	}
	TAILQ_REMOVE(&wreqs, r, r_entry);
	m = mission_find(r->r_mission);
	if (m == NULL || (m->m_state >= M_DONE && r->r_kind != WREQ_END)) {
		free(r);
		return;
	}
	switch (r->r_kind) {
	case WREQ_HOLD:
		m->m_holds--;
		if (rep->error != IPC_OK) {
			log_debug("mission %u: hold refused (%s)", m->m_id,
			    ipc_errcode(rep->error));
			m->m_hold_refused = 1;
		}
		if (m->m_holds > 0)
			break;
		if (m->m_hold_refused) {
			/* Another holds one of its pins (a mission of an
			 * earlier worker): let go of all and queue again. */
			m->m_hold_refused = 0;
			mission_end_request(m);
			m->m_state = M_QUEUED;
			mission_journal(m);
			mission_event(m);
			break;
		}
		if (m->m_cancel) {
			mission_wind_down(m);
			break;
		}
		if (m->m_state != M_RUNNING)
			break;
		if (m->m_started == 0)
			m->m_started = real_us();
		if (m->m_inflight) {
			/* Resumed with a step in flight: the same number again. */
			mission_journal(m);
			if (step_send(m) == 0)
				mission_event(m);
			break;
		}
		mission_run(m);
		break;
	case WREQ_STEP:
		if (rep->error == IPC_E_STALE) {
			/* The table was reloaded under us: same step again. */
			step_send(m);
			break;
		}
		m->m_inflight = 0;
		if (m->m_cancel) {
			mission_wind_down(m);
			break;
		}
		if (rep->error != IPC_OK) {
			struct frame *f = &m->m_stack[m->m_depth - 1];

			snprintf(err, sizeof(err), "pin \"%s\": %s",
			    f->f_steps[f->f_i].s_pin, ipc_errcode(rep->error));
			mission_finish(m, M_FAILED, err);
			break;
		}
		mission_advance(m);
		break;
	case WREQ_SAFE:
		if (--m->m_safe_left == 0) {
			m->m_cancel = 1;
			mission_finish(m, m->m_cancel_to,
			    m->m_cancel_to == M_CANCELLED ? NULL :
			    m->m_error[0] ? m->m_error : "interrupted");
		}
		break;
	case WREQ_END:
		break;
	}
	free(r);
}

void
mission_pin_event(const struct ipc_pin_event *ev)
{
	struct mission	*m, *tmp;
	struct frame	*f;
	const struct step *s;
	int		 edge = ev->value ? 1 : 2;

	TAILQ_FOREACH_SAFE(m, &kenv->k_missions, m_entry, tmp) {
		if (m->m_state != M_RUNNING || !m->m_waiting || m->m_cancel)
			continue;
		/*
		 * A watch replays the pin's changes from the start of the
		 * pin's earliest wait: those before this wait began are not
		 * its edges.
		 */
		if (ev->mono < m->m_wait_since)
			continue;
		f = &m->m_stack[m->m_depth - 1];
		s = &f->f_steps[f->f_i];
		if (strcmp(kenv->k_pins[ev->index].name, s->s_pin) != 0 ||
		    (s->s_edge & edge) == 0)
			continue;
		evtimer_del(m->m_timer);
		mission_unwait(m);
		mission_advance(m);
	}
}

void
mission_holder(const struct ipc_pin_holder *ph)
{
	if (ph->holder == 0)
		mission_schedule();
}

/*
 * A reload: a pin it holds may have been changed (a new line request, not
 * held) and must be held again; missions whose pins are gone fail at their
 * next use of them.
 */
void
mission_pins_changed(void)
{
	const struct ipc_pin_info *pi;
	struct mission		*m;
	size_t			 i;

	TAILQ_FOREACH(m, &kenv->k_missions, m_entry) {
		if (m->m_state != M_RUNNING || !m->m_holding)
			continue;
		for (i = 0; i < m->m_nout; i++) {
			if ((pi = worker_pin(m->m_out[i])) == NULL ||
			    pi->holder == m->m_id)
				continue;
			hold_send(m, pi, WREQ_END);	/* answer unused */
		}
	}
	mission_schedule();
}

/* ------------------------------------------------------------ edge watches */

/*
 * The helper sends the worker the events of the pins it watches, not every
 * change (each would wake it).  Which pins those are is worked out after
 * the callback that started or ended waits: a mission that waits on the
 * same pin again at once costs no message.  A watch names
 * when its first wait began, and the helper sends what it has recorded on
 * the pin since then first.
 */
static void
mission_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	const struct ipc_pin_info *pi;
	const struct frame *f;
	struct mission	*m;
	struct ipc_watch w;
	unsigned int	 i;
	uint32_t	 reqid;

	if (watching == NULL)
		return;
	memset(watch_since, 0, kenv->k_npins * sizeof(*watch_since));
	TAILQ_FOREACH(m, &kenv->k_missions, m_entry) {
		if (m->m_state != M_RUNNING || !m->m_waiting)
			continue;
		f = &m->m_stack[m->m_depth - 1];
		if ((pi = worker_pin(f->f_steps[f->f_i].s_pin)) == NULL)
			continue;
		if (watch_since[pi->index] == 0 ||
		    m->m_wait_since < watch_since[pi->index])
			watch_since[pi->index] = m->m_wait_since;
	}
	for (i = 0; i < kenv->k_npins; i++) {
		if ((watch_since[i] != 0) == watching[i])
			continue;
		memset(&w, 0, sizeof(w));
		w.index = i;
		w.generation = kenv->k_generation;
		w.watch = watch_since[i] != 0;
		w.since = watch_since[i];
		worker_helper_send(IPC_PIN_WATCH, &w, sizeof(w), &reqid);
		watching[i] = (uint8_t)w.watch;
	}
}

static void
mission_watch_dirty(void)
{
	event_active(ev_watch, EV_TIMEOUT, 0);
}

/* m waits no more: the pins watched may change (mission_watch_cb). */
static void
mission_unwait(struct mission *m)
{
	if (m->m_waiting) {
		m->m_waiting = 0;
		mission_watch_dirty();
	}
}

void
mission_watch_reset(void)
{
	free(watching);
	free(watch_since);
	if ((watching = calloc(kenv->k_npins + 1, sizeof(*watching))) == NULL ||
	    (watch_since = calloc(kenv->k_npins + 1,
	    sizeof(*watch_since))) == NULL)
		fatal("calloc");
	mission_watch_dirty();
}

/* ------------------------------------------------------------ the journal */

static enum mstate
state_from(const char *s)
{
	int	 i;

	for (i = 0; i <= M_INTERRUPTED; i++)
		if (s != NULL && strcmp(s, state_names[i]) == 0)
			return (enum mstate)i;
	return M_INTERRUPTED;
}

/* Put a journalled mission back where it was, checking every index. */
static int
mission_restore_stack(struct mission *m, json_t *stack)
{
	const struct step *s;
	json_t		*e;
	size_t		 i, n = json_array_size(stack);

	if (n < 1 || n > MISSION_MAX_DEPTH + 1)
		return -1;
	m->m_depth = 1;
	for (i = 0; i < n; i++) {
		struct frame *f = &m->m_stack[i];
		json_int_t fi, it;

		e = json_array_get(stack, i);
		if (json_unpack(e, "[I, I]", &fi, &it) == -1 || fi < 0 ||
		    it < 0 || (size_t)fi > f->f_n || (uint32_t)it >= f->f_count)
			return -1;
		f->f_i = (size_t)fi;
		f->f_iter = (uint32_t)it;
		if (i + 1 < n) {
			if (f->f_i >= f->f_n)
				return -1;
			s = &f->f_steps[f->f_i];
			if (s->s_kind != STEP_REPEAT)
				return -1;
			m->m_stack[i + 1].f_steps = s->s_steps;
			m->m_stack[i + 1].f_n = s->s_nsteps;
			m->m_stack[i + 1].f_count = s->s_count;
			m->m_depth++;
		}
	}
	return 0;
}

static void
mission_load_one(json_t *j, void *arg)
{
	struct mission	*m;
	json_t		*spec, *stack, *place;
	json_int_t	 id, step, done, boot, created, started, ended, until;
	const char	*state, *error = "";
	int		 inflight, cancel = 0, placed = 0;
	char		 err[256];

	if (json_unpack(j, "{s:I, s:o, s:s, s:o, s:I, s:b, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s?s, s?b}", "id", &id, "mission", &spec, "state",
	    &state, "stack", &stack, "step", &step, "inflight", &inflight,
	    "done", &done, "boot", &boot, "created", &created, "started",
	    &started, "ended", &ended, "sleep_until", &until, "error", &error,
	    "cancel", &cancel) == -1 ||
	    id <= 0 || id > UINT32_MAX || step < 0 || step > UINT32_MAX) {
		log_warnx("journal: a mission entry is malformed: ignored");
		return;
	}
	if ((m = mission_new((uint32_t)id, spec, err, sizeof(err))) == NULL) {
		struct ipc_mission_end	 me;
		uint32_t		 rid;

		log_warnx("journal: mission %lld no longer valid: %s",
		    (long long)id, err);
		/* Whatever it held in the helper is free; its id stays used. */
		memset(&me, 0, sizeof(me));
		me.mission = (uint32_t)id;
		worker_helper_send(IPC_MISSION_END, &me, sizeof(me), &rid);
		if ((uint32_t)id >= kenv->k_next_id)
			kenv->k_next_id = (uint32_t)id + 1;
		return;
	}
	/*
	 * A running one goes on from the place the last worker noted, if it
	 * is sound; the file's is where it began running.
	 */
	if (strcmp(state, "running") == 0 && (place = journal_place_json(
	    (uint32_t)id, (uint64_t)created, (uint64_t)boot, (uint32_t)step,
	    (uint64_t)done)) != NULL) {
		json_t		*pstack;
		json_int_t	 pstep, pdone, puntil;
		int		 pinflight;

		if (json_unpack(place, "{s:o, s:I, s:b, s:I, s:I}", "stack",
		    &pstack, "step", &pstep, "inflight", &pinflight, "done",
		    &pdone, "sleep_until", &puntil) == 0 &&
		    mission_restore_stack(m, pstack) == 0) {
			placed = 1;
			step = pstep;
			inflight = pinflight;
			done = pdone;
			until = puntil;
		} else
			log_warnx("journal: mission %u: its noted place is "
			    "malformed: it goes on from its file's", m->m_id);
		json_decref(place);
	}
	m->m_state = state_from(state);
	m->m_step = (uint32_t)step;
	m->m_inflight = inflight;
	m->m_done = (uint64_t)done;
	m->m_boot = (uint64_t)boot;
	m->m_created = (uint64_t)created;
	m->m_started = (uint64_t)started;
	m->m_ended = (uint64_t)ended;
	m->m_sleep_until = (uint64_t)until;
	m->m_cancel = cancel;
	m->m_cancel_to = M_CANCELLED;
	snprintf(m->m_error, sizeof(m->m_error), "%s", error);
	if (!placed && mission_restore_stack(m, stack) == -1) {
		log_warnx("journal: mission %u: position is malformed", m->m_id);
		m->m_depth = 1;
		m->m_stack[0].f_i = 0;
		if (m->m_state < M_DONE) {
			m->m_state = M_INTERRUPTED;
			snprintf(m->m_error, sizeof(m->m_error),
			    "its journal entry was damaged");
			m->m_holding = 1;	/* free whatever it held */
			mission_end_request(m);
		}
	}
	log_debug("journal: mission %u (%s): %s, step %u%s", m->m_id,
	    lname(m), state_names[m->m_state], m->m_step,
	    m->m_inflight ? " in flight" : "");
	if ((uint32_t)id >= kenv->k_next_id)
		kenv->k_next_id = (uint32_t)id + 1;
	/* Oldest first, as they were created. */
	{
		struct mission *o;

		TAILQ_FOREACH(o, &kenv->k_missions, m_entry)
			if (o->m_id > m->m_id)
				break;
		if (o != NULL)
			TAILQ_INSERT_BEFORE(o, m, m_entry);
		else
			TAILQ_INSERT_TAIL(&kenv->k_missions, m, m_entry);
	}
}

/*
 * Holds in the helper that no active mission owns: a mission that ended
 * while its worker died before the helper heard of it, or one whose journal
 * entry could not be read.  Its pins are freed.
 */
static void
mission_release_orphans(void)
{
	struct ipc_mission_end	 me;
	struct mission		*m;
	unsigned int		 i, j;
	uint32_t		 h, rid;

	for (i = 0; i < kenv->k_npins; i++) {
		if ((h = kenv->k_pins[i].holder) == 0)
			continue;
		for (j = 0; j < i; j++)
			if (kenv->k_pins[j].holder == h)
				break;
		if (j < i)
			continue;	/* already asked */
		if ((m = mission_find(h)) != NULL && m->m_state < M_DONE)
			continue;
		log_info("mission %u: no longer running: its pins are freed",
		    h);
		memset(&me, 0, sizeof(me));
		me.mission = h;
		worker_helper_send(IPC_MISSION_END, &me, sizeof(me), &rid);
		wreq_add(rid, h, WREQ_END);
	}
}

/*
 * After a worker restart, running missions go on (at the step after the
 * last one done, or the one in flight, sent again with its number); those
 * that said "resume": false are interrupted.  After a helper restart every
 * running mission is interrupted and its outputs go to their safe values.
 */
void
mission_resume(void)
{
	struct mission	*m, *tmp;

	if (kenv->k_loaded)
		return;
	kenv->k_loaded = 1;
	if (kenv->k_next_id == 0)
		kenv->k_next_id = 1;
	journal_load(mission_load_one, NULL);
	log_debug("journal: %s", TAILQ_EMPTY(&kenv->k_missions) ?
	    "no missions" : "read");
	mission_release_orphans();
	TAILQ_FOREACH_SAFE(m, &kenv->k_missions, m_entry, tmp) {
		if (m->m_state >= M_DONE)
			continue;
		if (m->m_boot != kenv->k_boot) {
			log_info("mission %u (%s): interrupted by a restart of "
			    "gpiows", m->m_id, lname(m));
			m->m_boot = kenv->k_boot;
			m->m_inflight = 0;
			m->m_cancel = 1;
			m->m_cancel_to = M_INTERRUPTED;
			snprintf(m->m_error, sizeof(m->m_error),
			    "gpiows restarted while it ran");
			if (m->m_state == M_RUNNING)
				mission_wind_down(m);
			else
				mission_finish(m, M_INTERRUPTED, m->m_error);
			continue;
		}
		if (m->m_cancel) {
			/* Cancelled before the last worker died: finish it. */
			m->m_inflight = 0;
			if (m->m_state == M_RUNNING) {
				m->m_holding = 1;
				mission_wind_down(m);
			} else
				mission_finish(m, M_CANCELLED, NULL);
			continue;
		}
		if (m->m_state == M_RUNNING && !m->m_spec.m_resume) {
			/* No answer will come to this worker for a step the
			 * last one sent; the outputs go safe regardless. */
			m->m_inflight = 0;
			m->m_cancel = 1;
			m->m_cancel_to = M_INTERRUPTED;
			snprintf(m->m_error, sizeof(m->m_error),
			    "the worker restarted and the mission says "
			    "\"resume\": false");
			m->m_holding = 1;	/* its holds are in the helper */
			mission_wind_down(m);
			continue;
		}
		if (m->m_state == M_RUNNING) {
			log_info("mission %u (%s): resumed at step %u", m->m_id,
			    lname(m), m->m_step);
			/* Hold again (idempotent), then go on from there. */
			mission_hold(m);
		}
	}
	/* The journal may hold more ended ones than are kept. */
	event_active(ev_prune, EV_TIMEOUT, 0);
	mission_schedule();
}

void
mission_init(void)
{
	kenv->k_next_id = 0;
	if ((ev_journal = event_new(kenv->k_base, -1, 0, mission_journal_cb,
	    NULL)) == NULL ||
	    event_priority_set(ev_journal, WORKER_PRIO_JOURNAL) == -1)
		fatalx("journal event");
	if ((ev_watch = event_new(kenv->k_base, -1, 0, mission_watch_cb,
	    NULL)) == NULL ||
	    event_priority_set(ev_watch, WORKER_PRIO_WATCH) == -1)
		fatalx("watch event");
	if ((ev_prune = event_new(kenv->k_base, -1, 0, mission_prune_cb,
	    NULL)) == NULL ||
	    event_priority_set(ev_prune, WORKER_PRIO_JOURNAL) == -1)
		fatalx("prune event");
}

void
mission_shutdown(void)
{
	struct mission	*m;
	struct wreq	*r;

	/*
	 * What is still to be written, and where each running mission is:
	 * after a restart of gpiows it is reported interrupted there.
	 */
	TAILQ_FOREACH(m, &kenv->k_missions, m_entry)
		if (m->m_dirty || m->m_state == M_RUNNING)
			mission_journal_now(m);
	event_free(ev_journal);
	event_free(ev_watch);
	event_free(ev_prune);
	free(watching);
	free(watch_since);
	watching = NULL;
	watch_since = NULL;
	while ((m = TAILQ_FIRST(&kenv->k_missions)) != NULL) {
		TAILQ_REMOVE(&kenv->k_missions, m, m_entry);
		mission_free(m);
	}
	while ((r = TAILQ_FIRST(&wreqs)) != NULL) {
		TAILQ_REMOVE(&wreqs, r, r_entry);
		free(r);
	}
}
