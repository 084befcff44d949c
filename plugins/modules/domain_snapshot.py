#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: domain_snapshot
short_description: Snapshots of libvirt domains
version_added: 0.1.0
description:
  - Creates, deletes, reverts to and selects snapshots of a domain, internal (qcow2, with or without
    the memory state) or external (overlays, disk-only or with a memory file), with per-disk choices.
  - Keeps the newest N snapshots whose names start with a prefix (O(retain), O(prefix)).
  - Checkpoints and backups are the job of M(virtops.libvirt.domain_backup).
  - Everything is validated (disks, snapshot names, the guest agent for O(quiesce)) before anything
    changes. Options that do not apply to the task's O(state) are refused, naming the option (for
    example O(location) with nothing to create, O(memory_file) with O(state=absent)).
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
      - "Which options apply: V(present) takes O(description), O(location), O(memory), O(memory_file),
        O(disks), O(quiesce), O(atomic), O(live), O(retain), O(prefix); V(absent) takes O(children),
        O(children_only), O(metadata_only); V(reverted) takes O(revert_state), O(force); V(current) none.
        Any other option given is refused."
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
      - V(internal) when not set.
    type: str
    choices: [internal, external]
  memory:
    description:
      - Include the memory state of a running domain. V(false) takes a disk-only snapshot, which libvirt
        supports for external snapshots only while the domain runs.
      - An external snapshot with memory needs O(memory_file). V(true) when not set.
    type: bool
  memory_file:
    description: Where an external snapshot writes the memory state of the running domain.
    type: path
  disks:
    description:
      - Per-disk choices for a snapshot (the others follow O(location)). A target the domain does not
        have fails the task before any change.
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
  atomic:
    description: Ask libvirt to take the snapshot of all disks atomically or not at all.
    type: bool
  live:
    description: Take an external snapshot with memory while the guest keeps running.
    type: bool
  revert_state:
    description:
      - The state after O(state=reverted). V(snapshot) (the state the snapshot recorded) when not set.
    type: str
    choices: [snapshot, running, paused]
  force:
    description: Revert even when libvirt considers it risky (VIR_DOMAIN_SNAPSHOT_REVERT_FORCE).
    type: bool
  children:
    description: With O(state=absent), delete the snapshot's descendants too.
    type: bool
  children_only:
    description: With O(state=absent), delete only the snapshot's descendants.
    type: bool
  metadata_only:
    description: With O(state=absent), forget the snapshots in libvirt but leave their data (images, overlays).
    type: bool
  retain:
    description:
      - Keep the newest O(retain) snapshots whose names start with O(prefix) and delete the others,
        oldest first. When O(snapshot) is given too, it is created first and counts as the newest.
    type: int
  prefix:
    description: The name prefix of the snapshots O(retain) manages. Other snapshots are never touched.
    type: str
seealso:
  - module: virtops.libvirt.domain_backup
notes:
  - Paths (overlays, memory files) are paths on the libvirt host.
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
actions:
  description: The operations performed (or, in check mode, that would be), in order.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._module import DomainModule
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot import SnapshotOptions, SnapshotRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_plan import DISK_SNAPSHOT_KINDS, LOCATIONS, REVERT_STATE_CHOICES, SNAPSHOT_STATES

# no defaults for the options below: an option the task did not set can be told from one it set
# (and refused when it does not apply); SnapshotOptions fills in the documented defaults
ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    snapshot=dict(type="str"),
    state=dict(type="str", default="present", choices=list(SNAPSHOT_STATES)),
    description=dict(type="str"),
    location=dict(type="str", choices=list(LOCATIONS)),
    memory=dict(type="bool"),
    memory_file=dict(type="path"),
    disks=dict(type="list", elements="dict", options=dict(
        target=dict(type="str", required=True),
        snapshot=dict(type="str", choices=list(DISK_SNAPSHOT_KINDS)),
        file=dict(type="path"),
    )),
    quiesce=dict(type="bool"),
    atomic=dict(type="bool"),
    live=dict(type="bool"),
    revert_state=dict(type="str", choices=list(REVERT_STATE_CHOICES)),
    force=dict(type="bool"),
    children=dict(type="bool"),
    children_only=dict(type="bool"),
    metadata_only=dict(type="bool"),
    retain=dict(type="int"),
    prefix=dict(type="str"),
)

CREATING = ("description", "location", "memory", "memory_file", "disks", "quiesce", "atomic", "live")
# the options each state takes beyond name, snapshot and state
APPLIES = {
    "present": CREATING + ("retain", "prefix"),
    "absent": ("children", "children_only", "metadata_only"),
    "reverted": ("revert_state", "force"),
    "current": (),
}


def check_options(params):
    """Refuse an option that does not apply to what the task does, naming it, before connecting."""
    state = params["state"]
    given = [name for name in ARGUMENT_SPEC if name not in ("name", "snapshot", "state") and params[name] is not None]
    for name in given:
        if name not in APPLIES[state]:
            raise InvalidArgument(f"{name} does not apply to state={state} (it takes "
                                  f"{', '.join(APPLIES[state]) or 'only name and snapshot'})")
        if name in CREATING and params["snapshot"] is None:
            raise InvalidArgument(f"{name} applies to a snapshot the task creates (snapshot), and the task names none")


def run(module):
    params = module.params
    check_options(params)
    with module.connect() as connection:
        domain = Domain.lookup(connection, name=params["name"])
        result = SnapshotRunner(domain, module.recorder).run(SnapshotOptions.from_params(params))
        module.set_diff(**result.pop("diff"))
        return result


def main():
    DomainModule(ARGUMENT_SPEC, mutually_exclusive=[("children", "children_only")]).run(run)


if __name__ == "__main__":
    main()
