"""domain_migrate on the real rig: live moves A -> B -> A in every mode, offline and batch moves,
idempotency and check mode, and failures that leave the guest running at the source.

After every move the hosts themselves are asked (rig_env.domain_places) where the guest runs and where
it is defined, and that must agree with the module's result; the guest's agent must answer at the
destination and a file it wrote on its data disk must read back unchanged (page cache dropped, so the
disk itself is read).

One tiny guest serves most tests (module scope); an autouse fixture brings it back to host A, running,
after each test, so the tests do not depend on each other's order. Run under the migration lock:
    flock /tmp/virtops-migrate.lock python3 -m pytest -q tests/integration/test_domain_migrate.py
"""

import json
import os
import re
import subprocess
from types import SimpleNamespace

import libvirt
import pytest

from harness import rig_env, run_module
from test_templates import PASSWORD, production_template

A = rig_env.HOST_A_URI
B = rig_env.HOST_B_URI
PREFIX = f"virtops-mig{os.getpid() % 100000}-"
MOVED_DIR = f"{rig_env.IMAGES_DIR}/{PREFIX}moved"
JOB_SHAPE = {"type", "success", "error", "seconds", "data_total", "data_processed", "data_remaining"}

# One way each; unsafe: the data disk is the same file on both hosts (shared storage libvirt cannot see).
PLAIN = {
    "B": {"uri": A, "dest_uri": B, "migrate_uri": rig_env.MIGRATION_URI_TO_B, "unsafe": True},
    "A": {"uri": B, "dest_uri": A, "migrate_uri": rig_env.MIGRATION_URI_TO_A, "unsafe": True},
}
P2P = {
    "B": {**PLAIN["B"], "p2p": True},
    "A": {**PLAIN["A"], "p2p": True, "peer_uri": rig_env.HOST_A_URI_FROM_B},
}
TUNNELLED = {  # the data goes over the daemons' connection: no migrate_uri
    "B": {"uri": A, "dest_uri": B, "unsafe": True, "p2p": True, "tunnelled": True},
    "A": {"uri": B, "dest_uri": A, "unsafe": True, "p2p": True, "tunnelled": True,
          "peer_uri": rig_env.HOST_A_URI_FROM_B},
}
FLAGS_OF = {"plain": PLAIN, "p2p": P2P, "tunnelled": TUNNELLED}
OTHER = {"A": "B", "B": "A"}


def migrate(name, direction, check_mode=False, **args):
    return run_module("domain_migrate", {"name": name, **direction, **args}, check_mode=check_mode, diff=True)


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


def entry_of(result):
    """The result entry of the single domain of a task (also on failure)."""
    entry = result.get("domain") or (result.get("domains") or [None])[0]
    assert entry is not None, f"no domain entry in the result: {result}"
    return entry


def places(hosts, name):
    return rig_env.domain_places(hosts, name)


def assert_hosts_agree(hosts, name, entry, source, dest):
    """Both hosts' own lists agree with the module's entry (location, state, definitions)."""
    seen = places(hosts, name)
    here, there = (dest, source) if entry["location"] == "destination" else (source, dest)
    assert seen[here] is not None and seen[here][0] == entry["state"], (seen, entry)
    assert entry["defined_at_destination"] == bool(seen[dest] and seen[dest][1]), (seen, entry)
    assert entry["defined_at_source"] == bool(seen[source] and seen[source][1]), (seen, entry)
    assert seen[there] is None or seen[there][0] == "shutoff", f"{name} is active on both hosts: {seen}"
    return seen


def assert_moved(hosts, name, result, to, md5, flags=()):
    """A successful live move to host TO: the hosts agree, the agent answers there, the data is intact."""
    ok(result)
    entry = result["domain"]
    assert result["changed"] and entry["changed"], entry
    assert entry["location"] == "destination" and entry["state"] == "running", entry
    assert entry["failed_step"] is None and entry["error"] is None, entry
    assert entry["defined_at_destination"] is True and entry["defined_at_source"] is False, entry
    seen = assert_hosts_agree(hosts, name, entry, OTHER[to], to)
    assert seen == {to: ("running", True), OTHER[to]: None}, seen
    dom = hosts[to].lookupByName(name)
    rig_env.wait_agent(dom, timeout=30)
    assert rig_env.guest_data_md5(dom) == md5, "the data disk changed during the migration"
    assert {"VIR_MIGRATE_LIVE", *flags} <= set(entry["flags"]), entry["flags"]
    assert JOB_SHAPE <= set(entry["job"]) and entry["job"]["success"] is True, entry["job"]
    assert entry["job"]["type"] == "completed", entry["job"]
    return entry


def assert_failed_cleanly(hosts, guest, result, step, cause_pattern, dom_id, named=None):
    """The task failed at STEP, its msg names the cause and NAMED (default: the guest); the guest still
    runs on A (not restarted, no job left), nothing is on B.

    A failure to connect comes before any domain is looked at: its failed_step is the task's own."""
    assert result.get("failed") is True, result
    assert re.search(cause_pattern, result["msg"], re.IGNORECASE), result["msg"]
    assert (named or guest.name) in result["msg"], result["msg"]
    assert not result["changed"], result
    if step == "connect":
        entry = result
    else:
        entry = entry_of(result)
        assert entry["location"] == "source", entry
        # one domain's failure reads as its own message, not as a batch of one
        assert result["msg"] == entry["msg"] and result["domain"] == entry, result
    assert entry["failed_step"] == step and result["failed_step"] == step, entry
    assert places(hosts, guest.name) == {"A": ("running", True), "B": None}
    dom = hosts["A"].lookupByName(guest.name)
    assert dom.ID() == dom_id, "the guest was restarted"
    assert dom.jobInfo()[0] == libvirt.VIR_DOMAIN_JOB_NONE, "a migration job is left at the source"
    rig_env.wait_agent(dom, timeout=30)
    return entry


@pytest.fixture(scope="module")
def hosts(host_a, host_b):
    return {"A": host_a, "B": host_b}


def new_tiny_guest(two_host_guests, name):
    dom = two_host_guests.create(name, "A")
    return rig_env.write_guest_data(dom)


@pytest.fixture(scope="module")
def guest(two_host_guests):
    """The tiny guest, running on A, with a data file whose md5 is known."""
    name = f"{PREFIX}tiny"
    return SimpleNamespace(name=name, md5=new_tiny_guest(two_host_guests, name))


@pytest.fixture(autouse=True)
def guest_back_on_a(request, hosts):
    """After each test using `guest`: it runs on A again, defined there only (moved back by hand if not).

    A guest the test lost is made anew (so the next tests still run) and this teardown fails."""
    yield
    if "guest" not in request.fixturenames:
        return
    guest = request.getfixturevalue("guest")
    seen = places(hosts, guest.name)
    if seen["B"] and seen["B"][0] != "shutoff":
        dom = hosts["B"].lookupByName(guest.name)
        if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
            dom.resume()
        rig_env.live_migrate(dom, hosts["A"], libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
    elif seen["B"]:
        rig_env.cleanup_domain(hosts["B"], guest.name)
    if places(hosts, guest.name) != {"A": ("running", True), "B": None}:
        guest.md5 = new_tiny_guest(request.getfixturevalue("two_host_guests"), guest.name)
        pytest.fail(f"{guest.name} was lost (on the hosts after the test: {seen}); made anew for the next tests")


# ---------------------------------------------------------------- live round trips
@pytest.mark.parametrize("mode", ["p2p", "tunnelled"])
def test_live_round_trip(hosts, guest, mode):
    expected = ("VIR_MIGRATE_PEER2PEER",) + (("VIR_MIGRATE_TUNNELLED",) if mode == "tunnelled" else ())
    for to in ("B", "A"):
        assert_moved(hosts, guest.name, migrate(guest.name, FLAGS_OF[mode][to]), to, guest.md5, expected)


def test_p2p_home_of_a_guest_an_operator_moved_by_hand(hosts, guest):
    """The guest went to B outside Ansible (virsh migrate); the module brings it home, peer-to-peer."""
    dom = hosts["A"].lookupByName(guest.name)
    rig_env.live_migrate(dom, hosts["B"], libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
    assert places(hosts, guest.name) == {"A": None, "B": ("running", True)}
    assert_moved(hosts, guest.name, migrate(guest.name, P2P["A"]), "A", guest.md5, ("VIR_MIGRATE_PEER2PEER",))


def test_production_template_round_trip_check_mode_and_second_run(hosts, two_host_guests):
    """q35, VNC with autoport and a password, memory in MiB, an uppercase UUID: plain moves with migrate_uri."""
    name = f"{PREFIX}prod"
    uuid = "5E1F0C4A-9B7D-4C2E-8A31-0D6F2B9C7E15"
    disk = rig_env.make_data_disk(rig_env.data_disk_path(name))
    xml = production_template(name, disk, uuid=uuid)
    in_mib = xml.replace("<memory unit='GB'>1</memory>", "<memory unit='MiB'>512</memory>")
    in_mib = in_mib.replace("<currentMemory unit='MiB'>768</currentMemory>", "<currentMemory unit='MiB'>512</currentMemory>")
    assert in_mib.count("unit='MiB'>512<") == 2, "the production template changed: adapt the memory replacement"
    dom = two_host_guests.create(name, "A", xml=in_mib)
    md5 = rig_env.write_guest_data(dom)
    dom_id = dom.ID()
    before = {label: sorted((d.name(), d.ID(), d.state()[0]) for d in conn.listAllDomains() if d.name().startswith(PREFIX))
              for label, conn in hosts.items()}

    predicted = ok(migrate(name, PLAIN["B"], check_mode=True))
    entry = predicted["domain"]
    assert predicted["changed"] and entry["location"] == "destination" and entry["actions"], entry
    assert entry["cpu_check"] in ("identical", "superset"), entry
    assert {label: sorted((d.name(), d.ID(), d.state()[0]) for d in conn.listAllDomains() if d.name().startswith(PREFIX))
            for label, conn in hosts.items()} == before, "check mode changed a host"
    assert dom.ID() == dom_id and dom.jobInfo()[0] == libvirt.VIR_DOMAIN_JOB_NONE

    moved = migrate(name, PLAIN["B"])
    entry = assert_moved(hosts, name, moved, "B", md5)
    assert entry["actions"] == predicted["domain"]["actions"], "check mode predicted other actions"
    assert PASSWORD not in json.dumps(moved) and PASSWORD not in json.dumps(predicted), "the VNC password leaked"
    at_b = hosts["B"].lookupByName(name)
    assert at_b.UUIDString() == uuid.lower()
    assert f"passwd='{PASSWORD}'" in at_b.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE), "the VNC password was lost"
    assert f"passwd='{PASSWORD}'" in at_b.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE | libvirt.VIR_DOMAIN_XML_INACTIVE)

    for check_mode in (True, False):
        again = ok(migrate(name, PLAIN["B"], check_mode=check_mode))
        assert not again["changed"] and again["domain"]["location"] == "destination", again
        assert again["domain"]["actions"] == [], again["domain"]
        assert_hosts_agree(hosts, name, again["domain"], "A", "B")
    assert at_b.ID() == hosts["B"].lookupByName(name).ID(), "the second run touched the guest"

    assert_moved(hosts, name, migrate(name, PLAIN["A"]), "A", md5)


def test_postcopy_after_a_precopy_that_cannot_converge(hosts, guest):
    """1 MiB/s and a guest rewriting 32 MiB of RAM: pre-copy alone would take minutes."""
    postcopy = {"bandwidth": 1, "postcopy": True, "postcopy_after": 3, "timeout": 120}
    rig_env.start_memory_dirtier(hosts["A"].lookupByName(guest.name))
    try:
        for to in ("B", "A"):
            result = migrate(guest.name, PLAIN[to], **postcopy)
            entry = assert_moved(hosts, guest.name, result, to, guest.md5, ("VIR_MIGRATE_POSTCOPY",))
            assert entry["postcopy"] is True, entry
            assert entry["job"]["seconds"] < 60, entry["job"]
    finally:
        dom = hosts["A"].lookupByName(guest.name) if places(hosts, guest.name)["A"] else hosts["B"].lookupByName(guest.name)
        rig_env.stop_memory_dirtier(dom)


def test_copy_storage_to_another_directory_and_back(hosts, guest, two_host_guests):
    """Non-shared storage: the disk is copied to a new, empty image in another directory, and back."""
    original = rig_env.data_disk_path(guest.name)
    moved = two_host_guests.add_file(f"{MOVED_DIR}/{guest.name}-data.qcow2")
    os.makedirs(MOVED_DIR, exist_ok=True)
    size = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", original], capture_output=True,
                                     text=True, check=True).stdout)["virtual-size"]
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", moved, str(size)], check=True)
    storage = {"copy_storage": "all", "unsafe": False}

    entry = assert_moved(hosts, guest.name, migrate(guest.name, PLAIN["B"], disk_paths={original: moved}, **storage),
                         "B", guest.md5, ("VIR_MIGRATE_NON_SHARED_DISK",))
    at_b = hosts["B"].lookupByName(guest.name)
    for flags in (0, libvirt.VIR_DOMAIN_XML_INACTIVE):
        xml = at_b.XMLDesc(flags)
        assert f"<source file='{moved}'" in xml and original not in xml, xml
    assert entry["job"]["data_total"] > 0
    # written at B only: back at A it can only come from the copy
    fresh = rig_env.write_guest_data(at_b, "written-at-b", mib=2)

    assert_moved(hosts, guest.name, migrate(guest.name, PLAIN["A"], disk_paths={moved: original}, **storage),
                 "A", guest.md5, ("VIR_MIGRATE_NON_SHARED_DISK",))
    at_a = hosts["A"].lookupByName(guest.name)
    assert rig_env.guest_data_md5(at_a, "written-at-b") == fresh
    assert f"<source file='{original}'" in at_a.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)


# ---------------------------------------------------------------- offline and batch
def test_offline_migration_of_a_shut_off_definition(hosts, two_host_guests):
    name = f"{PREFIX}off"
    two_host_guests.create(name, "A", start=False, data_disk=False)
    uuid = hosts["A"].lookupByName(name).UUIDString()
    offline = {"uri": A, "dest_uri": B, "mode": "offline"}

    predicted = ok(migrate(name, offline, check_mode=True))
    assert predicted["changed"] and places(hosts, name) == {"A": ("shutoff", True), "B": None}

    entry = ok(migrate(name, offline))["domain"]
    assert entry["changed"] and entry["location"] == "destination" and entry["state"] == "shutoff", entry
    assert entry["defined_at_destination"] is True and entry["defined_at_source"] is False, entry
    assert "VIR_MIGRATE_OFFLINE" in entry["flags"] and "VIR_MIGRATE_LIVE" not in entry["flags"], entry["flags"]
    assert places(hosts, name) == {"A": None, "B": ("shutoff", True)}
    assert_hosts_agree(hosts, name, entry, "A", "B")
    assert hosts["B"].lookupByName(name).UUIDString() == uuid

    again = ok(migrate(name, offline))
    assert not again["changed"] and again["domain"]["location"] == "destination", again


def test_a_batch_of_three_moves_in_one_task(hosts, two_host_guests):
    names = [f"{PREFIX}batch{index}" for index in range(3)]
    for name in names:  # boot all three at once
        two_host_guests.create(name, "A", boot=False, data_disk=False)
    for name in names:
        rig_env.wait_agent(hosts["A"].lookupByName(name), timeout=120)

    result = ok(migrate(names, {"uri": A, "dest_uri": B, "migrate_uri": "tcp://127.0.0.1"}))
    assert result["changed"] and [entry["name"] for entry in result["domains"]] == names
    for name, entry in zip(names, result["domains"]):
        assert entry["changed"] and entry["location"] == "destination" and entry["failed_step"] is None, entry
        assert entry["job"]["success"] is True, entry
        assert places(hosts, name) == {"A": None, "B": ("running", True)}
        assert_hosts_agree(hosts, name, entry, "A", "B")
        rig_env.wait_agent(hosts["B"].lookupByName(name), timeout=30)
    print(f"3 guests moved in {result.seconds:.1f} s")

    again = ok(migrate(names, {"uri": A, "dest_uri": B, "migrate_uri": "tcp://127.0.0.1"}))
    assert not again["changed"] and not any(entry["changed"] for entry in again["domains"]), again


# ---------------------------------------------------------------- failures
def test_destination_daemon_down(hosts, guest):
    dom_id = hosts["A"].lookupByName(guest.name).ID()
    nowhere = "qemu+unix:///system?socket=/run/virtops-rig/no-such-host/libvirt-sock"
    result = migrate(guest.name, {**PLAIN["B"], "dest_uri": nowhere})
    assert_failed_cleanly(hosts, guest, result, "connect", r"cannot connect.*No such file", dom_id, named=nowhere)


def test_name_collision_at_the_destination(hosts, guest, two_host_guests):
    dom_id = hosts["A"].lookupByName(guest.name).ID()
    other = hosts["B"].defineXML(rig_env.guest_xml(guest.name))  # same name, another UUID
    other_uuid = other.UUIDString()
    try:
        assert other_uuid != hosts["A"].lookupByName(guest.name).UUIDString()
        for check_mode in (True, False):
            result = migrate(guest.name, PLAIN["B"], check_mode=check_mode)
            assert result.get("failed") is True, result
            assert guest.name in result["msg"] and re.search(r"exist|collision|already|another", result["msg"]), result
            # the other domain is untouched; the guest still runs at the source
            assert hosts["B"].lookupByName(guest.name).UUIDString() == other_uuid
            assert places(hosts, guest.name) == {"A": ("running", True), "B": ("shutoff", True)}
            assert entry_of(result)["failed_step"] == "check" == result["failed_step"], result
            assert result["msg"] == entry_of(result)["msg"], "one domain's failure reads as its own message"
            assert hosts["A"].lookupByName(guest.name).ID() == dom_id
    finally:
        rig_env.cleanup_domain(hosts["B"], guest.name)


def test_timeout_without_postcopy_aborts_and_leaves_the_guest_at_the_source(hosts, guest):
    dom_id = hosts["A"].lookupByName(guest.name).ID()
    result = migrate(guest.name, PLAIN["B"], bandwidth=1, timeout=3)
    entry = assert_failed_cleanly(hosts, guest, result, "migrate", r"timeout|did not finish|timed out", dom_id)
    assert entry["postcopy"] is False and entry["job"]["success"] is False, entry
    assert result.seconds < 30, result.seconds
    assert rig_env.guest_data_md5(hosts["A"].lookupByName(guest.name)) == guest.md5


def test_a_destination_that_refuses_the_cpu(hosts, guest):
    dom = hosts["A"].lookupByName(guest.name)
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE)
    cpu = re.search(r"<cpu .*?</cpu>", xml, re.DOTALL).group(0)
    needs_avx512 = xml.replace(cpu, "<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64"
                                    "</model><feature policy='require' name='avx512f'/></cpu>")
    for check_mode in (True, False):
        result = migrate(guest.name, PLAIN["B"], check_mode=check_mode, dest_xml=needs_avx512)
        entry = assert_failed_cleanly(hosts, guest, result, "check", r"cpu", dom.ID())
        assert entry["cpu_check"] not in ("identical", "superset"), entry
