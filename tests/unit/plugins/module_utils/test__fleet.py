"""Reading many hosts for the inventory: host entries, per-host deadline, no secrets in records."""

import os
import time

import pytest
from hung_libvirtd import HungSocket

from ansible_collections.virtops.libvirt.plugins.module_utils import _facts
from ansible_collections.virtops.libvirt.plugins.module_utils._fleet import FleetOptions, HostSpec, read_hosts

FIXTURE_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")
FLEET_URI = "test://" + os.path.abspath(os.path.join(FIXTURE_DIR, "fleet-node.xml"))


@pytest.mark.parametrize("entry, message", [
    ({"uri": "qemu:///system", "auth_password": "pw-1", "port": 22}, "unknown key(s) port"),
    (["qemu:///system", "pw-1"], "not a list"),
    ({"uri": "qemu:///system", "auth_password": ["pw-1"]}, "auth_password must be a string, not a list"),
])
def test_bad_host_entries_are_described_without_their_values(entry, message):
    with pytest.raises(ValueError) as raised:
        HostSpec.from_config(entry)
    assert message in str(raised.value) and "pw-1" not in str(raised.value)


def test_a_host_entry_takes_a_uri_or_a_dict():
    assert HostSpec.from_config("qemu+ssh://kvm01/system").label() == "kvm01"
    spec = HostSpec.from_config({"uri": "qemu:///system", "name": "local", "auth_username": "u", "auth_password": "p"})
    assert (spec.label(), spec.auth_username, spec.auth_password) == ("local", "u", "p")
    assert "p'" not in repr(spec)


def test_each_host_gets_the_timeout_and_the_others_are_read():
    with HungSocket() as hung:
        specs = [HostSpec(uri=FLEET_URI, name="good"), HostSpec(uri=hung.uri, name="hung")]
        started = time.monotonic()
        good, stuck = read_hosts(specs, FleetOptions(timeout=1, metadata=True))
        assert time.monotonic() - started < 1.6
    assert sorted(facts["name"] for facts in good["domains"]) == ["db01", "web-{{ 7 * 7 }}", "web01"]
    assert stuck["host"] == "hung" and "no answer within 1 s" in stuck["error"]


def test_records_show_uris_without_passwords():
    (record,) = read_hosts([HostSpec(uri="qemu+unix://admin:pw-1@/system?socket=/nonexistent/sock")], FleetOptions())
    assert record["uri"] == "qemu+unix://admin:********@/system?socket=/nonexistent/sock"
    assert "pw-1" not in record["error"]


def test_the_default_address_order_puts_the_guest_agent_last():
    assert FleetOptions().address_sources == ["lease", "arp", "agent"]


def test_stats_a_qemu_does_not_give_in_time_are_left_out_and_the_host_is_listed(monkeypatch):
    original = _facts.fetch_stats

    def slow_for_qemu_groups(connection, groups, *args, **kwargs):
        if set(groups) != {"state"}:
            time.sleep(3)  # a QEMU saving an internal snapshot answers nothing meanwhile
        return original(connection, groups, *args, **kwargs)
    monkeypatch.setattr(_facts, "fetch_stats", slow_for_qemu_groups)
    started = time.monotonic()
    (record,) = read_hosts([HostSpec(uri=FLEET_URI)], FleetOptions(stats=["state", "vcpu"], timeout=1))
    assert time.monotonic() - started < 1.6
    assert "error" not in record, record
    facts = {item["name"]: item for item in record["domains"]}
    assert facts["web01"]["state"] == "running" and facts["web01"]["stats"] == {}
    assert {item["stats_error"] for item in facts.values()} == {"no answer in time"}


def test_stats_groups_are_asked_on_a_second_connection_and_merged_without_an_error(monkeypatch):
    asked = []
    original = _facts.fetch_stats

    def recording(connection, groups, *args, **kwargs):
        asked.append((sorted(groups), connection))
        return original(connection, groups, *args, **kwargs)
    monkeypatch.setattr(_facts, "fetch_stats", recording)
    (record,) = read_hosts([HostSpec(uri=FLEET_URI)], FleetOptions(stats=["state", "cpu", "vcpu"]))
    assert sorted(groups for groups, _connection in asked) == [["cpu", "vcpu"], ["state"]]
    assert asked[0][1] is not asked[1][1], "both reads used one connection"
    assert all("stats_error" not in item for item in record["domains"]), record
