"""Load: fifty domains through a whole life cycle in one play, while the inventory reads the host.

One ansible-playbook play, written as a user would (the guests as inventory hosts, Ansible's default
forks, a template; lists of names with `parallel` at its default for start, read and removal),
defines 50 idle guests (idle_guests.py: no kernel, 32 MiB, a blank qcow2 so that an internal
snapshot with memory has somewhere to go), starts them, snapshots each, and removes them with their
snapshots. Meanwhile a thread runs `ansible-inventory --list` on the same host every few seconds,
as a monitoring job or a second operator would.
"""

import json
import os
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import libvirt
import pytest
from ansible_output import plain
from idle_guests import idle_guest_xml, make_blank_disk

from harness import module_environment, rig_env

COUNT = 50
INVENTORY_EVERY = 3.0
JOB_LOCK_MESSAGES = ("cannot acquire state change lock", "timed out during operation", "job lock")

PLAY = """
- name: Fifty guests from definition to removal
  hosts: load_guests
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    ansible_pipelining: true
  module_defaults:
    group/virtops.libvirt.libvirt:
      uri: qemu:///system
  tasks:
    - name: Define each guest from its template
      virtops.libvirt.domain_state:
        xml: "{{ lookup('ansible.builtin.template', 'idle.xml.j2') }}"
        state: present
      register: defined

    - name: Start them all
      virtops.libvirt.domain_state:
        name: "{{ ansible_play_hosts }}"
        state: running
      run_once: true
      register: started

    - name: Snapshot each one
      virtops.libvirt.domain_snapshot:
        name: "{{ inventory_hostname }}"
        snapshot: before-load
      register: snapshotted

    - name: Read back their state and snapshots
      virtops.libvirt.domain_info:
        name: "{{ ansible_play_hosts }}"
        gather: [state, snapshots]
      run_once: true
      register: info

    - name: Every step did what it said
      ansible.builtin.assert:
        that:
          - ansible_play_hosts | map('extract', hostvars, 'defined') | selectattr('changed') | list | length == ansible_play_hosts_all | length
          - started.domains | selectattr('changed') | list | length == ansible_play_hosts_all | length
          - ansible_play_hosts | map('extract', hostvars, 'snapshotted') | selectattr('changed') | list | length == ansible_play_hosts_all | length
          - info.domains | map(attribute='state') | unique == ['running']
          - info.domains | map(attribute='snapshots') | map('length') | min >= 1
      run_once: true

    - name: Remove them with their snapshots
      virtops.libvirt.domain_state:
        name: "{{ ansible_play_hosts }}"
        state: absent
        remove: [snapshots]
      run_once: true
      register: removed

    - name: All of them are gone
      ansible.builtin.assert:
        that: removed.domains | selectattr('changed') | list | length == ansible_play_hosts_all | length
      run_once: true
"""


@dataclass
class InventoryRun:
    at: float  # seconds since the poller started
    seconds: float
    returncode: int
    listed: set = field(default_factory=set)
    existed_before: set = field(default_factory=set)
    existed_after: set = field(default_factory=set)
    stderr: str = ""
    without_stats: int = 0  # domains listed without the stats their QEMU gives (it did not answer in time)


class InventoryPoller(threading.Thread):
    """`ansible-inventory --list` every INVENTORY_EVERY seconds until stopped; what existed around each run."""

    def __init__(self, config, prefix):
        super().__init__(daemon=True)
        self.config, self.prefix = config, prefix
        self.runs = []
        self.stopping = threading.Event()

    def existing(self):
        return on_host_a(lambda conn: {domain.name() for domain in conn.listAllDomains(0)
                                       if domain.name().startswith(self.prefix)})

    def run(self):
        first = time.monotonic()
        while not self.stopping.is_set():
            before = self.existing()
            started = time.monotonic()
            completed = subprocess.run(["ansible-inventory", "-i", str(self.config), "--list"], capture_output=True,
                                       text=True, env=module_environment(), timeout=120, check=False)
            seconds = time.monotonic() - started
            hostvars = plain(json.loads(completed.stdout))["_meta"]["hostvars"] if completed.returncode == 0 else {}
            without_stats = sum(1 for facts in hostvars.values() if "libvirt_stats_error" in facts)
            self.runs.append(InventoryRun(started - first, seconds, completed.returncode, set(hostvars), before,
                                          self.existing(), completed.stderr, without_stats))
            self.stopping.wait(max(0.0, INVENTORY_EVERY - seconds))

    def stop(self):
        self.stopping.set()
        self.join(timeout=150)


def on_host_a(action, patience=30.0):
    """action(conn) on a fresh connection to host A, again on a new one if the daemon restarts meanwhile
    (the fault suite's other files restart it now and then)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn = rig_env.connect(rig_env.HOST_A_URI)
            try:
                return action(conn)
            finally:
                conn.close()
        except (libvirt.libvirtError, RuntimeError):  # RuntimeError: rig_env.connect could not connect
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture
def fifty_guests(rig, tmp_path):
    """Names, blank disks and the play's files; everything left over is removed afterwards."""
    prefix = f"virtops-t{os.getpid() % 10000}-load-"
    names = [f"{prefix}{number:02d}" for number in range(COUNT)]

    def remove_all(conn):
        for name in names:
            rig_env.cleanup_domain(conn, name)

    on_host_a(remove_all)
    for name in names:
        make_blank_disk(name)
    disk_pattern = rig_env.data_disk_path(names[0]).replace(names[0], "{{ inventory_hostname }}")
    (tmp_path / "idle.xml.j2").write_text(idle_guest_xml("{{ inventory_hostname }}", disk=disk_pattern))
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "guests.ini").write_text("[load_guests]\n" + "\n".join(names) + "\n")
    (tmp_path / "load.libvirt.yml").write_text(f"plugin: virtops.libvirt.libvirt\nhosts: [\"{rig.HOST_A_URI}\"]\n"
                                               f"include: [\"{prefix}*\"]\n")
    yield prefix, names, tmp_path
    on_host_a(remove_all)
    for name in names:
        rig_env.remove_data_disk(name)


def test_fifty_domains_through_one_play_while_the_inventory_reads_the_host(fifty_guests):
    """Guarantee: under load (50 domains defined, started, snapshotted and removed by one play, the inventory
    read every 3 s) every task succeeds, every inventory run succeeds and lists the domains that exist, and no
    task or inventory run meets a job-lock timeout."""
    prefix, names, directory = fifty_guests
    poller = InventoryPoller(directory / "load.libvirt.yml", prefix)
    poller.start()
    started = time.monotonic()
    try:
        completed = subprocess.run(["ansible-playbook", "-i", str(directory / "guests.ini"), str(directory / "play.yml")],
                                   capture_output=True, text=True,
                                   env={**module_environment(), "ANSIBLE_LOCALHOST_WARNING": "false"},
                                   timeout=600, check=False)
        play_seconds = time.monotonic() - started
    finally:
        poller.stop()
    output = completed.stdout + completed.stderr
    runs = poller.runs
    slowest = sorted(runs, key=lambda run: run.seconds, reverse=True)[:3]
    print(f"play: {play_seconds:.0f} s for {len(names)} domains; inventory: {len(runs)} runs, slowest "
          f"{', '.join(f'{run.seconds:.1f} s (at {run.at:.0f} s)' for run in slowest)}, "
          f"most listed {max(len(run.listed) for run in runs)}; "
          f"{sum(1 for run in runs if run.without_stats)} runs listed domains without their QEMU's stats")
    assert completed.returncode == 0 and "failed=0" in output, output
    assert "Traceback" not in output and "[WARNING]" not in output, output
    assert not any(text in output.lower() for text in JOB_LOCK_MESSAGES), output
    assert len(runs) >= 5, f"the inventory ran only {len(runs)} times during the play"
    for number, run in enumerate(runs):
        assert run.returncode == 0 and not run.stderr.strip(), f"inventory run {number}: {run.stderr}"
        certain, possible = run.existed_before & run.existed_after, run.existed_before | run.existed_after
        assert certain <= run.listed <= possible, (
            f"inventory run {number} listed {len(run.listed)} domains; {len(certain)} existed throughout, "
            f"{len(possible)} at some point: missing {sorted(certain - run.listed)}, extra {sorted(run.listed - possible)}")
    assert any(len(run.listed) == len(names) for run in runs), "no inventory run saw all the domains"


@contextmanager
def stopped_qemu_guest(rig, suffix):
    """A running idle guest whose QEMU is stopped with SIGSTOP until the block ends: it answers no monitor
    command, as a QEMU stuck on storage or saving an internal snapshot does not."""
    name = f"virtops-t{os.getpid() % 10000}-load-{suffix}"
    conn = rig.connect(rig.HOST_A_URI)
    rig_env.cleanup_domain(conn, name)
    domain = conn.defineXML(idle_guest_xml(name))
    domain.create()
    with open(f"/run/libvirt/qemu/{name}.pid", encoding="ascii") as pidfile:
        qemu_pid = int(pidfile.read())
    os.kill(qemu_pid, signal.SIGSTOP)
    try:
        yield name, domain
    finally:
        os.kill(qemu_pid, signal.SIGCONT)
        on_host_a(lambda fresh: rig_env.cleanup_domain(fresh, name))
        _quietly(conn.close)


@pytest.fixture
def busy_guest(rig):
    """A domain whose job another client holds: a memory-stats call waits on its stopped QEMU until the
    fixture ends."""
    with stopped_qemu_guest(rig, "busy") as (name, domain):
        holder = threading.Thread(target=_quietly, args=(domain.memoryStats,), daemon=True)
        holder.start()
        time.sleep(0.5)  # the call has taken the job and waits for the monitor
        yield name
    holder.join(timeout=30)


@pytest.fixture
def silent_guest(rig):
    """A domain whose QEMU answers nothing while its job is free: libvirt lets a stats query take the job
    and wait for the QEMU (as it does while the QEMU saves an internal snapshot, whose job allows queries)."""
    with stopped_qemu_guest(rig, "silent") as (name, _domain):
        yield name


def _quietly(call):
    try:
        call()
    except libvirt.libvirtError:
        pass  # the daemon may have been restarted meanwhile (other fault tests)


def list_one_guest(directory, name, options=""):
    """`ansible-inventory --list` of host A with only `name` included: its hostvars and the seconds it took,
    after checking that it succeeded without a warning and listed that guest alone."""
    config = directory / "one.libvirt.yml"
    config.write_text(f"plugin: virtops.libvirt.libvirt\nhosts: [\"{rig_env.HOST_A_URI}\"]\ninclude: [\"{name}\"]\n"
                      f"{options}")
    started = time.monotonic()
    completed = subprocess.run(["ansible-inventory", "-i", str(config), "--list"], capture_output=True, text=True,
                               env=module_environment(), timeout=120, check=False)
    seconds = time.monotonic() - started
    assert completed.returncode == 0 and not completed.stderr.strip(), completed.stderr
    hostvars = plain(json.loads(completed.stdout))["_meta"]["hostvars"]
    assert list(hostvars) == [name], hostvars
    return hostvars, seconds


def test_the_inventory_does_not_wait_for_a_domain_whose_job_another_client_holds(busy_guest, tmp_path):
    """Guarantee: a domain whose job another client holds (a long start, snapshot or stats call) does not stall
    the inventory: the host is listed at once, that domain with the stats that need no job."""
    hostvars, seconds = list_one_guest(tmp_path, busy_guest)
    print(f"inventory with a domain whose job is held: {seconds:.1f} s")
    assert hostvars[busy_guest]["libvirt_state"] == "running", hostvars
    assert seconds < 10, f"{seconds:.1f} s: the inventory waited for the held job"


def test_the_inventory_lists_a_domain_whose_qemu_does_not_answer_without_the_stats_only_its_qemu_gives(
        silent_guest, tmp_path):
    """Guarantee: a QEMU that answers nothing (saving an internal snapshot of a large guest takes minutes) does
    not cost its host the inventory: within the timeout the domain is listed with its state, without the stats
    groups its QEMU would give, and libvirt_stats_error says why."""
    hostvars, seconds = list_one_guest(tmp_path, silent_guest, "timeout: 3\n")
    print(f"inventory with a QEMU that does not answer: {seconds:.1f} s (timeout: 3)")
    facts = hostvars[silent_guest]
    assert facts["libvirt_state"] == "running" and facts["libvirt_stats_error"] == "no answer in time", facts
    assert "balloon" not in facts["libvirt_stats"], facts["libvirt_stats"]
