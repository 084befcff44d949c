# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups of a running domain (virDomainBackupBegin), for domain_snapshot.

Push mode writes one file per chosen disk into a target directory, full or incremental from a
checkpoint, optionally creating a checkpoint at the same instant, and waits for the job through
libvirt's job-completed and block-job events (polling the job stats as a fallback). A backup that
fails or outlasts its timeout is aborted: no job is left behind, the files it started and the
checkpoint it created are removed, so nothing is half done.

Pull mode starts an NBD export (with scratch files for the copy-on-write data) and returns at
once; the export lasts until the job is ended (state=absent) or the domain stops.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    InvalidArgument,
    LibvirtCallError,
    VirtopsError,
    WaitTimeout,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._events import BLOCK_JOB, JOB_COMPLETED, JobCompletedEvent
from ansible_collections.virtops.libvirt.plugins.module_utils._jobs import JobCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
from ansible_collections.virtops.libvirt.plugins.module_utils._checkpoint import checkpoint_xml
from ansible_collections.virtops.libvirt.plugins.module_utils._disks import check_disks, disk_targets
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot import is_local_uri
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_facts import list_checkpoints

FORMATS = ("qcow2", "raw")
MODES = ("push", "pull")
ABORT_WAIT = 30.0  # seconds for an aborted job to go away
POLL_INTERVAL = 2.0  # job stats are re-read this often in case an event is lost


@dataclass
class BackupOptions:
    mode: str = "push"
    target_dir: Optional[str] = None
    format: str = "qcow2"
    disks: list[str] = field(default_factory=list)
    incremental: Optional[str] = None
    timeout: float = 3600.0
    scratch_dir: Optional[str] = None
    socket: Optional[str] = None
    host: Optional[str] = None
    port: Optional[int] = None

    @classmethod
    def from_params(cls, backup: dict[str, Any], state: str = "present") -> "BackupOptions":
        """The task's backup options; ending a backup (state=absent) needs none of the start options."""
        options = cls(
            mode=backup.get("mode") or "push",
            target_dir=backup.get("target_dir"),
            format=backup.get("format") or "qcow2",
            disks=list(backup.get("disks") or []),
            incremental=backup.get("incremental"),
            timeout=3600.0 if backup.get("timeout") is None else float(backup["timeout"]),
            scratch_dir=backup.get("scratch_dir"),
            socket=backup.get("socket"),
            host=backup.get("host"),
            port=backup.get("port"),
        )
        if state == "absent":
            options.validate_mode()
        else:
            options.validate()
        return options

    def validate_mode(self) -> None:
        if self.mode not in MODES:
            raise InvalidArgument(f"backup.mode must be one of {', '.join(MODES)} (got {self.mode})")

    def validate(self) -> None:
        self.validate_mode()
        if self.format not in FORMATS:
            raise InvalidArgument(f"backup.format must be one of {', '.join(FORMATS)} (got {self.format})")
        if self.timeout < 0:
            raise InvalidArgument(f"backup.timeout must not be negative (got {self.timeout})")
        if self.mode == "push":
            if not self.target_dir:
                raise InvalidArgument("backup.target_dir is required in push mode")
            if not os.path.isabs(self.target_dir):
                raise InvalidArgument(f"backup.target_dir must be an absolute path (got {self.target_dir})")
        else:
            if not self.scratch_dir:
                raise InvalidArgument("backup.scratch_dir is required in pull mode")
            if bool(self.socket) == bool(self.port):
                raise InvalidArgument("pull mode needs either backup.socket (a UNIX socket) or backup.port (TCP)")

    def target_file(self, disk: str) -> str:
        return os.path.join(self.target_dir or "", f"{disk}.{self.format}")


def probe_writable(directory: str, what: str, domain: str) -> None:
    """Fail unless a file can really be created in `directory` (root passes mode bits, not a read-only fs)."""
    if not os.path.isdir(directory):
        raise InvalidArgument(f"backup of domain '{domain}': {what} '{directory}' does not exist or is not a directory",
                              domain=domain)
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".virtops-probe-"):
            pass
    except OSError as error:
        raise InvalidArgument(f"backup of domain '{domain}': {what} '{directory}' is not writable: {error.strerror}",
                              domain=domain) from None


def files_on_host(connection: Connection, paths: list[str]) -> list[str]:
    """Which of `paths` exist on the libvirt host, as libvirt's storage driver sees them.

    With a remote URI the module cannot stat the host's files, but libvirt can list a directory
    as a storage pool: the active pool whose target is that directory (refreshed first), else a
    transient dir pool made for the look and destroyed right after, which leaves nothing behind.
    """
    found = []
    for directory in sorted({os.path.dirname(path) for path in paths}):
        names = _names_in_directory(connection, directory)
        found.extend(path for path in paths if os.path.dirname(path) == directory and os.path.basename(path) in names)
    return found


def _names_in_directory(connection: Connection, directory: str) -> set[str]:
    pool = _active_pool_of(connection, directory)
    if pool is not None:
        pool.refresh(directory)
        return set(pool.list_volumes(directory))
    root = _xml.etree.Element("pool", type="dir")
    _xml.etree.SubElement(root, "name").text = f"virtops-look-{uuid.uuid4().hex[:12]}"
    _xml.etree.SubElement(_xml.etree.SubElement(root, "target"), "path").text = directory
    try:
        pool = connection.storage_pool_create_xml(_xml.to_string(root, pretty=False),
                                                  f"look at {directory} on the libvirt host")
    except LibvirtCallError as error:
        raise InvalidArgument(f"backup.target_dir '{directory}' cannot be read on the libvirt host: "
                              f"{error.libvirt_message or error.message}") from None
    try:
        return set(pool.list_volumes(directory))
    finally:
        try:
            pool.destroy(directory)  # a transient pool vanishes
        except LibvirtCallError:
            pass  # the answer is what matters; a pool that is gone already needs no end


def _active_pool_of(connection: Connection, directory: str) -> Any:
    wanted = os.path.normpath(directory)
    for pool in connection.list_all_storage_pools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        root = _xml.parse(pool.xml_desc(), what="storage pool XML")
        path = _xml.element_text(root, "target/path")
        if path and os.path.normpath(path) == wanted:
            return pool
    return None


def job_stats(domain: Domain, completed: bool = False) -> dict[str, Any]:
    return JobCalls(domain).job_stats(completed)


def _active(stats: dict[str, Any]) -> bool:
    return stats.get("type") in (libvirt.VIR_DOMAIN_JOB_BOUNDED, libvirt.VIR_DOMAIN_JOB_UNBOUNDED)


def running_backup(domain: Domain) -> Optional[str]:
    """The XML of the domain's running backup job, or None."""
    if not _active(job_stats(domain)):
        return None
    try:
        return JobCalls(domain).backup_get_xml_desc()
    except LibvirtCallError:
        return None  # another kind of job


class BackupRunner:
    """One backup of one domain."""

    def __init__(self, domain: Domain, recorder: ChangeRecorder, uri: str) -> None:
        self.domain = domain
        self.recorder = recorder
        self.local = is_local_uri(uri)

    # --- planning -------------------------------------------------------------------------------

    def _chosen_disks(self, options: BackupOptions) -> list[str]:
        if options.disks:
            return check_disks(self.domain, options.disks, "backup.disks")
        disks = disk_targets(self.domain)
        if not disks:
            raise InvalidArgument(f"domain '{self.domain.name}' has no disk to back up", domain=self.domain.name)
        return disks

    def backup_xml(self, options: BackupOptions, disks: list[str]) -> str:
        etree = _xml.etree
        root = etree.Element("domainbackup", mode=options.mode)
        if options.incremental:
            etree.SubElement(root, "incremental").text = options.incremental
        if options.mode == "pull":
            if options.socket:
                etree.SubElement(root, "server", transport="unix", socket=options.socket)
            else:
                etree.SubElement(root, "server", transport="tcp", name=options.host or "localhost",
                                 port=str(options.port))
        element = etree.SubElement(root, "disks")
        for target in disk_targets(self.domain):
            if target not in disks:
                etree.SubElement(element, "disk", name=target, backup="no")
                continue
            disk = etree.SubElement(element, "disk", name=target, backup="yes", type="file")
            if options.mode == "push":
                etree.SubElement(disk, "target", file=options.target_file(target))
                etree.SubElement(disk, "driver", type=options.format)
            else:
                etree.SubElement(disk, "scratch", file=os.path.join(options.scratch_dir or "", f"{target}.scratch"))
        return _xml.to_string(root, pretty=False)

    def run(self, options: BackupOptions, checkpoint: Optional[str], state: str = "present") -> dict[str, Any]:
        name = self.domain.name
        if state == "absent":
            return self.stop()
        if not self.domain.state().active:
            raise InvalidArgument(f"domain '{name}' is not running: libvirt backs up running domains only",
                                  domain=name)
        disks = self._chosen_disks(options)
        checkpoints = [item["name"] for item in list_checkpoints(self.domain)]
        if options.incremental and options.incremental not in checkpoints:
            raise InvalidArgument(
                f"backup.incremental: domain '{name}' has no checkpoint '{options.incremental}' "
                f"(its checkpoints: {', '.join(checkpoints) or 'none'})", domain=name)
        result: dict[str, Any] = {"mode": options.mode, "disks": disks, "incremental": options.incremental,
                                  "checkpoint": checkpoint}
        running = running_backup(self.domain)
        if options.mode == "pull":
            if running is not None:
                result.update(xml=running, job=job_stats(self.domain))
                return {"backup": result}
            if self.local:
                probe_writable(options.scratch_dir or "", "backup.scratch_dir", name)
        else:
            files = {disk: options.target_file(disk) for disk in disks}
            result["files"] = files
            present = self._existing(list(files.values()))
            if present and len(present) == len(files) and (checkpoint is None or checkpoint in checkpoints):
                result["skipped"] = "the backup files already exist"
                return {"backup": result}
            if present:
                raise InvalidArgument(f"backup of domain '{name}': {', '.join(present)} already exist(s) but not "
                                      "every file of this backup does; remove them or choose another target_dir",
                                      domain=name)
            if self.local:
                probe_writable(options.target_dir or "", "backup.target_dir", name)
        if checkpoint is not None and checkpoint in checkpoints:
            raise InvalidArgument(f"checkpoint '{checkpoint}' of domain '{name}' already exists; a backup creates "
                                  "a new checkpoint", domain=name)
        if running is not None or _active(job_stats(self.domain)):
            raise InvalidArgument(f"domain '{name}' is busy with another job", domain=name)
        backup_xml = self.backup_xml(options, disks)
        checkpoint_text = checkpoint_xml(self.domain, checkpoint, disks) if checkpoint else None
        kind = f"incremental (since checkpoint '{options.incremental}')" if options.incremental else "full"
        also = f", creating checkpoint '{checkpoint}'" if checkpoint else ""
        if options.mode == "push":
            action = f"{kind} backup of {', '.join(disks)} to {options.target_dir}{also}"
            outcome = self.recorder.perform(action, lambda: self._push(backup_xml, checkpoint_text, checkpoint,
                                                                       result["files"], options.timeout))
        else:
            action = f"start {kind} pull backup (NBD export) of {', '.join(disks)}{also}"
            outcome = self.recorder.perform(action, lambda: self._pull(backup_xml, checkpoint_text))
        result.update(outcome or {})
        after = checkpoints + [checkpoint] if checkpoint else checkpoints
        return {"backup": result, "diff": {
            "before": {"checkpoints": checkpoints, "backup_files": [], "backup_job": None},
            "after": {"checkpoints": after, "backup_files": sorted(result.get("files", {}).values()),
                      "backup_job": "running" if options.mode == "pull" else None},
        }}

    def _existing(self, paths: list[str]) -> list[str]:
        """The backup files that exist already: stat'ed when local, libvirt's storage lookup when remote."""
        if self.local:
            return [path for path in paths if os.path.exists(path)]
        try:
            return files_on_host(self.domain.connection, paths)
        except InvalidArgument as error:
            raise InvalidArgument(f"backup of domain '{self.domain.name}': {error.message}",
                                  domain=self.domain.name) from None

    # --- doing ----------------------------------------------------------------------------------

    def _begin(self, backup_xml: str, checkpoint_text: Optional[str]) -> None:
        JobCalls(self.domain).backup_begin(backup_xml, checkpoint_text)

    def _pull(self, backup_xml: str, checkpoint_text: Optional[str]) -> dict[str, Any]:
        self._begin(backup_xml, checkpoint_text)
        return {"xml": JobCalls(self.domain).backup_get_xml_desc(), "job": job_stats(self.domain)}

    def _push(self, backup_xml: str, checkpoint_text: Optional[str], checkpoint: Optional[str],
              files: dict[str, str], timeout: float) -> dict[str, Any]:
        completion: dict[str, Any] = {}

        def on_job_completed(event: JobCompletedEvent) -> None:
            completion.update(event.stats)

        started = time.monotonic()
        with self.domain.watch().on(JOB_COMPLETED, on_job_completed).on(BLOCK_JOB) as woke:
            self._begin(backup_xml, checkpoint_text)
            try:
                stats = self._wait(woke, completion, started + timeout, timeout)
            except VirtopsError as error:
                # the backup's own error is the one to report; the undo only adds what it did
                report, left_behind = self._undo(files, checkpoint)
                error.message = f"{error.message} ({report})"
                error.args = (error.message,)
                error.after_change = left_behind  # what stays is a change the task must report
                raise
        outcome = {"job": stats, "seconds": round(time.monotonic() - started, 3)}
        if self.local:
            outcome["sizes"] = self._sizes(files)
        return outcome

    def _sizes(self, files: dict[str, str]) -> dict[str, int]:
        sizes = {}
        for disk, path in files.items():
            try:
                sizes[disk] = os.path.getsize(path)
            except OSError as error:  # gone between the job's end and now: say so, no traceback
                raise VirtopsError(f"domain '{self.domain.name}': backup file {path} vanished after the backup "
                                   f"completed ({error.strerror}); it was not kept", domain=self.domain.name,
                                   operation="backup") from None
        return sizes

    def _wait(self, woke: Any, completion: dict[str, Any], deadline: float, timeout: float) -> dict[str, Any]:
        name = self.domain.name
        while True:
            stats = job_stats(self.domain)
            if not _active(stats):
                # the completed job's stats carry the byte counts; the event's parameters the verdict
                final = {**completion, **job_stats(self.domain, completed=True)}
                if not final.get("success", final.get("type") == libvirt.VIR_DOMAIN_JOB_COMPLETED):
                    message = final.get("errmsg") or "the backup job failed"
                    raise LibvirtCallError(f"domain '{name}': backup failed: {message}", domain=name,
                                           operation="backup", libvirt_message=message)
                return final
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                progress = f"{stats.get('disk_processed', 0)} of {stats.get('disk_total', '?')} bytes"
                self._abort()
                raise WaitTimeout(f"domain '{name}': the backup did not finish within {timeout:g} s ({progress} "
                                  "copied); the job was aborted", domain=name,
                                  operation="backup")
            woke.woke(min(remaining, POLL_INTERVAL))

    def _abort(self) -> None:
        try:
            JobCalls(self.domain).abort_job("backup job")
        except LibvirtCallError:
            pass  # it ended by itself meanwhile
        deadline = time.monotonic() + ABORT_WAIT
        while _active(job_stats(self.domain)) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _undo(self, files: dict[str, str], checkpoint: Optional[str]) -> tuple[str, bool]:
        """After a failed or aborted backup: no job, no partial files, no checkpoint without its backup.

        Never raises (a failure here must not hide the backup's own error); returns what was and
        was not removed, and whether anything was left behind.
        """
        removed: list[str] = []
        left: list[str] = []
        try:
            if _active(job_stats(self.domain)):
                self._abort()
        except VirtopsError as error:
            left.append(f"the backup job may still run ({error.message})")
        if self.local:
            for path in files.values():
                try:
                    os.unlink(path)
                    removed.append(path)
                except FileNotFoundError:
                    pass
                except OSError as error:
                    left.append(f"{path} ({error.strerror})")
        else:
            left.extend(f"{path} on the libvirt host (remote URI: remove it there)" for path in files.values())
        if checkpoint:
            try:
                if checkpoint in [item["name"] for item in list_checkpoints(self.domain)]:
                    self.domain.checkpoints.delete(checkpoint)
                    removed.append(f"checkpoint '{checkpoint}'")
            except VirtopsError as error:
                left.append(f"checkpoint '{checkpoint}' ({error.libvirt_message or error.message})"
                            if isinstance(error, LibvirtCallError) else f"checkpoint '{checkpoint}' ({error.message})")
        report = [f"removed: {', '.join(removed)}" if removed else "nothing to remove"]
        if left:
            report.append(f"not removed: {'; '.join(left)}")
        return "; ".join(report), bool(left)

    def stop(self) -> dict[str, Any]:
        """End the running backup job (a pull-mode export); unchanged when there is none."""
        running = running_backup(self.domain)
        if running is None:
            return {"backup": {"running": False}}
        self.recorder.perform("end the running backup job", self._abort)
        return {"backup": {"running": self.recorder.check_mode, "xml": running}}
