"""domain_backup on the real rig: checkpoints, retention, push backups (full, incremental, restored and
compared), a pull backup over NBD, timeouts and bad input.

One booted guest serves the whole file; each test leaves it running with no checkpoint or job, so
the tests do not depend on each other's order.
"""

import base64
import glob
import os
import shutil
import subprocess
import time

import libvirt
import pytest

from harness import rig_env, run_module

URI = rig_env.HOST_A_URI
WORK_DIR = "/var/lib/libvirt/images/virtops/backup-tests"
JOB_SHAPE = {"type", "success", "error", "seconds", "data_total", "data_processed", "data_remaining"}


@pytest.fixture(scope="module")
def guest(host_a):
    name = f"virtops-bkp-{os.getpid() % 100000}"
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
def clean_slate(request):
    """After each test: the shared guest runs with no checkpoint or job."""
    yield
    if "guest" not in request.fixturenames:
        return
    dom = request.getfixturevalue("guest")
    if dom.jobStats(0).get("type", 0) != 0:
        dom.abortJob()
    for checkpoint in dom.listAllCheckpoints(0):
        checkpoint.delete(0)  # with its bitmaps
    if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
        dom.resume()


def guest_shell(dom, command, timeout=30):
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


def checkpoint_names(dom):
    return sorted(checkpoint.getName() for checkpoint in dom.listAllCheckpoints(0))


def backup(dom, check_mode=False, **args):
    return run_module("domain_backup", {"uri": URI, "name": dom.name(), **args}, check_mode=check_mode, diff=True)


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def qemu_img(*args):
    return subprocess.run(["qemu-img", *args], capture_output=True, text=True, check=True).stdout


def test_full_and_incremental_backup_restore_to_the_guest_disk(guest, workdir):
    full_dir, inc_dir = f"{workdir}/full", f"{workdir}/inc"
    os.makedirs(full_dir)
    os.makedirs(inc_dir)
    guest_shell(guest, "dd if=/dev/urandom of=/mnt/data/big bs=1M count=16 2>/dev/null; sync")

    predicted = ok(backup(guest, check_mode=True, checkpoint="cp-full", backup={"target_dir": full_dir}))
    assert predicted["changed"] and os.listdir(full_dir) == [] and checkpoint_names(guest) == []

    full = ok(backup(guest, checkpoint="cp-full", backup={"target_dir": full_dir}))
    job = full["backup"]["job"]
    assert full["changed"] and full["actions"] == predicted["actions"] and full["diff"] == predicted["diff"]
    assert JOB_SHAPE <= set(job) and job["type"] == "completed" and job["success"] is True and job["error"] is None
    assert job["data_processed"] == job["data_total"] == job["disk_total"] > 0 and job["seconds"] > 0
    assert checkpoint_names(guest) == ["cp-full"] and full["checkpoint"]["name"] == "cp-full"
    full_size = os.path.getsize(f"{full_dir}/vda.qcow2")
    assert full_size == full["backup"]["sizes"]["vda"] > 16 * 1024 * 1024
    again = ok(backup(guest, checkpoint="cp-full", backup={"target_dir": full_dir}))
    assert not again["changed"] and again["backup"]["skipped"]

    guest_shell(guest, "echo changed-after-full > /mnt/data/small; sync")
    guest.suspend()  # nothing changes the disk from here on: the restore must equal it exactly
    inc = ok(backup(guest, checkpoint="cp-inc", backup={"target_dir": inc_dir, "incremental": "cp-full"}))
    assert inc["backup"]["incremental"] == "cp-full" and inc["backup"]["job"]["success"]
    inc_size = os.path.getsize(f"{inc_dir}/vda.qcow2")
    assert inc_size * 10 < full_size, (inc_size, full_size)
    assert checkpoint_names(guest) == ["cp-full", "cp-inc"]
    print(f"full backup {full_size} bytes in {full['backup']['seconds']} s, "
          f"incremental {inc_size} bytes in {inc['backup']['seconds']} s")

    restored = f"{workdir}/restored.qcow2"
    shutil.copyfile(f"{full_dir}/vda.qcow2", f"{workdir}/full-copy.qcow2")
    shutil.copyfile(f"{inc_dir}/vda.qcow2", f"{workdir}/inc-copy.qcow2")
    qemu_img("rebase", "-u", "-F", "qcow2", "-b", f"{workdir}/full-copy.qcow2", f"{workdir}/inc-copy.qcow2")
    qemu_img("convert", "-O", "qcow2", f"{workdir}/inc-copy.qcow2", restored)
    qemu_img("compare", "-U", restored, rig_env.data_disk_path(guest.name()))
    # the full backup alone is NOT the current disk (the comparison can fail)
    differs = subprocess.run(["qemu-img", "compare", "-U", f"{full_dir}/vda.qcow2",
                              rig_env.data_disk_path(guest.name())], capture_output=True, check=False)
    assert differs.returncode == 1
    guest.resume()

    assert ok(backup(guest, checkpoint="cp-full", state="absent"))["changed"]
    assert checkpoint_names(guest) == ["cp-inc"]


def test_checkpoint_alone_present_and_absent(guest):
    predicted = ok(backup(guest, check_mode=True, checkpoint="cp"))
    assert predicted["changed"] and checkpoint_names(guest) == []
    created = ok(backup(guest, checkpoint="cp", description="before the upgrade"))
    assert created["changed"] and created["checkpoint"]["disks"][0]["checkpoint"] == "bitmap"
    assert created["actions"] == predicted["actions"] == ["create checkpoint 'cp'"]
    assert not ok(backup(guest, checkpoint="cp"))["changed"]
    assert ok(backup(guest, checkpoint="cp", state="absent"))["changed"]
    assert not ok(backup(guest, checkpoint="cp", state="absent"))["changed"]
    assert checkpoint_names(guest) == []


def test_nightly_incremental_backups_keep_the_newest_checkpoints_and_their_bitmaps(guest, workdir):
    nights = [f"{workdir}/night-{night}" for night in (1, 2, 3, 4)]
    for path in nights:
        os.makedirs(path)
    nightly = {"prefix": "nightly-", "retain": 2}
    ok(backup(guest, checkpoint="nightly-1", backup={"target_dir": nights[0]}, **nightly))
    for night in (2, 3):
        guest_shell(guest, f"echo night {night} > /mnt/data/night-{night}; sync")
        done = ok(backup(guest, checkpoint=f"nightly-{night}", backup={
            "target_dir": nights[night - 1], "incremental": f"nightly-{night - 1}"}, **nightly))
        assert done["backup"]["job"]["success"]
    assert done["deleted"] == ["nightly-1"] and done["actions"][-1] == "delete checkpoint 'nightly-1'"
    assert checkpoint_names(guest) == ["nightly-2", "nightly-3"] == [c["name"] for c in done["checkpoints"]]
    assert "nightly-1" not in "".join(part["after"] for part in done["diff"])
    assert "nightly-1" in "".join(part["before"] for part in done["diff"])
    # the kept checkpoints' bitmaps are there (libvirt asks QEMU for their sizes; a missing one fails)
    for name in ("nightly-2", "nightly-3"):
        sized = guest.checkpointLookupByName(name).getXMLDesc(libvirt.VIR_DOMAIN_CHECKPOINT_XML_SIZE)
        assert "size=" in sized, sized
    since_2 = ok(backup(guest, check_mode=True, checkpoint="nightly-4",
                        backup={"target_dir": nights[3], "incremental": "nightly-2"}, **nightly))
    assert since_2["deleted"] == ["nightly-2"] and checkpoint_names(guest) == ["nightly-2", "nightly-3"]
    ok(backup(guest, checkpoint="nightly-4", backup={"target_dir": nights[3], "incremental": "nightly-2"}, **nightly))
    assert checkpoint_names(guest) == ["nightly-3", "nightly-4"]


def test_bad_backup_input_fails_clearly_and_changes_nothing(guest, workdir):
    cases = [
        ({"target_dir": workdir, "disks": ["vdz"]}, "no disk 'vdz'"),
        ({"target_dir": workdir, "incremental": "nope"}, "no checkpoint 'nope'"),
        ({"target_dir": f"{workdir}/missing"}, "does not exist"),
    ]
    for options, message in cases:
        failed = backup(guest, checkpoint="cp-bad", backup=options)
        assert failed["failed"] and message in failed["msg"] and guest.name() in failed["msg"], failed
    readonly = f"{workdir}/ro"
    os.makedirs(readonly)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", readonly], check=True)
    try:
        failed = backup(guest, checkpoint="cp-bad", backup={"target_dir": readonly})
    finally:
        subprocess.run(["umount", readonly], check=True)
    assert failed["failed"] and "not writable" in failed["msg"], failed
    assert checkpoint_names(guest) == [] and os.listdir(workdir) == ["ro"]
    assert guest.jobStats(0).get("type", 0) == 0


@pytest.mark.parametrize("args, message", [
    ({"backup": {"target_dir": "/tmp", "socket": "/tmp/s"}}, "backup.socket applies to pull mode only"),
    ({"state": "absent", "backup": {"mode": "pull", "scratch_dir": "/tmp"}},
     "backup.scratch_dir does not apply to state=absent"),
    ({"checkpoint": "c", "disks": ["vda"], "backup": {"target_dir": "/tmp"}}, "disks applies to a checkpoint created alone"),
    ({"state": "absent", "checkpoint": "c", "retain": 1, "prefix": "c"}, "retain does not apply to state=absent"),
    ({"snapshot": "s"}, "Unsupported parameters"),
])
def test_options_that_do_not_apply_are_refused(guest, args, message):
    failed = backup(guest, **args)
    assert failed["failed"] and message in failed["msg"], failed
    assert checkpoint_names(guest) == [] and guest.jobStats(0).get("type", 0) == 0


def test_domain_snapshot_no_longer_takes_checkpoints_or_backups(guest, workdir):
    for args in ({"checkpoint": "cp"}, {"snapshot": "s", "backup": {"target_dir": workdir}}):
        failed = run_module("domain_snapshot", {"uri": URI, "name": guest.name(), **args})
        assert failed["failed"] and "Unsupported parameters" in failed["msg"], failed
    assert checkpoint_names(guest) == [] and guest.snapshotNum(0) == 0


def test_backup_timeout_aborts_the_job_and_removes_what_it_started(guest, workdir):
    guest_shell(guest, "dd if=/dev/urandom of=/mnt/data/big bs=1M count=40 2>/dev/null; sync")
    failed = backup(guest, checkpoint="cp-t", backup={"target_dir": workdir, "timeout": 0})
    assert failed["failed"] and "did not finish within 0 s" in failed["msg"] and "aborted" in failed["msg"], failed
    assert JOB_SHAPE <= set(failed["job"]) and failed["job"]["success"] is False
    assert not failed["changed"], "everything it started was removed"
    assert guest.jobStats(0).get("type", 0) == 0
    assert os.listdir(workdir) == [] and checkpoint_names(guest) == []
    guest_shell(guest, "rm /mnt/data/big; sync")


def test_pull_backup_exports_over_nbd_until_ended(guest, workdir):
    os.chmod(workdir, 0o777)  # QEMU (not root) creates the socket
    scratch = f"{workdir}/scratch"
    os.makedirs(scratch)
    socket = f"{workdir}/nbd.sock"
    options = {"mode": "pull", "scratch_dir": scratch, "socket": socket}
    started = ok(backup(guest, checkpoint="cp-pull", backup=options))
    job = started["backup"]["job"]
    assert started["changed"] and job["operation"] == libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP
    assert job["type"] == "unbounded" and job["success"] is None and JOB_SHAPE <= set(job)
    assert "exportname='vda'" in started["backup"]["xml"] and checkpoint_names(guest) == ["cp-pull"]
    info = qemu_img("info", "--output=json", f"nbd+unix:///vda?socket={socket}")
    assert '"virtual-size": 67108864' in info
    assert not ok(backup(guest, checkpoint="cp-pull", backup=options))["changed"]
    # ending needs only the domain, and refuses the start options
    refused = backup(guest, state="absent", backup=options)
    assert refused["failed"] and "does not apply to state=absent" in refused["msg"], refused
    predicted = ok(backup(guest, check_mode=True, state="absent", backup={"mode": "pull"}))
    assert predicted["actions"] == ["end the running backup job"] and guest.jobStats(0).get("type", 0) != 0
    ended = ok(backup(guest, state="absent", backup={"mode": "pull"}))
    assert ended["changed"] and ended["actions"] == predicted["actions"] and guest.jobStats(0).get("type", 0) == 0
    assert ended["diff"] == [{"before": "backup_job: running\n", "after": "backup_job: null\n"}]
    assert not ok(backup(guest, state="absent", backup={}))["changed"]


def test_push_backup_through_a_remote_uri_is_idempotent(host_a, guest, workdir):
    """A remote URI cannot stat the host's files: libvirt's storage driver looks (here in-process,
    with the runner told its URI is remote, since the rig's daemons are all local)."""
    from ansible_collections.virtops.libvirt.plugins.module_utils._backup import BackupOptions, BackupRunner
    from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
    from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
    from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder

    remote = "qemu+ssh://root@this-host.example.com/system"
    pools = sorted(pool.name() for pool in host_a.listAllStoragePools(0))
    options = BackupOptions.from_params({"target_dir": workdir})
    with Connection(ConnectionParams(uri=URI)) as connection:
        domain = Domain.lookup(connection, name=guest.name())
        first = ChangeRecorder(False)
        done = BackupRunner(domain, first, remote).run(options, "cp-remote")
        assert first.actions and done["backup"]["job"]["success"]
        assert os.path.exists(f"{workdir}/vda.qcow2")
        for check_mode in (True, False):
            recorder = ChangeRecorder(check_mode)
            again = BackupRunner(domain, recorder, remote).run(options, "cp-remote")
            assert again["backup"]["skipped"] and recorder.actions == [], again
        missing = BackupOptions.from_params({"target_dir": f"{workdir}/missing"})
        with pytest.raises(Exception, match="cannot be read on the libvirt host"):
            BackupRunner(domain, ChangeRecorder(True), remote).run(missing, "cp-other")
    assert checkpoint_names(guest) == ["cp-remote"]
    assert sorted(pool.name() for pool in host_a.listAllStoragePools(0)) == pools  # the looks left no pool
