# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checkpoints of one domain (for domain_backup): a named checkpoint present or absent, retention, its XML.

Changes are planned as `_plan.Step`s first (everything validated before the first change), so
check mode reports the steps a real run executes. Deleting a checkpoint merges its dirty-block
bitmap into its child's (libvirt does that), so pruning old checkpoints keeps the newer ones usable
as the base of an incremental backup.
"""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._disks import check_disks, disk_targets
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder, Step, execute
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_facts import list_checkpoints


def retention_victims(names: list[str], prefix: str, retain: int, newest: Optional[str] = None) -> list[str]:
    """The checkpoints (of `names`, oldest first) that keeping the newest `retain` with `prefix` deletes.

    `newest` is the checkpoint the task names: when it does not exist yet, it is created first and
    counts as the newest one.
    """
    if retain < 0:
        raise InvalidArgument(f"retain must not be negative (got {retain})")
    if not prefix:
        raise InvalidArgument("retain needs a prefix: only checkpoints whose names start with it are pruned")
    if newest is not None:
        if not newest.startswith(prefix):
            raise InvalidArgument(f"checkpoint '{newest}' does not start with prefix '{prefix}' that retain manages")
        if retain == 0:
            raise InvalidArgument(f"retain: 0 would delete the new checkpoint '{newest}' at once")
    managed = [name for name in names if name.startswith(prefix)]
    if newest is not None and newest not in managed:
        managed.append(newest)
    return managed[:max(0, len(managed) - retain)]


CHECKPOINT_STATES = ("present", "absent")


class CheckpointRunner:
    """A named checkpoint present or absent, and retention (backups create theirs through _backup)."""

    def __init__(self, domain: Domain, recorder: ChangeRecorder) -> None:
        self.domain = domain
        self.recorder = recorder

    def names(self) -> list[str]:
        return [checkpoint["name"] for checkpoint in list_checkpoints(self.domain)]

    def create_steps(self, name: str, disks: Optional[list[str]] = None, description: Optional[str] = None,
                     existing: Optional[list[str]] = None) -> list[Step]:
        """Creating `name` unless it exists (its XML, and so its disks, validated now)."""
        if name in (self.names() if existing is None else existing):
            return []
        xml = checkpoint_xml(self.domain, name, disks, description)
        return [Step(f"create checkpoint '{name}'", lambda: self.domain.checkpoints.create_xml(name, xml))]

    def delete_steps(self, names: list[str]) -> list[Step]:
        return [self._delete_step(name) for name in names]

    def _delete_step(self, name: str) -> Step:
        return Step(f"delete checkpoint '{name}'", lambda: self.domain.checkpoints.delete(name))

    def run(self, name: str, state: str, disks: Optional[list[str]] = None,
            description: Optional[str] = None) -> dict[str, Any]:
        before = self.names()
        if state == "present":
            steps = self.create_steps(name, disks, description, before)
            planned = before + [name] if steps else list(before)
        elif state == "absent":
            steps = self.delete_steps([name] if name in before else [])
            planned = [item for item in before if item != name]
        else:
            raise InvalidArgument(f"state: a checkpoint can only be present or absent (got {state})")
        execute(steps, self.recorder)
        after = list_checkpoints(self.domain)
        return {
            "checkpoints": after,
            "checkpoint": next((checkpoint for checkpoint in after if checkpoint["name"] == name), None),
            "diff": {"before": {"checkpoints": before}, "after": {"checkpoints": planned}},
        }


def checkpoint_xml(domain: Domain, name: str, disks: Optional[list[str]] = None,
                   description: Optional[str] = None) -> str:
    """<domaincheckpoint> tracking `disks` (default: every disk); validates the disks."""
    etree = _xml.etree
    chosen = check_disks(domain, disks, "disks") if disks else disk_targets(domain)
    root = etree.Element("domaincheckpoint")
    etree.SubElement(root, "name").text = name
    if description is not None:
        etree.SubElement(root, "description").text = _xml.bounded_text(description, "description")
    element = etree.SubElement(root, "disks")
    for target in disk_targets(domain):
        etree.SubElement(element, "disk", name=target, checkpoint="bitmap" if target in chosen else "no")
    return _xml.to_string(root, pretty=False)
