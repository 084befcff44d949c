# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one call that starts a decided block job: which libvirt call, its flags, its parameters.

Bandwidths are always passed in bytes per second (the *_BANDWIDTH_BYTES flags; blockCopy's
`bandwidth` parameter is in bytes already), so `100MiB` means the same for every job.
"""

from __future__ import annotations

from typing import Callable

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._block_calls import BlockCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._block_decide import JobDecision
from ansible_collections.virtops.libvirt.plugins.module_utils._block_options import JobOptions
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag

# option -> the flag it sets, per call
COPY_FLAGS = {"shallow": "VIR_DOMAIN_BLOCK_COPY_SHALLOW", "reuse_external": "VIR_DOMAIN_BLOCK_COPY_REUSE_EXT",
              "synchronous_writes": "VIR_DOMAIN_BLOCK_COPY_SYNCHRONOUS_WRITES",
              "transient_job": "VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB"}
REBASE_FLAGS = {"shallow": "VIR_DOMAIN_BLOCK_REBASE_SHALLOW", "reuse_external": "VIR_DOMAIN_BLOCK_REBASE_REUSE_EXT",
                "relative": "VIR_DOMAIN_BLOCK_REBASE_RELATIVE"}
COMMIT_FLAGS = {"shallow": "VIR_DOMAIN_BLOCK_COMMIT_SHALLOW", "delete": "VIR_DOMAIN_BLOCK_COMMIT_DELETE",
                "relative": "VIR_DOMAIN_BLOCK_COMMIT_RELATIVE"}


def flags_for(options: JobOptions, table: dict[str, str]) -> int:
    value = 0
    for name in sorted(options.flags & set(table)):
        value |= flag(table[name], needed_for=name)
    return value


def destination_xml(options: JobOptions) -> str:
    """The copy's destination as a <disk>: the given XML, or a file with its format."""
    if options.destination_xml:
        return _xml.to_string(_xml.parse(options.destination_xml, what="destination_xml"), pretty=False)
    disk = _xml.etree.Element("disk", type="file")
    _xml.etree.SubElement(disk, "source", file=options.destination or "")
    _xml.etree.SubElement(disk, "driver", type=options.destination_format)
    return _xml.to_string(disk, pretty=False)


def job_starter(calls: BlockCalls, target: str, options: JobOptions, decision: JobDecision,
                persistent: bool) -> Callable[[], None]:
    """A call that starts the decided job and returns (the job runs on)."""
    bandwidth = options.bandwidth or 0
    if decision.kind == "copy" or (decision.kind == "rebase" and options.destination):
        return _copy_starter(calls, target, options, persistent)
    if decision.kind in ("pull", "rebase"):
        flags = flags_for(options, REBASE_FLAGS) | (flag("VIR_DOMAIN_BLOCK_REBASE_BANDWIDTH_BYTES") if bandwidth else 0)
        if options.base is None:
            pull_flags = flag("VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES") if bandwidth else 0
            return lambda: calls.block_pull(target, bandwidth, pull_flags)
        return lambda: calls.block_rebase(target, options.base, bandwidth, flags)
    flags = flags_for(options, COMMIT_FLAGS) | (flag("VIR_DOMAIN_BLOCK_COMMIT_BANDWIDTH_BYTES") if bandwidth else 0)
    if decision.kind == "active_commit":
        flags |= flag("VIR_DOMAIN_BLOCK_COMMIT_ACTIVE")
    return lambda: calls.block_commit(target, options.base, options.top, bandwidth, flags)


def _copy_starter(calls: BlockCalls, target: str, options: JobOptions, persistent: bool) -> Callable[[], None]:
    """A copy (also a rebase with a destination: libvirt's blockRebase COPY is the same job, without its flags).

    libvirt refuses a copy of a persistent domain's disk ("domain is not transient") unless the job is
    transient, that is, not resumed should the domain restart meanwhile; the copy's new image still
    becomes the persistent definition's at the pivot.
    """
    params = {name: value for name, value in (("bandwidth", options.bandwidth), ("granularity", options.granularity),
                                              ("buf-size", options.buf_size)) if value}
    flags = flags_for(options, COPY_FLAGS)
    if persistent:
        flags |= flag("VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB")
    text = destination_xml(options)
    return lambda: calls.block_copy(target, text, params, flags)
