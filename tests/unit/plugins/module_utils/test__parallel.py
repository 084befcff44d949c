"""bounded_map: concurrent, in order, never waiting past the deadline."""

import time

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._parallel import (
    TIMED_OUT,
    Background,
    bounded_map,
    map_or_raise,
)


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


def test_without_a_timeout_every_call_finishes():
    results = bounded_map(lambda n: time.sleep(0.3) or n, range(3), parallel=2)
    assert results == [0, 1, 2]


def test_the_pool_threads_are_daemons_so_a_hung_call_never_keeps_the_process_alive():
    import threading  # pylint: disable=import-outside-toplevel

    seen = []
    bounded_map(lambda _n: seen.append(threading.current_thread().daemon), range(3), parallel=3)
    assert seen == [True, True, True]


def test_map_or_raise_raises_the_first_failure_in_item_order():
    def fail_on_odd(n):
        if n % 2:
            raise ValueError(f"item {n}")
        return n

    assert map_or_raise(lambda n: n + 1, [1, 2], parallel=2) == [2, 3]
    with pytest.raises(ValueError, match="^item 1$"):
        map_or_raise(fail_on_odd, [0, 1, 2, 3], parallel=4)


def test_a_background_call_gives_its_result_its_exception_or_timed_out_at_the_deadline():
    assert Background(lambda: 42).result(time.monotonic() + 5) == 42
    assert isinstance(Background(lambda: 1 // 0).result(time.monotonic() + 5), ZeroDivisionError)
    started = time.monotonic()
    assert Background(lambda: time.sleep(10)).result(time.monotonic() + 0.3) is TIMED_OUT
    assert time.monotonic() - started < 1
