# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""API answers -> plain dicts, so every module and the inventory say the same thing the same way.

Bulk reads (`bulk_facts`) cost a handful of round trips per host whatever the number of
domains: one getAllDomainStats plus one listAllDomains per flag. Per-domain extras are separate
functions, called only for what a task or inventory asks for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._agent import AGENT_CHANNEL
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._disks import disks_of
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import (
    ABSENT,
    Domain,
    name_and_uuid,
    running_id,
    state_from_codes,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, or_in_place
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag
from ansible_collections.virtops.libvirt.plugins.module_utils._parallel import TIMED_OUT

# getAllDomainStats groups by the names users give them.
STATS_GROUPS = {
    "state": "VIR_DOMAIN_STATS_STATE", "cpu": "VIR_DOMAIN_STATS_CPU_TOTAL", "balloon": "VIR_DOMAIN_STATS_BALLOON",
    "vcpu": "VIR_DOMAIN_STATS_VCPU", "interface": "VIR_DOMAIN_STATS_INTERFACE", "block": "VIR_DOMAIN_STATS_BLOCK",
    "perf": "VIR_DOMAIN_STATS_PERF", "iothread": "VIR_DOMAIN_STATS_IOTHREAD", "memory": "VIR_DOMAIN_STATS_MEMORY",
    "dirtyrate": "VIR_DOMAIN_STATS_DIRTYRATE",
}
# Indexed stats ("vcpu.0.time") become lists under these names, others under LIST_NAME ("fs.0.name"
# of guest info -> fs.list): never "items", which Jinja resolves to a dict's .items method.
LIST_NAMES = {"vcpu": "vcpus", "net": "interfaces", "block": "disks", "iothread": "iothreads"}
LIST_NAME = "list"
ADDRESS_SOURCES = {"lease": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE",
                   "agent": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT",
                   "arp": "VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP"}


# --- summaries ------------------------------------------------------------------------------------


def absent_summary(name: str) -> dict[str, Any]:
    """The facts of a domain that does not exist."""
    return {
        "name": name, "uuid": None, "id": None, "state": ABSENT, "reason": None, "persistent": False,
        "autostart": False, "has_managed_save": False,
    }


def domain_summary(domain: Domain) -> dict[str, Any]:
    """Name, identity, state and the flags users act on (a few calls on one domain)."""
    current = domain.state()
    if current.state == ABSENT:
        return absent_summary(domain.name)
    persistent = domain.is_persistent()
    return {
        "name": domain.name,
        "uuid": domain.uuid,
        "id": domain.id(),
        "state": current.state,
        "reason": current.reason,
        "persistent": persistent,
        "autostart": domain.autostart() if persistent else False,
        "has_managed_save": domain.has_managed_save() if persistent else False,
    }


# --- getAllDomainStats ---------------------------------------------------------------------------


def stats_flags(groups: Iterable[str]) -> int:
    """The getAllDomainStats flags of `groups`; a group this libvirt lacks is an error, not silently 0."""
    value = 0
    for group in groups:
        if group not in STATS_GROUPS:
            raise InvalidArgument(f"unknown stats group '{group}'; expected some of {', '.join(STATS_GROUPS)}")
        value |= flag(STATS_GROUPS[group], needed_for=f"stats group {group}")
    return value


@lru_cache(maxsize=8192)
def _stats_path(key: str) -> tuple[Any, ...]:
    """ "vcpu.0.time" -> ("vcpu", 0, "time"); the same keys recur for every domain, hence the cache."""
    return tuple(int(part) if part.isdigit() else part.replace("-", "_") for part in key.split("."))


def nest_stats(record: dict[str, Any]) -> dict[str, Any]:
    """{"vcpu.0.time": 1, "balloon.last-update": 2} -> {"vcpu": {"vcpus": [{"index": 0, "time": 1}]}, ...}.

    Runs once per domain per host read, so it is written for speed: no recursion while inserting.
    """
    nested: dict[Any, Any] = {}
    for key, value in record.items():
        path = _stats_path(key)
        node = nested
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):  # "a" and "a.b" both present: keep the scalar under "value"
                child = node[part] = {"value": child}
            node = child
        if isinstance(node.get(path[-1]), dict):
            node[path[-1]]["value"] = value
        else:
            node[path[-1]] = value
    state = nested.get("state")
    if isinstance(state, dict) and isinstance(state.get("state"), int):
        named = state_from_codes(state["state"], state.get("reason", 0))
        state.update(state=named.state, reason=named.reason)
    return {_top_name(name): _listify(name, value) for name, value in nested.items()}


def _top_name(name: str) -> str:
    return {"net": "interface"}.get(name, name)


def _listify(name: Any, value: Any) -> Any:
    """Turn the numeric keys of a group ({0: {...}, 1: {...}}) into a list of dicts with an index."""
    if not isinstance(value, dict):
        return value
    converted = {}
    items = []
    for key, item in value.items():
        if isinstance(key, int):
            entry = _listify(key, item)
            items.append({"index": key, **entry} if isinstance(entry, dict) else {"index": key, "value": entry})
        else:
            converted[key] = _listify(key, item)
    if items:
        items.sort(key=lambda entry: entry["index"])
        converted[LIST_NAMES.get(name, LIST_NAME)] = items
    return converted


# --- bulk reads for many domains -----------------------------------------------------------------


def _names_with(connection: Connection, flag_name: str) -> Optional[set[str]]:
    """Names of the domains listAllDomains returns for one flag; None if this libvirt lacks it."""
    flag_value = getattr(libvirt, flag_name, None)
    if flag_value is None:
        return None
    listed = connection.list_all_domains(flag_value, f"domains ({flag_name})")
    return {name_and_uuid(virdomain)[0] for virdomain in listed}


@dataclass
class BulkAnswer:
    """What the bulk calls returned, before any per-domain work."""

    records: list[tuple[Any, dict[str, Any]]]
    autostart: set[str] = field(default_factory=set)
    transient: set[str] = field(default_factory=set)
    managed_save: set[str] = field(default_factory=set)
    stats_error: Optional[str] = None  # why the groups read from each QEMU (qemu_groups) are missing


def fetch_bulk(connection: Connection, stats: Iterable[str] = ("state",),
               domains: Optional[list[Domain]] = None, *, wait_for_jobs: bool = True) -> BulkAnswer:
    """One bulk stats call and three list calls: the network part of bulk_facts.

    Without `wait_for_jobs`, a domain busy with a job (starting, a snapshot...) gets the stats that need
    no job at once; otherwise the daemon waits for each busy domain's job in turn, for seconds under load.
    """
    if domains is not None and not domains:
        return BulkAnswer(records=[])
    records = fetch_stats(connection, set(stats) | {"state"}, domains, wait_for_jobs=wait_for_jobs)
    # Each list holds the few exceptions (transient domains, autostart, managed saves), not the
    # thousands of ordinary domains: large lists cost the daemon and us time per domain.
    return BulkAnswer(
        records=records,
        autostart=_names_with(connection, "VIR_CONNECT_LIST_DOMAINS_AUTOSTART") or set(),
        transient=_names_with(connection, "VIR_CONNECT_LIST_DOMAINS_TRANSIENT") or set(),
        managed_save=_names_with(connection, "VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE") or set(),
    )


def fetch_stats(connection: Connection, groups: Iterable[str], domains: Optional[list[Domain]] = None, *,
                wait_for_jobs: bool = True) -> list[tuple[Any, dict[str, Any]]]:
    """The (virDomain, record) pairs of one bulk stats call: every domain (None) or those given."""
    flags = 0 if wait_for_jobs else flag("VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT", needed_for="bulk stats without waiting")
    if domains is None:
        return connection.get_all_domain_stats(stats_flags(groups), flags)
    return connection.domain_list_get_stats([domain.virdomain for domain in domains], stats_flags(groups), flags)


def qemu_groups(stats: Iterable[str]) -> set[str]:
    """The groups of `stats` libvirt asks each running QEMU for: all but the state, which it knows itself.

    A QEMU saving an internal snapshot answers nothing until it is done (minutes for a large guest), and
    libvirt lets a stats query wait for it although the snapshot holds the domain's job.
    """
    return set(stats) - {"state"}


def merge_or_why_not(records: list[tuple[Any, dict[str, Any]]], other_read: Any) -> Optional[str]:
    """Add the records of another stats read (a Background result) to `records`, by domain; None, or why
    not: it had not answered in time, or failed (in place, except a lost connection, which is raised)."""
    if other_read is TIMED_OUT:
        return "no answer in time"
    return or_in_place(lambda: _merge_records(records, _raised(other_read)), lambda error: error.message)


def _raised(result: Any) -> Any:
    """A Background result, with the exception the call raised raised here."""
    if isinstance(result, Exception):
        raise result
    return result


def _merge_records(records: list[tuple[Any, dict[str, Any]]], more: list[tuple[Any, dict[str, Any]]]) -> None:
    by_uuid = {name_and_uuid(virdomain)[1]: record for virdomain, record in more}
    for virdomain, record in records:
        record.update(by_uuid.get(name_and_uuid(virdomain)[1], {}))


def facts_from_bulk(answer: BulkAnswer, sort: bool = False) -> list[dict[str, Any]]:
    """The facts of each domain of a bulk answer; no network, so it also works after the close.

    Reading many hosts, call it after the threads that fetch are done: its thousands of short
    calls into libvirt-python each hand the GIL over, which threads running Python code turn
    into a convoy.
    """
    facts = []
    for virdomain, record in answer.records:
        name, uuid = name_and_uuid(virdomain)
        nested = nest_stats(record)
        state = nested.get("state", {})
        facts.append({
            "name": name,
            "uuid": uuid,
            "id": running_id(virdomain),
            "state": state.get("state"),
            "reason": state.get("reason"),
            "persistent": name not in answer.transient,
            "autostart": name in answer.autostart,
            "has_managed_save": name in answer.managed_save,
            "stats": {group: value for group, value in nested.items() if group != "state"},
        })
        if answer.stats_error:
            facts[-1]["stats_error"] = answer.stats_error
    if sort:
        facts.sort(key=lambda item: item["name"])
    return facts


def bulk_facts(connection: Connection, stats: Iterable[str] = ("state",),
               domains: Optional[list[Domain]] = None) -> list[dict[str, Any]]:
    """Facts of the domains (None: every domain, by name; else in the order given)."""
    return facts_from_bulk(fetch_bulk(connection, stats, domains), sort=domains is None)


# --- the definition -------------------------------------------------------------------------------


def to_int(text: Optional[str]) -> Optional[int]:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _kib(element) -> Optional[int]:
    if element is None:
        return None
    size = _xml.scaled_bytes(element)
    return None if size is None else size // 1024


def _interface(interface) -> dict[str, Any]:
    source = interface.find("source")
    model = interface.find("model")
    mac = interface.find("mac")
    target = interface.find("target")
    source_name = None
    if source is not None:
        source_name = source.get("network") or source.get("bridge") or source.get("dev") or source.get("path")
    return {
        "mac": None if mac is None else mac.get("address"),
        "type": interface.get("type"),
        "source": source_name,
        "model": None if model is None else model.get("type"),
        "target": None if target is None else target.get("dev"),
    }


def definition_summary(root) -> dict[str, Any]:
    """The parts of a domain definition people look at, from its XML."""
    os_type = root.find("os/type")
    vcpu = root.find("vcpu")
    devices = root.find("devices")
    devices = devices if devices is not None else root.makeelement("devices", {})
    return {
        "type": root.get("type"),
        "vcpus": to_int(vcpu.text) if vcpu is not None else None,
        "current_vcpus": to_int(vcpu.get("current")) if vcpu is not None and vcpu.get("current") else None,
        "memory_kib": _kib(root.find("memory")),
        "current_memory_kib": _kib(root.find("currentMemory")),
        "os": {
            "type": None if os_type is None else (os_type.text or "").strip(),
            "arch": None if os_type is None else os_type.get("arch"),
            "machine": None if os_type is None else os_type.get("machine"),
            "firmware": root.find("os").get("firmware") if root.find("os") is not None else None,
            "boot": [boot.get("dev") for boot in root.iterfind("os/boot")],
            "kernel": _xml.element_text(root, "os/kernel"),
        },
        "disks": [disk.summary() for disk in disks_of(root)],
        "interfaces": [_interface(interface) for interface in devices.iterfind("interface")],
        "graphics": [
            {"type": graphics.get("type"), "port": to_int(graphics.get("port")), "listen": graphics.get("listen")}
            for graphics in devices.iterfind("graphics")
        ],
        "guest_agent_channel": any(
            channel.find("target") is not None and channel.find("target").get("name") == AGENT_CHANNEL
            for channel in devices.iterfind("channel")
        ),
    }


def metadata_summary(root, tags_namespace: Optional[str] = None) -> dict[str, Any]:
    """Title, description, custom metadata elements (by namespace URI) and tags."""
    custom = {}
    tags: list[str] = []
    metadata = root.find("metadata")
    for element in (metadata if metadata is not None else []):
        if not isinstance(element.tag, str) or not element.tag.startswith("{"):
            continue
        namespace = element.tag[1:].split("}", 1)[0]
        custom[namespace] = _xml.to_string(element, pretty=False)
        if namespace == tags_namespace:
            tags.extend(split_tags(element.text))
    return {
        "title": _xml.element_text(root, "title"),
        "description": _xml.element_text(root, "description"),
        "custom": custom,
        "tags": tags,
    }


def split_tags(text: Optional[str]) -> list[str]:
    return [tag for tag in re.split(r"[\s,]+", text or "") if tag]


# --- addresses ------------------------------------------------------------------------------------


def addresses_from(answer: dict[str, Any], source: str) -> list[dict[str, Any]]:
    """virDomainInterfaceAddresses' answer -> one dict per address."""
    found = []
    for interface, details in sorted((answer or {}).items()):
        for address in details.get("addrs") or []:
            family = "ipv6" if address.get("type") == getattr(libvirt, "VIR_IP_ADDR_TYPE_IPV6", 1) else "ipv4"
            found.append({
                "interface": interface, "mac": details.get("hwaddr"), "address": address.get("addr"),
                "prefix": address.get("prefix"), "family": family, "source": source,
            })
    return found


def pick_address(addresses: list[dict[str, Any]], sources: list[str], prefer_ipv4: bool = True,
                 ) -> Optional[str]:
    """The first usable address by source order, IPv4 first when preferred; never loopback."""
    usable = [a for a in addresses if a["address"] and not _is_loopback(a["address"])]
    families = ("ipv4", "ipv6") if prefer_ipv4 else ("ipv6", "ipv4")
    for source in sources:
        for family in families:
            for address in usable:
                if address["source"] == source and address["family"] == family:
                    return address["address"]
    return None


def _is_loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1" or address.startswith("fe80:")


def read_addresses(domain: Domain, sources: Iterable[str]) -> list[dict[str, Any]]:
    """Addresses of a running domain from each source; a source that cannot answer gives none."""
    found: list[dict[str, Any]] = []
    for source in sources:
        # An agent that is not running or a network without leases is not an error here:
        # the other sources may still answer.
        answer = or_in_place(lambda source=source: domain.details.interface_addresses(
            getattr(libvirt, ADDRESS_SOURCES[source]), source), lambda _error: None)
        if answer is not None:
            found.extend(addresses_from(answer, source))
    return found
