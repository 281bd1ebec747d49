/*
 * Privilege drop and seccomp, one small interface for the three programs.
 *
 * A child (wsd, the worker) calls, in this order and before it reads any
 * input: sandbox_drop() when started as root, then sandbox_apply().  The
 * helper calls sandbox_apply(SANDBOX_HELPER) once its chips are open and its
 * sockets bound; since seccomp filters are inherited, the helper's list is a
 * superset of what the children need up to their own sandbox_apply().
 */
#ifndef GPIOWS_SANDBOX_H
#define GPIOWS_SANDBOX_H

#include <sys/types.h>

enum sandbox_role {
	SANDBOX_HELPER,
	SANDBOX_WSD,
	SANDBOX_WORKER
};

/*
 * sandbox_drop: chroot(root) and chdir("/") when root is not NULL, then
 * setgroups(0), setresgid(gid), setresuid(uid); checks that root cannot be
 * regained.  fatal() on any failure: a half-dropped child must not run.
 */
void	sandbox_drop(const char *root, uid_t uid, gid_t gid);

/*
 * sandbox_apply: set NO_NEW_PRIVS and load the role's allow-list.  Anything
 * else kills the process; in a debug build it traps instead and the SIGSYS
 * handler names the syscall on stderr before exiting.
 */
void	sandbox_apply(enum sandbox_role);

/*
 * sandbox_parent_death: ask for SIGKILL when the helper dies.  Called after
 * sandbox_drop (a credential change clears it); exits at once when the
 * parent is already gone (ppid is the pid the child had as parent at start).
 */
void	sandbox_parent_death(pid_t ppid);

/* What gpiod-helper tells a child on its command line. */
struct child_opts {
	int		 co_foreground;	/* -d: log to stderr */
	int		 co_verbose;	/* -v */
	int		 co_drop;	/* -u and -g given: drop to them */
	uid_t		 co_uid;
	gid_t		 co_gid;
	const char	*co_root;	/* -r: the directory it is confined to */
};

/*
 * sandbox_child_opts: parse "[-dv] [-u uid -g gid] -r dir" into opts,
 * printing usage (with name) and exiting on anything else; also checks
 * that the helper's channel is open on IPC_CHILD_FD.
 */
void	sandbox_child_opts(int argc, char *argv[], const char *name,
	    struct child_opts *opts);
/*
 * sandbox_child_enter: the fixed order in which a child gives up its
 * privileges: sandbox_drop (when told to), sandbox_parent_death,
 * sandbox_apply.  Whatever needs files must be open before.
 */
void	sandbox_child_enter(const struct child_opts *, enum sandbox_role,
	    pid_t ppid);

#endif
