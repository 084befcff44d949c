"""The domain handle on libvirt's test driver: lookup, state names, event-driven waiting."""

import threading
import time

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _domain
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams, RetryPolicy
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain, DomainState
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    DomainNotFound,
    InvalidArgument,
    TransientError,
    WaitTimeout,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._jobs import JobCalls

# test:///default keeps one shared state per process: every connection sees the others' changes.
SHARED_TEST_URI = "test:///default"


@pytest.fixture
def connection():
    with Connection(ConnectionParams(uri=SHARED_TEST_URI)) as opened:
        yield opened


@pytest.fixture
def running_test_domain(connection):
    domain = Domain.lookup(connection, name="test")
    if not domain.virdomain.isActive():
        domain.virdomain.create()
    return domain


def test_state_names_cover_all_eight_states():
    constants = [
        "NOSTATE", "RUNNING", "BLOCKED", "PAUSED", "SHUTDOWN", "SHUTOFF", "CRASHED", "PMSUSPENDED",
    ]
    for constant in constants:
        code = getattr(libvirt, f"VIR_DOMAIN_{constant}")
        assert _domain.state_name(code) == constant.lower()


# Every reason constant of the seed's API reference, by libvirt's C name.
SEED_REASONS = {
    "NOSTATE": ["UNKNOWN"],
    "RUNNING": [
        "BOOTED", "FROM_SNAPSHOT", "MIGRATED", "MIGRATION_CANCELED", "RESTORED", "SAVE_CANCELED", "UNKNOWN",
        "UNPAUSED", "WAKEUP", "CRASHED", "POSTCOPY", "POSTCOPY_FAILED",
    ],
    "BLOCKED": ["UNKNOWN"],
    "PAUSED": [
        "DUMP", "FROM_SNAPSHOT", "IOERROR", "MIGRATION", "SAVE", "UNKNOWN", "USER", "WATCHDOG", "SHUTTING_DOWN",
        "SNAPSHOT", "CRASHED", "STARTING_UP", "POSTCOPY", "POSTCOPY_FAILED", "API_ERROR",
    ],
    "SHUTDOWN": ["UNKNOWN", "USER"],
    "SHUTOFF": ["CRASHED", "DESTROYED", "FAILED", "FROM_SNAPSHOT", "MIGRATED", "SAVED", "SHUTDOWN", "UNKNOWN", "DAEMON"],
    "CRASHED": ["UNKNOWN", "PANICKED"],
    "PMSUSPENDED": ["UNKNOWN"],
}


# Reasons newer than the libvirt these tests may run on, by their value in libvirt's headers.
NEWER_REASON_CODES = {"VIR_DOMAIN_PAUSED_API_ERROR": 14}


@pytest.mark.parametrize("state", sorted(SEED_REASONS))
def test_every_reason_of_the_seed_has_its_own_name(state):
    for reason in SEED_REASONS[state]:
        constant = f"VIR_DOMAIN_{state}_{reason}"
        code = getattr(libvirt, constant, NEWER_REASON_CODES.get(constant))
        assert _domain.reason_name(state.lower(), code) == reason.lower(), (state, reason)


def test_unknown_codes_still_get_a_name():
    assert _domain.state_name(99) == "unknown_state_99"
    assert _domain.reason_name("running", 99) == "unknown_reason_99"


def test_lookup_by_name_and_by_uuid_find_the_same_domain(connection):
    by_name = Domain.lookup(connection, name="test")
    by_uuid = Domain.lookup(connection, uuid=by_name.uuid)
    assert (by_uuid.name, by_uuid.uuid) == ("test", by_name.uuid)


def test_lookup_of_a_missing_domain_says_which(connection):
    with pytest.raises(DomainNotFound, match="domain 'nope': lookup by name failed: Domain not found"):
        Domain.lookup(connection, name="nope")
    assert Domain.find(connection, name="nope") is None


def test_lookup_never_lists_all_domains(connection, monkeypatch):
    def refuse(*_args):
        raise AssertionError("a lookup must not scan all domains")

    monkeypatch.setattr(connection.conn, "listAllDomains", refuse)
    assert Domain.lookup(connection, name="test").name == "test"


def test_state_and_reason_as_names(running_test_domain):
    running_test_domain.virdomain.suspend()
    try:
        assert running_test_domain.state() == DomainState("paused", "user")
    finally:
        running_test_domain.virdomain.resume()
    assert running_test_domain.state() == DomainState("running", "unpaused")


def test_wait_for_sees_a_destroy_from_another_connection_within_0_2_s(running_test_domain):
    destroyed_at = {}

    def destroy_elsewhere():
        time.sleep(0.3)
        with Connection(ConnectionParams(uri=SHARED_TEST_URI)) as other:
            victim = other.conn.lookupByName("test")
            destroyed_at["t"] = time.monotonic()
            victim.destroy()

    thread = threading.Thread(target=destroy_elsewhere)
    thread.start()
    # The poll interval is far longer than the allowed latency: only the event can be fast enough.
    final = running_test_domain.wait_for(["shutoff"], timeout=10, poll_interval=5)
    returned_at = time.monotonic()
    thread.join()
    assert final == DomainState("shutoff", "destroyed")
    assert returned_at - destroyed_at["t"] < 0.2


def test_wait_for_a_state_already_reached_returns_at_once(running_test_domain):
    started = time.monotonic()
    assert running_test_domain.wait_for(["running", "paused"], timeout=5).state == "running"
    assert time.monotonic() - started < 0.2


def test_wait_for_times_out_with_a_clear_message(running_test_domain):
    with pytest.raises(WaitTimeout, match=r"domain 'test' did not reach shutoff within 0.3 s \(it is running"):
        running_test_domain.wait_for(["shutoff"], timeout=0.3)


def test_wait_for_polls_when_the_driver_sends_no_events(running_test_domain, monkeypatch):
    no_events = running_test_domain.connection.conn

    def refuse_events(*_args):
        raise libvirt.libvirtError("this driver sends no events")

    monkeypatch.setattr(no_events, "domainEventRegisterAny", refuse_events)
    threading.Timer(0.2, running_test_domain.virdomain.destroy).start()
    started = time.monotonic()
    assert running_test_domain.wait_for(["shutoff"], timeout=5, poll_interval=5).state == "shutoff"
    assert time.monotonic() - started < 1, "without events it polls often, not every poll_interval"


def test_wait_for_absent_after_a_transient_domain_vanishes(connection):
    xml = "<domain type='test'><name>transient-wait</name><memory>1024</memory><os><type>hvm</type></os></domain>"
    domain = Domain(connection, connection.conn.createXML(xml, 0))
    threading.Timer(0.1, domain.virdomain.destroy).start()
    assert domain.wait_for(["absent"], timeout=5).state == "absent"


@pytest.mark.parametrize("states, timeout", [(["sleeping"], 1), ([], 1), (["running"], -1)])
def test_wait_for_refuses_bad_arguments(running_test_domain, states, timeout):
    with pytest.raises(InvalidArgument):
        running_test_domain.wait_for(states, timeout=timeout)


def test_wait_for_leaves_no_callback_behind(running_test_domain, monkeypatch):
    deregistered = []
    original = running_test_domain.connection.conn.domainEventDeregisterAny
    monkeypatch.setattr(
        running_test_domain.connection.conn,
        "domainEventDeregisterAny",
        lambda callback_id: deregistered.append(callback_id) or original(callback_id),
    )
    with pytest.raises(WaitTimeout):
        running_test_domain.wait_for(["shutoff"], timeout=0.1)
    assert len(deregistered) == 1


class FlakyVirDomain:
    """A virDomain whose every call first hits a transient lock timeout once."""

    def __init__(self):
        self.calls = []

    def name(self):
        return "flaky"

    def UUIDString(self):  # noqa: N802 (libvirt's name)
        return "55555555-5555-4555-8555-555555555555"

    def __getattr__(self, method):
        def call(*_args):
            self.calls.append(method)
            if self.calls.count(method) == 1:
                raise lock_timeout()
            return ANSWERS[method]
        return call


ANSWERS = {"state": [1, 1], "XMLDesc": "<domain/>", "isPersistent": 1, "autostart": 0, "hasManagedSaveImage": 0,
           "isActive": 1, "create": 0, "createWithFlags": 0, "snapshotCreateXML": None, "backupBegin": 0,
           "shutdownFlags": 0, "undefineFlags": 0, "isUpdated": 0, "snapshotNum": 2, "diskErrors": {}}


def lock_timeout():
    error = libvirt.libvirtError("Timed out during operation: cannot acquire state change lock")
    error.get_error_code = lambda: libvirt.VIR_ERR_OPERATION_TIMEOUT
    error.get_error_message = lambda: "Timed out during operation: cannot acquire state change lock"
    return error


@pytest.fixture
def flaky_domain():
    connection = Connection(ConnectionParams(uri=SHARED_TEST_URI), retry=RetryPolicy(sleep=lambda _seconds: None))
    return Domain(connection, FlakyVirDomain())


def test_reads_are_retried_after_a_transient_error(flaky_domain):
    assert flaky_domain.state() == DomainState("running", "booted")
    assert flaky_domain.xml_desc() == "<domain/>"
    assert flaky_domain.is_persistent() is True
    assert flaky_domain.autostart() is False
    assert flaky_domain.has_managed_save() is False
    assert flaky_domain.is_active() is True
    assert flaky_domain.details.is_updated() is False
    assert flaky_domain.details.disk_errors() == {}
    assert flaky_domain.snapshots.count() == 2


@pytest.mark.parametrize("method, change", [
    ("createWithFlags", lambda domain: domain.create_with_flags(0)),
    ("snapshotCreateXML", lambda domain: domain.snapshots.create_xml("s1", "<domainsnapshot/>", 0)),
    ("backupBegin", lambda domain: JobCalls(domain).backup_begin("<domainbackup/>", None)),
    ("shutdownFlags", lambda domain: domain.shutdown_flags(0)),
    ("undefineFlags", lambda domain: domain.undefine_flags(0)),
])
def test_changes_are_never_retried(flaky_domain, method, change):
    with pytest.raises(TransientError):
        change(flaky_domain)
    assert flaky_domain.virdomain.calls == [method]


def test_is_active_goes_through_the_error_layer(connection):
    domain = Domain.lookup(connection, name="test")
    assert domain.is_active() is bool(domain.virdomain.isActive())
    gone = Domain(connection, connection.conn.createXML(
        "<domain type='test'><name>vanishing</name><memory>1024</memory><os><type>hvm</type></os></domain>", 0))
    gone.virdomain.destroy()
    with pytest.raises(DomainNotFound, match="domain 'vanishing'"):
        gone.is_active()


def test_the_id_is_none_while_the_domain_is_not_running(connection):
    running = Domain.lookup(connection, name="test")
    if not running.virdomain.isActive():
        running.virdomain.create()
    assert running.id() == running.virdomain.ID() >= 0
    inactive = Domain(connection, connection.conn.defineXML(
        "<domain type='test'><name>never-started</name><memory>1024</memory><os><type>hvm</type></os></domain>"))
    try:
        assert inactive.id() is None
    finally:
        inactive.virdomain.undefine()
