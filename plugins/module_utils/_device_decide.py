# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one definition (live or persistent) of a domain needs for the task's device: attach, update, detach or nothing.

Decided from the definitions as read, before anything changes (check mode is this plan).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._device_match import (
    conflict, differences, find_device, is_removable, updated)
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument


@dataclass(frozen=True)
class DeviceOptions:
    state: str  # present | absent
    live: Optional[bool]
    config: Optional[bool]
    timeout: float


# The devices libvirt's QEMU driver updates in a persistent definition (qemuDomainUpdateDeviceConfig); any
# other is updated by defining the domain again with the device replaced (what `virsh edit` does).
CONFIG_UPDATABLE = frozenset({"disk", "interface", "graphics", "memory"})


@dataclass
class Decision:
    """What one definition (live or config) needs: attach, update, detach or nothing."""

    scope: str
    scope_flag: int
    present: Any  # the device as that definition has it, or None
    action: Optional[str] = None
    send: Any = None  # the element the call is given
    why: str = ""
    definition: Any = None  # an update by defining the domain again: the whole definition to define

    @property
    def needs_definition(self) -> bool:
        """An update libvirt cannot make to a persistent definition: the domain is defined again instead."""
        return self.action == "update" and self.scope == "config" and self.send.tag not in CONFIG_UPDATABLE

    @property
    def predicted(self) -> Any:
        return None if self.action == "detach" else self.send if self.action else self.present


def decide(decision: Decision, desired: Any, detaching: bool, domain: str) -> Decision:
    """Fill in the action `decision.present` (the device as that definition has it, or None) needs."""
    wanted, present = desired.element, decision.present
    refused = conflict(wanted, present, desired.label, detaching) if present is not None else None
    if refused:
        raise InvalidArgument(refused, domain=domain)
    if detaching:
        if present is not None:
            decision.action, decision.send = "detach", present
    elif present is None:
        decision.action, decision.send = "attach", _xml.copy_element(wanted)
    else:
        found = differences(wanted, present, live=decision.scope == "live")
        if found:
            decision.action, decision.send = "update", updated(wanted, present)
            decision.why = "; ".join(str(difference) for difference in found)
    _refuse_drive_hotplug(decision, desired, domain)
    return decision


def _refuse_drive_hotplug(decision: Decision, desired: Any, domain: str) -> None:
    """QEMU neither hot-plugs nor hot-unplugs a CD-ROM or floppy drive (only its medium changes live):
    refused before any change, saying what does work."""
    if decision.scope != "live" or decision.action not in ("attach", "detach") or not is_removable(desired.element):
        return
    kind = "CD-ROM" if desired.element.get("device") == "cdrom" else "floppy"
    if decision.action == "detach":
        raise InvalidArgument(f"{desired.label}: a {kind} drive cannot be hot-unplugged; eject its medium (state: present "
                              "without a source) or remove the drive with live: false (gone at the next boot)",
                              domain=domain)
    raise InvalidArgument(f"{desired.label}: a {kind} drive cannot be hot-plugged into a running domain; add it with "
                          "live: false (it is there from the next boot), then change its medium live", domain=domain)


def replaced(root: Any, desired: Any, device: Any) -> Any:
    """`root` (a fresh persistent definition) with `device` in place of the desired device's present form."""
    present = find_device(root, desired.element, desired.label)
    present.getparent().replace(present, _xml.copy_element(device))
    return root
