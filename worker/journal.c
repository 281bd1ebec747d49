/*
 * The mission journal: one file per mission in the journal directory,
 * mission-ID.json, replaced whole by writing mission-ID.json.tmp and
 * renaming it over the old one.  rename(2) is atomic, so a worker killed at
 * any point leaves either the old file or the new one, never a torn one;
 * the worker's death is the failure this guards against (not the machine's),
 * so nothing is fsynced on the per-step path.
 */
#include "config.h"

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

void
journal_load(void (*cb)(json_t *, void *), void *arg)
{
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
}
