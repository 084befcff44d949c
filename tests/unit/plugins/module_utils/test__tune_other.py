"""domain_tune's interface_bandwidth, perf_events, metadata (tags as the inventory reads them), lifecycle and
rename groups on the test driver (test:///default) through TuneRunner; a perf event the host cannot count on a
small fake (the test driver enables any)."""

import libvirt
import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils import _facts, _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import InvalidArgument, LibvirtCallError, UnsupportedOperation
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import ChangeRecorder
from ansible_collections.virtops.libvirt.plugins.module_utils._tune import TuneRunner
from ansible_collections.virtops.libvirt.plugins.module_utils._tune_metadata import TAGS_NAMESPACE
from ansible_collections.virtops.libvirt.plugins.module_utils._tune_other import ARGUMENT_SPECS, GROUPS, PERF_EVENTS, qemu_lifecycle_problem

from tune_guest import guest_fixture, run_groups

MAC = "52:54:00:12:34:56"
GUEST_XML = f"""<domain type='test'>
  <name>{{name}}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <interface type='network'><mac address='{MAC}'/><source network='default'/><target dev='vnet7'/></interface>
    <interface type='user'><mac address='52:54:00:00:00:02'/></interface>
  </devices>
</domain>"""
LIVE, CONFIG = libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG
ZERO_IN = {"average": 0, "peak": 0, "burst": 0, "floor": 0}
ZERO_OUT = {"average": 0, "peak": 0, "burst": 0}


guest = guest_fixture(GUEST_XML, "unit-tune-other")


def run(domain, check_mode=False, **params):
    return run_groups(GROUPS, domain, check_mode, **params)


def bandwidth(interface, inbound=None, outbound=None):
    return {"interface": interface, "inbound": inbound, "outbound": outbound}


# --- interface_bandwidth ------------------------------------------------------------------------

def test_bandwidth_by_target_device_is_set_live_and_in_config_and_a_second_run_changes_nothing(guest):
    wanted = [bandwidth("testnet0", inbound={"average": 1000, "peak": 2000, "burst": None, "floor": None})]
    result, actions = run(guest, interface_bandwidth=wanted)
    assert actions == ["interface_bandwidth (live): set bandwidth of testnet0: inbound average=1000, peak=2000, burst=0, floor=0",
                       "interface_bandwidth (config): set bandwidth of testnet0: inbound average=1000, peak=2000, burst=0, floor=0"]
    assert result["groups"]["interface_bandwidth"]["before"]["live"] == {"testnet0": {"inbound": ZERO_IN, "outbound": ZERO_OUT}}
    after = {"testnet0": {"inbound": {**ZERO_IN, "average": 1000, "peak": 2000}, "outbound": ZERO_OUT}}
    assert result["groups"]["interface_bandwidth"]["after"] == {"live": after, "config": after}
    for flags in (LIVE, CONFIG):
        found = guest.virdomain.interfaceParameters(MAC, flags)
        assert (found["inbound.average"], found["inbound.peak"]) == (1000, 2000)
    again, actions = run(guest, interface_bandwidth=wanted)
    assert actions == [] and again["groups"]["interface_bandwidth"]["before"] == again["groups"]["interface_bandwidth"]["after"]


def test_bandwidth_keeps_the_values_of_a_direction_not_given_and_matches_a_mac_in_any_case(guest):
    run(guest, interface_bandwidth=[bandwidth(MAC, inbound={"average": 500, "peak": 800})])
    result, actions = run(guest, interface_bandwidth=[bandwidth(MAC.upper(), inbound={"peak": 900},
                                                                outbound={"average": 300})])
    assert actions[0] == (f"interface_bandwidth (live): set bandwidth of {MAC.upper()}: inbound average=500, peak=900, "
                          "burst=0, floor=0; outbound average=300, peak=0, burst=0")
    found = guest.virdomain.interfaceParameters(MAC, CONFIG)
    assert (found["inbound.average"], found["inbound.peak"], found["outbound.average"]) == (500, 900, 300)


def test_an_unknown_interface_is_refused_naming_the_option_and_the_domains_interfaces(guest):
    with pytest.raises(InvalidArgument, match=r"^interface_bandwidth.1.interface: domain .* has no interface 'eth9' "
                                              rf"\(live; its interfaces: {MAC} \(testnet0\), 52:54:00:00:00:02 \(testnet1\)\)$"):
        run(guest, interface_bandwidth=[bandwidth("testnet0", inbound={"average": 10}), bandwidth("eth9", inbound={"average": 1})])
    assert guest.virdomain.interfaceParameters(MAC, LIVE)["inbound.average"] == 0


def test_a_peak_without_an_average_is_refused(guest):
    with pytest.raises(InvalidArgument, match=r"^interface_bandwidth.0.outbound.average: a peak or a burst needs an average"):
        run(guest, interface_bandwidth=[bandwidth("testnet0", outbound={"peak": 10})])


def test_a_floor_on_an_interface_not_of_type_network_is_refused(guest):
    with pytest.raises(InvalidArgument, match=r"^interface_bandwidth.0.inbound.floor: libvirt sets a floor only on an "
                                              r"interface of type network; '52:54:00:00:00:02' is of type user$"):
        run(guest, interface_bandwidth=[bandwidth("52:54:00:00:00:02", inbound={"average": 10, "floor": 5})])


def test_negative_and_twice_given_bandwidths_are_refused(guest):
    with pytest.raises(InvalidArgument, match=r"^interface_bandwidth.0.inbound.burst: must not be negative"):
        run(guest, interface_bandwidth=[bandwidth("testnet0", inbound={"average": 10, "burst": -1})])
    with pytest.raises(InvalidArgument, match=r"^interface_bandwidth.1.interface: 'testnet0' is given twice"):
        run(guest, interface_bandwidth=[bandwidth("testnet0"), bandwidth("testnet0")])


def test_bandwidth_check_mode_predicts_and_changes_nothing(guest):
    result, actions = run(guest, check_mode=True, live=True, interface_bandwidth=[bandwidth("testnet0", outbound={"average": 64})])
    assert len(actions) == 1
    assert result["groups"]["interface_bandwidth"]["after"]["live"]["testnet0"]["outbound"]["average"] == 64
    assert guest.virdomain.interfaceParameters(MAC, LIVE)["outbound.average"] == 0


# --- perf_events -------------------------------------------------------------------------------

def test_perf_events_are_set_where_they_differ(guest):
    result, actions = run(guest, perf_events={"cpu_cycles": True, "instructions": False, "cmt": None})
    assert actions == ["perf_events (live): enable cpu_cycles", "perf_events (config): enable cpu_cycles"]
    assert result["groups"]["perf_events"]["after"]["live"] == {"cpu_cycles": True, "instructions": False}
    assert guest.virdomain.perfEvents(CONFIG)["cpu_cycles"] is True
    assert run(guest, perf_events={"cpu_cycles": True, "instructions": False})[1] == []


def test_the_perf_event_choices_are_libvirts():
    assert set(PERF_EVENTS) <= {getattr(libvirt, name) for name in dir(libvirt) if name.startswith("VIR_PERF_PARAM_")}
    assert set(ARGUMENT_SPECS["perf_events"]["options"]) == set(PERF_EVENTS)


class HostWithoutPerf:
    """TuneCalls of a host whose kernel cannot count cpu_cycles (libvirt's error as QEMU's driver raises it)."""

    def __init__(self, calls):
        self.calls = calls

    def __getattr__(self, name):
        return getattr(self.calls, name)

    def set_perf_events(self, params, flags):
        if params.get("cpu_cycles"):
            raise LibvirtCallError("set perf events failed", code=1,
                                   libvirt_message="internal error: unable to enable host cpu perf event for cpu_cycles")
        self.calls.set_perf_events(params, flags)


def test_a_perf_event_the_host_cannot_count_is_a_clear_error(guest):
    runner = TuneRunner(guest, {"live": None, "config": None, "perf_events": {"cpu_cycles": True}}, GROUPS,
                        ChangeRecorder(False))
    runner.target.calls = HostWithoutPerf(runner.target.calls)
    with pytest.raises(UnsupportedOperation, match=r"^perf_events: the host of domain .* cannot count cpu_cycles "
                                                   r"\(libvirt: internal error: unable to enable host cpu perf event"):
        runner.run()


# --- metadata ----------------------------------------------------------------------------------

def inventory_tags(domain, flags=0):
    """The tags as the inventory plugin and domain_info read them."""
    return _facts.metadata_summary(_xml.parse(domain.virdomain.XMLDesc(flags)), TAGS_NAMESPACE)["tags"]


def test_tags_are_written_as_the_inventory_reads_them_and_their_order_does_not_matter(guest):
    result, actions = run(guest, metadata={"tags": ["web", "prod"], "tags_namespace": TAGS_NAMESPACE})
    assert actions == ["metadata (live): set the tags to web prod", "metadata (config): set the tags to web prod"]
    assert inventory_tags(guest) == ["web", "prod"]
    assert inventory_tags(guest, libvirt.VIR_DOMAIN_XML_INACTIVE) == ["web", "prod"]
    assert result["groups"]["metadata"]["after"]["config"] == {"tags": ["prod", "web"]}
    assert run(guest, metadata={"tags": ["prod", "web", "web"]})[1] == []
    run(guest, metadata={"tags": []})
    assert inventory_tags(guest) == [] and "<metadata" not in guest.virdomain.XMLDesc(0).replace("<metadata/>", "")


def test_tags_in_another_namespace_follow_the_inventorys_tags_namespace(guest):
    run(guest, config=True, metadata={"tags": ["db"], "tags_namespace": "urn:example:tags"})
    root = _xml.parse(guest.virdomain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert _facts.metadata_summary(root, "urn:example:tags")["tags"] == ["db"]
    assert _facts.metadata_summary(root, TAGS_NAMESPACE)["tags"] == []


def test_a_tag_with_a_separator_in_it_is_refused(guest):
    with pytest.raises(InvalidArgument, match=r"^metadata.tags: 'a b' is not one tag"):
        run(guest, metadata={"tags": ["ok", "a b"]})


def test_title_and_description_are_set_and_removed(guest):
    result, actions = run(guest, metadata={"title": "Web server", "description": "serves\nthe web"})
    assert actions == ["metadata (live): set the title", "metadata (live): set the description",
                       "metadata (config): set the title", "metadata (config): set the description"]
    assert result["groups"]["metadata"]["after"]["live"] == {"title": "Web server", "description": "serves\nthe web"}
    assert run(guest, metadata={"title": "Web server"})[1] == []
    result, actions = run(guest, config=True, metadata={"title": ""})
    assert actions == ["metadata (config): remove the title"] and result["pending_restart"] is True
    assert "<title>" not in guest.virdomain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)


def test_a_title_with_a_line_break_is_refused(guest):
    with pytest.raises(InvalidArgument, match=r"^metadata.title: libvirt does not allow a line break"):
        run(guest, metadata={"title": "two\nlines"})


def test_custom_elements_are_set_compared_without_their_namespace_and_removed(guest):
    element = {"namespace": "urn:example:app", "prefix": "app", "xml": "<app role='web'><port>80</port></app>"}
    result, actions = run(guest, metadata={"elements": [element]})
    assert actions == ["metadata (live): set the metadata element of urn:example:app",
                       "metadata (config): set the metadata element of urn:example:app"]
    assert 'xmlns:app="urn:example:app"' in guest.virdomain.XMLDesc(0)
    assert guest.virdomain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, "urn:example:app", CONFIG).startswith("<app")
    # the same element written with its namespace and other whitespace is no difference
    same = {**element, "xml": "<a:app xmlns:a='urn:example:app' role='web'>\n  <a:port>80</a:port>\n</a:app>"}
    assert run(guest, metadata={"elements": [same]})[1] == []
    result, actions = run(guest, live=True, metadata={"elements": [{"namespace": "urn:example:app", "xml": None}]})
    assert actions == ["metadata (live): remove the metadata element of urn:example:app"]
    assert result["groups"]["metadata"]["after"]["live"] == {"elements": {"urn:example:app": None}}
    assert "urn:example:app" not in guest.virdomain.XMLDesc(0)


def test_a_malformed_custom_element_is_refused(guest):
    with pytest.raises(InvalidArgument, match=r"^metadata.elements.0.xml: "):
        run(guest, metadata={"elements": [{"namespace": "urn:x", "xml": "<open>"}]})


def test_metadata_check_mode_predicts_and_changes_nothing(guest):
    result, actions = run(guest, check_mode=True, metadata={"tags": ["a"], "title": "T"})
    assert len(actions) == 4 and result["groups"]["metadata"]["after"]["live"] == {"title": "T", "tags": ["a"]}
    assert inventory_tags(guest) == [] and "<title>" not in guest.virdomain.XMLDesc(0)


# --- lifecycle ---------------------------------------------------------------------------------

def test_lifecycle_actions_are_set_where_they_differ(guest):
    result, actions = run(guest, lifecycle={"on_crash": "preserve", "on_reboot": "restart", "on_poweroff": None})
    assert actions == ["lifecycle (live): set on_crash to preserve", "lifecycle (config): set on_crash to preserve"]
    assert result["groups"]["lifecycle"]["after"]["config"] == {"on_poweroff": "destroy", "on_reboot": "restart",
                                                                "on_crash": "preserve"}
    assert "<on_crash>preserve</on_crash>" in guest.virdomain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert run(guest, lifecycle={"on_crash": "preserve"})[1] == []


def test_lifecycle_choices_leave_coredump_to_on_crash():
    options = ARGUMENT_SPECS["lifecycle"]["options"]
    assert "coredump-restart" in options["on_crash"]["choices"]
    assert "coredump-restart" not in options["on_reboot"]["choices"]


# --- rename ------------------------------------------------------------------------------------

def test_a_shutoff_domain_is_renamed_once(guest):
    connection = guest.connection
    old = guest.name
    new = old.replace("unit-tune-other", "renamed")
    try:
        result, actions = run(guest, rename=new)
        assert actions == [f"rename (config): rename '{old}' to '{new}'"]
        assert result["groups"]["rename"] == {"before": {"config": {"name": old}}, "after": {"config": {"name": new}}}
        # libvirt's domain object keeps its old name: the domain is looked up again by its new one
        assert connection.conn.lookupByName(new).UUIDString() == guest.uuid and guest.name == new
        assert run(guest, rename=new)[1] == []
    finally:
        if new in connection.conn.listDefinedDomains():
            guest.virdomain.rename(old, 0)


def test_a_running_domain_is_not_renamed(guest):
    with pytest.raises(InvalidArgument, match=r"^rename: domain .* is running: libvirt renames only a shut-off domain"):
        run(guest, rename="other-name")


def test_a_rename_to_an_existing_name_is_refused_shutoff(guest):
    with pytest.raises(InvalidArgument, match=r"^rename: a domain named 'test' already exists"):
        run(guest, rename="test")


def test_rename_check_mode_changes_nothing_shutoff(guest):
    old = guest.name
    result, actions = run(guest, check_mode=True, rename="x-new-name")
    assert actions == [f"rename (config): rename '{old}' to 'x-new-name'"]
    assert result["groups"]["rename"]["after"] == {"config": {"name": "x-new-name"}} and guest.virdomain.name() == old


class HostWithoutTrafficControl:
    """TuneCalls of the rig's host: its kernel lacks the tc modules libvirt needs for live bandwidth."""

    def __init__(self, calls, known=("inbound.average", "inbound.peak", "inbound.burst", "inbound.floor",
                                     "outbound.average", "outbound.peak", "outbound.burst")):
        self.calls, self.known, self.set = calls, known, []

    def __getattr__(self, name):
        return getattr(self.calls, name)

    def interface_parameters(self, device, flags):
        return {key: value for key, value in self.calls.interface_parameters(device, flags).items() if key in self.known}

    def set_interface_parameters(self, device, params, flags):
        if flags == LIVE:
            raise LibvirtCallError("set bandwidth failed", code=1, libvirt_message="internal error: Child process "
                                   "(tc qdisc add dev vnet0 parent 1:1 handle 2: sfq perturb 10) unexpected exit status 2")
        self.set.append(params)


def test_bandwidth_the_host_cannot_apply_live_is_a_clear_error_before_the_config_changes(guest):
    runner = TuneRunner(guest, {"live": None, "config": None,
                                "interface_bandwidth": [bandwidth("testnet0", inbound={"average": 100})]},
                        GROUPS, ChangeRecorder(False))
    runner.target.calls = HostWithoutTrafficControl(runner.target.calls)
    with pytest.raises(UnsupportedOperation, match=r"^interface_bandwidth \(live\): libvirt could not set the bandwidth "
                                                   r"of testnet0 of domain .*: internal error: Child process \(tc qdisc"):
        runner.run()
    assert runner.target.calls.set == []


def test_a_bandwidth_value_the_daemon_does_not_offer_is_refused(guest):
    runner = TuneRunner(guest, {"live": None, "config": True,
                                "interface_bandwidth": [bandwidth("testnet0", inbound={"average": 100, "floor": 5})]},
                        GROUPS, ChangeRecorder(False))
    runner.target.calls = HostWithoutTrafficControl(runner.target.calls, known=("inbound.average", "outbound.average"))
    with pytest.raises(InvalidArgument, match=r"^interface_bandwidth.0.inbound.floor: libvirt does not offer it"):
        runner.run()
    assert runner.target.calls.set == []


def test_perf_events_set_in_config_only_on_a_running_domain_are_pending_restart(guest):
    result, actions = run(guest, config=True, perf_events={"task_clock": True})
    assert actions == ["perf_events (config): enable task_clock"] and result["pending_restart"] is True


@pytest.mark.parametrize("actions, refused", [
    ({"on_poweroff": "restart", "on_reboot": "destroy", "on_crash": "destroy"}, ("on_poweroff", "on_reboot")),
    ({"on_poweroff": "preserve", "on_reboot": "restart", "on_crash": "preserve"}, ("on_poweroff",)),
    ({"on_poweroff": "destroy", "on_reboot": "preserve", "on_crash": "destroy"}, ("on_reboot",)),
    ({"on_poweroff": "destroy", "on_reboot": "restart", "on_crash": "rename-restart"}, ("on_crash",)),
])
def test_lifecycle_actions_qemu_never_takes_are_named(actions, refused):
    problem = qemu_lifecycle_problem(actions)
    assert problem is not None and all(f"lifecycle.{option}" in problem for option in refused), problem


def test_lifecycle_actions_qemu_takes_pass():
    for actions in ({"on_poweroff": "destroy", "on_reboot": "restart", "on_crash": "preserve"},
                    {"on_poweroff": "restart", "on_reboot": "restart", "on_crash": "coredump-restart"},
                    {"on_poweroff": "destroy", "on_reboot": "destroy", "on_crash": "destroy"}):
        assert qemu_lifecycle_problem(actions) is None, actions
