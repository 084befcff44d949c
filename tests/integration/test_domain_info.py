"""domain_info on the real rig: the facts equal what virsh reports for the same guest."""

import re
import subprocess

import pytest

from harness import rig_env, run_module

URI = rig_env.HOST_A_URI


def virsh(*args):
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, check=True, timeout=60).stdout


def flatten(tree, prefix=""):
    """Our nested stats back to libvirt's flat keys (lists of {"index": n} become "n.")."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list) and all(isinstance(item, dict) and "index" in item for item in value):
            for item in value:
                rest = {k: v for k, v in item.items() if k != "index"}
                flat.update(flatten(rest, f"{prefix}{item['index']}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


LIBVIRT_GROUP = {"interface": "net", "vcpus": "", "interfaces": "", "disks": "", "iothreads": ""}


def libvirt_key(key):
    parts = [LIBVIRT_GROUP.get(part, part) for part in key.split(".")]
    return ".".join(part for part in parts if part).replace("last_update", "last-update")


@pytest.fixture(scope="module")
def info_guest(host_a):
    name = "virtops-info"
    rig_env.cleanup_domain(host_a, name)
    dom = rig_env.define_guest(host_a, name, nic=True)
    rig_env.wait_agent(dom, timeout=90)
    yield name, dom
    rig_env.cleanup_domain(host_a, name)
    rig_env.remove_data_disk(name)


def test_facts_equal_virsh_dominfo(info_guest):
    name, _dom = info_guest
    result = run_module("domain_info", {"uri": URI, "name": name, "gather": ["state", "definition", "flags"]})
    facts = result["domain"]
    dominfo = dict(re.findall(r"^([^:]+):\s+(.*)$", virsh("dominfo", name), re.M))
    assert facts["name"] == dominfo["Name"] and facts["uuid"] == dominfo["UUID"]
    assert str(facts["id"]) == dominfo["Id"]
    assert facts["state"] == dominfo["State"] == "running"
    assert str(facts["definition"]["vcpus"]) == dominfo["CPU(s)"]
    assert f"{facts['definition']['memory_kib']} KiB" == dominfo["Max memory"]
    assert facts["persistent"] is (dominfo["Persistent"] == "yes")
    assert facts["autostart"] is (dominfo["Autostart"] == "enable")
    assert facts["has_managed_save"] is (dominfo["Managed save"] == "yes")
    assert result["changed"] is False


def test_stats_equal_virsh_domstats(info_guest):
    name, _dom = info_guest
    result = run_module("domain_info", {"uri": URI, "name": name, "gather": ["stats"],
                                        "stats": ["state", "cpu", "balloon", "vcpu", "interface", "block"]})
    ours = flatten(result["domain"]["stats"])
    ours = {libvirt_key(key): value for key, value in ours.items()}
    theirs = dict(re.findall(r"^\s+([\w.-]+)=(.*)$",
                             virsh("domstats", "--state", "--cpu-total", "--balloon", "--vcpu", "--interface",
                                   "--block", name), re.M))
    theirs.pop("state.state"), theirs.pop("state.reason")
    assert set(theirs) == set(ours), set(theirs) ^ set(ours)
    steady = [key for key in theirs if re.search(r"(count|current|maximum|name|path|capacity|\.state)$", key)]
    assert steady, "some values do not change between the two reads"
    for key in steady:
        assert str(ours[key]) == theirs[key], key


def test_addresses_equal_virsh_domifaddr_agent(info_guest):
    name, _dom = info_guest
    result = run_module("domain_info", {"uri": URI, "name": name, "gather": ["addresses"],
                                        "address_sources": ["agent"]})
    ours = {(a["interface"], a["mac"], f"{a['address']}/{a['prefix']}") for a in result["domain"]["addresses"]}
    rows = re.findall(r"^\s*(\S+)\s+(\S+)\s+(ipv4|ipv6)\s+(\S+)\s*$", virsh("domifaddr", name, "--source", "agent"),
                      re.M)
    theirs = set()
    interface = mac = None
    for row_interface, row_mac, _family, address in rows:
        if row_interface != "-":
            interface, mac = row_interface, row_mac
        theirs.add((interface, mac, address))
    assert theirs and ours == theirs
    assert ("eth0" in {row[0] for row in ours}) and any(row[2].startswith("10.0.2.15/") for row in ours)


def test_guest_info_and_block_groups(info_guest):
    name, _dom = info_guest
    result = run_module("domain_info", {"uri": URI, "name": name, "gather": ["guest", "block", "jobs", "vcpus"],
                                        "agent_timeout": 10})
    facts = result["domain"]
    assert facts["guest"]["hostname"] == rig_env.GUEST_HOSTNAME
    assert facts["block"]["disks"]["vda"]["capacity"] == 64 * 1024 * 1024
    assert facts["jobs"]["type"] == "none" and facts["jobs"]["control"]["state"] == "ok"
    assert facts["vcpus"]["vcpus"][0]["state"] == "running"


def test_a_guest_without_agent_is_reported_not_hung(host_a, guest_name):
    dom = rig_env.define_guest(host_a, guest_name, data_disk=False, agent=False)
    rig_env.wait_booted(dom, timeout=90)
    result = run_module("domain_info", {"uri": URI, "name": guest_name, "gather": ["guest"], "agent_timeout": 3})
    assert "agent" in result["domain"]["guest"]["error"]
    assert result.seconds < 20


def test_many_domains_in_one_task_and_state_filter(info_guest):
    name, _dom = info_guest
    result = run_module("domain_info", {"uri": URI, "states": ["running"], "gather": ["state"]})
    assert name in [domain["name"] for domain in result["domains"]]
    assert all(domain["state"] == "running" for domain in result["domains"])
    absent = run_module("domain_info", {"uri": URI, "name": "virtops-nowhere"})
    assert absent["domain"]["state"] == "absent" and absent["changed"] is False


def test_snapshots_group_lists_what_domain_snapshot_made(info_guest):
    name, _dom = info_guest
    made = run_module("domain_snapshot", {"uri": URI, "name": name, "snapshot": "virtops-info-s1", "state": "present"})
    assert made["changed"] is True, made.get("msg")
    try:
        facts = run_module("domain_info", {"uri": URI, "name": name, "gather": ["snapshots", "checkpoints"]})["domain"]
        assert facts["snapshots"]["names"] == ["virtops-info-s1"]
        assert facts["snapshots"]["current"] == "virtops-info-s1" and facts["snapshots"]["roots"] == ["virtops-info-s1"]
        assert facts["checkpoints"]["names"] == []
    finally:
        run_module("domain_snapshot", {"uri": URI, "name": name, "snapshot": "virtops-info-s1", "state": "absent"})
