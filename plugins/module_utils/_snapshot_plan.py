# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning snapshots: the options, the snapshot XML, and the steps a task takes (nothing here changes a domain).

`SnapshotPlanner` validates every option against the actual domain (its disks, its snapshots, its
guest agent) and turns it into `Step`s, while a `SnapshotTree` follows each step by libvirt's
rules, so check mode reports the same actions, and the same tree, as a real run. The steps' side
effects are `SnapshotCalls` methods (_snapshot_calls); the runner is in _snapshot.

What libvirt 9.0 can and cannot do, as verified on QEMU 7.2:

- internal snapshots (qcow2), with the memory state of a running domain or of a shut-off one;
  no internal disk-only snapshot of a running domain;
- external snapshots (overlays), disk-only or with a memory file;
- deleting an external snapshot merges its overlay back (block commit, with a pivot for the
  active layer) and removes the overlay file, one snapshot at a time: libvirt refuses the
  "children" flag for external snapshots, so children are deleted leaf first, each merged;
  it refuses to delete an external snapshot whose parent is internal;
- reverting to an external snapshot needs libvirt 9.9.0 or newer;
- deleting an external snapshot leaves its memory file behind (removed here for local URIs);
- quiescing is for disk-only snapshots (VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE requires DISK_ONLY).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestAgent
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import is_local_uri
from ansible_collections.virtops.libvirt.plugins.module_utils._disks import Disks
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    InvalidArgument,
    LibvirtCallError,
    UnsupportedOperation,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import daemon_version, flag, version_text
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import Step
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_calls import SnapshotCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_facts import sorted_oldest_first

SNAPSHOT_STATES = ("present", "absent", "reverted", "current")
DISK_SNAPSHOT_KINDS = ("internal", "external", "no")
REVERT_STATES = {"running": "VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING", "paused": "VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED"}
LOCATIONS = tuple(kind for kind in DISK_SNAPSHOT_KINDS if kind != "no")  # where a snapshot keeps its disks
REVERT_STATE_CHOICES = ("snapshot",) + tuple(REVERT_STATES)  # "snapshot": the state the snapshot recorded
EXTERNAL_REVERT_VERSION = (9, 9, 0)  # qemu driver: reverting to external snapshots


def daemon_text(domain: Domain) -> str:
    """'libvirt 9.0.0': the daemon's version, which decides what it can do (not the client library's)."""
    return f"libvirt {version_text(daemon_version(domain.connection))}"


# --- options -------------------------------------------------------------------------------------


@dataclass
class DiskChoice:
    target: str
    snapshot: Optional[str] = None
    file: Optional[str] = None


@dataclass
class SnapshotOptions:
    name: Optional[str] = None
    state: str = "present"
    description: Optional[str] = None
    location: str = "internal"
    memory: bool = True
    memory_file: Optional[str] = None
    disks: list[DiskChoice] = field(default_factory=list)
    quiesce: bool = False
    atomic: bool = False
    live: bool = False
    revert_state: str = "snapshot"
    force: bool = False
    children: bool = False
    children_only: bool = False
    metadata_only: bool = False
    retain: Optional[int] = None
    prefix: Optional[str] = None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "SnapshotOptions":
        disks = [DiskChoice(target=disk["target"], snapshot=disk.get("snapshot"), file=disk.get("file"))
                 for disk in params.get("disks") or []]
        options = cls(
            name=params.get("snapshot"),
            state=params.get("state") or "present",
            description=params.get("description"),
            location=params.get("location") or "internal",
            memory=params.get("memory", True) if params.get("memory") is not None else True,
            memory_file=params.get("memory_file"),
            disks=disks,
            quiesce=bool(params.get("quiesce")),
            atomic=bool(params.get("atomic")),
            live=bool(params.get("live")),
            revert_state=params.get("revert_state") or "snapshot",
            force=bool(params.get("force")),
            children=bool(params.get("children")),
            children_only=bool(params.get("children_only")),
            metadata_only=bool(params.get("metadata_only")),
            retain=params.get("retain"),
            prefix=params.get("prefix"),
        )
        options.validate()
        return options

    def validate(self) -> None:
        if self.state not in SNAPSHOT_STATES:
            raise InvalidArgument(f"state: unknown value '{self.state}' for a snapshot")
        if self.retain is not None:
            self._validate_retention()
        elif not self.name:
            raise InvalidArgument("snapshot (a name) is required, unless retain/prefix prune snapshots")
        if self.children and self.children_only:
            raise InvalidArgument("children and children_only are mutually exclusive")
        if self.description is not None:
            _xml.bounded_text(self.description, "description")
        if self.location == "internal" and self.memory_file:
            raise InvalidArgument("memory_file needs location=external: an internal snapshot keeps memory in the disk")
        for disk in self.disks:
            if disk.snapshot is not None and disk.snapshot not in DISK_SNAPSHOT_KINDS:
                raise InvalidArgument(f"disks: snapshot of '{disk.target}' must be one of {', '.join(DISK_SNAPSHOT_KINDS)}")
            if disk.file and (disk.snapshot or self.location) != "external":
                raise InvalidArgument(f"disks: a file for '{disk.target}' needs an external snapshot of that disk")

    def _validate_retention(self) -> None:
        if self.retain < 0:
            raise InvalidArgument(f"retain must not be negative (got {self.retain})")
        if not self.prefix:
            raise InvalidArgument("retain needs a prefix: only snapshots whose names start with it are pruned")
        if self.state not in ("present",):
            raise InvalidArgument("retain works with state=present (create, then prune)")
        if self.name and self.retain == 0:
            raise InvalidArgument(f"retain: 0 would delete the new snapshot '{self.name}' at once")
        if self.name and not self.name.startswith(self.prefix):
            raise InvalidArgument(f"snapshot '{self.name}' does not start with prefix '{self.prefix}'")


# --- building the snapshot XML ---------------------------------------------------------------------


def snapshot_plan(domain: Domain, options: SnapshotOptions, active: bool) -> tuple[str, int]:
    """The <domainsnapshot> XML and flags for creating `options.name`; validates disks first."""
    disks = Disks.read(domain)
    disks.check([disk.target for disk in options.disks], "disks")
    root = _xml.etree.Element("domainsnapshot")
    _xml.etree.SubElement(root, "name").text = options.name
    if options.description is not None:
        _xml.etree.SubElement(root, "description").text = options.description
    kinds = _add_disks(root, disks.targets(), options)
    with_memory = active and options.memory
    flags = _add_memory(root, domain, options, kinds, active, with_memory)
    if kinds <= {"no"}:
        raise InvalidArgument(f"snapshot '{options.name}': no disk is chosen for the snapshot")
    return _xml.to_string(root), flags | _option_flags(domain, options, kinds, with_memory)


def _add_disks(root: Any, targets: list[str], options: SnapshotOptions) -> set[str]:
    """A <disk> per snapshottable disk, as chosen (default: `location`); the kinds used."""
    chosen = {disk.target: disk for disk in options.disks}
    kinds = set()
    disks = _xml.etree.SubElement(root, "disks")
    for target in targets:
        choice = chosen.get(target, DiskChoice(target))
        kind = choice.snapshot or options.location
        kinds.add(kind)
        element = _xml.etree.SubElement(disks, "disk", name=target, snapshot=kind)
        if choice.file:
            _xml.etree.SubElement(element, "source", file=choice.file)
    return kinds


def _add_memory(root: Any, domain: Domain, options: SnapshotOptions, kinds: set[str], active: bool,
                with_memory: bool) -> int:
    """The <memory> element; the DISK_ONLY flag when no memory is taken and libvirt needs it said."""
    if with_memory:
        if options.location == "external" or "external" in kinds:
            if not options.memory_file:
                raise InvalidArgument(
                    f"snapshot '{options.name}' of running domain '{domain.name}': an external snapshot with memory "
                    "needs memory_file (or memory: false for a disk-only snapshot)", domain=domain.name)
            _xml.etree.SubElement(root, "memory", snapshot="external", file=options.memory_file)
        else:
            _xml.etree.SubElement(root, "memory", snapshot="internal")
        return 0
    _xml.etree.SubElement(root, "memory", snapshot="no")
    if active:
        if "internal" in kinds:
            raise UnsupportedOperation(
                f"snapshot '{options.name}' of running domain '{domain.name}': {daemon_text(domain)} cannot "
                "take an internal disk-only snapshot of a running domain; use memory: true or location: external",
                domain=domain.name, operation="create snapshot")
        return flag("VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY", "a disk-only snapshot")
    if kinds == {"external"} or (options.location == "external" and "internal" not in kinds):
        return flag("VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY", "an external snapshot of a shut-off domain")
    return 0


def _option_flags(domain: Domain, options: SnapshotOptions, kinds: set[str], with_memory: bool) -> int:
    flags = 0
    if options.atomic:
        flags |= flag("VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC", "atomic")
    if options.live:
        if not (with_memory and "external" in kinds):
            raise InvalidArgument("live needs an external snapshot with memory of a running domain")
        flags |= flag("VIR_DOMAIN_SNAPSHOT_CREATE_LIVE", "live")
    if options.quiesce and with_memory:
        # libvirt's own rule (VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE requires DISK_ONLY): memory taken while
        # the file systems are frozen brings the guest back frozen at every revert
        raise InvalidArgument(
            f"snapshot '{options.name}' of domain '{domain.name}': quiesce needs a disk-only snapshot "
            "(memory: false, location: external); a snapshot with memory would bring the guest back with "
            "frozen file systems when reverted to", domain=domain.name)
    return flags


# --- the snapshot tree the steps lead to -----------------------------------------------------------


class SnapshotTree:
    """Names, parents and the current snapshot, as libvirt will have them after each planned step.

    It follows libvirt's rules, so check mode reports what a real run leaves: a new snapshot is a
    child of the current one and becomes current; deleting a snapshot moves its children to its
    parent and, if it was current, makes the parent current; deleting only the descendants of a
    snapshot makes it current when the current one was among them.
    """

    def __init__(self, snapshots: list[dict[str, Any]]) -> None:
        self.entries = {item["name"]: {"name": item["name"], "parent": item["parent"],
                                       "creation_time": item["creation_time"]} for item in snapshots}
        self.current: Optional[str] = next((item["name"] for item in snapshots if item.get("current")), None)

    def names(self) -> list[str]:
        """Oldest first, in the order list_snapshots reports them."""
        return [entry["name"] for entry in sorted_oldest_first(list(self.entries.values()))]

    def descendants(self, name: str) -> list[str]:
        found, frontier = [], [name]
        while frontier:
            parent = frontier.pop()
            children = [entry["name"] for entry in self.entries.values() if entry["parent"] == parent]
            found.extend(children)
            frontier.extend(children)
        return found

    def create(self, name: str) -> None:
        self.entries[name] = {"name": name, "parent": self.current, "creation_time": int(time.time())}
        self.current = name

    def delete(self, name: str) -> None:
        parent = self.entries.pop(name)["parent"]
        for entry in self.entries.values():
            if entry["parent"] == name:
                entry["parent"] = parent
        if self.current == name:
            self.current = parent

    def delete_descendants(self, name: str) -> None:
        doomed = self.descendants(name)
        if self.current in doomed:
            self.current = name
        for child in doomed:
            del self.entries[child]

    def make_current(self, name: str) -> None:
        self.current = name

    def diff(self) -> dict[str, Any]:
        return {"snapshots": self.names(), "current": self.current}


# --- deleting snapshots with their data ----------------------------------------------------------


def _check_deletable(domain: Domain, doomed: list[dict[str, Any]], before: list[dict[str, Any]],
                     metadata_only: bool) -> None:
    by_name = {snapshot["name"]: snapshot for snapshot in before}
    for snapshot in doomed:
        parent = by_name.get(snapshot["parent"] or "")
        if not metadata_only and snapshot["location"] != "internal" and parent is not None \
                and parent["location"] != "external":
            raise UnsupportedOperation(
                f"domain '{domain.name}': {daemon_text(domain)} cannot delete external snapshot "
                f"'{snapshot['name']}' whose parent '{parent['name']}' is internal (use metadata_only to drop "
                "only its metadata)", domain=domain.name, operation="delete snapshot")


def deletion_steps(domain: Domain, calls: SnapshotCalls, doomed: list[dict[str, Any]],
                   before: list[dict[str, Any]], metadata_only: bool) -> list[Step]:
    """One step per snapshot in `doomed` (leaves first), each with its data unless metadata_only.

    An external snapshot's overlays are merged back by libvirt; its memory file, which libvirt
    leaves behind, is removed (local URIs; on a remote host it stays, and the action says so).
    """
    _check_deletable(domain, doomed, before, metadata_only)
    flags = flag("VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY") if metadata_only else 0
    local = is_local_uri(domain.connection.uri)
    steps = []
    for snapshot in doomed:
        name = snapshot["name"]
        notes, memory_file = _deletion_notes(snapshot, metadata_only, local)
        how = f" ({', '.join(notes)})" if notes else ""
        steps.append(Step(f"delete snapshot '{name}'{how}",
                          lambda name=name, memory_file=memory_file: calls.delete(name, flags, memory_file),
                          lambda tree, name=name: tree.delete(name)))
    return steps


def _deletion_notes(snapshot: dict[str, Any], metadata_only: bool, local: bool) -> tuple[list[str], Optional[str]]:
    """What deleting `snapshot` does besides dropping it, for its action; the memory file to remove."""
    if metadata_only:
        return ["metadata only"], None
    if snapshot["location"] == "internal":
        return [], None
    notes, memory_file = ["merging its overlays back"], None
    if snapshot.get("memory") == "external" and snapshot.get("memory_file"):
        if local:
            memory_file = snapshot["memory_file"]
            notes.append(f"removing its memory file {memory_file}")
        else:
            notes.append(f"its memory file {snapshot['memory_file']} stays on the remote libvirt host")
    return notes, memory_file


def leaves_first(snapshots: list[dict[str, Any]], root: Optional[str] = None) -> list[dict[str, Any]]:
    """The descendants of `root` (None: every snapshot), deepest first: children before their parents."""
    by_name = {snapshot["name"]: snapshot for snapshot in snapshots}

    def ancestors(snapshot: dict[str, Any]) -> list[str]:
        found, parent = [], snapshot["parent"]
        while parent in by_name and parent not in found:
            found.append(parent)
            parent = by_name[parent]["parent"]
        return found

    chosen = [(len(ancestors(s)), s) for s in snapshots if root is None or root in ancestors(s)]
    return [snapshot for _depth, snapshot in sorted(chosen, key=lambda item: -item[0])]


# --- the planner -----------------------------------------------------------------------------------


class SnapshotPlanner:
    """Turns the options and the domain's snapshots into steps, validating everything first.

    Nothing here changes the domain; the tree follows each planned step, so it is the prediction
    check mode reports and what the real run is checked against.
    """

    def __init__(self, domain: Domain, calls: SnapshotCalls, before: list[dict[str, Any]]) -> None:
        self.domain = domain
        self.calls = calls
        self.before = before
        self.tree = SnapshotTree(before)
        self.steps: list[Step] = []
        self.deleted: Optional[list[str]] = None

    def add(self, steps: list[Step]) -> None:
        for step in steps:
            self.steps.append(step)
            step.effect(self.tree)

    def find(self, name: Optional[str]) -> Optional[dict[str, Any]]:
        return next((snapshot for snapshot in self.before if snapshot["name"] == name), None)

    def require(self, name: str) -> dict[str, Any]:
        found = self.find(name)
        if found is None:
            known = ", ".join(snapshot["name"] for snapshot in self.before) or "none"
            raise InvalidArgument(f"domain '{self.domain.name}' has no snapshot '{name}' (its snapshots: {known})",
                                  domain=self.domain.name)
        return found

    def plan(self, options: SnapshotOptions) -> list[Step]:
        if options.state == "present":
            self.present(options)
            if options.retain is not None:
                self.retain(options)
        elif options.state == "absent":
            self.absent(options)
        elif options.state == "current":
            self.current(options)
        else:
            self.revert(options)
        return self.steps

    # present
    def present(self, options: SnapshotOptions) -> None:
        if not options.name:
            return
        existing = self.find(options.name)
        if existing is not None:
            if options.description is not None and existing["description"] != (options.description or None):
                self.add([Step(f"update description of snapshot '{options.name}'",
                               lambda: self.calls.redefine(options.name, options.description, existing["current"]))])
            return
        xml, flags = snapshot_plan(self.domain, options, self.domain.state().active)
        if options.quiesce:
            self._check_agent()
        self.add([Step(f"create snapshot '{options.name}'",
                       lambda: self.calls.create(options.name, xml, flags, options.quiesce),
                       lambda tree: tree.create(options.name))])

    def _check_agent(self) -> None:
        if not self.domain.state().active:
            raise InvalidArgument(f"quiesce needs domain '{self.domain.name}' to be running (it has no agent when off)",
                                  domain=self.domain.name)
        try:
            GuestAgent(self.domain).hostname()
        except LibvirtCallError as error:
            raise UnsupportedOperation(
                f"quiesce needs the guest agent of domain '{self.domain.name}', which does not answer: "
                f"{error.libvirt_message or error.message}", domain=self.domain.name, operation="quiesce") from None

    # absent
    def absent(self, options: SnapshotOptions) -> None:
        target = self.find(options.name)
        if target is None:
            return
        doomed = leaves_first(self.before, options.name) if options.children or options.children_only else []
        if not options.children_only:
            doomed.append(target)
        if not doomed:
            return
        if (options.children or options.children_only) and all(s["location"] == "internal" for s in doomed):
            self.add([self._subtree_step(options)])
        else:
            self.add(deletion_steps(self.domain, self.calls, doomed, self.before, options.metadata_only))

    def _subtree_step(self, options: SnapshotOptions) -> Step:
        """Internal snapshots only: libvirt deletes the whole subtree in one call."""
        name, only = options.name, options.children_only
        flags = flag("VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY" if only else "VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN")
        if options.metadata_only:
            flags |= flag("VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY")
        what = "children of snapshot" if only else "snapshot and children of"

        def effect(tree: SnapshotTree) -> None:
            tree.delete_descendants(name)
            if not only:
                tree.delete(name)

        return Step(f"delete {what} '{name}'{' (metadata only)' if options.metadata_only else ''}",
                    lambda: self.calls.delete(name, flags), effect)

    # retention
    def retain(self, options: SnapshotOptions) -> None:
        matching = [snapshot for snapshot in self.before if snapshot["name"].startswith(options.prefix or "")]
        created = 1 if options.name and self.find(options.name) is None else 0
        excess = max(0, len(matching) + created - (options.retain or 0))
        doomed = matching[:excess]  # `before` is oldest first; a new snapshot is the newest
        self.deleted = [snapshot["name"] for snapshot in doomed]
        if doomed:
            self.add(deletion_steps(self.domain, self.calls, doomed, self.before, False))

    # current
    def current(self, options: SnapshotOptions) -> None:
        target = self.require(options.name)
        if not target["current"]:
            self.add([Step(f"make snapshot '{options.name}' current",
                           lambda: self.calls.redefine(options.name, target["description"], True),
                           lambda tree: tree.make_current(options.name))])

    # reverted
    def revert(self, options: SnapshotOptions) -> None:
        target = self.require(options.name)
        if target["location"] != "internal" and daemon_version(self.domain.connection) < EXTERNAL_REVERT_VERSION:
            raise UnsupportedOperation(
                f"domain '{self.domain.name}': {daemon_text(self.domain)} cannot revert to external snapshot "
                f"'{options.name}'; libvirt {version_text(EXTERNAL_REVERT_VERSION)} or newer can",
                domain=self.domain.name, operation="revert to snapshot")
        flags = 0
        if options.revert_state != "snapshot":
            flags |= flag(REVERT_STATES[options.revert_state], f"revert_state={options.revert_state}")
        if options.force:
            flags |= flag("VIR_DOMAIN_SNAPSHOT_REVERT_FORCE", "force")
        self.add([Step(f"revert to snapshot '{options.name}'", lambda: self.calls.revert(options.name, flags),
                       lambda tree: tree.make_current(options.name))])
