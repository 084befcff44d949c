# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unplugging a device from a running domain: ask the guest, then wait for libvirt to say it is gone.

A live detach is a request the guest must answer (ACPI hot-unplug of a PCI device). libvirt's
device-removed event says it did, a device-removal-failed event that it refused; the live
definition no longer listing the device is the fallback check when an event is lost.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._device_calls import DeviceCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._device_match import alias_of
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import VirtopsError, WaitTimeout
from ansible_collections.virtops.libvirt.plugins.module_utils._events import DEVICE_REMOVAL_FAILED, DEVICE_REMOVED
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag

# Seconds between looks at the live definition when no event came (a lost event).
FALLBACK_INTERVAL = 1.0
STILL_THERE = "it is still attached; the persistent definition is unchanged"


class DeviceRemovalFailed(VirtopsError):
    """The guest refused to release a device (libvirt's device-removal-failed event)."""


class LiveDetach:
    """One device unplugged from the running domain, waited for until the guest released it."""

    def __init__(self, domain: Domain, calls: DeviceCalls, label: str, timeout: float,
                 still_attached: Callable[[], bool]) -> None:
        self.domain = domain
        self.calls = calls
        self.label = label
        self.timeout = timeout
        self.still_attached = still_attached  # reads the live definition again
        self.outcome: dict[str, Any] = {}

    def run(self, present) -> None:
        """Unplug `present` (the live device), by its alias when it has one (libvirt's asynchronous detach)."""
        alias = alias_of(present)
        self.outcome.clear()

        def ours(event: Any) -> bool:
            return alias is not None and event.alias == alias

        # Registered before the request, so an event that comes at once is not missed.
        with self.domain.watch().on(DEVICE_REMOVED, lambda event: self.outcome.setdefault("removed", event), ours) \
                .on(DEVICE_REMOVAL_FAILED, lambda event: self.outcome.setdefault("failed", event), ours) as watch:
            live = flag("VIR_DOMAIN_AFFECT_LIVE")
            if alias:
                self.calls.detach_device_alias(alias, live, self.label)
            else:
                self.calls.detach_device_flags(_xml.to_string(present, pretty=False), live, self.label)
            watch.wait_until(self._released, self.timeout, self._timed_out, fallback=FALLBACK_INTERVAL)

    def _released(self) -> Optional[bool]:
        if "failed" in self.outcome:
            raise DeviceRemovalFailed(f"the guest refused to release {self.label} (libvirt's device-removal-failed "
                                      f"event); {STILL_THERE}", domain=self.domain.name,
                                      operation=f"detach {self.label}")
        if "removed" in self.outcome or not self.still_attached():
            return True
        return None

    def _timed_out(self) -> WaitTimeout:
        return WaitTimeout(f"the guest did not release {self.label} within {self.timeout:g} s; {STILL_THERE} "
                           "(the guest may still release it later)", domain=self.domain.name,
                           operation=f"detach {self.label}")
