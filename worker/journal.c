/*
 * The mission journal: one file per mission in the journal directory,
 * mission-ID.json, replaced whole by writing mission-ID.json.tmp and
 * renaming it over the old one.  rename(2) is atomic, so a worker killed at
 * any point leaves either the old file or the new one, never a torn one;
 * the worker's death is the failure this guards against (not the machine's).
 * A file is written when a mission's state changes: accepted, running,
 * cancelled, back to queued, ended.  Only an ended one is fsynced.
 *
 * Where a running mission is, step by step, is not written to disk: a blink
 * would rewrite its file every few steps for as long as it runs, for years
 * on a board's SD card.  It is kept instead in the place store, a memfd the
 * helper made (IPC_STORE_FD) and holds across the worker's deaths.  The
 * place only matters to a worker that follows under the same helper: a
 * mission found after the helper's restart is interrupted, not resumed.  On
 * its way out the worker writes every running mission's place to disk, so
 * that what the next start reports is where each one stopped.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

static const char *const state_names[] = {
	"queued", "running", "done", "failed", "cancelled", "interrupted"
};

int
journal_write(const struct mission *m)
{
	json_t	*j, *stack;
	char	 tmp[64], path[64], *s;
	size_t	 len, off;
	ssize_t	 n;
	int	 fd, i;

	stack = json_array();
	for (i = 0; i < m->m_depth; i++)
		json_array_append_new(stack, json_pack("[I, I]",
		    (json_int_t)m->m_stack[i].f_i,
		    (json_int_t)m->m_stack[i].f_iter));
	j = json_pack("{s:I, s:O, s:s, s:o, s:I, s:b, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:s, s:b}",
	    "id", (json_int_t)m->m_id,
	    "mission", m->m_json,
	    "state", state_names[m->m_state],
	    "stack", stack,
	    "step", (json_int_t)m->m_step,
	    "inflight", m->m_inflight,
	    "done", (json_int_t)m->m_done,
	    "boot", (json_int_t)m->m_boot,
	    "created", (json_int_t)m->m_created,
	    "started", (json_int_t)m->m_started,
	    "ended", (json_int_t)m->m_ended,
	    "sleep_until", (json_int_t)m->m_sleep_until,
	    "error", m->m_error,
	    "cancel", m->m_cancel && m->m_cancel_to == M_CANCELLED);
	if (j == NULL || (s = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		log_warnx("mission %u: cannot encode its journal", m->m_id);
		return -1;
	}
	json_decref(j);
	snprintf(tmp, sizeof(tmp), "mission-%u.json.tmp", m->m_id);
	snprintf(path, sizeof(path), "mission-%u.json", m->m_id);
	if ((fd = openat(kenv->k_dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1) {
		log_warn("journal %s", tmp);
		free(s);
		return -1;
	}
	len = strlen(s);
	for (off = 0; off < len; off += (size_t)n)
		if ((n = write(fd, s + off, len - off)) == -1) {
			log_warn("journal %s", tmp);
			close(fd);
			free(s);
			return -1;
		}
	free(s);
	/* Finished missions are the record users read later: make it last. */
	if (m->m_state >= M_DONE)
		(void)fdatasync(fd);
	close(fd);
	if (renameat(kenv->k_dirfd, tmp, kenv->k_dirfd, path) == -1) {
		log_warn("journal %s", path);
		return -1;
	}
	return 0;
}

void
journal_remove(uint32_t id)
{
	char	 path[64];

	snprintf(path, sizeof(path), "mission-%u.json", id);
	if (unlinkat(kenv->k_dirfd, path, 0) == -1 && errno != ENOENT)
		log_warn("journal %s", path);
}

static json_t *
journal_read(const char *name)
{
	json_error_t	 err;
	json_t		*j;
	char		 buf[256 * 1024];
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = openat(kenv->k_dirfd, name, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1) {
		log_warn("journal %s", name);
		return NULL;
	}
	while (len < sizeof(buf) &&
	    (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (len == sizeof(buf)) {
		log_warnx("journal %s: too large", name);
		return NULL;
	}
	if ((j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err)) == NULL ||
	    !json_is_object(j)) {
		log_warnx("journal %s: unreadable (%s): left aside as %s.bad",
		    name, err.text, name);
		json_decref(j);
		return NULL;
	}
	return j;
}

/* ------------------------------------------------------ the place store */

/*
 * A mission's place, as the journal file has it.  Two per slot: the one
 * being written has p_seq 0 until it is whole, so a worker killed in the
 * middle leaves the other, the place before.  p_seq is 32 bits, stored
 * whole on every architecture (a 64-bit store may be two on 32-bit ARM),
 * and compared as serial numbers: it wraps after 4 billion steps, and the
 * two of a slot are always one apart.
 */
struct place {
	uint32_t	 p_seq;		/* 0: empty, or being written */
	uint32_t	 p_pad;
	uint64_t	 p_created;	/* with p_id: this mission, not another */
	uint64_t	 p_boot;
	uint64_t	 p_done;
	uint64_t	 p_sleep_until;
	uint32_t	 p_id;
	uint32_t	 p_step;
	int32_t		 p_inflight;
	int32_t		 p_depth;
	uint64_t	 p_i[MISSION_MAX_DEPTH + 1];
	uint32_t	 p_iter[MISSION_MAX_DEPTH + 1];
};

#define STORE_MAGIC	"gpiowsP1"

/* A worker of another build finds another size and starts afresh. */
struct store {
	char		 s_magic[8];
	uint32_t	 s_place_size;
	uint32_t	 s_nslots;
	struct place	 s_slot[MISSION_MAX_ACTIVE][2];
};

_Static_assert(sizeof(struct store) <= IPC_STORE_SIZE,
    "the place store is larger than the helper makes it");

static struct store	*store;

void
journal_store_open(int fd)
{
	struct stat	 st;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		fatalx("no place store on fd %d: gpiows-worker is started by "
		    "gpiod-helper", fd);
	if ((size_t)st.st_size < sizeof(*store))
		fatalx("place store: %lld bytes, %zu wanted",
		    (long long)st.st_size, sizeof(*store));
	if ((store = mmap(NULL, sizeof(*store), PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0)) == MAP_FAILED)
		fatal("place store");
	close(fd);
	if (memcmp(store->s_magic, STORE_MAGIC, sizeof(store->s_magic)) != 0 ||
	    store->s_place_size != sizeof(struct place) ||
	    store->s_nslots != MISSION_MAX_ACTIVE) {
		memset(store, 0, sizeof(*store));
		memcpy(store->s_magic, STORE_MAGIC, sizeof(store->s_magic));
		store->s_place_size = sizeof(struct place);
		store->s_nslots = MISSION_MAX_ACTIVE;
	}
}

/* The newer whole place of slot i, or NULL. */
static const struct place *
slot_place(int i)
{
	const struct place *a = &store->s_slot[i][0], *b = &store->s_slot[i][1];
	uint32_t	 sa = __atomic_load_n(&a->p_seq, __ATOMIC_ACQUIRE);
	uint32_t	 sb = __atomic_load_n(&b->p_seq, __ATOMIC_ACQUIRE);

	if (sa == 0 || sb == 0)
		return sa != 0 ? a : sb != 0 ? b : NULL;
	return (int32_t)(sa - sb) > 0 ? a : b;
}

static int
slot_of(uint32_t id, uint64_t created)
{
	const struct place *p;
	int		 i;

	for (i = 0; i < MISSION_MAX_ACTIVE; i++)
		if ((p = slot_place(i)) != NULL && p->p_id == id &&
		    p->p_created == created)
			return i;
	return -1;
}

static void
slot_clear(int i)
{
	__atomic_store_n(&store->s_slot[i][0].p_seq, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&store->s_slot[i][1].p_seq, 0, __ATOMIC_RELEASE);
}

/*
 * Where m is now, at every step: a few hundred bytes of memory, no system
 * call.  With no slot free (more running missions than can be active, which
 * mission_start_request does not let happen) it goes to disk instead.
 */
void
journal_place(const struct mission *m)
{
	const struct place *cur;
	struct place	*p;
	uint32_t	 seq;
	int		 i, k;

	if ((i = slot_of(m->m_id, m->m_created)) == -1)
		for (i = 0; i < MISSION_MAX_ACTIVE; i++)
			if (slot_place(i) == NULL)
				break;
	if (i == MISSION_MAX_ACTIVE) {
		journal_write(m);
		return;
	}
	cur = slot_place(i);
	k = cur == &store->s_slot[i][0] ? 1 : 0;
	p = &store->s_slot[i][k];
	__atomic_store_n(&p->p_seq, 0, __ATOMIC_RELEASE);
	p->p_created = m->m_created;
	p->p_boot = m->m_boot;
	p->p_done = m->m_done;
	p->p_sleep_until = m->m_sleep_until;
	p->p_id = m->m_id;
	p->p_step = m->m_step;
	p->p_inflight = m->m_inflight;
	p->p_depth = m->m_depth;
	for (k = 0; k < m->m_depth; k++) {
		p->p_i[k] = m->m_stack[k].f_i;
		p->p_iter[k] = m->m_stack[k].f_iter;
	}
	if ((seq = cur == NULL ? 1 : cur->p_seq + 1) == 0)
		seq = 1;
	__atomic_store_n(&p->p_seq, seq, __ATOMIC_RELEASE);
}

/* m ended: its place is of no more use. */
void
journal_place_forget(const struct mission *m)
{
	int	 i;

	if ((i = slot_of(m->m_id, m->m_created)) != -1)
		slot_clear(i);
}

/*
 * The place the store has for a running mission read from its file, in the
 * file's terms ({"stack", "step", "inflight", "done", "sleep_until"}), or
 * NULL: none, one of another run of the helper, or one behind the file
 * (which a worker that works never leaves).  The caller checks it as it
 * checks the file's, and frees it.
 */
json_t *
journal_place_json(uint32_t id, uint64_t created, uint64_t boot,
    uint32_t step, uint64_t done)
{
	const struct place *p;
	json_t		*stack;
	int		 i, k;

	if ((i = slot_of(id, created)) == -1)
		return NULL;
	p = slot_place(i);
	if (p->p_boot != boot || p->p_step < step || p->p_done < done ||
	    p->p_depth < 1 || p->p_depth > MISSION_MAX_DEPTH + 1)
		return NULL;
	if ((stack = json_array()) == NULL)
		return NULL;
	for (k = 0; k < p->p_depth; k++)
		json_array_append_new(stack, json_pack("[I, I]",
		    (json_int_t)p->p_i[k], (json_int_t)p->p_iter[k]));
	return json_pack("{s:o, s:I, s:b, s:I, s:I}", "stack", stack,
	    "step", (json_int_t)p->p_step, "inflight", p->p_inflight != 0,
	    "done", (json_int_t)p->p_done,
	    "sleep_until", (json_int_t)p->p_sleep_until);
}

void
journal_load(void (*cb)(json_t *, void *), void *arg)
{
	const struct place *p;
	const struct mission *m;
	int		 i;
	DIR		*d;
	struct dirent	*de;
	json_t		*j;
	char		 bad[300];
	int		 fd;
	size_t		 len;

	if ((fd = dup(kenv->k_dirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		log_warn("journal directory");
		if (fd != -1)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		/* A .tmp is a write the worker did not finish: the file it
		 * was to replace is still whole. */
		if (strncmp(de->d_name, "mission-", 8) != 0 || len < 6 ||
		    strcmp(de->d_name + len - 5, ".json") != 0) {
			if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0)
				(void)unlinkat(kenv->k_dirfd, de->d_name, 0);
			continue;
		}
		if ((j = journal_read(de->d_name)) == NULL) {
			snprintf(bad, sizeof(bad), "%s.bad", de->d_name);
			(void)renameat(kenv->k_dirfd, de->d_name,
			    kenv->k_dirfd, bad);
			continue;
		}
		cb(j, arg);
		json_decref(j);
	}
	closedir(d);
	/* Places of missions not running, or not taken back (invalid). */
	for (i = 0; i < MISSION_MAX_ACTIVE; i++) {
		if ((p = slot_place(i)) == NULL)
			continue;
		TAILQ_FOREACH(m, &kenv->k_missions, m_entry)
			if (m->m_id == p->p_id && m->m_created == p->p_created &&
			    m->m_state == M_RUNNING)
				break;
		if (m == NULL)
			slot_clear(i);
	}
}
