"""_tune_cpu's groups (vcpus, cputune, iothreads, scheduler) through TuneRunner on the test driver.

Where the test driver refuses a call (pinning a vCPU with flags, setVcpu, the guest's count, scheduler
parameters with flags, IOThread parameters), fake_tune_cpu.TuneProxy keeps that state instead; the
real behaviour of those calls is proven on the rig (tests/integration/test_domain_tune.py).
"""

import uuid

import libvirt
import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
from ansible_collections.virtops.libvirt.plugins.module_utils._tune import TuneRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._tune_cpu import ARGUMENT_SPECS, GROUPS, SCHEDULER_KEYS

from fake_tune_cpu import CONFIG, LIVE, TuneProxy

MAXIMUM = libvirt.VIR_DOMAIN_VCPU_MAXIMUM
XML = """<domain type='test'>
  <name>{name}</name>
  <memory unit='KiB'>1048576</memory>
  <vcpu placement='static' current='2'{cpuset}>4</vcpu>
  <iothreads>2</iothreads>
  {cputune}
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw' iothread='2'/>
      <source file='/guest/tune.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>"""


@pytest.fixture
def connection():
    with Connection(ConnectionParams(uri="test:///default"), events=False) as opened:
        yield opened


def define(connection, running=True, cpuset="", cputune=""):
    name = f"tune-cpu-{uuid.uuid4().hex[:8]}"
    virdomain = connection.conn.defineXML(XML.format(name=name, cpuset=cpuset, cputune=cputune))
    if running:
        virdomain.create()
    return virdomain


@pytest.fixture
def virdomain(connection):
    defined = define(connection)
    yield defined
    if defined.isActive():
        defined.destroy()
    defined.undefine()


@pytest.fixture
def proxy(connection, virdomain):  # pylint: disable=redefined-outer-name
    return TuneProxy(virdomain)


def run(connection, virdomain, check_mode=False, **params):  # pylint: disable=redefined-outer-name
    """One task: its result and actions."""
    recorder = ChangeRecorder(check_mode)
    domain = Domain(connection, virdomain)
    result = TuneRunner(domain, {"live": None, "config": None, **params}, GROUPS, recorder).run()
    return result, recorder.actions


def refused(connection, virdomain, message, **params):  # pylint: disable=redefined-outer-name
    before = virdomain.XMLDesc(0), virdomain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    with pytest.raises(InvalidArgument) as raised:
        run(connection, virdomain, **params)
    assert message in raised.value.message
    assert (virdomain.XMLDesc(0), virdomain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)) == before, "nothing changed"
    return raised.value.message


def converges(connection, virdomain, expected_actions, **params):  # pylint: disable=redefined-outer-name
    """Check mode predicts the run, the run does the same actions, and a second run plans nothing."""
    predicted, predicted_actions = run(connection, virdomain, check_mode=True, **params)
    result, actions = run(connection, virdomain, **params)
    assert actions == predicted_actions == expected_actions
    assert result["groups"] == predicted["groups"], "check mode's after is what the run reads after"
    again, again_actions = run(connection, virdomain, **params)
    assert again_actions == [] and again["groups"][next(iter(again["groups"]))]["before"] == \
        result["groups"][next(iter(result["groups"]))]["after"]
    return result


# --- vcpus -----------------------------------------------------------------------------------

def test_the_vcpu_count_is_set_live_and_in_the_configuration_once(connection, virdomain):
    result = converges(connection, virdomain, ["vcpus (live): set the vCPU count to 3",
                                               "vcpus (config): set the vCPU count to 3"], vcpus={"count": 3})
    assert virdomain.vcpusFlags(LIVE) == virdomain.vcpusFlags(CONFIG) == 3
    assert result["groups"]["vcpus"]["before"]["live"] == {"count": 2, "maximum": 4, "online": "0-1"}
    assert result["groups"]["vcpus"]["after"]["config"] == {"count": 3, "maximum": 4, "online": "0-2"}
    assert result["pending_restart"] is False


@pytest.mark.parametrize("vcpus, message", [
    ({"count": 5}, "vcpus.count: 5 is more than the maximum 4 of the live definition of domain"),
    ({"count": 0}, "vcpus.count: 0 is not a number of vCPUs"),
    ({"maximum": 8, "count": 5}, "vcpus.count: 5 is more than the maximum 4 of the live definition"),
])
def test_too_many_vcpus_are_refused_with_nothing_changed(connection, virdomain, vcpus, message):
    refused(connection, virdomain, message, vcpus=vcpus)


def test_the_maximum_changes_in_the_configuration_only_and_waits_for_a_restart(connection, virdomain):
    refused(connection, virdomain, "vcpus.maximum: the maximum changes in the persistent definition only (config)",
            live=True, vcpus={"maximum": 6})
    result = converges(connection, virdomain, ["vcpus (config): set the maximum to 6 vCPUs",
                                               "vcpus (config): set the vCPU count to 5"],
                       config=True, vcpus={"maximum": 6, "count": 5})
    assert virdomain.vcpusFlags(CONFIG | MAXIMUM) == 6 and virdomain.vcpusFlags(CONFIG) == 5
    assert virdomain.vcpusFlags(LIVE | MAXIMUM) == 4, "the running domain keeps its maximum"
    assert result["pending_restart"] is True


def test_a_lower_maximum_lowers_the_count_after_it(connection, virdomain):
    result = converges(connection, virdomain, ["vcpus (config): set the maximum to 1 vCPUs"],
                       config=True, vcpus={"maximum": 1})
    assert result["groups"]["vcpus"]["after"]["config"] == {"count": 1, "maximum": 1, "online": "0"}
    converges(connection, virdomain, ["vcpus (config): set the maximum to 3 vCPUs",
                                      "vcpus (config): set the vCPU count to 3"], config=True, vcpus={"maximum": 3, "count": 3})
    # lowering: the count goes first, within the old maximum
    converges(connection, virdomain, ["vcpus (config): set the vCPU count to 2",
                                      "vcpus (config): set the maximum to 2 vCPUs"], config=True, vcpus={"maximum": 2, "count": 2})


def test_a_shut_off_domain_is_tuned_in_its_configuration(connection):
    virdomain = define(connection, running=False)
    try:
        result = converges(connection, virdomain, ["vcpus (config): set the vCPU count to 4"], vcpus={"count": 4})
        assert list(result["groups"]["vcpus"]["before"]) == ["config"] and result["pending_restart"] is False
    finally:
        virdomain.undefine()


def test_online_enables_and_disables_exactly_those_vcpus(connection, proxy):
    proxy.enable_vcpus(live={0, 1}, config={0, 1})
    result = converges(connection, proxy, ["vcpus (live): enable vCPU 2-3", "vcpus (live): disable vCPU 1",
                                           "vcpus (config): enable vCPU 2-3", "vcpus (config): disable vCPU 1"],
                       vcpus={"online": "0,2-3", "count": 3})
    assert result["groups"]["vcpus"]["after"]["live"] == {"count": 3, "maximum": 4, "online": "0,2-3"}
    assert ("setVcpu", "2-3", 1, LIVE) in proxy.calls and ("setVcpu", "1", 0, CONFIG) in proxy.calls


@pytest.mark.parametrize("vcpus, message", [
    ({"online": "0,5"}, "vcpus.online: vCPU 5 is beyond the maximum 4 of the live definition"),
    ({"online": "0-2", "count": 2}, "vcpus.online: '0-2' enables 3 vCPUs, but count is 2"),
    ({"online": "0-x"}, "vcpus.online: cannot read '0-x' as a CPU list"),
    ({"online": "1-3"}, "vcpus.online: vCPU 0 of the live definition of domain"),
])
def test_bad_online_lists_are_refused(connection, proxy, vcpus, message):
    proxy.enable_vcpus(live={0, 1}, config={0, 1})
    refused(connection, proxy, message, vcpus=vcpus)
    assert [call for call in proxy.calls if call[0] == "setVcpu"] == []


def test_a_vcpu_that_is_not_hot_pluggable_changes_in_the_configuration_only(connection, proxy):
    proxy.enable_vcpus(live={0, 1}, config={0, 1})
    message = refused(connection, proxy, "vcpus.online: vCPU 0 of the live definition", vcpus={"online": "1-2"})
    assert message.endswith("is not hot-pluggable: it can change in the persistent definition only (config)")
    converges(connection, proxy, ["vcpus (config): enable vCPU 2", "vcpus (config): disable vCPU 0"], config=True,
              vcpus={"online": "1-2"})


def test_the_vcpus_a_domain_booted_with_are_not_hot_pluggable(connection, virdomain):
    """Until a first hot-plug the running definition lists no <vcpus>: the boot vCPUs are still fixed (rig)."""
    assert "<vcpus>" not in virdomain.XMLDesc(0)
    refused(connection, virdomain, "vcpus.online: vCPU 0 of the live definition", vcpus={"online": "1-2"})


def test_guest_sets_the_count_inside_the_running_guest_only(connection, proxy):
    proxy.guest_count = 2
    result = converges(connection, proxy, ["vcpus (live): set the guest's vCPU count to 1 (guest agent)"],
                       vcpus={"count": 1, "guest": True})
    assert ("setVcpusFlags", 1, LIVE | libvirt.VIR_DOMAIN_VCPU_GUEST) in proxy.calls
    assert result["groups"]["vcpus"]["after"]["live"]["count"] == 1
    assert result["pending_restart"] is False, "the guest's count is no value of the persistent definition"
    assert proxy.vcpusFlags(CONFIG) == 2, "the persistent count is not the guest's"
    refused(connection, proxy, "vcpus.count: 3 is more than the 2 vCPUs domain", vcpus={"count": 3, "guest": True})
    refused(connection, proxy, "vcpus.guest: the guest's own vCPU count is set in a running domain only (live)",
            config=True, vcpus={"count": 1, "guest": True})


# --- cputune ---------------------------------------------------------------------------------

def test_emulator_and_iothread_pinning_are_set_once(connection, virdomain):
    result = converges(connection, virdomain, [
        "cputune (live): pin the emulator threads to CPUs 0-1", "cputune (live): pin IOThread 2 to CPUs 2,4",
        "cputune (config): pin the emulator threads to CPUs 0-1", "cputune (config): pin IOThread 2 to CPUs 2,4"],
        cputune={"emulatorpin": "0,1", "iothreadpin": {"2": "2,4"}})
    assert virdomain.emulatorPinInfo(LIVE)[:3] == (True, True, False)
    assert dict(virdomain.ioThreadInfo(CONFIG))[2][:5] == [False, False, True, False, True]
    assert result["groups"]["cputune"]["before"]["live"] == {"emulatorpin": "0-7", "iothreadpin": {"2": "0-1"}}
    assert result["groups"]["cputune"]["after"]["live"]["iothreadpin"] == {"2": "2,4"}


def test_vcpu_pinning_sets_only_the_vcpus_that_differ(connection, proxy):
    result = converges(connection, proxy, ["cputune (live): pin vCPU 1 to CPUs 0-3,6",
                                           "cputune (config): pin vCPU 1 to CPUs 0-3,6"],
                       cputune={"vcpupin": {0: "0-7", "1": "0-3,6,^4"}})
    cpumap = (True, True, True, True, False, False, True, False)
    assert ("pinVcpuFlags", 1, cpumap, LIVE) in proxy.calls and ("pinVcpuFlags", 1, cpumap, CONFIG) in proxy.calls
    assert result["groups"]["cputune"]["after"]["config"]["vcpupin"] == {"0": "0-7", "1": "0-3,6"}


def test_offline_vcpus_pins_are_read_from_the_definition(connection):
    virdomain = define(connection, running=False, cpuset=" cpuset='0-5'",
                       cputune="<cputune><vcpupin vcpu='3' cpuset='1-2'/></cputune>")
    try:
        result, actions = run(connection, virdomain, check_mode=True, cputune={"vcpupin": {"2": "0-5", "3": "1,2"}})
        assert actions == []
        pins = result["groups"]["cputune"]["before"]["config"]["vcpupin"]
        assert pins["2"] == "0-5" and pins["3"] == "1-2"
    finally:
        virdomain.undefine()


@pytest.mark.parametrize("cputune, message", [
    ({"emulatorpin": "0-9"}, "cputune.emulatorpin: CPU 8-9 is not a CPU of this host (it has 8: 0-7)"),
    ({"vcpupin": {"0": "1-"}}, "cputune.vcpupin.0: cannot read '1-' as a CPU list"),
    ({"vcpupin": {"x": "1"}}, "cputune.vcpupin: 'x' is not a vCPU number"),
    ({"vcpupin": {"4": "1"}}, "cputune.vcpupin: the live definition of domain"),
    ({"vcpupin": {"9": "1"}}, "has no vCPU 9 (its vCPUs: 0-3)"),
    ({"iothreadpin": {"7": "1"}}, "cputune.iothreadpin: the live definition of domain"),
    ({"iothreadpin": {"0": "1"}}, "cputune.iothreadpin: '0' is not an IOThread number"),
])
def test_bad_pinning_is_refused_with_nothing_changed(connection, virdomain, cputune, message):
    text = refused(connection, virdomain, message, cputune=cputune)
    if "iothreadpin: the live" in message:
        assert text.endswith("has no IOThread 7 (its IOThreads: 1, 2; iothreads.ids adds them)")


def test_a_vcpu_beyond_the_running_ones_can_be_pinned(connection, proxy):
    """QEMU pins an offline vCPU too (rig); vcpuPinInfo shows the current ones only, the definition the others."""
    proxy.enable_vcpus(live={0, 1}, config={0, 1})
    converges(connection, proxy, ["cputune (config): pin vCPU 1 to CPUs 2"], config=True, cputune={"vcpupin": {"1": "2"}})
    result, actions = run(connection, proxy, check_mode=True, cputune={"vcpupin": {"3": "1-2"}})
    assert actions == ["cputune (live): pin vCPU 3 to CPUs 1-2", "cputune (config): pin vCPU 3 to CPUs 1-2"]
    assert result["groups"]["cputune"]["before"]["live"]["vcpupin"]["3"] == "0-7", "unpinned: every host CPU"
    refused(connection, proxy, "cputune.vcpupin: the config definition of domain", config=True,
            cputune={"vcpupin": {"4": "2"}})


# --- iothreads -------------------------------------------------------------------------------

def test_exactly_the_iothreads_listed_exist_afterwards(connection, virdomain):
    result = converges(connection, virdomain, ["iothreads (live): add IOThread 5", "iothreads (live): remove IOThread 1",
                                               "iothreads (config): add IOThread 5", "iothreads (config): remove IOThread 1"],
                       iothreads={"ids": [2, 5]})
    assert sorted(dict(virdomain.ioThreadInfo(LIVE))) == sorted(dict(virdomain.ioThreadInfo(CONFIG))) == [2, 5]
    assert result["groups"]["iothreads"]["before"]["live"] == {"ids": [1, 2]}


@pytest.mark.parametrize("iothreads, message", [
    ({"ids": [1]}, "iothreads.ids: IOThread 2 cannot be removed from the live definition of domain"),
    ({"ids": [0, 1, 2]}, "iothreads.ids: 0 is not an IOThread id (ids start at 1)"),
    ({"ids": [1, 2, 2]}, "iothreads.ids: IOThread 2 is listed more than once"),
    ({"params": {"3": {"thread_pool_max": 2}}}, "iothreads.params: the live definition of domain"),
    ({"ids": [2], "params": {"1": {"thread_pool_max": 2}}}, "has no IOThread 1 (its IOThreads: 2)"),
    ({"params": {"1": {"bogus": 2}}}, "iothreads.params.1: unknown parameter bogus"),
    ({"params": {"1": {"thread_pool_min": 4, "thread_pool_max": 2}}},
     "iothreads.params.1: thread_pool_min 4 is more than thread_pool_max 2"),
    ({"params": {"1": {"thread_pool_max": 0}}}, "iothreads.params.1.thread_pool_max: 0 is out of range"),
    ({"params": {"1": {"poll_grow": "x"}}}, "iothreads.params.1.poll_grow: expected an integer, got 'x'"),
])
def test_bad_iothreads_are_refused_with_nothing_changed(connection, virdomain, iothreads, message):
    text = refused(connection, virdomain, message, iothreads=iothreads)
    if "cannot be removed" in message:
        assert text.endswith("disk vda uses it")


def test_iothread_parameters_polling_live_and_thread_pools_everywhere(connection, proxy, monkeypatch):
    monkeypatch.setattr(connection, "domain_list_get_stats", lambda virdomains, stats, flags=0: [(None, dict(proxy.stats))])
    proxy.stats.update({"iothread.1.poll-max-ns": 32768, "iothread.1.poll-grow": 0, "iothread.1.poll-shrink": 0})
    result = converges(connection, proxy, [
        "iothreads (live): set the polling of IOThread 1: poll_max_ns=1000",
        "iothreads (live): set the thread pool of IOThread 1: thread_pool_max=8",
        "iothreads (config): set the thread pool of IOThread 1: thread_pool_max=8"],
        iothreads={"params": {"1": {"poll_max_ns": 1000, "thread_pool_max": 8, "poll_grow": 0}}})
    assert result["groups"]["iothreads"]["before"]["live"]["params"] == {"1": {"thread_pool_min": -1, "thread_pool_max": -1}}
    assert result["groups"]["iothreads"]["before"]["live"]["polling"] == {"1": {"poll_max_ns": 32768, "poll_grow": 0,
                                                                                "poll_shrink": 0}}
    assert result["groups"]["iothreads"]["after"]["live"]["polling"]["1"]["poll_max_ns"] == 1000
    assert result["pending_restart"] is False, "both definitions have the same thread pool; polling is the running one's"
    assert result["groups"]["iothreads"]["after"]["config"]["params"] == {"1": {"thread_pool_min": -1, "thread_pool_max": 8}}
    assert ("setIOThreadParams", 1, {"thread_pool_max": 8}, CONFIG) in proxy.calls, "no polling values in the config"
    refused(connection, proxy, "iothreads.params: poll_max_ns apply to a running domain only (live)",
            config=True, iothreads={"params": {"1": {"poll_max_ns": 5}}})
    refused(connection, proxy, "iothreads.params.1.thread_pool_max: -1 (the hypervisor's default) cannot be set in "
            "a running domain", iothreads={"params": {"1": {"thread_pool_max": -1}}})
    assert [call for call in proxy.calls if call[0] == "setIOThreadParams"][-1][2] == {"thread_pool_max": 8}


def test_a_new_iothread_gets_its_parameters_in_the_same_task(connection, proxy, monkeypatch):
    monkeypatch.setattr(connection, "domain_list_get_stats", lambda virdomains, stats, flags=0: [(None, dict(proxy.stats))])
    converges(connection, proxy, ["iothreads (config): add IOThread 3",
                                  "iothreads (config): set the thread pool of IOThread 3: thread_pool_min=2"],
              config=True, iothreads={"ids": [1, 2, 3], "params": {3: {"thread_pool_min": 2}}})


# --- scheduler -------------------------------------------------------------------------------

def test_scheduler_values_are_set_where_they_differ(connection, proxy):
    result = converges(connection, proxy, ["scheduler (live): set cpu_shares=2048, vcpu_quota=50000",
                                           "scheduler (config): set cpu_shares=2048, vcpu_period=100000, vcpu_quota=50000"],
                       scheduler={"cpu_shares": 2048, "vcpu_period": 100000, "vcpu_quota": 50000})
    assert proxy.scheduler[LIVE]["vcpu_quota"] == proxy.scheduler[CONFIG]["vcpu_quota"] == 50000
    assert set(result["groups"]["scheduler"]["before"]["live"]) == set(SCHEDULER_KEYS)


@pytest.mark.parametrize("scheduler, message", [
    ({"vcpu_period": 10}, "scheduler.vcpu_period: 10 is out of range (1000..1000000 microseconds)"),
    ({"global_quota": 0}, "scheduler.global_quota: 0 is out of range (-1 for no limit"),
    ({"cpu_shares": 1}, "scheduler.cpu_shares: 1 is out of range (2..262144)"),
])
def test_bad_scheduler_values_are_refused(connection, proxy, scheduler, message):
    refused(connection, proxy, message, scheduler=scheduler)
    assert proxy.calls == []


def test_a_scheduler_key_the_driver_lacks_is_refused(connection, proxy):
    del proxy.scheduler[LIVE]["iothread_quota"]
    refused(connection, proxy, "scheduler: the scheduler of the live definition of domain", scheduler={"iothread_quota": 5000})
    assert proxy.calls == []


def test_the_argument_specs_take_only_the_documented_keys():
    spec = {option: ARGUMENT_SPECS[option] for option in GROUPS}
    result = ArgumentSpecValidator(spec).validate({"scheduler": {"cpu_shares": 10, "bogus": 1}})
    assert any("bogus" in message for message in result.error_messages)
    assert set(ARGUMENT_SPECS["scheduler"]["options"]) == set(SCHEDULER_KEYS)
    assert ArgumentSpecValidator(spec).validate({"vcpus": {"count": 2}, "cputune": {"vcpupin": {"0": "1"}},
                                                 "iothreads": {"ids": [1]}}).error_messages == []


def test_an_iothread_added_by_the_same_task_can_be_pinned(connection, virdomain):
    converges(connection, virdomain, ["iothreads (live): add IOThread 3", "iothreads (config): add IOThread 3",
                                      "cputune (live): pin IOThread 3 to CPUs 4", "cputune (config): pin IOThread 3 to CPUs 4"],
              iothreads={"ids": [1, 2, 3]}, cputune={"iothreadpin": {"3": "4"}})
    assert dict(virdomain.ioThreadInfo(LIVE))[3][:5] == [False, False, False, False, True]
    refused(connection, virdomain, "cputune.iothreadpin: the live definition of domain",
            iothreads={"ids": [2, 3]}, cputune={"iothreadpin": {"1": "4"}})


def test_a_vcpu_added_by_the_same_task_can_be_pinned(connection, proxy):
    converges(connection, proxy, ["vcpus (live): set the vCPU count to 3", "vcpus (config): set the vCPU count to 3",
                                  "cputune (live): pin vCPU 2 to CPUs 5", "cputune (config): pin vCPU 2 to CPUs 5"],
              vcpus={"count": 3}, cputune={"vcpupin": {"2": "5"}})
    converges(connection, proxy, ["vcpus (config): set the maximum to 5 vCPUs", "cputune (config): pin vCPU 4 to CPUs 5"],
              config=True, vcpus={"maximum": 5}, cputune={"vcpupin": {"4": "5"}})
    refused(connection, proxy, "cputune.vcpupin: the config definition of domain", config=True, vcpus={"maximum": 5},
            cputune={"vcpupin": {"5": "5"}})


def test_iothread_scheduling_needs_an_iothread_in_the_running_domain(connection):
    """QEMU keeps no iothread_quota of a domain without IOThreads: it reads back another value (rig)."""
    virdomain = connection.conn.defineXML(XML.format(name=f"tune-cpu-{uuid.uuid4().hex[:8]}", cpuset="", cputune="")
                                          .replace("<iothreads>2</iothreads>", "").replace(" iothread='2'", ""))
    virdomain.create()
    proxy = TuneProxy(virdomain)
    try:
        refused(connection, proxy, "scheduler.iothread_quota: the live definition of domain", scheduler={"iothread_quota": 50000})
        message = refused(connection, proxy, "scheduler.iothread_period", live=True, scheduler={"iothread_period": 5000})
        assert message.endswith("has no IOThread, so libvirt keeps no IOThread scheduling (iothreads.ids adds one)")
        converges(connection, proxy, ["iothreads (live): add IOThread 1", "scheduler (live): set iothread_quota=50000"],
                  live=True, iothreads={"ids": [1]}, scheduler={"iothread_quota": 50000})
        converges(connection, proxy, ["scheduler (config): set iothread_quota=50000"], config=True,
                  scheduler={"iothread_quota": 50000})
    finally:
        virdomain.destroy()
        virdomain.undefine()


def test_pinning_both_definitions_alike_waits_for_no_restart(connection, virdomain):
    """Only the pins asked for are compared: an IOThread only the configuration has is no pending change."""
    virdomain.addIOThread(3, CONFIG)
    result = converges(connection, virdomain, ["cputune (live): pin IOThread 2 to CPUs 4",
                                               "cputune (config): pin IOThread 2 to CPUs 4"], cputune={"iothreadpin": {"2": "4"}})
    assert result["groups"]["cputune"]["after"]["config"] == {"iothreadpin": {"2": "4"}}
    assert result["pending_restart"] is False
