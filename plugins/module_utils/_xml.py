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

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import XmlError

try:
    from lxml import etree
except ImportError:
    etree = None
    LXML_IMPORT_ERROR: Optional[str] = traceback.format_exc()
else:
    LXML_IMPORT_ERROR = None

HAS_LXML = etree is not None
MAX_XML_BYTES = 4 * 1024 * 1024  # domain XML is a few KiB; anything near this is an attack or an accident

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
    """A stable text form: attributes sorted, insignificant whitespace gone (for diffs)."""
    copy = etree.fromstring(etree.tostring(element), _parser())
    for node in copy.iter():
        if isinstance(node.tag, str):
            attributes = sorted(node.attrib.items())
            node.attrib.clear()
            node.attrib.update(attributes)
            if node.text is not None and not node.text.strip():
                node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return etree.tostring(copy, encoding="unicode", pretty_print=True).strip()


@dataclass(frozen=True)
class Difference:
    """One place where the actual definition does not match the template."""

    path: str
    before: Optional[str]  # what libvirt has (None: missing)
    after: Optional[str]  # what the template wants (None: to be removed)

    def __str__(self) -> str:
        if self.before is None:
            return f"{self.path}: added {self.after}"
        if self.after is None:
            return f"{self.path}: removed {self.before}"
        return f"{self.path}: {self.before!r} -> {self.after!r}"


def compare(desired, actual) -> list[Difference]:
    """Differences between a template (`desired`) and libvirt's definition (`actual`), [] if it matches."""
    differences: list[Difference] = []
    path = f"/{desired.tag}"
    if desired.tag != actual.tag:
        return [Difference(path, actual.tag, desired.tag)]
    _compare_element(desired, actual, path, differences)
    return differences


def _compare_element(desired, actual, path: str, out: list[Difference]) -> None:
    scaled = desired.tag in SCALED_ELEMENTS and _is_integer(desired.text)
    for name, wanted in desired.attrib.items():
        if scaled and name == "unit":
            continue
        present = actual.get(name)
        if not _same_value(name, wanted, present):
            out.append(Difference(f"{path}/@{name}", present, wanted))
    if scaled:
        wanted_bytes, present_bytes = scaled_bytes(desired), scaled_bytes(actual)
        if wanted_bytes != present_bytes:
            out.append(Difference(path, _describe_scaled(actual), _describe_scaled(desired)))
    else:
        wanted_text = (desired.text or "").strip()
        present_text = (actual.text or "").strip()
        if wanted_text and wanted_text != present_text:
            out.append(Difference(path, present_text or None, wanted_text))
    for wanted_child, present_child, label in _pair_children(desired, actual):
        child_path = f"{path}/{label}"
        if present_child is None:
            out.append(Difference(child_path, None, canonical(wanted_child)))
        elif wanted_child is None:
            out.append(Difference(child_path, canonical(present_child), None))
        else:
            _compare_element(wanted_child, present_child, child_path, out)


def _is_integer(text: Optional[str]) -> bool:
    return bool(text and text.strip().isdigit())


def scaled_bytes(element) -> Optional[int]:
    if not _is_integer(element.text):
        return None
    factor = UNIT_FACTORS.get((element.get("unit") or DEFAULT_UNIT).lower())
    return None if factor is None else int(element.text.strip()) * factor


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


def _name_key(element) -> Optional[str]:
    return element.get("name")


# (parent tag, child tag) -> identity of a child; children without one are matched by order.
IDENTITY: dict[tuple[str, str], Callable[[Any], Optional[str]]] = {
    ("devices", "disk"): _disk_key,
    ("devices", "interface"): _interface_key,
    ("devices", "controller"): _controller_key,
    ("devices", "filesystem"): _filesystem_key,
    ("devices", "channel"): _channel_key,
    ("cpu", "feature"): _name_key,
}
# Children matched by order within their kind: controllers of one type, interfaces of one type.
ORDER_BY_TYPE = frozenset({("devices", "interface"), ("devices", "controller")})


def _elements(parent) -> list:
    return [child for child in parent if isinstance(child.tag, str)]


def _order_group(parent_tag: str, element) -> tuple[str, Optional[str]]:
    if (parent_tag, element.tag) in ORDER_BY_TYPE:
        return element.tag, element.get("type")
    return element.tag, None


def _pair_children(desired, actual) -> list[tuple[Any, Any, str]]:
    """Pair each template child with its counterpart: (wanted, present or None, path label).

    Also yields (None, present, label) for owned devices the template no longer lists.
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
        pairs.append((wanted, present, f"{wanted.tag}[{key}]"))
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
        pairs.append((wanted, present, _ordinal_label(group, seen[group] if numbered else None)))
    if parent == "devices":
        for present in unmatched:
            if present.tag in OWNED_DEVICES:
                key_of = IDENTITY.get((parent, present.tag))
                key = (key_of(present) if key_of else None) or "?"
                pairs.append((None, present, f"{present.tag}[{key}]"))
    return pairs


def _ordinal_label(group: tuple[str, Optional[str]], position: Optional[int]) -> str:
    kind = f"{group[0]}[type={group[1]}]" if group[1] else group[0]
    return kind if position is None else f"{kind}[{position}]"


def adopt_identity(desired, actual):
    """A copy of the template that keeps what libvirt assigned: the UUID and the MAC addresses.

    Redefining from the bare template would give interfaces new MACs (new leases, new names in
    the guest); this keeps them for every interface the template matches but names no MAC for.
    """
    adopted = etree.fromstring(etree.tostring(desired), _parser())
    uuid = actual.find("uuid")
    if adopted.find("uuid") is None and uuid is not None:
        name = adopted.find("name")
        position = list(adopted).index(name) + 1 if name is not None else 0
        adopted.insert(position, etree.fromstring(etree.tostring(uuid, with_tail=False)))
    wanted_devices, present_devices = adopted.find("devices"), actual.find("devices")
    if wanted_devices is None or present_devices is None:
        return adopted
    for wanted, present, _label in _pair_children(wanted_devices, present_devices):
        if wanted is None or present is None or wanted.tag != "interface" or wanted.find("mac") is not None:
            continue
        mac = present.find("mac")
        if mac is not None:
            wanted.insert(0, etree.fromstring(etree.tostring(mac, with_tail=False)))
    return adopted


def element_text(root, path: str) -> Optional[str]:
    found = root.find(path)
    return None if found is None or found.text is None else found.text.strip()
