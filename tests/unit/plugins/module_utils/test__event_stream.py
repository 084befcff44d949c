"""Domain events as plain dicts: every type from libvirt's real callback arguments, codes as names, filters, close."""

import threading
import time
import uuid

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _event_names
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, LibvirtCallError, UnsupportedOperation
from ansible_collections.virtops.libvirt.plugins.module_utils._event_stream import DomainEventStream, DomainFilter, Source
from ansible_collections.virtops.libvirt.plugins.module_utils._event_types import EVENT_TYPES, select_event_types

TEST_URI = "test:///default"
OPAQUE = object()  # libvirt hands the registration's opaque value back as the last argument
GUEST_XML = "<domain type='test'><name>{name}</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"


class FakeDomain:
    def __init__(self, name="web01", domain_uuid="4dea22b3-1d52-d8f3-2516-782e98ab3fa0"):
        self._name = name
        self._uuid = domain_uuid

    def name(self):
        return self._name

    def UUIDString(self):  # pylint: disable=invalid-name
        return self._uuid


class FakeConnection:
    """Keeps what the stream registers; `fire` calls a callback as libvirt's event loop would."""

    def __init__(self, refuse=(), broken_deregister=False):
        self.refuse = refuse
        self.broken_deregister = broken_deregister
        self.callbacks = {}  # callback id -> (event id, callback)
        self.close_callback = None
        self.closed_callback_removed = False

    def register_domain_event(self, virdomain, event_id, callback, domain=None):
        assert virdomain is None and domain is None, "the stream watches every domain of the connection"
        if event_id in self.refuse:
            raise UnsupportedOperation("this function is not supported by the connection driver")
        self.callbacks[len(self.callbacks) + 1] = (event_id, callback)
        return len(self.callbacks)

    def deregister_domain_event(self, callback_id, domain=None):  # pylint: disable=unused-argument
        del self.callbacks[callback_id]
        if self.broken_deregister:
            raise LibvirtCallError("client socket is closed")

    def register_close_callback(self, callback):
        self.close_callback = callback

    def unregister_close_callback(self):
        self.closed_callback_removed = True

    def fire(self, type_name, *args, domain=None):
        event_id = EVENT_TYPES[type_name].kind.event_id
        for registered_id, callback in list(self.callbacks.values()):
            if registered_id == event_id:
                callback(self, domain or FakeDomain(), *args, OPAQUE)


def stream_of(connection, types=None, domains=(), on_close=None):
    received = []
    stream = DomainEventStream(connection, Source("kvm01", "qemu+ssh://root:secret@kvm01/system"),
                               select_event_types(types), DomainFilter(tuple(domains)), received.append, on_close)
    return stream.start(), received


# Each type: libvirt's callback arguments (between the domain and the opaque value) -> the details.
SAMPLES = {
    "lifecycle": ((libvirt.VIR_DOMAIN_EVENT_STOPPED, libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED),
                  {"event": "stopped", "detail": "destroyed", "state": "shutoff"}),
    "reboot": ((), {}),
    "watchdog": ((libvirt.VIR_DOMAIN_EVENT_WATCHDOG_RESET,), {"action": "reset"}),
    "io_error": (("/images/web01.qcow2", "virtio-disk0", libvirt.VIR_DOMAIN_EVENT_IO_ERROR_PAUSE, "enospc"),
                 {"path": "/images/web01.qcow2", "device": "virtio-disk0", "action": "pause", "reason": "enospc"}),
    "graphics": ((libvirt.VIR_DOMAIN_EVENT_GRAPHICS_CONNECT, {"family": 0, "node": "127.0.0.1", "service": "5900"},
                  {"family": 1, "node": "::1", "service": "41000"}, "vnc", [("x509dname", "CN=operator")]),
                 {"phase": "connect", "local": {"family": "ipv4", "node": "127.0.0.1", "service": "5900"},
                  "remote": {"family": "ipv6", "node": "::1", "service": "41000"}, "auth_scheme": "vnc",
                  "subject": [{"type": "x509dname", "name": "CN=operator"}]}),
    "agent_lifecycle": ((libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_DISCONNECTED,
                         libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_CHANNEL),
                        {"state": "disconnected", "reason": "channel"}),
    "block_job": (("vda", libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT, libvirt.VIR_DOMAIN_BLOCK_JOB_READY),
                  {"disk": "vda", "job_type": "active_commit", "status": "ready"}),
    "disk_change": (("/isos/old.iso", None, "ide0-0-0", libvirt.VIR_DOMAIN_EVENT_DISK_DROP_MISSING_ON_START),
                    {"old_path": "/isos/old.iso", "new_path": None, "device": "ide0-0-0",
                     "reason": "drop_missing_on_start"}),
    "tray_change": (("ide0-1-0", libvirt.VIR_DOMAIN_EVENT_TRAY_CHANGE_OPEN), {"device": "ide0-1-0", "tray": "open"}),
    "pm_wakeup": ((0,), {"reason": "unknown"}),
    "pm_suspend": ((0,), {"reason": "unknown"}),
    "pm_suspend_disk": ((0,), {"reason": "unknown"}),
    "balloon_change": ((524288,), {"actual_kib": 524288}),
    "device_added": (("net1",), {"device": "net1"}),
    "device_removed": (("virtio-disk1",), {"device": "virtio-disk1"}),
    "device_removal_failed": (("hostdev0",), {"device": "hostdev0"}),
    "job_completed": (({"operation": libvirt.VIR_DOMAIN_JOB_OPERATION_BACKUP, "success": True, "time_elapsed": 1200},),
                      {"operation": "backup", "success": True, "time_elapsed": 1200}),
    "memory_failure": ((libvirt.VIR_DOMAIN_EVENT_MEMORY_FAILURE_RECIPIENT_GUEST,
                        libvirt.VIR_DOMAIN_EVENT_MEMORY_FAILURE_ACTION_INJECT,
                        libvirt.VIR_DOMAIN_MEMORY_FAILURE_ACTION_REQUIRED | libvirt.VIR_DOMAIN_MEMORY_FAILURE_RECURSIVE),
                       {"recipient": "guest", "action": "inject", "flags": ["action_required", "recursive"]}),
    "block_threshold": (("vda[2]", "/images/web01.qcow2", 1073741824, 4096),
                        {"disk": "vda[2]", "path": "/images/web01.qcow2", "threshold": 1073741824, "excess": 4096}),
    "migration_iteration": ((3,), {"iteration": 3}),
    "metadata_change": ((libvirt.VIR_DOMAIN_METADATA_ELEMENT, "https://example.org/ns"),
                        {"type": "element", "namespace": "https://example.org/ns"}),
}


def test_the_samples_cover_every_event_type():
    assert set(SAMPLES) == set(EVENT_TYPES)


@pytest.mark.parametrize("type_name", sorted(SAMPLES))
def test_each_event_type_becomes_one_dict_with_names(type_name):
    args, details = SAMPLES[type_name]
    connection = FakeConnection()
    stream, received = stream_of(connection, [type_name])
    assert not stream.unavailable, "this libvirt-python has every event the source offers"
    connection.fire(type_name, *args)
    assert len(received) == 1
    event = received[0]
    assert event["details"] == details
    assert {key: event[key] for key in ("host", "uri", "type", "domain", "uuid")} == {
        "host": "kvm01", "uri": "qemu+ssh://root:********@kvm01/system", "type": type_name, "domain": "web01",
        "uuid": "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"}
    assert event["timestamp"].endswith("+00:00") and "T" in event["timestamp"]


def test_codes_libvirt_added_later_are_named_unknown_not_numbers():
    connection = FakeConnection()
    _stream, received = stream_of(connection, ["lifecycle", "block_job", "watchdog"])
    connection.fire("lifecycle", 99, 7)
    connection.fire("block_job", "vda", 42, 43)
    connection.fire("watchdog", 44)
    assert [event["details"] for event in received] == [
        {"event": "unknown_99", "detail": "unknown_7", "state": None},
        {"disk": "vda", "job_type": "unknown_42", "status": "unknown_43"},
        {"action": "unknown_44"}]


def test_lifecycle_details_are_named_for_every_event_libvirt_has():
    for event_name, details in _event_names.LIFECYCLE_DETAILS.items():
        assert details, f"{event_name} has detail names"
        assert event_name in _event_names.LIFECYCLE_EVENTS.values()


def test_only_the_chosen_types_are_subscribed():
    connection = FakeConnection()
    stream_of(connection, ["lifecycle", "io_error"])
    assert sorted(event_id for event_id, _callback in connection.callbacks.values()) == sorted(
        [libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, libvirt.VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON])


def test_an_unknown_event_type_is_refused_listing_the_valid_ones():
    with pytest.raises(InvalidArgument, match="unknown event type.*lifecycl, stoped: expected some of lifecycle, reboot") as raised:
        select_event_types(["lifecycle", "stoped", "lifecycl"])
    assert all(name in str(raised.value) for name in EVENT_TYPES)


def test_all_types_when_none_are_named():
    assert [event_type.name for event_type in select_event_types(None)] == list(EVENT_TYPES)


def test_domain_patterns_filter_events():
    connection = FakeConnection()
    _stream, received = stream_of(connection, ["reboot"], domains=["web*", "db01"])
    for name in ("web01", "db01", "db02", "Web03", "mail"):
        connection.fire("reboot", domain=FakeDomain(name))
    assert [event["domain"] for event in received] == ["web01", "db01"]


def test_a_type_the_driver_refuses_is_listed_as_unavailable():
    connection = FakeConnection(refuse=(libvirt.VIR_DOMAIN_EVENT_ID_GRAPHICS,))
    stream, _received = stream_of(connection, ["graphics", "lifecycle"])
    assert stream.unavailable == ["graphics"]
    assert len(connection.callbacks) == 1


def test_an_event_that_cannot_be_read_still_arrives_saying_so():
    connection = FakeConnection()
    _stream, received = stream_of(connection, ["graphics"])
    connection.fire("graphics", 0, "not a dict", None, "vnc", None)
    assert received[0]["type"] == "graphics"
    assert received[0]["details"]["error"].startswith("cannot read the graphics event")


def test_stop_removes_every_registration_even_on_a_dead_connection():
    connection = FakeConnection(broken_deregister=True)
    stream, _received = stream_of(connection, ["lifecycle", "reboot", "block_job"], on_close=lambda reason: None)
    stream.stop()
    assert not connection.callbacks
    assert connection.closed_callback_removed


def test_a_broken_connection_is_reported_with_the_reason_name():
    reasons = []
    connection = FakeConnection()
    stream_of(connection, ["lifecycle"], on_close=reasons.append)
    connection.close_callback(libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE)
    connection.close_callback(libvirt.VIR_CONNECT_CLOSE_REASON_EOF)
    assert reasons == ["keepalive", "eof"]


def test_the_test_driver_delivers_lifecycle_events_in_order():
    name = f"unit-event-stream-{uuid.uuid4().hex[:8]}"
    received = []
    arrived = threading.Event()
    arrival = {}

    def collect(event):
        received.append(event)
        if event["details"]["event"] == "undefined":
            arrival["at"] = time.monotonic()
            arrived.set()

    with Connection(ConnectionParams(uri=TEST_URI)) as watching, Connection(ConnectionParams(uri=TEST_URI)) as acting:
        stream = DomainEventStream(watching, Source("local", TEST_URI), select_event_types(["lifecycle"]),
                                   DomainFilter((name,)), collect).start()
        try:
            virdomain = acting.define_xml_flags(GUEST_XML.format(name=name), 0, "define")
            for action in (virdomain.create, virdomain.suspend, virdomain.resume, virdomain.destroy, virdomain.undefine):
                action()
            returned = time.monotonic()
            assert arrived.wait(5), f"the undefine event never came: {received}"
        finally:
            stream.stop()
    assert arrival["at"] - returned < 1, "an event arrives within a second of the call that caused it"
    assert [(event["details"]["event"], event["details"]["detail"]) for event in received] == [
        ("defined", "added"), ("started", "booted"), ("suspended", "paused"), ("resumed", "unpaused"),
        ("stopped", "destroyed"), ("undefined", "removed")]
    assert {event["domain"] for event in received} == {name}
    assert {event["host"] for event in received} == {"local"}


def test_the_close_callback_wrapper_hands_on_libvirt_s_reason(monkeypatch):
    reasons = []
    registered = {}
    with Connection(ConnectionParams(uri=TEST_URI)) as connection:
        connection.register_close_callback(reasons.append)  # the test driver accepts it, and never closes
        connection.unregister_close_callback()
        monkeypatch.setattr(connection.conn, "registerCloseCallback",
                            lambda callback, opaque: registered.update(callback=callback, opaque=opaque) or 0)
        connection.register_close_callback(reasons.append)
        registered["callback"](connection.conn, libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE, registered["opaque"])
    assert reasons == [libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE]
