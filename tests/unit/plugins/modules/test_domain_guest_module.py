"""domain_guest in-process: the argspec and docs assembled from the part files, the examples, a guest without
an agent channel (the test driver's), and a run on a fake agent domain where the password shows nowhere."""

import json
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.modules import domain_guest

from argspec_docs import documented_differently

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "module_utils"))
from fake_guest import FakeGuestDomain, calls_named, guest_domain  # noqa: E402 pylint: disable=wrong-import-position

URI = "test:///default"
PASSWORD = "Vault-S3cret\"pw"


def run(capsys, check_mode=False, **args):
    with patch_module_args({"uri": URI, "name": "test", "_ansible_check_mode": check_mode, "_ansible_diff": True,
                            "_ansible_verbosity": 3, **args}):
        with pytest.raises(SystemExit):
            domain_guest.main()
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.out + captured.err


@pytest.fixture
def fake(monkeypatch):
    """domain_guest's lookup answers a fake domain with a guest agent."""
    domain, virdomain = guest_domain(monkeypatch, FakeGuestDomain())
    monkeypatch.setattr(domain_guest.Domain, "lookup", classmethod(lambda cls, connection, name=None, uuid=None: domain))
    return virdomain


def test_every_part_option_has_its_argspec_and_its_part():
    assert set(domain_guest.ARGUMENT_SPEC) >= {"name", "agent_timeout", "wait_for_agent", *domain_guest.PARTS}
    assert all(domain_guest.PARTS[option].option == option for option in domain_guest.PARTS)
    order = list(domain_guest.PARTS)
    assert order.index("users") < order.index("time") < order.index("vcpus_online") < order.index("fsfreeze")
    assert order[-1] == "gather"


def test_passwords_are_no_log_in_the_argspec():
    assert domain_guest.ARGUMENT_SPEC["users"]["options"]["password"]["no_log"] is True


def test_the_documentation_matches_the_argument_spec_assembled_from_the_part_files():
    documented = yaml.safe_load(domain_guest.DOCUMENTATION)["options"]
    assert set(documented) == set(domain_guest.ARGUMENT_SPEC)
    found = [problem for option, spec in domain_guest.ARGUMENT_SPEC.items()
             for problem in documented_differently(spec, documented[option], option)]
    assert found == []


def test_every_example_passes_the_argument_spec():
    tasks = [task["virtops.libvirt.domain_guest"] for task in yaml.safe_load(domain_guest.EXAMPLES)
             if "virtops.libvirt.domain_guest" in task]
    assert len(tasks) >= 6
    for args in tasks:
        errors = ArgumentSpecValidator(domain_guest.ARGUMENT_SPEC).validate(args).error_messages
        assert errors == [], (args, errors)


def test_a_guest_without_an_agent_channel_fails_clearly_with_nothing_changed(capsys):
    result, _output = run(capsys, time="sync")
    assert result["failed"] and not result["changed"] and result["actions"] == []
    assert "'test' has no guest agent channel" in result["msg"]


def test_the_password_is_in_no_output_diff_or_log(capsys, fake):
    result, output = run(capsys, users=[{"name": "root", "password": PASSWORD}])
    assert result["changed"] and result["users"] == [{"name": "root", "password_set": True}]
    assert calls_named(fake, "setUserPassword")
    assert PASSWORD not in output and json.dumps(PASSWORD)[1:-1] not in output


def test_a_failing_password_call_shows_no_password(capsys, fake):
    fake.fail["setUserPassword"] = True
    result, output = run(capsys, users=[{"name": "root", "password": PASSWORD}])
    assert result["failed"] and "root" in result["msg"]
    assert PASSWORD not in output and json.dumps(PASSWORD)[1:-1] not in output


def test_check_mode_is_the_plan_and_the_diff_shows_keys(capsys, fake):
    key = "ssh-ed25519 AAAAnew ops@ci"
    result, _output = run(capsys, check_mode=True, users=[{"name": "ops", "ssh_keys": [key]}], vcpus_online="0-1")
    assert result["changed"] and result["actions"] == [
        "users: set the SSH keys of guest user 'ops' to exactly 1 key(s)",
        "vcpus_online: take guest vCPUs 2-3 offline"]
    assert fake.keys["ops"] == ["ssh-ed25519 AAAAold ops@old"] and not calls_named(fake, "setGuestVcpus")
    assert key in result["diff"][0]["after"] if isinstance(result["diff"], list) else key in str(result["diff"])
