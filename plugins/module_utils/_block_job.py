# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One block job of one disk, run through the shared `_jobs.LongJob`.

A block job is not a domain job (virDomainGetJobStats does not see it): `BlockJobProbe` gives
LongJob the same two calls it uses for domain jobs (`job_stats`, `abort_job`), answered from the
disk's block job (virDomainGetBlockJobInfo, virDomainBlockJobAbort) and from the block-job events
of that disk. So the wait, its deadline, the abort at a timeout and the final statistics' shape are
LongJob's. A two-phase job (a copy, an active commit) ends its wait when it is ready (both images in
sync): the caller then pivots, aborts (keeping the original) or leaves it mirroring.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._block_calls import BlockCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._block_decide import JobDecision, job_type_name
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._events import BLOCK_JOB, BlockJobEvent
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag
from ansible_collections.virtops.libvirt.plugins.module_utils._jobs import COMPLETED, LongJob, final_stats

# virDomainBlockJobStatus, by libvirt's numbering
BLOCK_COMPLETED, BLOCK_FAILED, BLOCK_CANCELED, BLOCK_READY = 0, 1, 2, 3
_RUNNING, _FAILED, _CANCELLED = 2, 4, 5  # virDomainJobType, as LongJob reads a job's statistics
_NONE: dict[str, Any] = {"type": 0}


def shaped_info(info: dict[str, Any], operation: str) -> dict[str, Any]:
    """virDomainGetBlockJobInfo's answer as the shared job statistics (disk_* byte counts, bandwidth)."""
    current, end = int(info.get("cur", 0)), int(info.get("end", 0))
    return {"operation": operation, "job_type": job_type_name(info.get("type")), "bandwidth": info.get("bandwidth"),
            "disk_total": end, "disk_processed": current, "disk_remaining": max(0, end - current)}


class BlockJobProbe:
    """LongJob's `calls` for one disk's block job: its statistics and its abort."""

    def __init__(self, calls: BlockCalls, target: str, operation: str, two_phase: bool) -> None:
        self.calls = calls
        self.target = target
        self.operation = operation
        self.two_phase = two_phase
        self.status: Optional[int] = None  # the last block-job event's status for this disk
        self.ready = False
        self.last: dict[str, Any] = {"operation": operation}
        self._lock = threading.Lock()

    def on_event(self, event: BlockJobEvent) -> None:
        if event.disk != self.target:
            return
        with self._lock:
            if self.status in (None, BLOCK_READY):  # a terminal status stays
                self.status = event.status

    def job_stats(self, completed: bool = False) -> dict[str, Any]:
        """Running (type 2) while the wait goes on; type 0 once the job ended or, for two phases, is ready."""
        if completed:
            return self.outcome()
        info = self.calls.block_job_info(self.target)
        if info:
            self.last = shaped_info(info, self.operation)
        if self.status in (BLOCK_COMPLETED, BLOCK_FAILED, BLOCK_CANCELED) or not info:
            return dict(_NONE)
        if self.two_phase and (self.status == BLOCK_READY or _in_sync(info)):
            self.ready = True
            return dict(_NONE)
        return {"type": _RUNNING, **self.last}

    def outcome(self) -> dict[str, Any]:
        """The ended (or ready) job's statistics: failed and cancelled jobs say so, anything else completed."""
        if self.status == BLOCK_FAILED:
            return {**self.last, "type": _FAILED, "success": False, "errmsg": f"the {self.operation} job failed"}
        if self.status == BLOCK_CANCELED:
            return {**self.last, "type": _CANCELLED, "success": False,
                    "errmsg": f"the {self.operation} job was cancelled outside this task"}
        phase = "ready" if self.ready else "completed"
        done = {"disk_processed": self.last.get("disk_total"), "disk_remaining": 0} if phase == "completed" else {}
        return {**self.last, **done, "type": COMPLETED, "success": True, "phase": phase}

    def abort_job(self, _what: str = "") -> None:
        """An abort without pivot: a copy or active commit leaves the guest on its original image."""
        self.calls.block_job_abort(self.target, 0, what=f"abort the {self.operation.replace('_', ' ')} job")


def _in_sync(info: dict[str, Any]) -> bool:
    """A two-phase job whose copied bytes reached the end is ready (the fallback when the READY event is lost)."""
    return int(info.get("end", 0)) > 0 and int(info.get("cur", 0)) == int(info.get("end", 0))


class BlockJob(LongJob):
    """One block job of one disk: started, awaited (events, polling as fallback), finished as decided."""

    def __init__(self, domain: Domain, calls: BlockCalls, target: str, paths: tuple[str, ...],
                 decision: JobDecision, timeout: float, fallback: Optional[float] = None) -> None:
        operation = decision.kind.replace("_", " ")
        super().__init__(domain, f"{operation} of {target}", timeout, disks=(target, *paths), fallback=fallback)
        self.block = calls
        self.target = target
        self.decision = decision
        self.probe = BlockJobProbe(calls, target, decision.kind, decision.two_phase)
        self.calls = self.probe  # type: ignore[assignment]  # LongJob asks it for statistics and the abort
        self.events.append((BLOCK_JOB, self.probe.on_event))

    def run(self, start: Any) -> dict[str, Any]:
        """Start the job, wait for its end (or its ready phase), then pivot, abort or leave it mirroring."""
        started = time.monotonic()
        stats = self.run_started(start)
        if not self.decision.two_phase:
            return stats
        finish = self.decision.finish or "pivot"
        if finish == "pivot":
            self.block.block_job_abort(self.target, flag("VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT"), what="pivot the job")
        elif finish == "abort":
            self.block.block_job_abort(self.target, 0, what="end the job (keeping the original)")
        else:
            return {**final_stats({**stats, "type": _RUNNING}, time.monotonic() - started), "phase": "mirroring"}
        return {**stats, "phase": "pivoted" if finish == "pivot" else "aborted",
                "seconds": round(time.monotonic() - started, 3)}

    def running_info(self) -> dict[str, Any]:
        """The disk's running job in the shared shape (for wait: false and for a job found running)."""
        info = self.block.block_job_info(self.target)
        return final_stats({"type": _RUNNING, **shaped_info(info, job_type_name(info.get("type")))}, None) \
            if info else {}
