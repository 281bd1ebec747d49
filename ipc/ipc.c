#include "config.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc.h"

int
ipc_send(int sock, uint16_t type, uint32_t id, const void *data, size_t len,
    int fd)
{
	struct ipc_hdr	 hdr;
	struct iovec	 iov[2];
	struct msghdr	 mh;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct cmsghdr	*cmsg;
	ssize_t		 n;

	if (len > IPC_MAX_PAYLOAD) {
		errno = EMSGSIZE;
		return -1;
	}
	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.version = IPC_VERSION;
	hdr.len = len;
	hdr.id = id;

	memset(&mh, 0, sizeof(mh));
	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)data;
	iov[1].iov_len = len;
	mh.msg_iov = iov;
	mh.msg_iovlen = len > 0 ? 2 : 1;
	if (fd >= 0) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		mh.msg_control = cmsgbuf.buf;
		mh.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	return 0;
}

/* Room for two descriptors: a second one is seen, and refused. */
#define IPC_CMSG_SPACE	CMSG_SPACE(2 * sizeof(int))

/*
 * What recvmsg or recvmmsg put in mh (n bytes, the datagram in buf), as
 * ipc_recv returns it.
 */
static int
ipc_parse(int sock, const struct msghdr *mh, ssize_t n, void *buf,
    struct ipc_msg *msg)
{
	struct cmsghdr	*cmsg;
	int		 fds[2], nfds = 0, bad = 0, i;

	for (cmsg = CMSG_FIRSTHDR(mh); cmsg != NULL;
	    cmsg = CMSG_NXTHDR((struct msghdr *)mh, cmsg)) {
		if (cmsg->cmsg_level == SOL_SOCKET &&
		    cmsg->cmsg_type == SCM_RIGHTS) {
			size_t k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < (int)k && nfds < 2; i++)
				memcpy(&fds[nfds++], CMSG_DATA(cmsg) +
				    i * sizeof(int), sizeof(int));
			if (k > 1)
				bad = 1;
		} else
			bad = 1;
	}
	if (n == 0 && nfds == 0) {
		struct pollfd	 pfd = { .fd = sock, .events = POLLIN };

		/*
		 * recvmsg gives 0 both at EOF and for an empty datagram; only
		 * a peer that has closed shows POLLHUP.
		 */
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP))
			return 0;
		errno = EBADMSG;
		return -1;
	}
	if (mh->msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		bad = 1;
	if ((size_t)n < sizeof(struct ipc_hdr))
		bad = 1;
	else {
		memcpy(&msg->hdr, buf, sizeof(msg->hdr));
		if (msg->hdr.version != IPC_VERSION || msg->hdr.flags != 0 ||
		    msg->hdr.len != (size_t)n - sizeof(struct ipc_hdr))
			bad = 1;
	}
	if (nfds > 1)
		bad = 1;
	if (bad) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		errno = EBADMSG;
		return -1;
	}
	msg->data = (char *)buf + sizeof(struct ipc_hdr);
	msg->fd = nfds == 1 ? fds[0] : -1;
	return 1;
}

int
ipc_recv(int sock, struct ipc_msg *msg, void *buf, size_t bufsize)
{
	struct iovec	 iov;
	struct msghdr	 mh;
	union {
		struct cmsghdr	hdr;
		char		buf[IPC_CMSG_SPACE];
	} cmsgbuf;
	ssize_t		 n;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = bufsize;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cmsgbuf.buf;
	mh.msg_controllen = sizeof(cmsgbuf.buf);
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	return ipc_parse(sock, &mh, n, buf, msg);
}

int
ipc_check_size(const struct ipc_msg *msg, size_t size)
{
	return msg->hdr.len == size;
}

/*
 * A queued message, kept whole so that one datagram stays one datagram.
 * Its payload is wiped before it is freed: it may be a private key
 * (IPC_TLS_KEYPAIR).
 */
struct ipc_out {
	TAILQ_ENTRY(ipc_out)	 o_entry;
	uint16_t		 o_type;
	uint32_t		 o_id;
	int			 o_fd;
	size_t			 o_len;
	unsigned char		 o_data[];
};

#define IPC_BATCH	4	/* datagrams per recvmmsg */

struct ipc_chan {
	int			 c_fd;
	struct event		*c_rev;
	struct event		*c_wev;
	TAILQ_HEAD(, ipc_out)	 c_outq;
	size_t			 c_queued;
	size_t			 c_maxqueue;
	ipc_cb			 c_cb;
	void			*c_arg;
	unsigned char		*c_buf;		/* IPC_BATCH datagrams */
	struct mmsghdr		 c_mm[IPC_BATCH];
	struct iovec		 c_iov[IPC_BATCH];
	union {
		struct cmsghdr	 hdr;
		char		 buf[IPC_CMSG_SPACE];
	}			 c_cmsg[IPC_BATCH];
	/* The last batch read, and how far it has been handed on. */
	struct ipc_msg		 c_msgs[IPC_BATCH];
	int			 c_rs[IPC_BATCH], c_errs[IPC_BATCH];
	int			 c_nmsgs, c_next;
	size_t			 c_pause_at;	/* ipc_chan_pause_reads; 0: never */
	int			 c_paused;
};

#define IPC_BUFSIZE	(sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD)

/*
 * Up to IPC_BATCH datagrams per recvmmsg: one system call for what one
 * wakeup finds, where recvmsg took one per datagram and one more to learn
 * that there was no other.  Fewer than asked for means the socket was
 * empty; a full batch is followed by another, up to 64 datagrams, so that
 * one busy peer cannot starve the others.  Every batch is checked before
 * any of it is handed on, so that the descriptors of what will not be
 * handed on (the callback freed the channel, or a datagram is malformed)
 * are known and closed.  A channel whose reads are paused
 * (ipc_chan_pause_reads) keeps the rest of its batch for when they resume.
 */
/* What of the last batch was not handed on is dropped, its fds closed. */
static void
chan_drop_rest(struct ipc_chan *c)
{
	for (; c->c_next < c->c_nmsgs; c->c_next++)
		if (c->c_rs[c->c_next] == 1 && c->c_msgs[c->c_next].fd != -1)
			close(c->c_msgs[c->c_next].fd);
}

static void
ipc_chan_read(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_chan	*c = arg;
	int		 n, k, r, full, round;

	for (round = 0; round < 64 / IPC_BATCH; round++) {
		if (c->c_paused)
			return;
		if (c->c_next == c->c_nmsgs) {
			/* What the kernel changes (ipc_chan_new sets the rest). */
			for (k = 0; k < IPC_BATCH; k++) {
				c->c_mm[k].msg_hdr.msg_controllen =
				    sizeof(c->c_cmsg[k].buf);
				c->c_mm[k].msg_hdr.msg_flags = 0;
			}
			do {
				n = recvmmsg(c->c_fd, c->c_mm, IPC_BATCH,
				    MSG_CMSG_CLOEXEC | MSG_DONTWAIT, NULL);
			} while (n == -1 && errno == EINTR);
			if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (n == -1) {
				c->c_rs[0] = -1;
				c->c_errs[0] = errno;
				n = 1;
			} else
				for (k = 0; k < n; k++) {
					/* A malformed one's descriptors are closed here. */
					c->c_rs[k] = ipc_parse(c->c_fd,
					    &c->c_mm[k].msg_hdr,
					    (ssize_t)c->c_mm[k].msg_len,
					    c->c_iov[k].iov_base, &c->c_msgs[k]);
					c->c_errs[k] = c->c_rs[k] == -1 ? errno : 0;
				}
			c->c_nmsgs = n;
			c->c_next = 0;
		}
		full = c->c_nmsgs == IPC_BATCH;
		while (c->c_next < c->c_nmsgs) {
			k = c->c_next++;
			if ((r = c->c_rs[k]) <= 0 ||
			    c->c_cb(c, &c->c_msgs[k], c->c_arg) == -1) {
				if (r > 0)
					return;	/* the callback freed the channel */
				/* EOF (errno 0) or malformed: the rest is not handed on. */
				chan_drop_rest(c);
				event_del(c->c_rev);
				errno = c->c_errs[k];
				c->c_cb(c, NULL, c->c_arg);
				return;
			}
			if (c->c_paused)
				return;
		}
		if (!full)
			return;
	}
}

static void
ipc_chan_write(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_chan	*c = arg;
	struct ipc_out	*o;

	while ((o = TAILQ_FIRST(&c->c_outq)) != NULL) {
		if (ipc_send(c->c_fd, o->o_type, o->o_id, o->o_data, o->o_len,
		    o->o_fd) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS)
				break;
			/* The peer is gone; the read side reports it. */
		}
		TAILQ_REMOVE(&c->c_outq, o, o_entry);
		c->c_queued -= o->o_len + sizeof(struct ipc_hdr);
		if (o->o_fd != -1)
			close(o->o_fd);
		explicit_bzero(o->o_data, o->o_len);
		free(o);
	}
	if (TAILQ_EMPTY(&c->c_outq))
		event_del(c->c_wev);
	else
		event_add(c->c_wev, NULL);
	if (c->c_paused && c->c_queued <= c->c_pause_at / 2) {
		c->c_paused = 0;
		event_add(c->c_rev, NULL);
		/* What is left of the batch is not in the socket any more. */
		event_active(c->c_rev, EV_READ, 0);
	}
}

struct ipc_chan *
ipc_chan_new(struct event_base *base, int sock, size_t maxqueue, ipc_cb cb,
    void *arg)
{
	struct ipc_chan	*c;
	int		 k;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->c_buf = malloc(IPC_BATCH * IPC_BUFSIZE)) == NULL) {
		free(c);
		return NULL;
	}
	for (k = 0; k < IPC_BATCH; k++) {
		c->c_iov[k].iov_base = c->c_buf + k * IPC_BUFSIZE;
		c->c_iov[k].iov_len = IPC_BUFSIZE;
		c->c_mm[k].msg_hdr.msg_iov = &c->c_iov[k];
		c->c_mm[k].msg_hdr.msg_iovlen = 1;
		c->c_mm[k].msg_hdr.msg_control = c->c_cmsg[k].buf;
	}
	evutil_make_socket_nonblocking(sock);
	evutil_make_socket_closeonexec(sock);
	c->c_fd = sock;
	c->c_maxqueue = maxqueue;
	c->c_cb = cb;
	c->c_arg = arg;
	TAILQ_INIT(&c->c_outq);
	c->c_rev = event_new(base, sock, EV_READ | EV_PERSIST, ipc_chan_read, c);
	c->c_wev = event_new(base, sock, EV_WRITE, ipc_chan_write, c);
	if (c->c_rev == NULL || c->c_wev == NULL) {
		c->c_fd = -1;		/* the caller still owns sock */
		ipc_chan_free(c);
		return NULL;
	}
	event_add(c->c_rev, NULL);
	return c;
}

void
ipc_chan_free(struct ipc_chan *c)
{
	struct ipc_out	*o;

	if (c == NULL)
		return;
	chan_drop_rest(c);
	while ((o = TAILQ_FIRST(&c->c_outq)) != NULL) {
		TAILQ_REMOVE(&c->c_outq, o, o_entry);
		if (o->o_fd != -1)
			close(o->o_fd);
		explicit_bzero(o->o_data, o->o_len);
		free(o);
	}
	if (c->c_rev != NULL)
		event_free(c->c_rev);
	if (c->c_wev != NULL)
		event_free(c->c_wev);
	if (c->c_fd != -1)
		close(c->c_fd);
	free(c->c_buf);
	free(c);
}

int
ipc_chan_send(struct ipc_chan *c, uint16_t type, uint32_t id, const void *data,
    size_t len, int fd)
{
	struct ipc_out	*o;

	if (len > IPC_MAX_PAYLOAD) {
		errno = EMSGSIZE;
		return -1;
	}
	if (TAILQ_EMPTY(&c->c_outq)) {
		if (ipc_send(c->c_fd, type, id, data, len, fd) == 0)
			return 0;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
			return -1;
	}
	if (c->c_queued + len + sizeof(struct ipc_hdr) > c->c_maxqueue) {
		errno = ENOBUFS;
		return -1;
	}
	if ((o = malloc(sizeof(*o) + len)) == NULL)
		return -1;
	o->o_type = type;
	o->o_id = id;
	o->o_len = len;
	o->o_fd = -1;
	if (fd != -1 && (o->o_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		free(o);
		return -1;
	}
	if (len > 0)
		memcpy(o->o_data, data, len);
	TAILQ_INSERT_TAIL(&c->c_outq, o, o_entry);
	c->c_queued += len + sizeof(struct ipc_hdr);
	event_add(c->c_wev, NULL);
	if (c->c_pause_at != 0 && c->c_queued > c->c_pause_at &&
	    !c->c_paused) {
		c->c_paused = 1;
		event_del(c->c_rev);
	}
	return 0;
}

/*
 * A peer that does not read its answers is not read from: once more than
 * high bytes wait to be written to it, nothing more is taken from it (what
 * it sends waits in the socket, where its own sends block or fail), until
 * it has read enough for the queue to be down to high / 2.  For a channel
 * that answers requests, not for one that waits on answers: two channels
 * pausing each other would wait for ever.
 */
void
ipc_chan_pause_reads(struct ipc_chan *c, size_t high)
{
	c->c_pause_at = high;
}

/*
 * For a request whose answer is likely in by the time the callback that
 * sent it returns: the channel is read then, in the same turn of the loop,
 * instead of after one more epoll_wait(2).  If nothing has come yet, the
 * read finds the socket empty and the channel waits as it did.
 */
void
ipc_chan_read_soon(struct ipc_chan *c)
{
	event_active(c->c_rev, EV_READ, 0);
}

int
ipc_chan_fd(const struct ipc_chan *c)
{
	return c->c_fd;
}

size_t
ipc_chan_queued(const struct ipc_chan *c)
{
	return c->c_queued;
}

const char *
ipc_errcode(int error)
{
	static const char *codes[IPC_E_MAX] = {
		[IPC_OK] = "ok",
		[IPC_E_UNKNOWN_PIN] = "unknown_pin",
		[IPC_E_NOT_OUTPUT] = "not_output",
		[IPC_E_BAD_VALUE] = "bad_value",
		[IPC_E_NOT_SIMULATED] = "not_simulated",
		[IPC_E_NOT_INPUT] = "not_input",
		[IPC_E_BUSY] = "busy",
		[IPC_E_IO] = "io",
		[IPC_E_STALE] = "reloaded",
	};

	if (error < 0 || error >= IPC_E_MAX)
		return "internal";
	return codes[error];
}

const char *
ipc_source_str(int source)
{
	switch (source) {
	case IPC_SRC_CLIENT:
		return "client";
	case IPC_SRC_MISSION:
		return "mission";
	case IPC_SRC_EDGE:
		return "edge";
	case IPC_SRC_INIT:
		return "init";
	case IPC_SRC_SAFE:
		return "safe";
	}
	return "unknown";
}
