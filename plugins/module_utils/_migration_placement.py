# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a migration checks at both ends before anything moves: where the domain is, collisions, the CPU.

`Placement.read()` looks the domain up at both ends (by UUID at the destination, so a renamed
domain is found too); `decide()` says whether the migration is done already (idempotency) or
cannot start (not running for a live migration, running on both hosts); `check_collisions()` and
`check_cpu()` are the destination-side checks that check mode runs as well.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import ABSENT, Domain, DomainState
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import LibvirtCallError, VirtopsError

# virCPUCompareResult
CPU_VERDICTS = {0: "incompatible", 1: "identical", 2: "superset"}
# CPU modes the destination cannot be asked about: they are whatever the destination's host has
UNCOMPARABLE_CPU_MODES = ("host-passthrough", "maximum")
NOT_THERE = DomainState(ABSENT, "undefined")


class MigrationRefused(VirtopsError):
    """A check failed before anything moved (the result's failed_step is "check")."""

    cpu_check: Optional[str] = None  # the destination's verdict on the CPU, when that was the refusal


class End(NamedTuple):
    """The domain at one end: its handle (None when absent there), its state and whether it is defined."""

    domain: Optional[Domain]
    state: DomainState
    persistent: bool

    @classmethod
    def read(cls, domain: Optional[Domain]) -> "End":
        if domain is None:
            return cls(None, NOT_THERE, False)
        state = domain.state()
        if state.state == ABSENT:  # it vanished between lookup and read
            return cls(None, NOT_THERE, False)
        return cls(domain, state, domain.is_persistent())

    @property
    def running(self) -> bool:
        return self.state.active

    @property
    def exists(self) -> bool:
        return self.domain is not None


class Placement(NamedTuple):
    """The domain at the source and at the destination."""

    source: End
    destination: End

    @classmethod
    def read(cls, source: Connection, destination: Connection, name: str, dest_name: str) -> "Placement":
        """By name at the source, then by its UUID at the destination (by the destination name when it left)."""
        here = Domain.find(source, name=name)
        there = Domain.find(destination, uuid=here.uuid) if here is not None else Domain.find(destination, name=dest_name)
        return cls(End.read(here), End.read(there))

    @classmethod
    def read_by_uuid(cls, source: Connection, destination: Connection, uuid: str) -> "Placement":
        return cls(End.read(Domain.find(source, uuid=uuid)), End.read(Domain.find(destination, uuid=uuid)))


def decide(placement: Placement, name: str, offline: bool) -> Optional[str]:
    """Why nothing needs to move (the migration happened already), or None when it must run.

    Raises MigrationRefused when the domain cannot be migrated as asked.
    """
    source, destination = placement.source, placement.destination
    if not source.exists:
        if destination.running or (offline and destination.persistent):
            return f"it is at the destination as '{destination.domain.name}' and gone from the source"
        raise MigrationRefused(f"domain '{name}' exists neither at the source nor, "
                               f"{'defined' if offline else 'running'}, at the destination", domain=name)
    if source.running and destination.running:
        raise MigrationRefused(f"domain '{name}' runs at the source and at the destination: resolve that by hand",
                               domain=name)
    if offline:
        if source.running:
            raise MigrationRefused(f"domain '{name}' is running: mode offline moves the definition of a domain that "
                                   "is not running (use mode live)", domain=name)
        return None
    if not source.running:
        if destination.running:
            return f"it runs at the destination as '{destination.domain.name}'"
        raise MigrationRefused(f"domain '{name}' is not running (it is {source.state.state}): a live migration needs "
                               "a running domain (use mode offline to move its definition)", domain=name)
    return None


def already_done_offline(placement: Placement, undefine_source: bool) -> bool:
    """An offline migration happened already: defined at the destination, and gone from the source if asked."""
    return placement.destination.persistent and not (undefine_source and placement.source.persistent)


def check_collisions(destination: Connection, name: str, uuid: str, dest_name: str) -> None:
    """A DIFFERENT domain with the destination name, or this UUID under another name, refuses the migration."""
    same_name = Domain.find(destination, name=dest_name)
    if same_name is not None and same_name.uuid.lower() != uuid.lower():
        raise MigrationRefused(f"domain '{name}': a different domain named '{dest_name}' (UUID {same_name.uuid}) "
                               "exists at the destination", domain=name)
    same_uuid = Domain.find(destination, uuid=uuid)
    if same_uuid is not None and same_uuid.name != dest_name:
        raise MigrationRefused(f"domain '{name}': its UUID {uuid} belongs to domain '{same_uuid.name}' at the "
                               f"destination (expected the name '{dest_name}')", domain=name)


def check_cpu(destination: Connection, domain_xml: str, name: str) -> str:
    """What the destination's hypervisor says of the domain's CPU; refuses an incompatible one."""
    root = _xml.parse(domain_xml)
    cpu = root.find("cpu")
    if cpu is None or cpu.find("model") is None:
        return "skipped: the domain's CPU names no model"
    if cpu.get("mode") in UNCOMPARABLE_CPU_MODES:
        return f"skipped: CPU mode {cpu.get('mode')} is the destination host's own CPU"
    try:
        verdict = destination.compare_hypervisor_cpu(_xml.to_string(cpu, pretty=False), *_hypervisor_of(root))
    except LibvirtCallError as error:
        if "incompatible" in str(error.libvirt_message or "").lower():
            verdict = 0
        else:
            return f"skipped: the destination cannot compare CPUs ({error.libvirt_message or error.message})"
    if verdict == 0:
        refusal = MigrationRefused(f"domain '{name}': the destination's hypervisor cannot provide the domain's CPU "
                                   f"({_cpu_summary(cpu)})", domain=name)
        refusal.cpu_check = CPU_VERDICTS[0]
        raise refusal
    return CPU_VERDICTS.get(verdict, f"unknown ({verdict})")


def _hypervisor_of(root: Any) -> tuple[Optional[str], Optional[str], Optional[str], Optional[str]]:
    os_type = root.find("os/type")
    return (_xml.element_text(root, "devices/emulator"),
            os_type.get("arch") if os_type is not None else None,
            os_type.get("machine") if os_type is not None else None,
            root.get("type"))


def _cpu_summary(cpu: Any) -> str:
    required = [feature.get("name") for feature in cpu.findall("feature") if feature.get("policy") in ("require", "force")]
    model = cpu.findtext("model") or "?"
    return f"model {model}" + (f", requiring {', '.join(required)}" if required else "")
