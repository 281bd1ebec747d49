#include "config.h"

#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "ipc.h"
#include "log.h"
#include "sandbox.h"

#ifdef GPIOWS_SANITIZERS
#include <sanitizer/common_interface_defs.h>
#endif

void
sandbox_drop(const char *root, uid_t uid, gid_t gid)
{
	uid_t	 ruid, euid, suid;
	gid_t	 rgid, egid, sgid;

#ifdef GPIOWS_SANITIZERS
	/*
	 * LeakSanitizer reads /proc/PID/task at exit and attaches to the
	 * process: a sanitizer build (never shipped) does not chroot and stays
	 * dumpable so that leaks in the children are found.
	 */
	if (root != NULL)
		log_warnx("sanitizer build: not confined to %s", root);
	root = NULL;
#endif
	if (root != NULL) {
		if (chroot(root) == -1)
			fatal("chroot %s", root);
		if (chdir("/") == -1)
			fatal("chdir /");
	}
	if (setgroups(0, NULL) == -1)
		fatal("setgroups");
	if (setresgid(gid, gid, gid) == -1)
		fatal("setresgid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid) == -1)
		fatal("setresuid %u", (unsigned)uid);
	if (getresuid(&ruid, &euid, &suid) == -1 ||
	    getresgid(&rgid, &egid, &sgid) == -1)
		fatal("getresuid");
	if (ruid != uid || euid != uid || suid != uid ||
	    rgid != gid || egid != gid || sgid != gid)
		fatalx("privilege drop did not stick");
	if (uid != 0 && setuid(0) != -1)
		fatalx("root could be regained after the drop");
#ifdef GPIOWS_SANITIZERS
	if (prctl(PR_SET_DUMPABLE, 1) == -1)
		fatal("prctl PR_SET_DUMPABLE");
#endif
}

static void __attribute__((noreturn))
child_usage(const char *name)
{
	fprintf(stderr, "usage: %s [-dv] [-u uid -g gid] -r dir\n", name);
	exit(1);
}

/* A uid or gid: decimal, below (uid_t)-1, which means "no change". */
static unsigned int
child_id(const char *s, const char *name)
{
	char		*end;
	unsigned long	 v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 ||
	    v >= (unsigned int)-1)
		child_usage(name);
	return (unsigned int)v;
}

void
sandbox_child_opts(int argc, char *argv[], const char *name,
    struct child_opts *o)
{
	int	 ch, given = 0;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt(argc, argv, "dg:r:u:v")) != -1) {
		switch (ch) {
		case 'd':
			o->co_foreground = 1;
			break;
		case 'g':
			o->co_gid = child_id(optarg, name);
			given |= 2;
			break;
		case 'r':
			o->co_root = optarg;
			break;
		case 'u':
			o->co_uid = child_id(optarg, name);
			given |= 1;
			break;
		case 'v':
			o->co_verbose++;
			break;
		default:
			child_usage(name);
		}
	}
	if (optind != argc || o->co_root == NULL || (given != 0 && given != 3))
		child_usage(name);
	o->co_drop = given == 3;
	if (fcntl(IPC_CHILD_FD, F_GETFD) == -1)
		fatalx("no channel on fd %d: %s is started by gpiod-helper",
		    IPC_CHILD_FD, name);
}

void
sandbox_child_enter(const struct child_opts *o, enum sandbox_role role,
    pid_t ppid)
{
	if (o->co_drop)
		sandbox_drop(o->co_root, o->co_uid, o->co_gid);
	sandbox_parent_death(ppid);
	sandbox_apply(role);
}

void
sandbox_parent_death(pid_t ppid)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		fatal("prctl PR_SET_PDEATHSIG");
	if (getppid() != ppid)
		fatalx("parent died during start");
}

/* Everything a libevent loop with glibc's malloc needs. */
static const char *const sc_base[] = {
	"read", "write", "readv", "writev", "close", "lseek",
	"recvmsg", "sendmsg", "recvfrom", "sendto", "recvmmsg",
	"epoll_wait", "epoll_pwait", "epoll_ctl", "poll", "ppoll", "select",
	"pselect6",
	"fcntl", "fstat", "newfstatat", "statx",
	"mmap", "munmap", "mremap", "brk", "madvise", "mprotect",
	"clock_gettime", "clock_getres", "gettimeofday", "time",
	"nanosleep", "clock_nanosleep",
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
	"getegid", "getrandom",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"restart_syscall", "futex", "sched_yield",
	"exit", "exit_group",
	NULL
};

/*
 * wsd: accepted sockets and the www files it serves.  TLS adds nothing:
 * OpenSSL is initialised before the filter (tls_init), and building a
 * context from memory, handshakes and records need only sc_base (memory,
 * read, write, getrandom).
 */
static const char *const sc_wsd[] = {
	"accept", "accept4", "shutdown", "setsockopt", "getsockopt",
	"getsockname", "getpeername",
	"openat", "openat2", "pread64", "sendfile", "dup",
	NULL
};

/* The worker: its journal directory. */
static const char *const sc_worker[] = {
	"openat", "pread64", "pwrite64", "fsync", "fdatasync", "rename",
	"renameat", "renameat2", "unlink", "unlinkat", "mkdirat",
	"ftruncate", "getdents64", "dup",
	"timerfd_settime", "timerfd_gettime",	/* precise timers */
	NULL
};

/*
 * The helper: what wsd and the worker need, plus supervising children, the
 * GPIO character devices and starting a child up to its own sandbox_apply()
 * (the dynamic loader, the privilege drop).
 */
static const char *const sc_helper[] = {
	"accept", "accept4", "shutdown", "setsockopt", "getsockopt",
	"getsockname", "getpeername", "socketpair", "bind", "listen", "socket",
	"openat", "openat2", "open", "pread64", "pwrite64", "sendfile", "dup",
	"dup2", "dup3", "pipe", "pipe2", "ioctl", "eventfd2",
	"fsync", "fdatasync", "rename", "renameat", "renameat2", "unlink",
	"unlinkat", "mkdir", "mkdirat", "fchown", "fchownat", "chown",
	"ftruncate", "getdents64", "readlink", "readlinkat", "access",
	"faccessat", "faccessat2", "stat", "lstat", "uname",
	"clone", "clone3", "fork", "vfork", "execve", "execveat",
	"wait4", "waitid", "kill", "tgkill", "tkill",
	"chroot", "chdir", "fchdir", "setgroups", "setresuid", "setresgid",
	"setuid", "setgid", "getresuid", "getresgid", "getgroups",
	"prctl", "arch_prctl", "set_tid_address", "set_robust_list",
	"rseq", "prlimit64", "getrlimit", "setrlimit", "sysinfo",
	"seccomp", "capget", "capset", "umask", "getcwd", "setsid",
	"setpgid", "getpgid", "getpgrp", "getsid", "sched_getaffinity",
	"sched_setaffinity",	/* wsd's fan-out writer, before its sandbox */
	"timerfd_create", "timerfd_settime", "timerfd_gettime",
	"epoll_create", "epoll_create1",
	"socketcall", "membarrier", "connect", "setpriority", "getpriority",
	NULL
};

#ifdef GPIOWS_SANITIZERS
/*
 * ASan/UBSan/LSan at run time and at exit: LeakSanitizer stops the process
 * with a ptrace()ing clone to scan it.  Only ever in sanitizer builds.
 */
static const char *const sc_sanitizers[] = {
	"clone", "clone3", "ptrace", "wait4", "waitid", "prctl", "openat",
	"open", "readlink", "readlinkat", "getdents", "getdents64",
	"sched_getaffinity",
	"prlimit64", "getrlimit", "tgkill", "tkill", "kill", "pipe2", "dup",
	"dup2", "dup3", "uname", "sysinfo", "stat", "lstat", "access",
	"faccessat", "getcwd", "set_robust_list", "rseq", "sched_yield",
	NULL
};
#endif

#ifdef GPIOWS_DEBUG
static char	 sc_trap_msg[64];

static void
sandbox_sigsys(int sig, siginfo_t *info, void *ctx)
{
	char	 buf[128];
	int	 n, nr = info->si_syscall;
	char	 digits[16];
	int	 i = sizeof(digits);

	/* async-signal-safe formatting of the number */
	digits[--i] = '\0';
	do {
		digits[--i] = '0' + nr % 10;
		nr /= 10;
	} while (nr > 0 && i > 0);
	n = snprintf(buf, sizeof(buf), "%s: seccomp: forbidden syscall %s\n",
	    sc_trap_msg, &digits[i]);
	if (n > 0)
		(void)write(STDERR_FILENO, buf, (size_t)n);
	_exit(1);
}
#endif

static void
sandbox_allow(scmp_filter_ctx ctx, const char *const *names)
{
	int	 nr, rc;

	for (; *names != NULL; names++) {
		nr = seccomp_syscall_resolve_name(*names);
		if (nr == __NR_SCMP_ERROR)
			continue;	/* not on this architecture */
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0 &&
		    rc != -EEXIST)
			fatalx("seccomp_rule_add %s: %s", *names, strerror(-rc));
	}
}

/*
 * glibc's syslog(3) reconnects to /dev/log when syslogd restarts: a Unix
 * datagram socket and connect(2), nothing else.
 */
static void
sandbox_allow_syslog(scmp_filter_ctx ctx)
{
	int	 rc;

	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
	    SCMP_A0(SCMP_CMP_EQ, AF_UNIX))) < 0 ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(connect),
	    0)) < 0)
		fatalx("seccomp_rule_add syslog: %s", strerror(-rc));
}

void
sandbox_apply(enum sandbox_role role)
{
	scmp_filter_ctx	 ctx;
	uint32_t	 deny = SCMP_ACT_KILL_PROCESS;
	int		 rc;

#ifdef GPIOWS_DEBUG
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sandbox_sigsys;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGSYS, &sa, NULL) == -1)
		fatal("sigaction SIGSYS");
	snprintf(sc_trap_msg, sizeof(sc_trap_msg), "%s[%d]",
	    role == SANDBOX_WSD ? "wsd" : role == SANDBOX_WORKER ?
	    "worker" : "helper", (int)getpid());
	deny = SCMP_ACT_TRAP;
#endif
#ifdef GPIOWS_SANITIZERS
	/* Let the sanitizers cache /proc/self/maps before it disappears. */
	__sanitizer_sandbox_on_notify(NULL);
#endif

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl PR_SET_NO_NEW_PRIVS");
	/* Only the native architecture: any other is killed by default. */
	if ((ctx = seccomp_init(deny)) == NULL)
		fatalx("seccomp_init failed");
	/* Every thread: wsd's fan-out writer (wsd/fanout.c) too. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0)
		fatalx("seccomp TSYNC: %s", strerror(-rc));
	sandbox_allow(ctx, sc_base);
	switch (role) {
	case SANDBOX_HELPER:
		sandbox_allow(ctx, sc_helper);
		break;
	case SANDBOX_WSD:
		sandbox_allow(ctx, sc_wsd);
		sandbox_allow_syslog(ctx);
		/* libevent sizes its reads with FIONREAD; no other ioctl. */
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl),
		    1, SCMP_A1(SCMP_CMP_EQ, FIONREAD))) < 0)
			fatalx("seccomp_rule_add ioctl: %s", strerror(-rc));
		break;
	case SANDBOX_WORKER:
		sandbox_allow(ctx, sc_worker);
		sandbox_allow_syslog(ctx);
		break;
	}
#ifdef GPIOWS_SANITIZERS
	sandbox_allow(ctx, sc_sanitizers);
	if (role != SANDBOX_HELPER)
		(void)seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 0);
#endif
	if ((rc = seccomp_load(ctx)) < 0)
		fatalx("seccomp_load: %s", strerror(-rc));
	seccomp_release(ctx);
}
