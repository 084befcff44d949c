# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_state's options, checked before anything connects, and the tables its choices come from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import (
    SHUTDOWN_MODES,
    START_FLAGS,
    UNDEFINE_REMOVALS,
    combine,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._metadata import LIFECYCLE_EVENTS
from ansible_collections.virtops.libvirt.plugins.module_utils._removal import DEFAULT_REMOVALS, undefine_removals
from ansible_collections.virtops.libvirt.plugins.module_utils._transitions import TARGET_STATES

STATE_SYNONYMS = {"shutdown": "shutoff"}
# The state option's choices: every target, and the synonyms users may write instead.
STATE_CHOICES = (*TARGET_STATES, *STATE_SYNONYMS)


@dataclass
class LifecycleOptions:
    state: str = "present"
    template: Any = None  # parsed xml option
    restart_on_change: bool = False
    autostart: Optional[bool] = None
    shutdown_modes: list[str] = field(default_factory=list)
    shutdown_timeout: float = 120
    force: bool = False
    start_flags: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=lambda: list(DEFAULT_REMOVALS))
    pm_target: str = "mem"
    lifecycle: dict[str, Optional[str]] = field(default_factory=dict)
    title: Optional[str] = None
    description: Optional[str] = None
    validate: bool = True
    wait: bool = True
    wait_for_agent: bool = False
    timeout: float = 60

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "LifecycleOptions":
        state = STATE_SYNONYMS.get(params["state"], params["state"])
        for option in ("shutdown_timeout", "timeout"):
            if params[option] < 0:
                raise InvalidArgument(f"{option} must not be negative (got {params[option]:g})")
        if params["start_paused"] and state == "running":
            raise InvalidArgument("start_paused conflicts with state=running: use state=paused to start paused")
        template = _xml.parse(params["xml"]) if params.get("xml") else None
        if template is not None and template.tag != "domain":
            raise InvalidArgument(f"xml must be a <domain> definition, not <{template.tag}>")
        options = cls(
            state=state,
            template=template,
            restart_on_change=params["restart_on_change"],
            autostart=params["autostart"],
            shutdown_modes=params["shutdown_mode"] or [],
            shutdown_timeout=params["shutdown_timeout"],
            force=params["force"],
            start_flags=[name for name in START_FLAGS if params.get(name)],
            remove=params["remove"] if params["remove"] is not None else list(DEFAULT_REMOVALS),
            pm_target=params["pm_target"],
            lifecycle={event: params.get(event) for event in LIFECYCLE_EVENTS},
            title=params.get("title"),
            description=params.get("description"),
            validate=params.get("validate", True),
            wait=params["wait"],
            wait_for_agent=params.get("wait_for_agent", False),
            timeout=params["timeout"],
        )
        # Flag constants are checked before anything changes.
        combine("shutdown_mode", options.shutdown_modes, SHUTDOWN_MODES)
        combine("remove", undefine_removals(options.remove), UNDEFINE_REMOVALS)
        return options

    def template_uuid(self) -> Optional[str]:
        return None if self.template is None else _xml.element_text(self.template, "uuid")
