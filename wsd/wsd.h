/*
 * wsd: the unprivileged network front of gpiows.  HTTP for the dashboard
 * files, WebSocket (RFC 6455) for the JSON protocol of gpiows-protocol(7);
 * pin changes come from and go to gpiod-helper over IPC, mission requests
 * to the worker.
 */
#ifndef GPIOWS_WSD_H
#define GPIOWS_WSD_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "ipc.h"
#include "ws.h"

#define WSD_MAX_HEAD		8192		/* request head; past it 431 */
#define WSD_HEAD_TIMEOUT	10		/* s to send a whole request head */
#define WSD_WRITE_TIMEOUT	30		/* s a reader may take nothing */
#define WSD_MAX_OUTPUT		(1024 * 1024)	/* queued to one client; past it, closed */
#define WSD_CLOSE_TIMEOUT	5		/* s to flush before closing */

struct bufferevent;
struct event_base;

enum conn_state {
	CONN_HTTP,
	CONN_WS,
	CONN_CLOSING		/* flushing its last bytes */
};

struct conn {
	TAILQ_ENTRY(conn)	 c_entry;	/* clients, while CONN_WS */
	struct bufferevent	*c_bev;
	enum conn_state		 c_state;
	int			 c_keepalive;
	int			 c_head;	/* the request is a HEAD */
	time_t			 c_deadline;	/* for the request head, monotonic s */
	int			 c_dead;	/* dropped, freed from the loop */
	/*
	 * A plain socket (not TLS): once upgraded, wsd writes its output
	 * itself at the end of the loop's turn, and the bufferevent writes
	 * only what the socket would not take (see conn_flush_cb).
	 */
	int			 c_direct;
	int			 c_flushing;	/* on the flush queue */
	TAILQ_ENTRY(conn)	 c_fentry;
	struct conn_hold	*c_hold;	/* live pin events held back */
	struct ws_parser	 c_ws;
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
	char			**w_origins;	/* allowed; none: the Host's own */
	unsigned int		 w_norigins;
	unsigned int		 w_origins_expected;
	uint64_t		 w_seq;		/* last seq seen */
	json_t			*w_missions;	/* the worker's last list */
	struct connlist		 w_clients;
	unsigned int		 w_nclients;
	unsigned int		 w_nconns;	/* every connection, HTTP too */
	int			 w_stopping;	/* closing every client, then exit */
};

extern struct wsd_env *wenv;

/* wsd.c */
struct wsd_pin	*wsd_pin_find(const char *name);
int		 wsd_helper_request(uint16_t type, uint32_t id, unsigned int pin,
		    int value);
int		 wsd_worker_request(uint16_t type, uint32_t id, const void *data,
		    size_t len);

/* http.c */
int	http_listen(int fd);
void	http_free_listeners(void);
/* conn_send_text: one text frame to one client. */
void	conn_send_text(struct conn *, const char *data, size_t len);
/* conn_send_shared: a frame encoded once, referenced by many outputs. */
struct shared_frame;
struct shared_frame *shared_frame_new(int opcode, const char *data, size_t len);
void	conn_send_shared(struct conn *, struct shared_frame *);
void	shared_frame_unref(struct shared_frame *);
void	shared_frame_ref(struct shared_frame *);
void	conn_close(struct conn *, int code, const char *reason);

/* client.c */
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
void	client_holder(const struct ipc_pin_holder *);
void	client_worker_lost(void);
void	client_table_changed(void);

#endif
