# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One handle over one virDomain: lookup, state and reason as names, lifecycle calls, event-driven waits.

Every libvirt method of a domain is called from exactly one typed method, named after it in snake
case: here (the handle, its reads and lifecycle calls), in _domain_calls (details, snapshots,
checkpoints), _agent (the guest agent) or _jobs (long jobs). So grepping for `createWithFlags`
finds its one caller, and test fakes implement methods. tests/unit/test_layering.py checks it.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, NamedTuple, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection
from ansible_collections.virtops.libvirt.plugins.module_utils._domain_calls import CheckpointCalls, DetailReads, SnapshotCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import DomainNotFound, InvalidArgument, WaitTimeout
from ansible_collections.virtops.libvirt.plugins.module_utils._events import LIFECYCLE, Watch

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


# What a virDomain object knows without asking the daemon (also for the bulk answers' objects).


def name_and_uuid(virdomain: Any) -> tuple[str, str]:
    return virdomain.name(), virdomain.UUIDString()


def running_id(virdomain: Any) -> Optional[int]:
    """The id of a running domain (None when inactive), as of its lookup or start."""
    domain_id = virdomain.ID()
    return domain_id if domain_id >= 0 else None


class Domain:
    """A looked-up domain on one connection; every call goes through the connection's error layer."""

    def __init__(self, connection: Connection, virdomain: Any) -> None:
        self.connection = connection
        self.virdomain = virdomain
        self.name, self.uuid = name_and_uuid(virdomain)
        self.snapshots = SnapshotCalls(self)
        self.checkpoints = CheckpointCalls(self)
        self.details = DetailReads(self)

    @classmethod
    def lookup(cls, connection: Connection, name: Optional[str] = None, uuid: Optional[str] = None) -> "Domain":
        """One API call by UUID or name; raises DomainNotFound."""
        if uuid:
            return cls(connection, connection.lookup_by_uuid(uuid))
        if name:
            return cls(connection, connection.lookup_by_name(name))
        raise InvalidArgument("a domain needs a name or a uuid")

    @classmethod
    def find(cls, connection: Connection, name: Optional[str] = None, uuid: Optional[str] = None) -> Optional["Domain"]:
        """Like lookup, but None when the domain does not exist."""
        try:
            return cls.lookup(connection, name=name, uuid=uuid)
        except DomainNotFound:
            return None

    def invoke(self, operation: str, func: Callable[..., Any], *args: Any, idempotent: bool = False) -> Any:
        """Run a bound libvirt method through the error translation layer (for typed wrappers only).

        Transient errors are retried only for `idempotent` calls (reads, and changes whose effect
        is checked before repeating); a start, migration, backup or snapshot is never repeated.
        """
        return self.connection.invoke(operation, func, *args, domain=self.name, idempotent=idempotent)

    def read(self, operation: str, func: Callable[..., Any], *args: Any) -> Any:
        """`invoke` for a read (safe to repeat); for typed wrappers only."""
        return self.invoke(operation, func, *args, idempotent=True)

    # --- reads -------------------------------------------------------------------------------

    def state(self) -> DomainState:
        try:
            state_code, reason_code = self.read("read state", self.virdomain.state, 0)
        except DomainNotFound:
            return DomainState(ABSENT, "undefined")
        return state_from_codes(state_code, reason_code)

    def is_active(self) -> bool:
        """Whether the domain runs (any state but shut off); DomainNotFound when it vanished."""
        return bool(self.read("read whether active", self.virdomain.isActive))

    def xml_desc(self, flags: int = 0) -> str:
        return self.read("read XML description", self.virdomain.XMLDesc, flags)

    def is_persistent(self) -> bool:
        return bool(self.read("read persistence", self.virdomain.isPersistent))

    def autostart(self) -> bool:
        return bool(self.read("read autostart", self.virdomain.autostart))

    def has_managed_save(self) -> bool:
        return bool(self.read("read managed save", self.virdomain.hasManagedSaveImage, 0))

    def id(self) -> Optional[int]:  # pylint: disable=invalid-name
        return running_id(self.virdomain)

    # --- lifecycle ---------------------------------------------------------------------------

    def create_with_flags(self, flags: int, operation: str = "start") -> None:
        self.invoke(operation, self.virdomain.createWithFlags, flags)

    def resume(self) -> None:
        self.invoke("resume", self.virdomain.resume)

    def suspend(self) -> None:
        self.invoke("suspend", self.virdomain.suspend)

    def pm_wakeup(self) -> None:
        self.invoke("wake up", self.virdomain.pMWakeup, 0)

    def pm_suspend_for_duration(self, target: int) -> None:
        self.invoke("PM suspend", self.virdomain.pMSuspendForDuration, target, 0, 0)

    def destroy(self) -> None:
        self.invoke("destroy", self.virdomain.destroy)

    def managed_save(self) -> None:
        self.invoke("managed save", self.virdomain.managedSave, 0)

    def shutdown_flags(self, flags: int, operation: str = "shutdown") -> None:
        self.invoke(operation, self.virdomain.shutdownFlags, flags)

    def reboot(self, flags: int) -> None:
        self.invoke("reboot", self.virdomain.reboot, flags)

    def reset(self) -> None:
        self.invoke("reset", self.virdomain.reset, 0)

    def undefine_flags(self, flags: int) -> None:
        self.invoke("undefine", self.virdomain.undefineFlags, flags)

    def set_autostart(self, autostart: bool) -> None:
        self.invoke("set autostart", self.virdomain.setAutostart, int(autostart))

    def set_metadata(self, kind: int, value: Optional[str], flags: int, what: str, key: Optional[str] = None,
                     namespace: Optional[str] = None) -> None:
        self.invoke(f"set {what}", self.virdomain.setMetadata, kind, value, key, namespace, flags)

    def set_lifecycle_action(self, event: int, action: int, flags: int, what: str) -> None:
        self.invoke(f"set {what}", self.virdomain.setLifecycleAction, event, action, flags)

    # --- events ------------------------------------------------------------------------------

    def watch(self) -> Watch:
        """Event registrations for this domain; add kinds with .on(...), then use it in a `with`."""
        return Watch(self.connection, self.virdomain, self.name)

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

        with self.watch().on(LIFECYCLE) as watch:
            return watch.wait_until(reached, timeout, timed_out, fallback=poll_interval)
