# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_migrate's options, checked before anything connects, and the tables its choices come from.

`MigrationOptions.from_params` refuses options that contradict each other (or that libvirt would refuse
only after connecting), naming the option; `request()` turns them, with the domain's XML, into one
migrate3 / migrateToURI3 call (`_migration_request`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._connection import ConnectionParams, resolve_uri
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._migration_refusals import check_choices, check_options, check_ranges
from ansible_collections.virtops.libvirt.plugins.module_utils._migration_request import (
    DomainXmls,
    MigrationRequest,
    build_request,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._migration_xml import parse_domain

MODES = ("live", "paused", "offline")
COPY_STORAGE = ("none", "all", "incremental")
COMPRESSION_METHODS = ("xbzrle", "mt", "zlib", "zstd")
# compression suboption -> the method it tunes
COMPRESSION_SETTINGS = {
    "mt_level": "mt", "mt_threads": "mt", "mt_dthreads": "mt",
    "zlib_level": "zlib", "zstd_level": "zstd", "xbzrle_cache": "xbzrle",
}

__all__ = ["MODES", "COPY_STORAGE", "COMPRESSION_METHODS", "DomainXmls", "MigrationOptions", "MigrationRequest"]


@dataclass(frozen=True)
class Compression:
    methods: tuple[str, ...] = ()  # none: QEMU's default method
    settings: Mapping[str, int] = field(default_factory=dict)  # COMPRESSION_SETTINGS keys that were set

    @classmethod
    def from_param(cls, value: Any) -> Optional["Compression"]:
        value = _suboptions(value, "compression", "QEMU's default method")
        if value is None:
            return None
        if isinstance(value.get("methods"), str):
            raise InvalidArgument("compression.methods must be a list of methods")
        methods = tuple(value.get("methods") or ())
        for method in methods:
            if method not in COMPRESSION_METHODS:
                raise InvalidArgument(f"compression.methods: unknown method '{method}' (known: {', '.join(COMPRESSION_METHODS)})")
            if methods.count(method) > 1:
                raise InvalidArgument(f"compression.methods: '{method}' is listed twice")
        settings = {name: value[name] for name in COMPRESSION_SETTINGS if value.get(name) is not None}
        for name in settings:
            if COMPRESSION_SETTINGS[name] not in methods:
                raise InvalidArgument(
                    f"compression.{name} tunes the '{COMPRESSION_SETTINGS[name]}' method, which is not in compression.methods")
        return cls(methods, settings)


@dataclass(frozen=True)
class AutoConverge:
    initial: Optional[int] = None  # percent of vCPU time; None: QEMU's default
    increment: Optional[int] = None

    @classmethod
    def from_param(cls, value: Any) -> Optional["AutoConverge"]:
        value = _suboptions(value, "auto_converge", "QEMU's defaults")
        return None if value is None else cls(value.get("initial"), value.get("increment"))


def _suboptions(value: Any, option: str, empty_means: str) -> Optional[Mapping[str, Any]]:
    """The value of a dictionary option (None: not given); {} turns the feature on with `empty_means`."""
    if value is None or isinstance(value, Mapping):
        return value
    raise InvalidArgument(f"{option} must be a dictionary ({{}} for {empty_means})")


@dataclass(frozen=True)
class MigrationOptions:  # pylint: disable=too-many-instance-attributes
    """One field per module option (but name, parallel and the source connection's)."""

    dest: ConnectionParams
    peer_uri: Optional[str] = None
    mode: str = "live"
    p2p: bool = False
    tunnelled: bool = False
    tls: bool = False
    tls_destination: Optional[str] = None
    persist: bool = True
    undefine_source: bool = True  # from_params: defaults to persist
    copy_storage: str = "none"
    migrate_disks: Optional[tuple[str, ...]] = None
    synchronous_writes: bool = False
    disk_paths: Mapping[str, str] = field(default_factory=dict)
    dest_name: Optional[str] = None
    dest_xml: Optional[str] = field(default=None, repr=False)  # may hold passwords
    persist_xml: Optional[str] = field(default=None, repr=False)
    migrate_uri: Optional[str] = None
    disks_uri: Optional[str] = None
    disks_port: Optional[int] = None
    listen_address: Optional[str] = None
    graphics_uri: Optional[str] = None
    bandwidth: Optional[int] = None
    postcopy_bandwidth: Optional[int] = None
    max_downtime: Optional[int] = None
    compression: Optional[Compression] = None
    parallel_connections: Optional[int] = None
    auto_converge: Optional[AutoConverge] = None
    zerocopy: bool = False
    unsafe: bool = False
    abort_on_error: bool = False
    change_protection: bool = False
    rdma_pin_all: bool = False
    postcopy: bool = False
    postcopy_after: Optional[float] = None
    postcopy_after_iterations: Optional[int] = None
    postcopy_resume: bool = False
    timeout: float = 3600
    warnings: tuple[str, ...] = ()  # what the task should warn about (allowed, but probably not meant)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "MigrationOptions":
        """The module's options, after refusing (InvalidArgument, naming the option) any that cannot work."""
        check_choices(params, {"mode": MODES, "copy_storage": COPY_STORAGE})
        check_ranges(params)
        simple = {item.name: params[item.name] for item in fields(cls)
                  if item.name in params and item.name not in _CONVERTED and params[item.name] is not None}
        persist = params.get("persist", True) is not False
        undefine_source = params.get("undefine_source")
        options = cls(
            dest=ConnectionParams(uri=params.get("dest_uri"), auth_username=params.get("dest_auth_username"),
                                  auth_password=params.get("dest_auth_password")),
            undefine_source=persist if undefine_source is None else bool(undefine_source),
            migrate_disks=None if params.get("migrate_disks") is None else tuple(params["migrate_disks"]),
            disk_paths=_disk_paths(params.get("disk_paths")),
            compression=Compression.from_param(params.get("compression")),
            auto_converge=AutoConverge.from_param(params.get("auto_converge")),
            **simple,
        )
        _check_xml_options(options)
        _check_destination(options, params.get("uri"))
        check_options(options)
        return _with_warnings(options)

    @property
    def peer(self) -> str:
        """The destination as the source daemon reaches it (p2p), or as the task does."""
        return self.peer_uri or self.dest.uri or ""

    def request(self, xmls: DomainXmls, daemon_version: int) -> MigrationRequest:
        """The flags and parameters of the migration of the domain whose XML is `xmls`.

        daemon_version: the source daemon's getLibVersion(); an option it is too old for is refused.
        """
        return build_request(self, xmls, daemon_version)


# Fields from_params fills itself, not copied from the parameter of the same name.
_CONVERTED = frozenset({"dest", "undefine_source", "migrate_disks", "disk_paths", "compression", "auto_converge", "warnings"})


def _disk_paths(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgument("disk_paths must be a dictionary: disk source path at the source -> path at the destination")
    targets: dict[str, str] = {}
    for old_path, new_path in value.items():
        for path in (old_path, new_path):
            if not isinstance(path, str) or not path.startswith("/"):
                raise InvalidArgument(f"disk_paths: '{old_path}' -> {new_path!r}: both must be absolute paths")
        if new_path in targets:  # two disks writing one image at the destination would corrupt it
            first, second = sorted((targets[new_path], old_path))
            raise InvalidArgument(f"disk_paths: '{first}' and '{second}' would both be '{new_path}'")
        targets[new_path] = old_path
    return dict(value)


def _check_xml_options(options: MigrationOptions) -> None:
    """dest_xml and persist_xml are parsed now, so a broken one fails before anything connects."""
    for option in ("dest_xml", "persist_xml"):
        text = getattr(options, option)
        if text is not None:
            parse_domain(text, option)


def _check_destination(options: MigrationOptions, source_uri: Optional[str]) -> None:
    if not options.dest.uri:
        raise InvalidArgument("dest_uri is required: the libvirt URI of the destination host")
    if options.dest.uri == resolve_uri(source_uri):
        raise InvalidArgument(f"dest_uri '{options.dest.uri}' is the source host itself (uri): nothing to migrate to")


def _with_warnings(options: MigrationOptions) -> MigrationOptions:
    warnings = []
    if options.undefine_source and not options.persist:
        warnings.append("undefine_source=true with persist=false leaves the domain defined nowhere: "
                        "it is gone once it stops at the destination")
    return replace(options, warnings=tuple(warnings)) if warnings else options
