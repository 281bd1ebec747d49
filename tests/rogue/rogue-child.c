/*
 * rogue-child: a stand-in for wsd that breaks the IPC rules on purpose, for
 * tests/sys/compromise.py.  "gpiod-helper -w rogue-child" starts it the way
 * it starts wsd: its channel on fd 3 (IPC_CHILD_FD) and wsd's arguments,
 * which it ignores.  It keeps whatever privileges it was started with and
 * loads no seccomp filter of its own (the helper's, inherited, still holds).
 *
 * GPIOWS_ROGUE_MODE picks one misbehaviour (see modes[] below), sent once
 * the helper has sent the initial state.  GPIOWS_ROGUE_LOG names a file to
 * which it appends one line per thing it does, starting with
 * "rogue started MODE", so that the test can count its starts.  With
 * GPIOWS_ROGUE_GATE set, it logs "rogue ready MODE" and waits for that file
 * to exist before it misbehaves, so that the test can stop the helper first
 * and have everything the rogue sends queued before the helper reads it.
 *
 * Every datagram is built by hand and sent with sendmsg(): nothing comes
 * from libipc, whose ipc_send would refuse most of what is sent here.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"

#define HDRSZ		sizeof(struct ipc_hdr)
#define FLOOD_COUNT	10000
#define GOOD_ID		77

static const char	*logpath;
static const char	*mode;
static uint32_t		 generation;	/* of the pin table, from IPC_STATE_END */
static unsigned char	 rbuf[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD];

static void __attribute__((format(printf, 1, 2)))
rlog(const char *fmt, ...)
{
	char	 line[256];
	va_list	 ap;
	int	 fd, n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	fprintf(stderr, "%.*s", n, line);
	if (logpath == NULL)
		return;
	/* One write of one line with O_APPEND: lines never interleave. */
	if ((fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) == -1)
		return;
	/* A short write shows as a missing line in the test. */
	if (write(fd, line, n) == -1)
		n = 0;
	close(fd);
}

static void __attribute__((noreturn))
die(const char *what)
{
	rlog("rogue %s: %s: %s", mode, what, strerror(errno));
	exit(1);
}

/* One datagram on the helper channel: len bytes of p and nfds fds. */
static void
xsend(const void *p, size_t len, const int *fds, int nfds)
{
	struct iovec	 iov;
	struct msghdr	 mh;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(4 * sizeof(int))];
	} cm;
	struct cmsghdr	*cmsg;
	ssize_t		 n;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)p;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
	}
	do {
		n = sendmsg(IPC_CHILD_FD, &mh, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		die("sendmsg");
}

/* A header with every field given, then plen bytes of payload. */
static void
xmsg(uint16_t type, uint16_t version, uint32_t len, uint32_t id,
    uint32_t flags, const void *payload, size_t plen, const int *fds,
    int nfds)
{
	unsigned char	 d[HDRSZ + 256];
	struct ipc_hdr	 h;

	if (plen > sizeof(d) - HDRSZ)
		abort();
	memset(&h, 0, sizeof(h));
	h.type = type;
	h.version = version;
	h.len = len;
	h.id = id;
	h.flags = flags;
	memcpy(d, &h, sizeof(h));
	if (plen > 0)
		memcpy(d + HDRSZ, payload, plen);
	xsend(d, HDRSZ + plen, fds, nfds);
}

/* A well-formed message. */
static void
wmsg(uint16_t type, uint32_t id, const void *payload, size_t plen)
{
	xmsg(type, IPC_VERSION, plen, id, 0, payload, plen, NULL, 0);
}

static struct ipc_pin_req
req(uint32_t index, int32_t value, uint32_t source, uint32_t mission)
{
	struct ipc_pin_req	 r;

	memset(&r, 0, sizeof(r));
	r.index = index;
	r.value = value;
	r.source = source;
	r.mission = mission;
	r.generation = generation;
	return r;
}

/*
 * Receive one datagram (blocking); any fd that comes with it is closed.
 * Returns its size, 0 on EOF; exits on IPC_SHUTDOWN.  *h is only
 * meaningful past HDRSZ bytes.
 */
static ssize_t
xrecv(struct ipc_hdr *h)
{
	struct iovec	 iov;
	struct msghdr	 mh;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(8 * sizeof(int))];
	} cm;
	struct cmsghdr	*cmsg;
	ssize_t		 n;
	int		 fd;
	size_t		 i, k;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = rbuf;
	iov.iov_len = sizeof(rbuf);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	do {
		n = recvmsg(IPC_CHILD_FD, &mh, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		die("recvmsg");
	for (cmsg = CMSG_FIRSTHDR(&mh); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&mh, cmsg))
		if (cmsg->cmsg_level == SOL_SOCKET &&
		    cmsg->cmsg_type == SCM_RIGHTS) {
			k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < k; i++) {
				memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
				    sizeof(int));
				close(fd);
			}
		}
	memset(h, 0, sizeof(*h));
	if ((size_t)n >= HDRSZ)
		memcpy(h, rbuf, sizeof(*h));
	/* The helper is stopping: go, as wsd does. */
	if (h->type == IPC_SHUTDOWN) {
		rlog("rogue %s: shutdown", mode);
		exit(0);
	}
	return n;
}

static void __attribute__((noreturn))
wait_eof(void)
{
	struct ipc_hdr	 h;

	while (xrecv(&h) > 0)
		;
	exit(0);
}

/* The pin table, up to IPC_STATE_END.  Returns the number of pins. */
static uint32_t
read_state(void)
{
	struct ipc_state_end	 end;
	struct ipc_hdr		 h;
	ssize_t			 n;
	uint32_t		 npins = 0;

	for (;;) {
		if ((n = xrecv(&h)) == 0) {
			rlog("rogue %s: EOF before the state", mode);
			exit(0);
		}
		if (h.type == IPC_PIN_INFO)
			npins++;
		if (h.type == IPC_STATE_END &&
		    (size_t)n == HDRSZ + sizeof(end)) {
			memcpy(&end, rbuf + HDRSZ, sizeof(end));
			generation = end.generation;
			if (end.npins != npins)
				rlog("rogue %s: %u pins, state end says %u",
				    mode, npins, end.npins);
			return npins;
		}
	}
}

/* A pipe whose write end is sent; its inode lets the test look for leaks. */
static int
pipe_to_send(void)
{
	struct stat	 st;
	int		 p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		die("pipe2");
	if (fstat(p[1], &st) == -1)
		die("fstat");
	rlog("rogue sent pipe:[%lu]", (unsigned long)st.st_ino);
	close(p[0]);
	return p[1];
}

/* A reply of n bytes, as wsd takes it: with the change it made, or not. */
static int
reply_size_ok(ssize_t n)
{
	return (size_t)n == HDRSZ + sizeof(struct ipc_reply) ||
	    (size_t)n == HDRSZ + sizeof(struct ipc_reply) +
	    sizeof(struct ipc_pin_event);
}

/* Wait for the reply to request id; log "rogue reply ERROR VALUE". */
static void
await_reply(uint32_t id)
{
	struct ipc_reply	 r;
	struct ipc_hdr		 h;
	ssize_t			 n;

	for (;;) {
		if ((n = xrecv(&h)) == 0) {
			rlog("rogue %s: EOF before reply %u", mode, id);
			exit(0);
		}
		if (h.type != IPC_REPLY || h.id != id)
			continue;
		if (!reply_size_ok(n)) {
			rlog("rogue reply of %zd bytes", n);
			return;
		}
		memcpy(&r, rbuf + HDRSZ, sizeof(r));
		rlog("rogue reply %d %d", (int)r.error, (int)r.value);
		if ((size_t)n > HDRSZ + sizeof(r)) {
			struct ipc_pin_event	 ev;

			memcpy(&ev, rbuf + HDRSZ + sizeof(r), sizeof(ev));
			rlog("rogue reply event seq %s value %d",
			    ev.seq == r.seq ? "same" : "other", (int)ev.value);
		}
		return;
	}
}

/* ---------------------------------------------------------------- modes */

static void
m_short(void)
{
	struct ipc_pin_req	 r = req(0, 0, IPC_SRC_CLIENT, 0);
	unsigned char		 d[HDRSZ + sizeof(r)];
	struct ipc_hdr		 h;

	memset(&h, 0, sizeof(h));
	h.type = IPC_PIN_GET;
	h.version = IPC_VERSION;
	h.len = sizeof(r);
	memcpy(d, &h, sizeof(h));
	memcpy(d + HDRSZ, &r, sizeof(r));
	xsend(d, HDRSZ - 8, NULL, 0);
}

static void
m_badlen(void)
{
	struct ipc_pin_req	 r = req(0, 0, IPC_SRC_CLIENT, 0);

	xmsg(IPC_PIN_GET, IPC_VERSION, sizeof(r) + 4, 1, 0, &r, sizeof(r),
	    NULL, 0);
}

static void
m_version(void)
{
	struct ipc_pin_req	 r = req(0, 0, IPC_SRC_CLIENT, 0);

	xmsg(IPC_PIN_GET, IPC_VERSION + 1, sizeof(r), 1, 0, &r, sizeof(r),
	    NULL, 0);
}

static void
m_unpermitted(void)
{
	struct ipc_pin_info	 pi;

	memset(&pi, 0, sizeof(pi));
	pi.flags = IPC_PIN_OUTPUT;
	pi.value = 1;
	snprintf(pi.name, sizeof(pi.name), "led");
	wmsg(IPC_PIN_INFO, 1, &pi, sizeof(pi));
}

static void
m_size(void)
{
	unsigned char	 d[sizeof(struct ipc_pin_req) + 1];
	struct ipc_pin_req r = req(0, 1, IPC_SRC_CLIENT, 0);

	memset(d, 0, sizeof(d));
	memcpy(d, &r, sizeof(r));
	wmsg(IPC_PIN_SET, 1, d, sizeof(d));
}

static void
m_index(void)
{
	struct ipc_pin_req	 r = req(9999, 1, IPC_SRC_CLIENT, 0);

	wmsg(IPC_PIN_SET, 1, &r, sizeof(r));
}

static void
m_value(void)
{
	struct ipc_pin_req	 r = req(0, 7, IPC_SRC_CLIENT, 0);

	wmsg(IPC_PIN_SET, 1, &r, sizeof(r));
}

static void
m_source(void)
{
	struct ipc_pin_req	 r = req(0, 1, IPC_SRC_MISSION, 0);

	wmsg(IPC_PIN_SET, 1, &r, sizeof(r));
}

/* wsd names no mission. */
static void
m_mission(void)
{
	struct ipc_pin_req	 r = req(0, 1, IPC_SRC_CLIENT, 5);

	wmsg(IPC_PIN_SET, 1, &r, sizeof(r));
}

/* A table the helper has not sent yet. */
static void
m_future(void)
{
	struct ipc_pin_req	 r = req(0, 1, IPC_SRC_CLIENT, 0);

	r.generation = generation + 1;
	wmsg(IPC_PIN_SET, 1, &r, sizeof(r));
}

/* A get carries no value. */
static void
m_getvalue(void)
{
	struct ipc_pin_req	 r = req(0, 1, IPC_SRC_CLIENT, 0);

	wmsg(IPC_PIN_GET, 1, &r, sizeof(r));
}

static void
m_watch(void)
{
	struct ipc_watch	 w;

	memset(&w, 0, sizeof(w));
	w.watch = 1;
	w.generation = generation;
	wmsg(IPC_PIN_WATCH, 1, &w, sizeof(w));
}

/* A history request with a reserved bit set. */
static void
m_histflags(void)
{
	struct ipc_history	 h;

	memset(&h, 0, sizeof(h));
	h.flags = 1;
	wmsg(IPC_HISTORY, 1, &h, sizeof(h));
}

static void
m_fd(void)
{
	struct ipc_pin_req	 r = req(0, 0, IPC_SRC_CLIENT, 0);
	int			 fd = pipe_to_send();

	xmsg(IPC_PIN_GET, IPC_VERSION, sizeof(r), 1, 0, &r, sizeof(r), &fd, 1);
}

static void
m_twofd(void)
{
	struct ipc_pin_req	 r = req(0, 0, IPC_SRC_CLIENT, 0);
	int			 fds[2];

	fds[0] = fds[1] = pipe_to_send();
	xmsg(IPC_PIN_GET, IPC_VERSION, sizeof(r), 1, 0, &r, sizeof(r), fds, 2);
}

/* A zero-length datagram (shorter than the header) carrying an fd. */
static void
m_empty(void)
{
	int	 fd = pipe_to_send();

	xsend("", 0, &fd, 1);
}

/* Two empty datagrams: neither is the end of the channel. */
static void
m_empties(void)
{
	xsend("", 0, NULL, 0);
	xsend("", 0, NULL, 0);
}

/* Pressure, not a compromise: the helper must answer every request. */
static void
m_flood(void)
{
	struct ipc_pin_req	 r = req(0, 0, IPC_SRC_CLIENT, 0);
	struct ipc_reply	 rep;
	struct ipc_hdr		 h;
	uint32_t		 id, expect = 1;
	int			 replies = 0, inorder = 0, okay = 0;
	ssize_t			 n;

	for (id = 1; id <= FLOOD_COUNT; id++)
		wmsg(IPC_PIN_GET, id, &r, sizeof(r));
	rlog("rogue flood sent %d", FLOOD_COUNT);
	while (replies < FLOOD_COUNT) {
		if ((n = xrecv(&h)) == 0) {
			rlog("rogue flood replies %d inorder %d ok %d EOF",
			    replies, inorder, okay);
			exit(0);
		}
		if (h.type != IPC_REPLY)
			continue;
		replies++;
		if (h.id == expect)
			inorder++;
		expect = h.id + 1;
		if (reply_size_ok(n)) {
			memcpy(&rep, rbuf + HDRSZ, sizeof(rep));
			if (rep.error == IPC_OK)
				okay++;
		}
	}
	rlog("rogue flood replies %d inorder %d ok %d", replies, inorder, okay);

	/* Still served after the flood. */
	r = req(0, 1, IPC_SRC_CLIENT, 0);
	wmsg(IPC_PIN_SET, GOOD_ID, &r, sizeof(r));
	await_reply(GOOD_ID);
}

static void
m_good(void)
{
	struct ipc_pin_req	 r = req(0, 1, IPC_SRC_CLIENT, 0);

	wmsg(IPC_PIN_SET, GOOD_ID, &r, sizeof(r));
	await_reply(GOOD_ID);
}

static const struct {
	const char	*name;
	void		(*fn)(void);
} modes[] = {
	{ "short",	m_short },
	{ "badlen",	m_badlen },
	{ "version",	m_version },
	{ "unpermitted", m_unpermitted },
	{ "size",	m_size },
	{ "index",	m_index },
	{ "value",	m_value },
	{ "source",	m_source },
	{ "mission",	m_mission },
	{ "getvalue",	m_getvalue },
	{ "watch",	m_watch },
	{ "future",	m_future },
	{ "histflags",	m_histflags },
	{ "fd",		m_fd },
	{ "twofd",	m_twofd },
	{ "empty",	m_empty },
	{ "empties",	m_empties },
	{ "flood",	m_flood },
	{ "good",	m_good },
};

int
main(void)
{
	struct timespec	 tick = { 0, 10 * 1000 * 1000 };
	const char	*gate;
	size_t		 i;
	int		 wait;

	logpath = getenv("GPIOWS_ROGUE_LOG");
	if ((mode = getenv("GPIOWS_ROGUE_MODE")) == NULL)
		mode = "good";
	/* Like wsd: do not outlive the helper. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		die("prctl");
	if (fcntl(IPC_CHILD_FD, F_GETFD) == -1) {
		fprintf(stderr, "rogue-child: no channel on fd %d: it is "
		    "started by gpiod-helper -w\n", IPC_CHILD_FD);
		exit(1);
	}
	rlog("rogue started %s", mode);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(modes[i].name, mode) == 0)
			break;
	if (i == sizeof(modes) / sizeof(modes[0])) {
		rlog("rogue: unknown mode %s", mode);
		exit(2);
	}
	read_state();
	if ((gate = getenv("GPIOWS_ROGUE_GATE")) != NULL) {
		rlog("rogue ready %s", mode);
		for (wait = 0; access(gate, F_OK) == -1 && wait < 1000; wait++)
			nanosleep(&tick, NULL);
	}
	modes[i].fn();
	rlog("rogue %s: sent", mode);
	wait_eof();
}
