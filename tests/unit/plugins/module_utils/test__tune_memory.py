"""domain_tune's memory, memtune and numatune groups on the test driver (test:///default) through TuneRunner:
limits refused before any change, values in bytes, only what differs set, check mode, pending_restart."""

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils import _tune_memory
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, WaitTimeout
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
from ansible_collections.virtops.libvirt.plugins.module_utils._tune import TuneRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._tune_memory import GROUPS, UNLIMITED_KIB, describe_size

from tune_guest import guest_fixture, run_groups

MiB, GiB = 1024 ** 2, 1024 ** 3
GUEST_XML = """<domain type='test'>
  <name>{name}</name>
  <memory unit='GiB'>1</memory>
  <currentMemory unit='MiB'>512</currentMemory>
  <vcpu>2</vcpu>
  <os><type>hvm</type></os>
  <devices><memballoon model='virtio'/></devices>
</domain>"""
LIVE, CONFIG = libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG


guest = guest_fixture(GUEST_XML, "unit-tune-mem")


def run(domain, check_mode=False, **params):
    return run_groups(GROUPS, domain, check_mode, **params)


# --- memory ------------------------------------------------------------------------------------

def test_the_balloon_is_set_live_and_in_config_in_bytes_and_a_second_run_changes_nothing(guest):
    result, actions = run(guest, memory={"current": "768MiB", "maximum": None, "stats_period": None})
    assert actions == ["memory (live): set the memory to 768 MiB", "memory (config): set the memory to 768 MiB"]
    groups = result["groups"]["memory"]
    assert groups["before"]["live"] == {"current": 512 * MiB, "maximum": GiB, "stats_period": 0}
    assert groups["after"] == {"live": {"current": 768 * MiB, "maximum": GiB, "stats_period": 0},
                               "config": {"current": 768 * MiB, "maximum": GiB, "stats_period": 0}}
    assert guest.virdomain.info()[2] == 768 * 1024 and result["pending_restart"] is False
    again, actions = run(guest, memory={"current": "768M"})
    assert actions == [] and again["groups"]["memory"]["before"] == again["groups"]["memory"]["after"]


def test_memory_above_the_maximum_is_refused_naming_the_option_and_nothing_changes(guest):
    with pytest.raises(InvalidArgument, match=r"^memory.current: 2GiB is more than the maximum 1 GiB \(live\)$"):
        run(guest, memory={"current": "2GiB"}, memtune={"soft_limit": "100MiB"})
    assert guest.virdomain.info()[2] == 512 * 1024
    assert guest.virdomain.memoryParameters(LIVE)["soft_limit"] == UNLIMITED_KIB


@pytest.mark.parametrize("size, message", [
    ("lots", "memory.current: cannot read 'lots' as an amount of bytes"),
    ("-1G", "memory.current must not be negative"),
    ("1000", "memory.current: 1000 is not a whole number of KiB"),
    ("0", "memory.current: must be more than 0"),
])
def test_a_bad_size_is_refused_naming_the_option(guest, size, message):
    with pytest.raises(InvalidArgument, match=f"^{message}"):
        run(guest, memory={"current": size})


def test_a_larger_balloon_than_the_live_maximum_is_refused_even_with_a_new_maximum(guest):
    with pytest.raises(InvalidArgument, match=r"^memory.current: 1536MiB is more than the maximum 1 GiB \(live\)$"):
        run(guest, memory={"maximum": "2GiB", "current": "1536MiB"})


def test_a_new_maximum_of_a_running_domain_goes_to_config_only_and_is_pending_restart(guest):
    result, actions = run(guest, memory={"maximum": "2GiB"})
    assert actions == ["memory (config): set the maximum memory to 2 GiB"]
    assert result["pending_restart"] is True
    assert result["groups"]["memory"]["after"]["live"]["maximum"] == GiB
    assert result["groups"]["memory"]["after"]["config"]["maximum"] == 2 * GiB
    assert run(guest, memory={"maximum": "2GiB"})[1] == []


def test_a_new_maximum_asked_for_live_only_is_refused(guest):
    with pytest.raises(InvalidArgument, match=r"^memory.maximum: the maximum memory of running domain .* cannot change live"):
        run(guest, live=True, memory={"maximum": "2GiB"})


def test_a_shutoff_domain_gets_a_higher_maximum_before_a_balloon_that_needs_it(guest):
    result, actions = run(guest, memory={"maximum": "2GiB", "current": "1536MiB", "stats_period": 5})
    assert actions == ["memory (config): set the maximum memory to 2 GiB", "memory (config): set the memory to 1536 MiB",
                       "memory (config): set the memory statistics period to 5 s"]
    assert result["groups"]["memory"]["after"] == {"config": {"current": 1536 * MiB, "maximum": 2 * GiB,
                                                              "stats_period": 5}}
    assert run(guest, memory={"maximum": "2GiB", "current": "1536MiB", "stats_period": 5})[1] == []


def test_a_lower_maximum_of_a_shutoff_domain_lowers_the_balloon_too_in_check_mode_as_libvirt_does(guest):
    result, actions = run(guest, check_mode=True, memory={"maximum": "256MiB"})
    assert actions == ["memory (config): set the maximum memory to 256 MiB"]
    assert result["groups"]["memory"]["after"]["config"] == {"current": 256 * MiB, "maximum": 256 * MiB,
                                                             "stats_period": 0}


def test_check_mode_predicts_the_balloon_and_changes_nothing(guest):
    result, actions = run(guest, check_mode=True, memory={"current": "256MiB", "stats_period": 10})
    assert actions == ["memory (live): set the memory to 256 MiB", "memory (live): set the memory statistics period to 10 s",
                       "memory (config): set the memory to 256 MiB",
                       "memory (config): set the memory statistics period to 10 s"]
    assert result["groups"]["memory"]["after"]["live"] == {"current": 256 * MiB, "maximum": GiB, "stats_period": 10}
    assert guest.virdomain.info()[2] == 512 * 1024


def test_a_balloon_set_in_config_only_on_a_running_domain_is_pending_restart(guest):
    result, actions = run(guest, config=True, memory={"current": "256MiB"})
    assert actions == ["memory (config): set the memory to 256 MiB"] and result["pending_restart"] is True
    assert guest.virdomain.info()[2] == 512 * 1024


def test_describe_size_uses_the_largest_unit_that_divides():
    assert [describe_size(n) for n in (2 * GiB, 1536 * MiB, 1024, 1000)] == ["2 GiB", "1536 MiB", "1 KiB", "1000 bytes"]


# --- memtune -----------------------------------------------------------------------------------

def test_memtune_limits_are_set_where_they_differ_and_read_back_in_bytes(guest):
    result, actions = run(guest, memtune={"hard_limit": "1GiB", "soft_limit": "unlimited", "swap_hard_limit": None})
    assert actions == ["memtune (live): set hard_limit=1 GiB", "memtune (config): set hard_limit=1 GiB"]
    after = result["groups"]["memtune"]["after"]["live"]
    assert after == {"hard_limit": GiB, "soft_limit": "unlimited", "swap_hard_limit": "unlimited"}
    assert guest.virdomain.memoryParameters(CONFIG)["hard_limit"] == 1024 * 1024
    assert run(guest, memtune={"hard_limit": "1024M", "soft_limit": "Unlimited"})[1] == []
    result, actions = run(guest, memtune={"hard_limit": "unlimited"})
    assert result["groups"]["memtune"]["after"]["config"]["hard_limit"] == "unlimited"


def test_memtune_hard_limit_above_swap_hard_limit_is_refused(guest):
    with pytest.raises(InvalidArgument, match=r"^memtune.hard_limit: 2 GiB is more than swap_hard_limit 1 GiB"):
        run(guest, memtune={"hard_limit": "2G", "swap_hard_limit": "1G"})
    assert guest.virdomain.memoryParameters(LIVE)["swap_hard_limit"] == UNLIMITED_KIB


def test_memtune_key_the_hypervisor_does_not_offer_is_refused(guest):
    # the test driver (like QEMU) has no min_guarantee
    with pytest.raises(InvalidArgument, match=r"^memtune.min_guarantee: this hypervisor does not offer it"):
        run(guest, memtune={"min_guarantee": "1G"})


def test_memtune_bad_size_is_refused(guest):
    with pytest.raises(InvalidArgument, match=r"^memtune.soft_limit: cannot read 'much'"):
        run(guest, memtune={"soft_limit": "much"})


def test_memtune_check_mode_predicts(guest):
    result, actions = run(guest, check_mode=True, live=True, memtune={"soft_limit": "512MiB"})
    assert actions == ["memtune (live): set soft_limit=512 MiB"]
    assert result["groups"]["memtune"]["after"]["live"]["soft_limit"] == 512 * MiB
    assert guest.virdomain.memoryParameters(LIVE)["soft_limit"] == UNLIMITED_KIB


# --- numatune ----------------------------------------------------------------------------------

def test_numatune_of_a_shutoff_domain_is_set_and_a_second_run_changes_nothing(guest):
    result, actions = run(guest, numatune={"mode": "interleave", "nodeset": "0,1"})
    assert actions == ["numatune (config): set mode=interleave, nodeset=0-1"]
    assert result["groups"]["numatune"]["after"] == {"config": {"mode": "interleave", "nodeset": "0-1"}}
    assert guest.virdomain.numaParameters(CONFIG) == {"numa_mode": libvirt.VIR_DOMAIN_NUMATUNE_MEM_INTERLEAVE,
                                                      "numa_nodeset": "0-1"}
    assert run(guest, numatune={"mode": "interleave", "nodeset": "0-1"})[1] == []


def test_numatune_nodeset_outside_the_hosts_nodes_is_refused(guest):
    # the test driver's host has NUMA nodes 0 and 1
    with pytest.raises(InvalidArgument, match=r"^numatune.nodeset: NUMA node 5 is not a node of this host \(it has 0-1\)$"):
        run(guest, numatune={"nodeset": "0,5"})


def test_numatune_malformed_nodeset_is_refused(guest):
    with pytest.raises(InvalidArgument, match=r"^numatune.nodeset: cannot read '0-x' as a CPU list"):
        run(guest, numatune={"nodeset": "0-x"})


def test_numatune_mode_without_any_nodeset_is_refused(guest):
    with pytest.raises(InvalidArgument, match=r"^numatune.nodeset: mode preferred needs a nodeset, and domain .* has none"):
        run(guest, numatune={"mode": "preferred"})


def test_numatune_mode_of_a_running_domain_changes_in_config_only(guest):
    result, actions = run(guest, numatune={"mode": "preferred", "nodeset": "0"})
    assert actions == ["numatune (config): set mode=preferred, nodeset=0"] and result["pending_restart"] is True
    assert guest.virdomain.numaParameters(LIVE)["numa_mode"] == libvirt.VIR_DOMAIN_NUMATUNE_MEM_STRICT


def test_numatune_mode_asked_for_live_only_is_refused(guest):
    with pytest.raises(InvalidArgument, match=r"^numatune.mode: running domain .* cannot change its NUMA mode"):
        run(guest, live=True, numatune={"mode": "preferred", "nodeset": "0"})


def test_numatune_nodeset_of_a_running_strict_domain_is_set_live(guest):
    result, actions = run(guest, numatune={"nodeset": "1"})
    assert actions == ["numatune (live): set nodeset=1", "numatune (config): set nodeset=1"]
    assert result["pending_restart"] is False


def test_memtune_set_in_config_only_on_a_running_domain_is_pending_restart(guest):
    # the runner reads the live values, outside the task's scopes, to tell
    result, actions = run(guest, config=True, memtune={"soft_limit": "256MiB"})
    assert actions == ["memtune (config): set soft_limit=256 MiB"] and result["pending_restart"] is True


def test_numatune_set_in_config_only_on_a_running_domain_is_pending_restart(guest):
    result, actions = run(guest, config=True, numatune={"nodeset": "1"})
    assert actions == ["numatune (config): set nodeset=1"] and result["pending_restart"] is True


class SlowBalloon:
    """TuneCalls of a guest whose balloon driver reaches the size asked for only after some reads (QEMU reports the
    balloon as the guest moves it: ~1 s under TCG); `settles=None`: a guest without a balloon driver."""

    def __init__(self, calls, settles=3):
        self.calls, self.settles, self.reads, self.asked = calls, settles, 0, None

    def __getattr__(self, name):
        return getattr(self.calls, name)

    def set_memory_flags(self, kib, flags, what="memory"):
        self.calls.set_memory_flags(kib, flags, what)
        if flags == LIVE:
            self.asked, self.reads = kib, 0

    def info(self):
        found = self.calls.info()
        self.reads += 1
        if self.asked is not None and (self.settles is None or self.reads < self.settles):
            found[2] = 512 * 1024  # the balloon has not moved yet
        return found


def test_a_live_balloon_change_waits_until_the_guest_reached_it(guest):
    runner = TuneRunner(guest, {"live": True, "config": None, "memory": {"current": "256MiB"}}, GROUPS,
                        ChangeRecorder(False))
    runner.target.calls = SlowBalloon(runner.target.calls)
    runner.run()
    assert runner.target.calls.reads >= 3, "the balloon is read until it has the size asked for"


def test_a_balloon_the_guest_does_not_move_is_a_clear_error_after_the_change(guest, monkeypatch):
    monkeypatch.setattr(_tune_memory, "BALLOON_TIMEOUT", 0.3)
    recorder = ChangeRecorder(False)
    runner = TuneRunner(guest, {"live": True, "config": None, "memory": {"current": "256MiB"}}, GROUPS, recorder)
    runner.target.calls = SlowBalloon(runner.target.calls, settles=None)
    with pytest.raises(WaitTimeout, match=r"^memory.current: the guest of domain .* holds 512 MiB 0.3 s after "
                                          r"256 MiB were asked for \(does it run a balloon driver\?\)$"):
        runner.run()
    assert recorder.actions == ["memory (live): set the memory to 256 MiB"], "libvirt did change the balloon's target"


def test_a_live_balloon_change_without_a_balloon_device_is_refused(guest):
    connection = guest.connection
    virdomain = connection.conn.createXML(GUEST_XML.format(name="unit-tune-mem-no-balloon").replace(
        "<memballoon model='virtio'/>", "<memballoon model='none'/>"))
    try:
        domain = Domain(connection, virdomain)
        with pytest.raises(InvalidArgument, match=r"^memory.current: running domain 'unit-tune-mem-no-balloon' has no "
                                                  r"balloon device \(memballoon model none\)"):
            run(domain, memory={"current": "256MiB"})
        with pytest.raises(InvalidArgument, match=r"^memory.stats_period: running domain .* has no balloon device"):
            run(domain, memory={"stats_period": 5})
        assert virdomain.info()[2] == 512 * 1024
    finally:
        virdomain.destroy()
