# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which device of a domain definition is the device a task describes, and whether it may be.

Identity follows the collection's rules (_xml.IDENTITY, shared with domain_state's comparison):
disks by target, interfaces by MAC, then alias; host devices by source address; filesystems by
target dir; channels by target name; controllers by type and index; graphics by type; an rng or
a watchdog by alias, else the domain's only one; anything else by alias. A device that cannot be
found again on a second run is refused, naming what it needs.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument

# Devices whose medium is changed (or ejected) in place: the source is theirs to set or remove.
REMOVABLE_MEDIA = frozenset({"cdrom", "floppy"})


def alias_of(element) -> Optional[str]:
    alias = element.find("alias")
    return None if alias is None else alias.get("name")


def is_removable(element) -> bool:
    return element.tag == "disk" and element.get("device") in REMOVABLE_MEDIA


def find_device(root, desired, label: str) -> Optional[Any]:
    """The element of `root` (a domain definition) that is the `desired` device, None when it has none."""
    devices = root.find("devices")
    candidates = [] if devices is None else [child for child in devices if child.tag == desired.tag]
    key_of = _identity(desired, label)
    wanted = key_of(desired)
    return next((candidate for candidate in candidates if key_of(candidate) == wanted), None) \
        if wanted is not None else _only_one(desired, candidates, label)


def _identity(desired, label: str) -> Callable[[Any], Optional[str]]:
    """How devices of the desired kind are told apart, refusing a device that gives nothing to tell it by."""
    tag = desired.tag
    key_of = _xml.IDENTITY.get(("devices", tag))
    if tag == "graphics":
        return lambda element: element.get("type")
    if key_of is not None and key_of(desired) is not None:
        return key_of
    if alias_of(desired):
        return alias_of
    if tag == "disk":
        raise InvalidArgument(f"{label}: a disk needs a target (dev), which names it")
    if tag == "interface":
        raise InvalidArgument(f"{label}: give mac or alias so a second run finds the same NIC")
    if tag in ("rng", "watchdog"):
        return lambda element: None  # the domain's only one (_only_one)
    what = {"controller": "a type and an index", "hostdev": "a source address", "filesystem": "a target dir",
            "channel": "a target name"}.get(tag)
    raise InvalidArgument(f"{label}: give {what + ' or ' if what else ''}an alias (ua-...) so a second run "
                          f"finds the same {tag}")


def _only_one(desired, candidates: list, label: str) -> Optional[Any]:
    """An rng of the same model, or the watchdog: the domain has at most one, else an alias must say which."""
    if desired.tag == "rng":
        candidates = [candidate for candidate in candidates if candidate.get("model") == desired.get("model")]
    if len(candidates) > 1:
        raise InvalidArgument(f"{label}: the domain has {len(candidates)} of these; give an alias (ua-...) "
                              "to say which")
    return candidates[0] if candidates else None


def conflict(desired, present, label: str, detaching: bool = False) -> Optional[str]:
    """Why `present`, found at the desired device's identity, is another device (None: it is this one)."""
    if desired.tag != "disk":
        return None
    wanted_kind, present_kind = desired.get("device") or "disk", present.get("device") or "disk"
    target = _xml.IDENTITY[("devices", "disk")](desired)
    advice = "it is left attached" if detaching else "detach it or choose another target"
    if wanted_kind != present_kind:
        return f"{label}: target {target} is already used by a {present_kind}; {advice}"
    if wanted_kind in REMOVABLE_MEDIA:
        return None  # its medium is changed in place
    wanted, chain = source_location(desired), _chain_locations(present)
    if wanted and chain and wanted not in chain:  # an image of its backing chain: the same disk, snapshotted
        return (f"{label}: target {target} is already used by another disk (source "
                f"{', '.join(chain[0].values())}); {advice}")
    return None


def source_location(disk) -> dict[str, str]:
    """Where a disk's (or a backing layer's) image is: file, dev, pool/volume, protocol/name; {} when empty."""
    source = disk.find("source")
    return {} if source is None else {name: source.get(name) for name in _xml.SOURCE_LOCATION if source.get(name)}


def _chain_locations(disk) -> list[dict[str, str]]:
    """The top image's location, then its backing images' (an empty drive: [])."""
    found, layer = [], disk
    while layer is not None and source_location(layer):
        found.append(source_location(layer))
        layer = layer.find("backingStore")
    return found


# --- how it differs, and what an update sends -------------------------------------------------------


def differences(desired, present, live: bool) -> list[_xml.Difference]:
    """What `present` lacks of `desired` (a subset comparison: what libvirt adds is no difference).

    Besides: an empty drive asked for (no source) differs from a drive with a medium, and a link
    asked to be up is up when libvirt shows no link state (its default).
    """
    found = [difference for difference in _xml.compare(desired, present, live=live)
             if not _default_link_up(desired, difference)]
    # An ejected drive's live <source> keeps only QEMU's index: no medium.
    if is_removable(desired) and desired.find("source") is None and source_location(present):
        found.append(_xml.Difference(f"/{desired.tag}/source", _xml.canonical(present.find("source")), None))
    return found


def _default_link_up(desired, difference: _xml.Difference) -> bool:
    link = desired.find("link") if desired.tag == "interface" else None
    return link is not None and link.get("state") == "up" and difference.path == "/interface/link" \
        and difference.before is None


def updated(desired, present):
    """The device as an update sends it: the present one with the desired values in (an ejected medium: no source)."""
    merged = _xml.merge(desired, present)
    if is_removable(desired) and desired.find("source") is None:
        for source in merged.findall("source"):
            merged.remove(source)
    return merged
