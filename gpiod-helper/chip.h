/*
 * Chip backends of the helper: "sim", an in-process simulated chip, and
 * "gpiod", libgpiod 1.6 on a kernel GPIO character device.  Values crossing
 * this interface are logical (active-low already applied) except the sim's
 * pull level, which is electrical like gpio-sim's pull attribute.
 */
#ifndef GPIOWS_CHIP_H
#define GPIOWS_CHIP_H

#include <stddef.h>
#include <stdint.h>

struct chip;
struct pin;
struct event_base;

struct chip_ops {
	const char *name;
	/* open: find the chip; err gets a message naming what failed. */
	int	(*open)(struct chip *, char *err, size_t errlen);
	/*
	 * request: claim the pin's line with its direction and options,
	 * outputs at their initial value (or the line's current one).
	 * Edge-watching inputs register with base and report through
	 * pins_edge().
	 */
	int	(*request)(struct chip *, struct pin *, struct event_base *,
		    char *err, size_t errlen);
	int	(*set)(struct chip *, struct pin *, int value);
	int	(*get)(struct chip *, struct pin *, int *value);
	/* pull: drive a simulated input's electrical level; NULL on real chips. */
	int	(*pull)(struct chip *, struct pin *, int level);
	void	(*release)(struct chip *, struct pin *);
	void	(*close)(struct chip *);
};

struct chip {
	const struct chip_ops	*ch_ops;
	struct conf_chip	*ch_conf;
	void			*ch_priv;
};

/* chip.c */
int	chip_open(struct chip *, struct conf_chip *, char *err, size_t errlen);
void	chip_close(struct chip *);

/* chip_sim.c */
extern const struct chip_ops chip_sim_ops;
/* chip_gpiod.c */
extern const struct chip_ops chip_gpiod_ops;

#endif
