"""domain_info's gather groups on the test driver."""

import os

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _gather
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
    assert web01["definition"]["memory_kib"] == 524288 and web01["definition"]["vcpus"] == 2
    assert web01["metadata"]["title"] == "Shop front end"
    assert web01["flags"] == {"autostart": False, "persistent": True, "has_managed_save": False, "updated": False}
    assert web01["snapshots"] == {"names": [], "current": None, "items": [], "roots": []}
    assert web01["xml"].startswith("<domain type='test'")
    # the test driver has no job stats: the group says so, the task goes on
    assert "not supported" in web01["jobs"]["error"]


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
    assert tree["items"][0]["children"] == ["b", "c"]


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
    assert [(domain["name"], domain["state"]) for domain in result["domains"]] == [("db01", "shutoff"),
                                                                                 ("nowhere", "absent")]
    assert read == ["db01"]
