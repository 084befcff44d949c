# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The domains a task addresses, and one batch over them.

`resolve_targets()` turns the `name` option (a string or a list), `uuid` and the name in an `xml`
definition into `Target`s; `run_each()` runs a function over them in the one thread pool
(`_parallel.bounded_map`), each with its own ChangeRecorder, and returns the batch result shape:
one entry per target, in order, with at least name, changed, actions and error (None when it
succeeded). When any failed, BatchFailed carries every entry.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import BatchFailed, InvalidArgument, VirtopsError
from ansible_collections.virtops.libvirt.plugins.module_utils._parallel import bounded_map
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder


class Target(NamedTuple):
    """One domain a task addresses: by name or by UUID (at least one is set)."""

    name: Optional[str]
    uuid: Optional[str]

    @property
    def label(self) -> str:
        return self.name or self.uuid or "?"


# What a batch does to one target; its result has the target's facts, changed and actions.
Work = Callable[[Target, ChangeRecorder], dict[str, Any]]
# The entry of a target whose work failed (with whatever is known of the domain now).
Failure = Callable[[Target, ChangeRecorder, str], dict[str, Any]]


def check_parallel(parallel: int) -> int:
    """The parallel option, refused below 1 before anything connects."""
    if parallel < 1:
        raise InvalidArgument(f"parallel must be at least 1 (got {parallel})")
    return parallel


def is_batch(name: Any) -> bool:
    """A list of names (even of one) asks for the batch result shape; a string, uuid or xml for one domain."""
    return isinstance(name, list)


def requested_names(name: Any) -> Optional[list[str]]:
    """The name option as a list of names; None when not given."""
    if name is None:
        return None
    names = name if isinstance(name, list) else [name]
    if not all(isinstance(each, str) and each for each in names):
        raise InvalidArgument("name must be a domain name or a list of domain names")
    return names


def resolve_targets(name: Any, uuid: Optional[str], template: Any = None, allow_empty: bool = False) -> list[Target]:
    """The targets of the name/uuid options; an xml `template` names its one domain (and must agree)."""
    names = requested_names(name)
    if names == [] and not allow_empty:
        raise InvalidArgument("name must be a domain name or a list of domain names")
    if template is not None:
        return [_template_target(names, uuid, template)]
    if uuid:
        return [Target(None, uuid)]
    if names is None:
        raise InvalidArgument("one of name, uuid or xml is required")
    return [Target(each, None) for each in names]


def _template_target(names: Optional[list[str]], uuid: Optional[str], template: Any) -> Target:
    template_name = _xml.element_text(template, "name")
    if names and len(names) > 1:
        raise InvalidArgument("xml defines one domain: give a single name with it, not a list")
    if template_name is None:
        raise InvalidArgument("xml has no <name> element")
    if names and names[0] != template_name:
        raise InvalidArgument(f"xml defines domain '{template_name}' but name is '{names[0]}'")
    template_uuid = _xml.element_text(template, "uuid")
    if uuid and template_uuid and uuid.lower() != template_uuid.lower():
        raise InvalidArgument(f"xml has uuid {template_uuid} but uuid is {uuid}")
    return Target(template_name, uuid)


def failure_entry(target: Target, recorder: ChangeRecorder, message: str,
                  facts: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The entry of a failed target: its facts (at least its name), what was done and why it failed."""
    entry = dict(facts) if facts else {"name": target.label}
    entry.update(failed=True, msg=message, error=message, changed=recorder.changed, actions=list(recorder.actions))
    return entry


def run_each(targets: list[Target], work: Work, check_mode: bool, parallel: int,
             failure: Failure = failure_entry, warnings: Optional[list[str]] = None) -> list[dict[str, Any]]:
    """`work` for each target, up to `parallel` at once; one entry each, in order (see the module doc).

    A target that fails does not stop the others. An error that carries the documented `domain`
    dict (error.result["domain"]) is reported as it is; otherwise `failure` describes the target.
    Each target's warnings are appended to `warnings`, prefixed with its label.
    """

    def one(target: Target) -> dict[str, Any]:
        recorder = ChangeRecorder(check_mode)
        try:
            result = work(target, recorder)
        except VirtopsError as error:
            return error.result.get("domain") or failure(target, recorder, error.message)
        except Exception as error:  # pylint: disable=broad-exception-caught
            # A bug in one worker must not become a traceback that hides the other domains' results.
            return failure(target, recorder, f"unexpected error: {type(error).__name__}: {error}")
        finally:
            if warnings is not None:
                warnings.extend(f"{target.label}: {message}" for message in recorder.warnings)
        result.setdefault("name", target.label)
        result.update(changed=recorder.changed, actions=list(recorder.actions), error=None)
        return result

    results = bounded_map(one, targets, parallel)
    failures = [result for result in results if result.get("failed")]
    if failures:
        summary = "; ".join(f"{result['name']}: {result['msg']}" for result in failures)
        raise BatchFailed(f"{len(failures)} of {len(results)} domains failed: {summary}", results)
    return results
