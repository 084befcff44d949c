"""Connection loss: the link to a libvirt daemon closes in the middle of a call.

A proxy in front of a real libvirtd (tests/hung_libvirtd.py ClosingProxy) forwards everything until
the client sends a chosen RPC call, then closes both sides without forwarding it, as a daemon that
died or a network path that broke would. Unlike a hang (test_hung_daemon.py), the client learns at
once: nothing has to time out.
"""

import json
import os
import subprocess
import time

import pytest
from ansible_output import plain
from hung_libvirtd import (
    PROC_CONNECT_GET_ALL_DOMAIN_STATS,
    PROC_DOMAIN_CREATE,
    PROC_DOMAIN_CREATE_WITH_FLAGS,
    PROC_DOMAIN_GET_XML_DESC,
    ClosingProxy,
)
from idle_guests import idle_guest_xml

from harness import module_environment, rig_env, run_module

HOST_B_SOCKET = rig_env.HOST_B_URI.split("socket=", 1)[1]
HOST_A_SOCKET = "/run/libvirt/libvirt-sock"
CONNECTION_LOST = ("end of file while reading data", "client socket is closed", "cannot recv data")


@pytest.fixture(scope="module")
def idle_guests(rig):
    """A defined (shut-off) idle guest on each host, on connections of this module's own."""
    names = {"A": f"virtops-t{os.getpid() % 10000}-connloss-a", "B": f"virtops-t{os.getpid() % 10000}-connloss-b"}
    conns = {"A": rig.connect(rig.HOST_A_URI), "B": rig.connect(rig.HOST_B_URI)}
    for host, name in names.items():
        rig_env.cleanup_domain(conns[host], name)
        conns[host].defineXML(idle_guest_xml(name))
    yield names
    for host, name in names.items():
        fresh = rig.connect(rig.HOST_A_URI if host == "A" else rig.HOST_B_URI)
        rig_env.cleanup_domain(fresh, name)
        fresh.close()
    for conn in conns.values():
        try:
            conn.close()
        except Exception:  # pylint: disable=broad-except  # another test's fault broke it
            pass


def run_inventory(tmp_path, names, proxy_uri, strict, environment=None):
    config = tmp_path / "cut.libvirt.yml"
    hosts = [{"uri": rig_env.HOST_A_URI, "name": "host-a"}, {"uri": proxy_uri, "name": "host-b"}]
    config.write_text(json.dumps({"plugin": "virtops.libvirt.libvirt", "hosts": hosts,  # JSON is YAML
                                  "include": sorted(names.values()), "strict_hosts": strict}))
    started = time.monotonic()
    completed = subprocess.run(["ansible-inventory", "-i", str(config), "--list"], capture_output=True, text=True,
                               env={**module_environment(), **(environment or {})}, timeout=120, check=False)
    return completed, time.monotonic() - started


def test_inventory_warns_about_a_host_whose_connection_closes_mid_listing_and_lists_the_others(tmp_path, idle_guests):
    """Guarantee: a libvirt host whose connection closes in the middle of the bulk listing is named in a
    warning, and the guests of the other hosts are still listed (strict_hosts off, the default)."""
    with ClosingProxy(HOST_B_SOCKET, {PROC_CONNECT_GET_ALL_DOMAIN_STATS}) as proxy:
        completed, seconds = run_inventory(tmp_path, idle_guests, proxy.uri, strict=False)
    print(f"inventory with host-b cut mid-listing: {seconds:.1f} s")
    assert proxy.cuts >= 1, "the proxy never saw the listing call: the fault was not injected"
    assert completed.returncode == 0, completed.stderr
    hostvars = plain(json.loads(completed.stdout))["_meta"]["hostvars"]
    assert sorted(hostvars) == [idle_guests["A"]], f"host-a's guest listed, host-b's not: {sorted(hostvars)}"
    warning = " ".join(completed.stderr.split())
    assert "libvirt host host-b" in warning and "could not be read" in warning, completed.stderr
    assert any(text in warning.lower() for text in CONNECTION_LOST), f"the warning says why: {completed.stderr}"
    assert "Traceback" not in completed.stderr
    # ansible-inventory starts up in ~2 s; the closed connection itself costs no waiting
    assert seconds < 15, f"{seconds:.1f} s"


def test_inventory_with_strict_hosts_fails_when_a_connection_closes_mid_listing(tmp_path, idle_guests):
    """Guarantee: with strict_hosts a host whose connection closes mid-listing fails the whole inventory source
    with a message naming the host: nothing of the source is listed. Ansible takes a failed source for an
    unparsed one: ansible-inventory exits non-zero only with its unparsed-is-failed setting (strict_hosts' docs
    say so)."""
    outcomes = {}
    with ClosingProxy(HOST_B_SOCKET, {PROC_CONNECT_GET_ALL_DOMAIN_STATS}) as proxy:
        for unparsed_failed in ("false", "true"):
            outcomes[unparsed_failed] = run_inventory(
                tmp_path, idle_guests, proxy.uri, strict=True,
                environment={"ANSIBLE_INVENTORY_UNPARSED_FAILED": unparsed_failed})
    assert proxy.cuts >= 2, "the proxy did not cut both listings: the fault was not injected"
    for unparsed_failed, (completed, seconds) in outcomes.items():
        print(f"strict inventory with host-b cut mid-listing (unparsed_is_failed {unparsed_failed}): "
              f"rc {completed.returncode} in {seconds:.1f} s")
        message = " ".join(completed.stderr.split())
        assert "libvirt host host-b" in message and "could not be read" in message, completed.stderr
        assert idle_guests["A"] not in completed.stdout, "a failed source lists nothing"
        assert "Traceback" not in completed.stderr
        assert seconds < 15, f"{seconds:.1f} s"
    assert outcomes["false"][0].returncode == 0, "Ansible's default: a warning, not an error"
    assert outcomes["true"][0].returncode != 0, outcomes["true"][0].stdout


def test_a_module_whose_connection_closes_mid_call_fails_cleanly_within_its_timeout(idle_guests):
    """Guarantee: a module whose connection closes in the middle of a libvirt call fails at once with a
    message that names the domain, the call and the lost connection; no traceback."""
    with ClosingProxy(HOST_A_SOCKET, {PROC_DOMAIN_GET_XML_DESC}) as proxy:
        result = run_module("domain_info", {"uri": proxy.uri, "name": idle_guests["A"]})
    print(f"domain_info cut mid-call: failed after {result.seconds:.1f} s")
    assert proxy.cuts >= 1, "the proxy never saw the XML call: the fault was not injected"
    assert result.get("failed"), result
    message = result["msg"]
    assert idle_guests["A"] in message, message
    assert any(text in message.lower() for text in CONNECTION_LOST), message
    assert result.seconds < 10, f"{result.seconds:.1f} s"


def test_a_start_whose_connection_closes_mid_call_fails_cleanly_and_changes_nothing(rig, idle_guests):
    """Guarantee: a domain_state start whose connection closes in the middle of the start call fails at once,
    naming the domain and the lost connection; the domain stays shut off with its definition unchanged."""
    conn = rig.connect(rig.HOST_A_URI)
    try:
        domain = conn.lookupByName(idle_guests["A"])
        before = domain.XMLDesc(0)
        with ClosingProxy(HOST_A_SOCKET, {PROC_DOMAIN_CREATE, PROC_DOMAIN_CREATE_WITH_FLAGS}) as proxy:
            result = run_module("domain_state", {"uri": proxy.uri, "name": idle_guests["A"], "state": "running"})
        print(f"domain_state start cut mid-call: failed after {result.seconds:.1f} s")
        assert proxy.cuts >= 1, "the proxy never saw the start call: the fault was not injected"
        assert result.get("failed"), result
        message = result["msg"]
        assert idle_guests["A"] in message and any(text in message.lower() for text in CONNECTION_LOST), message
        assert result.seconds < 10, f"{result.seconds:.1f} s (the task's timeout is 60 s)"
        assert not domain.isActive() and domain.XMLDesc(0) == before, "nothing half done"
    finally:
        conn.close()
