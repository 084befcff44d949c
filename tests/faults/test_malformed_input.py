"""Malformed input to every module (the tables: malformed_cases.py): wrong types, negative sizes, unknown
names, malformed XML, XML with entities (billion laughs, an external entity on /etc/shadow), relative and
'..' paths, 5 MiB strings.

One shut-off guest (with a snapshot, so the list is worth comparing) serves the whole file; one running
guest (with a checkpoint) only for the cases whose option is checked against a live domain. Each case runs
its module as Ansible does and compares the rig before and after.
"""

import glob
import json
import os
import time

import libvirt
import pytest

import shared_guest
from harness import rig_env, run_module
from malformed_cases import GUEST, NOSUCH, TABLES

SHUT_OFF = f"virtops-h3-off-{os.getpid() % 100000}"
RUNNING = f"virtops-h3-run-{os.getpid() % 100000}"
SLOWEST = {}  # module -> (seconds, case id): printed for the README row
MODULE_SECONDS = []  # every case's module run


def _with_connection(rig, work, uri=rig_env.HOST_A_URI):
    """WORK(connection to URI), on a connection of its own: H1's daemon restarts break older ones."""
    conn = rig.connect(uri)
    try:
        return work(conn)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def shut_off(rig):
    """The shut-off guest's name; it has one (internal, offline) snapshot."""
    def define(conn):
        rig_env.cleanup_domain(conn, SHUT_OFF)
        dom = rig_env.define_guest(conn, SHUT_OFF, start=False)
        dom.snapshotCreateXML("<domainsnapshot><name>h3-keep</name></domainsnapshot>", 0)
    _with_connection(rig, define)
    yield SHUT_OFF
    shared_guest.remove(SHUT_OFF)


@pytest.fixture(scope="module")
def running(rig):
    """The running guest's name; it has one checkpoint (libvirt makes checkpoints of running domains only)."""
    shared_guest.boot(RUNNING)
    _with_connection(rig, lambda conn: conn.lookupByName(RUNNING).checkpointCreateXML(
        "<domaincheckpoint><name>h3-keep-cp</name></domaincheckpoint>", 0))
    yield RUNNING
    shared_guest.remove(RUNNING)


@pytest.fixture(scope="module", autouse=True)
def report_slowest():
    yield
    for module, (seconds, case) in sorted(SLOWEST.items()):
        print(f"\nH3 slowest {module}: {case} {seconds:.2f} s")
    if MODULE_SECONDS:
        print(f"\nH3 {len(MODULE_SECONDS)} module runs, {sum(MODULE_SECONDS):.1f} s in all")


# What libvirt says when H1's tests restart host A's daemon under a connection (see FAULTS-DESIGN.md).
DAEMON_RESTART = ("End of file while reading data", "client socket is closed", "Cannot recv data",
                  "Cannot write data", "Broken pipe")


def rig_fingerprint(rig, name, patience=60):
    """rig_fingerprint_on fresh connections; again while a daemon restart (H1's tests) is in the way."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return _with_connection(rig, lambda host_a: _with_connection(rig, lambda host_b: rig_fingerprint_on(
                host_a, host_b, name), rig_env.HOST_B_URI))
        except (libvirt.libvirtError, RuntimeError) as error:
            restarting = any(text in str(error) for text in DAEMON_RESTART + ("cannot connect",))
            if not restarting or time.monotonic() > deadline:
                raise
            time.sleep(0.5)  # the restarted daemon takes ~0.15 s to listen again


def rig_fingerprint_on(host_a, host_b, name):
    """What a refused task must leave as it was: the guest's definitions, state, job, snapshots and
    checkpoints; no trace of it (or of the unknown domain) on host B; no file the cases name."""
    dom = host_a.lookupByName(name)
    return {
        "inactive_xml": dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE),
        "live_xml": dom.XMLDesc(0),
        "state": dom.state()[0],
        "job": dom.jobStats(0).get("type", 0) if dom.isActive() else 0,  # e.g. a pull backup left exporting
        "snapshots": sorted(s.getName() for s in dom.listAllSnapshots(0)),
        "checkpoints": sorted(c.getName() for c in dom.listAllCheckpoints(0)),
        "on_b": sorted(d.name() for d in host_b.listAllDomains() if d.name() in (name, NOSUCH)),
        "nosuch_on_a": [d.name() for d in host_a.listAllDomains() if d.name() == NOSUCH],
        "files": sorted(glob.glob(f"{rig_env.IMAGES_DIR}/*h3-*") + glob.glob("/tmp/h3*")
                        + glob.glob("/var/lib/libvirt/*h3*") + glob.glob(os.path.join(os.getcwd(), "*h3*"))),
    }


def fill(value, name):
    if isinstance(value, dict):
        return {key: fill(item, name) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, name) for item in value]
    if isinstance(value, str) and GUEST in value:
        return value.replace(GUEST, name)
    return value


def short(text, limit=300):
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


CASES = [(module, case) for module, table in TABLES.items() for case in table]


@pytest.mark.parametrize("module,case", CASES, ids=[f"{module}-{case.id}" for module, case in CASES])
def test_malformed_input_is_refused(request, rig, shut_off, module, case):
    """Guarantee: a bad option value fails the task with a message naming the option (or the unknown
    thing), without a traceback, before anything changes: the guest's XML (inactive and live), state,
    snapshots and checkpoints are as before, nothing appears on host B or on disk, and XML entities are
    never expanded (no /etc/shadow content, no billion laughs) in the result."""
    name = request.getfixturevalue("running") if case.running else shut_off
    before = rig_fingerprint(rig, name)
    result = run_module(module, fill(case.args, name))
    if any(text in str(result.get("msg", "")) for text in DAEMON_RESTART + ("libvirt-sock",)):
        rig_fingerprint(rig, name)  # H1 restarted the daemon under this run: wait until it is back, run once more
        result = run_module(module, fill(case.args, name))
    after = rig_fingerprint(rig, name)
    seconds = result.seconds
    MODULE_SECONDS.append(seconds)
    if seconds > SLOWEST.get(module, (0, ""))[0]:
        SLOWEST[module] = (seconds, case.id)
    summary = short(json.dumps({key: short(value) for key, value in result.items() if key != "invocation"}))
    assert result.get("failed") is True, f"{module} {case.id} did not fail: {summary}"
    assert result.get("changed") is not True, summary
    msg = str(result.get("msg", ""))
    named = case.names.lower() in msg.lower()
    assert named, f"msg does not name {case.names!r}: {short(msg)}"
    assert after == before, f"{module} {case.id} changed the rig: {summary}"
    everything = json.dumps(result)
    assert "root:" not in everything and "lollollol" not in everything, "an XML entity was expanded"
    assert seconds < 10, f"{module} {case.id} took {seconds:.1f} s to fail"
