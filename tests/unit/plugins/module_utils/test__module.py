"""DomainModule: the argument spec, the one dry-run switch, diff plumbing and failure reporting."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.module_utils import _module
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
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
    assert run_module(capsys, {"_ansible_diff": True}, body)["diff"] == {
        "before": {"state": "running"},
        "after": {"state": "paused"},
    }


def test_expected_failure_has_no_traceback_and_keeps_what_was_done(capsys):
    def body(module):
        module.perform("resume", lambda: None)
        raise InvalidArgument("shutdown_timeout must not be negative (got -1)", domain="web01")

    result = run_module(capsys, {"name": "web01"}, body)
    assert result["failed"] is True
    assert result["msg"] == "shutdown_timeout must not be negative (got -1)"
    assert result["domain"] == "web01" and result["actions"] == ["resume"] and result["changed"] is True
    assert "exception" not in result


def test_libvirt_errors_from_a_real_driver_become_clear_failures(capsys):
    def body(module):
        with module.connect() as connection:
            Domain.lookup(connection, name=module.params["name"])

    result = run_module(capsys, {"uri": "test:///default", "name": "ghost"}, body)
    assert result["msg"] == "domain 'ghost': lookup by name failed: Domain not found"
    assert result["libvirt_error_code"] == 42


def test_missing_libvirt_python_gives_the_standard_message(capsys, monkeypatch):
    monkeypatch.setattr(_module, "LIBVIRT_IMPORT_ERROR", "Traceback: No module named 'libvirt'")
    with patch_module_args({}):
        with pytest.raises(SystemExit):
            DomainModule(SPEC)
    result = json.loads(capsys.readouterr().out)
    assert "Failed to import the required Python library (libvirt-python)" in result["msg"]
