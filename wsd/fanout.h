/*
 * fanout: writing one turn's output to many clients, on two CPUs where
 * wsd may use more than one (fanout.c).
 */
#ifndef GPIOWS_FANOUT_H
#define GPIOWS_FANOUT_H

#include <sys/types.h>
#include <sys/uio.h>

#define FANOUT_IOV	8	/* iovecs of one client's output per write */
#define FANOUT_MIN	64	/* fewer writes than this stay on one thread */

struct fan_item {
	int		 fi_fd;
	int		 fi_niov;
	struct iovec	 fi_iov[FANOUT_IOV];
	ssize_t		 fi_n;		/* what sendmsg returned */
	int		 fi_errno;	/* and its errno, 0 if none */
	void		*fi_arg;	/* the caller's: fanout never reads it */
};

/* fanout_init: before the sandbox; starts the writer if there are CPUs for it. */
void	fanout_init(void);
/* fanout_write: send each item's iovecs, in parallel when there are many. */
void	fanout_write(struct fan_item *, size_t);
/* fanout_shutdown: the writer stops. */
void	fanout_shutdown(void);

#endif
