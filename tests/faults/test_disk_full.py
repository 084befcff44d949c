"""A full disk: a small tmpfs as the target of a backup and of an external snapshot.

One booted guest (the ext4 data disk, vda) serves the file. A tmpfs of a few MiB under the rig's images
directory (QEMU, user libvirt-qemu, writes there: mode 0777) is mounted before the guest starts, emptied
and shrunk for each test, and unmounted after the guest is gone. Each test prints the figures the fault
suite's README table quotes.
"""

import os
import shutil
import subprocess
import time

import libvirt
import pytest
from lxml import etree

import shared_guest
from harness import rig_env, run_module
from shared_guest import domain

URI = rig_env.HOST_A_URI
SLACK = 3.0  # seconds a module process may take beyond the work itself


@pytest.fixture(scope="module")
def tmpfs(rig):  # pylint: disable=unused-argument  # rig: fails the test when the rig is down
    """A tmpfs QEMU can write to. Mounted BEFORE the guest starts: QEMU runs in its own mount namespace,
    which does not see mounts made later."""
    path = f"{rig_env.IMAGES_DIR}/{shared_guest.unique_name('dfull')}-small"
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0777", "tmpfs", path], check=True)
    yield path
    subprocess.run(["umount", "-l", path], check=True)
    os.rmdir(path)


@pytest.fixture(scope="module")
def guest(tmpfs):  # pylint: disable=unused-argument  # the tmpfs must exist before QEMU starts
    name = shared_guest.boot(shared_guest.unique_name("dfull"))
    yield name
    shared_guest.remove(name)


@pytest.fixture
def workdir(guest):
    path = f"{rig_env.IMAGES_DIR}/{guest}-work-{time.monotonic_ns()}"
    os.makedirs(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def small_disk(tmpfs, guest):  # pylint: disable=unused-argument
    """The tmpfs, empty and 2 MiB small; resize() gives it more room."""
    for entry in os.listdir(tmpfs):
        os.unlink(f"{tmpfs}/{entry}")
    resize(tmpfs, "2m")
    return tmpfs


def resize(path, size):
    subprocess.run(["mount", "-o", f"remount,size={size}", path], check=True)


def checkpoint_names(dom):
    return sorted(checkpoint.getName() for checkpoint in dom.listAllCheckpoints(0))


def disks_xml(dom):
    root = etree.fromstring(dom.XMLDesc(0))
    return [etree.tostring(disk) for disk in root.findall("devices/disk")]


def no_job_left(dom):
    assert dom.jobStats(0).get("type", 0) == libvirt.VIR_DOMAIN_JOB_NONE, dom.jobStats(0)
    assert not dom.blockJobInfo("vda", 0), dom.blockJobInfo("vda", 0)


def backup(name, **args):
    started = time.monotonic()
    result = run_module("domain_backup", {"uri": URI, "name": name, **args})
    return result, time.monotonic() - started


def test_a_backup_that_fills_its_target_fails_cleanly_and_the_next_incremental_succeeds(guest, workdir, small_disk):
    """Guarantee: an incremental push backup whose target fills up fails with the domain named, its partial
    file and its new checkpoint removed and no job left; the checkpoint it started from still works: the
    same incremental backup succeeds once the target has room."""
    dom = domain(guest)
    try:
        full, _took = backup(guest, checkpoint="full", backup={"target_dir": workdir, "timeout": 60})
        assert full.get("failed") is not True, full.get("msg")
        rig_env.write_guest_data(dom, "fill", mib=8)  # more than the 2 MiB the target has

        incremental = {"checkpoint": "inc", "backup": {"target_dir": small_disk, "incremental": "full", "timeout": 60}}
        failed, took = backup(guest, **incremental)
        print(f"backup target full: failed after {took:.1f} s: {failed.get('msg')}")
        assert failed.get("failed") is True and failed["changed"] is False, failed
        assert guest in failed["msg"], failed["msg"]
        assert os.listdir(small_disk) == [], "the partial backup file was left behind"
        assert checkpoint_names(dom) == ["full"]
        no_job_left(dom)
        assert took < 60, f"took {took:.1f} s"

        resize(small_disk, "64m")
        done, took = backup(guest, **incremental)
        print(f"after freeing space: incremental backup in {took:.1f} s")
        assert done.get("failed") is not True, done.get("msg")
        assert done["backup"]["incremental"] == "full" and done["backup"]["job"]["success"] is True
        assert os.path.getsize(f"{small_disk}/vda.qcow2") > 8 * 1024 * 1024
        assert checkpoint_names(dom) == ["full", "inc"]
        no_job_left(dom)
    finally:
        for checkpoint in domain(guest).listAllCheckpoints(0):
            checkpoint.delete(0)


def test_an_external_snapshot_that_fills_its_target_fails_cleanly(guest, small_disk):
    """Guarantee: an external snapshot whose memory file (or overlay) does not fit its target fails with the
    domain named; no snapshot, no overlay or memory file is left, the disks are the ones from before, the
    guest runs on (not paused) and no job is left."""
    dom = domain(guest)
    disks = disks_xml(dom)
    with_memory = {"snapshot": "mem", "location": "external", "memory": True, "memory_file": f"{small_disk}/mem",
                   "disks": [{"target": "vda", "snapshot": "external", "file": f"{small_disk}/vda.overlay"}]}
    subprocess.run(["dd", "if=/dev/zero", f"of={small_disk}/filler", "bs=64k"], capture_output=True, check=False)
    disk_only = {"snapshot": "disk", "location": "external", "memory": False,
                 "disks": [{"target": "vda", "snapshot": "external", "file": f"{small_disk}/vda.overlay"}]}
    for args, room in ((disk_only, "none"), (with_memory, "2 MiB for 256 MiB of memory")):
        if args is with_memory:
            os.unlink(f"{small_disk}/filler")
        started = time.monotonic()
        failed = run_module("domain_snapshot", {"uri": URI, "name": guest, **args})
        took = time.monotonic() - started
        print(f"snapshot target full ({room}): failed after {took:.1f} s: {failed.get('msg')}")
        assert failed.get("failed") is True and failed["changed"] is False, failed
        assert guest in failed["msg"], failed["msg"]
        assert dom.snapshotNum(0) == 0
        assert sorted(os.listdir(small_disk)) == (["filler"] if args is disk_only else [])
        assert disks_xml(dom) == disks
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING, dom.state()
        no_job_left(dom)
    assert rig_env.agent_command(dom, "guest-ping") == {}
