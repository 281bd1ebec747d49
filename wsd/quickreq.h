/*
 * quickreq: the requests sent on every click,
 * {"op":"get"|"set"|"toggle"|"sim.pull",
 * "pin":NAME, "value":INT, "id":INT}: keys in any order, each at most once,
 * strings of printable ASCII without escapes, integers of at most 18
 * digits.  Read here without building a jansson object, the parse that
 * costs most of a request's time in wsd.  Any other message, however
 * slightly different, is left to jansson, which answers it as always.
 * Tested against jansson's reading of the same bytes
 * (tests/unit/quickreq-test.c).
 */
#ifndef GPIOWS_QUICKREQ_H
#define GPIOWS_QUICKREQ_H

#include <stddef.h>
#include <stdint.h>

struct quickreq {
	char	 op[16];
	char	 pin[72];
	int	 has_op, has_pin, has_value, has_id;
	int64_t	 value, id;
};

/* 1 and *q filled if the message is such a request, else 0. */
int	quickreq_parse(const unsigned char *, size_t, struct quickreq *);

#endif
