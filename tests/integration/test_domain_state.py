"""domain_state on the real rig: the transition table, graceful shutdown, templates, bad input."""

import json
import subprocess
import threading
import time

import libvirt
import pytest

from harness import rig_env, run_module

URI = rig_env.HOST_A_URI

# --- producing a starting state directly through libvirt (independent of the module under test) ---


def lookup(conn, name):
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError:
        return None


def state_of(conn, name):
    dom = lookup(conn, name)
    if dom is None:
        return "absent"
    code = dom.state()[0]
    if code == libvirt.VIR_DOMAIN_SHUTOFF:
        return "saved" if dom.hasManagedSaveImage(0) else "shutoff"
    return {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_PAUSED: "paused",
            libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended", libvirt.VIR_DOMAIN_CRASHED: "crashed"}.get(code, str(code))


def boot(conn, dom):
    """Start and wait until the guest is fully up (ACPI and agent ready)."""
    since = rig_env.serial_log_size(dom.name())
    dom.create()
    rig_env.wait_booted(dom, timeout=90, since=since)
    rig_env.wait_agent(dom, timeout=60)


def bring_to(conn, name, xml, state):
    """Put the guest into `state` using libvirt directly."""
    dom = lookup(conn, name)
    if state == "absent":
        rig_env.cleanup_domain(conn, name)
        return
    if dom is None:
        dom = conn.defineXML(xml)
    current = state_of(conn, name)
    if current == state:
        return
    if current != "shutoff":  # start from a clean shut-off domain: simple and certain
        if dom.isActive():
            dom.destroy()
        if dom.hasManagedSaveImage(0):
            dom.managedSaveRemove(0)
    if state == "shutoff":
        return
    boot(conn, dom)
    if state == "paused":
        dom.suspend()
    elif state == "saved":
        dom.managedSave(0)
    elif state == "pmsuspended":
        dom.pMSuspendForDuration(libvirt.VIR_NODE_SUSPEND_TARGET_MEM, 0, 0)
        rig_env.wait_state(dom, libvirt.VIR_DOMAIN_PMSUSPENDED, timeout=30)
    elif state == "crashed":
        rig_env.crash_guest(dom)
        rig_env.wait_state(dom, libvirt.VIR_DOMAIN_CRASHED, timeout=30)
    assert state_of(conn, name) == state


def expected_final(start, target):
    if target == "present":
        return "shutoff" if start == "absent" else start
    if target in ("shutoff", "destroyed"):
        return "saved" if start == "saved" else "shutoff"
    return target


# --- the transition table ----------------------------------------------------------------------------

STARTS = ["absent", "shutoff", "running", "paused", "saved", "pmsuspended", "crashed"]
TARGETS = ["present", "running", "paused", "shutoff", "destroyed", "saved", "pmsuspended", "absent"]

# The actions each case needs, written by hand from libvirt's semantics (not from the module's tables).
# A managed save image is restored paused, then resumed: libvirt cannot say whether the image was saved
# running or paused, so this is the one way check mode can predict the real run. Removal undefines first.
RESTORE = "start(restore managed save, paused)"
SHUTDOWN = "shutdown(acpi)"
EXPECTED_ACTIONS = {
    "absent": {"present": ["define"], "running": ["define", "start"], "paused": ["define", "start(paused)"],
               "shutoff": ["define"], "destroyed": ["define"], "saved": ["define", "start", "managed_save"],
               "pmsuspended": ["define", "start", "pm_suspend(mem)"], "absent": []},
    "shutoff": {"present": [], "running": ["start"], "paused": ["start(paused)"], "shutoff": [], "destroyed": [],
                "saved": ["start", "managed_save"], "pmsuspended": ["start", "pm_suspend(mem)"],
                "absent": ["undefine"]},
    "running": {"present": [], "running": [], "paused": ["suspend"], "shutoff": [SHUTDOWN], "destroyed": ["destroy"],
                "saved": ["managed_save"], "pmsuspended": ["pm_suspend(mem)"], "absent": ["undefine", "destroy"]},
    "paused": {"present": [], "running": ["resume"], "paused": [], "shutoff": ["resume", SHUTDOWN],
               "destroyed": ["destroy"], "saved": ["managed_save"], "pmsuspended": ["resume", "pm_suspend(mem)"],
               "absent": ["undefine", "destroy"]},
    "saved": {"present": [], "running": [RESTORE, "resume"], "paused": [RESTORE], "shutoff": [], "destroyed": [],
              "saved": [], "pmsuspended": [RESTORE, "resume", "pm_suspend(mem)"], "absent": ["undefine"]},
    "pmsuspended": {"present": [], "running": ["pm_wakeup"], "paused": ["pm_wakeup", "suspend"],
                    "shutoff": ["pm_wakeup", SHUTDOWN], "destroyed": ["destroy"],
                    "saved": ["pm_wakeup", "managed_save"], "pmsuspended": [], "absent": ["undefine", "destroy"]},
    "crashed": {"present": [], "running": ["destroy", "start"], "paused": ["destroy", "start(paused)"],
                "shutoff": ["destroy"], "destroyed": ["destroy"], "saved": ["destroy", "start", "managed_save"],
                "pmsuspended": ["destroy", "start", "pm_suspend(mem)"], "absent": ["undefine", "destroy"]},
}


@pytest.fixture(scope="module")
def table_guest(host_a):
    name = "virtops-transitions"
    rig_env.cleanup_domain(host_a, name)
    # A panic device and on_crash=preserve: a guest kernel panic leaves the domain crashed.
    yield name, rig_env.guest_xml(name, panic=True, on_crash="preserve")
    rig_env.cleanup_domain(host_a, name)


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("target", TARGETS)
def test_transition(host_a, table_guest, start, target):
    name, xml = table_guest
    bring_to(host_a, name, xml, start)
    args = {"uri": URI, "xml": xml, "state": target, "shutdown_mode": ["acpi"], "shutdown_timeout": 60}

    predicted = run_module("domain_state", args, check_mode=True, diff=True)
    assert not predicted.get("failed"), predicted.get("msg")
    assert state_of(host_a, name) == start, "check mode changed the domain"

    real = run_module("domain_state", args, diff=True)
    assert not real.get("failed"), real.get("msg")
    final = expected_final(start, target)
    assert state_of(host_a, name) == final
    assert real["domain"]["state"] == ("shutoff" if final == "saved" else final)
    assert real["actions"] == EXPECTED_ACTIONS[start][target]
    assert real["changed"] is bool(EXPECTED_ACTIONS[start][target])
    assert predicted["changed"] == real["changed"]
    assert predicted["actions"] == real["actions"]

    again = run_module("domain_state", args)
    assert again["changed"] is False, again["actions"]
    assert state_of(host_a, name) == final


@pytest.mark.parametrize("action", ["rebooted", "reset"])
def test_actions_always_report_changed(host_a, table_guest, action):
    name, xml = table_guest
    bring_to(host_a, name, xml, "running")
    for _attempt in range(2):
        result = run_module("domain_state", {"uri": URI, "name": name, "state": action})
        assert result["changed"] is True and result["actions"] == [{"rebooted": "reboot", "reset": "reset"}[action]]
        assert state_of(host_a, name) == "running"
        rig_env.wait_agent(lookup(host_a, name), timeout=90)


# --- graceful shutdown -----------------------------------------------------------------------------


class StopWatcher:
    """Records when libvirt reports the domain stopped, from this test process."""

    def __init__(self, uri, name):
        from ansible_collections.virtops.libvirt.plugins.module_utils._events import EventLoop

        EventLoop.ensure_running()
        self.conn = libvirt.open(uri)
        self.stopped_at = None
        self.event = threading.Event()
        self.callback = self.conn.domainEventRegisterAny(
            self.conn.lookupByName(name), libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_event, None)

    def _on_event(self, _conn, _dom, event, _detail, _opaque):
        if event == libvirt.VIR_DOMAIN_EVENT_STOPPED and self.stopped_at is None:
            self.stopped_at = time.monotonic()
            self.event.set()

    def close(self):
        self.conn.domainEventDeregisterAny(self.callback)
        self.conn.close()


@pytest.mark.parametrize("mode", ["agent", "acpi"])
def test_graceful_shutdown_returns_within_1s_of_power_off(host_a, guest_name, mode):
    dom = host_a.defineXML(rig_env.guest_xml(guest_name))
    boot(host_a, dom)
    watcher = StopWatcher(URI, guest_name)
    try:
        result = run_module("domain_state", {"uri": URI, "name": guest_name, "state": "shutoff",
                                             "shutdown_mode": [mode], "shutdown_timeout": 60})
        assert watcher.event.wait(5), "libvirt never reported the guest stopped"
    finally:
        watcher.close()
    assert result["actions"] == [f"shutdown({mode})"]
    assert result["domain"]["state"] == "shutoff" and result["domain"]["reason"] == "shutdown"
    assert result.finished_at - watcher.stopped_at < 1.0


def test_ignored_shutdown_with_force_is_destroyed_at_the_timeout(host_a, guest_name):
    dom = host_a.defineXML(rig_env.guest_xml(guest_name, acpi_shutdown=False, agent=False))
    since = rig_env.serial_log_size(guest_name)
    dom.create()
    rig_env.wait_booted(dom, timeout=90, since=since)
    result = run_module("domain_state", {"uri": URI, "name": guest_name, "state": "shutoff", "force": True,
                                         "shutdown_mode": ["acpi"], "shutdown_timeout": 4})
    assert result["actions"] == ["shutdown(acpi)", "destroy(after shutdown timeout)"]
    assert result["domain"]["state"] == "shutoff" and result["domain"]["reason"] == "destroyed"
    assert 4 <= result.seconds < 10


def test_ignored_shutdown_without_force_fails_and_the_guest_keeps_running(host_a, guest_name):
    dom = host_a.defineXML(rig_env.guest_xml(guest_name, acpi_shutdown=False, agent=False))
    since = rig_env.serial_log_size(guest_name)
    dom.create()
    rig_env.wait_booted(dom, timeout=90, since=since)
    result = run_module("domain_state", {"uri": URI, "name": guest_name, "state": "shutoff",
                                         "shutdown_mode": ["acpi"], "shutdown_timeout": 3})
    assert result["failed"] is True
    assert guest_name in result["msg"] and "shutdown_timeout=3 s" in result["msg"]
    assert state_of(host_a, guest_name) == "running"


# --- templates -------------------------------------------------------------------------------------


def test_template_reapplied_is_unchanged_and_a_memory_change_is_pending(host_a, guest_name):
    xml = rig_env.guest_xml(guest_name, memory_mib=256)
    first = run_module("domain_state", {"uri": URI, "xml": xml, "state": "running"})
    assert first["actions"] == ["define", "start"]
    again = run_module("domain_state", {"uri": URI, "xml": xml, "state": "running"}, check_mode=True)
    assert again["changed"] is False
    again = run_module("domain_state", {"uri": URI, "xml": xml, "state": "running"})
    assert again["changed"] is False and again["pending_restart"] is False

    bigger = rig_env.guest_xml(guest_name, memory_mib=320)
    predicted = run_module("domain_state", {"uri": URI, "xml": bigger, "state": "running"}, check_mode=True, diff=True)
    assert predicted["changed"] is True and predicted["actions"] == ["update definition"]
    assert "memory" in predicted["domain"]["definition_changes"][0]
    changed = run_module("domain_state", {"uri": URI, "xml": bigger, "state": "running"}, diff=True)
    assert changed["actions"] == ["update definition"]
    assert changed["pending_restart"] is True
    assert changed["domain"]["definition_changes"] == ["/domain/memory: '262144 KiB' -> '320 MiB'"]
    [definition] = [entry for entry in changed["diff"] if entry.get("before_header") == "definition (before)"]
    assert "262144" in definition["before"] and "327680" in definition["after"]
    assert "327680" in lookup(host_a, guest_name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)

    still = run_module("domain_state", {"uri": URI, "xml": bigger, "state": "running"})
    assert still["changed"] is False and still["pending_restart"] is True

    rig_env.wait_booted(lookup(host_a, guest_name), timeout=90)
    restarted = run_module("domain_state", {"uri": URI, "xml": bigger, "state": "running", "restart_on_change": True,
                                            "shutdown_mode": ["acpi"], "shutdown_timeout": 60})
    assert restarted["actions"] == ["shutdown(acpi)", "start"] and restarted["pending_restart"] is False


def test_wait_for_agent_returns_a_guest_whose_agent_answers(host_a, guest_name):
    result = run_module("domain_state", {"uri": URI, "xml": rig_env.guest_xml(guest_name), "state": "running",
                                         "wait_for_agent": True, "timeout": 90})
    assert result["actions"] == ["define", "start"]
    assert rig_env.agent_command(lookup(host_a, guest_name), "guest-ping") == {}


# --- bad input: a clear message, no traceback (run_module asserts that), nothing changed ---------------


@pytest.mark.parametrize("args, message", [
    ({"xml": "<domain><name>virtops-bad</name>"}, "domain XML is not well-formed XML"),
    ({"name": "virtops-other", "xml": "<domain type='qemu'><name>virtops-bad</name></domain>"},
     "xml defines domain 'virtops-bad' but name is 'virtops-other'"),
    ({"name": "virtops-no-such-domain", "state": "running"}, "domain 'virtops-no-such-domain' does not exist"),
    ({"xml": '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/shadow">]><domain><name>&x;</name></domain>'},
     "must not contain a DOCTYPE"),
    ({"name": "virtops-bad", "uri": "qemu+unix:///system?socket=/nonexistent"}, "cannot connect to libvirt at"),
    ({"name": "virtops-bad", "uri": "bogus"}, "cannot connect to libvirt at 'bogus'"),
    ({"name": "virtops-bad", "state": "shutoff", "shutdown_timeout": -1}, "shutdown_timeout must not be negative"),
    ({"name": "virtops-bad", "state": "running", "timeout": -5}, "timeout must not be negative"),
])
def test_bad_input_fails_clearly_and_changes_nothing(host_a, args, message):
    before = sorted(dom.name() for dom in host_a.listAllDomains())
    result = run_module("domain_state", {"uri": URI, **args})
    assert result["failed"] is True and message in result["msg"]
    assert result["changed"] is False
    assert sorted(dom.name() for dom in host_a.listAllDomains()) == before


def test_batch_handles_every_domain(host_a, guest_name):
    names = [f"{guest_name[:40]}-{index}" for index in range(3)]
    try:
        for name in names:
            boot(host_a, host_a.defineXML(rig_env.guest_xml(name)))
        result = run_module("domain_state", {"uri": URI, "name": names, "state": "shutoff",
                                             "shutdown_mode": ["acpi"], "shutdown_timeout": 60})
        assert [domain["name"] for domain in result["domains"]] == names
        assert all(domain["state"] == "shutoff" and domain["actions"] == ["shutdown(acpi)"]
                   for domain in result["domains"])
        assert result["changed"] is True
    finally:
        for name in names:
            rig_env.cleanup_domain(host_a, name)


def test_absent_removes_a_domain_with_snapshots_checkpoints_and_managed_save(host_a, guest_name):
    dom = rig_env.define_guest(host_a, guest_name)
    rig_env.wait_agent(dom, timeout=90)
    dom.snapshotCreateXML("<domainsnapshot><name>virtops-keep</name></domainsnapshot>", 0)
    dom.checkpointCreateXML("<domaincheckpoint><name>virtops-cp</name></domaincheckpoint>", 0)
    dom.managedSave(0)

    refused = run_module("domain_state", {"uri": URI, "name": guest_name, "state": "absent", "remove": []})
    assert refused["failed"] is True and refused["changed"] is False
    assert "managed save image" in refused["msg"] and "snapshots" in refused["msg"] and "checkpoints" in refused["msg"]
    assert state_of(host_a, guest_name) == "saved", "nothing changed"

    predicted = run_module("domain_state", {"uri": URI, "name": guest_name, "state": "absent"}, check_mode=True)
    assert predicted["actions"] == ["undefine"] and state_of(host_a, guest_name) == "saved"
    removed = run_module("domain_state", {"uri": URI, "name": guest_name, "state": "absent"})
    assert removed["actions"] == ["undefine"] and removed["domain"]["state"] == "absent"
    # The default drops only metadata: the internal snapshot and the bitmap stay in the image. Say so.
    warnings = json.dumps(removed.get("warnings"))
    assert "only the metadata of 1 snapshot(s)" in warnings and "1 checkpoint(s)" in warnings
    assert lookup(host_a, guest_name) is None
    assert run_module("domain_state", {"uri": URI, "name": guest_name, "state": "absent"})["changed"] is False


# --- check mode predicts the real run; results of failures ---------------------------------------------


def test_a_guest_saved_while_paused_is_predicted_exactly_and_ends_running(host_a, guest_name):
    dom = host_a.defineXML(rig_env.guest_xml(guest_name))
    boot(host_a, dom)
    dom.suspend()
    dom.managedSave(0)
    args = {"uri": URI, "name": guest_name, "state": "running"}
    predicted = run_module("domain_state", args, check_mode=True)
    assert state_of(host_a, guest_name) == "saved", "check mode changed the domain"
    real = run_module("domain_state", args)
    assert predicted["actions"] == real["actions"] == [RESTORE, "resume"]
    assert state_of(host_a, guest_name) == "running"
    rig_env.wait_agent(dom, timeout=60)  # the restored guest runs on


def test_reset_of_a_paused_guest_is_predicted_and_leaves_it_running(host_a, guest_name):
    dom = host_a.defineXML(rig_env.guest_xml(guest_name))
    boot(host_a, dom)
    dom.suspend()
    args = {"uri": URI, "name": guest_name, "state": "reset"}
    predicted = run_module("domain_state", args, check_mode=True)
    since = rig_env.serial_log_size(guest_name)
    real = run_module("domain_state", args)
    assert predicted["actions"] == real["actions"] == ["reset", "resume"]
    assert state_of(host_a, guest_name) == "running"
    rig_env.wait_booted(dom, timeout=90, since=since)  # the reset guest boots again


def test_force_boot_of_a_saved_guest_boots_afresh_and_says_so(host_a, guest_name):
    dom = host_a.defineXML(rig_env.guest_xml(guest_name))
    boot(host_a, dom)
    dom.managedSave(0)
    result = run_module("domain_state", {"uri": URI, "name": guest_name, "state": "running", "force_boot": True})
    assert result["actions"] == ["start(force boot, managed save discarded)"]
    assert result["domain"]["reason"] == "booted" and result["domain"]["has_managed_save"] is False


def test_a_forced_shutdown_is_predicted_with_its_conditional_destroy(host_a, guest_name):
    dom = host_a.defineXML(rig_env.guest_xml(guest_name, acpi_shutdown=False, agent=False))
    since = rig_env.serial_log_size(guest_name)
    dom.create()
    rig_env.wait_booted(dom, timeout=90, since=since)
    args = {"uri": URI, "name": guest_name, "state": "shutoff", "force": True, "shutdown_mode": ["acpi"],
            "shutdown_timeout": 3}
    predicted = run_module("domain_state", args, check_mode=True)
    real = run_module("domain_state", args)
    assert predicted["actions"] == ["shutdown(acpi)"]
    assert predicted["domain"]["conditional_actions"] == ["destroy(after shutdown timeout)"]
    assert real["actions"] == predicted["actions"] + predicted["domain"]["conditional_actions"]


@pytest.mark.parametrize("acpi_shutdown", [True, False])
def test_rebooted_by_acpi_waits_for_the_reboot_or_fails_clearly(host_a, guest_name, acpi_shutdown):
    dom = host_a.defineXML(rig_env.guest_xml(guest_name, acpi_shutdown=acpi_shutdown))
    boot(host_a, dom)
    since = rig_env.serial_log_size(guest_name)
    result = run_module("domain_state", {"uri": URI, "name": guest_name, "state": "rebooted",
                                         "shutdown_mode": ["acpi"], "timeout": 30})
    if acpi_shutdown:
        assert not result.get("failed"), result.get("msg")
        assert result["actions"] == ["reboot(acpi)"]
        rig_env.wait_booted(dom, timeout=90, since=since)  # it really booted again
    else:
        assert result["failed"] is True and result["changed"] is False
        assert f"domain '{guest_name}' did not reboot within 30 s of reboot(acpi)" in result["msg"]
        assert isinstance(result["domain"], dict) and result["domain"]["state"] == "running"


def test_a_batch_with_a_mistyped_name_reports_what_changed(host_a, guest_name):
    boot(host_a, host_a.defineXML(rig_env.guest_xml(guest_name)))
    typo = f"{guest_name[:40]}-typo"
    result = run_module("domain_state", {"uri": URI, "name": [guest_name, typo], "state": "paused"})
    assert result["failed"] is True and result["changed"] is True
    first, second = result["domains"]
    assert (first["name"], first["changed"], first["actions"], first["error"]) == (guest_name, True, ["suspend"], None)
    assert (second["name"], second["changed"], second["actions"]) == (typo, False, [])
    assert f"domain '{typo}' does not exist" in second["error"]
    assert state_of(host_a, guest_name) == "paused"


def test_a_failed_single_domain_reports_the_domain_as_a_dict(host_a, guest_name):
    refused = f"<domain type='qemu'><name>{guest_name}</name><memory>131072</memory>" \
              "<os><type>bogus</type></os></domain>"
    result = run_module("domain_state", {"uri": URI, "xml": refused, "state": "running"})
    assert result["failed"] is True and result["changed"] is False and result["actions"] == []
    assert result["domain"]["name"] == guest_name and result["domain"]["state"] == "absent"
    assert result["domain"]["error"] == result["msg"] and result["domain_name"] == guest_name


def test_absent_with_remove_snapshots_and_checkpoints_deletes_their_data(host_a, guest_name):
    dom = rig_env.define_guest(host_a, guest_name)
    rig_env.wait_agent(dom, timeout=90)
    dom.checkpointCreateXML("<domaincheckpoint><name>virtops-cp</name></domaincheckpoint>", 0)
    dom.snapshotCreateXML("<domainsnapshot><name>virtops-int</name></domainsnapshot>", 0)
    image = rig_env.data_disk_path(guest_name)
    assert "virtops-int" in qemu_img("snapshot", "-U", "-l", image)
    args = {"uri": URI, "name": guest_name, "state": "absent", "remove": ["snapshots", "checkpoints"]}
    predicted = run_module("domain_state", args, check_mode=True)
    removed = run_module("domain_state", args)
    assert predicted["actions"] == removed["actions"] == [
        "delete checkpoint 'virtops-cp'", "delete snapshot 'virtops-int'", "undefine", "destroy"]
    assert not removed.get("warnings")
    assert lookup(host_a, guest_name) is None
    assert "virtops-int" not in qemu_img("snapshot", "-U", "-l", image)
    assert '"bitmaps"' not in qemu_img("info", "-U", "--output=json", image)


def qemu_img(*args):
    return subprocess.run(["qemu-img", *args], capture_output=True, text=True, check=True).stdout
