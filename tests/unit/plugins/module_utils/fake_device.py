"""A fake domain for device hot-plug: a live and a persistent definition that attach/update/detach change.

libvirt's test driver implements none of attachDeviceFlags, updateDeviceFlags, detachDeviceFlags,
detachDeviceAlias, so the runner's unit tests use this; the real behaviour is proven on the rig
(tests/integration/test_domain_device.py). Like QEMU, the live definition gives every device an
alias and an address, an interface without MAC gets one, and a live detach by alias is answered
by the guest as `guest` says: "releases" (device-removed event), "refuses" (removal-failed event),
"ignores" (nothing), "silent" (removed, but the event is lost).
"""

import itertools

import libvirt
from lxml import etree

from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain

from fake_jobs import FakeConnection, FakeError

LIVE, CONFIG = libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG

DOMAIN_XML = """<domain type='qemu'><name>vm</name><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/img/vm.qcow2'/>
<target dev='vda' bus='virtio'/></disk>
<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='sdb' bus='sata'/><readonly/></disk>
<interface type='user'><mac address='52:54:00:00:00:01'/><model type='virtio'/></interface>
<graphics type='vnc' port='-1' autoport='yes' passwd='old-secret'/>
</devices></domain>"""


def _key(element):
    """The fake's own idea of identity (kept apart from the code under test)."""
    target, mac, alias = element.find("target"), element.find("mac"), element.find("alias")
    if element.tag == "disk" and target is not None:
        return target.get("dev")
    if element.tag == "interface" and mac is not None:
        return mac.get("address").lower()
    if element.tag == "graphics":
        return element.get("type")
    return alias.get("name") if alias is not None else element.tag


class FakeDeviceVirDomain:
    def __init__(self, connection, active=True, persistent=True, guest="releases"):
        self.connection = connection
        self.active, self.persistent, self.guest = active, persistent, guest
        self.config = etree.fromstring(DOMAIN_XML)
        self.live = etree.fromstring(DOMAIN_XML) if active else None
        self.calls = []
        self.refuse = {}  # libvirt method name -> the error message it raises
        self._numbers = itertools.count(1)
        if active:
            for device in self.live.find("devices"):
                self._adorn(device)

    def name(self):
        return "vm"

    def UUIDString(self):
        return "00000000-0000-0000-0000-000000000001"

    def isActive(self):
        return int(self.active)

    def isPersistent(self):
        return int(self.persistent)

    def XMLDesc(self, flags):
        inactive = flags & libvirt.VIR_DOMAIN_XML_INACTIVE or not self.active
        root = etree.fromstring(etree.tostring(self.config if inactive else self.live))
        if not flags & libvirt.VIR_DOMAIN_XML_SECURE:
            for node in root.iter():
                node.attrib.pop("passwd", None)
        return etree.tostring(root, encoding="unicode")

    # --- helpers ---
    def _adorn(self, device):
        """What QEMU's live definition adds: an alias and a PCI address (and a MAC)."""
        number = next(self._numbers)
        if device.tag == "interface" and device.find("mac") is None:
            device.insert(0, etree.fromstring(f"<mac address='52:54:00:aa:00:{number:02x}'/>"))
        if device.find("alias") is None:
            device.append(etree.fromstring(f"<alias name='{device.tag}{number}'/>"))
        device.append(etree.fromstring(f"<address type='pci' domain='0x0000' bus='0x00' slot='0x{number + 5:02x}' "
                                       "function='0x0'/>"))

    def _definitions(self, flags):
        if flags & LIVE and not self.active:
            raise FakeError("Requested operation is not valid: domain is not running")
        return [root for wanted, root in ((LIVE, self.live), (CONFIG, self.config)) if flags & wanted]

    def _find(self, root, element):
        return next((device for device in root.find("devices") if device.tag == element.tag
                     and _key(device) == _key(element)), None)

    def _check(self, method):
        self.calls.append(method)
        if method in self.refuse:
            raise FakeError(self.refuse[method])

    # --- the device calls ---
    def attachDeviceFlags(self, xml, flags):
        self._check("attachDeviceFlags")
        element = etree.fromstring(xml)
        if flags & LIVE and element.get("device") == "cdrom":  # QEMU cannot hot-plug a CD-ROM drive (the rig)
            raise FakeError("internal error: argument key 'filename' must not have null value")
        for root in self._definitions(flags):
            if self._find(root, element) is not None:
                raise FakeError(f"Requested operation is not valid: target {_key(element)} already exists")
        for root in self._definitions(flags):
            added = etree.fromstring(xml)
            root.find("devices").append(added)
            if root is self.live:
                self._adorn(added)
        return 0

    def updateDeviceFlags(self, xml, flags):
        self._check("updateDeviceFlags")
        if flags & CONFIG and etree.fromstring(xml).tag not in ("disk", "interface", "graphics", "memory"):
            raise FakeError(f"Operation not supported: persistent update of device '{etree.fromstring(xml).tag}' "
                            "is not supported")  # libvirt 9.0's qemuDomainUpdateDeviceConfig
        for root in self._definitions(flags):
            element = etree.fromstring(xml)
            present = self._find(root, element)
            if present is None:
                raise FakeError(f"device not found: no device {_key(element)}")
            if root is self.live and element.get("device") == "cdrom" and element.find("source") is None:
                element.insert(0, etree.fromstring("<source index='7'/>"))  # what QEMU leaves of an ejected medium
            if root is self.live:  # the device keeps what QEMU gave it
                for tag in ("alias", "address"):
                    if element.find(tag) is None and present.find(tag) is not None:
                        element.append(etree.fromstring(etree.tostring(present.find(tag))))
            else:
                for runtime in element.findall("alias"):
                    if not runtime.get("name", "").startswith("ua-"):
                        element.remove(runtime)
            present.getparent().replace(present, element)
        return 0

    def detachDeviceFlags(self, xml, flags):
        self._check("detachDeviceFlags")
        element = etree.fromstring(xml)
        for root in self._definitions(flags):
            present = self._find(root, element)
            if present is None:
                raise FakeError("operation failed: matching device not found")
            present.getparent().remove(present)
        return 0

    def detachDeviceAlias(self, alias, flags):
        self._check("detachDeviceAlias")
        assert flags == LIVE, "a detach by alias is the live one"
        present = next((device for device in self.live.find("devices")
                        if device.find("alias") is not None and device.find("alias").get("name") == alias), None)
        if present is None:
            raise FakeError(f"operation failed: no device found with alias {alias}")
        if present.get("device") == "cdrom":
            raise FakeError("Operation not supported: disk device type 'cdrom' cannot be detached")
        if self.guest in ("releases", "silent"):
            present.getparent().remove(present)
        if self.guest == "releases":
            self.connection.emit(libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, alias)
        elif self.guest == "refuses":
            self.connection.emit(libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED, alias)
        return 0


class FakeDeviceConnection(FakeConnection):
    """defineXMLFlags replaces the persistent definition of the one fake domain."""

    def __init__(self):
        super().__init__()
        self.virdomain = None

    def define_xml_flags(self, text, flags, operation, domain=None):  # pylint: disable=unused-argument
        assert flags & libvirt.VIR_DOMAIN_DEFINE_VALIDATE, "a definition written back is validated"
        self.virdomain.calls.append("defineXMLFlags")
        self.virdomain.config = etree.fromstring(text)
        return self.virdomain


def fake_device_domain(uri="qemu+ssh://kvm01/system", **options):
    """The real Domain around a FakeDeviceVirDomain: (Domain, FakeDeviceVirDomain).

    The daemon is remote by default, so the made-up image paths are not looked for on this machine.
    """
    connection = FakeDeviceConnection()
    connection.uri = uri
    virdomain = FakeDeviceVirDomain(connection, **options)
    connection.virdomain = virdomain
    return Domain(connection, virdomain), virdomain
