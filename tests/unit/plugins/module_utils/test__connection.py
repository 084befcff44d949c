"""Connection handling and libvirt error translation, on libvirt's test driver."""

import time

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _connection
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import (
    Connection,
    ConnectionParams,
    RetryPolicy,
    call_libvirt,
    reopen_within,
    resolve_uri,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    ConnectionFailed,
    DomainNotFound,
    LibvirtCallError,
    TransientError,
    UnsupportedOperation,
)


class FakeLibvirtError(libvirt.libvirtError):
    """A libvirtError with a chosen code: the test driver cannot produce a lock timeout on demand."""

    def __init__(self, code, message):
        super().__init__(message)
        self._code, self._message = code, message

    def get_error_code(self):
        return self._code

    def get_error_message(self):
        return self._message


def lock_timeout():
    return FakeLibvirtError(
        libvirt.VIR_ERR_OPERATION_TIMEOUT,
        "Timed out during operation: cannot acquire state change lock (held by monitor=remoteDispatchDomainSuspend)",
    )


class RecordedSleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


@pytest.mark.parametrize(
    "task_uri, environment, expected",
    [
        ("test:///default", "qemu:///session", "test:///default"),
        (None, "qemu+ssh://kvm01/system", "qemu+ssh://kvm01/system"),
        (None, None, "qemu:///system"),
        ("", None, "qemu:///system"),
    ],
)
def test_uri_precedence(monkeypatch, task_uri, environment, expected):
    if environment is None:
        monkeypatch.delenv("LIBVIRT_DEFAULT_URI", raising=False)
    else:
        monkeypatch.setenv("LIBVIRT_DEFAULT_URI", environment)
    assert resolve_uri(task_uri) == expected


def test_connection_is_closed_after_the_block():
    with Connection(ConnectionParams(uri="test:///default")) as connection:
        conn = connection.conn
        assert conn.isAlive()
    with pytest.raises(ConnectionFailed, match="not connected"):
        connection.conn  # pylint: disable=pointless-statement
    with pytest.raises(libvirt.libvirtError):
        conn.getHostname()


def test_connection_is_closed_when_the_block_fails():
    with pytest.raises(RuntimeError):
        with Connection(ConnectionParams(uri="test:///default")) as connection:
            raise RuntimeError("task failed")
    assert connection._conn is None


def test_readonly_connection_refuses_changes():
    with Connection(ConnectionParams(uri="test:///default", readonly=True)) as connection:
        domain = connection.conn.lookupByName("test")
        with pytest.raises(LibvirtCallError, match="read only|read-only"):
            connection.invoke("suspend", domain.suspend, domain="test")


def test_unreachable_uri_fails_with_the_uri_and_the_reason():
    with pytest.raises(ConnectionFailed, match=r"cannot connect to libvirt at 'qemu\+unix:///system\?socket=/nonexistent/sock'"):
        Connection(ConnectionParams(uri="qemu+unix:///system?socket=/nonexistent/sock")).open()


def test_invalid_uri_fails_clearly():
    with pytest.raises(ConnectionFailed, match="cannot connect to libvirt at 'no such://uri'"):
        Connection(ConnectionParams(uri="no such://uri")).open()


def test_credentials_go_through_open_auth(monkeypatch):
    asked = {}
    real_open_auth = libvirt.openAuth

    def spy(uri, auth, flags):
        asked["types"] = auth[0]
        asked["callback"] = auth[1]
        return real_open_auth(uri, auth, flags)

    monkeypatch.setattr(libvirt, "openAuth", spy)
    params = ConnectionParams(uri="test:///default", auth_username="admin", auth_password="s3cret")
    with Connection(params) as connection:
        credentials = [[libvirt.VIR_CRED_AUTHNAME, "user", "", "", None], [libvirt.VIR_CRED_PASSPHRASE, "pw", "", "", None]]
        assert asked["callback"](credentials, None) == 0
        assert [credential[4] for credential in credentials] == ["admin", "s3cret"]
        assert connection.conn.getURI() == "test:///default"
    assert libvirt.VIR_CRED_PASSPHRASE in asked["types"]
    assert "s3cret" not in repr(params)


def test_credentials_callback_refuses_what_it_was_not_given():
    params = ConnectionParams(uri="test:///default", auth_username="admin")
    assert params.answer_credentials([[libvirt.VIR_CRED_PASSPHRASE, "pw", "", "", None]], None) == -1


def test_not_found_is_translated_with_domain_and_operation():
    with Connection(ConnectionParams(uri="test:///default")) as connection:
        with pytest.raises(DomainNotFound) as raised:
            connection.invoke("lookup by name", connection.conn.lookupByName, "ghost", domain="ghost")
    assert raised.value.code == libvirt.VIR_ERR_NO_DOMAIN
    assert str(raised.value) == "domain 'ghost': lookup by name failed: Domain not found"
    assert raised.value.details() == {"domain_name": "ghost", "operation": "lookup by name", "libvirt_error_code": 42}


def test_unsupported_is_translated():
    with Connection(ConnectionParams(uri="test:///default")) as connection:
        domain = connection.conn.lookupByName("test")
        with pytest.raises(UnsupportedOperation):
            connection.invoke("read block job", domain.blockJobInfo, "vda", 0, domain="test")


def test_transient_errors_are_retried_with_bounded_backoff():
    sleeps = RecordedSleeps()
    failures = [lock_timeout(), lock_timeout()]

    def flaky():
        if failures:
            raise failures.pop()
        return "done"

    assert call_libvirt("suspend", flaky, retry=RetryPolicy(attempts=4, first_delay=0.5, sleep=sleeps)) == "done"
    assert sleeps == [0.5, 1.0]


def test_transient_errors_give_up_after_the_last_attempt():
    sleeps = RecordedSleeps()
    calls = []

    def always_locked():
        calls.append(1)
        raise lock_timeout()

    policy = RetryPolicy(attempts=5, first_delay=1, max_delay=2.5, sleep=sleeps)
    with pytest.raises(TransientError, match="domain 'web01': suspend failed: Timed out during operation: cannot acquire"):
        call_libvirt("suspend", always_locked, domain="web01", retry=policy)
    assert len(calls) == 5
    assert sleeps == [1, 2, 2.5, 2.5]


def test_other_errors_are_not_retried():
    calls = []

    def broken():
        calls.append(1)
        raise FakeLibvirtError(libvirt.VIR_ERR_OPERATION_INVALID, "domain is not running")

    with pytest.raises(LibvirtCallError, match="domain is not running") as raised:
        call_libvirt("shutdown", broken, retry=RetryPolicy(sleep=RecordedSleeps()))
    assert raised.type is LibvirtCallError
    assert calls == [1]


def test_message_pattern_marks_errors_transient_whatever_the_code():
    error = FakeLibvirtError(libvirt.VIR_ERR_INTERNAL_ERROR, "cannot acquire state change lock")
    assert isinstance(_connection.translate_error(error, "resume"), TransientError)


@pytest.mark.parametrize("uri, shown", [
    ("qemu+ssh://root:hunter2@kvm01/system", "qemu+ssh://root:********@kvm01/system"),
    ("qemu+unix://admin:pw@/system?socket=/x", "qemu+unix://admin:********@/system?socket=/x"),
    ("qemu+ssh://root@kvm01/system?keyfile=/a:b@c", "qemu+ssh://root@kvm01/system?keyfile=/a:b@c"),
    ("qemu:///system", "qemu:///system"),
])
def test_uris_are_shown_without_their_password(uri, shown):
    assert _connection.redact_uri(uri) == shown


def test_a_connect_failure_names_the_uri_without_its_password():
    params = ConnectionParams(uri="qemu+unix://admin:hunter2@/system?socket=/nonexistent/sock", auth_password="hunter2")
    with pytest.raises(ConnectionFailed) as raised:
        Connection(params).open()
    assert "hunter2" not in str(raised.value) and "hunter2" not in str(raised.value.details())
    assert "qemu+unix://admin:********@/system" in str(raised.value)


def flaky_then(result, failures):
    """A libvirt call that hits the state change lock `failures` times, then returns `result`."""
    calls = []

    def call(*_args):
        calls.append(1)
        if len(calls) <= failures:
            raise lock_timeout()
        return result

    call.calls = calls
    return call


def test_a_connection_call_is_not_retried_unless_the_caller_says_it_is_idempotent():
    sleeps = RecordedSleeps()
    connection = Connection(ConnectionParams(uri="test:///default"), retry=RetryPolicy(sleep=sleeps))
    create = flaky_then("started", failures=1)
    with pytest.raises(TransientError):
        connection.invoke("start", create, domain="web01")
    assert len(create.calls) == 1 and sleeps == []
    read = flaky_then("running", failures=2)
    assert connection.invoke("read state", read, domain="web01", idempotent=True) == "running"
    assert len(read.calls) == 3 and sleeps == [0.5, 1.0]


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_retry_sleeps_never_go_past_the_deadline():
    clock = FakeClock()
    policy = RetryPolicy(attempts=10, first_delay=1, max_delay=4, sleep=clock.sleep, clock=clock, deadline=104.5)
    read = flaky_then("never", failures=10)
    with pytest.raises(TransientError):
        call_libvirt("read state", read, retry=policy)
    assert clock.now <= 104.5
    assert len(read.calls) == 3  # at 100, after 1 s, after 2 s more; the next 4 s would end at 107


def test_a_connection_deadline_bounds_its_retries():
    clock = FakeClock()
    connection = Connection(ConnectionParams(uri="test:///default"),
                            retry=RetryPolicy(attempts=10, sleep=clock.sleep, clock=clock))
    connection.limit_retries_to(clock.now + 0.1)
    read = flaky_then("never", failures=10)
    with pytest.raises(TransientError):
        connection.invoke("read state", read, idempotent=True)
    assert len(read.calls) == 1 and clock.now == 100.0


def test_opening_a_hung_daemon_gives_up_after_the_connect_timeout():
    from hung_libvirtd import HungSocket  # pylint: disable=import-outside-toplevel

    with HungSocket() as hung:
        started = time.monotonic()
        with pytest.raises(ConnectionFailed) as raised:
            Connection(ConnectionParams(uri=hung.uri, connect_timeout=1)).open()
        assert time.monotonic() - started < 2
    assert str(raised.value) == (f"cannot connect to libvirt at '{hung.uri}': no answer within 1 s "
                                 "(connect timeout); the daemon or the network does not respond")
    assert raised.value.operation == "connect"


def test_the_default_connect_timeout_is_bounded():
    assert 0 < ConnectionParams().connect_timeout <= 60


class KeepAliveSpy:
    def __init__(self, answer=0):
        self.answer = answer
        self.asked = []

    def setKeepAlive(self, interval, count):  # noqa: N802 (libvirt's name)
        self.asked.append((interval, count))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def close(self):
        return 0


def test_keepalive_is_started_so_a_hung_peer_fails_calls(monkeypatch):
    spy = KeepAliveSpy()
    monkeypatch.setattr(libvirt, "open", lambda _uri: spy)
    with Connection(ConnectionParams(uri="qemu+ssh://kvm01/system")):
        pass
    assert spy.asked == [(5, 3)]
    assert _connection.EventLoop._started, "keepalive needs the event loop running"


def test_drivers_without_keepalive_are_fine(monkeypatch):
    spy = KeepAliveSpy(FakeLibvirtError(libvirt.VIR_ERR_NO_SUPPORT, "this function is not supported"))
    monkeypatch.setattr(libvirt, "open", lambda _uri: spy)
    with Connection(ConnectionParams(uri="test:///default", keepalive_interval=2, keepalive_count=1), events=False):
        pass
    assert spy.asked == [(2, 1)]


def test_a_connection_lost_to_keepalive_is_a_connection_failure():
    error = FakeLibvirtError(libvirt.VIR_ERR_INTERNAL_ERROR, "internal error: connection closed due to keepalive timeout")
    translated = _connection.translate_error(error, "get all domain stats")
    assert isinstance(translated, ConnectionFailed)
    assert "keepalive timeout" in str(translated)


def test_an_error_whose_detail_libvirt_lost_is_read_again_by_a_repeatable_call():
    """libvirt-python reads the error after the call; a virDomain freed by the garbage collector in
    between resets it (every public API resets the thread's last error), leaving a libvirtError
    with no code and no message. A lookup that then says only "virDomainLookupByName() failed"
    must not be taken for a real failure: a call safe to repeat asks again."""
    calls = []

    def lookup(*_args):
        calls.append(1)
        if len(calls) == 1:
            raise FakeLibvirtError(None, None)
        raise FakeLibvirtError(libvirt.VIR_ERR_NO_DOMAIN, "Domain not found: no domain with matching name 'web01'")

    sleeps = RecordedSleeps()
    connection = Connection(ConnectionParams(uri="test:///default"), retry=RetryPolicy(sleep=sleeps))
    with pytest.raises(DomainNotFound):
        connection.invoke("lookup by name", lookup, domain="web01", idempotent=True)
    assert len(calls) == 2


def test_an_error_without_detail_of_a_change_is_not_repeated_and_says_so():
    calls = []

    def start(*_args):
        calls.append(1)
        raise FakeLibvirtError(None, None)

    connection = Connection(ConnectionParams(uri="test:///default"), retry=RetryPolicy(sleep=RecordedSleeps()))
    with pytest.raises(LibvirtCallError, match="libvirt gave no detail"):
        connection.invoke("start", start, domain="web01")
    assert len(calls) == 1


def test_reopen_within_tries_again_until_ready_finds_what_it_needs():
    """As a daemon coming back from a restart: the first attempts fail, a later one serves."""
    attempts = []

    def ready(connection):
        attempts.append(connection)
        if len(attempts) < 2:
            raise ConnectionFailed("cannot connect to libvirt at 'test:///default': the daemon is starting")
        return connection.conn.lookupByName("test").name()

    connection, found = reopen_within(ConnectionParams(uri="test:///default"), 5, ready)
    try:
        assert found == "test" and len(attempts) == 2
        with pytest.raises(ConnectionFailed, match="not connected"):  # the failed attempt's connection was closed
            attempts[0].conn.getURI()
    finally:
        connection.close()


def test_reopen_within_gives_up_at_its_deadline():
    started = time.monotonic()
    assert reopen_within(ConnectionParams(uri="test:///no-such-dir/no-such-file.xml"), 0.8, lambda c: c) is None
    assert time.monotonic() - started < 3
