/*
 * edge-toggle: the guest side of bench/edge-throughput.py.  Writes
 * "pull-up" and "pull-down" in turn, N times, to a gpio-sim line's pull
 * attribute (/sys/devices/platform/gpio-sim.N/gpiochipM/sim_gpioK/pull),
 * as fast as it can or one write every GAP microseconds, so that the line
 * has N edges.  The first write is "pull-up": the line should be low
 * before.  Then prints, on one line,
 *
 *	writes W start_us S end_us E
 *
 * W the writes that succeeded, S and E the realtime clock in microseconds
 * before the first and after the last.  Built static on the host (the
 * guest's initramfs has no C library of its own to rely on) and sent to the
 * guest through its control shell.
 *
 *	edge-toggle PULL-ATTRIBUTE N [GAP_US]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned long long
now_us(clockid_t clk)
{
	struct timespec	 ts;

	clock_gettime(clk, &ts);
	return (unsigned long long)ts.tv_sec * 1000000 +
	    (unsigned long long)ts.tv_nsec / 1000;
}

int
main(int argc, char *argv[])
{
	static const char	*word[2] = { "pull-down", "pull-up" };
	struct timespec		 next;
	unsigned long long	 start, end;
	long			 n, gap_us = 0, i, done = 0;
	int			 fd;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: edge-toggle pull-attribute n [gap_us]\n");
		return 2;
	}
	n = strtol(argv[2], NULL, 10);
	if (argc == 4)
		gap_us = strtol(argv[3], NULL, 10);
	if (n <= 0 || gap_us < 0) {
		fprintf(stderr, "edge-toggle: bad n or gap\n");
		return 2;
	}
	if ((fd = open(argv[1], O_WRONLY)) == -1) {
		fprintf(stderr, "edge-toggle: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &next);
	start = now_us(CLOCK_REALTIME);
	for (i = 0; i < n; i++) {
		const char *w = word[(i + 1) & 1];

		if (gap_us > 0 && i > 0) {
			next.tv_nsec += gap_us * 1000;
			while (next.tv_nsec >= 1000000000) {
				next.tv_nsec -= 1000000000;
				next.tv_sec++;
			}
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next,
			    NULL);
		}
		/* A sysfs attribute takes each write whole, at any offset. */
		if (pwrite(fd, w, strlen(w), 0) == (ssize_t)strlen(w))
			done++;
	}
	end = now_us(CLOCK_REALTIME);
	close(fd);
	printf("writes %ld start_us %llu end_us %llu\n", done, start, end);
	return done == n ? 0 : 1;
}
