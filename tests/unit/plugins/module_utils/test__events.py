"""Domain events: typed events from libvirt's real callback arguments, delivered from another thread."""

import threading
import time

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _events
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain, DomainState
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import UnsupportedOperation, WaitTimeout
from ansible_collections.virtops.libvirt.plugins.module_utils._events import (
    AgentLifecycleEvent,
    BlockJobEvent,
    DeviceRemovalFailedEvent,
    DeviceRemovedEvent,
    JobCompletedEvent,
    LifecycleEvent,
    MigrationIterationEvent,
    RebootEvent,
    ThresholdEvent,
    Watch,
)

FALLBACK = 5.0  # far longer than any event latency allowed below: only an event can be that fast
EVENT_LATENCY = FALLBACK / 10
OPAQUE = object()  # libvirt hands the registration's opaque value back as the last argument


class FakeEventConnection:
    """Stores each registered callback; `emit` calls them from another thread like libvirt's event loop."""

    def __init__(self, refuse=()):
        self.refuse = refuse  # event ids this "driver" cannot send
        self.registered = {}  # callback id -> (event id, callback)
        self.deregistered = []
        self.emitter_errors = []
        self._next_id = 0

    def register_domain_event(self, _virdomain, event_id, callback, domain=None):
        if event_id in self.refuse:
            raise UnsupportedOperation("this function is not supported by the connection driver", domain=domain)
        self._next_id += 1
        self.registered[self._next_id] = (event_id, callback)
        return self._next_id

    def deregister_domain_event(self, callback_id, domain=None):  # pylint: disable=unused-argument
        self.deregistered.append(callback_id)
        del self.registered[callback_id]

    def emit(self, event_id, *args, delay=0.1):
        """libvirt's argument list: (conn, dom, ..., opaque), from another thread after `delay` seconds."""
        def deliver():
            time.sleep(delay)
            for registered_id, callback in list(self.registered.values()):
                if registered_id == event_id:
                    try:
                        callback(self, "virDomain", *args, OPAQUE)
                    except BaseException as error:  # pylint: disable=broad-except
                        self.emitter_errors.append(error)  # libvirt would print it as a traceback

        thread = threading.Thread(target=deliver)
        thread.start()
        return thread


def watch_of(connection):
    return Watch(connection, "virDomain", "guest")


def event_id(name):
    return getattr(libvirt, name)


# (kind, libvirt's arguments between dom and opaque, the typed event)
EVERY_KIND = [
    (_events.LIFECYCLE, (libvirt.VIR_DOMAIN_EVENT_SUSPENDED, libvirt.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED),
     LifecycleEvent(libvirt.VIR_DOMAIN_EVENT_SUSPENDED, libvirt.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED)),
    (_events.REBOOT, (), RebootEvent()),
    (_events.AGENT_LIFECYCLE,
     (libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED,
      libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_CHANNEL),
     AgentLifecycleEvent(True, libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_CHANNEL)),
    (_events.BLOCK_JOB, ("vda", libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_BACKUP, libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED),
     BlockJobEvent("vda", libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_BACKUP, libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED)),
    (_events.JOB_COMPLETED, ({"operation": libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP, "success": True},),
     JobCompletedEvent({"operation": libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP, "success": True})),
    (_events.MIGRATION_ITERATION, (3,), MigrationIterationEvent(3)),
    (_events.DEVICE_REMOVED, ("virtio-disk1",), DeviceRemovedEvent("virtio-disk1")),
    (_events.DEVICE_REMOVAL_FAILED, ("virtio-disk1",), DeviceRemovalFailedEvent("virtio-disk1")),
    (_events.THRESHOLD, ("vda[1]", "/var/lib/libvirt/images/guest.qcow2", 1 << 30, 4096),
     ThresholdEvent("vda[1]", "/var/lib/libvirt/images/guest.qcow2", 1 << 30, 4096)),
]


@pytest.mark.parametrize("kind, arguments, expected", EVERY_KIND, ids=[kind.name for kind, _a, _e in EVERY_KIND])
def test_each_kind_arrives_typed_and_wakes_the_wait(kind, arguments, expected):
    connection = FakeEventConnection()
    received = []
    with watch_of(connection).on(kind, received.append) as watch:
        assert watch.live
        emitter = connection.emit(kind.event_id, *arguments)
        started = time.monotonic()
        found = watch.wait_until(lambda: received[0] if received else None, timeout=10,
                                 timed_out=lambda: WaitTimeout("no event"), fallback=FALLBACK)
        waited = time.monotonic() - started
        emitter.join()
    assert found == expected
    assert received == [expected]
    assert waited < EVENT_LATENCY, "the event, not the fallback poll, must end the wait"
    assert not connection.emitter_errors


def test_the_event_ids_are_libvirts():
    assert _events.BLOCK_JOB.event_id == libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2
    assert _events.THRESHOLD.event_id == libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_THRESHOLD
    assert _events.JOB_COMPLETED.event_id == libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED


def test_block_job_events_of_other_disks_are_dropped():
    connection = FakeEventConnection()
    received = []
    block_job = event_id("VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2")
    with watch_of(connection).on_block_job("vda", received.append, paths=("/images/guest.qcow2",)) as watch:
        connection.emit(block_job, "vdb", 0, libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED, delay=0).join()
        assert not watch.woke(0.05), "another disk's event must not wake the wait"
        connection.emit(block_job, "/images/guest.qcow2", 0, libvirt.VIR_DOMAIN_BLOCK_JOB_READY, delay=0).join()
        connection.emit(block_job, "vda", 0, libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED, delay=0).join()
        assert watch.woke(0.05)
    assert [event.disk for event in received] == ["/images/guest.qcow2", "vda"]


def test_every_registration_is_removed_after_the_block():
    connection = FakeEventConnection()
    with watch_of(connection).on(_events.LIFECYCLE).on(_events.JOB_COMPLETED).on_block_job("vda"):
        assert len(connection.registered) == 3
    assert not connection.registered
    assert sorted(connection.deregistered) == [1, 2, 3]


def test_every_registration_is_removed_when_the_block_raises():
    connection = FakeEventConnection()
    with pytest.raises(WaitTimeout):
        with watch_of(connection).on(_events.LIFECYCLE).on(_events.REBOOT) as watch:
            watch.wait_until(lambda: None, timeout=0.05, timed_out=lambda: WaitTimeout("gave up"))
    assert not connection.registered


def test_registrations_made_are_removed_when_a_later_one_fails_unexpectedly():
    connection = FakeEventConnection()
    original = connection.register_domain_event

    def second_breaks(virdomain, event, callback, domain=None):
        if connection.registered:
            raise KeyboardInterrupt  # anything but a libvirt error: the block never starts
        return original(virdomain, event, callback, domain)

    connection.register_domain_event = second_breaks
    with pytest.raises(KeyboardInterrupt):
        with watch_of(connection).on(_events.LIFECYCLE).on(_events.REBOOT):
            pass
    assert not connection.registered


def test_a_driver_refusing_events_makes_the_watch_poll():
    lifecycle = event_id("VIR_DOMAIN_EVENT_ID_LIFECYCLE")
    connection = FakeEventConnection(refuse=(lifecycle,))
    probes = []
    with watch_of(connection).on(_events.LIFECYCLE) as watch:
        assert not watch.live
        started = time.monotonic()
        watch.wait_until(lambda: probes.append(1) if len(probes) < 3 else "done", timeout=10,
                         timed_out=lambda: WaitTimeout("no answer"), fallback=FALLBACK)
    assert time.monotonic() - started < 1.5, "without events it re-probes often, not every fallback interval"
    assert len(probes) == 3
    assert not connection.deregistered


def test_without_any_event_the_wait_ends_at_its_deadline():
    connection = FakeEventConnection()
    probes = []
    with watch_of(connection).on(_events.LIFECYCLE) as watch:
        started = time.monotonic()
        with pytest.raises(WaitTimeout, match="gave up"):
            watch.wait_until(lambda: probes.append(1), timeout=0.3, timed_out=lambda: WaitTimeout("gave up"),
                             fallback=FALLBACK)
    assert 0.3 <= time.monotonic() - started < 0.3 + EVENT_LATENCY
    assert len(probes) == 2, "a probe at the start and one at the deadline"


def test_a_failing_callback_fails_the_wait_not_the_event_loop():
    connection = FakeEventConnection()
    lifecycle = event_id("VIR_DOMAIN_EVENT_ID_LIFECYCLE")

    def broken(_event):
        raise UnsupportedOperation("the callback could not handle it")

    with watch_of(connection).on(_events.LIFECYCLE, broken) as watch:
        connection.emit(lifecycle, 0, 0)
        started = time.monotonic()
        with pytest.raises(UnsupportedOperation, match="could not handle it"):
            watch.wait_until(lambda: None, timeout=10, timed_out=lambda: WaitTimeout("no event"), fallback=FALLBACK)
    assert time.monotonic() - started < EVENT_LATENCY
    assert not connection.emitter_errors, "an exception in libvirt's event thread is printed as a traceback"


# --- on libvirt's test driver ---------------------------------------------------------------------


@pytest.fixture
def running_test_domain():
    with Connection(ConnectionParams(uri="test:///default")) as connection:
        domain = Domain.lookup(connection, name="test")
        if not domain.virdomain.isActive():
            domain.virdomain.create()
        yield domain
        if domain.state().state == "paused":
            domain.virdomain.resume()


def test_a_suspend_from_another_thread_wakes_wait_for_through_its_lifecycle_event(running_test_domain):
    changed_at = {}

    def suspend_then_resume():
        time.sleep(0.2)
        with Connection(ConnectionParams(uri="test:///default")) as other:
            victim = other.lookup_by_name("test")
            changed_at["suspended"] = time.monotonic()
            victim.suspend()

    thread = threading.Thread(target=suspend_then_resume)
    thread.start()
    paused = running_test_domain.wait_for(["paused"], timeout=10, poll_interval=FALLBACK)
    returned_at = time.monotonic()
    thread.join()
    assert paused == DomainState("paused", "user")
    assert returned_at - changed_at["suspended"] < 0.2

    def resume():
        changed_at["resumed"] = time.monotonic()
        running_test_domain.virdomain.resume()

    threading.Timer(0.2, resume).start()
    resumed = running_test_domain.wait_for(["running"], timeout=10, poll_interval=FALLBACK)
    assert resumed == DomainState("running", "unpaused")
    assert time.monotonic() - changed_at["resumed"] < 0.2


def test_two_waits_can_share_one_deadline():
    connection = FakeEventConnection()
    shared = _events.Deadline(0.4)
    with watch_of(connection).on(_events.LIFECYCLE) as watch:
        assert watch.wait_until(lambda: "first", shared, timed_out=lambda: WaitTimeout("first")) == "first"
        time.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(WaitTimeout, match="second"):
            watch.wait_until(lambda: None, shared, timed_out=lambda: WaitTimeout("second"), fallback=FALLBACK)
    assert time.monotonic() - started < 0.3, "the second wait ends at the shared deadline, not 0.4 s after it began"


def test_one_event_loop_thread_per_process():
    for _attempt in range(3):
        with Connection(ConnectionParams(uri="test:///default")):
            _events.EventLoop.ensure_running()
    loops = [thread for thread in threading.enumerate() if thread.name == "libvirt-event-loop"]
    assert len(loops) == 1 and loops[0].daemon


def test_a_watch_used_again_starts_without_the_last_blocks_wake_up():
    connection = FakeEventConnection()
    lifecycle = event_id("VIR_DOMAIN_EVENT_ID_LIFECYCLE")
    watch = watch_of(connection).on(_events.LIFECYCLE)
    with watch:
        connection.emit(lifecycle, 0, 0, delay=0).join()  # arrives, nobody waits for it
    with watch:
        assert len(connection.registered) == 1
        assert not watch.woke(0.05), "an event of the earlier block must not wake this one"
    assert not connection.registered
