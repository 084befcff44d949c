#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: domain_block
short_description: Block jobs (pull, rebase, copy, commit), online resize, I/O limits and write thresholds of a libvirt domain's disk
version_added: 0.1.0
description:
  - Works on one disk of one domain, named by its target (V(vda)) or by its top image's source path.
  - "Runs one block job on the disk: O(job=pull) merges the backing images into the disk's top image,
    O(job=rebase) pulls only the images above O(base) (or copies the disk to O(destination)),
    O(job=copy) mirrors the disk to a new image and then pivots the guest to it, O(job=commit) merges
    images into their backing image (the active image too: an active commit), O(job=abort) ends a job
    left running (with O(pivot), onto its copy)."
  - A copy or an active commit has two phases. Once both images are in sync (libvirt's ready event)
    the job ends as O(finish) says. A pull, a rebase or a commit of an inactive image ends by itself.
  - Waiting is woken by libvirt's block-job events, with polling only as a fallback. A job that does not
    finish (or reach its ready phase) within O(timeout) seconds is aborted, and the guest stays on its
    original image. The failed task returns the job's statistics in RV(job).
  - Grows a disk (O(size)), compares the disk's I/O limits (O(iotune)) and the
    domain's blkio tuning (O(blkio)) with the current values and sets only what differs, and sets a write
    threshold (O(threshold)) whose event (C(VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD)) an event-driven
    workflow can wait for.
  - "Idempotent: a copy whose O(destination) already is the disk's source, a pull or rebase when the disk
    already has no backing image or already is backed by O(base), a commit with nothing above O(base),
    a size, limit or threshold already in place all report C(changed=false). A job already running on the
    disk is reported in RV(job) (with a warning) and not started again, except a copy to the same
    O(destination) that an earlier run of the task left running (its connection was lost): unless
    O(finish=mirror), the task finishes that copy as O(finish) says."
  - Everything is read and decided before the first change, so a refused task (an unknown disk, a
    negative size, a shrink without O(allow_shrink), an I/O limit libvirt does not know) changes nothing.
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
  disk:
    description: The disk, by its target (V(vda), V(sdb)) or by the source path of its top image.
    type: str
    required: true
  job:
    description:
      - The block job to run on O(disk). Block jobs need a running domain.
      - V(pull) merges the backing chain (or, with O(base), the images above O(base)) into the top image.
      - V(rebase) pulls the images above O(base), so that O(base) becomes the top image's backing image;
        with O(destination) it copies the disk (the images above O(base), or the whole chain) there instead.
      - V(copy) mirrors the disk to O(destination) (or O(destination_xml)); it ends as O(finish) says.
      - V(commit) merges O(top) (default the active image) and the images below it down to O(base) (default
        the bottom of the chain) into O(base). A commit of the active image ends as O(finish) says.
      - V(abort) ends the job running on the disk; with O(pivot), a copy or active commit in its ready
        phase pivots to the new image first.
    type: str
    choices: [pull, rebase, copy, commit, abort]
  base:
    description:
      - For V(pull), V(rebase) and V(commit), an image of the disk's backing chain, by its path or by its
        libvirt index (V(vda[2])).
    type: str
  top:
    description: For V(commit), the image to commit (by path or index); default the active image.
    type: str
  destination:
    description: For V(copy) and V(rebase), the file the disk is copied to (an absolute path on the host).
    type: path
  destination_format:
    description: The format of O(destination).
    type: str
    default: qcow2
    choices: [qcow2, raw]
  destination_xml:
    description:
      - For V(copy), the destination as a libvirt C(<disk>) element, for a block device or a network
        destination (instead of O(destination)).
    type: str
  finish:
    description:
      - How a copy or an active commit ends once it is ready.
      - V(pivot) (the default) switches the guest to the new image, V(abort) ends the job keeping the
        original image (a copy then is a point-in-time copy of the disk), V(mirror) leaves the job running
        in its ready phase (every write goes to both images) for a cut-over later with O(job=abort) and
        O(pivot=true).
    type: str
    choices: [pivot, abort, mirror]
  pivot:
    description: With O(job=abort), pivot a ready copy or active commit to its new image instead of dropping it.
    type: bool
    default: false
  shallow:
    description: Copy or commit only the top image (keep the backing chain below it shared).
    type: bool
    default: false
  reuse_external:
    description:
      - The O(destination) exists already (with the right size and backing image) and is used as it is.
        Without it, a copy to an existing, non-empty file fails.
    type: bool
    default: false
  relative:
    description: Keep backing-file names relative when a rebase or commit rewrites them.
    type: bool
    default: false
    aliases: [keep_relative]
  delete:
    description: After a successful commit, delete the images it merged.
    type: bool
    default: false
  synchronous_writes:
    description: For V(copy), a guest write completes only when it reached both images (the copy converges on busy disks).
    type: bool
    default: false
  transient_job:
    description: For V(copy), the job does not survive a restart of the domain (allows copies of disks of persistent domains on older QEMU).
    type: bool
    default: false
  granularity:
    description: For V(copy), the granularity of the dirty bitmap (a power of two between 512 bytes and 64 MiB, units allowed).
    type: str
  buf_size:
    description: For V(copy), the size of the copy's buffer (units allowed).
    type: str
  bandwidth:
    description:
      - The job's maximum speed in bytes per second, with a unit (V(100MiB), V(1G)) or a number of bytes.
    type: str
  wait:
    description:
      - Wait for the job to end (and finish as O(finish) says). With V(false) the task returns right after the
        job started, with the running job in RV(job), for C(async)/C(poll) or a later O(job=abort).
    type: bool
    default: true
  timeout:
    description: Seconds a job may take (until its end, or its ready phase); then it is aborted.
    type: float
    default: 3600
  size:
    description:
      - The disk's new capacity with a unit (V(10G), V(512MiB), V(5GB)) or in bytes, or growth such as V(+2G).
      - While the domain runs QEMU resizes the disk and the guest sees the new size at once. A shut-off
        domain's disk image (without backing images) grows through its libvirt storage volume, so an
        active storage pool must hold it.
      - Growing is idempotent. Shrinking is refused unless O(allow_shrink=true).
    type: str
  allow_shrink:
    description: Allow O(size) to be smaller than the current capacity (the data beyond it is lost).
    type: bool
    default: false
  iotune:
    description:
      - The disk's I/O limits, any of libvirt's BLOCK_IOTUNE keys (C(total_bytes_sec), C(read_iops_sec),
        C(write_bytes_sec_max), C(total_iops_sec_max_length), C(size_iops_sec), C(group_name)...). Byte
        rates accept units (V(10MiB)). Only the keys that differ from the current values are set.
    type: dict
  blkio:
    description:
      - The domain's blkio tuning. C(weight), and per-device settings as dictionaries of device path to value
        (C(device_weight), C(device_read_iops_sec), C(device_write_iops_sec), C(device_read_bytes_sec),
        C(device_write_bytes_sec)). Only what differs is set.
    type: dict
  threshold:
    description:
      - A write threshold on the disk, in bytes (units allowed) or as a percentage of its capacity (V(80%)).
        libvirt sends one threshold event when the image's allocation crosses it, then clears it.
    type: str
  peek:
    description:
      - Read bytes of the disk as the guest sees it (libvirt's C(blockPeek)), after the task's changes, into
        RV(peek). C(offset) (default 0) and C(size) (default 512, at most 1 MiB), units allowed.
      - Reads only; it changes nothing. libvirt peeks only into raw images.
    type: dict
  live:
    description: O(iotune) and O(blkio) apply to the running domain (to a shut-off domain's configuration).
    type: bool
    default: true
  config:
    description: O(iotune) and O(blkio) apply to the persistent definition (the next boot).
    type: bool
    default: false
notes:
  - Block jobs and write thresholds need a running domain.
  - A copy of a disk of a persistent domain needs a QEMU and libvirt that support it, or O(transient_job).
"""

EXAMPLES = r"""
- name: Move the data disk of db01 to the new storage, the guest keeps running
  virtops.libvirt.domain_block:
    name: db01
    disk: vdb
    job: copy
    destination: /srv/fast/db01-data.qcow2
    bandwidth: 200MiB
    timeout: 1800

- name: Start a mirror now, cut over later in the maintenance window
  virtops.libvirt.domain_block:
    name: db01
    disk: vdb
    job: copy
    destination: /srv/fast/db01-data.qcow2
    finish: mirror

- name: Cut over to the mirror
  virtops.libvirt.domain_block:
    name: db01
    disk: vdb
    job: abort
    pivot: true

- name: Merge the external snapshot overlay back into its base (active commit, then pivot)
  virtops.libvirt.domain_block:
    name: web01
    disk: vda
    job: commit
    delete: true

- name: Flatten a disk cloned from a golden image
  virtops.libvirt.domain_block:
    name: web02
    disk: vda
    job: pull
    wait: false
  async: 3600
  poll: 30

- name: Grow the disk by 10 GiB (the guest then grows its filesystem)
  virtops.libvirt.domain_block:
    name: db01
    disk: vdb
    size: +10G

- name: Limit a noisy guest's disk, now and after its next boot
  virtops.libvirt.domain_block:
    name: build01
    disk: vda
    iotune:
      total_bytes_sec: 50MiB
      total_iops_sec: 500
      group_name: builders
    blkio:
      weight: 200
    config: true

- name: Read the first sector of the boot disk (the partition table)
  virtops.libvirt.domain_block:
    name: web01
    disk: vda
    peek:
      offset: 0
      size: 512
  register: first_sector

- name: Warn before a thin disk fills up
  virtops.libvirt.domain_block:
    name: db01
    disk: vdb
    threshold: 80%
"""

RETURN = r"""
disk:
  description: The disk after the task (before it in check mode).
  returned: success
  type: dict
  contains:
    target: {description: The disk's target (vda)., type: str}
    source: {description: "The top image's source (a path, protocol:name or pool/volume).", type: str}
    format: {description: The top image's format., type: str}
    device: {description: disk or lun., type: str}
    bus: {description: The disk's bus., type: str}
    type: {description: "The disk's type attribute (file, block, network...).", type: str}
    readonly: {description: Whether the disk is read-only., type: bool}
    capacity: {description: "The disk's size as the guest sees it, in bytes.", type: int}
    allocation: {description: Bytes the image uses on its storage., type: int}
    physical: {description: Bytes of the image's file or device., type: int}
    backing_chain:
      description: Every image of the disk, the top one first, each with C(source), C(format) and C(index) (the running domain's).
      type: list
      elements: dict
    stats:
      description:
        - The disk's I/O statistics while the domain runs (libvirt's C(blockStats)), C(rd_req), C(rd_bytes), C(wr_req),
          C(wr_bytes) and C(errs) (-1 where the hypervisor does not count errors).
      type: dict
  sample:
    target: vdb
    source: /srv/fast/db01-data.qcow2
    format: qcow2
    capacity: 21474836480
    allocation: 5368709120
    physical: 5369757696
    backing_chain: [{source: /srv/fast/db01-data.qcow2, format: qcow2, index: 3}]
job:
  description:
    - The job's statistics in the shape every long job of the collection uses (null when no job ran).
      Also returned by a failed or timed-out task.
    - C(type) (completed, failed, cancelled, unbounded while it runs), C(success), C(error), C(seconds),
      C(data_total), C(data_processed), C(data_remaining) in bytes, C(operation) (pull, rebase, copy, commit,
      active_commit), C(bandwidth), and C(phase)
      (completed, pivoted, aborted, or mirroring for a job left running).
  returned: when a job ran, or one was found running
  type: dict
  sample: {type: completed, success: true, error: null, seconds: 41.2, operation: copy, phase: pivoted,
           data_total: 21474836480, data_processed: 21474836480, data_remaining: 0}
peek:
  description: The bytes O(peek) read.
  returned: when O(peek) is given
  type: dict
  contains:
    offset: {description: "Where the read started, in bytes.", type: int}
    size: {description: How many bytes were read., type: int}
    data: {description: "The bytes read, base64-encoded.", type: str}
  sample: {offset: 0, size: 4, data: UUZJ+w==}
actions:
  description: What the task did (in check mode, would do), one entry per change.
  returned: always
  type: list
  elements: str
  sample: ["copy vdb to /srv/fast/db01-data.qcow2 and pivot it", "set I/O tuning of vdb (live): total_iops_sec=500"]
"""

from ansible_collections.virtops.libvirt.plugins.module_utils._block import BlockRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._block_options import FINISHES, JOBS, BlockOptions
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._module import DomainModule

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    disk=dict(type="str", required=True),
    job=dict(type="str", choices=list(JOBS)),
    base=dict(type="str"),
    top=dict(type="str"),
    destination=dict(type="path"),
    destination_format=dict(type="str", default="qcow2", choices=["qcow2", "raw"]),
    destination_xml=dict(type="str"),
    finish=dict(type="str", choices=list(FINISHES)),
    pivot=dict(type="bool", default=False),
    shallow=dict(type="bool", default=False),
    reuse_external=dict(type="bool", default=False),
    relative=dict(type="bool", default=False, aliases=["keep_relative"]),
    delete=dict(type="bool", default=False),
    synchronous_writes=dict(type="bool", default=False),
    transient_job=dict(type="bool", default=False),
    granularity=dict(type="str"),
    buf_size=dict(type="str"),
    bandwidth=dict(type="str"),
    wait=dict(type="bool", default=True),
    timeout=dict(type="float", default=3600),
    size=dict(type="str"),
    allow_shrink=dict(type="bool", default=False),
    iotune=dict(type="dict"),
    blkio=dict(type="dict"),
    threshold=dict(type="str"),
    peek=dict(type="dict"),
    live=dict(type="bool", default=True),
    config=dict(type="bool", default=False),
)


def run(module):
    options = BlockOptions.from_params(module.params)
    with module.connect() as connection:
        domain = Domain.lookup(connection, name=module.params["name"])
        result = BlockRunner(domain, options, module.recorder).run()
    module.set_diff(result.pop("diff_before"), result.pop("diff_after"))
    return result


def main():
    DomainModule(ARGUMENT_SPEC, mutually_exclusive=[("destination", "destination_xml")]).run(run)


if __name__ == "__main__":
    main()
