#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: domain_migrate
short_description: Migrate libvirt domains to another host, live or offline, with progress, convergence control and rollback
version_added: 0.1.0
description:
  - Moves one domain or a list of domains (concurrently, up to O(parallel)) from the host of O(uri) to the
    host of O(dest_uri), live (the default), live and left paused at the destination, or offline (the
    persistent definition only).
  - Idempotent. A domain that already runs at the destination (or, offline, is defined there) and is no
    longer running at the source is left alone, C(changed=false).
  - Before anything moves, both ends are opened and checked. A different domain with the same name or
    UUID at the destination, a CPU the destination's hypervisor cannot provide (libvirt's
    C(compareHypervisorCPU) on the domain's CPU), a parameter the daemon's libvirt is too old for, and
    options that contradict each other fail the task naming the problem. Check mode runs these checks
    too and changes nothing.
  - The migration is one libvirt job, watched through libvirt's events (job completed, migration
    iterations, lifecycle). With O(postcopy) it switches to post-copy after O(postcopy_after) seconds or
    O(postcopy_after_iterations) pre-copy iterations, so a guest that dirties memory faster than the link
    carries it still moves.
  - "On failure or O(timeout) the job is aborted: the domain keeps running at the source and nothing is
    left defined at the destination. The result names the step that failed. A post-copy migration that
    fails after the switch cannot be rolled back (the guest's memory is split between the two hosts); the
    task says so, and the domain is left paused at one end for an operator to recover
    (O(postcopy_resume))."
  - Migration tunables of the running job (maximum downtime, bandwidth before and after the switch,
    the xbzrle compression cache) are set through libvirt's C(migrateSet*) calls where no migration
    parameter exists; RV(domains[].settings) reports their values as read back.
author:
  - virtops maintainers (@virtops)
extends_documentation_fragment:
  - virtops.libvirt.connection
  - virtops.libvirt.attributes
options:
  name:
    description:
      - The domain's name, or a list of names. A list returns RV(domains) with one entry each and migrates
        them concurrently, up to O(parallel) at a time.
    type: raw
    required: true
  parallel:
    description: How many domains of a list migrate at the same time.
    type: int
    default: 4
  dest_uri:
    description:
      - The libvirt URI of the destination host, for example V(qemu+ssh://root@kvm02.example.com/system) or
        V(qemu+tls://kvm02.example.com/system). The module connects to it (with O(dest_auth_username) and
        O(dest_auth_password)) to check it, to define the domain there and to report where it runs.
    type: str
    required: true
  dest_auth_username:
    description: User name for credential-based authentication to O(dest_uri).
    type: str
  dest_auth_password:
    description: Password for O(dest_auth_username). It never appears in results, diffs or logs.
    type: str
  peer_uri:
    description:
      - With O(p2p), the destination's URI as the SOURCE libvirt daemon reaches it (the source daemon opens
        that connection itself, with its own credentials). Defaults to O(dest_uri); set it when the
        source host names the destination differently from where the task runs. Requires O(p2p).
    type: str
  mode:
    description:
      - V(live) moves the running domain without stopping it (C(VIR_MIGRATE_LIVE)).
      - V(paused) moves it live and leaves it paused at the destination (C(VIR_MIGRATE_PAUSED)).
      - V(offline) moves the persistent definition of a domain that is not running (C(VIR_MIGRATE_OFFLINE));
        storage is not copied. It requires O(persist), and refuses the options that move or tune memory or
        disks (O(copy_storage), O(migrate_uri), O(bandwidth), O(compression), O(postcopy)...).
    type: str
    default: live
    choices: [live, paused, offline]
  p2p:
    description:
      - Peer-to-peer migration (C(VIR_MIGRATE_PEER2PEER)). The source daemon drives the migration and
        connects to the destination itself (see O(peer_uri)), so the migration does not depend on the
        connection of the task. Implies change protection.
    type: bool
    default: false
  tunnelled:
    description:
      - Carry the migration data over the libvirt daemons' connection (C(VIR_MIGRATE_TUNNELLED)). Requires O(p2p).
      - Cannot be combined with O(migrate_uri), O(copy_storage) or O(postcopy).
    type: bool
    default: false
  tls:
    description: Encrypt the migration data with TLS (C(VIR_MIGRATE_TLS)); both hypervisors must be configured for it.
    type: bool
    default: false
  tls_destination:
    description: The host name the destination's TLS certificate is checked against (C(VIR_MIGRATE_PARAM_TLS_DESTINATION)). Requires O(tls).
    type: str
  persist:
    description: Define the domain persistently at the destination (C(VIR_MIGRATE_PERSIST_DEST)).
    type: bool
    default: true
  undefine_source:
    description:
      - Remove the persistent definition at the source after a successful migration (C(VIR_MIGRATE_UNDEFINE_SOURCE)).
      - Defaults to the value of O(persist), so the domain is defined in exactly one place.
    type: bool
  copy_storage:
    description:
      - Copy the disks during the migration, for hosts that do not share storage.
      - V(all) copies whole images (C(VIR_MIGRATE_NON_SHARED_DISK)), V(incremental) only what is not in a
        backing image the destination already has (C(VIR_MIGRATE_NON_SHARED_INC)).
      - The destination must have image files of the same size where the domain's disks point there
        (use O(disk_paths) to point them elsewhere).
    type: str
    default: none
    choices: [none, all, incremental]
  migrate_disks:
    description: With O(copy_storage), copy only these disks (targets such as V(vda)); the default is all writable disks.
    type: list
    elements: str
  synchronous_writes:
    description:
      - With O(copy_storage), write guest I/O synchronously to the destination too, so the storage copy
        converges for busy guests (C(VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES)).
    type: bool
    default: false
  disk_paths:
    description:
      - Disk source path at the source -> path at the destination. Applied for you to the destination XML
        (and to the persistent one), so disks copied with O(copy_storage) land in another directory.
      - Each path must be a disk of the domain; the task fails naming a path that is not. Paths are absolute,
        two disks may not map to one destination path, and only the top image of a disk is repointed.
    type: dict
  dest_name:
    description: Rename the domain at the destination (C(VIR_MIGRATE_PARAM_DEST_NAME)).
    type: str
  dest_xml:
    description:
      - The domain XML to use at the destination (C(VIR_MIGRATE_PARAM_DEST_XML)). Only host-side settings
        (disk paths, graphics listen addresses...) may differ; libvirt refuses guest-visible changes.
      - O(disk_paths) is applied to it when both are given.
    type: str
  persist_xml:
    description:
      - The persistent definition to store at the destination (C(VIR_MIGRATE_PARAM_PERSIST_XML)), when it
        should differ from the live one. O(disk_paths) is applied to it when both are given. Requires O(persist).
    type: str
  migrate_uri:
    description:
      - Where the migration data goes (C(VIR_MIGRATE_PARAM_URI)), for example V(tcp://10.0.0.2) or
        V(tcp://10.0.0.2:49152), usually a dedicated migration network. By default the destination's
        host name is used.
    type: str
  disks_uri:
    description: Where the storage copy of O(copy_storage) goes, for example V(tcp://10.0.0.2:49153) (C(VIR_MIGRATE_PARAM_DISKS_URI)). Requires O(copy_storage).
    type: str
  disks_port:
    description: The port of the destination's NBD server for O(copy_storage) (C(VIR_MIGRATE_PARAM_DISKS_PORT)). Requires O(copy_storage).
    type: int
  listen_address:
    description: The address the destination listens on for the migration data (C(VIR_MIGRATE_PARAM_LISTEN_ADDRESS)).
    type: str
  graphics_uri:
    description:
      - Where graphics clients (SPICE) reconnect after the migration (C(VIR_MIGRATE_PARAM_GRAPHICS_URI)),
        for example V(spice://kvm02.example.com:5901).
    type: str
  bandwidth:
    description: The maximum bandwidth of the migration in MiB/s (C(VIR_MIGRATE_PARAM_BANDWIDTH)). Unlimited when not set.
    type: int
  postcopy_bandwidth:
    description: The maximum bandwidth in MiB/s after the switch to post-copy (C(VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY)). Requires O(postcopy).
    type: int
  max_downtime:
    description:
      - The longest the guest may be paused when it switches hosts, in milliseconds (C(migrateSetMaxDowntime),
        set once the migration job exists).
    type: int
  compression:
    description:
      - Compress the migration data (C(VIR_MIGRATE_COMPRESSED)). C({}) turns it on with QEMU's default method.
      - Options of a method that is not in O(compression.methods) are refused.
    type: dict
    suboptions:
      methods:
        description:
          - The compression methods (C(VIR_MIGRATE_PARAM_COMPRESSION)).
          - V(zlib) and V(zstd) (libvirt 9.4 or later) need O(parallel_connections), and a parallel migration
            takes one method only; V(xbzrle) and V(mt) are refused with O(parallel_connections).
        type: list
        elements: str
        choices: [xbzrle, mt, zlib, zstd]
      mt_level:
        description: The level of V(mt) compression, 0 to 9.
        type: int
      mt_threads:
        description: Compression threads of V(mt) at the source.
        type: int
      mt_dthreads:
        description: Decompression threads of V(mt) at the destination.
        type: int
      zlib_level:
        description: The level of V(zlib) compression, 0 to 9 (libvirt 9.4 or later, on the hypervisor and the controller).
        type: int
      zstd_level:
        description: The level of V(zstd) compression, 0 to 20 (libvirt 9.4 or later, on the hypervisor and the controller).
        type: int
      xbzrle_cache:
        description: The size of the V(xbzrle) page cache in bytes (C(VIR_MIGRATE_PARAM_COMPRESSION_XBZRLE_CACHE)).
        type: int
  parallel_connections:
    description: Migrate over this many connections at once (C(VIR_MIGRATE_PARALLEL) with C(VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS)).
    type: int
  auto_converge:
    description:
      - Slow down the guest's vCPUs when the migration does not converge (C(VIR_MIGRATE_AUTO_CONVERGE)).
        C({}) turns it on with QEMU's defaults.
    type: dict
    suboptions:
      initial:
        description: The initial throttle, in percent of vCPU time.
        type: int
      increment:
        description: How much the throttle grows each time, in percent.
        type: int
  zerocopy:
    description: Send memory pages without copying them (C(VIR_MIGRATE_ZEROCOPY)); needs O(parallel_connections).
    type: bool
    default: false
  unsafe:
    description:
      - Migrate even though libvirt considers it unsafe (C(VIR_MIGRATE_UNSAFE)), for example disks with a
        cache mode other than none on storage libvirt does not know to be shared.
    type: bool
    default: false
  abort_on_error:
    description: Abort the migration when a soft I/O error happens during it (C(VIR_MIGRATE_ABORT_ON_ERROR)).
    type: bool
    default: false
  change_protection:
    description:
      - Protect the domain from configuration changes while it migrates (C(VIR_MIGRATE_CHANGE_PROTECTION)).
        Always in effect with O(p2p).
    type: bool
    default: false
  rdma_pin_all:
    description: Pin all of the guest's memory for an RDMA migration (C(VIR_MIGRATE_RDMA_PIN_ALL)); O(migrate_uri) must be V(rdma://...).
    type: bool
    default: false
  postcopy:
    description:
      - Allow the switch to post-copy (C(VIR_MIGRATE_POSTCOPY)). The guest then runs at the destination
        and fetches the memory not yet copied on demand, so the migration always converges, but a
        failure after the switch cannot be rolled back.
      - Without O(postcopy_after) or O(postcopy_after_iterations) the switch is made right after the first
        pre-copy pass. Refused with O(mode=paused).
    type: bool
    default: false
  postcopy_after:
    description: Switch to post-copy when pre-copy has not finished after this many seconds. Requires O(postcopy).
    type: float
  postcopy_after_iterations:
    description:
      - Switch to post-copy when pre-copy has not finished after this many passes over the guest's memory
        (libvirt's migration-iteration events). Requires O(postcopy).
    type: int
  postcopy_resume:
    description:
      - Resume a post-copy migration that failed after the switch (C(VIR_MIGRATE_POSTCOPY_RESUME)), with the
        same destination and options as the original one. Requires O(postcopy).
    type: bool
    default: false
  timeout:
    description:
      - Seconds the whole migration of one domain may take. Then it is aborted (before the switch to
        post-copy) and the task fails; the domain keeps running at the source.
    type: float
    default: 3600
notes:
  - Check mode opens both hosts and runs every check (name and UUID collisions, CPU compatibility,
    options against the daemon's libvirt version); it changes nothing on either host.
  - O(dest_auth_password) and O(auth_password) are masked in every output. With O(p2p) the source daemon
    authenticates to the destination with its own configuration, not with O(dest_auth_username).
seealso:
  - module: virtops.libvirt.domain_state
  - name: libvirt migration guide
    description: Migration modes, flags and parameters.
    link: https://libvirt.org/migration.html
"""

EXAMPLES = r"""
- name: Evacuate a host before patching (live, over the migration network, at most 2 at a time)
  virtops.libvirt.domain_migrate:
    uri: qemu:///system
    name: "{{ guests_on_kvm01 }}"
    dest_uri: qemu+ssh://root@kvm02.example.com/system
    migrate_uri: tcp://10.20.0.12
    parallel: 2
    bandwidth: 500
    timeout: 1800

- name: Move a busy database, switching to post-copy if pre-copy has not finished after 2 minutes
  virtops.libvirt.domain_migrate:
    name: db01
    dest_uri: qemu+tls://kvm02.example.com/system
    p2p: true
    tls: true
    postcopy: true
    postcopy_after: 120
    max_downtime: 300

- name: Move a guest between hosts without shared storage, into another directory
  virtops.libvirt.domain_migrate:
    name: build-runner
    dest_uri: qemu+ssh://root@kvm03.example.com/system
    copy_storage: all
    disk_paths:
      /var/lib/libvirt/images/build-runner.qcow2: /srv/vm/build-runner.qcow2

- name: Move the definition of a shut-off guest
  virtops.libvirt.domain_migrate:
    name: legacy-app
    dest_uri: qemu+ssh://root@kvm02.example.com/system
    mode: offline

- name: Check that the whole host could move (collisions, CPU), without moving anything
  virtops.libvirt.domain_migrate:
    name: "{{ guests_on_kvm01 }}"
    dest_uri: qemu+ssh://root@kvm02.example.com/system
  check_mode: true
"""

RETURN = r"""
domain:
  description:
    - The entry of RV(domains) of the single domain named (when O(name) is a string), also when it failed.
  returned: when O(name) is a string
  type: dict
domains:
  description:
    - One entry per domain, in the order given. A failed one also has C(failed) and C(msg); the others
      are still migrated.
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The domain's name at the source., type: str, sample: web01}
    uuid: {description: The domain's UUID., type: str}
    location:
      description: Where the domain is now (or, in check mode, would be), V(source) or V(destination).
      type: str
      sample: destination
    dest_name: {description: The domain's name at the destination., type: str}
    state:
      description: The domain's state where it is now (running, paused, shutoff...).
      type: str
      sample: running
    defined_at_source: {description: Whether a definition is left at the source., type: bool}
    defined_at_destination: {description: Whether the domain is persistently defined at the destination., type: bool}
    postcopy: {description: Whether the migration switched to post-copy., type: bool}
    cpu_check:
      description: What the destination said of the domain's CPU (identical, superset, or skipped with the reason).
      type: str
      sample: superset
    flags:
      description: The VIR_MIGRATE_* flags of the migration, by name.
      type: list
      elements: str
      sample: [VIR_MIGRATE_LIVE, VIR_MIGRATE_PERSIST_DEST, VIR_MIGRATE_UNDEFINE_SOURCE]
    settings:
      description: The migration tunables as read back from the source (C(migrateGet*)).
      type: dict
      contains:
        max_downtime: {description: Maximum downtime in milliseconds., type: int}
        max_speed: {description: Maximum bandwidth in MiB/s., type: int}
        postcopy_max_speed: {description: Maximum bandwidth after the switch to post-copy in MiB/s., type: int}
        compression_cache: {description: The xbzrle cache size in bytes., type: int}
    failed_step:
      description: Which step failed (check, connect, migrate, postcopy, cleanup); null on success.
      type: str
    job:
      description:
        - The completed migration job's statistics, one shape for every long job of the collection;
          also in the entry of a failed or timed-out migration.
        - libvirt's own keys are kept (C(time_elapsed), C(downtime), C(memory_iteration),
          C(memory_dirty_rate), C(memory_postcopy_requests), C(memory_transferred)...), and these are added.
      type: dict
      contains:
        type: {description: "The job type by name: completed, failed, cancelled.", type: str}
        success: {description: Whether the job succeeded., type: bool}
        error: {description: Why it failed (null on success)., type: str}
        seconds: {description: How long the migration took as measured by the module., type: float}
        data_total: {description: Bytes to transfer., type: int}
        data_processed: {description: Bytes transferred., type: int}
        data_remaining: {description: Bytes left., type: int}
    actions:
      description: The operations performed (or, in check mode, that would be), in order.
      type: list
      elements: str
      sample: ["migrate(live) to qemu+ssh://root@kvm02.example.com/system"]
    changed: {description: Whether this domain moved., type: bool}
    error: {description: Why this domain failed; null when it did not., type: str}
failed_step:
  description: Which step of the single domain named failed (as in its entry); also V(connect) when the destination cannot be reached.
  returned: on failure
  type: str
  sample: check
actions:
  description: The operations performed on the single domain named (the same as its entry's C(actions) in RV(domains)).
  returned: when O(name) is a string
  type: list
  elements: str
"""

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import BatchFailed
from ansible_collections.virtops.libvirt.plugins.module_utils._migration import run_migrations
from ansible_collections.virtops.libvirt.plugins.module_utils._migration_options import COMPRESSION_METHODS, COPY_STORAGE, MODES, MigrationOptions
from ansible_collections.virtops.libvirt.plugins.module_utils._module import DomainModule
from ansible_collections.virtops.libvirt.plugins.module_utils._targets import check_parallel, is_batch, resolve_targets

ARGUMENT_SPEC = dict(
    name=dict(type="raw", required=True),
    parallel=dict(type="int", default=4),
    dest_uri=dict(type="str", required=True),
    dest_auth_username=dict(type="str"),
    dest_auth_password=dict(type="str", no_log=True),
    peer_uri=dict(type="str"),
    mode=dict(type="str", default="live", choices=list(MODES)),
    p2p=dict(type="bool", default=False),
    tunnelled=dict(type="bool", default=False),
    tls=dict(type="bool", default=False),
    tls_destination=dict(type="str"),
    persist=dict(type="bool", default=True),
    undefine_source=dict(type="bool"),
    copy_storage=dict(type="str", default="none", choices=list(COPY_STORAGE)),
    migrate_disks=dict(type="list", elements="str"),
    synchronous_writes=dict(type="bool", default=False),
    disk_paths=dict(type="dict"),
    dest_name=dict(type="str"),
    dest_xml=dict(type="str"),
    persist_xml=dict(type="str"),
    migrate_uri=dict(type="str"),
    disks_uri=dict(type="str"),
    disks_port=dict(type="int"),
    listen_address=dict(type="str"),
    graphics_uri=dict(type="str"),
    bandwidth=dict(type="int"),
    postcopy_bandwidth=dict(type="int"),
    max_downtime=dict(type="int"),
    compression=dict(type="dict", options=dict(
        methods=dict(type="list", elements="str", choices=list(COMPRESSION_METHODS)),
        mt_level=dict(type="int"),
        mt_threads=dict(type="int"),
        mt_dthreads=dict(type="int"),
        zlib_level=dict(type="int"),
        zstd_level=dict(type="int"),
        xbzrle_cache=dict(type="int"),
    )),
    parallel_connections=dict(type="int"),
    auto_converge=dict(type="dict", options=dict(
        initial=dict(type="int"),
        increment=dict(type="int"),
    )),
    zerocopy=dict(type="bool", default=False),
    unsafe=dict(type="bool", default=False),
    abort_on_error=dict(type="bool", default=False),
    change_protection=dict(type="bool", default=False),
    rdma_pin_all=dict(type="bool", default=False),
    postcopy=dict(type="bool", default=False),
    postcopy_after=dict(type="float"),
    postcopy_after_iterations=dict(type="int"),
    postcopy_resume=dict(type="bool", default=False),
    timeout=dict(type="float", default=3600),
)


def run(module):
    params = module.params
    options = MigrationOptions.from_params(params)
    parallel = check_parallel(params["parallel"])
    targets = resolve_targets(params["name"], None)
    with module.connect() as source:
        try:
            results = run_migrations(source, options, targets, module.check_mode, parallel, module.recorder.warnings)
        except BatchFailed as failed:
            if not is_batch(params["name"]):
                _as_one_failure(failed)
            raise
    if any(result["changed"] for result in results):
        module.mark_changed()
    module.set_diff({result["name"]: result.pop("diff_before") for result in results},
                    {result["name"]: result.pop("diff_after") for result in results})
    if is_batch(params["name"]):
        return {"domains": results}
    return {"domain": results[0], "domains": results, "actions": results[0]["actions"]}


def _as_one_failure(failed):
    """The failure of a single domain reads as its own message, with its entry as `domain`."""
    entry = failed.results[0]
    failed.message = entry["msg"]
    failed.args = (failed.message,)
    failed.result.update(domain=entry, failed_step=entry.get("failed_step"))


def main():
    DomainModule(ARGUMENT_SPEC).run(run)


if __name__ == "__main__":
    main()
