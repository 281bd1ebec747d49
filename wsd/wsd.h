/*
 * wsd: the unprivileged network front of gpiows.  HTTP for the dashboard
 * files, WebSocket (RFC 6455) for the JSON protocol of gpiows-protocol(7);
 * pin changes come from and go to gpiod-helper over IPC, mission requests
 * to the worker.
 */
#ifndef GPIOWS_WSD_H
#define GPIOWS_WSD_H

#include <sys/queue.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "clock.h"
#include "ipc.h"
#include "ws.h"

#define WSD_MAX_HEAD		8192		/* request head; past it 431 */
#define WSD_HEAD_TIMEOUT	10		/* s to send a whole request head */
#define WSD_WRITE_TIMEOUT	30		/* s a reader may take nothing */
#define WSD_MAX_OUTPUT		(1024 * 1024)	/* queued to one client; past it, closed */
#define WSD_PAUSE_OUTPUT	(256 * 1024)	/* queued to one client; past it, not read */
#define WSD_MAX_INFLIGHT	8		/* one client's requests being answered */
#define WSD_CLOSE_TIMEOUT	5		/* s to flush before closing */
#define WSD_LINGER_MS		2000		/* reading what a closed client still sends */
#define WSD_LINGER_MAX		256		/* sockets lingering at once */
#define WSD_ACCEPT_PAUSE_MS	1000		/* not accepting after EMFILE */
#define WSD_MAX_HTTP		1024		/* connections not upgraded */
#define WSD_ROOM_MIN_MS		1000		/* age of one that makes room */
#define WSD_TIMER_SLACK_NS	4000000		/* how late a timer may run */
#define WSD_MAX_BODY		1024		/* an API request body; past it 413 */

struct bufferevent;
struct event;
struct event_base;
struct api_route;
struct pending;

enum conn_state {
	CONN_HTTP,
	CONN_WS,
	CONN_CLOSING		/* flushing its last bytes */
};

struct conn {
	TAILQ_ENTRY(conn)	 c_entry;	/* clients, while CONN_WS */
	TAILQ_ENTRY(conn)	 c_aentry;	/* every connection, till freed */
	int			 c_http;	/* counted as not upgraded */
	TAILQ_ENTRY(conn)	 c_hentry;	/* while c_http, oldest first */
	uint64_t		 c_accepted;	/* conn_now_ms() */
	struct bufferevent	*c_bev;
	enum conn_state		 c_state;
	int			 c_keepalive;
	int			 c_head;	/* the request is a HEAD */
	time_t			 c_deadline;	/* for the request head, monotonic s */
	int			 c_dead;	/* dropped, freed from the loop */
	int			 c_pinged;	/* idle: a ping is unanswered */
	uint64_t		 c_active;	/* monotonic ms: last bytes, or our ping */
	int			 c_flushing;	/* on the flush queue */
	TAILQ_ENTRY(conn)	 c_fentry;
	struct conn_hold	*c_hold;	/* live pin events held back */
	/*
	 * Accepted on a TLS listener.  A plain socket's output, once
	 * upgraded, wsd writes itself at the end of the loop's turn, and the
	 * bufferevent writes only what the socket would not take (see
	 * conn_flush_cb); a TLS bufferevent writes all of its own.
	 */
	int			 c_tls;
	struct event		*c_tls_timer;	/* handshake + head deadline */
	struct ws_parser	 c_ws;
	int			 c_waiting;	/* an API answer is on its way */
	struct api_route	*c_route;	/* a /pin/NAME/ACTION WebSocket */
	/*
	 * An upgraded plain socket wsd reads itself, straight into the
	 * parser: no input buffer, no FIONREAD (see conn_sock_read).
	 */
	struct event		*c_rev;
	int			 c_rpaused;	/* not read: its output is behind */
	/*
	 * Requests passed to the helper or the worker and not answered yet;
	 * past WSD_MAX_INFLIGHT, what the client sends waits in c_deferred,
	 * in order, and its socket is not read (conn_defer).
	 */
	unsigned int		 c_inflight;
	TAILQ_HEAD(, deferred)	 c_deferred;
	int			 c_ready;	/* on the queue to run c_deferred */
	TAILQ_ENTRY(conn)	 c_rentry;
	struct pending		*c_parked;	/* a resume waiting for output */
	int			 c_resuming;	/* from the resume to its reply */
};
TAILQ_HEAD(connlist, conn);

/* A pin as wsd knows it, mirrored from the helper. */
struct wsd_pin {
	struct ipc_pin_info	 wp_info;
};

struct wsd_env {
	struct event_base	*w_base;
	struct ipc_chan		*w_helper;
	struct ipc_chan		*w_worker;	/* NULL until the helper pairs us */
	int			 w_wwwfd;	/* the www directory */
	struct wsd_pin		*w_pins;
	unsigned int		 w_npins;
	uint32_t		 w_generation;	/* of the pin table */
	struct wsd_pin		*w_stage;	/* a table being received */
	unsigned int		 w_nstage;
	int			 w_ready;	/* a pin table is complete */
	unsigned int		 w_max_clients;
	unsigned int		 w_max_message;
	unsigned int		 w_ping_interval;	/* s, 0: none */
	char			**w_origins;	/* allowed; none: the Host's own */
	unsigned int		 w_norigins;
	unsigned int		 w_origins_expected;
	uint64_t		 w_seq;		/* last seq seen */
	json_t			*w_missions;	/* the worker's last list */
	struct connlist		 w_clients;
	unsigned int		 w_nclients;
	unsigned int		 w_nroutes;	/* route WebSockets, not users */
	unsigned int		 w_nconns;	/* every connection, HTTP too */
	int			 w_stopping;	/* closing every client, then exit */
};

extern struct wsd_env *wenv;

/*
 * The outcome of a pin request (pin_request), refused at once by wsd or
 * answered by the helper: pr_error is IPC_OK, an IPC_E_* or a PIN_E_*.
 */
enum {
	PIN_E_UNAVAILABLE = IPC_E_MAX,	/* the helper link cannot take it */
	PIN_E_NOMEM
};
struct pin_result {
	char		 pr_pin[GPIOWS_NAME_SIZE];
	uint16_t	 pr_type;	/* IPC_PIN_GET, _SET, _TOGGLE, IPC_SIM_PULL */
	int		 pr_error;
	int		 pr_value;	/* the pin's value after the request */
	uint64_t	 pr_seq;	/* the event it caused; 0: none */
	uint32_t	 pr_mission;	/* IPC_E_BUSY: the mission holding it */
	char		 pr_message[256];	/* for people, when pr_error */
};
/* Told the outcome; c is never NULL (an answer for a gone client is dropped). */
typedef void	(*pin_done_fn)(struct conn *c, json_t *id,
		    const struct pin_result *);

/*
 * An HTTP API request as http.c hands it to api.c: the head parsed, the
 * body (Content-Length bytes, NUL-terminated) read in full.
 */
struct api_req {
	const char	*ar_method;
	const char	*ar_target;
	const char	*ar_ctype;	/* Content-Type, or NULL */
	int		 ar_origin_ok;	/* no Origin, or an allowed one */
	const char	*ar_origin;
	const char	*ar_body;
	size_t		 ar_len;
};

/* wsd.c */
struct wsd_pin	*wsd_pin_find(const char *name);
int		 wsd_helper_request(uint16_t type, uint32_t id, unsigned int pin,
		    int value);
int		 wsd_worker_request(uint16_t type, uint32_t id, const void *data,
		    size_t len);

/* http.c */
/*
 * http_path_char: the target's character at *sp, percent-decoded, and *sp
 * past it; -1 for a bad escape or an encoded NUL.
 */
int	http_path_char(const char **sp);
/* conn_now: mono_us (clock.h) in seconds. */
time_t	conn_now(void);
int	http_listen(int fd, int tls);
/* http_free_listeners: take no more connections and ping no idle client. */
void	http_free_listeners(void);
/* http_shutdown: at exit, after the loop: the listeners and the rest. */
void	http_shutdown(void);
/* http_stop_idle: at shutdown, drop the HTTP connections not being answered. */
void	http_stop_idle(void);
/* http_free_conns: after the loop, free the connections still open. */
void	http_free_conns(void);
/* http_log_refused_origin: log what was refused, 10 in 10 s at most. */
void	http_log_refused_origin(const char *, const char *);
/* http_ping_interval: ping clients idle so many s, drop them after as many more. */
void	http_ping_interval(unsigned int);
/* conn_input_resume: c may be read again, or what it sent and waits go on. */
void	conn_input_resume(struct conn *);
/* conn_output_short: little enough is queued to c to send it more. */
int	conn_output_short(struct conn *);
/* conn_inflight_done: one of c's requests has been answered (or refused). */
void	conn_inflight_done(struct conn *);
/* conn_send_text: one text frame to one client. */
void	conn_send_text(struct conn *, const char *data, size_t len);
/* conn_send_shared: a frame encoded once, referenced by many outputs. */
struct shared_frame;
struct shared_frame *shared_frame_new(int opcode, const char *data, size_t len);
void	conn_send_shared(struct conn *, struct shared_frame *);
void	shared_frame_unref(struct shared_frame *);
void	shared_frame_ref(struct shared_frame *);
void	conn_close(struct conn *, int code, const char *reason);
/* http_date: now, as the Date header has it. */
const char	*http_date(void);
/* http_response: a whole response; Connection from c->c_keepalive. */
void	http_response(struct conn *, int status, const char *reason,
	    const char *extra, const char *type, const char *body, int head_only);
/* http_resume: an API answer that waited for the helper has been written. */
void	http_resume(struct conn *);

/* api.c */
/* api_target: the target is the HTTP API's (/api, /api/...). */
int	api_target(const char *target);
/* api_request: answer r now, or set c->c_waiting and later http_resume(). */
void	api_request(struct conn *, const struct api_req *r);
/*
 * api_framing: an API request's body length from its head (0), or -1 when
 * it has answered with an error and the connection must close.
 */
int	api_framing(struct conn *, const char *method, const char *cl, int ncl,
	    const char *te, size_t *len);
/* api_route_find: 1 for a route WebSocket's target, of a pin that exists. */
int	api_route_find(const char *target);
/* api_route_join: c, upgraded, performs its route's action per message. */
int	api_route_join(struct conn *, const char *target);
/* api_route_leave: from client_leave(), for a route WebSocket. */
void	api_route_leave(struct conn *);
void	api_route_close_all(int code, const char *reason);
/* api_route_foreach: fn(c, arg) for each route WebSocket; fn may close c. */
void	api_route_foreach(void (*fn)(struct conn *, uint64_t), uint64_t arg);
void	api_route_message(struct conn *, int opcode, const unsigned char *data,
	    size_t len);

/* tls.c */
/* tls_init: before the sandbox, what OpenSSL would load from files. */
void	tls_init(void);
/*
 * tls_keypair: IPC_TLS_KEYPAIR: a new context for connections accepted
 * from now on (those open keep theirs); the key's bytes in msg are wiped.
 * -1 when the message is malformed.
 */
int	tls_keypair(const struct ipc_msg *);
/* tls_ready: is there a context to accept TLS connections with? */
int	tls_ready(void);
/* tls_accept: fd wrapped for the TLS handshake, c's deadline armed. */
struct bufferevent *tls_accept(struct conn *, int fd);
/* tls_close_notify: the orderly end of a TLS connection, before the free. */
void	tls_close_notify(struct conn *);
/*
 * tls_failed: a TLS connection failed (handshake): why is logged with -v,
 * and plain HTTP is answered 400 in plain text (then 1: let it linger).
 */
int	tls_failed(struct conn *);
void	tls_conn_free(struct conn *);
void	tls_shutdown(void);

/* client.c */
/* utf8_repair: drop the bytes of broken UTF-8 sequences (a cut name). */
void	utf8_repair(char *);
/* client_send_reply: msg (NULL: nothing) with the request's id, sent, freed. */
void	client_send_reply(struct conn *, json_t *msg, json_t *id);
/* client_pins_json: the pins as in hello, an array (NULL: no memory). */
json_t	*client_pins_json(void);
json_t	*error_vjson(const char *code, const char *fmt, va_list)
	    __attribute__((format(printf, 2, 0)));
void	client_init(void);
void	client_shutdown(void);
void	client_join(struct conn *);
void	client_leave(struct conn *);
void	client_message(struct conn *, int opcode, const unsigned char *data,
	    size_t len);
void	client_pin_event(const struct ipc_pin_event *);
void	client_helper_reply(uint32_t id, const struct ipc_reply *);
void	client_worker_missions(uint32_t id, const char *json, size_t len);
void	client_worker_mission_reply(uint32_t id, const char *json, size_t len);
void	client_worker_mission_event(const char *json, size_t len);
void	client_history_event(uint32_t id, const struct ipc_pin_event *);
void	client_history_end(uint32_t id, const struct ipc_history_end *);
void	client_replay_more(struct conn *);
void	client_holder(const struct ipc_pin_holder *);
void	client_worker_lost(void);
void	client_table_changed(void);
json_t	*client_pin_json(const struct ipc_pin_info *);
int	 pin_request(struct conn *, json_t *id, const struct wsd_pin *,
	    uint16_t type, int value, pin_done_fn, struct pin_result *);
json_t	*pin_error_json(const struct pin_result *);
const char *pin_errcode(int error);
void	 pin_forget(struct conn *);

#endif
