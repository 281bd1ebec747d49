/*
 * gpiows IPC: the wire format between gpiod-helper, wsd and the mission
 * worker, and the small library that moves it.
 *
 * Every message is one SOCK_SEQPACKET datagram: a fixed struct ipc_hdr, then
 * exactly hdr.len payload bytes, optionally with one file descriptor passed as
 * SCM_RIGHTS.  Payloads are fixed-size structs (checked for their exact size
 * by the receiver before it looks inside) except the few marked "text", which
 * carry JSON between the two unprivileged children and never reach the helper.
 *
 * Message types sit in numbered ranges by direction; the helper keeps a table
 * of what each child may send it, and anything outside it is treated as that
 * child's compromise.
 */
#ifndef GPIOWS_IPC_H
#define GPIOWS_IPC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

/* glibc's queue(3) lacks the _SAFE forms. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

#define IPC_VERSION		3	/* 2: ipc_pin_event has mono; 3: paced history */
#define IPC_MAX_PAYLOAD		(64 * 1024)
#define IPC_CHILD_FD		3	/* a child's channel to the helper, set up at exec */
#define IPC_STORE_FD		4	/* the worker's place store (memfd), held by the helper */
#define IPC_STORE_SIZE		32768	/* its bytes */

/* Names of pins and chips: [A-Za-z0-9_.-], at most GPIOWS_NAME_MAX bytes. */
#define GPIOWS_NAME_MAX		31
#define GPIOWS_NAME_SIZE	(GPIOWS_NAME_MAX + 1)
#define GPIOWS_ORIGIN_MAX	256	/* an origin, with its NUL */

struct ipc_hdr {
	uint16_t	type;
	uint16_t	version;	/* IPC_VERSION, checked on every message */
	uint32_t	len;		/* payload bytes that follow */
	uint32_t	id;		/* request id, echoed in the reply; 0 otherwise */
	uint32_t	flags;		/* reserved, must be 0 */
};

enum ipc_type {
	/* 100-199: helper -> child */
	IPC_PIN_INFO = 100,	/* struct ipc_pin_info: one pin of the table;
				   sent again, whole, after a reload */
	IPC_STATE_END,		/* struct ipc_state_end: the table is complete */
	IPC_PIN_EVENT,		/* struct ipc_pin_event: a pin changed */
	IPC_REPLY,		/* struct ipc_reply: answer to request hdr.id;
				   to wsd, followed by the struct
				   ipc_pin_event of the change it made, if
				   one (one message where there were two) */
	IPC_LISTENER,		/* struct ipc_listener + fd: a listening socket (wsd) */
	IPC_PEER,		/* struct ipc_peer + fd: channel to the other child */
	IPC_SHUTDOWN,		/* empty: finish what is queued and exit */
	IPC_WSD_SETTINGS,	/* struct ipc_wsd_settings, then its origins */
	IPC_ORIGIN,		/* struct ipc_origin: one allowed origin */
	IPC_HISTORY_END,	/* struct ipc_history_end: answers IPC_HISTORY;
				   the IPC_PIN_EVENTs before it carry its id */
	IPC_PIN_HOLDER,		/* struct ipc_pin_holder: a pin held or freed */
	IPC_TLS_KEYPAIR,	/* struct ipc_tls, then the certificate chain and
				   the private key, PEM (wsd, before any TLS
				   listener, and again after a reload) */

	/* 200-299: child -> helper */
	IPC_PIN_GET = 200,	/* struct ipc_pin_req */
	IPC_PIN_SET,		/* struct ipc_pin_req */
	IPC_PIN_TOGGLE,		/* struct ipc_pin_req */
	IPC_SIM_PULL,		/* struct ipc_pin_req: drive a simulated input */
	IPC_HISTORY,		/* wsd: struct ipc_history: events after a seq */
	IPC_PIN_HOLD,		/* worker: struct ipc_hold: hold or free a pin */
	IPC_MISSION_END,	/* worker: struct ipc_mission_end: drop its holds */
	IPC_PIN_WATCH,		/* worker: struct ipc_watch: a pin's events, or no more */

	/* 300-399: wsd <-> worker (never seen by the helper) */
	IPC_MISSION_LIST = 300,	/* wsd -> worker, empty: please send IPC_MISSIONS */
	IPC_MISSIONS,		/* worker -> wsd, text: JSON array of missions */
	IPC_MISSION_START,	/* wsd -> worker, text: the client's mission */
	IPC_MISSION_CANCEL,	/* wsd -> worker, struct ipc_mission_end */
	IPC_MISSION_REPLY,	/* worker -> wsd, text: {"ok":..} for hdr.id */
	IPC_MISSION_EVENT,	/* worker -> wsd, text: one mission, changed */
};

/* Error codes carried in replies; wsd maps them to protocol error codes. */
enum ipc_error {
	IPC_OK = 0,
	IPC_E_UNKNOWN_PIN,	/* pin index out of the table */
	IPC_E_NOT_OUTPUT,	/* set or toggle on an input */
	IPC_E_BAD_VALUE,	/* value other than 0 or 1 */
	IPC_E_NOT_SIMULATED,	/* sim.pull on a pin of a real chip */
	IPC_E_NOT_INPUT,	/* sim.pull on an output */
	IPC_E_BUSY,		/* held by a mission */
	IPC_E_IO,		/* the backend failed */
	IPC_E_STALE,		/* made against a pin table since reloaded */
	IPC_E_MAX
};

enum ipc_source {
	IPC_SRC_CLIENT = 0,
	IPC_SRC_MISSION,	/* with the mission id */
	IPC_SRC_EDGE,
	IPC_SRC_INIT,		/* initial value applied by the helper */
	IPC_SRC_SAFE,		/* safe value applied as the helper stops */
	IPC_SRC_MAX
};

#define IPC_PIN_OUTPUT		0x01
#define IPC_PIN_SIMULATED	0x02
#define IPC_PIN_ACTIVE_LOW	0x04

struct ipc_pin_info {
	uint32_t	index;
	uint32_t	flags;		/* IPC_PIN_* */
	int32_t		value;		/* logical value, 0 or 1 */
	uint32_t	edge;		/* enum pin_edge bits: 1 rising, 2 falling */
	int32_t		safe;		/* safe value, or -1 */
	uint32_t	holder;		/* mission holding it, 0 if none */
	uint64_t	seq;		/* seq of the last change, 0 if none */
	uint64_t	ts;		/* time of the last change, us since the epoch */
	uint32_t	source;		/* enum ipc_source of the last change */
	uint32_t	mission;
	char		name[GPIOWS_NAME_SIZE];
	char		chip[GPIOWS_NAME_SIZE];
};

/*
 * After the table: its generation, which goes up with every reload (SIGHUP)
 * and which requests name, so that none lands on the wrong pin.
 */
struct ipc_state_end {
	uint64_t	seq;		/* last seq assigned */
	uint32_t	npins;
	uint32_t	generation;
	uint64_t	boot;		/* this helper's start, us: a restart changes it */
};

struct ipc_pin_event {
	uint64_t	seq;
	uint64_t	ts;		/* us since the epoch (kernel time for edges) */
	uint64_t	mono;		/* CLOCK_MONOTONIC us the helper recorded it */
	uint32_t	index;
	int32_t		value;
	uint32_t	source;		/* enum ipc_source */
	uint32_t	mission;	/* mission id when source is IPC_SRC_MISSION */
};

struct ipc_reply {
	int32_t		error;		/* enum ipc_error */
	int32_t		value;		/* the pin's value after the request */
	uint64_t	seq;		/* the event it caused, 0 if none */
	uint32_t	mission;	/* IPC_E_BUSY: the mission holding the pin */
	uint32_t	pad;
};

struct ipc_pin_req {
	uint32_t	index;
	int32_t		value;		/* set, sim.pull: 0 or 1; unused otherwise */
	uint32_t	source;		/* IPC_SRC_CLIENT or IPC_SRC_MISSION */
	uint32_t	mission;
	uint32_t	generation;	/* of the table index refers to */
	/*
	 * Missions number their set and toggle requests 1, 2, ...: the helper
	 * applies each number once, so a worker that died with a request in
	 * flight can send it again without the pin changing twice.
	 */
	uint32_t	step;
	uint32_t	pad;
};

struct ipc_history {
	uint64_t	since;		/* events with a seq above this */
	uint32_t	max;		/* at most so many of them; 0: all */
	uint32_t	flags;		/* reserved, must be 0 (checked) */
};

#define IPC_HISTORY_OK		0
#define IPC_HISTORY_GONE	1	/* since is older than what is kept */
#define IPC_HISTORY_FUTURE	2	/* since is past the last seq */

struct ipc_history_end {
	uint32_t	status;		/* IPC_HISTORY_* */
	uint32_t	count;		/* events sent */
	uint64_t	seq;		/* last seq at the time of the answer */
	uint64_t	oldest;		/* oldest seq still kept, 0 if none */
	uint64_t	last;		/* seq of the last event looked at, or since */
	uint32_t	more;		/* 1: max was reached, events after last remain */
	uint32_t	flags;		/* reserved, 0 */
};

struct ipc_hold {
	uint32_t	mission;
	uint32_t	index;
	uint32_t	generation;
	uint32_t	hold;		/* 1 hold, 0 free */
};

/*
 * The worker is sent the IPC_PIN_EVENTs of the pins it watches (those a
 * mission waits on), not every change: each one would wake it.  A watch
 * takes effect when the helper reads it, later than the wait began, so the
 * helper first sends what it recorded on the pin from `since` on and has
 * not yet sent: no edge after the start of a wait is lost.
 */
struct ipc_watch {
	uint32_t	index;
	uint32_t	generation;	/* of the table index refers to */
	uint32_t	watch;		/* 1: send its events, 0: stop */
	uint32_t	pad;
	uint64_t	since;		/* CLOCK_MONOTONIC, us: when the wait began */
};

struct ipc_mission_end {
	uint32_t	mission;
	uint32_t	pad;
};

struct ipc_pin_holder {
	uint32_t	index;
	uint32_t	holder;		/* 0: free */
};

/*
 * The PEM certificate chain (cert_len bytes) and private key (key_len
 * bytes) follow the struct: the message is exactly sizeof(struct ipc_tls) +
 * cert_len + key_len bytes.  wsd cannot open the files (it is chrooted and
 * they are root's); it wipes the key's bytes once loaded.
 */
#define IPC_TLS_PEM_MAX		30000	/* bytes of each file */

struct ipc_tls {
	uint32_t	cert_len;
	uint32_t	key_len;
};

struct ipc_listener {
	uint32_t	tls;		/* 1: TLS (https, wss), 0: plain */
	uint32_t	port;		/* for the log and the dashboard URL */
	char		addr[64];	/* numeric address, for the log */
};

/* wsd's limits and Origin policy; sent at start and after every reload. */
struct ipc_wsd_settings {
	uint32_t	max_clients;
	uint32_t	max_message;	/* bytes */
	uint32_t	norigins;	/* IPC_ORIGIN messages that follow */
	uint32_t	ping_interval;	/* s; 0: idle clients are not pinged */
};

struct ipc_origin {
	char		origin[GPIOWS_ORIGIN_MAX];
};

struct ipc_peer {
	uint32_t	generation;	/* increases with every new wsd */
	uint32_t	pad;
};

/* A received message. data points into the caller's buffer. */
struct ipc_msg {
	struct ipc_hdr	 hdr;
	const void	*data;
	int		 fd;		/* -1 unless one was passed */
};

/*
 * ipc_send: send one message on a SOCK_SEQPACKET socket, with fd (or -1).
 * Returns 0, or -1 with errno (EAGAIN when the socket is full).
 */
int	ipc_send(int sock, uint16_t type, uint32_t id, const void *data,
	    size_t len, int fd);

/*
 * ipc_recv: receive one message into buf (at least IPC_MAX_PAYLOAD +
 * sizeof(struct ipc_hdr) bytes).  Returns 1 with *msg filled, 0 on EOF, -1 on
 * error with errno: EAGAIN, or EBADMSG for a malformed message (truncated,
 * length mismatch, wrong version, nonzero flags, more than one fd); any fd
 * that came with a malformed message is closed.
 */
int	ipc_recv(int sock, struct ipc_msg *msg, void *buf, size_t bufsize);

/* ipc_check_size: 1 when msg's payload is exactly size bytes. */
int	ipc_check_size(const struct ipc_msg *msg, size_t size);

/*
 * struct ipc_chan: a non-blocking channel with an output queue on a libevent
 * base.  The callback gets every well-formed message; on EOF or a malformed
 * message it gets NULL (errno says which: 0 for EOF) and must free the
 * channel.  The callback returns 0 to go on reading, or -1 when it has freed
 * the channel.
 */
struct event_base;
struct ipc_chan;
typedef int (*ipc_cb)(struct ipc_chan *, const struct ipc_msg *, void *);

/*
 * ipc_chan_new: take ownership of sock (on failure, NULL, and the caller
 * still owns it).  maxqueue bounds the bytes waiting to be written; past it
 * ipc_chan_send fails with ENOBUFS.
 */
struct ipc_chan	*ipc_chan_new(struct event_base *, int sock, size_t maxqueue,
		    ipc_cb, void *arg);
/* ipc_chan_free: close the socket and drop anything queued. */
void		 ipc_chan_free(struct ipc_chan *);
/* ipc_chan_send: send or queue; fd is duplicated if queued.  0 or -1. */
int		 ipc_chan_send(struct ipc_chan *, uint16_t type, uint32_t id,
		    const void *data, size_t len, int fd);
int		 ipc_chan_fd(const struct ipc_chan *);
/* ipc_chan_queued: bytes waiting to be written. */
size_t		 ipc_chan_queued(const struct ipc_chan *);
/*
 * ipc_chan_pause_reads: read nothing from the peer while more than high
 * bytes wait to be written to it (until half of it is left).
 */
void		 ipc_chan_pause_reads(struct ipc_chan *, size_t high);
/* ipc_chan_read_soon: read before the loop next waits for events. */
void		 ipc_chan_read_soon(struct ipc_chan *);

/* ipc_strerror: the protocol's error code for an enum ipc_error ("busy"). */
const char	*ipc_errcode(int error);
/* ipc_source_str: "client", "edge", ... ("mission:ID" is built by the caller). */
const char	*ipc_source_str(int source);

#endif
