/*
 * quickreq_parse against jansson: whatever the scanner takes, jansson must
 * read as the same object (the same op, pin, value and id, and no other
 * key), since wsd answers it without asking jansson.  What the scanner
 * refuses goes to jansson in wsd, so refusing is always safe; the test only
 * checks that the common requests are taken.
 *
 * Known cases first, then mutations of them from a fixed seed: bytes
 * changed, inserted, removed, the text cut short.  Each input is in a
 * buffer of its exact size, so that a read past its end is caught by
 * AddressSanitizer or valgrind.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "quickreq.h"
#include "tap.h"

#define MUTATIONS	60000

/* The scanner's reading of s, checked against jansson's: NULL if they agree. */
static const char *
disagreement(const char *s, size_t len, int *taken)
{
	struct quickreq	 q;
	unsigned char	*buf;
	json_t		*o, *v;
	json_error_t	 err;
	const char	*why = NULL;
	int		 r, keys;

	if ((buf = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(buf, s, len);
	r = quickreq_parse(buf, len, &q);
	free(buf);
	*taken = r;
	if (!r)
		return NULL;
	o = json_loadb(s, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (!json_is_object(o)) {
		json_decref(o);
		return "taken, but not a JSON object to jansson";
	}
	keys = q.has_op + q.has_pin + q.has_value + q.has_id;
	if (json_object_size(o) != (size_t)keys)
		why = "another number of keys";
	else if (!json_is_string(v = json_object_get(o, "op")) ||
	    strcmp(json_string_value(v), q.op) != 0)
		why = "another op";
	else if (q.has_pin && (!json_is_string(v = json_object_get(o, "pin")) ||
	    json_string_length(v) != strlen(q.pin) ||
	    strcmp(json_string_value(v), q.pin) != 0))
		why = "another pin";
	else if (q.has_value && (!json_is_integer(v = json_object_get(o,
	    "value")) || json_integer_value(v) != q.value))
		why = "another value";
	else if (q.has_id && (!json_is_integer(v = json_object_get(o, "id")) ||
	    json_integer_value(v) != q.id))
		why = "another id";
	else if (strcmp(q.op, "get") != 0 && strcmp(q.op, "set") != 0 &&
	    strcmp(q.op, "toggle") != 0 && strcmp(q.op, "sim.pull") != 0)
		why = "an op that is not get, set, toggle or sim.pull";
	json_decref(o);
	return why;
}

/* s made fit for one TAP line: escapes for what is not printable ASCII. */
static const char *
shown(const char *s)
{
	static char	 out[512];
	size_t		 n = 0;

	for (; *s != '\0' && n + 5 < sizeof(out); s++) {
		if (*s >= 0x20 && *s < 0x7f)
			out[n++] = *s;
		else
			n += (size_t)snprintf(out + n, sizeof(out) - n, "\\x%02x",
			    (unsigned char)*s);
	}
	out[n] = '\0';
	return out;
}

static const char *const taken[] = {
	"{\"op\":\"toggle\",\"pin\":\"led\",\"id\":1}",
	"{\"op\":\"set\",\"pin\":\"led\",\"value\":1,\"id\":42}",
	"{\"id\":7,\"value\":0,\"pin\":\"relay\",\"op\":\"set\"}",
	"{\"op\":\"get\",\"pin\":\"button\"}",
	"{\"op\":\"sim.pull\",\"pin\":\"button\",\"value\":1,\"id\":-3}",
	" {\n\t\"op\" : \"get\" ,\r\n \"pin\" : \"led\" } \n",
	"{\"op\":\"get\",\"pin\":\"led\",\"id\":999999999999999999}",
	"{\"op\":\"set\",\"pin\":\"led\",\"value\":2}",	/* bad_value, later */
	"{\"op\":\"set\",\"pin\":\"led\"}",		/* no value, later */
	"{\"op\":\"toggle\"}",				/* no pin, later */
	"{\"op\":\"get\",\"pin\":\"\"}",
};

static const char *const refused[] = {
	"", "{", "}", "{}", "{ }", "[]", "null", "\"get\"",
	"{\"op\":\"get\",}", "{,\"op\":\"get\"}", "{\"op\":\"get\"",
	"{\"op\":\"get\"}x", "{\"op\":\"get\"} {}", "{\"op\" \"get\"}",
	"{\"op\":\"frob\",\"pin\":\"led\"}", "{\"op\":\"\"}",
	"{\"op\":\"resume\",\"since\":3}", "{\"pin\":\"led\"}",
	"{\"op\":\"get\",\"op\":\"get\"}", "{\"op\":\"get\",\"pin\":\"a\",\"pin\":\"a\"}",
	"{\"op\":\"get\",\"x\":1}", "{\"op\":\"get\",\"longerkey\":1}",
	"{\"o\\u0070\":\"get\"}", "{\"op\":\"g\\u0065t\"}",
	"{\"op\":\"get\",\"pin\":\"l\xc3\xab" "d\"}",
	"{\"op\":\"get\",\"pin\":\"a\x01\"}",
	"{\"op\":\"get\",\"pin\":7}", "{\"op\":7}", "{\"op\":null}",
	"{\"op\":\"set\",\"pin\":\"led\",\"value\":true}",
	"{\"op\":\"set\",\"pin\":\"led\",\"value\":\"1\"}",
	"{\"op\":\"set\",\"pin\":\"led\",\"value\":1.0}",
	"{\"op\":\"set\",\"pin\":\"led\",\"value\":1e0}",
	"{\"op\":\"set\",\"pin\":\"led\",\"value\":01}",
	"{\"op\":\"set\",\"pin\":\"led\",\"value\":-0}",
	"{\"op\":\"set\",\"pin\":\"led\",\"value\":+1}",
	"{\"op\":\"set\",\"pin\":\"led\",\"value\":-}",
	"{\"op\":\"get\",\"pin\":\"led\",\"id\":1234567890123456789}",
	"{\"op\":\"get\",\"pin\":\"led\",\"id\":\"x\"}",
	"{\"op\":\"get\",\"pin\":\"led\",\"id\":[1]}",
};

/* Bytes a mutation inserts: JSON's punctuation, digits, quotes, escapes. */
static const char alphabet[] = "{}[]:,\" \t\r\n\\-+.0123456789eEaoptgs\x01\x7f\xc3";

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

int
main(void)
{
	char		 s[256];
	const char	*why, *bad = NULL;
	size_t		 i, len, at;
	int		 t, nbad = 0, ntaken = 0, k, m;

	for (i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		why = disagreement(taken[i], strlen(taken[i]), &t);
		ok(t && why == NULL, "taken as jansson reads it: %s",
		    shown(taken[i]));
		if (why != NULL)
			diag("%s", why);
	}
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		disagreement(refused[i], strlen(refused[i]), &t);
		ok(!t, "left to jansson: %s", shown(refused[i]));
	}

	for (k = 0; k < MUTATIONS; k++) {
		const char *base = taken[next() % (sizeof(taken) /
		    sizeof(taken[0]))];

		len = strlen(base);
		memcpy(s, base, len);
		for (m = 1 + next() % 3; m > 0; m--) {
			at = len ? next() % len : 0;
			switch (next() % 4) {
			case 0:		/* change a byte */
				if (len)
					s[at] = alphabet[next() %
					    (sizeof(alphabet) - 1)];
				break;
			case 1:		/* insert one */
				if (len + 1 < sizeof(s)) {
					memmove(s + at + 1, s + at, len - at);
					s[at] = alphabet[next() %
					    (sizeof(alphabet) - 1)];
					len++;
				}
				break;
			case 2:		/* remove one */
				if (len) {
					memmove(s + at, s + at + 1,
					    len - at - 1);
					len--;
				}
				break;
			default:	/* cut the text short */
				len = at;
			}
		}
		if ((why = disagreement(s, len, &t)) != NULL) {
			if (nbad++ == 0) {
				bad = why;
				s[len] = '\0';
				diag("%s: %s", why, shown(s));
			}
		}
		ntaken += t;
	}
	ok(nbad == 0, "%d mutated requests: the scanner and jansson agree on "
	    "every one it takes (%d disagreed%s%s)", MUTATIONS, nbad,
	    bad ? ", first: " : "", bad ? bad : "");
	ok(ntaken > MUTATIONS / 50, "and it took some of them (%d)", ntaken);
	return tap_done();
}
