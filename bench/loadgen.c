/*
 * loadgen: N WebSocket clients for the benchmarks.  Each connects to
 * HOST:PORT, upgrades on /ws and then reads and discards whatever wsd sends
 * (server frames are not masked: nothing to do with them), so that wsd has N
 * real listeners to deliver every event to.  Prints "connected N" once all
 * are in, then keeps them until SIGTERM or stdin closes; every 5 s it prints
 * the bytes received so far.
 *
 *	loadgen [-n clients] [-h host] [-p port]
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

struct client {
	struct bufferevent	*bev;
	int			 upgraded;
};

static struct event_base	*base;
static int			 nclients = 1000, nup, nfail;
static unsigned long long	 received;
static const char		*host = "127.0.0.1";
static int			 port = 8080;

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct client		*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 p;

	if (!c->upgraded) {
		p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (p.pos == -1)
			return;
		if (evbuffer_get_length(in) < 12 ||
		    memcmp(evbuffer_pullup(in, 12), "HTTP/1.1 101", 12) != 0) {
			nfail++;
			bufferevent_free(bev);
			return;
		}
		evbuffer_drain(in, p.pos + 4);
		c->upgraded = 1;
		if (++nup == nclients) {
			printf("connected %d\n", nup);
			fflush(stdout);
		}
	}
	received += evbuffer_get_length(in);
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client	*c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		evbuffer_add_printf(bufferevent_get_output(bev),
		    "GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\n"
		    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		    "Sec-WebSocket-Version: 13\r\n\r\n", host, port);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (!c->upgraded)
			nfail++;
		bufferevent_free(bev);
	}
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	char	 buf[64];

	if (fd == STDIN_FILENO && read(fd, buf, sizeof(buf)) > 0)
		return;
	event_base_loopbreak(base);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	fprintf(stderr, "loadgen: %d up, %d failed, %llu bytes received\n",
	    nup, nfail, received);
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in	 sin;
	struct rlimit		 rl;
	struct timeval		 tv = { 5, 0 };
	struct event		*ev_term, *ev_in, *ev_tick;
	struct client		*cs;
	int			 ch, i;

	while ((ch = getopt(argc, argv, "h:n:p:")) != -1) {
		switch (ch) {
		case 'h':
			host = optarg;
			break;
		case 'n':
			nclients = atoi(optarg);
			break;
		case 'p':
			port = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: loadgen [-n clients] [-h host] "
			    "[-p port]\n");
			return 1;
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fprintf(stderr, "loadgen: %s: not an IPv4 address\n", host);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	if ((cs = calloc(nclients, sizeof(*cs))) == NULL)
		return 1;
	for (i = 0; i < nclients; i++) {
		cs[i].bev = bufferevent_socket_new(base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
		bufferevent_setcb(cs[i].bev, read_cb, NULL, event_cb, &cs[i]);
		bufferevent_enable(cs[i].bev, EV_READ);
		if (bufferevent_socket_connect(cs[i].bev,
		    (struct sockaddr *)&sin, sizeof(sin)) == -1)
			nfail++;
	}
	ev_term = evsignal_new(base, SIGTERM, stop_cb, NULL);
	ev_in = event_new(base, STDIN_FILENO, EV_READ | EV_PERSIST, stop_cb,
	    NULL);
	ev_tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	evsignal_add(ev_term, NULL);
	event_add(ev_in, NULL);
	event_add(ev_tick, &tv);
	event_base_dispatch(base);
	fprintf(stderr, "loadgen: %d up, %d failed, %llu bytes received\n",
	    nup, nfail, received);
	return nfail > 0;
}
