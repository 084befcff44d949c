# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CPU lists in libvirt's syntax ("0-3,^2,8"): parsed, checked against the host, formatted back.

libvirt's pinning calls take and return a cpumap, a tuple of booleans indexed by host CPU; the
task options and the results use the text form, so a pinning reads the same in the task, in the
result and in `virsh vcpupin`.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument

_RANGE = re.compile(r"^(?P<exclude>\^?)(?P<first>\d+)(?:-(?P<last>\d+))?$")
SYNTAX = "CPU numbers and ranges separated by commas, ^N to leave one out, e.g. 0-3,^2,8"


def parse(text: Any, option: str, host_cpus: Optional[int] = None) -> tuple[int, ...]:
    """The sorted CPU numbers of a CPU list; refused naming the option when malformed or not on the host."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise InvalidArgument(f"{option}: expected a CPU list ({SYNTAX}), got {text!r}")
    chosen: set[int] = set()
    excluded: set[int] = set()
    for item in str(text).split(","):
        match = _RANGE.match(item.strip())
        if not match:
            raise InvalidArgument(f"{option}: cannot read '{text}' as a CPU list ({SYNTAX})")
        first, last = int(match.group("first")), int(match.group("last") or match.group("first"))
        if last < first:
            raise InvalidArgument(f"{option}: the range {item.strip()} of '{text}' ends before it starts")
        (excluded if match.group("exclude") else chosen).update(range(first, last + 1))
    cpus = tuple(sorted(chosen - excluded))
    if not cpus:
        raise InvalidArgument(f"{option}: '{text}' selects no CPU")
    if host_cpus is not None:
        check_on_host(cpus, option, host_cpus)
    return cpus


def check_on_host(cpus: Iterable[int], option: str, host_cpus: int) -> None:
    outside = [cpu for cpu in cpus if cpu >= host_cpus]
    if outside:
        raise InvalidArgument(f"{option}: CPU {format_list(outside)} is not a CPU of this host "
                              f"(it has {host_cpus}: {format_list(range(host_cpus))})")


def format_list(cpus: Iterable[int]) -> str:
    """The shortest text form of CPU numbers: ranges joined by commas ("0-3,8")."""
    ordered = sorted(set(cpus))
    parts: list[str] = []
    start = previous = None
    for cpu in ordered + [None]:
        if start is not None and cpu != previous + 1:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = None
        if start is None:
            start = cpu
        previous = cpu
    return ",".join(parts)


def normalized(text: Any, option: str, host_cpus: Optional[int] = None) -> str:
    """A CPU list written the way results show it ("0,1,2,3" -> "0-3"), so it compares with read values."""
    return format_list(parse(text, option, host_cpus))


def to_cpumap(cpus: Iterable[int], host_cpus: int) -> tuple[bool, ...]:
    """libvirt's cpumap of these CPUs: one boolean per host CPU."""
    chosen = set(cpus)
    return tuple(cpu in chosen for cpu in range(host_cpus))


def from_cpumap(cpumap: Iterable[Any]) -> tuple[int, ...]:
    """The CPU numbers a libvirt cpumap selects."""
    return tuple(cpu for cpu, used in enumerate(cpumap) if used)


def cpumap_text(cpumap: Iterable[Any]) -> str:
    """A libvirt cpumap as a CPU list ("0-3")."""
    return format_list(from_cpumap(cpumap))
