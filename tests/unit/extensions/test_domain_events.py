"""The EDA event source extensions/eda/plugins/event_source/domain_events.py: its main() driven with an
asyncio.Queue against libvirt's test driver, loaded the way ansible-rulebook loads it (runpy.run_path of
the file inside an ansible_collections/ tree)."""

import asyncio
import contextlib
import importlib.util
import os
import re
import runpy
import subprocess
import sys
import threading
import time
import uuid

import libvirt
import pytest
import yaml

import collection_path
from ansible_collections.virtops.libvirt.plugins.module_utils import _event_names, _event_source
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import ConnectionFailed, InvalidArgument
from ansible_collections.virtops.libvirt.plugins.module_utils._event_types import EVENT_TYPES, select_event_types

TEST_URI = "test:///default"
PLUGIN_PATH = os.path.join(collection_path.COLLECTION_FARM, "ansible_collections", "virtops", "libvirt", "extensions",
                           "eda", "plugins", "event_source", "domain_events.py")
PLUGIN = runpy.run_path(PLUGIN_PATH)
GUEST_XML = "<domain type='test'><name>{name}</name><memory unit='MiB'>64</memory><os><type>hvm</type></os></domain>"
UNREACHABLE = "qemu+unix:///system?socket=/nonexistent/libvirt-sock"


@pytest.fixture
def acting():
    """A connection of the test's own to the shared test:///default state, to cause events."""
    connection = libvirt.open(TEST_URI)
    yield connection
    connection.close()


@pytest.fixture
def guest_name():
    return f"unit-eda-{uuid.uuid4().hex[:8]}"


def run_source(args, scenario):
    """Run the plugin's main(queue, args) and `await scenario(queue)` beside it; then cancel the source."""
    async def both():
        queue = asyncio.Queue()
        source = asyncio.create_task(PLUGIN["main"](queue, args))
        try:
            return await scenario(queue, source)
        finally:
            source.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await source
    return asyncio.run(both())


async def next_event(queue, timeout=5.0):
    return await asyncio.wait_for(queue.get(), timeout)


async def connected(queue):
    event = await next_event(queue)
    assert (event["type"], event["details"]["state"]) == ("connection", "connected"), event
    return event


def integers_in(value):
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        return [found for item in value.values() for found in integers_in(item)]
    if isinstance(value, (list, tuple)):
        return [found for item in value for found in integers_in(item)]
    return []


def test_lifecycle_events_arrive_in_order_with_names_not_numbers(acting, guest_name):
    expected_uuid = []

    async def scenario(queue, _source):
        await connected(queue)
        virdomain = acting.defineXML(GUEST_XML.format(name=guest_name))
        expected_uuid.append(virdomain.UUIDString())
        try:
            for action in (virdomain.create, virdomain.destroy, virdomain.create, virdomain.suspend, virdomain.resume):
                action()
            return [await next_event(queue) for _event in range(6)]
        finally:
            virdomain.destroy()
            virdomain.undefine()

    events = run_source({"uris": [TEST_URI], "events": ["lifecycle"], "domains": [guest_name]}, scenario)
    assert [(event["type"], event["details"]["event"], event["details"]["detail"]) for event in events] == [
        ("lifecycle", "defined", "added"), ("lifecycle", "started", "booted"), ("lifecycle", "stopped", "destroyed"),
        ("lifecycle", "started", "booted"), ("lifecycle", "suspended", "paused"), ("lifecycle", "resumed", "unpaused")]
    assert [event["details"]["state"] for event in events] == [None, "running", "shutoff", "running", "paused", "running"]
    assert not integers_in([event["details"] for event in events])
    first = events[0]
    assert (first["host"], first["uri"], first["domain"]) == (TEST_URI, TEST_URI, guest_name)
    assert {event["uuid"] for event in events} == set(expected_uuid)


def test_domain_patterns_keep_only_matching_domains(acting, guest_name):
    async def scenario(queue, _source):
        await connected(queue)
        other = acting.defineXML(GUEST_XML.format(name=f"other-{guest_name}"))
        mine = acting.defineXML(GUEST_XML.format(name=guest_name))
        other.undefine()
        mine.undefine()
        return [await next_event(queue) for _event in range(2)]

    events = run_source({"uris": TEST_URI, "domains": ["unit-eda-*"], "events": "lifecycle"}, scenario)
    assert [(event["domain"], event["details"]["event"]) for event in events] == [
        (guest_name, "defined"), (guest_name, "undefined")]


def test_a_named_uri_gives_the_events_its_host_name(acting, guest_name):
    async def scenario(queue, _source):
        first = await connected(queue)
        acting.defineXML(GUEST_XML.format(name=guest_name)).undefine()
        return first, await next_event(queue)

    first, event = run_source({"uris": [{"uri": TEST_URI, "name": "hostA"}], "domains": [guest_name]}, scenario)
    assert first["host"] == event["host"] == "hostA"


def test_an_event_arrives_within_a_second_of_the_call(acting, guest_name):
    async def scenario(queue, _source):
        await connected(queue)
        virdomain = acting.defineXML(GUEST_XML.format(name=guest_name))
        returned = time.monotonic()
        await next_event(queue)
        arrived = time.monotonic()
        virdomain.undefine()
        return arrived - returned

    assert run_source({"uris": [TEST_URI], "domains": [guest_name]}, scenario) < 1.0


def test_an_unknown_event_type_fails_the_start_listing_the_valid_ones():
    async def scenario(_queue, source):
        return await asyncio.wait_for(source, 5)

    with pytest.raises(InvalidArgument, match="unknown event type.*crashd: expected some of lifecycle") as raised:
        run_source({"uris": [TEST_URI], "events": ["lifecycle", "crashd"]}, scenario)
    assert all(name in str(raised.value) for name in EVENT_TYPES)


def test_an_unknown_argument_fails_the_start():
    async def scenario(_queue, source):
        return await asyncio.wait_for(source, 5)

    with pytest.raises(InvalidArgument, match="unknown argument.*domain: expected some of uris, domains"):
        run_source({"uris": [TEST_URI], "domain": ["web*"]}, scenario)


def test_an_unreachable_uri_at_the_start_fails_naming_it():
    async def scenario(_queue, source):
        return await asyncio.wait_for(source, 10)

    with pytest.raises(ConnectionFailed, match=r"cannot connect to libvirt at 'qemu\+unix:///system\?socket=/nonexistent"):
        run_source({"uris": [TEST_URI, UNREACHABLE]}, scenario)


def recorded_streams(monkeypatch, failures=0):
    """Every stream the source opens; the `failures` reconnections after the first open fail."""
    streams = []
    original = _event_source.HostWatch.open_stream
    left = [failures]

    def recording(self):
        if streams and left[0]:
            left[0] -= 1
            raise ConnectionFailed("cannot connect to libvirt at 'test:///default': Connection refused")
        stream = original(self)
        streams.append(stream)
        return stream

    monkeypatch.setattr(_event_source.HostWatch, "open_stream", recording)
    return streams


def break_connection(stream, reason=libvirt.VIR_CONNECT_CLOSE_REASON_EOF):
    """What libvirt's event-loop thread does when the daemon goes away: the close callback."""
    thread = threading.Thread(target=stream._closed, args=(reason,))  # pylint: disable=protected-access
    thread.start()
    thread.join()


def test_a_broken_connection_is_reported_reconnected_and_events_still_arrive(monkeypatch, acting, guest_name):
    streams = recorded_streams(monkeypatch)

    async def scenario(queue, _source):
        await connected(queue)
        break_connection(streams[0])
        lost, back = await next_event(queue), await next_event(queue)
        acting.defineXML(GUEST_XML.format(name=guest_name)).undefine()
        return lost, back, await next_event(queue)

    lost, back, later = run_source({"uris": [TEST_URI], "domains": [guest_name], "reconnect_delay": 0.05}, scenario)
    assert (lost["type"], lost["details"]) == ("connection", {"state": "disconnected", "reason": "eof"})
    assert (back["type"], back["details"]["state"], back["details"]["attempts"]) == ("connection", "reconnected", 1)
    assert (later["type"], later["domain"], later["details"]["event"]) == ("lifecycle", guest_name, "defined")
    assert len(streams) == 2 and streams[0].connection._conn is None, "the broken connection is closed"  # pylint: disable=protected-access


def test_reconnection_attempts_back_off(monkeypatch):
    streams = recorded_streams(monkeypatch, failures=2)

    async def scenario(queue, _source):
        await connected(queue)
        break_connection(streams[0], libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE)
        lost = await next_event(queue)
        started = time.monotonic()
        back = await next_event(queue)
        return lost, back, time.monotonic() - started

    lost, back, waited = run_source({"uris": [TEST_URI], "reconnect_delay": 0.1, "reconnect_max_delay": 0.2}, scenario)
    assert lost["details"] == {"state": "disconnected", "reason": "keepalive"}
    assert back["details"]["attempts"] == 3
    assert 0.1 + 0.2 + 0.2 <= waited < 2.0, "waits of 0.1, then doubled but at most 0.2 seconds"


def test_backoff_doubles_up_to_its_maximum():
    backoff = _event_source.Backoff(1.0, 5.0)
    assert [backoff.delay() for _attempt in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_bad_backoff_settings_are_refused():
    with pytest.raises(InvalidArgument, match="reconnect_delay must be a number of seconds above 0, got 'soon'"):
        _event_source.SourceOptions.from_args({"reconnect_delay": "soon"})


def test_the_plugin_finds_its_collection_from_its_own_path(tmp_path):
    """ansible-rulebook runs the file with runpy and no ansible_collections on sys.path."""
    script = ("import runpy, sys\n"
              f"plugin = runpy.run_path({PLUGIN_PATH!r})\n"
              "print(repr(plugin['IMPORT_ERROR']))\n"
              f"print({collection_path.COLLECTION_FARM!r} in sys.path)\n")
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                               env=environment, timeout=60, check=False)
    assert completed.stdout.split() == ["''", "True"], completed.stderr


def test_the_documentation_lists_every_argument_and_event_type():
    documented = yaml.safe_load(PLUGIN["DOCUMENTATION"])["options"]
    assert sorted(documented) == sorted(_event_source.ARGUMENTS)
    docstring = PLUGIN["__doc__"]
    assert all(argument in docstring for argument in _event_source.ARGUMENTS)
    assert all(name in docstring for name in EVENT_TYPES)
    example = yaml.safe_load(PLUGIN["EXAMPLES"])[0]
    assert sorted(example["virtops.libvirt.domain_events"]) == ["domains", "events", "uris"]


def test_the_example_rulebook_names_only_events_and_details_the_source_sends():
    path = os.path.join(os.path.dirname(PLUGIN_PATH), "..", "..", "rulebooks", "restart_crashed.yml")
    with open(path, encoding="utf-8") as handle:
        ruleset = yaml.safe_load(handle)[0]
    source = ruleset["sources"][0]["virtops.libvirt.domain_events"]
    assert set(source) <= set(_event_source.ARGUMENTS)
    select_event_types(source["events"])
    details = {detail for table in _event_names.LIFECYCLE_DETAILS.values() for detail in table.values()}
    conditions = " ".join(rule["condition"] for rule in ruleset["rules"])
    quoted = set(re.findall(r'"([a-z_]+)"', conditions))
    assert quoted == {"lifecycle", "crashed", "destroyed", "failed", "panicked", "suspended", "ioerror", "connection"}
    assert quoted - {"lifecycle", "connection"} <= details | set(_event_names.LIFECYCLE_EVENTS.values())
    restart = ruleset["rules"][0]["action"]["run_module"]
    assert restart["name"] == "virtops.libvirt.domain_state" and restart["module_args"]["state"] == "running"


def test_a_host_watch_that_fails_unexpectedly_ends_the_source_with_its_error(monkeypatch):
    streams = recorded_streams(monkeypatch)

    async def broken_reconnect(_self):
        raise RuntimeError("the reconnection broke")

    monkeypatch.setattr(_event_source.HostWatch, "_reconnect", broken_reconnect)

    async def scenario(queue, source):
        await connected(queue)
        break_connection(streams[0])
        assert (await next_event(queue))["details"]["state"] == "disconnected"
        return await asyncio.wait_for(source, 5)

    with pytest.raises(RuntimeError, match="the reconnection broke"):
        run_source({"uris": [TEST_URI]}, scenario)


def test_the_guide_uses_only_the_options_the_source_documents():
    spec = importlib.util.spec_from_file_location("docs_options", os.path.join(collection_path.REPOSITORY, "tests", "docs_options.py"))
    docs_options = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(docs_options)
    guide = os.path.join(collection_path.REPOSITORY, "docs", "docsite", "rst", "eda.rst")
    checker = docs_options.Checker({}, {}, {})
    blocks = list(docs_options.yaml_blocks(guide))
    for line, text in blocks:
        checker.check_text(text, f"eda.rst:{line}")
    assert len(blocks) == 2 and not checker.errors
    checker.check_text("- virtops.libvirt.domain_events:\n    uri: qemu:///system\n", "wrong")
    assert checker.errors == ["wrong: event source virtops.libvirt.domain_events: no option 'uri' (has: connect_timeout, "
                              "domains, events, reconnect_delay, reconnect_max_delay, uris)"]
