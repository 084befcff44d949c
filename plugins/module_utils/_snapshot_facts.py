# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Snapshots and checkpoints as plain dicts: the read side, shared by domain_info and the runners."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._domain_calls import Checkpoint, Snapshot
from ansible_collections.virtops.libvirt.plugins.module_utils._facts import to_int


def snapshot_facts(domain: Domain, snapshot: Snapshot) -> dict[str, Any]:
    """One snapshot as a plain dict (children are filled in by list_snapshots)."""
    name = snapshot.name
    text = snapshot.xml_desc()
    root = _xml.parse(text, what=f"snapshot '{name}' of domain '{domain.name}'")
    memory = root.find("memory")
    disks = []
    for disk in root.findall("disks/disk"):
        source = disk.find("source")
        disks.append({
            "name": disk.get("name"),
            "snapshot": disk.get("snapshot"),
            "file": source.get("file") if source is not None else None,
        })
    kinds = {disk["snapshot"] for disk in disks if disk["snapshot"] != "no"}
    memory_kind = memory.get("snapshot") if memory is not None else None
    if memory_kind not in (None, "no"):
        kinds.add(memory_kind)
    location = "external" if kinds == {"external"} else "internal" if kinds <= {"internal"} else "mixed"
    return {
        "name": name,
        "description": _xml.element_text(root, "description"),
        "state": _xml.element_text(root, "state"),
        "parent": _xml.element_text(root, "parent/name"),
        "children": [],
        "current": snapshot.is_current(),
        "creation_time": to_int(_xml.element_text(root, "creationTime")),
        "location": location,
        "memory": memory_kind,
        "memory_file": memory.get("file") if memory is not None else None,
        "disks": disks,
    }


def sorted_oldest_first(snapshots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Oldest first: creation time, then depth in the tree (a parent predates its children), then name."""
    by_name = {snapshot["name"]: snapshot for snapshot in snapshots}

    def depth(snapshot: dict[str, Any]) -> int:
        count, parent, seen = 0, snapshot["parent"], set()
        while parent in by_name and parent not in seen:
            seen.add(parent)
            count += 1
            parent = by_name[parent]["parent"]
        return count

    return sorted(snapshots, key=lambda item: (item["creation_time"] or 0, depth(item), item["name"]))


def list_snapshots(domain: Domain) -> list[dict[str, Any]]:
    """All snapshots of the domain, oldest first, with their children."""
    found = domain.snapshots.list_all()
    snapshots = sorted_oldest_first([snapshot_facts(domain, snapshot) for snapshot in found])
    by_name = {snapshot["name"]: snapshot for snapshot in snapshots}
    for snapshot in snapshots:
        if snapshot["parent"] in by_name:
            by_name[snapshot["parent"]]["children"].append(snapshot["name"])
    return snapshots


def checkpoint_facts(domain: Domain, checkpoint: Checkpoint) -> dict[str, Any]:
    name = checkpoint.name
    text = checkpoint.xml_desc()
    root = _xml.parse(text, what=f"checkpoint '{name}' of domain '{domain.name}'")
    return {
        "name": name,
        "description": _xml.element_text(root, "description"),
        "parent": _xml.element_text(root, "parent/name"),
        "creation_time": to_int(_xml.element_text(root, "creationTime")),
        "disks": [{"name": disk.get("name"), "checkpoint": disk.get("checkpoint"), "bitmap": disk.get("bitmap")}
                  for disk in root.findall("disks/disk")],
    }


def list_checkpoints(domain: Domain) -> list[dict[str, Any]]:
    """All checkpoints of the domain, oldest first."""
    found = domain.checkpoints.list_all()
    checkpoints = [checkpoint_facts(domain, checkpoint) for checkpoint in found]
    return sorted(checkpoints, key=lambda item: (item["creation_time"] or 0, item["name"]))
