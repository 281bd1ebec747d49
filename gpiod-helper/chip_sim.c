/*
 * The simulated chip: lines that live in the helper's memory.  Outputs keep
 * what was last set; an input's electrical level is driven by sim.pull, the
 * way gpio-sim's pull attribute drives a line, and its edges are reported
 * with the time of the pull.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helper.h"

struct sim_line {
	struct pin	*l_pin;		/* NULL while not requested */
	int		 l_level;	/* electrical level */
};

struct sim_chip {
	unsigned int	 s_nlines;
	struct sim_line	 s_lines[];
};

static int
sim_open(struct chip *ch, char *err, size_t errlen)
{
	struct sim_chip	*s;
	unsigned int	 n = ch->ch_conf->c_nlines;

	if ((s = calloc(1, sizeof(*s) + n * sizeof(s->s_lines[0]))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->s_nlines = n;
	ch->ch_priv = s;
	return 0;
}

static int
sim_request(struct chip *ch, struct pin *p, struct event_base *base, char *err,
    size_t errlen)
{
	struct sim_chip	*s = ch->ch_priv;
	struct sim_line	*l;
	struct conf_pin	*cp = p->p_conf;

	if (p->p_offset >= s->s_nlines) {
		snprintf(err, errlen, "chip %s has no line %u",
		    ch->ch_conf->c_name, p->p_offset);
		return -1;
	}
	l = &s->s_lines[p->p_offset];
	if (l->l_pin != NULL) {
		snprintf(err, errlen, "line %u of chip %s is busy",
		    p->p_offset, ch->ch_conf->c_name);
		return -1;
	}
	l->l_pin = p;
	if (cp->p_dir == PIN_OUTPUT) {
		p->p_value = cp->p_initial == 1;
		l->l_level = p->p_value ^ cp->p_active_low;
	} else {
		/* An unconnected simulated input follows its bias. */
		l->l_level = cp->p_bias == BIAS_PULL_UP;
		p->p_value = l->l_level ^ cp->p_active_low;
	}
	return 0;
}

static int
sim_set(struct chip *ch, struct pin *p, int value)
{
	struct sim_chip	*s = ch->ch_priv;

	s->s_lines[p->p_offset].l_level = value ^ p->p_conf->p_active_low;
	return 0;
}

static int
sim_get(struct chip *ch, struct pin *p, int *value)
{
	struct sim_chip	*s = ch->ch_priv;

	*value = s->s_lines[p->p_offset].l_level ^ p->p_conf->p_active_low;
	return 0;
}

static int
sim_pull(struct chip *ch, struct pin *p, int level)
{
	struct sim_chip	*s = ch->ch_priv;
	struct sim_line	*l = &s->s_lines[p->p_offset];
	int		 old, new, edge;

	old = l->l_level ^ p->p_conf->p_active_low;
	l->l_level = level;
	new = level ^ p->p_conf->p_active_low;
	if (old == new)
		return 0;
	/*
	 * A direction it does not watch changes the line only, as on a real
	 * chip: the pin keeps the value of its last reported change.
	 */
	edge = new ? EDGE_RISING : EDGE_FALLING;
	if (p->p_conf->p_edge & edge)
		pins_edge(p, new, real_us());
	return 0;
}

static void
sim_release(struct chip *ch, struct pin *p)
{
	struct sim_chip	*s = ch->ch_priv;

	s->s_lines[p->p_offset].l_pin = NULL;
}

static void
sim_close(struct chip *ch)
{
	free(ch->ch_priv);
	ch->ch_priv = NULL;
}

const struct chip_ops chip_sim_ops = {
	.name = "sim",
	.open = sim_open,
	.request = sim_request,
	.set = sim_set,
	.get = sim_get,
	.pull = sim_pull,
	.release = sim_release,
	.close = sim_close,
};
