# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_migrate's refusals: options that contradict each other, or that libvirt refuses only once connected.

Each refusal names the option (InvalidArgument). libvirt's own checks are quoted where they are the
reason (src/qemu/qemu_migration.c qemuMigrationSrcBeginPhase, qemu_migration_params.c).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument

# option -> (lowest, highest) allowed value; None: no bound.
RANGES: dict[str, tuple[Optional[float], Optional[float]]] = {
    "bandwidth": (0, None),
    "postcopy_bandwidth": (0, None),
    "max_downtime": (0, None),
    "disks_port": (0, 65535),
    "parallel_connections": (1, 255),
    "postcopy_after": (0, None),
    "postcopy_after_iterations": (1, None),
    "timeout": (1, None),
    "compression.mt_level": (0, 9),
    "compression.mt_threads": (1, 255),
    "compression.mt_dthreads": (1, 255),
    "compression.zlib_level": (0, 9),
    "compression.zstd_level": (0, 20),
    "compression.xbzrle_cache": (0, None),
    "auto_converge.initial": (0, 100),
    "auto_converge.increment": (0, 100),
}

# Options that move or tune the guest's memory or disks: meaningless for mode=offline, which moves
# only the definition ("offline migration cannot handle non-shared storage", and nothing else is sent).
LIVE_ONLY = ("copy_storage", "migrate_disks", "synchronous_writes", "disks_uri", "disks_port", "migrate_uri",
             "listen_address", "graphics_uri", "bandwidth", "postcopy_bandwidth", "max_downtime", "compression",
             "parallel_connections", "auto_converge", "zerocopy", "rdma_pin_all", "postcopy", "postcopy_resume",
             "tunnelled")
# Options that only tune the storage copy.
STORAGE_ONLY = ("migrate_disks", "synchronous_writes", "disks_uri", "disks_port")
# Options that only tune post-copy.
POSTCOPY_ONLY = ("postcopy_after", "postcopy_after_iterations", "postcopy_bandwidth", "postcopy_resume")


def _lookup(params: Mapping[str, Any], option: str) -> Any:
    parent, _dot, child = option.partition(".")
    value = params.get(parent)
    if child:
        return value.get(child) if isinstance(value, Mapping) else None
    return value


def check_choices(params: Mapping[str, Any], choices: Mapping[str, tuple[str, ...]]) -> None:
    """The argument spec enforces these; checked again so no other caller can reach a KeyError."""
    for option, known in choices.items():
        value = params.get(option, known[0])
        if value not in known:
            raise InvalidArgument(f"{option}: unknown value '{value}'; expected one of {', '.join(known)}")


def check_ranges(params: Mapping[str, Any]) -> None:
    """Numbers out of their range (negative bandwidths, a zstd level of 30...) are refused, naming the option."""
    for option, (lowest, highest) in RANGES.items():
        value = _lookup(params, option)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidArgument(f"{option} must be a number (got {value!r})")
        if lowest is not None and value < lowest:
            raise InvalidArgument(f"{option} must be at least {lowest:g} (got {value:g})")
        if highest is not None and value > highest:
            raise InvalidArgument(f"{option} must be at most {highest:g} (got {value:g})")


def is_set(value: Any) -> bool:
    """Whether an option asks for something: not left out, not false, not copy_storage=none."""
    return value is not None and value is not False and value != "none" and value != ()


def _refuse_unless(options: Any, dependent: tuple[str, ...], condition: bool, needed: str) -> None:
    for option in dependent:
        if is_set(getattr(options, option)) and not condition:
            raise InvalidArgument(f"{option} requires {needed}")


def check_options(options: Any) -> None:
    """Refuse combinations that cannot work, before anything connects."""
    _check_offline(options)
    _refuse_unless(options, STORAGE_ONLY, options.copy_storage != "none", "copy_storage (all or incremental)")
    _refuse_unless(options, POSTCOPY_ONLY, options.postcopy, "postcopy=true")
    _refuse_unless(options, ("tunnelled", "peer_uri"), options.p2p, "p2p=true")
    _refuse_unless(options, ("tls_destination",), options.tls, "tls=true")
    _refuse_unless(options, ("persist_xml",), options.persist, "persist=true")
    _refuse_unless(options, ("zerocopy",), options.parallel_connections is not None,
                   "parallel_connections (libvirt: zero-copy is only available for parallel migration)")
    _check_tunnelled(options)
    _check_postcopy(options)
    _check_compression(options)
    if options.rdma_pin_all and not (options.migrate_uri or "").startswith("rdma://"):
        raise InvalidArgument("rdma_pin_all requires an rdma:// migrate_uri")


def _check_offline(options: Any) -> None:
    if options.mode != "offline":
        return
    if not options.persist:
        raise InvalidArgument("mode=offline requires persist=true: an offline migration moves the persistent definition")
    for option in LIVE_ONLY:
        if is_set(getattr(options, option)):
            raise InvalidArgument(f"{option} cannot be used with mode=offline: only the definition moves, no memory or disks")


def _check_tunnelled(options: Any) -> None:
    if not options.tunnelled:
        return
    # libvirt-domain.h: VIR_MIGRATE_PARAM_URI "may not be used when VIR_MIGRATE_TUNNELLED flag is set";
    # qemu_migration.c: no non-shared storage with tunnelled migration.
    for option in ("migrate_uri", "copy_storage"):
        if is_set(getattr(options, option)):
            raise InvalidArgument(f"{option} cannot be used with tunnelled=true: the data goes over the daemons' connection")


def _check_postcopy(options: Any) -> None:
    if not options.postcopy:
        return
    # qemu_migration.c: "post-copy migration is not supported with non-live or paused migration",
    # "post-copy is not supported with tunnelled migration".
    if options.mode == "paused":
        raise InvalidArgument("postcopy cannot be used with mode=paused (libvirt supports post-copy only for live migration)")
    if options.tunnelled:
        raise InvalidArgument("postcopy cannot be used with tunnelled=true (libvirt does not support it)")


def _check_compression(options: Any) -> None:
    """qemu_migration_params.c: xbzrle and mt are refused with parallel migration, zlib and zstd need it, one at a time."""
    if options.compression is None:
        return
    methods = options.compression.methods
    parallel = options.parallel_connections is not None
    for method in methods:
        if method in ("zlib", "zstd") and not parallel:
            raise InvalidArgument(f"compression.methods: '{method}' requires parallel_connections (multifd compression)")
        if method in ("xbzrle", "mt") and parallel:
            raise InvalidArgument(f"compression.methods: '{method}' cannot be used with parallel_connections (use zlib or zstd)")
    if parallel and len(methods) > 1:
        raise InvalidArgument("compression.methods: parallel migration takes one method (zlib or zstd)")
