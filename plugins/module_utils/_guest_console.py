# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_guest's console and debug actions: screenshot, send_keys, signal, nmi, core_dump.

They are actions, not states: each one asked for is done on every run (always `changed`), and in
check mode only reported. None needs the guest agent; all need a running domain, checked while
planning so that check mode fails where the real run would. They run in PARTS' order: the
screenshot first (the screen as it was), the core dump last (it may reset the guest).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Optional
from urllib.parse import urlparse

from ansible_collections.virtops.libvirt.plugins.module_utils._console_calls import ConsoleCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, VirtopsError
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag
from ansible_collections.virtops.libvirt.plugins.module_utils._guest_keys import (
    KEYCODE_SETS,
    MAX_KEYS,
    key_code,
    signal_number,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._guest_part import GuestPart
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import Step

DUMP_FORMATS: dict[str, str] = {
    "raw": "VIR_DOMAIN_CORE_DUMP_FORMAT_RAW",
    "kdump-zlib": "VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_ZLIB",
    "kdump-lzo": "VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_LZO",
    "kdump-snappy": "VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_SNAPPY",
}
DUMP_FLAGS: dict[str, str] = {
    "memory_only": "VIR_DUMP_MEMORY_ONLY",
    "live": "VIR_DUMP_LIVE",
    "bypass_cache": "VIR_DUMP_BYPASS_CACHE",
    "reset": "VIR_DUMP_RESET",
}

ARGUMENT_SPECS: dict[str, dict[str, Any]] = {
    "screenshot": dict(type="dict", options=dict(
        path=dict(type="path", required=True),
        screen=dict(type="int", default=0))),
    "send_keys": dict(type="dict", no_log=False, options=dict(
        keys=dict(type="list", elements="str", required=True, no_log=False),
        keycode_set=dict(type="str", choices=list(KEYCODE_SETS), default="linux"),
        hold_time=dict(type="int", default=0))),
    "signal": dict(type="dict", options=dict(
        pid=dict(type="int", required=True),
        signal=dict(type="str", required=True))),
    "nmi": dict(type="bool"),
    "core_dump": dict(type="dict", options=dict(
        path=dict(type="str", required=True),
        format=dict(type="str", choices=list(DUMP_FORMATS), default="raw"),
        **{option: dict(type="bool", default=False) for option in DUMP_FLAGS})),
}


class ConsoleAction(GuestPart):
    """An action on the running domain: planned as one step, run on every (non check mode) run."""

    def plan(self) -> list[Step]:
        if not self.wanted:
            return []
        domain = self.context.domain
        if not domain.is_active():
            raise VirtopsError(f"{self.option}: domain '{domain.name}' is not running", domain=domain.name,
                               operation=self.option)
        return [Step(f"{self.option}: {self.describe()}", self.run)]

    @property
    def calls(self) -> ConsoleCalls:
        return ConsoleCalls(self.context.domain)

    def describe(self) -> str:
        raise NotImplementedError

    def run(self) -> None:
        raise NotImplementedError


class Screenshot(ConsoleAction):
    """The image of one screen, streamed to `path` on the machine the module runs on (mode 0600)."""

    option = "screenshot"

    def __init__(self, context: Any, wanted: Any) -> None:
        super().__init__(context, wanted)
        self.mime_type: Optional[str] = None
        self.size: Optional[int] = None

    def validate(self) -> None:
        if not os.path.isabs(self.wanted["path"]):
            raise InvalidArgument(f"screenshot: path must be absolute (got {self.wanted['path']!r})")
        if self.wanted["screen"] < 0:
            raise InvalidArgument(f"screenshot: screen must not be negative (got {self.wanted['screen']})")

    def describe(self) -> str:
        return f"screen {self.wanted['screen']} to {self.wanted['path']}"

    def run(self) -> None:
        """Into a temporary file next to `path`, renamed over it when complete: never a partial image."""
        path = self.wanted["path"]
        try:
            handle, partial = tempfile.mkstemp(prefix=".screenshot-", dir=os.path.dirname(path) or ".")
        except OSError as error:
            raise VirtopsError(f"screenshot: cannot write to {path}: {error.strerror}",
                               domain=self.context.domain.name, operation=self.option) from None
        try:
            with os.fdopen(handle, "wb") as image:
                self.mime_type = self.calls.screenshot(self.wanted["screen"], image.write)
                self.size = image.tell()
            os.replace(partial, path)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)

    def result(self) -> dict[str, Any]:
        if not self.wanted:
            return {}
        return {"screenshot": {"path": self.wanted["path"], "screen": self.wanted["screen"],
                               "mime_type": self.mime_type, "size": self.size}}


class SendKeys(ConsoleAction):
    """Keys pressed together (a chord: KEY_LEFTCTRL, KEY_LEFTALT, KEY_DELETE) and released after hold_time ms."""

    option = "send_keys"

    def validate(self) -> None:
        keys = self.wanted["keys"]
        if not keys or len(keys) > MAX_KEYS:
            raise InvalidArgument(f"send_keys: give 1 to {MAX_KEYS} keys, pressed together (got {len(keys)})")
        if self.wanted["hold_time"] < 0:
            raise InvalidArgument(f"send_keys: hold_time must not be negative (got {self.wanted['hold_time']})")
        self.codes()

    def codes(self) -> list[int]:
        return [key_code(key, self.wanted["keycode_set"]) for key in self.wanted["keys"]]

    def describe(self) -> str:
        return (f"{'+'.join(str(key) for key in self.wanted['keys'])} ({self.wanted['keycode_set']} codes "
                f"{', '.join(str(code) for code in self.codes())})")

    def run(self) -> None:
        keycode_set = flag(KEYCODE_SETS[self.wanted["keycode_set"]], "send_keys")
        self.calls.send_key(keycode_set, self.wanted["hold_time"], self.codes())

    def result(self) -> dict[str, Any]:
        if not self.wanted:
            return {}
        return {"send_keys": {"keycode_set": self.wanted["keycode_set"], "codes": self.codes()}}


class Signal(ConsoleAction):
    """A signal to a process of the guest (libvirt's LXC driver; QEMU's refuses it as not supported)."""

    option = "signal"

    def validate(self) -> None:
        if self.wanted["pid"] < 1:
            raise InvalidArgument(f"signal: pid must be positive (got {self.wanted['pid']})")
        signal_number(self.wanted["signal"])

    def signal_name(self) -> str:
        name = str(self.wanted["signal"]).strip().upper()
        return name if name.startswith("SIG") else f"SIG{name}"

    def describe(self) -> str:
        return f"{self.signal_name()} to process {self.wanted['pid']}"

    def run(self) -> None:
        self.calls.send_process_signal(self.wanted["pid"], signal_number(self.wanted["signal"]), self.signal_name())


class Nmi(ConsoleAction):
    """A non-maskable interrupt (a Linux guest logs it, or panics with kernel.unknown_nmi_panic=1)."""

    option = "nmi"

    def describe(self) -> str:
        return "inject a non-maskable interrupt"

    def run(self) -> None:
        self.calls.inject_nmi()


class CoreDump(ConsoleAction):
    """The guest's memory to a file the daemon writes on the hypervisor host."""

    option = "core_dump"

    def __init__(self, context: Any, wanted: Any) -> None:
        super().__init__(context, wanted)
        self.size: Optional[int] = None

    def validate(self) -> None:
        if not os.path.isabs(self.wanted["path"]):
            raise InvalidArgument(f"core_dump: path must be absolute, a path on the hypervisor host "
                                  f"(got {self.wanted['path']!r})")
        if self.wanted["format"] != "raw" and not self.wanted["memory_only"]:
            raise InvalidArgument(f"core_dump: format {self.wanted['format']} needs memory_only=true "
                                  "(only a memory-only dump can be kdump-compressed)")
        if self.wanted["live"] and self.wanted["reset"]:
            raise InvalidArgument("core_dump: live and reset exclude each other (libvirt refuses the pair)")

    def chosen_flags(self) -> list[str]:
        return [option for option in DUMP_FLAGS if self.wanted[option]]

    def describe(self) -> str:
        extras = ", ".join(option.replace("_", "-") for option in self.chosen_flags())
        return f"{self.wanted['format']} dump to {self.wanted['path']}" + (f" ({extras})" if extras else "")

    def run(self) -> None:
        flags = 0
        for option in self.chosen_flags():
            flags |= flag(DUMP_FLAGS[option], f"core_dump {option}")
        self.calls.core_dump_with_format(self.wanted["path"], flag(DUMP_FORMATS[self.wanted["format"]], "core_dump"),
                                         flags)
        self.size = self.local_size()

    def local_size(self) -> Optional[int]:
        """The dump's size when the hypervisor host is this machine (a URI without a host name)."""
        if urlparse(self.context.domain.connection.uri).hostname:
            return None
        try:
            return os.path.getsize(self.wanted["path"])
        except OSError:
            return None

    def result(self) -> dict[str, Any]:
        if not self.wanted:
            return {}
        return {"core_dump": {"path": self.wanted["path"], "format": self.wanted["format"], "size": self.size}}


PARTS: dict[str, type[GuestPart]] = {
    "screenshot": Screenshot,
    "send_keys": SendKeys,
    "signal": Signal,
    "nmi": Nmi,
    "core_dump": CoreDump,
}
