"""_block_options and _block_decide: units, refusals, and the idempotency rules of domain_block (no libvirt)."""

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._block_decide import (
    blkio_changes, decide_job, decide_size, differing, resolve_disk)
from ansible_collections.virtops.libvirt.plugins.module_utils._block_options import (
    BlockOptions, JobOptions, Size, Threshold, iotune_values, parse_amount)
from ansible_collections.virtops.libvirt.plugins.module_utils._disks import Disks, disks_of
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument

GiB = 1024 ** 3
CHAIN_XML = """<domain><devices>
<disk type='file' device='disk'><driver type='qcow2'/><source file='/img/top.qcow2' index='3'/>
  <backingStore type='file' index='2'><format type='qcow2'/><source file='/img/mid.qcow2'/>
    <backingStore type='file' index='1'><format type='qcow2'/><source file='/img/base.qcow2'/><backingStore/></backingStore>
  </backingStore><target dev='vda'/></disk>
<disk type='file' device='disk'><driver type='raw'/><source file='/img/flat.raw' index='4'/><backingStore/>
  <target dev='vdb'/></disk>
</devices></domain>"""


def disks():
    return Disks("vm", disks_of(_xml.parse(CHAIN_XML)))


def job(**params):
    return JobOptions.from_params(params)


@pytest.mark.parametrize("text, expected", [
    ("10G", (10 * GiB, False)), ("512MiB", (512 * 1024 ** 2, False)), ("5GB", (5 * 10 ** 9, False)),
    (4096, (4096, False)), ("4096", (4096, False)), ("+2G", (2 * GiB, True)), ("1.5k", (1536, False)),
    ("100MiB/s", (100 * 1024 ** 2, False)),
])
def test_amounts_read_with_libvirt_units(text, expected):
    assert parse_amount(text, "size", allow_relative=True) == expected


@pytest.mark.parametrize("text, message", [
    ("-1G", "size must not be negative"), (-5, "size must not be negative"), ("10 parsecs", "cannot read"),
    ("+2G", "cannot be relative"),
])
def test_bad_amounts_name_the_option(text, message):
    with pytest.raises(InvalidArgument, match=message):
        parse_amount(text, "size")


def test_size_grows_relative_to_capacity_and_refuses_shrinking():
    assert Size.from_param("+2G", False).wanted(GiB) == 3 * GiB
    assert decide_size(Size.from_param("1G", False), GiB, "vda", "vm") is None
    with pytest.raises(InvalidArgument, match=r"size: shrinking disk vda of domain 'vm' .* allow_shrink"):
        decide_size(Size.from_param("512M", False), GiB, "vda", "vm")
    assert decide_size(Size.from_param("512M", True), GiB, "vda", "vm") == 512 * 1024 ** 2


def test_threshold_in_bytes_or_percent_of_capacity():
    assert Threshold.from_param("80%").bytes_for(1000) == 800
    assert Threshold.from_param("1M").bytes_for(1000) == 1024 ** 2
    with pytest.raises(InvalidArgument, match="between 0 and 100"):
        Threshold.from_param("120%")


def test_disk_by_target_or_source_path_and_a_clear_refusal():
    assert resolve_disk(disks(), "/img/flat.raw").target == "vdb"
    with pytest.raises(InvalidArgument, match=r"disk: domain 'vm' has no disk 'vdz' \(its disks: vda, vdb\)"):
        resolve_disk(disks(), "vdz")


def test_pull_without_backing_file_is_unchanged():
    decision = decide_job(job(job="pull"), resolve_disk(disks(), "vdb"), {}, "vm")
    assert not decision.start and "no backing file" in decision.reason
    assert decide_job(job(job="pull"), resolve_disk(disks(), "vda"), {}, "vm").start


def test_rebase_onto_the_current_backing_image_is_unchanged_and_an_unknown_base_refused():
    vda = resolve_disk(disks(), "vda")
    assert not decide_job(job(job="rebase", base="/img/mid.qcow2"), vda, {}, "vm").start
    assert decide_job(job(job="rebase", base="vda[1]"), vda, {}, "vm").start
    with pytest.raises(InvalidArgument, match="base: '/img/other' is not a backing image of disk vda of domain 'vm'"):
        decide_job(job(job="rebase", base="/img/other"), vda, {}, "vm")


def test_copy_to_its_own_source_is_unchanged_and_pivots_by_default():
    vda = resolve_disk(disks(), "vda")
    assert not decide_job(job(job="copy", destination="/img/top.qcow2"), vda, {}, "vm").start
    decision = decide_job(job(job="copy", destination="/img/new.qcow2"), vda, {}, "vm")
    assert decision.start and decision.finish == "pivot" and decision.two_phase


def test_commit_rules():
    vda = resolve_disk(disks(), "vda")
    active = decide_job(job(job="commit"), vda, {}, "vm")
    assert active.kind == "active_commit" and active.finish == "pivot"
    middle = decide_job(job(job="commit", top="/img/mid.qcow2"), vda, {}, "vm")
    assert middle.kind == "commit" and middle.start and middle.finish is None
    assert not decide_job(job(job="commit", base="/img/top.qcow2"), vda, {}, "vm").start
    assert not decide_job(job(job="commit"), resolve_disk(disks(), "vdb"), {}, "vm").start
    assert not decide_job(job(job="commit", top="/img/gone.qcow2"), vda, {}, "vm").start
    with pytest.raises(InvalidArgument, match="top: '/img/base.qcow2' is not above base"):
        decide_job(job(job="commit", top="/img/base.qcow2", base="/img/mid.qcow2"), vda, {}, "vm")


def test_a_running_job_is_reported_not_started_twice_and_abort_needs_one():
    vda = resolve_disk(disks(), "vda")
    decision = decide_job(job(job="copy", destination="/img/x"), vda, {"type": 2, "cur": 1, "end": 2}, "vm")
    assert not decision.start and decision.reason == "a copy job already runs on vda: not started again"
    assert not decide_job(job(job="abort"), vda, {}, "vm").start
    assert decide_job(job(job="abort", pivot=True), vda, {"type": 2}, "vm").reason == \
        "pivot to its copy and end the copy job on vda"


@pytest.mark.parametrize("params, message", [
    ({"job": "copy"}, "needs one of destination"),
    ({"job": "pull", "finish": "pivot"}, "finish applies to"),
    ({"job": "rebase", "base": "/b", "finish": "mirror"}, "finish applies to"),
    ({"job": "copy", "destination": "/x", "finish": "later"}, "finish: unknown value"),
    ({"job": "move"}, "job: unknown job 'move'"),
    ({"base": "/x"}, "base applies to a block job"),
    ({"job": "pull", "granularity": "64k"}, "granularity applies to job=copy"),
])
def test_contradicting_job_options_are_refused(params, message):
    with pytest.raises(InvalidArgument, match=message):
        JobOptions.from_params(params)


def test_iotune_and_blkio_set_only_what_differs():
    wanted = iotune_values({"total_bytes_sec": "10MiB", "total_iops_sec": 100, "group_name": "g"})
    assert differing(wanted, {"total_bytes_sec": 10 * 1024 ** 2, "total_iops_sec": 50, "group_name": "g"}) == \
        {"total_iops_sec": 100}
    options = BlockOptions.from_params({"disk": "vda", "blkio": {"weight": 300, "device_weight": {"/dev/sda": 200,
                                                                                                  "/dev/sdb": 10}}})
    assert blkio_changes(options.blkio, {"weight": 300, "device_weight": "/dev/sda,200,/dev/sdb,5"}) == \
        {"device_weight": "/dev/sdb,10"}
    with pytest.raises(InvalidArgument, match="blkio: unknown key 'colour'"):
        BlockOptions.from_params({"disk": "vda", "blkio": {"colour": 1}})
