"""The fault-injection suite (tests/faults): the integration fixtures, with fresh connections.

Faults here restart and kill the rig's daemons, which breaks every connection open at that
moment, so host_a / host_b (and what depends on them) are opened per test, not per session.
The suite runs as its own pytest invocation (tests/run-all.sh), after the integration tests."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from rig_fixtures import *  # noqa: E402,F401,F403  pylint: disable=wildcard-import,unused-wildcard-import,wrong-import-position
from rig_fixtures import TwoHostGuests  # noqa: E402  pylint: disable=wrong-import-position
from harness import rig_env  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture
def host_a(rig):
    conn = rig.connect(rig.HOST_A_URI)
    yield conn
    _close_quietly(conn)


@pytest.fixture
def host_b(rig):
    conn = rig.connect(rig.HOST_B_URI)
    yield conn
    _close_quietly(conn)


@pytest.fixture
def guest_name(request, rig):
    """As in the integration tests; the cleanup opens its own connections (the test's may be dead)."""
    name = rig_env.unique_guest_name(request.node.name)
    yield name
    for uri in (rig.HOST_A_URI, rig.HOST_B_URI):
        conn = rig.connect(uri)
        try:
            rig_env.cleanup_domain(conn, name)
        finally:
            _close_quietly(conn)
    rig_env.remove_data_disk(name)


@pytest.fixture
def two_host_guests(rig):
    """A TwoHostGuests per test, on connections of its own (so cleanup works after a restart)."""
    conns = [rig.connect(rig.HOST_A_URI), rig.connect(rig.HOST_B_URI)]
    guests = TwoHostGuests(*conns)
    yield guests
    guests.cleanup()
    for conn in conns:
        _close_quietly(conn)


def _close_quietly(conn):
    try:
        conn.close()
    except Exception:  # pylint: disable=broad-except  # a connection the fault already broke
        pass
