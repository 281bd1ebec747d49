/*
 * fanout: one turn's writes to clients, on two CPUs when there are many.
 *
 * A pin event to 1,000 clients is 1,000 writes, and nearly all of their
 * time is the kernel's TCP send path (on loopback, the receiving side's
 * too), which shares no state between two sockets.  Where wsd may run on
 * more than one CPU, a second thread takes the second half of a long list
 * while the loop's thread writes the first, and the loop waits for it
 * before going on.  The thread does nothing but sendmsg(2) on the
 * descriptors and iovecs it is handed: no libevent, no allocation, no
 * client state, so the rest of wsd stays single-threaded, and what each
 * write did is applied to its client by the loop's thread afterwards.
 *
 * The loop stays on the CPU it started on and the writer on the others, so
 * that the scheduler does not put both on one CPU because another process
 * keeps the rest busy.  The thread is started before the sandbox, whose
 * filter covers every thread (SCMP_FLTATR_CTL_TSYNC), with every signal
 * blocked: signals are the loop's.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>

#include "fanout.h"
#include "log.h"

static pthread_t	 thr;
static pthread_mutex_t	 mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 cv_go = PTHREAD_COND_INITIALIZER;
static pthread_cond_t	 cv_done = PTHREAD_COND_INITIALIZER;
static struct fan_item	*job;
static size_t		 njob;
static unsigned int	 gen_go, gen_done;
static int		 running, stopping;

static void
fan_do(struct fan_item *it, size_t n)
{
	struct msghdr	 mh;
	size_t		 i;

	memset(&mh, 0, sizeof(mh));
	for (i = 0; i < n; i++) {
		mh.msg_iov = it[i].fi_iov;
		mh.msg_iovlen = (size_t)it[i].fi_niov;
		do
			it[i].fi_n = sendmsg(it[i].fi_fd, &mh,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
		while (it[i].fi_n == -1 && errno == EINTR);
		it[i].fi_errno = it[i].fi_n == -1 ? errno : 0;
	}
}

static void *
fan_main(void *arg)
{
	unsigned int	 seen = 0;
	struct fan_item	*it;
	size_t		 n;

	for (;;) {
		pthread_mutex_lock(&mu);
		while (gen_go == seen && !stopping)
			pthread_cond_wait(&cv_go, &mu);
		if (stopping) {
			pthread_mutex_unlock(&mu);
			return NULL;
		}
		seen = gen_go;
		it = job;
		n = njob;
		pthread_mutex_unlock(&mu);
		fan_do(it, n);
		pthread_mutex_lock(&mu);
		gen_done = seen;
		pthread_cond_signal(&cv_done);
		pthread_mutex_unlock(&mu);
	}
}

void
fanout_init(void)
{
	cpu_set_t	 all, mine, others;
	sigset_t	 every, old;
	int		 cpu, i, rc;

	if (sched_getaffinity(0, sizeof(all), &all) == -1 ||
	    CPU_COUNT(&all) < 2 || (cpu = sched_getcpu()) == -1 ||
	    !CPU_ISSET(cpu, &all)) {
		log_debug("fan-out: one CPU, one thread");
		return;
	}
	CPU_ZERO(&mine);
	CPU_SET(cpu, &mine);
	CPU_ZERO(&others);
	for (i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &all) && i != cpu)
			CPU_SET(i, &others);
	sigfillset(&every);
	pthread_sigmask(SIG_SETMASK, &every, &old);
	rc = pthread_create(&thr, NULL, fan_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_warnx("fan-out thread: %s", strerror(rc));
		return;
	}
	running = 1;
	if ((rc = pthread_setaffinity_np(thr, sizeof(others), &others)) != 0 ||
	    sched_setaffinity(0, sizeof(mine), &mine) == -1)
		log_warnx("fan-out: CPU affinity: %s",
		    strerror(rc != 0 ? rc : errno));
	log_debug("fan-out: loop on CPU %d, writer on %d other%s", cpu,
	    CPU_COUNT(&others), CPU_COUNT(&others) == 1 ? "" : "s");
}

void
fanout_write(struct fan_item *it, size_t n)
{
	size_t	 half;

	if (!running || n < FANOUT_MIN) {
		fan_do(it, n);
		return;
	}
	half = n / 2;
	pthread_mutex_lock(&mu);
	job = it + half;
	njob = n - half;
	gen_go++;
	pthread_cond_signal(&cv_go);
	pthread_mutex_unlock(&mu);
	fan_do(it, half);
	pthread_mutex_lock(&mu);
	while (gen_done != gen_go)
		pthread_cond_wait(&cv_done, &mu);
	pthread_mutex_unlock(&mu);
}

void
fanout_shutdown(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&mu);
	stopping = 1;
	pthread_cond_signal(&cv_go);
	pthread_mutex_unlock(&mu);
	pthread_join(thr, NULL);
	running = 0;
}
