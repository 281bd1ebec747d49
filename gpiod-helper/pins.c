/*
 * The pin table: the helper's single source of truth for every configured
 * pin, and the sequence of changes (seq) that clients use to tell what they
 * missed.  Every change goes to every child as an IPC_PIN_EVENT.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helper.h"
#include "log.h"

uint64_t
pins_now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int
pins_setup(struct helper_env *h, char *err, size_t errlen)
{
	struct conf_chip	*cc;
	struct conf_pin		*cp;
	struct pin		*p;
	unsigned int		 i;
	char			 msg[256];

	TAILQ_FOREACH(cc, &h->h_conf->cf_chips, c_entry)
		h->h_nchips++;
	if ((h->h_chips = calloc(h->h_nchips + 1, sizeof(*h->h_chips))) == NULL ||
	    (h->h_pins = calloc(h->h_conf->cf_npins + 1,
	    sizeof(*h->h_pins))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	i = 0;
	TAILQ_FOREACH(cc, &h->h_conf->cf_chips, c_entry) {
		if (chip_open(&h->h_chips[i], cc, msg, sizeof(msg)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", h->h_conf->cf_path,
			    cc->c_lineno, msg);
			return -1;
		}
		i++;
	}

	TAILQ_FOREACH(cp, &h->h_conf->cf_pins, p_entry) {
		p = &h->h_pins[h->h_npins];
		p->p_index = h->h_npins;
		p->p_conf = cp;
		for (i = 0; i < h->h_nchips; i++)
			if (h->h_chips[i].ch_conf == cp->p_chip)
				p->p_chip = &h->h_chips[i];
		p->p_offset = cp->p_offset < 0 ? 0 : (unsigned int)cp->p_offset;
		p->p_source = IPC_SRC_INIT;
		if (p->p_chip->ch_ops->request(p->p_chip, p, h->h_base, msg,
		    sizeof(msg)) == -1) {
			snprintf(err, errlen, "%s:%d: pin %s: %s",
			    h->h_conf->cf_path, cp->p_lineno, cp->p_name, msg);
			return -1;
		}
		p->p_ts = pins_now_us();
		h->h_npins++;
		log_debug("pin %s: chip %s line %u %s, value %d", cp->p_name,
		    p->p_chip->ch_conf->c_name, p->p_offset,
		    cp->p_dir == PIN_OUTPUT ? "output" : "input", p->p_value);
	}
	return 0;
}

/*
 * As the helper stops: outputs to their safe value, told to the children
 * like any change so that clients see it before they are closed.
 */
void
pins_safe(struct helper_env *h)
{
	struct pin	*p;
	unsigned int	 i;

	for (i = 0; i < h->h_npins; i++) {
		p = &h->h_pins[i];
		if (p->p_conf->p_dir != PIN_OUTPUT || p->p_conf->p_safe == -1)
			continue;
		if (p->p_chip->ch_ops->set(p->p_chip, p,
		    p->p_conf->p_safe) == -1) {
			log_warn("pin %s: setting safe value %d",
			    p->p_conf->p_name, p->p_conf->p_safe);
			continue;
		}
		log_info("pin %s: safe value %d", p->p_conf->p_name,
		    p->p_conf->p_safe);
		if (p->p_value != p->p_conf->p_safe)
			pins_change(p, p->p_conf->p_safe, pins_now_us(),
			    IPC_SRC_SAFE, 0);
	}
}

/* At exit: every line released, every chip closed. */
void
pins_release(struct helper_env *h)
{
	unsigned int	 i;

	for (i = 0; i < h->h_npins; i++)
		h->h_pins[i].p_chip->ch_ops->release(h->h_pins[i].p_chip,
		    &h->h_pins[i]);
	for (i = 0; i < h->h_nchips; i++)
		chip_close(&h->h_chips[i]);
}

struct pin *
pins_get(unsigned int index)
{
	if (index >= env->h_npins)
		return NULL;
	return &env->h_pins[index];
}

void
pins_fill_info(const struct pin *p, struct ipc_pin_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->index = p->p_index;
	if (p->p_conf->p_dir == PIN_OUTPUT)
		pi->flags |= IPC_PIN_OUTPUT;
	if (p->p_chip->ch_conf->c_simulated)
		pi->flags |= IPC_PIN_SIMULATED;
	if (p->p_conf->p_active_low)
		pi->flags |= IPC_PIN_ACTIVE_LOW;
	pi->value = p->p_value;
	pi->edge = p->p_conf->p_edge;
	pi->seq = p->p_seq;
	pi->ts = p->p_ts;
	pi->source = p->p_source;
	pi->mission = p->p_mission;
	snprintf(pi->name, sizeof(pi->name), "%s", p->p_conf->p_name);
	snprintf(pi->chip, sizeof(pi->chip), "%s", p->p_chip->ch_conf->c_name);
}

uint64_t
pins_change(struct pin *p, int value, uint64_t ts_us, uint32_t source,
    uint32_t mission)
{
	struct ipc_pin_event	 ev;

	p->p_value = value;
	p->p_seq = ++env->h_seq;
	p->p_ts = ts_us;
	p->p_source = source;
	p->p_mission = mission;

	memset(&ev, 0, sizeof(ev));
	ev.seq = p->p_seq;
	ev.ts = ts_us;
	ev.index = p->p_index;
	ev.value = value;
	ev.source = source;
	ev.mission = mission;
	proc_broadcast(IPC_PIN_EVENT, &ev, sizeof(ev));
	return p->p_seq;
}

void
pins_edge(struct pin *p, int value, uint64_t ts_us)
{
	pins_change(p, value, ts_us, IPC_SRC_EDGE, 0);
}
