"""Stopping, killing and starting the rig's libvirt daemons, keeping their state, as a daemon that
crashed or was restarted by its service manager does.

Host A is the system libvirtd (/run/libvirtd.pid). Host B is the second libvirtd, inside the mount
and UTS namespace that `tests/rig/rig up` made for it; B's virtlogd keeps that namespace alive, so
B is started again inside it with its own state (a fresh `rig up` of B would start it empty, and
hide what a crash left behind). Running guests survive both: QEMU does not run under libvirtd.
"""

import os
import signal
import subprocess
import time
from contextlib import contextmanager

from harness import rig_env

HOST_B_DIR = os.path.join(rig_env.RUN_DIR, "hostb")
PIDFILES = {"A": "/run/libvirtd.pid", "B": os.path.join(HOST_B_DIR, "libvirtd.pid")}
URIS = {"A": rig_env.HOST_A_URI, "B": rig_env.HOST_B_URI}
HOST_B_NAMESPACE_HOLDER = os.path.join(HOST_B_DIR, "virtlogd.pid")


def daemon_pid(host: str) -> int:
    return _read_pid(PIDFILES[host])


def stop_daemon(host: str, how: int = signal.SIGTERM, timeout: float = 30) -> float:
    """Send HOW (SIGTERM: a service restart; SIGKILL: a crash) to host's libvirtd, wait for its end.
    Returns the seconds it took."""
    started = time.monotonic()
    pid = daemon_pid(host)
    os.kill(pid, how)
    while _alive(pid):
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"libvirtd of host {host} (pid {pid}) did not end within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def start_daemon(host: str, timeout: float = 60) -> float:
    """Start host's libvirtd again (with the state it left) and wait until it answers.
    Returns the seconds until it answered."""
    started = time.monotonic()
    command = ["libvirtd", "-d"]
    if host == "B":
        holder = _read_pid(HOST_B_NAMESPACE_HOLDER)
        command = ["nsenter", f"--target={holder}", "--mount", "--uts", "--", "libvirtd", "-d", "-p", PIDFILES["B"]]
    subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   check=True, timeout=timeout)
    _wait_answers(URIS[host], started + timeout)
    return time.monotonic() - started


@contextmanager
def daemon_down(host: str, how: int = signal.SIGKILL):
    """Host's libvirtd is stopped inside the block and started again after it, whatever happens."""
    stop_daemon(host, how)
    try:
        yield
    finally:
        start_daemon(host)


def restart_daemon(host: str, how: int = signal.SIGTERM) -> float:
    """Stop and start host's libvirtd; returns the seconds it did not answer."""
    started = time.monotonic()
    stop_daemon(host, how)
    start_daemon(host)
    return time.monotonic() - started


def _wait_answers(uri: str, deadline: float) -> None:
    import libvirt  # pylint: disable=import-outside-toplevel
    rig_env.quiet_libvirt_errors()
    while True:
        try:
            libvirt.open(uri).close()
            return
        except libvirt.libvirtError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a killed daemon is a zombie until its parent (init) reaps it
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _read_pid(path: str) -> int:
    with open(path, encoding="ascii") as handle:
        return int(handle.read().strip())
