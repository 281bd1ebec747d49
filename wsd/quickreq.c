/*
 * quickreq: the scanner of wsd's common requests (quickreq.h).
 */
#include "config.h"

#include <string.h>

#include "quickreq.h"

/* Past JSON's white space; NULL stays NULL, for a chain of calls. */
static const unsigned char *
qr_space(const unsigned char *p, const unsigned char *e)
{
	if (p == NULL)
		return NULL;
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static const unsigned char *
qr_string(const unsigned char *p, const unsigned char *e, char *dst,
    size_t size)
{
	size_t	 n = 0;

	if (p == NULL || p == e || *p++ != '"')
		return NULL;
	for (; p < e && *p != '"'; p++) {
		if (*p < 0x20 || *p > 0x7e || *p == '\\' || n + 1 >= size)
			return NULL;
		dst[n++] = (char)*p;
	}
	if (p == e)
		return NULL;
	dst[n] = '\0';
	return p + 1;
}

static const unsigned char *
qr_integer(const unsigned char *p, const unsigned char *e, int64_t *v)
{
	int64_t	 x = 0;
	int	 neg = 0, digits = 0;

	if (p < e && *p == '-') {
		neg = 1;
		p++;
	}
	if (p == e || *p < '0' || *p > '9')
		return NULL;
	if (*p == '0' && (neg || (p + 1 < e && p[1] >= '0' && p[1] <= '9')))
		return NULL;	/* -0, 01: jansson's to judge */
	for (; p < e && *p >= '0' && *p <= '9'; p++) {
		if (++digits > 18)
			return NULL;
		x = x * 10 + (*p - '0');
	}
	if (p < e && (*p == '.' || *p == 'e' || *p == 'E'))
		return NULL;
	*v = neg ? -x : x;
	return p;
}

int
quickreq_parse(const unsigned char *p, size_t len, struct quickreq *q)
{
	const unsigned char	*e = p + len;
	char			 key[8];

	memset(q, 0, sizeof(*q));
	p = qr_space(p, e);
	if (p == e || *p++ != '{')
		return 0;
	for (;;) {
		p = qr_space(qr_string(qr_space(p, e), e, key, sizeof(key)), e);
		if (p == NULL || p == e || *p++ != ':')
			return 0;
		p = qr_space(p, e);
		if (strcmp(key, "op") == 0 && !q->has_op) {
			p = qr_string(p, e, q->op, sizeof(q->op));
			q->has_op = 1;
		} else if (strcmp(key, "pin") == 0 && !q->has_pin) {
			p = qr_string(p, e, q->pin, sizeof(q->pin));
			q->has_pin = 1;
		} else if (strcmp(key, "value") == 0 && !q->has_value) {
			p = qr_integer(p, e, &q->value);
			q->has_value = 1;
		} else if (strcmp(key, "id") == 0 && !q->has_id) {
			p = qr_integer(p, e, &q->id);
			q->has_id = 1;
		} else
			return 0;
		if (p == NULL || (p = qr_space(p, e)) == e)
			return 0;
		if (*p == '}')
			break;
		if (*p++ != ',')
			return 0;
	}
	if (qr_space(p + 1, e) != e || !q->has_op)
		return 0;
	return strcmp(q->op, "get") == 0 || strcmp(q->op, "set") == 0 ||
	    strcmp(q->op, "toggle") == 0 || strcmp(q->op, "sim.pull") == 0;
}
