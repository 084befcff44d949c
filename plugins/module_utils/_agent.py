# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest agent of one domain: bounded calls, waiting for it, file-system freezes that always thaw.

libvirt's own agent APIs (guestInfo, fsFreeze, fsThaw, setUserPassword...) come first: a raw
agent command (qemuAgentCommand) marks the domain tainted ("custom-ga-command"), so it is only
used for what libvirt has no API for, and its arguments never reach a message or a log when they
are secret.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
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
from ansible_collections.virtops.libvirt.plugins.module_utils._events import AGENT_LIFECYCLE

try:
    import libvirt_qemu
except ImportError:
    libvirt_qemu = None  # part of libvirt-python; _module reports a missing libvirt-python

AGENT_CHANNEL = "org.qemu.guest_agent.0"  # the virtio-serial port name qemu-ga listens on
DEFAULT_CALL_TIMEOUT = 5  # seconds a single agent call may take


class GuestAgent:
    """Calls to one domain's guest agent, each bounded by `timeout` seconds."""

    def __init__(self, domain: Domain, timeout: int = DEFAULT_CALL_TIMEOUT) -> None:
        self.domain = domain
        self.timeout = timeout

    def has_channel(self) -> bool:
        """Whether the (live) definition has the guest agent's virtio channel."""
        root = _xml.parse(self.domain.xml_desc(0), "domain XML")
        return bool(root.xpath("devices/channel/target[@type='virtio' and @name=$name]", name=AGENT_CHANNEL))

    def set_response_timeout(self, seconds: int) -> None:
        """How long libvirt waits for the agent on every later call on this connection's domain."""
        self.domain.invoke("set the guest agent's response timeout", self.domain.virdomain.agentSetResponseTimeout,
                           seconds, 0, idempotent=True)

    def guest_info(self, types: int = 0) -> dict[str, Any]:
        """libvirt's guestInfo (no taint): users, os, timezone, hostname, filesystems..."""
        return self.domain.invoke("read guest info", self.domain.virdomain.guestInfo, types, 0, idempotent=True)

    def hostname(self) -> Optional[str]:
        return self.guest_info(libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME).get("hostname")

    def ping(self) -> bool:
        """Whether the agent answers now (through guestInfo: no custom-ga-command taint)."""
        try:
            self.hostname()
        except LibvirtCallError:
            return False
        return True

    def fs_freeze(self, mountpoints: Optional[list[str]] = None) -> int:
        return self.domain.invoke("freeze guest filesystems", self.domain.virdomain.fsFreeze, mountpoints, 0)

    def fs_thaw(self, mountpoints: Optional[list[str]] = None) -> int:
        return self.domain.invoke("thaw guest filesystems", self.domain.virdomain.fsThaw, mountpoints, 0)

    @contextmanager
    def frozen(self, report: dict[str, Any], mountpoints: Optional[list[str]] = None) -> Iterator[None]:
        """File systems frozen for the block, thawed after it whatever happens.

        `report` receives frozen_filesystems and thawed_filesystems. A failed thaw never hides
        the block's own error; after a block that succeeded it raises with after_change set,
        since whatever the block did (a snapshot) exists.
        """
        report["frozen_filesystems"] = self.fs_freeze(mountpoints)
        try:
            yield
        except VirtopsError as failed:
            try:
                report["thawed_filesystems"] = self.fs_thaw(mountpoints)
            except VirtopsError as error:
                failed.message = f"{failed.message} (thawing the guest's file systems failed too: {error.message})"
                failed.args = (failed.message,)
            raise
        except BaseException:
            self._thaw_quietly(mountpoints)
            raise
        try:
            report["thawed_filesystems"] = self.fs_thaw(mountpoints)
        except VirtopsError as error:
            error.after_change = True
            raise

    def _thaw_quietly(self, mountpoints: Optional[list[str]]) -> None:
        try:
            self.fs_thaw(mountpoints)
        except VirtopsError:
            pass  # the original exception is the one to report

    def command(self, execute: str, arguments: Optional[dict[str, Any]] = None,
                secrets: Iterable[str] = ()) -> Any:
        """A raw agent command (taints the domain: only where libvirt has no API); its decoded "return".

        Values in `secrets` (or in arguments named like passwords) are masked in any error.
        """
        request: dict[str, Any] = {"execute": execute}
        if arguments is not None:
            request["arguments"] = arguments
        hidden = list(secrets) + [str(value) for key, value in (arguments or {}).items()
                                  if any(word in key.lower() for word in ("password", "passwd", "secret"))]
        try:
            reply = self.domain.invoke(f"guest agent {execute}", libvirt_qemu.qemuAgentCommand, self.domain.virdomain,
                                       json.dumps(request), self.timeout, 0)
        except LibvirtCallError as error:
            error.message = redact(error.message, hidden)
            error.libvirt_message = redact(error.libvirt_message or "", hidden) or None
            error.args = (error.message,)
            raise
        return json.loads(reply).get("return")

    def require_channel(self, operation: str) -> None:
        if not self.has_channel():
            raise UnsupportedOperation(
                f"domain '{self.domain.name}' has no guest agent channel, so no guest agent can answer: add "
                f"<channel type='unix'><target type='virtio' name='{AGENT_CHANNEL}'/></channel> to its devices",
                domain=self.domain.name, operation=operation)

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
        last_error: list[str] = []

        def answers() -> Optional[float]:
            try:
                self.hostname()
                return time.monotonic() - started
            except LibvirtCallError as error:
                last_error[:] = [error.libvirt_message or error.message]
                return None

        def timed_out() -> WaitTimeout:
            return WaitTimeout(
                f"the guest agent of domain '{self.domain.name}' did not answer within {timeout:g} s "
                f"(last error: {last_error[0] if last_error else 'none'})",
                domain=self.domain.name, operation="wait for guest agent")

        with self.domain.watch().on(AGENT_LIFECYCLE) as watch:
            return watch.wait_until(answers, timeout, timed_out, fallback=1.0)
