"""domain_snapshot on the real rig: snapshots, external chains, quiesce, retention, bad input (backups and
checkpoints: test_domain_backup.py).

One booted guest serves the whole file (it boots in ~7 s); each test leaves it running with no
snapshot, checkpoint or job, so the tests do not depend on each other's order.
"""

import base64
import glob
import os
import re
import shutil
import subprocess
import time

import libvirt
import pytest

from harness import rig_env, run_module

URI = rig_env.HOST_A_URI
WORK_DIR = "/var/lib/libvirt/images/virtops/snapshot-tests"


# --- the shared guest and direct helpers (independent of the module under test) ---------------


@pytest.fixture(scope="module")
def guest(host_a):
    name = f"virtops-snap-{os.getpid() % 100000}"
    rig_env.cleanup_domain(host_a, name)
    dom = rig_env.define_guest(host_a, name)
    rig_env.wait_booted(dom, timeout=90)
    rig_env.wait_agent(dom, timeout=60)
    yield dom
    rig_env.cleanup_domain(host_a, name)
    for path in glob.glob(f"{rig_env.IMAGES_DIR}/{name}-*"):
        os.unlink(path)
    shutil.rmtree(WORK_DIR, ignore_errors=True)


@pytest.fixture
def workdir():
    path = f"{WORK_DIR}/{os.getpid()}-{time.monotonic_ns()}"
    os.makedirs(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def clean_slate(request, host_a):
    """After each test: the shared guest runs with no snapshot, checkpoint or job."""
    yield
    if "guest" not in request.fixturenames:
        return
    dom = request.getfixturevalue("guest")
    if dom.jobStats(0).get("type", 0) != 0:
        dom.abortJob()
    for checkpoint in dom.listAllCheckpoints(0):
        # with its bitmaps: a bitmap left in the image makes a later revert fail ("active dirty bitmaps")
        checkpoint.delete(0)
    for snapshot in dom.listAllSnapshots(0):
        snapshot.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
    if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
        dom.resume()
    assert chain(dom) == [rig_env.data_disk_path(dom.name())], "a test left the disk chain changed"


def sh(dom, command, timeout=30):
    """Run a shell command in the guest through the agent; return its stdout (fails on non-zero)."""
    pid = rig_env.agent_command(dom, "guest-exec", {"path": "/bin/sh", "arg": ["-c", command],
                                                    "capture-output": True})["pid"]
    deadline = time.monotonic() + timeout
    while True:
        status = rig_env.agent_command(dom, "guest-exec-status", {"pid": pid})
        if status["exited"]:
            out = base64.b64decode(status.get("out-data", "")).decode()
            assert status.get("exitcode") == 0, (command, status, out)
            return out
        assert time.monotonic() < deadline, f"{command} did not finish"
        time.sleep(0.1)


def chain(dom):
    """The data disk's image chain, active image first."""
    return re.findall(r"<source file='([^']+)'", dom.XMLDesc(0).split("</disk>")[0])


def snapshot_names(dom):
    return sorted(snapshot.getName() for snapshot in dom.listAllSnapshots(0))


def checkpoint_names(dom):
    return sorted(checkpoint.getName() for checkpoint in dom.listAllCheckpoints(0))


def snap(dom, check_mode=False, **args):
    return run_module("domain_snapshot", {"uri": URI, "name": dom.name(), **args}, check_mode=check_mode, diff=True)


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


# --- snapshots -----------------------------------------------------------------------------------


def test_internal_snapshot_with_memory_then_revert_restores_the_disk(guest):
    sh(guest, "echo at-snapshot > /mnt/data/marker; sync")

    predicted = ok(snap(guest, check_mode=True, snapshot="s1", description="first"))
    assert predicted["changed"] and predicted["actions"] == ["create snapshot 's1'"]
    assert snapshot_names(guest) == []

    created = ok(snap(guest, snapshot="s1", description="first"))
    assert created["changed"] and created["diff"] == predicted["diff"]  # the real run's diff reads libvirt
    assert "s1" in str(created["diff"])
    assert created["snapshot"]["memory"] == "internal" and created["snapshot"]["state"] == "running"
    assert created["snapshot"]["current"] and created["snapshot"]["disks"][0]["snapshot"] == "internal"
    assert not ok(snap(guest, snapshot="s1", description="first"))["changed"]

    updated = ok(snap(guest, snapshot="s1", description="second"))
    assert updated["actions"] == ["update description of snapshot 's1'"]
    assert updated["snapshot"]["description"] == "second" and updated["snapshot"]["current"]

    sh(guest, "echo after-snapshot > /mnt/data/marker; sync")
    predicted = ok(snap(guest, check_mode=True, snapshot="s1", state="reverted"))
    assert predicted["changed"] and sh(guest, "cat /mnt/data/marker") == "after-snapshot\n"

    reverted = ok(snap(guest, snapshot="s1", state="reverted"))
    assert reverted["changed"] and reverted["actions"] == ["revert to snapshot 's1'"]
    assert guest.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    rig_env.wait_agent(guest, timeout=30)
    assert sh(guest, "cat /mnt/data/marker") == "at-snapshot\n"

    assert ok(snap(guest, snapshot="s1", state="absent"))["changed"]
    assert snapshot_names(guest) == []
    assert not ok(snap(guest, snapshot="s1", state="absent"))["changed"]


def test_external_disk_only_chain_is_merged_back_when_deleted(guest):
    base = rig_env.data_disk_path(guest.name())
    for index, name in enumerate(["e1", "e2", "e3"]):
        sh(guest, f"echo layer{index} > /mnt/data/layer{index}; sync")
        result = ok(snap(guest, snapshot=name, location="external", memory=False))
        assert result["snapshot"]["location"] == "external" and result["snapshot"]["state"] == "disk-snapshot"
    sh(guest, "echo top > /mnt/data/top; sync")
    assert len(chain(guest)) == 4 and chain(guest)[-1] == base
    overlays = chain(guest)[:-1]

    predicted = ok(snap(guest, check_mode=True, snapshot="e1", state="absent", children=True))
    assert predicted["actions"] == [f"delete snapshot '{name}' (merging its overlays back)" for name in ("e3", "e2", "e1")]
    assert len(chain(guest)) == 4 and snapshot_names(guest) == ["e1", "e2", "e3"]

    deleted = ok(snap(guest, snapshot="e1", state="absent", children=True))
    assert deleted["changed"] and deleted["snapshots"] == []
    assert guest.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert chain(guest) == [base]
    assert not any(os.path.exists(path) for path in overlays)
    assert sh(guest, "cat /mnt/data/layer0 /mnt/data/layer2 /mnt/data/top") == "layer0\nlayer2\ntop\n"
    info = subprocess.run(["qemu-img", "info", "-U", base], capture_output=True, text=True, check=True).stdout
    assert "backing file" not in info
    assert not ok(snap(guest, snapshot="e1", state="absent", children=True))["changed"]


def file_in_image(image, path, workdir):
    """The content of `path` in the ext4 file system of qcow2 `image` (read offline with debugfs)."""
    raw = f"{workdir}/image.raw"
    qemu_img("convert", "-U", "-O", "raw", image, raw)
    return subprocess.run(["debugfs", "-R", f"cat {path}", raw], capture_output=True, text=True, check=True).stdout


def test_quiesced_snapshot_freezes_and_thaws_the_guest_filesystems(guest, workdir):
    assert rig_env.agent_command(guest, "guest-fsfreeze-status") == "thawed"
    # written but not synced: only the freeze puts it on the disk before the snapshot
    sh(guest, "echo flushed-by-freeze > /mnt/data/unsynced")
    result = ok(snap(guest, snapshot="q1", location="external", memory=False, quiesce=True))
    frozen_image = chain(guest)[1]  # the image below the new overlay: the snapshot's content
    assert file_in_image(frozen_image, "/unsynced", workdir) == "flushed-by-freeze\n"
    assert result["quiesce"]["frozen_filesystems"] >= 1
    assert result["quiesce"]["thawed_filesystems"] == result["quiesce"]["frozen_filesystems"]
    # the module no longer reads the agent's freeze status itself: a raw agent command taints the domain
    assert rig_env.agent_command(guest, "guest-fsfreeze-status") == "thawed"
    sh(guest, "echo writable > /mnt/data/after-quiesce; sync")
    ok(snap(guest, snapshot="q1", state="absent"))


def header(snapshot_xml):
    """A snapshot's own data (name, state, creation time, memory, disks), without its parent and domain."""
    own = snapshot_xml.split("<domain ")[0]
    return re.sub(r"<parent>.*?</parent>", "", own, flags=re.S)


def test_retention_keeps_the_newest_n_with_the_prefix(guest):
    ok(snap(guest, snapshot="other"))
    for index in range(5):
        ok(snap(guest, snapshot=f"keep-{index}"))
    before = {snapshot.getName(): snapshot.getXMLDesc(0) for snapshot in guest.listAllSnapshots(0)}

    predicted = ok(snap(guest, check_mode=True, prefix="keep-", retain=3))
    assert predicted["deleted"] == ["keep-0", "keep-1"] and predicted["changed"]
    assert snapshot_names(guest) == sorted(before)

    pruned = ok(snap(guest, prefix="keep-", retain=3))
    assert pruned["deleted"] == ["keep-0", "keep-1"]
    assert snapshot_names(guest) == ["keep-2", "keep-3", "keep-4", "other"]
    for name in ("keep-2", "keep-3", "keep-4", "other"):  # untouched: same snapshot, same time, same disks
        assert header(guest.snapshotLookupByName(name).getXMLDesc(0)) == header(before[name])
    again = ok(snap(guest, prefix="keep-", retain=3))
    assert not again["changed"] and again["deleted"] == []

    rotated = ok(snap(guest, snapshot="keep-5", prefix="keep-", retain=3))
    assert rotated["deleted"] == ["keep-2"]
    assert snapshot_names(guest) == ["keep-3", "keep-4", "keep-5", "other"]


def test_bad_snapshot_input_fails_clearly_and_changes_nothing(guest):
    failed = snap(guest, snapshot="missing", state="reverted")
    assert failed["failed"] and "no snapshot 'missing'" in failed["msg"] and guest.name() in failed["msg"]

    failed = snap(guest, snapshot="x", disks=[{"target": "vdz", "snapshot": "external"}])
    assert failed["failed"] and "no disk 'vdz'" in failed["msg"] and "vda" in failed["msg"]
    assert snapshot_names(guest) == []

    ok(snap(guest, snapshot="ext", location="external", memory=False))
    failed = snap(guest, snapshot="ext", state="reverted")
    assert failed["failed"] and "cannot revert to external snapshot 'ext'" in failed["msg"]
    assert "9.9.0" in failed["msg"]
    ok(snap(guest, snapshot="ext", state="absent"))

    failed = snap(guest, snapshot="int-nomem", memory=False)
    assert failed["failed"] and "internal disk-only" in failed["msg"]
    assert snapshot_names(guest) == []


def test_quiesce_without_a_running_agent_fails_before_any_change(host_a, guest_name):
    dom = rig_env.define_guest(host_a, guest_name, start=False)
    failed = run_module("domain_snapshot", {"uri": URI, "name": guest_name, "snapshot": "q", "quiesce": True})
    assert failed["failed"] and "quiesce" in failed["msg"] and guest_name in failed["msg"]
    assert dom.snapshotNum(0) == 0


def qemu_img(*args):
    return subprocess.run(["qemu-img", *args], capture_output=True, text=True, check=True).stdout


def test_check_mode_predicts_the_parent_becomes_current_when_the_current_is_deleted(guest):
    ok(snap(guest, snapshot="p1"))
    ok(snap(guest, snapshot="p2"))
    predicted = ok(snap(guest, check_mode=True, snapshot="p2", state="absent"))
    assert snapshot_names(guest) == ["p1", "p2"]
    deleted = ok(snap(guest, snapshot="p2", state="absent"))
    assert predicted["actions"] == deleted["actions"] == ["delete snapshot 'p2'"]
    # the real run's diff reads libvirt after the deletion: the prediction must equal it
    assert predicted["diff"] == deleted["diff"] and "p2" in str(deleted["diff"])
    assert snapshot_names(guest) == ["p1"] and guest.snapshotCurrent(0).getName() == "p1"
    ok(snap(guest, snapshot="p1", state="absent"))


def test_quiesce_with_memory_is_refused_and_a_reverted_guest_can_write(guest):
    failed = snap(guest, snapshot="qm", quiesce=True)  # memory: true is the default
    assert failed["failed"] and "quiesce needs a disk-only snapshot" in failed["msg"], failed
    assert snapshot_names(guest) == [] and not failed["changed"]
    assert rig_env.agent_command(guest, "guest-fsfreeze-status") == "thawed"
    # reverting to a snapshot with memory brings back a guest whose file systems take writes
    ok(snap(guest, snapshot="m1"))
    ok(snap(guest, snapshot="m1", state="reverted"))
    rig_env.wait_agent(guest, timeout=30)
    assert rig_env.agent_command(guest, "guest-fsfreeze-status") == "thawed"
    sh(guest, "echo written-after-revert > /mnt/data/after-revert; sync", timeout=20)
    assert sh(guest, "cat /mnt/data/after-revert") == "written-after-revert\n"
    ok(snap(guest, snapshot="m1", state="absent"))


def test_deleting_an_external_snapshot_with_memory_removes_its_memory_file(guest, workdir):
    os.chmod(workdir, 0o777)
    memory_file = f"{workdir}/em.mem"
    neighbour = f"{workdir}/unrelated.mem"
    with open(neighbour, "w", encoding="utf-8") as handle:
        handle.write("not a snapshot's")
    created = ok(snap(guest, snapshot="em", location="external", memory_file=memory_file))
    assert created["snapshot"]["memory"] == "external" and created["snapshot"]["memory_file"] == memory_file
    assert os.path.getsize(memory_file) > 0
    expected = [f"delete snapshot 'em' (merging its overlays back, removing its memory file {memory_file})"]
    predicted = ok(snap(guest, check_mode=True, snapshot="em", state="absent"))
    assert predicted["actions"] == expected and os.path.exists(memory_file)
    deleted = ok(snap(guest, snapshot="em", state="absent"))
    assert deleted["actions"] == expected and snapshot_names(guest) == []
    assert not os.path.exists(memory_file) and os.path.exists(neighbour)


def internal_snapshots_in(image):
    return [line.split()[1] for line in qemu_img("snapshot", "-U", "-l", image).splitlines()[2:] if line.split()]


def test_remove_all_snapshots_and_checkpoints_removes_their_data(guest, workdir):
    """What domain_state's state=absent calls for remove: [snapshots, checkpoints] (in-process here)."""
    from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
    from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
    from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
    from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot import remove_all_snapshots_and_checkpoints

    base = rig_env.data_disk_path(guest.name())
    earlier = internal_snapshots_in(base)  # what other tests' metadata-only cleanup left in the image
    ok(run_module("domain_backup", {"uri": URI, "name": guest.name(), "checkpoint": "cp1"}))
    os.chmod(workdir, 0o777)
    ok(snap(guest, snapshot="e1", location="external", memory_file=f"{workdir}/e1.mem"))
    ok(snap(guest, snapshot="e2", location="external", memory=False))
    ok(snap(guest, snapshot="i1"))  # internal snapshots in the active overlay
    ok(snap(guest, snapshot="i2"))
    overlay = chain(guest)[0]
    assert len(chain(guest)) == 3 and sorted(internal_snapshots_in(overlay)) == ["i1", "i2"]
    i1_before = [line for line in qemu_img("snapshot", "-U", "-l", overlay).splitlines() if " i1 " in line]
    assert i1_before
    with Connection(ConnectionParams(uri=URI)) as connection:
        domain = Domain.lookup(connection, name=guest.name())
        predicted = remove_all_snapshots_and_checkpoints(domain, ChangeRecorder(True))
        assert snapshot_names(guest) == ["e1", "e2", "i1", "i2"] and checkpoint_names(guest) == ["cp1"]
        actions = remove_all_snapshots_and_checkpoints(domain, ChangeRecorder(False))
    assert actions == predicted
    assert actions == ["delete checkpoint 'cp1'",
                       "delete snapshot 'i2'", "delete snapshot 'i1'",
                       "delete snapshot 'e2' (merging its overlays back)",
                       f"delete snapshot 'e1' (merging its overlays back, removing its memory file {workdir}/e1.mem)"]
    assert snapshot_names(guest) == [] and checkpoint_names(guest) == []
    assert chain(guest) == [base] and internal_snapshots_in(base) == earlier and not os.path.exists(overlay)
    assert '"bitmaps"' not in qemu_img("info", "-U", "--output=json", base)
    assert not os.path.exists(f"{workdir}/e1.mem")
    # internal snapshots in the base image itself: their data leaves the image
    ok(snap(guest, snapshot="i3"))
    ok(snap(guest, snapshot="i4"))
    assert sorted(set(internal_snapshots_in(base)) - set(earlier)) == ["i3", "i4"]
    with Connection(ConnectionParams(uri=URI)) as connection:
        actions = remove_all_snapshots_and_checkpoints(Domain.lookup(connection, name=guest.name()),
                                                       ChangeRecorder(False))
    assert actions == ["delete snapshot 'i4'", "delete snapshot 'i3'"]
    assert internal_snapshots_in(base) == earlier and snapshot_names(guest) == []


def test_remove_all_works_on_a_shut_off_domain(host_a, guest_name, workdir):
    """domain_state's state=absent may find the domain shut off: everything still goes, with its data."""
    from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
    from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
    from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
    from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot import remove_all_snapshots_and_checkpoints

    dom = rig_env.define_guest(host_a, guest_name)
    rig_env.wait_booted(dom, timeout=90)
    base = rig_env.data_disk_path(guest_name)
    args = {"uri": URI, "name": guest_name}
    ok(run_module("domain_backup", {**args, "checkpoint": "cp1"}))
    ok(run_module("domain_snapshot", {**args, "snapshot": "e1", "location": "external", "memory": False}))
    ok(run_module("domain_snapshot", {**args, "snapshot": "i1"}))  # internal, in the overlay
    dom.destroy()
    overlay = chain(dom)[0]
    assert len(chain(dom)) == 2 and internal_snapshots_in(overlay) == ["i1"]
    with Connection(ConnectionParams(uri=URI)) as connection:
        domain = Domain.lookup(connection, name=guest_name)
        # libvirt 9.0 deletes checkpoint bitmaps only from a running domain: refused before any change
        refused = ChangeRecorder(False)
        with pytest.raises(Exception, match="is shut off, and libvirt 9.0.0 deletes checkpoints with their bitmaps "
                                            r"only while the domain runs \(cp1\)"):
            remove_all_snapshots_and_checkpoints(domain, refused)
        assert refused.actions == [] and dom.snapshotNum(0) == 2
        actions = remove_all_snapshots_and_checkpoints(domain, ChangeRecorder(False), checkpoints=False)
    assert actions == ["delete snapshot 'i1'", "delete snapshot 'e1' (merging its overlays back)"]
    assert dom.snapshotNum(0) == 0 and [c.getName() for c in dom.listAllCheckpoints(0)] == ["cp1"]
    assert chain(dom) == [base] and internal_snapshots_in(base) == [] and not os.path.exists(overlay)
