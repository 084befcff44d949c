"""domain_tune on the real rig: vCPU hot-plug, balloon, memtune, pinning, IOThreads, scheduler, bandwidth, perf
events, tags found by the inventory; second runs unchanged, check mode changes nothing, bad input refused.

Each test boots its own tiny guest (guest_name; no data disk). Values are read back with virsh, as an operator
would. What libvirt 9.0 / QEMU 7.2 (TCG) do on this host is written down in /work/helpers/TUNE-RIG-FACTS.md;
the ones these tests rely on:
- a hot-plugged vCPU shows up in the guest's /sys at once but stays offline (no udev in the guest): the agent
  (vcpus.guest) brings it online. Hot-UNplug times out under TCG, so no test lowers a running count.
- this host's kernel has neither the sfq qdisc nor the police action: libvirt cannot shape a running NIC, only
  the persistent definition takes bandwidth (on an `ethernet` NIC; a `user` NIC takes none). The bandwidth test
  reads /proc/config.gz to know which of the two it must see.
- software perf events (task_clock...) can be enabled; hardware ones (cpu_cycles) cannot.
- the host has CPUs 0-1 and one NUMA node (0).
"""

import gzip
import hashlib
import json
import os
import re
import subprocess
import time

import libvirt
import pytest
from ansible_output import plain

from harness import module_environment, rig_env, run_module

URI = rig_env.HOST_A_URI
TAGS_NAMESPACE = "https://virtops.example.org/xmlns/tags/1.0"
NIC_MAC = "52:54:00:7a:13:01"
CONFIG_XML = libvirt.VIR_DOMAIN_XML_INACTIVE


# --- running the module and reading back with virsh -------------------------------------------------------------


def tune(dom, check_mode=False, **args):
    return run_module("domain_tune", {"uri": URI, "name": dom.name(), **args}, check_mode=check_mode, diff=True)


def ok(result):
    """The result of a task that must succeed and change something."""
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True, result
    return result


def unchanged(result):
    """The result of a task run a second time: nothing to do."""
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False and not result.get("actions"), result
    return result


def predicted(dom, **args):
    """Check mode first: it must report changes and change nothing; returns its result to compare with the real run."""
    before = definitions(dom)
    check = tune(dom, check_mode=True, **args)
    assert not check.get("failed"), check.get("msg")
    assert check["changed"] is True and check["actions"], check
    assert definitions(dom) == before, "check mode changed nothing"
    return check


def as_predicted(result, check):
    """A real run does what its check mode said: the same actions, the same values after."""
    ok(result)
    assert result["actions"] == check["actions"]
    assert result["groups"] == check["groups"], (result["groups"], check["groups"])
    assert result["diff"] == check["diff"]
    return result


def virsh_out(*args):
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, check=True).stdout


def virsh(*args):
    """virsh's `key : value` lines as a dict of texts."""
    pairs = (line.split(":", 1) for line in virsh_out(*args).splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def vcpucount(dom):
    """`virsh vcpucount`: {"maximum config": 2, "current live": 1, ...}."""
    counts = {}
    for line in virsh_out("vcpucount", dom.name()).splitlines():
        words = line.split()
        if len(words) == 3:
            counts[f"{words[0]} {words[1]}"] = int(words[2])
    return counts


def table(*args):
    """A two-column virsh table (vcpupin, iothreadinfo) as {first column: second column}."""
    rows = {}
    for line in virsh_out(*args).splitlines():
        words = line.split()
        if len(words) == 2 and words[0].isdigit():
            rows[words[0]] = words[1]
    return rows


def dommemstat(dom):
    """`virsh dommemstat`: {"actual": 262144, ...} (KiB)."""
    return {words[0]: int(words[1]) for words in map(str.split, virsh_out("dommemstat", dom.name()).splitlines())
            if len(words) == 2}


def emulatorpin(dom, *flags):
    return virsh_out("emulatorpin", dom.name(), *flags).split("*:", 1)[1].strip()


def definitions(dom):
    """The running and the persistent definition, to show that nothing changed."""
    return dom.XMLDesc(0), dom.XMLDesc(CONFIG_XML)


def guest_text(dom, path):
    return rig_env.guest_shell(dom, f"cat {path}").strip()


def wait_guest_text(dom, path, wanted, timeout=20):
    """Poll a file in the guest until it reads WANTED (the guest handles ACPI events on its own time)."""
    deadline = time.monotonic() + timeout
    while True:
        text = guest_text(dom, path)
        if text == wanted or time.monotonic() > deadline:
            return text
        time.sleep(0.5)


def guest_mem_total_kib(dom):
    return int(re.search(r"MemTotal:\s+(\d+)", guest_text(dom, "/proc/meminfo")).group(1))


@pytest.fixture
def boot(host_a, guest_name):
    """Start this test's guest (rig_env.guest_xml keyword arguments) and wait until its agent answers."""
    def start(**xml_kwargs):
        dom = rig_env.define_guest(host_a, guest_name, data_disk=False, **xml_kwargs)
        rig_env.wait_agent(dom, timeout=180)
        return dom
    return start


# --- vCPUs -------------------------------------------------------------------------------------------------------


def test_a_hot_plugged_vcpu_appears_in_the_guest_and_the_agent_brings_it_online(boot):
    dom = boot(vcpus=1, max_vcpus=2)
    check = predicted(dom, vcpus={"count": 2})
    assert check["groups"]["vcpus"]["after"]["live"]["count"] == 2 and vcpucount(dom)["current live"] == 1

    result = as_predicted(tune(dom, vcpus={"count": 2}), check)
    assert result["groups"]["vcpus"]["before"]["live"]["count"] == 1
    assert result["groups"]["vcpus"]["after"]["live"]["count"] == 2
    assert result["pending_restart"] is False
    counts = vcpucount(dom)
    assert (counts["current live"], counts["current config"], counts["maximum live"]) == (2, 2, 2)
    assert wait_guest_text(dom, "/sys/devices/system/cpu/present", "0-1") == "0-1"
    assert guest_text(dom, "/sys/devices/system/cpu/online") == "0", "no udev in the guest: plugged, not online"
    unchanged(tune(dom, vcpus={"count": 2}))

    check = predicted(dom, vcpus={"count": 2, "guest": True})
    as_predicted(tune(dom, vcpus={"count": 2, "guest": True}), check)
    assert wait_guest_text(dom, "/sys/devices/system/cpu/online", "0-1") == "0-1"
    assert virsh_out("vcpucount", dom.name(), "--guest").strip() == "2"
    unchanged(tune(dom, vcpus={"count": 2, "guest": True}))


def test_online_vcpus_that_would_unplug_the_boot_vcpu_are_refused_with_nothing_changed(boot):
    """QEMU cannot unplug the vCPUs a guest booted with (libvirt: "vcpu '0' can't be unplugged"). Until the first
    hot-plug, the running definition has no <vcpus> list saying so: vCPU 0 is still not hot-pluggable."""
    dom = boot(vcpus=1, max_vcpus=2)
    before = definitions(dom)
    result = tune(dom, vcpus={"count": 1, "online": "1"})
    assert result["failed"] and result["changed"] is False, result
    assert "vcpus.online" in result["msg"] and "0" in result["msg"], result["msg"]
    assert definitions(dom) == before and vcpucount(dom)["current live"] == 1


def test_a_new_maximum_of_a_running_guest_waits_for_the_next_boot(boot):
    dom = boot(vcpus=1, max_vcpus=2)
    check = predicted(dom, vcpus={"maximum": 4})
    result = as_predicted(tune(dom, vcpus={"maximum": 4}), check)
    counts = vcpucount(dom)
    assert (counts["maximum config"], counts["maximum live"], counts["current live"]) == (4, 2, 1)
    assert result["pending_restart"] is True
    unchanged(tune(dom, vcpus={"maximum": 4}))


# --- memory ------------------------------------------------------------------------------------------------------


def test_memory_is_ballooned_down_and_up_and_the_guest_sees_it(boot):
    dom = boot(memory_mib=256)
    total = guest_mem_total_kib(dom)
    check = predicted(dom, memory={"current": "200MiB"})
    assert dommemstat(dom)["actual"] == 262144

    as_predicted(tune(dom, memory={"current": "200MiB"}), check)
    assert dommemstat(dom)["actual"] == 204800 and dom.info()[2] == 204800
    assert guest_mem_total_kib(dom) <= total - 50 * 1024, "the balloon took 56 MiB from the guest"
    assert "<currentMemory unit='KiB'>204800</currentMemory>" in dom.XMLDesc(CONFIG_XML)
    unchanged(tune(dom, memory={"current": "200MiB"}))

    check = predicted(dom, memory={"current": "256MiB"})
    as_predicted(tune(dom, memory={"current": "256MiB"}), check)
    assert dommemstat(dom)["actual"] == 262144
    assert guest_mem_total_kib(dom) == total
    unchanged(tune(dom, memory={"current": "256MiB"}))


def test_the_balloon_statistics_period_is_set_in_both_definitions(boot):
    dom = boot()
    check = predicted(dom, memory={"stats_period": 2})
    as_predicted(tune(dom, memory={"stats_period": 2}), check)
    for flags in (0, CONFIG_XML):
        assert "<stats period='2'/>" in dom.XMLDesc(flags), flags
    unchanged(tune(dom, memory={"stats_period": 2}))


def test_the_numa_nodeset_of_a_running_guest_is_set_without_touching_its_mode(boot):
    """libvirt refuses any numa_mode in a live call ("can't change nodeset for strict mode for running domain"),
    even the mode the domain has: the module must send the nodeset alone."""
    dom = boot()
    numatune = {"mode": "strict", "nodeset": "0"}
    check = predicted(dom, numatune=numatune)
    as_predicted(tune(dom, numatune=numatune), check)
    for flags in (["--live"], ["--config"]):
        shown = virsh("numatune", dom.name(), *flags)
        assert (shown["numa_mode"], shown["numa_nodeset"]) == ("strict", "0"), (flags, shown)
    unchanged(tune(dom, numatune=numatune))


def test_memtune_limits_are_set_and_read_back(boot):
    dom = boot()
    wanted = {"hard_limit": "1GiB", "soft_limit": "512MiB"}
    check = predicted(dom, memtune=wanted)
    assert virsh("memtune", dom.name())["hard_limit"] == "unlimited"
    as_predicted(tune(dom, memtune=wanted), check)
    for flags in ([], ["--config"]):
        shown = virsh("memtune", dom.name(), *flags)
        assert (shown["hard_limit"], shown["soft_limit"]) == ("1048576", "524288"), (flags, shown)
    unchanged(tune(dom, memtune=wanted))


def test_min_guarantee_which_qemu_does_not_have_is_refused_clearly_with_nothing_changed(boot):
    dom = boot()
    before = definitions(dom)
    result = tune(dom, memtune={"hard_limit": "1GiB", "min_guarantee": "64MiB"})
    assert result["failed"] and result["changed"] is False, result
    assert "min_guarantee" in result["msg"] and dom.name() in result["msg"]
    assert definitions(dom) == before


# --- pinning, IOThreads, scheduler -------------------------------------------------------------------------------


def test_vcpus_and_the_emulator_are_pinned_live_and_in_the_definition(boot):
    dom = boot(vcpus=2)
    cputune = {"vcpupin": {"0": "1", "1": "0"}, "emulatorpin": "0"}
    check = predicted(dom, cputune=cputune)
    assert table("vcpupin", dom.name()) == {"0": "0-1", "1": "0-1"}

    as_predicted(tune(dom, cputune=cputune), check)
    for flags in ([], ["--config"]):
        assert table("vcpupin", dom.name(), *flags) == {"0": "1", "1": "0"}, flags
        assert emulatorpin(dom, *flags) == "0", flags
    unchanged(tune(dom, cputune=cputune))


def test_an_iothread_is_added_and_pinned_in_one_task_then_removed(boot):
    dom = boot()
    task = {"iothreads": {"ids": [1]}, "cputune": {"iothreadpin": {"1": "1"}}}
    check = predicted(dom, **task)
    as_predicted(tune(dom, **task), check)
    for flags in ([], ["--config"]):
        assert table("iothreadinfo", dom.name(), *flags) == {"1": "1"}, flags
    unchanged(tune(dom, **task))

    check = predicted(dom, iothreads={"ids": []})
    assert table("iothreadinfo", dom.name()) == {"1": "1"}
    as_predicted(tune(dom, iothreads={"ids": []}), check)
    assert dom.ioThreadInfo(libvirt.VIR_DOMAIN_AFFECT_LIVE) == []
    assert dom.ioThreadInfo(libvirt.VIR_DOMAIN_AFFECT_CONFIG) == []
    assert table("iothreadinfo", dom.name()) == {}
    unchanged(tune(dom, iothreads={"ids": []}))


def test_cpu_shares_and_quota_are_set_live_and_in_the_definition(boot):
    dom = boot()
    scheduler = {"cpu_shares": 2048, "vcpu_quota": 50000}
    check = predicted(dom, scheduler=scheduler)
    assert virsh("schedinfo", dom.name())["cpu_shares"] == "1024"

    as_predicted(tune(dom, scheduler=scheduler), check)
    for flags in (["--live"], ["--config"]):
        shown = virsh("schedinfo", dom.name(), *flags)
        assert (shown["cpu_shares"], shown["vcpu_quota"]) == ("2048", "50000"), (flags, shown)
    unchanged(tune(dom, scheduler=scheduler))


# --- bandwidth, perf events --------------------------------------------------------------------------------------


def ethernet_nic(name):
    """A virtio NIC on a tap that libvirt makes itself (no network, nothing sent anywhere): unlike a `user` NIC,
    it takes bandwidth. The tap's name must be unique (tests of several people run at once)."""
    tap = "vt" + hashlib.sha256(name.encode()).hexdigest()[:10]
    return (f"<interface type='ethernet'><mac address='{NIC_MAC}'/><target dev='{tap}' managed='yes'/>"
            "<model type='virtio'/></interface>"), tap


def kernel_can_shape():
    """Whether libvirt can shape a running NIC here: its tc commands need the sfq qdisc (inbound) and the police
    action (outbound). This rig's kernel has neither (and no modules)."""
    try:
        with gzip.open("/proc/config.gz", "rt") as handle:
            config = handle.read()
    except OSError:
        return True  # not known: expect it to work
    return all(re.search(rf"^{option}=[ym]$", config, re.M) for option in ("CONFIG_NET_SCH_SFQ", "CONFIG_NET_ACT_POLICE"))


def test_bandwidth_goes_into_the_definition_and_live_shaping_works_or_fails_clearly(boot, guest_name):
    nic, tap = ethernet_nic(guest_name)
    dom = boot(extra_devices=nic)
    bandwidth = [{"interface": NIC_MAC, "inbound": {"average": 1000, "burst": 64}, "outbound": {"average": 500}}]
    check = predicted(dom, live=False, config=True, interface_bandwidth=bandwidth)
    assert virsh("domiftune", dom.name(), NIC_MAC, "--config")["inbound.average"] == "0"

    result = as_predicted(tune(dom, live=False, config=True, interface_bandwidth=bandwidth), check)
    shown = virsh("domiftune", dom.name(), NIC_MAC, "--config")
    assert (shown["inbound.average"], shown["inbound.burst"], shown["outbound.average"]) == ("1000", "64", "500")
    assert result["pending_restart"] is True, "the running NIC is not shaped"
    unchanged(tune(dom, live=False, config=True, interface_bandwidth=bandwidth))

    live = [{"interface": tap, "inbound": {"average": 1000}}]
    if kernel_can_shape():
        ok(tune(dom, live=True, config=False, interface_bandwidth=live))
        assert virsh("domiftune", dom.name(), tap)["inbound.average"] == "1000"
        unchanged(tune(dom, live=True, config=False, interface_bandwidth=live))
        return
    before = definitions(dom)
    other = [{"interface": NIC_MAC, "inbound": {"average": 2000}}]
    result = tune(dom, interface_bandwidth=other)
    assert result["failed"] and result["changed"] is False, result
    assert definitions(dom) == before, "the running NIC fails first: the definition keeps its bandwidth"

    result = tune(dom, live=True, config=False, interface_bandwidth=live)
    assert result["failed"] and result["changed"] is False, result
    assert dom.name() in result["msg"] and "sfq" in result["msg"], result["msg"]
    assert virsh("domiftune", dom.name(), tap)["inbound.average"] == "0"
    assert definitions(dom) == before


def test_a_software_perf_event_is_enabled_and_a_hardware_one_fails_clearly(boot):
    dom = boot()
    check = predicted(dom, perf_events={"task_clock": True})
    assert virsh("perf", dom.name())["task_clock"] == "disabled"
    as_predicted(tune(dom, perf_events={"task_clock": True}), check)
    for flags in ([], ["--config"]):
        assert virsh("perf", dom.name(), *flags)["task_clock"] == "enabled", flags
    unchanged(tune(dom, perf_events={"task_clock": True}))

    before = definitions(dom)
    result = tune(dom, perf_events={"cpu_cycles": True})
    assert result["failed"] and result["changed"] is False, result
    assert "cpu_cycles" in result["msg"] and dom.name() in result["msg"], result["msg"]
    assert definitions(dom) == before
    assert virsh("perf", dom.name())["cpu_cycles"] == "disabled"


def test_a_shut_off_guest_gets_its_maximum_lifecycle_actions_and_a_new_name(host_a, guest_name):
    dom = rig_env.define_guest(host_a, guest_name, data_disk=False, start=False, max_vcpus=2)
    new_name = f"{guest_name}-renamed"
    try:
        task = {"vcpus": {"maximum": 4}, "lifecycle": {"on_crash": "preserve", "on_reboot": "destroy"},
                "rename": new_name}
        check = predicted(dom, **task)
        result = as_predicted(tune(dom, **task), check)
        assert result["pending_restart"] is False
        renamed = host_a.lookupByName(new_name)
        xml = renamed.XMLDesc(CONFIG_XML)
        assert "<on_crash>preserve</on_crash>" in xml and "<on_reboot>destroy</on_reboot>" in xml
        assert renamed.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_VCPU_MAXIMUM) == 4
        assert guest_name not in [d.name() for d in host_a.listAllDomains()]
        result = run_module("domain_tune", {"uri": URI, "name": new_name, "rename": new_name,
                                            "vcpus": {"maximum": 4}, "lifecycle": task["lifecycle"]})
        unchanged(result)
    finally:
        rig_env.cleanup_domain(host_a, new_name)


# --- metadata and the inventory ----------------------------------------------------------------------------------


def inventory(tmp_path, name):
    config = tmp_path / "tune.libvirt.yml"
    config.write_text(f"""
plugin: virtops.libvirt.libvirt
hosts:
  - uri: {URI}
    name: host-a
include: ["{name}"]
metadata: true
""")
    completed = subprocess.run(["ansible-inventory", "-i", str(config), "--list"], capture_output=True, text=True,
                               env=module_environment(), timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    return plain(json.loads(completed.stdout))


def test_tags_set_by_a_task_group_the_guest_in_the_next_inventory(boot, tmp_path):
    dom = boot()
    metadata = {"title": "tuned by virtops", "tags": ["web", "tunerig"]}
    check = predicted(dom, metadata=metadata)
    assert "libvirt_tag_web" not in inventory(tmp_path, dom.name())

    as_predicted(tune(dom, metadata=metadata), check)
    for flags in ([], ["--config"]):
        element = virsh_out("metadata", dom.name(), "--uri", TAGS_NAMESPACE, *flags).strip()
        assert re.fullmatch(r"<tags>(.*)</tags>", element), element
        assert re.split(r"[\s,]+", element[len("<tags>"):-len("</tags>")].strip()) == ["web", "tunerig"]
    assert virsh_out("desc", dom.name(), "--title").strip() == "tuned by virtops"
    groups = inventory(tmp_path, dom.name())
    assert groups["libvirt_tag_web"]["hosts"] == [dom.name()]
    assert groups["libvirt_tag_tunerig"]["hosts"] == [dom.name()]
    assert groups["_meta"]["hostvars"][dom.name()]["libvirt_metadata"]["tags"] == ["web", "tunerig"]
    unchanged(tune(dom, metadata=metadata))


# --- bad input: refused before anything changes ------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_guest(host_a):
    """One running guest (vCPUs 1 of 2, 256 MiB) for the refusals, which must leave it as it is."""
    name = f"virtops-tune-bad-{os.getpid() % 10000}"
    rig_env.cleanup_domain(host_a, name)
    dom = rig_env.define_guest(host_a, name, data_disk=False, max_vcpus=2)
    rig_env.wait_agent(dom, timeout=180)
    yield dom
    rig_env.cleanup_domain(host_a, name)


@pytest.mark.parametrize("args, named", [
    ({"vcpus": {"count": 3}}, ["vcpus.count", "3", "maximum 2"]),
    ({"vcpus": {"count": 2, "guest": True}}, ["vcpus.count"]),
    ({"scheduler": {"cpu_shares": 2048, "cpu_weight": 5}}, ["Unsupported parameters", "scheduler.cpu_weight"]),
    ({"cputune": {"vcpupin": {"0": "0-"}}}, ["cputune.vcpupin", "0-"]),
    ({"cputune": {"emulatorpin": "1,x"}}, ["cputune.emulatorpin", "1,x"]),
    ({"cputune": {"vcpupin": {"0": "0-7"}}}, ["cputune.vcpupin", "2"]),
    ({"cputune": {"vcpupin": {"0": "1"}, "emulatorpin": "zero"}}, ["cputune.emulatorpin"]),
    ({"memory": {"current": "1GiB"}}, ["memory.current"]),
    ({"memory": {"current": "200MiB"}, "vcpus": {"count": 3}}, ["vcpus.count"]),
    ({"numatune": {"nodeset": "1"}, "live": False, "config": True}, ["numatune.nodeset", "1"]),
    ({"iothreads": {"ids": [0]}}, ["iothreads.ids"]),
    ({"cputune": {"iothreadpin": {"5": "0"}}}, ["cputune.iothreadpin", "5"]),
    ({"interface_bandwidth": [{"interface": "52:54:00:00:00:99", "inbound": {"average": 100}}]},
     ["52:54:00:00:00:99"]),
    # QEMU's driver refuses on_reboot=destroy together with on_poweroff=restart, in whichever order they are set
    ({"lifecycle": {"on_poweroff": "restart", "on_reboot": "destroy"}}, ["on_reboot", "on_poweroff"]),
    # ... and preserve on power-off or reboot (on_crash may preserve: set first, it must not stay alone)
    ({"lifecycle": {"on_crash": "preserve", "on_poweroff": "preserve"}}, ["on_poweroff", "preserve"]),
], ids=["too-many-vcpus", "guest-count-above-running", "unknown-scheduler-key", "malformed-cpu-range",
        "malformed-cpu-list", "cpu-outside-host", "malformed-after-valid-group", "memory-above-maximum",
        "second-group-refused-first-untouched", "numa-node-outside-host", "iothread-id-zero", "missing-iothread",
        "unknown-interface", "lifecycle-qemu-refuses", "lifecycle-preserve-on-poweroff"])
def test_bad_input_fails_clearly_with_nothing_changed(shared_guest, args, named):
    dom = shared_guest
    before = definitions(dom)
    memory = dom.info()[2]
    result = tune(dom, **args)
    # Ansible's own argument check (an unknown key) fails before the module runs: its result has no "changed".
    assert result["failed"] and result.get("changed", False) is False, result
    for text in named:
        assert text in result["msg"], (text, result["msg"])
    assert definitions(dom) == before
    assert dom.info()[2] == memory and vcpucount(dom)["current live"] == 1
