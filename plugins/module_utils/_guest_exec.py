# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_guest's `exec`: a command run by the guest agent (guest-exec), no network needed.

libvirt has no API for it, so it goes through the raw agent command (RawAgentCommand, which taints
the domain "custom-ga-command"). qemu-ga starts the process and keeps its exit status and output
until one guest-exec-status reports it exited; it sends no event when that happens, so the status
is polled (a backoff of agent calls) inside `_events.Watch.wait_until`, which an agent lifecycle
event (the agent going away) wakes at once. The agent cannot kill a process: one still running at
`timeout` is reported by its pid and keeps running.

Like ansible.builtin.command the task is changed whenever the command runs, and fails when it
exits non-zero; `creates` / `removes` (checked in the guest through guest-file-open first, also in
check mode) make it a no-op.

Output comes back base64-encoded in ONE agent reply: libvirt cannot carry a reply over its 4 MiB
RPC string limit (about 3 MiB of output: "Unable to encode message payload", the output is lost),
and a reply over 10 MiB (about 7.5 MiB of output) breaks libvirt's agent channel of the domain until it restarts
(seen on the rig, libvirt 9.0). `output_limit` only bounds what reaches the result.
"""

from __future__ import annotations

import base64
import binascii
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._agent import SECRET_WORDS, GuestAgent
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    InvalidArgument,
    LibvirtCallError,
    VirtopsError,
    WaitTimeout,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._events import AGENT_LIFECYCLE
from ansible_collections.virtops.libvirt.plugins.module_utils._guest_part import GuestContext, GuestPart
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import Step

DEFAULT_TIMEOUT = 60  # seconds a command may run before the task gives up on it
DEFAULT_OUTPUT_LIMIT = 1048576  # bytes of stdout (and of stderr) kept in the result
# Bytes of stdin one guest-exec may carry. qemu-ga 7.2 takes 128 KiB in 0.4 s on the rig, but did not answer a
# guest-exec carrying 256 KiB within 60 s, and stayed busy for every other agent call meanwhile.
STDIN_LIMIT = 131072
FIRST_POLL = 0.05  # seconds before the first status call after the start...
LAST_POLL = 2.0  # ...doubling up to this: a long command costs one agent call every 2 s
WAKE_INTERVAL = 0.05  # how often the wait looks whether the next poll is due (no agent call)
RPC_TOO_LARGE = "Unable to encode message payload"  # libvirt's answer to an agent reply over 4 MiB

ARGUMENT_SPECS: dict[str, dict[str, Any]] = {
    "exec": dict(type="dict", options=dict(
        argv=dict(type="list", elements="str", required=True),
        stdin=dict(type="str"),
        stdin_secret=dict(type="bool", default=False),
        stdin_add_newline=dict(type="bool", default=True),
        env=dict(type="dict"),
        capture_output=dict(type="bool", default=True),
        timeout=dict(type="float", default=DEFAULT_TIMEOUT),
        output_limit=dict(type="int", default=DEFAULT_OUTPUT_LIMIT),
        creates=dict(type="str"),
        removes=dict(type="str"),
    )),
}


@dataclass
class ExecRequest:
    """The `exec` option, checked: what to run and how long to wait for it."""

    argv: list[str]
    stdin: Optional[str] = None
    stdin_secret: bool = False
    stdin_add_newline: bool = True
    env: dict[str, str] = field(default_factory=dict)
    capture_output: bool = True
    timeout: float = DEFAULT_TIMEOUT
    output_limit: int = DEFAULT_OUTPUT_LIMIT
    creates: Optional[str] = None
    removes: Optional[str] = None

    @classmethod
    def from_option(cls, wanted: dict[str, Any]) -> "ExecRequest":
        known = {key: value for key, value in wanted.items() if value is not None and key in cls.__dataclass_fields__}
        request = cls(**known)
        request.check()
        return request

    def check(self) -> None:
        if not self.argv or not str(self.argv[0]).strip():
            raise InvalidArgument("exec.argv must name the program to run (its first item)")
        if self.timeout < 0:
            raise InvalidArgument(f"exec.timeout must not be negative (got {self.timeout:g})")
        if self.output_limit < 0:
            raise InvalidArgument(f"exec.output_limit must not be negative (got {self.output_limit})")
        size = len(self.stdin_bytes() or b"")
        if size > STDIN_LIMIT:
            raise InvalidArgument(f"exec.stdin is {size} bytes, the guest agent takes at most {STDIN_LIMIT} in one "
                                  "command (a larger one blocks it): copy larger data into the guest otherwise")
        for name in self.env:
            if not name or "=" in name:
                raise InvalidArgument(f"exec.env: '{name}' is not a variable name (empty, or contains '=')")
        for option in ("creates", "removes"):
            path = getattr(self, option)
            if path is not None and not path.strip():
                raise InvalidArgument(f"exec.{option} must be a path in the guest")

    def stdin_bytes(self) -> Optional[bytes]:
        if self.stdin is None:
            return None
        text = self.stdin + "\n" if self.stdin_add_newline and not self.stdin.endswith("\n") else self.stdin
        return text.encode("utf-8")

    def arguments(self) -> dict[str, Any]:
        """guest-exec's arguments. `env` REPLACES the guest process's environment (qemu-ga passes it as is)."""
        arguments: dict[str, Any] = {"path": self.argv[0], "arg": self.argv[1:], "capture-output": self.capture_output}
        data = self.stdin_bytes()
        if data is not None:
            arguments["input-data"] = base64.b64encode(data).decode("ascii")
        if self.env:
            arguments["env"] = [f"{name}={value}" for name, value in self.env.items()]
        return arguments

    def secrets(self) -> list[str]:
        """Secret stdin (as given and as sent) and env values whose names look secret (API_TOKEN...)."""
        found = [str(value) for name, value in self.env.items() if any(word in name.lower() for word in SECRET_WORDS)]
        data = self.stdin_bytes()
        if self.stdin_secret and data is not None:
            found += [self.stdin, base64.b64encode(data).decode("ascii")]
        return [secret for secret in found if secret]


class GuestProcesses:
    """guest-exec, guest-exec-status and a path check through the guest agent, each call bounded by its timeout."""

    def __init__(self, agent: GuestAgent) -> None:
        self.agent = agent

    @property
    def domain_name(self) -> str:
        return self.agent.domain.name

    def start(self, request: ExecRequest) -> int:
        answer = self.agent.command("guest-exec", request.arguments(), secrets=request.secrets())
        if not isinstance(answer, dict) or not isinstance(answer.get("pid"), int):
            raise VirtopsError(f"domain '{self.domain_name}': the guest agent started {request.argv[0]} but gave no "
                               f"pid (answer: {answer!r})", domain=self.domain_name, operation="guest agent guest-exec",
                               after_change=True)
        return answer["pid"]

    def status(self, pid: int) -> Optional[dict[str, Any]]:
        """The process's exit status and output once it exited (qemu-ga then forgets it), else None."""
        answer = self.agent.command("guest-exec-status", {"pid": pid})
        if not isinstance(answer, dict):
            raise VirtopsError(f"domain '{self.domain_name}': the guest agent's status of pid {pid} is not an object",
                               domain=self.domain_name, operation="guest agent guest-exec-status")
        return answer if answer.get("exited") else None

    def exists(self, path: str) -> bool:
        """Whether `path` exists in the guest: guest-file-open for reading (a directory opens too), then closed."""
        try:
            handle = self.agent.command("guest-file-open", {"path": path, "mode": "r"})
        except LibvirtCallError as error:
            if "No such file or directory" in (error.libvirt_message or error.message):
                return False
            raise
        self.agent.command("guest-file-close", {"handle": handle})
        return True


def decoded(answer: dict[str, Any], stream: str, limit: int) -> tuple[str, bool]:
    """One stream of a guest-exec-status answer ("out" / "err") as text of at most `limit` bytes; whether cut short."""
    try:
        data = base64.b64decode(answer.get(f"{stream}-data") or "", validate=True)
    except (binascii.Error, ValueError):
        data = b""
    truncated = bool(answer.get(f"{stream}-truncated")) or len(data) > limit
    return data[:limit].decode("utf-8", errors="replace"), truncated


def without_final_newline(text: str) -> str:
    """As ansible.builtin.command reports output: the trailing line break removed."""
    return text[:-1] if text.endswith("\n") else text


class ExecWait:
    """Polls one process's status, doubling the pause between agent calls up to LAST_POLL; an agent event polls at once."""

    def __init__(self, processes: GuestProcesses, pid: int) -> None:
        self.processes = processes
        self.pid = pid
        self.pause = FIRST_POLL
        self.next_poll = time.monotonic() + FIRST_POLL

    def poll_now(self, _event: Any = None) -> None:
        self.next_poll = 0.0

    def finished(self) -> Optional[dict[str, Any]]:
        """The probe of Watch.wait_until: the exit status once the process exited, None meanwhile."""
        if time.monotonic() < self.next_poll:
            return None  # not due: no agent call
        answer = self.processes.status(self.pid)
        self.pause = min(self.pause * 2, LAST_POLL)
        self.next_poll = time.monotonic() + self.pause
        return answer

    def until_exit(self, timeout: float, timed_out: WaitTimeout) -> dict[str, Any]:
        with self.processes.agent.domain.watch().on(AGENT_LIFECYCLE, self.poll_now) as watch:
            return watch.wait_until(self.finished, timeout, lambda: timed_out, fallback=WAKE_INTERVAL)


class ExecPart(GuestPart):
    """`exec`: run a command in the guest, unless `creates` exists or `removes` does not; changed when it runs."""

    option = "exec"

    def __init__(self, context: GuestContext, wanted: Any) -> None:
        super().__init__(context, wanted)
        self.request = ExecRequest(argv=list((wanted or {}).get("argv") or []))
        self.processes = GuestProcesses(context.agent)
        self.report: dict[str, Any] = {}

    def validate(self) -> None:
        self.request = ExecRequest.from_option(self.wanted or {})

    def secrets(self) -> list[str]:
        return self.request.secrets()

    def result(self) -> dict[str, Any]:
        return {"exec": self.report}

    def plan(self) -> list[Step]:
        self.report = {"argv": list(self.request.argv), "skipped": False}
        reason = self.skip_reason()
        if reason:
            self.report.update(skipped=True, msg=reason)
            return []
        return [Step(f"run in the guest: {shown(self.request.argv)}", self.run)]

    def skip_reason(self) -> Optional[str]:
        creates, removes = self.request.creates, self.request.removes
        if creates is not None and self.processes.exists(creates):
            return f"skipped, since {creates} exists in the guest"
        if removes is not None and not self.processes.exists(removes):
            return f"skipped, since {removes} does not exist in the guest"
        return None

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        pid = self.processes.start(self.request)
        self.report.update(pid=pid, finished=False)
        if self.request.timeout == 0:
            return self.report  # asked not to wait: the process runs on, its status stays with the agent
        try:
            answer = ExecWait(self.processes, pid).until_exit(self.request.timeout, self.timed_out(pid))
        except VirtopsError as error:
            raise self.failed_after_start(error, pid)
        self.report.update(self.outcome(answer), duration=round(time.monotonic() - started, 3))
        self.fail_unless_success()
        return self.report

    def outcome(self, answer: dict[str, Any]) -> dict[str, Any]:
        limit = self.request.output_limit
        stdout, stdout_truncated = decoded(answer, "out", limit)
        stderr, stderr_truncated = decoded(answer, "err", limit)
        stdout, stderr = without_final_newline(stdout), without_final_newline(stderr)
        return {"finished": True, "rc": answer.get("exitcode"), "signal": answer.get("signal"),
                "stdout": stdout, "stderr": stderr, "stdout_lines": stdout.splitlines(),
                "stderr_lines": stderr.splitlines(), "stdout_truncated": stdout_truncated,
                "stderr_truncated": stderr_truncated}

    def fail_unless_success(self) -> None:
        rc, signal = self.report.get("rc"), self.report.get("signal")
        if rc == 0 and signal is None:
            return
        how = f"was killed by signal {signal}" if signal is not None else f"exited with the non-zero return code {rc}"
        error = VirtopsError(f"domain '{self.context.domain.name}': {shown(self.request.argv)} {how}",
                             domain=self.context.domain.name, operation="guest agent guest-exec", after_change=True)
        error.result["exec"] = self.report
        raise error

    def timed_out(self, pid: int) -> WaitTimeout:
        error = WaitTimeout(
            f"domain '{self.context.domain.name}': {shown(self.request.argv)} (pid {pid} in the guest) still runs after "
            f"exec.timeout ({self.request.timeout:g} s); the guest agent cannot stop it, so it keeps running",
            domain=self.context.domain.name, operation="guest agent guest-exec-status", after_change=True)
        error.result["exec"] = self.report
        return error

    def failed_after_start(self, error: VirtopsError, pid: int) -> VirtopsError:
        """An error while waiting: the command was started, so the task changed something."""
        if not isinstance(error, WaitTimeout):
            hint = ""
            if RPC_TOO_LARGE in (getattr(error, "libvirt_message", None) or error.message):
                hint = (" (its output is more than libvirt can carry back, about 3 MiB: it is lost; redirect it to a "
                        "file in the guest)")
            prefix = f"domain '{self.context.domain.name}': "
            cause = error.message[len(prefix):] if error.message.startswith(prefix) else error.message
            error.message = (f"{prefix}{shown(self.request.argv)} was started in the guest (pid {pid}) but its status "
                             f"could not be read{hint}: {cause}")
            error.args = (error.message,)
        error.after_change = True
        error.result["exec"] = self.report
        return error


def shown(argv: list[str]) -> str:
    """argv as a shell would read it (for actions and messages)."""
    return shlex.join(argv)


PARTS: dict[str, type[GuestPart]] = {"exec": ExecPart}
