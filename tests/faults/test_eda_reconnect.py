"""Fault: host A's libvirtd killed and started again under a running EDA event source (domain_events).

The source's own rig tests (tests/integration/test_eda_source.py) stand in for a restart with a proxy socket,
which other tests on the rig do not notice; this one restarts the real daemon."""

import signal
import time

from daemons import restart_daemon

from eda_runner import LATENCY, lifecycle, sources  # noqa: F401  pylint: disable=unused-import
from harness import rig_env


def connection(state):
    return lambda event: event["type"] == "connection" and event["details"]["state"] == state


def test_a_restarted_daemon_is_reconnected_and_later_events_arrive(sources, guest_name):
    """Guarantee: when libvirtd dies (SIGKILL) and comes back, the source says so as events (disconnected,
    reconnected) and the domain events after it arrive within a second, with no event source restart."""
    source = sources(uris=[{"uri": rig_env.HOST_A_URI, "name": "A"}], domains=[guest_name], events=["lifecycle"],
                     reconnect_delay=0.2, reconnect_max_delay=1)
    killed = time.monotonic()
    down_for = restart_daemon("A", signal.SIGKILL)
    lost_at, lost = source.next(connection("disconnected"), timeout=15)
    back_at, back = source.next(connection("reconnected"), timeout=15)
    assert lost["host"] == "A" and lost["details"]["reason"] in ("eof", "keepalive", "error")
    assert back["details"]["attempts"] >= 1
    print(f"\nlibvirtd down {down_for:.2f} s; disconnected seen after {lost_at - killed:.2f} s, "
          f"reconnected after {back_at - killed:.2f} s")

    fresh = rig_env.connect(rig_env.HOST_A_URI)  # connections opened before the restart died with the daemon
    try:
        rig_env.define_guest(fresh, guest_name, data_disk=False, start=False)
        returned = time.monotonic()
        arrived, event = source.next(lifecycle("defined"))
    finally:
        fresh.close()
    assert event["domain"] == guest_name and arrived - returned < LATENCY, arrived - returned
