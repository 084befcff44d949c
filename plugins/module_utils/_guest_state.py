# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_guest's guest state: the clock, the vCPUs the guest uses, frozen file systems, trimming.

Each reads first and changes only what differs (the clock: only when it is off by more than
TIME_TOLERANCE, or when a moment is given). fstrim is an action (always changed). A freeze the
task asked for outlives the task (a storage snapshot is taken after it), but not a task that fails
after freezing: the runner calls abort() and the file systems are thawed.
"""

from __future__ import annotations

import time as clock
from datetime import datetime, timezone
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _cpulist
from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestSystem
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, VirtopsError
from ansible_collections.virtops.libvirt.plugins.module_utils._guest_part import GuestContext, GuestPart
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import Step

TIME_TOLERANCE = 1.0  # seconds the guest's clock may differ from the host's before `time: sync` changes it
FREEZE_STATES = ("frozen", "thawed")

ARGUMENT_SPECS: dict[str, dict[str, Any]] = {
    "time": dict(type="str"),
    "vcpus_online": dict(type="str"),
    "fsfreeze": dict(type="dict", options=dict(
        state=dict(type="str", choices=list(FREEZE_STATES), required=True),
        mountpoints=dict(type="list", elements="str"),
    )),
    "fstrim": dict(type="dict", options=dict(minimum=dict(type="int", default=0))),
}


def guest_seconds(answer: dict[str, Any]) -> float:
    """virDomainGetTime's answer as seconds since the epoch."""
    return int(answer.get("seconds", 0)) + int(answer.get("nseconds", 0)) / 1e9


def parse_moment(text: str) -> float:
    """`time`'s value as seconds since the epoch: a number, or an ISO 8601 time (UTC when it names no zone)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument(f"time: '{text}' is neither sync, seconds since the epoch, nor an ISO 8601 time "
                              "(2026-11-27T19:30:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


class TimePart(GuestPart):
    """`time`: sync (the guest reads its clock from the host's RTC) or a moment to set; skew reported before and after."""

    option = "time"

    def __init__(self, context: GuestContext, wanted: Any) -> None:
        super().__init__(context, wanted)
        self.system = GuestSystem(context.agent)
        self.sync = str(wanted).strip().lower() == "sync"
        self.moment: Optional[float] = None
        self.report: dict[str, Any] = {}

    def validate(self) -> None:
        if not self.sync:
            self.moment = parse_moment(str(self.wanted))
            if self.moment < 0:
                raise InvalidArgument(f"time: {self.wanted} is before the epoch")

    def skew(self) -> float:
        """The guest's clock minus the host's, in seconds (positive: the guest is ahead)."""
        return round(guest_seconds(self.system.get_time()) - clock.time(), 3)

    def plan(self) -> list[Step]:
        skew = self.skew()
        self.report = {"skew_before": skew, "skew_after": skew, "mode": "sync" if self.sync else "set"}
        if self.sync:
            if abs(skew) <= TIME_TOLERANCE:
                return []
            return [Step(f"time: sync the guest's clock (off by {skew:+.3f} s)", self._apply_sync)]
        moment = self.moment or 0.0
        return [Step(f"time: set the guest's clock to {datetime.fromtimestamp(moment, timezone.utc).isoformat()}",
                     lambda: self._apply_set(moment))]

    def _apply_sync(self) -> None:
        self.system.set_time()
        self.report["skew_after"] = self.skew()
        if abs(self.report["skew_after"]) > TIME_TOLERANCE:
            # the guest's RTC was off too: a clock set through the agent writes it (hwclock -w), so the
            # RTC cannot correct it; set the clock (and so the RTC) to the libvirt client's own time
            now = clock.time()
            self.system.set_time(int(now), int((now - int(now)) * 1e9))
            self.report["skew_after"] = self.skew()

    def _apply_set(self, moment: float) -> None:
        self.system.set_time(int(moment), int(round((moment - int(moment)) * 1e9)))
        self.report["skew_after"] = self.skew()

    def result(self) -> dict[str, Any]:
        return {"time": self.report}


class VcpusPart(GuestPart):
    """`vcpus_online`: exactly these vCPUs online in the guest, compared with what the guest uses first."""

    option = "vcpus_online"

    def __init__(self, context: GuestContext, wanted: Any) -> None:
        super().__init__(context, wanted)
        self.system = GuestSystem(context.agent)
        self.wanted_cpus: tuple[int, ...] = ()
        self.report: dict[str, Any] = {}

    def validate(self) -> None:
        self.wanted_cpus = _cpulist.parse(self.wanted, "vcpus_online")
        if not self.wanted_cpus:
            raise InvalidArgument("vcpus_online: a guest needs at least one vCPU online")

    def plan(self) -> list[Step]:
        answer = self.system.vcpus()
        present = set(_cpulist.parse(answer.get("vcpus", ""), "the guest's vCPUs"))
        online = set(_cpulist.parse(answer.get("online", ""), "the guest's online vCPUs"))
        offlinable = set(_cpulist.parse(answer.get("offlinable", ""), "the guest's offlinable vCPUs"))
        wanted = set(self.wanted_cpus)
        self._refuse_impossible(wanted, present, online, offlinable)
        after = _cpulist.format_list(sorted(wanted))
        self.report = {"before": _cpulist.format_list(sorted(online)), "after": after,
                       "vcpus": _cpulist.format_list(sorted(present))}
        steps = []
        if wanted - online:
            text = _cpulist.format_list(sorted(wanted - online))
            steps.append(Step(f"vcpus_online: bring guest vCPUs {text} online",
                              lambda: self.system.set_vcpus(text, True)))
        if online - wanted:
            gone = _cpulist.format_list(sorted(online - wanted))
            steps.append(Step(f"vcpus_online: take guest vCPUs {gone} offline",
                              lambda: self.system.set_vcpus(gone, False)))
        return steps

    def _refuse_impossible(self, wanted: set[int], present: set[int], online: set[int], offlinable: set[int]) -> None:
        missing = wanted - present
        if missing:
            raise InvalidArgument(f"vcpus_online: the guest has no vCPU {_cpulist.format_list(sorted(missing))} "
                                  f"(it has {_cpulist.format_list(sorted(present))})",
                                  domain=self.context.domain.name)
        stuck = (online - wanted) - offlinable
        if stuck:
            raise InvalidArgument(f"vcpus_online: the guest cannot take vCPU {_cpulist.format_list(sorted(stuck))} "
                                  "offline", domain=self.context.domain.name)

    def result(self) -> dict[str, Any]:
        return {"vcpus": self.report}


class FreezePart(GuestPart):
    """`fsfreeze`: the guest's file systems frozen or thawed, read from the agent's freeze status first."""

    option = "fsfreeze"

    def __init__(self, context: GuestContext, wanted: Any) -> None:
        super().__init__(context, wanted)
        self.state = (wanted or {}).get("state")
        self.mountpoints = (wanted or {}).get("mountpoints") or None
        self.report: dict[str, Any] = {}
        self.froze = False

    def validate(self) -> None:
        if self.mountpoints is not None and self.state == "thawed":
            raise InvalidArgument("fsfreeze.mountpoints: a thaw thaws every frozen file system; give mountpoints "
                                  "with state=frozen only")

    def status(self) -> str:
        """The agent's own view (guest-fsfreeze-status: libvirt has no API for it, so a raw command)."""
        return str(self.context.agent.command("guest-fsfreeze-status"))

    def plan(self) -> list[Step]:
        before = self.status()
        self.report = {"status_before": before, "status": before}
        if before == self.state:
            return []
        if self.state == "frozen":
            where = ", ".join(self.mountpoints) if self.mountpoints else "all file systems"
            return [Step(f"fsfreeze: freeze the guest's file systems ({where})", self._freeze)]
        return [Step("fsfreeze: thaw the guest's file systems", self._thaw)]

    def _freeze(self) -> None:
        self.froze = True  # set first: a freeze that times out may still freeze after libvirt gave up
        frozen = self.context.agent.fs_freeze(self.mountpoints)
        if not frozen:
            # the agent answers 0 for mount points it does not have (rig): nothing is frozen, nothing changed
            where = ", ".join(self.mountpoints) if self.mountpoints else "any mount point"
            raise VirtopsError(f"fsfreeze: the guest agent of domain '{self.context.domain.name}' froze no file "
                               f"system: the guest has no freezable file system at {where}",
                               domain=self.context.domain.name, operation="freeze guest filesystems")
        self.report["filesystems"] = frozen
        self.report["status"] = "frozen"

    def _thaw(self) -> None:
        self.report["filesystems"] = self.context.agent.fs_thaw(None)
        self.report["status"] = "thawed"

    def abort(self) -> None:
        if self.froze:
            try:
                self.context.agent.fs_thaw(None)
            except VirtopsError:
                pass  # the task's own error is the one to report
            self.report["status"] = "thawed"

    def result(self) -> dict[str, Any]:
        if self.context.check_mode and self.report.get("status_before") != self.state:
            self.report["status"] = self.state  # the plan
        return {"fsfreeze": self.report}


class TrimPart(GuestPart):
    """`fstrim`: discard unused blocks in the guest; an action, reported per mount point."""

    option = "fstrim"

    def __init__(self, context: GuestContext, wanted: Any) -> None:
        super().__init__(context, wanted)
        self.minimum = int((wanted or {}).get("minimum") or 0)
        self.paths: list[dict[str, Any]] = []

    def validate(self) -> None:
        if self.minimum < 0:
            raise InvalidArgument(f"fstrim.minimum must not be negative (got {self.minimum})")

    def plan(self) -> list[Step]:
        return [Step(f"fstrim: trim the guest's file systems (minimum {self.minimum} bytes)", self._trim)]

    def _trim(self) -> None:
        # libvirt's virDomainFSTrim returns no per-mount-point result; guest-fstrim does (a raw command)
        answer = self.context.agent.command("guest-fstrim", {"minimum": self.minimum}) or {}
        self.paths = [{"mountpoint": entry.get("path"), "trimmed": entry.get("trimmed"),
                       "minimum": entry.get("minimum"), "error": entry.get("error")}
                      for entry in answer.get("paths") or []]

    def result(self) -> dict[str, Any]:
        return {"fstrim": {"minimum": self.minimum, "mountpoints": self.paths}}


PARTS: dict[str, type[GuestPart]] = {
    "time": TimePart, "vcpus_online": VcpusPart, "fsfreeze": FreezePart, "fstrim": TrimPart,
}
