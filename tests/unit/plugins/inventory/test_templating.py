"""Nothing a guest or its owner writes is ever templated by the inventory, on any ansible-core.

Each guest-controlled string is a lookup that creates a marker file in the working directory of
ansible-inventory: the file existing afterwards means the controller ran guest-chosen code.
ansible-core 2.19 refuses such templates by itself; 2.16 to 2.18 run them unless the plugin hands
compose, groups and keyed_groups only wrapped (unsafe) values. Run under each version (CI matrix).
"""

from inventory_cli import listed

UUID = "44444444-4444-4444-8444-444444444444"
TAGS_NAMESPACE = "https://virtops.example.org/xmlns/tags/1.0"


def lookup(marker):
    """A template that creates the file `marker` when rendered; no comma (tags are comma-separated)."""
    return "{{ lookup(*'pipe:touch " + marker + "'.split(':')) }}"


EVIL_NAME = "evil-" + lookup("pwned-name")
EVIL_TITLE = lookup("pwned-title")
EVIL_DESCRIPTION = lookup("pwned-description")
# Tags are split at commas and blanks: this one has neither (the shell's ${IFS} is the blank).
EVIL_TAG = "{{lookup(*'pipe:touch${IFS}pwned-tag'.split(':'))}}"


def write_node(tmp_path):
    node = tmp_path / "node.xml"
    node.write_text(f"""<node>
  <domain type='test'>
    <name>{EVIL_NAME}</name>
    <uuid>{UUID}</uuid>
    <title>{EVIL_TITLE}</title>
    <description>{EVIL_DESCRIPTION}</description>
    <metadata><virtops:tags xmlns:virtops='{TAGS_NAMESPACE}'>{EVIL_TAG}, plain</virtops:tags></metadata>
    <memory unit='MiB'>256</memory>
    <os><type>hvm</type></os>
    <devices><interface type='network'><mac address='52:54:00:00:00:44'/><source network='default'/></interface></devices>
  </domain>
</node>
""")
    return f"test://{node}"


def config(uri, extra=""):
    return f"""plugin: virtops.libvirt.libvirt
hosts: ["{uri}"]
metadata: true
compose:
  composed_description: libvirt_metadata.description
  composed_title: libvirt_metadata.title
  composed_name: libvirt_name
  composed_metadata: libvirt_metadata
groups:
  titled: "libvirt_metadata.title ~ libvirt_metadata.description ~ libvirt_name != ''"
keyed_groups:
  - key: libvirt_metadata.tags
    prefix: keyed_tag
  - key: libvirt_name
    prefix: keyed_name
  - key: libvirt_metadata.description
    prefix: keyed_description
{extra}"""


def markers(tmp_path):
    return sorted(path.name for path in tmp_path.glob("pwned*"))


def test_domain_data_is_never_templated_by_compose_groups_or_keyed_groups(tmp_path):
    data, _warnings = listed(tmp_path, config(write_node(tmp_path)), cwd=tmp_path)
    assert markers(tmp_path) == [], "guest-controlled text was templated on the controller"
    host = data["_meta"]["hostvars"][EVIL_NAME]
    assert host["composed_description"] == EVIL_DESCRIPTION
    assert host["composed_title"] == EVIL_TITLE
    assert host["composed_name"] == EVIL_NAME
    assert host["composed_metadata"]["tags"] == [EVIL_TAG, "plain"]
    assert data["titled"]["hosts"] == [EVIL_NAME], "the groups condition saw the literal strings"
    keyed = [group for group in data if group.startswith("keyed_")]
    assert "keyed_tag_plain" in keyed
    assert any(group.startswith("keyed_tag_") and "pwned_tag" in group for group in keyed), keyed
    assert any(group.startswith("keyed_name_evil") and "pwned_name" in group for group in keyed), keyed
    assert any(group.startswith("keyed_description_") and "pwned_description" in group for group in keyed), keyed


def guest_agent_answers():
    return {
        "guest_info": {
            "hostname": lookup("pwned-hostname"),
            "user.count": 1, "user.0.name": lookup("pwned-user"), "user.0.login-time": 5,
            "if.count": 1, "if.0.name": lookup("pwned-interface"), "if.0.addr.count": 1,
            "if.0.addr.0.addr": "10.0.0.44", "if.0.addr.0.type": "ipv4", "if.0.addr.0.prefix": 24,
        },
        "addresses": {"agent": {lookup("pwned-ifname"): {"hwaddr": "52:54:00:00:00:44", "addrs": [
            {"type": 0, "addr": lookup("pwned-address"), "prefix": 24}]}}},
    }


def test_guest_agent_data_is_never_templated(tmp_path):
    extra = """guest_info: true
addresses: true
address_sources: [agent]
compose:
  composed_hostname: libvirt_guest.hostname
  composed_users: libvirt_guest.user.list | map(attribute='name') | list
  composed_interfaces: libvirt_guest.if.list | map(attribute='name') | list
  composed_address: ansible_host
  composed_addresses: libvirt_addresses
"""
    data, _warnings = listed(tmp_path, config(write_node(tmp_path)).split("compose:", maxsplit=1)[0] + extra, cwd=tmp_path,
                             guest_agent=guest_agent_answers())
    assert markers(tmp_path) == [], "guest-agent text was templated on the controller"
    host = data["_meta"]["hostvars"][EVIL_NAME]
    assert host["composed_hostname"] == lookup("pwned-hostname")
    assert host["composed_users"] == [lookup("pwned-user")]
    assert host["composed_interfaces"] == [lookup("pwned-interface")]
    assert host["composed_address"] == lookup("pwned-address") == host["ansible_host"]
    assert [address["interface"] for address in host["composed_addresses"]] == [lookup("pwned-ifname")]
