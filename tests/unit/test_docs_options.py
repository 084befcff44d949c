"""tests/docs_options.py (run by tests/docs.sh) finds the guide's examples that use options that do not exist."""

import importlib.util
import textwrap
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs_options.py"
_spec = importlib.util.spec_from_file_location("docs_options", SCRIPT)
docs_options = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs_options)

MODULES = {
    "virtops.libvirt.domain_state": {
        "name": {"type": "raw"},
        "state": {"type": "str", "choices": ["running", "shutoff"]},
        "uri": {"type": "str"},
    },
    "virtops.libvirt.domain_device": {
        "name": {"type": "str"},
        "interface": {"type": "dict", "suboptions": {"mac": {"type": "str"}, "source": {"type": "str"}}},
    },
}
ROLES = {"virtops.libvirt.guest": {"guest_name": {"type": "str"}}}
INVENTORY = {"hosts": {"type": "list"}, "keyed_groups": {"type": "list"}}


def mistakes(yaml_text):
    checker = docs_options.Checker(MODULES, ROLES, INVENTORY)
    checker.check_text(textwrap.dedent(yaml_text), "example")
    return checker.errors


def test_a_correct_example_has_no_mistakes():
    assert mistakes("""
        - hosts: kvm
          module_defaults:
            group/virtops.libvirt.libvirt: {uri: "qemu:///system"}
          roles:
            - role: virtops.libvirt.guest
              guest_name: web01
          tasks:
            - virtops.libvirt.domain_state: {name: web01, state: "{{ wanted }}"}
            - virtops.libvirt.domain_device: {name: web01, interface: {mac: "52:54:00:00:00:01"}}
        """) == []


@pytest.mark.parametrize("yaml_text, expected", [
    ("- virtops.libvirt.domain_state: {name: web01, shutdown_timeot: 3}", "no option 'shutdown_timeot'"),
    ("- virtops.libvirt.domain_state: {name: web01, state: stopped}", "'stopped' is not one of"),
    ("- virtops.libvirt.domain_device: {name: a, interface: {macaddr: x}}", "interface: no option 'macaddr'"),
    ("- virtops.libvirt.domain_nothing: {name: a}", "no module virtops.libvirt.domain_nothing"),
    ("module_defaults: {group/virtops.libvirt.libvirt: {url: x}}", "no option 'url'"),
    ("plugin: virtops.libvirt.libvirt\nkeyed_group: []", "inventory: no option 'keyed_group'"),
    ("roles: [{role: virtops.libvirt.guest, guest_nam: x}]", "no option 'guest_nam'"),
    ("- ansible.builtin.include_role: {name: virtops.libvirt.guest}\n  vars: {guest_nam: x}", "no option 'guest_nam'"),
    ("roles: [virtops.libvirt.gueest]", "no role virtops.libvirt.gueest"),
    ("- ansible.builtin.import_role: {name: virtops.libvirt.gueest}", "no role virtops.libvirt.gueest"),
    ("a: [unclosed", "not valid YAML"),
])
def test_a_mistake_is_reported(yaml_text, expected):
    found = mistakes(yaml_text)
    assert any(expected in error for error in found), found


def test_yaml_blocks_are_found_with_their_line_numbers(tmp_path):
    page = tmp_path / "page.rst"
    page.write_text("Title\n=====\n\n.. code-block:: yaml\n\n    - a: 1\n      b: 2\n\nText.\n\n.. code-block:: shell\n\n    ls\n")
    assert list(docs_options.yaml_blocks(str(page))) == [(4, "\n- a: 1\n  b: 2")]
