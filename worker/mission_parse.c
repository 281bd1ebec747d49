/*
 * The mission parser: checks a client's mission object against the format of
 * gpiows-protocol(7) and builds a struct mission_spec, or stops at the first
 * problem with "PATH: RULE".
 *
 * Paths: top-level fields by name ("name", "steps[2]"), members after a dot,
 * array elements in brackets: "steps[2].repeat.steps[0].sleep.ms".  The
 * mission object itself has no name of its own in that scheme; it is called
 * "mission", the key the client sent it under, so that the message reads
 * "mission: must be an object" and not ": must be an object".
 *
 * Order: within an object, a key the format does not know is reported
 * before anything else (a misspelt "stpes" explains the missing "steps"
 * better than "steps: is required" would), then the known keys in the order
 * the format lists them; arrays in index order.  So the error a client sees
 * does not depend on the order of the keys in its text.
 *
 * Names from the client appear in messages only once they are known to be
 * harmless: pin names are quoted only when they are valid pin names, and
 * unknown keys are cut short and have unprintable bytes replaced, since the
 * message may end up in a log line.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mission.h"

#define MP_PATH_SIZE	512	/* 8 repeats deep is under 200 bytes */
#define MP_KEY_SHOWN	32	/* bytes of an unknown key put in a path */

#define EDGE_RISING	1
#define EDGE_FALLING	2
#define EDGE_BOTH	(EDGE_RISING | EDGE_FALLING)

struct mp {
	const struct mission_pins	*pins;
	char				*err;
	size_t				 errlen;
	char				 path[MP_PATH_SIZE];
	size_t				 pathlen;
};

static const char * const top_fields[] = {
	"name", "steps", "on_cancel", "resume", NULL
};
static const char * const set_fields[] = { "pin", "value", NULL };
static const char * const toggle_fields[] = { "pin", NULL };
static const char * const sleep_fields[] = { "ms", NULL };
static const char * const wait_fields[] = {
	"pin", "edge", "timeout_ms", "on_timeout", NULL
};
static const char * const repeat_fields[] = { "count", "steps", NULL };

static int	mp_error(struct mp *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static size_t	mp_push_key(struct mp *, const char *, size_t);
static size_t	mp_push_index(struct mp *, size_t);
static void	mp_pop(struct mp *, size_t);
static int	mp_fields(struct mp *, const json_t *, const char * const *);
static int	mp_uint(struct mp *, const json_t *, const char *, uint32_t,
		    uint32_t, uint32_t *);
static int	mp_pin(struct mp *, const json_t *, int, struct step *,
		    int *);
static int	mp_steps(struct mp *, const json_t *, int, struct step **,
		    size_t *);
static int	mp_step(struct mp *, const json_t *, int, struct step *);
static int	mp_set(struct mp *, const json_t *, struct step *);
static int	mp_toggle(struct mp *, const json_t *, struct step *);
static int	mp_sleep(struct mp *, const json_t *, struct step *);
static int	mp_wait(struct mp *, const json_t *, struct step *);
static int	mp_repeat(struct mp *, const json_t *, int, struct step *);
static void	steps_free(struct step *, size_t);
static size_t	steps_outputs(const struct step *, size_t,
		    char (*)[GPIOWS_NAME_SIZE], size_t, size_t);

/* Writes "PATH: RULE" into the caller's buffer; returns -1 to pass on. */
static int
mp_error(struct mp *mp, const char *fmt, ...)
{
	char	 rule[256];
	va_list	 ap;

	if (mp->err == NULL || mp->errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(rule, sizeof(rule), fmt, ap);
	va_end(ap);
	snprintf(mp->err, mp->errlen, "%s: %s",
	    mp->pathlen == 0 ? "mission" : mp->path, rule);
	return -1;
}

/*
 * The push functions return the old length for mp_pop.  A path too long
 * for the buffer is cut, never overrun; the depth and key limits keep real
 * paths far below it.
 */
static size_t
mp_push_key(struct mp *mp, const char *key, size_t keylen)
{
	size_t	 old = mp->pathlen, n = mp->pathlen, i;
	char	*p = mp->path;

	if (n > 0 && n < sizeof(mp->path) - 1)
		p[n++] = '.';
	for (i = 0; i < keylen && i < MP_KEY_SHOWN &&
	    n < sizeof(mp->path) - 1; i++) {
		unsigned char	 c = (unsigned char)key[i];

		p[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (i < keylen && n + 3 < sizeof(mp->path)) {
		memcpy(p + n, "...", 3);
		n += 3;
	}
	p[n] = '\0';
	mp->pathlen = n;
	return old;
}

static size_t
mp_push_index(struct mp *mp, size_t idx)
{
	size_t	 old = mp->pathlen;
	int	 r;

	r = snprintf(mp->path + old, sizeof(mp->path) - old, "[%zu]", idx);
	if (r < 0 || (size_t)r >= sizeof(mp->path) - old)
		mp->pathlen = sizeof(mp->path) - 1;
	else
		mp->pathlen = old + (size_t)r;
	return old;
}

static void
mp_pop(struct mp *mp, size_t old)
{
	mp->pathlen = old;
	mp->path[old] = '\0';
}

/* The first key of o not in known, in the object's own order, is an error. */
static int
mp_fields(struct mp *mp, const json_t *o, const char * const *known)
{
	const char	*key;
	size_t		 keylen, i;
	void		*it;

	/*
	 * jansson's iterators take a non-const object; they only read it, and
	 * this loop changes nothing.
	 */
	for (it = json_object_iter((json_t *)o); it != NULL;
	    it = json_object_iter_next((json_t *)o, it)) {
		key = json_object_iter_key(it);
		keylen = json_object_iter_key_len(it);
		for (i = 0; known[i] != NULL; i++)
			if (strlen(known[i]) == keylen &&
			    memcmp(known[i], key, keylen) == 0)
				break;
		if (known[i] == NULL) {
			mp_push_key(mp, key, keylen);
			return mp_error(mp, "unknown field");
		}
	}
	return 0;
}

/*
 * An integer member in lo..hi.  A real is refused even when it is whole
 * (1.0): the format says integer, and a client that sends reals has a bug
 * we should show it.
 */
static int
mp_uint(struct mp *mp, const json_t *o, const char *key, uint32_t lo,
    uint32_t hi, uint32_t *out)
{
	const json_t	*v = json_object_get(o, key);
	json_int_t	 n;
	size_t		 old;
	int		 rv = 0;

	old = mp_push_key(mp, key, strlen(key));
	if (v == NULL)
		rv = mp_error(mp, "is required");
	else if (!json_is_integer(v) || (n = json_integer_value(v)) < lo ||
	    n > hi)
		rv = mp_error(mp, "must be %u..%u", lo, hi);
	else
		*out = (uint32_t)n;
	mp_pop(mp, old);
	return rv;
}

/*
 * The "pin" member of a set, toggle or wait: a configured pin of the right
 * direction.  The name is checked against the pin name syntax first, both
 * to keep arbitrary bytes out of the message and because a string with a
 * NUL in it would otherwise be looked up by its first part only.
 */
static int
mp_pin(struct mp *mp, const json_t *o, int want_output, struct step *s,
    int *edges)
{
	const json_t	*v = json_object_get(o, "pin");
	const char	*name;
	size_t		 len, old;
	int		 output = 0, rv = -1;

	*edges = 0;
	old = mp_push_key(mp, "pin", 3);
	if (v == NULL) {
		mp_error(mp, "is required");
		goto done;
	}
	if (!json_is_string(v)) {
		mp_error(mp, "must be a string");
		goto done;
	}
	name = json_string_value(v);
	len = json_string_length(v);
	if (len == 0 || len > GPIOWS_NAME_MAX ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_.-") != len) {
		mp_error(mp, "is not a valid pin name");
		goto done;
	}
	if (mp->pins == NULL || mp->pins->lookup == NULL ||
	    mp->pins->lookup(mp->pins->arg, name, &output, edges) == 0) {
		mp_error(mp, "no pin named \"%s\"", name);
		goto done;
	}
	if (want_output && !output) {
		mp_error(mp, "\"%s\" is an input", name);
		goto done;
	}
	if (!want_output && output) {
		mp_error(mp, "\"%s\" is an output", name);
		goto done;
	}
	memcpy(s->s_pin, name, len + 1);
	rv = 0;
 done:
	mp_pop(mp, old);
	return rv;
}

static int
mp_set(struct mp *mp, const json_t *o, struct step *s)
{
	const json_t	*v;
	size_t		 old;
	int		 edges, rv = 0;

	s->s_kind = STEP_SET;
	if (mp_fields(mp, o, set_fields) == -1 ||
	    mp_pin(mp, o, 1, s, &edges) == -1)
		return -1;
	old = mp_push_key(mp, "value", 5);
	v = json_object_get(o, "value");
	if (v == NULL)
		rv = mp_error(mp, "is required");
	else if (!json_is_integer(v) || (json_integer_value(v) != 0 &&
	    json_integer_value(v) != 1))
		rv = mp_error(mp, "must be 0 or 1");
	else
		s->s_value = (int)json_integer_value(v);
	mp_pop(mp, old);
	return rv;
}

static int
mp_toggle(struct mp *mp, const json_t *o, struct step *s)
{
	int	 edges;

	s->s_kind = STEP_TOGGLE;
	if (mp_fields(mp, o, toggle_fields) == -1)
		return -1;
	return mp_pin(mp, o, 1, s, &edges);
}

static int
mp_sleep(struct mp *mp, const json_t *o, struct step *s)
{
	s->s_kind = STEP_SLEEP;
	if (mp_fields(mp, o, sleep_fields) == -1)
		return -1;
	return mp_uint(mp, o, "ms", 1, MISSION_MAX_MS, &s->s_ms);
}

static int
mp_wait(struct mp *mp, const json_t *o, struct step *s)
{
	const json_t	*v;
	const char	*str;
	size_t		 old;
	int		 watched, rv = 0;

	s->s_kind = STEP_WAIT;
	if (mp_fields(mp, o, wait_fields) == -1 ||
	    mp_pin(mp, o, 0, s, &watched) == -1)
		return -1;

	old = mp_push_key(mp, "edge", 4);
	v = json_object_get(o, "edge");
	str = json_is_string(v) ? json_string_value(v) : "";
	if (v == NULL)
		rv = mp_error(mp, "is required");
	else if (strcmp(str, "rising") == 0)
		s->s_edge = EDGE_RISING;
	else if (strcmp(str, "falling") == 0)
		s->s_edge = EDGE_FALLING;
	else if (strcmp(str, "both") == 0)
		s->s_edge = EDGE_BOTH;
	else
		rv = mp_error(mp, "must be \"rising\", \"falling\" or \"both\"");
	/*
	 * json_string_value stops at a NUL, so "both\u0000x" would pass the
	 * comparisons above: the length settles it.
	 */
	if (rv == 0 && json_string_length(v) != strlen(str))
		rv = mp_error(mp, "must be \"rising\", \"falling\" or \"both\"");
	/* An edge the helper does not watch would never come: refuse it now. */
	if (rv == 0 && (watched & s->s_edge) != s->s_edge)
		rv = mp_error(mp, "pin \"%s\" does not watch %s edges",
		    s->s_pin, str);
	mp_pop(mp, old);
	if (rv == -1)
		return -1;

	if (mp_uint(mp, o, "timeout_ms", 1, MISSION_MAX_MS,
	    &s->s_timeout_ms) == -1)
		return -1;

	old = mp_push_key(mp, "on_timeout", 10);
	v = json_object_get(o, "on_timeout");
	str = json_is_string(v) ? json_string_value(v) : "";
	if (v == NULL || (strcmp(str, "fail") == 0 &&
	    json_string_length(v) == 4))
		s->s_continue = 0;
	else if (strcmp(str, "continue") == 0 && json_string_length(v) == 8)
		s->s_continue = 1;
	else
		rv = mp_error(mp, "must be \"fail\" or \"continue\"");
	mp_pop(mp, old);
	return rv;
}

static int
mp_repeat(struct mp *mp, const json_t *o, int depth, struct step *s)
{
	s->s_kind = STEP_REPEAT;
	if (mp_fields(mp, o, repeat_fields) == -1 ||
	    mp_uint(mp, o, "count", 1, MISSION_MAX_COUNT, &s->s_count) == -1)
		return -1;
	return mp_steps(mp, o, depth + 1, &s->s_steps, &s->s_nsteps);
}

/*
 * A name shown to every client, in running text: no control characters
 * (C0, DEL, C1) and none of the marks that would turn the text after it
 * around (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069).  s is
 * UTF-8 (jansson has checked it).
 */
static int
name_printable(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s, *end = p + len;

	for (; p < end; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
		if (p[0] == 0xc2 && p + 1 < end && p[1] >= 0x80 && p[1] <= 0x9f)
			return 0;
		if (p[0] == 0xd8 && p + 1 < end && p[1] == 0x9c)
			return 0;
		if (p[0] == 0xe2 && p + 2 < end && ((p[1] == 0x80 &&
		    (p[2] == 0x8e || p[2] == 0x8f ||
		    (p[2] >= 0xaa && p[2] <= 0xae))) ||
		    (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)))
			return 0;
	}
	return 1;
}

/*
 * One step: an object with exactly one member, named after the step.
 * depth is the number of repeats around it.
 */
static int
mp_step(struct mp *mp, const json_t *j, int depth, struct step *s)
{
	const json_t	*body;
	const char	*key;
	size_t		 keylen, old;
	void		*it;
	int		 rv;

	if (!json_is_object(j))
		return mp_error(mp, "must be an object");
	if (json_object_size(j) != 1)
		return mp_error(mp, "must have exactly one of set, toggle, "
		    "sleep, wait, repeat");
	it = json_object_iter((json_t *)j);	/* only read, as in mp_fields */
	key = json_object_iter_key(it);
	keylen = json_object_iter_key_len(it);
	body = json_object_iter_value(it);

	old = mp_push_key(mp, key, keylen);
	if (keylen != strlen(key))
		rv = mp_error(mp, "unknown step");
	else if (strcmp(key, "repeat") == 0 && depth >= MISSION_MAX_DEPTH)
		/* Said before the body is read: the body does not matter. */
		rv = mp_error(mp, "repeats nest at most %d deep",
		    MISSION_MAX_DEPTH);
	else if (strcmp(key, "set") != 0 && strcmp(key, "toggle") != 0 &&
	    strcmp(key, "sleep") != 0 && strcmp(key, "wait") != 0 &&
	    strcmp(key, "repeat") != 0)
		rv = mp_error(mp, "unknown step");
	else if (!json_is_object(body))
		rv = mp_error(mp, "must be an object");
	else if (strcmp(key, "set") == 0)
		rv = mp_set(mp, body, s);
	else if (strcmp(key, "toggle") == 0)
		rv = mp_toggle(mp, body, s);
	else if (strcmp(key, "sleep") == 0)
		rv = mp_sleep(mp, body, s);
	else if (strcmp(key, "wait") == 0)
		rv = mp_wait(mp, body, s);
	else
		rv = mp_repeat(mp, body, depth, s);
	mp_pop(mp, old);
	return rv;
}

/*
 * The "steps" member of o.  On failure nothing is left allocated and *out
 * is NULL, so that the caller's own cleanup never sees half an array.
 */
static int
mp_steps(struct mp *mp, const json_t *o, int depth, struct step **out,
    size_t *nout)
{
	const json_t	*a = json_object_get(o, "steps");
	struct step	*steps;
	size_t		 n, i, old, iold;
	int		 rv = -1;

	*out = NULL;
	*nout = 0;
	old = mp_push_key(mp, "steps", 5);
	if (a == NULL) {
		mp_error(mp, "is required");
		goto done;
	}
	if (!json_is_array(a)) {
		mp_error(mp, "must be an array");
		goto done;
	}
	n = json_array_size(a);
	if (n < 1 || n > MISSION_MAX_STEPS) {
		mp_error(mp, "must have 1..%d steps", MISSION_MAX_STEPS);
		goto done;
	}
	if ((steps = calloc(n, sizeof(*steps))) == NULL) {
		mp_error(mp, "out of memory");
		goto done;
	}
	for (i = 0; i < n; i++) {
		iold = mp_push_index(mp, i);
		if (mp_step(mp, json_array_get(a, i), depth, &steps[i]) == -1) {
			/* calloc'd: the steps not reached free as nothing. */
			steps_free(steps, n);
			goto done;
		}
		mp_pop(mp, iold);
	}
	*out = steps;
	*nout = n;
	rv = 0;
 done:
	mp_pop(mp, old);
	return rv;
}

int
mission_parse(const json_t *j, const struct mission_pins *pins,
    struct mission_spec *spec, char *err, size_t errlen)
{
	struct mp	 mp;
	const json_t	*v;
	const char	*str;
	size_t		 len;

	memset(spec, 0, sizeof(*spec));
	memset(&mp, 0, sizeof(mp));
	mp.pins = pins;
	mp.err = err;
	mp.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';

	if (!json_is_object(j)) {
		mp_error(&mp, "must be an object");
		goto fail;
	}
	if (mp_fields(&mp, j, top_fields) == -1)
		goto fail;

	mp_push_key(&mp, "name", 4);
	v = json_object_get(j, "name");
	if (v == NULL) {
		mp_error(&mp, "is required");
		goto fail;
	}
	if (!json_is_string(v)) {
		mp_error(&mp, "must be a string");
		goto fail;
	}
	len = json_string_length(v);
	if (len < 1 || len > MISSION_NAME_MAX) {
		mp_error(&mp, "must be 1..%d bytes", MISSION_NAME_MAX);
		goto fail;
	}
	/* Kept as a C string: a NUL would cut it short without a word. */
	if (memchr(json_string_value(v), '\0', len) != NULL) {
		mp_error(&mp, "must not contain NUL bytes");
		goto fail;
	}
	if (!name_printable(json_string_value(v), len)) {
		mp_error(&mp, "must not contain control characters or "
		    "bidirectional formatting characters");
		goto fail;
	}
	if ((spec->m_name = strdup(json_string_value(v))) == NULL) {
		mp_error(&mp, "out of memory");
		goto fail;
	}
	mp_pop(&mp, 0);

	if (mp_steps(&mp, j, 0, &spec->m_steps, &spec->m_nsteps) == -1)
		goto fail;

	mp_push_key(&mp, "on_cancel", 9);
	v = json_object_get(j, "on_cancel");
	str = json_is_string(v) ? json_string_value(v) : "";
	if (v == NULL || (strcmp(str, "safe") == 0 &&
	    json_string_length(v) == 4))
		spec->m_on_cancel = ON_CANCEL_SAFE;
	else if (strcmp(str, "hold") == 0 && json_string_length(v) == 4)
		spec->m_on_cancel = ON_CANCEL_HOLD;
	else {
		mp_error(&mp, "must be \"safe\" or \"hold\"");
		goto fail;
	}
	mp_pop(&mp, 0);

	mp_push_key(&mp, "resume", 6);
	v = json_object_get(j, "resume");
	if (v != NULL && !json_is_boolean(v)) {
		mp_error(&mp, "must be true or false");
		goto fail;
	}
	spec->m_resume = v == NULL || json_is_true(v);
	return 0;

 fail:
	mission_spec_free(spec);
	return -1;
}

static void
steps_free(struct step *steps, size_t n)
{
	size_t	 i;

	if (steps == NULL)
		return;
	for (i = 0; i < n; i++)
		steps_free(steps[i].s_steps, steps[i].s_nsteps);
	free(steps);
}

/* Leaves spec empty: a second call, or one after a failed parse, is harmless. */
void
mission_spec_free(struct mission_spec *spec)
{
	if (spec == NULL)
		return;
	free(spec->m_name);
	steps_free(spec->m_steps, spec->m_nsteps);
	memset(spec, 0, sizeof(*spec));
}

/* Adds the outputs of steps not yet in names[0..n); returns the new n. */
static size_t
steps_outputs(const struct step *steps, size_t nsteps,
    char (*names)[GPIOWS_NAME_SIZE], size_t n, size_t max)
{
	size_t	 i, k;

	for (i = 0; i < nsteps && n < max; i++) {
		if (steps[i].s_kind == STEP_REPEAT) {
			n = steps_outputs(steps[i].s_steps, steps[i].s_nsteps,
			    names, n, max);
			continue;
		}
		if (steps[i].s_kind != STEP_SET &&
		    steps[i].s_kind != STEP_TOGGLE)
			continue;
		for (k = 0; k < n; k++)
			if (strcmp(names[k], steps[i].s_pin) == 0)
				break;
		if (k == n)
			memcpy(names[n++], steps[i].s_pin, GPIOWS_NAME_SIZE);
	}
	return n;
}

size_t
mission_outputs(const struct mission_spec *spec,
    char (*names)[GPIOWS_NAME_SIZE], size_t max)
{
	return steps_outputs(spec->m_steps, spec->m_nsteps, names, 0, max);
}
