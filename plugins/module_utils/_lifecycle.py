# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lifecycle of domains: definitions, metadata and every state transition, for domain_state.

Planning is data: `plan_transition()` turns (current state, target) into a list of step names,
so check mode reports exactly the steps a real run performs. `DomainLifecycle` reads the actual
domain, then performs the definition (`_definition`), metadata, transition and removal (`_removal`)
steps through a `ChangeRecorder`, which is the one place a step is either run or only reported.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._agent import GuestAgent
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import ABSENT, Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._events import REBOOT
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    BatchFailed,
    InvalidArgument,
    VirtopsError,
    WaitTimeout,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._facts import absent_summary, domain_summary
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import (
    REBOOT_MODES,
    SHUTDOWN_MODES,
    START_FLAGS,
    UNDEFINE_REMOVALS,
    combine,
    flag,
)
from ansible_collections.virtops.libvirt.plugins.module_utils._definition import LIFECYCLE_EVENTS, DefinitionSync, definition_flags
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
from ansible_collections.virtops.libvirt.plugins.module_utils._removal import DomainRemoval, undefine_removals

STATE_SYNONYMS = {"shutdown": "shutoff"}
DEFAULT_REMOVALS = ("managed_save", "snapshots_metadata", "checkpoints_metadata")
PM_TARGETS = {"mem": "VIR_NODE_SUSPEND_TARGET_MEM", "disk": "VIR_NODE_SUSPEND_TARGET_DISK",
              "hybrid": "VIR_NODE_SUSPEND_TARGET_HYBRID"}
# --- planning: pure data -------------------------------------------------------------------------

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
# Seconds between repeated shutdown requests while waiting for a graceful shutdown.
SHUTDOWN_RETRY_INTERVAL = 10.0
# Drivers (virConnectGetType) that send VIR_DOMAIN_EVENT_ID_REBOOT when the guest reboots; elsewhere
# a reboot is requested but cannot be confirmed.
REBOOT_EVENT_DRIVERS = frozenset({"QEMU"})
# The action that follows a graceful shutdown the guest ignored, with force=true.
FORCED_DESTROY = "destroy(after shutdown timeout)"


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


# --- options ----------------------------------------------------------------------------------------


@dataclass
class LifecycleOptions:
    state: str = "present"
    template: Any = None  # parsed xml option
    restart_on_change: bool = False
    autostart: Optional[bool] = None
    shutdown_modes: list[str] = field(default_factory=list)
    shutdown_timeout: float = 120
    force: bool = False
    start_flags: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=lambda: list(DEFAULT_REMOVALS))
    pm_target: str = "mem"
    lifecycle: dict[str, Optional[str]] = field(default_factory=dict)
    title: Optional[str] = None
    description: Optional[str] = None
    validate: bool = True
    wait: bool = True
    wait_for_agent: bool = False
    timeout: float = 60

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "LifecycleOptions":
        state = STATE_SYNONYMS.get(params["state"], params["state"])
        for option in ("shutdown_timeout", "timeout"):
            if params[option] < 0:
                raise InvalidArgument(f"{option} must not be negative (got {params[option]:g})")
        if params["start_paused"] and state == "running":
            raise InvalidArgument("start_paused conflicts with state=running: use state=paused to start paused")
        template = _xml.parse(params["xml"]) if params.get("xml") else None
        if template is not None and template.tag != "domain":
            raise InvalidArgument(f"xml must be a <domain> definition, not <{template.tag}>")
        options = cls(
            state=state,
            template=template,
            restart_on_change=params["restart_on_change"],
            autostart=params["autostart"],
            shutdown_modes=params["shutdown_mode"] or [],
            shutdown_timeout=params["shutdown_timeout"],
            force=params["force"],
            start_flags=[name for name in START_FLAGS if params.get(name)],
            remove=params["remove"] if params["remove"] is not None else list(DEFAULT_REMOVALS),
            pm_target=params["pm_target"],
            lifecycle={event: params.get(event) for event in LIFECYCLE_EVENTS},
            title=params.get("title"),
            description=params.get("description"),
            validate=params.get("validate", True),
            wait=params["wait"],
            wait_for_agent=params.get("wait_for_agent", False),
            timeout=params["timeout"],
        )
        # Flag constants are checked before anything changes.
        combine("shutdown_mode", options.shutdown_modes, SHUTDOWN_MODES)
        combine("remove", undefine_removals(options.remove), UNDEFINE_REMOVALS)
        return options

    def template_name(self) -> Optional[str]:
        return None if self.template is None else _xml.element_text(self.template, "name")

    def template_uuid(self) -> Optional[str]:
        return None if self.template is None else _xml.element_text(self.template, "uuid")


def resolve_targets(names: Optional[list[str]], uuid: Optional[str], options: LifecycleOptions) -> list[dict[str, Any]]:
    """The domains a task addresses, as lookup keys; the template's name fills in a missing name."""
    template_name = options.template_name()
    if options.template is not None:
        if names and len(names) > 1:
            raise InvalidArgument("xml defines one domain: give a single name with it, not a list")
        if template_name is None:
            raise InvalidArgument("xml has no <name> element")
        if names and names[0] != template_name:
            raise InvalidArgument(f"xml defines domain '{template_name}' but name is '{names[0]}'")
        template_uuid = options.template_uuid()
        if uuid and template_uuid and uuid.lower() != template_uuid.lower():
            raise InvalidArgument(f"xml has uuid {template_uuid} but uuid is {uuid}")
        return [{"name": template_name, "uuid": uuid}]
    if uuid:
        return [{"name": None, "uuid": uuid}]
    if not names:
        raise InvalidArgument("one of name, uuid or xml is required")
    return [{"name": name, "uuid": None} for name in names]


# --- applying ------------------------------------------------------------------------------------


class DomainLifecycle(DefinitionSync, DomainRemoval):
    """Brings one domain to the desired definition, metadata and state."""

    def __init__(self, connection: Connection, name: Optional[str], uuid: Optional[str],
                 options: LifecycleOptions, recorder: ChangeRecorder) -> None:
        self.connection = connection
        self.label = name or uuid or "?"
        self.name, self.uuid = name, uuid
        self.options = options
        self.recorder = recorder
        self.definition_changes: list[str] = []
        self.secret_changes: list[str] = []  # paths of changed passwords (values never shown)
        self.domain: Optional[Domain] = None
        self.definition = None  # the persistent definition as parsed XML (predicted in check mode)
        self.predicted_state = ABSENT

    # -- entry point --

    def run(self) -> dict[str, Any]:
        self.domain = Domain.find(self.connection, name=self.name, uuid=self.uuid)
        before = self._observe()
        if self.options.state == "absent":
            self._remove()
        else:
            self._ensure_defined()
            self._ensure_metadata()
            self._restart_if_pending()
            self._transition(self.options.state)
            self._await_agent()
        result = self._result(before)
        result["conditional_actions"] = list(self.recorder.conditional_actions)
        return result

    def _await_agent(self) -> None:
        """Ready means the guest agent answers, when the task asks for that."""
        if not self.options.wait_for_agent or self.recorder.check_mode:
            return
        if self.domain.state().state == "running":
            GuestAgent(self.domain).wait(self.options.timeout)

    def _observe(self) -> dict[str, Any]:
        if self.domain is None:
            self.predicted_state = ABSENT
            return {"state": ABSENT}
        current = self.domain.state()
        self.predicted_state = effective_state(current.state, self.domain.has_managed_save())
        observed: dict[str, Any] = {"state": self.predicted_state}
        if self.domain.is_persistent():
            self.definition = _xml.parse(self.domain.xml_desc(definition_flags()), "defined XML")
            observed["autostart"] = self.domain.autostart()
        if self.options.template is not None and self.definition is not None:
            observed["definition"] = _xml.canonical(self.definition)
        return observed

    def _result(self, before: dict[str, Any]) -> dict[str, Any]:
        if self.domain is None or self.predicted_state == ABSENT:
            facts = absent_summary(self.domain.name if self.domain is not None else self.label)
        else:
            facts = domain_summary(self.domain)
        after: dict[str, Any] = {"state": self.predicted_state}
        if self.definition is not None:
            after["autostart"] = before.get("autostart", False) if self.options.autostart is None else self.options.autostart
        if self.options.template is not None:
            before.setdefault("definition", None)
            after["definition"] = _xml.canonical(self.definition) if self.definition is not None else None
            facts["definition_changes"] = self.definition_changes
            if self.secret_changes:  # masked, the definitions look alike: say it in a line of its own
                before["passwords"] = "as they were"
                after["passwords"] = f"changed at {', '.join(self.secret_changes)}"
        facts.update(
            changed=self.recorder.changed,
            actions=self.recorder.actions,
            pending_restart=self._pending_restart(),
            diff={"before": before, "after": after},
        )
        return facts

    def _restart_if_pending(self) -> None:
        """With restart_on_change, a running domain whose definition lags is restarted gracefully."""
        if not self.options.restart_on_change or self.predicted_state not in ("running", "paused", "pmsuspended"):
            return
        if not self._pending_restart():
            return
        self._transition("shutoff")
        if self.options.state == "present":
            self._transition("running")

    # -- state transitions --

    def _transition(self, target: str) -> None:
        steps = plan_transition(self.predicted_state, target, pm_target=self.options.pm_target,
                                force_boot="force_boot" in self.options.start_flags)
        for position, step in enumerate(steps):
            last = position == len(steps) - 1
            wait = self.options.wait or not last
            self._step(step, wait)

    def _step(self, step: str, wait: bool) -> None:
        handler = getattr(self, f"_step_{step}")
        handler(wait)
        if step == "pm_suspend" and self.options.pm_target == "disk":
            self.predicted_state = "shutoff"  # hibernated: QEMU powers the guest off
        else:
            self.predicted_state = _STEP_RESULTS[step]

    def _await(self, wait: bool, states: list[str], timeout: Optional[float] = None) -> None:
        if wait and not self.recorder.check_mode:
            self.domain.wait_for(states, self.options.timeout if timeout is None else timeout)

    def _start_flags(self, extra: int = 0) -> int:
        return combine("start flags", self.options.start_flags, START_FLAGS) | extra

    def _step_start(self, wait: bool) -> None:
        flags = self._start_flags()
        # Only force_boot plans a plain start of a saved domain: libvirt discards the image and boots.
        label = "start" if self.predicted_state != "saved" else "start(force boot, managed save discarded)"
        self.recorder.perform(label, lambda: self.domain.create_with_flags(flags))
        self._await(wait, ["running", "paused", "pmsuspended"])

    def _step_restore(self, wait: bool) -> None:
        """Restore the managed save image with the vCPUs paused, whatever state the image recorded."""
        flags = self._start_flags(libvirt.VIR_DOMAIN_START_PAUSED)
        self.recorder.perform("start(restore managed save, paused)",
                              lambda: self.domain.create_with_flags(flags, "restore"))
        self._await(wait, ["paused"])

    def _step_start_paused(self, wait: bool) -> None:
        flags = self._start_flags(libvirt.VIR_DOMAIN_START_PAUSED)
        self.recorder.perform("start(paused)", lambda: self.domain.create_with_flags(flags, "start paused"))
        self._await(wait, ["paused"])

    def _step_resume(self, wait: bool) -> None:
        self.recorder.perform("resume", lambda: self.domain.resume())
        self._await(wait, ["running"])

    def _step_suspend(self, wait: bool) -> None:
        self.recorder.perform("suspend", lambda: self.domain.suspend())
        self._await(wait, ["paused"])

    def _step_wakeup(self, wait: bool) -> None:
        self.recorder.perform("pm_wakeup", lambda: self.domain.pm_wakeup())
        self._await(wait, ["running"])

    def _step_destroy(self, wait: bool) -> None:
        self.recorder.perform("destroy", lambda: self.domain.destroy())
        self._await(wait, ["shutoff", ABSENT])

    def _step_managed_save(self, wait: bool) -> None:
        self.recorder.perform("managed_save", lambda: self.domain.managed_save())

    def _step_wait_shutoff(self, wait: bool) -> None:
        self._await(True, ["shutoff", ABSENT], self.options.shutdown_timeout)

    def _step_shutdown(self, wait: bool) -> None:
        modes = self.options.shutdown_modes
        flags = combine("shutdown_mode", modes, SHUTDOWN_MODES)
        label = f"shutdown({','.join(modes)})" if modes else "shutdown"
        self.recorder.perform(label, lambda: self.domain.shutdown_flags(flags))
        if wait and self.options.force:
            # Whether the guest honours the request shows only at run time: the plan says so.
            self.recorder.may_perform(FORCED_DESTROY)
        if not wait or self.recorder.check_mode:
            return
        try:
            self._await_shutdown(flags)
        except WaitTimeout:
            if not self.options.force:
                raise WaitTimeout(
                    f"domain '{self.domain.name}' did not shut down within shutdown_timeout="
                    f"{self.options.shutdown_timeout:g} s and was left running; set force=true to power it off "
                    "after the timeout",
                    domain=self.domain.name, operation="shutdown") from None
            self.recorder.perform(FORCED_DESTROY, lambda: self.domain.destroy())
            self._await(True, ["shutoff", ABSENT])

    def _await_shutdown(self, flags: int) -> None:
        """Wait for the power-off, repeating the request now and then.

        A guest can miss one request: an ACPI button press during early boot or while it resumes
        from a PM suspend is lost. Like OpenStack Nova, ask again every SHUTDOWN_RETRY_INTERVAL.
        """
        deadline = time.monotonic() + self.options.shutdown_timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                self.domain.wait_for(["shutoff", ABSENT], max(0.0, min(remaining, SHUTDOWN_RETRY_INTERVAL)))
                return
            except WaitTimeout:
                if remaining <= SHUTDOWN_RETRY_INTERVAL:
                    raise
            try:
                self.domain.shutdown_flags(flags, "shutdown (repeated)")
            except VirtopsError:
                pass  # e.g. the guest is already powering off; the wait decides

    def _step_pm_suspend(self, wait: bool) -> None:
        target = self.options.pm_target
        code = flag(PM_TARGETS[target], needed_for=f"pm_target={target}")

        def apply() -> None:
            # The guest agent performs the suspend; after a fresh start it needs a moment to come up.
            GuestAgent(self.domain).wait(self.options.timeout)
            self.domain.pm_suspend_for_duration(code)

        self.recorder.perform(f"pm_suspend({target})", apply)
        self._await(wait, ["pmsuspended"] if target != "disk" else ["shutoff"])

    def _step_reboot(self, wait: bool) -> None:
        modes = self.options.shutdown_modes
        flags = combine("shutdown_mode", modes, REBOOT_MODES)
        label = f"reboot({','.join(modes)})" if modes else "reboot"
        if not wait or self.recorder.check_mode or not self._reboot_is_observable():
            self.recorder.perform(label, lambda: self.domain.reboot(flags))
            return

        def reboot_and_wait() -> None:
            # A reboot request only asks the guest; one that ignores it (no ACPI handling, say) would
            # otherwise be reported as rebooted. Registered before the request, so no event is missed.
            with self.domain.watch().on(REBOOT) as rebooted:
                self.domain.reboot(flags)
                if rebooted.live and not rebooted.woke(self.options.timeout):
                    raise WaitTimeout(
                        f"domain '{self.domain.name}' did not reboot within {self.options.timeout:g} s of {label}: "
                        "the guest ignored the request (an ACPI request needs a guest that handles the power "
                        "button; shutdown_mode=[agent] needs its guest agent)",
                        domain=self.domain.name, operation="reboot")

        self.recorder.perform(label, reboot_and_wait)

    def _reboot_is_observable(self) -> bool:
        """Whether this driver reports a guest's reboot (QEMU does, on the guest's reset)."""
        driver = self.connection.driver_type()
        return driver in REBOOT_EVENT_DRIVERS

    def _step_reset(self, wait: bool) -> None:
        self.recorder.perform("reset", lambda: self.domain.reset())


# --- many domains ----------------------------------------------------------------------------------


def run_lifecycle(connection: Connection, target: dict[str, Any], options: LifecycleOptions,
                  recorder: ChangeRecorder) -> dict[str, Any]:
    """Bring one domain to the desired state; its result has `error: None`.

    A failure raises, with `recorder` holding what was done and the error's result carrying the
    documented `domain` dict of the failed domain (see `failure_result`).
    """
    try:
        result = DomainLifecycle(connection, target["name"], target["uuid"], options, recorder).run()
    except VirtopsError as error:
        error.result["domain"] = failure_result(connection, target, recorder, error.message)
        if "," in (target["name"] or "") and error.result["domain"].get("state") == ABSENT:
            # libvirt allows commas in names, so "a,b" is one name; the user likely meant a list
            error.message += ' (a list of names is a YAML or JSON list, such as ["a", "b"]; a comma is part of a name)'
            error.args = (error.message,)
        raise
    result["error"] = None
    return result


def failure_result(connection: Connection, target: dict[str, Any], recorder: ChangeRecorder,
                   message: str) -> dict[str, Any]:
    """The facts of a domain whose task failed, as it is now, with what was done and why it failed."""
    label = target["name"] or target["uuid"]
    try:
        domain = Domain.find(connection, name=target["name"], uuid=target["uuid"])
        facts = domain_summary(domain) if domain is not None else absent_summary(label)
    except VirtopsError:
        facts = {"name": label}  # the connection itself may be what failed: report what is known
    facts.update(failed=True, msg=message, error=message, changed=recorder.changed, actions=list(recorder.actions))
    return facts


def run_lifecycles(connection: Connection, targets: list[dict[str, Any]], options: LifecycleOptions,
                   check_mode: bool, parallel: int, warnings: Optional[list[str]] = None) -> list[dict[str, Any]]:
    """Bring each target to the desired state, up to `parallel` at once; one result each, in order.

    Every result has name, changed, actions and error (None when it succeeded). A domain that fails
    does not stop the others; BatchFailed then reports every result, and whether any changed.
    Each domain's warnings are appended to `warnings`, prefixed with its name.
    """

    def one(target: dict[str, Any]) -> dict[str, Any]:
        recorder = ChangeRecorder(check_mode)
        try:
            return run_lifecycle(connection, target, options, recorder)
        except VirtopsError as error:
            return error.result["domain"]
        except Exception as error:  # pylint: disable=broad-exception-caught
            # A bug in one worker must not become a traceback that hides the other domains' results.
            return failure_result(connection, target, recorder, f"unexpected error: {type(error).__name__}: {error}")
        finally:
            if warnings is not None:
                warnings.extend(f"{target['name'] or target['uuid']}: {message}" for message in recorder.warnings)

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(targets)))) as pool:
        results = list(pool.map(one, targets))
    failures = [result for result in results if result.get("failed")]
    if failures:
        summary = "; ".join(f"{result['name']}: {result['msg']}" for result in failures)
        raise BatchFailed(f"{len(failures)} of {len(results)} domains failed: {summary}", results)
    return results
