# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Opening and closing libvirt connections, and the one place libvirtError is translated.

`Connection.invoke()` runs a libvirt call (only for the typed wrappers: here, _domain,
_domain_calls, _agent and _jobs) and turns libvirtError into the collection's exceptions;
calls the caller marks idempotent are retried on transient errors ("cannot acquire state change
lock") with a bounded backoff that respects a deadline.
"""

from __future__ import annotations

import os
import re
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Optional, TypeVar
from urllib.parse import urlsplit

from ansible_collections.virtops.libvirt.plugins.module_utils._events import EventLoop
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    REDACTED,
    ConnectionFailed,
    DomainNotFound,
    LibvirtCallError,
    TransientError,
    UnsupportedOperation,
    VirtopsError,
)

try:
    import libvirt
except ImportError:
    libvirt = None
    LIBVIRT_IMPORT_ERROR: Optional[str] = traceback.format_exc()
else:
    LIBVIRT_IMPORT_ERROR = None

DEFAULT_URI = "qemu:///system"
URI_ENVIRONMENT_VARIABLE = "LIBVIRT_DEFAULT_URI"
# libvirt-python has no connect timeout: an open of a daemon that accepts and never answers
# blocks forever. Connections are opened in a thread and given up after this many seconds.
DEFAULT_CONNECT_TIMEOUT = 30.0
# After opening: a keepalive every 5 s of silence, the peer dead after 3 unanswered ones, so a
# call to a hung daemon fails after about 20 s instead of blocking forever.
DEFAULT_KEEPALIVE_INTERVAL = 5
DEFAULT_KEEPALIVE_COUNT = 3

T = TypeVar("T")

# libvirt says these when another job holds the domain for a moment; the same call usually
# succeeds a little later.
TRANSIENT_MESSAGES = (
    "cannot acquire state change lock",
    "timed out during operation",
    "another migration job is already in progress",
)


def _codes(*names: str) -> frozenset[int]:
    if libvirt is None:
        return frozenset()
    return frozenset(getattr(libvirt, name) for name in names if hasattr(libvirt, name))


# libvirt says these when the connection itself is gone (the daemon died or stopped answering).
CONNECTION_LOST_MESSAGES = (
    "keepalive timeout",
    "client socket is closed",
    "end of file while reading data",
    "cannot recv data",
)

NOT_FOUND_CODES = _codes("VIR_ERR_NO_DOMAIN")
UNSUPPORTED_CODES = _codes(
    "VIR_ERR_NO_SUPPORT", "VIR_ERR_ARGUMENT_UNSUPPORTED", "VIR_ERR_OPERATION_UNSUPPORTED", "VIR_ERR_CONFIG_UNSUPPORTED"
)
TRANSIENT_CODES = _codes("VIR_ERR_OPERATION_TIMEOUT")
CONNECTION_CODES = _codes(
    "VIR_ERR_NO_CONNECT", "VIR_ERR_AUTH_FAILED", "VIR_ERR_AUTH_CANCELLED", "VIR_ERR_AUTH_UNAVAILABLE", "VIR_ERR_INVALID_CONN"
)


def resolve_uri(uri: Optional[str]) -> str:
    """The task's URI, else $LIBVIRT_DEFAULT_URI, else qemu:///system (libvirt's own precedence)."""
    return uri or os.environ.get(URI_ENVIRONMENT_VARIABLE) or DEFAULT_URI


# scheme://user:password@host...: the password part of a URI's authority.
_URI_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*):[^/?#@]*@")


def is_local_uri(uri: str) -> bool:
    """A URI without a host part: the daemon runs on this machine, so its paths are ours."""
    return not urlsplit(uri).netloc


def redact_uri(uri: str) -> str:
    """The URI without the password a user may have put in it (user:password@host)."""
    return _URI_PASSWORD.sub(rf"\1:{REDACTED}@", uri)


def redact(text: str, secrets: Iterable[Optional[str]]) -> str:
    """`text` with every non-empty secret replaced, for messages that quote libvirt or a URI."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def _uri_password(uri: str) -> Optional[str]:
    match = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*:([^/?#@]*)@", uri)
    return match.group(1) if match else None


def translate_error(error: Exception, operation: str, domain: Optional[str] = None) -> LibvirtCallError:
    """Turn a libvirtError into the collection exception that says what failed, where and why."""
    code = error.get_error_code() if hasattr(error, "get_error_code") else None
    detail = error.get_error_message() if hasattr(error, "get_error_message") else None
    libvirt_message = detail or f"{error} (libvirt gave no detail)"
    subject = f"domain '{domain}': " if domain else ""
    message = f"{subject}{operation} failed: {libvirt_message}"
    if not code and not detail:
        # libvirt-python reads the thread's last error after the call; a virDomain or virConnect
        # freed by the garbage collector in between resets it. Asking again is the only way to
        # learn what happened, so for a call safe to repeat this is worth a retry.
        kind: type[LibvirtCallError] = TransientError
    elif code in NOT_FOUND_CODES:
        kind = DomainNotFound
    elif code in UNSUPPORTED_CODES:
        kind = UnsupportedOperation
    elif code in TRANSIENT_CODES or any(text in libvirt_message.lower() for text in TRANSIENT_MESSAGES):
        kind = TransientError
    elif code in CONNECTION_CODES or any(text in libvirt_message.lower() for text in CONNECTION_LOST_MESSAGES):
        kind = ConnectionFailed
    else:
        kind = LibvirtCallError
    return kind(message, code=code, libvirt_message=libvirt_message, domain=domain, operation=operation)


@dataclass
class RetryPolicy:
    """Bounded exponential backoff for transient libvirt errors, never sleeping past `deadline`.

    `deadline` is a time.monotonic() value (the task's own limit), or None for no limit.
    """

    attempts: int = 4
    first_delay: float = 0.5
    max_delay: float = 4.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    deadline: Optional[float] = None
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def delays(self):
        delay = self.first_delay
        for _attempt in range(self.attempts - 1):
            yield delay
            delay = min(delay * 2, self.max_delay)

    def allows(self, delay: float) -> bool:
        """Whether sleeping `delay` seconds now would still end before the deadline."""
        return self.deadline is None or self.clock() + delay <= self.deadline


def call_libvirt(
    operation: str,
    func: Callable[..., T],
    *args: Any,
    domain: Optional[str] = None,
    retry: Optional[RetryPolicy] = None,
) -> T:
    """Run one libvirt call with error translation; with a `retry` policy, transient errors are retried.

    Only a caller that knows the call is safe to repeat passes a policy: a read, or a change whose
    effect is checked before repeating. Never a start, migration, backup begin or snapshot create:
    a "timed out" answer does not say the daemon did not do it.
    """
    delays = retry.delays() if retry is not None else iter(())
    while True:
        try:
            return func(*args)
        except libvirt.libvirtError as error:
            translated = translate_error(error, operation, domain)
            if not isinstance(translated, TransientError):
                raise translated from None
            delay = next(delays, None)
            if delay is None or not retry.allows(delay):
                raise translated from None
            retry.sleep(delay)


def naming_lost_host(error: ConnectionFailed, uri: str) -> ConnectionFailed:
    """The error of a call whose connection broke, naming the host: libvirt's "client socket is
    closed" does not say which of a task's hosts went away."""
    return ConnectionFailed(f"{error.message} - lost the connection to libvirt at '{redact_uri(uri)}'", code=error.code,
                            libvirt_message=error.libvirt_message, domain=error.domain, operation=error.operation)


def _silence_default_error_handler() -> None:
    # libvirt prints every error to stderr by default; we report errors ourselves.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


class StoragePool:
    """One virStoragePool (the backup module reads directories on a remote libvirt host through them)."""

    def __init__(self, connection: "Connection", handle: Any) -> None:
        self.connection = connection
        self.handle = handle

    def xml_desc(self) -> str:
        return self.connection.invoke("read storage pool", self.handle.XMLDesc, 0, idempotent=True)

    def refresh(self, what: str) -> None:
        self.connection.invoke(f"refresh the storage pool of {what}", self.handle.refresh, 0, idempotent=True)

    def list_volumes(self, what: str) -> list[str]:
        return list(self.connection.invoke(f"list the files in {what}", self.handle.listVolumes, idempotent=True))

    def destroy(self, what: str) -> None:
        self.connection.invoke(f"end the look at {what}", self.handle.destroy)


class StorageVolume:
    """One virStorageVol (domain_block grows the image of a shut-off domain's disk through it)."""

    def __init__(self, connection: "Connection", handle: Any) -> None:
        self.connection = connection
        self.handle = handle

    def resize(self, capacity: int, what: str) -> None:
        self.connection.invoke(f"resize {what}", self.handle.resize, capacity, 0, idempotent=True)


class _OpenInThread:
    """One libvirt open running in a daemon thread, so that the caller can stop waiting for it.

    An open given up on is closed as soon as it completes, if it ever does.
    """

    def __init__(self, opener: Callable[[], Any]) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._abandoned = False
        self._conn: Any = None
        self._error: Optional[BaseException] = None
        threading.Thread(target=self._run, args=(opener,), name="libvirt-open", daemon=True).start()

    def _run(self, opener: Callable[[], Any]) -> None:
        try:
            conn = opener()
        except Exception as error:  # pylint: disable=broad-except
            with self._lock:
                self._error = error  # re-raised in the caller's thread
                self._done.set()
            return
        with self._lock:
            if not self._abandoned:
                self._conn = conn
                self._done.set()
                return
        _close_quietly(conn)

    def result(self, timeout: float) -> Any:
        """The connection; None when it did not open within `timeout` seconds (then given up)."""
        self._done.wait(timeout)
        with self._lock:
            if not self._done.is_set():
                self._abandoned = True
                return None
        if self._error is not None:
            raise self._error
        return self._conn


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except libvirt.libvirtError:
        pass  # closing a dead connection has nothing left to release


@dataclass
class ConnectionParams:
    uri: Optional[str] = None
    auth_username: Optional[str] = None
    auth_password: Optional[str] = field(default=None, repr=False)
    readonly: bool = False
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    keepalive_interval: int = DEFAULT_KEEPALIVE_INTERVAL  # 0: no keepalive
    keepalive_count: int = DEFAULT_KEEPALIVE_COUNT

    @classmethod
    def from_module_params(cls, params: dict[str, Any], readonly: bool = False) -> "ConnectionParams":
        return cls(
            uri=params.get("uri"),
            auth_username=params.get("auth_username"),
            auth_password=params.get("auth_password"),
            readonly=readonly,
        )

    def answer_credentials(self, credentials: list[list[Any]], _opaque: Any) -> int:
        """libvirt's openAuth callback: fill in each requested credential, or refuse."""
        for credential in credentials:
            kind = credential[0]
            if kind in (libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_USERNAME):
                value = self.auth_username
            elif kind in (libvirt.VIR_CRED_PASSPHRASE, libvirt.VIR_CRED_NOECHOPROMPT):
                value = self.auth_password
            else:
                value = None
            if value is None:
                return -1
            credential[4] = value
        return 0


class Connection:
    """One libvirt connection; a context manager that always closes it.

    Opening is bounded by params.connect_timeout; keepalive then bounds every call to a daemon
    that stops answering. The event loop runs when `events` is wanted or keepalive is on.

    >>> with Connection(ConnectionParams(uri="test:///default")) as connection:
    ...     virdomain = connection.lookup_by_name("test")
    """

    def __init__(self, params: ConnectionParams, retry: Optional[RetryPolicy] = None, events: bool = True) -> None:
        self.params = params
        self.uri = resolve_uri(params.uri)
        self.retry = retry or RetryPolicy()
        self.events = events
        self._conn = None

    @property
    def conn(self):
        if self._conn is None:
            raise ConnectionFailed(f"not connected to {self.uri}", operation="connect")
        return self._conn

    def open(self) -> "Connection":
        """Connect within params.connect_timeout, then start keepalive; ConnectionFailed otherwise."""
        if self._conn is not None:
            return self
        _silence_default_error_handler()
        if self.events or self.params.keepalive_interval > 0:
            EventLoop.ensure_running()  # keepalive messages are sent and answered by the event loop
        try:
            conn = _OpenInThread(self._open).result(self.params.connect_timeout)
        except libvirt.libvirtError as error:
            reason = self.redact(error.get_error_message() or str(error))
            raise ConnectionFailed(
                f"cannot connect to libvirt at '{redact_uri(self.uri)}': {reason}",
                code=error.get_error_code(),
                libvirt_message=reason,
                operation="connect",
            ) from None
        if conn is None:
            raise ConnectionFailed(
                f"cannot connect to libvirt at '{redact_uri(self.uri)}': no answer within "
                f"{round(self.params.connect_timeout, 1):g} s (connect timeout); the daemon or the network does not respond",
                operation="connect",
            )
        self._conn = conn
        self._start_keepalive()
        return self

    def _start_keepalive(self) -> None:
        """A daemon that stops answering then fails the pending call instead of hanging it."""
        if self.params.keepalive_interval <= 0:
            return
        try:
            self._conn.setKeepAlive(self.params.keepalive_interval, self.params.keepalive_count)
        except libvirt.libvirtError:
            pass  # drivers without a daemon (test:///, in-process ones) have no peer that could hang

    def _open(self):
        flags = libvirt.VIR_CONNECT_RO if self.params.readonly else 0
        if self.params.auth_username is None and self.params.auth_password is None:
            return libvirt.openReadOnly(self.uri) if self.params.readonly else libvirt.open(self.uri)
        auth = [
            [libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_USERNAME, libvirt.VIR_CRED_PASSPHRASE, libvirt.VIR_CRED_NOECHOPROMPT],
            self.params.answer_credentials,
            None,
        ]
        return libvirt.openAuth(self.uri, auth, flags)

    def redact(self, text: str) -> str:
        """`text` without this connection's secrets (the SASL password, a password in the URI)."""
        return redact(text, (self.params.auth_password, _uri_password(self.uri)))

    def close(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        _close_quietly(conn)

    def invoke(self, operation: str, func: Callable[..., T], *args: Any, domain: Optional[str] = None,
               idempotent: bool = False) -> T:
        """Run `func(*args)` with this connection's error translation: for the typed wrappers only.

        Transient errors are retried with this connection's policy only when the caller says the
        call is `idempotent` (safe to repeat); any other call fails on its first error.
        """
        try:
            return call_libvirt(operation, func, *args, domain=domain, retry=self.retry if idempotent else None)
        except ConnectionFailed as error:
            # a call on this connection can also lose another one (a migration's to the destination)
            if self._conn is not None and self.is_alive():
                raise
            raise naming_lost_host(error, self.uri) from None

    # --- typed calls on the connection (virConnect*) -------------------------------------------

    def is_alive(self) -> bool:
        """Whether the connection still stands (a local check, no call to the daemon)."""
        try:
            return bool(self.conn.isAlive())
        except libvirt.libvirtError:
            return False

    def lookup_by_name(self, name: str) -> Any:
        return self.invoke("lookup by name", self.conn.lookupByName, name, domain=name, idempotent=True)

    def lookup_by_uuid(self, uuid: str) -> Any:
        return self.invoke("lookup by UUID", self.conn.lookupByUUIDString, uuid, domain=uuid, idempotent=True)

    def lib_version(self) -> int:
        """The daemon's libvirt version (major * 1,000,000 + minor * 1,000 + release)."""
        return self.invoke("read the daemon's libvirt version", self.conn.getLibVersion, idempotent=True)

    def driver_type(self) -> str:
        """'QEMU', 'Test', ...: the hypervisor driver behind this connection."""
        return self.invoke("read driver type", self.conn.getType, idempotent=True)

    def compare_hypervisor_cpu(self, cpu_xml: str, emulator: Optional[str], arch: Optional[str],
                               machine: Optional[str], virttype: Optional[str]) -> int:
        """virConnectCompareHypervisorCPU: whether this host's hypervisor can provide the CPU described."""
        return self.invoke("compare the CPU with the hypervisor's", self.conn.compareHypervisorCPU, emulator, arch,
                           machine, virttype, cpu_xml, 0, idempotent=True)

    def list_all_domains(self, flags: int, what: str = "domains") -> list[Any]:
        return self.invoke(f"list {what}", self.conn.listAllDomains, flags, idempotent=True)

    def get_all_domain_stats(self, stats: int, flags: int = 0) -> list[Any]:
        return self.invoke("get all domain stats", self.conn.getAllDomainStats, stats, flags, idempotent=True)

    def domain_list_get_stats(self, virdomains: list[Any], stats: int, flags: int = 0) -> list[Any]:
        return self.invoke("get domain stats", self.conn.domainListGetStats, virdomains, stats, flags, idempotent=True)

    def define_xml_flags(self, text: str, flags: int, operation: str, domain: Optional[str] = None) -> Any:
        return self.invoke(operation, self.conn.defineXMLFlags, text, flags, domain=domain)

    def list_all_storage_pools(self, flags: int) -> list["StoragePool"]:
        pools = self.invoke("list storage pools", self.conn.listAllStoragePools, flags, idempotent=True)
        return [StoragePool(self, pool) for pool in pools]

    def storage_pool_create_xml(self, text: str, operation: str) -> "StoragePool":
        return StoragePool(self, self.invoke(operation, self.conn.storagePoolCreateXML, text, 0))

    def storage_vol_lookup_by_path(self, path: str) -> "StorageVolume":
        found = self.invoke(f"look up the storage volume of {path}", self.conn.storageVolLookupByPath, path, idempotent=True)
        return StorageVolume(self, found)

    def register_domain_event(self, virdomain: Any, event_id: int, callback: Callable[..., None],
                              domain: Optional[str] = None) -> int:
        return self.invoke("watch domain events", self.conn.domainEventRegisterAny, virdomain, event_id, callback, None,
                           domain=domain)

    def deregister_domain_event(self, callback_id: int, domain: Optional[str] = None) -> None:
        self.invoke("stop watching domain events", self.conn.domainEventDeregisterAny, callback_id, domain=domain)

    def register_close_callback(self, callback: Callable[[int], None]) -> None:
        """`callback(reason)` (VIR_CONNECT_CLOSE_REASON_*) in the event-loop thread when the connection breaks."""
        self.invoke("watch the connection", self.conn.registerCloseCallback,
                    lambda _conn, reason, _opaque: callback(reason), None)

    def unregister_close_callback(self) -> None:
        self.invoke("stop watching the connection", self.conn.unregisterCloseCallback)

    def limit_retries_to(self, deadline: float) -> None:
        """No retry sleep of this connection ends after `deadline` (a time.monotonic() value)."""
        self.retry = replace(self.retry, deadline=deadline)

    def __enter__(self) -> "Connection":
        return self.open()

    def __exit__(self, *_exc_info: Any) -> None:
        self.close()


def reopen_within(params: ConnectionParams, seconds: float,
                  ready: Callable[[Connection], T]) -> Optional[tuple[Connection, T]]:
    """A new open connection with `params` and what `ready(connection)` found on it, tried again
    (backing off from 0.5 s to 2 s) while a restarted daemon comes back, for up to `seconds`.

    For the cleanup of a task whose connection broke: None when the daemon (or `ready`) kept failing.
    """
    retry = RetryPolicy(attempts=100, first_delay=0.5, max_delay=2.0, deadline=time.monotonic() + seconds)
    for delay in (*retry.delays(), None):
        connection = Connection(params)
        try:
            return connection, ready(connection.open())
        except VirtopsError:
            connection.close()
            if delay is None or not retry.allows(delay):
                return None
            retry.sleep(delay)
    return None
