# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest agent of one domain: bounded calls, waiting for it, file-system freezes that always thaw, raw commands.

libvirt's own agent APIs (guestInfo, fsFreeze, fsThaw, setUserPassword...) come first: a raw
agent command (qemuAgentCommand) marks the domain tainted ("custom-ga-command"), so it is only
used for what libvirt has no API for, and its arguments never reach a message or a log when they
are secret.

libvirt waits for the agent forever by default: a hung agent would hang the task (and hold the
domain's agent job, blocking every other client's agent call). So every libvirt agent call made
here runs inside `bounded()`, which sets libvirt's response timeout for the domain
(virDomainAgentSetResponseTimeout) and, since libvirt keeps that setting per running domain for
every client, restores libvirt's default (block) afterwards.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Iterable, Iterator, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import libvirt, redact
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    InvalidArgument,
    LibvirtCallError,
    UnsupportedOperation,
    VirtopsError,
    WaitTimeout,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._events import AGENT_LIFECYCLE, AgentLifecycleEvent, Deadline

try:
    import libvirt_qemu
except ImportError:
    libvirt_qemu = None  # part of libvirt-python; _module reports a missing libvirt-python

AGENT_CHANNEL = "org.qemu.guest_agent.0"  # the virtio-serial port name qemu-ga listens on
DEFAULT_CALL_TIMEOUT = 5  # seconds a single agent call may take
FREEZE_TIMEOUT = 60  # seconds for a freeze or thaw: the guest flushes every file system first
# virDomainAgentResponseTimeoutValues (libvirt 5.10+): wait forever (libvirt's initial value for every
# domain), qemu's 5 s default, or not at all; positive values are seconds.
RESPONSE_TIMEOUT_BLOCK = getattr(libvirt, "VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_BLOCK", -2)
RESPONSE_TIMEOUT_DEFAULT = getattr(libvirt, "VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_DEFAULT", -1)
RESPONSE_TIMEOUT_NOWAIT = getattr(libvirt, "VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_NOWAIT", 0)
# Argument names whose values are secrets in raw agent commands (guest-set-user-password's "password"...).
SECRET_WORDS = ("password", "passwd", "secret", "key", "token")
_OPERATION_DENIED = getattr(libvirt, "VIR_ERR_OPERATION_DENIED", 29)
_AGENT_UNRESPONSIVE = getattr(libvirt, "VIR_ERR_AGENT_UNRESPONSIVE", 86)


class GuestAgent:
    """Calls to one domain's guest agent, each bounded by `timeout` seconds (freezes by `freeze_timeout`)."""

    def __init__(self, domain: Domain, timeout: float = DEFAULT_CALL_TIMEOUT,
                 freeze_timeout: float = FREEZE_TIMEOUT) -> None:
        self.domain = domain
        self.timeout = timeout
        self.freeze_timeout = freeze_timeout
        self._bound: Optional[int] = None  # the response timeout set by the innermost bounded() block

    def has_channel(self) -> bool:
        """Whether the (live) definition has the guest agent's virtio channel."""
        root = _xml.parse(self.domain.xml_desc(0), "domain XML")
        return bool(root.xpath("devices/channel/target[@type='virtio' and @name=$name]", name=AGENT_CHANNEL))

    def set_response_timeout(self, seconds: int) -> None:
        """How long libvirt waits for this domain's agent on every later call, by any client.

        Seconds, or RESPONSE_TIMEOUT_BLOCK / _DEFAULT / _NOWAIT. libvirt keeps it until the domain stops.
        """
        self.domain.invoke("set the guest agent's response timeout", self.domain.virdomain.agentSetResponseTimeout,
                           seconds, 0, idempotent=True)

    @contextmanager
    def bounded(self, seconds: Optional[float] = None) -> Iterator[None]:
        """libvirt gives up on the agent after `seconds` (default: `timeout`) inside the block.

        Nested blocks without `seconds` keep the outer bound. After the outermost block libvirt's
        default (wait forever) is back, which is what other clients of the domain expect. A driver
        or a read-only connection that cannot set it leaves the calls as that driver makes them.
        """
        if seconds is None and self._bound is not None:
            yield
            return
        wanted = max(1, math.ceil(self.timeout if seconds is None else seconds))
        outer = self._bound
        applied = outer != wanted and self._apply(wanted)
        self._bound = wanted
        try:
            yield
        finally:
            self._bound = outer
            if applied:
                self._apply(RESPONSE_TIMEOUT_BLOCK if outer is None else outer)

    def _apply(self, seconds: int) -> bool:
        """Set the response timeout; whether libvirt took it."""
        try:
            self.set_response_timeout(seconds)
        except LibvirtCallError as error:
            if isinstance(error, UnsupportedOperation) or error.code == _OPERATION_DENIED:
                return False  # the test driver has no agent; a read-only connection may not tune it
            raise
        return True

    def guest_info(self, types: int = 0) -> dict[str, Any]:
        """libvirt's guestInfo (no taint): users, os, timezone, hostname, filesystems..."""
        with self.bounded():
            return self.domain.invoke("read guest info", self.domain.virdomain.guestInfo, types, 0, idempotent=True)

    def hostname(self) -> str:
        """The guest's hostname: an answer from the agent (LibvirtCallError when there is none)."""
        hostname = self.guest_info(libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME).get("hostname")
        if not hostname:
            # libvirt 9.0 answers {} instead of an error when the agent let the call time out (seen on the rig)
            raise LibvirtCallError(
                f"the guest agent of domain '{self.domain.name}' gave no hostname: it did not answer in time",
                code=_AGENT_UNRESPONSIVE, domain=self.domain.name, operation="read guest info")
        return hostname

    def ping(self) -> bool:
        """Whether the agent answers now (through guestInfo: no custom-ga-command taint)."""
        try:
            self.hostname()
        except LibvirtCallError:
            return False
        return True

    def fs_freeze(self, mountpoints: Optional[list[str]] = None) -> int:
        with self.bounded(self.freeze_timeout):
            return self.domain.invoke("freeze guest filesystems", self.domain.virdomain.fsFreeze, mountpoints, 0)

    def fs_thaw(self, mountpoints: Optional[list[str]] = None) -> int:
        with self.bounded(self.freeze_timeout):
            return self.domain.invoke("thaw guest filesystems", self.domain.virdomain.fsThaw, mountpoints, 0)

    def frozen(self, report: dict[str, Any], mountpoints: Optional[list[str]] = None) -> AbstractContextManager[None]:
        """File systems frozen for a `with` block, always thawed after it (see FrozenFileSystems)."""
        return FrozenFileSystems(self, mountpoints).frozen(report)

    def command(self, execute: str, arguments: Optional[dict[str, Any]] = None, secrets: Iterable[str] = ()) -> Any:
        """A raw agent command, its secrets masked in any error (see RawAgentCommand).

        Bounded like every other call: libvirt's guest-sync before the command waits up to 5 s unless the
        domain's response timeout is lower, whatever timeout the command itself is given.
        """
        with self.bounded():
            return RawAgentCommand(self.domain, self.timeout).run(execute, arguments, secrets)

    def require_channel(self, operation: str, needed_by: Optional[list[str]] = None) -> None:
        """A clear error before any agent call when the definition has no agent channel.

        `needed_by`: the options that asked for the agent, named first so the user knows which to drop.
        """
        if self.has_channel():
            return
        lead = f"domain '{self.domain.name}' has no guest agent channel, so no guest agent can answer"
        if needed_by:
            verb = "needs" if len(needed_by) == 1 else "need"
            lead = (f"{' and '.join(needed_by)} {verb} the guest agent, but domain '{self.domain.name}' "
                    "has no guest agent channel")
        raise UnsupportedOperation(
            f"{lead}: add <channel type='unix'><target type='virtio' name='{AGENT_CHANNEL}'/></channel> "
            "to its devices", domain=self.domain.name, operation=operation)

    def wait(self, timeout: float) -> float:
        """Block until the agent answers; return the seconds it took.

        Fails at once when the definition has no agent channel. Woken by agent lifecycle events
        (the agent connecting), re-tried every second as well, through guestInfo (no taint).
        Raises WaitTimeout with libvirt's last answer.
        """
        if timeout < 0:
            raise InvalidArgument(f"timeout must not be negative (got {timeout})")
        self.require_channel("wait for guest agent")
        started = time.monotonic()
        deadline = Deadline(timeout)
        last_error: list[str] = []
        last_probe = [0.0]  # seconds the last probe took: a hung agent makes each last the whole bound
        connected = [False]  # an agent lifecycle event said "connected" since the last probe

        def answers() -> Optional[float]:
            # a probe that would last as long as the last one and could not end by the deadline is not
            # started, unless the agent just connected (then it answers in milliseconds)
            if not connected[0] and deadline.remaining() < last_probe[0]:
                return None
            connected[0] = False
            probe_started = time.monotonic()
            try:
                self.hostname()
                return time.monotonic() - started
            except LibvirtCallError as error:
                last_error[:] = [error.libvirt_message or error.message]
                return None
            finally:
                last_probe[0] = time.monotonic() - probe_started

        def timed_out() -> WaitTimeout:
            return WaitTimeout(
                f"the guest agent of domain '{self.domain.name}' did not answer within {timeout:g} s "
                f"(last error: {last_error[0] if last_error else 'none'})",
                domain=self.domain.name, operation="wait for guest agent")

        def lifecycle(event: AgentLifecycleEvent) -> None:
            connected[0] = connected[0] or event.connected

        # each probe is bounded by agent_timeout, and by the wait itself when that is shorter
        with self.bounded(min(self.timeout, max(timeout, 1))), self.domain.watch().on(AGENT_LIFECYCLE, lifecycle) as watch:
            return watch.wait_until(answers, deadline, timed_out, fallback=1.0)


class FrozenFileSystems:
    """A guest's file systems frozen for a block and thawed after it, whatever happens (quiesced snapshots)."""

    def __init__(self, agent: GuestAgent, mountpoints: Optional[list[str]] = None) -> None:
        self.agent = agent
        self.mountpoints = mountpoints

    @contextmanager
    def frozen(self, report: dict[str, Any]) -> Iterator[None]:
        """File systems frozen for the block, thawed after it whatever happens.

        `report` receives frozen_filesystems and thawed_filesystems. A failed thaw never hides
        the block's own error; after a block that succeeded it raises with after_change set,
        since whatever the block did (a snapshot) exists. A freeze that fails (or is interrupted)
        is thawed too: an agent that timed out may still freeze some file systems after libvirt
        gave up on it.
        """
        with self.agent.bounded(self.agent.freeze_timeout):
            try:
                report["frozen_filesystems"] = self.agent.fs_freeze(self.mountpoints)
            except BaseException:
                self._thaw_quietly()
                raise
            try:
                yield
            except VirtopsError as failed:
                self._thaw_after(failed, report)
                raise
            except BaseException:  # KeyboardInterrupt, SystemExit...: a frozen guest must never stay frozen
                self._thaw_quietly()
                raise
            try:
                report["thawed_filesystems"] = self.agent.fs_thaw(self.mountpoints)
            except VirtopsError as error:
                error.after_change = True
                raise

    def _thaw_after(self, failed: VirtopsError, report: dict[str, Any]) -> None:
        """Thaw after the block failed; a failed thaw is added to the block's own error."""
        try:
            report["thawed_filesystems"] = self.agent.fs_thaw(self.mountpoints)
        except VirtopsError as error:
            failed.message = f"{failed.message} (thawing the guest's file systems failed too: {error.message})"
            failed.args = (failed.message,)

    def _thaw_quietly(self) -> None:
        try:
            self.agent.fs_thaw(self.mountpoints)
        except VirtopsError:
            pass  # the original exception is the one to report


class RawAgentCommand:
    """qemuAgentCommand, for what libvirt has no API for: it taints the domain ("custom-ga-command")."""

    def __init__(self, domain: Domain, timeout: float = DEFAULT_CALL_TIMEOUT) -> None:
        self.domain = domain
        self.timeout = timeout

    def run(self, execute: str, arguments: Optional[dict[str, Any]] = None, secrets: Iterable[str] = ()) -> Any:
        """A raw agent command (taints the domain: only where libvirt has no API); its decoded "return".

        Values in `secrets`, and values of arguments named like secrets (at any depth), are masked
        in any error, also as they appear JSON-escaped.
        """
        request: dict[str, Any] = {"execute": execute}
        if arguments is not None:
            request["arguments"] = arguments
        hidden = _masks(list(secrets) + _secret_values(arguments or {}))
        try:
            reply = self.domain.invoke(f"guest agent {execute}", libvirt_qemu.qemuAgentCommand, self.domain.virdomain,
                                       json.dumps(request), max(1, math.ceil(self.timeout)), 0)
        except LibvirtCallError as error:
            error.message = redact(error.message, hidden)
            error.libvirt_message = redact(error.libvirt_message or "", hidden) or None
            error.args = (error.message,)
            raise
        try:
            return json.loads(reply).get("return")
        except (TypeError, ValueError, AttributeError):
            raise VirtopsError(f"domain '{self.domain.name}': the guest agent's answer to {execute} is not a JSON "
                               "object", domain=self.domain.name, operation=f"guest agent {execute}") from None


def _secret_values(arguments: Any) -> list[str]:
    """Values of keys named like secrets, anywhere in the (nested) arguments."""
    found: list[str] = []
    if isinstance(arguments, dict):
        for key, value in arguments.items():
            if any(word in str(key).lower() for word in SECRET_WORDS) and not isinstance(value, (dict, list)):
                found.append(str(value))
            else:
                found.extend(_secret_values(value))
    elif isinstance(arguments, list):
        for item in arguments:
            found.extend(_secret_values(item))
    return found


def _masks(secrets: list[str]) -> list[str]:
    """Each secret as given and as it appears inside JSON (quotes and backslashes escaped); longest first."""
    masks = {secret for secret in secrets if secret} | {json.dumps(secret)[1:-1] for secret in secrets if secret}
    return sorted(masks, key=len, reverse=True)


class GuestSystem:
    """libvirt's agent APIs that read or change the guest's own state (domain_guest), each bounded by the agent's timeout.

    Kept apart from GuestAgent (waiting, freezing, raw commands) so each stays short; every call runs
    inside `agent.bounded()`, so a hung agent fails within the agent's timeout instead of hanging.
    """

    def __init__(self, agent: GuestAgent) -> None:
        self.agent = agent
        self.domain = agent.domain

    def _call(self, operation: str, func: Any, *args: Any, idempotent: bool = False,
              secrets: Iterable[str] = ()) -> Any:
        with self.agent.bounded():
            try:
                return self.domain.invoke(operation, func, *args, idempotent=idempotent)
            except LibvirtCallError as error:
                hidden = _masks(list(secrets))
                error.message = redact(error.message, hidden)
                error.libvirt_message = redact(error.libvirt_message or "", hidden) or None
                error.args = (error.message,)
                raise

    def get_time(self) -> dict[str, int]:
        """The guest's clock: {"seconds": ..., "nseconds": ...} (virDomainGetTime)."""
        return self._call("read the guest's time", self.domain.virdomain.getTime, 0, idempotent=True)

    def set_time(self, seconds: Optional[int] = None, nseconds: int = 0) -> None:
        """Set the guest's clock to that time, or (seconds None) let the guest read its RTC (VIR_DOMAIN_TIME_SYNC)."""
        sync = seconds is None
        self._call("sync the guest's time" if sync else "set the guest's time", self.domain.virdomain.setTime,
                   None if sync else {"seconds": seconds, "nseconds": nseconds},
                   getattr(libvirt, "VIR_DOMAIN_TIME_SYNC", 1) if sync else 0)

    def vcpus(self) -> dict[str, Any]:
        """The guest's vCPUs as CPU lists: {"vcpus": "0-3", "online": "0-1", "offlinable": "1-3"} (virDomainGetGuestVcpus)."""
        operation = "read the guest's vCPUs"
        return self.answered(self._call(operation, self.domain.virdomain.guestVcpus, 0, idempotent=True), operation)

    def guest_info(self, types: int = 0) -> dict[str, Any]:
        """guestInfo (see GuestAgent.guest_info), an empty answer being an error."""
        return self.answered(self.agent.guest_info(types), "read guest info")

    def answered(self, answer: Any, operation: str) -> Any:
        """The answer; LibvirtCallError when it is empty, libvirt 9.0's answer when the agent let the call time out."""
        if not answer:
            raise LibvirtCallError(
                f"domain '{self.domain.name}': {operation} failed: the guest agent did not answer in time "
                "(it is stopped or busy, or the guest's file systems are frozen)",
                code=_AGENT_UNRESPONSIVE, domain=self.domain.name, operation=operation)
        return answer

    def set_vcpus(self, cpulist: str, online: bool) -> None:
        self._call(f"set the guest's vCPUs {cpulist} {'online' if online else 'offline'}",
                   self.domain.virdomain.setGuestVcpus, cpulist, int(online), 0)

    def ssh_keys(self, user: str) -> list[str]:
        """The user's authorized SSH keys (virDomainAuthorizedSSHKeysGet)."""
        try:
            return list(self._call(f"read the SSH keys of guest user '{user}'",
                                   self.domain.virdomain.authorizedSSHKeysGet, user, 0, idempotent=True) or [])
        except LibvirtCallError as error:
            # qemu-ga fails the read when ~/.ssh/authorized_keys does not exist: that user has no keys
            if "authorized_keys" in error.message and "No such file or directory" in error.message:
                return []
            raise

    def set_ssh_keys(self, user: str, keys: list[str], mode: str = "replace") -> None:
        """Replace the user's keys, or `append` / `remove` these (virDomainAuthorizedSSHKeysSet)."""
        flags = {"replace": 0, "append": getattr(libvirt, "VIR_DOMAIN_AUTHORIZED_SSH_KEYS_SET_APPEND", 1),
                 "remove": getattr(libvirt, "VIR_DOMAIN_AUTHORIZED_SSH_KEYS_SET_REMOVE", 2)}[mode]
        self._call(f"{mode} SSH keys of guest user '{user}'", self.domain.virdomain.authorizedSSHKeysSet,
                   user, keys, flags)

    def set_password(self, user: str, password: str, encrypted: bool) -> None:
        """Set a guest user's password; the password never reaches an error (virDomainSetUserPassword)."""
        flags = getattr(libvirt, "VIR_DOMAIN_PASSWORD_ENCRYPTED", 1) if encrypted else 0
        self._call(f"set the password of guest user '{user}'", self.domain.virdomain.setUserPassword,
                   user, password, flags, secrets=[password])

    def fs_info(self) -> list[dict[str, Any]]:
        """Mounted file systems with the domain's disks under them (virDomainGetFSInfo)."""
        answer = self._call("read the guest's file systems", self.domain.virdomain.fsInfo, 0, idempotent=True)
        return [{"mountpoint": mountpoint, "name": name, "fstype": fstype, "disks": list(disks or [])}
                for mountpoint, name, fstype, disks in answer or []]
