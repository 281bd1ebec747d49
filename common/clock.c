#include "config.h"

#include <time.h>

#include "clock.h"

static uint64_t
clock_us(clockid_t id)
{
	struct timespec	 ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t
mono_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

uint64_t
real_us(void)
{
	return clock_us(CLOCK_REALTIME);
}

/*
 * How far CLOCK_REALTIME is ahead of CLOCK_MONOTONIC, to turn a kernel
 * time into a wall-clock one.  The monotonic reading is taken between two
 * real ones and set against their middle: a process preempted between its
 * readings (a busy board, a virtual CPU descheduled) would be off by as
 * long as it waited, so the tightest of a few tries is kept.
 */
int64_t
real_minus_mono_us(void)
{
	uint64_t	 r1, m, r2, gap, best_gap = UINT64_MAX;
	int64_t		 best = 0;
	int		 i;

	for (i = 0; i < 4; i++) {
		r1 = real_us();
		m = mono_us();
		r2 = real_us();
		/* The wall clock stepped back in between: try again. */
		if (r2 < r1)
			continue;
		gap = r2 - r1;
		if (gap < best_gap) {
			best_gap = gap;
			best = (int64_t)(r1 + gap / 2) - (int64_t)m;
		}
		if (gap <= 2)
			break;
	}
	if (best_gap == UINT64_MAX)
		best = (int64_t)real_us() - (int64_t)mono_us();
	return best;
}
