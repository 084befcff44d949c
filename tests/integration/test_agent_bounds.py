"""Guest agent calls on the rig: bounded while the collection uses the agent, libvirt's default left behind.

libvirt waits for a domain's agent forever by default (agentTimeout -2, VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_BLOCK)
and keeps a changed value per running domain, for every client; the daemon's status XML shows it.
"""

import re
import time

import pytest

from harness import rig_env, run_module

URI = rig_env.HOST_A_URI
STOPPED_FOR = 60  # seconds the guest keeps its own agent stopped
AGENT_STOPPED_LINE = "virtops-test: agent stopped"


def daemon_agent_timeout(name):
    """The agent response timeout libvirtd keeps for running domain NAME (from its status XML)."""
    with open(f"/run/libvirt/qemu/{name}.xml", encoding="utf-8") as handle:
        return int(re.search(r"<agentTimeout>(-?\d+)</agentTimeout>", handle.read()).group(1))


@pytest.fixture
def guest(host_a, guest_name):
    dom = rig_env.define_guest(host_a, guest_name)
    rig_env.wait_booted(dom, timeout=90)
    rig_env.wait_agent(dom, timeout=60)
    return dom


def stop_the_agent_for_a_while(dom):
    """The guest stops its qemu-ga (SIGSTOP) from a background shell, says so on its console, resumes it later."""
    since = rig_env.serial_log_size(dom.name())
    script = (f"(sleep 1; kill -STOP $(pidof qemu-ga); echo '{AGENT_STOPPED_LINE}' > /dev/ttyS0; "
              f"sleep {STOPPED_FOR}; kill -CONT $(pidof qemu-ga)) >/dev/null 2>&1 </dev/null &")
    rig_env.agent_command(dom, "guest-exec", {"path": "/bin/sh", "arg": ["-c", script]})
    deadline = time.monotonic() + 30
    while True:
        with open(rig_env.serial_log_path(dom.name()), "rb") as log:
            log.seek(since)
            if AGENT_STOPPED_LINE.encode() in log.read():
                return
        assert time.monotonic() < deadline, "the guest did not stop its agent"
        time.sleep(0.2)


def quiesced_snapshot(dom, name):
    return run_module("domain_snapshot", {"uri": URI, "name": dom.name(), "snapshot": name, "quiesce": True,
                                          "location": "external", "memory": False})


def test_a_quiesced_snapshot_leaves_libvirts_default_agent_timeout_behind(guest):
    assert daemon_agent_timeout(guest.name()) == -2
    result = quiesced_snapshot(guest, "q")
    assert result.get("failed") is not True, result.get("msg")
    assert result["quiesce"]["frozen_filesystems"] >= 1 and result["quiesce"]["thawed_filesystems"] >= 1
    assert daemon_agent_timeout(guest.name()) == -2


def test_a_stopped_agent_fails_a_quiesced_snapshot_in_seconds_with_no_change(guest):
    stop_the_agent_for_a_while(guest)
    started = time.monotonic()
    failed = quiesced_snapshot(guest, "q")
    took = time.monotonic() - started
    assert failed.get("failed") is True, failed
    assert f"quiesce needs the guest agent of domain '{guest.name()}', which does not answer" in failed["msg"]
    assert took < 20, f"took {took:.0f} s"
    assert guest.snapshotNum(0) == 0
    assert daemon_agent_timeout(guest.name()) == -2
