"""domain_device in-process on the test driver: argument refusals, check mode as the plan, a driver without hot-plug.

(The test driver has no device calls: the runner's changes are tested on fake_device in test__device.py and on the
rig in tests/integration/test_domain_device.py.)
"""

import json

import libvirt
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.modules import domain_device

URI = "test:///default"
DISK = {"source": "/var/lib/libvirt/images/data.qcow2", "target": "vdb"}


def run(capsys, check_mode=False, **args):
    with patch_module_args({"uri": URI, "name": "test", "_ansible_check_mode": check_mode, "_ansible_diff": True,
                            **args}):
        with pytest.raises(SystemExit):
            domain_device.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def default_driver():
    """A connection held through the test: the test driver's default state lives while one is open, so an
    earlier test's connection collected meanwhile cannot replace it with a fresh one (domain id 1) between
    the definition read before the task and the one after (seen under ansible-core 2.18 in the full suite)."""
    connection = libvirt.open(URI)
    yield connection
    connection.close()


def definition(connection):
    return connection.lookupByName("test").XMLDesc(0)


@pytest.mark.parametrize("args, message", [
    ({"disk": {**DISK, "bus": "floppy"}}, "value of bus must be one of: virtio, sata, scsi, ide, usb, fdc, got: floppy"),
    ({"disk": DISK, "xml": "<disk/>"}, "parameters are mutually exclusive: xml|disk|cdrom"),
    ({}, "one of the following is required: xml, disk, cdrom"),
    ({"xml": "<disk type='file'><target dev='vdb'"}, "device XML is not well-formed XML"),
    ({"xml": "<devices><disk/><disk/></devices>"}, "xml: expected one device element"),
    ({"interface": {"type": "user"}}, "interface: give mac or alias so a second run finds the same NIC"),
    ({"disk": DISK, "live": False, "config": False}, "live and config are both false"),
    ({"disk": {"source": "/var/lib/libvirt/images/vm.qcow2", "target": "vda"}},
     "disk vda: target vda is already used by another disk (source /guest/diskimage1); detach it or choose another target"),
    ({"disk": DISK, "timeout": -1}, "timeout must not be negative (got -1)"),
    ({"disk": DISK}, "disk vdb: source /var/lib/libvirt/images/data.qcow2 does not exist"),
])
def test_bad_input_fails_clearly_with_nothing_changed(capsys, default_driver, args, message):
    before = definition(default_driver)
    result = run(capsys, **args)
    assert result["failed"] and message in result["msg"], result["msg"]
    assert result.get("changed") is not True and result.get("actions", []) == []
    assert "Traceback" not in result["msg"] and definition(default_driver) == before


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "data.qcow2"
    path.write_bytes(b"")
    return str(path)


def test_check_mode_plans_the_attach_and_shows_the_device_in_the_diff(capsys, default_driver, image):
    before = definition(default_driver)
    result = run(capsys, check_mode=True, disk={**DISK, "source": image})
    assert result["changed"] and result["actions"] == ["attach disk vdb (live and config)"]
    assert result["device"] == {"live": None, "config": None}
    after_texts = "".join(entry["after"] for entry in result["diff"])
    assert image in after_texts and 'dev="vdb"' in after_texts
    assert definition(default_driver) == before


def test_check_mode_plans_the_detach_of_a_present_disk_and_nothing_for_a_missing_one(capsys):
    result = run(capsys, check_mode=True, disk={"target": "vda"}, state="absent")
    assert result["actions"] == ["detach disk vda (live)", "detach disk vda (config)"]
    assert "/guest/diskimage1" in result["device"]["live"]
    assert run(capsys, check_mode=True, disk={"target": "vdz"}, state="absent")["changed"] is False


def test_a_password_given_in_xml_is_never_shown(capsys):
    result = run(capsys, check_mode=True, xml="<graphics type='vnc' autoport='yes' passwd='s3cret-vnc'/>")
    assert "s3cret-vnc" not in json.dumps(result)


def test_a_driver_without_hot_plug_fails_naming_the_device(capsys, image):
    result = run(capsys, disk={**DISK, "source": image}, config=True)
    assert result["failed"] and "attach disk vdb" in result["msg"] and "not supported" in result["msg"]
    assert result["changed"] is False and result["actions"] == []
