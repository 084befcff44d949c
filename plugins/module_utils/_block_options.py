# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_block's options, checked before anything connects: sizes and rates with units, the job asked for.

Units follow libvirt's (virsh's) scaling: a single letter or `iB` is a power of 1024 (`10G`, `512MiB`),
a decimal `B` a power of 1000 (`5GB`); a bare number is bytes. A size may be relative (`+2G`).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._units import parse_amount, parse_bytes

JOBS = ("pull", "rebase", "copy", "commit", "abort")
FINISHES = ("pivot", "abort", "mirror")
# Jobs that reach a ready phase (both images in sync) and then wait to be pivoted or aborted.
MIRROR_JOBS = ("copy", "active_commit")
# iotune keys libvirt takes as text; every other key is a number
IOTUNE_TEXT_KEYS = ("group_name",)
BLKIO_DEVICE_KEYS = ("device_weight", "device_read_iops_sec", "device_write_iops_sec",
                     "device_read_bytes_sec", "device_write_bytes_sec")


@dataclass(frozen=True)
class Size:
    """The size option: an absolute size, or growth by `amount` (+2G)."""

    amount: int
    relative: bool
    allow_shrink: bool = False

    @classmethod
    def from_param(cls, value: Any, allow_shrink: bool) -> Optional["Size"]:
        if value is None:
            return None
        amount, relative = parse_amount(value, "size", allow_relative=True)
        if not relative and amount == 0:
            raise InvalidArgument("size must be more than 0 bytes")
        return cls(amount, relative, allow_shrink)

    def wanted(self, capacity: int) -> int:
        return capacity + self.amount if self.relative else self.amount


@dataclass(frozen=True)
class Threshold:
    """The threshold option: bytes, or a percentage of the disk's capacity (80%)."""

    amount: float
    percent: bool

    @classmethod
    def from_param(cls, value: Any) -> Optional["Threshold"]:
        if value is None:
            return None
        text = str(value).strip()
        if text.endswith("%"):
            try:
                percent = float(text[:-1])
            except ValueError:
                raise InvalidArgument(f"threshold: cannot read '{value}' as a percentage") from None
            if not 0 <= percent <= 100:
                raise InvalidArgument(f"threshold: a percentage must be between 0 and 100 (got {value})")
            return cls(percent, True)
        return cls(parse_amount(value, "threshold")[0], False)

    def bytes_for(self, capacity: int) -> int:
        return int(capacity * self.amount / 100) if self.percent else int(self.amount)


PEEK_MAX = 1024 ** 2  # bytes one peek may read: the result carries them (base64) in the task's JSON


@dataclass(frozen=True)
class Peek:
    """The peek option: read `size` bytes of the disk's image at `offset` (as the guest sees the disk)."""

    offset: int
    size: int

    @classmethod
    def from_param(cls, value: Any) -> Optional["Peek"]:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise InvalidArgument("peek must be a dictionary with offset and size")
        offset = parse_amount(value.get("offset", 0), "peek.offset")[0]
        size = parse_amount(value.get("size", 512), "peek.size")[0]
        if not 0 < size <= PEEK_MAX:
            raise InvalidArgument(f"peek.size must be between 1 byte and {PEEK_MAX} bytes (got {value.get('size')})")
        return cls(offset, size)


@dataclass(frozen=True)
class JobOptions:
    """The block job a task asks for (see the module's DOCUMENTATION for each option)."""

    kind: str
    base: Optional[str] = None
    top: Optional[str] = None
    destination: Optional[str] = None
    destination_format: str = "qcow2"
    destination_xml: Optional[str] = None
    finish: Optional[str] = None
    pivot: bool = False  # job=abort: pivot to the copy instead of keeping the original
    bandwidth: Optional[int] = None
    flags: frozenset[str] = frozenset()  # shallow, reuse_external, relative, delete...
    granularity: Optional[int] = None
    buf_size: Optional[int] = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Optional["JobOptions"]:
        kind = params.get("job")
        if kind is None:
            _refuse_without_job(params)
            return None
        if kind not in JOBS:
            raise InvalidArgument(f"job: unknown job '{kind}' (known: {', '.join(JOBS)})")
        names = ("shallow", "reuse_external", "relative", "delete", "synchronous_writes", "transient_job")
        options = cls(kind=kind, base=params.get("base"), top=params.get("top"),
                      destination=params.get("destination"),
                      destination_format=params.get("destination_format") or "qcow2",
                      destination_xml=params.get("destination_xml"), finish=params.get("finish"),
                      pivot=bool(params.get("pivot")), bandwidth=parse_bytes(params.get("bandwidth"), "bandwidth"),
                      flags=frozenset(name for name in names if params.get(name)),
                      granularity=parse_bytes(params.get("granularity"), "granularity"),
                      buf_size=parse_bytes(params.get("buf_size"), "buf_size"))
        options.check()
        return options

    def check(self) -> None:
        if self.finish is not None and self.finish not in FINISHES:
            raise InvalidArgument(f"finish: unknown value '{self.finish}' (known: {', '.join(FINISHES)})")
        if self.kind == "copy" and bool(self.destination) == bool(self.destination_xml):
            raise InvalidArgument("job=copy needs one of destination (a file path) or destination_xml (a <disk>)")
        if self.destination is not None and not posixpath.isabs(self.destination):
            raise InvalidArgument(f"destination must be an absolute path on the host (got '{self.destination}')")
        if self.kind == "rebase" and not (self.base or self.destination):
            raise InvalidArgument("job=rebase needs base (the new backing image) or destination (a rebase copy)")
        if self.finish is not None and (self.kind in ("pull", "abort") or (self.kind == "rebase" and not self.destination)):
            raise InvalidArgument(f"finish applies to copy, rebase copies and active commits, not to job={self.kind}")
        if self.pivot and self.kind != "abort":
            raise InvalidArgument("pivot applies to job=abort (finish: pivot ends a copy or an active commit)")
        for name in ("granularity", "buf_size"):
            if getattr(self, name) is not None and self.kind != "copy":
                raise InvalidArgument(f"{name} applies to job=copy only")

    def finish_for(self, two_phase: bool) -> Optional[str]:
        """How the job ends: a two-phase job (copy, active commit) pivots unless told otherwise."""
        if not two_phase:
            return None
        return self.finish or "pivot"


def _refuse_without_job(params: Mapping[str, Any]) -> None:
    for name in ("base", "top", "destination", "destination_xml", "finish", "bandwidth"):
        if params.get(name) is not None:
            raise InvalidArgument(f"{name} applies to a block job: set job as well")


@dataclass(frozen=True)
class BlockOptions:
    """Everything domain_block was asked to do to one disk."""

    disk: str
    job: Optional[JobOptions] = None
    size: Optional[Size] = None
    iotune: Mapping[str, Any] = field(default_factory=dict)
    blkio: Mapping[str, Any] = field(default_factory=dict)
    threshold: Optional[Threshold] = None
    peek: Optional[Peek] = None
    live: bool = True
    config: bool = False
    wait: bool = True
    timeout: float = 3600.0

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "BlockOptions":
        disk = params.get("disk")
        if not disk:
            raise InvalidArgument("disk is required (a target such as vda, or the disk's source path)")
        try:
            return cls._checked(disk, params)
        except InvalidArgument as error:  # refused before connecting: say which task's disk it was
            error.message = f"domain '{params.get('name')}', disk {disk}: {error.message}"
            error.args = (error.message,)
            error.domain = error.domain or params.get("name")
            raise

    @classmethod
    def _checked(cls, disk: str, params: Mapping[str, Any]) -> "BlockOptions":
        timeout = params.get("timeout") if params.get("timeout") is not None else 3600.0
        if timeout < 0:
            raise InvalidArgument(f"timeout must not be negative (got {timeout})")
        live = params.get("live", True) if params.get("live") is not None else True
        options = cls(disk=disk, job=JobOptions.from_params(params),
                      size=Size.from_param(params.get("size"), bool(params.get("allow_shrink"))),
                      iotune=iotune_values(params.get("iotune")), blkio=blkio_values(params.get("blkio")),
                      threshold=Threshold.from_param(params.get("threshold")), peek=Peek.from_param(params.get("peek")),
                      live=bool(live),
                      config=bool(params.get("config")), wait=params.get("wait", True) is not False, timeout=timeout)
        if not (options.live or options.config) and (options.iotune or options.blkio):
            raise InvalidArgument("iotune and blkio need live, config or both")
        return options


def iotune_values(value: Any) -> dict[str, Any]:
    """The iotune option as libvirt's typed parameters: numbers (units allowed for *bytes_sec), group_name text."""
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgument("iotune must be a dictionary of BLOCK_IOTUNE keys (total_bytes_sec, group_name...)")
    found: dict[str, Any] = {}
    for key, setting in value.items():
        if key in IOTUNE_TEXT_KEYS:
            found[key] = str(setting)
        elif "bytes_sec" in key and "length" not in key:
            found[key] = parse_amount(setting, f"iotune.{key}")[0]
        else:
            found[key] = _count(setting, f"iotune.{key}")
    return found


def blkio_values(value: Any) -> dict[str, Any]:
    """The blkio option: weight, and per-device settings as {device path: value}."""
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgument("blkio must be a dictionary (weight, device_weight, device_read_bytes_sec...)")
    found: dict[str, Any] = {}
    for key, setting in value.items():
        if key == "weight":
            found[key] = _count(setting, "blkio.weight")
        elif key in BLKIO_DEVICE_KEYS:
            if not isinstance(setting, Mapping):
                raise InvalidArgument(f"blkio.{key} must map device paths to values ({{'/dev/sda': 500}})")
            found[key] = {path: _device_value(key, path, amount) for path, amount in setting.items()}
        else:
            raise InvalidArgument(f"blkio: unknown key '{key}' (known: weight, {', '.join(BLKIO_DEVICE_KEYS)})")
    return found


def _device_value(key: str, path: str, amount: Any) -> int:
    option = f"blkio.{key}['{path}']"
    return parse_amount(amount, option)[0] if key.endswith("bytes_sec") else _count(amount, option)


def _count(value: Any, option: str) -> int:
    if isinstance(value, bool):
        raise InvalidArgument(f"{option}: expected a whole number, got {value}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{option}: expected a whole number, got '{value}'") from None
    if number < 0:
        raise InvalidArgument(f"{option} must not be negative (got {value})")
    return number
