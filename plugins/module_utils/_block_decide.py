# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What domain_block does to one disk, decided from the disk model and the current values (no libvirt call).

Each decision says whether something changes and why not when nothing does: a copy whose destination
is already the disk's source, a pull on a disk without a backing file, a commit with nothing above
its base, a job already running on the disk, a size, limit or threshold already in place. Refusals
name the option, the disk and the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._block_options import BLKIO_DEVICE_KEYS, JobOptions, Size
from ansible_collections.virtops.libvirt.plugins.module_utils._disks import Disk, Disks
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument

# VIR_DOMAIN_BLOCK_JOB_TYPE_*, by libvirt's numbering
JOB_TYPE_NAMES = ("unknown", "pull", "copy", "commit", "active_commit", "backup")


def job_type_name(code: Any) -> str:
    return JOB_TYPE_NAMES[code] if isinstance(code, int) and 0 <= code < len(JOB_TYPE_NAMES) else str(code)


def resolve_disk(disks: Disks, name: str) -> Disk:
    """The disk named by its target (vda) or its top image's source path; refused when the domain has none."""
    found = disks.find(name) or next((disk for disk in disks if disk.source and disk.source.path == name), None)
    if found is None or not found.target:
        known = ", ".join(disk.target for disk in disks if disk.target) or "none"
        raise InvalidArgument(f"disk: domain '{disks.domain_name}' has no disk '{name}' (its disks: {known})",
                              domain=disks.domain_name)
    return found


def layer_position(disk: Disk, name: Optional[str]) -> Optional[int]:
    """Where `name` (a path or a layer name such as vda[2]) is in the disk's chain: 0 is the top image."""
    for position, layer in enumerate(disk.chain):
        if name is not None and ((layer.source and layer.source.path == name) or
                                 (layer.index is not None and disk.layer_name(layer.index) == name)):
            return position
    return None


@dataclass(frozen=True)
class JobDecision:
    """A block job to start (kind: pull, rebase, copy, commit, active_commit, abort), or why none is."""

    kind: str
    start: bool
    reason: str  # the action when it starts, else why nothing changes
    finish: Optional[str] = None  # pivot, abort or mirror for two-phase jobs

    @property
    def two_phase(self) -> bool:
        return self.kind in ("copy", "active_commit") or (self.kind == "rebase" and self.finish is not None)


def adopts_copy(options: JobOptions, running: Mapping[str, Any], domain_xml: str, target: str) -> bool:
    """Whether the copy running on `target` is the one this task asks for (same destination): a task
    that lost its connection (libvirtd restarted) left it mirroring, and running the task again
    finishes it instead of leaving it running for ever. A task with finish=mirror wants the mirror
    running: for it a running copy is the job done (reported, not taken over)."""
    if options.kind != "copy" or not options.destination or job_type_name(running.get("type")) != "copy":
        return False
    if options.finish == "mirror":
        return False
    for disk in _xml.parse(domain_xml).iterfind("devices/disk"):
        mirror = disk.find("mirror")
        if disk.find("target") is not None and disk.find("target").get("dev") == target and mirror is not None:
            source = mirror.find("source")
            return options.destination in (mirror.get("file"), source.get("file") if source is not None else None)
    return False


def decide_job(options: JobOptions, disk: Disk, running: Mapping[str, Any], domain: str) -> JobDecision:
    """The job to run on `disk` given the job running there now ({} when none)."""
    where = f"disk {disk.target} of domain '{domain}'"
    if options.kind == "abort":
        if not running:
            return JobDecision("abort", False, f"no block job runs on {disk.target}")
        how = "pivot to its copy and end" if options.pivot else "abort"
        return JobDecision("abort", True, f"{how} the {job_type_name(running.get('type'))} job on {disk.target}")
    if running:
        return JobDecision(options.kind, False, f"a {job_type_name(running.get('type'))} job already runs on "
                                                f"{disk.target}: not started again")
    if options.kind == "copy" or (options.kind == "rebase" and options.destination):
        return _copy(options, disk)
    if options.kind in ("pull", "rebase"):
        return _pull(options, disk, where)
    return _commit(options, disk, where)


def _copy(options: JobOptions, disk: Disk) -> JobDecision:
    kind = options.kind
    finish = options.finish_for(True)
    if options.destination and disk.source is not None and disk.source.path == options.destination:
        return JobDecision(kind, False, f"{disk.target} already uses {options.destination}", finish)
    target = options.destination or "the given destination"
    return JobDecision(kind, True, f"copy {disk.target} to {target} and {finish} it", finish)


def _pull(options: JobOptions, disk: Disk, where: str) -> JobDecision:
    if not disk.backing:
        return JobDecision(options.kind, False, f"{disk.target} has no backing file: nothing to pull")
    if options.base is None:
        return JobDecision(options.kind, True, f"pull the whole backing chain into {disk.target}")
    position = layer_position(disk, options.base)
    if position is None or position == 0:
        raise InvalidArgument(f"base: '{options.base}' is not a backing image of {where} "
                              f"(its chain: {_chain_text(disk)})")
    if position == 1:
        return JobDecision(options.kind, False, f"{disk.target} is already backed by {options.base}")
    return JobDecision(options.kind, True, f"pull the images above {options.base} into {disk.target}")


def _commit(options: JobOptions, disk: Disk, where: str) -> JobDecision:
    if not disk.backing:
        return JobDecision("commit", False, f"{disk.target} has no backing file: nothing to commit")
    base = len(disk.chain) - 1 if options.base is None else layer_position(disk, options.base)
    top = 0 if options.top is None else layer_position(disk, options.top)
    if base is None:
        raise InvalidArgument(f"base: '{options.base}' is not in the backing chain of {where} "
                              f"(its chain: {_chain_text(disk)})")
    if top is None:  # committed by an earlier run: the image is gone from the chain
        return JobDecision("commit", False, f"{options.top} is no longer in the chain of {disk.target}")
    if base == 0:
        return JobDecision("commit", False, f"nothing above {options.base} in {disk.target}: nothing to commit")
    if top >= base:
        raise InvalidArgument(f"top: '{options.top}' is not above base '{options.base}' in {where}")
    if top == 0:
        finish = options.finish_for(True)
        return JobDecision("active_commit", True, f"commit the active image of {disk.target} into its base "
                                                  f"and {finish} it", finish)
    return JobDecision("commit", True, f"commit {options.top} of {disk.target} into its base")


def _chain_text(disk: Disk) -> str:
    return " <- ".join(str(layer.source.describe() if layer.source else "?") for layer in reversed(disk.chain))


# --- size, limits, thresholds -------------------------------------------------------------------


def decide_size(size: Size, capacity: int, disk: str, domain: str) -> Optional[int]:
    """The new capacity in bytes, None when the disk already has it; shrinking only when allowed."""
    wanted = size.wanted(capacity)
    if wanted == capacity:
        return None
    if wanted < capacity and not size.allow_shrink:
        raise InvalidArgument(f"size: shrinking disk {disk} of domain '{domain}' from {capacity} to {wanted} bytes "
                              "would lose data; set allow_shrink: true to shrink it", domain=domain)
    return wanted


def differing(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The wanted iotune values that differ from the current ones (only those are set)."""
    return {key: value for key, value in wanted.items() if current.get(key) != value}


def parse_device_list(text: Any) -> dict[str, int]:
    """libvirt's per-device blkio value ('/dev/sda,500,/dev/sdb,0') as {path: value}."""
    parts = [part for part in str(text or "").split(",") if part != ""]
    return {parts[i]: int(parts[i + 1]) for i in range(0, len(parts) - 1, 2)}


def blkio_changes(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The blkio parameters to set: weight, and per-device lists of only the devices that differ."""
    changes: dict[str, Any] = {}
    if "weight" in wanted and current.get("weight") != wanted["weight"]:
        changes["weight"] = wanted["weight"]
    for key in BLKIO_DEVICE_KEYS:
        present = parse_device_list(current.get(key))
        devices = {path: value for path, value in wanted.get(key, {}).items() if present.get(path) != value}
        if devices:
            changes[key] = ",".join(f"{path},{value}" for path, value in sorted(devices.items()))
    return changes
