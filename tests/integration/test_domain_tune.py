"""domain_tune on the real rig: vCPU hot-plug, balloon, memtune, pinning, IOThreads, scheduler, bandwidth, perf
events, tags found by the inventory; second runs unchanged, check mode changes nothing, bad input refused.

Each test boots its own tiny guest (guest_name; no data disk). Values are read back with virsh, as an operator
would. What libvirt 9.0 / QEMU 7.2 (TCG) do on this host is written down in /work/helpers/TUNE-RIG-FACTS.md;
the ones these tests rely on:
- a hot-plugged vCPU shows up in the guest's /sys at once but stays offline (no udev in the guest): the agent
  (vcpus.guest) brings it online. Hot-UNplug times out under TCG, so no test lowers a running count.
- this host's kernel has neither the sfq qdisc nor the police action: libvirt cannot shape a running NIC, only
  the persistent definition takes bandwidth (on an `ethernet` NIC; a `user` NIC takes none).
- software perf events (task_clock...) can be enabled; hardware ones (cpu_cycles) cannot.
- the host has CPUs 0-1 and one NUMA node (0).
"""

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
    before = definitions(dom)
    check = tune(dom, check_mode=True, vcpus={"count": 2})
    assert check["changed"] is True and not check.get("failed"), check
    assert check["groups"]["vcpus"]["after"]["live"]["count"] == 2
    assert definitions(dom) == before and vcpucount(dom)["current live"] == 1

    result = ok(tune(dom, vcpus={"count": 2}))
    assert result["groups"]["vcpus"]["before"]["live"]["count"] == 1
    assert result["groups"]["vcpus"]["after"]["live"]["count"] == 2
    assert result["pending_restart"] is False
    counts = vcpucount(dom)
    assert (counts["current live"], counts["current config"], counts["maximum live"]) == (2, 2, 2)
    assert wait_guest_text(dom, "/sys/devices/system/cpu/present", "0-1") == "0-1"
    assert guest_text(dom, "/sys/devices/system/cpu/online") == "0", "no udev in the guest: plugged, not online"
    unchanged(tune(dom, vcpus={"count": 2}))

    result = ok(tune(dom, vcpus={"count": 2, "guest": True}))
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
    result = ok(tune(dom, vcpus={"maximum": 4}))
    counts = vcpucount(dom)
    assert (counts["maximum config"], counts["maximum live"], counts["current live"]) == (4, 2, 1)
    assert result["pending_restart"] is True
    unchanged(tune(dom, vcpus={"maximum": 4}))


# --- memory ------------------------------------------------------------------------------------------------------


def test_memory_is_ballooned_down_and_up_and_the_guest_sees_it(boot):
    dom = boot(memory_mib=256)
    total = guest_mem_total_kib(dom)
    check = tune(dom, check_mode=True, memory={"current": "200MiB"})
    assert check["changed"] is True and not check.get("failed"), check
    assert dommemstat(dom)["actual"] == 262144

    ok(tune(dom, memory={"current": "200MiB"}))
    assert dommemstat(dom)["actual"] == 204800 and dom.info()[2] == 204800
    assert guest_mem_total_kib(dom) <= total - 50 * 1024, "the balloon took 56 MiB from the guest"
    assert "<currentMemory unit='KiB'>204800</currentMemory>" in dom.XMLDesc(CONFIG_XML)
    unchanged(tune(dom, memory={"current": "200MiB"}))

    ok(tune(dom, memory={"current": "256MiB"}))
    assert dommemstat(dom)["actual"] == 262144
    assert guest_mem_total_kib(dom) == total
    unchanged(tune(dom, memory={"current": "256MiB"}))


def test_memtune_limits_are_set_and_read_back(boot):
    dom = boot()
    wanted = {"hard_limit": "1GiB", "soft_limit": "512MiB"}
    check = tune(dom, check_mode=True, memtune=wanted)
    assert check["changed"] is True and virsh("memtune", dom.name())["hard_limit"] == "unlimited"
    ok(tune(dom, memtune=wanted))
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
    before = definitions(dom)
    check = tune(dom, check_mode=True, cputune=cputune)
    assert check["changed"] is True and not check.get("failed"), check
    assert definitions(dom) == before and table("vcpupin", dom.name()) == {"0": "0-1", "1": "0-1"}

    ok(tune(dom, cputune=cputune))
    for flags in ([], ["--config"]):
        assert table("vcpupin", dom.name(), *flags) == {"0": "1", "1": "0"}, flags
        assert emulatorpin(dom, *flags) == "0", flags
    unchanged(tune(dom, cputune=cputune))


def test_an_iothread_is_added_and_pinned_in_one_task_then_removed(boot):
    dom = boot()
    task = {"iothreads": {"ids": [1]}, "cputune": {"iothreadpin": {"1": "1"}}}
    before = definitions(dom)
    check = tune(dom, check_mode=True, **task)
    assert check["changed"] is True and not check.get("failed"), check
    assert definitions(dom) == before

    ok(tune(dom, **task))
    for flags in ([], ["--config"]):
        assert table("iothreadinfo", dom.name(), *flags) == {"1": "1"}, flags
    unchanged(tune(dom, **task))

    check = tune(dom, check_mode=True, iothreads={"ids": []})
    assert check["changed"] is True and table("iothreadinfo", dom.name()) == {"1": "1"}
    ok(tune(dom, iothreads={"ids": []}))
    assert dom.ioThreadInfo(libvirt.VIR_DOMAIN_AFFECT_LIVE) == []
    assert dom.ioThreadInfo(libvirt.VIR_DOMAIN_AFFECT_CONFIG) == []
    assert table("iothreadinfo", dom.name()) == {}
    unchanged(tune(dom, iothreads={"ids": []}))


def test_cpu_shares_and_quota_are_set_live_and_in_the_definition(boot):
    dom = boot()
    scheduler = {"cpu_shares": 2048, "vcpu_quota": 50000}
    check = tune(dom, check_mode=True, scheduler=scheduler)
    assert check["changed"] is True and not check.get("failed"), check
    assert virsh("schedinfo", dom.name())["cpu_shares"] == "1024"

    ok(tune(dom, scheduler=scheduler))
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


def test_bandwidth_goes_into_the_definition_and_live_shaping_fails_clearly_on_this_kernel(boot, guest_name):
    nic, tap = ethernet_nic(guest_name)
    dom = boot(extra_devices=nic)
    bandwidth = [{"interface": NIC_MAC, "inbound": {"average": 1000, "burst": 64}, "outbound": {"average": 500}}]
    check = tune(dom, check_mode=True, live=False, config=True, interface_bandwidth=bandwidth)
    assert check["changed"] is True and not check.get("failed"), check
    assert virsh("domiftune", dom.name(), NIC_MAC, "--config")["inbound.average"] == "0"

    result = ok(tune(dom, live=False, config=True, interface_bandwidth=bandwidth))
    shown = virsh("domiftune", dom.name(), NIC_MAC, "--config")
    assert (shown["inbound.average"], shown["inbound.burst"], shown["outbound.average"]) == ("1000", "64", "500")
    assert result["pending_restart"] is True, "the running NIC is not shaped"
    unchanged(tune(dom, live=False, config=True, interface_bandwidth=bandwidth))

    before = definitions(dom)
    live = [{"interface": tap, "inbound": {"average": 1000}}]
    result = tune(dom, live=True, config=False, interface_bandwidth=live)
    assert result["failed"] and result["changed"] is False, result
    assert dom.name() in result["msg"] and "sfq" in result["msg"], result["msg"]
    assert virsh("domiftune", dom.name(), tap)["inbound.average"] == "0"
    assert definitions(dom) == before


def test_a_software_perf_event_is_enabled_and_a_hardware_one_fails_clearly(boot):
    dom = boot()
    check = tune(dom, check_mode=True, perf_events={"task_clock": True})
    assert check["changed"] is True and virsh("perf", dom.name())["task_clock"] == "disabled"
    ok(tune(dom, perf_events={"task_clock": True}))
    for flags in ([], ["--config"]):
        assert virsh("perf", dom.name(), *flags)["task_clock"] == "enabled", flags
    unchanged(tune(dom, perf_events={"task_clock": True}))

    before = definitions(dom)
    result = tune(dom, perf_events={"cpu_cycles": True})
    assert result["failed"] and result["changed"] is False, result
    assert "cpu_cycles" in result["msg"] and dom.name() in result["msg"], result["msg"]
    assert definitions(dom) == before
    assert virsh("perf", dom.name())["cpu_cycles"] == "disabled"


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
    check = tune(dom, check_mode=True, metadata=metadata)
    assert check["changed"] is True and not check.get("failed"), check
    assert "libvirt_tag_web" not in inventory(tmp_path, dom.name())

    ok(tune(dom, metadata=metadata))
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
], ids=["too-many-vcpus", "guest-count-above-running", "unknown-scheduler-key", "malformed-cpu-range",
        "malformed-cpu-list", "cpu-outside-host", "malformed-after-valid-group", "memory-above-maximum",
        "second-group-refused-first-untouched", "numa-node-outside-host", "iothread-id-zero", "missing-iothread",
        "unknown-interface"])
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
