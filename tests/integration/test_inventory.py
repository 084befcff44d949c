"""The inventory plugin on the real rig: two libvirt hosts, addresses from the guest agent."""

import json
import subprocess

import pytest
from ansible_output import plain

from harness import module_environment, rig_env


@pytest.fixture(scope="module")
def two_hosts(host_a):
    conn_b = rig_env.connect(rig_env.HOST_B_URI)
    name_a, name_b = "virtops-inv-a", "virtops-inv-b"
    for conn, name in ((host_a, name_a), (conn_b, name_b)):
        rig_env.cleanup_domain(conn, name)
    dom_a = rig_env.define_guest(host_a, name_a, data_disk=False, nic=True)
    rig_env.define_guest(conn_b, name_b, data_disk=False, start=False)
    rig_env.wait_agent(dom_a, timeout=90)
    yield name_a, name_b
    rig_env.cleanup_domain(host_a, name_a)
    rig_env.cleanup_domain(conn_b, name_b)
    conn_b.close()


def test_two_hosts_addresses_and_groups(tmp_path, two_hosts):
    name_a, name_b = two_hosts
    config = tmp_path / "rig.libvirt.yml"
    config.write_text(f"""
plugin: virtops.libvirt.libvirt
hosts:
  - uri: {rig_env.HOST_A_URI}
    name: host-a
  - uri: "{rig_env.HOST_B_URI}"
    name: host-b
include: ["virtops-inv-*"]
addresses: true
address_sources: [agent]
""")
    completed = subprocess.run(["ansible-inventory", "-i", str(config), "--list"], capture_output=True, text=True,
                               env=module_environment(), timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    data = plain(json.loads(completed.stdout))
    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == [name_a, name_b]
    assert hostvars[name_a]["ansible_host"] == "10.0.2.15"
    assert hostvars[name_a]["libvirt_state"] == "running" and hostvars[name_a]["libvirt_host"] == "host-a"
    assert hostvars[name_a]["libvirt_stats"]["balloon"]["maximum"] == 256 * 1024
    assert hostvars[name_b]["libvirt_state"] == "shutoff" and "ansible_host" not in hostvars[name_b]
    assert data["libvirt_host_host_b"]["hosts"] == [name_b]
    assert data["libvirt_running"]["hosts"] == [name_a]
    assert "WARNING" not in completed.stderr.upper()
