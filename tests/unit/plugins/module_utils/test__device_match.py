"""_device_match: the device of a definition that is the desired one (identity), conflicts, differences, updates."""

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._device_match import conflict, differences, find_device, updated
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._scope import resolve_scope

DOMAIN = _xml.parse("""<domain><devices>
<disk type='file' device='disk'><source file='/img/top.qcow2' index='2'/>
  <backingStore type='file' index='1'><format type='qcow2'/><source file='/img/base.qcow2'/><backingStore/></backingStore>
  <target dev='vda' bus='virtio'/><alias name='virtio-disk0'/></disk>
<disk type='file' device='cdrom'><source file='/iso/a.iso'/><target dev='sdb' bus='sata'/><readonly/></disk>
<interface type='user'><mac address='52:54:00:AB:CD:EF'/><model type='virtio'/><alias name='net0'/></interface>
<interface type='user'><mac address='52:54:00:00:00:02'/><alias name='ua-backup'/></interface>
<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>
  </source><alias name='hostdev0'/></hostdev>
<hostdev mode='subsystem' type='usb'><source><vendor id='0x046d'/><product id='0xc52b'/><address bus='1' device='4'/></source>
  </hostdev>
<filesystem type='mount'><driver type='virtiofs'/><source dir='/srv/share'/><target dir='share'/></filesystem>
<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
<controller type='scsi' index='0' model='virtio-scsi'/>
<rng model='virtio'><backend model='random'>/dev/urandom</backend><alias name='rng0'/></rng>
<watchdog model='i6300esb' action='reset'/>
<graphics type='vnc' port='5900' autoport='yes'/>
<sound model='ich9'/>
</devices></domain>""")


def found(xml, root=DOMAIN):
    element = find_device(root, _xml.parse(xml), "the device")
    return None if element is None else _xml.to_string(element, pretty=False)


@pytest.mark.parametrize("xml, expected", [
    ("<disk><target dev='vda'/></disk>", "virtio-disk0"),
    ("<disk device='cdrom'><target dev='sdb'/></disk>", "/iso/a.iso"),
    ("<interface><mac address='52:54:00:ab:cd:ef'/></interface>", "net0"),  # MACs in any case
    ("<interface><alias name='ua-backup'/></interface>", "52:54:00:00:00:02"),
    ("<hostdev type='pci'><source><address domain='0' bus='3' slot='0' function='0'/></source></hostdev>", "hostdev0"),
    ("<hostdev type='usb'><source><vendor id='0x46d'/><product id='0xC52B'/></source></hostdev>", "0x046d"),
    ("<filesystem><target dir='share'/></filesystem>", "/srv/share"),
    ("<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>", "guest_agent"),
    ("<controller type='scsi' index='0x0'/>", "virtio-scsi"),
    ("<rng model='virtio'><backend model='random'>/dev/random</backend></rng>", "rng0"),  # the only virtio rng
    ("<watchdog model='ib700' action='poweroff'/>", "i6300esb"),  # the only watchdog
    ("<graphics type='vnc' passwd='x'/>", "5900"),
])
def test_each_kind_is_found_by_its_identity(xml, expected):
    assert expected in found(xml)


@pytest.mark.parametrize("xml", [
    "<disk><target dev='vdz'/></disk>",
    "<interface><mac address='52:54:00:00:00:09'/></interface>",
    "<hostdev type='pci'><source><address domain='0' bus='4' slot='0' function='0'/></source></hostdev>",
    "<controller type='usb' index='0'/>",
    "<graphics type='spice'/>",
    "<rng model='virtio-non-transitional'><backend model='random'>/dev/urandom</backend></rng>",
    "<sound model='ich9'><alias name='ua-snd'/></sound>",
])
def test_a_device_the_domain_lacks_is_not_found(xml):
    assert found(xml) is None


@pytest.mark.parametrize("xml, message", [
    ("<interface type='network'><model type='virtio'/></interface>",
     "the device: give mac or alias so a second run finds the same NIC"),
    ("<disk device='disk'><source file='/x'/></disk>", "the device: a disk needs a target (dev), which names it"),
    ("<sound model='ich9'/>", "the device: give an alias (ua-...) so a second run finds the same sound"),
    ("<hostdev type='pci'/>", "the device: give a source address or an alias (ua-...) so a second run finds the same hostdev"),
])
def test_a_device_that_could_not_be_found_again_is_refused(xml, message):
    with pytest.raises(InvalidArgument) as refused:
        found(xml)
    assert str(refused.value) == message


def test_one_of_several_watchdogs_needs_an_alias():
    root = _xml.parse("<domain><devices><watchdog model='i6300esb'/><watchdog model='ib700'/></devices></domain>")
    with pytest.raises(InvalidArgument, match="the domain has 2 of these; give an alias"):
        found("<watchdog model='ib700'/>", root)


def device(xpath):
    return DOMAIN.find(f"devices/{xpath}")


@pytest.mark.parametrize("xml, present, message", [
    ("<disk device='disk'><source file='/img/other.qcow2'/><target dev='vda'/></disk>", "disk[1]",
     "disk vda: target vda is already used by another disk (source /img/top.qcow2); detach it or choose another target"),
    ("<disk device='disk'><source file='/img/x.raw'/><target dev='sdb'/></disk>", "disk[2]",
     "disk vda: target sdb is already used by a cdrom; detach it or choose another target"),
    ("<disk device='disk'><source file='/img/base.qcow2'/><target dev='vda'/></disk>", "disk[1]", None),  # snapshotted
    ("<disk device='disk'><target dev='vda'/></disk>", "disk[1]", None),
    ("<disk device='cdrom'><source file='/iso/b.iso'/><target dev='sdb'/></disk>", "disk[2]", None),  # a media change
])
def test_a_target_used_by_another_disk_is_a_conflict(xml, present, message):
    assert conflict(_xml.parse(xml), device(present), "disk vda") == message


def test_an_ejected_medium_differs_and_the_update_sends_the_drive_without_source():
    empty = _xml.parse("<disk type='file' device='cdrom'><target dev='sdb' bus='sata'/></disk>")
    assert [str(difference) for difference in differences(empty, device("disk[2]"), live=True)] == [
        '/disk/source: removed <source file="/iso/a.iso"/>']
    sent = updated(empty, device("disk[2]"))
    assert sent.find("source") is None and sent.find("readonly") is not None


def test_a_link_wanted_up_is_up_when_libvirt_shows_no_link_state():
    nic = device("interface[1]")
    assert differences(_xml.parse("<interface type='user'><mac address='52:54:00:ab:cd:ef'/><link state='up'/></interface>"),
                       nic, live=True) == []
    down = _xml.parse("<interface type='user'><mac address='52:54:00:ab:cd:ef'/><link state='down'/></interface>")
    assert [str(difference) for difference in differences(down, nic, live=True)] == [
        '/interface/link: added <link state="down"/>']
    sent = updated(down, nic)
    assert sent.find("alias").get("name") == "net0" and sent.find("link").get("state") == "down"


@pytest.mark.parametrize("live, config, active, persistent, expected", [
    (None, None, True, True, (True, True)),
    (None, None, False, True, (False, True)),
    (None, None, True, False, (True, False)),
    (True, None, True, True, (True, False)),
    (None, True, True, True, (False, True)),
])
def test_the_scope_is_both_definitions_the_domain_has_or_what_the_task_names(live, config, active, persistent, expected):
    assert resolve_scope(live, config, active, persistent, "vm") == expected


@pytest.mark.parametrize("live, config, active, persistent, message", [
    (True, None, False, True, "live: domain 'vm' is not running"),
    (None, True, True, False, "config: domain 'vm' is transient"),
    (False, False, True, True, "live and config are both false"),
])
def test_a_definition_the_domain_lacks_is_refused(live, config, active, persistent, message):
    with pytest.raises(InvalidArgument, match=message):
        resolve_scope(live, config, active, persistent, "vm")


def test_an_empty_drive_is_empty_though_qemu_leaves_an_indexed_source_element():
    # Found on the rig: after an eject the live XML keeps <source index='5'/> (no file).
    empty = _xml.parse("<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>")
    live = _xml.parse("<disk type='file' device='cdrom'><source index='5'/><target dev='hdc' bus='ide'/>"
                      "<readonly/><alias name='ide0-1-0'/></disk>")
    assert differences(empty, live, live=True) == []
