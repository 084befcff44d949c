"""domain_backup in-process on the test driver: options that do not apply are refused, checkpoints, retention.

(Backups themselves need QEMU: tests/integration/test_domain_backup.py.)
"""

import json

import libvirt
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.virtops.libvirt.plugins.modules import domain_backup

URI = "test:///default"


def run(capsys, check_mode=False, **args):
    with patch_module_args({"uri": URI, "name": "test", "_ansible_check_mode": check_mode, "_ansible_diff": True,
                            **args}):
        with pytest.raises(SystemExit):
            domain_backup.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def conn():
    connection = libvirt.open(URI)  # the test driver's state is shared by the connections of this process
    yield connection
    for checkpoint in connection.lookupByName("test").listAllCheckpoints(0):
        checkpoint.delete(0)
    connection.close()


def names(conn):
    return sorted(checkpoint.getName() for checkpoint in conn.lookupByName("test").listAllCheckpoints(0))


@pytest.mark.parametrize("args, message", [
    ({}, "nothing to do: give checkpoint, backup or retain"),
    ({"description": "x", "retain": 1, "prefix": "n-"}, "description applies to a checkpoint the task creates"),
    ({"checkpoint": "c", "disks": ["vda"], "backup": {"target_dir": "/b"}}, "disks applies to a checkpoint created alone"),
    ({"state": "absent"}, "state=absent needs checkpoint (to delete it) or backup"),
    ({"state": "absent", "checkpoint": "c", "backup": {}}, "state=absent removes one thing"),
    ({"state": "absent", "checkpoint": "c", "description": "x"}, "description does not apply to state=absent"),
    ({"state": "absent", "checkpoint": "c", "disks": ["vda"]}, "disks does not apply to state=absent"),
    ({"state": "absent", "checkpoint": "c", "retain": 1, "prefix": "c"}, "retain does not apply to state=absent"),
    ({"state": "absent", "backup": {"mode": "pull", "socket": "/s"}},
     "backup.socket does not apply to state=absent: ending the running backup job needs no start option"),
    ({"backup": {"target_dir": "/b", "scratch_dir": "/s"}}, "backup.scratch_dir applies to pull mode only"),
    ({"backup": {"mode": "pull", "scratch_dir": "/s", "socket": "/s", "format": "raw"}},
     "backup.format applies to push mode only"),
    ({"checkpoint": "daily-1", "prefix": "nightly-", "retain": 2}, "does not start with prefix 'nightly-'"),
    ({"checkpoint": "n-1", "prefix": "n-", "retain": 0}, "retain: 0 would delete the new checkpoint 'n-1'"),
    ({"retain": 1}, "parameters are required together: retain, prefix"),
])
def test_options_that_do_not_apply_are_refused_before_any_change(capsys, conn, args, message):
    result = run(capsys, **args)
    assert result["failed"] and message in result["msg"], result
    assert not result.get("changed") and names(conn) == []


def test_a_checkpoint_alone_present_and_absent_with_check_mode_and_diff(capsys, conn):
    predicted = run(capsys, check_mode=True, checkpoint="cp", description="before the upgrade")
    assert predicted["changed"] and predicted["actions"] == ["create checkpoint 'cp'"] and names(conn) == []
    created = run(capsys, checkpoint="cp", description="before the upgrade")
    assert created["actions"] == predicted["actions"] and created["diff"] == predicted["diff"]
    assert created["checkpoint"]["name"] == "cp" and names(conn) == ["cp"]
    assert not run(capsys, checkpoint="cp")["changed"]
    deleted = run(capsys, checkpoint="cp", state="absent")
    assert deleted["actions"] == ["delete checkpoint 'cp'"] and deleted["checkpoint"] is None and names(conn) == []
    assert not run(capsys, checkpoint="cp", state="absent")["changed"]


def test_retention_keeps_the_newest_with_the_prefix_and_counts_the_new_one(capsys, conn):
    for name in ("n-1", "other", "n-2", "n-3"):
        run(capsys, checkpoint=name)
    predicted = run(capsys, check_mode=True, checkpoint="n-4", prefix="n-", retain=2)
    assert predicted["deleted"] == ["n-1", "n-2"] and len(names(conn)) == 4
    assert predicted["actions"] == ["create checkpoint 'n-4'", "delete checkpoint 'n-1'", "delete checkpoint 'n-2'"]
    done = run(capsys, checkpoint="n-4", prefix="n-", retain=2)
    assert done["actions"] == predicted["actions"] and done["diff"] == predicted["diff"]
    assert names(conn) == ["n-3", "n-4", "other"]
    again = run(capsys, checkpoint="n-4", prefix="n-", retain=2)
    assert not again["changed"] and again["deleted"] == []
    pruned = run(capsys, prefix="n-", retain=1)
    assert pruned["deleted"] == ["n-3"] and names(conn) == ["n-4", "other"]


# --- domain_snapshot after the split: snapshots only, options that do not apply refused ---------


def run_snapshot(capsys, **args):
    from ansible_collections.virtops.libvirt.plugins.modules import domain_snapshot  # pylint: disable=import-outside-toplevel
    with patch_module_args({"uri": URI, "name": "test", **args}):
        with pytest.raises(SystemExit):
            domain_snapshot.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("args, message", [
    ({"checkpoint": "cp"}, "Unsupported parameters"),
    ({"snapshot": "s", "backup": {"target_dir": "/b"}}, "Unsupported parameters"),
    ({"prefix": "d-", "retain": 2, "location": "external"},
     "location applies to a snapshot the task creates (snapshot), and the task names none"),
    ({"prefix": "d-", "retain": 2, "memory": False}, "memory applies to a snapshot the task creates"),
    ({"snapshot": "s", "state": "absent", "memory_file": "/m"}, "memory_file does not apply to state=absent"),
    ({"snapshot": "s", "state": "absent", "location": "internal"}, "location does not apply to state=absent"),
    ({"snapshot": "s", "state": "absent", "revert_state": "running"}, "revert_state does not apply to state=absent"),
    ({"snapshot": "s", "children": True}, "children does not apply to state=present"),
    ({"snapshot": "s", "force": True}, "force does not apply to state=present"),
    ({"snapshot": "s", "state": "reverted", "quiesce": True}, "quiesce does not apply to state=reverted"),
    ({"snapshot": "s", "state": "current", "metadata_only": True}, "metadata_only does not apply to state=current"),
    ({"snapshot": "s", "state": "absent", "retain": 1, "prefix": "s"}, "retain does not apply to state=absent"),
])
def test_domain_snapshot_refuses_options_that_do_not_apply(capsys, conn, args, message):
    result = run_snapshot(capsys, **args)
    assert result.get("failed") and message in result["msg"], result
    assert not result.get("changed") and conn.lookupByName("test").snapshotNum(0) == 0


def test_domain_snapshot_still_takes_a_snapshot_with_the_options_that_apply(capsys, conn):
    created = run_snapshot(capsys, snapshot="s1", description="d", location="internal", memory=True)
    assert not created.get("failed"), created
    assert created["changed"] and "checkpoints" not in created
    assert not run_snapshot(capsys, snapshot="s1", state="absent", children=False).get("failed")
    assert conn.lookupByName("test").snapshotNum(0) == 0
