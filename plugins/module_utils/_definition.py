# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A domain's persistent definition kept in line with the task's xml template, and whether a
running domain lags its definition (a restart would bring the difference).

What libvirt adds on its own (UUIDs, MAC and PCI addresses) is not a difference (see
_xml.compare); an update merges the template into the existing definition so it stays.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, LibvirtCallError
from ansible_collections.virtops.libvirt.plugins.module_utils._lifecycle_context import POWERED_OFF, LifecycleContext
from ansible_collections.virtops.libvirt.plugins.module_utils._metadata import MetadataSync


class DefinitionSync:
    """Defines the domain from the template, or updates its definition; reports what differed."""

    def __init__(self, context: LifecycleContext, metadata: MetadataSync) -> None:
        self.context = context
        self.metadata = metadata
        self.changes: list[str] = []
        self.secret_changes: list[str] = []  # paths of changed passwords (values never shown)

    def ensure(self) -> None:
        context, template = self.context, self.context.options.template
        if template is None:
            if context.domain is None:
                raise InvalidArgument(
                    f"domain '{context.label}' does not exist; give xml to define it", domain=context.label)
            return
        self._refuse_conflicting_metadata(template)
        if context.target.uuid:
            template = _xml.with_uuid(template, context.target.uuid)  # the uuid option names the domain to define
        if context.domain is not None and context.definition is not None:
            self._update(template)
            return
        # missing, or running without a persistent definition (transient): define it
        self.changes = ["defined"]
        was_missing = context.domain is None
        if not was_missing:
            template = _xml.with_uuid(template, context.domain.uuid)  # a transient domain keeps its identity
        self._define("define", template)
        if was_missing:
            context.predicted_state = "shutoff"
        else:
            self.metadata.sync_live(template)

    def _update(self, template: Any) -> None:
        context = self.context
        template_uuid = context.options.template_uuid()
        if template_uuid and template_uuid.lower() != context.domain.uuid.lower():
            raise InvalidArgument(
                f"xml has uuid {template_uuid} but domain '{context.domain.name}' has uuid {context.domain.uuid}",
                domain=context.domain.name)
        differences = _xml.compare(template, context.definition)
        self.changes = [str(difference) for difference in differences]
        self.secret_changes = [difference.path for difference in differences if difference.secret]
        if differences:
            self._define("update definition", _xml.merge(template, context.definition))
        self.metadata.sync_live(template)

    def _refuse_conflicting_metadata(self, template: Any) -> None:
        """title/description options beside an xml that sets another value would flip-flop every run."""
        for element in ("title", "description"):
            option = getattr(self.context.options, element)
            in_template = _xml.element_text(template, element)
            if option is not None and template.find(element) is not None and (option or None) != in_template:
                raise InvalidArgument(
                    f"the {element} option ({option!r}) conflicts with the <{element}> of xml ({in_template!r}): "
                    "set it in one place", domain=self.context.label)

    def _define(self, action: str, root: Any) -> None:
        context = self.context
        text = _xml.to_string(root)
        flags = libvirt.VIR_DOMAIN_DEFINE_VALIDATE if context.options.validate else 0

        def define() -> Any:
            try:
                return context.connection.define_xml_flags(text, flags, action, domain=context.label)
            except LibvirtCallError as error:
                raise _named_schema_problem(error, root) from None

        defined = context.recorder.perform(action, define)
        if defined is not None:
            context.domain = Domain(context.connection, defined)
            context.read_definition()
        else:
            context.definition = root

    # -- pending changes of a running domain --

    def pending_restart(self) -> bool:
        """True when the running domain's live configuration lags its persistent definition."""
        context = self.context
        if context.domain is None or context.predicted_state in POWERED_OFF:
            return False
        if not context.check_mode and not context.domain.is_active():
            return False
        live = context.live_definition()
        if context.options.template is not None and self.restart_differences(live):
            return True
        return any(
            wanted is not None and _xml.element_text(live, option) != wanted
            for option, wanted in context.options.lifecycle.items()
        )

    def restart_differences(self, live: Any) -> list[_xml.Difference]:
        """What the template sets that the running domain lacks and a restart would bring.

        Runtime-only values are not differences (see _xml.compare(live=True)), nor is what the
        persistent definition lacks too: a restart cannot bring that (libvirt dropped or
        normalised it).
        """
        template, definition = self.context.options.template, self.context.definition
        running = _xml.compare(template, live, live=True)
        if definition is None:
            return running
        persistent = {difference.path for difference in _xml.compare(template, definition)}
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
