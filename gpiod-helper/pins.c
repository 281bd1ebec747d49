/*
 * The pin table: the helper's single source of truth for every configured
 * pin, and the sequence of changes (seq) that clients use to tell what they
 * missed.  Every change goes to wsd as an IPC_PIN_EVENT, and to the worker
 * when it watches the pin (a mission waits for one of its edges).
 *
 * Pins and chips are allocated one by one and never move: backends keep
 * pointers to them (event callbacks, the sim's lines), and a reload keeps
 * the pins it does not change exactly where they are.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "helper.h"
#include "log.h"

/* Same hardware: a chip can be kept across a reload. */
static int
chip_same(const struct conf_chip *a, const struct conf_chip *b)
{
	if (strcmp(a->c_name, b->c_name) != 0 ||
	    a->c_simulated != b->c_simulated)
		return 0;
	if (a->c_simulated)
		return a->c_nlines == b->c_nlines;
	return strcmp(a->c_locator, b->c_locator) == 0;
}

/* Same line, requested the same way (initial and safe may differ). */
static int
pin_same(const struct conf_pin *a, const struct conf_pin *b)
{
	return strcmp(a->p_name, b->p_name) == 0 &&
	    chip_same(a->p_chip, b->p_chip) &&
	    a->p_offset == b->p_offset &&
	    (a->p_line_name == NULL) == (b->p_line_name == NULL) &&
	    (a->p_line_name == NULL ||
	    strcmp(a->p_line_name, b->p_line_name) == 0) &&
	    a->p_dir == b->p_dir && a->p_edge == b->p_edge &&
	    a->p_bias == b->p_bias && a->p_active_low == b->p_active_low &&
	    a->p_drive == b->p_drive && a->p_debounce_ms == b->p_debounce_ms;
}

static struct chip *
chip_find(struct chip **chips, unsigned int n, const struct conf_chip *cc)
{
	unsigned int	 i;

	for (i = 0; i < n; i++)
		if (chips[i] != NULL && chip_same(chips[i]->ch_conf, cc))
			return chips[i];
	return NULL;
}

static int
pin_request(struct helper_env *h, struct pin *p, char *err, size_t errlen)
{
	char	 msg[256];

	p->p_offset = p->p_conf->p_offset < 0 ? 0 :
	    (unsigned int)p->p_conf->p_offset;
	p->p_source = IPC_SRC_INIT;
	if (p->p_chip->ch_ops->request(p->p_chip, p, h->h_base, msg,
	    sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s:%d: pin %s: %s", h->h_conf->cf_path,
		    p->p_conf->p_lineno, p->p_conf->p_name, msg);
		return -1;
	}
	p->p_ts = real_us();
	log_debug("pin %s: chip %s line %u %s, value %d", p->p_conf->p_name,
	    p->p_chip->ch_conf->c_name, p->p_offset,
	    p->p_conf->p_dir == PIN_OUTPUT ? "output" : "input", p->p_value);
	return 0;
}

/* An output that goes away goes to its safe value first. */
static void
pin_retire(struct pin *p, int safe)
{
	if (safe && p->p_conf->p_dir == PIN_OUTPUT && p->p_conf->p_safe != -1 &&
	    p->p_chip->ch_ops->set(p->p_chip, p, p->p_conf->p_safe) == -1)
		log_warn("pin %s: setting safe value", p->p_conf->p_name);
	if (p->p_debounce != NULL)
		event_free(p->p_debounce);
	p->p_chip->ch_ops->release(p->p_chip, p);
	free(p);
}

/*
 * The history keeps each event with its pin's index in the table of the
 * time, which is what the worker and wsd name pins by.  After a reload,
 * each event gets its pin's index in the new table, found by the pin's uid
 * (a reload keeps it), or uid 0 if the reload removed the pin or requested
 * it anew: those are sent to nobody.  Once per reload, so that a resume,
 * which any client may ask for, costs what it sends and no more.
 */
static void
pins_history_renumber(struct helper_env *h)
{
	size_t		 k;
	uint32_t	 i, at;

	for (k = 0; k < h->h_hist_len; k++) {
		if (h->h_hist_at[k].uid == 0)
			continue;
		at = h->h_hist[k].index;
		if (at < h->h_npins && h->h_pins[at]->p_uid == h->h_hist_at[k].uid)
			continue;
		for (i = 0; i < h->h_npins; i++)
			if (h->h_pins[i]->p_uid == h->h_hist_at[k].uid)
				break;
		if (i < h->h_npins)
			h->h_hist[k].index = i;
		else
			h->h_hist_at[k].uid = 0;
	}
}

/*
 * Build the chips and pins of conf, keeping from the current table every
 * chip and pin that conf leaves as it was.  With keep_going (a reload), a
 * chip or pin that cannot be had is logged and left out; at start it is
 * fatal to the caller.
 */
static int
pins_build(struct helper_env *h, struct gpiows_conf *conf, int keep_going,
    char *err, size_t errlen)
{
	struct chip		**chips, *ch;
	struct pin		**pins, *p;
	struct conf_chip	 *cc;
	struct conf_pin		 *cp;
	unsigned int		  nchips = 0, npins = 0, i, j;
	char			  msg[256];

	TAILQ_FOREACH(cc, &conf->cf_chips, c_entry)
		nchips++;
	chips = calloc(nchips + 1, sizeof(*chips));
	pins = calloc(conf->cf_npins + 1, sizeof(*pins));
	if (chips == NULL || pins == NULL) {
		free(chips);
		free(pins);
		snprintf(err, errlen, "out of memory");
		return -1;
	}

	/* Pins that stay, before anything is released or requested. */
	TAILQ_FOREACH(cp, &conf->cf_pins, p_entry) {
		for (j = 0; j < h->h_npins; j++) {
			p = h->h_pins[j];
			if (p != NULL && pin_same(p->p_conf, cp)) {
				p->p_conf = cp;
				p->p_index = npins;
				pins[npins++] = p;
				h->h_pins[j] = NULL;
				break;
			}
		}
	}
	/* The pins that go: released, so that their lines are free. */
	for (j = 0; j < h->h_npins; j++)
		if (h->h_pins[j] != NULL) {
			log_info("pin %s: removed", h->h_pins[j]->p_conf->p_name);
			pin_retire(h->h_pins[j], 1);
			h->h_pins[j] = NULL;
		}

	nchips = 0;
	TAILQ_FOREACH(cc, &conf->cf_chips, c_entry) {
		if ((ch = chip_find(h->h_chips, h->h_nchips, cc)) != NULL) {
			for (j = 0; j < h->h_nchips; j++)
				if (h->h_chips[j] == ch)
					h->h_chips[j] = NULL;
			ch->ch_conf = cc;
			chips[nchips++] = ch;
			continue;
		}
		if ((ch = calloc(1, sizeof(*ch))) == NULL ||
		    chip_open(ch, cc, msg, sizeof(msg)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", conf->cf_path,
			    cc->c_lineno, ch == NULL ? "out of memory" : msg);
			free(ch);
			if (!keep_going)
				goto fail;
			log_warnx("%s", err);
			continue;
		}
		chips[nchips++] = ch;
	}
	/* Chips no pin of the new table can use any more. */
	for (j = 0; j < h->h_nchips; j++)
		if (h->h_chips[j] != NULL) {
			chip_close(h->h_chips[j]);
			free(h->h_chips[j]);
			h->h_chips[j] = NULL;
		}
	free(h->h_chips);
	h->h_chips = chips;
	h->h_nchips = nchips;

	/* Kept pins point at the chip structs they always had. */
	for (i = 0; i < npins; i++)
		for (j = 0; j < nchips; j++)
			if (pins[i]->p_conf->p_chip == chips[j]->ch_conf)
				pins[i]->p_chip = chips[j];

	/* New and changed pins, in the order of the file. */
	TAILQ_FOREACH(cp, &conf->cf_pins, p_entry) {
		for (i = 0; i < npins; i++)
			if (pins[i]->p_conf == cp)
				break;
		if (i < npins)
			continue;
		if ((p = calloc(1, sizeof(*p))) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		p->p_uid = ++h->h_next_uid;
		p->p_conf = cp;
		for (j = 0; j < nchips; j++)
			if (chips[j]->ch_conf == cp->p_chip)
				p->p_chip = chips[j];
		if (p->p_chip == NULL) {
			free(p);	/* its chip could not be opened */
			continue;
		}
		if (pin_request(h, p, err, errlen) == -1) {
			free(p);
			if (!keep_going)
				goto fail;
			log_warnx("%s", err);
			continue;
		}
		pins[npins++] = p;
	}
	/* The table's order is the file's order. */
	i = 0;
	TAILQ_FOREACH(cp, &conf->cf_pins, p_entry)
		for (j = i; j < npins; j++)
			if (pins[j]->p_conf == cp) {
				p = pins[j];
				pins[j] = pins[i];
				pins[i] = p;
				p->p_index = i++;
				break;
			}
	free(h->h_pins);
	h->h_pins = pins;
	h->h_npins = npins;
	pins_history_renumber(h);
	/* The worker watches pins by index: again, once it has the new table. */
	for (i = 0; i < npins; i++)
		pins[i]->p_watched = 0;
	return 0;
fail:
	for (i = 0; i < npins; i++)
		pin_retire(pins[i], 0);
	free(pins);
	if (chips != h->h_chips) {
		for (i = 0; i < nchips; i++) {
			chip_close(chips[i]);
			free(chips[i]);
		}
		free(chips);
	}
	return -1;
}

int
pins_setup(struct helper_env *h, char *err, size_t errlen)
{
	return pins_build(h, h->h_conf, 0, err, errlen);
}

/*
 * SIGHUP: the pins of conf.  Pins whose line and options are unchanged go
 * on as they were (value, seq, requests); removed ones go to their safe
 * value and are released; new and changed ones are requested.  Settings
 * that need a restart (listen, user, www, journal) keep their old values.
 */
void
pins_reload(struct helper_env *h, struct gpiows_conf *conf)
{
	struct gpiows_conf	*old = h->h_conf;
	char			 err[512];

	if (strcmp(old->cf_user, conf->cf_user) != 0 ||
	    strcmp(old->cf_www, conf->cf_www) != 0 ||
	    strcmp(old->cf_journal, conf->cf_journal) != 0 ||
	    !conf_same_listens(old, conf))
		log_warnx("%s: listen, user, www and journal changes take "
		    "effect at the next restart", conf->cf_path);
	/* Those stay as they are in the running helper. */
	conf_swap_settings(old, conf);
	/*
	 * A new certificate takes effect now (renewals need no restart); the
	 * TLS listeners that stay until then need the old one if the file no
	 * longer names any.
	 */
	if (conf_keep_tls(old, conf))
		log_warnx("%s: no tls certificate any more: the TLS listeners "
		    "keep the old one until the next restart", conf->cf_path);
	h->h_conf = conf;
	if (pins_build(h, conf, 1, err, sizeof(err)) == -1)
		fatalx("reload: %s", err);
	h->h_generation++;
	conf_free(old);
	log_info("configuration reloaded: %u pins", h->h_npins);
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
		p = h->h_pins[i];
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
			pins_change(p, p->p_conf->p_safe, real_us(),
			    IPC_SRC_SAFE, 0);
	}
}

/* At exit: every line released, every chip closed. */
void
pins_release(struct helper_env *h)
{
	unsigned int	 i;

	for (i = 0; i < h->h_npins; i++)
		pin_retire(h->h_pins[i], 0);
	for (i = 0; i < h->h_nchips; i++) {
		chip_close(h->h_chips[i]);
		free(h->h_chips[i]);
	}
	free(h->h_pins);
	free(h->h_chips);
	h->h_pins = NULL;
	h->h_chips = NULL;
	h->h_npins = h->h_nchips = 0;
}

struct pin *
pins_get(unsigned int index)
{
	if (index >= env->h_npins)
		return NULL;
	return env->h_pins[index];
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
	pi->safe = p->p_conf->p_dir == PIN_OUTPUT ? p->p_conf->p_safe : -1;
	pi->holder = p->p_holder;
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
	p->p_mono = mono_us();
	p->p_source = source;
	p->p_mission = mission;
	pins_fill_event(p, &ev);
	/* h_hist_size is at least 16 (gpiows.conf's history). */
	env->h_hist[env->h_hist_head] = ev;
	env->h_hist_at[env->h_hist_head].uid = p->p_uid;
	env->h_hist_head = (env->h_hist_head + 1) % env->h_hist_size;
	if (env->h_hist_len < env->h_hist_size)
		env->h_hist_len++;
	proc_pin_event(p, &ev);
	return p->p_seq;
}

void
pins_fill_event(const struct pin *p, struct ipc_pin_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = p->p_seq;
	ev->ts = p->p_ts;
	ev->mono = p->p_mono;
	ev->index = p->p_index;
	ev->value = p->p_value;
	ev->source = p->p_source;
	ev->mission = p->p_mission;
}

void
pins_replay(struct pin *p, uint64_t since,
    void (*cb)(const struct ipc_pin_event *, void *), void *arg)
{
	struct ipc_pin_event	 ev;
	uint64_t		 sent = p->p_wsent;
	size_t			 n, k;

	/*
	 * The ring is in the order of time: back from the newest to the
	 * start of the wait, then forward from there, so a watch costs what
	 * happened since, not the ring's size.  A pin kept by a reload keeps
	 * its uid; its index may have changed.
	 */
	for (n = 0; n < env->h_hist_len; n++) {
		k = (env->h_hist_head + env->h_hist_size - n - 1) %
		    env->h_hist_size;
		if (env->h_hist[k].mono < since)
			break;
	}
	for (; n > 0; n--) {
		k = (env->h_hist_head + env->h_hist_size - n) %
		    env->h_hist_size;
		if (env->h_hist_at[k].uid != p->p_uid ||
		    env->h_hist[k].seq <= sent)
			continue;
		ev = env->h_hist[k];
		ev.index = p->p_index;
		cb(&ev, arg);
		sent = ev.seq;
	}
	/*
	 * Past the ring (a flood of changes while the watch was on its way):
	 * at least the last change, which the pin itself keeps.
	 */
	if (p->p_seq > sent && p->p_mono >= since) {
		pins_fill_event(p, &ev);
		cb(&ev, arg);
	}
}

/*
 * Returns IPC_HISTORY_OK after calling cb for each kept event after since,
 * oldest first (those of pins a reload removed are left out);
 * IPC_HISTORY_GONE when events after since are no longer all kept;
 * IPC_HISTORY_FUTURE when since has not happened.
 */
int
pins_history(uint64_t since, uint32_t max,
    void (*cb)(const struct ipc_pin_event *, void *), void *arg,
    uint64_t *oldest, uint64_t *last, int *more)
{
	size_t		 i, k, start, lo, hi, mid;
	uint64_t	 first;
	uint32_t	 sent = 0;

	/* h_hist_size is at least 16 (gpiows.conf's history). */
	start = (env->h_hist_head + env->h_hist_size - env->h_hist_len) %
	    env->h_hist_size;
	first = env->h_hist_len > 0 ? env->h_hist[start].seq : env->h_seq + 1;
	*oldest = env->h_hist_len > 0 ? first : 0;
	*last = since;
	*more = 0;
	if (since > env->h_seq)
		return IPC_HISTORY_FUTURE;
	if (since + 1 < first)
		return IPC_HISTORY_GONE;
	/*
	 * The ring's seqs rise: the first above since is found by halving,
	 * so that a replay paced in many pieces (wsd asks for max at a time)
	 * does not walk a long history again for each.
	 */
	lo = 0;
	hi = env->h_hist_len;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (env->h_hist[(start + mid) % env->h_hist_size].seq <= since)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < env->h_hist_len; i++) {
		if (max != 0 && sent == max) {
			*more = 1;
			break;
		}
		k = (start + i) % env->h_hist_size;
		*last = env->h_hist[k].seq;
		/* uid 0: its pin was removed by a reload. */
		if (env->h_hist_at[k].uid != 0) {
			cb(&env->h_hist[k], arg);
			sent++;
		}
	}
	return IPC_HISTORY_OK;
}

/*
 * Software debounce (libgpiod 1.6 has no kernel debounce): the first edge
 * goes out at once with its kernel time; edges in the next debounce ms are
 * swallowed; when the window closes, the line is read, and a level other
 * than the one reported goes out as one more edge event, if its edge is
 * watched.  A press is seen at once, its bounces are not, and on a pin
 * that watches both edges the final level is never missed.
 *
 * p_value is always the value of the pin's last reported change (or the
 * one read when the line was taken), the value its seq names: a change in
 * a direction the pin does not watch leaves it, so that hello and the HTTP
 * API never show a value without the change that made it.
 */
static void
pins_debounce_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pin	*p = arg;
	struct timeval	 tv;
	int		 value;

	if (p->p_chip->ch_ops->get(p->p_chip, p, &value) == -1) {
		log_warn("pin %s: reading after debounce", p->p_conf->p_name);
		p->p_bouncing = 0;
		return;
	}
	if (value == p->p_value ||
	    (p->p_conf->p_edge & (value ? EDGE_RISING : EDGE_FALLING)) == 0) {
		p->p_bouncing = 0;
		return;
	}
	pins_change(p, value, real_us(), IPC_SRC_EDGE, 0);
	/* That change opens a window of its own. */
	tv.tv_sec = p->p_conf->p_debounce_ms / 1000;
	tv.tv_usec = (p->p_conf->p_debounce_ms % 1000) * 1000;
	evtimer_add(p->p_debounce, &tv);
}

/*
 * Without debounce: the kernel merges edges that come too fast and drops
 * those past its queue, so after a burst the last value reported may not be
 * the line's.  PINS_SETTLE_MS after the last edge the line is read, and a
 * level other than the one reported goes out as one more edge.
 */
#define PINS_SETTLE_MS	10

static void
pins_settle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pin	*p = arg;
	int		 value;

	if (p->p_chip->ch_ops->get(p->p_chip, p, &value) == -1 ||
	    value == p->p_value)
		return;
	if (p->p_conf->p_edge & (value ? EDGE_RISING : EDGE_FALLING))
		pins_change(p, value, real_us(), IPC_SRC_EDGE, 0);
}

void
pins_edge(struct pin *p, int value, uint64_t ts_us)
{
	struct timeval	 tv;

	if (p->p_conf->p_debounce_ms == 0) {
		pins_change(p, value, ts_us, IPC_SRC_EDGE, 0);
		if (p->p_debounce == NULL)
			p->p_debounce = evtimer_new(env->h_base,
			    pins_settle_cb, p);
		if (p->p_debounce != NULL) {
			tv.tv_sec = 0;
			tv.tv_usec = PINS_SETTLE_MS * 1000;
			evtimer_add(p->p_debounce, &tv);
		}
		return;
	}
	if (p->p_bouncing)
		return;
	if (p->p_debounce == NULL && (p->p_debounce = evtimer_new(env->h_base,
	    pins_debounce_cb, p)) == NULL) {
		pins_change(p, value, ts_us, IPC_SRC_EDGE, 0);
		return;
	}
	/*
	 * On a pin that watches both edges, an edge to the value already
	 * reported was reported by the read that closed the last window.  On
	 * a pin that watches one, each edge is a press: the value is always
	 * the same, and the way back was not seen.
	 */
	p->p_bouncing = 1;
	if (p->p_conf->p_edge != EDGE_BOTH || value != p->p_value)
		pins_change(p, value, ts_us, IPC_SRC_EDGE, 0);
	tv.tv_sec = p->p_conf->p_debounce_ms / 1000;
	tv.tv_usec = (p->p_conf->p_debounce_ms % 1000) * 1000;
	evtimer_add(p->p_debounce, &tv);
}
