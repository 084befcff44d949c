"""One booted guest shared by the tests of a fault-suite file, reached through fresh connections.

Other fault tests restart host A's libvirtd now and then, which breaks every connection open at that
moment; so the guest is looked up afresh whenever it is needed, and waits re-connect."""

import os
import time

import libvirt

from harness import rig_env

URI = rig_env.HOST_A_URI


def domain(name, uri=URI):
    """NAME on a new connection (an older one may have died with a daemon restart)."""
    return rig_env.connect(uri).lookupByName(name)


def wait_agent(name, timeout=90):
    """Wait until NAME's agent answers, re-connecting after a daemon restart; return the seconds it took."""
    started = time.monotonic()
    while True:
        remaining = timeout - (time.monotonic() - started)
        try:
            rig_env.wait_agent(domain(name), timeout=max(1, min(10, remaining)))
            return time.monotonic() - started
        except (TimeoutError, RuntimeError, libvirt.libvirtError):
            if remaining <= 0:
                raise


def define(name, *, start=True, **guest_options):
    """Define (and by default start) the rig's tiny guest NAME on host A, options as rig_env.define_guest.

    A daemon restart by another fault test in the middle is retried (twice): it is not this file's fault."""
    for attempt in (1, 2, 3):
        try:
            conn = rig_env.connect(URI)
            try:
                rig_env.cleanup_domain(conn, name)
                rig_env.define_guest(conn, name, start=start, **guest_options)
            finally:
                conn.close()
            return name
        except (RuntimeError, libvirt.libvirtError):
            if attempt == 3:
                raise
            time.sleep(2)
    return name


def boot(name, **guest_options):
    """define() and start NAME, and wait for its agent."""
    define(name, **guest_options)
    wait_agent(name)
    return name


def ensure_running(name):
    """Start NAME if it is off (a test run alone finds it as the fixture left it); wait for its agent."""
    dom = domain(name)
    if not dom.isActive():
        dom.create()
    wait_agent(name)


def remove(name):
    """The guest from both hosts (wherever a test left it) and its data disk."""
    rig_env.forget_everywhere(name)


def unique_name(kind):
    return f"{rig_env.PREFIX}{kind}-{os.getpid() % 100000}"
