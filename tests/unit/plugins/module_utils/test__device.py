"""DeviceRunner on a fake domain (the test driver has no device calls): decisions per definition, one call for
both, the live detach waited for by event, refusals before any change, check mode as the plan."""

from collections import namedtuple

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._device import DeviceRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._device_decide import DeviceOptions
from ansible_collections.virtops.libvirt.plugins.module_utils._device_detach import DeviceRemovalFailed
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, LibvirtCallError, WaitTimeout
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder

from fake_device import CONFIG, LIVE, fake_device_domain

Desired = namedtuple("Desired", "kind element label")
DATA_DISK = ("<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/img/data.qcow2'/>"
             "<target dev='vdb' bus='virtio'/></disk>")
NIC = "<interface type='user'><mac address='52:54:00:00:00:01'/><model type='virtio'/><link state='{}'/></interface>"
CDROM = "<disk type='file' device='cdrom'>{}<target dev='sdb' bus='sata'/><readonly/></disk>"
SECOND_CDROM = CDROM.replace("sdb", "sdc")


def desired(xml, label="disk vdb"):
    element = _xml.parse(xml, "device XML")
    return Desired(element.tag, element, label)


def run(domain, xml, label="disk vdb", check_mode=False, state="present", live=None, config=None, timeout=5.0):
    recorder = ChangeRecorder(check_mode)
    runner = DeviceRunner(domain, desired(xml, label), DeviceOptions(state, live, config, timeout), recorder)
    return runner.run(), recorder


def test_a_disk_is_hot_plugged_in_one_call_for_both_definitions_and_a_second_run_changes_nothing():
    domain, virdomain = fake_device_domain()
    result, recorder = run(domain, DATA_DISK)
    assert recorder.actions == ["attach disk vdb (live and config)"]
    assert virdomain.calls == ["attachDeviceFlags"]
    assert "/img/data.qcow2" in result["device"]["live"] and "/img/data.qcow2" in result["device"]["config"]
    assert "alias" in result["device"]["live"], "the device as libvirt has it after the task"
    assert result["diff_before"] == {"live": None, "config": None}
    again, recorder = run(domain, DATA_DISK)
    assert recorder.actions == [] and virdomain.calls == ["attachDeviceFlags"]
    assert again["device"] == result["device"]


def test_check_mode_reports_the_same_actions_and_predicts_the_device_without_a_call():
    domain, virdomain = fake_device_domain()
    predicted, recorder = run(domain, DATA_DISK, check_mode=True)
    assert recorder.actions == ["attach disk vdb (live and config)"] and virdomain.calls == []
    assert predicted["device"] == {"live": None, "config": None}, "check mode reports the device as it is"
    assert "/img/data.qcow2" in predicted["diff_after"]["live"] and "/img/data.qcow2" in predicted["diff_after"]["config"]


def test_a_disk_only_in_the_configuration_is_attached_live_only():
    domain, virdomain = fake_device_domain()
    run(domain, DATA_DISK, live=False, config=True)
    result, recorder = run(domain, DATA_DISK)
    assert recorder.actions == ["attach disk vdb (live)"]
    assert virdomain.calls == ["attachDeviceFlags", "attachDeviceFlags"]
    assert result["device"]["live"] and result["device"]["config"]


def test_a_target_used_by_another_disk_is_refused_before_any_change():
    domain, virdomain = fake_device_domain()
    with pytest.raises(InvalidArgument) as refused:
        run(domain, DATA_DISK.replace("vdb", "vda"), label="disk vda")
    assert str(refused.value) == ("disk vda: target vda is already used by another disk (source /img/vm.qcow2); "
                                  "detach it or choose another target")
    assert virdomain.calls == []


def test_a_cdrom_medium_is_inserted_changed_and_ejected_each_once():
    domain, virdomain = fake_device_domain()
    for medium in ("<source file='/iso/a.iso'/>", "<source file='/iso/b.iso'/>", ""):
        xml = CDROM.format(medium)
        result, recorder = run(domain, xml, label="cdrom sdb")
        assert len(recorder.actions) == 1 and recorder.actions[0].startswith("update cdrom sdb (live and config): ")
        assert ("/iso/" in (result["device"]["live"] or "")) is bool(medium)
        assert ("/iso/" in result["device"]["config"]) is bool(medium)
        assert run(domain, xml, label="cdrom sdb")[1].actions == []
    assert virdomain.calls == ["updateDeviceFlags"] * 3


def test_a_nic_link_goes_down_and_up_and_up_is_the_default():
    domain, virdomain = fake_device_domain()
    label = "interface 52:54:00:00:00:01"
    assert run(domain, NIC.format("up"), label=label)[1].actions == [], "no link state shown is up"
    result, recorder = run(domain, NIC.format("down"), label=label, live=True)
    assert recorder.actions == [f"update {label} (live): /interface/link: added <link state=\"down\"/>"]
    assert 'state="down"' in result["device"]["live"] and "down" not in result["device"]["config"]
    assert "alias" in result["device"]["live"], "an update sends the live device with the wanted values in"
    assert run(domain, NIC.format("down"), label=label, live=True)[1].actions == []
    assert run(domain, NIC.format("up"), label=label, live=True)[1].actions == [
        f"update {label} (live): /interface/link/@state: 'down' -> 'up'"]
    assert virdomain.calls == ["updateDeviceFlags", "updateDeviceFlags"]


def test_a_nic_without_mac_or_alias_is_refused():
    domain, virdomain = fake_device_domain()
    with pytest.raises(InvalidArgument, match="interface: give mac or alias so a second run finds the same NIC"):
        run(domain, "<interface type='user'><model type='virtio'/></interface>", label="interface")
    assert virdomain.calls == []


def test_a_graphics_password_is_compared_and_never_shown():
    domain, virdomain = fake_device_domain()
    xml = "<graphics type='vnc' autoport='yes' passwd='new-secret'/>"
    result, recorder = run(domain, xml, label="graphics vnc", config=True)
    assert recorder.actions == ["update graphics vnc (config): /graphics/@passwd: '********' -> '********'"]
    assert virdomain.calls == ["updateDeviceFlags"]
    assert "secret" not in repr(result) and "********" in result["device"]["config"]
    assert run(domain, xml, label="graphics vnc", config=True)[1].actions == []


def test_a_detach_unplugs_live_by_alias_waits_for_the_event_then_removes_it_from_the_configuration():
    domain, virdomain = fake_device_domain()
    run(domain, DATA_DISK)
    result, recorder = run(domain, DATA_DISK, state="absent")
    assert recorder.actions == ["detach disk vdb (live)", "detach disk vdb (config)"]
    assert virdomain.calls[1:] == ["detachDeviceAlias", "detachDeviceFlags"]
    assert virdomain.connection.delivered, "the device-removed event woke the wait"
    assert result["device"] == {"live": None, "config": None}
    assert "/img/data.qcow2" in result["diff_before"]["live"] and result["diff_after"] == {"live": None, "config": None}
    assert run(domain, DATA_DISK, state="absent")[1].actions == []


@pytest.mark.parametrize("guest, error, message", [
    ("refuses", DeviceRemovalFailed, "the guest refused to release disk vdb (libvirt's device-removal-failed event); "
                                     "it is still attached; the persistent definition is unchanged"),
    ("ignores", WaitTimeout, "the guest did not release disk vdb within 0.3 s; it is still attached; "
                             "the persistent definition is unchanged"),
])
def test_a_device_the_guest_keeps_is_an_error_naming_it_and_the_configuration_keeps_it(guest, error, message):
    domain, virdomain = fake_device_domain(guest=guest)
    run(domain, DATA_DISK)
    recorder = ChangeRecorder(False)
    runner = DeviceRunner(domain, desired(DATA_DISK), DeviceOptions("absent", None, None, 0.3), recorder)
    with pytest.raises(error) as failed:
        runner.run()
    assert message in str(failed.value)
    assert virdomain.calls[1:] == ["detachDeviceAlias"] and recorder.actions == []
    assert virdomain.config.find("devices/disk/target[@dev='vdb']") is not None


def test_a_lost_device_removed_event_is_made_up_for_by_reading_the_live_definition():
    domain, virdomain = fake_device_domain(guest="silent")
    run(domain, DATA_DISK)
    result, recorder = run(domain, DATA_DISK, state="absent")
    assert recorder.actions == ["detach disk vdb (live)", "detach disk vdb (config)"]
    assert result["device"] == {"live": None, "config": None} and not virdomain.connection.delivered


def test_a_shut_off_domain_changes_its_configuration_and_live_is_refused():
    domain, virdomain = fake_device_domain(active=False)
    with pytest.raises(InvalidArgument, match="live: domain 'vm' is not running"):
        run(domain, DATA_DISK, live=True)
    result, recorder = run(domain, DATA_DISK)
    assert recorder.actions == ["attach disk vdb (config)"] and result["device"]["live"] is None
    assert virdomain.calls == ["attachDeviceFlags"]


def test_libvirts_refusal_names_the_device_and_nothing_is_recorded():
    domain, virdomain = fake_device_domain()
    virdomain.refuse["attachDeviceFlags"] = "Cannot access storage file '/img/data.qcow2': No such file or directory"
    with pytest.raises(LibvirtCallError) as failed:
        run(domain, DATA_DISK)
    assert str(failed.value) == ("domain 'vm': attach disk vdb failed: Cannot access storage file '/img/data.qcow2': "
                                 "No such file or directory")


def test_flags_of_each_call():
    domain, virdomain = fake_device_domain()
    seen = []
    original = virdomain.attachDeviceFlags
    virdomain.attachDeviceFlags = lambda xml, flags: seen.append(flags) or original(xml, flags)
    run(domain, DATA_DISK)
    run(domain, DATA_DISK.replace("vdb", "vdc").replace("data", "more"), label="disk vdc", live=True)
    assert seen == [LIVE | CONFIG, LIVE]


def test_a_detach_of_a_disk_whose_target_holds_another_disk_is_refused():
    domain, virdomain = fake_device_domain()
    with pytest.raises(InvalidArgument, match=r"disk vda: target vda is already used by another disk \(source "
                                              r"/img/vm.qcow2\); it is left attached"):
        run(domain, DATA_DISK.replace("vdb", "vda"), label="disk vda", state="absent")
    assert virdomain.calls == []


def test_a_source_file_that_does_not_exist_is_refused_before_any_change_on_a_local_daemon(tmp_path):
    # libvirt itself accepts a missing file into a shut-off domain's configuration (found on the rig).
    domain, virdomain = fake_device_domain(active=False, uri="qemu:///system")
    with pytest.raises(InvalidArgument) as refused:
        run(domain, DATA_DISK)
    assert str(refused.value) == "disk vdb: source /img/data.qcow2 does not exist"
    assert virdomain.calls == []
    image = tmp_path / "data.qcow2"
    image.write_bytes(b"")
    assert run(domain, DATA_DISK.replace("/img/data.qcow2", str(image)))[1].actions == ["attach disk vdb (config)"]
    assert run(domain, CDROM.format("<source file='/iso/missing.iso'/>"), label="cdrom sdb",
               state="absent")[1].actions == ["detach cdrom sdb (config)"], "a detach needs no file"


def test_an_update_of_definitions_that_disagree_otherwise_is_one_call_each():
    # live has b.iso, config a.iso: one call for both would push the config's medium into the live drive's
    # other values; the link of a NIC, a medium... each definition gets its own merge.
    domain, virdomain = fake_device_domain()
    run(domain, CDROM.format("<source file='/iso/a.iso'/>"), label="cdrom sdb", config=True)
    run(domain, CDROM.format("<source file='/iso/b.iso'/>"), label="cdrom sdb", live=True)
    virdomain.calls.clear()
    result, recorder = run(domain, CDROM.format(""), label="cdrom sdb")
    assert recorder.actions == ["update cdrom sdb (live): /disk/source: removed <source file=\"/iso/b.iso\"/>",
                                "update cdrom sdb (config): /disk/source: removed <source file=\"/iso/a.iso\"/>"]
    assert virdomain.calls == ["updateDeviceFlags", "updateDeviceFlags"]
    assert "/iso/" not in (result["device"]["live"] or "") + result["device"]["config"]


WATCHDOG = "<watchdog model='i6300esb' action='{}'/>"


def test_a_device_libvirt_cannot_update_persistently_is_updated_by_redefining_the_domain():
    # libvirt 9.0: "persistent update of device 'watchdog' is not supported" (found on the rig)
    domain, virdomain = fake_device_domain()
    run(domain, WATCHDOG.format("poweroff"), label="watchdog i6300esb", config=True)
    virdomain.calls.clear()
    predicted, recorder = run(domain, WATCHDOG.format("reset"), label="watchdog i6300esb", config=True, check_mode=True)
    action = "update watchdog i6300esb (config, by defining the domain again): /watchdog/@action: 'poweroff' -> 'reset'"
    assert recorder.actions == [action] and virdomain.calls == []
    result, recorder = run(domain, WATCHDOG.format("reset"), label="watchdog i6300esb", config=True)
    assert recorder.actions == [action] and virdomain.calls == ["defineXMLFlags"]
    assert 'action="reset"' in result["device"]["config"] and result["diff_after"] == predicted["diff_after"]
    assert "old-secret" in _xml.to_string(virdomain.config), "the definition keeps its secrets"
    assert len(virdomain.config.findall("devices/watchdog")) == 1
    assert run(domain, WATCHDOG.format("reset"), label="watchdog i6300esb", config=True)[1].actions == []


def test_a_cdrom_drive_is_not_hot_plugged_the_refusal_says_how_and_nothing_changes():
    domain, virdomain = fake_device_domain()
    with pytest.raises(InvalidArgument) as refused:
        run(domain, SECOND_CDROM.format("<source file='/iso/a.iso'/>"), label="cdrom sdc")
    assert str(refused.value).startswith("cdrom sdc: a CD-ROM drive cannot be hot-plugged into a running domain")
    assert "live: false" in str(refused.value)
    assert virdomain.calls == []
    result, recorder = run(domain, SECOND_CDROM.format(""), label="cdrom sdc", live=False, config=True)
    assert recorder.actions == ["attach cdrom sdc (config)"] and result["device"]["live"] is None


def test_a_cdrom_drive_is_not_hot_unplugged_the_refusal_says_how_and_nothing_changes():
    domain, virdomain = fake_device_domain()
    calls = list(virdomain.calls)
    with pytest.raises(InvalidArgument) as refused:
        run(domain, CDROM.format(""), label="cdrom sdb", state="absent")
    assert str(refused.value).startswith("cdrom sdb: a CD-ROM drive cannot be hot-unplugged")
    assert virdomain.calls == calls
