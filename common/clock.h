/*
 * The two clocks of gpiows, in microseconds: mono_us for deadlines and
 * for ordering within one boot, real_us for the times clients are shown.
 */
#ifndef GPIOWS_CLOCK_H
#define GPIOWS_CLOCK_H

#include <stdint.h>

uint64_t	mono_us(void);
uint64_t	real_us(void);
int64_t		real_minus_mono_us(void);

#endif
