# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_tune's memory groups: the balloon and maximum (memory), memtune limits, NUMA memory placement.

Sizes are given with units (`2GiB`, `512M`) and reported in bytes; libvirt takes them in KiB.
Some values cannot change on a running domain (the maximum memory, the NUMA mode): with `config`
in scope they change in the persistent definition only (pending_restart); asked for live only,
they are refused before anything changes.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _cpulist, _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import WaitTimeout
from ansible_collections.virtops.libvirt.plugins.module_utils._events import BALLOON_CHANGE
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import Step
from ansible_collections.virtops.libvirt.plugins.module_utils._tune import TuneGroup, TuneTarget, Values
from ansible_collections.virtops.libvirt.plugins.module_utils._units import KIB, parse_kib

MEMTUNE_KEYS = ("hard_limit", "soft_limit", "swap_hard_limit", "min_guarantee")
UNLIMITED = "unlimited"
# VIR_DOMAIN_MEMORY_PARAM_UNLIMITED: libvirt's "no limit", in KiB (a constant, so no libvirt is needed to import).
UNLIMITED_KIB = 9007199254740991
NUMA_MODES = ("strict", "preferred", "interleave", "restrictive")
# Seconds a guest's balloon driver gets to reach a new size (about 1 s under TCG on the rig).
BALLOON_TIMEOUT = 30.0

ARGUMENT_SPECS: dict[str, dict[str, Any]] = {
    "memory": dict(type="dict", options=dict(current=dict(type="str"), maximum=dict(type="str"),
                                             stats_period=dict(type="int"))),
    "memtune": dict(type="dict", options={key: dict(type="str") for key in MEMTUNE_KEYS}),
    "numatune": dict(type="dict", options=dict(mode=dict(type="str", choices=list(NUMA_MODES)),
                                               nodeset=dict(type="str"))),
}


def refuse_unknown(group: TuneGroup, given: Iterable[str], known: Iterable[str], why: str) -> None:
    """A key libvirt does not report for the domain: libvirt-python would refuse to send it (a LookupError)."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise group.refuse(unknown[0], f"{why} (it offers {', '.join(sorted(known))})")


def describe_size(amount: int) -> str:
    """Bytes in the largest binary unit that divides them ("2 GiB"), else in bytes."""
    for unit, factor in (("TiB", 1024 ** 4), ("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", KIB)):
        if amount and amount % factor == 0:
            return f"{amount // factor} {unit}"
    return f"{amount} bytes"


class MemoryGroup(TuneGroup):
    """`memory`: the current (balloon) size, the maximum, the balloon's statistics period."""

    option = "memory"

    def __init__(self, target: TuneTarget, wanted: Any) -> None:
        super().__init__(target, wanted)
        self.kib: dict[str, int] = {}  # current and maximum as libvirt takes them, once validated

    def validate(self) -> None:
        self.kib = {key: self._kib(key) for key in ("current", "maximum") if key in self.wanted}
        if self.wanted.get("stats_period", 0) < 0:
            raise self.refuse("stats_period", f"must not be negative (got {self.wanted['stats_period']})")
        for scope in self.target.scope_names:
            self._check_scope(scope, self.definition(scope))

    def _kib(self, key: str) -> int:
        kib = parse_kib(self.wanted[key], self.name(key))
        if not kib:
            raise self.refuse(key, "must be more than 0")
        return kib

    def _check_scope(self, scope: str, root: Any) -> None:
        if scope == "live":
            self._check_balloon(root)
        present = _xml.scaled_bytes(root.find("memory")) // KIB
        changes_maximum = "maximum" in self.kib and self.kib["maximum"] != present
        if scope == "live" and changes_maximum and "config" not in self.target.scope_names:
            raise self.refuse("maximum", f"the maximum memory of running domain '{self.domain.name}' cannot change "
                                         "live: set it with config (it takes effect at the next boot)")
        maximum = self.kib["maximum"] if changes_maximum and scope == "config" else present
        if self.kib.get("current", 0) > maximum:
            raise self.refuse("current", f"{self.wanted['current']} is more than the maximum "
                                         f"{describe_size(maximum * KIB)} ({scope})")

    def _check_balloon(self, root: Any) -> None:
        """A running domain changes its memory and statistics period only through a balloon device."""
        balloon = root.find("devices/memballoon")
        model = balloon.get("model") if balloon is not None else "none"
        current = self.read_from(root)
        wanted = {"current": self.kib["current"] * KIB if "current" in self.kib else None,
                  "stats_period": self.wanted.get("stats_period")}
        for key, value in wanted.items():
            if model == "none" and value is not None and value != current[key]:
                raise self.refuse(key, f"running domain '{self.domain.name}' has no balloon device (memballoon model "
                                       "none): set it with config (it takes effect at the next boot)")

    def read(self, scope: str) -> Values:
        return self.read_from(self.definition(scope))

    @staticmethod
    def read_from(root: Any) -> Values:
        stats = root.find("devices/memballoon/stats")
        return {"current": _xml.scaled_bytes(root.find("currentMemory")),
                "maximum": _xml.scaled_bytes(root.find("memory")),
                "stats_period": int(stats.get("period", 0)) if stats is not None else 0}

    def steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        steps = []
        maximum = self.kib.get("maximum")
        # libvirt cannot change a running domain's maximum: validate() made sure config is in scope
        if maximum is not None and maximum * KIB != current["maximum"] and scope != "live":
            steps.append(self.step(scope, f"set the maximum memory to {describe_size(maximum * KIB)}",
                                   lambda: self.calls.set_memory_flags(maximum, flags | flag("VIR_DOMAIN_MEM_MAXIMUM"),
                                                                       "the maximum memory"),
                                   lambda prediction: _lower_maximum(prediction, maximum * KIB)))
        wanted = self.kib.get("current")
        if wanted is not None and wanted * KIB != _current_after_maximum(current, maximum, scope):
            steps.append(self.step(scope, f"set the memory to {describe_size(wanted * KIB)}",
                                   lambda: self._set_balloon(scope, wanted, flags),
                                   lambda prediction: prediction.update(current=wanted * KIB)))
        period = self.wanted.get("stats_period")
        if period is not None and period != current["stats_period"]:
            steps.append(self.step(scope, f"set the memory statistics period to {period} s",
                                   lambda: self.calls.set_memory_stats_period(period, flags),
                                   lambda prediction: prediction.update(stats_period=period)))
        return steps

    def _set_balloon(self, scope: str, kib: int, flags: int) -> None:
        self.calls.set_memory_flags(kib, flags)
        if scope == "live":
            self._wait_for_balloon(kib)

    def _wait_for_balloon(self, kib: int) -> None:
        """The guest's balloon driver moves the memory over a second or so; libvirt reports it as it goes. Waiting
        for it makes the result's after, and a second run, see the size asked for."""
        held: list[int] = []

        def reached() -> Optional[bool]:
            held[:] = [int(self.calls.info()[2])]
            return True if held[0] == kib else None

        def timed_out() -> WaitTimeout:
            return WaitTimeout(f"memory.current: the guest of domain '{self.domain.name}' holds "
                               f"{describe_size(held[0] * KIB)} {BALLOON_TIMEOUT:g} s after {describe_size(kib * KIB)} "
                               "were asked for (does it run a balloon driver?)", domain=self.domain.name,
                               operation="balloon", after_change=True)

        with self.domain.watch().on(BALLOON_CHANGE) as watch:
            watch.wait_until(reached, BALLOON_TIMEOUT, timed_out, fallback=1.0)


def _lower_maximum(prediction: Values, maximum: int) -> None:
    """libvirt lowers the current memory with a maximum set below it."""
    prediction["maximum"] = maximum
    prediction["current"] = min(prediction["current"], maximum)


def _current_after_maximum(current: Values, maximum_kib: Optional[int], scope: str) -> int:
    if maximum_kib is None or scope == "live":
        return current["current"]
    return min(current["current"], maximum_kib * KIB)


class MemtuneGroup(TuneGroup):
    """`memtune`: hard, soft and swap limits and the minimum guarantee, each a size or `unlimited`."""

    option = "memtune"

    def __init__(self, target: TuneTarget, wanted: Any) -> None:
        super().__init__(target, wanted)
        self.kib: dict[str, int] = {}  # the limits given, in KiB (unlimited as libvirt's UNLIMITED), once validated

    def validate(self) -> None:
        self.kib = {key: self._kib(key) for key in self.wanted}
        for scope, flags in self.target.scopes:
            offered = self.calls.memory_parameters(flags)
            refuse_unknown(self, self.kib, offered, f"this hypervisor does not offer it for domain '{self.domain.name}'")
            merged = {**offered, **self.kib}
            if merged.get("swap_hard_limit", UNLIMITED_KIB) < merged.get("hard_limit", 0):
                raise self.refuse("hard_limit", f"{_describe(merged['hard_limit'])} is more than swap_hard_limit "
                                                f"{_describe(merged['swap_hard_limit'])} ({scope}): libvirt refuses that")

    def _kib(self, key: str) -> int:
        value = self.wanted[key]
        if str(value).strip().lower() == UNLIMITED:
            return UNLIMITED_KIB
        return parse_kib(value, self.name(key))

    def read(self, scope: str) -> Values:
        return {key: _shown(value) for key, value in sorted(self.calls.memory_parameters(self.scope_flag(scope)).items())}

    def steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        changes = {key: kib for key, kib in self.kib.items() if _shown(kib) != current.get(key)}
        if not changes:
            return []
        listed = ", ".join(f"{key}={_describe(kib)}" for key, kib in sorted(changes.items()))
        return [self.step(scope, f"set {listed}", lambda: self.calls.set_memory_parameters(changes, flags),
                          lambda prediction: prediction.update({key: _shown(kib) for key, kib in changes.items()}))]


def _shown(kib: int) -> Any:
    """A memtune value as results show it: bytes, or `unlimited`."""
    return UNLIMITED if kib >= UNLIMITED_KIB else kib * KIB


def _describe(kib: int) -> str:
    return UNLIMITED if kib >= UNLIMITED_KIB else describe_size(kib * KIB)


class NumatuneGroup(TuneGroup):
    """`numatune`: the memory placement mode and the host NUMA nodes of the guest's memory."""

    option = "numatune"

    def __init__(self, target: TuneTarget, wanted: Any) -> None:
        super().__init__(target, wanted)
        self.nodeset: Optional[str] = None  # the nodeset given, normalized ("0-1"), once validated

    def validate(self) -> None:
        if "nodeset" in self.wanted:
            self.nodeset = _cpulist.normalized(self.wanted["nodeset"], self.name("nodeset"))
            self._check_on_host(_cpulist.parse(self.nodeset, self.name("nodeset")))
        for scope in self.target.scope_names:
            self._check_nodeset_for_mode(scope, self.read(scope))
        if "live" in self.target.scope_names and "config" not in self.target.scope_names:
            live = self.read("live")
            if self._live_unchangeable(live):
                raise self.refuse("mode", f"running domain '{self.domain.name}' cannot change its NUMA mode "
                                          f"({live['mode']}), nor its nodeset unless the mode is strict: "
                                          "set it with config (it takes effect at the next boot)")

    def _check_on_host(self, nodes: tuple[int, ...]) -> None:
        root = _xml.parse(self.calls.host_capabilities(), "host capabilities")
        known = sorted(int(cell.get("id")) for cell in root.iterfind("host/topology/cells/cell"))
        outside = [node for node in nodes if known and node not in known]
        if outside:
            raise self.refuse("nodeset", f"NUMA node {_cpulist.format_list(outside)} is not a node of this host "
                                         f"(it has {_cpulist.format_list(known)})")

    def _check_nodeset_for_mode(self, scope: str, current: Values) -> None:
        """libvirt refuses a mode without a nodeset ("nodeset ... must be set if 'placement' is 'static'")."""
        if self.wanted.get("mode", current["mode"]) != current["mode"] and not (self.nodeset or current["nodeset"]):
            raise self.refuse("nodeset", f"mode {self.wanted['mode']} needs a nodeset, and domain "
                                         f"'{self.domain.name}' has none ({scope}): give one")

    def _live_unchangeable(self, live: Values) -> bool:
        """QEMU changes neither the mode of a running domain nor its nodeset in a mode other than strict."""
        mode_changes = self.wanted.get("mode", live["mode"]) != live["mode"]
        nodeset_changes = "nodeset" in self.wanted and self.nodeset != live["nodeset"]
        return mode_changes or (nodeset_changes and live["mode"] != "strict")

    def read(self, scope: str) -> Values:
        found = self.calls.numa_parameters(self.scope_flag(scope))
        nodeset = found.get("numa_nodeset") or None
        mode = found.get("numa_mode")
        return {"mode": NUMA_MODES[mode] if mode is not None and 0 <= mode < len(NUMA_MODES) else mode,
                "nodeset": _cpulist.normalized(nodeset, self.name("nodeset")) if nodeset else None}

    def steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        if scope == "live" and self._live_unchangeable(current):
            return []  # validate() made sure config is in scope: pending_restart tells
        changes = {}
        if self.wanted.get("mode", current["mode"]) != current["mode"]:
            changes["mode"] = self.wanted["mode"]
        if "nodeset" in self.wanted and self.nodeset != current["nodeset"]:
            changes["nodeset"] = self.nodeset
        if not changes:
            return []
        params = {f"numa_{key}": NUMA_MODES.index(value) if key == "mode" else value for key, value in changes.items()}
        listed = ", ".join(f"{key}={value}" for key, value in sorted(changes.items()))
        return [self.step(scope, f"set {listed}", lambda: self.calls.set_numa_parameters(params, flags),
                          lambda prediction: prediction.update(changes))]


GROUPS: dict[str, type[TuneGroup]] = {"memory": MemoryGroup, "memtune": MemtuneGroup, "numatune": NumatuneGroup}
