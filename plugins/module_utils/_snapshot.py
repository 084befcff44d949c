# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Snapshots of one domain, for domain_snapshot; and removing all snapshots and checkpoints, for state=absent.

The runner plans first (_snapshot_plan: options, snapshot XML, the tree each step leads to), then
hands the steps to the `ChangeRecorder`, the one place where a step is either run or, in check
mode, only reported. The steps' libvirt side effects are `SnapshotCalls` (_snapshot_calls).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import UnsupportedOperation
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder, Step, execute
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_calls import SnapshotCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_facts import list_checkpoints, list_snapshots
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_plan import (
    SnapshotOptions,
    SnapshotPlanner,
    SnapshotTree,
    daemon_text,
    deletion_steps,
    is_local_uri,
    leaves_first,
)

# is_local_uri: _backup imports it from here
__all__ = ["SnapshotOptions", "SnapshotRunner", "is_local_uri", "remove_all_snapshots_and_checkpoints"]


# --- the runner ----------------------------------------------------------------------------------


class SnapshotRunner:
    """Brings one domain's snapshots to what the options ask for: plan first, then act."""

    def __init__(self, domain: Domain, recorder: ChangeRecorder) -> None:
        self.domain = domain
        self.recorder = recorder

    def run(self, options: SnapshotOptions) -> dict[str, Any]:
        before = list_snapshots(self.domain)
        calls = SnapshotCalls(self.domain)
        planner = SnapshotPlanner(self.domain, calls, before)
        execute(planner.plan(options), self.recorder)
        after = before if self.recorder.check_mode else list_snapshots(self.domain)
        actual = SnapshotTree(after)
        result: dict[str, Any] = {
            "snapshots": after,
            "diff": {"before": SnapshotTree(before).diff(),
                     "after": planner.tree.diff() if self.recorder.check_mode else actual.diff()},
        }
        if planner.deleted is not None:
            result["deleted"] = planner.deleted
        if calls.quiesce is not None:
            result["quiesce"] = calls.quiesce
        if options.name:
            result["snapshot"] = next((snapshot for snapshot in after if snapshot["name"] == options.name), None)
        return result


def remove_all_snapshots_and_checkpoints(domain: Domain, recorder: ChangeRecorder, snapshots: bool = True,
                                         checkpoints: bool = True) -> list[str]:
    """Delete every checkpoint (with its bitmaps) and every snapshot (with its data), as a real removal.

    For `state: absent` of a domain: checkpoints first, newest first; then snapshots children
    first, internal ones with their data in the images, external ones merged back and their memory
    files removed. Everything is planned (and refused, e.g. an external snapshot whose parent is
    internal, or checkpoints of a shut-off domain, whose bitmaps libvirt 9.0 cannot delete) before
    the first change; each step goes through `recorder`, so check mode reports the same actions.
    Returns the actions recorded.
    """
    steps: list[Step] = []
    if checkpoints:
        found = list_checkpoints(domain)
        if found and not domain.state().active:
            raise UnsupportedOperation(
                f"domain '{domain.name}' is shut off, and {daemon_text(domain)} deletes checkpoints with their "
                f"bitmaps only while the domain runs ({', '.join(c['name'] for c in found)}); start it first, "
                "or drop only the checkpoints' metadata, which leaves their bitmaps in the disk images",
                domain=domain.name, operation="delete checkpoints")
        for checkpoint in reversed(found):  # newest first: no bitmap is merged into a doomed child
            steps.append(Step(f"delete checkpoint '{checkpoint['name']}'",
                              lambda name=checkpoint["name"]: domain.checkpoints.delete(name)))
    if snapshots:
        before = list_snapshots(domain)
        steps.extend(deletion_steps(domain, SnapshotCalls(domain), leaves_first(before), before, False))
    return execute(steps, recorder)
