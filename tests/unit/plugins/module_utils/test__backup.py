"""Backup options, backup XML, planning, and the run/abort/undo of push backups (a fake virDomain in the real Domain)."""

import os
import time

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _backup, _jobs, _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._backup import BackupOptions, BackupRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    InvalidArgument,
    LibvirtCallError,
    VirtopsError,
    WaitTimeout,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder

from fake_jobs import fake_domain


def FakeDomain(**job):  # pylint: disable=invalid-name
    """The real Domain around a fake virDomain whose job ends as `job` says (see fake_jobs)."""
    job.setdefault("polls_until_done", 1)
    domain, virdomain = fake_domain(**job)
    domain.fake = virdomain
    return domain


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    monkeypatch.setattr(_jobs, "FALLBACK", 0.01)


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


@pytest.mark.parametrize("backup, message", [
    ({"target_dir": "/b", "socket": "/s"}, "backup.socket applies to pull mode only, not to a push backup"),
    ({"target_dir": "/b", "port": 10809}, "backup.port applies to pull mode only"),
    ({"mode": "pull", "scratch_dir": "/s", "socket": "/s", "target_dir": "/b"},
     "backup.target_dir applies to push mode only, not to a pull backup"),
    ({"mode": "pull", "scratch_dir": "/s", "socket": "/s", "timeout": 5}, "backup.timeout applies to push mode only"),
    ({"mode": "pull", "scratch_dir": "/s", "socket": "/s", "host": "::1"}, "backup.host applies to a TCP export"),
])
def test_options_of_the_other_mode_are_refused(backup, message):
    with pytest.raises(InvalidArgument, match=message):
        BackupOptions.from_params(backup)


def test_push_xml_has_one_file_per_chosen_disk_and_leaves_the_others_out():
    runner = BackupRunner(FakeDomain(), ChangeRecorder(False), "qemu:///system")
    options = BackupOptions.from_params({"target_dir": "/b", "format": "raw", "incremental": "cp1"})
    root = _xml.parse(_backup.backup_xml(runner.domain, options, ["vdb"]))
    assert root.get("mode") == "push" and _xml.element_text(root, "incremental") == "cp1"
    disks = {disk.get("name"): disk for disk in root.iter("disk")}
    assert set(disks) == {"vda", "vdb"}  # the read-only cdrom is no backup candidate
    assert disks["vda"].get("backup") == "no"
    assert disks["vdb"].find("target").get("file") == "/b/vdb.raw"
    assert disks["vdb"].find("driver").get("type") == "raw"


def test_pull_xml_has_the_server_and_scratch_files():
    runner = BackupRunner(FakeDomain(), ChangeRecorder(False), "qemu:///system")
    options = BackupOptions.from_params({"mode": "pull", "scratch_dir": "/s", "port": 10809, "host": "127.0.0.1"})
    root = _xml.parse(_backup.backup_xml(runner.domain, options, ["vda", "vdb"]))
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
    assert domain.fake.checkpoints == ["cp1"]
    again = BackupRunner(domain, ChangeRecorder(False), "qemu:///system").run(
        BackupOptions.from_params({"target_dir": str(tmp_path), "disks": ["vda"]}), "cp1")
    assert again["backup"]["skipped"] and domain.fake.calls.count("backupBegin") == 1


def test_check_mode_starts_nothing(tmp_path):
    domain = FakeDomain()
    recorder = ChangeRecorder(True)
    result = BackupRunner(domain, recorder, "qemu:///system").run(
        BackupOptions.from_params({"target_dir": str(tmp_path)}), "cp1")
    assert recorder.changed and "backupBegin" not in domain.fake.calls and os.listdir(tmp_path) == []
    assert result["diff"]["after"]["checkpoints"] == ["cp1"]
    assert result["diff"]["after"]["backup_files"] == [f"{tmp_path}/vda.qcow2", f"{tmp_path}/vdb.qcow2"]


def test_a_timeout_aborts_the_job_and_removes_files_and_checkpoint(tmp_path):
    domain = FakeDomain(polls_until_done=10 ** 6)
    with pytest.raises(WaitTimeout, match="did not finish within 0 s \\(3 of 10 bytes copied\\); the job was aborted"):
        BackupRunner(domain, ChangeRecorder(False), "qemu:///system").run(
            BackupOptions.from_params({"target_dir": str(tmp_path), "timeout": 0}), "cp1")
    assert "abortJob" in domain.fake.calls and not domain.fake.job_active
    assert os.listdir(tmp_path) == [] and domain.fake.checkpoints == []


def test_a_failed_job_is_reported_and_undone(tmp_path):
    domain = FakeDomain(success=False)
    with pytest.raises(LibvirtCallError, match="backup failed: No space left on device"):
        BackupRunner(domain, ChangeRecorder(False), "qemu:///system").run(
            BackupOptions.from_params({"target_dir": str(tmp_path)}), "cp1")
    assert os.listdir(tmp_path) == [] and domain.fake.checkpoints == []


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
    assert "backupBegin" not in domain.fake.calls


REMOTE = "qemu+ssh://root@kvm01.example.com/system"


def test_the_job_completed_event_ends_the_wait_at_once(tmp_path, monkeypatch):
    monkeypatch.setattr(_jobs, "FALLBACK", 60.0)  # only the event can end the wait in time
    domain = FakeDomain(polls_until_done=10 ** 6, event_after=0.1)
    started = time.monotonic()
    result = BackupRunner(domain, ChangeRecorder(False), "qemu:///system").run(
        BackupOptions.from_params({"target_dir": str(tmp_path), "disks": ["vda"]}), None)
    assert time.monotonic() - started < 10
    job = result["backup"]["job"]
    # what only the event carried: the completed-job stats of the fake have no operation, no progress
    assert job["operation"] == libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP and job["disk_processed"] == 10
    assert job["success"] and domain.fake.connection.registered == {}


def test_a_failure_reported_by_the_event_is_undone(tmp_path, monkeypatch):
    monkeypatch.setattr(_jobs, "FALLBACK", 60.0)
    domain = FakeDomain(polls_until_done=10 ** 6, success=False, event_after=0.1)
    with pytest.raises(LibvirtCallError, match="backup failed: No space left on device"):
        BackupRunner(domain, ChangeRecorder(False), "qemu:///system").run(
            BackupOptions.from_params({"target_dir": str(tmp_path)}), "cp1")
    assert os.listdir(tmp_path) == [] and domain.fake.checkpoints == []


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
    domain.fake.checkpoint_delete_error = "bitmap is busy"
    recorder = ChangeRecorder(False)
    with pytest.raises(LibvirtCallError) as raised:
        BackupRunner(domain, recorder, "qemu:///system").run(
            BackupOptions.from_params({"target_dir": str(tmp_path)}), "cp1")
    assert recorder.changed, "the checkpoint left behind is a change the task must report"
    message = raised.value.message
    assert message.startswith("domain 'vm': backup failed: No space left on device")
    assert f"removed: {tmp_path}/vda.qcow2, {tmp_path}/vdb.qcow2" in message
    assert "not removed: checkpoint 'cp1' (bitmap is busy)" in message
    assert os.listdir(tmp_path) == [] and domain.fake.checkpoints == ["cp1"]


def test_a_failed_backup_undone_completely_is_no_change(tmp_path):
    domain = FakeDomain(success=False)
    recorder = ChangeRecorder(False)
    with pytest.raises(LibvirtCallError):
        BackupRunner(domain, recorder, "qemu:///system").run(BackupOptions.from_params({"target_dir": str(tmp_path)}), "cp1")
    assert os.listdir(tmp_path) == [] and domain.fake.checkpoints == []
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
    assert os.listdir(tmp_path) == ["vda.qcow2"] and domain.fake.checkpoints == []


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
    assert domain.fake.calls.count("backupBegin") == 1 and looked[-1] == [f"{tmp_path}/vda.qcow2"]
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


def test_check_mode_reports_the_steps_a_real_run_executes(tmp_path):
    options = BackupOptions.from_params({"target_dir": str(tmp_path), "incremental": "cp0"})
    recorders = []
    for check_mode in (True, False):
        domain = FakeDomain()
        domain.fake.checkpoints.append("cp0")
        recorders.append(ChangeRecorder(check_mode))
        BackupRunner(domain, recorders[-1], "qemu:///system").run(options, "cp1", description="night 1")
    assert recorders[0].actions == recorders[1].actions == [
        f"incremental (since checkpoint 'cp0') backup of vda, vdb to {tmp_path}, creating checkpoint 'cp1'"]


def test_a_pull_backup_is_started_once_and_ended(tmp_path):
    domain = FakeDomain(polls_until_done=None)  # an export runs until it is ended
    backup = {"mode": "pull", "scratch_dir": str(tmp_path), "socket": f"{tmp_path}/nbd.sock"}
    started = BackupRunner(domain, ChangeRecorder(False), "qemu:///system").run(BackupOptions.from_params(backup), None)
    job = started["backup"]["job"]
    assert job["type"] == "unbounded" and job["success"] is None and "transport=\"unix\"" in started["backup"]["xml"]
    again = ChangeRecorder(False)
    BackupRunner(domain, again, "qemu:///system").run(BackupOptions.from_params(backup), None)
    assert again.actions == [] and domain.fake.calls.count("backupBegin") == 1
    ending = ChangeRecorder(False)
    assert BackupRunner(domain, ending, "qemu:///system").stop()["backup"]["running"] is False
    assert ending.actions == ["end the running backup job"] and not domain.fake.job_active
    assert domain.fake.connection.delivered == [libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED]
    assert BackupRunner(domain, ChangeRecorder(False), "qemu:///system").stop() == {"backup": {"running": False}}
