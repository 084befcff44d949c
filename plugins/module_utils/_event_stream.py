# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The chosen domain events of all domains on one connection, each as one plain dict.

A `DomainEventStream` registers one callback per event type (for every domain: libvirt filters
nothing, the domain name patterns are applied here) and a close callback, so a daemon that goes
away is noticed. Each libvirt callback becomes one dict:

    {"host": "kvm01", "uri": "qemu+ssh://kvm01/system", "type": "lifecycle", "domain": "web01",
     "uuid": "...", "details": {"event": "stopped", "detail": "destroyed", "state": "shutoff"},
     "timestamp": "2026-11-27T22:41:07.123456+00:00"}

Callbacks run in libvirt's event-loop thread (_events.EventLoop): `emit` must be safe to call
from there (the EDA source hands the dict to its asyncio loop with call_soon_threadsafe).
"""

from __future__ import annotations

import datetime
import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, redact_uri
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import name_and_uuid
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import LibvirtCallError
from ansible_collections.virtops.libvirt.plugins.module_utils._event_names import CONNECTION_CLOSE_REASONS, name
from ansible_collections.virtops.libvirt.plugins.module_utils._event_types import EventType

Emit = Callable[[dict[str, Any]], None]
CONNECTION = "connection"  # the type of the events that say a connection was made, lost or made again


def now() -> str:
    """The time of an event: ISO 8601 in UTC, to the microsecond."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


@dataclass(frozen=True)
class Source:
    """Where events come from: a host's name in the events and the URI (shown without its password)."""

    host: str
    uri: str

    def event(self, event_type: str, details: dict[str, Any], domain: Optional[str] = None,
              uuid: Optional[str] = None) -> dict[str, Any]:
        return {"host": self.host, "uri": redact_uri(self.uri), "type": event_type, "domain": domain, "uuid": uuid,
                "details": details, "timestamp": now()}

    def connection_event(self, state: str, **details: Any) -> dict[str, Any]:
        """A `connection` event: state connected, disconnected or reconnected."""
        return self.event(CONNECTION, {"state": state, **details})


@dataclass(frozen=True)
class DomainFilter:
    """Shell-style patterns (fnmatch, case-sensitive as libvirt's names are); none: every domain."""

    patterns: tuple[str, ...] = ()

    def wants(self, domain: str) -> bool:
        return not self.patterns or any(fnmatch.fnmatchcase(domain, pattern) for pattern in self.patterns)


class DomainEventStream:
    """Subscriptions of one open connection, active between `start()` and `stop()`.

    `on_close(reason)` is called (event-loop thread) with the close reason's name when libvirt
    says the connection broke: the daemon went away or stopped answering keepalives.
    """

    def __init__(self, connection: Connection, source: Source, event_types: Iterable[EventType],
                 domains: DomainFilter, emit: Emit, on_close: Optional[Callable[[str], None]] = None) -> None:
        self.connection = connection
        self.source = source
        self.event_types = tuple(event_types)
        self.domains = domains
        self.emit = emit
        self.on_close = on_close
        self.unavailable: list[str] = []  # types this libvirt-python or driver cannot deliver
        self._callback_ids: list[int] = []

    def start(self) -> "DomainEventStream":
        try:
            for event_type in self.event_types:
                self._subscribe(event_type)
            if self.on_close is not None:
                self.connection.register_close_callback(self._closed)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Remove every registration; a connection already gone has none left to remove."""
        while self._callback_ids:
            callback_id = self._callback_ids.pop()
            try:
                self.connection.deregister_domain_event(callback_id)
            except LibvirtCallError:
                pass
        if self.on_close is not None:
            try:
                self.connection.unregister_close_callback()
            except LibvirtCallError:
                pass

    def _subscribe(self, event_type: EventType) -> None:
        event_id = event_type.kind.event_id
        if event_id is None:
            self.unavailable.append(event_type.name)  # this libvirt-python predates the event
            return

        def deliver(_conn: Any, virdomain: Any, *args: Any) -> None:
            self.deliver(event_type, virdomain, args[:-1])  # the last argument is the opaque value

        try:
            self._callback_ids.append(self.connection.register_domain_event(None, event_id, deliver))
        except LibvirtCallError:
            self.unavailable.append(event_type.name)  # a driver that never sends it

    def deliver(self, event_type: EventType, virdomain: Any, args: tuple[Any, ...]) -> None:
        """One libvirt callback (its arguments between the domain and the opaque value) -> one dict, if wanted."""
        domain, uuid = name_and_uuid(virdomain)
        if not self.domains.wants(domain):
            return
        try:
            details = event_type.details(event_type.kind.convert(*args))
        except Exception as error:  # pylint: disable=broad-except
            # Raised in the event-loop thread it would only be printed there: the event still
            # arrives, saying what could not be read, and the stream goes on.
            details = {"error": f"cannot read the {event_type.kind.name} event: {error}"}
        self.emit(self.source.event(event_type.name, details, domain, uuid))

    def _closed(self, reason: int) -> None:
        if self.on_close is not None:
            self.on_close(name(CONNECTION_CLOSE_REASONS, reason))
