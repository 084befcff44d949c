#!/usr/bin/env python
"""Benchmark: domain_migrate against `virsh migrate`, a batch against one guest, pre-copy against post-copy.

Needs the rig (`tests/rig/rig up`, as root: hosts A and B). Only one migration-heavy run at a time on
this machine, so wrap it in the shared lock:

    flock /tmp/virtops-migrate.lock python3 benchmarks/migrate.py [--rounds 3] [--parts overhead,parallel,dirty]

Parts (each prints its figures; ratios are measured within the same run):

* overhead: one tiny guest A -> B -> A, --rounds times, with `virsh migrate --live --unsafe --persistent
  --undefinesource` and with domain_migrate (same flags, same guest, same data URI), interleaved.
* parallel: --guests guests A -> B -> A in one task (parallel = --guests) against one guest in one task.
* dirty: a guest dirtying memory faster than --bandwidth allows, moved A -> B (a fresh guest each time): post-copy
  with postcopy_after, pre-copy with auto_converge, plain pre-copy with a timeout; downtime, total time, and
  whether the guest is still healthy afterwards (agent, workload, no kernel panic).

--virsh-only runs what needs no module (the virsh baseline of "overhead" and "parallel").
Guests are named rig_env.PREFIX + "bench-migrate-..."; they and their disks are removed from both hosts
at the end, also on failure, Ctrl-C or SIGTERM.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS / "integration"))

import collection_path  # noqa: E402  pylint: disable=wrong-import-position

collection_path.make_collection_importable()
from harness import module_environment, rig_env, run_module  # noqa: E402  pylint: disable=wrong-import-position

A = rig_env.HOST_A_URI
B = rig_env.HOST_B_URI
NAME_STEM = f"{rig_env.PREFIX}bench-migrate-"
MODULE = "domain_migrate"
MODULE_PATH = f"ansible_collections.virtops.libvirt.plugins.modules.{MODULE}"
#: Concurrent migrations must not share the rig's fixed ports: the destination picks a free one.
ANY_PORT = "tcp://127.0.0.1"


class Direction:
    """One way between the rig's hosts: source URI, destination URI, fixed data URI."""

    def __init__(self, label, source, dest, data_uri):
        self.label, self.source, self.dest, self.data_uri = label, source, dest, data_uri


A_TO_B = Direction("A -> B", A, B, rig_env.MIGRATION_URI_TO_B)
B_TO_A = Direction("B -> A", B, A, rig_env.MIGRATION_URI_TO_A)
BOTH_WAYS = (A_TO_B, B_TO_A)


# ------------------------------------------------------------------ guests
def guest_names(kind, count):
    return [f"{NAME_STEM}{kind}-{index}" for index in range(count)]


def boot_guests(conn, names, memory_mib):
    """Define and start NAMES on CONN (tiny guest with its own data disk) and wait for their agents."""
    for name in names:
        forget(name)
        rig_env.define_guest(conn, name, memory_mib=memory_mib)
    for name in names:
        rig_env.wait_agent(conn.lookupByName(name), timeout=300)


def forget(name):
    """The guest NAME and its disk gone from both hosts, wherever it was left."""
    rig_env.forget_everywhere(name)


def running_at(uri, name):
    conn = rig_env.connect(uri)
    try:
        return any(dom.name() == name for dom in conn.listAllDomains(1))  # VIR_CONNECT_LIST_DOMAINS_ACTIVE
    finally:
        conn.close()


def check_moved(names, direction):
    for name in names:
        if not running_at(direction.dest, name) or running_at(direction.source, name):
            raise RuntimeError(f"{name} did not move {direction.label}")


def completed_job(uri, name):
    """libvirt's statistics of the last completed job of NAME on URI (the incoming migration)."""
    conn = rig_env.connect(uri)
    try:
        return conn.lookupByName(name).jobStats(1)  # VIR_DOMAIN_JOB_STATS_COMPLETED
    finally:
        conn.close()


# ------------------------------------------------------------------ the dirtying workload
def dirtier_alive(dom):
    """Whether rig_env.start_memory_dirtier's loop still runs in the guest (it keeps its pid in a file)."""
    try:
        rig_env.guest_shell(dom, "kill -0 $(cat /tmp/virtops-dirtier.pid)")
    except RuntimeError:
        return False
    return True


# ------------------------------------------------------------------ the two ways to migrate
def virsh_migrate(name, direction, data_uri=None):
    command = ["virsh", "-c", direction.source, "migrate", "--live", "--unsafe", "--persistent", "--undefinesource",
               name, direction.dest, data_uri or direction.data_uri]
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    seconds = time.monotonic() - started
    if completed.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {completed.stderr.strip()}")
    return seconds


def virsh_migrate_all(names, direction):
    """One `virsh migrate` process per guest, all at once; wall time until the last one ends."""
    started = time.monotonic()
    processes = [subprocess.Popen(["virsh", "-c", direction.source, "migrate", "--live", "--unsafe", "--persistent",
                                   "--undefinesource", name, direction.dest, ANY_PORT],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names]
    errors = [process.communicate(timeout=900)[1].strip() for process in processes]
    seconds = time.monotonic() - started
    if any(process.returncode for process in processes):
        raise RuntimeError(f"concurrent virsh migrate failed: {errors}")
    return seconds


def module_args(names, direction, data_uri=None, **extra):
    return {"uri": direction.source, "name": names, "dest_uri": direction.dest,
            "migrate_uri": data_uri or direction.data_uri, "unsafe": True, **extra}


def module_migrate(names, direction, data_uri=None, **extra):
    """domain_migrate in its own process, as harness.run_module runs it (the module's JSON args file)."""
    result = run_module(MODULE, module_args(names, direction, data_uri, **extra))
    if result.get("failed"):
        raise RuntimeError(f"domain_migrate failed {direction.label}: {result.get('msg')}")
    entries = result["domains"]
    wrong = [entry["name"] for entry in entries if entry.get("location") != "destination" or not entry.get("changed")]
    if wrong:
        raise RuntimeError(f"domain_migrate did not move {wrong} {direction.label}: {entries}")
    return result.seconds, entries


def adhoc_migrate(names, direction, data_uri=None, **extra):
    """`ansible localhost -m virtops.libvirt.domain_migrate -a '<json>'`, what a user types (AnsiballZ included)."""
    command = ["ansible", "localhost", "-m", f"virtops.libvirt.{MODULE}",
               "-a", json.dumps(module_args(names, direction, data_uri, **extra)),
               "-e", f"ansible_python_interpreter={sys.executable}"]
    seconds, output = run_ansible(command)
    if '"changed": true' not in output or "FAILED" in output:
        raise RuntimeError(f"ad-hoc domain_migrate did not move {names} {direction.label}: {output[-2000:]}")
    return seconds


def run_ansible(command):
    environment = module_environment()
    environment.update(ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=environment, timeout=900)
    seconds = time.monotonic() - started
    if completed.returncode:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {completed.stdout[-2000:]} {completed.stderr[-2000:]}")
    return seconds, completed.stdout


def adhoc_startup():
    """What any ad-hoc task costs before its module runs: `ansible localhost -m ansible.builtin.ping`."""
    return run_ansible(["ansible", "localhost", "-m", "ansible.builtin.ping",
                        "-e", f"ansible_python_interpreter={sys.executable}"])[0]


def profile_module(names, direction, output):
    """domain_migrate once under cProfile (same process shape as run_module); return the stats text."""
    payload = {"ANSIBLE_MODULE_ARGS": {**module_args(names, direction), "_ansible_check_mode": False,
                                       "_ansible_diff": False}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(payload, handle)
    try:
        started = time.monotonic()
        completed = subprocess.run([sys.executable, "-m", "cProfile", "-o", output, "-m", MODULE_PATH, handle.name],
                                   capture_output=True, text=True, env=module_environment(), timeout=900, check=False)
        seconds = time.monotonic() - started
    finally:
        os.unlink(handle.name)
    if '"failed": true' in completed.stdout or not completed.stdout.strip():
        raise RuntimeError(f"profiled domain_migrate failed: {completed.stdout[-2000:]} {completed.stderr[-2000:]}")
    import io  # pylint: disable=import-outside-toplevel
    import pstats  # pylint: disable=import-outside-toplevel
    text = io.StringIO()
    pstats.Stats(output, stream=text).sort_stats("cumulative").print_stats(25)
    return seconds, text.getvalue()


# ------------------------------------------------------------------ parts
def note(text):
    """Progress on stderr (the figures go to stdout at the end)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def median(values):
    return statistics.median(values) if values else float("nan")


def settle(arguments):
    """Let the guest settle where it just arrived. A move that starts 0.3 to 2 s after the last one ended
    takes about 0.5 s longer on this rig (libvirt/QEMU, whoever starts it) than one started at once or
    after 3 s: without the pause a module process (0.3 s start-up) would always land in that window and
    virsh (started at once) never."""
    time.sleep(arguments.settle)


def part_overhead(arguments, report):
    """virsh vs the module, one guest, A -> B -> A per round, interleaved."""
    name = guest_names("one", 1)[0]
    host_a = rig_env.connect(A)
    try:
        boot_guests(host_a, [name], arguments.memory)
    finally:
        host_a.close()
    times = {"virsh": [], "module": [], "module_job": [], "virsh_libvirt": [], "adhoc": []}
    flags = None
    flags = []

    def by_virsh(direction):
        times["virsh"].append(virsh_migrate(name, direction))
        check_moved([name], direction)
        times["virsh_libvirt"].append(completed_job(direction.dest, name).get("time_elapsed", 0) / 1000)

    def by_module(direction):
        seconds, entries = module_migrate([name], direction)
        check_moved([name], direction)
        times["module"].append(seconds)
        times["module_job"].append((entries[0].get("job") or {}).get("seconds", float("nan")))
        flags[:] = entries[0].get("flags") or []

    def by_adhoc(direction):
        times["adhoc"].append(adhoc_migrate([name], direction))
        check_moved([name], direction)

    ways = [by_virsh] + ([] if arguments.virsh_only else [by_module]) + ([by_adhoc] if arguments.adhoc else [])
    for round_number in range(arguments.rounds):
        # each way goes first in turn: what ran just before a move must not favour one of them
        shift = round_number % len(ways)
        for way in ways[shift:] + ways[:shift]:
            for direction in BOTH_WAYS:
                settle(arguments)
                way(direction)
    figures = {key: median(values) for key, values in times.items()}
    figures["all"] = times
    figures["flags"] = flags
    if arguments.adhoc:
        figures["adhoc_startup"] = median([adhoc_startup() for _attempt in range(3)])
    if arguments.profile and not arguments.virsh_only:
        figures["profile_seconds"], figures["profile"] = profile_module([name], A_TO_B, arguments.profile)
        module_migrate([name], B_TO_A)
    report["overhead"] = figures
    forget(name)


def part_parallel(arguments, report):
    """N guests in one task (parallel N) against one guest in one task; virsh: N processes at once vs one."""
    names = guest_names("batch", arguments.guests)
    host_a = rig_env.connect(A)
    try:
        boot_guests(host_a, names, arguments.memory)
    finally:
        host_a.close()
    times = {"module_1": [], "module_n": [], "virsh_1": [], "virsh_n": []}
    for _round in range(arguments.rounds):
        for direction in BOTH_WAYS:
            settle(arguments)
            times["virsh_1"].append(virsh_migrate_all(names[:1], direction))
            check_moved(names[:1], direction)
        for direction in BOTH_WAYS:
            settle(arguments)
            times["virsh_n"].append(virsh_migrate_all(names, direction))
            check_moved(names, direction)
        if arguments.virsh_only:
            continue
        for direction in BOTH_WAYS:
            settle(arguments)
            times["module_1"].append(module_migrate(names[:1], direction, ANY_PORT, parallel=len(names))[0])
            check_moved(names[:1], direction)
        for direction in BOTH_WAYS:
            settle(arguments)
            times["module_n"].append(module_migrate(names, direction, ANY_PORT, parallel=len(names))[0])
            check_moved(names, direction)
    figures = {key: median(values) for key, values in times.items()}
    figures["all"] = times
    report["parallel"] = figures
    for name in names:
        forget(name)


def dirty_options(case, arguments):
    """The module options of each way to move the dirtying guest (all with the same bandwidth)."""
    return {"postcopy": {"postcopy": True, "postcopy_after": arguments.postcopy_after, "timeout": arguments.dirty_timeout},
            "auto_converge": {"auto_converge": {}, "timeout": arguments.dirty_timeout},
            "precopy": {"timeout": arguments.precopy_timeout}}[case]


def guest_health(name, since):
    """Where NAME runs, whether its agent answers there, its dirtier still runs, its kernel panicked
    (in its serial log after byte SINCE: the log is appended across boots and runs)."""
    location = [label for label, uri in (("A", A), ("B", B)) if running_at(uri, name)]
    health = {"running_at": location, "agent": False, "workload_alive": False}
    if len(location) == 1:
        conn = rig_env.connect(A if location == ["A"] else B)
        try:
            dom = conn.lookupByName(name)
            rig_env.wait_agent(dom, timeout=60)  # the agent's channel reconnects after a move
            health["agent"] = True
            health["workload_alive"] = dirtier_alive(dom)
        except TimeoutError:
            pass
        finally:
            conn.close()
    with open(rig_env.serial_log_path(name), errors="replace") as log:
        log.seek(since)
        health["kernel_panic"] = "Kernel panic" in log.read()
    return health


def dirty_case(case, index, arguments):
    """A fresh guest on A rewriting memory, moved A -> B one way; the figures whether it moved or failed."""
    name = guest_names("dirty", index + 1)[index]
    since = rig_env.serial_log_size(name)
    host_a = rig_env.connect(A)
    try:
        boot_guests(host_a, [name], arguments.dirty_memory)
        dom = host_a.lookupByName(name)
        rig_env.start_memory_dirtier(dom, mib=arguments.dirty_mib)
        if not dirtier_alive(dom):
            raise RuntimeError(f"the memory dirtier did not start in {name}")
    finally:
        host_a.close()
    options = dirty_options(case, arguments)
    result = run_module(MODULE, module_args([name], A_TO_B, bandwidth=arguments.bandwidth, **options))
    entry = result.get("domains", [{}])[0] if result.get("domains") else result.get("domain") or {}
    job = entry.get("job") or {}
    note(f"dirty guest, {case}: {result.seconds:.2f} s, failed {result.get('failed')}, job {json.dumps(job, default=str)}")
    figures = {"options": options, "wall": result.seconds, "failed": bool(result.get("failed")),
               "msg": result.get("msg") if result.get("failed") else None, "failed_step": entry.get("failed_step"),
               "seconds": job.get("seconds"), "downtime_ms": job.get("downtime"), "iterations": job.get("memory_iteration"),
               "transferred": job.get("memory_processed"), "postcopy_requests": job.get("memory_postcopy_requests"),
               "postcopy": entry.get("postcopy"), "flags": entry.get("flags"), **guest_health(name, since)}
    forget(name)
    return figures


def part_dirty(arguments, report):
    """One fresh dirtying guest per way to move it (post-copy, auto_converge, plain pre-copy with a timeout)."""
    figures = {"bandwidth": arguments.bandwidth, "postcopy_after": arguments.postcopy_after,
               "dirty_mib": arguments.dirty_mib, "cases": {}}
    for index, case in enumerate(arguments.dirty_cases.split(",")):
        figures["cases"][case] = dirty_case(case, index, arguments)
    report["dirty"] = figures


# ------------------------------------------------------------------ output
def versions():
    conn = rig_env.connect(A)
    try:
        libvirt_version, qemu_version = conn.getLibVersion(), conn.getVersion()
    finally:
        conn.close()

    def dotted(number):
        return f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"
    return {"libvirt": dotted(libvirt_version), "qemu": dotted(qemu_version), "cores": os.cpu_count(),
            "python": sys.version.split()[0], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def print_report(report):
    print(f"machine: {report['machine']}")
    overhead = report.get("overhead")
    if overhead:
        print(f"\n1. one guest, {len(overhead['all']['virsh'])} migrations per way to migrate (A -> B, B -> A alternating), medians:")
        print(f"   virsh migrate (wall):                    {overhead['virsh']:6.2f} s"
              f"   (libvirt's job time_elapsed {overhead['virsh_libvirt']:.2f} s)")
        if overhead["all"]["module"]:
            print(f"   domain_migrate module process (wall):    {overhead['module']:6.2f} s"
                  f"   (its job.seconds {overhead['module_job']:.2f} s)")
            print(f"   module - virsh:                          {overhead['module'] - overhead['virsh']:+6.2f} s"
                  "   (target <= +0.5 s)")
            print(f"   flags: {overhead['flags']}")
        if overhead["all"]["adhoc"]:
            print(f"   ansible localhost -m domain_migrate:     {overhead['adhoc']:6.2f} s"
                  f"   (ansible localhost -m ping: {overhead['adhoc_startup']:.2f} s)")
        if overhead.get("profile"):
            print(f"   profiled module run A -> B: {overhead['profile_seconds']:.2f} s\n{overhead['profile']}")
    parallel = report.get("parallel")
    if parallel:
        count = report["arguments"]["guests"]
        print(f"\n2. {count} guests at once vs one (migrate_uri {ANY_PORT}), medians over both directions:")
        print(f"   virsh, 1 process:       {parallel['virsh_1']:6.2f} s;  {count} processes at once: "
              f"{parallel['virsh_n']:6.2f} s  ratio {parallel['virsh_n'] / parallel['virsh_1']:.2f}")
        if parallel["all"]["module_1"]:
            print(f"   domain_migrate, 1 guest: {parallel['module_1']:6.2f} s;  {count} guests, parallel {count}: "
                  f"{parallel['module_n']:6.2f} s  ratio {parallel['module_n'] / parallel['module_1']:.2f}"
                  "  (target <= 1.5)")
    dirty = report.get("dirty")
    if dirty:
        print(f"\n3. a fresh guest rewriting {dirty['dirty_mib']} MiB of random data without pause, moved A -> B "
              f"at bandwidth {dirty['bandwidth']} MiB/s:")
        for case, figures in dirty["cases"].items():
            outcome = f"FAILED at {figures['failed_step']}: {figures['msg']}" if figures["failed"] else "moved"
            print(f"   {case} {figures['options']}: {outcome}")
            downtime = "n/a (aborted)" if figures["failed"] else f"{figures['downtime_ms']} ms"
            print(f"      total {figures['wall']:.2f} s (job {figures['seconds']} s), downtime {downtime}, "
                  f"iterations {figures['iterations']}, {figures['transferred']} bytes sent, post-copy "
                  f"{figures['postcopy']}, page requests {figures['postcopy_requests']}")
            print(f"      after: running at {figures['running_at']}, agent answers {figures['agent']}, workload "
                  f"alive {figures['workload_alive']}, kernel panic in its serial log {figures['kernel_panic']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="overhead,parallel,dirty")
    parser.add_argument("--rounds", type=int, default=3, help="A -> B -> A round trips per case")
    parser.add_argument("--guests", type=int, default=4)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between a guest's moves (see settle())")
    parser.add_argument("--memory", type=int, default=192, help="MiB per guest (overhead, parallel)")
    parser.add_argument("--dirty-memory", type=int, default=256)
    parser.add_argument("--dirty-mib", type=int, default=32, help="MiB the dirty guest rewrites without pause")
    parser.add_argument("--bandwidth", type=int, default=8, help="MiB/s for the dirty guest")
    parser.add_argument("--postcopy-after", type=float, default=10.0)
    parser.add_argument("--dirty-timeout", type=float, default=600.0, help="timeout of post-copy and auto_converge")
    parser.add_argument("--precopy-timeout", type=float, default=60.0, help="timeout of plain pre-copy")
    parser.add_argument("--dirty-cases", default="postcopy,auto_converge,precopy")
    parser.add_argument("--virsh-only", action="store_true", help="only what needs no module")
    parser.add_argument("--adhoc", action="store_true", help="also time `ansible localhost -m ...` runs")
    parser.add_argument("--profile", metavar="FILE", help="cProfile one module run A -> B into FILE")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    arguments = parser.parse_args()
    parts = {"overhead": part_overhead, "parallel": part_parallel, "dirty": part_dirty}
    chosen = arguments.parts.split(",")
    unknown = set(chosen) - set(parts)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {sorted(parts)}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    rig_env.check_rig()
    report = {"machine": versions(), "arguments": vars(arguments)}
    try:
        for part in chosen:
            if part == "dirty" and arguments.virsh_only:
                continue
            parts[part](arguments, report)
    finally:
        for name in guest_names("one", 1) + guest_names("batch", arguments.guests) + guest_names("dirty", 3):
            forget(name)
    print_report(report)
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
