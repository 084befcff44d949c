"""The inventory plugin, through ansible-inventory, on two test-driver hosts."""

import json

import pytest
from inventory_cli import FLEET_URI, inventory, listed

from ansible_collections.virtops.libvirt.plugins.inventory.libvirt import safe_group_name


TWO_HOSTS = f"""
plugin: virtops.libvirt.libvirt
hosts:
  - uri: "{FLEET_URI}"
    name: kvm01
  - uri: "{FLEET_URI}"
    name: kvm02.example.com
"""


def test_two_hosts_with_the_same_domain_names_never_overwrite(tmp_path):
    data, warnings = listed(tmp_path, TWO_HOSTS)
    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == sorted(["web01", "db01", "web-{{ 7 * 7 }}", "web01_kvm02.example.com",
                                       "db01_kvm02.example.com", "web-{{ 7 * 7 }}_kvm02.example.com"])
    assert hostvars["web01"]["libvirt_host"] == "kvm01"
    assert hostvars["web01_kvm02.example.com"]["libvirt_host"] == "kvm02.example.com"
    assert "same inventory name" in warnings


def test_groups_by_state_and_host_are_valid_names(tmp_path):
    data, _warnings = listed(tmp_path, TWO_HOSTS)
    assert set(data["libvirt_running"]["hosts"]) == {"web01", "web01_kvm02.example.com"}
    assert set(data["libvirt_shutoff"]["hosts"]) == {"db01", "db01_kvm02.example.com"}
    assert set(data["libvirt_paused"]["hosts"]) == {"web-{{ 7 * 7 }}", "web-{{ 7 * 7 }}_kvm02.example.com"}
    assert "libvirt_host_kvm02_example_com" in data
    for group in data:
        assert group.replace("_", "a").isalnum() and not group[0].isdigit(), group


def test_hostname_pattern_takes_only_its_placeholders(tmp_path):
    completed = inventory(tmp_path, TWO_HOSTS + 'hostname: "{{ lookup(\'pipe\', \'id\') }}"\n')
    assert completed.returncode != 0 and "may only use" in completed.stderr


def test_hostname_template_and_uuid(tmp_path):
    data, warnings = listed(tmp_path, TWO_HOSTS + 'hostname: "{{ host }}-{{ name }}"\n')
    assert "kvm01-web01" in data["_meta"]["hostvars"] and "kvm02.example.com-db01" in data["_meta"]["hostvars"]
    assert "same inventory name" not in warnings
    data, _warnings = listed(tmp_path, f'plugin: virtops.libvirt.libvirt\nhosts: ["{FLEET_URI}"]\nhostname: uuid\n')
    assert "11111111-1111-4111-8111-111111111111" in data["_meta"]["hostvars"]
    uuid_groups = [group for group in data if group.startswith("_") and group != "_meta"]
    assert uuid_groups == [], "no group is named after a UUID"


def test_guest_strings_are_never_templated(tmp_path):
    config = TWO_HOSTS + """metadata: true
compose:
  leaked: libvirt_metadata.description
  name_again: libvirt_name
"""
    raw = json.loads(inventory(tmp_path, config).stdout)
    assert raw["_meta"]["hostvars"]["web01"]["libvirt_metadata"]["description"] == {
        "__ansible_unsafe": "{{ lookup('pipe', 'id') }}"}
    data, _warnings = listed(tmp_path, config)
    web01 = data["_meta"]["hostvars"]["web01"]
    assert web01["leaked"] == "{{ lookup('pipe', 'id') }}"
    assert data["_meta"]["hostvars"]["web-{{ 7 * 7 }}"]["name_again"] == "web-{{ 7 * 7 }}"
    assert "uid=" not in json.dumps(data)


def test_tags_become_groups_and_filters_apply(tmp_path):
    config = f"""
plugin: virtops.libvirt.libvirt
hosts: ["{FLEET_URI}"]
metadata: true
include: ["web*"]
exclude: ["*{{{{*"]
"""
    data, _warnings = listed(tmp_path, config)
    assert sorted(data["_meta"]["hostvars"]) == ["web01"]
    assert data["libvirt_tag_web"]["hosts"] == ["web01"] and data["libvirt_tag_prod"]["hosts"] == ["web01"]
    assert data["_meta"]["hostvars"]["web01"]["libvirt_metadata"]["title"] == "Shop front end"


def test_state_filter_and_shut_off_domains_are_quiet(tmp_path):
    completed = inventory(tmp_path, f'plugin: virtops.libvirt.libvirt\nhosts: ["{FLEET_URI}"]\nstates: [shutoff]\n')
    assert completed.returncode == 0
    assert sorted(json.loads(completed.stdout)["_meta"]["hostvars"]) == ["db01"]
    assert "WARNING" not in completed.stderr.upper()


def test_an_unreachable_host_is_named_and_the_others_still_listed(tmp_path):
    config = TWO_HOSTS + "  - uri: qemu+unix:///system?socket=/nonexistent/sock\n    name: kvm03\n"
    data, warnings = listed(tmp_path, config)
    assert "web01" in data["_meta"]["hostvars"]
    assert "libvirt host kvm03" in warnings and "could not be read" in warnings


def test_strict_hosts_fails_on_an_unreachable_host(tmp_path):
    config = TWO_HOSTS + "  - qemu+unix:///system?socket=/nonexistent/sock\nstrict_hosts: true\n"
    completed = inventory(tmp_path, config)
    assert completed.returncode != 0
    assert "could not be read" in completed.stderr


def test_only_files_named_libvirt_yml_are_taken(tmp_path):
    completed = inventory(tmp_path, TWO_HOSTS, "fleet.yml")
    assert completed.returncode != 0


def test_cache_serves_the_second_run(tmp_path):
    cache_dir = tmp_path / "cache"
    cache = f"""cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: {cache_dir}
cache_timeout: 600
"""
    first, _warnings = listed(tmp_path, TWO_HOSTS + cache)
    assert list(cache_dir.iterdir()), "the first run filled the cache"
    # The cache key is the file's path: the same file, now naming only hosts that cannot be
    # reached, still lists the first run's domains, and nothing tries to connect.
    dead = TWO_HOSTS.replace(FLEET_URI, "qemu+unix:///system?socket=/nonexistent/sock")
    assert dead != TWO_HOSTS
    second, warnings = listed(tmp_path, dead + cache)
    assert second["_meta"]["hostvars"] == first["_meta"]["hostvars"]
    assert "web01" in second["_meta"]["hostvars"]
    assert "could not be read" not in warnings


@pytest.mark.parametrize("raw, safe", [
    ("libvirt_host_kvm-01.example.com", "libvirt_host_kvm_01_example_com"),
    ("6695eb01-f6a4", "_6695eb01_f6a4"),
    ("libvirt_tag_web prod", "libvirt_tag_web_prod"),
])
def test_safe_group_names(raw, safe):
    assert safe_group_name(raw) == safe


def agent_and_arp(agent_address, arp_address):
    def interface(address):
        return {"eth0": {"hwaddr": "52:54:00:00:00:01", "addrs": [{"type": 0, "addr": address, "prefix": 24}]}}
    return {"addresses": {"agent": interface(agent_address), "arp": interface(arp_address)}}


def test_by_default_host_side_addresses_win_over_what_the_guest_agent_says(tmp_path):
    config = f'plugin: virtops.libvirt.libvirt\nhosts: ["{FLEET_URI}"]\naddresses: true\n'
    data, _warnings = listed(tmp_path, config, guest_agent=agent_and_arp("10.6.6.6", "192.168.122.20"))
    web01 = data["_meta"]["hostvars"]["web01"]
    assert {address["source"] for address in web01["libvirt_addresses"]} == {"agent", "arp"}
    assert web01["ansible_host"] == "192.168.122.20", "the guest must not choose where Ansible connects"


def test_the_agent_source_can_still_be_preferred_explicitly(tmp_path):
    config = f'plugin: virtops.libvirt.libvirt\nhosts: ["{FLEET_URI}"]\naddresses: true\naddress_sources: [agent, arp]\n'
    data, _warnings = listed(tmp_path, config, guest_agent=agent_and_arp("10.6.6.6", "192.168.122.20"))
    assert data["_meta"]["hostvars"]["web01"]["ansible_host"] == "10.6.6.6"


def test_address_sources_option_says_the_agent_lets_the_guest_choose():
    import yaml  # pylint: disable=import-outside-toplevel
    from ansible_collections.virtops.libvirt.plugins.inventory import libvirt as plugin  # pylint: disable=import-outside-toplevel
    from ansible_collections.virtops.libvirt.plugins.module_utils._fleet import FleetOptions  # pylint: disable=import-outside-toplevel

    option = yaml.safe_load(plugin.DOCUMENTATION)["options"]["address_sources"]
    assert option["default"] == ["lease", "arp", "agent"] == FleetOptions().address_sources
    assert "guest" in " ".join(option["description"]) and "chooses" in " ".join(option["description"])
