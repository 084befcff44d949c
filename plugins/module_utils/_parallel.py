# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one thread pool: calls run concurrently, bounded in number and optionally in time.

Domains of a batch, groups of facts, fleet hosts and guest-agent calls all run through
`bounded_map`, so every concurrent call has the same two properties: a call that hangs never keeps
the process alive (daemon threads), and no item starts after the deadline.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Iterable, Optional


class TimedOut:
    """The marker for an item whose call had not finished at the deadline."""

    def __repr__(self) -> str:
        return "TimedOut()"


TIMED_OUT = TimedOut()


def bounded_map(func: Callable[[Any], Any], items: Iterable[Any], parallel: int,
                timeout: Optional[float] = None) -> list[Any]:
    """[func(item) ...] computed by up to `parallel` daemon threads; TIMED_OUT where the deadline passed.

    Without a timeout every call runs to its end (the caller bounds each call itself, as libvirt
    calls are by the connection's keepalive).

    Daemon threads, unlike an executor's, never keep the process alive for a call that hangs.
    No item is started after the deadline, so once it passes only calls already running (a hung
    host, say) still hold a thread. An exception raised by func is returned in place of its result.
    """
    items = list(items)
    results: list[Any] = [TIMED_OUT] * len(items)
    pending: "queue.Queue[int]" = queue.Queue()
    for index in range(len(items)):
        pending.put(index)
    deadline = None if timeout is None else time.monotonic() + timeout

    def worker() -> None:
        while deadline is None or time.monotonic() < deadline:
            try:
                index = pending.get_nowait()
            except queue.Empty:
                return
            try:
                results[index] = func(items[index])
            except Exception as error:  # pylint: disable=broad-except
                results[index] = error  # handed back to the caller, who knows what it means

    threads = [threading.Thread(target=worker, daemon=True) for _index in range(max(1, min(parallel, len(items))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    return list(results)


def map_or_raise(func: Callable[[Any], Any], items: Iterable[Any], parallel: int) -> list[Any]:
    """bounded_map without a deadline, raising the first exception (in item order) like a plain map."""
    results = bounded_map(func, items, parallel)
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


class Background:
    """One call running in a daemon thread while the caller does other work.

    Like an item of bounded_map: a call that hangs never keeps the process alive, and an exception
    it raises is handed back in place of its result.
    """

    def __init__(self, func: Callable[[], Any]) -> None:
        self._result: Any = TIMED_OUT
        self._thread = threading.Thread(target=self._run, args=(func,), daemon=True)
        self._thread.start()

    def _run(self, func: Callable[[], Any]) -> None:
        try:
            self._result = func()
        except Exception as error:  # pylint: disable=broad-except
            self._result = error  # handed back to the caller, who knows what it means

    def result(self, deadline: float) -> Any:
        """The call's result (or the exception it raised); TIMED_OUT if it has not ended by `deadline`
        (time.monotonic())."""
        self._thread.join(max(0.0, deadline - time.monotonic()))
        return TIMED_OUT if self._thread.is_alive() else self._result
