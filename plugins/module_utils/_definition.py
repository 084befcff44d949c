# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A domain's definition and metadata kept in line with the task: the template, autostart, title,
description and lifecycle actions, and whether a running domain lags its definition.

`DefinitionSync` is mixed into `_lifecycle.DomainLifecycle`, which owns the domain handle, the
parsed persistent definition (`self.definition`, predicted in check mode) and the recorder.
"""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import ABSENT, Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag

LIFECYCLE_EVENTS = {"on_poweroff": "VIR_DOMAIN_LIFECYCLE_POWEROFF", "on_reboot": "VIR_DOMAIN_LIFECYCLE_REBOOT",
                    "on_crash": "VIR_DOMAIN_LIFECYCLE_CRASH"}
LIFECYCLE_ACTIONS = {
    "destroy": "VIR_DOMAIN_LIFECYCLE_ACTION_DESTROY",
    "restart": "VIR_DOMAIN_LIFECYCLE_ACTION_RESTART",
    "rename-restart": "VIR_DOMAIN_LIFECYCLE_ACTION_RESTART_RENAME",
    "preserve": "VIR_DOMAIN_LIFECYCLE_ACTION_PRESERVE",
    "coredump-destroy": "VIR_DOMAIN_LIFECYCLE_ACTION_COREDUMP_DESTROY",
    "coredump-restart": "VIR_DOMAIN_LIFECYCLE_ACTION_COREDUMP_RESTART",
}


class DefinitionSync:
    """Definition and metadata steps of DomainLifecycle (see there for the attributes)."""

    # -- definition --

    def _ensure_defined(self) -> None:
        template = self.options.template
        if template is None:
            if self.domain is None:
                raise InvalidArgument(
                    f"domain '{self.label}' does not exist; give xml to define it", domain=self.label)
            return
        if self.domain is not None and self.definition is not None:
            template_uuid = self.options.template_uuid()
            if template_uuid and template_uuid.lower() != self.domain.uuid.lower():
                raise InvalidArgument(
                    f"xml has uuid {template_uuid} but domain '{self.domain.name}' has uuid {self.domain.uuid}",
                    domain=self.domain.name)
            differences = _xml.compare(template, self.definition)
            self.definition_changes = [str(difference) for difference in differences]
            if differences:
                adopted = _xml.adopt_identity(template, self.definition)
                self._define("update definition", adopted)
            return
        # missing, or running without a persistent definition (transient): define it
        self.definition_changes = ["defined"]
        was_missing = self.domain is None
        self._define("define", template)
        if was_missing:
            self.predicted_state = "shutoff"

    def _define(self, action: str, root: Any) -> None:
        text = _xml.to_string(root)
        defined = self.recorder.perform(action, lambda: self.connection.call(
            action, self.connection.conn.defineXML, text, domain=self.label))
        if defined is not None:
            self.domain = Domain(self.connection, defined)
            self.definition = _xml.parse(self.domain.xml_desc(libvirt.VIR_DOMAIN_XML_INACTIVE), "defined XML")
        else:
            self.definition = root

    # -- metadata: autostart, title, description, lifecycle actions --

    def _ensure_metadata(self) -> None:
        options = self.options
        if options.autostart is not None:
            current = self.domain.autostart() if self._persistent_domain() else False
            if current != options.autostart:
                self.recorder.perform(
                    f"autostart({'on' if options.autostart else 'off'})",
                    lambda: self.domain.call("set autostart", "setAutostart", int(options.autostart)))
        for element, value in (("title", options.title), ("description", options.description)):
            if value is not None and self._defined_text(element) != (value or None):
                self._set_metadata(element, value)
        for option, event in LIFECYCLE_EVENTS.items():
            wanted = options.lifecycle.get(option)
            if wanted is not None and self._defined_text(option) != wanted:
                self.recorder.perform(
                    f"set {option}({wanted})",
                    lambda event=event, wanted=wanted: self.domain.call(
                        f"set {option}", "setLifecycleAction", flag(event), flag(LIFECYCLE_ACTIONS[wanted]),
                        libvirt.VIR_DOMAIN_AFFECT_CONFIG))
                if self.definition is not None:
                    _set_child_text(self.definition, option, wanted)

    def _persistent_domain(self) -> bool:
        return self.domain is not None and self.domain.is_persistent()

    def _defined_text(self, element: str) -> Optional[str]:
        return None if self.definition is None else _xml.element_text(self.definition, element)

    def _set_metadata(self, element: str, value: str) -> None:
        kind = libvirt.VIR_DOMAIN_METADATA_TITLE if element == "title" else libvirt.VIR_DOMAIN_METADATA_DESCRIPTION

        def apply() -> None:
            flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
            if self.domain.virdomain.isActive():
                flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
            self.domain.call(f"set {element}", "setMetadata", kind, value or None, None, None, flags)

        self.recorder.perform(f"set {element}", apply)
        if self.definition is not None:
            _set_child_text(self.definition, element, value or None)

    # -- pending changes of a running domain --

    def _pending_restart(self) -> bool:
        """True when the running domain's live configuration lags its persistent definition."""
        if self.domain is None or self.predicted_state in ("shutoff", "saved", ABSENT):
            return False
        if not self.recorder.check_mode and not self.domain.virdomain.isActive():
            return False
        live = _xml.parse(self.domain.xml_desc(0), "live XML")
        if self.options.template is not None and _xml.compare(self.options.template, live):
            return True
        return any(
            wanted is not None and _xml.element_text(live, option) != wanted
            for option, wanted in self.options.lifecycle.items()
        )


def _set_child_text(root: Any, tag: str, text: Optional[str]) -> None:
    child = root.find(tag)
    if text is None:
        if child is not None:
            root.remove(child)
        return
    if child is None:
        child = root.makeelement(tag, {})
        root.append(child)
    child.text = text
