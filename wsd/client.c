/*
 * The client protocol of gpiows-protocol(7): the registry of WebSocket
 * clients, their requests, and the events broadcast to all of them.  Every
 * client request is checked here in full (pin, direction, value) before it
 * reaches the helper, which treats a bad request from wsd as compromise.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "quickreq.h"
#include "wsd.h"

#define PROTOCOL_VERSION	1

enum req_kind {
	REQ_PIN,		/* get, set, toggle, sim.pull: answered by the helper */
	REQ_MISSIONS,		/* mission.list: answered by the worker */
	REQ_MISSION_OP,		/* mission.start, mission.cancel: the worker */
	REQ_RESUME		/* resume: the helper's history */
};

#define HOLD_MS		250	/* a new client's live pin events wait so long */
#define HOLD_MAX	4096	/* at most so many of them */
#define MISSIONS_KEPT	200	/* ended missions wsd keeps for hello */
#define USERS_MS	100	/* at most one users message per so long */
#define REPLAY_PIECE	512	/* history events asked for at a time */

/*
 * A new client's live pin events are held until its first request, for at
 * most HOLD_MS: a client that resumes at once then gets what it missed and
 * what happened since, each once and in seq order.
 */
struct held {
	struct shared_frame	*h_frame;
	uint64_t		 h_seq;
};

struct conn_hold {
	TAILQ_ENTRY(conn_hold)	 ch_entry;	/* waiting for HOLD_MS */
	struct conn		*ch_conn;
	uint64_t		 ch_until;	/* monotonic us; 0: resuming */
	struct held		*ch_items;
	size_t			 ch_n, ch_cap;
	uint64_t		 ch_replayed;	/* last seq the history gave */
	int			 ch_skipped;	/* live pin events left to the replay */
};
static TAILQ_HEAD(, conn_hold) holds = TAILQ_HEAD_INITIALIZER(holds);
static struct event		*ev_hold;

/*
 * A request waiting for the helper's or the worker's answer.  Whoever asked
 * (a /ws client, an HTTP API request, a route WebSocket) may go before the
 * answer comes: p_conn is cleared then (pin_forget), and the answer dropped.
 */
struct pending {
	TAILQ_ENTRY(pending)	 p_entry;
	uint32_t		 p_reqid;
	enum req_kind		 p_kind;
	struct conn		*p_conn;	/* NULL once the client has gone */
	json_t			*p_id;		/* the client's id, or NULL */
	char			 p_pin[GPIOWS_NAME_SIZE]; /* survives a reload */
	uint16_t		 p_type;	/* REQ_PIN: IPC_PIN_GET, ... */
	pin_done_fn		 p_done;	/* REQ_PIN: told the outcome */
	uint64_t		 p_since;	/* REQ_RESUME: the next piece's */
	uint32_t		 p_count;	/* REQ_RESUME: events so far */
};
TAILQ_HEAD(pendinglist, pending);

static struct pendinglist	 pendings = TAILQ_HEAD_INITIALIZER(pendings);
static uint32_t			 next_reqid = 1;
static struct event		*ev_users;
static unsigned int		 users_sent;
static uint64_t			 users_last;	/* monotonic us of the last */
static int			 users_joined;	/* a client joined since */

static void
client_send_json(struct conn *c, json_t *msg)
{
	char	*s;

	if ((s = json_dumps(msg, JSON_COMPACT)) == NULL) {
		log_warnx("json_dumps failed");
		return;
	}
	conn_send_text(c, s, strlen(s));
	free(s);
}

static void	client_broadcast_pin(const char *, size_t, uint64_t);
static void	pending_free(struct pending *);
static int	pin_event_print(char *, size_t, const char *,
		    const struct ipc_pin_event *, int);

/* A reply: the request's id when it had one, sent, released. */
void
client_send_reply(struct conn *c, json_t *msg, json_t *id)
{
	if (msg == NULL)
		return;
	if (id != NULL)
		json_object_set(msg, "id", id);
	client_send_json(c, msg);
	json_decref(msg);
}

/* users and mission messages: held with a client's pin events, in order. */
static void
client_broadcast(const char *s, size_t len)
{
	client_broadcast_pin(s, len, 0);
}

/*
 * The hold timer, set for the first hold's end, or deleted when none is
 * left.  A timer left pending with nothing to do is not free: in its last
 * milliseconds it is the CPU's earliest, and each epoll_wait(2) that
 * sleeps then reprograms the CPU's timer, a trap under a hypervisor
 * (bench/ws-peers.py saw every second round trip 10 us slower for the
 * 2 ms before a client's HOLD_MS ran out, though it had long resumed).
 */
static void
hold_arm(void)
{
	struct conn_hold	*h = TAILQ_FIRST(&holds);
	struct timeval		 tv = { 0, 0 };
	uint64_t		 now;

	if (h == NULL) {
		evtimer_del(ev_hold);
		return;
	}
	now = mono_us();
	if (h->ch_until > now) {
		tv.tv_sec = (time_t)((h->ch_until - now) / 1000000);
		tv.tv_usec = (suseconds_t)((h->ch_until - now) % 1000000);
	}
	evtimer_add(ev_hold, &tv);
}

/* h no longer waits for HOLD_MS: out of the queue, the timer set anew. */
static void
hold_unqueue(struct conn_hold *h)
{
	int	 first = h == TAILQ_FIRST(&holds);

	if (h->ch_until == 0)
		return;
	TAILQ_REMOVE(&holds, h, ch_entry);
	h->ch_until = 0;
	if (first)
		hold_arm();
}

/* What h holds (messages without a seq, while resuming) goes now. */
static void
hold_flush(struct conn *c, struct conn_hold *h)
{
	size_t	 i;

	for (i = 0; i < h->ch_n; i++) {
		conn_send_shared(c, h->ch_items[i].h_frame);
		shared_frame_unref(h->ch_items[i].h_frame);
	}
	h->ch_n = 0;
}

static int
pin_by_seq(const void *a, const void *b)
{
	uint64_t	 x = wenv->w_pins[*(const unsigned int *)a].wp_info.seq;
	uint64_t	 y = wenv->w_pins[*(const unsigned int *)b].wp_info.seq;

	return x < y ? -1 : x > y;
}

/*
 * A resume that did not get to the end (the history had moved on, the
 * helper could not take the next piece) leaves out live changes skipped
 * for it: the client gets each such pin's state now, in seq order.
 */
static void
hold_catch_up(struct conn *c, uint64_t after)
{
	struct ipc_pin_event	 ev;
	struct ipc_pin_info	*pi;
	unsigned int		*idx, i, n = 0;
	char			 s[256];
	int			 len;

	if ((idx = calloc(wenv->w_npins, sizeof(*idx))) == NULL)
		return;
	for (i = 0; i < wenv->w_npins; i++)
		if (wenv->w_pins[i].wp_info.seq > after)
			idx[n++] = i;
	qsort(idx, n, sizeof(*idx), pin_by_seq);
	for (i = 0; i < n; i++) {
		pi = &wenv->w_pins[idx[i]].wp_info;
		memset(&ev, 0, sizeof(ev));
		ev.index = pi->index;
		ev.value = pi->value;
		ev.seq = pi->seq;
		ev.ts = pi->ts;
		ev.source = pi->source;
		ev.mission = pi->mission;
		if ((len = pin_event_print(s, sizeof(s), pi->name, &ev,
		    0)) != -1)
			conn_send_text(c, s, (size_t)len);
	}
	free(idx);
}

/*
 * Let a client's held events go (those after what a resume replayed), or
 * with deliver 0 just drop them (the client is leaving).
 */
static void
hold_release(struct conn *c, int deliver)
{
	struct conn_hold	*h = c->c_hold;
	uint64_t		 after;
	size_t			 i;

	if (h == NULL)
		return;
	c->c_hold = NULL;
	hold_unqueue(h);
	/*
	 * In seq order: what was held came before the resume, what it
	 * skipped after (a resume that failed replayed nothing, and then
	 * all that was held goes).
	 */
	after = h->ch_replayed;
	for (i = 0; i < h->ch_n; i++) {
		/* seq 0: not a pin event, never part of a replay. */
		if (deliver && (h->ch_items[i].h_seq == 0 ||
		    h->ch_items[i].h_seq > h->ch_replayed)) {
			conn_send_shared(c, h->ch_items[i].h_frame);
			if (h->ch_items[i].h_seq > after)
				after = h->ch_items[i].h_seq;
		}
		shared_frame_unref(h->ch_items[i].h_frame);
	}
	if (deliver && h->ch_skipped)
		hold_catch_up(c, after);
	free(h->ch_items);
	free(h);
	if (c->c_resuming) {
		c->c_resuming = 0;
		conn_input_resume(c);	/* what it sent after the resume */
	}
}

/* The events held while a new client might still resume: out now, in order. */
static void
hold_end_wait(struct conn *c)
{
	if (c->c_hold != NULL && c->c_hold->ch_until != 0)
		hold_release(c, 1);
}

static void
hold_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_hold	*h;
	uint64_t		 now = mono_us();

	while ((h = TAILQ_FIRST(&holds)) != NULL && h->ch_until <= now)
		hold_release(h->ch_conn, 1);
	hold_arm();
}

static void
client_broadcast_pin(const char *s, size_t len, uint64_t seq)
{
	struct shared_frame	*sf;
	struct conn		*c, *tmp;
	struct conn_hold	*h;
	struct held		*nh;

	if (TAILQ_EMPTY(&wenv->w_clients))
		return;
	if ((sf = shared_frame_new(WS_OP_TEXT, s, len)) == NULL) {
		log_warnx("out of memory for a broadcast");
		return;
	}
	TAILQ_FOREACH_SAFE(c, &wenv->w_clients, c_entry, tmp) {
		if ((h = c->c_hold) == NULL) {
			conn_send_shared(c, sf);
			continue;
		}
		/*
		 * A resume under way replays the history until it has caught
		 * up, this change included: a long, paced replay then needs
		 * no hold of what happens meanwhile, nor overflows one.
		 */
		if (h->ch_until == 0 && seq != 0) {
			h->ch_skipped = 1;
			continue;
		}
		if (h->ch_n == h->ch_cap && h->ch_until == 0 &&
		    h->ch_cap >= HOLD_MAX) {
			/*
			 * Resuming, only messages without a seq are held
			 * (users, mission): too many of them go now, ahead of
			 * the reply, and the resume goes on.
			 */
			hold_flush(c, h);
		}
		if (h->ch_n == h->ch_cap) {
			if (h->ch_cap >= HOLD_MAX || (nh = reallocarray(
			    h->ch_items, h->ch_cap ? h->ch_cap * 2 : 16,
			    sizeof(*nh))) == NULL) {
				/* Too much to hold: order is lost, not events. */
				hold_release(c, 1);
				conn_send_shared(c, sf);
				continue;
			}
			h->ch_items = nh;
			h->ch_cap = h->ch_cap ? h->ch_cap * 2 : 16;
		}
		shared_frame_ref(sf);
		h->ch_items[h->ch_n].h_frame = sf;
		h->ch_items[h->ch_n++].h_seq = seq;
	}
	shared_frame_unref(sf);
}

static void
client_reply_error(struct conn *c, json_t *id, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Messages quote names cut to a size ("%.64s") in a buffer of a size, and a
 * cut may fall inside a character: jansson refuses a string that is not
 * UTF-8, and the client would get no reply at all.  Drop the bytes of any
 * broken sequence instead.
 */
void
utf8_repair(char *s)
{
	unsigned char	*r = (unsigned char *)s, *w = r;
	uint32_t	 st;
	size_t		 n;

	while (*r != '\0') {
		n = *r < 0x80 ? 1 : *r >= 0xf0 ? 4 : *r >= 0xe0 ? 3 : 2;
		st = 0;
		if (strnlen((char *)r, n) == n && utf8_validate(&st, r, n) == 0 &&
		    st == 0) {
			memmove(w, r, n);
			w += n;
			r += n;
		} else
			r++;
	}
	*w = '\0';
}

/* An error message, printf-style, its UTF-8 repaired. */
static void
error_vtext(char *text, size_t size, const char *fmt, va_list ap)
{
	vsnprintf(text, size, fmt, ap);
	utf8_repair(text);
}

/* {"code":...,"message":...}, the message by error_vtext. */
json_t *
error_vjson(const char *code, const char *fmt, va_list ap)
{
	char	 text[256];

	error_vtext(text, sizeof(text), fmt, ap);
	return json_pack("{s:s, s:s}", "code", code, "message", text);
}

static void
client_reply_error(struct conn *c, json_t *id, const char *code,
    const char *fmt, ...)
{
	json_t	*msg;
	va_list	 ap;

	va_start(ap, fmt);
	msg = json_pack("{s:s, s:b, s:o}", "type", "reply", "ok", 0, "error",
	    error_vjson(code, fmt, ap));
	va_end(ap);
	client_send_reply(c, msg, id);
}

/* The name of a mission wsd knows of, for messages. */
static const char *
mission_name(uint32_t id)
{
	json_t	*m;
	size_t	 i;

	json_array_foreach(wenv->w_missions, i, m)
		if (json_integer_value(json_object_get(m, "id")) == id)
			return json_string_value(json_object_get(m, "name"));
	return NULL;
}

/*
 * Text appended to a fixed buffer, for the messages every round trip and
 * every change send: a few stores where snprintf would parse a format.
 * Whatever does not fit is not written and marks the buffer full.
 */
struct outbuf {
	char	*ob_p;
	char	*ob_end;
	int	 ob_full;
};

static void
ob_mem(struct outbuf *o, const char *s, size_t n)
{
	if (o->ob_full || (size_t)(o->ob_end - o->ob_p) < n) {
		o->ob_full = 1;
		return;
	}
	memcpy(o->ob_p, s, n);
	o->ob_p += n;
}

static void
ob_str(struct outbuf *o, const char *s)
{
	ob_mem(o, s, strlen(s));
}

static void
ob_u64(struct outbuf *o, uint64_t v)
{
	char	 t[20];
	size_t	 i = sizeof(t);

	do
		t[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	ob_mem(o, t + i, sizeof(t) - i);
}

static void
ob_i64(struct outbuf *o, int64_t v)
{
	if (v < 0) {
		ob_mem(o, "-", 1);
		ob_u64(o, -(uint64_t)v);
	} else
		ob_u64(o, (uint64_t)v);
}

/* The length written, or -1 if it did not fit; s is NUL-terminated. */
static int
ob_end(struct outbuf *o, char *s)
{
	if (o->ob_full || o->ob_p == o->ob_end)
		return -1;
	*o->ob_p = '\0';
	return (int)(o->ob_p - s);
}

/* A pin's name into a GPIOWS_NAME_SIZE array, cut if it is longer. */
static void
name_copy(char dst[GPIOWS_NAME_SIZE], const char *name)
{
	size_t	 n = strnlen(name, GPIOWS_NAME_MAX);

	memcpy(dst, name, n);
	dst[n] = '\0';
}

/* The "source" of a pin event or state: client, edge, mission:ID... */
static void
ob_source(struct outbuf *o, uint32_t source, uint32_t mission)
{
	ob_str(o, ipc_source_str(source));
	if (source == IPC_SRC_MISSION) {
		ob_mem(o, ":", 1);
		ob_u64(o, mission);
	}
}

static void
source_str(char src[32], uint32_t source, uint32_t mission)
{
	struct outbuf	 o = { src, src + 32, 0 };

	ob_source(&o, source, mission);
	if (ob_end(&o, src) == -1)
		src[0] = '\0';
}

/*
 * A "pin" message, printed rather than built: it goes to every client on
 * every change.  Pin names are [A-Za-z0-9_.-]: nothing to escape.
 */
static int
pin_event_print(char *s, size_t size, const char *name,
    const struct ipc_pin_event *ev, int replay)
{
	struct outbuf	 o = { s, s + size, 0 };

	ob_str(&o, "{\"type\":\"pin\",\"pin\":\"");
	ob_str(&o, name);
	ob_str(&o, ev->value != 0 ? "\",\"value\":1,\"seq\":" :
	    "\",\"value\":0,\"seq\":");
	ob_u64(&o, ev->seq);
	ob_str(&o, ",\"ts\":");
	ob_u64(&o, ev->ts);
	ob_str(&o, ",\"source\":\"");
	ob_source(&o, ev->source, ev->mission);
	ob_str(&o, replay ? "\",\"replay\":true}" : "\"}");
	if (ob_end(&o, s) == -1) {	/* 256 bytes take 31-byte names */
		log_warnx("a pin event too long to print");
		return -1;
	}
	return (int)(o.ob_p - s);
}

json_t *
client_pin_json(const struct ipc_pin_info *pi)
{
	json_t	*o;
	char	 src[32];

	source_str(src, pi->source, pi->mission);
	o = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:s, s:b, s:b}",
	    "name", pi->name,
	    "chip", pi->chip,
	    "direction", (pi->flags & IPC_PIN_OUTPUT) ? "output" : "input",
	    "value", pi->value,
	    "seq", (json_int_t)pi->seq,
	    "ts", (json_int_t)pi->ts,
	    "source", src,
	    "simulated", (pi->flags & IPC_PIN_SIMULATED) != 0,
	    "active_low", (pi->flags & IPC_PIN_ACTIVE_LOW) != 0);
	if (o != NULL && pi->holder != 0)
		json_object_set_new(o, "mission", json_integer(pi->holder));
	if (o != NULL && !(pi->flags & IPC_PIN_OUTPUT)) {
		const char *edge = pi->edge == 3 ? "both" : pi->edge == 1 ?
		    "rising" : pi->edge == 2 ? "falling" : "none";

		json_object_set_new(o, "edge", json_string(edge));
	}
	return o;
}

/* The pins as in hello and the HTTP API: an array of client_pin_json. */
json_t *
client_pins_json(void)
{
	json_t		*pins;
	unsigned int	 i;

	if ((pins = json_array()) == NULL)
		return NULL;
	for (i = 0; i < wenv->w_npins; i++)
		json_array_append_new(pins,
		    client_pin_json(&wenv->w_pins[i].wp_info));
	return pins;
}

/*
 * The missions of hello, encoded once for every client that connects until
 * they change: with the 200 ended ones kept, encoding them took 0.4 ms a
 * connection, more than all the rest of a connection's setup.
 */
static char	*missions_text;		/* NULL: to be encoded */
static size_t	 missions_len;

static void
missions_changed(void)
{
	free(missions_text);
	missions_text = NULL;
}

/* hello, the same for every client at a time: the caller frees it. */
static char *
client_hello_dumps(void)
{
	static const char key[] = ",\"missions\":";
	json_t	*msg;
	char	*s, *hello;
	size_t	 len;

	if (missions_text == NULL) {
		if ((missions_text = json_dumps(wenv->w_missions,
		    JSON_COMPACT)) == NULL) {
			log_warnx("cannot encode the missions for hello");
			return NULL;
		}
		missions_len = strlen(missions_text);
	}
	msg = json_pack("{s:s, s:i, s:o, s:i, s:I, s:I}",
	    "type", "hello",
	    "protocol", PROTOCOL_VERSION,
	    "pins", client_pins_json(),
	    "users", (int)wenv->w_nclients,
	    "seq", (json_int_t)wenv->w_seq,
	    "ping_interval", (json_int_t)wenv->w_ping_interval);
	if (msg == NULL || (s = json_dumps(msg, JSON_COMPACT)) == NULL) {
		log_warnx("cannot build hello");
		json_decref(msg);
		return NULL;
	}
	json_decref(msg);
	/* The object's closing brace gives way to the missions. */
	len = strlen(s) - 1;
	if ((hello = malloc(len + sizeof(key) - 1 + missions_len + 2)) ==
	    NULL) {
		log_warn("hello");
		free(s);
		return NULL;
	}
	memcpy(hello, s, len);
	memcpy(hello + len, key, sizeof(key) - 1);
	len += sizeof(key) - 1;
	memcpy(hello + len, missions_text, missions_len);
	len += missions_len;
	memcpy(hello + len, "}", 2);
	free(s);
	return hello;
}

static void
client_hello(struct conn *c)
{
	char	*s;

	if ((s = client_hello_dumps()) == NULL)
		return;
	conn_send_text(c, s, strlen(s));
	free(s);
}

/*
 * The users count goes out at most once per USERS_MS, with the count of
 * that moment: a change after a quiet spell goes out at the end of the
 * loop's turn, later ones wait for the interval to end.  Each message costs
 * one delivery to every client, so clients arriving at a rate r cost
 * r * N / turn with a per-turn rule but only N per USERS_MS with this one:
 * N clients connecting cost O(N), not O(N^2).  The last count always goes
 * out: the timer is armed whenever the count changes.  A client that joined
 * gets one even when the count is back where it was (one left meanwhile).
 */
static void
client_users_cb(evutil_socket_t fd, short what, void *arg)
{
	char	 s[64];
	int	 n;

	if (wenv->w_nclients == users_sent && !users_joined)
		return;
	users_sent = wenv->w_nclients;
	users_joined = 0;
	users_last = mono_us();
	n = snprintf(s, sizeof(s), "{\"type\":\"users\",\"count\":%u}",
	    users_sent);
	client_broadcast(s, (size_t)n);
}

static void
client_users_changed(void)
{
	struct timeval	 tv = { 0, 0 };
	uint64_t	 now, next;

	if (evtimer_pending(ev_users, NULL))
		return;
	now = mono_us();
	next = users_last + USERS_MS * 1000;
	if (users_last != 0 && next > now)
		tv.tv_usec = (suseconds_t)(next - now);
	evtimer_add(ev_users, &tv);
}

void
client_init(void)
{
	if ((wenv->w_missions = json_array()) == NULL)
		fatalx("json_array");
	if ((ev_users = evtimer_new(wenv->w_base, client_users_cb,
	    NULL)) == NULL || (ev_hold = evtimer_new(wenv->w_base, hold_cb,
	    NULL)) == NULL)
		fatalx("event_new");
}

void
client_shutdown(void)
{
	struct pending	*p;

	while ((p = TAILQ_FIRST(&pendings)) != NULL) {
		TAILQ_REMOVE(&pendings, p, p_entry);
		json_decref(p->p_id);
		free(p);
	}
	event_free(ev_users);
	event_free(ev_hold);
	json_decref(wenv->w_missions);
	missions_changed();
}

void
client_join(struct conn *c)
{
	struct conn_hold	*h;

	TAILQ_INSERT_TAIL(&wenv->w_clients, c, c_entry);
	wenv->w_nclients++;
	client_hello(c);
	if (c->c_dead)		/* the hello did not fit: it has left */
		return;
	if ((h = calloc(1, sizeof(*h))) != NULL) {
		h->ch_conn = c;
		h->ch_until = mono_us() + HOLD_MS * 1000;
		c->c_hold = h;
		TAILQ_INSERT_TAIL(&holds, h, ch_entry);
		if (TAILQ_FIRST(&holds) == h)
			hold_arm();
	}
	users_joined = 1;
	client_users_changed();
}

void
client_leave(struct conn *c)
{
	if (c->c_route != NULL) {
		api_route_leave(c);
		return;
	}
	hold_release(c, 0);
	TAILQ_REMOVE(&wenv->w_clients, c, c_entry);
	wenv->w_nclients--;
	pin_forget(c);
	client_users_changed();
}

/* c is going: the answers to its requests have nobody to go to. */
void
pin_forget(struct conn *c)
{
	struct pending	*p;

	TAILQ_FOREACH(p, &pendings, p_entry)
		if (p->p_conn == c)
			p->p_conn = NULL;
	/* A replay waiting for c's output: no answer will come to free it. */
	if ((p = c->c_parked) != NULL) {
		c->c_parked = NULL;
		pending_free(p);
	}
	c->c_inflight = 0;
}

static struct pending *
pending_new(struct conn *c, json_t *id, enum req_kind kind, const char *pin)
{
	struct pending	*p;

	/* Dropped while its messages were being handled: nobody to answer. */
	if (c != NULL && c->c_dead)
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->p_reqid = next_reqid++;
	if (next_reqid == 0)
		next_reqid = 1;
	p->p_kind = kind;
	p->p_conn = c;
	if (c != NULL)
		c->c_inflight++;
	p->p_id = id != NULL ? json_incref(id) : NULL;
	name_copy(p->p_pin, pin);
	TAILQ_INSERT_TAIL(&pendings, p, p_entry);
	return p;
}

static void
pending_free(struct pending *p)
{
	TAILQ_REMOVE(&pendings, p, p_entry);
	if (p->p_conn != NULL)
		conn_inflight_done(p->p_conn);
	json_decref(p->p_id);
	free(p);
}

/* Replies come back in order, so the head is nearly always the one. */
static struct pending *
pending_find(uint32_t reqid, enum req_kind kind)
{
	struct pending	*p;

	TAILQ_FOREACH(p, &pendings, p_entry)
		if (p->p_reqid == reqid && p->p_kind == kind)
			return p;
	return NULL;
}

static int
json_pin_value(json_t *v)
{
	if (json_is_integer(v) && (json_integer_value(v) == 0 ||
	    json_integer_value(v) == 1))
		return (int)json_integer_value(v);
	return -1;
}

static void
pin_fail(struct pin_result *r, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
pin_fail(struct pin_result *r, int error, const char *fmt, ...)
{
	va_list	 ap;

	r->pr_error = error;
	va_start(ap, fmt);
	error_vtext(r->pr_message, sizeof(r->pr_message), fmt, ap);
	va_end(ap);
}

/* What wsd can refuse by itself, before asking the helper. */
static int
pin_check(const struct wsd_pin *wp, uint16_t type, struct pin_result *r)
{
	int	 out = (wp->wp_info.flags & IPC_PIN_OUTPUT) != 0;

	if ((type == IPC_PIN_SET || type == IPC_PIN_TOGGLE) && !out) {
		pin_fail(r, IPC_E_NOT_OUTPUT,
		    "pin \"%s\" is an input: it cannot be %s", wp->wp_info.name,
		    type == IPC_PIN_SET ? "set" : "toggled");
		return -1;
	}
	if (type == IPC_SIM_PULL) {
		if (!(wp->wp_info.flags & IPC_PIN_SIMULATED)) {
			pin_fail(r, IPC_E_NOT_SIMULATED,
			    "pin \"%s\" is on real chip \"%s\": sim.pull works "
			    "only on simulated chips", wp->wp_info.name,
			    wp->wp_info.chip);
			return -1;
		}
		if (out) {
			pin_fail(r, IPC_E_NOT_INPUT,
			    "pin \"%s\" is an output: only inputs can be pulled",
			    wp->wp_info.name);
			return -1;
		}
	}
	return 0;
}

/*
 * The one way anybody reads, sets or toggles a pin: checked here, answered
 * by the helper, the outcome handed to done(c, id, result) when it comes.
 * -1: refused at once, the reason in *r (done is not called).
 */
int
pin_request(struct conn *c, json_t *id, const struct wsd_pin *wp,
    uint16_t type, int value, pin_done_fn done, struct pin_result *r)
{
	struct pending	*p;

	memset(r, 0, sizeof(*r));
	name_copy(r->pr_pin, wp->wp_info.name);
	r->pr_type = type;
	if (pin_check(wp, type, r) == -1)
		return -1;
	if ((p = pending_new(c, id, REQ_PIN, wp->wp_info.name)) == NULL) {
		pin_fail(r, PIN_E_NOMEM, "out of memory");
		return -1;
	}
	p->p_type = type;
	p->p_done = done;
	if (wsd_helper_request(type, p->p_reqid, wp->wp_info.index,
	    value) == -1) {
		pending_free(p);
		pin_fail(r, PIN_E_UNAVAILABLE,
		    "the helper cannot take requests now");
		return -1;
	}
	return 0;
}

const char *
pin_errcode(int error)
{
	if (error == PIN_E_UNAVAILABLE)
		return "unavailable";
	return ipc_errcode(error);	/* PIN_E_NOMEM: "internal" */
}

/* {"code":...,"message":...} and, for busy, the holding mission. */
json_t *
pin_error_json(const struct pin_result *r)
{
	json_t	*err;

	err = json_pack("{s:s, s:s}", "code", pin_errcode(r->pr_error),
	    "message", r->pr_message);
	if (err != NULL && r->pr_error == IPC_E_BUSY)
		json_object_set_new(err, "mission",
		    json_integer((json_int_t)r->pr_mission));
	return err;
}

/*
 * A /ws client's reply to get, set, toggle or sim.pull.  The answer, the
 * one a dashboard gets most, is printed rather than built with jansson:
 * the same bytes (pin names are [A-Za-z0-9_.-], nothing to escape), a few
 * microseconds less on every round trip.
 */
static void
client_pin_done(struct conn *c, json_t *id, const struct pin_result *r)
{
	struct outbuf	 o;
	json_t		*msg;
	char		 s[512];
	int		 n;

	if (r->pr_error != IPC_OK) {
		msg = json_pack("{s:s, s:b, s:o}", "type", "reply", "ok", 0,
		    "error", pin_error_json(r));
		client_send_reply(c, msg, id);
		return;
	}
	o.ob_p = s;
	o.ob_end = s + sizeof(s);
	o.ob_full = 0;
	ob_str(&o, "{\"type\":\"reply\",\"ok\":true,\"pin\":\"");
	ob_str(&o, r->pr_pin);
	ob_str(&o, "\",\"value\":");
	ob_i64(&o, r->pr_value);
	if (r->pr_seq != 0) {	/* the event the request caused, if any */
		ob_str(&o, ",\"seq\":");
		ob_u64(&o, r->pr_seq);
	}
	if (json_is_integer(id)) {
		ob_str(&o, ",\"id\":");
		ob_i64(&o, json_integer_value(id));
	} else if (id != NULL)
		o.ob_full = 1;	/* jansson writes any other id, below */
	ob_mem(&o, "}", 1);
	if ((n = ob_end(&o, s)) > 0) {
		conn_send_text(c, s, (size_t)n);
		return;
	}
	/* An id that is not an integer: jansson builds the reply. */
	msg = json_pack("{s:s, s:b, s:s, s:i}", "type", "reply", "ok", 1,
	    "pin", r->pr_pin, "value", r->pr_value);
	if (msg != NULL && r->pr_seq != 0)
		json_object_set_new(msg, "seq", json_integer((json_int_t)r->pr_seq));
	client_send_reply(c, msg, id);
}

#define PINV_NONE	(-2)	/* no "value" */

/* The request an op of a pin is, or 0 if op is not one. */
static uint16_t
pin_op_type(const char *op)
{
	if (strcmp(op, "get") == 0)
		return IPC_PIN_GET;
	if (strcmp(op, "toggle") == 0)
		return IPC_PIN_TOGGLE;
	if (strcmp(op, "set") == 0)
		return IPC_PIN_SET;
	if (strcmp(op, "sim.pull") == 0)
		return IPC_SIM_PULL;
	return 0;
}

/*
 * op, of type pin_op_type(op): pin NULL if "pin" is not a string; value
 * 0 or 1, -1 if "value" is neither, PINV_NONE if there is none.
 */
static void
client_pin_op(struct conn *c, json_t *id, const char *op, uint16_t type,
    const char *pin, int value)
{
	struct wsd_pin		*wp;
	struct pin_result	 r;

	if (pin == NULL) {
		client_reply_error(c, id, "bad_request",
		    "\"%s\" needs \"pin\": a pin name", op);
		return;
	}
	if ((wp = wsd_pin_find(pin)) == NULL) {
		client_reply_error(c, id, "unknown_pin", "no pin named \"%.64s\"",
		    pin);
		return;
	}
	memset(&r, 0, sizeof(r));
	if (pin_check(wp, type, &r) == -1) {
		client_pin_done(c, id, &r);
		return;
	}
	if (type == IPC_PIN_SET || type == IPC_SIM_PULL) {
		if (value == PINV_NONE) {
			client_reply_error(c, id, "bad_request",
			    "\"%s\" needs \"value\": 0 or 1", op);
			return;
		}
		if (value == -1) {
			client_reply_error(c, id, "bad_value",
			    "\"value\" must be 0 or 1");
			return;
		}
	} else
		value = 0;
	if (pin_request(c, id, wp, type, value, client_pin_done, &r) == -1)
		client_pin_done(c, id, &r);
}

/* 1 if the message was a quick request, and is answered. */
static int
client_quick(struct conn *c, const unsigned char *data, size_t len)
{
	struct quickreq	 q;
	json_t		*id = NULL;

	if (!quickreq_parse(data, len, &q))
		return 0;
	if (q.has_id && (id = json_integer(q.id)) == NULL)
		return 0;
	hold_end_wait(c);
	client_pin_op(c, id, q.op, pin_op_type(q.op),
	    q.has_pin ? q.pin : NULL, !q.has_value ? PINV_NONE :
	    q.value == 0 || q.value == 1 ? (int)q.value : -1);
	json_decref(id);
	return 1;
}

/* A request the worker answers: kind says how its answer is read. */
static void
client_worker_op(struct conn *c, json_t *id, enum req_kind kind,
    uint16_t type, const void *data, size_t len)
{
	struct pending	*p;

	if ((p = pending_new(c, id, kind, "")) == NULL) {
		client_reply_error(c, id, "internal", "out of memory");
		return;
	}
	if (wsd_worker_request(type, p->p_reqid, data, len) == -1) {
		pending_free(p);
		client_reply_error(c, id, "unavailable",
		    "the mission worker is not running; try again shortly");
	}
}

static void
client_mission_list(struct conn *c, json_t *id)
{
	client_worker_op(c, id, REQ_MISSIONS, IPC_MISSION_LIST, NULL, 0);
}

static void
client_mission_start(struct conn *c, json_t *req, json_t *id)
{
	json_t		*m = json_object_get(req, "mission");
	char		*s;

	if (!json_is_object(m)) {
		client_reply_error(c, id, "bad_request",
		    "\"mission.start\" needs \"mission\": an object");
		return;
	}
	if ((s = json_dumps(m, JSON_COMPACT)) == NULL) {
		client_reply_error(c, id, "internal", "out of memory");
		return;
	}
	if (strlen(s) > IPC_MAX_PAYLOAD) {
		free(s);
		client_reply_error(c, id, "bad_mission", "mission: must be at "
		    "most %d bytes of JSON", IPC_MAX_PAYLOAD);
		return;
	}
	client_worker_op(c, id, REQ_MISSION_OP, IPC_MISSION_START, s,
	    strlen(s));
	free(s);
}

static void
client_mission_cancel(struct conn *c, json_t *req, json_t *id)
{
	json_t			*m = json_object_get(req, "mission");
	struct ipc_mission_end	 me;

	if (!json_is_integer(m) || json_integer_value(m) <= 0 ||
	    json_integer_value(m) > UINT32_MAX) {
		client_reply_error(c, id, "bad_request",
		    "\"mission.cancel\" needs \"mission\": a mission id");
		return;
	}
	memset(&me, 0, sizeof(me));
	me.mission = (uint32_t)json_integer_value(m);
	client_worker_op(c, id, REQ_MISSION_OP, IPC_MISSION_CANCEL, &me,
	    sizeof(me));
}

/*
 * resume: the pin events after "since" from the helper's history, then the
 * live ones held meanwhile, each once and in order.
 */
/*
 * The history comes in pieces of REPLAY_PIECE events, the next asked for
 * once the client's output is short again (client_replay_more): a long
 * replay goes at the pace the client reads, where all of it at once went
 * past the output cap and the client was dropped part way.
 */
static int
history_ask(struct pending *p)
{
	struct ipc_history	 h;

	memset(&h, 0, sizeof(h));
	h.since = p->p_since;
	h.max = REPLAY_PIECE;
	return ipc_chan_send(wenv->w_helper, IPC_HISTORY, p->p_reqid, &h,
	    sizeof(h), -1);
}

static void
client_resume(struct conn *c, json_t *req, json_t *id)
{
	json_t		*js = json_object_get(req, "since");
	struct pending	*p;

	if (!json_is_integer(js) || json_integer_value(js) < 0) {
		client_reply_error(c, id, "bad_request",
		    "\"resume\" needs \"since\": the last seq seen");
		return;
	}
	if (c->c_hold != NULL && c->c_hold->ch_until == 0) {
		client_reply_error(c, id, "bad_request",
		    "a resume is already under way");
		return;
	}
	if (c->c_hold == NULL && (c->c_hold = calloc(1,
	    sizeof(*c->c_hold))) == NULL) {
		client_reply_error(c, id, "internal", "out of memory");
		return;
	}
	c->c_hold->ch_conn = c;
	hold_unqueue(c->c_hold);	/* held until the history is in */
	if ((p = pending_new(c, id, REQ_RESUME, "")) == NULL) {
		hold_release(c, 1);
		client_reply_error(c, id, "internal", "out of memory");
		return;
	}
	p->p_since = (uint64_t)json_integer_value(js);
	if (history_ask(p) == -1) {
		pending_free(p);
		hold_release(c, 1);
		client_reply_error(c, id, "unavailable",
		    "the helper cannot take requests now");
		return;
	}
	c->c_resuming = 1;	/* until hold_release */
}

void
client_history_event(uint32_t id, const struct ipc_pin_event *ev)
{
	struct pending	*p;
	char		 s[256];
	int		 n;

	if ((p = pending_find(id, REQ_RESUME)) == NULL || p->p_conn == NULL)
		return;
	/* The helper numbers pins as in the table wsd has (it came first). */
	n = pin_event_print(s, sizeof(s), ev->index < wenv->w_npins ?
	    wenv->w_pins[ev->index].wp_info.name : "", ev, 1);
	if (n == -1)
		return;
	conn_send_text(p->p_conn, s, (size_t)n);
	if (p->p_conn != NULL && p->p_conn->c_hold != NULL)
		p->p_conn->c_hold->ch_replayed = ev->seq;
}

/* The next piece of p's history, or an error if the helper cannot take it. */
static void
history_next(struct conn *c, struct pending *p)
{
	if (history_ask(p) == 0)
		return;
	client_reply_error(c, p->p_id, "unavailable",
	    "the helper cannot take requests now");
	hold_release(c, 1);
	pending_free(p);
}

/* c's output is short again: the next piece of the history it waits for. */
void
client_replay_more(struct conn *c)
{
	struct pending	*p = c->c_parked;

	c->c_parked = NULL;
	history_next(c, p);
}

void
client_history_end(uint32_t id, const struct ipc_history_end *he)
{
	struct pending	*p;
	struct conn	*c;
	json_t		*msg;
	char		 text[160];

	if ((p = pending_find(id, REQ_RESUME)) == NULL)
		return;
	if ((c = p->p_conn) != NULL && he->status == IPC_HISTORY_OK &&
	    he->more) {
		p->p_count += he->count;
		p->p_since = he->last;
		if (conn_output_short(c))
			history_next(c, p);
		else
			c->c_parked = p;	/* client_replay_more */
		return;
	}
	if (c != NULL) {
		if (he->status == IPC_HISTORY_OK) {
			if (c->c_hold != NULL)
				c->c_hold->ch_replayed = he->seq;
			msg = json_pack("{s:s, s:b, s:I, s:I}", "type", "reply",
			    "ok", 1, "replayed", (json_int_t)(p->p_count +
			    he->count), "seq", (json_int_t)he->seq);
			client_send_reply(c, msg, p->p_id);
		} else {
			/* oldest and last as fields, for a client to act on. */
			snprintf(text, sizeof(text), "the events after that "
			    "seq are %s (oldest kept: %" PRIu64 ", last: %"
			    PRIu64 "): take the state from hello",
			    he->status == IPC_HISTORY_GONE ? "no longer kept" :
			    "not known here", he->oldest, he->seq);
			msg = json_pack("{s:s, s:b, s:{s:s, s:s, s:I, s:I}}",
			    "type", "reply", "ok", 0, "error", "code",
			    "history_gone", "message", text, "oldest",
			    (json_int_t)he->oldest, "last", (json_int_t)he->seq);
			client_send_reply(c, msg, p->p_id);
		}
		hold_release(c, 1);
	}
	pending_free(p);
}

void
client_holder(const struct ipc_pin_holder *ph)
{
	wenv->w_pins[ph->index].wp_info.holder = ph->holder;
}

void
client_worker_mission_reply(uint32_t id, const char *data, size_t len)
{
	struct pending	*p;
	json_t		*msg;
	json_error_t	 err;

	if ((p = pending_find(id, REQ_MISSION_OP)) == NULL)
		return;
	if ((msg = json_loadb(data, len, 0, &err)) == NULL ||
	    !json_is_object(msg)) {
		json_decref(msg);
		if (p->p_conn != NULL)
			client_reply_error(p->p_conn, p->p_id, "internal",
			    "the mission worker answered with a malformed reply");
		pending_free(p);
		return;
	}
	if (p->p_conn != NULL) {
		json_object_set_new(msg, "type", json_string("reply"));
		if (p->p_id != NULL)
			json_object_set(msg, "id", p->p_id);
		client_send_json(p->p_conn, msg);
	}
	json_decref(msg);
	pending_free(p);
}

/* A mission changed: the cache for hello, and everyone is told. */
void
client_worker_mission_event(const char *data, size_t len)
{
	json_t		*m, *o, *e, *msg;
	json_error_t	 err;
	json_int_t	 mid;
	size_t		 i, ended = 0;
	char		*s;

	if ((m = json_loadb(data, len, 0, &err)) == NULL || !json_is_object(m) ||
	    (mid = json_integer_value(json_object_get(m, "id"))) <= 0) {
		log_warnx("worker sent a bad mission event");
		json_decref(m);
		return;
	}
	missions_changed();
	json_array_foreach(wenv->w_missions, i, o)
		if (json_integer_value(json_object_get(o, "id")) == mid)
			break;
	if (i < json_array_size(wenv->w_missions))
		json_array_set(wenv->w_missions, i, m);
	else
		json_array_append(wenv->w_missions, m);
	/*
	 * Only an ended one, new or one that has just ended, can make too
	 * many ended: the oldest ended go.
	 */
	if (json_object_get(m, "ended") != NULL)
		json_array_foreach(wenv->w_missions, i, o)
			if (json_object_get(o, "ended") != NULL)
				ended++;
	/* The list is in the order missions came: the oldest ended by time. */
	for (; ended > MISSIONS_KEPT; ended--) {
		json_int_t	 t, first = 0;
		size_t		 oldest = 0;
		int		 found = 0;

		json_array_foreach(wenv->w_missions, i, o) {
			if ((e = json_object_get(o, "ended")) == NULL)
				continue;
			t = json_integer_value(e);
			if (!found || t < first) {
				found = 1;
				first = t;
				oldest = i;
			}
		}
		json_array_remove(wenv->w_missions, oldest);
	}
	msg = json_pack("{s:s, s:O}", "type", "mission", "mission", m);
	json_decref(m);
	if (msg == NULL || (s = json_dumps(msg, JSON_COMPACT)) == NULL) {
		json_decref(msg);
		return;
	}
	client_broadcast(s, strlen(s));
	free(s);
	json_decref(msg);
}

void
client_message(struct conn *c, int opcode, const unsigned char *data,
    size_t len)
{
	json_t		*req, *id, *jop, *jpin, *jval;
	json_error_t	 err;
	const char	*op;
	uint16_t	 type;

	if (opcode != WS_OP_TEXT) {
		client_reply_error(c, NULL, "binary_unsupported",
		    "binary frames are not part of the protocol: send JSON "
		    "text");
		return;
	}
	if (client_quick(c, data, len))
		return;
	if ((req = json_loadb((const char *)data, len,
	    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err)) == NULL) {
		client_reply_error(c, NULL, "bad_json",
		    "invalid JSON at line %d column %d: %s", err.line,
		    err.column, err.text);
		return;
	}
	if (!json_is_object(req)) {
		client_reply_error(c, NULL, "bad_request",
		    "a request is a JSON object");
		json_decref(req);
		return;
	}
	id = json_object_get(req, "id");
	if ((jop = json_object_get(req, "op")) == NULL || !json_is_string(jop)) {
		client_reply_error(c, id, "bad_request",
		    "a request needs \"op\": a string");
		json_decref(req);
		return;
	}
	op = json_string_value(jop);
	/* Its first request: the client is not resuming, or is now. */
	if (strcmp(op, "resume") != 0)
		hold_end_wait(c);
	if ((type = pin_op_type(op)) != 0) {
		jpin = json_object_get(req, "pin");
		jval = json_object_get(req, "value");
		client_pin_op(c, id, op, type, json_is_string(jpin) ?
		    json_string_value(jpin) : NULL, jval == NULL ? PINV_NONE :
		    json_pin_value(jval));
	} else if (strcmp(op, "mission.list") == 0)
		client_mission_list(c, id);
	else if (strcmp(op, "mission.start") == 0)
		client_mission_start(c, req, id);
	else if (strcmp(op, "mission.cancel") == 0)
		client_mission_cancel(c, req, id);
	else if (strcmp(op, "resume") == 0)
		client_resume(c, req, id);
	else if (strcmp(op, "ping") == 0)
		/* Browsers cannot send a WebSocket ping: this is theirs. */
		client_send_reply(c, json_pack("{s:s, s:b}", "type", "reply",
		    "ok", 1), id);
	else
		client_reply_error(c, id, "unknown_op", "unknown op \"%.64s\"",
		    op);
	json_decref(req);
}

void
client_pin_event(const struct ipc_pin_event *ev)
{
	struct ipc_pin_info	*pi = &wenv->w_pins[ev->index].wp_info;
	char			 s[256];
	int			 n;

	pi->value = ev->value != 0;
	pi->seq = ev->seq;
	pi->ts = ev->ts;
	pi->source = ev->source;
	pi->mission = ev->mission;
	wenv->w_seq = ev->seq;

	n = pin_event_print(s, sizeof(s), pi->name, ev, 0);
	if (n == -1)
		return;
	client_broadcast_pin(s, (size_t)n, ev->seq);
}

void
client_helper_reply(uint32_t id, const struct ipc_reply *rep)
{
	struct pending		*p;
	struct pin_result	 r;
	const char		*name;

	if ((p = pending_find(id, REQ_PIN)) == NULL) {
		log_warnx("helper answered unknown request %u", id);
		return;
	}
	if (p->p_conn == NULL) {
		log_debug("answer to request %u: its client has gone", id);
		pending_free(p);
		return;
	}
	memset(&r, 0, sizeof(r));
	name_copy(r.pr_pin, p->p_pin);
	r.pr_type = p->p_type;
	r.pr_error = rep->error;
	r.pr_value = rep->value;
	r.pr_seq = rep->seq;
	r.pr_mission = rep->mission;
	if (rep->error == IPC_E_BUSY) {
		name = mission_name(rep->mission);
		pin_fail(&r, IPC_E_BUSY, "pin \"%s\" is held by mission %u%s"
		    "%.64s%s: cancel it first", p->p_pin, rep->mission,
		    name ? " (\"" : "", name ? name : "", name ? "\")" : "");
	} else if (rep->error != IPC_OK)
		pin_fail(&r, rep->error, "pin \"%s\": %s", p->p_pin,
		    rep->error == IPC_E_STALE ?
		    "the configuration was reloaded; try again" :
		    ipc_errcode(rep->error));
	/* done may send and queue more: p stays valid until freed here. */
	p->p_done(p->p_conn, p->p_id, &r);
	pending_free(p);
}

void
client_worker_missions(uint32_t id, const char *data, size_t len)
{
	struct pending	*p;
	json_t		*list, *msg;
	json_error_t	 err;

	if ((list = json_loadb(data, len, 0, &err)) == NULL ||
	    !json_is_array(list)) {
		log_warnx("worker sent a bad mission list");
		json_decref(list);
		if (id != 0 && (p = pending_find(id, REQ_MISSIONS)) != NULL) {
			if (p->p_conn != NULL)
				client_reply_error(p->p_conn, p->p_id,
				    "internal", "the mission worker answered "
				    "with a malformed list");
			pending_free(p);
		}
		return;
	}
	if (id == 0) {
		/*
		 * A (new) worker's whole list: what changed while nobody
		 * could be told (a worker restart) goes out now.
		 */
		json_t	*m, *o = NULL, *ev;
		size_t	 i, j;
		char	*s;

		json_array_foreach(list, i, m) {
			json_array_foreach(wenv->w_missions, j, o)
				if (json_equal(json_object_get(o, "id"),
				    json_object_get(m, "id")))
					break;
			if (j < json_array_size(wenv->w_missions) &&
			    json_equal(o, m))
				continue;
			ev = json_pack("{s:s, s:O}", "type", "mission",
			    "mission", m);
			if (ev != NULL && (s = json_dumps(ev,
			    JSON_COMPACT)) != NULL) {
				client_broadcast(s, strlen(s));
				free(s);
			}
			json_decref(ev);
		}
		json_decref(wenv->w_missions);
		wenv->w_missions = list;
		missions_changed();
		return;
	}
	if ((p = pending_find(id, REQ_MISSIONS)) != NULL) {
		if (p->p_conn != NULL) {
			msg = json_pack("{s:s, s:b, s:O}", "type", "reply",
			    "ok", 1, "missions", list);
			client_send_reply(p->p_conn, msg, p->p_id);
		}
		pending_free(p);
	}
	json_decref(list);
}

/* The worker went away: its pending answers will never come. */
void
client_worker_lost(void)
{
	struct pending	*p;

	/*
	 * From the head each time: a reply can drop its client, and
	 * pin_forget then frees that client's parked replay, wherever it is.
	 */
	for (;;) {
		TAILQ_FOREACH(p, &pendings, p_entry)
			if (p->p_kind == REQ_MISSIONS ||
			    p->p_kind == REQ_MISSION_OP)
				break;
		if (p == NULL)
			return;
		if (p->p_conn != NULL)
			client_reply_error(p->p_conn, p->p_id, "unavailable",
			    "the mission worker restarted; try again");
		pending_free(p);
	}
}

/* After a reload: every client starts again from a fresh hello. */
void
client_table_changed(void)
{
	struct conn		*c, *tmp;
	struct shared_frame	*sf = NULL;
	char			*s;

	/* One hello for all: encoded once, shared. */
	if ((s = client_hello_dumps()) != NULL) {
		sf = shared_frame_new(WS_OP_TEXT, s, strlen(s));
		free(s);
	}
	TAILQ_FOREACH_SAFE(c, &wenv->w_clients, c_entry, tmp) {
		/* What was held is about the old table: it goes first. */
		hold_end_wait(c);
		if (sf != NULL)
			conn_send_shared(c, sf);
	}
	if (sf != NULL)
		shared_frame_unref(sf);
}
