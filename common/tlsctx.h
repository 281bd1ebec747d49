/*
 * The TLS policy of gpiows in one place.  gpiod-helper builds a context
 * from the configured files to check them (the errors of gpiod-helper -n),
 * and wsd builds the one it serves with from the same bytes, so that what
 * the check passes is what wsd loads.
 */
#ifndef GPIOWS_TLSCTX_H
#define GPIOWS_TLSCTX_H

#include <stddef.h>

#include <openssl/ssl.h>

/* What tlsctx_new found wrong. */
enum tlsctx_error {
	TLSCTX_OK = 0,
	TLSCTX_E_CERT,		/* the certificate chain */
	TLSCTX_E_KEY,		/* the private key */
	TLSCTX_E_MATCH,		/* the key is not the certificate's */
	TLSCTX_E_INTERNAL	/* OpenSSL itself (out of memory) */
};

/*
 * tlsctx_new: a server context for TLS 1.2 and newer (no compression, no
 * renegotiation, no server-side session cache, buffers released while a
 * connection is idle) with cert (PEM: the certificate, then its chain) and
 * key (PEM, not encrypted).  The buffers are only read: the caller wipes
 * them.  On failure NULL, *what says which part was wrong and err the
 * reason, as OpenSSL gives it ("no start line", "key values mismatch").
 */
SSL_CTX	*tlsctx_new(const char *cert, size_t certlen, const char *key,
	    size_t keylen, enum tlsctx_error *what, char *err, size_t errlen);

#endif
