/*
 * The libgpiod 1.6 backend: a kernel GPIO character device.  Lines are
 * requested with consumer "gpiows"; watched inputs are read through their
 * line event file descriptors in the helper's event loop, never polled.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <gpiod.h>

#include "helper.h"
#include "log.h"

#define GPIOWS_CONSUMER	"gpiows"

static int
gpiod_open(struct chip *ch, char *err, size_t errlen)
{
	struct gpiod_chip *gc;

	if ((gc = gpiod_chip_open_lookup(ch->ch_conf->c_locator)) == NULL) {
		snprintf(err, errlen, "chip %s: no GPIO chip \"%s\" (by label, "
		    "path or name): %s", ch->ch_conf->c_name,
		    ch->ch_conf->c_locator, strerror(errno));
		return -1;
	}
	ch->ch_priv = gc;
	return 0;
}

/*
 * Kernel event times are CLOCK_MONOTONIC; clients get wall-clock time:
 * off is real_minus_mono_us(), read once for a batch.
 */
static uint64_t
gpiod_ts_us(const struct timespec *ts, int64_t off)
{
	return (uint64_t)((int64_t)ts->tv_sec * 1000000 + ts->tv_nsec / 1000 +
	    off);
}

/*
 * Everything the kernel has queued (it keeps 16 per line and drops the
 * rest), so that a burst empties the queue in one wakeup.
 */
static void
gpiod_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pin		*p = arg;
	struct gpiod_line_event	 ev[16];
	int64_t			 off;
	int			 n, i;

	if ((n = gpiod_line_event_read_multiple(p->p_line, ev, 16)) == -1) {
		log_warn("pin %s: reading line events", p->p_conf->p_name);
		return;
	}
	off = real_minus_mono_us();
	for (i = 0; i < n; i++)
		pins_edge(p, ev[i].event_type == GPIOD_LINE_EVENT_RISING_EDGE,
		    gpiod_ts_us(&ev[i].ts, off));
}

static int
gpiod_request(struct chip *ch, struct pin *p, struct event_base *base,
    char *err, size_t errlen)
{
	struct gpiod_chip	*gc = ch->ch_priv;
	struct gpiod_line	*line;
	struct conf_pin		*cp = p->p_conf;
	struct gpiod_line_request_config rc;
	int			 value = 0;

	if (cp->p_line_name != NULL)
		line = gpiod_chip_find_line(gc, cp->p_line_name);
	else
		line = gpiod_chip_get_line(gc, (unsigned int)cp->p_offset);
	if (line == NULL) {
		if (cp->p_line_name != NULL)
			snprintf(err, errlen, "chip %s has no line named \"%s\"",
			    ch->ch_conf->c_name, cp->p_line_name);
		else
			snprintf(err, errlen, "chip %s has no line %d",
			    ch->ch_conf->c_name, cp->p_offset);
		return -1;
	}
	p->p_offset = gpiod_line_offset(line);
	/*
	 * libgpiod hands out one gpiod_line per offset of an open chip: one
	 * already requested is another pin's, the same line given once by
	 * name and once by offset.
	 */
	if (gpiod_line_is_requested(line)) {
		snprintf(err, errlen, "line %u of chip %s is already another "
		    "pin's", p->p_offset, ch->ch_conf->c_name);
		return -1;
	}
	if (gpiod_line_is_used(line)) {
		const char *who = gpiod_line_consumer(line);

		snprintf(err, errlen, "line %u of chip %s is in use by \"%s\"",
		    p->p_offset, ch->ch_conf->c_name, who ? who : "the kernel");
		return -1;
	}

	memset(&rc, 0, sizeof(rc));
	rc.consumer = GPIOWS_CONSUMER;
	if (cp->p_active_low)
		rc.flags |= GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW;
	switch (cp->p_bias) {
	case BIAS_PULL_UP:
		rc.flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
		break;
	case BIAS_PULL_DOWN:
		rc.flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
		break;
	case BIAS_DISABLED:
		rc.flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
		break;
	case BIAS_AS_IS:
		break;
	}
	if (cp->p_drive == DRIVE_OPEN_DRAIN)
		rc.flags |= GPIOD_LINE_REQUEST_FLAG_OPEN_DRAIN;
	else if (cp->p_drive == DRIVE_OPEN_SOURCE)
		rc.flags |= GPIOD_LINE_REQUEST_FLAG_OPEN_SOURCE;
	if (cp->p_dir == PIN_OUTPUT) {
		rc.request_type = GPIOD_LINE_REQUEST_DIRECTION_OUTPUT;
		value = cp->p_initial == 1;
	} else if (cp->p_edge == EDGE_BOTH)
		rc.request_type = GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES;
	else if (cp->p_edge == EDGE_RISING)
		rc.request_type = GPIOD_LINE_REQUEST_EVENT_RISING_EDGE;
	else if (cp->p_edge == EDGE_FALLING)
		rc.request_type = GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE;
	else
		rc.request_type = GPIOD_LINE_REQUEST_DIRECTION_INPUT;

	if (gpiod_line_request(line, &rc, value) == -1) {
		snprintf(err, errlen, "line %u of chip %s: request failed: %s",
		    p->p_offset, ch->ch_conf->c_name, strerror(errno));
		return -1;
	}
	p->p_line = line;
	if (cp->p_dir == PIN_OUTPUT)
		p->p_value = value;
	else {
		int v = gpiod_line_get_value(line);

		p->p_value = v == 1;
	}
	if (cp->p_dir == PIN_INPUT && cp->p_edge != EDGE_NONE) {
		int fd = gpiod_line_event_get_fd(line);

		p->p_ev = event_new(base, fd, EV_READ | EV_PERSIST,
		    gpiod_event_cb, p);
		if (p->p_ev == NULL || event_add(p->p_ev, NULL) == -1) {
			snprintf(err, errlen, "line %u of chip %s: event setup "
			    "failed", p->p_offset, ch->ch_conf->c_name);
			return -1;
		}
	}
	return 0;
}

static int
gpiod_set(struct chip *ch, struct pin *p, int value)
{
	return gpiod_line_set_value(p->p_line, value);
}

static int
gpiod_get(struct chip *ch, struct pin *p, int *value)
{
	int	 v;

	if ((v = gpiod_line_get_value(p->p_line)) == -1)
		return -1;
	*value = v;
	return 0;
}

static void
gpiod_release(struct chip *ch, struct pin *p)
{
	if (p->p_ev != NULL) {
		event_free(p->p_ev);
		p->p_ev = NULL;
	}
	if (p->p_line != NULL)
		gpiod_line_release(p->p_line);
	p->p_line = NULL;
}

static void
gpiod_close(struct chip *ch)
{
	if (ch->ch_priv != NULL)
		gpiod_chip_close(ch->ch_priv);
	ch->ch_priv = NULL;
}

const struct chip_ops chip_gpiod_ops = {
	.name = "gpiod",
	.open = gpiod_open,
	.request = gpiod_request,
	.set = gpiod_set,
	.get = gpiod_get,
	.pull = NULL,
	.release = gpiod_release,
	.close = gpiod_close,
};
