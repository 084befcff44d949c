"""Running the inventory plugin through the real ansible-inventory CLI of THIS interpreter's ansible-core.

`sys.executable -m ansible.cli.inventory` (not whatever `ansible-inventory` is first on PATH), so a
test run in a venv of ansible-core 2.16 exercises 2.16's templating, and so on.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from ansible_output import plain

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE_DIR = os.path.join(HERE, "..", "..", "fixtures")
FLEET_URI = "test://" + os.path.abspath(os.path.join(FIXTURE_DIR, "fleet-node.xml"))
# Patches libvirt-python in the ansible-inventory process so that guest-agent calls answer with
# whatever a test hands it (the test driver has no guest agent), then runs the CLI.
GUEST_AGENT_SHIM = os.path.join(HERE, "guest_agent_shim.py")


def collections_root():
    location = importlib.util.find_spec("ansible_collections.virtops.libvirt").submodule_search_locations[0]
    return str(Path(location).parents[2])


def environment(**extra):
    found = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_INVENTORY_ENABLED="virtops.libvirt.libvirt",
                 ANSIBLE_INVENTORY_UNPARSED_FAILED="true", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    found.pop("LIBVIRT_DEFAULT_URI", None)
    found.update(extra)
    return found


def run_inventory(config_path, *extra_args, cwd=None, timeout=120, guest_agent=None):
    """ansible-inventory -i <config_path> --list; guest_agent (a dict) fakes the guest agent's answers."""
    if guest_agent is None:
        command = [sys.executable, "-m", "ansible.cli.inventory"]
        env = environment()
    else:
        command = [sys.executable, GUEST_AGENT_SHIM]
        env = environment(VIRTOPS_TEST_GUEST_AGENT=json.dumps(guest_agent))
    completed = subprocess.run([*command, "-i", str(config_path), "--list", *extra_args], capture_output=True, text=True,
                               env=env, cwd=cwd, timeout=timeout, check=False)
    # Before 2.19, warnings are wrapped at 80 columns: tests look for phrases, so join the lines.
    completed.stderr = " ".join(completed.stderr.split())
    return completed


def inventory(tmp_path, config, name="fleet.libvirt.yml", *extra_args, **options):
    path = tmp_path / name
    path.write_text(config)
    return run_inventory(path, *extra_args, **options)


def listed(tmp_path, config, **options):
    completed = inventory(tmp_path, config, **options)
    assert completed.returncode == 0, completed.stderr
    return plain(json.loads(completed.stdout)), completed.stderr
