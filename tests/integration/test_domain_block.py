"""domain_block on the real rig: copy + pivot, active commit, pull and rebase, resize, I/O limits, timeouts, bad input.

Each test boots its own tiny guest (guest_name) whose data disk vda is a qcow2 mounted on
rig_env.GUEST_DATA_MOUNT; images a test makes are named after the guest and removed afterwards.
"""

import glob
import os
import shutil
import subprocess
import time

import libvirt
import pytest

from harness import rig_env, run_module

URI = rig_env.HOST_A_URI
JOB_SHAPE = {"type", "success", "error", "seconds", "data_total", "data_processed", "data_remaining"}


@pytest.fixture
def guest(host_a, guest_name):
    dom = rig_env.define_guest(host_a, guest_name)
    rig_env.wait_agent(dom, timeout=120)
    yield dom
    rig_env.cleanup_domain(host_a, guest_name)
    for path in glob.glob(f"{rig_env.IMAGES_DIR}/{guest_name}-*"):
        os.unlink(path)


def image(dom, suffix):
    return f"{rig_env.IMAGES_DIR}/{dom.name()}-{suffix}.qcow2"


def block(dom, check_mode=False, **args):
    return run_module("domain_block", {"uri": URI, "name": dom.name(), "disk": "vda", **args}, check_mode=check_mode,
                      diff=True)


def source_of(dom, flags=0):
    from lxml import etree  # pylint: disable=import-outside-toplevel
    return etree.fromstring(dom.XMLDesc(flags)).find("devices/disk/source").get("file")


def chain_of(result):
    return [layer["source"] for layer in result["disk"]["backing_chain"]]


def external_snapshot(dom, overlay):
    """An external disk-only snapshot of vda (no metadata): OVERLAY becomes the active image."""
    xml = (f"<domainsnapshot><disks><disk name='vda' snapshot='external'><source file='{overlay}'/></disk>"
           "</disks></domainsnapshot>")
    dom.snapshotCreateXML(xml, libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA)


def not_locked(path):
    """Whether no QEMU holds PATH open: qemu-img (without -U) cannot take the lock of an image in use."""
    return subprocess.run(["qemu-img", "info", path], capture_output=True, check=False).returncode == 0


def test_copy_and_pivot_keeps_the_guest_and_its_data(guest):
    original = source_of(guest)
    payload = rig_env.write_guest_data(guest, mib=4)
    destination = image(guest, "copy")
    predicted = block(guest, check_mode=True, job="copy", destination=destination)
    assert predicted["changed"] and predicted["actions"] == [f"copy vda to {destination} and pivot it"]
    assert source_of(guest) == original and not os.path.exists(destination), "check mode changes nothing"
    result = block(guest, job="copy", destination=destination)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] and result["disk"]["source"] == destination == source_of(guest)
    assert JOB_SHAPE <= set(result["job"]) and result["job"]["success"] and result["job"]["phase"] == "pivoted"
    assert result["diff"] == predicted["diff"]
    assert guest.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert rig_env.guest_data_md5(guest) == payload
    assert not_locked(original), "the old image is no longer in use"
    assert source_of(guest, libvirt.VIR_DOMAIN_XML_INACTIVE) == destination, "the next boot uses the copy too"
    again = block(guest, job="copy", destination=destination)
    assert again["changed"] is False and again["job"] is None


def test_peek_reads_the_ext4_superblock_magic_of_a_raw_disk_and_refuses_qcow2_clearly(host_a, guest_name):
    raw = f"{rig_env.IMAGES_DIR}/{guest_name}-raw.img"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "raw", rig_env.DATA_BASE_IMAGE, raw], check=True)
    try:
        dom = rig_env.define_guest(host_a, guest_name, extra_devices=(
            "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            f"<source file='{raw}'/><target dev='vdb' bus='virtio'/></disk>"))
        result = block(dom, disk="vdb", peek={"offset": 1024 + 56, "size": 2})  # s_magic, little-endian 0xEF53
        assert not result.get("failed"), result.get("msg")
        assert result["peek"] == {"offset": 1080, "size": 2, "data": "U+8="} and result["changed"] is False
        refused = block(dom, disk="vda", peek={"size": 2})
        assert refused["failed"] and f"domain '{guest_name}': read 2 bytes of vda failed" in refused["msg"]
        assert "raw" in refused["msg"]
    finally:
        os.unlink(raw)


def test_active_commit_after_an_external_snapshot_brings_the_chain_back_to_one_file(guest):
    original = source_of(guest)
    overlay = image(guest, "overlay")
    external_snapshot(guest, overlay)
    payload = rig_env.write_guest_data(guest, mib=2)  # lands in the overlay
    result = block(guest, job="commit")
    assert not result.get("failed"), result.get("msg")
    assert result["actions"] == ["commit the active image of vda into its base and pivot it"]
    assert chain_of(result) == [original] == [source_of(guest)] and result["job"]["phase"] == "pivoted"
    assert rig_env.guest_data_md5(guest) == payload
    assert block(guest, job="commit")["changed"] is False


def test_pull_into_an_overlay_and_rebase_onto_a_new_base_each_unchanged_the_second_time(guest):
    original = source_of(guest)
    first, second, third = image(guest, "s1"), image(guest, "s2"), image(guest, "s3")
    external_snapshot(guest, first)
    payload = rig_env.write_guest_data(guest, mib=1)
    result = block(guest, job="pull")
    assert not result.get("failed"), result.get("msg")
    assert chain_of(result) == [first] and result["job"]["phase"] == "completed"
    assert block(guest, job="pull")["changed"] is False
    assert rig_env.guest_data_md5(guest) == payload
    # first <- second <- third: rebase third onto first (second is pulled into it)
    external_snapshot(guest, second)
    external_snapshot(guest, third)
    result = block(guest, job="rebase", base=first)
    assert not result.get("failed"), result.get("msg")
    assert chain_of(result) == [third, first]
    assert block(guest, job="rebase", base=first)["changed"] is False
    assert rig_env.guest_data_md5(guest) == payload and original not in chain_of(result)


def test_resize_grows_the_disk_the_guest_sees_it_and_shrinking_is_refused(guest):
    before = guest.blockInfo("vda", 0)[0]
    wanted = before + 64 * 1024 ** 2
    result = block(guest, size="+64MiB")
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] and result["disk"]["capacity"] == wanted
    assert guest_sees(guest, wanted), "the guest's /sys/block/vda/size shows the new capacity"
    assert block(guest, size=str(wanted))["changed"] is False
    refused = block(guest, size="16MiB")
    assert refused["failed"] and refused["changed"] is False and "allow_shrink" in refused["msg"]
    assert guest.blockInfo("vda", 0)[0] == wanted


def test_a_shut_off_domain_grows_its_disk_through_the_storage_pool_holding_it(host_a, guest_name):
    directory = f"{rig_env.IMAGES_DIR}/{guest_name}-pool"  # its own directory: pools may not share a path
    os.makedirs(directory, exist_ok=True)
    pool = None
    try:
        dom = rig_env.define_guest(host_a, guest_name, start=False,
                                   data_disk=rig_env.make_data_disk(f"{directory}/data.qcow2"))
        pool = host_a.storagePoolCreateXML(f"<pool type='dir'><name>{guest_name}</name><target><path>{directory}</path>"
                                           "</target></pool>", 0)
        wanted = dom.blockInfo("vda", 0)[0] + 32 * 1024 ** 2
        result = block(dom, size="+32MiB")
        assert not result.get("failed"), result.get("msg")
        assert result["actions"] == [f"resize vda to {wanted} bytes (offline)"] and result["disk"]["capacity"] == wanted
        assert dom.blockInfo("vda", 0)[0] == wanted
        assert block(dom, size=str(wanted))["changed"] is False
        pool.destroy()  # a transient pool vanishes
        pool = None
        refused = block(dom, size="+1MiB")
        assert refused["failed"] and refused["changed"] is False and "in no active storage pool" in refused["msg"]
        assert dom.blockInfo("vda", 0)[0] == wanted
    finally:
        if pool is not None:
            pool.destroy()
        shutil.rmtree(directory, ignore_errors=True)


def guest_sees(dom, capacity, seconds=10):
    """Whether the guest's kernel reports CAPACITY bytes for vda within SECONDS (the resize reaches it as an event)."""
    deadline = time.monotonic() + seconds
    while int(rig_env.guest_shell(dom, "cat /sys/block/vda/size")) * 512 != capacity:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def virsh(*args):
    """virsh's `key : value` lines as a dict of texts."""
    out = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, check=True).stdout
    pairs = (line.split(":", 1) for line in out.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs if value.strip()}


def test_iotune_and_blkio_are_set_read_back_and_unchanged_the_second_time(guest):
    iotune = {"total_bytes_sec": "10MiB", "total_iops_sec": 500, "group_name": "virtops-io"}
    result = block(guest, iotune=iotune)
    assert not result.get("failed"), result.get("msg")
    shown = virsh("blkdeviotune", guest.name(), "vda")
    assert (shown["total_bytes_sec"], shown["total_iops_sec"], shown["group_name"]) == ("10485760", "500", "virtops-io")
    assert block(guest, iotune=iotune)["changed"] is False
    result = block(guest, blkio={"weight": 300})
    assert not result.get("failed"), result.get("msg")
    assert virsh("blkiotune", guest.name())["weight"] == "300"
    assert block(guest, blkio={"weight": 300})["changed"] is False


def test_a_copy_aborted_at_its_timeout_leaves_the_guest_on_its_original_disk(guest):
    original = source_of(guest)
    result = block(guest, job="copy", destination=image(guest, "slow"), bandwidth="64KiB", timeout=2)
    assert result["failed"] and "did not finish within 2 s" in result["msg"] and "the job was aborted" in result["msg"]
    assert JOB_SHAPE <= set(result["job"]) and result["job"]["success"] is False
    assert source_of(guest) == original and guest.blockJobInfo("vda", 0) == {}
    assert guest.state()[0] == libvirt.VIR_DOMAIN_RUNNING


def test_a_copy_to_an_existing_destination_without_reuse_external_fails_cleanly(guest):
    original = source_of(guest)
    existing = image(guest, "existing")
    with open(existing, "wb") as handle:
        handle.write(b"not yours" * 1000)
    result = block(guest, job="copy", destination=existing)
    assert result["failed"] and result["changed"] is False and guest.name() in result["msg"]
    assert source_of(guest) == original and guest.blockJobInfo("vda", 0) == {}
    with open(existing, "rb") as handle:
        assert handle.read(9) == b"not yours", "the existing file is left alone"


@pytest.mark.parametrize("args, message", [
    ({"disk": "vdq"}, "has no disk 'vdq'"),
    ({"size": "-1G"}, "size must not be negative"),
    ({"iotune": {"total_bytes_sec": 1048576, "read_bytes_sec": 1048576}}, "vda"),
])
def test_bad_input_fails_naming_the_domain_and_disk_with_nothing_changed(guest, args, message):
    before = guest.XMLDesc(0)
    result = block(guest, **args)
    assert result["failed"] and result["changed"] is False and message in result["msg"], result
    assert f"domain '{guest.name()}'" in result["msg"]
    assert guest.XMLDesc(0) == before


def test_a_mirror_left_running_is_reported_and_cut_over_by_abort_with_pivot(guest):
    destination = image(guest, "mirror")
    result = block(guest, job="copy", destination=destination, finish="mirror")
    assert not result.get("failed"), result.get("msg")
    assert result["job"]["phase"] == "mirroring" and guest.blockJobInfo("vda", 0) != {}
    # the same task again: the mirror it wants runs already (a task that asks for a pivot finishes it
    # instead: tests/faults/test_daemon_restart.py::test_block_copy_wait)
    again = block(guest, job="copy", destination=destination, finish="mirror")
    assert again["changed"] is False and "already runs on vda" in str(again.get("warnings"))
    result = block(guest, job="abort", pivot=True)
    assert result["changed"] and result["disk"]["source"] == destination == source_of(guest)
    assert guest.blockJobInfo("vda", 0) == {} and block(guest, job="abort")["changed"] is False


def test_a_write_threshold_is_set_once(guest):
    result = block(guest, threshold="80%")
    assert not result.get("failed"), result.get("msg")
    wanted = int(guest.blockInfo("vda", 0)[0] * 0.8)
    assert result["actions"] == [f"set the write threshold of vda to {wanted} bytes"]
    assert result["diff"] and block(guest, threshold="80%")["changed"] is False
