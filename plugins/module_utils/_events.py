# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt domain events: the one event-loop thread, typed registrations, the one wait primitive.

A `Watch` registers callbacks for one domain before the work that causes the events starts, so
none is missed, and removes every registration when the block ends. Each libvirt callback is
turned into a small typed event (`BlockJobEvent`, `JobCompletedEvent`, ...) before it reaches the
caller's callback. `Watch.wait_until()` is the only wait loop in the collection: it calls a probe
whenever an event arrives, re-probes every `fallback` seconds in case an event is lost or the driver
sends none, and honours one deadline.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, TypeVar, Union

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import LibvirtCallError, WaitTimeout

try:
    import libvirt
except ImportError:
    libvirt = None  # _module reports a missing libvirt-python

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection

T = TypeVar("T")


class EventLoop:
    """libvirt's default event loop, run once per process in a daemon thread.

    It must be registered before the connections that deliver events are opened.
    """

    _lock = threading.Lock()
    _started = False

    @classmethod
    def ensure_running(cls) -> None:
        with cls._lock:
            if cls._started:
                return
            libvirt.virEventRegisterDefaultImpl()
            thread = threading.Thread(target=cls._run, name="libvirt-event-loop", daemon=True)
            thread.start()
            cls._started = True

    @staticmethod
    def _run() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()


# --- typed events ----------------------------------------------------------------------------------


class LifecycleEvent(NamedTuple):
    event: int  # VIR_DOMAIN_EVENT_STARTED, ..._STOPPED, ...
    detail: int


class RebootEvent(NamedTuple):
    pass


class AgentLifecycleEvent(NamedTuple):
    connected: bool
    reason: int


class BlockJobEvent(NamedTuple):
    disk: str  # the disk's target (vda): BLOCK_JOB_2 names targets where BLOCK_JOB named source paths
    job_type: int  # VIR_DOMAIN_BLOCK_JOB_TYPE_*
    status: int  # VIR_DOMAIN_BLOCK_JOB_COMPLETED, _FAILED, _CANCELED, _READY


class JobCompletedEvent(NamedTuple):
    stats: dict[str, Any]  # the completed job's statistics, with "success" and "errmsg"


class MigrationIterationEvent(NamedTuple):
    iteration: int


class DeviceRemovedEvent(NamedTuple):
    alias: str


class DeviceRemovalFailedEvent(NamedTuple):
    alias: str


class ThresholdEvent(NamedTuple):
    disk: str
    path: str
    threshold: int
    excess: int


class BalloonChangeEvent(NamedTuple):
    actual: int  # KiB the guest's balloon now leaves it


@dataclass(frozen=True)
class EventKind:
    """One kind of domain event: libvirt's id (by constant name) and how its arguments become a typed event."""

    name: str
    constant: str
    convert: Callable[..., Any]  # libvirt's arguments between (conn, dom) and opaque -> a typed event

    @property
    def event_id(self) -> Optional[int]:
        return getattr(libvirt, self.constant, None) if libvirt is not None else None


def _agent_event(state: int, reason: int) -> AgentLifecycleEvent:
    connected = getattr(libvirt, "VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED", 1)
    return AgentLifecycleEvent(state == connected, reason)


LIFECYCLE = EventKind("lifecycle", "VIR_DOMAIN_EVENT_ID_LIFECYCLE", LifecycleEvent)
REBOOT = EventKind("reboot", "VIR_DOMAIN_EVENT_ID_REBOOT", RebootEvent)
AGENT_LIFECYCLE = EventKind("agent lifecycle", "VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE", _agent_event)
BLOCK_JOB = EventKind("block job", "VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2", BlockJobEvent)
JOB_COMPLETED = EventKind("job completed", "VIR_DOMAIN_EVENT_ID_JOB_COMPLETED",
                          lambda stats: JobCompletedEvent(dict(stats or {})))
MIGRATION_ITERATION = EventKind("migration iteration", "VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION",
                                MigrationIterationEvent)
DEVICE_REMOVED = EventKind("device removed", "VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED", DeviceRemovedEvent)
DEVICE_REMOVAL_FAILED = EventKind("device removal failed", "VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED",
                                  DeviceRemovalFailedEvent)
THRESHOLD = EventKind("block threshold", "VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD", ThresholdEvent)
BALLOON_CHANGE = EventKind("balloon change", "VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE", BalloonChangeEvent)


# --- watching one domain ---------------------------------------------------------------------------


class Watch:
    """Event registrations for one domain, active inside a `with` block and always removed after it.

    Any delivered event (after its filter) wakes `wait_until`. Drivers without events are skipped
    silently: `live` is then False and waits poll quickly instead.
    """

    def __init__(self, connection: "Connection", virdomain: Any, domain_name: str) -> None:
        self.connection = connection
        self.virdomain = virdomain
        self.domain_name = domain_name
        self._wanted: list[tuple[EventKind, Optional[Callable[[Any], None]], Optional[Callable[[Any], bool]]]] = []
        self._callback_ids: list[int] = []
        self._woke = threading.Event()
        self._callback_error: Optional[BaseException] = None
        self.live = False

    def on(self, kind: EventKind, callback: Optional[Callable[[Any], None]] = None,
           only: Optional[Callable[[Any], bool]] = None) -> "Watch":
        """Also watch `kind`; `callback(event)` for each event `only` accepts (default: all)."""
        self._wanted.append((kind, callback, only))
        return self

    def on_block_job(self, disk: Optional[str] = None, callback: Optional[Callable[[BlockJobEvent], None]] = None,
                     paths: tuple[str, ...] = ()) -> "Watch":
        """Block-job events of one disk: its target, or any of `paths` (other names it may go by)."""
        names = {name for name in (disk, *paths) if name}
        return self.on(BLOCK_JOB, callback, (lambda event: event.disk in names) if names else None)

    def __enter__(self) -> "Watch":
        self._woke.clear()  # a watch used again starts afresh
        self._callback_error = None
        try:
            for kind, callback, only in self._wanted:
                self._register(kind, callback, only)
        except BaseException:
            self.__exit__()  # the block never starts: remove what was registered before the failure
            raise
        self.live = bool(self._callback_ids)
        return self

    def __exit__(self, *_exc_info: Any) -> None:
        while self._callback_ids:
            self._deregister(self._callback_ids.pop())

    def _register(self, kind: EventKind, callback: Optional[Callable[[Any], None]],
                  only: Optional[Callable[[Any], bool]]) -> None:
        if kind.event_id is None:
            return  # this libvirt-python predates the event: waits poll

        def deliver(_conn: Any, _dom: Any, *args: Any) -> None:
            # Runs in the event-loop thread: whatever it raises would be printed there as a
            # traceback, so it is kept for the waiting thread to raise instead.
            try:
                event = kind.convert(*args[:-1])  # the last argument is the opaque value
                if only is not None and not only(event):
                    return
                if callback is not None:
                    callback(event)
            except Exception as error:  # pylint: disable=broad-except
                self._callback_error = self._callback_error or error
            self._woke.set()

        try:
            self._callback_ids.append(self.connection.register_domain_event(self.virdomain, kind.event_id, deliver,
                                                                            self.domain_name))
        except LibvirtCallError:
            pass  # no events of this kind from this driver: the wait polls

    def _deregister(self, callback_id: int) -> None:
        try:
            self.connection.deregister_domain_event(callback_id, self.domain_name)
        except LibvirtCallError:
            pass  # the connection is going away anyway

    def wake(self) -> None:
        """Wake `wait_until` now, as an event would (a worker thread whose blocking call returned)."""
        self._woke.set()

    def woke(self, timeout: float) -> bool:
        """Block until an event arrives or `timeout` passes; whether one arrived (then reset).

        Raises what a callback raised in the event-loop thread.
        """
        arrived = self._woke.wait(max(0.0, timeout))
        self._woke.clear()
        if self._callback_error is not None:
            raise self._callback_error
        return arrived

    def wait_until(self, probe: Callable[[], Optional[T]], timeout: Union[float, "Deadline"],
                   timed_out: Callable[[], WaitTimeout], fallback: float = 2.0) -> T:
        """Call `probe` until it returns something other than None; the one wait loop.

        Woken by this watch's events; without any (a driver that sends none), the probe runs every
        0.2 s, else every `fallback` seconds in case an event is lost. Raises `timed_out()` when
        `timeout` seconds pass, or at a `Deadline` several waits share.
        """
        deadline = timeout if isinstance(timeout, Deadline) else Deadline(timeout)
        interval = fallback if self.live else min(fallback, 0.2)
        while True:
            found = probe()
            if found is not None:
                return found
            if deadline.passed():
                raise timed_out()
            self.woke(min(deadline.remaining(), interval))


class Deadline:
    """A point in time (time.monotonic) that several waits share."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def passed(self) -> bool:
        return time.monotonic() >= self.at
