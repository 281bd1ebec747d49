/*
 * gpiows.conf: the parsed configuration.  parse.c builds it; the helper
 * alone reads the file (wsd and the worker learn the pins over IPC).
 * gpiows.conf(5) is the grammar's documentation; the keyword table in parse.c
 * and that page must list the same words (tests/conf-keywords checks).
 */
#ifndef GPIOWS_CONF_H
#define GPIOWS_CONF_H

#include <sys/queue.h>

#include "ipc.h"	/* GPIOWS_NAME_SIZE */

enum pin_dir {
	PIN_INPUT,
	PIN_OUTPUT
};

enum pin_edge {
	EDGE_NONE = 0,
	EDGE_RISING = 1,
	EDGE_FALLING = 2,
	EDGE_BOTH = 3
};

enum pin_drive {
	DRIVE_PUSH_PULL = 0,	/* the default */
	DRIVE_OPEN_DRAIN,
	DRIVE_OPEN_SOURCE
};

enum pin_bias {
	BIAS_AS_IS = 0,		/* not given: leave the line as it is */
	BIAS_PULL_UP,
	BIAS_PULL_DOWN,
	BIAS_DISABLED
};

struct conf_listen {
	TAILQ_ENTRY(conf_listen) l_entry;
	char		*l_addr;	/* as written: "127.0.0.1", "::1", "*" */
	int		 l_port;
	int		 l_tls;		/* "tls": https and wss */
	int		 l_lineno;
};

struct conf_origin {
	TAILQ_ENTRY(conf_origin) o_entry;
	char		*o_origin;	/* "null" or scheme://host[:port], lowercase */
	int		 o_lineno;
};

struct conf_chip {
	TAILQ_ENTRY(conf_chip) c_entry;
	char		 c_name[GPIOWS_NAME_SIZE];
	int		 c_simulated;
	unsigned int	 c_nlines;	/* simulated chips: number of lines */
	char		*c_locator;	/* real chips: label, path or name */
	int		 c_lineno;
};

struct conf_pin {
	TAILQ_ENTRY(conf_pin) p_entry;
	char		 p_name[GPIOWS_NAME_SIZE];
	struct conf_chip *p_chip;
	int		 p_offset;	/* line offset, or -1 when by name */
	char		*p_line_name;	/* line by name, or NULL */
	enum pin_dir	 p_dir;
	int		 p_initial;	/* 0, 1, or -1 when not given */
	int		 p_safe;	/* 0, 1, or -1 when not given */
	enum pin_edge	 p_edge;
	enum pin_bias	 p_bias;
	enum pin_drive	 p_drive;	/* outputs */
	int		 p_debounce_ms;	/* inputs with edge; 0: none */
	int		 p_active_low;
	int		 p_lineno;
};

struct gpiows_conf {
	char		*cf_path;	/* the file as given on the command line */
	char		*cf_user;	/* default GPIOWS_DEFAULT_USER */
	char		*cf_www;	/* absolute; default GPIOWS_DEFAULT_WWW */
	char		*cf_journal;	/* absolute; default GPIOWS_DEFAULT_JOURNAL */
	TAILQ_HEAD(, conf_listen) cf_listens;
	TAILQ_HEAD(, conf_origin) cf_origins;	/* empty: the request's host */
	unsigned int	 cf_max_clients;	/* WebSocket clients at once */
	unsigned int	 cf_max_message;	/* bytes in one WebSocket message */
	unsigned int	 cf_history;		/* pin events kept for resume */
	unsigned int	 cf_ping_interval;	/* s before an idle client is pinged; 0: never */
	TAILQ_HEAD(, conf_chip)	 cf_chips;
	TAILQ_HEAD(, conf_pin)	 cf_pins;
	unsigned int	 cf_npins;
	/*
	 * "tls certificate FILE key FILE": the paths as written and the files'
	 * bytes, read and checked by conf_parse; the key's bytes are wiped
	 * when the configuration is freed.
	 */
	char		*cf_tls_cert;
	char		*cf_tls_key;
	int		 cf_tls_lineno;
	char		*cf_tls_cert_pem;
	size_t		 cf_tls_cert_len;
	char		*cf_tls_key_pem;
	size_t		 cf_tls_key_len;
};

/*
 * conf_parse: read and check path.  Every error is printed to stderr as
 * "PATH:LINE: message" (PATH as given), and parsing goes on to find them all.
 * Returns the configuration, or NULL when there was at least one error (or
 * the file could not be read: "PATH: strerror").  Relative paths in the file
 * (www, journal) are taken relative to the directory of the file.
 * When no "listen" line is given, 127.0.0.1 port 8080 is used.
 */
struct gpiows_conf	*conf_parse(const char *path);
void			 conf_free(struct gpiows_conf *);
/* conf_same_listens: do a and b listen on the same addresses and ports? */
int			 conf_same_listens(const struct gpiows_conf *a,
			    const struct gpiows_conf *b);
/*
 * conf_swap_settings: exchange the settings a reload cannot apply (listen,
 * user, www, journal) between a and b.
 */
void			 conf_swap_settings(struct gpiows_conf *a,
			    struct gpiows_conf *b);
/* conf_has_tls: does a "listen" of cf have "tls"? */
int			 conf_has_tls(const struct gpiows_conf *cf);
/*
 * conf_keep_tls: after conf_swap_settings, when b (the new configuration)
 * has kept a's TLS listeners but has no certificate of its own, give it
 * a's.  Returns 1 when it did.
 */
int			 conf_keep_tls(struct gpiows_conf *a,
			    struct gpiows_conf *b);
/* conf_keywords: NULL-terminated list of every keyword of the grammar. */
const char * const	*conf_keywords(void);

#endif
