# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_guest `gather`: read-only facts from the guest agent, through the readers domain_info uses.

guestInfo (hostname, os, users, timezone, file systems with their disks) is read in one call and
nested as domain_info's `guest` group nests it; interfaces come from the agent source of
_facts.read_addresses; vCPUs and the clock's skew from the agent calls of _agent.GuestSystem.
Every read is bounded by the agent timeout.
"""

from __future__ import annotations

import time as clock
from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils import _facts
from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestSystem
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, LibvirtCallError
from ansible_collections.virtops.libvirt.plugins.module_utils._guest_part import GuestPart
from ansible_collections.virtops.libvirt.plugins.module_utils._guest_state import guest_seconds
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import Step

FACT_GROUPS = ("hostname", "interfaces", "os", "users", "timezone", "filesystems", "vcpus", "time")
# guestInfo's keys (after nest_stats) for each group it answers
_GUEST_INFO_KEYS = {"hostname": "hostname", "os": "os", "users": "user", "timezone": "timezone", "filesystems": "fs"}

ARGUMENT_SPECS: dict[str, dict[str, Any]] = {
    "gather": dict(type="list", elements="str", choices=["all", *FACT_GROUPS]),
}


class GatherPart(GuestPart):
    """`gather`: facts read last, after every change of the task, so they show the guest as the task leaves it."""

    option = "gather"

    def __init__(self, context: Any, wanted: Any) -> None:
        super().__init__(context, wanted)
        wanted = list(wanted or [])
        self.groups = list(FACT_GROUPS) if "all" in wanted else [group for group in FACT_GROUPS if group in wanted]
        self.facts: dict[str, Any] = {}

    def validate(self) -> None:
        if not self.groups:
            raise InvalidArgument(f"gather: give some of all, {', '.join(FACT_GROUPS)}")

    def plan(self) -> list[Step]:
        return []  # reads only, in result(): after every change of the task (and in check mode too)

    def result(self) -> dict[str, Any]:
        self.read()
        return {"facts": self.facts}

    def _given(self, info: dict[str, Any], group: str) -> Any:
        """A group the answer has; an agent that refused its command (frozen, busy) leaves it out: an error."""
        if _GUEST_INFO_KEYS[group] not in info:
            domain = self.context.domain.name
            raise LibvirtCallError(f"the guest agent of domain '{domain}' gave no {group}: it refused or did not "
                                   "answer that command (frozen file systems disable most agent commands)",
                                   domain=domain, operation="read guest info")
        return info[_GUEST_INFO_KEYS[group]]

    def read(self) -> None:
        agent = self.context.agent
        system = GuestSystem(agent)
        if any(group in _GUEST_INFO_KEYS for group in self.groups):
            info = _facts.nest_stats(system.guest_info())
            for group in self.groups:
                if group in _GUEST_INFO_KEYS:
                    self.facts[group] = _lists(self._given(info, group))
        if "interfaces" in self.groups:
            with agent.bounded():
                self.facts["interfaces"] = _facts.read_addresses(self.context.domain, ["agent"])
        if "vcpus" in self.groups:
            self.facts["vcpus"] = system.vcpus()
        if "time" in self.groups:
            seconds = guest_seconds(system.get_time())
            self.facts["time"] = {"guest": round(seconds, 3), "skew": round(seconds - clock.time(), 3)}


def _lists(value: Any) -> Any:
    """nest_stats' counted groups ({"count": 1, "list": [...]}) as plain lists, also nested (a file system's disks)."""
    if isinstance(value, dict):
        if "count" in value and set(value) <= {"count", "list"}:  # no "list" when the count is 0
            return [_lists(item) for item in value.get("list", [])]
        return {key: _lists(item) for key, item in value.items()}
    return value


PARTS: dict[str, type[GuestPart]] = {"gather": GatherPart}
