# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Task option strings -> libvirt flag constants, with a clear error when this libvirt lacks one."""

from __future__ import annotations

from typing import Iterable, Mapping, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, UnsupportedOperation

SHUTDOWN_MODES: Mapping[str, str] = {
    "acpi": "VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN",
    "agent": "VIR_DOMAIN_SHUTDOWN_GUEST_AGENT",
    "initctl": "VIR_DOMAIN_SHUTDOWN_INITCTL",
    "signal": "VIR_DOMAIN_SHUTDOWN_SIGNAL",
    "paravirt": "VIR_DOMAIN_SHUTDOWN_PARAVIRT",
}
REBOOT_MODES: Mapping[str, str] = {
    "acpi": "VIR_DOMAIN_REBOOT_ACPI_POWER_BTN",
    "agent": "VIR_DOMAIN_REBOOT_GUEST_AGENT",
    "initctl": "VIR_DOMAIN_REBOOT_INITCTL",
    "signal": "VIR_DOMAIN_REBOOT_SIGNAL",
    "paravirt": "VIR_DOMAIN_REBOOT_PARAVIRT",
}
UNDEFINE_REMOVALS: Mapping[str, str] = {
    "managed_save": "VIR_DOMAIN_UNDEFINE_MANAGED_SAVE",
    "snapshots_metadata": "VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA",
    "checkpoints_metadata": "VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA",
    "nvram": "VIR_DOMAIN_UNDEFINE_NVRAM",
    "tpm": "VIR_DOMAIN_UNDEFINE_TPM",
}
# Their opposites, for a removal the user did not ask for (keep the file, drop the definition).
UNDEFINE_KEEPS: Mapping[str, str] = {
    "nvram": "VIR_DOMAIN_UNDEFINE_KEEP_NVRAM",
    "tpm": "VIR_DOMAIN_UNDEFINE_KEEP_TPM",
}
START_FLAGS: Mapping[str, str] = {
    "start_paused": "VIR_DOMAIN_START_PAUSED",
    "force_boot": "VIR_DOMAIN_START_FORCE_BOOT",
    "bypass_cache": "VIR_DOMAIN_START_BYPASS_CACHE",
    "reset_nvram": "VIR_DOMAIN_START_RESET_NVRAM",
}


def version_tuple(number: int) -> tuple[int, int, int]:
    """libvirt's version number (major * 1,000,000 + minor * 1,000 + micro) as a tuple."""
    return number // 1000000, number // 1000 % 1000, number % 1000


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def libvirt_version() -> str:
    """This libvirt-python's (the client library's) version as 'major.minor.micro'.

    Only for naming the build that lacks a constant: what a daemon can do depends on
    `daemon_version`, which may differ (a remote host, or a newer daemon than the client).
    """
    return version_text(version_tuple(libvirt.getVersion()))


def daemon_version(connection: Connection) -> tuple[int, int, int]:
    """The version of the libvirt that serves `connection` (virConnectGetLibVersion)."""
    return version_tuple(connection.lib_version())


def flag(constant: str, needed_for: Optional[str] = None) -> int:
    """The value of libvirt constant `constant`, or UnsupportedOperation naming it and the build."""
    value = getattr(libvirt, constant, None)
    if value is None:
        purpose = f" (needed for {needed_for})" if needed_for else ""
        raise UnsupportedOperation(
            f"this libvirt-python (libvirt {libvirt_version()}) has no {constant}{purpose}; a newer libvirt is required"
        )
    return value


def combine(option: str, chosen: Iterable[str], known: Mapping[str, str]) -> int:
    """OR together the flags for the chosen option values; an unknown value names the option."""
    value = 0
    for choice in chosen:
        if choice not in known:
            raise InvalidArgument(
                f"{option}: unknown value '{choice}'; expected one of {', '.join(sorted(known))}"
            )
        value |= flag(known[choice], needed_for=f"{option}={choice}")
    return value
