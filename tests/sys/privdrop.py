"""Started as root, wsd and the worker run as the configured user, with no
supplementary groups, no capabilities, NO_NEW_PRIVS, a seccomp filter, and
confined to their directory; started as an ordinary user, the helper warns
and skips the drop (the children are still filtered)."""
import os
import subprocess
import tempfile

from gpiows_test import Gpiows, Tap, nobody, proc_status, HELPER, SANITIZERS

t = Tap()
pw = nobody()


def check_child(name, pid, uid, gid, root):
    st = proc_status(pid)
    t.eq(st["Uid"].split(), [str(uid)] * 4, "%s: real, effective, saved, fs uid %d" % (name, uid))
    t.eq(st["Gid"].split(), [str(gid)] * 4, "%s: real, effective, saved, fs gid %d" % (name, gid))
    t.eq(st["Groups"], "", "%s: no supplementary groups" % name)
    t.eq(st["CapEff"], "0000000000000000", "%s: no effective capabilities" % name)
    t.eq(st["CapPrm"], "0000000000000000", "%s: no permitted capabilities" % name)
    t.eq(st["NoNewPrivs"], "1", "%s: NO_NEW_PRIVS" % name)
    t.eq(st["Seccomp"], "2", "%s: seccomp filter mode" % name)
    if root is None:
        pass
    elif SANITIZERS:
        t.skip("%s: chrooted" % name, "sanitizer builds do not chroot (LeakSanitizer needs /proc)")
    else:
        t.eq(os.readlink("/proc/%d/root" % pid), root, "%s: chrooted to %s" % (name, root))


if os.geteuid() == 0:
    with Gpiows(user="nobody") as g:
        kids = g.wait_children()
        check_child("wsd", kids["wsd"], pw.pw_uid, pw.pw_gid, g.www)
        check_child("worker", kids["worker"], pw.pw_uid, pw.pw_gid, g.journal)
        st = proc_status(g.proc.pid)
        t.eq(st["Uid"].split()[1], "0", "the helper itself stays root")
        t.eq(st["Seccomp"], "2", "the helper runs under its own seccomp filter")
        jst = os.stat(g.journal)
        t.eq((jst.st_uid, jst.st_gid), (pw.pw_uid, pw.pw_gid), "the journal directory belongs to the user")
        t.ok("without the privilege drop" not in g.logtext(), "no warning about skipping the drop")
else:
    t.skip("children drop to the configured user", "needs root (CI runs as root)")

# As an ordinary user: warn, skip the drop, still sandboxed.
if os.geteuid() == 0:
    # nobody must reach the build tree to run it (an empty file is a
    # good configuration; /dev/null is not a regular file).
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        empty = os.path.join(d, "empty.conf")
        open(empty, "w").close()
        usable = subprocess.run(["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
                                 "--clear-groups", "--", HELPER, "-n", "-f", empty],
                                capture_output=True).returncode == 0
    if not usable:
        t.skip("ordinary user: warns and skips the drop",
               "user nobody cannot run %s (build tree not world-readable)" % HELPER)
        t.done()
    g = Gpiows(user="root", run_as=pw)
    uid, gid = pw.pw_uid, pw.pw_gid
else:
    g = Gpiows(user="root")
    uid, gid = os.getuid(), os.getgid()
with g:
    kids = g.wait_children()
    t.ok("not started as root: wsd and the worker run as uid %d without the privilege drop" % uid
         in g.logtext(), "the helper warns that it skips the drop")
    st = proc_status(kids["wsd"])
    t.eq(st["Uid"].split()[0], str(uid), "wsd runs as the invoking user")
    t.eq((st["NoNewPrivs"], st["Seccomp"]), ("1", "2"), "wsd: NO_NEW_PRIVS and seccomp all the same")
    st = proc_status(kids["worker"])
    t.eq((st["NoNewPrivs"], st["Seccomp"]), ("1", "2"), "worker: NO_NEW_PRIVS and seccomp all the same")
t.done()
