#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ws.h"

#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEYLEN	24
#define WS_MSG_MINCAP	256

/*
 * p_state.  Any other value is the error ws_parser_feed returned when the
 * parser failed: kept so that a caller who feeds again hears it again
 * rather than having bytes after a violation parsed as a fresh frame.
 */
enum {
	ST_HEADER,
	ST_PAYLOAD,
	ST_CLOSED
};

/*
 * utf8_validate state: bits 0-7 hold the lowest value allowed for the next
 * byte, bits 8-15 the highest, bits 16-17 how many continuation bytes are
 * still owed.  Only the byte after E0, ED, F0 and F4 has a range narrower
 * than 80..BF: that is where overlongs, surrogates and code points past
 * U+10FFFF are refused.  Rejection is sticky so that a caller who ignores
 * one -1 cannot get a 0 for the rest of the same text.
 */
#define UTF8_ST(need, lo, hi)	((uint32_t)(need) << 16 | (hi) << 8 | (lo))
#define UTF8_REJECT		0xffffffffU

static const struct ws_callbacks ws_nocallbacks;

static int	ws_fail(struct ws_parser *, int);
static void	ws_msg_release(struct ws_parser *);
static int	ws_msg_reserve(struct ws_parser *, size_t);
static int	ws_in_ctl(const struct ws_parser *);
static int	ws_header_start(struct ws_parser *);
static int	ws_header_end(struct ws_parser *);
static int	ws_payload(struct ws_parser *, const unsigned char *, size_t);
static int	ws_frame_end(struct ws_parser *);
static int	ws_close_frame(struct ws_parser *);
static int	b64_value(int);

void
ws_parser_init(struct ws_parser *p, size_t max_message,
    const struct ws_callbacks *cb, void *arg)
{
	memset(p, 0, sizeof(*p));
	p->p_cb = cb != NULL ? cb : &ws_nocallbacks;
	p->p_arg = arg;
	p->p_max = max_message;
	p->p_state = ST_HEADER;
	p->p_hdrneed = 2;
}

void
ws_parser_free(struct ws_parser *p)
{
	ws_msg_release(p);
}

int
ws_parser_feed(struct ws_parser *p, const unsigned char *data, size_t len)
{
	size_t	n;
	int	rv;

	if (p->p_state == ST_CLOSED)
		return WS_PARSE_OK;
	if (p->p_state != ST_HEADER && p->p_state != ST_PAYLOAD)
		return p->p_state;

	while (len > 0) {
		if (p->p_state == ST_HEADER) {
			n = p->p_hdrneed - p->p_hdrlen;
			if (n > len)
				n = len;
			memcpy(p->p_hdr + p->p_hdrlen, data, n);
			p->p_hdrlen += n;
			data += n;
			len -= n;
			if (p->p_hdrlen < p->p_hdrneed)
				continue;
			/*
			 * The first two bytes say how long the rest of the
			 * header is; most violations are caught there, before
			 * anything more is read.
			 */
			if (p->p_hdrneed == 2)
				rv = ws_header_start(p);
			else
				rv = ws_header_end(p);
			if (rv != WS_PARSE_OK)
				return ws_fail(p, rv);
			/* An empty payload ends the frame with its header. */
			if (p->p_state == ST_HEADER || p->p_remain > 0)
				continue;
		} else {
			n = len < p->p_remain ? len : (size_t)p->p_remain;
			if ((rv = ws_payload(p, data, n)) != WS_PARSE_OK)
				return ws_fail(p, rv);
			data += n;
			len -= n;
			if (p->p_remain > 0)
				continue;
		}

		rv = ws_frame_end(p);
		if (rv == WS_PARSE_STOPPED)
			return rv;
		if (rv != WS_PARSE_OK)
			return ws_fail(p, rv);
		if (p->p_state == ST_CLOSED)
			return WS_PARSE_OK;
	}
	return WS_PARSE_OK;
}

static int
ws_fail(struct ws_parser *p, int rv)
{
	/* The connection is going away: no reason to hold the message. */
	ws_msg_release(p);
	p->p_state = rv;
	return rv;
}

static void
ws_msg_release(struct ws_parser *p)
{
	free(p->p_msg);
	p->p_msg = NULL;
	p->p_msgcap = 0;
	p->p_msglen = 0;
	p->p_msgop = 0;
	p->p_utf8 = 0;
}

/*
 * Grow with the bytes that arrived, not with the length a header
 * announced: a client that announces p_max bytes and sends ten costs us
 * little.  Doubling keeps the copies linear; p_max caps the last step.
 */
static int
ws_msg_reserve(struct ws_parser *p, size_t need)
{
	unsigned char	*m;
	size_t		 cap;

	if (need <= p->p_msgcap)
		return 0;
	cap = p->p_msgcap > 0 ? p->p_msgcap : WS_MSG_MINCAP;
	while (cap < need && cap <= p->p_max / 2)
		cap *= 2;
	/* need <= p_max: ws_header_end refused anything larger. */
	if (cap < need || cap > p->p_max)
		cap = p->p_max;
	if ((m = realloc(p->p_msg, cap)) == NULL)
		return -1;
	p->p_msg = m;
	p->p_msgcap = cap;
	return 0;
}

/*
 * A control frame, and a data message that is a single frame of at most
 * WS_MAX_CONTROL bytes, is collected in p_ctl: no control frame can arrive
 * in the middle of one frame, and the short messages a dashboard sends then
 * cost no allocation.
 */
static int
ws_in_ctl(const struct ws_parser *p)
{
	return p->p_opcode != WS_OP_CONT && p->p_fin &&
	    p->p_done + p->p_remain <= WS_MAX_CONTROL;
}

static int
ws_header_start(struct ws_parser *p)
{
	unsigned char	b0 = p->p_hdr[0], b1 = p->p_hdr[1];
	unsigned int	len7 = b1 & 0x7f;

	p->p_fin = (b0 & 0x80) != 0;
	p->p_opcode = b0 & 0x0f;

	/* No extension is ever negotiated, so no RSV bit has a meaning. */
	if (b0 & 0x70)
		return WS_CLOSE_PROTOCOL;
	switch (p->p_opcode) {
	case WS_OP_CONT:
		if (p->p_msgop == 0)
			return WS_CLOSE_PROTOCOL;
		break;
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		if (p->p_msgop != 0)
			return WS_CLOSE_PROTOCOL;
		break;
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		if (!p->p_fin || len7 > WS_MAX_CONTROL)
			return WS_CLOSE_PROTOCOL;
		break;
	default:
		return WS_CLOSE_PROTOCOL;
	}
	if ((b1 & 0x80) == 0)
		return WS_CLOSE_PROTOCOL;

	p->p_hdrneed = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
	return WS_PARSE_OK;
}

static int
ws_header_end(struct ws_parser *p)
{
	const unsigned char	*h = p->p_hdr + 2;
	uint64_t		 len = p->p_hdr[1] & 0x7f;
	int			 i;

	if (len == 126) {
		len = (uint64_t)h[0] << 8 | h[1];
		h += 2;
	} else if (len == 127) {
		len = 0;
		for (i = 0; i < 8; i++)
			len = len << 8 | h[i];
		h += 8;
		if (len >> 63)
			return WS_CLOSE_PROTOCOL;
	}
	memcpy(p->p_mask, h, sizeof(p->p_mask));

	if (p->p_opcode < WS_OP_CLOSE) {
		/* Judged on what is announced, before a byte is buffered. */
		if (len > (uint64_t)(p->p_max - p->p_msglen))
			return WS_CLOSE_TOO_BIG;
		if (p->p_opcode != WS_OP_CONT) {
			p->p_msgop = p->p_opcode;
			p->p_utf8 = 0;
		}
	}
	p->p_remain = len;
	p->p_done = 0;
	p->p_ctllen = 0;
	p->p_state = ST_PAYLOAD;
	return WS_PARSE_OK;
}

static int
ws_payload(struct ws_parser *p, const unsigned char *data, size_t n)
{
	unsigned char	*dst;
	size_t		 i;
	int		 inctl = ws_in_ctl(p);

	if (inctl)
		dst = p->p_ctl + p->p_ctllen;
	else {
		if (ws_msg_reserve(p, p->p_msglen + n) == -1)
			return WS_PARSE_NOMEM;
		dst = p->p_msg + p->p_msglen;
	}
	for (i = 0; i < n; i++)
		dst[i] = data[i] ^ p->p_mask[(p->p_done + i) & 3];
	if (inctl)
		p->p_ctllen += n;
	else
		p->p_msglen += n;
	p->p_done += n;
	p->p_remain -= n;

	/* Checked as it arrives: a bad byte fails before the message ends. */
	if (p->p_opcode < WS_OP_CLOSE && p->p_msgop == WS_OP_TEXT &&
	    utf8_validate(&p->p_utf8, dst, n) == -1)
		return WS_CLOSE_BAD_DATA;
	return WS_PARSE_OK;
}

static int
ws_frame_end(struct ws_parser *p)
{
	const struct ws_callbacks	*cb = p->p_cb;
	const unsigned char		*buf;
	size_t				 len;
	int				 op, rv = 0;

	p->p_state = ST_HEADER;
	p->p_hdrlen = 0;
	p->p_hdrneed = 2;

	switch (p->p_opcode) {
	case WS_OP_PING:
		if (cb->on_ping != NULL)
			rv = cb->on_ping(p->p_arg, p->p_ctl, p->p_ctllen);
		break;
	case WS_OP_PONG:
		if (cb->on_pong != NULL)
			rv = cb->on_pong(p->p_arg, p->p_ctl, p->p_ctllen);
		break;
	case WS_OP_CLOSE:
		return ws_close_frame(p);
	default:
		if (!p->p_fin)
			return WS_PARSE_OK;
		if (p->p_msgop == WS_OP_TEXT && p->p_utf8 != 0)
			return WS_CLOSE_BAD_DATA;
		if (ws_in_ctl(p)) {
			buf = p->p_ctl;
			len = p->p_ctllen;
		} else {
			/* Never hand a callback NULL, even with len 0. */
			buf = p->p_msg != NULL ? p->p_msg : p->p_ctl;
			len = p->p_msglen;
		}
		op = p->p_msgop;
		if (cb->on_message != NULL)
			rv = cb->on_message(p->p_arg, op, buf, len);
		ws_msg_release(p);
		break;
	}
	return rv != 0 ? WS_PARSE_STOPPED : WS_PARSE_OK;
}

static int
ws_close_frame(struct ws_parser *p)
{
	const struct ws_callbacks	*cb = p->p_cb;
	const char			*reason = (const char *)p->p_ctl;
	size_t				 len = 0;
	uint32_t			 st = 0;
	int				 code = WS_CLOSE_NO_STATUS;

	if (p->p_ctllen == 1)
		return WS_CLOSE_PROTOCOL;
	if (p->p_ctllen >= 2) {
		code = p->p_ctl[0] << 8 | p->p_ctl[1];
		if (!ws_close_code_valid(code))
			return WS_CLOSE_PROTOCOL;
		reason += 2;
		len = p->p_ctllen - 2;
		if (utf8_validate(&st, p->p_ctl + 2, len) == -1 || st != 0)
			return WS_CLOSE_BAD_DATA;
	}

	/* A fragmented message still open will never be finished. */
	ws_msg_release(p);
	p->p_state = ST_CLOSED;
	if (cb->on_close != NULL && cb->on_close(p->p_arg, code, reason, len))
		return WS_PARSE_STOPPED;
	return WS_PARSE_OK;
}

size_t
ws_frame_header(unsigned char *out, int opcode, uint64_t len)
{
	int	i;

	out[0] = 0x80 | (opcode & 0x0f);
	if (len <= 125) {
		out[1] = len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = len >> 8;
		out[3] = len & 0xff;
		return 4;
	}
	out[1] = 127;
	for (i = 0; i < 8; i++)
		out[2 + i] = (len >> (56 - 8 * i)) & 0xff;
	return 10;
}

size_t
ws_close_payload(unsigned char *out, int code, const char *reason)
{
	size_t	n;

	/*
	 * 1005 stands for "no code" and may not be sent: the wire form of
	 * that is an empty payload, which is what echoing such a close needs.
	 */
	if (code == WS_CLOSE_NO_STATUS)
		return 0;
	out[0] = (code >> 8) & 0xff;
	out[1] = code & 0xff;
	n = reason != NULL ? strnlen(reason, WS_MAX_CONTROL) : 0;
	if (n > WS_MAX_CONTROL - 2) {
		n = WS_MAX_CONTROL - 2;
		/* reason[n] is the first byte dropped: drop its character. */
		while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
			n--;
	}
	if (n > 0)
		memcpy(out + 2, reason, n);
	return 2 + n;
}

int
ws_close_code_valid(int code)
{
	/* 1004 is reserved; 1005, 1006 and 1015 only report local events. */
	if (code >= 1000 && code <= 1003)
		return 1;
	if (code >= 1007 && code <= 1014)
		return 1;
	return code >= 3000 && code <= 4999;
}

static int
b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
ws_accept_key(const char *key, char out[29])
{
	unsigned char	buf[WS_KEYLEN + sizeof(WS_GUID) - 1];
	unsigned char	md[SHA_DIGEST_LENGTH];
	int		i, v = 0;

	out[0] = '\0';
	/*
	 * 16 bytes are 22 symbols and "==".  The symbols carry 132 bits: the
	 * last symbol's low 4 bits must be 0, or the text is not the canonical
	 * encoding of 16 bytes.
	 */
	if (key == NULL || strnlen(key, WS_KEYLEN + 1) != WS_KEYLEN ||
	    key[22] != '=' || key[23] != '=')
		return -1;
	for (i = 0; i < 22; i++) {
		if ((v = b64_value((unsigned char)key[i])) == -1)
			return -1;
	}
	if (v & 0x0f)
		return -1;

	memcpy(buf, key, WS_KEYLEN);
	memcpy(buf + WS_KEYLEN, WS_GUID, sizeof(WS_GUID) - 1);
	SHA1(buf, sizeof(buf), md);
	EVP_EncodeBlock((unsigned char *)out, md, sizeof(md));
	return 0;
}

int
utf8_validate(uint32_t *state, const unsigned char *s, size_t len)
{
	uint32_t	st = *state, need;
	size_t		i;
	unsigned char	c;

	if (st == UTF8_REJECT)
		return -1;
	for (i = 0; i < len; i++) {
		c = s[i];
		if (st != 0) {
			if (c < (st & 0xff) || c > ((st >> 8) & 0xff))
				goto bad;
			need = (st >> 16) - 1;
			st = need > 0 ? UTF8_ST(need, 0x80, 0xbf) : 0;
			continue;
		}
		if (c < 0x80)
			continue;
		if (c < 0xc2)		/* continuation, or C0/C1 overlong */
			goto bad;
		else if (c < 0xe0)
			st = UTF8_ST(1, 0x80, 0xbf);
		else if (c == 0xe0)	/* overlong below U+0800 */
			st = UTF8_ST(2, 0xa0, 0xbf);
		else if (c == 0xed)	/* surrogates U+D800..DFFF */
			st = UTF8_ST(2, 0x80, 0x9f);
		else if (c < 0xf0)
			st = UTF8_ST(2, 0x80, 0xbf);
		else if (c == 0xf0)	/* overlong below U+10000 */
			st = UTF8_ST(3, 0x90, 0xbf);
		else if (c < 0xf4)
			st = UTF8_ST(3, 0x80, 0xbf);
		else if (c == 0xf4)	/* past U+10FFFF */
			st = UTF8_ST(3, 0x80, 0x8f);
		else
			goto bad;
	}
	*state = st;
	return 0;
bad:
	*state = UTF8_REJECT;
	return -1;
}
