# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Amounts of bytes with units, as task options give them (domain_block's sizes, domain_tune's memory).

Units follow libvirt's (virsh's) scaling: a single letter or `iB` is a power of 1024 (`10G`, `512MiB`),
a decimal `B` a power of 1000 (`5GB`); a bare number is bytes. A size may be relative (`+2G`) where
the option allows it.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument

_PREFIXES = "kmgtpe"
_AMOUNT = re.compile(r"^\s*(?P<sign>[+-]?)\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]*?)\s*(?:/s)?\s*$", re.IGNORECASE)
KIB = 1024


def _scale(unit: str, option: str, value: Any) -> int:
    unit = unit.lower()
    if unit in ("", "b"):
        return 1
    prefix, rest = unit[0], unit[1:]
    if prefix in _PREFIXES and rest in ("", "ib", "b"):
        return (1000 if rest == "b" else 1024) ** (_PREFIXES.index(prefix) + 1)
    raise InvalidArgument(f"{option}: cannot read '{value}' as an amount of bytes "
                          "(a number with an optional unit such as 512MiB, 10G or 5GB)")


def parse_amount(value: Any, option: str, allow_relative: bool = False) -> tuple[int, bool]:
    """Bytes (and whether the value was relative, `+2G`) from an int or a text with a unit; never negative."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{option}: expected an amount of bytes, got {value}")
    if isinstance(value, int):
        sign, number, unit = ("-" if value < 0 else ""), str(abs(value)), ""
    else:
        match = _AMOUNT.match(str(value))
        if not match:
            raise InvalidArgument(f"{option}: cannot read '{value}' as an amount of bytes "
                                  "(a number with an optional unit such as 512MiB, 10G or 5GB)")
        sign, number, unit = match.group("sign"), match.group("number"), match.group("unit")
    if sign == "-":
        raise InvalidArgument(f"{option} must not be negative (got {value})")
    if sign == "+" and not allow_relative:
        raise InvalidArgument(f"{option} cannot be relative (got {value})")
    return int(float(number) * _scale(unit, option, value)), sign == "+"


def parse_bytes(value: Any, option: str) -> Optional[int]:
    return None if value is None else parse_amount(value, option)[0]


def parse_kib(value: Any, option: str) -> Optional[int]:
    """KiB (libvirt's unit of memory sizes) from an amount of bytes with a unit; a bare number is bytes.

    A size that is not a whole number of KiB is refused rather than rounded: libvirt would round
    it down and the next run would see a difference.
    """
    amount = parse_bytes(value, option)
    if amount is None:
        return None
    if amount % KIB:
        raise InvalidArgument(f"{option}: {value} is not a whole number of KiB ({amount} bytes)")
    return amount // KIB
