"""The contract between the real-libvirt test rig (``tests/rig/rig``) and the tests.

Plain Python (stdlib; libvirt-python only where a function takes or returns libvirt
objects). Bring the rig up first, as root::

    tests/rig/rig up

Two "hypervisor hosts" then run on this machine:

* host A: the system libvirtd, ``HOST_A_URI``;
* host B: a second libvirtd in private mount/UTS namespaces (hostname ``virtops-hostb``,
  its own host UUID, state dirs and virtlogd), ``HOST_B_URI``.

Both share the network namespace and every path outside libvirt's own state dirs, so a
disk under ``IMAGES_DIR`` is "shared storage" for migrations between them.

Every domain a test creates MUST be named with ``PREFIX`` (``virtops-``): ``rig down``
destroys and undefines exactly those, on both hosts.

Running ``python3 rig_env.py`` prints shell ``export`` lines for these settings.
"""
import base64
import json
import os
import shutil
import time
from xml.sax.saxutils import escape

#: Every domain the tests define starts with this; ``rig down`` removes them all.
PREFIX = "virtops-"

#: Host A: the machine's system libvirtd.
HOST_A_URI = "qemu:///system"
#: Host B: the namespaced libvirtd; its sockets live in RUN_DIR/hostb (visible to all).
HOST_B_URI = "qemu+unix:///system?socket=/run/virtops-rig/hostb/libvirt-sock"
#: Host A as seen from INSIDE host B's mount namespace (B's tmpfs hides A's
#: /run/libvirt there, so the rig bind-mounts it here first). Use it as the destination
#: URI of a peer-to-peer migration B -> A (B's daemon connects to it itself).
HOST_A_URI_FROM_B = "qemu+unix:///system?socket=/run/virtops-rig/hostb/hosta/libvirt-sock"
#: Host B as seen from host A's daemon (same as HOST_B_URI: the socket dir is outside
#: B's private mounts). Destination URI of a peer-to-peer migration A -> B.
HOST_B_URI_FROM_A = HOST_B_URI

#: Migration data streams (both hosts share the loopback). Pass these as the migration
#: URI: the hosts' names do not resolve to each other. One fixed port per direction, so
#: run at most one migration per direction at a time.
MIGRATION_URI_TO_B = "tcp://127.0.0.1:49250"
MIGRATION_URI_TO_A = "tcp://127.0.0.1:49251"

HOSTB_HOSTNAME = "virtops-hostb"
HOSTB_UUID = "7669726f-7073-4000-8000-00000000000b"

RUN_DIR = "/run/virtops-rig"
#: Built once by ``rig up`` (a cache; ``rig clean`` removes it).
ARTIFACTS = "/var/lib/virtops-rig"
KERNEL = ARTIFACTS + "/vmlinuz"
INITRD = ARTIFACTS + "/initrd.gz"
#: 64 MiB qcow2 holding an ext4 filesystem (label virtops-data, a README file).
DATA_BASE_IMAGE = ARTIFACTS + "/data-base.qcow2"
#: Where per-test disks go (qemu can read it; same path on both hosts).
IMAGES_DIR = "/var/lib/libvirt/images/virtops"
#: Guests' serial consoles are logged here, one file per domain name (appended).
SERIAL_LOG_DIR = "/var/log/virtops-rig"

#: Inside the guest: a non-root user with a home dir (for password / SSH-key commands).
GUEST_USER = "virtops"
GUEST_HOSTNAME = "virtops-guest"
#: Where the guest mounts the data disk (/dev/vda, ext4) when it has one.
GUEST_DATA_MOUNT = "/mnt/data"


def _check_name(name):
    assert name.startswith(PREFIX), f"test domain names must start with {PREFIX!r}: {name!r}"


def unique_guest_name(test_name: str) -> str:
    """A virtops- name for a test's guest, unique per test and per pytest process."""
    name = f"{PREFIX}t{os.getpid() % 10000}-{test_name[:24]}".replace("[", "-").replace("]", "")
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def serial_log_path(name):
    """Host path of the file that receives domain NAME's serial console (appended)."""
    return f"{SERIAL_LOG_DIR}/{name}.serial.log"


def data_disk_path(name):
    """Conventional path of domain NAME's data disk (under IMAGES_DIR)."""
    _check_name(name)
    return f"{IMAGES_DIR}/{name}-data.qcow2"


def make_data_disk(path):
    """Write a fresh full copy of DATA_BASE_IMAGE to PATH and return PATH.

    A full copy (no backing chain) so that migrations and block jobs see one
    self-contained qcow2. Missing parent directories are created.
    """
    if not os.path.exists(DATA_BASE_IMAGE):
        raise RuntimeError(f"{DATA_BASE_IMAGE} is missing: run `tests/rig/rig up` first")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    shutil.copyfile(DATA_BASE_IMAGE, path)
    os.chmod(path, 0o644)
    return path


def guest_xml(name: str, *, memory_mib: int = 256, vcpus: int = 1,
              data_disk: "str | None" = None, agent: bool = True,
              acpi_shutdown: bool = True, pm_suspend: bool = True,
              extra_devices: str = "", agent_channel: bool = True,
              nic: bool = False, cmdline_extra: str = "",
              panic: bool = False, on_crash: str = "destroy",
              max_vcpus: "int | None" = None) -> str:
    """Domain XML of the tiny test guest (TCG, direct kernel boot, boots in ~5-15 s).

    name           must start with PREFIX.
    data_disk      path of a qcow2 (see make_data_disk): attached as virtio ``vda``;
                   the guest mounts its ext4 on GUEST_DATA_MOUNT.
    agent          False: qemu-ga is not started in the guest (``virtops.agent=off``),
                   so agent commands - and agent-mode shutdown - go unanswered. The
                   channel stays unless agent_channel=False too ("agent not configured").
    acpi_shutdown  False: the guest ignores the ACPI power button
                   (``virtops.acpi=off``). ACPI itself stays on (PM suspend needs it).
    pm_suspend     <pm><suspend-to-mem enabled='yes'/>: allows dompmsuspend mem.
    extra_devices  raw XML appended inside <devices>.
    nic            add a user-mode (slirp) virtio NIC; the guest brings up eth0 with a
                   static 10.0.2.15/24 address (no traffic is sent anywhere).
    cmdline_extra  appended to the kernel command line.
    panic          add the ISA pvpanic device: a guest kernel panic then reaches libvirt.
    on_crash       what libvirt does then; "preserve" leaves the domain in the crashed
                   state (see crash_guest()).
    max_vcpus      room for vCPU hot-plug: ``<vcpu current='VCPUS'>MAX_VCPUS</vcpu>``.
    """
    _check_name(name)
    cmdline = ["console=ttyS0", "loglevel=4"]
    if not acpi_shutdown:
        cmdline.append("virtops.acpi=off")
    if not agent:
        cmdline.append("virtops.agent=off")
    if cmdline_extra:
        cmdline.append(cmdline_extra)
    pm = "yes" if pm_suspend else "no"
    devices = []
    if data_disk:
        devices.append(
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            f"<source file='{escape(data_disk)}'/><target dev='vda' bus='virtio'/></disk>")
    if agent_channel:
        devices.append("<channel type='unix'>"
                       "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>")
    if nic:
        devices.append("<interface type='user'><model type='virtio'/></interface>")
    if panic:
        devices.append("<panic model='isa'><address type='isa' iobase='0x505'/></panic>")
    log = escape(serial_log_path(name))
    devices.append(f"<serial type='pty'><log file='{log}' append='on'/>"
                   "<target port='0'/></serial>")
    devices.append("<console type='pty'><target type='serial' port='0'/></console>")
    devices.append(extra_devices)
    devices_xml = "\n".join("    " + d.strip() for d in devices if d.strip())
    vcpu_xml = (f"<vcpu current='{int(vcpus)}'>{int(max_vcpus)}</vcpu>" if max_vcpus
                else f"<vcpu>{int(vcpus)}</vcpu>")
    return f"""<domain type='qemu'>
  <name>{escape(name)}</name>
  <memory unit='MiB'>{int(memory_mib)}</memory>
  {vcpu_xml}
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{KERNEL}</kernel>
    <initrd>{INITRD}</initrd>
    <cmdline>{escape(' '.join(cmdline))}</cmdline>
  </os>
  <features><acpi/></features>
  <pm><suspend-to-mem enabled='{pm}'/><suspend-to-disk enabled='no'/></pm>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>{escape(on_crash)}</on_crash>
  <devices>
{devices_xml}
  </devices>
</domain>
"""


# ----------------------------------------------------------------- libvirt helpers
def quiet_libvirt_errors():
    """Stop libvirt-python from printing every error to stderr (exceptions still raise).

    Polling helpers such as wait_agent() expect errors; the default handler would log
    one line per poll."""
    import libvirt
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def connect(uri):
    """Open a read-write libvirt connection (raises with a rig hint if it fails).

    Also calls quiet_libvirt_errors()."""
    import libvirt
    quiet_libvirt_errors()
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as e:
        raise RuntimeError(f"cannot connect to {uri}: {e}. Is the rig up? "
                           "Run `tests/rig/rig up` (as root) first.") from e


def check_rig():
    """Raise RuntimeError with a clear message unless both hosts and artifacts are there."""
    for path in (KERNEL, INITRD, DATA_BASE_IMAGE):
        if not os.path.exists(path):
            raise RuntimeError(f"{path} is missing: run `tests/rig/rig up` first")
    for uri in (HOST_A_URI, HOST_B_URI):
        conn = connect(uri)
        conn.close()


def agent_command(dom, command, arguments=None, timeout=5):
    """Run one guest-agent command (e.g. "guest-ping"); return its decoded "return"."""
    import libvirt_qemu
    cmd = {"execute": command}
    if arguments is not None:
        cmd["arguments"] = arguments
    reply = libvirt_qemu.qemuAgentCommand(dom, json.dumps(cmd), timeout, 0)
    return json.loads(reply).get("return")


def wait_agent(dom, timeout=60) -> float:
    """Poll guest-ping until the guest agent answers; return the seconds it took.

    Raises TimeoutError (with the last libvirt error) after TIMEOUT seconds.
    """
    import libvirt
    start = time.monotonic()
    last = None
    while True:
        try:
            agent_command(dom, "guest-ping", timeout=5)
            return time.monotonic() - start
        except libvirt.libvirtError as e:
            last = e
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"guest agent of {dom.name()} did not answer within "
                               f"{timeout}s (last error: {last}); serial log: "
                               f"{serial_log_path(dom.name())}")
        time.sleep(0.5)


#: The guest's /init prints this on its serial console once it has started qemu-ga
#: (or skipped it): the guest is booted.
GUEST_READY_LINE = "virtops-guest: ready"


def serial_log_size(name):
    """Current size of NAME's serial log (pass it as wait_booted's ``since``)."""
    try:
        return os.path.getsize(serial_log_path(name))
    except FileNotFoundError:
        return 0


def wait_booted(dom, timeout=60, since=0) -> float:
    """Wait for GUEST_READY_LINE in the serial log after byte offset SINCE; return seconds.

    Works for guests without an agent (agent=False). The log is appended across boots
    and migrations: to wait for a later boot, pass since=serial_log_size(name) taken
    before triggering it.
    """
    start = time.monotonic()
    path = serial_log_path(dom.name())
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(since)
                if GUEST_READY_LINE.encode() in f.read():
                    return time.monotonic() - start
        except FileNotFoundError:
            pass
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{dom.name()} did not print {GUEST_READY_LINE!r} within "
                               f"{timeout}s; see {path}")
        time.sleep(0.5)


def crash_guest(dom, timeout=60):
    """Panic the guest kernel through the agent (sysrq 'c'); with guest_xml(panic=True,
    on_crash='preserve') the domain then ends up crashed (reason panicked).

    Right after boot the agent channel can flap: libvirt then refuses the command without sending
    it ("Guest agent not available for now"), so waiting for the agent and asking again is safe.
    The same answer also comes when the command did reach the guest and the panic closed the
    channel before the reply: then the domain is crashed already, which is what was asked for.
    """
    import libvirt

    def crashed():
        return dom.state()[0] == libvirt.VIR_DOMAIN_CRASHED

    deadline = time.monotonic() + timeout
    while True:
        try:
            agent_command(dom, "guest-exec", {"path": "/bin/sh",
                                              "arg": ["-c", "echo c > /proc/sysrq-trigger"]})
            return
        except libvirt.libvirtError as error:
            remaining = deadline - time.monotonic()
            if crashed():
                return
            if "not available for now" not in str(error) or remaining <= 0:
                raise
            try:
                wait_agent(dom, timeout=remaining)
            except TimeoutError:
                if not crashed():
                    raise
                return


def guest_shell(dom, command, timeout=30) -> str:
    """Run COMMAND with the guest's /bin/sh through the agent's guest-exec; return its stdout.

    Raises RuntimeError when it exits non-zero or TimeoutError when it is still running after
    TIMEOUT seconds."""
    pid = agent_command(dom, "guest-exec", {"path": "/bin/sh", "arg": ["-c", command],
                                            "capture-output": True})["pid"]
    deadline = time.monotonic() + timeout
    while True:
        status = agent_command(dom, "guest-exec-status", {"pid": pid})
        if status["exited"]:
            out = base64.b64decode(status.get("out-data", "")).decode()
            if status.get("exitcode") != 0:
                err = base64.b64decode(status.get("err-data", "")).decode()
                raise RuntimeError(f"{command!r} in {dom.name()} exited {status.get('exitcode')}: {err}")
            return out
        if time.monotonic() > deadline:
            raise TimeoutError(f"{command!r} in {dom.name()} still runs after {timeout}s")
        time.sleep(0.1)


def agent_response_timeout(name):
    """The guest agent response timeout host A's libvirtd keeps for running domain NAME (its status XML):
    -2 is libvirt's default (wait forever), which a task that bounded its agent calls must leave behind."""
    import re
    with open(f"/run/libvirt/qemu/{name}.xml", encoding="utf-8") as handle:
        return int(re.search(r"<agentTimeout>(-?\d+)</agentTimeout>", handle.read()).group(1))


#: What stop_agent_for() has the guest print on its console once its qemu-ga is stopped.
AGENT_STOPPED_LINE = "virtops-test: agent stopped"


def stop_agent_for(dom, seconds, timeout=30):
    """The guest stops its own qemu-ga (SIGSTOP) from a background shell and resumes it (SIGCONT)
    SECONDS later: agent calls meanwhile go unanswered (the agent channel stays connected).

    Returns once the guest said on its console that the agent is stopped."""
    since = serial_log_size(dom.name())
    script = (f"(sleep 1; kill -STOP $(pidof qemu-ga); echo '{AGENT_STOPPED_LINE}' > /dev/ttyS0; "
              f"sleep {seconds}; kill -CONT $(pidof qemu-ga)) >/dev/null 2>&1 </dev/null &")
    agent_command(dom, "guest-exec", {"path": "/bin/sh", "arg": ["-c", script]})
    deadline = time.monotonic() + timeout
    while True:
        with open(serial_log_path(dom.name()), "rb") as log:
            log.seek(since)
            if AGENT_STOPPED_LINE.encode() in log.read():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{dom.name()} did not stop its agent within {timeout}s")
        time.sleep(0.2)


#: Where start_memory_dirtier keeps its pid and data inside the guest (the initramfs is RAM).
_DIRTIER = "/tmp/virtops-dirtier"


def start_memory_dirtier(dom, mib=32):
    """Start a loop in the guest that rewrites MIB MiB of random data in RAM without pause.

    A migration limited to a few MiB/s then cannot converge in pre-copy (post-copy can).
    Random data, because QEMU sends zero pages almost for free. Stop it with
    stop_memory_dirtier()."""
    guest_shell(dom, f"dd if=/dev/urandom of={_DIRTIER}.src bs=1M count={int(mib)} 2>/dev/null; "
                     f"(while :; do cp {_DIRTIER}.src {_DIRTIER}.copy; done) >/dev/null 2>&1 "
                     f"</dev/null & echo $! > {_DIRTIER}.pid", timeout=60)


def stop_memory_dirtier(dom):
    """Stop the loop of start_memory_dirtier() and free its memory."""
    guest_shell(dom, f"kill $(cat {_DIRTIER}.pid); rm -f {_DIRTIER}.*")


def write_guest_data(dom, name="payload", mib=4):
    """Write MIB MiB of random data to GUEST_DATA_MOUNT/NAME, sync; return its md5 (hex)."""
    path = f"{GUEST_DATA_MOUNT}/{name}"
    return guest_shell(dom, f"dd if=/dev/urandom of={path} bs=1M count={int(mib)} 2>/dev/null && sync "
                            f"&& md5sum {path}").split()[0]


def guest_data_md5(dom, name="payload"):
    """md5 (hex) of GUEST_DATA_MOUNT/NAME as the guest reads it FROM ITS DISK.

    The guest's page cache is dropped first, so a disk that was not copied (or copied
    wrongly) shows, rather than the memory the migration carried."""
    return guest_shell(dom, f"sync; echo 3 > /proc/sys/vm/drop_caches; "
                            f"md5sum {GUEST_DATA_MOUNT}/{name}").split()[0]


def domain_places(conns, name):
    """{label: None or (state name, persistent)} for NAME on each of CONNS ({label: conn}).

    The hosts' own view of a domain, to compare with what a module reported."""
    import libvirt
    places = {}
    for label, conn in conns.items():
        try:
            dom = conn.lookupByName(name)
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
            places[label] = None
            continue
        places[label] = (_STATE_NAMES.get(dom.state()[0], str(dom.state()[0])), bool(dom.isPersistent()))
    return places


_STATE_NAMES = {0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown",
                5: "shutoff", 6: "crashed", 7: "pmsuspended"}


def wait_state(dom, state, timeout=30) -> float:
    """Wait until dom.state()[0] == STATE (a libvirt.VIR_DOMAIN_* state); return seconds."""
    start = time.monotonic()
    while dom.state()[0] != state:
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{dom.name()} is in state {dom.state()} after {timeout}s, "
                               f"expected {state}")
        time.sleep(0.2)
    return time.monotonic() - start


def migration_uri_for(dest_uri):
    """The migration data URI (MIGRATION_URI_TO_A/_TO_B) for a destination host URI."""
    return MIGRATION_URI_TO_B if "/hostb/" in dest_uri and "/hosta/" not in dest_uri \
        else MIGRATION_URI_TO_A


def live_migrate(dom, dest_conn, extra_flags=0):
    """Client-driven live migration of DOM to DEST_CONN; return the destination domain.

    Passes VIR_MIGRATE_UNSAFE: the disks are files on a local filesystem, which libvirt
    cannot know to be shared, but both rig hosts open the very same path, so they are.
    EXTRA_FLAGS are or-ed in (e.g. VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE).
    """
    import libvirt
    flags = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_UNSAFE | extra_flags
    return dom.migrate(dest_conn, flags, None, migration_uri_for(dest_conn.getURI()), 0)


def define_guest(conn, name, *, start=True, data_disk=True, **xml_kwargs):
    """Define (and by default start) the tiny guest NAME on CONN; return the domain.

    data_disk=True makes a fresh copy at data_disk_path(NAME); a string is used as the
    path as is; False/None gives no disk. Other keyword arguments go to guest_xml.
    """
    if data_disk is True:
        data_disk = make_data_disk(data_disk_path(name))
    dom = conn.defineXML(guest_xml(name, data_disk=data_disk or None, **xml_kwargs))
    if start:
        dom.create()
    return dom


_UNDEFINE_ALL = ("VIR_DOMAIN_UNDEFINE_MANAGED_SAVE", "VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA",
                 "VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA", "VIR_DOMAIN_UNDEFINE_NVRAM")


def cleanup_domain(conn, name):
    """Destroy and undefine NAME on CONN (managed save, snapshot and checkpoint metadata,
    NVRAM included). A domain that does not exist is fine. Returns True if it existed."""
    import libvirt
    _check_name(name)
    try:
        dom = conn.lookupByName(name)
    except libvirt.libvirtError as e:
        if e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return False
        raise
    try:
        if dom.isActive():
            try:
                dom.abortJob()  # a running migration/block job would block destroy
            except libvirt.libvirtError:
                pass
            dom.destroy()
    except libvirt.libvirtError as e:
        if e.get_error_code() not in (libvirt.VIR_ERR_NO_DOMAIN,
                                      libvirt.VIR_ERR_OPERATION_INVALID):
            raise
    flags = 0
    for flag in _UNDEFINE_ALL:
        flags |= getattr(libvirt, flag, 0)
    try:
        dom.undefineFlags(flags)
    except libvirt.libvirtError as e:
        # transient domains vanish on destroy; "not persistent" is fine as well
        if e.get_error_code() not in (libvirt.VIR_ERR_NO_DOMAIN,
                                      libvirt.VIR_ERR_OPERATION_INVALID):
            raise
    return True


def forget_everywhere(name):
    """cleanup_domain() NAME on both hosts (wherever a migration left it) and remove its data disk."""
    for uri in (HOST_A_URI, HOST_B_URI):
        conn = connect(uri)
        try:
            cleanup_domain(conn, name)
        finally:
            conn.close()
    remove_data_disk(name)


def cleanup_all(conn, prefix=PREFIX):
    """cleanup_domain() every domain on CONN whose name starts with PREFIX; return names."""
    names = [d.name() for d in conn.listAllDomains() if d.name().startswith(prefix)]
    for name in names:
        cleanup_domain(conn, name)
    return names


def remove_data_disk(name):
    """Delete data_disk_path(NAME) if present."""
    try:
        os.unlink(data_disk_path(name))
    except FileNotFoundError:
        pass


# ----------------------------------------------------------------- shell export
def shell_exports():
    """Shell `export` lines for the rig's settings (what `rig env` prints)."""
    values = {
        "VIRTOPS_HOST_A_URI": HOST_A_URI,
        "VIRTOPS_HOST_B_URI": HOST_B_URI,
        "VIRTOPS_HOST_A_URI_FROM_B": HOST_A_URI_FROM_B,
        "VIRTOPS_MIGRATION_URI_TO_B": MIGRATION_URI_TO_B,
        "VIRTOPS_MIGRATION_URI_TO_A": MIGRATION_URI_TO_A,
        "VIRTOPS_RIG_ARTIFACTS": ARTIFACTS,
        "VIRTOPS_RIG_RUN": RUN_DIR,
        "VIRTOPS_RIG_KERNEL": KERNEL,
        "VIRTOPS_RIG_INITRD": INITRD,
        "VIRTOPS_RIG_DATA_BASE": DATA_BASE_IMAGE,
        "VIRTOPS_RIG_IMAGES": IMAGES_DIR,
        "VIRTOPS_RIG_SERIAL_LOGS": SERIAL_LOG_DIR,
        "VIRTOPS_HOSTB_HOSTNAME": HOSTB_HOSTNAME,
        "VIRTOPS_HOSTB_UUID": HOSTB_UUID,
        "VIRTOPS_PREFIX": PREFIX,
    }
    return "".join(f"export {k}='{v}'\n" for k, v in values.items())


if __name__ == "__main__":
    print(shell_exports(), end="")
