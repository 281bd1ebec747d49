/*
 * The gpiows.conf parser: a hand-written lexer that cuts the file into
 * logical lines of tokens, one small function per statement, then a pass that
 * resolves pins against chips (a chip may be declared after the pins that use
 * it).  Errors are collected with their line and printed sorted by line at the
 * end, so that those found by the last pass still come out in file order.
 * gpiows.conf(5) documents the grammar; keep the two in step.
 */
#include "config.h"

#include <sys/stat.h>

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "conf.h"
#include "tlsctx.h"

#ifndef GPIOWS_DEFAULT_USER
#define GPIOWS_DEFAULT_USER	"gpiows"
#endif
#ifndef GPIOWS_DEFAULT_WWW
#define GPIOWS_DEFAULT_WWW	"/usr/share/gpiows/www"
#endif
#ifndef GPIOWS_DEFAULT_JOURNAL
#define GPIOWS_DEFAULT_JOURNAL	"/var/lib/gpiows"
#endif

#define CONF_MAX_SIZE		(1024 * 1024)	/* a config, not a data file */
#define CONF_DEFAULT_ADDR	"127.0.0.1"
#define CONF_DEFAULT_PORT	8080
#define CONF_MAX_SIM_LINES	1024
/* Every client's hello lists them all: it must fit wsd's output cap. */
#define CONF_MAX_PINS		1024
#define CONF_MAX_OFFSET		65535
#define CONF_MAX_DEBOUNCE	10000		/* ms */
#define CONF_DEFAULT_HISTORY	4096
#define CONF_MIN_HISTORY	16
#define CONF_MAX_HISTORY	1000000
#define CONF_DEFAULT_CLIENTS	1024
#define CONF_DEFAULT_MESSAGE	65536
#define CONF_MAX_CLIENTS	1000000
#define CONF_MIN_MESSAGE	125		/* a control frame's payload */
#define CONF_MAX_MESSAGE	(16 * 1024 * 1024)
#define CONF_DEFAULT_PING	30		/* s; 0: never */
#define CONF_MAX_PING		3600

/*
 * Every word the grammar accepts.  The lexer turns exactly these words into
 * keyword tokens and the parser matches keyword tokens only, so nothing can
 * be accepted that is not listed here.  tests/conf-keywords.sh reads the lines
 * between the markers (one "word", per line) and checks them against
 * gpiows.conf(5).
 */
static const char * const conf_kw[] = {
/* KEYWORDS BEGIN */
	"listen",
	"on",
	"localhost",
	"port",
	"user",
	"www",
	"journal",
	"chip",
	"simulated",
	"lines",
	"pin",
	"line",
	"input",
	"output",
	"initial",
	"safe",
	"edge",
	"rising",
	"falling",
	"both",
	"bias",
	"pull-up",
	"pull-down",
	"disabled",
	"active-low",
	"drive",
	"debounce",
	"push-pull",
	"open-drain",
	"open-source",
	"origin",
	"max",
	"clients",
	"message",
	"history",
	"ping",
	"interval",
	"tls",
	"certificate",
	"key",
/* KEYWORDS END */
	NULL
};

enum tok_type {
	T_WORD,			/* anything unquoted that is not below */
	T_NUMBER,		/* unquoted -?[0-9]+ */
	T_STRING,		/* "quoted", escapes already undone */
	T_KEYWORD		/* unquoted word of conf_kw[] */
};

struct token {
	enum tok_type	 t_type;
	char		*t_text;
	long long	 t_num;		/* T_NUMBER; clamped when it overflowed */
	int		 t_lineno;
};

struct conf_err {
	int		 e_lineno;
	unsigned int	 e_seq;		/* keeps one line's errors in order */
	char		*e_msg;
};

/* What a pin statement said about its chip and line, for the last pass. */
struct pin_ref {
	struct conf_pin	*r_pin;
	char		 r_chip[GPIOWS_NAME_SIZE];	/* "" if none or bad */
	int		 r_line_ok;	/* line given and in range */
};

struct parser {
	const char	*ps_path;
	struct gpiows_conf *ps_conf;
	int		 ps_oom;

	char		*ps_buf;
	size_t		 ps_len;
	size_t		 ps_pos;
	int		 ps_lineno;

	struct token	*ps_toks;	/* the current logical line */
	size_t		 ps_ntoks;
	size_t		 ps_toks_size;
	size_t		 ps_cur;	/* next token to hand out */
	int		 ps_syntax;	/* this statement had a syntax error */

	struct conf_err	*ps_errs;
	size_t		 ps_nerrs;
	size_t		 ps_errs_size;

	struct pin_ref	*ps_refs;
	size_t		 ps_nrefs;
	size_t		 ps_refs_size;

	int		 ps_user_line;
	int		 ps_www_line;
	int		 ps_journal_line;
	int		 ps_clients_line;
	int		 ps_message_line;
	int		 ps_history_line;
	int		 ps_ping_line;
	int		 ps_tls_line;
	int		 ps_tls_seen;	/* a tls statement, even a broken one */
};

static void	*ps_grow(struct parser *, void *, size_t *, size_t, size_t);
static char	*str_vprintf(const char *, va_list)
		    __attribute__((format(printf, 1, 0)));
static char	*str_printf(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	 name_copy(char [GPIOWS_NAME_SIZE], const char *);
static void	 conf_error(struct parser *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static const char *kw_lookup(const char *);
static int	 lex_add(struct parser *, enum tok_type, const char *, size_t,
		    int);
static int	 lex_string(struct parser *);
static int	 lex_word(struct parser *);
static int	 is_space(int);
static int	 is_control(int);
static size_t	 continuation(const struct parser *, size_t);
static void	 lex_clear(struct parser *);
static int	 lex_line(struct parser *);
static struct token *tok_next(struct parser *);
static int	 tok_kw(const struct token *, const char *);
static int	 tok_value(const struct token *);
static void	 expected(struct parser *, const struct token *, const char *);
static int	 end_of_line(struct parser *);
static int	 check_range(struct parser *, const struct token *, const char *,
		    long long, long long);
static int	 check_name(struct parser *, const struct token *,
		    const char *);
static struct conf_chip *chip_find(struct gpiows_conf *, const char *);
static void	 parse_statement(struct parser *);
static void	 parse_listen(struct parser *);
static void	 parse_origin(struct parser *);
static void	 parse_max(struct parser *);
static void	 parse_history(struct parser *);
static void	 parse_ping(struct parser *);
static void	 parse_tls(struct parser *);
static void	 parse_setting(struct parser *, char **, int *, const char *);
static void	 parse_chip(struct parser *);
static void	 parse_bit(struct parser *, const struct token *, int *);
static void	 parse_pin(struct parser *);
static void	 resolve_pins(struct parser *);
static char	*tls_read(struct parser *, const char *, const char *,
		    size_t *);
static void	 check_tls(struct parser *);
static char	*make_absolute(struct parser *, const char *);
static int	 conf_finish(struct parser *);
static int	 err_cmp(const void *, const void *);

const char * const *
conf_keywords(void)
{
	return conf_kw;
}

static const char *
kw_lookup(const char *word)
{
	const char * const *kw;

	for (kw = conf_kw; *kw != NULL; kw++)
		if (strcmp(*kw, word) == 0)
			return *kw;
	return NULL;
}

/* Grow array (of *size elements) to hold at least n; NULL when out of memory. */
static void *
ps_grow(struct parser *ps, void *array, size_t *size, size_t n, size_t elsize)
{
	size_t	 want;
	void	*p;

	if (n <= *size)
		return array;
	want = *size == 0 ? 16 : *size * 2;
	if (want < n)
		want = n;
	if ((p = reallocarray(array, want, elsize)) == NULL) {
		ps->ps_oom = 1;
		return NULL;
	}
	*size = want;
	return p;
}

/* vasprintf without _GNU_SOURCE. */
static char *
str_vprintf(const char *fmt, va_list ap)
{
	va_list	 ap2;
	char	*s;
	int	 len;

	va_copy(ap2, ap);
	len = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (len < 0 || (s = malloc((size_t)len + 1)) == NULL)
		return NULL;
	vsnprintf(s, (size_t)len + 1, fmt, ap);
	return s;
}

static char *
str_printf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = str_vprintf(fmt, ap);
	va_end(ap);
	return s;
}

/* Names are checked for length before they are copied. */
static void
name_copy(char dst[GPIOWS_NAME_SIZE], const char *src)
{
	size_t	 len = strlen(src);

	assert(len < GPIOWS_NAME_SIZE);
	memcpy(dst, src, len + 1);
}

static void
conf_error(struct parser *ps, int lineno, const char *fmt, ...)
{
	struct conf_err	*e;
	va_list		 ap;
	char		*msg;

	va_start(ap, fmt);
	msg = str_vprintf(fmt, ap);
	va_end(ap);
	if (msg == NULL) {
		ps->ps_oom = 1;
		return;
	}
	e = ps_grow(ps, ps->ps_errs, &ps->ps_errs_size, ps->ps_nerrs + 1,
	    sizeof(*e));
	if (e == NULL) {
		free(msg);
		return;
	}
	ps->ps_errs = e;
	e[ps->ps_nerrs].e_lineno = lineno;
	e[ps->ps_nerrs].e_seq = (unsigned int)ps->ps_nerrs;
	e[ps->ps_nerrs].e_msg = msg;
	ps->ps_nerrs++;
}

static int
err_cmp(const void *a, const void *b)
{
	const struct conf_err	*ea = a, *eb = b;

	if (ea->e_lineno != eb->e_lineno)
		return ea->e_lineno < eb->e_lineno ? -1 : 1;
	return ea->e_seq < eb->e_seq ? -1 : ea->e_seq > eb->e_seq;
}

/*
 * The whole of the regular file path into a buffer of max + 1 bytes, and
 * its length into *lenp: NULL, or what is wrong, in why.  The open does
 * not block, so a FIFO or a device in the file's place is refused, not
 * waited on: a reload must never stop the helper's loop.
 */
static char *
file_read(const char *path, size_t max, size_t *lenp, char *why,
    size_t whylen)
{
	struct stat	 st;
	char		*buf;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		snprintf(why, whylen, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(why, whylen, "%s", strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s", S_ISDIR(st.st_mode) ?
		    strerror(EISDIR) : "not a regular file");
		close(fd);
		return NULL;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		snprintf(why, whylen, "%s", strerror(errno));
		close(fd);
		return NULL;
	}
	/* One byte more than allowed, to tell a file that is too large. */
	while (len <= max) {
		n = read(fd, buf + len, max + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(why, whylen, "%s", strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += n;
	}
	if (len > max) {
		snprintf(why, whylen, "larger than %zu bytes", max);
		goto fail;
	}
	close(fd);
	*lenp = len;
	return buf;
fail:
	close(fd);
	explicit_bzero(buf, max + 1);	/* it may be a key */
	free(buf);
	return NULL;
}

/* ---------------------------------------------------------------- lexer */

static int
lex_add(struct parser *ps, enum tok_type type, const char *text, size_t len,
    int lineno)
{
	struct token	*t;
	const char	*s;

	t = ps_grow(ps, ps->ps_toks, &ps->ps_toks_size, ps->ps_ntoks + 1,
	    sizeof(*t));
	if (t == NULL)
		return -1;
	ps->ps_toks = t;
	t += ps->ps_ntoks;
	memset(t, 0, sizeof(*t));
	if ((t->t_text = strndup(text, len)) == NULL) {
		ps->ps_oom = 1;
		return -1;
	}
	t->t_lineno = lineno;
	t->t_type = type;
	ps->ps_ntoks++;
	if (type != T_WORD)
		return 0;

	s = t->t_text;
	if (*s == '-')
		s++;
	if (*s != '\0' && strspn(s, "0123456789") == strlen(s)) {
		t->t_type = T_NUMBER;
		/* ERANGE leaves LLONG_MIN or LLONG_MAX: out of every range. */
		t->t_num = strtoll(t->t_text, NULL, 10);
	} else if (kw_lookup(t->t_text) != NULL)
		t->t_type = T_KEYWORD;
	return 0;
}

/* A carriage return is a blank, so that DOS line endings do no harm. */
static int
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int
is_control(int c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/* A backslash at pos that ends the line (or the file): a continuation. */
static size_t
continuation(const struct parser *ps, size_t pos)
{
	if (pos >= ps->ps_len || ps->ps_buf[pos] != '\\')
		return 0;
	if (pos + 1 == ps->ps_len)
		return 1;
	if (ps->ps_buf[pos + 1] == '\n')
		return 2;
	if (ps->ps_buf[pos + 1] == '\r' && pos + 2 < ps->ps_len &&
	    ps->ps_buf[pos + 2] == '\n')
		return 3;
	return 0;
}

/* ps_pos is on the opening quote.  -1 on error (reported). */
static int
lex_string(struct parser *ps)
{
	char		*s, *p;
	size_t		 len = 0, size = 0, skip;
	int		 lineno = ps->ps_lineno, r;
	unsigned char	 c;

	s = NULL;
	ps->ps_pos++;
	for (;;) {
		if (ps->ps_pos >= ps->ps_len || ps->ps_buf[ps->ps_pos] == '\n') {
			conf_error(ps, lineno, "unterminated quoted string");
			free(s);
			return -1;
		}
		c = ps->ps_buf[ps->ps_pos];
		if (c == '"') {
			ps->ps_pos++;
			break;
		}
		if ((skip = continuation(ps, ps->ps_pos)) > 0) {
			ps->ps_pos += skip;
			ps->ps_lineno++;
			continue;
		}
		if (c == '\\') {
			c = ps->ps_pos + 1 < ps->ps_len ?
			    ps->ps_buf[ps->ps_pos + 1] : 0;
			if (c != '"' && c != '\\') {
				if (is_control(c))
					conf_error(ps, ps->ps_lineno,
					    "invalid character 0x%02x", c);
				else
					conf_error(ps, ps->ps_lineno,
					    "invalid escape \"\\%c\" in quoted "
					    "string", c);
				free(s);
				return -1;
			}
			ps->ps_pos++;
		} else if (is_control(c)) {
			conf_error(ps, ps->ps_lineno,
			    "invalid character 0x%02x", c);
			free(s);
			return -1;
		}
		if ((p = ps_grow(ps, s, &size, len + 1, 1)) == NULL) {
			free(s);
			return -1;
		}
		s = p;
		s[len++] = c;
		ps->ps_pos++;
	}
	r = lex_add(ps, T_STRING, s == NULL ? "" : s, len, lineno);
	free(s);
	return r;
}

static int
lex_word(struct parser *ps)
{
	size_t		 start = ps->ps_pos;
	unsigned char	 c;

	while (ps->ps_pos < ps->ps_len) {
		c = ps->ps_buf[ps->ps_pos];
		if (c == '\n' || c == '#' || c == '"' || is_space(c) ||
		    continuation(ps, ps->ps_pos) > 0)
			break;
		if (is_control(c)) {
			conf_error(ps, ps->ps_lineno,
			    "invalid character 0x%02x", c);
			return -1;
		}
		ps->ps_pos++;
	}
	return lex_add(ps, T_WORD, ps->ps_buf + start, ps->ps_pos - start,
	    ps->ps_lineno);
}

static void
lex_clear(struct parser *ps)
{
	size_t	 i;

	for (i = 0; i < ps->ps_ntoks; i++)
		free(ps->ps_toks[i].t_text);
	ps->ps_ntoks = 0;
	ps->ps_cur = 0;
	ps->ps_syntax = 0;
}

/*
 * Cut the next logical line into ps_toks.  Returns 0 at the end of the file,
 * -1 when the line had a lexical error (reported; its tokens are not to be
 * parsed) and 1 otherwise, possibly with no tokens.
 */
static int
lex_line(struct parser *ps)
{
	size_t		 skip;
	int		 bad = 0;
	char		 c;
	unsigned char	 u;

	lex_clear(ps);
	if (ps->ps_pos >= ps->ps_len)
		return 0;
	while (ps->ps_pos < ps->ps_len && !ps->ps_oom) {
		c = ps->ps_buf[ps->ps_pos];
		if (c == '\n') {
			ps->ps_pos++;
			ps->ps_lineno++;
			break;
		}
		if ((skip = continuation(ps, ps->ps_pos)) > 0) {
			ps->ps_pos += skip;
			ps->ps_lineno++;
			continue;
		}
		if (is_space(c)) {
			ps->ps_pos++;
			continue;
		}
		/* A comment is one physical line: no continuation in it. */
		if (c == '#') {
			/* Control characters are no more allowed here. */
			for (; ps->ps_pos < ps->ps_len &&
			    (u = (unsigned char)ps->ps_buf[ps->ps_pos]) != '\n';
			    ps->ps_pos++)
				if (is_control(u) && !bad && !(u == '\r' &&
				    ps->ps_pos + 1 < ps->ps_len &&
				    ps->ps_buf[ps->ps_pos + 1] == '\n')) {
					conf_error(ps, ps->ps_lineno,
					    "invalid character 0x%02x", u);
					bad = 1;
				}
			continue;
		}
		if (bad) {
			/* Only the first lexical error of a line is news. */
			ps->ps_pos++;
			continue;
		}
		if ((c == '"' ? lex_string(ps) : lex_word(ps)) == -1)
			bad = 1;
	}
	if (ps->ps_oom)
		return 0;
	return bad ? -1 : 1;
}

/* ---------------------------------------------------------------- parser */

static struct token *
tok_next(struct parser *ps)
{
	if (ps->ps_cur >= ps->ps_ntoks)
		return NULL;
	return &ps->ps_toks[ps->ps_cur++];
}

static int
tok_kw(const struct token *t, const char *word)
{
	/* A word missing from conf_kw[] could never match: catch the typo. */
	assert(kw_lookup(word) != NULL);
	return t != NULL && t->t_type == T_KEYWORD &&
	    strcmp(t->t_text, word) == 0;
}

/*
 * Words that became keywords after configurations had used them as names
 * ("pin key ..."): they still stand for a name, path or label wherever one
 * is expected.
 */
static const char * const conf_kw_names[] = {
	"tls", "certificate", "key", NULL
};

/* A token that can stand for a name, path or label: not a keyword, not "". */
static int
tok_value(const struct token *t)
{
	const char * const *kw;

	if (t == NULL || t->t_text[0] == '\0')
		return 0;
	if (t->t_type != T_KEYWORD)
		return 1;
	for (kw = conf_kw_names; *kw != NULL; kw++)
		if (strcmp(t->t_text, *kw) == 0)
			return 1;
	return 0;
}

/* The syntax error of a statement: report it, and parse no further. */
static void
expected(struct parser *ps, const struct token *t, const char *what)
{
	int	 lineno;

	if (t != NULL)
		conf_error(ps, t->t_lineno, "expected %s, found \"%s\"", what,
		    t->t_text);
	else {
		lineno = ps->ps_ntoks > 0 ?
		    ps->ps_toks[ps->ps_ntoks - 1].t_lineno : ps->ps_lineno;
		conf_error(ps, lineno, "expected %s, found end of line", what);
	}
	ps->ps_syntax = 1;
}

static int
end_of_line(struct parser *ps)
{
	struct token	*t;

	if ((t = tok_next(ps)) == NULL)
		return 1;
	expected(ps, t, "end of line");
	return 0;
}

static int
check_range(struct parser *ps, const struct token *t, const char *what,
    long long lo, long long hi)
{
	if (t->t_num >= lo && t->t_num <= hi)
		return 1;
	conf_error(ps, t->t_lineno, "%s \"%s\" out of range (%lld..%lld)", what,
	    t->t_text, lo, hi);
	return 0;
}

static int
check_name(struct parser *ps, const struct token *t, const char *what)
{
	size_t	 len = strlen(t->t_text);

	if (strspn(t->t_text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_.-") != len) {
		conf_error(ps, t->t_lineno, "invalid %s name \"%s\" (letters, "
		    "digits, \"_\", \".\" and \"-\" only)", what, t->t_text);
		return 0;
	}
	if (len > GPIOWS_NAME_MAX) {
		conf_error(ps, t->t_lineno, "%s name \"%s\" too long (at most "
		    "%d bytes)", what, t->t_text, GPIOWS_NAME_MAX);
		return 0;
	}
	/* A URL path segment of its own: /api/pins/NAME, /pin/NAME/on. */
	if (strcmp(t->t_text, ".") == 0 || strcmp(t->t_text, "..") == 0) {
		conf_error(ps, t->t_lineno, "invalid %s name \"%s\" (a URL "
		    "cannot name it)", what, t->t_text);
		return 0;
	}
	return 1;
}

static struct conf_chip *
chip_find(struct gpiows_conf *cf, const char *name)
{
	struct conf_chip	*c;

	TAILQ_FOREACH(c, &cf->cf_chips, c_entry)
		if (strcmp(c->c_name, name) == 0)
			return c;
	return NULL;
}

static void
parse_statement(struct parser *ps)
{
	struct token	*t = tok_next(ps);

	if (tok_kw(t, "listen"))
		parse_listen(ps);
	else if (tok_kw(t, "user"))
		parse_setting(ps, &ps->ps_conf->cf_user, &ps->ps_user_line,
		    "a user name");
	else if (tok_kw(t, "www"))
		parse_setting(ps, &ps->ps_conf->cf_www, &ps->ps_www_line,
		    "a directory");
	else if (tok_kw(t, "journal"))
		parse_setting(ps, &ps->ps_conf->cf_journal,
		    &ps->ps_journal_line, "a directory");
	else if (tok_kw(t, "origin"))
		parse_origin(ps);
	else if (tok_kw(t, "max"))
		parse_max(ps);
	else if (tok_kw(t, "history"))
		parse_history(ps);
	else if (tok_kw(t, "ping"))
		parse_ping(ps);
	else if (tok_kw(t, "tls"))
		parse_tls(ps);
	else if (tok_kw(t, "chip"))
		parse_chip(ps);
	else if (tok_kw(t, "pin"))
		parse_pin(ps);
	else if (t->t_type == T_WORD)
		conf_error(ps, t->t_lineno, "unknown keyword \"%s\"", t->t_text);
	else
		expected(ps, t, "a statement keyword");
}

/*
 * What a listen address binds, as the helper binds it: "*" the wildcard
 * of each family, "localhost" 127.0.0.1 and ::1; an unused entry has
 * family 0.  Returns how many, 0 for an address that is none of these.
 */
#define LISTEN_ADDRS	2
struct listen_addr {
	int		la_family;
	unsigned char	la_addr[16];	/* all zero: the wildcard */
};

static int
listen_addrs(const char *text, struct listen_addr la[LISTEN_ADDRS])
{
	memset(la, 0, LISTEN_ADDRS * sizeof(*la));
	la[0].la_family = AF_INET;
	la[1].la_family = AF_INET6;
	if (strcmp(text, "*") == 0)
		return 2;
	if (strcmp(text, "localhost") == 0) {
		inet_pton(AF_INET, "127.0.0.1", la[0].la_addr);
		inet_pton(AF_INET6, "::1", la[1].la_addr);
		return 2;
	}
	la[1].la_family = 0;
	if (inet_pton(AF_INET, text, la[0].la_addr) == 1)
		return 1;
	la[0].la_family = AF_INET6;
	if (inet_pton(AF_INET6, text, la[0].la_addr) == 1)
		return 1;
	la[0].la_family = 0;
	return 0;
}

/*
 * Whether binding la on a port fails with text bound there already: one
 * address in both, or the wildcard of a family in one and an address of
 * that family in the other.
 */
static int
listen_overlap(const struct listen_addr la[LISTEN_ADDRS], const char *text)
{
	static const unsigned char	 any[16];
	struct listen_addr		 lb[LISTEN_ADDRS];
	int				 i, j;

	listen_addrs(text, lb);
	for (i = 0; i < LISTEN_ADDRS; i++)
		for (j = 0; j < LISTEN_ADDRS; j++)
			if (la[i].la_family != 0 &&
			    la[i].la_family == lb[j].la_family &&
			    (memcmp(la[i].la_addr, lb[j].la_addr, 16) == 0 ||
			    memcmp(la[i].la_addr, any, 16) == 0 ||
			    memcmp(lb[j].la_addr, any, 16) == 0))
				return 1;
	return 0;
}

/* listen on ADDR port N [tls] */
static void
parse_listen(struct parser *ps)
{
	static const unsigned char v4mapped[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct conf_listen	*l;
	struct token		*t, *addr, *port, *tls;
	struct listen_addr	 la[LISTEN_ADDRS];
	int			 lineno = ps->ps_toks[0].t_lineno, ok = 1;

	if (!tok_kw(t = tok_next(ps), "on")) {
		expected(ps, t, "\"on\"");
		return;
	}
	addr = tok_next(ps);
	if (!tok_value(addr) && !tok_kw(addr, "localhost")) {
		expected(ps, addr, "an address");
		return;
	}
	if (listen_addrs(addr->t_text, la) == 0) {
		conf_error(ps, addr->t_lineno, "invalid address \"%s\"",
		    addr->t_text);
		ok = 0;
	} else if (la[0].la_family == AF_INET6 &&
	    memcmp(la[0].la_addr, v4mapped, sizeof(v4mapped)) == 0) {
		/* Listeners on IPv6 take IPv6 only: it cannot be bound. */
		conf_error(ps, addr->t_lineno, "invalid address \"%s\": an "
		    "IPv4 address in IPv6 form; give it as IPv4", addr->t_text);
		ok = 0;
	}
	if (!tok_kw(t = tok_next(ps), "port")) {
		expected(ps, t, "\"port\"");
		return;
	}
	if ((port = tok_next(ps)) == NULL || port->t_type != T_NUMBER) {
		expected(ps, port, "a port number");
		return;
	}
	if (!check_range(ps, port, "port", 1, 65535))
		ok = 0;
	tls = tok_next(ps);
	if (tls != NULL && !tok_kw(tls, "tls")) {
		expected(ps, tls, "\"tls\" or end of line");
		return;
	}
	if (!end_of_line(ps) || !ok)
		return;

	TAILQ_FOREACH(l, &ps->ps_conf->cf_listens, l_entry)
		if (l->l_port == port->t_num &&
		    listen_overlap(la, l->l_addr)) {
			conf_error(ps, lineno, "listen on \"%s\" port %d: that "
			    "address and port are taken at line %d (\"%s\")",
			    addr->t_text, l->l_port, l->l_lineno, l->l_addr);
			return;
		}
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->l_addr = strdup(addr->t_text)) == NULL) {
		free(l);
		ps->ps_oom = 1;
		return;
	}
	l->l_port = (int)port->t_num;
	l->l_tls = tls != NULL;
	l->l_lineno = lineno;
	TAILQ_INSERT_TAIL(&ps->ps_conf->cf_listens, l, l_entry);
}

/*
 * What is wrong with an origin, lowercased, or NULL: the form browsers
 * serialise (RFC 6454), scheme://host[:port], since anything else never
 * matches what they send.  A name is ASCII (browsers send an IDN's
 * punycode), an IPv6 address is in brackets, a port is 1 to 65535 without
 * leading zeros and not the scheme's default, which browsers leave out.
 */
#define ORIGIN_FORM	"\"null\" or http[s]://host[:port], no path"

static const char *
origin_fault(const char *s)
{
	struct in6_addr	 a6;
	const char	*host, *end, *port;
	char		 buf[INET6_ADDRSTRLEN + 1];
	long		 n;
	int		 tls;

	if (strcmp(s, "null") == 0)
		return NULL;
	if (strlen(s) >= GPIOWS_ORIGIN_MAX)
		return "too long";
	if (strncmp(s, "http://", 7) == 0) {
		host = s + 7;
		tls = 0;
	} else if (strncmp(s, "https://", 8) == 0) {
		host = s + 8;
		tls = 1;
	} else
		return ORIGIN_FORM;
	if (*host == '[') {
		if ((end = strchr(host, ']')) == NULL)
			return "no \"]\" after the IPv6 address";
		if ((size_t)(end - host - 1) >= sizeof(buf))
			return "not an IPv6 address in brackets";
		memcpy(buf, host + 1, (size_t)(end - host - 1));
		buf[end - host - 1] = '\0';
		if (inet_pton(AF_INET6, buf, &a6) != 1)
			return "not an IPv6 address in brackets";
		end++;
	} else {
		for (end = host; (*end >= 'a' && *end <= 'z') ||
		    (*end >= '0' && *end <= '9') || *end == '.' ||
		    *end == '-' || *end == '_'; end++)
			;
		if (end == host)
			return strchr(host + 1, ':') != NULL ?
			    "no host; an IPv6 address goes "
			    "in brackets" : "no host";
		if ((unsigned char)*end >= 0x80)
			return "a name outside ASCII: browsers send its xn-- "
			    "form";
		if (*end != '\0' && strchr(":/?#", *end) == NULL)
			return "not a host name";
	}
	if (*end == '\0')
		return NULL;
	if (*end != ':')
		return ORIGIN_FORM;
	port = end + 1;
	if (*port == '0' && port[1] != '\0')
		return "a port with a leading zero";
	if (*port < '1' || *port > '9' || strspn(port, "0123456789") !=
	    strlen(port) || strlen(port) > 5 || (n = strtol(port, NULL, 10)) >
	    65535)
		return "port not 1 to 65535";
	if (n == (tls ? 443 : 80))
		return tls ? "browsers leave the default port 443 out" :
		    "browsers leave the default port 80 out";
	return NULL;
}

/*
 * origin "null" | origin "http[s]://host[:port]": an origin wsd accepts for
 * WebSocket connections from browsers.  Kept as written, lowercased, since
 * browsers send them serialised that way.
 */
static void
parse_origin(struct parser *ps)
{
	struct conf_origin	*o;
	struct token		*t;
	const char		*why;
	char			*s, *p;
	int			 lineno = ps->ps_toks[0].t_lineno;

	if (!tok_value(t = tok_next(ps))) {
		expected(ps, t, "an origin");
		return;
	}
	if (!end_of_line(ps))
		return;
	if ((s = strdup(t->t_text)) == NULL) {
		ps->ps_oom = 1;
		return;
	}
	for (p = s; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	if ((why = origin_fault(s)) != NULL) {
		conf_error(ps, lineno, "invalid origin \"%s\" (%s)",
		    t->t_text, why);
		free(s);
		return;
	}
	TAILQ_FOREACH(o, &ps->ps_conf->cf_origins, o_entry)
		if (strcmp(o->o_origin, s) == 0) {
			conf_error(ps, lineno, "origin \"%s\" given twice, "
			    "first at line %d", t->t_text, o->o_lineno);
			free(s);
			return;
		}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		free(s);
		ps->ps_oom = 1;
		return;
	}
	o->o_origin = s;
	o->o_lineno = lineno;
	TAILQ_INSERT_TAIL(&ps->ps_conf->cf_origins, o, o_entry);
}

/* max clients N, max message BYTES: each at most once. */
static void
parse_max(struct parser *ps)
{
	struct token	*what, *n;
	int		*first, lineno = ps->ps_toks[0].t_lineno;

	what = tok_next(ps);
	if (tok_kw(what, "clients"))
		first = &ps->ps_clients_line;
	else if (tok_kw(what, "message"))
		first = &ps->ps_message_line;
	else {
		expected(ps, what, "\"clients\" or \"message\"");
		return;
	}
	if ((n = tok_next(ps)) == NULL || n->t_type != T_NUMBER) {
		expected(ps, n, "a number");
		return;
	}
	if (!end_of_line(ps))
		return;
	if (*first != 0) {
		conf_error(ps, lineno, "max %s given twice, first at line %d",
		    what->t_text, *first);
		return;
	}
	*first = lineno;
	if (first == &ps->ps_clients_line) {
		if (check_range(ps, n, "max clients", 1, CONF_MAX_CLIENTS))
			ps->ps_conf->cf_max_clients = (unsigned int)n->t_num;
	} else if (check_range(ps, n, "max message", CONF_MIN_MESSAGE,
	    CONF_MAX_MESSAGE))
		ps->ps_conf->cf_max_message = (unsigned int)n->t_num;
}

/* history N: pin events kept for clients that resume; at most once. */
static void
parse_history(struct parser *ps)
{
	struct token	*n;
	int		 lineno = ps->ps_toks[0].t_lineno;

	if ((n = tok_next(ps)) == NULL || n->t_type != T_NUMBER) {
		expected(ps, n, "a number of events");
		return;
	}
	if (!end_of_line(ps))
		return;
	if (ps->ps_history_line != 0) {
		conf_error(ps, lineno, "history given twice, first at line %d",
		    ps->ps_history_line);
		return;
	}
	ps->ps_history_line = lineno;
	if (check_range(ps, n, "history", CONF_MIN_HISTORY, CONF_MAX_HISTORY))
		ps->ps_conf->cf_history = (unsigned int)n->t_num;
}

/* ping interval SECONDS: idle WebSocket clients; at most once. */
static void
parse_ping(struct parser *ps)
{
	struct token	*what, *n;
	int		 lineno = ps->ps_toks[0].t_lineno;

	what = tok_next(ps);
	if (!tok_kw(what, "interval")) {
		expected(ps, what, "\"interval\"");
		return;
	}
	if ((n = tok_next(ps)) == NULL || n->t_type != T_NUMBER) {
		expected(ps, n, "a number of seconds");
		return;
	}
	if (!end_of_line(ps))
		return;
	if (ps->ps_ping_line != 0) {
		conf_error(ps, lineno, "ping interval given twice, first at "
		    "line %d", ps->ps_ping_line);
		return;
	}
	ps->ps_ping_line = lineno;
	if (check_range(ps, n, "ping interval", 0, CONF_MAX_PING))
		ps->ps_conf->cf_ping_interval = (unsigned int)n->t_num;
}

/*
 * tls certificate FILE key FILE: at most once.  The files are read and
 * checked once the whole file is parsed (check_tls).
 */
static void
parse_tls(struct parser *ps)
{
	struct gpiows_conf	*cf = ps->ps_conf;
	struct token		*t, *cert, *key;
	int			 lineno = ps->ps_toks[0].t_lineno;

	ps->ps_tls_seen = 1;	/* its listeners need no error of their own */
	if (!tok_kw(t = tok_next(ps), "certificate")) {
		expected(ps, t, "\"certificate\"");
		return;
	}
	if (!tok_value(cert = tok_next(ps))) {
		expected(ps, cert, "a certificate file");
		return;
	}
	if (!tok_kw(t = tok_next(ps), "key")) {
		expected(ps, t, "\"key\"");
		return;
	}
	if (!tok_value(key = tok_next(ps))) {
		expected(ps, key, "a key file");
		return;
	}
	if (!end_of_line(ps))
		return;
	if (ps->ps_tls_line != 0) {
		conf_error(ps, lineno, "tls certificate given twice, first at "
		    "line %d", ps->ps_tls_line);
		return;
	}
	ps->ps_tls_line = lineno;
	if ((cf->cf_tls_cert = strdup(cert->t_text)) == NULL ||
	    (cf->cf_tls_key = strdup(key->t_text)) == NULL)
		ps->ps_oom = 1;
	cf->cf_tls_lineno = lineno;
}

/* user NAME, www DIR, journal DIR: each at most once. */
static void
parse_setting(struct parser *ps, char **dst, int *first, const char *what)
{
	struct token	*kw = &ps->ps_toks[0], *t;
	char		*s;

	if (*first != 0)
		conf_error(ps, kw->t_lineno, "%s given twice, first at line %d",
		    kw->t_text, *first);
	if (!tok_value(t = tok_next(ps))) {
		expected(ps, t, what);
		return;
	}
	if (!end_of_line(ps) || *first != 0)
		return;
	if ((s = strdup(t->t_text)) == NULL) {
		ps->ps_oom = 1;
		return;
	}
	free(*dst);
	*dst = s;
	*first = kw->t_lineno;
}

/*
 * chip NAME simulated lines N | chip NAME LOCATOR.  A chip whose statement
 * is broken but whose name is good still goes on the list, with neither
 * c_simulated nor c_locator set, so that its pins do not also report an
 * unknown chip; the file has an error anyway, so it is never used.
 */
static void
parse_chip(struct parser *ps)
{
	struct conf_chip	*c, *other;
	struct token		*name, *t;
	int			 keep;

	if (!tok_value(name = tok_next(ps))) {
		expected(ps, name, "a chip name");
		return;
	}
	keep = check_name(ps, name, "chip");
	if (keep && (other = chip_find(ps->ps_conf, name->t_text)) != NULL) {
		conf_error(ps, name->t_lineno, "chip \"%s\" defined twice, "
		    "first at line %d", name->t_text, other->c_lineno);
		keep = 0;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		ps->ps_oom = 1;
		return;
	}
	if (keep)
		name_copy(c->c_name, name->t_text);
	c->c_lineno = ps->ps_toks[0].t_lineno;

	t = tok_next(ps);
	if (tok_kw(t, "simulated")) {
		c->c_simulated = 1;
		if (!tok_kw(t = tok_next(ps), "lines"))
			expected(ps, t, "\"lines\"");
		else if ((t = tok_next(ps)) == NULL || t->t_type != T_NUMBER)
			expected(ps, t, "a number of lines");
		else if (check_range(ps, t, "lines", 1, CONF_MAX_SIM_LINES))
			c->c_nlines = (unsigned int)t->t_num;
	} else if (tok_value(t)) {
		if ((c->c_locator = strdup(t->t_text)) == NULL)
			ps->ps_oom = 1;
	} else
		expected(ps, t, "\"simulated\" or a chip label or path");
	if (!ps->ps_syntax)
		end_of_line(ps);

	if (ps->ps_syntax) {
		free(c->c_locator);
		c->c_locator = NULL;
		c->c_simulated = 0;
		c->c_nlines = 0;
	}
	if (!keep) {
		free(c->c_locator);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&ps->ps_conf->cf_chips, c, c_entry);
}

/* The 0|1 argument of "initial" or "safe". */
static void
parse_bit(struct parser *ps, const struct token *kw, int *dst)
{
	struct token	*t;

	if ((t = tok_next(ps)) == NULL || t->t_type != T_NUMBER)
		expected(ps, t, "0 or 1");
	else if (check_range(ps, t, kw->t_text, 0, 1))
		*dst = (int)t->t_num;
}

/*
 * pin NAME chip CHIP line N|"NAME" input|output [options]: everything after
 * the name in any order, each at most once.  A pin with a syntax error is
 * dropped; one with only bad values is kept (with an empty name if that was
 * the bad part) so that the checks across pins still run on it.
 */
static void
parse_pin(struct parser *ps)
{
	struct conf_pin		*p, *other;
	struct pin_ref		*r;
	struct token		*name, *t, *a;
	struct token		*seen_chip = NULL, *seen_line = NULL;
	struct token		*seen_dir = NULL, *seen_initial = NULL;
	struct token		*seen_safe = NULL, *seen_edge = NULL;
	struct token		*seen_bias = NULL, *seen_al = NULL, **seen;
	struct token		*seen_drive = NULL, *seen_debounce = NULL;
	char			 chip[GPIOWS_NAME_SIZE] = "";
	int			 line_ok = 0, ignored;

	if (!tok_value(name = tok_next(ps))) {
		expected(ps, name, "a pin name");
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		ps->ps_oom = 1;
		return;
	}
	p->p_lineno = ps->ps_toks[0].t_lineno;
	p->p_offset = -1;
	p->p_initial = -1;
	p->p_safe = -1;
	if (check_name(ps, name, "pin")) {
		TAILQ_FOREACH(other, &ps->ps_conf->cf_pins, p_entry)
			if (strcmp(other->p_name, name->t_text) == 0)
				break;
		if (other != NULL)
			conf_error(ps, name->t_lineno, "pin \"%s\" defined "
			    "twice, first at line %d", name->t_text,
			    other->p_lineno);
		else
			name_copy(p->p_name, name->t_text);
	}

	while (!ps->ps_syntax && (t = tok_next(ps)) != NULL) {
		if (tok_kw(t, "chip"))
			seen = &seen_chip;
		else if (tok_kw(t, "line"))
			seen = &seen_line;
		else if (tok_kw(t, "input") || tok_kw(t, "output"))
			seen = &seen_dir;
		else if (tok_kw(t, "initial"))
			seen = &seen_initial;
		else if (tok_kw(t, "safe"))
			seen = &seen_safe;
		else if (tok_kw(t, "edge"))
			seen = &seen_edge;
		else if (tok_kw(t, "bias"))
			seen = &seen_bias;
		else if (tok_kw(t, "active-low"))
			seen = &seen_al;
		else if (tok_kw(t, "drive"))
			seen = &seen_drive;
		else if (tok_kw(t, "debounce"))
			seen = &seen_debounce;
		else {
			expected(ps, t, "a pin option or end of line");
			break;
		}
		if (*seen != NULL) {
			if (seen == &seen_dir)
				conf_error(ps, t->t_lineno,
				    "input or output given twice");
			else
				conf_error(ps, t->t_lineno, "%s given twice",
				    t->t_text);
		}

		if (seen == &seen_chip) {
			if (!tok_value(a = tok_next(ps)))
				expected(ps, a, "a chip name");
			else if (check_name(ps, a, "chip") && *seen == NULL)
				name_copy(chip, a->t_text);
		} else if (seen == &seen_line) {
			a = tok_next(ps);
			if (a != NULL && a->t_type == T_NUMBER) {
				if (check_range(ps, a, "line", 0,
				    CONF_MAX_OFFSET) && *seen == NULL) {
					p->p_offset = (int)a->t_num;
					line_ok = 1;
				}
			} else if (a != NULL && a->t_type == T_STRING &&
			    a->t_text[0] != '\0') {
				if (*seen == NULL) {
					if ((p->p_line_name =
					    strdup(a->t_text)) == NULL)
						ps->ps_oom = 1;
					line_ok = 1;
				}
			} else
				expected(ps, a,
				    "a line offset or a quoted line name");
		} else if (seen == &seen_dir) {
			if (*seen == NULL)
				p->p_dir = tok_kw(t, "output") ?
				    PIN_OUTPUT : PIN_INPUT;
		} else if (seen == &seen_initial) {
			parse_bit(ps, t, *seen == NULL ? &p->p_initial :
			    &ignored);
		} else if (seen == &seen_safe) {
			parse_bit(ps, t, *seen == NULL ? &p->p_safe :
			    &ignored);
		} else if (seen == &seen_edge) {
			a = tok_next(ps);
			if (tok_kw(a, "rising") || tok_kw(a, "falling") ||
			    tok_kw(a, "both")) {
				if (*seen == NULL)
					p->p_edge = tok_kw(a, "both") ?
					    EDGE_BOTH : tok_kw(a, "rising") ?
					    EDGE_RISING : EDGE_FALLING;
			} else
				expected(ps, a,
				    "\"rising\", \"falling\" or \"both\"");
		} else if (seen == &seen_bias) {
			a = tok_next(ps);
			if (tok_kw(a, "pull-up") || tok_kw(a, "pull-down") ||
			    tok_kw(a, "disabled")) {
				if (*seen == NULL)
					p->p_bias = tok_kw(a, "pull-up") ?
					    BIAS_PULL_UP :
					    tok_kw(a, "pull-down") ?
					    BIAS_PULL_DOWN : BIAS_DISABLED;
			} else
				expected(ps, a, "\"pull-up\", \"pull-down\" "
				    "or \"disabled\"");
		} else if (seen == &seen_drive) {
			a = tok_next(ps);
			if (tok_kw(a, "push-pull") || tok_kw(a, "open-drain") ||
			    tok_kw(a, "open-source")) {
				if (*seen == NULL)
					p->p_drive = tok_kw(a, "open-drain") ?
					    DRIVE_OPEN_DRAIN :
					    tok_kw(a, "open-source") ?
					    DRIVE_OPEN_SOURCE : DRIVE_PUSH_PULL;
			} else
				expected(ps, a, "\"push-pull\", \"open-drain\" "
				    "or \"open-source\"");
		} else if (seen == &seen_debounce) {
			/* "Nms": a word, since a unit follows the digits. */
			char		*end;
			long		 ms = -1;

			a = tok_next(ps);
			if (a != NULL && a->t_type == T_WORD &&
			    a->t_text[0] >= '0' && a->t_text[0] <= '9') {
				ms = strtol(a->t_text, &end, 10);
				if (strcmp(end, "ms") != 0)
					ms = -1;
			}
			if (ms == -1)
				expected(ps, a, "a time in milliseconds "
				    "(\"20ms\")");
			else if (ms < 1 || ms > CONF_MAX_DEBOUNCE)
				conf_error(ps, a->t_lineno, "debounce \"%s\" "
				    "out of range (1ms..%dms)", a->t_text,
				    CONF_MAX_DEBOUNCE);
			else if (*seen == NULL)
				p->p_debounce_ms = (int)ms;
		} else if (seen == &seen_al)
			p->p_active_low = 1;
		if (*seen == NULL)
			*seen = t;
	}
	if (ps->ps_syntax || ps->ps_oom) {
		free(p->p_line_name);
		free(p);
		return;
	}

	if (seen_chip == NULL)
		conf_error(ps, p->p_lineno, "missing \"chip\"");
	if (seen_line == NULL)
		conf_error(ps, p->p_lineno, "missing \"line\"");
	if (seen_dir == NULL)
		conf_error(ps, p->p_lineno, "missing \"input\" or \"output\"");
	else if (p->p_dir == PIN_INPUT) {
		if (seen_initial != NULL)
			conf_error(ps, seen_initial->t_lineno,
			    "initial is not allowed on an input");
		if (seen_safe != NULL)
			conf_error(ps, seen_safe->t_lineno,
			    "safe is not allowed on an input");
		if (seen_drive != NULL)
			conf_error(ps, seen_drive->t_lineno,
			    "drive is not allowed on an input");
		if (seen_debounce != NULL && seen_edge == NULL)
			conf_error(ps, seen_debounce->t_lineno,
			    "debounce needs edge");
	} else {
		if (seen_edge != NULL)
			conf_error(ps, seen_edge->t_lineno,
			    "edge is not allowed on an output");
		if (seen_debounce != NULL)
			conf_error(ps, seen_debounce->t_lineno,
			    "debounce is not allowed on an output");
	}

	if ((r = ps_grow(ps, ps->ps_refs, &ps->ps_refs_size,
	    ps->ps_nrefs + 1, sizeof(*r))) == NULL) {
		free(p->p_line_name);
		free(p);
		return;
	}
	ps->ps_refs = r;
	r += ps->ps_nrefs++;
	r->r_pin = p;
	name_copy(r->r_chip, chip);
	r->r_line_ok = line_ok;
	TAILQ_INSERT_TAIL(&ps->ps_conf->cf_pins, p, p_entry);
	if (ps->ps_conf->cf_npins++ == CONF_MAX_PINS)
		conf_error(ps, p->p_lineno, "pin \"%s\": more than %d pins",
		    p->p_name, CONF_MAX_PINS);
}

/* Pins to chips, once every chip is known; errors at the pin's line. */
static void
resolve_pins(struct parser *ps)
{
	struct pin_ref		*r, *q;
	struct conf_pin		*p, *o;
	struct conf_chip	*c;

	for (r = ps->ps_refs; r < ps->ps_refs + ps->ps_nrefs; r++) {
		p = r->r_pin;
		if (r->r_chip[0] == '\0')
			continue;
		if ((c = chip_find(ps->ps_conf, r->r_chip)) == NULL) {
			conf_error(ps, p->p_lineno, "unknown chip \"%s\"",
			    r->r_chip);
			continue;
		}
		p->p_chip = c;
		if ((!c->c_simulated && c->c_locator == NULL) || !r->r_line_ok)
			continue;
		if (c->c_simulated && p->p_line_name != NULL) {
			conf_error(ps, p->p_lineno, "simulated chip \"%s\" has "
			    "no line names", c->c_name);
			r->r_line_ok = 0;
			continue;
		}
		if (c->c_simulated && c->c_nlines > 0 &&
		    (unsigned int)p->p_offset >= c->c_nlines) {
			conf_error(ps, p->p_lineno, "line \"%d\" out of range "
			    "for simulated chip \"%s\" (0..%u)", p->p_offset,
			    c->c_name, c->c_nlines - 1);
			r->r_line_ok = 0;
			continue;
		}
		for (q = ps->ps_refs; q < r; q++) {
			o = q->r_pin;
			if (o->p_chip != c || !q->r_line_ok ||
			    o->p_name[0] == '\0')
				continue;
			if (p->p_line_name == NULL && o->p_line_name == NULL &&
			    p->p_offset == o->p_offset) {
				conf_error(ps, p->p_lineno, "line %d of chip "
				    "\"%s\" already used by pin \"%s\" at line "
				    "%d", p->p_offset, c->c_name, o->p_name,
				    o->p_lineno);
				break;
			}
			if (p->p_line_name != NULL && o->p_line_name != NULL &&
			    strcmp(p->p_line_name, o->p_line_name) == 0) {
				conf_error(ps, p->p_lineno, "line \"%s\" of chip "
				    "\"%s\" already used by pin \"%s\" at line "
				    "%d", p->p_line_name, c->c_name, o->p_name,
				    o->p_lineno);
				break;
			}
		}
	}
}

/*
 * A certificate or key file, whole, relative to the directory of the
 * configuration; NULL with the error reported at the tls line.  The helper
 * reads it as root: wsd gets the bytes, never the file.
 */
static char *
tls_read(struct parser *ps, const char *what, const char *path, size_t *lenp)
{
	char		*abs, *buf, why[128];
	size_t		 len;

	if ((abs = make_absolute(ps, path)) == NULL) {
		ps->ps_oom = 1;
		return NULL;
	}
	buf = file_read(abs, IPC_TLS_PEM_MAX, &len, why, sizeof(why));
	free(abs);
	if (buf == NULL) {
		conf_error(ps, ps->ps_tls_line, "%s \"%s\": %s", what, path, why);
		return NULL;
	}
	if (len == 0) {
		conf_error(ps, ps->ps_tls_line, "%s \"%s\": empty file", what,
		    path);
		free(buf);
		return NULL;
	}
	*lenp = len;
	return buf;
}

/*
 * Every TLS listener needs the certificate; the certificate and key must
 * load the way wsd will load them, so gpiod-helper -n finds what wsd would.
 */
static void
check_tls(struct parser *ps)
{
	struct gpiows_conf	*cf = ps->ps_conf;
	struct conf_listen	*l;
	enum tlsctx_error	 what;
	SSL_CTX			*ctx;
	char			 err[256];

	if (!ps->ps_tls_seen) {
		TAILQ_FOREACH(l, &cf->cf_listens, l_entry)
			if (l->l_tls)
				conf_error(ps, l->l_lineno, "listen with tls "
				    "needs \"tls certificate FILE key FILE\"");
		return;
	}
	if (ps->ps_tls_line == 0 || cf->cf_tls_cert == NULL ||
	    cf->cf_tls_key == NULL)
		return;
	cf->cf_tls_cert_pem = tls_read(ps, "certificate", cf->cf_tls_cert,
	    &cf->cf_tls_cert_len);
	cf->cf_tls_key_pem = tls_read(ps, "key", cf->cf_tls_key,
	    &cf->cf_tls_key_len);
	if (cf->cf_tls_cert_pem == NULL || cf->cf_tls_key_pem == NULL)
		return;
	if ((ctx = tlsctx_new(cf->cf_tls_cert_pem, cf->cf_tls_cert_len,
	    cf->cf_tls_key_pem, cf->cf_tls_key_len, &what, err,
	    sizeof(err))) != NULL) {
		SSL_CTX_free(ctx);
		return;
	}
	switch (what) {
	case TLSCTX_E_CERT:
		conf_error(ps, ps->ps_tls_line, "certificate \"%s\": %s",
		    cf->cf_tls_cert, err);
		break;
	case TLSCTX_E_KEY:
		conf_error(ps, ps->ps_tls_line, "key \"%s\": %s",
		    cf->cf_tls_key, err);
		break;
	case TLSCTX_E_MATCH:
		conf_error(ps, ps->ps_tls_line, "key \"%s\" does not match "
		    "certificate \"%s\"", cf->cf_tls_key, cf->cf_tls_cert);
		break;
	default:
		conf_error(ps, ps->ps_tls_line, "tls: %s", err);
		break;
	}
}

/* dirname(ps_path) + "/" + path, the directory made absolute. */
static char *
make_absolute(struct parser *ps, const char *path)
{
	char		 cwd[PATH_MAX];
	const char	*slash;
	int		 dirlen;

	if (path[0] == '/')
		return strdup(path);
	slash = strrchr(ps->ps_path, '/');
	dirlen = slash == NULL ? 0 : (int)(slash - ps->ps_path);
	if (ps->ps_path[0] == '/')
		return str_printf("%.*s/%s", dirlen, ps->ps_path, path);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	return str_printf("%s%s%.*s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/",
	    dirlen, ps->ps_path, dirlen > 0 ? "/" : "", path);
}

/* Defaults and absolute paths, once the file is known to be good. */
static int
conf_finish(struct parser *ps)
{
	struct gpiows_conf	*cf = ps->ps_conf;
	struct conf_listen	*l;
	char			*s;

	if (TAILQ_EMPTY(&cf->cf_listens)) {
		if ((l = calloc(1, sizeof(*l))) == NULL ||
		    (l->l_addr = strdup(CONF_DEFAULT_ADDR)) == NULL) {
			free(l);
			return -1;
		}
		l->l_port = CONF_DEFAULT_PORT;
		TAILQ_INSERT_TAIL(&cf->cf_listens, l, l_entry);
	}
	if (cf->cf_user == NULL &&
	    (cf->cf_user = strdup(GPIOWS_DEFAULT_USER)) == NULL)
		return -1;
	if ((s = make_absolute(ps, cf->cf_www != NULL ? cf->cf_www :
	    GPIOWS_DEFAULT_WWW)) == NULL)
		return -1;
	free(cf->cf_www);
	cf->cf_www = s;
	if ((s = make_absolute(ps, cf->cf_journal != NULL ? cf->cf_journal :
	    GPIOWS_DEFAULT_JOURNAL)) == NULL)
		return -1;
	free(cf->cf_journal);
	cf->cf_journal = s;
	return 0;
}

struct gpiows_conf *
conf_parse(const char *path)
{
	struct parser		 ps;
	struct gpiows_conf	*cf;
	size_t			 i;
	char			 why[128];
	int			 r;

	memset(&ps, 0, sizeof(ps));
	ps.ps_path = path;
	ps.ps_lineno = 1;
	if ((cf = calloc(1, sizeof(*cf))) == NULL ||
	    (cf->cf_path = strdup(path)) == NULL) {
		free(cf);
		fprintf(stderr, "%s: %s\n", path, strerror(ENOMEM));
		return NULL;
	}
	TAILQ_INIT(&cf->cf_listens);
	TAILQ_INIT(&cf->cf_origins);
	TAILQ_INIT(&cf->cf_chips);
	TAILQ_INIT(&cf->cf_pins);
	cf->cf_max_clients = CONF_DEFAULT_CLIENTS;
	cf->cf_max_message = CONF_DEFAULT_MESSAGE;
	cf->cf_history = CONF_DEFAULT_HISTORY;
	cf->cf_ping_interval = CONF_DEFAULT_PING;
	ps.ps_conf = cf;

	if ((ps.ps_buf = file_read(path, CONF_MAX_SIZE, &ps.ps_len, why,
	    sizeof(why))) == NULL) {
		fprintf(stderr, "%s: %s\n", path, why);
		goto fail;
	}
	/* Invisible in the message a keyword with it would get. */
	if (ps.ps_len >= 3 && memcmp(ps.ps_buf, "\xef\xbb\xbf", 3) == 0) {
		conf_error(&ps, 1, "a byte order mark (U+FEFF) starts the file: "
		    "save it without one");
		ps.ps_pos = 3;
	}
	while ((r = lex_line(&ps)) != 0)
		if (r == 1 && ps.ps_ntoks > 0)
			parse_statement(&ps);
	lex_clear(&ps);
	if (!ps.ps_oom)
		resolve_pins(&ps);
	if (!ps.ps_oom)
		check_tls(&ps);
	if (ps.ps_oom) {
		fprintf(stderr, "%s: %s\n", path, strerror(ENOMEM));
		goto fail;
	}
	if (ps.ps_nerrs > 0) {
		qsort(ps.ps_errs, ps.ps_nerrs, sizeof(*ps.ps_errs), err_cmp);
		for (i = 0; i < ps.ps_nerrs; i++)
			fprintf(stderr, "%s:%d: %s\n", path,
			    ps.ps_errs[i].e_lineno, ps.ps_errs[i].e_msg);
		goto fail;
	}
	if (conf_finish(&ps) == -1) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		goto fail;
	}
	goto done;
fail:
	conf_free(cf);
	cf = NULL;
done:
	for (i = 0; i < ps.ps_nerrs; i++)
		free(ps.ps_errs[i].e_msg);
	free(ps.ps_errs);
	free(ps.ps_toks);
	free(ps.ps_refs);
	free(ps.ps_buf);
	return cf;
}

void
conf_free(struct gpiows_conf *cf)
{
	struct conf_listen	*l;
	struct conf_origin	*o;
	struct conf_chip	*c;
	struct conf_pin		*p;

	if (cf == NULL)
		return;
	while ((l = TAILQ_FIRST(&cf->cf_listens)) != NULL) {
		TAILQ_REMOVE(&cf->cf_listens, l, l_entry);
		free(l->l_addr);
		free(l);
	}
	while ((o = TAILQ_FIRST(&cf->cf_origins)) != NULL) {
		TAILQ_REMOVE(&cf->cf_origins, o, o_entry);
		free(o->o_origin);
		free(o);
	}
	while ((c = TAILQ_FIRST(&cf->cf_chips)) != NULL) {
		TAILQ_REMOVE(&cf->cf_chips, c, c_entry);
		free(c->c_locator);
		free(c);
	}
	while ((p = TAILQ_FIRST(&cf->cf_pins)) != NULL) {
		TAILQ_REMOVE(&cf->cf_pins, p, p_entry);
		free(p->p_line_name);
		free(p);
	}
	if (cf->cf_tls_key_pem != NULL)
		explicit_bzero(cf->cf_tls_key_pem, cf->cf_tls_key_len);
	free(cf->cf_tls_key_pem);
	free(cf->cf_tls_cert_pem);
	free(cf->cf_tls_cert);
	free(cf->cf_tls_key);
	free(cf->cf_path);
	free(cf->cf_user);
	free(cf->cf_www);
	free(cf->cf_journal);
	free(cf);
}

int
conf_same_listens(const struct gpiows_conf *a, const struct gpiows_conf *b)
{
	const struct conf_listen	*la, *lb;

	for (la = TAILQ_FIRST(&a->cf_listens), lb = TAILQ_FIRST(&b->cf_listens);
	    la != NULL && lb != NULL;
	    la = TAILQ_NEXT(la, l_entry), lb = TAILQ_NEXT(lb, l_entry))
		if (strcmp(la->l_addr, lb->l_addr) != 0 ||
		    la->l_port != lb->l_port || la->l_tls != lb->l_tls)
			return 0;
	return la == NULL && lb == NULL;
}

void
conf_swap_settings(struct gpiows_conf *a, struct gpiows_conf *b)
{
	struct conf_listen	*l;
	char			*s;
	TAILQ_HEAD(, conf_listen) tmp = TAILQ_HEAD_INITIALIZER(tmp);

	s = a->cf_user, a->cf_user = b->cf_user, b->cf_user = s;
	s = a->cf_www, a->cf_www = b->cf_www, b->cf_www = s;
	s = a->cf_journal, a->cf_journal = b->cf_journal, b->cf_journal = s;
	while ((l = TAILQ_FIRST(&a->cf_listens)) != NULL) {
		TAILQ_REMOVE(&a->cf_listens, l, l_entry);
		TAILQ_INSERT_TAIL(&tmp, l, l_entry);
	}
	while ((l = TAILQ_FIRST(&b->cf_listens)) != NULL) {
		TAILQ_REMOVE(&b->cf_listens, l, l_entry);
		TAILQ_INSERT_TAIL(&a->cf_listens, l, l_entry);
	}
	while ((l = TAILQ_FIRST(&tmp)) != NULL) {
		TAILQ_REMOVE(&tmp, l, l_entry);
		TAILQ_INSERT_TAIL(&b->cf_listens, l, l_entry);
	}
}

int
conf_has_tls(const struct gpiows_conf *cf)
{
	const struct conf_listen	*l;

	TAILQ_FOREACH(l, &cf->cf_listens, l_entry)
		if (l->l_tls)
			return 1;
	return 0;
}

int
conf_keep_tls(struct gpiows_conf *a, struct gpiows_conf *b)
{
	char	*s;
	size_t	 n;
	int	 i;

	if (!conf_has_tls(b) || b->cf_tls_cert_pem != NULL ||
	    a->cf_tls_cert_pem == NULL)
		return 0;
	s = a->cf_tls_cert, a->cf_tls_cert = b->cf_tls_cert, b->cf_tls_cert = s;
	s = a->cf_tls_key, a->cf_tls_key = b->cf_tls_key, b->cf_tls_key = s;
	i = a->cf_tls_lineno, a->cf_tls_lineno = b->cf_tls_lineno,
	    b->cf_tls_lineno = i;
	s = a->cf_tls_cert_pem, a->cf_tls_cert_pem = b->cf_tls_cert_pem,
	    b->cf_tls_cert_pem = s;
	n = a->cf_tls_cert_len, a->cf_tls_cert_len = b->cf_tls_cert_len,
	    b->cf_tls_cert_len = n;
	s = a->cf_tls_key_pem, a->cf_tls_key_pem = b->cf_tls_key_pem,
	    b->cf_tls_key_pem = s;
	n = a->cf_tls_key_len, a->cf_tls_key_len = b->cf_tls_key_len,
	    b->cf_tls_key_len = n;
	return 1;
}
