/*
 * TLS for the listeners the configuration marks "tls".  wsd cannot open the
 * certificate and key (it is chrooted, they are root's): the helper sends
 * their bytes, a context is built from memory and replaced after a reload,
 * and accepted sockets are wrapped in OpenSSL bufferevents, under which the
 * HTTP and WebSocket code of http.c runs unchanged.
 */
#include "config.h"

#include <sys/socket.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "tlsctx.h"
#include "wsd.h"

static SSL_CTX	*tls_ctx;

void
tls_init(void)
{
	SSL_CTX	*ctx;
	SSL	*ssl;

	/*
	 * No openssl.cnf: the policy is tlsctx.c's, and the file would not be
	 * there after the chroot anyway.
	 */
	if (OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG |
	    OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
	    NULL) != 1)
		fatalx("OPENSSL_init_ssl");
	/*
	 * A first context and connection fetch the algorithms and seed the
	 * random generator now, before the sandbox: the ones built from the
	 * helper's messages later find them loaded.
	 */
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    (ssl = SSL_new(ctx)) == NULL)
		fatalx("OpenSSL: cannot make a context");
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

int
tls_keypair(const struct ipc_msg *msg)
{
	struct ipc_tls		 t;
	enum tlsctx_error	 what;
	SSL_CTX			*ctx;
	const char		*cert;
	char			 err[256];

	if (msg->hdr.len < sizeof(t))
		return -1;
	memcpy(&t, msg->data, sizeof(t));
	if (t.cert_len == 0 || t.cert_len > IPC_TLS_PEM_MAX ||
	    t.key_len == 0 || t.key_len > IPC_TLS_PEM_MAX ||
	    msg->hdr.len != sizeof(t) + t.cert_len + t.key_len)
		return -1;
	cert = (const char *)msg->data + sizeof(t);
	ctx = tlsctx_new(cert, t.cert_len, cert + t.cert_len, t.key_len,
	    &what, err, sizeof(err));
	/* The key now lives in ctx only: not in the channel's buffer. */
	OPENSSL_cleanse((void *)(uintptr_t)msg->data, msg->hdr.len);
	if (ctx == NULL) {
		/* The helper checked these very bytes: this is not news. */
		if (tls_ctx == NULL)
			fatalx("TLS certificate and key: %s", err);
		log_warnx("new TLS certificate not loaded (%s): the old one "
		    "stays", err);
		return 0;
	}
	/* Connections keep a reference to the context they began with. */
	SSL_CTX_free(tls_ctx);
	tls_ctx = ctx;
	log_debug("TLS certificate loaded");
	return 0;
}

int
tls_ready(void)
{
	return tls_ctx != NULL;
}

/*
 * The read timeout of a bufferevent starts again with every byte that
 * arrives, and the bytes of a handshake or of a partial TLS record reach no
 * read callback: a client trickling them would never meet the request
 * head's deadline (slowloris).  This timer holds a TLS connection to
 * c_deadline, handshake included, for as long as it waits for a head.
 */
static void
tls_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	struct timeval	 tv = { WSD_HEAD_TIMEOUT, 0 };
	time_t		 left;

	if (c->c_dead || c->c_state != CONN_HTTP) {
		/* A WebSocket, or closing with timeouts of its own. */
		event_free(c->c_tls_timer);
		c->c_tls_timer = NULL;
		return;
	}
	if (c->c_deadline != 0) {
		if ((left = c->c_deadline - conn_now()) <= 0) {
			log_debug("TLS handshake and request head not complete "
			    "in %d s: dropped", WSD_HEAD_TIMEOUT);
			conn_close(c, 0, NULL);
			return;
		}
		tv.tv_sec = left;
	}
	/* While a response is written (no deadline), look again later. */
	evtimer_add(c->c_tls_timer, &tv);
}

struct bufferevent *
tls_accept(struct conn *c, int fd)
{
	struct bufferevent	*bev;
	struct timeval		 tv = { WSD_HEAD_TIMEOUT, 0 };
	SSL			*ssl;

	if (tls_ctx == NULL || (ssl = SSL_new(tls_ctx)) == NULL)
		return NULL;
	if ((c->c_tls_timer = evtimer_new(wenv->w_base, tls_deadline_cb,
	    c)) == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	if ((bev = bufferevent_openssl_socket_new(wenv->w_base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		SSL_free(ssl);
		event_free(c->c_tls_timer);
		c->c_tls_timer = NULL;
		return NULL;
	}
	/*
	 * Browsers close without a close_notify: that is an end of file like
	 * any other, not an error (nothing is taken from an unfinished
	 * response, whose length is always known).
	 */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	c->c_tls = 1;
	evtimer_add(c->c_tls_timer, &tv);
	return bev;
}

void
tls_close_notify(struct conn *c)
{
	SSL	*ssl;

	if (!c->c_tls || (ssl = bufferevent_openssl_get_ssl(c->c_bev)) == NULL)
		return;
	/* Best effort: one alert on a socket about to close. */
	if (SSL_is_init_finished(ssl))
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
}

/*
 * Plain HTTP on a TLS port (http:// where https:// was meant): OpenSSL
 * knows a request line where a record should be and fails the handshake
 * without an alert.  The browser is answered in plain text, as a person
 * would want to be told; the connection then lingers (conn_linger), so
 * that what the request still sends does not reset it and lose the answer.
 */
static void
tls_plain_answer(struct conn *c)
{
	static const char	 body[] = "400 Bad Request: this port speaks "
	    "HTTPS, use an https:// URL\n";
	char			 buf[512];
	evutil_socket_t		 fd = bufferevent_getfd(c->c_bev);
	int			 n;

	n = snprintf(buf, sizeof(buf), "HTTP/1.1 400 Bad Request\r\n"
	    "Server: gpiows\r\nDate: %s\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    http_date(), sizeof(body) - 1, body);
	(void)send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Returns 1 if it answered plain HTTP, for the connection to linger. */
int
tls_failed(struct conn *c)
{
	unsigned long	 e;
	const char	*reason;
	int		 plain = 0;

	/*
	 * libevent keeps OpenSSL's error codes, then SSL_get_error's: that
	 * one says only "see above", except for a connection cut short.
	 */
	while ((e = bufferevent_get_openssl_error(c->c_bev)) != 0) {
		if (e == SSL_ERROR_SYSCALL)
			reason = "closed or reset by the client";
		else if (e <= SSL_ERROR_WANT_CLIENT_HELLO_CB)
			continue;
		else if ((reason = ERR_reason_error_string(e)) == NULL)
			reason = "unknown error";
		if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
		    ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST)
			plain = 1;
		log_debug("TLS connection failed: %s", reason);
	}
	if (plain && bufferevent_getfd(c->c_bev) != -1) {
		tls_plain_answer(c);
		return 1;
	}
	return 0;
}

void
tls_conn_free(struct conn *c)
{
	if (c->c_tls_timer != NULL) {
		event_free(c->c_tls_timer);
		c->c_tls_timer = NULL;
	}
}

void
tls_shutdown(void)
{
	SSL_CTX_free(tls_ctx);
	tls_ctx = NULL;
}
