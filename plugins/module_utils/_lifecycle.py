# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lifecycle of domains, for domain_state: one domain, or a batch of them.

`DomainLifecycle` reads the actual domain, then composes the parts that change it, each in a file
of its own and sharing one `LifecycleContext`: the definition (`_definition`), metadata
(`_metadata`), state transitions planned as data (`_transitions`, with the graceful shutdown in
`_shutdown`) and the removal (`_removal`). Every change goes through the `ChangeRecorder`, the one
place a step is either run or only reported, so check mode reports what a real run does.
"""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestAgent
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import DefinitionSync
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import ABSENT, Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import VirtopsError
from ansible_collections.virtops.libvirt.plugins.module_utils._facts import absent_summary, domain_summary
from ansible_collections.virtops.libvirt.plugins.module_utils._lifecycle_context import LifecycleContext
from ansible_collections.virtops.libvirt.plugins.module_utils._lifecycle_options import LifecycleOptions
from ansible_collections.virtops.libvirt.plugins.module_utils._metadata import MetadataSync
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
from ansible_collections.virtops.libvirt.plugins.module_utils._removal import DomainRemoval
from ansible_collections.virtops.libvirt.plugins.module_utils._targets import Target, failure_entry, run_each
from ansible_collections.virtops.libvirt.plugins.module_utils._transitions import StateSteps, effective_state

# The states restart_on_change restarts from: the domain runs (paused or suspended counts).
_ACTIVE = ("running", "paused", "pmsuspended")


class DomainLifecycle:
    """Brings one domain to the desired definition, metadata and state."""

    def __init__(self, connection: Connection, target: Target, options: LifecycleOptions,
                 recorder: ChangeRecorder) -> None:
        self.target = target
        self.options = options
        self.recorder = recorder
        self.context = LifecycleContext(connection, target, options, recorder)
        self.metadata = MetadataSync(self.context)
        self.definition = DefinitionSync(self.context, self.metadata)
        self.transitions = StateSteps(self.context)
        self.removal = DomainRemoval(self.context, self.transitions)

    @property
    def predicted_state(self) -> str:
        return self.context.predicted_state

    def run(self) -> dict[str, Any]:
        context = self.context
        context.domain = Domain.find(context.connection, name=self.target.name, uuid=self.target.uuid)
        before = self._observe()
        if self.options.state == "absent":
            self.removal.remove()
        else:
            self.definition.ensure()
            self.metadata.ensure()
            self._restart_if_pending()
            self.transitions.transition(self.options.state)
            self._await_agent()
        result = self._result(before)
        result["conditional_actions"] = list(self.recorder.conditional_actions)
        return result

    def _observe(self) -> dict[str, Any]:
        context = self.context
        if context.domain is None:
            context.predicted_state = ABSENT
            return {"state": ABSENT}
        context.predicted_state = effective_state(context.domain.state().state, context.domain.has_managed_save())
        observed: dict[str, Any] = {"state": context.predicted_state}
        if context.domain.is_persistent():
            context.read_definition()
            observed["autostart"] = context.domain.autostart()
        if self.options.template is not None and context.definition is not None:
            observed["definition"] = _xml.canonical(context.definition)
        return observed

    def _restart_if_pending(self) -> None:
        """With restart_on_change, a running domain whose definition lags is restarted gracefully."""
        if not self.options.restart_on_change or self.context.predicted_state not in _ACTIVE:
            return
        if not self.definition.pending_restart():
            return
        self.transitions.transition("shutoff")
        if self.options.state == "present":
            self.transitions.transition("running")

    def _await_agent(self) -> None:
        """Ready means the guest agent answers, when the task asks for that."""
        if not self.options.wait_for_agent or self.recorder.check_mode:
            return
        if self.context.domain.state().state == "running":
            GuestAgent(self.context.domain).wait(self.options.timeout)

    def _result(self, before: dict[str, Any]) -> dict[str, Any]:
        context, defined = self.context, self.context.definition
        if context.domain is None or context.predicted_state == ABSENT:
            facts = absent_summary(context.domain.name if context.domain is not None else context.label)
        else:
            facts = domain_summary(context.domain)
        after: dict[str, Any] = {"state": context.predicted_state}
        if defined is not None:
            after["autostart"] = before.get("autostart", False) if self.options.autostart is None else self.options.autostart
        if self.options.template is not None:
            before.setdefault("definition", None)
            after["definition"] = _xml.canonical(defined) if defined is not None else None
            facts["definition_changes"] = self.definition.changes
            if self.definition.secret_changes:  # masked, the definitions look alike: say it in a line of its own
                before["passwords"] = "as they were"
                after["passwords"] = f"changed at {', '.join(self.definition.secret_changes)}"
        facts.update(
            changed=self.recorder.changed,
            actions=self.recorder.actions,
            pending_restart=self.definition.pending_restart(),
            diff={"before": before, "after": after},
        )
        return facts


# --- one domain, many domains --------------------------------------------------------------------


def run_lifecycle(connection: Connection, target: Target, options: LifecycleOptions,
                  recorder: ChangeRecorder) -> dict[str, Any]:
    """Bring one domain to the desired state; its result has `error: None`.

    A failure raises, with `recorder` holding what was done and the error's result carrying the
    documented `domain` dict of the failed domain (see `failure_result`).
    """
    try:
        result = DomainLifecycle(connection, target, options, recorder).run()
    except VirtopsError as error:
        error.result["domain"] = failure_result(connection, target, recorder, error.message)
        if "," in (target.name or "") and error.result["domain"].get("state") == ABSENT:
            # libvirt allows commas in names, so "a,b" is one name; the user likely meant a list
            error.message += ' (a list of names is a YAML or JSON list, such as ["a", "b"]; a comma is part of a name)'
            error.args = (error.message,)
        raise
    result["error"] = None
    return result


def failure_result(connection: Connection, target: Target, recorder: ChangeRecorder, message: str) -> dict[str, Any]:
    """The facts of a domain whose task failed, as it is now, with what was done and why it failed."""
    try:
        domain = Domain.find(connection, name=target.name, uuid=target.uuid)
        facts = domain_summary(domain) if domain is not None else absent_summary(target.label)
    except VirtopsError:
        facts = None  # the connection itself may be what failed: report what is known
    return failure_entry(target, recorder, message, facts)


def run_lifecycles(connection: Connection, targets: list[Target], options: LifecycleOptions, check_mode: bool,
                   parallel: int, warnings: Optional[list[str]] = None) -> list[dict[str, Any]]:
    """Bring each target to the desired state, up to `parallel` at once (see _targets.run_each)."""
    return run_each(targets, lambda target, recorder: run_lifecycle(connection, target, options, recorder),
                    check_mode, parallel,
                    lambda target, recorder, message: failure_result(connection, target, recorder, message), warnings)
