# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_info's gather groups: which calls each group makes, and the dicts it returns.

The base facts and stats of all requested domains come from one bulk call (_facts.bulk_facts);
every other group costs calls per domain and runs only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _facts, _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestAgent
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._disks import disks_of
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, WaitTimeout, or_in_place
from ansible_collections.virtops.libvirt.plugins.module_utils._jobs import JobCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._parallel import TIMED_OUT, bounded_map, map_or_raise
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_facts import list_checkpoints, list_snapshots

GATHER_GROUPS = (
    "state", "definition", "xml", "stats", "block", "jobs", "vcpus", "tuning", "snapshots", "checkpoints",
    "addresses", "guest", "security", "messages", "metadata", "flags",
)
DEFAULT_GATHER = ("state", "definition", "flags")
BASE_KEYS = ("name", "uuid", "id", "state", "reason", "persistent", "autostart", "has_managed_save")


@dataclass
class GatherOptions:
    gather: list[str] = field(default_factory=lambda: list(DEFAULT_GATHER))
    stats: list[str] = field(default_factory=lambda: list(_facts.STATS_GROUPS))
    address_sources: list[str] = field(default_factory=lambda: ["lease", "agent", "arp"])
    agent_timeout: float = 5
    tags_namespace: Optional[str] = None
    states: Optional[list[str]] = None  # only domains in these states get per-domain reads (None: all)

    def validate(self) -> None:
        unknown = sorted(set(self.gather) - set(GATHER_GROUPS))
        if unknown:
            raise InvalidArgument(f"gather: unknown group(s) {', '.join(unknown)}; expected some of {', '.join(GATHER_GROUPS)}")
        unknown_stats = sorted(set(self.stats) - set(_facts.STATS_GROUPS))
        if unknown_stats:
            raise InvalidArgument(f"unknown stats group '{unknown_stats[0]}'; expected some of "
                                  f"{', '.join(_facts.STATS_GROUPS)}")
        if "stats" in self.gather:
            _facts.stats_flags(self.stats)  # a group this libvirt lacks fails only when stats are read
        if self.agent_timeout <= 0:
            raise InvalidArgument(f"agent_timeout must be positive (got {self.agent_timeout:g})")


class DomainReader:
    """Per-domain reads for one domain, sharing its XML between the groups that need it."""

    def __init__(self, domain: Domain, facts: dict[str, Any], options: GatherOptions) -> None:
        self.domain = domain
        self.facts = facts
        self.options = options
        self._root = None

    @property
    def active(self) -> bool:
        return self.facts["state"] not in ("shutoff", "absent")

    def root(self):
        if self._root is None:
            self._root = _xml.parse(self.domain.xml_desc(0), "domain XML")
        return self._root

    def disk_targets(self) -> list[str]:
        return [disk.target for disk in disks_of(self.root()) if disk.target]

    # -- one method per gather group --

    def definition(self) -> dict[str, Any]:
        return _facts.definition_summary(self.root())

    def xml(self) -> str:
        return self.domain.xml_desc(0)

    def metadata(self) -> dict[str, Any]:
        return _facts.metadata_summary(self.root(), self.options.tags_namespace)

    def flags(self) -> dict[str, Any]:
        return {
            "autostart": self.facts["autostart"],
            "persistent": self.facts["persistent"],
            "has_managed_save": self.facts["has_managed_save"],
            "updated": self.domain.details.is_updated(),
        }

    def block(self) -> dict[str, Any]:
        disks = {}
        for target in self.disk_targets():
            disks[target] = or_in_place(lambda target=target: self._block_info(target),
                                        lambda error: {"error": error.message})
        errors = self.domain.details.disk_errors() if self.active else {}
        return {"disks": disks, "errors": {target: _disk_error_name(code) for target, code in errors.items()}}

    def jobs(self) -> dict[str, Any]:
        """The current job's statistics, and the control interface's state (is a job holding it?)."""
        if not self.active:
            return {"type": "none"}
        stats = JobCalls(self.domain).job_stats()
        stats["type"] = stats.pop("type_name", stats.get("type"))
        found = {_facts_key(key): value for key, value in stats.items()}
        state, details, since = self.domain.details.control_info()
        found["control"] = {"state": _CONTROL_STATES.get(state, state), "details": details, "state_time_ms": since}
        return found

    def vcpus(self) -> dict[str, Any]:
        details, flags = self.domain.details, _config_or_live(self.active)
        found: dict[str, Any] = {"pinning": [list(cpus) for cpus in details.vcpu_pin_info(flags)]}
        if self.active:
            info, _pinning = details.vcpus()
            found["vcpus"] = [{"number": number, "state": _VCPU_STATES.get(state, state), "cpu_time": cpu_time,
                               "cpu": cpu} for number, state, cpu_time, cpu in info]
        found["emulator_pinning"] = list(details.emulator_pin_info(flags))
        found["iothreads"] = [{"id": thread_id, "pinning": list(cpus)} for thread_id, cpus in details.io_thread_info(flags)]
        return found

    def tuning(self) -> dict[str, Any]:
        details, flags = self.domain.details, _config_or_live(self.active)
        found = {
            "memory": self._optional(details.memory_parameters, flags),
            "blkio": self._optional(details.blkio_parameters, flags),
            "numa": self._optional(details.numa_parameters, flags),
            "scheduler": self._optional(details.scheduler_parameters_flags, flags),
            "perf": self._optional(details.perf_events, flags),
        }
        found["block_iotune"] = {target: self._optional(details.block_io_tune, target, flags)
                                 for target in self.disk_targets()}
        return found

    def _block_info(self, target: str) -> dict[str, int]:
        capacity, allocation, physical = self.domain.details.block_info(target)
        return {"capacity": capacity, "allocation": allocation, "physical": physical}

    @staticmethod
    def _optional(read: Callable[..., Any], *args: Any) -> Any:
        """Tunables a driver may not implement: report the reason instead of failing the task."""
        return or_in_place(lambda: read(*args), lambda error: {"unavailable": error.message})

    def snapshots(self) -> dict[str, Any]:
        return _tree(list_snapshots(self.domain))

    def checkpoints(self) -> dict[str, Any]:
        return _tree(list_checkpoints(self.domain))

    def addresses(self) -> list[dict[str, Any]]:
        return _facts.read_addresses(self.domain, self.options.address_sources) if self.active else []

    def guest(self) -> dict[str, Any]:
        if not self.active:
            return {}
        answer = _bounded(GuestAgent(self.domain).guest_info, self.options.agent_timeout,
                          f"the guest agent of domain '{self.domain.name}' did not answer guest info within "
                          f"agent_timeout={self.options.agent_timeout:g} s")
        return _facts.nest_stats(answer)

    def security(self) -> list[dict[str, Any]]:
        labels = self.domain.details.security_label_list() if self.active else []
        return [{"label": label, "enforcing": bool(enforcing)} for label, enforcing in labels]

    def messages(self) -> list[str]:
        return self.domain.details.messages()


def _config_or_live(active: bool) -> int:
    return libvirt.VIR_DOMAIN_AFFECT_LIVE if active else libvirt.VIR_DOMAIN_AFFECT_CONFIG


def _facts_key(key: str) -> str:
    return key.replace("-", "_").replace(".", "_")


def _tree(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Names (oldest first), the current one, each item with its children, and the roots."""
    for item in items:
        if "children" not in item:
            item["children"] = sorted(other["name"] for other in items if other["parent"] == item["name"])
    current = next((item["name"] for item in items if item.get("current")), None)
    # "list", not "items": a key named items is hidden by the dict's .items method in Jinja
    return {"names": [item["name"] for item in items], "current": current, "list": items,
            "roots": [item["name"] for item in items if not item["parent"]]}


def _bounded(call: Callable[[], Any], timeout: float, message: str) -> Any:
    """Run a call that may hang (the guest agent) in a thread; give up after `timeout` seconds."""
    outcome = bounded_map(lambda _item: call(), [None], 1, timeout)[0]
    if outcome is TIMED_OUT:
        raise WaitTimeout(message)
    if isinstance(outcome, BaseException):
        # bounded_map hands back what the call raised
        raise outcome  # pylint: disable=raising-non-exception
    return outcome


_VCPU_STATES = {0: "offline", 1: "running", 2: "blocked"}
_CONTROL_STATES = {0: "ok", 1: "job", 2: "occupied", 3: "error"}


def _disk_error_name(code: int) -> str:
    return {0: "none", 1: "unspec", 2: "no_space"}.get(code, str(code))


def gather(connection: Connection, domains: Optional[list[Domain]], options: GatherOptions,
           parallel: int = 8) -> list[dict[str, Any]]:
    """Facts of `domains` (None: every domain) with the requested groups, in a stable order."""
    options.validate()
    stats_groups = options.stats if "stats" in options.gather else []
    base = _facts.bulk_facts(connection, stats_groups, domains=domains)
    if options.states:
        # before any per-domain read: a filtered-out domain costs nothing beyond the bulk call
        base = [facts for facts in base if facts["state"] in options.states]
    handles = {domain.name: domain for domain in domains or []}

    def one(facts: dict[str, Any]) -> dict[str, Any]:
        domain = handles.get(facts["name"]) or Domain.lookup(connection, uuid=facts["uuid"])
        reader = DomainReader(domain, facts, options)
        result = {key: facts[key] for key in BASE_KEYS}
        if "stats" in options.gather:
            result["stats"] = facts["stats"]
        for group in options.gather:
            if group not in ("state", "stats"):
                result[group] = _read_group(reader, group)
        return result

    extras = [group for group in options.gather if group not in ("state", "stats")]
    if not extras or len(base) < 2:
        return [one(facts) for facts in base]
    return map_or_raise(one, base, parallel)


def _read_group(reader: DomainReader, group: str) -> Any:
    """One group's facts; a failure to read one group is reported in place, not fatal."""
    return or_in_place(getattr(reader, group), lambda error: {"error": error.message})
