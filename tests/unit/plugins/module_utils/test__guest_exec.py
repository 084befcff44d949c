"""domain_guest's `exec`: guest-exec / guest-exec-status through the raw agent command, against a small fake qemu-ga.

FakeQemuGa answers qemuAgentCommand as qemu-ga 7.2 does on the rig (see GUEST-RIG-FACTS.md): guest-exec
returns a pid; guest-exec-status says {"exited": false} until the process ends, then once its exit
code and base64 output, and forgets the pid; guest-file-open fails with "No such file or directory"
for a missing path. The domain is the real Domain (real error translation) around a fake virDomain.
"""

import base64
import json
import threading
import time

import libvirt
import pytest
from fake_guest import NoEventsConn, libvirt_error

from ansible_collections.virtops.libvirt.plugins.module_utils import _agent, _guest_exec
from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestAgent
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    REDACTED,
    InvalidArgument,
    LibvirtCallError,
    VirtopsError,
    WaitTimeout,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._guest_exec import ARGUMENT_SPECS, PARTS, ExecPart
from ansible_collections.virtops.libvirt.plugins.module_utils._guest_part import GuestContext
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder, execute


def b64(data):
    return base64.b64encode(data).decode("ascii")


class GuestProcess:
    def __init__(self, runs_for=0.0, exitcode=0, out=b"", err=b"", signal=None, truncated=False):
        self.ends_at = time.monotonic() + runs_for
        self.exitcode, self.out, self.err, self.signal, self.truncated = exitcode, out, err, signal, truncated

    def status(self, capture):
        answer = {"exited": True}
        if self.signal is not None:
            answer["signal"] = self.signal
        else:
            answer["exitcode"] = self.exitcode
        if capture:
            answer.update({"out-data": b64(self.out), "out-truncated": self.truncated})
            if self.err:
                answer.update({"err-data": b64(self.err), "err-truncated": False})
        return answer


class FakeQemuGa:
    """qemuAgentCommand of one guest: processes it starts, files that exist, failures to inject."""

    def __init__(self, process=None, files=(), fail=None):
        self.process = process or GuestProcess()
        self.files = set(files)
        self.fail = fail or {}  # execute -> libvirtError to raise
        self.sent = []
        self.processes = {}

    def __call__(self, _virdomain, text, timeout, flags):
        request = json.loads(text)
        self.sent.append((request, timeout, flags))
        execute, arguments = request["execute"], request.get("arguments", {})
        if execute in self.fail:
            raise self.fail[execute]
        return json.dumps({"return": getattr(self, execute.replace("-", "_"))(arguments)})

    def guest_exec(self, arguments):
        pid = 100 + len(self.sent)
        self.processes[pid] = (self.process, arguments.get("capture-output", False))
        return {"pid": pid}

    def guest_exec_status(self, arguments):
        if arguments["pid"] not in self.processes:
            raise libvirt_error("internal error: unable to execute QEMU agent command 'guest-exec-status': "
                                "Invalid parameter 'pid'")
        process, capture = self.processes[arguments["pid"]]
        if time.monotonic() < process.ends_at:
            return {"exited": False}
        del self.processes[arguments["pid"]]  # qemu-ga forgets a process once it reported its exit
        return process.status(capture)

    def guest_file_open(self, arguments):
        if arguments["path"] not in self.files:
            raise libvirt_error(f"internal error: unable to execute QEMU agent command 'guest-file-open': failed to "
                                f"open file '{arguments['path']}' (mode: 'r'): No such file or directory")
        return 1000

    def guest_file_close(self, _arguments):
        return {}

    def commands(self, name=None):
        return [request for request, _timeout, _flags in self.sent if name in (None, request["execute"])]


class GuestVirDomain:
    def name(self):
        return "exec-guest"

    def UUIDString(self):  # noqa: N802 (libvirt's name)
        return "77777777-7777-4777-8777-777777777777"

    def agentSetResponseTimeout(self, _seconds, _flags=0):  # noqa: N802
        return 0


class AgentEventConn:
    """Delivers one agent lifecycle event (the agent disconnecting) from another thread, `after` seconds after registering."""

    def __init__(self, after):
        self.after = after
        self.callbacks = {}

    def domainEventRegisterAny(self, virdomain, event_id, callback, opaque):  # noqa: N802
        self.callbacks[len(self.callbacks) + 1] = (virdomain, event_id, callback, opaque)

        def deliver():
            time.sleep(self.after)
            for dom, kind, deliver_to, value in list(self.callbacks.values()):
                if kind == libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE:
                    deliver_to(self, dom, libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_DISCONNECTED,
                               libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_CHANNEL, value)

        threading.Thread(target=deliver, daemon=True).start()
        return len(self.callbacks)

    def domainEventDeregisterAny(self, callback_id):  # noqa: N802
        self.callbacks.pop(callback_id, None)


def exec_option(**given):
    """The `exec` option as AnsibleModule hands it over: every suboption present, defaults filled in."""
    option = {name: spec.get("default") for name, spec in ARGUMENT_SPECS["exec"]["options"].items()}
    option.update(given)
    return option


def exec_part(monkeypatch, agent, check_mode=False, conn=None, **given):
    monkeypatch.setattr(_agent.libvirt_qemu, "qemuAgentCommand", agent)
    connection = Connection(ConnectionParams(uri="test:///default"))
    connection._conn = conn or NoEventsConn()
    domain = Domain(connection, GuestVirDomain())
    context = GuestContext(domain=domain, agent=GuestAgent(domain, timeout=3), check_mode=check_mode,
                           recorder=ChangeRecorder(check_mode))
    part = PARTS["exec"](context, exec_option(**given))
    part.validate()
    return part


def run_part(part):
    """What the runner does with one part: plan, execute through the recorder, result."""
    actions = execute(part.plan(), part.context.recorder)
    return actions, part.result()["exec"]


# --- running a command -----------------------------------------------------------------------------------------


def test_runs_argv_with_stdin_and_env_and_returns_decoded_output_and_rc(monkeypatch):
    agent = FakeQemuGa(GuestProcess(runs_for=0.2, out=b"line one\nline two\n", err=b"warn\n"))
    part = exec_part(monkeypatch, agent, argv=["/bin/sh", "-c", "cat; echo warn >&2"], stdin="hello",
                     env={"LANG": "C"})
    actions, report = run_part(part)
    assert actions == ["run in the guest: /bin/sh -c 'cat; echo warn >&2'"]
    assert part.context.recorder.changed
    assert report["rc"] == 0 and report["signal"] is None and report["finished"] and not report["skipped"]
    assert report["stdout"] == "line one\nline two" and report["stdout_lines"] == ["line one", "line two"]
    assert report["stderr"] == "warn" and report["stderr_lines"] == ["warn"]
    assert report["stdout_truncated"] is False and report["stderr_truncated"] is False
    assert report["argv"] == ["/bin/sh", "-c", "cat; echo warn >&2"] and report["pid"] > 0
    started = agent.commands("guest-exec")[0]["arguments"]
    assert started == {"path": "/bin/sh", "arg": ["-c", "cat; echo warn >&2"], "capture-output": True,
                       "input-data": b64(b"hello\n"), "env": ["LANG=C"]}
    assert all(timeout == 3 for _request, timeout, _flags in agent.sent)  # each call bounded by agent_timeout


def test_stdin_is_sent_as_given_without_the_added_newline_when_asked(monkeypatch):
    agent = FakeQemuGa()
    run_part(exec_part(monkeypatch, agent, argv=["cat"], stdin="a\nb", stdin_add_newline=False))
    assert agent.commands("guest-exec")[0]["arguments"]["input-data"] == b64(b"a\nb")
    assert "env" not in agent.commands("guest-exec")[0]["arguments"]


def test_without_capture_output_there_is_no_output(monkeypatch):
    agent = FakeQemuGa(GuestProcess(out=b"ignored"))
    _actions, report = run_part(exec_part(monkeypatch, agent, argv=["/bin/true"], capture_output=False))
    assert agent.commands("guest-exec")[0]["arguments"]["capture-output"] is False
    assert report["rc"] == 0 and report["stdout"] == "" and report["stderr"] == ""


def test_a_non_zero_rc_fails_the_task_as_changed_with_the_output_in_the_result(monkeypatch):
    agent = FakeQemuGa(GuestProcess(exitcode=3, out=b"out\n", err=b"err\n"))
    part = exec_part(monkeypatch, agent, argv=["/bin/sh", "-c", "exit 3"])
    with pytest.raises(VirtopsError, match="exited with the non-zero return code 3") as raised:
        run_part(part)
    assert raised.value.after_change and part.context.recorder.changed
    assert raised.value.details()["exec"]["rc"] == 3 and raised.value.details()["exec"]["stderr"] == "err"
    assert "exec-guest" in raised.value.message


def test_a_command_killed_by_a_signal_fails_naming_the_signal(monkeypatch):
    agent = FakeQemuGa(GuestProcess(signal=9))
    with pytest.raises(VirtopsError, match="killed by signal 9") as raised:
        run_part(exec_part(monkeypatch, agent, argv=["/bin/sh", "-c", "kill -9 $$"]))
    assert raised.value.result["exec"]["signal"] == 9 and raised.value.result["exec"]["rc"] is None


def test_a_program_the_guest_cannot_start_is_a_clear_error_and_nothing_changed(monkeypatch):
    failure = libvirt_error("internal error: unable to execute QEMU agent command 'guest-exec': Guest agent command "
                            "failed, error was 'Failed to execute child process \u201c/nope\u201d (No such file or directory)'")
    agent = FakeQemuGa(fail={"guest-exec": failure})
    part = exec_part(monkeypatch, agent, argv=["/nope"])
    with pytest.raises(LibvirtCallError, match="Failed to execute child process") as raised:
        run_part(part)
    assert not raised.value.after_change and not part.context.recorder.changed


# --- output ------------------------------------------------------------------------------------------------------


def test_output_is_cut_at_output_limit_and_flagged(monkeypatch):
    agent = FakeQemuGa(GuestProcess(out=b"0123456789" * 10, err=b"e" * 5))
    _actions, report = run_part(exec_part(monkeypatch, agent, argv=["x"], output_limit=25))
    assert report["stdout"] == "0123456789012345678901234" and report["stdout_truncated"] is True
    assert report["stderr"] == "eeeee" and report["stderr_truncated"] is False


def test_the_agents_own_truncation_is_reported(monkeypatch):
    agent = FakeQemuGa(GuestProcess(out=b"x" * 10, truncated=True))  # qemu-ga keeps at most 16 MiB per stream
    _actions, report = run_part(exec_part(monkeypatch, agent, argv=["x"]))
    assert report["stdout"] == "x" * 10 and report["stdout_truncated"] is True


def test_output_that_is_not_utf8_is_decoded_with_replacement_characters(monkeypatch):
    agent = FakeQemuGa(GuestProcess(out=b"\xff\xfeab"))
    _actions, report = run_part(exec_part(monkeypatch, agent, argv=["x"]))
    assert report["stdout"] == "\ufffd\ufffdab"


# --- waiting -----------------------------------------------------------------------------------------------------


def test_a_command_still_running_at_timeout_fails_in_time_naming_its_pid_and_that_it_keeps_running(monkeypatch):
    agent = FakeQemuGa(GuestProcess(runs_for=3600))
    part = exec_part(monkeypatch, agent, argv=["/bin/sleep", "3600"], timeout=0.6)
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"pid \d+ in the guest\) still runs after exec.timeout \(0.6 s\).*keeps "
                                          "running") as raised:
        run_part(part)
    assert time.monotonic() - started < 0.6 + 0.5
    assert raised.value.after_change and part.context.recorder.changed
    assert raised.value.result["exec"]["finished"] is False and raised.value.result["exec"]["pid"] > 0


def test_status_polls_back_off_so_a_long_command_costs_few_agent_calls(monkeypatch):
    agent = FakeQemuGa(GuestProcess(runs_for=1.5))
    _actions, report = run_part(exec_part(monkeypatch, agent, argv=["/bin/sleep", "1.5"]))
    polls = len(agent.commands("guest-exec-status"))
    assert report["rc"] == 0
    assert polls <= 7, polls  # 0.05, 0.1, 0.2, 0.4, 0.8 s... not every wake-up of the wait (every 0.05 s: ~30)


def test_an_agent_event_polls_at_once_instead_of_after_the_backoff(monkeypatch):
    monkeypatch.setattr(_guest_exec, "FIRST_POLL", 30.0)  # without the event, the first poll would come after 30 s
    agent = FakeQemuGa(GuestProcess(runs_for=0.1))
    part = exec_part(monkeypatch, agent, conn=AgentEventConn(after=0.3), argv=["x"])
    started = time.monotonic()
    _actions, report = run_part(part)
    assert report["rc"] == 0 and time.monotonic() - started < 2


def test_timeout_zero_starts_the_command_and_returns_its_pid_without_waiting(monkeypatch):
    agent = FakeQemuGa(GuestProcess(runs_for=3600))
    part = exec_part(monkeypatch, agent, argv=["/usr/sbin/daemon"], timeout=0)
    actions, report = run_part(part)
    assert actions and report["pid"] > 0 and report["finished"] is False and "rc" not in report
    assert agent.commands("guest-exec-status") == []


def test_an_agent_lost_while_waiting_fails_saying_the_command_was_started(monkeypatch):
    lost = libvirt_error("Guest agent is not responding: Guest agent not available for now",
                         libvirt.VIR_ERR_AGENT_UNRESPONSIVE)
    agent = FakeQemuGa(GuestProcess(runs_for=60), fail={"guest-exec-status": lost})
    part = exec_part(monkeypatch, agent, argv=["/bin/sleep", "60"])
    with pytest.raises(LibvirtCallError, match=r"was started in the guest \(pid \d+\) but its status could not be "
                                               "read.*not available for now") as raised:
        run_part(part)
    assert raised.value.after_change and part.context.recorder.changed
    assert raised.value.details()["libvirt_error_code"] == libvirt.VIR_ERR_AGENT_UNRESPONSIVE
    assert raised.value.message.count("exec-guest") == 1  # the domain named once


def test_output_too_large_for_libvirt_is_explained(monkeypatch):
    too_large = libvirt_error("Unable to encode message payload", libvirt.VIR_ERR_RPC)  # rig: 3 MiB of output
    agent = FakeQemuGa(fail={"guest-exec-status": too_large})
    with pytest.raises(LibvirtCallError, match="more than libvirt can carry back.*redirect it to a file"):
        run_part(exec_part(monkeypatch, agent, argv=["cat", "/dev/big"]))


# --- creates / removes and check mode ------------------------------------------------------------------------------


def test_creates_that_exists_skips_the_command_unchanged(monkeypatch):
    agent = FakeQemuGa(files={"/etc/bootstrapped"})
    part = exec_part(monkeypatch, agent, argv=["/bootstrap"], creates="/etc/bootstrapped")
    actions, report = run_part(part)
    assert actions == [] and not part.context.recorder.changed
    assert report == {"argv": ["/bootstrap"], "skipped": True, "msg": "skipped, since /etc/bootstrapped exists in the guest"}
    assert agent.commands("guest-exec") == []
    assert [request["execute"] for request in agent.commands()] == ["guest-file-open", "guest-file-close"]


def test_creates_that_is_missing_runs_the_command(monkeypatch):
    agent = FakeQemuGa()
    actions, report = run_part(exec_part(monkeypatch, agent, argv=["/bootstrap"], creates="/etc/bootstrapped"))
    assert actions and report["rc"] == 0 and len(agent.commands("guest-exec")) == 1


def test_removes_that_is_missing_skips_and_removes_that_exists_runs(monkeypatch):
    agent = FakeQemuGa()
    actions, report = run_part(exec_part(monkeypatch, agent, argv=["rm", "/tmp/x"], removes="/tmp/x"))
    assert actions == [] and report["skipped"] and "does not exist" in report["msg"]
    agent = FakeQemuGa(files={"/tmp/x"})
    actions, report = run_part(exec_part(monkeypatch, agent, argv=["rm", "/tmp/x"], removes="/tmp/x"))
    assert actions and report["rc"] == 0


def test_a_path_check_the_agent_cannot_answer_is_an_error_not_a_guess(monkeypatch):
    denied = libvirt_error("internal error: unable to execute QEMU agent command 'guest-file-open': failed to open "
                           "file '/root/x' (mode: 'r'): Permission denied")
    agent = FakeQemuGa(fail={"guest-file-open": denied})
    with pytest.raises(LibvirtCallError, match="Permission denied"):
        run_part(exec_part(monkeypatch, agent, argv=["x"], creates="/root/x"))
    assert agent.commands("guest-exec") == []


def test_check_mode_reports_the_plan_and_runs_nothing(monkeypatch):
    agent = FakeQemuGa()
    part = exec_part(monkeypatch, agent, check_mode=True, argv=["/bin/echo", "hi there"], creates="/missing")
    actions, report = run_part(part)
    assert actions == ["run in the guest: /bin/echo 'hi there'"] and part.context.recorder.changed
    assert report == {"argv": ["/bin/echo", "hi there"], "skipped": False}
    assert [request["execute"] for request in agent.commands()] == ["guest-file-open"]  # the creates check only


def test_check_mode_with_creates_existing_reports_the_skip(monkeypatch):
    agent = FakeQemuGa(files={"/done"})
    part = exec_part(monkeypatch, agent, check_mode=True, argv=["x"], creates="/done")
    actions, report = run_part(part)
    assert actions == [] and report["skipped"] and not part.context.recorder.changed


# --- validation and secrets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("given, named", [
    (dict(argv=[]), "exec.argv"),
    (dict(argv=[" "]), "exec.argv"),
    (dict(argv=["x"], timeout=-1), "exec.timeout"),
    (dict(argv=["x"], output_limit=-1), "exec.output_limit"),
    (dict(argv=["x"], env={"A=B": "c"}), "exec.env"),
    (dict(argv=["x"], creates=""), "exec.creates"),
    (dict(argv=["cat"], stdin="x" * 131072), r"exec.stdin is 131073 bytes.*at most 131072"),  # + the newline
])
def test_bad_options_are_refused_before_any_agent_call(monkeypatch, given, named):
    agent = FakeQemuGa()
    monkeypatch.setattr(_agent.libvirt_qemu, "qemuAgentCommand", agent)
    connection = Connection(ConnectionParams(uri="test:///default"))
    connection._conn = NoEventsConn()
    domain = Domain(connection, GuestVirDomain())
    context = GuestContext(domain=domain, agent=GuestAgent(domain), check_mode=False, recorder=ChangeRecorder(False))
    with pytest.raises(InvalidArgument, match=named):
        ExecPart(context, exec_option(**given)).validate()
    assert agent.sent == []


def test_secret_stdin_and_secret_named_env_values_never_show_in_an_error(monkeypatch):
    def echoing(_virdomain, text, _timeout, _flags):  # a careless error quoting the whole request
        raise libvirt_error(f"internal error: unable to execute QEMU agent command {text}")

    part = exec_part(monkeypatch, FakeQemuGa(), argv=["/usr/bin/login-setup"], stdin="hunter2-pw", stdin_secret=True,
                     env={"API_TOKEN": "tok-9876", "LANG": "C"})
    monkeypatch.setattr(_agent.libvirt_qemu, "qemuAgentCommand", echoing)
    with pytest.raises(LibvirtCallError) as raised:
        run_part(part)
    shown = " ".join([str(raised.value), raised.value.message, repr(raised.value.details())])
    for secret in ("hunter2-pw", b64(b"hunter2-pw\n"), "tok-9876"):
        assert secret not in shown
    assert REDACTED in shown and "LANG=C" in shown
    assert set(part.secrets()) == {"hunter2-pw", b64(b"hunter2-pw\n"), "tok-9876"}


def test_stdin_up_to_the_limit_is_sent(monkeypatch):
    agent = FakeQemuGa()
    run_part(exec_part(monkeypatch, agent, argv=["wc", "-c"], stdin="x" * 131071))
    assert agent.commands("guest-exec")[0]["arguments"]["input-data"] == b64(b"x" * 131071 + b"\n")


def test_stdin_not_marked_secret_is_no_secret():
    part = ExecPart.__new__(ExecPart)
    part.request = _guest_exec.ExecRequest(argv=["cat"], stdin="plain")
    assert part.secrets() == []
