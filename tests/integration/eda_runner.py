"""Running the EDA event source domain_events as ansible-rulebook does, in a thread: for the rig tests of
the source (test_eda_source.py) and its reconnection after a real daemon restart (tests/faults)."""

import asyncio
import os
import queue
import runpy
import threading
import time

import pytest

from harness import collections_root

PLUGIN_PATH = os.path.join(collections_root(), "ansible_collections", "virtops", "libvirt", "extensions", "eda",
                           "plugins", "event_source", "domain_events.py")
HOST_A_SOCKET = "/run/libvirt/libvirt-sock"
LATENCY = 1.0  # seconds an event may take from the call that caused it to the rulebook's queue


class RunningSource:
    """The plugin's main(queue, args) in a thread; `arrivals` holds (time.monotonic() of the put, event)."""

    def __init__(self, args):
        self.arrivals = queue.Queue()
        self.error = None
        self._loop = asyncio.new_event_loop()
        self._task = None
        self._plugin = runpy.run_path(PLUGIN_PATH)
        self._thread = threading.Thread(target=self._run, args=(args,), daemon=True)
        self._thread.start()

    async def put(self, event):
        self.arrivals.put((time.monotonic(), event))

    def _run(self, args):
        self._task = self._loop.create_task(self._plugin["main"](self, args))
        try:
            self._loop.run_until_complete(self._task)
        except BaseException as error:  # pylint: disable=broad-except
            self.error = error
            self.arrivals.put((time.monotonic(), None))

    def next(self, matching=lambda event: True, timeout=30.0):
        """(arrival time, event) of the next event `matching` accepts; the others before it are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                arrived, event = self.arrivals.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no matching event within {timeout} s")
            if event is None:
                pytest.fail(f"the source ended: {self.error!r}")
            if matching(event):
                return arrived, event

    def stop(self):
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(30)


@pytest.fixture
def sources():
    started = []

    def start(**args):
        source = RunningSource(args)
        started.append(source)
        source.next(lambda event: event["type"] == "connection" and event["details"]["state"] == "connected")
        return source

    yield start
    for source in started:
        source.stop()


def lifecycle(event_name, detail=None):
    return lambda event: (event["type"] == "lifecycle" and event["details"]["event"] == event_name
                          and (detail is None or event["details"]["detail"] == detail))
