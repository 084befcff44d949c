# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The typed calls of one domain beyond its handle: detail reads, snapshots and checkpoints.

Each libvirt method is called from exactly one method here, named after it in snake case; a
Domain holds one instance of each service (domain.details, domain.snapshots, domain.checkpoints).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain


class DomainCalls:
    """A group of typed calls on one domain (its virDomain's methods)."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.virdomain = domain.virdomain


class NamedHandle:
    """A libvirt object that belongs to a domain and has a name (a snapshot, a checkpoint)."""

    def __init__(self, domain: Domain, handle: Any) -> None:
        self.domain = domain
        self.handle = handle
        self.name: str = handle.getName()


class DetailReads(DomainCalls):
    """What domain_info reads beyond state and definition (each a read: retried when transient)."""

    def is_updated(self) -> bool:
        return bool(self.domain.read("read updated flag", self.virdomain.isUpdated))

    def disk_errors(self) -> dict[str, int]:
        return self.domain.read("read disk errors", self.virdomain.diskErrors, 0)

    def block_info(self, target: str) -> tuple[int, int, int]:
        return self.domain.read(f"read block info of {target}", self.virdomain.blockInfo, target, 0)

    def control_info(self) -> tuple[int, int, int]:
        return self.domain.read("read control info", self.virdomain.controlInfo, 0)

    def vcpus(self) -> tuple[list[Any], list[Any]]:
        return self.domain.read("read vCPU info", self.virdomain.vcpus)

    def emulator_pin_info(self, flags: int) -> tuple[bool, ...]:
        return self.domain.read("read emulator pinning", self.virdomain.emulatorPinInfo, flags)

    def security_label_list(self) -> list[Any]:
        return self.domain.read("read security labels", self.virdomain.securityLabelList)

    def messages(self) -> list[str]:
        return list(self.domain.read("read messages", self.virdomain.messages, 0))

    def interface_addresses(self, source: int, source_name: str) -> dict[str, Any]:
        return self.domain.read(f"read addresses ({source_name})", self.virdomain.interfaceAddresses, source, 0)

    # tuning (domain_tune will hold the writing side)
    def vcpu_pin_info(self, flags: int) -> list[tuple[bool, ...]]:
        return self.domain.read("read vCPU pinning", self.virdomain.vcpuPinInfo, flags)

    def io_thread_info(self, flags: int) -> list[tuple[int, list[bool]]]:
        return self.domain.read("read IOThreads", self.virdomain.ioThreadInfo, flags)

    def memory_parameters(self, flags: int) -> dict[str, Any]:
        return self.domain.read("read memory tuning", self.virdomain.memoryParameters, flags)

    def blkio_parameters(self, flags: int) -> dict[str, Any]:
        return self.domain.read("read blkio tuning", self.virdomain.blkioParameters, flags)

    def numa_parameters(self, flags: int) -> dict[str, Any]:
        return self.domain.read("read NUMA tuning", self.virdomain.numaParameters, flags)

    def scheduler_parameters_flags(self, flags: int) -> dict[str, Any]:
        return self.domain.read("read scheduler parameters", self.virdomain.schedulerParametersFlags, flags)

    def perf_events(self, flags: int) -> dict[str, Any]:
        return self.domain.read("read perf events", self.virdomain.perfEvents, flags)

    def block_io_tune(self, target: str, flags: int) -> dict[str, Any]:
        return self.domain.read(f"read I/O tuning of {target}", self.virdomain.blockIoTune, target, flags)


class SnapshotCalls(DomainCalls):
    """virDomainSnapshot* calls of one domain; snapshots are handled by name."""

    def list_all(self) -> list["Snapshot"]:
        found = self.domain.read("list snapshots", self.virdomain.listAllSnapshots, 0)
        return [Snapshot(self.domain, snapshot) for snapshot in found]

    def count(self) -> int:
        return self.domain.read("count snapshots", self.virdomain.snapshotNum, 0)

    def lookup(self, name: str) -> "Snapshot":
        found = self.domain.read(f"look up snapshot '{name}'", self.virdomain.snapshotLookupByName, name, 0)
        return Snapshot(self.domain, found)

    def create_xml(self, name: str, xml: str, flags: int, operation: str = "create snapshot") -> None:
        self.domain.invoke(f"{operation} '{name}'", self.virdomain.snapshotCreateXML, xml, flags)

    def revert(self, name: str, flags: int) -> None:
        snapshot = self.lookup(name)
        self.domain.invoke(f"revert to snapshot '{name}'", self.virdomain.revertToSnapshot, snapshot.handle, flags)


class Snapshot(NamedHandle):
    """One virDomainSnapshot."""

    def xml_desc(self, flags: int = 0) -> str:
        return self.domain.read(f"read snapshot '{self.name}'", self.handle.getXMLDesc, flags)

    def is_current(self) -> bool:
        return bool(self.domain.read(f"read snapshot '{self.name}'", self.handle.isCurrent, 0))

    def delete(self, flags: int) -> None:
        self.domain.invoke(f"delete snapshot '{self.name}'", self.handle.delete, flags)


class CheckpointCalls(DomainCalls):
    """virDomainCheckpoint* calls of one domain."""

    def list_all(self) -> list["Checkpoint"]:
        found = self.domain.read("list checkpoints", self.virdomain.listAllCheckpoints, 0)
        return [Checkpoint(self.domain, checkpoint) for checkpoint in found]

    def lookup(self, name: str) -> "Checkpoint":
        found = self.domain.read(f"look up checkpoint '{name}'", self.virdomain.checkpointLookupByName, name, 0)
        return Checkpoint(self.domain, found)

    def create_xml(self, name: str, xml: str) -> None:
        self.domain.invoke(f"create checkpoint '{name}'", self.virdomain.checkpointCreateXML, xml, 0)

    def delete(self, name: str) -> None:
        """Delete a checkpoint and its bitmaps in the disk images."""
        self.lookup(name).delete()


class Checkpoint(NamedHandle):
    """One virDomainCheckpoint."""

    def xml_desc(self) -> str:
        return self.domain.read(f"read checkpoint '{self.name}'", self.handle.getXMLDesc, 0)

    def delete(self) -> None:
        self.domain.invoke(f"delete checkpoint '{self.name}'", self.handle.delete, 0)
