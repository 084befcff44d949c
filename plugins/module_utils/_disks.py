# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The disks of a domain, parsed once from its XML: what domain_info, snapshots, backups and block jobs see.

A running domain's XML numbers every image of a disk: `index` on the top image's <source>, and on
each <backingStore> below it (an external snapshot leaves the old image there, as the overlay's
backing file). Block jobs name such a layer `vda[3]`. The inactive XML has no indexes, and keeps
only the backing chain recorded when the overlay was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument

# What <disk device=...> can be; a disk without the attribute is a "disk".
DEVICE_KINDS = ("disk", "cdrom", "floppy", "lun")
# Devices holding the guest's own data: a cdrom or floppy is removable media, never snapshotted or backed up.
DATA_DEVICES = ("disk", "lun")
# domain_info's one-string source: the first of these attributes a <source> has.
_DESCRIBED_BY = ("file", "dev", "dir", "name", "volume")


def _int(text: Optional[str]) -> Optional[int]:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class DiskSource:
    """Where one image's data lives: a file, a block device, a network export or a pool volume."""

    type: Optional[str]  # file, block, network, volume, dir, nvme... (the disk's or layer's type attribute)
    file: Optional[str] = None
    dev: Optional[str] = None
    dir: Optional[str] = None
    protocol: Optional[str] = None  # network: nbd, rbd, iscsi, gluster, http...
    name: Optional[str] = None  # network: the image's name on the server (rbd's pool/image, iscsi's iqn/lun)
    hosts: tuple[str, ...] = ()  # network: "host:port", "host" or a unix socket path
    pool: Optional[str] = None
    volume: Optional[str] = None

    @classmethod
    def parse(cls, source: Any, kind: Optional[str]) -> Optional["DiskSource"]:
        """The <source> element (None: an empty cdrom, or a layer libvirt did not record)."""
        if source is None:
            return None
        hosts = tuple(_host_text(host) for host in source.iterfind("host"))
        return cls(type=kind, file=source.get("file"), dev=source.get("dev"), dir=source.get("dir"),
                   protocol=source.get("protocol"), name=source.get("name"), hosts=hosts,
                   pool=source.get("pool"), volume=source.get("volume"))

    @property
    def path(self) -> Optional[str]:
        """A local path (file, block device or directory), None for network and pool sources."""
        return self.file or self.dev or self.dir

    def describe(self) -> Optional[str]:
        """One string for domain_info: the path, 'protocol:name' or 'pool/volume'."""
        for attribute in _DESCRIBED_BY:
            value = getattr(self, attribute)
            if not value:
                continue
            if attribute == "volume" and self.pool:
                return f"{self.pool}/{value}"
            if attribute == "name" and self.protocol:
                return f"{self.protocol}:{value}"
            return value
        return None


def _host_text(host: Any) -> str:
    if host.get("socket"):
        return host.get("socket")
    name, port = host.get("name") or "", host.get("port")
    return f"{name}:{port}" if port else name


@dataclass(frozen=True)
class ImageLayer:
    """One image of a disk's chain: its libvirt index (live XML only), source and format."""

    index: Optional[int]
    source: Optional[DiskSource]
    format: Optional[str]


@dataclass(frozen=True)
class Disk:
    """One <disk> of a domain, with the images below its top one (nearest first)."""

    target: Optional[str]  # vda, sdb... (None only in a broken definition)
    bus: Optional[str]
    device: str  # disk, cdrom, floppy or lun
    type: Optional[str]  # the <disk type=...> attribute, as written
    readonly: bool
    source: Optional[DiskSource]
    format: Optional[str]  # the top image's format (<driver type=...>)
    index: Optional[int]  # the top image's index (live XML only)
    backing: tuple[ImageLayer, ...] = ()

    @classmethod
    def parse(cls, disk: Any) -> "Disk":
        target, driver, source = disk.find("target"), disk.find("driver"), disk.find("source")
        return cls(
            target=None if target is None else target.get("dev"),
            bus=None if target is None else target.get("bus"),
            device=disk.get("device", "disk"),
            type=disk.get("type"),
            readonly=disk.find("readonly") is not None,
            source=DiskSource.parse(source, disk.get("type")),
            format=None if driver is None else driver.get("type"),
            index=None if source is None else _int(source.get("index")),
            backing=_backing_chain(disk),
        )

    @property
    def holds_data(self) -> bool:
        """Whether snapshots, checkpoints and backups cover it: a writable disk or LUN with a target."""
        return bool(self.target) and self.device in DATA_DEVICES and not self.readonly

    @property
    def chain(self) -> tuple[ImageLayer, ...]:
        """Every image, the top (the one the guest writes to) first."""
        return (ImageLayer(self.index, self.source, self.format),) + self.backing

    def layer_name(self, index: int) -> str:
        """How block jobs name the image with libvirt index `index`: vda[3]."""
        return f"{self.target}[{index}]"

    def summary(self) -> dict[str, Any]:
        """The disk as domain_info reports it."""
        return {
            "target": self.target,
            "bus": self.bus,
            "device": self.device,
            "type": self.type,
            "source": None if self.source is None else self.source.describe(),
            "format": self.format,
            "readonly": self.readonly,
        }


def _backing_chain(disk: Any) -> tuple[ImageLayer, ...]:
    """The <backingStore> elements below the top image; an empty one ends the chain."""
    layers = []
    layer = disk.find("backingStore")
    while layer is not None and layer.find("source") is not None:
        form = layer.find("format")
        layers.append(ImageLayer(_int(layer.get("index")), DiskSource.parse(layer.find("source"), layer.get("type")),
                                 None if form is None else form.get("type")))
        layer = layer.find("backingStore")
    return tuple(layers)


def disks_of(root: Any) -> list[Disk]:
    """Every <disk> of a parsed domain XML, in definition order."""
    return [Disk.parse(disk) for disk in root.iterfind("devices/disk")]


class Disks:
    """The disks of one domain, read once; what the snapshot, checkpoint and backup code asks about them."""

    def __init__(self, domain_name: str, disks: list[Disk]) -> None:
        self.domain_name = domain_name
        self.disks = disks

    @classmethod
    def read(cls, domain: Domain) -> "Disks":
        """From the domain's current XML (the live one while it runs: with the images' indexes)."""
        return cls(domain.name, disks_of(_xml.parse(domain.xml_desc(), what=f"XML of domain '{domain.name}'")))

    def __iter__(self) -> Iterator[Disk]:
        return iter(self.disks)

    def find(self, target: str) -> Optional[Disk]:
        return next((disk for disk in self.disks if disk.target == target), None)

    def targets(self) -> list[str]:
        """Targets (vda, sdb...) of the disks snapshots and backups cover, in definition order."""
        return [disk.target for disk in self.disks if disk.holds_data and disk.target]

    def check(self, wanted: list[str], option: str) -> list[str]:
        """`wanted`, after making sure each is one of `targets()`; `option` names the option in the error."""
        known = self.targets()
        for target in wanted:
            found = self.find(target)
            if found is not None and not found.holds_data:
                what = f"a {found.device}" if found.device not in DATA_DEVICES else "read-only"
                raise InvalidArgument(
                    f"{option}: disk '{target}' of domain '{self.domain_name}' is {what}: snapshots and backups "
                    f"cover only writable disks (its disks: {', '.join(known) or 'none'})", domain=self.domain_name)
            if target not in known:
                raise InvalidArgument(
                    f"{option}: domain '{self.domain_name}' has no disk '{target}' (its disks: {', '.join(known) or 'none'})",
                    domain=self.domain_name,
                )
        return wanted


def disk_targets(domain: Domain) -> list[str]:
    """Target names (vda, sdb...) of the domain's disks that can be snapshotted or backed up."""
    return Disks.read(domain).targets()


def check_disks(domain: Domain, wanted: list[str], option: str) -> list[str]:
    """`wanted`, after making sure the domain has each of these disks."""
    return Disks.read(domain).check(wanted, option)
