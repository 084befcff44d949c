"""_block_decide.adopts_copy: which running job a copy task takes over (issue 16: a task cut by a
libvirtd restart left its copy mirroring; the same task run again finishes it)."""

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._block_decide import adopts_copy
from ansible_collections.virtops.libvirt.plugins.module_utils._block_options import JobOptions

COPY = 2  # VIR_DOMAIN_BLOCK_JOB_TYPE_COPY
COMMIT = 3


def domain_xml(mirror_file="/img/copy.qcow2", target="vda"):
    mirror = (f"<mirror type='file' file='{mirror_file}' format='qcow2' job='copy'>"
              f"<source file='{mirror_file}'/></mirror>") if mirror_file else ""
    return (f"<domain><devices><disk type='file' device='disk'><source file='/img/orig.qcow2'/>{mirror}"
            f"<target dev='{target}' bus='virtio'/></disk></devices></domain>")


@pytest.mark.parametrize("options, running, xml, expected", [
    (JobOptions("copy", destination="/img/copy.qcow2"), {"type": COPY}, domain_xml(), True),
    (JobOptions("copy", destination="/img/other.qcow2"), {"type": COPY}, domain_xml(), False),
    (JobOptions("copy", destination="/img/copy.qcow2"), {"type": COMMIT}, domain_xml(), False),
    (JobOptions("copy", destination="/img/copy.qcow2"), {"type": COPY}, domain_xml(mirror_file=None), False),
    (JobOptions("copy", destination="/img/copy.qcow2"), {"type": COPY}, domain_xml(target="vdb"), False),
    (JobOptions("copy", destination_xml="<disk type='file'/>"), {"type": COPY}, domain_xml(), False),
    (JobOptions("commit"), {"type": COPY}, domain_xml(), False),
    (JobOptions("copy", destination="/img/copy.qcow2", finish="mirror"), {"type": COPY}, domain_xml(), False),
    (JobOptions("copy", destination="/img/copy.qcow2", finish="abort"), {"type": COPY}, domain_xml(), True),
])
def test_only_the_copy_to_the_same_destination_is_taken_over(options, running, xml, expected):
    assert adopts_copy(options, running, xml, "vda") is expected
