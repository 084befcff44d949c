"""No password of the inventory configuration appears in any message, also with -vvv."""

import pytest
from inventory_cli import FLEET_URI, inventory, listed

PASSWORD = "Sup3r-S3cret-pw"

BAD_ENTRIES = {
    "unknown key": f'  - {{uri: "{FLEET_URI}", auth_username: admin, auth_password: {PASSWORD}, port: 22}}\n',
    "misspelled key": f'  - {{uri: "{FLEET_URI}", auth_username: admin, auth_pasword: {PASSWORD}}}\n',
    "not a dict": f'  - ["{FLEET_URI}", admin, {PASSWORD}]\n',
    "password not a string": f'  - {{uri: "{FLEET_URI}", auth_password: [{PASSWORD}]}}\n',
}


@pytest.mark.parametrize("case", sorted(BAD_ENTRIES))
@pytest.mark.parametrize("verbosity", [[], ["-vvv"]])
def test_a_bad_host_entry_is_refused_without_showing_its_password(tmp_path, case, verbosity):
    config = "plugin: virtops.libvirt.libvirt\nhosts:\n" + BAD_ENTRIES[case]
    completed = inventory(tmp_path, config, "fleet.libvirt.yml", *verbosity)
    assert completed.returncode != 0
    assert "entry 1 of hosts" in completed.stderr, completed.stderr
    assert PASSWORD not in completed.stdout + completed.stderr


def test_a_password_in_an_unreachable_uri_is_not_shown(tmp_path):
    uri = f"qemu+unix://admin:{PASSWORD}@/system?socket=/nonexistent/sock"
    config = f'plugin: virtops.libvirt.libvirt\nhosts:\n  - "{FLEET_URI}"\n  - uri: "{uri}"\n    name: kvm03\n'
    data, warnings = listed(tmp_path, config)
    assert "libvirt host kvm03" in warnings and "could not be read" in warnings
    assert PASSWORD not in warnings
    completed = inventory(tmp_path, config, "fleet.libvirt.yml", "-vvv")
    assert PASSWORD not in completed.stdout + completed.stderr


def test_the_uri_host_variable_carries_no_password(tmp_path):
    uri = f"test://admin:{PASSWORD}@{FLEET_URI[len('test://'):]}"
    data, _warnings = listed(tmp_path, f'plugin: virtops.libvirt.libvirt\nhosts: ["{uri}"]\n')
    assert data["_meta"]["hostvars"]["web01"]["libvirt_uri"] == uri.replace(PASSWORD, "********")
