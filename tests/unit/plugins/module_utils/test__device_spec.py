"""_device_spec: domain_device's dict kinds and `xml` option as device elements (no libvirt).

Every element built for an attach is checked against libvirt's own schema (domain.rng, installed with
libvirt), wrapped in a minimal domain, so a misspelt element or attribute fails here and not on the rig.
"""

import os

import libvirt
import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from lxml import etree

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._device_spec import (
    ARGUMENT_SPECS, DEVICE_KINDS, DesiredDevice, desired_device)
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, XmlError

from argspec_docs import documented_differently

MAC = "52:54:00:12:34:56"


@pytest.fixture(scope="module")
def schema():
    assert os.path.exists(_xml.LIBVIRT_DOMAIN_SCHEMA), "libvirt's schema is part of the test environment"
    return etree.RelaxNG(etree.parse(_xml.LIBVIRT_DOMAIN_SCHEMA))


def assert_valid(schema, element):
    """The device, in a minimal domain, is valid for libvirt's schema."""
    domain = _xml.parse("<domain type='qemu'><name>t</name><memory>65536</memory>"
                        "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices/></domain>")
    domain.find("devices").append(_xml.copy_element(element))
    assert schema.validate(domain), (str(schema.error_log), _xml.to_string(element))


def device(kind, state="present", **options):
    """desired_device as the module calls it: every option key present (None when not given)."""
    params = {name: None for name in ("xml",) + DEVICE_KINDS}
    params.update(state=state, **{kind: options})
    return desired_device(params)


def attributes(element, path):
    found = element.find(path)
    assert found is not None, (path, _xml.to_string(element))
    return dict(found.attrib)


# --- the seam ---------------------------------------------------------------------------------------------


def test_every_kind_has_an_argument_spec_of_dict_type():
    assert tuple(ARGUMENT_SPECS) == DEVICE_KINDS
    assert all(spec["type"] == "dict" and spec["options"] for spec in ARGUMENT_SPECS.values())


def test_a_result_names_its_kind_and_device():
    built = device("disk", source="/img/data.qcow2", target="vdb")
    assert isinstance(built, DesiredDevice)
    assert (built.kind, built.element.tag, built.label) == ("disk", "disk", "disk vdb")


@pytest.mark.parametrize("given", [{}, {"disk": {"target": "vdb"}, "xml": "<disk/>"}])
def test_exactly_one_device_is_required(given):
    params = {name: None for name in ("xml",) + DEVICE_KINDS}
    params.update(given)
    with pytest.raises(InvalidArgument, match="exactly one device"):
        desired_device(params)


def validated(**params):
    """The parameters as the module receives them: Ansible's validation of ARGUMENT_SPECS applied."""
    spec = dict(state=dict(type="str", default="present", choices=["present", "absent"]), xml=dict(type="str"),
                **ARGUMENT_SPECS)
    result = ArgumentSpecValidator(spec, mutually_exclusive=[("xml",) + DEVICE_KINDS]).validate(params)
    return result.validated_parameters, [str(error) for error in result.errors]


def test_ansible_fills_the_defaults_the_builders_rely_on():
    params, errors = validated(disk={"volume": {"pool": "default", "name": "data.qcow2"}, "target": "vdb"})
    assert errors == []
    assert params["disk"]["bus"] == "virtio" and params["disk"]["network"] is None
    element = desired_device(params).element
    assert attributes(element, "target") == {"dev": "vdb", "bus": "virtio"}
    assert attributes(element, "source") == {"pool": "default", "volume": "data.qcow2"}


def test_ansible_validates_nested_options_and_raw_addresses():
    params, errors = validated(
        interface={"mac": MAC, "source": "default", "bandwidth": {"inbound": {"average": 100}}},
        state="absent")
    assert errors == []
    assert attributes(desired_device(params).element, "bandwidth/inbound") == {"average": "100"}
    params, errors = validated(hostdev={"address": {"vendor": "0x1d6b", "product": "0x0002"}})
    assert errors == []
    assert desired_device(params).label == "hostdev usb 1d6b:0002"
    params, errors = validated(disk={"target": "vdb", "network": {"protocol": "nbd", "hosts": [{"name": "nas"}]}})
    assert errors == []
    assert [dict(host.attrib) for host in desired_device(params).element.findall("source/host")] == [{"name": "nas"}]


@pytest.mark.parametrize("params, message", [
    ({"disk": {"source": "/a.img", "target": "vdb", "bus": "floppy"}}, "bus must be one of: virtio, sata"),
    ({"disk": {"source": "/a.img", "volume": {"pool": "p", "name": "v"}, "target": "vdb"}},
     "parameters are mutually exclusive: source|volume|network"),
    ({"disk": {"source": "/a.img"}}, "missing required arguments: target"),
    ({"interface": {"mac": MAC, "bandwidth": {"inbound": {"peak": 5}}}}, "missing required arguments: average"),
    ({"controller": {"type": "scsi"}}, "missing required arguments: index"),
])
def test_ansible_refuses_what_the_argument_specs_refuse(params, message):
    _params, errors = validated(**params)
    assert any(message in error for error in errors), errors


def test_the_modules_documentation_matches_the_argument_specs():
    from ansible_collections.virtops.libvirt.plugins.modules import domain_device  # pylint: disable=import-outside-toplevel
    documented = yaml.safe_load(domain_device.DOCUMENTATION)["options"]
    found = [problem for kind in DEVICE_KINDS
             for problem in documented_differently(ARGUMENT_SPECS[kind], documented.get(kind, {}), kind)]
    assert found == []


# --- disk -----------------------------------------------------------------------------------------------


def test_a_qcow2_file_disk_gets_virtio_and_the_qcow2_format(schema):
    element = device("disk", source="/img/data.qcow2", target="vdb").element
    assert (element.get("type"), element.get("device")) == ("file", "disk")
    assert attributes(element, "driver") == {"name": "qemu", "type": "qcow2"}
    assert attributes(element, "source") == {"file": "/img/data.qcow2"}
    assert attributes(element, "target") == {"dev": "vdb", "bus": "virtio"}
    assert element.find("readonly") is None and element.find("shareable") is None
    assert_valid(schema, element)


def test_any_other_file_is_raw_and_a_given_format_wins():
    assert attributes(device("disk", source="/img/data.img", target="vdb").element, "driver")["type"] == "raw"
    given = device("disk", source="/img/data.img", target="vdb", format="qcow2").element
    assert attributes(given, "driver")["type"] == "qcow2"


def test_a_path_under_dev_is_a_block_disk(schema):
    element = device("disk", source="/dev/vg0/data", target="vdc").element
    assert element.get("type") == "block"
    assert attributes(element, "source") == {"dev": "/dev/vg0/data"}
    assert_valid(schema, element)


def test_every_disk_option_lands_in_the_element(schema):
    element = device("disk", source="/img/a.raw", target="sdb", bus="scsi", cache="none", io="native",
                     discard="unmap", readonly=True, shareable=True, serial="DATA-1", boot_order=2,
                     alias="ua-data").element
    assert attributes(element, "driver") == {"name": "qemu", "type": "raw", "cache": "none", "io": "native",
                                             "discard": "unmap"}
    assert attributes(element, "target") == {"dev": "sdb", "bus": "scsi"}
    assert element.find("readonly") is not None and element.find("shareable") is not None
    assert element.findtext("serial") == "DATA-1"
    assert attributes(element, "boot") == {"order": "2"}
    assert attributes(element, "alias") == {"name": "ua-data"}
    assert_valid(schema, element)


def test_a_volume_disk(schema):
    element = device("disk", volume={"pool": "default", "name": "data.qcow2"}, target="vdb").element
    assert element.get("type") == "volume"
    assert attributes(element, "source") == {"pool": "default", "volume": "data.qcow2"}
    assert attributes(element, "driver")["type"] == "qcow2"
    assert_valid(schema, element)


def test_a_network_disk_with_its_hosts(schema):
    element = device("disk", network={"protocol": "rbd", "name": "pool/image",
                                      "hosts": [{"name": "mon1", "port": 6789}, {"name": "mon2", "port": None}]},
                     target="vdb").element
    assert element.get("type") == "network"
    assert attributes(element, "source") == {"protocol": "rbd", "name": "pool/image"}
    assert [dict(host.attrib) for host in element.findall("source/host")] == [
        {"name": "mon1", "port": "6789"}, {"name": "mon2"}]
    assert_valid(schema, element)


def test_the_fdc_bus_makes_a_floppy(schema):
    element = device("disk", source="/img/boot.img", target="fda", bus="fdc").element
    assert element.get("device") == "floppy"
    assert_valid(schema, element)


def test_a_disk_to_attach_needs_a_source():
    with pytest.raises(InvalidArgument, match=r"^disk.source: a disk to attach needs source"):
        device("disk", target="vdb")


def test_a_disk_to_detach_needs_only_its_target():
    element = device("disk", state="absent", target="vdb").element
    assert element.find("source") is None
    assert attributes(element, "target")["dev"] == "vdb"
    assert element.find("driver").get("type") is None


@pytest.mark.parametrize("options, message", [
    ({"source": "/a.img", "volume": {"pool": "p", "name": "v"}}, r"disk.volume: give only one of source, volume"),
    ({"source": "img/a.img"}, r"disk.source: 'img/a.img' is not an absolute path"),
    ({"source": "/a.img", "boot_order": 0}, r"disk.boot_order: must be at least 1"),
    ({"source": "/a.img", "bus": "floppy"}, r"disk.bus: 'floppy' is not one of virtio"),
    ({"source": "/a.img", "alias": "data"}, r"disk.alias: 'data' is not a user alias.*'ua-'"),
    ({"source": "/a.img", "alias": "ua-a b"}, r"disk.alias: 'ua-a b' is not a user alias"),
    ({"source": "/a.img", "size": 3}, r"disk: unknown option\(s\) size"),
])
def test_disk_refusals_name_the_option(options, message):
    with pytest.raises(InvalidArgument, match=message):
        device("disk", target="vdb", **options)


def test_a_target_is_required():
    with pytest.raises(InvalidArgument, match=r"disk.target is required"):
        device("disk", source="/a.img")


# --- cdrom ----------------------------------------------------------------------------------------------


def test_a_cdrom_with_media_is_a_readonly_sata_drive(schema):
    built = device("cdrom", target="sdb", source="/iso/debian.iso")
    element = built.element
    assert (element.tag, element.get("type"), element.get("device")) == ("disk", "file", "cdrom")
    assert attributes(element, "source") == {"file": "/iso/debian.iso"}
    assert attributes(element, "target") == {"dev": "sdb", "bus": "sata"}
    assert attributes(element, "driver") == {"name": "qemu", "type": "raw"}
    assert element.find("readonly") is not None
    assert (built.kind, built.label) == ("cdrom", "cdrom sdb")
    assert_valid(schema, element)


def test_a_cdrom_without_source_is_an_empty_drive(schema):
    element = device("cdrom", target="hdc", bus="ide", boot_order=1, alias="ua-cd").element
    assert element.find("source") is None
    assert attributes(element, "target") == {"dev": "hdc", "bus": "ide"}
    assert attributes(element, "boot") == {"order": "1"}
    assert_valid(schema, element)


def test_a_cdrom_refuses_a_disk_only_bus():
    with pytest.raises(InvalidArgument, match=r"cdrom.bus: 'virtio' is not one of sata"):
        device("cdrom", target="vdc", bus="virtio")


# --- interface ------------------------------------------------------------------------------------------


def test_a_network_interface_by_mac_gets_a_virtio_model(schema):
    built = device("interface", source="default", mac="52:54:00:AB:CD:EF")
    element = built.element
    assert element.get("type") == "network"
    assert attributes(element, "mac") == {"address": "52:54:00:ab:cd:ef"}
    assert attributes(element, "source") == {"network": "default"}
    assert attributes(element, "model") == {"type": "virtio"}
    assert element.find("link") is None
    assert built.label == "interface 52:54:00:ab:cd:ef"
    assert_valid(schema, element)


def test_an_interface_with_only_an_alias_is_named_by_it(schema):
    built = device("interface", type="user", alias="ua-nic1", link="down")
    assert built.element.find("mac") is None and built.element.find("source") is None
    assert attributes(built.element, "link") == {"state": "down"}
    assert built.label == "interface ua-nic1"
    assert_valid(schema, built.element)


def test_bridge_and_direct_sources(schema):
    bridge = device("interface", type="bridge", source="br0", mac=MAC, model="e1000", vlan=42).element
    assert attributes(bridge, "source") == {"bridge": "br0"}
    assert attributes(bridge, "model") == {"type": "e1000"}
    assert attributes(bridge, "vlan/tag") == {"id": "42"}
    assert_valid(schema, bridge)
    direct = device("interface", type="direct", source="eth0", mode="vepa", mac=MAC).element
    assert attributes(direct, "source") == {"dev": "eth0", "mode": "vepa"}
    assert_valid(schema, direct)


def test_bandwidth_in_both_directions(schema):
    element = device("interface", source="default", mac=MAC, bandwidth={
        "inbound": {"average": 1000, "peak": 5000, "burst": 1024},
        "outbound": {"average": 128, "peak": None, "burst": None}}).element
    assert attributes(element, "bandwidth/inbound") == {"average": "1000", "peak": "5000", "burst": "1024"}
    assert attributes(element, "bandwidth/outbound") == {"average": "128"}
    assert_valid(schema, element)


def test_an_empty_bandwidth_adds_nothing():
    element = device("interface", source="default", mac=MAC, bandwidth={"inbound": None, "outbound": None}).element
    assert element.find("bandwidth") is None


def test_an_interface_to_detach_needs_no_source():
    element = device("interface", state="absent", mac=MAC).element
    assert element.find("source") is None


@pytest.mark.parametrize("options, message", [
    ({"source": "default"}, r"^interface: give mac or alias so a second run finds the same NIC$"),
    ({"source": "default", "mac": "52:54:00:12:34"}, r"interface.mac: '52:54:00:12:34' is not a MAC address"),
    ({"source": "default", "mac": "01:00:5e:00:00:01"}, r"interface.mac: .* is a multicast address"),
    ({"mac": MAC}, r"interface.source: name the libvirt network of the network interface"),
    ({"type": "bridge", "mac": MAC}, r"interface.source: name the host bridge"),
    ({"type": "user", "source": "default", "mac": MAC}, r"interface.source: type user .* has no source"),
    ({"type": "bridge", "source": "br0", "mode": "vepa", "mac": MAC}, r"interface.mode: applies to type direct only"),
    ({"source": "default", "mac": MAC, "vlan": 4096}, r"interface.vlan: a VLAN tag is between 0 and 4095"),
    ({"source": "default", "mac": MAC, "link": "off"}, r"interface.link: 'off' is not one of up, down"),
    ({"source": "default", "mac": MAC, "bandwidth": {"inbound": {"average": -1}}},
     r"interface.bandwidth.inbound.average: must be at least 0"),
])
def test_interface_refusals_name_the_option(options, message):
    with pytest.raises(InvalidArgument, match=message):
        device("interface", **options)


# --- hostdev --------------------------------------------------------------------------------------------


def test_a_pci_hostdev_in_libvirts_address_form(schema):
    built = device("hostdev", address="0000:03:1F.7")
    assert (built.element.get("mode"), built.element.get("type"), built.element.get("managed")) == ("subsystem", "pci", "yes")
    assert attributes(built.element, "source/address") == {"domain": "0x0000", "bus": "0x03", "slot": "0x1f", "function": "0x7"}
    assert built.label == "hostdev 0000:03:1f.7"
    assert_valid(schema, built.element)


def test_a_short_pci_address_is_in_domain_zero_and_unmanaged_leaves_managed_out(schema):
    element = device("hostdev", address="03:00.0", managed=False).element
    assert attributes(element, "source/address")["domain"] == "0x0000"
    assert "managed" not in element.attrib  # libvirt does not print managed='no'
    assert_valid(schema, element)


def test_a_pci_hostdev_by_its_node_device_name():
    built = device("hostdev", address="pci_0000_00_1f_2")
    assert attributes(built.element, "source/address") == {"domain": "0x0000", "bus": "0x00", "slot": "0x1f", "function": "0x2"}
    assert built.label == "hostdev 0000:00:1f.2"


def test_argument_specs_share_no_dict_between_options():
    seen = {}

    def walk(spec, path):
        for name, entry in spec.get("options", {}).items():
            assert id(entry) not in seen, f"{path}.{name} is the same dict as {seen.get(id(entry))}"
            seen[id(entry)] = f"{path}.{name}"
            walk(entry, f"{path}.{name}")

    for kind, spec in ARGUMENT_SPECS.items():
        walk(spec, kind)


def test_a_usb_hostdev_by_vendor_and_product(schema):
    built = device("hostdev", address={"vendor": "0x1D6B", "product": "2"})
    assert built.element.get("type") == "usb"
    assert attributes(built.element, "source/vendor") == {"id": "0x1d6b"}
    assert attributes(built.element, "source/product") == {"id": "0x0002"}
    assert built.label == "hostdev usb 1d6b:0002"
    assert_valid(schema, built.element)


def test_a_usb_hostdev_by_bus_and_device(schema):
    built = device("hostdev", type="usb", address={"bus": 1, "device": "5"}, alias="ua-token")
    assert attributes(built.element, "source/address") == {"bus": "1", "device": "5"}
    assert built.label == "hostdev usb 1.5"
    assert_valid(schema, built.element)


@pytest.mark.parametrize("options, message", [
    ({"address": "0000:03:00"}, r"hostdev.address: a PCI address is a text like 0000:03:00.0"),
    ({"address": "pci_0000_03_00"}, r"hostdev.address: a PCI address is a text like 0000:03:00.0"),
    ({"address": "0000:03:20.0"}, r"hostdev.address: the slot of a PCI address is at most 1f"),
    ({"type": "pci", "address": {"vendor": "1", "product": "2"}}, r"hostdev.address: a PCI address"),
    ({"type": "usb", "address": "0000:03:00.0"}, r"hostdev.address: a USB device is given as"),
    ({"address": {"vendor": "1d6b"}}, r"hostdev.address: a USB device is given as \{vendor, product\}"),
    ({"address": {"vendor": "1d6b", "product": "xyz"}}, r"hostdev.address: a USB vendor or product id"),
    ({"address": {"bus": "one", "device": 2}}, r"hostdev.address: the USB bus is a number"),
    ({"address": None}, r"hostdev.address is required"),
])
def test_hostdev_refusals_name_the_option(options, message):
    with pytest.raises(InvalidArgument, match=message):
        device("hostdev", **options)


# --- filesystem, rng, watchdog, controller, channel -------------------------------------------------------


def test_a_virtiofs_filesystem(schema):
    built = device("filesystem", source="/srv/share", target="share")
    assert built.element.get("type") == "mount"
    assert attributes(built.element, "driver") == {"type": "virtiofs"}
    assert attributes(built.element, "source") == {"dir": "/srv/share"}
    assert attributes(built.element, "target") == {"dir": "share"}
    assert built.element.find("readonly") is None
    assert built.label == "filesystem share"
    assert_valid(schema, built.element)


def test_a_readonly_9p_filesystem(schema):
    element = device("filesystem", source="/srv/share", target="share", driver="path", readonly=True).element
    assert attributes(element, "driver") == {"type": "path"}
    assert element.find("readonly") is not None
    assert_valid(schema, element)


@pytest.mark.parametrize("state, options, message", [
    ("present", {"target": "share"}, r"filesystem.source: a filesystem to attach needs the host directory"),
    ("present", {"source": "srv", "target": "share"}, r"filesystem.source: 'srv' is not an absolute path"),
    ("absent", {"target": " "}, r"filesystem.target: must be the mount tag"),
])
def test_filesystem_refusals_name_the_option(state, options, message):
    with pytest.raises(InvalidArgument, match=message):
        device("filesystem", state=state, **options)


def test_an_rng_reads_urandom_by_default(schema):
    built = device("rng")
    assert built.element.get("model") == "virtio"
    assert attributes(built.element, "backend") == {"model": "random"}
    assert built.element.findtext("backend") == "/dev/urandom"
    assert built.element.find("rate") is None
    assert built.label == "rng virtio"
    assert_valid(schema, built.element)


def test_an_rng_with_a_rate_and_an_alias(schema):
    built = device("rng", backend="/dev/random", rate={"bytes": 1024, "period": 1000}, alias="ua-rng")
    assert attributes(built.element, "rate") == {"bytes": "1024", "period": "1000"}
    assert built.label == "rng ua-rng"
    assert_valid(schema, built.element)


def test_an_rng_rate_needs_bytes():
    with pytest.raises(InvalidArgument, match=r"rng.rate.bytes: must be at least 1"):
        device("rng", rate={"bytes": 0, "period": None})


def test_a_watchdog(schema):
    default = device("watchdog")
    assert dict(default.element.attrib) == {"model": "i6300esb"}
    assert default.label == "watchdog i6300esb"
    assert_valid(schema, default.element)
    given = device("watchdog", model="ib700", action="inject-nmi", alias="ua-dog")
    assert dict(given.element.attrib) == {"model": "ib700", "action": "inject-nmi"}
    assert given.label == "watchdog ua-dog"
    assert_valid(schema, given.element)


def test_a_watchdog_model_libvirt_9_0_does_not_know_is_refused():
    with pytest.raises(InvalidArgument, match=r"watchdog.model: 'itco' is not one of"):
        device("watchdog", model="itco")


@pytest.mark.parametrize("options", [
    {"type": "scsi", "index": 1, "model": "virtio-scsi"},
    {"type": "usb", "index": 0, "model": "qemu-xhci"},
    {"type": "virtio-serial", "index": 0},
    {"type": "pci", "index": 3, "model": "pci-bridge"},
])
def test_controllers(schema, options):
    built = device("controller", **options)
    assert dict(built.element.attrib) == {name: str(value) for name, value in options.items()}
    assert built.label == f"controller {options['type']} {options['index']}"
    assert_valid(schema, built.element)


@pytest.mark.parametrize("options, message", [
    ({"type": "scsi"}, r"controller.index is required"),
    ({"type": "scsi", "index": -1}, r"controller.index: must be at least 0"),
    ({"type": "nvme", "index": 0}, r"controller.type: 'nvme' is not one of"),
])
def test_controller_refusals_name_the_option(options, message):
    with pytest.raises(InvalidArgument, match=message):
        device("controller", **options)


def test_the_guest_agent_channel_without_a_path(schema):
    built = device("channel", target="org.qemu.guest_agent.0")
    assert built.element.get("type") == "unix"
    assert built.element.find("source") is None  # libvirt chooses the path and stores no pathless source
    assert attributes(built.element, "target") == {"type": "virtio", "name": "org.qemu.guest_agent.0"}
    assert built.label == "channel org.qemu.guest_agent.0"
    assert_valid(schema, built.element)


def test_channels_with_a_path_and_without_a_source(schema):
    unix = device("channel", target="org.example.0", path="/run/example.sock").element
    assert attributes(unix, "source") == {"mode": "bind", "path": "/run/example.sock"}
    assert_valid(schema, unix)
    spice = device("channel", type="spicevmc", target="com.redhat.spice.0").element
    assert spice.find("source") is None
    assert_valid(schema, spice)


def test_a_path_applies_to_unix_channels_only():
    with pytest.raises(InvalidArgument, match=r"channel.path: applies to type unix only"):
        device("channel", type="pty", target="org.example.0", path="/run/x.sock")


# --- the xml option -------------------------------------------------------------------------------------


def test_xml_gives_its_tag_as_kind_and_a_label():
    built = desired_device({"xml": "<disk type='file' device='cdrom'><target dev='sdc' bus='sata'/></disk>"})
    assert (built.kind, built.label) == ("disk", "cdrom sdc")
    graphics = desired_device({"xml": "<graphics type='vnc' passwd='secret'/>"})
    assert (graphics.kind, graphics.label) == ("graphics", "graphics vnc")
    nic = desired_device({"xml": f"<interface type='user'><mac address='{MAC.upper()}'/></interface>"})
    assert nic.label == f"interface {MAC}"
    rng = desired_device({"xml": "<rng model='virtio'><backend model='random'/><alias name='ua-rng'/></rng>"})
    assert rng.label == "rng ua-rng"
    assert desired_device({"xml": "<watchdog model='i6300esb'/>"}).label == "watchdog i6300esb"
    assert desired_device({"xml": "<watchdog/>"}).label == "watchdog"
    assert desired_device({"xml": "<memballoon model='virtio'/>"}).label == "memballoon"
    assert desired_device({"xml": "<disk device='disk'/>"}).label == "disk (no target)"


def test_malformed_xml_is_an_xml_error():
    with pytest.raises(XmlError, match="device XML is not well-formed"):
        desired_device({"xml": "<disk type='file'"})


@pytest.mark.parametrize("text, message", [
    ("<devices><disk/><disk/></devices>", r"xml: expected one device element .* got <devices>; give one device per task"),
    ("<domain/>", r"xml: expected one device element .* got <domain>"),
    ("<disk><alias name='mydisk'/></disk>", r"xml: <alias name>: 'mydisk' is not a user alias"),
])
def test_xml_that_is_not_one_known_device_is_refused(text, message):
    with pytest.raises(InvalidArgument, match=message):
        desired_device({"xml": text})


def test_the_schema_check_catches_a_misspelt_attribute(schema):
    """The schema checks above can fail: libvirt's schema refuses what libvirt would refuse."""
    element = device("disk", source="/img/data.qcow2", target="vdb").element
    element.find("target").set("buss", "virtio")
    with pytest.raises(AssertionError):
        assert_valid(schema, element)


# --- what libvirt stores is what the next run compares with ---------------------------------------------

ROUND_TRIP = [
    ("disk", dict(source="/img/data.qcow2", target="vdb")),
    ("disk", dict(source="/img/a.raw", target="sdb", bus="scsi", cache="none", io="native", discard="unmap",
                  readonly=True, shareable=True, serial="DATA-1", boot_order=2, alias="ua-data")),
    ("disk", dict(volume={"pool": "images", "name": "data.qcow2"}, target="vdc")),
    ("disk", dict(network={"protocol": "rbd", "name": "pool/image", "hosts": [{"name": "mon1", "port": 6789}]},
                  target="vdd")),
    ("disk", dict(source="/dev/vg0/data", target="vde")),
    ("cdrom", dict(target="sdc", source="/iso/debian.iso")),
    ("cdrom", dict(target="hdc", bus="ide")),
    ("cdrom", dict(target="sdd", source="/dev/sr0", bus="scsi", boot_order=1)),
    ("interface", dict(source="default", mac="52:54:00:AB:CD:EF", link="down",
                       bandwidth={"inbound": {"average": 1000, "peak": 5000, "burst": 1024}})),
    ("interface", dict(type="user", alias="ua-nic1")),
    ("interface", dict(type="bridge", source="br0", mac="52:54:00:00:00:02", vlan=42, model="e1000")),
    ("interface", dict(type="direct", source="eth0", mode="vepa", mac="52:54:00:00:00:03")),
    ("hostdev", dict(address="0000:03:00.0")),
    ("hostdev", dict(address={"vendor": "0x1d6b", "product": "0x0002"})),
    ("hostdev", dict(address={"bus": 1, "device": 5}, managed=False)),
    ("filesystem", dict(source="/srv/share", target="share")),
    ("filesystem", dict(source="/srv/share", target="share9p", driver="path", readonly=True)),
    ("rng", dict(rate={"bytes": 1024, "period": 1000}, alias="ua-rng")),
    ("watchdog", dict(model="i6300esb", action="poweroff")),
    ("controller", dict(type="scsi", index=1, model="virtio-scsi")),
    ("channel", dict(target="org.qemu.guest_agent.0")),
    ("channel", dict(target="org.example.0", path="/run/example.sock")),
    ("channel", dict(type="spicevmc", target="com.redhat.spice.0")),
]


@pytest.fixture(scope="module")
def test_driver():
    connection = libvirt.open("test:///default")
    yield connection
    connection.close()


@pytest.mark.parametrize("number, kind, options", [(number, *case) for number, case in enumerate(ROUND_TRIP)])
def test_a_defined_device_is_the_same_device_on_the_next_run(test_driver, number, kind, options):
    """libvirt's parser and formatter (the test driver shares them with qemu's) keep every value
    the element sets, so a second run compares equal: no update, changed=false."""
    desired = device(kind, **options).element
    domain_xml = _xml.parse(f"<domain type='test'><name>device-spec-{number}</name><memory>65536</memory>"
                            "<os><type>hvm</type></os><devices/></domain>")
    domain_xml.find("devices").append(_xml.copy_element(desired))
    domain = test_driver.defineXML(_xml.to_string(domain_xml))
    try:
        defined = _xml.parse(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    finally:
        domain.undefine()
    assert [str(difference) for difference in _xml.compare(domain_xml, defined)] == []
