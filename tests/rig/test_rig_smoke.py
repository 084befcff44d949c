"""Smoke test of the real test rig: real libvirtd + QEMU (TCG), no Ansible.

Needs `tests/rig/rig up` (as root) first; fails - never skips - when the rig is not up.
Run: python3 -m pytest -q tests/rig/test_rig_smoke.py
"""
import os
import signal
import subprocess
import sys
import time

import libvirt
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # any pytest import mode
import rig_env  # noqa: E402

NAME = "virtops-rig-smoke"

# Live migration between the rig's two "hosts". The data disk is a file on a local
# filesystem, which libvirt calls unsafe to migrate without copying storage (it cannot
# know the destination sees the same file). Here both hosts ARE the same machine and
# open the very same path, so the storage is in fact shared: VIR_MIGRATE_UNSAFE.
MIGRATE_FLAGS = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_UNSAFE


@pytest.fixture(scope="module")
def hosts():
    """(conn_a, conn_b); a clear failure when the rig is not up."""
    try:
        rig_env.check_rig()
    except RuntimeError as e:
        pytest.fail(f"the test rig is not up: {e}", pytrace=False)
    conn_a = rig_env.connect(rig_env.HOST_A_URI)
    conn_b = rig_env.connect(rig_env.HOST_B_URI)
    yield conn_a, conn_b
    conn_a.close()
    conn_b.close()


def _cleanup(hosts):
    errors = []
    for conn in hosts:
        try:
            rig_env.cleanup_domain(conn, NAME)
        except Exception as e:  # keep cleaning the other host
            errors.append(e)
    rig_env.remove_data_disk(NAME)
    return errors


@pytest.fixture(scope="module")
def guest(hosts):
    """The tiny guest with a data disk, started on host A; removed from A and B after."""
    conn_a, _conn_b = hosts
    _cleanup(hosts)  # leftovers of an interrupted earlier run
    try:
        yield rig_env.define_guest(conn_a, NAME, data_disk=True)
    finally:
        errors = _cleanup(hosts)
        assert not errors, f"cleanup of {NAME} failed: {errors}"


def _running_on(conn, other):
    """The domain object of NAME on CONN, asserting it runs there and not on OTHER."""
    dom = conn.lookupByName(NAME)
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING, dom.state()
    try:
        assert not other.lookupByName(NAME).isActive()
    except libvirt.libvirtError as e:
        assert e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
    return dom


def test_guest_boots_on_a_and_agent_answers(guest, hosts):
    conn_a, conn_b = hosts
    took = rig_env.wait_agent(guest, timeout=120)  # as the block and device guest fixtures: a loaded 2-core machine boots TCG slowly
    print(f"agent answered {took:.1f}s after start")
    _running_on(conn_a, conn_b)
    fsinfo = rig_env.agent_command(guest, "guest-get-fsinfo")
    assert [(f["mountpoint"], f["type"]) for f in fsinfo] == [(rig_env.GUEST_DATA_MOUNT,
                                                               "ext4")]


def test_live_migration_a_to_b_and_back(guest, hosts):
    conn_a, conn_b = hosts
    rig_env.wait_agent(guest, timeout=60)

    on_b = guest.migrate(conn_b, MIGRATE_FLAGS, None, rig_env.MIGRATION_URI_TO_B, 0)
    assert on_b is not None
    on_b = _running_on(conn_b, conn_a)
    rig_env.wait_agent(on_b, timeout=30)

    on_a = on_b.migrate(conn_a, MIGRATE_FLAGS, None, rig_env.MIGRATION_URI_TO_A, 0)
    assert on_a is not None
    on_a = _running_on(conn_a, conn_b)
    rig_env.wait_agent(on_a, timeout=30)


SUBREAPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "subreaper.py")


def _parent(pid: int) -> tuple:
    """(pid, command line, comm) of PID's parent."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        parent = int(stat.read().rsplit(")", 1)[1].split()[1])
    with open(f"/proc/{parent}/cmdline", "rb") as cmdline, open(f"/proc/{parent}/comm", encoding="utf-8") as comm:
        return parent, cmdline.read().replace(b"\0", b" ").decode(), comm.read().strip()


@pytest.mark.parametrize("pidfile", ["/run/libvirtd.pid", "/run/virtops-rig/hostb/libvirtd.pid"])
def test_each_libvirtd_has_a_parent_that_reaps_qemu_at_once(hosts, pidfile):  # pylint: disable=unused-argument
    """subreaper.py, or systemd (a libvirtd it runs: left alone by `rig up`). This machine's PID 1 reaps
    QEMU 1.3 s late, and libvirt holds the domain's lock meanwhile."""
    with open(pidfile, encoding="ascii") as pid:
        _pid, command, comm = _parent(int(pid.read()))
    assert "subreaper.py" in command or comm == "systemd", f"{pidfile}: parent {command!r}"


def test_the_subreaper_returns_the_status_and_reaps_the_orphans_then_ends(tmp_path):
    assert subprocess.run([sys.executable, SUBREAPER, "sh", "-c", "exit 3"], timeout=30, check=False).returncode == 3
    pidfile = tmp_path / "orphan.pid"
    # like `libvirtd -d`: the command leaves a background process behind and returns
    started = subprocess.run([sys.executable, SUBREAPER, "sh", "-c", f"sleep 300 </dev/null >/dev/null 2>&1 & echo $! > {pidfile}"],
                             capture_output=True, timeout=30, check=False)  # returns: the reaper let go of our pipes
    assert started.returncode == 0, started.stderr
    orphan = int(pidfile.read_text())
    reaper, command, _comm = _parent(orphan)
    assert "subreaper.py" in command, command
    os.kill(orphan, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{reaper}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{orphan}"), "the orphan was not reaped"
    assert not os.path.exists(f"/proc/{reaper}"), "the reaper outlived its last child"
