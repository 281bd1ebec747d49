/*
 * One server SSL_CTX from PEM in memory: neither program that builds one
 * opens the files here (the helper has read them, wsd cannot).
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tlsctx.h"

/*
 * Forward secrecy and AEAD only for TLS 1.2; TLS 1.3 has nothing else.
 * Every browser of the last ten years offers one of these.
 */
#define TLSCTX_CIPHERS	"ECDHE+AESGCM:ECDHE+CHACHA20"

/* A passphrase would be asked on a terminal that a daemon does not have. */
static int
tlsctx_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	return -1;
}

static SSL_CTX *
tlsctx_fail(SSL_CTX *ctx, enum tlsctx_error *what, enum tlsctx_error e,
    char *err, size_t errlen, const char *msg)
{
	unsigned long	 code = ERR_peek_last_error();
	const char	*reason = code != 0 ? ERR_reason_error_string(code) :
			    NULL;

	if (reason != NULL)
		snprintf(err, errlen, "%s (%s)", msg, reason);
	else
		snprintf(err, errlen, "%s", msg);
	ERR_clear_error();
	SSL_CTX_free(ctx);
	*what = e;
	return NULL;
}

SSL_CTX *
tlsctx_new(const char *cert, size_t certlen, const char *key, size_t keylen,
    enum tlsctx_error *what, char *err, size_t errlen)
{
	SSL_CTX		*ctx;
	BIO		*bio;
	X509		*x;
	EVP_PKEY	*pk;
	unsigned long	 code;
	long		 opts;

	*what = TLSCTX_OK;
	ERR_clear_error();
	if (certlen > INT_MAX || keylen > INT_MAX)
		return tlsctx_fail(NULL, what, TLSCTX_E_INTERNAL, err, errlen,
		    "file too large");
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return tlsctx_fail(NULL, what, TLSCTX_E_INTERNAL, err, errlen,
		    "SSL_CTX_new");
	opts = SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE;
#ifdef SSL_OP_NO_RENEGOTIATION
	opts |= SSL_OP_NO_RENEGOTIATION;
#endif
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/*
	 * Browsers close without a close_notify; that ends the connection
	 * like any end of file (wsd's answers always have a known length, so
	 * nothing can be cut off unnoticed).
	 */
	opts |= SSL_OP_IGNORE_UNEXPECTED_EOF;
#endif
	SSL_CTX_set_options(ctx, opts);
	/* Some 34 KB less per idle connection. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/*
	 * Browsers resume with tickets, which need no state here; a session
	 * cache would grow with every client that ever came.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* RSA keys of 2048 bits and more, 112-bit security at least. */
	SSL_CTX_set_security_level(ctx, 2);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLSCTX_CIPHERS) != 1)
		return tlsctx_fail(ctx, what, TLSCTX_E_INTERNAL, err, errlen,
		    "TLS settings");

	/* The certificate, then the chain up to (not including) the root. */
	if ((bio = BIO_new_mem_buf(cert, (int)certlen)) == NULL)
		return tlsctx_fail(ctx, what, TLSCTX_E_INTERNAL, err, errlen,
		    "BIO_new_mem_buf");
	if ((x = PEM_read_bio_X509_AUX(bio, NULL, tlsctx_no_passphrase,
	    NULL)) == NULL) {
		BIO_free(bio);
		return tlsctx_fail(ctx, what, TLSCTX_E_CERT, err, errlen,
		    "no PEM certificate");
	}
	if (SSL_CTX_use_certificate(ctx, x) != 1) {
		X509_free(x);
		BIO_free(bio);
		return tlsctx_fail(ctx, what, TLSCTX_E_CERT, err, errlen,
		    "certificate not usable");
	}
	X509_free(x);
	while ((x = PEM_read_bio_X509(bio, NULL, tlsctx_no_passphrase,
	    NULL)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			BIO_free(bio);
			return tlsctx_fail(ctx, what, TLSCTX_E_CERT, err,
			    errlen, "chain certificate not usable");
		}
	BIO_free(bio);
	/* The end of the file reads as "no start line"; anything else is not. */
	code = ERR_peek_last_error();
	if (ERR_GET_LIB(code) == ERR_LIB_PEM &&
	    ERR_GET_REASON(code) == PEM_R_NO_START_LINE)
		ERR_clear_error();
	else if (code != 0)
		return tlsctx_fail(ctx, what, TLSCTX_E_CERT, err, errlen,
		    "bad PEM in the chain");

	if ((bio = BIO_new_mem_buf(key, (int)keylen)) == NULL)
		return tlsctx_fail(ctx, what, TLSCTX_E_INTERNAL, err, errlen,
		    "BIO_new_mem_buf");
	pk = PEM_read_bio_PrivateKey(bio, NULL, tlsctx_no_passphrase, NULL);
	BIO_free(bio);
	if (pk == NULL)
		return tlsctx_fail(ctx, what, TLSCTX_E_KEY, err, errlen,
		    "no PEM private key, or an encrypted one");
	if (SSL_CTX_use_PrivateKey(ctx, pk) != 1) {
		EVP_PKEY_free(pk);
		code = ERR_peek_last_error();
		return tlsctx_fail(ctx, what, ERR_GET_REASON(code) ==
		    X509_R_KEY_VALUES_MISMATCH ? TLSCTX_E_MATCH : TLSCTX_E_KEY,
		    err, errlen, "key not usable");
	}
	EVP_PKEY_free(pk);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return tlsctx_fail(ctx, what, TLSCTX_E_MATCH, err, errlen,
		    "key does not match the certificate");
	return ctx;
}
