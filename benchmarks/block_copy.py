#!/usr/bin/env python
"""Benchmark: domain_block's copy + pivot against `virsh blockcopy --wait --pivot` on the same 1 GiB disk.

Needs the rig (`tests/rig/rig up`, as root). Shares the machine's heavy-job lock:

    flock /tmp/virtops-migrate.lock python3 benchmarks/block_copy.py [--rounds 3] [--size-mib 1024]

One running tiny guest gets a second disk (vdb) of --size-mib MiB, all of it written. Each round copies
it with virsh and with the module (interleaved, alternating between two files), and prints both times,
their ratio (the issue's bound: module <= 1.1 x virsh), and how long after libvirt's last block-job
event (the pivot's COMPLETED) the module's process ended (bound: 0.5 s). The guest and its files are
removed at the end, also on failure.
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS / "integration"))

import collection_path  # noqa: E402  pylint: disable=wrong-import-position

collection_path.make_collection_importable()
import libvirt  # noqa: E402  pylint: disable=wrong-import-position
from harness import rig_env, run_module  # noqa: E402  pylint: disable=wrong-import-position

URI = rig_env.HOST_A_URI
NAME = f"{rig_env.PREFIX}bench-block-{os.getpid()}"


def image(suffix):
    return f"{rig_env.IMAGES_DIR}/{NAME}-{suffix}.qcow2"


def filled_disk(path, size_mib):
    """A qcow2 of SIZE_MIB MiB with every cluster written (a copy moves all of it)."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, f"{size_mib}M"], check=True)
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P 0x5a 0 {size_mib}M", path], check=True,
                   capture_output=True)
    os.chmod(path, 0o644)
    return path


class LastEvent:
    """The time (monotonic) of the last block-job event of the guest, from this process's own listener."""

    def __init__(self):
        self.at = None

    def callback(self, _conn, _dom, _disk, _type, _status, _opaque):
        self.at = time.monotonic()


def run_virsh(destination):
    started = time.monotonic()
    subprocess.run(["virsh", "-q", "-c", URI, "blockcopy", NAME, "vdb", destination, "--wait", "--pivot",
                    "--transient-job"],
                   check=True, capture_output=True)
    return time.monotonic() - started


def run_domain_block(destination):
    result = run_module("domain_block", {"uri": URI, "name": NAME, "disk": "vdb", "job": "copy",
                                         "destination": destination})
    if result.get("failed"):
        raise RuntimeError(result["msg"])
    return result


def run_event_loop():
    while True:
        libvirt.virEventRunDefaultImpl()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    libvirt.virEventRegisterDefaultImpl()
    threading.Thread(target=run_event_loop, daemon=True).start()
    conn = rig_env.connect(URI)
    paths = [image("one"), image("two")]
    try:
        filled_disk(paths[0], args.size_mib)
        extra = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{paths[0]}'/>"
                 "<target dev='vdb' bus='virtio'/></disk>")
        dom = rig_env.define_guest(conn, NAME, extra_devices=extra)
        rig_env.wait_agent(dom, timeout=120)
        last = LastEvent()
        conn.domainEventRegisterAny(dom, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2, last.callback, None)
        virsh_times, module_times, lags = [], [], []
        current = 0
        for number in range(args.rounds):
            for label in ("virsh", "module"):
                destination = paths[1 - current]
                if os.path.exists(destination):
                    os.unlink(destination)
                if label == "virsh":
                    virsh_times.append(run_virsh(destination))
                else:
                    result = run_domain_block(destination)
                    module_times.append(result.seconds)
                    lags.append(result.finished_at - last.at)
                current = 1 - current
            print(f"round {number + 1}: virsh {virsh_times[-1]:.2f} s, domain_block {module_times[-1]:.2f} s "
                  f"(ended {lags[-1]:.2f} s after the last block-job event)", flush=True)
        virsh_median, module_median = statistics.median(virsh_times), statistics.median(module_times)
        print(f"median: virsh {virsh_median:.2f} s, domain_block {module_median:.2f} s, "
              f"ratio {module_median / virsh_median:.2f} (bound 1.10); "
              f"largest lag after the last event {max(lags):.2f} s (bound 0.50)")
    finally:
        rig_env.cleanup_domain(conn, NAME)
        for path in paths:
            if os.path.exists(path):
                os.unlink(path)
        rig_env.remove_data_disk(NAME)
        conn.close()


if __name__ == "__main__":
    main()
