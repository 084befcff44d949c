# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running calls that may hang (a guest agent, a slow host) concurrently, within a deadline."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Iterable


class TimedOut:
    """The marker for an item whose call had not finished at the deadline."""

    def __repr__(self) -> str:
        return "TimedOut()"


TIMED_OUT = TimedOut()


def bounded_map(func: Callable[[Any], Any], items: Iterable[Any], parallel: int, timeout: float) -> list[Any]:
    """[func(item) ...] computed by up to `parallel` daemon threads; TIMED_OUT where the deadline passed.

    Daemon threads, unlike an executor's, never keep the process alive for a call that hangs.
    No item is started after the deadline, so once it passes only calls already running (a hung
    host, say) still hold a thread. An exception raised by func is returned in place of its result.
    """
    items = list(items)
    results: list[Any] = [TIMED_OUT] * len(items)
    pending: "queue.Queue[int]" = queue.Queue()
    for index in range(len(items)):
        pending.put(index)
    deadline = time.monotonic() + timeout

    def worker() -> None:
        while time.monotonic() < deadline:
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
        thread.join(max(0.0, deadline - time.monotonic()))
    return list(results)
