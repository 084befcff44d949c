# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names for the integers that libvirt's domain event callbacks pass: lifecycle events and their details,
watchdog and I/O error actions, graphics phases, agent states, tray and disk changes, memory failures ...

Each table is built from libvirt's own constants, looked up by name, so a constant this
libvirt-python does not have is simply missing from its table (and named `unknown_<code>`).
The domain state names come from _domain, the job type names from _block_decide and _jobs.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ansible_collections.virtops.libvirt.plugins.module_utils._events import libvirt

NameTable = Mapping[int, str]


def names_of(prefix: str, names: Iterable[str]) -> NameTable:
    """{libvirt.<prefix><NAME>: name} for each name this libvirt-python knows."""
    found: dict[int, str] = {}
    for name in names:
        code = getattr(libvirt, prefix + name.upper(), None) if libvirt is not None else None
        if isinstance(code, int):
            found[code] = name
    return found


def name(table: NameTable, code: Any) -> str:
    """The name of `code` in `table`; a code libvirt added later than this table is `unknown_<code>`."""
    return table.get(code, f"unknown_{code}") if isinstance(code, int) else str(code)


def flag_names(table: NameTable, flags: int) -> list[str]:
    """The names of the bits set in `flags`, lowest first."""
    return [table[bit] if bit in table else f"unknown_{bit}" for bit in (1 << shift for shift in range(flags.bit_length()))
            if flags & bit]


# virDomainEventType and, per event, its virDomainEvent*DetailType.
LIFECYCLE_EVENTS = names_of("VIR_DOMAIN_EVENT_", (
    "defined", "undefined", "started", "suspended", "resumed", "stopped", "shutdown", "pmsuspended", "crashed"))
LIFECYCLE_DETAILS: dict[str, NameTable] = {
    "defined": names_of("VIR_DOMAIN_EVENT_DEFINED_", ("added", "updated", "renamed", "from_snapshot")),
    "undefined": names_of("VIR_DOMAIN_EVENT_UNDEFINED_", ("removed", "renamed")),
    "started": names_of("VIR_DOMAIN_EVENT_STARTED_", ("booted", "migrated", "restored", "from_snapshot", "wakeup")),
    "suspended": names_of("VIR_DOMAIN_EVENT_SUSPENDED_", (
        "paused", "migrated", "ioerror", "watchdog", "restored", "from_snapshot", "api_error", "postcopy",
        "postcopy_failed")),
    "resumed": names_of("VIR_DOMAIN_EVENT_RESUMED_", (
        "unpaused", "migrated", "from_snapshot", "postcopy", "postcopy_failed")),
    "stopped": names_of("VIR_DOMAIN_EVENT_STOPPED_", (
        "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from_snapshot")),
    "shutdown": names_of("VIR_DOMAIN_EVENT_SHUTDOWN_", ("finished", "guest", "host")),
    "pmsuspended": names_of("VIR_DOMAIN_EVENT_PMSUSPENDED_", ("memory", "disk")),
    "crashed": names_of("VIR_DOMAIN_EVENT_CRASHED_", ("panicked", "crashloaded")),
}
# The domain state (_domain.STATE_NAMES) a lifecycle event leaves the domain in, where the event
# says so: (un)defining changes only whether a definition persists, not whether the domain runs.
LIFECYCLE_STATES = {"started": "running", "resumed": "running", "suspended": "paused", "stopped": "shutoff",
                    "shutdown": "shutdown", "pmsuspended": "pmsuspended", "crashed": "crashed"}

WATCHDOG_ACTIONS = names_of("VIR_DOMAIN_EVENT_WATCHDOG_", (
    "none", "pause", "reset", "poweroff", "shutdown", "debug", "injectnmi"))
IO_ERROR_ACTIONS = names_of("VIR_DOMAIN_EVENT_IO_ERROR_", ("none", "pause", "report"))
GRAPHICS_PHASES = names_of("VIR_DOMAIN_EVENT_GRAPHICS_", ("connect", "initialize", "disconnect"))
GRAPHICS_ADDRESS_FAMILIES = names_of("VIR_DOMAIN_EVENT_GRAPHICS_ADDRESS_", ("ipv4", "ipv6", "unix"))
AGENT_STATES = names_of("VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_", ("connected", "disconnected"))
AGENT_REASONS = names_of("VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_", ("unknown", "domain_started", "channel"))
BLOCK_JOB_STATUSES = names_of("VIR_DOMAIN_BLOCK_JOB_", ("completed", "failed", "canceled", "ready"))
DISK_CHANGE_REASONS = names_of("VIR_DOMAIN_EVENT_DISK_", ("change_missing_on_start", "drop_missing_on_start"))
TRAY_CHANGES = names_of("VIR_DOMAIN_EVENT_TRAY_CHANGE_", ("open", "close"))
# PM wakeup and suspend events carry a reason libvirt has not given any value but 0 so far.
PM_REASONS: NameTable = {0: "unknown"}
MEMORY_FAILURE_RECIPIENTS = names_of("VIR_DOMAIN_EVENT_MEMORY_FAILURE_RECIPIENT_", ("hypervisor", "guest"))
MEMORY_FAILURE_ACTIONS = names_of("VIR_DOMAIN_EVENT_MEMORY_FAILURE_ACTION_", ("ignore", "inject", "fatal", "reset"))
MEMORY_FAILURE_FLAGS = names_of("VIR_DOMAIN_MEMORY_FAILURE_", ("action_required", "recursive"))
METADATA_TYPES = names_of("VIR_DOMAIN_METADATA_", ("description", "title", "element"))
JOB_OPERATIONS = names_of("VIR_DOMAIN_JOB_OPERATION_", (
    "unknown", "start", "save", "restore", "migration_in", "migration_out", "snapshot", "snapshot_revert", "dump",
    "backup", "snapshot_delete"))
CONNECTION_CLOSE_REASONS = names_of("VIR_CONNECT_CLOSE_REASON_", ("error", "eof", "keepalive", "client"))
