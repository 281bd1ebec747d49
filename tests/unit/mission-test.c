/*
 * Tests for worker/mission_parse.c.  Data-driven: every directory under
 * argv[1] is one case with
 *
 *	mission.json	the client's mission object
 *	expected	one line: the error "PATH: RULE", or "OK " and the
 *			summary of the parsed spec below
 *
 * The summary prints every field of the spec, so that a case proves the
 * values were parsed right and not only that the parse succeeded:
 *
 *	OK name="NAME" on_cancel=safe|hold resume=0|1 steps=[STEP,...]
 *
 * with STEP one of set(PIN,0|1), toggle(PIN), sleep(MS),
 * wait(PIN,rising|falling|both,TIMEOUT_MS,fail|continue) and
 * repeat(COUNT)[STEP,...].  In NAME, '"' and '\' are escaped with '\' and
 * other bytes below 0x20 and 0x7f are written \xHH.
 *
 * Then a few direct checks of mission_outputs and of the error buffer.
 * All cases use the pin table below.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mission.h"
#include "tap.h"

struct tpin {
	const char	*name;
	int		 output;
	int		 edge;		/* 1 rising, 2 falling */
};

static const struct tpin tpins[] = {
	{ "led",	1, 0 },
	{ "relay",	1, 0 },
	{ "button",	0, 3 },
	{ "door",	0, 1 },
	{ "quiet",	0, 0 },
	{ NULL,		0, 0 }
};

static int	 lookup_calls, lookup_badarg;

static int
tpin_lookup(void *arg, const char *name, int *output, int *edge)
{
	const struct tpin	*p;

	lookup_calls++;
	if (arg != tpins)
		lookup_badarg++;
	for (p = tpins; p->name != NULL; p++)
		if (strcmp(p->name, name) == 0) {
			*output = p->output;
			*edge = p->edge;
			return 1;
		}
	return 0;
}

static const struct mission_pins pins = { tpin_lookup, (void *)tpins };

static void
summary_steps(FILE *f, const struct step *s, size_t n)
{
	static const char * const edges[] = { "?0", "rising", "falling", "both" };
	size_t	 i;

	fputc('[', f);
	for (i = 0; i < n; i++) {
		if (i > 0)
			fputc(',', f);
		switch (s[i].s_kind) {
		case STEP_SET:
			fprintf(f, "set(%s,%d)", s[i].s_pin, s[i].s_value);
			break;
		case STEP_TOGGLE:
			fprintf(f, "toggle(%s)", s[i].s_pin);
			break;
		case STEP_SLEEP:
			fprintf(f, "sleep(%u)", s[i].s_ms);
			break;
		case STEP_WAIT:
			fprintf(f, "wait(%s,%s,%u,%s)", s[i].s_pin,
			    s[i].s_edge >= 0 && s[i].s_edge <= 3 ?
			    edges[s[i].s_edge] : "?",
			    s[i].s_timeout_ms,
			    s[i].s_continue ? "continue" : "fail");
			break;
		case STEP_REPEAT:
			fprintf(f, "repeat(%u)", s[i].s_count);
			summary_steps(f, s[i].s_steps, s[i].s_nsteps);
			break;
		default:
			fprintf(f, "?kind%d", (int)s[i].s_kind);
			break;
		}
		/* Only a repeat owns steps: anything else would leak or lie. */
		if (s[i].s_kind != STEP_REPEAT &&
		    (s[i].s_steps != NULL || s[i].s_nsteps != 0))
			fputs("?substeps", f);
	}
	fputc(']', f);
}

/* The summary line of a parsed spec; the caller frees it. */
static char *
summary(const struct mission_spec *spec)
{
	const unsigned char	*p;
	char			*buf = NULL;
	size_t			 len = 0;
	FILE			*f;

	if ((f = open_memstream(&buf, &len)) == NULL) {
		perror("open_memstream");
		exit(99);
	}
	fputs("OK name=\"", f);
	for (p = (const unsigned char *)spec->m_name; p != NULL && *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fprintf(f, "\" on_cancel=%s resume=%d steps=",
	    spec->m_on_cancel == ON_CANCEL_SAFE ? "safe" :
	    spec->m_on_cancel == ON_CANCEL_HOLD ? "hold" : "?",
	    spec->m_resume);
	summary_steps(f, spec->m_steps, spec->m_nsteps);
	if (fclose(f) != 0) {
		perror("open_memstream");
		exit(99);
	}
	return buf;
}

/* A whole small file; NULL if it cannot be read. */
static char *
slurp(const char *path)
{
	char	*buf;
	long	 len;
	FILE	*f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == -1 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1 ||
	    (buf = malloc((size_t)len + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static int
is_empty(const struct mission_spec *spec)
{
	return spec->m_name == NULL && spec->m_steps == NULL &&
	    spec->m_nsteps == 0;
}

static void
run_case(const char *dir, const char *name)
{
	struct mission_spec	 spec;
	json_error_t		 jerr;
	json_t			*j;
	char			 path[4096], err[512], *want, *got, *nl;
	int			 rv, want_ok;

	snprintf(path, sizeof(path), "%s/%s/expected", dir, name);
	if ((want = slurp(path)) == NULL) {
		ok(0, "%s", name);
		diag("cannot read %s", path);
		return;
	}
	if ((nl = strchr(want, '\n')) != NULL) {
		if (nl[1] != '\0') {
			ok(0, "%s", name);
			diag("%s: more than one line", path);
			free(want);
			return;
		}
		*nl = '\0';
	}
	want_ok = strncmp(want, "OK ", 3) == 0;

	/*
	 * The caller decodes; the parser must hold whatever flags it uses,
	 * so NUL bytes in strings are let through to reach it.
	 */
	snprintf(path, sizeof(path), "%s/%s/mission.json", dir, name);
	j = json_load_file(path, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES |
	    JSON_ALLOW_NUL, &jerr);
	if (j == NULL) {
		ok(0, "%s", name);
		diag("%s:%d: %s", path, jerr.line, jerr.text);
		free(want);
		return;
	}

	memset(err, 'x', sizeof(err));
	rv = mission_parse(j, &pins, &spec, err, sizeof(err));
	if (rv == 0)
		got = summary(&spec);
	else if ((got = strdup(err)) == NULL) {
		perror("strdup");
		exit(99);
	}
	if (!ok(strcmp(want, got) == 0 && (rv == 0) == want_ok &&
	    (rv == 0 || is_empty(&spec)), "%s", name)) {
		diag("expected: %s", want);
		diag("got:      %s", got);
		if (rv != 0 && !is_empty(&spec))
			diag("spec not left empty after an error");
	}
	mission_spec_free(&spec);
	free(got);
	free(want);
	json_decref(j);
}

static int
namecmp(const void *a, const void *b)
{
	return strcmp(*(char * const *)a, *(char * const *)b);
}

static void
run_cases(const char *dir)
{
	struct dirent	*de;
	struct stat	 st;
	char		 path[4096], **names = NULL, **nn;
	size_t		 n = 0, cap = 0, i;
	DIR		*d;

	if ((d = opendir(dir)) == NULL) {
		printf("Bail out! %s: cannot open\n", dir);
		exit(1);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nn = realloc(names, cap * sizeof(*names))) == NULL) {
				perror("realloc");
				exit(99);
			}
			names = nn;
		}
		if ((names[n++] = strdup(de->d_name)) == NULL) {
			perror("strdup");
			exit(99);
		}
	}
	closedir(d);
	if (n == 0) {
		printf("Bail out! no cases in %s\n", dir);
		exit(1);
	}
	qsort(names, n, sizeof(*names), namecmp);
	for (i = 0; i < n; i++) {
		run_case(dir, names[i]);
		free(names[i]);
	}
	free(names);
}

/* Parses text that must be valid; the caller frees spec. */
static void
parse_ok(const char *text, struct mission_spec *spec)
{
	json_error_t	 jerr;
	json_t		*j;
	char		 err[256];

	if ((j = json_loads(text, 0, &jerr)) == NULL) {
		printf("Bail out! bad test JSON: %s\n", jerr.text);
		exit(1);
	}
	if (mission_parse(j, &pins, spec, err, sizeof(err)) == -1) {
		printf("Bail out! test mission refused: %s\n", err);
		exit(1);
	}
	json_decref(j);
}

#define OUTPUTS_MAX	8

static void
check_outputs(const char *what, const char *text, size_t max,
    const char * const *want)
{
	struct mission_spec	 spec;
	char			 names[OUTPUTS_MAX + 1][GPIOWS_NAME_SIZE];
	size_t			 n, nwant, i;
	int			 good;

	for (i = 0; i <= OUTPUTS_MAX; i++)
		strcpy(names[i], "untouched");
	parse_ok(text, &spec);
	n = mission_outputs(&spec, names, max);
	for (nwant = 0; want[nwant] != NULL; nwant++)
		;
	good = n == nwant;
	for (i = 0; good && i < n; i++)
		good = strcmp(names[i], want[i]) == 0;
	/* Nothing written past what it returned, max or not. */
	for (i = n; good && i <= OUTPUTS_MAX; i++)
		good = strcmp(names[i], "untouched") == 0;
	if (!ok(good, "mission_outputs: %s", what)) {
		diag("returned %zu, expected %zu", n, nwant);
		for (i = 0; i < n && i <= OUTPUTS_MAX; i++)
			diag("names[%zu] = \"%s\"", i, names[i]);
	}
	mission_spec_free(&spec);
}

static const char mixed[] =
    "{\"name\":\"m\",\"steps\":["
    "{\"sleep\":{\"ms\":5}},"
    "{\"wait\":{\"pin\":\"button\",\"edge\":\"both\",\"timeout_ms\":9}},"
    "{\"repeat\":{\"count\":2,\"steps\":["
      "{\"repeat\":{\"count\":3,\"steps\":[{\"toggle\":{\"pin\":\"relay\"}}]}},"
      "{\"set\":{\"pin\":\"led\",\"value\":1}},"
      "{\"toggle\":{\"pin\":\"relay\"}}]}},"
    "{\"set\":{\"pin\":\"led\",\"value\":0}},"
    "{\"toggle\":{\"pin\":\"relay\"}}]}";

static void
outputs_tests(void)
{
	static const char * const relay_led[] = { "relay", "led", NULL };
	static const char * const relay[] = { "relay", NULL };
	static const char * const led_relay[] = { "led", "relay", NULL };
	static const char * const none[] = { NULL };

	check_outputs("first use inside nested repeats, distinct", mixed,
	    OUTPUTS_MAX, relay_led);
	check_outputs("max 2 with 2 outputs", mixed, 2, relay_led);
	check_outputs("max 1 stops after the first", mixed, 1, relay);
	check_outputs("max 0 writes nothing", mixed, 0, none);
	check_outputs("top-level order after a repeat",
	    "{\"name\":\"m\",\"steps\":["
	    "{\"repeat\":{\"count\":1,\"steps\":[{\"set\":{\"pin\":\"led\","
	    "\"value\":1}}]}},"
	    "{\"set\":{\"pin\":\"relay\",\"value\":1}},"
	    "{\"toggle\":{\"pin\":\"led\"}}]}", OUTPUTS_MAX, led_relay);
	check_outputs("waits and sleeps hold no output",
	    "{\"name\":\"m\",\"steps\":[{\"sleep\":{\"ms\":1}},"
	    "{\"wait\":{\"pin\":\"door\",\"edge\":\"rising\","
	    "\"timeout_ms\":1}}]}", OUTPUTS_MAX, none);
}

static void
error_buffer_tests(void)
{
	static const char	 text[] =
	    "{\"name\":\"m\",\"steps\":[{\"sleep\":{\"ms\":0}}]}";
	static const char	 full[] = "steps[0].sleep.ms: must be 1..86400000";
	struct mission_spec	 spec;
	json_t			*j;
	char			 err[8];

	if ((j = json_loads(text, 0, NULL)) == NULL) {
		printf("Bail out! bad test JSON\n");
		exit(1);
	}
	memset(err, 'x', sizeof(err));
	ok(mission_parse(j, &pins, &spec, err, sizeof(err)) == -1 &&
	    memchr(err, '\0', sizeof(err)) != NULL &&
	    strncmp(err, full, strlen(err)) == 0 &&
	    strlen(err) == sizeof(err) - 1,
	    "a short error buffer gets a terminated prefix");
	ok(mission_parse(j, &pins, &spec, NULL, 0) == -1 && is_empty(&spec),
	    "no error buffer at all");
	mission_spec_free(&spec);
	mission_spec_free(&spec);
	ok(is_empty(&spec), "mission_spec_free twice");
	json_decref(j);

	ok(lookup_calls > 0 && lookup_badarg == 0,
	    "lookup gets the pins' arg (%d calls)", lookup_calls);
}

static void
no_pins_test(void)
{
	static const char	 text[] =
	    "{\"name\":\"m\",\"steps\":[{\"toggle\":{\"pin\":\"led\"}}]}";
	struct mission_spec	 spec;
	struct mission_pins	 nopins = { NULL, NULL };
	json_t			*j;
	char			 err[256];

	if ((j = json_loads(text, 0, NULL)) == NULL) {
		printf("Bail out! bad test JSON\n");
		exit(1);
	}
	ok(mission_parse(j, &nopins, &spec, err, sizeof(err)) == -1 &&
	    strcmp(err, "steps[0].toggle.pin: no pin named \"led\"") == 0,
	    "a pin table without lookup knows no pin");
	mission_spec_free(&spec);
	json_decref(j);
}

int
main(int argc, char *argv[])
{
	if (argc != 2) {
		printf("Bail out! usage: mission-test cases-directory\n");
		return 1;
	}
	run_cases(argv[1]);
	outputs_tests();
	error_buffer_tests();
	no_pins_test();
	return tap_done();
}
