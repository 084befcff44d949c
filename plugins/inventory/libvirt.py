# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: libvirt
short_description: Libvirt guest domains as inventory hosts, read in bulk from many hypervisors
version_added: 0.1.0
description:
  - Lists the domains of one or more libvirt hosts as inventory hosts, queried concurrently.
  - Per libvirt host it costs a handful of round trips whatever the number of domains
    (C(getAllDomainStats) plus three C(listAllDomains) calls on one connection, and
    C(getAllDomainStats) for the O(stats) groups each QEMU gives on a second one); per-domain calls
    happen only for the opt-in extras O(addresses), O(guest_info) and O(metadata), concurrently and
    bounded by O(timeout).
  - Host variables come from the same facts code as the C(virtops.libvirt.domain_info) module.
  - Every string a guest or a user wrote (names, titles, tags, addresses, guest info) is marked
    unsafe, so it is never templated.
  - Configuration files must end in C(libvirt.yml) or C(libvirt.yaml).
author:
  - virtops maintainers (@virtops)
requirements:
  - libvirt-python >= 9.0.0
  - lxml >= 4.9
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin.
    type: str
    required: true
    choices: [virtops.libvirt.libvirt]
  hosts:
    description:
      - The libvirt hosts to read. Each entry is a URI, or a dict with C(uri) and optionally C(name)
        (the host's name in groups and host variables; default the URI's host name, or
        C(localhost)), C(auth_username) and C(auth_password) (SASL credentials).
      - Default is one host, E(LIBVIRT_DEFAULT_URI) or V(qemu:///system).
    type: list
    elements: raw
  hostname:
    description:
      - The inventory name of each domain. V(name) (the domain name), V(uuid), or a pattern with the
        placeholders C({{ name }}), C({{ uuid }}) and C({{ host }}), such as V({{ host }}_{{ name }}).
        Only these are substituted; nothing else is templated.
      - Two domains that would get the same inventory name never overwrite each other, the later
        one (in O(hosts) order) gets C(_<host>) appended, with a warning.
    type: str
    default: name
  stats:
    description:
      - The C(getAllDomainStats) groups to read for every domain, in C(libvirt_stats).
      - The groups other than V(state) are asked of each running QEMU, in a second bulk call made at
        the same time as the first, on a second connection. A QEMU that does not answer (one saving
        an internal snapshot answers nothing until it is done) does not hold up the host. When that
        call has not answered within O(timeout), the domains are listed without these groups and
        C(libvirt_stats_error) says why.
    type: list
    elements: str
    default: [state, cpu, balloon, vcpu, interface, block]
    choices: [state, cpu, balloon, vcpu, interface, block, perf, iothread, memory, dirtyrate]
  addresses:
    description:
      - Read each running domain's IP addresses (C(libvirt_addresses)) and set C(ansible_host)
        to the first one found in O(address_sources) order.
    type: bool
    default: false
  address_sources:
    description:
      - Where to look for addresses, in order of preference. V(lease) (the DHCP leases of libvirt's
        networks) and V(arp) (the host's ARP table) are what the host sees; V(agent) is what the
        guest agent reports.
      - With V(agent) the guest chooses where Ansible connects, since a compromised or untrusted
        guest can report any address (another guest's, a host on the management network). The
        default therefore tries the host-side sources first and the agent last; put V(agent) first
        only for guests you trust.
    type: list
    elements: str
    default: [lease, arp, agent]
    choices: [lease, agent, arp]
  prefer_ipv4:
    description: Prefer an IPv4 address for C(ansible_host) over an IPv6 one from the same source.
    type: bool
    default: true
  guest_info:
    description: Read guest information through each running domain's guest agent (C(libvirt_guest)).
    type: bool
    default: false
  metadata:
    description:
      - Read each domain's title, description, custom metadata elements and tags (C(libvirt_metadata));
        tags also become groups C(<group_prefix>tag_<tag>).
    type: bool
    default: false
  tags_namespace:
    description: The XML namespace URI of the custom metadata element that holds tags.
    type: str
    default: https://virtops.example.org/xmlns/tags/1.0
  include:
    description: Only domains whose name matches one of these shell patterns.
    type: list
    elements: str
    default: []
  exclude:
    description: Leave out domains whose name matches one of these shell patterns.
    type: list
    elements: str
    default: []
  states:
    description: Only domains in these states.
    type: list
    elements: str
    default: []
    choices: [nostate, running, blocked, paused, shutdown, shutoff, crashed, pmsuspended]
  group_prefix:
    description: Prefix of the groups this plugin creates (by state, host, autostart and tag).
    type: str
    default: libvirt_
  timeout:
    description:
      - Seconds allowed for reading one libvirt host, everything included (connecting, the bulk
        reads, the per-domain extras of all its domains). Hosts are read at the same time, so the
        whole source takes about this long at most.
      - A host that has not answered by then, such as a hung daemon, is named in a warning (or
        fails the source with O(strict_hosts)) and the others are listed. Stats groups and per-domain
        extras not read by then are left out for those domains, with C(libvirt_stats_error) or
        C(libvirt_extras_error) saying why.
      - After connecting, libvirt keepalive messages detect a daemon that stops answering.
    type: float
    default: 10
  parallel:
    description: How many per-domain extras run at once on one host.
    type: int
    default: 16
  strict_hosts:
    description:
      - Fail when a libvirt host cannot be read. By default the other hosts are still listed and a
        warning names the one that failed.
      - Ansible treats a failed source as one it could not parse. By default it warns and carries on
        without any host of this source, so C(ansible-inventory) and C(ansible-playbook) still
        succeed. To make them stop, also set Ansible's C(unparsed_is_failed) in the C([inventory])
        section of C(ansible.cfg) (or C(ANSIBLE_INVENTORY_UNPARSED_FAILED)), or C(any_unparsed_is_failed)
        (C(ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED)) when there are several sources.
    type: bool
    default: false
"""

EXAMPLES = r"""
# fleet.libvirt.yml: every guest of two hypervisors, running ones reachable at the address the
# host sees (DHCP lease, then ARP), grouped by memory size (GiB) and by tag
plugin: virtops.libvirt.libvirt
hosts:
  - uri: qemu+ssh://root@kvm01.example.com/system
    name: kvm01
  - uri: qemu+tls://kvm02.example.com/system
    name: kvm02
hostname: "{{ host }}_{{ name }}"
addresses: true
metadata: true
keyed_groups:
  # A group name must be a string: convert the number.
  - key: (libvirt_stats.balloon.maximum // 1048576) | string
    prefix: mem_gib
compose:
  ansible_user: "'root'"

---
# web.libvirt.yml: only running web guests of the local host, cached for 10 minutes
plugin: virtops.libvirt.libvirt
include: ["web*"]
states: [running]
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: /var/tmp/ansible-libvirt-cache
cache_timeout: 600

---
# lab.libvirt.yml: trusted lab guests, addressed by what their guest agent reports (the guest
# chooses ansible_host: only for guests you trust), with a host that may be down
plugin: virtops.libvirt.libvirt
hosts:
  - qemu+ssh://root@lab01.example.com/system
addresses: true
address_sources: [agent, lease, arp]
guest_info: true
timeout: 20
groups:
  debian: libvirt_guest.os.id | default('') == 'debian'
"""

import re

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.virtops.libvirt.plugins.module_utils._connection import LIBVIRT_IMPORT_ERROR
from ansible_collections.virtops.libvirt.plugins.module_utils._facts import pick_address
from ansible_collections.virtops.libvirt.plugins.module_utils._fleet import FleetOptions, HostSpec, read_hosts
from ansible_collections.virtops.libvirt.plugins.module_utils._xml import LXML_IMPORT_ERROR

VARIABLE_PREFIX = "libvirt_"
FACT_KEYS = ("name", "uuid", "id", "state", "reason", "persistent", "autostart", "has_managed_save", "stats",
             "stats_error", "addresses", "guest", "metadata", "extras_error")


def safe_group_name(name):
    """Letters, digits and underscores only, never starting with a digit (UUIDs, host names...)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", str(name))
    return cleaned if cleaned and not cleaned[0].isdigit() else f"_{cleaned}"


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "virtops.libvirt.libvirt"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("libvirt.yml", "libvirt.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        for library, error in (("libvirt-python", LIBVIRT_IMPORT_ERROR), ("lxml", LXML_IMPORT_ERROR)):
            if error is not None:
                raise AnsibleError(f"the {self.NAME} inventory plugin needs the Python library {library}")
        records = self._records(path, cache)
        self._populate(records)

    # -- reading, with the cache --

    def _records(self, path, cache):
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        if use_cache:
            try:
                return self._cache[cache_key]
            except KeyError:
                pass
        records = read_hosts(self._host_specs(), self._fleet_options())
        if self.get_option("cache"):
            self._cache[cache_key] = records
        return records

    def _host_specs(self):
        entries = self.get_option("hosts") or [{"uri": None}]
        specs = []
        for number, entry in enumerate(entries, start=1):
            try:
                specs.append(HostSpec.from_config(entry))
            except ValueError as error:
                # The message names keys only: printing the entry would print its auth_password.
                raise AnsibleParserError(f"{self.NAME}: entry {number} of hosts: {to_native(error)}") from None
        return specs

    def _fleet_options(self):
        return FleetOptions(
            stats=self.get_option("stats"), addresses=self.get_option("addresses"),
            address_sources=self.get_option("address_sources"), guest_info=self.get_option("guest_info"),
            metadata=self.get_option("metadata"), tags_namespace=self.get_option("tags_namespace"),
            include=self.get_option("include"), exclude=self.get_option("exclude"),
            states=self.get_option("states"), parallel=self.get_option("parallel"), timeout=self.get_option("timeout"),
        )

    # -- populating --

    def _populate(self, records):
        taken = {}
        for record in records:
            if "error" in record:
                self._host_failed(record)
                continue
            for facts in record["domains"]:
                inventory_name = self._unique_name(self._inventory_name(facts, record["host"]), record["host"], taken)
                self._add_domain(inventory_name, facts, record)

    def _host_failed(self, record):
        message = f"libvirt host {record['host']} ({record['uri']}) could not be read: {record['error']}"
        if self.get_option("strict_hosts"):
            raise AnsibleError(message)
        self.display.warning(message)

    def _inventory_name(self, facts, host):
        pattern = self.get_option("hostname")
        if pattern in ("name", "uuid"):
            return facts[pattern]
        values = {"name": facts["name"], "uuid": facts["uuid"], "host": host}

        # Only these placeholders are substituted: a guest-chosen name is never templated.
        def substitute(match):
            return values[match.group(1)]

        unknown = {used.strip() for used in re.findall(r"{{(.*?)}}", pattern)} - set(values)
        if unknown:
            raise AnsibleParserError(f"{self.NAME}: hostname {pattern!r} may only use {{{{ name }}}}, {{{{ uuid }}}} "
                                     f"and {{{{ host }}}}, not {', '.join(sorted(unknown))}")
        return re.sub(r"{{\s*(name|uuid|host)\s*}}", substitute, pattern)

    def _unique_name(self, name, host, taken):
        if name not in taken:
            taken[name] = host
            return name
        renamed = f"{name}_{host}"
        self.display.warning(
            f"domain {name} of libvirt host {host} has the same inventory name as one of host {taken[name]}; "
            f"it is listed as {renamed}")
        taken[renamed] = host
        return renamed

    def _add_domain(self, inventory_name, facts, record):
        self.inventory.add_host(inventory_name)
        variables = {f"{VARIABLE_PREFIX}{key}": facts[key] for key in FACT_KEYS if key in facts}
        variables[f"{VARIABLE_PREFIX}host"] = record["host"]
        variables[f"{VARIABLE_PREFIX}uri"] = record["uri"]
        if self.get_option("addresses"):
            address = pick_address(facts.get("addresses", []), self.get_option("address_sources"),
                                   self.get_option("prefer_ipv4"))
            if address:
                variables["ansible_host"] = address
        # Everything from a host or guest is wrapped once, before any templating: compose, groups
        # and keyed_groups see only these (ansible-core before 2.19 templates unwrapped strings).
        wrapped = {key: wrap_var(value) for key, value in variables.items()}
        for key, value in wrapped.items():
            self.inventory.set_variable(inventory_name, key, value)
        for group in self._groups_of(facts, record["host"]):
            self.inventory.add_group(group)
            self.inventory.add_child(group, inventory_name)
        strict = self.get_option("strict")
        self._set_composite_vars(self.get_option("compose"), wrapped, inventory_name, strict=strict)
        self._add_host_to_composed_groups(self.get_option("groups"), wrapped, inventory_name, strict=strict)
        self._add_host_to_keyed_groups(self.get_option("keyed_groups"), wrapped, inventory_name, strict=strict)

    def _groups_of(self, facts, host):
        prefix = self.get_option("group_prefix")
        groups = [f"{prefix}{facts['state']}", f"{prefix}host_{host}"]
        if facts.get("autostart"):
            groups.append(f"{prefix}autostart")
        groups.extend(f"{prefix}tag_{tag}" for tag in facts.get("metadata", {}).get("tags", []))
        return [safe_group_name(group) for group in groups]
