"""The guest agent: bounded calls, waiting woken by agent events, freezes that always thaw, secret-safe commands.

The fake virDomain implements the libvirt methods GuestAgent calls (guestInfo, fsFreeze,
agentSetResponseTimeout...) and is wrapped by the real Domain, so every call goes through the real
error translation; the fake virConnect delivers agent lifecycle events from another thread, as
libvirt's event loop does.
"""

import json
import threading
import time

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _agent
from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestAgent
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    REDACTED,
    InvalidArgument,
    LibvirtCallError,
    UnsupportedOperation,
    VirtopsError,
    WaitTimeout,
)

SHARED_TEST_URI = "test:///default"
AGENT_CHANNEL = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>"
RESPONSE_TIMEOUT_BLOCK = libvirt.VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_BLOCK  # libvirt's initial value: wait forever
NOT_CONNECTED = "Guest agent is not responding: QEMU guest agent is not connected"


def libvirt_error(message, code=libvirt.VIR_ERR_INTERNAL_ERROR):
    error = libvirt.libvirtError(message)
    error.get_error_code = lambda: code
    error.get_error_message = lambda: message
    return error


class AgentVirDomain:
    """A running domain whose guest agent answers after `unanswered` tries (or once `connected`); records calls."""

    def __init__(self, devices=AGENT_CHANNEL, unanswered=2, fail=(), set_timeout_error=None):
        self.devices = devices
        self.unanswered = unanswered
        self.connected = None  # None: answer after `unanswered` tries; False/True: as the agent's connection says
        self.fail = set(fail)
        self.set_timeout_error = set_timeout_error
        self.calls = []

    def name(self):
        return "agent-guest"

    def UUIDString(self):  # noqa: N802 (libvirt's name)
        return "66666666-6666-4666-8666-666666666666"

    def XMLDesc(self, _flags=0):  # noqa: N802
        self.calls.append("XMLDesc")
        return f"<domain type='kvm'><name>agent-guest</name><devices>{self.devices}</devices></domain>"

    def agentSetResponseTimeout(self, seconds, _flags=0):  # noqa: N802
        self.calls.append(("agentSetResponseTimeout", seconds))
        if self.set_timeout_error is not None:
            raise self.set_timeout_error
        return 0

    def guestInfo(self, types=0, _flags=0):  # noqa: N802
        self.calls.append(("guestInfo", types))
        if self.connected == "silent":
            return {}  # libvirt 9.0's answer when a stopped agent lets the call time out (seen on the rig)
        if self.connected is False or (self.connected is None and self.unanswered):
            if self.connected is None:
                self.unanswered -= 1
            raise libvirt_error(NOT_CONNECTED, libvirt.VIR_ERR_AGENT_UNRESPONSIVE)
        return {"hostname": "guest"}

    def _freeze_call(self, method):
        self.calls.append(method)
        if method in self.fail:
            raise libvirt_error(f"{method} broke")
        if method == "fsFreeze" and "interrupt freeze" in self.fail:
            raise KeyboardInterrupt
        return 2

    def fsFreeze(self, *_args):  # noqa: N802
        return self._freeze_call("fsFreeze")

    def fsThaw(self, *_args):  # noqa: N802
        return self._freeze_call("fsThaw")


class NoEventsConn:
    def domainEventRegisterAny(self, *_args):  # noqa: N802
        raise libvirt.libvirtError("this driver sends no events")


class EventConn:
    """A virConnect that delivers agent lifecycle events from its own thread, as libvirt's event loop does."""

    def __init__(self):
        self.callbacks = {}
        self.registered = threading.Event()

    def domainEventRegisterAny(self, virdomain, event_id, callback, opaque):  # noqa: N802
        self.callbacks[len(self.callbacks) + 1] = (virdomain, event_id, callback, opaque)
        self.registered.set()
        return len(self.callbacks)

    def domainEventDeregisterAny(self, callback_id):  # noqa: N802
        del self.callbacks[callback_id]

    def agent_connects(self, virdomain, after):
        """In another thread, `after` seconds from now: the agent connects and the event is delivered."""
        happened = {}

        def connect():
            self.registered.wait(5)
            time.sleep(after)
            virdomain.connected = True
            happened["at"] = time.monotonic()
            for dom, event_id, callback, opaque in list(self.callbacks.values()):
                if event_id == libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE:
                    callback(self, dom, libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED,
                             libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_CHANNEL, opaque)

        thread = threading.Thread(target=connect, daemon=True)
        thread.start()
        return thread, happened


def agent_domain(virdomain, conn=None):
    connection = Connection(ConnectionParams(uri=SHARED_TEST_URI))
    connection._conn = conn or NoEventsConn()
    return Domain(connection, virdomain)


@pytest.fixture
def running_test_domain():
    with Connection(ConnectionParams(uri=SHARED_TEST_URI)) as connection:
        domain = Domain.lookup(connection, name="test")
        if not domain.virdomain.isActive():
            domain.virdomain.create()
        yield domain


def calls_named(virdomain, name):
    return [call for call in virdomain.calls if call == name or (isinstance(call, tuple) and call[0] == name)]


# --- waiting for the agent -------------------------------------------------------------------------


def test_wait_for_agent_never_sends_raw_agent_commands(monkeypatch):
    def tainting(*_args):
        raise AssertionError("qemuAgentCommand taints the domain (custom-ga-command)")

    monkeypatch.setattr(_agent.libvirt_qemu, "qemuAgentCommand", tainting)
    virdomain = AgentVirDomain(unanswered=2)
    assert GuestAgent(agent_domain(virdomain)).wait(timeout=5) < 2
    assert virdomain.calls.count(("guestInfo", libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME)) == 3


def test_wait_for_agent_is_woken_by_the_agent_connecting_not_by_the_fallback_poll():
    virdomain = AgentVirDomain()
    virdomain.connected = False
    conn = EventConn()
    thread, happened = conn.agent_connects(virdomain, after=0.3)
    GuestAgent(agent_domain(virdomain, conn)).wait(timeout=10)
    returned_at = time.monotonic()
    thread.join()
    # the fallback re-probes every 1 s: returning this soon after the connect is the event's doing
    assert returned_at - happened["at"] < 0.25
    assert conn.callbacks == {}, "the watch removed its registration"


def test_wait_for_agent_bounds_each_probe_by_the_wait_and_restores_libvirts_default():
    virdomain = AgentVirDomain(unanswered=1)
    GuestAgent(agent_domain(virdomain), timeout=5).wait(timeout=2.5)
    assert calls_named(virdomain, "agentSetResponseTimeout") == [
        ("agentSetResponseTimeout", 3), ("agentSetResponseTimeout", RESPONSE_TIMEOUT_BLOCK)]
    first, last = virdomain.calls.index(("agentSetResponseTimeout", 3)), len(virdomain.calls) - 1
    assert all(virdomain.calls.index(call) > first for call in calls_named(virdomain, "guestInfo"))
    assert virdomain.calls[last] == ("agentSetResponseTimeout", RESPONSE_TIMEOUT_BLOCK)


def test_wait_for_agent_without_an_agent_channel_fails_at_once():
    virdomain = AgentVirDomain(devices="<serial type='pty'><target port='0'/></serial>")
    started = time.monotonic()
    with pytest.raises(UnsupportedOperation, match=r"domain 'agent-guest' has no guest agent channel"):
        GuestAgent(agent_domain(virdomain)).wait(timeout=30)
    assert time.monotonic() - started < 1
    assert not [call for call in virdomain.calls if call != "XMLDesc"]


def test_wait_for_agent_on_the_test_driver_says_there_is_no_channel(running_test_domain):
    started = time.monotonic()
    with pytest.raises(UnsupportedOperation, match="org.qemu.guest_agent.0"):
        GuestAgent(running_test_domain).wait(timeout=20)
    assert time.monotonic() - started < 1


def test_wait_for_agent_times_out_with_libvirts_last_answer():
    with pytest.raises(WaitTimeout, match=r"guest agent of domain 'agent-guest' did not answer within 0.5 s "
                                          r"\(last error: Guest agent is not responding"):
        GuestAgent(agent_domain(AgentVirDomain(unanswered=1000))).wait(timeout=0.5)


def test_wait_for_agent_refuses_a_negative_timeout():
    with pytest.raises(InvalidArgument, match="must not be negative"):
        GuestAgent(agent_domain(AgentVirDomain())).wait(timeout=-1)


def test_ping_says_whether_the_agent_answers_now():
    virdomain = AgentVirDomain(unanswered=1)
    agent = GuestAgent(agent_domain(virdomain))
    assert agent.ping() is False
    assert agent.ping() is True


def test_an_empty_guest_info_is_no_answer_from_the_agent():
    virdomain = AgentVirDomain()
    virdomain.connected = "silent"
    agent = GuestAgent(agent_domain(virdomain))
    assert agent.ping() is False
    with pytest.raises(LibvirtCallError, match="the guest agent of domain 'agent-guest' gave no hostname"):
        agent.hostname()
    with pytest.raises(WaitTimeout, match=r"did not answer within 0.3 s \(last error: the guest agent .*gave no hostname"):
        agent.wait(timeout=0.3)


# --- bounded calls -----------------------------------------------------------------------------------


def test_every_agent_call_is_bounded_and_libvirts_default_comes_back_after_it():
    virdomain = AgentVirDomain(unanswered=0)
    assert GuestAgent(agent_domain(virdomain), timeout=2.2).hostname() == "guest"
    assert virdomain.calls == [("agentSetResponseTimeout", 3), ("guestInfo", libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME),
                               ("agentSetResponseTimeout", RESPONSE_TIMEOUT_BLOCK)]


def test_nested_bounds_set_the_timeout_once_and_an_inner_one_restores_the_outer():
    virdomain = AgentVirDomain(unanswered=0)
    agent = GuestAgent(agent_domain(virdomain), timeout=4)
    with agent.bounded():
        agent.guest_info()
        agent.guest_info()
        with agent.bounded(30):
            pass
    assert calls_named(virdomain, "agentSetResponseTimeout") == [
        ("agentSetResponseTimeout", 4), ("agentSetResponseTimeout", 30), ("agentSetResponseTimeout", 4),
        ("agentSetResponseTimeout", RESPONSE_TIMEOUT_BLOCK)]


@pytest.mark.parametrize("code", [libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_OPERATION_DENIED])
def test_a_driver_or_connection_that_cannot_bound_the_agent_still_gets_the_call(code):
    virdomain = AgentVirDomain(unanswered=0, set_timeout_error=libvirt_error("cannot", code))
    assert GuestAgent(agent_domain(virdomain)).hostname() == "guest"
    assert calls_named(virdomain, "agentSetResponseTimeout") == [("agentSetResponseTimeout", 5)]  # no restore


def test_any_other_failure_to_bound_the_agent_is_reported():
    refused = libvirt_error("the domain is not running", libvirt.VIR_ERR_OPERATION_INVALID)
    virdomain = AgentVirDomain(unanswered=0, set_timeout_error=refused)
    with pytest.raises(LibvirtCallError, match="set the guest agent's response timeout failed: the domain is not"):
        GuestAgent(agent_domain(virdomain)).hostname()
    assert not calls_named(virdomain, "guestInfo")


def test_the_test_driver_has_no_response_timeout_and_no_agent(running_test_domain):
    agent = GuestAgent(running_test_domain)
    with agent.bounded():
        pass  # VIR_ERR_NO_SUPPORT: tolerated
    assert agent.ping() is False


# --- freezes that always thaw ----------------------------------------------------------------------


def freeze_calls(virdomain):
    return [call for call in virdomain.calls if call in ("fsFreeze", "fsThaw")]


def test_frozen_reports_and_thaws_after_the_block_within_the_freeze_bound():
    virdomain = AgentVirDomain()
    report = {}
    with GuestAgent(agent_domain(virdomain), freeze_timeout=45).frozen(report):
        virdomain.calls.append("snapshot")
    assert report == {"frozen_filesystems": 2, "thawed_filesystems": 2}
    assert virdomain.calls == [("agentSetResponseTimeout", 45), "fsFreeze", "snapshot", "fsThaw",
                               ("agentSetResponseTimeout", RESPONSE_TIMEOUT_BLOCK)]


def test_an_interrupt_inside_the_block_still_thaws():
    virdomain = AgentVirDomain()
    with pytest.raises(KeyboardInterrupt):
        with GuestAgent(agent_domain(virdomain)).frozen({}):
            raise KeyboardInterrupt
    assert freeze_calls(virdomain) == ["fsFreeze", "fsThaw"]
    assert virdomain.calls[-1] == ("agentSetResponseTimeout", RESPONSE_TIMEOUT_BLOCK)


def test_an_interrupt_during_the_freeze_still_thaws():
    virdomain = AgentVirDomain(fail={"interrupt freeze"})
    with pytest.raises(KeyboardInterrupt):
        with GuestAgent(agent_domain(virdomain)).frozen({}):
            raise AssertionError("the block must not run")
    assert freeze_calls(virdomain) == ["fsFreeze", "fsThaw"]


def test_a_failed_freeze_is_thawed_too_and_keeps_its_own_error():
    # an agent libvirt gave up on may still freeze file systems after the answer came too late
    virdomain = AgentVirDomain(fail={"fsFreeze", "fsThaw"})
    with pytest.raises(LibvirtCallError, match="freeze guest filesystems failed: fsFreeze broke"):
        with GuestAgent(agent_domain(virdomain)).frozen({}):
            raise AssertionError("the block must not run")
    assert freeze_calls(virdomain) == ["fsFreeze", "fsThaw"]


def test_a_failed_block_thaws_and_a_failed_thaw_is_added_to_its_error():
    virdomain = AgentVirDomain(fail={"fsThaw"})
    report = {}
    with pytest.raises(VirtopsError, match="the snapshot broke .*thawing the guest's file systems failed too"):
        with GuestAgent(agent_domain(virdomain)).frozen(report):
            raise VirtopsError("the snapshot broke")
    assert report == {"frozen_filesystems": 2}


def test_a_thaw_failing_after_a_good_block_is_an_error_after_the_change():
    virdomain = AgentVirDomain(fail={"fsThaw"})
    with pytest.raises(LibvirtCallError, match="thaw guest filesystems failed") as raised:
        with GuestAgent(agent_domain(virdomain)).frozen({}):
            pass
    assert raised.value.after_change


# --- raw commands and secrets --------------------------------------------------------------------------


def echoing_agent(monkeypatch, reply=None):
    """qemuAgentCommand that fails quoting the whole request (as a careless agent error could), or replies."""
    sent = []

    def command(_virdomain, text, timeout, flags):
        sent.append((json.loads(text), timeout, flags))
        if reply is not None:
            return reply
        raise libvirt_error(f"internal error: unable to execute QEMU agent command {text}")

    monkeypatch.setattr(_agent.libvirt_qemu, "qemuAgentCommand", command)
    return sent


def assert_hidden(error, *secrets):
    shown = " ".join([str(error), error.message, error.libvirt_message or "", repr(error.details()), repr(error.args)])
    for secret in secrets:
        assert secret not in shown
    assert REDACTED in shown


def test_a_failed_command_never_shows_a_password_argument(monkeypatch):
    sent = echoing_agent(monkeypatch)
    with pytest.raises(LibvirtCallError) as raised:
        GuestAgent(agent_domain(AgentVirDomain()), timeout=7).command(
            "guest-set-user-password", {"username": "root", "password": "c2VjcmV0LXB3", "crypted": False})
    assert_hidden(raised.value, "c2VjcmV0LXB3")
    assert "guest-set-user-password" in raised.value.message and "root" in raised.value.message
    assert sent == [({"execute": "guest-set-user-password",
                      "arguments": {"username": "root", "password": "c2VjcmV0LXB3", "crypted": False}}, 7, 0)]


def test_named_secrets_nested_and_json_escaped_secrets_are_hidden(monkeypatch):
    echoing_agent(monkeypatch)
    plain = 'pa"ss\\word'
    with pytest.raises(LibvirtCallError) as raised:
        GuestAgent(agent_domain(AgentVirDomain())).command(
            "guest-exec", {"path": "/bin/sh", "env": [{"api_token": "tok-123"}], "input-data": plain},
            secrets=[plain])
    assert_hidden(raised.value, "tok-123", plain, json.dumps(plain)[1:-1])


def test_a_reply_that_is_not_json_is_a_clear_error(monkeypatch):
    echoing_agent(monkeypatch, reply="not json")
    with pytest.raises(VirtopsError, match="the guest agent's answer to guest-info is not a JSON object"):
        GuestAgent(agent_domain(AgentVirDomain())).command("guest-info")


def test_a_command_returns_the_agents_return_value(monkeypatch):
    echoing_agent(monkeypatch, reply=json.dumps({"return": {"version": "7.2"}}))
    assert GuestAgent(agent_domain(AgentVirDomain())).command("guest-info") == {"version": "7.2"}
