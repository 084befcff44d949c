"""The main job, end to end through ansible-playbook: ./demo.sh on the rig."""

import subprocess
from pathlib import Path

import libvirt

from harness import rig_env

DEMO = Path(__file__).resolve().parents[2] / "demo.sh"


def test_demo_playbook_runs_the_whole_lifecycle(host_a):
    rig_env.cleanup_domain(host_a, "virtops-demo")
    completed = subprocess.run([str(DEMO), "--diff"], capture_output=True, text=True, timeout=900, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "failed=0" in output and "Traceback" not in output
    assert "virtops-demo is running" in output and "its agent answers" in output
    try:
        host_a.lookupByName("virtops-demo")
        raise AssertionError("the demo left its guest behind")
    except libvirt.libvirtError as error:
        assert error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
