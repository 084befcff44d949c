# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The side effects behind snapshot steps: the libvirt calls (and the memory file a deletion leaves behind).

Nothing here decides anything: _snapshot_plan validates and plans, the steps call these methods.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestAgent
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import VirtopsError
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag


class SnapshotCalls:
    """What the steps of a plan do to one domain's snapshots (nothing here decides anything)."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.quiesce: Optional[dict[str, Any]] = None

    def create(self, name: str, xml: str, flags: int, quiesce: bool) -> None:
        if not quiesce:
            self.domain.snapshots.create_xml(name, xml, flags)
            return
        # a disk-only snapshot (the planner refuses quiesce with memory): freeze, snapshot, always thaw
        self.quiesce = {}
        try:
            with GuestAgent(self.domain).frozen(self.quiesce):
                self.domain.snapshots.create_xml(name, xml, flags)
        except VirtopsError as error:
            if error.after_change:  # the thaw failed after the snapshot was taken
                error.message = f"snapshot '{name}' was created, but {error.message}"
                error.args = (error.message,)
            raise

    def redefine(self, name: str, description: Optional[str], current: bool) -> None:
        text = self.domain.snapshots.lookup(name).xml_desc(flag("VIR_DOMAIN_SNAPSHOT_XML_SECURE"))
        root = _xml.parse(text, what=f"snapshot '{name}' of domain '{self.domain.name}'")
        element = root.find("description")
        if element is None:
            element = _xml.etree.Element("description")
            root.insert(1, element)
        element.text = description
        flags = flag("VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE")
        if current:
            flags |= flag("VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT")
        self.domain.snapshots.create_xml(name, _xml.to_string(root, pretty=False), flags, operation="update snapshot")

    def delete(self, name: str, flags: int, memory_file: Optional[str] = None) -> None:
        self.domain.snapshots.lookup(name).delete(flags)
        if memory_file:
            self._remove_memory_file(name, memory_file)

    def _remove_memory_file(self, name: str, path: str) -> None:
        """libvirt leaves an external snapshot's memory file behind; it belongs to the snapshot."""
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise VirtopsError(f"domain '{self.domain.name}': snapshot '{name}' was deleted, but its memory file "
                               f"{path} could not be removed: {error.strerror}", domain=self.domain.name,
                               operation="delete snapshot", after_change=True) from None

    def revert(self, name: str, flags: int) -> None:
        self.domain.snapshots.revert(name, flags)
