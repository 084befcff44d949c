"""Lifecycle planning (pure) and the lifecycle runner on libvirt's test driver."""

import itertools

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _lifecycle
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    BatchFailed,
    DomainNotFound,
    InvalidArgument,
    LibvirtCallError,
    VirtopsError,
    XmlError,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._lifecycle import (
    LifecycleOptions,
    plan_transition,
    resolve_targets,
    run_lifecycle,
    run_lifecycles,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._module import ChangeRecorder

STARTS = ["shutoff", "saved", "running", "paused", "pmsuspended", "crashed", "shutting_down"]
TARGETS = ["present", "running", "paused", "shutoff", "destroyed", "saved", "pmsuspended", "rebooted", "reset"]
# The state each step leaves the domain in, as the runner assumes it.
STEP_RESULTS = {
    "start": "running", "start_paused": "paused", "resume": "running", "suspend": "paused", "wakeup": "running",
    "shutdown": "shutoff", "destroy": "shutoff", "managed_save": "saved", "pm_suspend": "pmsuspended",
    "reboot": "running", "reset": "running", "wait_shutoff": "shutoff",
}
# Steps that need the domain in one of these states first.
STEP_NEEDS = {
    "start": {"shutoff", "saved"}, "start_paused": {"shutoff", "saved"}, "resume": {"paused"},
    "suspend": {"running"}, "wakeup": {"pmsuspended"}, "shutdown": {"running"},
    "destroy": {"running", "paused", "pmsuspended", "crashed", "shutting_down"},
    "managed_save": {"running", "paused"}, "pm_suspend": {"running"}, "reboot": {"running"},
    "reset": {"running", "paused", "pmsuspended"}, "wait_shutoff": {"shutting_down"},
}


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
def test_every_target_is_reachable_from_every_state_by_valid_steps(start, target):
    state = start
    for step in plan_transition(start, target):
        assert state in STEP_NEEDS[step], f"{step} cannot run in {state} ({start} -> {target})"
        state = STEP_RESULTS[step]
    if target == "present":
        assert state == start
    elif target in ("rebooted", "reset"):
        assert state == "running"
    elif target == "destroyed":
        assert state in ("shutoff", "saved")
    elif target == "shutoff":
        assert state in ("shutoff", "saved")
    else:
        assert state == target


@pytest.mark.parametrize("target", ["running", "paused", "shutoff", "saved", "pmsuspended"])
def test_reaching_the_state_you_are_in_needs_no_step(target):
    assert plan_transition(target, target) == []


@pytest.mark.parametrize("start", ["running", "paused", "shutoff"])
def test_actions_are_never_idempotent_for_active_domains(start):
    assert plan_transition(start, "rebooted") and plan_transition(start, "reset")


def test_effective_state_folds_libvirt_states():
    assert _lifecycle.effective_state("shutoff", True) == "saved"
    assert _lifecycle.effective_state("blocked", False) == "running"
    assert _lifecycle.effective_state("shutdown", False) == "shutting_down"


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
        resolve_targets(["web02"], None, options)
    assert resolve_targets(None, None, options) == [{"name": "web01", "uuid": None}]


def test_xml_without_a_name_is_refused():
    options = LifecycleOptions.from_params(params(xml="<domain type='test'/>"))
    with pytest.raises(InvalidArgument, match="xml has no <name> element"):
        resolve_targets(None, None, options)


def test_xml_with_a_list_of_names_is_refused():
    options = LifecycleOptions.from_params(params(xml="<domain><name>a</name></domain>"))
    with pytest.raises(InvalidArgument, match="single name"):
        resolve_targets(["a", "b"], None, options)


def test_a_target_is_required():
    with pytest.raises(InvalidArgument, match="one of name, uuid or xml is required"):
        resolve_targets(None, None, LifecycleOptions.from_params(params()))


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


@pytest.fixture
def fresh_name(connection, request):
    name = f"unit-{request.node.name[:40]}"
    yield name
    leftover = Domain.find(connection, name=name)
    if leftover is not None:
        if leftover.virdomain.isActive():
            leftover.virdomain.destroy()
        if leftover.virdomain.isPersistent():
            leftover.virdomain.undefine()


def apply(connection, name, check_mode=False, **overrides):
    recorder = ChangeRecorder(check_mode)
    result = run_lifecycle(connection, {"name": name, "uuid": None}, LifecycleOptions.from_params(params(**overrides)),
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
    original = Domain.call

    def refusing(self, operation, method, *args):
        if method == "undefineFlags":
            raise LibvirtCallError(f"domain '{self.name}': undefine failed: cannot remove nvram", domain=self.name)
        return original(self, operation, method, *args)

    monkeypatch.setattr(Domain, "call", refusing)
    with pytest.raises(LibvirtCallError, match="cannot remove nvram"):
        apply(connection, fresh_name, state="absent", remove=[])
    assert Domain.lookup(connection, name=fresh_name).state().state == "running"


def test_unknown_domain_for_a_state_that_needs_one(connection):
    with pytest.raises(InvalidArgument, match="domain 'ghost' does not exist; give xml to define it"):
        apply(connection, "ghost", state="running")


def test_unknown_uuid_is_reported(connection):
    recorder = ChangeRecorder(False)
    options = LifecycleOptions.from_params(params(state="absent"))
    result = run_lifecycle(connection, {"name": None, "uuid": "00000000-0000-0000-0000-00000000abcd"}, options, recorder)
    assert result["changed"] is False and result["state"] == "absent"
    with pytest.raises(DomainNotFound):
        Domain.lookup(connection, uuid="00000000-0000-0000-0000-00000000abcd")


def test_a_batch_reports_every_domain_and_every_failure(connection, fresh_name):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    targets = [{"name": fresh_name, "uuid": None}, {"name": "ghost", "uuid": None}]
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
    [only] = run_lifecycles(connection, [{"name": fresh_name, "uuid": None}], options, False, 8)
    assert (only["name"], only["changed"], only["actions"], only["error"]) == (fresh_name, True, ["suspend"], None)


def test_an_unexpected_exception_in_a_batch_worker_is_a_clear_failure(connection, fresh_name, monkeypatch):
    apply(connection, fresh_name, xml=TEST_XML.format(name=fresh_name, memory=128), state="running")
    original = _lifecycle.DomainLifecycle.run

    def broken(self):
        if self.name == "broken":
            raise KeyError("no such key")
        return original(self)

    monkeypatch.setattr(_lifecycle.DomainLifecycle, "run", broken)
    targets = [{"name": fresh_name, "uuid": None}, {"name": "broken", "uuid": None}]
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
        run_lifecycle(connection, {"name": fresh_name, "uuid": None}, options, recorder)
    assert recorder.changed is False and recorder.actions == []
    domain = raised.value.details()["domain"]
    assert domain["name"] == fresh_name and domain["state"] == "absent"
    assert domain["changed"] is False and domain["actions"] == [] and "define failed" in domain["error"]
