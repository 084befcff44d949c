# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A domain's metadata kept in line with the task: autostart, title, description, lifecycle actions,
and (for a running domain) the title, description and custom metadata elements of its template.

None of these needs a restart: each is set on the persistent definition, and on the running
domain too where libvirt allows it.
"""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag
from ansible_collections.virtops.libvirt.plugins.module_utils._lifecycle_context import LifecycleContext

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
# libvirt accepts the coredump actions for a crash only.
CRASH_ONLY_ACTIONS = ("coredump-destroy", "coredump-restart")


def lifecycle_action_choices(option: str) -> list[str]:
    """The actions the on_poweroff, on_reboot or on_crash option accepts."""
    return [action for action in LIFECYCLE_ACTIONS if option == "on_crash" or action not in CRASH_ONLY_ACTIONS]


def metadata_kind(element: str) -> int:
    """VIR_DOMAIN_METADATA_TITLE, _DESCRIPTION or _ELEMENT."""
    return flag(f"VIR_DOMAIN_METADATA_{element.upper()}")


class MetadataSync:
    """Sets what the task asks of autostart, title, description and lifecycle actions, once."""

    def __init__(self, context: LifecycleContext) -> None:
        self.context = context

    def ensure(self) -> None:
        """The options autostart, title, description, on_poweroff, on_reboot, on_crash."""
        context, options = self.context, self.context.options
        if options.autostart is not None:
            current = context.domain.autostart() if context.is_persistent() else False
            if current != options.autostart:
                context.recorder.perform(
                    f"autostart({'on' if options.autostart else 'off'})",
                    lambda: context.domain.set_autostart(options.autostart))
        for element, value in (("title", options.title), ("description", options.description)):
            if value is not None and context.defined_text(element) != (value or None):
                self._set(element, value)
        for option, event in LIFECYCLE_EVENTS.items():
            wanted = options.lifecycle.get(option)
            if wanted is not None and context.defined_text(option) != wanted:
                context.recorder.perform(
                    f"set {option}({wanted})",
                    lambda event=event, wanted=wanted, option=option: context.domain.set_lifecycle_action(
                        flag(event), flag(LIFECYCLE_ACTIONS[wanted]), libvirt.VIR_DOMAIN_AFFECT_CONFIG, option))
                self._predict(option, wanted)

    def _set(self, element: str, value: str) -> None:
        context = self.context

        def apply() -> None:
            flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
            if context.domain.is_active():
                flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
            context.domain.set_metadata(metadata_kind(element), value or None, flags, element)

        context.recorder.perform(f"set {element}", apply)
        self._predict(element, value or None)

    def _predict(self, element: str, text: Optional[str]) -> None:
        """The definition as it is after the change (check mode reads nothing back)."""
        if self.context.definition is not None:
            _set_child_text(self.context.definition, element, text)

    def sync_live(self, template: Any) -> None:
        """Title, description and metadata change on a running domain at once: no restart for them."""
        context = self.context
        if context.domain is None or not context.is_running():
            return
        live = context.live_definition()
        for element in ("title", "description"):
            if template.find(element) is not None:
                wanted = _xml.element_text(template, element)
                if _xml.element_text(live, element) != wanted:
                    self._set_live(element, metadata_kind(element), wanted, None, None)
        if template.find("metadata") is None:
            return
        wanted_elements, live_elements = _metadata_elements(template), _metadata_elements(live)
        for namespace, element in wanted_elements.items():
            current = live_elements.get(namespace)
            if current is None or _xml.compare(element, current) or _xml.compare(current, element):
                self._set_live(f"metadata {namespace}", metadata_kind("element"),
                               _xml.to_string(_xml.without_namespace(element, namespace), pretty=False),
                               element.prefix or "ns", namespace)
        for namespace in live_elements.keys() - wanted_elements.keys():
            self._set_live(f"metadata {namespace}", metadata_kind("element"), None, None, namespace)

    def _set_live(self, what: str, kind: int, value: Optional[str], key: Optional[str],
                  namespace: Optional[str]) -> None:
        domain = self.context.domain
        self.context.recorder.perform(f"set {what} (live)", lambda: domain.set_metadata(
            kind, value, libvirt.VIR_DOMAIN_AFFECT_LIVE, f"{what} of the running domain", key, namespace))


def _metadata_elements(root: Any) -> dict[str, Any]:
    """The custom metadata elements of a definition, by namespace URI."""
    metadata = root.find("metadata")
    if metadata is None:
        return {}
    by_namespace = {_xml.namespace_of(child): child for child in metadata}
    by_namespace.pop(None, None)  # comments, elements without a namespace
    return by_namespace


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
