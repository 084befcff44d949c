# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The typed block calls of one domain: block jobs, resize, I/O limits, thresholds, statistics.

Each libvirt method is called from exactly one method here, named after it in snake case. The reads
domain_info shares (blockInfo, blockIoTune, blkioParameters) stay in _domain_calls.DetailReads
(domain.details); the runner reads them there. A block job is started once and never repeated
automatically: only reads and setters whose effect is compared before repeating are idempotent.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._domain_calls import DomainCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag


class BlockCalls(DomainCalls):
    """Block jobs and block tuning of one domain's disks (a disk is named by its target, vda)."""

    # --- starting block jobs (each returns at once; the job runs on) ---
    def block_pull(self, disk: str, bandwidth: int, flags: int) -> None:
        self.domain.invoke(f"start a pull on {disk}", self.virdomain.blockPull, disk, bandwidth, flags)

    def block_rebase(self, disk: str, base: Any, bandwidth: int, flags: int) -> None:
        self.domain.invoke(f"start a rebase of {disk}", self.virdomain.blockRebase, disk, base, bandwidth, flags)

    def block_copy(self, disk: str, destination_xml: str, params: dict[str, Any], flags: int) -> None:
        self.domain.invoke(f"start a copy of {disk}", self.virdomain.blockCopy, disk, destination_xml, params, flags)

    def block_commit(self, disk: str, base: Any, top: Any, bandwidth: int, flags: int) -> None:
        self.domain.invoke(f"start a commit on {disk}", self.virdomain.blockCommit, disk, base, top, bandwidth, flags)

    # --- the running job ---
    def block_job_info(self, disk: str) -> dict[str, Any]:
        """The disk's running block job ({} when none): type, bandwidth (bytes/s), cur, end."""
        flags = flag("VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES")
        return dict(self.domain.read(f"read the block job of {disk}", self.virdomain.blockJobInfo, disk, flags) or {})

    def block_job_abort(self, disk: str, flags: int, what: str = "abort the block job") -> None:
        self.domain.invoke(f"{what} of {disk}", self.virdomain.blockJobAbort, disk, flags)

    def block_job_set_speed(self, disk: str, bandwidth: int) -> None:
        """The running job's maximum speed, in bytes per second (0: unlimited)."""
        flags = flag("VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES")
        self.domain.invoke(f"set the block job speed of {disk}", self.virdomain.blockJobSetSpeed, disk, bandwidth,
                           flags, idempotent=True)

    # --- size, limits, thresholds (setters compared before they run: safe to repeat) ---
    def block_resize(self, disk: str, size: int, flags: int) -> None:
        self.domain.invoke(f"resize {disk}", self.virdomain.blockResize, disk, size, flags, idempotent=True)

    def set_block_io_tune(self, disk: str, params: dict[str, Any], flags: int) -> None:
        self.domain.invoke(f"set I/O tuning of {disk}", self.virdomain.setBlockIoTune, disk, params, flags,
                           idempotent=True)

    def set_blkio_parameters(self, params: dict[str, Any], flags: int) -> None:
        self.domain.invoke("set blkio tuning", self.virdomain.setBlkioParameters, params, flags, idempotent=True)

    def set_block_threshold(self, disk: str, threshold: int) -> None:
        self.domain.invoke(f"set the write threshold of {disk}", self.virdomain.setBlockThreshold, disk, threshold, 0,
                           idempotent=True)

    # --- reads ---
    def block_stats(self, disk: str) -> dict[str, int]:
        """A running domain's I/O statistics of a disk: requests and bytes read and written, errors."""
        values = self.domain.read(f"read block statistics of {disk}", self.virdomain.blockStats, disk)
        return dict(zip(("rd_req", "rd_bytes", "wr_req", "wr_bytes", "errs"), values))

    def block_peek(self, disk: str, offset: int, size: int) -> bytes:
        return self.domain.read(f"read {size} bytes of {disk}", self.virdomain.blockPeek, disk, offset, size, 0)
