"""wait_for_agent on the rig: waits through libvirt APIs that do not taint the domain, fails fast without a channel."""

import os

import libvirt

from harness import rig_env, run_module

URI = rig_env.HOST_A_URI


def domain_log(name):
    path = f"/var/log/libvirt/qemu/{name}.log"
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def test_wait_for_agent_leaves_no_custom_agent_command_taint(host_a, guest_name):
    result = run_module("domain_state", {"uri": URI, "xml": rig_env.guest_xml(guest_name, data_disk=None),
                                         "state": "running", "wait_for_agent": True, "timeout": 120})
    assert result.get("failed") is not True, result
    assert result["actions"] == ["define", "start"]
    dom = host_a.lookupByName(guest_name)
    # the agent really answers (through the same non-tainting API), and nothing tainted the domain
    assert dom.guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME, 0)["hostname"]
    log = domain_log(guest_name)
    assert "is tainted" not in log or "custom-ga-command" not in log, [line for line in log.splitlines() if "taint" in line]


def test_wait_for_agent_without_an_agent_channel_fails_at_once(host_a, guest_name):
    xml = rig_env.guest_xml(guest_name, data_disk=None, agent=False, agent_channel=False)
    result = run_module("domain_state", {"uri": URI, "xml": xml, "state": "running", "wait_for_agent": True,
                                         "timeout": 120})
    assert result.get("failed") is True
    assert f"domain '{guest_name}' has no guest agent channel" in result["msg"]
    assert result.seconds < 30, f"took {result.seconds:.0f} s of a 120 s timeout"
    assert os.path.exists(f"/var/log/libvirt/qemu/{guest_name}.log")
