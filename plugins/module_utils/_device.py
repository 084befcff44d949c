# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_device's runner: one device attached, updated or detached, in the live and the persistent definition.

Both definitions are read (with their secrets, so a password is compared) and the action for each is
decided before anything changes, so a refusal changes nothing and check mode reports the steps a
real run takes. The same attach or update of both definitions is one call (libvirt applies both or
neither); a detach unplugs the live device first and touches the persistent definition only once
the guest released it.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import is_local_uri
from ansible_collections.virtops.libvirt.plugins.module_utils._device_calls import DeviceCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._device_detach import LiveDetach
from ansible_collections.virtops.libvirt.plugins.module_utils._device_decide import Decision, DeviceOptions, decide, replaced
from ansible_collections.virtops.libvirt.plugins.module_utils._device_match import differences, find_device
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder, Step, execute, predicted
from ansible_collections.virtops.libvirt.plugins.module_utils._scope import resolve_scope, scope_flags


class DeviceRunner:
    """What one task does to one device of one domain."""

    def __init__(self, domain: Domain, desired: Any, options: DeviceOptions, recorder: ChangeRecorder) -> None:
        self.domain = domain
        self.desired = desired  # _device_spec.DesiredDevice: kind, element, label
        self.options = options
        self.recorder = recorder
        self.calls = DeviceCalls(domain)
        self.active = domain.is_active()
        self.persistent = domain.is_persistent()
        self.decisions: list[Decision] = []

    def run(self) -> dict[str, Any]:
        before = self.devices()
        steps = self.plan(before)
        execute(steps, self.recorder)
        check_mode = self.recorder.check_mode
        now = self.devices() if self.recorder.changed and not check_mode else before
        after = predicted(before, steps) if check_mode else now
        scopes = [decision.scope for decision in self.decisions]
        return {"device": {scope: _shown(element) for scope, element in now.items()},
                "diff_before": {scope: _shown(before[scope]) for scope in scopes},
                "diff_after": {scope: _shown(after[scope]) for scope in scopes}}

    # --- reading ------------------------------------------------------------------------------

    def definition(self, scope: str) -> Any:
        """The live or persistent definition, with its secrets (compared, never shown)."""
        flags = flag("VIR_DOMAIN_XML_SECURE") | (flag("VIR_DOMAIN_XML_INACTIVE") if scope == "config" else 0)
        return _xml.parse(self.domain.xml_desc(flags), f"{scope} XML of domain '{self.domain.name}'")

    def devices(self) -> dict[str, Any]:
        """The device in each definition the domain has (None: not there, or no such definition)."""
        found: dict[str, Any] = {"live": None, "config": None}
        for scope, has_it in (("live", self.active), ("config", self.persistent)):
            if has_it:
                found[scope] = find_device(self.definition(scope), self.desired.element, self.desired.label)
        return found

    # --- deciding -----------------------------------------------------------------------------

    def plan(self, before: dict[str, Any]) -> list[Step]:
        """Every step, decided before the first one runs."""
        live, config = resolve_scope(self.options.live, self.options.config, self.active, self.persistent,
                                     self.domain.name)
        detaching = self.options.state == "absent"
        self.decisions = [decide(Decision(scope, scope_flag, before[scope]), self.desired, detaching, self.domain.name)
                          for scope, scope_flag in scope_flags(live, config)]
        for decision in self.decisions:
            if decision.needs_definition:
                decision.definition = replaced(self.definition("config"), self.desired, decision.send)
        pending = [decision for decision in self.decisions if decision.action]
        if any(decision.action != "detach" for decision in pending):
            self._check_source()
        return self._steps(pending)

    def _check_source(self) -> None:
        """A disk's image must exist: libvirt would put a missing one into a shut-off domain's configuration.

        Only a daemon on this machine has its paths here; a remote one checks when the domain runs.
        """
        source = self.desired.element.find("source") if self.desired.element.tag == "disk" else None
        path = None if source is None else source.get("file") or source.get("dev")
        if path and is_local_uri(self.domain.connection.uri) and not os.path.exists(path):
            raise InvalidArgument(f"{self.desired.label}: source {path} does not exist", domain=self.domain.name)

    def _steps(self, pending: list[Decision]) -> list[Step]:
        if len(pending) == 2 and pending[0].action == pending[1].action != "detach" and self._agree(*pending) \
                and pending[1].definition is None:
            live, config = pending
            # One call for both: libvirt changes both or neither. An update sends the persistent form.
            return [self._step(config, live.scope_flag | config.scope_flag, "live and config", extra=(live,))]
        return [self._step(decision, decision.scope_flag, decision.scope) for decision in pending]

    @staticmethod
    def _agree(live: Decision, config: Decision) -> bool:
        """Whether one element can update both: the live device has all the persistent one has (else each
        definition keeps its own other values, and gets its own call)."""
        return live.action == "attach" or not differences(config.present, live.present, live=True)

    def _step(self, decision: Decision, flags: int, where: str, extra: tuple[Decision, ...] = ()) -> Step:
        label, action = self.desired.label, decision.action
        if decision.definition is not None:
            return self._define_step(decision)
        text = f"{action} {label} ({where})" + (f": {decision.why}" if decision.why else "")
        xml = _xml.to_string(decision.send, pretty=False)
        calls = {"attach": self.calls.attach_device_flags, "update": self.calls.update_device_flags,
                 "detach": self.calls.detach_device_flags}

        def apply() -> None:
            if action == "detach" and decision.scope == "live":
                self._detach_live(decision.send)
            else:
                calls[action](xml, flags, label)

        def effect(prediction: dict[str, Any]) -> None:
            for each in (decision, *extra):
                prediction[each.scope] = each.predicted
        return Step(text, apply, effect)

    def _define_step(self, decision: Decision) -> Step:
        label, xml = self.desired.label, _xml.to_string(decision.definition, pretty=False)

        def apply() -> None:
            self.domain.connection.define_xml_flags(xml, flag("VIR_DOMAIN_DEFINE_VALIDATE"), f"update {label} (config)",
                                                    domain=self.domain.name)

        def effect(prediction: dict[str, Any]) -> None:
            prediction["config"] = decision.send
        return Step(f"update {label} (config, by defining the domain again): {decision.why}", apply, effect)

    def _detach_live(self, present: Any) -> None:
        def still_attached() -> bool:
            return find_device(self.definition("live"), self.desired.element, self.desired.label) is not None
        LiveDetach(self.domain, self.calls, self.desired.label, self.options.timeout, still_attached).run(present)


def _shown(element: Any) -> Optional[str]:
    """A device as results and diffs show it: canonical, passwords redacted."""
    return None if element is None else _xml.canonical(element)
