# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The disks of a domain as the snapshot, backup and block code sees them (parsed from its XML)."""

from __future__ import annotations

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument


def disk_targets(domain: Domain) -> list[str]:
    """Target names (vda, sdb...) of the domain's disks that can be snapshotted or backed up."""
    root = _xml.parse(domain.xml_desc(), what=f"XML of domain '{domain.name}'")
    targets = []
    for disk in root.findall("devices/disk"):
        target = disk.find("target")
        if target is None or disk.get("device", "disk") not in ("disk", "lun"):
            continue
        if disk.find("readonly") is not None or target.get("dev") is None:
            continue
        targets.append(target.get("dev"))
    return targets


def check_disks(domain: Domain, wanted: list[str], option: str) -> list[str]:
    """`wanted`, after making sure the domain has each of these disks."""
    known = disk_targets(domain)
    for target in wanted:
        if target not in known:
            raise InvalidArgument(
                f"{option}: domain '{domain.name}' has no disk '{target}' (its disks: {', '.join(known) or 'none'})",
                domain=domain.name,
            )
    return wanted


