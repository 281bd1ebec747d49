/*
 * Logging shared by the three programs, after OpenBSD's log.c: stderr in the
 * foreground, syslog when daemonised.  log_warn() appends strerror(errno);
 * fatal() and fatalx() log and exit(1).
 */
#ifndef GPIOWS_LOG_H
#define GPIOWS_LOG_H

#include <stdarg.h>

/*
 * log_init: where to log.  foreground != 0 logs to stderr, else to syslog
 * with the LOG_DAEMON facility.  verbose > 0 lets log_debug() through.
 */
void	log_init(int foreground, int verbose);
/* log_procname: the name that prefixes every line ("wsd", "helper"). */
void	log_procname(const char *name);
int	log_getverbose(void);

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
