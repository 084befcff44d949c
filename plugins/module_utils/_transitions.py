# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""State transitions of a domain: the plan as data, and the steps that carry it out.

`plan_transition()` turns (current state, target) into step names; `StateSteps` turns those into
`StateStep`s (action, call, wait, predicted state) before the first one runs, so check mode
reports exactly the steps a real run performs.
"""

from __future__ import annotations

from typing import Any, Callable

from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestAgent
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import ABSENT, Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, LibvirtCallError, WaitTimeout
from ansible_collections.virtops.libvirt.plugins.module_utils._events import REBOOT
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import REBOOT_MODES, START_FLAGS, combine, flag
from ansible_collections.virtops.libvirt.plugins.module_utils._lifecycle_context import (
    LifecycleContext,
    StateStep,
    run_steps,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._shutdown import GracefulShutdown

PM_TARGETS = {"mem": "VIR_NODE_SUSPEND_TARGET_MEM", "disk": "VIR_NODE_SUSPEND_TARGET_DISK",
              "hybrid": "VIR_NODE_SUSPEND_TARGET_HYBRID"}

# What each current state needs to reach the target; "saved" is shut off with a managed save image,
# "shutting_down" is libvirt's transient "shutdown" state (the guest is powering off by itself).
# A managed save image records whether the guest ran or was paused, and libvirt offers no way to read
# that back; "restore" therefore always restores paused (VIR_DOMAIN_START_PAUSED) and a "resume"
# follows for running targets, so check mode predicts exactly what the real run does.
_TO_RUNNING = {"shutoff": ["start"], "saved": ["restore", "resume"], "paused": ["resume"], "pmsuspended": ["wakeup"],
               "crashed": ["destroy", "start"], "shutting_down": ["wait_shutoff", "start"], "running": []}
_TRANSITIONS: dict[str, dict[str, list[str]]] = {
    "present": {},
    "running": _TO_RUNNING,
    "paused": {"running": ["suspend"], "shutoff": ["start_paused"], "saved": ["restore"],
               "pmsuspended": ["wakeup", "suspend"], "crashed": ["destroy", "start_paused"],
               "shutting_down": ["wait_shutoff", "start_paused"], "paused": []},
    "shutoff": {"running": ["shutdown"], "paused": ["resume", "shutdown"], "pmsuspended": ["wakeup", "shutdown"],
                "crashed": ["destroy"], "shutting_down": ["wait_shutoff"], "shutoff": [], "saved": []},
    "destroyed": {"running": ["destroy"], "paused": ["destroy"], "pmsuspended": ["destroy"], "crashed": ["destroy"],
                  "shutting_down": ["destroy"], "shutoff": [], "saved": []},
    "saved": {"running": ["managed_save"], "paused": ["managed_save"], "pmsuspended": ["wakeup", "managed_save"],
              "shutoff": ["start", "managed_save"], "crashed": ["destroy", "start", "managed_save"],
              "shutting_down": ["wait_shutoff", "start", "managed_save"], "saved": []},
    "pmsuspended": {"running": ["pm_suspend"], "paused": ["resume", "pm_suspend"], "shutoff": ["start", "pm_suspend"],
                    "saved": ["restore", "resume", "pm_suspend"], "crashed": ["destroy", "start", "pm_suspend"],
                    "shutting_down": ["wait_shutoff", "start", "pm_suspend"], "pmsuspended": []},
    "rebooted": {**_TO_RUNNING, "running": ["reboot"], "paused": ["resume", "reboot"],
                 "pmsuspended": ["wakeup", "reboot"]},
    # QEMU keeps a paused guest paused across a reset (resume after it), and a reset wakes a
    # PM-suspended guest without libvirt noticing (wake it up first).
    "reset": {**_TO_RUNNING, "running": ["reset"], "paused": ["reset", "resume"], "pmsuspended": ["wakeup", "reset"]},
}
# pm_target=disk: the guest writes its memory to its own disk and powers off, which libvirt reports as
# an ordinary shutdown. Any powered-off domain has therefore reached it, or every run would start the
# hibernated guest and suspend it again.
_TO_PMSUSPENDED_DISK = {"running": ["pm_suspend"], "paused": ["resume", "pm_suspend"], "pmsuspended": [],
                        "shutoff": [], "saved": [], "crashed": ["destroy"], "shutting_down": ["wait_shutoff"]}
# The state each step leaves the domain in.
_STEP_RESULTS = {
    "start": "running", "start_paused": "paused", "restore": "paused", "resume": "running", "suspend": "paused",
    "wakeup": "running", "shutdown": "shutoff", "destroy": "shutoff", "managed_save": "saved",
    "pm_suspend": "pmsuspended", "reboot": "running", "reset": "running", "wait_shutoff": "shutoff",
}
# Drivers (virConnectGetType) that send VIR_DOMAIN_EVENT_ID_REBOOT when the guest reboots; elsewhere
# a reboot is requested but cannot be confirmed.
REBOOT_EVENT_DRIVERS = frozenset({"QEMU"})


def effective_state(state: str, has_managed_save: bool) -> str:
    """libvirt's state folded into the states transitions are planned from."""
    if state == "shutoff" and has_managed_save:
        return "saved"
    return {"blocked": "running", "nostate": "running", "shutdown": "shutting_down"}.get(state, state)


def plan_transition(current: str, target: str, *, pm_target: str = "mem", force_boot: bool = False) -> list[str]:
    """The steps from `current` (an effective state) to `target`; [] when already there.

    With force_boot a saved domain boots afresh (libvirt discards the image), as a shut-off one does.
    """
    if target == "present":
        return []
    if force_boot and current == "saved" and target not in ("shutoff", "destroyed", "saved"):
        current = "shutoff"
    table = _TO_PMSUSPENDED_DISK if target == "pmsuspended" and pm_target == "disk" else _TRANSITIONS[target]
    steps = table.get(current)
    if steps is None:
        raise InvalidArgument(f"cannot bring a domain in state '{current}' to '{target}'")
    return list(steps)


# Every state the state option accepts: the transition targets and "absent" (see _removal).
TARGET_STATES = (*_TRANSITIONS, "absent")


def step_result(step: str, pm_target: str) -> str:
    """The state a step leaves the domain in; hibernation (pm_target=disk) powers the guest off."""
    return "shutoff" if step == "pm_suspend" and pm_target == "disk" else _STEP_RESULTS[step]


def _reach(state: str) -> Callable[[Any], None]:
    def effect(context: LifecycleContext) -> None:
        context.predicted_state = state
    return effect


class StateSteps:
    """Brings the domain from its predicted state to a target: plan the steps, then run them."""

    def __init__(self, context: LifecycleContext) -> None:
        self.context = context
        self.shutdown = GracefulShutdown(context)

    def transition(self, target: str) -> None:
        run_steps(self.plan(target), self.context)

    def plan(self, target: str) -> list[StateStep]:
        options, state = self.context.options, self.context.predicted_state
        names = plan_transition(state, target, pm_target=options.pm_target,
                                force_boot="force_boot" in options.start_flags)
        steps = []
        for position, name in enumerate(names):
            # Only the last step may skip its wait (wait=false): the next one needs its result.
            step = getattr(self, f"_{name}")(state, options.wait or position < len(names) - 1)
            state = step_result(name, options.pm_target)
            step.effect = _reach(state)
            steps.append(step)
        return steps

    def destroy(self, wait: bool = True) -> StateStep:
        return self._simple("destroy", self._on_domain(Domain.destroy), wait, ["shutoff", ABSENT])

    def _on_domain(self, call: Callable[[Domain], None]) -> Callable[[], None]:
        """`call` on the domain handle as it is when the step runs (a step may follow the define)."""
        return lambda: call(self.context.domain)

    def _simple(self, action: str, apply: Callable[[], None], wait: bool, states: list[str]) -> StateStep:
        return StateStep(action, apply, settle=(lambda: self.context.await_states(states)) if wait else None)

    def _start_flags(self, extra: int = 0) -> int:
        return combine("start flags", self.context.options.start_flags, START_FLAGS) | extra

    def _start(self, state: str, wait: bool) -> StateStep:
        flags = self._start_flags()
        # Only force_boot plans a plain start of a saved domain: libvirt discards the image and boots.
        label = "start" if state != "saved" else "start(force boot, managed save discarded)"
        return self._simple(label, lambda: self.context.domain.create_with_flags(flags), wait,
                            ["running", "paused", "pmsuspended"])

    def _restore(self, _state: str, wait: bool) -> StateStep:
        """Restore the managed save image with the vCPUs paused, whatever state the image recorded."""
        flags = self._start_flags(libvirt.VIR_DOMAIN_START_PAUSED)
        return self._simple("start(restore managed save, paused)",
                            lambda: self.context.domain.create_with_flags(flags, "restore"), wait, ["paused"])

    def _start_paused(self, _state: str, wait: bool) -> StateStep:
        flags = self._start_flags(libvirt.VIR_DOMAIN_START_PAUSED)
        return self._simple("start(paused)", lambda: self.context.domain.create_with_flags(flags, "start paused"),
                            wait, ["paused"])

    def _resume(self, _state: str, wait: bool) -> StateStep:
        return self._simple("resume", self._resume_unless_running, wait, ["running"])

    def _resume_unless_running(self) -> None:
        """A domain seen paused while another client's start was still booting QEMU runs by the time the
        resume arrives: libvirt refuses it as "already running", which is the state the step wants."""
        domain = self.context.domain
        try:
            domain.resume()
        except LibvirtCallError as error:
            if error.code != libvirt.VIR_ERR_OPERATION_INVALID or domain.state().state != "running":
                raise

    def _suspend(self, _state: str, wait: bool) -> StateStep:
        return self._simple("suspend", self._on_domain(Domain.suspend), wait, ["paused"])

    def _wakeup(self, _state: str, wait: bool) -> StateStep:
        return self._simple("pm_wakeup", self._on_domain(Domain.pm_wakeup), wait, ["running"])

    def _destroy(self, _state: str, wait: bool) -> StateStep:
        return self.destroy(wait)

    def _managed_save(self, _state: str, _wait: bool) -> StateStep:
        return StateStep("managed_save", self._on_domain(Domain.managed_save))

    def _wait_shutoff(self, _state: str, _wait: bool) -> StateStep:
        """The guest is powering off by itself: no action, only the wait (always: the next step needs it)."""
        timeout = self.context.options.shutdown_timeout
        return StateStep("", lambda: None, settle=lambda: self.context.await_states(["shutoff", ABSENT], timeout))

    def _shutdown(self, _state: str, wait: bool) -> StateStep:
        return self.shutdown.step(wait)

    def _pm_suspend(self, _state: str, wait: bool) -> StateStep:
        context, target = self.context, self.context.options.pm_target
        code = flag(PM_TARGETS[target], needed_for=f"pm_target={target}")

        def apply() -> None:
            # The guest agent performs the suspend; after a fresh start it needs a moment to come up.
            GuestAgent(context.domain).wait(context.options.timeout)
            context.domain.pm_suspend_for_duration(code)

        return self._simple(f"pm_suspend({target})", apply, wait, ["pmsuspended"] if target != "disk" else ["shutoff"])

    def _reset(self, _state: str, _wait: bool) -> StateStep:
        return StateStep("reset", self._on_domain(Domain.reset))

    def _reboot(self, _state: str, wait: bool) -> StateStep:
        context, modes = self.context, self.context.options.shutdown_modes
        flags = combine("shutdown_mode", modes, REBOOT_MODES)
        label = f"reboot({','.join(modes)})" if modes else "reboot"
        if not wait or context.check_mode or not self._reboot_is_observable():
            return StateStep(label, lambda: context.domain.reboot(flags))

        def reboot_and_wait() -> None:
            # A reboot request only asks the guest; one that ignores it (no ACPI handling, say) would
            # otherwise be reported as rebooted. Registered before the request, so no event is missed.
            seen: list[Any] = []

            def ignored() -> WaitTimeout:
                return WaitTimeout(
                    f"domain '{context.domain.name}' did not reboot within {context.options.timeout:g} s of "
                    f"{label}: the guest ignored the request (an ACPI request needs a guest that handles the "
                    "power button; shutdown_mode=[agent] needs its guest agent)",
                    domain=context.domain.name, operation="reboot")

            with context.domain.watch().on(REBOOT, seen.append) as rebooted:
                context.domain.reboot(flags)
                if rebooted.live:  # only the event tells a reboot: there is no state to poll
                    rebooted.wait_until(lambda: True if seen else None, context.options.timeout, ignored,
                                        fallback=context.options.timeout)

        return StateStep(label, reboot_and_wait)

    def _reboot_is_observable(self) -> bool:
        """Whether this driver reports a guest's reboot (QEMU does, on the guest's reset)."""
        return self.context.connection.driver_type() in REBOOT_EVENT_DRIVERS
