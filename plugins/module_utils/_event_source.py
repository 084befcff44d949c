# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Event-Driven Ansible source of domain events (extensions/eda/plugins/event_source/domain_events.py).

`run(queue, args)` checks the arguments, connects to every URI (an unreachable one fails the start,
with the URI and libvirt's reason), then puts each event of every host on the rulebook's asyncio
queue, in the order libvirt delivered them. libvirt calls back in its event-loop thread; the dicts
cross into the asyncio loop with call_soon_threadsafe. A connection that breaks is reported
(`connection` event, state `disconnected`), reopened with exponential backoff, and reported again
(`reconnected`); events of the time in between are lost, as libvirt keeps none for absent clients.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from ansible_collections.virtops.libvirt.plugins.module_utils._connection import (
    LIBVIRT_IMPORT_ERROR,
    Connection,
    ConnectionParams,
    redact_uri,
    resolve_uri,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import ConnectionFailed, InvalidArgument, LibvirtCallError, VirtopsError
from ansible_collections.virtops.libvirt.plugins.module_utils._event_stream import DomainEventStream, DomainFilter, Emit, Source
from ansible_collections.virtops.libvirt.plugins.module_utils._event_types import EventType, select_event_types

ARGUMENTS = ("uris", "domains", "events", "reconnect_delay", "reconnect_max_delay", "connect_timeout")
URI_KEYS = ("uri", "name", "auth_username", "auth_password")


def _names(args: dict[str, Any], key: str) -> tuple[str, ...]:
    value = args.get(key) or ()
    values = (value,) if isinstance(value, str) else tuple(value)
    if not all(isinstance(item, str) for item in values):
        raise InvalidArgument(f"{key} must be a list of strings, got {value!r}")
    return values


def _seconds(args: dict[str, Any], key: str, default: float) -> float:
    value = args.get(key, default)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds <= 0:
        raise InvalidArgument(f"{key} must be a number of seconds above 0, got {value!r}")
    return seconds


def _target(entry: Union[str, dict[str, Any], None], connect_timeout: float) -> tuple[Source, ConnectionParams]:
    entry = {"uri": entry} if entry is None or isinstance(entry, str) else entry
    if not isinstance(entry, dict) or set(entry) - set(URI_KEYS):
        shown = sorted(set(entry) - set(URI_KEYS)) if isinstance(entry, dict) else type(entry).__name__
        raise InvalidArgument(f"each of uris is a URI or a dict with {', '.join(URI_KEYS)}; not {shown}")
    params = ConnectionParams(uri=entry.get("uri"), auth_username=entry.get("auth_username"),
                              auth_password=entry.get("auth_password"), readonly=True, connect_timeout=connect_timeout)
    uri = resolve_uri(params.uri)
    return Source(entry.get("name") or redact_uri(uri), uri), params


@dataclass(frozen=True)
class SourceOptions:
    """The source's arguments, checked: every mistake is found before any connection is made."""

    targets: tuple[tuple[Source, ConnectionParams], ...]
    event_types: tuple[EventType, ...]
    domains: DomainFilter
    reconnect_delay: float = 1.0
    reconnect_max_delay: float = 30.0

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> "SourceOptions":
        unknown = sorted(key for key in args if key not in ARGUMENTS and not key.startswith("eda_"))
        if unknown:
            raise InvalidArgument(f"unknown argument(s) {', '.join(unknown)}: expected some of {', '.join(ARGUMENTS)}")
        uris = args.get("uris") or [None]
        entries = [uris] if isinstance(uris, (str, dict)) else list(uris)
        connect_timeout = _seconds(args, "connect_timeout", 30.0)
        initial = _seconds(args, "reconnect_delay", 1.0)
        return cls(targets=tuple(_target(entry, connect_timeout) for entry in entries),
                   event_types=select_event_types(_names(args, "events")),
                   domains=DomainFilter(_names(args, "domains")),
                   reconnect_delay=initial, reconnect_max_delay=max(initial, _seconds(args, "reconnect_max_delay", 30.0)))


@dataclass
class Backoff:
    """Waits between reconnection attempts: `initial`, doubled each time, at most `maximum` seconds."""

    initial: float
    maximum: float
    next_delay: float = field(init=False)

    def __post_init__(self) -> None:
        self.next_delay = self.initial

    def delay(self) -> float:
        delay, self.next_delay = self.next_delay, min(self.next_delay * 2, self.maximum)
        return delay


class HostWatch:
    """The events of one URI, connected again whenever the connection breaks."""

    def __init__(self, source: Source, params: ConnectionParams, options: SourceOptions, emit: Emit) -> None:
        self.source = source
        self.params = params
        self.options = options
        self.emit = emit
        self.stream: Optional[DomainEventStream] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._lost: Optional[asyncio.Queue[str]] = None  # the close reasons of broken connections

    async def connect(self) -> None:
        """The first connection: failing it fails the source's start."""
        self._loop = asyncio.get_running_loop()
        self._lost = asyncio.Queue()
        self.stream = await self._loop.run_in_executor(None, self.open_stream)
        self.emit(self.source.connection_event("connected", unavailable=self.stream.unavailable))

    def open_stream(self) -> DomainEventStream:
        """Blocking (connect, register): run in an executor thread."""
        connection = Connection(self.params).open()
        try:
            return DomainEventStream(connection, self.source, self.options.event_types, self.options.domains,
                                     self.emit, on_close=self._on_close).start()
        except BaseException:
            connection.close()
            raise

    def _on_close(self, reason: str) -> None:
        call_in_loop(self._loop, self._lost.put_nowait, reason)

    async def run(self) -> None:
        """Forever: wait for the connection to break, say so, reconnect with backoff, say so."""
        while True:
            reason = await self._lost.get()
            lost_at = time.monotonic()
            self.emit(self.source.connection_event("disconnected", reason=reason))
            await self.close()
            attempts = await self._reconnect()
            self.emit(self.source.connection_event("reconnected", attempts=attempts,
                                                   seconds_disconnected=round(time.monotonic() - lost_at, 3)))

    async def _reconnect(self) -> int:
        backoff = Backoff(self.options.reconnect_delay, self.options.reconnect_max_delay)
        attempts = 0
        while True:
            await asyncio.sleep(backoff.delay())
            attempts += 1
            try:
                self.stream = await self._loop.run_in_executor(None, self.open_stream)
                return attempts
            except LibvirtCallError:
                continue  # the daemon is not back yet, or went away again while we subscribed

    async def close(self) -> None:
        """Remove the subscriptions and close the connection (a broken one has little left to remove)."""
        stream, self.stream = self.stream, None
        if stream is not None:
            await self._loop.run_in_executor(None, _close, stream)


async def run(queue: Any, args: dict[str, Any]) -> None:
    """The source's main: every event of every URI onto `queue` (asyncio.Queue-like: `await queue.put`)."""
    if LIBVIRT_IMPORT_ERROR:
        raise VirtopsError("the virtops.libvirt.domain_events source needs libvirt-python (pip install libvirt-python)")
    options = SourceOptions.from_args(args)
    loop = asyncio.get_running_loop()
    # Unbounded, so the event-loop thread never waits; it also carries what ends a host's task.
    inbox: asyncio.Queue[Union[dict[str, Any], BaseException]] = asyncio.Queue()

    def emit(event: dict[str, Any]) -> None:
        call_in_loop(loop, inbox.put_nowait, event)

    hosts = [HostWatch(source, params, options, emit) for source, params in options.targets]
    tasks: list[asyncio.Task[None]] = []
    try:
        _raise_first(await asyncio.gather(*(host.connect() for host in hosts), return_exceptions=True))
        tasks = [asyncio.create_task(host.run()) for host in hosts]
        for task in tasks:
            task.add_done_callback(lambda done: done.cancelled() or done.exception() is None
                                   or inbox.put_nowait(done.exception()))
        while True:
            item = await inbox.get()
            if isinstance(item, BaseException):
                raise item  # a host's watch failed unexpectedly: the source must not go on silently without it
            await queue.put(item)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, *(host.close() for host in hosts), return_exceptions=True)


def _raise_first(results: list[Any]) -> None:
    """All connect failures in one error (each names its URI); anything else as it is."""
    errors = [result for result in results if isinstance(result, BaseException)]
    if len(errors) > 1 and all(isinstance(error, VirtopsError) for error in errors):
        raise ConnectionFailed("; ".join(str(error) for error in errors), operation="connect")
    if errors:
        raise errors[0]


def call_in_loop(loop: asyncio.AbstractEventLoop, function: Callable[..., Any], *args: Any) -> None:
    """`function(*args)` in `loop`'s thread, from libvirt's event-loop thread; nothing once the loop has closed."""
    try:
        loop.call_soon_threadsafe(function, *args)
    except RuntimeError:
        pass  # the source has ended: a callback that was already running has nobody left to tell


def _close(stream: DomainEventStream) -> None:
    stream.stop()
    stream.connection.close()
