"""A daemon that stops answering after the connection opened: keepalive turns the hang into a failure.

A proxy in front of host B's real libvirtd forwards until frozen, then swallows everything, as a
hung daemon or a dead network path would (tests/hung_libvirtd.py).
"""

import time

import pytest
from hung_libvirtd import FreezingProxy

from ansible_collections.virtops.libvirt.plugins.module_utils import _facts, _fleet
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import ConnectionFailed
from harness import rig_env

HOST_B_SOCKET = rig_env.HOST_B_URI.split("socket=", 1)[1]


@pytest.fixture
def proxy(rig):
    with FreezingProxy(HOST_B_SOCKET) as opened:
        yield opened


def test_a_call_to_a_daemon_that_stops_answering_fails_by_keepalive(proxy):
    params = ConnectionParams(uri=proxy.uri, keepalive_interval=1, keepalive_count=2)
    with Connection(params) as connection:
        assert connection.list_all_domains(0) is not None
        proxy.freeze()
        started = time.monotonic()
        with pytest.raises(ConnectionFailed, match="keepalive timeout"):
            connection.get_all_domain_stats(0)
        # 1 s of silence, then 2 unanswered keepalives 1 s apart: about 3 s
        assert time.monotonic() - started < 6


def test_the_default_keepalive_bounds_a_hung_call(proxy):
    with Connection(ConnectionParams(uri=proxy.uri)) as connection:
        proxy.freeze()
        started = time.monotonic()
        with pytest.raises(ConnectionFailed):
            connection.list_all_domains(0)
        assert time.monotonic() - started < 5 * (3 + 1) + 5


def test_the_inventory_reads_the_other_hosts_while_one_hangs_mid_read(proxy, monkeypatch):
    real_fetch_bulk = _facts.fetch_bulk

    def fetch_bulk(connection, stats, **options):
        if connection.uri == proxy.uri:
            proxy.freeze()  # connected, then the daemon stops answering
        return real_fetch_bulk(connection, stats, **options)

    monkeypatch.setattr(_facts, "fetch_bulk", fetch_bulk)
    specs = [_fleet.HostSpec(uri=rig_env.HOST_A_URI, name="host-a"), _fleet.HostSpec(uri=proxy.uri, name="frozen")]
    started = time.monotonic()
    records = _fleet.read_hosts(specs, _fleet.FleetOptions(timeout=3))
    assert time.monotonic() - started < 3 + 1
    assert "error" not in records[0] and isinstance(records[0]["domains"], list)
    assert records[1]["error"] == "no answer within 3 s"
