#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: domain_info
short_description: Read everything libvirt knows about domains, in bulk
version_added: 0.1.0
description:
  - Returns the facts of one domain, a list of domains, or every domain of a libvirt host.
  - The state, flags and statistics of all requested domains come from one bulk call
    (C(virConnectGetAllDomainStats)), not one call per domain; every other group of facts is read
    only when listed in O(gather).
  - Uses the same facts code as the C(virtops.libvirt.libvirt) inventory plugin, so both describe a
    domain the same way.
author:
  - virtops maintainers (@virtops)
extends_documentation_fragment:
  - virtops.libvirt.connection
  - virtops.libvirt.attributes.info_module
options:
  name:
    description:
      - A domain name or a list of names. When neither O(name) nor O(uuid) is set, every domain.
      - A domain that does not exist is reported with C(state=absent); it is not an error.
    type: raw
  uuid:
    description: A domain UUID, instead of O(name).
    type: str
  states:
    description:
      - Only report domains in these states. The filter applies right after the bulk state read, so
        the groups of O(gather) are read only for the domains that pass it.
    type: list
    elements: str
    choices: [nostate, running, blocked, paused, shutdown, shutoff, crashed, pmsuspended, absent]
  gather:
    description:
      - The groups of facts to read. V(state) (name, UUID, id, state, reason, persistent,
        autostart, managed save) is always included.
      - V(definition) a summary of the definition (vCPUs, memory, OS, disks, interfaces, graphics,
        whether a guest agent channel exists); V(xml) the raw XML (never with secure data such as
        passwords); V(stats) the C(getAllDomainStats) groups in O(stats), as nested dicts;
        V(block) block device sizes and disk errors; V(jobs) the current job's statistics and the control interface's state;
        V(vcpus) vCPU info and pinning, emulator pinning and IOThreads; V(tuning) memory, blkio,
        NUMA, scheduler and perf parameters and each disk's I/O tuning; V(snapshots) and
        V(checkpoints) names, the current one and the parent tree; V(addresses) the guest's IP
        addresses from O(address_sources); V(guest) guest information from the guest agent,
        bounded by O(agent_timeout); V(security) security labels; V(messages) libvirt's messages
        about the domain (tainting, deprecations); V(metadata) title, description, custom
        metadata elements and tags; V(flags) autostart, persistent, managed save, updated.
      - A group that cannot be read for a domain (a driver that lacks the call, an agent that does
        not answer) is reported in place as a dict with an C(error) message, so one guest does not fail the task.
    type: list
    elements: str
    default: [state, definition, flags]
    choices: [state, definition, xml, stats, block, jobs, vcpus, tuning, snapshots, checkpoints,
              addresses, guest, security, messages, metadata, flags]
  stats:
    description: The C(getAllDomainStats) groups read by O(gather=stats).
    type: list
    elements: str
    default: [state, cpu, balloon, vcpu, interface, block, perf, iothread, memory, dirtyrate]
    choices: [state, cpu, balloon, vcpu, interface, block, perf, iothread, memory, dirtyrate]
  address_sources:
    description:
      - Where O(gather=addresses) looks for addresses, in order. V(lease) needs a libvirt-managed
        network with DHCP; V(agent) a running guest agent; V(arp) the host's ARP table.
    type: list
    elements: str
    default: [lease, agent, arp]
    choices: [lease, agent, arp]
  agent_timeout:
    description: Seconds to wait for the guest agent (O(gather=guest)) before reporting it as not answering.
    type: float
    default: 5
  tags_namespace:
    description:
      - The XML namespace URI of a custom metadata element whose text holds tags (comma or space
        separated), returned as C(metadata.tags).
    type: str
    default: https://virtops.example.org/xmlns/tags/1.0
  parallel:
    description: How many domains are read at once for the per-domain groups.
    type: int
    default: 8
notes:
  - Never changes anything; it behaves the same in check mode.
seealso:
  - module: virtops.libvirt.domain_state
  - plugin: virtops.libvirt.libvirt
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: Which guests run on this host, and with what?
  virtops.libvirt.domain_info:
    states: [running]
    gather: [state, definition]
  register: running_guests

- name: Print each running guest's memory
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.definition.memory_kib // 1024 }} MiB"
  loop: "{{ running_guests.domains }}"

- name: Statistics and addresses of two guests (one bulk stats call)
  virtops.libvirt.domain_info:
    uri: qemu+ssh://root@kvm01.example.com/system
    name: [web01, web02]
    gather: [state, stats, addresses]
    stats: [cpu, balloon, interface, block]
    address_sources: [agent, lease]

- name: Ask the guest agent, without ever hanging on a dead one
  virtops.libvirt.domain_info:
    name: db01
    gather: [guest]
    agent_timeout: 3
  register: db01_guest
"""

RETURN = r"""
domains:
  description: One entry per domain, sorted by name (or in the order of O(name)).
  returned: always
  type: list
  elements: dict
  contains:
    name: {description: The domain's name., type: str, sample: web01}
    uuid: {description: The domain's UUID., type: str, sample: 4dea22b3-1d52-d8f3-2516-782e98ab3fa0}
    id:
      description: The hypervisor's id while running; null otherwise.
      type: int
      sample: 3
    state:
      description: One of nostate, running, blocked, paused, shutdown, shutoff, crashed, pmsuspended or absent.
      type: str
    reason: {description: Why it is in that state., type: str, sample: booted}
    persistent: {description: Whether a persistent definition exists., type: bool}
    autostart: {description: Whether it starts with the daemon., type: bool}
    has_managed_save: {description: Whether a managed save image exists., type: bool}
    definition:
      description: The definition summary (O(gather=definition)).
      type: dict
      returned: when requested
      sample:
        vcpus: 2
        memory_kib: 2097152
        os: {type: hvm, arch: x86_64, machine: pc-q35-7.2, boot: [hd]}
        disks: [{target: vda, bus: virtio, source: /var/lib/libvirt/images/web01.qcow2, format: qcow2}]
        interfaces: [{mac: "52:54:00:12:34:56", type: network, source: default, model: virtio}]
        guest_agent_channel: true
    stats:
      description:
        - The bulk statistics (O(gather=stats)), by group.
        - Indexed entries become lists (C(vcpus), C(interfaces), C(disks), C(iothreads), else C(list)).
      type: dict
      returned: when requested
      sample:
        cpu: {time: 3146231000, user: 2779553000, system: 366678000}
        balloon: {current: 262144, maximum: 262144}
        vcpu: {current: 1, maximum: 1, vcpus: [{index: 0, state: 1, time: 2860000000}]}
    addresses:
      description: The guest's addresses (O(gather=addresses)).
      type: list
      elements: dict
      returned: when requested
      sample: [{interface: eth0, mac: "52:54:00:12:34:56", address: 192.0.2.10, prefix: 24, family: ipv4, source: agent}]
    snapshots:
      description:
        - The snapshots (O(gather=snapshots)). C(list) holds one dict per snapshot, oldest first, with the
          keys of the C(snapshots) entries that M(virtops.libvirt.domain_snapshot) returns.
        - "The list is named C(list), not C(items), so that C(t.domain.snapshots.list | map(attribute='name'))
          works in Jinja (C(items) is a method of every dict)."
      type: dict
      returned: when requested
      contains:
        names:
          description: The snapshot names, oldest first.
          type: list
          elements: str
        current: {description: The current snapshot's name (null when none is current)., type: str}
        list:
          description: One dict per snapshot (name, parent, children, current, location, memory, disks...).
          type: list
          elements: dict
        roots: {description: The names of the snapshots without a parent., type: list, elements: str}
    checkpoints:
      description: The checkpoints (O(gather=checkpoints)), with the same keys as C(snapshots).
      type: dict
      returned: when requested
      contains:
        names:
          description: The checkpoint names, oldest first.
          type: list
          elements: str
        current: {description: Always null (checkpoints have no current one)., type: str}
        list:
          description: One dict per checkpoint (name, parent, children, creation_time, disks).
          type: list
          elements: dict
        roots: {description: The names of the checkpoints without a parent., type: list, elements: str}
    guest:
      description:
        - The guest agent's information (O(gather=guest)), nested by group. Indexed groups become lists,
          named C(list) (C(fs.list), C(user.list), C(disk.list), C(if.list)), each entry with its C(index).
      type: dict
      returned: when requested
      sample:
        hostname: web01
        fs: {count: 1, list: [{index: 0, name: vda1, mountpoint: /, fstype: ext4}]}
domain:
  description: The single entry of RV(domains), when O(name) is a single name or O(uuid) is set.
  returned: when one domain was asked for
  type: dict
"""

from ansible_collections.virtops.libvirt.plugins.module_utils._domain import ABSENT, STATE_NAMES, Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._facts import ADDRESS_SOURCES, STATS_GROUPS, absent_summary
from ansible_collections.virtops.libvirt.plugins.module_utils._gather import DEFAULT_GATHER, GATHER_GROUPS, GatherOptions, gather
from ansible_collections.virtops.libvirt.plugins.module_utils._module import DomainModule
from ansible_collections.virtops.libvirt.plugins.module_utils._targets import check_parallel, is_batch, resolve_targets

ARGUMENT_SPEC = dict(
    name=dict(type="raw"),
    uuid=dict(type="str"),
    states=dict(type="list", elements="str", choices=[*STATE_NAMES, ABSENT]),
    gather=dict(type="list", elements="str", default=list(DEFAULT_GATHER), choices=list(GATHER_GROUPS)),
    stats=dict(type="list", elements="str", default=list(STATS_GROUPS), choices=list(STATS_GROUPS)),
    address_sources=dict(type="list", elements="str", default=list(ADDRESS_SOURCES), choices=list(ADDRESS_SOURCES)),
    agent_timeout=dict(type="float", default=5),
    tags_namespace=dict(type="str", default="https://virtops.example.org/xmlns/tags/1.0"),
    parallel=dict(type="int", default=8),
)


def run(module):
    params = module.params
    parallel = check_parallel(params["parallel"])
    options = GatherOptions(gather=params["gather"], stats=params["stats"], address_sources=params["address_sources"],
                            agent_timeout=params["agent_timeout"], tags_namespace=params["tags_namespace"],
                            states=params["states"])
    every_domain = params["name"] is None and not params["uuid"]
    targets = [] if every_domain else resolve_targets(params["name"], params["uuid"], allow_empty=True)
    with module.connect() as connection:
        if every_domain:
            domains = gather(connection, None, options, parallel)
        else:
            found = [(target, Domain.find(connection, name=target.name, uuid=target.uuid)) for target in targets]
            present = [domain for _target, domain in found if domain is not None]
            by_name = {facts["name"]: facts for facts in gather(connection, present, options, parallel)}
            domains = [by_name[domain.name] if domain is not None else absent_summary(target.label)
                       for target, domain in found if domain is None or domain.name in by_name]
    if params["states"]:  # gather filtered the existing domains already; this also filters the absent ones
        domains = [domain for domain in domains if domain["state"] in params["states"]]
    result = {"domains": domains}
    if not every_domain and not is_batch(params["name"]) and domains:
        result["domain"] = domains[0]
    return result


def main():
    DomainModule(ARGUMENT_SPEC, mutually_exclusive=[("name", "uuid")]).run(run)


if __name__ == "__main__":
    main()
