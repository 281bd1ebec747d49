/*
 * wsbench: the load generator of bench/ws-peers.py (make bench-ws).  One
 * scenario per run against one WebSocket server, gpiows's wsd or a peer
 * written the way its library's documentation shows; figures are printed as
 * "key value" lines for the driver to tabulate.
 *
 *	wsbench -s rtt|fanout|idle|setup -k gpiows|peer [-p port]
 *	    [-n count] [-l listeners] [-w window] [-P pid,...] [-R pid]
 *	    [-o file]
 *
 * -k says how to speak to the server: gpiows gets
 * {"op":"toggle","pin":"led","id":N} and waits for its reply; a peer gets
 * {"action":"toggle"} and waits for the {"type":"value"} every client is
 * sent.  -P lists the server's processes whose CPU time (utime + stime from
 * /proc/PID/stat) is the server's; -R the one whose memory is measured.
 *
 * rtt	  one client, toggles one at a time: p50/p99/p99.9 of the round trip
 *	  over -n toggles after a warm-up, with blocking sockets so that the
 *	  client adds as little as it can; -o writes every round trip to
 *	  file, one per line in the order they were made: when it began
 *	  (CLOCK_MONOTONIC, as perf record -k CLOCK_MONOTONIC stamps its
 *	  events) and how long it took, in nanoseconds; rtt_cpu_s is the
 *	  server's CPU time over them.
 * fanout -l listeners and one toggler: for each toggle, paced so that none
 *	  overlap, the time until the last listener has the event: in its
 *	  socket (the kernel's receive timestamp, SO_TIMESTAMPNS) and read
 *	  by us (which adds our own time to read 1,000 sockets); then
 *	  toggling flat out (-w toggles in flight) for a few seconds:
 *	  deliveries per second and server CPU per delivery.
 * idle	  -n connections that stay idle: the server's RSS (VmRSS of -R) per
 *	  connection.
 * setup  -l connections idle, then -n new ones opened (handshake and the
 *	  first message) as fast as the server takes them, 32 in flight.
 */
#include "config.h"

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

enum role { R_LISTENER, R_TOGGLER, R_IDLE, R_SETUP };

struct wc {
	struct bufferevent	*bev;
	enum role		 role;
	int			 open;		/* handshake done */
	int			 greeted;	/* first message in */
};

static struct event_base	*base;
static struct sockaddr_in	 sin_srv;
static const char		*kind = "gpiows";
static int			 gpiows;
static int			 port = 8080;
static const char		*cpu_pids, *rss_pid;
static const char		*trips_file;	/* -o */

/* what a reply to our toggle and what a state event look like */
static const char		*reply_match, *event_match;

static uint64_t
clock_ns(clockid_t id)
{
	struct timespec	 ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

#define now_ns()	clock_ns(CLOCK_MONOTONIC)
#define realtime_ns()	clock_ns(CLOCK_REALTIME)	/* as SO_TIMESTAMPNS */

static void
die(const char *msg)
{
	fprintf(stderr, "wsbench: %s: %s\n", msg, strerror(errno));
	exit(1);
}

static void
diex(const char *msg)
{
	fprintf(stderr, "wsbench: %s\n", msg);
	exit(1);
}

/* ---------------------------------------------------------------- /proc */

/* utime + stime of every process in cpu_pids, in clock ticks. */
static unsigned long long
server_cpu_ticks(void)
{
	char			 path[64], buf[1024], *p, *list, *tok, *save;
	unsigned long long	 ut, st, total = 0;
	FILE			*f;
	int			 i;

	if (cpu_pids == NULL)
		return 0;
	if ((list = strdup(cpu_pids)) == NULL)
		die("strdup");
	for (tok = strtok_r(list, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		snprintf(path, sizeof(path), "/proc/%s/stat", tok);
		if ((f = fopen(path, "r")) == NULL)
			die(path);
		if (fgets(buf, sizeof(buf), f) == NULL)
			die(path);
		fclose(f);
		/* The command may hold spaces: fields count from its ")". */
		if ((p = strrchr(buf, ')')) == NULL)
			diex("odd /proc stat");
		p += 2;
		for (i = 3; i < 14; i++)
			p = strchr(p, ' ') + 1;
		if (sscanf(p, "%llu %llu", &ut, &st) != 2)
			diex("odd /proc stat");
		total += ut + st;
	}
	free(list);
	return total;
}

static long
server_rss_kib(void)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 kib = -1;

	if (rss_pid == NULL)
		return -1;
	snprintf(path, sizeof(path), "/proc/%s/status", rss_pid);
	if ((f = fopen(path, "r")) == NULL)
		die(path);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* ---------------------------------------------------------------- frames */

static const char handshake[] =
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

/* A masked client frame of len (< 126) bytes into out; returns its size. */
static size_t
frame_client(unsigned char *out, int opcode, const char *data, size_t len)
{
	static const unsigned char mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	size_t	 i;

	out[0] = 0x80 | opcode;
	out[1] = 0x80 | (unsigned char)len;
	memcpy(out + 2, mask, 4);
	for (i = 0; i < len; i++)
		out[6 + i] = data[i] ^ mask[i % 4];
	return 6 + len;
}

static unsigned int	toggle_id;

static size_t
frame_toggle(unsigned char *out)
{
	char	 s[100];
	int	 n;

	if (gpiows)
		n = snprintf(s, sizeof(s),
		    "{\"op\":\"toggle\",\"pin\":\"led\",\"id\":%u}", ++toggle_id);
	else
		n = snprintf(s, sizeof(s), "{\"action\":\"toggle\"}");
	return frame_client(out, 0x1, s, (size_t)n);
}

/*
 * One server frame from buf (len bytes): its payload and opcode, and the
 * bytes it took, or 0 while incomplete.
 */
static size_t
frame_server(const unsigned char *buf, size_t len, int *opcode,
    const unsigned char **payload, size_t *plen)
{
	size_t	 hl = 2;
	uint64_t n;
	int	 i;

	if (len < 2)
		return 0;
	n = buf[1] & 0x7f;
	if (n == 126) {
		if (len < 4)
			return 0;
		n = (uint64_t)buf[2] << 8 | buf[3];
		hl = 4;
	} else if (n == 127) {
		if (len < 10)
			return 0;
		for (n = 0, i = 0; i < 8; i++)
			n = n << 8 | buf[2 + i];
		hl = 10;
	}
	if (buf[1] & 0x80)
		diex("server sent a masked frame");
	if (len < hl + n)
		return 0;
	*opcode = buf[0] & 0x0f;
	*payload = buf + hl;
	*plen = (size_t)n;
	return hl + (size_t)n;
}

static int
has(const unsigned char *p, size_t len, const char *what)
{
	return memmem(p, len, what, strlen(what)) != NULL;
}

/* ---------------------------------------------------------------- rtt */

/* A blocking client: connect, upgrade, the first message. */
static int
sync_connect(unsigned char *buf, size_t bufsize, size_t *have)
{
	char	 req[512];
	char	*end;
	int	 fd, on = 1, n;
	size_t	 got = 0;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sin_srv, sizeof(sin_srv)) == -1)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	n = snprintf(req, sizeof(req), handshake, port);
	if (write(fd, req, n) != n)
		die("write");
	for (;;) {
		if ((n = read(fd, buf + got, bufsize - 1 - got)) <= 0)
			die("handshake");
		got += n;
		buf[got] = '\0';
		if ((end = strstr((char *)buf, "\r\n\r\n")) != NULL)
			break;
	}
	if (strncmp((char *)buf, "HTTP/1.1 101", 12) != 0)
		diex("no 101 from the server");
	end += 4;
	got -= end - (char *)buf;
	memmove(buf, end, got);
	*have = got;
	return fd;
}

/* Read until a frame whose payload has `want`; keep what follows. */
static void
sync_wait(int fd, unsigned char *buf, size_t bufsize, size_t *have,
    const char *want)
{
	const unsigned char	*pl;
	size_t			 used, plen;
	ssize_t			 n;
	int			 op, found;

	for (;;) {
		found = 0;
		while ((used = frame_server(buf, *have, &op, &pl,
		    &plen)) > 0) {
			if (op == 0x1 && has(pl, plen, want))
				found = 1;
			else if (op == 0x9 && plen <= 125) {
				unsigned char	 fr[140];
				size_t		 fl = frame_client(fr, 0xa,
				    (const char *)pl, plen);

				if (write(fd, fr, fl) != (ssize_t)fl)
					die("write pong");
			} else if (op == 0x8)
				diex("server closed the connection");
			memmove(buf, buf + used, *have - used);
			*have -= used;
			if (found)
				return;
		}
		if (*have == bufsize)
			diex("frame too large");
		if ((n = read(fd, buf + *have, bufsize - *have)) <= 0)
			die("read");
		*have += n;
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct_us(uint64_t *v, size_t n, double p)
{
	size_t	 i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return v[i < n ? i : n - 1] / 1000.0;
}

static void
scenario_rtt(int count)
{
	unsigned char	 buf[65536], fr[128];
	uint64_t	*t, *start, t0;
	size_t		 have, fl;
	int		 fd, i, warm = count / 10 + 100;
	unsigned long long c0 = 0, c1;

	if ((t = calloc(count, sizeof(*t))) == NULL ||
	    (start = calloc(count, sizeof(*start))) == NULL)
		die("calloc");
	fd = sync_connect(buf, sizeof(buf), &have);
	/*
	 * What a new client is sent first: gpiows's hello (then a users
	 * count, which matches nothing below); a peer's users count, then
	 * the value, which would otherwise be taken for the first toggle's
	 * answer and leave every toggle after it timed against the one
	 * before.
	 */
	sync_wait(fd, buf, sizeof(buf), &have, gpiows ? "\"hello\"" :
	    reply_match);
	for (i = -warm; i < count; i++) {
		if (i == 0)
			c0 = server_cpu_ticks();
		fl = frame_toggle(fr);
		t0 = now_ns();
		if (write(fd, fr, fl) != (ssize_t)fl)
			die("write");
		sync_wait(fd, buf, sizeof(buf), &have, reply_match);
		if (i >= 0) {
			t[i] = now_ns() - t0;
			start[i] = t0;
		}
	}
	c1 = server_cpu_ticks();
	if (trips_file != NULL) {
		FILE	*f;

		if ((f = fopen(trips_file, "w")) == NULL)
			die(trips_file);
		for (i = 0; i < count; i++)
			fprintf(f, "%" PRIu64 " %" PRIu64 "\n", start[i],
			    t[i]);
		if (fclose(f) != 0)
			die(trips_file);
	}
	qsort(t, count, sizeof(*t), cmp_u64);
	printf("rtt_n %d\nrtt_p50_us %.1f\nrtt_p99_us %.1f\nrtt_p999_us %.1f\n",
	    count, pct_us(t, count, 50), pct_us(t, count, 99),
	    pct_us(t, count, 99.9));
	if (cpu_pids != NULL) {
		printf("rtt_cpu_us_per_toggle %.1f\n", (double)(c1 - c0) * 1e6 /
		    sysconf(_SC_CLK_TCK) / count);
		printf("rtt_cpu_s %.2f\n", (double)(c1 - c0) /
		    sysconf(_SC_CLK_TCK));
	}
	free(t);
	free(start);
	close(fd);
}

/* ---------------------------------------------------------------- async */

static int		 nconns, nopen, ngreeted, nfailed;
static int		 inflight, max_inflight = 200, to_open;
static struct wc	*conns;
static int		 nconns_max;
static void		(*on_all_greeted)(void);
static int		 greet_target;

/* fanout state */
static struct wc	*toggler;
static int		 nlisteners;
static uint64_t		*lat, *lat_read;	/* socket's time, ours */
static int		 nlat, paced_n = 500;
static int		 window = 4;

static void
once_in(event_callback_fn cb, long us)
{
	struct timeval	 tv = { us / 1000000, us % 1000000 };

	event_base_once(base, -1, EV_TIMEOUT, cb, NULL, &tv);
}

static void	wc_read_cb(struct bufferevent *, void *);
static void	wc_event_cb(struct bufferevent *, short, void *);

static void
wc_open_more(void)
{
	struct wc	*c;

	while (to_open > 0 && inflight < max_inflight) {
		if (nconns == nconns_max)
			diex("too many connections");
		c = &conns[nconns++];
		memset(c, 0, sizeof(*c));
		c->role = R_IDLE;
		c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL)
			die("bufferevent_socket_new");
		bufferevent_setcb(c->bev, wc_read_cb, NULL, wc_event_cb, c);
		bufferevent_enable(c->bev, EV_READ);
		if (bufferevent_socket_connect(c->bev,
		    (struct sockaddr *)&sin_srv, sizeof(sin_srv)) == -1)
			die("connect");
		to_open--;
		inflight++;
	}
}

static void
wc_greeted(struct wc *c)
{
	c->greeted = 1;
	inflight--;
	ngreeted++;
	if (ngreeted == greet_target && on_all_greeted != NULL)
		on_all_greeted();
	else
		wc_open_more();
}

static void
wc_message(struct wc *c, int op, const unsigned char *p, size_t len)
{
	unsigned char	 fr[140];

	if (op == 0x9) {	/* ping: pong, or a peer drops us */
		if (len <= 125) {
			size_t fl = frame_client(fr, 0xa, (const char *)p, len);

			bufferevent_write(c->bev, fr, fl);
		}
		return;
	}
	if (op == 0x8) {
		fprintf(stderr, "wsbench: server closed a connection\n");
		nfailed++;
		return;
	}
	if (!c->greeted)
		wc_greeted(c);
}

static void
wc_read_cb(struct bufferevent *bev, void *arg)
{
	struct wc		*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 pos;
	const unsigned char	*buf, *pl;
	size_t			 len, used, plen;
	int			 op;

	if (!c->open) {
		pos = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (pos.pos == -1)
			return;
		if (evbuffer_get_length(in) < 12 ||
		    memcmp(evbuffer_pullup(in, 12), "HTTP/1.1 101", 12) != 0)
			diex("no 101 from the server");
		evbuffer_drain(in, pos.pos + 4);
		c->open = 1;
		nopen++;
	}
	while ((len = evbuffer_get_length(in)) > 0) {
		buf = evbuffer_pullup(in, -1);
		if ((used = frame_server(buf, len, &op, &pl, &plen)) == 0)
			break;
		wc_message(c, op, pl, plen);
		evbuffer_drain(in, used);
	}
}

static void
wc_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct wc	*c = arg;
	char		 req[512];
	int		 n, on = 1;

	if (what & BEV_EVENT_CONNECTED) {
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &on, sizeof(on));
		n = snprintf(req, sizeof(req), handshake, port);
		bufferevent_write(bev, req, n);
		return;
	}
	fprintf(stderr, "wsbench: connection %d lost (%s)\n",
	    (int)(c - conns), (what & BEV_EVENT_EOF) ? "EOF" :
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	nfailed++;
	if (!c->greeted) {
		inflight--;
		c->greeted = 1;
	}
	bufferevent_free(bev);
	c->bev = NULL;
	if (nfailed > 10)
		diex("too many connections failed");
}

static void
open_conns(int n, int in_flight, void (*done)(void))
{
	to_open = n;
	max_inflight = in_flight;
	greet_target = ngreeted + n;
	on_all_greeted = done;
	wc_open_more();
}

/* ---------------------------------------------------------------- fanout */

/*
 * The measured phases run on a plain epoll loop with read(2) into one
 * buffer: per listener and event, one read and a scan, so that the load
 * generator adds as little as it can to the time until the last listener
 * has the event (a bufferevent costs an ioctl, a readv and copies more).
 */
struct raw {
	int		 fd;
	unsigned char	 carry[512];	/* a frame split between reads */
	size_t		 ncarry;
};

static struct raw	*raws;
static int		 epfd;

static void
raw_setup(void)
{
	struct epoll_event	 ev;
	struct evbuffer		*in;
	int			 i, on = 1;

	if ((raws = calloc(nconns, sizeof(*raws))) == NULL)
		die("calloc");
	if ((epfd = epoll_create1(0)) == -1)
		die("epoll_create1");
	for (i = 0; i < nconns; i++) {
		if (conns[i].bev == NULL)
			diex("a connection was lost before the measurement");
		bufferevent_disable(conns[i].bev, EV_READ | EV_WRITE);
		in = bufferevent_get_input(conns[i].bev);
		if (evbuffer_get_length(in) > sizeof(raws[i].carry))
			diex("unread input before the measurement");
		raws[i].ncarry = evbuffer_remove(in, raws[i].carry,
		    sizeof(raws[i].carry));
		raws[i].fd = bufferevent_getfd(conns[i].bev);
		/* When the event reached the socket, however late we read it. */
		if (setsockopt(raws[i].fd, SOL_SOCKET, SO_TIMESTAMPNS, &on,
		    sizeof(on)) == -1)
			die("SO_TIMESTAMPNS");
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, raws[i].fd, &ev) == -1)
			die("epoll_ctl");
	}
}

static int	raw_events, raw_replies;
static uint64_t	raw_rx_last;	/* a listener's last receive, CLOCK_REALTIME */

/* What came in on connection i: events counted, replies counted. */
static void
raw_read(int i)
{
	static unsigned char	 buf[65536 + 512];
	struct raw		*r = &raws[i];
	const unsigned char	*pl;
	size_t			 have, off = 0, used, plen;
	ssize_t			 n;
	int			 op;

	struct msghdr		 mh;
	struct iovec		 iov;
	struct cmsghdr		*cm;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(struct timespec))];
	} cbuf;
	struct timespec		 ts;
	uint64_t		 rx = 0;

	memcpy(buf, r->carry, r->ncarry);
	iov.iov_base = buf + r->ncarry;
	iov.iov_len = 65536;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = sizeof(cbuf.buf);
	if ((n = recvmsg(r->fd, &mh, 0)) <= 0) {
		if (n == -1 && errno == EAGAIN)
			return;
		diex("server closed a connection during the measurement");
	}
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_TIMESTAMPNS) {
			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			rx = (uint64_t)ts.tv_sec * 1000000000 +
			    (uint64_t)ts.tv_nsec;
		}
	/* The toggler's own reply is not a listener's event. */
	if (i != nlisteners && rx > raw_rx_last)
		raw_rx_last = rx;
	have = r->ncarry + (size_t)n;
	while ((used = frame_server(buf + off, have - off, &op, &pl,
	    &plen)) > 0) {
		if (op == 0x9 && plen <= 125) {
			unsigned char	 fr[140];
			size_t		 fl = frame_client(fr, 0xa,
			    (const char *)pl, plen);

			if (write(r->fd, fr, fl) != (ssize_t)fl)
				die("write pong");
		} else if (op == 0x1) {
			if (i == nlisteners) {
				if (has(pl, plen, reply_match))
					raw_replies++;
			} else if (has(pl, plen, event_match))
				raw_events++;
		} else if (op == 0x8)
			diex("server closed a connection");
		off += used;
	}
	if (have - off > sizeof(r->carry))
		diex("frame too large");
	memcpy(r->carry, buf + off, have - off);
	r->ncarry = have - off;
}

/*
 * Wait up to ms for input, then read what came.  The measurement polls
 * with 0, spinning on its own CPU: a load generator asleep in epoll_wait
 * must be woken by the server's every write, which in this VM (no halt
 * polling) costs the server an IPI and an exit each time, and would be
 * charged to whichever server is measured.
 */
static void
raw_poll(int ms)
{
	static struct epoll_event	 evs[1024];
	int				 n, i;

	if ((n = epoll_wait(epfd, evs, 1024, ms)) == -1) {
		if (errno == EINTR)
			return;
		die("epoll_wait");
	}
	for (i = 0; i < n; i++)
		raw_read((int)evs[i].data.u32);
}

static void
send_toggle_fd(int fd)
{
	unsigned char	 fr[128];
	size_t		 fl = frame_toggle(fr);

	if (write(fd, fr, fl) != (ssize_t)fl)
		die("write toggle");
}

static void
fanout_measure(void)
{
	uint64_t		 t0, t_last = 0, end, start, last, rt0, rx_last = 0;
	unsigned long long	 c0, c1, expect;
	int			 i, tfd, sent, replies;
	double			 secs, cpu_s, paced_cpu_s;

	raw_setup();
	tfd = raws[nlisteners].fd;
	/* A few toggles to warm the path, not measured. */
	for (i = 0; i < 10; i++) {
		raw_events = raw_replies = 0;
		send_toggle_fd(tfd);
		while (raw_events < nlisteners || raw_replies < 1)
			raw_poll(0);
	}

	/* Paced: one toggle at a time, 2 ms of quiet between them. */
	c0 = server_cpu_ticks();
	for (i = 0; i < paced_n; i++) {
		raw_events = raw_replies = 0;
		raw_rx_last = 0;
		rt0 = realtime_ns();
		t0 = now_ns();
		send_toggle_fd(tfd);
		while (raw_events < nlisteners || raw_replies < 1) {
			raw_poll(0);
			if (raw_events == nlisteners && t_last < t0) {
				t_last = now_ns();
				/* The toggler's reply may come later. */
				rx_last = raw_rx_last;
			}
		}
		lat[nlat] = rx_last > rt0 ? rx_last - rt0 : 0;
		lat_read[nlat++] = t_last - t0;
		end = now_ns() + 2000000;
		while (now_ns() < end)
			raw_poll(0);
	}

	c1 = server_cpu_ticks();
	paced_cpu_s = (double)(c1 - c0) / sysconf(_SC_CLK_TCK);

	/* Flat out: `window` toggles in flight for 3 s, then the rest. */
	raw_events = raw_replies = 0;
	c0 = server_cpu_ticks();
	start = now_ns();
	end = start + 3000000000ULL;
	for (sent = 0; sent < window; sent++)
		send_toggle_fd(tfd);
	replies = 0;
	while (now_ns() < end) {
		raw_poll(0);
		for (; replies < raw_replies; replies++)
			if (now_ns() < end) {
				send_toggle_fd(tfd);
				sent++;
			}
	}
	expect = (unsigned long long)sent * nlisteners;
	last = now_ns();
	while ((unsigned long long)raw_events < expect &&
	    now_ns() - last < 2000000000ULL) {
		i = raw_events;
		raw_poll(0);
		if (raw_events != i)
			last = now_ns();
	}
	last = now_ns();
	c1 = server_cpu_ticks();

	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	qsort(lat_read, nlat, sizeof(*lat_read), cmp_u64);
	printf("fanout_listeners %d\nfanout_toggles %d\n", nlisteners, nlat);
	printf("fanout_p50_us %.1f\nfanout_p99_us %.1f\n",
	    pct_us(lat, nlat, 50), pct_us(lat, nlat, 99));
	printf("fanout_read_p50_us %.1f\nfanout_read_p99_us %.1f\n",
	    pct_us(lat_read, nlat, 50), pct_us(lat_read, nlat, 99));
	if (cpu_pids != NULL)
		printf("paced_cpu_us_per_delivery %.3f\n", paced_cpu_s * 1e6 /
		    ((double)paced_n * nlisteners));
	secs = (last - start) / 1e9;
	printf("flat_window %d\nflat_toggles %d\nflat_deliveries %d\n",
	    window, sent, raw_events);
	printf("flat_seconds %.3f\nflat_deliveries_per_s %.0f\n", secs,
	    raw_events / secs);
	if (cpu_pids != NULL) {
		cpu_s = (double)(c1 - c0) / sysconf(_SC_CLK_TCK);
		printf("flat_server_cpu_s %.3f\nflat_cpu_us_per_delivery %.3f\n",
		    cpu_s, cpu_s * 1e6 / raw_events);
	}
	if ((unsigned long long)raw_events != expect)
		printf("flat_missing %llu\n", expect - raw_events);
}

static void
fanout_settled_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(base);
}

static void
fanout_toggler_in(void)
{
	/*
	 * Every listener has its first message; wait for what joining
	 * set off (users counts, gpiows's 250 ms hold of new clients'
	 * events) to pass.
	 */
	once_in(fanout_settled_cb, 1000000);
}

static void
fanout_listeners_in(void)
{
	int	 i;

	for (i = 0; i < nconns; i++)
		conns[i].role = R_LISTENER;
	toggler = &conns[nconns];
	open_conns(1, 1, fanout_toggler_in);
	toggler->role = R_TOGGLER;
}

static void
scenario_fanout(int listeners)
{
	nlisteners = listeners;
	if ((lat = calloc(paced_n, sizeof(*lat))) == NULL ||
	    (lat_read = calloc(paced_n, sizeof(*lat_read))) == NULL)
		die("calloc");
	open_conns(listeners, 200, fanout_listeners_in);
	event_base_dispatch(base);
	if (nfailed > 0) {
		printf("failed_connections %d\n", nfailed);
		return;
	}
	fanout_measure();
}

/* ---------------------------------------------------------------- idle */

static long	 rss0;
static int	 idle_n;
static uint64_t	 setup_t0;
static int	 setup_n, setup_base;

static void
idle_settled_cb(evutil_socket_t fd, short what, void *arg)
{
	long	 rss1 = server_rss_kib();

	printf("idle_connections %d\nidle_rss0_kib %ld\nidle_rss1_kib %ld\n",
	    idle_n, rss0, rss1);
	printf("idle_bytes_per_conn %.0f\n",
	    (double)(rss1 - rss0) * 1024 / idle_n);
	event_base_loopbreak(base);
}

static void
idle_all_in(void)
{
	/* Let what joining set off (users counts, holds) pass first. */
	once_in(idle_settled_cb, 2000000);
}

static void
scenario_idle(int n)
{
	idle_n = n;
	rss0 = server_rss_kib();
	open_conns(n, 200, idle_all_in);
	event_base_dispatch(base);
	if (nfailed > 0)
		printf("failed_connections %d\n", nfailed);
}

/* ---------------------------------------------------------------- setup */

static void setup_go(evutil_socket_t, short, void *);

static void
setup_done(void)
{
	double	 secs = (now_ns() - setup_t0) / 1e9;

	printf("setup_connected_before %d\nsetup_new %d\nsetup_seconds %.3f\n"
	    "setup_per_s %.0f\n", setup_base, setup_n, secs, setup_n / secs);
	event_base_loopbreak(base);
}

static void
setup_cap_cb(evutil_socket_t fd, short what, void *arg)
{
	/* A slow server: the rate of what it managed in the time given. */
	setup_n = ngreeted - setup_base;
	setup_done();
}

static void
setup_go(evutil_socket_t fd, short what, void *arg)
{
	setup_t0 = now_ns();
	once_in(setup_cap_cb, 20000000);
	open_conns(setup_n, 32, setup_done);
}

static void
setup_base_in(void)
{
	once_in(setup_go, 1000000);
}

static void
scenario_setup(int base_n, int n)
{
	setup_base = base_n;
	setup_n = n;
	open_conns(base_n, 200, setup_base_in);
	event_base_dispatch(base);
	if (nfailed > 0)
		printf("failed_connections %d\n", nfailed);
}

int
main(int argc, char *argv[])
{
	struct rlimit	 rl;
	const char	*scenario = "rtt";
	int		 ch, n = -1, listeners = -1;

	while ((ch = getopt(argc, argv, "k:l:n:o:p:P:R:s:w:")) != -1) {
		switch (ch) {
		case 'k':
			kind = optarg;
			break;
		case 'l':
			listeners = atoi(optarg);
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'o':
			trips_file = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'P':
			cpu_pids = optarg;
			break;
		case 'R':
			rss_pid = optarg;
			break;
		case 's':
			scenario = optarg;
			break;
		case 'w':
			window = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: wsbench -s rtt|fanout|idle|setup "
			    "-k gpiows|peer [-p port] [-n count] [-l listeners] "
			    "[-w window] [-P pid,...] [-R pid] [-o file]\n");
			return 1;
		}
	}
	gpiows = strcmp(kind, "gpiows") == 0;
	/* Python's json.dumps puts a space after ':', Node's does not. */
	reply_match = gpiows ? "\"type\":\"reply\"" : "\"value\"";
	event_match = gpiows ? "\"type\":\"pin\"" : "\"value\"";
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(&sin_srv, 0, sizeof(sin_srv));
	sin_srv.sin_family = AF_INET;
	sin_srv.sin_port = htons(port);
	sin_srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (strcmp(scenario, "rtt") == 0) {
		scenario_rtt(n > 0 ? n : 20000);
		return 0;
	}
	base = event_base_new();
	nconns_max = 20000;
	if ((conns = calloc(nconns_max, sizeof(*conns))) == NULL)
		die("calloc");
	if (strcmp(scenario, "fanout") == 0)
		scenario_fanout(listeners > 0 ? listeners : 1000);
	else if (strcmp(scenario, "idle") == 0)
		scenario_idle(n > 0 ? n : 10000);
	else if (strcmp(scenario, "setup") == 0)
		scenario_setup(listeners >= 0 ? listeners : 1000,
		    n > 0 ? n : 2000);
	else
		diex("unknown scenario");
	return nfailed > 0;
}
