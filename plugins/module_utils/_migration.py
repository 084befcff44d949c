# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Migrating domains to another host: the runner behind domain_migrate.

For each domain (`_targets.run_each`, up to `parallel` at once, one destination connection shared):
read where it is at both ends, stop if the migration happened already, run the destination-side
checks (collisions, CPU, the request against the daemons' libvirt), then one planned step, the
migration, run as a `_jobs.LongJob` (a blocking call in a worker thread, woken by libvirt's job
and migration-iteration events). `Convergence` switches it to post-copy when pre-copy takes too
long. A failure is followed by a look at both ends: a stray domain at the destination is removed,
and the result says where the domain is and which step failed.
"""

from __future__ import annotations

import time
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, redact_uri
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import LibvirtCallError, VirtopsError
from ansible_collections.virtops.libvirt.plugins.module_utils._events import MIGRATION_ITERATION, MigrationIterationEvent
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag
from ansible_collections.virtops.libvirt.plugins.module_utils._jobs import JobCalls, LongJob
from ansible_collections.virtops.libvirt.plugins.module_utils._migration_calls import MigrationCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._migration_placement import (
    MigrationRefused, Placement, already_done_offline, check_collisions, check_cpu, decide)
from ansible_collections.virtops.libvirt.plugins.module_utils._migration_options import MigrationOptions
from ansible_collections.virtops.libvirt.plugins.module_utils._migration_request import DomainXmls, MigrationRequest
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
from ansible_collections.virtops.libvirt.plugins.module_utils._targets import Target, failure_entry, run_each

PROGRESS_INTERVAL = 0.5  # seconds between progress readings when a post-copy switch is due by time
POSTCOPY_FAILED = ("postcopy_failed", "postcopy")


def run_migrations(source: Connection, options: MigrationOptions, targets: list[Target], check_mode: bool,
                   parallel: int, warnings: Optional[list[str]] = None) -> list[dict[str, Any]]:
    """Migrate each target (see the module's documentation); one result entry each, in order."""
    if warnings is not None:
        warnings.extend(options.warnings)
    destination = Connection(options.dest)
    try:
        destination.open()
    except VirtopsError as error:
        error.result["failed_step"] = "connect"
        error.message = f"cannot connect to the destination {redact_uri(options.dest.uri or '')}: {error.message}"
        error.args = (error.message,)
        raise
    with destination:
        version = min(source.lib_version(), destination.lib_version())

        def migrate(target: Target, recorder: ChangeRecorder) -> dict[str, Any]:
            return MigrationRunner(source, destination, options, recorder, version).run(target.label)

        return run_each(targets, migrate, check_mode, parallel, failure_entry, warnings)


class Convergence:
    """Watches a running migration: applies the tunables once its job exists, switches to post-copy when due."""

    def __init__(self, calls: MigrationCalls, options: MigrationOptions, job: LongJob, recorder: ChangeRecorder) -> None:
        self.calls, self.options, self.job, self.recorder = calls, options, job, recorder
        self.started = time.monotonic()
        self.iterations = 0
        self.tuned = False
        self.switched = False

    def on_iteration(self, event: MigrationIterationEvent) -> None:
        self.iterations = max(self.iterations, event.iteration)

    def on_progress(self, stats: dict[str, Any]) -> None:
        self.iterations = max(self.iterations, int(stats.get("memory_iteration") or 0))
        if not self.tuned:
            self.tuned = True
            self._tune()
        if self.options.postcopy and not self.switched and self._switch_due():
            self._switch()

    def _tune(self) -> None:
        if self.options.max_downtime is None:
            return
        try:
            self.calls.migrate_set_max_downtime(self.options.max_downtime)
        except LibvirtCallError as error:
            self.recorder.warn(f"max_downtime was not applied: {error.message}")

    def _switch_due(self) -> bool:
        """After postcopy_after seconds or postcopy_after_iterations passes (by default after the first pass).

        libvirt numbers the passes from 1 as each one starts, so N passes are done when pass N+1 starts.
        """
        after, passes = self.options.postcopy_after, self.options.postcopy_after_iterations
        if after is not None and time.monotonic() - self.started >= after:
            return True
        if passes is not None or after is None:
            return self.iterations >= (passes if passes is not None else 1) + 1
        return False

    def _switch(self) -> None:
        try:
            self.recorder.perform("switch to post-copy", self.calls.migrate_start_post_copy)
        except LibvirtCallError as error:  # it may have converged meanwhile
            self.recorder.warn(f"the switch to post-copy was refused: {error.message}")
            return
        self.switched = True
        self.job.wait_without_deadline()  # post-copy cannot be aborted: it runs to its end


class MigrationRunner:
    """One domain's migration from the source to the destination."""

    def __init__(self, source: Connection, destination: Connection, options: MigrationOptions,
                 recorder: ChangeRecorder, daemon_version: int) -> None:
        self.source, self.destination, self.options = source, destination, options
        self.recorder = recorder
        self.daemon_version = daemon_version
        self.dest_label = redact_uri(options.dest.uri or "")
        self.convergence: Optional[Convergence] = None

    @property
    def offline(self) -> bool:
        return self.options.mode == "offline"

    def run(self, name: str) -> dict[str, Any]:
        dest_name = self.options.dest_name or name
        before = Placement.read(self.source, self.destination, name, dest_name)
        if self.options.postcopy_resume:
            return self._resume(name, before)
        done = decide(before, name, self.offline)
        if done is None and self.offline and already_done_offline(before, self.options.undefine_source):
            done = "it is defined at the destination"
        if done is not None:
            return self._entry(name, before, before, cpu_check=f"skipped: {done}")
        domain = before.source.domain
        try:
            check_collisions(self.destination, name, domain.uuid, dest_name)
            xmls = self._xmls(domain, before)
            cpu_check = "skipped: offline" if self.offline else \
                check_cpu(self.destination, self.options.dest_xml or xmls.live, name)  # what will run there
            request = self.options.request(xmls, self.daemon_version)
        except VirtopsError as error:
            raise self._failed(error, name, "check", before)
        settings = self._settings(domain) if before.source.running else {}
        if self.options.postcopy:
            self.recorder.may_perform("switch to post-copy (when pre-copy has not finished in time)")
        job = self._perform(name, domain, request, before)
        return self._entry(name, before, self._after(before, domain), cpu_check=cpu_check, request=request,
                           settings=settings, job=job)

    def _resume(self, name: str, before: Placement) -> dict[str, Any]:
        """A post-copy migration that failed after the switch: the domain is at both ends, paused; no checks apply."""
        if not (before.source.exists and before.source.state.reason in POSTCOPY_FAILED):
            raise MigrationRefused(f"domain '{name}' has no failed post-copy migration to resume (it is "
                                   f"{before.source.state.state}, {before.source.state.reason}, at the source)",
                                   domain=name)
        domain = before.source.domain
        request = self.options.request(self._xmls(domain, before), self.daemon_version)
        job = self._perform(name, domain, request, before, resuming=True)
        return self._entry(name, before, self._after(before, domain), cpu_check="skipped: resuming", request=request,
                           job=job)

    def _after(self, before: Placement, domain: Domain) -> Placement:
        """Where the domain is after the step (in check mode nothing moved: where it was)."""
        if self.recorder.check_mode:
            return before
        return Placement.read_by_uuid(self.source, self.destination, domain.uuid)

    # --- steps -----------------------------------------------------------------------------------

    def _perform(self, name: str, domain: Domain, request: MigrationRequest, before: Placement,
                 resuming: bool = False) -> dict[str, Any]:
        """The plan's one step, the migration; after a failure, a look at both ends (and a cleanup)."""
        action = f"{request.summary()} to {self.dest_label}"
        job: dict[str, Any] = {}
        try:
            self.recorder.perform(action, lambda: job.update(self._migrate(domain, request)))
        except VirtopsError as error:
            if resuming or self.switched:
                raise self._failed(error, name, "postcopy", before, self._postcopy_verdict(domain))
            try:
                now = Placement.read_by_uuid(self.source, self.destination, domain.uuid)
            except VirtopsError as unreadable:  # e.g. the destination's daemon died: the migration's error still counts
                raise self._failed(error, name, "migrate", before,
                                   f"where the domain is now could not be read: {unreadable.message}") from None
            if self._arrived(now):
                # libvirt reported an error, but the domain is where the task wants it: say so, do not undo it
                self.recorder.perform(action, lambda: None)
                self.recorder.warn(f"libvirt reported an error, yet the migration completed: {error.message}")
                return error.result.get("job") or {}
            raise self._failed(error, name, "migrate", before, self._clean_up_after(now, before))
        return job

    def _arrived(self, now: Placement) -> bool:
        """The domain is at the destination as asked (running, or defined for offline) and no longer runs here."""
        if now.source.running:
            return False
        there = now.destination.persistent if self.offline else now.destination.running
        return there and (now.destination.persistent or not self.options.persist)

    def _xmls(self, domain: Domain, placement: Placement) -> DomainXmls:
        secure = flag("VIR_DOMAIN_XML_SECURE") | flag("VIR_DOMAIN_XML_MIGRATABLE")
        live = domain.xml_desc(secure) if placement.source.running else None
        inactive = domain.xml_desc(secure | flag("VIR_DOMAIN_XML_INACTIVE")) if placement.source.persistent else None
        return DomainXmls(live, inactive)

    def _settings(self, domain: Domain) -> dict[str, Any]:
        calls = MigrationCalls(domain)
        readings = {"max_downtime": calls.migrate_get_max_downtime, "max_speed": calls.migrate_get_max_speed,
                    "postcopy_max_speed": lambda: calls.migrate_get_max_speed(postcopy=True),
                    "compression_cache": calls.migrate_get_compression_cache}
        settings: dict[str, Any] = {}
        for key, read in readings.items():
            try:
                settings[key] = read()
            except LibvirtCallError:
                settings[key] = None  # not available for this domain (no xbzrle capability, ...)
        return settings

    def _migrate(self, domain: Domain, request: MigrationRequest) -> dict[str, Any]:
        calls = MigrationCalls(domain)
        if self.options.p2p:
            def call() -> Any:
                return calls.migrate_to_uri3(self.options.peer, request.params, request.flags)
        else:
            def call() -> Any:
                return calls.migrate3(self.destination, request.params, request.flags)
        if self.offline:  # a definition moves at once: there is no job to watch
            call()
            return {}
        fast = self.options.postcopy and self.options.postcopy_after is not None
        job = LongJob(domain, "migration", self.options.timeout, fallback=PROGRESS_INTERVAL if fast else None)
        self.convergence = Convergence(calls, self.options, job, self.recorder)
        job.events.append((MIGRATION_ITERATION, self.convergence.on_iteration))
        job.on_progress = self.convergence.on_progress
        _value, stats = job.run_blocking(call)
        return stats

    def _clean_up_after(self, now: Placement, before: Placement) -> str:
        """After a failed migration (before any switch to post-copy): where the domain is now.

        A domain the migration left at the destination is removed, but only while the source still
        holds the domain (running, or for offline defined), so the one copy that runs is never touched,
        and only when no other migration of it runs: that one's incoming domain is not ours to remove.
        """
        source, destination = now.source, now.destination
        holds = source.running or (self.offline and source.persistent)
        if holds and destination.exists and not before.destination.exists and not _has_job(source.domain):
            stray = destination.domain
            self.recorder.perform("remove the stray domain at the destination", lambda: _remove(stray))
        if source.running:
            return f"the domain keeps running at the source ({source.state.state})"
        if destination.running:
            return f"the domain runs at the destination ({destination.state.state}), but not as asked"
        return f"the domain is {source.state.state} at the source and {destination.state.state} at the destination"

    @property
    def switched(self) -> bool:
        return self.convergence is not None and self.convergence.switched

    def _postcopy_verdict(self, domain: Domain) -> str:
        ends = [("source", domain), ("destination", Domain.find(self.destination, uuid=domain.uuid))]
        where = [f"{state.state} ({state.reason}) at the {label}" for label, end in ends if end is not None
                 for state in [end.state()] if state.active]
        return ("it failed after the switch to post-copy, which cannot be rolled back: the guest's memory is split "
                f"between the hosts; the domain is {' and '.join(where) or 'not running'}. Resume it with "
                "postcopy_resume: true and the same options, or destroy it")

    # --- results ---------------------------------------------------------------------------------

    def _failed(self, error: VirtopsError, name: str, step: str, before: Placement, state: str = "") -> VirtopsError:
        message = f"domain '{name}': {_without_name(error.message, name)}" + (f"; {state}" if state else "")
        entry = failure_entry(Target(name, None), self.recorder, message, {
            "name": name, "uuid": before.source.domain.uuid if before.source.exists else None,
            "location": "source", "failed_step": step, "postcopy": self.switched, "job": error.result.get("job"),
            "cpu_check": getattr(error, "cpu_check", None)})
        error.result["domain"] = entry
        return error

    def _entry(self, name: str, before: Placement, after: Placement, cpu_check: str,
               request: Optional[MigrationRequest] = None, settings: Optional[dict[str, Any]] = None,
               job: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        predicted = self.recorder.check_mode and self.recorder.changed
        here = _where(after, predicted, self.options.mode)
        return {
            "name": name,
            "uuid": before.source.domain.uuid if before.source.exists else None,
            "dest_name": self.options.dest_name or name,
            **here,
            "postcopy": self.switched,
            "cpu_check": cpu_check,
            "flags": list(request.flag_names) if request else [],
            "settings": settings or {},
            "failed_step": None,
            "job": job or None,
            "diff_before": _where(before, False, self.options.mode),
            "diff_after": here,
        }


def _where(placement: Placement, predicted: bool, mode: str) -> dict[str, Any]:
    """Where the domain is (or, for a planned migration in check mode, would be) and in which state."""
    source, destination = placement.source, placement.destination
    if predicted:
        state = {"live": "running", "paused": "paused", "offline": "shutoff"}[mode]
        return {"location": "destination", "state": state, "defined_at_source": None, "defined_at_destination": None}
    there = destination.running or (not source.exists and destination.exists) or \
        (mode == "offline" and destination.persistent and not source.running)
    end = destination if there else source
    return {"location": "destination" if there else "source", "state": end.state.state,
            "defined_at_source": source.persistent, "defined_at_destination": destination.persistent}


def _has_job(domain: Domain) -> bool:
    """Whether the domain has a job although ours ended: another client migrates it (two plays at once)."""
    try:
        return JobCalls(domain).job_stats().get("type", 0) != 0
    except VirtopsError:
        return False  # the source cannot tell: the stray is ours as before


def _remove(domain: Domain) -> None:
    if domain.is_active():
        domain.destroy()
    if domain.is_persistent():
        domain.undefine_flags(0)


def _without_name(message: str, name: str) -> str:
    prefix = f"domain '{name}': "
    return message[len(prefix):] if message.startswith(prefix) else message
