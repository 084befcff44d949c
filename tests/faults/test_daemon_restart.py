"""Host A's libvirtd restarted (SIGTERM: a service restart; SIGKILL: a crash) while a task waits for
a shutdown, a backup job, a block job or a migration.

Each task ends within its timeout, succeeding or failing with a message that names the lost
connection; the guest and the job end consistent; running the task again finishes the work (changed,
then unchanged). Figures: FaultDuring.figures() is printed (pytest -s shows it)."""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import time

import libvirt
import pytest

from daemons import FaultDuring, assert_stayed_at_a, places, restart_daemon
from harness import rig_env, run_module

A = rig_env.HOST_A_URI
B = rig_env.HOST_B_URI
HOW = {"SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}
LOST = re.escape(f"lost the connection to libvirt at '{A}'")


def restart_a(how):
    return lambda: restart_daemon("A", HOW[how])


def fresh(name, uri=A):
    """The domain on a new connection (the test's own died with the daemon)."""
    return rig_env.connect(uri).lookupByName(name)


def after(delay):
    """A READY for FaultDuring: true DELAY seconds after its first call."""
    started = []

    def ready():
        started.append(time.monotonic())
        return started[-1] - started[0] >= delay
    return ready


def assert_clear_failure(result):
    assert result.get("failed") is True, result
    assert re.search(LOST, result["msg"]), result["msg"]


def no_job(dom):
    return dom.jobInfo()[0] == libvirt.VIR_DOMAIN_JOB_NONE


# ---------------------------------------------------------------- domain_state: waiting for a shutdown
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_shutdown_wait(host_a, guest_name, how):
    """Guarantee: a shutdown waiting for the guest ends within its timeout when libvirtd restarts; it
    fails naming the lost connection (or completes), the guest is left running or shut off, never
    half-way, and the same task run again shuts it off, then reports no change."""
    rig_env.define_guest(host_a, guest_name, data_disk=False, acpi_shutdown=False, agent=False)
    args = {"uri": A, "name": guest_name, "state": "shutoff", "force": True, "shutdown_mode": ["acpi"],
            "shutdown_timeout": 3}
    fault = FaultDuring(lambda: run_module("domain_state", args), restart_a(how), after(1.2))
    print(f"shutdown wait, libvirtd A {how}: {fault.figures()}")
    result = fault.result
    assert result.seconds < 3 + 10, fault.figures()
    dom = fresh(guest_name)
    if result.get("failed"):
        assert_clear_failure(result)
        assert result["actions"] == ["shutdown(acpi)"] and dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        again = run_module("domain_state", args)
        assert not again.get("failed") and again["changed"], again
    else:
        assert result["actions"] == ["shutdown(acpi)", "destroy(after shutdown timeout)"], result
    assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    idempotent = run_module("domain_state", args)
    assert not idempotent.get("failed") and idempotent["changed"] is False, idempotent


# ---------------------------------------------------------------- domain_block: waiting for a copy
def block_job_of(dom):
    return lambda: bool(dom.blockJobInfo("vda", 0))


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_block_copy_wait(host_a, guest_name, how):
    """Guarantee: a block copy waiting for its mirror ends within its timeout when libvirtd restarts,
    failing with a message naming the lost connection; the guest keeps running on its original disk, and the
    same task run again finishes the copy (pivot to the destination, no block job left), then reports
    no change."""
    dom = rig_env.define_guest(host_a, guest_name)
    original = rig_env.data_disk_path(guest_name)
    destination = f"{rig_env.IMAGES_DIR}/{guest_name}-copy.qcow2"
    args = {"uri": A, "name": guest_name, "disk": "vda", "job": "copy", "destination": destination,
            "bandwidth": "64KiB", "timeout": 30}
    try:
        fault = FaultDuring(lambda: run_module("domain_block", args), restart_a(how), block_job_of(dom))
        print(f"block copy wait, libvirtd A {how}: {fault.figures()}")
        result = fault.result
        assert result.seconds < 30 + 10, fault.figures()
        dom = fresh(guest_name)
        assert_clear_failure(result)
        # the mirror outlives the task (QEMU runs it, the restarted daemon keeps it): the guest still
        # writes to its original image
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING and source_of(dom) == original
        assert dom.blockJobInfo("vda", 0).get("type") == libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_COPY
        # the same task again, without the throttle that made the fault land mid-copy
        args["bandwidth"] = None
        again = run_module("domain_block", args)
        assert not again.get("failed") and again["changed"], again
        assert again["actions"] == [f"finish the running copy of vda to {destination} and pivot it"], again
        assert again["job"]["phase"] == "pivoted" and again["job"]["success"], again["job"]
        assert source_of(dom) == destination and dom.blockJobInfo("vda", 0) == {}
        assert source_of(dom, libvirt.VIR_DOMAIN_XML_INACTIVE) == destination
        idempotent = run_module("domain_block", args)
        assert not idempotent.get("failed") and idempotent["changed"] is False, idempotent
    finally:
        for path in glob.glob(f"{rig_env.IMAGES_DIR}/{guest_name}-*"):
            os.unlink(path)


def source_of(dom, flags=0):
    from lxml import etree  # pylint: disable=import-outside-toplevel
    return etree.fromstring(dom.XMLDesc(flags)).find("devices/disk/source").get("file")


# ---------------------------------------------------------------- domain_migrate: waiting for a migration
def migration_job_of(dom):
    return lambda: dom.jobInfo()[0] != libvirt.VIR_DOMAIN_JOB_NONE


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_migration_wait(host_a, host_b, guest_name, how):
    """Guarantee: a live migration A -> B ends within its timeout when the source's libvirtd restarts
    mid-job, failing with a message naming the lost connection; the guest keeps running at A (not
    restarted, no job left), nothing is defined at B, and the same task run again moves it, then
    reports no change."""
    dom = rig_env.define_guest(host_a, guest_name, data_disk=False)
    dom_id = dom.ID()
    args = {"uri": A, "dest_uri": B, "name": guest_name, "migrate_uri": rig_env.MIGRATION_URI_TO_B,
            "bandwidth": 1, "timeout": 30}
    fault = FaultDuring(lambda: run_module("domain_migrate", args), restart_a(how), migration_job_of(dom))
    print(f"migration wait, libvirtd A {how}: {fault.figures()}")
    result = fault.result
    assert result.seconds < 30 + 10, fault.figures()
    assert_clear_failure(result)
    assert_stayed_at_a(guest_name, dom_id)
    args.pop("bandwidth")
    again = run_module("domain_migrate", args)
    assert not again.get("failed") and again["changed"], again
    assert places(guest_name) == {"A": None, "B": ("running", True)}, again
    idempotent = run_module("domain_migrate", args)
    assert not idempotent.get("failed") and idempotent["changed"] is False, idempotent


# ---------------------------------------------------------------- domain_backup: waiting for a push backup
BACKUP_MIB = 512


def slowed_backup_of(dom):
    """A READY that, once the backup job runs, slows it to 1 MiB/s inside QEMU (domain_backup has no
    bandwidth option; the job is QEMU's, so QMP can set its speed)."""
    import libvirt_qemu  # pylint: disable=import-outside-toplevel

    def ready():
        try:
            jobs = json.loads(libvirt_qemu.qemuMonitorCommand(dom, '{"execute": "query-block-jobs"}', 0))["return"]
        except libvirt.libvirtError:  # the monitor is busy with the job's start
            return False
        for job in jobs:
            libvirt_qemu.qemuMonitorCommand(dom, json.dumps({"execute": "block-job-set-speed", "arguments": {
                "device": job["device"], "speed": 1024 * 1024}}), 0)
        return bool(jobs)
    return ready


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_backup_wait(host_a, guest_name, how):
    """Guarantee: a push backup waiting for its job ends within its timeout when libvirtd restarts,
    failing with a message naming the lost connection; the guest keeps running with no job left and
    the same task run again makes a complete backup (changed), then reports no change."""
    disk = rig_env.make_data_disk(rig_env.data_disk_path(guest_name))
    subprocess.run(["qemu-img", "resize", "-q", disk, f"{BACKUP_MIB}M"], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P 0x5a 0 {BACKUP_MIB}M", disk], check=True,
                   capture_output=True)
    dom = rig_env.define_guest(host_a, guest_name, data_disk=disk)
    target = f"{rig_env.IMAGES_DIR}/{guest_name}-backup"
    os.makedirs(target)
    args = {"uri": A, "name": guest_name, "checkpoint": "cp-1", "backup": {"target_dir": target, "timeout": 30}}
    try:
        fault = FaultDuring(lambda: run_module("domain_backup", args), restart_a(how), slowed_backup_of(dom))
        print(f"backup wait, libvirtd A {how}: {fault.figures()}\n{fault.result.get('msg')}")
        result = fault.result
        assert result.seconds < 30 + 45, fault.figures()  # the job's timeout, then the undo's reconnection window
        assert_clear_failure(result)
        dom = fresh(guest_name)
        # undone: no job writing on, no file, no checkpoint without its backup
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING and no_job(dom), dom.jobInfo()
        assert dom.listAllCheckpoints(0) == [] and os.listdir(target) == [], result["msg"]
        again = run_module("domain_backup", args)
        assert not again.get("failed") and again["changed"], again
        assert again["backup"]["job"]["success"] and [c.getName() for c in dom.listAllCheckpoints(0)] == ["cp-1"]
        assert os.path.getsize(f"{target}/vda.qcow2") > BACKUP_MIB * 1024 * 1024
        idempotent = run_module("domain_backup", args)
        assert not idempotent.get("failed") and idempotent["changed"] is False, idempotent
    finally:
        shutil.rmtree(target, ignore_errors=True)
