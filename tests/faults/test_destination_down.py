"""Host B's libvirtd killed (SIGKILL: a crash) while host A migrates a guest to it, then started again.

The task ends within its timeout, failing with a message that names host B's lost connection; the guest
keeps running at A (same QEMU, no job left); once B is back nothing of the guest is defined or running
there; the same task run again migrates it, then reports no change. Figures: pytest -s prints them."""

import re
import signal

import libvirt

from daemons import FaultDuring, assert_stayed_at_a, places, start_daemon, stop_daemon
from harness import rig_env, run_module

A = rig_env.HOST_A_URI
B = rig_env.HOST_B_URI


def test_destination_killed_mid_migration(host_a, guest_name):
    """Guarantee: a migration whose destination daemon dies fails clearly within its timeout, the guest
    keeps running at the source, nothing is left at the destination once it is back, and the re-run
    migrates."""
    dom = rig_env.define_guest(host_a, guest_name, data_disk=False)
    dom_id = dom.ID()
    args = {"uri": A, "dest_uri": B, "name": guest_name, "migrate_uri": rig_env.MIGRATION_URI_TO_B,
            "bandwidth": 1, "timeout": 30}
    fault = FaultDuring(lambda: run_module("domain_migrate", args), lambda: stop_daemon("B", signal.SIGKILL),
                        lambda: dom.jobInfo()[0] != libvirt.VIR_DOMAIN_JOB_NONE)
    result = fault.result
    try:
        print(f"destination killed mid-migration: fault at {fault.fault_at:.1f} s, task ended "
              f"{fault.after_fault:.1f} s after the kill ({result.seconds:.1f} s in all)")
        assert result.seconds < 30 + 10, result.seconds
        assert result.get("failed") is True, result
        print(result["msg"])
        assert re.search(r"lost the connection to libvirt at '" + re.escape(B) + "'", result["msg"]), result["msg"]
        # the migration's own failure, reported for the guest by name, even though B cannot be read afterwards
        assert result["msg"].startswith(f"domain '{guest_name}': "), result["msg"]
        assert f"lost the connection to libvirt at '{A}'" not in result["msg"], "A's connection stood"
        assert result["failed_step"] == "migrate" and result["domain"]["location"] == "source", result
    finally:
        back = start_daemon("B")
        print(f"B answered again {back:.2f} s after its start")
    assert_stayed_at_a(guest_name, dom_id)
    again = run_module("domain_migrate", {**args, "bandwidth": None})
    assert not again.get("failed") and again["changed"], again
    assert places(guest_name) == {"A": None, "B": ("running", True)}, again
    idempotent = run_module("domain_migrate", {**args, "bandwidth": None})
    assert not idempotent.get("failed") and idempotent["changed"] is False, idempotent
