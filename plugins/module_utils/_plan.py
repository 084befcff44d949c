# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plans as data: steps that say what they will do, run or (in check mode) only reported.

A runner first turns the task into `Step`s, validating everything it can before the first change;
`execute()` then hands each step to the `ChangeRecorder`, the one place where a step is either run
or only recorded. Check mode therefore reports exactly the actions a real run takes, and results
carry `actions` from the plan.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import VirtopsError

T = TypeVar("T")


class ChangeRecorder:
    """The changes of one unit of work: each step runs, or in check mode is only recorded."""

    def __init__(self, check_mode: bool) -> None:
        self.check_mode = check_mode
        self.actions: list[str] = []
        self.conditional_actions: list[str] = []
        self.warnings: list[str] = []

    @property
    def changed(self) -> bool:
        return bool(self.actions)

    def perform(self, action: str, apply: Callable[[], T]) -> Optional[T]:
        """Record `action` as a change; run `apply` unless in check mode. The one dry-run switch.

        An action that raises is not recorded: libvirt refused it, so nothing changed; unless the
        error says it came after the change itself (VirtopsError.after_change).
        """
        if self.check_mode:
            self.actions.append(action)
            return None
        try:
            outcome = apply()
        except VirtopsError as error:
            if error.after_change:
                self.actions.append(action)
            raise
        self.actions.append(action)
        return outcome

    def may_perform(self, action: str) -> None:
        """Record an action the plan takes only if something known at run time happens (see RETURN)."""
        self.conditional_actions.append(action)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@dataclass
class Step:
    """One change: what it is called in `actions`, how to do it, and what it does to a prediction."""

    action: str
    apply: Callable[[], Any]
    effect: Callable[[Any], None] = lambda prediction: None


def predicted(before: Any, steps: list[Step]) -> Any:
    """Check mode's after: a copy of `before` changed by each planned step's effect."""
    prediction = copy.deepcopy(before)
    for step in steps:
        step.effect(prediction)
    return prediction


def execute(steps: list[Step], recorder: ChangeRecorder) -> list[str]:
    """Run the steps through the recorder (the one dry-run switch); the actions they recorded."""
    first = len(recorder.actions)
    for step in steps:
        recorder.perform(step.action, step.apply)
    return recorder.actions[first:]
