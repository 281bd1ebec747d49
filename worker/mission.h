/*
 * Missions: hardware jobs run by the worker.  mission_parse.c turns the JSON
 * a client sent into a struct mission_spec, or into one error naming the
 * JSON path and the rule ("steps[2].repeat.steps[0].sleep.ms: must be
 * 1..86400000"); the format is documented in gpiows-protocol(7).
 */
#ifndef GPIOWS_MISSION_H
#define GPIOWS_MISSION_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ipc.h"

#define MISSION_NAME_MAX	64		/* bytes of "name" */
#define MISSION_MAX_STEPS	1000		/* in one steps array */
#define MISSION_MAX_DEPTH	8		/* nested repeats */
#define MISSION_MAX_MS		86400000	/* sleep and wait timeouts: a day */
#define MISSION_MAX_COUNT	1000000		/* repeat count */

enum step_kind {
	STEP_SET,
	STEP_TOGGLE,
	STEP_SLEEP,
	STEP_WAIT,
	STEP_REPEAT
};

struct step {
	enum step_kind	 s_kind;
	char		 s_pin[GPIOWS_NAME_SIZE];	/* set, toggle, wait */
	int		 s_value;		/* set: 0 or 1 */
	uint32_t	 s_ms;			/* sleep */
	int		 s_edge;		/* wait: 1 rising, 2 falling, 3 both */
	uint32_t	 s_timeout_ms;		/* wait */
	int		 s_continue;		/* wait: on_timeout "continue" */
	uint32_t	 s_count;		/* repeat */
	struct step	*s_steps;		/* repeat */
	size_t		 s_nsteps;
};

enum on_cancel {
	ON_CANCEL_SAFE,		/* outputs it held go to their safe value */
	ON_CANCEL_HOLD		/* outputs stay as they are */
};

struct mission_spec {
	char		*m_name;
	struct step	*m_steps;
	size_t		 m_nsteps;
	enum on_cancel	 m_on_cancel;	/* default ON_CANCEL_SAFE */
	int		 m_resume;	/* default 1; 0: "resume": false */
};

/*
 * How the parser learns about pins: lookup returns 0 when there is no pin
 * by that name, else fills *output (1 for an output) and *edge (the edges
 * an input watches: bits 1 rising, 2 falling).
 */
struct mission_pins {
	int	(*lookup)(void *arg, const char *name, int *output, int *edge);
	void	*arg;
};

/*
 * mission_parse: check j (a client's "mission" object) in full and fill
 * *spec.  Returns 0, or -1 with err holding "PATH: RULE" for the first
 * problem (PATH is "mission" for the object itself) and *spec left empty.
 * "First" does not depend on key order in the text: in each object an
 * unknown key comes first, then the fields in the order the format lists
 * them; arrays in index order.
 */
int	mission_parse(const json_t *j, const struct mission_pins *pins,
	    struct mission_spec *spec, char *err, size_t errlen);
void	mission_spec_free(struct mission_spec *);
/*
 * mission_outputs: the distinct output pins the steps set or toggle, in the
 * order of their first use (inside repeats too), at most max of them into
 * names; returns how many it stored.
 */
size_t	mission_outputs(const struct mission_spec *, char (*names)[GPIOWS_NAME_SIZE],
	    size_t max);

#endif
