#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: domain_tune
short_description: Live and persistent resources of a libvirt domain (vCPUs, memory, pinning, scheduling, limits, metadata)
version_added: 0.1.0
description:
  - Holds the resources of one domain at the values a task gives, in its running (live) and/or persistent
    (config) definition. One option per resource group (O(vcpus), O(memory), O(memtune), O(numatune),
    O(cputune), O(iothreads), O(scheduler), O(interface_bandwidth), O(perf_events), O(metadata),
    O(lifecycle), O(rename)), each a dictionary of the values to hold; values not given are left alone.
  - Each group compares the current values of each definition with the wanted ones and sets only what
    differs, so a second run is C(changed=false).
  - "Limits are checked before anything changes: more vCPUs than the maximum, memory above the maximum,
    a CPU list outside the host's CPUs, an IOThread that does not exist are errors naming the option,
    and nothing is changed. Every group given is validated and read, and every step planned, before the
    first change."
  - A value held in the persistent definition of a running domain that the running domain does not have (a
    maximum that cannot change live, or a task with O(config=true) only) takes effect at the next boot;
    RV(pending_restart) says so, also on later runs, until the domain restarts (as in M(virtops.libvirt.domain_state)).
  - Sizes take units as in M(virtops.libvirt.domain_block) (V(2GiB), V(512M), V(5GB)); a bare number is bytes.
    CPU lists take libvirt's syntax (V(0-3,^2,8)).
  - Autostart stays in M(virtops.libvirt.domain_state), blkio tuning in M(virtops.libvirt.domain_block).
author:
  - virtops maintainers (@virtops)
extends_documentation_fragment:
  - virtops.libvirt.connection
  - virtops.libvirt.attributes
options:
  name:
    description:
      - The domain's name.
      - With O(rename), a domain by the new name is found when none has this name, so running the task again
        changes nothing.
    type: str
    required: true
  live:
    description:
      - Change the running domain (C(VIR_DOMAIN_AFFECT_LIVE)).
      - When neither O(live) nor O(config) is given, both definitions the domain has are changed (the live one
        when it runs, the persistent one when it has one). When one is given, only what it says.
      - O(live=true) on a domain that does not run is refused.
    type: bool
  config:
    description:
      - Change the persistent definition (C(VIR_DOMAIN_AFFECT_CONFIG)), used from the next boot.
      - O(config=true) on a transient domain is refused.
    type: bool
  vcpus:
    description:
      - The domain's virtual CPUs. Values not given are left alone.
      - "The count cannot exceed the maximum (of the definition it is set in; in the persistent definition the
        O(vcpus.maximum) of the same task counts): more is refused before anything changes."
    type: dict
    suboptions:
      count:
        description:
          - How many vCPUs the domain has (C(virsh setvcpus)). On a running domain, vCPUs are hot-plugged or
            unplugged; the guest may have to bring a hot-plugged vCPU online itself.
          - With O(vcpus.guest=true), how many of its vCPUs the guest operating system uses instead.
        type: int
      maximum:
        description:
          - The most vCPUs the domain can have (C(virsh setvcpus --maximum --config)).
          - Changes the persistent definition only; refused when O(config) is not among the definitions changed.
            On a running domain it takes effect at the next boot (RV(pending_restart)).
          - Lowering it below the count lowers the count too.
        type: int
      guest:
        description:
          - "Set O(vcpus.count) inside the running guest through the QEMU guest agent (C(VCPU_GUEST)): the guest
            takes vCPUs offline or back online; the domain keeps its vCPUs. Needs a running guest agent."
          - Only the running domain is changed; refused with O(config=true) alone or on a domain that does not run.
            O(vcpus.count) cannot exceed the vCPUs the domain runs with.
        type: bool
      online:
        description:
          - "Exactly which vCPUs are enabled, as a CPU list of vCPU numbers (V(0-1,3)): the missing ones are enabled,
            the others disabled (C(virsh setvcpu)). Each must be below the maximum."
          - With O(vcpus.count), the list must name that many vCPUs.
          - On a running domain only hot-pluggable vCPUs can be switched, not those it booted with (refused before
            any change, naming them); the persistent definition takes any.
        type: str
  cputune:
    description:
      - Pinning of the domain's threads to host CPUs. CPU lists use libvirt's syntax (V(0-3,^2,8)) and must name
        CPUs the host has; results show them normalized (V(0-3,8)).
      - Values not given are left alone; only the vCPUs and IOThreads listed are pinned, and results show those only.
    type: dict
    suboptions:
      vcpupin:
        description:
          - vCPU number -> CPU list (C(virsh vcpupin)).
          - Any vCPU below the maximum can be pinned, an offline one too (in the persistent definition, below the
            O(vcpus.maximum) of the same task when it gives one).
        type: dict
      emulatorpin:
        description: The CPU list the emulator threads may run on (C(virsh emulatorpin)).
        type: str
      iothreadpin:
        description:
          - IOThread id -> CPU list (C(virsh iothreadpin)).
          - The IOThread must exist, or be added by O(iothreads.ids) of the same task.
        type: dict
  iothreads:
    description:
      - The domain's IOThreads (threads that run the I/O of disks given C(iothread) in their driver element).
    type: dict
    suboptions:
      ids:
        description:
          - "Exactly these IOThread ids exist afterwards (ids start at 1): the missing ones are added, the others
            removed (C(virsh iothreadadd), C(iothreaddel))."
          - Removing an IOThread a disk uses is refused, naming the disk.
        type: list
        elements: int
      params:
        description:
          - IOThread id -> its parameters (C(virsh iothreadset)); only the parameters given are set.
          - Keys are V(poll_max_ns), V(poll_grow), V(poll_shrink) (polling; 0 or more) and V(thread_pool_min),
            V(thread_pool_max) (thread pool bounds; V(-1) leaves one to the hypervisor, V(thread_pool_max) is not 0).
          - libvirt keeps no polling values in the persistent definition; they are set in the running domain only,
            and refused when only O(config) is changed. Thread pool bounds are set in both definitions; V(-1) only
            in the persistent one (a running domain takes 0 or more).
          - Results show the thread pool bounds under C(params) and the running domain's polling values under C(polling).
          - The IOThread must exist, or be added by O(iothreads.ids) of the same task.
        type: dict
  scheduler:
    description:
      - CPU scheduler values of the domain's cgroup (C(virsh schedinfo)); only the keys given are set, and a key
        the hypervisor does not know for the domain is refused.
      - Periods are microseconds in 1000..1000000; quotas microseconds in 1000..17592186044415, or V(-1) for no limit.
      - V(iothread_period) and V(iothread_quota) need an IOThread in the running domain (QEMU keeps them for none);
        O(iothreads.ids) of the same task can add one.
      - In the persistent definition V(0) means "not set"; values set there apply from the next boot.
    type: dict
    suboptions:
      cpu_shares:
        description: The domain's relative CPU weight against other domains (2..262144).
        type: int
      vcpu_period:
        description: The enforcement period of each vCPU's quota.
        type: int
      vcpu_quota:
        description: The CPU time each vCPU may use per O(scheduler.vcpu_period).
        type: int
      emulator_period:
        description: The enforcement period of the emulator threads' quota.
        type: int
      emulator_quota:
        description: The CPU time the emulator threads may use per O(scheduler.emulator_period).
        type: int
      global_period:
        description: The enforcement period of the whole domain's quota.
        type: int
      global_quota:
        description: The CPU time the whole domain may use per O(scheduler.global_period).
        type: int
      iothread_period:
        description: The enforcement period of each IOThread's quota.
        type: int
      iothread_quota:
        description: The CPU time each IOThread may use per O(scheduler.iothread_period).
        type: int
  memory:
    description:
      - The domain's memory. Sizes take units (V(2GiB), V(512M), V(5GB)); a bare number is bytes; a size must be a
        whole number of KiB. Results show sizes in bytes.
      - "The current memory cannot exceed the maximum (of the definition it is set in; in the persistent definition
        the O(memory.maximum) of the same task counts): more is refused before anything changes."
    type: dict
    suboptions:
      current:
        description:
          - The memory the domain has (C(virsh setmem)). On a running domain the balloon driver of the guest gives
            memory back to the host or takes it (the guest needs a balloon device and its driver).
        type: str
      maximum:
        description:
          - The most memory the domain can have (C(virsh setmaxmem --config)).
          - libvirt cannot change it on a running domain, so there it is set in the persistent definition only and
            takes effect at the next boot (RV(pending_restart)); refused when only O(live) is changed.
          - Lowering it below the current memory lowers the current memory too.
        type: str
      stats_period:
        description:
          - How often, in seconds, the balloon driver refreshes the memory statistics (C(virsh dommemstat --period));
            V(0) stops refreshing.
        type: int
  memtune:
    description:
      - Memory limits of the domain's cgroup (C(virsh memtune)); only the limits given are set. Each is a size with a
        unit (as O(memory.current)) or V(unlimited). Results show bytes or V(unlimited).
      - O(memtune.hard_limit) cannot exceed O(memtune.swap_hard_limit) (the one given or the domain's); that is refused.
      - A limit the hypervisor does not offer for the domain is refused (QEMU has no O(memtune.min_guarantee)).
    type: dict
    suboptions:
      hard_limit:
        description: The most memory the domain (guest and QEMU) may use.
        type: str
      soft_limit:
        description: The memory the domain is held to when the host is short of memory.
        type: str
      swap_hard_limit:
        description: The most memory plus swap the domain may use.
        type: str
      min_guarantee:
        description: The memory guaranteed to the domain (not offered by QEMU).
        type: str
  numatune:
    description:
      - Placement of the domain's memory on the host's NUMA nodes (C(virsh numatune)).
      - "A running domain cannot change its mode, nor its nodeset unless the mode is V(strict): with O(config) among
        the definitions changed these are set in the persistent definition only (RV(pending_restart)); refused when
        only O(live) is changed."
    type: dict
    suboptions:
      mode:
        description:
          - How the memory is bound to O(numatune.nodeset). A mode needs a nodeset (given, or the domain's).
        type: str
        choices: [strict, preferred, interleave, restrictive]
      nodeset:
        description:
          - The host NUMA nodes, in CPU-list syntax (V(0-1), V(0,^1)); each must be a node of the host. Results show
            it normalized (V(0-1)).
        type: str
  interface_bandwidth:
    description:
      - Quality of service of network interfaces (C(virsh domiftune)); only the values given are set. Averages and
        peaks are KiB/s, bursts KiB; V(0) means no limit.
      - Interfaces not listed are left alone.
      - "libvirt sets a whole direction at once: the values of a direction not given are kept as they are. A peak or
        a burst needs an average (or, inbound, a floor); an average of V(0) removes the direction."
      - libvirt applies bandwidth to a running domain with the host's C(tc); where the host cannot (an interface of
        type C(user), a kernel without the traffic control modules) setting it live fails, naming the interface;
        set it with O(config) alone for the next boot.
    type: list
    elements: dict
    suboptions:
      interface:
        description:
          - The interface's MAC address or its target device (V(vnet0), the running domain's).
          - An interface the domain does not have is refused, listing the ones it has.
        type: str
        required: true
      inbound:
        description: Traffic to the guest.
        type: dict
        suboptions:
          average:
            description: Average rate, KiB/s.
            type: int
          peak:
            description: Peak rate, KiB/s.
            type: int
          burst:
            description: KiB that may be sent at peak rate.
            type: int
          floor:
            description: Guaranteed minimum rate, KiB/s (interfaces of type C(network) only; refused on others).
            type: int
      outbound:
        description: Traffic from the guest.
        type: dict
        suboptions:
          average:
            description: Average rate, KiB/s.
            type: int
          peak:
            description: Peak rate, KiB/s.
            type: int
          burst:
            description: KiB that may be sent at peak rate.
            type: int
  perf_events:
    description:
      - Perf event name -> whether libvirt counts it for the domain (C(virsh perf)); events not given are left alone.
        The counters appear in the domain's statistics (C(perf.<event>)).
      - An event the libvirt daemon does not know is refused. Enabling an event the host cannot count (hardware
        counters under TCG or in a VM, C(cmt) without Intel RDT) fails, naming the events.
    type: dict
    suboptions:
      cmt: {description: Cache monitoring (Intel RDT)., type: bool}
      mbmt: {description: Total memory bandwidth (Intel RDT)., type: bool}
      mbml: {description: Local memory bandwidth (Intel RDT)., type: bool}
      cpu_cycles: {description: CPU cycles., type: bool}
      instructions: {description: Instructions executed., type: bool}
      cache_references: {description: Cache references., type: bool}
      cache_misses: {description: Cache misses., type: bool}
      branch_instructions: {description: Branch instructions., type: bool}
      branch_misses: {description: Branch misses., type: bool}
      bus_cycles: {description: Bus cycles., type: bool}
      stalled_cycles_frontend: {description: Stalled cycles in the frontend., type: bool}
      stalled_cycles_backend: {description: Stalled cycles in the backend., type: bool}
      ref_cpu_cycles: {description: Reference CPU cycles (not affected by frequency scaling)., type: bool}
      cpu_clock: {description: CPU clock time (software event)., type: bool}
      task_clock: {description: Task clock time (software event)., type: bool}
      page_faults: {description: Page faults (software event)., type: bool}
      context_switches: {description: Context switches (software event)., type: bool}
      cpu_migrations: {description: CPU migrations (software event)., type: bool}
      page_faults_min: {description: Minor page faults (software event)., type: bool}
      page_faults_maj: {description: Major page faults (software event)., type: bool}
      alignment_faults: {description: Alignment faults (software event)., type: bool}
      emulation_faults: {description: Emulation faults (software event)., type: bool}
  metadata:
    description:
      - The domain's title, description, tags and custom metadata elements (C(virsh desc), C(virsh metadata)); set
        on the running domain at once too. Only what is given is changed.
    type: dict
    suboptions:
      title:
        description: A short title (one line); V("") removes it.
        type: str
      description:
        description: A description; V("") removes it.
        type: str
      tags:
        description:
          - "The domain's tags, exactly these (order and repetitions do not count); V([]) removes them. They are kept
            as the inventory plugin (C(virtops.libvirt.libvirt)) and M(virtops.libvirt.domain_info) read them: one
            custom metadata element in O(metadata.tags_namespace) whose text is the tags separated by spaces, so the
            next inventory run groups the domain (C(<prefix>tag_<tag>))."
          - A tag may not contain a space or a comma (they separate tags).
        type: list
        elements: str
      tags_namespace:
        description: The XML namespace URI of the tags element; the same as the inventory plugin's C(tags_namespace).
        type: str
        default: https://virtops.example.org/xmlns/tags/1.0
      elements:
        description:
          - Custom metadata elements, one per namespace; namespaces not listed are left alone.
        type: list
        elements: dict
        suboptions:
          namespace:
            description: The element's namespace URI (not O(metadata.tags_namespace) when O(metadata.tags) is given).
            type: str
            required: true
          prefix:
            description: The namespace prefix libvirt writes (default the element's present one, else V(ns)).
            type: str
          xml:
            description:
              - The element, for example V(<app role="web"/>); its namespace may be left out (libvirt adds it).
                Compared with the present one whatever its whitespace, attribute order or prefix.
              - Omitted or empty, the element is removed.
            type: str
  lifecycle:
    description:
      - What libvirt does when the guest powers off, reboots or crashes (C(on_poweroff), C(on_reboot), C(on_crash)).
      - QEMU refuses some combinations on a running domain (for example O(lifecycle.on_reboot=destroy) while
        O(lifecycle.on_poweroff=restart)).
    type: dict
    suboptions:
      on_poweroff:
        description: The action when the guest powers off.
        type: str
        choices: [destroy, restart, rename-restart, preserve]
      on_reboot:
        description: The action when the guest reboots.
        type: str
        choices: [destroy, restart, rename-restart, preserve]
      on_crash:
        description: The action when the guest crashes.
        type: str
        choices: [destroy, restart, rename-restart, preserve, coredump-destroy, coredump-restart]
  rename:
    description:
      - A new name for the domain (C(virsh domrename)); applied after every other group.
      - libvirt renames only a shut-off domain; a running one is refused, as is a name another domain has.
    type: str
notes:
  - At least one resource group is required.
  - Groups are applied in the order V(vcpus), V(memory), V(memtune), V(numatune), V(iothreads), V(cputune),
    V(scheduler), V(interface_bandwidth), V(perf_events), V(metadata), V(lifecycle), V(rename), so one task
    can add a vCPU or an IOThread and pin it.
seealso:
  - module: virtops.libvirt.domain_state
  - module: virtops.libvirt.domain_block
  - name: libvirt domain XML, CPU and memory tuning
    description: What each value means to libvirt and QEMU.
    link: https://libvirt.org/formatdomain.html#cpu-tuning
"""

EXAMPLES = r"""
- name: Hot-add a vCPU to web01 (its maximum is 4), running and persistent
  virtops.libvirt.domain_tune:
    name: web01
    vcpus:
      count: 3

- name: Balloon db01 down to 2 GiB for the maintenance window (the running guest only)
  virtops.libvirt.domain_tune:
    name: db01
    live: true
    memory:
      current: 2GiB

- name: Give db01 its memory back afterwards
  virtops.libvirt.domain_tune:
    name: db01
    live: true
    memory:
      current: 8GiB

- name: Pin the vCPUs of db01 to the first NUMA node's cores, the emulator threads elsewhere
  virtops.libvirt.domain_tune:
    name: db01
    numatune:
      mode: strict
      nodeset: "0"
    cputune:
      vcpupin:
        0: "2"
        1: "3"
        2: "4"
        3: "5"
      emulatorpin: "0-1"

- name: Cap the noisy neighbour at half a host CPU (quota 50 ms of every 100 ms per vCPU), lower shares
  virtops.libvirt.domain_tune:
    name: batch07
    scheduler:
      cpu_shares: 256
      vcpu_period: 100000
      vcpu_quota: 50000

- name: Tag a guest; the next inventory run (metadata true) puts it in the groups libvirt_tag_web and libvirt_tag_production
  virtops.libvirt.domain_tune:
    name: web01
    metadata:
      title: Web front end 01
      tags: [web, production]

- name: A new IOThread for the data disk, pinned to CPUs 6 and 7
  virtops.libvirt.domain_tune:
    name: db01
    iothreads:
      ids: [1, 2]
    cputune:
      iothreadpin:
        2: "6-7"

- name: Raise the maximum memory in the persistent definition; takes effect at the next boot
  virtops.libvirt.domain_tune:
    name: db01
    config: true
    memory:
      maximum: 16GiB
  register: tuned

- name: Restart db01 when the change waits for a boot
  virtops.libvirt.domain_state:
    name: db01
    state: restarted
  when: tuned.pending_restart
"""

RETURN = r"""
groups:
  description:
    - For each resource group the task gave, its values before and after the task (in check mode, as the
      run would leave them), per definition changed (C(live), C(config)), in the option's own shape (sizes in
      bytes, CPU lists as text such as V(0-3)).
  returned: success
  type: dict
  sample:
    vcpus:
      before: {live: {count: 2, maximum: 4, online: "0-1"}, config: {count: 2, maximum: 4, online: "0-1"}}
      after: {live: {count: 3, maximum: 4, online: "0-2"}, config: {count: 3, maximum: 4, online: "0-2"}}
    cputune:
      before: {live: {emulatorpin: "0-7", vcpupin: {"0": "0-7", "1": "0-7"}}}
      after: {live: {emulatorpin: "0-1", vcpupin: {"0": "2", "1": "3"}}}
pending_restart:
  description:
    - A value the task gives differs between the persistent definition of the running domain and the running domain
      itself; it takes effect at the domain's next boot. Reported on every run until the domain restarts.
    - Always false for a domain that does not run and for a task that changes only the running domain (O(live=true)
      alone).
  returned: success
  type: bool
  sample: false
actions:
  description: What the task did (in check mode, would do), one entry per libvirt call, naming the group and the definition.
  returned: always
  type: list
  elements: str
  sample: ["vcpus (live): set the vCPU count to 3", "vcpus (config): set the vCPU count to 3", "iothreads (live): add IOThread 2"]
"""

from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._module import DomainModule
from ansible_collections.virtops.libvirt.plugins.module_utils._tune import TuneRunner
from ansible_collections.virtops.libvirt.plugins.module_utils import _tune_cpu, _tune_memory, _tune_other

# The order groups are applied in: IOThreads and vCPUs exist before they are pinned, the rename is last
# (errors before it still name the domain as the task did).
GROUP_ORDER = ("vcpus", "memory", "memtune", "numatune", "iothreads", "cputune", "scheduler", "interface_bandwidth",
               "perf_events", "metadata", "lifecycle", "rename")
_GROUP_FILES = (_tune_cpu, _tune_memory, _tune_other)
GROUPS = {option: group for option in GROUP_ORDER for source in _GROUP_FILES
          for name, group in source.GROUPS.items() if name == option}
ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    live=dict(type="bool"),
    config=dict(type="bool"),
    **{option: source.ARGUMENT_SPECS[option] for option in GROUP_ORDER for source in _GROUP_FILES
       if option in source.ARGUMENT_SPECS},
)


def lookup(connection, params):
    """The domain by O(name); after a rename by the task's new name, so the task's second run changes nothing."""
    found = Domain.find(connection, name=params["name"])
    if found is None and params["rename"]:
        found = Domain.find(connection, name=params["rename"])
    return found or Domain.lookup(connection, name=params["name"])


def run(module):
    params = module.params
    with module.connect() as connection:
        domain = lookup(connection, params)
        result = TuneRunner(domain, params, GROUPS, module.recorder).run()
    module.set_diff({option: values["before"] for option, values in result["groups"].items()},
                    {option: values["after"] for option, values in result["groups"].items()})
    return result


def main():
    DomainModule(ARGUMENT_SPEC, required_one_of=[GROUP_ORDER]).run(run)


if __name__ == "__main__":
    main()
