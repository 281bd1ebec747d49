/*
 * Unit tests for ipc/ipc.c over real socketpair(AF_UNIX, SOCK_SEQPACKET):
 * the wire format, fd passing, every way ipc_recv must refuse a datagram,
 * and the ipc_chan output queue and callback on a libevent base.  Malformed
 * datagrams are hand-made bytes sent with plain sendmsg(), so that they do
 * not depend on ipc_send being right.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc.h"
#include "tap.h"

#define HDRSZ		sizeof(struct ipc_hdr)

static unsigned char	 rbuf[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD];
static unsigned char	 sbuf[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD + 64];

static void
pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		perror("socketpair");
		exit(99);
	}
}

static void
nonblock(int fd)
{
	int	 fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		perror("fcntl O_NONBLOCK");
		exit(99);
	}
}

static void
mkpipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1) {
		perror("pipe2");
		exit(99);
	}
}

/* One raw datagram: len bytes of p, with nfds descriptors as SCM_RIGHTS. */
static ssize_t
raw_send(int sock, const void *p, size_t len, const int *fds, int nfds)
{
	struct iovec	 iov;
	struct msghdr	 mh;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(8 * sizeof(int))];
	} cm;
	struct cmsghdr	*cmsg;

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
	return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

/* A header as it goes on the wire, then plen payload bytes of 0xa5. */
static size_t
mkdgram(unsigned char *out, uint16_t type, uint16_t version, uint32_t len,
    uint32_t id, uint32_t flags, size_t plen)
{
	struct ipc_hdr	 h;

	memset(&h, 0, sizeof(h));
	h.type = type;
	h.version = version;
	h.len = len;
	h.id = id;
	h.flags = flags;
	memcpy(out, &h, sizeof(h));
	memset(out + sizeof(h), 0xa5, plen);
	return sizeof(h) + plen;
}

static int
count_fds(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;		/* the directory's own */
}

/* The numbers the kernel will give the next n descriptors (lowest free). */
static void
next_fds(int *out, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		if ((out[i] = fcntl(STDOUT_FILENO, F_DUPFD, 0)) == -1) {
			perror("dup");
			exit(99);
		}
	for (i = 0; i < n; i++)
		close(out[i]);
}

static int
fd_closed(int fd)
{
	return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

/* 0 when every write end of the pipe is closed (read gives EOF). */
static ssize_t
pipe_probe(int rfd)
{
	char	 c;

	return read(rfd, &c, 1);
}

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Expect ipc_recv to refuse what is waiting on sock with EBADMSG. */
static void
expect_badmsg(int sock, const char *name)
{
	struct ipc_msg	 m;
	int		 r;

	errno = 0;
	r = ipc_recv(sock, &m, rbuf, sizeof(rbuf));
	ok(r == -1 && errno == EBADMSG, "%s: EBADMSG", name);
	if (r != -1 || errno != EBADMSG)
		diag("got %d, errno %d (%s)", r, errno, strerror(errno));
	if (r == 1 && m.fd != -1)
		close(m.fd);
}

static void
test_round_trip(void)
{
	struct ipc_pin_req	 req, got;
	struct ipc_hdr		 h;
	struct ipc_msg		 m;
	unsigned char		 raw[256];
	int			 sv[2], r;
	ssize_t			 n;

	pair(sv);
	memset(&req, 0, sizeof(req));
	req.index = 0x01020304;
	req.value = 1;
	req.source = IPC_SRC_MISSION;
	req.mission = 0xdeadbeef;

	/* The bytes on the wire, read without ipc_recv. */
	ok(ipc_send(sv[0], IPC_PIN_SET, 0x8badf00d, &req, sizeof(req), -1) == 0,
	    "ipc_send of a request");
	n = recv(sv[1], raw, sizeof(raw), 0);
	ok(n == (ssize_t)(HDRSZ + sizeof(req)),
	    "one datagram of header + payload (%zd bytes)", n);
	memcpy(&h, raw, sizeof(h));
	ok(h.type == IPC_PIN_SET && h.version == IPC_VERSION &&
	    h.len == sizeof(req) && h.id == 0x8badf00d && h.flags == 0,
	    "wire header: type %u version %u len %u id %#x flags %u",
	    h.type, h.version, h.len, h.id, h.flags);
	ok(n >= (ssize_t)(HDRSZ + sizeof(req)) &&
	    memcmp(raw + HDRSZ, &req, sizeof(req)) == 0,
	    "wire payload follows the header");

	ok(ipc_send(sv[0], IPC_PIN_SET, 42, &req, sizeof(req), -1) == 0,
	    "ipc_send again");
	memset(&m, 0x5a, sizeof(m));
	r = ipc_recv(sv[1], &m, rbuf, sizeof(rbuf));
	ok(r == 1, "ipc_recv returns 1 (%d)", r);
	ok(m.hdr.type == IPC_PIN_SET, "type %u", m.hdr.type);
	ok(m.hdr.id == 42, "id %u", m.hdr.id);
	ok(m.hdr.len == sizeof(req), "len %u", m.hdr.len);
	ok(m.hdr.version == IPC_VERSION && m.hdr.flags == 0,
	    "version and flags");
	ok(m.data == rbuf + HDRSZ, "data points into the buffer after the header");
	memcpy(&got, rbuf + HDRSZ, sizeof(got));
	ok(memcmp(&got, &req, sizeof(req)) == 0, "payload exact");
	ok(m.fd == -1, "no fd: fd is -1 (%d)", m.fd);

	/* Zero-length payload. */
	ok(ipc_send(sv[0], IPC_MISSION_LIST, 7, NULL, 0, -1) == 0,
	    "ipc_send with an empty payload");
	memset(&m, 0x5a, sizeof(m));
	r = ipc_recv(sv[1], &m, rbuf, sizeof(rbuf));
	ok(r == 1 && m.hdr.type == IPC_MISSION_LIST && m.hdr.id == 7 &&
	    m.hdr.len == 0 && m.fd == -1,
	    "empty payload: r %d type %u id %u len %u fd %d", r, m.hdr.type,
	    m.hdr.id, m.hdr.len, m.fd);

	/* The largest payload fills the documented buffer exactly. */
	memset(sbuf, 0, sizeof(sbuf));
	for (n = 0; n < IPC_MAX_PAYLOAD; n++)
		sbuf[n] = (unsigned char)(n * 7 + 3);
	ok(ipc_send(sv[0], IPC_MISSIONS, 9, sbuf, IPC_MAX_PAYLOAD, -1) == 0,
	    "ipc_send of IPC_MAX_PAYLOAD bytes");
	r = ipc_recv(sv[1], &m, rbuf, sizeof(rbuf));
	ok(r == 1 && m.hdr.len == IPC_MAX_PAYLOAD &&
	    memcmp(m.data, sbuf, IPC_MAX_PAYLOAD) == 0,
	    "IPC_MAX_PAYLOAD bytes arrive whole (r %d len %u)", r, m.hdr.len);

	/* Too big is refused before anything is sent. */
	nonblock(sv[1]);
	errno = 0;
	r = ipc_send(sv[0], IPC_MISSIONS, 10, sbuf, IPC_MAX_PAYLOAD + 1, -1);
	ok(r == -1 && errno == EMSGSIZE,
	    "ipc_send of IPC_MAX_PAYLOAD + 1 bytes: EMSGSIZE (%d, %s)", r,
	    strerror(errno));
	errno = 0;
	r = ipc_recv(sv[1], &m, rbuf, sizeof(rbuf));
	ok(r == -1 && errno == EAGAIN, "nothing was sent; empty socket: EAGAIN");

	close(sv[0]);
	close(sv[1]);
}

static void
test_fd_passing(void)
{
	struct ipc_msg	 m;
	struct stat	 a, b;
	int		 sv[2], p[2], r, fl;
	char		 c = 0;

	pair(sv);
	mkpipe(p);
	ok(ipc_send(sv[0], IPC_LISTENER, 3, "x", 1, p[1]) == 0,
	    "ipc_send with an fd");
	ok(fcntl(p[1], F_GETFD) != -1, "the sender keeps its fd");
	r = ipc_recv(sv[1], &m, rbuf, sizeof(rbuf));
	ok(r == 1 && m.fd >= 0 && m.fd != p[1],
	    "the fd arrives as a new descriptor (r %d fd %d)", r, m.fd);
	if (r != 1 || m.fd < 0) {
		ok(0, "same file");
		ok(0, "written through one, read through the other");
		ok(0, "close-on-exec");
		goto out;
	}
	ok(fstat(m.fd, &a) == 0 && fstat(p[1], &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino, "same file");
	ok(write(m.fd, "Q", 1) == 1 && read(p[0], &c, 1) == 1 && c == 'Q',
	    "written through one, read through the other");
	fl = fcntl(m.fd, F_GETFD);
	ok(fl != -1 && (fl & FD_CLOEXEC), "close-on-exec (%#x)", fl);
	close(m.fd);
out:
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void
test_malformed(void)
{
	struct ipc_msg	 m;
	unsigned char	 d[256];
	size_t		 len;
	int		 sv[2], p[2], fds[3], nx[3], before, r;
	ssize_t		 n;

	pair(sv);
	nonblock(sv[1]);

	/* Shorter than the header. */
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, 0, 1, 0, 0);
	raw_send(sv[0], d, HDRSZ - 1, NULL, 0);
	expect_badmsg(sv[1], "datagram one byte shorter than the header");
	raw_send(sv[0], d, 4, NULL, 0);
	expect_badmsg(sv[1], "4-byte datagram");
	raw_send(sv[0], d, 1, NULL, 0);
	expect_badmsg(sv[1], "1-byte datagram");

	/* An empty datagram is not the end of the stream. */
	n = raw_send(sv[0], d, 0, NULL, 0);
	ok(n == 0, "an empty datagram can be sent (%zd)", n);
	expect_badmsg(sv[1], "empty datagram");

	/* Nor is the first of two: the peer is still there. */
	raw_send(sv[0], d, 0, NULL, 0);
	raw_send(sv[0], d, 0, NULL, 0);
	expect_badmsg(sv[1], "the first of two empty datagrams");
	expect_badmsg(sv[1], "the second of two empty datagrams");

	/* ... and its fd must not leak. */
	mkpipe(p);
	raw_send(sv[0], d, 0, &p[1], 1);
	close(p[1]);
	next_fds(nx, 1);
	before = count_fds();
	errno = 0;
	r = ipc_recv(sv[1], &m, rbuf, sizeof(rbuf));
	ok(r == -1 && errno == EBADMSG,
	    "empty datagram with an fd: EBADMSG (got %d, %s)", r,
	    strerror(errno));
	ok(count_fds() == before && fd_closed(nx[0]) && pipe_probe(p[0]) == 0,
	    "empty datagram with an fd: the fd is closed (fds %d -> %d)",
	    before, count_fds());
	if (!fd_closed(nx[0]))
		close(nx[0]);
	close(p[0]);

	/* Header length against the datagram's size. */
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, 17, 1, 0, 16);
	raw_send(sv[0], d, len, NULL, 0);
	expect_badmsg(sv[1], "hdr.len bigger than the payload (17 for 16)");
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, 15, 1, 0, 16);
	raw_send(sv[0], d, len, NULL, 0);
	expect_badmsg(sv[1], "hdr.len smaller than the payload (15 for 16)");
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, 0, 1, 0, 16);
	raw_send(sv[0], d, len, NULL, 0);
	expect_badmsg(sv[1], "hdr.len 0 with 16 payload bytes");
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, 16, 1, 0, 0);
	raw_send(sv[0], d, len, NULL, 0);
	expect_badmsg(sv[1], "hdr.len 16 with no payload");
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, UINT32_MAX, 1, 0, 16);
	raw_send(sv[0], d, len, NULL, 0);
	expect_badmsg(sv[1], "hdr.len UINT32_MAX");
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, UINT32_MAX - HDRSZ + 1, 1,
	    0, 0);
	raw_send(sv[0], d, len, NULL, 0);
	expect_badmsg(sv[1], "hdr.len that wraps to 0 with the header added");

	/* Version and flags. */
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION + 1, 16, 1, 0, 16);
	raw_send(sv[0], d, len, NULL, 0);
	expect_badmsg(sv[1], "version IPC_VERSION + 1");
	len = mkdgram(d, IPC_PIN_GET, 0, 16, 1, 0, 16);
	raw_send(sv[0], d, len, NULL, 0);
	expect_badmsg(sv[1], "version 0");
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, 16, 1, 1, 16);
	raw_send(sv[0], d, len, NULL, 0);
	expect_badmsg(sv[1], "flags 1");
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, 16, 1, 0x80000000u, 16);
	raw_send(sv[0], d, len, NULL, 0);
	expect_badmsg(sv[1], "flags 0x80000000");

	/* Larger than the caller's buffer. */
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, 16, 1, 0, 16);
	raw_send(sv[0], d, len, NULL, 0);
	errno = 0;
	r = ipc_recv(sv[1], &m, rbuf, len - 1);
	ok(r == -1 && errno == EBADMSG,
	    "datagram one byte larger than the buffer: EBADMSG (%d, %s)", r,
	    strerror(errno));
	/* Cut where hdr.len says it ends: only MSG_TRUNC tells. */
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, 16, 1, 0, 24);
	raw_send(sv[0], d, len, NULL, 0);
	errno = 0;
	r = ipc_recv(sv[1], &m, rbuf, HDRSZ + 16);
	ok(r == -1 && errno == EBADMSG,
	    "datagram cut by the buffer exactly where hdr.len ends: EBADMSG "
	    "(%d, %s)", r, strerror(errno));
	mkdgram(sbuf, IPC_MISSIONS, IPC_VERSION, IPC_MAX_PAYLOAD + 1, 1, 0,
	    IPC_MAX_PAYLOAD + 1);
	n = raw_send(sv[0], sbuf, HDRSZ + IPC_MAX_PAYLOAD + 1, NULL, 0);
	ok(n == (ssize_t)(HDRSZ + IPC_MAX_PAYLOAD + 1),
	    "a datagram of IPC_MAX_PAYLOAD + 1 can be sent raw (%zd)", n);
	expect_badmsg(sv[1],
	    "IPC_MAX_PAYLOAD + 1 with a matching hdr.len (truncated)");

	/* The socket is still in step: a good message after the bad ones. */
	ok(ipc_send(sv[0], IPC_PIN_GET, 77, "0123456789abcdef", 16, -1) == 0 &&
	    ipc_recv(sv[1], &m, rbuf, sizeof(rbuf)) == 1 && m.hdr.id == 77 &&
	    m.hdr.len == 16 && memcmp(m.data, "0123456789abcdef", 16) == 0,
	    "a well-formed message after the malformed ones is received");

	/* Two fds in one message: refused, and both closed. */
	mkpipe(p);
	fds[0] = fds[1] = p[1];
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, 16, 1, 0, 16);
	n = raw_send(sv[0], d, len, fds, 2);
	ok(n == (ssize_t)len, "a message with two fds can be sent raw");
	close(p[1]);
	ok(pipe_probe(p[0]) == -1 && errno == EAGAIN,
	    "the fds in flight keep the pipe open");
	next_fds(nx, 2);
	before = count_fds();
	expect_badmsg(sv[1], "two fds in one message");
	ok(count_fds() == before, "two fds: no descriptor left (%d -> %d)",
	    before, count_fds());
	ok(fd_closed(nx[0]) && fd_closed(nx[1]),
	    "two fds: fds %d and %d are closed", nx[0], nx[1]);
	ok(pipe_probe(p[0]) == 0, "two fds: no copy of the pipe is left open");
	close(p[0]);

	/* Three fds: more than the receiver has room for (MSG_CTRUNC). */
	mkpipe(p);
	fds[0] = fds[1] = fds[2] = p[1];
	raw_send(sv[0], d, len, fds, 3);
	close(p[1]);
	next_fds(nx, 3);
	before = count_fds();
	expect_badmsg(sv[1], "three fds in one message");
	ok(count_fds() == before && fd_closed(nx[0]) && fd_closed(nx[1]) &&
	    fd_closed(nx[2]) && pipe_probe(p[0]) == 0,
	    "three fds: all closed (%d -> %d)", before, count_fds());
	close(p[0]);

	/* One fd on an otherwise malformed message is closed too. */
	mkpipe(p);
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION + 1, 16, 1, 0, 16);
	raw_send(sv[0], d, len, &p[1], 1);
	close(p[1]);
	next_fds(nx, 1);
	before = count_fds();
	expect_badmsg(sv[1], "wrong version with an fd");
	ok(count_fds() == before && fd_closed(nx[0]) && pipe_probe(p[0]) == 0,
	    "wrong version with an fd: the fd is closed");
	close(p[0]);

	mkpipe(p);
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, 16, 1, 0, 16);
	raw_send(sv[0], d, len, &p[1], 1);
	close(p[1]);
	next_fds(nx, 1);
	before = count_fds();
	errno = 0;
	r = ipc_recv(sv[1], &m, rbuf, len - 1);
	ok(r == -1 && errno == EBADMSG && count_fds() == before &&
	    fd_closed(nx[0]) && pipe_probe(p[0]) == 0,
	    "truncated with an fd: EBADMSG and the fd is closed");
	close(p[0]);

	/* EAGAIN, then EOF. */
	errno = 0;
	r = ipc_recv(sv[1], &m, rbuf, sizeof(rbuf));
	ok(r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK),
	    "nothing waiting on a non-blocking socket: EAGAIN");
	close(sv[0]);
	r = ipc_recv(sv[1], &m, rbuf, sizeof(rbuf));
	ok(r == 0, "EOF returns 0 (%d)", r);
	r = ipc_recv(sv[1], &m, rbuf, sizeof(rbuf));
	ok(r == 0, "and 0 again after EOF (%d)", r);
	close(sv[1]);

	/* Sending to a closed peer fails without SIGPIPE. */
	pair(sv);
	close(sv[1]);
	errno = 0;
	r = ipc_send(sv[0], IPC_PIN_GET, 1, "x", 1, -1);
	ok(r == -1 && errno == EPIPE,
	    "ipc_send to a closed peer: EPIPE, no SIGPIPE (%d, %s)", r,
	    strerror(errno));
	close(sv[0]);
}

static void
test_check_size(void)
{
	struct ipc_msg	 m;

	memset(&m, 0, sizeof(m));
	m.hdr.len = 16;
	ok(ipc_check_size(&m, 16) == 1, "ipc_check_size: 16 == 16");
	ok(ipc_check_size(&m, 15) == 0, "ipc_check_size: 16 != 15");
	ok(ipc_check_size(&m, 17) == 0, "ipc_check_size: 16 != 17");
	ok(ipc_check_size(&m, 0) == 0, "ipc_check_size: 16 != 0");
	if (sizeof(size_t) > 4)
		ok(ipc_check_size(&m, (size_t)UINT32_MAX + 17) == 0,
		    "ipc_check_size: 16 != 2^32 + 16");
	m.hdr.len = 0;
	ok(ipc_check_size(&m, 0) == 1, "ipc_check_size: 0 == 0");
	ok(ipc_check_size(&m, 1) == 0, "ipc_check_size: 0 != 1");
	m.hdr.len = sizeof(struct ipc_pin_info);
	ok(ipc_check_size(&m, sizeof(struct ipc_pin_info)) == 1 &&
	    ipc_check_size(&m, sizeof(struct ipc_pin_req)) == 0,
	    "ipc_check_size: struct sizes");
}

/* ---------------------------------------------------------------- ipc_chan */

#define QPAYLOAD	64

struct qmsg {
	uint32_t	id;
	unsigned char	fill[QPAYLOAD - 4];
};

static void
qfill(struct qmsg *q, uint32_t id)
{
	q->id = id;
	memset(q->fill, (int)(id & 0xff), sizeof(q->fill));
}

static int
qcheck(const struct ipc_msg *m, uint32_t id)
{
	struct qmsg	 q, want;

	if (m->hdr.type != IPC_PIN_EVENT || m->hdr.id != id ||
	    m->hdr.len != sizeof(q))
		return 0;
	memcpy(&q, m->data, sizeof(q));
	qfill(&want, id);
	return memcmp(&q, &want, sizeof(q)) == 0;
}

static int
never_cb(struct ipc_chan *c, const struct ipc_msg *m, void *arg)
{
	int	*called = arg;

	(*called)++;
	if (m != NULL && m->fd != -1)
		close(m->fd);
	return 0;
}

static void
test_chan_queue(void)
{
	struct event_base	*base;
	struct ipc_chan		*c;
	struct ipc_msg		 m;
	struct qmsg		 q;
	const size_t		 one = HDRSZ + sizeof(struct qmsg);
	const int		 nq = 40;	/* queued messages, maxqueue */
	int			 sv[2], p[2], sndbuf = 4096, r, called = 0;
	uint32_t		 id = 0, expect = 1, total, fdid = 0;
	int			 got = 0, bad = 0, firstbad = 0, fdok = 0, i;
	double			 deadline;
	char			 ch = 0;

	base = event_base_new();
	if (base == NULL) {
		fprintf(stderr, "event_base_new\n");
		exit(99);
	}
	pair(sv);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	c = ipc_chan_new(base, sv[0], nq * one, never_cb, &called);
	ok(c != NULL && ipc_chan_fd(c) == sv[0] && ipc_chan_queued(c) == 0,
	    "ipc_chan_new: the socket is the channel's, nothing queued");
	if (c == NULL)
		return;
	ok(fcntl(sv[0], F_GETFL) & O_NONBLOCK, "the channel's socket is "
	    "non-blocking");

	/* Fill the socket behind the channel's back. */
	for (i = 0; i < 100000; i++) {
		qfill(&q, id + 1);
		if (ipc_send(sv[0], IPC_PIN_EVENT, id + 1, &q, sizeof(q),
		    -1) == -1)
			break;
		id++;
	}
	ok(i < 100000 && (errno == EAGAIN || errno == EWOULDBLOCK) && id > 0,
	    "the socket fills up: EAGAIN after %u messages", id);

	/* Now the channel has to queue. */
	mkpipe(p);
	for (i = 0; i < nq - 1; i++) {
		qfill(&q, id + 1);
		if (i == 2) {
			fdid = id + 1;
			r = ipc_chan_send(c, IPC_PIN_EVENT, id + 1, &q,
			    sizeof(q), p[1]);
		} else
			r = ipc_chan_send(c, IPC_PIN_EVENT, id + 1, &q,
			    sizeof(q), -1);
		if (r == -1)
			break;
		id++;
	}
	ok(i == nq - 1, "ipc_chan_send queues %d messages on a full socket",
	    nq - 1);
	ok(ipc_chan_queued(c) == (size_t)(nq - 1) * one,
	    "ipc_chan_queued counts them: %zu (want %zu)", ipc_chan_queued(c),
	    (size_t)(nq - 1) * one);
	close(p[1]);		/* the queue holds its own copy */

	/* Room on the socket, but the queue is not empty: order first. */
	nonblock(sv[1]);
	r = ipc_recv(sv[1], &m, rbuf, sizeof(rbuf));
	ok(r == 1 && qcheck(&m, 1), "the peer reads the first message");
	if (r == 1)
		expect = 2;
	qfill(&q, id + 1);
	r = ipc_chan_send(c, IPC_PIN_EVENT, id + 1, &q, sizeof(q), -1);
	if (r == 0)
		id++;
	ok(r == 0 && ipc_chan_queued(c) == (size_t)nq * one,
	    "with a queue, ipc_chan_send queues even when the socket has room "
	    "(queued %zu)", ipc_chan_queued(c));

	/* maxqueue. */
	qfill(&q, id + 1);
	errno = 0;
	r = ipc_chan_send(c, IPC_PIN_EVENT, id + 1, &q, sizeof(q), -1);
	ok(r == -1 && errno == ENOBUFS,
	    "past maxqueue: ENOBUFS (%d, %s)", r, strerror(errno));
	errno = 0;
	r = ipc_chan_send(c, IPC_PIN_EVENT, id + 1, NULL, 0, -1);
	ok(r == -1 && errno == ENOBUFS,
	    "past maxqueue, even an empty message: ENOBUFS");
	ok(ipc_chan_queued(c) == (size_t)nq * one,
	    "a refused message is not counted");
	errno = 0;
	r = ipc_chan_send(c, IPC_PIN_EVENT, id + 1, sbuf, IPC_MAX_PAYLOAD + 1,
	    -1);
	ok(r == -1 && errno == EMSGSIZE, "ipc_chan_send of IPC_MAX_PAYLOAD + 1: "
	    "EMSGSIZE (%s)", strerror(errno));
	total = id;

	/* Drain the peer, run the loop: everything arrives, in order. */
	deadline = now() + 5;
	while (expect <= total && now() < deadline) {
		r = ipc_recv(sv[1], &m, rbuf, sizeof(rbuf));
		if (r == 1) {
			if (!qcheck(&m, expect) && bad++ == 0)
				firstbad = expect;
			if (m.fd != -1) {
				if (m.hdr.id == fdid &&
				    write(m.fd, "F", 1) == 1 &&
				    read(p[0], &ch, 1) == 1 && ch == 'F')
					fdok = 1;
				close(m.fd);
			}
			got++;
			expect++;
			continue;
		}
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
			continue;
		}
		break;
	}
	ok(expect == total + 1, "all %u messages arrive (%u)", total,
	    expect - 1);
	ok(bad == 0, "in order, with the right ids and payloads (%d wrong, "
	    "first at %d)", bad, firstbad);
	ok(fdok, "the fd sent while queued arrives and works (message %u)",
	    fdid);
	ok(pipe_probe(p[0]) == 0, "once sent, the channel's copy of the fd "
	    "is closed");
	ok(ipc_chan_queued(c) == 0, "the queue is empty (%zu)",
	    ipc_chan_queued(c));
	r = ipc_recv(sv[1], &m, rbuf, sizeof(rbuf));
	ok(r == -1 && errno == EAGAIN, "nothing more arrives");

	/* With an empty queue, a send goes straight out. */
	qfill(&q, 999);
	ok(ipc_chan_send(c, IPC_PIN_EVENT, 999, &q, sizeof(q), -1) == 0 &&
	    ipc_chan_queued(c) == 0 &&
	    ipc_recv(sv[1], &m, rbuf, sizeof(rbuf)) == 1 && qcheck(&m, 999),
	    "with an empty queue ipc_chan_send sends at once");
	ok(called == 0, "the callback was not called (%d)", called);

	/* Freeing with a queue closes the queued fds. */
	for (i = 0; i < 100000; i++)
		if (ipc_send(sv[0], IPC_PIN_EVENT, 1, &q, sizeof(q), -1) == -1)
			break;
	close(p[0]);
	mkpipe(p);
	ok(ipc_chan_send(c, IPC_PIN_EVENT, 1, &q, sizeof(q), p[1]) == 0 &&
	    ipc_chan_queued(c) > 0, "an fd queued on a full socket");
	close(p[1]);
	ipc_chan_free(c);
	ok(fd_closed(sv[0]), "ipc_chan_free closes the socket");
	/* The peer still holds datagrams, none with our fd. */
	while (ipc_recv(sv[1], &m, rbuf, sizeof(rbuf)) == 1)
		if (m.fd != -1)
			close(m.fd);
	ok(pipe_probe(p[0]) == 0, "ipc_chan_free closes a queued fd");
	close(p[0]);
	close(sv[1]);
	event_base_free(base);
}

struct rstate {
	struct ipc_chan	*chan;
	int		 nmsg;
	uint32_t	 ids[8];
	int		 types_ok;
	int		 data_ok;
	int		 fd_ok;
	int		 nnull;
	int		 null_errno;
	int		 after_free;	/* calls after the channel was freed */
	int		 free_on_msg;	/* free the channel on the first message */
	int		 fdpipe;	/* read end to check a passed fd against */
};

static int
rcb(struct ipc_chan *c, const struct ipc_msg *m, void *arg)
{
	struct rstate	*st = arg;
	char		 ch = 0;

	if (st->chan == NULL) {
		st->after_free++;
		return -1;
	}
	if (m == NULL) {
		st->null_errno = errno;
		st->nnull++;
		ipc_chan_free(c);
		st->chan = NULL;
		return -1;
	}
	if (st->nmsg < 8)
		st->ids[st->nmsg] = m->hdr.id;
	st->nmsg++;
	if (m->hdr.type == IPC_PIN_GET && m->hdr.len == 4 &&
	    memcmp(m->data, &m->hdr.id, 4) == 0)
		st->data_ok++;
	if (m->hdr.type == IPC_PIN_GET)
		st->types_ok++;
	if (m->fd != -1) {
		if (write(m->fd, "R", 1) == 1 && read(st->fdpipe, &ch, 1) == 1 &&
		    ch == 'R')
			st->fd_ok++;
		close(m->fd);
	}
	if (st->free_on_msg) {
		ipc_chan_free(c);
		st->chan = NULL;
		return -1;
	}
	return 0;
}

/* Run base until the channel is freed or 5 s have passed. */
static void
run_until_freed(struct event_base *base, struct rstate *st)
{
	double	 deadline = now() + 5;

	while (st->chan != NULL && now() < deadline) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

static void
send_id(int sock, uint32_t id, int fd)
{
	if (ipc_send(sock, IPC_PIN_GET, id, &id, 4, fd) == -1) {
		perror("ipc_send");
		exit(99);
	}
}

static void
test_chan_read(void)
{
	struct event_base	*base;
	struct rstate		 st;
	unsigned char		 d[64];
	size_t			 len;
	int			 sv[2], p[2];

	base = event_base_new();
	if (base == NULL)
		exit(99);

	/* Messages, then a malformed one: NULL with EBADMSG. */
	pair(sv);
	mkpipe(p);
	memset(&st, 0, sizeof(st));
	st.fdpipe = p[0];
	st.chan = ipc_chan_new(base, sv[0], 1 << 20, rcb, &st);
	send_id(sv[1], 11, -1);
	send_id(sv[1], 12, p[1]);
	len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, 5, 13, 0, 4);
	raw_send(sv[1], d, len, NULL, 0);
	send_id(sv[1], 14, -1);
	run_until_freed(base, &st);
	ok(st.nmsg == 2 && st.ids[0] == 11 && st.ids[1] == 12,
	    "callback: the two good messages, in order (%d: %u %u)", st.nmsg,
	    st.ids[0], st.ids[1]);
	ok(st.types_ok == 2 && st.data_ok == 2, "callback: types and payloads");
	ok(st.fd_ok == 1, "callback: the passed fd works");
	ok(st.nnull == 1 && st.null_errno == EBADMSG,
	    "callback: NULL with EBADMSG for a malformed datagram (%d calls, "
	    "errno %d)", st.nnull, st.null_errno);
	ok(st.after_free == 0, "callback: nothing after the channel is freed");
	close(sv[1]);
	close(p[0]);
	close(p[1]);

	/* Zero-length datagram. */
	pair(sv);
	memset(&st, 0, sizeof(st));
	st.chan = ipc_chan_new(base, sv[0], 1 << 20, rcb, &st);
	raw_send(sv[1], d, 0, NULL, 0);
	run_until_freed(base, &st);
	ok(st.nmsg == 0 && st.nnull == 1 && st.null_errno == EBADMSG,
	    "callback: NULL with EBADMSG for an empty datagram (errno %d)",
	    st.null_errno);
	close(sv[1]);

	/* EOF: NULL with errno 0. */
	pair(sv);
	memset(&st, 0, sizeof(st));
	st.chan = ipc_chan_new(base, sv[0], 1 << 20, rcb, &st);
	send_id(sv[1], 21, -1);
	close(sv[1]);
	errno = EINVAL;
	run_until_freed(base, &st);
	ok(st.nmsg == 1 && st.ids[0] == 21, "callback: the message before EOF");
	ok(st.nnull == 1 && st.null_errno == 0,
	    "callback: NULL with errno 0 on EOF (%d calls, errno %d)",
	    st.nnull, st.null_errno);

	/* A callback that frees the channel mid-batch stops the batch. */
	pair(sv);
	memset(&st, 0, sizeof(st));
	st.free_on_msg = 1;
	st.chan = ipc_chan_new(base, sv[0], 1 << 20, rcb, &st);
	send_id(sv[1], 31, -1);
	send_id(sv[1], 32, -1);
	send_id(sv[1], 33, -1);
	run_until_freed(base, &st);
	ok(st.nmsg == 1 && st.ids[0] == 31 && st.after_free == 0 &&
	    st.nnull == 0, "callback returning -1 stops the batch (%d calls)",
	    st.nmsg);
	close(sv[1]);

	/*
	 * Read in one batch with a message that is never handed on (the
	 * channel was freed before it, or it follows a malformed one): the
	 * descriptor it carried is closed, not leaked.
	 */
	{
		int	 freeing;

		for (freeing = 1; freeing >= 0; freeing--) {
			char	 ch;

			pair(sv);
			mkpipe(p);
			memset(&st, 0, sizeof(st));
			st.free_on_msg = freeing;
			st.chan = ipc_chan_new(base, sv[0], 1 << 20, rcb, &st);
			send_id(sv[1], 41, -1);
			if (!freeing) {
				len = mkdgram(d, IPC_PIN_GET, IPC_VERSION, 5,
				    42, 0, 4);
				raw_send(sv[1], d, len, NULL, 0);
			}
			send_id(sv[1], 43, p[1]);
			close(p[1]);
			run_until_freed(base, &st);
			nonblock(p[0]);
			ok(st.nmsg == 1 && read(p[0], &ch, 1) == 0,
			    "%s: the fd of the message after it is closed",
			    freeing ? "a callback frees the channel mid-batch" :
			    "a malformed message mid-batch");
			close(sv[1]);
			close(p[0]);
		}
	}

	/* A long burst is read in batches, all of it. */
	pair(sv);
	{
		int	 sz = 1 << 20, i;

		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		memset(&st, 0, sizeof(st));
		st.chan = ipc_chan_new(base, sv[0], 1 << 20, rcb, &st);
		nonblock(sv[1]);
		for (i = 0; i < 200; ) {
			uint32_t id = 100 + i;

			if (ipc_send(sv[1], IPC_PIN_GET, id, &id, 4, -1) == 0)
				i++;
			else
				event_base_loop(base, EVLOOP_ONCE |
				    EVLOOP_NONBLOCK);
		}
		close(sv[1]);
		run_until_freed(base, &st);
		ok(st.nmsg == 200 && st.data_ok == 200 && st.nnull == 1 &&
		    st.null_errno == 0, "a burst of 200 messages, then EOF "
		    "(%d messages)", st.nmsg);
	}
	event_base_free(base);
}

/* ---------------------------------------------------------------- pausing */

#define PAUSE_AT	10	/* replies queued past which reads pause */
#define PAUSE_N		40	/* requests the peer sends */

struct pstate {
	struct ipc_chan	*chan;
	uint32_t	 ids[PAUSE_N];
	int		 n;		/* requests handed on */
	int		 fd_seen;	/* the fd of request 12 arrived */
	int		 inorder;
};

/* A request handed on is answered: on a full socket the answer is queued. */
static int
pcb(struct ipc_chan *c, const struct ipc_msg *m, void *arg)
{
	struct pstate	*st = arg;
	struct qmsg	 q;

	if (m == NULL)
		return 0;
	if (m->fd != -1) {
		st->fd_seen = m->hdr.id;
		close(m->fd);
	}
	if (st->n < PAUSE_N)
		st->ids[st->n] = m->hdr.id;
	st->inorder += m->hdr.id == (uint32_t)st->n + 1;
	st->n++;
	qfill(&q, m->hdr.id);
	(void)ipc_chan_send(c, IPC_PIN_EVENT, m->hdr.id, &q, sizeof(q), -1);
	return 0;
}

static void
loop_a_while(struct event_base *base)
{
	int	 i;

	for (i = 0; i < 20; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

/* Fill sock's send buffer with datagrams the peer will discard. */
static int
fill_socket(int sock)
{
	struct qmsg	 q;
	int		 i;

	qfill(&q, 0);
	for (i = 0; i < 100000; i++)
		if (ipc_send(sock, IPC_SHUTDOWN, 0, &q, sizeof(q), -1) == -1)
			break;
	return i;
}

static void
test_chan_pause(void)
{
	struct event_base	*base;
	struct pstate		 st;
	struct ipc_msg		 m;
	const size_t		 one = HDRSZ + sizeof(struct qmsg);
	int			 sv[2], p[2], sndbuf = 4096, i, r, filled;
	int			 answers = 0, inorder = 1;
	double			 deadline;

	if ((base = event_base_new()) == NULL)
		exit(99);
	pair(sv);
	nonblock(sv[1]);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	memset(&st, 0, sizeof(st));
	st.chan = ipc_chan_new(base, sv[0], 1 << 20, pcb, &st);
	ipc_chan_pause_reads(st.chan, PAUSE_AT * one);
	filled = fill_socket(sv[0]);
	mkpipe(p);
	for (i = 1; i <= PAUSE_N; i++)
		send_id(sv[1], (uint32_t)i, i == PAUSE_AT + 2 ? p[1] : -1);
	close(p[1]);

	/*
	 * Every answer is queued: after the 11th the queue is past the mark,
	 * in the middle of a batch of 4 (9 to 12), and the 12th waits.
	 */
	loop_a_while(base);
	ok(st.n == PAUSE_AT + 1 && st.inorder == st.n,
	    "past %d queued answers, no more requests are handed on, even the "
	    "rest of the batch read (%d handed on)", PAUSE_AT, st.n);
	ok(ipc_chan_queued(st.chan) == (size_t)(PAUSE_AT + 1) * one,
	    "the queue holds their answers (%zu)", ipc_chan_queued(st.chan));
	ok(st.fd_seen == 0 && pipe_probe(p[0]) == -1 && errno == EAGAIN,
	    "the waiting 12th request's fd is held, not handed on or closed");

	/* The peer reads: the queue drains, reading resumes, and so on. */
	deadline = now() + 5;
	while ((answers < PAUSE_N || st.n < PAUSE_N) && now() < deadline) {
		r = ipc_recv(sv[1], &m, rbuf, sizeof(rbuf));
		if (r == 1) {
			if (m.fd != -1)
				close(m.fd);
			if (m.hdr.type == IPC_SHUTDOWN)
				filled--;
			else if (m.hdr.id != (uint32_t)++answers)
				inorder = 0;
			continue;
		}
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	ok(st.n == PAUSE_N && st.inorder == PAUSE_N && st.fd_seen == PAUSE_AT + 2,
	    "as the peer reads its answers, all %d requests are handed on, in "
	    "order, the 12th with its fd (%d, in order %d)", PAUSE_N, st.n,
	    st.inorder);
	ok(answers == PAUSE_N && inorder && filled == 0,
	    "and every answer reaches the peer, in order (%d)", answers);

	/* Freed while paused: the held request's fd is closed. */
	(void)fill_socket(sv[0]);
	mkpipe(p);
	st.n = st.inorder = 0;
	st.fd_seen = 0;
	for (i = 1; i <= PAUSE_N; i++)
		send_id(sv[1], (uint32_t)i, i == PAUSE_AT + 2 ? p[1] : -1);
	close(p[1]);
	loop_a_while(base);
	ok(st.n == PAUSE_AT + 1 && st.fd_seen == 0,
	    "paused again with the 12th request held (%d handed on)", st.n);
	ipc_chan_free(st.chan);
	ok(pipe_probe(p[0]) == 0, "ipc_chan_free closes the held request's fd");
	close(p[0]);
	close(sv[1]);
	event_base_free(base);
}

static void
test_strings(void)
{
	static const struct {
		int		 v;
		const char	*s;
	} codes[] = {
		{ IPC_OK, "ok" },
		{ IPC_E_UNKNOWN_PIN, "unknown_pin" },
		{ IPC_E_NOT_OUTPUT, "not_output" },
		{ IPC_E_BAD_VALUE, "bad_value" },
		{ IPC_E_NOT_SIMULATED, "not_simulated" },
		{ IPC_E_NOT_INPUT, "not_input" },
		{ IPC_E_BUSY, "busy" },
		{ IPC_E_IO, "io" },
		{ IPC_E_STALE, "reloaded" },
		{ IPC_E_MAX, "internal" },
		{ -1, "internal" },
		{ INT_MAX, "internal" },
		{ INT_MIN, "internal" },
	}, sources[] = {
		{ IPC_SRC_CLIENT, "client" },
		{ IPC_SRC_MISSION, "mission" },
		{ IPC_SRC_EDGE, "edge" },
		{ IPC_SRC_INIT, "init" },
		{ IPC_SRC_SAFE, "safe" },
		{ IPC_SRC_MAX, "unknown" },
		{ -1, "unknown" },
		{ INT_MAX, "unknown" },
		{ INT_MIN, "unknown" },
	};
	const char	*s;
	size_t		 i;

	ok(IPC_E_MAX == 9, "every error code is listed below (IPC_E_MAX %d)",
	    IPC_E_MAX);
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		s = ipc_errcode(codes[i].v);
		ok(s != NULL && strcmp(s, codes[i].s) == 0,
		    "ipc_errcode(%d) = \"%s\" (%s)", codes[i].v, codes[i].s,
		    s ? s : "NULL");
	}
	ok(IPC_SRC_MAX == 5, "every source is listed below (IPC_SRC_MAX %d)",
	    IPC_SRC_MAX);
	for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		s = ipc_source_str(sources[i].v);
		ok(s != NULL && strcmp(s, sources[i].s) == 0,
		    "ipc_source_str(%d) = \"%s\" (%s)", sources[i].v,
		    sources[i].s, s ? s : "NULL");
	}
}

int
main(void)
{
	/*
	 * ipc_send must never raise SIGPIPE (Linux raises none for
	 * SOCK_SEQPACKET, and ipc_send passes MSG_NOSIGNAL as well): keep the
	 * default action, so that one would end the run with an error.
	 */
	signal(SIGPIPE, SIG_DFL);

	diag("round trip");
	test_round_trip();
	diag("fd passing");
	test_fd_passing();
	diag("malformed datagrams");
	test_malformed();
	diag("ipc_check_size");
	test_check_size();
	diag("ipc_chan: output queue");
	test_chan_queue();
	diag("ipc_chan: callback");
	test_chan_read();
	diag("ipc_chan: reads paused behind answers");
	test_chan_pause();
	diag("error codes and sources");
	test_strings();
	return tap_done();
}
