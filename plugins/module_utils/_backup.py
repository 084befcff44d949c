# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups of a running domain (virDomainBackupBegin), for domain_backup.

A backup is first planned as data (`BackupPlanner` -> `BackupPlan` of `_plan.Step`s), validating
everything before the first change, so check mode reports exactly the steps a real run executes.
Push mode writes one file per chosen disk into a target directory, full or incremental from a
checkpoint, optionally creating a checkpoint at the same instant; `_jobs.LongJob` runs and awaits
the job. A backup that fails or outlasts its timeout is aborted and undone (`BackupUndo`): no job
is left behind, the files it started and the checkpoint it created are removed.

Pull mode starts an NBD export (with scratch files for the copy-on-write data) and returns at
once; the export lasts until the job is ended (`BackupRunner.stop`) or the domain stops.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._checkpoint import checkpoint_xml
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, libvirt, reopen_within
from ansible_collections.virtops.libvirt.plugins.module_utils._disks import check_disks, disk_targets
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    ConnectionFailed, InvalidArgument, LibvirtCallError, VirtopsError)
from ansible_collections.virtops.libvirt.plugins.module_utils._jobs import JobCalls, LongJob, end_job, final_stats, is_running
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder, Step, execute
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot import is_local_uri
from ansible_collections.virtops.libvirt.plugins.module_utils._snapshot_facts import list_checkpoints

FORMATS = ("qcow2", "raw")
MODES = ("push", "pull")
# the options that only one mode uses: given with the other mode, they are refused
MODE_ONLY = {"push": ("target_dir", "format", "timeout"), "pull": ("scratch_dir", "socket", "host", "port")}


# --- options ---------------------------------------------------------------------------------------


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
    def from_params(cls, backup: dict[str, Any]) -> "BackupOptions":
        """The task's backup options (unset ones None), validated for starting a backup."""
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
        options.validate({key for key, value in backup.items() if value is not None})
        return options

    def validate(self, given: set[str]) -> None:
        if self.mode not in MODES:
            raise InvalidArgument(f"backup.mode must be one of {', '.join(MODES)} (got {self.mode})")
        other = "pull" if self.mode == "push" else "push"
        refused = sorted(given & set(MODE_ONLY[other]))
        if refused:
            raise InvalidArgument(f"backup.{refused[0]} applies to {other} mode only, not to a {self.mode} backup")
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
            if self.host and not self.port:
                raise InvalidArgument("backup.host applies to a TCP export (backup.port), not to backup.socket")
            if self.port is not None and not 0 < self.port < 65536:
                raise InvalidArgument(f"backup.port must be a TCP port, 1 to 65535 (got {self.port})")

    def target_file(self, disk: str) -> str:
        return os.path.join(self.target_dir or "", f"{disk}.{self.format}")


# --- the files on the libvirt host -----------------------------------------------------------------


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


class HostFiles:
    """The backup files of one domain on its libvirt host: stat'ed when local, asked of libvirt when remote."""

    def __init__(self, domain: Domain, local: bool) -> None:
        self.domain = domain
        self.local = local

    def existing(self, paths: list[str]) -> list[str]:
        if self.local:
            return [path for path in paths if os.path.exists(path)]
        try:
            return files_on_host(self.domain.connection, paths)
        except InvalidArgument as error:
            raise InvalidArgument(f"backup of domain '{self.domain.name}': {error.message}",
                                  domain=self.domain.name) from None

    def sizes(self, files: dict[str, str]) -> dict[str, int]:
        sizes = {}
        for disk, path in files.items():
            try:
                sizes[disk] = os.path.getsize(path)
            except OSError as error:  # gone between the job's end and now: say so, no traceback
                raise VirtopsError(f"domain '{self.domain.name}': backup file {path} vanished after the backup "
                                   f"completed ({error.strerror}); it was not kept", domain=self.domain.name,
                                   operation="backup") from None
        return sizes


# --- planning --------------------------------------------------------------------------------------


def running_backup(domain: Domain) -> Optional[str]:
    """The XML of the domain's running backup job, or None."""
    if not is_running(JobCalls(domain).job_stats()):
        return None
    try:
        return JobCalls(domain).backup_get_xml_desc()
    except LibvirtCallError:
        return None  # another kind of job


def backup_xml(domain: Domain, options: BackupOptions, disks: list[str]) -> str:
    """<domainbackup> for `disks` (the domain's other disks are left out explicitly)."""
    etree = _xml.etree
    root = etree.Element("domainbackup", mode=options.mode)
    if options.incremental:
        etree.SubElement(root, "incremental").text = options.incremental
    if options.mode == "pull":
        if options.socket:
            etree.SubElement(root, "server", transport="unix", socket=options.socket)
        else:
            etree.SubElement(root, "server", transport="tcp", name=options.host or "localhost", port=str(options.port))
    element = etree.SubElement(root, "disks")
    for target in disk_targets(domain):
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


@dataclass
class BackupPlan:
    """What one backup task does: the result entry, the steps (none when there is nothing to do), the diff."""

    result: dict[str, Any]
    steps: list[Step]
    checkpoints_before: list[str]
    checkpoints_after: list[str]

    def diff(self) -> dict[str, Any]:
        files = sorted(self.result.get("files", {}).values()) if self.steps else []
        return {
            "before": {"checkpoints": self.checkpoints_before, "backup_files": [], "backup_job": None},
            "after": {"checkpoints": self.checkpoints_after, "backup_files": files,
                      "backup_job": "running" if self.steps and self.result["mode"] == "pull" else None},
        }


class BackupPlanner:
    """Turns the task into a BackupPlan, refusing what cannot work before anything changes."""

    def __init__(self, domain: Domain, local: bool) -> None:
        self.domain = domain
        self.local = local
        self.files = HostFiles(domain, local)

    def _refuse(self, message: str) -> InvalidArgument:
        return InvalidArgument(message, domain=self.domain.name)

    def _chosen_disks(self, options: BackupOptions) -> list[str]:
        if options.disks:
            return check_disks(self.domain, options.disks, "backup.disks")
        disks = disk_targets(self.domain)
        if not disks:
            raise self._refuse(f"domain '{self.domain.name}' has no disk to back up")
        return disks

    def plan(self, options: BackupOptions, checkpoint: Optional[str], description: Optional[str] = None) -> BackupPlan:
        name = self.domain.name
        if not self.domain.state().active:
            raise self._refuse(f"domain '{name}' is not running: libvirt backs up running domains only")
        disks = self._chosen_disks(options)
        checkpoints = [item["name"] for item in list_checkpoints(self.domain)]
        if options.incremental and options.incremental not in checkpoints:
            raise self._refuse(f"backup.incremental: domain '{name}' has no checkpoint '{options.incremental}' "
                               f"(its checkpoints: {', '.join(checkpoints) or 'none'})")
        result: dict[str, Any] = {"mode": options.mode, "disks": disks, "incremental": options.incremental,
                                  "checkpoint": checkpoint}
        running = running_backup(self.domain)
        unchanged = BackupPlan(result, [], checkpoints, checkpoints)
        if options.mode == "pull" and running is not None:
            result.update(xml=running, job=final_stats(JobCalls(self.domain).job_stats(), None))
            return unchanged
        if options.mode == "push" and self._push_done(options, disks, checkpoint, checkpoints, result):
            return unchanged
        self._check_startable(options, checkpoint, checkpoints, running)
        after = checkpoints + [checkpoint] if checkpoint else checkpoints
        return BackupPlan(result, [self._step(options, disks, checkpoint, description, result)], checkpoints, after)

    def _push_done(self, options: BackupOptions, disks: list[str], checkpoint: Optional[str], checkpoints: list[str],
                   result: dict[str, Any]) -> bool:
        """Whether this push backup exists already (all its files, and its checkpoint); refuses partial leftovers."""
        files = {disk: options.target_file(disk) for disk in disks}
        result["files"] = files
        present = self.files.existing(list(files.values()))
        if present and len(present) == len(files) and (checkpoint is None or checkpoint in checkpoints):
            result["skipped"] = "the backup files already exist"
            return True
        if present:
            raise self._refuse(f"backup of domain '{self.domain.name}': {', '.join(present)} already exist(s) but "
                               "not every file of this backup does; remove them or choose another target_dir")
        return False

    def _check_startable(self, options: BackupOptions, checkpoint: Optional[str], checkpoints: list[str],
                         running: Optional[str]) -> None:
        name = self.domain.name
        if self.local:
            if options.mode == "push":
                probe_writable(options.target_dir or "", "backup.target_dir", name)
            else:
                probe_writable(options.scratch_dir or "", "backup.scratch_dir", name)
        if checkpoint is not None and checkpoint in checkpoints:
            raise self._refuse(f"checkpoint '{checkpoint}' of domain '{name}' already exists; a backup creates "
                               "a new checkpoint")
        if running is not None or is_running(JobCalls(self.domain).job_stats()):
            raise self._refuse(f"domain '{name}' is busy with another job")

    def _step(self, options: BackupOptions, disks: list[str], checkpoint: Optional[str], description: Optional[str],
              result: dict[str, Any]) -> Step:
        text = backup_xml(self.domain, options, disks)
        checkpoint_text = checkpoint_xml(self.domain, checkpoint, disks, description) if checkpoint else None
        kind = f"incremental (since checkpoint '{options.incremental}')" if options.incremental else "full"
        also = f", creating checkpoint '{checkpoint}'" if checkpoint else ""
        if options.mode == "push":
            push = PushBackup(self.domain, self.files, options.timeout)
            return Step(f"{kind} backup of {', '.join(disks)} to {options.target_dir}{also}",
                        lambda: result.update(push.run(text, checkpoint_text, result["files"], checkpoint)))
        return Step(f"start {kind} pull backup (NBD export) of {', '.join(disks)}{also}",
                    lambda: result.update(start_pull(self.domain, text, checkpoint_text)))


# --- running ---------------------------------------------------------------------------------------


def start_pull(domain: Domain, text: str, checkpoint_text: Optional[str]) -> dict[str, Any]:
    """Start the NBD export; it runs until ended, so nothing is awaited."""
    calls = JobCalls(domain)
    calls.backup_begin(text, checkpoint_text)
    return {"xml": calls.backup_get_xml_desc(), "job": final_stats(calls.job_stats(), None)}


class PushBackup:
    """One push backup job, run and awaited by _jobs.LongJob; undone when it fails."""

    def __init__(self, domain: Domain, files: HostFiles, timeout: float) -> None:
        self.domain = domain
        self.files = files
        self.timeout = timeout

    def run(self, text: str, checkpoint_text: Optional[str], files: dict[str, str],
            checkpoint: Optional[str]) -> dict[str, Any]:
        started = time.monotonic()
        job = LongJob(self.domain, "backup", self.timeout, disks=tuple(files))
        try:
            stats = job.run_started(lambda: JobCalls(self.domain).backup_begin(text, checkpoint_text))
        except VirtopsError as error:
            # the backup's own error is the one to report; the undo only adds what it did
            report, left_behind = BackupUndo(self.domain, self.files.local).undo(files, checkpoint)
            error.message = f"{error.message} ({report})"
            error.args = (error.message,)
            error.after_change = left_behind  # what stays is a change the task must report
            raise
        outcome: dict[str, Any] = {"job": stats, "seconds": round(time.monotonic() - started, 3)}
        if self.files.local:
            outcome["sizes"] = self.files.sizes(files)
        return outcome


# How long the undo of a backup cut by a lost connection tries to reach the daemon again: a libvirtd
# stopped (SIGTERM) while it runs a backup job exits only after its 30 s forced-shutdown wait.
RECONNECT_WINDOW = 40.0


class BackupUndo:
    """After a failed or aborted backup: no job, no partial files, no checkpoint without its backup."""

    def __init__(self, domain: Domain, local: bool) -> None:
        self.domain = domain
        self.local = local
        self.removed: list[str] = []
        self.left: list[str] = []

    def undo(self, files: dict[str, str], checkpoint: Optional[str]) -> tuple[str, bool]:
        """Never raises (a failure here must not hide the backup's own error); the report, and
        whether anything was left behind."""
        reconnected = self._reconnect_if_lost()
        try:
            self._end_job()
            if not self.left:  # a job that may still run keeps writing its files: they stay with it
                self._remove_files(files)
            if checkpoint:
                self._remove_checkpoint(checkpoint)
        finally:
            if reconnected is not None:
                reconnected.close()
        report = [f"removed: {', '.join(self.removed)}" if self.removed else "nothing to remove"]
        if self.left:
            report.append(f"not removed: {'; '.join(self.left)}")
        return "; ".join(report), bool(self.left)

    def _reconnect_if_lost(self) -> Optional[Connection]:
        """The failure may be the lost connection itself (libvirtd restarted): the job then runs on in
        QEMU, so the undo opens a new connection (retried while the daemon comes back) to end it."""
        try:
            JobCalls(self.domain).job_stats()
            return None
        except ConnectionFailed:
            pass
        except VirtopsError:
            return None
        reopened = reopen_within(self.domain.connection.params, RECONNECT_WINDOW,
                                 lambda connection: Domain.lookup(connection, uuid=self.domain.uuid))
        if reopened is None:
            return None
        connection, self.domain = reopened
        return connection

    def _end_job(self) -> None:
        try:
            if is_running(JobCalls(self.domain).job_stats()):
                end_job(self.domain, "backup")
        except VirtopsError as error:
            self.left.append(f"the backup job may still run ({error.message})")

    def _remove_files(self, files: dict[str, str]) -> None:
        if not self.local:
            self.left.extend(f"{path} on the libvirt host (remote URI: remove it there)" for path in files.values())
            return
        for path in files.values():
            try:
                os.unlink(path)
                self.removed.append(path)
            except FileNotFoundError:
                pass
            except OSError as error:
                self.left.append(f"{path} ({error.strerror})")

    def _remove_checkpoint(self, checkpoint: str) -> None:
        try:
            if checkpoint in [item["name"] for item in list_checkpoints(self.domain)]:
                self.domain.checkpoints.delete(checkpoint)
                self.removed.append(f"checkpoint '{checkpoint}'")
        except VirtopsError as error:
            reason = error.libvirt_message if isinstance(error, LibvirtCallError) else None
            self.left.append(f"checkpoint '{checkpoint}' ({reason or error.message})")


class BackupRunner:
    """One backup task of one domain: plan it, then execute the plan's steps through the recorder."""

    def __init__(self, domain: Domain, recorder: ChangeRecorder, uri: str) -> None:
        self.domain = domain
        self.recorder = recorder
        self.local = is_local_uri(uri)

    def plan(self, options: BackupOptions, checkpoint: Optional[str], description: Optional[str] = None) -> BackupPlan:
        return BackupPlanner(self.domain, self.local).plan(options, checkpoint, description)

    def run(self, options: BackupOptions, checkpoint: Optional[str], description: Optional[str] = None) -> dict[str, Any]:
        plan = self.plan(options, checkpoint, description)
        execute(plan.steps, self.recorder)
        return {"backup": plan.result, "diff": plan.diff()}

    def stop(self) -> dict[str, Any]:
        """End the running backup job (a pull-mode export); unchanged when there is none."""
        running = running_backup(self.domain)
        if running is None:
            return {"backup": {"running": False}}
        execute([Step("end the running backup job", lambda: end_job(self.domain, "backup"))], self.recorder)
        return {"backup": {"running": self.recorder.check_mode, "xml": running}}
