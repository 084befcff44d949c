"""domain_state with production-style templates on the rig: re-applied, they change nothing and
restart nothing; what changes is reported, applied live when libvirt can, and never loses data.

The template below is written as an operator would (q35, host-model CPU with a fallback model,
VNC with autoport and a password, memory in GB, an uppercase UUID, an empty CD-ROM, USB tablet,
RNG, memballoon, serial + console, title and tag metadata), booting the rig's tiny agent guest.
"""

import json
import subprocess
import sys
import uuid as uuidlib

import libvirt
import pytest

from harness import rig_env, run_module

URI = rig_env.HOST_A_URI
PASSWORD = "Vnc9pass"
TAGS_NS = "https://virtops.example.org/xmlns/tags/1.0"


def production_template(name, disk, *, uuid=None, memory_gb=1, title="Web frontend", tags=("web", "prod"),
                        password=PASSWORD, extra_disk_xml=""):
    uuid_xml = f"<uuid>{uuid}</uuid>" if uuid else ""
    tags_xml = "".join(f"<tags:tag>{tag}</tags:tag>" for tag in tags)
    passwd = f" passwd='{password}'" if password else ""
    return f"""<domain type='qemu'>
  <name>{name}</name>
  {uuid_xml}
  <title>{title}</title>
  <description>Managed by Ansible</description>
  <metadata>
    <tags:tags xmlns:tags="{TAGS_NS}">{tags_xml}</tags:tags>
  </metadata>
  <memory unit='GB'>{memory_gb}</memory>
  <currentMemory unit='MiB'>768</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{rig_env.KERNEL}</kernel>
    <initrd>{rig_env.INITRD}</initrd>
    <cmdline>console=ttyS0 loglevel=4</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='host-model'><model fallback='allow'/></cpu>
  <clock offset='utc'/>
  <pm><suspend-to-mem enabled='yes'/></pm>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none' discard='unmap'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    {extra_disk_xml}
    <interface type='user'><model type='virtio'/></interface>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <input type='tablet' bus='usb'/>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'{passwd}/>
    <video><model type='virtio'/></video>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='virtio'/>
  </devices>
</domain>"""


@pytest.fixture
def disk(guest_name):
    return rig_env.make_data_disk(rig_env.data_disk_path(guest_name))


def apply(xml, check_mode=False, diff=True, **args):
    return run_module("domain_state", {"uri": URI, "xml": xml, **args}, check_mode=check_mode, diff=diff)


def domain_id(host_a, name):
    return host_a.lookupByName(name).ID()


def assert_no_password(result):
    assert PASSWORD not in json.dumps(result), "the VNC password leaked into the result"


def running_from_template(host_a, guest_name, xml):
    first = apply(xml, state="running", restart_on_change=True)
    assert first["changed"] and first["actions"] == ["define", "start"], first
    assert_no_password(first)
    return first


def test_reapplying_a_production_template_changes_and_restarts_nothing(host_a, guest_name, disk):
    xml = production_template(guest_name, disk, uuid=str(uuidlib.uuid4()).upper())
    running_from_template(host_a, guest_name, xml)
    started_as = domain_id(host_a, guest_name)
    for check_mode in (True, False):
        again = apply(xml, check_mode=check_mode, state="running", restart_on_change=True)
        assert again["changed"] is False, again
        assert again["actions"] == [] and again["domain"]["definition_changes"] == [], again
        assert again["pending_restart"] is False, again
        assert_no_password(again)
    assert domain_id(host_a, guest_name) == started_as, "the guest was restarted"


def test_title_and_tags_reach_the_running_guest_without_a_restart(host_a, guest_name, disk):
    running_from_template(host_a, guest_name, production_template(guest_name, disk))
    started_as = domain_id(host_a, guest_name)
    retitled = production_template(guest_name, disk, title="Web frontend (blue)", tags=("web",))
    predicted = apply(retitled, check_mode=True, state="running", restart_on_change=True)
    result = apply(retitled, state="running", restart_on_change=True)
    assert result["changed"] and result["pending_restart"] is False, result
    assert result["actions"] == predicted["actions"], (predicted, result)
    assert "set title (live)" in result["actions"] and f"set metadata {TAGS_NS} (live)" in result["actions"]
    assert any("prod" in change for change in result["domain"]["definition_changes"]), "the removed tag is reported"
    dom = host_a.lookupByName(guest_name)
    assert dom.ID() == started_as, "a title change restarted the guest"
    assert dom.metadata(libvirt.VIR_DOMAIN_METADATA_TITLE, None, libvirt.VIR_DOMAIN_AFFECT_LIVE) == "Web frontend (blue)"
    live_tags = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, TAGS_NS, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    assert ">web<" in live_tags and "prod" not in live_tags
    assert apply(retitled, state="running", restart_on_change=True)["changed"] is False


def test_memory_change_restarts_once_and_keeps_the_password(host_a, guest_name, disk):
    running_from_template(host_a, guest_name, production_template(guest_name, disk))
    started_as = domain_id(host_a, guest_name)
    # the password is left out of the template this time: a redefinition must keep it
    bigger = production_template(guest_name, disk, memory_gb=2, password=None)
    predicted = apply(bigger, check_mode=True, state="running", restart_on_change=True, shutdown_timeout=60,
                      force=True)
    result = apply(bigger, state="running", restart_on_change=True, shutdown_timeout=60, force=True)
    assert result["domain"]["definition_changes"] == ["/domain/memory: '976563 KiB' -> '2 GB'"], result
    assert result["actions"][0] == "update definition" and result["actions"][-1] == "start", result
    assert [a for a in predicted["actions"] if "destroy" not in a] == [a for a in result["actions"] if "destroy" not in a]
    assert result["pending_restart"] is False
    assert domain_id(host_a, guest_name) != started_as, "the guest was not restarted"
    secure = host_a.lookupByName(guest_name).XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE | libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert f"passwd='{PASSWORD}'" in secure, "the redefinition stripped the VNC password"
    assert_no_password(result)
    assert apply(bigger, state="running", restart_on_change=True)["changed"] is False


def test_a_changed_password_is_applied_but_never_shown(host_a, guest_name, disk):
    running_from_template(host_a, guest_name, production_template(guest_name, disk))
    new_password = "N3wVncpw"
    result = apply(production_template(guest_name, disk, password=new_password), state="running")
    assert result["changed"] and result["pending_restart"] is True, result
    assert new_password not in json.dumps(result) and PASSWORD not in json.dumps(result)
    assert result["domain"]["definition_changes"] == ["/domain/devices/graphics[type=vnc][1]/@passwd: '********' -> '********'"]
    # the masked definitions look alike, so the diff says in a line of its own that a password changed
    plain = next(d for d in result["diff"] if "before_header" not in d)
    assert "passwords: changed at /domain/devices/graphics[type=vnc][1]/@passwd" in plain["after"], result["diff"]


def test_external_snapshot_then_reapply_keeps_the_overlay(host_a, guest_name, disk):
    """Re-applying the template after an external snapshot must not repoint vda to its base image."""
    xml = production_template(guest_name, disk)
    running_from_template(host_a, guest_name, xml)
    overlay = disk + ".ext1"
    snapshot = run_module("domain_snapshot", {
        "uri": URI, "name": guest_name, "snapshot": "ext1", "location": "external", "memory": False,
        "disks": [{"target": "vda", "snapshot": "external", "file": overlay}]})
    assert snapshot["changed"], snapshot
    again = apply(xml, state="running", restart_on_change=True)
    assert again["changed"] is False and again["domain"]["definition_changes"] == [], again
    bigger = apply(production_template(guest_name, disk, memory_gb=2), state="running")
    assert bigger["domain"]["definition_changes"] == ["/domain/memory: '976563 KiB' -> '2 GB'"], bigger
    inactive = host_a.lookupByName(guest_name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert f"<source file='{overlay}'/>" in inactive, "the disk was repointed to its base image"
    assert f"<source file='{disk}'/>" in inactive, "the backing chain was lost"
    deleted = run_module("domain_snapshot", {"uri": URI, "name": guest_name, "snapshot": "ext1", "state": "absent"})
    assert "failed" not in deleted or not deleted["failed"], deleted


def test_a_typo_fails_with_libvirts_message_and_changes_nothing(host_a, guest_name, disk):
    xml = production_template(guest_name, disk)
    running_from_template(host_a, guest_name, xml)
    before = host_a.lookupByName(guest_name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    typo = production_template(guest_name, disk, memory_gb=2).replace("cache='none'", "cahce='none'")
    failed = apply(typo, state="running")
    assert failed.get("failed") and "cahce" in failed["msg"], failed
    assert failed["changed"] is False
    assert host_a.lookupByName(guest_name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == before


def test_uuid_option_with_a_template_without_uuid_is_stable(host_a, guest_name, disk):
    wanted = str(uuidlib.uuid4())
    xml = production_template(guest_name, disk)
    first = apply(xml, uuid=wanted, state="present")
    assert first["changed"] and host_a.lookupByName(guest_name).UUIDString() == wanted, first
    second = apply(xml, uuid=wanted, state="present")
    assert second.get("failed") is None and second["changed"] is False, second


def test_a_transient_guest_becomes_persistent_with_its_uuid(host_a, guest_name, disk):
    xml = production_template(guest_name, disk)
    transient = host_a.createXML(xml.replace("<title>", "<title>transient "), 0)
    result = apply(xml, state="running")
    assert result.get("failed") is None and result["changed"], result
    dom = host_a.lookupByName(guest_name)
    assert dom.isPersistent() and dom.UUIDString() == transient.UUIDString()
    assert apply(xml, state="running")["changed"] is False


def test_title_option_conflicting_with_the_template_is_refused(host_a, guest_name, disk):
    failed = apply(production_template(guest_name, disk), title="Another title", state="present")
    assert failed.get("failed") and "conflicts with the <title> of xml" in failed["msg"], failed
    assert failed["changed"] is False
    with pytest.raises(libvirt.libvirtError):
        host_a.lookupByName(guest_name)


def test_diff_is_readable_xml(host_a, guest_name, disk):
    running_from_template(host_a, guest_name, production_template(guest_name, disk))
    result = apply(production_template(guest_name, disk, memory_gb=2), state="running")
    diffs = result["diff"] if isinstance(result["diff"], list) else [result["diff"]]
    definition = next(d for d in diffs if "<domain" in str(d.get("before", "")))
    assert isinstance(definition["before"], str) and definition["before"].count("\n") > 20
    assert "976563" in definition["before"] and "2000000" not in definition["before"]
    assert "1953125" in definition["after"]  # 2 GB in whole KiB, as libvirt stored it
    assert PASSWORD not in json.dumps(diffs)
    rendered = subprocess.run(["virsh", "-c", URI, "domstate", guest_name], capture_output=True, text=True, check=False)
    assert "running" in rendered.stdout


def test_no_password_in_ansible_playbook_vvv_diff_output(tmp_path, host_a, guest_name, disk):
    """What an operator sees with -vvv --diff: results, invocations, diffs and errors, no password."""
    from harness import module_environment
    new_password = "Chg2pass"
    auth_password = "SaslPw-7d1"
    playbook = tmp_path / "secrets.yml"
    templates = {"first": production_template(guest_name, disk),
                 "changed": production_template(guest_name, disk, password=new_password, memory_gb=2),
                 "typo": production_template(guest_name, disk, password=new_password).replace("cache=", "cahce=")}
    for label, text in templates.items():
        (tmp_path / f"{label}.xml").write_text(text)
    playbook.write_text(f"""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/virtops.libvirt.libvirt:
      uri: {URI}
      auth_username: operator
      auth_password: {auth_password}
  tasks:
    - virtops.libvirt.domain_state:
        xml: "{{{{ lookup('file', '{tmp_path}/first.xml') }}}}"
        state: running
    - virtops.libvirt.domain_state:
        xml: "{{{{ lookup('file', '{tmp_path}/changed.xml') }}}}"
        state: running
    - virtops.libvirt.domain_state:
        xml: "{{{{ lookup('file', '{tmp_path}/typo.xml') }}}}"
      ignore_errors: true
""")
    completed = subprocess.run(["ansible-playbook", "-vvv", "--diff", "-i", "localhost,", "-c", "local",
                                "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
                               capture_output=True, text=True, env=module_environment(), timeout=600, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0 and "ok=3" in output and "ignored=1" in output, output
    assert "cahce" in output, "the typo task should have failed naming the attribute"
    for secret in (PASSWORD, new_password, auth_password):
        assert secret not in output, f"{secret} appeared in the ansible-playbook output"
