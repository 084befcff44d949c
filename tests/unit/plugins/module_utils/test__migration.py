"""_migration and _migration_checks: deciding, checking and converging, without a second host.

The real migrations run on the rig (tests/integration/test_domain_migrate.py); here the fakes of
fake_jobs stand in for the blocking call so the post-copy switch and the tunables can be timed.
"""

import threading
import time
from types import SimpleNamespace

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import ABSENT, DomainState
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import LibvirtCallError
from ansible_collections.virtops.libvirt.plugins.module_utils._jobs import LongJob
from ansible_collections.virtops.libvirt.plugins.module_utils._migration import Convergence, _where
from ansible_collections.virtops.libvirt.plugins.module_utils._migration_calls import MigrationCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._migration_placement import (
    End, MigrationRefused, Placement, already_done_offline, check_collisions, check_cpu, decide)
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder

from fake_jobs import FakeError, FakeVirDomain, fake_domain

TEST_DOMAIN_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"  # the test driver's domain "test"
RUNNING = DomainState("running", "booted")
SHUTOFF = DomainState("shutoff", "destroyed")
GONE = DomainState(ABSENT, "undefined")
HANDLE = SimpleNamespace(name="web01", uuid=TEST_DOMAIN_UUID, virdomain=SimpleNamespace(jobStats=lambda flags: {"type": 0}),
                         invoke=lambda what, call, *args, **kwargs: call(*args))


def end(state, persistent=True):
    return End(None if state is GONE else HANDLE, state, persistent and state is not GONE)


def placement(source, destination):
    return Placement(source, destination)


# --- decide: idempotency and what cannot move ------------------------------------------------------

def test_a_running_domain_at_the_source_must_move():
    assert decide(placement(end(RUNNING), end(GONE)), "web01", offline=False) is None


def test_a_domain_running_at_the_destination_and_gone_from_the_source_is_done():
    assert "destination" in decide(placement(end(GONE), end(RUNNING)), "web01", offline=False)


def test_a_domain_running_at_the_destination_and_shut_off_at_the_source_is_done():
    assert decide(placement(end(SHUTOFF), end(RUNNING)), "web01", offline=False) is not None


def test_a_domain_running_on_both_hosts_is_refused():
    with pytest.raises(MigrationRefused, match="runs at the source and at the destination"):
        decide(placement(end(RUNNING), end(RUNNING)), "web01", offline=False)


def test_a_live_migration_of_a_shut_off_domain_points_to_offline():
    with pytest.raises(MigrationRefused, match="use mode offline"):
        decide(placement(end(SHUTOFF), end(GONE)), "web01", offline=False)


def test_an_offline_migration_of_a_running_domain_points_to_live():
    with pytest.raises(MigrationRefused, match="use mode live"):
        decide(placement(end(RUNNING), end(GONE)), "web01", offline=True)


def test_a_domain_that_is_nowhere_is_refused_naming_it():
    with pytest.raises(MigrationRefused, match="'web01' exists neither at the source"):
        decide(placement(end(GONE), end(GONE)), "web01", offline=False)


def test_an_offline_migration_is_done_when_defined_there_and_gone_here():
    assert decide(placement(end(GONE), end(SHUTOFF)), "web01", offline=True) is not None
    assert already_done_offline(placement(end(GONE), end(SHUTOFF)), undefine_source=True)
    assert not already_done_offline(placement(end(SHUTOFF), end(SHUTOFF)), undefine_source=True)
    assert already_done_offline(placement(end(SHUTOFF), end(SHUTOFF)), undefine_source=False)


def test_where_reports_the_destination_after_a_move_and_predicts_it_in_check_mode():
    moved = _where(placement(end(GONE), end(RUNNING)), False, "live")
    assert moved == {"location": "destination", "state": "running", "defined_at_source": False,
                     "defined_at_destination": True}
    assert _where(placement(end(RUNNING), end(GONE)), False, "live")["location"] == "source"
    assert _where(placement(end(RUNNING), end(GONE)), True, "paused")["state"] == "paused"


# --- destination-side checks -----------------------------------------------------------------------

@pytest.fixture(name="destination")
def destination_fixture():
    with Connection(ConnectionParams(uri="test:///default")) as connection:
        yield connection


def test_a_different_domain_with_the_destination_name_is_a_collision(destination):
    with pytest.raises(MigrationRefused, match="a different domain named 'test'"):
        check_collisions(destination, "web01", "11111111-2222-3333-4444-555555555555", "test")


def test_the_uuid_under_another_name_at_the_destination_is_a_collision(destination):
    with pytest.raises(MigrationRefused, match="belongs to domain 'test'"):
        check_collisions(destination, "web01", TEST_DOMAIN_UUID.upper(), "web01")


def test_the_same_domain_defined_at_the_destination_is_no_collision(destination):
    check_collisions(destination, "test", TEST_DOMAIN_UUID.upper(), "test")


CPU_XML = """<domain type='kvm'><name>db01</name><os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
<cpu mode='custom' match='exact'><model fallback='forbid'>Skylake-Server</model>
<feature policy='require' name='avx512f'/></cpu><devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>"""


class CpuJudge:
    def __init__(self, verdict=None, error=None):
        self.verdict, self.error, self.asked = verdict, error, []

    def compare_hypervisor_cpu(self, cpu_xml, *hypervisor):
        self.asked.append((cpu_xml, hypervisor))
        if self.error:
            raise self.error
        return self.verdict


def test_an_incompatible_cpu_is_refused_naming_model_and_features():
    judge = CpuJudge(verdict=0)
    with pytest.raises(MigrationRefused, match="cannot provide the domain's CPU .model Skylake-Server, requiring avx512f") \
            as refused:
        check_cpu(judge, CPU_XML, "db01")
    assert refused.value.cpu_check == "incompatible"
    cpu_xml, hypervisor = judge.asked[0]
    assert cpu_xml.startswith("<cpu") and hypervisor == ("/usr/bin/qemu-system-x86_64", "x86_64", "pc-q35-7.2", "kvm")


def test_a_compatible_cpu_says_how():
    assert check_cpu(CpuJudge(verdict=2), CPU_XML, "db01") == "superset"
    assert check_cpu(CpuJudge(verdict=1), CPU_XML, "db01") == "identical"


def test_a_cpu_that_cannot_be_compared_is_skipped_with_the_reason():
    assert check_cpu(CpuJudge(), CPU_XML.replace("mode='custom'", "mode='host-passthrough'"), "db01").startswith(
        "skipped: CPU mode host-passthrough")
    assert check_cpu(CpuJudge(), "<domain><name>x</name></domain>", "x").startswith("skipped")
    refused = LibvirtCallError("compare failed", libvirt_message="this function is not supported by the connection driver")
    assert "not supported" in check_cpu(CpuJudge(error=refused), CPU_XML, "db01")


# --- convergence: the post-copy switch and the tunables --------------------------------------------

class MigratingDomain(FakeVirDomain):
    """A migration that never converges by itself: it ends when switched to post-copy (or aborted)."""

    def __init__(self, connection, iterations_every=None, **job):
        super().__init__(connection, **job)
        self.iterations_every = iterations_every
        self.downtime = None

    def migrate3(self, _dconn, _params, _flags):
        if self.iterations_every is not None:
            threading.Thread(target=self._iterate, daemon=True).start()
        return self.blocking_job()

    def _iterate(self):
        iteration = 1
        while not self.ended.wait(self.iterations_every):
            iteration += 1
            self.connection.emit(libvirt.VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION, iteration)

    def migrateStartPostCopy(self, _flags):
        self.calls.append("migrateStartPostCopy")
        threading.Timer(0.05, self.finish).start()

    def migrateSetMaxDowntime(self, downtime, _flags):
        self.calls.append("migrateSetMaxDowntime")
        self.downtime = downtime


def migrating(**fake):
    domain, virdomain = fake_domain()
    virdomain = MigratingDomain(virdomain.connection, **fake)
    domain.virdomain = virdomain
    return domain, virdomain


def converge(domain, timeout=30, **options):
    settings = {"postcopy": False, "postcopy_after": None, "postcopy_after_iterations": None, "max_downtime": None}
    settings.update(options)
    recorder = ChangeRecorder(False)
    calls = MigrationCalls(domain)
    job = LongJob(domain, "migration", timeout, fallback=0.05)
    convergence = Convergence(calls, SimpleNamespace(**settings), job, recorder)
    job.events.append((_iteration_kind(), convergence.on_iteration))
    job.on_progress = convergence.on_progress
    began = time.monotonic()
    _value, stats = job.run_blocking(lambda: calls.migrate3(SimpleNamespace(conn=None), {}, 0))
    return convergence, recorder, stats, time.monotonic() - began


def _iteration_kind():
    from ansible_collections.virtops.libvirt.plugins.module_utils._events import MIGRATION_ITERATION
    return MIGRATION_ITERATION


def test_post_copy_starts_after_the_given_seconds():
    domain, virdomain = migrating()
    convergence, recorder, stats, took = converge(domain, postcopy=True, postcopy_after=0.3)
    assert convergence.switched and "migrateStartPostCopy" in virdomain.calls
    assert 0.3 <= took < 5 and recorder.actions == ["switch to post-copy"]
    assert stats["success"] is True


def test_post_copy_starts_after_the_given_passes_counted_by_events():
    domain, virdomain = migrating(iterations_every=0.1)
    convergence, _recorder, _stats, took = converge(domain, postcopy=True, postcopy_after_iterations=3)
    assert convergence.switched and convergence.iterations >= 4, "3 passes are done when the 4th starts"
    assert took >= 0.25 and virdomain.calls.count("migrateStartPostCopy") == 1


def test_without_post_copy_a_migration_that_does_not_converge_is_aborted_at_the_timeout():
    domain, virdomain = migrating(iterations_every=0.1)
    with pytest.raises(Exception, match="did not finish within 0.5 s.*aborted"):
        converge(domain, timeout=0.5)
    assert "migrateStartPostCopy" not in virdomain.calls and "abortJob" in virdomain.calls


def test_after_the_switch_the_timeout_no_longer_aborts():
    domain, virdomain = migrating()
    virdomain.migrateStartPostCopy = lambda _flags: (virdomain.calls.append("migrateStartPostCopy"),
                                                     threading.Timer(0.6, virdomain.finish).start())
    convergence, _recorder, stats, took = converge(domain, timeout=0.3, postcopy=True, postcopy_after=0.1)
    assert convergence.switched and stats["success"] is True and took >= 0.6
    assert "abortJob" not in virdomain.calls, "a post-copy migration cannot be aborted"


def test_a_refused_switch_is_a_warning_and_the_timeout_still_holds():
    domain, virdomain = migrating()

    def refuse(_flags):
        raise FakeError("Requested operation is not valid: post-copy migration is not enabled")

    virdomain.migrateStartPostCopy = refuse
    with pytest.raises(Exception, match="did not finish"):
        converge(domain, timeout=0.4, postcopy=True, postcopy_after=0.0)


def test_max_downtime_is_set_once_the_job_runs():
    domain, virdomain = migrating()
    threading.Timer(0.3, virdomain.finish).start()
    converge(domain, max_downtime=250)
    assert virdomain.downtime == 250 and virdomain.calls.count("migrateSetMaxDowntime") == 1


class LeavingDomain(MigratingDomain):
    """After a migration the source domain is no longer running: libvirt then refuses its job statistics."""

    def jobStats(self, flags):
        if not self.job_active:
            raise FakeError("Requested operation is not valid: domain is not running")
        return super().jobStats(flags)


def test_a_migration_whose_source_domain_stopped_running_is_a_success():
    domain, virdomain = fake_domain()
    virdomain = LeavingDomain(virdomain.connection)
    domain.virdomain = virdomain
    threading.Timer(0.2, virdomain.finish).start()
    _convergence, _recorder, stats, _took = converge(domain)
    assert stats["success"] is True and stats["type"] == "completed"


def runner(mode="live", persist=True):
    from ansible_collections.virtops.libvirt.plugins.module_utils._migration import MigrationRunner
    options = SimpleNamespace(mode=mode, persist=persist, dest=SimpleNamespace(uri="qemu+ssh://kvm02/system"))
    return MigrationRunner(None, None, options, ChangeRecorder(check_mode=True), 9000000)


def test_after_a_failure_the_copy_at_the_destination_is_removed_only_while_the_source_runs_it():
    keeps = runner()
    message = keeps._clean_up_after(placement(end(RUNNING), end(SHUTOFF)), placement(end(RUNNING), end(GONE)))
    assert keeps.recorder.actions == ["remove the stray domain at the destination"]
    assert "keeps running at the source" in message
    moved = runner()
    message = moved._clean_up_after(placement(end(GONE), end(RUNNING)), placement(end(RUNNING), end(GONE)))
    assert moved.recorder.actions == [], "the one running copy is never removed"
    assert "runs at the destination" in message


def test_the_incoming_domain_of_another_migration_of_the_same_domain_is_never_removed():
    """Two plays migrate one domain at once; the one that failed must not destroy the other's incoming copy."""
    migrating = SimpleNamespace(**{**vars(HANDLE), "virdomain": SimpleNamespace(jobStats=lambda flags: {"type": 2})})
    cleaner = runner()
    message = cleaner._clean_up_after(placement(End(migrating, RUNNING, True), end(SHUTOFF)),
                                      placement(end(RUNNING), end(GONE)))
    assert cleaner.recorder.actions == []
    assert "keeps running at the source" in message


def test_a_domain_that_existed_at_the_destination_before_is_never_removed():
    cleaner = runner()
    cleaner._clean_up_after(placement(end(RUNNING), end(SHUTOFF)), placement(end(RUNNING), end(SHUTOFF)))
    assert cleaner.recorder.actions == []


def test_a_failure_reported_after_the_domain_arrived_counts_as_arrived():
    assert runner()._arrived(placement(end(GONE), end(RUNNING)))
    assert not runner()._arrived(placement(end(RUNNING), end(SHUTOFF)))
    assert not runner()._arrived(placement(end(GONE), end(RUNNING, persistent=False))), "persist was asked"
    assert runner(persist=False)._arrived(placement(end(GONE), end(RUNNING, persistent=False)))
    assert runner(mode="offline")._arrived(placement(end(GONE), end(SHUTOFF)))
