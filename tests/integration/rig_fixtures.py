"""The rig fixtures of the integration tests (tests/integration) and the fault suite (tests/faults):
real libvirtd + QEMU (TCG) hosts and the tiny agent guest.

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
    name = rig_env.unique_guest_name(request.node.name)
    yield name
    rig_env.cleanup_domain(host_a, name)
    rig_env.remove_data_disk(name)


@pytest.fixture(scope="session")
def host_b(rig):
    conn = rig.connect(rig.HOST_B_URI)
    yield conn
    conn.close()


class TwoHostGuests:
    """Creates test guests on host A or B and removes them - with their files - from BOTH hosts.

    A guest may end up on either host (migrations), so cleanup looks on both. Files a test made
    for a guest elsewhere (a disk copied to another directory) are registered with add_file."""

    def __init__(self, host_a, host_b):
        self.hosts = {"A": host_a, "B": host_b}
        self.names = []
        self.files = []

    def create(self, name, host="A", *, start=True, boot=True, data_disk=True, xml=None, **xml_kwargs):
        """Define NAME on host A or B (the rig's tiny guest, or XML as is) and, by default, start it
        and wait until its agent answers. data_disk as in rig_env.define_guest."""
        self.forget(name)
        self.names.append(name)
        conn = self.hosts[host]
        if xml is None:
            dom = rig_env.define_guest(conn, name, start=start, data_disk=data_disk, **xml_kwargs)
        else:
            dom = conn.defineXML(xml)
            if start:
                dom.create()
        if start and boot:
            rig_env.wait_agent(dom, timeout=120)
        return dom

    def add_file(self, path):
        self.files.append(path)
        return path

    def forget(self, name):
        for conn in self.hosts.values():
            rig_env.cleanup_domain(conn, name)

    def cleanup(self):
        for name in self.names:
            self.forget(name)
            rig_env.remove_data_disk(name)
        for path in self.files:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


@pytest.fixture(scope="module")
def two_host_guests(host_a, host_b):
    """A TwoHostGuests for the whole test module (guests shared by its tests)."""
    guests = TwoHostGuests(host_a, host_b)
    yield guests
    guests.cleanup()
