# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the parts of one domain's lifecycle share while they bring it to the task's state.

The definition sync (`_definition`), metadata sync (`_metadata`), state steps (`_transitions`),
graceful shutdown (`_shutdown`) and removal (`_removal`) each get the one `LifecycleContext` of
the domain: its handle, its persistent definition and the state it is predicted to be in, which
check mode follows instead of the real domain.

Their changes are `StateStep`s, planned before the first runs: `run_steps()` hands each action to
the recorder (the one dry-run switch), then, in a real run only, waits for what the step causes
(`settle`), and moves the prediction on (`effect`) in both modes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import ABSENT, Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder, Step, execute
from ansible_collections.virtops.libvirt.plugins.module_utils._targets import Target

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.virtops.libvirt.plugins.module_utils._lifecycle_options import LifecycleOptions

# States in which the domain does not run (a saved one is shut off with a memory image).
POWERED_OFF = ("shutoff", "saved", ABSENT)


def definition_flags() -> int:
    """The persistent definition with its secrets: a password in the template is compared, never shown."""
    return libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE


class LifecycleContext:
    """One domain being brought to the task's state; `predicted_state` is what check mode believes."""

    def __init__(self, connection: Connection, target: Target, options: "LifecycleOptions",
                 recorder: ChangeRecorder) -> None:
        self.connection = connection
        self.target = target
        self.label = target.label
        self.options = options
        self.recorder = recorder
        self.domain: Optional[Domain] = None
        self.definition: Any = None  # the persistent definition as parsed XML (predicted in check mode)
        self.predicted_state = ABSENT

    @property
    def check_mode(self) -> bool:
        return self.recorder.check_mode

    def read_definition(self) -> None:
        self.definition = _xml.parse(self.domain.xml_desc(definition_flags()), "defined XML")

    def live_definition(self) -> Any:
        return _xml.parse(self.domain.xml_desc(libvirt.VIR_DOMAIN_XML_SECURE), "live XML")

    def defined_text(self, element: str) -> Optional[str]:
        return None if self.definition is None else _xml.element_text(self.definition, element)

    def is_persistent(self) -> bool:
        return self.domain is not None and self.domain.is_persistent()

    def is_running(self) -> bool:
        """Active now (or, in check mode, predicted to be active at this point of the plan)."""
        if self.check_mode:
            return self.predicted_state not in POWERED_OFF
        return self.domain is not None and self.domain.is_active()

    def await_states(self, states: list[str], timeout: Optional[float] = None) -> None:
        """Wait (real runs only) until the domain is in one of `states`; the task's timeout by default."""
        if not self.check_mode:
            self.domain.wait_for(states, self.options.timeout if timeout is None else timeout)


@dataclass
class StateStep(Step):
    """A plan step whose effect shows only later: `settle` waits for it (real runs only).

    A step without an action only waits, for a change the guest makes by itself.
    """

    settle: Optional[Callable[[], None]] = None


def run_steps(steps: list[StateStep], context: LifecycleContext) -> None:
    for step in steps:
        if step.action:
            execute([step], context.recorder)
        if step.settle is not None and not context.check_mode:
            step.settle()
        step.effect(context)
