"""Backup options, backup XML, and the wait/abort/undo logic of push backups (with a fake domain)."""

import contextlib
import os
import threading
import time

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _backup, _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._backup import BackupOptions, BackupRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import DomainState
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    InvalidArgument,
    LibvirtCallError,
    VirtopsError,
    WaitTimeout,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder

DOMAIN_XML = """<domain type='qemu'><name>vm</name><devices>
<disk type='file' device='disk'><source file='/img/a.qcow2'/><target dev='vda'/></disk>
<disk type='file' device='disk'><source file='/img/b.qcow2'/><target dev='vdb'/></disk>
<disk type='file' device='cdrom'><target dev='sda'/><readonly/></disk>
</devices></domain>"""


class FakeCheckpoint:
    def __init__(self, domain, name):
        self.domain, self.name = domain, name

    def getName(self):
        return self.name

    def getXMLDesc(self, _flags):
        return f"<domaincheckpoint><name>{self.name}</name><creationTime>1</creationTime></domaincheckpoint>"

    def delete(self, _flags):
        if self.domain.checkpoint_delete_error:
            raise LibvirtCallError(f"domain 'vm': delete checkpoint '{self.name}' failed: "
                                   f"{self.domain.checkpoint_delete_error}",
                                   libvirt_message=self.domain.checkpoint_delete_error)
        self.domain.checkpoints.remove(self.name)


class FakeConnection:
    @staticmethod
    def call(_operation, func, *args, domain=None):
        return func(*args)


class FakeDomain:
    """Enough of _domain.Domain for a backup: a job that finishes after `polls_until_done` polls."""

    name = "vm"

    def __init__(self, polls_until_done=1, success=True, event_after=None):
        self.connection = FakeConnection()
        self.polls_until_done = polls_until_done
        self.success = success
        self.event_after = event_after  # seconds after backupBegin when the job ends with its event
        self.checkpoints = []
        self.checkpoint_delete_error = None
        self.calls = []
        self.job_active = False
        self.files = {}
        self.listeners = []

    def state(self):
        return DomainState("running", "booted")

    def xml_desc(self, _flags=0):
        return DOMAIN_XML

    @contextlib.contextmanager
    def watching(self, event_ids, on_event=None):
        """Like Domain.watching: `on_event(*args)` and the Event, for each event delivered meanwhile."""
        woke = threading.Event()

        def deliver(*args):
            if on_event is not None:
                on_event(*args)
            woke.set()

        listener = (tuple(event_ids), deliver)
        self.listeners.append(listener)
        try:
            yield woke
        finally:
            self.listeners.remove(listener)

    def _complete_with_event(self):
        """The job ends; libvirt sends VIR_DOMAIN_EVENT_ID_JOB_COMPLETED (conn, dom, params, opaque)."""
        self.job_active = False
        params = {"type": 3, "operation": libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP, "success": self.success,
                  "disk_total": 10, "disk_processed": 10}
        for event_ids, deliver in list(self.listeners):
            if libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED in event_ids:
                deliver(None, self, params, None)

    def call(self, operation, method, *args):
        self.calls.append(method)
        if method == "backupBegin":
            self.job_active = True
            if args[1]:
                self.checkpoints.append(_xml.element_text(_xml.parse(args[1]), "name"))
            for target in _xml.parse(args[0]).iter("target"):
                with open(target.get("file"), "w", encoding="utf-8") as handle:
                    handle.write("partial")
            if self.event_after is not None:
                threading.Timer(self.event_after, self._complete_with_event).start()
            return 0
        if method == "jobStats":
            if args[0]:
                return {"type": 3 if self.success else 4, "success": self.success, "disk_total": 10,
                        "errmsg": None if self.success else "No space left on device"}
            if self.job_active:
                self.polls_until_done -= 1
                if self.polls_until_done < 0:
                    self.job_active = False
            return {"type": libvirt.VIR_DOMAIN_JOB_UNBOUNDED if self.job_active else 0, "disk_total": 10,
                    "disk_processed": 3}
        if method == "abortJob":
            self.job_active = False
            return 0
        if method == "listAllCheckpoints":
            return [FakeCheckpoint(self, name) for name in self.checkpoints]
        if method == "checkpointLookupByName":
            return FakeCheckpoint(self, args[0])
        raise AssertionError(f"unexpected call {method}")


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    monkeypatch.setattr(_backup, "POLL_INTERVAL", 0.01)


@pytest.mark.parametrize("backup, message", [
    ({"mode": "push"}, "target_dir is required"),
    ({"target_dir": "relative"}, "absolute path"),
    ({"target_dir": "/x", "timeout": -1}, "must not be negative"),
    ({"mode": "pull", "socket": "/s"}, "scratch_dir is required"),
    ({"mode": "pull", "scratch_dir": "/s"}, "either backup.socket"),
    ({"mode": "pull", "scratch_dir": "/s", "socket": "/s", "port": 10809}, "either backup.socket"),
])
def test_bad_backup_options_are_refused(backup, message):
    with pytest.raises(InvalidArgument, match=message):
        BackupOptions.from_params(backup)


def test_ending_a_backup_needs_no_start_options():
    assert BackupOptions.from_params({"mode": "pull"}, state="absent").mode == "pull"
    assert BackupOptions.from_params({}, state="absent").mode == "push"
    with pytest.raises(InvalidArgument, match="scratch_dir is required"):
        BackupOptions.from_params({"mode": "pull"}, state="present")


def test_push_xml_has_one_file_per_chosen_disk_and_leaves_the_others_out():
    runner = BackupRunner(FakeDomain(), ChangeRecorder(False), "qemu:///system")
    options = BackupOptions.from_params({"target_dir": "/b", "format": "raw", "incremental": "cp1"})
    root = _xml.parse(runner.backup_xml(options, ["vdb"]))
    assert root.get("mode") == "push" and _xml.element_text(root, "incremental") == "cp1"
    disks = {disk.get("name"): disk for disk in root.iter("disk")}
    assert set(disks) == {"vda", "vdb"}  # the read-only cdrom is no backup candidate
    assert disks["vda"].get("backup") == "no"
    assert disks["vdb"].find("target").get("file") == "/b/vdb.raw"
    assert disks["vdb"].find("driver").get("type") == "raw"


def test_pull_xml_has_the_server_and_scratch_files():
    runner = BackupRunner(FakeDomain(), ChangeRecorder(False), "qemu:///system")
    options = BackupOptions.from_params({"mode": "pull", "scratch_dir": "/s", "port": 10809, "host": "127.0.0.1"})
    root = _xml.parse(runner.backup_xml(options, ["vda", "vdb"]))
    assert root.find("server").attrib == {"transport": "tcp", "name": "127.0.0.1", "port": "10809"}
    assert [disk.find("scratch").get("file") for disk in root.iter("disk")] == ["/s/vda.scratch", "/s/vdb.scratch"]


def test_local_uris():
    assert _backup.is_local_uri("qemu:///system")
    assert _backup.is_local_uri("qemu+unix:///system?socket=/run/x")
    assert not _backup.is_local_uri("qemu+ssh://root@kvm01/system")


def test_push_backup_waits_and_returns_the_completed_job(tmp_path):
    domain = FakeDomain(polls_until_done=2)
    recorder = ChangeRecorder(False)
    result = BackupRunner(domain, recorder, "qemu:///system").run(
        BackupOptions.from_params({"target_dir": str(tmp_path), "disks": ["vda"]}), "cp1")
    assert result["backup"]["job"]["success"] and result["backup"]["sizes"] == {"vda": 7}
    assert recorder.actions == [f"full backup of vda to {tmp_path}, creating checkpoint 'cp1'"]
    assert domain.checkpoints == ["cp1"]
    again = BackupRunner(domain, ChangeRecorder(False), "qemu:///system").run(
        BackupOptions.from_params({"target_dir": str(tmp_path), "disks": ["vda"]}), "cp1")
    assert again["backup"]["skipped"] and domain.calls.count("backupBegin") == 1


def test_check_mode_starts_nothing(tmp_path):
    domain = FakeDomain()
    recorder = ChangeRecorder(True)
    result = BackupRunner(domain, recorder, "qemu:///system").run(
        BackupOptions.from_params({"target_dir": str(tmp_path)}), "cp1")
    assert recorder.changed and "backupBegin" not in domain.calls and os.listdir(tmp_path) == []
    assert result["diff"]["after"]["checkpoints"] == ["cp1"]
    assert result["diff"]["after"]["backup_files"] == [f"{tmp_path}/vda.qcow2", f"{tmp_path}/vdb.qcow2"]


def test_a_timeout_aborts_the_job_and_removes_files_and_checkpoint(tmp_path):
    domain = FakeDomain(polls_until_done=10 ** 6)
    with pytest.raises(WaitTimeout, match="did not finish within 0 s \\(3 of 10 bytes copied\\); the job was aborted"):
        BackupRunner(domain, ChangeRecorder(False), "qemu:///system").run(
            BackupOptions.from_params({"target_dir": str(tmp_path), "timeout": 0}), "cp1")
    assert "abortJob" in domain.calls and not domain.job_active
    assert os.listdir(tmp_path) == [] and domain.checkpoints == []


def test_a_failed_job_is_reported_and_undone(tmp_path):
    domain = FakeDomain(success=False)
    with pytest.raises(LibvirtCallError, match="backup failed: No space left on device"):
        BackupRunner(domain, ChangeRecorder(False), "qemu:///system").run(
            BackupOptions.from_params({"target_dir": str(tmp_path)}), "cp1")
    assert os.listdir(tmp_path) == [] and domain.checkpoints == []


def test_refusals_before_any_change(tmp_path):
    domain = FakeDomain()
    runner = BackupRunner(domain, ChangeRecorder(False), "qemu:///system")
    with pytest.raises(InvalidArgument, match="no checkpoint 'cp0'"):
        runner.run(BackupOptions.from_params({"target_dir": str(tmp_path), "incremental": "cp0"}), None)
    with pytest.raises(InvalidArgument, match="no disk 'vdq'"):
        runner.run(BackupOptions.from_params({"target_dir": str(tmp_path), "disks": ["vdq"]}), None)
    with pytest.raises(InvalidArgument, match="does not exist"):
        runner.run(BackupOptions.from_params({"target_dir": str(tmp_path / "nope")}), None)
    (tmp_path / "vda.qcow2").write_text("old")
    with pytest.raises(InvalidArgument, match="already exist"):
        runner.run(BackupOptions.from_params({"target_dir": str(tmp_path)}), None)
    assert "backupBegin" not in domain.calls


REMOTE = "qemu+ssh://root@kvm01.example.com/system"


def test_the_job_completed_event_ends_the_wait_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(_backup, "POLL_INTERVAL", 60.0)  # only the event can end the wait in time
    domain = FakeDomain(polls_until_done=10 ** 6, event_after=0.1)
    started = time.monotonic()
    result = BackupRunner(domain, ChangeRecorder(False), "qemu:///system").run(
        BackupOptions.from_params({"target_dir": str(tmp_path), "disks": ["vda"]}), None)
    assert time.monotonic() - started < 10
    job = result["backup"]["job"]
    # what only the event carried: the completed-job stats of the fake have no operation, no progress
    assert job["operation"] == libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP and job["disk_processed"] == 10
    assert job["success"] and domain.listeners == []


def test_a_failure_reported_by_the_event_is_undone(tmp_path, monkeypatch):
    monkeypatch.setattr(_backup, "POLL_INTERVAL", 60.0)
    domain = FakeDomain(polls_until_done=10 ** 6, success=False, event_after=0.1)
    with pytest.raises(LibvirtCallError, match="backup failed: No space left on device"):
        BackupRunner(domain, ChangeRecorder(False), "qemu:///system").run(
            BackupOptions.from_params({"target_dir": str(tmp_path)}), "cp1")
    assert os.listdir(tmp_path) == [] and domain.checkpoints == []


def test_a_backup_file_vanishing_before_its_size_is_read_is_a_clear_error(tmp_path, monkeypatch):
    def vanished(path):
        raise FileNotFoundError(2, "No such file or directory", path)

    domain = FakeDomain()
    monkeypatch.setattr(_backup.os.path, "getsize", vanished)
    with pytest.raises(VirtopsError, match=f"backup file {tmp_path}/vda.qcow2 vanished after the backup completed"):
        BackupRunner(domain, ChangeRecorder(False), "qemu:///system").run(
            BackupOptions.from_params({"target_dir": str(tmp_path), "disks": ["vda"]}), None)


def test_a_failing_undo_keeps_the_original_error_and_says_what_was_not_removed(tmp_path):
    domain = FakeDomain(success=False)
    domain.checkpoint_delete_error = "bitmap is busy"
    recorder = ChangeRecorder(False)
    with pytest.raises(LibvirtCallError) as raised:
        BackupRunner(domain, recorder, "qemu:///system").run(
            BackupOptions.from_params({"target_dir": str(tmp_path)}), "cp1")
    assert recorder.changed, "the checkpoint left behind is a change the task must report"
    message = raised.value.message
    assert message.startswith("domain 'vm': backup failed: No space left on device")
    assert f"removed: {tmp_path}/vda.qcow2, {tmp_path}/vdb.qcow2" in message
    assert "not removed: checkpoint 'cp1' (bitmap is busy)" in message
    assert os.listdir(tmp_path) == [] and domain.checkpoints == ["cp1"]


def test_a_failed_backup_undone_completely_is_no_change(tmp_path):
    domain = FakeDomain(success=False)
    recorder = ChangeRecorder(False)
    with pytest.raises(LibvirtCallError):
        BackupRunner(domain, recorder, "qemu:///system").run(BackupOptions.from_params({"target_dir": str(tmp_path)}), "cp1")
    assert os.listdir(tmp_path) == [] and domain.checkpoints == []
    assert not recorder.changed


def test_a_failed_remote_backup_says_its_files_were_not_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(_backup, "files_on_host", lambda _connection, paths: [p for p in paths if os.path.exists(p)])
    domain = FakeDomain(success=False)
    recorder = ChangeRecorder(False)
    with pytest.raises(LibvirtCallError) as raised:
        BackupRunner(domain, recorder, REMOTE).run(
            BackupOptions.from_params({"target_dir": str(tmp_path), "disks": ["vda"]}), "cp1")
    assert recorder.changed, "the files left on the host are a change the task must report"
    message = raised.value.message
    assert message.startswith("domain 'vm': backup failed: No space left on device")
    assert "removed: checkpoint 'cp1'" in message
    assert f"not removed: {tmp_path}/vda.qcow2 on the libvirt host (remote URI: remove it there)" in message
    assert os.listdir(tmp_path) == ["vda.qcow2"] and domain.checkpoints == []


def test_a_remote_push_backup_is_idempotent_in_check_mode_too(tmp_path, monkeypatch):
    looked = []

    def host_view(_connection, paths):  # what libvirt's storage lookup sees on the host
        looked.append(list(paths))
        return [path for path in paths if os.path.exists(path)]

    monkeypatch.setattr(_backup, "files_on_host", host_view)
    domain = FakeDomain()
    backup = {"target_dir": str(tmp_path), "disks": ["vda"]}
    first = BackupRunner(domain, ChangeRecorder(False), REMOTE).run(BackupOptions.from_params(backup), "cp1")
    assert first["backup"]["job"]["success"] and "sizes" not in first["backup"]  # no local stat of remote files
    for check_mode in (True, False):
        recorder = ChangeRecorder(check_mode)
        again = BackupRunner(domain, recorder, REMOTE).run(BackupOptions.from_params(backup), "cp1")
        assert again["backup"]["skipped"] and recorder.actions == []
    assert domain.calls.count("backupBegin") == 1 and looked[-1] == [f"{tmp_path}/vda.qcow2"]
    (tmp_path / "vda.qcow2").unlink()
    (tmp_path / "vdb.qcow2").write_text("old")
    with pytest.raises(InvalidArgument, match="vdb.qcow2 already exist"):
        BackupRunner(domain, ChangeRecorder(True), REMOTE).run(
            BackupOptions.from_params({"target_dir": str(tmp_path)}), "cp2")


def test_files_on_the_host_are_found_through_libvirts_storage_pools():
    from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
    with Connection(ConnectionParams(uri="test:///default"), events=False) as connection:
        pool = connection.conn.storagePoolLookupByName("default-pool")
        volume = pool.createXML("<volume><name>vda.qcow2</name><capacity>1024</capacity></volume>", 0)
        try:
            # a directory some pool serves: that pool is refreshed and asked
            assert _backup.files_on_host(connection, ["/default-pool/vda.qcow2", "/default-pool/vdb.qcow2"]) == [
                "/default-pool/vda.qcow2"]
            # any other directory: a transient pool looks at it and goes away
            assert _backup.files_on_host(connection, ["/srv/backup/vda.qcow2"]) == []
            assert [p.name() for p in connection.conn.listAllStoragePools(0)] == ["default-pool"]
        finally:
            volume.delete(0)
