"""domain_tune in-process on the test driver: the argspec and docs assembled from the group files, bad input
refused with nothing changed, a change then `changed: false`, check mode, diff, pending_restart, tags the
inventory reads.

(What the test driver cannot do, hot-plug through setVcpu, live pinning, scheduler parameters, bandwidth, is
tested on fakes in the groups' unit tests and on the rig in tests/integration/test_domain_tune.py.)
"""

import json

import libvirt
import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.module_utils._facts import metadata_summary
from ansible_collections.virtops.libvirt.plugins.module_utils._xml import parse
from ansible_collections.virtops.libvirt.plugins.modules import domain_tune

from argspec_docs import documented_differently

URI = "test:///default"
GUEST_XML = """<domain type='test'>
  <name>{name}</name>
  <memory unit='MiB'>512</memory>
  <currentMemory unit='MiB'>512</currentMemory>
  <vcpu current='2'>4</vcpu>
  <os><type>hvm</type></os>
</domain>"""
TAGS_NAMESPACE = "https://virtops.example.org/xmlns/tags/1.0"


@pytest.fixture
def guest(request):
    """A fresh persistent domain on the test driver, running unless the test's name says `shutoff`."""
    connection = libvirt.open(URI)
    name = f"unit-tune-module-{request.node.name[:30]}"
    virdomain = connection.defineXML(GUEST_XML.format(name=name))
    if "shutoff" not in request.node.name:
        virdomain.create()
    yield name
    if virdomain.isActive():
        virdomain.destroy()
    virdomain.undefine()
    connection.close()


def run(capsys, name, check_mode=False, **args):
    with patch_module_args({"uri": URI, "name": name, "_ansible_check_mode": check_mode, "_ansible_diff": True,
                            **args}):
        with pytest.raises(SystemExit):
            domain_tune.main()
    return json.loads(capsys.readouterr().out)


def definitions(name):
    connection = libvirt.open(URI)
    try:
        virdomain = connection.lookupByName(name)
        return virdomain.XMLDesc(0), virdomain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    finally:
        connection.close()


def vcpu_counts(name):
    """(live, config) vCPU counts; live is None for a domain that does not run."""
    connection = libvirt.open(URI)
    try:
        virdomain = connection.lookupByName(name)
        live = virdomain.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE) if virdomain.isActive() else None
        return live, virdomain.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    finally:
        connection.close()


# --- the module's frame -----------------------------------------------------------------------------------


def test_every_group_has_its_class_its_argspec_and_its_place_in_the_order():
    assert list(domain_tune.GROUPS) == list(domain_tune.GROUP_ORDER)
    assert all(domain_tune.GROUPS[option].option == option for option in domain_tune.GROUP_ORDER)
    assert set(domain_tune.ARGUMENT_SPEC) == {"name", "live", "config", *domain_tune.GROUP_ORDER}


def test_the_documentation_matches_the_argument_spec_assembled_from_the_group_files():
    documented = yaml.safe_load(domain_tune.DOCUMENTATION)["options"]
    assert set(documented) == set(domain_tune.ARGUMENT_SPEC)
    found = [problem for option, spec in domain_tune.ARGUMENT_SPEC.items()
             for problem in documented_differently(spec, documented[option], option)]
    assert found == []


def test_every_example_passes_the_argument_spec():
    tasks = [task["virtops.libvirt.domain_tune"] for task in yaml.safe_load(domain_tune.EXAMPLES)
             if "virtops.libvirt.domain_tune" in task]
    assert len(tasks) >= 5
    for args in tasks:
        errors = ArgumentSpecValidator(domain_tune.ARGUMENT_SPEC).validate(args).error_messages
        assert errors == [], (args, errors)


def test_return_documents_the_result():
    assert {"groups", "pending_restart", "actions"} <= set(yaml.safe_load(domain_tune.RETURN))


# --- bad input: a clear error, nothing changed ------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    ({}, "one of the following is required: vcpus, memory"),
    ({"scheduler": {"cpu_share": 10}}, "Unsupported parameters"),
    ({"cputune": {"emulatorpin": "0-"}}, "cputune.emulatorpin: cannot read '0-' as a CPU list"),
    ({"cputune": {"emulatorpin": "6-9"}}, "cputune.emulatorpin: CPU 8-9 is not a CPU of this host (it has 8: 0-7)"),
    ({"vcpus": {"count": 9}}, "vcpus.count: 9 is more than the maximum 4"),
    ({"vcpus": {"count": 3}, "memory": {"current": "1GiB"}}, "memory.current"),
    ({"vcpus": {"count": 3}, "live": False, "config": False}, "live and config are both false"),
])
def test_bad_input_fails_clearly_with_nothing_changed(capsys, guest, args, message):
    before = definitions(guest)
    result = run(capsys, guest, **args)
    assert result["failed"] and message in result["msg"], result["msg"]
    assert result.get("changed") is not True and result.get("actions", []) == []
    assert "Traceback" not in result["msg"] and definitions(guest) == before


def test_live_on_a_shutoff_domain_is_refused(capsys, guest):
    result = run(capsys, guest, live=True, vcpus={"count": 1})
    assert result["failed"] and "is not running" in result["msg"] and result.get("actions", []) == []


def test_an_unknown_domain_is_named(capsys):
    result = run(capsys, "no-such-domain", vcpus={"count": 1})
    assert result["failed"] and "no-such-domain" in result["msg"]


# --- changes ----------------------------------------------------------------------------------------------


def test_a_vcpu_count_is_set_in_both_definitions_then_nothing_changes(capsys, guest):
    result = run(capsys, guest, vcpus={"count": 3})
    assert result["changed"] is True and len(result["actions"]) == 2, result["actions"]
    assert {scope: values["count"] for scope, values in result["groups"]["vcpus"]["before"].items()} == {"live": 2, "config": 2}
    assert {scope: values["count"] for scope, values in result["groups"]["vcpus"]["after"].items()} == {"live": 3, "config": 3}
    assert result["pending_restart"] is False and result["diff"]
    assert vcpu_counts(guest) == (3, 3)
    again = run(capsys, guest, vcpus={"count": 3})
    assert again["changed"] is False and again["actions"] == []


def test_check_mode_reports_the_plan_and_changes_nothing(capsys, guest):
    result = run(capsys, guest, check_mode=True, vcpus={"count": 1})
    assert result["changed"] is True and len(result["actions"]) == 2
    assert result["groups"]["vcpus"]["after"]["live"]["count"] == 1
    assert vcpu_counts(guest) == (2, 2)


def test_a_config_only_change_of_a_running_domain_waits_for_a_restart(capsys, guest):
    result = run(capsys, guest, config=True, vcpus={"count": 3})
    assert result["changed"] is True and result["pending_restart"] is True
    assert list(result["groups"]["vcpus"]["before"]) == ["config"] and vcpu_counts(guest) == (2, 3)


def test_a_shutoff_domain_is_tuned_in_its_configuration(capsys, guest):
    result = run(capsys, guest, vcpus={"count": 1})
    assert result["changed"] is True and result["pending_restart"] is False
    assert list(result["groups"]["vcpus"]["after"]) == ["config"] and vcpu_counts(guest)[1] == 1


def test_tags_are_written_where_the_inventory_reads_them(capsys, guest):
    result = run(capsys, guest, metadata={"tags": ["web", "production"], "title": "Web 01"})
    assert result["changed"] is True
    summary = metadata_summary(parse(definitions(guest)[0], "domain XML"), TAGS_NAMESPACE)
    assert summary["tags"] == ["web", "production"] and summary["title"] == "Web 01"
    assert run(capsys, guest, metadata={"tags": ["web", "production"], "title": "Web 01"})["changed"] is False


def test_a_renamed_domain_is_found_by_its_new_name_so_a_second_run_changes_nothing(capsys, guest_shutoff_renamed):
    old, new = guest_shutoff_renamed
    result = run(capsys, old, rename=new)
    assert not result.get("failed") and result["changed"] is True, result
    again = run(capsys, old, rename=new)
    assert not again.get("failed") and again["changed"] is False and again["actions"] == [], again


@pytest.fixture
def guest_shutoff_renamed():
    connection = libvirt.open(URI)
    old, new = "unit-tune-module-rename-old", "unit-tune-module-rename-new"
    connection.defineXML(GUEST_XML.format(name=old))
    yield old, new
    for name in (old, new):
        try:
            connection.lookupByName(name).undefine()
        except libvirt.libvirtError:
            pass
    connection.close()
