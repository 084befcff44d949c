# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Long libvirt jobs of one domain: the job calls, job statistics as one dict shape."""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag

# virDomainJobType, by libvirt's numbering
JOB_TYPE_NAMES: tuple[str, ...] = ("none", "bounded", "unbounded", "completed", "failed", "cancelled")


def job_type_name(code: Any) -> Any:
    if isinstance(code, int) and 0 <= code < len(JOB_TYPE_NAMES):
        return JOB_TYPE_NAMES[code]
    return code


def is_running(stats: dict[str, Any]) -> bool:
    """Whether job statistics describe a job still in progress."""
    return stats.get("type") in (1, 2, "bounded", "unbounded")


class JobCalls:
    """The virDomain calls about jobs: statistics, abort, backups (migration and block jobs to come)."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.virdomain = domain.virdomain

    def job_stats(self, completed: bool = False) -> dict[str, Any]:
        """The current job's statistics (with `completed`, the last finished job's), type_name added."""
        flags = flag("VIR_DOMAIN_JOB_STATS_COMPLETED") if completed else 0
        stats = dict(self.domain.invoke("read job stats", self.virdomain.jobStats, flags, idempotent=True) or {})
        if "type" in stats:
            stats["type_name"] = job_type_name(stats["type"])
        return stats

    def abort_job(self, what: str = "job") -> None:
        self.domain.invoke(f"abort {what}", self.virdomain.abortJob)

    def backup_begin(self, backup_xml: str, checkpoint_xml: Optional[str]) -> None:
        self.domain.invoke("begin backup", self.virdomain.backupBegin, backup_xml, checkpoint_xml, 0)

    def backup_get_xml_desc(self) -> str:
        return self.domain.invoke("read backup job", self.virdomain.backupGetXMLDesc, 0, idempotent=True)
