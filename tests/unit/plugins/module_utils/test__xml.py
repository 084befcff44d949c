"""The safe parser and the template-vs-definition comparison."""

import os

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import XmlError

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")


def fixture_text(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


@pytest.fixture
def template():
    return _xml.parse(fixture_text("template.xml"))


@pytest.fixture
def defined():
    """What libvirt (qemu driver) returned for template.xml: UUID, MAC, PCI addresses, controllers added."""
    return _xml.parse(fixture_text("defined.xml"))


def paths(differences):
    return [difference.path for difference in differences]


# --- parsing untrusted XML ----------------------------------------------------------------------


def test_parse_returns_the_root_element():
    assert _xml.parse("<domain type='qemu'><name>a</name></domain>").findtext("name") == "a"


@pytest.mark.parametrize("text", ["", "   \n", None])
def test_empty_xml_is_refused(text):
    with pytest.raises(XmlError, match="is empty"):
        _xml.parse(text)


def test_malformed_xml_names_the_problem():
    with pytest.raises(XmlError, match="domain XML is not well-formed XML: .*line 1"):
        _xml.parse("<domain><name>a</domain>")


def test_external_entity_is_refused_and_not_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    payload = f"""<?xml version="1.0"?>
<!DOCTYPE domain [<!ENTITY leak SYSTEM "file://{secret}">]>
<domain><name>&leak;</name></domain>"""
    with pytest.raises(XmlError, match="must not contain a DOCTYPE") as raised:
        _xml.parse(payload)
    assert "TOP-SECRET" not in str(raised.value)


def test_billion_laughs_is_refused_quickly():
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{level} "{("&lol" + (str(level - 1) if level > 1 else "") + ";") * 10}">' for level in range(1, 10)
    ]
    payload = "<!DOCTYPE lolz [" + "".join(entities) + "]><domain><name>&lol9;</name></domain>"
    with pytest.raises(XmlError) as raised:
        _xml.parse(payload)
    assert "DOCTYPE" in str(raised.value) or "entity" in str(raised.value).lower()


def test_network_dtd_is_refused():
    payload = '<!DOCTYPE domain SYSTEM "http://198.51.100.1/domain.dtd"><domain/>'
    with pytest.raises(XmlError, match="DOCTYPE"):
        _xml.parse(payload)


def test_oversized_xml_is_refused():
    payload = "<domain>" + "<a/>" * (_xml.MAX_XML_BYTES // 4) + "</domain>"
    with pytest.raises(XmlError, match="too large"):
        _xml.parse(payload)


def test_parse_names_what_it_parsed():
    with pytest.raises(XmlError, match="^snapshot XML is not well-formed"):
        _xml.parse("<x", what="snapshot XML")


# --- comparing a template with libvirt's definition ---------------------------------------------


def test_reapplying_the_template_is_no_change(template, defined):
    """libvirt added a UUID, a MAC, PCI addresses, controllers, a versioned machine type and KiB."""
    assert _xml.compare(template, defined) == []


def test_template_that_spells_out_the_defaults_is_no_change(defined):
    explicit = _xml.parse(
        """<domain type='qemu'>
             <name>virtops-web01</name>
             <memory unit='KiB'>262144</memory>
             <currentMemory unit='MiB'>256</currentMemory>
             <vcpu placement='static'>1</vcpu>
             <os>
               <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><boot dev='hd'/>
               <kernel>/var/lib/virtops-rig/vmlinuz</kernel>
               <initrd>/var/lib/virtops-rig/initrd.img</initrd>
               <cmdline>console=ttyS0</cmdline>
             </os>
             <devices>
               <disk type='file' device='disk'>
                 <target dev='vda'/>
                 <address type='pci' domain='0' bus='0' slot='4' function='0'/>
               </disk>
               <interface type='user'><mac address='52:54:00:F5:E7:18'/></interface>
               <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
               <serial type='pty'/>
             </devices>
           </domain>"""
    )
    assert _xml.compare(explicit, defined) == []


def test_memory_change_is_detected_and_named(template, defined):
    template.find("memory").text = "512"
    differences = _xml.compare(template, defined)
    assert paths(differences) == ["/domain/memory"]
    assert "262144 KiB" in str(differences[0]) and "512 MiB" in str(differences[0])


def test_vcpu_change_is_detected(template, defined):
    template.find("vcpu").text = "2"
    differences = _xml.compare(template, defined)
    assert [(d.path, d.before, d.after) for d in differences] == [("/domain/vcpu", "1", "2")]


def test_disk_source_change_is_detected_and_names_the_disk(template, defined):
    template.find("devices/disk/source").set("file", "/srv/other.qcow2")
    differences = _xml.compare(template, defined)
    assert paths(differences) == ["/domain/devices/disk[vda]/source/@file"]
    assert differences[0].before == "/var/lib/libvirt/images/virtops/web01-data.qcow2"
    assert differences[0].after == "/srv/other.qcow2"


def test_added_nic_is_detected(template, defined):
    devices = template.find("devices")
    devices.append(_xml.parse("<interface type='network'><source network='default'/></interface>"))
    differences = _xml.compare(template, defined)
    assert paths(differences) == ["/domain/devices/interface[type=network][1]"]
    assert differences[0].before is None and 'network="default"' in differences[0].after
    assert str(differences[0]).startswith("/domain/devices/interface[type=network][1]: added <interface")


def test_second_nic_of_the_same_type_is_detected(template, defined):
    template.find("devices").append(_xml.parse("<interface type='user'/>"))
    assert paths(_xml.compare(template, defined)) == ["/domain/devices/interface[type=user][2]"]


def test_removed_disk_is_detected(template, defined):
    devices = template.find("devices")
    devices.remove(devices.find("disk"))
    differences = _xml.compare(template, defined)
    assert paths(differences) == ["/domain/devices/disk[vda]"]
    assert differences[0].after is None and "web01-data.qcow2" in differences[0].before


def test_added_disk_is_matched_by_target_not_order(template, defined):
    devices = template.find("devices")
    devices.insert(0, _xml.parse("<disk type='file' device='disk'><source file='/x.img'/><target dev='vdb'/></disk>"))
    assert paths(_xml.compare(template, defined)) == ["/domain/devices/disk[vdb]"]


def test_interface_with_another_mac_is_a_different_interface(template, defined):
    nic = template.find("devices/interface")
    nic.insert(0, _xml.parse("<mac address='52:54:00:00:00:01'/>"))
    assert sorted(paths(_xml.compare(template, defined))) == [
        "/domain/devices/interface[52:54:00:00:00:01]",
        "/domain/devices/interface[52:54:00:f5:e7:18]",
    ]


def test_controllers_are_matched_by_type_and_index(template, defined):
    template.find("devices").append(_xml.parse("<controller type='virtio-serial' index='0'/>"))
    assert _xml.compare(template, defined) == []
    template.find("devices").append(_xml.parse("<controller type='usb' index='0' model='qemu-xhci'/>"))
    assert [(d.path, d.before, d.after) for d in _xml.compare(template, defined)] == [
        ("/domain/devices/controller[usb:0]/@model", "piix3-uhci", "qemu-xhci")
    ]


def test_machine_type_change_is_detected(template, defined):
    template.find("os/type").set("machine", "q35")
    differences = _xml.compare(template, defined)
    assert [(d.path, d.before, d.after) for d in differences] == [
        ("/domain/os/type/@machine", "pc-i440fx-7.2", "q35")
    ]


def test_explicit_uuid_that_differs_is_detected(template, defined):
    template.insert(1, _xml.parse("<uuid>00000000-0000-0000-0000-000000000001</uuid>"))
    assert paths(_xml.compare(template, defined)) == ["/domain/uuid"]


def test_root_element_mismatch():
    assert paths(_xml.compare(_xml.parse("<domain/>"), _xml.parse("<network/>"))) == ["/domain"]


def test_canonical_form_sorts_attributes_and_drops_whitespace():
    element = _xml.parse("<disk   type='file' device='disk'>\n  <target dev='vda'/>\n</disk>")
    assert _xml.canonical(element) == '<disk device="disk" type="file">\n  <target dev="vda"/>\n</disk>'


def test_merge_keeps_uuid_and_macs(template, defined):
    template.find("memory").text = "512"
    adopted = _xml.merge(template, defined)
    assert adopted.findtext("uuid") == defined.findtext("uuid")
    assert adopted.find("devices/interface/mac").get("address") == "52:54:00:f5:e7:18"
    assert paths(_xml.compare(adopted, defined)) == ["/domain/memory"]
    assert template.find("uuid") is None, "the template itself is left alone"


def test_merge_leaves_an_explicit_mac_alone(template, defined):
    template.find("devices/interface").insert(0, _xml.parse("<mac address='52:54:00:00:00:07'/>"))
    adopted = _xml.merge(template, defined)
    assert [mac.get("address") for mac in adopted.iterfind("devices/interface/mac")] == ["52:54:00:00:00:07"]
