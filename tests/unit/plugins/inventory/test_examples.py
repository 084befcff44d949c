"""Every documented example of the inventory plugin works, through ansible-inventory.

Each EXAMPLES document is run as written, except that its libvirt hosts become test-driver hosts
(same names), its cache goes to a temporary directory, and `strict: true` makes a compose or
keyed_groups expression that fails an error instead of a silently missing variable or group.
The test driver reports only state statistics: the balloon ones a real host reports for every
domain, running or not, are added (2 GiB maximum).
"""

import json

import pytest
import yaml
from inventory_cli import FLEET_URI, run_inventory
from ansible_output import plain

from ansible_collections.virtops.libvirt.plugins.inventory import libvirt as plugin

EXAMPLES = [document for document in yaml.safe_load_all(plugin.EXAMPLES) if document]


def for_the_test_driver(example, cache_dir):
    config = dict(example)
    hosts = config.get("hosts") or [{"uri": None}]
    config["hosts"] = [{"uri": FLEET_URI, "name": host["name"]} if isinstance(host, dict) and host.get("name")
                       else FLEET_URI for host in hosts]
    if config.get("cache"):
        config["cache_connection"] = str(cache_dir)
    config.setdefault("strict", True)
    return config


def test_there_are_examples():
    assert len(EXAMPLES) >= 2
    assert all(example["plugin"] == "virtops.libvirt.libvirt" for example in EXAMPLES)


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_each_example_lists_hosts_without_warnings(tmp_path, index):
    example = EXAMPLES[index]
    path = tmp_path / "example.libvirt.yml"
    path.write_text(yaml.safe_dump(for_the_test_driver(example, tmp_path / "cache")))
    completed = run_inventory(path, guest_agent={"stats": {"balloon.current": 2097152, "balloon.maximum": 2097152}})
    assert completed.returncode == 0, completed.stderr
    assert "WARNING" not in completed.stderr.upper() and "ERROR" not in completed.stderr.upper(), completed.stderr
    data = plain(json.loads(completed.stdout))
    hostvars = data["_meta"]["hostvars"]
    assert hostvars, "the example lists hosts"
    for keyed in example.get("keyed_groups", []):
        prefix = keyed.get("prefix", "")
        assert any(group.startswith(f"{prefix}_") for group in data), (keyed, sorted(data))
    for variable in example.get("compose", {}):
        assert all(variable in host for host in hostvars.values()), variable
