# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_block's runner: one disk's block job, size, I/O limits and write threshold as a plan of steps.

Everything is read and decided first (_block_decide), so a refusal changes nothing and check mode
reports the same steps a real run takes; `_plan.execute` then runs them in order: the job, the
resize, the I/O tuning, the blkio tuning, the threshold.
"""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._block_calls import BlockCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._block_decide import (
    JobDecision, blkio_changes, decide_job, decide_size, differing, resolve_disk)
from ansible_collections.virtops.libvirt.plugins.module_utils._block_job import BlockJob
from ansible_collections.virtops.libvirt.plugins.module_utils._block_options import BlockOptions, JobOptions
from ansible_collections.virtops.libvirt.plugins.module_utils._block_start import job_starter
from ansible_collections.virtops.libvirt.plugins.module_utils._disks import Disk, Disks
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder, Step, execute


def scope_flags(live: bool, config: bool) -> list[tuple[str, int]]:
    """(name, VIR_DOMAIN_AFFECT_*) for each definition a tuning applies to."""
    found = [("live", flag("VIR_DOMAIN_AFFECT_LIVE"))] if live else []
    return found + ([("config", flag("VIR_DOMAIN_AFFECT_CONFIG"))] if config else [])


class BlockRunner:
    """What one task does to one disk of one domain."""

    def __init__(self, domain: Domain, options: BlockOptions, recorder: ChangeRecorder) -> None:
        self.domain = domain
        self.options = options
        self.recorder = recorder
        self.calls = BlockCalls(domain)
        self.disk: Disk = resolve_disk(Disks.read(domain), options.disk)
        self.target: str = self.disk.target or options.disk
        self.active = domain.is_active()
        self.job: Optional[BlockJob] = None
        self.job_stats: Optional[dict[str, Any]] = None

    def where(self) -> str:
        return f"disk {self.target} of domain '{self.domain.name}'"

    def run(self) -> dict[str, Any]:
        steps = self.plan()
        execute(steps, self.recorder)
        return self.result()

    def plan(self) -> list[Step]:
        """Every step, decided before the first one runs."""
        steps = self._job_steps(self.options.job) if self.options.job else []
        steps += self._size_steps() + self._iotune_steps() + self._blkio_steps() + self._threshold_steps()
        return steps

    # --- the block job ----------------------------------------------------------------------

    def _job_steps(self, options: JobOptions) -> list[Step]:
        if not self.active:
            raise InvalidArgument(f"job: block jobs need a running domain; {self.where()} is not running",
                                  domain=self.domain.name)
        running = self.calls.block_job_info(self.target)
        decision = decide_job(options, self.disk, running, self.domain.name)
        if not decision.start:
            if running:
                self.recorder.warn(decision.reason)
                self.job_stats = self._job(decision).running_info()
            return []
        if decision.kind == "abort":
            return [Step(decision.reason, lambda: self._abort(options.pivot))]
        start = job_starter(self.calls, self.target, options, decision)
        return [Step(decision.reason, lambda: self._run_job(decision, start))]

    def _job(self, decision: JobDecision) -> BlockJob:
        paths = tuple(layer.source.path for layer in self.disk.chain if layer.source and layer.source.path)
        self.job = BlockJob(self.domain, self.calls, self.target, paths, decision, self.options.timeout)
        return self.job

    def _run_job(self, decision: JobDecision, start: Any) -> None:
        job = self._job(decision)
        if self.options.wait:
            self.job_stats = job.run(start)
        else:  # the task returns the running job (for async / poll, or a later job: abort)
            start()
            self.job_stats = job.running_info()

    def _abort(self, pivot: bool) -> None:
        flags = flag("VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT") if pivot else 0
        self.calls.block_job_abort(self.target, flags, what="pivot the job" if pivot else "abort the block job")

    # --- size, limits, threshold ------------------------------------------------------------

    def _capacity(self) -> int:
        return int(self.domain.details.block_info(self.target)[0])

    def _size_steps(self) -> list[Step]:
        if self.options.size is None:
            return []
        wanted = decide_size(self.options.size, self._capacity(), self.target, self.domain.name)
        if wanted is None:
            return []
        if not self.active:
            raise InvalidArgument(f"size: {self.where()} can only be resized while the domain runs "
                                  "(libvirt resizes through QEMU)", domain=self.domain.name)
        return [Step(f"resize {self.target} to {wanted} bytes",
                     lambda: self.calls.block_resize(self.target, wanted, flag("VIR_DOMAIN_BLOCK_RESIZE_BYTES")))]

    def _iotune_steps(self) -> list[Step]:
        steps = []
        for scope, scope_flag in scope_flags(self.options.live, self.options.config) if self.options.iotune else []:
            current = self.domain.details.block_io_tune(self.target, scope_flag)
            unknown = sorted(set(self.options.iotune) - set(current))
            if unknown:
                raise InvalidArgument(f"iotune: libvirt does not know {', '.join(unknown)} for {self.where()} "
                                      f"(known: {', '.join(sorted(current))})", domain=self.domain.name)
            changes = differing(self.options.iotune, current)
            if changes:
                steps.append(Step(f"set I/O tuning of {self.target} ({scope}): {_listed(changes)}",
                                  lambda changes=changes, scope_flag=scope_flag:
                                  self.calls.set_block_io_tune(self.target, changes, scope_flag)))
        return steps

    def _blkio_steps(self) -> list[Step]:
        steps = []
        for scope, scope_flag in scope_flags(self.options.live, self.options.config) if self.options.blkio else []:
            changes = blkio_changes(self.options.blkio, self.domain.details.blkio_parameters(scope_flag))
            if changes:
                steps.append(Step(f"set blkio tuning ({scope}): {_listed(changes)}",
                                  lambda changes=changes, scope_flag=scope_flag:
                                  self.calls.set_blkio_parameters(changes, scope_flag)))
        return steps

    def _threshold_steps(self) -> list[Step]:
        if self.options.threshold is None:
            return []
        if not self.active:
            raise InvalidArgument(f"threshold: a write threshold applies to a running domain; {self.where()} "
                                  "is not running", domain=self.domain.name)
        wanted = self.options.threshold.bytes_for(self._capacity())
        if self._threshold() == wanted:
            return []
        return [Step(f"set the write threshold of {self.target} to {wanted} bytes",
                     lambda: self.calls.set_block_threshold(self.target, wanted))]

    def _threshold(self) -> Optional[int]:
        """The disk's write threshold from the domain's block statistics (absent: none set, or it fired)."""
        records = self.domain.connection.domain_list_get_stats([self.domain.virdomain], flag("VIR_DOMAIN_STATS_BLOCK"))
        stats = records[0][1] if records else {}
        for number in range(int(stats.get("block.count", 0))):
            if stats.get(f"block.{number}.name") == self.target:
                return stats.get(f"block.{number}.threshold")
        return None

    # --- the result -------------------------------------------------------------------------

    def result(self) -> dict[str, Any]:
        """The disk after the task (re-read unless check mode left it as it was) and the job's statistics."""
        disk = self.disk if self.recorder.check_mode else resolve_disk(Disks.read(self.domain), self.target)
        return {"disk": disk_facts(self.domain, disk), "job": self.job_stats}


def disk_facts(domain: Domain, disk: Disk) -> dict[str, Any]:
    """The disk as domain_block reports it: the model's summary, sizes, and the backing chain (top first)."""
    capacity, allocation, physical = domain.details.block_info(disk.target or "")
    chain = [{"source": layer.source.describe() if layer.source else None, "format": layer.format,
              "index": layer.index} for layer in disk.chain]
    return {**disk.summary(), "capacity": capacity, "allocation": allocation, "physical": physical,
            "backing_chain": chain}


def _listed(changes: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(changes.items()))
