"""Production-style templates against what libvirt 9.0 / QEMU 7.2 really stored and ran.

The fixtures prod-*.xml were recorded on the rig: prod-template.xml (q35, host-model CPU, VNC
with autoport and a password, memory in GB, an uppercase UUID, an empty CD-ROM, USB tablet, RNG,
memballoon, serial + console, title and tag metadata) defined with `virsh define`, then read with
`--inactive --security-info` (prod-defined.xml), started and read live (prod-live.xml), and read
again after an external disk-only snapshot of vda (prod-defined-after-snapshot.xml).
"""

import os

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")
PASSWORD = "s3cr3tVN"
TAGS_NS = "https://virtops.example.org/xmlns/tags/1.0"


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return _xml.parse(handle.read())


@pytest.fixture
def template():
    return fixture("prod-template.xml")


@pytest.fixture
def defined():
    return fixture("prod-defined.xml")


@pytest.fixture
def live():
    return fixture("prod-live.xml")


@pytest.fixture
def after_snapshot():
    return fixture("prod-defined-after-snapshot.xml")


def paths(differences):
    return [difference.path for difference in differences]


# --- the persistent definition ---------------------------------------------------------------


def test_reapplied_production_template_is_no_change(template, defined):
    """An uppercase UUID and memory in GB (rounded up to whole KiB by libvirt) are not differences."""
    assert _xml.compare(template, defined) == []


def test_host_cpu_fallback_that_libvirt_drops_is_no_change(template, defined):
    """libvirt stores <cpu mode='host-model'><model fallback='allow'/></cpu> without the model."""
    template.find("cpu").append(template.makeelement("model", {"fallback": "allow"}))
    assert _xml.compare(template, defined) == []


def test_memory_change_in_gb_is_still_detected(template, defined):
    template.find("memory").text = "2"
    assert paths(_xml.compare(template, defined)) == ["/domain/memory"]


def test_another_uuid_is_still_detected(template, defined):
    template.find("uuid").text = "0F0E0D0C-1B2A-4C3D-8E9F-A0B1C2D3E4F6"
    assert paths(_xml.compare(template, defined)) == ["/domain/uuid"]


def test_template_source_in_the_backing_chain_is_the_same_disk(template, after_snapshot):
    """After an external snapshot vda is the overlay, backed by the template's file: no change."""
    assert _xml.compare(template, after_snapshot) == []


def test_merge_after_external_snapshot_keeps_the_overlay_and_its_chain(template, after_snapshot):
    template.find("memory").text = "2"
    merged = _xml.merge(template, after_snapshot)
    disk = merged.xpath("devices/disk[target/@dev='vda']")[0]
    assert disk.find("source").get("file").endswith(".ext1")
    assert disk.find("backingStore/source").get("file").endswith("virtops-lead-prod.qcow2")
    assert paths(_xml.compare(merged, after_snapshot)) == ["/domain/memory"]


def test_another_disk_source_outside_the_chain_is_a_change(template, after_snapshot):
    template.find("devices/disk/source").set("file", "/var/lib/libvirt/images/other.qcow2")
    assert paths(_xml.compare(template, after_snapshot)) == ["/domain/devices/disk[vda]/source/@file"]
    merged = _xml.merge(template, after_snapshot)
    disk = merged.xpath("devices/disk[target/@dev='vda']")[0]
    assert disk.find("source").get("file") == "/var/lib/libvirt/images/other.qcow2"
    assert disk.find("backingStore") is None


def test_merge_keeps_a_password_the_template_does_not_set(template, defined):
    """A template without passwd must not strip the password when another change redefines."""
    del template.find("devices/graphics").attrib["passwd"]
    template.find("memory").text = "2"
    merged = _xml.merge(template, defined)
    assert merged.find("devices/graphics").get("passwd") == PASSWORD


def test_merge_keeps_what_libvirt_assigned(template, defined):
    template.find("memory").text = "2"
    merged = _xml.merge(template, defined)
    assert merged.findtext("uuid") == "0F0E0D0C-1B2A-4C3D-8E9F-A0B1C2D3E4F5"
    assert merged.find("devices/interface/mac").get("address") == defined.find("devices/interface/mac").get("address")
    assert merged.find("devices/disk/address") is not None
    assert paths(_xml.compare(merged, defined)) == ["/domain/memory"]


def test_merge_keeps_metadata_a_template_without_metadata_does_not_mention(template, defined):
    template.remove(template.find("metadata"))
    template.remove(template.find("title"))
    assert _xml.compare(template, defined) == []
    template.find("memory").text = "2"
    merged = _xml.merge(template, defined)
    assert merged.findtext("title") == "Production web"
    assert len(merged.findall(f"metadata/{{{TAGS_NS}}}tags/{{{TAGS_NS}}}tag")) == 2


def test_a_tag_removed_from_the_template_metadata_is_a_change_and_is_removed(template, defined):
    tags = template.find(f"metadata/{{{TAGS_NS}}}tags")
    tags.remove(tags[1])
    differences = _xml.compare(template, defined)
    assert len(differences) == 1 and differences[0].after is None and "prod" in differences[0].before
    merged = _xml.merge(template, defined)
    assert [tag.text for tag in merged.iterfind(f"metadata/{{{TAGS_NS}}}tags/{{{TAGS_NS}}}tag")] == ["web"]


def test_a_removed_graphics_device_is_a_change_and_is_removed(template, defined):
    template.find("devices").remove(template.find("devices/graphics"))
    assert paths(_xml.compare(template, defined)) == ["/domain/devices/graphics[type=vnc][1]"]
    merged = _xml.merge(template, defined)
    assert merged.find("devices/graphics") is None
    assert merged.find("devices/input[@bus='ps2']") is not None  # libvirt's own devices are kept


def test_vnc_and_spice_are_different_devices(template, defined):
    template.find("devices/graphics").set("type", "spice")
    assert sorted(paths(_xml.compare(template, defined))) == [
        "/domain/devices/graphics[type=spice][1]", "/domain/devices/graphics[type=vnc][1]"]


def test_a_changed_interface_type_carries_nothing_over(template, defined):
    interface = template.find("devices/interface")
    interface.set("type", "network")
    interface.append(interface.makeelement("source", {"network": "default"}))
    merged = _xml.merge(template, defined)
    assert merged.find("devices/interface/mac") is None
    assert merged.find("devices/interface/source").attrib == {"network": "default"}


def test_a_removed_kernel_is_a_change(template, defined):
    template.find("os").remove(template.find("os/cmdline"))
    assert paths(_xml.compare(template, defined)) == ["/domain/os/cmdline"]
    assert _xml.merge(template, defined).find("os/cmdline") is None


# --- the running domain ----------------------------------------------------------------------


def test_running_domain_started_from_the_template_has_no_pending_change(template, live):
    """autoport's port, the expanded host-model CPU, the empty CD-ROM's driver, the balloon and the
    memory alignment exist only at run time."""
    assert _xml.compare(template, live, live=True) == []


def test_running_domain_ignores_title_description_and_metadata(template, live):
    template.find("title").text = "Renamed"
    template.find("description").text = "Other"
    template.find(f"metadata/{{{TAGS_NS}}}tags/{{{TAGS_NS}}}tag").text = "db"
    assert _xml.compare(template, live, live=True) == []


@pytest.mark.parametrize("change, path", [
    (lambda t: setattr(t.find("memory"), "text", "2"), "/domain/memory"),
    (lambda t: setattr(t.find("vcpu"), "text", "4"), "/domain/vcpu"),
    (lambda t: t.find("devices/graphics").set("listen", "0.0.0.0"), "/domain/devices/graphics[type=vnc][1]/@listen"),
    (lambda t: t.find("devices/graphics").set("passwd", "other"), "/domain/devices/graphics[type=vnc][1]/@passwd"),
    (lambda t: t.find("devices/disk/driver").set("cache", "writeback"), "/domain/devices/disk[vda]/driver/@cache"),
])
def test_running_domain_still_sees_real_differences(template, live, change, path):
    change(template)
    assert paths(_xml.compare(template, live, live=True)) == [path]


def test_fixed_vnc_port_is_compared_on_a_running_domain(template, live):
    graphics = template.find("devices/graphics")
    graphics.set("autoport", "no")
    graphics.set("port", "5901")
    assert "/domain/devices/graphics[type=vnc][1]/@port" in paths(_xml.compare(template, live, live=True))


# --- secrets -----------------------------------------------------------------------------------


def test_secrets_are_found(template):
    assert _xml.secret_values(template) == {PASSWORD}


def test_redacted_copy_hides_passwords_and_leaves_the_original(defined):
    text = _xml.canonical(_xml.redact(defined))
    assert PASSWORD not in text and "passwd=" in text
    assert defined.find("devices/graphics").get("passwd") == PASSWORD


def test_a_password_difference_does_not_show_the_password(template, defined):
    template.find("devices/graphics").set("passwd", "n3wpass")
    differences = _xml.compare(template, defined)
    assert paths(differences) == ["/domain/devices/graphics[type=vnc][1]/@passwd"]
    shown = str(differences[0])
    assert "n3wpass" not in shown and PASSWORD not in shown
