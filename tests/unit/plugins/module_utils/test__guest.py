"""domain_guest's runner and parts on a fake agent domain (the test driver has no guest agent)."""

import os
import signal
import time

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _guest_facts, _guest_state, _guest_users
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, LibvirtCallError, \
    UnsupportedOperation, VirtopsError, WaitTimeout
from ansible_collections.virtops.libvirt.plugins.module_utils._guest import GuestRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._guest_part import GuestPart
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder, Step

from fake_guest import FakeGuestDomain, calls_named, guest_domain

REGISTRY = {**_guest_users.PARTS, **_guest_state.PARTS, **_guest_facts.PARTS}
NEW_KEY = "ssh-ed25519 AAAAnew ops@laptop"
OLD_KEY = "ssh-ed25519 AAAAold ops@old"


def run(monkeypatch, params, check_mode=False, virdomain=None):
    domain, virdomain = guest_domain(monkeypatch, virdomain)
    recorder = ChangeRecorder(check_mode)
    result = GuestRunner(domain, {"agent_timeout": 5, **params}, REGISTRY, recorder).run()
    return result, recorder, virdomain


def changes(virdomain):
    return [call for call in virdomain.calls
            if call[0] in ("authorizedSSHKeysSet", "setUserPassword", "setTime", "setGuestVcpus", "fsFreeze", "fsThaw")
            or call == ("qemuAgentCommand", "guest-fstrim")]


# --- users ---------------------------------------------------------------------------------------

def test_exact_keys_replace_and_a_second_run_changes_nothing(monkeypatch):
    virdomain = FakeGuestDomain()
    params = {"users": [{"name": "ops", "ssh_keys": [NEW_KEY], "ssh_keys_state": "exact"}]}
    result, recorder, _virdomain = run(monkeypatch, params, virdomain=virdomain)
    assert virdomain.keys["ops"] == [NEW_KEY]
    assert result["users"] == [{"name": "ops", "password_set": False, "keys_before": [OLD_KEY],
                                "keys_after": [NEW_KEY]}]
    assert recorder.changed
    _result, again, _virdomain = run(monkeypatch, params, virdomain=virdomain)
    assert not again.changed


def test_present_appends_only_the_missing_key_and_absent_removes_it(monkeypatch):
    virdomain = FakeGuestDomain()
    run(monkeypatch, {"users": [{"name": "ops", "ssh_keys": [NEW_KEY, OLD_KEY], "ssh_keys_state": "present"}]},
        virdomain=virdomain)
    assert calls_named(virdomain, "authorizedSSHKeysSet")[-1][2:] == ([NEW_KEY], 1)
    assert virdomain.keys["ops"] == [OLD_KEY, NEW_KEY]
    run(monkeypatch, {"users": [{"name": "ops", "ssh_keys": [OLD_KEY], "ssh_keys_state": "absent"}]},
        virdomain=virdomain)
    assert virdomain.keys["ops"] == [NEW_KEY]
    absent_old = {"users": [{"name": "ops", "ssh_keys": [OLD_KEY], "ssh_keys_state": "absent"}]}
    _result, again, _virdomain = run(monkeypatch, absent_old, virdomain=virdomain)
    assert not again.changed


def test_exact_with_no_keys_removes_them_all(monkeypatch):
    result, _recorder, virdomain = run(monkeypatch, {"users": [{"name": "ops", "ssh_keys": [], "ssh_keys_state": "exact"}]})
    assert virdomain.keys["ops"] == []
    assert calls_named(virdomain, "authorizedSSHKeysSet")[0][3] == 2  # REMOVE
    assert result["users"][0]["keys_after"] == []


def test_a_user_without_an_authorized_keys_file_has_no_keys(monkeypatch):
    # qemu-ga fails guest-ssh-get-authorized-keys when ~/.ssh/authorized_keys does not exist (seen on the rig)
    virdomain = FakeGuestDomain()
    del virdomain.keys["ops"]
    result, recorder, _virdomain = run(monkeypatch, {"users": [{"name": "ops", "ssh_keys": [NEW_KEY]}]}, virdomain=virdomain)
    assert result["users"][0]["keys_before"] == [] and virdomain.keys["ops"] == [NEW_KEY] and recorder.changed
    del virdomain.keys["ops"]
    absent_new = {"users": [{"name": "ops", "ssh_keys": [NEW_KEY], "ssh_keys_state": "absent"}]}
    _result, absent, _virdomain = run(monkeypatch, absent_new, virdomain=virdomain)
    assert not absent.changed


def test_keys_compare_with_blanks_normalized(monkeypatch):
    _result, recorder, _virdomain = run(monkeypatch, {"users": [{"name": "ops", "ssh_keys": ["  ssh-ed25519   AAAAold ops@old \n"]}]})
    assert not recorder.changed


def test_check_mode_reads_keys_and_changes_nothing(monkeypatch):
    result, recorder, virdomain = run(monkeypatch, {"users": [{"name": "ops", "ssh_keys": [NEW_KEY]}]},
                                      check_mode=True)
    assert recorder.actions == ["users: set the SSH keys of guest user 'ops' to exactly 1 key(s)"]
    assert result["users"][0]["keys_after"] == [NEW_KEY]
    assert changes(virdomain) == []


def test_password_always_set_and_changed_and_never_in_the_result(monkeypatch):
    params = {"users": [{"name": "root", "password": "S3cret!", "update_password": "always"}]}
    result, recorder, virdomain = run(monkeypatch, params)
    assert calls_named(virdomain, "setUserPassword") == [("setUserPassword", "root", "<password>", 0)]
    assert recorder.changed and result["users"] == [{"name": "root", "password_set": True}]
    assert "S3cret!" not in repr(result) + repr(recorder.actions)


def test_password_encrypted_sets_the_flag(monkeypatch):
    _result, _recorder, virdomain = run(monkeypatch, {"users": [{"name": "root", "password": "$6$x$y", "password_encrypted": True}]})
    assert calls_named(virdomain, "setUserPassword")[0][3] == 1


def test_password_on_create_only_while_the_account_gets_its_first_keys(monkeypatch):
    virdomain = FakeGuestDomain()
    params = {"users": [{"name": "root", "password": "pw", "update_password": "on_create", "ssh_keys": [NEW_KEY]}]}
    first, _recorder, _virdomain = run(monkeypatch, params, virdomain=virdomain)
    assert first["users"][0]["password_set"] is True
    second, again, _virdomain = run(monkeypatch, params, virdomain=virdomain)
    assert second["users"][0]["password_set"] is False and not again.changed
    assert len(calls_named(virdomain, "setUserPassword")) == 1


def test_password_on_create_without_keys_is_refused(monkeypatch):
    with pytest.raises(InvalidArgument, match="on_create"):
        run(monkeypatch, {"users": [{"name": "root", "password": "pw", "update_password": "on_create"}]})


def test_a_failed_password_call_never_shows_the_password(monkeypatch):
    virdomain = FakeGuestDomain()
    virdomain.fail["setUserPassword"] = True
    with pytest.raises(VirtopsError) as raised:
        run(monkeypatch, {"users": [{"name": "root", "password": "S3cret!"}]}, virdomain=virdomain)
    assert "S3cret!" not in str(raised.value) + repr(raised.value.details()) + str(raised.value.libvirt_message)
    assert "root" in raised.value.message


def test_a_user_listed_twice_is_refused_before_any_call(monkeypatch):
    virdomain = FakeGuestDomain()
    with pytest.raises(InvalidArgument, match="more than once"):
        run(monkeypatch, {"users": [{"name": "ops", "ssh_keys": []}, {"name": "ops", "ssh_keys": []}]},
            virdomain=virdomain)
    assert calls_named(virdomain, "authorizedSSHKeysGet") == []


# --- time, vcpus ---------------------------------------------------------------------------------

def test_time_sync_corrects_a_skew_and_not_a_clock_that_is_right(monkeypatch):
    virdomain = FakeGuestDomain()
    virdomain.skew = -3600
    result, recorder, _virdomain = run(monkeypatch, {"time": "sync"}, virdomain=virdomain)
    assert recorder.changed and result["time"]["skew_before"] < -3590 and abs(result["time"]["skew_after"]) < 1
    assert calls_named(virdomain, "setTime")[0][2] == 1  # VIR_DOMAIN_TIME_SYNC
    _result, again, _virdomain = run(monkeypatch, {"time": "sync"}, virdomain=virdomain)
    assert not again.changed


def test_time_sync_corrects_a_skew_the_rtc_has_too(monkeypatch):
    # a clock set through the agent writes the RTC as well (hwclock -w), so a sync from the RTC alone keeps the skew
    virdomain = FakeGuestDomain()
    virdomain.skew = virdomain.rtc_skew = -3600
    result, _recorder, _virdomain = run(monkeypatch, {"time": "sync"}, virdomain=virdomain)
    assert abs(result["time"]["skew_after"]) < 1
    _result, again, _virdomain = run(monkeypatch, {"time": "sync"}, virdomain=virdomain)
    assert not again.changed


@pytest.mark.parametrize("moment", ["1800000000", "2027-01-15T08:00:00Z", "2027-01-15T08:00:00"])
def test_time_set_to_an_epoch_or_iso_time(monkeypatch, moment):
    _result, recorder, virdomain = run(monkeypatch, {"time": moment})
    seconds = calls_named(virdomain, "setTime")[0][1]["seconds"]
    assert seconds == 1800000000  # the ISO times name the same moment (UTC when no zone is given)
    assert recorder.changed


def test_a_time_that_is_no_time_is_refused(monkeypatch):
    with pytest.raises(InvalidArgument, match="time: 'tomorrow'"):
        run(monkeypatch, {"time": "tomorrow"})


def test_vcpus_online_compared_first_then_only_the_difference(monkeypatch):
    result, _recorder, virdomain = run(monkeypatch, {"vcpus_online": "0-1"})
    assert calls_named(virdomain, "setGuestVcpus") == [("setGuestVcpus", "2-3", 0)]
    assert result["vcpus"] == {"before": "0-3", "after": "0-1", "vcpus": "0-3"}
    _result, again, _virdomain = run(monkeypatch, {"vcpus_online": "0-3"})
    assert not again.changed


def test_vcpus_online_refuses_a_vcpu_the_guest_lacks_or_cannot_offline(monkeypatch):
    with pytest.raises(InvalidArgument, match="no vCPU 7"):
        run(monkeypatch, {"vcpus_online": "0-3,7"})
    with pytest.raises(InvalidArgument, match="cannot take vCPU 0 offline"):
        run(monkeypatch, {"vcpus_online": "1-3"})


# --- fsfreeze, fstrim ----------------------------------------------------------------------------

def test_freeze_then_thaw_read_from_the_freeze_status_first(monkeypatch):
    virdomain = FakeGuestDomain()
    result, recorder, _virdomain = run(monkeypatch, {"fsfreeze": {"state": "frozen", "mountpoints": ["/"]}}, virdomain=virdomain)
    assert virdomain.freeze == "frozen" and calls_named(virdomain, "fsFreeze") == [("fsFreeze", ["/"])]
    assert result["fsfreeze"] == {"status_before": "thawed", "status": "frozen", "filesystems": 2}
    _result, again, _virdomain = run(monkeypatch, {"fsfreeze": {"state": "frozen"}}, virdomain=virdomain)
    assert not again.changed
    run(monkeypatch, {"fsfreeze": {"state": "thawed"}}, virdomain=virdomain)
    assert virdomain.freeze == "thawed"


class FailingAction(GuestPart):
    """A console action that fails after the freeze (a screenshot of a display that went away, say)."""

    option = "send_keys"

    def plan(self):
        def fail():
            raise LibvirtCallError("the display went away")
        return [Step("send keys", fail)]


def test_a_freeze_is_thawed_when_a_later_step_fails(monkeypatch):
    virdomain = FakeGuestDomain()
    domain, virdomain = guest_domain(monkeypatch, virdomain)
    registry = {**REGISTRY, "send_keys": FailingAction}
    params = {"agent_timeout": 5, "fsfreeze": {"state": "frozen"}, "send_keys": {"keys": ["KEY_A"]}}
    with pytest.raises(VirtopsError, match="display went away"):
        GuestRunner(domain, params, registry, ChangeRecorder(False)).run()
    assert virdomain.freeze == "thawed" and calls_named(virdomain, "fsThaw")


@pytest.mark.parametrize("later", [{"fstrim": {"minimum": 0}}, {"gather": ["hostname"]}, {"exec": {"argv": ["true"]}}])
def test_a_freeze_with_an_agent_call_after_it_is_refused_before_anything(monkeypatch, later):
    # a frozen guest's agent answers only thaw and status: the later call could only fail, after the freeze
    virdomain = FakeGuestDomain()
    domain, virdomain = guest_domain(monkeypatch, virdomain)
    registry = {**REGISTRY, "exec": GuestPart}
    option = next(iter(later))
    with pytest.raises(InvalidArgument, match=f"fsfreeze: frozen .*domain 'guest-core'.*{option}"):
        GuestRunner(domain, {"agent_timeout": 5, "fsfreeze": {"state": "frozen"}, **later}, registry,
                    ChangeRecorder(False)).run()
    assert virdomain.calls == [] and virdomain.freeze == "thawed"


def test_a_thaw_goes_with_later_agent_calls(monkeypatch):
    result, _recorder, virdomain = run(monkeypatch, {"fsfreeze": {"state": "thawed"}, "fstrim": {"minimum": 0}})
    assert result["fstrim"]["mountpoints"] and virdomain.freeze == "thawed"


def test_an_interrupt_after_the_freeze_thaws(monkeypatch):
    virdomain = FakeGuestDomain()
    original = virdomain.fsFreeze

    def freeze_then_interrupt(*args):
        original(*args)
        raise KeyboardInterrupt

    virdomain.fsFreeze = freeze_then_interrupt
    with pytest.raises(KeyboardInterrupt):
        run(monkeypatch, {"fsfreeze": {"state": "frozen"}}, virdomain=virdomain)
    assert virdomain.freeze == "thawed"


def test_fstrim_is_an_action_reported_per_mountpoint_and_skipped_in_check_mode(monkeypatch):
    result, recorder, _virdomain = run(monkeypatch, {"fstrim": {"minimum": 0}})
    assert result["fstrim"]["mountpoints"] == [{"mountpoint": "/", "trimmed": 4096, "minimum": 0, "error": None}]
    assert recorder.changed
    planned, check, virdomain = run(monkeypatch, {"fstrim": {"minimum": 0}}, check_mode=True)
    assert check.actions == ["fstrim: trim the guest's file systems (minimum 0 bytes)"] and changes(virdomain) == []


# --- gather, agent ---------------------------------------------------------------------------------

def test_gather_reads_the_guest_through_the_shared_readers(monkeypatch):
    result, recorder, _virdomain = run(monkeypatch, {"gather": ["all"]})
    facts = result["facts"]
    assert facts["hostname"] == "guest01" and facts["os"] == {"id": "debian"}
    assert facts["filesystems"][0]["mountpoint"] == "/" and facts["interfaces"][0]["address"] == "10.0.0.5"
    assert facts["filesystems"][0]["disk"] == [{"index": 0, "alias": "vda"}] and facts["users"][0]["name"] == "root"
    assert facts["vcpus"]["online"] == "0-3" and abs(facts["time"]["skew"]) < 1
    assert not recorder.changed


def test_gather_gives_no_logged_in_users_as_an_empty_list(monkeypatch):
    virdomain = FakeGuestDomain()
    virdomain.user_count = 0
    result, _recorder, _virdomain = run(monkeypatch, {"gather": ["users"]}, virdomain=virdomain)
    assert result["facts"] == {"users": []}


def test_every_agent_call_is_bounded_by_agent_timeout(monkeypatch):
    _result, _recorder, virdomain = run(monkeypatch, {"agent_timeout": 3, "time": "sync", "gather": ["vcpus"]})
    bounds = calls_named(virdomain, "agentSetResponseTimeout")
    assert bounds and {seconds for _name, seconds in bounds} == {3, -2}


def test_a_guest_without_an_agent_channel_is_refused_before_any_agent_call(monkeypatch):
    virdomain = FakeGuestDomain(devices="<serial type='pty'/>")
    with pytest.raises(UnsupportedOperation, match="^time and fstrim need the guest agent, but domain 'guest-core' has no "
                                                   "guest agent channel"):
        run(monkeypatch, {"time": "sync", "fstrim": {"minimum": 0}}, virdomain=virdomain)
    assert calls_named(virdomain, "getTime") == []


def test_nothing_to_do_is_refused(monkeypatch):
    with pytest.raises(InvalidArgument, match="nothing to do"):
        run(monkeypatch, {})


def test_a_zero_agent_timeout_is_refused(monkeypatch):
    with pytest.raises(InvalidArgument, match="agent_timeout must be positive"):
        run(monkeypatch, {"agent_timeout": 0, "time": "sync"})


def test_a_sigterm_after_the_freeze_thaws_before_the_process_ends(monkeypatch):
    # Ansible ends a task that outlives its timeout with SIGTERM: Python's default would end the process frozen
    virdomain = FakeGuestDomain()
    original = virdomain.fsFreeze

    def freeze_then_terminated(*args):
        frozen = original(*args)
        os.kill(os.getpid(), signal.SIGTERM)
        return frozen

    virdomain.fsFreeze = freeze_then_terminated
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit):
        run(monkeypatch, {"fsfreeze": {"state": "frozen"}}, virdomain=virdomain)
    assert virdomain.freeze == "thawed" and calls_named(virdomain, "fsThaw")
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_freeze_that_froze_nothing_fails_instead_of_reporting_frozen(monkeypatch):
    # rig: fsFreeze of a mount point the guest does not have answers 0 and freezes nothing
    virdomain = FakeGuestDomain()
    virdomain.frozen_count = 0
    with pytest.raises(VirtopsError, match="froze no file system.*/no/such"):
        run(monkeypatch, {"fsfreeze": {"state": "frozen", "mountpoints": ["/no/such"]}}, virdomain=virdomain)
    assert virdomain.freeze == "thawed"


@pytest.mark.parametrize("params", [{"vcpus_online": "0-1"}, {"gather": ["vcpus"]}, {"gather": ["hostname", "os"]}],
                         ids=["vcpus_online", "gather-vcpus", "gather-hostname-os"])
def test_an_agent_that_gives_an_empty_answer_fails_naming_the_domain(monkeypatch, params):
    # rig: libvirt 9.0 answers None / {} when a stopped agent let guestVcpus / guestInfo time out
    virdomain = FakeGuestDomain()
    virdomain.silent = True
    with pytest.raises(LibvirtCallError, match="guest-core.*did not answer"):
        run(monkeypatch, params, virdomain=virdomain)


def test_gather_fails_when_the_agent_leaves_out_a_group_asked_for(monkeypatch):
    # rig: a frozen guest's agent refuses most commands; guestInfo then leaves their keys out
    virdomain = FakeGuestDomain()
    virdomain.guestInfo = lambda types=0, flags=0: {"timezone.name": "UTC"}
    with pytest.raises(LibvirtCallError, match="gave no hostname"):
        run(monkeypatch, {"gather": ["hostname", "timezone"]}, virdomain=virdomain)


def test_raw_agent_commands_are_bounded_by_agent_timeout_too(monkeypatch):
    # libvirt's guest-sync before a raw command waits up to 5 s unless the domain's response timeout is lower
    _result, _recorder, virdomain = run(monkeypatch, {"agent_timeout": 2, "fstrim": {"minimum": 0}})
    trim = virdomain.calls.index(("qemuAgentCommand", "guest-fstrim"))
    assert ("agentSetResponseTimeout", 2) in virdomain.calls[:trim]
    assert ("agentSetResponseTimeout", -2) in virdomain.calls[trim:]


def test_wait_for_agent_probes_within_a_second_so_the_wait_ends_near_its_limit(monkeypatch):
    # rig: probes bounded by agent_timeout=3 made a 4 s wait for a stopped agent end after 7.5 s
    result, recorder, virdomain = run(monkeypatch, {"agent_timeout": 3, "wait_for_agent": 4})
    assert result["agent_wait"] >= 0 and not recorder.changed
    bounds = [seconds for _name, seconds in calls_named(virdomain, "agentSetResponseTimeout")]
    assert bounds[0] == 1 and bounds[-1] == -2


def test_wait_for_agent_starts_no_probe_that_would_outlast_the_wait(monkeypatch):
    # rig: a 4 s wait for a stopped agent ended after 5.6 s: a 1 s probe started just before the end ran past it
    virdomain = FakeGuestDomain()
    virdomain.silent = True
    answer = virdomain.guestInfo

    def unresponsive(types=0, flags=0):
        time.sleep(1.0)  # libvirt waits its whole response timeout (1 s for a probe) for a stopped agent
        return answer(types, flags)

    virdomain.guestInfo = unresponsive
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match="did not answer within 1.5 s"):
        run(monkeypatch, {"agent_timeout": 3, "wait_for_agent": 1.5}, virdomain=virdomain)
    assert len(calls_named(virdomain, "guestInfo")) == 1
    assert time.monotonic() - started < 1.5 + 0.5
