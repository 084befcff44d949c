"""domain_info's gather groups on the test driver."""

import os

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _facts, _gather
from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection, ConnectionParams
from ansible_collections.virtops.libvirt.plugins.module_utils._domain import Domain
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, WaitTimeout

FIXTURE_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")
FLEET_URI = "test://" + os.path.abspath(os.path.join(FIXTURE_DIR, "fleet-node.xml"))


@pytest.fixture
def connection():
    with Connection(ConnectionParams(uri=FLEET_URI)) as opened:
        yield opened


def test_every_group_reads_or_reports_in_place(connection):
    facts = _gather.gather(connection, None, _gather.GatherOptions(gather=list(_gather.GATHER_GROUPS)))
    assert [domain["name"] for domain in facts] == ["db01", "web-{{ 7 * 7 }}", "web01"]
    web01 = facts[2]
    groups = ["state", "definition", "xml", "stats", "block", "jobs", "vcpus", "tuning", "snapshots", "checkpoints",
              "addresses", "guest", "security", "messages", "metadata", "flags"]
    assert len(groups) == 16 and sorted(_gather.GATHER_GROUPS) == sorted(groups)
    assert set(web01) == {"name", "uuid", "id", "state", "reason", "persistent", "autostart", "has_managed_save",
                          *groups}
    # state
    assert (web01["uuid"], web01["id"], web01["state"], web01["persistent"]) == (
        "11111111-1111-4111-8111-111111111111", 1, "running", True)
    # definition
    definition = web01["definition"]
    assert definition["memory_kib"] == 524288 and definition["vcpus"] == 2 and definition["type"] == "test"
    assert [disk["source"] for disk in definition["disks"]] == ["/images/web01.qcow2"]
    assert [nic["mac"] for nic in definition["interfaces"]] == ["52:54:00:00:00:01"]
    # xml
    assert web01["xml"].startswith("<domain type='test'") and "<name>web01</name>" in web01["xml"]
    # stats: the test driver knows only the state group, whose values are the top-level state facts
    assert web01["stats"] == {}
    # block
    assert web01["block"]["disks"]["vda"]["capacity"] > 0 and set(web01["block"]["errors"]) == {"vda"}
    # jobs: the test driver has no job stats: the group says so, the task goes on
    assert "not supported" in web01["jobs"]["error"]
    # vcpus
    assert [vcpu["number"] for vcpu in web01["vcpus"]["vcpus"]] == [0, 1]
    assert len(web01["vcpus"]["pinning"]) == 2 and web01["vcpus"]["iothreads"] == []
    # tuning
    assert set(web01["tuning"]) == {"memory", "blkio", "numa", "scheduler", "perf", "block_iotune"}
    assert "hard_limit" in web01["tuning"]["memory"] and set(web01["tuning"]["block_iotune"]) == {"vda"}
    assert "unavailable" in web01["tuning"]["scheduler"]
    # snapshots, checkpoints
    assert web01["snapshots"] == {"names": [], "current": None, "list": [], "roots": []}
    assert web01["checkpoints"] == {"names": [], "current": None, "list": [], "roots": []}
    # addresses: no lease, no agent, no ARP entry on the test driver
    assert web01["addresses"] == []
    # guest, security: not in the test driver, reported in place
    assert "virDomainGetGuestInfo" in web01["guest"]["error"]
    assert "virDomainGetSecurityLabelList" in web01["security"]["error"]
    # messages
    assert web01["messages"] == []
    # metadata
    assert web01["metadata"]["title"] == "Shop front end"
    assert web01["metadata"]["description"] == "{{ lookup('pipe', 'id') }}"
    assert list(web01["metadata"]["custom"]) == ["https://virtops.example.org/xmlns/tags/1.0"]
    # flags
    assert web01["flags"] == {"autostart": False, "persistent": True, "has_managed_save": False, "updated": False}
    # a shut-off domain: the groups that need a running domain say so with empty answers, not errors
    db01 = facts[0]
    assert db01["state"] == "shutoff" and db01["addresses"] == [] and db01["guest"] == {}
    assert db01["jobs"] == {"type": "none"} and db01["security"] == []


def test_a_subset_keeps_the_order_given(connection):
    domains = [Domain.lookup(connection, name="web01"), Domain.lookup(connection, name="db01")]
    facts = _gather.gather(connection, domains, _gather.GatherOptions(gather=["state"]))
    assert [domain["name"] for domain in facts] == ["web01", "db01"]
    assert facts[1]["state"] == "shutoff" and "definition" not in facts[1]


def test_unknown_group_is_refused(connection):
    with pytest.raises(InvalidArgument, match="gather: unknown group"):
        _gather.gather(connection, None, _gather.GatherOptions(gather=["state", "everything"]))


def test_a_hanging_call_is_bounded():
    with pytest.raises(WaitTimeout, match="did not answer"):
        _gather._bounded(lambda: __import__("time").sleep(5), 0.2, "the agent did not answer")


def test_snapshot_tree():
    tree = _gather._tree([
        {"name": "a", "parent": None, "creation_time": 1, "current": False},
        {"name": "b", "parent": "a", "creation_time": 2, "current": True},
        {"name": "c", "parent": "a", "creation_time": 3, "current": False},
    ])
    assert tree["names"] == ["a", "b", "c"] and tree["current"] == "b" and tree["roots"] == ["a"]
    assert tree["list"][0]["children"] == ["b", "c"]


class FakeModule:
    """What domain_info.run uses of DomainModule."""

    def __init__(self, **params):
        self.params = {"name": None, "uuid": None, "states": None, "gather": ["state"], "stats": [],
                       "address_sources": ["lease"], "agent_timeout": 5, "tags_namespace": None, "parallel": 2,
                       **params}

    def connect(self):
        return Connection(ConnectionParams(uri=FLEET_URI))


def test_the_states_filter_applies_before_any_per_domain_read(monkeypatch):
    from ansible_collections.virtops.libvirt.plugins.modules import domain_info
    read = []
    original = _gather.DomainReader.definition
    monkeypatch.setattr(_gather.DomainReader, "definition",
                        lambda reader: read.append(reader.domain.name) or original(reader))
    result = domain_info.run(FakeModule(states=["running"], gather=["state", "definition"]))
    assert [domain["name"] for domain in result["domains"]] == ["web01"]
    assert read == ["web01"]
    read.clear()
    result = domain_info.run(FakeModule(name=["db01", "web01", "nowhere"], states=["shutoff", "absent"],
                                        gather=["definition"]))
    found = [(domain["name"], domain["state"]) for domain in result["domains"]]
    assert found == [("db01", "shutoff"), ("nowhere", "absent")]
    assert read == ["db01"]


def render(expression, variables):
    """`expression` templated by ansible-core's own Templar, as a playbook would."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    try:
        from ansible.template import trust_as_template  # ansible-core 2.19+: only trusted strings are templated
    except ImportError:
        def trust_as_template(value):
            return value
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


def test_snapshot_and_guest_lists_are_usable_in_jinja():
    with Connection(ConnectionParams(uri="test:///default"), events=False) as opened:
        test = Domain.lookup(opened, name="test")
        for name in ("a", "b"):
            test.virdomain.snapshotCreateXML(f"<domainsnapshot><name>{name}</name></domainsnapshot>", 0)
        try:
            facts = _gather.gather(opened, [test], _gather.GatherOptions(gather=["snapshots", "checkpoints"]))[0]
        finally:
            for snapshot in test.virdomain.listAllSnapshots(0):
                snapshot.delete(0)
    guest = _facts.nest_stats({"fs.count": 2, "fs.0.name": "vda1", "fs.0.mountpoint": "/",
                               "fs.1.name": "vdb", "fs.1.mountpoint": "/mnt/data", "user.count": 1,
                               "user.0.name": "root"})
    variables = {"t": {"domain": {**facts, "guest": guest}}}
    assert render("{{ t.domain.snapshots.list | map(attribute='name') | list }}", variables) == ["a", "b"]
    assert str(render("{{ t.domain.checkpoints.list | length }}", variables)) == "0"  # a string before 2.19
    assert render("{{ t.domain.guest.fs.list | map(attribute='mountpoint') | list }}", variables) == ["/", "/mnt/data"]
    assert render("{{ t.domain.guest.user.list[0].name }}", variables) == "root"


def test_a_stats_group_this_libvirt_lacks_fails_only_when_stats_are_read(connection, monkeypatch):
    import libvirt
    from ansible_collections.virtops.libvirt.plugins.module_utils._errors import UnsupportedOperation
    monkeypatch.delattr(libvirt, "VIR_DOMAIN_STATS_DIRTYRATE", raising=False)
    facts = _gather.gather(connection, None, _gather.GatherOptions(gather=["state", "flags"]))  # default stats list
    assert [domain["name"] for domain in facts] == ["db01", "web-{{ 7 * 7 }}", "web01"]
    with pytest.raises(UnsupportedOperation, match="has no VIR_DOMAIN_STATS_DIRTYRATE"):
        _gather.gather(connection, None, _gather.GatherOptions(gather=["stats"], stats=["state", "dirtyrate"]))
    with pytest.raises(InvalidArgument, match="unknown stats group 'cpus'"):
        _gather.gather(connection, None, _gather.GatherOptions(gather=["state"], stats=["cpus"]))
