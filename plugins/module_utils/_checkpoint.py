# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checkpoints of one domain (for domain_backup): a named checkpoint present or absent, its XML."""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._disks import check_disks, disk_targets
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_facts import list_checkpoints


class CheckpointRunner:
    """A named checkpoint present or absent (backups create theirs through _backup)."""

    def __init__(self, domain: Domain, recorder: ChangeRecorder) -> None:
        self.domain = domain
        self.recorder = recorder

    def run(self, name: str, state: str, disks: Optional[list[str]] = None,
            description: Optional[str] = None) -> dict[str, Any]:
        before = list_checkpoints(self.domain)
        names = [checkpoint["name"] for checkpoint in before]
        planned = list(names)
        if state == "present" and name not in names:
            xml = checkpoint_xml(self.domain, name, disks, description)
            self.recorder.perform(f"create checkpoint '{name}'",
                                  lambda: self.domain.checkpoints.create_xml(name, xml))
            planned.append(name)
        elif state == "absent" and name in names:
            self.recorder.perform(f"delete checkpoint '{name}'", lambda: self._delete(name))
            planned.remove(name)
        elif state not in ("present", "absent"):
            raise InvalidArgument(f"state: a checkpoint can only be present or absent (got {state})")
        after = before if self.recorder.check_mode else list_checkpoints(self.domain)
        return {
            "checkpoints": after,
            "checkpoint": next((checkpoint for checkpoint in after if checkpoint["name"] == name), None),
            "diff": {"before": {"checkpoints": names}, "after": {"checkpoints": planned}},
        }

    def _delete(self, name: str) -> None:
        self.domain.checkpoints.delete(name)


def checkpoint_xml(domain: Domain, name: str, disks: Optional[list[str]] = None,
                   description: Optional[str] = None) -> str:
    """<domaincheckpoint> tracking `disks` (default: every disk); validates the disks."""
    etree = _xml.etree
    chosen = check_disks(domain, disks, "disks") if disks else disk_targets(domain)
    root = etree.Element("domaincheckpoint")
    etree.SubElement(root, "name").text = name
    if description is not None:
        etree.SubElement(root, "description").text = description
    element = etree.SubElement(root, "disks")
    for target in disk_targets(domain):
        etree.SubElement(element, "disk", name=target, checkpoint="bitmap" if target in chosen else "no")
    return _xml.to_string(root, pretty=False)
