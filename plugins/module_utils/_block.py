# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_block's runner: one disk's block job, size, I/O limits and write threshold as a plan of steps.

Everything is read and decided first (_block_decide), so a refusal changes nothing and check mode
reports the same steps a real run takes; `_plan.execute` then runs them in order: the job, the
resize, the I/O tuning, the blkio tuning, the threshold.
"""

from __future__ import annotations

import base64
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._block_calls import BlockCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._block_decide import (
    JobDecision, adopts_copy, decide_job, decide_size, resolve_disk)
from ansible_collections.virtops.libvirt.plugins.module_utils._block_job import BlockJob
from ansible_collections.virtops.libvirt.plugins.module_utils._block_options import BlockOptions, JobOptions
from ansible_collections.virtops.libvirt.plugins.module_utils._block_start import job_starter
from ansible_collections.virtops.libvirt.plugins.module_utils._block_tuning import DiskTuning
from ansible_collections.virtops.libvirt.plugins.module_utils._disks import Disk, Disks
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import StorageVolume
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, LibvirtCallError
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder, Step, execute, predicted


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
        # what the task touches, as read before it (the diff's before; check mode's prediction starts from it)
        self.before: dict[str, Any] = {"source": _source(self.disk), "backing_chain": _paths(self.disk)}
        self.tuning = DiskTuning(domain, self.calls, self.target, options, self.active, self.before)

    def where(self) -> str:
        return self.tuning.where()

    def run(self) -> dict[str, Any]:
        steps = self.plan()
        execute(steps, self.recorder)
        return self.result(steps)

    def plan(self) -> list[Step]:
        """Every step, decided before the first one runs."""
        steps = self._job_steps(self.options.job) if self.options.job else []
        steps += self._size_steps() + self.tuning.steps()
        return steps

    # --- the block job ----------------------------------------------------------------------

    def _job_steps(self, options: JobOptions) -> list[Step]:
        if not self.active:
            raise InvalidArgument(f"job: block jobs need a running domain; {self.where()} is not running",
                                  domain=self.domain.name)
        running = self.calls.block_job_info(self.target)
        if running and adopts_copy(options, running, self.domain.xml_desc(), self.target):
            return self._adopt_steps(options)
        decision = decide_job(options, self.disk, running, self.domain.name)
        if not decision.start:
            if running:
                self.recorder.warn(decision.reason)
                self.job_stats = self._job(decision).running_info()
                return self._speed_steps(options, running)
            return []
        if decision.kind == "abort":
            return [Step(decision.reason, lambda: self._abort(options.pivot))]
        start = job_starter(self.calls, self.target, options, decision, self.domain.is_persistent())
        return [Step(decision.reason, lambda: self._run_job(decision, start), _job_effect(options, decision))]

    def _adopt_steps(self, options: JobOptions) -> list[Step]:
        """Finish the copy an earlier run of this task started: its speed as asked, then wait and finish."""
        finish = options.finish_for(True)
        decision = JobDecision("copy", True, f"finish the running copy of {self.target} to {options.destination} "
                                             f"and {finish} it", finish)

        def set_speed() -> None:  # the job runs already: "starting" it is setting its speed
            self.calls.block_job_set_speed(self.target, options.bandwidth or 0)

        return [Step(decision.reason, lambda: self._run_job(decision, set_speed), _job_effect(options, decision))]

    def _speed_steps(self, options: JobOptions, running: dict[str, Any]) -> list[Step]:
        """A running job's speed, changed when bandwidth asks for another one."""
        if options.bandwidth is None or options.kind == "abort" or running.get("bandwidth") == options.bandwidth:
            return []
        return [Step(f"set the speed of the job on {self.target} to {options.bandwidth} bytes/s",
                     lambda: self.calls.block_job_set_speed(self.target, options.bandwidth or 0))]

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

    def _size_steps(self) -> list[Step]:
        if self.options.size is None:
            return []
        self.before["capacity"] = self.tuning.capacity()
        wanted = decide_size(self.options.size, self.before["capacity"], self.target, self.domain.name)
        if wanted is None:
            return []

        def resized(prediction: dict[str, Any]) -> None:
            prediction.update(capacity=wanted)

        if not self.active:  # QEMU does not run: the image grows through its storage volume
            volume = self._volume()
            return [Step(f"resize {self.target} to {wanted} bytes (offline)",
                         lambda: volume.resize(wanted, f"{self.where()} (offline)"), resized)]
        return [Step(f"resize {self.target} to {wanted} bytes",
                     lambda: self.calls.block_resize(self.target, wanted, flag("VIR_DOMAIN_BLOCK_RESIZE_BYTES")),
                     resized)]

    def _volume(self) -> StorageVolume:
        """The storage volume of a shut-off domain's disk image; refused when no active pool holds it."""
        path = self.disk.source.path if self.disk.source else None
        if not path or self.disk.backing:
            why = "has backing images (grow its top image while the domain runs)" if path else "is no local image"
            raise InvalidArgument(f"size: {self.where()} {why}", domain=self.domain.name)
        try:
            return self.domain.connection.storage_vol_lookup_by_path(path)
        except LibvirtCallError as error:
            raise InvalidArgument(f"size: {self.where()} is shut off and its image {path} is in no active storage pool "
                                  f"({error.libvirt_message}): start the domain, or define a pool holding it",
                                  domain=self.domain.name) from None

    # --- the result -------------------------------------------------------------------------

    def result(self, steps: list[Step]) -> dict[str, Any]:
        """The disk after the task (re-read unless check mode left it as it was), the job's statistics and the
        diff's before and after (check mode: the before with each planned step's effect)."""
        disk = self.disk if self.recorder.check_mode else resolve_disk(Disks.read(self.domain), self.target)
        facts = disk_facts(self.domain, disk)
        if self.active:
            facts["stats"] = self.calls.block_stats(self.target)
        result = {"disk": facts, "job": self.job_stats, "diff_before": self.before,
                  "diff_after": predicted(self.before, steps) if self.recorder.check_mode else self._after(disk, facts)}
        if self.options.peek is not None:
            peek = self.options.peek
            data = self.calls.block_peek(self.target, peek.offset, peek.size)
            result["peek"] = {"offset": peek.offset, "size": len(data), "data": base64.b64encode(data).decode("ascii")}
        return result

    def _after(self, disk: Disk, facts: dict[str, Any]) -> dict[str, Any]:
        """The same values as the before, read again."""
        after: dict[str, Any] = {"source": _source(disk), "backing_chain": _paths(disk)}
        if "capacity" in self.before:
            after["capacity"] = facts["capacity"]
        self.tuning.read_after(after)
        return after


def disk_facts(domain: Domain, disk: Disk) -> dict[str, Any]:
    """The disk as domain_block reports it: the model's summary, sizes, and the backing chain (top first)."""
    capacity, allocation, physical = domain.details.block_info(disk.target or "")
    chain = [{"source": layer.source.describe() if layer.source else None, "format": layer.format,
              "index": layer.index} for layer in disk.chain]
    return {**disk.summary(), "capacity": capacity, "allocation": allocation, "physical": physical,
            "backing_chain": chain}


def _source(disk: Disk) -> Optional[str]:
    return disk.source.describe() if disk.source else None


def _paths(disk: Disk) -> list[Optional[str]]:
    return [layer.source.describe() if layer.source else None for layer in disk.chain]


def _job_effect(options: JobOptions, decision: JobDecision) -> Any:
    """What a job does to the disk, for check mode's prediction: a pivoted copy and a full pull are certain."""
    def effect(prediction: dict[str, Any]) -> None:
        if decision.kind == "copy" and decision.finish == "pivot" and options.destination:
            prediction.update(source=options.destination, backing_chain=[options.destination])
        elif decision.kind == "pull" and options.base is None:
            prediction["backing_chain"] = prediction["backing_chain"][:1]
    return effect
