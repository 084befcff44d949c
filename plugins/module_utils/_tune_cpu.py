# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_tune's CPU groups: vcpus, cputune (pinning), iothreads and scheduler.

Each group reads its values per definition ("live", "config") in its option's shape, CPU lists as
text ("0-3", as `virsh vcpupin` shows them), and plans steps only for what differs, so a second run
plans nothing. Limits (the vCPU maximum, the host's CPUs, the IOThreads a domain has) are checked in
validate(), before any group changes anything.
"""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._cpulist import cpumap_text, format_list, normalized, parse, to_cpumap
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import Step
from ansible_collections.virtops.libvirt.plugins.module_utils._tune import TuneGroup, Values

SCHEDULER_KEYS = ("cpu_shares", "vcpu_period", "vcpu_quota", "emulator_period", "emulator_quota", "global_period",
                  "global_quota", "iothread_period", "iothread_quota")
# libvirt's ranges (formatdomain "CPU Tuning"): periods and quotas in microseconds, -1: no quota.
PERIOD_RANGE = (1000, 1000000)
QUOTA_RANGE = (1000, 17592186044415)
SHARES_RANGE = (2, 262144)
POLL_KEYS = ("poll_max_ns", "poll_grow", "poll_shrink")
THREAD_POOL_KEYS = ("thread_pool_min", "thread_pool_max")
IOTHREAD_PARAM_KEYS = POLL_KEYS + THREAD_POOL_KEYS
# What an unset thread pool bound reads as (libvirt: -1 leaves it to the hypervisor).
UNSET_BOUND = -1


class CpuGroup(TuneGroup):
    """What the CPU groups share: numbered keys of a dict option, how messages name a definition."""

    def numbered(self, key: str, what: str, first: int = 0) -> dict[int, Any]:
        """A dict option keyed by numbers ("0", 1...) with int keys; refused naming it when a key is not one."""
        found = {}
        for raw, value in (self.wanted.get(key) or {}).items():
            number = _number(raw)
            if number is None or number < first:
                raise self.refuse(key, f"'{raw}' is not {what} number (numbers start at {first})")
            found[number] = value
        return found

    def where(self, scope: str) -> str:
        return f"the {scope} definition of domain '{self.domain.name}'"


class VcpusGroup(CpuGroup):
    """vcpus: count (current), maximum (persistent only), guest (count inside the guest), online (which vCPUs)."""

    option = "vcpus"

    def validate(self) -> None:
        for key in ("count", "maximum"):
            if key in self.wanted and self.wanted[key] < 1:
                raise self.refuse(key, f"{self.wanted[key]} is not a number of vCPUs (at least 1)")
        if "maximum" in self.wanted and "config" not in self.target.scope_names:
            raise self.refuse("maximum", "the maximum changes in the persistent definition only (config); "
                                         "a running domain takes it at its next boot")
        if self.guest:
            self._validate_guest()
        online = self.online
        for scope, flags in self.target.scopes:
            maximum = self._maximum_after(scope, flags)
            if "count" in self.wanted and not self.guest and self.wanted["count"] > maximum:
                raise self.refuse("count", f"{self.wanted['count']} is more than the maximum {maximum} of {self.where(scope)}")
            beyond = [vcpu for vcpu in online or () if vcpu >= maximum]
            if beyond:
                raise self.refuse("online", f"vCPU {format_list(beyond)} is beyond the maximum {maximum} of "
                                            f"{self.where(scope)} (its vCPUs: {format_list(range(maximum))})")
        if online is not None and "live" in self.target.scope_names:
            self._check_hotpluggable(online)
        if online is not None and "count" in self.wanted and not self.guest and len(online) != self.wanted["count"]:
            raise self.refuse("online", f"'{self.wanted['online']}' enables {len(online)} vCPUs, but count is "
                                        f"{self.wanted['count']}")

    def _check_hotpluggable(self, online: tuple[int, ...]) -> None:
        """A running domain's vCPU that libvirt marks hotpluggable='no' cannot be switched: those it lists so, or,
        before a first hot-plug (no <vcpus> list yet), every vCPU it booted with (QEMU cannot unplug them)."""
        root = self.definition("live")
        listed = root.findall("vcpus/vcpu")
        enabled = enabled_vcpus(root)
        switched = set(online).symmetric_difference(enabled)
        fixed = sorted(int(vcpu.get("id")) for vcpu in listed if vcpu.get("hotpluggable") == "no") if listed else enabled
        fixed = [vcpu for vcpu in fixed if vcpu in switched]
        if fixed:
            raise self.refuse("online", f"vCPU {format_list(fixed)} of {self.where('live')} is not hot-pluggable: it can "
                                        "change in the persistent definition only (config)")

    def _validate_guest(self) -> None:
        if "live" not in self.target.scope_names:
            raise self.refuse("guest", "the guest's own vCPU count is set in a running domain only (live)")
        if "count" not in self.wanted:
            raise self.refuse("guest", "guest: true sets count inside the guest: give count")
        running = self.calls.vcpus_flags(self.scope_flag("live"))
        if self.wanted["count"] > running:
            raise self.refuse("count", f"{self.wanted['count']} is more than the {running} vCPUs domain "
                                       f"'{self.domain.name}' runs with (guest: true only sets how many the guest uses)")

    def compared_keys(self, live: Values, config: Values) -> list[str]:
        """With guest: true the live count is the guest's own, which the persistent definition does not hold."""
        return [key for key in super().compared_keys(live, config) if not (key == "count" and self.guest)]

    @property
    def guest(self) -> bool:
        return bool(self.wanted.get("guest"))

    @property
    def online(self) -> Optional[tuple[int, ...]]:
        return parse(self.wanted["online"], self.name("online")) if "online" in self.wanted else None

    def _maximum_after(self, scope: str, flags: int) -> int:
        if scope == "config" and "maximum" in self.wanted:
            return int(self.wanted["maximum"])
        return self.calls.vcpus_flags(flags | flag("VIR_DOMAIN_VCPU_MAXIMUM"))

    def read(self, scope: str) -> Values:
        flags = self.scope_flag(scope)
        values = {"count": self.calls.vcpus_flags(flags),
                  "maximum": self.calls.vcpus_flags(flags | flag("VIR_DOMAIN_VCPU_MAXIMUM")),
                  "online": format_list(enabled_vcpus(self.definition(scope)))}
        if self.guest and scope == "live":
            values["count"] = self.calls.vcpus_flags(flags | flag("VIR_DOMAIN_VCPU_GUEST"))
        return values

    def steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        maximum = self.wanted.get("maximum") if scope == "config" else None
        if maximum is None or maximum == current["maximum"]:
            return self._count_steps(scope, flags, current)
        raise_first = maximum > current["maximum"]
        change = self.step(scope, f"set the maximum to {maximum} vCPUs",
                           lambda: self.calls.set_vcpus_flags(maximum, flags | flag("VIR_DOMAIN_VCPU_MAXIMUM")),
                           lambda prediction: _set_maximum(prediction, maximum))
        count_steps = self._count_steps(scope, flags, current)
        return [change] + count_steps if raise_first else count_steps + [change]

    def _count_steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        if self.guest:
            return self._guest_steps(scope, flags, current)
        if self.online is not None:
            return self._online_steps(scope, flags, current)
        count = self.wanted.get("count")
        if count is None or count == current["count"]:
            return []
        return [self.step(scope, f"set the vCPU count to {count}", lambda: self.calls.set_vcpus_flags(count, flags),
                          lambda prediction: _set_count(prediction, count))]

    def _guest_steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        count = self.wanted["count"]
        if scope != "live" or count == current["count"]:
            return []
        return [self.step(scope, f"set the guest's vCPU count to {count} (guest agent)",
                          lambda: self.calls.set_vcpus_flags(count, flags | flag("VIR_DOMAIN_VCPU_GUEST")),
                          lambda prediction: prediction.update(count=count))]

    def _online_steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        wanted, present = set(self.online or ()), set(parse(current["online"], "online")) if current["online"] else set()
        steps = []
        for enable, vcpus in ((True, wanted - present), (False, present - wanted)):
            if vcpus:
                text = format_list(vcpus)
                steps.append(self.step(scope, f"{'enable' if enable else 'disable'} vCPU {text}",
                                       lambda text=text, enable=enable: self.calls.set_vcpu(text, enable, flags),
                                       lambda prediction, vcpus=vcpus, enable=enable: _switch(prediction, vcpus, enable)))
        return steps


def enabled_vcpus(root: Any) -> tuple[int, ...]:
    """The enabled vCPUs of a definition: <vcpus> lists them; without it the first `current` ones are."""
    listed = root.findall("vcpus/vcpu")
    if listed:
        return tuple(sorted(int(vcpu.get("id")) for vcpu in listed if vcpu.get("enabled") == "yes"))
    vcpu = root.find("vcpu")
    if vcpu is None:
        return (0,)
    return tuple(range(int(vcpu.get("current") or (vcpu.text or "1").strip())))


def _online_set(prediction: Values) -> set[int]:
    return set(parse(prediction["online"], "online")) if prediction["online"] else set()


def _set_online(prediction: Values, vcpus: set[int]) -> None:
    prediction.update(online=format_list(vcpus), count=len(vcpus))


def _switch(prediction: Values, vcpus: set[int], enable: bool) -> None:
    online = _online_set(prediction)
    _set_online(prediction, online | vcpus if enable else online - vcpus)


def _set_count(prediction: Values, count: int) -> None:
    """libvirt enables the lowest disabled vCPUs and disables the highest enabled ones."""
    online = sorted(_online_set(prediction))
    free = [vcpu for vcpu in range(prediction["maximum"]) if vcpu not in online]
    _set_online(prediction, set(online[:count] + free[:max(0, count - len(online))]))


def _set_maximum(prediction: Values, maximum: int) -> None:
    prediction["maximum"] = maximum
    if prediction["count"] > maximum:
        _set_count(prediction, maximum)


class CputuneGroup(CpuGroup):
    """cputune: vcpupin (vCPU -> CPU list), emulatorpin (CPU list), iothreadpin (IOThread id -> CPU list)."""

    option = "cputune"

    def validate(self) -> None:
        for key in ("vcpupin", "emulatorpin", "iothreadpin"):
            self._pins(key)  # malformed lists and CPUs the host does not have
        for scope, flags in self.target.scopes:
            vcpus = self._vcpus(scope, flags)
            missing = sorted(set(self._pins("vcpupin")) - set(vcpus))
            if missing:
                raise self.refuse("vcpupin", f"{self.where(scope)} has no vCPU {format_list(missing)} "
                                             f"(its vCPUs: {format_list(vcpus)})")
            iothreads = self._iothreads(flags)
            missing = sorted(set(self._pins("iothreadpin")) - set(iothreads))
            if missing:
                raise self.refuse("iothreadpin", f"{self.where(scope)} has no IOThread {_listed(missing)} "
                                                 f"(its IOThreads: {_listed(iothreads) or 'none'}; iothreads.ids adds them)")

    def _pins(self, key: str) -> dict[int, str]:
        """The wanted pinning of `key` as normalized CPU lists ({0: "0-1"}; emulatorpin: {0: ...})."""
        if key == "emulatorpin":
            given = {0: self.wanted[key]} if key in self.wanted else {}
        else:
            given = self.numbered(key, "a vCPU" if key == "vcpupin" else "an IOThread", 0 if key == "vcpupin" else 1)
        return {number: normalized(text, self.name(key if key == "emulatorpin" else f"{key}.{number}"), self.target.host_cpus)
                for number, text in given.items()}

    def _vcpus(self, scope: str, flags: int) -> range:
        """The vCPUs that can be pinned: any below the maximum (QEMU pins an offline vCPU too), in the
        configuration the maximum the task's vcpus option sets (its steps run before the pinning)."""
        maximum = (self.target.options.get("vcpus") or {}).get("maximum") if scope == "config" else None
        return range(maximum or self.calls.vcpus_flags(flags | flag("VIR_DOMAIN_VCPU_MAXIMUM")))

    def _iothreads(self, flags: int) -> list[int]:
        """The IOThreads that can be pinned: those the domain has, or those the task's iothreads.ids leaves."""
        ids = (self.target.options.get("iothreads") or {}).get("ids")
        return sorted(set(ids)) if ids is not None else [number for number, _cpumap in self.calls.io_thread_info(flags)]

    def read(self, scope: str) -> Values:
        flags = self.scope_flag(scope)
        values: Values = {}
        if "vcpupin" in self.wanted:
            values["vcpupin"] = self._vcpu_pins(scope, flags)
        if "emulatorpin" in self.wanted:
            values["emulatorpin"] = cpumap_text(self.calls.emulator_pin_info(flags))
        if "iothreadpin" in self.wanted:
            wanted = self._pins("iothreadpin")
            values["iothreadpin"] = {str(number): cpumap_text(cpumap)
                                     for number, cpumap in sorted(self.calls.io_thread_info(flags)) if number in wanted}
        return values

    def _vcpu_pins(self, scope: str, flags: int) -> dict[str, str]:
        """The CPU list of each vCPU asked for (only those: the definitions may have other vCPUs, and
        pending_restart compares these): libvirt's answer covers the current vCPUs, the definition the others."""
        current = dict(enumerate(self.calls.vcpu_pin_info(flags)))
        pins = {str(vcpu): cpumap_text(current[vcpu]) for vcpu in sorted(self._pins("vcpupin")) if vcpu in current}
        beyond = [vcpu for vcpu in sorted(self._pins("vcpupin")) if vcpu not in current]
        if beyond:
            root = self.definition(scope)
            default = _cpuset(root.find("vcpu")) or format_list(range(self.target.host_cpus))
            for vcpu in beyond:
                pinned = root.find(f"cputune/vcpupin[@vcpu='{vcpu}']")
                pins[str(vcpu)] = _cpuset(pinned) or default
        return pins

    def steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        steps = []
        for vcpu, text in sorted(self._pins("vcpupin").items()):
            if current["vcpupin"].get(str(vcpu)) != text:
                steps.append(self.step(scope, f"pin vCPU {vcpu} to CPUs {text}",
                                       lambda vcpu=vcpu, cpumap=self._cpumap(text): self.calls.pin_vcpu_flags(vcpu, cpumap, flags),
                                       lambda prediction, vcpu=vcpu, text=text: prediction["vcpupin"].update({str(vcpu): text})))
        for text in self._pins("emulatorpin").values():
            if current["emulatorpin"] != text:
                steps.append(self.step(scope, f"pin the emulator threads to CPUs {text}",
                                       lambda cpumap=self._cpumap(text): self.calls.pin_emulator(cpumap, flags),
                                       lambda prediction, text=text: prediction.update(emulatorpin=text)))
        for iothread, text in sorted(self._pins("iothreadpin").items()):
            if current["iothreadpin"].get(str(iothread)) != text:
                steps.append(self.step(scope, f"pin IOThread {iothread} to CPUs {text}",
                                       lambda iothread=iothread, cpumap=self._cpumap(text):
                                       self.calls.pin_io_thread(iothread, cpumap, flags),
                                       lambda prediction, iothread=iothread, text=text:
                                       prediction["iothreadpin"].update({str(iothread): text})))
        return steps

    def _cpumap(self, text: str) -> tuple[bool, ...]:
        return to_cpumap(parse(text, self.option), self.target.host_cpus)


def _cpuset(element: Any) -> Optional[str]:
    """An element's cpuset attribute as a normalized CPU list (None when it has none)."""
    if element is None or not element.get("cpuset"):
        return None
    return normalized(element.get("cpuset"), "cpuset")


class IothreadsGroup(CpuGroup):
    """iothreads: ids (exactly these exist) and params (IOThread id -> polling and thread pool values)."""

    option = "iothreads"

    def validate(self) -> None:
        ids = self.wanted.get("ids")
        if ids is not None:
            wrong = [number for number in ids if number < 1]
            if wrong:
                raise self.refuse("ids", f"{_listed(wrong)} is not an IOThread id (ids start at 1)")
            twice = sorted({number for number in ids if ids.count(number) > 1})
            if twice:
                raise self.refuse("ids", f"IOThread {_listed(twice)} is listed more than once")
        params = self.params()
        polling = sorted({key for values in params.values() for key in values if key in POLL_KEYS})
        if polling and "live" not in self.target.scope_names:
            raise self.refuse("params", f"{', '.join(polling)} apply to a running domain only (live): libvirt keeps "
                                        "no polling values in the persistent definition")
        for scope, flags in self.target.scopes:
            present = self._ids(flags)
            after = set(ids) if ids is not None else set(present)
            unknown = sorted(set(params) - after)
            if unknown:
                raise self.refuse("params", f"{self.where(scope)} has no IOThread {_listed(unknown)} "
                                            f"(its IOThreads: {_listed(sorted(after)) or 'none'})")
            self._check_unused(scope, sorted(set(present) - after))

    def params(self) -> dict[int, dict[str, int]]:
        """The wanted parameters per IOThread id, each key known and each value an integer in its range."""
        found = {}
        for number, values in self.numbered("params", "an IOThread", 1).items():
            where = f"params.{number}"
            if not isinstance(values, dict):
                raise self.refuse(where, f"expected a dict of {', '.join(IOTHREAD_PARAM_KEYS)}, got {values!r}")
            unknown = sorted(set(values) - set(IOTHREAD_PARAM_KEYS))
            if unknown:
                raise self.refuse(where, f"unknown parameter {', '.join(unknown)} (known: {', '.join(IOTHREAD_PARAM_KEYS)})")
            found[number] = {key: _iothread_value(self, f"{where}.{key}", key, value)
                             for key, value in values.items() if value is not None}
            low, high = found[number].get("thread_pool_min", UNSET_BOUND), found[number].get("thread_pool_max", UNSET_BOUND)
            if UNSET_BOUND not in (low, high) and low > high:
                raise self.refuse(where, f"thread_pool_min {low} is more than thread_pool_max {high}")
        return found

    def _ids(self, flags: int) -> list[int]:
        return sorted(number for number, _cpumap in self.calls.io_thread_info(flags))

    def _check_unused(self, scope: str, removed: list[int]) -> None:
        """An IOThread a disk uses cannot be removed (libvirt refuses it only when it gets there)."""
        if not removed:
            return
        for disk in self.definition(scope).findall("devices/disk"):
            driver = disk.find("driver")
            used = _number(driver.get("iothread")) if driver is not None else None
            if used in removed:
                target = disk.find("target")
                raise self.refuse("ids", f"IOThread {used} cannot be removed from {self.where(scope)}: disk "
                                         f"{target.get('dev') if target is not None else '?'} uses it")

    def read(self, scope: str) -> Values:
        flags = self.scope_flag(scope)
        ids = self._ids(flags)
        values: Values = {"ids": ids}
        wanted = self.params()
        if wanted:
            root = self.definition(scope)
            values["params"] = {str(number): _thread_pool(root, number) for number in sorted(wanted) if number in ids}
            if scope == "live":  # apart from params: only the running domain has them (pending_restart compares params)
                stats = self._poll_stats()
                values["polling"] = {str(number): {key: stats.get(f"iothread.{number}.{key.replace('_', '-')}")
                                                   for key in POLL_KEYS}
                                     for number in sorted(wanted) if number in ids}
        return values

    def _poll_stats(self) -> dict[str, Any]:
        records = self.domain.connection.domain_list_get_stats([self.domain.virdomain], flag("VIR_DOMAIN_STATS_IOTHREAD"))
        return dict(records[0][1]) if records else {}

    def steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        present, ids = set(current["ids"]), self.wanted.get("ids")
        wanted = set(ids) if ids is not None else present
        steps = [self.step(scope, f"add IOThread {number}", lambda number=number: self.calls.add_io_thread(number, flags),
                           lambda prediction, number=number: self._add_iothread(prediction, number, scope))
                 for number in sorted(wanted - present)]
        steps += self._param_steps(scope, flags, current)
        steps += [self.step(scope, f"remove IOThread {number}", lambda number=number: self.calls.del_io_thread(number, flags),
                            lambda prediction, number=number: _remove_iothread(prediction, number))
                  for number in sorted(present - wanted)]
        return steps

    def _add_iothread(self, prediction: Values, number: int, scope: str) -> None:
        """A new IOThread: its thread pool bounds unset; its polling values the hypervisor's (unknown before)."""
        prediction["ids"] = sorted(prediction["ids"] + [number])
        if "params" in prediction and number in self.params():
            prediction["params"][str(number)] = dict.fromkeys(THREAD_POOL_KEYS, UNSET_BOUND)
            if scope == "live":
                prediction["polling"][str(number)] = dict.fromkeys(POLL_KEYS)

    def _param_steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        """Polling values (live only) and thread pool bounds, in separate calls: libvirt 9.0 does not keep the
        bounds in the running definition when one call also sets polling values (seen on the rig)."""
        steps = []
        for number, values in sorted(self.params().items()):
            for what, part, keys in (("polling", "polling", POLL_KEYS if scope == "live" else ()),
                                     ("thread pool", "params", THREAD_POOL_KEYS)):
                present = current.get(part, {}).get(str(number), {})
                changes = {key: value for key, value in values.items() if key in keys and present.get(key) != value}
                if changes:
                    self._check_live_bounds(scope, number, changes)
                    steps.append(self.step(scope, f"set the {what} of IOThread {number}: {_assignments(changes)}",
                                           lambda number=number, changes=changes:
                                           self.calls.set_io_thread_params(number, changes, flags),
                                           lambda prediction, number=number, changes=changes, part=part:
                                           prediction.setdefault(part, {}).setdefault(str(number), {}).update(changes)))
        return steps

    def _check_live_bounds(self, scope: str, number: int, changes: dict[str, int]) -> None:
        """A running domain takes thread pool bounds of 0 or more only (libvirt refuses -1 there)."""
        unset = [key for key, value in changes.items() if key in THREAD_POOL_KEYS and value == UNSET_BOUND]
        if scope == "live" and unset:
            raise self.refuse(f"params.{number}.{unset[0]}",
                              f"{UNSET_BOUND} (the hypervisor's default) cannot be set in a running domain, only in its "
                              "persistent definition (config)")


def _iothread_value(group: TuneGroup, where: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise group.refuse(where, f"expected an integer, got {value!r}")
    lowest = 0 if key in POLL_KEYS else UNSET_BOUND
    if value < lowest or (key == "thread_pool_max" and value == 0):
        allowed = "0 or more" if key in POLL_KEYS else "-1 (the hypervisor's default) or more" + (
            ", not 0" if key == "thread_pool_max" else "")
        raise group.refuse(where, f"{value} is out of range ({allowed})")
    return value


def _thread_pool(root: Any, number: int) -> dict[str, int]:
    """An IOThread's thread pool bounds, as its definition has them (unset: -1)."""
    element = root.find(f"iothreadids/iothread[@id='{number}']")
    return {key: int(element.get(key)) if element is not None and element.get(key) is not None else UNSET_BOUND
            for key in THREAD_POOL_KEYS}


def _remove_iothread(prediction: Values, number: int) -> None:
    prediction["ids"] = [present for present in prediction["ids"] if present != number]
    for part in ("params", "polling"):
        prediction.get(part, {}).pop(str(number), None)


class SchedulerGroup(CpuGroup):
    """scheduler: cpu_shares and the periods and quotas of vCPUs, emulator, IOThreads and the whole domain."""

    option = "scheduler"

    def validate(self) -> None:
        for key, value in self.wanted.items():
            _check_scheduler_value(self, key, value)
        for scope, flags in self.target.scopes:
            known = self.calls.scheduler_parameters_flags(flags)
            unknown = sorted(set(self.wanted) - set(known))
            if unknown:
                raise self.refuse(None, f"the scheduler of {self.where(scope)} has no {', '.join(unknown)} "
                                        f"(it has: {', '.join(sorted(known)) or 'nothing'})")
        self._check_iothread_scheduling()

    def _check_iothread_scheduling(self) -> None:
        """A running domain without IOThreads keeps no IOThread period or quota (QEMU reads back another value)."""
        asked = [key for key in self.wanted if key.startswith("iothread_")]
        if not asked or "live" not in self.target.scope_names:
            return
        ids = (self.target.options.get("iothreads") or {}).get("ids")
        if not (ids if ids is not None else self.calls.io_thread_info(self.scope_flag("live"))):
            raise self.refuse(asked[0], f"{self.where('live')} has no IOThread, so libvirt keeps no IOThread "
                                        "scheduling (iothreads.ids adds one)")

    def read(self, scope: str) -> Values:
        known = self.calls.scheduler_parameters_flags(self.scope_flag(scope))
        return {key: known[key] for key in SCHEDULER_KEYS if key in known}

    def steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        changes = {key: value for key, value in self.wanted.items() if current.get(key) != value}
        if not changes:
            return []
        return [self.step(scope, f"set {_assignments(changes)}",
                          lambda: self.calls.set_scheduler_parameters_flags(changes, flags),
                          lambda prediction: prediction.update(changes))]


def _check_scheduler_value(group: TuneGroup, key: str, value: int) -> None:
    if key == "cpu_shares":
        lowest, highest = SHARES_RANGE
        if not lowest <= value <= highest:
            raise group.refuse(key, f"{value} is out of range ({lowest}..{highest})")
    elif key.endswith("_period"):
        lowest, highest = PERIOD_RANGE
        if not lowest <= value <= highest:
            raise group.refuse(key, f"{value} is out of range ({lowest}..{highest} microseconds)")
    else:
        lowest, highest = QUOTA_RANGE
        if value != -1 and not lowest <= value <= highest:
            raise group.refuse(key, f"{value} is out of range (-1 for no limit, or {lowest}..{highest} microseconds)")


def _number(raw: Any) -> Optional[int]:
    """A dict key as a number: YAML gives 0, JSON gives "0"."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    return int(text) if text.isdigit() else None


def _listed(numbers: Any) -> str:
    return ", ".join(str(number) for number in numbers)


def _assignments(changes: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(changes.items()))


GROUPS: dict[str, type[TuneGroup]] = {
    "vcpus": VcpusGroup,
    "iothreads": IothreadsGroup,
    "cputune": CputuneGroup,
    "scheduler": SchedulerGroup,
}

ARGUMENT_SPECS: dict[str, dict[str, Any]] = {
    "vcpus": dict(type="dict", options=dict(
        count=dict(type="int"),
        maximum=dict(type="int"),
        guest=dict(type="bool"),
        online=dict(type="str"),
    )),
    "cputune": dict(type="dict", options=dict(
        vcpupin=dict(type="dict"),
        emulatorpin=dict(type="str"),
        iothreadpin=dict(type="dict"),
    )),
    "iothreads": dict(type="dict", options=dict(
        ids=dict(type="list", elements="int"),
        params=dict(type="dict"),
    )),
    "scheduler": dict(type="dict", options={key: dict(type="int") for key in SCHEDULER_KEYS}),
}
