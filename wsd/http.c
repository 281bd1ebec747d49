/*
 * Connections: HTTP/1.1 for the dashboard files and the WebSocket upgrade,
 * then RFC 6455 frames.  The request head is parsed here, not by evhttp, so
 * that wsd controls limits, the upgrade and every status code itself.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <linux/openat2.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "fanout.h"
#include "log.h"
#include "wsd.h"

static struct evconnlistener	**listeners;
static unsigned int		 nlisteners;
static struct event		*ev_ping;	/* the idle clients' sweep */
static struct event		*ev_accept;	/* accepting again (listen_error) */
static int			 accept_paused;	/* until ev_accept */
static int			 listening = 1;	/* the listeners are enabled */
static unsigned int		 nhttp;		/* connections not upgraded */
static struct connlist		 httpq = TAILQ_HEAD_INITIALIZER(httpq);
static int			 http_full;	/* nhttp past the limit */
static struct event		*ev_room;	/* trying http_make_room again */
static uint64_t			 ping_ms;
static int			 listener_tls = 1;	/* the arg of TLS ones */

/*
 * What a client sends waits while WSD_MAX_INFLIGHT of its requests are out,
 * or while it resumes: requests after a resume are taken after it, as the
 * helper once answered them, whatever the pieces of a long replay.
 */
#define conn_busy(c)	((c)->c_inflight >= WSD_MAX_INFLIGHT || (c)->c_resuming)

/* A message from a busy client. */
struct deferred {
	TAILQ_ENTRY(deferred)	 d_entry;
	int			 d_opcode;
	size_t			 d_len;
	unsigned char		 d_data[];
};
/* Connections whose deferred messages may go on now (conn_ready_cb). */
static TAILQ_HEAD(, conn)	 readyq = TAILQ_HEAD_INITIALIZER(readyq);
static struct event		*ev_ready;

/* Every connection, from its accept to conn_free(). */
static struct connlist		 conns = TAILQ_HEAD_INITIALIZER(conns);

/* Upgraded connections with output to write at the end of the turn. */
static TAILQ_HEAD(, conn)	 flushq = TAILQ_HEAD_INITIALIZER(flushq);
/* One turn's writes (conn_flush_cb). */
static struct fan_item	*fan_items;
static size_t		 fan_cap;
static struct event		*ev_flush;

/*
 * A socket closed with unread input resets the connection, and a reset can
 * reach the client before it has read wsd's last answer (a 431 while the
 * head is still coming, a close frame while a message is): some systems
 * then throw the answer away.  So a connection that wsd closes after an
 * answer lingers: its output is shut down (the client reads the answer and
 * an end of file) and what it still sends is read and dropped until it
 * closes, for at most WSD_LINGER_MS, as Apache and nginx do.
 */
struct linger_sock {
	LIST_ENTRY(linger_sock)	 l_entry;
	struct event		*l_ev;
	uint64_t		 l_until;	/* conn_now_ms() */
};
static LIST_HEAD(, linger_sock)	 lingering = LIST_HEAD_INITIALIZER(lingering);
static unsigned int		 nlingering;

struct http_req {
	char		*method;
	char		*target;
	int		 minor;		/* HTTP/1.x */
	const char	*upgrade;
	const char	*connection;
	const char	*ws_key;
	const char	*ws_version;
	const char	*if_modified_since;
	int		 nif_modified_since;
	const char	*if_none_match;
	int		 if_none_match_any;	/* one of them is "*" */
	const char	*host;
	const char	*origin;
	const char	*content_length;
	int		 ncontent_length;
	const char	*transfer_encoding;
	const char	*content_type;
	int		 has_body;
};

struct shared_frame {
	unsigned int	 sf_refs;
	size_t		 sf_len;
	unsigned char	 sf_data[];
};

static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_stop_reading(struct conn *);
static void	conn_own_reads(struct conn *);
static void	conn_input_pause(struct conn *);
static void	conn_ready(struct conn *);
static void	conn_output_drained(struct conn *);
static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static void	conn_free(struct conn *);
static void	linger_end(struct linger_sock *);
static void	conn_drop(struct conn *);
static void	listen_update(void);
static void	http_make_room(void);

static int	ws_on_message(void *, int, const unsigned char *, size_t);
static int	ws_on_ping(void *, const unsigned char *, size_t);
static int	ws_on_close(void *, int, const char *, size_t);

static const struct ws_callbacks ws_cb = {
	.on_message = ws_on_message,
	.on_ping = ws_on_ping,
	.on_pong = NULL,
	.on_close = ws_on_close,
};

time_t
conn_now(void)
{
	return (time_t)(mono_us() / 1000000);
}

static uint64_t
conn_now_ms(void)
{
	return mono_us() / 1000;
}

/*
 * A request head must be complete by its deadline, however slowly its
 * bytes trickle in (slowloris): the read timeout is what is left of it.
 */
static int
conn_head_deadline(struct conn *c)
{
	struct timeval	 tv = { 0, 0 };
	time_t		 left = c->c_deadline - conn_now();

	if (c->c_deadline == 0)
		return 0;	/* responding: see http_responding() */
	if (left <= 0) {
		log_debug("request head not complete in %d s: dropped",
		    WSD_HEAD_TIMEOUT);
		conn_drop(c);
		return -1;
	}
	tv.tv_sec = left;
	bufferevent_set_timeouts(c->c_bev, &tv, NULL);
	return 0;
}

static void
conn_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct conn	*c;
	struct timeval	 tv = { WSD_HEAD_TIMEOUT, 0 };
	int		 on = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (arg == &listener_tls)
		c->c_bev = tls_accept(c, fd);
	else
		c->c_bev = bufferevent_socket_new(wenv->w_base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	if (c->c_bev == NULL) {
		close(fd);
		free(c);
		return;
	}
	c->c_state = CONN_HTTP;
	c->c_deadline = conn_now() + WSD_HEAD_TIMEOUT;
	TAILQ_INIT(&c->c_deferred);
	TAILQ_INSERT_TAIL(&conns, c, c_aentry);
	wenv->w_nconns++;
	c->c_http = 1;
	c->c_accepted = conn_now_ms();
	TAILQ_INSERT_TAIL(&httpq, c, c_hentry);
	if (++nhttp > WSD_MAX_HTTP) {
		http_make_room();
		listen_update();
	}
	bufferevent_setcb(c->c_bev, conn_read_cb, conn_write_cb,
	    conn_event_cb, c);
	/* A request head must be complete in time (slowloris). */
	bufferevent_set_timeouts(c->c_bev, &tv, NULL);
	bufferevent_enable(c->c_bev, EV_READ);
}

/*
 * Whether the listeners accept: not for a while after accept() failed
 * (listen_error), and not while WSD_MAX_HTTP connections are not upgraded.
 * Those, HTTP requests and TLS handshakes (some 45 KiB each in OpenSSL),
 * are not counted by max clients: without a bound, clients that open
 * connections and send nothing could take all of wsd's descriptors and
 * memory, 10 s at a time.  Past it, new connections wait in the listen
 * queue until one goes.
 */
static void
listen_update(void)
{
	unsigned int	 i;
	int		 want = !accept_paused && !http_full;

	if (want == listening)
		return;
	listening = want;
	for (i = 0; i < nlisteners; i++) {
		if (want)
			evconnlistener_enable(listeners[i]);
		else
			evconnlistener_disable(listeners[i]);
	}
}

/* What the limit on connections not upgraded did: once a minute at most. */
static void
http_limit_log(uint64_t *logged, const char *what)
{
	if (*logged != 0 && conn_now_ms() - *logged < 60000)
		return;
	*logged = conn_now_ms();
	log_warnx("%d connections not upgraded: %s", WSD_MAX_HTTP, what);
}

/* An HTTP connection idle between requests, or still sending its head. */
static int
http_unanswered(struct conn *c)
{
	return c->c_state == CONN_HTTP && !c->c_waiting &&
	    evbuffer_get_length(bufferevent_get_output(c->c_bev)) == 0;
}

/* ev, made on first use, runs cb in ms milliseconds. */
static void
http_timer(struct event **ev, event_callback_fn cb, unsigned int ms)
{
	struct timeval	 tv = { ms / 1000, ms % 1000 * 1000 };

	if (*ev == NULL && (*ev = evtimer_new(wenv->w_base, cb, NULL)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(*ev, &tv);
}

/* A connection went, or an answer did: accept again, and see. */
static void
http_room_again(void)
{
	http_full = 0;
	listen_update();
}

/*
 * The connection that found no room was accepted all the same: it is the
 * one over WSD_MAX_HTTP until the others are old enough for one to go.
 */
static void
http_room_cb(evutil_socket_t fd, short what, void *arg)
{
	http_full = 0;
	if (nhttp > WSD_MAX_HTTP)
		http_make_room();
	listen_update();
}

/* The oldest connection not being answered, if it is old enough to go. */
static struct conn *
http_room_maker(void)
{
	struct conn	*o;
	uint64_t	 now = conn_now_ms();

	TAILQ_FOREACH(o, &httpq, c_hentry) {
		/* Oldest first; one just accepted has had no chance to send. */
		if (now - o->c_accepted < WSD_ROOM_MIN_MS)
			return NULL;
		if (http_unanswered(o))
			return o;
	}
	return NULL;
}

/*
 * Past WSD_MAX_HTTP, the oldest connection not being answered (idle between
 * requests, or still sending its head or its TLS handshake) makes room for
 * the new one, as an HTTP client must expect of a connection kept open, if
 * it has been connected for WSD_ROOM_MIN_MS: one just accepted, in the same
 * burst say, has had no chance to send its request yet.  So a client cannot
 * hold the slots by connecting and sending nothing, short of opening 1024
 * connections a second.  If none can make room, no listener accepts until
 * one goes.
 */
static void
http_make_room(void)
{
	static uint64_t	 logged_room, logged_full;
	struct conn	*o;

	/* Two go when one found no room before. */
	while (nhttp > WSD_MAX_HTTP) {
		if ((o = http_room_maker()) == NULL) {
			http_limit_log(&logged_full,
			    "none can make room, not accepting for now");
			http_full = 1;
			/* Until one goes or an answer has gone, or in a while. */
			if (ev_room == NULL || !evtimer_pending(ev_room, NULL))
				http_timer(&ev_room, http_room_cb,
				    WSD_ROOM_MIN_MS);
			return;
		}
		http_limit_log(&logged_room,
		    "closing the oldest not being answered");
		conn_drop(o);
	}
}

/* c is no longer an HTTP connection (upgraded, dropped or freed). */
static void
conn_http_end(struct conn *c)
{
	if (!c->c_http)
		return;
	c->c_http = 0;
	TAILQ_REMOVE(&httpq, c, c_hentry);
	nhttp--;
	http_room_again();
}

static void
listen_resume(evutil_socket_t fd, short what, void *arg)
{
	accept_paused = 0;
	listen_update();
}

/*
 * accept() failed for want of descriptors or memory (EMFILE, ENFILE,
 * ENOBUFS: libevent retries the others itself).  The connection stays in
 * the listen queue, so the listener would fire again at once, for ever:
 * instead no listener accepts for WSD_ACCEPT_PAUSE_MS, as relayd and httpd
 * do, and the failure is logged once per pause.
 */
static void
listen_error(struct evconnlistener *l, void *arg)
{
	log_warnx("accept: %s; not accepting for %d ms", strerror(errno),
	    WSD_ACCEPT_PAUSE_MS);
	accept_paused = 1;
	listen_update();
	http_timer(&ev_accept, listen_resume, WSD_ACCEPT_PAUSE_MS);
}

/* *ev freed if made, and NULL. */
static void
event_clear(struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
}

int
http_listen(int fd, int tls)
{
	struct evconnlistener	*l, **nl;

	if ((nl = reallocarray(listeners, nlisteners + 1,
	    sizeof(*nl))) == NULL) {
		close(fd);
		return -1;
	}
	listeners = nl;
	evutil_make_socket_nonblocking(fd);
	l = evconnlistener_new(wenv->w_base, conn_accept,
	    tls ? &listener_tls : NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);	/* already listening */
	if (l == NULL) {
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(l, listen_error);
	listeners[nlisteners++] = l;
	if (!listening)
		evconnlistener_disable(l);
	return 0;
}

void
http_free_listeners(void)
{
	unsigned int	 i;

	for (i = 0; i < nlisteners; i++)
		evconnlistener_free(listeners[i]);
	free(listeners);
	listeners = NULL;
	nlisteners = 0;
	event_clear(&ev_accept);
	event_clear(&ev_room);
	http_full = 0;
	accept_paused = 0;
	listening = 1;			/* for listeners to come */
	event_clear(&ev_ping);
	ping_ms = 0;
}

/*
 * gpiows is stopping: an HTTP connection that is not being answered (idle
 * between requests, or sending its head) goes now; one being answered may
 * finish until wsd exits.
 */
void
http_stop_idle(void)
{
	struct conn	*c, *tmp;

	TAILQ_FOREACH_SAFE(c, &httpq, c_hentry, tmp)
		if (http_unanswered(c))
			conn_drop(c);
}

/* After the loop: the connections still open when wsd exits. */
void
http_free_conns(void)
{
	while (!TAILQ_EMPTY(&conns))
		conn_free(TAILQ_FIRST(&conns));
}

/*
 * Refused origins are logged, but at most ORIGIN_LOG_MAX in ORIGIN_LOG_MS:
 * any page a visitor opens can make them, as fast as wsd answers (61,000
 * lines a second with pipelined PUTs), which would fill the journal.  What
 * is left out is counted, and the count logged when the period ends.
 */
#define ORIGIN_LOG_MAX	10
#define ORIGIN_LOG_MS	10000

static struct event	*ev_origin_log;
static unsigned int	 origin_logged, origin_unlogged;

static void
origin_log_end(evutil_socket_t fd, short what, void *arg)
{
	if (origin_unlogged > 0)
		log_info("%u more refused origins in %d s not logged",
		    origin_unlogged, ORIGIN_LOG_MS / 1000);
	origin_logged = origin_unlogged = 0;
}

void
http_log_refused_origin(const char *what, const char *origin)
{
	if (ev_origin_log == NULL || !evtimer_pending(ev_origin_log, NULL))
		http_timer(&ev_origin_log, origin_log_end, ORIGIN_LOG_MS);
	if (origin_logged < ORIGIN_LOG_MAX) {
		origin_logged++;
		log_info("%s from origin %.100s refused", what, origin);
	} else
		origin_unlogged++;
}

/* At exit: the listeners, and what the loop's writes were kept in. */
void
http_shutdown(void)
{
	while (!LIST_EMPTY(&lingering))
		linger_end(LIST_FIRST(&lingering));
	http_free_listeners();
	event_clear(&ev_flush);
	event_clear(&ev_ready);
	event_clear(&ev_origin_log);
	free(fan_items);
	fan_items = NULL;
	fan_cap = 0;
}

/* ---------------------------------------------------------------- output */

void
http_response(struct conn *c, int status, const char *reason,
    const char *extra, const char *type, const char *body, int head_only)
{
	struct evbuffer	*out = bufferevent_get_output(c->c_bev);
	size_t		 len = body != NULL ? strlen(body) : 0;

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
	    "Server: gpiows\r\n"
	    "Date: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "%s%s%s"
	    "%s"
	    "Connection: %s\r\n\r\n",
	    status, reason, http_date(), len,
	    type != NULL ? "Content-Type: " : "", type != NULL ? type : "",
	    type != NULL ? "\r\n" : "",
	    extra != NULL ? extra : "",
	    c->c_keepalive ? "keep-alive" : "close");
	if (body != NULL && !head_only)
		evbuffer_add(out, body, len);
}

/*
 * An error response.  After most errors the rest of the input cannot be
 * trusted to start a request, so the connection closes; a 404 is a
 * well-formed request and keeps a keep-alive connection open.
 */
static void
http_error(struct conn *c, int status, const char *reason, const char *extra)
{
	struct timeval	 tv = { WSD_WRITE_TIMEOUT, 0 };
	char		 body[128];

	snprintf(body, sizeof(body), "%d %s\n", status, reason);
	if (status != 404)
		c->c_keepalive = 0;
	http_response(c, status, reason, extra, "text/plain; charset=utf-8",
	    body, c->c_head);
	if (!c->c_keepalive) {
		c->c_state = CONN_CLOSING;
		bufferevent_disable(c->c_bev, EV_READ);
		/* As any answer: a client that takes none of it goes. */
		bufferevent_set_timeouts(c->c_bev, NULL, &tv);
	}
}

/*
 * Writing an upgraded client's output ourselves, once per turn of the
 * loop, saves the bufferevent's way for each message: an epoll_ctl to
 * watch for writability, a turn of the loop, the write, an epoll_ctl to
 * stop watching.  For a broadcast to N clients that is 2N system calls of
 * 3N, and the reply to a request leaves a turn earlier.  Frames queued in
 * the same turn still go in one write, and a long list of writes is
 * shared with a second CPU (fanout.c).  What a socket does not take is
 * left to the bufferevent (EV_WRITE enabled) until its output is empty
 * again (conn_write_cb).  Only for plain sockets: TLS has to go through
 * its bufferevent.
 */
static int
fan_grow(void)
{
	struct fan_item	*ni;

	if ((ni = reallocarray(fan_items, fan_cap + 256, sizeof(*ni))) == NULL)
		return -1;
	fan_items = ni;
	fan_cap += 256;
	return 0;
}

static void
conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c;
	struct evbuffer	*out;
	struct fan_item	*it;
	size_t		 n = 0, i;

	while ((c = TAILQ_FIRST(&flushq)) != NULL) {
		TAILQ_REMOVE(&flushq, c, c_fentry);
		c->c_flushing = 0;
		if (c->c_dead || c->c_state != CONN_WS ||
		    (bufferevent_get_enabled(c->c_bev) & EV_WRITE))
			continue;
		out = bufferevent_get_output(c->c_bev);
		if (evbuffer_get_length(out) == 0)
			continue;
		if (n == fan_cap && fan_grow() == -1) {
			bufferevent_enable(c->c_bev, EV_WRITE);
			continue;
		}
		it = &fan_items[n];
		it->fi_fd = bufferevent_getfd(c->c_bev);
		it->fi_niov = evbuffer_peek(out, -1, NULL, it->fi_iov,
		    FANOUT_IOV);
		if (it->fi_niov > FANOUT_IOV)
			it->fi_niov = FANOUT_IOV;
		it->fi_arg = c;
		n++;
	}
	fanout_write(fan_items, n);
	for (i = 0; i < n; i++) {
		it = &fan_items[i];
		c = it->fi_arg;
		out = bufferevent_get_output(c->c_bev);
		if (it->fi_n > 0) {
			/* As the bufferevent does: its output's start is frozen. */
			evbuffer_unfreeze(out, 1);
			evbuffer_drain(out, (size_t)it->fi_n);
			evbuffer_freeze(out, 1);
		} else if (it->fi_n == -1 && it->fi_errno != EAGAIN) {
			log_debug("client write: %s", strerror(it->fi_errno));
			conn_drop(c);
			continue;
		}
		if (evbuffer_get_length(out) > 0)
			bufferevent_enable(c->c_bev, EV_WRITE);
		conn_output_drained(c);
	}
}

static void
conn_want_flush(struct conn *c)
{
	if (c->c_tls || c->c_flushing || c->c_state != CONN_WS ||
	    (bufferevent_get_enabled(c->c_bev) & EV_WRITE))
		return;
	if (ev_flush == NULL && (ev_flush = event_new(wenv->w_base, -1, 0,
	    conn_flush_cb, NULL)) == NULL) {
		bufferevent_enable(c->c_bev, EV_WRITE);
		return;
	}
	c->c_flushing = 1;
	TAILQ_INSERT_TAIL(&flushq, c, c_fentry);
	if (TAILQ_FIRST(&flushq) == c)
		event_active(ev_flush, EV_WRITE, 0);
}

static void
frame_add(struct conn *c, int opcode, const void *data, size_t len)
{
	struct evbuffer	*out = bufferevent_get_output(c->c_bev);
	unsigned char	 hdr[WS_MAX_HEADER];
	size_t		 hlen;

	hlen = ws_frame_header(hdr, opcode, len);
	evbuffer_add(out, hdr, hlen);
	if (len > 0)
		evbuffer_add(out, data, len);
	conn_want_flush(c);
}

/* A client that does not read its frames is dropped, never waited for. */
static int
conn_over_cap(struct conn *c)
{
	if (evbuffer_get_length(bufferevent_get_output(c->c_bev)) <=
	    WSD_MAX_OUTPUT)
		return 0;
	log_debug("client not reading: closing it");
	conn_drop(c);
	return 1;
}

void
conn_send_text(struct conn *c, const char *data, size_t len)
{
	if (c->c_state != CONN_WS)
		return;
	frame_add(c, WS_OP_TEXT, data, len);
	conn_over_cap(c);
}

struct shared_frame *
shared_frame_new(int opcode, const char *data, size_t len)
{
	struct shared_frame	*sf;
	unsigned char		 hdr[WS_MAX_HEADER];
	size_t			 hlen;

	hlen = ws_frame_header(hdr, opcode, len);
	if ((sf = malloc(sizeof(*sf) + hlen + len)) == NULL)
		return NULL;
	sf->sf_refs = 1;
	sf->sf_len = hlen + len;
	memcpy(sf->sf_data, hdr, hlen);
	memcpy(sf->sf_data + hlen, data, len);
	return sf;
}

void
shared_frame_ref(struct shared_frame *sf)
{
	sf->sf_refs++;
}

void
shared_frame_unref(struct shared_frame *sf)
{
	if (sf != NULL && --sf->sf_refs == 0)
		free(sf);
}

static void
shared_frame_cleanup(const void *data, size_t len, void *arg)
{
	shared_frame_unref(arg);
}

/*
 * libevent gives each reference a chain of its own of at least 1 KiB: for a
 * pin event of 150 bytes that is seven times the frame, and a client that
 * stops reading would hold several times WSD_MAX_OUTPUT before
 * conn_over_cap, which counts frame bytes, saw it.  Small frames are
 * copied into the chain being filled instead (cheaper than that
 * allocation, too); only large ones, where the chain is a small part, are
 * shared.
 */
#define SHARED_COPY_MAX		4096

void
conn_send_shared(struct conn *c, struct shared_frame *sf)
{
	if (c->c_state != CONN_WS)
		return;
	if (sf->sf_len <= SHARED_COPY_MAX) {
		if (evbuffer_add(bufferevent_get_output(c->c_bev),
		    sf->sf_data, sf->sf_len) == -1) {
			conn_drop(c);
			return;
		}
	} else {
		sf->sf_refs++;
		if (evbuffer_add_reference(bufferevent_get_output(c->c_bev),
		    sf->sf_data, sf->sf_len, shared_frame_cleanup, sf) == -1) {
			sf->sf_refs--;
			conn_drop(c);
			return;
		}
	}
	conn_want_flush(c);
	conn_over_cap(c);
}

/*
 * Start the closing handshake with code (0: no close frame, just drop),
 * then close once the output is flushed.
 */
void
conn_close(struct conn *c, int code, const char *reason)
{
	unsigned char	 payload[WS_MAX_CONTROL];
	struct timeval	 tv = { WSD_CLOSE_TIMEOUT, 0 };
	size_t		 len;

	if (c->c_state == CONN_CLOSING)
		return;
	if (c->c_state == CONN_WS) {
		client_leave(c);
		if (code != 0) {
			len = code == WS_CLOSE_NO_STATUS ? 0 :
			    ws_close_payload(payload, code, reason);
			frame_add(c, WS_OP_CLOSE, payload, len);
		}
	}
	c->c_state = CONN_CLOSING;
	conn_stop_reading(c);
	/* The bufferevent flushes the rest, then conn_write_cb frees it. */
	bufferevent_enable(c->c_bev, EV_WRITE);
	bufferevent_set_timeouts(c->c_bev, NULL, &tv);
	if (evbuffer_get_length(bufferevent_get_output(c->c_bev)) == 0)
		conn_drop(c);
}

static void
conn_free(struct conn *c)
{
	struct deferred	*d;

	while ((d = TAILQ_FIRST(&c->c_deferred)) != NULL) {
		TAILQ_REMOVE(&c->c_deferred, d, d_entry);
		free(d);
	}
	if (c->c_ready)
		TAILQ_REMOVE(&readyq, c, c_rentry);
	if (c->c_waiting)
		pin_forget(c);
	if (c->c_flushing)
		TAILQ_REMOVE(&flushq, c, c_fentry);
	if (c->c_state == CONN_WS)
		client_leave(c);
	ws_parser_free(&c->c_ws);
	if (c->c_rev != NULL)
		event_free(c->c_rev);
	tls_conn_free(c);
	bufferevent_free(c->c_bev);
	TAILQ_REMOVE(&conns, c, c_aentry);
	conn_http_end(c);
	free(c);
	if (--wenv->w_nconns == 0 && wenv->w_stopping)
		event_base_loopbreak(wenv->w_base);
}

static void
linger_end(struct linger_sock *l)
{
	LIST_REMOVE(l, l_entry);
	nlingering--;
	close(event_get_fd(l->l_ev));
	event_free(l->l_ev);
	free(l);
}

static void
linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct linger_sock	*l = arg;
	char			 buf[4096];
	ssize_t			 n;
	int			 i;

	if (what & EV_READ) {
		/* A few reads a turn, so that one sender cannot hold the loop. */
		for (i = 0; i < 16; i++)
			if ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) <= 0)
				break;
		if (i == 16 || (n == -1 && (errno == EAGAIN || errno == EINTR)))
			if (conn_now_ms() < l->l_until)
				return;
	}
	linger_end(l);
}

/* Take over c's socket to linger on it (it outlives the bufferevent). */
static void
conn_linger(struct conn *c)
{
	struct timeval		 tv = { WSD_LINGER_MS / 1000,
				    (WSD_LINGER_MS % 1000) * 1000 };
	struct linger_sock	*l;
	evutil_socket_t		 fd = bufferevent_getfd(c->c_bev), dfd;

	if (fd == -1 || nlingering >= WSD_LINGER_MAX ||
	    shutdown(fd, SHUT_WR) == -1)
		return;		/* the close resets it, as before */
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return;
	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1 ||
	    (l->l_ev = event_new(wenv->w_base, dfd, EV_READ | EV_PERSIST,
	    linger_cb, l)) == NULL || event_add(l->l_ev, &tv) == -1) {
		if (l->l_ev != NULL)
			event_free(l->l_ev);
		if (dfd != -1)
			close(dfd);
		free(l);
		return;
	}
	l->l_until = conn_now_ms() + WSD_LINGER_MS;
	LIST_INSERT_HEAD(&lingering, l, l_entry);
	nlingering++;
}

static void
conn_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_free(arg);
}

/*
 * Drop a connection from anywhere, even deep in a parser callback: it stops
 * at once and is freed from the event loop, with nothing else on the stack.
 */
static void
conn_drop(struct conn *c)
{
	if (c->c_dead)
		return;
	if (c->c_waiting) {
		pin_forget(c);
		c->c_waiting = 0;
	}
	if (c->c_state == CONN_WS)
		client_leave(c);
	conn_http_end(c);
	c->c_dead = 1;
	c->c_state = CONN_CLOSING;
	conn_stop_reading(c);
	bufferevent_disable(c->c_bev, EV_WRITE);
	if (event_base_once(wenv->w_base, -1, EV_TIMEOUT, conn_reap_cb, c,
	    NULL) == -1)
		log_warnx("cannot schedule a connection's release");
}

/* ---------------------------------------------------------------- websocket */

static void
conn_message(struct conn *c, int opcode, const unsigned char *data,
    size_t len)
{
	if (c->c_route != NULL)
		api_route_message(c, opcode, data, len);
	else
		client_message(c, opcode, data, len);
}

/*
 * A client with WSD_MAX_INFLIGHT requests out has the rest of what it
 * sent kept, in order, and is not read from until they have gone on:
 * without it, a client pipelining requests whose answers are long (a
 * mission list) had more of them out than the worker's queue or its own
 * output cap could hold.  What one read brought in is all that waits.
 */
static int
conn_defer(struct conn *c, int opcode, const unsigned char *data, size_t len)
{
	struct deferred	*d;

	if ((d = malloc(sizeof(*d) + len)) == NULL) {
		conn_close(c, WS_CLOSE_INTERNAL, "out of memory");
		return 1;
	}
	d->d_opcode = opcode;
	d->d_len = len;
	memcpy(d->d_data, data, len);
	TAILQ_INSERT_TAIL(&c->c_deferred, d, d_entry);
	if (!c->c_rpaused) {
		c->c_rpaused = 1;
		conn_stop_reading(c);
	}
	return 0;
}

/*
 * The client is going (its close frame, the end of its stream): what it
 * sent before is carried out all the same, now, past the inflight limit;
 * the answers will find nobody to go to.  What one read brought in is all
 * that can wait, so this is bounded.
 */
static void
conn_run_deferred(struct conn *c)
{
	struct deferred	*d;

	while (!c->c_dead && c->c_state == CONN_WS &&
	    (d = TAILQ_FIRST(&c->c_deferred)) != NULL) {
		TAILQ_REMOVE(&c->c_deferred, d, d_entry);
		conn_message(c, d->d_opcode, d->d_data, d->d_len);
		free(d);
	}
}

/* What waits goes on while few requests are out and the output is short. */
static void
conn_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c;
	struct deferred	*d;

	while ((c = TAILQ_FIRST(&readyq)) != NULL) {
		TAILQ_REMOVE(&readyq, c, c_rentry);
		c->c_ready = 0;
		while (!c->c_dead && c->c_state == CONN_WS && !conn_busy(c) &&
		    evbuffer_get_length(bufferevent_get_output(c->c_bev)) <=
		    WSD_PAUSE_OUTPUT &&
		    (d = TAILQ_FIRST(&c->c_deferred)) != NULL) {
			TAILQ_REMOVE(&c->c_deferred, d, d_entry);
			conn_message(c, d->d_opcode, d->d_data, d->d_len);
			free(d);
		}
		conn_input_resume(c);
	}
}

static void
conn_ready(struct conn *c)
{
	if (c->c_ready)
		return;
	if (ev_ready == NULL && (ev_ready = event_new(wenv->w_base, -1, 0,
	    conn_ready_cb, NULL)) == NULL) {
		log_warnx("cannot schedule a client's waiting requests");
		conn_close(c, WS_CLOSE_INTERNAL, "out of memory");
		return;
	}
	c->c_ready = 1;
	TAILQ_INSERT_TAIL(&readyq, c, c_rentry);
	event_active(ev_ready, EV_TIMEOUT, 0);
}

int
conn_output_short(struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->c_bev)) <=
	    WSD_PAUSE_OUTPUT / 2;
}

/* c's output has been written, all or some: whatever waited for it goes on. */
static void
conn_output_drained(struct conn *c)
{
	if (c->c_dead || c->c_state != CONN_WS)
		return;
	/*
	 * A resuming client's pongs wait with what it sends after the
	 * resume; that it takes its replay shows it is there.
	 */
	if (c->c_resuming && conn_output_short(c)) {
		c->c_active = conn_now_ms();
		c->c_pinged = 0;
	}
	if (c->c_parked != NULL && conn_output_short(c))
		client_replay_more(c);
	conn_input_resume(c);
}

void
conn_inflight_done(struct conn *c)
{
	if (c->c_inflight > 0)
		c->c_inflight--;
	conn_input_resume(c);
}

static int
ws_on_message(void *arg, int opcode, const unsigned char *data, size_t len)
{
	struct conn	*c = arg;

	if (conn_busy(c) || !TAILQ_EMPTY(&c->c_deferred))
		return conn_defer(c, opcode, data, len);
	conn_message(c, opcode, data, len);
	/* The client may have been dropped for not reading. */
	return c->c_state != CONN_WS;
}

static int
ws_on_ping(void *arg, const unsigned char *data, size_t len)
{
	struct conn	*c = arg;

	frame_add(c, WS_OP_PONG, data, len);
	return 0;
}

static int
ws_on_close(void *arg, int code, const char *reason, size_t len)
{
	struct conn	*c = arg;

	/* Echo the code, as RFC 6455 5.5.1 asks, and stop. */
	conn_run_deferred(c);
	conn_close(c, code, "");
	return 1;
}

/*
 * Idle clients: one periodic sweep over all of them rather than a timer per
 * connection, which would cost more than the rest of an idle connection.
 * A client that has sent nothing for the interval gets an empty ping; one
 * that sends nothing, pong or otherwise, for the interval after it is
 * closed with 1001.  The sweep runs four times an interval, so a client is
 * pinged at most a quarter interval late.
 */
static void
conn_ping_one(struct conn *c, uint64_t now)
{
	/*
	 * A client whose requests wait on the helper or the worker is waited
	 * on, not idle (while 8 are out, wsd does not even read its pongs).
	 */
	if (c->c_inflight > 0 && conn_output_short(c)) {
		c->c_active = now;
		c->c_pinged = 0;
		return;
	}
	if (now - c->c_active < ping_ms)
		return;
	if (c->c_pinged) {
		log_debug("client did not answer a ping: closing it");
		conn_close(c, WS_CLOSE_GOING_AWAY, "ping not answered");
		return;
	}
	c->c_pinged = 1;
	c->c_active = now;
	frame_add(c, WS_OP_PING, NULL, 0);
	conn_over_cap(c);
}

static void
conn_ping_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c, *tmp;
	uint64_t	 now = conn_now_ms();

	TAILQ_FOREACH_SAFE(c, &wenv->w_clients, c_entry, tmp)
		conn_ping_one(c, now);
	api_route_foreach(conn_ping_one, now);
}

void
http_ping_interval(unsigned int seconds)
{
	struct timeval	 tv;
	uint64_t	 tick;

	if ((uint64_t)seconds * 1000 == ping_ms)
		return;
	if (ev_ping == NULL && (ev_ping = event_new(wenv->w_base, -1,
	    EV_PERSIST, conn_ping_sweep, NULL)) == NULL)
		fatalx("event_new");
	evtimer_del(ev_ping);
	ping_ms = (uint64_t)seconds * 1000;
	if (seconds == 0)
		return;
	tick = ping_ms / 4;
	tv.tv_sec = (time_t)(tick / 1000);
	tv.tv_usec = (suseconds_t)(tick % 1000 * 1000);
	evtimer_add(ev_ping, &tv);
}

/* What the parser made of the bytes fed to it: c is closed if it must be. */
static void
ws_parsed(struct conn *c, int r)
{
	if (r == WS_PARSE_OK || r == WS_PARSE_STOPPED)
		return;		/* STOPPED: a callback has closed c */
	if (r == WS_PARSE_NOMEM) {
		conn_close(c, WS_CLOSE_INTERNAL, "out of memory");
		return;
	}
	conn_close(c, r, r == WS_CLOSE_BAD_DATA ? "invalid UTF-8" :
	    r == WS_CLOSE_TOO_BIG ? "message too big" : "protocol error");
}

/* Frames in the bufferevent's input: a TLS client's, or after the head. */
static void
ws_read(struct conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->c_bev);
	struct evbuffer_iovec	 v[8];
	int			 n, i, r = WS_PARSE_OK;
	size_t			 used = 0;

	while (c->c_state == CONN_WS && evbuffer_get_length(in) > 0) {
		n = evbuffer_peek(in, -1, NULL, v, 8);
		if (n > 8)
			n = 8;
		used = 0;
		for (i = 0; i < n && r == WS_PARSE_OK; i++) {
			r = ws_parser_feed(&c->c_ws, v[i].iov_base,
			    v[i].iov_len);
			used += v[i].iov_len;
		}
		if (r != WS_PARSE_OK)
			break;
		evbuffer_drain(in, used);
	}
	if (r != WS_PARSE_OK && r != WS_PARSE_STOPPED)
		evbuffer_drain(in, evbuffer_get_length(in));
	ws_parsed(c, r);
	conn_input_pause(c);
}

/*
 * An upgraded plain socket, read by wsd: one read(2) into the stack and
 * the bytes go to the parser, where the bufferevent would ask FIONREAD,
 * fill its input buffer and call back.  The end of the stream and a
 * read error free the connection, as the bufferevent's event would.
 */
static void
conn_sock_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	unsigned char	 buf[16384];
	ssize_t		 n;

	if (c->c_dead || c->c_state != CONN_WS) {
		conn_stop_reading(c);	/* not again and again */
		return;
	}
	if ((n = read(fd, buf, sizeof(buf))) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_debug("client read: %s", strerror(errno));
		n = 0;
	}
	if (n == 0) {
		conn_run_deferred(c);	/* it may drop c */
		if (!c->c_dead)
			conn_free(c);
		return;
	}
	c->c_active = conn_now_ms();
	c->c_pinged = 0;
	ws_parsed(c, ws_parser_feed(&c->c_ws, buf, (size_t)n));
	conn_input_pause(c);
}

/* From now on wsd reads c's plain socket itself (conn_sock_read). */
static void
conn_own_reads(struct conn *c)
{
	evutil_socket_t	 fd = bufferevent_getfd(c->c_bev);

	if ((c->c_rev = event_new(wenv->w_base, fd, EV_READ | EV_PERSIST,
	    conn_sock_read, c)) == NULL ||
	    (!c->c_rpaused && event_add(c->c_rev, NULL) == -1)) {
		log_warnx("cannot watch a client's socket");
		if (c->c_rev != NULL)
			event_free(c->c_rev);
		c->c_rev = NULL;
		return;		/* the bufferevent goes on reading */
	}
	bufferevent_disable(c->c_bev, EV_READ);
}

/* Whoever reads c, it reads no more. */
static void
conn_stop_reading(struct conn *c)
{
	if (c->c_rev != NULL)
		event_del(c->c_rev);
	bufferevent_disable(c->c_bev, EV_READ);
}

/*
 * A client whose answers pile up unread is not read from either: while
 * more than WSD_PAUSE_OUTPUT bytes wait to go to it, its requests wait in
 * its socket (and TCP slows it down), until its output is down to half of
 * that.  A client that pipelines requests faster than it reads their
 * answers is thus served at the pace it reads, where it would have been
 * dropped at WSD_MAX_OUTPUT; one that does not read at all still gets
 * there through what is broadcast to it, and is dropped.
 */
static void
conn_input_pause(struct conn *c)
{
	if (c->c_rpaused || c->c_state != CONN_WS ||
	    evbuffer_get_length(bufferevent_get_output(c->c_bev)) <=
	    WSD_PAUSE_OUTPUT)
		return;
	c->c_rpaused = 1;
	conn_stop_reading(c);
}

/*
 * c's output or its requests out have gone down: what it sent and waits
 * goes on, and once nothing waits, it is read again.
 */
void
conn_input_resume(struct conn *c)
{
	if (!c->c_rpaused || c->c_dead || c->c_state != CONN_WS ||
	    !conn_output_short(c))
		return;
	if (!TAILQ_EMPTY(&c->c_deferred)) {
		if (!conn_busy(c))
			conn_ready(c);
		return;
	}
	if (c->c_inflight > WSD_MAX_INFLIGHT / 2)
		return;
	c->c_rpaused = 0;
	if (c->c_rev != NULL)
		event_add(c->c_rev, NULL);
	else
		bufferevent_enable(c->c_bev, EV_READ);
}

/* ---------------------------------------------------------------- http */

static int
header_has_token(const char *value, const char *token)
{
	size_t	 tl = strlen(token);
	const char *p = value;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, token, tl) == 0 &&
		    (p[tl] == '\0' || p[tl] == ',' || p[tl] == ' ' ||
		    p[tl] == '\t'))
			return 1;
		p = strchr(p, ',');
	}
	return 0;
}

static int
is_tchar(int ch)
{
	return isalnum(ch) || (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Parse the head in place (head is NUL-terminated, CRLF line ends). */
static int
http_parse(char *head, struct http_req *r)
{
	char	*line, *next, *p, *name, *value, *end;

	memset(r, 0, sizeof(*r));
	line = head;
	if ((next = strstr(line, "\r\n")) == NULL)
		return -1;
	*next = '\0';
	next += 2;

	/* METHOD SP target SP HTTP/1.x */
	r->method = line;
	if ((p = strchr(line, ' ')) == NULL)
		return -1;
	*p++ = '\0';
	r->target = p;
	if ((p = strchr(p, ' ')) == NULL)
		return -1;
	*p++ = '\0';
	if (strncmp(p, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)p[7]) ||
	    p[8] != '\0')
		return -1;
	r->minor = p[7] - '0';
	for (p = r->method; *p != '\0'; p++)
		if (!is_tchar((unsigned char)*p))
			return -1;
	if (*r->method == '\0' || *r->target == '\0')
		return -1;
	for (p = r->target; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return -1;

	while (*next != '\0') {
		line = next;
		if ((end = strstr(line, "\r\n")) == NULL)
			return -1;
		*end = '\0';
		next = end + 2;
		if (*line == '\0')
			break;
		if (*line == ' ' || *line == '\t')
			return -1;	/* obsolete line folding */
		name = line;
		if ((value = strchr(line, ':')) == NULL || value == name)
			return -1;
		*value++ = '\0';
		for (p = name; *p != '\0'; p++)
			if (!is_tchar((unsigned char)*p))
				return -1;
		while (*value == ' ' || *value == '\t')
			value++;
		for (p = value + strlen(value); p > value &&
		    (p[-1] == ' ' || p[-1] == '\t'); p--)
			p[-1] = '\0';
		for (p = value; *p != '\0'; p++)
			if ((unsigned char)*p < ' ' && *p != '\t')
				return -1;
		if (strcasecmp(name, "Upgrade") == 0)
			r->upgrade = value;
		else if (strcasecmp(name, "Connection") == 0)
			r->connection = value;
		else if (strcasecmp(name, "Sec-WebSocket-Key") == 0)
			r->ws_key = value;
		else if (strcasecmp(name, "Sec-WebSocket-Version") == 0)
			r->ws_version = value;
		else if (strcasecmp(name, "If-Modified-Since") == 0) {
			r->if_modified_since = value;
			r->nif_modified_since++;
		} else if (strcasecmp(name, "If-None-Match") == 0) {
			r->if_none_match = value;
			r->if_none_match_any |= strcmp(value, "*") == 0;
		}
		else if (strcasecmp(name, "Host") == 0)
			r->host = value;
		else if (strcasecmp(name, "Origin") == 0)
			r->origin = value;
		else if (strcasecmp(name, "Content-Type") == 0)
			r->content_type = value;
		if (strcasecmp(name, "Content-Length") == 0) {
			r->content_length = value;
			r->ncontent_length++;
		} else if (strcasecmp(name, "Transfer-Encoding") == 0)
			r->transfer_encoding = value;
		if ((strcasecmp(name, "Content-Length") == 0 &&
		    strcmp(value, "0") != 0) ||
		    strcasecmp(name, "Transfer-Encoding") == 0)
			r->has_body = 1;
	}
	return 0;
}

static const char *
mime_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	const char	*dot = strrchr(path, '.');
	size_t		 i;

	if (dot != NULL)
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

int
http_path_char(const char **sp)
{
	const char	*s = *sp;
	int		 ch = (unsigned char)*s, hi, lo;

	if (ch != '%') {
		*sp = s + 1;
		return ch;
	}
	if ((hi = hexval((unsigned char)s[1])) == -1 ||
	    (lo = hexval((unsigned char)s[2])) == -1)
		return -1;
	*sp = s + 3;
	ch = hi << 4 | lo;
	return ch == '\0' ? -1 : ch;
}

/*
 * The target's path, percent-decoded, relative to www ("index.html" for
 * "/").  Refuses NUL, ".." segments and anything not absolute.
 */
static int
http_path(const char *target, char *out, size_t outlen)
{
	const char	*s = target;
	size_t		 n = 0;
	int		 ch;
	char		*seg;

	if (*s != '/')
		return -1;
	s++;
	while (*s != '\0' && *s != '?' && *s != '#') {
		if ((ch = http_path_char(&s)) == -1)
			return -1;
		if (n + 1 >= outlen)
			return -1;
		out[n++] = (char)ch;
	}
	out[n] = '\0';
	for (seg = out; seg != NULL; seg = strchr(seg, '/')) {
		if (*seg == '/')
			seg++;
		if (strncmp(seg, "..", 2) == 0 && (seg[2] == '/' ||
		    seg[2] == '\0'))
			return -1;
	}
	if (n == 0 || out[n - 1] == '/') {
		if (n + sizeof("index.html") > outlen)
			return -1;
		strcat(out, "index.html");
	}
	return 0;
}

/* openat2 keeps every lookup, symlinks included, beneath www. */
static int
www_open(const char *path)
{
	struct open_how	 how;
	int		 fd;

	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	fd = syscall(SYS_openat2, wenv->w_wwwfd, path, &how, sizeof(how));
	if (fd == -1 && errno == ENOSYS)
		fd = openat(wenv->w_wwwfd, path, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW | O_NONBLOCK);
	return fd;
}

/* n decimal digits at s, or -1. */
static int
http_digits(const char *s, int n)
{
	int	 v = 0;

	while (n-- > 0) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	return v;
}

/*
 * An IMF-fixdate of RFC 9110, "Sun, 06 Nov 1994 08:49:37 GMT", exactly:
 * strptime() would take one-digit days, runs of spaces and 31 February.
 * The day of the week must be the date's.
 */
static int
http_date_parse(const char *s, time_t *t)
{
	static const char	 days[] = "SunMonTueWedThuFriSat";
	static const char	 months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm		 tm, back;
	int			 i, wday = -1, mon = -1;

	if (strlen(s) != 29 || s[3] != ',' ||
	    s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
	    s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0)
		return -1;
	for (i = 0; i < 7; i++)
		if (strncmp(s, days + 3 * i, 3) == 0)
			wday = i;
	for (i = 0; i < 12; i++)
		if (strncmp(s + 8, months + 3 * i, 3) == 0)
			mon = i;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mday = http_digits(s + 5, 2);
	tm.tm_mon = mon;
	tm.tm_year = http_digits(s + 12, 4) - 1900;
	tm.tm_hour = http_digits(s + 17, 2);
	tm.tm_min = http_digits(s + 20, 2);
	tm.tm_sec = http_digits(s + 23, 2);
	if (wday == -1 || mon == -1 || tm.tm_mday < 1 || tm.tm_year < -1900 ||
	    tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 ||
	    tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 59)
		return -1;
	back = tm;
	if ((*t = timegm(&back)) == (time_t)-1 || back.tm_mday != tm.tm_mday ||
	    back.tm_mon != mon || back.tm_wday != wday)
		return -1;
	return 0;
}

/*
 * Whether a GET or HEAD of a file modified at mtime is answered 304 (RFC
 * 9110 13.2.2): If-None-Match decides when there is one, and wsd sends no
 * ETag, so only "*" (the file exists) matches; otherwise If-Modified-Since,
 * given once, as an IMF-fixdate no earlier than mtime.
 */
static int
http_not_modified(const struct http_req *r, time_t mtime)
{
	time_t	 since;

	if (r->if_none_match != NULL)
		return r->if_none_match_any;
	if (r->if_modified_since == NULL || r->nif_modified_since != 1 ||
	    http_date_parse(r->if_modified_since, &since) == -1)
		return 0;
	return mtime <= since;
}

/* t as an IMF-fixdate, into buf of HTTP_DATE_SIZE bytes. */
#define HTTP_DATE_SIZE	32
static void
http_date_format(time_t t, char *buf)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(buf, HTTP_DATE_SIZE, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* The Date of an answer, made once a second. */
const char *
http_date(void)
{
	static char	 buf[HTTP_DATE_SIZE];
	static time_t	 made = -1;
	time_t		 now = time(NULL);

	if (now != made) {
		http_date_format(now, buf);
		made = now;
	}
	return buf;
}

/*
 * The dashboard loads only from wsd, and no other site may frame it: in a
 * frame under a bait, a visitor's click would switch pins, and the
 * WebSocket's Origin, the board's own, would not tell.
 */
#define WWW_POLICY \
	"Content-Security-Policy: default-src 'self'; img-src 'self' data:; " \
	    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'\r\n" \
	"X-Frame-Options: DENY\r\n" \
	"Referrer-Policy: no-referrer\r\n"

static void
http_file(struct conn *c, struct http_req *r)
{
	struct evbuffer	*out = bufferevent_get_output(c->c_bev);
	struct stat	 st;
	char		 path[1024], lastmod[HTTP_DATE_SIZE];
	int		 fd, head = strcmp(r->method, "HEAD") == 0;

	if (http_path(r->target, path, sizeof(path)) == -1) {
		http_error(c, 400, "Bad Request", NULL);
		return;
	}
	if ((fd = www_open(path)) == -1) {
		http_error(c, 404, "Not Found", NULL);
		return;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		http_error(c, 404, "Not Found", NULL);
		return;
	}
	http_date_format(st.st_mtime, lastmod);
	if (http_not_modified(r, st.st_mtime)) {
		close(fd);
		evbuffer_add_printf(out, "HTTP/1.1 304 Not Modified\r\n"
		    "Server: gpiows\r\nDate: %s\r\nLast-Modified: %s\r\n"
		    "Cache-Control: no-cache\r\n"
		    "Connection: %s\r\n\r\n", http_date(), lastmod,
		    c->c_keepalive ? "keep-alive" : "close");
		return;
	}
	evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\n"
	    "Server: gpiows\r\n"
	    "Date: %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %lld\r\n"
	    "Last-Modified: %s\r\n"
	    "Cache-Control: no-cache\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    WWW_POLICY
	    "Connection: %s\r\n\r\n",
	    http_date(), mime_type(path), (long long)st.st_size, lastmod,
	    c->c_keepalive ? "keep-alive" : "close");
	if (head || st.st_size == 0)
		close(fd);
	else if (evbuffer_add_file(out, fd, 0, st.st_size) == -1)
		conn_drop(c);	/* it has closed fd */
}

/* "host[:port]" with the port made explicit, lowercase, into out. */
static int
hostport(const char *s, const char *defport, char *out, size_t outlen)
{
	const char	*end;
	size_t		 i;
	int		 n;

	if (*s == '[')
		end = (end = strchr(s, ']')) != NULL && end[1] == ':' ? end + 1 :
		    NULL;
	else
		end = strchr(s, ':');
	n = snprintf(out, outlen, "%s%s%s", s, end == NULL ? ":" : "",
	    end == NULL ? defport : "");
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	for (i = 0; out[i] != '\0'; i++)
		out[i] = tolower((unsigned char)out[i]);
	return 0;
}

/*
 * Cross-site WebSocket hijacking: a page from elsewhere must not drive the
 * pins through a visitor's browser.  Browsers always send Origin; a client
 * without one is not a browser and is not refused here.  With no "origin"
 * in the configuration, only the host the request names is allowed; with
 * some, exactly those ("null", a page opened from a file, only if listed).
 */
static int
origin_allowed(const struct conn *c, const struct http_req *r)
{
	const char	*o = r->origin, *hp;
	char		 a[300], b[300];
	unsigned int	 i;

	if (o == NULL)
		return 1;
	if (wenv->w_norigins > 0) {
		for (i = 0; i < wenv->w_norigins; i++)
			if (strcasecmp(o, wenv->w_origins[i]) == 0)
				return 1;
		return 0;
	}
	if (r->host == NULL)
		return 0;
	if (strncasecmp(o, "http://", 7) == 0 && !c->c_tls)
		hp = o + 7;
	else if (strncasecmp(o, "https://", 8) == 0)
		hp = o + 8;
	else
		return 0;	/* on TLS, an http page is another origin */
	/*
	 * A Host without a port is the default port of the connection's
	 * scheme: 443 on a TLS listener.  On a plain one, that of the page's
	 * scheme: behind a TLS proxy on 443 the page is https, the Host bare.
	 */
	if (hostport(hp, hp == o + 7 ? "80" : "443", a, sizeof(a)) == -1 ||
	    hostport(r->host, c->c_tls || hp == o + 8 ? "443" : "80", b,
	    sizeof(b)) == -1)
		return 0;
	return strcmp(a, b) == 0;
}

static void
http_upgrade(struct conn *c, struct http_req *r)
{
	struct evbuffer	*out = bufferevent_get_output(c->c_bev);
	char		 accept[29];
	char		 path[64];
	int		 route;

	/* A body would be read as frames: refused, as for any GET. */
	if (strcmp(r->method, "GET") != 0 || r->minor < 1 || r->has_body) {
		http_error(c, 400, "Bad Request", NULL);
		return;
	}
	if (r->ws_version == NULL || strcmp(r->ws_version, "13") != 0) {
		http_error(c, 426, "Upgrade Required",
		    "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n");
		return;
	}
	if (r->ws_key == NULL || ws_accept_key(r->ws_key, accept) == -1 ||
	    r->connection == NULL || !header_has_token(r->connection,
	    "upgrade")) {
		http_error(c, 400, "Bad Request", NULL);
		return;
	}
	if (!(route = api_route_find(r->target)) &&
	    (http_path(r->target, path, sizeof(path)) == -1 ||
	    strcmp(path, "ws") != 0)) {
		http_error(c, 404, "Not Found", NULL);
		return;
	}
	if (!origin_allowed(c, r)) {
		http_log_refused_origin("WebSocket", r->origin);
		http_error(c, 403, "Forbidden", NULL);
		return;
	}
	if (wenv->w_nclients + wenv->w_nroutes >= wenv->w_max_clients ||
	    (route && api_route_join(c, r->target) == -1)) {
		http_error(c, 503, "Service Unavailable", "Retry-After: 5\r\n");
		return;
	}
	/* An earlier answer has gone: requests are taken one at a time. */
	evbuffer_add_printf(out, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Server: gpiows\r\nDate: %s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n\r\n", http_date(), accept);
	c->c_state = CONN_WS;
	conn_http_end(c);
	ws_parser_init(&c->c_ws, wenv->w_max_message, &ws_cb, c);
	bufferevent_set_timeouts(c->c_bev, NULL, NULL);
	c->c_active = conn_now_ms();
	if (!c->c_tls)
		bufferevent_disable(c->c_bev, EV_WRITE);
	if (!route)
		client_join(c);
	conn_want_flush(c);
}

/*
 * While a response is written, the next request's deadline does not run
 * (a large file may take a while to a slow reader); a reader that takes
 * nothing for WSD_WRITE_TIMEOUT is dropped.  The deadline starts again when
 * the response has gone (conn_write_cb).
 */
static void
http_responding(struct conn *c)
{
	struct timeval	 tv = { WSD_WRITE_TIMEOUT, 0 };

	if (evbuffer_get_length(bufferevent_get_output(c->c_bev)) == 0) {
		c->c_deadline = conn_now() + WSD_HEAD_TIMEOUT;
		return;
	}
	c->c_deadline = 0;
	bufferevent_set_timeouts(c->c_bev, NULL, &tv);
}

/* A response has been queued: close after it, or await the next head. */
static void
http_done(struct conn *c)
{
	struct timeval	 tv = { WSD_WRITE_TIMEOUT, 0 };

	if (!c->c_keepalive && c->c_state == CONN_HTTP) {
		c->c_state = CONN_CLOSING;
		bufferevent_disable(c->c_bev, EV_READ);
		bufferevent_set_timeouts(c->c_bev, NULL, &tv);
	}
	if (c->c_state == CONN_HTTP)
		http_responding(c);
}

/*
 * An API request waiting for the helper reads no further request, though
 * reading goes on: a client that goes away is noticed and freed, and the
 * answer then has nobody to go to (pin_forget).
 */
static void
http_waiting(struct conn *c)
{
	struct timeval	 tv = { WSD_WRITE_TIMEOUT, 0 };

	c->c_deadline = 0;
	bufferevent_set_timeouts(c->c_bev, &tv, &tv);
}

void
http_resume(struct conn *c)
{
	c->c_waiting = 0;
	if (c->c_dead || c->c_state != CONN_HTTP)
		return;
	bufferevent_set_timeouts(c->c_bev, NULL, NULL);
	http_done(c);
	/* Pipelined requests that came meanwhile. */
	if (c->c_state == CONN_HTTP &&
	    evbuffer_get_length(bufferevent_get_input(c->c_bev)) > 0)
		conn_read_cb(c->c_bev, c);
}

/* The API's request: its body, read in full, and the answer. */
static int
http_api(struct conn *c, struct http_req *r, size_t hlen)
{
	struct evbuffer	*in = bufferevent_get_input(c->c_bev);
	struct api_req	 ar;
	char		*body;
	size_t		 blen;

	if (api_framing(c, r->method, r->content_length,
	    r->ncontent_length, r->transfer_encoding, &blen) == -1)
		return 0;
	/* The body has the head's deadline (slowloris). */
	if (evbuffer_get_length(in) < hlen + blen) {
		conn_head_deadline(c);
		return -1;
	}
	evbuffer_drain(in, hlen);
	if ((body = malloc(blen + 1)) == NULL) {
		conn_drop(c);
		return 0;
	}
	evbuffer_remove(in, body, blen);
	body[blen] = '\0';
	memset(&ar, 0, sizeof(ar));
	ar.ar_method = r->method;
	ar.ar_target = r->target;
	ar.ar_ctype = r->content_type;
	ar.ar_origin = r->origin;
	ar.ar_origin_ok = origin_allowed(c, r);
	ar.ar_body = body;
	ar.ar_len = blen;
	api_request(c, &ar);
	free(body);
	return 0;
}

/* One request head out of the input; 1 when another may follow. */
static int
http_request(struct conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->c_bev);
	struct evbuffer_ptr	 pos;
	struct http_req		 r;
	char			*head;
	size_t			 len;
	int			 ws;

	c->c_head = 0;
	pos = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (pos.pos == -1) {
		/* Lines ended by a bare LF: refused now, not at the deadline. */
		if (evbuffer_search(in, "\n\n", 2, NULL).pos != -1)
			http_error(c, 400, "Bad Request", NULL);
		else if (evbuffer_get_length(in) > WSD_MAX_HEAD)
			http_error(c, 431, "Request Header Fields Too Large",
			    NULL);
		else
			conn_head_deadline(c);
		return 0;
	}
	len = pos.pos + 4;
	if (len > WSD_MAX_HEAD) {
		http_error(c, 431, "Request Header Fields Too Large", NULL);
		return 0;
	}
	if ((head = malloc(len + 1)) == NULL) {
		conn_drop(c);
		return 0;
	}
	/* Left in the input until an API request's body is in too. */
	evbuffer_copyout(in, head, len);
	head[len] = '\0';
	if (http_parse(head, &r) == -1) {
		free(head);
		http_error(c, 400, "Bad Request", NULL);
		return 0;
	}
	c->c_keepalive = r.minor >= 1;
	c->c_head = strcmp(r.method, "HEAD") == 0;
	if (r.connection != NULL) {
		if (header_has_token(r.connection, "close"))
			c->c_keepalive = 0;
		else if (header_has_token(r.connection, "keep-alive"))
			c->c_keepalive = 1;
	}
	ws = r.upgrade != NULL && header_has_token(r.upgrade, "websocket");
	if (!ws && api_target(r.target)) {
		if (http_api(c, &r, len) == -1) {
			free(head);
			return 0;	/* the body is not all in yet */
		}
		free(head);
		if (c->c_waiting) {
			http_waiting(c);
			return 0;
		}
		http_done(c);
		return c->c_state == CONN_HTTP;
	}
	evbuffer_drain(in, len);
	if (ws)
		http_upgrade(c, &r);
	else if (strcmp(r.method, "GET") != 0 && strcmp(r.method, "HEAD") != 0)
		http_error(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
	else if (r.has_body)
		http_error(c, 400, "Bad Request", NULL);
	else if (strcmp(r.target, "/ws") == 0 ||
	    strncmp(r.target, "/ws?", 4) == 0)
		http_error(c, 426, "Upgrade Required",
		    "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n");
	else
		http_file(c, &r);
	free(head);
	http_done(c);
	return c->c_state == CONN_HTTP;
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->c_dead)
		return;
	while (c->c_state == CONN_HTTP && !c->c_waiting) {
		/*
		 * One answer at a time: a pipelined request waits, unread,
		 * until the answer before it has gone (conn_write_cb).  So a
		 * client that never reads holds one answer's memory and at
		 * most one file open, however many requests it sends.
		 */
		if (evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
			if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
				bufferevent_disable(bev, EV_READ);
			break;
		}
		if (!http_request(c))
			break;
	}
	/* Pipelining while the helper answers: only so much is kept. */
	if (c->c_waiting && evbuffer_get_length(bufferevent_get_input(bev)) >
	    WSD_MAX_HEAD + WSD_MAX_BODY) {
		log_debug("client pipelining too much: dropped");
		conn_drop(c);
		return;
	}
	if (c->c_state == CONN_WS) {
		/* Anything from the client, a pong or not, shows it is there. */
		c->c_active = conn_now_ms();
		c->c_pinged = 0;
		ws_read(c);
		if (c->c_state == CONN_WS && !c->c_tls && c->c_rev == NULL)
			conn_own_reads(c);
	}
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->c_dead)
		return;
	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (c->c_state == CONN_WS) {
		if (!c->c_tls)
			bufferevent_disable(bev, EV_WRITE); /* conn_flush_cb again */
		/* Last: it may queue more, or drop c (freed from the loop). */
		conn_output_drained(c);
	} else if (c->c_state == CONN_CLOSING ||
	    (wenv->w_stopping && http_unanswered(c))) {
		/* Closing, or answered while gpiows stops: no further request. */
		tls_close_notify(c);
		conn_linger(c);
		conn_free(c);
	} else if (c->c_state == CONN_HTTP && c->c_deadline == 0 &&
	    !c->c_waiting) {
		/* The response has gone: the next head has its own deadline. */
		c->c_deadline = conn_now() + WSD_HEAD_TIMEOUT;
		if (http_full)
			http_room_again();	/* c may make room now */
		if (conn_head_deadline(c) == -1)
			return;
		bufferevent_enable(bev, EV_READ);
		/* Last: a pipelined request may drop c. */
		if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
			conn_read_cb(bev, c);
	}
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	if (c->c_dead)
		return;
	if (what & BEV_EVENT_CONNECTED)
		return;		/* TLS handshake done */
	if (c->c_tls && (what & BEV_EVENT_ERROR) && tls_failed(c))
		conn_linger(c);	/* it answered plain HTTP */
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("connection timed out (%s)",
		    c->c_state != CONN_HTTP ? "closing" :
		    c->c_waiting ? "waiting for the helper" :
		    c->c_deadline == 0 ? "answer not taken" : "request head");
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		conn_run_deferred(c);	/* it may drop c */
		if (c->c_dead)
			return;
	}
	conn_free(c);
}
