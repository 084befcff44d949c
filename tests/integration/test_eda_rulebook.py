"""The example rulebook extensions/eda/rulebooks/restart_crashed.yml run by ansible-rulebook on the rig: a guest
destroyed on purpose is seen as a stopped/destroyed event and the rule starts it again with domain_state.

ansible-rulebook is a test dependency (tests/requirements/eda.txt; it needs Java 17: Debian's
openjdk-17-jre-headless). It finds the collection through ANSIBLE_COLLECTIONS_PATH (`ansible-galaxy collection
list`), as the module processes of the other integration tests do.
"""

import shutil
import subprocess
import sys
import threading
import time

import libvirt
import yaml

from harness import module_environment, rig_env


def test_the_example_rulebook_starts_a_destroyed_guest_again(host_a, guest_name, tmp_path):
    """ansible-rulebook (a test dependency: pip install ansible-rulebook; Java 17) runs restart_crashed."""
    dom = rig_env.define_guest(host_a, guest_name, data_disk=False)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    variables = tmp_path / "vars.yml"
    variables.write_text(yaml.safe_dump({"libvirt_uri": rig_env.HOST_A_URI, "restart_domains": guest_name}))
    rulebook = subprocess.Popen(
        [shutil.which("ansible-rulebook") or "ansible-rulebook", "--rulebook", "virtops.libvirt.restart_crashed",
         "-i", str(inventory), "--vars", str(variables)],
        cwd=tmp_path, env=module_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    reader = threading.Thread(target=lambda: output.extend(iter(rulebook.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not any("connected" in line for line in output):
            assert rulebook.poll() is None, "".join(output)
            assert time.monotonic() < deadline, f"the source never said it was connected: {''.join(output)}"
            time.sleep(0.2)
        first_run = dom.ID()
        dom.destroy()
        deadline = time.monotonic() + 120
        # A new id (looked up afresh: a virDomain keeps the id of its lookup) is a new run: the rule started it.
        # Running, not just a new id: QEMU gets its id paused, while the rule's domain_state task still runs.
        while not restarted(host_a.lookupByName(guest_name), first_run):
            assert rulebook.poll() is None and time.monotonic() < deadline, "".join(output)
            time.sleep(0.2)
    finally:
        rulebook.terminate()
        try:
            rulebook.wait(30)
        except subprocess.TimeoutExpired:
            rulebook.kill()
    assert "FAILED!" not in "".join(output), "".join(output)
    assert host_a.lookupByName(guest_name).state()[0] == libvirt.VIR_DOMAIN_RUNNING, "".join(output)


def restarted(dom, first_run):
    return dom.ID() not in (-1, first_run) and dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
