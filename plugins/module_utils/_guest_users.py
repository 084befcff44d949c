# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_guest `users`: authorized SSH keys compared before they are set, passwords that never leave the task.

SSH keys are read through the agent first, so a second run changes nothing. A password cannot be
read back from a guest, so it cannot be compared: `update_password: always` sets it (and reports a
change) on every run; `on_create` sets it only while the account is being set up, which this module
can see as the user having no authorized SSH keys before the task gives it some.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestSystem
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._guest_part import GuestPart
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import Step

KEY_STATES = ("exact", "present", "absent")
PASSWORD_UPDATES = ("always", "on_create")

# Linux's LOGIN_NAME_MAX; Windows allows far less. A longer name is an accident: refused, not echoed back.
MAX_USER_NAME_BYTES = 256

ARGUMENT_SPECS: dict[str, dict[str, Any]] = {
    "users": dict(type="list", elements="dict", options=dict(
        name=dict(type="str", required=True),
        password=dict(type="str", no_log=True),
        password_encrypted=dict(type="bool", default=False),
        update_password=dict(type="str", choices=list(PASSWORD_UPDATES), default="always"),
        ssh_keys=dict(type="list", elements="str", no_log=False),
        ssh_keys_state=dict(type="str", choices=list(KEY_STATES), default="exact"),
    )),
}


def normalized_key(key: str) -> str:
    """A key line as compared: surrounding blanks dropped, inner runs of blanks made one space."""
    return " ".join(key.split())


def keys_after(current: list[str], wanted: list[str], state: str) -> list[str]:
    """The user's keys once the state holds: exact gives wanted, present appends the missing, absent drops them."""
    if state == "exact":
        return _unique(wanted)
    if state == "present":
        return current + [key for key in _unique(wanted) if key not in current]
    return [key for key in current if key not in wanted]


def _unique(keys: list[str]) -> list[str]:
    return list(dict.fromkeys(keys))


@dataclass
class _User:
    """One entry of `users`: what it wants, what the guest had, what the task did."""

    name: str
    password: Optional[str]
    encrypted: bool
    update_password: str
    keys: Optional[list[str]]
    keys_state: str
    keys_before: Optional[list[str]] = None
    keys_after: Optional[list[str]] = None
    password_set: bool = False
    actions: list[str] = field(default_factory=list)

    @classmethod
    def from_option(cls, entry: dict[str, Any]) -> "_User":
        keys = entry.get("ssh_keys")
        return cls(entry["name"], entry.get("password"), bool(entry.get("password_encrypted")),
                   entry.get("update_password") or "always",
                   None if keys is None else [normalized_key(key) for key in keys if key.strip()],
                   entry.get("ssh_keys_state") or "exact")

    def result(self) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.name, "password_set": self.password_set}
        if self.keys is not None:
            found.update(keys_before=self.keys_before, keys_after=self.keys_after)
        return found


class UsersPart(GuestPart):
    """`users`: each user's SSH keys held in the wanted state, its password set as update_password says."""

    option = "users"

    def __init__(self, context: Any, wanted: Any) -> None:
        super().__init__(context, wanted)
        self.users = [_User.from_option(entry) for entry in wanted or []]
        self.system = GuestSystem(context.agent)

    def validate(self) -> None:
        names = [user.name for user in self.users]
        for index, user in enumerate(self.users):
            if not user.name.strip():
                raise InvalidArgument(f"users[{index}].name must not be empty")
            _xml.bounded_text(user.name, f"users[{index}].name", MAX_USER_NAME_BYTES)
            where = f"users[{index}] ({user.name!r})"
            if names.count(user.name) > 1:
                raise InvalidArgument(f"{where}: the user is listed more than once; give each user once")
            if user.password is None and user.keys is None:
                raise InvalidArgument(f"{where}: give password or ssh_keys (or both)")
            if user.password == "":
                raise InvalidArgument(f"{where}.password must not be empty")
            if user.password is not None and user.update_password == "on_create" and \
                    (user.keys is None or user.keys_state == "absent" or not user.keys):
                raise InvalidArgument(
                    f"{where}: update_password=on_create sets the password while the account gets its first SSH keys; "
                    "give ssh_keys with ssh_keys_state exact or present (or use update_password=always)")

    def plan(self) -> list[Step]:
        steps: list[Step] = []
        for user in self.users:
            if user.keys is not None:
                steps.extend(self._key_steps(user))
            if user.password is not None and self._sets_password(user):
                steps.append(self._password_step(user))
        return steps

    def _key_steps(self, user: _User) -> list[Step]:
        current = [normalized_key(key) for key in self.system.ssh_keys(user.name)]
        user.keys_before = current
        user.keys_after = keys_after(current, user.keys or [], user.keys_state)
        if sorted(user.keys_after) == sorted(current):
            return []
        if user.keys_state == "present":
            missing = [key for key in user.keys_after if key not in current]
            return [Step(f"users: add {len(missing)} SSH key(s) of guest user '{user.name}'",
                         lambda: self.system.set_ssh_keys(user.name, missing, "append"))]
        if user.keys_state == "absent" or not user.keys_after:
            # a replace with no keys is no replace at all in the agent: remove what is there instead
            dropped = [key for key in current if key not in user.keys_after]
            return [Step(f"users: remove {len(dropped)} SSH key(s) of guest user '{user.name}'",
                         lambda: self.system.set_ssh_keys(user.name, dropped, "remove"))]
        wanted = list(user.keys_after)
        return [Step(f"users: set the SSH keys of guest user '{user.name}' to exactly {len(wanted)} key(s)",
                     lambda: self.system.set_ssh_keys(user.name, wanted, "replace"))]

    @staticmethod
    def _sets_password(user: _User) -> bool:
        if user.update_password == "always":
            return True
        return not user.keys_before  # on_create: the account had no keys before this task gave it some

    def _password_step(self, user: _User) -> Step:
        def apply() -> None:
            self.system.set_password(user.name, user.password or "", user.encrypted)

        user.password_set = True  # in check mode: would be set (the plan)
        kind = "an encrypted" if user.encrypted else "a"
        return Step(f"users: set {kind} password for guest user '{user.name}'", apply)

    def result(self) -> dict[str, Any]:
        return {"users": [user.result() for user in self.users]}

    def secrets(self) -> list[str]:
        return [user.password for user in self.users if user.password]


PARTS: dict[str, type[GuestPart]] = {"users": UsersPart}
