# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seam between the domain_guest runner and its parts (users, state, exec, console).

Each part file exports `ARGUMENT_SPECS` (module option -> argspec entry) and `PARTS` (module
option -> GuestPart subclass). The runner (_guest) builds one part per option the task sets,
validates them all before anything happens, asks each for its plan in a fixed order, executes the
steps through the ChangeRecorder (check mode = the plan) and collects each part's result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestAgent
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder, Step


@dataclass
class GuestContext:
    """What every part works with: the domain, its agent (each call bounded by agent_timeout), the recorder."""

    domain: Domain
    agent: GuestAgent
    check_mode: bool
    recorder: ChangeRecorder


class GuestPart:
    """One option of domain_guest: validated first, then planned (reads and decides), then its result.

    `option` is the module option the part answers to (and its key in the module result, unless
    result() says otherwise). Actions (console/debug) return Steps whose apply does the action;
    in check mode they are reported, not run.
    """

    option: str = ""

    def __init__(self, context: GuestContext, wanted: Any) -> None:
        self.context = context
        self.wanted = wanted

    def validate(self) -> None:
        """Raise InvalidArgument naming the option before anything is read or changed."""

    def plan(self) -> list[Step]:
        """Read what the decision needs (bounded agent calls) and return the steps to take."""
        return []

    def result(self) -> dict[str, Any]:
        """The part's key(s) in the module result, after the steps ran (or were only reported)."""
        return {}

    def secrets(self) -> list[str]:
        """Values never to appear in results, diffs or errors (passwords, secret stdin)."""
        return []

    def abort(self) -> None:
        """Undo what must not outlive a task that failed after this part's steps ran (thaw a freeze).

        Called by the runner, best effort, when a later step fails or the module process is interrupted.
        """
