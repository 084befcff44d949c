# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One handle over one virDomain: lookup, state and reason as names, event-driven waiting."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional, TypeVar

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    DomainNotFound,
    InvalidArgument,
    LibvirtCallError,
    UnsupportedOperation,
    WaitTimeout,
)

try:
    import libvirt_qemu
except ImportError:
    libvirt_qemu = None  # part of libvirt-python; _module reports a missing libvirt-python

T = TypeVar("T")

# The eight domain states, by libvirt's numbering (virDomainState).
STATE_NAMES: tuple[str, ...] = (
    "nostate",
    "running",
    "blocked",
    "paused",
    "shutdown",  # being shut down, still active
    "shutoff",
    "crashed",
    "pmsuspended",
)
AGENT_CHANNEL = "org.qemu.guest_agent.0"  # the virtio-serial port name qemu-ga listens on
ABSENT = "absent"  # not a libvirt state: the domain does not exist (or vanished while we waited)

# Reasons per state, in libvirt's numbering, from the virDomain*Reason enums.
_REASON_NAMES: dict[str, tuple[str, ...]] = {
    "nostate": ("unknown",),
    "running": (
        "unknown", "booted", "migrated", "restored", "from_snapshot", "unpaused", "migration_canceled",
        "save_canceled", "wakeup", "crashed", "postcopy", "postcopy_failed",
    ),
    "blocked": ("unknown",),
    "paused": (
        "unknown", "user", "migration", "save", "dump", "ioerror", "watchdog", "from_snapshot",
        "shutting_down", "snapshot", "crashed", "starting_up", "postcopy", "postcopy_failed", "api_error",
    ),
    "shutdown": ("unknown", "user"),
    "shutoff": (
        "unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from_snapshot", "daemon",
    ),
    "crashed": ("unknown", "panicked"),
    "pmsuspended": ("unknown",),
}


class DomainState(NamedTuple):
    state: str
    reason: str

    @property
    def active(self) -> bool:
        return self.state not in ("shutoff", ABSENT)


def state_name(code: int) -> str:
    if 0 <= code < len(STATE_NAMES):
        return STATE_NAMES[code]
    return f"unknown_state_{code}"


def reason_name(state: str, code: int) -> str:
    reasons = _REASON_NAMES.get(state, ())
    if 0 <= code < len(reasons):
        return reasons[code]
    return f"unknown_reason_{code}"


def state_from_codes(state_code: int, reason_code: int) -> DomainState:
    name = state_name(state_code)
    return DomainState(name, reason_name(name, reason_code))


def validate_states(states: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(states)
    unknown = sorted(wanted - set(STATE_NAMES) - {ABSENT})
    if unknown or not wanted:
        raise InvalidArgument(
            f"cannot wait for state(s) {unknown or '[]'}: expected some of {', '.join(STATE_NAMES + (ABSENT,))}"
        )
    return wanted


class _WakeEvent(threading.Event):
    """A threading.Event that also says whether any event source is registered."""

    live = False


class Domain:
    """A looked-up domain on one connection. Every call goes through the connection's error layer."""

    def __init__(self, connection: Connection, virdomain: Any) -> None:
        self.connection = connection
        self.virdomain = virdomain
        self.name: str = virdomain.name()
        self.uuid: str = virdomain.UUIDString()

    @classmethod
    def lookup(cls, connection: Connection, name: Optional[str] = None, uuid: Optional[str] = None) -> "Domain":
        """One API call by UUID or name; raises DomainNotFound."""
        if uuid:
            virdomain = connection.call("lookup by UUID", connection.conn.lookupByUUIDString, uuid, domain=uuid,
                                        idempotent=True)
        elif name:
            virdomain = connection.call("lookup by name", connection.conn.lookupByName, name, domain=name,
                                        idempotent=True)
        else:
            raise InvalidArgument("a domain needs a name or a uuid")
        return cls(connection, virdomain)

    @classmethod
    def find(cls, connection: Connection, name: Optional[str] = None, uuid: Optional[str] = None) -> Optional["Domain"]:
        """Like lookup, but None when the domain does not exist."""
        try:
            return cls.lookup(connection, name=name, uuid=uuid)
        except DomainNotFound:
            return None

    def call(self, operation: str, method: str, *args: Any, idempotent: bool = False) -> Any:
        """Call virDomain.<method>(*args) through the error translation layer.

        Transient errors are retried only for `idempotent` calls (reads, and changes whose effect
        is checked before repeating); a start, migration, backup or snapshot is never repeated.
        """
        return self.connection.call(operation, getattr(self.virdomain, method), *args, domain=self.name,
                                    idempotent=idempotent)

    def read(self, operation: str, method: str, *args: Any) -> Any:
        """A call that only reads: safe to repeat, so transient errors are retried."""
        return self.call(operation, method, *args, idempotent=True)

    def state(self) -> DomainState:
        try:
            state_code, reason_code = self.read("read state", "state", 0)
        except DomainNotFound:
            return DomainState(ABSENT, "undefined")
        return state_from_codes(state_code, reason_code)

    def is_active(self) -> bool:
        """Whether the domain runs (any state but shut off); DomainNotFound when it vanished."""
        return bool(self.read("read whether active", "isActive"))

    def xml_desc(self, flags: int = 0) -> str:
        return self.read("read XML description", "XMLDesc", flags)

    def is_persistent(self) -> bool:
        return bool(self.read("read persistence", "isPersistent"))

    def autostart(self) -> bool:
        return bool(self.read("read autostart", "autostart"))

    def has_managed_save(self) -> bool:
        return bool(self.read("read managed save", "hasManagedSaveImage", 0))

    def wait_for(
        self,
        states: Iterable[str],
        timeout: float,
        poll_interval: float = 2.0,
        on_event: Optional[Callable[[DomainState], None]] = None,
    ) -> DomainState:
        """Block until the domain is in one of `states`; return that state.

        Woken by libvirt lifecycle events (so it returns right after the change); the state is
        also re-read every `poll_interval` seconds in case an event is lost or the driver sends
        none. Raises WaitTimeout naming the domain, the states and the timeout.
        """
        wanted = validate_states(states)
        if timeout < 0:
            raise InvalidArgument(f"timeout must not be negative (got {timeout})")
        last: list[DomainState] = []

        def reached() -> Optional[DomainState]:
            current = self.state()
            last[:] = [current]
            if on_event is not None:
                on_event(current)
            return current if current.state in wanted else None

        def timed_out() -> WaitTimeout:
            return WaitTimeout(
                f"domain '{self.name}' did not reach {' or '.join(sorted(wanted))} within {timeout:g} s "
                f"(it is {last[0].state}, reason {last[0].reason})",
                domain=self.name, operation="wait")

        return self._wait_until(libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, reached, timeout, poll_interval, timed_out)

    def _wait_until(self, event_id: int, probe: Callable[[], Optional[T]], timeout: float, interval: float,
                    timed_out: Callable[[], WaitTimeout]) -> T:
        """Call `probe` until it returns something; woken by `event_id` events, else every `interval`.

        Without events from this driver, it polls every 0.2 s instead.
        """
        deadline = time.monotonic() + timeout
        with self.watching([event_id]) as woke:
            if not woke.live:
                interval = min(interval, 0.2)
            while True:
                found = probe()
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise timed_out()
                woke.wait(min(remaining, interval))
                woke.clear()

    @contextmanager
    def watching(
        self, event_ids: Iterable[int], on_event: Optional[Callable[..., None]] = None
    ) -> Iterator[threading.Event]:
        """While the block runs, an Event set by any of these domain events (and `on_event(*args)`).

        Registered before the block so no event is missed; drivers without events are silently
        skipped (the Event's `live` is then False), callers poll as well.
        """
        woke = _WakeEvent()

        def callback(*args: Any) -> None:
            if on_event is not None:
                on_event(*args)
            woke.set()

        callback_ids = []
        for event_id in event_ids:
            try:
                callback_ids.append(self.connection.call(
                    "watch domain events", self.connection.conn.domainEventRegisterAny, self.virdomain, event_id,
                    callback, None, domain=self.name))
            except LibvirtCallError:
                pass  # no events from this driver: the caller polls
        woke.live = bool(callback_ids)
        try:
            yield woke
        finally:
            for callback_id in callback_ids:
                self._unwatch(callback_id)

    def _unwatch(self, callback_id: Optional[int]) -> None:
        if callback_id is None:
            return
        try:
            self.connection.call("stop watching domain events", self.connection.conn.domainEventDeregisterAny,
                                 callback_id, domain=self.name)
        except LibvirtCallError:
            pass  # the connection is going away anyway

    # --- guest agent ------------------------------------------------------------------------

    def agent_command(self, command: str, arguments: Optional[dict[str, Any]] = None, timeout: int = 5) -> Any:
        """Run one guest-agent command; return its decoded "return" value."""
        request: dict[str, Any] = {"execute": command}
        if arguments is not None:
            request["arguments"] = arguments
        reply = self.connection.call(
            f"guest agent {command}", libvirt_qemu.qemuAgentCommand, self.virdomain, json.dumps(request), timeout, 0,
            domain=self.name,
        )
        return json.loads(reply).get("return")

    def has_agent_channel(self) -> bool:
        """Whether the (live) definition has the guest agent's virtio channel."""
        root = _xml.parse(self.xml_desc(0), "domain XML")
        return bool(root.xpath("devices/channel/target[@type='virtio' and @name=$name]", name=AGENT_CHANNEL))

    def guest_hostname(self) -> str:
        """The guest's host name, from its agent (guestInfo: no custom-ga-command taint)."""
        return self.read("read guest host name", "guestInfo", libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME, 0).get("hostname")

    def wait_for_agent(self, timeout: float, ping_timeout: int = 2) -> float:  # pylint: disable=unused-argument
        """Block until the guest agent answers; return the seconds it took.

        Fails at once when the definition has no agent channel. Woken by agent lifecycle events
        (the agent connecting), re-tried every second as well. The probe is libvirt's guestInfo
        (host name), never a raw agent command: those taint the domain (custom-ga-command).
        `ping_timeout` is kept for callers; libvirt's own agent timeout bounds each probe.
        Raises WaitTimeout with libvirt's last answer.
        """
        if timeout < 0:
            raise InvalidArgument(f"timeout must not be negative (got {timeout})")
        if not self.has_agent_channel():
            raise UnsupportedOperation(
                f"domain '{self.name}' has no guest agent channel, so no guest agent can answer: add "
                f"<channel type='unix'><target type='virtio' name='{AGENT_CHANNEL}'/></channel> to its devices",
                domain=self.name, operation="wait for guest agent")
        started = time.monotonic()
        last_error: list[str] = []

        def answers() -> Optional[float]:
            try:
                self.guest_hostname()
                return time.monotonic() - started
            except LibvirtCallError as error:
                last_error[:] = [error.libvirt_message or error.message]
                return None

        def timed_out() -> WaitTimeout:
            return WaitTimeout(
                f"the guest agent of domain '{self.name}' did not answer within {timeout:g} s "
                f"(last error: {last_error[0] if last_error else 'none'})",
                domain=self.name, operation="wait for guest agent")

        return self._wait_until(libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE, answers, timeout, 1.0, timed_out)
