"""Lifecycle planning (pure) and the lifecycle runner on libvirt's test driver."""

import itertools
import threading
import time

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _lifecycle, _shutdown, _transitions
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    BatchFailed,
    DomainNotFound,
    InvalidArgument,
    LibvirtCallError,
    VirtopsError,
    WaitTimeout,
    XmlError,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._lifecycle import LifecycleOptions, run_lifecycle, run_lifecycles
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
from ansible_collections.virtops.libvirt.plugins.module_utils._targets import Target, resolve_targets
from ansible_collections.virtops.libvirt.plugins.module_utils._transitions import effective_state, plan_transition

STARTS = ["shutoff", "saved", "running", "paused", "pmsuspended", "crashed", "shutting_down"]
TARGETS = ["present", "running", "paused", "shutoff", "destroyed", "saved", "pmsuspended", "rebooted", "reset"]

# Written by hand from libvirt's semantics, not from the runner's table: what each start state needs to
# reach each target. "saved" is shut off with a managed save image; "restore" restores it with the
# vCPUs paused (VIR_DOMAIN_START_PAUSED), so whether it was saved running or paused no longer matters
# and a "resume" always follows for running targets. QEMU keeps a paused guest paused across a reset,
# and a reset of a PM-suspended guest wakes it without libvirt noticing: wake it first.
_OFF_TO_RUNNING = {"shutoff": ["start"], "saved": ["restore", "resume"], "crashed": ["destroy", "start"],
                   "shutting_down": ["wait_shutoff", "start"]}
EXPECTED_PLANS = {
    "running": {**_OFF_TO_RUNNING, "running": [], "paused": ["resume"], "pmsuspended": ["wakeup"]},
    "paused": {"shutoff": ["start_paused"], "saved": ["restore"], "running": ["suspend"], "paused": [],
               "pmsuspended": ["wakeup", "suspend"], "crashed": ["destroy", "start_paused"],
               "shutting_down": ["wait_shutoff", "start_paused"]},
    "shutoff": {"shutoff": [], "saved": [], "running": ["shutdown"], "paused": ["resume", "shutdown"],
                "pmsuspended": ["wakeup", "shutdown"], "crashed": ["destroy"], "shutting_down": ["wait_shutoff"]},
    "destroyed": {"shutoff": [], "saved": [], "running": ["destroy"], "paused": ["destroy"],
                  "pmsuspended": ["destroy"], "crashed": ["destroy"], "shutting_down": ["destroy"]},
    "saved": {"shutoff": ["start", "managed_save"], "saved": [], "running": ["managed_save"],
              "paused": ["managed_save"], "pmsuspended": ["wakeup", "managed_save"],
              "crashed": ["destroy", "start", "managed_save"], "shutting_down": ["wait_shutoff", "start", "managed_save"]},
    "pmsuspended": {"shutoff": ["start", "pm_suspend"], "saved": ["restore", "resume", "pm_suspend"],
                    "running": ["pm_suspend"], "paused": ["resume", "pm_suspend"], "pmsuspended": [],
                    "crashed": ["destroy", "start", "pm_suspend"],
                    "shutting_down": ["wait_shutoff", "start", "pm_suspend"]},
    "rebooted": {**_OFF_TO_RUNNING, "running": ["reboot"], "paused": ["resume", "reboot"],
                 "pmsuspended": ["wakeup", "reboot"]},
    "reset": {**_OFF_TO_RUNNING, "running": ["reset"], "paused": ["reset", "resume"],
              "pmsuspended": ["wakeup", "reset"]},
}
# pm_target=disk: the guest hibernates and powers off, which libvirt cannot tell from a shutdown, so
# any powered-off domain has reached it (see the pm_target documentation).
EXPECTED_DISK_PLANS = {"shutoff": [], "saved": [], "running": ["pm_suspend"], "paused": ["resume", "pm_suspend"],
                       "pmsuspended": [], "crashed": ["destroy"], "shutting_down": ["wait_shutoff"]}


def params(**overrides):
    base = {
        "state": "present", "xml": None, "restart_on_change": False, "autostart": None, "shutdown_mode": None,
        "shutdown_timeout": 120, "force": False, "start_paused": False, "force_boot": False, "bypass_cache": False,
        "reset_nvram": False, "pm_target": "mem", "remove": None, "on_poweroff": None, "on_reboot": None,
        "on_crash": None, "title": None, "description": None, "wait": True, "timeout": 60,
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize("start, target", list(itertools.product(STARTS, TARGETS)))
def test_every_plan_is_the_one_written_by_hand(start, target):
    expected = [] if target == "present" else EXPECTED_PLANS[target][start]
    assert plan_transition(start, target) == expected


@pytest.mark.parametrize("start", STARTS)
def test_pmsuspended_with_disk_is_reached_by_any_powered_off_domain(start):
    assert plan_transition(start, "pmsuspended", pm_target="disk") == EXPECTED_DISK_PLANS[start]


@pytest.mark.parametrize("target", ["running", "paused", "rebooted", "reset", "pmsuspended"])
def test_force_boot_from_a_saved_domain_boots_afresh_instead_of_restoring(target):
    assert plan_transition("saved", target, force_boot=True) == EXPECTED_PLANS[target]["shutoff"]


@pytest.mark.parametrize("target", ["running", "paused", "shutoff", "saved", "pmsuspended"])
def test_reaching_the_state_you_are_in_needs_no_step(target):
    assert plan_transition(target, target) == []


@pytest.mark.parametrize("start", ["running", "paused", "shutoff"])
def test_actions_are_never_idempotent_for_active_domains(start):
    assert plan_transition(start, "rebooted") and plan_transition(start, "reset")


def test_effective_state_folds_libvirt_states():
    assert effective_state("shutoff", True) == "saved"
    assert effective_state("blocked", False) == "running"
    assert effective_state("shutdown", False) == "shutting_down"


# --- options and targets ---------------------------------------------------------------------------


def test_shutdown_is_a_synonym_of_shutoff():
    assert LifecycleOptions.from_params(params(state="shutdown")).state == "shutoff"


@pytest.mark.parametrize("option", ["timeout", "shutdown_timeout"])
def test_negative_timeouts_are_refused_by_name(option):
    with pytest.raises(InvalidArgument, match=f"^{option} must not be negative"):
        LifecycleOptions.from_params(params(**{option: -1}))


def test_start_paused_with_running_is_refused():
    with pytest.raises(InvalidArgument, match="start_paused conflicts with state=running"):
        LifecycleOptions.from_params(params(state="running", start_paused=True))


def test_malformed_xml_is_refused_before_connecting():
    with pytest.raises(XmlError, match="not well-formed"):
        LifecycleOptions.from_params(params(xml="<domain><name>x</domain>"))


def test_xml_of_another_kind_is_refused():
    with pytest.raises(InvalidArgument, match="must be a <domain> definition, not <network>"):
        LifecycleOptions.from_params(params(xml="<network><name>x</name></network>"))


def test_xml_name_must_match_name():
    options = LifecycleOptions.from_params(params(xml="<domain><name>web01</name></domain>"))
    with pytest.raises(InvalidArgument, match="xml defines domain 'web01' but name is 'web02'"):
        resolve_targets(["web02"], None, options.template)
    assert resolve_targets(None, None, options.template) == [Target("web01", None)]


def test_xml_without_a_name_is_refused():
    options = LifecycleOptions.from_params(params(xml="<domain type='test'/>"))
    with pytest.raises(InvalidArgument, match="xml has no <name> element"):
        resolve_targets(None, None, options.template)


def test_xml_with_a_list_of_names_is_refused():
    options = LifecycleOptions.from_params(params(xml="<domain><name>a</name></domain>"))
    with pytest.raises(InvalidArgument, match="single name"):
        resolve_targets(["a", "b"], None, options.template)


def test_a_target_is_required():
    with pytest.raises(InvalidArgument, match="one of name, uuid or xml is required"):
        resolve_targets(None, None, LifecycleOptions.from_params(params()).template)


# --- the runner on the test driver -----------------------------------------------------------------

TEST_XML = """<domain type='test'>
  <name>{name}</name>
  <memory unit='MiB'>{memory}</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
  <devices><interface type='user'/></devices>
</domain>"""


@pytest.fixture
def connection():
    with Connection(ConnectionParams(uri="test:///default")) as opened:
        yield opened


def remove_leftover(connection, name):
    """What a test left on the test driver goes (it lives as long as the process)."""
    leftover = Domain.find(connection, name=name)
    if leftover is not None:
        if leftover.virdomain.isActive():
            leftover.virdomain.destroy()
        if leftover.virdomain.isPersistent():
            leftover.virdomain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                                             | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)


@pytest.fixture
def fresh_name(connection, request):
    name = f"unit-{request.node.name[:40]}"
    yield name
    remove_leftover(connection, name)


def apply(connection, name, check_mode=False, **overrides):
    recorder = ChangeRecorder(check_mode)
    result = run_lifecycle(connection, Target(name, None), LifecycleOptions.from_params(params(**overrides)),
                           recorder)
    return result


def test_define_then_reapply_is_unchanged_and_keeps_the_mac(connection, fresh_name):
    xml = TEST_XML.format(name=fresh_name, memory=128)
    first = apply(connection, fresh_name, xml=xml, state="running")
    assert first["actions"] == ["define", "start"] and first["state"] == "running"
    mac = Domain.lookup(connection, name=fresh_name).xml_desc(0).split("mac address='")[1][:17]
    second = apply(connection, fresh_name, xml=xml, state="running")
    assert second["changed"] is False and second["actions"] == [] and second["definition_changes"] == []
    changed = apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=256), state="running")
    assert changed["actions"] == ["update definition"]
    assert changed["definition_changes"] == ["/domain/memory: '131072 KiB' -> '256 MiB'"]
    assert changed["diff"]["before"]["definition"] != changed["diff"]["after"]["definition"]
    assert mac in Domain.lookup(connection, name=fresh_name).xml_desc(0), "the MAC address was kept"


def test_check_mode_predicts_and_changes_nothing(connection, fresh_name):
    xml = TEST_XML.format(name=fresh_name, memory=128)
    predicted = apply(connection, fresh_name, check_mode=True, xml=xml, state="running", autostart=True)
    assert predicted["actions"] == ["define", "autostart(on)", "start"] and predicted["changed"] is True
    assert Domain.find(connection, name=fresh_name) is None
    real = apply(connection, fresh_name, xml=xml, state="running", autostart=True)
    assert real["actions"] == predicted["actions"] and real["state"] == "running"
    predicted = apply(connection, fresh_name, check_mode=True, state="paused")
    assert predicted["actions"] == ["suspend"] and predicted["diff"]["after"]["state"] == "paused"
    assert Domain.lookup(connection, name=fresh_name).state().state == "running"


def test_transitions_on_the_test_driver(connection, fresh_name):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    assert apply(connection, fresh_name, state="paused")["actions"] == ["suspend"]
    assert apply(connection, fresh_name, state="shutoff")["actions"] == ["resume", "shutdown"]
    assert apply(connection, fresh_name, state="shutoff")["changed"] is False
    assert apply(connection, fresh_name, state="destroyed")["changed"] is False
    assert apply(connection, fresh_name, state="running")["state"] == "running"
    assert apply(connection, fresh_name, state="destroyed")["actions"] == ["destroy"]


def test_a_forced_shutdown_plans_the_destroy_as_a_conditional_step(connection, fresh_name):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    predicted = apply(connection, fresh_name, check_mode=True, state="shutoff", force=True)
    assert predicted["actions"] == ["shutdown"]
    assert predicted["conditional_actions"] == ["destroy(after shutdown timeout)"]
    real = apply(connection, fresh_name, state="shutoff", force=True)  # the test driver shuts down at once
    assert real["actions"] == ["shutdown"] and real["conditional_actions"] == predicted["conditional_actions"]
    assert apply(connection, fresh_name, state="running")["conditional_actions"] == []


def test_a_reboot_the_guest_ignores_fails_clearly_and_is_no_change(connection, fresh_name, monkeypatch):
    # The test driver sends no reboot event, like a guest that ignores the request on QEMU.
    monkeypatch.setattr(_transitions, "REBOOT_EVENT_DRIVERS", frozenset({"TEST"}))
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    recorder = ChangeRecorder(False)
    options = LifecycleOptions.from_params(params(state="rebooted", shutdown_mode=["acpi"], timeout=0.5))
    with pytest.raises(WaitTimeout, match=f"domain '{fresh_name}' did not reboot within 0.5 s of reboot\\(acpi\\)"):
        run_lifecycle(connection, Target(fresh_name, None), options, recorder)
    assert recorder.changed is False


# Client-side getters of libvirt-python: no RPC, nothing to translate (virDomainGetID returns the id the
# handle got at lookup).
LOCAL_GETTERS = {"name", "UUIDString", "UUID", "ID", "connect", "c_pointer"}


def test_every_virdomain_call_of_the_lifecycle_goes_through_the_error_layer(connection, fresh_name, monkeypatch):
    calls = threading.local()
    outside = []
    original_call = Connection.invoke

    def counting_call(self, *args, **kwargs):
        calls.depth = getattr(calls, "depth", 0) + 1
        try:
            return original_call(self, *args, **kwargs)
        finally:
            calls.depth -= 1

    monkeypatch.setattr(Connection, "invoke", counting_call)
    for name in dir(libvirt.virDomain):
        method = getattr(libvirt.virDomain, name)
        if name.startswith("_") or name in LOCAL_GETTERS or not callable(method):
            continue

        def checked(self, *args, _method=method, _name=name, **kwargs):
            if not getattr(calls, "depth", 0):
                outside.append(_name)
            return _method(self, *args, **kwargs)

        monkeypatch.setattr(libvirt.virDomain, name, checked)
    xml = TEST_XML.format(name=fresh_name, memory=128)
    for state in ("running", "paused", "reset", "rebooted", "shutoff", "running", "saved", "destroyed", "absent"):
        apply(connection, fresh_name, xml=xml if state != "absent" else None, state=state, title="t", autostart=True,
              remove=["managed_save", "snapshots_metadata"])
    assert outside == [], "virDomain methods called without the error translation"


def test_metadata_is_set_once(connection, fresh_name):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128))
    first = apply(connection, fresh_name, title="Web server", description="Serves the shop", autostart=True)
    assert first["actions"] == ["autostart(on)", "set title", "set description"]
    again = apply(connection, fresh_name, title="Web server", description="Serves the shop", autostart=True)
    assert again["changed"] is False
    assert first["autostart"] is True


def test_absent_is_idempotent(connection, fresh_name):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    gone = apply(connection, fresh_name, state="absent", remove=[])
    # Undefined first (the running domain becomes transient), then powered off: see the next test.
    assert gone["actions"] == ["undefine", "destroy"] and gone["state"] == "absent"
    assert Domain.find(connection, name=fresh_name) is None
    assert apply(connection, fresh_name, state="absent")["changed"] is False


def test_absent_whose_undefine_fails_leaves_the_guest_running(connection, fresh_name, monkeypatch):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")

    def refusing(self, _flags):
        raise LibvirtCallError(f"domain '{self.name}': undefine failed: cannot remove nvram", domain=self.name)

    monkeypatch.setattr(Domain, "undefine_flags", refusing)
    with pytest.raises(LibvirtCallError, match="cannot remove nvram"):
        apply(connection, fresh_name, state="absent", remove=[])
    assert Domain.lookup(connection, name=fresh_name).state().state == "running"


def remove_with_a_recorder(connection, name, check_mode=False, **overrides):
    recorder = ChangeRecorder(check_mode)
    options = LifecycleOptions.from_params(params(state="absent", **overrides))
    result = run_lifecycle(connection, Target(name, None), options, recorder)
    return result, recorder


def test_absent_removing_only_snapshot_metadata_warns_that_their_data_stays(connection, fresh_name):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128))
    Domain.lookup(connection, name=fresh_name).virdomain.snapshotCreateXML(
        "<domainsnapshot><name>s1</name></domainsnapshot>", 0)
    result, recorder = remove_with_a_recorder(connection, fresh_name, remove=["managed_save", "snapshots_metadata"])
    assert result["actions"] == ["undefine"]
    assert len(recorder.warnings) == 1
    assert f"domain '{fresh_name}'" in recorder.warnings[0] and "1 snapshot" in recorder.warnings[0]
    assert "remove: [snapshots]" in recorder.warnings[0]


def test_absent_without_snapshots_does_not_warn(connection, fresh_name):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128))
    _result, recorder = remove_with_a_recorder(connection, fresh_name, remove=["managed_save", "snapshots_metadata"])
    assert recorder.warnings == []


def test_absent_with_remove_snapshots_deletes_them_with_their_data_first(connection, fresh_name):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    virdomain = Domain.lookup(connection, name=fresh_name).virdomain
    virdomain.snapshotCreateXML("<domainsnapshot><name>s1</name></domainsnapshot>", 0)
    virdomain.snapshotCreateXML("<domainsnapshot><name>s2</name></domainsnapshot>", 0)
    predicted = remove_with_a_recorder(connection, fresh_name, check_mode=True, remove=["snapshots"])[0]
    assert virdomain.snapshotNum(0) == 2, "check mode deleted a snapshot"
    real, recorder = remove_with_a_recorder(connection, fresh_name, remove=["snapshots"])
    assert real["actions"] == predicted["actions"] == [
        "delete snapshot 's2'", "delete snapshot 's1'", "undefine", "destroy"]
    assert recorder.warnings == [] and Domain.find(connection, name=fresh_name) is None


def test_unknown_domain_for_a_state_that_needs_one(connection):
    with pytest.raises(InvalidArgument, match="domain 'ghost' does not exist; give xml to define it"):
        apply(connection, "ghost", state="running")


def test_a_missing_name_with_a_comma_hints_at_the_list_syntax(connection):
    with pytest.raises(InvalidArgument, match="domain 'web01,web02' does not exist.*a list of names is a YAML or JSON"):
        apply(connection, "web01,web02", state="running")


def test_unknown_uuid_is_reported(connection):
    recorder = ChangeRecorder(False)
    options = LifecycleOptions.from_params(params(state="absent"))
    result = run_lifecycle(connection, Target(None, "00000000-0000-0000-0000-00000000abcd"), options, recorder)
    assert result["changed"] is False and result["state"] == "absent"
    with pytest.raises(DomainNotFound):
        Domain.lookup(connection, uuid="00000000-0000-0000-0000-00000000abcd")


def test_a_batch_reports_every_domain_and_every_failure(connection, fresh_name):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    targets = [Target(fresh_name, None), Target("ghost", None)]
    options = LifecycleOptions.from_params(params(state="paused"))
    with pytest.raises(BatchFailed, match="1 of 2 domains failed: ghost: domain 'ghost' does not exist") as raised:
        run_lifecycles(connection, targets, options, False, 8)
    first, second = raised.value.details()["domains"]
    assert first["state"] == "paused" and first["actions"] == ["suspend"]
    assert first["name"] == fresh_name and first["changed"] is True and first["error"] is None
    assert second["failed"] is True and second["name"] == "ghost"
    assert second["changed"] is False and second["actions"] == []
    assert second["error"].startswith("domain 'ghost' does not exist")
    assert raised.value.changed is True, "the first domain was paused: the task changed something"


def test_a_successful_batch_reports_name_changed_actions_and_error(connection, fresh_name):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    options = LifecycleOptions.from_params(params(state="paused"))
    [only] = run_lifecycles(connection, [Target(fresh_name, None)], options, False, 8)
    assert (only["name"], only["changed"], only["actions"], only["error"]) == (fresh_name, True, ["suspend"], None)


def test_an_unexpected_exception_in_a_batch_worker_is_a_clear_failure(connection, fresh_name, monkeypatch):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    original = _lifecycle.DomainLifecycle.run

    def broken(self):
        if self.target.name == "broken":
            raise KeyError("no such key")
        return original(self)

    monkeypatch.setattr(_lifecycle.DomainLifecycle, "run", broken)
    targets = [Target(fresh_name, None), Target("broken", None)]
    options = LifecycleOptions.from_params(params(state="paused"))
    with pytest.raises(BatchFailed, match="broken: unexpected error: KeyError: 'no such key'") as raised:
        run_lifecycles(connection, targets, options, False, 8)
    first, second = raised.value.results
    assert first["actions"] == ["suspend"] and second["failed"] is True


def test_a_define_libvirt_refused_is_no_change_and_the_failure_has_the_domain_dict(connection, fresh_name):
    refused = "<domain type='test'><name>{}</name><memory>131072</memory><os><type>bogus</type></os></domain>"
    recorder = ChangeRecorder(False)
    options = LifecycleOptions.from_params(params(xml=refused.format(fresh_name), state="running"))
    with pytest.raises(VirtopsError, match="define failed") as raised:
        run_lifecycle(connection, Target(fresh_name, None), options, recorder)
    assert recorder.changed is False and recorder.actions == []
    domain = raised.value.details()["domain"]
    assert domain["name"] == fresh_name and domain["state"] == "absent"
    assert domain["changed"] is False and domain["actions"] == [] and "define failed" in domain["error"]


# --- plans as data: check mode and the real run on the test driver ------------------------------------

DRIVER_STARTS = ["absent", "shutoff", "running", "paused", "saved"]
DRIVER_TARGETS = ["present", "running", "paused", "shutoff", "destroyed", "saved", "rebooted", "reset", "absent",
                  "pmsuspended"]
# The test driver rejects VIR_DOMAIN_START_PAUSED and has no guest agent for a PM suspend: plans with
# these steps run on the rig (tests/integration/test_domain_state.py::test_transition).
NOT_ON_THE_TEST_DRIVER = {"start_paused", "restore", "pm_suspend"}


def hand_written_plan(start, target):
    if target == "absent":  # undefined first, so a refused undefine leaves the guest running
        return {"absent": [], "shutoff": ["undefine"], "saved": ["undefine"]}.get(start, ["undefine", "destroy"])
    plans = EXPECTED_DISK_PLANS if target == "pmsuspended" else EXPECTED_PLANS.get(target, {})
    return plans.get("shutoff" if start == "absent" else start, [])


def hand_written_final(start, target):
    if target == "present":
        return "shutoff" if start == "absent" else start
    if target in ("shutoff", "destroyed", "pmsuspended"):  # pmsuspended with pm_target=disk: powered off
        return "saved" if start == "saved" else "shutoff"
    return {"rebooted": "running", "reset": "running"}.get(target, target)


def driver_cases():
    for start, target in itertools.product(DRIVER_STARTS, DRIVER_TARGETS):
        if not NOT_ON_THE_TEST_DRIVER & set(hand_written_plan(start, target)):
            yield start, target


@pytest.fixture
def driver_domain(connection):
    name = "unit-plans-as-data"
    yield name
    remove_leftover(connection, name)


def bring_to(connection, name, state):
    """The start state, made with libvirt calls of its own (not the runner)."""
    if state == "absent":
        return
    virdomain = connection.conn.defineXML(TEST_XML.format(name=name, memory=128))
    if state == "shutoff":
        return
    virdomain.create()
    if state == "paused":
        virdomain.suspend()
    elif state == "saved":
        virdomain.managedSave(0)


def observed(connection, name):
    domain = Domain.find(connection, name=name)
    if domain is None:
        return "absent"
    return effective_state(domain.state().state, domain.has_managed_save())


def run_case(connection, name, target, check_mode):
    options = LifecycleOptions.from_params(params(xml=TEST_XML.format(name=name, memory=128), state=target,
                                                  pm_target="disk", remove=["managed_save", "snapshots_metadata"]))
    lifecycle = _lifecycle.DomainLifecycle(connection, Target(name, None), options, ChangeRecorder(check_mode))
    result = lifecycle.run()
    return result, lifecycle.predicted_state


@pytest.mark.parametrize("start, target", list(driver_cases()))
def test_check_mode_and_the_real_run_share_one_plan(connection, driver_domain, start, target):
    bring_to(connection, driver_domain, start)
    predicted, predicted_state = run_case(connection, driver_domain, target, check_mode=True)
    assert observed(connection, driver_domain) == start, "check mode changed the domain"
    real, real_state = run_case(connection, driver_domain, target, check_mode=False)
    assert real["actions"] == predicted["actions"]
    assert real["conditional_actions"] == predicted["conditional_actions"]
    assert observed(connection, driver_domain) == real_state == predicted_state == hand_written_final(start, target)
    steps = [action.split("(")[0] for action in real["actions"] if action not in ("define", "update definition")]
    assert steps == [{"pm_wakeup": "wakeup"}.get(step, step) for step in hand_written_plan(start, target)]


# --- graceful shutdown: repeated requests, then force or fail -----------------------------------------


def ignore_shutdown_requests(monkeypatch, honoured_from):
    """The guest ignores shutdown requests until the `honoured_from`-th one (never with 0); the calls seen."""
    calls = []
    original = Domain.shutdown_flags

    def shutdown_flags(self, flags, operation="shutdown"):
        calls.append(operation)
        if honoured_from and len(calls) >= honoured_from:
            original(self, flags, operation)

    monkeypatch.setattr(Domain, "shutdown_flags", shutdown_flags)
    return calls


def test_a_missed_shutdown_request_is_repeated_within_the_one_wait(connection, fresh_name, monkeypatch):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    monkeypatch.setattr(_shutdown, "SHUTDOWN_RETRY_INTERVAL", 0.2)
    calls = ignore_shutdown_requests(monkeypatch, honoured_from=2)
    result = apply(connection, fresh_name, state="shutoff", shutdown_timeout=5)
    assert calls == ["shutdown", "shutdown (repeated)"]
    assert result["actions"] == ["shutdown"] and result["state"] == "shutoff"


def test_an_ignored_shutdown_with_force_powers_off_after_the_timeout(connection, fresh_name, monkeypatch):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    monkeypatch.setattr(_shutdown, "SHUTDOWN_RETRY_INTERVAL", 0.2)
    calls = ignore_shutdown_requests(monkeypatch, honoured_from=0)
    result = apply(connection, fresh_name, state="shutoff", shutdown_timeout=0.7, force=True)
    assert result["actions"] == ["shutdown", "destroy(after shutdown timeout)"] and result["state"] == "shutoff"
    assert len(calls) >= 2 and set(calls[1:]) == {"shutdown (repeated)"}


def test_an_ignored_shutdown_without_force_fails_and_leaves_the_guest_running(connection, fresh_name, monkeypatch):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    ignore_shutdown_requests(monkeypatch, honoured_from=0)
    recorder = ChangeRecorder(False)
    options = LifecycleOptions.from_params(params(state="shutoff", shutdown_timeout=0.3))
    with pytest.raises(WaitTimeout, match=f"domain '{fresh_name}' did not shut down within shutdown_timeout=0.3 s "
                                          "and was left running; set force=true"):
        run_lifecycle(connection, Target(fresh_name, None), options, recorder)
    assert recorder.actions == ["shutdown"]
    assert Domain.lookup(connection, name=fresh_name).state().state == "running"


def test_an_agent_shutdown_request_that_never_returns_is_followed_by_acpi(connection, fresh_name, monkeypatch):
    """libvirt 9.0 can hold an agent shutdown request until a stopped agent resumes, whatever the agent timeout
    says: after the bound the task presses the ACPI button itself when the modes allow it, and the wait goes on."""
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    monkeypatch.setattr(_shutdown, "DEFAULT_CALL_TIMEOUT", 0.3)
    agent_stopped, calls, original = threading.Event(), [], Domain.shutdown_flags

    def shutdown_flags(self, flags, operation="shutdown"):
        calls.append(operation)
        if flags & libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT:
            agent_stopped.wait(30)  # the stopped agent
        else:
            assert flags == libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN
            original(self, 0, operation)  # the test driver takes no mode flags

    monkeypatch.setattr(Domain, "shutdown_flags", shutdown_flags)
    started = time.monotonic()
    try:
        result = apply(connection, fresh_name, state="shutoff", shutdown_mode=["agent", "acpi"], shutdown_timeout=10)
    finally:
        agent_stopped.set()
    assert result["actions"] == ["shutdown(agent,acpi)"] and result["state"] == "shutoff"
    assert calls == ["shutdown", "shutdown (ACPI: the guest agent did not answer within 0.3 s)"]
    assert time.monotonic() - started < 5


def test_an_agent_only_shutdown_request_that_never_returns_is_not_followed_by_acpi(connection, fresh_name, monkeypatch):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    monkeypatch.setattr(_shutdown, "DEFAULT_CALL_TIMEOUT", 0.2)
    agent_stopped, calls = threading.Event(), []
    monkeypatch.setattr(Domain, "shutdown_flags",
                        lambda self, flags, operation="shutdown": calls.append(operation) or agent_stopped.wait(30))
    started = time.monotonic()
    try:
        with pytest.raises(WaitTimeout, match="did not shut down within shutdown_timeout=1 s"):
            run_lifecycle(connection, Target(fresh_name, None), LifecycleOptions.from_params(
                params(state="shutoff", shutdown_mode=["agent"], shutdown_timeout=1)), ChangeRecorder(False))
    finally:
        agent_stopped.set()
    assert calls == ["shutdown"] and time.monotonic() - started < 5


def test_a_resume_refused_because_the_domain_already_runs_reaches_the_state(connection, fresh_name, monkeypatch):
    """Seen paused while another client's start was still booting QEMU, the domain runs by the time the resume
    arrives: libvirt refuses it ("domain is already running"), which is the state the step wanted."""
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    Domain.lookup(connection, name=fresh_name).suspend()
    original = Domain.resume

    def resumed_by_another_client_first(self):
        original(self)
        raise LibvirtCallError("resume failed: Requested operation is not valid: domain is already running",
                               code=libvirt.VIR_ERR_OPERATION_INVALID, domain=self.name, operation="resume")

    monkeypatch.setattr(Domain, "resume", resumed_by_another_client_first)
    result = apply(connection, fresh_name, state="running")
    assert result["actions"] == ["resume"] and result["state"] == "running"


def test_removal_is_planned_before_the_first_change(connection, fresh_name):
    """A refusal (a managed save image not to remove) comes before any step, in check mode too."""
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="saved")
    for check_mode in (True, False):
        recorder = ChangeRecorder(check_mode)
        with pytest.raises(InvalidArgument, match="a managed save image"):
            run_lifecycle(connection, Target(fresh_name, None),
                          LifecycleOptions.from_params(params(state="absent", remove=["snapshots_metadata"])), recorder)
        assert recorder.actions == []
    lifecycle = _lifecycle.DomainLifecycle(connection, Target(fresh_name, None), LifecycleOptions.from_params(
        params(state="absent")), ChangeRecorder(True))
    lifecycle.context.domain = Domain.lookup(connection, name=fresh_name)
    lifecycle.context.predicted_state = "saved"
    assert [step.action for step in lifecycle.removal.plan()] == ["undefine"]
