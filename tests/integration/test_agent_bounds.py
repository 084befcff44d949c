"""Guest agent calls on the rig: bounded while the collection uses the agent, libvirt's default left behind.

libvirt waits for a domain's agent forever by default (agentTimeout -2, VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_BLOCK)
and keeps a changed value per running domain, for every client; the daemon's status XML shows it.
"""

import time

import pytest

from harness import rig_env, run_module

URI = rig_env.HOST_A_URI
STOPPED_FOR = 60  # seconds the guest keeps its own agent stopped


@pytest.fixture
def guest(host_a, guest_name):
    dom = rig_env.define_guest(host_a, guest_name)
    rig_env.wait_booted(dom, timeout=90)
    rig_env.wait_agent(dom, timeout=60)
    return dom


def quiesced_snapshot(dom, name):
    return run_module("domain_snapshot", {"uri": URI, "name": dom.name(), "snapshot": name, "quiesce": True,
                                          "location": "external", "memory": False})


def test_a_quiesced_snapshot_leaves_libvirts_default_agent_timeout_behind(guest):
    assert rig_env.agent_response_timeout(guest.name()) == -2
    result = quiesced_snapshot(guest, "q")
    assert result.get("failed") is not True, result.get("msg")
    assert result["quiesce"]["frozen_filesystems"] >= 1 and result["quiesce"]["thawed_filesystems"] >= 1
    assert rig_env.agent_response_timeout(guest.name()) == -2


def test_a_stopped_agent_fails_a_quiesced_snapshot_in_seconds_with_no_change(guest):
    rig_env.stop_agent_for(guest, STOPPED_FOR)
    started = time.monotonic()
    failed = quiesced_snapshot(guest, "q")
    took = time.monotonic() - started
    assert failed.get("failed") is True, failed
    assert f"quiesce needs the guest agent of domain '{guest.name()}', which does not answer" in failed["msg"]
    assert took < 20, f"took {took:.0f} s"
    assert guest.snapshotNum(0) == 0
    assert rig_env.agent_response_timeout(guest.name()) == -2
