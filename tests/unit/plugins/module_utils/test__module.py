"""DomainModule: the argument spec, the one dry-run switch, diff plumbing and failure reporting."""

import json

import pytest
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
