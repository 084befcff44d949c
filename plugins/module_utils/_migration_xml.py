# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_migrate's disk_paths: the domain XML sent to the destination, with its disks pointed elsewhere.

Only the top <source> of each <disk> changes (its file= or dev=); everything else of the XML stays as
libvirt wrote it, secrets included: the XML was read with VIR_DOMAIN_XML_SECURE and the destination needs
the graphics password too. The result goes to libvirt only, never to results or logs.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._disks import disks_of
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, XmlError

# The <source> attributes holding a local path: a file, or a block device.
PATH_ATTRIBUTES = ("file", "dev")


def parse_domain(text: str, what: str) -> Any:
    """`text` parsed, refused (naming `what`, the option) unless it is a <domain>."""
    try:
        root = _xml.parse(text, what=what)
    except XmlError as error:  # a task option: refused like every other one
        raise InvalidArgument(error.message) from None
    if root.tag != "domain":
        raise InvalidArgument(f"{what} must be a <domain> definition, not <{root.tag}>")
    return root


def _top_sources(root: Any) -> dict[str, list[tuple[Any, str]]]:
    """Path -> the (<source>, attribute) pairs naming it, for each disk's top image (not its backing chain)."""
    found: dict[str, list[tuple[Any, str]]] = {}
    for source in root.iterfind("devices/disk/source"):
        for attribute in PATH_ATTRIBUTES:
            path = source.get(attribute)
            if path:
                found.setdefault(path, []).append((source, attribute))
    return found


def rewrite_disk_paths(text: str, disk_paths: Mapping[str, str], what: str, strict: bool) -> str:
    """`text` (a domain XML) with each disk source in `disk_paths` replaced by its new path.

    strict: every path must be a disk of this XML (the destination XML); the persistent one may lack a
    disk that was hot-plugged into the running domain only.
    """
    root = parse_domain(text, what)
    sources = _top_sources(root)
    for old_path, new_path in disk_paths.items():
        if old_path not in sources:
            if strict:
                raise InvalidArgument(
                    f"disk_paths: '{old_path}' is not the source of a disk of domain '{root.findtext('name')}' "
                    f"(its disk sources: {', '.join(sorted(sources)) or 'none'})")
            continue
        for source, attribute in sources[old_path]:
            source.set(attribute, new_path)
    return _xml.to_string(root, pretty=False)


def destination_xmls(options: Any, xmls: Any) -> tuple[Optional[str], Optional[str]]:
    """destination_xml and persistent_xml for libvirt (None: leave it to libvirt), disk_paths applied.

    options: MigrationOptions; xmls: DomainXmls (the live XML is None when the domain is not running,
    the inactive one None when it is transient).
    """
    disk_paths = options.disk_paths
    if not disk_paths:
        return options.dest_xml, options.persist_xml if options.persist else None
    base = options.dest_xml or xmls.live or xmls.inactive
    if base is None:
        raise InvalidArgument("disk_paths: libvirt returned no XML for the domain to apply them to")
    destination = rewrite_disk_paths(base, disk_paths, "dest_xml" if options.dest_xml else "the domain XML", strict=True)
    persistent_base = (options.persist_xml or xmls.inactive) if options.persist else None
    if persistent_base is None:
        return destination, None
    what = "persist_xml" if options.persist_xml else "the persistent domain XML"
    return destination, rewrite_disk_paths(persistent_base, disk_paths, what, strict=False)


def check_disk_targets(text: Optional[str], wanted: Iterable[str], option: str) -> None:
    """Each of `wanted` must be the target (vda, sdb...) of a disk in the domain XML `text`."""
    if text is None:
        return
    root = parse_domain(text, "the domain XML")
    targets = [disk.target for disk in disks_of(root) if disk.target]
    for target in wanted:
        if target not in targets:
            raise InvalidArgument(
                f"{option}: domain '{root.findtext('name')}' has no disk '{target}' (its disks: {', '.join(targets) or 'none'})")
