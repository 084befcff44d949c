# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The typed console and debug calls of one domain (domain_guest): keys, signals, NMI, screenshot, core dump.

Each libvirt method is called from exactly one method here, named after it in snake case. None of
them is safe to repeat (a key pressed twice, a second NMI), so none is retried. The screenshot
comes back through a libvirt stream, received here into the caller's writer: the image travels
to the libvirt client (the machine the module runs on), while a core dump is written by the
daemon on the hypervisor host.
"""

from __future__ import annotations

from typing import Any, Callable

from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain


class ConsoleCalls:
    """Keys, signals, NMI, screenshots and core dumps of one running domain."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.virdomain = domain.virdomain

    def send_key(self, keycode_set: int, hold_time_ms: int, codes: list[int]) -> None:
        """Press the keys together and release them after `hold_time_ms` (0: the hypervisor's default)."""
        self.domain.invoke(f"send keys {codes}", self.virdomain.sendKey, keycode_set, hold_time_ms, codes,
                           len(codes), 0)

    def send_process_signal(self, pid: int, signal: int, signal_name: str) -> None:
        """virDomainSendProcessSignal (libvirt's LXC driver has it; QEMU's answers "not supported")."""
        self.domain.invoke(f"send {signal_name} to process {pid}", self.virdomain.sendProcessSignal, pid, signal, 0)

    def inject_nmi(self) -> None:
        self.domain.invoke("inject an NMI", self.virdomain.injectNMI, 0)

    def core_dump_with_format(self, path: str, dump_format: int, flags: int) -> None:
        """The guest's memory to `path` on the hypervisor host (VIR_DUMP_* flags)."""
        self.domain.invoke(f"dump the guest's core to {path}", self.virdomain.coreDumpWithFormat, path, dump_format,
                           flags)

    def screenshot(self, screen: int, write: Callable[[bytes], Any]) -> str:
        """The image of `screen`, handed to `write` chunk by chunk; returns its MIME type.

        A stream that fails half way is aborted, so the daemon does not keep sending.
        """
        connection = self.domain.connection
        stream = connection.invoke("open a stream", connection.conn.newStream, 0, domain=self.domain.name)
        finished = False
        try:
            mime_type = self.domain.invoke(f"take a screenshot of screen {screen}", self.virdomain.screenshot, stream,
                                           screen, 0)
            self.domain.invoke("receive the screenshot", stream.recvAll, lambda _stream, data, _opaque: _written(
                write, data), None)
            self.domain.invoke("finish the screenshot", stream.finish)
            finished = True
        finally:
            if not finished:
                _abort_quietly(stream)
        return str(mime_type or "application/octet-stream")


def _written(write: Callable[[bytes], Any], data: bytes) -> int:
    write(data)
    return len(data)


def _abort_quietly(stream: Any) -> None:
    """Abort a stream that failed already: its own error is the one to report."""
    try:
        stream.abort()
    except Exception:  # pylint: disable=broad-except  # libvirtError, or a stream that was never started
        pass
