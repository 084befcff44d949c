# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_tune's other groups: interface bandwidth, perf events, lifecycle actions and the rename.

The metadata group (title, description, tags, custom elements) lives in _tune_metadata and is
exported here with the others.
"""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, LibvirtCallError, UnsupportedOperation
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag
from ansible_collections.virtops.libvirt.plugins.module_utils._metadata import (
    LIFECYCLE_ACTIONS, LIFECYCLE_EVENTS, lifecycle_action_choices)
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import Step
from ansible_collections.virtops.libvirt.plugins.module_utils._tune import TuneGroup, TuneTarget, Values
from ansible_collections.virtops.libvirt.plugins.module_utils._tune_memory import refuse_unknown
from ansible_collections.virtops.libvirt.plugins.module_utils._tune_metadata import METADATA_SPEC, MetadataGroup

# Domain types run by libvirt's QEMU driver, whose lifecycle rules apply.
QEMU_DOMAIN_TYPES = frozenset({"qemu", "kvm"})
DIRECTIONS = {"inbound": ("average", "peak", "burst", "floor"), "outbound": ("average", "peak", "burst")}
# libvirt's VIR_PERF_PARAM_* event names (libvirt 9.0); the daemon says which of them it knows.
PERF_EVENTS = ("cmt", "mbmt", "mbml", "cpu_cycles", "instructions", "cache_references", "cache_misses",
               "branch_instructions", "branch_misses", "bus_cycles", "stalled_cycles_frontend",
               "stalled_cycles_backend", "ref_cpu_cycles", "cpu_clock", "task_clock", "page_faults",
               "context_switches", "cpu_migrations", "page_faults_min", "page_faults_maj", "alignment_faults",
               "emulation_faults")

ARGUMENT_SPECS: dict[str, dict[str, Any]] = {
    "interface_bandwidth": dict(type="list", elements="dict", options=dict(
        interface=dict(type="str", required=True),
        **{direction: dict(type="dict", options={key: dict(type="int") for key in keys})
           for direction, keys in DIRECTIONS.items()})),
    "perf_events": dict(type="dict", options={event: dict(type="bool") for event in PERF_EVENTS}),
    "metadata": METADATA_SPEC,
    "lifecycle": dict(type="dict", options={option: dict(type="str", choices=lifecycle_action_choices(option))
                                            for option in LIFECYCLE_EVENTS}),
    "rename": dict(type="str"),
}


class InterfaceBandwidthGroup(TuneGroup):
    """`interface_bandwidth`: inbound and outbound QoS of NICs named by MAC address or target device."""

    option = "interface_bandwidth"

    def __init__(self, target: TuneTarget, wanted: Any) -> None:
        super().__init__(target, wanted)
        # interface as given -> its MAC address: the target device (vnetN) exists on the running domain only
        self.macs: dict[str, str] = {}

    def validate(self) -> None:
        roots = {scope: self.definition(scope) for scope in ("live", "config")
                 if scope in self.target.scope_names or (scope == "live" and self.target.active)}
        for number, entry in enumerate(self.wanted):
            if entry["interface"] in self.macs:
                raise self.refuse(f"{number}.interface", f"'{entry['interface']}' is given twice")
            for direction in DIRECTIONS:
                for key, value in _given(entry.get(direction)).items():
                    if value < 0:
                        raise self.refuse(f"{number}.{direction}.{key}", f"must not be negative (got {value})")
            self._check_interface(number, entry, roots)

    def _check_interface(self, number: int, entry: dict[str, Any], roots: dict[str, Any]) -> None:
        name = entry["interface"]
        found = next((interface for interface in (_find_interface(root, name) for root in roots.values())
                      if interface is not None), None)
        if found is None:
            scope, root = next(iter(roots.items()))
            known = ", ".join(_interface_names(root)) or "none"
            raise self.refuse(f"{number}.interface", f"domain '{self.domain.name}' has no interface '{name}' "
                                                     f"({scope}; its interfaces: {known})")
        self.macs[name] = found.find("mac").get("address")
        for scope in self.target.scope_names:
            if _find_interface(roots[scope], self.macs[name]) is None:
                raise self.refuse(f"{number}.interface", f"interface '{name}' of domain '{self.domain.name}' is "
                                                         f"not in its {scope} definition")
        if _given(entry.get("inbound")).get("floor") and found.get("type") != "network":
            raise self.refuse(f"{number}.inbound.floor", f"libvirt sets a floor only on an interface of type "
                                                         f"network; '{entry['interface']}' is of type {found.get('type')}")

    def read(self, scope: str) -> Values:
        values = {}
        for entry in self.wanted:
            found = self.calls.interface_parameters(self.macs[entry["interface"]], self.scope_flag(scope))
            # only the values this daemon offers: libvirt-python refuses any other name (LookupError)
            values[entry["interface"]] = {direction: {key: int(found[f"{direction}.{key}"]) for key in keys
                                                      if f"{direction}.{key}" in found}
                                          for direction, keys in DIRECTIONS.items()}
        return values

    def steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        steps = []
        for number, entry in enumerate(self.wanted):
            name = entry["interface"]
            self._check_offered(number, entry, current[name])
            merged = {direction: {**current[name][direction], **_given(entry.get(direction))} for direction in DIRECTIONS}
            # libvirt replaces a whole direction: send every value of a direction that changes
            changed = [direction for direction in DIRECTIONS if merged[direction] != current[name][direction]]
            for direction in changed:
                self._check_average(number, direction, merged[direction])
            if not changed:
                continue
            params = {f"{direction}.{key}": value for direction in changed for key, value in merged[direction].items()}
            listed = "; ".join(f"{direction} " + ", ".join(f"{key}={value}" for key, value in merged[direction].items())
                               for direction in changed)
            steps.append(self.step(scope, f"set bandwidth of {name}: {listed}",
                                   lambda name=name, params=params: self._set(scope, name, params, flags),
                                   lambda prediction, name=name, merged=merged: prediction[name].update(merged)))
        return steps

    def _check_offered(self, number: int, entry: dict[str, Any], current: dict[str, dict[str, int]]) -> None:
        for direction in DIRECTIONS:
            for key in _given(entry.get(direction)):
                if key not in current[direction]:
                    raise self.refuse(f"{number}.{direction}.{key}", f"libvirt does not offer it for interface "
                                                                     f"'{entry['interface']}' of domain '{self.domain.name}'")

    def _set(self, scope: str, name: str, params: dict[str, int], flags: int) -> None:
        try:
            self.calls.set_interface_parameters(self.macs[name], params, flags)
        except LibvirtCallError as error:
            # e.g. a host kernel without the traffic control modules libvirt runs `tc` with (live only)
            raise UnsupportedOperation(
                f"interface_bandwidth ({scope}): libvirt could not set the bandwidth of {name} of domain "
                f"'{self.domain.name}': {error.libvirt_message or error.message}",
                code=error.code, libvirt_message=error.libvirt_message, domain=self.domain.name,
                operation=f"set bandwidth of {name}") from None

    def _check_average(self, number: int, direction: str, values: dict[str, int]) -> None:
        """libvirt needs an average (or an inbound floor) for a peak or a burst; without one it drops the direction."""
        if not values.get("average") and not values.get("floor") and (values.get("peak") or values.get("burst")):
            raise self.refuse(f"{number}.{direction}.average", "a peak or a burst needs an average "
                                                               "(0 removes the whole direction)")


def _given(values: Any) -> dict[str, int]:
    return {key: value for key, value in (values or {}).items() if value is not None}


def _find_interface(root: Any, name: str) -> Any:
    """The <interface> whose MAC address or target device is `name` (MACs compared case-insensitively)."""
    for interface in root.iterfind("devices/interface"):
        mac, target = interface.find("mac"), interface.find("target")
        if mac is not None and mac.get("address", "").lower() == name.lower():
            return interface
        if target is not None and target.get("dev") == name:
            return interface
    return None


def _interface_names(root: Any) -> list[str]:
    names = []
    for interface in root.iterfind("devices/interface"):
        mac, target = interface.find("mac"), interface.find("target")
        address = mac.get("address") if mac is not None else "?"
        names.append(f"{address} ({target.get('dev')})" if target is not None and target.get("dev") else address)
    return names


class PerfEventsGroup(TuneGroup):
    """`perf_events`: which perf counters libvirt keeps for the domain."""

    option = "perf_events"

    def validate(self) -> None:
        for _scope, flags in self.target.scopes:
            refuse_unknown(self, self.wanted, self.calls.perf_events(flags), "this libvirt does not know the perf event")

    def read(self, scope: str) -> Values:
        found = self.calls.perf_events(self.scope_flag(scope))
        return {event: bool(found.get(event)) for event in sorted(self.wanted)}

    def steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        changes = {event: enabled for event, enabled in self.wanted.items() if current.get(event) != enabled}
        if not changes:
            return []
        listed = ", ".join(f"{'enable' if enabled else 'disable'} {event}" for event, enabled in sorted(changes.items()))
        return [self.step(scope, listed, lambda: self._set(changes, flags), lambda prediction: prediction.update(changes))]

    def _set(self, changes: dict[str, bool], flags: int) -> None:
        try:
            self.calls.set_perf_events(changes, flags)
        except LibvirtCallError as error:
            enabled = sorted(event for event, on in changes.items() if on)
            if not enabled:
                raise
            raise UnsupportedOperation(
                f"perf_events: the host of domain '{self.domain.name}' cannot count {', '.join(enabled)} "
                f"(libvirt: {error.libvirt_message or error.message})",
                code=error.code, libvirt_message=error.libvirt_message, domain=self.domain.name,
                operation="set perf events") from None


class LifecycleGroup(TuneGroup):
    """`lifecycle`: what libvirt does when the guest powers off, reboots or crashes."""

    option = "lifecycle"

    def validate(self) -> None:
        """What QEMU's driver never takes is refused before any change: libvirt would refuse the second action of
        a pair only after the first one was set."""
        for scope in self.target.scope_names:
            if self.definition(scope).get("type") not in QEMU_DOMAIN_TYPES:
                continue
            problem = qemu_lifecycle_problem({**self.read(scope), **self.wanted})
            if problem:
                raise InvalidArgument(f"{problem} (in the {scope} definition); nothing was changed",
                                      domain=self.domain.name)

    def read(self, scope: str) -> Values:
        root = self.definition(scope)
        return {option: (root.findtext(option) or "").strip() or None for option in LIFECYCLE_EVENTS}

    def steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        return [self.step(scope, f"set {option} to {action}",
                          lambda option=option, action=action: self.domain.set_lifecycle_action(
                              flag(LIFECYCLE_EVENTS[option]), flag(LIFECYCLE_ACTIONS[action]), flags, option),
                          lambda prediction, option=option, action=action: prediction.update({option: action}))
                for option, action in sorted(self.wanted.items()) if current.get(option) != action]


def qemu_lifecycle_problem(actions: Values) -> Optional[str]:
    """Why QEMU's driver refuses these lifecycle actions (libvirt's qemuValidateLifecycleAction), or None."""
    for option, action in actions.items():
        if action == "rename-restart" or (action == "preserve" and option != "on_crash"):
            return f"lifecycle.{option}: QEMU's driver does not support {action} for {option}"
    if actions.get("on_poweroff") == "restart" and actions.get("on_reboot") == "destroy":
        return ("lifecycle.on_poweroff=restart with lifecycle.on_reboot=destroy: QEMU's driver refuses this pair "
                "(change both, e.g. on_reboot to restart)")
    return None


class RenameGroup(TuneGroup):
    """`rename`: a new name for a shut-off domain (libvirt renames no running domain)."""

    option = "rename"

    def validate(self) -> None:
        wanted = _xml.bounded_text(self.wanted, "rename").strip()  # before the lookup: libvirt echoes the name
        if not wanted or wanted != self.wanted:
            raise self.refuse(None, f"'{self.wanted}' is not a usable domain name")
        if wanted == self.domain.name:
            return
        if self.target.active:
            raise self.refuse(None, f"domain '{self.domain.name}' is running: libvirt renames only a shut-off "
                                    "domain (stop it first)")
        if Domain.find(self.domain.connection, name=wanted) is not None:
            raise self.refuse(None, f"a domain named '{wanted}' already exists")

    def read(self, scope: str) -> Values:
        return {"name": self.domain.name}

    def steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        # one rename, not one per definition: a shut-off domain has only its configuration
        if current["name"] == self.wanted or scope != self.target.scope_names[-1]:
            return []
        return [self.step(scope, f"rename '{current['name']}' to '{self.wanted}'", self._rename,
                          lambda prediction: prediction.update(name=self.wanted))]

    def _rename(self) -> None:
        self.calls.rename(self.wanted)
        self.domain.name = self.wanted  # later reads and errors name the domain as it is now called


GROUPS: dict[str, type[TuneGroup]] = {"interface_bandwidth": InterfaceBandwidthGroup, "perf_events": PerfEventsGroup,
                                      "metadata": MetadataGroup, "lifecycle": LifecycleGroup, "rename": RenameGroup}
