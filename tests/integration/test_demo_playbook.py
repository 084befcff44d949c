"""The main job, end to end through ansible-playbook: ./demo.sh on the rig (host A, a live migration
to host B and back)."""

import subprocess
from pathlib import Path

import libvirt

from harness import rig_env

DEMO = Path(__file__).resolve().parents[2] / "demo.sh"


def test_demo_playbook_runs_the_whole_lifecycle(host_a, host_b):
    for host in (host_a, host_b):
        rig_env.cleanup_domain(host, "virtops-demo")
    completed = subprocess.run([str(DEMO), "--diff"], capture_output=True, text=True, timeout=900, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "failed=0" in output and "Traceback" not in output
    assert "virtops-demo is running" in output and "its agent answers" in output
    assert "virtops-demo went to host B in" in output and "came back running in" in output
    for host in (host_a, host_b):
        try:
            host.lookupByName("virtops-demo")
            raise AssertionError(f"the demo left its guest behind on {host.getURI()}")
        except libvirt.libvirtError as error:
            assert error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
