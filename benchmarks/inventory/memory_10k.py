#!/usr/bin/env python
"""Benchmark: virtops.libvirt.libvirt listing 10,000 domains of libvirt's test driver; time and peak memory.

Writes a test-driver node file (<node><domain type='test'>...</domain>...</node>) with --domains
domains in varied states (running, paused, shut off, crashed, shutdown, pmsuspended; some with
title/description and a virtops:tags metadata element), then runs
`ansible-inventory -i <config> --list` with `plugin: virtops.libvirt.libvirt` and
`hosts: [test:///<node file>]` (system python3, this repository through ANSIBLE_COLLECTIONS_PATH).
Reports wall time, the peak RSS of the ansible-inventory process (GNU time's %M), and the
number of hosts listed (parsed from the JSON), beside an empty-inventory ansible-inventory run for
reference. It also probes which getAllDomainStats groups the test driver supports.
No root needed, no daemon: the test driver runs inside the ansible-inventory process.

    python3 benchmarks/inventory/memory_10k.py [--domains 10000] [--repeat 1]
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from run import run_measured  # the same measurement as the main inventory benchmark

REPOSITORY = Path(__file__).resolve().parents[2]
TAGS_NS = "https://virtops.example.org/xmlns/tags/1.0"
TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
TAG_SETS = ("web,prod", "db,prod", "web,staging", "cache,dev")
# virDomainState: running, paused, shutdown, shutoff, crashed, pmsuspended; mostly shut off
STATES = (5, 5, 5, 5, 1, 1, 3, 5, 4, 6, 7, 5)
UUID_NAMESPACE = uuid.UUID("0c0b4a5e-8f3c-4df1-9d36-1f9a4a3cf2a7")
RUN_TIMEOUT = 900


def domain_xml(index):
    name = f"test-{index:05d}"
    parts = [f"<domain type='test'><name>{name}</name><uuid>{uuid.uuid5(UUID_NAMESPACE, name)}</uuid>"]
    if index % 5 == 0:
        parts.append(f"<title>Test guest {index}</title><description>Guest {index} of the 10k benchmark</description>")
    if index % 3 == 0:
        parts.append(f"<metadata><virtops:tags xmlns:virtops='{TAGS_NS}'>{TAG_SETS[index // 3 % len(TAG_SETS)]}"
                     "</virtops:tags></metadata>")
    mac = f"52:54:01:{index // 65536:02x}:{index // 256 % 256:02x}:{index % 256:02x}"
    parts.append(f"<memory unit='MiB'>{(64, 128, 256, 512)[index % 4]}</memory><vcpu>{1 + index % 2}</vcpu>"
                 "<os><type>hvm</type></os><devices>"
                 f"<disk type='file' device='disk'><source file='/guest/{name}.img'/>"
                 "<target dev='vda' bus='virtio'/></disk>"
                 f"<interface type='network'><mac address='{mac}'/><source network='default'/></interface>"
                 "</devices>"
                 f"<test:runstate xmlns:test='{TEST_NS}'>{STATES[index % len(STATES)]}</test:runstate></domain>\n")
    return "".join(parts)


def write_node(path, count):
    with open(path, "w", encoding="utf-8") as node:
        node.write("<node>\n")
        for index in range(count):
            node.write(domain_xml(index))
        node.write("</node>\n")


def probe_test_driver(uri):
    """In-process: listAllDomains + getAllDomainStats on the node file; which stats groups work."""
    try:
        import libvirt  # pylint: disable=import-outside-toplevel
    except ImportError:
        return {"error": "libvirt-python not installed for this python"}
    libvirt.registerErrorHandler(lambda *dummy: None, None)
    started = time.monotonic()
    conn = libvirt.open(uri)
    opened = time.monotonic() - started
    started = time.monotonic()
    domains = conn.listAllDomains()
    stats = conn.getAllDomainStats(0, 0)
    bulk = time.monotonic() - started
    supported, unsupported = [], []
    for name in ("state", "cpu_total", "balloon", "vcpu", "interface", "block", "perf", "iothread",
                 "memory", "dirtyrate", "vm"):
        flag = getattr(libvirt, f"VIR_DOMAIN_STATS_{name.upper()}", None)
        if flag is None:
            continue
        try:
            conn.domainListGetStats(domains[:1], flag, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS)
            supported.append(name)
        except libvirt.libvirtError:
            unsupported.append(name)
    states = {}
    for dummy, record in stats:
        states[record.get("state.state")] = states.get(record.get("state.state"), 0) + 1
    conn.close()
    return {"open_s": opened, "list_and_stats_s": bulk, "domains": len(domains), "stats_records": len(stats),
            "supported": supported, "unsupported": unsupported, "states": states}


def ansible_inventory():
    candidate = Path(sys.executable).parent / "ansible-inventory"
    return str(candidate) if candidate.exists() else (shutil.which("ansible-inventory") or "ansible-inventory")


def measure(label, inventory, env, workdir, repeat):
    """Runs `repeat` times, the first one's JSON parsed; returns a result dict."""
    result = {"label": label, "times": [], "peak_rss_mib": 0.0, "hosts": None, "groups": None, "error": None}
    output = workdir / "out.json"
    errors = workdir / "err.txt"
    for attempt in range(repeat):
        with open(output, "w", encoding="utf-8") as out, open(errors, "w", encoding="utf-8") as err:
            status, seconds, rss = run_measured([ansible_inventory(), "-i", str(inventory), "--list"], env, out, err)
        if status != 0:
            tail = errors.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
            result["error"] = f"exit status {status}:\n    " + "\n    ".join(tail)
            return result
        if attempt == 0:
            data = json.loads(output.read_text(encoding="utf-8"))
            result["hosts"] = len(data.get("_meta", {}).get("hostvars", {}))
            result["groups"] = len([key for key in data if key != "_meta"])
        result["times"].append(seconds)
        result["peak_rss_mib"] = max(result["peak_rss_mib"], rss or 0.0)
        print(f"[bench] {label}: run {attempt + 1}/{repeat} {seconds:.2f} s, peak RSS {rss or 0:.0f} MiB",
              file=sys.stderr, flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=1, help="runs (median time, max RSS; default 1)")
    parser.add_argument("--node", help="node file to write (default: a temporary file, removed at the end)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    arguments = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="virtops-bench-10k-"))
    try:
        node = Path(arguments.node).resolve() if arguments.node else workdir / f"node-{arguments.domains}.xml"
        started = time.monotonic()
        write_node(node, arguments.domains)
        print(f"[bench] wrote {node} ({node.stat().st_size / 1e6:.1f} MB, {arguments.domains} domains) "
              f"in {time.monotonic() - started:.1f} s", file=sys.stderr)
        uri = f"test://{node}"
        probe = probe_test_driver(uri)

        farm = workdir / "collections" / "ansible_collections" / "virtops"
        farm.mkdir(parents=True)
        (farm / "libvirt").symlink_to(REPOSITORY)
        env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
        env.update({"ANSIBLE_COLLECTIONS_PATH": str(workdir / "collections"),
                    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
                    "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",
                    "ANSIBLE_NOCOLOR": "true"})
        empty = workdir / "empty.ini"
        empty.write_text("", encoding="utf-8")
        config = workdir / "test10k.libvirt.yml"
        config.write_text(json.dumps({"plugin": "virtops.libvirt.libvirt", "hosts": [{"uri": uri, "name": "test"}]}),
                          encoding="utf-8")
        results = [measure("ansible-inventory, empty inventory (reference)", empty, env, workdir, arguments.repeat)]
        if (REPOSITORY / "plugins" / "inventory" / "libvirt.py").exists():
            results.append(measure(f"virtops.libvirt, test driver, {arguments.domains} domains", config, env,
                                   workdir, arguments.repeat))
        else:
            results.append({"label": "virtops.libvirt", "error": "plugins/inventory/libvirt.py does not exist (yet)"})

        print()
        print(f"test driver ({uri}), in-process probe with libvirt-python:")
        if "error" in probe:
            print(f"  {probe['error']}")
        else:
            print(f"  open {probe['open_s']:.2f} s; listAllDomains + getAllDomainStats {probe['list_and_stats_s']:.2f} s "
                  f"for {probe['domains']} domains ({probe['stats_records']} stats records); states {probe['states']}")
            print(f"  stats groups supported (ENFORCE_STATS): {', '.join(probe['supported'])}; "
                  f"not supported (empty without ENFORCE_STATS): {', '.join(probe['unsupported'])}")
        print()
        print(f"{'case':<56} {'median s':>9} {'peak RSS MiB':>13} {'hosts':>7} {'groups':>7}")
        for result in results:
            if result.get("error"):
                print(f"{result['label']:<56} FAILED: {result['error']}")
                continue
            print(f"{result['label']:<56} {statistics.median(result['times']):>9.2f} "
                  f"{result['peak_rss_mib']:>13.0f} {result['hosts']:>7} {result['groups']:>7}")
        if len(results) > 1 and results[1].get("hosts") is not None and results[1]["hosts"] != arguments.domains:
            print(f"WARNING: listed {results[1]['hosts']} hosts, expected {arguments.domains}")
        if arguments.json:
            Path(arguments.json).write_text(json.dumps({"domains": arguments.domains, "probe": probe,
                                                        "results": results}, indent=2) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
