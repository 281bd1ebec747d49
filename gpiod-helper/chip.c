#include "config.h"

#include <stdio.h>
#include <string.h>

#include "helper.h"

int
chip_open(struct chip *ch, struct conf_chip *cc, char *err, size_t errlen)
{
	memset(ch, 0, sizeof(*ch));
	ch->ch_conf = cc;
	ch->ch_ops = cc->c_simulated ? &chip_sim_ops : &chip_gpiod_ops;
	return ch->ch_ops->open(ch, err, errlen);
}

void
chip_close(struct chip *ch)
{
	if (ch->ch_ops != NULL && ch->ch_ops->close != NULL)
		ch->ch_ops->close(ch);
	ch->ch_ops = NULL;
}
