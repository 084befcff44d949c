"""TuneRunner on the test driver with a tiny group (the vCPU count through vcpusFlags/setVcpusFlags):
all groups validated before any change, only what differs set, check mode as the plan, pending_restart."""

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
from ansible_collections.virtops.libvirt.plugins.module_utils._tune import TuneGroup, TuneRunner

from tune_guest import guest_fixture, run_groups

GUEST_XML = """<domain type='test'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu current='2'>4</vcpu>
  <os><type>hvm</type></os>
</domain>"""
SCOPE_FLAGS = {"live": libvirt.VIR_DOMAIN_AFFECT_LIVE, "config": libvirt.VIR_DOMAIN_AFFECT_CONFIG}


class CountGroup(TuneGroup):
    """The current vCPU count, the smallest group that reads and sets through TuneCalls."""

    option = "count"

    def validate(self):
        maximum = self.calls.vcpus_flags(libvirt.VIR_DOMAIN_VCPU_MAXIMUM | libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        if self.wanted.get("vcpus", 0) > maximum:
            raise self.refuse("vcpus", f"{self.wanted['vcpus']} is more than the maximum {maximum}")

    def read(self, scope):
        return {"vcpus": self.calls.vcpus_flags(SCOPE_FLAGS[scope])}

    def steps(self, scope, flags, current):
        wanted = self.wanted.get("vcpus")
        if wanted is None or wanted == current["vcpus"]:
            return []
        return [self.step(scope, f"set {current['vcpus']} -> {wanted}", lambda: self.calls.set_vcpus_flags(wanted, flags),
                          lambda prediction: prediction.update(vcpus=wanted))]


class AlwaysRefused(TuneGroup):
    option = "refused"

    def validate(self):
        raise self.refuse("value", "never works")

    def read(self, scope):
        raise AssertionError("a refused task reads nothing")


REGISTRY = {"count": CountGroup, "refused": AlwaysRefused}


guest = guest_fixture(GUEST_XML, "unit-tune")


def run(domain, check_mode=False, **params):
    return run_groups(REGISTRY, domain, check_mode, **params)


def counts(domain):
    return {scope: domain.virdomain.vcpusFlags(flags) for scope, flags in SCOPE_FLAGS.items()}


def test_a_running_domain_is_tuned_live_and_config_and_a_second_run_changes_nothing(guest):
    result, actions = run(guest, count={"vcpus": 3})
    assert actions == ["count (live): set 2 -> 3", "count (config): set 2 -> 3"]
    assert result == {"groups": {"count": {"before": {"live": {"vcpus": 2}, "config": {"vcpus": 2}},
                                           "after": {"live": {"vcpus": 3}, "config": {"vcpus": 3}}}},
                      "pending_restart": False}
    assert counts(guest) == {"live": 3, "config": 3}
    again, actions = run(guest, count={"vcpus": 3})
    assert actions == [] and again["groups"]["count"]["before"] == again["groups"]["count"]["after"]


def test_values_not_given_are_left_alone(guest):
    result, actions = run(guest, count={"vcpus": None})
    assert actions == [] and counts(guest) == {"live": 2, "config": 2}
    assert result["groups"]["count"]["after"] == {"live": {"vcpus": 2}, "config": {"vcpus": 2}}


def test_check_mode_predicts_the_after_and_changes_nothing(guest):
    result, actions = run(guest, check_mode=True, count={"vcpus": 1})
    assert actions == ["count (live): set 2 -> 1", "count (config): set 2 -> 1"]
    assert result["groups"]["count"]["after"] == {"live": {"vcpus": 1}, "config": {"vcpus": 1}}
    assert counts(guest) == {"live": 2, "config": 2}


def test_a_config_only_change_of_a_running_domain_is_pending_restart(guest):
    result, actions = run(guest, config=True, count={"vcpus": 3})
    assert actions == ["count (config): set 2 -> 3"] and result["pending_restart"] is True
    assert list(result["groups"]["count"]["before"]) == ["config"]
    assert counts(guest) == {"live": 2, "config": 3}


def test_check_mode_predicts_pending_restart_too(guest):
    result, _actions = run(guest, check_mode=True, config=True, count={"vcpus": 3})
    assert result["pending_restart"] is True and counts(guest) == {"live": 2, "config": 2}


def test_a_config_only_change_the_live_domain_already_has_is_not_pending(guest):
    guest.virdomain.setVcpusFlags(3, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    result, actions = run(guest, config=True, count={"vcpus": 3})
    assert actions == ["count (config): set 2 -> 3"] and result["pending_restart"] is False


def test_a_shutoff_domain_is_tuned_in_its_configuration_only(guest):
    result, actions = run(guest, count={"vcpus": 1})
    assert actions == ["count (config): set 2 -> 1"] and result["pending_restart"] is False
    assert result["groups"]["count"]["after"] == {"config": {"vcpus": 1}}


def test_live_on_a_shutoff_domain_is_refused_before_anything_is_read(guest):
    with pytest.raises(InvalidArgument, match="live: domain 'unit-tune-.*' is not running"):
        run(guest, live=True, count={"vcpus": 1})


def test_one_refused_group_stops_the_task_before_any_group_changes_something(guest):
    with pytest.raises(InvalidArgument, match=r"^refused.value: never works$"):
        run(guest, count={"vcpus": 3}, refused={"value": 1})
    assert counts(guest) == {"live": 2, "config": 2}


def test_a_limit_checked_in_validate_names_the_option_and_changes_nothing(guest):
    with pytest.raises(InvalidArgument, match=r"^count.vcpus: 9 is more than the maximum 4$"):
        run(guest, count={"vcpus": 9})
    assert counts(guest) == {"live": 2, "config": 2}


def test_a_task_without_any_group_is_refused(guest):
    with pytest.raises(InvalidArgument, match="nothing to tune: give one of count, refused"):
        run(guest)


def test_the_target_knows_the_hosts_cpus_and_the_scopes(guest):
    runner = TuneRunner(guest, {"live": None, "config": None, "count": {}}, REGISTRY, ChangeRecorder(False))
    assert runner.target.host_cpus == 8  # the test driver's host
    assert runner.target.scope_names == ["live", "config"] and runner.target.active and runner.target.persistent
    assert list(runner.groups) == ["count"]


def test_a_group_reads_the_definition_of_each_scope_and_its_flag(guest):
    guest.virdomain.setVcpusFlags(3, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    group = TuneRunner(guest, {"live": None, "config": None, "count": {}}, REGISTRY, ChangeRecorder(False)).groups["count"]
    assert group.definition("live").find("vcpu").get("current") == "2"
    assert group.definition("config").find("vcpu").get("current") == "3"
    assert (group.scope_flag("live"), group.scope_flag("config")) == (SCOPE_FLAGS["live"], SCOPE_FLAGS["config"])


def test_a_change_waiting_for_a_restart_is_still_reported_by_the_next_run(guest):
    run(guest, config=True, count={"vcpus": 3})
    again, actions = run(guest, config=True, count={"vcpus": 3})
    assert actions == [] and again["pending_restart"] is True  # as domain_state: the running domain still lags


def test_a_live_only_change_is_not_pending_restart(guest):
    result, actions = run(guest, live=True, count={"vcpus": 3})
    assert actions == ["count (live): set 2 -> 3"] and result["pending_restart"] is False
