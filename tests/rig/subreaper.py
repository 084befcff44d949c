#!/usr/bin/env python
"""Run a daemonizing command (`libvirtd -d`) under a process that reaps its orphans at once.

Why: libvirt destroys a guest by signalling QEMU and polling until the process is gone, holding the
domain's lock meanwhile. QEMU is daemonized, so its exit is reaped by the nearest subreaper or by
PID 1. On a real host PID 1 is systemd and reaps at once; on this machine PID 1 reaps orphans about
1.3 s late, so every destroy and every guest shutdown held the domain's lock 1.3 s longer than on a
real host, and anything listing the domains meanwhile (the inventory) waited for it.

Usage: subreaper.py COMMAND [ARG...]. Returns COMMAND's exit status once it has ended (as
`libvirtd -d` ends when the daemon is ready); a background process (a child subreaper, see
prctl(2)) stays behind reaping the daemon and everything it started, and ends with the last of
them. The daemon's pidfile still names the daemon.
"""

import ctypes
import os
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def let_go_of_inherited_files(keep: int) -> None:
    """The caller waits for EOF on our stdout/stderr (and the rig holds a lock file): give them all back."""
    null = os.open(os.devnull, os.O_RDWR)
    for standard in (0, 1, 2):
        os.dup2(null, standard)
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))


def reap_until_no_children_are_left() -> None:
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def main(command: list) -> int:
    if not command:
        sys.stderr.write(__doc__)
        return 2
    status_read, status_write = os.pipe()
    if os.fork() > 0:
        os.close(status_write)
        status = os.read(status_read, 16)
        return int(status) if status else 1
    os.close(status_read)
    os.setsid()  # not in the caller's session: a terminal hangup or the caller's group kill must not end it
    become_subreaper()
    try:
        returncode = subprocess.call(command)
    except OSError as error:
        sys.stderr.write(f"subreaper: cannot run {command[0]}: {error}\n")
        returncode = 127
    let_go_of_inherited_files(keep=status_write)
    os.write(status_write, str(returncode).encode())
    os.close(status_write)
    reap_until_no_children_are_left()
    os._exit(0)  # the background reaper: no interpreter teardown, nothing of the caller's to flush


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
