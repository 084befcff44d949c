# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`state: absent` of a domain: snapshot and checkpoint data, the undefine, then the power-off.

Everything that can refuse the removal is checked, and the undefine and power-off planned as
steps, before the first change.
"""

from __future__ import annotations

from typing import Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._domain import ABSENT, Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import UNDEFINE_KEEPS, UNDEFINE_REMOVALS, combine
from ansible_collections.virtops.libvirt.plugins.module_utils._lifecycle_context import (
    LifecycleContext,
    StateStep,
    run_steps,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot import remove_all_snapshots_and_checkpoints
from ansible_collections.virtops.libvirt.plugins.module_utils._transitions import StateSteps

# Removals done by deleting objects with their data before the undefine, rather than by an undefine flag.
DATA_REMOVALS = ("snapshots", "checkpoints")
# The remove option's choices, and its default.
REMOVALS = (*UNDEFINE_REMOVALS, *DATA_REMOVALS)
DEFAULT_REMOVALS = ("managed_save", "snapshots_metadata", "checkpoints_metadata")


def undefine_removals(remove: list[str]) -> list[str]:
    """The removals that are undefine flags (the others delete objects first, see DATA_REMOVALS)."""
    return [name for name in remove if name not in DATA_REMOVALS]


class DomainRemoval:
    """Removes the domain: refuse what libvirt would refuse, plan, then delete data, undefine, power off."""

    def __init__(self, context: LifecycleContext, transitions: StateSteps) -> None:
        self.context = context
        self.transitions = transitions
        self.options = context.options

    @property
    def domain(self) -> Optional[Domain]:
        return self.context.domain

    def remove(self) -> None:
        if self.domain is None:
            return
        steps = self.plan()
        self._remove_snapshot_data()  # planned by _snapshot before its first deletion
        run_steps(steps, self.context)
        self.context.definition = None
        self.context.predicted_state = ABSENT

    def plan(self) -> list[StateStep]:
        """The undefine and the power-off, after every check that can refuse them."""
        steps = []
        if self.domain.is_persistent():
            flags = self._undefine_flags()
            self._refuse_leftovers()
            # Undefine before powering off: when libvirt refuses (NVRAM, say) the guest still runs.
            # A running domain becomes transient, and the destroy below removes it.
            domain = self.domain
            steps.append(StateStep("undefine", lambda: domain.undefine_flags(flags)))
        if self.context.predicted_state not in ("shutoff", "saved"):
            steps.append(self.transitions.destroy())
        return steps

    def _undefine_flags(self) -> int:
        """The removals asked for, plus an explicit "keep" for NVRAM/TPM state the domain has.

        libvirt refuses to undefine a domain with NVRAM unless told what to do with it; "keep"
        flags go only where needed because some drivers reject flags they do not know.
        """
        remove = undefine_removals(self.options.remove)
        has = {"nvram": self._defined_has("os/nvram"), "tpm": self._defined_has("devices/tpm/backend[@type='emulator']")}
        keep = [name for name in UNDEFINE_KEEPS if name not in remove and has[name]]
        return combine("remove", remove, UNDEFINE_REMOVALS) | combine("remove", keep, UNDEFINE_KEEPS)

    def _defined_has(self, path: str) -> bool:
        definition = self.context.definition
        return definition is not None and definition.find(path) is not None

    def _remove_snapshot_data(self) -> None:
        """Delete snapshots and checkpoints with their data when asked; else warn about data left behind.

        Dropping only their metadata (the undefine flags) leaves internal snapshots inside the qcow2
        images, external ones as overlay and memory files, and checkpoint bitmaps in the images.
        """
        remove = self.options.remove
        if "snapshots" in remove or "checkpoints" in remove:
            remove_all_snapshots_and_checkpoints(self.domain, self.context.recorder, snapshots="snapshots" in remove,
                                                 checkpoints="checkpoints" in remove)
        left = []
        if "snapshots" not in remove and "snapshots_metadata" in remove:
            count = self.domain.snapshots.count()
            if count:
                left.append(f"{count} snapshot(s) (internal ones stay inside the disk images, external ones as "
                            "overlay and memory files; remove: [snapshots] deletes them with their data)")
        if "checkpoints" not in remove and "checkpoints_metadata" in remove:
            count = len(self.domain.checkpoints.list_all())
            if count:
                left.append(f"{count} checkpoint(s) (their bitmaps stay inside the disk images; "
                            "remove: [checkpoints] deletes them with their data)")
        if left:
            self.context.recorder.warn(f"domain '{self.domain.name}': only the metadata of {' and '.join(left)} is removed")

    def _refuse_leftovers(self) -> None:
        """Fail before anything changes when libvirt would refuse the undefine for what remains."""
        remove = self.options.remove
        # In check mode the deletions above did not happen; the real run leaves nothing for these.
        snapshots_go = "snapshots_metadata" in remove or "snapshots" in remove
        checkpoints_go = "checkpoints_metadata" in remove or "checkpoints" in remove
        leftovers = []
        if "managed_save" not in remove and self.domain.has_managed_save():
            leftovers.append("a managed save image (add managed_save to remove)")
        if not snapshots_go and self.domain.snapshots.count():
            leftovers.append("snapshots (add snapshots or snapshots_metadata to remove)")
        if not checkpoints_go and self.domain.checkpoints.list_all():
            leftovers.append("checkpoints (add checkpoints or checkpoints_metadata to remove)")
        if leftovers:
            raise InvalidArgument(
                f"domain '{self.domain.name}' cannot be undefined: it has {', '.join(leftovers)}",
                domain=self.domain.name)
