"""Snapshot options, XML plans and the snapshot/checkpoint runners on libvirt's test driver."""

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    InvalidArgument,
    LibvirtCallError,
    UnsupportedOperation,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._agent import FREEZE_TIMEOUT
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
from ansible_collections.virtops.libvirt.plugins.module_utils._checkpoint import CheckpointRunner, checkpoint_xml
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot import (
    SnapshotRunner,
    remove_all_snapshots_and_checkpoints,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_calls import SnapshotCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_plan import (
    SnapshotOptions,
    SnapshotPlanner,
    deletion_steps,
    snapshot_plan,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_facts import list_snapshots
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_facts import sorted_oldest_first as _sorted_oldest_first


def options(**overrides):
    base = {"snapshot": "s1", "state": "present"}
    base.update(overrides)
    return SnapshotOptions.from_params(base)


@pytest.fixture
def domain():
    with Connection(ConnectionParams(uri="test:///default"), events=False) as connection:
        found = Domain.lookup(connection, name="test")
        forget_all(found)  # test:///default lives as long as any connection of this process
        yield found
        forget_all(found)


def forget_all(domain):
    for snapshot in domain.virdomain.listAllSnapshots(0):
        snapshot.delete(0)  # the test driver knows no METADATA_ONLY
    for checkpoint in domain.virdomain.listAllCheckpoints(0):
        checkpoint.delete(0)
    if domain.virdomain.state()[0] != libvirt.VIR_DOMAIN_RUNNING:
        domain.virdomain.resume()


def run(domain, check_mode=False, **overrides):
    recorder = ChangeRecorder(check_mode)
    result = SnapshotRunner(domain, recorder).run(options(**overrides))
    return recorder, result


def names(domain):
    return [snapshot["name"] for snapshot in list_snapshots(domain)]


# --- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, message", [
    ({"retain": 3}, "retain needs a prefix"),
    ({"retain": -1, "prefix": "x"}, "must not be negative"),
    ({"snapshot": None}, "snapshot (a name) is required"),
    ({"children": True, "children_only": True}, "mutually exclusive"),
    ({"memory_file": "/tmp/m"}, "memory_file needs location=external"),
    ({"retain": 2, "prefix": "daily-"}, "does not start with prefix"),
    ({"retain": 2, "prefix": "s", "state": "absent"}, "retain works with state=present"),
    ({"disks": [{"target": "vda", "file": "/tmp/o"}]}, "needs an external snapshot"),
])
def test_bad_options_are_refused_by_name(overrides, message):
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        options(**overrides)


# --- plans ---------------------------------------------------------------------------------------


def test_internal_snapshot_of_a_running_domain_keeps_its_memory(domain):
    xml, flags = snapshot_plan(domain, options(description="d"), active=True)
    root = _xml.parse(xml)
    assert root.find("memory").get("snapshot") == "internal"
    assert root.find("disks/disk").attrib == {"name": "vda", "snapshot": "internal"}
    assert _xml.element_text(root, "description") == "d"
    assert flags == 0


def test_external_disk_only_plan_sets_disk_only_and_files(domain):
    xml, flags = snapshot_plan(domain, options(location="external", memory=False,
                                               disks=[{"target": "vda", "file": "/img/o.qcow2"}]), active=True)
    root = _xml.parse(xml)
    assert root.find("memory").get("snapshot") == "no"
    assert root.find("disks/disk/source").get("file") == "/img/o.qcow2"
    assert flags & libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY


def test_external_with_memory_needs_a_memory_file(domain):
    with pytest.raises(InvalidArgument, match="needs memory_file"):
        snapshot_plan(domain, options(location="external"), active=True)
    xml, flags = snapshot_plan(domain, options(location="external", memory_file="/m", live=True), active=True)
    assert _xml.parse(xml).find("memory").attrib == {"snapshot": "external", "file": "/m"}
    assert flags & libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_LIVE and not flags & libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY


def test_internal_disk_only_of_a_running_domain_is_unsupported(domain):
    with pytest.raises(UnsupportedOperation, match="internal disk-only snapshot of a running domain"):
        snapshot_plan(domain, options(memory=False), active=True)
    _xml_text, flags = snapshot_plan(domain, options(memory=False), active=False)
    assert flags == 0


def test_unknown_disk_and_no_disk_at_all_are_refused(domain):
    with pytest.raises(InvalidArgument, match="has no disk 'vdz' \\(its disks: vda\\)"):
        snapshot_plan(domain, options(disks=[{"target": "vdz"}]), active=True)
    with pytest.raises(InvalidArgument, match="no disk is chosen"):
        snapshot_plan(domain, options(disks=[{"target": "vda", "snapshot": "no"}]), active=True)


def test_oldest_first_breaks_equal_times_by_depth():
    snapshots = [
        {"name": "a-child", "parent": "z-root", "creation_time": 5},
        {"name": "z-root", "parent": None, "creation_time": 5},
        {"name": "later", "parent": "a-child", "creation_time": 9},
    ]
    assert [item["name"] for item in _sorted_oldest_first(snapshots)] == ["z-root", "a-child", "later"]


def test_checkpoint_xml_tracks_chosen_disks(domain):
    root = _xml.parse(checkpoint_xml(domain, "cp", ["vda"], "nightly"))
    assert root.find("disks/disk").attrib == {"name": "vda", "checkpoint": "bitmap"}
    with pytest.raises(InvalidArgument, match="no disk 'sdq'"):
        checkpoint_xml(domain, "cp", ["sdq"])


# --- the runner on the test driver ---------------------------------------------------------------


def test_check_mode_predicts_creation_and_changes_nothing(domain):
    recorder, result = run(domain, check_mode=True)
    assert recorder.actions == ["create snapshot 's1'"]
    assert result["diff"] == {"before": {"snapshots": [], "current": None},
                              "after": {"snapshots": ["s1"], "current": "s1"}}
    assert names(domain) == []


def test_present_is_idempotent_by_name_and_updates_a_description(domain):
    recorder, result = run(domain, description="one")
    assert recorder.actions == ["create snapshot 's1'"] and result["snapshot"]["current"]
    recorder, _result = run(domain, description="one")
    assert recorder.actions == []
    recorder, _result = run(domain)  # no description given: left alone
    assert recorder.actions == []
    recorder, result = run(domain, description="two")
    assert recorder.actions == ["update description of snapshot 's1'"]
    assert result["snapshot"]["description"] == "two" and result["snapshot"]["current"]


def test_current_revert_and_absent(domain):
    run(domain, snapshot="a")
    run(domain, snapshot="b")
    assert [s["parent"] for s in list_snapshots(domain)] == [None, "a"]
    assert list_snapshots(domain)[0]["children"] == ["b"]

    recorder, result = run(domain, snapshot="a", state="current")
    assert recorder.actions == ["make snapshot 'a' current"] and result["snapshot"]["current"]
    recorder, _result = run(domain, snapshot="a", state="current")
    assert recorder.actions == []

    recorder, _result = run(domain, snapshot="b", state="reverted", revert_state="paused")
    assert recorder.actions == ["revert to snapshot 'b'"] and domain.state().state == "paused"
    recorder, _result = run(domain, snapshot="b", state="reverted", revert_state="running")
    assert recorder.actions == ["revert to snapshot 'b'"] and domain.state().state == "running"

    recorder, result = run(domain, snapshot="a", state="absent", children_only=True)
    assert recorder.actions == ["delete children of snapshot 'a'"] and names(domain) == ["a"]
    recorder, _result = run(domain, snapshot="a", state="absent", children=True)
    assert recorder.actions == ["delete snapshot and children of 'a'"] and names(domain) == []
    recorder, _result = run(domain, snapshot="a", state="absent")
    assert recorder.actions == []


def test_unknown_snapshot_is_named_with_the_existing_ones(domain):
    run(domain, snapshot="a")
    with pytest.raises(InvalidArgument, match="domain 'test' has no snapshot 'zz' \\(its snapshots: a\\)"):
        run(domain, snapshot="zz", state="reverted")


def test_retention_deletes_the_oldest_beyond_n(domain):
    for name in ("keep-1", "other", "keep-2", "keep-3", "keep-4"):
        run(domain, snapshot=name)
    recorder, result = run(domain, check_mode=True, snapshot=None, prefix="keep-", retain=2)
    assert result["deleted"] == ["keep-1", "keep-2"] and len(names(domain)) == 5
    recorder, result = run(domain, snapshot="keep-5", prefix="keep-", retain=2)
    assert recorder.actions == ["create snapshot 'keep-5'", "delete snapshot 'keep-1'", "delete snapshot 'keep-2'",
                                "delete snapshot 'keep-3'"]
    assert sorted(names(domain)) == ["keep-4", "keep-5", "other"]
    recorder, result = run(domain, snapshot="keep-5", prefix="keep-", retain=2)
    assert recorder.actions == [] and result["deleted"] == []


def test_retain_zero_with_a_new_snapshot_is_refused(domain):
    with pytest.raises(InvalidArgument, match="would delete the new snapshot 'keep-1'"):
        run(domain, snapshot="keep-1", prefix="keep-", retain=0)
    assert names(domain) == []


def test_external_revert_is_decided_by_the_daemons_version_not_the_clients(domain, monkeypatch):
    external = [{"name": "e", "location": "external", "current": True, "parent": None, "children": [],
                 "creation_time": 1, "description": None}]
    monkeypatch.setattr(libvirt, "getVersion", lambda *args: 9009000)  # a newer client library...
    monkeypatch.setattr(domain.connection.conn, "getLibVersion", lambda: 9000000)  # ...talking to libvirtd 9.0
    planner = SnapshotPlanner(domain, SnapshotCalls(domain), external)
    with pytest.raises(UnsupportedOperation, match="libvirt 9.0.0 cannot revert to external snapshot 'e'; "
                                                   "libvirt 9.9.0 or newer can"):
        planner.plan(options(snapshot="e", state="reverted"))
    assert planner.steps == []
    monkeypatch.setattr(libvirt, "getVersion", lambda *args: 9000000)  # an old client library...
    monkeypatch.setattr(domain.connection.conn, "getLibVersion", lambda: 9009000)  # ...talking to libvirtd 9.9
    steps = planner.plan(options(snapshot="e", state="reverted"))
    assert [step.action for step in steps] == ["revert to snapshot 'e'"]


def test_external_child_of_an_internal_snapshot_is_refused_before_deleting(domain):
    snapshots = [
        {"name": "i", "location": "internal", "parent": None, "children": ["e1"]},
        {"name": "e1", "location": "external", "parent": "i", "children": ["e2"]},
        {"name": "e2", "location": "external", "parent": "e1", "children": []},
    ]
    with pytest.raises(UnsupportedOperation, match="whose parent 'i' is internal"):
        deletion_steps(domain, SnapshotCalls(domain), [snapshots[2], snapshots[1]], snapshots, False)
    steps = deletion_steps(domain, SnapshotCalls(domain), [snapshots[2], snapshots[1]], snapshots, True)
    assert [step.action for step in steps] == ["delete snapshot 'e2' (metadata only)",
                                               "delete snapshot 'e1' (metadata only)"]


def test_checkpoint_runner_on_the_test_driver(domain):
    recorder = ChangeRecorder(True)
    result = CheckpointRunner(domain, recorder).run("cp", "present")
    assert recorder.actions == ["create checkpoint 'cp'"] and result["diff"]["after"] == {"checkpoints": ["cp"]}
    recorder = ChangeRecorder(False)
    result = CheckpointRunner(domain, recorder).run("cp", "present")
    assert result["checkpoint"]["name"] == "cp"
    recorder = ChangeRecorder(False)
    CheckpointRunner(domain, recorder).run("cp", "present")
    assert recorder.actions == []
    recorder = ChangeRecorder(False)
    result = CheckpointRunner(domain, recorder).run("cp", "absent")
    assert recorder.actions == ["delete checkpoint 'cp'"] and result["checkpoints"] == []


# --- one plan for check mode and the real run ----------------------------------------------------


def build_tree(domain, root=None):
    """sa -> sb -> sc and sa -> sd, with sc current (the test driver records what the runner asks)."""
    for name in ("sa", "sb", "sc"):
        run(domain, snapshot=name)
    run(domain, snapshot="sa", state="reverted", revert_state="running")
    run(domain, snapshot="sd")
    run(domain, snapshot="sc", state="current")
    tree = {s["name"]: (s["parent"], s["current"]) for s in list_snapshots(domain)}
    assert {name: tree[name] for name in ("sa", "sb", "sc", "sd")} == {
        "sa": (root, False), "sb": ("sa", False), "sc": ("sb", True), "sd": ("sa", False)}


def tree_of(domain):
    return sorted((s["name"], s["parent"], s["current"]) for s in list_snapshots(domain))


PLANNER_CASES = [
    pytest.param({"snapshot": "new"}, id="create"),
    pytest.param({"snapshot": "sb", "description": "changed"}, id="describe"),
    pytest.param({"snapshot": "sb"}, id="present-unchanged"),
    pytest.param({"snapshot": "sc", "state": "absent"}, id="delete-current-leaf"),
    pytest.param({"snapshot": "sb", "state": "absent"}, id="delete-parent-of-current"),
    pytest.param({"snapshot": "sb", "state": "absent", "children": True}, id="delete-with-current-child"),
    pytest.param({"snapshot": "sa", "state": "absent", "children_only": True}, id="delete-children-only"),
    pytest.param({"snapshot": "sa", "state": "absent", "children": True}, id="delete-everything"),
    pytest.param({"snapshot": "sd", "state": "absent"}, id="delete-other-leaf"),
    pytest.param({"snapshot": "zz", "state": "absent"}, id="delete-missing"),
    pytest.param({"snapshot": "sd", "state": "current"}, id="make-current"),
    pytest.param({"snapshot": "sb", "state": "reverted", "revert_state": "running"}, id="revert"),
    pytest.param({"snapshot": None, "prefix": "s", "retain": 2}, id="retain-deletes-current"),
    pytest.param({"snapshot": "se", "prefix": "s", "retain": 3}, id="create-and-retain"),
]


@pytest.mark.parametrize("case", PLANNER_CASES)
def test_check_mode_predicts_exactly_what_the_real_run_does(domain, case):
    build_tree(domain)
    before = tree_of(domain)
    predicted_recorder, predicted = run(domain, check_mode=True, **case)
    assert tree_of(domain) == before  # check mode changed nothing
    real_recorder, real = run(domain, **case)
    assert predicted_recorder.actions == real_recorder.actions
    assert predicted["diff"]["after"] == real["diff"]["after"]
    assert real["diff"]["after"] == {"snapshots": [s["name"] for s in list_snapshots(domain)],
                                     "current": next((s["name"] for s in list_snapshots(domain) if s["current"]), None)}
    assert predicted.get("deleted") == real.get("deleted")


def test_deleting_the_current_snapshot_makes_its_parent_current(domain):
    build_tree(domain)
    _recorder, predicted = run(domain, check_mode=True, snapshot="sc", state="absent")
    assert predicted["diff"]["after"] == {"snapshots": ["sa", "sb", "sd"], "current": "sb"}


# --- quiesce ---------------------------------------------------------------------------------------


def test_quiesce_is_only_for_disk_only_snapshots(domain):
    with pytest.raises(InvalidArgument, match="quiesce needs a disk-only snapshot"):
        snapshot_plan(domain, options(quiesce=True), active=True)
    with pytest.raises(InvalidArgument, match="quiesce needs a disk-only snapshot"):
        snapshot_plan(domain, options(quiesce=True, location="external", memory_file="/m"), active=True)
    _xml_text, flags = snapshot_plan(domain, options(quiesce=True, location="external", memory=False), active=True)
    assert flags & libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY


# --- memory files of external snapshots ------------------------------------------------------------


def external_with_memory(domain, name, memory_file):
    domain.virdomain.snapshotCreateXML(
        f"<domainsnapshot><name>{name}</name><memory snapshot='external' file='{memory_file}'/>"
        f"<disks><disk name='vda' snapshot='external'><source file='{memory_file}.overlay'/></disk></disks>"
        "</domainsnapshot>", 0)


def test_deleting_an_external_snapshot_removes_its_memory_file(domain, tmp_path):
    memory = tmp_path / "e.mem"
    memory.write_text("memory")
    (tmp_path / "unrelated").write_text("keep")
    external_with_memory(domain, "e", str(memory))
    recorder, _result = run(domain, check_mode=True, snapshot="e", state="absent")
    expected = [f"delete snapshot 'e' (merging its overlays back, removing its memory file {memory})"]
    assert recorder.actions == expected and memory.exists()
    recorder, result = run(domain, snapshot="e", state="absent")
    assert recorder.actions == expected and result["snapshots"] == []
    assert not memory.exists() and (tmp_path / "unrelated").exists()


def test_metadata_only_deletion_keeps_the_memory_file(domain, tmp_path, monkeypatch):
    memory = tmp_path / "e.mem"
    memory.write_text("memory")
    external_with_memory(domain, "e", str(memory))
    runner = SnapshotRunner(domain, ChangeRecorder(True))
    runner.run(options(snapshot="e", state="absent", metadata_only=True))
    assert runner.recorder.actions == ["delete snapshot 'e' (metadata only)"]


# --- everything, for state=absent of domain_state --------------------------------------------------


def test_remove_all_deletes_every_snapshot_children_first_with_its_data(domain, tmp_path):
    memory = tmp_path / "x.mem"
    memory.write_text("memory")
    external_with_memory(domain, "x", str(memory))  # the root: x -> sa -> ...
    build_tree(domain, root="x")
    predicted = ChangeRecorder(True)
    predicted_actions = remove_all_snapshots_and_checkpoints(domain, predicted)
    assert len(list_snapshots(domain)) == 5 and memory.exists()
    real = ChangeRecorder(False)
    actions = remove_all_snapshots_and_checkpoints(domain, real)
    assert actions == predicted_actions == real.actions == predicted.actions
    deleted = [action.split("'")[1] for action in actions]
    assert sorted(deleted) == ["sa", "sb", "sc", "sd", "x"]
    for child, parent in (("sc", "sb"), ("sb", "sa"), ("sd", "sa"), ("sa", "x")):
        assert deleted.index(child) < deleted.index(parent)  # children first
    assert actions[-1] == f"delete snapshot 'x' (merging its overlays back, removing its memory file {memory})"
    assert list_snapshots(domain) == [] and not memory.exists()
    assert remove_all_snapshots_and_checkpoints(domain, ChangeRecorder(False)) == []


def test_remove_all_refuses_what_libvirt_cannot_delete_before_any_change(domain, tmp_path):
    build_tree(domain)
    external_with_memory(domain, "x", str(tmp_path / "x.mem"))  # an external child of internal sc
    recorder = ChangeRecorder(False)
    with pytest.raises(UnsupportedOperation, match="cannot delete external snapshot 'x' whose parent 'sc' is internal"):
        remove_all_snapshots_and_checkpoints(domain, recorder)
    assert recorder.actions == [] and len(list_snapshots(domain)) == 5


def test_remove_all_deletes_every_checkpoint_newest_first(domain):
    for name in ("cp1", "cp2"):  # the test driver allows no checkpoint beside snapshots
        CheckpointRunner(domain, ChangeRecorder(False)).run(name, "present")
    assert remove_all_snapshots_and_checkpoints(domain, ChangeRecorder(False), checkpoints=False) == []
    predicted = remove_all_snapshots_and_checkpoints(domain, ChangeRecorder(True))
    assert [c.getName() for c in domain.virdomain.listAllCheckpoints(0)] != []
    actions = remove_all_snapshots_and_checkpoints(domain, ChangeRecorder(False))
    assert actions == predicted == ["delete checkpoint 'cp2'", "delete checkpoint 'cp1'"]
    assert domain.virdomain.listAllCheckpoints(0) == []


class FreezingVirDomain:
    """Just the virDomain calls around a quiesced snapshot; each can fail with a libvirtError."""

    def __init__(self, fail=()):
        self.fail = set(fail)
        self.calls = []

    def name(self):
        return "vm"

    def UUIDString(self):  # noqa: N802 (libvirt's name)
        return "77777777-7777-4777-8777-777777777777"

    def _record(self, method):
        self.calls.append(method)
        if method in self.fail:
            error = libvirt.libvirtError(f"{method} broke")
            error.get_error_code = lambda: libvirt.VIR_ERR_INTERNAL_ERROR
            error.get_error_message = lambda: f"{method} broke"
            raise error
        return 1

    def agentSetResponseTimeout(self, seconds, _flags=0):  # noqa: N802
        self.calls.append(f"agentSetResponseTimeout({seconds})")
        return 0

    def fsFreeze(self, *_args):  # noqa: N802
        return self._record("fsFreeze")

    def fsThaw(self, *_args):  # noqa: N802
        return self._record("fsThaw")

    def snapshotCreateXML(self, *_args):  # noqa: N802
        return self._record("snapshotCreateXML")


def bounded_by_freeze_timeout(calls):
    """The agent calls run with libvirt's agent timeout set, and libvirt's default (block) restored after."""
    return [f"agentSetResponseTimeout({FREEZE_TIMEOUT})", *calls,
            f"agentSetResponseTimeout({libvirt.VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_BLOCK})"]


def FreezingDomain(fail=()):  # noqa: N802 (reads like the class it builds)
    domain = Domain(Connection(ConnectionParams(uri="test:///default")), FreezingVirDomain(fail))
    domain.calls = domain.virdomain.calls
    return domain


def test_a_thaw_failing_after_the_snapshot_still_reports_the_snapshot_as_a_change():
    domain = FreezingDomain(fail={"fsThaw"})
    recorder = ChangeRecorder(False)
    with pytest.raises(LibvirtCallError, match="snapshot 's1' was created, but .*fsThaw broke"):
        recorder.perform("create snapshot 's1'", lambda: SnapshotCalls(domain).create("s1", "<x/>", 0, True))
    assert recorder.actions == ["create snapshot 's1'"]
    assert domain.calls == bounded_by_freeze_timeout(["fsFreeze", "snapshotCreateXML", "fsThaw"])


def test_a_failed_quiesced_snapshot_thaws_and_keeps_its_own_error():
    domain = FreezingDomain(fail={"snapshotCreateXML", "fsThaw"})
    recorder = ChangeRecorder(False)
    with pytest.raises(LibvirtCallError, match="snapshotCreateXML broke .*thawing the guest's file systems failed too"):
        recorder.perform("create snapshot 's1'", lambda: SnapshotCalls(domain).create("s1", "<x/>", 0, True))
    assert recorder.actions == [] and domain.calls == bounded_by_freeze_timeout(["fsFreeze", "snapshotCreateXML", "fsThaw"])


def test_a_snapshot_plan_reads_the_domains_disks_once(domain, monkeypatch):
    reads = []
    original = domain.xml_desc
    monkeypatch.setattr(domain, "xml_desc", lambda flags=0: reads.append(flags) or original(flags))
    snapshot_plan(domain, options(disks=[{"target": "vda"}]), active=True)
    assert len(reads) == 1
