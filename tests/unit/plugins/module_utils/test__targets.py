"""Targets of a task (name, list of names, uuid, xml) and one batch over them."""

import threading
import time

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import BatchFailed, InvalidArgument, VirtopsError
from ansible_collections.virtops.libvirt.plugins.module_utils._targets import (
    Target,
    check_parallel,
    is_batch,
    requested_names,
    resolve_targets,
    run_each,
)


def test_a_name_a_list_of_names_and_a_uuid_become_targets():
    assert resolve_targets("web01", None) == [Target("web01", None)]
    assert resolve_targets(["a", "b"], None) == [Target("a", None), Target("b", None)]
    assert resolve_targets(None, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0") == [
        Target(None, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0")]
    assert Target(None, "u").label == "u" and Target("n", None).label == "n"


def test_only_a_list_asks_for_the_batch_shape():
    assert is_batch(["web01"]) and not is_batch("web01") and not is_batch(None)


@pytest.mark.parametrize("name", [[""], ["a", 3], 5, []])
def test_names_that_are_not_domain_names_are_refused(name):
    with pytest.raises(InvalidArgument, match="name must be a domain name or a list of domain names"):
        resolve_targets(name, None)


def test_an_empty_list_is_no_target_where_the_module_allows_it():
    assert requested_names([]) == [] and resolve_targets([], None, allow_empty=True) == []


def test_the_xml_names_its_one_domain():
    template = _xml.parse("<domain><name>web01</name><uuid>4DEA22B3-1D52-D8F3-2516-782E98AB3FA0</uuid></domain>")
    assert resolve_targets(None, None, template) == [Target("web01", None)]
    assert resolve_targets("web01", "4dea22b3-1d52-d8f3-2516-782e98ab3fa0", template) == [
        Target("web01", "4dea22b3-1d52-d8f3-2516-782e98ab3fa0")]
    with pytest.raises(InvalidArgument, match="xml defines domain 'web01' but name is 'web02'"):
        resolve_targets("web02", None, template)
    with pytest.raises(InvalidArgument, match="xml has uuid 4DEA22B3-1D52-D8F3-2516-782E98AB3FA0 but uuid is 0000"):
        resolve_targets(None, "0000", template)


def test_parallel_below_one_is_refused():
    assert check_parallel(1) == 1
    with pytest.raises(InvalidArgument, match=r"parallel must be at least 1 \(got 0\)"):
        check_parallel(0)


def suspend(target, recorder):
    recorder.perform("suspend", lambda: None)
    return {"name": target.label, "state": "paused"}


def test_a_batch_entry_has_name_changed_actions_and_error():
    assert run_each([Target("a", None)], suspend, check_mode=False, parallel=2) == [
        {"name": "a", "state": "paused", "changed": True, "actions": ["suspend"], "error": None}]


def test_check_mode_reaches_each_targets_recorder():
    ran = []

    def work(target, recorder):
        recorder.perform("suspend", lambda: ran.append(target.name))
        return {}

    [entry] = run_each([Target("a", None)], work, check_mode=True, parallel=1)
    assert ran == [] and entry["actions"] == ["suspend"] and entry["name"] == "a"


def test_one_failure_does_not_stop_the_others_and_every_entry_is_reported():
    def work(target, recorder):
        if target.name == "ghost":
            raise VirtopsError("domain 'ghost' does not exist")
        if target.name == "bug":
            raise KeyError("no such key")
        return suspend(target, recorder)

    with pytest.raises(BatchFailed) as raised:
        run_each([Target("a", None), Target("ghost", None), Target("bug", None)], work, check_mode=False, parallel=3)
    assert str(raised.value) == ("2 of 3 domains failed: ghost: domain 'ghost' does not exist; "
                                 "bug: unexpected error: KeyError: 'no such key'")
    first, ghost, bug = raised.value.results
    assert first["error"] is None and first["changed"] is True
    assert ghost == {"name": "ghost", "failed": True, "msg": "domain 'ghost' does not exist",
                     "error": "domain 'ghost' does not exist", "changed": False, "actions": []}
    assert bug["failed"] is True and raised.value.changed is True


def test_an_error_with_the_documented_domain_dict_is_reported_as_it_is():
    def work(target, _recorder):
        error = VirtopsError("refused")
        error.result["domain"] = {"name": target.name, "state": "running", "failed": True, "msg": "refused"}
        raise error

    with pytest.raises(BatchFailed) as raised:
        run_each([Target("a", None)], work, check_mode=False, parallel=1)
    assert raised.value.results == [{"name": "a", "state": "running", "failed": True, "msg": "refused"}]


def test_warnings_are_prefixed_with_the_target():
    warnings = []

    def work(target, recorder):
        recorder.warn("data stays")
        return {}

    run_each([Target("a", None), Target(None, "u-1")], work, check_mode=False, parallel=2, warnings=warnings)
    assert sorted(warnings) == ["a: data stays", "u-1: data stays"]


def test_targets_run_concurrently_in_daemon_threads_up_to_parallel():
    running, most, lock = [0], [0], threading.Lock()

    def work(_target, _recorder):
        assert threading.current_thread().daemon, "a hung call would keep the process alive"
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return {}

    run_each([Target(str(n), None) for n in range(6)], work, check_mode=False, parallel=3)
    assert most[0] == 3
