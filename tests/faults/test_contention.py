"""Contention: two module runs on the same domain at the same moment, as two plays (or two people) do.

One guest serves the file, in order: start against shutdown, snapshot against backup, then two
migrations of it to host B (it stays there). Whatever the interleaving, one run wins and the other fails
with a clear message or waits and succeeds; afterwards the definition is valid, the domain runs (or
starts) and no job is left. Each test prints what happened, for the fault suite's README table.
"""

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import libvirt
import pytest
from lxml import etree

import shared_guest
from harness import rig_env, run_module
from shared_guest import domain

A, B = rig_env.HOST_A_URI, rig_env.HOST_B_URI


@pytest.fixture(scope="module")
def guest(rig):  # pylint: disable=unused-argument  # rig: fails the test when the rig is down
    name = shared_guest.define(shared_guest.unique_name("contend"), start=False)  # the first test starts it
    yield name
    shared_guest.remove(name)
    shutil.rmtree(f"{rig_env.IMAGES_DIR}/{name}-work", ignore_errors=True)


def at_once(*runs):
    """Run each (module, args) in its own process, all started together; the results in the same order."""
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = [pool.submit(run_module, module, args) for module, args in runs]
        return [future.result() for future in futures]


def outcome(result):
    return f"failed ({result['msg']})" if result.get("failed") else f"changed={result['changed']}"


def assert_clear(result, name):
    """A run that lost: a message naming the domain (run_module already refused any traceback)."""
    if result.get("failed"):
        assert name in result["msg"], result["msg"]


def assert_consistent(dom):
    """The definition parses, no job of any kind is left."""
    etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    if dom.isActive():  # libvirt 9.0 refuses job statistics of a shut-off domain ("domain is not running")
        assert dom.jobStats(0).get("type", 0) == libvirt.VIR_DOMAIN_JOB_NONE, dom.jobStats(0)
        assert not dom.blockJobInfo("vda", 0), dom.blockJobInfo("vda", 0)


def test_start_and_shutdown_at_once_end_in_the_state_of_the_run_that_finished_last(guest):
    """Guarantee: state=running and state=shutoff started together on a shut-off domain both end cleanly
    (neither hangs, any failure names the domain); the domain ends in the state the later run reports,
    its definition is valid, no job is left and it starts again."""
    dom = domain(guest)
    if dom.isActive():  # the test ran alone, after another
        dom.destroy()
    started = time.monotonic()
    start, shutdown = at_once(
        ("domain_state", {"uri": A, "name": guest, "state": "running"}),
        ("domain_state", {"uri": A, "name": guest, "state": "shutoff", "shutdown_mode": ["acpi"],
                          "shutdown_timeout": 5, "force": True}))
    took = time.monotonic() - started
    print(f"start vs shutdown: start {outcome(start)} {start.get('actions')}, "
          f"shutdown {outcome(shutdown)} {shutdown.get('actions')}, both done in {took:.1f} s")
    for result in (start, shutdown):
        assert_clear(result, guest)
    later = max((start, shutdown), key=lambda result: result.finished_at)
    assert not later.get("failed"), later["msg"]
    state = {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_SHUTOFF: "shutoff"}.get(dom.state()[0])
    assert state == later["domain"]["state"], (state, start, shutdown)
    assert took < 5 + 60, f"took {took:.1f} s"
    assert_consistent(dom)
    if state == "shutoff":
        dom.create()
    print(f"the guest booted, its agent answered {shared_guest.wait_agent(guest):.1f} s later")


def test_a_snapshot_and_a_backup_at_once_each_succeed_or_fail_cleanly(guest):
    """Guarantee: an external snapshot and a push backup with a checkpoint started together each either
    succeed or fail naming the domain, never half: the snapshot exists exactly when its run succeeded, the
    checkpoint and the backup file exactly when the backup's did; no job is left, the guest runs on."""
    shared_guest.ensure_running(guest)
    work = f"{rig_env.IMAGES_DIR}/{guest}-work"
    os.makedirs(f"{work}/backup", exist_ok=True)
    started = time.monotonic()
    snapshot, backup = at_once(
        ("domain_snapshot", {"uri": A, "name": guest, "snapshot": "s1", "location": "external", "memory": False,
                             "disks": [{"target": "vda", "snapshot": "external", "file": f"{work}/vda.s1"}]}),
        ("domain_backup", {"uri": A, "name": guest, "checkpoint": "cp1",
                           "backup": {"target_dir": f"{work}/backup", "timeout": 60}}))
    took = time.monotonic() - started
    print(f"snapshot vs backup: snapshot {outcome(snapshot)}, backup {outcome(backup)}, both done in {took:.1f} s")
    dom = domain(guest)
    for result in (snapshot, backup):
        assert_clear(result, guest)
    assert not (snapshot.get("failed") and backup.get("failed")), "neither won"
    assert [s.getName() for s in dom.listAllSnapshots(0)] == ([] if snapshot.get("failed") else ["s1"])
    assert [c.getName() for c in dom.listAllCheckpoints(0)] == ([] if backup.get("failed") else ["cp1"])
    assert os.path.exists(f"{work}/backup/vda.qcow2") is not bool(backup.get("failed"))
    assert os.path.exists(f"{work}/vda.s1") is not bool(snapshot.get("failed"))
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert_consistent(dom)
    assert rig_env.agent_command(dom, "guest-ping") == {}
    # libvirt migrates no domain with snapshots: keep the overlay, drop the records (and the checkpoint)
    for snapshot in dom.listAllSnapshots(0):
        snapshot.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)
    for checkpoint in dom.listAllCheckpoints(0):
        checkpoint.delete(0)


def test_two_migrations_of_one_guest_at_once_move_it_once(guest):
    """Guarantee: two live migrations of the same guest to host B started together: one moves it, the other
    fails naming the domain (or finds it moved already, unchanged); the guest then runs at B only, defined
    there and nowhere else, with no job left and its agent answering."""
    shared_guest.ensure_running(guest)
    args = {"uri": A, "dest_uri": B, "name": guest, "migrate_uri": "tcp://127.0.0.1", "unsafe": True,
            "timeout": 60}
    started = time.monotonic()
    first, second = at_once(("domain_migrate", args), ("domain_migrate", args))
    took = time.monotonic() - started
    print(f"two migrations: {outcome(first)}, {outcome(second)}, both done in {took:.1f} s")
    for result in (first, second):
        assert_clear(result, guest)
    assert [bool(result["changed"]) for result in (first, second)].count(True) == 1, (first, second)
    assert rig_env.domain_places({"A": rig_env.connect(A), "B": rig_env.connect(B)}, guest) == {
        "A": None, "B": ("running", True)}
    dom = domain(guest, B)
    assert_consistent(dom)
    assert rig_env.agent_command(dom, "guest-ping") == {}
