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
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, LibvirtCallError
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


def metadata_kind(element: str) -> int:
    """VIR_DOMAIN_METADATA_TITLE, _DESCRIPTION or _ELEMENT."""
    return flag(f"VIR_DOMAIN_METADATA_{element.upper()}")


def definition_flags() -> int:
    """The persistent definition with its secrets: a password in the template is compared, never shown."""
    return libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE


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
        self._refuse_conflicting_metadata(template)
        if self.uuid:
            template = _xml.with_uuid(template, self.uuid)  # the uuid option names the domain to define
        if self.domain is not None and self.definition is not None:
            template_uuid = self.options.template_uuid()
            if template_uuid and template_uuid.lower() != self.domain.uuid.lower():
                raise InvalidArgument(
                    f"xml has uuid {template_uuid} but domain '{self.domain.name}' has uuid {self.domain.uuid}",
                    domain=self.domain.name)
            differences = _xml.compare(template, self.definition)
            self.definition_changes = [str(difference) for difference in differences]
            self.secret_changes = [difference.path for difference in differences if difference.secret]
            if differences:
                self._define("update definition", _xml.merge(template, self.definition))
            self._sync_live_metadata(template)
            return
        # missing, or running without a persistent definition (transient): define it
        self.definition_changes = ["defined"]
        was_missing = self.domain is None
        if not was_missing:
            template = _xml.with_uuid(template, self.domain.uuid)  # a transient domain keeps its identity
        self._define("define", template)
        if was_missing:
            self.predicted_state = "shutoff"
        else:
            self._sync_live_metadata(template)

    def _refuse_conflicting_metadata(self, template: Any) -> None:
        """title/description options beside an xml that sets another value would flip-flop every run."""
        for element in ("title", "description"):
            option = getattr(self.options, element)
            in_template = _xml.element_text(template, element)
            if option is not None and template.find(element) is not None and (option or None) != in_template:
                raise InvalidArgument(
                    f"the {element} option ({option!r}) conflicts with the <{element}> of xml ({in_template!r}): "
                    "set it in one place", domain=self.label)

    def _define(self, action: str, root: Any) -> None:
        text = _xml.to_string(root)
        flags = libvirt.VIR_DOMAIN_DEFINE_VALIDATE if self.options.validate else 0

        def define() -> Any:
            try:
                return self.connection.define_xml_flags(text, flags, action, domain=self.label)
            except LibvirtCallError as error:
                raise _named_schema_problem(error, root) from None

        defined = self.recorder.perform(action, define)
        if defined is not None:
            self.domain = Domain(self.connection, defined)
            self.definition = _xml.parse(self.domain.xml_desc(definition_flags()), "defined XML")
        else:
            self.definition = root

    def _is_running(self) -> bool:
        """Active now (or, in check mode, predicted to be active at this point of the plan)."""
        if self.recorder.check_mode:
            return self.predicted_state not in ("shutoff", "saved", ABSENT)
        return self.domain is not None and self.domain.is_active()

    def _sync_live_metadata(self, template: Any) -> None:
        """Title, description and metadata change on a running domain at once: no restart for them."""
        if self.domain is None or not self._is_running():
            return
        live = _xml.parse(self.domain.xml_desc(libvirt.VIR_DOMAIN_XML_SECURE), "live XML")
        for element in ("title", "description"):
            if template.find(element) is not None:
                wanted = _xml.element_text(template, element)
                if _xml.element_text(live, element) != wanted:
                    self._set_live_metadata(element, metadata_kind(element), wanted, None, None)
        if template.find("metadata") is not None:
            wanted_elements = _metadata_elements(template)
            live_elements = _metadata_elements(live)
            for namespace, element in wanted_elements.items():
                current = live_elements.get(namespace)
                if current is None or _xml.compare(element, current) or _xml.compare(current, element):
                    self._set_live_metadata(f"metadata {namespace}", metadata_kind("element"),
                                            _xml.to_string(_xml.without_namespace(element, namespace), pretty=False),
                                            element.prefix or "ns", namespace)
            for namespace in live_elements.keys() - wanted_elements.keys():
                self._set_live_metadata(f"metadata {namespace}", metadata_kind("element"),
                                        None, None, namespace)

    def _set_live_metadata(self, what: str, kind: int, value: Optional[str], key: Optional[str],
                           namespace: Optional[str]) -> None:
        self.recorder.perform(f"set {what} (live)", lambda: self.domain.set_metadata(
            kind, value, libvirt.VIR_DOMAIN_AFFECT_LIVE, f"{what} of the running domain", key, namespace))

    # -- metadata: autostart, title, description, lifecycle actions --

    def _ensure_metadata(self) -> None:
        options = self.options
        if options.autostart is not None:
            current = self.domain.autostart() if self._persistent_domain() else False
            if current != options.autostart:
                self.recorder.perform(
                    f"autostart({'on' if options.autostart else 'off'})",
                    lambda: self.domain.set_autostart(options.autostart))
        for element, value in (("title", options.title), ("description", options.description)):
            if value is not None and self._defined_text(element) != (value or None):
                self._set_metadata(element, value)
        for option, event in LIFECYCLE_EVENTS.items():
            wanted = options.lifecycle.get(option)
            if wanted is not None and self._defined_text(option) != wanted:
                self.recorder.perform(
                    f"set {option}({wanted})",
                    lambda event=event, wanted=wanted: self.domain.set_lifecycle_action(
                        flag(event), flag(LIFECYCLE_ACTIONS[wanted]), libvirt.VIR_DOMAIN_AFFECT_CONFIG, option))
                if self.definition is not None:
                    _set_child_text(self.definition, option, wanted)

    def _persistent_domain(self) -> bool:
        return self.domain is not None and self.domain.is_persistent()

    def _defined_text(self, element: str) -> Optional[str]:
        return None if self.definition is None else _xml.element_text(self.definition, element)

    def _set_metadata(self, element: str, value: str) -> None:
        kind = metadata_kind(element)

        def apply() -> None:
            flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
            if self.domain.is_active():
                flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
            self.domain.set_metadata(kind, value or None, flags, element)

        self.recorder.perform(f"set {element}", apply)
        if self.definition is not None:
            _set_child_text(self.definition, element, value or None)

    # -- pending changes of a running domain --

    def _pending_restart(self) -> bool:
        """True when the running domain's live configuration lags its persistent definition."""
        if self.domain is None or self.predicted_state in ("shutoff", "saved", ABSENT):
            return False
        if not self.recorder.check_mode and not self.domain.is_active():
            return False
        live = _xml.parse(self.domain.xml_desc(libvirt.VIR_DOMAIN_XML_SECURE), "live XML")
        if self.options.template is not None and self.restart_differences(live):
            return True
        return any(
            wanted is not None and _xml.element_text(live, option) != wanted
            for option, wanted in self.options.lifecycle.items()
        )

    def restart_differences(self, live: Any) -> list[_xml.Difference]:
        """What the template sets that the running domain lacks and a restart would bring.

        Runtime-only values are not differences (see _xml.compare(live=True)), nor is what the
        persistent definition lacks too: a restart cannot bring that (libvirt dropped or
        normalised it).
        """
        running = _xml.compare(self.options.template, live, live=True)
        if self.definition is None:
            return running
        persistent = {difference.path for difference in _xml.compare(self.options.template, self.definition)}
        return [difference for difference in running if difference.path not in persistent]


def _named_schema_problem(error: LibvirtCallError, root: Any) -> LibvirtCallError:
    """libvirt's schema error, with the attribute or element it refused when that can be found."""
    if "failed to validate against schema" not in (error.libvirt_message or ""):
        return error
    problem = _xml.schema_problem(root)
    if problem is None:
        return error
    error.message = f"{error.message.rstrip()} (not valid: {problem})"
    error.args = (error.message,)
    return error


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
