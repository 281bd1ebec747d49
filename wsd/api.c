/*
 * The HTTP API (/api/pins, /api/pins/NAME) for scripts and curl, and the
 * route WebSockets (/pin/NAME/on, /off, /toggle) that perform one action per
 * message.  http.c parses and frames the requests; a change goes through
 * pin_request() like a /ws client's, so the helper's checks (busy, input,
 * reloaded) and the pin events every /ws client sees are the same.
 * See wsd(8) and gpiows-protocol(7).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "wsd.h"

#define SEG_MAX		64	/* a decoded path segment kept; names are shorter */
#define SEGS_MAX	4	/* more segments than any resource has */

struct api_route {
	char		 ar_pin[GPIOWS_NAME_SIZE];
	uint16_t	 ar_type;	/* IPC_PIN_SET or IPC_PIN_TOGGLE */
	int		 ar_value;	/* IPC_PIN_SET: 1 on, 0 off */
};

/* Route WebSockets: not users, not in the broadcast (wenv->w_clients). */
static struct connlist	 routes = TAILQ_HEAD_INITIALIZER(routes);

/*
 * The target's path (no query) as percent-decoded segments: "/api/pins/x"
 * is "api", "pins", "x".  Each segment is decoded on its own, so "%2F" is
 * part of a name (and no name has one), never a separator.  A segment
 * longer than SEG_MAX - 1 is cut: it cannot match a name then either.
 * The number of segments (SEGS_MAX + 1 says "more"), or -1 for a bad
 * percent-encoding or a NUL anywhere in the path.
 */
static int
api_segments(const char *target, char seg[SEGS_MAX][SEG_MAX])
{
	const char	*s = target;
	size_t		 n = 0;
	int		 nseg = 0, ch;

	if (*s++ != '/')
		return -1;
	seg[0][0] = '\0';
	while (*s != '\0' && *s != '?' && *s != '#') {
		if (*s == '/') {
			/* Past SEGS_MAX, only the escapes are still checked. */
			if (++nseg < SEGS_MAX)
				seg[nseg][0] = '\0';
			n = 0;
			s++;
			continue;
		}
		if ((ch = http_path_char(&s)) == -1)
			return -1;
		if (nseg < SEGS_MAX && n + 1 < SEG_MAX) {
			seg[nseg][n++] = (char)ch;
			seg[nseg][n] = '\0';
		}
	}
	return nseg < SEGS_MAX ? nseg + 1 : SEGS_MAX + 1;
}

/* A name as the config allows it: [A-Za-z0-9_.-], 1 to GPIOWS_NAME_MAX. */
static int
api_name_ok(const char *s)
{
	size_t	 n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

	return n > 0 && s[n] == '\0' && n <= GPIOWS_NAME_MAX &&
	    strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static struct wsd_pin *
api_pin(const char *name)
{
	return api_name_ok(name) ? wsd_pin_find(name) : NULL;
}

/* Something from the request fit for a message: printable ASCII, short. */
static void
api_printable(char *out, size_t outlen, const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0' && i + 1 < outlen; i++)
		out[i] = s[i] >= ' ' && s[i] < 0x7f && s[i] != '"' ? s[i] : '?';
	out[i] = '\0';
}

static const char *
api_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* A JSON response, released. */
static void
api_send(struct conn *c, int status, const char *extra, json_t *body)
{
	char	*s = NULL, *nl, hdrs[256];
	size_t	 len;

	if (body != NULL)
		s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (s == NULL) {
		status = 500;
		c->c_keepalive = 0;
		s = strdup("{\"error\":{\"code\":\"internal\","
		    "\"message\":\"out of memory\"}}");
		if (s == NULL) {
			http_response(c, 500, api_reason(500), NULL, NULL, NULL,
			    0);
			return;
		}
	}
	/* One line, for curl's sake. */
	len = strlen(s);
	if ((nl = realloc(s, len + 2)) != NULL) {
		s = nl;
		memcpy(s + len, "\n", 2);
	}
	snprintf(hdrs, sizeof(hdrs), "%sCache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n", extra != NULL ? extra : "");
	http_response(c, status, api_reason(status), hdrs, "application/json",
	    s, c->c_head);
	free(s);
}

static void
api_error(struct conn *c, int status, const char *extra, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
api_error(struct conn *c, int status, const char *extra, const char *code,
    const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	api_send(c, status, extra, json_pack("{s:o}", "error",
	    error_vjson(code, fmt, ap)));
	va_end(ap);
}

/* The status of a refused pin request (gpiows-protocol(7), HTTP API). */
static int
api_status(int error)
{
	switch (error) {
	case IPC_E_UNKNOWN_PIN:
		return 404;
	case IPC_E_BAD_VALUE:
		return 400;
	case IPC_E_NOT_OUTPUT:
	case IPC_E_BUSY:
	case IPC_E_STALE:
		return 409;
	case PIN_E_UNAVAILABLE:
		return 503;
	default:
		return 500;
	}
}

static void
api_pin_error(struct conn *c, const struct pin_result *r)
{
	int	 status = api_status(r->pr_error);

	api_send(c, status, status == 503 ? "Retry-After: 1\r\n" : NULL,
	    json_pack("{s:o}", "error", pin_error_json(r)));
}

/* The pin's state from the mirror, which the helper's event has updated. */
static json_t *
api_pin_state(const struct pin_result *r)
{
	struct wsd_pin	*wp;

	if ((wp = wsd_pin_find(r->pr_pin)) != NULL)
		return client_pin_json(&wp->wp_info);
	return json_pack("{s:s, s:i}", "name", r->pr_pin, "value",
	    r->pr_value);
}

static void
api_put_done(struct conn *c, json_t *id, const struct pin_result *r)
{
	/* A connection gone meanwhile forgot its request (pin_forget). */
	if (r->pr_error != IPC_OK)
		api_pin_error(c, r);
	else
		api_send(c, 200, NULL, api_pin_state(r));
	http_resume(c);
}

int
api_target(const char *target)
{
	return strcmp(target, "/api") == 0 || strncmp(target, "/api/", 5) == 0 ||
	    strncmp(target, "/api?", 5) == 0;
}

/*
 * The body's framing, from the head alone: its length, or -1 when it has
 * been refused (the connection then closes: what follows cannot be told
 * apart from the next request).
 */
int
api_framing(struct conn *c, const char *method, const char *cl, int ncl,
    const char *te, size_t *len)
{
	const char	*p;
	size_t		 n = 0;
	int		 keepalive = c->c_keepalive;

	*len = 0;
	/* Refused, what follows cannot be told from a request: close. */
	c->c_keepalive = 0;
	if (te != NULL) {
		api_error(c, 501, NULL, "not_implemented", "Transfer-Encoding "
		    "is not supported: send the body with Content-Length");
		return -1;
	}
	if (ncl > 1) {
		api_error(c, 400, NULL, "bad_request",
		    "Content-Length: more than one");
		return -1;
	}
	if (cl == NULL) {
		if (strcmp(method, "PUT") == 0) {
			api_error(c, 411, NULL, "length_required",
			    "Content-Length: needed with a body");
			return -1;
		}
		c->c_keepalive = keepalive;
		return 0;
	}
	for (p = cl; *p >= '0' && *p <= '9'; p++)
		if ((n = n * 10 + (size_t)(*p - '0')) > WSD_MAX_BODY)
			break;
	if (p == cl || (*p != '\0' && n <= WSD_MAX_BODY)) {
		api_error(c, 400, NULL, "bad_request",
		    "Content-Length: not a number of bytes");
		return -1;
	}
	if (n > WSD_MAX_BODY) {
		api_error(c, 413, NULL, "too_large", "body: at most %d bytes",
		    WSD_MAX_BODY);
		return -1;
	}
	*len = n;
	c->c_keepalive = keepalive;
	return 0;
}

static void
api_pins_get(struct conn *c)
{
	json_t	*pins;

	if ((pins = client_pins_json()) == NULL) {
		api_send(c, 500, NULL, NULL);
		return;
	}
	api_send(c, 200, NULL, json_pack("{s:o, s:I}", "pins", pins, "seq",
	    (json_int_t)wenv->w_seq));
}

/* Content-Type, when there is one, is application/json (any parameters). */
static int
api_ctype_ok(const char *ct)
{
	size_t	 n = strlen("application/json");

	if (ct == NULL)
		return 1;
	return strncasecmp(ct, "application/json", n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

static void
api_pin_put(struct conn *c, const struct api_req *r, struct wsd_pin *wp)
{
	struct pin_result	 res;
	json_t			*body, *jv;
	json_error_t		 err;
	char			 ct[64];

	if (!api_ctype_ok(r->ar_ctype)) {
		api_printable(ct, sizeof(ct), r->ar_ctype);
		api_error(c, 415, NULL, "unsupported_media_type",
		    "Content-Type: \"%s\" is not application/json", ct);
		return;
	}
	if ((body = json_loadb(r->ar_body, r->ar_len, JSON_REJECT_DUPLICATES,
	    &err)) == NULL) {
		api_error(c, 400, NULL, "bad_json", "body: invalid JSON at "
		    "line %d column %d: %s", err.line, err.column, err.text);
		return;
	}
	if ((jv = json_object_get(body, "value")) == NULL) {
		json_decref(body);
		api_error(c, 400, NULL, "bad_request",
		    "body: \"value\" is missing (0 or 1)");
		return;
	}
	if (!json_is_integer(jv) || (json_integer_value(jv) != 0 &&
	    json_integer_value(jv) != 1)) {
		json_decref(body);
		api_error(c, 400, NULL, "bad_value", "\"value\" must be 0 or 1");
		return;
	}
	if (pin_request(c, NULL, wp, IPC_PIN_SET, (int)json_integer_value(jv),
	    api_put_done, &res) == -1)
		api_pin_error(c, &res);
	else
		c->c_waiting = 1;
	json_decref(body);
}

void
api_request(struct conn *c, const struct api_req *r)
{
	char		 seg[SEGS_MAX][SEG_MAX], name[SEG_MAX];
	struct wsd_pin	*wp;
	int		 n, get, put;

	get = strcmp(r->ar_method, "GET") == 0 ||
	    strcmp(r->ar_method, "HEAD") == 0;
	put = strcmp(r->ar_method, "PUT") == 0;
	if ((n = api_segments(r->ar_target, seg)) == -1) {
		api_error(c, 400, NULL, "bad_request",
		    "path: bad percent-encoding");
		return;
	}
	/* The path first, then the method and the Origin, then the name. */
	if (n < 2 || n > 3 || strcmp(seg[0], "api") != 0 ||
	    strcmp(seg[1], "pins") != 0 || (n == 3 && strcmp(seg[2], "..") == 0)) {
		api_error(c, 404, NULL, "not_found", "no such resource: the "
		    "API has /api/pins and /api/pins/NAME");
		return;
	}
	if (n == 3 && seg[2][0] == '\0') {
		api_error(c, 404, NULL, "not_found",
		    "path: a pin name must follow /api/pins/");
		return;
	}
	if (n == 2) {
		if (!get)
			api_error(c, 405, "Allow: GET, HEAD\r\n",
			    "method_not_allowed", "/api/pins: GET or HEAD");
		else if (r->ar_len > 0)
			api_error(c, 400, NULL, "bad_request",
			    "body: a %s has none", r->ar_method);
		else
			api_pins_get(c);
		return;
	}
	if (!get && !put) {
		api_error(c, 405, "Allow: GET, HEAD, PUT\r\n",
		    "method_not_allowed", "/api/pins/NAME: GET, HEAD or PUT");
		return;
	}
	if (put && !r->ar_origin_ok) {
		api_printable(name, sizeof(name), r->ar_origin);
		http_log_refused_origin("API PUT", name);
		api_error(c, 403, NULL, "forbidden_origin", "Origin: a page "
		    "from \"%s\" may not change pins", name);
		return;
	}
	if ((wp = api_pin(seg[2])) == NULL) {
		api_printable(name, sizeof(name), seg[2]);
		api_error(c, 404, NULL, "unknown_pin", "no pin named \"%.40s%s\"",
		    name, strlen(seg[2]) > 40 ? "..." : "");
		return;
	}
	if (put)
		api_pin_put(c, r, wp);
	else if (r->ar_len > 0)
		api_error(c, 400, NULL, "bad_request", "body: a %s has none",
		    r->ar_method);
	else
		api_send(c, 200, NULL, client_pin_json(&wp->wp_info));
}

/* ---------------------------------------------------------------- routes */

/* /pin/NAME/on, /pin/NAME/off, /pin/NAME/toggle of a pin that exists. */
static int
api_route_parse(const char *target, struct api_route *rt)
{
	char	 seg[SEGS_MAX][SEG_MAX];

	memset(rt, 0, sizeof(*rt));
	if (api_segments(target, seg) != 3 || strcmp(seg[0], "pin") != 0 ||
	    api_pin(seg[1]) == NULL)
		return -1;
	if (strcmp(seg[2], "on") == 0 || strcmp(seg[2], "off") == 0) {
		rt->ar_type = IPC_PIN_SET;
		rt->ar_value = strcmp(seg[2], "on") == 0;
	} else if (strcmp(seg[2], "toggle") == 0)
		rt->ar_type = IPC_PIN_TOGGLE;
	else
		return -1;
	snprintf(rt->ar_pin, sizeof(rt->ar_pin), "%.*s", GPIOWS_NAME_MAX, seg[1]);
	return 0;
}

int
api_route_find(const char *target)
{
	struct api_route	 rt;

	return api_route_parse(target, &rt) == 0;
}

int
api_route_join(struct conn *c, const char *target)
{
	struct api_route	*rt;

	if ((rt = malloc(sizeof(*rt))) == NULL)
		return -1;
	if (api_route_parse(target, rt) == -1) {
		free(rt);
		return -1;
	}
	c->c_route = rt;
	TAILQ_INSERT_TAIL(&routes, c, c_entry);
	wenv->w_nroutes++;
	return 0;
}

void
api_route_leave(struct conn *c)
{
	pin_forget(c);
	TAILQ_REMOVE(&routes, c, c_entry);
	wenv->w_nroutes--;
	free(c->c_route);
	c->c_route = NULL;
}

void
api_route_foreach(void (*fn)(struct conn *, uint64_t), uint64_t arg)
{
	struct conn	*c, *tmp;

	TAILQ_FOREACH_SAFE(c, &routes, c_entry, tmp)
		fn(c, arg);
}

/* wsd is stopping: route WebSockets close like /ws clients, with 1001. */
void
api_route_close_all(int code, const char *reason)
{
	struct conn	*c, *tmp;

	TAILQ_FOREACH_SAFE(c, &routes, c_entry, tmp)
		conn_close(c, code, reason);
}

static void
api_route_done(struct conn *c, json_t *id, const struct pin_result *r)
{
	struct wsd_pin	*wp;
	uint64_t	 seq;

	if (r->pr_error != IPC_OK) {
		client_send_reply(c, json_pack("{s:s, s:o}", "pin", r->pr_pin,
		    "error", pin_error_json(r)), NULL);
		return;
	}
	/* seq: the pin's last change, this one's when it made one. */
	if ((seq = r->pr_seq) == 0 && (wp = wsd_pin_find(r->pr_pin)) != NULL)
		seq = wp->wp_info.seq;
	client_send_reply(c, json_pack("{s:s, s:i, s:I}", "pin", r->pr_pin,
	    "value", r->pr_value, "seq", (json_int_t)seq), NULL);
}

void
api_route_message(struct conn *c, int opcode, const unsigned char *data,
    size_t len)
{
	struct api_route	*rt = c->c_route;
	struct wsd_pin		*wp;
	struct pin_result	 r;

	if (opcode != WS_OP_TEXT) {
		client_send_reply(c, json_pack("{s:s, s:{s:s, s:s}}", "pin",
		    rt->ar_pin, "error", "code", "binary_unsupported", "message",
		    "binary frames are not part of the protocol: send text"),
		    NULL);
		return;
	}
	/* A reload may have taken the pin away since the upgrade. */
	if ((wp = wsd_pin_find(rt->ar_pin)) == NULL) {
		client_send_reply(c, json_pack("{s:s, s:{s:s, s:s}}", "pin",
		    rt->ar_pin, "error", "code", "unknown_pin", "message",
		    "the pin is no longer configured"), NULL);
		return;
	}
	if (pin_request(c, NULL, wp, rt->ar_type, rt->ar_value,
	    api_route_done, &r) == -1)
		api_route_done(c, NULL, &r);
}
