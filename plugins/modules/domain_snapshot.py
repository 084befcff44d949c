#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: domain_snapshot
short_description: Snapshots, checkpoints and backups of libvirt domains
version_added: 0.1.0
description:
  - Creates, deletes, reverts to and selects snapshots of a domain, internal (qcow2, with or without
    the memory state) or external (overlays, disk-only or with a memory file), with per-disk choices.
  - Keeps the newest N snapshots whose names start with a prefix (O(retain), O(prefix)).
  - Creates and deletes checkpoints (dirty-block bitmaps) for incremental backups.
  - Runs push backups (one file per disk, full or incremental from a checkpoint) and waits for them
    through libvirt events; starts and ends pull backups (an NBD export).
  - Everything is validated (disks, snapshot and checkpoint names, the guest agent for O(quiesce),
    the backup directory) before anything changes.
  - "What libvirt 9.0 cannot do is refused with a message that says so: reverting to an external
    snapshot (libvirt 9.9.0 or newer can), an internal disk-only snapshot of a running domain, deleting
    an external snapshot whose parent is internal."
author:
  - virtops maintainers (@virtops)
extends_documentation_fragment:
  - virtops.libvirt.connection
  - virtops.libvirt.attributes
options:
  name:
    description: The domain's name.
    type: str
    required: true
  snapshot:
    description:
      - The snapshot's name. Required for snapshot tasks, except a pure retention task (O(retain)).
    type: str
  checkpoint:
    description:
      - A checkpoint's name.
      - Alone (without O(snapshot) and O(backup)), O(state=present) or O(state=absent) creates or deletes it.
      - With O(backup), the checkpoint the backup creates at the same instant, the base of a later
        incremental backup.
    type: str
  state:
    description:
      - For a snapshot, V(present) creates it when it does not exist. It is idempotent by name; an existing
        snapshot is left alone, except that a different O(description) is updated without touching disks.
      - V(absent) deletes it (see O(children), O(children_only), O(metadata_only)). Deleting an external
        snapshot merges its overlay back into its backing image and removes the overlay; libvirt does
        this one snapshot at a time, so children of an external snapshot are deleted leaf first.
        The memory file of an external snapshot (the file libvirt recorded as its memory file) is
        removed too, with a local URI; with a remote URI it stays on the host, and the action says so.
        A snapshot that is already gone is unchanged.
      - As libvirt does, deleting the current snapshot makes its parent current, and the children of a
        deleted snapshot become children of its parent; check mode predicts exactly that.
      - V(reverted) reverts the domain to it. An action, always performed and always C(changed).
      - V(current) makes it the current snapshot without reverting anything.
      - For a checkpoint, V(present) or V(absent).
      - "With O(backup), V(present) runs (push) or starts (pull) the backup; V(absent) ends the running
        backup job (a pull export), and needs only O(backup.mode) (C(backup: {mode: pull})), none of the
        start options."
    type: str
    default: present
    choices: [present, absent, reverted, current]
  description:
    description: The snapshot's description.
    type: str
  location:
    description:
      - Where the snapshot of each disk goes unless O(disks) says otherwise. V(internal) inside the
        qcow2 image, V(external) in a new overlay file, which becomes the disk's active image.
    type: str
    choices: [internal, external]
    default: internal
  memory:
    description:
      - Include the memory state of a running domain. V(false) takes a disk-only snapshot, which libvirt
        supports for external snapshots only while the domain runs.
      - An external snapshot with memory needs O(memory_file).
    type: bool
    default: true
  memory_file:
    description: Where an external snapshot writes the memory state of the running domain.
    type: path
  disks:
    description:
      - Per-disk choices for a snapshot (the others follow O(location)), or the disks a checkpoint
        tracks (all by default). A target the domain does not have fails the task before any change.
    type: list
    elements: dict
    suboptions:
      target:
        description: The disk's target name, such as V(vda).
        type: str
        required: true
      snapshot:
        description: V(internal), V(external), or V(no) to leave this disk out.
        type: str
        choices: [internal, external, 'no']
      file:
        description: The overlay file of an external disk snapshot (libvirt picks a name next to the image otherwise).
        type: path
  quiesce:
    description:
      - Freeze the guest's file systems through the guest agent while the snapshot is taken, and thaw
        them afterwards (also when the snapshot fails). Fails before any change when the agent does not
        answer. The result's RV(quiesce) reports the agent's freeze status during and after.
      - Only for disk-only snapshots (O(memory=false), O(location=external)), as libvirt's own rule says.
        A snapshot with memory taken while the file systems are frozen would bring the guest back with
        frozen file systems at every revert, so that combination fails before any change.
    type: bool
    default: false
  atomic:
    description: Ask libvirt to take the snapshot of all disks atomically or not at all.
    type: bool
    default: false
  live:
    description: Take an external snapshot with memory while the guest keeps running.
    type: bool
    default: false
  revert_state:
    description:
      - The state after O(state=reverted). V(snapshot) is the state the snapshot recorded.
    type: str
    choices: [snapshot, running, paused]
    default: snapshot
  force:
    description: Revert even when libvirt considers it risky (VIR_DOMAIN_SNAPSHOT_REVERT_FORCE).
    type: bool
    default: false
  children:
    description: With O(state=absent), delete the snapshot's descendants too.
    type: bool
    default: false
  children_only:
    description: With O(state=absent), delete only the snapshot's descendants.
    type: bool
    default: false
  metadata_only:
    description: With O(state=absent), forget the snapshots in libvirt but leave their data (images, overlays).
    type: bool
    default: false
  retain:
    description:
      - Keep the newest O(retain) snapshots whose names start with O(prefix) and delete the others,
        oldest first. When O(snapshot) is given too, it is created first and counts as the newest.
    type: int
  prefix:
    description: The name prefix of the snapshots O(retain) manages. Other snapshots are never touched.
    type: str
  backup:
    description:
      - A backup of the running domain. A push backup whose files all exist already is unchanged; a
        backup that fails or takes longer than its timeout is aborted, its files and its new checkpoint
        are removed, and no job is left behind.
      - "Restoring: a full backup is a complete image. An incremental one is a qcow2 holding only the
        changed clusters, backed by the disk image; C(qemu-img rebase -u -F qcow2 -b full.qcow2 inc.qcow2)
        followed by C(qemu-img convert -O qcow2 inc.qcow2 restored.qcow2) gives the disk at the time of
        the incremental backup."
    type: dict
    suboptions:
      mode:
        description: V(push) writes files; V(pull) exports the disks over NBD and returns at once.
        type: str
        choices: [push, pull]
        default: push
      target_dir:
        description:
          - Push mode. Existing directory on the libvirt host, which receives one file per disk, named
            C(<target>.<format>) (C(vda.qcow2)). Checked for writability first when the URI is local.
        type: path
      format:
        description: The format of the backup files.
        type: str
        choices: [qcow2, raw]
        default: qcow2
      disks:
        description: The disk targets to back up; all disks by default.
        type: list
        elements: str
      incremental:
        description: Back up only what changed since this checkpoint (which must exist).
        type: str
      timeout:
        description: Seconds to wait for a push backup.
        type: float
        default: 3600
      scratch_dir:
        description: Pull mode. Directory for the scratch files (C(<target>.scratch)).
        type: path
      socket:
        description: Pull mode. The UNIX socket of the NBD server (its directory must be writable by QEMU).
        type: path
      host:
        description: Pull mode. The TCP address of the NBD server (with O(backup.port)).
        type: str
        default: localhost
      port:
        description: Pull mode. The TCP port of the NBD server.
        type: int
notes:
  - Paths (overlays, memory files, backup and scratch directories) are paths on the libvirt host.
  - "Whether the files of a push backup exist already (the backup is then unchanged) is checked on
    local and remote URIs alike, in check mode too: with a local URI by looking at the files, with a
    remote URI through libvirt's storage driver, which lists O(backup.target_dir) as a storage pool
    (the active pool whose target it is, refreshed first, else a transient directory pool created for
    the look and destroyed at once). A target directory that does not exist fails the task before
    any change."
  - Writability of the backup and scratch directories is probed for local URIs only.
  - A push backup that fails is undone (job aborted, partial files and its new checkpoint removed);
    the error says what was removed and what was not. Files on a remote host are not removed (the
    message lists them).
"""

EXAMPLES = r"""
- name: Snapshot web01 with its memory before an upgrade
  virtops.libvirt.domain_snapshot:
    name: web01
    snapshot: before-upgrade
    description: before the 2.4 upgrade

- name: Go back to it, running
  virtops.libvirt.domain_snapshot:
    name: web01
    snapshot: before-upgrade
    state: reverted
    revert_state: running

- name: Consistent external disk-only snapshot of the data disk
  virtops.libvirt.domain_snapshot:
    name: db01
    snapshot: nightly
    location: external
    memory: false
    quiesce: true
    disks:
      - target: vdb
        file: /var/lib/libvirt/images/db01-data.nightly.qcow2

- name: Merge the overlays back (deletes the external chain below 'nightly' too)
  virtops.libvirt.domain_snapshot:
    name: db01
    snapshot: nightly
    state: absent
    children: true

- name: Daily snapshot, keeping the last 7
  virtops.libvirt.domain_snapshot:
    name: web01
    snapshot: "daily-{{ now(fmt='%Y%m%d') }}"
    prefix: daily-
    retain: 7

- name: Full backup, and a checkpoint for the next incremental one
  virtops.libvirt.domain_snapshot:
    name: db01
    checkpoint: backup-1
    backup:
      target_dir: /srv/backup/db01/full

- name: Incremental backup since backup-1, starting backup-2
  virtops.libvirt.domain_snapshot:
    name: db01
    checkpoint: backup-2
    backup:
      target_dir: /srv/backup/db01/inc-2
      incremental: backup-1
"""

RETURN = r"""
snapshots:
  description: The domain's snapshots after the task, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The snapshot's name., type: str}
    description: {description: Its description., type: str}
    state: {description: "The domain state it recorded (running, shutoff, disk-snapshot...).", type: str}
    parent: {description: The parent snapshot's name (null for a root)., type: str}
    children: {description: The names of its direct children., type: list, elements: str}
    current: {description: Whether it is the current snapshot., type: bool}
    creation_time: {description: When it was taken (seconds since the epoch)., type: int}
    location: {description: "internal, external or mixed.", type: str}
    memory: {description: "How the memory state was saved (internal, external or no).", type: str}
    memory_file: {description: The memory file of an external snapshot., type: str}
    disks:
      description: Per disk, C(name), C(snapshot) (internal, external, no) and C(file) (the overlay).
      type: list
      elements: dict
snapshot:
  description: The entry of RV(snapshots) named by O(snapshot) (null when it does not exist).
  returned: when O(snapshot) is given
  type: dict
checkpoints:
  description: The domain's checkpoints after the task, oldest first, with C(name), C(parent), C(creation_time), C(disks).
  returned: always
  type: list
  elements: dict
deleted:
  description: The snapshots O(retain) deleted (or would delete).
  returned: when O(retain) is given
  type: list
  elements: str
quiesce:
  description:
    - What freezing did, C(frozen_filesystems) and C(thawed_filesystems) (counts libvirt reports).
  returned: when a snapshot was taken with O(quiesce)
  type: dict
backup:
  description: The backup.
  returned: when O(backup) is given
  type: dict
  contains:
    mode: {description: push or pull., type: str}
    disks: {description: The disks backed up., type: list, elements: str}
    files: {description: Disk target -> backup file (push)., type: dict}
    sizes: {description: "Disk target -> bytes of the backup file (push, local URI).", type: dict}
    job:
      description: libvirt's job statistics of the backup (of the completed job for push, of the running one for pull).
      type: dict
    seconds: {description: How long the push backup took., type: float}
    xml: {description: The running pull backup's description (NBD server and export names)., type: str}
    skipped: {description: Why nothing was done (the backup files exist)., type: str}
actions:
  description: The operations performed (or, in check mode, that would be), in order.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.virtops.libvirt.plugins.module_utils._backup import BackupOptions, BackupRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._module import DomainModule
from ansible_collections.virtops.libvirt.plugins.module_utils._checkpoint import CheckpointRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot import SnapshotOptions, SnapshotRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_facts import list_checkpoints, list_snapshots

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    snapshot=dict(type="str"),
    checkpoint=dict(type="str"),
    state=dict(type="str", default="present", choices=["present", "absent", "reverted", "current"]),
    description=dict(type="str"),
    location=dict(type="str", default="internal", choices=["internal", "external"]),
    memory=dict(type="bool", default=True),
    memory_file=dict(type="path"),
    disks=dict(type="list", elements="dict", options=dict(
        target=dict(type="str", required=True),
        snapshot=dict(type="str", choices=["internal", "external", "no"]),
        file=dict(type="path"),
    )),
    quiesce=dict(type="bool", default=False),
    atomic=dict(type="bool", default=False),
    live=dict(type="bool", default=False),
    revert_state=dict(type="str", default="snapshot", choices=["snapshot", "running", "paused"]),
    force=dict(type="bool", default=False),
    children=dict(type="bool", default=False),
    children_only=dict(type="bool", default=False),
    metadata_only=dict(type="bool", default=False),
    retain=dict(type="int"),
    prefix=dict(type="str"),
    backup=dict(type="dict", options=dict(
        mode=dict(type="str", default="push", choices=["push", "pull"]),
        target_dir=dict(type="path"),
        format=dict(type="str", default="qcow2", choices=["qcow2", "raw"]),
        disks=dict(type="list", elements="str"),
        incremental=dict(type="str"),
        timeout=dict(type="float", default=3600),
        scratch_dir=dict(type="path"),
        socket=dict(type="path"),
        host=dict(type="str", default="localhost"),
        port=dict(type="int"),
    )),
)


def run(module):
    params = module.params
    with module.connect() as connection:
        domain = Domain.lookup(connection, name=params["name"])
        if params["backup"] is not None:
            if params["state"] not in ("present", "absent"):
                raise InvalidArgument("a backup is present (run it) or absent (end the running one)")
            options = BackupOptions.from_params(params["backup"], params["state"])
            runner = BackupRunner(domain, module.recorder, connection.uri)
            result = runner.run(options, params["checkpoint"], params["state"])
            if "diff" in result:
                module.set_diff(**result.pop("diff"))
            result["checkpoints"] = list_checkpoints(domain)
            result["snapshots"] = list_snapshots(domain)
            return result
        if params["snapshot"] is None and params["retain"] is None and params["checkpoint"] is not None:
            disks = [disk["target"] for disk in params["disks"] or []]
            result = CheckpointRunner(domain, module.recorder).run(
                params["checkpoint"], params["state"], disks, params["description"])
            module.set_diff(**result.pop("diff"))
            result["snapshots"] = list_snapshots(domain)
            return result
        result = SnapshotRunner(domain, module.recorder).run(SnapshotOptions.from_params(params))
        module.set_diff(**result.pop("diff"))
        result["checkpoints"] = list_checkpoints(domain)
        return result


def main():
    DomainModule(ARGUMENT_SPEC, mutually_exclusive=[("snapshot", "backup"), ("children", "children_only")]).run(run)


if __name__ == "__main__":
    main()
