"""Guest faults: an agent that stops answering in the middle of a guest's life, a guest that ignores ACPI.

One booted guest (ACPI honoured, agent running, the ext4 data disk) serves the file, in order: the tests
that leave it running come first, the one that shuts it down last. The faults are made inside the guest:
its qemu-ga is stopped with SIGSTOP (rig_env.stop_agent_for: libvirt's channel stays connected, calls go
unanswered, the agent resumes later and then works through what it was sent), its acpid loses its
power-button action.
Each test prints the figures the fault suite's README table quotes.
"""

import os
import time

import libvirt
import pytest
from lxml import etree

import shared_guest
from harness import rig_env, run_module
from shared_guest import domain

URI = rig_env.HOST_A_URI
AGENT_TIMEOUT = 2  # domain_guest's agent_timeout in these tests
POWER_BUTTON_ACTION = "/etc/acpi/PWRF/00000080"  # what the guest's acpid runs for the ACPI power button
SLACK = 3.0  # seconds a module process may take beyond its timeout (Python start, connect, the result)


@pytest.fixture(scope="module")
def guest(rig):  # pylint: disable=unused-argument  # rig: fails the test when the rig is down
    name = shared_guest.boot(shared_guest.unique_name("gfault"))
    yield name
    shared_guest.remove(name)


def disks_xml(dom):
    """The live <disk> elements: an external snapshot, even a half-made one, changes them."""
    root = etree.fromstring(dom.XMLDesc(0))
    return [etree.tostring(disk) for disk in root.findall("devices/disk")]


def image_files(name):
    return sorted(entry for entry in os.listdir(rig_env.IMAGES_DIR) if entry.startswith(name))


def timed(module, args):
    started = time.monotonic()
    result = run_module(module, args)
    return result, time.monotonic() - started


def test_a_stopped_agent_fails_agent_tasks_within_their_timeout_and_leaves_nothing_half_done(guest):
    """Guarantee: with the guest's agent stopped, an fs freeze (domain_guest) and a quiesced snapshot
    (domain_snapshot) each fail within their agent timeout, naming the domain; nothing was frozen or
    snapshotted, and once the agent resumes and works through its queue the guest is thawed, running,
    without a snapshot, and libvirt's default agent timeout (wait forever) is back."""
    dom = domain(guest)
    disks, files = disks_xml(dom), image_files(guest)
    rig_env.stop_agent_for(dom, 12)
    stopped_at = time.monotonic()

    frozen, freeze_took = timed("domain_guest", {"uri": URI, "name": guest, "agent_timeout": AGENT_TIMEOUT,
                                                 "fsfreeze": {"state": "frozen"}})
    quiesced, snapshot_took = timed("domain_snapshot", {"uri": URI, "name": guest, "snapshot": "q", "quiesce": True,
                                                        "location": "external", "memory": False})
    print(f"agent stopped: fs freeze failed in {freeze_took:.1f} s, quiesced snapshot in {snapshot_took:.1f} s")

    assert frozen.get("failed") is True and frozen["changed"] is False, frozen
    assert guest in frozen["msg"] and "not responding" in frozen["msg"], frozen["msg"]
    assert freeze_took < AGENT_TIMEOUT + SLACK, f"fs freeze took {freeze_took:.1f} s"
    assert quiesced.get("failed") is True and quiesced["changed"] is False, quiesced
    assert f"quiesce needs the guest agent of domain '{guest}'" in quiesced["msg"], quiesced["msg"]
    assert snapshot_took < 5 + SLACK, f"quiesced snapshot took {snapshot_took:.1f} s"  # GuestAgent's 5 s call bound
    assert time.monotonic() - stopped_at < 12, "the tasks ran while the agent was still stopped"

    dom = domain(guest)  # afresh: another fault test may have restarted libvirtd meanwhile
    assert dom.snapshotNum(0) == 0 and disks_xml(dom) == disks and image_files(guest) == files
    assert rig_env.agent_response_timeout(guest) == -2
    resumed = shared_guest.wait_agent(guest, timeout=30)
    assert rig_env.agent_command(dom, "guest-fsfreeze-status") == "thawed"
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    print(f"agent answered again {time.monotonic() - stopped_at:.1f} s after it stopped ({resumed:.1f} s wait)")


def test_a_guest_ignoring_acpi_fails_the_shutdown_at_its_timeout_and_keeps_running(guest):
    """Guarantee: a guest whose ACPI handler lost its power-button action is not powered off by shutdown_mode=[acpi]
    without force: the task fails at shutdown_timeout naming the domain and the request it sent (changed: the
    guest may still act on it), and the guest runs on with its agent answering."""
    shared_guest.wait_agent(guest)
    dom = domain(guest)
    # acpid still reads the button press (nothing queues up), but does nothing
    rig_env.guest_shell(dom, f"mv {POWER_BUTTON_ACTION} {POWER_BUTTON_ACTION}.off")
    try:
        failed, took = timed("domain_state", {"uri": URI, "name": guest, "state": "shutoff",
                                              "shutdown_mode": ["acpi"], "shutdown_timeout": 3})
        print(f"ACPI ignored: shutdown failed after {took:.1f} s (shutdown_timeout=3)")
        assert failed.get("failed") is True and failed["actions"] == ["shutdown(acpi)"], failed
        assert f"domain '{guest}' did not shut down within shutdown_timeout=3 s" in failed["msg"]
        assert 3 <= took < 3 + SLACK, f"took {took:.1f} s"
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        assert rig_env.agent_command(dom, "guest-ping") == {}
    finally:
        rig_env.guest_shell(domain(guest), f"mv {POWER_BUTTON_ACTION}.off {POWER_BUTTON_ACTION}")


def test_a_stopped_agent_does_not_hold_a_shutdown_beyond_its_bound_and_acpi_takes_over(guest):
    """Guarantee: shutdown_mode=[agent, acpi] with the guest's agent stopped does not wait for the agent
    (libvirt would wait forever): the agent request is bounded, libvirt falls back to ACPI and the guest is
    shut off gracefully, well within shutdown_timeout and long before the agent resumes."""
    shared_guest.wait_agent(guest)
    dom = domain(guest)
    rig_env.stop_agent_for(dom, 40)
    done, took = timed("domain_state", {"uri": URI, "name": guest, "state": "shutoff",
                                        "shutdown_mode": ["agent", "acpi"], "shutdown_timeout": 30})
    print(f"agent stopped, ACPI honoured: shut off in {took:.1f} s")
    assert done.get("failed") is not True, done.get("msg")
    assert done["actions"] == ["shutdown(agent,acpi)"]
    assert done["domain"]["state"] == "shutoff" and done["domain"]["reason"] == "shutdown"
    assert took < 5 + 5 + SLACK, f"took {took:.1f} s: the task waited for the stopped agent"
