# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A graceful shutdown: ask the guest, ask again now and then, and power it off after
shutdown_timeout when the task says force=true.
"""

from __future__ import annotations

import time
from typing import Optional

from ansible_collections.virtops.libvirt.plugins.module_utils._agent import DEFAULT_CALL_TIMEOUT, GuestAgent
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import libvirt
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import ABSENT, DomainState
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import LibvirtCallError, VirtopsError, WaitTimeout
from ansible_collections.virtops.libvirt.plugins.module_utils._events import Deadline
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import SHUTDOWN_MODES, combine
from ansible_collections.virtops.libvirt.plugins.module_utils._lifecycle_context import LifecycleContext, StateStep
from ansible_collections.virtops.libvirt.plugins.module_utils._parallel import TIMED_OUT, bounded_map

# Seconds between repeated shutdown requests while waiting for a graceful shutdown.
SHUTDOWN_RETRY_INTERVAL = 10.0
# The action that follows a graceful shutdown the guest ignored, with force=true.
FORCED_DESTROY = "destroy(after shutdown timeout)"
POWERED_OFF_STATES = ["shutoff", ABSENT]
_AGENT_UNRESPONSIVE = getattr(libvirt, "VIR_ERR_AGENT_UNRESPONSIVE", 86)
# Seconds past the agent bound before a request that has not returned counts as unanswered.
AGENT_REQUEST_GRACE = 1.0


class GracefulShutdown:
    """The shutdown step of a transition, and the wait that follows it in a real run."""

    def __init__(self, context: LifecycleContext) -> None:
        self.context = context
        self._deadline: Optional[Deadline] = None  # shutdown_timeout, counted from the first request

    def step(self, wait: bool) -> StateStep:
        """The shutdown request as a plan step; with `wait`, the wait for the power-off follows it."""
        context, options = self.context, self.context.options
        flags = combine("shutdown_mode", options.shutdown_modes, SHUTDOWN_MODES)
        label = f"shutdown({','.join(options.shutdown_modes)})" if options.shutdown_modes else "shutdown"
        if wait and options.force:
            # Whether the guest honours the request shows only at run time: the plan says so.
            context.recorder.may_perform(FORCED_DESTROY)
        return StateStep(label, lambda: self._first_request(flags), settle=self._settle if wait else None)

    def _first_request(self, flags: int) -> None:
        self._deadline = Deadline(self.context.options.shutdown_timeout)
        self._request(flags)

    def _request(self, flags: int, operation: str = "shutdown") -> None:
        """Ask the guest to shut down, through its agent for at most DEFAULT_CALL_TIMEOUT seconds.

        libvirt waits for the guest agent forever by default, so a stopped agent would hold the task
        far beyond shutdown_timeout. Bounded, an agent that does not answer is a request the guest
        ignored: ACPI follows when that mode is allowed too, and the wait decides.
        """
        domain, modes = self.context.domain, self.context.options.shutdown_modes
        if modes and "agent" not in modes:
            domain.shutdown_flags(flags, operation)
            return
        remaining = self._deadline.remaining() if self._deadline else DEFAULT_CALL_TIMEOUT
        bound = min(DEFAULT_CALL_TIMEOUT, remaining)
        if self._agent_request_returned(flags, operation, bound) or (modes and "acpi" not in modes):
            return
        # libvirt falls back to ACPI only once the agent request returns, which libvirt 9.0 can
        # hold until a stopped agent resumes whatever the agent timeout says: press the button here.
        acpi = combine("shutdown_mode", ["acpi"], SHUTDOWN_MODES)
        domain.shutdown_flags(acpi, f"{operation} (ACPI: the guest agent did not answer within {bound:g} s)")

    def _agent_request_returned(self, flags: int, operation: str, bound: float) -> bool:
        """Make the request that may go through the agent on a daemon thread; whether it returned in time.

        A request still held by libvirt stays on its thread and ends with the guest's power-off."""
        domain = self.context.domain

        def request(_item: None) -> None:
            with GuestAgent(domain).bounded(bound):
                domain.shutdown_flags(flags, operation)

        outcome = bounded_map(request, [None], parallel=1, timeout=bound + AGENT_REQUEST_GRACE)[0]
        if outcome is TIMED_OUT:
            return False
        # libvirt's "agent unresponsive" is an answer: with ACPI allowed libvirt fell back to it itself
        unresponsive = isinstance(outcome, LibvirtCallError) and outcome.code == _AGENT_UNRESPONSIVE
        if isinstance(outcome, Exception) and not unresponsive:
            raise outcome  # pylint: disable=raising-non-exception  # pylint cannot narrow bounded_map's result
        return True

    def _settle(self) -> None:
        """Wait for the power-off; after shutdown_timeout power it off (force) or fail."""
        context, options = self.context, self.context.options
        try:
            self._await_power_off(combine("shutdown_mode", options.shutdown_modes, SHUTDOWN_MODES))
        except WaitTimeout:
            if not options.force:
                raise WaitTimeout(
                    f"domain '{context.domain.name}' did not shut down within shutdown_timeout="
                    f"{options.shutdown_timeout:g} s and was left running; set force=true to power it off "
                    "after the timeout",
                    domain=context.domain.name, operation="shutdown") from None
            context.recorder.perform(FORCED_DESTROY, context.domain.destroy)
            context.await_states(POWERED_OFF_STATES)

    def _await_power_off(self, flags: int) -> None:
        """One wait (Domain.wait_for) for the power-off; each look at the state may repeat the request.

        A guest can miss one request: an ACPI button press during early boot or while it resumes
        from a PM suspend is lost. Like OpenStack Nova, ask again every SHUTDOWN_RETRY_INTERVAL.
        """
        domain = self.context.domain
        last_request = [time.monotonic()]

        def ask_again(state: DomainState) -> None:
            if state.state in POWERED_OFF_STATES or time.monotonic() - last_request[0] < SHUTDOWN_RETRY_INTERVAL:
                return
            last_request[0] = time.monotonic()
            try:
                self._request(flags, "shutdown (repeated)")
            except VirtopsError:
                pass  # e.g. the guest is already powering off; the wait decides

        remaining = self._deadline.remaining() if self._deadline else self.context.options.shutdown_timeout
        domain.wait_for(POWERED_OFF_STATES, remaining,
                        poll_interval=min(2.0, SHUTDOWN_RETRY_INTERVAL), on_event=ask_again)
