"""bounded_map: concurrent, in order, never waiting past the deadline."""

import time

from ansible_collections.virtops.libvirt.plugins.module_utils._parallel import TIMED_OUT, bounded_map


def test_results_keep_the_order_of_the_items():
    assert bounded_map(lambda n: n * n, [3, 1, 2], parallel=3, timeout=5) == [9, 1, 4]


def test_calls_run_concurrently():
    started = time.monotonic()
    bounded_map(lambda _n: time.sleep(0.3), range(4), parallel=4, timeout=5)
    assert time.monotonic() - started < 0.6


def test_a_hanging_call_is_marked_and_does_not_block():
    started = time.monotonic()
    results = bounded_map(lambda n: time.sleep(10) if n == 1 else n, [0, 1, 2], parallel=3, timeout=0.3)
    assert results[0] == 0 and results[1] is TIMED_OUT and results[2] == 2
    assert time.monotonic() - started < 1


def test_exceptions_are_returned_in_place():
    results = bounded_map(lambda n: 1 // n, [1, 0], parallel=2, timeout=5)
    assert results[0] == 1 and isinstance(results[1], ZeroDivisionError)


def test_no_item_is_started_after_the_deadline():
    started_items = []

    def slow(item):
        started_items.append(item)
        time.sleep(0.5)
        return item

    results = bounded_map(slow, range(6), parallel=2, timeout=0.2)
    assert results == [TIMED_OUT] * 6
    time.sleep(1.2)  # the two busy workers finish their item: they must not take another one
    assert sorted(started_items) == [0, 1]


def test_a_hung_call_leaves_no_other_thread_working_after_the_deadline():
    import threading  # pylint: disable=import-outside-toplevel

    release = threading.Event()
    before = threading.active_count()
    results = bounded_map(lambda n: release.wait(5) if n == 0 else time.sleep(0.1), range(40), parallel=4, timeout=0.3)
    assert results[0] is TIMED_OUT
    time.sleep(0.3)
    assert threading.active_count() - before <= 1, "only the worker stuck in the hung call is left"
    release.set()
