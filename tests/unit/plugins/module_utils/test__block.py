"""_block.BlockRunner with fake_block: jobs woken by block-job events, pivot/abort/mirror, timeouts, tuning."""

import time

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _jobs
from ansible_collections.virtops.libvirt.plugins.module_utils._block import BlockRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._block_options import BlockOptions
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, LibvirtCallError, WaitTimeout
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder

from fake_block import GiB, fake_block_domain

LONG_FALLBACK = 30.0  # only an event can end these waits in time


def run(domain, check_mode=False, **params):
    recorder = ChangeRecorder(check_mode)
    result = BlockRunner(domain, BlockOptions.from_params({"disk": "vda", **params}), recorder).run()
    return result, recorder


def started(virdomain):
    return [call for call in virdomain.calls if isinstance(call, tuple) and call[0] == "start"]


@pytest.fixture
def no_fallback(monkeypatch):
    monkeypatch.setattr(_jobs, "FALLBACK", LONG_FALLBACK)


def test_a_copy_is_woken_by_its_ready_event_and_pivots(no_fallback):  # pylint: disable=unused-argument
    domain, virdomain = fake_block_domain(after=0.1)
    began = time.monotonic()
    result, recorder = run(domain, job="copy", destination="/img/new.qcow2", bandwidth="100MiB")
    assert time.monotonic() - began < 3, "the READY event must end the wait, not the fallback poll"
    assert recorder.actions == ["copy vda to /img/new.qcow2 and pivot it"]
    copy = virdomain.calls[0]
    assert copy[0] == "blockCopy" and copy[2] == {"bandwidth": 100 * 1024 ** 2} and "/img/new.qcow2" in copy[1]
    assert copy[3] == libvirt.VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB, "libvirt copies a persistent domain's disk only so"
    assert ("blockJobAbort", "vda", libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT) in virdomain.calls
    assert result["disk"]["source"] == "/img/new.qcow2" and result["disk"]["backing_chain"][1:] == []
    assert result["disk"]["stats"] == {"rd_req": 1, "rd_bytes": 512, "wr_req": 2, "wr_bytes": 1024, "errs": -1}
    job = result["job"]
    assert job["success"] is True and job["phase"] == "pivoted" and job["data_total"] == GiB
    assert virdomain.connection.registered == {}, "the watch removes its registrations"
    again, recorder = run(domain, job="copy", destination="/img/new.qcow2")
    assert not recorder.changed and again["job"] is None


def test_a_lost_ready_event_is_made_up_for_by_the_jobs_numbers(monkeypatch):
    monkeypatch.setattr(_jobs, "FALLBACK", 0.02)
    domain, virdomain = fake_block_domain(after=0.05, events=False)
    result = run(domain, job="copy", destination="/img/new.qcow2")[0]
    assert result["job"]["phase"] == "pivoted" and virdomain.chains["vda"] == ["/img/new.qcow2"]


def test_finish_abort_keeps_the_original_and_mirror_leaves_the_job_running(no_fallback):  # pylint: disable=unused-argument
    domain, virdomain = fake_block_domain()
    result = run(domain, job="copy", destination="/img/new.qcow2", finish="abort")[0]
    assert result["job"]["phase"] == "aborted" and result["disk"]["source"] == "/img/top.qcow2"
    assert ("blockJobAbort", "vda", 0) in virdomain.calls
    result = run(domain, job="copy", destination="/img/new.qcow2", finish="mirror")[0]
    assert result["job"]["phase"] == "mirroring" and result["job"]["success"] is None
    assert virdomain.job is not None and virdomain.job["ready"]
    # a job already running is reported, not started twice; job=abort with pivot ends it on the copy
    again, recorder = run(domain, job="copy", destination="/img/new.qcow2")
    assert not recorder.changed and recorder.warnings == ["a copy job already runs on vda: not started again"]
    assert again["job"]["type"] == "unbounded" and len(started(virdomain)) == 2
    # its speed changes when bandwidth asks for another one, once
    recorder = run(domain, job="copy", destination="/img/new.qcow2", bandwidth="10MiB")[1]
    assert recorder.actions == ["set the speed of the job on vda to 10485760 bytes/s"]
    assert virdomain.calls[-1] == ("blockJobSetSpeed", "vda", 10485760, libvirt.VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES)
    recorder = run(domain, job="copy", destination="/img/new.qcow2", bandwidth="10MiB")[1]
    assert not recorder.changed
    result, recorder = run(domain, job="abort", pivot=True)
    assert recorder.actions == ["pivot to its copy and end the copy job on vda"]
    assert result["disk"]["source"] == "/img/new.qcow2"
    recorder = run(domain, job="abort")[1]
    assert not recorder.changed


def test_a_copy_that_outlasts_its_timeout_is_aborted_on_the_original_disk():
    domain, virdomain = fake_block_domain(after=None)
    with pytest.raises(WaitTimeout) as raised:
        run(domain, job="copy", destination="/img/new.qcow2", timeout=0.2)
    message = raised.value.message
    assert message.startswith("domain 'vm': the copy of vda did not finish within 0.2 s (0 of 1073741824 bytes")
    assert message.endswith("; the job was aborted")
    assert ("blockJobAbort", "vda", 0) in virdomain.calls and virdomain.job is None
    assert virdomain.chains["vda"][0] == "/img/top.qcow2"
    assert raised.value.result["job"]["success"] is False


def test_a_failed_job_fails_the_task_with_its_statistics(no_fallback):  # pylint: disable=unused-argument
    domain = fake_block_domain(outcome=libvirt.VIR_DOMAIN_BLOCK_JOB_FAILED)[0]
    with pytest.raises(LibvirtCallError, match="domain 'vm': pull of vda failed: the pull job failed") as raised:
        run(domain, job="pull")
    assert raised.value.result["job"]["type"] == "failed"


def test_pull_and_active_commit_flatten_the_chain_and_a_second_run_is_unchanged(no_fallback):  # pylint: disable=unused-argument
    domain, virdomain = fake_block_domain()
    result, recorder = run(domain, job="pull")
    assert recorder.actions == ["pull the whole backing chain into vda"] and len(result["disk"]["backing_chain"]) == 1
    assert result["job"]["phase"] == "completed" and result["job"]["data_processed"] == GiB
    recorder = run(domain, job="pull")[1]
    assert not recorder.changed
    virdomain.chains["vda"] = ["/img/overlay.qcow2", "/img/top.qcow2"]
    result = run(domain, job="commit")[0]
    commit = next(call for call in virdomain.calls if call[0] == "blockCommit")
    assert commit[4] & libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE
    assert result["disk"]["source"] == "/img/top.qcow2" and result["job"]["phase"] == "pivoted"


def test_check_mode_reports_the_plan_and_calls_nothing_that_changes():
    domain, virdomain = fake_block_domain()
    result, recorder = run(domain, check_mode=True, job="copy", destination="/img/new.qcow2", size="2G",
                           iotune={"total_iops_sec": 100})
    assert recorder.actions == ["copy vda to /img/new.qcow2 and pivot it", f"resize vda to {2 * GiB} bytes",
                                "set I/O tuning of vda (live): total_iops_sec=100"]
    assert virdomain.calls == [] and result["disk"]["capacity"] == GiB


def test_resize_grows_once_and_shrinking_is_refused_with_nothing_changed():
    domain, virdomain = fake_block_domain()
    recorder = run(domain, size="+1G")[1]
    assert virdomain.calls == [("blockResize", "vda", 2 * GiB, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)]
    recorder = run(domain, size="2G")[1]
    assert not recorder.changed
    with pytest.raises(InvalidArgument, match="size: shrinking disk vda of domain 'vm'"):
        run(domain, size="1G", iotune={"total_iops_sec": 100})
    assert len(virdomain.calls) == 1, "a refusal is decided before the first step"


def test_iotune_sets_only_what_differs_and_refuses_unknown_keys():
    domain, virdomain = fake_block_domain()
    recorder = run(domain, iotune={"total_bytes_sec": "10MiB", "group_name": ""}, config=True)[1]
    assert [call[3] for call in virdomain.calls] == [libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG]
    assert virdomain.calls[0][2] == {"total_bytes_sec": 10 * 1024 ** 2}
    recorder = run(domain, iotune={"total_bytes_sec": "10MiB"}, config=True)[1]
    assert not recorder.changed
    with pytest.raises(InvalidArgument, match=r"iotune: libvirt does not know bogus_sec for disk vda of domain 'vm'"):
        run(domain, iotune={"bogus_sec": 1})


def test_blkio_and_threshold_change_once():
    domain, virdomain = fake_block_domain()
    recorder = run(domain, blkio={"weight": 500, "device_weight": {"/dev/vda": 200}})[1]
    assert virdomain.calls == [("setBlkioParameters", {"weight": 500, "device_weight": "/dev/vda,200"},
                                libvirt.VIR_DOMAIN_AFFECT_LIVE)]
    virdomain.blkio[1]["device_weight"] = "/dev/vda,200"
    recorder = run(domain, blkio={"weight": 500, "device_weight": {"/dev/vda": 200}})[1]
    assert not recorder.changed
    recorder = run(domain, threshold="50%")[1]
    assert recorder.actions == [f"set the write threshold of vda to {GiB // 2} bytes"]
    recorder = run(domain, threshold="50%")[1]
    assert not recorder.changed


def test_jobs_need_a_running_domain_and_an_unknown_disk_is_named():
    domain = fake_block_domain(active=False)[0]
    with pytest.raises(InvalidArgument, match="job: block jobs need a running domain; disk vda of domain 'vm'"):
        run(domain, job="pull")
    with pytest.raises(InvalidArgument, match="disk: domain 'vm' has no disk 'vdq'"):
        BlockRunner(domain, BlockOptions.from_params({"disk": "vdq"}), ChangeRecorder(False))


def test_the_diff_shows_what_changed_and_check_mode_predicts_the_real_run(no_fallback):  # pylint: disable=unused-argument
    params = {"job": "copy", "destination": "/img/new.qcow2", "size": "+1G",
              "iotune": {"total_iops_sec": 100}, "blkio": {"device_weight": {"/dev/vda": 200}}, "threshold": 4096}
    predicted = run(fake_block_domain()[0], check_mode=True, **params)[0]
    real = run(fake_block_domain()[0], **params)[0]
    assert predicted["diff_before"] == real["diff_before"]
    assert predicted["diff_before"]["capacity"] == GiB and predicted["diff_before"]["source"] == "/img/top.qcow2"
    assert predicted["diff_after"] == real["diff_after"]
    assert real["diff_after"]["source"] == "/img/new.qcow2" and real["diff_after"]["capacity"] == 2 * GiB
    assert real["diff_after"]["iotune"]["live"]["total_iops_sec"] == 100
    assert real["diff_after"]["blkio"]["live"]["device_weight"] == "/dev/vda,200"


def test_a_shut_off_domain_grows_its_disk_through_the_storage_volume_or_is_refused_with_the_reason():
    domain, virdomain = fake_block_domain(active=False)
    recorder = run(domain, disk="vdb", size="2G")[1]
    assert recorder.actions == [f"resize vdb to {2 * GiB} bytes (offline)"]
    assert virdomain.calls == [("volume.resize", "vdb", 2 * GiB, "disk vdb of domain 'vm' (offline)")]
    recorder = run(domain, disk="vdb", size="2G")[1]
    assert not recorder.changed
    with pytest.raises(InvalidArgument, match="size: disk vda of domain 'vm' has backing images"):
        run(domain, size="2G")
    virdomain.connection.pooled = False
    with pytest.raises(InvalidArgument, match=r"size: disk vdb of domain 'vm' is shut off and its image /img/data.raw "
                                              r"is in no active storage pool \(Storage volume not found"):
        run(domain, disk="vdb", size="3G")


def test_peek_reads_bytes_of_the_disk_and_changes_nothing():
    domain = fake_block_domain()[0]
    result, recorder = run(domain, peek={"offset": "1k", "size": 4})
    assert result["peek"] == {"offset": 1024, "size": 4, "data": "AAECAw=="} and not recorder.changed
    with pytest.raises(InvalidArgument, match="peek.size must be between 1 byte and 1048576 bytes"):
        BlockOptions.from_params({"disk": "vda", "peek": {"size": "2M"}})


def test_a_shut_off_domain_is_tuned_in_its_configuration():
    domain, virdomain = fake_block_domain(active=False)
    recorder = run(domain, iotune={"total_iops_sec": 100})[1]
    assert recorder.actions == ["set I/O tuning of vda (config): total_iops_sec=100"]
    assert virdomain.calls == [("setBlockIoTune", "vda", {"total_iops_sec": 100}, libvirt.VIR_DOMAIN_AFFECT_CONFIG)]


def test_a_rebase_to_a_destination_is_a_copy(no_fallback):  # pylint: disable=unused-argument
    domain, virdomain = fake_block_domain()
    result, recorder = run(domain, job="rebase", destination="/img/flat.qcow2", shallow=True)
    assert recorder.actions == ["copy vda to /img/flat.qcow2 and pivot it"]
    copy = next(call for call in virdomain.calls if call[0] == "blockCopy")
    assert copy[3] == libvirt.VIR_DOMAIN_BLOCK_COPY_SHALLOW | libvirt.VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB
    assert result["disk"]["source"] == "/img/flat.qcow2"
