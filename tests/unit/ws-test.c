/*
 * Unit tests for wsd/ws.c: the parser is driven by scripted client frames
 * and its callbacks write a transcript that each case compares with the
 * one it expects.  The case groups follow the Autobahn testsuite's.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"
#include "tap.h"

#define DEFMAX		(1024 * 1024)

/* 15 euro signs: 45 bytes of 3-byte sequences */
#define EUR3		"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
#define EUR15		EUR3 EUR3 EUR3 EUR3 EUR3

/* Every byte differs, so an unmasking slip shows in the payload. */
static const unsigned char mask_key[4] = { 0x37, 0xfa, 0x21, 0x3d };

struct buf {
	unsigned char	*b;
	size_t		 len;
	size_t		 cap;
};

/*
 * One client frame: b0 is the first header byte (FIN, RSV, opcode); the
 * payload is data followed by pad 'x' bytes.  A frame with data NULL ends
 * a list.
 */
struct tframe {
	int		 b0;
	const char	*data;
	size_t		 len;
	size_t		 pad;
	int		 flags;
	uint64_t	 announce;	/* length in the header, when not 0 */
};
#define F_NOMASK	0x1

#define FR(b0, s)	{ (b0), (s), sizeof(s) - 1, 0, 0, 0 }
#define FRX(b0, s, pad, flags, ann) \
			{ (b0), (s), sizeof(s) - 1, (pad), (flags), (ann) }
#define TEXT(s)		FR(0x81, s)
#define BIN(s)		FR(0x82, s)
#define TEXT1(s)	FR(0x01, s)	/* first fragment */
#define BIN1(s)		FR(0x02, s)
#define CONT(s)		FR(0x00, s)	/* middle fragment */
#define CONTF(s)	FR(0x80, s)	/* last fragment */
#define PING(s)		FR(0x89, s)
#define PONG(s)		FR(0x8a, s)
#define CLOSE(s)	FR(0x88, s)

struct tcase {
	const char	*name;
	int		 rv;
	const char	*log;
	size_t		 max;		/* 0: DEFMAX */
	struct tframe	 f[8];
};

/* What the callbacks saw. */
struct rec {
	char		 log[4096];
	size_t		 loglen;
	int		 overflow;
	int		 nmsg, nping, npong, nclose, ncalls;
	int		 stop_on;	/* call that returns nonzero, 0: none */
	int		 lastop;
	unsigned char	*last;		/* copy of the last message */
	size_t		 lastlen;
	struct ws_parser *parser;	/* to look at while a callback runs */
	size_t		 capseen;	/* p_msgcap during on_message */
};

static void	buf_add(struct buf *, const void *, size_t);
static void	build_frame(struct buf *, const struct tframe *);
static void	build(struct buf *, const struct tframe *);
static void	rec_init(struct rec *);
static void	rec_free(struct rec *);
static void	rec_printf(struct rec *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	rec_data(struct rec *, const unsigned char *, size_t);
static int	rec_stop(struct rec *);
static int	cb_message(void *, int, const unsigned char *, size_t);
static int	cb_ping(void *, const unsigned char *, size_t);
static int	cb_pong(void *, const unsigned char *, size_t);
static int	cb_close(void *, int, const char *, size_t);
static int	feed(struct ws_parser *, const unsigned char *, size_t,
		    size_t, size_t, size_t *);
static int	run(size_t, const unsigned char *, size_t, size_t, size_t,
		    struct rec *, size_t *);
static const char *esc(const char *, char *, size_t);
static int	check(const struct tcase *, const char *, int,
		    const struct rec *);
static void	test_table(void);
static void	test_reserved_opcodes(void);
static void	test_lengths(void);
static void	test_utf8_splits(void);
static void	test_fail_position(void);
static void	test_stop(void);
static void	test_no_callbacks(void);
static void	test_sticky(void);
static void	test_buffer(void);
static void	test_utf8_validate(void);
static void	test_accept_key(void);
static void	test_frame_header(void);
static void	test_close_payload(void);
static void	test_close_code_valid(void);

static const struct ws_callbacks rec_cb = {
	cb_message, cb_ping, cb_pong, cb_close
};

static const struct tcase cases[] = {
	/* framing */
	{ "empty text", WS_PARSE_OK, "msg:1:|", 0, { TEXT("") } },
	{ "small text", WS_PARSE_OK, "msg:1:Hello|", 0, { TEXT("Hello") } },
	{ "small binary", WS_PARSE_OK, "msg:2:\\x00\\x01\xfe\xff|", 0,
	    { BIN("\x00\x01\xfe\xff") } },
	{ "text of 125 bytes", WS_PARSE_OK, "msg:1:[125 x]|", 0,
	    { FRX(0x81, "", 125, 0, 0) } },
	{ "text of 126 bytes (16-bit length)", WS_PARSE_OK,
	    "msg:1:[126 x]|", 0, { FRX(0x81, "", 126, 0, 0) } },
	{ "binary of 65535 bytes (16-bit length)", WS_PARSE_OK,
	    "msg:2:[65535 x]|", 0, { FRX(0x82, "", 65535, 0, 0) } },
	{ "binary of 65536 bytes (64-bit length)", WS_PARSE_OK,
	    "msg:2:[65536 x]|", 0, { FRX(0x82, "", 65536, 0, 0) } },
	{ "two messages in one read", WS_PARSE_OK, "msg:1:a|msg:2:b|", 0,
	    { TEXT("a"), BIN("b") } },
	{ "header only: nothing delivered yet", WS_PARSE_OK, "", 0,
	    { FRX(0x81, "", 0, 0, 5) } },
	{ "unmasked text", WS_CLOSE_PROTOCOL, "", 0,
	    { FRX(0x81, "Hello", 0, F_NOMASK, 0) } },
	{ "unmasked ping", WS_CLOSE_PROTOCOL, "", 0,
	    { FRX(0x89, "Hello", 0, F_NOMASK, 0) } },
	{ "unmasked frame after a good one", WS_CLOSE_PROTOCOL, "msg:1:ok|",
	    0, { TEXT("ok"), FRX(0x81, "no", 0, F_NOMASK, 0) } },

	/* ping and pong */
	{ "empty ping", WS_PARSE_OK, "ping:|", 0, { PING("") } },
	{ "ping with payload", WS_PARSE_OK, "ping:Hello|", 0,
	    { PING("Hello") } },
	{ "ping with binary payload", WS_PARSE_OK,
	    "ping:\\x00\xff\xfe\xfd|", 0, { PING("\x00\xff\xfe\xfd") } },
	{ "ping of 125 bytes", WS_PARSE_OK, "ping:[125 x]|", 0,
	    { FRX(0x89, "", 125, 0, 0) } },
	{ "ping of 126 bytes", WS_CLOSE_PROTOCOL, "", 0,
	    { FRX(0x89, "", 126, 0, 0) } },
	{ "unsolicited pong", WS_PARSE_OK, "pong:abc|", 0, { PONG("abc") } },
	{ "pong of 126 bytes", WS_CLOSE_PROTOCOL, "", 0,
	    { FRX(0x8a, "", 126, 0, 0) } },
	{ "fragmented ping", WS_CLOSE_PROTOCOL, "", 0,
	    { FR(0x09, "ab"), CONTF("cd") } },
	{ "ping then text", WS_PARSE_OK, "ping:p|msg:1:t|", 0,
	    { PING("p"), TEXT("t") } },

	/* reserved bits */
	{ "RSV1 on text", WS_CLOSE_PROTOCOL, "", 0, { FR(0xc1, "Hello") } },
	{ "RSV2 on text", WS_CLOSE_PROTOCOL, "", 0, { FR(0xa1, "Hello") } },
	{ "RSV3 on text", WS_CLOSE_PROTOCOL, "", 0, { FR(0x91, "Hello") } },
	{ "RSV1 on ping", WS_CLOSE_PROTOCOL, "", 0, { FR(0xc9, "Hello") } },
	{ "RSV2 on binary", WS_CLOSE_PROTOCOL, "", 0, { FR(0xa2, "\x01") } },
	{ "RSV3 on close", WS_CLOSE_PROTOCOL, "", 0,
	    { FR(0x98, "\x03\xe8") } },
	{ "RSV1 on a frame after a good one", WS_CLOSE_PROTOCOL, "msg:1:ok|",
	    0, { TEXT("ok"), FR(0xc1, "bad"), PING("p") } },

	/* fragmentation */
	{ "text in 3 fragments", WS_PARSE_OK, "msg:1:Hello, world|", 0,
	    { TEXT1("Hel"), CONT("lo, "), CONTF("world") } },
	{ "binary in 2 fragments", WS_PARSE_OK, "msg:2:\\x01\\x02|", 0,
	    { BIN1("\x01"), CONTF("\x02") } },
	{ "empty fragments", WS_PARSE_OK, "msg:1:|", 0,
	    { TEXT1(""), CONT(""), CONTF("") } },
	{ "large fragments", WS_PARSE_OK, "msg:1:[70200 x]|", 0,
	    { FRX(0x01, "", 200, 0, 0), FRX(0x80, "", 70000, 0, 0) } },
	{ "control frames between fragments", WS_PARSE_OK,
	    "ping:p1|pong:q|msg:1:fragment|", 0,
	    { TEXT1("fra"), PING("p1"), CONT("gm"), PONG("q"),
	    CONTF("ent") } },
	{ "message after a fragmented one", WS_PARSE_OK,
	    "msg:1:ab|msg:1:c|", 0,
	    { TEXT1("a"), CONTF("b"), TEXT("c") } },
	{ "continuation without start, final", WS_CLOSE_PROTOCOL, "", 0,
	    { CONTF("x") } },
	{ "continuation without start", WS_CLOSE_PROTOCOL, "", 0,
	    { CONT("x") } },
	{ "continuation after a whole message", WS_CLOSE_PROTOCOL,
	    "msg:1:a|", 0, { TEXT("a"), CONTF("b") } },
	{ "new text while fragmented", WS_CLOSE_PROTOCOL, "", 0,
	    { TEXT1("a"), TEXT("b") } },
	{ "new binary start while text fragmented", WS_CLOSE_PROTOCOL, "", 0,
	    { TEXT1("a"), BIN1("b") } },
	{ "close between fragments", WS_PARSE_OK, "close:1000:|", 0,
	    { TEXT1("ab"), CLOSE("\x03\xe8"), CONTF("cd") } },

	/* UTF-8 */
	{ "valid 2-byte text", WS_PARSE_OK,
	    "msg:1:\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5|", 0,
	    { TEXT("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5") } },
	{ "valid 3-byte text", WS_PARSE_OK, "msg:1:\xe2\x82\xac\xef\xbf\xbf|",
	    0, { TEXT("\xe2\x82\xac\xef\xbf\xbf") } },
	{ "valid 4-byte text", WS_PARSE_OK, "msg:1:\xf0\x9f\x98\x80|", 0,
	    { TEXT("\xf0\x9f\x98\x80") } },
	{ "U+10FFFF", WS_PARSE_OK, "msg:1:\xf4\x8f\xbf\xbf|", 0,
	    { TEXT("\xf4\x8f\xbf\xbf") } },
	{ "sequence split across 3 fragments", WS_PARSE_OK,
	    "msg:1:\xe2\x82\xac|", 0,
	    { TEXT1("\xe2"), CONT("\x82"), CONTF("\xac") } },
	{ "overlong 2-byte", WS_CLOSE_BAD_DATA, "", 0, { TEXT("\xc0\xaf") } },
	{ "overlong 3-byte", WS_CLOSE_BAD_DATA, "", 0,
	    { TEXT("\xe0\x80\xaf") } },
	{ "overlong 4-byte", WS_CLOSE_BAD_DATA, "", 0,
	    { TEXT("\xf0\x80\x80\xaf") } },
	{ "surrogate U+D800", WS_CLOSE_BAD_DATA, "", 0,
	    { TEXT("\xed\xa0\x80") } },
	{ "surrogate U+DFFF", WS_CLOSE_BAD_DATA, "", 0,
	    { TEXT("\xed\xbf\xbf") } },
	{ "past U+10FFFF", WS_CLOSE_BAD_DATA, "", 0,
	    { TEXT("\xf4\x90\x80\x80") } },
	{ "F5 lead byte", WS_CLOSE_BAD_DATA, "", 0,
	    { TEXT("\xf5\x80\x80\x80") } },
	{ "FF byte", WS_CLOSE_BAD_DATA, "", 0, { TEXT("a\xff") } },
	{ "stray continuation byte", WS_CLOSE_BAD_DATA, "", 0,
	    { TEXT("a\x80") } },
	{ "truncated at FIN", WS_CLOSE_BAD_DATA, "", 0,
	    { TEXT("a\xe2\x82") } },
	{ "truncated at the last fragment", WS_CLOSE_BAD_DATA, "", 0,
	    { TEXT1("\xe2"), CONTF("\x82") } },
	{ "invalid in the first fragment, no FIN yet", WS_CLOSE_BAD_DATA, "",
	    0, { TEXT1("ab\xff") } },
	{ "invalid in the first fragment, ping follows", WS_CLOSE_BAD_DATA,
	    "", 0, { TEXT1("\xc0\xaf"), PING("p"), CONTF("x") } },
	{ "binary is not UTF-8 checked", WS_PARSE_OK, "msg:2:\xff\xfe\xc0|",
	    0, { BIN("\xff\xfe\xc0") } },
	{ "ping payload is not UTF-8 checked", WS_PARSE_OK, "ping:\xff|", 0,
	    { PING("\xff") } },

	/* close */
	{ "close without payload", WS_PARSE_OK, "close:1005:|", 0,
	    { CLOSE("") } },
	{ "close of 1 byte", WS_CLOSE_PROTOCOL, "", 0, { CLOSE("\x03") } },
	{ "close code 0", WS_CLOSE_PROTOCOL, "", 0, { CLOSE("\x00\x00") } },
	{ "close code 999", WS_CLOSE_PROTOCOL, "", 0, { CLOSE("\x03\xe7") } },
	{ "close code 1004", WS_CLOSE_PROTOCOL, "", 0,
	    { CLOSE("\x03\xec") } },
	{ "close code 1005", WS_CLOSE_PROTOCOL, "", 0,
	    { CLOSE("\x03\xed") } },
	{ "close code 1006", WS_CLOSE_PROTOCOL, "", 0,
	    { CLOSE("\x03\xee") } },
	{ "close code 1015", WS_CLOSE_PROTOCOL, "", 0,
	    { CLOSE("\x03\xf7") } },
	{ "close code 1016", WS_CLOSE_PROTOCOL, "", 0,
	    { CLOSE("\x03\xf8") } },
	{ "close code 2999", WS_CLOSE_PROTOCOL, "", 0,
	    { CLOSE("\x0b\xb7") } },
	{ "close code 5000", WS_CLOSE_PROTOCOL, "", 0,
	    { CLOSE("\x13\x88") } },
	{ "close code 65535", WS_CLOSE_PROTOCOL, "", 0,
	    { CLOSE("\xff\xff") } },
	{ "close code 1000", WS_PARSE_OK, "close:1000:|", 0,
	    { CLOSE("\x03\xe8") } },
	{ "close code 1001", WS_PARSE_OK, "close:1001:|", 0,
	    { CLOSE("\x03\xe9") } },
	{ "close code 1003", WS_PARSE_OK, "close:1003:|", 0,
	    { CLOSE("\x03\xeb") } },
	{ "close code 1007", WS_PARSE_OK, "close:1007:|", 0,
	    { CLOSE("\x03\xef") } },
	{ "close code 1014", WS_PARSE_OK, "close:1014:|", 0,
	    { CLOSE("\x03\xf6") } },
	{ "close code 3000", WS_PARSE_OK, "close:3000:|", 0,
	    { CLOSE("\x0b\xb8") } },
	{ "close code 4999", WS_PARSE_OK, "close:4999:|", 0,
	    { CLOSE("\x13\x87") } },
	{ "close with reason", WS_PARSE_OK, "close:1000:bye|", 0,
	    { CLOSE("\x03\xe8" "bye") } },
	{ "close with UTF-8 reason", WS_PARSE_OK,
	    "close:1001:\xce\xba\xf0\x9f\x98\x80|", 0,
	    { CLOSE("\x03\xe9" "\xce\xba\xf0\x9f\x98\x80") } },
	{ "close of 125 bytes", WS_PARSE_OK, "close:1000:[123 x]|", 0,
	    { FRX(0x88, "\x03\xe8", 123, 0, 0) } },
	{ "close of 126 bytes", WS_CLOSE_PROTOCOL, "", 0,
	    { FRX(0x88, "\x03\xe8", 124, 0, 0) } },
	{ "close reason invalid UTF-8", WS_CLOSE_BAD_DATA, "", 0,
	    { CLOSE("\x03\xe8" "ok\xff") } },
	{ "close reason truncated UTF-8", WS_CLOSE_BAD_DATA, "", 0,
	    { CLOSE("\x03\xe8" "\xce") } },
	{ "fragmented close", WS_CLOSE_PROTOCOL, "", 0,
	    { FR(0x08, "\x03\xe8"), CONTF("") } },
	{ "input after close is ignored", WS_PARSE_OK, "close:1000:|", 0,
	    { CLOSE("\x03\xe8"), TEXT("x"), FR(0xc1, "bad"), CONTF("x") } },

	/* limits */
	{ "message at the limit", WS_PARSE_OK,
	    "msg:1:xxxxxxxxxxxxxxxx|", 16, { FRX(0x81, "", 16, 0, 0) } },
	{ "frame over the limit", WS_CLOSE_TOO_BIG, "", 16,
	    { FRX(0x81, "", 17, 0, 0) } },
	{ "fragments at the limit", WS_PARSE_OK,
	    "msg:1:xxxxxxxxxxxxxxxx|", 16,
	    { FRX(0x01, "", 10, 0, 0), FRX(0x80, "", 6, 0, 0) } },
	{ "fragments over the limit", WS_CLOSE_TOO_BIG, "", 16,
	    { FRX(0x01, "", 10, 0, 0), FRX(0x80, "", 7, 0, 0) } },
	{ "fragments over the limit, ping between", WS_CLOSE_TOO_BIG,
	    "ping:p|", 16,
	    { FRX(0x01, "", 10, 0, 0), PING("p"), FRX(0x00, "", 6, 0, 0),
	    FRX(0x80, "", 1, 0, 0) } },
	{ "ping is not counted in the limit", WS_PARSE_OK,
	    "ping:[100 x]|msg:1:xxxxxxxxxxxxxxxx|", 16,
	    { FRX(0x01, "", 10, 0, 0), FRX(0x89, "", 100, 0, 0),
	    FRX(0x80, "", 6, 0, 0) } },
	{ "2^62 bytes announced", WS_CLOSE_TOO_BIG, "", 0,
	    { FRX(0x82, "", 0, 0, 1ULL << 62) } },
	{ "2^62 bytes announced in a continuation", WS_CLOSE_TOO_BIG, "", 0,
	    { TEXT1("a"), FRX(0x80, "", 0, 0, 1ULL << 62) } },
	{ "64-bit length with the top bit set", WS_CLOSE_PROTOCOL, "", 0,
	    { FRX(0x82, "", 0, 0, 1ULL << 63) } },
	{ "64-bit length of all ones", WS_CLOSE_PROTOCOL, "", 0,
	    { FRX(0x82, "", 0, 0, UINT64_MAX) } },
	{ "top bit set is 1002 even with no limit", WS_CLOSE_PROTOCOL, "",
	    SIZE_MAX, { FRX(0x82, "", 0, 0, 1ULL << 63) } },
};

static void
buf_add(struct buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 64;
		if ((b->b = realloc(b->b, b->cap)) == NULL) {
			perror("realloc");
			exit(99);
		}
	}
	if (len > 0)
		memcpy(b->b + b->len, data, len);
	b->len += len;
}

/* The client's encoding: the shortest length form, masked. */
static void
build_frame(struct buf *b, const struct tframe *f)
{
	unsigned char	 h[14], c;
	uint64_t	 n = f->len + f->pad, hl;
	size_t		 hn = 2, i;
	int		 masked = !(f->flags & F_NOMASK);

	hl = f->announce != 0 ? f->announce : n;
	h[0] = f->b0;
	if (hl > 0xffff) {
		h[1] = 127;
		for (i = 0; i < 8; i++)
			h[hn++] = (hl >> (56 - 8 * i)) & 0xff;
	} else if (hl > 125) {
		h[1] = 126;
		h[hn++] = hl >> 8;
		h[hn++] = hl & 0xff;
	} else
		h[1] = hl;
	if (masked) {
		h[1] |= 0x80;
		memcpy(h + hn, mask_key, 4);
		hn += 4;
	}
	buf_add(b, h, hn);
	for (i = 0; i < n; i++) {
		c = i < f->len ? (unsigned char)f->data[i] : 'x';
		if (masked)
			c ^= mask_key[i & 3];
		buf_add(b, &c, 1);
	}
}

static void
build(struct buf *b, const struct tframe *f)
{
	for (; f->data != NULL; f++)
		build_frame(b, f);
}

static void
rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
}

static void
rec_free(struct rec *r)
{
	free(r->last);
	r->last = NULL;
}

static void
rec_printf(struct rec *r, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(r->log + r->loglen, sizeof(r->log) - r->loglen, fmt,
	    ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(r->log) - r->loglen) {
		r->overflow = 1;
		return;
	}
	r->loglen += n;
}

/*
 * Payloads longer than 64 bytes in the cases are all 'x' filler: say only
 * whether that is what arrived.  Control characters and the separators
 * are escaped; other bytes go in as they are.
 */
static void
rec_data(struct rec *r, const unsigned char *d, size_t len)
{
	size_t	i;

	if (d == NULL) {
		rec_printf(r, "NULL");
		return;
	}
	if (len > 64) {
		for (i = 0; i < len && d[i] == 'x'; i++)
			;
		rec_printf(r, "[%zu %s]", len, i == len ? "x" : "other");
		return;
	}
	for (i = 0; i < len; i++) {
		if (d[i] < 0x20 || d[i] == 0x7f || d[i] == '|' || d[i] == '\\')
			rec_printf(r, "\\x%02x", d[i]);
		else
			rec_printf(r, "%c", d[i]);
	}
}

static int
rec_stop(struct rec *r)
{
	return ++r->ncalls == r->stop_on;
}

static int
cb_message(void *arg, int op, const unsigned char *d, size_t len)
{
	struct rec	*r = arg;

	r->nmsg++;
	rec_printf(r, "msg:%d:", op);
	rec_data(r, d, len);
	rec_printf(r, "|");
	free(r->last);
	if ((r->last = malloc(len > 0 ? len : 1)) == NULL) {
		perror("malloc");
		exit(99);
	}
	if (len > 0)
		memcpy(r->last, d, len);
	r->lastlen = len;
	r->lastop = op;
	if (r->parser != NULL)
		r->capseen = r->parser->p_msgcap;
	return rec_stop(r);
}

static int
cb_ping(void *arg, const unsigned char *d, size_t len)
{
	struct rec	*r = arg;

	r->nping++;
	rec_printf(r, "ping:");
	rec_data(r, d, len);
	rec_printf(r, "|");
	return rec_stop(r);
}

static int
cb_pong(void *arg, const unsigned char *d, size_t len)
{
	struct rec	*r = arg;

	r->npong++;
	rec_printf(r, "pong:");
	rec_data(r, d, len);
	rec_printf(r, "|");
	return rec_stop(r);
}

static int
cb_close(void *arg, int code, const char *reason, size_t len)
{
	struct rec	*r = arg;

	r->nclose++;
	rec_printf(r, "close:%d:", code);
	rec_data(r, (const unsigned char *)reason, len);
	rec_printf(r, "|");
	return rec_stop(r);
}

/*
 * Feeds in[] in pieces of step bytes, or in two pieces cut at cut when it
 * is not 0, up to the first result that is not WS_PARSE_OK.  *at gets the
 * offset of the piece that gave it.
 */
static int
feed(struct ws_parser *p, const unsigned char *in, size_t len, size_t step,
    size_t cut, size_t *at)
{
	size_t	off = 0, n;
	int	rv = WS_PARSE_OK;

	if (at != NULL)
		*at = len;
	while (off < len) {
		if (cut != 0)
			n = off < cut ? cut : len - off;
		else
			n = len - off < step ? len - off : step;
		if ((rv = ws_parser_feed(p, in + off, n)) != WS_PARSE_OK) {
			if (at != NULL)
				*at = off;
			break;
		}
		off += n;
	}
	return rv;
}

static int
run(size_t max, const unsigned char *in, size_t len, size_t step, size_t cut,
    struct rec *r, size_t *at)
{
	struct ws_parser	p;
	int			rv;

	ws_parser_init(&p, max, &rec_cb, r);
	rv = feed(&p, in, len, step, cut, at);
	/* A failed parser has no use for its message. */
	if (rv != WS_PARSE_OK && rv != WS_PARSE_STOPPED && p.p_msg != NULL) {
		diag("message buffer still held after %d", rv);
		rv = 12345;
	}
	ws_parser_free(&p);
	return rv;
}

/* Bytes past ASCII as \xNN, so that a failure report stays readable. */
static const char *
esc(const char *s, char *out, size_t size)
{
	size_t	n = 0;

	for (; *s != '\0' && n + 5 < size; s++) {
		if ((unsigned char)*s >= 0x80)
			n += snprintf(out + n, size - n, "\\x%02x",
			    (unsigned char)*s);
		else
			out[n++] = *s;
	}
	out[n] = '\0';
	return out;
}

static int
check(const struct tcase *tc, const char *mode, int rv, const struct rec *r)
{
	char	e[1024];
	int	good;

	good = rv == tc->rv && !r->overflow && strcmp(r->log, tc->log) == 0;
	if (!ok(good, "%s (%s)", tc->name, mode)) {
		diag("want %d \"%s\"", tc->rv, esc(tc->log, e, sizeof(e)));
		diag("got  %d \"%s\"%s", rv, esc(r->log, e, sizeof(e)),
		    r->overflow ? " (log overflow)" : "");
	}
	return good;
}

/* Every case fed whole, one byte at a time, and cut in two everywhere. */
static void
test_table(void)
{
	const struct tcase	*tc;
	struct buf		 in;
	struct rec		 r;
	char			 e[1024];
	size_t			 i, k, max;
	int			 rv, good;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tc = &cases[i];
		max = tc->max != 0 ? tc->max : DEFMAX;
		memset(&in, 0, sizeof(in));
		build(&in, tc->f);

		rec_init(&r);
		rv = run(max, in.b, in.len, in.len > 0 ? in.len : 1, 0, &r,
		    NULL);
		check(tc, "whole", rv, &r);
		rec_free(&r);

		rec_init(&r);
		rv = run(max, in.b, in.len, 1, 0, &r, NULL);
		check(tc, "byte by byte", rv, &r);
		rec_free(&r);

		/* Large inputs: byte by byte already cut them everywhere. */
		if (in.len <= 1024) {
			good = 1;
			for (k = 1; k < in.len && good; k++) {
				rec_init(&r);
				rv = run(max, in.b, in.len, 0, k, &r, NULL);
				good = rv == tc->rv && !r.overflow &&
				    strcmp(r.log, tc->log) == 0;
				if (!good)
					diag("cut at %zu: %d \"%s\"", k, rv,
					    esc(r.log, e, sizeof(e)));
				rec_free(&r);
			}
			ok(good, "%s (cut in two anywhere)", tc->name);
		}
		free(in.b);
	}
}

static void
test_reserved_opcodes(void)
{
	static const int	 ops[] = { 3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe,
				    0xf };
	struct tcase		 tc;
	struct tframe		 f[3];
	struct buf		 in;
	struct rec		 r;
	char			 name[64];
	size_t			 i;
	int			 rv, fin;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		for (fin = 0; fin <= 1; fin++) {
			/* A good message first: it is delivered, then 1002. */
			memset(f, 0, sizeof(f));
			f[0] = (struct tframe)TEXT("ok");
			f[1] = (struct tframe)FR(0, "data");
			f[1].b0 = (fin ? 0x80 : 0) | ops[i];
			snprintf(name, sizeof(name), "reserved opcode %#x%s",
			    ops[i], fin ? "" : " without FIN");
			tc.name = name;
			tc.rv = WS_CLOSE_PROTOCOL;
			tc.log = "msg:1:ok|";

			memset(&in, 0, sizeof(in));
			build(&in, f);
			rec_init(&r);
			rv = run(DEFMAX, in.b, in.len, in.len, 0, &r, NULL);
			check(&tc, "whole", rv, &r);
			rec_free(&r);
			rec_init(&r);
			rv = run(DEFMAX, in.b, in.len, 1, 0, &r, NULL);
			check(&tc, "byte by byte", rv, &r);
			rec_free(&r);
			free(in.b);
		}
	}
}

/*
 * Payload lengths around the 7-, 16- and 64-bit forms, with bytes that
 * differ by position so that a misplaced mask or copy shows.
 */
static void
test_lengths(void)
{
	static const size_t	 sizes[] = { 0, 1, 125, 126, 127, 65535,
				    65536, 100000 };
	static const size_t	 steps[] = { 0, 1, 3, 4096 };
	static const size_t	 hdr[] = { 6, 6, 6, 8, 8, 8, 14, 14 };
	unsigned char		*pat;
	struct tframe		 f[2];
	struct buf		 in;
	struct rec		 r;
	size_t			 i, j, n;
	int			 rv;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		n = sizes[i];
		if ((pat = malloc(n + 1)) == NULL)
			exit(99);
		for (j = 0; j < n; j++)
			pat[j] = (j * 131 + 7) & 0xff;
		memset(f, 0, sizeof(f));
		f[0].b0 = 0x82;
		f[0].data = (const char *)pat;
		f[0].len = n;
		memset(&in, 0, sizeof(in));
		build(&in, f);
		ok(in.len == hdr[i] + n, "binary of %zu bytes: %zu-byte header",
		    n, hdr[i]);
		for (j = 0; j < sizeof(steps) / sizeof(steps[0]); j++) {
			rec_init(&r);
			rv = run(DEFMAX, in.b, in.len,
			    steps[j] != 0 ? steps[j] : in.len, 0, &r, NULL);
			ok(rv == WS_PARSE_OK && r.nmsg == 1 &&
			    r.lastop == WS_OP_BINARY && r.lastlen == n &&
			    memcmp(r.last, pat, n) == 0,
			    "binary of %zu bytes fed in pieces of %zu", n,
			    steps[j] != 0 ? steps[j] : in.len);
			rec_free(&r);
		}
		free(in.b);
		free(pat);
	}
}

/* A text cut into fragments at every byte offset, mid-sequence included. */
static void
test_utf8_splits(void)
{
	static const char	 good[] = "\xce\xba\xe1\xbd\xb9\xcf\x83 "
				    "\xf0\x9f\x98\x80 \xe2\x82\xac!";
	static const char	 bad[] = "ab\xed\xa0\x80" "cd";
	const size_t		 n = sizeof(good) - 1, nb = sizeof(bad) - 1;
	struct tframe		 f[4];
	struct buf		 in;
	struct rec		 r;
	size_t			 i, j;
	int			 rv, allgood;

	for (i = 0; i <= n; i++) {
		memset(f, 0, sizeof(f));
		f[0] = (struct tframe){ 0x01, good, i, 0, 0, 0 };
		f[1] = (struct tframe){ 0x80, good + i, n - i, 0, 0, 0 };
		memset(&in, 0, sizeof(in));
		build(&in, f);
		rec_init(&r);
		rv = run(DEFMAX, in.b, in.len, 1, 0, &r, NULL);
		ok(rv == WS_PARSE_OK && r.nmsg == 1 && r.lastlen == n &&
		    memcmp(r.last, good, n) == 0,
		    "UTF-8 text in 2 fragments cut at byte %zu", i);
		rec_free(&r);
		free(in.b);
	}

	allgood = 1;
	for (i = 0; i <= n; i++) {
		for (j = i; j <= n; j++) {
			memset(f, 0, sizeof(f));
			f[0] = (struct tframe){ 0x01, good, i, 0, 0, 0 };
			f[1] = (struct tframe){ 0x00, good + i, j - i, 0, 0,
			    0 };
			f[2] = (struct tframe){ 0x80, good + j, n - j, 0, 0,
			    0 };
			memset(&in, 0, sizeof(in));
			build(&in, f);
			rec_init(&r);
			rv = run(DEFMAX, in.b, in.len, in.len, 0, &r, NULL);
			if (rv != WS_PARSE_OK || r.nmsg != 1 ||
			    r.lastlen != n || memcmp(r.last, good, n) != 0) {
				diag("cut at %zu and %zu: %d", i, j, rv);
				allgood = 0;
			}
			rec_free(&r);
			free(in.b);
		}
	}
	ok(allgood, "UTF-8 text in 3 fragments cut anywhere");

	/* A surrogate fails wherever it is cut, with no FIN in sight. */
	for (i = 0; i <= nb; i++) {
		memset(f, 0, sizeof(f));
		f[0] = (struct tframe){ 0x01, bad, i, 0, 0, 0 };
		f[1] = (struct tframe){ 0x00, bad + i, nb - i, 0, 0, 0 };
		memset(&in, 0, sizeof(in));
		build(&in, f);
		rec_init(&r);
		rv = run(DEFMAX, in.b, in.len, 1, 0, &r, NULL);
		ok(rv == WS_CLOSE_BAD_DATA && r.nmsg == 0,
		    "surrogate in unfinished fragments cut at byte %zu", i);
		rec_free(&r);
		free(in.b);
	}
}

/* Fed a byte at a time, a violation is reported at the byte that shows it. */
static void
test_fail_position(void)
{
	static const struct {
		const char	*name;
		size_t		 max;
		int		 rv;
		size_t		 at;
		struct tframe	 f[3];
	} pc[] = {
		{ "unmasked frame fails at its second byte", DEFMAX,
		    WS_CLOSE_PROTOCOL, 1,
		    { FRX(0x81, "Hello", 0, F_NOMASK, 0) } },
		{ "RSV bit fails at the second byte", DEFMAX,
		    WS_CLOSE_PROTOCOL, 1, { FR(0xc1, "Hello") } },
		{ "reserved opcode fails at the second byte", DEFMAX,
		    WS_CLOSE_PROTOCOL, 1, { FR(0x83, "Hello") } },
		{ "bad UTF-8 fails at the bad byte, before FIN", DEFMAX,
		    WS_CLOSE_BAD_DATA, 6 + 2, { TEXT1("ab\xff" "cd") } },
		{ "surrogate fails at its second byte", DEFMAX,
		    WS_CLOSE_BAD_DATA, 6 + 1 + 1,
		    { TEXT1("a\xed\xa0\x80" "b") } },
		{ "1009 at the header, before the payload", 16,
		    WS_CLOSE_TOO_BIG, 5, { FRX(0x81, "", 100, 0, 0) } },
	};
	struct buf	in;
	struct rec	r;
	size_t		i, at;
	int		rv;

	for (i = 0; i < sizeof(pc) / sizeof(pc[0]); i++) {
		memset(&in, 0, sizeof(in));
		build(&in, pc[i].f);
		rec_init(&r);
		rv = run(pc[i].max, in.b, in.len, 1, 0, &r, &at);
		if (!ok(rv == pc[i].rv && at == pc[i].at && r.ncalls == 0,
		    "%s", pc[i].name))
			diag("got %d at byte %zu, want %d at %zu", rv, at,
			    pc[i].rv, pc[i].at);
		rec_free(&r);
		free(in.b);
	}

	/* 2^62 announced: refused once the header is in, 100 bytes early. */
	{
		struct tframe	f[2] = {
		    FRX(0x82, "", 100, 0, 1ULL << 62) };

		memset(&in, 0, sizeof(in));
		build(&in, f);
		rec_init(&r);
		rv = run(DEFMAX, in.b, in.len, 1, 0, &r, &at);
		ok(rv == WS_CLOSE_TOO_BIG && at <= 13,
		    "2^62 bytes refused within the header (byte %zu)", at);
		rec_free(&r);
		free(in.b);
	}
}

static void
test_stop(void)
{
	static const struct {
		const char	*name;
		int		 stop_on;
		const char	*log;
		struct tframe	 f[4];
	} sc[] = {
		{ "on_message stops", 1, "msg:1:a|",
		    { TEXT("a"), TEXT("b"), PING("c") } },
		{ "on_ping stops", 1, "ping:p|", { PING("p"), TEXT("t") } },
		{ "on_pong stops", 1, "pong:p|", { PONG("p"), TEXT("t") } },
		{ "on_close stops", 1, "close:1000:|",
		    { CLOSE("\x03\xe8") } },
		{ "second callback stops", 2, "ping:1|ping:2|",
		    { PING("1"), PING("2"), TEXT("t") } },
		{ "stop in the middle of a fragmented message", 1, "ping:p|",
		    { TEXT1("a"), PING("p"), CONTF("b") } },
	};
	struct buf		in;
	struct rec		r;
	struct ws_parser	p;
	char			e[256];
	size_t			i;
	int			rv;

	for (i = 0; i < sizeof(sc) / sizeof(sc[0]); i++) {
		memset(&in, 0, sizeof(in));
		build(&in, sc[i].f);
		rec_init(&r);
		r.stop_on = sc[i].stop_on;
		ws_parser_init(&p, DEFMAX, &rec_cb, &r);
		rv = ws_parser_feed(&p, in.b, in.len);
		if (!ok(rv == WS_PARSE_STOPPED && strcmp(r.log, sc[i].log) == 0,
		    "%s", sc[i].name))
			diag("got %d \"%s\"", rv, esc(r.log, e, sizeof(e)));
		ws_parser_free(&p);
		rec_free(&r);
		free(in.b);
	}
}

static void
test_no_callbacks(void)
{
	static const struct ws_callbacks	none;
	struct tframe	f[] = { TEXT("a"), TEXT1("b"), PING("p"),
			    PONG("q"), CONTF("c"), CLOSE("\x03\xe8"),
			    FR(0xc1, "x"),
			    { 0, NULL, 0, 0, 0, 0 } };
	struct buf		in;
	struct ws_parser	p;
	int			rv1, rv2;

	memset(&in, 0, sizeof(in));
	build(&in, f);
	ws_parser_init(&p, DEFMAX, NULL, NULL);
	rv1 = ws_parser_feed(&p, in.b, in.len);
	ws_parser_free(&p);
	ws_parser_init(&p, DEFMAX, &none, NULL);
	rv2 = feed(&p, in.b, in.len, 1, 0, NULL);
	ws_parser_free(&p);
	ok(rv1 == WS_PARSE_OK && rv2 == WS_PARSE_OK,
	    "no callbacks: every frame kind parsed, close ends it");
	free(in.b);
}

/* After a violation nothing is parsed and the same code comes back. */
static void
test_sticky(void)
{
	struct tframe	 bad[] = { FR(0xc1, "x"),
			    { 0, NULL, 0, 0, 0, 0 } };
	struct tframe	 good[] = { TEXT("hi"), { 0, NULL, 0, 0, 0, 0 } };
	struct buf	 b1, b2;
	struct rec	 r;
	struct ws_parser p;
	int		 rv1, rv2;

	memset(&b1, 0, sizeof(b1));
	memset(&b2, 0, sizeof(b2));
	build(&b1, bad);
	build(&b2, good);
	rec_init(&r);
	ws_parser_init(&p, DEFMAX, &rec_cb, &r);
	rv1 = ws_parser_feed(&p, b1.b, b1.len);
	rv2 = ws_parser_feed(&p, b2.b, b2.len);
	ok(rv1 == WS_CLOSE_PROTOCOL && rv2 == WS_CLOSE_PROTOCOL &&
	    r.ncalls == 0, "fed after 1002: 1002 again, nothing delivered");
	ws_parser_free(&p);
	rec_free(&r);
	free(b1.b);
	free(b2.b);
}

static void
test_buffer(void)
{
	struct tframe		 small[] = { TEXT("hello"),
				    { 0, NULL, 0, 0, 0, 0 } };
	struct tframe		 frag[] = { FRX(0x01, "", 300, 0, 0),
				    FRX(0x80, "", 300, 0, 0),
				    { 0, NULL, 0, 0, 0, 0 } };
	struct tframe		 capped[] = { FRX(0x01, "", 600, 0, 0),
				    FRX(0x80, "", 400, 0, 0),
				    { 0, NULL, 0, 0, 0, 0 } };
	struct tframe		 big[] = {
				    FRX(0x82, "", 5000, 0, 1ULL << 62),
				    { 0, NULL, 0, 0, 0, 0 } };
	struct tframe		 grow[] = { FRX(0x82, "", 70000, 0, 0),
				    { 0, NULL, 0, 0, 0, 0 } };
	struct buf		 in;
	struct rec		 r;
	struct ws_parser	 p;
	size_t			 i, maxcap, changes, cap;
	int			 rv, held, rvs;

	/* A single short frame is collected without any allocation. */
	memset(&in, 0, sizeof(in));
	build(&in, small);
	rec_init(&r);
	ws_parser_init(&p, DEFMAX, &rec_cb, &r);
	maxcap = 0;
	for (i = 0; i < in.len; i++) {
		ws_parser_feed(&p, in.b + i, 1);
		if (p.p_msgcap > maxcap)
			maxcap = p.p_msgcap;
	}
	ok(r.nmsg == 1 && maxcap == 0 && p.p_msg == NULL,
	    "short frame needs no message buffer");
	ws_parser_free(&p);
	rec_free(&r);
	free(in.b);

	/* Held while fragments are collected, released when it is whole. */
	memset(&in, 0, sizeof(in));
	build(&in, frag);
	rec_init(&r);
	ws_parser_init(&p, DEFMAX, &rec_cb, &r);
	/* The first fragment: 8-byte header and 300 bytes. */
	rv = ws_parser_feed(&p, in.b, 8 + 300);
	held = p.p_msg != NULL && p.p_msglen == 300;
	rvs = ws_parser_feed(&p, in.b + 308, in.len - 308);
	ok(rv == WS_PARSE_OK && rvs == WS_PARSE_OK && held &&
	    strcmp(r.log, "msg:1:[600 x]|") == 0 && p.p_msg == NULL &&
	    p.p_msgcap == 0 && p.p_msglen == 0,
	    "fragments buffered, buffer released after on_message");
	ws_parser_free(&p);
	rec_free(&r);
	free(in.b);

	/* A message cut short by 1009 leaves no buffer behind. */
	memset(&in, 0, sizeof(in));
	build(&in, frag);
	rec_init(&r);
	ws_parser_init(&p, 500, &rec_cb, &r);
	rv = ws_parser_feed(&p, in.b, in.len);
	ok(rv == WS_CLOSE_TOO_BIG && p.p_msg == NULL && r.ncalls == 0,
	    "buffer released on 1009 in the middle of a message");
	ws_parser_free(&p);
	rec_free(&r);
	free(in.b);

	/* The buffer never grows past the limit, even by doubling. */
	memset(&in, 0, sizeof(in));
	build(&in, capped);
	rec_init(&r);
	r.parser = &p;
	ws_parser_init(&p, 1000, &rec_cb, &r);
	maxcap = 0;
	for (i = 0; i < in.len; i++) {
		ws_parser_feed(&p, in.b + i, 1);
		if (p.p_msgcap > maxcap)
			maxcap = p.p_msgcap;
	}
	ok(strcmp(r.log, "msg:1:[1000 x]|") == 0 && maxcap <= 1000 &&
	    r.capseen >= 1000, "buffer capped at the limit (%zu)", maxcap);
	ws_parser_free(&p);
	rec_free(&r);
	free(in.b);

	/* 2^62 announced with no limit: memory follows what arrived. */
	memset(&in, 0, sizeof(in));
	build(&in, big);
	rec_init(&r);
	ws_parser_init(&p, SIZE_MAX, &rec_cb, &r);
	rv = ws_parser_feed(&p, in.b, in.len);
	ok(rv == WS_PARSE_OK && p.p_msglen == 5000 && p.p_msgcap >= 5000 &&
	    p.p_msgcap <= 10000,
	    "2^62 announced, 5000 sent: buffer of %zu bytes", p.p_msgcap);
	ws_parser_free(&p);
	ok(p.p_msg == NULL && p.p_msgcap == 0,
	    "ws_parser_free releases the buffer");
	rec_free(&r);
	free(in.b);

	/* Growth is geometric: few reallocations, whatever the pieces. */
	memset(&in, 0, sizeof(in));
	build(&in, grow);
	rec_init(&r);
	ws_parser_init(&p, DEFMAX, &rec_cb, &r);
	changes = 0;
	cap = 0;
	for (i = 0; i < in.len; i++) {
		ws_parser_feed(&p, in.b + i, 1);
		if (p.p_msgcap != cap && p.p_msgcap != 0) {
			changes++;
			cap = p.p_msgcap;
		}
	}
	ok(r.nmsg == 1 && changes <= 12,
	    "70000 bytes one at a time: %zu buffer sizes", changes);
	ws_parser_free(&p);
	rec_free(&r);
	free(in.b);
}

static void
test_utf8_validate(void)
{
	/* bad: index of the first bad byte; -1 valid; -2 incomplete */
	static const struct {
		const char	*name;
		const char	*s;
		size_t		 len;
		int		 bad;
	} uc[] = {
#define U(name, s, bad)	{ name, s, sizeof(s) - 1, bad }
		U("empty", "", -1),
		U("ASCII", "Hello, world", -1),
		U("NUL", "\x00", -1),
		U("U+007F", "\x7f", -1),
		U("U+0080", "\xc2\x80", -1),
		U("U+07FF", "\xdf\xbf", -1),
		U("U+0800", "\xe0\xa0\x80", -1),
		U("U+D7FF", "\xed\x9f\xbf", -1),
		U("U+E000", "\xee\x80\x80", -1),
		U("U+FFFF", "\xef\xbf\xbf", -1),
		U("U+10000", "\xf0\x90\x80\x80", -1),
		U("U+FFFFF", "\xf3\xbf\xbf\xbf", -1),
		U("U+10FFFF", "\xf4\x8f\xbf\xbf", -1),
		U("mixed", "a\xce\xba\xe2\x82\xac\xf0\x9f\x98\x80z", -1),
		U("lone 80", "\x80", 0),
		U("lone BF", "\xbf", 0),
		U("continuation after ASCII", "a\x80", 1),
		U("continuation after a whole sequence", "\xc2\x80\x80", 2),
		U("C0 80 (overlong NUL)", "\xc0\x80", 0),
		U("C1 BF (overlong)", "\xc1\xbf", 0),
		U("E0 80 80 (overlong)", "\xe0\x80\x80", 1),
		U("E0 9F BF (overlong)", "\xe0\x9f\xbf", 1),
		U("ED A0 80 (U+D800)", "\xed\xa0\x80", 1),
		U("ED BF BF (U+DFFF)", "\xed\xbf\xbf", 1),
		U("F0 80 80 80 (overlong)", "\xf0\x80\x80\x80", 1),
		U("F0 8F BF BF (overlong)", "\xf0\x8f\xbf\xbf", 1),
		U("F4 90 80 80 (U+110000)", "\xf4\x90\x80\x80", 1),
		U("F5", "\xf5\x80\x80\x80", 0),
		U("F8 (5-byte form)", "\xf8\x88\x80\x80\x80", 0),
		U("FE", "\xfe", 0),
		U("FF", "\xff", 0),
		U("ASCII where continuation due (2)", "\xc2" "A", 1),
		U("ASCII where continuation due (3)", "\xe1\x80" "A", 2),
		U("ASCII where continuation due (4)", "\xf1\x80\x80" "A", 3),
		U("lead where continuation due", "\xc2\xc2\x80", 1),
		U("incomplete 2-byte", "\xc2", -2),
		U("incomplete 3-byte", "\xe1\x80", -2),
		U("incomplete 4-byte", "\xf1\x80\x80", -2),
		U("incomplete U+10FFFF", "\xf4\x8f", -2),
#undef U
	};
	const unsigned char	*s;
	uint32_t		 st;
	size_t			 i, j;
	int			 rv, first, good;

	for (i = 0; i < sizeof(uc) / sizeof(uc[0]); i++) {
		s = (const unsigned char *)uc[i].s;
		st = 0;
		rv = utf8_validate(&st, s, uc[i].len);
		if (uc[i].bad >= 0)
			good = rv == -1;
		else
			good = rv == 0 && (st == 0) == (uc[i].bad == -1);

		st = 0;
		first = -1;
		for (j = 0; j < uc[i].len && first == -1; j++) {
			if (utf8_validate(&st, s + j, 1) == -1)
				first = j;
		}
		if (uc[i].bad >= 0)
			good = good && first == uc[i].bad;
		else
			good = good && first == -1 &&
			    (st == 0) == (uc[i].bad == -1);
		ok(good, "utf8_validate: %s", uc[i].name);
	}

	st = 0;
	rv = utf8_validate(&st, (const unsigned char *)"\xff", 1);
	ok(rv == -1 && utf8_validate(&st, (const unsigned char *)"a", 1) == -1,
	    "utf8_validate: a rejected text stays rejected");
}

static void
test_accept_key(void)
{
	static const struct {
		const char	*key;
		const char	*accept;
	} good[] = {
		/* RFC 6455, section 1.3 */
		{ "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" },
		{ "x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=" },
		{ "AAAAAAAAAAAAAAAAAAAAAA==", "ICX+Yqv66kxgM0FcWaLWlFLwTAI=" },
	};
	static const char	*bad[] = {
		"",
		"dGhlIHNhbXBsZSBub25jZQ=",	/* one pad short */
		"dGhlIHNhbXBsZSBub25jZQ",	/* no padding */
		"dGhlIHNhbXBsZSBub25jZQ===",	/* 25 characters */
		"dGhlIHNhbXBsZSBub25jZQA=",	/* 17 bytes */
		"dGhlIHNhbXBsZSBub25jZR==",	/* bits past the 16 bytes */
		"dGhlIHNhbXBsZSBub25j*Q==",	/* not base64 */
		"dGhlIHNhbXBsZSBub25j-Q==",	/* base64url */
		" dGhlIHNhbXBsZSBub25jZQ==",	/* leading blank */
		"dGhlIHNhbXBsZSBub25jZQ== ",	/* trailing blank */
		"dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==",
		"========================",
	};
	char	out[29];
	size_t	i;
	int	rv;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(out, 'z', sizeof(out));
		rv = ws_accept_key(good[i].key, out);
		if (!ok(rv == 0 && strcmp(out, good[i].accept) == 0,
		    "ws_accept_key(\"%s\")", good[i].key))
			diag("got %d \"%.29s\"", rv, out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(ws_accept_key(bad[i], out) == -1,
		    "ws_accept_key refuses \"%s\"", bad[i]);
	ok(ws_accept_key(NULL, out) == -1, "ws_accept_key refuses NULL");
}

static void
test_frame_header(void)
{
	static const struct {
		int		 op;
		uint64_t	 len;
		size_t		 n;
		unsigned char	 want[WS_MAX_HEADER];
	} fh[] = {
		{ WS_OP_TEXT, 0, 2, { 0x81, 0x00 } },
		{ WS_OP_TEXT, 125, 2, { 0x81, 0x7d } },
		{ WS_OP_BINARY, 126, 4, { 0x82, 0x7e, 0x00, 0x7e } },
		{ WS_OP_TEXT, 65535, 4, { 0x81, 0x7e, 0xff, 0xff } },
		{ WS_OP_TEXT, 65536, 10,
		    { 0x81, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0 } },
		{ WS_OP_BINARY, 0x0102030405060708ULL, 10,
		    { 0x82, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8 } },
		{ WS_OP_CLOSE, 2, 2, { 0x88, 0x02 } },
		{ WS_OP_PING, 5, 2, { 0x89, 0x05 } },
		{ WS_OP_PONG, 125, 2, { 0x8a, 0x7d } },
	};
	unsigned char	out[WS_MAX_HEADER + 4];
	size_t		i, n;

	for (i = 0; i < sizeof(fh) / sizeof(fh[0]); i++) {
		memset(out, 0xaa, sizeof(out));
		n = ws_frame_header(out, fh[i].op, fh[i].len);
		ok(n == fh[i].n && memcmp(out, fh[i].want, n) == 0 &&
		    out[n] == 0xaa, "ws_frame_header(%#x, %llu): %zu bytes",
		    fh[i].op, (unsigned long long)fh[i].len, fh[i].n);
	}
}

static void
test_close_payload(void)
{
	static const struct {
		const char	*name;
		size_t		 ascii;	/* 'a' bytes first */
		const char	*tail;		/* then this */
		size_t		 keep;	/* reason bytes kept */
	} cp[] = {
		{ "short reason", 0, "bye", 3 },
		{ "empty reason", 0, "", 0 },
		{ "123 bytes: whole", 123, "", 123 },
		{ "124 bytes: cut to 123", 124, "", 123 },
		{ "2-byte char across the end", 122, "\xc3\xa9", 122 },
		{ "3-byte char across the end", 121, "\xe2\x82\xac", 121 },
		{ "4-byte char across the end", 120, "\xf0\x9f\x98\x80", 120 },
		{ "4-byte char ending at 123", 119, "\xf0\x9f\x98\x80", 123 },
		{ "4-byte char ending at 124", 120, "\xf0\x9f\x98\x80" "b",
		    120 },
		{ "long multibyte reason", 0,
		    EUR15 EUR15 EUR15, 123 },
	};
	char			 reason[256];
	unsigned char		 out[WS_MAX_CONTROL + 8];
	struct tframe		 f[2];
	struct buf		 in;
	struct rec		 r;
	struct ws_parser	 p;
	size_t			 i, n;
	uint32_t		 st;
	int			 rv;

	for (i = 0; i < sizeof(cp) / sizeof(cp[0]); i++) {
		memset(reason, 'a', cp[i].ascii);
		strcpy(reason + cp[i].ascii, cp[i].tail);
		memset(out, 0xaa, sizeof(out));
		n = ws_close_payload(out, 1001, reason);
		st = 0;
		ok(n == 2 + cp[i].keep && out[0] == 0x03 && out[1] == 0xe9 &&
		    memcmp(out + 2, reason, cp[i].keep) == 0 &&
		    out[n] == 0xaa && utf8_validate(&st, out + 2, n - 2) == 0 &&
		    st == 0, "ws_close_payload: %s (%zu bytes)", cp[i].name, n);

		/* What we send, our own parser takes. */
		memset(f, 0, sizeof(f));
		f[0] = (struct tframe){ 0x88, (const char *)out, n, 0, 0, 0 };
		memset(&in, 0, sizeof(in));
		build(&in, f);
		rec_init(&r);
		ws_parser_init(&p, DEFMAX, &rec_cb, &r);
		rv = ws_parser_feed(&p, in.b, in.len);
		ok(rv == WS_PARSE_OK && r.nclose == 1 &&
		    strncmp(r.log, "close:1001:", 11) == 0,
		    "ws_close_payload: %s parses back", cp[i].name);
		ws_parser_free(&p);
		rec_free(&r);
		free(in.b);
	}

	memset(out, 0xaa, sizeof(out));
	n = ws_close_payload(out, WS_CLOSE_NORMAL, NULL);
	ok(n == 2 && out[0] == 0x03 && out[1] == 0xe8 && out[2] == 0xaa,
	    "ws_close_payload: NULL reason");
	n = ws_close_payload(out, 4999, "x");
	ok(n == 3 && out[0] == 0x13 && out[1] == 0x87 && out[2] == 'x',
	    "ws_close_payload: code 4999 big-endian");
	n = ws_close_payload(out, WS_CLOSE_NO_STATUS, "ignored");
	ok(n == 0, "ws_close_payload: 1005 gives an empty payload");
}

static void
test_close_code_valid(void)
{
	static const int	valid[] = { 1000, 1001, 1002, 1003, 1007, 1008,
				    1009, 1010, 1011, 1012, 1013, 1014, 3000,
				    3999, 4000, 4999 };
	static const int	invalid[] = { -1, 0, 999, 1004, 1005, 1006,
				    1015, 1016, 1100, 2000, 2999, 5000, 65535,
				    65536 };
	size_t			i;
	int			code, want, first = -1;

	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		ok(ws_close_code_valid(valid[i]) == 1,
		    "close code %d valid", valid[i]);
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		ok(ws_close_code_valid(invalid[i]) == 0,
		    "close code %d invalid", invalid[i]);
	for (code = 0; code <= 70000 && first == -1; code++) {
		want = (code >= 1000 && code <= 1003) ||
		    (code >= 1007 && code <= 1014) ||
		    (code >= 3000 && code <= 4999);
		if (ws_close_code_valid(code) != want)
			first = code;
	}
	if (!ok(first == -1, "close codes 0..70000 follow the rule"))
		diag("first wrong: %d", first);
}

int
main(void)
{
	test_table();
	test_reserved_opcodes();
	test_lengths();
	test_utf8_splits();
	test_fail_position();
	test_stop();
	test_no_callbacks();
	test_sticky();
	test_buffer();
	test_utf8_validate();
	test_accept_key();
	test_frame_header();
	test_close_payload();
	test_close_code_valid();
	return tap_done();
}
