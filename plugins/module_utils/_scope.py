# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which definitions of a domain a change applies to: the running one (live), the persistent one (config).

libvirt's VIR_DOMAIN_AFFECT_LIVE and VIR_DOMAIN_AFFECT_CONFIG flags, and the task options `live` and
`config` that choose them (like virsh's --live and --config).
"""

from __future__ import annotations

from typing import Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag


def scope_flags(live: bool, config: bool) -> list[tuple[str, int]]:
    """(name, VIR_DOMAIN_AFFECT_*) for each definition a change applies to."""
    found = [("live", flag("VIR_DOMAIN_AFFECT_LIVE"))] if live else []
    return found + ([("config", flag("VIR_DOMAIN_AFFECT_CONFIG"))] if config else [])


def resolve_scope(live: Optional[bool], config: Optional[bool], active: bool, persistent: bool,
                  domain: str) -> tuple[bool, bool]:
    """The (live, config) a task changes.

    Neither given: the live definition when the domain runs, the persistent one when it has one.
    One given: only what it says (virsh's --live or --config alone). A definition the domain does
    not have is refused, naming it, rather than silently skipped.
    """
    if live is None and config is None:
        return active, persistent
    live, config = bool(live), bool(config)
    if not live and not config:
        raise InvalidArgument(f"live and config are both false: nothing of domain '{domain}' would change",
                              domain=domain)
    if live and not active:
        raise InvalidArgument(f"live: domain '{domain}' is not running, so it has no live definition "
                              "(use config, or start it first)", domain=domain)
    if config and not persistent:
        raise InvalidArgument(f"config: domain '{domain}' is transient, so it has no persistent definition",
                              domain=domain)
    return live, config
