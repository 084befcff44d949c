# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One migration as libvirt takes it: the VIR_MIGRATE_* flags and typed parameters of migrate3 / migrateToURI3.

Built by `_migration_options.MigrationOptions.request()`; every flag and parameter passes through
`RequestBuilder`, which remembers the option asking for it, so a daemon too old for one is refused naming
that option (minimum versions from the "Since:" comments of libvirt's include/libvirt/libvirt-domain.h).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag, version_text, version_tuple
from ansible_collections.virtops.libvirt.plugins.module_utils._migration_xml import check_disk_targets, destination_xmls

Version = tuple[int, int, int]

# The first libvirt release with each flag / parameter (libvirt-domain.h "Since:").
SINCE: dict[str, Version] = {
    "VIR_MIGRATE_LIVE": (0, 3, 2),
    "VIR_MIGRATE_PEER2PEER": (0, 7, 2),
    "VIR_MIGRATE_TUNNELLED": (0, 7, 2),
    "VIR_MIGRATE_PERSIST_DEST": (0, 7, 3),
    "VIR_MIGRATE_UNDEFINE_SOURCE": (0, 7, 3),
    "VIR_MIGRATE_PAUSED": (0, 7, 5),
    "VIR_MIGRATE_NON_SHARED_DISK": (0, 8, 2),
    "VIR_MIGRATE_NON_SHARED_INC": (0, 8, 2),
    "VIR_MIGRATE_CHANGE_PROTECTION": (0, 9, 4),
    "VIR_MIGRATE_UNSAFE": (0, 9, 11),
    "VIR_MIGRATE_OFFLINE": (1, 0, 1),
    "VIR_MIGRATE_COMPRESSED": (1, 0, 3),
    "VIR_MIGRATE_ABORT_ON_ERROR": (1, 1, 0),
    "VIR_MIGRATE_AUTO_CONVERGE": (1, 2, 3),
    "VIR_MIGRATE_RDMA_PIN_ALL": (1, 2, 9),
    "VIR_MIGRATE_POSTCOPY": (1, 3, 3),
    "VIR_MIGRATE_TLS": (3, 2, 0),
    "VIR_MIGRATE_PARALLEL": (5, 2, 0),
    "VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES": (8, 0, 0),
    "VIR_MIGRATE_POSTCOPY_RESUME": (8, 5, 0),
    "VIR_MIGRATE_ZEROCOPY": (8, 5, 0),
    "VIR_MIGRATE_PARAM_URI": (1, 1, 0),
    "VIR_MIGRATE_PARAM_DEST_NAME": (1, 1, 0),
    "VIR_MIGRATE_PARAM_DEST_XML": (1, 1, 0),
    "VIR_MIGRATE_PARAM_PERSIST_XML": (1, 3, 4),
    "VIR_MIGRATE_PARAM_BANDWIDTH": (1, 1, 0),
    "VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY": (5, 1, 0),
    "VIR_MIGRATE_PARAM_GRAPHICS_URI": (1, 1, 0),
    "VIR_MIGRATE_PARAM_LISTEN_ADDRESS": (1, 1, 4),
    "VIR_MIGRATE_PARAM_MIGRATE_DISKS": (1, 2, 17),
    "VIR_MIGRATE_PARAM_DISKS_PORT": (1, 3, 3),
    "VIR_MIGRATE_PARAM_DISKS_URI": (6, 8, 0),
    "VIR_MIGRATE_PARAM_COMPRESSION": (1, 3, 4),
    "VIR_MIGRATE_PARAM_COMPRESSION_MT_LEVEL": (1, 3, 4),
    "VIR_MIGRATE_PARAM_COMPRESSION_MT_THREADS": (1, 3, 4),
    "VIR_MIGRATE_PARAM_COMPRESSION_MT_DTHREADS": (1, 3, 4),
    "VIR_MIGRATE_PARAM_COMPRESSION_XBZRLE_CACHE": (1, 3, 4),
    "VIR_MIGRATE_PARAM_COMPRESSION_ZLIB_LEVEL": (9, 4, 0),
    "VIR_MIGRATE_PARAM_COMPRESSION_ZSTD_LEVEL": (9, 4, 0),
    "VIR_MIGRATE_PARAM_AUTO_CONVERGE_INITIAL": (2, 0, 0),
    "VIR_MIGRATE_PARAM_AUTO_CONVERGE_INCREMENT": (2, 0, 0),
    "VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS": (5, 2, 0),
    "VIR_MIGRATE_PARAM_TLS_DESTINATION": (6, 0, 0),
}
# Compression methods libvirt's QEMU driver accepts since (zlib and zstd came with their level parameters).
METHOD_SINCE: dict[str, Version] = {"xbzrle": (1, 3, 4), "mt": (1, 3, 4), "zlib": (9, 4, 0), "zstd": (9, 4, 0)}

# Parameters whose values are whole domain XML documents: sent to libvirt, never shown.
XML_PARAMETERS = frozenset({"destination_xml", "persistent_xml"})
# How summary() names a flag where its constant's name says it badly.
FLAG_WORDS = {
    "VIR_MIGRATE_PEER2PEER": "p2p",
    "VIR_MIGRATE_PERSIST_DEST": "persist",
    "VIR_MIGRATE_NON_SHARED_DISK": "copy storage",
    "VIR_MIGRATE_NON_SHARED_INC": "copy storage incremental",
    "VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES": "synchronous writes",
    "VIR_MIGRATE_AUTO_CONVERGE": "auto-converge",
}


class DomainXmls(NamedTuple):
    """The domain's XML as read with VIR_DOMAIN_XML_MIGRATABLE | SECURE (secrets in: libvirt needs them)."""

    live: Optional[str]  # of the running domain; None when it is not running
    inactive: Optional[str]  # its persistent definition (| INACTIVE); None when it is transient


@dataclass(frozen=True)
class MigrationRequest:
    flags: int
    flag_names: tuple[str, ...]  # VIR_MIGRATE_* names, by value
    params: dict[str, Any] = field(repr=False)  # typed parameters by libvirt key; may hold XML with secrets

    def summary(self) -> str:
        """The action as results list it, e.g. 'migrate(live, p2p, persist, undefine source)'."""
        words = [FLAG_WORDS.get(name, name[len("VIR_MIGRATE_"):].lower().replace("_", " ")) for name in self.flag_names]
        return f"migrate({', '.join(words)})"

    def public_params(self) -> dict[str, Any]:
        """The parameters fit for results: XML bodies (which hold passwords) left out."""
        return {key: value for key, value in self.params.items() if key not in XML_PARAMETERS}


class RequestBuilder:
    """Collects flags and parameters, each with the option that asked for it, for the version check.

    Parameter keys come from libvirt-python's constants, not literals: for a key it does not know,
    libvirt-python guesses the typed parameter's type from the Python value (an int becomes a ullong),
    and the daemon refuses an int parameter such as compression.zlib.level sent that way.
    """

    def __init__(self) -> None:
        self.flags: list[tuple[str, str]] = []  # (option, VIR_MIGRATE_* constant)
        self.params: list[tuple[str, str, Any]] = []  # (option, VIR_MIGRATE_PARAM_* constant, value)
        self.needs: list[tuple[str, Version]] = []  # (option, minimum libvirt version)

    def flag(self, option: str, constant: str) -> None:
        self.flags.append((option, constant))
        self.needs.append((option, SINCE[constant]))

    def param(self, option: str, constant: str, value: Any) -> None:
        self.params.append((option, constant, value))
        self.needs.append((option, SINCE[constant]))

    def need(self, option: str, version: Version) -> None:
        self.needs.append((option, version))

    def build(self, daemon_version: int) -> MigrationRequest:
        """The request, once the daemon (then this libvirt-python) is known to have all it needs."""
        have = version_tuple(daemon_version)
        for option, minimum in self.needs:
            if have < minimum:
                raise InvalidArgument(
                    f"{option} needs libvirt >= {version_text(minimum)} on the hypervisor (it has {version_text(have)})")
        flags = sorted({constant: flag(constant, needed_for=option) for option, constant in self.flags}.items(),
                       key=lambda item: item[1])
        params = {flag(constant, needed_for=option): value for option, constant, value in self.params}
        return MigrationRequest(sum(value for _name, value in flags), tuple(name for name, _value in flags), params)


# Boolean options and the flag each turns on.
FLAG_OPTIONS = {
    "p2p": "VIR_MIGRATE_PEER2PEER",
    "tunnelled": "VIR_MIGRATE_TUNNELLED",
    "tls": "VIR_MIGRATE_TLS",
    "persist": "VIR_MIGRATE_PERSIST_DEST",
    "undefine_source": "VIR_MIGRATE_UNDEFINE_SOURCE",
    "synchronous_writes": "VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES",
    "unsafe": "VIR_MIGRATE_UNSAFE",
    "abort_on_error": "VIR_MIGRATE_ABORT_ON_ERROR",
    "change_protection": "VIR_MIGRATE_CHANGE_PROTECTION",
    "rdma_pin_all": "VIR_MIGRATE_RDMA_PIN_ALL",
    "postcopy": "VIR_MIGRATE_POSTCOPY",
    "postcopy_resume": "VIR_MIGRATE_POSTCOPY_RESUME",
    "zerocopy": "VIR_MIGRATE_ZEROCOPY",
}
MODE_FLAGS = {
    "live": ("VIR_MIGRATE_LIVE",),
    "paused": ("VIR_MIGRATE_LIVE", "VIR_MIGRATE_PAUSED"),
    "offline": ("VIR_MIGRATE_OFFLINE",),
}
COPY_STORAGE_FLAGS = {"all": "VIR_MIGRATE_NON_SHARED_DISK", "incremental": "VIR_MIGRATE_NON_SHARED_INC"}
# Options passed as they are, and their parameter.
PARAMETER_OPTIONS = {
    "migrate_uri": "VIR_MIGRATE_PARAM_URI",
    "dest_name": "VIR_MIGRATE_PARAM_DEST_NAME",
    "graphics_uri": "VIR_MIGRATE_PARAM_GRAPHICS_URI",
    "listen_address": "VIR_MIGRATE_PARAM_LISTEN_ADDRESS",
    "disks_uri": "VIR_MIGRATE_PARAM_DISKS_URI",
    "disks_port": "VIR_MIGRATE_PARAM_DISKS_PORT",
    "tls_destination": "VIR_MIGRATE_PARAM_TLS_DESTINATION",
    "bandwidth": "VIR_MIGRATE_PARAM_BANDWIDTH",
    "postcopy_bandwidth": "VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY",
}
COMPRESSION_PARAMETERS = {
    "mt_level": "VIR_MIGRATE_PARAM_COMPRESSION_MT_LEVEL",
    "mt_threads": "VIR_MIGRATE_PARAM_COMPRESSION_MT_THREADS",
    "mt_dthreads": "VIR_MIGRATE_PARAM_COMPRESSION_MT_DTHREADS",
    "zlib_level": "VIR_MIGRATE_PARAM_COMPRESSION_ZLIB_LEVEL",
    "zstd_level": "VIR_MIGRATE_PARAM_COMPRESSION_ZSTD_LEVEL",
    "xbzrle_cache": "VIR_MIGRATE_PARAM_COMPRESSION_XBZRLE_CACHE",
}


def build_request(options: Any, xmls: DomainXmls, daemon_version: int) -> MigrationRequest:
    """The migration `options` (a MigrationOptions) ask for, of the domain whose XML is `xmls`."""
    builder = RequestBuilder()
    for constant in MODE_FLAGS[options.mode]:
        builder.flag(f"mode={options.mode}", constant)
    for option, constant in FLAG_OPTIONS.items():
        if getattr(options, option):
            builder.flag(option, constant)
    if options.postcopy_resume and not options.p2p:
        # libvirt resumes a client-driven post-copy migration only under change protection.
        builder.flag("postcopy_resume", "VIR_MIGRATE_CHANGE_PROTECTION")
    for option, constant in PARAMETER_OPTIONS.items():
        if getattr(options, option) is not None:
            builder.param(option, constant, getattr(options, option))
    _storage(builder, options, xmls)
    _xml_parameters(builder, options, xmls)
    _tuning(builder, options)
    return builder.build(daemon_version)


def _storage(builder: RequestBuilder, options: Any, xmls: DomainXmls) -> None:
    if options.copy_storage == "none":
        return
    builder.flag(f"copy_storage={options.copy_storage}", COPY_STORAGE_FLAGS[options.copy_storage])
    if options.migrate_disks is not None:
        check_disk_targets(xmls.live or xmls.inactive, options.migrate_disks, "migrate_disks")
        builder.param("migrate_disks", "VIR_MIGRATE_PARAM_MIGRATE_DISKS", list(options.migrate_disks))


def _xml_parameters(builder: RequestBuilder, options: Any, xmls: DomainXmls) -> None:
    destination, persistent = destination_xmls(options, xmls)
    if destination is not None:
        builder.param("dest_xml" if options.dest_xml else "disk_paths", "VIR_MIGRATE_PARAM_DEST_XML", destination)
    if persistent is not None:
        builder.param("persist_xml" if options.persist_xml else "disk_paths", "VIR_MIGRATE_PARAM_PERSIST_XML", persistent)


def _tuning(builder: RequestBuilder, options: Any) -> None:
    if options.parallel_connections is not None:
        builder.flag("parallel_connections", "VIR_MIGRATE_PARALLEL")
        builder.param("parallel_connections", "VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS", options.parallel_connections)
    if options.auto_converge is not None:
        builder.flag("auto_converge", "VIR_MIGRATE_AUTO_CONVERGE")
        for name, constant in (("initial", "VIR_MIGRATE_PARAM_AUTO_CONVERGE_INITIAL"),
                               ("increment", "VIR_MIGRATE_PARAM_AUTO_CONVERGE_INCREMENT")):
            if getattr(options.auto_converge, name) is not None:
                builder.param(f"auto_converge.{name}", constant, getattr(options.auto_converge, name))
    if options.compression is not None:
        _compression(builder, options.compression)


def _compression(builder: RequestBuilder, compression: Any) -> None:
    builder.flag("compression", "VIR_MIGRATE_COMPRESSED")
    if compression.methods:
        # A list value: libvirt-python sends one typed parameter per method.
        builder.param("compression.methods", "VIR_MIGRATE_PARAM_COMPRESSION", list(compression.methods))
    for method in compression.methods:
        builder.need(f"compression.methods={method}", METHOD_SINCE[method])
    for name, value in compression.settings.items():
        builder.param(f"compression.{name}", COMPRESSION_PARAMETERS[name], value)
