"""domain_migrate's options: refusals before connecting, and the flags and parameters they become."""

import os

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, UnsupportedOperation
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


# --- flags: every VIR_MIGRATE_* flag is reachable ------------------------------------------------

@pytest.mark.parametrize("overrides, expected", [
    ({"mode": "paused"}, {"VIR_MIGRATE_LIVE", "VIR_MIGRATE_PAUSED"}),
    ({"p2p": True}, {"VIR_MIGRATE_PEER2PEER"}),
    ({"p2p": True, "tunnelled": True}, {"VIR_MIGRATE_PEER2PEER", "VIR_MIGRATE_TUNNELLED"}),
    ({"tls": True}, {"VIR_MIGRATE_TLS"}),
    ({"copy_storage": "all"}, {"VIR_MIGRATE_NON_SHARED_DISK"}),
    ({"copy_storage": "incremental"}, {"VIR_MIGRATE_NON_SHARED_INC"}),
    ({"copy_storage": "all", "synchronous_writes": True},
     {"VIR_MIGRATE_NON_SHARED_DISK", "VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES"}),
    ({"change_protection": True}, {"VIR_MIGRATE_CHANGE_PROTECTION"}),
    ({"unsafe": True}, {"VIR_MIGRATE_UNSAFE"}),
    ({"compression": {}}, {"VIR_MIGRATE_COMPRESSED"}),
    ({"abort_on_error": True}, {"VIR_MIGRATE_ABORT_ON_ERROR"}),
    ({"auto_converge": {}}, {"VIR_MIGRATE_AUTO_CONVERGE"}),
    ({"rdma_pin_all": True, "migrate_uri": "rdma://10.0.0.2"}, {"VIR_MIGRATE_RDMA_PIN_ALL"}),
    ({"postcopy": True}, {"VIR_MIGRATE_POSTCOPY"}),
    ({"parallel_connections": 4}, {"VIR_MIGRATE_PARALLEL"}),
    ({"parallel_connections": 4, "zerocopy": True}, {"VIR_MIGRATE_PARALLEL", "VIR_MIGRATE_ZEROCOPY"}),
    ({"p2p": True, "postcopy": True, "postcopy_resume": True}, {"VIR_MIGRATE_PEER2PEER", "VIR_MIGRATE_POSTCOPY",
                                                                "VIR_MIGRATE_POSTCOPY_RESUME"}),
])
def test_each_option_turns_on_its_flag(overrides, expected):
    base = {"VIR_MIGRATE_LIVE", "VIR_MIGRATE_PERSIST_DEST", "VIR_MIGRATE_UNDEFINE_SOURCE"}
    made = request(**overrides)
    assert set(made.flag_names) == base | expected
    assert made.flags == sum(getattr(libvirt, name) for name in base | expected)


def test_offline_moves_the_definition_without_live():
    made = request(mode="offline")
    assert set(made.flag_names) == {"VIR_MIGRATE_OFFLINE", "VIR_MIGRATE_PERSIST_DEST", "VIR_MIGRATE_UNDEFINE_SOURCE"}


def test_undefine_source_follows_persist_unless_given():
    assert request(persist=False).flag_names == ("VIR_MIGRATE_LIVE",)
    assert request(undefine_source=False).flag_names == ("VIR_MIGRATE_LIVE", "VIR_MIGRATE_PERSIST_DEST")


def test_undefine_source_without_persist_is_allowed_with_a_warning():
    options = MigrationOptions.from_params(params(persist=False, undefine_source=True))
    assert options.request(RUNNING_PERSISTENT, LIBVIRT_9_0).flag_names == ("VIR_MIGRATE_LIVE", "VIR_MIGRATE_UNDEFINE_SOURCE")
    assert "defined nowhere" in options.warnings[0]
    assert MigrationOptions.from_params(params()).warnings == ()


def test_both_postcopy_switch_conditions_may_be_given():
    """The runner switches on whichever comes first (_migration.Convergence)."""
    options = MigrationOptions.from_params(params(postcopy=True, postcopy_after=5, postcopy_after_iterations=2))
    assert (options.postcopy_after, options.postcopy_after_iterations) == (5, 2)


def test_postcopy_resume_without_p2p_adds_change_protection():
    made = request(postcopy=True, postcopy_resume=True)
    assert {"VIR_MIGRATE_CHANGE_PROTECTION", "VIR_MIGRATE_POSTCOPY_RESUME"} <= set(made.flag_names)


def test_flag_names_are_sorted_by_value():
    made = request(p2p=True, tunnelled=True, tls=True, abort_on_error=True, mode="paused")
    values = [getattr(libvirt, name) for name in made.flag_names]
    assert values == sorted(values)
    assert made.summary() == "migrate(live, p2p, tunnelled, persist, undefine source, paused, abort on error, tls)"


# --- parameters: every VIR_MIGRATE_PARAM_* is reachable ------------------------------------------

@pytest.mark.parametrize("overrides, expected", [
    ({"migrate_uri": "tcp://10.0.0.2:49152"}, {"migrate_uri": "tcp://10.0.0.2:49152"}),
    ({"dest_name": "web01-new"}, {"destination_name": "web01-new"}),
    ({"graphics_uri": "spice://kvm02:5901"}, {"graphics_uri": "spice://kvm02:5901"}),
    ({"listen_address": "10.0.0.2"}, {"listen_address": "10.0.0.2"}),
    ({"copy_storage": "all", "disks_uri": "tcp://10.0.0.2:49153"}, {"disks_uri": "tcp://10.0.0.2:49153"}),
    ({"copy_storage": "all", "disks_port": 49153}, {"disks_port": 49153}),
    ({"copy_storage": "all", "migrate_disks": ["vda"]}, {"migrate_disks": ["vda"]}),
    ({"tls": True, "tls_destination": "kvm02.example.com"}, {"tls.destination": "kvm02.example.com"}),
    ({"bandwidth": 500}, {"bandwidth": 500}),
    ({"postcopy": True, "postcopy_bandwidth": 800}, {"bandwidth.postcopy": 800}),
    ({"parallel_connections": 4}, {"parallel.connections": 4}),
    ({"auto_converge": {"initial": 20, "increment": 10}}, {"auto_converge.initial": 20, "auto_converge.increment": 10}),
    ({"auto_converge": {"initial": 30, "increment": None}}, {"auto_converge.initial": 30}),
    ({"compression": {"methods": ["xbzrle", "mt"], "mt_level": 3, "mt_threads": 2, "mt_dthreads": 1,
                      "xbzrle_cache": 67108864}},
     {"compression": ["xbzrle", "mt"], "compression.mt.level": 3, "compression.mt.threads": 2,
      "compression.mt.dthreads": 1, "compression.xbzrle.cache": 67108864}),
])
def test_each_option_becomes_its_parameter(overrides, expected):
    assert request(**overrides).params == expected


@pytest.mark.parametrize("method, level, key", [("zlib", 6, "compression.zlib.level"), ("zstd", 15, "compression.zstd.level")])
def test_multifd_compression_levels(monkeypatch, method, level, key):
    """libvirt-python >= 9.4 has the constants (monkeypatched onto this 9.0 one)."""
    monkeypatch.setattr(libvirt, f"VIR_MIGRATE_PARAM_COMPRESSION_{method.upper()}_LEVEL", key, raising=False)
    made = request(version=LIBVIRT_9_4, parallel_connections=2,
                   compression={"methods": [method], f"{method}_level": level})
    assert made.params == {"parallel.connections": 2, "compression": [method], key: level}


def test_a_level_this_libvirt_python_cannot_type_is_refused_naming_the_client(monkeypatch):
    """Without the constant libvirt-python would send the level as a ullong, which the daemon refuses."""
    monkeypatch.delattr(libvirt, "VIR_MIGRATE_PARAM_COMPRESSION_ZLIB_LEVEL", raising=False)
    with pytest.raises(UnsupportedOperation, match=r"has no VIR_MIGRATE_PARAM_COMPRESSION_ZLIB_LEVEL "
                                                   r"\(needed for compression.zlib_level\)"):
        request(version=LIBVIRT_9_4, parallel_connections=2, compression={"methods": ["zlib"], "zlib_level": 1})


def test_every_flag_and_parameter_of_libvirt_python_has_a_minimum_version():
    from ansible_collections.virtops.libvirt.plugins.module_utils._migration_request import SINCE
    names = {name for name in dir(libvirt) if name.startswith("VIR_MIGRATE_")}
    assert names <= set(SINCE)
    assert len([name for name in SINCE if "_PARAM_" not in name]) == 21
    assert len([name for name in SINCE if "_PARAM_" in name]) == 22


def test_compression_without_methods_sends_no_method_parameter():
    assert request(compression={"methods": None, "mt_level": None}).params == {}
    assert request(compression={"methods": []}).params == {}


# --- the daemon's libvirt version --------------------------------------------------------------

@pytest.mark.parametrize("version, overrides, message", [
    (LIBVIRT_9_0, {"parallel_connections": 2, "compression": {"methods": ["zlib"], "zlib_level": 6}},
     r"compression.methods=zlib needs libvirt >= 9.4.0 on the hypervisor \(it has 9.0.0\)"),
    (LIBVIRT_9_0, {"parallel_connections": 2, "compression": {"methods": ["zstd"]}}, r"compression.methods=zstd needs libvirt >= 9.4.0"),
    (5010000, {"copy_storage": "all", "disks_uri": "tcp://10.0.0.2"}, r"disks_uri needs libvirt >= 6.8.0 on the hypervisor \(it has 5.10.0\)"),
    (8004000, {"parallel_connections": 2, "zerocopy": True}, r"zerocopy needs libvirt >= 8.5.0"),
    (5010000, {"tls": True, "tls_destination": "kvm02"}, r"tls_destination needs libvirt >= 6.0.0"),
    (5001000, {"parallel_connections": 2}, r"parallel_connections needs libvirt >= 5.2.0"),
    (1002000, {"auto_converge": {}}, r"auto_converge needs libvirt >= 1.2.3"),
])
def test_an_option_the_daemon_is_too_old_for_is_refused_naming_it(version, overrides, message):
    with pytest.raises(InvalidArgument, match=message):
        request(version=version, **overrides)


def test_the_daemon_version_is_checked_before_the_client_constants():
    with pytest.raises(InvalidArgument, match=r"compression\.(methods=zlib|zlib_level) needs libvirt >= 9.4.0 on the hypervisor "
                                              r"\(it has 9.3.0\)"):
        request(version=9003000, parallel_connections=2, compression={"methods": ["zlib"], "zlib_level": 1})


# --- refusals before connecting ----------------------------------------------------------------

@pytest.mark.parametrize("overrides, match", [
    ({"tunnelled": True}, "tunnelled requires p2p=true"),
    ({"peer_uri": "qemu+tcp://b/system"}, "peer_uri requires p2p=true"),
    ({"mode": "offline", "persist": False}, "mode=offline requires persist=true"),
    ({"mode": "offline", "copy_storage": "all"}, "copy_storage cannot be used with mode=offline"),
    ({"mode": "offline", "postcopy": True}, "postcopy cannot be used with mode=offline"),
    ({"mode": "offline", "bandwidth": 100}, "bandwidth cannot be used with mode=offline"),
    ({"mode": "offline", "compression": {}}, "compression cannot be used with mode=offline"),
    ({"mode": "offline", "auto_converge": {}}, "auto_converge cannot be used with mode=offline"),
    ({"mode": "offline", "p2p": True, "tunnelled": True}, "tunnelled cannot be used with mode=offline"),
    ({"mode": "offline", "migrate_uri": "tcp://x"}, "migrate_uri cannot be used with mode=offline"),
    ({"postcopy_after": 10}, "postcopy_after requires postcopy=true"),
    ({"postcopy_after_iterations": 3}, "postcopy_after_iterations requires postcopy=true"),
    ({"postcopy_bandwidth": 100}, "postcopy_bandwidth requires postcopy=true"),
    ({"postcopy_resume": True}, "postcopy_resume requires postcopy=true"),
    ({"postcopy": True, "mode": "paused"}, "postcopy cannot be used with mode=paused"),
    ({"postcopy": True, "p2p": True, "tunnelled": True}, "postcopy cannot be used with tunnelled=true"),
    ({"migrate_disks": ["vda"]}, "migrate_disks requires copy_storage"),
    ({"synchronous_writes": True}, "synchronous_writes requires copy_storage"),
    ({"disks_uri": "tcp://x"}, "disks_uri requires copy_storage"),
    ({"disks_port": 49153}, "disks_port requires copy_storage"),
    ({"p2p": True, "tunnelled": True, "migrate_uri": "tcp://x"}, "migrate_uri cannot be used with tunnelled=true"),
    ({"p2p": True, "tunnelled": True, "copy_storage": "all"}, "copy_storage cannot be used with tunnelled=true"),
    ({"zerocopy": True}, "zerocopy requires parallel_connections"),
    ({"tls_destination": "kvm02"}, "tls_destination requires tls=true"),
    ({"persist": False, "persist_xml": "<domain><name>a</name></domain>"}, "persist_xml requires persist=true"),
    ({"rdma_pin_all": True}, "rdma_pin_all requires an rdma:// migrate_uri"),
    ({"rdma_pin_all": True, "migrate_uri": "tcp://x"}, "rdma_pin_all requires an rdma:// migrate_uri"),
    ({"compression": {"mt_level": 3}}, "compression.mt_level tunes the 'mt' method, which is not in compression.methods"),
    ({"compression": {"methods": ["xbzrle"], "zstd_level": 3}}, "compression.zstd_level tunes the 'zstd' method"),
    ({"compression": {"methods": ["xbzrle"], "mt_threads": 2}}, "compression.mt_threads tunes the 'mt' method"),
    ({"compression": {"methods": ["lz4"]}}, "compression.methods: unknown method 'lz4'"),
    ({"compression": {"methods": ["mt", "mt"]}}, "compression.methods: 'mt' is listed twice"),
    ({"compression": {"methods": ["zlib"]}}, "'zlib' requires parallel_connections"),
    ({"compression": {"methods": ["xbzrle"]}, "parallel_connections": 2}, "'xbzrle' cannot be used with parallel_connections"),
    ({"compression": {"methods": ["zlib", "zstd"]}, "parallel_connections": 2}, "parallel migration takes one method"),
    ({"compression": "yes"}, "compression must be a dictionary"),
    ({"compression": {"methods": "mt"}}, "compression.methods must be a list of methods"),
    ({"auto_converge": 50}, "auto_converge must be a dictionary"),
    ({"dest_uri": "qemu:///system"}, "dest_uri 'qemu:///system' is the source host itself"),
    ({"dest_uri": None}, "dest_uri is required"),
    ({"dest_xml": "<domain><name>a</name>"}, "dest_xml is not well-formed XML"),
    ({"persist_xml": "<network/>"}, "persist_xml must be a <domain> definition, not <network>"),
])
def test_contradictions_are_refused_naming_the_option(overrides, match):
    refused(match, **overrides)


def test_dest_uri_is_compared_with_the_default_source_uri(monkeypatch):
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "qemu+tcp://a/system")
    refused("is the source host itself", uri=None, dest_uri="qemu+tcp://a/system")


@pytest.mark.parametrize("option, value, match", [
    ("bandwidth", -1, "bandwidth must be at least 0"),
    ("postcopy_bandwidth", -5, "postcopy_bandwidth must be at least 0"),
    ("max_downtime", -1, "max_downtime must be at least 0"),
    ("disks_port", 70000, "disks_port must be at most 65535"),
    ("parallel_connections", 0, "parallel_connections must be at least 1"),
    ("postcopy_after", -1.5, "postcopy_after must be at least 0"),
    ("postcopy_after_iterations", 0, "postcopy_after_iterations must be at least 1"),
    ("timeout", 0, "timeout must be at least 1"),
    ("compression", {"methods": ["mt"], "mt_level": 10}, "compression.mt_level must be at most 9"),
    ("compression", {"methods": ["zstd"], "zstd_level": 21}, "compression.zstd_level must be at most 20"),
    ("compression", {"methods": ["xbzrle"], "xbzrle_cache": -1}, "compression.xbzrle_cache must be at least 0"),
    ("auto_converge", {"initial": 101}, "auto_converge.initial must be at most 100"),
    ("auto_converge", {"increment": -1}, "auto_converge.increment must be at least 0"),
    ("bandwidth", "fast", "bandwidth must be a number"),
    ("auto_converge", {"initial": True}, "auto_converge.initial must be a number"),
])
def test_numbers_out_of_range_are_refused_naming_the_option(option, value, match):
    refused(match, **{option: value})


@pytest.mark.parametrize("disk_paths, match", [
    ({DISK: "relative/path.qcow2"}, "disk_paths: '/var/lib/libvirt/images/virtops-lead-prod.qcow2' -> 'relative/path.qcow2'"),
    ({DISK: 42}, "both must be absolute paths"),
    ({DISK: None}, "both must be absolute paths"),
    ({DISK: ["/a"]}, "both must be absolute paths"),
    ({"vda": "/srv/vda.qcow2"}, "disk_paths: 'vda' -> '/srv/vda.qcow2': both must be absolute paths"),
    ({1: "/srv/vda.qcow2"}, "both must be absolute paths"),
    ("/a:/b", "disk_paths must be a dictionary"),
])
def test_disk_paths_must_map_absolute_paths(disk_paths, match):
    refused(match, disk_paths=disk_paths)


def test_empty_suboption_dicts_are_accepted():
    options = MigrationOptions.from_params(params(compression={}, auto_converge={}))
    assert options.compression.methods == () and options.auto_converge.initial is None


def test_peer_is_peer_uri_else_dest_uri():
    assert MigrationOptions.from_params(params()).peer == "qemu+ssh://root@kvm02/system"
    assert MigrationOptions.from_params(params(p2p=True, peer_uri="qemu+unix:///system?socket=/a")).peer == \
        "qemu+unix:///system?socket=/a"


def test_dest_credentials_go_to_the_destination_connection_and_not_into_repr():
    options = MigrationOptions.from_params(params(dest_auth_username="admin", dest_auth_password="hunter2"))
    assert (options.dest.auth_username, options.dest.auth_password) == ("admin", "hunter2")
    assert "hunter2" not in repr(options)


# --- disk_paths: the destination XML, rewritten -----------------------------------------------

NEW_DISK = "/srv/vm/virtops-lead-prod.qcow2"


def test_disk_paths_rewrite_the_live_and_persistent_xml_and_keep_the_rest():
    from lxml import etree
    made = request(copy_storage="all", disk_paths={DISK: NEW_DISK})
    destination = etree.fromstring(made.params["destination_xml"])
    persistent = etree.fromstring(made.params["persistent_xml"])
    for rewritten, original_text in ((destination, LIVE_XML), (persistent, INACTIVE_XML)):
        assert rewritten.find("devices/disk/source").get("file") == NEW_DISK
        original = etree.fromstring(original_text)
        original.find("devices/disk/source").set("file", NEW_DISK)
        assert etree.tostring(rewritten) == etree.tostring(original)  # nothing else changed
    # The destination needs the VNC password: it stays in what libvirt gets (XML read with SECURE).
    assert destination.find("devices/graphics").get("passwd") == PASSWORD
    assert persistent.find("devices/graphics").get("passwd") == PASSWORD


def test_the_xml_with_its_password_never_reaches_summary_or_public_params():
    made = request(copy_storage="all", disk_paths={DISK: NEW_DISK}, migrate_uri="tcp://10.0.0.2")
    assert PASSWORD in made.params["destination_xml"]
    assert made.public_params() == {"migrate_uri": "tcp://10.0.0.2"}
    assert PASSWORD not in made.summary() and "<domain" not in made.summary()
    assert PASSWORD not in repr(made)


def test_disk_paths_rewrite_only_the_top_image_not_the_backing_chain():
    from lxml import etree
    chain_xml = fixture_text("disks-live-chain.xml")
    made = request(DomainXmls(chain_xml, None), disk_paths={"/var/lib/libvirt/images/prod-s2.qcow2": "/srv/s2.qcow2"})
    disk = etree.fromstring(made.params["destination_xml"]).find("devices/disk")
    assert disk.find("source").get("file") == "/srv/s2.qcow2"
    assert disk.find("backingStore/source").get("file") == "/var/lib/libvirt/images/prod-s1.qcow2"
    assert "persistent_xml" not in made.params  # a transient domain: nothing persistent to rewrite


def test_a_backing_image_is_not_a_disk_path():
    with pytest.raises(InvalidArgument, match=r"disk_paths: '/var/lib/libvirt/images/prod-s1.qcow2' is not the source of a disk"):
        request(DomainXmls(fixture_text("disks-live-chain.xml"), None),
                disk_paths={"/var/lib/libvirt/images/prod-s1.qcow2": "/srv/s1.qcow2"})


def test_a_disk_path_the_domain_does_not_have_is_refused_naming_it_and_its_disks():
    with pytest.raises(InvalidArgument, match=r"disk_paths: '/nope.qcow2' is not the source of a disk of domain "
                                              r"'virtops-lead-prod' \(its disk sources: " + DISK):
        request(disk_paths={"/nope.qcow2": NEW_DISK})


def test_disk_paths_apply_to_a_given_dest_xml_and_persist_xml():
    from lxml import etree
    given = INACTIVE_XML.replace("listen='127.0.0.1'", "listen='0.0.0.0'")
    made = request(dest_xml=given, persist_xml=given, disk_paths={DISK: NEW_DISK})
    for key in ("destination_xml", "persistent_xml"):
        root = etree.fromstring(made.params[key])
        assert root.find("devices/disk/source").get("file") == NEW_DISK
        assert root.find("devices/graphics").get("listen") == "0.0.0.0"


def test_dest_xml_and_persist_xml_without_disk_paths_are_sent_as_given():
    made = request(dest_xml=LIVE_XML, persist_xml=INACTIVE_XML)
    assert made.params == {"destination_xml": LIVE_XML, "persistent_xml": INACTIVE_XML}
    assert made.public_params() == {}


def test_persistent_xml_is_left_out_without_persist():
    made = request(persist=False, disk_paths={DISK: NEW_DISK})
    assert set(made.params) == {"destination_xml"}


def test_offline_disk_paths_rewrite_the_persistent_definition():
    from lxml import etree
    made = request(DomainXmls(None, INACTIVE_XML), mode="offline", disk_paths={DISK: NEW_DISK})
    for key in ("destination_xml", "persistent_xml"):
        assert etree.fromstring(made.params[key]).find("devices/disk/source").get("file") == NEW_DISK


def test_a_disk_hot_plugged_only_into_the_live_domain_is_rewritten_there_only():
    hot = "/var/lib/libvirt/images/hot.qcow2"
    live = LIVE_XML.replace("<devices>", f"<devices><disk type='file' device='disk'><source file='{hot}'/>"
                                         "<target dev='vdz' bus='virtio'/></disk>", 1)
    made = request(DomainXmls(live, INACTIVE_XML), disk_paths={hot: "/srv/hot.qcow2"})
    assert "/srv/hot.qcow2" in made.params["destination_xml"]
    assert "/srv/hot.qcow2" not in made.params["persistent_xml"]


def test_block_device_sources_are_rewritten_too():
    xml = ("<domain type='qemu'><name>b</name><devices><disk type='block' device='disk'><source dev='/dev/vg/b'/>"
           "<target dev='vda' bus='virtio'/></disk></devices></domain>")
    made = request(DomainXmls(xml, None), disk_paths={"/dev/vg/b": "/dev/vg2/b"})
    assert "<source dev=\"/dev/vg2/b\"/>" in made.params["destination_xml"]


# --- migrate_disks -----------------------------------------------------------------------------

def test_migrate_disks_must_be_targets_of_the_domain():
    with pytest.raises(InvalidArgument, match=r"migrate_disks: domain 'virtops-lead-prod' has no disk 'vdq' \(its disks: vda, sda"):
        request(copy_storage="all", migrate_disks=["vda", "vdq"])


@pytest.mark.parametrize("overrides, match", [
    ({"mode": "cold"}, r"mode: unknown value 'cold'; expected one of live, paused, offline"),
    ({"copy_storage": "some"}, r"copy_storage: unknown value 'some'; expected one of none, all, incremental"),
    ({"disk_paths": {DISK: NEW_DISK, "/var/lib/libvirt/images/other.qcow2": NEW_DISK}},
     r"disk_paths: '/var/lib/libvirt/images/other.qcow2' and '/var/lib/libvirt/images/virtops-lead-prod.qcow2' "
     r"would both be '/srv/vm/virtops-lead-prod.qcow2'"),
])
def test_choices_and_colliding_disk_paths_are_refused(overrides, match):
    refused(match, **overrides)
