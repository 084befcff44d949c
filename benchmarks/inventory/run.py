#!/usr/bin/env python
"""Benchmark: `ansible-inventory --list` of virtops.libvirt.libvirt vs community.libvirt.libvirt.

Run as root (issue 4's inventory benchmark):

    python3 benchmarks/inventory/run.py [--hosts 4] [--domains 1000] [--repeat 3] [--delay-ms 1]

What it does, idempotently, cleaning up on exit (also on Ctrl-C and failures):

1. Starts N "remote libvirt hosts": each a libvirtd listening on TCP (no auth, no TLS) in its own
   network namespace virtops-bench-<i> (veth 10.213.<i>.1/30 root side, 10.213.<i>.2/30 inside)
   and its own mount and UTS namespaces, with private /run/libvirt (tmpfs), /etc/libvirt,
   /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt copies under
   /var/tmp/virtops-bench/host<i>/ (kept between runs: that is the domain cache).
2. Makes sure each host has exactly --domains persistent qemu domains bench<i>-0000...: shut off,
   some autostart (never autostarted: the benchmark marks the daemon as already autostarted),
   some with title/description, some with a virtops:tags metadata element; a few are started
   (--running, TCG, no disk) and one of those paused.
3. Puts a delay_proxy.py in front of every host (127.0.0.1:<port> -> 10.213.<i>.2:16509, --delay-ms
   one-way each direction) and prints the round-trip time of getVersion() with and without it.
4. Creates (once) a venv /var/tmp/virtops-bench/venv with PyPI's `ansible` (community.libvirt)
   and libvirt-python.
5. Times `ansible-inventory -i <config> --list >/dev/null` (one untimed, checked warm-up run, then
   --repeat timed runs, median) for community.libvirt on host 1 and for virtops.libvirt (system
   python3, this repository through ANSIBLE_COLLECTIONS_PATH) on host 1 and on all hosts at once,
   and prints a table with the issue's targets. Exit 0 whatever the figures; non-zero only when
   the setup fails. A failing or missing virtops plugin is reported and the baseline still printed.

Daemons, namespaces and proxies are stopped at the end; the state dirs and the venv stay.
"""

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parents[1]
CACHE = Path(os.environ.get("VIRTOPS_BENCH_CACHE", "/var/tmp/virtops-bench"))
RUN = Path("/run/virtops-bench")
LOCK = Path("/run/virtops-bench.lock")
VENV = CACHE / "venv"
PREFIX = "virtops-bench"
DOMAIN_PREFIX = "bench"   # domains are bench<host>-<index>: names unique across hosts, as in a real fleet
LIBVIRT_PORT = 16509
MAX_HOSTS = 8
MAX_RUNNING = 5      # domains 1..5 are always defined bootable (no disk, no NIC), whatever --running
RUN_TIMEOUT = 900
TAGS_NS = "https://virtops.example.org/xmlns/tags/1.0"
TAG_SETS = ("web,prod", "db,prod", "web,staging", "cache,dev")
UUID_NAMESPACE = uuid.UUID("5b0b7c6e-3d0e-4c55-9a40-6a1f2b7d0c11")


class SetupError(Exception):
    pass


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(command, check=True, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if check and result.returncode != 0:
        raise SetupError(f"{' '.join(map(str, command))} failed ({result.returncode}): "
                         f"{result.stderr.strip() or result.stdout.strip()}")
    return result


def import_libvirt():
    try:
        import libvirt  # pylint: disable=import-outside-toplevel
    except ImportError as error:
        raise SetupError("the system python3 needs libvirt-python (pip install libvirt-python)") from error
    libvirt.registerErrorHandler(lambda *dummy: None, None)
    return libvirt


# ------------------------------------------------------------------------------------ hosts
class Host:
    """One namespaced libvirtd, reached at 10.213.<index>.2:16509 from the root namespace."""

    def __init__(self, index):
        self.index = index
        self.netns = f"{PREFIX}-{index}"
        self.hostname = f"{PREFIX}-{index}"
        self.veth_root = f"vbench{index}r"
        self.veth_ns = f"vbench{index}n"
        self.root_address = f"10.213.{index}.1"
        self.address = f"10.213.{index}.2"
        self.state = CACHE / f"host{index}"
        self.run = RUN / f"host{index}"
        self.host_uuid = str(uuid.uuid5(UUID_NAMESPACE, f"host-{index}"))
        self.direct_uri = f"qemu+tcp://{self.address}/system"
        self.proxy = None
        self.port = None

    @property
    def proxy_uri(self):
        return f"qemu+tcp://127.0.0.1:{self.port}/system"

    # --- state dirs (cached)
    def prepare_state(self):
        etc = self.state / "etc"
        if not (etc / "libvirtd.conf.orig").exists():
            if etc.exists():
                shutil.rmtree(etc)
            shutil.copytree("/etc/libvirt", etc, symlinks=True)
            # no domains, networks autostart, pools or secrets of the real host
            for xml in (etc / "qemu").glob("*.xml"):
                xml.unlink()
            for path in ("qemu/autostart", "qemu/networks/autostart", "storage", "secrets"):
                shutil.rmtree(etc / path, ignore_errors=True)
            shutil.copy2(etc / "libvirtd.conf", etc / "libvirtd.conf.orig")
        config = (etc / "libvirtd.conf.orig").read_text(encoding="utf-8")
        config += (f"\n# --- virtops inventory benchmark host {self.index} ---\n"
                   'listen_tls = 0\nlisten_tcp = 1\nauth_tcp = "none"\nlisten_addr = "0.0.0.0"\n'
                   f'tcp_port = "{LIBVIRT_PORT}"\nhost_uuid = "{self.host_uuid}"\n'
                   'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n')
        (etc / "libvirtd.conf").write_text(config, encoding="utf-8")
        lib = self.state / "lib"
        for sub in ("boot", "images", "sanlock"):
            (lib / sub).mkdir(parents=True, exist_ok=True)
        qemu_user = _user_ids("libvirt-qemu")
        for sub, mode in (("qemu", 0o751), ("qemu/channel", 0o750), ("qemu/channel/target", 0o750)):
            path = lib / sub
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, mode)
            if qemu_user:
                os.chown(path, *qemu_user)
        if not (self.state / "cache").exists():
            # the real host's QEMU capabilities cache spares a slow QEMU probe
            shutil.copytree("/var/cache/libvirt", self.state / "cache", symlinks=True)
        log_dir = self.state / "log"
        shutil.rmtree(log_dir, ignore_errors=True)
        (log_dir / "qemu").mkdir(parents=True)
        self.run.mkdir(parents=True, exist_ok=True)

    # --- namespaces
    def stop(self):
        """Stop whatever runs in this host's network namespace and remove it (idempotent).

        QEMU processes are killed outright (their runtime state lives in the namespace's tmpfs,
        lost anyway; the definitions stay), then the daemons get SIGTERM (SIGKILL after 10 s).
        """
        if self.proxy is not None:
            _terminate(self.proxy)
            self.proxy = None
        namespaces = run(["ip", "netns", "list"], check=False).stdout.split()
        if self.netns in namespaces:
            pids = self.netns_pids()
            guests = [pid for pid in pids if _command_name(pid).startswith("qemu")]
            _kill_pids(guests, (signal.SIGKILL,))
            _kill_pids([pid for pid in pids if pid not in guests])
            run(["ip", "netns", "del", self.netns], check=False)
        run(["ip", "link", "del", self.veth_root], check=False)
        shutil.rmtree(self.run, ignore_errors=True)

    def netns_pids(self):
        result = run(["ip", "netns", "pids", self.netns], check=False)
        return [int(pid) for pid in result.stdout.split() if pid.isdigit()]

    def start(self):
        self.stop()
        self.prepare_state()
        run(["ip", "netns", "add", self.netns])
        run(["ip", "-n", self.netns, "link", "set", "lo", "up"])
        run(["ip", "link", "add", self.veth_root, "type", "veth", "peer", "name", self.veth_ns,
             "netns", self.netns])
        run(["ip", "addr", "add", f"{self.root_address}/30", "dev", self.veth_root])
        run(["ip", "link", "set", self.veth_root, "up"])
        run(["ip", "-n", self.netns, "addr", "add", f"{self.address}/30", "dev", self.veth_ns])
        run(["ip", "-n", self.netns, "link", "set", self.veth_ns, "up"])
        run(["ip", "netns", "exec", self.netns, "unshare", "-m", "-u", "--propagation", "private",
             sys.executable, str(Path(__file__).resolve()), "_namespace", str(self.index)],
            stdin=subprocess.DEVNULL)
        self.wait_answers()

    def namespace_body(self):
        """Runs inside `ip netns exec ... unshare -m -u`: private mounts, hostname, daemons."""
        run(["hostname", self.hostname])
        run(["mount", "-t", "tmpfs", "-o", "mode=0755", f"{PREFIX}-run", "/run/libvirt"])
        # the real host's daemon autostarted long ago: this one must not start 100 guests
        Path("/run/libvirt/qemu").mkdir(mode=0o755)
        Path("/run/libvirt/qemu/autostarted").touch()
        for source, target in (("etc", "/etc/libvirt"), ("lib", "/var/lib/libvirt"),
                               ("log", "/var/log/libvirt"), ("cache", "/var/cache/libvirt")):
            run(["mount", "--bind", str(self.state / source), target])
        run(["virtlogd", "-d", "-p", str(self.run / "virtlogd.pid")], stdin=subprocess.DEVNULL)
        run(["libvirtd", "-d", "--listen", "-p", str(self.run / "libvirtd.pid")], stdin=subprocess.DEVNULL)

    def wait_answers(self, timeout=90):
        libvirt = import_libvirt()
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = libvirt.open(self.direct_uri)
                name = conn.getHostname()
                conn.close()
                if name != self.hostname:
                    raise SetupError(f"{self.direct_uri} reports hostname {name!r}, not {self.hostname!r}")
                return
            except libvirt.libvirtError as error:
                if time.monotonic() > deadline:
                    raise SetupError(f"host {self.index} ({self.direct_uri}) does not answer: {error}; "
                                     f"see {self.state / 'log' / 'libvirtd.log'}") from error
                time.sleep(0.3)

    # --- domains
    def ensure_domains(self, count, running):
        """Exactly `count` bench<i>-* domains (defines the missing ones), `running` of them active."""
        libvirt = import_libvirt()
        conn = libvirt.open(self.direct_uri)
        try:
            wanted = {domain_name(self.index, i): i for i in range(count)}
            present = {domain.name(): domain for domain in conn.listAllDomains()}
            extra = [name for name in present if name.startswith(DOMAIN_PREFIX) and name not in wanted]
            for name in extra:
                with contextlib.suppress(libvirt.libvirtError):
                    present[name].destroy()
                present[name].undefine()
            missing = [index for name, index in wanted.items() if name not in present]
            if missing:
                log(f"host {self.index}: defining {len(missing)} domains (cached for later runs)")
                started = time.monotonic()
                for index in missing:
                    domain = conn.defineXML(domain_xml(self.index, index, index in running_indexes(MAX_RUNNING)))
                    if index % 10 == 0:
                        domain.setAutostart(1)
                log(f"host {self.index}: defined {len(missing)} in {time.monotonic() - started:.1f} s")
            total = len([d for d in conn.listAllDomains() if d.name().startswith(DOMAIN_PREFIX)])
            if total != count:
                raise SetupError(f"host {self.index} has {total} bench domains, expected {count}")
            for index in running_indexes(min(MAX_RUNNING, count - 1)):
                # (re)define the bootable ones: a cache from an older layout must not break starting them
                if not conn.lookupByName(domain_name(self.index, index)).isActive():
                    conn.defineXML(domain_xml(self.index, index, True))
            indexes = running_indexes(running)
            for position, index in enumerate(indexes):
                domain = conn.lookupByName(domain_name(self.index, index))
                if not domain.isActive():
                    domain.create()
                if position == len(indexes) - 1 and len(indexes) > 1:
                    domain.suspend()
            active = len(conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
            if active != len(indexes):
                raise SetupError(f"host {self.index} has {active} active domains, expected {len(indexes)}")
            return total
        finally:
            conn.close()

    # --- proxy
    def start_proxy(self, delay_ms):
        self.proxy, self.port = start_proxy(f"{self.address}:{LIBVIRT_PORT}", delay_ms)


def start_proxy(target, delay_ms):
    """Start delay_proxy.py towards target (host:port); returns (process, local port)."""
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, str(HERE / "delay_proxy.py"), "--listen", "127.0.0.1:0", "--target", target,
         "--delay-ms", str(delay_ms), "--parent-pid", str(os.getpid()), "--lifetime", "7200"],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    line = process.stdout.readline().split()
    if len(line) != 3 or line[0] != "LISTENING":
        _terminate(process)
        raise SetupError(f"delay proxy towards {target} did not start: {line}")
    return process, int(line[2])


def _user_ids(name):
    import pwd  # pylint: disable=import-outside-toplevel
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def _terminate(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _command_name(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _kill_pids(pids, signals=(signal.SIGTERM, signal.SIGKILL)):
    for signum in signals:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
            time.sleep(0.05)
        pids = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        if not pids:
            return


def domain_name(host, index):
    return f"{DOMAIN_PREFIX}{host}-{index:04d}"


def running_indexes(running):
    """Indexes of the domains kept active: 1, 2, ... (0 is an autostart one)."""
    return list(range(1, running + 1))


def domain_xml(host, index, bootable):
    """A small qemu (TCG) domain; the running ones get no disk and no NIC (nothing to provide)."""
    name = domain_name(host, index)
    uid = uuid.uuid5(UUID_NAMESPACE, f"host-{host}-{name}")
    memory = (64, 128, 256, 512)[index % 4]
    parts = [f"<domain type='qemu'><name>{name}</name><uuid>{uid}</uuid>"]
    if index % 5 == 0:
        parts.append(f"<title>Benchmark guest {index}</title>"
                     f"<description>Guest {index} of the virtops inventory benchmark</description>")
    if index % 3 == 0:
        parts.append(f"<metadata><virtops:tags xmlns:virtops='{TAGS_NS}'>"
                     f"{TAG_SETS[index // 3 % len(TAG_SETS)]}</virtops:tags></metadata>")
    parts.append(f"<memory unit='MiB'>{memory}</memory><vcpu>{1 + index % 2}</vcpu>"
                 "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"
                 "<on_crash>destroy</on_crash><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>")
    if not bootable:
        mac = f"52:54:00:{host:02x}:{index // 256:02x}:{index % 256:02x}"
        parts.append(f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                     f"<source file='/var/lib/libvirt/images/{name}.qcow2'/>"
                     "<target dev='vda' bus='virtio'/></disk>"
                     f"<interface type='network'><mac address='{mac}'/><source network='default'/>"
                     "<model type='virtio'/></interface>")
    parts.append("<graphics type='vnc' autoport='yes' listen='127.0.0.1'/>" if index % 7 == 0 else "")
    parts.append("</devices></domain>")
    return "".join(parts)


# ------------------------------------------------------------------------------------ RTT
def measure_rtt(uri, calls=200):
    """Median round trip of getLibVersion() in ms."""
    libvirt = import_libvirt()
    conn = libvirt.open(uri)
    try:
        for dummy in range(10):
            conn.getLibVersion()
        samples = []
        for dummy in range(calls):
            started = time.perf_counter()
            conn.getLibVersion()
            samples.append(time.perf_counter() - started)
    finally:
        conn.close()
    return statistics.median(samples) * 1000


def measure_rtts(host, cleanup):
    """getLibVersion RTT on host: direct, through a 0 ms proxy (the hop alone), through its proxy."""
    process, port = start_proxy(f"{host.address}:{LIBVIRT_PORT}", 0)
    cleanup.callback(_terminate, process)
    return {"direct": measure_rtt(host.direct_uri),
            "proxy_0ms": measure_rtt(f"qemu+tcp://127.0.0.1:{port}/system"),
            "proxy": measure_rtt(host.proxy_uri)}


def measure_floor(uri, repeat):
    """In-process libvirt floor: open + listAllDomains + getAllDomainStats (state, cpu, balloon,
    vcpu, interface, block) + close; median seconds of `repeat` runs."""
    libvirt = import_libvirt()
    groups = (libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_BALLOON
              | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_INTERFACE | libvirt.VIR_DOMAIN_STATS_BLOCK)
    samples = []
    for dummy in range(max(repeat, 1)):
        started = time.monotonic()
        conn = libvirt.open(uri)
        conn.listAllDomains()
        conn.getAllDomainStats(groups, 0)
        conn.close()
        samples.append(time.monotonic() - started)
    return statistics.median(samples)


def measure_plugin_reads(hosts, repeat):
    """The plugin's own reading (its _fleet.read_hosts, with its default options) of 1 host and of
    all hosts at once, in-process: what the plugin costs apart from ansible-inventory's per-host work.
    Median seconds of `repeat` runs each."""
    sys.path.insert(0, str(REPOSITORY / "tests"))
    import collection_path  # pylint: disable=import-outside-toplevel
    collection_path.make_collection_importable()
    from ansible_collections.virtops.libvirt.plugins.module_utils import _fleet  # pylint: disable=import-outside-toplevel
    options = _fleet.FleetOptions(stats=["state", "cpu", "balloon", "vcpu", "interface", "block"])

    def median_seconds(subset):
        specs = [_fleet.HostSpec(uri=host.proxy_uri, name=host.hostname) for host in subset]
        samples = []
        for dummy in range(max(repeat, 1)):
            started = time.monotonic()
            records = _fleet.read_hosts(specs, options)
            samples.append(time.monotonic() - started)
            failed = [record["error"] for record in records if "error" in record]
            if failed:
                raise SetupError(f"the plugin could not read a host: {failed[0]}")
        return statistics.median(samples)

    return median_seconds(hosts[:1]), median_seconds(hosts)


# ------------------------------------------------------------------------------------ venv
def ensure_venv():
    python = VENV / "bin" / "python"
    check = [str(python), "-c", "import libvirt, ansible_collections.community.libvirt"]
    if python.exists() and run(check, check=False).returncode == 0:
        return
    log(f"creating the baseline venv {VENV} (pip install ansible libvirt-python; a few minutes)")
    shutil.rmtree(VENV, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(VENV)])
    run([str(python), "-m", "pip", "install", "-q", "ansible", "libvirt-python"], timeout=1800)
    run(check)


def venv_versions():
    """(community.libvirt version, ansible-core version) in the baseline venv."""
    code = ("import json, pathlib, ansible.release, ansible_collections.community.libvirt as c;"
            "m = json.loads((pathlib.Path(list(c.__path__)[0]) / 'MANIFEST.json').read_text());"
            "print(m['collection_info']['version'], ansible.release.__version__)")
    out = run([str(VENV / "bin" / "python"), "-c", code], check=False).stdout.split()
    return (out + ["?", "?"])[:2]


# ------------------------------------------------------------------------------------ timing
class Case:
    def __init__(self, label, command, env, config, expected_hosts):
        self.label = label
        self.command = command
        self.env = env
        self.config = config
        self.expected_hosts = expected_hosts
        self.times = []
        self.max_rss_mb = 0.0
        self.hosts = None
        self.error = None

    @property
    def median(self):
        return statistics.median(self.times) if self.times else None


def run_measured(command, env, stdout, stderr, cwd=None):
    """Run a command; return (exit status, wall seconds, peak RSS of the command in MiB or None).

    The peak RSS comes from GNU time (/usr/bin/time, `apt-get install time`): os.wait4's ru_maxrss
    of a child of this process would include this (large) process's memory, which the child
    inherits through fork/vfork until its exec.
    """
    gnu_time = shutil.which("time", path="/usr/bin:/bin")
    with tempfile.NamedTemporaryFile("r", prefix="virtops-bench-rss-", encoding="utf-8") as rss:
        wrapped = [gnu_time, "-f", "%M", "-o", rss.name, *command] if gnu_time else list(command)
        started = time.monotonic()
        process = subprocess.Popen(wrapped, env=env, stdout=stdout, stderr=stderr,  # pylint: disable=consider-using-with
                                   stdin=subprocess.DEVNULL, cwd=cwd, start_new_session=True)
        timer = threading.Timer(RUN_TIMEOUT, os.killpg, (process.pid, signal.SIGKILL))
        timer.start()
        try:
            status = process.wait()
        except KeyboardInterrupt:
            os.killpg(process.pid, signal.SIGKILL)
            raise
        finally:
            timer.cancel()
        seconds = time.monotonic() - started
        lines = rss.read().split()
    peak = int(lines[-1]) / 1024.0 if lines and lines[-1].isdigit() else None
    return status, seconds, peak


def count_hosts(text):
    data = json.loads(text)
    return len(data.get("_meta", {}).get("hostvars", {}))


def measure(case, repeat, workdir):
    """One checked warm-up run (output parsed), then `repeat` timed runs to /dev/null."""
    errors = workdir / f"{case.config.stem}.stderr"
    output = workdir / f"{case.config.stem}.json"
    with open(output, "w", encoding="utf-8") as out, open(errors, "w", encoding="utf-8") as err:
        status, seconds, dummy = run_measured(case.command, case.env, out, err, workdir)
    if status != 0:
        tail = errors.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
        case.error = f"exit status {status}:\n    " + "\n    ".join(tail)
        return
    try:
        case.hosts = count_hosts(output.read_text(encoding="utf-8"))
    except ValueError as error:
        case.error = f"unparsable output ({error}), see {output}"
        return
    log(f"{case.label}: warm-up {seconds:.2f} s, {case.hosts} hosts listed")
    for attempt in range(repeat):
        with open(errors, "w", encoding="utf-8") as err:
            status, seconds, rss = run_measured(case.command, case.env, subprocess.DEVNULL, err, workdir)
        if status != 0:
            case.error = f"run {attempt + 1} failed with exit status {status}, see {errors}"
            return
        case.times.append(seconds)
        case.max_rss_mb = max(case.max_rss_mb, rss or 0.0)
        log(f"{case.label}: run {attempt + 1}/{repeat} {seconds:.2f} s")


def write_config(path, data):
    # JSON is YAML: no PyYAML needed here
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def base_env(collections_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path),
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_NOCOLOR": "true",
    })
    return env


def system_ansible_inventory():
    candidate = Path(sys.executable).parent / "ansible-inventory"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("ansible-inventory")
    if not found:
        raise SetupError("ansible-inventory not found for the system python3 (ansible-core)")
    return found


def build_cases(hosts, workdir, versions):
    farm = workdir / "collections"
    link = farm / "ansible_collections" / "virtops" / "libvirt"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(REPOSITORY)
    empty = workdir / "no-collections"
    empty.mkdir(exist_ok=True)
    ours_env = base_env(farm)
    theirs_env = base_env(empty)   # community.libvirt from the venv's site-packages only
    ours_bin = system_ansible_inventory()
    theirs_bin = str(VENV / "bin" / "ansible-inventory")
    empty_inventory = workdir / "empty.ini"
    empty_inventory.write_text("", encoding="utf-8")
    cases = {
        "startup-ours": Case("ansible-inventory startup, system python3 (empty inventory)",
                             [ours_bin, "-i", str(empty_inventory), "--list"], ours_env, empty_inventory, 0),
        "startup-theirs": Case("ansible-inventory startup, baseline venv (empty inventory)",
                               [theirs_bin, "-i", str(empty_inventory), "--list"], theirs_env, empty_inventory, 0),
    }
    first = hosts[0]
    config = write_config(workdir / "community-1host.libvirt.yml",
                          {"plugin": "community.libvirt.libvirt", "uri": first.proxy_uri})
    cases["theirs-1"] = Case(f"community.libvirt {versions[0]}, 1 host", [theirs_bin, "-i", str(config), "--list"],
                             theirs_env, config, None)
    config = write_config(workdir / "virtops-1host.libvirt.yml",
                          {"plugin": "virtops.libvirt.libvirt",
                           "hosts": [{"uri": first.proxy_uri, "name": first.hostname}]})
    cases["ours-1"] = Case("virtops.libvirt, 1 host", [ours_bin, "-i", str(config), "--list"], ours_env, config, None)
    if len(hosts) > 1:
        config = write_config(workdir / f"virtops-{len(hosts)}hosts.libvirt.yml",
                              {"plugin": "virtops.libvirt.libvirt",
                               "hosts": [{"uri": host.proxy_uri, "name": host.hostname} for host in hosts]})
        cases["ours-n"] = Case(f"virtops.libvirt, {len(hosts)} hosts at once", [ours_bin, "-i", str(config), "--list"],
                               ours_env, config, None)
    return cases


def static_reference(case, workdir):
    """The same hosts, groups and variables as `case` printed, from a script inventory that cats
    them: what ansible-inventory itself costs for that many hosts, whatever plugin made them."""
    script = workdir / f"static-{case.config.stem}.sh"
    script.write_text(f"#!/bin/sh\nexec cat '{workdir / (case.config.stem + '.json')}'\n", encoding="utf-8")
    script.chmod(0o755)
    label = f"  same {case.hosts} hosts + vars from a static script inventory"
    return Case(label, [case.command[0], "-i", str(script), "--list"], case.env, script, case.hosts)


# ------------------------------------------------------------------------------------ report
def report(arguments, hosts, cases, network, versions):  # pylint: disable=too-many-locals
    print()
    print(f"virtops.libvirt inventory benchmark: {len(hosts)} namespaced libvirtd host(s) x {arguments.domains} "
          f"domains ({arguments.running} active per host), proxy delay {arguments.delay_ms:g} ms each way")
    print(f"baseline: community.libvirt {versions[0]} (ansible-core {versions[1]}) in {VENV}; "
          f"ours: {REPOSITORY} with {system_ansible_inventory()}")
    rtt, floor, reads = network
    print(f"getLibVersion() round trip on host 1 (median of 200): direct {rtt['direct']:.3f} ms, "
          f"through a 0 ms proxy {rtt['proxy_0ms']:.3f} ms, through the {arguments.delay_ms:g} ms proxy "
          f"{rtt['proxy']:.3f} ms: the delay adds {rtt['proxy'] - rtt['proxy_0ms']:.3f} ms "
          f"(want {2 * arguments.delay_ms:g}), the proxy in all {rtt['proxy'] - rtt['direct']:.3f} ms")
    print(f"libvirt floor on host 1 through the proxy, in-process: open + listAllDomains + getAllDomainStats "
          f"+ close {floor:.3f} s")
    print(f"the plugin's own reading (_fleet.read_hosts), in-process: 1 host {reads[0]:.3f} s, "
          f"{len(hosts)} hosts at once {reads[1]:.3f} s (ratio {reads[1] / reads[0]:.2f})")
    print()
    print(f"{'case':<62} {'median s':>9} {'runs s':<24} {'hosts':>6} {'peak RSS MiB':>13}")
    for case in cases.values():
        if case.error:
            print(f"{case.label:<62} FAILED: {case.error}")
            continue
        if case.median is None:
            print(f"{case.label:<62} (not run)")
            continue
        runs = " ".join(f"{value:.2f}" for value in case.times)
        print(f"{case.label:<62} {case.median:>9.2f} {runs:<24} {case.hosts:>6} {case.max_rss_mb:>13.0f}")
    print()
    results = {"hosts": len(hosts), "domains": arguments.domains, "delay_ms": arguments.delay_ms,
               "rtt_ms": rtt, "libvirt_floor_s": floor, "plugin_read_s": {"1": reads[0], str(len(hosts)): reads[1]},
               "cases": {key: {"label": case.label, "times": case.times, "median": case.median,
                               "hosts": case.hosts, "peak_rss_mib": case.max_rss_mb, "error": case.error}
                         for key, case in cases.items()}}
    theirs = cases["theirs-1"]
    ours = cases["ours-1"]
    many = cases.get("ours-n")
    print("issue 4 targets:")
    checks = []
    if ours.median is None:
        print("  virtops.libvirt.libvirt did not produce figures (see FAILED above): no ratios")
    else:
        if theirs.median:
            checks.append(("ours / community.libvirt, 1 host", ours.median / theirs.median, 0.1, ""))
        checks.append(("ours, 1 host, absolute", ours.median, 1.5, " s"))
        if many is not None and many.median is not None:
            checks.append((f"ours {len(hosts)} hosts / ours 1 host", many.median / ours.median, 1.3, ""))
            checks.append((f"plugin read {len(hosts)} hosts / 1 host", reads[1] / reads[0], 1.3, ""))
    for label, value, target, unit in checks:
        verdict = "met" if value <= target else "MISSED"
        print(f"  {label:<36} {value:8.3f}{unit:<2}  target <= {target:g}{unit}  {verdict}")
    for key, case in cases.items():
        if case.hosts is not None and case.expected_hosts is not None and case.hosts != case.expected_hosts:
            print(f"  WARNING: {case.label} listed {case.hosts} hosts, expected {case.expected_hosts}")
        results["cases"][key]["expected_hosts"] = case.expected_hosts
    results["targets"] = {label: {"value": value, "target": target} for label, value, target, dummy in checks}
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {arguments.json}")


# ------------------------------------------------------------------------------------ main
def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=4, help="hosts for the multi-host case (default 4; 1 = skip it)")
    parser.add_argument("--domains", type=int, default=1000, help="domains per host (default 1000)")
    parser.add_argument("--running", type=int, default=3,
                        help="active domains per host, the last of them paused (default 3)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (default 3)")
    parser.add_argument("--delay-ms", type=float, default=1.0, help="proxy delay each way (default 1)")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run community.libvirt")
    parser.add_argument("--json", help="also write the results to this JSON file")
    return parser.parse_args(argv)


def stop_all(hosts):
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        list(pool.map(lambda host: host.stop(), hosts))


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def benchmark(arguments):
    if os.geteuid() != 0:
        raise SetupError("run as root (network namespaces, libvirtd)")
    if not 1 <= arguments.hosts <= MAX_HOSTS:
        raise SetupError(f"--hosts must be 1..{MAX_HOSTS}")
    if not 0 <= arguments.running <= min(MAX_RUNNING, arguments.domains - 1):
        raise SetupError(f"--running must be 0..{MAX_RUNNING} and less than --domains")
    if os.path.exists("/dev/kvm"):
        # root-only /dev/kvm makes every define re-probe QEMU (~30 s, see RIG.md)
        shutil.chown("/dev/kvm", group="kvm")
        os.chmod("/dev/kvm", 0o660)
    hosts = [Host(index) for index in range(1, arguments.hosts + 1)]
    with contextlib.ExitStack() as cleanup:
        lock = cleanup.enter_context(open(LOCK, "w", encoding="utf-8"))
        fcntl.flock(lock, fcntl.LOCK_EX)
        for index in range(1, MAX_HOSTS + 1):    # leftovers of an interrupted run
            Host(index).stop()
        cleanup.callback(stop_all, hosts)
        RUN.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="run-", dir=RUN))
        cleanup.callback(shutil.rmtree, workdir, True)
        venv_job = None
        with ThreadPoolExecutor(max_workers=len(hosts) + 1) as pool:
            if not arguments.skip_baseline:
                venv_job = pool.submit(ensure_venv)
            for host in hosts:
                log(f"starting host {host.index} ({host.netns}, {host.direct_uri})")
                host.start()
            counts = list(pool.map(lambda host: host.ensure_domains(arguments.domains, arguments.running), hosts))
            log(f"domains per host: {counts}")
            if venv_job is not None:
                venv_job.result()
        for host in hosts:
            host.start_proxy(arguments.delay_ms)
        rtt = measure_rtts(hosts[0], cleanup)
        log(f"getLibVersion RTT: direct {rtt['direct']:.3f} ms, 0 ms proxy {rtt['proxy_0ms']:.3f} ms, "
            f"{arguments.delay_ms:g} ms proxy {rtt['proxy']:.3f} ms")
        floor = measure_floor(hosts[0].proxy_uri, arguments.repeat)
        reads = measure_plugin_reads(hosts, arguments.repeat)
        versions = venv_versions() if not arguments.skip_baseline else ("(skipped)", "?")
        cases = build_cases(hosts, workdir, versions)
        for key, case in cases.items():
            if "theirs" in key and arguments.skip_baseline:
                continue
            if key in ("theirs-1", "ours-1"):
                case.expected_hosts = arguments.domains
            elif key == "ours-n":
                case.expected_hosts = arguments.domains * len(hosts)
            if key.startswith("ours") and not (REPOSITORY / "plugins" / "inventory" / "libvirt.py").exists():
                case.error = f"{REPOSITORY}/plugins/inventory/libvirt.py does not exist (yet)"
                continue
            log(f"measuring: {case.label}")
            measure(case, arguments.repeat, workdir)
        ordered = {}
        for key, case in cases.items():
            ordered[key] = case
            if key.startswith("ours") and case.hosts is not None:
                reference = static_reference(case, workdir)
                log(f"measuring: {reference.label.strip()}")
                measure(reference, arguments.repeat, workdir)
                ordered[f"static-{key}"] = reference
        cases = ordered
        report(arguments, hosts, cases, (rtt, floor, reads), versions)
        log("cleaning up (daemons, namespaces, proxies; state dirs and venv stay)")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_namespace"]:
        Host(int(argv[1])).namespace_body()
        return 0
    arguments = parse_arguments(argv)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGINT too: ignored in background jobs
        signal.signal(signum, _raise_interrupt)
    try:
        return benchmark(arguments)
    except KeyboardInterrupt:
        log("interrupted; cleaned up")
        return 130
    except SetupError as error:
        log(f"SETUP FAILED: {error}")
        return 2
    except Exception as error:  # pylint: disable=broad-exception-caught
        traceback.print_exc()
        log(f"SETUP FAILED: {type(error).__name__}: {error}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
