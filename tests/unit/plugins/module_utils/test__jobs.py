"""_jobs.LongJob: a started job and a blocking call, woken by events, aborted on timeout, one result shape."""

import time

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _jobs
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import LibvirtCallError, WaitTimeout
from ansible_collections.virtops.libvirt.plugins.module_utils._jobs import JobCalls, LongJob, final_stats

from fake_jobs import fake_domain

SHAPE = {"type", "success", "error", "seconds", "data_total", "data_processed", "data_remaining"}
LONG_FALLBACK = 30.0  # far longer than any of these tests may take: only an event can end their waits in time


def started_job(virdomain):
    return virdomain.start_job


def test_an_event_wakes_the_wait_of_a_started_job_at_once():
    domain, virdomain = fake_domain(event_after=0.1)
    began = time.monotonic()
    final = LongJob(domain, "backup", timeout=60, fallback=LONG_FALLBACK).run_started(started_job(virdomain))
    assert time.monotonic() - began < 3, "the wait must end with the event, not the fallback poll"
    assert virdomain.connection.delivered == [libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED]
    assert SHAPE <= set(final) and final["type"] == "completed" and final["success"] is True
    assert final["error"] is None and final["data_processed"] == 10 == final["data_total"]
    # raw libvirt keys stay: what only the event carried, too
    assert final["operation"] == libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP and final["disk_total"] == 10
    assert virdomain.connection.registered == {}, "the watch removes its registrations"


def test_a_lost_event_is_made_up_for_by_polling():
    domain, virdomain = fake_domain(polls_until_done=2)
    final = LongJob(domain, "backup", timeout=60, fallback=0.01).run_started(started_job(virdomain))
    assert final["success"] is True and virdomain.connection.delivered == []


def test_a_timeout_aborts_the_job_and_waits_for_the_abort():
    domain, virdomain = fake_domain()
    with pytest.raises(WaitTimeout) as raised:
        LongJob(domain, "backup", timeout=0.2, fallback=LONG_FALLBACK).run_started(started_job(virdomain))
    message = raised.value.message
    assert message == ("domain 'vm': the backup did not finish within 0.2 s (3 of 10 bytes copied); "
                       "the job was aborted")
    assert "abortJob" in virdomain.calls and not virdomain.job_active
    job = raised.value.result["job"]
    assert SHAPE <= set(job) and job["success"] is False and job["error"] == message


def test_an_abort_that_does_not_end_the_job_says_so(monkeypatch):
    monkeypatch.setattr(_jobs, "ABORT_WAIT", 0.2)
    domain, virdomain = fake_domain()
    virdomain.abortJob = lambda: 0  # the job ignores the abort
    with pytest.raises(WaitTimeout, match="; the aborted backup job still runs after 0.2 s"):
        LongJob(domain, "backup", timeout=0, fallback=0.05).run_started(started_job(virdomain))


def test_a_failed_job_gives_the_same_shape_on_the_error():
    domain, virdomain = fake_domain(event_after=0.05, success=False)
    with pytest.raises(LibvirtCallError) as raised:
        LongJob(domain, "backup", timeout=60, fallback=LONG_FALLBACK).run_started(started_job(virdomain))
    assert raised.value.message == "domain 'vm': backup failed: No space left on device"
    job = raised.value.result["job"]
    assert SHAPE <= set(job) and job["type"] == "failed" and job["success"] is False
    assert job["error"] == "No space left on device"


def test_a_blocking_call_runs_in_a_worker_and_its_return_wakes_the_wait():
    domain, virdomain = fake_domain(event_after=0.1)
    began = time.monotonic()
    value, final = LongJob(domain, "migration", timeout=60, fallback=LONG_FALLBACK).run_blocking(
        lambda: virdomain.blocking_job("migrated"))
    assert time.monotonic() - began < 3
    assert value == "migrated" and SHAPE <= set(final) and final["success"] is True and final["type"] == "completed"


def test_a_blocking_call_that_returns_without_an_event_wakes_the_wait_too():
    domain, _virdomain = fake_domain()
    began = time.monotonic()
    value, final = LongJob(domain, "migration", timeout=60, fallback=LONG_FALLBACK).run_blocking(
        lambda: (time.sleep(0.1), 42)[1])
    assert value == 42 and final["success"] is True and time.monotonic() - began < 3


def test_a_blocking_call_that_outlasts_its_timeout_is_aborted_and_awaited():
    domain, virdomain = fake_domain()
    with pytest.raises(WaitTimeout) as raised:
        LongJob(domain, "migration", timeout=0.2, fallback=LONG_FALLBACK).run_blocking(virdomain.blocking_job)
    assert raised.value.message.startswith("domain 'vm': the migration did not finish within 0.2 s (3 of 10 bytes")
    assert raised.value.message.endswith("; the job was aborted")
    assert "abortJob" in virdomain.calls and virdomain.ended.is_set()
    assert raised.value.result["job"]["success"] is False


def test_a_failing_blocking_call_keeps_its_error_and_carries_the_same_shape():
    domain, virdomain = fake_domain(event_after=0.05, success=False)
    with pytest.raises(LibvirtCallError, match="No space left on device") as raised:
        LongJob(domain, "migration", timeout=60, fallback=LONG_FALLBACK).run_blocking(
            lambda: JobCalls(domain).domain.invoke("migrate", virdomain.blocking_job))
    job = raised.value.result["job"]
    assert SHAPE <= set(job) and job["success"] is False and job["error"] == "No space left on device"


def test_final_stats_of_a_running_job_have_no_verdict_yet():
    shaped = final_stats({"type": 2, "type_name": "unbounded", "disk_total": 5, "disk_processed": 1}, None)
    assert shaped["type"] == "unbounded" and shaped["success"] is None and shaped["error"] is None
    assert shaped["data_total"] == 5 and shaped["data_remaining"] is None and "type_name" not in shaped


def test_job_stats_keep_completed_stats_where_libvirt_can():
    domain, virdomain = fake_domain()
    seen = []
    virdomain.jobStats = lambda flags: seen.append(flags) or {"type": 3}
    assert JobCalls(domain).job_stats(completed=True)["type_name"] == "completed"
    assert seen == [libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED | libvirt.VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED]


def test_the_progress_of_a_migration_counts_passes_not_a_fraction_of_the_total():
    # pre-copy sends dirtied pages again: more bytes processed than the guest has
    stats = {"data_total": 268967936, "data_processed": 500593716, "data_remaining": 1048576, "memory_iteration": 7}
    assert _jobs.progress_text(stats) == "500593716 bytes sent in 7 passes, 1048576 of 268967936 bytes still to send"
    assert _jobs.progress_text({"disk_total": 10, "disk_processed": 3}) == "3 of 10 bytes copied"
