# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading many libvirt hosts at once, for the inventory plugin.

Per host, whatever the number of domains: one connection for the state (getAllDomainStats) and
three listAllDomains calls, and at the same time a second one for the stats each QEMU gives.
Per-domain calls only for opt-in extras (addresses, guest info, metadata), run concurrently and
bounded in time. Hosts are read concurrently; an unreachable one is reported, not fatal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Optional
from urllib.parse import urlparse

from ansible_collections.virtops.libvirt.plugins.module_utils import _facts, _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestAgent
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import (
    Connection,
    ConnectionParams,
    redact_uri,
    resolve_uri,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import VirtopsError
from ansible_collections.virtops.libvirt.plugins.module_utils._parallel import TIMED_OUT, Background, bounded_map


HOST_KEYS = ("uri", "name", "auth_username", "auth_password")
HANDOVER_SECONDS = 0.5


@dataclass
class HostSpec:
    """One libvirt host of the inventory configuration."""

    uri: str
    name: Optional[str] = None
    auth_username: Optional[str] = None
    auth_password: Optional[str] = field(default=None, repr=False)

    @classmethod
    def from_config(cls, entry: Any) -> "HostSpec":
        """A URI or a dict of HOST_KEYS; ValueError otherwise.

        The message names keys and types only, never a value: the entry may hold a password.
        """
        if isinstance(entry, str):
            return cls(uri=entry)
        if not isinstance(entry, dict):
            raise ValueError(f"must be a URI or a dict with {', '.join(HOST_KEYS)}, not a {type(entry).__name__}")
        unknown = sorted(str(key) for key in entry if key not in HOST_KEYS)
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(unknown)}; expected some of {', '.join(HOST_KEYS)}")
        for key, value in entry.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{key} must be a string, not a {type(value).__name__}")
        return cls(uri=resolve_uri(entry.get("uri")), name=entry.get("name"),
                   auth_username=entry.get("auth_username"), auth_password=entry.get("auth_password"))

    def label(self) -> str:
        """The name the inventory uses for this host: the configured one, else the URI's host."""
        if self.name:
            return self.name
        parsed = urlparse(self.uri)
        return parsed.hostname or "localhost"


@dataclass
class FleetOptions:
    stats: list[str] = field(default_factory=lambda: ["state"])
    addresses: bool = False
    # Host-side sources first: with the agent first, the guest would choose where Ansible connects.
    address_sources: list[str] = field(default_factory=lambda: ["lease", "arp", "agent"])
    guest_info: bool = False
    metadata: bool = False
    tags_namespace: Optional[str] = None
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    parallel: int = 16
    timeout: float = 10

    def wants_extras(self) -> bool:
        return self.addresses or self.guest_info or self.metadata

    def wants(self, facts: dict[str, Any]) -> bool:
        name = facts["name"]
        if self.include and not any(fnmatchcase(name, pattern) for pattern in self.include):
            return False
        if any(fnmatchcase(name, pattern) for pattern in self.exclude):
            return False
        return not self.states or facts["state"] in self.states


def fetch_host(spec: HostSpec, options: FleetOptions, deadline: Optional[float] = None) -> dict[str, Any]:
    """The network part of reading a host: {"answer": BulkAnswer} or {"error": message}.

    Per-domain extras need the connection, so with extras the facts are built here too ("domains").
    Everything (connecting included) ends by `deadline` (time.monotonic(); default: options.timeout
    from now); a host that does not answer gives an error, not a hang.
    """
    deadline = deadline if deadline is not None else time.monotonic() + options.timeout
    params = ConnectionParams(uri=spec.uri, auth_username=spec.auth_username, auth_password=spec.auth_password,
                              readonly=not (options.addresses or options.guest_info),
                              connect_timeout=max(0.1, deadline - time.monotonic()))
    # The groups each QEMU gives are read at the same time on a connection of their own: a QEMU that does not
    # answer then costs those groups only, and no call is left running on a connection being closed.
    qemu_groups = _facts.qemu_groups(options.stats)
    qemu_read = Background(lambda: _read_stats(params, qemu_groups, deadline)) if qemu_groups else None
    try:
        with Connection(params, events=False) as connection:
            connection.limit_retries_to(deadline)
            # An inventory read every few seconds must not wait for the jobs of busy domains.
            answer = _facts.fetch_bulk(connection, ["state"], wait_for_jobs=False)
            if qemu_read is not None:
                answer.stats_error = _facts.merge_or_why_not(answer.records, qemu_read.result(deadline))
            if not options.wants_extras():
                return {"answer": answer}
            domains = [facts for facts in _facts.facts_from_bulk(answer, sort=True) if options.wants(facts)]
            _add_extras(connection, domains, options, deadline)
            return {"domains": domains}
    except VirtopsError as error:
        return {"error": error.message}


def _read_stats(params: ConnectionParams, groups: set[str], deadline: float) -> list[tuple[Any, dict[str, Any]]]:
    with Connection(params, events=False) as connection:
        connection.limit_retries_to(deadline)
        return _facts.fetch_stats(connection, groups, wait_for_jobs=False)


def build_host_record(spec: HostSpec, options: FleetOptions, fetched: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"host": spec.label(), "uri": redact_uri(spec.uri)}
    if "error" in fetched:
        record["error"] = fetched["error"]
    elif "domains" in fetched:
        record["domains"] = fetched["domains"]
    else:
        record["domains"] = [facts for facts in _facts.facts_from_bulk(fetched["answer"], sort=True)
                             if options.wants(facts)]
    return record


def read_hosts(specs: list[HostSpec], options: FleetOptions) -> list[dict[str, Any]]:
    """Every host at once, each within options.timeout; results in the configured order.

    Threads only wait on the network; the facts are built afterwards in this thread (see
    _facts.facts_from_bulk for why). A host that has not answered by the deadline is reported
    as an error; its thread is left behind (a daemon thread, it cannot keep the process alive).
    """
    deadline = time.monotonic() + options.timeout
    # A host finishing its extras right at the deadline still needs a moment to hand them over.
    fetched = bounded_map(lambda spec: fetch_host(spec, options, deadline), specs, len(specs) or 1,
                          options.timeout + HANDOVER_SECONDS)
    records = []
    for spec, result in zip(specs, fetched):
        if result is TIMED_OUT:
            result = {"error": f"no answer within {options.timeout:g} s"}
        elif isinstance(result, Exception):
            result = {"error": str(result)}
        records.append(build_host_record(spec, options, result))
    return records


def _add_extras(connection: Connection, domains: list[dict[str, Any]], options: FleetOptions,
                deadline: float) -> None:
    """Per-domain opt-in facts, concurrently, until `deadline`; a domain that does not answer in time gets none."""
    if not options.wants_extras():
        return

    def extras(facts: dict[str, Any]) -> dict[str, Any]:
        domain = Domain.lookup(connection, uuid=facts["uuid"])
        found: dict[str, Any] = {}
        if options.metadata:
            root = _xml.parse(domain.xml_desc(0), "domain XML")
            found["metadata"] = _facts.metadata_summary(root, options.tags_namespace)
        if facts["state"] == "running":
            if options.addresses:
                found["addresses"] = _facts.read_addresses(domain, options.address_sources)
            if options.guest_info:
                found["guest"] = _facts.nest_stats(GuestAgent(domain).guest_info())
        return found

    results = bounded_map(extras, domains, options.parallel, max(0.0, deadline - time.monotonic()))
    for facts, result in zip(domains, results):
        if isinstance(result, dict):
            facts.update(result)
        else:
            facts["extras_error"] = "no answer in time" if result is TIMED_OUT else str(result)
