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
import sys
import threading
import time
from contextlib import contextmanager

from harness import rig_env

HOST_B_DIR = os.path.join(rig_env.RUN_DIR, "hostb")
PIDFILES = {"A": "/run/libvirtd.pid", "B": os.path.join(HOST_B_DIR, "libvirtd.pid")}
URIS = {"A": rig_env.HOST_A_URI, "B": rig_env.HOST_B_URI}
HOST_B_NAMESPACE_HOLDER = os.path.join(HOST_B_DIR, "virtlogd.pid")
# as `rig up` starts them: QEMU's exit reaped at once, as on a real host (see the script)
SUBREAPER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "rig", "subreaper.py")


def daemon_pid(host: str) -> int:
    return _read_pid(PIDFILES[host])


def stop_daemon(host: str, how: int = signal.SIGTERM, timeout: float = 40) -> float:
    """Send HOW (SIGTERM: a service restart; SIGKILL: a crash) to host's libvirtd, wait for its end.
    (libvirtd stopped while it runs a backup job exits only after its 30 s forced-shutdown wait.)
    Returns the seconds it took."""
    started = time.monotonic()
    pid = daemon_pid(host)
    os.kill(pid, how)
    while _alive(pid):
        if time.monotonic() - started > timeout:
            # never leave the rig with a daemon that neither serves nor ends (others' tests need it)
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
            raise RuntimeError(f"libvirtd of host {host} (pid {pid}) did not end within {timeout} s of {how!r}: killed")
        time.sleep(0.05)
    return time.monotonic() - started


def start_daemon(host: str, timeout: float = 60) -> float:
    """Start host's libvirtd again (with the state it left) and wait until it answers.
    Returns the seconds until it answered."""
    started = time.monotonic()
    command = [sys.executable, SUBREAPER, "libvirtd", "-d"]
    if host == "B":
        holder = _read_pid(HOST_B_NAMESPACE_HOLDER)
        command = ["nsenter", f"--target={holder}", "--mount", "--uts", "--", *command, "-p", PIDFILES["B"]]
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
    try:
        stop_daemon(host, how)
    finally:
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


class FaultDuring:
    """Runs a module (RUN: a callable returning run_module's result) in a thread and injects FAULT
    (a callable returning the seconds it took) once READY() says the job is under way.

    The figures the README rows quote: `fault_at` (seconds from the task's start to the fault),
    `fault_seconds` (how long the fault lasted) and `after_fault` (seconds from the fault's end
    to the task's end)."""

    def __init__(self, run, fault, ready, ready_timeout: float = 60):
        self.result = None
        self._error = None
        self._run = run
        started = time.monotonic()
        thread = threading.Thread(target=self._target, daemon=True)
        thread.start()
        while not ready():
            if time.monotonic() - started > ready_timeout or not thread.is_alive():
                thread.join(timeout=600)
                raise AssertionError(f"the job never got under way (task result: {self.result or self._error})")
            time.sleep(0.05)
        fault_start = time.monotonic()
        self.fault_at = fault_start - started
        self.fault_seconds = fault()
        thread.join(timeout=600)
        assert not thread.is_alive(), "the task hung after the fault"
        if self._error is not None:
            raise self._error
        self.after_fault = self.result.finished_at - fault_start

    def _target(self):
        try:
            self.result = self._run()
        except BaseException as error:  # pylint: disable=broad-except  # re-raised in the test's thread
            self._error = error

    def figures(self) -> str:
        return (f"fault at {self.fault_at:.1f} s, daemon back after {self.fault_seconds:.2f} s, "
                f"task ended {self.after_fault:.1f} s after the fault ({self.result.seconds:.1f} s in all)")


def hosts() -> dict:
    """New connections to both hosts (those opened before a fault are dead)."""
    return {host: rig_env.connect(uri) for host, uri in URIS.items()}


def places(name: str) -> dict:
    """rig_env.domain_places of NAME on both hosts, read on connections of its own."""
    conns = hosts()
    try:
        return rig_env.domain_places(conns, name)
    finally:
        for conn in conns.values():
            conn.close()


def assert_stayed_at_a(name: str, dom_id: int) -> None:
    """After a failed migration A -> B: the guest runs at A as before (same QEMU, no job left) and
    nothing of it is at B."""
    import libvirt  # pylint: disable=import-outside-toplevel
    conns = hosts()
    try:
        assert rig_env.domain_places(conns, name) == {"A": ("running", True), "B": None}, \
            rig_env.domain_places(conns, name)
        dom = conns["A"].lookupByName(name)
        assert dom.ID() == dom_id, "the guest was restarted"
        assert dom.jobInfo()[0] == libvirt.VIR_DOMAIN_JOB_NONE, "a migration job is left at A"
    finally:
        for conn in conns.values():
            conn.close()
