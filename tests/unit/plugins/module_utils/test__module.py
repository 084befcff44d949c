"""DomainModule: the argument spec, the one dry-run switch, diff plumbing and failure reporting."""

import json

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.module_utils import _module
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    BatchFailed,
    InvalidArgument,
    LibvirtCallError,
    VirtopsError,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._module import DomainModule
from ansible_collections.virtops.libvirt.plugins.modules import domain_info, domain_state

SPEC = {"name": {"type": "str"}, "timeout": {"type": "float", "default": 5}}


def run_module(capsys, args, body):
    with patch_module_args(args):
        module = DomainModule(SPEC)
        with pytest.raises(SystemExit):
            module.run(body)
    return json.loads(capsys.readouterr().out)


def test_connection_options_are_added_and_the_password_is_hidden(capsys):
    args = {"uri": "test:///default", "auth_username": "admin", "auth_password": "s3cret", "name": "test"}
    result = run_module(capsys, args, lambda module: {"seen_uri": module.connect().uri})
    assert result["seen_uri"] == "test:///default"
    assert "s3cret" not in json.dumps(result)


def test_perform_runs_the_action_and_records_it(capsys):
    ran = []

    def body(module):
        module.perform("suspend", lambda: ran.append("suspend"))
        return {}

    result = run_module(capsys, {"name": "test"}, body)
    assert ran == ["suspend"]
    assert result["changed"] is True and result["actions"] == ["suspend"]


def test_check_mode_only_reports_the_action(capsys):
    ran = []

    def body(module):
        module.perform("suspend", lambda: ran.append("suspend"))
        return {}

    result = run_module(capsys, {"name": "test", "_ansible_check_mode": True}, body)
    assert ran == []
    assert result["changed"] is True and result["actions"] == ["suspend"]


def test_diff_is_returned_only_in_diff_mode(capsys):
    def body(module):
        module.set_diff({"state": "running"}, {"state": "paused"})
        return {}

    assert "diff" not in run_module(capsys, {}, body)
    assert run_module(capsys, {"_ansible_diff": True}, body)["diff"] == [
        {"before": "state: running\n", "after": "state: paused\n"},
    ]


def test_diff_of_a_definition_is_multi_line_text_beside_the_plain_values(capsys):
    """Ansible's diff callback prints texts line by line; a dict would be one escaped JSON line."""
    xml_before, xml_after = "<domain>\n  <memory>1</memory>\n</domain>", "<domain>\n  <memory>2</memory>\n</domain>"

    def body(module):
        module.set_diff({"state": "running", "autostart": False, "definition": xml_before},
                        {"state": "running", "autostart": True, "definition": xml_after})
        return {}

    assert run_module(capsys, {"_ansible_diff": True}, body)["diff"] == [
        {"before": "state: running\nautostart: false\n", "after": "state: running\nautostart: true\n"},
        {"before_header": "definition (before)", "after_header": "definition (after)",
         "before": xml_before + "\n", "after": xml_after + "\n"},
    ]


def test_expected_failure_has_no_traceback_and_keeps_what_was_done(capsys):
    def body(module):
        module.perform("resume", lambda: None)
        raise InvalidArgument("shutdown_timeout must not be negative (got -1)", domain="web01")

    result = run_module(capsys, {"name": "web01"}, body)
    assert result["failed"] is True
    assert result["msg"] == "shutdown_timeout must not be negative (got -1)"
    assert result["domain_name"] == "web01" and result["actions"] == ["resume"] and result["changed"] is True
    assert "exception" not in result


def test_a_failure_never_reports_domain_as_a_string(capsys):
    """RETURN documents `domain` as a dict of facts: the failed domain's name goes in domain_name."""

    def body(module):
        raise InvalidArgument("domain 'web01' does not exist; give xml to define it", domain="web01")

    result = run_module(capsys, {"name": "web01"}, body)
    assert result["failed"] is True and result["domain_name"] == "web01"
    assert not isinstance(result.get("domain"), str)


def test_an_action_libvirt_refused_is_not_a_change(capsys):
    def body(module):
        def refused():
            raise LibvirtCallError("define failed: XML error", domain="web01", operation="define")

        module.perform("define", refused)

    result = run_module(capsys, {"name": "web01"}, body)
    assert result["failed"] is True and result["msg"] == "define failed: XML error"
    assert result["changed"] is False and result["actions"] == []


def test_a_failure_after_the_change_itself_is_still_a_change(capsys):
    def body(module):
        def deleted_but_file_stays():
            raise VirtopsError("snapshot 's1' was deleted, but its memory file could not be removed",
                               domain="web01", after_change=True)

        module.perform("delete snapshot 's1'", deleted_but_file_stays)

    result = run_module(capsys, {"name": "web01"}, body)
    assert result["failed"] is True and result["changed"] is True and result["actions"] == ["delete snapshot 's1'"]


def test_a_batch_failure_reports_the_changes_of_the_other_domains(capsys):
    results = [{"name": "a", "changed": True, "actions": ["suspend"], "error": None},
               {"name": "b", "changed": False, "actions": [], "error": "domain 'b' does not exist"}]

    def body(module):
        raise BatchFailed("1 of 2 domains failed: b: domain 'b' does not exist", results)

    result = run_module(capsys, {"name": "a"}, body)
    assert result["failed"] is True and result["changed"] is True
    assert result["domains"] == results


def test_warnings_of_the_work_reach_the_task(capsys, monkeypatch):
    # Spy on AnsibleModule.warn: how warnings are serialized depends on the ansible-core version
    # (and on whether another test imported controller code into this process).
    warned = []
    monkeypatch.setattr(_module.AnsibleModule, "warn", lambda self, message: warned.append(message))

    def body(module):
        module.recorder.warn("snapshot data stays in the disk images")
        return {}

    run_module(capsys, {"name": "a"}, body)
    assert warned == ["snapshot data stays in the disk images"]


def test_libvirt_errors_from_a_real_driver_become_clear_failures(capsys):
    def body(module):
        with module.connect() as connection:
            Domain.lookup(connection, name=module.params["name"])

    result = run_module(capsys, {"uri": "test:///default", "name": "ghost"}, body)
    assert result["msg"] == "domain 'ghost': lookup by name failed: Domain not found"
    assert result["libvirt_error_code"] == 42 and result["domain_name"] == "ghost"


def test_missing_libvirt_python_gives_the_standard_message(capsys, monkeypatch):
    monkeypatch.setattr(_module, "LIBVIRT_IMPORT_ERROR", "Traceback: No module named 'libvirt'")
    with patch_module_args({}):
        with pytest.raises(SystemExit):
            DomainModule(SPEC)
    result = json.loads(capsys.readouterr().out)
    assert "Failed to import the required Python library (libvirt-python)" in result["msg"]


# --- the modules built on the frame: targets, batch results, choices from the code's tables ------------


def run_main(capsys, module, args):
    with patch_module_args({"uri": "test:///default", **args}):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("module", [domain_state, domain_info])
def test_every_choices_list_is_the_documented_one(module):
    """What validate-modules checks, here in the unit run: the argspec's choices come from tables."""
    documented = yaml.safe_load(module.DOCUMENTATION)["options"]
    for option, spec in module.ARGUMENT_SPEC.items():
        if "choices" in spec:
            assert sorted(spec["choices"]) == sorted(documented[option]["choices"]), option
        if isinstance(spec.get("default"), list):
            assert spec["default"] == documented[option]["default"], option


def test_domain_info_answers_a_single_name_with_domain_and_a_list_without(capsys):
    single = run_main(capsys, domain_info, {"name": "test", "gather": ["state"]})
    assert single["domain"]["name"] == "test" and [entry["name"] for entry in single["domains"]] == ["test"]
    listed = run_main(capsys, domain_info, {"name": ["test", "ghost"], "gather": ["state"]})
    assert "domain" not in listed and [(d["name"], d["state"]) for d in listed["domains"]] == [
        ("test", "running"), ("ghost", "absent")]
    every = run_main(capsys, domain_info, {"gather": ["state"]})
    assert "domain" not in every and "test" in [entry["name"] for entry in every["domains"]]
    assert run_main(capsys, domain_info, {"name": [], "gather": ["state"]})["domains"] == []


def test_domain_info_refuses_parallel_below_one(capsys):
    result = run_main(capsys, domain_info, {"name": "test", "parallel": 0})
    assert result["failed"] is True and result["msg"] == "parallel must be at least 1 (got 0)"


def test_domain_state_on_a_list_reports_every_domain_in_the_batch_shape(capsys):
    result = run_main(capsys, domain_state, {"name": ["test", "ghost"], "state": "running", "_ansible_check_mode": True})
    assert result["failed"] is True and result["msg"].startswith("1 of 2 domains failed: ghost: domain 'ghost' does not exist")
    first, second = result["domains"]
    assert (first["name"], first["changed"], first["actions"], first["error"]) == ("test", False, [], None)
    assert (second["name"], second["failed"], second["actions"]) == ("ghost", True, [])
    single = run_main(capsys, domain_state, {"name": "test", "state": "paused", "_ansible_check_mode": True})
    assert single["changed"] is True and single["actions"] == ["suspend"] and single["domain"]["name"] == "test"
