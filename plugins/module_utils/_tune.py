# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_tune's frame: the contract of a resource group (TuneGroup), what it tunes (TuneTarget), the runner.

A group (vcpus, memory, cputune...) is one module option. It validates its values before anything
changes, reads its current values per definition ("live", "config") in the option's own shape and
units, and plans the steps that set only what differs. TuneRunner validates every group given,
reads them all, plans every step, and only then executes the plan, so a refusal changes nothing
and check mode reports the steps a real run takes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder, Step, execute
from ansible_collections.virtops.libvirt.plugins.module_utils._scope import resolve_scope, scope_flags
from ansible_collections.virtops.libvirt.plugins.module_utils._tune_calls import TuneCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._xml import parse as parse_xml

# A group's values in one definition: option key -> value, as the option takes it.
Values = dict[str, Any]


@dataclass
class TuneTarget:
    """The domain a task tunes and the definitions it changes: scopes are (name, VIR_DOMAIN_AFFECT_*)."""

    domain: Domain
    calls: TuneCalls
    active: bool
    persistent: bool
    scopes: list[tuple[str, int]]
    host_cpus: int
    # The task's options: a group may count on what an earlier group of the task creates (IOThreads, vCPUs to pin).
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def scope_names(self) -> list[str]:
        return [name for name, _flags in self.scopes]


class TuneGroup:
    """One resource group of domain_tune: subclasses set `option` and implement read and steps.

    `wanted` is the option's value with the keys not given (None) left out: values not given are
    left alone. A step's `effect` gets the group's predicted values of the step's definition (a copy
    of what read() returned) and changes them as the step would: check mode reports that as after.
    """

    option: str = ""

    def __init__(self, target: TuneTarget, wanted: Any) -> None:
        self.target = target
        self.wanted = {key: value for key, value in wanted.items() if value is not None} \
            if isinstance(wanted, dict) else wanted

    @property
    def domain(self) -> Domain:
        return self.target.domain

    @property
    def calls(self) -> TuneCalls:
        return self.target.calls

    def validate(self) -> None:
        """Limits and syntax, before anything changes; InvalidArgument naming the option (see refuse)."""

    def read(self, scope: str) -> Values:
        """The group's current values in that definition ("live" or "config")."""
        raise NotImplementedError

    def steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        """The steps that make `current` (read(scope)) what `wanted` asks for: only what differs."""
        raise NotImplementedError

    # --- helpers for the groups ---
    @staticmethod
    def scope_flag(scope: str) -> int:
        """VIR_DOMAIN_AFFECT_LIVE or _CONFIG of a definition, also of live outside the task's scopes (read for pending_restart)."""
        return flag("VIR_DOMAIN_AFFECT_LIVE") if scope == "live" else flag("VIR_DOMAIN_AFFECT_CONFIG")

    def definition(self, scope: str) -> Any:
        """The parsed definition of that scope: the running domain's for live, the persistent one for config."""
        flags = 0 if scope == "live" else flag("VIR_DOMAIN_XML_INACTIVE")
        return parse_xml(self.domain.xml_desc(flags), f"definition of domain '{self.domain.name}'")

    def name(self, key: Optional[str] = None) -> str:
        """How errors name the option or one of its keys: "vcpus.count"."""
        return f"{self.option}.{key}" if key else self.option

    def refuse(self, key: Optional[str], message: str) -> InvalidArgument:
        """The error for a value that cannot work: `raise self.refuse("count", "9 is more than the maximum 4")`."""
        return InvalidArgument(f"{self.name(key)}: {message}", domain=self.domain.name)

    def compared_keys(self, live: Values, config: Values) -> list[str]:
        """The values of both definitions that tell whether a restart is pending: those the task gives."""
        given = self.wanted if isinstance(self.wanted, dict) else live
        return [key for key in given if key in live and key in config]

    def step(self, scope: str, what: str, apply: Callable[[], Any],
             effect: Callable[[Values], None] = lambda prediction: None) -> Step:
        """A step named in `actions` as "<option> (<scope>): <what>"."""
        return Step(f"{self.option} ({scope}): {what}", apply, effect)


@dataclass
class _Planned:
    option: str
    scope: str
    step: Step


class TuneRunner:
    """What one domain_tune task does: every group given validated, read, planned, then executed."""

    def __init__(self, domain: Domain, params: dict[str, Any], registry: dict[str, type[TuneGroup]],
                 recorder: ChangeRecorder) -> None:
        self.recorder = recorder
        self.target = _target(domain, params)
        given = [option for option in registry if params.get(option) is not None]
        if not given:
            raise InvalidArgument(f"nothing to tune: give one of {', '.join(registry)}", domain=domain.name)
        self.groups = {option: registry[option](self.target, params[option]) for option in given}

    def run(self) -> dict[str, Any]:
        for group in self.groups.values():
            group.validate()
        before = self.read_all()
        planned = self.plan(before)
        outside = self.live_outside_scope()
        execute([entry.step for entry in planned], self.recorder)
        if self.recorder.check_mode:
            after = _predicted(before, planned)
        else:
            after = self.read_all() if planned else before
        return {"groups": {option: {"before": before[option], "after": after[option]} for option in self.groups},
                "pending_restart": self.pending_restart(after, outside)}

    def read_all(self) -> dict[str, dict[str, Values]]:
        return {option: {scope: group.read(scope) for scope in self.target.scope_names}
                for option, group in self.groups.items()}

    def plan(self, before: dict[str, dict[str, Values]]) -> list[_Planned]:
        return [_Planned(option, scope, step)
                for option, group in self.groups.items()
                for scope, scope_flag in self.target.scopes
                for step in group.steps(scope, scope_flag, copy.deepcopy(before[option][scope]))]

    def live_outside_scope(self) -> dict[str, Values]:
        """The live values of a running domain changed in its configuration only (for pending_restart)."""
        if not self.target.active or self.target.scope_names != ["config"]:
            return {}
        return {option: group.read("live") for option, group in self.groups.items()}

    def pending_restart(self, after: dict[str, dict[str, Values]], outside: dict[str, Values]) -> bool:
        """Whether a value the task holds in the persistent definition differs from the running domain's.

        Like domain_state, this tells the state, not only this run's changes: a second run still says so
        until the domain restarts. Live-only tasks leave the configuration alone, so nothing waits there.
        """
        if not self.target.active:
            return False
        for option, scopes in after.items():
            live, config = scopes.get("live", outside.get(option)), scopes.get("config")
            if live is None or config is None:
                continue
            if any(live[key] != config[key] for key in self.groups[option].compared_keys(live, config)):
                return True
        return False


def _target(domain: Domain, params: dict[str, Any]) -> TuneTarget:
    calls = TuneCalls(domain)
    active, persistent = domain.is_active(), domain.is_persistent()
    live, config = resolve_scope(params.get("live"), params.get("config"), active, persistent, domain.name)
    return TuneTarget(domain, calls, active, persistent, scope_flags(live, config), calls.host_cpu_map()[0],
                      params)


def _predicted(before: dict[str, dict[str, Values]], planned: list[_Planned]) -> dict[str, dict[str, Values]]:
    """Check mode's after: the values read before, changed by each planned step's effect."""
    prediction = copy.deepcopy(before)
    for entry in planned:
        entry.step.effect(prediction[entry.option][entry.scope])
    return prediction
