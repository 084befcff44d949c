# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_device's device: the `xml` option, or a small dict for a common kind, as one libvirt device element.

Pure: no libvirt. The argument specs of the dict kinds live here, beside the builders that read them,
so the module's argspec, its choices and the XML cannot drift apart. Every refusal names the option
(`interface.mac: ...`). The elements are what libvirt 9.0's schema accepts for attach and update.

Defaults are only set where libvirt would otherwise pick something else than a playbook expects
(virtio, a format from the file name); an attribute that libvirt does not print when it has its
default value (managed='no', no <readonly/>) is left out, so the subset comparison of a second run
finds nothing to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument

DEVICE_KINDS = ("disk", "cdrom", "interface", "hostdev", "filesystem", "rng", "watchdog", "controller", "channel")
# Elements libvirt accepts under <devices>: what the `xml` option may be.
DEVICE_TAGS = frozenset({
    "disk", "controller", "lease", "filesystem", "interface", "input", "sound", "hostdev", "graphics", "video",
    "console", "serial", "parallel", "channel", "smartcard", "redirdev", "redirfilter", "hub", "watchdog",
    "memballoon", "rng", "tpm", "shmem", "memory", "iommu", "vsock", "panic", "audio", "crypto",
})

DISK_BUSES = ("virtio", "sata", "scsi", "ide", "usb", "fdc")
CDROM_BUSES = ("sata", "ide", "scsi", "usb")
DISK_CACHES = ("default", "none", "writethrough", "writeback", "directsync", "unsafe")
DISK_IO = ("threads", "native", "io_uring")
DISK_DISCARDS = ("unmap", "ignore")
NETWORK_PROTOCOLS = ("nbd", "rbd", "iscsi", "gluster", "nfs", "http", "https", "ftp", "ftps", "tftp")
INTERFACE_TYPES = ("network", "bridge", "direct", "user")
DIRECT_MODES = ("bridge", "vepa", "private", "passthrough")
LINK_STATES = ("up", "down")
HOSTDEV_TYPES = ("pci", "usb")
FILESYSTEM_DRIVERS = ("virtiofs", "path", "handle")
RNG_MODELS = ("virtio", "virtio-transitional", "virtio-non-transitional")
# libvirt 9.0's schema: itco arrived in 9.1 (give it as `xml` on a newer libvirt).
WATCHDOG_MODELS = ("i6300esb", "ib700", "diag288")
WATCHDOG_ACTIONS = ("reset", "shutdown", "poweroff", "pause", "none", "dump", "inject-nmi")
CONTROLLER_TYPES = ("scsi", "usb", "virtio-serial", "pci", "sata", "ide", "fdc", "ccid", "isa", "xenbus")
CHANNEL_TYPES = ("unix", "pty", "spicevmc")

USER_ALIAS = re.compile(r"^ua-[A-Za-z0-9_.-]+$")  # libvirt keeps only aliases with the ua- prefix
MAC_ADDRESS = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
PCI_ADDRESS = re.compile(r"^(?:(?P<domain>[0-9a-f]{1,4}):)?(?P<bus>[0-9a-f]{1,2}):(?P<slot>[0-9a-f]{1,2})\.(?P<function>[0-7])$")
USB_ID = re.compile(r"^(?:0x)?[0-9a-f]{1,4}$")
FORMATS_BY_SUFFIX = {".qcow2": "qcow2"}  # anything else is raw: libvirt no longer probes formats


# A fresh dict per option (these two are used several times): nothing is shared between two entries
# that Ansible (or a test) could change.
def _alias_spec() -> dict[str, Any]:
    return dict(type="str")


def _rate_spec() -> dict[str, Any]:
    return dict(type="dict", options=dict(average=dict(type="int", required=True), peak=dict(type="int"), burst=dict(type="int")))


ARGUMENT_SPECS: dict[str, dict[str, Any]] = {
    "disk": dict(type="dict", mutually_exclusive=[("source", "volume", "network")], options=dict(
        source=dict(type="path"),
        volume=dict(type="dict", options=dict(pool=dict(type="str", required=True), name=dict(type="str", required=True))),
        network=dict(type="dict", options=dict(
            protocol=dict(type="str", required=True, choices=list(NETWORK_PROTOCOLS)),
            name=dict(type="str"),
            hosts=dict(type="list", elements="dict", options=dict(name=dict(type="str", required=True), port=dict(type="int"))),
        )),
        target=dict(type="str", required=True),
        bus=dict(type="str", default="virtio", choices=list(DISK_BUSES)),
        format=dict(type="str"),
        cache=dict(type="str", choices=list(DISK_CACHES)),
        io=dict(type="str", choices=list(DISK_IO)),
        discard=dict(type="str", choices=list(DISK_DISCARDS)),
        readonly=dict(type="bool", default=False),
        shareable=dict(type="bool", default=False),
        serial=dict(type="str"),
        boot_order=dict(type="int"),
        alias=_alias_spec(),
    )),
    "cdrom": dict(type="dict", options=dict(
        target=dict(type="str", required=True),
        bus=dict(type="str", default="sata", choices=list(CDROM_BUSES)),
        source=dict(type="path"),
        boot_order=dict(type="int"),
        alias=_alias_spec(),
    )),
    "interface": dict(type="dict", options=dict(
        type=dict(type="str", default="network", choices=list(INTERFACE_TYPES)),
        source=dict(type="str"),
        mode=dict(type="str", choices=list(DIRECT_MODES)),
        model=dict(type="str", default="virtio"),
        mac=dict(type="str"),
        link=dict(type="str", choices=list(LINK_STATES)),
        bandwidth=dict(type="dict", options=dict(inbound=_rate_spec(), outbound=_rate_spec())),
        vlan=dict(type="int"),
        alias=_alias_spec(),
    )),
    "hostdev": dict(type="dict", options=dict(
        type=dict(type="str", choices=list(HOSTDEV_TYPES)),
        address=dict(type="raw", required=True),
        managed=dict(type="bool", default=True),
        alias=_alias_spec(),
    )),
    "filesystem": dict(type="dict", options=dict(
        source=dict(type="path"),
        target=dict(type="str", required=True),
        driver=dict(type="str", default="virtiofs", choices=list(FILESYSTEM_DRIVERS)),
        readonly=dict(type="bool", default=False),
        alias=_alias_spec(),
    )),
    "rng": dict(type="dict", options=dict(
        model=dict(type="str", default="virtio", choices=list(RNG_MODELS)),
        backend=dict(type="path", default="/dev/urandom"),
        rate=dict(type="dict", options=dict(bytes=dict(type="int", required=True), period=dict(type="int"))),
        alias=_alias_spec(),
    )),
    "watchdog": dict(type="dict", options=dict(
        model=dict(type="str", default="i6300esb", choices=list(WATCHDOG_MODELS)),
        action=dict(type="str", choices=list(WATCHDOG_ACTIONS)),
        alias=_alias_spec(),
    )),
    "controller": dict(type="dict", options=dict(
        type=dict(type="str", required=True, choices=list(CONTROLLER_TYPES)),
        index=dict(type="int", required=True),
        model=dict(type="str"),
        alias=_alias_spec(),
    )),
    "channel": dict(type="dict", options=dict(
        type=dict(type="str", default="unix", choices=list(CHANNEL_TYPES)),
        target=dict(type="str", required=True),
        path=dict(type="path"),
        alias=_alias_spec(),
    )),
}


@dataclass(frozen=True)
class DesiredDevice:
    """The one device a task is about: its kind, its element, and how messages name it."""

    kind: str  # the dict option (disk, cdrom...), or the element's tag for `xml`
    element: Any  # lxml element
    label: str  # "disk vdb", "interface 52:54:00:12:34:56"


def desired_device(params: Mapping[str, Any]) -> DesiredDevice:
    """The device of the task (module.params): from `xml` or from the one dict kind given."""
    given = [name for name in ("xml",) + DEVICE_KINDS if params.get(name) is not None]
    if len(given) != 1:
        found = ", ".join(given) if given else "none"
        raise InvalidArgument(f"give exactly one device: xml or one of {', '.join(DEVICE_KINDS)} (got {found})")
    kind = given[0]
    if kind == "xml":
        return _from_xml(params["xml"])
    attaching = params.get("state") != "absent"
    element, label = BUILDERS[kind](_Options(kind, params[kind]), attaching)
    return DesiredDevice(kind, element, label)


# --- reading a dict kind's options ----------------------------------------------------------------


class _Options:
    """One dict kind's values, with the argspec's defaults and choices when called without Ansible."""

    def __init__(self, kind: str, given: Any) -> None:
        if not isinstance(given, Mapping):
            raise InvalidArgument(f"{kind} must be a dictionary of options")
        spec = ARGUMENT_SPECS[kind]["options"]
        unknown = sorted(set(given) - set(spec))
        if unknown:
            raise InvalidArgument(f"{kind}: unknown option(s) {', '.join(unknown)} (known: {', '.join(spec)})")
        self.kind = kind
        self.values = {name: given.get(name) if given.get(name) is not None else entry.get("default")
                       for name, entry in spec.items()}
        for name, entry in spec.items():
            value = self.values[name]
            if value is None and entry.get("required"):
                raise InvalidArgument(f"{kind}.{name} is required")
            if value is not None and "choices" in entry and value not in entry["choices"]:
                raise InvalidArgument(f"{kind}.{name}: '{value}' is not one of {', '.join(entry['choices'])}")

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def refuse(self, name: str, why: str) -> InvalidArgument:
        return InvalidArgument(f"{self.kind}.{name}: {why}")


# --- building elements ------------------------------------------------------------------------------


def _element(tag: str, **attributes: Any):
    return _xml.etree.Element(tag, _present(attributes))


def _child(parent, tag: str, **attributes: Any):
    return _xml.etree.SubElement(parent, tag, _present(attributes))


def _present(attributes: Mapping[str, Any]) -> dict[str, str]:
    """The attributes that have a value: an option not given sets nothing, so libvirt's default stands."""
    return {name: str(value) for name, value in attributes.items() if value is not None}


def _text_child(parent, tag: str, text: Optional[str]) -> None:
    if text is not None:
        _child(parent, tag).text = text


def _flag_child(parent, tag: str, wanted: bool) -> None:
    """<readonly/> and the like: libvirt prints them only when set, so False adds nothing."""
    if wanted:
        _child(parent, tag)


def _alias(element, options: _Options) -> Optional[str]:
    alias = options["alias"]
    if alias is None:
        return None
    check_alias(alias, f"{options.kind}.alias")
    _child(element, "alias", name=alias)
    return alias


def check_alias(alias: str, option: str) -> None:
    if not USER_ALIAS.match(alias):
        raise InvalidArgument(f"{option}: '{alias}' is not a user alias: libvirt keeps only aliases that start with "
                              "'ua-' followed by letters, digits, '_', '-' or '.'")


def _absolute(options: _Options, name: str, value: Optional[str]) -> Optional[str]:
    if value is not None and not value.startswith("/"):
        raise options.refuse(name, f"'{value}' is not an absolute path")
    return value


def _positive(options: _Options, name: str, value: Optional[int], minimum: int = 1) -> Optional[int]:
    if value is not None and value < minimum:
        raise options.refuse(name, f"must be at least {minimum} (got {value})")
    return value


def _file_or_block(path: str) -> tuple[str, dict[str, str]]:
    """A path under /dev is a block device (QEMU opens it with host_device), anything else a file."""
    return ("block", {"dev": path}) if path.startswith("/dev/") else ("file", {"file": path})


# --- disk and cdrom -----------------------------------------------------------------------------------


def _disk(options: _Options, attaching: bool):
    source_type, source = _disk_source(options, attaching)
    device = "floppy" if options["bus"] == "fdc" else "disk"
    element = _element("disk", type=source_type, device=device)
    _child(element, "driver", name="qemu", type=options["format"] or _format_of(source),
           cache=options["cache"], io=options["io"], discard=options["discard"])
    if source is not None:
        _disk_source_element(element, options, source)
    _child(element, "target", dev=_target(options), bus=options["bus"])
    _boot_order(element, options)
    _flag_child(element, "readonly", options["readonly"])
    _flag_child(element, "shareable", options["shareable"])
    _text_child(element, "serial", options["serial"])
    _alias(element, options)
    return element, f"disk {options['target']}"


def _disk_source(options: _Options, attaching: bool) -> tuple[Optional[str], Optional[dict[str, Any]]]:
    """The disk's type attribute and its source's attributes (None: no source given)."""
    given = [name for name in ("source", "volume", "network") if options[name] is not None]
    if len(given) > 1:
        raise options.refuse(given[1], f"give only one of source, volume and network (got {', '.join(given)})")
    if options["source"] is not None:
        return _file_or_block(_absolute(options, "source", options["source"]))
    if options["volume"] is not None:
        return "volume", {"pool": options["volume"]["pool"], "volume": options["volume"]["name"]}
    if options["network"] is not None:
        return "network", dict(options["network"])
    if attaching:
        raise options.refuse("source", "a disk to attach needs source (a path), volume or network")
    return None, None


def _format_of(source: Optional[Mapping[str, Any]]) -> Optional[str]:
    """qcow2 for a *.qcow2 file, volume or network image, else raw; None without a source."""
    if source is None:
        return None
    name = source.get("file") or source.get("dev") or source.get("volume") or source.get("name") or ""
    return next((fmt for suffix, fmt in FORMATS_BY_SUFFIX.items() if name.endswith(suffix)), "raw")


def _disk_source_element(element, options: _Options, source: Mapping[str, Any]) -> None:
    if "protocol" not in source:
        _child(element, "source", **source)
        return
    network = _child(element, "source", protocol=source["protocol"], name=source.get("name"))
    for host in source.get("hosts") or []:
        _positive(options, "network.hosts.port", host.get("port"))
        _child(network, "host", name=host["name"], port=host.get("port"))


def _target(options: _Options) -> str:
    target = options["target"].strip()
    if not target:
        raise options.refuse("target", "must name the device the guest sees (vdb, sdc...)")
    return target


def _boot_order(element, options: _Options) -> None:
    if options["boot_order"] is not None:
        _child(element, "boot", order=_positive(options, "boot_order", options["boot_order"]))


def _cdrom(options: _Options, attaching: bool):
    """A CD-ROM drive; without source it is empty (an update with it ejects the media)."""
    path = _absolute(options, "source", options["source"])
    source_type, source = _file_or_block(path) if path is not None else ("file", None)
    element = _element("disk", type=source_type, device="cdrom")
    _child(element, "driver", name="qemu", type="raw")
    if source is not None:
        _child(element, "source", **source)
    _child(element, "target", dev=_target(options), bus=options["bus"])
    _boot_order(element, options)
    _child(element, "readonly")  # libvirt makes every CD-ROM read-only and says so
    _alias(element, options)
    return element, f"cdrom {options['target']}"


# --- interface --------------------------------------------------------------------------------------

# The <source> attribute naming what each interface type connects to.
INTERFACE_SOURCE = {"network": "network", "bridge": "bridge", "direct": "dev"}


def _interface(options: _Options, attaching: bool):
    kind = options["type"]
    mac = _mac(options)
    if mac is None and options["alias"] is None:
        raise InvalidArgument("interface: give mac or alias so a second run finds the same NIC")
    element = _element("interface", type=kind)
    if mac is not None:
        _child(element, "mac", address=mac)
    _interface_source(element, options, attaching)
    _child(element, "model", type=options["model"])
    if options["link"] is not None:
        _child(element, "link", state=options["link"])
    _bandwidth(element, options)
    _vlan(element, options)
    alias = _alias(element, options)
    return element, f"interface {mac or alias}"


def _mac(options: _Options) -> Optional[str]:
    if options["mac"] is None:
        return None
    mac = options["mac"].strip().lower().replace("-", ":")
    if not MAC_ADDRESS.match(mac):
        raise options.refuse("mac", f"'{options['mac']}' is not a MAC address (six hex pairs, 52:54:00:12:34:56)")
    if int(mac[:2], 16) & 1:
        raise options.refuse("mac", f"'{options['mac']}' is a multicast address; a NIC needs a unicast one "
                                    "(the first byte even, e.g. 52:54:00:...)")
    return mac


def _interface_source(element, options: _Options, attaching: bool) -> None:
    kind, source, mode = options["type"], options["source"], options["mode"]
    if mode is not None and kind != "direct":
        raise options.refuse("mode", f"applies to type direct only (type is {kind})")
    if kind == "user":
        if source is not None:
            raise options.refuse("source", "type user (QEMU's own NAT) has no source")
        return
    if source is None:
        if attaching:
            raise options.refuse("source", f"name the {_SOURCE_NOUN[kind]} of the {kind} interface")
        return
    _child(element, "source", **{INTERFACE_SOURCE[kind]: source}, mode=mode)


_SOURCE_NOUN = {"network": "libvirt network", "bridge": "host bridge", "direct": "host device"}


def _bandwidth(element, options: _Options) -> None:
    bandwidth = options["bandwidth"]
    if not bandwidth or not any(bandwidth.get(direction) for direction in ("inbound", "outbound")):
        return
    parent = _child(element, "bandwidth")
    for direction in ("inbound", "outbound"):
        rate = bandwidth.get(direction)
        if rate:
            for name in ("average", "peak", "burst"):
                _positive(options, f"bandwidth.{direction}.{name}", rate.get(name), minimum=0)
            _child(parent, direction, average=rate.get("average"), peak=rate.get("peak"), burst=rate.get("burst"))


def _vlan(element, options: _Options) -> None:
    tag = options["vlan"]
    if tag is None:
        return
    if not 0 <= tag <= 4095:
        raise options.refuse("vlan", f"a VLAN tag is between 0 and 4095 (got {tag})")
    _child(_child(element, "vlan"), "tag", id=tag)


# --- hostdev ----------------------------------------------------------------------------------------


def _hostdev(options: _Options, attaching: bool):
    """A host PCI or USB device given to the guest (managed: libvirt detaches it from its host driver)."""
    address = options["address"]
    kind = options["type"] or ("usb" if isinstance(address, Mapping) else "pci")
    element = _element("hostdev", mode="subsystem", type=kind, managed="yes" if options["managed"] else None)
    source = _child(element, "source")
    name = _pci_source(source, options) if kind == "pci" else _usb_source(source, options)
    _alias(element, options)
    return element, f"hostdev {name}"


def _pci_source(source, options: _Options) -> str:
    address = options["address"]
    text = address.strip().lower() if isinstance(address, str) else ""
    if text.startswith("pci_"):  # the node device's name (virsh nodedev-list): pci_0000_03_00_0
        parts = text[4:].split("_")
        text = f"{':'.join(parts[:-1])}.{parts[-1]}" if len(parts) == 4 else text
    match = PCI_ADDRESS.match(text)
    if match is None:
        raise options.refuse("address", f"a PCI address is a text like 0000:03:00.0 (got {address!r})")
    domain, bus, slot, function = (int(match.group(part) or "0", 16) for part in ("domain", "bus", "slot", "function"))
    if slot > 0x1F:
        raise options.refuse("address", f"the slot of a PCI address is at most 1f (got {address!r})")
    # libvirt's own formatting, so the address reads the same in the desired and the defined device
    _child(source, "address", domain=f"0x{domain:04x}", bus=f"0x{bus:02x}", slot=f"0x{slot:02x}", function=f"0x{function:x}")
    return f"{domain:04x}:{bus:02x}:{slot:02x}.{function:x}"


def _usb_source(source, options: _Options) -> str:
    address = options["address"]
    keys = set(address) if isinstance(address, Mapping) else set()
    if keys == {"vendor", "product"}:
        vendor, product = (_usb_id(options, address[key]) for key in ("vendor", "product"))
        _child(source, "vendor", id=f"0x{vendor:04x}")
        _child(source, "product", id=f"0x{product:04x}")
        return f"usb {vendor:04x}:{product:04x}"
    if keys == {"bus", "device"}:
        bus, device = (_usb_number(options, key, address[key]) for key in ("bus", "device"))
        _child(source, "address", bus=bus, device=device)
        return f"usb {bus}.{device}"
    raise options.refuse("address", f"a USB device is given as {{vendor, product}} or {{bus, device}} (got {address!r})")


def _usb_id(options: _Options, value: Any) -> int:
    text = str(value).strip().lower()
    if not USB_ID.match(text):
        raise options.refuse("address", f"a USB vendor or product id is four hex digits like 0x1d6b (got {value!r})")
    return int(text, 16)


def _usb_number(options: _Options, key: str, value: Any) -> int:
    try:
        number = int(str(value), 10)
    except ValueError:
        number = -1
    if number < 0:
        raise options.refuse("address", f"the USB {key} is a number (got {value!r})")
    return number


# --- filesystem, rng, watchdog, controller, channel ------------------------------------------------


def _filesystem(options: _Options, attaching: bool):
    """A host directory shared with the guest under a mount tag (virtiofs; path/handle are 9p)."""
    element = _element("filesystem", type="mount")
    _child(element, "driver", type=options["driver"])
    source = _absolute(options, "source", options["source"])
    if source is not None:
        _child(element, "source", dir=source)
    elif attaching:
        raise options.refuse("source", "a filesystem to attach needs the host directory to share")
    target = options["target"].strip()
    if not target:
        raise options.refuse("target", "must be the mount tag the guest mounts")
    _child(element, "target", dir=target)
    _flag_child(element, "readonly", options["readonly"])
    _alias(element, options)
    return element, f"filesystem {target}"


def _rng(options: _Options, attaching: bool):
    element = _element("rng", model=options["model"])
    rate = options["rate"]
    if rate:
        _child(element, "rate", bytes=_positive(options, "rate.bytes", rate.get("bytes")),
               period=_positive(options, "rate.period", rate.get("period")))
    _child(element, "backend", model="random").text = _absolute(options, "backend", options["backend"])
    alias = _alias(element, options)
    return element, f"rng {alias or options['model']}"


def _watchdog(options: _Options, attaching: bool):
    element = _element("watchdog", model=options["model"], action=options["action"])
    alias = _alias(element, options)
    return element, f"watchdog {alias or options['model']}"


def _controller(options: _Options, attaching: bool):
    index = _positive(options, "index", options["index"], minimum=0)
    element = _element("controller", type=options["type"], index=index, model=options["model"])
    _alias(element, options)
    return element, f"controller {options['type']} {index}"


def _channel(options: _Options, attaching: bool):
    """A virtio-serial channel (the guest agent's is org.qemu.guest_agent.0)."""
    kind, path = options["type"], _absolute(options, "path", options["path"])
    element = _element("channel", type=kind)
    if path is not None and kind != "unix":
        raise options.refuse("path", f"applies to type unix only (type is {kind})")
    if path is not None:
        _child(element, "source", mode="bind", path=path)
    # Without a path libvirt makes one under its channel directory when the domain starts, and does
    # not store a pathless <source> at all: adding one would be a difference on every run.
    target = options["target"].strip()
    if not target:
        raise options.refuse("target", "must be the channel's name, e.g. org.qemu.guest_agent.0")
    _child(element, "target", type="virtio", name=target)
    _alias(element, options)
    return element, f"channel {target}"


BUILDERS: dict[str, Callable[[_Options, bool], tuple[Any, str]]] = {
    "disk": _disk,
    "cdrom": _cdrom,
    "interface": _interface,
    "hostdev": _hostdev,
    "filesystem": _filesystem,
    "rng": _rng,
    "watchdog": _watchdog,
    "controller": _controller,
    "channel": _channel,
}


# --- the xml option ---------------------------------------------------------------------------------


def _from_xml(text: str) -> DesiredDevice:
    element = _xml.parse(text, what="device XML")
    if element.tag not in DEVICE_TAGS:
        raise InvalidArgument(f"xml: expected one device element ({', '.join(sorted(DEVICE_TAGS))}), got <{element.tag}>"
                              + ("; give one device per task" if element.tag == "devices" else ""))
    alias = element.find("alias")
    if alias is not None and alias.get("name") is not None:
        check_alias(alias.get("name"), "xml: <alias name>")
    return DesiredDevice(element.tag, element, xml_label(element))


def xml_label(element) -> str:
    """How messages name a device element: its kind and what identifies it."""
    tag = element.tag
    alias = element.find("alias")
    alias_name = alias.get("name") if alias is not None else None
    if tag == "disk":
        identity = _xml.IDENTITY[("devices", "disk")](element)
        return f"{element.get('device') or 'disk'} {identity or alias_name or '(no target)'}"
    if tag == "graphics":
        return f"graphics {element.get('type')}"
    if tag in ("rng", "watchdog"):  # found by alias, else as the only one of its model: named so too
        return f"{tag} {alias_name or element.get('model') or ''}".strip()
    key_of = _xml.IDENTITY.get(("devices", tag))
    identity = key_of(element) if key_of else None
    identity = identity or alias_name
    return f"{tag} {identity}" if identity else tag
