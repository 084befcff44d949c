"""The EDA event source domain_events on the real rig: lifecycle events of hosts A and B within a second of the
call, a block job's completion and a device removal, a daemon that goes away and comes back, and a URI that
cannot be reached at the start (the example rulebook under ansible-rulebook: test_eda_rulebook.py).

The source's main() runs in a thread of its own with its own asyncio loop, loaded like ansible-rulebook loads it
(runpy.run_path of the file inside the ansible_collections/ tree), so the test's blocking libvirt calls never
delay it. A "daemon restart" that other tests on the rig do not notice goes through a proxy socket in front of
host A's daemon (tests/hung_libvirtd.py): closing the proxy is what a dying libvirtd looks like to a client.
"""

import os
import shutil
import subprocess
import time

from hung_libvirtd import FreezingProxy

from eda_runner import HOST_A_SOCKET, LATENCY, RunningSource, lifecycle, sources  # noqa: F401  pylint: disable=unused-import
from harness import rig_env, run_module


def test_a_destroyed_and_started_guest_is_seen_within_a_second(sources, host_a, guest_name):
    source = sources(uris=[{"uri": rig_env.HOST_A_URI, "name": "A"}], domains=[guest_name], events=["lifecycle"])
    dom = rig_env.define_guest(host_a, guest_name, data_disk=False)
    dom.destroy()
    returned = time.monotonic()
    arrived, event = source.next(lifecycle("stopped"))
    assert event["details"] == {"event": "stopped", "detail": "destroyed", "state": "shutoff"}
    assert (event["host"], event["domain"], event["uuid"]) == ("A", guest_name, dom.UUIDString())
    assert arrived - returned < LATENCY, f"arrived {arrived - returned:.3f} s after destroy() returned"
    dom.create()
    returned = time.monotonic()
    arrived, event = source.next(lifecycle("started"))
    assert event["details"]["detail"] == "booted" and arrived - returned < LATENCY


def test_suspend_and_resume_on_host_b_arrive_in_order(sources, host_b, guest_name):
    source = sources(uris=[rig_env.HOST_B_URI], domains=[guest_name], events=["lifecycle"])
    try:
        dom = rig_env.define_guest(host_b, guest_name, data_disk=False)
        source.next(lifecycle("started"))
        dom.suspend()
        dom.resume()
        returned = time.monotonic()
        events = [source.next(timeout=10) for _event in range(2)]
    finally:
        rig_env.cleanup_domain(host_b, guest_name)
    assert [(event["details"]["event"], event["details"]["detail"]) for _arrived, event in events] == [
        ("suspended", "paused"), ("resumed", "unpaused")]
    assert events[1][0] - returned < LATENCY
    assert {event["uri"] for _arrived, event in events} == {rig_env.HOST_B_URI}


def test_a_block_job_completion_and_a_device_removal_arrive_as_events(sources, host_a, guest_name):
    source = sources(uris=[rig_env.HOST_A_URI], domains=[guest_name],
                     events=["block_job", "device_removed", "device_added"])
    dom = rig_env.define_guest(host_a, guest_name)
    rig_env.wait_agent(dom, timeout=120)
    copy = f"{rig_env.IMAGES_DIR}/{guest_name}-copy.qcow2"
    extra = f"{rig_env.IMAGES_DIR}/{guest_name}-extra.qcow2"
    try:
        result = run_module("domain_block", {"uri": rig_env.HOST_A_URI, "name": guest_name, "disk": "vda",
                                             "job": "copy", "destination": copy})
        assert not result.get("failed"), result.get("msg")
        returned = time.monotonic()
        _arrived, ready = source.next(lambda event: event["type"] == "block_job")
        assert ready["details"] == {"disk": "vda", "job_type": "copy", "status": "ready"}
        arrived, completed = source.next(lambda event: event["type"] == "block_job")
        assert completed["details"] == {"disk": "vda", "job_type": "copy", "status": "completed"}
        assert arrived - returned < LATENCY

        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", extra, "16M"], check=True)
        os.chmod(extra, 0o644)
        attached = run_module("domain_device", {"uri": rig_env.HOST_A_URI, "name": guest_name,
                                                "disk": {"source": extra, "target": "vdb"}})
        assert not attached.get("failed"), attached.get("msg")
        _arrived, added = source.next(lambda event: event["type"] == "device_added")
        wait_guest_sees(dom, "vdb")
        detached = run_module("domain_device", {"uri": rig_env.HOST_A_URI, "name": guest_name, "state": "absent",
                                                "disk": {"target": "vdb"}})
        assert not detached.get("failed"), detached.get("msg")
        arrived, removed = source.next(lambda event: event["type"] == "device_removed")
        assert removed["details"] == {"device": added["details"]["device"]}
        assert arrived - detached.finished_at < LATENCY
    finally:
        rig_env.cleanup_domain(host_a, guest_name)
        for path in (copy, extra):
            if os.path.exists(path):
                os.unlink(path)


def wait_guest_sees(dom, disk, timeout=15):
    deadline = time.monotonic() + timeout
    while disk not in rig_env.guest_shell(dom, "ls /sys/block").split():
        assert time.monotonic() < deadline, f"the guest never saw {disk}"
        time.sleep(0.3)


def test_a_daemon_that_goes_away_and_comes_back_is_reconnected_and_later_events_arrive(sources, host_a, guest_name):
    proxy = FreezingProxy(HOST_A_SOCKET)
    directory = proxy.directory
    try:
        source = sources(uris=[{"uri": proxy.uri, "name": "A"}], domains=[guest_name], events=["lifecycle"],
                         reconnect_delay=0.2, reconnect_max_delay=1)
        proxy.close()  # every connection through it ends at once: a daemon killed
        _arrived, lost = source.next(lambda event: event["type"] == "connection")
        assert lost["details"] == {"state": "disconnected", "reason": "eof"}
        time.sleep(1.5)  # down for a while: the source keeps trying with backoff
        proxy = FreezingProxy(HOST_A_SOCKET, directory=directory)  # the daemon is back, at the same socket
        _arrived, back = source.next(lambda event: event["type"] == "connection", timeout=10)
        assert back["details"]["state"] == "reconnected" and back["details"]["attempts"] >= 2
        rig_env.define_guest(host_a, guest_name, data_disk=False, start=False)
        returned = time.monotonic()
        arrived, event = source.next(lifecycle("defined"))
        assert event["domain"] == guest_name and arrived - returned < LATENCY
    finally:
        proxy.close()
        shutil.rmtree(directory, ignore_errors=True)


def test_an_unreachable_uri_at_the_start_fails_the_source_naming_it():
    source = RunningSource({"uris": [rig_env.HOST_A_URI, "qemu+unix:///system?socket=/run/virtops-rig/nothing/sock"]})
    try:
        _arrived, event = source.arrivals.get(timeout=60)
    finally:
        source.stop()
    assert event is None
    assert "cannot connect to libvirt at 'qemu+unix:///system?socket=/run/virtops-rig/nothing/sock'" in str(source.error)
