#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: domain_backup
short_description: Checkpoints and push/pull backups of running libvirt domains
version_added: 0.1.0
description:
  - Creates and deletes checkpoints (dirty-block bitmaps in the disk images, the base of incremental
    backups), and keeps the newest N checkpoints whose names start with a prefix (O(retain), O(prefix)).
    Deleting a checkpoint merges its bitmap into the next one (libvirt does that), so the newer
    checkpoints stay usable as the base of an incremental backup.
  - Runs push backups (one file per disk, full or incremental from a checkpoint, optionally creating a
    checkpoint at the same instant) and waits for them through libvirt's job events; starts and ends
    pull backups (an NBD export of the disks).
  - Everything is validated (disks, checkpoint names, the backup directory, options that do not apply
    to what the task does) before anything changes.
  - Snapshots are the job of M(virtops.libvirt.domain_snapshot).
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
  state:
    description:
      - V(present) makes what the task names exist, V(absent) makes it go away. Each task names one of
        the following.
      - A checkpoint (O(checkpoint) alone). V(present) creates it unless it exists (idempotent by name),
        V(absent) deletes it (with its bitmaps) if it exists.
      - "A backup (O(backup)). V(present) runs a push backup (unchanged when all its files exist already)
        or starts a pull backup (unchanged while one runs); O(checkpoint) is then the checkpoint the backup
        creates at the same instant. V(absent) ends the domain's running backup job (a pull export); it
        needs no start option, C(backup: {mode: pull}) or C(backup: {}) is enough."
      - Retention (O(retain), with V(present) only), alone or after the checkpoint or backup of the same task.
    type: str
    default: present
    choices: [present, absent]
  checkpoint:
    description:
      - A checkpoint's name. Alone, the checkpoint to create or delete; with O(backup), the checkpoint
        the backup creates, the base of the next incremental backup.
      - With O(retain) it must start with O(prefix); it counts as the newest checkpoint.
    type: str
  description:
    description: The description of the checkpoint the task creates (O(checkpoint), O(state=present)).
    type: str
  disks:
    description:
      - The disk targets a checkpoint created alone tracks (all disks by default). The checkpoint of a
        backup tracks the backup's disks (O(backup.disks)), so this option is refused with O(backup).
    type: list
    elements: str
  retain:
    description:
      - Keep the newest O(retain) checkpoints whose names start with O(prefix) and delete the others,
        oldest first, after the task's backup or checkpoint succeeded. Other checkpoints are never touched.
    type: int
  prefix:
    description: The name prefix of the checkpoints O(retain) manages. Required with O(retain), refused without it.
    type: str
  backup:
    description:
      - A backup of the running domain. A push backup that fails or takes longer than its timeout is
        aborted, its files and its new checkpoint are removed, and no job is left behind.
      - "Restoring: a full backup is a complete image. An incremental one is a qcow2 holding only the
        changed clusters; C(qemu-img rebase -u -F qcow2 -b full.qcow2 inc.qcow2) followed by
        C(qemu-img convert -O qcow2 inc.qcow2 restored.qcow2) gives the disk at the time of the
        incremental backup (rebase each incremental file onto the previous one for a longer chain)."
      - Options that do not apply to the chosen O(backup.mode) (or to O(state=absent)) are refused, naming the option.
    type: dict
    suboptions:
      mode:
        description: V(push) writes files and waits; V(pull) exports the disks over NBD and returns at once. V(push) when not set.
        type: str
        choices: [push, pull]
      target_dir:
        description:
          - Push mode, required. Existing directory on the libvirt host, which receives one file per disk,
            named C(<target>.<format>) (C(vda.qcow2)). Checked for writability first when the URI is local.
        type: path
      format:
        description: Push mode. The format of the backup files; V(qcow2) when not set.
        type: str
        choices: [qcow2, raw]
      disks:
        description: The disk targets to back up; all disks by default.
        type: list
        elements: str
      incremental:
        description: Back up only what changed since this checkpoint (which must exist).
        type: str
      timeout:
        description: Push mode. Seconds to wait for the backup before it is aborted and undone; 3600 when not set.
        type: float
      scratch_dir:
        description: Pull mode, required. Directory for the scratch files (C(<target>.scratch)).
        type: path
      socket:
        description: Pull mode. The UNIX socket of the NBD server (its directory must be writable by QEMU).
        type: path
      host:
        description: Pull mode, with O(backup.port). The TCP address of the NBD server; V(localhost) when not set.
        type: str
      port:
        description: Pull mode. The TCP port of the NBD server (instead of O(backup.socket)).
        type: int
notes:
  - Paths (backup, scratch and socket paths) are paths on the libvirt host.
  - "Whether the files of a push backup exist already (the backup is then unchanged) is checked on
    local and remote URIs alike, in check mode too: with a local URI by looking at the files, with a
    remote URI through libvirt's storage driver, which lists O(backup.target_dir) as a storage pool
    (the active pool whose target it is, refreshed first, else a transient directory pool created for
    the look and destroyed at once)."
  - Writability of the backup and scratch directories is probed for local URIs only. Files of a failed
    backup on a remote host are not removed (the error lists them).
  - libvirt 9.0 backs up running domains only, and deletes checkpoints (with their bitmaps) only while
    the domain runs.
seealso:
  - module: virtops.libvirt.domain_snapshot
"""

EXAMPLES = r"""
- name: Nightly incremental backup of db01, one checkpoint per night, the last 7 kept
  virtops.libvirt.domain_backup:
    name: db01
    checkpoint: "nightly-{{ now(fmt='%Y%m%d') }}"
    prefix: nightly-
    retain: 7
    backup:
      target_dir: "/srv/backup/db01/{{ now(fmt='%Y%m%d') }}"
      incremental: "{{ last_checkpoint | default(omit) }}"
      timeout: 7200

- name: First full backup, and the checkpoint the next incremental one starts from
  virtops.libvirt.domain_backup:
    name: db01
    checkpoint: full-1
    backup:
      target_dir: /srv/backup/db01/full-1

- name: Incremental backup of the data disk only, since full-1, as raw files
  virtops.libvirt.domain_backup:
    name: db01
    checkpoint: inc-2
    backup:
      target_dir: /srv/backup/db01/inc-2
      incremental: full-1
      disks: [vdb]
      format: raw

- name: Export the disks over NBD for an external backup tool
  virtops.libvirt.domain_backup:
    name: web01
    backup:
      mode: pull
      scratch_dir: /var/lib/libvirt/images/scratch
      socket: /run/virtops/web01-nbd.sock
  register: export

- name: End the export when the tool is done
  virtops.libvirt.domain_backup:
    name: web01
    state: absent
    backup:
      mode: pull

- name: A checkpoint alone (tracking vda only)
  virtops.libvirt.domain_backup:
    name: web01
    checkpoint: before-migration
    description: bitmap start before the storage migration
    disks: [vda]

- name: Delete it
  virtops.libvirt.domain_backup:
    name: web01
    checkpoint: before-migration
    state: absent

- name: Prune old nightly checkpoints without a backup
  virtops.libvirt.domain_backup:
    name: db01
    prefix: nightly-
    retain: 3
"""

RETURN = r"""
checkpoints:
  description: The domain's checkpoints after the task, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The checkpoint's name., type: str}
    parent: {description: The previous checkpoint's name (null for the first)., type: str}
    creation_time: {description: When it was created (seconds since the epoch)., type: int}
    disks: {description: "Per disk, C(name) and C(checkpoint) (bitmap or no).", type: list, elements: dict}
checkpoint:
  description: The entry of RV(checkpoints) named by O(checkpoint) (null when it does not exist).
  returned: when O(checkpoint) is given
  type: dict
deleted:
  description: The checkpoints O(retain) deleted (or, in check mode, would delete), oldest first.
  returned: when O(retain) is given
  type: list
  elements: str
backup:
  description: The backup.
  returned: when O(backup) is given
  type: dict
  contains:
    mode: {description: push or pull., type: str}
    disks: {description: The disks backed up., type: list, elements: str}
    incremental: {description: The checkpoint an incremental backup started from (null for a full backup)., type: str}
    checkpoint: {description: The checkpoint the backup created., type: str}
    files: {description: Disk target -> backup file (push)., type: dict}
    sizes: {description: "Disk target -> bytes of the backup file (push, local URI).", type: dict}
    seconds: {description: How long the push backup took., type: float}
    xml: {description: The running pull backup's description (NBD server and export names)., type: str}
    skipped: {description: Why nothing was done (the backup files exist)., type: str}
    running: {description: "With O(state=absent): whether a backup job still runs (true only in check mode).", type: bool}
    job:
      description:
        - The backup job's statistics, one shape for every long job of the collection (of the completed
          job for push, of the running one for pull). A failed or timed-out backup returns it too, in the
          failed task's result (C(job)).
        - libvirt's own keys are kept (C(operation), C(time_elapsed), C(disk_total), C(disk_processed),
          C(disk_remaining), C(errmsg)...), and these are added.
      type: dict
      contains:
        type: {description: "The job type by name: unbounded (running), completed, failed, cancelled.", type: str}
        success: {description: Whether the job succeeded (null while it runs)., type: bool}
        error: {description: Why it failed (null on success)., type: str}
        seconds: {description: How long the job took as measured by the module (null while it runs)., type: float}
        data_total: {description: Bytes to copy (libvirt's data_total or disk_total)., type: int}
        data_processed: {description: Bytes copied., type: int}
        data_remaining: {description: Bytes left to copy., type: int}
actions:
  description: The operations performed (or, in check mode, that would be), in order.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.virtops.libvirt.plugins.module_utils._backup import FORMATS, MODES, BackupOptions, BackupRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._checkpoint import CHECKPOINT_STATES, CheckpointRunner, retention_victims
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._module import DomainModule
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import execute
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_facts import list_checkpoints

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=list(CHECKPOINT_STATES)),
    checkpoint=dict(type="str"),
    description=dict(type="str"),
    disks=dict(type="list", elements="str"),
    retain=dict(type="int"),
    prefix=dict(type="str"),
    # no defaults below: an option the task did not set can be told from one it set (and refused)
    backup=dict(type="dict", options=dict(
        mode=dict(type="str", choices=list(MODES)),
        target_dir=dict(type="path"),
        format=dict(type="str", choices=list(FORMATS)),
        disks=dict(type="list", elements="str"),
        incremental=dict(type="str"),
        timeout=dict(type="float"),
        scratch_dir=dict(type="path"),
        socket=dict(type="path"),
        host=dict(type="str"),
        port=dict(type="int"),
    )),
)


def _given(params, *names):
    return [name for name in names if params.get(name) is not None]


def check_options(params):
    """Refuse options that do not apply to what the task does, naming them, before connecting."""
    if params["prefix"] is not None and params["retain"] is None:
        raise InvalidArgument("prefix applies only with retain (the checkpoints retention manages)")
    if params["state"] == "absent":
        _check_absent(params)
        return
    if params["checkpoint"] is None and params["backup"] is None and params["retain"] is None:
        raise InvalidArgument("nothing to do: give checkpoint, backup or retain")
    if params["backup"] is not None and params["disks"] is not None:
        raise InvalidArgument("disks applies to a checkpoint created alone; the checkpoint of a backup tracks "
                              "the backup's disks (backup.disks)")
    if params["checkpoint"] is None:
        for name in _given(params, "description", "disks"):
            raise InvalidArgument(f"{name} applies to a checkpoint the task creates, and the task names no checkpoint")


def _check_absent(params):
    for name in _given(params, "retain", "prefix", "description", "disks"):
        raise InvalidArgument(f"{name} does not apply to state=absent")
    backup, checkpoint = params["backup"], params["checkpoint"]
    if backup is not None and checkpoint is not None:
        raise InvalidArgument("state=absent removes one thing: the checkpoint (checkpoint) or the running backup "
                              "job (backup), not both")
    if backup is None and checkpoint is None:
        raise InvalidArgument("state=absent needs checkpoint (to delete it) or backup (to end the running backup job)")
    for name in _given(backup or {}, *sorted(set(backup or {}) - {"mode"})):
        raise InvalidArgument(f"backup.{name} does not apply to state=absent: ending the running backup job "
                              "needs no start option")


def make_present(module, connection, domain):
    """The task's backup or checkpoint, then retention: planned whole, then executed step by step."""
    params = module.params
    checkpoints = CheckpointRunner(domain, module.recorder)
    before = checkpoints.names()
    result, diff_before, diff_after = {}, {"checkpoints": before}, {"checkpoints": list(before)}
    steps = []
    if params["backup"] is not None:
        plan = BackupRunner(domain, module.recorder, connection.uri).plan(
            BackupOptions.from_params(params["backup"]), params["checkpoint"], params["description"])
        steps.extend(plan.steps)
        result["backup"] = plan.result
        diff = plan.diff()
        diff_before, diff_after = diff["before"], diff["after"]
    elif params["checkpoint"] is not None:
        created = checkpoints.create_steps(params["checkpoint"], params["disks"], params["description"], before)
        steps.extend(created)
        diff_after["checkpoints"] = before + [params["checkpoint"]] if created else list(before)
    if params["retain"] is not None:
        victims = retention_victims(diff_after["checkpoints"], params["prefix"], params["retain"], params["checkpoint"])
        steps.extend(checkpoints.delete_steps(victims))
        diff_after["checkpoints"] = [name for name in diff_after["checkpoints"] if name not in victims]
        result["deleted"] = victims
    execute(steps, module.recorder)
    module.set_diff(before=diff_before, after=diff_after)
    return result


def make_absent(module, connection, domain):
    params = module.params
    if params["backup"] is not None:
        result = BackupRunner(domain, module.recorder, connection.uri).stop()
        ended = module.recorder.changed
        module.set_diff(before={"backup_job": "running" if ended else None}, after={"backup_job": None})
        return result
    result = CheckpointRunner(domain, module.recorder).run(params["checkpoint"], "absent")
    module.set_diff(**result.pop("diff"))
    return result


def run(module):
    params = module.params
    check_options(params)
    with module.connect() as connection:
        domain = Domain.lookup(connection, name=params["name"])
        result = (make_absent if params["state"] == "absent" else make_present)(module, connection, domain)
        result["checkpoints"] = list_checkpoints(domain)
        if params["checkpoint"] is not None:
            result["checkpoint"] = next((item for item in result["checkpoints"] if item["name"] == params["checkpoint"]),
                                        None)
        return result


def main():
    DomainModule(ARGUMENT_SPEC, required_together=[("retain", "prefix")]).run(run)


if __name__ == "__main__":
    main()
