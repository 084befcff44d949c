# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Long libvirt jobs of one domain: the job calls, the one runner, job statistics as one dict shape.

`LongJob` is the one place that runs a long job: either a job a call starts and leaves running
(`run_started`: virDomainBackupBegin, block jobs) or a call that blocks until its job ends, run in
a worker thread (`run_blocking`: migration). Both wait through `_events.Watch.wait_until`, woken by
the job-completed and block-job events (and by the worker's return), with polling of the job
statistics only as a fallback; a job that outlasts its timeout or fails is aborted and the abort
is awaited through the same primitive. The outcome is always one dict (`final_stats`), also
attached to the error (`error.result["job"]`) when the job fails.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Generic, Optional, TypeVar

from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import LibvirtCallError, VirtopsError, WaitTimeout
from ansible_collections.virtops.libvirt.plugins.module_utils._events import JOB_COMPLETED, Deadline, EventKind, JobCompletedEvent, Watch
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag

T = TypeVar("T")

# virDomainJobType, by libvirt's numbering
JOB_TYPE_NAMES: tuple[str, ...] = ("none", "bounded", "unbounded", "completed", "failed", "cancelled")
COMPLETED = 3
ABORT_WAIT = 30.0  # seconds for an aborted job to go away
EVENT_GRACE = 2.0  # seconds the job-completed event may trail a blocking call's return
FALLBACK = 2.0  # the job statistics are re-read this often in case an event is lost


def job_type_name(code: Any) -> Any:
    if isinstance(code, int) and 0 <= code < len(JOB_TYPE_NAMES):
        return JOB_TYPE_NAMES[code]
    return code


def is_running(stats: dict[str, Any]) -> bool:
    """Whether job statistics describe a job still in progress."""
    return stats.get("type") in (1, 2, "bounded", "unbounded")


def _keep_completed() -> int:
    """VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED where libvirt has it (5.x+): reading does not discard the stats."""
    try:
        return flag("VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED")
    except VirtopsError:
        return 0


class JobCalls:
    """The virDomain calls about jobs: statistics, abort, backups (migration and block jobs to come)."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.virdomain = domain.virdomain

    def job_stats(self, completed: bool = False) -> dict[str, Any]:
        """The current job's statistics (with `completed`, the last finished job's, kept for later reads)."""
        flags = flag("VIR_DOMAIN_JOB_STATS_COMPLETED") | _keep_completed() if completed else 0
        stats = dict(self.domain.invoke("read job stats", self.virdomain.jobStats, flags, idempotent=True) or {})
        if "type" in stats:
            stats["type_name"] = job_type_name(stats["type"])
        return stats

    def abort_job(self, what: str = "job") -> None:
        self.domain.invoke(f"abort {what}", self.virdomain.abortJob)

    def backup_begin(self, backup_xml: str, checkpoint_xml: Optional[str]) -> None:
        self.domain.invoke("begin backup", self.virdomain.backupBegin, backup_xml, checkpoint_xml, 0)

    def backup_get_xml_desc(self) -> str:
        return self.domain.invoke("read backup job", self.virdomain.backupGetXMLDesc, 0, idempotent=True)


def final_stats(stats: dict[str, Any], seconds: Optional[float], success: Optional[bool] = None,
                error: Optional[str] = None) -> dict[str, Any]:
    """The one shape of a job's statistics (documented in the modules' RETURN).

    libvirt's own keys stay (`operation`, `time_elapsed`, `disk_*`, `memory_*`, `errmsg`...); on top:
    `type` by name, `success` (None while the job runs), `error`, `seconds` (as measured here) and
    `data_total/processed/remaining` (libvirt's data_* or, for jobs that report only disks, disk_*).
    """
    shaped = {key: value for key, value in stats.items() if key != "type_name"}
    shaped["type"] = job_type_name(stats.get("type", 0))
    if success is None and not is_running(stats):
        success = bool(stats.get("success", stats.get("type") == COMPLETED))
    shaped["success"] = success
    shaped["error"] = error if error is not None else (None if success in (True, None) else stats.get("errmsg"))
    shaped["seconds"] = None if seconds is None else round(seconds, 3)
    for part in ("total", "processed", "remaining"):
        shaped.setdefault(f"data_{part}", stats.get(f"disk_{part}"))
    return shaped


def progress_text(stats: dict[str, Any]) -> str:
    processed = stats.get("data_processed", stats.get("disk_processed", 0))
    total = stats.get("data_total", stats.get("disk_total", "?"))
    if "memory_iteration" in stats:  # a migration re-sends dirtied pages: processed can exceed the total
        return (f"{processed} bytes sent in {stats['memory_iteration']} passes, "
                f"{stats.get('data_remaining', '?')} of {total} bytes still to send")
    return f"{processed} of {total} bytes copied"


def _attach_job(error: VirtopsError, stats: dict[str, Any], seconds: float) -> None:
    """The failed job's final stats travel with its error (into the failed task's result)."""
    reason = error.libvirt_message if isinstance(error, LibvirtCallError) else None
    error.result["job"] = final_stats(stats, seconds, False, reason or error.message)


class _Worker(Generic[T]):
    """A blocking call in a daemon thread; wakes the watch when it returns."""

    def __init__(self, call: Callable[[], T]) -> None:
        self.call = call
        self.value: Optional[T] = None
        self.error: Optional[BaseException] = None
        self.done = threading.Event()

    def start(self, wake: Callable[[], None]) -> None:
        threading.Thread(target=self._run, args=(wake,), name="virtops-job", daemon=True).start()

    def _run(self, wake: Callable[[], None]) -> None:
        try:
            self.value = self.call()
        except BaseException as error:  # pylint: disable=broad-except  # handed to the waiting thread
            self.error = error
        finally:
            self.done.set()
            wake()


class LongJob:
    """One long job of one domain, watched until it ends, aborted when it fails or outlasts `timeout`."""

    def __init__(self, domain: Domain, what: str, timeout: float, disks: tuple[str, ...] = (),
                 fallback: Optional[float] = None) -> None:
        self.domain = domain
        self.calls = JobCalls(domain)
        self.what = what  # "backup", "migration": names the job in messages
        self.timeout = timeout
        self.disks = disks  # block-job events of other disks do not wake the wait
        self.fallback = FALLBACK if fallback is None else fallback
        self.progress: dict[str, Any] = {}
        self._completion: dict[str, Any] = {}
        self.deadline = Deadline(timeout)
        # What a job's owner adds: more events to wake on, and a look at each progress reading
        # (a migration switches to post-copy or tunes itself from there).
        self.events: list[tuple[EventKind, Callable[[Any], None]]] = []
        self.on_progress: Optional[Callable[[dict[str, Any]], None]] = None

    def watch(self) -> Watch:
        def on_completed(event: JobCompletedEvent) -> None:
            self._completion.update(event.stats)

        watch = self.domain.watch().on(JOB_COMPLETED, on_completed).on_block_job(paths=self.disks)
        for kind, callback in self.events:
            watch.on(kind, callback)
        return watch

    def wait_without_deadline(self) -> None:
        """From now on the job runs to its end whatever `timeout` said (a post-copy migration cannot be aborted)."""
        self.deadline.at = float("inf")

    def run_started(self, start: Callable[[], Any]) -> dict[str, Any]:
        """Run `start` (a call that starts the job and returns), wait for the job's end; its final stats."""
        with self.watch() as watch:
            started = time.monotonic()
            self.deadline = Deadline(self.timeout)
            start()
            stats = self._await(watch, self._ended, started)
        return self._verdict(stats, started)

    def run_blocking(self, call: Callable[[], T]) -> tuple[Optional[T], dict[str, Any]]:
        """Run `call` (which blocks until its job ends) in a worker thread; its value and the final stats."""
        worker: _Worker[T] = _Worker(call)
        with self.watch() as watch:
            started = time.monotonic()
            self.deadline = Deadline(self.timeout)
            worker.start(watch.wake)
            self._await(watch, lambda: self._returned(worker), started, worker)
            completion = self._awaited_completion(watch) if worker.error is None else self._completion
            stats = {**completion, **self._completed_stats()}
        if isinstance(worker.error, VirtopsError):
            _attach_job(worker.error, stats, time.monotonic() - started)
        if worker.error is not None:
            raise worker.error
        stats.setdefault("type", COMPLETED)  # the event's statistics name no type: it is the completed job's
        return worker.value, final_stats(stats, time.monotonic() - started, True)

    # --- waiting ------------------------------------------------------------------------------

    def _ended(self) -> Optional[dict[str, Any]]:
        stats = self.calls.job_stats()
        if is_running(stats):
            self._note_progress(stats)
            return None
        # the completed job's stats carry the byte counts; the event's parameters the verdict
        return {**self._completion, **self.calls.job_stats(completed=True)}

    def _returned(self, worker: _Worker[Any]) -> Optional[bool]:
        if worker.done.is_set():
            return True
        try:
            stats = self.calls.job_stats()
        except LibvirtCallError:  # a migrated domain stops and leaves the source before the call returns
            return None  # the worker's return (which wakes this wait) decides the outcome
        if is_running(stats):
            self._note_progress(stats)
        return None

    def _note_progress(self, stats: dict[str, Any]) -> None:
        self.progress = stats
        if self.on_progress is not None:
            self.on_progress(stats)

    def _completed_stats(self) -> dict[str, Any]:
        """The finished job's statistics as the domain keeps them (none when the domain stopped or left, as after a
        migration)."""
        try:
            return self.calls.job_stats(completed=True)
        except LibvirtCallError:
            return {}

    def _awaited_completion(self, watch: Watch) -> dict[str, Any]:
        """The job-completed event's statistics, which may trail the blocking call's return a little."""
        def arrived() -> Optional[bool]:
            return True if self._completion else None

        try:
            watch.wait_until(arrived, EVENT_GRACE, lambda: WaitTimeout("no job-completed event"), fallback=EVENT_GRACE)
        except WaitTimeout:
            pass  # a driver without the event: the kept statistics are all there is
        return dict(self._completion)

    def _await(self, watch: Watch, probe: Callable[[], Optional[T]], started: float,
               worker: Optional[_Worker[Any]] = None) -> T:
        def timed_out() -> WaitTimeout:
            return WaitTimeout(f"domain '{self.domain.name}': the {self.what} did not finish within {self.timeout:g} s "
                               f"({progress_text(self.progress)})", domain=self.domain.name, operation=self.what)

        try:
            return watch.wait_until(probe, self.deadline, timed_out, fallback=self.fallback)
        except WaitTimeout as error:
            error.message = f"{error.message}; {self.abort(watch, worker)}"
            error.args = (error.message,)
            error.result["job"] = final_stats(self.progress, time.monotonic() - started, False, error.message)
            raise

    def abort(self, watch: Watch, worker: Optional[_Worker[Any]] = None) -> str:
        """Abort the job and wait (through the watch) until it is gone; what happened, for messages."""
        try:
            self.calls.abort_job(f"{self.what} job")
        except LibvirtCallError:
            pass  # it ended by itself meanwhile

        def gone() -> Optional[bool]:
            if worker is not None:
                return True if worker.done.is_set() else None
            return None if is_running(self.calls.job_stats()) else True

        def still_running() -> WaitTimeout:
            return WaitTimeout(f"the aborted {self.what} job still runs after {ABORT_WAIT:g} s")

        try:
            watch.wait_until(gone, ABORT_WAIT, still_running, fallback=self.fallback)
        except WaitTimeout as error:
            return error.message
        return "the job was aborted"

    def _verdict(self, stats: dict[str, Any], started: float) -> dict[str, Any]:
        final = final_stats(stats, time.monotonic() - started)
        if not final["success"]:
            message = final["error"] or f"the {self.what} job failed"
            final["error"] = message
            error = LibvirtCallError(f"domain '{self.domain.name}': {self.what} failed: {message}",
                                     domain=self.domain.name, operation=self.what, libvirt_message=message)
            error.result["job"] = final
            raise error
        return final


def end_job(domain: Domain, what: str) -> str:
    """Abort the domain's running job (a pull backup's export) and wait until it is gone."""
    job = LongJob(domain, what, ABORT_WAIT)
    with job.watch() as watch:
        return job.abort(watch)
