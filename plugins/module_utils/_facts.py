# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""API answers -> plain dicts, so every module and the inventory say the same thing the same way."""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils._domain import ABSENT, Domain


def absent_summary(name: str) -> dict[str, Any]:
    """The facts of a domain that does not exist."""
    return {
        "name": name, "uuid": None, "id": None, "state": ABSENT, "reason": None, "persistent": False,
        "autostart": False, "has_managed_save": False,
    }


def domain_summary(domain: Domain) -> dict[str, Any]:
    """Name, identity, state and the flags users act on."""
    current = domain.state()
    if current.state == ABSENT:
        return absent_summary(domain.name)
    domain_id = domain.call("read id", "ID")
    persistent = domain.is_persistent()
    return {
        "name": domain.name,
        "uuid": domain.uuid,
        "id": domain_id if domain_id >= 0 else None,
        "state": current.state,
        "reason": current.reason,
        "persistent": persistent,
        "autostart": domain.autostart() if persistent else False,
        "has_managed_save": domain.has_managed_save() if persistent else False,
    }
