# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Snapshots and checkpoints of one domain, for domain_snapshot.

A task is planned as data first (`SnapshotPlanner`): every option is validated against the
actual domain (its disks, its snapshots and checkpoints, its guest agent) and turned into `Step`s,
while a `SnapshotTree` follows each step by libvirt's rules. The steps then go through a
`ChangeRecorder`, the one place where a step is either run or, in check mode, only reported, so
check mode reports the same actions and the tree a real run leaves.

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

import os
import time
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlsplit

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestAgent
from ansible_collections.virtops.libvirt.plugins.module_utils._disks import check_disks, disk_targets
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    InvalidArgument,
    LibvirtCallError,
    UnsupportedOperation,
    VirtopsError,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import daemon_version, flag, version_text
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder, Step, execute
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_facts import (
    list_checkpoints,
    list_snapshots,
    sorted_oldest_first,
)

SNAPSHOT_STATES = ("present", "absent", "reverted", "current")
DISK_SNAPSHOT_KINDS = ("internal", "external", "no")
REVERT_STATES = {"running": "VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING", "paused": "VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED"}
EXTERNAL_REVERT_VERSION = (9, 9, 0)  # qemu driver: reverting to external snapshots


def _daemon(domain: Domain) -> str:
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
        elif not self.name:
            raise InvalidArgument("snapshot (a name) is required, unless retain/prefix prune snapshots")
        if self.children and self.children_only:
            raise InvalidArgument("children and children_only are mutually exclusive")
        if self.location == "internal" and self.memory_file:
            raise InvalidArgument("memory_file needs location=external: an internal snapshot keeps memory in the disk")
        for disk in self.disks:
            if disk.snapshot is not None and disk.snapshot not in DISK_SNAPSHOT_KINDS:
                raise InvalidArgument(f"disks: snapshot of '{disk.target}' must be one of {', '.join(DISK_SNAPSHOT_KINDS)}")
            if disk.file and (disk.snapshot or self.location) != "external":
                raise InvalidArgument(f"disks: a file for '{disk.target}' needs an external snapshot of that disk")


# --- building the snapshot XML ---------------------------------------------------------------------


def snapshot_plan(domain: Domain, options: SnapshotOptions, active: bool) -> tuple[str, int]:
    """The <domainsnapshot> XML and flags for creating `options.name`; validates disks first."""
    etree = _xml.etree
    check_disks(domain, [disk.target for disk in options.disks], "disks")
    root = etree.Element("domainsnapshot")
    etree.SubElement(root, "name").text = options.name
    if options.description is not None:
        etree.SubElement(root, "description").text = options.description
    chosen = {disk.target: disk for disk in options.disks}
    kinds = set()
    disks = etree.SubElement(root, "disks")
    for target in disk_targets(domain):
        choice = chosen.get(target, DiskChoice(target))
        kind = choice.snapshot or options.location
        kinds.add(kind)
        element = etree.SubElement(disks, "disk", name=target, snapshot=kind)
        if choice.file:
            etree.SubElement(element, "source", file=choice.file)
    flags = 0
    with_memory = active and options.memory
    if with_memory:
        if options.location == "external" or "external" in kinds:
            if not options.memory_file:
                raise InvalidArgument(
                    f"snapshot '{options.name}' of running domain '{domain.name}': an external snapshot with memory "
                    "needs memory_file (or memory: false for a disk-only snapshot)", domain=domain.name)
            etree.SubElement(root, "memory", snapshot="external", file=options.memory_file)
        else:
            etree.SubElement(root, "memory", snapshot="internal")
    else:
        etree.SubElement(root, "memory", snapshot="no")
        if active:
            if "internal" in kinds:
                raise UnsupportedOperation(
                    f"snapshot '{options.name}' of running domain '{domain.name}': {_daemon(domain)} cannot "
                    "take an internal disk-only snapshot of a running domain; use memory: true or location: external",
                    domain=domain.name, operation="create snapshot")
            flags |= flag("VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY", "a disk-only snapshot")
        elif kinds == {"external"} or (options.location == "external" and "internal" not in kinds):
            flags |= flag("VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY", "an external snapshot of a shut-off domain")
    if kinds <= {"no"}:
        raise InvalidArgument(f"snapshot '{options.name}': no disk is chosen for the snapshot")
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
    return _xml.to_string(root), flags


# --- the plan: steps, and the snapshot tree they lead to ----------------------------------------


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


def is_local_uri(uri: str) -> bool:
    """A URI without a host part: the daemon runs on this machine, so its paths are ours."""
    return not urlsplit(uri).netloc


# --- the libvirt calls behind the steps ------------------------------------------------------------


class SnapshotCalls:
    """What the steps of a plan do to one domain's snapshots (nothing here decides anything)."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.quiesce: Optional[dict[str, Any]] = None

    def create(self, name: str, xml: str, flags: int, quiesce: bool) -> None:
        if not quiesce:
            self.domain.snapshots.create_xml(name, xml, flags)
            return
        # a disk-only snapshot (the planner refuses quiesce with memory): freeze, snapshot, always thaw
        self.quiesce = {}
        try:
            with GuestAgent(self.domain).frozen(self.quiesce):
                self.domain.snapshots.create_xml(name, xml, flags)
        except VirtopsError as error:
            if error.after_change:  # the thaw failed after the snapshot was taken
                error.message = f"snapshot '{name}' was created, but {error.message}"
                error.args = (error.message,)
            raise

    def redefine(self, name: str, description: Optional[str], current: bool) -> None:
        text = self.domain.snapshots.lookup(name).xml_desc(flag("VIR_DOMAIN_SNAPSHOT_XML_SECURE"))
        root = _xml.parse(text, what=f"snapshot '{name}' of domain '{self.domain.name}'")
        element = root.find("description")
        if element is None:
            element = _xml.etree.Element("description")
            root.insert(1, element)
        element.text = description
        flags = flag("VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE")
        if current:
            flags |= flag("VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT")
        self.domain.snapshots.create_xml(name, _xml.to_string(root, pretty=False), flags, operation="update snapshot")

    def delete(self, name: str, flags: int, memory_file: Optional[str] = None) -> None:
        self.domain.snapshots.lookup(name).delete(flags)
        if memory_file:
            self._remove_memory_file(name, memory_file)

    def _remove_memory_file(self, name: str, path: str) -> None:
        """libvirt leaves an external snapshot's memory file behind; it belongs to the snapshot."""
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise VirtopsError(f"domain '{self.domain.name}': snapshot '{name}' was deleted, but its memory file "
                               f"{path} could not be removed: {error.strerror}", domain=self.domain.name,
                               operation="delete snapshot", after_change=True) from None

    def revert(self, name: str, flags: int) -> None:
        self.domain.snapshots.revert(name, flags)


# --- planning --------------------------------------------------------------------------------------


def _check_deletable(domain: Domain, doomed: list[dict[str, Any]], before: list[dict[str, Any]],
                     metadata_only: bool) -> None:
    by_name = {snapshot["name"]: snapshot for snapshot in before}
    for snapshot in doomed:
        parent = by_name.get(snapshot["parent"] or "")
        if not metadata_only and snapshot["location"] != "internal" and parent is not None \
                and parent["location"] != "external":
            raise UnsupportedOperation(
                f"domain '{domain.name}': {_daemon(domain)} cannot delete external snapshot "
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
        notes, memory_file = [], None
        if metadata_only:
            notes.append("metadata only")
        elif snapshot["location"] != "internal":
            notes.append("merging its overlays back")
            if snapshot.get("memory") == "external" and snapshot.get("memory_file"):
                if local:
                    memory_file = snapshot["memory_file"]
                    notes.append(f"removing its memory file {memory_file}")
                else:
                    notes.append(f"its memory file {snapshot['memory_file']} stays on the remote libvirt host")
        how = f" ({', '.join(notes)})" if notes else ""
        steps.append(Step(f"delete snapshot '{name}'{how}",
                          lambda name=name, memory_file=memory_file: calls.delete(name, flags, memory_file),
                          lambda tree, name=name: tree.delete(name)))
    return steps


def _leaves_first(snapshots: list[dict[str, Any]], root: Optional[str] = None) -> list[dict[str, Any]]:
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
        doomed = _leaves_first(self.before, options.name) if options.children or options.children_only else []
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
                f"domain '{self.domain.name}': {_daemon(self.domain)} cannot revert to external snapshot "
                f"'{options.name}'; libvirt {version_text(EXTERNAL_REVERT_VERSION)} or newer can",
                domain=self.domain.name, operation="revert to snapshot")
        flags = 0
        if options.revert_state != "snapshot":
            flags |= flag(REVERT_STATES[options.revert_state], f"revert_state={options.revert_state}")
        if options.force:
            flags |= flag("VIR_DOMAIN_SNAPSHOT_REVERT_FORCE", "force")
        self.add([Step(f"revert to snapshot '{options.name}'", lambda: self.calls.revert(options.name, flags),
                       lambda tree: tree.make_current(options.name))])


# --- the runner ----------------------------------------------------------------------------------


class SnapshotRunner:
    """Brings one domain's snapshots to what the options ask for: plan first, then act."""

    def __init__(self, domain: Domain, recorder: ChangeRecorder) -> None:
        self.domain = domain
        self.recorder = recorder

    def run(self, options: SnapshotOptions) -> dict[str, Any]:
        before = list_snapshots(self.domain)
        calls = SnapshotCalls(self.domain)
        planner = SnapshotPlanner(self.domain, calls, before)
        execute(planner.plan(options), self.recorder)
        after = before if self.recorder.check_mode else list_snapshots(self.domain)
        actual = SnapshotTree(after)
        result: dict[str, Any] = {
            "snapshots": after,
            "diff": {"before": SnapshotTree(before).diff(),
                     "after": planner.tree.diff() if self.recorder.check_mode else actual.diff()},
        }
        if planner.deleted is not None:
            result["deleted"] = planner.deleted
        if calls.quiesce is not None:
            result["quiesce"] = calls.quiesce
        if options.name:
            result["snapshot"] = next((snapshot for snapshot in after if snapshot["name"] == options.name), None)
        return result


def remove_all_snapshots_and_checkpoints(domain: Domain, recorder: ChangeRecorder, snapshots: bool = True,
                                         checkpoints: bool = True) -> list[str]:
    """Delete every checkpoint (with its bitmaps) and every snapshot (with its data), as a real removal.

    For `state: absent` of a domain: checkpoints first, newest first; then snapshots children
    first, internal ones with their data in the images, external ones merged back and their memory
    files removed. Everything is planned (and refused, e.g. an external snapshot whose parent is
    internal, or checkpoints of a shut-off domain, whose bitmaps libvirt 9.0 cannot delete) before
    the first change; each step goes through `recorder`, so check mode reports the same actions.
    Returns the actions recorded.
    """
    steps: list[Step] = []
    if checkpoints:
        found = list_checkpoints(domain)
        if found and not domain.state().active:
            raise UnsupportedOperation(
                f"domain '{domain.name}' is shut off, and {_daemon(domain)} deletes checkpoints with their "
                f"bitmaps only while the domain runs ({', '.join(c['name'] for c in found)}); start it first, "
                "or drop only the checkpoints' metadata, which leaves their bitmaps in the disk images",
                domain=domain.name, operation="delete checkpoints")
        for checkpoint in reversed(found):  # newest first: no bitmap is merged into a doomed child
            steps.append(Step(f"delete checkpoint '{checkpoint['name']}'",
                              lambda name=checkpoint["name"]: domain.checkpoints.delete(name)))
    if snapshots:
        before = list_snapshots(domain)
        steps.extend(deletion_steps(domain, SnapshotCalls(domain), _leaves_first(before), before, False))
    return execute(steps, recorder)
