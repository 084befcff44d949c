#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: domain_state
short_description: Define libvirt domains and bring them to any lifecycle state
version_added: 0.1.0
description:
  - Defines a domain from a full XML definition and keeps that definition up to date, idempotently
    (what libvirt adds on its own, such as UUIDs, MAC and PCI addresses, is not a difference).
  - Brings domains to any lifecycle state from any other, including C(pmsuspended), C(crashed) and
    managed-save, waiting for the transition through libvirt events.
  - Shuts guests down gracefully with a timeout, and optionally powers them off when they ignore it.
  - Handles a list of domains concurrently.
author:
  - virtops maintainers (@virtops)
extends_documentation_fragment:
  - virtops.libvirt.connection
  - virtops.libvirt.attributes
options:
  name:
    description:
      - The domain's name, or a list of names to handle concurrently (see O(parallel)).
      - A comma is part of a name (libvirt allows it), so V(a,b) is the one domain C(a,b).
      - 'On the ad-hoc command line give a list as JSON, for example
        C(ansible kvm01 -m virtops.libvirt.domain_state -a ''{"name": ["web01", "web02"], "state": "running"}'').'
      - When O(xml) is given, defaults to the name in the XML, and must match it when set.
    type: raw
  uuid:
    description:
      - The domain's UUID, instead of O(name).
    type: str
  state:
    description:
      - V(present) defines the domain (from O(xml) if it is missing) and leaves its run state alone.
      - V(running), V(paused) start, resume, wake up or restore the domain as needed. A crashed domain
        is powered off and started again.
      - A managed save image is always restored with the vCPUs paused, then resumed for every state
        but V(paused). libvirt cannot tell whether the image was saved running or paused, and this
        way check mode reports exactly what the real run does. With O(force_boot) the image is
        discarded and the guest boots afresh instead.
      - V(shutoff) (or its synonym V(shutdown)) shuts the guest down gracefully and waits up to
        O(shutdown_timeout) seconds; see O(force).
      - V(destroyed) powers the domain off at once.
      - V(saved) saves the domain's memory to a managed save image and stops it; V(running) restores it.
      - V(pmsuspended) suspends the guest through its guest agent (see O(pm_target)).
      - V(absent) undefines the domain (see O(remove)), then powers it off if it runs. Undefining
        first means a domain libvirt refuses to undefine (for its NVRAM, say) keeps running.
      - V(rebooted) and V(reset) are actions rather than states, so they are always performed and
        always report C(changed). A domain that is off is simply started.
      - V(rebooted) asks the guest to reboot (O(shutdown_mode)) and, on QEMU, waits up to O(timeout)
        seconds until it really does (libvirt's reboot event); a guest that ignores the request
        fails the task, unchanged. V(reset) resets at once, like the reset button; a paused domain
        is resumed afterwards (QEMU keeps it paused) and a PM-suspended one is woken up first.
    type: str
    default: present
    choices: [present, running, paused, shutoff, shutdown, destroyed, saved, pmsuspended, absent, rebooted, reset]
  xml:
    description:
      - A full domain definition, usually from a template.
      - Defines the domain when it does not exist. When it exists, the persistent definition is
        updated when it differs from the XML on anything the XML sets. How values are compared
        follows libvirt, not the letter of the XML - memory sizes in any unit (libvirt rounds them
        up to whole KiB), UUIDs in any case, machine type aliases such as V(q35).
      - The template owns what it sets. What it does not mention is kept as it is when the domain
        is redefined - the UUID, MAC and PCI addresses libvirt assigned, defaults libvirt added, a
        VNC/SPICE password or metadata another task set. Exceptions, which the template must list
        completely, so that leaving one out removes it - every device except controllers, inputs,
        video, memballoon, consoles and audio (which libvirt adds itself); the C(<kernel>),
        C(<initrd>), C(<cmdline>) and C(<dtb>) of C(<os>); the children of C(<features>); and
        the C(<metadata>) element when the XML has one. An element whose C(type) changes (or a
        CPU whose C(mode) changes) is replaced whole, keeping only an interface's MAC address.
      - A disk whose source in the XML is an image of the disk's current backing chain is the
        same disk - after an external snapshot the domain runs on an overlay above the
        template's image - and is left on its overlay.
      - Every definition is read with its secrets (VIR_DOMAIN_XML_SECURE), so a password in the
        XML is compared too; passwords never appear in results, diffs or messages.
      - A change to a running domain that only takes effect at its next boot sets
        C(pending_restart); see O(restart_on_change). Title, description and metadata changes
        reach the running domain at once and need no restart.
      - Parsed without DTDs, entities or network access.
    type: str
  validate:
    description:
      - Validate O(xml) against libvirt's schema when defining, so a typo such as
        C(cahce='none') or C(<memballon>) fails the task with libvirt's message naming it,
        instead of being dropped silently (and then reported as a change on every run).
    type: bool
    default: true
  restart_on_change:
    description:
      - When the definition of a running domain changed in a way that needs a restart, shut it down
        gracefully (O(shutdown_mode), O(shutdown_timeout), O(force)) and start it again.
      - A restart is needed only when the running domain differs from the persistent definition on
        something the XML sets. Values that exist only while the domain runs are not differences -
        the port of a graphics device with autoport, the model and features QEMU expands a
        host-model CPU into, the balloon size, the memory alignment, an empty CD-ROM's format.
    type: bool
    default: false
  autostart:
    description:
      - Start the domain when the libvirt daemon starts. Left alone when not set.
    type: bool
  shutdown_mode:
    description:
      - How to ask the guest to shut down (or reboot, for V(rebooted)); libvirt tries them in its own
        order. Empty lets the hypervisor choose (QEMU uses the guest agent when it is connected, else ACPI).
      - V(acpi) needs a guest that handles the ACPI power button (acpid, systemd-logind).
    type: list
    elements: str
    choices: [acpi, agent, initctl, signal, paravirt]
  shutdown_timeout:
    description:
      - Seconds to wait for a graceful shutdown. The request is repeated every 10 seconds meanwhile,
        because a guest can miss one (for example an ACPI button press while it resumes from a PM suspend).
      - Without O(force), the task fails when they pass, naming the domain, and the guest keeps running.
    type: float
    default: 120
  force:
    description:
      - Power the domain off (destroy) when it has not shut down after O(shutdown_timeout).
    type: bool
    default: false
  start_paused:
    description:
      - Start the domain with its vCPUs paused. Conflicts with O(state=running); use O(state=paused).
    type: bool
    default: false
  force_boot:
    description:
      - Boot afresh even when a managed save image exists (the image is discarded).
    type: bool
    default: false
  bypass_cache:
    description:
      - Avoid the host's file system cache when restoring a managed save image.
    type: bool
    default: false
  reset_nvram:
    description:
      - Reset the UEFI variable store from its template when starting.
    type: bool
    default: false
  pm_target:
    description:
      - The guest power-management state for O(state=pmsuspended). Needs a running guest agent and
        C(<pm>) support in the definition.
      - V(disk) (hibernation) makes the guest write its memory to its own disk and power off, which
        libvirt reports as an ordinary shutdown. So with V(disk) a domain that is shut off (or
        saved) already counts as suspended, nothing is done, and every later run is C(changed=false).
        A running or paused guest is suspended; it then ends shut off.
    type: str
    choices: [mem, disk, hybrid]
    default: mem
  remove:
    description:
      - What O(state=absent) removes together with the definition.
      - The default removes the managed save image and the snapshot and checkpoint metadata, and keeps
        the NVRAM and TPM state files. Disk images are never removed.
      - V(snapshots_metadata) and V(checkpoints_metadata) drop only libvirt's records. Internal
        snapshots stay inside the qcow2 images, external ones as overlay and memory files, and
        checkpoints as bitmaps in the images; the task warns when that happens.
      - V(snapshots) and V(checkpoints) delete them properly, with their data, before the undefine
        (internal snapshots are removed from the images, external ones merged back, bitmaps removed);
        check mode lists each deletion.
      - When the domain has something this list keeps (snapshots, say), the task fails before changing
        anything.
    type: list
    elements: str
    choices: [managed_save, snapshots, snapshots_metadata, checkpoints, checkpoints_metadata, nvram, tpm]
  on_poweroff:
    description: What the hypervisor does when the guest powers off (persistent definition).
    type: str
    choices: [destroy, restart, preserve, rename-restart]
  on_reboot:
    description: What the hypervisor does when the guest reboots (persistent definition).
    type: str
    choices: [destroy, restart, preserve, rename-restart]
  on_crash:
    description: What the hypervisor does when the guest crashes (persistent definition).
    type: str
    choices: [destroy, restart, preserve, rename-restart, coredump-destroy, coredump-restart]
  title:
    description:
      - A short title for the domain. An empty string removes it. Reaches a running domain at once.
      - Together with O(xml), the XML must not set another C(<title>) (the task fails rather than
        change it back and forth on every run).
    type: str
  description:
    description:
      - A free-form description of the domain. An empty string removes it. Reaches a running domain at once.
      - Together with O(xml), the XML must not set another C(<description>).
    type: str
  wait:
    description:
      - Wait until the domain has reached O(state). Intermediate steps are always awaited.
    type: bool
    default: true
  wait_for_agent:
    description:
      - When the domain ends up running, also wait until its QEMU guest agent answers C(guest-ping)
        (at most O(timeout) seconds), so the next task can use the agent.
      - Needs the guest agent channel in the definition and the agent running in the guest.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for each transition other than a graceful shutdown, for the guest agent
        (O(wait_for_agent), or before a PM suspend), and for the guest to reboot (O(state=rebooted)).
    type: float
    default: 60
  parallel:
    description:
      - How many domains of a list are handled at once.
      - When some domains of the list fail, the others are still handled; the task fails, reports
        C(changed) when any domain changed, and RV(domains) says what happened to each.
    type: int
    default: 8
notes:
  - Waiting is driven by libvirt lifecycle events, so the task returns as soon as the domain has
    changed state; the state is also re-read every few seconds in case an event is lost.
  - Check mode reports exactly the actions a real run would perform, and changes nothing. The one
    step that depends on the guest is the power-off after an ignored graceful shutdown (O(force)),
    which is listed in RV(domain.conditional_actions) instead.
seealso:
  - name: libvirt domain XML format
    description: Every element O(xml) may contain.
    link: https://libvirt.org/formatdomain.html
"""

EXAMPLES = r"""
- name: Define web01 from a template and make sure it runs
  virtops.libvirt.domain_state:
    xml: "{{ lookup('template', 'web01.xml.j2') }}"
    state: running
    autostart: true

- name: Shut down gracefully; power off whatever ignores ACPI and the agent for 3 minutes
  virtops.libvirt.domain_state:
    name: "{{ groups['web'] }}"
    state: shutoff
    shutdown_mode: [agent, acpi]
    shutdown_timeout: 180
    force: true

- name: Apply a memory change and restart the guest if it needs it
  virtops.libvirt.domain_state:
    xml: "{{ lookup('template', 'db01.xml.j2') }}"
    state: running
    restart_on_change: true

- name: Save the guest's memory before host maintenance
  virtops.libvirt.domain_state:
    uri: qemu+ssh://root@kvm01.example.com/system
    name: build-runner
    state: saved

- name: Remove a retired guest with its snapshots metadata and its UEFI variables
  virtops.libvirt.domain_state:
    name: legacy-app
    state: absent
    remove: [managed_save, snapshots_metadata, checkpoints_metadata, nvram]

- name: Use one URI for every libvirt task of a play
  module_defaults:
    group/virtops.libvirt.libvirt:
      uri: qemu+tls://kvm02.example.com/system
  block:
    - name: Wake the suspended kiosk
      virtops.libvirt.domain_state:
        name: kiosk
        state: running
"""

RETURN = r"""
domain:
  description:
    - The domain's facts after the task (for a single O(name), O(uuid) or O(xml)).
    - Also returned when the task failed, with the facts as the failure left them, C(failed) and C(msg).
  returned: when one domain was addressed
  type: dict
  contains:
    name: {description: The domain's name., type: str, sample: web01}
    uuid:
      description: The domain's UUID (null when absent).
      type: str
      sample: 4dea22b3-1d52-d8f3-2516-782e98ab3fa0
    id:
      description: The hypervisor's id of a running domain; null when it is not running.
      type: int
      sample: 7
    state:
      description: One of nostate, running, blocked, paused, shutdown, shutoff, crashed, pmsuspended, or absent.
      type: str
      sample: running
    reason: {description: Why it is in that state (libvirt's reason as a name)., type: str, sample: booted}
    persistent: {description: Whether the domain has a persistent definition., type: bool}
    autostart: {description: Whether the domain starts with the daemon., type: bool}
    has_managed_save: {description: Whether a managed save image exists., type: bool}
    pending_restart:
      description: The running domain's definition changed in a way that takes effect at its next boot.
      type: bool
    actions:
      description: The libvirt operations performed (or, in check mode, that would be), in order.
      type: list
      elements: str
      sample: [update definition, "shutdown(acpi)", start]
    definition_changes:
      description: How the definition differed from O(xml) (when O(xml) was given).
      type: list
      elements: str
      sample: ["/domain/memory: '262144 KiB' -> '512 MiB'"]
    conditional_actions:
      description:
        - Actions the plan takes only if the guest leaves no choice; they appear in RV(domain.actions)
          when they happened. Today the power-off after a graceful shutdown ignored for
          O(shutdown_timeout) seconds, with O(force).
      type: list
      elements: str
      sample: ["destroy(after shutdown timeout)"]
    changed: {description: Whether this domain changed., type: bool}
    error: {description: Why this domain failed; null when it did not., type: str}
domains:
  description:
    - One entry per domain, in the order given, each like RV(domain), with at least C(name), C(changed),
      C(actions) and C(error).
    - A failed one also has C(failed) and C(msg); the others are still handled.
  returned: always
  type: list
  elements: dict
domain_name:
  description: The name of the domain an error is about.
  returned: on failure, when the error names a domain
  type: str
  sample: web01
actions:
  description: The operations performed on the single domain addressed (the same as RV(domain.actions)).
  returned: when one domain was addressed
  type: list
  elements: str
pending_restart:
  description: The same as RV(domain.pending_restart).
  returned: when one domain was addressed
  type: bool
"""

from ansible_collections.virtops.libvirt.plugins.module_utils._flags import SHUTDOWN_MODES
from ansible_collections.virtops.libvirt.plugins.module_utils._lifecycle import run_lifecycle, run_lifecycles
from ansible_collections.virtops.libvirt.plugins.module_utils._lifecycle_options import STATE_CHOICES, LifecycleOptions
from ansible_collections.virtops.libvirt.plugins.module_utils._metadata import lifecycle_action_choices
from ansible_collections.virtops.libvirt.plugins.module_utils._module import DomainModule
from ansible_collections.virtops.libvirt.plugins.module_utils._removal import REMOVALS
from ansible_collections.virtops.libvirt.plugins.module_utils._targets import check_parallel, is_batch, resolve_targets
from ansible_collections.virtops.libvirt.plugins.module_utils._transitions import PM_TARGETS
from ansible_collections.virtops.libvirt.plugins.module_utils._xml import secret_values

ARGUMENT_SPEC = dict(
    name=dict(type="raw"),
    uuid=dict(type="str"),
    state=dict(type="str", default="present", choices=list(STATE_CHOICES)),
    xml=dict(type="str"),
    validate=dict(type="bool", default=True),
    restart_on_change=dict(type="bool", default=False),
    autostart=dict(type="bool"),
    shutdown_mode=dict(type="list", elements="str", choices=list(SHUTDOWN_MODES)),
    shutdown_timeout=dict(type="float", default=120),
    force=dict(type="bool", default=False),
    start_paused=dict(type="bool", default=False),
    force_boot=dict(type="bool", default=False),
    bypass_cache=dict(type="bool", default=False),
    reset_nvram=dict(type="bool", default=False),
    pm_target=dict(type="str", default="mem", choices=list(PM_TARGETS)),
    remove=dict(type="list", elements="str", choices=list(REMOVALS)),
    on_poweroff=dict(type="str", choices=lifecycle_action_choices("on_poweroff")),
    on_reboot=dict(type="str", choices=lifecycle_action_choices("on_reboot")),
    on_crash=dict(type="str", choices=lifecycle_action_choices("on_crash")),
    title=dict(type="str"),
    description=dict(type="str"),
    wait=dict(type="bool", default=True),
    wait_for_agent=dict(type="bool", default=False),
    timeout=dict(type="float", default=60),
    parallel=dict(type="int", default=8),
)


def run(module):
    params = module.params
    options = LifecycleOptions.from_params(params)
    module.hide(secret_values(options.template))
    parallel = check_parallel(params["parallel"])
    targets = resolve_targets(params["name"], params["uuid"], options.template)
    with module.connect() as connection:
        if not is_batch(params["name"]):
            result = run_lifecycle(connection, targets[0], options, module.recorder)
            module.set_diff(**result.pop("diff"))
            return {"domain": result, "domains": [result], "pending_restart": result["pending_restart"]}
        results = run_lifecycles(connection, targets, options, module.check_mode, parallel, module.recorder.warnings)
    if any(result["changed"] for result in results):
        module.mark_changed()
    diffs = {result["name"]: result.pop("diff") for result in results}
    module.set_diff({name: diff["before"] for name, diff in diffs.items()},
                    {name: diff["after"] for name, diff in diffs.items()})
    return {"domains": results}


def main():
    DomainModule(ARGUMENT_SPEC, mutually_exclusive=[("name", "uuid")]).run(run)


if __name__ == "__main__":
    main()
