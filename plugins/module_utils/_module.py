# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""DomainModule: the common frame of every module in the collection.

It adds the connection options to the module's argument spec, checks the Python libraries, decides
in one place whether an action runs or is only reported (check mode), collects `actions`, `changed`
and `diff`, and is the one place where the collection's exceptions become `fail_json`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, TypeVar

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.virtops.libvirt.plugins.module_utils._connection import (
    LIBVIRT_IMPORT_ERROR,
    Connection,
    ConnectionParams,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._diff import readable_diffs
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import VirtopsError
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
from ansible_collections.virtops.libvirt.plugins.module_utils._xml import LXML_IMPORT_ERROR

T = TypeVar("T")

# Mirrors plugins/doc_fragments/connection.py.
CONNECTION_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "uri": {"type": "str"},
    "auth_username": {"type": "str"},
    "auth_password": {"type": "str", "no_log": True},
}


class DomainModule:
    def __init__(self, argument_spec: dict[str, Any], supports_check_mode: bool = True, **kwargs: Any) -> None:
        self.module = AnsibleModule(
            argument_spec={**CONNECTION_ARGUMENT_SPEC, **argument_spec},
            supports_check_mode=supports_check_mode,
            **kwargs,
        )
        self._require_libraries()
        self.recorder = ChangeRecorder(self.module.check_mode)
        self._changed_elsewhere = False
        self._diff: Any = None

    def _require_libraries(self) -> None:
        for library, error in (("libvirt-python", LIBVIRT_IMPORT_ERROR), ("lxml", LXML_IMPORT_ERROR)):
            if error is not None:
                self.module.fail_json(msg=missing_required_lib(library), exception=error)

    @property
    def params(self) -> dict[str, Any]:
        return self.module.params

    @property
    def check_mode(self) -> bool:
        return self.module.check_mode

    def connect(self, readonly: bool = False) -> Connection:
        """A connection from the task's uri/auth options; use it as a context manager."""
        return Connection(ConnectionParams.from_module_params(self.params, readonly=readonly))

    @property
    def actions(self) -> list[str]:
        return self.recorder.actions

    @property
    def changed(self) -> bool:
        return self.recorder.changed or self._changed_elsewhere

    def mark_changed(self) -> None:
        """For changes recorded by other recorders (one per domain of a batch)."""
        self._changed_elsewhere = True

    def perform(self, action: str, apply: Callable[[], T]) -> Optional[T]:
        return self.recorder.perform(action, apply)

    def _warn(self) -> None:
        for message in self.recorder.warnings:
            self.module.warn(message)

    def set_diff(self, before: Any, after: Any) -> None:
        self._diff = {"before": before, "after": after}

    def set_diffs(self, diffs: list[dict[str, Any]]) -> None:
        """Several diffs (before/after texts with headers): Ansible's diff callback prints each."""
        self._diff = diffs

    def hide(self, secrets: Iterable[str]) -> None:
        """Mask these values wherever they would appear in the result (the invocation included)."""
        self.module.no_log_values.update(secret for secret in secrets if secret)

    def run(self, body: Callable[["DomainModule"], Optional[dict[str, Any]]]) -> None:
        """Run the module's body and exit; expected failures fail the task without a traceback."""
        try:
            facts = body(self) or {}
        except VirtopsError as error:
            self._warn()
            self.module.fail_json(msg=error.message, changed=self.changed or error.changed, actions=self.actions,
                                  **error.details())
        self._warn()
        result: dict[str, Any] = {"changed": self.changed, "actions": self.actions, **facts}
        if self.module._diff and self._diff is not None:
            result["diff"] = self._diff if isinstance(self._diff, list) else \
                readable_diffs(self._diff["before"], self._diff["after"])
        self.module.exit_json(**result)
