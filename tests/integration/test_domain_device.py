"""domain_device on the real rig: disk and NIC hot-plug and unplug, CD-ROM media, check mode and diff, bad input.

Each test boots its own tiny guest (guest_name): the rig's `pc` guest (ACPI PCI hot-plug, data disk vda mounted
in the guest) or a production-style q35 guest with spare pcie-root-port controllers. Images a test makes are named
after the guest and removed afterwards. What libvirt 9.0 / QEMU 7.2 do here is written down in tests/rig/README.md
("Verified device facts").
"""

import glob
import os
import subprocess
import threading
import time

import libvirt
import pytest
from lxml import etree

from harness import rig_env, run_module

URI = rig_env.HOST_A_URI
LIVE_XML = 0
CONFIG_XML = libvirt.VIR_DOMAIN_XML_INACTIVE
NIC_MAC = "52:54:00:d1:0c:12"


# --- guests and images -------------------------------------------------------------------------------------------


def q35_template(name, disk, *, root_ports=10, extra_devices=""):
    """A production-style q35 guest (explicit pcie-root + spare pcie-root-ports, a virtio disk with cache=none,
    an empty SATA CD-ROM, RNG, balloon) booting the rig's tiny agent guest. libvirt puts the built-in PCIe
    devices on the given root ports first, so a hot-plug needs more ports than the guest has devices."""
    ports = "\n    ".join("<controller type='pci' model='pcie-root-port'/>" for _port in range(root_ports))
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>384</memory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{rig_env.KERNEL}</kernel>
    <initrd>{rig_env.INITRD}</initrd>
    <cmdline>console=ttyS0 loglevel=4</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <controller type='pci' index='0' model='pcie-root'/>
    {ports}
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none' discard='unmap'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    {extra_devices}
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <serial type='pty'><log file='{rig_env.serial_log_path(name)}' append='on'/><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='virtio'/>
  </devices>
</domain>"""


def boot(host_a, name, xml=None, **guest_kwargs):
    """Define and start NAME (the rig's pc guest, or XML as is) and wait until its agent answers."""
    if xml is None:
        dom = rig_env.define_guest(host_a, name, **guest_kwargs)
    else:
        dom = host_a.defineXML(xml)
        dom.create()
    rig_env.wait_agent(dom, timeout=180)
    return dom


def remove_images(name):
    for path in glob.glob(f"{rig_env.IMAGES_DIR}/{name}-*"):
        os.unlink(path)


@pytest.fixture
def guest(host_a, guest_name):
    """The rig's pc guest, running, with its data disk vda."""
    yield boot(host_a, guest_name)
    rig_env.cleanup_domain(host_a, guest_name)
    remove_images(guest_name)


def image(dom, suffix, fmt="qcow2", size="32M"):
    """A fresh image named after the guest (removed with it)."""
    path = f"{rig_env.IMAGES_DIR}/{dom.name()}-{suffix}.{fmt}"
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, path, size], check=True)
    os.chmod(path, 0o644)
    return path


# --- running the module and reading what libvirt has ------------------------------------------------------------


def device(dom, check_mode=False, **args):
    return run_module("domain_device", {"uri": URI, "name": dom.name(), **args}, check_mode=check_mode, diff=True)


def succeeded(result):
    assert not result.get("failed"), result.get("msg")
    return result


def definitions(dom):
    """The live and the persistent XML, secrets included (what must stay as it was after a refusal)."""
    secure = libvirt.VIR_DOMAIN_XML_SECURE
    return dom.XMLDesc(secure | LIVE_XML) if dom.isActive() else None, dom.XMLDesc(secure | CONFIG_XML)


def find_disk(dom, target, flags):
    for disk in etree.fromstring(dom.XMLDesc(flags)).iterfind("devices/disk"):
        if disk.find("target").get("dev") == target:
            return disk
    return None


def disk_file(dom, target, flags):
    """The file a disk (or cdrom) reads, None when the drive is empty (after an eject libvirt keeps
    `<source index='N'/>` in the live XML, with no file)."""
    disk = find_disk(dom, target, flags)
    assert disk is not None, f"{dom.name()} has no disk {target}"
    source = disk.find("source")
    return None if source is None else source.get("file")


def find_nic(dom, mac, flags):
    for nic in etree.fromstring(dom.XMLDesc(flags)).iterfind("devices/interface"):
        if nic.find("mac").get("address") == mac:
            return nic
    return None


def link_state(dom, mac, flags):
    link = find_nic(dom, mac, flags).find("link")
    return "up" if link is None else link.get("state")


def diff_text(result, side):
    """Everything one side (before/after) of the module's --diff shows, as one text."""
    return "\n".join(str(entry.get(side, "")) for entry in result["diff"])


def guest_poll(dom, command, condition, timeout=15):
    """COMMAND's output in the guest (through the agent) once CONDITION(output) holds; fails after TIMEOUT s."""
    deadline = time.monotonic() + timeout
    while True:
        output = rig_env.guest_shell(dom, command)
        if condition(output):
            return output
        assert time.monotonic() < deadline, f"{command!r} in the guest never satisfied the test; last: {output!r}"
        time.sleep(0.3)


def block_devices(dom):
    return rig_env.guest_shell(dom, "ls /sys/block").split()


def net_devices(dom):
    return rig_env.guest_shell(dom, "ls /sys/class/net").split()


def restart(dom):
    dom.destroy()
    dom.create()
    rig_env.wait_agent(dom, timeout=180)


class RemovalWatcher:
    """Records, in this test process, when libvirt reports a device of the domain removed (and with which alias)."""

    def __init__(self, uri, name):
        from ansible_collections.virtops.libvirt.plugins.module_utils._events import EventLoop

        EventLoop.ensure_running()
        self.conn = libvirt.open(uri)
        self.removed = []  # (monotonic time, alias)
        self.event = threading.Event()
        self.callback = self.conn.domainEventRegisterAny(
            self.conn.lookupByName(name), libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, self._on_removed, None)

    def _on_removed(self, _conn, _dom, alias, _opaque):
        self.removed.append((time.monotonic(), alias))
        self.event.set()

    def close(self):
        self.conn.domainEventDeregisterAny(self.callback)
        self.conn.close()


# --- disks -------------------------------------------------------------------------------------------------------


def test_a_qcow2_disk_is_hot_plugged_survives_a_restart_and_is_detached_from_both(guest):
    path = image(guest, "extra")
    disk = {"source": path, "target": "vdb"}
    before = definitions(guest)
    predicted = succeeded(device(guest, check_mode=True, disk=disk))
    assert predicted["changed"] and predicted["actions"] == ["attach disk vdb (live and config)"]
    assert predicted["device"] == {"live": None, "config": None}
    assert path not in diff_text(predicted, "before") and path in diff_text(predicted, "after")
    assert definitions(guest) == before, "check mode changed the domain"
    assert "vdb" not in block_devices(guest)

    result = succeeded(device(guest, disk=disk))
    assert result["changed"] and result["actions"] == predicted["actions"]
    assert path in result["device"]["live"] and "virtio-disk1" in result["device"]["live"], "live XML as libvirt has it"
    assert path in result["device"]["config"]
    assert disk_file(guest, "vdb", LIVE_XML) == path == disk_file(guest, "vdb", CONFIG_XML)
    assert find_disk(guest, "vdb", LIVE_XML).find("driver").get("type") == "qcow2", "format from the .qcow2 name"
    guest_poll(guest, "ls /sys/block", lambda out: "vdb" in out.split())
    assert "virtio-disk1" in diff_text(result, "after") and path not in diff_text(result, "before")

    again = succeeded(device(guest, disk=disk))
    assert again["changed"] is False and again["actions"] == []

    restart(guest)
    assert "vdb" in block_devices(guest), "the disk is in the persistent definition: it is there after a restart"
    assert succeeded(device(guest, disk=disk))["changed"] is False

    gone = {"target": "vdb"}
    before = definitions(guest)
    predicted = succeeded(device(guest, check_mode=True, state="absent", disk=gone))
    assert predicted["changed"] and predicted["actions"] == ["detach disk vdb (live)", "detach disk vdb (config)"]
    assert definitions(guest) == before, "check mode changed the domain"
    assert path in diff_text(predicted, "before") and path not in diff_text(predicted, "after")

    result = succeeded(device(guest, state="absent", disk=gone))
    assert result["changed"] and result["actions"] == predicted["actions"]
    assert result["device"] == {"live": None, "config": None}
    assert find_disk(guest, "vdb", LIVE_XML) is None and find_disk(guest, "vdb", CONFIG_XML) is None
    assert "vdb" not in block_devices(guest)
    again = succeeded(device(guest, state="absent", disk=gone))
    assert again["changed"] is False and again["actions"] == []


def test_a_disk_only_in_one_definition_is_attached_to_the_other_only(guest):
    path = image(guest, "extra")
    disk = {"source": path, "target": "vdb"}
    first = succeeded(device(guest, disk=disk, config=True))
    assert first["actions"] == ["attach disk vdb (config)"]
    assert find_disk(guest, "vdb", LIVE_XML) is None and disk_file(guest, "vdb", CONFIG_XML) == path
    config_before = definitions(guest)[1]

    result = succeeded(device(guest, disk=disk))
    assert result["changed"] and result["actions"] == ["attach disk vdb (live)"]
    assert disk_file(guest, "vdb", LIVE_XML) == path
    assert definitions(guest)[1] == config_before, "the persistent definition had it already"
    guest_poll(guest, "ls /sys/block", lambda out: "vdb" in out.split())

    other = image(guest, "other")
    disk = {"source": other, "target": "vdc"}
    assert succeeded(device(guest, disk=disk, live=True))["actions"] == ["attach disk vdc (live)"]
    assert find_disk(guest, "vdc", CONFIG_XML) is None
    live_before = definitions(guest)[0]
    result = succeeded(device(guest, disk=disk))
    assert result["changed"] and result["actions"] == ["attach disk vdc (config)"]
    assert disk_file(guest, "vdc", CONFIG_XML) == other and definitions(guest)[0] == live_before


def test_detach_returns_within_half_a_second_of_the_device_removed_event(guest):
    path = image(guest, "extra")
    succeeded(device(guest, disk={"source": path, "target": "vdb"}))
    guest_poll(guest, "ls /sys/block", lambda out: "vdb" in out.split())
    alias = find_disk(guest, "vdb", LIVE_XML).find("alias").get("name")
    watcher = RemovalWatcher(URI, guest.name())
    try:
        result = succeeded(device(guest, state="absent", disk={"target": "vdb"}))
        assert watcher.event.wait(5), "libvirt never reported the disk removed"
    finally:
        watcher.close()
    assert result["actions"] == ["detach disk vdb (live)", "detach disk vdb (config)"]
    removed_at, removed_alias = watcher.removed[0]
    assert removed_alias == alias
    assert removed_at <= result.finished_at, "the module returned before the guest released the disk"
    assert result.finished_at - removed_at < 0.5, f"returned {result.finished_at - removed_at:.2f} s after the event"


def test_a_guest_that_ignores_the_unplug_is_an_error_naming_the_disk_and_the_config_keeps_it(host_a, guest_name):
    # acpiphp.disable=1: the guest kernel does not handle ACPI hot-plug requests, so it never releases the disk
    # (no device-removal-failed event on x86 either: only the timeout tells).
    path = f"{rig_env.IMAGES_DIR}/{guest_name}-extra.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, "32M"], check=True)
    extra = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{path}'/>"
             "<target dev='vdb' bus='virtio'/></disk>")
    try:
        dom = boot(host_a, guest_name, extra_devices=extra, cmdline_extra="acpiphp.disable=1")
        assert "vdb" in block_devices(dom), "the cold-plugged disk is in the guest"
        before_config = definitions(dom)[1]
        result = device(dom, state="absent", disk={"target": "vdb"}, timeout=3)
        assert result.get("failed"), result
        assert "disk vdb" in result["msg"] and "3 s" in result["msg"], result["msg"]
        assert "persistent definition is unchanged" in result["msg"], result["msg"]
        assert 3 <= result.seconds < 10, result.seconds
        assert disk_file(dom, "vdb", LIVE_XML) == path, "still attached"
        assert definitions(dom)[1] == before_config, "the persistent definition was left as it was"
    finally:
        rig_env.cleanup_domain(host_a, guest_name)
        remove_images(guest_name)


def test_a_q35_production_guest_hot_plugs_and_unplugs_a_virtio_disk(host_a, guest_name):
    data = rig_env.make_data_disk(rig_env.data_disk_path(guest_name))
    try:
        dom = boot(host_a, guest_name, xml=q35_template(guest_name, data))
        path = image(dom, "extra")
        disk = {"source": path, "target": "vdb", "cache": "none", "discard": "unmap", "serial": "data-2"}
        result = succeeded(device(dom, disk=disk))
        assert result["changed"] and result["actions"] == ["attach disk vdb (live and config)"]
        live = find_disk(dom, "vdb", LIVE_XML)
        assert live.find("driver").get("cache") == "none" and live.findtext("serial") == "data-2"
        assert live.find("address").get("bus") != "0x00", "on a pcie-root-port"
        guest_poll(dom, "ls /sys/block", lambda out: "vdb" in out.split())
        assert succeeded(device(dom, disk=disk))["changed"] is False

        result = succeeded(device(dom, state="absent", disk={"target": "vdb"}))
        assert result["actions"] == ["detach disk vdb (live)", "detach disk vdb (config)"]
        assert find_disk(dom, "vdb", LIVE_XML) is None and find_disk(dom, "vdb", CONFIG_XML) is None
        assert "vdb" not in block_devices(dom)
    finally:
        rig_env.cleanup_domain(host_a, guest_name)
        remove_images(guest_name)


# --- NIC ---------------------------------------------------------------------------------------------------------


def carrier(dom, ifname):
    return rig_env.guest_shell(dom, f"cat /sys/class/net/{ifname}/carrier").strip()


def test_a_nic_is_hot_plugged_its_link_set_down_and_up_then_unplugged(host_a, guest_name):
    try:
        dom = boot(host_a, guest_name, data_disk=False)
        assert "eth0" not in net_devices(dom)
        nic = {"type": "user", "mac": NIC_MAC}
        result = succeeded(device(dom, interface=nic))
        assert result["changed"] and result["actions"] == [f"attach interface {NIC_MAC} (live and config)"]
        assert find_nic(dom, NIC_MAC, LIVE_XML) is not None and find_nic(dom, NIC_MAC, CONFIG_XML) is not None
        guest_poll(dom, "ls /sys/class/net", lambda out: "eth0" in out.split())
        rig_env.guest_shell(dom, "ip link set eth0 up")
        guest_poll(dom, "cat /sys/class/net/eth0/carrier", lambda out: out.strip() == "1")
        assert succeeded(device(dom, interface=nic))["changed"] is False

        down = {**nic, "link": "down"}
        before = definitions(dom)
        predicted = succeeded(device(dom, check_mode=True, interface=down))
        assert predicted["changed"] and len(predicted["actions"]) == 1, predicted["actions"]
        assert predicted["actions"][0].startswith(f"update interface {NIC_MAC} (live and config)")
        assert definitions(dom) == before, "check mode changed the domain"
        assert "down" not in diff_text(predicted, "before") and "down" in diff_text(predicted, "after")
        result = succeeded(device(dom, interface=down))
        assert result["actions"] == predicted["actions"]
        assert link_state(dom, NIC_MAC, LIVE_XML) == "down" == link_state(dom, NIC_MAC, CONFIG_XML)
        assert carrier(dom, "eth0") == "0", "the guest sees the link down"
        again = succeeded(device(dom, interface=down))
        assert again["changed"] is False and again["actions"] == []

        up = {**nic, "link": "up"}
        result = succeeded(device(dom, interface=up))
        assert result["changed"] and result["actions"][0].startswith(f"update interface {NIC_MAC} (live and config)")
        assert link_state(dom, NIC_MAC, LIVE_XML) == "up" == link_state(dom, NIC_MAC, CONFIG_XML)
        assert carrier(dom, "eth0") == "1"
        assert succeeded(device(dom, interface=up))["changed"] is False

        result = succeeded(device(dom, state="absent", interface={"mac": NIC_MAC}))
        assert result["actions"] == [f"detach interface {NIC_MAC} (live)", f"detach interface {NIC_MAC} (config)"]
        assert find_nic(dom, NIC_MAC, LIVE_XML) is None and find_nic(dom, NIC_MAC, CONFIG_XML) is None
        assert "eth0" not in net_devices(dom)
        assert succeeded(device(dom, state="absent", interface={"mac": NIC_MAC}))["changed"] is False
    finally:
        rig_env.cleanup_domain(host_a, guest_name)


# --- CD-ROM media ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bus,target", [("ide", "hdc"), ("sata", "sdb")])
def test_cdrom_media_is_inserted_changed_and_ejected_each_a_no_op_the_second_time(host_a, guest_name, bus, target):
    drive = (f"<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='{target}' bus='{bus}'/>"
             "<readonly/></disk>")
    try:
        dom = boot(host_a, guest_name, data_disk=False, extra_devices=drive)
        first, second = image(dom, "first", "raw", "1M"), image(dom, "second", "raw", "1M")
        for source in (first, second, None):
            cdrom = {"target": target, "bus": bus, **({"source": source} if source else {})}
            before = definitions(dom)
            predicted = succeeded(device(dom, check_mode=True, cdrom=cdrom))
            assert predicted["changed"] and len(predicted["actions"]) == 1, predicted["actions"]
            assert predicted["actions"][0].startswith(f"update cdrom {target} (live and config)")
            assert definitions(dom) == before, "check mode changed the domain"
            if source:
                assert source in diff_text(predicted, "after") and source not in diff_text(predicted, "before")
            else:
                assert second in diff_text(predicted, "before") and second not in diff_text(predicted, "after")

            result = succeeded(device(dom, cdrom=cdrom))
            assert result["actions"] == predicted["actions"]
            assert disk_file(dom, target, LIVE_XML) == source == disk_file(dom, target, CONFIG_XML)
            again = succeeded(device(dom, cdrom=cdrom))
            assert again["changed"] is False and again["actions"] == [], f"{source or 'eject'} a second time"

        # the definitions disagree: only the one without the medium is updated
        succeeded(device(dom, cdrom={"target": target, "bus": bus, "source": first}, live=True))
        result = succeeded(device(dom, cdrom={"target": target, "bus": bus, "source": first}))
        assert len(result["actions"]) == 1 and result["actions"][0].startswith(f"update cdrom {target} (config)")
        assert disk_file(dom, target, LIVE_XML) == first == disk_file(dom, target, CONFIG_XML)

        missing = f"{rig_env.IMAGES_DIR}/{guest_name}-missing.iso"
        message = refused(dom, cdrom={"target": target, "bus": bus, "source": missing})
        assert f"cdrom {target}" in message and missing in message, message
    finally:
        rig_env.cleanup_domain(host_a, guest_name)
        remove_images(guest_name)


# --- bad input: a clear error, nothing changed ------------------------------------------------------------------


def refused(dom, **args):
    """Run the module with bad input: it fails with a message, changes nothing (live and config XML)."""
    before = definitions(dom)
    result = device(dom, **args)
    assert result.get("failed") and result.get("changed") is not True, result
    assert definitions(dom) == before, "a refused task changed the domain"
    return result["msg"]


def test_bad_input_is_refused_clearly_and_changes_nothing(guest):
    spare = image(guest, "spare")
    message = refused(guest, disk={"source": spare, "target": "vdb", "bus": "floppy-tape"})
    assert "bus" in message and "floppy-tape" in message and "virtio" in message, message

    message = refused(guest, xml=f"<disk type='file' device='disk'><source file='{spare}'/>"
                                 "<target dev='vdb' bus='floppy-tape'/></disk>")
    assert "disk vdb" in message and "floppy-tape" in message, message

    message = refused(guest, disk={"source": spare, "target": "vda"})
    assert "target vda is already used by another disk" in message, message
    assert rig_env.data_disk_path(guest.name()) in message, "names the disk that is there"

    missing = f"{rig_env.IMAGES_DIR}/{guest.name()}-missing.qcow2"
    message = refused(guest, disk={"source": missing, "target": "vdb"})
    assert "disk vdb" in message and missing in message, message

    message = refused(guest, interface={"type": "network", "source": "default", "mac": NIC_MAC})
    assert f"interface {NIC_MAC}" in message and "'default' is not active" in message, message

    message = refused(guest, xml="<disk type='file' device='disk'><source file='x'/><target dev='vdb'")
    assert "XML" in message, message
    message = refused(guest, xml="<disk type='file'/><disk type='file'/>")
    assert "XML" in message, message
    message = refused(guest, xml="<frobnicator/>")
    assert "frobnicator" in message, message
    assert "vdb" not in block_devices(guest)


def test_a_missing_source_file_is_refused_for_the_persistent_definition_too(guest):
    # libvirt itself accepts a missing file in the persistent definition (it checks only when QEMU opens it):
    # the guest would then fail at its next boot.
    missing = f"{rig_env.IMAGES_DIR}/{guest.name()}-missing.qcow2"
    message = refused(guest, disk={"source": missing, "target": "vdb"}, config=True, live=False)
    assert "disk vdb" in message and missing in message, message


def test_live_true_on_a_shut_off_domain_is_refused_and_changes_nothing(host_a, guest_name):
    dom = rig_env.define_guest(host_a, guest_name, start=False)
    path = image(dom, "extra")
    message = refused(dom, disk={"source": path, "target": "vdb"}, live=True)
    assert "live" in message and "not running" in message, message
    # without live, the persistent definition alone is changed
    result = succeeded(device(dom, disk={"source": path, "target": "vdb"}))
    assert result["actions"] == ["attach disk vdb (config)"] and result["device"]["live"] is None
    assert disk_file(dom, "vdb", CONFIG_XML) == path
    remove_images(guest_name)


# --- identity by alias, and a password that is compared but never shown -----------------------------------------


def test_a_nic_given_by_user_alias_only_is_found_again_and_unplugged_by_that_alias(host_a, guest_name):
    try:
        dom = boot(host_a, guest_name, data_disk=False)
        nic = {"type": "user", "alias": "ua-backend"}
        result = succeeded(device(dom, interface=nic))
        assert result["actions"] == ["attach interface ua-backend (live and config)"]
        assert "ua-backend" in result["device"]["live"] and "ua-backend" in result["device"]["config"]
        again = succeeded(device(dom, interface={**nic, "link": "up"}))
        assert again["changed"] is False, "found again by its alias, though libvirt chose its MAC"
        watcher = RemovalWatcher(URI, guest_name)
        try:
            result = succeeded(device(dom, state="absent", interface={"alias": "ua-backend"}))
            assert watcher.event.wait(5)
        finally:
            watcher.close()
        assert result["actions"] == ["detach interface ua-backend (live)", "detach interface ua-backend (config)"]
        assert [alias for _at, alias in watcher.removed] == ["ua-backend"]
        root_live, root_config = (etree.fromstring(dom.XMLDesc(flags)) for flags in (LIVE_XML, CONFIG_XML))
        assert root_live.find("devices/interface") is None and root_config.find("devices/interface") is None
    finally:
        rig_env.cleanup_domain(host_a, guest_name)


def test_a_vnc_password_is_updated_live_and_never_shown(host_a, guest_name):
    first, second = "Dev1cepw", "Dev2cepw"
    vnc = "<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1' passwd='{}'/>"
    try:
        dom = boot(host_a, guest_name, data_disk=False, extra_devices=vnc.format(first))
        same = succeeded(device(dom, xml=vnc.format(first)))
        assert same["changed"] is False and same["actions"] == [], "the same password is no change"
        predicted = succeeded(device(dom, check_mode=True, xml=vnc.format(second)))
        assert predicted["changed"] and predicted["actions"][0].startswith("update graphics vnc (live and config)")
        result = succeeded(device(dom, xml=vnc.format(second)))
        assert result["changed"] and result["actions"] == predicted["actions"]
        secure = libvirt.VIR_DOMAIN_XML_SECURE
        for flags in (secure, secure | CONFIG_XML):
            assert etree.fromstring(dom.XMLDesc(flags)).find("devices/graphics").get("passwd") == second
        assert succeeded(device(dom, xml=vnc.format(second)))["changed"] is False
        for shown in (same, predicted, result):
            assert first not in str(shown) and second not in str(shown), "a password leaked into the result"
    finally:
        rig_env.cleanup_domain(host_a, guest_name)


# --- what libvirt or the guest refuses --------------------------------------------------------------------------


def test_an_unplug_the_paused_guest_answers_late_is_finished_in_the_config_by_the_next_run(guest):
    path = image(guest, "extra")
    succeeded(device(guest, disk={"source": path, "target": "vdb"}))
    guest_poll(guest, "ls /sys/block", lambda out: "vdb" in out.split())
    config_before = definitions(guest)[1]
    guest.suspend()
    try:
        result = device(guest, state="absent", disk={"target": "vdb"}, timeout=2)
        assert result.get("failed") and "disk vdb" in result["msg"] and "2 s" in result["msg"], result
        assert "detach disk vdb (config)" not in result["actions"], "the config detach was not attempted"
        assert disk_file(guest, "vdb", LIVE_XML) == path and definitions(guest)[1] == config_before
    finally:
        guest.resume()
    deadline = time.monotonic() + 15
    while find_disk(guest, "vdb", LIVE_XML) is not None:  # the guest answers the pending request now
        assert time.monotonic() < deadline, "the resumed guest never released vdb"
        time.sleep(0.2)
    result = succeeded(device(guest, state="absent", disk={"target": "vdb"}))
    assert result["changed"] and result["actions"] == ["detach disk vdb (config)"]
    assert find_disk(guest, "vdb", CONFIG_XML) is None


def test_an_update_libvirt_cannot_make_is_an_error_naming_the_disk_and_changes_nothing(guest):
    path = image(guest, "extra")
    succeeded(device(guest, disk={"source": path, "target": "vdb"}))
    message = refused(guest, disk={"source": path, "target": "vdb", "cache": "unsafe"})
    assert "update disk vdb" in message, message


def test_a_transient_domain_is_changed_live_only_and_config_true_is_refused(host_a, guest_name):
    dom = host_a.createXML(rig_env.guest_xml(guest_name, data_disk=None), 0)
    path = image(dom, "extra")
    message = refused(dom, disk={"source": path, "target": "vdb"}, config=True)
    assert "config" in message and "transient" in message, message
    result = succeeded(device(dom, disk={"source": path, "target": "vdb"}))
    assert result["actions"] == ["attach disk vdb (live)"] and result["device"]["config"] is None
    assert disk_file(dom, "vdb", LIVE_XML) == path
    remove_images(guest_name)
