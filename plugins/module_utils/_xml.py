# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe XML parsing and the subset comparison of a user's template against libvirt's definition.

Templates are untrusted input: no DTD, no entities, no network, no huge trees.

The comparison answers "does the defined domain already look like the template?": every element,
attribute and text the template sets must match; whatever libvirt adds on its own (UUID, MAC and
PCI addresses, controllers, default attributes) is ignored. Devices are matched by identity (disks
by target dev, interfaces by MAC, controllers by type+index), else by order within their kind.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import REDACTED, InvalidArgument, XmlError

try:
    from lxml import etree
except ImportError:
    etree = None
    LXML_IMPORT_ERROR: Optional[str] = traceback.format_exc()
else:
    LXML_IMPORT_ERROR = None

HAS_LXML = etree is not None
MAX_XML_BYTES = 4 * 1024 * 1024  # domain XML is a few KiB; anything near this is an attack or an accident
# A description or a name put into a document for libvirt: its RPC encodes no string past 4 MiB (the whole
# document), and fails then with "Unable to encode message payload", which names no option.
MAX_TEXT_BYTES = 1024 * 1024

# Devices a template owns outright: libvirt never adds these, so one the template lacks was removed.
OWNED_DEVICES = frozenset({"disk", "interface", "filesystem", "hostdev"})

# Elements whose text is a scaled integer (virScaledInteger): compared in bytes, "unit" included.
SCALED_ELEMENTS = frozenset({"memory", "currentMemory", "maxMemory", "size", "requested", "current", "block"})
UNIT_FACTORS = {
    "b": 1, "bytes": 1,
    "kb": 1000, "k": 1024, "kib": 1024,
    "mb": 1000 ** 2, "m": 1024 ** 2, "mib": 1024 ** 2,
    "gb": 1000 ** 3, "g": 1024 ** 3, "gib": 1024 ** 3,
    "tb": 1000 ** 4, "t": 1024 ** 4, "tib": 1024 ** 4,
    "pb": 1000 ** 5, "p": 1024 ** 5, "pib": 1024 ** 5,
    "eb": 1000 ** 6, "e": 1024 ** 6, "eib": 1024 ** 6,
}
DEFAULT_UNIT = "kib"  # libvirt's default for domain memory sizes


def _parser():
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def bounded_text(text: str, option: str, limit: int = MAX_TEXT_BYTES) -> str:
    """TEXT as it is, refused (naming OPTION) when longer than LIMIT bytes (default: too long for a
    document libvirt takes)."""
    size = len(text.encode("utf-8"))
    if size > limit:
        raise InvalidArgument(f"{option} is too long ({size} bytes, at most {limit})")
    return text


def parse(text: Union[str, bytes], what: str = "domain XML"):
    """Parse untrusted XML; raise XmlError naming `what` for anything malformed or unsafe."""
    if text is None or not str(text if isinstance(text, str) else text.decode("utf-8", "replace")).strip():
        raise XmlError(f"{what} is empty")
    data = text.encode("utf-8") if isinstance(text, str) else text
    if len(data) > MAX_XML_BYTES:
        raise XmlError(f"{what} is too large ({len(data)} bytes, at most {MAX_XML_BYTES})")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        raise XmlError(f"{what} is not well-formed XML: {error}") from None
    except ValueError as error:  # e.g. an encoding declaration in a str
        raise XmlError(f"{what} cannot be parsed: {error}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlError(f"{what} must not contain a DOCTYPE: DTDs and entities are refused for safety")
    return root


def to_string(element, pretty: bool = True) -> str:
    return etree.tostring(element, encoding="unicode", pretty_print=pretty).strip()


def canonical(element) -> str:
    """A stable text form for results and diffs: attributes sorted, insignificant whitespace and
    passwords gone."""
    copy = etree.fromstring(etree.tostring(element, with_tail=False), _parser())
    for node in copy.iter():
        if isinstance(node.tag, str):
            attributes = sorted((name, REDACTED if name in SECRET_ATTRIBUTES else value)
                                for name, value in node.attrib.items())
            node.attrib.clear()
            node.attrib.update(attributes)
            if node.text is not None and not node.text.strip():
                node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return etree.tostring(copy, encoding="unicode", pretty_print=True).strip()


# Attributes whose values are secrets: compared (definitions are read with XML_SECURE), never shown.
SECRET_ATTRIBUTES = frozenset({"passwd", "password", "passphrase"})

# Devices libvirt adds on its own (defaults, companions of other devices). Of every other kind
# the template lists the complete set: one it no longer lists is removed.
LIBVIRT_ADDED_DEVICES = frozenset({"controller", "input", "video", "memballoon", "console", "audio", "emulator"})
# Children of <os> the template owns (libvirt adds <boot> and expands the machine type itself).
OWNED_OS_CHILDREN = frozenset({"kernel", "initrd", "cmdline", "dtb"})
# Top-level elements libvirt changes on a running domain at once: never a reason to restart.
LIVE_CHANGEABLE = frozenset({"title", "description", "metadata"})
# CPU modes that QEMU expands into a custom model and features when the domain starts.
HOST_CPU_MODES = frozenset({"host-model", "host-passthrough", "maximum"})
GRAPHICS_PORTS = frozenset({"port", "tlsPort", "websocket"})
# Attributes naming where a disk's data lives, for matching a template's source in a backing chain.
SOURCE_LOCATION = ("file", "dev", "dir", "name", "protocol", "pool", "volume")
KIB, MIB = 1024, 1024 ** 2


@dataclass(frozen=True)
class Difference:
    """One place where the actual definition does not match the template."""

    path: str
    before: Optional[str]  # what libvirt has (None: missing)
    after: Optional[str]  # what the template wants (None: to be removed)
    secret: bool = False  # a password: the values are never shown

    def __str__(self) -> str:
        before, after = (REDACTED if value is not None and self.secret else value for value in (self.before, self.after))
        if before is None:
            return f"{self.path}: added {after}"
        if after is None:
            return f"{self.path}: removed {before}"
        return f"{self.path}: {before!r} -> {after!r}"


def compare(desired, actual, live: bool = False) -> list[Difference]:
    """Differences between a template (`desired`) and libvirt's definition (`actual`), [] if it matches.

    live=True compares with a running domain's live XML: values that exist only at run time
    (autoport's port, the expanded host CPU, the balloon, memory alignment) and what libvirt
    changes live (title, description, metadata) are then not differences.
    """
    path = f"/{desired.tag}"
    if desired.tag != actual.tag:
        return [Difference(path, actual.tag, desired.tag)]
    comparison = _Comparison(live)
    comparison.element(desired, actual, path, frozenset())
    return comparison.out


class _Comparison:
    def __init__(self, live: bool) -> None:
        self.live = live
        self.out: list[Difference] = []

    def element(self, desired, actual, path: str, scope: frozenset) -> None:
        self._attributes(desired, actual, path, scope)
        self._text(desired, actual, path)
        child_scope = _scope_of(desired, actual, "owned" in scope)
        pairs, _leftovers = _pair_children(desired, actual, "owned" in child_scope)
        for wanted, present, label in pairs:
            if self._ignored_child(desired, wanted if wanted is not None else present, child_scope):
                continue
            child_path = f"{path}/{label}"
            if present is None:
                self.out.append(Difference(child_path, None, canonical(wanted)))
            elif wanted is None:
                self.out.append(Difference(child_path, canonical(present), None))
            else:
                owned = "owned" in child_scope or (desired.tag == "domain" and wanted.tag == "metadata")
                self.element(wanted, present, child_path, child_scope | {"owned"} if owned else child_scope - {"owned"})

    def _attributes(self, desired, actual, path: str, scope: frozenset) -> None:
        scaled = _is_scaled(desired)
        for name, wanted in desired.attrib.items():
            if (scaled and name == "unit") or self._ignored_attribute(desired, name, wanted, scope):
                continue
            present = actual.get(name)
            if not _same_value(name, wanted, present):
                self.out.append(Difference(f"{path}/@{name}", present, wanted, secret=name in SECRET_ATTRIBUTES))

    def _text(self, desired, actual, path: str) -> None:
        if _is_scaled(desired):
            wanted, present = scaled_bytes(desired), scaled_bytes(actual)
            if not _same_size(wanted, present, MIB if self.live else KIB):
                self.out.append(Difference(path, _describe_scaled(actual), _describe_scaled(desired)))
            return
        wanted_text = (desired.text or "").strip()
        present_text = (actual.text or "").strip()
        if desired.tag == "uuid":
            wanted_text, present_text = wanted_text.lower(), present_text.lower()
        if wanted_text and wanted_text != present_text:
            self.out.append(Difference(path, present_text or None, wanted_text))

    def _ignored_attribute(self, desired, name: str, wanted: str, scope: frozenset) -> bool:
        tag = desired.tag
        if tag == "driver" and name == "type" and ("chained_disk" in scope or (self.live and "empty_disk" in scope)):
            return True  # an overlay's format, or the format QEMU does not report for an empty drive
        if not self.live:
            return False
        if tag == "graphics" and name in GRAPHICS_PORTS:
            return desired.get("autoport") == "yes" or wanted == "-1"
        if tag == "cpu":
            return name == "check" or (name in ("mode", "match") and desired.get("mode") in HOST_CPU_MODES)
        return tag == "model" and name == "fallback" and "cpu" in scope

    def _ignored_child(self, parent, child, scope: frozenset) -> bool:
        if "chained_disk" in scope and child.tag in ("source", "backingStore"):
            return True  # the template's source is in the disk's backing chain: the same disk
        if "host_cpu" in scope and child.tag == "model" and not (child.text or "").strip():
            return True  # libvirt drops a host CPU's nameless <model fallback=...>
        if not self.live:
            return False
        if parent.tag == "domain":
            return child.tag in LIVE_CHANGEABLE or child.tag == "currentMemory"
        return "host_cpu" in scope and child.tag in ("model", "vendor", "feature")


def _scope_of(desired, actual, owned: bool) -> frozenset:
    """What the children of `desired` need to know about it."""
    scope = {"owned"} if owned else set()
    if desired.tag == "disk":
        if _in_backing_chain(desired, actual):
            scope.add("chained_disk")
        if desired.find("source") is None:
            scope.add("empty_disk")
    elif desired.tag == "cpu":
        scope.add("cpu")
        if desired.get("mode") in HOST_CPU_MODES:
            scope.add("host_cpu")
    return frozenset(scope)


def _is_scaled(element) -> bool:
    return element.tag in SCALED_ELEMENTS and _is_integer(element.text)


def _is_integer(text: Optional[str]) -> bool:
    return bool(text and text.strip().isdigit())


def scaled_bytes(element) -> Optional[int]:
    if not _is_integer(element.text):
        return None
    factor = UNIT_FACTORS.get((element.get("unit") or DEFAULT_UNIT).lower())
    return None if factor is None else int(element.text.strip()) * factor


def _same_size(wanted: Optional[int], present: Optional[int], granularity: int) -> bool:
    """libvirt rounds sizes up: to whole KiB when it stores them, QEMU to whole MiB when it runs."""
    if wanted is None or present is None:
        return wanted == present
    return 0 <= present - wanted < granularity


def _describe_scaled(element) -> str:
    return f"{(element.text or '').strip()} {element.get('unit') or 'KiB'}"


# QEMU machine type aliases that libvirt expands to a versioned name when it defines a domain.
MACHINE_ALIASES = {"pc": "pc-i440fx-", "q35": "pc-q35-"}


def _same_machine(wanted: str, present: str) -> bool:
    """'pc' matches 'pc-i440fx-7.2', 'virt' matches 'virt-7.2': libvirt stores the expansion."""
    return present.startswith(MACHINE_ALIASES.get(wanted, wanted + "-"))


def _same_value(name: str, wanted: str, present: Optional[str]) -> bool:
    if present is None:
        return False
    if wanted == present:
        return True
    if name == "machine":
        return _same_machine(wanted, present)
    if name == "address" and ":" in wanted:  # MAC addresses: case does not matter
        return wanted.lower() == present.lower()
    wanted_number, present_number = _as_integer(wanted), _as_integer(present)
    return wanted_number is not None and wanted_number == present_number  # "0x03" == "3"


def _as_integer(value: str) -> Optional[int]:
    try:
        return int(value, 0)
    except ValueError:
        try:
            return int(value, 10)
        except ValueError:
            return None


# --- disks and their backing chains -------------------------------------------------------------


def _source_location(source) -> dict[str, str]:
    return {} if source is None else {name: source.get(name) for name in SOURCE_LOCATION if source.get(name)}


def _in_backing_chain(desired_disk, actual_disk) -> bool:
    """The template's source is not the disk's top image but one of its backing images.

    That is the same disk after an external snapshot: the overlay on top holds what was written since.
    """
    wanted = _source_location(desired_disk.find("source"))
    if not wanted or _source_location(actual_disk.find("source")) == wanted:
        return False
    layer = actual_disk.find("backingStore")
    while layer is not None:
        if _source_location(layer.find("source")) == wanted:
            return True
        layer = layer.find("backingStore")
    return False


# --- matching children by identity -------------------------------------------------------------


def _child_of(element, tag: str, attribute: str) -> Optional[str]:
    child = element.find(tag)
    return None if child is None else child.get(attribute)


def _disk_key(element) -> Optional[str]:
    return _child_of(element, "target", "dev")


def _interface_key(element) -> Optional[str]:
    mac = _child_of(element, "mac", "address")
    return mac.lower() if mac else None


def _controller_key(element) -> Optional[str]:
    index = element.get("index")
    return None if index is None else f"{element.get('type')}:{_as_integer(index)}"


def _filesystem_key(element) -> Optional[str]:
    return _child_of(element, "target", "dir")


def _channel_key(element) -> Optional[str]:
    return _child_of(element, "target", "name")


def _hostdev_key(element) -> Optional[str]:
    """A host device by its source: pci:0000:03:00.0, usb:046d:c52b (vendor:product) or usb:1.4 (bus.device)."""
    source = element.find("source")
    if source is None:
        return None
    address, vendor, product = source.find("address"), source.find("vendor"), source.find("product")
    if vendor is not None and product is not None:
        return f"usb:{_as_integer(vendor.get('id') or '') or 0:04x}:{_as_integer(product.get('id') or '') or 0:04x}"
    if address is None:
        return None
    number = {name: _as_integer(address.get(name) or "0") or 0 for name in ("domain", "bus", "slot", "function", "device")}
    if element.get("type") == "usb":
        return f"usb:{number['bus']}.{number['device']}"
    return f"pci:{number['domain']:04x}:{number['bus']:02x}:{number['slot']:02x}.{number['function']:x}"


def _name_key(element) -> Optional[str]:
    return element.get("name")


# (parent tag, child tag) -> identity of a child; children without one are matched by order.
IDENTITY: dict[tuple[str, str], Callable[[Any], Optional[str]]] = {
    ("devices", "disk"): _disk_key,
    ("devices", "interface"): _interface_key,
    ("devices", "controller"): _controller_key,
    ("devices", "filesystem"): _filesystem_key,
    ("devices", "channel"): _channel_key,
    ("devices", "hostdev"): _hostdev_key,
    ("cpu", "feature"): _name_key,
}
# Children matched by order within their kind and type: a VNC and a SPICE display are two devices.
ORDER_BY_TYPE = frozenset({("devices", "interface"), ("devices", "controller"), ("devices", "graphics")})


def _elements(parent) -> list:
    return [child for child in parent if isinstance(child.tag, str)]


def _order_group(parent_tag: str, element) -> tuple[str, Optional[str]]:
    if (parent_tag, element.tag) in ORDER_BY_TYPE:
        return element.tag, element.get("type")
    return element.tag, None


def _owned(parent_tag: str, child, owned_subtree: bool) -> bool:
    """A child of the actual definition that the template must list, or it is removed."""
    if owned_subtree or parent_tag == "features":
        return True
    if parent_tag == "devices":
        return child.tag not in LIBVIRT_ADDED_DEVICES
    return parent_tag == "os" and child.tag in OWNED_OS_CHILDREN


def _pair_children(desired, actual, owned_subtree: bool = False) -> tuple[list[tuple[Any, Any, str]], list]:
    """Pair each template child with its counterpart: (wanted, present or None, path label).

    Also pairs (None, present, label) for children the template owns but no longer lists; the
    actual children it does not own and does not mention come back as leftovers.
    """
    parent = desired.tag
    unmatched = _elements(actual)
    pairs: list[tuple[Any, Any, str]] = []
    by_order = []
    for wanted in _elements(desired):
        key_of = IDENTITY.get((parent, wanted.tag))
        key = key_of(wanted) if key_of else None
        if key is None:
            by_order.append(wanted)
            continue
        present = next((c for c in unmatched if c.tag == wanted.tag and key_of(c) == key), None)
        if present is not None:
            unmatched.remove(present)
        pairs.append((wanted, present, f"{_label_tag(wanted)}[{key}]"))
    sizes: dict[tuple[str, Optional[str]], int] = {}
    for wanted in by_order:
        group = _order_group(parent, wanted)
        sizes[group] = sizes.get(group, 0) + 1
    seen: dict[tuple[str, Optional[str]], int] = {}
    for wanted in by_order:
        group = _order_group(parent, wanted)
        seen[group] = seen.get(group, 0) + 1
        present = next((c for c in unmatched if _order_group(parent, c) == group), None)
        if present is not None:
            unmatched.remove(present)
        numbered = sizes[group] > 1 or (parent, wanted.tag) in ORDER_BY_TYPE
        pairs.append((wanted, present, _ordinal_label(wanted, group, seen[group] if numbered else None)))
    leftovers = []
    for present in unmatched:
        if not _owned(parent, present, owned_subtree):
            leftovers.append(present)
            continue
        key_of = IDENTITY.get((parent, present.tag))
        key = key_of(present) if key_of else None
        if key is None:
            group = _order_group(parent, present)
            pairs.append((None, present, _ordinal_label(present, group, 1 if group[1] else None)))
        else:
            pairs.append((None, present, f"{_label_tag(present)}[{key}]"))
    return pairs, leftovers


def _label_tag(element) -> str:
    """prefix:name for namespaced elements (metadata), the plain tag otherwise."""
    qname = etree.QName(element)
    if qname.namespace is None:
        return qname.localname
    return f"{element.prefix}:{qname.localname}" if element.prefix else qname.localname


def _ordinal_label(element, group: tuple[str, Optional[str]], position: Optional[int]) -> str:
    tag = _label_tag(element)
    kind = f"{tag}[type={group[1]}]" if group[1] else tag
    return kind if position is None else f"{kind}[{position}]"


# --- what to define -------------------------------------------------------------------------------


def merge(desired, actual):
    """The definition to write: the template, plus what the current definition has and it does not mention.

    The template owns what it sets. Kept from `actual`: what libvirt assigned (UUID, MAC and PCI
    addresses, defaults), a password or metadata set by another task, and a disk's overlay with
    its backing chain when the template names an image of that chain. Removed: devices and
    other owned children (see _owned) the template no longer lists. An element whose `type`
    (or a CPU's `mode`) changed is replaced, keeping only its MAC address.
    """
    merged = copy_element(desired)
    _merge_into(merged, actual, owned_subtree=False)
    return merged


def copy_element(element):
    return etree.fromstring(etree.tostring(element, with_tail=False), _parser())


def _merge_into(wanted, present, owned_subtree: bool) -> None:
    if wanted.tag != "domain" and _kind_changed(wanted, present):
        mac = present.find("mac")
        if wanted.tag == "interface" and mac is not None and wanted.find("mac") is None:
            wanted.insert(0, copy_element(mac))
        return
    for name, value in present.attrib.items():
        if name not in wanted.attrib:
            wanted.set(name, value)
    if not (wanted.text or "").strip() and (present.text or "").strip() and not _elements(wanted):
        wanted.text = present.text
    chained = wanted.tag == "disk" and _in_backing_chain(wanted, present)
    if chained:
        _adopt_backing_chain(wanted, present)
    pairs, leftovers = _pair_children(wanted, present, owned_subtree)
    for wanted_child, present_child, _label in pairs:
        if wanted_child is None or present_child is None:
            continue
        if chained and wanted_child.tag in ("source", "backingStore"):
            continue
        owned = owned_subtree or (wanted.tag == "domain" and wanted_child.tag == "metadata")
        _merge_into(wanted_child, present_child, owned)
    same_image = wanted.tag != "disk" or \
        _source_location(wanted.find("source")) == _source_location(present.find("source"))
    # A backing chain belongs to the image it was recorded for.
    kept = [child for child in leftovers if child.tag != "backingStore" or (same_image and not chained)]
    _insert_in_their_order(wanted, present, pairs, kept)


def _insert_in_their_order(wanted, present, pairs, kept: list) -> None:
    """Add the kept children of `present` to `wanted`, each after its predecessor there.

    libvirt's schema fixes the order of some elements (name and uuid come first).
    """
    counterpart = {id(present_child): wanted_child for wanted_child, present_child, _label in pairs
                   if wanted_child is not None and present_child is not None}
    kept_ids = {id(child) for child in kept}
    anchor = None
    for present_child in _elements(present):
        if id(present_child) in counterpart:
            anchor = counterpart[id(present_child)]
        elif id(present_child) in kept_ids:
            added = copy_element(present_child)
            if anchor is None:
                wanted.insert(0, added)
            else:
                anchor.addnext(added)
            anchor = added


def _kind_changed(wanted, present) -> bool:
    attribute = "mode" if wanted.tag == "cpu" else "type"
    return None not in (wanted.get(attribute), present.get(attribute)) and wanted.get(attribute) != present.get(attribute)


def _adopt_backing_chain(wanted, present) -> None:
    """Keep the overlay on top of the template's image: its source, format and backing chain."""
    for tag in ("source", "backingStore"):
        for old in wanted.findall(tag):
            wanted.remove(old)
    position = 0
    for index, child in enumerate(_elements(wanted)):
        if child.tag == "driver":
            position = index + 1
    for tag in ("backingStore", "source"):
        found = present.find(tag)
        if found is not None:
            wanted.insert(position, copy_element(found))
    driver, present_driver = wanted.find("driver"), present.find("driver")
    if driver is not None and present_driver is not None and present_driver.get("type"):
        driver.set("type", present_driver.get("type"))


def with_uuid(desired, uuid: str):
    """A copy of the template with `uuid`, when it sets none (a domain keeps its identity)."""
    adopted = copy_element(desired)
    if adopted.find("uuid") is None and uuid:
        element = adopted.makeelement("uuid", {})
        element.text = uuid
        name = adopted.find("name")
        adopted.insert(list(adopted).index(name) + 1 if name is not None else 0, element)
    return adopted


def namespace_of(element) -> Optional[str]:
    """The namespace URI of an element (None for plain elements, comments and the like)."""
    return etree.QName(element).namespace if isinstance(element.tag, str) else None


def without_namespace(element, namespace: str):
    """A copy whose elements in `namespace` have plain names: libvirt's setMetadata puts them back
    in the namespace itself, and refuses a snippet that declares it."""
    copy = copy_element(element)
    prefix = f"{{{namespace}}}"
    for node in copy.iter():
        if isinstance(node.tag, str) and node.tag.startswith(prefix):
            node.tag = node.tag[len(prefix):]
    etree.cleanup_namespaces(copy)
    return copy


# --- secrets ------------------------------------------------------------------------------------


def secret_values(root) -> set[str]:
    """Every password in the XML, for Ansible's no_log_values."""
    if root is None:
        return set()
    return {value for node in root.iter() if isinstance(node.tag, str)
            for name, value in node.attrib.items() if name in SECRET_ATTRIBUTES and value}


def redact(root):
    """A copy with every password replaced by REDACTED, for results, diffs and messages."""
    copy = copy_element(root)
    for node in copy.iter():
        if isinstance(node.tag, str):
            for name in SECRET_ATTRIBUTES & set(node.attrib):
                node.set(name, REDACTED)
    return copy


def element_text(root, path: str) -> Optional[str]:
    found = root.find(path)
    return None if found is None or found.text is None else found.text.strip()


# --- naming what the schema refuses -----------------------------------------------------------------

LIBVIRT_DOMAIN_SCHEMA = "/usr/share/libvirt/schemas/domain.rng"


def schema_problem(root, schema_file: str = LIBVIRT_DOMAIN_SCHEMA) -> Optional[str]:
    """Which attribute or element makes `root` invalid, when libvirt's schema is on this machine.

    libvirt's own message ("Extra element devices in interleave") does not name it: find the one
    attribute or element whose removal makes the document valid. None when there is no schema
    file, the document is valid, or no single removal fixes it.
    """
    try:
        schema = etree.RelaxNG(etree.parse(schema_file, _parser()))
    except (OSError, etree.LxmlError):
        return None
    work = copy_element(root)
    if schema.validate(work):
        return None
    node = work
    while True:
        for name in list(node.attrib):
            value = node.attrib.pop(name)
            valid = schema.validate(work)
            node.set(name, value)
            if valid:
                return f"attribute '{name}' of <{node.tag}> at {work.getroottree().getpath(node)}"
        culprit = None
        for index, child in enumerate(_elements(node)):
            node.remove(child)
            valid = schema.validate(work)
            node.insert(index, child)
            if valid:
                culprit = child
                break
        if culprit is None:
            return None if node is work else f"element <{node.tag}> at {work.getroottree().getpath(node)}"
        node = culprit
