/*
 * The mission engine.  A mission waits in "queued" until no other mission
 * holds an output it sets, then holds those outputs in the helper (clients
 * get "busy") and runs its steps one at a time: set and toggle go to the
 * helper and the next step waits for the answer; sleep and wait are timers
 * and pin events.  Missions on disjoint pins run side by side.
 *
 * Every set or toggle is numbered and journalled before it is sent, and the
 * helper applies each number once: a worker killed with one in flight sends
 * it again when it comes back, and the pin changes once.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "worker.h"

#define MISSION_KEEP_ENDED	100	/* finished missions kept in the list */

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
static void	mission_finish(struct mission *, enum mstate, const char *);
static void	mission_schedule(void);
static void	mission_event(struct mission *);

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

json_t *
mission_list_json(void)
{
	struct mission	*m;
	json_t		*a = json_array();

	TAILQ_FOREACH(m, &kenv->k_missions, m_entry)
		json_array_append_new(a, mission_json(m));
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
}

static void
mission_free(struct mission *m)
{
	if (m->m_timer != NULL)
		event_free(m->m_timer);
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

/* Forget the oldest finished missions past MISSION_KEEP_ENDED. */
static void
mission_prune(void)
{
	struct mission	*m, *tmp;
	unsigned int	 ended = 0;

	TAILQ_FOREACH(m, &kenv->k_missions, m_entry)
		if (m->m_state >= M_DONE)
			ended++;
	TAILQ_FOREACH_SAFE(m, &kenv->k_missions, m_entry, tmp) {
		if (ended <= MISSION_KEEP_ENDED)
			break;
		if (m->m_state < M_DONE)
			continue;
		TAILQ_REMOVE(&kenv->k_missions, m, m_entry);
		journal_remove(m->m_id);
		mission_free(m);
		ended--;
	}
}

static void
mission_finish(struct mission *m, enum mstate state, const char *error)
{
	if (m->m_timer != NULL)
		evtimer_del(m->m_timer);
	m->m_waiting = 0;
	m->m_sleep_until = 0;
	m->m_state = state;
	m->m_ended = worker_now_us();
	if (error != NULL && error != m->m_error)
		snprintf(m->m_error, sizeof(m->m_error), "%s", error);
	if (m->m_holding || m->m_holds > 0)
		mission_end_request(m);
	journal_write(m);
	log_info("mission %u (%s): %s%s%s", m->m_id, m->m_spec.m_name,
	    state_names[state], error ? ": " : "", error ? error : "");
	mission_event(m);
	mission_prune();
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
	m->m_waiting = 0;
	if (safe && m->m_state == M_RUNNING) {
		for (i = 0; i < m->m_nout; i++) {
			if ((pi = worker_pin(m->m_out[i])) == NULL ||
			    pi->safe < 0)
				continue;
			m->m_step++;
			if (pin_req(m, IPC_PIN_SET, m->m_out[i], pi->safe,
			    m->m_step, WREQ_SAFE) == 0)
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
		m->m_waiting = 0;
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
	uint64_t	 now = worker_now_us(), left;
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
			journal_write(m);	/* before the pin can change */
			if (pin_req(m, s->s_kind == STEP_SET ? IPC_PIN_SET :
			    IPC_PIN_TOGGLE, s->s_pin, s->s_value, m->m_step,
			    WREQ_STEP) == -1) {
				m->m_inflight = 0;
				mission_finish(m, M_FAILED,
				    "a pin it uses no longer exists");
				return;
			}
			break;
		case STEP_SLEEP:
			if (m->m_sleep_until == 0)
				m->m_sleep_until = worker_now_us() +
				    (uint64_t)s->s_ms * 1000;
			journal_write(m);
			mission_arm(m, m->m_sleep_until);
			break;
		case STEP_WAIT:
			if (worker_pin(s->s_pin) == NULL) {
				mission_finish(m, M_FAILED,
				    "a pin it uses no longer exists");
				return;
			}
			m->m_waiting = 1;
			journal_write(m);
			mission_arm(m, worker_now_us() +
			    (uint64_t)s->s_timeout_ms * 1000);
			break;
		}
		break;
	}
	if (m->m_state == M_RUNNING)
		mission_event(m);
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
	struct ipc_hold		 h;
	uint32_t		 id;
	size_t			 i;

	m->m_state = M_RUNNING;
	m->m_holds = 0;
	for (i = 0; i < m->m_nout; i++) {
		if ((pi = worker_pin(m->m_out[i])) == NULL)
			continue;
		memset(&h, 0, sizeof(h));
		h.mission = m->m_id;
		h.index = pi->index;
		h.generation = kenv->k_generation;
		h.hold = 1;
		worker_helper_send(IPC_PIN_HOLD, &h, sizeof(h), &id);
		wreq_add(id, m->m_id, WREQ_HOLD);
		m->m_holds++;
	}
	if (m->m_holds == 0)
		goto go;
	m->m_holding = 1;
	return;
go:
	if (m->m_started == 0)
		m->m_started = worker_now_us();
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
			    m->m_spec.m_name);
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
	    m)) == NULL)
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
	m->m_created = worker_now_us();
	m->m_state = M_QUEUED;
	TAILQ_INSERT_TAIL(&kenv->k_missions, m, m_entry);
	journal_write(m);
	log_info("mission %u (%s): queued", m->m_id, m->m_spec.m_name);
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
	mission_reply(id, json_pack("{s:b, s:I}", "ok", 1, "mission",
	    (json_int_t)m->m_id));
	if (m->m_state == M_QUEUED) {
		mission_finish(m, M_CANCELLED, NULL);
		return;
	}
	if (m->m_cancel)
		return;
	m->m_cancel = 1;
	m->m_cancel_to = M_CANCELLED;
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
			/* Another holds it (a mission of an earlier worker):
			 * let go and queue again. */
			log_debug("mission %u: hold refused (%s)", m->m_id,
			    ipc_errcode(rep->error));
			if (m->m_holds == 0) {
				mission_end_request(m);
				m->m_state = M_QUEUED;
				mission_event(m);
			}
			break;
		}
		if (m->m_holds > 0)
			break;
		if (m->m_cancel) {
			mission_wind_down(m);
			break;
		}
		if (m->m_state != M_RUNNING)
			break;
		if (m->m_started == 0)
			m->m_started = worker_now_us();
		if (m->m_inflight) {
			/* Resumed with a step in flight: the same number again. */
			struct frame *f = &m->m_stack[m->m_depth - 1];
			const struct step *s = &f->f_steps[f->f_i];

			journal_write(m);
			pin_req(m, s->s_kind == STEP_SET ? IPC_PIN_SET :
			    IPC_PIN_TOGGLE, s->s_pin, s->s_value, m->m_step,
			    WREQ_STEP);
			mission_event(m);
			break;
		}
		mission_run(m);
		break;
	case WREQ_STEP:
		if (rep->error == IPC_E_STALE) {
			/* The table was reloaded under us: same step again. */
			struct frame *f = &m->m_stack[m->m_depth - 1];
			const struct step *s = &f->f_steps[f->f_i];

			if (pin_req(m, s->s_kind == STEP_SET ? IPC_PIN_SET :
			    IPC_PIN_TOGGLE, s->s_pin, s->s_value, m->m_step,
			    WREQ_STEP) == -1) {
				m->m_inflight = 0;
				mission_finish(m, M_FAILED,
				    "a pin it uses no longer exists");
			}
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
		f = &m->m_stack[m->m_depth - 1];
		s = &f->f_steps[f->f_i];
		if (strcmp(kenv->k_pins[ev->index].name, s->s_pin) != 0 ||
		    (s->s_edge & edge) == 0)
			continue;
		evtimer_del(m->m_timer);
		m->m_waiting = 0;
		mission_advance(m);
	}
}

void
mission_holder(const struct ipc_pin_holder *ph)
{
	if (ph->holder == 0)
		mission_schedule();
}

/* A reload: missions whose pins are gone fail at their next use of them. */
void
mission_pins_changed(void)
{
	mission_schedule();
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
	json_t		*spec, *stack;
	json_int_t	 id, step, done, boot, created, started, ended, until;
	const char	*state, *error = "";
	int		 inflight;
	char		 err[256];

	if (json_unpack(j, "{s:I, s:o, s:s, s:o, s:I, s:b, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s?s}", "id", &id, "mission", &spec, "state", &state,
	    "stack", &stack, "step", &step, "inflight", &inflight, "done",
	    &done, "boot", &boot, "created", &created, "started", &started,
	    "ended", &ended, "sleep_until", &until, "error", &error) == -1 ||
	    id <= 0 || id > UINT32_MAX || step < 0 || step > UINT32_MAX) {
		log_warnx("journal: a mission entry is malformed: ignored");
		return;
	}
	if ((m = mission_new((uint32_t)id, spec, err, sizeof(err))) == NULL) {
		log_warnx("journal: mission %lld no longer valid: %s",
		    (long long)id, err);
		return;
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
	snprintf(m->m_error, sizeof(m->m_error), "%s", error);
	if (mission_restore_stack(m, stack) == -1) {
		log_warnx("journal: mission %u: position is malformed", m->m_id);
		m->m_depth = 1;
		m->m_stack[0].f_i = 0;
		if (m->m_state < M_DONE) {
			m->m_state = M_INTERRUPTED;
			snprintf(m->m_error, sizeof(m->m_error),
			    "its journal entry was damaged");
		}
	}
	log_debug("journal: mission %u (%s): %s, step %u%s", m->m_id,
	    m->m_spec.m_name, state_names[m->m_state], m->m_step,
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
	TAILQ_FOREACH_SAFE(m, &kenv->k_missions, m_entry, tmp) {
		if (m->m_state >= M_DONE)
			continue;
		if (m->m_boot != kenv->k_boot) {
			log_info("mission %u (%s): interrupted by a restart of "
			    "gpiows", m->m_id, m->m_spec.m_name);
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
			    m->m_spec.m_name, m->m_step);
			/* Hold again (idempotent), then go on from there. */
			mission_hold(m);
		}
	}
	mission_schedule();
}

void
mission_init(void)
{
	kenv->k_next_id = 0;
}

void
mission_shutdown(void)
{
	struct mission	*m;
	struct wreq	*r;

	while ((m = TAILQ_FIRST(&kenv->k_missions)) != NULL) {
		TAILQ_REMOVE(&kenv->k_missions, m, m_entry);
		mission_free(m);
	}
	while ((r = TAILQ_FIRST(&wreqs)) != NULL) {
		TAILQ_REMOVE(&wreqs, r, r_entry);
		free(r);
	}
}
