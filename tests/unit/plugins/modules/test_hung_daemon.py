"""A libvirt daemon that accepts connections and never answers must not hang a task or an inventory.

No rig needed: a Unix socket that accepts and stays silent (tests/hung_libvirtd.py) stands for
the hung daemon; the test driver (an in-process "host") for the good one.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import pytest
from ansible_output import plain
from hung_libvirtd import HungSocket

from ansible_collections.virtops.libvirt.plugins.module_utils._connection import ConnectionParams

HERE = os.path.dirname(os.path.abspath(__file__))
FLEET_URI = "test://" + os.path.abspath(os.path.join(HERE, "..", "..", "fixtures", "fleet-node.xml"))
sys.path.insert(0, os.path.join(HERE, "..", "inventory"))

from inventory_cli import collections_root, inventory  # noqa: E402  pylint: disable=wrong-import-position

CONNECT_TIMEOUT = ConnectionParams().connect_timeout


@pytest.fixture
def hung():
    with HungSocket() as socket:
        yield socket


def run_module(module, args, timeout):
    """The module in its own process, as Ansible runs it; (result, seconds)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [collections_root(), os.environ.get("PYTHONPATH")])))
    started = time.monotonic()
    try:
        completed = subprocess.run([sys.executable, "-m", f"ansible_collections.virtops.libvirt.plugins.modules.{module}",
                                    handle.name], capture_output=True, text=True, env=environment, timeout=timeout,
                                   check=False)
    finally:
        os.unlink(handle.name)
    assert "Traceback" not in completed.stdout + completed.stderr, completed.stdout + completed.stderr
    return json.loads(completed.stdout), time.monotonic() - started


def test_domain_info_on_a_hung_daemon_fails_after_the_connect_timeout(hung):
    result, seconds = run_module("domain_info", {"uri": hung.uri}, timeout=CONNECT_TIMEOUT + 60)
    assert result.get("failed") is True
    assert result["msg"] == (f"cannot connect to libvirt at '{hung.uri}': no answer within {CONNECT_TIMEOUT:g} s "
                             "(connect timeout); the daemon or the network does not respond")
    assert CONNECT_TIMEOUT - 1 < seconds < CONNECT_TIMEOUT + 30  # before the fix: no answer after 90 s


def test_the_inventory_lists_the_good_host_within_its_timeout_and_names_the_hung_one(tmp_path, hung):
    config = f"""plugin: virtops.libvirt.libvirt
hosts:
  - uri: "{FLEET_URI}"
    name: good
  - uri: "{hung.uri}"
    name: hung
timeout: 3
"""
    started = time.monotonic()
    completed = inventory(tmp_path, config, timeout=120)
    seconds = time.monotonic() - started
    assert completed.returncode == 0, completed.stderr
    data = plain(json.loads(completed.stdout))
    assert sorted(data["_meta"]["hostvars"]) == sorted(["web01", "db01", "web-{{ 7 * 7 }}"])
    assert "libvirt host hung" in completed.stderr and "no answer within 3 s" in completed.stderr
    # generous for a loaded 2-core CI machine; before the fix it took 69 s
    assert seconds < 3 + 20, f"ansible-inventory took {seconds:.1f} s with timeout: 3"


def test_the_inventory_with_extras_stays_within_its_timeout(tmp_path, hung):
    config = f"""plugin: virtops.libvirt.libvirt
hosts:
  - uri: "{FLEET_URI}"
    name: good
  - uri: "{hung.uri}"
    name: hung
timeout: 2
metadata: true
addresses: true
"""
    started = time.monotonic()
    completed = inventory(tmp_path, config, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "web01" in plain(json.loads(completed.stdout))["_meta"]["hostvars"]
    assert "libvirt host hung" in completed.stderr
    assert time.monotonic() - started < 2 + 20
