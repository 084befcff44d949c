#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: domain_guest
short_description: Inside a running libvirt guest, through the QEMU guest agent; console and debug actions
version_added: 0.1.0
description:
  - Holds a running guest's state through the QEMU guest agent (users' SSH keys and passwords, the clock, the vCPUs
    it uses, frozen file systems), runs commands in it (O(exec), also without a network), trims its file systems,
    and takes console and debug actions on the domain (keys, signals, NMI, screenshot, core dump). O(gather)
    returns what the agent reports.
  - "The parts a task gives run in a fixed order: O(wait_for_agent), O(users), O(time), O(vcpus_online),
    O(fsfreeze), O(fstrim), O(exec), the console and debug actions, and O(gather) last. Every part is validated,
    then every part reads the guest and decides, before the first change: a refusal changes nothing, and check
    mode reports exactly the steps a real run takes (RV(actions))."
  - What can be read is compared first (SSH keys, the clock for V(sync), online vCPUs, the freeze status), so
    a second run is C(changed=false). Actions (O(fstrim), O(exec) without O(exec.creates)/O(exec.removes), the
    console and debug actions) are always C(changed) and skipped in check mode, with the plan reported.
  - Never hangs a play, every agent call is bounded by O(agent_timeout) (see there).
  - "The agent options use libvirt's agent APIs where libvirt has them. A few have none (the freeze status,
    per-mount-point trim results, O(exec)): those are raw agent commands, which libvirt records by marking
    the domain tainted (C(custom-ga-command))."
author:
  - virtops maintainers (@virtops)
extends_documentation_fragment:
  - virtops.libvirt.connection
  - virtops.libvirt.attributes
notes:
  - The module runs where the libvirt client runs (usually the controller, with O(uri) pointing at the host);
    paths of O(screenshot) and O(core_dump) are on that machine or on the host as those options say.
  - Passwords are marked C(no_log) and masked in every result, diff and error.
seealso:
  - module: virtops.libvirt.domain_info
  - module: virtops.libvirt.domain_snapshot
options:
  name:
    description:
      - The domain's name. It must run; the guest agent options need the QEMU guest agent running in the guest
        and the agent's channel (C(org.qemu.guest_agent.0)) in the domain's definition.
    type: str
    required: true
  agent_timeout:
    description:
      - Seconds libvirt waits for the guest agent's answer to each call (C(virDomainAgentSetResponseTimeout)), freezes
        and thaws included. A guest without the agent channel, an agent that is not running, and an agent stopped
        in the middle of a call each fail the task within this time, with an error naming the domain and the call.
      - libvirt's default (wait forever) is restored for the domain after the task.
      - Raise it for a freeze of a busy guest, which flushes every file system first.
    type: int
    default: 5
  wait_for_agent:
    description:
      - Seconds to wait for the guest agent to answer before anything else (a guest that has just booted or resumed).
        Woken by libvirt's agent lifecycle event, re-tried every second too, each try given at most a second (and
        at most O(agent_timeout)), so the wait ends close to this limit. Fails with the agent's last error when it
        does not answer in time.
      - Alone, the task only waits (C(changed=false)).
    type: int
  users:
    description:
      - Guest users' authorized SSH keys and passwords, set through the guest agent (the user must exist in the guest).
      - SSH keys are read first and set only when they differ, so a second run is C(changed=false).
      - A password cannot be read back from a guest, so it cannot be compared; see O(users[].update_password).
    type: list
    elements: dict
    suboptions:
      name:
        description: The guest user.
        type: str
        required: true
      password:
        description:
          - The password to set (C(virDomainSetUserPassword)). It never appears in the result, a diff, an error or
            a C(-vvv) log.
        type: str
      password_encrypted:
        description: O(users[].password) is already a crypt(3) hash (C($6$...)), written to the guest as it is.
        type: bool
        default: false
      update_password:
        description:
          - V(always) sets the password on every run and so always reports C(changed=true).
          - V(on_create) sets it only while the account is being set up, which the module sees as the user
            having no authorized SSH keys before this task gives it some; needs O(users[].ssh_keys) with
            O(users[].ssh_keys_state=exact) or V(present). Later runs leave the password alone.
        type: str
        choices: [always, on_create]
        default: always
      ssh_keys:
        description:
          - Authorized SSH keys, one key line each (C(ssh-ed25519 AAAA... comment)). Lines are compared with their
            blanks normalized.
        type: list
        elements: str
      ssh_keys_state:
        description:
          - V(exact) makes the user's authorized keys exactly O(users[].ssh_keys) (an empty list removes all keys);
            V(present) adds those missing; V(absent) removes those present.
        type: str
        choices: [exact, present, absent]
        default: exact
  time:
    description:
      - V(sync) makes the guest read its clock from the domain's real-time clock (which follows the host), as after a
        resume or a restore; done only when the guest's clock is more than a second off the host's. When the clock
        is still off after that (the guest's RTC was off too, for example after a clock set through the agent, which
        writes the RTC as well), the guest's clock is set to the time of the machine the module runs on.
      - Or a moment to set the guest's clock to, as seconds since the epoch (V(1800000000)) or an ISO 8601 time
        (V(2027-01-15T08:00:00Z); UTC when no zone is given). A moment is always set (C(changed=true)).
    type: str
  vcpus_online:
    description:
      - The guest's vCPUs that should be online, a CPU list (V(0-1), V(0,2-3)); the others are taken offline inside
        the guest (C(virDomainSetGuestVcpus)). Compared with what the guest reports first.
      - A vCPU the guest does not have, or cannot take offline (often vCPU 0), is refused before anything changes.
    type: str
  fsfreeze:
    description:
      - Freeze or thaw the guest's file systems, for storage snapshots taken outside libvirt. The agent's freeze
        status (C(guest-fsfreeze-status), a raw agent command libvirt marks as C(custom-ga-command)) is read first.
      - A freeze the task asked for lasts after the task; a task that fails (or is interrupted or terminated) after
        freezing thaws the file systems before it ends.
      - A frozen guest's agent answers only thaw and status, so O(fsfreeze.state=frozen) is refused together with
        O(fstrim), O(exec) or O(gather) (which run after it); run those in an earlier task.
    type: dict
    suboptions:
      state:
        description: V(frozen) or V(thawed). A thaw thaws every frozen file system.
        type: str
        choices: [frozen, thawed]
        required: true
      mountpoints:
        description: Freeze only these mount points (all when not given). Only with O(fsfreeze.state=frozen).
        type: list
        elements: str
  fstrim:
    description:
      - "Discard the unused blocks of the guest's file systems (C(guest-fstrim), a raw agent command: libvirt's
        C(virDomainFSTrim) reports nothing per mount point). An action, always C(changed); skipped in check mode."
    type: dict
    suboptions:
      minimum:
        description: Free ranges smaller than this many bytes are not discarded.
        type: int
        default: 0
  gather:
    description:
      - Read-only facts from the guest agent, read after every change of the task, returned as RV(facts).
      - V(hostname), V(interfaces) (with addresses), V(os), V(users) (logged in), V(timezone), V(filesystems) (with
        their disks), V(vcpus), V(time) (the guest's clock and its skew against the host's); V(all) for all of them.
    type: list
    elements: str
    choices: [all, hostname, interfaces, os, users, timezone, filesystems, vcpus, time]
  exec:
    description:
      - Run a command in the guest through the guest agent (C(guest-exec)), also in a guest that has no network yet
        (bootstrap, rescue). The agent starts the program directly, without a shell; use V([/bin/sh, -c, "..."]) for
        one.
      - Like M(ansible.builtin.command), the task is C(changed) whenever the command runs and fails when it exits
        non-zero or is killed by a signal (RV(exec.rc) and the output are in the failed result too, so
        C(failed_when) can decide). O(exec.creates) and O(exec.removes) make it a no-op when the guest is already
        as wanted; they are checked in check mode too, where the command itself is only reported in RV(actions).
      - The agent sends the whole output in one answer once the command exited. libvirt cannot carry an answer over
        4 MiB (about 3 MiB of output, stdout and stderr together) and fails with C(Unable to encode message
        payload), the output being lost; an answer over 10 MiB (about 7.5 MiB of output) also breaks libvirt's
        connection to the domain's agent until the domain is restarted (libvirt 9.0). Redirect large output to a
        file in the guest, or set O(exec.capture_output=false).
      - "libvirt records the domain as tainted (C(custom-ga-command)): it has no API for this."
    type: dict
    suboptions:
      argv:
        description:
          - The program and its arguments. The program is looked up in the agent's C(PATH) when it is not a path.
          - Each item is passed as it is (no shell quoting, no variables, no globbing).
          - Shown in RV(actions) and RV(exec.argv); put secrets in O(exec.stdin) with O(exec.stdin_secret) instead.
        type: list
        elements: str
        required: true
      stdin:
        description:
          - Text written to the command's standard input (UTF-8), which is then closed.
          - At most 128 KiB (131072 bytes, UTF-8 encoded, with the added line break); a larger one is refused before
            anything runs. It goes to the agent in one command, and qemu-ga 7.2 did not answer one carrying 256 KiB
            within a minute, blocking every other agent call meanwhile. Copy larger data into the guest otherwise.
        type: str
      stdin_secret:
        description: O(exec.stdin) is a secret, it never appears in an error.
        type: bool
        default: false
      stdin_add_newline:
        description: Add a line break at the end of O(exec.stdin) when it has none (as M(ansible.builtin.command) does).
        type: bool
        default: true
      env:
        description:
          - Environment variables of the command.
          - They B(replace) the environment the command would otherwise get from the agent (C(PATH), C(HOME)...);
            the Linux qemu-ga then sets a default C(PATH) only. Give C(PATH) and the like as well when the command
            needs them.
          - Values of variables whose names contain C(password), C(passwd), C(secret), C(key) or C(token) never appear
            in an error.
        type: dict
      capture_output:
        description:
          - Return the command's standard output and error (RV(exec.stdout), RV(exec.stderr)).
          - V(false) discards them in the guest.
        type: bool
        default: true
      timeout:
        description:
          - Seconds to wait for the command to exit. The task then fails, naming the command's process id in the
            guest; the guest agent cannot stop a process, so it B(keeps running).
          - V(0) starts the command and returns its RV(exec.pid) without waiting (RV(exec.finished=false)); its exit
            status stays with the agent.
          - Every agent call while waiting is bounded by O(agent_timeout) as well. The exit is polled (the agent sends
            no event for it), first after 0.05 s, then less often, at most every 2 s.
        type: float
        default: 60
      output_limit:
        description:
          - Bytes of standard output, and of standard error, kept in the result; the rest is dropped and
            RV(exec.stdout_truncated) / RV(exec.stderr_truncated) are V(true).
          - This bounds the result only; what the guest sends is bounded by libvirt (see O(exec)).
        type: int
        default: 1048576
      creates:
        description:
          - A path in the guest (no glob). When it exists, the command is not run (C(changed=false)).
          - Checked by opening it for reading through the agent (C(guest-file-open)); a directory counts. An
            answer other than C(No such file or directory) (for example C(Permission denied)) fails the task.
        type: str
      removes:
        description:
          - A path in the guest (no glob). When it does not exist, the command is not run (C(changed=false)).
          - Checked as O(exec.creates) is.
        type: str
  screenshot:
    description:
      - Take a screenshot of the running domain (C(virsh screenshot)). An action, not a state; see O(send_keys).
      - "The image comes through a libvirt stream to the machine the module runs on (the libvirt client: the
        hypervisor host, or the controller with C(delegate_to=localhost) and a remote O(uri)) and is written to
        O(screenshot.path) there, replacing a file of that name, with mode C(0600) (a console may show secrets).
        A screenshot that fails half way leaves no file."
      - The format is the hypervisor's; RV(screenshot.mime_type) tells it (QEMU through libvirt 9.0 sends PNG).
      - A domain without a display (no C(<video>) device) has no screen to take; libvirt refuses it.
    type: dict
    suboptions:
      path:
        description: Absolute path of the image file to write.
        type: path
        required: true
      screen:
        description: The screen (head) of the video device, V(0) for the first.
        type: int
        default: 0
  send_keys:
    description:
      - Press keys on the domain's keyboard together, then release them (C(virsh send-key)), for example
        V([KEY_LEFTCTRL, KEY_LEFTALT, KEY_DELETE]) or the SysRq chord V([KEY_LEFTALT, KEY_SYSRQ, KEY_H]).
      - "The console and debug actions (O(screenshot), O(send_keys), O(signal), O(nmi), O(core_dump)) are actions,
        not states: each one given is done on every run, the task always reports C(changed), and in check mode
        it is only reported in RV(actions). They need a running domain (checked in check mode too), not the guest
        agent. They run in this order: screenshot, send_keys, signal, nmi, core_dump."
    type: dict
    suboptions:
      keys:
        description:
          - 1 to 16 keys, pressed together in the order given.
          - A number is a key code of O(send_keys.keycode_set) as it is.
          - A name is a Linux key name (V(KEY_A), V(KEY_ENTER), V(KEY_F1), V(KEY_SYSRQ)), case-insensitive, and the
            V(KEY_) prefix may be left out except for the digit keys (V(1) is the code 1, V(KEY_1) the key 1).
            Names are codes of the V(linux) set, so other sets take numbers.
        type: list
        elements: str
        required: true
      keycode_set:
        description: The keycode set of the codes (libvirt's names; hypervisors translate them).
        type: str
        choices: [linux, xt, atset1, atset2, atset3, os_x, xt_kbd, usb, win32, qnum]
        default: linux
      hold_time:
        description: Milliseconds the keys are held before they are released; V(0) is the hypervisor's default.
        type: int
        default: 0
  signal:
    description:
      - Send a signal to a process inside the guest (C(virsh send-process-signal)). An action; see O(send_keys).
      - Only libvirt's LXC driver implements it; QEMU's refuses it as not supported.
    type: dict
    suboptions:
      pid:
        description: The process id inside the guest.
        type: int
        required: true
      signal:
        description: The signal's name, with or without C(SIG), case-insensitive (V(SIGTERM), V(term), V(KILL),
          V(SIGRT3)); V(NOP) only checks that the process exists.
        type: str
        required: true
  nmi:
    description:
      - V(true) injects a non-maskable interrupt (C(virsh inject-nmi)); a Linux guest logs C(NMI received for
        unknown reason), or panics with the sysctl C(kernel.unknown_nmi_panic=1) (a crash dump, where kdump is
        set up). An action; see O(send_keys).
    type: bool
  core_dump:
    description:
      - Dump the guest's memory to a file (C(virsh dump)). An action; see O(send_keys).
      - The libvirt daemon writes the file on the hypervisor host, owned by root with mode C(0600).
      - Without O(core_dump.live) the guest is paused during the dump and resumed afterwards.
    type: dict
    suboptions:
      path:
        description: Absolute path of the dump on the hypervisor host; its directory must exist there.
        type: str
        required: true
      format:
        description:
          - V(raw) is QEMU's own format (a migration stream), or an ELF core with O(core_dump.memory_only).
          - The V(kdump-*) formats (compressed, for C(crash)) need O(core_dump.memory_only); QEMU builds
            without LZO or snappy refuse those two (Debian's QEMU 7.2 has zlib only).
        type: str
        choices: [raw, kdump-zlib, kdump-lzo, kdump-snappy]
        default: raw
      memory_only:
        description: Dump the guest's memory only (no device state), as an ELF core or a kdump file.
        type: bool
        default: false
      live:
        description: Keep the guest running during the dump (the dump is then not a consistent snapshot).
          Cannot be combined with O(core_dump.reset).
        type: bool
        default: false
      bypass_cache:
        description: Write the dump without the host's file system cache.
        type: bool
        default: false
      reset:
        description: Reset the guest after the dump.
        type: bool
        default: false
"""

EXAMPLES = r"""
- name: Rotate the ops user's SSH keys, exactly these two (the old ones are removed; a second run changes nothing)
  virtops.libvirt.domain_guest:
    name: web01
    users:
      - name: ops
        ssh_keys:
          - "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2x... ops@ci-2026"
          - "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKq9... ops@bastion"
        ssh_keys_state: exact

- name: Set root's password from the vault, already hashed (never shown, even with -vvv)
  virtops.libvirt.domain_guest:
    name: web01
    users:
      - name: root
        password: "{{ vault_root_password_hash }}"
        password_encrypted: true
        update_password: always

- name: Freeze db01's file systems for a storage-side snapshot
  virtops.libvirt.domain_guest:
    name: db01
    agent_timeout: 30
    fsfreeze:
      state: frozen

- name: Snapshot the LUN on the storage array while the guest is frozen
  ansible.builtin.command: /usr/local/bin/array-snapshot lun-db01
  changed_when: true

- name: Thaw db01 again, also when the snapshot failed
  virtops.libvirt.domain_guest:
    name: db01
    fsfreeze:
      state: thawed

- name: Resume a guest and correct its clock, which stood still while it was paused
  virtops.libvirt.domain_state:
    name: app01
    state: running

- name: Sync the guest's clock with the host, once the agent answers again
  virtops.libvirt.domain_guest:
    name: app01
    wait_for_agent: 60
    time: sync

- name: Bootstrap a guest that has no network yet, once (creates makes the second run a no-op)
  virtops.libvirt.domain_guest:
    name: new01
    wait_for_agent: 120
    exec:
      argv: [/bin/sh, -c, "nmcli con add type ethernet ifname eth0 ip4 192.0.2.10/24 gw4 192.0.2.1 && touch /etc/bootstrapped"]
      creates: /etc/bootstrapped
      timeout: 60

- name: Take a screenshot of a guest whose console hangs, for the incident ticket
  virtops.libvirt.domain_guest:
    name: hung07
    screenshot:
      path: /var/tmp/hung07-console.png
  register: shot

- name: Gather what the guest agent reports
  virtops.libvirt.domain_guest:
    name: web01
    gather: [hostname, interfaces, filesystems, time]
  register: guest

- name: Show the guest's addresses
  ansible.builtin.debug:
    msg: "{{ guest.facts.interfaces | map(attribute='address') | list }}"
"""

RETURN = r"""
users:
  description:
    - Per user of O(users), its SSH keys before and after the task (in check mode, as the run would leave them; only
      when O(users[].ssh_keys) is given) and whether the task set (in check mode, would set) its password.
    - The password itself is never returned.
  returned: when O(users) is given
  type: list
  elements: dict
  sample:
    - name: ops
      keys_before: ["ssh-ed25519 AAAAold ops@old"]
      keys_after: ["ssh-ed25519 AAAAnew ops@ci-2026"]
      password_set: false
time:
  description:
    - The guest's clock minus the host's in seconds, before and after the task (C(skew_before), C(skew_after));
      C(mode) is V(sync) or V(set).
  returned: when O(time) is given
  type: dict
  sample: {mode: sync, skew_before: -3612.5, skew_after: 0.012}
vcpus:
  description: The guest's online vCPUs before and after (CPU lists), and the vCPUs it has (C(vcpus)).
  returned: when O(vcpus_online) is given
  type: dict
  sample: {before: "0-3", after: "0-1", vcpus: "0-3"}
fsfreeze:
  description:
    - The agent's freeze status before the task (C(status_before)) and after it (C(status), V(frozen) or V(thawed));
      C(filesystems), the number of file systems frozen or thawed, when the task did either.
  returned: when O(fsfreeze) is given
  type: dict
  sample: {status_before: thawed, status: frozen, filesystems: 2}
fstrim:
  description:
    - The minimum given, and per mount point the bytes trimmed or the guest's error (a file system that cannot
      discard). Empty in check mode.
  returned: when O(fstrim) is given
  type: dict
  sample: {minimum: 0, mountpoints: [{mountpoint: /, trimmed: 1048576, minimum: 0, error: null}]}
facts:
  description:
    - What O(gather) asked for; C(interfaces) as M(virtops.libvirt.domain_info) returns addresses, C(time) with the
      guest's clock (C(guest), seconds since the epoch) and its C(skew) against the host's.
  returned: when O(gather) is given
  type: dict
  sample:
    hostname: web01
    os: {id: debian, version_id: "12"}
    timezone: {name: UTC, offset: 0}
    filesystems: [{index: 0, mountpoint: /, name: vda1, fstype: ext4, disk: [{index: 0, alias: vda, serial: ""}]}]
    interfaces: [{interface: eth0, mac: "52:54:00:12:34:56", address: 192.0.2.10, prefix: 24, family: ipv4, source: agent}]
    vcpus: {vcpus: "0-1", online: "0-1", offlinable: "1"}
    time: {guest: 1800000000.25, skew: 0.004}
agent_wait:
  description: Seconds the guest agent took to answer O(wait_for_agent).
  returned: when O(wait_for_agent) is given
  type: float
  sample: 2.41
actions:
  description: What the task did (in check mode, would do), one entry per change or action, naming the option.
  returned: always
  type: list
  elements: str
  sample: ["users: set the SSH keys of guest user 'ops' to exactly 2 key(s)", "time: sync the guest's clock (off by -3612.500 s)"]
exec:
  description:
    - The command of O(exec) and how it ended. Also in the result of a task that failed because the command exited
      non-zero, was killed, or was still running at O(exec.timeout).
    - In check mode only RV(exec.argv), RV(exec.skipped) and RV(exec.msg) are returned.
  returned: when O(exec) is given
  type: dict
  contains:
    argv:
      description: The command as given.
      type: list
      elements: str
      sample: [/bin/sh, -c, "hostname -f"]
    skipped:
      description: Whether O(exec.creates) or O(exec.removes) made the task skip the command.
      type: bool
      sample: false
    msg:
      description: Why the command was skipped.
      type: str
      returned: when RV(exec.skipped=true)
      sample: skipped, since /etc/bootstrapped exists in the guest
    pid:
      description: The command's process id in the guest.
      type: int
      returned: when the command was started
      sample: 1234
    finished:
      description: Whether the command exited within O(exec.timeout) (V(false) with O(exec.timeout=0)).
      type: bool
      returned: when the command was started
      sample: true
    rc:
      description: The exit code; null when a signal ended it.
      type: int
      returned: when the command finished
      sample: 0
    signal:
      description: The signal that ended the command, else null.
      type: int
      returned: when the command finished
      sample: null
    stdout:
      description:
        - Standard output, decoded as UTF-8 (bytes that are not UTF-8 become U+FFFD), its final line break removed,
          at most O(exec.output_limit) bytes. Empty when O(exec.capture_output=false).
      type: str
      returned: when the command finished
      sample: web01.example.com
    stderr:
      description: Standard error, as RV(exec.stdout).
      type: str
      returned: when the command finished
      sample: ""
    stdout_lines:
      description: RV(exec.stdout) split into lines.
      type: list
      elements: str
      returned: when the command finished
      sample: [web01.example.com]
    stderr_lines:
      description: RV(exec.stderr) split into lines.
      type: list
      elements: str
      returned: when the command finished
      sample: []
    stdout_truncated:
      description: Whether standard output was cut, at O(exec.output_limit) or by the agent (which keeps 16 MiB).
      type: bool
      returned: when the command finished
      sample: false
    stderr_truncated:
      description: Whether standard error was cut, as RV(exec.stdout_truncated).
      type: bool
      returned: when the command finished
      sample: false
    duration:
      description: Seconds from starting the command to seeing it exit.
      type: float
      returned: when the command finished
      sample: 0.215
screenshot:
  description: The screenshot taken (O(screenshot)); in check mode RV(screenshot.mime_type) and RV(screenshot.size) are null.
  returned: when O(screenshot) is given
  type: dict
  contains:
    path:
      description: Where the image was written, on the machine the module ran on.
      type: str
      sample: /var/tmp/web01.png
    screen:
      description: The screen taken.
      type: int
      sample: 0
    mime_type:
      description: The image format the hypervisor sent (QEMU through libvirt 9.0 sends C(image/png)).
      type: str
      sample: image/png
    size:
      description: Bytes written.
      type: int
      sample: 2903
send_keys:
  description: The keys sent (O(send_keys)), as codes of the keycode set.
  returned: when O(send_keys) is given
  type: dict
  contains:
    keycode_set:
      description: The keycode set of RV(send_keys.codes).
      type: str
      sample: linux
    codes:
      description: The key codes pressed together.
      type: list
      elements: int
      sample: [56, 99, 35]
core_dump:
  description: The core dump written (O(core_dump)); in check mode RV(core_dump.size) is null.
  returned: when O(core_dump) is given
  type: dict
  contains:
    path:
      description: The dump's path on the hypervisor host.
      type: str
      sample: /var/lib/libvirt/dumps/web01.core
    format:
      description: The dump's format.
      type: str
      sample: kdump-zlib
    size:
      description: The dump's size in bytes, when the hypervisor host is the machine the module ran on (a
        connection URI without a host name); null otherwise.
      type: int
      sample: 41384768
"""

from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._guest import GuestRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._module import DomainModule
from ansible_collections.virtops.libvirt.plugins.module_utils import (
    _guest_console,
    _guest_exec,
    _guest_facts,
    _guest_state,
    _guest_users,
)

# The part files in the order their parts run: changes first, then commands, then actions, facts last.
_PART_FILES = (_guest_users, _guest_state, _guest_exec, _guest_console, _guest_facts)
PARTS = {option: part for source in _PART_FILES for option, part in source.PARTS.items()}
ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    agent_timeout=dict(type="int", default=5),
    wait_for_agent=dict(type="int"),
    **{option: spec for source in _PART_FILES for option, spec in source.ARGUMENT_SPECS.items()},
)
# What the diff shows: the parts' results that say what the guest had before and has after (never a password).
_DIFF_KEYS = {"users": ("keys_before", "keys_after"), "vcpus": ("before", "after"),
              "fsfreeze": ("status_before", "status"), "time": ("skew_before", "skew_after")}


def diff_of(result):
    before, after = {}, {}
    for key, (old, new) in _DIFF_KEYS.items():
        value = result.get(key)
        if isinstance(value, list):  # users: per user
            before[key] = {user["name"]: user.get(old) for user in value if old in user}
            after[key] = {user["name"]: user.get(new) for user in value if new in user}
        elif isinstance(value, dict):
            before[key], after[key] = value.get(old), value.get(new)
    return before, after


def run(module):
    with module.connect() as connection:
        domain = Domain.lookup(connection, name=module.params["name"])
        runner = GuestRunner(domain, module.params, PARTS, module.recorder)
        module.hide(runner.secrets())
        result = runner.run()
    module.set_diff(*diff_of(result))
    return result


def main():
    DomainModule(ARGUMENT_SPEC).run(run)


if __name__ == "__main__":
    main()
