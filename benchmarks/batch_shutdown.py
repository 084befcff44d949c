#!/usr/bin/env python
"""Benchmark: graceful shutdown of N guests in one domain_state task vs a loop of N tasks.

Needs the rig (`tests/rig/rig up`, as root). Boots N tiny guests on host A, shuts them down with
one task (name: [list]), boots them again, shuts them down with one task per guest, and prints
both wall times and their ratio. Both runs use the same guests, modes and timeouts.

    python3 benchmarks/batch_shutdown.py [--guests 8]
"""

import argparse
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS / "integration"))

import collection_path  # noqa: E402  pylint: disable=wrong-import-position

collection_path.make_collection_importable()
from harness import rig_env, run_module  # noqa: E402  pylint: disable=wrong-import-position

URI = rig_env.HOST_A_URI


def boot_all(conn, names):
    offsets = {name: rig_env.serial_log_size(name) for name in names}
    for name in names:
        conn.lookupByName(name).create()
    for name in names:
        rig_env.wait_booted(conn.lookupByName(name), timeout=300, since=offsets[name])


def shutdown_args(names):
    return {"uri": URI, "name": names, "state": "shutoff", "shutdown_mode": ["acpi"], "shutdown_timeout": 120}


def timed(function):
    started = time.monotonic()
    function()
    return time.monotonic() - started


def batch(names):
    result = run_module("domain_state", shutdown_args(names))
    assert not result.get("failed"), result.get("msg")
    assert all(domain["state"] == "shutoff" for domain in result["domains"])


def loop(names):
    for name in names:
        result = run_module("domain_state", shutdown_args(name))
        assert result["domain"]["state"] == "shutoff", result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, default=8)
    arguments = parser.parse_args()
    conn = rig_env.connect(URI)
    names = [f"virtops-bench-{index}" for index in range(arguments.guests)]
    try:
        for name in names:
            rig_env.cleanup_domain(conn, name)
            conn.defineXML(rig_env.guest_xml(name, memory_mib=192))
        boot_all(conn, names)
        batch_seconds = timed(lambda: batch(names))
        boot_all(conn, names[:1])
        single_seconds = timed(lambda: loop(names[:1]))
        boot_all(conn, names)
        loop_seconds = timed(lambda: loop(names))
    finally:
        for name in names:
            rig_env.cleanup_domain(conn, name)
        conn.close()
    print(f"guests: {len(names)}")
    print(f"one guest, one task:        {single_seconds:6.2f} s")
    print(f"{len(names)} guests, one task (batch): {batch_seconds:6.2f} s")
    print(f"{len(names)} guests, a task each (loop): {loop_seconds:6.2f} s")
    print(f"batch / one guest: {batch_seconds / single_seconds:5.2f}")
    print(f"loop / batch:      {loop_seconds / batch_seconds:5.2f}")


if __name__ == "__main__":
    main()
