"""domain_block in-process on the test driver: refusals name the domain and disk, blkio/iotune idempotency, check mode.

(Block jobs and resize need QEMU: tests/integration/test_domain_block.py; the runner's jobs: test__block.py.)
"""

import json

import libvirt
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.modules import domain_block

URI = "test:///default"


def run(capsys, check_mode=False, **args):
    with patch_module_args({"uri": URI, "name": "test", "disk": "vda", "_ansible_check_mode": check_mode,
                            "_ansible_diff": True, **args}):
        with pytest.raises(SystemExit):
            domain_block.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def domain():
    connection = libvirt.open(URI)  # the test driver's state is shared by the connections of this process
    found = connection.lookupByName("test")
    yield found
    found.setBlkioParameters({"weight": 0}, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    connection.close()


@pytest.mark.parametrize("args, message", [
    ({"disk": "vdz"}, "disk: domain 'test' has no disk 'vdz' (its disks: vda)"),
    ({"size": "-1G"}, "domain 'test', disk vda: size must not be negative (got -1G)"),
    ({"iotune": {"bogus_iops": 1}}, "iotune: libvirt does not know bogus_iops for disk vda of domain 'test'"),
    ({"size": "1k"}, "size: shrinking disk vda of domain 'test' from 1099506450432 to 1024 bytes would lose data"),
])
def test_bad_input_fails_clearly_with_nothing_changed(capsys, domain, args, message):  # pylint: disable=unused-argument
    result = run(capsys, **args)
    assert result["failed"] and message in result["msg"] and result["changed"] is False and result["actions"] == []
    assert "Traceback" not in result["msg"]


def test_blkio_is_set_once_and_check_mode_predicts_it(capsys, domain):
    predicted = run(capsys, check_mode=True, blkio={"weight": 500})
    assert predicted["changed"] and predicted["actions"] == ["set blkio tuning (live): weight=500"]
    assert domain.blkioParameters(libvirt.VIR_DOMAIN_AFFECT_LIVE)["weight"] == 0, "check mode changes nothing"
    result = run(capsys, blkio={"weight": 500})
    assert result["actions"] == predicted["actions"] and domain.blkioParameters(libvirt.VIR_DOMAIN_AFFECT_LIVE)["weight"] == 500
    assert result["diff"] == predicted["diff"]
    assert result["disk"]["target"] == "vda" and result["disk"]["capacity"] == 1099506450432 and result["job"] is None
    assert run(capsys, blkio={"weight": 500})["changed"] is False


def test_a_driver_without_block_jobs_fails_cleanly(capsys, domain):  # pylint: disable=unused-argument
    result = run(capsys, job="pull")
    assert result["failed"] and "not supported" in result["msg"] and "test" in result["msg"]
    assert result["changed"] is False
