"""The disk model: parsed once from real domain XML (live and inactive, with and without backing chains)."""

import os

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
from ansible_collections.virtops.libvirt.plugins.module_utils._disks import (
    Disk,
    Disks,
    DiskSource,
    ImageLayer,
    check_disks,
    disk_targets,
    disks_of,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")
IMAGES = "/var/lib/libvirt/images"


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return _xml.parse(handle.read())


def file_source(path, kind="file"):
    return DiskSource(type=kind, file=path)


def test_live_xml_after_two_external_snapshots_has_the_whole_indexed_chain():
    # dumpxml of a running QEMU 7.2 guest after two disk-only external snapshots (libvirt 9.0)
    vda, vdb, sda = disks_of(fixture("disks-live-chain.xml"))
    assert vda == Disk(
        target="vda", bus="virtio", device="disk", type="file", readonly=False,
        source=file_source(f"{IMAGES}/prod-s2.qcow2"), format="qcow2", index=5,
        backing=(ImageLayer(4, file_source(f"{IMAGES}/prod-s1.qcow2"), "qcow2"),
                 ImageLayer(3, file_source(f"{IMAGES}/prod-base.qcow2"), "qcow2")))
    assert [layer.index for layer in vda.chain] == [5, 4, 3]
    assert [vda.layer_name(layer.index) for layer in vda.backing] == ["vda[4]", "vda[3]"]
    # a raw read-only disk: its empty <backingStore/> ends the chain at once
    assert (vdb.index, vdb.backing, vdb.readonly, vdb.format) == (2, (), True, "raw")
    # an empty cdrom: no source at all
    assert (sda.device, sda.source, sda.index, sda.format) == ("cdrom", None, None, None)


def test_inactive_xml_after_an_external_snapshot_keeps_the_recorded_chain_without_indexes():
    vda, sda = disks_of(fixture("prod-defined-after-snapshot.xml"))
    assert vda.source.path == f"{IMAGES}/virtops-lead-prod.ext1" and vda.index is None
    assert vda.backing == (ImageLayer(None, file_source(f"{IMAGES}/virtops-lead-prod.qcow2"), "qcow2"),)
    assert sda.readonly and not sda.holds_data


def test_a_live_disk_without_backing_has_a_one_image_chain():
    vda, _sda = disks_of(fixture("prod-live.xml"))
    assert vda.index == 2 and vda.backing == ()
    assert vda.chain == (ImageLayer(2, file_source(f"{IMAGES}/virtops-lead-prod.qcow2"), "qcow2"),)


NETWORK_AND_BLOCK = """<domain type='kvm'><name>storage</name><devices>
  <disk type='network' device='disk'>
    <driver name='qemu' type='raw'/>
    <source protocol='rbd' name='vms/storage-root' index='3'>
      <host name='mon1.example.com' port='6789'/>
      <host name='mon2.example.com' port='6789'/>
      <auth username='libvirt'><secret type='ceph' usage='client.libvirt secret'/></auth>
    </source>
    <target dev='vda' bus='virtio'/>
  </disk>
  <disk type='block' device='lun'>
    <driver name='qemu' type='raw'/>
    <source dev='/dev/mapper/mpatha'/>
    <target dev='sdb' bus='scsi'/>
  </disk>
  <disk type='network' device='disk'>
    <source protocol='nbd' name='export'><host transport='unix' socket='/run/nbd.sock'/></source>
    <target dev='vdc' bus='virtio'/>
  </disk>
  <disk type='volume' device='disk'>
    <driver name='qemu' type='qcow2'/>
    <source pool='default' volume='data.qcow2'/>
    <target dev='vdd' bus='virtio'/>
  </disk>
  <disk type='file' device='floppy'><target dev='fda' bus='fdc'/></disk>
</devices></domain>"""


def test_network_block_and_volume_sources():
    rbd, lun, nbd, volume, floppy = disks_of(_xml.parse(NETWORK_AND_BLOCK))
    assert rbd.source == DiskSource(type="network", protocol="rbd", name="vms/storage-root",
                                    hosts=("mon1.example.com:6789", "mon2.example.com:6789"))
    assert rbd.source.path is None and rbd.index == 3
    assert (lun.device, lun.source.path, lun.holds_data) == ("lun", "/dev/mapper/mpatha", True)
    assert nbd.source.hosts == ("/run/nbd.sock",)
    assert [disk.summary()["source"] for disk in (rbd, lun, nbd, volume, floppy)] == [
        "rbd:vms/storage-root", "/dev/mapper/mpatha", "nbd:export", "default/data.qcow2", None]
    assert not floppy.holds_data


def test_summary_is_what_domain_info_reports():
    vda = disks_of(fixture("prod-defined.xml"))[0]
    assert vda.summary() == {"target": "vda", "bus": "virtio", "device": "disk", "type": "file",
                             "source": f"{IMAGES}/virtops-lead-prod.qcow2", "format": "qcow2", "readonly": False}


def test_targets_are_the_writable_disks_and_luns():
    disks = Disks("storage", disks_of(_xml.parse(NETWORK_AND_BLOCK)))
    assert disks.targets() == ["vda", "sdb", "vdc", "vdd"]
    assert Disks("chain", disks_of(fixture("disks-live-chain.xml"))).targets() == ["vda"]
    assert disks.find("sdb").device == "lun" and disks.find("nope") is None


def test_check_names_unknown_and_uncovered_disks():
    disks = Disks("chain", disks_of(fixture("disks-live-chain.xml")))
    assert disks.check(["vda"], "disks") == ["vda"]
    with pytest.raises(InvalidArgument, match=r"disks: domain 'chain' has no disk 'vdz' \(its disks: vda\)"):
        disks.check(["vdz"], "disks")
    with pytest.raises(InvalidArgument, match="backup.disks: disk 'sda' of domain 'chain' is a cdrom"):
        disks.check(["sda"], "backup.disks")
    with pytest.raises(InvalidArgument, match="disk 'vdb' of domain 'chain' is read-only"):
        disks.check(["vdb"], "disks")


def test_read_parses_the_domain_xml_once():
    with Connection(ConnectionParams(uri="test:///default"), events=False) as connection:
        domain = Domain.lookup(connection, name="test")
        reads = []
        original = domain.xml_desc
        domain.xml_desc = lambda flags=0: reads.append(flags) or original(flags)
        disks = Disks.read(domain)
        assert disks.targets() == ["vda"] and disks.check(["vda"], "disks") == ["vda"]
        assert len(reads) == 1
        assert disk_targets(domain) == ["vda"] and check_disks(domain, ["vda"], "disks") == ["vda"]
