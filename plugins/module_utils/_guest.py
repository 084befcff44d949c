# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_guest's runner: the parts a task asks for, validated, planned in a fixed order, executed once.

Order: wait_for_agent, then users, time, vcpus_online, fsfreeze, fstrim, exec, the console and
debug actions, and gather last (it shows the guest as the task leaves it). Every part is validated
before anything is read; every part reads and decides (plan) before the first change, so a refusal
changes nothing and check mode reports exactly the steps a real run takes.

A task that fails (or whose module process is interrupted or terminated) after a part changed
something that must not outlive it gets that part's abort(): a freeze is thawed.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestAgent
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._guest_part import GuestContext, GuestPart
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder, Step, execute

# Options whose parts talk to the guest agent: a domain without its channel is refused before they run.
AGENT_OPTIONS = ("users", "time", "vcpus_online", "fsfreeze", "fstrim", "exec", "gather")
DEFAULT_AGENT_TIMEOUT = 5
PROBE_TIMEOUT = 1  # seconds each probe of wait_for_agent may take


# What a frozen guest's agent still answers is only thaw and status (qemu-ga's freeze allow-list):
# these options, run after fsfreeze, could only fail once the guest is frozen.
AFTER_FREEZE_AGENT_OPTIONS = ("fstrim", "exec", "gather")


def refuse_agent_calls_after_a_freeze(domain_name: str, params: dict[str, Any], registry: dict[str, Any]) -> None:
    """fsfreeze: frozen with a later agent call in the same task: refused before anything is read."""
    if (params.get("fsfreeze") or {}).get("state") != "frozen":
        return
    later = [option for option in AFTER_FREEZE_AGENT_OPTIONS if option in registry and given(params.get(option))]
    if later:
        raise InvalidArgument(
            f"fsfreeze: frozen leaves the guest agent of domain '{domain_name}' answering only thaw and status, "
            f"so {', '.join(later)} cannot run after it in the same task: run them in a task before the freeze "
            "(or after the thaw)",
            domain=domain_name)


def given(value: Any) -> bool:
    """Whether the task set an option: not left out, and not a flag set to false (nmi: false)."""
    return value is not None and value is not False


class GuestRunner:
    """One domain_guest task on one domain: `registry` maps each option to its part class, in run order."""

    def __init__(self, domain: Domain, params: dict[str, Any], registry: dict[str, type[GuestPart]],
                 recorder: ChangeRecorder) -> None:
        timeout = params.get("agent_timeout")
        timeout = DEFAULT_AGENT_TIMEOUT if timeout is None else timeout
        if timeout <= 0:
            raise InvalidArgument(f"agent_timeout must be positive (got {timeout:g})", domain=domain.name)
        self.wait_for_agent: Optional[float] = params.get("wait_for_agent")
        # a freeze is an agent call like any other: agent_timeout bounds it too
        agent = GuestAgent(domain, timeout=timeout, freeze_timeout=timeout)
        self.context = GuestContext(domain=domain, agent=agent, check_mode=recorder.check_mode, recorder=recorder)
        self.parts = [part(self.context, params[option]) for option, part in registry.items()
                      if given(params.get(option))]
        if not self.parts and self.wait_for_agent is None:
            raise InvalidArgument(f"nothing to do: give wait_for_agent or one of {', '.join(registry)}",
                                  domain=domain.name)
        refuse_agent_calls_after_a_freeze(domain.name, params, registry)

    def secrets(self) -> list[str]:
        """Every value to hide wherever it could appear (the module masks them in its result and errors)."""
        return [secret for part in self.parts for secret in part.secrets() if secret]

    def run(self) -> dict[str, Any]:
        for part in self.parts:
            part.validate()
        result: dict[str, Any] = {}
        with interrupts_raise():
            result.update(self.agent_ready())
            steps = self.plan()
            self.undoing_on_failure(lambda: execute(steps, self.context.recorder))
            # results read too (gather, after the changes): a freeze must not outlive a failed read either
            self.undoing_on_failure(lambda: self.collect(result))
        return result

    def collect(self, result: dict[str, Any]) -> None:
        for part in self.parts:
            result.update(part.result())

    def agent_ready(self) -> dict[str, Any]:
        """wait_for_agent (woken by the agent lifecycle event); else a clear error for a guest without the channel."""
        agent = self.context.agent
        if self.wait_for_agent is not None:
            # probes of at most a second: an agent that is up answers in milliseconds, and a probe bounded by
            # agent_timeout that starts just before the wait's end would outlast the wait by that much
            prober = GuestAgent(self.context.domain, timeout=min(agent.timeout, PROBE_TIMEOUT))
            return {"agent_wait": round(prober.wait(self.wait_for_agent), 3)}
        if any(part.option in AGENT_OPTIONS for part in self.parts):
            options = [part.option for part in self.parts if part.option in AGENT_OPTIONS]
            agent.require_channel(", ".join(options), needed_by=options)
        return {}

    def plan(self) -> list[Step]:
        return [step for part in self.parts for step in part.plan()]

    def undoing_on_failure(self, body: Callable[[], Any]) -> None:
        """Run body; when it fails or is interrupted, each part undoes what must not outlive the task (abort)."""
        try:
            body()
        except BaseException:
            for part in reversed(self.parts):
                part.abort()
            raise


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGTERM (a task timeout, a killed play) raises SystemExit inside the block, so aborts still run.

    Python's default for SIGTERM ends the process without unwinding; Ctrl-C already raises.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
