# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's own exceptions.

Every expected failure becomes one of these, carrying a message fit for the user. Modules never
catch libvirtError: `_module.DomainModule` turns these into `fail_json` in one place.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, TypeVar

T = TypeVar("T")

# What a secret (a password) is shown as in messages, results and diffs.
REDACTED = "********"


class VirtopsError(Exception):
    """An expected failure: the message names what went wrong, no traceback is shown."""

    def __init__(self, message: str, *, domain: Optional[str] = None, operation: Optional[str] = None,
                 after_change: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.domain = domain
        self.operation = operation
        # Raised after the change itself took effect (a snapshot deleted, its memory file not):
        # the action still counts as done (see _module.ChangeRecorder.perform).
        self.after_change = after_change
        # Result fields known where the failure is caught (e.g. `domain`, the facts of the failed
        # domain): the modules document `domain` as a dict, so the name travels as `domain_name`.
        self.result: dict[str, Any] = {}

    @property
    def changed(self) -> bool:
        """Whether something changed before the failure, beyond the task's own recorder."""
        return False

    def details(self) -> dict[str, Any]:
        """Extra fields for the failed task's result."""
        found = {"domain_name": self.domain, "operation": self.operation}
        return {**{key: value for key, value in found.items() if value is not None}, **self.result}


class InvalidArgument(VirtopsError):
    """A task option has a value that cannot work; nothing was changed."""


class XmlError(VirtopsError):
    """XML that is malformed, unsafe (DOCTYPE/entities) or too large."""


class WaitTimeout(VirtopsError):
    """A domain did not reach the awaited state in time."""


class LibvirtCallError(VirtopsError):
    """A libvirt call failed; carries libvirt's error code and message."""

    def __init__(
        self,
        message: str,
        *,
        code: Optional[int] = None,
        libvirt_message: Optional[str] = None,
        domain: Optional[str] = None,
        operation: Optional[str] = None,
    ) -> None:
        super().__init__(message, domain=domain, operation=operation)
        self.code = code
        self.libvirt_message = libvirt_message

    def details(self) -> dict[str, Any]:
        found = super().details()
        if self.code is not None:
            found["libvirt_error_code"] = self.code
        return found


class ConnectionFailed(LibvirtCallError):
    """The hypervisor could not be reached or refused the credentials."""


class DomainNotFound(LibvirtCallError):
    """No domain with that name or UUID exists."""


class UnsupportedOperation(LibvirtCallError):
    """This hypervisor, driver or libvirt build cannot do what was asked."""


class TransientError(LibvirtCallError):
    """A failure worth retrying (e.g. "cannot acquire state change lock")."""


class BatchFailed(VirtopsError):
    """Some domains of a list failed; the others' results are reported alongside."""

    def __init__(self, message: str, results: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.results = results

    @property
    def changed(self) -> bool:
        return any(result.get("changed") for result in self.results)

    def details(self) -> dict[str, Any]:
        return {"domains": self.results, **self.result}


def or_in_place(read: Callable[[], T], report: Callable[[VirtopsError], T]) -> T:
    """read(), or report(error) when this one read fails (a CD-ROM without media, a tunable the driver
    lacks): the failure is reported in the facts in its place. A lost connection is not one read's
    failure: every later read fails too, and facts with the rest missing would pass as complete, so
    ConnectionFailed goes on to fail the task."""
    try:
        return read()
    except ConnectionFailed:
        raise
    except VirtopsError as error:
        return report(error)
