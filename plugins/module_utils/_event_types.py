# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The domain event types an event stream can subscribe to, by the names users write.

Each `EventType` pairs an `_events.EventKind` (libvirt's event id and how its callback arguments
become a typed event) with a function that turns that typed event into plain details: names for
libvirt's codes (_event_names), never raw integers. The kinds _events already has for waits are
reused; the ones only an event stream needs are defined here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _event_names as names
from ansible_collections.virtops.libvirt.plugins.module_utils._block_decide import job_type_name as block_job_type_name
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._events import (
    AGENT_LIFECYCLE,
    BALLOON_CHANGE,
    BLOCK_JOB,
    DEVICE_REMOVAL_FAILED,
    DEVICE_REMOVED,
    JOB_COMPLETED,
    LIFECYCLE,
    MIGRATION_ITERATION,
    REBOOT,
    THRESHOLD,
    EventKind,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._jobs import job_type_name


class WatchdogEvent(NamedTuple):
    action: int


class IOErrorEvent(NamedTuple):
    path: str
    alias: str
    action: int
    reason: str  # "enospc", "eio", ...: libvirt passes this one as a string


class GraphicsEvent(NamedTuple):
    phase: int
    local: dict[str, Any]  # {"family": int, "node": address, "service": port}
    remote: dict[str, Any]
    auth_scheme: str
    subject: list[tuple[str, str]]  # (type, name) pairs: x509dname, saslUsername ...


class DiskChangeEvent(NamedTuple):
    old_path: Optional[str]
    new_path: Optional[str]
    alias: str
    reason: int


class TrayChangeEvent(NamedTuple):
    alias: str
    reason: int


class PowerManagementEvent(NamedTuple):
    reason: int


class DeviceAddedEvent(NamedTuple):
    alias: str


class MemoryFailureEvent(NamedTuple):
    recipient: int
    action: int
    flags: int


class MetadataChangeEvent(NamedTuple):
    kind: int
    namespace: Optional[str]


WATCHDOG = EventKind("watchdog", "VIR_DOMAIN_EVENT_ID_WATCHDOG", WatchdogEvent)
IO_ERROR = EventKind("I/O error", "VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON", IOErrorEvent)
GRAPHICS = EventKind("graphics", "VIR_DOMAIN_EVENT_ID_GRAPHICS", GraphicsEvent)
DISK_CHANGE = EventKind("disk change", "VIR_DOMAIN_EVENT_ID_DISK_CHANGE", DiskChangeEvent)
TRAY_CHANGE = EventKind("tray change", "VIR_DOMAIN_EVENT_ID_TRAY_CHANGE", TrayChangeEvent)
PM_WAKEUP = EventKind("PM wakeup", "VIR_DOMAIN_EVENT_ID_PMWAKEUP", PowerManagementEvent)
PM_SUSPEND = EventKind("PM suspend", "VIR_DOMAIN_EVENT_ID_PMSUSPEND", PowerManagementEvent)
PM_SUSPEND_DISK = EventKind("PM suspend to disk", "VIR_DOMAIN_EVENT_ID_PMSUSPEND_DISK", PowerManagementEvent)
DEVICE_ADDED = EventKind("device added", "VIR_DOMAIN_EVENT_ID_DEVICE_ADDED", DeviceAddedEvent)
MEMORY_FAILURE = EventKind("memory failure", "VIR_DOMAIN_EVENT_ID_MEMORY_FAILURE", MemoryFailureEvent)
METADATA_CHANGE = EventKind("metadata change", "VIR_DOMAIN_EVENT_ID_METADATA_CHANGE", MetadataChangeEvent)


@dataclass(frozen=True)
class EventType:
    """One subscribable event type: its name in events and arguments, its kind, and its details as names."""

    name: str
    kind: EventKind
    details: Callable[[Any], dict[str, Any]]


def _known(label: Any) -> str:
    """A name from a positional table of another module, whose unknown codes come back as numbers."""
    return f"unknown_{label}" if isinstance(label, int) or str(label).isdigit() else str(label)


def _lifecycle(event: Any) -> dict[str, Any]:
    kind = names.name(names.LIFECYCLE_EVENTS, event.event)
    return {"event": kind, "detail": names.name(names.LIFECYCLE_DETAILS.get(kind, {}), event.detail),
            "state": names.LIFECYCLE_STATES.get(kind)}


def _address(address: Optional[dict[str, Any]]) -> dict[str, Any]:
    address = dict(address or {})
    if "family" in address:
        address["family"] = names.name(names.GRAPHICS_ADDRESS_FAMILIES, address["family"])
    return address


def _graphics(event: GraphicsEvent) -> dict[str, Any]:
    return {"phase": names.name(names.GRAPHICS_PHASES, event.phase), "local": _address(event.local),
            "remote": _address(event.remote), "auth_scheme": event.auth_scheme,
            "subject": [{"type": kind, "name": value} for kind, value in event.subject or ()]}


def _job_completed(event: Any) -> dict[str, Any]:
    stats = dict(event.stats)
    if "operation" in stats:
        stats["operation"] = names.name(names.JOB_OPERATIONS, stats["operation"])
    if "type" in stats:
        stats["type"] = _known(job_type_name(stats["type"]))
    return stats


def _memory_failure(event: MemoryFailureEvent) -> dict[str, Any]:
    return {"recipient": names.name(names.MEMORY_FAILURE_RECIPIENTS, event.recipient),
            "action": names.name(names.MEMORY_FAILURE_ACTIONS, event.action),
            "flags": names.flag_names(names.MEMORY_FAILURE_FLAGS, event.flags)}


def _power_management(event: PowerManagementEvent) -> dict[str, Any]:
    return {"reason": names.name(names.PM_REASONS, event.reason)}


_TYPES = (
    EventType("lifecycle", LIFECYCLE, _lifecycle),
    EventType("reboot", REBOOT, lambda _event: {}),
    EventType("watchdog", WATCHDOG, lambda event: {"action": names.name(names.WATCHDOG_ACTIONS, event.action)}),
    EventType("io_error", IO_ERROR, lambda event: {
        "path": event.path, "device": event.alias, "action": names.name(names.IO_ERROR_ACTIONS, event.action),
        "reason": event.reason}),
    EventType("graphics", GRAPHICS, _graphics),
    EventType("agent_lifecycle", AGENT_LIFECYCLE, lambda event: {
        "state": "connected" if event.connected else "disconnected",
        "reason": names.name(names.AGENT_REASONS, event.reason)}),
    EventType("block_job", BLOCK_JOB, lambda event: {
        "disk": event.disk, "job_type": _known(block_job_type_name(event.job_type)),
        "status": names.name(names.BLOCK_JOB_STATUSES, event.status)}),
    EventType("disk_change", DISK_CHANGE, lambda event: {
        "old_path": event.old_path, "new_path": event.new_path, "device": event.alias,
        "reason": names.name(names.DISK_CHANGE_REASONS, event.reason)}),
    EventType("tray_change", TRAY_CHANGE, lambda event: {
        "device": event.alias, "tray": names.name(names.TRAY_CHANGES, event.reason)}),
    EventType("pm_wakeup", PM_WAKEUP, _power_management),
    EventType("pm_suspend", PM_SUSPEND, _power_management),
    EventType("pm_suspend_disk", PM_SUSPEND_DISK, _power_management),
    EventType("balloon_change", BALLOON_CHANGE, lambda event: {"actual_kib": event.actual}),
    EventType("device_added", DEVICE_ADDED, lambda event: {"device": event.alias}),
    EventType("device_removed", DEVICE_REMOVED, lambda event: {"device": event.alias}),
    EventType("device_removal_failed", DEVICE_REMOVAL_FAILED, lambda event: {"device": event.alias}),
    EventType("job_completed", JOB_COMPLETED, _job_completed),
    EventType("memory_failure", MEMORY_FAILURE, _memory_failure),
    EventType("block_threshold", THRESHOLD, lambda event: {
        "disk": event.disk, "path": event.path, "threshold": event.threshold, "excess": event.excess}),
    EventType("migration_iteration", MIGRATION_ITERATION, lambda event: {"iteration": event.iteration}),
    EventType("metadata_change", METADATA_CHANGE, lambda event: {
        "type": names.name(names.METADATA_TYPES, event.kind), "namespace": event.namespace}),
)
EVENT_TYPES: dict[str, EventType] = {event_type.name: event_type for event_type in _TYPES}


def select_event_types(wanted: Optional[Iterable[str]]) -> tuple[EventType, ...]:
    """The event types named in `wanted` (all of them when None or empty), in the table's order."""
    chosen = set(wanted or EVENT_TYPES)
    unknown = sorted(chosen - set(EVENT_TYPES))
    if unknown:
        raise InvalidArgument(f"unknown event type(s) {', '.join(unknown)}: expected some of {', '.join(EVENT_TYPES)}")
    return tuple(event_type for event_type in _TYPES if event_type.name in chosen)
