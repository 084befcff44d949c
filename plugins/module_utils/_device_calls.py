# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The typed device calls of one domain: attach, update and detach a device (hot-plug and the persistent definition).

Each libvirt method is called from exactly one method here, named after it in snake case. `label`
names the device in errors ("attach disk vdb failed: ..."). None of these is repeated
automatically: a hot-plug or unplug that timed out may have happened.
"""

from __future__ import annotations

from ansible_collections.virtops.libvirt.plugins.module_utils._domain_calls import DomainCalls


class DeviceCalls(DomainCalls):
    """Devices of one domain, each given as its XML element (flags: VIR_DOMAIN_AFFECT_LIVE / _CONFIG)."""

    def attach_device_flags(self, xml: str, flags: int, label: str) -> None:
        self.domain.invoke(f"attach {label}", self.virdomain.attachDeviceFlags, xml, flags)

    def update_device_flags(self, xml: str, flags: int, label: str) -> None:
        self.domain.invoke(f"update {label}", self.virdomain.updateDeviceFlags, xml, flags)

    def detach_device_flags(self, xml: str, flags: int, label: str) -> None:
        self.domain.invoke(f"detach {label}", self.virdomain.detachDeviceFlags, xml, flags)

    def detach_device_alias(self, alias: str, flags: int, label: str) -> None:
        """Asks the guest to release the device; it is gone when libvirt's device-removed event says so."""
        self.domain.invoke(f"detach {label}", self.virdomain.detachDeviceAlias, alias, flags)
