"""domain_migrate's options: refusals before connecting, and the flags and parameters they become."""

import os

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._migration_options import (
    COPY_STORAGE, MODES, DomainXmls, MigrationOptions)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures")
LIBVIRT_9_0 = 9000000
LIBVIRT_9_4 = 9004000
DISK = "/var/lib/libvirt/images/virtops-lead-prod.qcow2"
PASSWORD = "s3cr3tVN"


def fixture_text(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


LIVE_XML = fixture_text("prod-live.xml")
INACTIVE_XML = fixture_text("prod-defined.xml")
RUNNING_PERSISTENT = DomainXmls(LIVE_XML, INACTIVE_XML)


def params(**overrides):
    """The module's parameters as AnsibleModule hands them over (defaults of the argument spec)."""
    values = dict(
        uri="qemu:///system", dest_uri="qemu+ssh://root@kvm02/system", dest_auth_username=None, dest_auth_password=None,
        peer_uri=None, mode="live", p2p=False, tunnelled=False, tls=False, tls_destination=None, persist=True,
        undefine_source=None, copy_storage="none", migrate_disks=None, synchronous_writes=False, disk_paths=None,
        dest_name=None, dest_xml=None, persist_xml=None, migrate_uri=None, disks_uri=None, disks_port=None,
        listen_address=None, graphics_uri=None, bandwidth=None, postcopy_bandwidth=None, max_downtime=None,
        compression=None, parallel_connections=None, auto_converge=None, zerocopy=False, unsafe=False,
        abort_on_error=False, change_protection=False, rdma_pin_all=False, postcopy=False, postcopy_after=None,
        postcopy_after_iterations=None, postcopy_resume=False, timeout=3600.0, name="prod", parallel=4,
        auth_username=None, auth_password=None,
    )
    values.update(overrides)
    return values


def request(xmls=RUNNING_PERSISTENT, version=LIBVIRT_9_0, **overrides):
    return MigrationOptions.from_params(params(**overrides)).request(xmls, version)


def refused(match, **overrides):
    with pytest.raises(InvalidArgument, match=match):
        MigrationOptions.from_params(params(**overrides))


def test_choices_tables():
    assert MODES == ("live", "paused", "offline")
    assert COPY_STORAGE == ("none", "all", "incremental")


def test_default_is_live_persist_and_undefine_source():
    made = request()
    assert made.flag_names == ("VIR_MIGRATE_LIVE", "VIR_MIGRATE_PERSIST_DEST", "VIR_MIGRATE_UNDEFINE_SOURCE")
    assert made.flags == libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    assert made.params == {}
    assert made.summary() == "migrate(live, persist, undefine source)"


def test_p2p_offline_unsafe_migrate_uri():
    made = request(mode="offline", p2p=True, unsafe=True)
    assert made.flag_names == ("VIR_MIGRATE_PEER2PEER", "VIR_MIGRATE_PERSIST_DEST", "VIR_MIGRATE_UNDEFINE_SOURCE",
                               "VIR_MIGRATE_UNSAFE", "VIR_MIGRATE_OFFLINE")
    assert request(migrate_uri="tcp://10.0.0.2").params == {"migrate_uri": "tcp://10.0.0.2"}
