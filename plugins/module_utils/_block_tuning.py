# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tuning steps of one disk: I/O limits (iotune), blkio weights and limits, the write threshold.

Each compares the wanted values with the current ones (read once, kept as the diff's before) and
sets only what differs, for the live and/or the persistent definition.
"""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._block_calls import BlockCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._block_decide import blkio_changes, differing, parse_device_list
from ansible_collections.virtops.libvirt.plugins.module_utils._block_options import BlockOptions
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import Step
from ansible_collections.virtops.libvirt.plugins.module_utils._scope import scope_flags


class DiskTuning:
    """The tuning of one disk a task asks for: its steps, and the same values read again after them."""

    def __init__(self, domain: Domain, calls: BlockCalls, target: str, options: BlockOptions, active: bool,
                 before: dict[str, Any]) -> None:
        self.domain = domain
        self.calls = calls
        self.target = target
        self.options = options
        self.active = active
        self.before = before

    def scopes(self) -> list[tuple[str, int]]:
        """The definitions to tune: a shut-off domain has no live one, so live then means its configuration."""
        live = self.options.live and self.active
        return scope_flags(live, self.options.config or (self.options.live and not self.active))

    def where(self) -> str:
        return f"disk {self.target} of domain '{self.domain.name}'"

    def steps(self) -> list[Step]:
        return self._iotune_steps() + self._blkio_steps() + self._threshold_steps()

    def read_after(self, after: dict[str, Any]) -> None:
        """The values the steps touched, read again into `after` (the diff's after)."""
        for scope, scope_flag in self.scopes():
            if scope in self.before.get("iotune", {}):
                after.setdefault("iotune", {})[scope] = self.domain.details.block_io_tune(self.target, scope_flag)
            if scope in self.before.get("blkio", {}):
                after.setdefault("blkio", {})[scope] = self.domain.details.blkio_parameters(scope_flag)
        if "threshold" in self.before:
            after["threshold"] = self._threshold()

    def capacity(self) -> int:
        return int(self.domain.details.block_info(self.target)[0])

    def _iotune_steps(self) -> list[Step]:
        steps = []
        for scope, scope_flag in self.scopes() if self.options.iotune else []:
            current = self.domain.details.block_io_tune(self.target, scope_flag)
            self.before.setdefault("iotune", {})[scope] = current
            unknown = sorted(set(self.options.iotune) - set(current))
            if unknown:
                raise InvalidArgument(f"iotune: libvirt does not know {', '.join(unknown)} for {self.where()} "
                                      f"(known: {', '.join(sorted(current))})", domain=self.domain.name)
            changes = differing(self.options.iotune, current)
            if changes:
                steps.append(Step(f"set I/O tuning of {self.target} ({scope}): {_listed(changes)}",
                                  lambda changes=changes, scope_flag=scope_flag:
                                  self.calls.set_block_io_tune(self.target, changes, scope_flag),
                                  lambda prediction, changes=changes, scope=scope: prediction["iotune"][scope].update(changes)))
        return steps

    def _blkio_steps(self) -> list[Step]:
        steps = []
        for scope, scope_flag in self.scopes() if self.options.blkio else []:
            current = self.domain.details.blkio_parameters(scope_flag)
            self.before.setdefault("blkio", {})[scope] = current
            changes = blkio_changes(self.options.blkio, current)
            if changes:
                steps.append(Step(f"set blkio tuning ({scope}): {_listed(changes)}",
                                  lambda changes=changes, scope_flag=scope_flag:
                                  self.calls.set_blkio_parameters(changes, scope_flag),
                                  lambda prediction, changes=changes, scope=scope: _merge_blkio(prediction["blkio"][scope],
                                                                                                changes)))
        return steps

    def _threshold_steps(self) -> list[Step]:
        if self.options.threshold is None:
            return []
        if not self.active:
            raise InvalidArgument(f"threshold: a write threshold applies to a running domain; {self.where()} "
                                  "is not running", domain=self.domain.name)
        wanted = self.options.threshold.bytes_for(self.capacity())
        self.before["threshold"] = self._threshold()
        if self.before["threshold"] == wanted:
            return []
        return [Step(f"set the write threshold of {self.target} to {wanted} bytes",
                     lambda: self.calls.set_block_threshold(self.target, wanted),
                     lambda prediction: prediction.update(threshold=wanted))]

    def _threshold(self) -> Optional[int]:
        """The disk's write threshold from the domain's block statistics (absent: none set, or it fired)."""
        records = self.domain.connection.domain_list_get_stats([self.domain.virdomain], flag("VIR_DOMAIN_STATS_BLOCK"))
        stats = records[0][1] if records else {}
        for number in range(int(stats.get("block.count", 0))):
            if stats.get(f"block.{number}.name") == self.target:
                return stats.get(f"block.{number}.threshold")
        return None


def _merge_blkio(values: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if key == "weight":
            values[key] = value
        else:
            merged = {**parse_device_list(values.get(key)), **parse_device_list(value)}
            values[key] = ",".join(f"{path},{amount}" for path, amount in sorted(merged.items()))


def _listed(changes: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(changes.items()))
