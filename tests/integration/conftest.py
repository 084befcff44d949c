"""Integration tests on the real rig: libvirtd + QEMU (TCG) hosts and the tiny agent guest.

Bring the rig up first (`tests/rig/rig up`, as root). Without it every test here FAILS with a
message saying so: a test that cannot reach the hypervisor proves nothing and must not pass.
"""

import os

import pytest

from harness import rig_env


@pytest.fixture(scope="session")
def rig():
    try:
        rig_env.check_rig()
    except Exception as error:  # any failure here means the rig is not there
        pytest.fail(f"the test rig is not up ({error}); run `tests/rig/rig up` as root first")
    return rig_env


@pytest.fixture(scope="session")
def host_a(rig):
    conn = rig.connect(rig.HOST_A_URI)
    yield conn
    conn.close()


@pytest.fixture
def guest_name(request, host_a):
    """A unique virtops- name for this test's guest; the guest and its disk go away afterwards."""
    name = f"virtops-t{os.getpid() % 10000}-{request.node.name[:24]}".replace("[", "-").replace("]", "")
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
    yield name
    rig_env.cleanup_domain(host_a, name)
    rig_env.remove_data_disk(name)
