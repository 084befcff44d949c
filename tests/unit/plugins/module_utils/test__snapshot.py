"""Snapshot options, XML plans and the snapshot/checkpoint runners on libvirt's test driver."""

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    InvalidArgument,
    UnsupportedOperation,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._module import ChangeRecorder
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot import (
    CheckpointRunner,
    SnapshotOptions,
    SnapshotRunner,
    _sorted_oldest_first,
    checkpoint_xml,
    list_snapshots,
    snapshot_plan,
)


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
    external = [{"name": "e", "location": "external", "current": True, "parent": None, "children": []}]
    monkeypatch.setattr(libvirt, "getVersion", lambda *args: 9009000)  # a newer client library...
    monkeypatch.setattr(domain.connection.conn, "getLibVersion", lambda: 9000000)  # ...talking to libvirtd 9.0
    runner = SnapshotRunner(domain, ChangeRecorder(True))
    with pytest.raises(UnsupportedOperation, match="libvirt 9.0.0 cannot revert to external snapshot 'e'; "
                                                   "libvirt 9.9.0 or newer can"):
        runner.revert(options(snapshot="e", state="reverted"), external)
    assert runner.recorder.actions == []
    monkeypatch.setattr(libvirt, "getVersion", lambda *args: 9000000)  # an old client library...
    monkeypatch.setattr(domain.connection.conn, "getLibVersion", lambda: 9009000)  # ...talking to libvirtd 9.9
    runner.revert(options(snapshot="e", state="reverted"), external)
    assert runner.recorder.actions == ["revert to snapshot 'e'"]


def test_external_child_of_an_internal_snapshot_is_refused_before_deleting(domain):
    runner = SnapshotRunner(domain, ChangeRecorder(False))
    snapshots = [
        {"name": "i", "location": "internal", "parent": None, "children": ["e1"]},
        {"name": "e1", "location": "external", "parent": "i", "children": ["e2"]},
        {"name": "e2", "location": "external", "parent": "e1", "children": []},
    ]
    with pytest.raises(UnsupportedOperation, match="whose parent 'i' is internal"):
        runner._delete_all([snapshots[2], snapshots[1]], snapshots, ["i", "e1", "e2"], False)
    assert runner.recorder.actions == []  # e2 was not deleted first
    planned = SnapshotRunner(domain, ChangeRecorder(True))._delete_all(
        [snapshots[2], snapshots[1]], snapshots, ["i", "e1", "e2"], True)
    assert planned == ["i"]


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
