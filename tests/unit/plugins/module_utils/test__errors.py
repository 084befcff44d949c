"""The rule for reads whose failure is reported in the facts in place."""

import pytest

from ansible_collections.virtops.libvirt.plugins.module_utils._errors import (
    ConnectionFailed,
    DomainNotFound,
    or_in_place,
)


def fails_with(error):
    def read():
        raise error
    return read


def test_a_read_that_works_gives_its_value():
    assert or_in_place(lambda: {"capacity": 1}, lambda error: {"error": error.message}) == {"capacity": 1}


def test_one_failed_read_is_reported_in_its_place():
    report = or_in_place(fails_with(DomainNotFound("no disk 'hdc' has media")), lambda error: {"error": error.message})
    assert report == {"error": "no disk 'hdc' has media"}


def test_a_lost_connection_fails_the_task_instead():
    with pytest.raises(ConnectionFailed, match="lost the connection"):
        or_in_place(fails_with(ConnectionFailed("lost the connection to libvirt at 'qemu:///system'")),
                    lambda error: {"error": error.message})


def test_other_exceptions_are_not_swallowed():
    with pytest.raises(KeyError):
        or_in_place(fails_with(KeyError("bug")), lambda error: {"error": str(error)})
