"""Turning libvirt's answers into facts: stats nesting, definition summary, metadata, addresses."""

import os

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _facts, _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    ConnectionFailed,
    InvalidArgument,
    LibvirtCallError,
    UnsupportedOperation,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._parallel import TIMED_OUT

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")
FLEET_URI = "test://" + os.path.abspath(os.path.join(FIXTURES, "fleet-node.xml"))

# A real getAllDomainStats record of the rig's tiny guest (libvirt 9.0, QEMU 7.2).
QEMU_RECORD = {
    "state.state": 1, "state.reason": 1, "cpu.time": 3146231000, "cpu.user": 2779553000,
    "cpu.cache.monitor.count": 0, "cpu.haltpoll.success.time": 0, "balloon.current": 262144,
    "balloon.last-update": 0, "vcpu.current": 1, "vcpu.maximum": 1, "vcpu.0.state": 1, "vcpu.0.time": 2860000000,
    "net.count": 1, "net.0.name": "vnet0", "net.0.rx.bytes": 90, "net.0.tx.pkts": 3,
    "block.count": 1, "block.0.name": "vda", "block.0.rd.reqs": 12, "block.0.capacity": 67108864,
    "dirtyrate.calc_status": 0,
}


def test_stats_become_nested_dicts_with_readable_names():
    nested = _facts.nest_stats(QEMU_RECORD)
    assert nested["state"] == {"state": "running", "reason": "booted"}
    assert nested["cpu"]["time"] == 3146231000
    assert nested["cpu"]["cache"] == {"monitor": {"count": 0}}
    assert nested["balloon"] == {"current": 262144, "last_update": 0}
    assert nested["vcpu"] == {"current": 1, "maximum": 1, "vcpus": [{"index": 0, "state": 1, "time": 2860000000}]}
    assert nested["interface"] == {
        "count": 1, "interfaces": [{"index": 0, "name": "vnet0", "rx": {"bytes": 90}, "tx": {"pkts": 3}}]}
    assert nested["block"]["disks"] == [{"index": 0, "name": "vda", "rd": {"reqs": 12}, "capacity": 67108864}]


def test_unknown_stats_group_is_refused():
    with pytest.raises(InvalidArgument, match="unknown stats group 'cpus'"):
        _facts.stats_flags(["cpus"])


def test_bulk_facts_cost_four_calls_whatever_the_number_of_domains(monkeypatch):
    with Connection(ConnectionParams(uri=FLEET_URI)) as connection:
        calls = []
        for method in ("getAllDomainStats", "listAllDomains", "lookupByName", "lookupByUUIDString"):
            original = getattr(connection.conn, method)
            monkeypatch.setattr(connection.conn, method,
                                lambda *args, _m=method, _o=original: calls.append(_m) or _o(*args))
        facts = _facts.bulk_facts(connection)
    assert sorted(calls) == ["getAllDomainStats"] + ["listAllDomains"] * 3
    assert [(f["name"], f["state"], f["persistent"]) for f in facts] == [
        ("db01", "shutoff", True), ("web-{{ 7 * 7 }}", "paused", True), ("web01", "running", True)]


def test_bulk_facts_for_some_domains_use_one_stats_call():
    with Connection(ConnectionParams(uri=FLEET_URI)) as connection:
        db01 = Domain.lookup(connection, name="db01")
        facts = _facts.bulk_facts(connection, ["state"], domains=[db01])
    assert [(f["name"], f["uuid"], f["id"]) for f in facts] == [("db01", "22222222-2222-4222-8222-222222222222", None)]


def test_the_stats_of_another_read_are_merged_by_domain_or_why_not_is_said():
    with Connection(ConnectionParams(uri=FLEET_URI)) as connection:
        records = _facts.fetch_stats(connection, ["state"])
        other = [(virdomain, {"cpu.time": 7}) for virdomain, _record in _facts.fetch_stats(connection, ["state"])
                 if virdomain.name() == "web01"]
    assert _facts.merge_or_why_not(records, other) is None
    assert {virdomain.name(): record.get("cpu.time") for virdomain, record in records} == {
        "db01": None, "web-{{ 7 * 7 }}": None, "web01": 7}
    assert _facts.merge_or_why_not(records, TIMED_OUT) == "no answer in time"
    assert _facts.merge_or_why_not(records, LibvirtCallError("query-stats refused")) == "query-stats refused"
    with pytest.raises(ConnectionFailed, match="lost"):
        _facts.merge_or_why_not(records, ConnectionFailed("connection to the daemon lost"))


def test_every_group_but_the_state_is_asked_of_each_qemu():
    assert _facts.qemu_groups(["state", "cpu", "block"]) == {"cpu", "block"}
    assert _facts.qemu_groups(["state"]) == set()


def test_definition_summary_of_a_qemu_definition():
    with open(os.path.join(FIXTURES, "defined.xml"), encoding="utf-8") as handle:
        summary = _facts.definition_summary(_xml.parse(handle.read()))
    assert summary["vcpus"] == 1 and summary["memory_kib"] == 262144
    assert summary["os"]["machine"] == "pc-i440fx-7.2" and summary["os"]["boot"] == ["hd"]
    assert summary["disks"] == [{"target": "vda", "bus": "virtio", "device": "disk", "type": "file",
                                 "source": "/var/lib/libvirt/images/virtops/web01-data.qcow2", "format": "qcow2",
                                 "readonly": False}]
    assert summary["interfaces"] == [{"mac": "52:54:00:f5:e7:18", "type": "user", "source": None, "model": "virtio",
                                      "target": None}]
    assert summary["guest_agent_channel"] is True


def test_metadata_summary_reads_tags_from_the_namespace():
    with Connection(ConnectionParams(uri=FLEET_URI)) as connection:
        root = _xml.parse(Domain.lookup(connection, name="web01").xml_desc(0))
    summary = _facts.metadata_summary(root, "https://virtops.example.org/xmlns/tags/1.0")
    assert summary["title"] == "Shop front end"
    assert summary["tags"] == ["web", "prod"]
    assert list(summary["custom"]) == ["https://virtops.example.org/xmlns/tags/1.0"]


AGENT_ANSWER = {
    "lo": {"hwaddr": "00:00:00:00:00:00", "addrs": [
        {"type": libvirt.VIR_IP_ADDR_TYPE_IPV4, "addr": "127.0.0.1", "prefix": 8}]},
    "eth0": {"hwaddr": "52:54:00:12:34:56", "addrs": [
        {"type": libvirt.VIR_IP_ADDR_TYPE_IPV6, "addr": "2001:db8::10", "prefix": 64},
        {"type": libvirt.VIR_IP_ADDR_TYPE_IPV4, "addr": "192.0.2.10", "prefix": 24},
    ]},
}


def test_addresses_and_the_preferred_one():
    addresses = _facts.addresses_from(AGENT_ANSWER, "agent")
    assert {a["address"]: a["family"] for a in addresses} == {
        "2001:db8::10": "ipv6", "192.0.2.10": "ipv4", "127.0.0.1": "ipv4"}
    assert _facts.pick_address(addresses, ["lease", "agent"]) == "192.0.2.10"
    assert _facts.pick_address(addresses, ["agent"], prefer_ipv4=False) == "2001:db8::10"
    assert _facts.pick_address(addresses, ["lease"]) is None


def test_source_order_wins_over_family():
    lease = _facts.addresses_from({"vnet0": {"hwaddr": "m", "addrs": [
        {"type": libvirt.VIR_IP_ADDR_TYPE_IPV6, "addr": "2001:db8::20", "prefix": 64}]}}, "lease")
    agent = _facts.addresses_from(AGENT_ANSWER, "agent")
    assert _facts.pick_address(lease + agent, ["lease", "agent"]) == "2001:db8::20"


def test_a_stats_group_this_libvirt_lacks_is_a_clear_error(monkeypatch):
    monkeypatch.delattr(libvirt, "VIR_DOMAIN_STATS_DIRTYRATE", raising=False)
    with pytest.raises(UnsupportedOperation, match=r"has no VIR_DOMAIN_STATS_DIRTYRATE \(needed for stats group dirtyrate\)"):
        _facts.stats_flags(["state", "dirtyrate"])
    assert _facts.stats_flags(["state"]) == libvirt.VIR_DOMAIN_STATS_STATE
