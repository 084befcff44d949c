# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Diffs Ansible's diff callback prints readably.

Modules describe before and after as dicts. The callback would print a dict as one JSON line
(a domain definition as one escaped line), so each is turned into texts: one `key: value` line
per plain value, and a diff of its own, line by line, for each multi-line text (XML).
"""

from __future__ import annotations

import json
from typing import Any, Iterator

MISSING = object()


def readable_diffs(before: Any, after: Any) -> list[dict[str, str]]:
    """Ansible diff entries (before/after texts with headers) for two descriptions."""
    if not isinstance(before, dict) and not isinstance(after, dict):
        return [{"before": _text(before), "after": _text(after)}]
    before_values = dict(_flatten(before))
    after_values = dict(_flatten(after))
    keys = list(before_values) + [key for key in after_values if key not in before_values]
    multiline = [key for key in keys if _is_multiline(before_values.get(key)) or _is_multiline(after_values.get(key))]
    diffs = []
    plain = [key for key in keys if key not in multiline]
    if plain:
        diffs.append({"before": _lines(plain, before_values), "after": _lines(plain, after_values)})
    for key in multiline:
        diffs.append({"before_header": f"{key} (before)", "after_header": f"{key} (after)",
                      "before": _text(before_values.get(key)), "after": _text(after_values.get(key))})
    return diffs


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif prefix:
        yield prefix, value


def _is_multiline(value: Any) -> bool:
    return isinstance(value, str) and "\n" in value


def _lines(keys: list[str], values: dict[str, Any]) -> str:
    return "".join(f"{key}: {_scalar(values.get(key, MISSING))}\n" for key in keys if key in values)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _text(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True, default=str)
    return text if text.endswith("\n") else text + "\n"
